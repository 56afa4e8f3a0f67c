"""Service areas: the area reachable within T minutes of each facility.

:func:`service_areas` draws one polygon per facility and threshold, along the reached roads of
a network (or as a straight-line circle without one). :mod:`siting.coverage` re-exports it with
the other coverage measures. May import :mod:`siting.costs`, :mod:`siting.graph`,
:mod:`siting.crs` and :mod:`siting._errors`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely
from scipy.sparse.csgraph import dijkstra

from siting import costs
from siting._errors import CoverageError
from siting.costs import args as cost_args
from siting.crs import metric_crs
from siting.graph import GraphArrays, snap

__all__ = [
    "CONCAVE_RATIO",
    "OUTLINES",
    "SERVICE_AREA_BUFFER_M",
    "SERVICE_AREA_COLUMNS",
    "CoverageError",
    "minutes_arg",
    "minutes_column",
    "service_areas",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def minutes_arg(values: Any, name: str) -> tuple[float, ...]:
    """Positive finite minutes, sorted ascending and unique; a single number is accepted."""
    items = (values,) if isinstance(values, int | float | np.integer | np.floating) else values
    if isinstance(items, str) or not isinstance(items, Iterable):
        msg = f"{name} must be a number of minutes or a list of them, got {values!r}"
        raise CoverageError(msg)
    items = tuple(items)
    good = [
        not isinstance(v, bool)
        and isinstance(v, int | float | np.integer | np.floating)
        and math.isfinite(float(v))
        and float(v) > 0
        for v in items
    ]
    if not items or not all(good):
        msg = f"{name} must hold positive finite minutes, got {values!r}"
        raise CoverageError(msg)
    return tuple(sorted({float(v) for v in items}))


def minutes_column(values: Sequence[float], n_each: int) -> npt.NDArray[Any]:
    """Threshold values repeated ``n_each`` times, as int64 when all are whole minutes."""
    arr = np.repeat(np.asarray(values, dtype=np.float64), n_each)
    if all(float(v).is_integer() for v in values):
        return arr.astype(np.int64)
    return arr


#: Columns of :func:`service_areas`, in order.
SERVICE_AREA_COLUMNS: Final = (
    "facility_id",
    "minutes",
    "n_nodes",
    "area_km2",
    "method",
    "geometry",
)

#: Half-width of the corridor drawn around the reachable roads of a service area (metres).
SERVICE_AREA_BUFFER_M: Final = 200.0

#: Accepted values of ``outline=`` in :func:`service_areas`.
OUTLINES: Final = ("roads", "concave")

#: ``ratio`` of :func:`shapely.concave_hull` for ``outline="concave"`` (0: tightest, 1: convex).
CONCAVE_RATIO: Final = 0.3

#: Memory budget of one batch of limited single-source searches in :func:`service_areas` (bytes).
_BATCH_BYTES: Final = 64 * 2**20


def _empty_areas(crs: Any = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "facility_id": pd.Series([], dtype=object),
            "minutes": pd.Series([], dtype=np.float64),
            "n_nodes": pd.array([], dtype="Int64"),
            "area_km2": pd.Series([], dtype=np.float64),
            "method": pd.Series([], dtype=object),
        },
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def _segments_within(
    arrays: GraphArrays,
    fac_node: I64,
    fac_access: F64,
    fac_xy: F64,
    thresholds_s: Sequence[float],
    direction: costs.Direction,
) -> tuple[I64, F64, I64]:
    """The reached road segments of every (facility, threshold) in metric coordinates.

    Returns the group of every segment (``facility * len(thresholds) + threshold``, sorted),
    the segments (x0, y0, x1, y1) and the number of reached nodes of every group.
    """
    search = cost_args.search(arrays, direction).edges
    mat = search.matrix()
    n = search.n
    indptr = np.asarray(search.indptr, dtype=np.int64)
    src_all, dst_all = search.src.astype(np.int64), search.dst.astype(np.int64)
    nx_, ny_ = np.asarray(arrays.x, dtype=np.float64), np.asarray(arrays.y, dtype=np.float64)
    nf, nt = len(fac_node), len(thresholds_s)
    limits = np.asarray(thresholds_s, dtype=np.float64)
    top = float(limits.max())
    n_nodes = np.zeros((nf, nt), dtype=np.int64)
    # per (facility, threshold) group: segment start/end coordinates, collected in chunks
    seg_group: list[I64] = []
    seg_coords: list[F64] = []
    batch = max(1, _BATCH_BYTES // max(8 * n, 1))
    for lo in range(0, nf, batch):
        rows = np.arange(lo, min(nf, lo + batch))
        dist = np.asarray(
            dijkstra(mat, directed=True, indices=fac_node[rows], limit=top * (1 + 1e-12) + 1e-9),
            dtype=np.float64,
        ).reshape(len(rows), n)
        dist += fac_access[rows, None]  # time from the facility point itself
        r_loc, node = np.nonzero(dist <= top)
        d = dist[r_loc, node]
        fac = rows[r_loc]
        # out-edges of every reached (facility, node)
        starts = indptr[node]
        counts = indptr[node + 1] - starts
        rep = np.repeat(np.arange(len(node)), counts)
        epos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        a, b, w = src_all[epos], dst_all[epos], search.w[epos]
        for t_pos, lim in enumerate(limits):
            ok = d <= lim
            n_nodes[:, t_pos] += np.bincount(fac[ok], minlength=nf)
            # the reached share of every out-edge of a reached node: full when the far end is
            # reached through it, else cut where the remaining time runs out
            frac = np.minimum(1.0, (lim - d[rep]) / w)
            keep = ok[rep] & (frac > 0)
            ea, eb, ef, eg = a[keep], b[keep], frac[keep], fac[rep[keep]]
            # a two-way road reached whole from both ends is drawn once
            full = ef >= 1.0
            lo_node, hi_node = np.minimum(ea, eb), np.maximum(ea, eb)
            key = (eg * nt + t_pos) * (n * n) + lo_node * n + hi_node
            dup = np.zeros(len(key), dtype=bool)
            if full.any():
                fk = np.flatnonzero(full)
                _, first = np.unique(key[fk], return_index=True)
                dup[fk] = True
                dup[fk[first]] = False
            ea, eb, ef, eg = ea[~dup], eb[~dup], ef[~dup], eg[~dup]
            x0, y0 = nx_[ea], ny_[ea]
            x1, y1 = x0 + ef * (nx_[eb] - x0), y0 + ef * (ny_[eb] - y0)
            seg_group.append(eg * nt + t_pos)
            seg_coords.append(np.column_stack([x0, y0, x1, y1]))
    # the access leg of every facility: from its point toward its node, cut like an edge
    for t_pos, lim in enumerate(limits):
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(fac_access > 0, np.minimum(1.0, lim / fac_access), 1.0)
        x0, y0 = fac_xy[:, 0], fac_xy[:, 1]
        x1 = x0 + frac * (nx_[fac_node] - x0)
        y1 = y0 + frac * (ny_[fac_node] - y0)
        seg_group.append(np.arange(nf, dtype=np.int64) * nt + t_pos)
        seg_coords.append(np.column_stack([x0, y0, x1, y1]))
    group = np.concatenate(seg_group)
    coords = np.concatenate(seg_coords)
    order = np.argsort(group, kind="stable")
    return group[order], coords[order], n_nodes.ravel()


def _outlines(group: I64, coords: F64, outline: str, buffer_m: float) -> npt.NDArray[Any]:
    """One metric polygon per group (groups 0..g-1, all present) from its reached segments."""
    if outline == "roads":
        lines = shapely.linestrings(
            coords.reshape(-1, 2), indices=np.repeat(np.arange(len(group)), 2)
        )
        shapes = shapely.multilinestrings(lines, indices=group)
    else:
        pts = shapely.points(coords.reshape(-1, 2))
        shapes = shapely.concave_hull(
            shapely.multipoints(pts, indices=np.repeat(group, 2)), ratio=CONCAVE_RATIO
        )
    return np.asarray(shapely.buffer(shapes, buffer_m, quad_segs=4), dtype=object)


def service_areas(
    network: costs.Network,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: float | Iterable[float] = (15, 30),
    kind: str | Iterable[str] | None = None,
    direction: str = "from_facility",
    outline: str = "roads",
    buffer_m: float = SERVICE_AREA_BUFFER_M,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
) -> gpd.GeoDataFrame:
    """The area reachable within T minutes of each facility, one polygon per facility and T.

    **On a network** the reached roads are found first: every road segment whose start is
    reached within T, as far along as the remaining time allows (the whole segment if its far
    end is reached through it, else cut where time runs out, the speed being uniform along an
    edge), plus the facility's access leg to its road node. Reached nodes come from one limited
    single-source search per facility (:func:`scipy.sparse.csgraph.dijkstra` with ``limit=``
    the largest T, batched), shared by every threshold. Segments are straight node-to-node
    lines (edge geometries are not read). The polygon is then drawn in the graph's metric CRS:

    * ``outline="roads"`` (default): the reached roads widened by ``buffer_m`` on each side.
      A corridor along roads, not a filled outline: land far from any reached road is not
      claimed and holes between roads stay holes. The honest shape; a few milliseconds per
      polygon (GEOS buffers and unions every segment).
    * ``outline="concave"``: the concave hull (:data:`CONCAVE_RATIO`) of the reached segments'
      ends, widened by ``buffer_m``. Fills the land between reached roads, so it claims more
      than the roads serve; about a hundred times faster, for overview maps of many
      facilities.

    **Without a network** (``None``) the polygon is a circle of radius
    ``straight_line_speed_kph x T / detour_factor`` in a metric CRS: the points a straight-line
    trip reaches in T, as in the fallback of :mod:`siting.costs`.

    Parameters
    ----------
    network
        A networkx graph (osmnx convention), a compiled GraphArrays, or ``None``.
    facilities
        Points indexed by id (filtered by ``kind``).
    minutes
        Thresholds T in minutes (one number or several).
    kind
        Keep the facilities of this kind (or these kinds).
    direction
        ``"from_facility"`` (default: the area a trip from the facility reaches, e.g. a doctor's
        visit) or ``"to_facility"`` (the area from which the facility is reached within T).
    outline
        ``"roads"`` or ``"concave"`` (network only, see above).
    buffer_m
        Width added around the reached roads or hull (metres, >= 0; network only).
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`SERVICE_AREA_COLUMNS`, EPSG:4326: one row per facility (input order)
        and T (ascending). ``n_nodes`` is the number of graph nodes reached (<NA> for a
        straight line), ``area_km2`` the polygon's area in the metric CRS. A facility whose
        access leg alone exceeds T gets the reached part of that leg only.

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> areas = service_areas(None, registry, minutes=[15, 30], kind="health_center")
    >>> len(areas) == 2 * int((registry["kind"] == "health_center").sum())
    True
    """
    thresholds = minutes_arg(minutes, "minutes")
    way = cost_args.direction(direction)
    if (
        isinstance(buffer_m, bool)
        or not isinstance(buffer_m, int | float | np.integer | np.floating)
        or not (math.isfinite(float(buffer_m)) and float(buffer_m) >= 0)
    ):
        msg = f"buffer_m must be a finite number of metres >= 0, got {buffer_m!r}"
        raise CoverageError(msg)
    if outline not in OUTLINES:
        msg = f"outline must be one of {OUTLINES}, got {outline!r}"
        raise CoverageError(msg)
    st = cost_args.travel_settings(
        max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
    )
    pts = cost_args.select(
        cost_args.points(facilities, "facilities"), cost_args.kinds(kind), "facilities"
    )
    arrays = cost_args.arrays(network)
    if len(pts) == 0:
        return _empty_areas()
    nf, nt = len(pts), len(thresholds)
    fac_pos = np.repeat(np.arange(nf), nt)
    if arrays is None:
        crs = metric_crs(
            (
                (float(pts.lon.min()) + float(pts.lon.max())) / 2.0,
                (float(pts.lat.min()) + float(pts.lat.max())) / 2.0,
            )
        )
        tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = (np.asarray(v, dtype=np.float64) for v in tf.transform(pts.lon, pts.lat))
        radius = np.tile(np.asarray(thresholds) * 60.0, nf) * (
            st.straight_speed_kph / 3.6 / st.detour_factor
        )
        geoms = shapely.buffer(shapely.points(x[fac_pos], y[fac_pos]), radius)
        n_nodes: Any = pd.array([pd.NA] * len(fac_pos), dtype="Int64")
        method = costs.STRAIGHT_LINE
    else:
        if arrays.n == 0:
            msg = "network has no nodes"
            raise CoverageError(msg)
        crs = arrays.crs
        snapped = snap(
            arrays,
            pts.lon,
            pts.lat,
            max_snap_m=st.max_snap_m,
            access_speed_kph=st.access_speed_kph,
        )
        tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        fx, fy = (np.asarray(v, dtype=np.float64) for v in tf.transform(pts.lon, pts.lat))
        group, coords, counts = _segments_within(
            arrays,
            snapped["node_pos"].to_numpy(dtype=np.int64),
            snapped["access_s"].to_numpy(dtype=np.float64),
            np.column_stack([fx, fy]),
            [t * 60.0 for t in thresholds],
            way,
        )
        geoms = _outlines(group, coords, outline, float(buffer_m))
        n_nodes = pd.array(counts, dtype="Int64")
        method = costs.NETWORK
    metric = gpd.GeoSeries(geoms, crs=crs)
    area = metric.area.to_numpy(dtype=np.float64) / 1e6
    return gpd.GeoDataFrame(
        {
            "facility_id": pts.ids.take(fac_pos).to_numpy(),
            "minutes": minutes_column(thresholds, 1)[np.tile(np.arange(nt), nf)],
            "n_nodes": n_nodes,
            "area_km2": area,
            "method": np.full(len(fac_pos), method, dtype=object),
        },
        geometry=metric.to_crs("EPSG:4326").to_numpy(),
        crs="EPSG:4326",
    )
