"""Graph plumbing: CSR compilation and snapping."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from siting import settings
from siting._graph import GraphError, graph_arrays, snap


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


def _proj(a: object, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pyproj

    tf = pyproj.Transformer.from_crs("EPSG:4326", a.crs, always_xy=True)  # type: ignore[attr-defined]
    x, y = tf.transform(lon, lat)
    return np.asarray(x), np.asarray(y)
