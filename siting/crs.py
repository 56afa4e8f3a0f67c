"""Coordinate systems Chinese planners meet: WGS84, GCJ-02 and BD-09, and the metric analysis CRS.

Web maps in China do not publish plain WGS84 longitudes and latitudes:

* **WGS84** (``"wgs84"``): GPS receivers, OpenStreetMap, 天地图 (CGCS2000, within centimetres
  of WGS84), and every file labelled EPSG:4326.
* **GCJ-02** (``"gcj02"``, 火星坐标, 国测局坐标): Amap/高德, Tencent/腾讯 and Chinese Apple/Google
  maps. WGS84 shifted by a smooth, non-linear offset of a few hundred metres.
* **BD-09** (``"bd09"``, ``bd09ll``): Baidu/百度. GCJ-02 with Baidu's own extra offset.

This module converts between the three in every direction with vectorised NumPy (a million
points in well under a second), for plain arrays, shapely geometries and GeoDataFrames. The
forward formulas are the published ones (the Krasovsky-ellipsoid GCJ-02 offset and Baidu's
``x_pi`` rotation, as in ``googollee/eviltransform`` and ``wandergis/coordtransform``). The
inverses are **exact**: they iterate the forward formula until the round trip closes to within
``tol_m`` (default 1 mm), where the published one-step inverses are off by up to about 5 m
(GCJ-02 to WGS84) and 0.2 m (BD-09 to GCJ-02) inside China.

It also holds the one place where the metric analysis CRS is chosen (:func:`metric_crs`), with
:func:`to_metric` and :func:`require_metric`, so that no one measures distances in degrees.

Conventions: longitude first (x, y), degrees, float64; inputs are never modified. NaN in gives NaN
out (a point with one NaN coordinate comes back NaN in both). Points outside the rough China
rectangle of the published rule (:func:`out_of_china`) are returned unchanged by every conversion,
as the published implementations do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely

from siting import settings
from siting._errors import CRSError

__all__ = [
    "BD09",
    "CRS_NAMES",
    "GCJ02",
    "WGS84",
    "CRSError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "convert_gdf",
    "convert_geometry",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs",
    "normalize_crs_name",
    "out_of_china",
    "require_metric",
    "to_metric",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
LonLat = tuple[FloatArray, FloatArray]

#: Name of the WGS84 geographic system (GPS, OSM, 天地图, EPSG:4326).
WGS84: Final = "wgs84"
#: Name of GCJ-02, the Chinese "Mars" system (火星坐标) of Amap/高德 and Tencent/腾讯.
GCJ02: Final = "gcj02"
#: Name of BD-09 (longitude/latitude, ``bd09ll``), Baidu's system (百度).
BD09: Final = "bd09"
#: The coordinate system names this module converts between.
CRS_NAMES: Final = (WGS84, GCJ02, BD09)


# --- published constants -------------------------------------------------------------------------

#: Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula (metres).
_A: Final = 6378245.0
#: Its first eccentricity squared.
_EE: Final = 0.00669342162296594323
#: Baidu's rotation constant (``x_pi = pi * 3000 / 180``).
_X_PI: Final = math.pi * 3000.0 / 180.0
#: The rough China rectangle of the published rule: lon [72.004, 137.8347], lat [0.8293, 55.8271].
_CHINA_LON: Final = (72.004, 137.8347)
_CHINA_LAT: Final = (0.8293, 55.8271)
#: Metres per degree of latitude (mean); only used to turn a residual into a stopping criterion.
_M_PER_DEG: Final = 111_320.0
#: Points per block in the vectorised GCJ-02 offset (keeps temporaries in cache).
_BLOCK: Final = 65_536

# --- names ---------------------------------------------------------------------------------------

_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    WGS84: (
        "wgs84",
        "wgs1984",
        "epsg:4326",
        "4326",
        "crs84",
        "ogc:crs84",
        "gps",
        "天地图",
        "tianditu",
        "osm",
        "openstreetmap",
    ),
    GCJ02: (
        "gcj02",
        "gcj",
        "火星",
        "mars",
        "国测局",
        "高德",
        "amap",
        "gaode",
        "autonavi",
        "腾讯",
        "tencent",
        "qq",
    ),
    BD09: ("bd09", "bd09ll", "bd", "百度", "baidu"),
}
_LOOKUP: Final[dict[str, str]] = {alias: name for name, al in _ALIASES.items() for alias in al}
# Chinese suffixes a planner may add: 火星坐标, 百度坐标系, 高德地图.
_SUFFIXES: Final = ("坐标系", "坐标", "地图")


def normalize_crs_name(name: str) -> str:
    """Return the canonical name (``"wgs84"``, ``"gcj02"`` or ``"bd09"``) of a coordinate system.

    Case, spaces, dashes and underscores are ignored, and so are the Chinese suffixes 坐标系,
    坐标 and 地图, so ``"WGS-84"``, ``"EPSG:4326"``, ``"GPS"``, ``"天地图"``, ``"GCJ-02"``,
    ``"火星坐标"``, ``"高德地图"``, ``"amap"``, ``"腾讯"``, ``"BD-09"``, ``"bd09ll"`` and
    ``"百度坐标系"`` are all understood.

    Parameters
    ----------
    name
        A coordinate system name or label, as written in a file or by a planner.

    Returns
    -------
    str
        One of :data:`CRS_NAMES`.

    Raises
    ------
    CRSError
        If the name is not recognised; the message lists the accepted names. Baidu Mercator
        (``bd09mc``) is deliberately not accepted: it is in metres, not degrees.

    Examples
    --------
    >>> normalize_crs_name("GCJ-02")
    'gcj02'
    >>> normalize_crs_name("百度坐标")
    'bd09'
    """
    if not isinstance(name, str):
        msg = f"crs name must be a string, got {type(name).__name__}: {name!r}"
        raise TypeError(msg)
    key = "".join(name.split()).lower().replace("-", "").replace("_", "")
    # The whole label first (天地图 ends in 地图), then without a Chinese suffix.
    candidates = [key] + [key.removesuffix(sfx) for sfx in _SUFFIXES if key.endswith(sfx)]
    for candidate in candidates:
        if candidate in _LOOKUP:
            return _LOOKUP[candidate]
    accepted = "; ".join(f"{n}: {', '.join(al)}" for n, al in _ALIASES.items())
    msg = (
        f"unknown coordinate system {name!r}. Accepted names (case, spaces, dashes and "
        f"underscores ignored) are {accepted}"
    )
    raise CRSError(msg)


# --- arrays --------------------------------------------------------------------------------------


def _lonlat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Return float64 copies of ``lon`` and ``lat``, checking that their shapes agree."""
    x = np.array(lon, dtype=np.float64)
    y = np.array(lat, dtype=np.float64)
    if x.shape != y.shape:
        msg = f"lon and lat must have the same shape, got {x.shape} and {y.shape}"
        raise ValueError(msg)
    return x, y


def _points(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Like :func:`_lonlat`, but a point with one NaN coordinate becomes NaN in both.

    Half a coordinate pair has no position in the target system, so passing the other half
    through unconverted would hand back a number in the wrong system.
    """
    x, y = _lonlat(lon, lat)
    missing = np.isnan(x) | np.isnan(y)
    x[missing] = np.nan
    y[missing] = np.nan
    return x, y


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Tell which points lie outside China according to the published GCJ-02 rule.

    The rule is the rough rectangle used by the published implementations (``eviltransform``,
    ``coordTransform_py``): longitude outside [72.004, 137.8347] or latitude outside
    [0.8293, 55.8271]. It is a rectangle, not a border: parts of Mongolia, Korea, Japan and
    South-East Asia count as "in China" and are shifted like the mainland, exactly as the
    published code (and the map providers) do. NaN coordinates count as outside.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (scalars or arrays of the same shape).

    Returns
    -------
    numpy.ndarray
        Boolean array of the input shape, ``True`` where the point is outside.

    Examples
    --------
    >>> out_of_china([106.1, 139.69], [30.8, 35.69]).tolist()
    [False, True]
    """
    x, y = _lonlat(lon, lat)
    inside = (
        (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    )
    return np.asarray(~inside, dtype=np.bool_)


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Return the GCJ-02 offset (dlon, dlat) in degrees at WGS84 points, without the China test.

    Long inputs are processed in blocks of :data:`_BLOCK` points so that the two dozen
    temporaries stay in cache (about 20 % faster on a million points).
    """
    if lon.size <= _BLOCK:
        return _gcj_offset_block(lon, lat)
    dlon = np.empty_like(lon)
    dlat = np.empty_like(lat)
    for start in range(0, lon.size, _BLOCK):
        block = slice(start, start + _BLOCK)
        dlon[block], dlat[block] = _gcj_offset_block(lon[block], lat[block])
    return dlon, dlat


def _gcj_offset_block(lon: FloatArray, lat: FloatArray) -> LonLat:
    """The GCJ-02 offset of :func:`_gcj_offset` on one block of (1-D) points.

    This is the published formula term for term; only the evaluation is cheaper: sin(3t) is
    taken as 3 sin(t) - 4 sin(t)**3 (for sin(x pi) from sin(x pi / 3), sin(6 x pi) from
    sin(2 x pi) and sin(y pi) from sin(y pi / 3)) and cos(lat) as sqrt(1 - sin(lat)**2), which
    saves five of twelve trigonometric calls and changes the result by ~1e-16 relative.
    """
    x = lon - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    s_2x = np.sin(2.0 * x_pi)
    s_x3 = np.sin(x_pi / 3.0)
    s_y3 = np.sin(y_pi / 3.0)
    s_6x = s_2x * (3.0 - 4.0 * s_2x * s_2x)  # sin(6 x pi)
    s_x = s_x3 * (3.0 - 4.0 * s_x3 * s_x3)  # sin(x pi)
    s_y = s_y3 * (3.0 - 4.0 * s_y3 * s_y3)  # sin(y pi)
    # Terms shared by both offsets: 20 sin(6 x pi) + 20 sin(2 x pi), then the polynomial part.
    common = (20.0 * s_6x + 20.0 * s_2x) * (2.0 / 3.0) + 0.1 * x * y
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.2 * sqrt_abs_x
        + common
        + (20.0 * s_y + 40.0 * s_y3) * (2.0 / 3.0)
        + (160.0 * np.sin(y_pi / 12.0) + 320.0 * np.sin(y_pi / 30.0)) * (2.0 / 3.0)
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * sqrt_abs_x
        + common
        + (20.0 * s_x + 40.0 * s_x3) * (2.0 / 3.0)
        + (150.0 * np.sin(x_pi / 12.0) + 300.0 * np.sin(x_pi / 30.0)) * (2.0 / 3.0)
    )
    sin_lat = np.sin(lat * (math.pi / 180.0))
    sin2 = sin_lat * sin_lat
    cos_lat = np.sqrt(1.0 - sin2)  # |lat| < 90 here, so cos(lat) > 0
    magic = 1.0 - _EE * sin2
    sqrt_magic = np.sqrt(magic)
    dlat *= 180.0 / (_A * (1.0 - _EE) * math.pi)
    dlat *= magic * sqrt_magic
    dlon *= 180.0 / (_A * math.pi)
    dlon *= sqrt_magic / cos_lat
    return dlon, dlat


def _bd_forward(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Baidu's offset of GCJ-02 points, without the China test."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_one_step_inverse(lon: FloatArray, lat: FloatArray) -> LonLat:
    """The published one-step (approximate) inverse of :func:`_bd_forward`."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[FloatArray, FloatArray], LonLat],
    lon: FloatArray,
    lat: FloatArray,
    start: LonLat,
    *,
    tol_m: float,
    max_iter: int,
) -> LonLat:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from ``start``.

    Both offsets vary slowly (their derivatives are below 1e-2), so ``x -= forward(x) - target``
    contracts the error a hundredfold or more per step; two or three steps reach 1 mm.
    Points are dropped from the work set as they converge.
    """
    x, y = start[0].copy(), start[1].copy()
    todo = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    tol_deg2 = (tol_m / _M_PER_DEG) ** 2
    for _ in range(max_iter):
        if todo.size == 0:
            break
        fx, fy = forward(x[todo], y[todo])
        rx = fx - lon[todo]
        ry = fy - lat[todo]
        x[todo] -= rx
        y[todo] -= ry
        # Residual in (approximate) metres: longitude degrees shrink with cos(lat).
        coslat = np.cos(np.radians(y[todo]))
        todo = todo[(rx * coslat) ** 2 + ry * ry > tol_deg2]
    return x, y


def _check_iteration(tol_m: float, max_iter: int) -> None:
    if not (tol_m > 0 and math.isfinite(tol_m)):
        msg = f"tol_m must be a positive number of metres, got {tol_m!r}"
        raise ValueError(msg)
    if max_iter < 1:
        msg = f"max_iter must be at least 1, got {max_iter!r}"
        raise ValueError(msg)


# --- the six directions --------------------------------------------------------------------------


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS84 longitudes/latitudes to GCJ-02 (火星坐标, as used by Amap/高德 and Tencent).

    Parameters
    ----------
    lon, lat
        WGS84 degrees: scalars or arrays of the same shape.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as new float64 arrays of the input shape (0-d for scalars). Points
        outside the China rectangle (:func:`out_of_china`) are returned unchanged; NaN stays NaN.

    Examples
    --------
    Shanghai, from the ``eviltransform`` test suite:

    >>> lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
    >>> round(float(lon), 6), round(float(lat), 6)
    (121.531542, 31.175304)
    """
    x, y = _points(lon, lat)
    inside = ~out_of_china(x, y)
    dlon, dlat = _gcj_offset(x[inside], y[inside])
    x[inside] += dlon
    y[inside] += dlat
    return x, y


def gcj02_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, tol_m: float = 0.001, max_iter: int = 30
) -> LonLat:
    """Convert GCJ-02 longitudes/latitudes to WGS84 with the exact (iterative) inverse.

    The published one-step inverse (subtract the offset computed at the GCJ-02 point) is off
    by up to about 5 m; this one iterates until converting the result back to GCJ-02 lands
    within ``tol_m`` of the input.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees: scalars or arrays of the same shape.
    tol_m
        Stop when the round-trip residual is below this many metres (at every point).
    max_iter
        Upper bound on the iterations; 2 to 3 suffice for 1 mm inside China.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)`` as new float64 arrays of the input shape. Points whose GCJ-02
        coordinates fall outside the China rectangle are returned unchanged; NaN stays NaN.

    Examples
    --------
    A township seat of Nanchong (中城街道), GCJ-02 from Amap:

    >>> lon, lat = gcj02_to_wgs84(106.07424, 30.797586)
    >>> round(float(lon), 6), round(float(lat), 6)
    (106.070247, 30.799903)
    """
    _check_iteration(tol_m, max_iter)
    x, y = _points(lon, lat)
    inside = ~out_of_china(x, y)
    gx, gy = x[inside], y[inside]
    dlon, dlat = _gcj_offset(gx, gy)

    def forward(a: FloatArray, b: FloatArray) -> LonLat:
        da, db = _gcj_offset(a, b)
        return a + da, b + db

    wx, wy = _invert(forward, gx, gy, (gx - dlon, gy - dlat), tol_m=tol_m, max_iter=max_iter)
    x[inside] = wx
    y[inside] = wy
    return x, y


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert GCJ-02 longitudes/latitudes to BD-09 (Baidu/百度, ``bd09ll``).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees: scalars or arrays of the same shape.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)`` as new float64 arrays of the input shape. Points outside the China
        rectangle are returned unchanged (as ``eviltransform`` does; ``coordtransform`` applies
        Baidu's offset everywhere, but Baidu's maps do not cover those points anyway); NaN stays
        NaN.

    Examples
    --------
    The ``coordtransform`` README example:

    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410369, 39.921337)
    """
    x, y = _points(lon, lat)
    inside = ~out_of_china(x, y)
    x[inside], y[inside] = _bd_forward(x[inside], y[inside])
    return x, y


def bd09_to_gcj02(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, tol_m: float = 0.001, max_iter: int = 30
) -> LonLat:
    """Convert BD-09 (Baidu/百度) longitudes/latitudes to GCJ-02, exactly.

    Starts from the published one-step inverse (off by up to a few decimetres) and iterates the
    forward formula until the round trip closes within ``tol_m``.

    Parameters
    ----------
    lon, lat
        BD-09 degrees: scalars or arrays of the same shape.
    tol_m
        Stop when the round-trip residual is below this many metres (at every point).
    max_iter
        Upper bound on the iterations.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)`` as new float64 arrays of the input shape. Points outside the China
        rectangle are returned unchanged; NaN stays NaN.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.410369, 39.921337)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.404, 39.915)
    """
    _check_iteration(tol_m, max_iter)
    x, y = _points(lon, lat)
    inside = ~out_of_china(x, y)
    bx, by = x[inside], y[inside]
    start = _bd_one_step_inverse(bx, by)
    gx, gy = _invert(_bd_forward, bx, by, start, tol_m=tol_m, max_iter=max_iter)
    x[inside] = gx
    y[inside] = gy
    return x, y


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Convert WGS84 longitudes/latitudes to BD-09 (Baidu/百度), through GCJ-02.

    Parameters
    ----------
    lon, lat
        WGS84 degrees: scalars or arrays of the same shape.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)``. As in the published ``coordtransform`` code, points outside the
        China rectangle are returned untouched (no GCJ-02 shift and no Baidu offset); NaN stays
        NaN.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(106.070247, 30.799903)
    >>> bool(abs(float(lon) - 106.070247) > 0.005)
    True
    """
    x, y = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(x, y)


def bd09_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, *, tol_m: float = 0.001, max_iter: int = 30
) -> LonLat:
    """Convert BD-09 (Baidu/百度) longitudes/latitudes to WGS84, exactly, through GCJ-02.

    Parameters
    ----------
    lon, lat
        BD-09 degrees: scalars or arrays of the same shape.
    tol_m
        Round-trip tolerance in metres of each of the two exact inverses.
    max_iter
        Upper bound on the iterations of each inverse.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)``. Points outside the China rectangle are returned untouched; NaN
        stays NaN.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(106.070247, 30.799903))
    >>> round(float(lon), 6), round(float(lat), 6)
    (106.070247, 30.799903)
    """
    x, y = bd09_to_gcj02(lon, lat, tol_m=tol_m, max_iter=max_iter)
    return gcj02_to_wgs84(x, y, tol_m=tol_m, max_iter=max_iter)


_DIRECT: Final[dict[tuple[str, str], Callable[[npt.ArrayLike, npt.ArrayLike], LonLat]]] = {
    (WGS84, GCJ02): wgs84_to_gcj02,
    (GCJ02, WGS84): gcj02_to_wgs84,
    (GCJ02, BD09): gcj02_to_bd09,
    (BD09, GCJ02): bd09_to_gcj02,
    (WGS84, BD09): wgs84_to_bd09,
    (BD09, WGS84): bd09_to_wgs84,
}


def convert(lon: npt.ArrayLike, lat: npt.ArrayLike, *, src: str, dst: str) -> LonLat:
    """Convert longitudes/latitudes between any two of WGS84, GCJ-02 and BD-09.

    Parameters
    ----------
    lon, lat
        Degrees in ``src``: scalars or arrays of the same shape.
    src, dst
        Coordinate system names, in any form :func:`normalize_crs_name` accepts
        (``"wgs84"``, ``"GCJ-02"``, ``"高德"``, ``"百度"`` ...).

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in ``dst`` as new float64 arrays (copies when ``src`` and ``dst`` agree).

    Raises
    ------
    CRSError
        If either name is not recognised.

    Examples
    --------
    >>> lon, lat = convert([116.404], [39.915], src="高德", dst="BD-09")
    >>> np.round(np.concatenate([lon, lat]), 6).tolist()
    [116.410369, 39.921337]
    """
    s = normalize_crs_name(src)
    d = normalize_crs_name(dst)
    if s == d:
        return _points(lon, lat)
    return _DIRECT[s, d](lon, lat)


# --- geometries ----------------------------------------------------------------------------------


def _coords_function(src: str, dst: str) -> Callable[[FloatArray], FloatArray]:
    """Return a function converting an (N, 2) or (N, 3) coordinate array; Z is kept."""
    s = normalize_crs_name(src)
    d = normalize_crs_name(dst)

    def transform(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=np.float64)
        if s != d:
            out[:, 0], out[:, 1] = _DIRECT[s, d](coords[:, 0], coords[:, 1])
        return out

    return transform


def convert_geometry(geom: Any, *, src: str, dst: str) -> Any:
    """Convert a shapely geometry (or an array of them) between WGS84, GCJ-02 and BD-09.

    Every vertex of every geometry type is converted (points, lines, polygons with holes,
    multi-part and collections); Z values are kept; ``None`` and empty geometries pass through.

    Parameters
    ----------
    geom
        A shapely geometry, or an array-like of them, with longitude/latitude in ``src``.
    src, dst
        Coordinate system names (see :func:`normalize_crs_name`).

    Returns
    -------
    shapely.Geometry or numpy.ndarray
        New geometries of the same type and shape as ``geom``.

    Examples
    --------
    >>> from shapely import Point
    >>> p = convert_geometry(Point(106.070247, 30.799903), src="wgs84", dst="gcj02")
    >>> round(p.x, 6), round(p.y, 6)
    (106.07424, 30.797586)
    """
    return shapely.transform(geom, _coords_function(src, dst), include_z=None)


_LONLAT_CRS: Final = pyproj.CRS.from_epsg(4326)


def _is_wgs84_lonlat(crs: pyproj.CRS | None) -> bool:
    return crs is not None and pyproj.CRS(crs).equals(_LONLAT_CRS, ignore_axis_order=True)


def _crs_label(crs: Any) -> str:
    if crs is None:
        return "None (no CRS set)"
    crs = pyproj.CRS(crs)
    code = crs.to_authority()
    label = f"{code[0]}:{code[1]}" if code else crs.to_string()
    return f"{label} ({crs.name})"


def convert_gdf(gdf: gpd.GeoDataFrame, *, src: str, dst: str) -> gpd.GeoDataFrame:
    """Convert the geometries of a GeoDataFrame between WGS84, GCJ-02 and BD-09.

    GCJ-02 and BD-09 longitudes/latitudes are conventionally stored in frames labelled
    EPSG:4326 (there is no EPSG code for them), so the frame must be labelled EPSG:4326 (or
    OGC:CRS84) both before and after: the label stays, the coordinates change.

    Parameters
    ----------
    gdf
        GeoDataFrame (or GeoSeries) of any geometry types, in EPSG:4326, whose coordinates are
        in ``src``.
    src, dst
        Coordinate system names (see :func:`normalize_crs_name`).

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame with the same index, columns and attributes; only the active geometry
        column is converted.

    Raises
    ------
    CRSError
        If the frame has no CRS or one other than EPSG:4326 (for example a projected CRS); the
        message names it.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> g = gpd.GeoDataFrame({"name": ["中城街道"]}, geometry=[Point(106.07424, 30.797586)],
    ...                      index=["t1"], crs="EPSG:4326")
    >>> w = convert_gdf(g, src="gcj02", dst="wgs84")
    >>> round(float(w.geometry.x["t1"]), 6), round(float(w.geometry.y["t1"]), 6)
    (106.070247, 30.799903)
    """
    if not isinstance(gdf, gpd.GeoDataFrame | gpd.GeoSeries):
        msg = f"gdf must be a GeoDataFrame or GeoSeries, got {type(gdf).__name__}"
        raise TypeError(msg)
    if not _is_wgs84_lonlat(gdf.crs):
        msg = (
            f"convert_gdf needs longitude/latitude labelled EPSG:4326, but the frame's CRS is "
            f"{_crs_label(gdf.crs)}. GCJ-02/BD-09 conversion works on degrees: convert before "
            f"projecting (or .to_crs('EPSG:4326') first), or label unlabelled degrees with "
            f".set_crs('EPSG:4326')"
        )
        raise CRSError(msg)
    fn = _coords_function(src, dst)
    series = gdf if isinstance(gdf, gpd.GeoSeries) else gdf.geometry
    converted = gpd.GeoSeries(
        shapely.transform(np.asarray(series.array), fn, include_z=None),
        index=series.index,
        crs=series.crs,
        name=series.name,
    )
    if isinstance(gdf, gpd.GeoSeries):
        return converted
    out = gdf.copy()
    out[series.name] = converted
    return out


# --- the metric analysis CRS ---------------------------------------------------------------------


def _utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 / UTM zone CRS (EPSG:326zz north, 327zz south) containing ``(lon, lat)``."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        msg = (
            f"({lon!r}, {lat!r}) is not a WGS84 longitude/latitude; metric_crs needs degrees "
            f"(or a frame with a CRS)"
        )
        raise CRSError(msg)
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def metric_crs(obj: Any = None) -> pyproj.CRS:
    """Return the metric CRS in which to measure: the one place where it is chosen.

    Parameters
    ----------
    obj
        ``None`` for the project default, :data:`siting.settings.metric_crs` (EPSG:32648,
        WGS84 / UTM zone 48N, right for Sichuan). Otherwise something located: a GeoDataFrame
        or GeoSeries with a CRS, a shapely geometry in WGS84 degrees, or a ``(lon, lat)`` pair in
        WGS84 degrees; the result is then the WGS84 UTM zone (EPSG:326zz north, 327zz south,
        plain 6-degree zones) of its centre. The centre of a frame or geometry is the centre
        of its bounding box in WGS84, as in ``GeoDataFrame.estimate_utm_crs``.

    Returns
    -------
    pyproj.CRS
        A projected CRS in metres.

    Raises
    ------
    CRSError
        If a frame has no CRS or is empty, or a geometry/pair is not in degrees.

    Examples
    --------
    >>> metric_crs().to_epsg()
    32648
    >>> metric_crs((106.08, 30.80)).to_epsg()  # Nanchong
    32648
    >>> metric_crs((116.40, 39.90)).to_epsg()  # Beijing
    32650
    """
    if obj is None:
        return pyproj.CRS(settings.metric_crs)
    if isinstance(obj, gpd.GeoDataFrame | gpd.GeoSeries):
        if obj.crs is None:
            msg = "cannot choose a metric CRS for a frame without a CRS; set it with .set_crs()"
            raise CRSError(msg)
        geoms = obj.geometry if isinstance(obj, gpd.GeoDataFrame) else obj
        if not _is_wgs84_lonlat(obj.crs):
            geoms = geoms.to_crs(_LONLAT_CRS)
        minx, miny, maxx, maxy = (float(v) for v in geoms.total_bounds)
        if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
            msg = "cannot choose a metric CRS for a frame with no non-empty geometry"
            raise CRSError(msg)
        return _utm_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)
    if isinstance(obj, shapely.Geometry):
        if obj.is_empty:
            msg = "cannot choose a metric CRS for an empty geometry"
            raise CRSError(msg)
        minx, miny, maxx, maxy = obj.bounds
        return _utm_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)
    try:
        lon, lat = (float(v) for v in obj)
    except (TypeError, ValueError):
        msg = (
            "metric_crs takes None, a GeoDataFrame/GeoSeries, a shapely geometry or a "
            f"(lon, lat) pair, got {type(obj).__name__}: {obj!r}"
        )
        raise TypeError(msg) from None
    return _utm_crs(lon, lat)


def to_metric(gdf: gpd.GeoDataFrame, *, crs: Any = None) -> gpd.GeoDataFrame:
    """Project a GeoDataFrame into the metric CRS chosen by :func:`metric_crs`.

    Parameters
    ----------
    gdf
        GeoDataFrame or GeoSeries with a CRS (normally EPSG:4326, WGS84 degrees).
    crs
        Override of the target CRS (anything ``pyproj.CRS`` accepts); it must be projected in
        metres. ``None`` means ``metric_crs(gdf)``, the UTM zone of the frame's centre.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame, same index and columns, in metres.

    Raises
    ------
    CRSError
        If the frame has no CRS or ``crs`` is not metric.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> g = gpd.GeoDataFrame(geometry=[Point(106.08, 30.80)], crs="EPSG:4326")
    >>> to_metric(g).crs.to_epsg()
    32648
    """
    target = metric_crs(gdf) if crs is None else pyproj.CRS(crs)
    if not _is_metric(target):
        msg = f"to_metric needs a projected CRS in metres, got {_crs_label(target)}"
        raise CRSError(msg)
    if gdf.crs is None:
        msg = "cannot project a frame without a CRS; set it with .set_crs('EPSG:4326')"
        raise CRSError(msg)
    return gdf.to_crs(target)


def _is_metric(crs: pyproj.CRS) -> bool:
    if not crs.is_projected:
        return False
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    return units <= {"metre", "meter", "m"}


def require_metric(gdf: gpd.GeoDataFrame, what: str) -> None:
    """Refuse to measure a frame that is not in a projected CRS in metres.

    Call it at the top of anything that measures distances, areas or buffers.

    Parameters
    ----------
    gdf
        GeoDataFrame or GeoSeries about to be measured.
    what
        What is being computed, for the message (e.g. ``"service areas"``).

    Raises
    ------
    CRSError
        If the frame has no CRS, a geographic CRS (degrees, such as EPSG:4326) or a projected
        CRS whose units are not metres. The message names the CRS and the fix.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> g = gpd.GeoDataFrame(geometry=[Point(106.08, 30.80)], crs="EPSG:4326")
    >>> require_metric(to_metric(g), "distances")  # fine, metres
    >>> require_metric(g, "distances")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siting._errors.CRSError: distances need a projected CRS in metres, ...
    """
    raw = getattr(gdf, "crs", None)
    if raw is None:
        where = "have no CRS (crs=None); set it with .set_crs() and"
    else:
        crs = pyproj.CRS(raw)
        if _is_metric(crs):
            return
        if crs.is_geographic:
            unit = "degrees"
        else:
            unit = ", ".join(sorted({axis.unit_name for axis in crs.axis_info}))
        where = f"are in {_crs_label(crs)}, whose unit is {unit};"
    msg = (
        f"{what} need a projected CRS in metres, but the data {where} project them first "
        f"with siting.crs.to_metric(gdf) (default analysis CRS {settings.metric_crs})"
    )
    raise CRSError(msg)
