"""Built-in regions: any county-level unit or city present in the reference tables.

A :class:`Region` holds the real county polygons, the real township list (with real seat points
where the reference data has one), the real village list, and the modelled parts that the
reference data lacks, each labelled:

* **Imputed township seats** (``coord_quality="imputed"``). 20 of the 279 township-level units
  have no point in ``townships_2023.csv`` (mostly 街道 created in the 2019-20 reform). Rule, in
  township-code order within each county, in the metric CRS:

  - a 街道 goes to the candidate point farthest from every known (and already imputed) seat among
    rings of 1.0-3.0 km around an *anchor*: the centroid of the county's 街道 seats that have a
    point; if there is none, the county town listed in ``siting/data/regions.yaml``
    (``county_towns``); failing that, the seat of the county's most urban township with a point
    (most 居委会);
  - a 镇 or 乡 goes to the point of a 500 m grid over the county polygon that maximises the smaller
    of its distance to every known (and already imputed) seat and its distance to the county line:
    the centre of the largest circle inside the county free of seats.

* **Township areas** (``coord_quality="modelled"``): Voronoi cells of the seats within each county,
  clipped to the county polygon.

* **Village points** (``coord_quality="modelled"``): inside their township's area, drawn with a
  generator seeded by ``(seed, township code)`` so a county gives the same points whether loaded
  alone or inside its city. 社区 (居委会) are placed around the township seat (normal spread,
  sigma 600 m for 街道, 400 m otherwise); 村委会 are spread over the area by best-candidate
  sampling (of 12 uniform candidates, the one farthest from the points already placed).

* **Elderly population below county level** (``population_source="modelled"``). The county's
  census counts aged 60-64 and 65+ are split over its village-level units: each 社区 carries an
  equal share of the county's urban population and each 村委会 an equal share of its rural
  population (census 城镇人口/乡村人口), and the elderly are assumed to follow total population
  (the census gives no urban/rural age split per county). Counts are integers by largest-remainder
  apportionment, so villages sum exactly to their county; townships are the sums of their villages.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry

from siting import settings
from siting._errors import DataError, RegionNotFoundError
from siting._reference import AGE_BANDS_60, ReferenceData, reference
from siting._tables import load_table

__all__ = [
    "Region",
    "StudyArea",
    "apportion",
    "available",
    "load",
    "read_polygons",
    "resolve",
    "study_area",
]

_GOLDEN = math.pi * (3.0 - math.sqrt(5.0))
WGS84_CRS = "EPSG:4326"


@functools.lru_cache(maxsize=1)
def _region_config() -> dict[str, Any]:
    return load_table("regions.yaml", required="aliases", what="region table")


@dataclass(frozen=True, eq=False)
class Region:
    """A built-in region: a city or a county-level unit of the reference tables.

    Attributes
    ----------
    code, name, level
        Administrative code (e.g. ``"511300"``), Chinese name, ``"city"`` or ``"county"``.
    counties
        County-level units (index ``county_code``): real polygons (WGS84), census population
        (``pop_total``, ``pop_60plus``, ``pop_65plus``, ``population_source="census2020"``).
    townships
        Township-level units (index ``township_code``): type 镇/乡/街道, seat point (geometry),
        ``coord_quality`` ``"reference"`` or ``"imputed"`` (with ``impute_rule``), modelled
        elderly population.
    township_areas
        Modelled township polygons (Voronoi cells of the seats clipped to the county).
    villages
        Village-level units (index ``village_code``): ``village_type`` 村委会 or 社区, modelled
        point, modelled elderly population.
    outline
        The region's boundary polygon (WGS84).
    seed
        Seed of the modelled parts.
    """

    code: str
    name: str
    level: Literal["city", "county"]
    counties: gpd.GeoDataFrame
    townships: gpd.GeoDataFrame
    township_areas: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    outline: BaseGeometry
    seed: int
    reference_dir: Path
    facts: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def slug(self) -> str:
        """Latin alias if one is listed (``nanchong``), else the code; used for file names."""
        for alias, code in _region_config().get("aliases", {}).items():
            if str(code) == self.code:
                return str(alias)
        return self.code

    @property
    def population(self) -> pd.DataFrame:
        """Census population per county (real) with the region total in the last row."""
        cols = ["name", "pop_total", "pop_60plus", "pop_65plus"]
        table = pd.DataFrame(self.counties[cols])
        total = table[cols[1:]].sum()
        table.loc[self.code] = [self.name, *total.tolist()]
        return table

    @property
    def outline_gdf(self) -> gpd.GeoDataFrame:
        """The outline as a one-row GeoDataFrame."""
        return gpd.GeoDataFrame(
            {"code": [self.code], "name": [self.name]}, geometry=[self.outline], crs=WGS84_CRS
        )

    def __repr__(self) -> str:
        return (
            f"Region({self.code} {self.name}, {len(self.counties)} county-level unit(s), "
            f"{len(self.townships)} townships, {len(self.villages)} villages)"
        )


# ---------------------------------------------------------------------------------------------
# resolving names


def _units(ref: ReferenceData) -> dict[str, dict[str, Any]]:
    units: dict[str, dict[str, Any]] = {}
    for feature in ref.counties_geo["features"]:
        props = feature["properties"]
        units[str(props["adcode"])] = {
            "name": str(props["name"]),
            "level": "city" if props["level"] == "市" else "county",
            "city": str(props["city"]),
        }
    return units


def _short(name: str) -> str:
    return re.sub(r"(市|区|县|自治县|自治州)$", "", name)


def resolve(name_or_code: str | int, *, reference_dir: str | os.PathLike[str] | None = None) -> str:
    """Return the code of a region given its code, Chinese name (with or without 市/区/县) or alias.

    Raises
    ------
    RegionNotFoundError
        When nothing matches; the message lists the close matches and the available regions.

    Examples
    --------
    >>> from siting.regions import resolve
    >>> resolve("南充"), resolve("xuanhan"), resolve(511302)
    ('511300', '511722', '511302')
    """
    ref = reference(reference_dir)
    units = _units(ref)
    query = str(name_or_code).strip()
    if query in units:
        return query
    aliases = {str(k).lower(): str(v) for k, v in _region_config().get("aliases", {}).items()}
    if query.lower() in aliases and aliases[query.lower()] in units:
        return aliases[query.lower()]
    for code, unit in units.items():
        if query in (unit["name"], _short(unit["name"])):
            return code
    names = {unit["name"]: code for code, unit in units.items()}
    keys = list(names) + list(aliases) + list(units)
    close = difflib.get_close_matches(query, keys, n=5, cutoff=0.4)
    close += [n for n in names if query and (query in n or _short(n) in query) and n not in close]
    described = [
        f"{k} ({names.get(k) or aliases.get(k) or units[k]['name']})"
        if k in names or k in aliases
        else f"{k} ({units[k]['name']})"
        for k in close
    ]
    msg = f"unknown region {query!r}"
    if described:
        msg += "; did you mean: " + ", ".join(described) + "?"
    msg += " Available: " + ", ".join(f"{c} {u['name']}" for c, u in units.items())
    raise RegionNotFoundError(msg, suggestions=close)


def available(*, reference_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """List the regions of the reference tables, whether each can be loaded and why not."""
    ref = reference(reference_dir)
    rows = []
    for code, unit in _units(ref).items():
        try:
            _county_codes(ref, code, unit)
            ok, reason = True, ""
        except DataError as exc:
            ok, reason = False, str(exc)
        alias = next(
            (a for a, c in _region_config().get("aliases", {}).items() if str(c) == code), ""
        )
        rows.append(
            {
                "code": code,
                "name": unit["name"],
                "level": unit["level"],
                "alias": alias,
                "loadable": ok,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows).set_index("code")


def _county_codes(ref: ReferenceData, code: str, unit: dict[str, Any]) -> list[str]:
    units = _units(ref)
    if unit["level"] == "county":
        codes = [code]
    else:
        codes = [
            c for c, u in units.items() if u["level"] == "county" and u["city"] == unit["name"]
        ]
        listed = ref.counties.loc[ref.counties["cityCode"] == code[:4], "code"].tolist()
        codes = sorted(set(codes) | set(listed))
        feats = {f["properties"]["adcode"]: f for f in ref.counties_geo["features"]}
        with_polygon = [c for c in codes if c in feats]
        city_area = shape(feats[code]["geometry"]).area
        covered = shapely.union_all([shape(feats[c]["geometry"]) for c in with_polygon]).area
        if not with_polygon or covered < 0.98 * city_area:
            have = ", ".join(units[c]["name"] for c in with_polygon) or "none"
            msg = (
                f"{unit['name']} ({code}) is only partly in the reference tables: its county-level "
                f"units there ({have}) cover {covered / city_area:.0%} of its area in "
                f"{ref.folder / 'counties_wgs84.geojson'}; load a county instead, or add the "
                "missing counties to the reference tables"
            )
            raise DataError(msg)
    for c in codes:
        if not (ref.townships["county_code"] == c).any():
            msg = f"no township rows for {c} in {ref.folder / 'townships_2023.csv'}"
            raise DataError(msg)
        if not (ref.census["区划代码"] == c).any():
            msg = f"no census row for {c} in {ref.folder / 'census2020_county.csv'}"
            raise DataError(msg)
        if c not in {f["properties"]["adcode"] for f in ref.counties_geo["features"]}:
            msg = f"no polygon for {c} in {ref.folder / 'counties_wgs84.geojson'}"
            raise DataError(msg)
    return codes


# ---------------------------------------------------------------------------------------------
# loading


def load(
    name_or_adcode: str | int,
    *,
    seed: int | None = None,
    reference_dir: str | os.PathLike[str] | None = None,
) -> Region:
    """Load a built-in region by name, code or alias.

    Parameters
    ----------
    name_or_adcode
        ``"南充市"``, ``"南充"``, ``"nanchong"``, ``"511300"``, ``"宣汉县"``, ``511722`` ...
    seed
        Seed of the modelled parts (village points); default :data:`siting.settings.default_seed`.
    reference_dir
        A reference folder other than the default (see :func:`siting.reference_dir`).

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("nanchong")
    >>> len(region.counties), len(region.townships), len(region.villages)
    (9, 242, 3004)
    """
    seed = settings.seed_or_default(seed)
    ref = reference(reference_dir)
    code = resolve(name_or_adcode, reference_dir=ref.folder)
    return _load_cached(ref.folder, code, seed)


@functools.lru_cache(maxsize=8)
def _load_cached(folder: Path, code: str, seed: int) -> Region:
    """The region, built once per process and kept on disk between processes
    (:mod:`siting._cache`: keyed by the code, seed, metric CRS, the reference files' bytes and
    siting's own code)."""
    from siting import _cache

    key = (
        str(folder),
        code,
        seed,
        str(settings.metric_crs),
        _cache.files_hash(p for p in Path(folder).iterdir() if p.is_file()),
    )
    return _cache.cached("regions", key, lambda: _build(folder, code, seed))


def _build(folder: Path, code: str, seed: int) -> Region:
    ref = reference(folder)
    unit = _units(ref)[code]
    county_codes = _county_codes(ref, code, unit)
    counties = _counties(ref, county_codes)
    to_metric = Transformer.from_crs(WGS84_CRS, settings.metric_crs, always_xy=True)
    to_wgs = Transformer.from_crs(settings.metric_crs, WGS84_CRS, always_xy=True)
    counties_m = counties.to_crs(settings.metric_crs)

    town_frames, area_frames, village_frames = [], [], []
    for cc in county_codes:
        county_poly_m = counties_m.geometry.loc[cc]
        towns = _townships_of(ref, cc, county_poly_m, to_metric)
        areas = _township_areas(towns, county_poly_m)
        villages = _villages_of(ref, cc, towns, areas, seed)
        _split_population(counties.loc[cc], towns, villages)
        town_frames.append(towns)
        area_frames.append(areas)
        village_frames.append(villages)

    townships = _to_points(pd.concat(town_frames), to_wgs)
    areas = gpd.GeoDataFrame(pd.concat(area_frames)).to_crs(WGS84_CRS)
    villages = _to_points(pd.concat(village_frames), to_wgs)
    feats = {f["properties"]["adcode"]: f for f in ref.counties_geo["features"]}
    outline = shape(feats[code]["geometry"])
    facts = ref.seed_facts
    return Region(
        code=code,
        name=unit["name"],
        level=unit["level"],
        counties=counties,
        townships=townships,
        township_areas=areas,
        villages=villages,
        outline=outline,
        seed=seed,
        reference_dir=ref.folder,
        facts=facts,
    )


def _to_points(frame: pd.DataFrame, to_wgs: Transformer) -> gpd.GeoDataFrame:
    """Metric ``x``/``y`` columns -> ``lon``/``lat`` (6 decimals, ~0.1 m) and WGS84 points."""
    lon, lat = to_wgs.transform(frame["x"].to_numpy(), frame["y"].to_numpy())
    frame = frame.drop(columns=["x", "y"]).assign(lon=np.round(lon, 6), lat=np.round(lat, 6))
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=WGS84_CRS
    )


def _counties(ref: ReferenceData, codes: list[str]) -> gpd.GeoDataFrame:
    feats = {f["properties"]["adcode"]: f for f in ref.counties_geo["features"]}
    census = ref.census.set_index("区划代码")
    rows = []
    for c in codes:
        props = feats[c]["properties"]
        row = census.loc[c]
        values: dict[str, int] = {}
        for col in ["人口数_合计", "城镇人口", "乡村人口"] + [
            f"{sex}_{band}" for band in AGE_BANDS_60 for sex in ("男", "女")
        ]:
            value = str(row[col]).strip()
            try:
                values[col] = round(float(value))
            except ValueError as exc:
                msg = (
                    f"census value {value!r} for {c} in column {col!r} of "
                    f"{ref.folder / 'census2020_county.csv'} is not a number"
                )
                raise DataError(msg) from exc

        def num(col: str, values: dict[str, int] = values) -> int:
            return values[col]

        p60 = sum(num(f"{sex}_{band}") for band in AGE_BANDS_60 for sex in ("男", "女"))
        p65 = sum(num(f"{sex}_{band}") for band in AGE_BANDS_60[1:] for sex in ("男", "女"))
        rows.append(
            {
                "county_code": c,
                "name": props["name"],
                "city": props["city"],
                "pop_total": num("人口数_合计"),
                "pop_urban": num("城镇人口"),
                "pop_rural": num("乡村人口"),
                "pop_60plus": p60,
                "pop_65plus": p65,
                "population_source": "census2020",
                "geometry": shape(feats[c]["geometry"]),
            }
        )
    return gpd.GeoDataFrame(rows, crs=WGS84_CRS).set_index("county_code")


def _townships_of(
    ref: ReferenceData, county: str, county_poly: BaseGeometry, to_metric: Transformer
) -> pd.DataFrame:
    t = ref.townships[ref.townships["county_code"] == county].sort_values("town_code")
    frame = pd.DataFrame(
        {
            "township_code": t["town_code"].to_numpy(),
            "name": t["town_name"].to_numpy(),
            "town_type": t["town_type"].to_numpy(),
            "county_code": t["county_code"].to_numpy(),
            "county_name": t["county_name"].to_numpy(),
            "n_village_units": pd.to_numeric(t["n_village_level_units"]).to_numpy(),
            "n_residents_committees": pd.to_numeric(t["n_residents_committees"]).to_numpy(),
        }
    ).set_index("township_code")
    has = (t["coord_match"] != "none").to_numpy() & (t["lon_wgs84"] != "").to_numpy()
    lon = pd.to_numeric(t["lon_wgs84"].where(has, None)).to_numpy(dtype=float)
    lat = pd.to_numeric(t["lat_wgs84"].where(has, None)).to_numpy(dtype=float)
    x, y = to_metric.transform(lon, lat)
    frame["x"], frame["y"] = x, y
    frame["coord_quality"] = np.where(has, "reference", "imputed")
    frame["impute_rule"] = ""
    frame["lon_gcj02"] = pd.to_numeric(t["lon_gcj02"].where(has, None)).to_numpy(dtype=float)
    frame["lat_gcj02"] = pd.to_numeric(t["lat_gcj02"].where(has, None)).to_numpy(dtype=float)
    _impute_seats(frame, county, county_poly, to_metric)
    return frame


def _farthest(
    candidates: np.ndarray, known: np.ndarray, *, cap: np.ndarray | None = None
) -> np.ndarray:
    """The candidate farthest from every known point (the first one on ties).

    ``cap`` bounds each candidate's distance (e.g. by its distance to the county line, so that the
    chosen point is the centre of the largest empty circle inside the county).
    """
    if len(known) == 0:
        d = np.zeros(len(candidates))
    else:
        diff = candidates[:, None, :] - known[None, :, :]
        d = np.min(np.hypot(diff[..., 0], diff[..., 1]), axis=1)
    if cap is not None:
        d = np.minimum(d, cap) if len(known) else cap
    return np.asarray(candidates[int(np.argmax(d))])


def _impute_seats(
    frame: pd.DataFrame, county: str, poly: BaseGeometry, to_metric: Transformer
) -> None:
    missing = frame.index[frame["coord_quality"] == "imputed"]
    if len(missing) == 0:
        return
    inner = poly.buffer(-300.0)
    inner = inner if not inner.is_empty else poly
    minx, miny, maxx, maxy = poly.bounds
    gx, gy = np.meshgrid(np.arange(minx, maxx, 500.0), np.arange(miny, maxy, 500.0))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    grid = grid[shapely.contains_xy(inner, grid[:, 0], grid[:, 1])]
    if len(grid) == 0:
        rp = poly.representative_point()
        grid = np.array([[rp.x, rp.y]])
    to_line = shapely.distance(poly.boundary, shapely.points(grid))
    known_mask = frame["coord_quality"] == "reference"
    for code in missing:
        known = frame.loc[known_mask | frame["impute_rule"].ne(""), ["x", "y"]].to_numpy()
        if frame.at[code, "town_type"] == "街道":
            anchor, why = _street_anchor(frame, county, to_metric)
            radii = np.arange(1000.0, 3001.0, 250.0)
            angles = np.arange(24) * (2 * math.pi / 24)
            ring = np.array([[r * math.cos(a), r * math.sin(a)] for r in radii for a in angles])
            cand = anchor + ring
            cand = cand[shapely.contains_xy(inner, cand[:, 0], cand[:, 1])]
            if len(cand) == 0:
                cand = grid
            frame.loc[code, ["x", "y"]] = _farthest(cand, known)
            frame.at[code, "impute_rule"] = (
                f"街道: farthest point from known seats within 1-3 km of {why}"
            )
        else:
            frame.loc[code, ["x", "y"]] = _farthest(grid, known, cap=to_line)
            frame.at[code, "impute_rule"] = (
                "镇/乡: centre of the largest circle inside the county free of known seats "
                "(500 m grid)"
            )


def _street_anchor(
    frame: pd.DataFrame, county: str, to_metric: Transformer
) -> tuple[np.ndarray, str]:
    streets = frame[(frame["town_type"] == "街道") & (frame["coord_quality"] == "reference")]
    if len(streets):
        return (
            streets[["x", "y"]].mean().to_numpy(),
            f"the centroid of the county's {len(streets)} 街道 seat(s) with a point",
        )
    towns = _region_config().get("county_towns", {})
    if county in towns:
        entry = towns[county]
        x, y = to_metric.transform(float(entry["lon"]), float(entry["lat"]))
        return np.array([x, y]), f"the county town {entry['name']} (siting/data/regions.yaml)"
    known = frame[frame["coord_quality"] == "reference"]
    top = known.sort_values(["n_residents_committees"], ascending=False, kind="stable").iloc[0]
    return np.array([top["x"], top["y"]]), f"the seat of {top['name']} (most 居委会 with a point)"


def _township_areas(towns: pd.DataFrame, county_poly: BaseGeometry) -> gpd.GeoDataFrame:
    pts = shapely.points(towns["x"].to_numpy(), towns["y"].to_numpy())
    if len(towns) == 1:
        cells = [county_poly]
    else:
        regions = shapely.voronoi_polygons(MultiPoint(list(pts)), extend_to=county_poly.buffer(1e4))
        polys = list(regions.geoms)
        tree = shapely.STRtree(polys)
        cells = []
        for p in pts:
            hits = [polys[i] for i in tree.query(p, predicate="intersects")]
            cells.append(shapely.union_all(hits).intersection(county_poly))
    out = gpd.GeoDataFrame(
        {
            "name": towns["name"].to_numpy(),
            "county_code": towns["county_code"].to_numpy(),
            "coord_quality": "modelled",
        },
        index=towns.index,
        geometry=cells,
        crs=settings.metric_crs,
    )
    empty = out.geometry.is_empty | (out.geometry.area < 1.0)
    if empty.any():
        # a seat on the county line whose cell falls outside: give it a small disc inside
        for code in out.index[empty]:
            p = Point(towns.at[code, "x"], towns.at[code, "y"])
            near = shapely.ops.nearest_points(county_poly, p)[0]
            out.loc[code, "geometry"] = near.buffer(1000.0).intersection(county_poly)
    return out


def _uniform_in(poly: BaseGeometry, rng: np.random.Generator, n: int) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    out = np.empty((0, 2))
    for _ in range(50):
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(max(4 * n, 16), 2))
        xy = xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]
        out = np.vstack([out, xy])
        if len(out) >= n:
            return out[:n]
    rp = poly.representative_point()
    pad = np.repeat([[rp.x, rp.y]], n - len(out), axis=0)
    return np.vstack([out, pad])


def _villages_of(
    ref: ReferenceData,
    county: str,
    towns: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    seed: int,
) -> pd.DataFrame:
    v = ref.villages[ref.villages["areaCode"] == county].sort_values("code")
    unknown = sorted(set(v["streetCode"]) - set(towns.index))
    if unknown:
        msg = (
            f"villages in {ref.folder / 'villages_2023.csv'} refer to township code(s) "
            f"{', '.join(unknown[:5])} missing from townships_2023.csv"
        )
        raise DataError(msg)
    vtype = np.where(v["name"].str.endswith("村民委员会"), "村委会", "社区")
    frame = pd.DataFrame(
        {
            "village_code": v["code"].to_numpy(),
            "name": v["name"].to_numpy(),
            "village_type": vtype,
            "township_code": v["streetCode"].to_numpy(),
            "county_code": v["areaCode"].to_numpy(),
            "x": np.nan,
            "y": np.nan,
            "coord_quality": "modelled",
        }
    ).set_index("village_code")
    xy_of: dict[Any, Any] = {}
    for town, group in frame.groupby("township_code", sort=True):
        cell = areas.geometry.loc[town]
        rng = np.random.default_rng([seed, int(str(town))])
        seat = np.array([towns.at[town, "x"], towns.at[town, "y"]])
        if not cell.contains(Point(*seat)):
            rp = cell.representative_point()
            seat = np.array([rp.x, rp.y])
        sigma = 600.0 if towns.at[town, "town_type"] == "街道" else 400.0
        placed = [seat]
        for code in group.index[group["village_type"] == "社区"]:
            xy = None
            for _ in range(100):
                c = seat + rng.normal(0.0, sigma, size=2)
                if shapely.contains_xy(cell, c[0], c[1]):
                    xy = c
                    break
            if xy is None:
                xy = _uniform_in(cell, rng, 1)[0]
            xy_of[code] = xy
            placed.append(xy)
        for code in group.index[group["village_type"] == "村委会"]:
            cand = _uniform_in(cell, rng, 12)
            xy = _farthest(cand, np.array(placed))
            xy_of[code] = xy
            placed.append(xy)
    # one assignment for all (a .loc write per village took seconds for a city)
    if xy_of:
        placed_xy = np.array([xy_of[c] for c in frame.index if c in xy_of], dtype=float)
        rows = frame.index.isin(list(xy_of))
        frame.loc[rows, "x"] = placed_xy[:, 0]
        frame.loc[rows, "y"] = placed_xy[:, 1]
    return frame


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split an integer ``total`` by ``weights`` into integers summing exactly to it.

    Largest-remainder (Hamilton) method; ties go to the earlier position, so the result is
    deterministic.

    Examples
    --------
    >>> apportion(10, np.array([1.0, 1.0, 1.0])).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, dtype=float)
    if total < 0 or (w < 0).any() or not np.isfinite(w).all():
        msg = "apportion needs a non-negative total and finite non-negative weights"
        raise ValueError(msg)
    if len(w) == 0:
        if total:
            msg = f"cannot apportion {total} over no units"
            raise ValueError(msg)
        return np.zeros(0, dtype=np.int64)
    if w.sum() == 0:
        w = np.ones_like(w)
    quota = total * w / w.sum()
    base = np.floor(quota).astype(np.int64)
    rest = int(total - base.sum())
    order = np.lexsort((np.arange(len(w)), -(quota - base)))
    base[order[:rest]] += 1
    return np.asarray(base, dtype=np.int64)


def _split_population(county: pd.Series, towns: pd.DataFrame, villages: pd.DataFrame) -> None:
    is_comm = (villages["village_type"] == "社区").to_numpy()
    n_comm, n_vill = int(is_comm.sum()), int((~is_comm).sum())
    urban, rural = float(county["pop_urban"]), float(county["pop_rural"])
    if n_comm == 0:
        rural, urban = rural + urban, 0.0
    if n_vill == 0:
        urban, rural = rural + urban, 0.0
    w = np.where(is_comm, urban / max(n_comm, 1), rural / max(n_vill, 1))
    p65 = apportion(int(county["pop_65plus"]), w)
    p6064 = apportion(int(county["pop_60plus"]) - int(county["pop_65plus"]), w)
    villages["pop_60plus"] = p6064 + p65
    villages["pop_65plus"] = p65
    villages["population_source"] = "modelled"
    sums = villages.groupby("township_code")[["pop_60plus", "pop_65plus"]].sum()
    towns["pop_60plus"] = sums["pop_60plus"].reindex(towns.index, fill_value=0).astype("int64")
    towns["pop_65plus"] = sums["pop_65plus"].reindex(towns.index, fill_value=0).astype("int64")
    towns["population_source"] = "modelled"


# --- the study area of a planner's own data ----------------------------------------------------


@dataclass(frozen=True, eq=False)
class StudyArea:
    """Where an analysis happens, wherever in China: its outline (WGS84), the metric CRS of its
    centre (the WGS84 UTM zone, :func:`siting.crs.metric_crs`) and where the outline came from.

    Attributes
    ----------
    outline
        A polygon or multipolygon in WGS84 degrees.
    metric_crs
        ``"EPSG:326zz"``: the UTM zone of the outline's centre, in which distances are measured
        and static maps drawn.
    source
        ``"region 511722 宣汉县"``, ``"boundary <file>"`` or ``"facilities extent + 5 km"``.
    region
        The built-in region, when the area is one.
    """

    outline: BaseGeometry
    metric_crs: str
    source: str
    region: Region | None = None

    @property
    def outline_gdf(self) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"source": [self.source]}, geometry=[self.outline], crs=WGS84_CRS)


def read_polygons(source: str | os.PathLike[str] | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The polygons of a boundary file (any CRS GDAL reads) or frame, in WGS84, made valid, with
    their attribute columns; points, lines and empty rows are left out.

    Raises
    ------
    siting.DataError
        If the file is missing or unreadable, has no CRS, or holds no polygon.

    >>> import shapely
    >>> frame = gpd.GeoDataFrame({"name": ["甲"]}, geometry=[shapely.box(0, 0, 1000, 1000)],
    ...                          crs="EPSG:32648")
    >>> out = read_polygons(frame)
    >>> list(out.columns), out.crs.to_string()
    (['name', 'geometry'], 'EPSG:4326')
    """
    if isinstance(source, gpd.GeoDataFrame):
        where, shapes = "boundaries", source
    else:
        file = Path(source)
        where = str(file)
        if not file.is_file():
            msg = f"boundary file not found: {file} (边界文件不存在)"
            raise DataError(msg)
        try:
            shapes = gpd.read_file(file)
        except Exception as exc:  # a damaged or foreign file: name it
            msg = f"{file}: cannot read the boundary ({type(exc).__name__}: {exc})"
            raise DataError(msg) from exc
    if shapes.crs is None:
        msg = f"{where}: the boundary has no CRS; save it with one (e.g. EPSG:4326)"
        raise DataError(msg)
    shapes = shapes[shapes.geometry.notna() & ~shapes.geometry.is_empty]
    polygons = shapes[shapes.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        msg = (
            f"{where}: the boundary holds no polygon (found {sorted(set(shapes.geom_type))}) "
            "(边界文件中没有面)"
        )
        raise DataError(msg)
    out = polygons.to_crs(WGS84_CRS)
    return out.set_geometry(shapely.make_valid(out.geometry.to_numpy()), crs=WGS84_CRS)


def _read_boundary(path: str | os.PathLike[str]) -> BaseGeometry:
    return shapely.make_valid(read_polygons(path).union_all())


def study_area(
    region: Region | str | None = None,
    *,
    boundary: str | os.PathLike[str] | BaseGeometry | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    buffer_m: float = 5000.0,
    seed: int | None = None,
) -> StudyArea:
    """The study area: a boundary if given, else a built-in region's outline, else the convex
    hull of the facilities buffered by ``buffer_m`` metres.

    Parameters
    ----------
    region
        A built-in region (name, code or a loaded :class:`Region`).
    boundary
        A boundary file in any CRS (its polygons are merged) or a WGS84 geometry.
    facilities
        A registry (WGS84): its extent is the area when there is no boundary and no region.
    buffer_m
        Buffer around the facilities' extent.

    Raises
    ------
    siting.DataError
        If nothing locates the area, or a boundary file cannot be used.
    """
    from siting.crs import metric_crs

    reg = load(region, seed=seed) if isinstance(region, str) else region
    if boundary is not None:
        if isinstance(boundary, BaseGeometry):
            outline = boundary
            source = "boundary (geometry)"
        else:
            outline = _read_boundary(boundary)
            source = f"boundary {Path(boundary)}"
    elif reg is not None:
        outline = reg.outline
        source = f"region {reg.code} {reg.name}"
    elif facilities is not None and len(facilities) > 0:
        pts = facilities.geometry.to_crs(WGS84_CRS)
        pts = pts[pts.notna() & ~pts.is_empty]
        if pts.empty:
            msg = "the facilities have no location: give a boundary or a region"
            raise DataError(msg)
        local = metric_crs(shapely.MultiPoint(list(pts)).centroid)
        hull = gpd.GeoSeries([pts.union_all().convex_hull], crs=WGS84_CRS).to_crs(local)
        outline = hull.buffer(buffer_m).to_crs(WGS84_CRS).iloc[0]
        source = f"facilities extent + {buffer_m / 1000:g} km"
    else:
        msg = "no study area: give a region, a boundary or facilities"
        raise DataError(msg)
    if outline.is_empty:
        msg = f"the study area ({source}) is empty"
        raise DataError(msg)
    zone = metric_crs(outline.centroid).to_string()
    return StudyArea(outline=outline, metric_crs=zone, source=source, region=reg)
