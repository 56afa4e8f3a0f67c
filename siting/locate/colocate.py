"""两院一体: :func:`colocation`, health centres with no nursing home next door."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from siting import costs
from siting.costs import args as cost_args
from siting.costs.args import TravelOptions
from siting.crs import metric_crs
from siting.locate.base import (
    COLOCATION_COLUMNS,
    F64,
    I64,
    _number,
)
from siting.locate.recommendation import (
    _of_kind,
    _population,
    _text,
)
from siting.regions import Region

# --- 两院一体 -------------------------------------------------------------------------------------


def colocation(
    facilities: gpd.GeoDataFrame,
    region: Region | None,
    *,
    distance_m: float = 500.0,
    network: costs.Network = None,
    health_kinds: Sequence[str] = ("health_center", "community_health_center"),
    care_kinds: Sequence[str] = ("nursing_home",),
    pop_column: str = "pop_60plus",
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """两院一体: health centres with no nursing home within ``distance_m``, by catchment.

    The seed documents ask to build nursing homes next to township health centres (乡镇卫生院、
    养老院"两院一体", 毗邻建设). This lists the health centres that have none within
    ``distance_m`` (straight-line metres in the metric CRS), ranked by the elderly population
    of their catchment: the villages whose nearest health centre (:func:`siting.costs.nearest`,
    over ``network``) they are.

    Parameters
    ----------
    facilities
        The registry (GeoDataFrame indexed by id, with ``kind`` and ``name``).
    region
        The region whose villages (with ``pop_column``) form the catchments; ``None`` (a
        planner's own list anywhere): no catchments (``catchment_pop`` empty, ranked by id).
    distance_m
        Adjacency distance in metres, measured in the UTM zone of the facilities' centre.
    network
        Road network for the catchments, or ``None`` (straight-line fallback).
    health_kinds, care_kinds
        The kinds of health centre, and of elderly-care facility that counts as the partner.
    pop_column
        Elderly population column of ``region.villages``.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) for the catchment search (default: those of :mod:`siting.settings`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLOCATION_COLUMNS`, ``rank`` 1 first (largest catchment; ties by id).

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> out = colocation(registry, region)
    >>> bool((out["nearest_care_m"] > 500).all())
    True
    """
    dist = _number(distance_m, "distance_m")
    cost_args.with_options(options, None, None, None, None, None)  # a wrong type fails here
    if region is not None and not isinstance(region, Region):
        msg = f"region must be a Region or None, got {type(region).__name__}"
        raise TypeError(msg)
    health = _of_kind(facilities, tuple(health_kinds), "facilities")
    care = _of_kind(facilities, tuple(care_kinds), "facilities")
    if region is not None:
        weights, source = _population(region.villages, pop_column)
    else:
        weights, source = np.zeros(0), "none (no villages: give a region)"
    located = facilities.geometry.to_crs("EPSG:4326")
    located = located[located.notna() & ~located.is_empty]
    crs = (
        metric_crs(region.outline.centroid)
        if region is not None
        else (metric_crs(located.union_all().centroid) if len(located) else metric_crs())
    )
    hxy = shapely.get_coordinates(np.asarray(health.geometry.to_crs(crs).array))
    if len(care):
        cxy = shapely.get_coordinates(np.asarray(care.geometry.to_crs(crs).array))
        d_care, i_care = cKDTree(cxy).query(hxy, k=1) if len(hxy) else (np.zeros(0), np.zeros(0))
        i_care = np.asarray(i_care, dtype=np.int64)
        d_care = np.asarray(d_care, dtype=np.float64)
    else:
        d_care = np.full(len(health), np.inf)
        i_care = np.full(len(health), -1, dtype=np.int64)
    lonely = d_care > dist
    if len(health) and region is not None:
        near = costs.nearest(network, region.villages, health, k=1, options=options)
        ok = near["reachable"].to_numpy(dtype=bool)
        fac = pd.Index(near["facility_id"].to_numpy(dtype=object)[ok])
        pos = health.index.get_indexer(fac)
        pop: F64 = np.bincount(pos, weights=weights[ok], minlength=len(health)).astype(np.float64)
        n_v: I64 = np.bincount(pos, minlength=len(health)).astype(np.int64)
    else:
        pop = np.full(len(health), np.nan if region is None else 0.0)
        n_v = np.zeros(len(health), dtype=np.int64)
    sel = np.flatnonzero(lonely)
    ids = health.index[sel]
    order = np.lexsort((ids.astype(str).to_numpy(), -np.nan_to_num(pop[sel], nan=0.0)))
    sel = sel[order]
    rows = health.iloc[sel]
    geo = np.asarray(rows.geometry.to_crs("EPSG:4326").array)
    has_care = i_care[sel] >= 0
    care_ids = care.index.to_numpy(dtype=object)
    care_names = _text(care, "name")
    near_id = np.full(len(sel), None, dtype=object)
    near_name = np.full(len(sel), None, dtype=object)
    near_id[has_care] = care_ids[i_care[sel][has_care]]
    near_name[has_care] = care_names[i_care[sel][has_care]]
    names = _text(rows, "name")
    zh = [
        f"{n}周边{dist:g}米内无养老院，"
        + ("" if np.isnan(p) else f"辐射老年人{p:,.0f}人，")
        + "建议毗邻建设养老院（两院一体）"
        for n, p in zip(names, pop[sel], strict=True)
    ]
    en = [
        f"{rid}: no nursing home within {dist:g} m; "
        + ("" if np.isnan(p) else f"catchment {p:,.0f} elderly; ")
        + "suggest a nursing home next door (two-in-one)"
        for rid, p in zip(rows.index, pop[sel], strict=True)
    ]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(sel) + 1, dtype=np.int64),
            "facility_id": rows.index.to_numpy(dtype=object),
            "name": names,
            "kind": _text(rows, "kind"),
            "county_code": _text(rows, "county_code"),
            "township_code": _text(rows, "township_code"),
            "lon": np.round(shapely.get_x(geo), 6) if len(sel) else np.zeros(0),
            "lat": np.round(shapely.get_y(geo), 6) if len(sel) else np.zeros(0),
            "nearest_care_id": near_id,
            "nearest_care_name": near_name,
            "nearest_care_m": np.round(d_care[sel], 1),
            "distance_m": dist,
            "catchment_villages": n_v[sel].astype(np.int64),
            "catchment_pop": pop[sel],
            "pop_column": pop_column,
            "population_source": source,
            "method": costs.STRAIGHT_LINE if network is None else costs.NETWORK,
            "suggestion_zh": zh,
            "suggestion_en": en,
        },
        index=pd.RangeIndex(len(sel)),
    )
    return out[list(COLOCATION_COLUMNS)]
