"""Facility registries: the schema, the kinds, readers for planners' files, validation and storage.

A **registry** is a GeoDataFrame with one row per facility, indexed by ``id`` (unique, stable
strings), point geometry in EPSG:4326 (WGS84), and the columns of :data:`COLUMNS` in that order,
then any extra columns of the source file (kept unchanged, in their order), then ``geometry``:

=================  ==========  ===============================================================
column             dtype       meaning
=================  ==========  ===============================================================
``name``           string      the facility's name (never empty)
``kind``           string      a key of :data:`KINDS` (``nursing_home``, ``health_center`` ...)
``lon``, ``lat``   float64     WGS84 degrees, after conversion from the source system
``crs``            string      the system the coordinates were read in: wgs84 | gcj02 | bd09
``county_code``    string      6-digit county code (区县代码) or <NA>
``township_code``  string      9-digit township code (乡镇街道代码) or <NA>
``village_code``   string      12-digit village code (村/社区代码) or <NA>
``beds``           Int64       beds (床位数), <NA> when unknown
``capacity``       Int64       places or clients served (容量), <NA> when unknown
``ownership``      string      public | private | <NA>
``operation``      string      运营方式, a key of ``siting/data/operation_modes.yaml``
                               (公建公营 | 公建民营 | 公办民营 | 民办公助 | 民建民营 ...) or <NA>
``level``          string      hospital level 三级 | 二级 | 一级 | 未定级 | <NA>
``source``         string      surveyed | modelled | user | any label ("user" when empty)
``location``       string      how good the point is: surveyed | approximate | modelled |
                               imputed | <NA>
``address``        string      address or <NA>
``note``           string      note or <NA>
=================  ==========  ===============================================================

:func:`read` takes CSV (UTF-8, UTF-16 with a BOM as Excel's "Unicode 文本", or GBK/GB18030 from
Chinese Excel; Big5 and Shift-JIS are recognised, never turned into mojibake), ``.xlsx``,
GeoJSON, GeoPackage and web-map POI exports (Amap/Tencent in GCJ-02, Baidu in BD-09), understands
Chinese headers (:data:`COLUMN_ALIASES`) and kind names (``敬老院`` is ``nursing_home``), infers
kinds from names when a list has no kind column, reads hospital levels written in names or types
(``三级甲等医院``), converts the coordinates to WGS84 once, and refuses a file with problems by
raising :class:`siting.ValidationError` that lists **every** problem at once, each with its row,
column and reason (:func:`validate` returns them instead; :func:`format_issues` prints them
bounded). Nothing is silently dropped, moved or changed: every facility row of a clean file comes
back, in order, with its extra columns. An unknown value in an optional column (ownership,
operation, level, point quality) is a warning and stays empty; it never refuses the file.

Rows are numbered as a planner sees them: for CSV and Excel the spreadsheet row (the header is
row 1, the first facility row 2; a title row above the header shifts both, as it does in Excel);
for GeoJSON and GeoPackage the feature number (the first feature is 1); for frames passed to
:func:`from_frame` or :func:`append`, the 1-based position.

:func:`write` stores a registry as a GeoPackage layer, atomically and byte-identically for
identical input; :func:`read` gives it back equal. :func:`append` adds new facilities without
touching existing rows or ids.

The room is a package; its modules, in the order they build on each other:

- :mod:`siting.kinds` (outside the package, a leaf): the kind vocabulary, labels, groups,
  hospital levels and kind inference from names.
- ``schema``: columns, dtypes, header aliases, ownership/operation/point-quality vocabularies.
- ``issues``: :func:`format_issues` (issues are collected in :class:`siting._issues.Problems`).
- ``coords``: coordinate checks (boundary, CRS evidence from reference points).
- ``checks``: cell parsers and the per-column vocabulary checks, argument checks.
- ``readers``: reading CSV/Excel/vector files (encodings, header rows, extra columns).
- ``ids``: :func:`make_ids` and id filling.
- ``table``: ``_Table``, a loaded file being interpreted (state and shared helpers).
- ``columns``: the checks of a file's columns (names, kinds, vocabularies, numbers, codes).
- ``points``: the checks of a file's points (coordinates, their system, region, same point).
- ``reading``: :func:`read` and :func:`validate`; ``_Reading`` runs the checks in order.
- ``frames``: :func:`from_frame` and :func:`append` (frames already in registry form).
- ``store``: :func:`duplicates` and :func:`write` (GeoPackage).

It may import :mod:`siting.kinds`, :mod:`siting.crs`, :mod:`siting.settings`,
:mod:`siting._errors` and :mod:`siting._tables`; nothing else of siting.
"""

from __future__ import annotations

from siting._errors import DuplicateError
from siting.kinds import (
    ELDERLY_CARE_KINDS,
    HOSPITAL_LEVELS,
    KINDS,
    MEDICAL_KINDS,
    KindInfo,
    infer_kind,
    kind_label,
    parse_level,
)
from siting.registry.frames import append, from_frame
from siting.registry.ids import make_ids
from siting.registry.issues import format_issues
from siting.registry.reading import read, validate
from siting.registry.schema import (
    COLUMN_ALIASES,
    COLUMNS,
    DTYPES,
    LOCATION_QUALITIES,
    MAX_BEDS,
    MAX_CAPACITY,
    OPERATIONS,
    OWNERSHIPS,
    district_column,
    empty,
)
from siting.registry.schema import FloatArray as FloatArray
from siting.registry.schema import PathLike as PathLike
from siting.registry.schema import Shared as Shared
from siting.registry.store import DUPLICATE_COLUMNS as DUPLICATE_COLUMNS
from siting.registry.store import duplicates, write

__all__ = [
    "COLUMNS",
    "COLUMN_ALIASES",
    "DTYPES",
    "ELDERLY_CARE_KINDS",
    "HOSPITAL_LEVELS",
    "KINDS",
    "LOCATION_QUALITIES",
    "MAX_BEDS",
    "MAX_CAPACITY",
    "MEDICAL_KINDS",
    "OPERATIONS",
    "OWNERSHIPS",
    "DuplicateError",
    "KindInfo",
    "append",
    "district_column",
    "duplicates",
    "empty",
    "format_issues",
    "from_frame",
    "infer_kind",
    "kind_label",
    "make_ids",
    "parse_level",
    "read",
    "validate",
    "write",
]
