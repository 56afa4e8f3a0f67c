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

from siting import settings
from siting._errors import CostError
from siting.costs import TravelOptions
from siting.coverage import service_areas as coverage_service_areas
from siting.graph import GraphArrays, graph_arrays
from siting.service_areas import CoverageError, service_areas

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
