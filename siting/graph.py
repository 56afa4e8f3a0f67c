"""Graph plumbing shared by network and costs: compiled arrays and snapping.

The public home of :class:`GraphArrays`, :func:`graph_arrays` and :func:`snap`
(``siting._graph`` is kept as an alias module for older imports).

A road graph follows the osmnx contract (networkx MultiDiGraph; nodes ``x``, ``y`` in WGS84;
edges ``length`` in metres, ``travel_time`` in seconds, ``speed_kph``). :func:`graph_arrays`
compiles it into sparse matrices for the scipy kernels (:func:`compiled` keeps that compilation
per graph object while the graph is unchanged); :func:`snap` ties points to nodes
(:func:`snap_points`: the same as arrays, without a frame).

Snapping avoids *islands*: strongly connected components of the graph with fewer nodes than
:data:`ISLAND_SHARE` of the largest one (one-way dead ends, car parks, fragments cut by an
extract's edge, roads not joined to the network; see :func:`components`). A point whose nearest
node is on an island is tied to the nearest node off the islands instead, when that lies within
the snap distance; otherwise it stays on the island and is marked ``island`` (its trips may be
impossible).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NoReturn, TypeAlias

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from siting import settings
from siting._errors import GraphError
from siting.crs import metric_crs

__all__ = [
    "ISLAND_SHARE",
    "Components",
    "GraphArrays",
    "GraphError",
    "Network",
    "Snapped",
    "compiled",
    "components",
    "edge_text",
    "forget",
    "graph_arrays",
    "node_tree",
    "snap",
    "snap_in_background",
    "snap_points",
    "snap_points_in_background",
]


@dataclass(frozen=True, eq=False)
class GraphArrays:
    """A road graph compiled for the scipy kernels.

    Attributes
    ----------
    nodes
        Node ids in matrix order.
    index
        Node id -> matrix position.
    x, y
        Metric coordinates (metres, in ``crs``) of the nodes, in matrix order.
    lon, lat
        WGS84 coordinates of the nodes.
    crs
        The metric CRS of ``x``/``y`` (chosen by :func:`siting.crs.metric_crs` for the graph).
    time
        CSR matrix of travel times (seconds); parallel edges keep their fastest.
    length
        CSR matrix of edge lengths (metres) on the same pattern as ``time`` (the length of the
        fastest parallel edge).
    """

    nodes: np.ndarray
    index: dict[Any, int]
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    crs: pyproj.CRS
    time: sp.csr_matrix
    length: sp.csr_matrix

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.nodes)


#: A road network as the analyses take it: a networkx graph, a compiled :class:`GraphArrays`,
#: or None (straight-line estimates).
Network: TypeAlias = nx.Graph | GraphArrays | None


def edge_text(u: Any, v: Any, key: Any, data: dict[str, Any]) -> str:
    """An edge as a planner can find it: ``(u, v, key)`` and its attributes (not its geometry)."""
    shown = []
    for attr, value in data.items():
        if attr == "geometry":
            continue
        if isinstance(value, float):
            shown.append(f"{attr}={value:.6g}")
        else:
            text = repr(value)
            shown.append(f"{attr}={text if len(text) <= 60 else text[:57] + '...'}")
    return f"({u!r}, {v!r}, {key!r}) [{', '.join(shown)}]"


def graph_arrays(graph: nx.MultiDiGraph, *, weight: str = "travel_time") -> GraphArrays:
    """Compile a road graph into CSR matrices of travel time and length.

    Parameters
    ----------
    graph
        An osmnx-style graph (nodes with ``x``/``y`` in WGS84; edges with ``length`` and the
        ``weight`` attribute).
    weight
        Edge attribute used as cost (default ``travel_time`` in seconds).

    Raises
    ------
    GraphError
        Naming the first node or edge that lacks a required attribute, and the first edge whose
        cost or length is not a finite number >= 0, or (for ``travel_time``) whose travel time is
        zero over a positive length (an infinitely fast road). Zero-length edges (two nodes at
        one place) may take no time.
    """
    nodes = np.array(list(graph.nodes), dtype=object)
    attrs = [d for _, d in graph.nodes(data=True)]  # (one walk of the node dicts, in order)
    try:
        lon = np.fromiter((d["x"] for d in attrs), float, len(nodes))
        lat = np.fromiter((d["y"] for d in attrs), float, len(nodes))
    except KeyError as exc:
        bad = next(n for n in nodes if "x" not in graph.nodes[n] or "y" not in graph.nodes[n])
        msg = f"graph node {bad!r} has no {exc.args[0]!r} coordinate (WGS84 lon/lat expected)"
        raise GraphError(msg) from exc
    if len(nodes) and (np.abs(lon).max() > 180 or np.abs(lat).max() > 90):
        msg = "graph node coordinates are not WGS84 lon/lat (osmnx contract: unprojected graph)"
        raise GraphError(msg)
    if all(isinstance(n, int | np.integer) for n in nodes[:1000]):
        nodes = nodes.astype(np.int64) if len(nodes) else nodes
    index = {n: i for i, n in enumerate(nodes.tolist())}
    # one walk of the edges into lists, converted by C loops (map(float, ...)): several times
    # faster than filling arrays edge by edge; a bad edge is then looked for edge by edge
    src_l: list[int] = []
    dst_l: list[int] = []
    cost_l: list[Any] = []
    dist_l: list[Any] = []
    try:
        for u, v, data in graph.edges(data=True):
            cost_l.append(data[weight])
            dist_l.append(data["length"])
            src_l.append(index[u])
            dst_l.append(index[v])
        m = len(src_l)
        cost = np.fromiter(map(float, cost_l), float, m)
        dist = np.fromiter(map(float, dist_l), float, m)
    except (KeyError, TypeError, ValueError) as exc:
        _edge_error(graph, weight, exc)
    del cost_l, dist_l
    src = np.array(src_l, dtype=np.int64)
    dst = np.array(dst_l, dtype=np.int64)
    del src_l, dst_l
    _check_costs(graph, cost, dist, weight)
    # keep the fastest of parallel edges (and its length)
    order = np.lexsort((cost, dst, src))
    src, dst, cost, dist = src[order], dst[order], cost[order], dist[order]
    first = np.ones(m, dtype=bool)
    if m:
        first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, cost, dist = src[first], dst[first], cost[first], dist[first]
    n = len(nodes)
    # a zero-cost edge (of zero length) would vanish from a sparse matrix: keep it as a tiny cost
    time = sp.csr_matrix((np.maximum(cost, 1e-9), (src, dst)), shape=(n, n))
    length = sp.csr_matrix((np.maximum(dist, 1e-9), (src, dst)), shape=(n, n))
    crs = metric_crs((float(np.mean(lon)), float(np.mean(lat)))) if n else metric_crs()
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    return GraphArrays(
        nodes=nodes,
        index=index,
        x=np.asarray(x),
        y=np.asarray(y),
        lon=lon,
        lat=lat,
        crs=crs,
        time=time,
        length=length,
    )


# --- compiled graphs cached per networkx graph ----------------------------------------------------

#: Key of the marker that :func:`compiled` puts in a graph's ``__networkx_cache__``.
_MARK = "siting.graph.compiled"


class _Marker:
    """The version marker of one compilation: networkx drops it from the graph's
    ``__networkx_cache__`` whenever the graph changes through its methods."""

    __slots__ = ()


#: Edges whose attributes :func:`compiled` watches (spread evenly over the graph).
_WATCHED_EDGES = 1024


@dataclass(eq=False)
class _Compiled:
    """What :func:`compiled` keeps of a graph: the marker, the node count, the speed table
    (``graph.graph["speeds"]``, replaced by :func:`siting.network.add_travel_times`), a sample
    of edge attribute dicts with the values they had, and the compiled arrays per weight."""

    marker: _Marker
    nodes: int
    speeds: Any
    watched: list[tuple[dict[str, Any], tuple[Any, ...]]]
    arrays: dict[str, GraphArrays]

    def fresh(self, graph: nx.Graph, cache: dict[str, Any]) -> bool:
        """Whether the graph is as it was: marker, node count, speed table, watched values."""
        return (
            cache.get(_MARK) is self.marker
            and graph.number_of_nodes() == self.nodes
            and graph.graph.get("speeds") is self.speeds
            and all(tuple(d.get(a) for a in _ATTRS) == v for d, v in self.watched)
        )


#: The edge attributes the watched edges are compared on.
_ATTRS: tuple[str, ...] = ("travel_time", "length", "speed_kph")


def _watch(graph: nx.Graph) -> list[tuple[dict[str, Any], tuple[Any, ...]]]:
    """Attribute dicts of about :data:`_WATCHED_EDGES` edges spread over the graph (the first
    out-edge of nodes taken at even steps; cheap: no walk of every edge), with their values."""
    step = max(1, graph.number_of_nodes() // _WATCHED_EDGES)
    multi = graph.is_multigraph()
    out = []
    for u in itertools.islice(graph, 0, None, step):
        for data in graph.adj[u].values():
            d = next(iter(data.values()), None) if multi else data
            if isinstance(d, dict):
                out.append((d, tuple(d.get(a) for a in _ATTRS)))
            break
    return out


_COMPILED: weakref.WeakKeyDictionary[nx.Graph, _Compiled] = weakref.WeakKeyDictionary()
_COMPILED_LOCK = threading.Lock()


def compiled(graph: nx.Graph, *, weight: str = "travel_time") -> GraphArrays:
    """:func:`graph_arrays` of ``graph`` (its directed version if undirected), cached.

    The compiled arrays are kept while ``graph`` lives and reused for as long as it is unchanged,
    so that a second analysis on the same graph does not compile it again. A change is detected
    by a version marker that this function stores in ``graph.__networkx_cache__`` (networkx >=
    3.3 empties that cache whenever the graph changes through its methods: ``add_edge``,
    ``remove_node``, ``add_edges_from``, :func:`networkx.set_edge_attributes`, ``update``...), by
    the number of nodes, by the speed table ``graph.graph["speeds"]`` (which
    :func:`siting.network.add_travel_times` replaces) and by the ``travel_time``, ``length`` and
    ``speed_kph`` of about a thousand edges spread over the graph (a change of many edges, such
    as new speeds, is seen; checking them takes well under a millisecond). An attribute of a few
    edges changed in place (``G.edges[u, v, k]["travel_time"] = t``) may not be seen: as for
    networkx's own caches, call :func:`forget` (or ``G.__networkx_cache__.clear()``) after such
    edits. Views of a graph
    (``G.subgraph(nodes)``) are not cached (they change with their graph unseen), nor is anything
    without ``__networkx_cache__`` (networkx 3.2).

    >>> g = nx.MultiDiGraph()
    >>> g.add_node(1, x=106.0, y=30.0); g.add_node(2, x=106.001, y=30.0)
    >>> _ = g.add_edge(1, 2, length=96.0, travel_time=10.0)
    >>> compiled(g) is compiled(g)
    True
    >>> first = compiled(g)
    >>> _ = g.add_edge(2, 1, length=96.0, travel_time=12.0)
    >>> compiled(g) is first, compiled(g).time.nnz
    (False, 2)
    """
    cache = getattr(graph, "__networkx_cache__", None)
    if not isinstance(cache, dict) or getattr(graph, "_graph", None) is not None:
        # a view (G.subgraph(...), G.reverse(copy=False)) changes with its graph, whose changes
        # do not reach the view's cache: compiled anew every time
        return _compile(graph, weight)
    with _COMPILED_LOCK:
        found = _COMPILED.get(graph)
        if found is not None and not found.fresh(graph, cache):
            found = None
        if found is not None and weight in found.arrays:
            return found.arrays[weight]
    arrays = _compile(graph, weight)
    with _COMPILED_LOCK:
        if found is None or _COMPILED.get(graph) is not found:
            found = _Compiled(
                _Marker(),
                graph.number_of_nodes(),
                graph.graph.get("speeds"),
                _watch(graph),
                {},
            )
            _COMPILED[graph] = found
            cache[_MARK] = found.marker
        found.arrays[weight] = arrays
    return arrays


def _compile(graph: nx.Graph, weight: str) -> GraphArrays:
    return graph_arrays(graph if graph.is_directed() else graph.to_directed(), weight=weight)


def forget(graph: nx.Graph) -> None:
    """Drop what :func:`compiled` keeps of ``graph`` (after editing its attributes in place).

    >>> g = nx.MultiDiGraph()
    >>> g.add_node(1, x=106.0, y=30.0)
    >>> first = compiled(g)
    >>> g.nodes[1]["x"] = 106.5  # an in-place edit networkx does not see
    >>> forget(g)
    >>> compiled(g) is first
    False
    """
    with _COMPILED_LOCK:
        _COMPILED.pop(graph, None)
        cache = getattr(graph, "__networkx_cache__", None)
        if isinstance(cache, dict):
            cache.pop(_MARK, None)


def _edge_error(graph: nx.MultiDiGraph, weight: str, exc: Exception) -> NoReturn:
    """Raise the error of the first edge without a usable cost or length."""
    for u, v, data in graph.edges(data=True):
        try:
            float(data[weight])
            float(data["length"])
        except (KeyError, TypeError, ValueError) as bad:
            missing = weight if weight not in data else "length"
            msg = f"graph edge ({u!r}, {v!r}) has no usable {missing!r} (osmnx contract)"
            raise GraphError(msg) from bad
    raise exc  # not an edge's fault (cannot happen)


def _check_costs(
    graph: nx.MultiDiGraph,
    cost: npt.NDArray[np.float64],
    dist: npt.NDArray[np.float64],
    weight: str,
) -> None:
    """Refuse costs and lengths that are not finite and >= 0, and instant travel, by edge."""
    bad_cost = ~np.isfinite(cost) | (cost < 0)
    bad_dist = ~np.isfinite(dist) | (dist < 0)
    instant = (cost == 0) & (dist > 0) if weight == "travel_time" else np.zeros(len(cost), bool)
    wrong = bad_cost | bad_dist | instant
    if not wrong.any():
        return
    first = int(np.argmax(wrong))
    u, v, key, data = next(itertools.islice(graph.edges(keys=True, data=True), first, None))
    if bad_dist[first]:
        what = f"length {float(dist[first])!r}, not metres >= 0"
    elif bad_cost[first]:
        what = f"{weight} {float(cost[first])!r}, not a number >= 0"
    else:
        what = f"travel_time 0 s over {dist[first]:.6g} m (an infinitely fast road)"
    more = int(wrong.sum()) - 1
    msg = (
        f"graph edge {edge_text(u, v, key, data)} has {what}"
        + (f"; {more} more edge(s) too" if more else "")
        + "; the road network's travel times are wrong (路网通行时间有误): re-import it or "
        "recompute them with siting.network.add_travel_times"
    )
    raise GraphError(msg)


# --- strongly connected components ---------------------------------------------------------------

#: A strongly connected component with fewer nodes than this share of the largest component is an
#: *island*: points are not tied to it when a node of a larger component is within the snap
#: distance. Real islands are tiny (a one-way dead end is a component of one node, a car park a
#: few); a separately drawn network of a valley, a few per cent of a county's nodes, is not one.
ISLAND_SHARE: float = 0.05


@dataclass(frozen=True, eq=False)
class Components:
    """The strongly connected components of a compiled graph.

    Attributes
    ----------
    label
        Component of each node (matrix order), numbered from 0 by decreasing size (ties: the
        component of the first node in matrix order first); 0 is the largest.
    sizes
        Number of nodes of each component, largest first.
    island
        Mask of the nodes on islands: components with fewer nodes than :data:`ISLAND_SHARE` of
        the largest one (a graph of one-way chains, whose components are single nodes, has none).
    """

    label: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    island: npt.NDArray[np.bool_]

    @property
    def count(self) -> int:
        """Number of strongly connected components."""
        return len(self.sizes)


_COMPONENTS: weakref.WeakKeyDictionary[GraphArrays, Components] = weakref.WeakKeyDictionary()
_MAIN_TREES: weakref.WeakKeyDictionary[GraphArrays, tuple[cKDTree, npt.NDArray[np.intp]]] = (
    weakref.WeakKeyDictionary()
)


def components(arrays: GraphArrays) -> Components:
    """The strongly connected components of a compiled graph (computed once per graph).

    Two nodes are in one component when each can be reached from the other along the graph's
    directed edges. The largest component is the road network proper; components much smaller
    than it (:data:`ISLAND_SHARE`) are islands: one-way dead ends, car parks, fragments cut by an
    extract's edge, roads not joined to the network.
    """
    found = _COMPONENTS.get(arrays)
    if found is not None:
        return found
    if arrays.n == 0:
        empty = np.empty(0, dtype=np.int64)
        found = Components(empty, empty, np.empty(0, dtype=bool))
    else:
        _, raw = connected_components(arrays.time, directed=True, connection="strong")
        raw = np.asarray(raw, dtype=np.int64)
        counts = np.bincount(raw)
        first_seen = np.full(len(counts), arrays.n, dtype=np.int64)
        np.minimum.at(first_seen, raw, np.arange(arrays.n, dtype=np.int64))
        order = np.lexsort((first_seen, -counts))  # largest first, then by first node
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        label = rank[raw]
        sizes = counts[order].astype(np.int64)
        found = Components(label, sizes, sizes[label] < ISLAND_SHARE * sizes[0])
    _COMPONENTS[arrays] = found
    return found


def _main_tree(arrays: GraphArrays) -> tuple[cKDTree, npt.NDArray[np.intp]]:
    """KD-tree of the nodes off the islands, and their matrix positions."""
    found = _MAIN_TREES.get(arrays)
    if found is None:
        pos = np.flatnonzero(~components(arrays).island).astype(np.intp)
        found = (cKDTree(np.column_stack([arrays.x[pos], arrays.y[pos]])), pos)
        _MAIN_TREES[arrays] = found
    return found


_SORT_QUERIES_ABOVE = 4096

_TREES: weakref.WeakKeyDictionary[GraphArrays, cKDTree] = weakref.WeakKeyDictionary()


def node_tree(arrays: GraphArrays) -> cKDTree:
    """KD-tree of the nodes' metric coordinates, built once per compiled graph."""
    tree = _TREES.get(arrays)
    if tree is None:
        tree = _TREES[arrays] = cKDTree(np.column_stack([arrays.x, arrays.y]))
    return tree


@lru_cache(maxsize=16)
def _to_metric(crs: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _snap_input(
    arrays: GraphArrays,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    max_snap_m: float | None,
    access_speed_kph: float | None,
) -> tuple[npt.NDArray[np.float64], float, float]:
    """Validate points and settings; the points' metric coordinates (n x 2)."""
    max_snap = settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    speed = settings.access_speed_kph if access_speed_kph is None else float(access_speed_kph)
    if speed <= 0:
        msg = f"access_speed_kph must be positive, got {speed}"
        raise ValueError(msg)
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon_a.shape != lat_a.shape:
        msg = "lon and lat must have the same length"
        raise ValueError(msg)
    if arrays.n == 0:
        msg = "cannot snap to an empty graph"
        raise GraphError(msg)
    bad = ~(np.isfinite(lon_a) & np.isfinite(lat_a))
    if bad.any():
        first = int(np.argmax(bad))
        msg = f"{int(bad.sum())} point(s) have no coordinates (first at position {first})"
        raise ValueError(msg)
    px, py = _to_metric(arrays.crs).transform(lon_a, lat_a)
    return np.column_stack([px, py]), max_snap, speed


def _query(
    tree: cKDTree, query: npt.NDArray[np.float64], workers: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """Nearest node (distance, position) of each query point."""
    if len(query) <= _SORT_QUERIES_ABOVE:
        dist, pos = tree.query(query, workers=workers)
        return np.asarray(dist, dtype=np.float64), np.asarray(pos, dtype=np.intp)
    # many points: query them in spatial order (2 km cells), which keeps the tree walk in cache
    # (about twice as fast); each answer is independent of the order, so the result is the same
    order = np.lexsort((np.floor(query[:, 1] / 2000.0), np.floor(query[:, 0] / 2000.0)))
    dist = np.empty(len(query))
    pos = np.empty(len(query), dtype=np.intp)
    dist[order], pos[order] = tree.query(query[order], workers=workers)
    return dist, pos


def _off_islands(
    arrays: GraphArrays,
    query: npt.NDArray[np.float64],
    dist: npt.NDArray[np.float64],
    pos: npt.NDArray[np.intp],
    max_snap: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Move points whose nearest node is on an island to the nearest node off the islands, when
    that is within ``max_snap``; the rest stay and are marked as islands."""
    island = np.zeros(len(dist), dtype=bool)
    parts = components(arrays)
    if not parts.island.any() or not len(dist):
        return dist, pos, island
    off = np.flatnonzero(parts.island[pos])
    if not len(off):
        return dist, pos, island
    tree, main_pos = _main_tree(arrays)
    d_main, j = tree.query(query[off], workers=-1)
    near = d_main <= max_snap
    dist, pos = dist.copy(), pos.copy()
    dist[off[near]] = d_main[near]
    pos[off[near]] = main_pos[j[near]]
    island[off[~near]] = True
    return dist, pos, island


@dataclass(frozen=True, eq=False)
class Snapped:
    """Points tied to graph nodes, as arrays (what :func:`snap` returns as a frame, without the
    node ids): ``node_pos`` (matrix position), ``snap_m``, ``access_s``, ``snap_flag``,
    ``island``, aligned to the points."""

    node_pos: npt.NDArray[np.int64]
    snap_m: npt.NDArray[np.float64]
    access_s: npt.NDArray[np.float64]
    snap_flag: npt.NDArray[np.bool_]
    island: npt.NDArray[np.bool_]

    def frame(self, arrays: GraphArrays, index: pd.Index | None = None) -> pd.DataFrame:
        """The frame of :func:`snap`."""
        return pd.DataFrame(
            {
                "node": arrays.nodes[self.node_pos],
                "node_pos": self.node_pos,
                "snap_m": self.snap_m,
                "access_s": self.access_s,
                "snap_flag": self.snap_flag,
                "island": self.island,
            },
            index=index if index is not None else pd.RangeIndex(len(self.node_pos)),
        )


def _snapped(
    dist: npt.NDArray[np.float64],
    pos: npt.NDArray[np.intp],
    max_snap: float,
    speed: float,
    island: npt.NDArray[np.bool_],
) -> Snapped:
    return Snapped(pos.astype(np.int64), dist, dist / (speed / 3.6), dist > max_snap, island)


def snap_points(
    arrays: GraphArrays,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
) -> Snapped:
    """:func:`snap` as arrays (no frame): the cheap form for code that reads them at once."""
    query, max_snap, speed = _snap_input(arrays, lon, lat, max_snap_m, access_speed_kph)
    dist, pos = _query(node_tree(arrays), query, workers=-1)
    dist, pos, island = _off_islands(arrays, query, dist, pos, max_snap)
    return _snapped(dist, pos, max_snap, speed, island)


def snap(
    arrays: GraphArrays,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Tie points (WGS84) to a graph node: the nearest one off the islands (small strongly
    connected components, :func:`components`) if it lies within ``max_snap_m``, else the
    nearest one.

    Returns a frame aligned to the points (``index`` if given) with ``node`` (node id),
    ``node_pos`` (matrix position), ``snap_m`` (straight-line metres to the node), ``access_s``
    (``snap_m`` at ``access_speed_kph``, added to every travel time from or to the point),
    ``snap_flag`` (``True`` when ``snap_m`` exceeds ``max_snap_m``: results that use the point say
    so) and ``island`` (``True`` when the point is tied to a node of an island because no other
    node lies within ``max_snap_m``: its trips may be impossible).
    """
    found = snap_points(arrays, lon, lat, max_snap_m=max_snap_m, access_speed_kph=access_speed_kph)
    return found.frame(arrays, index)


def snap_in_background(
    arrays: GraphArrays,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    index: pd.Index | None = None,
) -> Callable[[], pd.DataFrame]:
    """Start :func:`snap` on a background thread; call the returned function for its frame.

    The points are checked and projected at once (errors are raised here); only the KD-tree
    query, which runs without the GIL, is left to the thread, so that it overlaps with work on
    the calling thread that holds the GIL (a shortest-path kernel). The result is identical to
    :func:`snap`'s.
    """
    join = snap_points_in_background(
        arrays, lon, lat, max_snap_m=max_snap_m, access_speed_kph=access_speed_kph
    )
    return lambda: join().frame(arrays, index)


def snap_points_in_background(
    arrays: GraphArrays,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
) -> Callable[[], Snapped]:
    """:func:`snap_in_background` as arrays: the returned function gives :func:`snap_points`'
    result."""
    query, max_snap, speed = _snap_input(arrays, lon, lat, max_snap_m, access_speed_kph)
    tree = node_tree(arrays)
    out: dict[str, Any] = {}
    started = threading.Event()

    def work() -> None:
        started.set()
        try:
            # one call that releases the GIL for its whole run (one worker: the calling
            # thread keeps the other core)
            out["result"] = _query(tree, query, workers=1)
        except BaseException as exc:  # handed to the caller on join
            out["error"] = exc

    thread = threading.Thread(target=work, name="siting-snap", daemon=True)
    thread.start()
    started.wait()

    def join() -> Snapped:
        thread.join()
        if "error" in out:
            raise out["error"]
        dist, pos = out["result"]
        dist, pos, island = _off_islands(arrays, query, dist, pos, max_snap)
        return _snapped(dist, pos, max_snap, speed, island)

    return join
