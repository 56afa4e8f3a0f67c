"""Travel-time engine: nearest facilities, reach within T minutes, OD matrices, incremental updates.

The room of the travel-time engine. Modules:

* :mod:`siting.costs.args`: the documented argument layer (checked points, kinds, direction,
  compiled network, search graph, travel settings, :class:`~siting.costs.args.TravelOptions`
  for ``options=``) that coverage, locate and batch use too;
* :mod:`siting.costs.kernel`: the Dijkstra runs, ties, road lengths, k ranks, straight lines;
* :mod:`siting.costs.index`: :class:`NearestIndex`, the incremental index;
* :mod:`siting.costs.queries`: :func:`nearest`, :func:`reach`, :func:`reach_count`,
  :func:`od_matrix`.

It may import :mod:`siting.settings`, :mod:`siting.graph`, :mod:`siting.crs`,
:mod:`siting._errors` (and :mod:`siting.registry` for kind names); never coverage, locate or
later rooms. The old private names (``_search``, ``_arrays``, ``_kinds`` ...) stay here as
aliases of :mod:`siting.costs.args`.

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
  :class:`siting.graph.GraphArrays`, or ``None`` for the straight-line fallback. A networkx graph
  is compiled once and the compilation kept while the graph lives and is unchanged
  (:func:`siting.graph.compiled`: networkx's own methods, ``add_edge``,
  :func:`networkx.set_edge_attributes`..., mark it changed; after editing attributes in place,
  call :func:`siting.graph.forget`), so a second call on the same graph starts at the search.
* **Direction.** ``"to_facility"`` (default) measures the trip from the demand point to the
  facility (a search on the reversed graph, from the facilities); ``"from_facility"`` the trip
  from the facility to the demand point. One-way streets make the two differ.
* **Time.** ``time_s`` = demand access leg + road time + facility access leg. A point is tied to
  its nearest graph node (:func:`siting.graph.snap`); the straight leg between them (``snap_m``)
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
full recompute. The result frame is kept and only the rows of the demand points whose
facilities changed are rewritten. ``remove`` keeps the result when no removed facility was among
any demand point's ``k`` nearest, and recomputes otherwise.

Ties are exact equalities of floating-point times; times are accumulated along paths in the same
order by every function, so the same inputs give the same floats.
"""

from __future__ import annotations

from siting._errors import CostError
from siting.costs import args
from siting.costs.args import COLUMNS, DIRECTIONS, OD_COLUMNS
from siting.costs.args import NETWORK as NETWORK
from siting.costs.args import STRAIGHT_LINE as STRAIGHT_LINE
from siting.costs.args import Direction as Direction
from siting.costs.args import Network as Network
from siting.costs.args import TravelOptions as TravelOptions
from siting.costs.index import NearestIndex
from siting.costs.queries import nearest, od_matrix, reach, reach_count

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

#: From this many demand points, :meth:`NearestIndex.build` snaps them on a background thread
#: while the search from the facilities runs (the KD-tree query releases the GIL). Read here at
#: each build, so that it can be patched on the package.
_BACKGROUND_SNAP_FROM: int = 20_000

# Old private names, kept as aliases of the argument layer (tests and older callers use them).
_Points = args.Points
_Edges = args.Edges
_Search = args.Search
_Settings = args.TravelSettings
_points = args.points
_kinds = args.kinds
_select = args.select
_direction = args.direction
_positive_int = args.positive_int
_seconds = args.seconds
_speed = args.speed
_arrays = args.arrays
_order = args.order
_take_ids = args.take_ids
_index_dtype = args.index_dtype
_search = args.search
_settings = args.travel_settings
