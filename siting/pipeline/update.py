""":func:`update`: add facilities to a registry, recompute what they touch from the run's exact
earlier searches, say what changed (``diff.csv``, ``diff.md``), all or nothing."""

from __future__ import annotations

import math
import os
import pickle
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import (
    _log,
    registry,
)
from siting._errors import DataError, SitingError
from siting._io import escape_md, excel_restore_frame
from siting._outdir import (
    JOURNAL,
    KeepNumbered,
    OutputFolder,
    Replace,
    fault_point,
    sha256_file,
)
from siting.pipeline.inputs import _hash_frame, reader_warnings
from siting.pipeline.outputs import _csv, _text
from siting.pipeline.result import PATROL_MEMO, STATE_DIR, RunResult, _State
from siting.pipeline.steps import _commit, _prepare
from siting.regions import Region

# --- update: add facilities, recompute what they touch, say what changed ------------------------


@dataclass
class UpdateResult:
    """What :func:`update` did: the new run, the rows added, the diff and the history file."""

    run: RunResult | None
    added: gpd.GeoDataFrame
    diff: pd.DataFrame
    history: Path | None
    registry: Path
    #: True when this very update (same file added to the same registry) was already done and
    #: nothing was changed now.
    already_applied: bool = False


def _read_state(out: Path, added: set[str]) -> _State:
    folder = out / STATE_DIR
    dtypes = {"demand_id": "string", "facility_id": "string", "method": "string"}

    def read(path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path, dtype=dtypes, encoding="utf-8")
        for col in ("reachable", "snap_flag"):
            frame[col] = frame[col].astype(bool)
        frame["rank"] = frame["rank"].astype(np.int64)
        return frame

    pairs = {
        p.stem.removeprefix("nearest_"): read(p)
        for p in sorted(folder.glob("nearest_*.csv"))
        if p.stem != "nearest_villages"
    }
    vpath = folder / "nearest_villages.csv"
    return _State(
        added=added,
        pairs=pairs,
        villages=read(vpath) if vpath.is_file() else None,
        service_areas=None,  # computed again: catchments change around an added facility
        patrol_memo=_patrol_memo(folder / PATROL_MEMO),
    )


class _MemoUnpickler(pickle.Unpickler):
    """Loads only what a patrol memo holds (plain data, numpy arrays and dtypes, the memo
    class): a pickle in an output folder someone else made can build nothing else."""

    _ALLOWED: Final = frozenset(
        {
            ("siting.patrol", "PatrolMemo"),
            ("numpy", "dtype"),
            ("numpy", "ndarray"),
            *(
                (m, f)
                for m in ("numpy.core.numeric", "numpy._core.numeric")
                for f in ["_frombuffer"]
            ),
            *(
                (m, f)
                for m in ("numpy.core.multiarray", "numpy._core.multiarray")
                for f in ("_reconstruct", "scalar")
            ),
            ("builtins", "set"),
            ("builtins", "frozenset"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            msg = f"a patrol memo does not hold {module}.{name}"
            raise pickle.UnpicklingError(msg)
        return super().find_class(module, name)


def _patrol_memo(path: Path) -> Any:
    """The earlier run's per-clinic patrol results, or ``None`` (none kept, or unreadable: the
    patrols are then planned in full; a memo never changes a result, only skips work)."""
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            return _MemoUnpickler(fh).load()
    except Exception as exc:  # an unreadable memo: planned in full
        _log.debug(f"{path} unreadable ({exc!r}): patrols planned in full")
        return None


def _diff(
    old_dir: Mapping[str, pd.DataFrame], new: RunResult, added: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Pairings that changed (and why), gaps closed or opened, indicators before and after."""
    rows: list[dict[str, Any]] = []
    old_p = old_dir["pairings"]
    used = ["rule", "facility_id", "facility_name", "partner_id", "partner_name"]
    used += ["travel_time_min", "reason"]
    old_map: dict[tuple[str, str], Any] = {
        (str(r["rule"]), str(r["facility_id"])): r
        for r in old_p.loc[old_p["assigned"].astype(bool), used].to_dict("records")
    }
    new_p = new.pairings
    new_rows: list[Any] = new_p.loc[new_p["assigned"].astype(bool), used].to_dict("records")
    added_ids = set(added.index.astype(str))
    for r in new_rows:
        rule, fid = str(r["rule"]), str(r["facility_id"])
        before = old_map.get((rule, fid))
        if before is None:
            change = (
                "新增机构配对 new facility paired" if fid in added_ids else "新配对 newly paired"
            )
            rows.append(
                {
                    "section": "pairing",
                    "rule": rule,
                    "id": fid,
                    "name": r["facility_name"],
                    "before": None,
                    "after": f"{r['partner_name']} {float(r['travel_time_min']):.1f}分钟",
                    "change": change,
                    "reason": r["reason"],
                }
            )
            continue
        if str(before["partner_id"]) == str(r["partner_id"]):
            continue
        t0, t1 = float(before["travel_time_min"]), float(r["travel_time_min"])
        why = f"新增的{r['partner_name']}更近" if str(r["partner_id"]) in added_ids else r["reason"]
        rows.append(
            {
                "section": "pairing",
                "rule": rule,
                "id": fid,
                "name": r["facility_name"],
                "before": f"{before['partner_name']} {t0:.1f}分钟",
                "after": f"{r['partner_name']} {t1:.1f}分钟",
                "change": "配对改变 partner changed",
                "reason": f"{why}：车程由{t0:.1f}分钟变为{t1:.1f}分钟",
            }
        )

    def gap_keys(g: pd.DataFrame) -> pd.DataFrame:
        g = g.copy()
        g["key"] = g["facility_id"].astype("string").fillna(g["village_code"].astype("string"))
        return g.set_index(["gap_type", "rule", "key", "threshold_min"])

    og, ng = gap_keys(old_dir["gaps"]), gap_keys(new.gaps)
    for frame, other, closed in ((og, ng, True), (ng, og, False)):
        for key in frame.index.difference(other.index):
            r = frame.loc[key]
            name = r["facility_name"] if pd.notna(r["facility_name"]) else r["village_name"]
            beyond = f"{r['travel_time_min']:.1f}分钟 > {key[3]:g}"
            rows.append(
                {
                    "section": "gap",
                    "rule": key[1],
                    "id": key[2],
                    "name": name,
                    "before": beyond if closed else None,
                    "after": None if closed else beyond,
                    "change": "缺口消除 gap closed" if closed else "新增缺口 gap opened",
                    "reason": f"现在{key[3]:g}分钟内可达" if closed else r["reason"],
                }
            )
    old_i = old_dir.get("indicators")
    if old_i is not None and new.indicators is not None:
        a: dict[Any, Any] = old_i.set_index("indicator_id").to_dict("index")
        b: dict[Any, Any] = new.indicators.set_index("indicator_id").to_dict("index")
        for ind, rb in b.items():
            ra = a.get(ind, {})
            va, vb = ra.get("value"), rb.get("value")
            sa, sb = ra.get("status"), rb.get("status")
            fa = None if va is None or pd.isna(va) else float(va)
            fb = None if vb is None or pd.isna(vb) else float(vb)
            same = (fa is None and fb is None) or (
                fa is not None and fb is not None and math.isclose(fa, fb)
            )
            if same and sa == sb:
                continue
            rows.append(
                {
                    "section": "indicator",
                    "rule": None,
                    "id": ind,
                    "name": rb.get("name_zh"),
                    "before": None if fa is None else f"{fa:g} ({sa})",
                    "after": None if fb is None else f"{fb:g} ({sb})",
                    "change": "指标变化 indicator changed",
                    "reason": f"目标 {rb.get('target')}",
                }
            )
    return pd.DataFrame(
        rows, columns=["section", "rule", "id", "name", "before", "after", "change", "reason"]
    )


def _diff_md(diff: pd.DataFrame, added: gpd.GeoDataFrame, summary: Mapping[str, Any]) -> str:
    lines = [
        "# 更新差异 What changed",
        "",
        f"新增机构 {len(added)} 处 (added facilities): "
        + "、".join(
            f"{escape_md(n)}({registry.kind_label(str(k))})"
            for n, k in list(zip(added["name"], added["kind"], strict=True))[:20]
        ),
        "",
    ]
    for section, title in (
        ("pairing", "## 配对变化 Pairings that changed"),
        ("gap", "## 缺口变化 Gaps closed or opened"),
        ("indicator", "## 指标前后 Indicators before and after"),
    ):
        part = diff[diff["section"] == section]
        lines += [title, "", f"{len(part)} 项 items", ""]
        if not part.empty:
            lines += ["| 规则 | 名称 | 之前 | 之后 | 变化 | 原因 |", "|---|---|---|---|---|---|"]
            for _, r in part.head(200).iterrows():
                cells = [r["rule"], r["name"], r["before"], r["after"], r["change"], r["reason"]]
                lines.append("| " + " | ".join(escape_md(c) for c in cells) + " |")
            if len(part) > 200:
                lines.append(f"| … | 另有 {len(part) - 200} 项，见 diff.csv | | | | |")
            lines.append("")
    data = summary.get("data", {})
    if any("modelled" in str(v) for v in data.values()):
        lines += ["> 注意：含模拟数据（modelled），仅用于演示方法。", ""]
    return "\n".join(lines)


def _hash_add(add: str | os.PathLike[str] | pd.DataFrame) -> str:
    if isinstance(add, pd.DataFrame):
        return _hash_frame(add)
    return sha256_file(Path(add))


def _other_layers(path: Path, layer: str) -> dict[str, pd.DataFrame]:
    """Every layer of a GeoPackage but the registry's, as read, in file order."""
    import pyogrio

    out: dict[str, pd.DataFrame] = {}
    for name in (str(n) for n in pyogrio.list_layers(path)[:, 0]):
        if name != layer:
            out[name] = pyogrio.read_dataframe(path, layer=name)
    return out


def _registry_layer(path: Path) -> str:
    import pyogrio

    layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    if len(layers) == 1:
        return layers[0]
    if "facilities" in layers:
        return "facilities"
    msg = f"{path}: several layers {layers} and none named 'facilities': which is the registry?"
    raise DataError(msg)


def _read_current(
    reg_path: Path, layer: str, inputs: Mapping[str, Any], reg: Region | None
) -> gpd.GeoDataFrame:
    """The registry as it is. Read as the run read this very file (its sha256 was checked)
    when nothing of that reading differs (no CRS declared, the region's outline, its only
    layer): then it is the run's result again, from siting's disk cache."""
    import pyogrio

    as_run = (
        reg is not None
        and (inputs.get("facilities") or {}).get("crs") is None
        and not inputs.get("boundary")
        and len(pyogrio.list_layers(reg_path)) == 1
    )
    if as_run and reg is not None:
        return registry.read(reg_path, boundary=reg.outline)
    return registry.read(reg_path, layer=layer)


def _old_tables(out_dir: Path) -> dict[str, pd.DataFrame]:
    """The earlier run's pairings, gaps and indicators, exactly as computed (``.state/``; the
    public CSVs of a run made before siting kept them there)."""

    def pick(name: str) -> tuple[Path, str]:
        exact = out_dir / STATE_DIR / name
        return (exact, "utf-8") if exact.is_file() else (out_dir / name, "utf-8-sig")

    def read(name: str, **options: Any) -> pd.DataFrame:
        path, enc = pick(name)
        frame = pd.read_csv(path, encoding=enc, keep_default_na=False, na_values=[""], **options)
        # a run made before .state/ kept them: undo the spreadsheet-safe prefix of the CSV
        return frame if enc == "utf-8" else excel_restore_frame(frame)

    old: dict[str, pd.DataFrame] = {
        "pairings": read("pairings.csv", dtype=str).assign(
            assigned=lambda f: f["assigned"] == "True",
            travel_time_min=lambda f: pd.to_numeric(f["travel_time_min"]),
        ),
        "gaps": read("gaps.csv", dtype={"facility_id": "string", "village_code": "string"}),
    }
    if pick("indicators.csv")[0].is_file():
        old["indicators"] = read("indicators.csv")
    return old


def update(
    registry_path: str | os.PathLike[str],
    add: str | os.PathLike[str] | pd.DataFrame,
    *,
    out: str | os.PathLike[str],
    crs: str | None = None,
    progress: bool = True,
    allow_duplicates: bool = False,
    force: bool = False,
) -> UpdateResult:
    """Add facilities to a registry and bring the run in ``out`` up to date, all or nothing.

    The additions are read and validated first (:func:`siting.registry.read` and
    :func:`siting.registry.append`): a bad file raises with every problem and changes nothing.
    A facility already in the registry - the same id, the same kind and name within 50 m, or
    any facility within 10 m - is refused, naming the row and its match
    (:func:`siting.registry.duplicates`), unless ``allow_duplicates``. The run in ``out`` is
    recomputed from its exact earlier searches (``.state/``): nearest partners only from the
    added partners and for the added facilities, village gaps only from the added medical
    facilities, service areas only for the added facilities; the cheap global tables (coverage
    by area, access scores, layout summary, indicators) in full. The result equals a full
    recompute of the new registry. ``diff.csv`` and ``diff.md`` say what changed: pairings (and
    why), gaps closed or opened, indicators before and after.

    **Together or not at all.** The new registry (every layer of the GeoPackage kept), the
    history copy of the registry as it was (``<name>.history/<name>.vNNNN.gpkg``, a number never
    used before, claimed at write time: nothing is ever overwritten) and every file of the run
    are written to temporary places first, then committed through one journal
    (:class:`siting._outdir.OutputFolder`). A crash before the commit point leaves the old
    registry and run; after it, the next command on ``out`` finishes the commit. Running the
    same update again after it has finished (or been finished) changes nothing and says so.

    ``out`` must hold a finished run (``siting run --facilities REGISTRY ...``) made from this
    registry, as its manifest records; otherwise the update is refused (run in full).
    """
    from siting._outdir import check_writable, lock_file

    reg_path = Path(registry_path)
    if not reg_path.is_file():
        msg = f"registry not found: {reg_path}"
        raise DataError(msg)
    if reg_path.suffix.lower() != ".gpkg":
        msg = (
            f"{reg_path}: update rewrites a GeoPackage registry (.gpkg), so that nothing of the "
            "file is lost; convert your list once with "
            "siting.write_registry(siting.read_registry(FILE), 'registry.gpkg') and run on that"
        )
        raise DataError(msg)
    history_dir = reg_path.with_name(reg_path.stem + ".history")
    check_writable(
        reg_path.parent, what="the registry's folder", need_bytes=3 * reg_path.stat().st_size
    )
    history_dir.mkdir(exist_ok=True)
    reg_lock = lock_file(history_dir / ".siting.lock", f"名录 registry {reg_path}")
    try:
        with OutputFolder(out, require_manifest=True, force=force) as folder:
            return _update(
                folder,
                reg_path,
                history_dir,
                add,
                crs=crs,
                progress=progress,
                allow_duplicates=allow_duplicates,
            )
    finally:
        reg_lock.release()
        if {p.name for p in history_dir.iterdir()} <= {".siting.lock"}:  # nothing kept yet
            shutil.rmtree(history_dir, ignore_errors=True)


def _update(
    folder: OutputFolder,
    reg_path: Path,
    history_dir: Path,
    add: str | os.PathLike[str] | pd.DataFrame,
    *,
    crs: str | None,
    progress: bool,
    allow_duplicates: bool,
) -> UpdateResult:
    out_dir = folder.path
    _remove_staged(reg_path, history_dir)
    manifest = folder.previous_manifest()
    if manifest is None:
        msg = f"{out_dir}: no finished run here (manifest.json missing); run `siting run` first"
        raise SitingError(msg)
    reg_sha = sha256_file(reg_path)
    if not isinstance(add, pd.DataFrame) and not Path(add).is_file():
        msg = f"file to add not found: {add}"
        raise DataError(msg)
    add_sha = _hash_add(add)
    done = _already_applied(manifest, reg_path, add, add_sha, reg_sha)
    if done is not None:
        return done
    inputs = manifest.get("inputs", {})
    fac_in = inputs.get("facilities") or {}
    if fac_in.get("sha256") != reg_sha:
        msg = (
            f"the run in {out_dir} was not made from {reg_path} as it is now (its manifest "
            f"records {fac_in.get('path', 'another input')}); run `siting run --facilities "
            f"{reg_path} --out {out_dir}` first"
        )
        raise SitingError(msg)
    from siting import regions

    region_in = inputs.get("region")
    reg = regions.load(region_in["code"], seed=region_in.get("seed")) if region_in else None
    layer = _registry_layer(reg_path)
    current = _read_current(reg_path, layer, inputs, reg)
    new_rows, merged, added = _read_additions(current, add, crs, reg, allow_duplicates)
    # everything before the first write: the earlier outputs, for the diff
    old = _old_tables(out_dir)
    state = _read_state(out_dir, set(added.index.astype(str)))
    # the new registry (every other layer of the file kept) and the history copy, staged
    token = os.urandom(6).hex()
    reg_stage = reg_path.with_name(f".{reg_path.stem}.siting-stage-{token}{reg_path.suffix}")
    hist_stage = history_dir / f".siting-stage-{token}{reg_path.suffix}"
    try:
        registry.write(merged, reg_stage, layer=layer, extra_layers=_other_layers(reg_path, layer))
        shutil.copy2(reg_path, hist_stage)
        prepared = _prepare(
            reg,
            out=out_dir,
            facilities=reg_stage,
            progress=progress,
            _previous=state,
            **_rerun_options(manifest),
        )
        new_sha = sha256_file(reg_stage)
        result = prepared.result
        result.manifest["inputs"]["facilities"]["path"] = str(reg_path)
        diff = _diff(old, result, added)
        prepared.writers["diff.csv"] = _csv(diff)
        prepared.writers["diff.md"] = _text(_diff_md(diff, added, result.summary))
        result.manifest["files"] = sorted([*prepared.writers, "manifest.json"])
        result.manifest["update"] = {
            "add": str(add) if not isinstance(add, pd.DataFrame) else "<frame>",
            "add_sha256": add_sha,
            "registry": str(reg_path),
            "registry_sha256_before": reg_sha,
            "registry_sha256": new_sha,
            "added_ids": [str(i) for i in added.index],
            "warnings": reader_warnings(new_rows),
        }
        fault_point("update:staged")
        result = _commit(
            folder,
            prepared,
            extra=(
                KeepNumbered(str(hist_stage), str(history_dir), reg_path.stem, reg_path.suffix),
                Replace(str(reg_stage), str(reg_path), reg_sha, new_sha),
            ),
        )
    finally:
        if not (out_dir / JOURNAL).exists():  # a pending commit still needs its staged files
            reg_stage.unlink(missing_ok=True)
            hist_stage.unlink(missing_ok=True)
    history = result.kept[0] if result.kept else None
    return UpdateResult(run=result, added=added, diff=diff, history=history, registry=reg_path)


def _remove_staged(reg_path: Path, history_dir: Path) -> None:
    """Staged files of an update killed before its commit point (the folder's own pending
    commit, if any, has just been finished): under the registry's lock, nothing else uses them."""
    for left in [
        *history_dir.glob(".siting-stage-*"),
        *reg_path.parent.glob(f".{reg_path.stem}.siting-stage-*"),
    ]:
        left.unlink(missing_ok=True)


def _already_applied(
    manifest: Mapping[str, Any],
    reg_path: Path,
    add: str | os.PathLike[str] | pd.DataFrame,
    add_sha: str,
    reg_sha: str,
) -> UpdateResult | None:
    """The result of this very update when it was the last one made (nothing is changed)."""
    last = manifest.get("update") or {}
    if last.get("add_sha256") != add_sha or last.get("registry_sha256") != reg_sha:
        return None
    _log.warning(
        f"已完成：{add} 已于上次更新加入 {reg_path}，未作改动 / "
        "this update was already applied "
        f"(added {len(last.get('added_ids', []))} facilities); nothing changed"
    )
    return UpdateResult(
        run=None,
        added=registry.read(reg_path).loc[lambda f: f.index.isin(last.get("added_ids", []))],
        diff=pd.DataFrame(
            columns=["section", "rule", "id", "name", "before", "after", "change", "reason"]
        ),
        history=None,
        registry=reg_path,
        already_applied=True,
    )


def _read_additions(
    current: gpd.GeoDataFrame,
    add: str | os.PathLike[str] | pd.DataFrame,
    crs: str | None,
    reg: Region | None,
    allow_duplicates: bool,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The rows read, the merged registry and the rows it added; duplicates refused."""
    if isinstance(add, pd.DataFrame):
        new_rows = registry.from_frame(add)
    else:
        new_rows = registry.read(
            Path(add), crs=crs, boundary=reg.outline if reg is not None else None
        )
    if not allow_duplicates:
        found = registry.duplicates(current, new_rows)
        if not found.empty:
            raise registry.DuplicateError(
                found, file=str(add) if not isinstance(add, pd.DataFrame) else "<frame>"
            )
    merged = registry.append(current, new_rows)
    added = merged.iloc[len(current) :]
    if added.empty:
        msg = f"{add}: no facilities to add"
        raise DataError(msg)
    return new_rows, merged, added


def _rerun_options(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The options of the earlier run (its manifest), to rerun it on the new registry."""
    inputs = manifest.get("inputs", {})
    settings_in = manifest.get("settings", {})
    net_in = inputs.get("network")
    network: Any = None
    network_crs = None
    if net_in and net_in.get("path"):
        network, network_crs = net_in["path"], net_in.get("crs")
    rules_in = inputs.get("rules") or {}
    layout_in = inputs.get("layout")
    return {
        "network": network,
        "network_crs": network_crs,
        "rules": rules_in.get("path"),
        "capacity": bool(settings_in.get("capacity", False)),
        "thresholds_min": settings_in.get("thresholds_min", (15.0, 30.0)),
        "service_area_kinds": settings_in.get("service_area_kinds") or None,
        # a run made before the mode was a setting drew what each facility reaches
        "service_area_mode": str(settings_in.get("service_area_mode", "reach")),
        "layout": (
            layout_in.get("source") if layout_in and layout_in.get("source") != "mapping" else None
        )
        if layout_in
        else None,
        "seed": settings_in.get("seed"),
        "maps": bool(settings_in.get("maps", True)),
        "basemap": str(settings_in.get("basemap", "amap")),
        "patrol_plan": bool(settings_in.get("patrol_plan", True)),
        "patrol_options": dict(settings_in.get("patrol_options") or {}),
        "recommend_p": settings_in.get("recommend_p"),
        "recommend_kind": str(settings_in.get("recommend_kind", "health_center")),
    }
