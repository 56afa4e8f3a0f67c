"""Coverage gaps: facilities whose partner is beyond the rule's threshold or out of reach,
patrol gaps, and villages beyond each threshold of each service tier.

Every gap row says its ``rule`` and its service ``tier`` (:data:`siting.kinds.TIERS`: the tier
of the partner a facility lacks, or the tier a village is not covered at). Villages are measured
by tier with the one definition of :mod:`siting.coverage` (a village is covered at tier X within
T minutes when a facility of tier X is reachable within T): :func:`_village_nearest_by_tier`,
:func:`_village_gaps_by_tier`. :func:`_merge_gaps` joins the parts into one table with no
duplicated row (a facility that is a patrol gap is listed once, with the patrol's reason).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import (
    costs,
    pairing,
    settings,
)
from siting.graph import GraphArrays
from siting.kinds import TIER_ZH, TIERS, tier_of
from siting.pipeline.result import GAP_COLUMNS, _State

#: Columns of the gap table (``gaps.csv``): :data:`siting.pipeline.result.GAP_COLUMNS` with
#: ``tier`` after ``rule``.
GAP_TIER_COLUMNS: Final[tuple[str, ...]] = (
    GAP_COLUMNS
    if "tier" in GAP_COLUMNS
    else (
        *GAP_COLUMNS[: GAP_COLUMNS.index("rule") + 1],
        "tier",
        *GAP_COLUMNS[GAP_COLUMNS.index("rule") + 1 :],
    )
)

#: The rule of the village gaps.
VILLAGE_RULE: Final = "village_coverage"


def _kind_tier(kind: Any) -> Any:
    """The service tier of a kind (<NA> for none, a missing or an unknown kind)."""
    if kind is None or (not isinstance(kind, str) and pd.isna(kind)):
        return pd.NA
    try:
        tier = tier_of(str(kind))
    except ValueError:
        return pd.NA
    return pd.NA if tier is None else tier


def _facility_gaps(pairs: pd.DataFrame, skip_rules: Iterable[str] = ()) -> pd.DataFrame:
    """Facilities whose assigned partner is beyond the rule's threshold, or who have none.

    ``skip_rules``: rules the list has no partner for at all (said in ``not_computed``, not
    listed as gaps of the roads)."""
    if pairs.empty:
        return pd.DataFrame(columns=list(GAP_TIER_COLUMNS))
    skip = set(skip_rules)
    frame = pairs.reset_index(drop=True)
    group = frame.groupby(["rule", "facility_id"], sort=False).ngroup().to_numpy()
    pos = np.arange(len(frame))
    assigned = frame["assigned"].to_numpy(dtype=bool)
    # each group's row: its first assigned row, else its nearest (lowest rank)
    rank = pd.to_numeric(frame["rank"], errors="coerce").to_numpy(dtype=float)
    order = np.lexsort((pos, np.where(assigned, pos, rank), ~assigned, group))
    order = order[group[order] >= 0]  # rows without a rule or facility id belong to no group
    firsts = order[np.r_[True, np.diff(group[order]) != 0]] if len(order) else order
    within = frame["within_threshold"].to_numpy(dtype=bool)
    keep = ~(assigned[firsts] & within[firsts]) & ~frame["rule"].iloc[firsts].isin(skip).to_numpy()
    # each rule's tier: that of its partners' kinds when they share one (for the rows whose
    # facility reached no partner)
    partner_tiers = frame["partner_kind"].map(_kind_tier) if "partner_kind" in frame else None
    rule_tier: dict[Any, Any] = {}
    if partner_tiers is not None:
        for rule, found in partner_tiers.groupby(frame["rule"], sort=False):
            distinct = set(found.dropna())
            rule_tier[rule] = distinct.pop() if len(distinct) == 1 else pd.NA
    rows = []
    for pos, first in zip(firsts[keep], frame.iloc[firsts[keep]].to_dict("records"), strict=True):
        reachable = bool(first["assigned"]) or pd.notna(first["partner_id"])
        tier = pd.NA if partner_tiers is None else partner_tiers.iloc[pos]
        if pd.isna(tier):
            tier = rule_tier.get(first["rule"], pd.NA)
        rows.append(
            {
                "gap_type": "facility",
                "rule": first["rule"],
                "tier": tier,
                "facility_id": first["facility_id"],
                "facility_name": first["facility_name"],
                "facility_kind": first["facility_kind"],
                "nearest_partner_id": first["partner_id"] if reachable else pd.NA,
                "nearest_partner_name": first["partner_name"] if reachable else pd.NA,
                "travel_time_min": first["travel_time_min"] if reachable else np.nan,
                "threshold_min": first["threshold_min"],
                "reachable": pd.notna(first["travel_time_min"]),
                "method": first["method"],
                "reason": first["reason"],
            }
        )
    return pd.DataFrame(rows, columns=list(GAP_TIER_COLUMNS))


def _village_nearest(
    net: GraphArrays | None,
    villages: gpd.GeoDataFrame,
    medical: gpd.GeoDataFrame,
    previous: _State | None,
) -> pd.DataFrame:
    """Every village's nearest medical facility (the long form of costs.nearest, k=1); with an
    earlier state, searched only from the added facilities and merged."""
    if previous is not None and previous.villages is not None:
        new = medical[medical.index.astype(str).isin(previous.added)]
        if new.empty:
            return previous.villages
        more = costs.nearest(net, villages, new, k=1)
        return pairing.merge_nearest(
            previous.villages, more, pd.Index(villages.index), 1, settings.max_snap_m
        )
    return costs.nearest(net, villages, medical, k=1)


def _all_village_gaps(villages: gpd.GeoDataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """Every village at every threshold: the list has no medical facility at all."""
    ids = np.repeat(villages.index.astype(str).to_numpy(), len(thresholds))
    limits = np.tile(np.asarray(thresholds, dtype=np.float64), len(villages))
    out = pd.DataFrame(
        {
            "gap_type": "village",
            "rule": "village_coverage",
            "village_code": pd.array(ids, dtype="string"),
            "village_name": pd.Series(ids).map(villages["name"]).astype("string").to_numpy(),
            "county_code": pd.Series(ids).map(villages["county_code"]).astype("string").to_numpy(),
            "township_code": pd.Series(ids)
            .map(villages["township_code"])
            .astype("string")
            .to_numpy(),
            "travel_time_min": np.nan,
            "threshold_min": limits,
            "reachable": False,
            "method": pd.array([None] * len(ids), dtype="string"),
            "reason": "名录中没有任何医疗机构 no medical facility in the list",
        }
    )
    return out.reindex(columns=list(GAP_COLUMNS))


def _village_gaps(
    near: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    medical: gpd.GeoDataFrame,
    thresholds: Sequence[float],
) -> pd.DataFrame:
    """Villages beyond each threshold of their nearest medical facility, or out of reach."""
    minutes = near["time_s"].to_numpy(dtype=np.float64) / 60.0
    reachable = near["reachable"].to_numpy(dtype=bool)
    limits = np.asarray(thresholds, dtype=np.float64)
    beyond = ~reachable[:, None] | ~(minutes[:, None] <= limits[None, :])
    point, col = np.nonzero(beyond)
    ids = near["demand_id"].to_numpy()[point]
    partner = near["facility_id"].to_numpy()[point]
    out = pd.DataFrame(
        {
            "gap_type": "village",
            "rule": "village_coverage",
            "village_code": pd.array(ids, dtype="string"),
            "village_name": pd.Series(ids).map(villages["name"]).astype("string").to_numpy(),
            "county_code": pd.Series(ids).map(villages["county_code"]).astype("string").to_numpy(),
            "township_code": pd.Series(ids)
            .map(villages["township_code"])
            .astype("string")
            .to_numpy(),
            "nearest_partner_id": pd.array(partner, dtype="string"),
            "nearest_partner_name": pd.Series(partner)
            .map(medical["name"])
            .astype("string")
            .to_numpy(),
            "travel_time_min": np.round(minutes[point], 3),
            "threshold_min": limits[col],
            "reachable": reachable[point],
            "method": pd.array(near["method"].to_numpy()[point], dtype="string"),
        }
    )
    out["reason"] = [
        f"距最近医疗机构车程{tm:.0f}分钟，超过{th:g}分钟" if ok else "路网上无可达的医疗机构"
        for tm, th, ok in zip(
            out["travel_time_min"], out["threshold_min"], out["reachable"], strict=True
        )
    ]
    return out.reindex(columns=list(GAP_COLUMNS))


# --- villages by service tier --------------------------------------------------------------------


def _tier_facilities(fac: gpd.GeoDataFrame, tier: str) -> gpd.GeoDataFrame:
    kinds = fac["kind"].astype("string")
    return fac[kinds.isin(TIERS[tier]).to_numpy(dtype=bool, na_value=False)]


def _village_nearest_by_tier(
    net: GraphArrays | None,
    villages: gpd.GeoDataFrame,
    fac: gpd.GeoDataFrame,
    previous: _State | None = None,
    tiers: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every village's nearest facility of each service tier: :func:`siting.costs.nearest`
    (``k=1``) over the tier's kinds, with a ``tier`` column first, the tiers in the order of
    :data:`siting.kinds.TIERS`. ``fac`` is the whole registry (kinds of no tier are ignored);
    a tier with no facility gives ``reachable=False`` rows.

    With an earlier state holding such a table, each tier is searched only from its added
    facilities and merged (:func:`siting.pairing.merge_nearest`); an earlier table of another
    shape (no ``tier`` column) is not reused.

    :func:`siting.coverage.covered_population_by_tier` reads this table (``nearest=``), so the
    run's village gaps and its covered population are one measurement."""
    wanted = list(TIERS) if tiers is None else [t for t in TIERS if t in set(tiers)]
    old = None if previous is None else previous.villages
    reuse = old is not None and "tier" in old.columns
    parts = []
    for tier in wanted:
        own = _tier_facilities(fac, tier)
        if reuse and old is not None:
            before = old[old["tier"] == tier].drop(columns="tier").reset_index(drop=True)
            if len(before) == len(villages):
                new = own[own.index.astype(str).isin(previous.added)] if previous else own
                if new.empty:
                    near = before
                else:
                    more = costs.nearest(net, villages, new, k=1)
                    near = pairing.merge_nearest(
                        before, more, pd.Index(villages.index), 1, settings.max_snap_m
                    )
                parts.append(near.assign(tier=tier))
                continue
        parts.append(costs.nearest(net, villages, own, k=1).assign(tier=tier))
    out = pd.concat(parts, ignore_index=True)
    return out[["tier", *[c for c in out.columns if c != "tier"]]]


def _tier_thresholds(
    thresholds: Sequence[float] | Mapping[str, Sequence[float]], tier: str
) -> list[float]:
    if isinstance(thresholds, Mapping):
        got = thresholds.get(tier, ())
        return [float(t) for t in ([got] if isinstance(got, int | float) else got)]
    return [float(t) for t in thresholds]


def _village_gaps_by_tier(
    near: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    fac: gpd.GeoDataFrame,
    thresholds: Sequence[float] | Mapping[str, Sequence[float]],
) -> pd.DataFrame:
    """Villages beyond each threshold of their nearest facility of each service tier, or out of
    reach, or with no facility of the tier in the list: rule ``village_coverage``, ``tier``.

    ``near`` is :func:`_village_nearest_by_tier`; ``thresholds`` the minutes of every tier, or a
    mapping tier -> minutes (a tier missing from it has no village gaps)."""
    parts = []
    for tier, rows in near.groupby("tier", sort=False):
        limits = np.asarray(_tier_thresholds(thresholds, str(tier)), dtype=np.float64)
        if not len(limits):
            continue
        have = not _tier_facilities(fac, str(tier)).empty
        minutes = rows["time_s"].to_numpy(dtype=np.float64) / 60.0
        reachable = rows["reachable"].to_numpy(dtype=bool)
        beyond = ~reachable[:, None] | ~(minutes[:, None] <= limits[None, :])
        point, col = np.nonzero(beyond)
        ids = pd.Series(rows["demand_id"].to_numpy()[point]).astype(str)
        partner = pd.Series(rows["facility_id"].to_numpy()[point], dtype=object)
        label = TIER_ZH[str(tier)]
        out = pd.DataFrame(
            {
                "gap_type": "village",
                "rule": VILLAGE_RULE,
                "tier": tier,
                "village_code": ids.astype("string").to_numpy(),
                "village_name": ids.map(_by_str(villages, "name")).astype("string").to_numpy(),
                "county_code": ids.map(_by_str(villages, "county_code"))
                .astype("string")
                .to_numpy(),
                "township_code": ids.map(_by_str(villages, "township_code"))
                .astype("string")
                .to_numpy(),
                "nearest_partner_id": partner.astype("string").to_numpy(),
                "nearest_partner_name": partner.map(_by_str(fac, "name"))
                .astype("string")
                .to_numpy(),
                "travel_time_min": np.round(minutes[point], 3),
                "threshold_min": limits[col],
                "reachable": reachable[point],
                "method": pd.array(rows["method"].to_numpy()[point], dtype="string"),
            }
        )
        out["reason"] = [
            f"距最近的{label}层级医疗机构车程{tm:.0f}分钟，超过{th:g}分钟"
            if ok
            else (
                f"路网上无可达的{label}层级医疗机构" if have else f"名录中没有{label}层级的医疗机构"
            )
            for tm, th, ok in zip(
                out["travel_time_min"], out["threshold_min"], out["reachable"], strict=True
            )
        ]
        parts.append(out)
    if not parts:
        return pd.DataFrame(columns=list(GAP_TIER_COLUMNS))
    return pd.concat(parts, ignore_index=True).reindex(columns=list(GAP_TIER_COLUMNS))


def _by_str(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` indexed by the ids as text (ids read from a file may be numbers);
    empty when the frame has no such column."""
    if column not in frame.columns:
        return pd.Series(dtype=object)
    return pd.Series(frame[column].to_numpy(), index=frame.index.astype(str))


# --- patrol gaps and the one table ---------------------------------------------------------------


def _patrol_gaps(patrol_gaps: pd.DataFrame, fac: gpd.GeoDataFrame) -> pd.DataFrame:
    """The patrol plan's gaps (:func:`siting.patrol.coverage_gaps`) with their service tier:
    that of the clinic named (``nearest_partner_id``), else the village tier, the tier of the
    clinics that patrol (村卫生室/社区卫生服务站)."""
    out = patrol_gaps.copy()
    if out.empty:
        return out.reindex(columns=list(GAP_TIER_COLUMNS))
    kinds = _by_str(fac, "kind")
    clinic_kind = out["nearest_partner_id"].astype("string").map(kinds)
    out["tier"] = [
        t if pd.notna(t := _kind_tier(k)) else "village" for k in clinic_kind.to_numpy(dtype=object)
    ]
    return out.reindex(columns=list(GAP_TIER_COLUMNS))


def _merge_gaps(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One gap table (:data:`GAP_TIER_COLUMNS`) of the facility, village and patrol gaps, each
    gap once.

    A facility listed both as a ``facility`` gap of a rule and as a gap of that rule's plan
    (``gap_type="patrol"``: the patrol plan names the clinic, the reason and the overload) is
    kept once, as the patrol gap with the patrol's reason. Rows identical in ``gap_type``,
    ``rule``, ``tier``, facility or village and threshold are kept once (the first)."""
    kept = [p.reindex(columns=list(GAP_TIER_COLUMNS)) for p in parts if not p.empty]
    if not kept:
        return pd.DataFrame(columns=list(GAP_TIER_COLUMNS))
    gaps = pd.concat(kept, ignore_index=True)
    kind = gaps["gap_type"].astype("string")
    fid = gaps["facility_id"].astype("string")
    rule = gaps["rule"].astype("string")
    planned = set(zip(rule[kind == "patrol"], fid[kind == "patrol"], strict=True))
    twice = (kind == "facility").to_numpy(dtype=bool, na_value=False) & np.array(
        [(r, f) in planned for r, f in zip(rule, fid, strict=True)], dtype=bool
    )
    gaps = gaps[~twice]
    key = pd.DataFrame(
        {
            "gap_type": gaps["gap_type"].astype("string"),
            "rule": gaps["rule"].astype("string"),
            "tier": gaps["tier"].astype("string"),
            "id": gaps["facility_id"]
            .astype("string")
            .fillna(gaps["village_code"].astype("string")),
            "threshold": pd.to_numeric(gaps["threshold_min"], errors="coerce"),
        }
    )
    out: pd.DataFrame = gaps[~key.duplicated().to_numpy()].reset_index(drop=True)
    return out
