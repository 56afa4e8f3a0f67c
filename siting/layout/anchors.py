"""Anchors: points given by ``lon``/``lat`` or as a county or township seat."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from shapely.geometry import Point

from siting import settings
from siting.layout.admin import _county, _townships
from siting.layout.base import (
    _ANCHOR_KEYS,
    LOCATION_QUALITIES,
    _Anchor,
    _as_str,
    _check_keys,
    _Ctx,
    _number,
    _suggest,
    _worst,
)


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


@dataclass
class _Place:
    """Where an anchor stands and how well that is known."""

    kind: str
    lon: float
    lat: float
    quality: str
    derived_note: str = ""
    county_code: str | None = None
    township_code: str | None = None


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
    if has_ll:
        place = _lonlat_place(raw, declared, ctx, n_before=n_before, prefix=prefix, who=who)
    else:
        place = _seat_place(raw, declared, ctx, prefix=prefix, who=who)
    if place is None:
        return None
    _check_note(place.kind, declared, note, place.quality, ctx, prefix=prefix, who=who)
    if len(ctx.issues.items) > n_before:
        return None
    full_note = "; ".join(n for n in (note, place.derived_note) if n)
    if place.kind == "county_seat" and place.county_code is not None:
        default_name = default_name or f"{ctx.region.counties.at[place.county_code, 'name']}驻地"
    elif place.kind == "township_seat" and place.township_code is not None:
        default_name = default_name or str(ctx.region.townships.at[place.township_code, "name"])
    return _Anchor(
        anchor_id=anchor_id,
        name=_as_str(raw.get("name")) or default_name or anchor_id,
        name_en=_as_str(raw.get("name_en")) or default_name_en,
        kind=place.kind,
        county_code=place.county_code,
        township_code=place.township_code,
        quality=place.quality,
        note=full_note,
        lon=place.lon,
        lat=place.lat,
    )


def _lonlat_place(
    raw: Mapping[str, Any],
    declared: str | None,
    ctx: _Ctx,
    *,
    n_before: int,
    prefix: str,
    who: dict[str, Any],
) -> _Place | None:
    """An anchor by explicit ``lon``/``lat``: numbers, in range, near the region, declared."""
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
            f"missing location: say how good the coordinates are ({', '.join(LOCATION_QUALITIES)})",
            key=f"{prefix}location",
            **who,
        )
    x, y = ctx.to_metric.transform(lon, lat)
    outside = Point(x, y).distance(ctx.outline_m)
    if outside > settings.outside_region_margin_m:
        ctx.issues.add(
            f"({lon}, {lat}) lies {outside / 1000:.0f} km outside {ctx.region.name} "
            "(lon and lat swapped? not WGS84?)",
            key=f"{prefix}lon",
            **who,
        )
    return _Place(kind="lonlat", lon=lon, lat=lat, quality=declared or "unknown")


def _seat_place(
    raw: Mapping[str, Any],
    declared: str | None,
    ctx: _Ctx,
    *,
    prefix: str,
    who: dict[str, Any],
) -> _Place | None:
    """An anchor at a county seat (``county``) or a township seat (``township``)."""
    county_code: str | None = None
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
    if town["coord_quality"] == "reference":
        seat_quality = "reference"
        derived_note = f"seat of {town['name']} (townships_2023.csv)"
    else:
        seat_quality = "approximate"
        derived_note = f"seat of {town['name']} imputed ({town['impute_rule']})"
    return _Place(
        kind=kind,
        lon=float(town["lon"]),
        lat=float(town["lat"]),
        quality=_worst([seat_quality, declared or seat_quality]),
        derived_note=derived_note,
        county_code=county_code,
        township_code=township_code,
    )


def _check_note(
    kind: str,
    declared: str | None,
    note: str,
    quality: str,
    ctx: _Ctx,
    *,
    prefix: str,
    who: dict[str, Any],
) -> None:
    """An approximate or unknown location needs a note saying where it comes from."""
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
