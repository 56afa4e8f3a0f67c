"""Coverage gaps: facilities whose partner is beyond the rule's threshold or out of reach, and
villages beyond each threshold of any medical facility."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import (
    costs,
    pairing,
    settings,
)
from siting.graph import GraphArrays
from siting.pipeline.result import GAP_COLUMNS, _State


def _facility_gaps(pairs: pd.DataFrame, skip_rules: Iterable[str] = ()) -> pd.DataFrame:
    """Facilities whose assigned partner is beyond the rule's threshold, or who have none.

    ``skip_rules``: rules the list has no partner for at all (said in ``not_computed``, not
    listed as gaps of the roads)."""
    if pairs.empty:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
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
    rows = []
    for first in frame.iloc[firsts[keep]].to_dict("records"):
        reachable = bool(first["assigned"]) or pd.notna(first["partner_id"])
        rows.append(
            {
                "gap_type": "facility",
                "rule": first["rule"],
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
    return pd.DataFrame(rows, columns=list(GAP_COLUMNS))


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
