"""Tagging facilities with the elements they lie in, and summarising every element."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import registry, settings
from siting.layout.base import Layout
from siting.regions import Region
from siting.regions import load as load_region

# ---------------------------------------------------------------------------------------------
# tagging and summaries


def _check_facilities(facilities: Any) -> gpd.GeoDataFrame:
    if not isinstance(facilities, gpd.GeoDataFrame):
        msg = f"facilities must be a GeoDataFrame, not {type(facilities).__name__}"
        raise TypeError(msg)
    if facilities.crs is None:
        msg = "facilities has no CRS; set one (EPSG:4326 for lon/lat) before tagging"
        raise ValueError(msg)
    if not facilities.index.is_unique:
        dup = facilities.index[facilities.index.duplicated()][0]
        msg = f"facilities: the index (facility ids) is not unique, e.g. {dup!r}"
        raise ValueError(msg)
    return facilities


def tag(facilities: gpd.GeoDataFrame, layout: Layout) -> pd.DataFrame:
    """The elements each facility lies in, in long form.

    Parameters
    ----------
    facilities
        A registry (GeoDataFrame indexed by facility id, any CRS).
    layout
        A loaded layout.

    Returns
    -------
    pandas.DataFrame
        Columns ``facility_id`` and ``element_id``, one row per facility and element it lies in
        (on the edge counts as in), in the order of the facilities and then of the elements. A
        facility in no element has no row; one in several has several.

    Examples
    --------
    >>> import siting
    >>> from siting import layout
    >>> plan = layout.load("nanchong")
    >>> reg = siting.modelled.registry_for("nanchong")
    >>> tags = layout.tag(reg, plan)
    >>> tags.columns.tolist()
    ['facility_id', 'element_id']
    """
    facilities = _check_facilities(facilities)
    metric = settings.metric_crs
    points = gpd.GeoDataFrame(
        {"_pos": np.arange(len(facilities))},
        geometry=facilities.geometry.to_crs(metric).to_numpy(),
        crs=metric,
    )
    points = points[points.geometry.notna() & ~points.geometry.is_empty]
    elements = gpd.GeoDataFrame(
        {"_order": np.arange(len(layout.elements))},
        geometry=layout.elements.geometry.to_crs(metric).to_numpy(),
        crs=metric,
    )
    tree = shapely.STRtree(elements.geometry.to_numpy())
    point_idx, element_idx = tree.query(points.geometry.to_numpy(), predicate="intersects")
    pos = points["_pos"].to_numpy()[point_idx]
    order = np.lexsort((element_idx, pos))
    pos, element_idx = pos[order], element_idx[order]
    return pd.DataFrame(
        {
            "facility_id": np.asarray(facilities.index)[pos],
            "element_id": layout.elements["element_id"].to_numpy()[element_idx],
        }
    )


def tag_joined(facilities: gpd.GeoDataFrame, layout: Layout, *, sep: str = ";") -> pd.Series:
    """The elements each facility lies in, joined into one string per facility.

    Parameters
    ----------
    facilities
        A registry (GeoDataFrame indexed by facility id, any CRS).
    layout
        A loaded layout.
    sep
        Separator.

    Returns
    -------
    pandas.Series
        Aligned to ``facilities`` (same index), named ``layout_elements``: element ids in the
        order of the layout (``"core;zone_service"``), ``""`` for a facility in none.

    Examples
    --------
    >>> import siting
    >>> from siting import layout
    >>> reg = siting.modelled.registry_for("nanchong")
    >>> joined = layout.tag_joined(reg, layout.load("nanchong"))
    >>> joined.loc["HOS-511302-00001"].split(";")[0]
    'core'
    """
    long = tag(facilities, layout)
    joined = long.groupby("facility_id", sort=False)["element_id"].agg(sep.join)
    out = joined.reindex(facilities.index, fill_value="")
    out.name = "layout_elements"
    return out


def _require_columns(frame: Any, name: str, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        msg = f"{name} must be a DataFrame, not {type(frame).__name__}"
        raise TypeError(msg)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"{name} lacks column(s) {', '.join(repr(c) for c in missing)}; "
            f"it has {', '.join(map(str, frame.columns))}"
        )
        raise ValueError(msg)
    return frame


def summary(
    layout: Layout,
    facilities: gpd.GeoDataFrame,
    region: Region | None = None,
    pairings: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Facilities, beds and modelled elderly population per element.

    Parameters
    ----------
    layout
        A loaded layout.
    facilities
        A registry (GeoDataFrame indexed by facility id) with ``kind`` and ``beds``.
    region
        The layout's region (for the modelled elderly population); loaded when ``None``.
    pairings
        Optional pairing result with columns ``facility_id`` (the elderly-care facility),
        ``rank`` and ``within_threshold`` (and ``rule``, ``assigned`` as
        :func:`siting.pairing.pair` gives them). Under each rule a facility counts as within the
        threshold when its assigned row (its rank-1 row without an ``assigned`` column) is; a
        facility without an assigned row under a rule it is paired under is not.
    gaps
        Optional gaps with a column ``facility_id`` (and ``rule``).

    Returns
    -------
    pandas.DataFrame
        One row per element (index ``element_id``): ``name``, ``name_en``, ``element_type``,
        ``location_quality``, ``modelled``, ``n_facilities``, ``n_<kind>`` for every kind,
        ``beds`` (all beds), ``care_beds`` (beds of elderly-care and integrated kinds),
        ``pop_60plus_modelled`` (modelled population aged 60+ of the village-level units whose
        modelled points lie in the element), ``care_beds_per_1000_60plus_modelled``; with
        ``pairings``: ``n_in_pairings`` (facilities paired under any rule),
        ``share_paired_within_threshold`` (the share within the threshold under *every* rule
        they are paired under: never "fine if any rule is"), then per rule, in the pairings'
        order, ``n_in_pairings_<rule>`` and ``share_within_threshold_<rule>`` (one column per
        rule, so that one element is one row in a spreadsheet); with ``gaps``: ``gaps`` (the
        facilities with a gap) and, when the gaps name their rule, ``gaps_<rule>``.

    Examples
    --------
    >>> import siting
    >>> from siting import layout
    >>> plan = layout.load("nanchong")
    >>> reg = siting.modelled.registry_for("nanchong")
    >>> table = layout.summary(plan, reg)
    >>> int(table.loc["core", "n_hospital"]) > 0
    True
    """
    facilities = _check_facilities(facilities)
    _require_columns(facilities, "facilities", ["kind", "beds"])
    if pairings is not None:
        _require_columns(pairings, "pairings", ["facility_id", "rank", "within_threshold"])
    if gaps is not None:
        _require_columns(gaps, "gaps", ["facility_id"])
    if region is None:
        region = load_region(layout.region_code)
    elif region.code != layout.region_code:
        msg = f"region {region.code} {region.name} is not the layout's region {layout.region_code}"
        raise ValueError(msg)

    elements = layout.elements
    ids = elements["element_id"].tolist()
    long = tag(facilities, layout)
    kinds = facilities["kind"].astype("string").reindex(long["facility_id"]).to_numpy()
    beds = pd.to_numeric(facilities["beds"], errors="coerce").astype("float64")
    bed_values = beds.reindex(long["facility_id"]).fillna(0.0).to_numpy()
    care = np.isin(kinds.astype(object), list(registry.ELDERLY_CARE_KINDS))
    joined = long.assign(kind=kinds, beds=bed_values, care_beds=np.where(care, bed_values, 0.0))

    out = pd.DataFrame(index=pd.Index(ids, name="element_id"))
    for col in ("name", "name_en", "element_type", "location_quality", "modelled"):
        out[col] = elements[col].to_numpy()
    out["n_facilities"] = joined.groupby("element_id").size().reindex(ids, fill_value=0)
    all_kinds = list(registry.KINDS) + sorted(
        {str(k) for k in facilities["kind"].dropna().unique()} - set(registry.KINDS)
    )
    counts = pd.crosstab(joined["element_id"], joined["kind"]) if len(joined) else pd.DataFrame()
    for kind in all_kinds:
        column = counts[kind] if kind in counts.columns else pd.Series(dtype="int64")
        out[f"n_{kind}"] = column.reindex(ids, fill_value=0).astype("int64")
    sums = joined.groupby("element_id")[["beds", "care_beds"]].sum()
    out["beds"] = sums["beds"].reindex(ids, fill_value=0.0).round().astype("int64")
    out["care_beds"] = sums["care_beds"].reindex(ids, fill_value=0.0).round().astype("int64")

    villages = region.villages
    v_tags = tag(villages[["geometry"]], layout)
    pop = pd.to_numeric(villages["pop_60plus"]).reindex(v_tags["facility_id"]).to_numpy()
    pop_sum = pd.Series(pop, index=v_tags["element_id"].to_numpy()).groupby(level=0).sum()
    out["pop_60plus_modelled"] = pop_sum.reindex(ids, fill_value=0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (
            out["care_beds"]
            * 1000.0
            / out["pop_60plus_modelled"].where(out["pop_60plus_modelled"] > 0)
        )
    out["care_beds_per_1000_60plus_modelled"] = rate.round(2)

    if pairings is not None:
        _pairing_shares(out, long, pairings, ids)
    if gaps is not None:
        _gap_counts(out, long, gaps, ids)
    return out


def _within_by_rule(pairings: pd.DataFrame) -> dict[str, pd.Series]:
    """Per rule (``""`` without a ``rule`` column): per facility id, whether its assigned row
    (rank-1 row without ``assigned``) is within the threshold; every facility of the rule has
    an entry."""
    rules = (
        pd.unique(pairings["rule"].astype("string").fillna("")).tolist()
        if "rule" in pairings.columns
        else [""]
    )
    out: dict[str, pd.Series] = {}
    for rule in rules:
        rows = pairings if rule == "" else pairings[pairings["rule"].astype("string") == rule]
        if "assigned" in rows.columns:
            chosen = rows[rows["assigned"].eq(True)]
        else:
            chosen = rows[pd.to_numeric(rows["rank"], errors="coerce") == 1]
        ok = chosen.assign(_ok=chosen["within_threshold"].eq(True)).groupby("facility_id")["_ok"]
        present = pd.unique(rows["facility_id"])
        out[str(rule)] = ok.any().reindex(present, fill_value=False).astype(bool)
    return out


def _pairing_shares(
    out: pd.DataFrame, long: pd.DataFrame, pairings: pd.DataFrame, ids: list[str]
) -> None:
    """``n_in_pairings``, ``share_paired_within_threshold`` (every rule) and the per-rule
    columns, added to ``out``."""
    by_rule = _within_by_rule(pairings)

    def counts(ok: pd.Series) -> tuple[pd.Series, pd.Series]:
        rows = long[long["facility_id"].isin(ok.index)]
        n = rows.groupby("element_id").size().reindex(ids, fill_value=0)
        good = (
            rows.assign(ok=ok.reindex(rows["facility_id"]).to_numpy(dtype=bool))
            .groupby("element_id")["ok"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        return n.astype("int64"), (good / n.where(n > 0)).astype("float64").round(4)

    every = pd.concat(list(by_rule.values()), axis=1).astype("boolean").fillna(True).all(axis=1)
    out["n_in_pairings"], out["share_paired_within_threshold"] = counts(every)
    if list(by_rule) == [""]:
        return
    for rule, ok in by_rule.items():
        out[f"n_in_pairings_{rule}"], out[f"share_within_threshold_{rule}"] = counts(ok)


def _gap_counts(out: pd.DataFrame, long: pd.DataFrame, gaps: pd.DataFrame, ids: list[str]) -> None:
    """``gaps`` (facilities with a gap, each once) and ``gaps_<rule>`` when the gaps name a
    rule, added to ``out``."""

    def count(facility_ids: Any) -> pd.Series:
        rows = long[long["facility_id"].isin(set(facility_ids))]
        return rows.groupby("element_id").size().reindex(ids, fill_value=0).astype("int64")

    out["gaps"] = count(gaps["facility_id"].dropna())
    if "rule" not in gaps.columns:
        return
    for rule in pd.unique(gaps["rule"].dropna().astype(str)):
        out[f"gaps_{rule}"] = count(gaps.loc[gaps["rule"].astype("string") == rule, "facility_id"])
