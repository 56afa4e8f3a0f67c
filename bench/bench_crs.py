"""Benchmark of siting.crs: vectorised WGS84/GCJ-02/BD-09 conversion of a million points.

Run from the repository root::

    .venv/bin/python bench/bench_crs.py

The baseline is measured in the same run: a pure-Python per-point loop (``math``) of the very same
published formulas, on a 20,000-point subset, scaled to a million. (pyproj/PROJ has no GCJ-02
or BD-09 operation, so there is no library baseline to compare with.) Also printed: the largest
round-trip error in metres over the million points, measured geodesically with pyproj.Geod.
Takes about 10 to 20 seconds.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyproj

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout, without installing
    sys.path.insert(0, str(ROOT))

from siting import crs  # noqa: E402

Floats = npt.NDArray[np.float64]

N_POINTS = 1_000_000
N_LOOP = 20_000
SEED = 20201124
REPEATS = 3

# --- the pure-Python baseline: the published formulas, one point at a time ------------------------

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _outside(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(lon: float, lat: float) -> tuple[float, float]:
    x = lon - 105.0
    y = lat - 35.0
    ret_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret_lat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    ret_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    ret_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    ret_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret_lon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    ret_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    ret_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (ret_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (ret_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlon, dlat


def loop_wgs84_to_gcj02(lons: list[float], lats: list[float]) -> list[tuple[float, float]]:
    out = []
    for lon, lat in zip(lons, lats, strict=True):
        if _outside(lon, lat):
            out.append((lon, lat))
            continue
        dlon, dlat = _offset(lon, lat)
        out.append((lon + dlon, lat + dlat))
    return out


def loop_gcj02_to_wgs84(lons: list[float], lats: list[float]) -> list[tuple[float, float]]:
    """The same exact inverse as siting.crs: fixed-point iteration to a 1 mm residual."""
    tol_deg = 0.001 / 111_320.0
    out = []
    for lon, lat in zip(lons, lats, strict=True):
        if _outside(lon, lat):
            out.append((lon, lat))
            continue
        dlon, dlat = _offset(lon, lat)
        x, y = lon - dlon, lat - dlat
        for _ in range(30):
            dlon, dlat = _offset(x, y)
            rx, ry = x + dlon - lon, y + dlat - lat
            x, y = x - rx, y - ry
            if math.hypot(rx * math.cos(math.radians(y)), ry) <= tol_deg:
                break
        out.append((x, y))
    return out


def loop_gcj02_to_bd09(lons: list[float], lats: list[float]) -> list[tuple[float, float]]:
    out = []
    for lon, lat in zip(lons, lats, strict=True):
        if _outside(lon, lat):
            out.append((lon, lat))
            continue
        z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
        theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
        out.append((z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006))
    return out


# --- timing -------------------------------------------------------------------------------------


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rng = np.random.default_rng(SEED)
    lon = rng.uniform(73.5, 135.0, N_POINTS)
    lat = rng.uniform(18.0, 53.5, N_POINTS)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    sub = slice(0, N_LOOP)
    scale = N_POINTS / N_LOOP
    cases: list[tuple[str, Floats, Floats, Callable[..., object], Callable[..., object]]] = [
        ("wgs84 -> gcj02", lon, lat, crs.wgs84_to_gcj02, loop_wgs84_to_gcj02),
        ("gcj02 -> wgs84 (exact)", glon, glat, crs.gcj02_to_wgs84, loop_gcj02_to_wgs84),
        ("gcj02 -> bd09", glon, glat, crs.gcj02_to_bd09, loop_gcj02_to_bd09),
    ]
    print(f"siting.crs benchmark: {N_POINTS:,} random points in China (seed {SEED})")
    print(f"baseline: pure-Python loop on {N_LOOP:,} points, scaled x{scale:g}; best of {REPEATS}")
    print(f"{'direction':<24}{'numpy s/M':>11}{'loop s/M':>11}{'speed-up':>10}")
    for name, x, y, vectorised, loop in cases:
        t_vec = best_of(partial(vectorised, x, y)) * N_POINTS / x.size
        t_loop = best_of(partial(loop, x[sub].tolist(), y[sub].tolist())) * scale
        print(f"{name:<24}{t_vec:>11.3f}{t_loop:>11.3f}{t_loop / t_vec:>9.1f}x")

    # The loop and the vectorised code agree (same formula) ...
    loop_gcj = np.array(loop_wgs84_to_gcj02(lon[sub].tolist(), lat[sub].tolist()))
    agree = np.abs(loop_gcj - np.column_stack((glon[sub], glat[sub]))).max()
    print(f"max |numpy - loop| on the subset: {agree:.1e} deg")

    # ... and the round trips close to well under a millimetre.
    geod = pyproj.Geod(ellps="WGS84")
    back = crs.gcj02_to_wgs84(glon, glat)
    err_gcj = float(np.max(geod.inv(lon, lat, back[0], back[1])[2]))
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    back = crs.bd09_to_wgs84(blon, blat)
    err_bd = float(np.max(geod.inv(lon, lat, back[0], back[1])[2]))
    print(f"max round-trip error wgs84->gcj02->wgs84: {err_gcj * 1000:.4f} mm")
    print(f"max round-trip error wgs84->bd09->wgs84:  {err_bd * 1000:.4f} mm")


if __name__ == "__main__":
    main()
