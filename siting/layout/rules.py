"""The geometry of an element: one builder per rule (admin, buffer, corridor, polygon), then
``within`` and clipping to the region.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from siting.layout.admin import _members
from siting.layout.anchors import _element_anchors
from siting.layout.base import (
    _COMMON_KEYS,
    _RULE_KEYS,
    ELEMENT_TYPES,
    LOCATION_QUALITIES,
    MAX_KM,
    RULES,
    _Anchor,
    _as_str,
    _check_keys,
    _Ctx,
    _number,
    _suggest,
    _worst,
)

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


@dataclass
class _Head:
    """The checked common keys of an element."""

    element_id: str
    name: str
    name_en: str
    element_type: str
    rule: str
    declared: str | None


@dataclass
class _Shape:
    """What a rule builds: the metric geometry (None: not built) and how it was drawn."""

    geom: BaseGeometry | None = None
    modelled: bool = False
    used: list[_Anchor] = field(default_factory=list)
    width: float = math.nan
    radius: float = math.nan
    labels: list[str] = field(default_factory=list)


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
    head = _element_head(raw, i, element_id, seen, ctx)
    if head is None:
        return None
    if head.rule == "admin":
        shape = _admin_shape(raw, head, ctx)
    elif head.rule == "buffer":
        shape = _buffer_shape(raw, head, anchors, ctx)
    elif head.rule == "corridor":
        shape = _corridor_shape(raw, head, anchors, ctx)
    else:
        shape = _polygon_shape(raw, head, ctx)
    uses_areas = _within_and_clip(raw, head, shape, ctx)
    if len(issues.items) > n_before or shape.geom is None or shape.geom.is_empty:
        return None
    shape.geom = _polygonal(shape.geom, grid=0.01)
    return _element_row(raw, head, shape, uses_areas=uses_areas)


def _element_head(
    raw: Mapping[str, Any], i: int, element_id: str, seen: dict[str, int], ctx: _Ctx
) -> _Head | None:
    """Check the id, names, type, rule, keys and location of an element (None: no rule)."""
    issues = ctx.issues
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
    return _Head(element_id, name, name_en, element_type, rule, declared)


def _admin_shape(raw: Mapping[str, Any], head: _Head, ctx: _Ctx) -> _Shape:
    """Rule ``admin``: the union of the ``members`` (counties, townships)."""
    geom, modelled, labels = _members(
        raw.get("members"), ctx, element=head.element_id, key="members"
    )
    return _Shape(geom=geom, modelled=modelled, labels=labels)


def _buffer_shape(
    raw: Mapping[str, Any], head: _Head, anchors: dict[str, _Anchor | None], ctx: _Ctx
) -> _Shape:
    """Rule ``buffer``: discs of ``radius_km`` around each of the ``anchors``."""
    found = _element_anchors(
        raw.get("anchors"), "anchors", head.element_id, head.name, head.name_en, anchors, ctx
    )
    r = _km(raw, "radius_km", head.element_id, ctx)
    if found is None or r is None:
        return _Shape()
    geom = shapely.union_all([Point(_xy(a, ctx)).buffer(r * 1000.0) for a in found])
    return _Shape(geom=geom, modelled=True, used=found, radius=r)


def _corridor_shape(
    raw: Mapping[str, Any], head: _Head, anchors: dict[str, _Anchor | None], ctx: _Ctx
) -> _Shape:
    """Rule ``corridor``: lines through the anchors of each path, buffered to ``width_km``."""
    issues, element_id = ctx.issues, head.element_id
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
            issues.add("paths must be a list of lists of anchors", element=element_id, key="paths")
            paths_raw = []
        keys = [f"paths[{j}]" for j in range(len(paths_raw))]
    w = _km(raw, "width_km", element_id, ctx)
    shape = _Shape()
    lines = []
    for path, key in zip(paths_raw, keys, strict=True):
        found = _element_anchors(path, key, element_id, head.name, head.name_en, anchors, ctx)
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
        shape.used.extend(a for a in found if a not in shape.used)
        lines.append(LineString(pts))
    if w is not None and lines and len(lines) == len(paths_raw):
        shape.width, shape.modelled = w, True
        shape.geom = shapely.union_all([line.buffer(w * 500.0) for line in lines])
    return shape


def _polygon_shape(raw: Mapping[str, Any], head: _Head, ctx: _Ctx) -> _Shape:
    """Rule ``polygon``: explicit ``coordinates``, with their declared ``location`` quality."""
    geom = _polygon(raw.get("coordinates"), head.element_id, ctx)
    if head.declared is None:
        ctx.issues.add(
            f"missing location: say how good the coordinates are ({', '.join(LOCATION_QUALITIES)})",
            element=head.element_id,
            key="location",
        )
    elif head.declared in ("approximate", "unknown") and not _as_str(raw.get("note")):
        ctx.issues.add(
            f"location {head.declared!r} needs a note saying where the outline comes from",
            element=head.element_id,
            key="note",
        )
    return _Shape(geom=geom)


def _within_and_clip(raw: Mapping[str, Any], head: _Head, shape: _Shape, ctx: _Ctx) -> bool:
    """Restrict the shape to ``within`` and clip it to the region (``clip``), in place.

    Returns whether the geometry uses the modelled township areas.
    """
    issues, element_id = ctx.issues, head.element_id
    uses_areas = head.rule == "admin" and shape.modelled
    if "within" in raw:
        inside, within_modelled, _ = _members(raw["within"], ctx, element=element_id, key="within")
        if inside is not None and shape.geom is not None:
            shape.geom = shape.geom.intersection(inside)
            shape.modelled = shape.modelled or within_modelled
            uses_areas = uses_areas or within_modelled
            if shape.geom.is_empty:
                issues.add(
                    "the geometry is empty: it does not meet the units of within",
                    element=element_id,
                    key="within",
                )
    clip = raw.get("clip", True)
    if not isinstance(clip, bool):
        issues.add(f"clip must be true or false, not {clip!r}", element=element_id, key="clip")
        clip = True
    if shape.geom is not None and not shape.geom.is_empty:
        clipped = shape.geom.intersection(ctx.outline_m) if clip else shape.geom
        if clipped.is_empty or clipped.area < 1.0:
            issues.add(
                f"the geometry lies outside {ctx.region.name} (empty after clipping to the region)",
                element=element_id,
                key=_geometry_key(head.rule),
            )
        shape.geom = clipped
    return uses_areas


def _element_row(
    raw: Mapping[str, Any], head: _Head, shape: _Shape, *, uses_areas: bool
) -> dict[str, Any]:
    """The row of a built element: its quality from its anchors, notes, functions, geometry."""
    qualities = [a.quality for a in shape.used]
    if head.declared is not None:
        qualities.append(head.declared)
    quality = _worst(qualities) if qualities else "reference"
    quality_notes: list[str] = []
    for a in shape.used:
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
        "element_id": head.element_id,
        "name": head.name,
        "name_en": head.name_en,
        "element_type": head.element_type,
        "rule": head.rule,
        "anchors": ";".join(a.anchor_id for a in shape.used),
        "members": ";".join(shape.labels),
        "width_km": shape.width,
        "radius_km": shape.radius,
        "location_quality": quality,
        "modelled": shape.modelled,
        "location_note": " | ".join(quality_notes),
        "functions": ";".join(str(f) for f in functions),
        "note": _as_str(raw.get("note")),
        "geometry": shape.geom,
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
