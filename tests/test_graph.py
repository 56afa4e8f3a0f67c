"""Graph plumbing: CSR compilation and snapping."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from siting import settings
from siting._graph import GraphError, graph_arrays, snap
from siting.graph import compiled, forget, snap_points, snap_points_in_background


def _graph() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    # three nodes on a line near Nanchong, ~1 km apart (0.01 deg lon at 30.8N = 955 m)
    for n, lon in ((1, 106.00), (2, 106.01), (3, 106.02)):
        g.add_node(n, x=lon, y=30.8)
    g.add_edge(1, 2, length=1000.0, travel_time=100.0)
    g.add_edge(1, 2, length=900.0, travel_time=60.0)  # parallel, faster: kept
    g.add_edge(2, 3, length=0.0, travel_time=0.0)  # zero length, zero cost: must not vanish
    return g


def test_csr_keeps_fastest_parallel_edge_and_zero_costs() -> None:
    a = graph_arrays(_graph())
    i, j, k = a.index[1], a.index[2], a.index[3]
    assert a.time[i, j] == 60.0
    assert a.length[i, j] == 900.0
    assert a.time[j, k] > 0 and a.time.nnz == 2
    assert a.time[j, i] == 0  # one-way: no reverse edge
    assert a.crs.to_epsg() == 32648
    assert np.allclose(np.diff(a.x), 955, atol=5)


def test_contract_errors_name_the_node_or_edge() -> None:
    g = _graph()
    del g.nodes[2]["x"]
    with pytest.raises(GraphError, match="node 2 has no 'x'"):
        graph_arrays(g)
    g = _graph()
    del g.edges[2, 3, 0]["travel_time"]
    with pytest.raises(GraphError, match=r"edge \(2, 3\).*travel_time"):
        graph_arrays(g)
    g = _graph()
    for n in g.nodes:
        g.nodes[n]["x"] = 500_000.0  # projected coordinates are refused
    with pytest.raises(GraphError, match="WGS84"):
        graph_arrays(g)
    # a positive length in no time is an infinitely fast road: refused, naming the edge
    g = _graph()
    g.edges[2, 3, 0]["length"] = 1000.0
    with pytest.raises(GraphError, match=r"edge \(2, 3, 0\) \[length=1000, travel_time=0\]"):
        graph_arrays(g)
    for bad in (-1.0, float("nan"), float("inf")):
        g = _graph()
        g.edges[1, 2, 1]["travel_time"] = bad
        with pytest.raises(GraphError, match=r"edge \(1, 2, 1\).*not a number >= 0"):
            graph_arrays(g)


def test_snap_records_distance_flag_and_access_time() -> None:
    a = graph_arrays(_graph())
    # 0.001 deg north of node 2 (~111 m) and 0.03 deg north of node 3 (~3.3 km)
    out = snap(a, [106.01, 106.02], [30.801, 30.83], access_speed_kph=18.0)
    assert out["node"].tolist() == [2, 3]
    assert out["snap_m"].iloc[0] == pytest.approx(111, abs=2)
    assert out["snap_m"].iloc[1] == pytest.approx(3326, abs=20)
    assert out["snap_flag"].tolist() == [False, True]
    assert out["access_s"].iloc[0] == pytest.approx(out["snap_m"].iloc[0] / 5.0)
    assert settings.max_snap_m == 2000.0
    tight = snap(a, [106.01], [30.801], max_snap_m=100.0)
    assert bool(tight["snap_flag"].iloc[0])
    with pytest.raises(ValueError, match="no coordinates"):
        snap(a, [np.nan], [30.8])


def test_snap_many_points_same_as_one_by_one() -> None:
    rng = np.random.default_rng(3)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    lon = 106.0 + rng.random(300) * 0.2
    lat = 30.7 + rng.random(300) * 0.2
    for i in range(300):
        g.add_node(i, x=float(lon[i]), y=float(lat[i]))
    a = graph_arrays(g)
    qlon = 105.99 + rng.random(5000) * 0.22
    qlat = 30.69 + rng.random(5000) * 0.22
    many = snap(a, qlon, qlat)  # above the sorting threshold
    few = [snap(a, qlon[i : i + 1], qlat[i : i + 1]) for i in range(0, 5000, 250)]
    for j, one in zip(range(0, 5000, 250), few, strict=True):
        assert many["node"].iloc[j] == one["node"].iloc[0]
        assert many["snap_m"].iloc[j] == one["snap_m"].iloc[0]
    # brute force on every point
    d = np.hypot(
        a.x[None, :] - _proj(a, qlon, qlat)[0][:, None],
        a.y[None, :] - _proj(a, qlon, qlat)[1][:, None],
    )
    np.testing.assert_allclose(many["snap_m"], d.min(axis=1))
    # the array forms give the same, on this thread and on a background one (sorted queries)
    for found in (snap_points(a, qlon, qlat), snap_points_in_background(a, qlon, qlat)()):
        assert np.array_equal(a.nodes[found.node_pos], many["node"].to_numpy())
        for name in ("node_pos", "snap_m", "access_s", "snap_flag", "island"):
            assert np.array_equal(getattr(found, name), many[name].to_numpy())
        pd.testing.assert_frame_equal(found.frame(a), many)


def _proj(a: object, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pyproj

    tf = pyproj.Transformer.from_crs("EPSG:4326", a.crs, always_xy=True)  # type: ignore[attr-defined]
    x, y = tf.transform(lon, lat)
    return np.asarray(x), np.asarray(y)


# --- the compiled graph cached per networkx graph -----------------------------------------------


def test_compiled_is_reused_while_the_graph_is_unchanged() -> None:
    g = _graph()
    first = compiled(g)
    assert compiled(g) is first
    assert compiled(g, weight="length") is not first  # another weight, another compilation
    assert compiled(g) is first
    assert compiled(g).time[first.index[1], first.index[2]] == 60.0
    other = g.copy()  # a copy is another graph: compiled on its own
    assert compiled(other) is not first


@pytest.mark.parametrize(
    "change",
    [
        lambda g: g.add_edge(3, 1, length=500.0, travel_time=30.0),
        lambda g: g.remove_edge(1, 2),
        lambda g: g.add_node(4, x=106.03, y=30.8),
        lambda g: g.remove_node(3),
        lambda g: nx.set_edge_attributes(g, {(1, 2, 1): 45.0}, "travel_time"),
        lambda g: nx.set_node_attributes(g, {1: 105.99}, "x"),
        lambda g: g.update(edges=[(3, 2, {"length": 5.0, "travel_time": 1.0})]),
    ],
)
def test_compiled_is_not_served_stale_after_a_change(change: Any) -> None:
    g = _graph()
    before = compiled(g)
    change(g)
    after = compiled(g)
    assert after is not before
    fresh = graph_arrays(g)
    assert after.nodes.tolist() == fresh.nodes.tolist()
    assert (after.time != fresh.time).nnz == 0 and (after.length != fresh.length).nnz == 0
    assert np.array_equal(after.x, fresh.x)
    assert compiled(g) is after  # and cached again


def test_views_are_not_cached() -> None:
    g = _graph()
    view = g.subgraph([1, 2])
    before = compiled(view)
    g.add_edge(2, 1, length=900.0, travel_time=50.0)  # the view changes with its graph
    after = compiled(view)
    assert after.time.nnz == before.time.nnz + 1
    assert after.time[after.index[2], after.index[1]] == 50.0


def test_forget_after_an_in_place_edit() -> None:
    g = _graph()
    before = compiled(g)
    g.edges[1, 2, 1]["travel_time"] = 20.0  # networkx does not see this edit
    forget(g)
    after = compiled(g)
    assert after is not before
    assert after.time[after.index[1], after.index[2]] == 20.0
    forget(nx.MultiDiGraph())  # nothing cached: nothing to do


def test_compiled_undirected_and_the_cache_lets_graphs_go() -> None:
    und = nx.Graph()
    und.add_node(1, x=106.00, y=30.8)
    und.add_node(2, x=106.01, y=30.8)
    und.add_edge(1, 2, length=1000.0, travel_time=60.0)
    arrays = compiled(und)
    assert arrays.time.nnz == 2  # both directions
    assert compiled(und) is arrays
    ref = weakref.ref(und)
    del und
    gc.collect()
    assert ref() is None  # the cache does not keep the graph alive
