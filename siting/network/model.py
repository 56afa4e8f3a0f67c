"""A modelled road network (模拟路网) for the built-in regions, as an osmnx graph.

No road network of Nanchong or Xuanhan can be had here, so :func:`modelled` builds one from the
places a road must reach: the real township seats (imputed where the reference data has none) and
the modelled village points of a :class:`~siting.regions.Region`. It is a *model*, labelled so on
the graph, every node and every edge (``modelled=True``), never a survey.

The hierarchy, in the metric CRS :func:`siting.crs.metric_crs` (``settings.metric_crs``, UTM 48N
for Sichuan; nothing is measured in degrees):

* **Trunk** (``tier="trunk"``, 国道/省道): between the *county towns* of the region. The county
  town of a county is one of its township seats (see :func:`county_towns`): the 街道 seat nearest
  the centroid of the county's 街道 seats (those with a reference point when there are any), or,
  in a county without 街道, the seat of its most urban township (most 居委会,
  ``n_residents_committees``); ties (within 1 m) go to the lower township code. County towns are
  joined by their Gabriel graph (the Delaunay edges whose diametral circle holds no other county
  town), which is connected and has no long edges across the hull. A region of one county has no
  trunk edge.
* **Township roads** (``tier="secondary"``, 县道/乡道): between neighbouring township seats of the
  whole region, across county lines (roads cross them). Candidates are the Delaunay edges of all
  seats; an edge is kept when it is a Gabriel edge no longer than :data:`LONG_EDGE_FACTOR` times
  the local spacing of seats at either end (the mean distance to the :data:`LOCAL_NEIGHBOURS`
  nearest seats), and the Euclidean minimum spanning tree is always kept, so the graph stays
  connected. A pair of seats already joined by a trunk edge gets no second, slower edge.
* **Village roads** (``tier="unclassified"``, 村道; ``"residential"``, 社区道路): within each
  township, between its seat and its villages: the minimum spanning tree of those points, plus the
  short extra links of a greedy spanner: Delaunay edges (links between neighbours only), shortest
  first, are added when the route between their two ends along the roads so far is more than
  :data:`VILLAGE_STRETCH` times their straight-line distance. This gives the loops a real village
  network has (about one extra link for four tree edges), and no village a road to its neighbour
  or its seat that goes round the whole township. An edge between two 社区 (or a 社区 and
  the seat) of a 街道 is ``residential``; every other village edge ``unclassified``.

Every road is two directed edges (``oneway=False``, the second ``reversed=True``), straight (no
``geometry``: osmnx draws straight edges from the node coordinates), with

* ``length``: straight-line metres times the tier's detour factor (:data:`DETOUR_FACTORS`);
* ``speed_kph``: the tier's speed (:data:`SPEEDS_KPH`);
* ``travel_time``: ``length / (speed_kph / 3.6)`` seconds;
* ``highway`` (the OSM tag, equal to the tier), ``tier``, ``road_class`` (Chinese road class)
  and ``modelled=True``.

Nodes are integers derived from the codes, so they are stable across builds and seeds: a
township seat is ``int(township_code)`` (9 digits), a village ``int(village_code)`` (12 digits),
and a county town is its township seat's node (``node_type="county_town"``). Node attributes:
``x``/``y`` (WGS84 lon/lat of the region's points), ``node_type`` (``county_town``,
``township_seat`` or ``village``), ``code``, ``name``, ``township_code``, ``county_code``,
``modelled=True``.

Determinism: the construction has no randomness; ties (equal lengths) are broken by node order,
which follows the codes. ``seed`` only selects the region's modelled village points (the seed of
:func:`siting.regions.load`), so the same seed gives the identical graph.

Detour factors. The circuity of roads (route length over straight-line distance) is about 1.2
on flat rural networks and 1.2-1.4 in hilly country such as the Sichuan basin's 丘陵 (Nanchong)
and the Daba mountain foothills (Xuanhan). Part of that circuity is already in the model's
structure (a route runs through intermediate seats and villages instead of straight), so the
per-edge factors sit at the lower end: 1.15 for trunk roads (graded, with bridges and tunnels),
1.2 for township roads and town streets, 1.25 for village roads. The whole-route circuity this
gives (route length over straight-line distance, pairs of nodes more than 2 km apart) has a
median of 1.42 in Nanchong and 1.59 in the mountains of Xuanhan.

=============  ==========  =========  ======  ========================
tier           road class  km/h       detour  joins
=============  ==========  =========  ======  ========================
trunk          国道/省道   60         1.15    county towns
secondary      县道/乡道   40         1.20    neighbouring seats
unclassified   村道        25         1.25    villages and their seat
residential    社区道路    20         1.20    社区 of a 街道
=============  ==========  =========  ======  ========================

GraphML: ``ox.save_graphml(G, path)`` writes the graph; read it back with
:func:`load_modelled_graphml`, which passes osmnx the converters for the attributes it does not
know (``modelled`` as bool; ``seed``, ``detour_factor`` and ``speeds`` of the graph).
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import networkx as nx
import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree, shortest_path
from scipy.spatial import Delaunay, QhullError, cKDTree

from siting import settings
from siting.crs import metric_crs
from siting.regions import Region
from siting.regions import load as load_region

__all__ = [
    "DETOUR_FACTORS",
    "EDGE_DTYPES",
    "GRAPH_DTYPES",
    "LOCAL_NEIGHBOURS",
    "LONG_EDGE_FACTOR",
    "NODE_DTYPES",
    "NOTE",
    "ROAD_CLASS_ZH",
    "SPEEDS_KPH",
    "TIERS",
    "VILLAGE_STRETCH",
    "county_towns",
    "load_modelled_graphml",
    "modelled",
]

#: Road tiers of the modelled network, from the highest; each is also the edge's OSM ``highway``.
TIERS: Final = ("trunk", "secondary", "unclassified", "residential")

#: Speed of each tier (km/h): average running speeds of Sichuan hill-country roads, not limits.
#: trunk 60 (国道/省道, two lanes through towns), secondary 40 (县道/乡道, winding two-lane),
#: unclassified 25 (村道, 3.5-4.5 m single-lane concrete), residential 20 (town streets).
SPEEDS_KPH: Final[Mapping[str, float]] = MappingProxyType(
    {"trunk": 60.0, "secondary": 40.0, "unclassified": 25.0, "residential": 20.0}
)

#: Detour factor of each tier: edge ``length`` = straight-line metres x factor (see the module
#: docstring for the reasoning: hilly Sichuan roads have a circuity of 1.2-1.4 overall, part of
#: which the graph's structure already gives).
DETOUR_FACTORS: Final[Mapping[str, float]] = MappingProxyType(
    {"trunk": 1.15, "secondary": 1.2, "unclassified": 1.25, "residential": 1.2}
)

#: Chinese road class of each tier, for tables and map legends.
ROAD_CLASS_ZH: Final[Mapping[str, str]] = MappingProxyType(
    {
        "trunk": "国道/省道",
        "secondary": "县道/乡道",
        "unclassified": "村道",
        "residential": "社区道路",
    }
)

#: A township road (Gabriel edge between seats) is dropped when it is longer than this many times
#: the local spacing of seats at both of its ends, unless it is on the minimum spanning tree.
LONG_EDGE_FACTOR: Final = 2.0

#: The local spacing of seats at a seat: its mean distance to this many nearest other seats.
LOCAL_NEIGHBOURS: Final = 3

#: Village roads: an extra link joins two Delaunay neighbours of a township when the route between
#: them along the roads so far is longer than this many times their straight-line distance.
VILLAGE_STRETCH: Final = 2.0

#: Label carried by every modelled graph (``G.graph["note"]``).
NOTE: Final = "模拟路网 modelled road network — not surveyed"

_WGS84: Final = "EPSG:4326"


# ---------------------------------------------------------------------------------------------
# geometry helpers (all in metres)


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Sort each pair (i < j), drop self-pairs and duplicates; rows in lexicographic order."""
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    p = np.sort(np.asarray(pairs, dtype=np.int64), axis=1)
    p = p[p[:, 0] != p[:, 1]]
    return np.unique(p, axis=0)


def _all_pairs(n: int) -> np.ndarray:
    i, j = np.triu_indices(n, k=1)
    return np.column_stack([i, j]).astype(np.int64)


def _delaunay_pairs(xy: np.ndarray) -> np.ndarray:
    """Edges of the Delaunay triangulation (all pairs for 3 points or fewer, or degenerate sets)."""
    n = len(xy)
    if n <= 3:
        return _all_pairs(n)
    try:
        simplices = Delaunay(xy).simplices
    except QhullError:
        # collinear or otherwise degenerate: all pairs when small, else the 4 nearest neighbours
        if n <= 60:
            return _all_pairs(n)
        _, nn = cKDTree(xy).query(xy, k=5)
        rows = np.repeat(np.arange(n), 4)
        return _unique_pairs(np.column_stack([rows, nn[:, 1:].ravel()]))
    tri = np.asarray(simplices, dtype=np.int64)
    edges = np.vstack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    return _unique_pairs(edges)


def _lengths(xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    d = xy[pairs[:, 0]] - xy[pairs[:, 1]]
    return np.asarray(np.hypot(d[:, 0], d[:, 1]), dtype=float)


def _gabriel(xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Mask of the pairs whose diametral circle holds no other point (Gabriel edges)."""
    if len(pairs) == 0:
        return np.zeros(0, dtype=bool)
    if len(xy) <= 2:
        return np.ones(len(pairs), dtype=bool)
    mid = (xy[pairs[:, 0]] + xy[pairs[:, 1]]) / 2.0
    radius = _lengths(xy, pairs) / 2.0
    k = min(3, len(xy))
    dist, idx = cKDTree(xy).query(mid, k=k)
    other = (idx != pairs[:, [0]]) & (idx != pairs[:, [1]])
    inside = other & (dist < radius[:, None] * (1.0 - 1e-9))
    return np.asarray(~inside.any(axis=1))


def _mst(n: int, pairs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mask of the candidate pairs on a minimum spanning forest (zero lengths kept)."""
    if len(pairs) == 0:
        return np.zeros(0, dtype=bool)
    # a constant offset keeps zero-length pairs (a sparse zero is no edge) and changes no tree
    w = lengths + 1.0
    graph = coo_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    tree = minimum_spanning_tree(graph).tocoo()
    chosen = {(int(min(a, b)), int(max(a, b))) for a, b in zip(tree.row, tree.col, strict=True)}
    return np.array([(int(a), int(b)) in chosen for a, b in pairs], dtype=bool)


def _connect(xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Pairs that join the components of ``pairs`` (nearest points between them), if any."""
    n = len(xy)
    extra: list[tuple[int, int]] = []
    current = pairs
    while n > 1:
        graph = coo_matrix(
            (np.ones(len(current)), (current[:, 0], current[:, 1])), shape=(n, n)
        ).tocsr()
        ncomp, labels = connected_components(graph, directed=False)
        if ncomp <= 1:
            break
        inside = np.flatnonzero(labels == labels[0])
        outside = np.flatnonzero(labels != labels[0])
        dist, pos = cKDTree(xy[outside]).query(xy[inside])
        best = int(np.argmin(dist))
        a, b = int(inside[best]), int(outside[int(pos[best])])
        extra.append((min(a, b), max(a, b)))
        current = np.vstack([current, [[a, b]]]) if len(current) else np.array([[a, b]])
    return np.array(extra, dtype=np.int64).reshape(-1, 2)


def _spanner(xy: np.ndarray, stretch: float) -> np.ndarray:
    """Minimum spanning tree plus the Delaunay links that cut a detour longer than ``stretch``."""
    n = len(xy)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    cand = _delaunay_pairs(xy)
    d = _lengths(xy, cand)
    on_tree = _mst(n, cand, d)
    keep = cand[on_tree]
    keep = np.vstack([keep, _connect(xy, keep)])
    w = _lengths(xy, keep)
    graph = coo_matrix((w + 1e-9, (keep[:, 0], keep[:, 1])), shape=(n, n)).tocsr()
    route = shortest_path(graph, directed=False)
    added = []
    rest = np.flatnonzero(~on_tree)
    for e in rest[np.lexsort((cand[rest, 1], cand[rest, 0], d[rest]))]:
        a, b, length = int(cand[e, 0]), int(cand[e, 1]), float(d[e])
        if route[a, b] > stretch * length:
            added.append((a, b))
            via = np.minimum(
                route[:, [a]] + length + route[[b], :], route[:, [b]] + length + route[[a], :]
            )
            route = np.minimum(route, via)
    if added:
        keep = np.vstack([keep, np.array(added, dtype=np.int64)])
    return _unique_pairs(keep)


def _township_pairs(xy: np.ndarray) -> np.ndarray:
    """Township roads: Gabriel edges not much longer than the local spacing, plus the MST.

    The local spacing at a seat is its mean distance to its :data:`LOCAL_NEIGHBOURS` nearest
    seats. A Gabriel edge longer than :data:`LONG_EDGE_FACTOR` times the local spacing at *both*
    ends is dropped unless it is on the minimum spanning tree (so the seats stay connected). The
    Gabriel condition already removes the long edges of the triangulation's hull (61 km in
    Nanchong's, 45 km in Xuanhan's; the longest Gabriel edge is 19 km); the spacing rule then
    drops the few long links between a dense cluster (the 街道 of a city) and distant seats
    (5 of 532 in Nanchong, 12-19 km long; none in Xuanhan).
    """
    n = len(xy)
    pairs = _delaunay_pairs(xy)
    if len(pairs) == 0:
        return pairs
    length = _lengths(xy, pairs)
    gab = _gabriel(xy, pairs)
    k = min(LOCAL_NEIGHBOURS, n - 1)
    dist, _ = cKDTree(xy).query(xy, k=k + 1)
    local = np.asarray(dist, dtype=float).reshape(n, k + 1)[:, 1:].mean(axis=1)
    short = length <= LONG_EDGE_FACTOR * np.maximum(local[pairs[:, 0]], local[pairs[:, 1]])
    keep = pairs[(gab & short) | _mst(n, pairs, length)]
    return _unique_pairs(np.vstack([keep, _connect(xy, keep)]))


# ---------------------------------------------------------------------------------------------
# the hierarchy


def _county_town_codes(townships: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> dict[str, str]:
    """County code -> township code of its county town (rule in :func:`county_towns`)."""
    quality = (
        townships["coord_quality"].to_numpy()
        if "coord_quality" in townships.columns
        else np.full(len(townships), "reference")
    )
    frame = pd.DataFrame(
        {
            "county_code": townships["county_code"].astype(str).to_numpy(),
            "town_type": townships["town_type"].to_numpy(),
            "n_rc": pd.to_numeric(townships["n_residents_committees"]).to_numpy(),
            "reference": quality == "reference",
            "x": x,
            "y": y,
        },
        index=townships.index.astype(str),
    ).sort_index()
    out: dict[str, str] = {}
    for county, towns in frame.groupby("county_code", sort=True):
        streets = towns[towns["town_type"] == "街道"]
        if len(streets):
            pool = streets[streets["reference"]] if streets["reference"].any() else streets
            cx, cy = float(pool["x"].mean()), float(pool["y"].mean())
            d = np.hypot(pool["x"].to_numpy() - cx, pool["y"].to_numpy() - cy)
            # ties (within 1 m, e.g. two 街道 around their midpoint) go to the lower code
            out[str(county)] = str(pool.index[int(np.flatnonzero(d <= d.min() + 1.0)[0])])
        else:
            top = towns.sort_values("n_rc", ascending=False, kind="stable")
            out[str(county)] = str(top.index[0])
    return out


def _metric(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    to_metric = Transformer.from_crs(_WGS84, metric_crs(), always_xy=True)
    x, y = to_metric.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


def county_towns(region: Region) -> pd.DataFrame:
    """The county town (县城) chosen for each county of a region: one of its township seats.

    Rule: the 街道 seat nearest the centroid of the county's 街道 seats, taking only the 街道 with a
    reference point when the county has any (an imputed seat was placed relative to them, so it
    adds nothing and is a worse county town), else all its 街道; in a county without 街道, the
    seat of the township with the most 居委会 (``n_residents_committees``). Ties (distances within
    1 m) go to the lower township code. Distances in the metric CRS.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``county_code``: ``county_name``, ``township_code``, ``name`` (of the
        township), ``node`` (its graph node id), ``lon``, ``lat`` and ``rule``.

    Examples
    --------
    >>> import siting
    >>> from siting._network_model import county_towns
    >>> county_towns(siting.load_region("xuanhan"))["name"].tolist()
    ['东乡街道']
    """
    towns = region.townships
    xy = _metric(towns["lon"].to_numpy(), towns["lat"].to_numpy())
    chosen = _county_town_codes(towns, xy[:, 0], xy[:, 1])
    rows = []
    for county, code in chosen.items():
        has_streets = bool(
            ((towns["county_code"].astype(str) == county) & (towns["town_type"] == "街道")).any()
        )
        rows.append(
            {
                "county_code": county,
                "county_name": str(region.counties.at[county, "name"])
                if county in region.counties.index
                else "",
                "township_code": code,
                "name": str(towns.at[code, "name"]),
                "node": int(code),
                "lon": float(towns.at[code, "lon"]),
                "lat": float(towns.at[code, "lat"]),
                "rule": "seat nearest the centroid of the county's 街道 seats"
                if has_streets
                else "seat of the township with the most 居委会",
            }
        )
    return pd.DataFrame(rows).set_index("county_code")


def _tier_table(
    given: float | Mapping[str, float] | None,
    default: Mapping[str, float],
    *,
    name: str,
    minimum: float,
    strict: bool,
) -> dict[str, float]:
    table = dict(default)
    if given is None:
        return table
    if isinstance(given, Mapping):
        unknown = sorted(set(map(str, given)) - set(TIERS))
        if unknown:
            msg = f"{name} has unknown tier(s) {unknown}; tiers are {list(TIERS)}"
            raise ValueError(msg)
        updates = {str(k): v for k, v in given.items()}
    elif isinstance(given, int | float) and not isinstance(given, bool):
        updates = dict.fromkeys(TIERS, given)
    else:
        msg = f"{name} must be a number or a mapping tier -> number, got {type(given).__name__}"
        raise TypeError(msg)
    for tier, value in updates.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            msg = f"{name}[{tier!r}] must be a number, got {value!r}"
            raise TypeError(msg) from None
        bad = number <= minimum if strict else number < minimum
        if not math.isfinite(number) or bad:
            relation = "greater than" if strict else "at least"
            msg = f"{name}[{tier!r}] must be {relation} {minimum:g}, got {value!r}"
            raise ValueError(msg)
        table[tier] = number
    return table


def _edge_attrs(tier: str, length: float, speeds: dict[str, float]) -> dict[str, Any]:
    speed = speeds[tier]
    return {
        "length": length,
        "speed_kph": speed,
        "travel_time": length / (speed / 3.6),
        "highway": tier,
        "tier": tier,
        "road_class": ROAD_CLASS_ZH[tier],
        "oneway": False,
        "modelled": True,
    }


def modelled(
    region: Region | str,
    *,
    seed: int | None = None,
    speeds: Mapping[str, float] | None = None,
    detour_factor: float | Mapping[str, float] | None = None,
) -> nx.MultiDiGraph:
    """Build the modelled road network (模拟路网) of a built-in region as an osmnx graph.

    See the module docstring for the hierarchy (trunk between county towns, township roads
    between neighbouring seats, village roads within each township), the attributes and the
    reasoning behind the speeds and detour factors.

    Parameters
    ----------
    region
        A :class:`~siting.regions.Region`, or a name/code for :func:`siting.regions.load`.
    seed
        Seed of the region's modelled village points. ``None``: the region's own seed (for a
        name, :data:`siting.settings.default_seed`). A seed other than a given region's reloads
        that region with it. The graph construction itself uses no randomness.
    speeds
        Speed (km/h) per tier, overriding :data:`SPEEDS_KPH` for the tiers given.
    detour_factor
        Detour factor (at least 1) for every tier, or per tier, overriding
        :data:`DETOUR_FACTORS` for the tiers given.

    Returns
    -------
    networkx.MultiDiGraph
        Strongly connected; graph attributes ``crs="EPSG:4326"``, ``modelled=True``,
        ``source="modelled"``, ``seed``, ``detour_factor`` and ``speeds`` (dicts per tier),
        ``metric_crs``, ``region_code``, ``region_name`` and ``note``.

    Raises
    ------
    ValueError
        If a speed is not positive, a detour factor below 1, or a tier unknown.

    Examples
    --------
    >>> import siting
    >>> from siting._network_model import modelled
    >>> G = modelled(siting.load_region("xuanhan"))
    >>> len(G), G.graph["modelled"], sorted({t for *_, t in G.edges(data="tier")})
    (460, True, ['residential', 'secondary', 'unclassified'])
    """
    speed_table = _tier_table(speeds, SPEEDS_KPH, name="speeds", minimum=0.0, strict=True)
    detour_table = _tier_table(
        detour_factor, DETOUR_FACTORS, name="detour_factor", minimum=1.0, strict=False
    )
    if isinstance(region, Region):
        if seed is not None and int(seed) != region.seed:
            region = load_region(region.code, seed=int(seed), reference_dir=region.reference_dir)
    else:
        region = load_region(region, seed=settings.seed_or_default(seed))
    from siting import _cache

    key = (_cache.object_hash(region), sorted(speed_table.items()), sorted(detour_table.items()))
    return _cache.cached("modelled_roads", key, lambda: _build(region, speed_table, detour_table))


def _build(
    region: Region, speed_table: dict[str, float], detour_table: dict[str, float]
) -> nx.MultiDiGraph:
    """The modelled network of ``region`` (see :func:`modelled`), built."""
    towns = region.townships.sort_index()
    vills = region.villages.sort_index()
    town_codes = [str(c) for c in towns.index]
    seat_xy = _metric(towns["lon"].to_numpy(), towns["lat"].to_numpy())
    vill_xy = _metric(vills["lon"].to_numpy(), vills["lat"].to_numpy())
    seat_node = np.array([int(c) for c in town_codes], dtype=np.int64)
    chosen = _county_town_codes(towns, seat_xy[:, 0], seat_xy[:, 1])
    is_town = np.isin(town_codes, list(chosen.values()))

    graph = nx.MultiDiGraph(
        crs=_WGS84,
        modelled=True,
        source="modelled",
        seed=int(region.seed),
        detour_factor=detour_table,
        speeds=speed_table,
        metric_crs=metric_crs().to_string(),
        region_code=region.code,
        region_name=region.name,
        note=NOTE,
    )
    for k, code in enumerate(town_codes):
        graph.add_node(
            int(seat_node[k]),
            x=float(towns.at[code, "lon"]),
            y=float(towns.at[code, "lat"]),
            node_type="county_town" if is_town[k] else "township_seat",
            code=code,
            name=str(towns.at[code, "name"]),
            township_code=code,
            county_code=str(towns.at[code, "county_code"]),
            modelled=True,
        )
    vill_codes = [str(c) for c in vills.index]
    for k, code in enumerate(vill_codes):
        graph.add_node(
            int(code),
            x=float(vills["lon"].iat[k]),
            y=float(vills["lat"].iat[k]),
            node_type="village",
            code=code,
            name=str(vills["name"].iat[k]),
            township_code=str(vills["township_code"].iat[k]),
            county_code=str(vills["county_code"].iat[k]),
            modelled=True,
        )

    roads: list[tuple[int, int, str, float]] = []  # (u, v, tier, straight metres), u < v
    joined: set[tuple[int, int]] = set()

    def add(nodes: np.ndarray, xy: np.ndarray, pairs: np.ndarray, tiers: list[str]) -> None:
        for (a, b), straight, tier in zip(pairs, _lengths(xy, pairs), tiers, strict=True):
            u, v = sorted((int(nodes[a]), int(nodes[b])))
            if (u, v) not in joined:
                joined.add((u, v))
                roads.append((u, v, tier, float(straight)))

    # trunk: Gabriel graph of the county towns
    t_idx = np.flatnonzero(is_town)
    t_xy = seat_xy[t_idx]
    t_pairs = _delaunay_pairs(t_xy)
    t_pairs = t_pairs[_gabriel(t_xy, t_pairs)]
    t_pairs = np.vstack([t_pairs, _connect(t_xy, t_pairs)])
    add(seat_node[t_idx], t_xy, t_pairs, ["trunk"] * len(t_pairs))

    # township roads: Gabriel edges of all seats without the locally long ones, plus the MST
    s_pairs = _township_pairs(seat_xy)
    add(seat_node, seat_xy, s_pairs, ["secondary"] * len(s_pairs))

    # village roads: spanner of each township's seat and villages
    seat_pos = {code: k for k, code in enumerate(town_codes)}
    v_town = vills["township_code"].astype(str).to_numpy()
    v_type = vills["village_type"].to_numpy()
    v_node = np.array([int(c) for c in vill_codes], dtype=np.int64)
    for code in town_codes:
        members = np.flatnonzero(v_town == code)
        if len(members) == 0:
            continue
        k = seat_pos[code]
        xy = np.vstack([seat_xy[[k]], vill_xy[members]])
        nodes = np.concatenate([seat_node[[k]], v_node[members]])
        urban = np.concatenate([[True], v_type[members] == "社区"])
        pairs = _spanner(xy, VILLAGE_STRETCH)
        street = towns.at[code, "town_type"] == "街道"
        tiers = [
            "residential" if street and urban[a] and urban[b] else "unclassified" for a, b in pairs
        ]
        add(nodes, xy, pairs, tiers)

    edges = []
    for u, v, tier, straight in roads:
        length = straight * detour_table[tier]
        edges.append((u, v, 0, {**_edge_attrs(tier, length, speed_table), "reversed": False}))
        edges.append((v, u, 0, {**_edge_attrs(tier, length, speed_table), "reversed": True}))
    graph.add_edges_from(edges)
    return graph


# ---------------------------------------------------------------------------------------------
# GraphML


def _bool(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    if value in {"True", "False"}:
        return value == "True"
    msg = f"invalid literal for a boolean: {value!r}"
    raise ValueError(msg)


def _int_or_none(value: str) -> int | None:
    return None if value in {"None", ""} else int(value)


def _float_dict(value: str) -> dict[str, float]:
    parsed = ast.literal_eval(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        msg = f"expected a dict of tier -> number, got {value!r}"
        raise ValueError(msg)
    return {str(k): float(v) for k, v in parsed.items()}


#: Converters :func:`load_modelled_graphml` passes to ``osmnx.load_graphml``.
NODE_DTYPES: Final[Mapping[str, Any]] = MappingProxyType(
    {"modelled": _bool, "code": str, "township_code": str, "county_code": str}
)
EDGE_DTYPES: Final[Mapping[str, Any]] = MappingProxyType({"modelled": _bool})
GRAPH_DTYPES: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "modelled": _bool,
        "seed": _int_or_none,
        "detour_factor": _float_dict,
        "speeds": _float_dict,
    }
)


def load_modelled_graphml(path: str | os.PathLike[str]) -> nx.MultiDiGraph:
    """Read a modelled network saved with ``osmnx.save_graphml``, with every attribute typed.

    ``osmnx.load_graphml`` converts only the attributes it knows (``x``, ``y``, ``length``,
    ``speed_kph``, ``travel_time``, ``oneway``, ``reversed``); this passes it the converters for
    the others, so ``modelled`` comes back as a bool, ``seed`` as an int and ``detour_factor``
    and ``speeds`` as dicts of floats. The same call by hand::

        ox.load_graphml(path, node_dtypes=NODE_DTYPES, edge_dtypes=EDGE_DTYPES,
                        graph_dtypes=GRAPH_DTYPES)

    Examples
    --------
    >>> import tempfile, pathlib, osmnx as ox, siting
    >>> from siting._network_model import modelled, load_modelled_graphml
    >>> G = modelled(siting.load_region("xuanhan"))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "xuanhan.graphml"
    >>> ox.save_graphml(G, path)
    >>> H = load_modelled_graphml(path)
    >>> H.graph["modelled"], len(H) == len(G)
    (True, True)
    """
    import osmnx as ox  # heavy import, only needed here

    graph: nx.MultiDiGraph = ox.load_graphml(
        Path(path),
        node_dtypes=dict(NODE_DTYPES),
        edge_dtypes=dict(EDGE_DTYPES),
        graph_dtypes=dict(GRAPH_DTYPES),
    )
    return graph
