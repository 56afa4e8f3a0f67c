"""Modelled facility registries for the built-in regions, generated reproducibly.

No open list of the facilities of Nanchong or Xuanhan with coordinates exists, so the built-in
registries are *modelled*: the counts come from the seed documents (via ``seed_facts.yaml``), the
positions from the real township seats and the modelled village points, drawn with a fixed seed.
Every row has ``source="modelled"``; facilities the seed documents name keep their real names and
are marked ``location="approximate"``, all others ``location="modelled"``. The rules are data, in
``siting/data/modelled_registries.yaml``.

The same seed gives the same registry, and :func:`build` writes a byte-identical GeoPackage.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from siting import registry, settings
from siting._errors import DataError
from siting._reference import data_dir
from siting._tables import load_table
from siting.regions import Region, apportion
from siting.regions import load as load_region

__all__ = ["build", "registry_for", "spec_for"]

_SPEC_FILE = Path(__file__).resolve().parent / "data" / "modelled_registries.yaml"
WGS84_CRS = "EPSG:4326"


@functools.lru_cache(maxsize=1)
def _specs() -> dict[str, Any]:
    specs = load_table(_SPEC_FILE.name, required="regions", what="modelled-registry spec")
    return {str(k): v for k, v in specs["regions"].items()}


def spec_for(region: Region) -> tuple[str, dict[str, Any]] | None:
    """Return ``(code, spec)`` of the modelled-registry spec covering ``region``, if any.

    A county inside a city with a spec is covered by the city's spec (its registry is the city's
    filtered to the county), so a county gives the same facilities alone or in its city.
    """
    specs = _specs()
    if region.code in specs:
        return region.code, specs[region.code]
    city = region.code[:4] + "00"
    if city in specs:
        return city, specs[city]
    return None


def _fact(value: Any, facts: dict[str, Any], where: str) -> Any:
    if not isinstance(value, dict) or "fact" not in value:
        return value
    node: Any = facts
    for part in str(value["fact"]).split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            msg = (
                f"{_SPEC_FILE}: {where} refers to {value['fact']!r}, which seed_facts.yaml "
                "does not have"
            )
            raise DataError(msg)
    return node


@dataclass
class _Ctx:
    region: Region
    rng: np.random.Generator
    to_metric: Transformer
    to_wgs: Transformer
    towns: pd.DataFrame  # metric seat x/y
    areas: gpd.GeoSeries  # metric township polygons
    counties: gpd.GeoSeries  # metric county polygons
    villages: pd.DataFrame  # metric village x/y
    rows: list[dict[str, Any]] = field(default_factory=list)
    named_xy: dict[str, tuple[float, float]] = field(default_factory=dict)


def _offset_inside(
    ctx: _Ctx, origin: tuple[float, float], rmin: float, rmax: float, poly: Any
) -> tuple[float, float]:
    """A point at a random distance in [rmin, rmax] from ``origin`` inside ``poly``."""
    for _ in range(200):
        r = ctx.rng.uniform(rmin, rmax)
        a = ctx.rng.uniform(0.0, 2.0 * math.pi)
        x, y = origin[0] + r * math.cos(a), origin[1] + r * math.sin(a)
        if shapely.contains_xy(poly, x, y):
            return x, y
        rmax = max(rmin, rmax * 0.8)
    if shapely.contains_xy(poly, *origin):
        return origin
    p = poly.representative_point()
    return p.x, p.y


def _township_of(ctx: _Ctx, x: float, y: float, county: str) -> str:
    cand = ctx.towns.index[ctx.towns["county_code"] == county]
    hits = [t for t in cand if shapely.contains_xy(ctx.areas.loc[t], x, y)]
    if hits:
        return str(hits[0])
    d = np.hypot(ctx.towns.loc[cand, "x"] - x, ctx.towns.loc[cand, "y"] - y)
    return str(d.idxmin())


def _urban_township(ctx: _Ctx, county: str) -> str:
    towns = ctx.towns[ctx.towns["county_code"] == county]
    streets = towns[towns["town_type"] == "街道"]
    pool = streets if len(streets) else towns.nlargest(1, "n_residents_committees")
    weights = pool["n_residents_committees"].to_numpy(dtype=float) + 1.0
    return str(pool.index[ctx.rng.choice(len(pool), p=weights / weights.sum())])


def _xy(frame: pd.DataFrame, code: str) -> tuple[float, float]:
    xy = frame.loc[code, ["x", "y"]].to_numpy(dtype=float)
    return float(xy[0]), float(xy[1])


def _place(ctx: _Ctx, how: str, *, county: str, township: str | None = None) -> tuple[Any, ...]:
    """Return (x, y, township_code) for a placement rule."""
    if how == "urban":
        town = township or _urban_township(ctx, county)
        seat = _xy(ctx.towns, town)
        x, y = _offset_inside(ctx, seat, 300.0, 3000.0, ctx.counties.loc[county])
        return x, y, _township_of(ctx, x, y, county)
    if how == "township_seat":
        if township is None:
            msg = "placement township_seat needs a township"
            raise DataError(msg)
        seat = _xy(ctx.towns, township)
        x, y = _offset_inside(ctx, seat, 200.0, 1500.0, ctx.areas.loc[township])
        return x, y, township
    msg = f"{_SPEC_FILE}: unknown placement {how!r} (township_seat, urban, village)"
    raise DataError(msg)


def _add(
    ctx: _Ctx,
    *,
    kind: str,
    name: str,
    xy: tuple[float, float],
    county: str,
    township: str | None,
    village: str | None = None,
    beds: int | None = None,
    ownership: str | None = None,
    level: str | None = None,
    location: str = "modelled",
    note: str | None = None,
) -> None:
    ctx.rows.append(
        {
            "name": name,
            "kind": kind,
            "x": xy[0],
            "y": xy[1],
            "county_code": county,
            "township_code": township,
            "village_code": village,
            "beds": beds,
            "ownership": ownership,
            "level": level,
            "location": location,
            "note": note,
        }
    )


def _county_name(ctx: _Ctx, county: str) -> str:
    return str(ctx.region.counties.at[county, "name"])


#: Unit words a short village name may end with: ``"江家坝村村民委员会"`` is ``"江家坝村"``,
#: never ``"江家坝村村"``; ``"城西社区村民委员会"`` is ``"城西社区"``.
_UNIT_WORDS = ("村", "社区")


def _short_village(name: str) -> str:
    """The short name of a village committee: its stem and 村 or 社区, never doubled.

    >>> _short_village("江家坝村村民委员会"), _short_village("江家坝村民委员会")
    ('江家坝村', '江家坝村')
    >>> _short_village("城西社区居民委员会"), _short_village("城西社区村民委员会")
    ('城西社区', '城西社区')
    >>> _short_village("任家沟农村社区居民委员会")
    '任家沟农村社区'
    """
    for suffix in ("村民委员会", "社区居民委员会", "居民委员会", "社区居委会", "居委会"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            unit = "村" if suffix == "村民委员会" else "社区"
            if stem.endswith(_UNIT_WORDS if unit == "村" else unit):
                return stem
            return stem + unit
    return name


def _split_counties(ctx: _Ctx, total: int, by: str) -> dict[str, int]:
    counties = ctx.region.counties
    col = {"pop_60plus": "pop_60plus", "pop_total": "pop_total"}.get(by)
    if col is None:
        msg = f"{_SPEC_FILE}: allocate must be pop_60plus or pop_total, not {by!r}"
        raise DataError(msg)
    parts = apportion(total, counties[col].to_numpy(dtype=float))
    return dict(zip(counties.index, (int(p) for p in parts), strict=True))


def _named(ctx: _Ctx, spec: dict[str, Any]) -> None:
    counties_by_name = {str(v): str(k) for k, v in ctx.region.counties["name"].items()}
    towns = ctx.towns
    for item in spec.get("named", []):
        name = str(item["name"])
        township = None
        if "township" in item:
            match = towns.index[towns["name"] == item["township"]]
            if len(match) != 1:
                msg = f"{_SPEC_FILE}: township {item['township']!r} of {name} not found"
                raise DataError(msg)
            township = str(match[0])
            county = str(towns.at[township, "county_code"])
        elif "county" in item:
            if item["county"] not in counties_by_name:
                msg = f"{_SPEC_FILE}: county {item['county']!r} of {name} not found"
                raise DataError(msg)
            county = counties_by_name[item["county"]]
        elif "near" in item:
            if item["near"] not in ctx.named_xy:
                msg = f"{_SPEC_FILE}: {name} is near {item['near']!r}, which must be listed before"
                raise DataError(msg)
            bx, by = ctx.named_xy[item["near"]]
            county = next(r["county_code"] for r in ctx.rows if r["name"] == item["near"])
            x, y = _offset_inside(ctx, (bx, by), 50.0, 150.0, ctx.counties.loc[county])
            township = _township_of(ctx, x, y, county)
        else:
            msg = f"{_SPEC_FILE}: {name} needs township, county or near"
            raise DataError(msg)
        if "village" in item:
            vil = ctx.villages[
                (ctx.villages["name"] == item["village"])
                & (ctx.villages["township_code"] == township)
            ]
            if len(vil) != 1:
                msg = f"{_SPEC_FILE}: village {item['village']!r} of {name} not found"
                raise DataError(msg)
            v = vil.iloc[0]
            x, y = _offset_inside(ctx, (v["x"], v["y"]), 20.0, 150.0, ctx.areas.loc[township])
            village = str(vil.index[0])
        elif "near" not in item:
            x, y, township = _place(
                ctx, str(item.get("place", "urban")), county=county, township=township
            )
            village = None
        else:
            village = None
        _add(
            ctx,
            kind=str(item["kind"]),
            name=name,
            xy=(x, y),
            county=county,
            township=township,
            village=village,
            ownership=item.get("ownership"),
            level=item.get("level"),
            location="approximate",
            note=item.get("note"),
        )
        ctx.named_xy[name] = (x, y)


def _named_count(ctx: _Ctx, kinds: list[str], ownership: str | None = None) -> int:
    return sum(
        1
        for r in ctx.rows
        if r["location"] == "approximate"
        and r["kind"] in kinds
        and (ownership is None or r["ownership"] == ownership)
    )


def _group_count(ctx: _Ctx, group: dict[str, Any], where: str) -> int:
    count = int(_fact(group["count"], ctx.region.facts, where)) - int(group.get("count_minus", 0))
    kinds = list(group.get("count_includes_kinds", [group["kind"]]))
    count -= _named_count(ctx, kinds, group.get("ownership"))
    if count < 0:
        msg = f"{_SPEC_FILE}: {where} has more named facilities than its count"
        raise DataError(msg)
    return count


def _per_unit(ctx: _Ctx, group: dict[str, Any]) -> None:
    units = set(group["per_unit"])
    kind = str(group["kind"])
    for code, town in ctx.towns.iterrows():
        if town["town_type"] in units:
            seat = (float(town["x"]), float(town["y"]))
            xy = _offset_inside(ctx, seat, 0.0, 300.0, ctx.areas.loc[code])
            name = str(group["name"]).format(township=town["name"])
            _add(ctx, kind=kind, name=name, xy=xy, county=town["county_code"], township=str(code))
    in_towns = group.get("in_town_types")
    town_type = ctx.towns["town_type"]
    for code, vil in ctx.villages.iterrows():
        if vil["village_type"] in units and (
            in_towns is None or town_type.at[vil["township_code"]] in in_towns
        ):
            xy = _offset_inside(
                ctx, (vil["x"], vil["y"]), 0.0, 200.0, ctx.areas.loc[vil["township_code"]]
            )
            name = str(group["name"]).format(village=_short_village(str(vil["name"])))
            _add(
                ctx,
                kind=kind,
                name=name,
                xy=xy,
                county=vil["county_code"],
                township=vil["township_code"],
                village=str(code),
            )


def _village_group(ctx: _Ctx, group: dict[str, Any], counts: dict[str, int]) -> None:
    weights_by_type = {str(k): float(v) for k, v in group["village_weights"].items()}
    for county, n in counts.items():
        vil = ctx.villages[ctx.villages["county_code"] == county]
        w = vil["village_type"].map(weights_by_type).fillna(0.0).to_numpy()
        if n > int((w > 0).sum()):
            msg = f"{_SPEC_FILE}: {n} {group['kind']} in {county} but only {(w > 0).sum()} villages"
            raise DataError(msg)
        if n == 0:
            continue
        chosen = np.sort(ctx.rng.choice(len(vil), size=n, replace=False, p=w / w.sum()))
        for i in chosen:
            v = vil.iloc[i]
            xy = _offset_inside(
                ctx, (v["x"], v["y"]), 0.0, 300.0, ctx.areas.loc[v["township_code"]]
            )
            name = str(group["name"]).format(village=_short_village(str(v["name"])))
            _add(
                ctx,
                kind=str(group["kind"]),
                name=name,
                xy=xy,
                county=county,
                township=str(v["township_code"]),
                village=str(vil.index[i]),
                ownership=group.get("ownership"),
            )


def _seat_towns(ctx: _Ctx, county: str, n: int, kind: str) -> Iterator[str]:
    """Rural townships of a county by elderly population, largest first, cycling if needed.

    Townships that already have a named facility of ``kind`` come last.
    """
    taken = {r["township_code"] for r in ctx.rows if r["kind"] == kind}
    towns = ctx.towns[(ctx.towns["county_code"] == county) & ctx.towns["town_type"].ne("街道")]
    towns = towns.assign(_taken=towns.index.isin(list(taken)))
    order = towns.sort_values(
        ["_taken", "pop_60plus"], ascending=[True, False], kind="stable"
    ).index
    if len(order) == 0:
        order = ctx.towns.index[ctx.towns["county_code"] == county]
    for i in range(n):
        yield str(order[i % len(order)])


def _institution_group(
    ctx: _Ctx, group: dict[str, Any], counts: dict[str, int], *, where: str
) -> None:
    kind = str(group["kind"])
    fixed = group.get("ownership")
    share = float(group.get("ownership_public_share", 1.0 if fixed == "public" else 0.0))
    for county, n in counts.items():
        if fixed:
            parts = {str(fixed): n}
        else:
            rural = int(
                (ctx.towns["county_code"].eq(county) & ctx.towns["town_type"].ne("街道")).sum()
            )
            n_public = min(round(share * n), rural)
            parts = {"public": n_public, "private": n - n_public}
        seq = 0
        for ownership, m in parts.items():
            how = group.get(f"{ownership}_place", group.get("place", "urban"))
            template = group.get(f"name_{ownership}", group.get("name"))
            towns = _seat_towns(ctx, county, m, kind) if how == "township_seat" else None
            for _ in range(m):
                seq += 1
                town = next(towns) if towns is not None else None
                x, y, town = _place(ctx, how, county=county, township=town)
                name = str(template).format(
                    township=ctx.towns.at[town, "name"],
                    county=_county_name(ctx, county),
                    n=seq,
                )
                _add(
                    ctx,
                    kind=kind,
                    name=name,
                    xy=(x, y),
                    county=county,
                    township=town,
                    ownership=ownership,
                )


def _hospital_group(ctx: _Ctx, group: dict[str, Any], counts: dict[str, int], where: str) -> None:
    levels: dict[str, dict[str, int]] = group["levels"]
    facts = ctx.region.facts
    for key, value in group.get("check", {}).items():
        expected = int(_fact(value, facts, where))
        got = (
            sum(levels[key].values())
            if key in levels
            else sum(lv.get(key, 0) for lv in levels.values())
        )
        if got != expected:
            msg = f"{_SPEC_FILE}: {where} levels give {got} for {key}, seed_facts says {expected}"
            raise DataError(msg)
    # what is left to generate once the named hospitals are counted
    todo: list[tuple[str, str]] = []
    for ownership, by_level in levels.items():
        for level, m in by_level.items():
            named = sum(
                1
                for r in ctx.rows
                if r["kind"] == "hospital"
                and r["location"] == "approximate"
                and r["ownership"] == ownership
                and r["level"] == level
            )
            todo += [(ownership, level)] * (int(m) - named)
    if len(todo) != sum(counts.values()):
        msg = f"{_SPEC_FILE}: {where} levels sum to {len(todo)}, counts to {sum(counts.values())}"
        raise DataError(msg)
    # higher levels go to the larger counties first: order counties by population, deal round-robin
    county_slots: list[str] = []
    remaining = dict(counts)
    order = sorted(remaining, key=lambda c: -int(ctx.region.counties.at[c, "pop_total"]))
    while any(remaining.values()):
        for c in order:
            if remaining[c]:
                county_slots.append(c)
                remaining[c] -= 1
    seq: dict[str, int] = {}
    for (ownership, level), county in zip(todo, county_slots, strict=True):
        seq[county] = seq.get(county, 0) + 1
        x, y, town = _place(ctx, "urban", county=county)
        name = str(group["name"]).format(
            county=_county_name(ctx, county),
            ownership_zh="公立" if ownership == "public" else "民营",
            n=seq[county],
        )
        _add(
            ctx,
            kind="hospital",
            name=name,
            xy=(x, y),
            county=county,
            township=town,
            ownership=ownership,
            level=level,
        )


def _beds(ctx: _Ctx, group: dict[str, Any], first: int, where: str) -> None:
    """Draw beds for the rows this group added (from ``first``) and the named rows it counts."""
    medians = group.get("beds_median")
    if not medians:
        return
    kinds = list(group.get("count_includes_kinds", [group["kind"]]))
    fixed = group.get("ownership")
    idx = [
        i
        for i, r in enumerate(ctx.rows)
        if i >= first
        or (
            r["location"] == "approximate"
            and r["kind"] in kinds
            and r["beds"] is None
            and (fixed is None or r["ownership"] == fixed)
        )
    ]
    keys = [
        ctx.rows[i]["level"] if group["kind"] == "hospital" else ctx.rows[i]["ownership"]
        for i in idx
    ]
    med = np.array([float(medians.get(k, np.median(list(medians.values())))) for k in keys])
    draws = med * ctx.rng.lognormal(0.0, 0.45, size=len(idx))
    if "beds_total" in group:
        total = int(_fact(group["beds_total"], ctx.region.facts, where))
        beds = apportion(total, np.maximum(draws, 5.0))
    else:
        beds = np.maximum(np.round(draws), 5).astype(np.int64)
    for i, b in zip(idx, beds, strict=True):
        ctx.rows[i]["beds"] = int(b)


def _generate(region: Region, spec_code: str, spec: dict[str, Any], seed: int) -> pd.DataFrame:
    to_metric = Transformer.from_crs(WGS84_CRS, settings.metric_crs, always_xy=True)
    to_wgs = Transformer.from_crs(settings.metric_crs, WGS84_CRS, always_xy=True)
    towns = pd.DataFrame(region.townships.drop(columns="geometry"))
    towns["x"], towns["y"] = to_metric.transform(towns["lon"].to_numpy(), towns["lat"].to_numpy())
    villages = pd.DataFrame(region.villages.drop(columns="geometry"))
    vx, vy = to_metric.transform(villages["lon"].to_numpy(), villages["lat"].to_numpy())
    villages["x"], villages["y"] = vx, vy
    ctx = _Ctx(
        region=region,
        rng=np.random.default_rng([seed, int(spec_code)]),
        to_metric=to_metric,
        to_wgs=to_wgs,
        towns=towns,
        areas=region.township_areas.to_crs(settings.metric_crs).geometry,
        counties=region.counties.to_crs(settings.metric_crs).geometry,
        villages=villages,
    )
    _named(ctx, spec)
    for i, group in enumerate(spec.get("groups", [])):
        where = f"regions.{spec_code}.groups[{i}] ({group['kind']})"
        if "per_unit" in group:
            _per_unit(ctx, group)
            continue
        first = len(ctx.rows)
        total = _group_count(ctx, group, where)
        counts = (
            _split_counties(ctx, total, str(group["allocate"]))
            if "allocate" in group
            else ({region.counties.index[0]: total} if len(region.counties) == 1 else None)
        )
        if counts is None:
            msg = f"{_SPEC_FILE}: {where} needs allocate for a region of several counties"
            raise DataError(msg)
        if group.get("place") == "village":
            _village_group(ctx, group, counts)
        elif group["kind"] == "hospital":
            _hospital_group(ctx, group, counts, where)
        else:
            _institution_group(ctx, group, counts, where=where)
        _beds(ctx, group, first, where)
    return pd.DataFrame(ctx.rows)


def registry_for(
    region: Region | str,
    *,
    seed: int | None = None,
) -> gpd.GeoDataFrame:
    """The modelled facility registry of a built-in region (every row ``source="modelled"``).

    Parameters
    ----------
    region
        A :class:`~siting.regions.Region` or a name/code for :func:`siting.regions.load`.
    seed
        Seed; default :data:`siting.settings.default_seed`. The same seed gives the same registry.

    Examples
    --------
    >>> import siting
    >>> reg = siting.modelled.registry_for("xuanhan")
    >>> int((reg["kind"] == "day_care").sum())
    83
    """
    seed = settings.seed_or_default(seed)
    if not isinstance(region, Region):
        region = load_region(region, seed=seed)
    found = spec_for(region)
    if found is None:
        msg = (
            f"no modelled-registry spec covers {region.name} ({region.code}) in {_SPEC_FILE}; "
            "bring your own registry (siting.registry.read) or add a spec"
        )
        raise DataError(msg)
    from siting import _cache

    key = (_cache.object_hash(region), seed, str(settings.metric_crs))
    return _cache.cached("modelled_registry", key, lambda: _registry(region, found, seed))


def _registry(region: Region, found: tuple[str, Any], seed: int) -> gpd.GeoDataFrame:
    """The modelled registry of ``region`` from its spec (see :func:`registry_for`), built."""
    spec_code, spec = found
    full = region if spec_code == region.code else load_region(spec_code, seed=region.seed)
    rows = _generate(full, spec_code, spec, seed)
    lon, lat = Transformer.from_crs(settings.metric_crs, WGS84_CRS, always_xy=True).transform(
        rows["x"].to_numpy(), rows["y"].to_numpy()
    )
    rows["lon"], rows["lat"] = np.round(lon, 6), np.round(lat, 6)
    rows = rows[rows["county_code"].isin(region.counties.index)].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "name": rows["name"],
            "kind": rows["kind"],
            "lon": rows["lon"].astype("float64"),
            "lat": rows["lat"].astype("float64"),
            "crs": "wgs84",
            "county_code": rows["county_code"],
            "township_code": rows["township_code"],
            "village_code": rows["village_code"],
            "beds": rows["beds"],
            "capacity": None,
            "ownership": rows["ownership"],
            "level": rows["level"],
            "source": "modelled",
            "location": rows["location"],
            "address": None,
            "note": rows["note"],
        }
    )
    return registry.from_frame(frame)


def build(
    region: Region | str,
    *,
    out: str | os.PathLike[str] | None = None,
    seed: int | None = None,
) -> Path:
    """Build a region's GeoPackage: its modelled registry and its region layers.

    Writes ``data/geo/<region>.gpkg`` (or ``out``) atomically, with layers ``facilities``
    (the modelled registry), ``counties``, ``townships``, ``township_areas`` and ``villages``.
    The same seed gives a byte-identical file.

    Examples
    --------
    >>> import siting
    >>> path = siting.modelled.build("xuanhan", out="/tmp/xuanhan.gpkg")
    >>> path.name
    'xuanhan.gpkg'
    """
    seed = settings.seed_or_default(seed)
    if not isinstance(region, Region):
        region = load_region(region, seed=seed)
    target = Path(out) if out is not None else data_dir() / f"{region.slug}.gpkg"
    facilities = registry_for(region, seed=seed)
    layers = {
        "counties": region.counties.reset_index(),
        "townships": region.townships.reset_index(),
        "township_areas": region.township_areas.reset_index(),
        "villages": region.villages.reset_index(),
    }
    return registry.write(facilities, target, extra_layers=layers)
