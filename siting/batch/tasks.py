"""The tasks a worker runs, their input hashes, and writing a region's files on the driver."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siting import __version__
from siting._errors import BatchError
from siting._io import atomic_folder
from siting._outdir import LOCK, is_siting_manifest
from siting.batch.base import BATCH_RECORD, BORDER_REASONS, MANIFEST
from siting.batch.own import OwnPartition
from siting.batch.partitions import _inside_limits, partition

# --- hashing --------------------------------------------------------------------------------------


def _sha_files(files: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _data_fingerprint() -> dict[str, str]:
    """The siting version and the sha256 of the reference and packaged data files in use."""
    from siting._reference import reference_dir

    ref = reference_dir()
    pkg = Path(__file__).resolve().parent
    packaged = [*(pkg / "data").rglob("*"), *(pkg / "layouts").rglob("*")]
    return {
        "siting_version": __version__,
        "reference_sha256": _sha_files(ref.rglob("*"), ref),
        "package_data_sha256": _sha_files(packaged, pkg),
    }


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _hash(payload: Mapping[str, Any]) -> str:
    text = json.dumps(_canonical(payload), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    code: str
    name: str
    slug: str
    seed: int
    folder: str
    parent: str | None
    buffer_min: float
    options: dict[str, Any]
    input_hash: str
    fingerprint: dict[str, str]
    fail_first: int = 0
    own: OwnPartition | None = None


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK
    }


def _clean_leftovers(out: Path) -> None:
    """Temporary region folders of a killed batch (``.<folder>.*.tmp``, ``.<folder>.old-*``)."""
    for p in out.iterdir():
        if p.is_dir() and p.name.startswith(".") and (p.name.endswith(".tmp") or ".old-" in p.name):
            shutil.rmtree(p, ignore_errors=True)
    (out / f".{MANIFEST}.tmp").unlink(missing_ok=True)


def _run_task(task: _Task, attempt: int) -> dict[str, Any]:
    """One region on a worker: run into a temporary folder, return the files as bytes."""
    from siting import pipeline, regions

    if attempt <= task.fail_first:
        msg = f"injected failure of {task.code} on attempt {attempt} (test hook)"
        raise RuntimeError(msg)
    t0 = time.perf_counter()
    found = _data_fingerprint()
    if found != task.fingerprint:
        diff = sorted(k for k in found if found[k] != task.fingerprint.get(k))
        msg = (
            f"this worker's siting differs from the driver's in {', '.join(diff)}: "
            f"install the same siting version and data on every worker ({found})"
        )
        raise BatchError(msg)
    border: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="siting-batch-") as tmp:
        out = Path(tmp) / "run"
        if task.own is not None:
            own = task.own
            t1 = time.perf_counter()
            pipeline.run(
                own.region,
                out=out,
                facilities=own.facilities,
                network=own.network,
                boundary=None if own.region is not None else own.outline,
                home=own.home,
                seed=task.seed,
                progress=False,
                **task.options,
            )
            border = own.facts()
        elif task.parent is not None:
            part = partition(
                task.code, buffer_min=task.buffer_min, seed=task.seed, parent=task.parent
            )
            t1 = time.perf_counter()
            pipeline.run(
                part.region,
                out=out,
                facilities=part.facilities,
                network=part.network,
                home=part.home,
                seed=task.seed,
                progress=False,
                **task.options,
            )
            border = part.facts()
        else:
            region = regions.load(task.code, seed=task.seed)
            limits, vmax = _inside_limits(region)
            t1 = time.perf_counter()
            pipeline.run(region, out=out, seed=task.seed, progress=False, **task.options)
            border = {
                "partition": "alone",
                "parent": None,
                "buffer_min": task.buffer_min,
                "vmax_m_s": round(vmax, 6),
                "reason": BORDER_REASONS["no_data"],
                "inside_limit_min": limits,
            }
        t2 = time.perf_counter()
        files = _read_folder(out)
    return {
        "files": files,
        "border": border,
        "timings_s": {
            "partition": round(t1 - t0, 3),
            "run": round(t2 - t1, 3),
            "task": round(time.perf_counter() - t0, 3),
        },
        "worker": f"{platform.node()}:{os.getpid()}",
    }


# --- writing on the driver ------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _write_region(
    out: Path, folder: str, files: Mapping[str, bytes], record: dict[str, Any]
) -> None:
    """Write a region's files into ``out/folder`` atomically: a temporary folder renamed into
    place, the run's manifest written last."""
    target = out / folder
    if target.exists() and not (
        is_siting_manifest(target / "manifest.json") or (target / BATCH_RECORD).is_file()
    ):
        msg = (
            f"{target} exists and was not written by siting: not replacing it (move it away "
            "or choose another --out)"
        )
        raise BatchError(msg)

    def drop_manifest(old: Path) -> None:
        # a folder without its manifest is never taken for a finished run
        (old / "manifest.json").unlink(missing_ok=True)

    with atomic_folder(target, before_swap=drop_manifest) as tmp:
        for rel, data in files.items():
            if rel == "manifest.json":
                continue
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        record = {**record, "manifest_sha256": hashlib.sha256(files["manifest.json"]).hexdigest()}
        (tmp / BATCH_RECORD).write_text(_json_text(record), encoding="utf-8")
        (tmp / "manifest.json").write_bytes(files["manifest.json"])


def _finished_record(out: Path, folder: str) -> dict[str, Any] | None:
    """The batch record of a finished region folder (its manifest unchanged since), else None."""
    target = out / folder
    manifest, rec_path = target / "manifest.json", target / BATCH_RECORD
    if not (manifest.is_file() and rec_path.is_file()):
        return None
    try:
        record: dict[str, Any] = json.loads(rec_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("manifest_sha256") != hashlib.sha256(manifest.read_bytes()).hexdigest():
        return None
    return record
