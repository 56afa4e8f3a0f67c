"""Service areas: the area reachable within T minutes of each facility.

:func:`service_areas` draws one polygon per facility and threshold, along the reached roads of
a network (or as a straight-line circle without one): each facility's whole reach
(``mode="reach"``) or its catchment, the roads it reaches first (``mode="nearest"``).
:mod:`siting.coverage` re-exports it with the other coverage measures. May import
:mod:`siting.costs`, :mod:`siting.graph`, :mod:`siting.crs` and :mod:`siting._errors`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from siting import costs
from siting._errors import CoverageError
from siting.costs import args as cost_args
from siting.crs import metric_crs
from siting.graph import GraphArrays, snap

__all__ = [
    "CONCAVE_RATIO",
    "MODES",
    "OUTLINES",
    "SERVICE_AREA_BUFFER_M",
    "SERVICE_AREA_COLUMNS",
    "CoverageError",
    "minutes_arg",
    "minutes_column",
    "service_areas",
]

F64 = npt.NDArray[np.float64]
_G = TypeVar("_G")
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

#: Accepted values of ``mode=`` in :func:`service_areas`: every facility's whole reach, or
#: each road point given to the facility that reaches it first (catchments, 就近服务范围).
MODES: Final = ("reach", "nearest")

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


#: The geometry built once per graph (:class:`_Corridor`, :class:`_Faces`), by class,
#: direction of the search graph and ``buffer_m``; forgotten with the compiled graph.
_PER_GRAPH: weakref.WeakKeyDictionary[GraphArrays, dict[tuple[Any, str, float], Any]] = (
    weakref.WeakKeyDictionary()
)


def _per_graph(
    kind: Callable[[GraphArrays, Any, float], _G],
    arrays: GraphArrays,
    direction: costs.Direction,
    buffer_m: float,
) -> _G:
    """The cached ``kind(arrays, search edges, buffer_m)`` of ``arrays``."""
    per = _PER_GRAPH.setdefault(arrays, {})
    key = (kind, direction, buffer_m)
    found = per.get(key)
    if found is None:
        found = per[key] = kind(arrays, cost_args.search(arrays, direction).edges, buffer_m)
    return found


def _corridor(arrays: GraphArrays, direction: costs.Direction, buffer_m: float) -> _Corridor:
    """The cached :class:`_Corridor` of ``arrays`` (per direction of the search graph)."""
    return _per_graph(_Corridor, arrays, direction, buffer_m)


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


# --- nearest mode: one multi-source search, each road point to the facility reaching it first ---


def _nearest_search(
    search: cost_args.Edges, fac_node: I64, fac_access: F64, top: float
) -> tuple[F64, I64]:
    """Time ``t`` and owner (facility position, -1 beyond ``top``) of every node, from one
    multi-source search.

    One pseudo node per seed enters its snapped node along an edge of its access time (explicit
    zeros are kept by :func:`scipy.sparse.csgraph.dijkstra`). Facilities sharing a node seed it
    once: the smallest access time, then the first in input order; the others own no node.
    """
    n, nf = search.n, len(fac_node)
    order = np.lexsort((np.arange(nf), fac_access, fac_node))
    first = np.ones(nf, dtype=bool)
    first[1:] = fac_node[order][1:] != fac_node[order][:-1]
    seed = order[first]
    s = len(seed)
    base = np.asarray(search.indptr, dtype=np.int64)
    indptr = np.concatenate([base, base[-1] + np.arange(1, s + 1, dtype=np.int64)])
    cols = np.concatenate([np.asarray(search.dst, dtype=np.int64), fac_node[seed]])
    data = np.concatenate([search.w, fac_access[seed]])
    graph = sp.csr_matrix((data, cols, indptr), shape=(n + s, n + s))
    dist, _, source = dijkstra(
        graph,
        directed=True,
        indices=np.arange(n, n + s),
        min_only=True,
        return_predecessors=True,
        limit=top * (1 + 1e-12) + 1e-9,
    )
    t = np.asarray(dist[:n], dtype=np.float64)
    src = np.asarray(source[:n], dtype=np.int64)
    owner = np.full(n, -1, dtype=np.int64)
    ok = (src >= n) & (t <= top)
    owner[ok] = seed[src[ok] - n]
    t[~ok] = np.inf
    return t, owner


def _nearest_edges(search: cost_args.Edges, t: F64, owner: I64) -> tuple[I64, I64, F64, F64, F64]:
    """The out-edges of the owned nodes, grouped by owner (stable): edge positions, owner,
    ``t(u)``, weight and the cap ``p*`` of the piece (where the owner of the far end meets it
    along the reverse edge; 1 without one or when both ends share an owner)."""
    indptr = np.asarray(search.indptr, dtype=np.int64)
    node = np.flatnonzero(owner >= 0)
    starts = indptr[node]
    counts = indptr[node + 1] - starts
    epos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    u = np.repeat(node, counts)
    v = np.asarray(search.dst, dtype=np.int64)[epos]
    tu, w = t[u], search.w[epos]
    cap = np.ones(len(epos))
    border = np.flatnonzero((owner[v] >= 0) & (owner[v] != owner[u]))
    if len(border):
        n = search.n
        key = np.asarray(search.src, dtype=np.int64) * n + np.asarray(search.dst, dtype=np.int64)
        want = v[border] * n + u[border]
        at = np.searchsorted(key, want).clip(0, len(key) - 1)
        has = key[at] == want
        b, wr = border[has], search.w[at[has]]
        cap[b] = (t[v[b]] + wr - tu[b]) / (w[b] + wr)
    grp = np.argsort(owner[u], kind="stable")
    return epos[grp], owner[u][grp], tu[grp], w[grp], cap[grp]


def _areas_nearest(
    arrays: GraphArrays,
    fac_node: I64,
    fac_access: F64,
    fac_xy: F64,
    thresholds_s: Sequence[float],
    direction: costs.Direction,
    outline: str,
    buffer_m: float,
) -> tuple[npt.NDArray[Any], I64]:
    """One metric catchment polygon per (facility, threshold), facility-major, and its owned
    nodes (see ``mode="nearest"`` in :func:`service_areas`)."""
    search = cost_args.search(arrays, direction).edges
    fc = _faces(arrays, direction, buffer_m) if outline == "roads" else None
    src_all, dst_all = search.src.astype(np.int64), search.dst.astype(np.int64)
    nx_, ny_ = np.asarray(arrays.x, dtype=np.float64), np.asarray(arrays.y, dtype=np.float64)
    nf, nt = len(fac_node), len(thresholds_s)
    limits = np.asarray(thresholds_s, dtype=np.float64)
    t, owner = _nearest_search(search, fac_node, fac_access, float(limits.max()))
    n_nodes = np.stack(
        [np.bincount(owner[(owner >= 0) & (t <= lim)], minlength=nf) for lim in limits], axis=1
    ).astype(np.int64)
    epos, e_owner, tu, w, cap = _nearest_edges(search, t, owner)
    cut = np.searchsorted(e_owner, np.arange(nf + 1))
    geoms = np.empty(nf * nt, dtype=object)
    for f in range(nf):
        sl = slice(cut[f], cut[f + 1])
        e, de, we, ce = epos[sl], tu[sl], w[sl], cap[sl]
        last: tuple[I64, F64, F64] | None = None  # the pieces of the lower threshold
        for t_pos, lim in enumerate(limits):
            frac = np.minimum(ce, (lim - de) / we)
            keep = (de <= lim) & (frac > 0)
            ek, fk = e[keep], frac[keep]
            leg = _access_leg(fac_xy[f], nx_[fac_node[f]], ny_[fac_node[f]], lim, fac_access[f])
            if last is not None and all(
                np.array_equal(a, b) for a, b in zip(last, (ek, fk, leg), strict=True)
            ):  # the same pieces (a catchment reached whole): the same polygon
                geoms[f * nt + t_pos] = geoms[f * nt + t_pos - 1]
                continue
            last = (ek, fk, leg)
            if fc is None:
                geoms[f * nt + t_pos] = _concave(
                    src_all[ek], dst_all[ek], fk, nx_, ny_, leg, buffer_m
                )
            else:
                geoms[f * nt + t_pos] = _face_outline(fc, ek, fk, src_all, dst_all, leg, buffer_m)
    geoms[shapely.is_empty(geoms)] = shapely.Polygon()  # buffer_m=0: an empty polygon
    return geoms, n_nodes.ravel()


#: Longest ring (road segments) of a face of :class:`_Faces`.
_FACE_MAX: Final = 16


class _Faces:
    """The small faces of one graph's roads for one ``buffer_m``, for ``mode="nearest"``.

    The road segments are those of :class:`_Corridor`. A *face* is a ring of segments found by
    walking the road graph as a planar map (each half-edge continues along the next segment
    clockwise around its head node); kept when its ring has at most :data:`_FACE_MAX` segments,
    is a valid simple polygon and is *filled*: every point inside lies within
    ``buffer_m * cos(pi / 16)`` of the ring (true when half the smaller side of its bounding box
    is within that: from any inside point a vertical ray leaves the polygon within it), that is
    inside the union of the ring segments' polygonal buffers. So for any set of filled faces
    whose ring segments are all reached whole, the ``buffer_m`` buffer of their union equals the
    union of those segments' buffers (up to the arc vertices, both inscribed in the true discs).
    Crossings without a node (bridges) do not matter: only the rings are used.
    """

    def __init__(self, arrays: GraphArrays, search: Any, buffer_m: float) -> None:
        n = arrays.n
        x, y = np.asarray(arrays.x, dtype=np.float64), np.asarray(arrays.y, dtype=np.float64)
        src = np.asarray(search.src, dtype=np.int64)
        dst = np.asarray(search.dst, dtype=np.int64)
        ukey, inverse = np.unique(
            np.minimum(src, dst) * n + np.maximum(src, dst), return_inverse=True
        )
        self.seg_of_edge: I64 = inverse.astype(np.int64).ravel()
        self.a, self.b = ukey // n, ukey % n
        self.x, self.y = x, y
        self.n_segs = len(ukey)
        # half-edges 2s: a -> b and 2s + 1: b -> a, sorted by (tail, angle) around each node
        tail = np.column_stack([self.a, self.b]).ravel()
        head = np.column_stack([self.b, self.a]).ravel()
        angle = np.arctan2(y[head] - y[tail], x[head] - x[tail])
        order = np.lexsort((angle, tail))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        first = np.searchsorted(tail[order], np.arange(n + 1))
        # next of h (u -> v): the half-edge out of v just before the twin (v -> u) in angle
        twin = rank[np.arange(len(tail)) ^ 1]
        lo = first[head]
        prev = np.where(twin > lo, twin - 1, first[head + 1] - 1)
        nxt = order[prev]
        self.faces, self.face_ptr, self.face_segs = self._rings(nxt, tail, buffer_m)
        # faces of every segment (CSR by segment)
        face_of = np.repeat(np.arange(len(self.faces)), np.diff(self.face_ptr))
        by_seg = np.argsort(self.face_segs, kind="stable")
        self.seg_face_ptr = np.searchsorted(self.face_segs[by_seg], np.arange(self.n_segs + 1))
        self.seg_faces: I64 = face_of[by_seg]
        self.face_len: I64 = np.diff(self.face_ptr).astype(np.int64)

    def _rings(self, nxt: I64, tail: I64, buffer_m: float) -> tuple[npt.NDArray[Any], I64, I64]:
        """The filled faces (polygons), their ring offsets and ring segments (CSR)."""
        m = len(nxt)
        start = np.arange(m)
        length = np.zeros(m, dtype=np.int64)
        low = start.copy()
        cur = nxt.copy()
        for j in range(1, _FACE_MAX + 1):
            hit = (cur == start) & (length == 0)
            length[hit] = j
            open_ = length == 0
            low[open_] = np.minimum(low[open_], cur[open_])
            cur = nxt[cur]
        keep = np.flatnonzero((length >= 3) & (low == start))  # one start per short cycle
        lens = length[keep]
        walk = np.empty((len(keep), _FACE_MAX), dtype=np.int64)
        walk[:, 0] = keep
        for j in range(1, _FACE_MAX):
            walk[:, j] = nxt[walk[:, j - 1]]
        mask = np.arange(_FACE_MAX)[None, :] < lens[:, None]
        halves = walk[mask]  # row-major: face by face, in ring order
        nodes = tail[halves]
        ring_of = np.repeat(np.arange(len(keep)), lens)
        # closed rings: repeat each ring's first vertex
        close = np.cumsum(lens) - 1
        pos = np.insert(np.arange(len(nodes)), close + 1, np.cumsum(lens) - lens)
        idx = np.insert(ring_of, close + 1, np.arange(len(keep)))
        rings = shapely.linearrings(
            np.column_stack([self.x[nodes[pos]], self.y[nodes[pos]]]), indices=idx
        )
        polys = shapely.polygons(rings)
        x0, y0, x1, y1 = shapely.bounds(polys).T
        reach = buffer_m * math.cos(math.pi / (4 * _QUAD_SEGS)) * (1 - 1e-9)
        # interior faces only (walked counter-clockwise: the outer face of a small component
        # repeats its ring clockwise)
        good = shapely.is_ccw(rings) & shapely.is_valid(polys) & (shapely.area(polys) > 0)
        good &= np.minimum(x1 - x0, y1 - y0) / 2 <= reach
        good_faces = np.flatnonzero(good)
        sel = np.isin(ring_of, good_faces)
        ptr = np.concatenate([[0], np.cumsum(lens[good_faces])]).astype(np.int64)
        return np.asarray(polys[good_faces], dtype=object), ptr, (halves[sel] >> 1).astype(np.int64)

    def filled(self, full_segs: I64) -> tuple[I64, I64]:
        """The filled faces whose every ring segment is in ``full_segs`` (sorted, unique), and
        the segments of those rings."""
        starts = self.seg_face_ptr[full_segs]
        counts = self.seg_face_ptr[full_segs + 1] - starts
        pos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        cand, hits = np.unique(self.seg_faces[pos], return_counts=True)
        faces = cand[hits == self.face_len[cand]]
        fs = self.face_ptr[faces]
        fc = self.face_len[faces]
        rpos = np.repeat(fs - np.cumsum(fc) + fc, fc) + np.arange(int(fc.sum()))
        return faces, np.unique(self.face_segs[rpos])


def _faces(arrays: GraphArrays, direction: costs.Direction, buffer_m: float) -> _Faces:
    """The cached :class:`_Faces` of ``arrays`` (per direction of the search graph)."""
    return _per_graph(_Faces, arrays, direction, buffer_m)


def _union_faces(faces: npt.NDArray[Any]) -> Any:
    """The union of faces: a coverage union (edges shared by two faces cancel), checked valid;
    a plain union where faces overlap (roads crossing without a node)."""
    try:
        merged = shapely.coverage_union_all(faces)
    except shapely.errors.GEOSException:
        merged = None
    if merged is None or not shapely.is_valid(merged):
        merged = shapely.union_all(faces)
    return merged


def _face_outline(
    fc: _Faces, edges: I64, frac: F64, src: I64, dst: I64, leg: F64, buffer_m: float
) -> Any:
    """The union of the buffers of the owned pieces: the buffer of the union of the filled
    faces they ring whole, with the buffers of the other pieces."""
    seg = fc.seg_of_edge[edges]
    whole = frac >= 1.0
    part = np.flatnonzero(~whole)
    full_segs = seg[whole]
    if len(part):
        ps = seg[part]
        us, inv = np.unique(ps, return_inverse=True)
        total = np.bincount(inv.ravel(), weights=frac[part], minlength=len(us))
        full_segs = np.concatenate([full_segs, us[total >= 1.0]])
    full_segs = np.unique(full_segs)
    if len(part):
        part = part[~np.isin(seg[part], full_segs)]
    faces, ringed = fc.filled(full_segs)
    rest = full_segs[~np.isin(full_segs, ringed)]
    a, b = src[edges[part]], dst[edges[part]]
    x0, y0 = fc.x[a], fc.y[a]
    f = frac[part]
    coords = np.vstack(
        [
            np.column_stack(
                [fc.x[fc.a[rest]], fc.y[fc.a[rest]], fc.x[fc.b[rest]], fc.y[fc.b[rest]]]
            ),
            np.column_stack([x0, y0, x0 + f * (fc.x[b] - x0), y0 + f * (fc.y[b] - y0)]),
            leg[None, :],
        ]
    )
    pieces = list(shapely.buffer(_lines(coords), buffer_m, quad_segs=_QUAD_SEGS))
    if len(faces):
        pieces.append(shapely.buffer(_union_faces(fc.faces[faces]), buffer_m, quad_segs=_QUAD_SEGS))
    return shapely.union_all(pieces)


def _straight_nearest(x: F64, y: F64, radius: F64, nt: int) -> npt.NDArray[Any]:
    """Straight-line catchments: each circle (facility-major, ``nt`` radii each) cut to the
    Voronoi cell of its facility's point; facilities at the same point after the first get an
    empty polygon."""
    xy = np.column_stack([x, y])
    _, first, inv = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    circles = shapely.buffer(shapely.points(np.repeat(xy, nt, axis=0)), radius)
    out = np.full(len(circles), shapely.Polygon(), dtype=object)
    owners = np.flatnonzero(first[inv] == np.arange(len(x)))
    if len(first) == 1:
        cells = np.array([None], dtype=object)
    else:
        pad = float(radius.max()) + 1.0
        box = shapely.box(x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
        seeds = shapely.multipoints(xy[first])
        cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box, ordered=True))
    for i in owners:
        rows = slice(i * nt, (i + 1) * nt)
        cell = cells[inv[i]]
        out[rows] = circles[rows] if cell is None else shapely.intersection(circles[rows], cell)
    return out


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
    mode: str = "reach",
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

    **Catchments** (``mode="nearest"``, 就近服务范围): each road point belongs to the facility
    that reaches it first, and the polygon of a facility holds only the points it reaches first
    within T. Exactly: ONE multi-source search from all facilities at once (limited to the
    largest T; each facility's point enters its node after its access leg) gives every node
    ``v`` its time ``t(v)`` (the smallest over the facilities) and its owner (the facility
    reaching it in ``t(v)``). Facilities snapped to the same node are tried by access time, then
    input order: the first one owns whatever that node leads to, the others own no node and get
    their own access leg only (other exact ties in time, between different nodes, are settled
    by the search, the same way for the same input). The *owned pieces* of a facility ``f`` for
    T are, for every edge ``u -> v`` of weight ``w`` with ``owner(u) = f`` and ``t(u) <= T``,
    the part ``p <= min(1, (T - t(u)) / w, p*)``, where ``p* = (t(v) + w' - t(u)) / (w + w')``
    when ``v`` has another owner and a reverse edge ``v -> u`` (weight ``w'``) exists: the point
    where the two owners meet on that road; else ``p* = 1`` (a point of a one-way edge is only
    reached through ``u``). Plus the part of ``f``'s own access leg walked within T. So every
    road point whose first facility is ``f`` and reached within T lies on an owned piece of
    ``f``, and every point of an owned piece is reached within T, by ``f`` first (or tied with
    the owner across a meeting point). The polygon is built from the owned pieces as from the
    reached pieces above: ``outline="concave"`` the same way; ``outline="roads"`` the union of
    the ``buffer_m`` buffers of the owned pieces, built another way, as one catchment's roads
    are about the only ones near it: the ring of every small face of the road map (a block
    bounded by at most 16 segments, every point of it within ``buffer_m * cos(pi/16)`` of its
    ring, found once per graph) whose every segment ``f`` owns whole is filled, the filled
    blocks merged (a coverage union) and buffered once, then unioned with the buffers of the
    other pieces and the access leg. Equal to the union of the pieces' buffers but for the arc
    vertices at the blocks' corners (both inscribed in the true discs: they differ only
    between ``buffer_m * cos(pi/16)`` and ``buffer_m`` from the pieces); each road is buffered
    about once, for its owner. ``n_nodes`` counts the nodes ``f`` owns with ``t(v) <= T``.
    Polygons of different facilities at the same T then overlap only within ``buffer_m`` of
    their shared borders (``outline="roads"``), and their union equals the union of the
    ``mode="reach"`` polygons (up to noding and those arc vertices). The search graph is
    that of ``direction`` (reversed for ``"to_facility"``: each point then belongs to the
    facility it reaches first). Without a network, the circle of each facility
    is cut to its Voronoi cell (the straight-line nearest facility); facilities at the same
    point after the first get an empty polygon.

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
    mode
        ``"reach"`` (default: every facility's whole reach, polygons of nearby facilities
        overlapping) or ``"nearest"`` (catchments, see above); :data:`MODES`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`SERVICE_AREA_COLUMNS`, EPSG:4326: one row per facility (input order)
        and T (ascending). ``n_nodes`` is the number of graph nodes reached (owned with
        ``mode="nearest"``; <NA> for a straight line), ``area_km2`` the polygon's area in
        the metric CRS. A facility whose access leg alone exceeds T gets the reached part of
        that leg only.

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
    _check_shape(buffer_m, outline, mode)
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
    n_nodes: Any
    if arrays is None:
        crs, geoms = _straight_areas(pts, thresholds, st, mode)
        n_nodes = pd.array([pd.NA] * len(fac_pos), dtype="Int64")
        method = costs.STRAIGHT_LINE
    else:
        crs = arrays.crs
        geoms, counts = _network_areas(
            arrays, pts, thresholds, st, way, outline, float(buffer_m), mode
        )
        n_nodes = pd.array(counts, dtype="Int64")
        method = costs.NETWORK
    metric = gpd.GeoSeries(geoms, crs=crs)
    area = metric.area.to_numpy(dtype=np.float64) / 1e6
    out = gpd.GeoDataFrame(
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
    out.attrs["mode"] = mode  # what the polygons are (the maps' legend says it)
    return out


def _check_shape(buffer_m: Any, outline: Any, mode: Any) -> None:
    """Errors for a bad ``buffer_m``, ``outline`` or ``mode`` of :func:`service_areas`."""
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
    if not isinstance(mode, str) or mode not in MODES:
        msg = f"mode must be one of {MODES}, got {mode!r}"
        raise CoverageError(msg)


def _straight_areas(
    pts: cost_args.Points, thresholds: tuple[float, ...], st: cost_args.TravelSettings, mode: str
) -> tuple[Any, npt.NDArray[Any]]:
    """The metric CRS and the straight-line polygons, facility-major (see :func:`service_areas`)."""
    nf = len(pts)
    fac_pos = np.repeat(np.arange(nf), len(thresholds))
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
    if mode == "nearest":
        return crs, _straight_nearest(x, y, radius, len(thresholds))
    return crs, np.asarray(shapely.buffer(shapely.points(x[fac_pos], y[fac_pos]), radius))


def _network_areas(
    arrays: GraphArrays,
    pts: cost_args.Points,
    thresholds: tuple[float, ...],
    st: cost_args.TravelSettings,
    way: costs.Direction,
    outline: str,
    buffer_m: float,
    mode: str,
) -> tuple[npt.NDArray[Any], I64]:
    """The metric polygons on a network, facility-major, and their node counts."""
    if arrays.n == 0:
        msg = "network has no nodes"
        raise CoverageError(msg)
    snapped = snap(
        arrays,
        pts.lon,
        pts.lat,
        max_snap_m=st.max_snap_m,
        access_speed_kph=st.access_speed_kph,
    )
    tf = pyproj.Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True)
    fx, fy = (np.asarray(v, dtype=np.float64) for v in tf.transform(pts.lon, pts.lat))
    build = _areas_nearest if mode == "nearest" else _areas_within
    return build(
        arrays,
        snapped["node_pos"].to_numpy(dtype=np.int64),
        snapped["access_s"].to_numpy(dtype=np.float64),
        np.column_stack([fx, fy]),
        [t * 60.0 for t in thresholds],
        way,
        outline,
        buffer_m,
    )
