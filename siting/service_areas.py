"""Service areas: the area reachable within T minutes of each facility.

:func:`service_areas` draws one polygon per facility and threshold, along the reached roads of
a network (or as a straight-line circle without one). :mod:`siting.coverage` re-exports it with
the other coverage measures. May import :mod:`siting.costs`, :mod:`siting.graph`,
:mod:`siting.crs` and :mod:`siting._errors`.
"""

from __future__ import annotations

import math
import weakref
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


#: Side of the base tiles of the geometry cache, in multiples of ``buffer_m`` (with a floor).
_TILE_BUFFERS: Final = 1.0
_TILE_MIN_M: Final = 100.0
#: Mean segments per base tile above which tiles are halved, down to _TILE_FLOOR_M.
_TILE_SEGMENTS: Final = 8
_TILE_FLOOR_M: Final = 25.0
#: Unions of whole segments kept per graph, by segment set (identical reaches are common).
_CORE_CACHE: Final = 64
#: Arc segments per quarter circle of every buffer (as GEOS' default ``quad_segs=8`` halved).
_QUAD_SEGS: Final = 4


class _Corridor:
    """The geometry of one graph for one ``buffer_m``, built once and reused by every polygon.

    The road segments are the node pairs joined by an edge in either direction (straight
    lines). Each segment gets its buffer once, and belongs to the square base tile of its
    midpoint; tiles are grouped in a quadtree (level ``L`` holds ``2**L x 2**L`` base tiles).
    The *blob* of a tile is the union of the buffers of all its segments, built on first use
    (a level-``L`` blob is the union of its four children) and cached: a polygon whose reached
    roads hold every segment of a tile takes that blob whole, so the union of a large service
    area mostly merges a few cached blobs and only its frontier tiles are unioned afresh.
    :meth:`core` also keeps the unions of the last :data:`_CORE_CACHE` segment sets.
    """

    def __init__(self, arrays: GraphArrays, search: Any, buffer_m: float) -> None:
        n = arrays.n
        x, y = np.asarray(arrays.x, dtype=np.float64), np.asarray(arrays.y, dtype=np.float64)
        src = np.asarray(search.src, dtype=np.int64)
        dst = np.asarray(search.dst, dtype=np.int64)
        key = np.minimum(src, dst) * n + np.maximum(src, dst)
        ukey, inverse = np.unique(key, return_inverse=True)
        #: segment of every search edge
        self.seg_of_edge: I64 = inverse.astype(np.int64).ravel()
        a, b = ukey // n, ukey % n
        self.x, self.y = x, y
        self.buffer_m = buffer_m
        lines = shapely.linestrings(
            np.column_stack([x[a], y[a], x[b], y[b]]).reshape(-1, 2),
            indices=np.repeat(np.arange(len(ukey)), 2),
        )
        self.seg_buffers: npt.NDArray[Any] = np.asarray(
            shapely.buffer(lines, buffer_m, quad_segs=_QUAD_SEGS), dtype=object
        )
        mx, my = (x[a] + x[b]) / 2.0, (y[a] + y[b]) / 2.0
        # base tiles of side max(buffer_m, 100 m), halved (down to 25 m) while they hold more
        # than _TILE_SEGMENTS segments on average (dense streets)
        tile = max(_TILE_MIN_M, _TILE_BUFFERS * buffer_m)
        ix = iy = np.zeros(len(ukey), dtype=np.int64)
        while len(ukey):
            ix = np.floor((mx - mx.min()) / tile).astype(np.int64)
            iy = np.floor((my - my.min()) / tile).astype(np.int64)
            n_tiles = len(np.unique(ix * (int(iy.max()) + 1) + iy))
            if len(ukey) <= _TILE_SEGMENTS * n_tiles or tile / 2 < _TILE_FLOOR_M:
                break
            tile /= 2.0
        span = int(max(ix.max(initial=0), iy.max(initial=0))) + 1
        self.levels = max(0, math.ceil(math.log2(span))) if span > 1 else 0
        self.stride = 1 << (self.levels + 1)
        self.ix, self.iy = ix, iy
        # base tile of every segment (key) and the segments of each tile
        tkey = ix * self.stride + iy
        order = np.argsort(tkey, kind="stable")
        self.tile_keys, starts, counts = np.unique(
            tkey[order], return_index=True, return_counts=True
        )
        self.tile_of_seg: I64 = np.searchsorted(self.tile_keys, tkey).astype(np.int64)
        self.tile_segs = np.split(order, starts[1:]) if len(order) else []
        self.tile_count: I64 = counts.astype(np.int64)
        # per level: the keys of the non-empty tiles and their number of non-empty base tiles
        tix, tiy = self.tile_keys // self.stride, self.tile_keys % self.stride
        self.level_keys: list[I64] = []
        self.level_count: list[I64] = []
        for lev in range(self.levels + 1):
            k, c = np.unique((tix >> lev) * self.stride + (tiy >> lev), return_counts=True)
            self.level_keys.append(k)
            self.level_count.append(c.astype(np.int64))
        self.tix, self.tiy = tix, tiy
        self.blobs: dict[tuple[int, int], Any] = {}
        self.cores: dict[bytes, tuple[I64, Any]] = {}

    def blob(self, lev: int, key: int) -> Any:
        """The union of the buffers of every segment in tile ``key`` of level ``lev`` (cached)."""
        found = self.blobs.get((lev, key))
        if found is not None:
            return found
        if lev == 0:
            pos = int(np.searchsorted(self.tile_keys, key))
            geom = shapely.union_all(self.seg_buffers[self.tile_segs[pos]])
        else:
            kx, ky = divmod(key, self.stride)
            below = self.level_keys[lev - 1]
            kids = [(2 * kx + i) * self.stride + 2 * ky + j for i in (0, 1) for j in (0, 1)]
            present = [k for k in kids if _has(below, k)]
            geom = shapely.union_all([self.blob(lev - 1, k) for k in present])
        self.blobs[(lev, key)] = geom
        return geom

    def core(self, full_segs: I64, inner: tuple[I64, I64, Any] | None) -> tuple[I64, Any]:
        """The whole tiles of the segments ``full_segs`` (sorted, unique) and the union of the
        segments' buffers: the cached blobs of the tiles they fill, the buffers of the others.

        Cached by segment set (facilities often reach the same roads). ``inner`` is the result
        for a subset (the lower threshold of the same facility: its segments, whole tiles and
        union), reused whole: only what lies beyond it is unioned, then merged with it.
        """
        key = full_segs.tobytes()
        found = self.cores.get(key)
        if found is not None:
            return found
        tiles, tcount = np.unique(self.tile_of_seg[full_segs], return_counts=True)
        whole = tiles[tcount == self.tile_count[tiles]]
        new_whole, segs = whole, full_segs
        if inner is not None:
            in_segs, in_whole, in_geom = inner
            new_whole = whole[~np.isin(whole, in_whole)]
            segs = full_segs[~np.isin(full_segs, in_segs)]
        pieces = self.full_blobs(new_whole)
        pieces.extend(self.seg_buffers[segs[~np.isin(self.tile_of_seg[segs], whole)]])
        geom = shapely.union_all(pieces)
        if inner is not None:
            geom = shapely.union(in_geom, geom)
        if len(self.cores) >= _CORE_CACHE:
            self.cores.pop(next(iter(self.cores)))
        self.cores[key] = (whole, geom)
        return whole, geom

    def full_blobs(self, full_tiles: I64) -> list[Any]:
        """The largest cached blobs that exactly cover the base tiles ``full_tiles`` (positions
        in :attr:`tile_keys`, every segment of each reached whole)."""
        if not len(full_tiles):
            return []
        tix, tiy = self.tix[full_tiles], self.tiy[full_tiles]
        best = np.zeros(len(full_tiles), dtype=np.int64)
        for lev in range(1, self.levels + 1):
            anc = (tix >> lev) * self.stride + (tiy >> lev)
            uk, inv, cnt = np.unique(anc, return_inverse=True, return_counts=True)
            need = self.level_count[lev][np.searchsorted(self.level_keys[lev], uk)]
            whole = (cnt == need)[inv.ravel()]
            if not whole.any():
                break
            best[whole] = lev
        out: list[Any] = []
        for lev in np.unique(best):
            sel = best == lev
            keys = np.unique((tix[sel] >> lev) * self.stride + (tiy[sel] >> lev))
            out.extend(self.blob(int(lev), int(k)) for k in keys)
        return out


def _has(sorted_keys: I64, key: int) -> bool:
    pos = int(np.searchsorted(sorted_keys, key))
    return pos < len(sorted_keys) and int(sorted_keys[pos]) == key


_CORRIDORS: weakref.WeakKeyDictionary[GraphArrays, dict[tuple[str, float], _Corridor]] = (
    weakref.WeakKeyDictionary()
)


def _corridor(arrays: GraphArrays, direction: costs.Direction, buffer_m: float) -> _Corridor:
    """The cached :class:`_Corridor` of ``arrays`` (per direction of the search graph)."""
    per = _CORRIDORS.setdefault(arrays, {})
    found = per.get((direction, buffer_m))
    if found is None:
        found = _Corridor(arrays, cost_args.search(arrays, direction).edges, buffer_m)
        per[(direction, buffer_m)] = found
    return found


def _areas_within(
    arrays: GraphArrays,
    fac_node: I64,
    fac_access: F64,
    fac_xy: F64,
    thresholds_s: Sequence[float],
    direction: costs.Direction,
    outline: str,
    buffer_m: float,
) -> tuple[npt.NDArray[Any], I64]:
    """One metric polygon per (facility, threshold), facility-major, and its reached nodes."""
    search = cost_args.search(arrays, direction).edges
    cor = _corridor(arrays, direction, buffer_m) if outline == "roads" else None
    mat = search.matrix()
    n = search.n
    indptr = np.asarray(search.indptr, dtype=np.int64)
    src_all, dst_all = search.src.astype(np.int64), search.dst.astype(np.int64)
    nx_, ny_ = np.asarray(arrays.x, dtype=np.float64), np.asarray(arrays.y, dtype=np.float64)
    nf, nt = len(fac_node), len(thresholds_s)
    limits = np.asarray(thresholds_s, dtype=np.float64)
    top = float(limits.max())
    n_nodes = np.zeros((nf, nt), dtype=np.int64)
    geoms = np.empty(nf * nt, dtype=object)
    batch = max(1, _BATCH_BYTES // max(8 * n, 1))
    for lo in range(0, nf, batch):
        rows = np.arange(lo, min(nf, lo + batch))
        dist = np.asarray(
            dijkstra(mat, directed=True, indices=fac_node[rows], limit=top * (1 + 1e-12) + 1e-9),
            dtype=np.float64,
        ).reshape(len(rows), n)
        dist += fac_access[rows, None]  # time from the facility point itself
        r_loc, node = np.nonzero(dist <= top)  # row-major: grouped by facility
        d = dist[r_loc, node]
        # out-edges of every reached (facility, node)
        starts = indptr[node]
        counts = indptr[node + 1] - starts
        rep = np.repeat(np.arange(len(node)), counts)
        epos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        d_e, w_e = d[rep], search.w[epos]
        node_cut = np.searchsorted(r_loc, np.arange(len(rows) + 1))
        edge_cut = np.searchsorted(r_loc[rep], np.arange(len(rows) + 1))
        for i, f in enumerate(rows):
            dn = d[node_cut[i] : node_cut[i + 1]]
            e_sl = slice(edge_cut[i], edge_cut[i + 1])
            e, de, we = epos[e_sl], d_e[e_sl], w_e[e_sl]
            inner = None  # the polygon of the previous (lower) threshold, reused
            for t_pos, lim in enumerate(limits):
                n_nodes[f, t_pos] = int(np.count_nonzero(dn <= lim))
                # the reached share of every out-edge of a reached node: whole when its far
                # end is reached through it, else cut where the remaining time runs out
                with np.errstate(divide="ignore", invalid="ignore"):
                    frac = np.minimum(1.0, (lim - de) / we)
                keep = (de <= lim) & (frac > 0)
                ek, fk = e[keep], frac[keep]
                leg = _access_leg(fac_xy[f], nx_[fac_node[f]], ny_[fac_node[f]], lim, fac_access[f])
                if cor is None:
                    geoms[f * nt + t_pos] = _concave(
                        src_all[ek], dst_all[ek], fk, nx_, ny_, leg, buffer_m
                    )
                else:
                    *core, geoms[f * nt + t_pos] = _road_outline(
                        cor, ek, fk, src_all, dst_all, leg, inner
                    )
                    inner = (core[0], core[1], core[2])
    geoms[shapely.is_empty(geoms)] = shapely.Polygon()  # buffer_m=0: an empty polygon
    return geoms, n_nodes.ravel()


def _access_leg(xy: F64, nx0: float, ny0: float, lim: float, access_s: float) -> F64:
    """The reached part of a facility's access leg (x0, y0, x1, y1), from its point."""
    frac = 1.0 if access_s <= 0 else min(1.0, lim / access_s)
    return np.array([xy[0], xy[1], xy[0] + frac * (nx0 - xy[0]), xy[1] + frac * (ny0 - xy[1])])


def _lines(coords: F64) -> npt.NDArray[Any]:
    return np.asarray(
        shapely.linestrings(coords.reshape(-1, 2), indices=np.repeat(np.arange(len(coords)), 2)),
        dtype=object,
    )


def _road_outline(
    cor: _Corridor,
    edges: I64,
    frac: F64,
    src: I64,
    dst: I64,
    leg: F64,
    inner: tuple[I64, I64, Any] | None,
) -> tuple[I64, I64, Any, Any]:
    """The union of the buffers of the reached pieces (see :func:`service_areas`), last; first
    the whole segments, whole tiles and union of whole segments (``inner`` of the next
    threshold)."""
    seg = cor.seg_of_edge[edges]
    whole = frac >= 1.0
    part = np.flatnonzero(~whole)
    full_segs = seg[whole]
    if len(part):
        # a segment reached partly from both ends, the pieces meeting, is whole
        ps = seg[part]
        us, inv = np.unique(ps, return_inverse=True)
        total = np.bincount(inv.ravel(), weights=frac[part], minlength=len(us))
        full_segs = np.concatenate([full_segs, us[total >= 1.0]])
    full_segs = np.unique(full_segs)
    if len(part):
        part = part[~np.isin(seg[part], full_segs)]
    a, b = src[edges[part]], dst[edges[part]]
    x0, y0 = cor.x[a], cor.y[a]
    f = frac[part]
    coords = np.vstack(
        [
            np.column_stack([x0, y0, x0 + f * (cor.x[b] - x0), y0 + f * (cor.y[b] - y0)]),
            leg[None, :],
        ]
    )
    tiles, core = cor.core(full_segs, inner)
    extra = shapely.union_all(shapely.buffer(_lines(coords), cor.buffer_m, quad_segs=_QUAD_SEGS))
    return full_segs, tiles, core, shapely.union(core, extra)


def _concave(a: I64, b: I64, frac: F64, x: F64, y: F64, leg: F64, buffer_m: float) -> Any:
    """The concave hull of the reached pieces' ends, widened by ``buffer_m``."""
    x0, y0 = x[a], y[a]
    coords = np.vstack(
        [
            np.column_stack([x0, y0, x0 + frac * (x[b] - x0), y0 + frac * (y[b] - y0)]),
            leg[None, :],
        ]
    )
    hull = shapely.concave_hull(shapely.multipoints(coords.reshape(-1, 2)), ratio=CONCAVE_RATIO)
    return shapely.buffer(hull, buffer_m, quad_segs=_QUAD_SEGS)


def service_areas(
    network: costs.Network,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: float | Iterable[float] = (15, 30),
    kind: str | Iterable[str] | None = None,
    direction: str | None = None,
    outline: str = "roads",
    buffer_m: float = SERVICE_AREA_BUFFER_M,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: cost_args.TravelOptions | None = None,
) -> gpd.GeoDataFrame:
    """The area reachable within T minutes of each facility, one polygon per facility and T.

    **On a network** the polygon is defined exactly as follows. Travel times ``t(v)`` from the
    facility's point to every node ``v`` are the facility's access leg (its snap distance at
    the access speed) plus the shortest path from its node (reversed graph for
    ``"to_facility"``), found by one limited search per facility
    (:func:`scipy.sparse.csgraph.dijkstra` with ``limit=`` the largest T, batched, shared by
    every threshold). A point at fraction ``p`` along an edge ``u -> v`` of travel time ``w``
    is reached at ``t(u) + p * w`` (speed uniform along an edge; edges are straight
    node-to-node segments, edge geometries are not read). The *reached pieces* for T are, for
    every edge with ``t(u) <= T``, the part ``p <= (T - t(u)) / w`` (the whole edge when its far
    end is reached through it), plus the part of the access leg walked within T. Every road
    point reachable within T lies on a reached piece and every point of a piece is reachable.
    The polygon, in the graph's metric CRS:

    * ``outline="roads"`` (default): the union of the ``buffer_m`` buffers of the reached
      pieces (GEOS round buffers, 4 arc segments per quarter circle: inscribed in the true
      disc, at most ``buffer_m * (1 - cos 11.25°)``, about 2 %, inside it). So every reachable
      road point is inside, and a point farther than ``buffer_m`` from every reachable road
      point is outside; an unreachable road (a one-way street the wrong way, a disconnected
      pocket) is inside only where it passes within ``buffer_m`` of a reachable one. A corridor
      along roads, not a filled outline: holes between roads stay holes. Built fast, with the
      same result up to floating-point noding: the buffer of every road segment is made once
      per graph (per direction and ``buffer_m``, cached while the compiled graph lives), and
      the union of all segments of a square tile (side ``max(buffer_m, 100 m)``, halved down
      to 25 m on dense streets; tiles grouped in a quadtree) once, when first needed; a polygon
      merges the cached unions of the tiles whose every segment it reaches whole with the
      buffers of its other whole segments, in one GEOS union, then adds its partly reached
      pieces and access leg. The union of the whole segments of a lower threshold is reused by
      the next one, and a set of whole segments reached again (another facility) reuses its
      union.
    * ``outline="concave"``: the concave hull (:data:`CONCAVE_RATIO`) of the reached pieces'
      ends, widened by ``buffer_m``. Fills the land between reached roads, so it claims more
      than the roads serve; a hull per polygon, for overview maps of many facilities.

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
        ``"from_facility"`` (the area a trip from the facility reaches, e.g. a doctor's visit)
        or ``"to_facility"`` (the area from which the facility is reached within T); ``None``:
        that of ``options``, else ``"from_facility"``.
    outline
        ``"roads"`` or ``"concave"`` (network only, see above).
    buffer_m
        Width added around the reached roads or hull (metres, >= 0; network only).
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

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
    if options is None and direction is None:
        direction = "from_facility"
    direction, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph = (
        cost_args.with_options(
            options, direction, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        )
    )
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
        geoms, counts = _areas_within(
            arrays,
            snapped["node_pos"].to_numpy(dtype=np.int64),
            snapped["access_s"].to_numpy(dtype=np.float64),
            np.column_stack([fx, fy]),
            [t * 60.0 for t in thresholds],
            way,
            outline,
            float(buffer_m),
        )
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
