"""Planned spatial structures (一核、两翼、两带、三区、多点) as geometry, from a declarative spec.

A plan such as 南府办发〔2020〕20号 (section 四、空间布局) describes its layout in words: a
core made of the urban districts, wings around named scenic areas, belts radiating from two
care centres, zones around hospitals and lakes, and many points. This module turns a YAML (or
dict) *spec* of such a layout into a GeoDataFrame of elements, so that facilities can be tagged
with the elements they lie in and every element summarised. The rules are data: a planner moves an
anchor, adds a point or writes a spec for another place without touching code.

Specs
-----
A spec names its region (``region: "511300"``), a mapping of named ``anchors`` (places) and a
list of ``elements``. The full schema, with examples, is in ``siting/layouts/README.md``; the
shipped specs are listed by :func:`available`.

*Anchors* are points, given either by explicit ``lon``/``lat`` (WGS84) or as an admin seat:
``county: 西充县`` (the county seat: its first 街道 with a reference point, else its first
township seat) or ``township: 天宫镇`` (with ``county`` when the name is not unique). Every
anchor carries a ``location_quality``, from best to worst:

``surveyed``
    measured on the ground (GPS) or taken from a surveyed plan;
``reference``
    a township seat point from the reference tables (``townships_2023.csv``);
``approximate``
    roughly known (a named place placed from general knowledge, a facility stood in for by its
    township seat, or an imputed township seat); the spec must say where it comes from
    (``note``);
``unknown``
    the place is named by the plan but cannot be placed: the anchor stands at a county or
    township seat as a placeholder, and the spec says so (``note``).

An explicit ``lon``/``lat`` must declare its ``location``; a seat anchor gets the quality of the
seat (``reference``, or ``approximate`` when the seat is imputed) unless the spec declares a worse
one (a facility whose only known location is its county is ``unknown``).

*Elements* have an ``id``, a Chinese ``name``, an optional ``name_en``, a ``type`` (``core``,
``wing``, ``belt``, ``zone`` or ``point``) and a ``rule``:

``admin``
    union of administrative units (``members``): whole counties (real polygons), or townships by
    name or by type (``town_type: 街道``) as their modelled areas (Voronoi cells of the seats);
``corridor``
    a LineString through ``anchors`` in order (or several, ``paths``), buffered to a total width
    of ``width_km`` (half each side);
``buffer``
    discs of ``radius_km`` around each of the ``anchors``;
``polygon``
    explicit ``coordinates`` (a ring of ``[lon, lat]``, WGS84), with their ``location`` quality.

Any element may be restricted to admin units (``within``), and is clipped to the region outline
(``clip: false`` to keep what lies outside). Elements may overlap. Buffers are computed in the
metric CRS (:data:`siting.settings.metric_crs`).

Every element carries ``location_quality`` (the worst of its anchors'; ``reference`` for admin
and ``polygon`` elements unless declared), ``modelled`` (``True`` when the geometry is drawn by a
rule here, not taken from a boundary or an outline: buffers, corridors and modelled township
areas) and a ``location_note`` listing the approximate and unknown anchors with their notes, so
maps and reports can show it.

Examples
--------
>>> from siting import layout
>>> plan = layout.load("nanchong")
>>> sorted(plan.elements["element_type"].unique())
['belt', 'core', 'point', 'wing', 'zone']
>>> plan.elements.loc["core", "location_quality"]
'reference'
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from siting import registry, settings
from siting._errors import Issue, LayoutError
from siting.regions import Region
from siting.regions import load as load_region
from siting.regions import resolve as resolve_region

__all__ = [
    "ELEMENT_TYPES",
    "LOCATION_QUALITIES",
    "RULES",
    "Layout",
    "LayoutError",
    "LayoutIssue",
    "available",
    "load",
    "load_spec",
    "spec_path",
    "summary",
    "tag",
    "tag_joined",
]

WGS84_CRS: Final = "EPSG:4326"

#: Element types of the 一核、两翼、两带、三区、多点 layout.
ELEMENT_TYPES: Final[tuple[str, ...]] = ("core", "wing", "belt", "zone", "point")
#: Geometry rules of an element.
RULES: Final[tuple[str, ...]] = ("admin", "corridor", "buffer", "polygon")
#: Location qualities, best first.
LOCATION_QUALITIES: Final[tuple[str, ...]] = ("surveyed", "reference", "approximate", "unknown")
#: Widths and radii accepted (km): above this a value is taken for a typo (metres for km).
MAX_KM: Final = 200.0
#: Township types accepted in ``town_type``.
TOWN_TYPES: Final[tuple[str, ...]] = ("镇", "乡", "街道")

_TOP_KEYS: Final = (
    "name",
    "title",
    "title_en",
    "region",
    "source_document",
    "description",
    "anchors",
    "elements",
)
_ANCHOR_KEYS: Final = (
    "id",
    "name",
    "name_en",
    "lon",
    "lat",
    "county",
    "township",
    "location",
    "note",
)
_COMMON_KEYS: Final = (
    "id",
    "name",
    "name_en",
    "type",
    "rule",
    "note",
    "functions",
    "within",
    "clip",
    "location",
)
_RULE_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "admin": ("members",),
    "corridor": ("anchors", "paths", "width_km"),
    "buffer": ("anchors", "radius_km"),
    "polygon": ("coordinates",),
}
_MEMBER_KEYS: Final = ("county", "townships", "town_type")
_LAYOUTS: Final = "layouts"


# ---------------------------------------------------------------------------------------------
# errors


@dataclass(frozen=True)
class LayoutIssue(Issue):
    """One problem of a layout spec: the file, the element or anchor, the key and the reason.

    ``column`` holds the key path as well (``"members[0].county"``) so that code handling any
    :class:`~siting.Issue` finds it.
    """

    element: str | None = None
    anchor: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.element is not None:
            where += f", element {self.element!r}"
        if self.anchor is not None:
            where += f", anchor {self.anchor!r}"
        if self.key:
            where += f", key {self.key!r}"
        return f"{where}: {self.reason}"


class _Issues:
    """Collects the problems of one spec."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[LayoutIssue] = []

    def add(
        self,
        reason: str,
        *,
        element: str | None = None,
        anchor: str | None = None,
        key: str | None = None,
    ) -> None:
        self.items.append(
            LayoutIssue(
                file=self.file,
                row=None,
                column=key,
                reason=reason,
                element=element,
                anchor=anchor,
                key=key,
            )
        )

    def raise_if_any(self) -> None:
        if self.items:
            raise LayoutError(self.items, file=self.file)


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


# ---------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True, eq=False)
class Layout:
    """A planned layout as geometry.

    Attributes
    ----------
    name
        The spec's name (``"nanchong"``).
    region_code
        Code of the region the spec is for (``"511300"``).
    title
        The spec's title (Chinese).
    elements
        One row per element (index: ``element_id``): ``element_id``, ``name``, ``name_en``,
        ``element_type``, ``rule``, ``anchors`` (anchor ids joined by ``;``), ``width_km``,
        ``radius_km``, ``location_quality``, ``modelled``, ``location_note``, ``functions``,
        ``note``, ``area_km2`` and the geometry (EPSG:4326). Elements may overlap.
    anchors
        One row per anchor (index: ``anchor_id``): ``anchor_id``, ``name``, ``name_en``, ``kind``
        (``lonlat``, ``county_seat``, ``township_seat``), ``county_code``, ``township_code``,
        ``location_quality``, ``note``, ``lon``, ``lat`` and the point (EPSG:4326).
    source
        The spec file, or ``None`` for a spec given as a mapping.
    """

    name: str
    region_code: str
    title: str
    elements: gpd.GeoDataFrame
    anchors: gpd.GeoDataFrame
    source: Path | None

    def __repr__(self) -> str:
        counts = self.elements["element_type"].value_counts()
        parts = ", ".join(f"{counts[t]} {t}" for t in ELEMENT_TYPES if t in counts)
        return f"Layout({self.name!r}, region {self.region_code}, {parts})"


# ---------------------------------------------------------------------------------------------
# finding and reading specs


def _layouts_dir() -> Path:
    return Path(str(resources.files("siting") / _LAYOUTS))


def available() -> list[str]:
    """Names of the layout specs shipped in ``siting/layouts/``.

    Examples
    --------
    >>> from siting import layout
    >>> layout.available()
    ['nanchong', 'xuanhan']
    """
    folder = _layouts_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml"))


def spec_path(spec: str | os.PathLike[str]) -> Path:
    """The file of a layout spec: a shipped spec's name (``"nanchong"``) or a path, as given.

    Copy a shipped spec from here to write one for another place.

    Raises
    ------
    LayoutError
        When no shipped spec has that name.

    Examples
    --------
    >>> from siting import layout
    >>> layout.spec_path("nanchong").name
    'nanchong.yaml'
    """
    text = os.fspath(spec)
    looks_like_path = (
        isinstance(spec, os.PathLike)
        or os.sep in text
        or "/" in text
        or text.endswith((".yaml", ".yml"))
    )
    if looks_like_path:
        return Path(text)
    path = _layouts_dir() / f"{text}.yaml"
    if not path.is_file():
        issues = _Issues(f"siting/layouts/{text}.yaml")
        names = available()
        issues.add(
            f"no layout spec named {text!r}{_suggest(text, names)} "
            f"Available: {', '.join(names) or 'none'}; or give the path of a YAML file"
        )
        issues.raise_if_any()
    return path


def load(
    spec: str | os.PathLike[str] = "nanchong",
    region: Region | None = None,
) -> Layout:
    """Load a layout spec (YAML) into geometry.

    Parameters
    ----------
    spec
        The name of a shipped spec (see :func:`available`) or the path of a YAML file.
    region
        The region the spec is for; loaded from the spec's ``region`` code when ``None``. A
        region with another code is refused.

    Returns
    -------
    Layout
        Elements and anchors as GeoDataFrames in EPSG:4326.

    Raises
    ------
    LayoutError
        When the file cannot be read or the spec is invalid: every problem is listed with the
        file, the element or anchor, the key and the reason.

    Examples
    --------
    >>> from siting import layout
    >>> plan = layout.load("nanchong")
    >>> plan.elements.loc["belt_west", ["element_type", "rule", "location_quality"]].tolist()
    ['belt', 'corridor', 'unknown']
    """
    path = spec_path(spec)
    file = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        issues = _Issues(file)
        issues.add(f"cannot read the file: {exc}")
        issues.raise_if_any()
        raise  # pragma: no cover - raise_if_any raised
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        issues = _Issues(file)
        issues.add(f"not valid YAML: {exc}")
        issues.raise_if_any()
        raise  # pragma: no cover
    return _build(mapping, region, file=file, source=path.resolve())


def _display(path: Path) -> str:
    try:
        return f"siting/layouts/{path.resolve().relative_to(_layouts_dir().resolve())}"
    except ValueError:
        return str(path)


def load_spec(
    mapping: Mapping[str, Any],
    region: Region | None = None,
    *,
    file: str = "<spec>",
) -> Layout:
    """Build a layout from a spec given as a mapping (e.g. a YAML file read and edited in memory).

    Parameters
    ----------
    mapping
        The spec, as :func:`yaml.safe_load` gives it for a spec file.
    region
        The region; loaded from the spec's ``region`` when ``None``.
    file
        Name shown in error messages.

    Returns
    -------
    Layout
        With ``source=None``.

    Examples
    --------
    Move an anchor and add a point without touching the file:

    >>> import yaml
    >>> from siting import layout
    >>> spec = yaml.safe_load(layout.spec_path("xuanhan").read_text(encoding="utf-8"))
    >>> spec["elements"].append({"id": "point_new", "name": "新点", "type": "point",
    ...     "rule": "buffer", "radius_km": 2,
    ...     "anchors": [{"lon": 107.80, "lat": 31.40, "location": "approximate",
    ...                  "note": "planner's sketch"}]})
    >>> plan = layout.load_spec(spec)
    >>> plan.elements.loc["point_new", "location_quality"]
    'approximate'
    """
    return _build(mapping, region, file=file, source=None)


# ---------------------------------------------------------------------------------------------
# building


@dataclass
class _Anchor:
    anchor_id: str
    name: str
    name_en: str
    kind: str
    county_code: str | None
    township_code: str | None
    quality: str
    note: str
    lon: float
    lat: float


@dataclass
class _Ctx:
    region: Region
    issues: _Issues
    to_metric: Transformer
    to_wgs: Transformer
    counties_m: gpd.GeoSeries
    areas_m: gpd.GeoSeries
    outline_m: BaseGeometry


def _worst(qualities: Iterable[str]) -> str:
    ranks = [LOCATION_QUALITIES.index(q) for q in qualities if q in LOCATION_QUALITIES]
    return LOCATION_QUALITIES[max(ranks)] if ranks else "reference"


def _as_str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _check_keys(
    item: Mapping[str, Any],
    allowed: Sequence[str],
    issues: _Issues,
    *,
    prefix: str = "",
    element: str | None = None,
    anchor: str | None = None,
) -> None:
    for key in item:
        if key not in allowed:
            issues.add(
                f"unknown key {key!r}{_suggest(str(key), allowed)} Accepted: {', '.join(allowed)}",
                element=element,
                anchor=anchor,
                key=f"{prefix}{key}",
            )


def _build(
    mapping: Any,
    region: Region | None,
    *,
    file: str,
    source: Path | None,
) -> Layout:
    issues = _Issues(file)
    if not isinstance(mapping, Mapping):
        issues.add(f"a layout spec must be a mapping, not {type(mapping).__name__}")
        issues.raise_if_any()
    _check_keys(mapping, _TOP_KEYS, issues)
    name = _as_str(mapping.get("name")) or (source.stem if source is not None else "")
    if not name:
        issues.add("missing: the spec's name", key="name")
    region = _spec_region(mapping, region, issues)
    elements_raw = mapping.get("elements")
    if not isinstance(elements_raw, list) or not elements_raw:
        issues.add("missing or empty: a list of elements", key="elements")
    issues.raise_if_any()
    assert region is not None  # for mypy: _spec_region adds an issue when it is None

    ctx = _context(region, issues)
    anchors = _top_anchors(mapping.get("anchors"), ctx)
    rows = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(elements_raw):
        row = _element(raw, i, anchors, seen, ctx)
        if row is not None:
            rows.append(row)
    issues.raise_if_any()

    used = [a for a in anchors.values() if a is not None]
    elements = _elements_frame(rows, ctx)
    return Layout(
        name=name,
        region_code=region.code,
        title=_as_str(mapping.get("title")) or name,
        elements=elements,
        anchors=_anchors_frame(used),
        source=source,
    )


def _spec_region(
    mapping: Mapping[str, Any], region: Region | None, issues: _Issues
) -> Region | None:
    declared = mapping.get("region")
    if declared is None or _as_str(declared) == "":
        issues.add("missing: the code or name of the region the spec is for", key="region")
        return region
    try:
        code = resolve_region(_as_str(declared))
    except LookupError as exc:
        issues.add(str(exc), key="region")
        return region
    if region is None:
        return load_region(code)
    if region.code != code:
        issues.add(
            f"the spec is for region {code} but region {region.code} {region.name} was given",
            key="region",
        )
    return region


def _context(region: Region, issues: _Issues) -> _Ctx:
    metric = settings.metric_crs
    counties_m = region.counties.geometry.to_crs(metric)
    areas_m = region.township_areas.geometry.to_crs(metric)
    outline_m = gpd.GeoSeries([region.outline], crs=WGS84_CRS).to_crs(metric).iloc[0]
    return _Ctx(
        region=region,
        issues=issues,
        to_metric=Transformer.from_crs(WGS84_CRS, metric, always_xy=True),
        to_wgs=Transformer.from_crs(metric, WGS84_CRS, always_xy=True),
        counties_m=counties_m,
        areas_m=areas_m,
        outline_m=outline_m,
    )


# --- admin units -----------------------------------------------------------------------------


def _county(
    value: Any, ctx: _Ctx, *, element: str | None, anchor: str | None, key: str
) -> str | None:
    text = _as_str(value)
    counties = ctx.region.counties
    if text in counties.index:
        return text
    names = counties["name"].astype(str)
    short = names.str.replace(r"(市|区|县|自治县)$", "", regex=True)
    hit = counties.index[(names == text) | (short == text)]
    if len(hit) == 1:
        return str(hit[0])
    ctx.issues.add(
        f"unknown county {text!r} in {ctx.region.name}{_suggest(text, names.tolist())} "
        f"Known: {', '.join(f'{c} {n}' for c, n in names.items())}",
        element=element,
        anchor=anchor,
        key=key,
    )
    return None


def _townships(
    value: Any,
    county: str | None,
    ctx: _Ctx,
    *,
    element: str | None,
    anchor: str | None,
    key: str,
) -> list[str]:
    towns = ctx.region.townships
    if county is not None:
        towns = towns[towns["county_code"] == county]
    names = towns["name"].astype(str)
    values = value if isinstance(value, list) else [value]
    codes = []
    for j, v in enumerate(values):
        where = f"{key}[{j}]" if isinstance(value, list) else key
        text = _as_str(v)
        hit = towns.index[(names == text) | (towns.index == text)]
        if len(hit) == 0:
            hit = towns.index[names.str.replace(r"(镇|乡|街道)$", "", regex=True) == text]
        if len(hit) == 1:
            codes.append(str(hit[0]))
            continue
        if len(hit) > 1:
            where_names = ", ".join(
                f"{c} {ctx.region.counties.at[towns.at[c, 'county_code'], 'name']}" for c in hit
            )
            reason = f"township {text!r} is ambiguous ({where_names}); add county: to choose"
        else:
            scope = (
                ctx.region.counties.at[county, "name"] if county is not None else ctx.region.name
            )
            reason = f"unknown township {text!r} in {scope}{_suggest(text, names.tolist())}"
        ctx.issues.add(reason, element=element, anchor=anchor, key=where)
    return codes


def _members(
    raw: Any, ctx: _Ctx, *, element: str, key: str
) -> tuple[BaseGeometry | None, bool, list[str]]:
    """Union of admin members (metric), whether modelled township areas are used, labels."""
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        ctx.issues.add(
            "must be a list of admin units, e.g. "
            "[{county: 顺庆区}, {county: 高坪区, town_type: 街道}]",
            element=element,
            key=key,
        )
        return None, False, []
    geoms: list[BaseGeometry] = []
    modelled = False
    labels: list[str] = []
    n_before = len(ctx.issues.items)
    for j, member in enumerate(raw):
        where = f"{key}[{j}]"
        if not isinstance(member, Mapping):
            ctx.issues.add(
                "an admin unit must be a mapping with county, townships or town_type",
                element=element,
                key=where,
            )
            continue
        _check_keys(member, _MEMBER_KEYS, ctx.issues, prefix=f"{where}.", element=element)
        county = None
        if "county" in member:
            county = _county(
                member["county"], ctx, element=element, anchor=None, key=f"{where}.county"
            )
            if county is None:
                continue
        if "townships" in member:
            codes = _townships(
                member["townships"],
                county,
                ctx,
                element=element,
                anchor=None,
                key=f"{where}.townships",
            )
            if "town_type" in member:
                ctx.issues.add(
                    "give townships or town_type, not both",
                    element=element,
                    key=f"{where}.town_type",
                )
            geoms.extend(ctx.areas_m.loc[codes].tolist())
            labels.extend(str(ctx.region.townships.at[c, "name"]) for c in codes)
            modelled = True
        elif "town_type" in member:
            types = (
                member["town_type"]
                if isinstance(member["town_type"], list)
                else [member["town_type"]]
            )
            bad = [t for t in types if t not in TOWN_TYPES]
            if bad:
                ctx.issues.add(
                    f"unknown town_type {bad[0]!r}; accepted: {', '.join(TOWN_TYPES)}",
                    element=element,
                    key=f"{where}.town_type",
                )
                continue
            towns = ctx.region.townships
            sel = towns["town_type"].isin(types)
            if county is not None:
                sel &= towns["county_code"] == county
            codes = towns.index[sel].tolist()
            if not codes:
                ctx.issues.add(
                    f"no township of type {'/'.join(types)} there",
                    element=element,
                    key=f"{where}.town_type",
                )
                continue
            geoms.extend(ctx.areas_m.loc[codes].tolist())
            scope = ctx.region.counties.at[county, "name"] if county is not None else ""
            labels.append(f"{scope}{'/'.join(types)}")
            modelled = True
        elif county is not None:
            geoms.append(ctx.counties_m.loc[county])
            labels.append(str(ctx.region.counties.at[county, "name"]))
        else:
            ctx.issues.add(
                "an admin unit needs county, townships or both", element=element, key=where
            )
    if len(ctx.issues.items) > n_before or not geoms:
        return None, modelled, labels
    return shapely.union_all(geoms), modelled, labels


# --- anchors ---------------------------------------------------------------------------------


def _number(
    value: Any, ctx: _Ctx, *, element: str | None, anchor: str | None, key: str
) -> float | None:
    if isinstance(value, bool) or value is None:
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number):
        ctx.issues.add(f"{value!r} is not a number", element=element, anchor=anchor, key=key)
        return None
    return number


def _county_seat(county: str, ctx: _Ctx) -> str:
    towns = ctx.region.townships
    towns = towns[towns["county_code"] == county]
    order = pd.DataFrame(
        {
            "street": (towns["town_type"] != "街道").astype(int),
            "imputed": (towns["coord_quality"] != "reference").astype(int),
            "code": towns.index,
        },
        index=towns.index,
    ).sort_values(["street", "imputed", "code"])
    return str(order.index[0])


def _anchor(
    raw: Any,
    anchor_id: str,
    ctx: _Ctx,
    *,
    element: str | None,
    default_name: str = "",
    default_name_en: str = "",
    prefix: str = "",
) -> _Anchor | None:
    """Resolve one anchor spec; issues are named by element (inline) or anchor id (top level)."""
    who: dict[str, Any] = {"element": element, "anchor": anchor_id}
    if not isinstance(raw, Mapping):
        ctx.issues.add(
            "an anchor must be a mapping with lon/lat or county/township", key=prefix or None, **who
        )
        return None
    n_before = len(ctx.issues.items)
    _check_keys(raw, _ANCHOR_KEYS, ctx.issues, prefix=prefix, **who)
    has_ll = "lon" in raw or "lat" in raw
    has_seat = "county" in raw or "township" in raw
    declared = _as_str(raw.get("location")) or None
    note = _as_str(raw.get("note"))
    if declared is not None and declared not in LOCATION_QUALITIES:
        ctx.issues.add(
            f"unknown location {declared!r}{_suggest(declared, LOCATION_QUALITIES)} "
            f"Accepted: {', '.join(LOCATION_QUALITIES)}",
            key=f"{prefix}location",
            **who,
        )
    if has_ll and has_seat:
        ctx.issues.add(
            "give either lon/lat or county/township (a seat), not both", key=f"{prefix}lon", **who
        )
        return None
    if not has_ll and not has_seat:
        ctx.issues.add(
            "missing coordinates: give lon and lat (WGS84), or county/township for a seat",
            key=f"{prefix}lon",
            **who,
        )
        return None
    county_code: str | None = None
    township_code: str | None = None
    if has_ll:
        for k in ("lon", "lat"):
            if k not in raw:
                ctx.issues.add(f"missing coordinates: {k} is missing", key=f"{prefix}{k}", **who)
        if len(ctx.issues.items) > n_before:
            return None
        lon = _number(raw["lon"], ctx, key=f"{prefix}lon", **who)
        lat = _number(raw["lat"], ctx, key=f"{prefix}lat", **who)
        if lon is None or lat is None:
            return None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            ctx.issues.add(f"lon/lat ({lon}, {lat}) out of range", key=f"{prefix}lon", **who)
            return None
        if declared is None:
            ctx.issues.add(
                "missing location: say how good the coordinates are "
                f"({', '.join(LOCATION_QUALITIES)})",
                key=f"{prefix}location",
                **who,
            )
        kind, quality, derived_note = "lonlat", declared or "unknown", ""
        x, y = ctx.to_metric.transform(lon, lat)
        outside = Point(x, y).distance(ctx.outline_m)
        if outside > settings.outside_region_margin_m:
            ctx.issues.add(
                f"({lon}, {lat}) lies {outside / 1000:.0f} km outside {ctx.region.name} "
                "(lon and lat swapped? not WGS84?)",
                key=f"{prefix}lon",
                **who,
            )
    else:
        if "county" in raw:
            county_code = _county(raw["county"], ctx, key=f"{prefix}county", **who)
            if county_code is None:
                return None
        if "township" in raw:
            codes = _townships(raw["township"], county_code, ctx, key=f"{prefix}township", **who)
            if len(codes) != 1:
                if not codes:
                    return None
                ctx.issues.add("give one township", key=f"{prefix}township", **who)
                return None
            township_code = codes[0]
            county_code = str(ctx.region.townships.at[township_code, "county_code"])
            kind = "township_seat"
        else:
            assert county_code is not None
            township_code = _county_seat(county_code, ctx)
            kind = "county_seat"
        town = ctx.region.townships.loc[township_code]
        lon, lat = float(town["lon"]), float(town["lat"])
        if town["coord_quality"] == "reference":
            seat_quality = "reference"
            derived_note = f"seat of {town['name']} (townships_2023.csv)"
        else:
            seat_quality = "approximate"
            derived_note = f"seat of {town['name']} imputed ({town['impute_rule']})"
        quality = _worst([seat_quality, declared or seat_quality])
    if declared in ("approximate", "unknown") and not note and kind == "lonlat":
        ctx.issues.add(
            f"location {quality!r} needs a note saying where the coordinates come from",
            key=f"{prefix}note",
            **who,
        )
    if declared in ("approximate", "unknown") and kind != "lonlat" and not note:
        ctx.issues.add(
            f"location {declared!r} needs a note saying why the seat stands in for the place",
            key=f"{prefix}note",
            **who,
        )
    if len(ctx.issues.items) > n_before:
        return None
    full_note = "; ".join(n for n in (note, derived_note) if n)
    if kind == "county_seat" and county_code is not None:
        default_name = default_name or f"{ctx.region.counties.at[county_code, 'name']}驻地"
    elif kind == "township_seat" and township_code is not None:
        default_name = default_name or str(ctx.region.townships.at[township_code, "name"])
    return _Anchor(
        anchor_id=anchor_id,
        name=_as_str(raw.get("name")) or default_name or anchor_id,
        name_en=_as_str(raw.get("name_en")) or default_name_en,
        kind=kind,
        county_code=county_code,
        township_code=township_code,
        quality=quality,
        note=full_note,
        lon=lon,
        lat=lat,
    )


def _top_anchors(raw: Any, ctx: _Ctx) -> dict[str, _Anchor | None]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        ctx.issues.add("anchors must be a mapping of anchor id to anchor", key="anchors")
        return {}
    out: dict[str, _Anchor | None] = {}
    for anchor_id, spec in raw.items():
        out[str(anchor_id)] = _anchor(spec, str(anchor_id), ctx, element=None)
    return out


def _element_anchors(
    raw: Any,
    key: str,
    element: str,
    name: str,
    name_en: str,
    anchors: dict[str, _Anchor | None],
    ctx: _Ctx,
) -> list[_Anchor] | None:
    if not isinstance(raw, list) or not raw:
        ctx.issues.add(
            "must be a non-empty list of anchor ids or inline anchors", element=element, key=key
        )
        return None
    found: list[_Anchor] = []
    ok = True
    for j, item in enumerate(raw):
        where = f"{key}[{j}]"
        if isinstance(item, Mapping):
            inline_id = _as_str(item.get("id")) or (
                element if len(raw) == 1 else f"{element}_{j + 1}"
            )
            if inline_id in anchors:
                ctx.issues.add(
                    f"duplicate anchor id {inline_id!r}", element=element, key=f"{where}.id"
                )
                ok = False
                continue
            anchor = _anchor(
                item,
                inline_id,
                ctx,
                element=element,
                default_name=name,
                default_name_en=name_en,
                prefix=f"{where}.",
            )
            anchors[inline_id] = anchor
            if anchor is None:
                ok = False
            else:
                found.append(anchor)
            continue
        anchor_id = _as_str(item)
        if anchor_id not in anchors:
            ctx.issues.add(
                f"unknown anchor {anchor_id!r}{_suggest(anchor_id, anchors)} "
                "(define it under anchors:, or give it inline)",
                element=element,
                key=where,
            )
            ok = False
            continue
        resolved = anchors[anchor_id]
        if resolved is None:  # its own problem is already reported
            ok = False
            continue
        found.append(resolved)
    return found if ok else None


# --- elements --------------------------------------------------------------------------------


def _km(raw: Mapping[str, Any], key: str, element: str, ctx: _Ctx) -> float | None:
    if key not in raw:
        ctx.issues.add(f"missing {key} (km)", element=element, key=key)
        return None
    value = raw[key]
    number = _number(value, ctx, element=element, anchor=None, key=key)
    if number is None:
        return None
    if not 0 < number <= MAX_KM:
        ctx.issues.add(
            f"bad {key}: {value!r}; must be a number of km, more than 0 and at most {MAX_KM:g}",
            element=element,
            key=key,
        )
        return None
    return number


def _xy(anchor: _Anchor, ctx: _Ctx) -> tuple[float, float]:
    x, y = ctx.to_metric.transform(anchor.lon, anchor.lat)
    return float(x), float(y)


def _element(
    raw: Any,
    i: int,
    anchors: dict[str, _Anchor | None],
    seen: dict[str, int],
    ctx: _Ctx,
) -> dict[str, Any] | None:
    issues = ctx.issues
    if not isinstance(raw, Mapping):
        issues.add("an element must be a mapping", key=f"elements[{i}]")
        return None
    element_id = _as_str(raw.get("id"))
    if not element_id:
        issues.add("missing id", element=f"elements[{i}]", key="id")
        return None
    n_before = len(issues.items)
    if element_id in seen:
        issues.add(
            f"duplicate id {element_id!r} (elements[{seen[element_id]}] and elements[{i}])",
            element=element_id,
            key="id",
        )
    else:
        seen[element_id] = i
    name = _as_str(raw.get("name"))
    name_en = _as_str(raw.get("name_en"))
    if not name:
        issues.add("missing name (Chinese)", element=element_id, key="name")
    element_type = _as_str(raw.get("type"))
    if element_type not in ELEMENT_TYPES:
        issues.add(
            f"{'unknown' if element_type else 'missing'} type {element_type!r}"
            f"{_suggest(element_type, ELEMENT_TYPES)} Accepted: {', '.join(ELEMENT_TYPES)}",
            element=element_id,
            key="type",
        )
    rule = _as_str(raw.get("rule"))
    if rule not in RULES:
        issues.add(
            f"{'unknown' if rule else 'missing'} rule {rule!r}{_suggest(rule, RULES)} "
            f"Accepted: {', '.join(RULES)}",
            element=element_id,
            key="rule",
        )
        return None
    _check_keys(raw, _COMMON_KEYS + _RULE_KEYS[rule], issues, element=element_id)
    declared = _as_str(raw.get("location")) or None
    if declared is not None and declared not in LOCATION_QUALITIES:
        issues.add(
            f"unknown location {declared!r}; accepted: {', '.join(LOCATION_QUALITIES)}",
            element=element_id,
            key="location",
        )

    geom: BaseGeometry | None = None
    modelled = False
    used: list[_Anchor] = []
    width = radius = math.nan
    labels: list[str] = []
    quality_notes: list[str] = []
    if rule == "admin":
        geom, modelled, labels = _members(
            raw.get("members"), ctx, element=element_id, key="members"
        )
    elif rule == "buffer":
        found = _element_anchors(
            raw.get("anchors"), "anchors", element_id, name, name_en, anchors, ctx
        )
        r = _km(raw, "radius_km", element_id, ctx)
        if found is not None and r is not None:
            used, radius, modelled = found, r, True
            geom = shapely.union_all([Point(_xy(a, ctx)).buffer(r * 1000.0) for a in found])
    elif rule == "corridor":
        paths_raw: Any = [raw.get("anchors")]
        keys = ["anchors"]
        if "paths" in raw:
            paths_raw = raw["paths"]
            if "anchors" in raw:
                issues.add(
                    "give anchors (one path) or paths, not both", element=element_id, key="paths"
                )
                paths_raw = []
            elif not isinstance(paths_raw, list) or not paths_raw:
                issues.add(
                    "paths must be a list of lists of anchors", element=element_id, key="paths"
                )
                paths_raw = []
            keys = [f"paths[{j}]" for j in range(len(paths_raw))]
        w = _km(raw, "width_km", element_id, ctx)
        lines = []
        for path, key in zip(paths_raw, keys, strict=True):
            found = _element_anchors(path, key, element_id, name, name_en, anchors, ctx)
            if found is None:
                continue
            pts = [_xy(a, ctx) for a in found]
            distinct = {(round(x), round(y)) for x, y in pts}
            if len(found) < 2 or len(distinct) < 2:
                issues.add(
                    "a corridor needs at least two anchors at different places",
                    element=element_id,
                    key=key,
                )
                continue
            used.extend(a for a in found if a not in used)
            lines.append(LineString(pts))
        if w is not None and lines and len(lines) == len(paths_raw):
            width, modelled = w, True
            geom = shapely.union_all([line.buffer(w * 500.0) for line in lines])
    else:  # polygon
        geom = _polygon(raw.get("coordinates"), element_id, ctx)
        if declared is None:
            issues.add(
                "missing location: say how good the coordinates are "
                f"({', '.join(LOCATION_QUALITIES)})",
                element=element_id,
                key="location",
            )
        elif declared in ("approximate", "unknown") and not _as_str(raw.get("note")):
            issues.add(
                f"location {declared!r} needs a note saying where the outline comes from",
                element=element_id,
                key="note",
            )

    uses_areas = rule == "admin" and modelled
    if "within" in raw:
        inside, within_modelled, _ = _members(raw["within"], ctx, element=element_id, key="within")
        if inside is not None and geom is not None:
            geom = geom.intersection(inside)
            modelled = modelled or within_modelled
            uses_areas = uses_areas or within_modelled
            if geom.is_empty:
                issues.add(
                    "the geometry is empty: it does not meet the units of within",
                    element=element_id,
                    key="within",
                )
    clip = raw.get("clip", True)
    if not isinstance(clip, bool):
        issues.add(f"clip must be true or false, not {clip!r}", element=element_id, key="clip")
        clip = True
    if geom is not None and not geom.is_empty:
        clipped = geom.intersection(ctx.outline_m) if clip else geom
        if clipped.is_empty or clipped.area < 1.0:
            issues.add(
                f"the geometry lies outside {ctx.region.name} (empty after clipping to the region)",
                element=element_id,
                key=_geometry_key(rule),
            )
        geom = clipped
    if len(issues.items) > n_before or geom is None or geom.is_empty:
        return None
    geom = _polygonal(geom, grid=0.01)

    qualities = [a.quality for a in used]
    if declared is not None:
        qualities.append(declared)
    quality = _worst(qualities) if qualities else "reference"
    for a in used:
        if a.quality in ("approximate", "unknown"):
            quality_notes.append(f"{a.name} ({a.anchor_id}): {a.quality} - {a.note}")
    if uses_areas:
        quality_notes.append(
            "township areas are modelled "
            "(Voronoi cells of the township seats clipped to the county)"
        )
    functions = raw.get("functions") or []
    if not isinstance(functions, list):
        functions = [functions]
    return {
        "element_id": element_id,
        "name": name,
        "name_en": name_en,
        "element_type": element_type,
        "rule": rule,
        "anchors": ";".join(a.anchor_id for a in used),
        "members": ";".join(labels),
        "width_km": width,
        "radius_km": radius,
        "location_quality": quality,
        "modelled": modelled,
        "location_note": " | ".join(quality_notes),
        "functions": ";".join(str(f) for f in functions),
        "note": _as_str(raw.get("note")),
        "geometry": geom,
    }


def _polygonal(geom: BaseGeometry, *, grid: float | None = None) -> BaseGeometry:
    """A valid (Multi)Polygon: repaired, only its areal parts, optionally snapped to ``grid``.

    Unions of county polygons and township cells leave slivers and degenerate rings where edges
    almost coincide; snapping to a 1 cm grid in the metric CRS removes them.
    """
    if grid is not None:
        geom = shapely.set_precision(geom, grid)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(parts) if parts else Polygon()
    return geom


def _geometry_key(rule: str) -> str:
    return {"admin": "members", "buffer": "anchors", "corridor": "anchors"}.get(rule, "coordinates")


def _polygon(raw: Any, element: str, ctx: _Ctx) -> BaseGeometry | None:
    ok = isinstance(raw, list) and len(raw) >= 3
    pairs: list[tuple[float, float]] = []
    if ok:
        for pair in raw:
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or any(isinstance(v, bool) or not isinstance(v, int | float) for v in pair)
            ):
                ok = False
                break
            pairs.append((float(pair[0]), float(pair[1])))
    if not ok:
        ctx.issues.add(
            "coordinates must be a list of at least three [lon, lat] pairs (WGS84)",
            element=element,
            key="coordinates",
        )
        return None
    lon, lat = np.array(pairs).T
    x, y = ctx.to_metric.transform(lon, lat)
    poly = Polygon(zip(x, y, strict=True))
    if not poly.is_valid or poly.area < 1.0:
        ctx.issues.add(
            f"the coordinates do not form a valid polygon ({shapely.is_valid_reason(poly)})",
            element=element,
            key="coordinates",
        )
        return None
    return poly


def _elements_frame(rows: list[dict[str, Any]], ctx: _Ctx) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=settings.metric_crs)
    frame["area_km2"] = (frame.geometry.area / 1e6).round(3)
    frame = frame.to_crs(WGS84_CRS)
    frame.geometry = [_polygonal(g) for g in frame.geometry]
    frame.index = pd.Index(frame["element_id"].tolist())
    cols = [c for c in frame.columns if c != "geometry"] + ["geometry"]
    return gpd.GeoDataFrame(frame[cols], geometry="geometry", crs=WGS84_CRS)


def _anchors_frame(anchors: list[_Anchor]) -> gpd.GeoDataFrame:
    rows = [
        {
            "anchor_id": a.anchor_id,
            "name": a.name,
            "name_en": a.name_en,
            "kind": a.kind,
            "county_code": a.county_code,
            "township_code": a.township_code,
            "location_quality": a.quality,
            "note": a.note,
            "lon": round(a.lon, 6),
            "lat": round(a.lat, 6),
        }
        for a in anchors
    ]
    columns = [
        "anchor_id",
        "name",
        "name_en",
        "kind",
        "county_code",
        "township_code",
        "location_quality",
        "note",
        "lon",
        "lat",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    out = gpd.GeoDataFrame(
        frame,
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs=WGS84_CRS,
    )
    out.index = pd.Index(frame["anchor_id"].tolist())
    return out


# ---------------------------------------------------------------------------------------------
# tagging and summaries


def _check_facilities(facilities: Any) -> gpd.GeoDataFrame:
    if not isinstance(facilities, gpd.GeoDataFrame):
        msg = f"facilities must be a GeoDataFrame, not {type(facilities).__name__}"
        raise TypeError(msg)
    if facilities.crs is None:
        msg = "facilities has no CRS; set one (EPSG:4326 for lon/lat) before tagging"
        raise ValueError(msg)
    if not facilities.index.is_unique:
        dup = facilities.index[facilities.index.duplicated()][0]
        msg = f"facilities: the index (facility ids) is not unique, e.g. {dup!r}"
        raise ValueError(msg)
    return facilities


def tag(facilities: gpd.GeoDataFrame, layout: Layout) -> pd.DataFrame:
    """The elements each facility lies in, in long form.

    Parameters
    ----------
    facilities
        A registry (GeoDataFrame indexed by facility id, any CRS).
    layout
        A loaded layout.

    Returns
    -------
    pandas.DataFrame
        Columns ``facility_id`` and ``element_id``, one row per facility and element it lies in
        (on the edge counts as in), in the order of the facilities and then of the elements. A
        facility in no element has no row; one in several has several.

    Examples
    --------
    >>> import siting
    >>> from siting import layout
    >>> plan = layout.load("nanchong")
    >>> reg = siting.modelled.registry_for("nanchong")
    >>> tags = layout.tag(reg, plan)
    >>> tags.columns.tolist()
    ['facility_id', 'element_id']
    """
    facilities = _check_facilities(facilities)
    metric = settings.metric_crs
    points = gpd.GeoDataFrame(
        {"_pos": np.arange(len(facilities))},
        geometry=facilities.geometry.to_crs(metric).to_numpy(),
        crs=metric,
    )
    points = points[points.geometry.notna() & ~points.geometry.is_empty]
    elements = gpd.GeoDataFrame(
        {"_order": np.arange(len(layout.elements))},
        geometry=layout.elements.geometry.to_crs(metric).to_numpy(),
        crs=metric,
    )
    tree = shapely.STRtree(elements.geometry.to_numpy())
    point_idx, element_idx = tree.query(points.geometry.to_numpy(), predicate="intersects")
    pos = points["_pos"].to_numpy()[point_idx]
    order = np.lexsort((element_idx, pos))
    pos, element_idx = pos[order], element_idx[order]
    return pd.DataFrame(
        {
            "facility_id": np.asarray(facilities.index)[pos],
            "element_id": layout.elements["element_id"].to_numpy()[element_idx],
        }
    )


def tag_joined(facilities: gpd.GeoDataFrame, layout: Layout, *, sep: str = ";") -> pd.Series:
    """The elements each facility lies in, joined into one string per facility.

    Parameters
    ----------
    facilities
        A registry (GeoDataFrame indexed by facility id, any CRS).
    layout
        A loaded layout.
    sep
        Separator.

    Returns
    -------
    pandas.Series
        Aligned to ``facilities`` (same index), named ``layout_elements``: element ids in the
        order of the layout (``"core;zone_service"``), ``""`` for a facility in none.

    Examples
    --------
    >>> import siting
    >>> from siting import layout
    >>> reg = siting.modelled.registry_for("nanchong")
    >>> joined = layout.tag_joined(reg, layout.load("nanchong"))
    >>> joined.loc["HOS-511302-00001"].split(";")[0]
    'core'
    """
    long = tag(facilities, layout)
    joined = long.groupby("facility_id", sort=False)["element_id"].agg(sep.join)
    out = joined.reindex(facilities.index, fill_value="")
    out.name = "layout_elements"
    return out


def _require_columns(frame: Any, name: str, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        msg = f"{name} must be a DataFrame, not {type(frame).__name__}"
        raise TypeError(msg)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"{name} lacks column(s) {', '.join(repr(c) for c in missing)}; "
            f"it has {', '.join(map(str, frame.columns))}"
        )
        raise ValueError(msg)
    return frame


def summary(
    layout: Layout,
    facilities: gpd.GeoDataFrame,
    region: Region | None = None,
    pairings: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Facilities, beds and modelled elderly population per element.

    Parameters
    ----------
    layout
        A loaded layout.
    facilities
        A registry (GeoDataFrame indexed by facility id) with ``kind`` and ``beds``.
    region
        The layout's region (for the modelled elderly population); loaded when ``None``.
    pairings
        Optional pairing result with columns ``facility_id`` (the elderly-care facility),
        ``rank`` and ``within_threshold``. A facility counts as paired within the threshold
        when its rank-1 row is within the threshold.
    gaps
        Optional gaps with a column ``facility_id``.

    Returns
    -------
    pandas.DataFrame
        One row per element (index ``element_id``): ``name``, ``name_en``, ``element_type``,
        ``location_quality``, ``modelled``, ``n_facilities``, ``n_<kind>`` for every kind,
        ``beds`` (all beds), ``care_beds`` (beds of elderly-care and integrated kinds),
        ``pop_60plus_modelled`` (modelled population aged 60+ of the village-level units whose
        modelled points lie in the element), ``care_beds_per_1000_60plus_modelled``; with
        ``pairings``: ``n_in_pairings`` and ``share_paired_within_threshold``; with ``gaps``:
        ``gaps``.

    Examples
    --------
    >>> import siting
    >>> from siting import layout
    >>> plan = layout.load("nanchong")
    >>> reg = siting.modelled.registry_for("nanchong")
    >>> table = layout.summary(plan, reg)
    >>> int(table.loc["core", "n_hospital"]) > 0
    True
    """
    facilities = _check_facilities(facilities)
    _require_columns(facilities, "facilities", ["kind", "beds"])
    if pairings is not None:
        _require_columns(pairings, "pairings", ["facility_id", "rank", "within_threshold"])
    if gaps is not None:
        _require_columns(gaps, "gaps", ["facility_id"])
    if region is None:
        region = load_region(layout.region_code)
    elif region.code != layout.region_code:
        msg = f"region {region.code} {region.name} is not the layout's region {layout.region_code}"
        raise ValueError(msg)

    elements = layout.elements
    ids = elements["element_id"].tolist()
    long = tag(facilities, layout)
    kinds = facilities["kind"].astype("string").reindex(long["facility_id"]).to_numpy()
    beds = pd.to_numeric(facilities["beds"], errors="coerce").astype("float64")
    bed_values = beds.reindex(long["facility_id"]).fillna(0.0).to_numpy()
    care = np.isin(kinds.astype(object), list(registry.ELDERLY_CARE_KINDS))
    joined = long.assign(kind=kinds, beds=bed_values, care_beds=np.where(care, bed_values, 0.0))

    out = pd.DataFrame(index=pd.Index(ids, name="element_id"))
    for col in ("name", "name_en", "element_type", "location_quality", "modelled"):
        out[col] = elements[col].to_numpy()
    out["n_facilities"] = joined.groupby("element_id").size().reindex(ids, fill_value=0)
    all_kinds = list(registry.KINDS) + sorted(
        {str(k) for k in facilities["kind"].dropna().unique()} - set(registry.KINDS)
    )
    counts = pd.crosstab(joined["element_id"], joined["kind"]) if len(joined) else pd.DataFrame()
    for kind in all_kinds:
        column = counts[kind] if kind in counts.columns else pd.Series(dtype="int64")
        out[f"n_{kind}"] = column.reindex(ids, fill_value=0).astype("int64")
    sums = joined.groupby("element_id")[["beds", "care_beds"]].sum()
    out["beds"] = sums["beds"].reindex(ids, fill_value=0.0).round().astype("int64")
    out["care_beds"] = sums["care_beds"].reindex(ids, fill_value=0.0).round().astype("int64")

    villages = region.villages
    v_tags = tag(villages[["geometry"]], layout)
    pop = pd.to_numeric(villages["pop_60plus"]).reindex(v_tags["facility_id"]).to_numpy()
    pop_sum = pd.Series(pop, index=v_tags["element_id"].to_numpy()).groupby(level=0).sum()
    out["pop_60plus_modelled"] = pop_sum.reindex(ids, fill_value=0).astype("int64")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (
            out["care_beds"]
            * 1000.0
            / out["pop_60plus_modelled"].where(out["pop_60plus_modelled"] > 0)
        )
    out["care_beds_per_1000_60plus_modelled"] = rate.round(2)

    if pairings is not None:
        first = pairings[pd.to_numeric(pairings["rank"], errors="coerce") == 1]
        ok = (
            first.assign(_ok=first["within_threshold"].eq(True)).groupby("facility_id")["_ok"].any()
        )
        present = set(pairings["facility_id"])
        in_pairs = long[long["facility_id"].isin(present)]
        n = in_pairs.groupby("element_id").size().reindex(ids, fill_value=0)
        paired = (
            in_pairs.assign(ok=ok.reindex(in_pairs["facility_id"], fill_value=False).to_numpy())
            .groupby("element_id")["ok"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        out["n_in_pairings"] = n.astype("int64")
        out["share_paired_within_threshold"] = (paired / n.where(n > 0)).astype("float64").round(4)
    if gaps is not None:
        gap_ids = set(gaps["facility_id"])
        in_gaps = long[long["facility_id"].isin(gap_ids)]
        out["gaps"] = (
            in_gaps.groupby("element_id").size().reindex(ids, fill_value=0).astype("int64")
        )
    return out
