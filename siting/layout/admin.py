"""Administrative units of a spec: counties, townships and the union of ``members``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from siting.layout.base import _MEMBER_KEYS, TOWN_TYPES, _as_str, _check_keys, _Ctx, _suggest

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
