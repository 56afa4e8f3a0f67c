"""Checks of a road network before it is used (issue: roads part).

A network of another place is refused with the numbers; points are not tied to islands (a
one-way dead end) when the network proper is within reach; implausible travel times are refused
with the edge; ``network import`` says how the network hangs together; line layers use their
``.prj`` (with the WGS84/GCJ-02 evidence check), the CLI has ``--encoding``,
``--oneway-column``, ``--class-column``, ``--class-map`` and ``--layer``, and every error names
the flag to change; a bad ``.pbf`` is one clear line.

The files are in ``tests/data/network/`` (see its ``_make_fixtures.py``): a town's streets in
Nanchong with a one-way lane to a dead end, facilities beside them, streets through township
seats in GCJ-02 labelled WGS84, GraphML with broken travel times, and broken ``.pbf`` files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyrosm
import pytest
from shapely import LineString, points

from siting import costs, network
from siting._errors import ValidationError
from siting._graph import GraphError, components, graph_arrays, snap, snap_in_background
from siting.cli import main
from siting.network import NetworkError, NetworkWarning, check_against, check_speeds

DATA = Path(__file__).resolve().parent / "data" / "network"
TOWN = DATA / "town_roads.shp"


@pytest.fixture(scope="module")
def town() -> nx.MultiDiGraph:
    return network.from_lines(TOWN, crs="wgs84")


def town_facilities() -> gpd.GeoDataFrame:
    rows = pd.read_csv(DATA / "town_facilities.csv", dtype={"id": str})
    return gpd.GeoDataFrame(
        rows[["name"]], geometry=points(rows["lon"], rows["lat"]), crs=4326
    ).set_axis(pd.Index(rows["id"], name="id"))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- a network of another place ------------------------------------------------------------------


def test_a_network_of_another_place_is_refused_with_the_numbers() -> None:
    finland = network.from_pbf(pyrosm.get_data("test_pbf"))  # Kouvola, Finland
    with pytest.raises(NetworkError) as info:
        check_against(finland, town_facilities())
    text = str(info.value)
    assert "3 of 3 facilities (100%) are more than 2,000 m from any node" in text
    assert "路网未覆盖机构" in text and "--network" in text
    assert "(nearest of them 6,486 km, median 6,487 km, farthest 6,488 km)" in text
    # both extents, as lon/lat bounds
    assert "The network spans lon 26.9302..26.9698, lat 60.5201..60.5399" in text
    assert "the facilities lon 106.0353..106.0455, lat 30.8438..30.8542 (WGS84)" in text
    assert "\n" not in text


def test_a_few_facilities_beyond_the_network_are_reported(town: nx.MultiDiGraph) -> None:
    fac = town_facilities()
    away = gpd.GeoDataFrame(
        {"name": ["山顶敬老院"]}, geometry=points([106.10], [30.88]), crs=4326
    ).set_axis(pd.Index(["NH-9"], name="id"))
    both = pd.concat([fac, away])
    with pytest.raises(NetworkError, match=r"1 of 4 facilities \(25%\)"):
        check_against(town, both)  # more than 10 % are beyond the network
    report = check_against(town, both, max_share=0.3)
    assert report["beyond_snap"] == 1 and report["beyond_snap_ids"] == ["NH-9"]
    assert report["beyond_snap_share"] == 0.25 and report["facilities"] == 4
    assert report["network_bounds"][0] == pytest.approx(106.035)
    assert report["facility_bounds"][2] == pytest.approx(106.10)
    assert any("NH-9" in line and "snap_flag" in line for line in report["warnings"])
    # a compiled graph gives the same report; facilities in a projected CRS are converted
    assert check_against(graph_arrays(town), both.to_crs(32648), max_share=0.3) == report


# --- islands: the one-way dead end ------------------------------------------------------


def test_a_point_by_a_one_way_dead_end_is_tied_to_the_network(town: nx.MultiDiGraph) -> None:
    fac = town_facilities()
    home, centres = fac.loc[["NH-1"]], fac.loc[["HC-1", "HC-2"]]
    # the home is 71 m from the dead end of a one-way lane and 131 m from a street junction:
    # trips from it reach the health centres, both ways
    for direction in costs.DIRECTIONS:
        out = costs.nearest(town, home, centres, k=2, direction=direction)
        assert out["reachable"].all(), direction
        assert out["demand_snap_m"].iloc[0] == pytest.approx(131, abs=1)
    arrays = graph_arrays(town)
    lon, lat = home.geometry.x.to_numpy(), home.geometry.y.to_numpy()
    dist, pos = arrays_nearest(arrays, lon, lat)
    assert dist == pytest.approx(71, abs=1)  # the dead end is the nearest node ...
    parts = components(arrays)
    assert parts.sizes.tolist() == [36, 1] and parts.island.tolist().index(True) == pos
    tied = snap(arrays, lon, lat)  # ... but the junction, on the network proper, is used
    assert tied["node_pos"].iloc[0] != pos and not parts.island[tied["node_pos"].iloc[0]]
    assert tied["snap_m"].iloc[0] == pytest.approx(131, abs=1)
    assert not tied["island"].iloc[0] and not tied["snap_flag"].iloc[0]
    later = snap_in_background(arrays, lon, lat)()
    pd.testing.assert_frame_equal(later, tied)
    report = check_against(arrays, fac)
    assert report["on_islands"] == [] and report["off_largest"] == []


def test_a_point_whose_only_close_node_is_an_island_is_reported(town: nx.MultiDiGraph) -> None:
    fac = town_facilities()
    report = check_against(town, fac, max_snap_m=100.0, max_share=0.5)
    assert report["on_islands"] == ["NH-1"]  # the junction (131 m) is beyond 100 m
    assert any("islands" in line and "NH-1" in line for line in report["warnings"])
    tied = snap(graph_arrays(town), fac.geometry.x, fac.geometry.y, max_snap_m=100.0)
    assert tied["island"].tolist() == [True, False, False]


def test_connectivity_gives_component_sizes_and_length_outside(town: nx.MultiDiGraph) -> None:
    c = network.connectivity(town)
    lane = sum(d["length"] for _, _, d in town.edges(data=True) if d["name"] == "幸福巷")
    assert c["components"] == 2 and c["sizes"] == [36, 1] and c["largest_nodes"] == 36
    assert c["islands"] == 1 and c["island_nodes"] == 1
    assert c["outside_largest_km"] == pytest.approx(lane / 1000.0, abs=1e-3)
    assert c["outside_largest_share"] == pytest.approx(lane / 1000.0 / c["length_km"], abs=1e-4)


def test_network_import_reports_the_components(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "town.graphml"
    code, stdout, stderr = cli(capsys, "network", "import", str(TOWN), "--out", str(out))
    assert code == 0, stderr
    assert "1 connected part(s)" in stdout
    assert "largest part 36 nodes (97.3%); 1 other part(s) of 1 nodes" in stdout
    assert "0.3 km (1.2%) of the directed edges lie outside the largest part" in stdout
    assert "1 island(s)" in stdout
    assert network.from_graphml(out).number_of_edges() == 121


# --- implausible travel times --------------------------------------------------------------------


def test_zero_travel_times_are_refused_with_the_edge() -> None:
    with pytest.raises(NetworkError) as info:
        network.load(DATA / "zero_times.graphml")
    text = str(info.value)
    assert "zero_times.graphml: 121 of 121 edges have implausible travel times" in text
    assert "edge (0, 1, 0) [highway='residential', length=200.185" in text
    assert "travel_time 0 s over 200.2 m" in text and "every edge has travel_time 0" in text


def test_travel_times_in_minutes_are_refused_with_the_edge() -> None:
    with pytest.raises(NetworkError) as info:
        network.from_graphml(DATA / "minute_times.graphml")
    text = str(info.value)
    assert "200.2 m in 0.48 s = 1,501 km/h" in text and "not minutes or hours" in text


def test_speed_checks_of_graphs_built_in_code() -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=106.0, y=30.8)
    g.add_node(2, x=106.01, y=30.8)
    g.add_edge(1, 2, length=955.0, travel_time=60.0, highway="primary")
    g.add_edge(2, 1, length=955.0, travel_time=60.0, highway="primary")
    g.add_edge(2, 2, length=0.0, travel_time=0.0)  # a zero-length loop takes no time: fine
    check_speeds(g)
    check_speeds(graph_arrays(g))
    g.add_edge(1, 2, length=955.0, travel_time=20.0, highway="motorway", name="G75")
    with pytest.raises(NetworkError, match=r"edge \(1, 2, 1\) \[.*name='G75'.*172 km/h"):
        check_speeds(g)
    with pytest.raises(NetworkError, match=r"edge \(1, 2\) \[length=955, travel_time=20\]"):
        check_speeds(graph_arrays(g))  # the compiled form names the node pair
    with pytest.raises(NetworkError, match="172 km/h"):
        check_against(g, town_facilities().iloc[:0])
    g.edges[1, 2, 1]["travel_time"] = 0.0
    with pytest.raises(GraphError, match=r"edge \(1, 2, 1\).*travel_time 0 s over 955 m"):
        graph_arrays(g)
    g.edges[1, 2, 1]["travel_time"] = -5.0
    with pytest.raises(GraphError, match=r"edge \(1, 2, 1\).*not a number >= 0"):
        graph_arrays(g)


def test_maxspeed_tagging_errors_are_ignored_and_class_speeds_are_bounded() -> None:
    roads = gpd.GeoDataFrame(
        {"fclass": ["motorway"], "oneway": ["B"], "maxspeed": [1200]},
        geometry=[LineString([(106.0, 30.8), (106.01, 30.8)])],
        crs=4326,
    )
    g = network.from_lines(roads, crs="wgs84")
    assert {d["speed_kph"] for *_, d in g.edges(data=True)} == {100.0}  # the class speed
    with pytest.raises(NetworkError, match="faster than any road"):
        network.speed_table({"高速": 200})


# --- broken .pbf files ---------------------------------------------------------------------------


def test_a_cut_off_or_foreign_pbf_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NetworkError, match=r"cut off \(an interrupted download\?\)"):
        network.from_pbf(DATA / "truncated.osm.pbf")
    with pytest.raises(NetworkError, match="starts with '<html> <head><title>502 Bad Gat"):
        network.from_pbf(DATA / "error_page.osm.pbf")
    for name in ("truncated.osm.pbf", "error_page.osm.pbf"):
        code, _, stderr = cli(
            capsys, "network", "import", str(DATA / name), "--out", str(DATA / "never.graphml")
        )
        assert code == 2 and not (DATA / "never.graphml").exists()
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "is not a complete OpenStreetMap .osm.pbf" in lines[0]
        assert "DecodeError" not in stderr and "Traceback" not in stderr


# --- line layers: .prj, evidence, encoding, direction, flags -------------------------------------


def test_a_prj_is_used_when_no_crs_is_given(town: nx.MultiDiGraph) -> None:
    by_prj = network.from_lines(TOWN)
    source = by_prj.graph["source"]
    assert source["crs"] == "wgs84" and source["crs_from"] == "file"
    assert "warnings" not in source  # WGS84 streets away from the township seats
    declared, town = town, by_prj
    assert dict(declared.nodes(data=True)) == dict(town.nodes(data=True))
    assert list(declared.edges(keys=True, data=True)) == list(town.edges(keys=True, data=True))


def test_gcj02_roads_labelled_wgs84_warn_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / "seat_roads_gcj.shp"
    with pytest.warns(NetworkWarning, match=r"fit GCJ-02, not WGS84") as caught:
        g = network.from_lines(path)
    text = str(caught[0].message)
    assert "as its label EPSG:4326 says" in text
    assert "give --network-crs gcj02 (crs='gcj02' in Python)" in text
    assert g.graph["source"]["warnings"] == [text]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = network.from_lines(path, crs="gcj02")  # declared: no warning
    assert "warnings" not in right.graph["source"]
    # roads that do not pass the seats (here moved 1 km east) are no evidence either way
    moved = gpd.read_file(path).translate(xoff=0.0103)
    roads = gpd.GeoDataFrame({"等级": "支路", "单行": "否"}, geometry=moved, index=moved.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert network.from_lines(roads, crs="wgs84").number_of_edges() > 0
    # read as GCJ-02, the roads pass the seats' WGS84 positions: 15-25 m away
    xs = [d["x"] for _, d in right.nodes(data=True)]
    ys = [d["y"] for _, d in right.nodes(data=True)]
    assert min(xs) > 106.0 and max(ys) < 31.0
    code, _, stderr = cli(capsys, "network", "import", str(path), "--out", str(tmp_path / "a"))
    assert code == 0 and "提示 warning:" in stderr and "--network-crs gcj02" in stderr
    code, _, stderr = cli(
        capsys,
        "network",
        "import",
        str(path),
        "--network-crs",
        "gcj02",
        "--out",
        str(tmp_path / "b.graphml"),
    )
    assert code == 0 and stderr == ""


def test_a_gbk_shapefile_without_cpg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "town_roads_gbk.shp"
    assert not path.with_suffix(".cpg").exists()
    with pytest.raises(ValidationError) as info:
        network.from_lines(path)
    text = str(info.value)
    assert "'µÀÂ·µÈ¼¶' reads '道路等级' as GBK" in text and "--encoding gbk" in text
    out = tmp_path / "gbk.graphml"
    code, _, stderr = cli(capsys, "network", "import", str(path), "--out", str(out))
    assert code == 2 and "--encoding gbk" in stderr
    code, _, stderr = cli(
        capsys, "network", "import", str(path), "--encoding", "gbk", "--out", str(out)
    )
    assert code == 0, stderr
    names = {d["name"] for *_, d in network.from_graphml(out).edges(data=True)}
    assert {"幸福巷", "纬1路", "经4路"} <= names


def test_a_layer_without_direction_column_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = DATA / "town_roads_nodir.shp"
    out = tmp_path / "nodir.graphml"
    code, _, stderr = cli(capsys, "network", "import", str(path), "--out", str(out))
    assert code == 2 and "--oneway-column none" in stderr and not out.exists()
    code, _, stderr = cli(
        capsys, "network", "import", str(path), "--oneway-column", "none", "--out", str(out)
    )
    assert code == 0, stderr
    g = network.from_graphml(out)
    assert not any(d["oneway"] for *_, d in g.edges(data=True))
    assert g.number_of_edges() == 122  # every line both ways, the lane too
    # a named direction column and class column
    code, _, stderr = cli(
        capsys,
        "network",
        "import",
        str(TOWN),
        "--oneway-column",
        "单行",
        "--class-column",
        "等级",
        "--out",
        str(tmp_path / "named.graphml"),
    )
    assert code == 0, stderr
    code, _, stderr = cli(
        capsys, "network", "import", str(TOWN), "--oneway-column", "方向", "--out", str(out)
    )
    assert code == 2 and "'方向' is missing (--oneway-column)" in stderr


def test_errors_name_the_cli_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    town = gpd.read_file(TOWN)
    bare = tmp_path / "bare.shp"
    town.to_file(bare)
    bare.with_suffix(".prj").unlink()
    with pytest.raises(NetworkError, match="declare it with --network-crs: wgs84"):
        network.from_lines(bare)
    two = tmp_path / "two.gpkg"
    town.to_file(two, layer="roads")
    town.to_file(two, layer="streets")
    with pytest.raises(NetworkError, match=r"--layer NAME \(layer= in Python\)"):
        network.from_lines(two)
    out = tmp_path / "two.graphml"
    code, _, stderr = cli(
        capsys, "network", "import", str(two), "--layer", "streets", "--out", str(out)
    )
    assert code == 0, stderr
    odd = town.assign(等级=town["等级"].replace({"支路": "四级公路"}))
    odd_path = tmp_path / "odd.gpkg"
    odd.to_file(odd_path)
    with pytest.raises(ValidationError, match=r"--class-map '四级公路=CLASS'"):
        network.from_lines(odd_path)
    code, _, stderr = cli(
        capsys,
        "network",
        "import",
        str(odd_path),
        "--class-map",
        "四级公路=支路",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    code, _, stderr = cli(
        capsys, "network", "import", str(odd_path), "--class-map", "四级公路", "--out", str(out)
    )
    assert code == 2 and "--class-map" in stderr and "LABEL=CLASS" in stderr
    code, _, stderr = cli(
        capsys,
        "network",
        "import",
        str(DATA / "zero_times.graphml"),
        "--encoding",
        "gbk",
        "--out",
        str(out),
    )
    assert code == 2 and "--encoding: for line layers" in stderr
    code, _, stderr = cli(
        capsys, "network", "import", str(TOWN), "--encoding", "klingon", "--out", str(out)
    )
    assert code == 2 and "--encoding 'klingon' (encoding= in Python) is not" in stderr


def arrays_nearest(arrays: object, lon: np.ndarray, lat: np.ndarray) -> tuple[float, int]:
    """The plain nearest node (any component) of one point: distance and matrix position."""
    import pyproj

    a = arrays
    tf = pyproj.Transformer.from_crs("EPSG:4326", a.crs, always_xy=True)  # type: ignore[attr-defined]
    x, y = tf.transform(lon, lat)
    d = np.hypot(a.x - x[0], a.y - y[0])  # type: ignore[attr-defined]
    return float(d.min()), int(d.argmin())
