"""Tests of siting.crs: WGS84 / GCJ-02 / BD-09 conversion and the metric CRS choice.

Published coordinate pairs, and where they come from (nothing here is made up; values are copied
with every published digit):

* ``googollee/eviltransform``, ``python/test.py`` (commit 3416646a; the same three pairs are in
  ``go/transform_test.go``, ``c/test.c`` and ``javascript/test.js``): WGS84 -> GCJ-02 for
  Shanghai, Shenzhen and Beijing, given as (lat, lng).
* ``wandergis/coordtransform``, ``README.md`` (commit 0148136a; also ``test/app.js``): the
  examples at (116.404, 39.915) in every direction. Its ``gcj02towgs84`` and ``bd09togcj02``
  outputs are the published *one-step* approximate inverses, so they are checked as such.
* ``dromara/hutool``, ``hutool-core/src/test/java/cn/hutool/core/util/CoordinateUtilTest.java``
  (as in the snapshot ``cutoy/hutool`` at 14e7993c): ``wgs84ToBd09`` at (116.404, 39.915) and
  at (122.99395597, 44.99804071), the latter attributed there to https://tool.lu/coordinate/.
* Alibaba Cloud, address purification API "TransferCoord" (坐标系转换) documentation,
  https://help.aliyun.com/zh/address-purification/addrpapi/developer-reference/coordinate-system-conversion
  : GCJ-02 (120.026268, 30.279164) -> BD-09 (120.032768, 30.285238) and WGS84
  (120.021519, 30.281543), six decimals. Its WGS84 value is the one-step inverse, rounded.

Not used: the two ``TESTS_bd`` (BD-09 -> WGS84) pairs in eviltransform's ``python/test.py``.
Neither the published formula nor eviltransform's own ``bd2wgs`` reproduces them (they are 10 m
and 41 m away), so they probably come from Baidu's online service, not from the formula. Baidu's
own geoconv documentation shows requests but no converted values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from shapely import LineString, MultiPolygon, Point, Polygon

from siting import crs, settings
from siting._errors import SitingError
from siting.crs import (
    BD09,
    CRS_NAMES,
    GCJ02,
    WGS84,
    CRSError,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    convert_gdf,
    convert_geometry,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs,
    normalize_crs_name,
    out_of_china,
    require_metric,
    to_metric,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")
Converter = Callable[[Any, Any], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]
TOWNSHIPS = (
    Path(__file__).resolve().parents[1] / "data" / "geo" / "reference" / "townships_2023.csv"
)

#: A forward conversion reproduces a published double to this many degrees (1e-9 deg ~ 0.1 mm;
#: observed: bit-identical).
FORWARD_TOL_DEG = 1e-9
#: The exact inverses stop at a 1 mm round-trip residual by default.
ROUND_TRIP_TOL_M = 0.001


def dist_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Geodesic distance in metres on the WGS84 ellipsoid."""
    a, b, c, d = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2))
    )
    return np.asarray(GEOD.inv(a, b, c, d)[2], dtype=np.float64)


def china_grid() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """8,875 points every half degree over lon 73..135, lat 18..53 (mainland China's box)."""
    lon, lat = np.meshgrid(np.linspace(73.0, 135.0, 125), np.linspace(18.0, 53.0, 71))
    return lon.ravel(), lat.ravel()


# --- published pairs -----------------------------------------------------------------------------

# (wgs_lon, wgs_lat, gcj_lon, gcj_lat); eviltransform lists them as (lat, lng, lat, lng).
EVILTRANSFORM_WGS_GCJ = [
    pytest.param(121.5272106, 31.1774276, 121.531541859215, 31.17530398364597, id="shanghai"),
    pytest.param(113.912316, 22.543847, 113.9171764808363, 22.540796131694766, id="shenzhen"),
    pytest.param(116.377817, 39.911954, 116.38404722455657, 39.91334545536069, id="beijing"),
]


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_reproduces_eviltransform(
    wlon: float, wlat: float, glon: float, glat: float
) -> None:
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert abs(float(lon) - glon) < FORWARD_TOL_DEG
    assert abs(float(lat) - glat) < FORWARD_TOL_DEG


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), EVILTRANSFORM_WGS_GCJ)
def test_gcj02_to_wgs84_inverts_eviltransform(
    wlon: float, wlat: float, glon: float, glat: float
) -> None:
    # eviltransform's own exact inverse is held to 0.5 m; ours iterates to 1 mm.
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert dist_m(lon, lat, wlon, wlat) < ROUND_TRIP_TOL_M


def test_coordtransform_readme_forward_examples() -> None:
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert abs(float(lon) - 116.41024449916938) < FORWARD_TOL_DEG
    assert abs(float(lat) - 39.91640428150164) < FORWARD_TOL_DEG
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert abs(float(lon) - 116.41036949371029) < FORWARD_TOL_DEG
    assert abs(float(lat) - 39.92133699351021) < FORWARD_TOL_DEG


def test_coordtransform_readme_inverse_examples_are_one_step_approximations() -> None:
    # gcj02towgs84(116.404, 39.915) and bd09togcj02(116.404, 39.915) as published: the
    # one-step inverses. Ours must agree with them to within their accuracy (a few cm here) and
    # be exact where they are not: converting forward again must land on the input.
    published_wgs = (116.39775550083061, 39.91359571849836)
    published_gcj = (116.39762729119315, 39.90865673957631)

    wlon, wlat = gcj02_to_wgs84(116.404, 39.915)
    assert dist_m(wlon, wlat, *published_wgs) < 0.1
    assert dist_m(*wgs84_to_gcj02(wlon, wlat), 116.404, 39.915) < ROUND_TRIP_TOL_M
    assert dist_m(*wgs84_to_gcj02(*published_wgs), 116.404, 39.915) > 0.01

    glon, glat = bd09_to_gcj02(116.404, 39.915)
    assert dist_m(glon, glat, *published_gcj) < 0.1
    assert dist_m(*gcj02_to_bd09(glon, glat), 116.404, 39.915) < ROUND_TRIP_TOL_M
    assert dist_m(*gcj02_to_bd09(*published_gcj), 116.404, 39.915) > 0.01


@pytest.mark.parametrize(
    ("wlon", "wlat", "blon", "blat"),
    [
        pytest.param(116.404, 39.915, 116.41662724378733, 39.922699552216216, id="beijing"),
        pytest.param(122.99395597, 44.99804071, 123.00636516028885, 45.0063690918959, id="toollu"),
    ],
)
def test_wgs84_bd09_reproduces_hutool(wlon: float, wlat: float, blon: float, blat: float) -> None:
    lon, lat = wgs84_to_bd09(wlon, wlat)
    assert abs(float(lon) - blon) < FORWARD_TOL_DEG
    assert abs(float(lat) - blat) < FORWARD_TOL_DEG
    lon, lat = bd09_to_wgs84(blon, blat)
    assert dist_m(lon, lat, wlon, wlat) < ROUND_TRIP_TOL_M


def test_aliyun_documented_example() -> None:
    gcj = (120.026268, 30.279164)
    # BD-09 is published to 6 decimals: half a unit of the last place, plus float noise.
    blon, blat = gcj02_to_bd09(*gcj)
    assert abs(float(blon) - 120.032768) <= 5e-7 + 1e-12
    assert abs(float(blat) - 30.285238) <= 5e-7 + 1e-12
    assert dist_m(*bd09_to_gcj02(120.032768, 30.285238), *gcj) < 0.08
    # The documented WGS84 is the one-step inverse rounded to 6 decimals; that approximation is
    # off by 1.7 m here. The exact inverse is within that of it and closes the round trip.
    wlon, wlat = gcj02_to_wgs84(*gcj)
    assert dist_m(wlon, wlat, 120.021519, 30.281543) < 2.0
    assert dist_m(*wgs84_to_gcj02(wlon, wlat), *gcj) < ROUND_TRIP_TOL_M


# --- round trips and consistency -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        pytest.param(wgs84_to_gcj02, gcj02_to_wgs84, id="wgs84-gcj02"),
        pytest.param(gcj02_to_bd09, bd09_to_gcj02, id="gcj02-bd09"),
        pytest.param(wgs84_to_bd09, bd09_to_wgs84, id="wgs84-bd09"),
    ],
)
def test_round_trip_over_china_is_sub_millimetre(forward: Converter, inverse: Converter) -> None:
    lon, lat = china_grid()
    moved = forward(lon, lat)
    assert dist_m(*moved, lon, lat).min() > 1.0  # it did move every point
    back = inverse(*moved)
    assert dist_m(*back, lon, lat).max() < ROUND_TRIP_TOL_M


def test_iteration_is_what_makes_the_inverse_exact() -> None:
    lon, lat = china_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    coarse = gcj02_to_wgs84(glon, glat, max_iter=1)
    assert dist_m(*coarse, lon, lat).max() > ROUND_TRIP_TOL_M
    fine = gcj02_to_wgs84(glon, glat, tol_m=1e-6)
    assert dist_m(*fine, lon, lat).max() < 1e-5


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in CRS_NAMES for d in CRS_NAMES if s != d])
def test_every_direction_agrees_with_the_route_through_the_third(src: str, dst: str) -> None:
    lon, lat = china_grid()
    (mid,) = set(CRS_NAMES) - {src, dst}
    direct = convert(lon, lat, src=src, dst=dst)
    routed = convert(*convert(lon, lat, src=src, dst=mid), src=mid, dst=dst)
    assert dist_m(*direct, *routed).max() < ROUND_TRIP_TOL_M
    back = convert(*direct, src=dst, dst=src)
    assert dist_m(*back, lon, lat).max() < ROUND_TRIP_TOL_M


def test_named_compositions_match_their_parts() -> None:
    lon, lat = china_grid()
    np.testing.assert_allclose(
        np.stack(wgs84_to_bd09(lon, lat)), np.stack(gcj02_to_bd09(*wgs84_to_gcj02(lon, lat)))
    )
    np.testing.assert_allclose(
        np.stack(bd09_to_wgs84(lon, lat)), np.stack(gcj02_to_wgs84(*bd09_to_gcj02(lon, lat)))
    )


@hyp_settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(min_value=73.0, max_value=135.0),
    lat=st.floats(min_value=18.0, max_value=53.0),
    src=st.sampled_from(CRS_NAMES),
    dst=st.sampled_from(CRS_NAMES),
)
def test_round_trip_property(lon: float, lat: float, src: str, dst: str) -> None:
    there = convert(lon, lat, src=src, dst=dst)
    back = convert(*there, src=dst, dst=src)
    assert dist_m(*back, lon, lat) < ROUND_TRIP_TOL_M


# --- real data -----------------------------------------------------------------------------------


def test_offset_in_nanchong_is_a_few_hundred_metres_south_east() -> None:
    glon, glat = wgs84_to_gcj02(106.1, 30.8)
    shift = float(dist_m(glon, glat, 106.1, 30.8)[()])
    assert 300.0 < shift < 700.0
    assert float(glon) > 106.1  # GCJ-02 lies east of WGS84 here
    assert float(glat) < 30.8  # ... and south


def test_township_seats_match_the_reference_table() -> None:
    table = pd.read_csv(TOWNSHIPS).dropna(subset=["lon_gcj02", "lat_gcj02"])
    assert len(table) == 259
    gcj = table[["lon_gcj02", "lat_gcj02"]].to_numpy().T
    wgs = table[["lon_wgs84", "lat_wgs84"]].to_numpy().T

    lon, lat = gcj02_to_wgs84(*gcj)
    # The table is rounded to 6 decimals (half a unit: 5e-7 deg); allow 1 mm more for the
    # independent inverse's own tolerance. Observed: 4.995e-7 deg, 0.072 m.
    assert np.abs(lon - wgs[0]).max() <= 5e-7 + 1e-8
    assert np.abs(lat - wgs[1]).max() <= 5e-7 + 1e-8
    assert dist_m(lon, lat, *wgs).max() < 0.08

    lon, lat = wgs84_to_gcj02(*wgs)
    assert dist_m(lon, lat, *gcj).max() < 0.08
    assert dist_m(*gcj, *wgs).min() > 300.0  # the table does hold two different systems


# --- edges: outside China, NaN, shapes -----------------------------------------------------------

ABROAD = {
    "tokyo": (139.69, 35.69),
    "london": (-0.1276, 51.5072),
    "new_york": (-74.006, 40.7128),
    "sydney": (151.2093, -33.8688),
}


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in CRS_NAMES for d in CRS_NAMES if s != d])
def test_points_outside_china_are_untouched(src: str, dst: str) -> None:
    lon, lat = np.array(list(ABROAD.values())).T
    out_lon, out_lat = convert(lon, lat, src=src, dst=dst)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    # ... while a point in China in the same call is moved.
    mixed = convert(np.append(lon, 106.1), np.append(lat, 30.8), src=src, dst=dst)
    np.testing.assert_array_equal(mixed[0][:-1], lon)
    assert mixed[0][-1] != 106.1


def test_out_of_china_follows_the_published_rectangle() -> None:
    lon = np.array([106.1, 116.4, 139.69, -0.1276, 72.004, 72.0039, 137.8347, 137.8348, 100.0])
    lat = np.array([30.8, 39.9, 35.69, 51.5072, 30.0, 30.0, 30.0, 30.0, 55.8272])
    expected = [False, False, True, True, False, True, False, True, True]
    assert out_of_china(lon, lat).tolist() == expected
    assert out_of_china(100.0, 0.8293).tolist() is False
    assert out_of_china(100.0, 0.8292).tolist() is True
    assert out_of_china(np.nan, 30.0).tolist() is True


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in CRS_NAMES for d in CRS_NAMES if s != d])
def test_nan_in_nan_out(src: str, dst: str) -> None:
    lon = np.array([106.1, np.nan, 106.2, 106.3])
    lat = np.array([30.8, 30.8, np.nan, 30.9])
    out_lon, out_lat = convert(lon, lat, src=src, dst=dst)
    assert np.isnan(out_lon[1:3]).all()
    assert np.isnan(out_lat[1:3]).all()  # half a pair is no position: both NaN
    assert np.isfinite(out_lon[[0, 3]]).all()
    assert np.isfinite(out_lat[[0, 3]]).all()
    assert out_lon[0] != 106.1


@pytest.mark.parametrize(
    "fn",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_scalars_arrays_and_shapes(fn: Converter) -> None:
    lon, lat = fn(106.1, 30.8)
    assert isinstance(lon, np.ndarray)
    assert lon.shape == () and lat.shape == ()
    assert lon.dtype == np.float64 and lat.dtype == np.float64

    grid_lon = np.linspace(104.0, 108.0, 12).reshape(3, 4)
    grid_lat = np.linspace(29.0, 32.0, 12).reshape(3, 4)
    before = grid_lon.copy()
    lon, lat = fn(grid_lon, grid_lat)
    assert lon.shape == (3, 4) and lat.shape == (3, 4)
    np.testing.assert_array_equal(grid_lon, before)  # input not modified
    assert float(lon[1, 2]) == pytest.approx(float(fn(grid_lon[1, 2], grid_lat[1, 2])[0]))

    lon, lat = fn([106, 107], pd.Series([30, 31]))  # ints, lists and Series
    assert lon.dtype == np.float64 and lon.shape == (2,)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="same shape"):
        wgs84_to_gcj02([106.1, 106.2], [30.8])


def test_iteration_options_are_checked() -> None:
    with pytest.raises(ValueError, match="tol_m"):
        gcj02_to_wgs84(106.1, 30.8, tol_m=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        bd09_to_gcj02(106.1, 30.8, max_iter=0)


def test_convert_same_system_returns_copies() -> None:
    lon = np.array([106.1, 116.4])
    lat = np.array([30.8, 39.9])
    out_lon, out_lat = convert(lon, lat, src="高德", dst="GCJ-02")
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    out_lon[0] = 0.0
    out_lat[0] = 0.0
    assert lon[0] == 106.1
    assert lat[0] == 30.8


def test_convert_accepts_labels() -> None:
    a = convert(116.404, 39.915, src="火星坐标", dst="百度")
    b = gcj02_to_bd09(116.404, 39.915)
    assert float(a[0]) == float(b[0]) and float(a[1]) == float(b[1])
    with pytest.raises(CRSError):
        convert(116.404, 39.915, src="bd09mc", dst="wgs84")


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WGS84", WGS84),
        ("wgs-84", WGS84),
        ("WGS 84", WGS84),
        ("EPSG:4326", WGS84),
        ("4326", WGS84),
        ("GPS", WGS84),
        ("天地图", WGS84),
        ("OSM", WGS84),
        ("GCJ-02", GCJ02),
        ("gcj02", GCJ02),
        ("gcj", GCJ02),
        ("GCJ_02", GCJ02),
        ("火星", GCJ02),
        ("火星坐标", GCJ02),
        ("火星坐标系", GCJ02),
        ("高德", GCJ02),
        ("高德地图", GCJ02),
        ("amap", GCJ02),
        ("Gaode", GCJ02),
        ("腾讯", GCJ02),
        ("tencent", GCJ02),
        ("QQ", GCJ02),
        ("BD-09", BD09),
        ("bd09", BD09),
        ("BD09LL", BD09),
        ("百度", BD09),
        ("百度坐标系", BD09),
        ("Baidu", BD09),
        ("  bd 09 ", BD09),
    ],
)
def test_normalize_crs_name(name: str, expected: str) -> None:
    assert normalize_crs_name(name) == expected


@pytest.mark.parametrize("name", ["bd09mc", "mercator", "", "坐标", "EPSG:3857", "wgs"])
def test_unknown_crs_name_lists_accepted_names(name: str) -> None:
    with pytest.raises(CRSError) as info:
        normalize_crs_name(name)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SitingError)
    text = str(info.value)
    assert repr(name) in text
    for accepted in ("wgs84", "gcj02", "bd09", "高德", "百度"):
        assert accepted in text


def test_crs_name_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        normalize_crs_name(4326)  # type: ignore[arg-type]


def test_module_exports() -> None:
    assert set(crs.__all__) >= {
        "WGS84",
        "GCJ02",
        "BD09",
        "CRS_NAMES",
        "normalize_crs_name",
        "out_of_china",
        "convert",
        "convert_geometry",
        "convert_gdf",
        "metric_crs",
        "to_metric",
        "require_metric",
    }
    assert CRS_NAMES == ("wgs84", "gcj02", "bd09")
    for name in crs.__all__:
        assert hasattr(crs, name)


# --- geometries and frames -----------------------------------------------------------------------


def _frame() -> gpd.GeoDataFrame:
    hole = [(106.08, 30.79), (106.09, 30.79), (106.09, 30.80), (106.08, 30.79)]
    shell = [(106.05, 30.76), (106.12, 30.76), (106.12, 30.83), (106.05, 30.83), (106.05, 30.76)]
    geoms = [
        Point(106.07424, 30.797586),
        LineString([(106.0, 30.7), (106.1, 30.8), (106.2, 30.75)]),
        Polygon(shell, [hole]),
        MultiPolygon([Polygon(shell), Polygon([(107, 31), (107.1, 31), (107.1, 31.1)])]),
    ]
    return gpd.GeoDataFrame(
        {"name": ["中城街道", "road", "area", "parts"], "beds": [10, 0, 5, 7]},
        geometry=geoms,
        index=pd.Index(["t1", "r1", "a1", "m1"], name="id"),
        crs="EPSG:4326",
    )


def test_convert_gdf_converts_every_vertex_and_keeps_the_rest() -> None:
    gdf = _frame()
    before = gdf.copy()
    out = convert_gdf(gdf, src="gcj02", dst="wgs84")

    assert out is not gdf
    pd.testing.assert_index_equal(out.index, gdf.index)
    assert list(out.columns) == list(gdf.columns)
    pd.testing.assert_frame_equal(
        pd.DataFrame(out.drop(columns="geometry")), pd.DataFrame(gdf.drop(columns="geometry"))
    )
    assert out.crs == gdf.crs
    assert list(out.geom_type) == list(gdf.geom_type)
    assert shapely.get_num_coordinates(out.geometry.array).tolist() == (
        shapely.get_num_coordinates(gdf.geometry.array).tolist()
    )

    xy = shapely.get_coordinates(gdf.geometry.array)
    expected = np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1]))
    np.testing.assert_allclose(shapely.get_coordinates(out.geometry.array), expected, atol=1e-12)
    assert np.abs(expected - xy).min() > 1e-3  # every vertex moved (by ~0.002-0.004 deg)

    # The input frame is untouched, and the township seat lands on the table's WGS84 value.
    assert_geodataframe_equal(gdf, before)
    assert out.geometry["t1"].x == pytest.approx(106.070247, abs=6e-7)
    assert out.geometry["t1"].y == pytest.approx(30.799903, abs=6e-7)


def test_convert_gdf_keeps_z_and_handles_missing_geometries() -> None:
    gdf = gpd.GeoDataFrame(
        {"v": [1, 2, 3]},
        geometry=[Point(106.1, 30.8, 312.5), None, Point()],
        crs="EPSG:4326",
    )
    out = convert_gdf(gdf, src="wgs84", dst="bd09")
    assert out.geometry.iloc[0].has_z
    assert out.geometry.iloc[0].z == 312.5
    assert out.geometry.iloc[0].x != 106.1
    assert out.geometry.iloc[1] is None
    assert out.geometry.iloc[2].is_empty


def test_convert_gdf_accepts_a_geoseries() -> None:
    series = _frame().geometry
    out = convert_gdf(series, src="bd09", dst="gcj02")
    assert isinstance(out, gpd.GeoSeries)
    pd.testing.assert_index_equal(out.index, series.index)
    assert out.crs == series.crs


@pytest.mark.parametrize(("target", "label"), [("EPSG:32648", "EPSG:32648"), (None, "no CRS")])
def test_convert_gdf_refuses_frames_not_in_degrees(target: str | None, label: str) -> None:
    gdf = _frame()
    gdf = gdf.to_crs(target) if target else gdf.set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match=label) as info:
        convert_gdf(gdf, src="gcj02", dst="wgs84")
    assert isinstance(info.value, ValueError)
    assert "EPSG:4326" in str(info.value)


def test_convert_geometry_scalar_and_array() -> None:
    p = convert_geometry(Point(106.070247, 30.799903), src="wgs84", dst="gcj02")
    assert p.x == pytest.approx(106.07424, abs=6e-7)
    assert p.y == pytest.approx(30.797586, abs=6e-7)
    arr = convert_geometry(np.array([Point(139.69, 35.69), None]), src="wgs84", dst="gcj02")
    assert arr[0].equals(Point(139.69, 35.69))  # Tokyo: outside, untouched
    assert arr[1] is None


# --- metric CRS ----------------------------------------------------------------------------------


def _points_frame(lon: float, lat: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[Point(lon, lat), Point(lon + 0.05, lat + 0.03)],
        crs="EPSG:4326",
    )


def test_metric_crs_default_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert metric_crs() == pyproj.CRS("EPSG:32648")
    monkeypatch.setattr(settings, "metric_crs", "EPSG:32649")
    assert metric_crs().to_epsg() == 32649


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        pytest.param(106.08, 30.80, 32648, id="nanchong"),
        pytest.param(104.07, 30.67, 32648, id="chengdu"),
        pytest.param(116.40, 39.90, 32650, id="beijing"),
        pytest.param(87.62, 43.83, 32645, id="urumqi"),
        pytest.param(151.21, -33.87, 32756, id="sydney"),
    ],
)
def test_metric_crs_is_the_utm_zone_of_the_centre(lon: float, lat: float, epsg: int) -> None:
    assert metric_crs(_points_frame(lon, lat)).to_epsg() == epsg
    assert metric_crs(_points_frame(lon, lat).geometry).to_epsg() == epsg
    assert metric_crs(Point(lon, lat)).to_epsg() == epsg
    assert metric_crs((lon, lat)).to_epsg() == epsg


def test_metric_crs_of_a_projected_frame_uses_its_location() -> None:
    projected = _points_frame(116.40, 39.90).to_crs("EPSG:3857")
    assert metric_crs(projected).to_epsg() == 32650


def test_metric_crs_refuses_what_it_cannot_place() -> None:
    with pytest.raises(CRSError, match="without a CRS"):
        metric_crs(gpd.GeoDataFrame(geometry=[Point(106.1, 30.8)]))
    with pytest.raises(CRSError, match="not a WGS84 longitude/latitude"):
        metric_crs((603_000.0, 3_408_000.0))
    with pytest.raises(CRSError, match="empty"):
        metric_crs(Point())
    with pytest.raises(TypeError):
        metric_crs("Nanchong")


def test_to_metric_projects_into_metres() -> None:
    gdf = _points_frame(106.08, 30.80)
    out = to_metric(gdf)
    assert out.crs.to_epsg() == 32648
    pd.testing.assert_index_equal(out.index, gdf.index)
    assert list(out["name"]) == ["a", "b"]
    a, b = out.geometry
    geodesic = float(dist_m(106.08, 30.80, 106.13, 30.83)[()])
    assert math.isclose(a.distance(b), geodesic, rel_tol=1e-3)
    assert gdf.crs.to_epsg() == 4326  # input untouched


def test_to_metric_override_must_be_metric() -> None:
    gdf = _points_frame(106.08, 30.80)
    assert to_metric(gdf, crs="EPSG:32647").crs.to_epsg() == 32647
    with pytest.raises(CRSError, match="metres"):
        to_metric(gdf, crs="EPSG:4490")


@pytest.mark.parametrize(
    ("target", "label"),
    [("EPSG:4326", "EPSG:4326"), ("EPSG:2227", "EPSG:2227"), (None, "no CRS")],
)
def test_require_metric_refuses_degrees_and_feet(target: str | None, label: str) -> None:
    gdf = _points_frame(106.08, 30.80)
    if target is None:
        gdf = gdf.set_crs(None, allow_override=True)
    elif target != "EPSG:4326":
        gdf = gdf.to_crs(target)
    with pytest.raises(CRSError, match=label) as info:
        require_metric(gdf, "service areas")
    assert str(info.value).startswith("service areas need a projected CRS in metres")
    assert "to_metric" in str(info.value)


def test_require_metric_accepts_metres() -> None:
    gdf = to_metric(_points_frame(106.08, 30.80))
    require_metric(gdf, "distances")
    require_metric(gdf.geometry, "distances")
