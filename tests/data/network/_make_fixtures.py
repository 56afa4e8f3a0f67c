"""Write the road-network test files of this folder (run once; the files are committed).

    .venv/bin/python tests/data/network/_make_fixtures.py

The files are shaped like what planners get, in Nanchong (南充市顺庆区):

* ``town_roads.*``: a Shapefile (with ``.prj`` and ``.cpg``) of a town's streets in the Chinese
  schema (等级, 单行, 名称): a grid of two-way streets about 200 m apart, and a one-way lane
  (幸福巷, 单行=是) that leads from the grid to a dead end. ``town_roads_gbk.*`` is the same
  layer in GBK without ``.cpg``, its class column 道路等级 (as Chinese GIS software writes it);
  ``town_roads_nodir.*`` the same without a direction column (Geofabrik's schema without
  ``oneway``).
* ``town_facilities.csv``: facilities (WGS84) near those streets; ``NH-1`` lies 71 m from the
  dead end of the lane and 131 m from a street junction of the grid (the issue's case).
* ``seat_roads_gcj.*``: streets through eight township seats of 顺庆区 (their reference
  positions in ``data/geo/reference/townships_2023.csv``), written in GCJ-02 coordinates but
  with a WGS84 ``.prj``, as layers copied from Chinese web maps often are.
* ``zero_times.graphml`` and ``minute_times.graphml``: ``town_roads`` as GraphML whose
  ``travel_time`` is 0 on every edge, or in minutes instead of seconds (exports of other tools).
* ``truncated.osm.pbf``: the first 20,000 bytes of pyrosm's ``test.osm.pbf`` (an interrupted
  download; OpenStreetMap data © OpenStreetMap contributors, ODbL 1.0), and
  ``error_page.osm.pbf``: a proxy's error page saved under that name.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyrosm
from shapely import LineString

from siting import crs, network
from siting._reference import reference

HERE = Path(__file__).resolve().parent

#: South-west street junction of the town grid (WGS84), away from every township seat.
LON0, LAT0 = 106.0350, 30.8450
M_LON = 111_320.0 * math.cos(math.radians(LAT0))  # metres per degree of longitude here
M_LAT = 110_860.0  # metres per degree of latitude here
STEP_M = 200.0
SIDE = 6


def lonlat(east_m: float, north_m: float) -> tuple[float, float]:
    """The WGS84 point ``east_m``, ``north_m`` metres from the grid's south-west junction."""
    return (round(LON0 + east_m / M_LON, 7), round(LAT0 + north_m / M_LAT, 7))


def bend(a: tuple[float, float], b: tuple[float, float], k: int) -> tuple[float, float]:
    """A vertex between two junctions, a few metres off the straight line (drawn by hand)."""
    off = ((k * 37) % 11 - 5) * 1.0  # -5..5 m
    return ((a[0] + b[0]) / 2 + off, (a[1] + b[1]) / 2 - off)


def town_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    k = 0
    for j in range(SIDE):  # east-west streets, south to north
        pts: list[tuple[float, float]] = []
        for i in range(SIDE):
            here = (i * STEP_M, j * STEP_M)
            if pts:
                k += 1
                pts.append(bend(pts[-1], here, k))
            pts.append(here)
        cls = "次干路" if j == 2 else "支路"
        rows.append({"道路等级": cls, "单行": "否", "名称": f"纬{j + 1}路", "m": pts})
    for i in range(SIDE):  # north-south streets, west to east
        pts = []
        for j in range(SIDE):
            here = (i * STEP_M, j * STEP_M)
            if pts:
                k += 1
                pts.append(bend(pts[-1], here, k))
            pts.append(here)
        cls = "县道" if i == 3 else "支路"
        rows.append({"道路等级": cls, "单行": "否", "名称": f"经{i + 1}路", "m": pts})
    # the one-way lane: from the junction west of the south-east corner down to a dead end
    # 202 m south of that corner
    start = ((SIDE - 2) * STEP_M, 0.0)
    end = ((SIDE - 1) * STEP_M, -202.0)
    rows.append(
        {
            "道路等级": "村道",
            "单行": "是",
            "名称": "幸福巷",
            "m": [start, (start[0] + 100.0, -95.0), end],
        }
    )
    for row in rows:
        row["geometry"] = LineString([lonlat(*p) for p in row.pop("m")])  # type: ignore[arg-type]
    return rows


def facilities() -> list[tuple[str, str, float, float]]:
    corner = ((SIDE - 1) * STEP_M, 0.0)
    home = lonlat(corner[0], corner[1] - 131.0)  # 131 m south of the corner, 71 m from the end
    clinic = lonlat(2 * STEP_M + 40.0, 3 * STEP_M + 25.0)
    centre = lonlat(30.0, 5 * STEP_M + 20.0)
    return [
        ("NH-1", "幸福巷敬老院", *home),
        ("HC-1", "城关镇卫生院", *clinic),
        ("HC-2", "北街社区卫生服务中心", *centre),
    ]


def seat_rows() -> list[dict[str, object]]:
    towns = reference().townships
    towns = towns[(towns["county_code"].astype(str) == "511302") & (towns["coord_match"] == "code")]
    rows: list[dict[str, object]] = []
    for _, town in towns.head(8).iterrows():
        lon, lat = float(town["lon_wgs84"]), float(town["lat_wgs84"])
        m_lon = 111_320.0 * math.cos(math.radians(lat))

        def at(east: float, north: float, lon: float = lon, lat: float = lat, m: float = m_lon):
            return (lon + east / m, lat + north / M_LAT)

        name = str(town["town_name"]).removesuffix("街道").removesuffix("镇")
        # a main street 15 m north of the seat, a cross street 25 m east of it
        main = [at(-380, 5), at(-120, 12), at(150, 18), at(400, 30)]
        cross = [at(25, -300), at(22, -40), at(30, 200), at(45, 320)]
        rows.append({"道路等级": "次干路", "单行": "否", "名称": f"{name}大街", "w": main})
        rows.append({"道路等级": "支路", "单行": "否", "名称": f"{name}横街", "w": cross})
    for row in rows:
        pts = np.array(row.pop("w"))  # type: ignore[arg-type]
        gx, gy = crs.wgs84_to_gcj02(pts[:, 0], pts[:, 1])
        row["geometry"] = LineString(np.column_stack([np.round(gx, 7), np.round(gy, 7)]))
    return rows


def main() -> None:
    town = gpd.GeoDataFrame(town_rows(), geometry="geometry", crs="EPSG:4326")
    # a dBASE field name holds 10 bytes: 道路等级 fits in GBK (8), not in UTF-8 (12)
    town.rename(columns={"道路等级": "等级"}).to_file(HERE / "town_roads.shp", encoding="utf-8")
    town.to_file(HERE / "town_roads_gbk.shp", encoding="gbk")
    (HERE / "town_roads_gbk.cpg").unlink()  # as Chinese shapefiles often come
    nodir = town.rename(columns={"道路等级": "fclass", "名称": "name"}).drop(columns="单行")
    nodir["fclass"] = nodir["fclass"].map(network.road_class)
    nodir.to_file(HERE / "town_roads_nodir.shp", encoding="utf-8")
    with (HERE / "town_facilities.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["id", "name", "lon", "lat"])
        out.writerows(facilities())
    seats = gpd.GeoDataFrame(seat_rows(), geometry="geometry", crs="EPSG:4326")
    seats = seats.rename(columns={"道路等级": "等级"})
    seats.to_file(HERE / "seat_roads_gcj.shp", encoding="utf-8")
    graph = network.from_lines(HERE / "town_roads.shp")
    zero = graph.copy()
    for _, _, data in zero.edges(data=True):
        data["travel_time"] = 0.0
    network.to_graphml(zero, HERE / "zero_times.graphml")
    minutes = graph.copy()
    for _, _, data in minutes.edges(data=True):
        data["travel_time"] = round(data["travel_time"] / 60.0, 3)
    network.to_graphml(minutes, HERE / "minute_times.graphml")
    pbf = Path(pyrosm.get_data("test_pbf")).read_bytes()
    (HERE / "truncated.osm.pbf").write_bytes(pbf[:20_000])
    (HERE / "error_page.osm.pbf").write_bytes(
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        b"</body>\r\n</html>\r\n"
    )
    # the town is away from the township seats: its streets give no evidence of their system
    seats_ref = network._reference_seats()
    assert seats_ref is not None
    assert network._road_evidence(np.asarray(town.geometry.array), seats_ref) is None
    for path in sorted(HERE.iterdir()):
        if path.name != Path(__file__).name:
            print(f"{path.name:28} {path.stat().st_size:>8,} bytes")


if __name__ == "__main__":
    main()
