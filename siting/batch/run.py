"""The batch itself: region tasks, own-list tasks, the Dask cluster, retries."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import shapely

from siting import __version__, _log, pairing, settings
from siting._errors import BatchError, SitingError
from siting._io import frame_sha256, write_text
from siting._optional import require
from siting._outdir import OutputFolder
from siting.batch.base import MANIFEST, RUN_OPTIONS
from siting.batch.merge import _merge, _summary, _write_table
from siting.batch.own import OwnPartition, _folder_of, partition_list, similar_groups
from siting.batch.results import BatchResult, RegionOutcome
from siting.batch.specs import _available, _items, _parent_of, parse_item
from siting.batch.tasks import (
    _canonical,
    _clean_leftovers,
    _data_fingerprint,
    _finished_record,
    _hash,
    _json_text,
    _run_task,
    _Task,
    _write_region,
)


def _default_buffer(rules: pairing.Rules, thresholds: Sequence[float]) -> float:
    """The largest threshold in play: the rules' and the coverage thresholds."""
    return float(max([r.threshold_min for r in rules] + [float(t) for t in thresholds]))


def _start_client(scheduler: Any, workers: int | None, progress: bool) -> tuple[Any, Any]:

    # untyped in places; siting[batch]
    dist: Any = require("distributed", "batch", "多区域批量运行", purpose="batch runs")
    client_type = dist.Client
    if scheduler is None:
        n = int(workers or os.cpu_count() or 1)
        # any free port: the scheduler's HTTP server starts even without a dashboard, and the
        # default port 8787 may be taken by another cluster on this machine
        dashboard = ":0"
        cluster = dist.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard,
            silence_logs=logging.ERROR,
        )
        client = client_type(cluster)
    elif isinstance(scheduler, client_type):
        return scheduler, None
    else:
        cluster = None
        client = client_type(str(scheduler))
    if progress:
        link = client.dashboard_link if _has_dashboard(client) else None
        where = f"a local cluster of {workers or os.cpu_count()} workers" if cluster else scheduler
        _log.info(f"batch on {where}")
        if link:
            _log.info(f"Dask dashboard: {link}")
    return client, cluster


def _address(scheduler: Any) -> str:
    """The address of a scheduler given as an address or a Client."""
    rpc = getattr(scheduler, "scheduler", None)
    return str(getattr(rpc, "address", None) or scheduler)


def _has_dashboard(client: Any) -> bool:
    try:
        info = client.scheduler_info()
    except Exception:  # only for a link in the progress output
        return False
    return "dashboard" in info.get("services", {})


def run_batch(
    regions: Sequence[Any] | str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    network: str | os.PathLike[str] | nx.MultiDiGraph | None = None,
    group_by: str | None = None,
    boundaries: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    crs: str | None = None,
    network_crs: str | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    buffer_min: float | None = None,
    retries: int = 2,
    progress: bool = True,
    force: bool = False,
    _inject_failures: Mapping[str, int] | None = None,
    **run_options: Any,
) -> BatchResult:
    """Run the pipeline for many regions on Dask; one folder per region and merged tables.

    Parameters
    ----------
    regions
        Region codes or names (``"CODE@SEED"`` or ``(code, seed)`` for a seed of its own),
        ``"all"`` (every loadable county-level unit, :func:`all_regions`; cities are left out,
        being the union of their counties), or a file of them, one per line
        (:func:`read_regions_file`). With ``facilities``: the groups of the list to run
        (their keys or names; ``None`` or ``"all"``: every group).
    out
        Output folder: ``<code>_<slug>/`` per region, the merged tables and
        ``batch_manifest.json``.
    facilities, network, group_by, boundaries, crs, network_crs
        A planner's own list (and roads) instead of built-in regions: the list is cut into
        groups (``group_by``; default the county code, else the district column; or the
        polygons of ``boundaries``) with border buffers by :func:`partition_list`, and each
        group is one folder. Without ``network``
        the times are straight-line estimates (and, a batch of own data using no modelled
        roads, the built-in villages are not joined).
    scheduler
        Address of a running Dask scheduler (``"tcp://host:8786"``; the cluster is used
        unchanged) or a :class:`distributed.Client`. ``None``: a
        :class:`distributed.LocalCluster` of processes with one thread each, started and
        closed here.
    workers
        Workers of the local cluster (default: the number of CPUs).
    buffer_min
        Border buffer in minutes (default: the largest threshold in play, of the pairing
        rules and the coverage thresholds).
    retries
        How many times a failing region is tried again before it is reported as failed.
    progress
        A progress bar over the regions (and the dashboard link, when there is one).
    force
        Write into a folder that holds files siting did not write (only siting's own names
        are touched); without it such a folder is refused before any region is computed.
    _inject_failures
        Test hook: region code -> number of first attempts that fail.
    **run_options
        Options of :func:`siting.pipeline.run` for every region: ``rules``, ``capacity``,
        ``thresholds_min``, ``service_area_kinds``, ``layout`` (a shipped spec name, ``"auto"``
        or ``None``), ``seed`` (the default seed of the regions).

    Returns
    -------
    BatchResult
        Each region's outcome, the summary by region, the batch manifest and the files.

    Examples
    --------
    >>> result = run_batch(["511302", "xuanhan"], "out/batch", service_area_kinds=None)
    ... # doctest: +SKIP
    >>> [r.status for r in result.regions]  # doctest: +SKIP
    ['ok', 'ok']
    """
    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    _check_call(run_options, retries)
    # before any planning: a batch runs on Dask (siting[batch])
    require("distributed", "batch", "多区域批量运行", purpose="batch runs")
    out_dir = Path(out)
    with OutputFolder(out_dir, force=force, manifest_name=MANIFEST):
        _clean_leftovers(out_dir)
        plan = _plan(run_options, buffer_min, out_dir, _inject_failures or {})
        notes: list[str] = []
        if facilities is not None:
            parts = _cut_list(
                facilities,
                network,
                plan,
                group_by=group_by,
                boundaries=boundaries,
                crs=crs,
                network_crs=network_crs,
                progress=progress,
            )
            notes = _group_notes(parts, progress)
            for part in _chosen_groups(parts, regions, plan):
                _queue_group(part, plan)
        elif network is not None or group_by is not None or boundaries is not None:
            msg = "network=, group_by= and boundaries= go with facilities= (a planner's own list)"
            raise BatchError(msg)
        elif regions is None:
            msg = "no regions given (give regions, or facilities= for a planner's own list)"
            raise BatchError(msg)
        else:
            for item in _items(regions):
                _queue_region(item, plan)
        if not plan.outcomes:
            msg = "no regions given"
            raise BatchError(msg)
        if plan.tasks:
            by_folder = {str(o.folder): o for o in plan.outcomes if o.folder is not None}
            # counties of one parent (and seed) next to each other: a worker keeps the parent's data
            plan.tasks.sort(key=lambda t: (t.parent or t.code, t.seed, t.code))
            _compute(plan.tasks, by_folder, out_dir, scheduler, workers, retries, progress)
        files, counts = _merge(out_dir, plan.outcomes, plan.capacity_rules)
        summary = _summary(plan.outcomes, counts)
        files["summary_by_region.csv"] = _write_table(summary, out_dir / "summary_by_region.csv")
        manifest = {
            "siting_version": __version__,
            "started_utc": started.isoformat(timespec="seconds"),
            "elapsed_s": round(time.perf_counter() - t_start, 3),
            "command": " ".join(sys.argv) if sys.argv else "",
            "scheduler": "local" if scheduler is None else _address(scheduler),
            "buffer_min": plan.buffer,
            "inputs": _own_inputs(facilities, network, group_by, boundaries, crs, network_crs),
            "notes": notes,
            "buffer_note": (
                "rows with travel time <= buffer_min are exact (border_exact); see siting.batch"
            ),
            "run_options": _canonical(plan.hashed),
            "rules_sha256": plan.rules_sha,
            "data": plan.fingerprint,
            "counts": {
                s: sum(o.status == s for o in plan.outcomes) for s in ("ok", "skipped", "failed")
            },
            "regions": [o.record() for o in plan.outcomes],
        }
        files[MANIFEST] = _write_manifest(out_dir, manifest)
        return BatchResult(
            out=out_dir, regions=plan.outcomes, summary=summary, manifest=manifest, files=files
        )


def _check_call(run_options: Mapping[str, Any], retries: int) -> None:
    """The options a batch cannot take, before anything is done."""
    unknown = sorted(set(run_options) - set(RUN_OPTIONS))
    if unknown:
        msg = (
            f"run_batch does not take {', '.join(unknown)}: options passed on to each run: "
            f"{', '.join(RUN_OPTIONS)} (a planner's own data: facilities=, network=, group_by=)"
        )
        raise BatchError(msg)
    if retries < 0:
        msg = f"retries must be >= 0, got {retries}"
        raise BatchError(msg)
    layout = run_options.get("layout", "auto")
    if layout is not None and not isinstance(layout, str):
        msg = "layout must be 'auto', None or the name of a shipped layout spec in a batch"
        raise BatchError(msg)


@dataclasses.dataclass
class _Plan:
    """What every task of a batch shares, and the tasks and outcomes as they are queued."""

    options: dict[str, Any]  # passed on to each run (the rules parsed, when not the shipped ones)
    hashed: dict[str, Any]  # the options that enter the input hashes
    rules_sha: str
    buffer: float
    seed: int  # the default seed of the regions
    capacity_rules: list[str]
    fingerprint: dict[str, str]
    out: Path
    inject: Mapping[str, int]
    tasks: list[_Task] = dataclasses.field(default_factory=list)
    outcomes: list[RegionOutcome] = dataclasses.field(default_factory=list)


def _plan(
    run_options: Mapping[str, Any], buffer_min: float | None, out: Path, inject: Mapping[str, int]
) -> _Plan:
    """The rules, the options, the buffer and the data fingerprint of a batch."""
    rules = pairing.load_rules(run_options.get("rules"))
    rules_sha = (
        hashlib.sha256(rules.path.read_bytes()).hexdigest()
        if rules.path is not None
        else _hash({"rules": [dataclasses.asdict(r) for r in rules.rules]})
    )
    options = dict(run_options)
    given = options.get("rules")
    if isinstance(given, str) and given in pairing.RULE_SETS:
        pass  # a shipped rule set by name travels as its name
    elif (
        "rules" in options
        and options["rules"] is not None
        and rules.path != pairing.default_rules_path()
    ):
        # workers share no filesystem: ship the parsed rules (the batch records the file's sha)
        options["rules"] = dataclasses.replace(rules, path=None)
    else:
        options.pop("rules", None)
    thresholds = tuple(float(t) for t in options.get("thresholds_min", (15.0, 30.0)))
    buffer = float(buffer_min) if buffer_min is not None else _default_buffer(rules, thresholds)
    if not (buffer > 0 and math.isfinite(buffer)):
        msg = f"buffer_min must be a positive number of minutes, got {buffer_min}"
        raise BatchError(msg)
    seed_option = options.pop("seed", None)
    if "thresholds_min" in options:
        options["thresholds_min"] = [float(t) for t in options["thresholds_min"]]
    return _Plan(
        options=options,
        hashed={k: v for k, v in options.items() if k != "rules"},
        rules_sha=rules_sha,
        buffer=buffer,
        seed=settings.default_seed if seed_option is None else int(seed_option),
        capacity_rules=(
            sorted(r.id for r in rules if r.capacity is not None) if options.get("capacity") else []
        ),
        fingerprint=_data_fingerprint(),
        out=out,
        inject=inject,
    )


def _queue(task: _Task, plan: _Plan, requested: str) -> None:
    """Queue a task, or skip it when its finished folder has the same input hash."""
    outcome = RegionOutcome(
        code=task.code,
        name=task.name,
        seed=task.seed,
        folder=task.folder,
        status="pending",
        input_hash=task.input_hash,
        requested=requested,
    )
    record = _finished_record(plan.out, task.folder)
    if record is not None and record.get("input_hash") == task.input_hash:
        outcome.status = "skipped"
        outcome.border = dict(record.get("border", {}))
    else:
        plan.tasks.append(task)
    plan.outcomes.append(outcome)


def _failed(plan: _Plan, code: str, error: str, requested: str) -> None:
    plan.outcomes.append(
        RegionOutcome(
            code=code,
            name="",
            seed=None,
            folder=None,
            status="failed",
            error=error,
            requested=requested,
        )
    )


def _queue_region(item: Any, plan: _Plan) -> None:
    """Queue a built-in region given as ``CODE``, ``CODE@SEED`` or a pair (a bad one fails)."""
    from siting import regions as regmod

    table = _available()
    requested = str(item) if not isinstance(item, tuple | list) else f"{item[0]}@{item[1]}"
    try:
        name_or_code, seed = parse_item(item, plan.seed)
        code = regmod.resolve(name_or_code)
        if not bool(table.loc[code, "loadable"]):
            raise BatchError(str(table.loc[code, "reason"]))
    except (SitingError, KeyError, ValueError) as exc:
        _failed(plan, str(item), f"{type(exc).__name__}: {exc}", requested)
        return
    if any(t.code == code and t.seed == seed for t in plan.tasks) or any(
        o.code == code and o.seed == seed for o in plan.outcomes
    ):
        return
    alias = str(table.loc[code, "alias"] or "")
    slug = alias or code
    folder = code if slug == code else f"{code}_{slug}"
    if seed != plan.seed:
        folder += f"_s{seed}"
    parent = _parent_of(code)
    input_hash = _hash(
        {
            "code": code,
            "seed": seed,
            "buffer_min": plan.buffer,
            "partition": parent,
            "options": plan.hashed,
            "rules_sha256": plan.rules_sha,
            **plan.fingerprint,
        }
    )
    task = _Task(
        code=code,
        name=str(table.loc[code, "name"]),
        slug=slug,
        seed=seed,
        folder=folder,
        parent=parent,
        buffer_min=plan.buffer,
        options=plan.options,
        input_hash=input_hash,
        fingerprint=plan.fingerprint,
        fail_first=int(plan.inject.get(code, 0)),
    )
    _queue(task, plan, requested)


def _write_manifest(out: Path, manifest: Mapping[str, Any]) -> Path:
    """``batch_manifest.json``, atomically."""
    return write_text(_json_text(manifest), out / MANIFEST)


def _own_inputs(
    facilities: Any,
    network: Any,
    group_by: str | None,
    boundaries: Any,
    crs: str | None,
    network_crs: str | None,
) -> dict[str, Any] | None:
    """The planner's own inputs of a batch, for its manifest (None for built-in regions)."""
    from siting._outdir import sha256_file

    if facilities is None:
        return None

    def described(value: Any, what: str) -> Any:
        if value is None:
            return None
        if isinstance(value, str | os.PathLike):
            path = Path(value)
            return {"path": str(path), "sha256": sha256_file(path)}
        return {"object": type(value).__name__, what: True}

    return {
        "facilities": described(facilities, "frame"),
        "network": described(network, "graph") or "none (straight line)",
        "group_by": group_by
        or (
            "the boundaries' name column"
            if boundaries is not None
            else "county_code, else the district column"
        ),
        "boundaries": described(boundaries, "frame"),
        "crs": crs,
        "network_crs": network_crs,
    }


def _cut_list(
    facilities: Any,
    network: Any,
    plan: _Plan,
    *,
    group_by: str | None,
    boundaries: Any,
    crs: str | None,
    network_crs: str | None,
    progress: bool,
) -> list[OwnPartition]:
    """A planner's own list cut into groups with the batch's buffer (:func:`partition_list`)."""
    if progress:
        _log.info("按分组切分名录 cutting the list into groups")
    return partition_list(
        facilities,
        network,
        buffer_min=plan.buffer,
        group_by=group_by,
        boundaries=boundaries,
        crs=crs,
        network_crs=network_crs,
    )


def _group_notes(parts: Sequence[OwnPartition], progress: bool) -> list[str]:
    """Say the groups; the notes for the manifest (groups that probably name one place)."""
    if progress:
        _log.info(
            f"{len(parts)} 个分组 groups by {parts[0].group_by}: "
            + ", ".join(f"{p.name} ({len(p.home)})" for p in parts[:12])
            + (" ..." if len(parts) > 12 else "")
        )
    notes = [
        f"分组 {' 与 '.join(g)} 可能是同一地区，请统一写法 / groups {' and '.join(g)} probably "
        f"name one place: write them one way in column {parts[0].group_by!r}"
        for g in similar_groups(p.key for p in parts)
    ]
    for note in notes:
        _log.warning(f"提示 WARNING: {note}")
    return notes


def _chosen_groups(parts: list[OwnPartition], regions: Any, plan: _Plan) -> list[OwnPartition]:
    """The groups asked for (all when ``regions`` is None or ``"all"``); a group not in the list
    is a failed outcome naming the groups there are."""
    if regions is None or (isinstance(regions, str) and regions.strip().lower() == "all"):
        return list(parts)
    wanted = [regions] if isinstance(regions, str | os.PathLike) else list(regions)
    by_key = {p.key: p for p in parts}
    by_name = {p.name: p for p in parts}
    chosen: list[OwnPartition] = []
    for item in wanted:
        text = str(item).strip()
        part = by_key.get(text) or by_name.get(text)
        if part is None:
            listed = ", ".join(p.key for p in parts[:30])
            error = (
                f"BatchError: no facility of group {text!r} in the list (名录中没有该分组); "
                f"groups: {listed}"
            )
            _failed(plan, text, error, text)
        elif part not in chosen:
            chosen.append(part)
    return chosen


def _queue_group(part: OwnPartition, plan: _Plan) -> None:
    """Queue the task of one group of an own list."""
    folder = _folder_of(part.key, {str(o.folder).lower() for o in plan.outcomes if o.folder})
    input_hash = _hash(
        {
            "group": part.key,
            "group_by": part.group_by,
            "seed": plan.seed,
            "buffer_min": plan.buffer,
            "region": part.region,
            "area": part.outline_source,
            "outline_sha256": hashlib.sha256(shapely.to_wkb(part.outline)).hexdigest(),
            "facilities": frame_sha256(part.facilities),
            "home": sorted(part.home),
            "network_sha256": part.network_sha256,
            "options": plan.hashed,
            "rules_sha256": plan.rules_sha,
            **plan.fingerprint,
        }
    )
    task = _Task(
        code=part.key,
        name=part.name,
        slug=folder,
        seed=plan.seed,
        folder=folder,
        parent="list",
        buffer_min=plan.buffer,
        options=plan.options,
        input_hash=input_hash,
        fingerprint=plan.fingerprint,
        fail_first=int(plan.inject.get(part.key, 0)),
        own=part,
    )
    _queue(task, plan, part.key)


def _compute(
    tasks: list[_Task],
    by_folder: dict[str, RegionOutcome],
    out: Path,
    scheduler: Any,
    workers: int | None,
    retries: int,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    distributed = require("distributed", "batch", "多区域批量运行", purpose="batch runs")
    as_completed: Any = distributed.as_completed

    client, cluster = _start_client(scheduler, workers, progress)
    own_client = scheduler is None or isinstance(scheduler, str | os.PathLike)
    bar = tqdm(total=len(tasks), desc="regions", unit="region", disable=not progress)
    try:
        token = uuid.uuid4().hex[:8]

        def submit(task: _Task, attempt: int) -> Any:
            fut = client.submit(
                _run_task, task, attempt, key=f"siting-{task.folder}-{attempt}-{token}", pure=False
            )
            pending[fut.key] = (task, attempt)
            return fut

        pending: dict[str, tuple[_Task, int]] = {}
        queue = as_completed([submit(t, 1) for t in tasks])
        for fut in queue:
            task, attempt = pending.pop(fut.key)
            outcome = by_folder[task.folder]
            outcome.attempts = attempt
            if fut.status == "finished":
                try:
                    result = fut.result()
                    outcome.timings_s = {**result["timings_s"]}
                    t_write = time.perf_counter()
                    record = {
                        "input_hash": task.input_hash,
                        "code": task.code,
                        "seed": task.seed,
                        "border": result["border"],
                        "written_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    }
                    _write_region(out, task.folder, result["files"], record)
                    outcome.timings_s["write"] = round(time.perf_counter() - t_write, 3)
                    outcome.border = result["border"]
                    outcome.worker = result["worker"]
                    outcome.status = "ok"
                    outcome.error = None
                except Exception as exc:  # reported, the others go on
                    outcome.status = "failed"
                    outcome.error = f"{type(exc).__name__}: {exc} (writing {out / task.folder})"
                fut.release()
                bar.update(1)
                continue
            try:
                error: BaseException = fut.exception()
                tb = "".join(traceback.format_tb(fut.traceback())) if fut.traceback() else ""
            except BaseException as exc:  # a cancelled future (its worker lost)
                error, tb = exc, ""
            fut.release()
            if attempt <= retries:
                queue.add(submit(task, attempt + 1))
                continue
            outcome.status = "failed"
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.timings_s = {}
            if tb:
                outcome.error += "\n" + tb.strip()[-2000:]
            bar.update(1)
    finally:
        bar.close()
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
