"""The merged tables (pairings, gaps, indicators with border flags) and the summary by region."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting._io import atomic_path, excel_restore_frame, excel_safe_frame
from siting.batch.base import _ROUNDING_MIN, BORDER_REASONS
from siting.batch.results import RegionOutcome

# --- merged tables --------------------------------------------------------------------------------


def _write_table(frame: pd.DataFrame, path: Path) -> Path:
    from siting._io import write_csv

    return write_csv(frame, path)


def _flags(
    frame: pd.DataFrame,
    border: Mapping[str, Any],
    kind: str,
    capacity_rules: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """``border_exact`` and ``border_reason`` of a region's pairings or gaps."""
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=object)
    time_min = pd.to_numeric(frame["travel_time_min"], errors="coerce").to_numpy(dtype=float)
    if kind == "pairings":
        reachable = frame["partner_id"].notna().to_numpy() & np.isfinite(time_min)
    else:
        reachable = (frame["reachable"].astype(str) == "True").to_numpy() & np.isfinite(time_min)
    reason = np.empty(n, dtype=object)
    if border.get("partition") == "buffer":
        limit = np.full(n, float(border["buffer_min"]))
        exact = reachable & (time_min <= limit - _ROUNDING_MIN)
        reason[:] = BORDER_REASONS["beyond_buffer"]
        reason[exact] = BORDER_REASONS["buffer"]
        reason[~reachable] = BORDER_REASONS["unreachable"]
    else:
        limits = border.get("inside_limit_min") or {}
        fac = limits.get("facility", {})
        vil = limits.get("village", {})
        if kind == "gaps" and "village_code" in frame.columns:
            is_vil = (frame["gap_type"] == "village").to_numpy()
            keys = np.where(
                is_vil, frame["village_code"].astype(str), frame["facility_id"].astype(str)
            )
            limit = np.array(
                [(vil if v else fac).get(k, 0.0) for k, v in zip(keys, is_vil, strict=True)],
                dtype=float,
            )
        else:
            limit = frame["facility_id"].astype(str).map(fac).fillna(0.0).to_numpy(dtype=float)
        exact = reachable & (time_min <= limit - _ROUNDING_MIN)
        reason[:] = BORDER_REASONS["no_data"]
        reason[exact] = BORDER_REASONS["inside"]
    if capacity_rules and "rule" in frame.columns:
        cap = frame["rule"].isin(list(capacity_rules)).to_numpy()
        exact &= ~cap
        reason[cap] = BORDER_REASONS["capacity"]
    return exact, reason


def _merge(
    out: Path, outcomes: Sequence[RegionOutcome], capacity_rules: Sequence[str]
) -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    """Stream each finished region's tables into the merged ones (column union, region first)."""
    done = [o for o in outcomes if o.status in ("ok", "skipped") and o.folder]
    counts: dict[str, dict[str, int]] = {str(o.folder): {} for o in done}
    files: dict[str, Path] = {}
    for name in ("pairings.csv", "gaps.csv", "indicators.csv"):
        columns: list[str] = []
        for o in done:
            path = out / str(o.folder) / name
            if path.is_file():
                head = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
                columns += [c for c in head if c not in columns]
        lead = ["region_code", "region_folder"]
        tail = ["border_exact", "border_reason"] if name != "indicators.csv" else []
        target = out / name
        with (
            atomic_path(target) as tmp,
            tmp.open("w", encoding="utf-8-sig", newline="") as handle,
        ):
            first = True
            for o in done:
                path = out / str(o.folder) / name
                if not path.is_file():
                    continue
                frame = excel_restore_frame(
                    pd.read_csv(
                        path,
                        encoding="utf-8-sig",
                        dtype=str,
                        keep_default_na=False,
                        na_values=[""],
                    )
                )
                stats = counts[str(o.folder)]
                if tail:
                    kind = name.removesuffix(".csv")
                    exact, reason = _flags(frame, o.border, kind, capacity_rules)
                    frame["border_exact"] = exact
                    frame["border_reason"] = reason
                    stats[f"{kind}_rows"] = len(frame)
                    stats[f"{kind}_not_exact"] = int((~exact).sum())
                    if kind == "gaps":
                        stats["facility_gaps"] = int((frame["gap_type"] == "facility").sum())
                        stats["village_gaps"] = int((frame["gap_type"] == "village").sum())
                frame.insert(0, "region_folder", o.folder)
                frame.insert(0, "region_code", o.code)
                frame = frame.reindex(columns=[*lead, *columns, *tail])
                excel_safe_frame(frame).to_csv(handle, index=False, header=first)
                first = False
            if first:
                pd.DataFrame(columns=[*lead, *columns, *tail]).to_csv(handle, index=False)
        files[name] = target
    for o in done:
        path = out / str(o.folder) / "summary.json"
        if path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
            counts[str(o.folder)]["home_facilities"] = int(
                sum(summary.get("facilities_by_kind", {}).values())
            )
    return files, counts


def _summary(
    outcomes: Sequence[RegionOutcome], counts: Mapping[str, Mapping[str, int]]
) -> pd.DataFrame:
    rows = []
    for o in outcomes:
        c = counts.get(str(o.folder), {})
        b = o.border
        rows.append(
            {
                "region_code": o.code,
                "region_name": o.name,
                "seed": o.seed,
                "region_folder": o.folder,
                "status": o.status,
                "attempts": o.attempts,
                "error": (o.error or "").splitlines()[0] if o.error else None,
                "partition": b.get("partition"),
                "parent": b.get("parent"),
                "buffer_min": b.get("buffer_min"),
                "buffer_km": round(float(b["buffer_m"]) / 1000.0, 3) if b.get("buffer_m") else None,
                "home_facilities": c.get("home_facilities"),
                "partner_facilities_outside": b.get("partner_facilities_outside"),
                "pairing_rows": c.get("pairings_rows"),
                "pairing_rows_not_exact": c.get("pairings_not_exact"),
                "facility_gaps": c.get("facility_gaps"),
                "village_gaps": c.get("village_gaps"),
                "gap_rows_not_exact": c.get("gaps_not_exact"),
                "task_s": o.timings_s.get("task"),
                "input_hash": o.input_hash,
            }
        )
    frame = pd.DataFrame(rows)
    ints = [
        "seed",
        "attempts",
        "home_facilities",
        "partner_facilities_outside",
        "pairing_rows",
        "pairing_rows_not_exact",
        "facility_gaps",
        "village_gaps",
        "gap_rows_not_exact",
    ]
    for col in ints:
        frame[col] = pd.array(frame[col].tolist(), dtype="Int64")
    return frame
