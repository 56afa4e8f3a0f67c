"""Travel-time engine: nearest facilities, reach within T minutes, OD matrices, incremental updates.

Every later feature (pairing 就近, coverage gaps, patrol routes, siting) asks the same questions
of a road graph: *which facilities are closest to each demand point, how far, by what road*.
This module answers them with multi-source searches on compiled kernels
(:func:`scipy.sparse.csgraph.dijkstra`), never with per-pair shortest paths.

Conventions
-----------
* **Inputs.** Demand and facilities are GeoDataFrames of points (WGS84, or any CRS that converts
  to it) whose index are the ids; every result keeps those ids. ``kind=`` keeps the facilities
  whose ``kind`` column matches. The network is an osmnx-style graph (networkx MultiDiGraph with
  ``x``/``y`` in WGS84, edges ``length`` m and ``travel_time`` s), a compiled
  :class:`siting._graph.GraphArrays` (compile once with :func:`siting._graph.graph_arrays` to
  reuse across calls), or ``None`` for the straight-line fallback.
* **Direction.** ``"to_facility"`` (default) measures the trip from the demand point to the
  facility (a search on the reversed graph, from the facilities); ``"from_facility"`` the trip
  from the facility to the demand point. One-way streets make the two differ.
* **Time.** ``time_s`` = demand access leg + road time + facility access leg. A point is tied to
  its nearest graph node (:func:`siting._graph.snap`); the straight leg between them (``snap_m``)
  is driven at :data:`siting.settings.access_speed_kph`. ``snap_flag`` is true when either leg is
  longer than :data:`siting.settings.max_snap_m`.
* **Distance.** ``distance_m`` is the road length of the fastest path, without the access legs
  (when several paths are equally fast, one of them).
* **Method.** ``"network"``, or ``"straight_line"`` without a network: metric distance (in
  :func:`siting.crs.metric_crs` of the demand points, never degrees) times
  :data:`siting.settings.detour_factor`, driven at :data:`siting.settings.straight_line_speed_kph`;
  ``distance_m`` is then that detoured distance and the snap columns are NaN.
* **Unreachable** is a row with ``reachable=False``, ``facility_id`` <NA> and NaN time and
  distance: never ``inf``, never an exception.
* **Ties** are broken by time, then by facility id (ids sorted in their natural order, or as
  strings when they do not compare), in every function and in :class:`NearestIndex`, so that an
  incremental update gives exactly the result of a full recompute.

Algorithms
----------
*Nearest (k = 1).* One :func:`~scipy.sparse.csgraph.dijkstra` run with ``min_only=True`` from
every facility at once gives each node its nearest facility. Each facility enters as a virtual
source joined to its snapped node by an edge of its access time, so access legs and co-located
facilities are exact. Ties are then resolved to the smallest facility id by propagating labels
along *tight* edges (``d(u) + w == d(v)``), and road lengths are summed up the predecessor
chains of the demand nodes (one vectorised step per tree level; the whole tree by pointer jumping
when most nodes are needed). Cost: one kernel run, ``O((E + N) log N)``, plus ``O(E)`` vectorised
passes. Large demand sets are snapped to the graph on a background thread while the kernel runs
(the KD-tree query releases the GIL); only the facilities must be snapped before it.

*k nearest, exact (rank by rank, higher-order network Voronoi).* Let ``S_r(v)`` be the set of the
``r`` nearest facilities of node ``v`` (ordered by time, then id). The ``(r+1)``-th nearest
facility ``f`` of ``v`` reaches it by a fastest path whose every node has ``f`` among its
``r + 1`` nearest (otherwise ``r + 1`` facilities would precede ``f`` at ``v`` too). So along the
last edge ``u -> v`` either ``S_r(u) == S_r(v)`` and ``f`` is the ``(r+1)``-th of ``u`` (the two
nodes lie in the same order-``r`` Voronoi cell), or the sets differ and some facility of
``S_r(u)`` outside ``S_r(v)`` is at least as good as ``f`` through that edge. Rank ``r + 1`` is
therefore **one more multi-source kernel run** on the graph restricted to edges inside order-``r``
cells, seeded at every node with its best candidate across cell borders (``d_j(u) + w`` for the
first ``j`` whose facility is not in ``S_r(v)``). The first valid ``j`` of each edge only moves
forward from rank to rank (amortised ``O(1)`` membership tests per edge and rank, by binary search
in the sorted (node, facility) pairs). Cost for ``k`` ranks: ``k`` kernel runs plus
``O(k E log(kN))`` vectorised work; ``limit=`` (``max_time_s``, reach) bounds every run and
ranks stop as soon as no demand node can gain another facility.

*Reach within T.* The same rank-by-rank search with ``limit = T`` and no fixed ``k``: it stops
when no demand node has another facility within ``T``.

*OD matrices.* Full single-source runs (``min_only=False``) from the smaller side (origins on the
graph, or destinations on the reversed graph), in memory-bounded batches, with road lengths by
pointer jumping on the batch of predecessor trees.

*Incremental (NearestIndex.add).* The ``k`` nearest of the union of two facility sets are the
``k`` best of the two sets' ``k`` nearest. Adding facilities ``B`` therefore runs the rank-by-rank
search **from B only** and merges its result into the current top ``k`` by (time, facility id).
The search is bounded by the largest current ``k``-th time among the demand nodes that ``B``
could improve: those whose ``k``-th time is at least a lower bound from ``B`` (access time plus
crow-flies distance at the graph's top crow-flies speed, ``max(edge crow-flies metres / edge
seconds)``); and it runs on the subgraph of the nodes within that bound's crow-flies radius of
``B``, so its cost is local. Demand nodes with fewer than ``k`` facilities have no finite bound:
for them the subgraph adds the nodes from which they can be reached at all (one multi-source run
on the reverse graph, done once per index and kept, since adding facilities only shrinks that
set of demand nodes), and only when a new facility lies among those nodes. The result equals a
full recompute. ``remove`` keeps the result when no removed facility was among any demand
point's ``k`` nearest, and recomputes otherwise.

Ties are exact equalities of floating-point times; times are accumulated along paths in the same
order by every function, so the same inputs give the same floats.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from siting import settings
from siting._errors import CostError
from siting._graph import GraphArrays, graph_arrays, snap, snap_in_background
from siting.crs import metric_crs

__all__ = [
    "COLUMNS",
    "DIRECTIONS",
    "OD_COLUMNS",
    "CostError",
    "NearestIndex",
    "nearest",
    "od_matrix",
    "reach",
    "reach_count",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]
Direction = Literal["to_facility", "from_facility"]
Network: TypeAlias = nx.Graph | GraphArrays | None

#: Accepted values of ``direction=``.
DIRECTIONS: Final = ("to_facility", "from_facility")

#: Columns of :func:`nearest`, :func:`reach` and :attr:`NearestIndex.result`, in order.
COLUMNS: Final = (
    "demand_id",
    "rank",
    "facility_id",
    "time_s",
    "distance_m",
    "method",
    "reachable",
    "demand_snap_m",
    "facility_snap_m",
    "snap_flag",
)

#: Columns of :func:`od_matrix` in long form, in order.
OD_COLUMNS: Final = (
    "origin_id",
    "destination_id",
    "time_s",
    "distance_m",
    "method",
    "reachable",
    "origin_snap_m",
    "destination_snap_m",
    "snap_flag",
)

NETWORK: Final = "network"
STRAIGHT_LINE: Final = "straight_line"

#: Memory budget of one batch of full single-source searches in :func:`od_matrix` (bytes).
_OD_BATCH_BYTES: Final = 256 * 2**20
_WGS84: Final = pyproj.CRS("EPSG:4326")
#: Relative slack of the crow-flies lower bounds (float rounding of projected coordinates).
_SLACK: Final = 1e-9
#: From this many demand points, :meth:`NearestIndex.build` snaps them on a background thread
#: while the search from the facilities runs (the KD-tree query releases the GIL).
_BACKGROUND_SNAP_FROM: Final = 20_000


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """Validated points: ids in input order, WGS84 coordinates."""

    ids: pd.Index
    lon: F64
    lat: F64
    kinds: pd.Series | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: B1) -> _Points:
        kinds = None if self.kinds is None else self.kinds[mask]
        return _Points(self.ids[mask], self.lon[mask], self.lat[mask], kinds)


def _points(frame: Any, name: str) -> _Points:
    """Check a GeoDataFrame/GeoSeries of points and return its ids and WGS84 coordinates."""
    if not isinstance(frame, gpd.GeoDataFrame | gpd.GeoSeries):
        msg = f"{name} must be a GeoDataFrame of points indexed by id, got {type(frame).__name__}"
        raise TypeError(msg)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name not in frame.columns:
        msg = f"{name} has no active geometry column"
        raise CostError(msg)
    if len(frame) and frame.crs is None:
        msg = f"{name} has no CRS; set it with .set_crs('EPSG:4326') (WGS84 lon/lat)"
        raise CostError(msg)
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()].unique()[:5].tolist()
        msg = f"{name} index must hold unique ids; duplicated: {dup}"
        raise CostError(msg)
    geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if len(frame) and not pyproj.CRS(frame.crs).equals(_WGS84):
        geoms = geoms.to_crs("EPSG:4326")
    arr = np.asarray(geoms.array)
    types = shapely.get_type_id(arr)
    bad = (types != 0) | shapely.is_empty(arr)
    if bad.any():
        first = int(np.argmax(bad))
        geom = arr[first]
        what = "missing or empty" if geom is None or geom.is_empty else geom.geom_type
        msg = (
            f"{name} must hold points; {int(bad.sum())} row(s) do not, first id "
            f"{frame.index[first]!r} ({what}); use .representative_point() for areas"
        )
        raise CostError(msg)
    lon = shapely.get_x(arr).astype(np.float64)
    lat = shapely.get_y(arr).astype(np.float64)
    kinds = None
    if isinstance(frame, gpd.GeoDataFrame) and "kind" in frame.columns:
        kinds = frame["kind"].reset_index(drop=True)
    return _Points(frame.index, lon, lat, kinds)


def _kinds(kind: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if kind is None:
        return None
    if isinstance(kind, str):
        kinds: tuple[Any, ...] = (kind,)
    elif isinstance(kind, Iterable):
        kinds = tuple(kind)
    else:
        kinds = ()
    if not kinds or not all(isinstance(k, str) for k in kinds):
        msg = f"kind must be a kind name or a list of them, got {kind!r}"
        raise CostError(msg)
    return kinds


def _select(points: _Points, kinds: tuple[str, ...] | None, name: str) -> _Points:
    """Keep the facilities of the given kinds."""
    if kinds is None:
        return points
    if points.kinds is None:
        msg = f"kind={list(kinds)!r} needs a 'kind' column in {name}"
        raise CostError(msg)
    from siting.registry import KINDS

    present = set(points.kinds.dropna().astype(str))
    unknown = [k for k in kinds if k not in KINDS and k not in present]
    if unknown:
        msg = (
            f"kind {unknown[0]!r} is neither a known kind ({', '.join(sorted(KINDS))}) nor "
            f"present in {name}['kind']"
        )
        raise CostError(msg)
    mask = points.kinds.isin(kinds).to_numpy(dtype=bool, na_value=False)
    return points.subset(mask)


def _direction(direction: str) -> Direction:
    if direction not in DIRECTIONS:
        msg = f"direction must be one of {DIRECTIONS}, got {direction!r}"
        raise CostError(msg)
    return "to_facility" if direction == "to_facility" else "from_facility"


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise CostError(msg)
    return int(value)


def _seconds(value: Any, name: str, *, scale: float = 1.0, optional: bool = True) -> float:
    """A non-negative finite time in seconds (``value`` times ``scale``); ``None`` is +inf."""
    if value is None and optional:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        msg = f"{name} must be a number, got {value!r}"
        raise CostError(msg)
    if not math.isfinite(float(value)) or float(value) < 0:
        msg = f"{name} must be a finite number >= 0, got {value!r}"
        raise CostError(msg)
    return float(value) * scale


def _speed(value: float | None, default: float, name: str) -> float:
    speed = default if value is None else value
    if isinstance(speed, bool) or not isinstance(speed, int | float | np.integer | np.floating):
        msg = f"{name} must be a number, got {speed!r}"
        raise CostError(msg)
    if not (math.isfinite(float(speed)) and float(speed) > 0):
        msg = f"{name} must be a positive number, got {speed!r}"
        raise CostError(msg)
    return float(speed)


def _arrays(network: Any) -> GraphArrays | None:
    """The compiled graph of ``network`` (``None`` means the straight-line fallback)."""
    if network is None or isinstance(network, GraphArrays):
        return network
    if isinstance(network, nx.Graph):
        graph = network if network.is_directed() else network.to_directed()
        return graph_arrays(graph)
    msg = (
        "network must be a networkx graph (osmnx convention), a compiled GraphArrays or None "
        f"(straight-line fallback), got {type(network).__name__}"
    )
    raise TypeError(msg)


def _order(ids: pd.Index) -> I64:
    """Positions that sort ``ids`` (natural order, or as strings when they do not compare)."""
    try:
        return np.asarray(ids.argsort(), dtype=np.int64)
    except TypeError:
        return np.asarray(pd.Index(ids.astype(str)).argsort(), dtype=np.int64)


def _take_ids(ids: pd.Index, pos: I64) -> Any:
    """The ids at ``pos`` (-1 gives <NA>) as a nullable array."""
    missing = pos < 0
    if len(ids):
        values: Any = ids.take(np.where(missing, 0, pos))
    else:
        values = pd.Index([None] * len(pos), dtype=object)
    if pd.api.types.is_integer_dtype(ids.dtype):
        out = pd.array(values, dtype="Int64")
    elif pd.api.types.is_string_dtype(ids.dtype) and (
        ids.dtype != object or all(isinstance(v, str) for v in ids)
    ):
        out = pd.array(np.asarray(values, dtype=object).astype(str), dtype="string")
    else:
        out = pd.Series(np.asarray(values, dtype=object), dtype=object).array
    if missing.any():
        out[missing] = pd.NA
    return out


# --- the compiled search graph -------------------------------------------------------------------

IArr = npt.NDArray[np.signedinteger[Any]]


@dataclass(frozen=True, eq=False)
class _Edges:
    """A graph in CSR order: edge ``i`` goes ``src[i] -> dst[i]`` (``src`` sorted).

    Node positions are int32 whenever they fit (half the memory traffic of int64).
    """

    n: int
    indptr: IArr
    src: IArr
    dst: IArr
    w: F64
    ln: F64

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.w, self.dst, self.indptr), shape=(self.n, self.n))


def _index_dtype(*sizes: int) -> type[np.signedinteger[Any]]:
    return np.int32 if sum(sizes) < 2**31 - 1 else np.int64


@dataclass(eq=False)
class _Search:
    """The graph searched from the facilities (reversed for ``to_facility``), with lazy helpers
    for incremental updates: a KD-tree of the nodes and the top crow-flies speed."""

    edges: _Edges
    x: F64
    y: F64
    _tree: cKDTree | None = field(default=None, repr=False)
    _vmax: float | None = field(default=None, repr=False)

    @property
    def tree(self) -> cKDTree:
        if self._tree is None:
            self._tree = cKDTree(np.column_stack([self.x, self.y]))
        return self._tree

    @property
    def vmax(self) -> float:
        """Top crow-flies speed over the edges (m/s): any path takes >= crow metres / vmax."""
        if self._vmax is None:
            e = self.edges
            if len(e.dst):
                crow = np.hypot(self.x[e.src] - self.x[e.dst], self.y[e.src] - self.y[e.dst])
                self._vmax = float(np.max(crow / e.w)) * (1.0 + _SLACK)
            else:
                self._vmax = 0.0
        return self._vmax


_SEARCHES: weakref.WeakKeyDictionary[GraphArrays, dict[str, _Search]] = weakref.WeakKeyDictionary()


def _search(arrays: GraphArrays, direction: Direction) -> _Search:
    """The search graph of ``arrays`` for ``direction``, cached for the life of ``arrays``."""
    per = _SEARCHES.setdefault(arrays, {})
    found = per.get(direction)
    if found is not None:
        return found
    time = sp.csr_matrix(arrays.time, dtype=np.float64, copy=True)
    length = sp.csr_matrix(arrays.length, dtype=np.float64, copy=True)
    if direction == "to_facility":
        time, length = time.T.tocsr(), length.T.tocsr()
    for mat in (time, length):
        mat.sum_duplicates()
        mat.sort_indices()
    n = arrays.n
    it = _index_dtype(time.nnz, n, time.nnz + n)
    src = np.repeat(np.arange(n, dtype=it), np.diff(time.indptr))
    dst = time.indices.astype(it)
    if np.array_equal(time.indptr, length.indptr) and np.array_equal(time.indices, length.indices):
        ln = np.asarray(length.data, dtype=np.float64)
    else:  # align lengths on the time pattern
        lc = length.tocoo()
        keys = lc.row.astype(np.int64) * n + lc.col
        order = np.argsort(keys)
        keys = keys[order]
        want = src.astype(np.int64) * n + dst
        at = np.searchsorted(keys, want).clip(0, max(len(keys) - 1, 0))
        if len(want) and not (len(keys) and bool(np.all(keys[at] == want))):
            msg = "network: GraphArrays.length does not cover every edge of GraphArrays.time"
            raise CostError(msg)
        ln = np.asarray(lc.data, dtype=np.float64)[order][at]
    w = np.asarray(time.data, dtype=np.float64)
    if len(w) and not (np.all(np.isfinite(w)) and w.min() > 0):
        msg = "network: GraphArrays.time must hold finite positive travel times"
        raise CostError(msg)
    edges = _Edges(n, time.indptr.astype(it), src, dst, w, ln)
    search = _Search(edges, np.asarray(arrays.x, dtype=float), np.asarray(arrays.y, dtype=float))
    per[direction] = search
    return search


def _gather(indptr: IArr, nodes: IArr) -> I64:
    """Edge positions of the out-edges of ``nodes`` (CSR rows), in row order."""
    starts = indptr[nodes].astype(np.int64)
    counts = indptr[nodes + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)


def _subgraph(e: _Edges, nodes: I64) -> _Edges:
    """The subgraph induced by the sorted node positions ``nodes``, renumbered from 0."""
    m = len(nodes)
    pos = _gather(e.indptr, nodes)
    counts = (e.indptr[nodes + 1] - e.indptr[nodes]).astype(np.int64)
    dst = e.dst[pos]
    at = np.searchsorted(nodes, dst)
    ok = at < m
    ok[ok] = nodes[at[ok]] == dst[ok]
    it = _index_dtype(int(ok.sum()), m, int(ok.sum()) + m)
    src = np.repeat(np.arange(m, dtype=it), counts)[ok]
    indptr = np.zeros(m + 1, dtype=it)
    np.cumsum(np.bincount(src, minlength=m), out=indptr[1:])
    return _Edges(m, indptr, src, at[ok].astype(it), e.w[pos[ok]], e.ln[pos[ok]])


# --- the kernel with deterministic ties and road lengths -----------------------------------------


@dataclass(frozen=True)
class _Seeds:
    """Virtual sources: each enters ``node`` at time ``val`` carrying facility ``lab``, having
    already travelled ``base`` road metres."""

    node: I64
    val: F64
    lab: I64
    base: F64

    def __len__(self) -> int:
        return len(self.node)

    def take(self, sel: Any) -> _Seeds:
        return _Seeds(self.node[sel], self.val[sel], self.lab[sel], self.base[sel])

    @staticmethod
    def concat(parts: Sequence[_Seeds]) -> _Seeds:
        return _Seeds(
            np.concatenate([p.node for p in parts]),
            np.concatenate([p.val for p in parts]),
            np.concatenate([p.lab for p in parts]),
            np.concatenate([p.base for p in parts]),
        )

    def best_per_node(self) -> _Seeds:
        """One seed per node: the smallest (time, facility)."""
        order = np.lexsort((self.lab, self.val, self.node))
        node = self.node[order]
        first = np.ones(len(node), dtype=bool)
        first[1:] = node[1:] != node[:-1]
        return self.take(order[first])


def _settle(
    e: _Edges,
    keep: I64 | None,
    seeds: _Seeds,
    limit: float,
    need: I64 | Callable[[], I64] | None = None,
) -> tuple[F64, I64, F64]:
    """One multi-source kernel run: time, facility and road length of every node's best seed.

    ``keep`` selects edges of ``e`` (sorted positions; ``None`` for all). Ties in time go to
    the smallest facility label; lengths follow the fastest path to that facility. Unreached
    nodes (or beyond ``limit``) get ``inf``, ``-1`` and NaN. With ``need`` (node positions),
    road lengths are only computed there (NaN elsewhere): a walk up the predecessor chains of
    those nodes, cheaper than pointer jumping over the whole tree when few nodes are needed.
    ``need`` may be a function, called once the kernel has run (it may wait for work done
    meanwhile on another thread).
    """
    n, s = e.n, len(seeds)
    if s == 0 or n == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    if keep is None:
        src, dst, w, ln, base_ptr = e.src, e.dst, e.w, e.ln, e.indptr
    else:
        src, dst, w, ln = e.src[keep], e.dst[keep], e.w[keep], e.ln[keep]
        base_ptr = np.zeros(n + 1, dtype=src.dtype)
        np.cumsum(np.bincount(src, minlength=n), out=base_ptr[1:])
    m, tot = len(src), n + s
    it = _index_dtype(m + s, tot)
    indptr = np.empty(tot + 1, dtype=it)
    indptr[: n + 1] = base_ptr
    indptr[n + 1 :] = m + np.arange(1, s + 1)
    cols = np.concatenate([dst.astype(it, copy=False), seeds.node.astype(it)])
    data = np.concatenate([w, seeds.val])
    dist, pred, origin = dijkstra(
        sp.csr_matrix((data, cols, indptr), shape=(tot, tot)),
        directed=True,
        indices=np.arange(n, tot),
        return_predecessors=True,
        limit=limit,
        min_only=True,
    )
    lab = np.full(tot, -1, dtype=np.int64)
    reached = np.flatnonzero(origin >= 0)
    lab[reached] = seeds.lab[origin[reached] - n]

    # ties: each node takes the smallest label among the seeds reaching it along tight edges
    # (d(u) + w == d(v)); only edges entering a node with a larger label can change anything
    small = lab.astype(np.int32) if s < 2**31 else lab  # narrower gathers over every edge
    edge = np.flatnonzero(np.take(small, src) < np.take(small, dst))
    edge = edge[dist[src[edge]] + w[edge] == dist[dst[edge]]]
    virt = np.flatnonzero((seeds.val == dist[seeds.node]) & (seeds.lab < lab[seeds.node]))
    if edge.size or virt.size:
        rows = np.concatenate([src.astype(it, copy=False), np.arange(n, tot, dtype=it)])
        todo = np.concatenate([edge, m + virt])
        seen = []
        while todo.size:
            seen.append(todo)
            heads = cols[todo]
            before = lab[heads]
            np.minimum.at(lab, heads, lab[rows[todo]])
            out = _gather(indptr, np.unique(heads[lab[heads] < before]))
            keep_out = (lab[rows[out]] < lab[cols[out]]) & (
                dist[rows[out]] + data[out] == dist[cols[out]]
            )
            todo = out[keep_out]
        used = np.concatenate(seen)
        good = used[
            (lab[rows[used]] == lab[cols[used]]) & (dist[rows[used]] < dist[cols[used]])
            | (rows[used] >= n)
        ]
        good = good[lab[rows[good]] == lab[cols[good]]]
        pred[cols[good]] = rows[good]

    if callable(need):
        need = need()
    if need is not None and 4 * len(need) < n:
        acc_need = _chain_lengths(need, pred, n, src, dst, ln, seeds.base)
        road = np.full(n, np.nan)
        road[need] = acc_need
        return dist[:n], lab[:n], road

    # road length along the predecessor tree, summed by pointer jumping
    acc = np.full(tot, np.nan)
    hit = np.flatnonzero(pred[dst] == src)
    acc[dst[hit]] = ln[hit]
    first = np.flatnonzero(pred[:n] >= n)
    acc[first] = 0.0
    acc[n:] = seeds.base
    anc = pred
    anc[anc < 0] = -1
    live = np.flatnonzero(anc >= 0)
    while live.size:
        up = anc[live]
        acc[live] += acc[up]
        anc[live] = anc[up]
        live = live[anc[live] >= 0]
    return dist[:n], lab[:n], acc[:n]


def _chain_lengths(
    need: I64, pred: npt.NDArray[Any], n: int, src: IArr, dst: IArr, ln: F64, base: F64
) -> F64:
    """Road metres from each ``need`` node up its predecessor chain to its virtual source.

    Rows ``0..n-1`` of the searched graph are the road edges ``src -> dst`` of length ``ln``;
    a predecessor ``>= n`` is a virtual source whose edge length is its seed's ``base``.
    """
    # the length of the tree edge into every node (one pass over the edges), then a walk up
    # the chains of the needed nodes only, adding them
    tree_edge = np.flatnonzero(np.take(pred, dst) == src)
    into = np.zeros(len(pred))
    into[dst[tree_edge]] = ln[tree_edge]
    into[n:] = base
    need = np.asarray(need, dtype=np.int64)
    total = np.zeros(len(need))
    cur = pred[need].astype(np.int64)
    total[cur < 0] = np.nan
    total += np.where(cur >= 0, into[need], 0.0)
    todo = np.flatnonzero((cur >= 0) & (cur < n))
    while todo.size:
        v = cur[todo]
        p = pred[v].astype(np.int64)
        total[todo] += into[v]
        cur[todo] = p
        todo = todo[p < n]
    virt = cur >= n
    total[virt] += into[cur[virt]]
    return total


def _member(keys: I64, query: I64) -> B1:
    """Whether each ``query`` is in the sorted ``keys``."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=bool)
    at = np.searchsorted(keys, query).clip(0, len(keys) - 1)
    return np.asarray(keys[at] == query)


@dataclass
class _Ranked:
    """The nearest facilities of every node by rank: times, labels, road lengths (n x ranks)."""

    time: F64
    lab: I64
    length: F64


def _ranked(
    e: _Edges,
    fac: _Seeds,
    n_labels: int,
    *,
    k: int | None,
    limit: float,
    watch: I64 | None = None,
    watch_limit: F64 | None = None,
    watch_later: Callable[[], tuple[I64, F64]] | None = None,
) -> _Ranked:
    """The ``k`` nearest facilities (all within ``limit`` when ``k`` is None) of every node.

    ``fac`` are the facilities as seeds (node, access time, label in id order, base 0). Ranks
    stop early once no ``watch`` node can gain another facility within its ``watch_limit``;
    ``watch_later`` gives both instead, called only after the first kernel run.
    The algorithm is described in the module docstring.
    """
    n = e.n
    if n_labels and n * n_labels >= 2**62:
        msg = "network and facilities too large for the rank keys"
        raise CostError(msg)
    fac = fac.take(np.flatnonzero(fac.val <= limit))
    need: I64 | Callable[[], I64] | None = None
    if k == 1:  # callers read the watched nodes only
        if watch_later is not None:
            later = watch_later
            need = lambda: later()[0]  # noqa: E731
        else:
            need = watch
    d, lb, ln = _settle(e, None, fac.best_per_node(), limit, need)
    if watch_later is not None:
        watch, watch_limit = watch_later()
    if k == 1 or not (lb >= 0).any():
        return _Ranked(d[:, None], lb[:, None], ln[:, None])
    cap = k if k is not None else 4
    time = np.full((n, cap), np.inf)
    lab = np.full((n, cap), -1, dtype=np.int64)
    length = np.full((n, cap), np.nan)
    cnt = np.zeros(n, dtype=np.int64)
    keys = np.empty(0, dtype=np.int64)
    first = np.zeros(len(e.dst), dtype=np.int64)  # first candidate rank of every edge
    r = 0
    while True:
        if r >= time.shape[1]:
            grow = time.shape[1]
            time = np.hstack([time, np.full((n, grow), np.inf)])
            lab = np.hstack([lab, np.full((n, grow), -1, dtype=np.int64)])
            length = np.hstack([length, np.full((n, grow), np.nan)])
        time[:, r], lab[:, r], length[:, r] = d, lb, ln
        got = np.flatnonzero(lb >= 0)
        cnt[got] += 1
        keys = np.sort(np.concatenate([keys, got * n_labels + lb[got]]), kind="stable")
        r += 1
        if (k is not None and r >= k) or r >= n_labels:
            break
        active = (cnt == r) & (time[:, r - 1] <= limit)
        if (
            watch is not None
            and watch_limit is not None
            and not np.any(active[watch] & (time[watch, r - 1] <= watch_limit))
        ):
            break
        # candidates across order-r cell borders: the first facility of u not among v's r
        em = np.flatnonzero(active[e.dst] & (cnt[e.src] > 0))
        u, v, pe = e.src[em], e.dst[em], first[em]
        cu = cnt[u]
        todo = np.flatnonzero(pe < cu)
        while todo.size:
            inside = _member(keys, v[todo].astype(np.int64) * n_labels + lab[u[todo], pe[todo]])
            todo = todo[inside]
            pe[todo] += 1
            todo = todo[pe[todo] < cu[todo]]
        first[em] = pe
        cand = pe < cu
        inner = em[~cand & (cu == r)]  # edges inside order-r cells carry rank r + 1
        c = np.flatnonzero(cand)
        uc, pc, ec = u[c], pe[c], em[c]
        cross = _Seeds(
            v[c].astype(np.int64), time[uc, pc] + e.w[ec], lab[uc, pc], length[uc, pc] + e.ln[ec]
        )
        own = fac.take(
            np.flatnonzero(active[fac.node] & ~_member(keys, fac.node * n_labels + fac.lab))
        )
        seeds = _Seeds.concat([cross, own])
        seeds = seeds.take(np.flatnonzero(seeds.val <= limit))
        if len(seeds) == 0:
            break
        d, lb, ln = _settle(e, inner, seeds.best_per_node(), limit)
        if not (lb >= 0).any():
            break
    return _Ranked(time[:, :r], lab[:, :r], length[:, :r])


def _pad(a: npt.NDArray[Any], k: int, fill: Any) -> npt.NDArray[Any]:
    """``a`` (m x r) cut or padded with ``fill`` to k columns."""
    if a.shape[1] >= k:
        return a[:, :k]
    out = np.full((a.shape[0], k), fill, dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def _merge(a: tuple[F64, I64, F64], b: tuple[F64, I64, F64], k: int) -> tuple[F64, I64, F64]:
    """Row-wise ``k`` best of two ranked sets (time, label, length) by (time, label).

    Labels ``-1`` are absent entries; the result has exactly ``k`` columns.
    """
    t = np.hstack([a[0], b[0]])
    lab = np.hstack([a[1], b[1]])
    dist = np.hstack([a[2], b[2]])
    m, width = t.shape
    absent = lab < 0
    tkey = np.where(absent, np.inf, t).ravel()
    lkey = np.where(absent, np.iinfo(np.int64).max, lab).ravel()
    order = np.lexsort((lkey, tkey, np.repeat(np.arange(m), width))).reshape(m, width)[:, :k]
    out_t, out_l, out_d = t.ravel()[order], lab.ravel()[order], dist.ravel()[order]
    out_t[out_l < 0] = np.inf
    return _pad(out_t, k, np.inf), _pad(out_l, k, -1), _pad(out_d, k, np.nan)


# --- the straight-line fallback ------------------------------------------------------------------


def _straight(
    qx: F64,
    qy: F64,
    fx: F64,
    fy: F64,
    *,
    k: int | None,
    limit: float,
    detour: float,
    speed_kph: float,
) -> _Ranked:
    """Ranked facilities of every query point by detoured straight-line time (exact ties)."""
    m, nf = len(qx), len(fx)
    per_m = detour / (speed_kph / 3.6)  # seconds per straight metre
    if nf == 0 or m == 0:
        return _Ranked(
            np.full((m, 0), np.inf), np.full((m, 0), -1, dtype=np.int64), np.full((m, 0), np.nan)
        )
    tree = cKDTree(np.column_stack([fx, fy]))
    q = np.column_stack([qx, qy])
    if k is not None:
        kq = min(nf, k + 2)
        kd_dist, cand = tree.query(q, k=kq)
        cand = np.asarray(cand, dtype=np.int64).reshape(m, kq)
        kd_dist = np.asarray(kd_dist, dtype=float).reshape(m, kq)
        lists: list[I64] = list(cand)
        if kq < nf:
            d = np.hypot(qx[:, None] - fx[cand], qy[:, None] - fy[cand])
            kth = np.sort(d, axis=1)[:, min(k, kq) - 1]
            unsure = np.flatnonzero(~(kth < kd_dist[:, -1] * (1.0 - 1e-12)))
            if unsure.size:
                wide = tree.query_ball_point(q[unsure], kth[unsure] * (1 + 1e-9) + 1e-6)
                for i, got in zip(unsure, wide, strict=True):
                    lists[i] = np.asarray(got, dtype=np.int64)
    else:
        radius = limit / per_m * (1 + 1e-9) + 1e-6 if math.isfinite(limit) else np.inf
        if not math.isfinite(radius):
            lists = [np.arange(nf, dtype=np.int64)] * m
        else:
            lists = [np.asarray(x, dtype=np.int64) for x in tree.query_ball_point(q, radius)]
    sizes = np.fromiter((len(x) for x in lists), np.int64, m)
    row = np.repeat(np.arange(m), sizes)
    lab = np.concatenate(lists) if m else np.empty(0, dtype=np.int64)
    road = np.hypot(qx[row] - fx[lab], qy[row] - fy[lab]) * detour
    t = road / (speed_kph / 3.6)
    ok = t <= limit
    row, lab, road, t = row[ok], lab[ok], road[ok], t[ok]
    order = np.lexsort((lab, t, row))
    row, lab, road, t = row[order], lab[order], road[order], t[order]
    starts = np.searchsorted(row, np.arange(m))
    rank = np.arange(len(row)) - starts[row]
    if k is not None:
        sel = rank < k
        row, lab, road, t, rank = row[sel], lab[sel], road[sel], t[sel], rank[sel]
    width = int(rank.max()) + 1 if len(rank) else 0
    tt = np.full((m, width), np.inf)
    ll = np.full((m, width), -1, dtype=np.int64)
    dd = np.full((m, width), np.nan)
    tt[row, rank], ll[row, rank], dd[row, rank] = t, lab, road
    return _Ranked(tt, ll, dd)


# --- prepared inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    max_snap_m: float
    access_speed_kph: float
    detour_factor: float
    straight_speed_kph: float


def _settings(
    max_snap_m: float | None,
    access_speed_kph: float | None,
    detour_factor: float | None,
    straight_line_speed_kph: float | None,
) -> _Settings:
    snap_m = _seconds(settings.max_snap_m if max_snap_m is None else max_snap_m, "max_snap_m")
    detour = _speed(detour_factor, settings.detour_factor, "detour_factor")
    if detour < 1.0:
        msg = f"detour_factor must be >= 1 (a road is never shorter than the line), got {detour}"
        raise CostError(msg)
    return _Settings(
        max_snap_m=snap_m,
        access_speed_kph=_speed(access_speed_kph, settings.access_speed_kph, "access_speed_kph"),
        detour_factor=detour,
        straight_speed_kph=_speed(
            straight_line_speed_kph, settings.straight_line_speed_kph, "straight_line_speed_kph"
        ),
    )


@dataclass(frozen=True)
class _Sites:
    """Points ready for a search: snapped to the network, or projected for straight lines."""

    ids: pd.Index
    node: I64  # snapped node position (-1 without a network)
    access_s: F64  # access leg (0 without a network)
    snap_m: F64  # NaN without a network
    flag: B1
    x: F64  # metric coordinates (straight line), else empty
    y: F64

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, sel: I64) -> _Sites:
        return _Sites(
            self.ids[sel],
            self.node[sel],
            self.access_s[sel],
            self.snap_m[sel],
            self.flag[sel],
            self.x[sel] if len(self.x) else self.x,
            self.y[sel] if len(self.y) else self.y,
        )

    def sorted(self) -> _Sites:
        return self.take(_order(self.ids))

    @staticmethod
    def concat(a: _Sites, b: _Sites) -> _Sites:
        return _Sites(
            a.ids.append(b.ids),
            np.concatenate([a.node, b.node]),
            np.concatenate([a.access_s, b.access_s]),
            np.concatenate([a.snap_m, b.snap_m]),
            np.concatenate([a.flag, b.flag]),
            np.concatenate([a.x, b.x]),
            np.concatenate([a.y, b.y]),
        )


def _insert_sorted(old: _Sites, new: _Sites) -> tuple[_Sites, I64, I64]:
    """Merge ``new`` (sorted by id) into ``old`` (sorted by id): the merged table and the new
    positions of the rows of ``old`` and of ``new``. Binary search, no full re-sort."""
    n_old, n_new = len(old), len(new)
    try:
        ins = np.asarray(old.ids.searchsorted(new.ids), dtype=np.int64)
    except TypeError:  # ids that do not compare: sort the union as strings
        both = _Sites.concat(old, new)
        order = _order(both.ids)
        place = np.empty(len(order), dtype=np.int64)
        place[order] = np.arange(len(order))
        return both.take(order), place[:n_old], place[n_old:]
    place_new = ins + np.arange(n_new)
    place_old = np.arange(n_old) + np.searchsorted(ins, np.arange(n_old), side="right")
    order = np.empty(n_old + n_new, dtype=np.int64)
    order[place_old] = np.arange(n_old)
    order[place_new] = n_old + np.arange(n_new)
    return _Sites.concat(old, new).take(order), place_old, place_new


def _straight_crs(groups: Sequence[_Points]) -> pyproj.CRS:
    """The metric CRS of the first non-empty group (its bounding-box centre's UTM zone)."""
    for pts in groups:
        if len(pts):
            lon = (float(pts.lon.min()) + float(pts.lon.max())) / 2.0
            lat = (float(pts.lat.min()) + float(pts.lat.max())) / 2.0
            return metric_crs((lon, lat))
    return metric_crs()


def _snapped_sites(ids: pd.Index, snapped: pd.DataFrame) -> _Sites:
    """Points tied to the network, from :func:`siting._graph.snap`'s frame."""
    empty = np.empty(0)
    return _Sites(
        ids,
        snapped["node_pos"].to_numpy(dtype=np.int64),
        snapped["access_s"].to_numpy(dtype=np.float64),
        snapped["snap_m"].to_numpy(dtype=np.float64),
        snapped["snap_flag"].to_numpy(dtype=bool),
        empty,
        empty,
    )


def _prepare(
    arrays: GraphArrays | None,
    groups: Sequence[_Points],
    st: _Settings,
    crs: pyproj.CRS | None = None,
) -> list[_Sites]:
    """Snap (network) or project (straight line) several point sets in one pass."""
    sizes = [len(g) for g in groups]
    lon = np.concatenate([g.lon for g in groups]) if groups else np.empty(0)
    lat = np.concatenate([g.lat for g in groups]) if groups else np.empty(0)
    cuts = np.cumsum(sizes)[:-1]
    out = []
    if arrays is not None:
        if not len(lon):
            empty = np.empty(0)
            none = np.empty(0, np.int64)
            return [
                _Sites(g.ids, none, empty, empty, np.empty(0, bool), empty, empty) for g in groups
            ]
        snapped = snap(
            arrays, lon, lat, max_snap_m=st.max_snap_m, access_speed_kph=st.access_speed_kph
        )
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(lon)]])
        return [
            _snapped_sites(g.ids, snapped.iloc[a:b])
            for g, a, b in zip(groups, starts, ends, strict=True)
        ]
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs or metric_crs(), always_xy=True)
    x, y = (np.asarray(a, dtype=np.float64) for a in tf.transform(lon, lat))
    for g, gx, gy in zip(groups, np.split(x, cuts), np.split(y, cuts), strict=True):
        m = len(g)
        out.append(
            _Sites(
                g.ids,
                np.full(m, -1, dtype=np.int64),
                np.zeros(m),
                np.full(m, np.nan),
                np.zeros(m, dtype=bool),
                gx,
                gy,
            )
        )
    return out


def _prepare_later(arrays: GraphArrays, pts: _Points, st: _Settings) -> Callable[[], _Sites]:
    """:func:`_prepare` for one point set on a network, snapped on a background thread."""
    join = snap_in_background(
        arrays, pts.lon, pts.lat, max_snap_m=st.max_snap_m, access_speed_kph=st.access_speed_kph
    )

    return lambda: _snapped_sites(pts.ids, join())


def _frame(
    dem: _Sites,
    key_of: I64,
    ranked: _Ranked,
    fac: _Sites,
    *,
    k: int | None,
    limit: float,
    method: str,
) -> pd.DataFrame:
    """Long-form result: one row per demand point and rank (k rows each, or the reachable ones
    and a placeholder row for a point with none when ``k`` is None)."""
    width = max(ranked.time.shape[1], 1) if k is None else k
    t = _pad(ranked.time, width, np.inf)[key_of]
    lab = _pad(ranked.lab, width, -1)[key_of]
    road = _pad(ranked.length, width, np.nan)[key_of]
    total = t + dem.access_s[:, None]
    ok = (lab >= 0) & (total <= limit)
    if k is None:
        keep = ok.copy()
        keep[:, 0] = True  # every point appears, reachable or not
        point, col = np.nonzero(keep)
    else:
        point = np.repeat(np.arange(len(dem)), width)
        col = np.tile(np.arange(width), len(dem))
    good = ok[point, col]
    fpos = np.where(good, lab[point, col], -1)
    has = fpos >= 0
    fac_flag = np.zeros(len(fpos), dtype=bool)
    fac_snap = np.full(len(fpos), np.nan)
    if len(fac):
        fac_flag[has] = fac.flag[fpos[has]]
        fac_snap[has] = fac.snap_m[fpos[has]]
    return pd.DataFrame(
        {
            "demand_id": dem.ids.take(point),
            "rank": (col + 1).astype(np.int64),
            "facility_id": _take_ids(fac.ids, fpos),
            "time_s": np.where(good, total[point, col], np.nan),
            "distance_m": np.where(good, road[point, col], np.nan),
            "method": np.full(len(point), method, dtype=object),
            "reachable": good,
            "demand_snap_m": dem.snap_m[point],
            "facility_snap_m": fac_snap,
            "snap_flag": dem.flag[point] | fac_flag,
        }
    )


# --- nearest and the incremental index -----------------------------------------------------------


class NearestIndex:
    """The ``k`` nearest facilities of fixed demand points, kept exact as facilities change.

    Build it with :meth:`build`; read :attr:`result`; :meth:`add` new facilities (searching from
    the new ones only, within the bound where they can matter) and :meth:`remove` closed ones.
    After any sequence of changes :attr:`result` equals :func:`nearest` on the current
    facilities (ids, ranks, times; ties broken by time then facility id).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> demand = gpd.GeoDataFrame(
    ...     geometry=[Point(106.08, 30.80)], index=pd.Index(["v1"], name="id"), crs=4326
    ... )
    >>> far = gpd.GeoDataFrame(
    ...     geometry=[Point(106.20, 30.80)], index=pd.Index(["HC-1"], name="id"), crs=4326
    ... )
    >>> index = NearestIndex.build(None, demand, far)
    >>> index.result["facility_id"].tolist()
    ['HC-1']
    >>> near = gpd.GeoDataFrame(
    ...     geometry=[Point(106.09, 30.80)], index=pd.Index(["HC-2"], name="id"), crs=4326
    ... )
    >>> index.add(near).result["facility_id"].tolist()
    ['HC-2']
    """

    def __init__(
        self,
        *,
        arrays: GraphArrays | None,
        direction: Direction,
        k: int,
        kinds: tuple[str, ...] | None,
        limit: float,
        st: _Settings,
        crs: pyproj.CRS | None,
        demand: _Sites | Callable[[], _Sites],
        facilities: _Sites,
    ) -> None:
        self._arrays = arrays
        self._direction = direction
        self._k = k
        self._kinds = kinds
        self._limit = limit
        self._st = st
        self._crs = crs
        self._pending = demand if callable(demand) else None
        if not callable(demand):
            self._set_demand(demand)
        self._fac = facilities.sorted()
        self._state = self._solve(self._fac)
        self._demand_keys()  # the demand is known from here on
        self._result: pd.DataFrame | None = None
        self._closure_nodes: I64 | None = None
        self._closure_known = False
        self._kxy: tuple[F64, F64] | None = None

    # -- construction --

    def _set_demand(self, demand: _Sites) -> None:
        self._dem = demand
        if self._arrays is not None:
            self._keynode, self._key_of = np.unique(demand.node, return_inverse=True)
            self._key_of = self._key_of.astype(np.int64)
            slack = np.full(len(self._keynode), np.inf)
            np.minimum.at(slack, self._key_of, demand.access_s)
            self._slack = self._limit - slack
        else:
            self._keynode = np.arange(len(demand), dtype=np.int64)
            self._key_of = self._keynode
            self._slack = np.full(len(demand), self._limit)

    def _demand_keys(self) -> tuple[I64, F64]:
        """The demand nodes and their slack, waiting for a background snap if one runs."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._set_demand(pending())
        return self._keynode, self._slack

    @classmethod
    def build(
        cls,
        network: Network,
        demand: gpd.GeoDataFrame,
        facilities: gpd.GeoDataFrame,
        *,
        k: int = 1,
        kind: str | Iterable[str] | None = None,
        direction: str = "to_facility",
        max_time_s: float | None = None,
        max_snap_m: float | None = None,
        access_speed_kph: float | None = None,
        detour_factor: float | None = None,
        straight_line_speed_kph: float | None = None,
    ) -> NearestIndex:
        """Compute the ``k`` nearest facilities of every demand point.

        Parameters are those of :func:`nearest`.
        """
        kk = _positive_int(k, "k")
        way = _direction(direction)
        limit = _seconds(max_time_s, "max_time_s")
        st = _settings(max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph)
        kinds = _kinds(kind)
        dem_pts = _points(demand, "demand")
        fac_pts = _select(_points(facilities, "facilities"), kinds, "facilities")
        arrays = _arrays(network)
        crs = None if arrays is not None else _straight_crs([dem_pts, fac_pts])
        dem: _Sites | Callable[[], _Sites]
        if arrays is not None and len(dem_pts) >= _BACKGROUND_SNAP_FROM:
            (fac,) = _prepare(arrays, [fac_pts], st)
            dem = _prepare_later(arrays, dem_pts, st)
        else:
            dem, fac = _prepare(arrays, [dem_pts, fac_pts], st, crs)
        return cls(
            arrays=arrays,
            direction=way,
            k=kk,
            kinds=kinds,
            limit=limit,
            st=st,
            crs=crs,
            demand=dem,
            facilities=fac,
        )

    # -- reading --

    @property
    def result(self) -> pd.DataFrame:
        """The nearest facilities in long form (columns :data:`COLUMNS`), ``k`` rows per
        demand point in input order, ``rank`` 1..k."""
        if self._result is None:
            self._result = _frame(
                self._dem,
                self._key_of,
                _Ranked(*self._state),
                self._fac,
                k=self._k,
                limit=self._limit,
                method=self.method,
            )
        return self._result.copy()

    @property
    def facilities(self) -> pd.Index:
        """Ids of the facilities currently indexed (after the ``kind`` filter), sorted."""
        return self._fac.ids.copy()

    @property
    def k(self) -> int:
        """Number of nearest facilities kept per demand point."""
        return self._k

    @property
    def direction(self) -> Direction:
        """``"to_facility"`` or ``"from_facility"``."""
        return self._direction

    @property
    def method(self) -> str:
        """``"network"`` or ``"straight_line"``."""
        return NETWORK if self._arrays is not None else STRAIGHT_LINE

    def __repr__(self) -> str:
        return (
            f"NearestIndex({len(self._dem)} demand points, {len(self._fac)} facilities, "
            f"k={self._k}, {self._direction}, {self.method})"
        )

    # -- computing --

    def _solve(self, fac: _Sites) -> tuple[F64, I64, F64]:
        """Ranked facilities of every demand key (node or point), from scratch."""
        k = self._k
        if self._arrays is None:
            ranked = _straight(
                self._dem.x,
                self._dem.y,
                fac.x,
                fac.y,
                k=k,
                limit=self._limit,
                detour=self._st.detour_factor,
                speed_kph=self._st.straight_speed_kph,
            )
            return (
                _pad(ranked.time, k, np.inf),
                _pad(ranked.lab, k, -1),
                _pad(ranked.length, k, np.nan),
            )
        search = _search(self._arrays, self._direction)
        seeds = _Seeds(
            fac.node, fac.access_s, np.arange(len(fac), dtype=np.int64), np.zeros(len(fac))
        )
        ranked = _ranked(
            search.edges,
            seeds,
            len(fac),
            k=k,
            limit=self._limit,
            watch_later=self._demand_keys,
        )
        rows = self._keynode
        return (
            _pad(ranked.time[rows], k, np.inf),
            _pad(ranked.lab[rows], k, -1),
            _pad(ranked.length[rows], k, np.nan),
        )

    def _add_network(self, new: _Sites) -> tuple[F64, I64, F64, I64]:
        """Ranked new facilities at the demand keys they could improve (labels local to
        ``new``), and those keys."""
        assert self._arrays is not None
        search = _search(self._arrays, self._direction)
        rows, bound, nodes = self._plan(new)
        k = self._k
        if rows.size == 0:
            empty = np.empty((0, k))
            return empty, np.empty((0, k), dtype=np.int64), empty, rows
        key_pos = self._keynode[rows]
        fac_pos = new.node
        graph = search.edges
        if nodes is not None:
            graph = _subgraph(search.edges, nodes)
            fac_pos = np.searchsorted(nodes, new.node)  # all inside
            at = np.searchsorted(nodes, key_pos).clip(0, len(nodes) - 1)
            inside = nodes[at] == key_pos
            rows, key_pos = rows[inside], at[inside]
        seeds = _Seeds(
            fac_pos, new.access_s, np.arange(len(new), dtype=np.int64), np.zeros(len(new))
        )
        ranked = _ranked(
            graph,
            seeds,
            len(new),
            k=k,
            limit=bound,
            watch=key_pos,
            watch_limit=np.minimum(self._slack[rows], self._state[0][rows, k - 1]),
        )
        return (
            _pad(ranked.time[key_pos], k, np.inf),
            _pad(ranked.lab[key_pos], k, -1),
            _pad(ranked.length[key_pos], k, np.nan),
            rows,
        )

    def _closure(self) -> I64 | None:
        """Nodes from which the search could reach a demand node that has fewer than ``k``
        facilities (within ``max_time_s``); ``None`` when that is most of the graph.

        Computed once (one multi-source run on the reverse of the search graph) and kept: adding
        facilities only shrinks the set of such demand nodes, so it stays a superset.
        """
        if not self._closure_known:
            assert self._arrays is not None
            short = self._keynode[~np.isfinite(self._state[0][:, self._k - 1])]
            other: Direction = (
                "from_facility" if self._direction == "to_facility" else "to_facility"
            )
            back = _search(self._arrays, other).edges
            dist = dijkstra(
                back.matrix(), directed=True, indices=short, min_only=True, limit=self._limit
            )
            nodes = np.flatnonzero(np.isfinite(dist))
            self._closure_nodes = nodes if 2 * len(nodes) <= back.n else None
            self._closure_known = True
        return self._closure_nodes

    def _plan(self, new: _Sites) -> tuple[I64, float, I64 | None]:
        """Demand keys that ``new`` could improve, the search bound, and the nodes to search
        (sorted positions; ``None`` for the whole graph)."""
        assert self._arrays is not None
        search = _search(self._arrays, self._direction)
        kth = self._state[0][:, self._k - 1]
        if self._kxy is None:
            self._kxy = (search.x[self._keynode], search.y[self._keynode])
        kx, ky = self._kxy
        bx, by = search.x[new.node], search.y[new.node]
        vmax = search.vmax
        # lower bound of the time from any new facility: access + crow-flies at top speed
        lower = np.full(len(kx), np.inf)
        step = max(1, 4_000_000 // max(len(kx), 1))
        for i in range(0, len(new), step):
            crow = np.hypot(
                kx[:, None] - bx[None, i : i + step], ky[:, None] - by[None, i : i + step]
            )
            leg = crow / vmax if vmax > 0 else np.where(crow > 0, np.inf, 0.0)
            lower = np.minimum(lower, (new.access_s[None, i : i + step] + leg).min(axis=1))
        lower = lower * (1.0 - _SLACK)
        finite = np.isfinite(kth)
        near = finite & (kth >= lower) & (lower <= self._slack)
        short = ~finite & (lower <= self._slack)
        closure: I64 | None = None
        whole = False
        if short.any():
            closure = self._closure()
            if closure is None:
                whole = True
            elif not np.isin(new.node, closure).any():
                short[:] = False  # no new facility can reach those demand nodes
        rows = np.flatnonzero(near | short)
        if rows.size == 0:
            return rows, 0.0, np.empty(0, dtype=np.int64)
        if whole:
            return rows, self._limit, None
        bound = -np.inf
        parts = [new.node]
        if near.any():
            bound = min(float(np.max(np.minimum(kth[near], self._slack[near]))), self._limit)
            # only nodes within the bound's crow-flies radius of a new facility can matter
            inside = np.flatnonzero(new.access_s <= bound)
            if inside.size:
                radius = (bound - new.access_s[inside]) * vmax * (1.0 + _SLACK) + 1e-6
                centre = np.column_stack([bx[inside], by[inside]])
                hits = search.tree.query_ball_point(centre, radius)
                parts += [np.asarray(h, dtype=np.int64) for h in hits]
        if short.any() and closure is not None:
            bound = self._limit
            parts.append(closure)
        return rows, bound, np.unique(np.concatenate(parts))

    def add(self, new_facilities: gpd.GeoDataFrame) -> NearestIndex:
        """Add facilities and update the nearest results in place; returns ``self``.

        Only the new facilities are searched, bounded by the largest current ``k``-th time of
        the demand nodes they could improve (a crow-flies lower bound decides which), on the
        subgraph within reach of that bound. The ``kind`` filter of :meth:`build` applies.

        Raises
        ------
        CostError
            If an id is already indexed.
        """
        pts = _select(_points(new_facilities, "new_facilities"), self._kinds, "new_facilities")
        if len(pts) == 0:
            return self
        clash = pts.ids[pts.ids.isin(self._fac.ids)]
        if len(clash):
            msg = f"new_facilities: ids already indexed: {clash[:5].tolist()}"
            raise CostError(msg)
        (new,) = _prepare(self._arrays, [pts], self._st, self._crs)
        new = new.sorted()
        if self._arrays is None:
            ranked = _straight(
                self._dem.x,
                self._dem.y,
                new.x,
                new.y,
                k=self._k,
                limit=self._limit,
                detour=self._st.detour_factor,
                speed_kph=self._st.straight_speed_kph,
            )
            rows = np.arange(len(self._dem), dtype=np.int64)
            part = (
                _pad(ranked.time, self._k, np.inf),
                _pad(ranked.lab, self._k, -1),
                _pad(ranked.length, self._k, np.nan),
            )
        else:
            *found, rows = self._add_network(new)
            part = (found[0], found[1], found[2])
        # one table sorted by id: old and new labels move to their places in it
        table, place_old, place_new = _insert_sorted(self._fac, new)
        time, lab, road = self._state
        lab[lab >= 0] = place_old[lab[lab >= 0]]
        new_lab = np.where(part[1] >= 0, place_new[np.maximum(part[1], 0)], -1)
        if rows.size:
            t, lb, rd = _merge(
                (time[rows], lab[rows], road[rows]), (part[0], new_lab, part[2]), self._k
            )
            time[rows], lab[rows], road[rows] = t, lb, rd
        self._fac = table
        self._result = None
        return self

    def remove(self, ids: Iterable[Any]) -> NearestIndex:
        """Remove facilities by id and update the results in place; returns ``self``.

        Demand points whose ``k`` nearest did not include a removed facility keep their result;
        otherwise the index is recomputed (exact, as a full build).

        Raises
        ------
        CostError
            Naming ids that are not indexed.
        """
        gone = pd.Index(list(ids) if not isinstance(ids, str) else [ids])
        missing = gone[~gone.isin(self._fac.ids)]
        if len(missing):
            msg = f"ids: not indexed: {missing[:5].tolist()}"
            raise CostError(msg)
        drop = self._fac.ids.isin(gone)
        if not drop.any():
            return self
        keep = np.flatnonzero(~drop)
        newpos = np.full(len(self._fac), -1, dtype=np.int64)
        newpos[keep] = np.arange(len(keep))
        time, lab, road = self._state
        affected = np.isin(lab, np.flatnonzero(drop)).any(axis=1)
        self._fac = self._fac.take(keep)
        if affected.any():
            self._state = self._solve(self._fac)
            self._closure_known = False
        else:
            self._state = (time, np.where(lab >= 0, newpos[np.maximum(lab, 0)], -1), road)
        self._result = None
        return self


def nearest(
    network: Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    k: int = 1,
    kind: str | Iterable[str] | None = None,
    direction: str = "to_facility",
    max_time_s: float | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
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
        ``"to_facility"`` (trip from the demand point to the facility) or ``"from_facility"``.
    max_time_s
        Facilities farther than this (seconds, access legs included) are not reported; the
        searches stop there, which is faster.
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`.

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
    ).result


def reach(
    network: Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: float,
    kind: str | Iterable[str] | None = None,
    direction: str = "to_facility",
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
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
    way = _direction(direction)
    limit = _seconds(minutes, "minutes", scale=60.0, optional=False)
    st = _settings(max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph)
    dem_pts = _points(demand, "demand")
    fac_pts = _select(_points(facilities, "facilities"), _kinds(kind), "facilities")
    arrays = _arrays(network)
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
        search = _search(arrays, way)
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
    direction: str = "to_facility",
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
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
    )
    counts = rows.groupby("demand_id", sort=False)["reachable"].sum()
    out = counts.reindex(demand.index, fill_value=0).astype(np.int64)
    out.index = demand.index.copy()
    out.name = "facilities"
    return out


# --- OD matrices ---------------------------------------------------------------------------------


def _od_network(arrays: GraphArrays, orig: I64, dest: I64, limit: float) -> tuple[F64, F64]:
    """Road time and length between node positions (``len(orig)`` x ``len(dest)``)."""
    uo, io = np.unique(orig, return_inverse=True)
    ud, idd = np.unique(dest, return_inverse=True)
    flip = len(uo) > len(ud)
    e = _search(arrays, "to_facility" if flip else "from_facility").edges
    sources, targets = (ud, uo) if flip else (uo, ud)
    mat = e.matrix()
    n = e.n
    time = np.full((len(sources), len(targets)), np.inf)
    road = np.full((len(sources), len(targets)), np.nan)
    batch = max(1, _OD_BATCH_BYTES // max(n * 40 + len(e.dst), 1))
    for lo in range(0, len(sources), batch):
        idx = sources[lo : lo + batch]
        b = len(idx)
        dist, pred = dijkstra(
            mat, directed=True, indices=idx, return_predecessors=True, limit=limit
        )
        dist = np.asarray(dist).reshape(b, n)
        pred = np.asarray(pred, dtype=np.int64).reshape(b, n)
        acc = np.full((b, n), np.nan)
        rr, ee = np.nonzero(pred[:, e.dst] == e.src[None, :])
        acc[rr, e.dst[ee]] = e.ln[ee]
        acc[np.arange(b), idx] = 0.0
        anc = np.where(pred >= 0, pred + (np.arange(b) * n)[:, None], -1).ravel()
        flat = acc.ravel()
        live = np.flatnonzero(anc >= 0)
        while live.size:
            up = anc[live]
            flat[live] += flat[up]
            anc[live] = anc[up]
            live = live[anc[live] >= 0]
        time[lo : lo + b] = dist[:, targets]
        road[lo : lo + b] = acc[:, targets]
    if flip:
        time, road = time.T, road.T
    return time[io][:, idd], road[io][:, idd]


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
    limit = _seconds(max_time_s, "max_time_s")
    st = _settings(max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph)
    o_pts = _points(origins, "origins")
    d_pts = _points(destinations, "destinations")
    arrays = _arrays(network)
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
