"""Exactness of siting.service_areas against networkx Dijkstra on small graphs.

The polygon of a facility and threshold T is defined (see :func:`service_areas`) as the union of
the ``buffer_m`` buffers of the *reached pieces*: the part ``p <= (T - t(u)) / w`` of every edge
``u -> v`` with ``t(u) <= T``, plus the walked part of the access leg. Here the times ``t`` come
from networkx, the pieces are rebuilt independently, and the polygon is checked:

* every point along every edge reachable within T (node time + fraction x edge time) is inside;
* every point (along the edges, or anywhere around) farther than ``buffer_m`` from every
  reachable point is outside, and every point within ``0.97 * buffer_m`` of one is inside (the
  polygon's arcs are inscribed polygons, at most 2 % inside the true circle);
* a disconnected pocket near the facility is excluded;
* the polygon equals the union of the pieces' buffers built directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from scipy.spatial import cKDTree

from siting import settings
from siting._errors import CostError
from siting.costs import TravelOptions
from siting.coverage import service_areas as coverage_service_areas
from siting.graph import GraphArrays, graph_arrays
from siting.service_areas import MODES, CoverageError, service_areas

LON0, LAT0 = 106.08, 30.80  # Nanchong
STEP = 0.004  # degrees between grid nodes (about 400 m)
INSIDE = 0.97  # points within this share of buffer_m of a reachable point are inside


def grid_graph(side: int, seed: int) -> nx.MultiDiGraph:
    """A jittered grid, random travel times, a third of the streets one-way."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(side):
        for j in range(side):
            g.add_node(
                i * side + j,
                x=LON0 + (i + rng.uniform(-0.2, 0.2)) * STEP,
                y=LAT0 + (j + rng.uniform(-0.2, 0.2)) * STEP,
            )
    for i in range(side):
        for j in range(side):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < side and j + dj < side:
                    u, v = i * side + j, (i + di) * side + j + dj
                    t = float(rng.uniform(20, 70))
                    if rng.random() < 0.33:
                        if rng.random() < 0.5:
                            u, v = v, u
                        g.add_edge(u, v, travel_time=t, length=400.0)
                    else:
                        g.add_edge(u, v, travel_time=t, length=400.0)
                        g.add_edge(v, u, travel_time=t * rng.uniform(0.8, 1.2), length=400.0)
    return g


def random_graph(n: int, seed: int) -> nx.MultiDiGraph:
    """Nodes in a 3 km square joined to their 3 nearest neighbours, some roads one-way."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 7.5, size=(n, 2))
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(n):
        g.add_node(i, x=LON0 + xy[i, 0] * STEP, y=LAT0 + xy[i, 1] * STEP)
    for i in range(n):
        dist = np.hypot(*(xy - xy[i]).T)
        for j in np.argsort(dist)[1:4]:
            t = float(dist[j]) * 400.0 / rng.uniform(5, 15)
            g.add_edge(i, int(j), travel_time=t, length=float(dist[j]) * 400.0)
            if rng.random() < 0.6:
                g.add_edge(int(j), i, travel_time=t, length=float(dist[j]) * 400.0)
    return g


def add_pocket(g: nx.MultiDiGraph, lon: float, lat: float) -> list[Any]:
    """A small two-way triangle of roads at (lon, lat), joined to nothing."""
    names = [10_000 + k for k in range(3)]
    offsets = [(0.0, 0.0), (0.002, 0.0), (0.001, 0.0015)]
    for name, (dx, dy) in zip(names, offsets, strict=True):
        g.add_node(name, x=lon + dx, y=lat + dy)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        g.add_edge(names[a], names[b], travel_time=20.0, length=200.0)
        g.add_edge(names[b], names[a], travel_time=20.0, length=200.0)
    return names


def facility(lon: float, lat: float, fid: str = "HC-1") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["health_center"]},
        geometry=shapely.points([lon], [lat]),
        index=pd.Index([fid], name="id"),
        crs=4326,
    )


def metric(arrays: GraphArrays, lon: float, lat: float) -> tuple[float, float]:
    tf = pyproj.Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True)
    x, y = tf.transform(lon, lat)
    return float(x), float(y)


def reference(
    g: nx.MultiDiGraph,
    arrays: GraphArrays,
    point: tuple[float, float],
    minutes: float,
    direction: str,
    access_speed_kph: float = settings.access_speed_kph,
) -> tuple[Mapping[Any, float], list[tuple[Any, Any, float]], Any, np.ndarray]:
    """networkx times from the facility's point, the searched edges, the reached pieces (a
    MultiLineString) and the facility's metric point."""
    fx, fy = metric(arrays, *point)
    xy = np.column_stack([arrays.x, arrays.y])
    d = np.hypot(xy[:, 0] - fx, xy[:, 1] - fy)
    node = arrays.nodes[int(np.argmin(d))]
    access = float(d.min()) / (access_speed_kph / 3.6)
    h = g if direction == "from_facility" else g.reverse(copy=True)
    times = {
        v: access + t
        for v, t in nx.single_source_dijkstra_path_length(h, node, weight="travel_time").items()
    }
    best: dict[tuple[Any, Any], float] = {}
    for u, v, data in h.edges(data=True):
        if u != v:
            best[(u, v)] = min(best.get((u, v), math.inf), float(data["travel_time"]))
    edges = [(u, v, w) for (u, v), w in best.items()]
    limit = minutes * 60.0
    pos = arrays.index
    pieces = []
    for u, v, w in edges:
        tu = times.get(u, math.inf)
        if tu <= limit:
            frac = min(1.0, (limit - tu) / w)
            a, b = xy[pos[u]], xy[pos[v]]
            pieces.append([a, a + frac * (b - a)])
    nxy = xy[pos[node]]
    frac = 1.0 if access <= 0 else min(1.0, limit / access)
    fxy = np.array([fx, fy])
    pieces.append([fxy, fxy + frac * (nxy - fxy)])
    return times, edges, shapely.multilinestrings(pieces), fxy


def check_exact(
    g: nx.MultiDiGraph,
    point: tuple[float, float],
    minutes: tuple[float, ...],
    buffer_m: float,
    direction: str = "from_facility",
    network: Any = None,
) -> list[Any]:
    """Run service_areas and check every polygon against the definition; return them."""
    arrays = graph_arrays(g)
    areas = service_areas(
        arrays if network is None else network,
        facility(*point),
        minutes=minutes,
        buffer_m=buffer_m,
        direction=direction,
    )
    assert areas["minutes"].tolist() == sorted(minutes)
    polys = areas.to_crs(arrays.crs).geometry.to_numpy()
    xy = np.column_stack([arrays.x, arrays.y])
    rng = np.random.default_rng(7)
    lo, hi = xy.min(axis=0) - 2 * buffer_m, xy.max(axis=0) + 2 * buffer_m
    scatter = rng.uniform(lo, hi, size=(4000, 2))
    fracs = np.linspace(0.0, 1.0, 21)
    for poly, mins, n_nodes in zip(polys, areas["minutes"], areas["n_nodes"], strict=True):
        limit = float(mins) * 60.0
        times, edges, pieces, fxy = reference(g, arrays, point, float(mins), direction)
        assert n_nodes == sum(t <= limit for t in times.values())
        # points along every edge, with the time they are reached at through it
        pts, when = [], []
        for u, v, w in edges:
            a, b = xy[arrays.index[u]], xy[arrays.index[v]]
            pts.append(a + fracs[:, None] * (b - a))
            when.append(times.get(u, math.inf) + fracs * w)
        along = np.vstack(pts)
        t_along = np.concatenate(when)
        # the access leg is a road too
        near_node = int(np.argmin(np.hypot(*(xy - fxy).T)))
        leg = fxy + fracs[:, None] * (xy[near_node] - fxy)
        t_leg = fracs * times[arrays.nodes[near_node]]  # the node's time is the access leg's
        reached = np.vstack([along[t_along <= limit - 0.5], leg[t_leg <= limit - 0.5]])
        assert len(reached) > 0
        assert shapely.contains_xy(poly, reached[:, 0], reached[:, 1]).all(), "reached road out"
        assert shapely.contains_xy(poly, *fxy), "the facility's own point is out"
        # anything farther than buffer_m from every reachable point is outside, anything
        # clearly within it inside
        seeds = reached[rng.integers(0, len(reached), 2000)]
        angle, radius = rng.uniform(0, 2 * np.pi, 2000), rng.uniform(0, 1.5 * buffer_m, 2000)
        around = seeds + np.column_stack([np.cos(angle), np.sin(angle)]) * radius[:, None]
        probe = np.vstack([along, leg, scatter, around])
        gap = shapely.distance(shapely.points(probe), pieces)
        inside = shapely.contains_xy(poly, probe[:, 0], probe[:, 1])
        far = gap > buffer_m * (1 + 1e-9) + 1e-6
        near = gap < INSIDE * buffer_m
        assert far.sum() > 100 and near.sum() > 100
        assert not inside[far].any(), "a point beyond the buffer of every reached piece is in"
        assert inside[near].all(), "a point near a reached piece is out"
        # and the polygon is the union of the reached pieces' buffers, built directly
        direct = shapely.buffer(pieces, buffer_m, quad_segs=4)
        assert shapely.symmetric_difference(poly, direct).area <= 1e-6 * direct.area
        assert areas.set_index("minutes").loc[mins, "area_km2"] == pytest.approx(
            direct.area / 1e6, rel=1e-6
        )
    return list(polys)


# --- exactness -----------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["from_facility", "to_facility"])
def test_grid_with_one_way_streets_matches_networkx(direction: str) -> None:
    g = grid_graph(9, seed=1)
    # a facility 150 m off the grid (an access leg of about 27 s)
    polys = check_exact(
        g, (LON0 + 4.1 * STEP, LAT0 + 3.7 * STEP), (1.0, 2.0, 30.0), 100.0, direction
    )
    # the whole (connected) grid at 30 minutes, only part of it before
    assert polys[0].area < polys[1].area < polys[2].area


def test_random_graph_matches_networkx_in_both_directions() -> None:
    g = random_graph(70, seed=5)
    point = (LON0 + 3.3 * STEP, LAT0 + 4.1 * STEP)
    frm = check_exact(g, point, (1.5, 3.0), 80.0, "from_facility")
    to = check_exact(g, point, (1.5, 3.0), 80.0, "to_facility")
    # one-way roads make the two directions differ
    assert shapely.symmetric_difference(frm[1], to[1]).area > 1e4


def test_networkx_input_gives_the_same_polygons() -> None:
    g = grid_graph(5, seed=3)
    point = (LON0 + 1.2 * STEP, LAT0 + 2.3 * STEP)
    arrays = graph_arrays(g)
    a = service_areas(arrays, facility(*point), minutes=(1, 2), buffer_m=60)
    b = service_areas(g, facility(*point), minutes=(1, 2), buffer_m=60)
    for p, q in zip(a.geometry, b.geometry, strict=True):
        assert shapely.symmetric_difference(p, q).area <= 1e-12 * p.area


def test_a_disconnected_pocket_near_the_facility_is_excluded() -> None:
    g = grid_graph(6, seed=2)
    # the pocket lies inside the grid's square, 400 m from the facility, roads of it about
    # 130-260 m from the nearest grid roads
    pocket = add_pocket(g, LON0 + 2.25 * STEP, LAT0 + 2.3 * STEP)
    point = (LON0 + 2.0 * STEP, LAT0 + 1.0 * STEP)
    polys = check_exact(g, point, (1.0, 30.0), 60.0, "from_facility")
    arrays = graph_arrays(g)
    corners = np.array([[arrays.x[arrays.index[p]], arrays.y[arrays.index[p]]] for p in pocket])
    mids = (corners + np.roll(corners, 1, axis=0)) / 2
    for poly in polys:
        assert not shapely.contains_xy(poly, corners[:, 0], corners[:, 1]).any()
        assert not shapely.contains_xy(poly, mids[:, 0], mids[:, 1]).any()
    # ... though the facility reaches (nearly) every road around it, close to the pocket
    times, _, pieces, _ = reference(g, arrays, point, 30.0, "from_facility")
    assert sum(t <= 1800 for t in times.values()) >= 30 and not set(pocket) & set(times)
    assert 60 < shapely.distance(shapely.multipoints(corners), pieces) < 300


def test_an_access_leg_longer_than_the_threshold_gives_its_walked_part() -> None:
    g = grid_graph(4, seed=4)
    # 1 km south of the grid: 180 s at 20 km/h
    point = (LON0 + 1.0 * STEP, LAT0 - 0.009)
    polys = check_exact(g, point, (1.0, 4.0), 50.0, "from_facility")
    assert polys[0].area < 2 * 50 * 400 + math.pi * 50**2


# --- arguments and outlines ----------------------------------------------------------------------


def test_options_give_the_direction_and_speeds_and_keywords_win() -> None:
    g = random_graph(50, seed=9)
    fac = facility(g.nodes[1]["x"] + 0.0003, g.nodes[1]["y"])
    arrays = graph_arrays(g)
    plain = service_areas(arrays, fac, minutes=2, direction="to_facility", access_speed_kph=10)
    opts = TravelOptions(direction="to_facility", access_speed_kph=10.0)
    with_opts = service_areas(arrays, fac, minutes=2, options=opts)
    assert with_opts.geometry.iloc[0].equals(plain.geometry.iloc[0])
    assert with_opts["n_nodes"].tolist() == [12]
    # a keyword wins over the field of options
    frm = service_areas(arrays, fac, minutes=2, access_speed_kph=10)
    overridden = service_areas(arrays, fac, minutes=2, options=opts, direction="from_facility")
    assert overridden.geometry.iloc[0].equals(frm.geometry.iloc[0])
    assert frm["n_nodes"].tolist() == [10]
    slow = service_areas(arrays, fac, minutes=2, options=opts, access_speed_kph=5)
    assert slow["area_km2"].iloc[0] < plain["area_km2"].iloc[0]
    # the default direction stays from the facility
    default = service_areas(arrays, fac, minutes=2, access_speed_kph=10, direction=None)
    assert default.geometry.iloc[0].equals(frm.geometry.iloc[0])
    with pytest.raises(TypeError, match="options must be a TravelOptions"):
        service_areas(arrays, fac, minutes=2, options={"direction": "to_facility"})  # type: ignore[arg-type]
    with pytest.raises(CoverageError, match="outline"):
        service_areas(arrays, fac, minutes=2, outline="convex")
    with pytest.raises(CostError, match="direction"):
        service_areas(arrays, fac, minutes=2, direction="sideways")
    # coverage re-exports the same function
    assert coverage_service_areas is service_areas


def test_concave_outline_holds_the_reached_roads() -> None:
    g = grid_graph(7, seed=6)
    point = (LON0 + 3.1 * STEP, LAT0 + 2.9 * STEP)
    arrays = graph_arrays(g)
    roads = service_areas(arrays, facility(*point), minutes=(1, 2), buffer_m=50)
    hull = service_areas(arrays, facility(*point), minutes=(1, 2), buffer_m=50, outline="concave")
    assert hull["n_nodes"].tolist() == roads["n_nodes"].tolist()
    assert hull["method"].eq("network").all()
    for h, mins in zip(hull.geometry, roads["minutes"], strict=True):
        _, _, pieces, _ = reference(g, arrays, point, float(mins), "from_facility")
        inside = shapely.get_coordinates(pieces)
        hull_m = gpd.GeoSeries([h], crs=4326).to_crs(arrays.crs).iloc[0]
        assert shapely.contains_xy(hull_m, inside[:, 0], inside[:, 1]).all()


def test_repeated_calls_reuse_the_cache_and_agree() -> None:
    g = grid_graph(8, seed=8)
    arrays = graph_arrays(g)
    fac = pd.concat(
        [
            facility(LON0 + 1.1 * STEP, LAT0 + 1.2 * STEP, "A"),
            facility(LON0 + 5.9 * STEP, LAT0 + 6.2 * STEP, "B"),
        ]
    )
    both = service_areas(arrays, fac, minutes=(2, 30), buffer_m=120)
    one = service_areas(arrays, fac.iloc[[1]], minutes=(2, 30), buffer_m=120)
    again = service_areas(arrays, fac, minutes=(2, 30), buffer_m=120)
    assert both["facility_id"].tolist() == ["A", "A", "B", "B"]
    for p, q in zip(both.geometry.iloc[2:], one.geometry, strict=True):
        assert shapely.symmetric_difference(p, q).area <= 1e-9 * p.area
    for p, q in zip(both.geometry, again.geometry, strict=True):
        assert shapely.symmetric_difference(p, q).area <= 1e-9 * p.area
    # at 30 minutes both reach the same roads: the same polygon but for the access legs
    assert both["n_nodes"].iloc[1] == both["n_nodes"].iloc[3]
    assert shapely.symmetric_difference(both.geometry.iloc[1], both.geometry.iloc[3]).area <= (
        1e-3 * both.geometry.iloc[1].area
    )


# --- catchments (mode="nearest") -----------------------------------------------------------------

FRACS = np.linspace(0.0, 1.0, 101)  # sample points along every road


def facilities_at(points: list[tuple[float, float]], names: str) -> gpd.GeoDataFrame:
    return pd.concat([facility(lon, lat, n) for (lon, lat), n in zip(points, names, strict=True)])


def nearest_reference(
    g: nx.MultiDiGraph, arrays: GraphArrays, points: list[tuple[float, float]], direction: str
) -> dict[str, Any]:
    """Independent catchments from networkx: every facility's times to every node (access leg
    included), and road points sampled along every segment with the time each facility reaches
    them at (through either end), their first facility (input order on ties) and the margin to
    the second; plus every facility's access-leg points."""
    xy = np.column_stack([arrays.x, arrays.y])
    h = g if direction == "from_facility" else g.reverse(copy=True)
    times = np.full((len(points), arrays.n), np.inf)
    legs, nodes = [], []
    for i, point in enumerate(points):
        fxy = np.array(metric(arrays, *point))
        d = np.hypot(*(xy - fxy).T)
        node = int(np.argmin(d))
        access = float(d.min()) / (settings.access_speed_kph / 3.6)
        for v, t in nx.single_source_dijkstra_path_length(
            h, arrays.nodes[node], weight="travel_time"
        ).items():
            times[i, arrays.index[v]] = access + t
        legs.append((fxy + FRACS[:, None] * (xy[node] - fxy), FRACS * access))
        nodes.append(node)
    w: dict[tuple[int, int], float] = {}
    for u, v, data in h.edges(data=True):
        if u != v:
            key = (arrays.index[u], arrays.index[v])
            w[key] = min(w.get(key, math.inf), float(data["travel_time"]))
    segs = sorted({(min(a, b), max(a, b)) for a, b in w})
    pts, when = [], []
    for a, b in segs:
        pts.append(xy[a] + FRACS[:, None] * (xy[b] - xy[a]))
        inf = np.full((len(points), len(FRACS)), np.inf)
        via_a = times[:, a, None] + FRACS[None, :] * w[(a, b)] if (a, b) in w else inf
        via_b = times[:, b, None] + (1 - FRACS[None, :]) * w[(b, a)] if (b, a) in w else inf
        when.append(np.minimum(via_a, via_b))
    t_road = np.concatenate(when, axis=1)  # facilities x road points
    order = np.sort(t_road, axis=0)
    seg_len = max(float(np.hypot(*(xy[a] - xy[b]))) for a, b in segs)
    margin = np.full(order.shape[1], np.inf)
    if len(points) > 1:
        both = np.isfinite(order[1])
        margin[both] = order[1][both] - order[0][both]
    return {
        "times": times,
        "edges": w,
        "nodes": nodes,
        "road": np.vstack(pts),
        "t_road": t_road,
        "best": order[0],
        "owner": np.argmin(t_road, axis=0),  # the first facility on ties
        "margin": margin,
        "legs": legs,
        "spacing": seg_len / (len(FRACS) - 1),
        "xy": xy,
    }


def owned_pieces(ref: dict[str, Any], f: int, limit: float) -> Any:
    """The owned pieces of facility ``f`` by their definition, from the networkx times."""
    times, xy = ref["times"], ref["xy"]
    best, owner = times.min(axis=0), np.argmin(times, axis=0)
    pieces = []
    for (u, v), w in ref["edges"].items():
        if owner[u] != f or best[u] > limit:
            continue
        cap = 1.0
        back = ref["edges"].get((v, u))
        if back is not None and owner[v] != f and math.isfinite(best[v]):
            cap = (best[v] + back - best[u]) / (w + back)
        frac = min(1.0, (limit - best[u]) / w, cap)
        if frac > 0:
            pieces.append([xy[u], xy[u] + frac * (xy[v] - xy[u])])
    leg, t_leg = ref["legs"][f]
    frac = 1.0 if t_leg[-1] <= 0 else min(1.0, limit / t_leg[-1])
    pieces.append([leg[0], leg[0] + frac * (leg[-1] - leg[0])])
    return shapely.multilinestrings(pieces)


def check_nearest(
    g: nx.MultiDiGraph,
    points: list[tuple[float, float]],
    minutes: tuple[float, ...],
    buffer_m: float,
    direction: str = "from_facility",
) -> gpd.GeoDataFrame:
    """Run the catchments and check each polygon against networkx; return them (metric)."""
    arrays = graph_arrays(g)
    names = "ABCDEFGH"[: len(points)]
    fac = facilities_at(points, names)
    areas = service_areas(
        arrays, fac, minutes=minutes, buffer_m=buffer_m, direction=direction, mode="nearest"
    )
    assert areas["facility_id"].tolist() == [n for n in names for _ in minutes]
    ref = nearest_reference(g, arrays, points, direction)
    metric_areas = areas.to_crs(arrays.crs)
    rng = np.random.default_rng(11)
    xy = ref["xy"]
    lo, hi = xy.min(axis=0) - 2 * buffer_m, xy.max(axis=0) + 2 * buffer_m
    scatter = rng.uniform(lo, hi, size=(4000, 2))
    tol = ref["spacing"] + 1e-6
    for row in metric_areas.itertuples():
        f, limit, poly = names.index(row.facility_id), float(row.minutes) * 60.0, row.geometry
        times = ref["times"]
        node_owner = np.argmin(times, axis=0)
        assert row.n_nodes == int(np.sum((node_owner == f) & (times.min(axis=0) <= limit)))
        leg, t_leg = ref["legs"][f]
        # (a) every road point f reaches first within T (clearly) is inside, and its own leg
        sure = (ref["owner"] == f) & (ref["best"] <= limit - 0.5) & (ref["margin"] > 0.5)
        sure_pts = np.vstack([ref["road"][sure], leg[t_leg <= limit - 0.5]])
        assert shapely.contains_xy(poly, sure_pts[:, 0], sure_pts[:, 1]).all(), "own road out"
        # (b) every point inside lies within buffer_m of a road point f reaches first within T
        mine = (ref["owner"] == f) & (ref["best"] <= limit)
        owned = np.vstack([ref["road"][mine], leg[t_leg <= limit]])
        seeds = owned[rng.integers(0, len(owned), 2000)]
        angle, radius = rng.uniform(0, 2 * np.pi, 2000), rng.uniform(0, 1.5 * buffer_m, 2000)
        around = seeds + np.column_stack([np.cos(angle), np.sin(angle)]) * radius[:, None]
        probe = np.vstack([ref["road"], scatter, around])
        gap = cKDTree(owned).query(probe)[0]
        inside = shapely.contains_xy(poly, probe[:, 0], probe[:, 1])
        assert (gap[inside] <= buffer_m * (1 + 1e-9) + tol).all(), "a point far from f's roads"
        sure_gap = cKDTree(sure_pts).query(probe)[0]
        assert inside[sure_gap < INSIDE * buffer_m].all(), "a point near f's own road is out"
        # and it is the union of the owned pieces' buffers, built directly, but for the arc
        # vertices (a filled block of faces is buffered whole): they differ only between
        # 0.97 and 1 buffer_m from the pieces
        pieces = owned_pieces(ref, f, limit)
        direct = shapely.buffer(pieces, buffer_m, quad_segs=4)
        diff = shapely.symmetric_difference(poly, direct)
        assert diff.area <= 1e-3 * direct.area
        inner = shapely.buffer(pieces, INSIDE * buffer_m, quad_segs=16)
        outer = shapely.buffer(pieces, buffer_m * (1 + 1e-6), quad_segs=64)
        assert shapely.intersection(diff, inner).area <= 1e-6 * direct.area
        assert shapely.difference(diff, outer).area <= 1e-6 * direct.area
    return metric_areas


def union_matches_reach(
    arrays: GraphArrays, fac: gpd.GeoDataFrame, minutes: tuple[float, ...], **kw: Any
) -> None:
    """(c) per T, the union of the catchments is the union of the reach polygons."""
    near = service_areas(arrays, fac, minutes=minutes, mode="nearest", **kw)
    reach = service_areas(arrays, fac, minutes=minutes, **kw)
    for mins in minutes:
        a = shapely.union_all(near[near["minutes"] == mins].to_crs(arrays.crs).geometry.to_numpy())
        b = shapely.union_all(
            reach[reach["minutes"] == mins].to_crs(arrays.crs).geometry.to_numpy()
        )
        assert shapely.symmetric_difference(a, b).area <= 1e-3 * b.area


@pytest.mark.parametrize("direction", ["from_facility", "to_facility"])
def test_catchments_on_a_grid_with_one_way_streets_match_networkx(direction: str) -> None:
    g = grid_graph(9, seed=1)
    points = [
        (LON0 + 1.1 * STEP, LAT0 + 1.2 * STEP),
        (LON0 + 6.9 * STEP, LAT0 + 2.1 * STEP),
        (LON0 + 4.1 * STEP, LAT0 + 7.3 * STEP),  # about 150 m off the grid
    ]
    areas = check_nearest(g, points, (1.0, 2.0, 30.0), 100.0, direction)
    at30 = areas[areas["minutes"] == 30.0].geometry.to_numpy()
    # every facility owns a real share of the grid, and the whole grid is reached at 30 min
    assert (areas[areas["minutes"] == 30.0]["n_nodes"] >= 10).all()
    assert areas[areas["minutes"] == 30.0]["n_nodes"].sum() == 81
    # (d) different facilities overlap only along their borders, within the buffers
    for i in range(3):
        for j in range(i + 1, 3):
            overlap = shapely.intersection(at30[i], at30[j]).area
            assert overlap < 0.15 * min(at30[i].area, at30[j].area)
    union_matches_reach(
        graph_arrays(g),
        facilities_at(points, "ABC"),
        (2.0, 30.0),
        buffer_m=100.0,
        direction=direction,
    )


def test_catchments_with_wide_buffers_and_roads_crossing_without_a_node() -> None:
    # a buffer wider than half the blocks: whole blocks of roads are filled
    g = grid_graph(8, seed=12)
    # two-way diagonals crossing in three blocks (a bridge over a road: no shared node)
    for i, j in ((1, 1), (4, 2), (5, 5)):
        a, b, c, d = i * 8 + j, (i + 1) * 8 + j + 1, (i + 1) * 8 + j, i * 8 + j + 1
        for u, v in ((a, b), (c, d)):
            g.add_edge(u, v, travel_time=60.0, length=560.0)
            g.add_edge(v, u, travel_time=60.0, length=560.0)
    points = [
        (LON0 + 1.2 * STEP, LAT0 + 1.9 * STEP),
        (LON0 + 5.8 * STEP, LAT0 + 5.1 * STEP),
        (LON0 + 6.1 * STEP, LAT0 + 0.8 * STEP),
    ]
    for direction in ("from_facility", "to_facility"):
        areas = check_nearest(g, points, (2.0, 30.0), 260.0, direction)
        assert areas[areas["minutes"] == 30.0]["n_nodes"].min() >= 8
    union_matches_reach(graph_arrays(g), facilities_at(points, "ABC"), (2.0, 30.0), buffer_m=260.0)


def test_overlapping_faces_fall_back_to_a_plain_union() -> None:
    from siting.service_areas import _union_faces

    tiles = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], dtype=object)
    assert _union_faces(tiles).equals(shapely.box(0, 0, 2, 1))
    for extra in (shapely.box(0.5, 0.5, 1.5, 2), shapely.box(0.2, 0.2, 0.8, 0.8)):
        faces = np.append(tiles, extra)
        merged = _union_faces(faces)
        assert merged.is_valid
        assert shapely.symmetric_difference(merged, shapely.union_all(faces)).area < 1e-12


def test_catchments_of_one_way_streets_differ_by_direction() -> None:
    g = random_graph(70, seed=5)
    points = [(LON0 + 1.3 * STEP, LAT0 + 2.1 * STEP), (LON0 + 5.3 * STEP, LAT0 + 5.1 * STEP)]
    frm = check_nearest(g, points, (1.5, 3.0), 80.0, "from_facility")
    to = check_nearest(g, points, (1.5, 3.0), 80.0, "to_facility")
    assert shapely.symmetric_difference(frm.geometry.iloc[1], to.geometry.iloc[1]).area > 1e4
    union_matches_reach(graph_arrays(g), facilities_at(points, "AB"), (1.5, 3.0), buffer_m=80.0)


def test_catchments_exclude_a_disconnected_pocket_and_keep_long_access_legs() -> None:
    g = grid_graph(6, seed=2)
    pocket = add_pocket(g, LON0 + 2.25 * STEP, LAT0 + 2.3 * STEP)
    # one facility in the grid, one 1 km south of it (an access leg of 180 s)
    points = [(LON0 + 2.0 * STEP, LAT0 + 1.0 * STEP), (LON0 + 4.0 * STEP, LAT0 - 0.009)]
    areas = check_nearest(g, points, (1.0, 2.0, 30.0), 60.0)
    arrays = graph_arrays(g)
    corners = np.array([[arrays.x[arrays.index[p]], arrays.y[arrays.index[p]]] for p in pocket])
    for poly in areas.geometry:
        assert not shapely.contains_xy(poly, corners[:, 0], corners[:, 1]).any()
    # the far facility: its leg only while walking it, then its share of the grid
    assert areas["n_nodes"].tolist()[3:] == [0, 0, areas["n_nodes"].iloc[5]]
    assert areas["n_nodes"].iloc[5] >= 3 and areas["area_km2"].iloc[3] < 0.1


def test_facilities_at_the_same_place_go_to_the_first_listed() -> None:
    g = grid_graph(7, seed=6)
    arrays = graph_arrays(g)
    here = (LON0 + 3.1 * STEP, LAT0 + 2.9 * STEP)
    other = (LON0 + 0.9 * STEP, LAT0 + 5.2 * STEP)
    check_nearest(g, [here, here, other], (2.0, 30.0), 50.0)
    for names in ("BAC", "ABC"):
        fac = facilities_at([here, here, other], names)
        out = service_areas(arrays, fac, minutes=30, buffer_m=50, mode="nearest")
        got = dict(zip(out["facility_id"], out["n_nodes"], strict=True))
        first, second = names[0], names[1]
        assert got[first] > 10 and got[second] == 0  # (e) the tie goes to the first listed
        leg = out.set_index("facility_id").to_crs(arrays.crs).geometry[second]
        fxy = metric(arrays, *here)
        assert shapely.contains_xy(leg, *fxy) and leg.area < 2 * 50 * 160 + math.pi * 50**2
    # at the same node, the nearer facility wins whatever the order
    near_node = (float(g.nodes[24]["x"]), float(g.nodes[24]["y"]))
    farther = (near_node[0] + 0.0004, near_node[1])
    out = service_areas(
        arrays, facilities_at([farther, near_node], "AB"), minutes=30, mode="nearest"
    )
    assert out["n_nodes"].tolist() == [0, 49]


def test_a_facility_on_a_node_has_no_access_leg_and_owns_it() -> None:
    g = grid_graph(5, seed=3)
    on_nodes = [(float(g.nodes[k]["x"]), float(g.nodes[k]["y"])) for k in (6, 18)]
    arrays = graph_arrays(g)
    fx, fy = metric(arrays, *on_nodes[0])
    assert (fx, fy) == (arrays.x[arrays.index[6]], arrays.y[arrays.index[6]])  # access 0
    areas = check_nearest(g, on_nodes, (0.5, 2.0), 40.0)
    assert (areas["n_nodes"] >= 1).all()
    # no road (buffer 0): empty polygons, never an error
    flat = service_areas(
        arrays, facilities_at(on_nodes, "AB"), minutes=2, buffer_m=0, mode="nearest"
    )
    assert flat["area_km2"].eq(0).all() and flat["n_nodes"].ge(1).all()


def test_concave_catchments_hold_their_owned_roads() -> None:
    g = grid_graph(7, seed=6)
    arrays = graph_arrays(g)
    points = [(LON0 + 1.1 * STEP, LAT0 + 1.2 * STEP), (LON0 + 5.1 * STEP, LAT0 + 4.9 * STEP)]
    fac = facilities_at(points, "AB")
    hull = service_areas(
        arrays, fac, minutes=(1, 30), buffer_m=50, outline="concave", mode="nearest"
    )
    roads = service_areas(arrays, fac, minutes=(1, 30), buffer_m=50, mode="nearest")
    assert hull["n_nodes"].tolist() == roads["n_nodes"].tolist()
    ref = nearest_reference(g, arrays, points, "from_facility")
    for row in hull.to_crs(arrays.crs).itertuples():
        f, limit = "AB".index(row.facility_id), float(row.minutes) * 60.0
        ends = shapely.get_coordinates(owned_pieces(ref, f, limit))
        assert shapely.contains_xy(row.geometry, ends[:, 0], ends[:, 1]).all()
    at30 = hull[hull["minutes"] == 30].to_crs(arrays.crs).geometry.to_numpy()
    assert shapely.intersection(at30[0], at30[1]).area < 0.5 * min(a.area for a in at30)


def test_straight_line_catchments_are_circles_cut_to_voronoi_cells() -> None:
    points = [(LON0, LAT0), (LON0 + 0.05, LAT0), (LON0 + 0.05, LAT0)]
    fac = facilities_at(points, "ABC")
    near = service_areas(None, fac, minutes=(5, 30), mode="nearest")
    reach = service_areas(None, fac, minutes=(5, 30))
    # 5 minutes: circles too small to meet, unchanged; C shares B's point and gets nothing
    for k in (0, 2):
        assert near.geometry.iloc[k].equals(reach.geometry.iloc[k])
    assert near["area_km2"].iloc[4:].eq(0).all()
    # 30 minutes: the two circles meet and are cut along the bisector
    a, b = near.geometry.iloc[1], near.geometry.iloc[3]
    assert a.intersection(b).area < 1e-6 * a.area  # (reprojection slivers only)
    assert (
        a.union(b).symmetric_difference(reach.geometry.iloc[1].union(reach.geometry.iloc[3])).area
        < 1e-4 * a.area  # the inscribed polygons differ where circles cross
    )
    mid = LON0 + 0.025
    assert a.bounds[2] == pytest.approx(mid, abs=1e-3) and b.bounds[0] == pytest.approx(
        mid, abs=1e-3
    )


def test_a_bad_mode_is_an_error_naming_the_modes() -> None:
    g = grid_graph(4, seed=4)
    fac = facility(LON0 + 1.0 * STEP, LAT0 + 1.0 * STEP)
    for bad in ("nearest_facility", "", None, 1):
        with pytest.raises(CoverageError, match=r"mode must be one of \('reach', 'nearest'\)"):
            service_areas(graph_arrays(g), fac, minutes=2, mode=bad)  # type: ignore[arg-type]
    with pytest.raises(CoverageError, match="mode must be one of"):
        service_areas(None, fac, minutes=2, mode="voronoi")
    assert MODES == ("reach", "nearest")
