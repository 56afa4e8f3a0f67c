"""``summary.json``: counts by rule, gaps and elderly covered, the travel-time note, and the
JSON writing shared with the manifest.

The elderly covered and the village gaps are reported by service tier (:data:`siting.kinds.TIERS`)
when the coverage table and the gaps carry a ``tier`` (as
:func:`siting.coverage.covered_population_by_tier` and
:func:`siting.pipeline.gaps._village_gaps_by_tier` give them): a village is covered at tier X
within T minutes when a facility of tier X is reachable within T, so a 村卫生室 in every village
covers the village tier, never the township or hospital one."""

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
from siting.kinds import TIER_ZH, TIERS
from siting.regions import Region

#: The definition of coverage said in ``summary.json``.
COVERAGE_DEFINITION_ZH = (
    "按服务层级计算：某村（点）在T分钟内可到达该层级的医疗机构，即视为该层级T分钟覆盖；"
    "老年人口为60岁及以上"
)
COVERAGE_DEFINITION = (
    "by service tier: a village (point) is covered at a tier within T minutes when a facility "
    "of that tier is reachable within T minutes; the elderly are those aged 60 and over"
)


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
            "villages_by_threshold_min": _village_gap_counts(gaps),
        },
        "coverage_thresholds_min": [float(t) for t in thresholds],
    }
    if "tier" in gaps.columns and "gap_type" in gaps.columns:
        out["gaps"]["by_rule_and_tier"] = _gap_counts_by_rule_and_tier(gaps)
    if "gap_type" in gaps.columns and (gaps["gap_type"] == "patrol").any():
        out["gaps"]["patrol"] = int((gaps["gap_type"] == "patrol").sum())
    if cov is not None and not cov.empty:
        counties = cov[cov["level"] == "county"]
        if "tier" in counties.columns:
            out["elderly_covered"] = {
                "definition_zh": COVERAGE_DEFINITION_ZH,
                "definition": COVERAGE_DEFINITION,
                "tiers": {
                    str(tier): {
                        "tier_zh": TIER_ZH.get(str(tier), str(tier)),
                        "kinds": list(TIERS.get(str(tier), ())),
                        "within_min": _covered_by_threshold(g),
                    }
                    for tier, g in counties.groupby("tier", sort=False)
                },
            }
        else:
            out["elderly_covered"] = _covered_by_threshold(counties)
    return _clean(out)  # type: ignore[no-any-return]


def _covered_by_threshold(counties: pd.DataFrame) -> dict[str, Any]:
    """Elderly covered within each threshold, summed over the county rows."""
    return {
        f"{t:g}": {
            "pop_total": int(g["pop_total"].sum()),
            "pop_covered": int(g["pop_covered"].sum()),
            "share": round(float(g["pop_covered"].sum() / max(g["pop_total"].sum(), 1)), 4),
            "pop_column": str(g["pop_column"].iloc[0]),
            "population_source": str(g["population_source"].iloc[0]),
        }
        for t, g in counties.groupby("threshold_min")
    }


def _village_gap_counts(gaps: pd.DataFrame) -> dict[str, Any]:
    """Village gaps by threshold; by tier, then threshold, when the gaps carry a tier."""
    if "gap_type" not in gaps.columns:
        return {}
    village = gaps[gaps["gap_type"] == "village"]

    def by_threshold(frame: pd.DataFrame) -> dict[str, int]:
        counts = frame["threshold_min"].value_counts().sort_index()
        return {f"{k:g}": int(v) for k, v in counts.items()}

    if "tier" not in village.columns or village["tier"].isna().all():
        return by_threshold(village)
    order = {t: i for i, t in enumerate(TIERS)}
    tiers = sorted(village["tier"].dropna().astype(str).unique(), key=lambda t: order.get(t, 99))
    return {t: by_threshold(village[village["tier"] == t]) for t in tiers}


def _gap_counts_by_rule_and_tier(gaps: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Gap rows by rule, then tier (<NA> tiers as ``"none"``); village gaps counted at every
    threshold."""
    out: dict[str, dict[str, int]] = {}
    rules = gaps["rule"].astype("string").fillna("none")
    tiers = gaps["tier"].astype("string").fillna("none")
    counts = pd.DataFrame({"rule": rules, "tier": tiers}).value_counts(sort=False)
    for key, n in counts.sort_index().items():
        rule, tier = (str(v) for v in key)  # type: ignore[attr-defined]
        out.setdefault(rule, {})[tier] = int(n)
    return out
