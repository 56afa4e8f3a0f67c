"""``summary.json``: counts by rule, gaps and elderly covered, the travel-time note, and the
JSON writing shared with the manifest."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import (
    costs,
    pairing,
    settings,
)
from siting.regions import Region


def _travel_note(pairs: pd.DataFrame, network_source: str) -> dict[str, Any]:
    """How the travel times were measured: on roads, or straight-line estimates (and how)."""
    methods = sorted(set(pairs["method"].dropna().astype(str))) if len(pairs) else []
    straight = costs.STRAIGHT_LINE in methods
    note: dict[str, Any] = {"methods": methods, "network": network_source}
    if straight:
        note.update(
            {
                "straight_line": True,
                "detour_factor": settings.detour_factor,
                "speed_kph": settings.straight_line_speed_kph,
                "note_zh": (
                    f"部分或全部车程为直线估算（直线距离×{settings.detour_factor:g}，按"
                    f"{settings.straight_line_speed_kph:g}公里/小时），非路网实测"
                ),
                "note": (
                    f"some or all travel times are straight-line estimates (distance x "
                    f"{settings.detour_factor:g} at {settings.straight_line_speed_kph:g} km/h), "
                    "not measured on roads"
                ),
            }
        )
    else:
        note["straight_line"] = False
    return note


def _json(data: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return None if np.isnan(o) else float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if o is pd.NA:
            return None
        if isinstance(o, Path):
            return str(o)
        raise TypeError(type(o).__name__)

    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=default) + "\n"


def _clean(value: Any) -> Any:
    """NaN and NA as None, numpy scalars as Python ones (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _summary(
    reg: Region | None,
    fac: gpd.GeoDataFrame,
    pairs: pd.DataFrame,
    gaps: pd.DataFrame,
    cov: pd.DataFrame | None,
    details: Mapping[str, Any],
    labels: Mapping[str, str],
    thresholds: Sequence[float],
    capacity: bool,
) -> dict[str, Any]:
    rules = pairing.summarize(pairs)
    out: dict[str, Any] = {
        "region": None if reg is None else {"code": reg.code, "name": reg.name},
        "data": dict(labels),
        "facilities_by_kind": {str(k): int(v) for k, v in fac["kind"].value_counts().items()},
        "capacity_aware": capacity,
        "rules": {
            str(r["rule"]): {
                **_clean(r.drop("rule").to_dict()),
                **_clean(details.get(r["rule"], {})),
            }
            for _, r in rules.iterrows()
        },
        "gaps": {
            "facilities": {
                str(k): int(v)
                for k, v in gaps[gaps["gap_type"] == "facility"]["rule"].value_counts().items()
            },
            "villages_by_threshold_min": {
                f"{k:g}": int(v)
                for k, v in gaps[gaps["gap_type"] == "village"]["threshold_min"]
                .value_counts()
                .sort_index()
                .items()
            },
        },
        "coverage_thresholds_min": [float(t) for t in thresholds],
    }
    if cov is not None and not cov.empty:
        counties = cov[cov["level"] == "county"]
        out["elderly_covered"] = {
            f"{t:g}": {
                "pop_total": int(g["pop_total"].sum()),
                "pop_covered": int(g["pop_covered"].sum()),
                "share": round(float(g["pop_covered"].sum() / max(g["pop_total"].sum(), 1)), 4),
                "pop_column": str(g["pop_column"].iloc[0]),
                "population_source": str(g["population_source"].iloc[0]),
            }
            for t, g in counties.groupby("threshold_min")
        }
    return _clean(out)  # type: ignore[no-any-return]
