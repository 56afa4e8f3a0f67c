"""What the layout modules share: the vocabulary of a spec (element types, rules, location
qualities, keys), the issues of a spec (a :class:`siting._issues.Problems` of
:class:`LayoutIssue`), :class:`Layout`, and the building context.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from siting._errors import Issue, LayoutError
from siting._issues import Problems
from siting.regions import Region

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


def _spec_problems(file: str) -> Problems:
    """The collector of the problems of one spec: :class:`LayoutIssue` items, a
    :class:`~siting.layout.LayoutError` from ``raise_if_any``."""

    def error(items: list[Issue]) -> LayoutError:
        return LayoutError(items, file=file)

    return Problems(file, issue=LayoutIssue, error=error)


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
    issues: Problems
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
    issues: Problems,
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
