"""Frames already in registry form: :func:`from_frame` and :func:`append`.

``_conform`` checks and converts a frame with the registry's columns (used by
:func:`from_frame`, :func:`append` and :func:`write`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import crs as _crs
from siting._errors import Issue, ValidationError
from siting._issues import Problems, problems_header
from siting.kinds import KIND_LOOKUP, KINDS, LEVEL_LOOKUP, parse_level
from siting.registry.checks import _code, _float, _lookup, _text
from siting.registry.ids import _fill_ids
from siting.registry.schema import (
    _CODE_DIGITS,
    _GEOMETRY,
    _LOCATION_LOOKUP,
    _OPERATION_LOOKUP,
    _OPERATION_OWNERSHIP,
    _OWNERSHIP_LOOKUP,
    COLUMNS,
    FloatArray,
    Shared,
    _assemble,
)

# --- frames in registry form -------------------------------------------------------------------


def _column(data: pd.DataFrame, c: str) -> list[Any]:
    """The values of column ``c``, or ``None`` on every row when the frame lacks it."""
    return data[c].tolist() if c in data.columns else [None] * len(data)


def _frame_ids(
    frame: pd.DataFrame,
    data: pd.DataFrame,
    rows: list[int],
    issues: Problems,
    *,
    need_ids: bool,
    renumber_generated: bool,
) -> list[str | None]:
    """The ids of a frame (``None`` where missing or generated), checked for emptiness and
    duplicates."""
    generated = set(frame.attrs.get("generated_ids", ())) if renumber_generated else set()
    ids = [_text(v) for v in data["id"]] if "id" in data.columns else [None] * len(data)
    ids = [None if i in generated else i for i in ids]
    if need_ids:
        for i, v in enumerate(ids):
            if v is None:
                issues.error(rows[i], "id", "id is empty", "编号为空")
    seen: dict[str, int] = {}
    for i, v in enumerate(ids):
        if v is not None and v in seen:
            issues.error(
                rows[i], "id", f"duplicate id {v!r}: also on row {seen[v]}", f"编号“{v}”重复"
            )
        elif v is not None:
            seen[v] = rows[i]
    return ids


def _frame_names_kinds(
    data: pd.DataFrame, rows: list[int], issues: Problems
) -> tuple[list[str | None], list[str | None]]:
    """The required ``name`` and ``kind`` columns, checked."""
    for c in ("name", "kind"):
        if c not in data.columns:
            issues.error(None, c, f"required column {c!r} is missing", f"缺少列 {c}")
    names = [_text(v) for v in _column(data, "name")]
    for i, v in enumerate(names):
        if v is None and "name" in data.columns:
            issues.error(rows[i], "name", "name is empty", "名称为空")
    kinds: list[str | None] = []
    for i, v in enumerate(_column(data, "kind")):
        k, ok = _lookup(v, KIND_LOOKUP)
        if (not ok or k is None) and "kind" in data.columns:
            issues.error(
                rows[i],
                "kind",
                f"unknown kind {_text(v)!r}; kinds are {', '.join(KINDS)}",
                "类型无效",
            )
        kinds.append(k)
    return names, kinds


def _frame_points(
    data: pd.DataFrame, geoms: Any, rows: list[int], issues: Problems
) -> tuple[FloatArray, FloatArray]:
    """WGS84 lon/lat from the ``lon``/``lat`` columns or else the point geometry, checked
    against each other when the frame has both."""
    n = len(data)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    has_cols = "lon" in data.columns and "lat" in data.columns
    if not has_cols and geoms is None:
        issues.error(None, "lon", "needs lon and lat columns or a geometry", "缺少经纬度")
    lon_cells = data["lon"].tolist() if has_cols else []
    lat_cells = data["lat"].tolist() if has_cols else []
    if geoms is not None:  # per row: a non-empty geometry, a point, its x and y
        garr = np.asarray(geoms.array, dtype=object)
        present = ~(shapely.is_missing(garr) | shapely.is_empty(garr))
        point = present & (shapely.get_type_id(garr) == 0)
        gx, gy = shapely.get_x(garr), shapely.get_y(garr)
    for i in range(n):
        x: float | None = None
        y: float | None = None
        if has_cols:
            x = _float(lon_cells[i])[0]
            y = _float(lat_cells[i])[0]
        elif geoms is not None and point[i]:
            x, y = float(gx[i]), float(gy[i])
        if x is None or y is None or abs(x) > 180 or abs(y) > 90:
            if has_cols or geoms is not None:
                issues.error(rows[i], "lon", "lon/lat missing or invalid", "经纬度缺失或无效")
            continue
        lon[i], lat[i] = x, y
        if has_cols and geoms is not None and present[i]:
            if not point[i]:
                issues.error(
                    rows[i],
                    _GEOMETRY,
                    f"geometry is a {garr[i].geom_type}, not a point",
                    "几何不是点",
                )
            elif abs(gx[i] - x) > 1e-7 or abs(gy[i] - y) > 1e-7:
                issues.error(
                    rows[i],
                    _GEOMETRY,
                    f"geometry ({float(gx[i])}, {float(gy[i])}) disagrees with lon/lat ({x}, {y})",
                    "几何与经纬度不一致",
                )
    return lon, lat


def _frame_crs(data: pd.DataFrame, rows: list[int], issues: Problems) -> list[str | None]:
    """The ``crs`` column (provenance only), normalised."""
    crs_values: list[str | None] = []
    for i, v in enumerate(_column(data, "crs")):
        t = _text(v)
        try:
            crs_values.append(_crs.normalize_crs_name(t) if t is not None else None)
        except _crs.CRSError:
            issues.error(rows[i], "crs", f"unknown coordinate system {t!r}", "坐标系无效")
            crs_values.append(None)
    return crs_values


def _frame_codes_numbers(
    data: pd.DataFrame, rows: list[int], issues: Problems, core: dict[str, Any]
) -> None:
    """The administrative codes and ``beds``/``capacity``, checked, into ``core``."""
    for c, digits in _CODE_DIGITS.items():
        out_c: list[str | None] = []
        for i, v in enumerate(_column(data, c)):
            code, ok = _code(v, digits)
            if not ok:
                issues.error(rows[i], c, f"{c} {_text(v)!r} is not {digits} digits", "代码无效")
            out_c.append(code)
        core[c] = out_c
    for c in ("beds", "capacity"):
        out_i: list[int | None] = []
        for i, v in enumerate(_column(data, c)):
            f, ok = _float(v)
            if not ok or (f is not None and (f < 0 or not f.is_integer())):
                issues.error(rows[i], c, f"{c} {_text(v)!r} is not a whole number >= 0", "数值无效")
                f = None
            out_i.append(None if f is None else int(f))
        core[c] = out_i


def _frame_vocabularies(
    data: pd.DataFrame, rows: list[int], issues: Problems, core: dict[str, Any]
) -> None:
    """The optional categorical columns (unknown values warned and left empty) into ``core``,
    then operation modes found in ``ownership`` moved to ``operation`` and the ownership they
    imply filled in."""
    for c, table in (
        ("ownership", _OWNERSHIP_LOOKUP),
        ("operation", _OPERATION_LOOKUP),
        ("level", LEVEL_LOOKUP),
        ("location", _LOCATION_LOOKUP),
    ):
        out_l: list[str | None] = []
        for i, v in enumerate(_column(data, c)):
            value, ok = _lookup(v, table)
            if c == "level" and not ok:
                value = parse_level(_text(v))
                ok = value is not None
            if c == "ownership" and not ok:  # an operation mode (公建民营) in the ownership column
                ok = _lookup(v, _OPERATION_LOOKUP)[0] is not None
            if not ok:  # an optional column: a warning, the cell left empty
                issues.warn(rows[i], c, f"unknown {c} {_text(v)!r}, left empty", "取值无效，已留空")
            out_l.append(value)
        core[c] = out_l
    for i, v in enumerate(_column(data, "ownership")):
        in_own = _lookup(v, _OPERATION_LOOKUP)[0] if core["ownership"][i] is None else None
        mode = core["operation"][i] or in_own
        core["operation"][i] = mode
        if core["ownership"][i] is None and mode is not None:
            core["ownership"][i] = _OPERATION_OWNERSHIP.get(mode)


def _frame_extras(data: pd.DataFrame, geom_col: str | None) -> pd.DataFrame:
    """The frame's extra columns (not of the schema), with their dtypes."""
    skip = {*COLUMNS, "id"} | ({geom_col} if geom_col else set())
    extras = pd.DataFrame(
        {c: data[c].to_numpy() for c in data.columns if c not in skip},
        index=pd.RangeIndex(len(data)),
    )
    for c in extras.columns:
        extras[c] = extras[c].astype(data[c].dtype)
    return extras


def _conform(
    frame: Any, *, file: str, need_ids: bool, renumber_generated: bool = False
) -> tuple[gpd.GeoDataFrame | None, list[str | None], list[Issue]]:
    """Check a frame already in registry form (WGS84 lon/lat, canonical column names).

    Returns the typed registry (its index holds <NA> where an id is missing), the ids
    (``None`` where missing) and the issues; ``None`` instead of the registry on errors.
    """
    issues = Problems(file)
    if not isinstance(frame, pd.DataFrame):
        msg = f"expected a DataFrame or GeoDataFrame, got {type(frame).__name__}"
        raise TypeError(msg)
    n = len(frame)
    if frame.index.name == "id" and "id" in frame.columns:
        issues.error(None, "id", "id is both the index and a column", "编号同时是索引和列")
        return None, [], issues.sorted()
    data = pd.DataFrame(frame).reset_index(drop=frame.index.name != "id")
    geom_col = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    if geom_col is not None and frame.crs is not None:
        geoms = frame.geometry.to_crs("EPSG:4326")
    else:
        geoms = frame.geometry if geom_col is not None else None
    rows = list(range(1, n + 1))
    ids = _frame_ids(
        frame, data, rows, issues, need_ids=need_ids, renumber_generated=renumber_generated
    )
    names, kinds = _frame_names_kinds(data, rows, issues)
    lon, lat = _frame_points(data, geoms, rows, issues)
    crs_values = _frame_crs(data, rows, issues)
    core: dict[str, Any] = {
        "name": names,
        "kind": kinds,
        "lon": lon,
        "lat": lat,
        "crs": crs_values,
    }
    _frame_codes_numbers(data, rows, issues, core)
    _frame_vocabularies(data, rows, issues, core)
    core["source"] = [_text(v) or "user" for v in _column(data, "source")]
    core["address"] = [_text(v) for v in _column(data, "address")]
    core["note"] = [_text(v) for v in _column(data, "note")]
    if issues.has_errors:
        return None, ids, issues.sorted()
    return _assemble(ids, core, _frame_extras(data, geom_col)), ids, issues.sorted()


def from_frame(frame: pd.DataFrame, *, id_prefix: str | None = None) -> gpd.GeoDataFrame:
    """Make a registry from a frame already in registry form (made in code, e.g. modelled).

    The frame has the canonical column names of :data:`COLUMNS` (at least ``name``, ``kind``
    and ``lon``/``lat`` in WGS84 or a geometry), an optional ``id`` column or index; ``crs`` is
    taken as provenance (no conversion). Values are checked and typed as :func:`read` does
    (kind and ownership aliases accepted), rows without an id get one from :func:`make_ids`,
    other columns are kept as extra columns, and ``source`` is ``"user"`` where empty.

    Parameters
    ----------
    frame
        The facilities.
    id_prefix
        Prefix of the ids made for rows without one (see :func:`make_ids`).

    Returns
    -------
    geopandas.GeoDataFrame
        The registry.

    Raises
    ------
    siting.ValidationError
        Listing every problem (rows numbered by 1-based position).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"name": ["龙门镇敬老院"], "kind": ["敬老院"], "lon": [106.1],
    ...                   "lat": [30.8], "county_code": ["511302"]})
    >>> from_frame(f).index.tolist()
    ['NH-511302-00001']
    """
    gdf, ids, issues = _conform(frame, file="<frame>", need_ids=False)
    if gdf is None:
        raise ValidationError(issues, header=problems_header("<frame>", issues))
    full = _fill_ids(
        ids,
        [_text(v) for v in gdf["kind"]],
        [_text(v) for v in gdf["county_code"]],
        id_prefix=id_prefix,
    )
    gdf.index = pd.Index(full, dtype="string", name="id")
    gdf.attrs["issues"] = Shared(issues)
    # ids made here for rows without one: append() renumbers them after a registry's own
    gdf.attrs["generated_ids"] = Shared(
        f for f, given in zip(full, ids, strict=True) if given is None
    )
    return gdf


def append(
    registry: gpd.GeoDataFrame,
    new: pd.DataFrame,
    *,
    id_prefix: str | None = None,
) -> gpd.GeoDataFrame:
    """Append new facilities to a registry; existing rows and ids are not touched.

    ``new`` is a registry (as :func:`read` returns) or a frame in registry form (see
    :func:`from_frame`). New rows keep their ids; rows without one, and rows whose id
    :func:`read` made (listed in ``new.attrs["generated_ids"]``), get
    ``<KINDCODE>-<county>-<seq:05d>`` numbered after the highest number the registry already
    uses with that prefix, in row order, so the same inputs give the same ids.

    Parameters
    ----------
    registry
        The existing registry.
    new
        The facilities to add.
    id_prefix
        Use ``<id_prefix>-<seq:05d>`` for the new ids instead of the kind and county prefix.

    Returns
    -------
    geopandas.GeoDataFrame
        The registry's rows, unchanged and in order, then the new ones. Extra columns of
        either side are kept (missing values <NA>).

    Raises
    ------
    siting.ValidationError
        If ``new`` has problems, or a new id is already in the registry (naming both rows).

    Examples
    --------
    >>> import pandas as pd
    >>> reg = from_frame(pd.DataFrame({"name": ["甲敬老院"], "kind": ["nursing_home"],
    ...                                "lon": [106.1], "lat": [30.8], "county_code": ["511302"]}))
    >>> more = pd.DataFrame({"name": ["乙敬老院"], "kind": ["nursing_home"], "lon": [106.2],
    ...                      "lat": [30.9], "county_code": ["511302"]})
    >>> append(reg, more).index.tolist()
    ['NH-511302-00001', 'NH-511302-00002']
    """
    if not isinstance(registry, gpd.GeoDataFrame) or registry.index.name != "id":
        msg = "registry must be a GeoDataFrame indexed by 'id' (as read() returns)"
        raise TypeError(msg)
    if not registry.index.is_unique:
        dup = registry.index[registry.index.duplicated()].tolist()
        msg = f"the registry's ids are not unique: {dup}"
        raise ValueError(msg)
    gdf, ids, issues = _conform(new, file="<new>", need_ids=False, renumber_generated=True)
    if gdf is None:
        raise ValidationError(issues, header=problems_header("<new>", issues))
    existing = [str(i) for i in registry.index]
    position = {v: p for p, v in enumerate(existing)}
    clash = Problems("<new>")
    for pos, v in enumerate(ids):
        if v is not None and v in position:
            old = registry.iloc[position[v]]
            clash.error(
                pos + 1,
                "id",
                f"id {v!r} of new row {pos + 1} ({gdf['name'].iat[pos]}) is already used by "
                f"registry row {position[v] + 1} ({old['name']})",
                f"编号“{v}”已被名录第 {position[v] + 1} 行使用",
            )
    if clash.has_errors:
        raise ValidationError(clash.sorted(), header=problems_header("<new>", clash.items))
    full = _fill_ids(
        ids,
        [_text(v) for v in gdf["kind"]],
        [_text(v) for v in gdf["county_code"]],
        existing=existing,
        id_prefix=id_prefix,
    )
    gdf.index = pd.Index(full, dtype="string", name="id")
    base = registry
    for c in gdf.columns:
        if c not in base.columns:
            base = base.assign(**{c: pd.Series(pd.NA, index=base.index, dtype=gdf[c].dtype)})
    for c in base.columns:
        if c not in gdf.columns:
            gdf[c] = pd.Series(pd.NA, index=gdf.index, dtype=base[c].dtype)
        elif c != _GEOMETRY and gdf[c].dtype != base[c].dtype:
            try:
                gdf[c] = gdf[c].astype(base[c].dtype)
            except (TypeError, ValueError) as exc:
                issue = Issue(
                    "<new>", None, c, f"column {c!r} cannot take the registry's type: {exc}"
                )
                raise ValidationError([issue]) from exc
    order = [c for c in base.columns if c != _GEOMETRY] + [_GEOMETRY]
    base = base[order]
    gdf = gdf[order]
    out = pd.concat([base, gdf])
    out = gpd.GeoDataFrame(out, geometry=_GEOMETRY, crs="EPSG:4326")
    out.index.name = "id"
    out.attrs = {k: v for k, v in registry.attrs.items() if k != "generated_ids"}
    return out
