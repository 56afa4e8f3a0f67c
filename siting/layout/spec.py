"""Finding, reading and validating layout specs, and building a :class:`Layout` from one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import yaml
from pyproj import Transformer

from siting import settings
from siting._issues import Problems
from siting.layout.anchors import _top_anchors
from siting.layout.base import (
    _LAYOUTS,
    _TOP_KEYS,
    WGS84_CRS,
    Layout,
    _Anchor,
    _as_str,
    _check_keys,
    _Ctx,
    _spec_problems,
    _suggest,
)
from siting.layout.rules import _element, _polygonal
from siting.regions import Region
from siting.regions import load as load_region
from siting.regions import resolve as resolve_region

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
        issues = _spec_problems(f"siting/layouts/{text}.yaml")
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
        issues = _spec_problems(file)
        issues.add(f"cannot read the file: {exc}")
        issues.raise_if_any()
        raise  # pragma: no cover - raise_if_any raised
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        issues = _spec_problems(file)
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


def _build(
    mapping: Any,
    region: Region | None,
    *,
    file: str,
    source: Path | None,
) -> Layout:
    issues = _spec_problems(file)
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
    mapping: Mapping[str, Any], region: Region | None, issues: Problems
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


def _context(region: Region, issues: Problems) -> _Ctx:
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
