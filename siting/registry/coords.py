"""Coordinate checks: distance outside a boundary, and CRS evidence from reference points.

Used by the reader to tell whether a file's coordinates are WGS84, GCJ-02 or BD-09 when the
reference points (township seats in both systems) allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from siting import crs as _crs
from siting import settings
from siting._issues import Problems
from siting.registry.schema import FloatArray

# --- coordinate checks -------------------------------------------------------------------------


def _boundary_geometry(boundary: Any) -> Any:
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        geoms = boundary.geometry if isinstance(boundary, gpd.GeoDataFrame) else boundary
        if geoms.crs is not None and not pyproj.CRS(geoms.crs).equals(
            pyproj.CRS("EPSG:4326"), ignore_axis_order=True
        ):
            geoms = geoms.to_crs("EPSG:4326")
        return shapely.union_all(np.asarray(geoms.array))
    if isinstance(boundary, shapely.Geometry):
        return boundary
    msg = (
        "boundary must be a shapely geometry, GeoSeries or GeoDataFrame in EPSG:4326, "
        f"got {type(boundary).__name__}"
    )
    raise TypeError(msg)


def _outside_m(lon: FloatArray, lat: FloatArray, boundary: Any) -> FloatArray:
    """Distance in metres of each point outside ``boundary`` (0 inside), in the metric CRS."""
    geom = _boundary_geometry(boundary)
    metric = _crs.metric_crs(geom)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    area = shapely.transform(geom, lambda xy: np.column_stack(to_metric.transform(*xy.T)))
    x, y = np.asarray(to_metric.transform(lon, lat), dtype=np.float64)
    out = np.zeros(len(x), dtype=np.float64)
    shapely.prepare(area)
    finite = np.isfinite(x) & np.isfinite(y)
    inside = np.zeros(len(x), dtype=bool)
    inside[finite] = shapely.contains_xy(area, x[finite], y[finite])
    away = ~inside  # only the points not inside are measured (0 inside, as distance gives)
    out[away] = shapely.distance(shapely.points(x[away], y[away]), area)
    return out


_SEAT_RADIUS_M: Final = 1_500.0
_SEAT_MIN_POINTS: Final = 3
_REFERENCE_COLUMNS: Final = ("lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02")


@dataclass(frozen=True)
class _Evidence:
    verdict: str | None  # "gcj02", "wgs84" or None (undecided)
    n: int
    median_gcj: float
    median_wgs: float

    def text(self) -> str:
        if self.verdict == "gcj02":
            return (
                f"the coordinates fit GCJ-02 offsets: {self.n} points lie within 1.5 km of a "
                f"township seat, a median {self.median_gcj:.0f} m from the seats' GCJ-02 "
                f"positions against {self.median_wgs:.0f} m from their WGS84 ones"
            )
        return (
            f"the coordinates fit WGS84: {self.n} points lie within 1.5 km of a township seat, a "
            f"median {self.median_wgs:.0f} m from the seats' WGS84 positions against "
            f"{self.median_gcj:.0f} m from their GCJ-02 ones"
        )

    def text_zh(self) -> str:
        which = "GCJ-02（火星坐标）" if self.verdict == "gcj02" else "WGS84"
        return f"坐标与乡镇驻地的 {which} 位置吻合"


def _evidence(lon: FloatArray, lat: FloatArray, reference: pd.DataFrame) -> _Evidence | None:
    """Do the points sit closer to the GCJ-02 or the WGS84 positions of nearby township seats?"""
    from scipy.spatial import cKDTree

    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.sum() < _SEAT_MIN_POINTS:
        return None
    ref = reference.loc[:, list(_REFERENCE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    ref = ref.dropna()
    if ref.empty:
        return None
    metric = _crs.metric_crs((float(np.median(lon[ok])), float(np.median(lat[ok]))))
    tf = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    px, py = tf.transform(lon[ok], lat[ok])
    wx, wy = tf.transform(ref["lon_wgs84"].to_numpy(float), ref["lat_wgs84"].to_numpy(float))
    gx, gy = tf.transform(ref["lon_gcj02"].to_numpy(float), ref["lat_gcj02"].to_numpy(float))
    points = np.column_stack([px, py])
    d_wgs, _ = cKDTree(np.column_stack([wx, wy])).query(points)
    d_gcj, _ = cKDTree(np.column_stack([gx, gy])).query(points)
    near = np.minimum(d_wgs, d_gcj) <= _SEAT_RADIUS_M
    n = int(near.sum())
    if n < _SEAT_MIN_POINTS:
        return None
    med_w = float(np.median(d_wgs[near]))
    med_g = float(np.median(d_gcj[near]))
    gain = settings.gcj_detect_min_gain
    verdict = None
    if med_g <= med_w * (1.0 - gain):
        verdict = "gcj02"
    elif med_w <= med_g * (1.0 - gain):
        verdict = "wgs84"
    return _Evidence(verdict, n, med_g, med_w)


def _check_reference(reference: Any, issues: Problems) -> pd.DataFrame | None:
    if reference is None:
        return None
    if not isinstance(reference, pd.DataFrame):
        issues.error(
            None,
            None,
            f"reference_points must be a DataFrame, got {type(reference).__name__}",
            "reference_points 参数须为表格",
        )
        return None
    missing = [c for c in _REFERENCE_COLUMNS if c not in reference.columns]
    if missing:
        issues.error(
            None,
            None,
            f"reference_points lacks columns {missing} (needs {list(_REFERENCE_COLUMNS)})",
            "reference_points 缺少坐标列",
        )
        return None
    return reference


_EARTH_RADIUS_M: Final = 6_371_008.8
