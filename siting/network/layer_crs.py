"""The coordinate system of a road line layer: what it declares (``crs=``/``--network-crs``,
its own label), the evidence of its roads against the township seats (WGS84 or GCJ-02), and the
conversion to WGS84.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from siting import crs as scrs
from siting._errors import NetworkError, SitingError
from siting.network.speeds import (
    _WGS84,
    FloatArray,
)

#: Tolerance (metres) of the exact GCJ-02/BD-09 to WGS84 inverse used by :func:`from_lines`:
#: tight enough that a layer read in GCJ-02 gives the lengths of the same layer in WGS84 to
#: about 1e-7 relative.
INVERSE_TOL_M: float = 1e-6


@dataclass(frozen=True)
class _Declared:
    """The coordinate system declared for a line layer."""

    label: str
    name: str | None  # wgs84 | gcj02 | bd09, or None for an EPSG/PROJ CRS
    crs: pyproj.CRS  # the CRS of the coordinates (EPSG:4326 for the three names)
    by_file: str | None = None  # the file's own label, when the system was taken from it

    @property
    def degrees(self) -> bool:
        return self.name is not None or bool(self.crs.is_geographic)


_CRS_FLAG: Final = "--network-crs"


def _crs_hint(value: str) -> str:
    """How to declare a system, for a CLI user and a Python one."""
    return f"{_CRS_FLAG} {value} (crs={value!r} in Python)"


def _declare(crs: str | None, where: str, own: pyproj.CRS | None = None) -> _Declared:
    """The system of a layer: ``crs`` if given, else the file's own label (its ``.prj``)."""
    if crs is None:
        if own is not None:
            return _declared_by_file(own)
        msg = (
            f"{where} does not say its coordinate system (no .prj, no CRS label): declare it with "
            f"{_CRS_FLAG}: wgs84 (GPS, OSM, 天地图), gcj02 (高德/腾讯), bd09 (百度) or an EPSG "
            f"code such as EPSG:32648 (crs= in Python). Road layers from Chinese web maps are "
            f"offset by hundreds of metres, so it is never guessed. 请用 {_CRS_FLAG} 声明路网坐标系"
        )
        raise NetworkError(msg)
    try:
        name = scrs.normalize_crs_name(crs)
    except scrs.CRSError:
        name = None
    except TypeError as exc:
        msg = f"crs must be a string, got {type(crs).__name__}: {crs!r}"
        raise NetworkError(msg) from exc
    if name is not None:
        return _Declared(label=name, name=name, crs=_WGS84)
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        msg = (
            f"unknown crs {crs!r} of {where}: give {_CRS_FLAG} wgs84, gcj02, bd09 or an EPSG "
            f"code such as EPSG:32648 (crs= in Python). 无法识别的坐标系"
        )
        raise NetworkError(msg) from exc
    return _Declared(label=_crs_label(parsed), name=None, crs=parsed)


def _crs_label(crs: pyproj.CRS) -> str:
    code = crs.to_authority()
    return f"{code[0]}:{code[1]}" if code else str(crs.name)


#: Geographic systems read as WGS84: WGS84 itself and CGCS2000 (within a metre of it).
_WGS84_LIKE: Final = frozenset({"EPSG:4326", "EPSG:4490", "OGC:CRS84"})


def _declared_by_file(own: pyproj.CRS) -> _Declared:
    label = _crs_label(own)
    if label in _WGS84_LIKE:
        return _Declared(label=scrs.WGS84, name=scrs.WGS84, crs=_WGS84, by_file=label)
    return _Declared(label=label, name=None, crs=own, by_file=label)


_GEOJSON_CRS: Final = re.compile(rb'"crs"\s*:')


def _own_crs(gdf: gpd.GeoDataFrame, file: Path | None) -> pyproj.CRS | None:
    """The CRS a layer declares itself: a Shapefile's ``.prj``, a GeoPackage's SRS, a GeoJSON's
    ``crs`` member. GDAL labels every GeoJSON WGS84 (RFC 7946), also one copied from a Chinese
    web map in GCJ-02, so a GeoJSON without a ``crs`` member declares nothing."""
    if gdf.crs is None:
        return None
    if file is not None and file.suffix.lower() in (".geojson", ".json"):
        with file.open("rb") as handle:
            head = handle.read(1 << 16)
        if not _GEOJSON_CRS.search(head):
            return None
    return pyproj.CRS(gdf.crs)


def _check_crs(own: pyproj.CRS | None, declared: _Declared, where: str) -> None:
    """A declared system must agree with the file's own label (any lon/lat label fits the three
    Chinese names: GCJ-02 layers are routinely labelled WGS84)."""
    if own is None or declared.by_file is not None:
        return
    if declared.name is not None:
        ok = bool(own.is_geographic)
    else:
        ok = own.equals(declared.crs, ignore_axis_order=True)
    if not ok:
        msg = (
            f"{where} is labelled {_crs_label(own)} ({own.name}) but {_CRS_FLAG} "
            f"{declared.label} (crs={declared.label!r} in Python) was declared; declare the "
            f"system its coordinates are in, or leave {_CRS_FLAG} out to use the file's label. "
            f"声明的坐标系与文件不符"
        )
        raise NetworkError(msg)


_SEAT_RADIUS_M: Final = 1_500.0
_SEAT_MIN: Final = 3
#: Evidence needs the roads to pass the seats in one of the systems: a median distance of at
#: most this (a town's government seat is on or beside a street), and this much more in the
#: other. A network that does not reach the towns (a sketch, a few trunk roads) says nothing.
_SEAT_ON_ROAD_M: Final = 150.0
_SEAT_COLUMNS: Final = ("lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02")


def _reference_seats() -> FloatArray | None:
    """Township seats of the reference data: rows of WGS84 lon, lat and GCJ-02 lon, lat."""
    try:
        from siting._reference import reference

        towns = reference().townships
    except (SitingError, OSError):
        return None
    if not set(_SEAT_COLUMNS) <= set(towns.columns):
        return None
    ref = towns.loc[:, list(_SEAT_COLUMNS)].apply(pd.to_numeric, errors="coerce").dropna()
    return ref.to_numpy(dtype=np.float64) if len(ref) else None


@dataclass(frozen=True)
class _RoadEvidence:
    verdict: str | None  # wgs84 | gcj02 | None (undecided)
    n: int
    median_wgs: float  # metres from a seat's WGS84 position to the nearest road
    median_gcj: float


def _road_evidence(parts: npt.NDArray[Any], seats: FloatArray) -> _RoadEvidence | None:
    """Do the roads (lines in degrees, as in the file) pass closer to the WGS84 or the GCJ-02
    positions of the township seats near them? A town's government seat is on or beside a
    street, and the two positions of a seat in Sichuan are some 300-600 m apart: a verdict needs
    the roads within :data:`_SEAT_ON_ROAD_M` (median) of the seats in one system, that much
    farther in the other, and :data:`siting.settings.gcj_detect_min_gain` between them."""
    from siting import settings

    if not len(parts):
        return None
    xmin, ymin, xmax, ymax = shapely.total_bounds(parts)
    pad = 0.02  # degrees, more than the seat radius
    near_box = (
        (seats[:, 0] >= xmin - pad)
        & (seats[:, 0] <= xmax + pad)
        & (seats[:, 1] >= ymin - pad)
        & (seats[:, 1] <= ymax + pad)
    )
    seats = seats[near_box]
    if len(seats) < _SEAT_MIN:
        return None
    # a local equirectangular frame: exact enough for distances of a few km
    lat0 = math.radians(float(np.median(seats[:, 1])))
    kx, ky = 111_320.0 * math.cos(lat0), 110_574.0

    def metric(xy: FloatArray) -> FloatArray:
        return np.column_stack([xy[:, 0] * kx, xy[:, 1] * ky])

    lines = shapely.transform(parts, metric)
    tree = shapely.STRtree(lines)
    out = []
    for cols in ((0, 1), (2, 3)):
        pts = shapely.points(metric(seats[:, list(cols)]))
        index, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        d = np.full(len(seats), np.inf)
        d[index[0]] = dist
        out.append(d)
    d_wgs, d_gcj = out
    near = np.minimum(d_wgs, d_gcj) <= _SEAT_RADIUS_M
    n = int(near.sum())
    if n < _SEAT_MIN:
        return None
    med_w, med_g = float(np.median(d_wgs[near])), float(np.median(d_gcj[near]))
    gain = settings.gcj_detect_min_gain
    verdict = None
    near_g = med_g <= _SEAT_ON_ROAD_M and med_w >= med_g + _SEAT_ON_ROAD_M
    near_w = med_w <= _SEAT_ON_ROAD_M and med_g >= med_w + _SEAT_ON_ROAD_M
    if near_g and med_g <= med_w * (1.0 - gain):
        verdict = scrs.GCJ02
    elif near_w and med_w <= med_g * (1.0 - gain):
        verdict = scrs.WGS84
    return _RoadEvidence(verdict, n, med_w, med_g)


_SYSTEM_TEXT: Final = {scrs.WGS84: "WGS84", scrs.GCJ02: "GCJ-02"}


def _crs_warnings(parts: npt.NDArray[Any], declared: _Declared, where: str) -> list[str]:
    """The evidence check of a layer read as WGS84 or GCJ-02, against the reference seats."""
    if declared.name not in _SYSTEM_TEXT:
        return []
    seats = _reference_seats()
    if seats is None:
        return []
    ev = _road_evidence(parts, seats)
    if ev is None or ev.verdict is None or ev.verdict == declared.name:
        return []
    fit, other = _SYSTEM_TEXT[ev.verdict], _SYSTEM_TEXT[declared.name]
    m_fit, m_other = (
        (ev.median_gcj, ev.median_wgs)
        if ev.verdict == scrs.GCJ02
        else (ev.median_wgs, ev.median_gcj)
    )
    read_as = (
        f"as its label {declared.by_file} says"
        if declared.by_file is not None
        else f"as {_CRS_FLAG} {declared.name} declares"
    )
    source = "a Chinese web map (高德/腾讯)" if ev.verdict == scrs.GCJ02 else "GPS, OSM or 天地图"
    text = (
        f"{where}: its roads fit {fit}, not {other}: {ev.n} reference township seats lie within "
        f"1.5 km of a road, a median {m_fit:.0f} m from the nearest road at their {fit} "
        f"positions against {m_other:.0f} m at their {other} ones, but the layer is read as "
        f"{other}, {read_as}. If the roads come from {source}, give "
        f"{_crs_hint(ev.verdict)}. 道路与乡镇驻地的 {fit} 位置吻合，但按 {other} 读取；"
        f"请核对，必要时用 {_CRS_FLAG} {ev.verdict}"
    )
    return [text]


def _to_wgs84(x: FloatArray, y: FloatArray, declared: _Declared) -> tuple[FloatArray, FloatArray]:
    if declared.name == scrs.WGS84:
        return x.copy(), y.copy()
    if declared.name == scrs.GCJ02:
        return scrs.gcj02_to_wgs84(x, y, tol_m=INVERSE_TOL_M)
    if declared.name == scrs.BD09:
        return scrs.bd09_to_wgs84(x, y, tol_m=INVERSE_TOL_M)
    transformer = pyproj.Transformer.from_crs(declared.crs, _WGS84, always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
