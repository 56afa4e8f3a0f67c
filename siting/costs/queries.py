"""The cost queries: :func:`nearest`, :func:`reach`, :func:`reach_count`, :func:`od_matrix`."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._errors import CostError
from siting.costs import args
from siting.costs.args import (
    NETWORK,
    STRAIGHT_LINE,
    Network,
    TravelOptions,
)
from siting.costs.index import NearestIndex
from siting.costs.kernel import (
    _frame,
    _od_network,
    _prepare,
    _Ranked,
    _ranked,
    _Seeds,
    _straight,
    _straight_crs,
)


def nearest(
    network: Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    k: int = 1,
    kind: str | Iterable[str] | None = None,
    direction: str | None = None,
    max_time_s: float | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """The ``k`` nearest facilities of every demand point, by travel time.

    Parameters
    ----------
    network
        A networkx graph (osmnx convention), a compiled GraphArrays, or ``None`` for the
        straight-line fallback (``method="straight_line"``).
    demand, facilities
        GeoDataFrames of points (WGS84 or any CRS with a conversion to it) indexed by unique ids.
    k
        Number of nearest facilities per demand point (exact for any ``k``).
    kind
        Keep the facilities whose ``kind`` column is this kind (or one of these kinds).
    direction
        ``"to_facility"`` (trip from the demand point to the facility) or ``"from_facility"``;
        ``None``: that of ``options``, else ``"to_facility"``.
    max_time_s
        Facilities farther than this (seconds, access legs included) are not reported; the
        searches stop there, which is faster.
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

    Returns
    -------
    pandas.DataFrame
        Long form, columns :data:`COLUMNS`: ``k`` rows per demand point (input order), ``rank``
        1..k. A rank with no facility (unreachable, beyond ``max_time_s``, or fewer than ``k``
        facilities) has ``reachable=False``, ``facility_id`` <NA>, NaN time and distance.

    Raises
    ------
    CostError
        For an invalid argument (the message names it).
    TypeError
        If ``network``, ``demand`` or ``facilities`` is not of a supported type.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> demand = gpd.GeoDataFrame(
    ...     geometry=[Point(106.08, 30.80)], index=pd.Index(["v1"], name="id"), crs=4326
    ... )
    >>> clinics = gpd.GeoDataFrame(
    ...     {"kind": ["village_clinic", "village_clinic"]},
    ...     geometry=[Point(106.09, 30.80), Point(106.08, 30.83)],
    ...     index=pd.Index(["VC-1", "VC-2"], name="id"),
    ...     crs=4326,
    ... )
    >>> out = nearest(None, demand, clinics, k=2)
    >>> out[["rank", "facility_id", "method"]].values.tolist()
    [[1, 'VC-1', 'straight_line'], [2, 'VC-2', 'straight_line']]
    """
    return NearestIndex.build(
        network,
        demand,
        facilities,
        k=k,
        kind=kind,
        direction=direction,
        max_time_s=max_time_s,
        max_snap_m=max_snap_m,
        access_speed_kph=access_speed_kph,
        detour_factor=detour_factor,
        straight_line_speed_kph=straight_line_speed_kph,
        options=options,
    )._release()


def reach(
    network: Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: float,
    kind: str | Iterable[str] | None = None,
    direction: str | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """Every facility within ``minutes`` of every demand point.

    Parameters
    ----------
    network, demand, facilities, kind, direction
        As in :func:`nearest`.
    minutes
        The travel-time bound (access legs included), in minutes.
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

    Returns
    -------
    pandas.DataFrame
        Long form, columns :data:`COLUMNS`: one row per (demand point, facility within the
        bound), nearest first (``rank`` 1, 2, ...); a demand point with none has one row with
        ``reachable=False``. Count them with :func:`reach_count`.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> demand = gpd.GeoDataFrame(
    ...     geometry=[Point(106.08, 30.80)], index=pd.Index(["v1"], name="id"), crs=4326
    ... )
    >>> clinics = gpd.GeoDataFrame(
    ...     geometry=[Point(106.09, 30.80), Point(106.08, 30.90)],
    ...     index=pd.Index(["VC-1", "VC-2"], name="id"),
    ...     crs=4326,
    ... )
    >>> reach(None, demand, clinics, minutes=5)["facility_id"].tolist()
    ['VC-1']
    """
    direction, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph = (
        args.with_options(
            options,
            direction,
            max_snap_m,
            access_speed_kph,
            detour_factor,
            straight_line_speed_kph,
        )
    )
    way = args.direction(direction)
    limit = args.seconds(minutes, "minutes", scale=60.0, optional=False)
    st = args.travel_settings(max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph)
    dem_pts = args.points(demand, "demand")
    fac_pts = args.select(args.points(facilities, "facilities"), args.kinds(kind), "facilities")
    arrays = args.arrays(network)
    crs = None if arrays is not None else _straight_crs([dem_pts, fac_pts])
    dem, fac = _prepare(arrays, [dem_pts, fac_pts], st, crs)
    fac = fac.sorted()
    if arrays is None:
        ranked = _straight(
            dem.x,
            dem.y,
            fac.x,
            fac.y,
            k=None,
            limit=limit,
            detour=st.detour_factor,
            speed_kph=st.straight_speed_kph,
        )
        key_of = np.arange(len(dem), dtype=np.int64)
        method = STRAIGHT_LINE
    else:
        keynode, key_of = np.unique(dem.node, return_inverse=True)
        key_of = key_of.astype(np.int64)
        slack = np.full(len(keynode), np.inf)
        np.minimum.at(slack, key_of, dem.access_s)
        search = args.search(arrays, way)
        seeds = _Seeds(
            fac.node, fac.access_s, np.arange(len(fac), dtype=np.int64), np.zeros(len(fac))
        )
        full = _ranked(
            search.edges,
            seeds,
            len(fac),
            k=None,
            limit=limit,
            watch=keynode,
            watch_limit=limit - slack,
        )
        ranked = _Ranked(full.time[keynode], full.lab[keynode], full.length[keynode])
        method = NETWORK
    return _frame(dem, key_of, ranked, fac, k=None, limit=limit, method=method)


def reach_count(
    network: Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: float,
    kind: str | Iterable[str] | None = None,
    direction: str | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.Series:
    """How many facilities lie within ``minutes`` of every demand point.

    Parameters are those of :func:`reach`.

    Returns
    -------
    pandas.Series
        Counts (int64) indexed by the demand ids, in input order, named ``"facilities"``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> demand = gpd.GeoDataFrame(
    ...     geometry=[Point(106.08, 30.80)], index=pd.Index(["v1"], name="id"), crs=4326
    ... )
    >>> clinics = gpd.GeoDataFrame(
    ...     geometry=[Point(106.09, 30.80), Point(106.08, 30.90)],
    ...     index=pd.Index(["VC-1", "VC-2"], name="id"),
    ...     crs=4326,
    ... )
    >>> reach_count(None, demand, clinics, minutes=5).tolist()
    [1]
    """
    rows = reach(
        network,
        demand,
        facilities,
        minutes=minutes,
        kind=kind,
        direction=direction,
        max_snap_m=max_snap_m,
        access_speed_kph=access_speed_kph,
        detour_factor=detour_factor,
        straight_line_speed_kph=straight_line_speed_kph,
        options=options,
    )
    counts = rows.groupby("demand_id", sort=False)["reachable"].sum()
    out = counts.reindex(demand.index, fill_value=0).astype(np.int64)
    out.index = demand.index.copy()
    out.name = "facilities"
    return out


def od_matrix(
    network: Network,
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    wide: bool = False,
    max_time_s: float | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """Travel times between every origin and every destination (for subsets: the cost grows with
    the smaller side times the graph).

    Parameters
    ----------
    network
        As in :func:`nearest`.
    origins, destinations
        GeoDataFrames of points indexed by unique ids.
    wide
        ``False``: long form (columns :data:`OD_COLUMNS`, origin-major). ``True``: a frame of
        minutes, origins (rows) by destinations (columns), NaN where unreachable.
    max_time_s
        Pairs farther than this are reported unreachable; searches stop there.
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> homes = gpd.GeoDataFrame(
    ...     geometry=[Point(106.08, 30.80)], index=pd.Index(["NH-1"], name="id"), crs=4326
    ... )
    >>> clinics = gpd.GeoDataFrame(
    ...     geometry=[Point(106.09, 30.80), Point(106.08, 30.83)],
    ...     index=pd.Index(["VC-1", "VC-2"], name="id"),
    ...     crs=4326,
    ... )
    >>> minutes = od_matrix(None, homes, clinics, wide=True)
    >>> minutes.loc["NH-1"].round(1).to_dict()
    {'VC-1': 2.1, 'VC-2': 7.4}
    """
    if not isinstance(wide, bool):
        msg = f"wide must be True or False, got {wide!r}"
        raise CostError(msg)
    limit = args.seconds(max_time_s, "max_time_s")
    _, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph = args.with_options(
        options, None, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
    )
    st = args.travel_settings(max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph)
    o_pts = args.points(origins, "origins")
    d_pts = args.points(destinations, "destinations")
    arrays = args.arrays(network)
    crs = None if arrays is not None else _straight_crs([o_pts, d_pts])
    orig, dest = _prepare(arrays, [o_pts, d_pts], st, crs)
    if arrays is None:
        road = (
            np.hypot(orig.x[:, None] - dest.x[None, :], orig.y[:, None] - dest.y[None, :])
            * st.detour_factor
        )
        total = road / (st.straight_speed_kph / 3.6)
        method = STRAIGHT_LINE
    elif len(orig) and len(dest):
        net, road = _od_network(arrays, orig.node, dest.node, limit)
        total = orig.access_s[:, None] + net + dest.access_s[None, :]
        method = NETWORK
    else:
        total = np.full((len(orig), len(dest)), np.inf)
        road = np.full((len(orig), len(dest)), np.nan)
        method = NETWORK
    ok = np.isfinite(total) & (total <= limit)
    if wide:
        out = pd.DataFrame(
            np.where(ok, total / 60.0, np.nan), index=orig.ids.copy(), columns=dest.ids.copy()
        )
        out.index.name = "origin_id"
        out.columns.name = "destination_id"
        return out
    oi = np.repeat(np.arange(len(orig)), len(dest))
    di = np.tile(np.arange(len(dest)), len(orig))
    good = ok.ravel()
    return pd.DataFrame(
        {
            "origin_id": orig.ids.take(oi),
            "destination_id": dest.ids.take(di),
            "time_s": np.where(good, total.ravel(), np.nan),
            "distance_m": np.where(good, road.ravel(), np.nan),
            "method": np.full(len(oi), method, dtype=object),
            "reachable": good,
            "origin_snap_m": orig.snap_m[oi],
            "destination_snap_m": dest.snap_m[di],
            "snap_flag": orig.flag[oi] | dest.flag[di],
        }
    )
