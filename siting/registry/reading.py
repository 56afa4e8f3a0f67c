"""Reading and validating a facility file: :func:`read` and :func:`validate`.

``_Reading`` checks one raw table row by row and column by column (names, kinds, coordinates
and their system, codes, numbers, vocabularies, points outside the boundary or shared by many
facilities) and assembles the registry; ``_run`` drives it for a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._errors import Issue, ValidationError
from siting._issues import Problems, problems_header
from siting.kinds import (
    KINDS_TABLE,
)
from siting.registry.checks import (
    _accepted,
    _options,
    _text,
)
from siting.registry.columns import _ColumnChecks
from siting.registry.ids import _fill_ids
from siting.registry.points import _PointChecks
from siting.registry.readers import _load
from siting.registry.schema import (
    _LOCATION_LOOKUP,
    FloatArray,
    PathLike,
    Shared,
    _assemble,
)


class _Reading(_ColumnChecks, _PointChecks):
    """Interpret a loaded file, one step per method; every problem becomes an issue.

    The steps run in order (:meth:`run`) and never stop early, so that a planner sees every
    problem of the file at once; the registry is assembled only when there is no error.
    """

    def attach_codes(
        self, codes: dict[str, list[str | None]], lon: FloatArray, lat: FloatArray
    ) -> None:
        """Missing county and township codes from the reference data (:mod:`siting._admin`)."""
        from siting import _admin

        if all(codes["county_code"]) and all(codes["township_code"]):
            return
        county, town, stats = _admin.attach_codes(
            np.asarray(lon, dtype=float),
            np.asarray(lat, dtype=float),
            codes["county_code"],
            codes["township_code"],
        )
        codes["county_code"], codes["township_code"] = county, town
        if stats["county_attached"] or stats["township_attached"]:
            self.issues.warn(
                None,
                "county_code",
                f"county codes attached from the reference county boundaries for "
                f"{stats['county_attached']} rows, township codes for "
                f"{stats['township_attached']} rows (township areas are modelled around the "
                "real township seats: check rows near a township border)",
                f"已按参考区划补全区县代码 {stats['county_attached']} 行、乡镇代码 "
                f"{stats['township_attached']} 行（乡镇范围为模拟，边界附近请核对）",
            )
        if stats["outside"]:
            covered = ", ".join(_admin.covered_counties())
            self.issues.warn(
                None,
                "county_code",
                f"{stats['outside']} rows have no county code and lie outside the counties the "
                f"shipped reference tables cover ({covered}); their codes stay empty",
                f"{stats['outside']} 行无区县代码，且不在内置参考区划范围内，代码留空",
            )

    def run(self) -> gpd.GeoDataFrame | None:
        """Every check, every issue; the registry when there is no error."""
        if self.n == 0:
            self.issues.error(
                None,
                None,
                "the file holds no facility rows (a header only): there is nothing to read",
                "文件中没有机构数据行（只有表头）",
            )
        self.required_columns()
        self.sizes()
        self.vocabularies()
        names = self.names()
        ids = self.ids()
        kinds, types = self.kinds(names)
        codes = self.codes()
        ownership, operation = self.ownership_operation()
        values: dict[str, Any] = {
            "ownership": ownership,
            "operation": operation,
            "level": self.levels(kinds, names, types),
            "location": self.lookup(
                "location", _LOCATION_LOOKUP, _accepted(KINDS_TABLE["location_quality"])
            ),
            "beds": self.counts("beds"),
            "capacity": self.counts("capacity"),
        }
        lon, lat, ok = self.coordinates()
        usable, inside = self.placement(lon, lat, ok)
        systems, wgs_lon, wgs_lat = self.to_wgs84(lon, lat, ok, usable, inside)
        self.region(wgs_lon, wgs_lat, usable)
        self.same_point(wgs_lon, wgs_lat, usable, names, (lon, lat))
        if self.issues.has_errors:
            return None
        self.attach_codes(codes, wgs_lon, wgs_lat)
        full_ids = _fill_ids(ids, kinds, codes["county_code"])
        self.raw.attrs["generated_ids"] = Shared(
            new for old, new in zip(ids, full_ids, strict=True) if old is None
        )
        core: dict[str, Any] = {
            "name": names,
            "kind": kinds,
            "lon": wgs_lon,
            "lat": wgs_lat,
            "crs": systems,
            **codes,
            **values,
            "source": [_text(v) or "user" for v in self.cells("source")],
            "address": [_text(v) for v in self.cells("address")],
            "note": [_text(v) for v in self.cells("note")],
        }
        return _assemble(full_ids, core, self.extras())


def _run(
    path: PathLike,
    *,
    crs: str | None,
    sheet: str | int | None,
    layer: str | None,
    encoding: str | None,
    boundary: Any,
    margin_m: float | None,
    poi_source: str | None,
    kind_keywords: Mapping[str, Iterable[str]] | None,
    reference_points: Any,
) -> tuple[gpd.GeoDataFrame | None, list[Issue], dict[str, Any]]:
    file = os.fspath(path)
    issues = Problems(file)
    opts = _options(
        crs=crs,
        boundary=boundary,
        margin_m=margin_m,
        poi_source=poi_source,
        kind_keywords=kind_keywords,
        reference_points=reference_points,
        issues=issues,
    )
    raw = _load(Path(path), sheet=sheet, layer=layer, encoding=encoding, issues=issues)
    if raw is None:
        return None, issues.sorted(), {}
    gdf = _Reading(raw, opts, issues).run()  # a file without facility rows is an error there
    # row numbers as an array: pandas deep-copies attrs on every operation, and a list of
    # thousands of ints made each copy cost milliseconds
    attrs = {
        "file": file,
        "format": raw.fmt,
        **raw.attrs,
        "rows": Shared(int(r) for r in raw.rows),
    }
    return gdf, issues.sorted(), attrs


def read(
    path: PathLike,
    *,
    crs: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    boundary: Any = None,
    margin_m: float | None = None,
    poi_source: str | None = None,
    kind_keywords: Mapping[str, Iterable[str]] | None = None,
    reference_points: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Read a facility list into a registry, or refuse it listing every problem.

    Formats, by extension: ``.csv``/``.txt``/``.tsv`` (UTF-8, with or without BOM, UTF-16 with
    a BOM as Excel's "Unicode 文本", or GBK/GB18030 as saved by Chinese Excel; Big5 and
    Shift-JIS are recognised by their common characters and read with a warning, and a text
    no encoding makes plausible is an error, never mojibake; comma, tab or semicolon
    separated), ``.xlsx``, ``.geojson``/``.json``, ``.gpkg`` (and ``.shp``, ``.fgb``). Headers
    may be Chinese (simplified or traditional) or English (:data:`COLUMN_ALIASES`); a title row
    above the header is skipped (within the first 10 rows, the header is the first row naming
    two known columns). Blank lines are not facilities and are skipped; a file without facility
    rows is an error.

    **Kinds** may be written as aliases (``敬老院``, ``卫生院``, ``村卫生室``), also with a
    hospital level (``三级甲等医院``). Without a kind column, or when it is empty, the kinds are
    inferred from the names by the keywords of ``kinds.yaml`` (:func:`infer_kind`; a warning
    says so); a name matching no kind, or several, is an error of its row. A kind column
    holding another column's values (a ``type`` column of 公建民营/民建民营) is one error with
    the count, and the kinds are inferred from the names meanwhile.

    **Ownership, operation, level, point quality** are optional: values are read through the
    tables of ``kinds.yaml`` and ``operation_modes.yaml``, and an unknown value is a warning
    (the cell stays empty), never a reason to refuse the file. An operation mode (运营方式:
    公建公营, 公建民营, 公办民营, 民办公助, 民建民营 ...) in the operation or in the ownership
    column fills ``operation`` and, where ownership is not given, ``ownership``. Levels are
    read from the level column (三级, 三甲, 二级乙等 ...) or, for medical facilities without
    one, from the name or POI type (:func:`parse_level`).

    **Checks** beyond the cells: a quoted CSV cell that swallows the rows after it (an unclosed
    quote) stops the reading with its row; cells longer than Excel allows, beds above
    :data:`MAX_BEDS` and capacities above :data:`MAX_CAPACITY` are row errors; three or more
    differently named facilities within 1 m of one point are warned as a probable geocoder
    fallback (each row).

    **Coordinates** of tables are converted from their declared system to WGS84, and the
    system they were read in is kept in ``crs``. The system of a row is its ``crs``/坐标系 cell
    when filled, else the ``crs`` argument, else ``poi_source``, else a system named in the
    coordinate headers (``经度(GCJ-02)``), else, for web-map POI exports only, the export's
    signature (a ``typecode`` column: Amap, GCJ-02; a ``uid`` column: Baidu, BD-09; a warning
    says so). Coordinates in China with no declared system are an error: in China web maps
    use GCJ-02, and a guess would move every point by about 500 m.

    **Vector files** (GeoJSON, GeoPackage) carry their own CRS, which is trusted: the geometry
    is reprojected to EPSG:4326 if needed, and a ``crs`` column is read as provenance (a
    registry written by :func:`write` keeps the system its points were first read in) without
    converting again. ``crs=`` declares that the geometry is really in that system (GCJ-02
    points labelled WGS84): it is converted. Rows are numbered by feature (first feature 1).

    **POI exports** of web maps (a ``location`` column of ``"lng,lat"``, or a ``typecode`` or
    ``uid`` column) need no kind column: a 类型/type cell holding a kind alias decides, else the
    kind is inferred from the name and the POI type (:func:`infer_kind`); no match, or several,
    is an error for that row. The ``"lng,lat"`` column is kept as an extra column (named
    ``poi_location`` when its header is ``location``, which is the point-quality column of
    the registry), and so is the POI type column.

    Parameters
    ----------
    path
        The file.
    crs
        Coordinate system of the whole file (``"wgs84"``, ``"gcj02"``, ``"bd09"`` or any name
        :func:`siting.crs.normalize_crs_name` accepts); a filled per-row ``crs`` cell wins.
    sheet
        Excel sheet name or 0-based index (a string of digits that names no sheet is an
        index); default the first sheet.
    layer
        GeoPackage layer; default the only layer, or ``facilities``.
    encoding
        Text encoding of a CSV; default: detected (a BOM: UTF-8 or UTF-16; else UTF-8; else
        GB18030, a superset of GBK, or Big5 or Shift-JIS, whichever gives common characters).
    boundary
        Region outline (shapely geometry, GeoSeries or GeoDataFrame in EPSG:4326): a point
        farther than ``margin_m`` outside it is an error (distance measured in metres in the
        metric CRS of :func:`siting.crs.metric_crs`).
    margin_m
        Allowed distance outside ``boundary``; default
        :data:`siting.settings.outside_region_margin_m`.
    poi_source
        ``"amap"``, ``"tencent"`` (GCJ-02) or ``"baidu"`` (BD-09): where a POI export comes from.
    kind_keywords
        Extra POI keywords by kind for :func:`infer_kind` (``{"nursing_home": ["老年服务中心"]}``).
    reference_points
        Township seats with ``lon_wgs84``, ``lat_wgs84``, ``lon_gcj02``, ``lat_gcj02`` (e.g.
        ``data/geo/reference/townships_2023.csv``). When given, an undeclared file whose points
        sit systematically nearer the seats' GCJ-02 positions is told so ("the coordinates fit
        GCJ-02 offsets"); for vector files and rows declared WGS84 the same evidence is a warning.
        The test: among points within 1.5 km of a seat (at least 3), the median distance to the
        nearest GCJ-02 seat is smaller than to the nearest WGS84 seat by at least
        :data:`siting.settings.gcj_detect_min_gain`.

    Returns
    -------
    geopandas.GeoDataFrame
        The registry (schema in the module docstring), rows in file order. ``attrs`` holds
        ``file``, ``format``, ``encoding`` (CSV: ``"utf-8"``, ``"utf-8-sig"``, ``"utf-16-le"``,
        ``"utf-16-be"``, ``"gb18030"``, ``"big5"`` or ``"shift_jis"``),
        ``header_row``, ``poi_export``, ``crs_inferred`` (when taken from a POI export's
        signature), ``generated_ids`` (ids made by :func:`make_ids` for rows without one) and
        ``issues`` (the warnings).

    Raises
    ------
    siting.ValidationError
        Listing every error (and the warnings) with file, row, column and reason.

    Examples
    --------
    >>> import siting
    >>> reg = siting.registry.read("养老机构.csv", crs="gcj02")  # doctest: +SKIP
    """
    from siting import _cache

    options = {
        "crs": crs,
        "sheet": sheet,
        "layer": layer,
        "encoding": encoding,
        "boundary": boundary,
        "margin_m": margin_m,
        "poi_source": poi_source,
        "kind_keywords": kind_keywords,
        "reference_points": reference_points,
    }
    try:  # the same bytes read the same way: the earlier result (siting._cache)
        key = (os.fspath(path), _cache.files_hash([Path(path)]), _cache.object_hash(options))
    except (OSError, TypeError, ValueError):  # not a readable file: read it to say why
        return _read(path, **options)
    return _cache.cached("registry_read", key, lambda: _read(path, **options))


def _read(path: PathLike, **options: Any) -> gpd.GeoDataFrame:
    """:func:`read`, uncached."""
    gdf, issues, attrs = _run(path, **options)
    if gdf is None or any(i.severity == "error" for i in issues):
        raise ValidationError(issues, header=problems_header(os.fspath(path), issues))
    gdf.attrs.update(attrs)
    gdf.attrs["issues"] = Shared(i for i in issues if i.severity != "error")
    return gdf


def validate(
    path: PathLike,
    *,
    crs: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    boundary: Any = None,
    margin_m: float | None = None,
    poi_source: str | None = None,
    kind_keywords: Mapping[str, Iterable[str]] | None = None,
    reference_points: pd.DataFrame | None = None,
) -> list[Issue]:
    """Check a facility list as :func:`read` does, and return every issue instead of raising.

    Parameters are those of :func:`read`.

    Returns
    -------
    list of siting.Issue
        Errors and warnings (``severity``), file-level ones first, then by row; empty when the
        file is clean.

    Examples
    --------
    >>> import siting
    >>> for issue in siting.registry.validate("养老机构.csv"):  # doctest: +SKIP
    ...     print(issue)
    """
    _gdf, issues, _attrs = _run(
        path,
        crs=crs,
        sheet=sheet,
        layer=layer,
        encoding=encoding,
        boundary=boundary,
        margin_m=margin_m,
        poi_source=poi_source,
        kind_keywords=kind_keywords,
        reference_points=reference_points,
    )
    return issues
