"""The modelled road network (模拟路网): hierarchy, weights, plausibility, osmnx interop."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyproj
import pytest
from scipy.sparse.csgraph import dijkstra

import siting
from siting import settings
from siting._graph import graph_arrays, snap
from siting.network.model import (
    DETOUR_FACTORS,
    NOTE,
    SPEEDS_KPH,
    TIERS,
    _county_town_codes,
    _spanner,
    _township_pairs,
    county_towns,
    load_modelled_graphml,
    modelled,
)
from siting.regions import Region

VILLAGE_TIERS = {"unclassified", "residential"}


@pytest.fixture(scope="module")
def regions() -> dict[str, Region]:
    return {name: siting.load_region(name) for name in ("nanchong", "xuanhan")}


@pytest.fixture(scope="module")
def graphs(regions: dict[str, Region]) -> dict[str, nx.MultiDiGraph]:
    return {name: modelled(region) for name, region in regions.items()}


def _edges(graph: nx.MultiDiGraph) -> pd.DataFrame:
    rows = [{"u": u, "v": v, "key": k, **d} for u, v, k, d in graph.edges(keys=True, data=True)]
    return pd.DataFrame(rows)


def _straight_m(graph: nx.MultiDiGraph, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Straight-line metres between nodes, in the project's metric CRS (UTM 48N)."""
    to_m = pyproj.Transformer.from_crs("EPSG:4326", settings.metric_crs, always_xy=True)
    lon = np.array([[graph.nodes[a]["x"], graph.nodes[b]["x"]] for a, b in zip(u, v, strict=True)])
    lat = np.array([[graph.nodes[a]["y"], graph.nodes[b]["y"]] for a, b in zip(u, v, strict=True)])
    x, y = to_m.transform(lon, lat)
    return np.asarray(np.hypot(x[:, 0] - x[:, 1], y[:, 0] - y[:, 1]))


# ---------------------------------------------------------------------------------------------
# building blocks, answers worked out by hand


def test_county_town_rule_on_a_hand_made_table() -> None:
    towns = pd.DataFrame(
        {
            "county_code": ["A"] * 5 + ["B"] * 3 + ["C"] * 2,
            "town_type": ["街道", "街道", "街道", "镇", "街道", "镇", "乡", "镇", "街道", "街道"],
            "n_residents_committees": [1, 1, 1, 9, 1, 2, 5, 5, 3, 3],
            "coord_quality": ["reference"] * 4 + ["imputed"] + ["reference"] * 3 + ["imputed"] * 2,
        },
        index=["a1", "a2", "a3", "a4", "a5", "b1", "b2", "b3", "c1", "c2"],
    )
    # A: reference 街道 at x = 0, 10000, 4000 -> centroid 4667; a3 is the nearest 街道 (the 镇 a4
    # and the imputed 街道 a5, both nearer the centroid, do not count).
    # B: no 街道 -> most 居委会, b2 and b3 tie at 5 -> lower code b2.
    # C: two imputed 街道 equidistant from their midpoint -> lower code c1.
    x = np.array([0, 10000, 4000, 4600, 4667, 0, 50000, 60000, 0, 2000], dtype=float)
    y = np.zeros(len(x))
    assert _county_town_codes(towns, x, y) == {"A": "a3", "B": "b2", "C": "c1"}


def test_village_spanner_closes_a_square_and_keeps_a_line_a_chain() -> None:
    square = np.array([[0.0, 0.0], [0.0, 1000.0], [1000.0, 1000.0], [1000.0, 0.0]])
    # the tree is three sides; the fourth cuts a 3000 m route to 1000 m (stretch 3 > 2), after
    # which a diagonal (route 2000 m for 1414 m) is not worth a road
    got = {tuple(p) for p in _spanner(square, 2.0).tolist()}
    assert got == {(0, 1), (1, 2), (2, 3), (0, 3)}
    line = np.array([[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0], [3000.0, 0.0]])  # degenerate
    assert {tuple(p) for p in _spanner(line, 2.0).tolist()} == {(0, 1), (1, 2), (2, 3)}
    assert _spanner(np.array([[5.0, 5.0]]), 2.0).shape == (0, 2)


def test_township_roads_keep_one_link_between_distant_clusters() -> None:
    grid = np.array([[x, y] for x in range(3) for y in range(3)], dtype=float) * 1000.0
    xy = np.vstack(
        [grid, grid + np.array([22_000.0, 0.0])]
    )  # two 3x3 clusters of 1 km, 20 km apart
    pairs = _township_pairs(xy)
    length = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T)
    # several 20 km Gabriel links face each other; only the spanning-tree one (lowest index on
    # the tie) stays, every link inside a cluster stays
    assert pairs[length > 5000.0].tolist() == [[6, 9]]
    assert (length[length < 5000.0] <= 1000.0 * np.sqrt(2.0) + 1e-6).all()
    assert int(np.isclose(length, 1000.0).sum()) == 2 * 12  # every side of every cell


# ---------------------------------------------------------------------------------------------
# the built-in regions


@pytest.mark.parametrize("name", ["nanchong", "xuanhan"])
def test_nodes_are_every_seat_and_village(
    name: str, regions: dict[str, Region], graphs: dict[str, nx.MultiDiGraph]
) -> None:
    region, graph = regions[name], graphs[name]
    seats = {int(c) for c in region.townships.index}
    villages = {int(c) for c in region.villages.index}
    assert set(graph.nodes) == seats | villages
    assert len(graph) == len(region.townships) + len(region.villages)
    types = pd.Series(dict(graph.nodes(data="node_type")))
    assert (types.loc[list(villages)] == "village").all()
    assert int((types == "county_town").sum()) == len(region.counties)
    towns = county_towns(region)
    assert set(types.index[types == "county_town"]) == set(towns["node"])
    # coordinates are the region's own (WGS84) points, codes and names carried over
    code = region.villages.index[7]
    node = graph.nodes[int(code)]
    assert (node["x"], node["y"]) == (
        region.villages.at[code, "lon"],
        region.villages.at[code, "lat"],
    )
    assert node["code"] == code and node["name"] == region.villages.at[code, "name"]
    assert node["township_code"] == region.villages.at[code, "township_code"]
    assert all(d["modelled"] is True for _, d in graph.nodes(data=True))


def test_county_towns_are_urban_seats(regions: dict[str, Region]) -> None:
    towns = county_towns(regions["nanchong"])
    assert len(towns) == 9
    assert towns.index.tolist() == sorted(regions["nanchong"].counties.index)
    region_towns = regions["nanchong"].townships
    # every Nanchong county has 街道 with a reference point: its county town is one of them
    assert (region_towns.loc[towns["township_code"], "town_type"] == "街道").all()
    assert (region_towns.loc[towns["township_code"], "coord_quality"] == "reference").all()
    assert county_towns(regions["xuanhan"])["name"].tolist() == ["东乡街道"]


@pytest.mark.parametrize("name", ["nanchong", "xuanhan"])
def test_strongly_connected_and_two_way(name: str, graphs: dict[str, nx.MultiDiGraph]) -> None:
    graph = graphs[name]
    assert nx.is_strongly_connected(graph)
    e = _edges(graph)
    forward = e[~e["reversed"]].set_index(["u", "v"]).sort_index()
    backward = e[e["reversed"]].set_index(["v", "u"]).sort_index()
    backward.index.names = ["u", "v"]
    assert len(forward) == len(backward) == len(e) // 2
    cols = ["length", "travel_time", "speed_kph", "tier", "highway"]
    pd.testing.assert_frame_equal(forward[cols], backward[cols])
    assert not e["oneway"].any()
    assert not e.duplicated(["u", "v"]).any()  # one road per pair of places


@pytest.mark.parametrize("name", ["nanchong", "xuanhan"])
def test_tiers_speeds_lengths_and_times(name: str, graphs: dict[str, nx.MultiDiGraph]) -> None:
    graph = graphs[name]
    e = _edges(graph)
    assert set(e["tier"]) <= set(TIERS)
    assert (e["highway"] == e["tier"]).all()
    assert (e["speed_kph"] == e["tier"].map(SPEEDS_KPH)).all()
    np.testing.assert_allclose(e["travel_time"], e["length"] / (e["speed_kph"] / 3.6), rtol=1e-12)
    straight = _straight_m(graph, e["u"].to_numpy(), e["v"].to_numpy())
    assert (straight > 0).all()
    assert (e["length"] >= straight).all()  # detour >= 1
    np.testing.assert_allclose(e["length"] / straight, e["tier"].map(DETOUR_FACTORS), rtol=1e-9)
    # and not shorter than the geodesic either (independent of the projection)
    geod = pyproj.Geod(ellps="WGS84")
    ux = [graph.nodes[n]["x"] for n in e["u"]]
    uy = [graph.nodes[n]["y"] for n in e["u"]]
    vx = [graph.nodes[n]["x"] for n in e["v"]]
    vy = [graph.nodes[n]["y"] for n in e["v"]]
    _, _, geodesic = geod.inv(ux, uy, vx, vy)
    assert (e["length"] >= 1.1 * np.asarray(geodesic)).all()
    # no absurd long edges: straight-line km per tier
    longest = (pd.Series(straight / 1000.0, index=e.index)).groupby(e["tier"]).max()
    assert longest.get("trunk", 0.0) < 60.0
    assert longest["secondary"] < 25.0
    assert longest["unclassified"] < 12.0
    assert longest["residential"] < 4.0


@pytest.mark.parametrize("name", ["nanchong", "xuanhan"])
def test_hierarchy(
    name: str, regions: dict[str, Region], graphs: dict[str, nx.MultiDiGraph]
) -> None:
    region, graph = regions[name], graphs[name]
    types = dict(graph.nodes(data="node_type"))
    town_of = dict(graph.nodes(data="township_code"))
    e = _edges(graph)
    ut, vt = e["u"].map(types), e["v"].map(types)
    trunk = e[e["tier"] == "trunk"]
    assert ((ut[trunk.index] == "county_town") & (vt[trunk.index] == "county_town")).all()
    sec = e["tier"] == "secondary"
    assert (ut[sec] != "village").all() and (vt[sec] != "village").all()
    vil = e["tier"].isin(VILLAGE_TIERS)
    assert ((ut[vil] == "village") | (vt[vil] == "village")).all()
    assert (e.loc[vil, "u"].map(town_of) == e.loc[vil, "v"].map(town_of)).all()
    # residential only between 社区 (or the seat) of a 街道
    res = e[e["tier"] == "residential"]
    street = region.townships["town_type"] == "街道"
    assert res["u"].map(town_of).map(street).all()
    vtype = region.villages["village_type"]
    for col in ("u", "v"):
        is_village = res[col].map(types) == "village"
        codes = res.loc[is_village, col].astype(str)
        assert (vtype.loc[codes] == "社区").all()
    # each tier network is connected on its own: seats by township roads (and trunk),
    # every township's villages to its seat by village roads
    seats = nx.Graph(list(zip(e.loc[sec, "u"], e.loc[sec, "v"], strict=True)))
    assert set(seats) == {int(c) for c in region.townships.index} and nx.is_connected(seats)
    village_roads = nx.Graph(list(zip(e.loc[vil, "u"], e.loc[vil, "v"], strict=True)))
    village_roads.add_nodes_from(int(c) for c in region.townships.index)
    for comp in nx.connected_components(village_roads):
        assert len({town_of[n] for n in comp}) == 1
    assert nx.number_connected_components(village_roads) == len(region.townships)
    # sparse, road-like: township seats have 2-8 township-road neighbours on average
    assert 2.0 < 2 * seats.number_of_edges() / len(seats) < 8.0
    # about one extra village link per 3-6 tree edges (tree edges = villages)
    extra = vil.sum() / 2 - len(region.villages)
    assert 0.1 < extra / len(region.villages) < 0.4


def test_trunk_between_county_towns(graphs: dict[str, nx.MultiDiGraph]) -> None:
    e = _edges(graphs["nanchong"])
    trunk = e[(e["tier"] == "trunk") & ~e["reversed"]]
    net = nx.Graph(list(zip(trunk["u"], trunk["v"], strict=True)))
    assert len(net) == 9 and nx.is_connected(net)
    assert 8 <= net.number_of_edges() <= 3 * 9 - 6  # a tree at least, planar at most
    assert not (_edges(graphs["xuanhan"])["tier"] == "trunk").any()  # one county: no trunk


def test_graph_marked_modelled(graphs: dict[str, nx.MultiDiGraph]) -> None:
    for name, graph in graphs.items():
        g = graph.graph
        assert g["crs"] == "EPSG:4326" and g["modelled"] is True and g["source"] == "modelled"
        assert g["note"] == NOTE and "模拟路网" in g["note"]
        assert g["seed"] == settings.default_seed
        assert g["region_code"] == siting.regions.resolve(name)
        assert g["detour_factor"] == dict(DETOUR_FACTORS) and g["speeds"] == dict(SPEEDS_KPH)
        assert all(d is True for *_, d in graph.edges(data="modelled"))


def test_deterministic(regions: dict[str, Region], graphs: dict[str, nx.MultiDiGraph]) -> None:
    again = modelled(regions["nanchong"])
    assert list(again.nodes(data=True)) == list(graphs["nanchong"].nodes(data=True))
    assert list(again.edges(keys=True, data=True)) == list(
        graphs["nanchong"].edges(keys=True, data=True)
    )
    assert again.graph == graphs["nanchong"].graph
    by_name = modelled("xuanhan")
    assert list(by_name.edges(data="travel_time")) == list(
        graphs["xuanhan"].edges(data="travel_time")
    )


def test_other_seed_moves_villages_not_nodes(graphs: dict[str, nx.MultiDiGraph]) -> None:
    other = modelled(siting.load_region("xuanhan"), seed=7)
    base = graphs["xuanhan"]
    assert other.graph["seed"] == 7
    assert set(other.nodes) == set(base.nodes)
    assert nx.is_strongly_connected(other)
    moved = [n for n in base if base.nodes[n]["x"] != other.nodes[n]["x"]]
    assert moved and all(base.nodes[n]["node_type"] == "village" for n in moved)


def test_speed_and_detour_overrides(regions: dict[str, Region]) -> None:
    base = _edges(modelled(regions["xuanhan"]))
    fast = _edges(modelled(regions["xuanhan"], speeds={"unclassified": 30}, detour_factor=1.0))
    straight = _straight_m(modelled(regions["xuanhan"]), base["u"].to_numpy(), base["v"].to_numpy())
    np.testing.assert_allclose(fast["length"], straight, rtol=1e-9)
    vil = fast["tier"] == "unclassified"
    assert (fast.loc[vil, "speed_kph"] == 30.0).all()
    assert (fast.loc[~vil, "speed_kph"] == base.loc[~vil, "speed_kph"]).all()
    np.testing.assert_allclose(fast["travel_time"], fast["length"] / (fast["speed_kph"] / 3.6))
    with pytest.raises(ValueError, match="unknown tier"):
        modelled(regions["xuanhan"], speeds={"motorway": 100})
    with pytest.raises(ValueError, match=r"speeds\['trunk'\] must be greater than 0"):
        modelled(regions["xuanhan"], speeds={"trunk": 0})
    with pytest.raises(ValueError, match=r"detour_factor.*at least 1"):
        modelled(regions["xuanhan"], detour_factor={"secondary": 0.9})


# ---------------------------------------------------------------------------------------------
# plausibility (figures measured at the default seed are in the comments)


def test_county_towns_by_road_plausible(
    regions: dict[str, Region], graphs: dict[str, nx.MultiDiGraph]
) -> None:
    graph = graphs["nanchong"]
    arrays = graph_arrays(graph)
    towns = county_towns(regions["nanchong"])
    idx = [arrays.index[n] for n in towns["node"]]
    times = dijkstra(arrays.time, indices=idx)
    ratios = []
    for i, j in itertools.combinations(range(len(idx)), 2):
        a, b = idx[i], idx[j]
        straight = float(np.hypot(arrays.x[a] - arrays.x[b], arrays.y[a] - arrays.y[b]))
        ratios.append(times[i, b] / (straight / (SPEEDS_KPH["trunk"] / 3.6)))
    r = np.array(ratios)
    # measured: min 1.15 (a direct trunk road), median 1.27, max 1.54 over the 36 pairs
    assert r.min() >= 1.0
    assert r.max() <= 3.0
    assert 1.1 < np.median(r) < 2.0


@pytest.mark.parametrize(
    ("name", "median_max", "p95_max"),
    [("nanchong", 20.0, 40.0), ("xuanhan", 30.0, 60.0)],
)
def test_villages_reach_their_seat(
    name: str,
    median_max: float,
    p95_max: float,
    regions: dict[str, Region],
    graphs: dict[str, nx.MultiDiGraph],
) -> None:
    region, arrays = regions[name], graph_arrays(graphs[name])
    seats = [int(c) for c in region.townships.index]
    pos = {s: k for k, s in enumerate(seats)}
    to_seat = dijkstra(arrays.time.T.tocsr(), indices=[arrays.index[s] for s in seats])
    minutes = (
        np.array(
            [
                to_seat[pos[int(t)], arrays.index[int(v)]]
                for v, t in region.villages["township_code"].items()
            ]
        )
        / 60.0
    )
    assert np.isfinite(minutes).all()
    # measured: Nanchong median 10.6 min, p95 24.1, max 42.8;
    #           Xuanhan (mountains, larger townships) median 16.4, p95 37.7, max 94.2
    assert 3.0 < np.median(minutes) < median_max
    assert np.percentile(minutes, 95) < p95_max
    assert np.median(minutes) <= 30.0


def test_registry_snaps_close(graphs: dict[str, nx.MultiDiGraph]) -> None:
    reg = siting.modelled.registry_for("xuanhan")
    snapped = snap(graph_arrays(graphs["xuanhan"]), reg["lon"], reg["lat"], index=reg.index)
    assert snapped.index.equals(reg.index)
    # measured: 512 facilities, median 115 m, p95 411 m, max 1658 m, none flagged (> 2 km)
    assert snapped["snap_m"].median() < 500.0
    assert snapped["snap_m"].quantile(0.95) < 1500.0
    assert snapped["snap_flag"].mean() < 0.01
    clinics = snapped[reg["kind"] == "village_clinic"]
    assert clinics["snap_m"].median() < 300.0  # a village clinic sits by its village's node


# ---------------------------------------------------------------------------------------------
# osmnx


def test_osmnx_gdfs_and_routing(graphs: dict[str, nx.MultiDiGraph]) -> None:
    graph = graphs["xuanhan"]
    nodes, edges = ox.graph_to_gdfs(graph)
    assert len(nodes) == len(graph) and len(edges) == graph.number_of_edges()
    assert nodes.crs == edges.crs == "EPSG:4326"
    assert edges.geometry.geom_type.eq("LineString").all()
    town = int(county_towns(siting.load_region("xuanhan"))["node"].iloc[0])
    village = int(siting.load_region("xuanhan").villages.index[-1])
    route = ox.routing.shortest_path(graph, village, town, weight="travel_time")
    assert route is not None and route[0] == village and route[-1] == town
    legs = [
        min(d["travel_time"] for d in graph[a][b].values()) for a, b in itertools.pairwise(route)
    ]
    expected = nx.shortest_path_length(graph, village, town, weight="travel_time")
    assert sum(legs) == pytest.approx(expected)


def test_graphml_round_trip(graphs: dict[str, nx.MultiDiGraph], tmp_path: Path) -> None:
    graph = graphs["xuanhan"]
    path = tmp_path / "xuanhan_modelled.graphml"
    ox.save_graphml(graph, path)
    loaded = load_modelled_graphml(path)
    assert len(loaded) == len(graph)
    assert loaded.number_of_edges() == graph.number_of_edges()
    assert loaded.graph == graph.graph
    assert all(d is True for *_, d in loaded.edges(data="modelled"))
    assert all(d is True for _, d in loaded.nodes(data="modelled"))
    original = {(u, v, k): d for u, v, k, d in graph.edges(keys=True, data=True)}
    for u, v, k, d in loaded.edges(keys=True, data=True):
        assert d["travel_time"] == pytest.approx(original[u, v, k]["travel_time"], rel=1e-12)
        assert isinstance(d["length"], float) and d["tier"] == original[u, v, k]["tier"]
    assert dict(loaded.nodes(data="x")) == dict(graph.nodes(data="x"))
    assert dict(loaded.nodes(data="code")) == dict(graph.nodes(data="code"))
    # plain osmnx loading keeps the weights but leaves ``modelled`` a string: hence the helper
    plain = ox.load_graphml(path)
    assert next(iter(plain.edges(data="modelled")))[2] == "True"
