"""Tests of siting.costs: nearest, k nearest, reach, OD matrices and the incremental index.

Small graphs are built in code with answers worked out by hand; random graphs are checked against
networkx (multi-source and single-source Dijkstra) in both directions; a property-based test
checks that adding facilities to an index equals recomputing with all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import Point, points

from siting import costs
from siting import settings as ssettings
from siting._graph import GraphArrays, graph_arrays, snap
from siting.costs import CostError, NearestIndex, nearest, od_matrix, reach, reach_count
from siting.graph import forget
from siting.network import add_travel_times

LON0, LAT0 = 106.08, 30.80  # Nanchong
STEP = 0.01  # degrees between hand-made nodes (about 1 km)
SECONDS_PER_M_ACCESS = 3.6 / ssettings.access_speed_kph

# --- helpers -------------------------------------------------------------------------------------


def graph(
    nodes: Mapping[Any, tuple[float, float]],
    edges: Sequence[tuple[Any, Any, float, float]],
    *,
    two_way: bool = True,
) -> nx.MultiDiGraph:
    """An osmnx-style graph: nodes at (i, j) grid steps from Nanchong, edges (u, v, s, m)."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (i, j) in nodes.items():
        g.add_node(n, x=LON0 + i * STEP, y=LAT0 + j * STEP)
    for u, v, t, m in edges:
        g.add_edge(u, v, travel_time=float(t), length=float(m))
        if two_way:
            g.add_edge(v, u, travel_time=float(t), length=float(m))
    return g


def at(g: nx.MultiDiGraph, places: dict[str, Any], **columns: Any) -> gpd.GeoDataFrame:
    """Points exactly at graph nodes (no access leg), indexed by the given ids."""
    ids = list(places)
    geom = points([g.nodes[places[i]]["x"] for i in ids], [g.nodes[places[i]]["y"] for i in ids])
    return gpd.GeoDataFrame(columns, geometry=geom, index=pd.Index(ids, name="id"), crs=4326)


def lonlat(ids: Sequence[str], lon: npt.ArrayLike, lat: npt.ArrayLike) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        geometry=points(lon, lat), index=pd.Index(list(ids), name="id"), crs=4326
    )


def rows(frame: pd.DataFrame, demand_id: str) -> list[tuple[Any, ...]]:
    """(rank, facility, time, distance) of one demand point, NaN/NA as None."""
    sub = frame[frame["demand_id"] == demand_id]
    out = []
    for r in records(sub):
        fid = None if pd.isna(r["facility_id"]) else r["facility_id"]
        t = None if math.isnan(r["time_s"]) else round(r["time_s"], 6)
        d = None if math.isnan(r["distance_m"]) else round(r["distance_m"], 6)
        out.append((r["rank"], fid, t, d))
    return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def no_inf(frame: pd.DataFrame) -> None:
    floats = frame.select_dtypes("float")
    assert not np.isinf(floats.to_numpy()).any()


# --- hand-worked graphs --------------------------------------------------------------------------

#   a --60s/1000m-- b --120s/2000m-- c --60s/1000m-- d
LINE = {"a": (0, 0), "b": (1, 0), "c": (2, 0), "d": (3, 0)}
LINE_EDGES = [("a", "b", 60, 1000), ("b", "c", 120, 2000), ("c", "d", 60, 1000)]


def test_nearest_on_a_line() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d"})
    dem = at(g, {"v-b": "b", "v-c": "c"})
    out = nearest(g, dem, fac)
    assert list(out.columns) == list(costs.COLUMNS)
    assert rows(out, "v-b") == [(1, "HC-1", 60.0, 1000.0)]
    assert rows(out, "v-c") == [(1, "HC-2", 60.0, 1000.0)]
    assert out["method"].eq("network").all() and out["reachable"].all()
    assert out["demand_snap_m"].eq(0).all() and out["facility_snap_m"].eq(0).all()
    assert not out["snap_flag"].any()


def test_k2_ranks_and_road_lengths() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d"})
    dem = at(g, {"v-b": "b", "v-c": "c"})
    out = nearest(g, dem, fac, k=2)
    assert rows(out, "v-b") == [(1, "HC-1", 60.0, 1000.0), (2, "HC-2", 180.0, 3000.0)]
    assert rows(out, "v-c") == [(1, "HC-2", 60.0, 1000.0), (2, "HC-1", 180.0, 3000.0)]
    # k larger than the number of facilities: the extra rank is reported unreachable
    out3 = nearest(g, dem, fac, k=3)
    assert rows(out3, "v-b")[2] == (3, None, None, None)
    assert out3.groupby("demand_id").size().eq(3).all()


def test_ties_go_to_the_smaller_id_in_both_directions() -> None:
    #   x --30-- m --30-- y,  m --10-- z   (z ties between x and y at 40 s)
    g = graph(
        {"x": (0, 0), "m": (1, 0), "y": (2, 0), "z": (1, 1)},
        [("x", "m", 30, 300), ("m", "y", 30, 300), ("m", "z", 10, 100)],
    )
    fac = at(g, {"HC-2": "x", "HC-1": "y"})  # inserted out of id order
    dem = at(g, {"v-m": "m", "v-z": "z"})
    for direction in costs.DIRECTIONS:
        out = nearest(g, dem, fac, k=2, direction=direction)
        assert rows(out, "v-m") == [(1, "HC-1", 30.0, 300.0), (2, "HC-2", 30.0, 300.0)]
        assert rows(out, "v-z") == [(1, "HC-1", 40.0, 400.0), (2, "HC-2", 40.0, 400.0)]
    # a tie the search meets in the wrong order: HC-2 reaches m in one hop (settled first),
    # HC-1 in two; the smaller id must still win, and downstream of m too
    g2 = graph(
        {"x": (0, 0), "m": (1, 0), "w": (2, 0), "y": (3, 0), "z": (1, 1)},
        [("x", "m", 30, 300), ("y", "w", 15, 150), ("w", "m", 15, 160), ("m", "z", 10, 100)],
    )
    fac2 = at(g2, {"HC-2": "x", "HC-1": "y"})
    dem2 = at(g2, {"v-m": "m", "v-z": "z"})
    for direction in costs.DIRECTIONS:
        out = nearest(g2, dem2, fac2, direction=direction)
        assert rows(out, "v-m") == [(1, "HC-1", 30.0, 310.0)]
        assert rows(out, "v-z") == [(1, "HC-1", 40.0, 410.0)]
    fac3 = at(g2, {"HC-1": "x", "HC-2": "y"})  # and the other way round
    assert rows(nearest(g2, dem2, fac3), "v-z") == [(1, "HC-1", 40.0, 400.0)]
    # co-located facilities tie everywhere
    both = at(g, {"NH-b": "x", "NH-a": "x"})
    out = nearest(g, dem, both, k=2)
    assert [r[1] for r in rows(out, "v-z")] == ["NH-a", "NH-b"]
    # the straight-line fallback breaks ties the same way
    out = nearest(None, dem, both, k=2)
    assert out["facility_id"].tolist() == ["NH-a", "NH-b"] * 2
    assert out["time_s"].iloc[0] == out["time_s"].iloc[1]


def test_one_way_streets() -> None:
    # A -> B only (10 s); back from B to A goes round: B -> C (20 s) -> A (20 s)
    g = graph(
        {"A": (0, 0), "B": (1, 0), "C": (1, 1)},
        [("A", "B", 10, 100), ("B", "C", 20, 200), ("C", "A", 20, 250)],
        two_way=False,
    )
    fac = at(g, {"HC-A": "A"})
    dem = at(g, {"v-B": "B"})
    to = nearest(g, dem, fac, direction="to_facility")
    assert rows(to, "v-B") == [(1, "HC-A", 40.0, 450.0)]
    back = nearest(g, dem, fac, direction="from_facility")
    assert rows(back, "v-B") == [(1, "HC-A", 10.0, 100.0)]
    # the OD matrix measures origin -> destination
    od = od_matrix(g, dem, fac)
    assert od[["time_s", "distance_m"]].values.tolist() == [[40.0, 450.0]]
    od = od_matrix(g, fac, dem)
    assert od[["time_s", "distance_m"]].values.tolist() == [[10.0, 100.0]]


def test_components_unreachable_rows() -> None:
    g = graph(
        {"P": (0, 0), "Q": (1, 0), "R": (5, 5), "S": (6, 5)},
        [("P", "Q", 10, 100), ("R", "S", 10, 100)],
    )
    fac = at(g, {"HC-P": "P"})
    dem = at(g, {"v-Q": "Q", "v-S": "S"})
    out = nearest(g, dem, fac, k=2)
    no_inf(out)
    assert rows(out, "v-Q") == [(1, "HC-P", 10.0, 100.0), (2, None, None, None)]
    assert rows(out, "v-S") == [(1, None, None, None), (2, None, None, None)]
    s = out[out["demand_id"] == "v-S"]
    assert not s["reachable"].any() and s["facility_snap_m"].isna().all()
    assert s["facility_id"].isna().all() and s["demand_snap_m"].eq(0).all()
    od = od_matrix(g, dem, fac, wide=True)
    assert od.to_numpy().ravel().tolist()[0] == pytest.approx(10 / 60)
    assert np.isnan(od.to_numpy()[1, 0])
    assert reach_count(g, dem, fac, minutes=60).to_dict() == {"v-Q": 1, "v-S": 0}


def test_parallel_edges_fastest_wins() -> None:
    g = graph({"A": (0, 0), "B": (1, 0)}, [], two_way=False)
    g.add_edge("A", "B", travel_time=10.0, length=500.0)
    g.add_edge("A", "B", travel_time=5.0, length=800.0)  # faster, longer
    g.add_edge("B", "A", travel_time=7.0, length=400.0)
    fac = at(g, {"HC-B": "B"})
    dem = at(g, {"v-A": "A"})
    assert rows(nearest(g, dem, fac), "v-A") == [(1, "HC-B", 5.0, 800.0)]
    assert rows(nearest(g, dem, fac, direction="from_facility"), "v-A") == [(1, "HC-B", 7.0, 400.0)]


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    tf = pyproj.Transformer.from_crs(4326, 32648, always_xy=True)
    (x1, x2), (y1, y2) = tf.transform([lon1, lon2], [lat1, lat2])
    return float(math.hypot(x2 - x1, y2 - y1))


def test_access_legs_are_added() -> None:
    g = graph(LINE, LINE_EDGES)
    a, b = g.nodes["a"], g.nodes["b"]
    # facility 0.004 deg north of a (~440 m), demand 0.002 deg south of b (~220 m)
    fac = lonlat(["HC-1"], [a["x"]], [a["y"] + 0.004])
    dem = lonlat(["v-1"], [b["x"]], [b["y"] - 0.002])
    out = nearest(g, dem, fac)
    f_m = _metres(a["x"], a["y"], a["x"], a["y"] + 0.004)
    d_m = _metres(b["x"], b["y"], b["x"], b["y"] - 0.002)
    (row,) = records(out)
    assert row["facility_snap_m"] == pytest.approx(f_m, rel=1e-9)
    assert row["demand_snap_m"] == pytest.approx(d_m, rel=1e-9)
    assert row["time_s"] == pytest.approx(60 + (f_m + d_m) * SECONDS_PER_M_ACCESS, rel=1e-12)
    assert row["distance_m"] == pytest.approx(1000.0)  # road metres only
    assert not row["snap_flag"]
    # the access speed override changes the legs
    slow = nearest(g, dem, fac, access_speed_kph=10.0)
    assert slow["time_s"].iloc[0] == pytest.approx(60 + (f_m + d_m) * 0.36, rel=1e-12)


def test_snap_flag_on_every_row_that_uses_a_far_point() -> None:
    g = graph(LINE, LINE_EDGES)
    a = g.nodes["a"]
    far = lonlat(["HC-far"], [a["x"]], [a["y"] + 0.03])  # ~3.3 km from any node
    near = at(g, {"HC-near": "d"})
    fac = pd.concat([far, near])
    dem = at(g, {"v-a": "a", "v-c": "c"})
    out = nearest(g, dem, fac, k=2)
    uses_far = out["facility_id"] == "HC-far"
    assert uses_far.sum() == 2
    assert out.loc[uses_far, "snap_flag"].all() and not out.loc[~uses_far, "snap_flag"].any()
    assert not nearest(g, dem, fac, k=2, max_snap_m=5_000)["snap_flag"].any()
    # a far demand point flags all its rows, reachable or not
    dem_far = lonlat(["v-far"], [a["x"]], [a["y"] - 0.03])
    out = nearest(g, dem_far, near, k=2)
    assert out["snap_flag"].tolist() == [True, True]


def test_max_time_s() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d"})
    dem = at(g, {"v-b": "b"})
    out = nearest(g, dem, fac, k=2, max_time_s=100)
    assert rows(out, "v-b") == [(1, "HC-1", 60.0, 1000.0), (2, None, None, None)]
    out = nearest(g, dem, fac, max_time_s=59.9)
    assert rows(out, "v-b") == [(1, None, None, None)]
    out = nearest(g, dem, fac, k=2, max_time_s=180)  # the bound is inclusive
    assert rows(out, "v-b")[1] == (2, "HC-2", 180.0, 3000.0)


def test_reach_and_counts() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d", "HC-3": "c"})
    dem = at(g, {"v-b": "b", "v-d": "d"})
    out = reach(g, dem, fac, minutes=2)
    assert list(out.columns) == list(costs.COLUMNS)
    assert rows(out, "v-b") == [(1, "HC-1", 60.0, 1000.0), (2, "HC-3", 120.0, 2000.0)]
    assert rows(out, "v-d") == [(1, "HC-2", 0.0, 0.0), (2, "HC-3", 60.0, 1000.0)]
    assert reach_count(g, dem, fac, minutes=2).tolist() == [2, 2]
    assert reach_count(g, dem, fac, minutes=0.5).tolist() == [0, 1]
    none = reach(g, dem, fac, minutes=0.5)
    assert rows(none, "v-b") == [(1, None, None, None)]
    counts = reach_count(g, dem, fac, minutes=10)
    assert counts.index.equals(dem.index) and counts.dtype == np.int64
    assert counts.tolist() == [3, 3]


def test_graph_arrays_and_undirected_graphs_give_the_same() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d"})
    dem = at(g, {"v-b": "b", "v-c": "c"})
    ref = nearest(g, dem, fac, k=2)
    pd.testing.assert_frame_equal(nearest(graph_arrays(g), dem, fac, k=2), ref)
    und = nx.Graph()
    und.add_nodes_from(g.nodes(data=True))
    und.add_edges_from((u, v, d) for u, v, d in g.edges(data=True))
    pd.testing.assert_frame_equal(nearest(und, dem, fac, k=2), ref)


# --- the straight-line fallback ------------------------------------------------------------------


def test_straight_line_fallback_value() -> None:
    dem = lonlat(["v-1"], [106.08], [30.80])
    fac = lonlat(["HC-511302-00001"], [106.10], [30.81])
    out = nearest(None, dem, fac)
    metres = _metres(106.08, 30.80, 106.10, 30.81)  # EPSG:32648 is the UTM zone of Nanchong
    (row,) = records(out)
    assert row["method"] == "straight_line" and row["reachable"]
    assert row["distance_m"] == pytest.approx(metres * ssettings.detour_factor, rel=1e-9)
    expected = metres * ssettings.detour_factor / (ssettings.straight_line_speed_kph / 3.6)
    assert row["time_s"] == pytest.approx(expected, rel=1e-9)
    assert math.isnan(row["demand_snap_m"]) and math.isnan(row["facility_snap_m"])
    assert not row["snap_flag"]
    # overrides
    out = nearest(None, dem, fac, detour_factor=1.0, straight_line_speed_kph=36.0)
    assert out["time_s"].iloc[0] == pytest.approx(metres / 10.0, rel=1e-9)
    # OD and reach say the same
    od = od_matrix(None, dem, fac)
    assert od["time_s"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert od["method"].iloc[0] == "straight_line"
    within = reach(None, dem, fac, minutes=expected / 60 + 0.01)
    assert within["facility_id"].tolist() == ["HC-511302-00001"]
    assert reach_count(None, dem, fac, minutes=expected / 60 - 0.01).tolist() == [0]


def test_straight_line_k_nearest_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    dem = lonlat(
        [f"v{i}" for i in range(40)], 106 + rng.random(40) * 0.2, 30.7 + rng.random(40) * 0.2
    )
    lon, lat = 106 + rng.random(25) * 0.2, 30.7 + rng.random(25) * 0.2
    lon[5], lat[5] = lon[4], lat[4]  # a co-located pair
    fac = lonlat([f"HC-{i:02d}" for i in range(25)][::-1], lon, lat)
    out = nearest(None, dem, fac, k=4)
    tf = pyproj.Transformer.from_crs(4326, 32648, always_xy=True)
    dx, dy = tf.transform(dem.geometry.x.to_numpy(), dem.geometry.y.to_numpy())
    fx, fy = tf.transform(lon, lat)
    ids = fac.index.to_numpy()
    for i, did in enumerate(dem.index):
        t = np.hypot(dx[i] - fx, dy[i] - fy) * 1.3 / (35 / 3.6)
        best = sorted(zip(t, ids, strict=True))[:4]
        got = out[out["demand_id"] == did]
        assert got["facility_id"].tolist() == [b for _, b in best]
        np.testing.assert_allclose(got["time_s"], [a for a, _ in best], rtol=1e-9)


# --- random graphs against networkx --------------------------------------------------------------


def random_graph(seed: int, n: int = 70) -> nx.MultiDiGraph:
    """A random geometric road graph: some one-way edges, random speeds, a few parallel edges."""
    rng = np.random.default_rng(seed)
    base = nx.random_geometric_graph(n, 0.22, seed=seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for v, d in base.nodes(data=True):
        g.add_node(v, x=LON0 + d["pos"][0] * 0.1, y=LAT0 + d["pos"][1] * 0.1)
    for u, v in base.edges:
        m = 10_000 * math.dist(base.nodes[u]["pos"], base.nodes[v]["pos"]) * rng.uniform(1, 1.2)
        t = m / rng.uniform(5, 20)
        pairs = [(u, v), (v, u)]
        if rng.random() < 0.15:
            pairs = [pairs[int(rng.integers(2))]]
        for a, b in pairs:
            g.add_edge(a, b, travel_time=t, length=m)
            if rng.random() < 0.05:
                g.add_edge(a, b, travel_time=t * 1.5, length=m * 0.8)
    return g


def random_sites(
    g: nx.MultiDiGraph, rng: np.random.Generator, count: int, prefix: str, *, jitter: float
) -> gpd.GeoDataFrame:
    nodes = rng.choice(list(g.nodes), count)
    lon = np.array([g.nodes[v]["x"] for v in nodes]) + rng.normal(0, jitter, count)
    lat = np.array([g.nodes[v]["y"] for v in nodes]) + rng.normal(0, jitter, count)
    ids = [f"{prefix}-{i:03d}" for i in rng.permutation(count)]
    return lonlat(ids, lon, lat)


def expected_times(
    g: nx.MultiDiGraph, dem: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, direction: str
) -> tuple[np.ndarray, np.ndarray, list[dict[Any, list[Any]]]]:
    """Brute force with networkx: time (demand x facility) with access legs, and paths."""
    arrays = graph_arrays(g)
    ds = snap(arrays, dem.geometry.x, dem.geometry.y)
    fs = snap(arrays, fac.geometry.x, fac.geometry.y)
    simple = nx.DiGraph()
    for u, v, d in g.edges(data=True):
        if not simple.has_edge(u, v) or d["travel_time"] < simple[u][v]["travel_time"]:
            simple.add_edge(u, v, travel_time=d["travel_time"], length=d["length"])
    search = simple.reverse() if direction == "to_facility" else simple
    t = np.full((len(dem), len(fac)), np.inf)
    paths = []
    for j, fnode in enumerate(fs["node"]):
        dist, path = nx.single_source_dijkstra(search, fnode, weight="travel_time")
        paths.append(path)
        for i, dnode in enumerate(ds["node"]):
            if dnode in dist:
                t[i, j] = ds["access_s"].iloc[i] + dist[dnode] + fs["access_s"].iloc[j]
    return t, fs["node"].to_numpy(), paths


def fastest_length(g: nx.MultiDiGraph, u: Any, v: Any) -> float:
    """Length of the fastest of the parallel edges u -> v."""
    return float(min(g[u][v].values(), key=lambda d: d["travel_time"])["length"])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("direction", costs.DIRECTIONS)
def test_k1_against_networkx_multi_source(seed: int, direction: str) -> None:
    g = random_graph(seed)
    rng = np.random.default_rng(seed)
    dem = random_sites(g, rng, 40, "v", jitter=0.002)
    fac = random_sites(g, rng, 8, "HC", jitter=0.0)  # at nodes: no access leg
    out = nearest(g, dem, fac, direction=direction)
    arrays = graph_arrays(g)
    ds = snap(arrays, dem.geometry.x, dem.geometry.y, index=dem.index)
    fs = snap(arrays, fac.geometry.x, fac.geometry.y, index=fac.index)
    search = g.reverse(copy=True) if direction == "to_facility" else g
    dist, path = nx.multi_source_dijkstra(search, set(fs["node"]), weight="travel_time")
    assert out["demand_id"].tolist() == dem.index.tolist()
    for row in records(out):
        dnode, access = ds.at[row["demand_id"], "node"], ds.at[row["demand_id"], "access_s"]
        if dnode not in dist:
            assert not row["reachable"] and pd.isna(row["facility_id"])
            assert math.isnan(row["time_s"])
            continue
        assert row["reachable"]
        assert row["time_s"] == pytest.approx(access + dist[dnode], rel=1e-12)
        # the facility reported is the smallest id among those at that network time
        at_best = sorted(
            str(f)
            for f, fnode in fs["node"].items()
            if nx.has_path(search, fnode, dnode)
            and math.isclose(
                nx.shortest_path_length(search, fnode, dnode, weight="travel_time"),
                dist[dnode],
                rel_tol=1e-12,
            )
        )
        assert row["facility_id"] == at_best[0]
        assert fs.at[row["facility_id"], "node"] in set(fs.loc[at_best, "node"]) >= {path[dnode][0]}


@pytest.mark.parametrize("seed", [5, 6, 7])
@pytest.mark.parametrize("direction", costs.DIRECTIONS)
def test_k3_against_networkx_single_source(seed: int, direction: str) -> None:
    g = random_graph(seed)
    rng = np.random.default_rng(seed)
    dem = random_sites(g, rng, 30, "v", jitter=0.002)
    fac = random_sites(g, rng, 9, "HC", jitter=0.002)
    t, _, paths = expected_times(g, dem, fac, direction)
    out = nearest(g, dem, fac, k=3, direction=direction)
    no_inf(out)
    arrays = graph_arrays(g)
    ds = snap(arrays, dem.geometry.x, dem.geometry.y)
    ids = fac.index.to_numpy()
    for i, did in enumerate(dem.index):
        best = sorted((t[i, j], ids[j]) for j in range(len(ids)) if np.isfinite(t[i, j]))[:3]
        got = out[out["demand_id"] == did]
        ok = got[got["reachable"]]
        assert ok["facility_id"].tolist() == [b for _, b in best]
        np.testing.assert_allclose(ok["time_s"], [a for a, _ in best], rtol=1e-12)
        assert len(got) == 3 and (~got["reachable"]).sum() == 3 - len(best)
        # road length of the fastest path (unique with random float weights)
        for r in records(ok):
            j = int(np.flatnonzero(ids == r["facility_id"])[0])
            p = paths[j][ds["node"].iloc[i]]
            steps = pairwise(p[::-1] if direction == "to_facility" else p)
            length = sum(fastest_length(g, u, v) for u, v in steps)
            assert r["distance_m"] == pytest.approx(length, rel=1e-9)


@pytest.mark.parametrize("seed", [8, 9])
def test_reach_against_networkx(seed: int) -> None:
    g = random_graph(seed)
    rng = np.random.default_rng(seed)
    dem = random_sites(g, rng, 25, "v", jitter=0.002)
    fac = random_sites(g, rng, 12, "HC", jitter=0.002)
    for direction in costs.DIRECTIONS:
        t, _, _ = expected_times(g, dem, fac, direction)
        limit = float(np.nanmedian(np.where(np.isfinite(t), t, np.nan)))
        out = reach(g, dem, fac, minutes=limit / 60, direction=direction)
        ids = fac.index.to_numpy()
        for i, did in enumerate(dem.index):
            within = sorted((t[i, j], ids[j]) for j in range(len(ids)) if t[i, j] <= limit)
            got = out[(out["demand_id"] == did) & out["reachable"]]
            assert got["facility_id"].tolist() == [b for _, b in within]
            assert got["rank"].tolist() == list(range(1, len(within) + 1))
        counts = reach_count(g, dem, fac, minutes=limit / 60, direction=direction)
        assert counts.tolist() == (t <= limit).sum(axis=1).tolist()


@pytest.mark.parametrize("seed", [10, 11])
def test_od_matrix_against_networkx(seed: int) -> None:
    g = random_graph(seed)
    rng = np.random.default_rng(seed)
    a = random_sites(g, rng, 6, "o", jitter=0.002)
    b = random_sites(g, rng, 9, "d", jitter=0.002)
    for origins, destinations in ((a, b), (b, a)):  # both search sides
        t, _, _ = expected_times(g, origins, destinations, "to_facility")
        wide = od_matrix(g, origins, destinations, wide=True)
        assert wide.index.equals(origins.index) and wide.columns.equals(destinations.index)
        np.testing.assert_allclose(
            wide.to_numpy(), np.where(np.isfinite(t), t / 60, np.nan), rtol=1e-12
        )
        long = od_matrix(g, origins, destinations)
        assert list(long.columns) == list(costs.OD_COLUMNS)
        assert long["origin_id"].tolist() == np.repeat(origins.index, len(destinations)).tolist()
        np.testing.assert_allclose(
            long["time_s"].to_numpy(), np.where(np.isfinite(t), t, np.nan).ravel(), rtol=1e-12
        )
        assert (long["reachable"] == np.isfinite(t).ravel()).all()
        no_inf(long)
    # OD from demand to facilities agrees with nearest
    near = nearest(g, a, b)
    od = od_matrix(g, a, b, wide=True)
    for r in records(near[near["reachable"]]):
        t_od = od.loc[r["demand_id"], r["facility_id"]] * 60
        assert t_od == pytest.approx(r["time_s"], rel=1e-12)
        assert od.loc[r["demand_id"]].min() * 60 == pytest.approx(r["time_s"], rel=1e-12)


# --- the incremental index -----------------------------------------------------------------------

KEY = ["demand_id", "rank", "facility_id", "time_s"]


def assert_same(index: NearestIndex, frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(index.result[KEY], frame[KEY], check_exact=True)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("direction", costs.DIRECTIONS)
def test_add_and_remove_equal_a_full_recompute(k: int, direction: str) -> None:
    g = random_graph(12, n=90)
    rng = np.random.default_rng(12)
    dem = random_sites(g, rng, 50, "v", jitter=0.002)
    fac = random_sites(g, rng, 14, "HC", jitter=0.002)
    arrays = graph_arrays(g)
    first, later = fac.iloc[:6], fac.iloc[6:]
    index = NearestIndex.build(arrays, dem, first, k=k, direction=direction)
    assert_same(index, nearest(arrays, dem, first, k=k, direction=direction))
    for i in range(len(later)):  # one at a time
        index.add(later.iloc[i : i + 1])
        assert_same(index, nearest(arrays, dem, fac.iloc[: 7 + i], k=k, direction=direction))
    assert index.facilities.equals(fac.index.sort_values())
    gone = [fac.index[0], fac.index[9]]
    index.remove(gone)
    assert_same(index, nearest(arrays, dem, fac.drop(gone), k=k, direction=direction))
    # straight line too
    sl = NearestIndex.build(None, dem, first, k=k).add(later)
    assert_same(sl, nearest(None, dem, fac, k=k))


def test_add_reaches_demand_that_had_no_facility() -> None:
    # two components: the demand in the second one has nothing until a facility is added there
    g = graph(
        {"P": (0, 0), "Q": (1, 0), "R": (5, 5), "S": (6, 5)},
        [("P", "Q", 10, 100), ("R", "S", 10, 100)],
    )
    dem = at(g, {"v-Q": "Q", "v-S": "S"})
    index = NearestIndex.build(g, dem, at(g, {"HC-P": "P"}), k=2)
    assert index.result["reachable"].sum() == 1
    index.add(at(g, {"HC-R": "R"}))
    assert rows(index.result, "v-S") == [(1, "HC-R", 10.0, 100.0), (2, None, None, None)]
    assert_same(index, nearest(g, dem, at(g, {"HC-P": "P", "HC-R": "R"}), k=2))
    index.remove(["HC-R"])
    assert rows(index.result, "v-S") == [(1, None, None, None), (2, None, None, None)]


def test_index_with_max_time_and_kind() -> None:
    g = random_graph(13)
    rng = np.random.default_rng(13)
    dem = random_sites(g, rng, 30, "v", jitter=0.002)
    fac = random_sites(g, rng, 10, "F", jitter=0.002)
    fac["kind"] = ["health_center", "village_clinic"] * 5
    limit = 400.0
    index = NearestIndex.build(g, dem, fac.iloc[:4], k=2, kind="health_center", max_time_s=limit)
    index.add(fac.iloc[4:])  # the village clinics are filtered out by the kind of the index
    full = nearest(g, dem, fac, k=2, kind="health_center", max_time_s=limit)
    assert_same(index, full)
    assert set(index.facilities) == set(fac.index[fac["kind"] == "health_center"])
    assert full["time_s"].max() <= limit
    assert repr(index).startswith("NearestIndex(30 demand points, 5 facilities, k=2")


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("direction", costs.DIRECTIONS)
def test_result_kept_up_to_date_equals_one_computed_at_the_end(k: int, direction: str) -> None:
    # the result columns are updated row by row on add: reading them after every change must
    # give what an index with the same history computes from scratch at the end
    g = random_graph(21, n=90)
    rng = np.random.default_rng(21)
    dem = random_sites(g, rng, 60, "v", jitter=0.002)
    fac = random_sites(g, rng, 12, "HC", jitter=0.002)
    far = gpd.GeoDataFrame(geometry=[Point(LON0 + 1.0, LAT0 + 1.0)], index=["HC-far"], crs=4326)
    read = NearestIndex.build(g, dem, fac.iloc[:4], k=k, direction=direction)
    quiet = NearestIndex.build(g, dem, fac.iloc[:4], k=k, direction=direction)
    _ = read.result
    for i in range(4, len(fac)):
        for index in (read, quiet):
            index.add(fac.iloc[i : i + 1])
        got = read.result
        ref = nearest(g, dem, fac.iloc[: i + 1], k=k, direction=direction)
        pd.testing.assert_frame_equal(
            got.drop(columns="distance_m"), ref.drop(columns="distance_m"), check_exact=True
        )
    for index in (read, quiet):
        index.add(far)  # far away: few demand points (if any) change
        index.remove(["HC-far"])
        index.remove([fac.index[5]])
    pd.testing.assert_frame_equal(read.result, quiet.result, check_exact=True)
    got = read.result
    kept = got.copy()
    for column, value in (("time_s", -1.0), ("demand_id", "x"), ("method", "y"), ("rank", 9)):
        got.loc[0, column] = value  # a copy: the index is not changed through it
    pd.testing.assert_frame_equal(read.result, kept)
    before = read.result
    read.add(fac.iloc[5:6])  # nor is a frame handed out before by later changes
    pd.testing.assert_frame_equal(before, kept)
    assert not read.result.equals(kept)


def test_nearest_on_a_changed_networkx_graph_is_not_stale() -> None:
    # the compiled graph is cached per networkx graph: a change must be seen by the next call
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d"})
    dem = at(g, {"v-c": "c"})
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-2", 60.0, 1000.0)]
    assert nearest(g, dem, fac).equals(nearest(g, dem, fac))
    g.add_edge("c", "a", travel_time=10.0, length=300.0)  # a new fast road to HC-1
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-1", 10.0, 300.0)]
    g.remove_edge("c", "a")
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-2", 60.0, 1000.0)]
    nx.set_edge_attributes(g, {("c", "d", 0): 200.0}, "travel_time")  # the road to HC-2 slows
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-1", 180.0, 3000.0)]
    g.edges["c", "b", 0]["travel_time"] = 20.0  # in place: networkx sees nothing
    forget(g)
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-1", 80.0, 3000.0)]
    for _, _, data in g.edges(data=True):  # every road twice as slow, in place
        data["travel_time"] *= 2
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-1", 160.0, 3000.0)]


def test_nearest_after_new_travel_times_is_not_stale() -> None:
    # siting.network.add_travel_times rewrites the edges in place (networkx sees nothing)
    g = graph(LINE, LINE_EDGES)
    for _, _, data in g.edges(data=True):
        data["highway"] = "secondary"
    add_travel_times(g, speeds={"secondary": 36.0})  # 10 m/s: 100 s per km
    fac = at(g, {"HC-1": "a"})
    dem = at(g, {"v-c": "c"})
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-1", 300.0, 3000.0)]
    add_travel_times(g, speeds={"secondary": 72.0})
    assert rows(nearest(g, dem, fac), "v-c") == [(1, "HC-1", 150.0, 3000.0)]


@st.composite
def networks(draw: st.DrawFn) -> tuple[nx.MultiDiGraph, list[int], list[int], list[int]]:
    n = draw(st.integers(3, 18))
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for v in range(n):
        g.add_node(v, x=LON0 + (v % 5) * STEP, y=LAT0 + (v // 5) * STEP)
    edges = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1), st.integers(0, n - 1), st.integers(1, 5), st.booleans()
            ),
            max_size=3 * n,
        )
    )
    for u, v, t, one_way in edges:
        if u != v:
            g.add_edge(u, v, travel_time=float(t), length=float(100 * t + u))
            if not one_way:
                g.add_edge(v, u, travel_time=float(t), length=float(100 * t + v))
    node = st.integers(0, n - 1)
    first = draw(st.lists(node, max_size=5))
    later = draw(st.lists(node, min_size=1, max_size=5))
    demand = draw(st.lists(node, min_size=1, max_size=8))
    return g, first, later, demand


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(1, 3), st.sampled_from(costs.DIRECTIONS), st.randoms())
def test_property_add_equals_build_with_all(
    net: tuple[nx.MultiDiGraph, list[int], list[int], list[int]],
    k: int,
    direction: str,
    random: Any,
) -> None:
    g, first, later, demand = net
    ids = [f"HC-{i:02d}" for i in range(len(first) + len(later))]
    random.shuffle(ids)  # id order differs from node order: ties must follow ids
    fac = at(g, dict(zip(ids, first + later, strict=True)))
    dem = at(g, {f"v{i}": v for i, v in enumerate(demand)})
    arrays = graph_arrays(g)
    a, b = fac.iloc[: len(first)], fac.iloc[len(first) :]
    index = NearestIndex.build(arrays, dem, a, k=k, direction=direction).add(b)
    full = nearest(arrays, dem, fac, k=k, direction=direction)
    assert_same(index, full)
    # and both are right: brute force with networkx, ties by (time, id)
    search = g.reverse(copy=True) if direction == "to_facility" else g
    reach_of = {
        f: nx.single_source_dijkstra_path_length(search, v, weight="travel_time")
        for f, v in zip(ids, first + later, strict=True)
    }
    for i, v in enumerate(demand):
        best = sorted((d[v], f) for f, d in reach_of.items() if v in d)[:k]
        got = full[(full["demand_id"] == f"v{i}") & full["reachable"]]
        assert list(zip(got["time_s"], got["facility_id"], strict=True)) == best
    index.remove(ids[:1])
    assert_same(index, nearest(arrays, dem, fac.drop(ids[:1]), k=k, direction=direction))


# --- ids, kinds, empty inputs, invalid arguments -------------------------------------------------


def test_ids_preserved_and_kind_filter() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(
        g,
        {"HC-511302-00001": "a", "VC-511302-00001": "b", "HC-511302-00002": "d"},
        kind=["health_center", "village_clinic", "health_center"],
    )
    dem = at(g, {"NH-511302-00007": "b", "NH-511302-00003": "c"})
    out = nearest(g, dem, fac, kind="health_center")
    assert out["demand_id"].tolist() == ["NH-511302-00007", "NH-511302-00003"]
    assert out["facility_id"].tolist() == ["HC-511302-00001", "HC-511302-00002"]
    assert nearest(g, dem, fac)["facility_id"].tolist()[0] == "VC-511302-00001"
    both = nearest(g, dem, fac, kind=["village_clinic", "health_center"])
    assert both["facility_id"].tolist()[0] == "VC-511302-00001"
    # integer ids come back as nullable integers
    ints = fac.set_axis(pd.Index([11, 12, 13], name="id"))
    out = nearest(g, dem, ints, k=3, kind="health_center")
    assert out["facility_id"].dtype == "Int64"
    assert out["facility_id"].tolist()[:3] == [11, 13, pd.NA]


def test_empty_inputs() -> None:
    g = graph(LINE, LINE_EDGES)
    dem = at(g, {"v-b": "b", "v-c": "c"})
    none = at(g, {}).iloc[:0]
    for network in (g, None):
        out = nearest(network, dem, none, k=2)
        assert len(out) == 4 and not out["reachable"].any() and out["facility_id"].isna().all()
        no_inf(out)
        assert reach_count(network, dem, none, minutes=10).tolist() == [0, 0]
    fac = at(g, {"HC-1": "a"}, kind=["health_center"])
    out = nearest(g, dem, fac, kind="village_clinic")  # a known kind, absent here
    assert not out["reachable"].any()
    assert nearest(g, dem.iloc[:0], fac).empty
    assert list(nearest(g, dem.iloc[:0], fac).columns) == list(costs.COLUMNS)
    assert od_matrix(g, dem.iloc[:0], fac, wide=True).shape == (0, 1)


def test_other_crs_is_converted() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a", "HC-2": "d"})
    dem = at(g, {"v-b": "b"})
    out = nearest(g, dem.to_crs(32648), fac.to_crs(3857))
    assert out["facility_id"].tolist() == ["HC-1"]
    assert out["demand_snap_m"].iloc[0] == pytest.approx(0.0, abs=1e-3)


def test_invalid_arguments_name_the_argument() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a"}, kind=["health_center"])
    dem = at(g, {"v-b": "b"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": 1.5}, "k must be a positive integer"),
        ({"k": True}, "k must be a positive integer"),
        ({"direction": "up"}, "direction must be one of"),
        ({"max_time_s": -1}, "max_time_s must be"),
        ({"max_time_s": float("nan")}, "max_time_s must be"),
        ({"kind": "hospitals"}, "kind 'hospitals'"),
        ({"kind": 3}, "kind must be"),
        ({"access_speed_kph": 0}, "access_speed_kph must be"),
        ({"detour_factor": 0.5}, "detour_factor must be"),
        ({"max_snap_m": "far"}, "max_snap_m must be"),
    ]
    for kwargs, message in cases:
        with pytest.raises(CostError, match=message):
            nearest(g, dem, fac, **kwargs)
    with pytest.raises(CostError, match="minutes must be"):
        reach(g, dem, fac, minutes=None)  # type: ignore[arg-type]
    with pytest.raises(CostError, match="minutes must be"):
        reach(g, dem, fac, minutes=-5)
    with pytest.raises(CostError, match="wide must be"):
        od_matrix(g, dem, fac, wide="yes")  # type: ignore[arg-type]
    with pytest.raises(CostError, match="needs a 'kind' column in facilities"):
        nearest(g, dem, fac.drop(columns="kind"), kind="health_center")
    with pytest.raises(TypeError, match="network must be"):
        nearest("graph.graphml", dem, fac)
    with pytest.raises(TypeError, match="demand must be a GeoDataFrame"):
        nearest(g, pd.DataFrame({"lon": [1.0]}), fac)
    with pytest.raises(CostError, match="facilities index must hold unique ids"):
        nearest(g, dem, pd.concat([fac, fac]))
    with pytest.raises(CostError, match="demand has no CRS"):
        nearest(g, dem.set_crs(None, allow_override=True), fac)
    poly = gpd.GeoDataFrame(geometry=[Point(LON0, LAT0).buffer(0.01)], index=["x"], crs=4326)
    with pytest.raises(CostError, match=r"facilities must hold points.*'x'.*Polygon"):
        nearest(g, dem, poly)
    empty_geom = gpd.GeoDataFrame(geometry=[None], index=["y"], crs=4326)
    with pytest.raises(CostError, match=r"demand must hold points.*'y'.*missing"):
        nearest(g, empty_geom, fac)
    index = NearestIndex.build(g, dem, fac)
    with pytest.raises(CostError, match="new_facilities: ids already indexed: \\['HC-1'\\]"):
        index.add(fac)
    with pytest.raises(CostError, match="ids: not indexed: \\['HC-9'\\]"):
        index.remove(["HC-9"])
    arrays = graph_arrays(g)
    broken = GraphArrays(
        nodes=arrays.nodes,
        index=arrays.index,
        x=arrays.x,
        y=arrays.y,
        lon=arrays.lon,
        lat=arrays.lat,
        crs=arrays.crs,
        time=arrays.time * np.nan,
        length=arrays.length,
    )
    with pytest.raises(CostError, match=r"network: GraphArrays\.time must hold finite positive"):
        nearest(broken, dem, fac)


@pytest.mark.parametrize("k", [1, 3])
def test_background_snap_of_many_demand_points_gives_the_same(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large demand sets are snapped on a thread while the search runs: same result."""
    g = random_graph(11)
    rng = np.random.default_rng(11)
    dem = random_sites(g, rng, 300, "v", jitter=0.003)
    fac = random_sites(g, rng, 12, "HC", jitter=0.001)
    monkeypatch.setattr(costs, "_BACKGROUND_SNAP_FROM", 10**9)
    direct = nearest(g, dem, fac, k=k)
    monkeypatch.setattr(costs, "_BACKGROUND_SNAP_FROM", 1)
    threaded = NearestIndex.build(g, dem, fac, k=k)
    pd.testing.assert_frame_equal(threaded.result, direct)
    # the index built this way keeps working incrementally
    extra = random_sites(g, rng, 2, "HX", jitter=0.001)
    both = pd.concat([fac, extra])
    monkeypatch.setattr(costs, "_BACKGROUND_SNAP_FROM", 10**9)
    pd.testing.assert_frame_equal(threaded.add(extra).result, nearest(g, dem, both, k=k))


def test_background_snap_validates_at_once_and_equals_snap() -> None:
    from siting._graph import snap_in_background

    g = random_graph(12)
    arrays = graph_arrays(g)
    with pytest.raises(ValueError, match="no coordinates"):
        snap_in_background(arrays, [LON0, np.nan], [LAT0, LAT0])
    join = snap_in_background(arrays, [LON0, LON0 + 0.01], [LAT0, LAT0])
    pd.testing.assert_frame_equal(join(), snap(arrays, [LON0, LON0 + 0.01], [LAT0, LAT0]))
