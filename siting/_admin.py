"""County and township codes of points, from the shipped reference data.

A planner's list often has no administrative codes. Where the reference tables cover a point,
its county code comes from the real county polygon it lies in and its township code from the
township area it lies in (the areas of the built-in regions: modelled around the real township
seats, so a point near a township border may get the neighbour's code; said in the warning the
registry reader gives). Elsewhere the codes stay empty. The lookup is data: wider reference
tables (more counties) extend it with no change of code.
"""

from __future__ import annotations

import functools
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt

__all__ = ["attach_codes", "county_outline", "covered_counties"]


@functools.lru_cache(maxsize=1)
def _counties() -> gpd.GeoDataFrame:
    from siting._reference import reference

    geo = reference().counties_geo
    features = [f for f in geo.get("features", []) if f["properties"].get("level") != "市"]
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    frame["adcode"] = frame["adcode"].astype(str)
    return frame[["adcode", "name", "geometry"]].reset_index(drop=True)


def covered_counties() -> list[str]:
    """Codes of the county-level units the reference tables have polygons of."""
    return sorted(_counties()["adcode"])


def county_outline(code: str) -> tuple[str, Any] | None:
    """``(name, WGS84 polygon)`` of a county-level unit the reference tables have, else None.

    >>> county_outline("511302")[0]
    '顺庆区'
    >>> county_outline("310101") is None
    True
    """
    table = _counties()
    hit = table[table["adcode"] == str(code)]
    if hit.empty:
        return None
    return str(hit["name"].iat[0]), hit.geometry.iat[0]


@functools.lru_cache(maxsize=32)
def _township_areas(county: str) -> gpd.GeoDataFrame | None:
    from siting import regions
    from siting._errors import SitingError

    try:
        region = regions.load(county)
    except SitingError:
        return None
    areas = region.township_areas
    return gpd.GeoDataFrame({"code": areas.index.astype(str)}, geometry=areas.geometry.values,
                            crs=areas.crs).to_crs("EPSG:4326")  # fmt: skip


def attach_codes(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    county: list[str | None],
    township: list[str | None],
) -> tuple[list[str | None], list[str | None], dict[str, Any]]:
    """Fill the missing county and township codes of WGS84 points from the reference data.

    Given codes are kept. Returns the two code lists and counts: ``county_attached``,
    ``township_attached``, ``outside`` (points no reference polygon covers).
    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    county = list(county)
    township = list(township)
    stats = {"county_attached": 0, "township_attached": 0, "outside": 0}
    need = [i for i in range(len(x)) if np.isfinite(x[i]) and np.isfinite(y[i])]
    need_county = [i for i in need if not county[i]]
    if need_county:
        counties = _counties()
        pts = gpd.GeoDataFrame(
            {"i": need_county}, geometry=gpd.points_from_xy(x[need_county], y[need_county]),
            crs="EPSG:4326",
        )  # fmt: skip
        hit = gpd.sjoin(pts, counties, how="left", predicate="within")
        hit = hit.drop_duplicates("i")
        for i, code in zip(hit["i"], hit["adcode"], strict=True):
            if isinstance(code, str):
                county[int(i)] = code
                stats["county_attached"] += 1
            else:
                stats["outside"] += 1
    by_county: dict[str, list[int]] = {}
    for i in need:
        if not township[i] and county[i]:
            by_county.setdefault(str(county[i]), []).append(i)
    for code, rows in by_county.items():
        areas = _township_areas(code)
        if areas is None:
            continue
        pts = gpd.GeoDataFrame({"i": rows}, geometry=gpd.points_from_xy(x[rows], y[rows]),
                               crs="EPSG:4326")  # fmt: skip
        hit = gpd.sjoin(pts, areas, how="left", predicate="within").drop_duplicates("i")
        for i, town in zip(hit["i"], hit["code"], strict=True):
            if isinstance(town, str):
                township[int(i)] = town
                stats["township_attached"] += 1
    return county, township, stats
