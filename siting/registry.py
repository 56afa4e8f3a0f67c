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
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import os
import re
import unicodedata
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import pyproj
import shapely

from siting import crs as _crs
from siting import settings
from siting._errors import DataError, DuplicateError, Issue, ValidationError
from siting._tables import load_table, normalize_label

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

PathLike = str | os.PathLike[str]


class Shared(tuple):  # type: ignore[type-arg]
    """An immutable sequence in a frame's ``attrs`` (row numbers, issues, generated ids).

    pandas deep-copies ``attrs`` on nearly every operation; a plain list of thousands of items
    made each copy cost milliseconds and a whole run minutes. A ``Shared`` is its own deep copy.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Shared:
        return self


FloatArray = npt.NDArray[np.float64]

# --- the kind table (siting/data/kinds.yaml) ----------------------------------------------------


@dataclass(frozen=True)
class KindInfo:
    """One facility kind of ``siting/data/kinds.yaml``.

    Attributes
    ----------
    key
        The value of the registry's ``kind`` column (``"nursing_home"``).
    zh, en
        Chinese and English labels for maps and reports.
    category
        ``"elderly_care"``, ``"medical"`` or ``"integrated"`` (both).
    id_code
        Prefix of generated ids (``"NH"`` gives ``NH-511302-00001``).
    aliases
        Names accepted in a file's kind column (exact match, case, spaces, ``_`` and ``-``
        ignored).
    keywords
        Substrings of a POI's name or type that suggest this kind (:func:`infer_kind`).
    exclude
        Substrings that veto this kind for a POI (a 宠物医院 is not a hospital).
    """

    key: str
    zh: str
    en: str
    category: str
    id_code: str
    aliases: tuple[str, ...]
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()


_CATEGORIES: Final = ("elderly_care", "medical", "integrated")


_norm_value = normalize_label


def _load_table() -> dict[str, Any]:
    return load_table("kinds.yaml", required="kinds", what="kind table")


def _lookup_table(
    name: str, groups: Mapping[str, Iterable[Any]], where: str = "kinds.yaml"
) -> dict[str, str]:
    """Alias lookup (normalised alias -> canonical value) of one table, refusing clashes."""
    out: dict[str, str] = {}
    for canonical, aliases in groups.items():
        for alias in [canonical, *aliases]:
            key = _norm_value(str(alias))
            if out.get(key, canonical) != canonical:
                msg = (
                    f"siting/data/{where}: {name} alias {alias!r} is given to both "
                    f"{out[key]!r} and {canonical!r}"
                )
                raise DataError(msg)
            out[key] = str(canonical)
    return out


def _load_kinds(table: Mapping[str, Any]) -> dict[str, KindInfo]:
    kinds: dict[str, KindInfo] = {}
    codes: dict[str, str] = {}
    for key, spec in table["kinds"].items():
        try:
            info = KindInfo(
                key=str(key),
                zh=str(spec["zh"]),
                en=str(spec["en"]),
                category=str(spec["category"]),
                id_code=str(spec["id_code"]),
                aliases=tuple(str(a) for a in spec.get("aliases", ())),
                keywords=tuple(str(k) for k in spec.get("keywords", ())),
                exclude=tuple(str(e) for e in spec.get("exclude", ())),
            )
        except (KeyError, TypeError) as exc:
            msg = f"siting/data/kinds.yaml: kind {key!r} lacks {exc}"
            raise DataError(msg) from exc
        if info.category not in _CATEGORIES:
            msg = f"siting/data/kinds.yaml: kind {key!r} has category {info.category!r}"
            raise DataError(msg)
        if info.id_code in codes:
            msg = (
                f"siting/data/kinds.yaml: id_code {info.id_code!r} is given to both "
                f"{codes[info.id_code]!r} and {key!r}"
            )
            raise DataError(msg)
        codes[info.id_code] = info.key
        kinds[info.key] = info
    return kinds


_TABLE: Final = _load_table()

#: The facility kinds, by key, from ``siting/data/kinds.yaml``.
KINDS: Final[dict[str, KindInfo]] = _load_kinds(_TABLE)
#: Kinds that take in elderly people (integrated care centres included).
ELDERLY_CARE_KINDS: Final[tuple[str, ...]] = tuple(
    k for k, v in KINDS.items() if v.category in ("elderly_care", "integrated")
)
#: Kinds that give medical care (integrated care centres included).
MEDICAL_KINDS: Final[tuple[str, ...]] = tuple(
    k for k, v in KINDS.items() if v.category in ("medical", "integrated")
)
#: Accepted values of ``level`` (医院等级).
HOSPITAL_LEVELS: Final[tuple[str, ...]] = tuple(_TABLE.get("hospital_levels", {}))
#: Accepted values of ``ownership``.
OWNERSHIPS: Final[tuple[str, ...]] = tuple(_TABLE.get("ownership", {}))
#: Accepted values of ``location`` (how good a facility's point is).
LOCATION_QUALITIES: Final[tuple[str, ...]] = tuple(_TABLE.get("location_quality", {}))

_KIND_LOOKUP: Final = _lookup_table("kind", {k: v.aliases for k, v in KINDS.items()})
_LEVEL_LOOKUP: Final = _lookup_table("hospital_levels", _TABLE.get("hospital_levels", {}))
_OWNERSHIP_LOOKUP: Final = _lookup_table("ownership", _TABLE.get("ownership", {}))
_LOCATION_LOOKUP: Final = _lookup_table("location_quality", _TABLE.get("location_quality", {}))


def _load_operations() -> dict[str, dict[str, Any]]:
    table = load_table("operation_modes.yaml", required="operation_modes", what="operation table")
    modes: dict[str, dict[str, Any]] = {}
    for key, spec in table["operation_modes"].items():
        spec = spec or {}
        owner = spec.get("ownership")
        if owner is not None and str(owner) not in OWNERSHIPS:
            msg = (
                f"siting/data/operation_modes.yaml: mode {key!r} has ownership {owner!r}; "
                f"use one of {', '.join(OWNERSHIPS)} or null"
            )
            raise DataError(msg)
        modes[str(key)] = {
            "en": str(spec.get("en", key)),
            "ownership": None if owner is None else str(owner),
            "aliases": tuple(str(a) for a in spec.get("aliases", ()) or ()),
        }
    return modes


_OPERATION_TABLE: Final = _load_operations()
#: Accepted values of ``operation`` (运营方式), from ``siting/data/operation_modes.yaml``.
OPERATIONS: Final[tuple[str, ...]] = tuple(_OPERATION_TABLE)
_OPERATION_LOOKUP: Final = _lookup_table(
    "operation_modes",
    {k: v["aliases"] for k, v in _OPERATION_TABLE.items()},
    "operation_modes.yaml",
)
#: The ownership each operation mode implies (None: mixed).
_OPERATION_OWNERSHIP: Final[dict[str, str | None]] = {
    k: v["ownership"] for k, v in _OPERATION_TABLE.items()
}

#: Largest plausible ``beds`` of one facility (the largest hospitals in China have about 10,000);
#: a larger number is a row error, not a facility.
MAX_BEDS: Final = 50_000
#: Largest plausible ``capacity`` (places or clients served) of one facility.
MAX_CAPACITY: Final = 1_000_000
#: Longest cell accepted (Excel's own limit of a cell): a longer one is not facility data.
_MAX_CELL_CHARS: Final = 32_767

_LEVEL_TEXT: Final = re.compile(
    r"(?P<num>III|II|I|[一二三123])\s*级\s*(?:(?P<grade>[特甲乙丙])\s*等)?"
    r"|(?P<short>[一二三])(?P<sgrade>[甲乙丙])"
    r"(?=$|[\s)\]】）>》、,，;；:：/|]|医院|综合|中医|专科|级|等)"
)
_LEVEL_UNRATED: Final = re.compile(r"未定级|未评级|未定等|未评等级|未分级")
_LEVEL_NUMBER: Final = {
    "三": "三级",
    "3": "三级",
    "III": "三级",
    "二": "二级",
    "2": "二级",
    "II": "二级",
    "一": "一级",
    "1": "一级",
    "I": "一级",
}


def parse_level(text: str | None) -> str | None:
    """The hospital level (医院等级) written in a text, as a value of :data:`HOSPITAL_LEVELS`.

    Reads a level column's cell (``三级``, ``三甲``, ``二级乙等``, ``3``), or a level written in
    a name or a POI type (``南充市中心医院（三级甲等）``, ``医疗保健服务;综合医院;三级甲等医院``,
    ``三甲医院``). The grade (甲等, 乙等 ...) is not kept: the level is what the pairing rules
    use. ``None`` when the text names no level.

    Examples
    --------
    >>> parse_level("南充市中心医院（三级甲等）"), parse_level("二乙"), parse_level("一级医院")
    ('三级', '二级', '一级')
    >>> parse_level("三甲镇卫生院") is None
    True
    """
    if text is None:
        return None
    raw = str(text)
    exact = _LEVEL_LOOKUP.get(_norm_value(raw))
    if exact is not None:
        return exact
    norm = unicodedata.normalize("NFKC", raw)
    if _LEVEL_UNRATED.search(norm):
        return "未定级" if "未定级" in HOSPITAL_LEVELS else None
    m = _LEVEL_TEXT.search(norm)
    if m is None:
        return None
    value = _LEVEL_NUMBER[m["num"] or m["short"]]
    return value if value in HOSPITAL_LEVELS else None


def kind_label(kind: str, lang: str = "zh") -> str:
    """Return the label of a facility kind for maps and reports.

    Parameters
    ----------
    kind
        A key of :data:`KINDS`.
    lang
        ``"zh"`` (Chinese), ``"en"`` (English) or ``"both"`` (``"乡镇卫生院 township health
        centre"``).

    Returns
    -------
    str
        The label.

    Raises
    ------
    ValueError
        If ``kind`` or ``lang`` is unknown.

    Examples
    --------
    >>> kind_label("health_center")
    '乡镇卫生院'
    >>> kind_label("village_clinic", "en")
    'village clinic'
    """
    if kind not in KINDS:
        msg = f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}"
        raise ValueError(msg)
    info = KINDS[kind]
    if lang == "zh":
        return info.zh
    if lang == "en":
        return info.en
    if lang == "both":
        return f"{info.zh} {info.en}"
    msg = f"lang must be 'zh', 'en' or 'both', got {lang!r}"
    raise ValueError(msg)


# --- the schema --------------------------------------------------------------------------------

#: The registry's columns after the ``id`` index, in order; extra columns follow, then geometry.
COLUMNS: Final[tuple[str, ...]] = (
    "name",
    "kind",
    "lon",
    "lat",
    "crs",
    "county_code",
    "township_code",
    "village_code",
    "beds",
    "capacity",
    "ownership",
    "operation",
    "level",
    "source",
    "location",
    "address",
    "note",
)

#: The dtype of each column of :data:`COLUMNS` (the ``id`` index is ``"string"``).
DTYPES: Final[dict[str, str]] = {
    c: ("float64" if c in ("lon", "lat") else "Int64" if c in ("beds", "capacity") else "string")
    for c in COLUMNS
}

_CODE_DIGITS: Final = {"county_code": 6, "township_code": 9, "village_code": 12}
_GEOMETRY: Final = "geometry"

#: Header aliases (Chinese and English) of the canonical columns. Headers are matched after
#: trimming, Unicode NFKC (full-width letters and brackets become half-width), case folding,
#: dropping a bracketed unit or note (``床位数（张）`` is ``床位数``) and dropping spaces,
#: ``_``, ``-``, ``.`` and ``:``. ``序号`` is a row number, kept as an extra column. ``lnglat`` is a
#: combined ``"lng,lat"`` column (``经纬度``); a ``location`` column holding ``"lng,lat"``
#: values (web-map POI exports) is one too, otherwise it is the point-quality column.
COLUMN_ALIASES: Final[dict[str, str]] = {
    **dict.fromkeys(
        ["id", "ID", "编号", "机构编号", "单位编号", "设施编号", "机构代码编号", "facility_id"],
        "id",
    ),
    **dict.fromkeys(
        ["name", "名称", "机构名称", "单位名称", "设施名称", "医院名称", "名字", "facility_name"],
        "name",
    ),
    **dict.fromkeys(
        ["kind", "type", "类型", "机构类型", "类别", "机构类别", "设施类型", "单位类型"], "kind"
    ),
    **dict.fromkeys(["lon", "lng", "long", "longitude", "x", "经度", "东经"], "lon"),
    **dict.fromkeys(["lat", "latitude", "y", "纬度", "北纬"], "lat"),
    **dict.fromkeys(["lnglat", "lonlat", "经纬度", "坐标", "经纬度坐标"], "lnglat"),
    **dict.fromkeys(
        ["crs", "坐标系", "坐标系统", "坐标类型", "coord_type", "coordsys", "coordinate_system"],
        "crs",
    ),
    **dict.fromkeys(
        ["beds", "床位", "床位数", "床位数量", "床位总数", "核定床位", "核定床位数"], "beds"
    ),
    **dict.fromkeys(["capacity", "容量", "服务容量"], "capacity"),
    **dict.fromkeys(
        [
            "ownership",
            "性质",
            "所有制",
            "公办民办",
            "公办/民办",
            "举办性质",
            "机构性质",
            "经营性质",
        ],
        "ownership",
    ),
    **dict.fromkeys(
        [
            "operation",
            "operation_mode",
            "operating_mode",
            "运营方式",
            "运营模式",
            "经营方式",
            "经营模式",
            "运营类型",
            "运营性质",
            "办营方式",
            "管理方式",
            "管理模式",
            "建设运营方式",
            "建设运营模式",
        ],
        "operation",
    ),
    **dict.fromkeys(["level", "等级", "医院等级", "机构等级", "grade"], "level"),
    **dict.fromkeys(["address", "地址", "详细地址", "机构地址", "addr"], "address"),
    **dict.fromkeys(
        ["county_code", "区县代码", "县代码", "区县编码", "县区代码", "adcode"], "county_code"
    ),
    **dict.fromkeys(
        ["township_code", "乡镇代码", "乡镇街道代码", "乡镇编码", "街道代码", "town_code"],
        "township_code",
    ),
    **dict.fromkeys(["village_code", "村代码", "村编码", "村社区代码", "村居代码"], "village_code"),
    **dict.fromkeys(["source", "来源", "数据来源"], "source"),
    **dict.fromkeys(["location", "定位方式", "定位质量", "位置质量", "坐标质量"], "location"),
    **dict.fromkeys(["note", "备注", "说明", "notes", "remark", "remarks"], "note"),
    # the usual headers in traditional characters (Big5 lists, 繁體 Excel)
    "名稱": "name",
    "機構名稱": "name",
    "單位名稱": "name",
    "類型": "kind",
    "機構類型": "kind",
    "類別": "kind",
    "經度": "lon",
    "緯度": "lat",
    "經緯度": "lnglat",
    "坐標系": "crs",
    "座標系": "crs",
    "床位數": "beds",
    "性質": "ownership",
    "運營方式": "operation",
    "經營方式": "operation",
    "等級": "level",
    "醫院等級": "level",
    "詳細地址": "address",
    "備註": "note",
}

_BRACKETED: Final = re.compile(r"[(\[【<《]([^)\]】>》]*)[)\]】>》]")


def _norm_header(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).strip().casefold()
    text = _BRACKETED.sub("", text)
    return re.sub(r"[\s_\-.:]+", "", text)


_HEADER_LOOKUP: Final = {_norm_header(a): c for a, c in COLUMN_ALIASES.items()}
_ZH: Final = {
    "id": "编号",
    "name": "名称",
    "kind": "类型",
    "lon": "经度",
    "lat": "纬度",
    "crs": "坐标系",
}


def _header_crs(header: str) -> str | None:
    """The coordinate system named in brackets in a header (``经度(GCJ-02)``), if any."""
    text = unicodedata.normalize("NFKC", header)
    for inner in _BRACKETED.findall(text):
        try:
            return _crs.normalize_crs_name(inner)
        except (_crs.CRSError, TypeError):
            continue
    return None


def empty() -> gpd.GeoDataFrame:
    """Return an empty registry with the full schema.

    Examples
    --------
    >>> reg = empty()
    >>> list(reg.columns)[:3], reg.index.name, len(reg)
    (['name', 'kind', 'lon'], 'id', 0)
    """
    return _assemble([], {c: [] for c in COLUMNS}, pd.DataFrame(index=pd.RangeIndex(0)))


def _assemble(
    ids: Sequence[str | None], core: Mapping[str, Sequence[Any]], extras: pd.DataFrame
) -> gpd.GeoDataFrame:
    """Build a registry from row-aligned core values and extra columns."""
    index = pd.Index(list(ids), dtype="string", name="id")
    data: dict[str, Any] = {c: pd.Series(list(core[c]), dtype=DTYPES[c]).array for c in COLUMNS}
    frame = pd.DataFrame(data, index=index)
    if len(extras.columns):
        extras = extras.set_axis(index, axis=0)
        frame = pd.concat([frame, extras], axis=1)
    geometry = gpd.points_from_xy(
        frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float), crs="EPSG:4326"
    )
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


# --- cell parsing ------------------------------------------------------------------------------

_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PAIR: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*[,;]\s*([+-]?\d+(?:\.\d+)?)\s*")


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str | None:
    """A cell as trimmed text; ``None`` when empty. Whole floats lose their ``.0`` (Excel ids)."""
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _float(value: Any) -> tuple[float | None, bool]:
    """Parse a number: ``(value, ok)``; ``(None, True)`` for an empty cell."""
    if _is_missing(value):
        return None, True
    if isinstance(value, bool | np.bool_):
        return None, False
    if isinstance(value, int | float | np.integer | np.floating):
        f = float(value)
        return (f, True) if math.isfinite(f) else (None, False)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if _NUMBER.fullmatch(text):
        f = float(text)
        if math.isfinite(f):
            return f, True
    return None, False


def _code(value: Any, digits: int) -> tuple[str | None, bool]:
    """Parse an administrative code of ``digits`` digits (the 12-digit padded form is accepted)."""
    text = _text(value)
    if text is None:
        return None, True
    text = unicodedata.normalize("NFKC", text)
    if len(text) == digits and text.isascii() and text.isdigit():
        return text, True
    if (
        len(text) == 12
        and text.isascii()
        and text.isdigit()
        and text[digits:] == "0" * (12 - digits)
    ):
        return text[:digits], True
    return None, False


def _lookup(value: Any, table: Mapping[str, str]) -> tuple[str | None, bool]:
    text = _text(value)
    if text is None:
        return None, True
    found = table.get(_norm_value(text))
    return found, found is not None


def _looks_like_pairs(values: Iterable[Any]) -> bool:
    texts = [t for t in (_text(v) for v in values) if t is not None]
    if not texts:
        return False
    hits = sum(bool(_PAIR.fullmatch(unicodedata.normalize("NFKC", t))) for t in texts)
    return hits * 2 >= len(texts)


# --- issues ------------------------------------------------------------------------------------


class _Issues:
    """Collects the issues of one input."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Issue] = []
        self.columns: list[str] = []  # the file's headers: issues of a row go left to right

    def error(self, row: int | None, column: str | None, reason: str, reason_zh: str = "") -> None:
        self.items.append(Issue(self.file, row, column, reason, "error", reason_zh))

    def warn(self, row: int | None, column: str | None, reason: str, reason_zh: str = "") -> None:
        self.items.append(Issue(self.file, row, column, reason, "warning", reason_zh))

    @property
    def has_errors(self) -> bool:
        return any(i.severity == "error" for i in self.items)

    def sorted(self) -> list[Issue]:
        """File-level issues first, then by row, and within a row by column, left to right."""
        order = {c: k for k, c in enumerate(self.columns)}

        def key(i: Issue) -> tuple[bool, int, int]:
            return i.row is not None, i.row or 0, order.get(i.column or "", len(order))

        return sorted(self.items, key=key)


# --- loading files -----------------------------------------------------------------------------

_TABLE_SUFFIXES: Final = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
_VECTOR_SUFFIXES: Final = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".shp": "shapefile",
    ".fgb": "flatgeobuf",
}
_HEADER_SCAN_ROWS: Final = 10


@dataclass
class _Raw:
    """A file's cells before interpretation."""

    frame: pd.DataFrame  # object columns under the original headers, one row per facility
    rows: list[int]  # spreadsheet row (tables) or feature number (vector files) of each row
    fmt: str
    vector: bool = False
    geometry: Any = None  # GeoSeries in EPSG:4326 (vector files)
    typed: pd.DataFrame | None = None  # vector files: the columns with the types read
    field_dtypes: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


#: Share of a decoded text's non-ASCII characters that must be common characters of the
#: encoding it was decoded with (GB2312's, Big5's level 1, JIS level 1) for the decoding to be
#: believed: mojibake (Big5 read as GBK) is mostly rare characters, kana and symbols.
_PLAUSIBLE: Final = 0.85
#: A GB18030 text with fewer common characters is still believed (with a warning) when no other
#: encoding fits and it holds none of the kana, Greek, Cyrillic, box-drawing, pinyin or
#: private-use characters that Big5 or Shift-JIS bytes turn into when read as GBK.
_PLAUSIBLE_RARE: Final = 0.5
_MOJIBAKE: Final = re.compile("[\u0100-\u024f\u0370-\u04ff\u2500-\u257f\u3040-\u30ff\ue000-\uf8ff]")
#: The legacy encodings tried after UTF-8, the codec used and the name reported.
_LEGACY: Final = (
    ("gb18030", "gb18030", "GB18030 (GBK)"),
    ("cp950", "big5", "Big5 (traditional Chinese)"),
    ("cp932", "shift_jis", "Shift-JIS (Japanese)"),
)


@functools.cache
def _common_chars(codec: str) -> frozenset[str]:
    """The commonly used characters of a legacy encoding: its punctuation and full-width forms,
    and the hanzi of GB2312 (gb18030), Big5 level 1 (cp950) or JIS level 1 and kana (cp932)."""
    any_trail = [*range(0x40, 0x7F), *range(0x80, 0xFF)]
    blocks: dict[str, list[tuple[Iterable[int], Iterable[int]]]] = {
        "gb18030": [(range(0xA1, 0xA4), range(0xA1, 0xFF)), (range(0xB0, 0xF8), range(0xA1, 0xFF))],
        "cp950": [(range(0xA1, 0xA4), any_trail), (range(0xA4, 0xC7), any_trail)],
        "cp932": [(range(0x81, 0x84), any_trail), (range(0x88, 0x99), any_trail)],
    }
    decode_as = "gb2312" if codec == "gb18030" else codec
    out: set[str] = set()
    for leads, trails in blocks[codec]:
        for a in leads:
            for b in trails:
                try:
                    char = bytes((a, b)).decode(decode_as)
                except UnicodeDecodeError:
                    continue
                if len(char) == 1:
                    out.add(char)
    return frozenset(out)


def _plausibility(text: str, codec: str) -> float:
    """Share of the non-ASCII characters of ``text`` that are common in ``codec``."""
    wide = [c for c in text[:200_000] if c > "\x7f"]
    if not wide:
        return 1.0
    common = _common_chars(codec)
    return sum(c in common for c in wide) / len(wide)


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when every other byte is mostly zero (ASCII in UTF-16), else None."""
    half = len(data) // 2
    if half < 4 or len(data) % 2:
        return None
    even = data[0::2].count(0) / half
    odd = data[1::2].count(0) / half
    if odd > 0.2 and even < 0.02:
        return "utf-16-le"
    if even > 0.2 and odd < 0.02:
        return "utf-16-be"
    return None


def _sample(text: str) -> str:
    """The first line of ``text`` holding non-ASCII characters, shortened, for messages."""
    for line in text.splitlines():
        if any(c > "\x7f" for c in line):
            return line.strip()[:40]
    return text[:40]


def _decode(data: bytes, encoding: str | None, issues: _Issues) -> tuple[str, str] | None:
    """Decode a CSV's bytes: a byte-order mark first (UTF-8, UTF-16 LE/BE), then strict UTF-8,
    then GB18030, Big5 and Shift-JIS, believed only when they give common characters."""
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            issues.error(
                None,
                None,
                f"cannot decode the file as {encoding}: {exc}",
                f"无法按 {encoding} 编码读取文件",
            )
            return None
    boms = (
        (b"\xef\xbb\xbf", "utf-8-sig", "utf-8-sig"),
        (b"\xff\xfe", "utf-16", "utf-16-le"),
        (b"\xfe\xff", "utf-16", "utf-16-be"),
    )
    for bom, codec, name in boms:
        if data.startswith(bom):
            try:
                return data.decode(codec), name
            except UnicodeDecodeError as exc:
                issues.error(
                    None,
                    None,
                    f"the file starts with a {name} byte-order mark but is not {name} text "
                    f"({exc}); save it again as CSV UTF-8",
                    f"文件开头标明为 {name} 编码，但内容不是，请另存为 CSV UTF-8",
                )
                return None
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError:
            pass
        else:
            issues.warn(
                None,
                None,
                f"the file was read as {utf16.upper()} text (UTF-16 without a byte-order mark); "
                "check the names",
                f"文件按 {utf16.upper()} 编码读取（无 BOM），请核对名称",
            )
            return text, utf16
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    decoded: dict[str, tuple[str, float]] = {}
    for codec, _name, _label in _LEGACY:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        decoded[codec] = (text, _plausibility(text, codec))
    gb = decoded.get("gb18030")
    if gb is not None and gb[1] >= _PLAUSIBLE:
        return gb[0], "gb18030"
    best = max(
        ((score, codec) for codec, (_t, score) in decoded.items() if codec != "gb18030"),
        default=None,
    )
    if best is not None and best[0] >= _PLAUSIBLE and best[0] > (gb[1] if gb else 0.0):
        codec = best[1]
        name, label = next((n, lab) for c, n, lab in _LEGACY if c == codec)
        issues.warn(
            None,
            None,
            f"the file is not UTF-8 or GBK: it was read as {label}, the encoding in which its "
            "characters are common ones; check the names, and save it as CSV UTF-8 to be sure",
            f"文件不是 UTF-8 或 GBK 编码，已按 {label} 读取，请核对名称，建议另存为 CSV UTF-8",
        )
        return decoded[codec][0], name
    if gb is not None and gb[1] >= _PLAUSIBLE_RARE and not _MOJIBAKE.search(gb[0][:200_000]):
        issues.warn(
            None,
            None,
            f"the file was read as GB18030 (GBK), but only {gb[1]:.0%} of its Chinese "
            "characters are common ones (traditional or rare characters?) — check the names, "
            "and save the file as CSV UTF-8 to be sure",
            "文件按 GB18030（GBK）读取，但其中不常用字较多，请核对名称，建议另存为 CSV UTF-8",
        )
        return gb[0], "gb18030"
    tried = "UTF-8, " + ", ".join(label for _c, _n, label in _LEGACY)
    seen = f"; read as GB18030 it would begin {_sample(gb[0])!r}" if gb is not None else ""
    issues.error(
        None,
        None,
        f"cannot tell the file's text encoding: tried {tried}, and none gives plausible "
        f"Chinese text{seen} — save it as CSV UTF-8 (Excel: 另存为 → CSV UTF-8) or pass "
        "encoding=",
        "无法识别文件编码（已尝试 UTF-8、GB18030、Big5、Shift-JIS），请另存为 CSV UTF-8",
    )
    return None


class _Lines:
    """The lines of a text (``\\n``, ``\\r\\n`` or ``\\r``), counted as they are read."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.count = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


def _csv_rows(text: str, issues: _Issues) -> list[list[Any]] | None:
    """The records of a CSV text; ``None`` (with the row named) when quoting is broken.

    A quote that is never closed makes the rest of the file one cell: a cell whose lines look
    like rows of the file (as many separators as the header) stops the reading there. A cell
    too long for the csv parser is an error of its row, and the reading goes on.
    """
    first = text.split("\n", 1)[0]
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    if first.count(delimiter) == 0:
        delimiter = ","
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    rows: list[list[Any]] = []
    spans: list[tuple[int, int]] = []
    while True:
        start = lines.count + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            too_long = "field limit" in str(exc)
            issues.error(
                len(rows) + 1,
                None,
                f"line {start}: a cell is longer than {csv.field_size_limit():,} characters, "
                "which is no facility's data (a quote not closed?); the row was not read"
                if too_long
                else f"line {start}: the row cannot be read as CSV ({exc})",
                "单元格过长（引号未闭合？），该行未读取" if too_long else "该行无法按 CSV 读取",
            )
            rows.append([])
            spans.append((start, lines.count))
            reader = csv.reader(lines, delimiter=delimiter)
            continue
        rows.append(row)
        spans.append((start, lines.count))
    filled = [r for r in rows[: _HEADER_SCAN_ROWS + 1] if any(c.strip() for c in r)]
    header = max(filled, key=len, default=[])  # the header, not a title row above it
    need = max(1, len(header) - 1)  # separators of a row of the file
    for k, (row, (a, b)) in enumerate(zip(rows, spans, strict=True)):
        if b == a:
            continue
        for j, cell in enumerate(row):
            inner = _LINE_BREAK.split(cell)[1:]
            if not inner:
                continue
            rowlike = sum(1 for line in inner if line.count(delimiter) >= need)
            last = k == len(rows) - 1
            if not (rowlike >= 2 or (rowlike and (len(header) >= 4 or last)) or len(inner) > 100):
                continue
            column = header[j] if j < len(header) else f"column {j + 1}"
            end = " to the end of the file" if last else f" to line {b}"
            issues.error(
                k + 1,
                column,
                f"a quoted cell opening on line {a} is not closed where its row ends: it runs "
                f"over {len(inner) + 1} lines{end} and takes in {rowlike} lines that look like "
                'rows of the file, which would be lost; fix the quote (") in this row (a quote '
                'inside a cell is written twice, "") — the rest of the file was not checked',
                f"第 {a} 行起的引号未闭合，吞并了其后 {rowlike} 行数据；请修正该行的引号"
                '（单元格内的引号须写成两个 ""），文件其余部分未检查',
            )
            return None
    return rows


def _xlsx_rows(path: Path, sheet: str | int | None, issues: _Issues) -> list[list[Any]] | None:
    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and data validation it does not read: not our business.
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken files
        issues.error(None, None, f"cannot open the workbook: {exc}", "无法打开 Excel 文件")
        return None
    try:
        names = list(book.sheetnames)
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                issues.error(
                    None,
                    None,
                    f"sheet index {sheet} does not exist; sheets are {names}",
                    f"工作表序号 {sheet} 不存在",
                )
                return None
            ws = book.worksheets[sheet]
        elif sheet in names:
            ws = book[sheet]
        elif sheet.isdigit() and int(sheet) < len(names):  # "0" from a command line
            ws = book.worksheets[int(sheet)]
        else:
            issues.error(
                None,
                None,
                f"sheet {sheet!r} does not exist; sheets are {names}",
                f"工作表 {sheet!r} 不存在",
            )
            return None
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()


def _table_from_rows(rows: list[list[Any]], fmt: str, issues: _Issues) -> _Raw:
    """Find the header row, and turn the cells below it into a frame with their row numbers."""

    def known(cells: list[Any]) -> int:
        return sum(
            1 for c in cells if (t := _text(c)) is not None and _norm_header(t) in _HEADER_LOOKUP
        )

    nonempty = [i for i, r in enumerate(rows) if any(not _is_missing(c) for c in r)]
    header_at = nonempty[0] if nonempty else 0
    for i in nonempty[:_HEADER_SCAN_ROWS]:
        if known(rows[i]) >= 2:
            header_at = i
            break
    if nonempty and header_at != nonempty[0]:
        issues.warn(
            None,
            None,
            f"the header is on row {header_at + 1}; the rows above it were taken as a title",
            f"表头在第 {header_at + 1} 行，其上各行视为标题",
        )
    header_cells = rows[header_at] if rows else []
    body = rows[header_at + 1 :]
    width = max([len(header_cells), *(len(r) for r in body)], default=0)
    headers: list[str] = []
    keep: list[int] = []
    seen: dict[str, int] = {}
    for j in range(width):
        h = _text(header_cells[j]) if j < len(header_cells) else None
        has_data = any(j < len(r) and not _is_missing(r[j]) for r in body)
        if h is None:
            if not has_data:
                continue
            h = f"column_{j + 1}"
            issues.warn(
                None, h, f"column {j + 1} has data but no header", f"第 {j + 1} 列有数据但无表头"
            )
        if h in seen:
            seen[h] += 1
            new = f"{h}.{seen[h]}"
            issues.warn(
                None, h, f"duplicate header {h!r} renamed {new!r}", f"表头重复，改名为 {new}"
            )
            h = new
        else:
            seen[h] = 0
        headers.append(h)
        keep.append(j)
    records: list[list[Any]] = []
    numbers: list[int] = []
    for offset, r in enumerate(body):
        cells = [r[j] if j < len(r) else None for j in keep]
        if all(_is_missing(c) for c in r):
            continue  # a blank line is not a facility
        records.append(cells)
        numbers.append(header_at + 2 + offset)
    frame = pd.DataFrame(records, columns=headers, dtype=object)
    if not records:
        frame = pd.DataFrame({h: pd.Series([], dtype=object) for h in headers})
    return _Raw(frame=frame, rows=numbers, fmt=fmt, attrs={"header_row": header_at + 1})


def _load_vector(path: Path, fmt: str, layer: str | None, issues: _Issues) -> _Raw | None:
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        issues.error(None, None, f"cannot open the file: {exc}", "无法打开文件")
        return None
    if layer is None:
        if len(layers) == 1:
            layer = layers[0]
        elif "facilities" in layers:
            layer = "facilities"
        else:
            issues.error(
                None,
                None,
                f"the file has several layers {layers}; choose one with layer=",
                "文件有多个图层，请用 layer= 指定",
            )
            return None
    elif layer not in layers:
        issues.error(
            None, None, f"layer {layer!r} not found; layers are {layers}", f"图层 {layer} 不存在"
        )
        return None
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        issues.error(None, None, f"cannot read layer {layer!r}: {exc}", "无法读取图层")
        return None
    dtypes = {str(f): str(d) for f, d in zip(info["fields"], info["dtypes"], strict=True)}
    attrs: dict[str, Any] = {"layer": layer}
    geometry = gdf.geometry
    if gdf.crs is None:
        issues.warn(
            None,
            None,
            "the file has no coordinate reference system; its coordinates were taken as WGS84",
            "文件未标明坐标参考系，按 WGS84 读取",
        )
        geometry = geometry.set_crs("EPSG:4326")
    else:
        attrs["source_crs"] = pyproj.CRS(gdf.crs).to_string()
        if not pyproj.CRS(gdf.crs).equals(pyproj.CRS("EPSG:4326"), ignore_axis_order=True):
            geometry = geometry.to_crs("EPSG:4326")
    typed = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
    return _Raw(
        frame=typed.astype(object),
        typed=typed,
        rows=list(range(1, len(gdf) + 1)),
        fmt=fmt,
        vector=True,
        geometry=geometry.reset_index(drop=True),
        field_dtypes=dtypes,
        attrs=attrs,
    )


def _load(
    path: Path, *, sheet: str | int | None, layer: str | None, encoding: str | None, issues: _Issues
) -> _Raw | None:
    if not path.is_file():
        issues.error(None, None, "file not found", "文件不存在")
        return None
    suffix = path.suffix.lower()
    if suffix in _VECTOR_SUFFIXES:
        return _load_vector(path, _VECTOR_SUFFIXES[suffix], layer, issues)
    fmt = _TABLE_SUFFIXES.get(suffix)
    if fmt is None:
        known = ", ".join(sorted({*_TABLE_SUFFIXES, *_VECTOR_SUFFIXES}))
        hint = " (save old .xls files as .xlsx)" if suffix == ".xls" else ""
        issues.error(
            None,
            None,
            f"unsupported file type {suffix or '(none)'!r}{hint}; use one of {known}",
            f"不支持的文件类型 {suffix}",
        )
        return None
    if fmt == "xlsx":
        rows = _xlsx_rows(path, sheet, issues)
        if rows is None:
            return None
        return _table_from_rows(rows, fmt, issues)
    data = path.read_bytes()
    if not data.strip():
        issues.error(
            None,
            None,
            "the file is empty: it holds no header and no facility rows",
            "文件为空，没有表头和机构数据行",
        )
        return None
    decoded = _decode(data, encoding, issues)
    if decoded is None:
        return None
    text, used = decoded
    records = _csv_rows(text, issues)
    if records is None:
        return None
    raw = _table_from_rows(records, fmt, issues)
    raw.attrs["encoding"] = used
    return raw


# --- extra columns -----------------------------------------------------------------------------


def _extra_vector(series: pd.Series, declared: str | None) -> Any:
    """Type an extra column of a vector file by the field type the file declares.

    Integer and boolean fields with nulls come back from GDAL as floats: they are made
    ``Int64``/``boolean`` again, so that a written registry reads back with its dtypes.
    """
    values = series.tolist()
    if declared is not None and declared.startswith(("int", "uint")):
        ints = [None if _is_missing(v) else int(v) for v in values]
        if all(v is None or -(2**63) <= v < 2**63 for v in ints):
            return pd.array(ints, dtype="Int64")
        return _extra_from_cells(values, "vector")
    if declared is not None and declared.startswith("float"):
        return pd.array([None if _is_missing(v) else float(v) for v in values], dtype="Float64")
    if declared == "bool":
        return pd.array([None if _is_missing(v) else bool(v) for v in values], dtype="boolean")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.array
    return _extra_from_cells(values, "vector")


def _extra_from_cells(values: list[Any], fmt: str) -> Any:
    """Type an extra column: CSV cells stay text; Excel cells keep their types."""
    if fmt == "csv":
        return pd.array([None if v is None or v == "" else v for v in values], dtype="string")
    present = [v for v in values if not _is_missing(v)]
    nulls = [None if _is_missing(v) else v for v in values]
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return pd.array(nulls, dtype="boolean")
    if present and all(
        isinstance(v, int | np.integer)
        and not isinstance(v, bool | np.bool_)
        and -(2**63) <= int(v) < 2**63  # a larger whole number stays text, exactly as written
        for v in present
    ):
        return pd.array(nulls, dtype="Int64")
    if present and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
        for v in present
    ):
        return pd.array([None if v is None else float(v) for v in nulls], dtype="Float64")
    if present and all(isinstance(v, dt.datetime) for v in present):
        return pd.array(pd.to_datetime(pd.Series(nulls, dtype=object)).astype("datetime64[ms]"))
    return pd.array(
        [None if v is None else v if isinstance(v, str) else _text(v) or str(v) for v in nulls],
        dtype="string",
    )


# --- POI kinds ---------------------------------------------------------------------------------


def _keyword_table(
    extra: Mapping[str, Iterable[str]] | None,
) -> dict[str, tuple[str, ...]]:
    table = {k: tuple(v.keywords) for k, v in KINDS.items()}
    for kind, words in (extra or {}).items():
        if kind not in KINDS:
            msg = f"kind_keywords names unknown kind {kind!r}; kinds are {', '.join(KINDS)}"
            raise ValueError(msg)
        if isinstance(words, str):
            words = [words]
        table[kind] = (*table[kind], *(str(w) for w in words))
    return table


def _match_kinds(text: str, keywords: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Kinds whose keywords occur in ``text``; a match inside a longer one of another kind loses."""
    norm = unicodedata.normalize("NFKC", text).casefold()
    found: list[tuple[int, int, str]] = []
    for kind, words in keywords.items():
        if any(unicodedata.normalize("NFKC", e).casefold() in norm for e in KINDS[kind].exclude):
            continue
        for word in words:
            w = unicodedata.normalize("NFKC", word).casefold()
            if not w:
                continue
            start = norm.find(w)
            while start != -1:
                found.append((start, start + len(w), kind))
                start = norm.find(w, start + 1)
    kept = [
        (s, e, k)
        for s, e, k in found
        if not any(k2 != k and s2 <= s and e2 >= e and (e2 - s2) > (e - s) for s2, e2, k2 in found)
    ]
    order: list[str] = []
    for _, _, k in sorted(kept):
        if k not in order:
            order.append(k)
    return order


def infer_kind(
    name: str,
    poi_type: str | None = None,
    *,
    keywords: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Return the kinds a web-map POI may be, from its name and its POI type string.

    Keywords come from ``kinds.yaml`` (``keywords``; ``exclude`` vetoes a kind, so a 宠物医院 is
    no hospital). Within one text, a keyword match lying inside a longer match of another kind
    loses (the more specific keyword wins). The name decides first; the POI type (such as Amap's
    ``"医疗保健服务;综合医院;卫生院"``, read from its most specific segment backwards) is used when
    the name matches no kind, and to choose among several kinds the name matches when it agrees
    with exactly one of them. A name matching unrelated kinds (``"X镇卫生院敬老院"``) otherwise
    returns them all: the caller reports it rather than guess.

    Parameters
    ----------
    name
        The POI's name.
    poi_type
        The POI's type or tag string, if any.
    keywords
        Extra keywords by kind, added to those of the table.

    Returns
    -------
    list of str
        Matching kinds, in the order they appear in the text; empty when none matches.

    Examples
    --------
    >>> infer_kind("龙门镇中心卫生院")
    ['health_center']
    >>> infer_kind("南充市第三人民医院", "医疗保健服务;综合医院;综合医院")
    ['hospital']
    >>> infer_kind("某镇卫生院敬老院")
    ['health_center', 'nursing_home']
    >>> infer_kind("爱心宠物医院")
    []
    """
    table = _keyword_table(keywords)
    by_name = _match_kinds(name or "", table)
    if len(by_name) == 1:
        return by_name
    by_type: list[str] = []
    if poi_type:
        text = unicodedata.normalize("NFKC", poi_type)
        segments = [s for s in re.split(r"[;|/]", text) if s.strip()]
        for segment in [*reversed(segments), text]:
            by_type = _match_kinds(segment, table)
            if by_type:
                break
    if not by_name:
        return by_type
    agreed = [k for k in by_name if k in by_type]
    return agreed if len(agreed) == 1 else by_name


# --- ids ---------------------------------------------------------------------------------------

_ID_SEQ: Final = re.compile(r"(?P<prefix>.+)-(?P<seq>\d+)")


def _id_prefix(kind: str, county: str | None) -> str:
    return f"{KINDS[kind].id_code}-{county or '000000'}"


def _fill_ids(
    ids: Sequence[str | None],
    kinds: Sequence[str | None],
    counties: Sequence[str | None],
    *,
    existing: Iterable[str] = (),
    id_prefix: str | None = None,
) -> list[str]:
    taken = {i for i in ids if i is not None} | set(existing)
    top: dict[str, int] = {}
    for t in taken:
        m = _ID_SEQ.fullmatch(t)
        if m:
            top[m["prefix"]] = max(top.get(m["prefix"], 0), int(m["seq"]))
    out: list[str] = []
    for pos, (i, k, c) in enumerate(zip(ids, kinds, counties, strict=True)):
        if i is not None:
            out.append(i)
            continue
        if id_prefix is not None:
            prefix = id_prefix
        elif k in KINDS:
            prefix = _id_prefix(k, c)
        else:
            msg = f"row {pos + 1} has no id and an unknown kind {k!r}; cannot make an id"
            raise ValueError(msg)
        seq = top.get(prefix, 0) + 1
        while f"{prefix}-{seq:05d}" in taken:
            seq += 1
        new = f"{prefix}-{seq:05d}"
        top[prefix] = seq
        taken.add(new)
        out.append(new)
    return out


def make_ids(
    frame: pd.DataFrame,
    *,
    existing: Iterable[str] = (),
    id_prefix: str | None = None,
) -> pd.Series:
    """Return the ids of a frame's facilities, making ``<KINDCODE>-<county>-<seq>`` where missing.

    A row keeps its id if it has one (``id`` column, or an index named ``id``); a row without
    gets ``<id_code>-<county_code>-<seq:05d>`` (``NH-511302-00001``; county ``000000`` when
    unknown), numbered in row order after the highest number already used with that prefix in
    the frame or in ``existing``. The same frame gives the same ids.

    Parameters
    ----------
    frame
        Facilities with a ``kind`` column (keys of :data:`KINDS`) and optionally ``county_code``
        and ``id``.
    existing
        Ids already in use elsewhere (an existing registry), never reused.
    id_prefix
        Use ``<id_prefix>-<seq:05d>`` instead of the kind and county prefix.

    Returns
    -------
    pandas.Series
        ``string`` ids aligned to ``frame.index``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"kind": ["nursing_home"] * 2, "county_code": ["511302", None]})
    >>> make_ids(f).tolist()
    ['NH-511302-00001', 'NH-000000-00001']
    """
    n = len(frame)
    if "id" in frame.columns:
        ids = [_text(v) for v in frame["id"]]
    elif frame.index.name == "id":
        ids = [_text(v) for v in frame.index]
    else:
        ids = [None] * n
    kinds = [_text(v) for v in frame["kind"]] if "kind" in frame.columns else [None] * n
    counties = (
        [_code(v, 6)[0] for v in frame["county_code"]]
        if "county_code" in frame.columns
        else [None] * n
    )
    out = _fill_ids(ids, kinds, counties, existing=existing, id_prefix=id_prefix)
    return pd.Series(out, index=frame.index, dtype="string", name="id")


# --- coordinate checks -------------------------------------------------------------------------


def _boundary_geometry(boundary: Any) -> Any:
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        geoms = boundary.geometry if isinstance(boundary, gpd.GeoDataFrame) else boundary
        if geoms.crs is not None and not pyproj.CRS(geoms.crs).equals(
            pyproj.CRS("EPSG:4326"), ignore_axis_order=True
        ):
            geoms = geoms.to_crs("EPSG:4326")
        return shapely.union_all(np.asarray(geoms.array))
    if isinstance(boundary, shapely.Geometry):
        return boundary
    msg = (
        "boundary must be a shapely geometry, GeoSeries or GeoDataFrame in EPSG:4326, "
        f"got {type(boundary).__name__}"
    )
    raise TypeError(msg)


def _outside_m(lon: FloatArray, lat: FloatArray, boundary: Any) -> FloatArray:
    """Distance in metres of each point outside ``boundary`` (0 inside), in the metric CRS."""
    geom = _boundary_geometry(boundary)
    metric = _crs.metric_crs(geom)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    area = shapely.transform(geom, lambda xy: np.column_stack(to_metric.transform(*xy.T)))
    x, y = to_metric.transform(lon, lat)
    return np.asarray(shapely.distance(shapely.points(x, y), area), dtype=np.float64)


_SEAT_RADIUS_M: Final = 1_500.0
_SEAT_MIN_POINTS: Final = 3
_REFERENCE_COLUMNS: Final = ("lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02")


@dataclass(frozen=True)
class _Evidence:
    verdict: str | None  # "gcj02", "wgs84" or None (undecided)
    n: int
    median_gcj: float
    median_wgs: float

    def text(self) -> str:
        if self.verdict == "gcj02":
            return (
                f"the coordinates fit GCJ-02 offsets: {self.n} points lie within 1.5 km of a "
                f"township seat, a median {self.median_gcj:.0f} m from the seats' GCJ-02 "
                f"positions against {self.median_wgs:.0f} m from their WGS84 ones"
            )
        return (
            f"the coordinates fit WGS84: {self.n} points lie within 1.5 km of a township seat, a "
            f"median {self.median_wgs:.0f} m from the seats' WGS84 positions against "
            f"{self.median_gcj:.0f} m from their GCJ-02 ones"
        )

    def text_zh(self) -> str:
        which = "GCJ-02（火星坐标）" if self.verdict == "gcj02" else "WGS84"
        return f"坐标与乡镇驻地的 {which} 位置吻合"


def _evidence(lon: FloatArray, lat: FloatArray, reference: pd.DataFrame) -> _Evidence | None:
    """Do the points sit closer to the GCJ-02 or the WGS84 positions of nearby township seats?"""
    from scipy.spatial import cKDTree

    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.sum() < _SEAT_MIN_POINTS:
        return None
    ref = reference.loc[:, list(_REFERENCE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    ref = ref.dropna()
    if ref.empty:
        return None
    metric = _crs.metric_crs((float(np.median(lon[ok])), float(np.median(lat[ok]))))
    tf = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    px, py = tf.transform(lon[ok], lat[ok])
    wx, wy = tf.transform(ref["lon_wgs84"].to_numpy(float), ref["lat_wgs84"].to_numpy(float))
    gx, gy = tf.transform(ref["lon_gcj02"].to_numpy(float), ref["lat_gcj02"].to_numpy(float))
    points = np.column_stack([px, py])
    d_wgs, _ = cKDTree(np.column_stack([wx, wy])).query(points)
    d_gcj, _ = cKDTree(np.column_stack([gx, gy])).query(points)
    near = np.minimum(d_wgs, d_gcj) <= _SEAT_RADIUS_M
    n = int(near.sum())
    if n < _SEAT_MIN_POINTS:
        return None
    med_w = float(np.median(d_wgs[near]))
    med_g = float(np.median(d_gcj[near]))
    gain = settings.gcj_detect_min_gain
    verdict = None
    if med_g <= med_w * (1.0 - gain):
        verdict = "gcj02"
    elif med_w <= med_g * (1.0 - gain):
        verdict = "wgs84"
    return _Evidence(verdict, n, med_g, med_w)


def _check_reference(reference: Any, issues: _Issues) -> pd.DataFrame | None:
    if reference is None:
        return None
    if not isinstance(reference, pd.DataFrame):
        issues.error(
            None,
            None,
            f"reference_points must be a DataFrame, got {type(reference).__name__}",
            "reference_points 参数须为表格",
        )
        return None
    missing = [c for c in _REFERENCE_COLUMNS if c not in reference.columns]
    if missing:
        issues.error(
            None,
            None,
            f"reference_points lacks columns {missing} (needs {list(_REFERENCE_COLUMNS)})",
            "reference_points 缺少坐标列",
        )
        return None
    return reference


# --- the checks --------------------------------------------------------------------------------

_POI_SOURCES: Final = {
    "amap": _crs.GCJ02,
    "gaode": _crs.GCJ02,
    "高德": _crs.GCJ02,
    "tencent": _crs.GCJ02,
    "qq": _crs.GCJ02,
    "腾讯": _crs.GCJ02,
    "baidu": _crs.BD09,
    "百度": _crs.BD09,
}


@dataclass
class _Options:
    crs: str | None = None
    poi_source: str | None = None
    boundary: Any = None
    margin_m: float = 0.0
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reference: pd.DataFrame | None = None


def _options(
    *,
    crs: str | None,
    boundary: Any,
    margin_m: float | None,
    poi_source: str | None,
    kind_keywords: Mapping[str, Iterable[str]] | None,
    reference_points: Any,
    issues: _Issues,
) -> _Options:
    """Check the arguments; problems become file-level issues, like the file's own."""
    opts = _Options()
    if crs is not None:
        try:
            opts.crs = _crs.normalize_crs_name(crs)
        except (_crs.CRSError, TypeError) as exc:
            issues.error(None, None, f"argument crs: {exc}", "参数 crs 无法识别")
    if poi_source is not None:
        opts.poi_source = _POI_SOURCES.get(_norm_value(str(poi_source)))
        if opts.poi_source is None:
            issues.error(
                None,
                None,
                f"argument poi_source {poi_source!r} is not one of amap, tencent, baidu",
                "参数 poi_source 须为 amap、tencent 或 baidu",
            )
    if boundary is not None:
        try:
            geom = _boundary_geometry(boundary)
        except TypeError as exc:
            issues.error(None, None, f"argument boundary: {exc}", "参数 boundary 无效")
        else:
            if geom is None or geom.is_empty:
                issues.error(None, None, "argument boundary is empty", "参数 boundary 为空")
            else:
                opts.boundary = geom
    margin = settings.outside_region_margin_m if margin_m is None else margin_m
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin >= 0):
        issues.error(
            None, None, f"argument margin_m must be metres >= 0, got {margin!r}", "margin_m 无效"
        )
        margin = 0.0
    opts.margin_m = float(margin)
    try:
        opts.keywords = _keyword_table(kind_keywords)
    except (ValueError, TypeError) as exc:
        issues.error(None, None, f"argument kind_keywords: {exc}", "参数 kind_keywords 无效")
        opts.keywords = _keyword_table(None)
    opts.reference = _check_reference(reference_points, issues)
    return opts


def _accepted_kinds() -> str:
    parts = [f"{k} ({', '.join(v.aliases[:3])} ...)" for k, v in KINDS.items()]
    return "; ".join(parts) + " — see siting/data/kinds.yaml for every alias"


def _accepted(table: Mapping[str, Iterable[Any]]) -> str:
    return "; ".join(f"{k} ({', '.join(str(a) for a in v)})" for k, v in table.items())


#: Facilities closer than this (metres) count as on one point (:meth:`_Reading.same_point`).
_SAME_POINT_M: Final = 1.0
#: How many differently named facilities on one point make a probable geocoder fallback.
_SAME_POINT_MIN: Final = 3
#: Headers of a district column (kept as an extra column), named in the same-point warning.
_DISTRICT_HEADERS: Final = frozenset(
    _norm_header(h)
    for h in (
        "district",
        "区",
        "区县",
        "县区",
        "区县名称",
        "所属区县",
        "所在区县",
        "所属区",
        "行政区",
        "行政区划",
        "adname",
        "county",
        "county_name",
    )
)


def district_column(frame: pd.DataFrame) -> str | None:
    """The first column of ``frame`` whose header names a district (区县, 所属区县, district ...).

    >>> district_column(pd.DataFrame(columns=["name", "所属区县", "lng"]))
    '所属区县'
    >>> district_column(pd.DataFrame(columns=["name"])) is None
    True
    """
    return next(
        (
            str(c)
            for c in frame.columns
            if isinstance(c, str) and _norm_header(c) in _DISTRICT_HEADERS
        ),
        None,
    )


_ZH_NAMES: Final = {
    "ownership": "性质",
    "operation": "运营方式",
    "level": "等级",
    "location": "定位方式",
    "beds": "床位数",
    "capacity": "容量",
}

_LEVEL_PREFIX: Final = re.compile(
    r"^\s*[(\[【（]?\s*(?:III|II|I|[一二三123])\s*级\s*(?:[特甲乙丙]\s*等)?\s*[)\]】）]?\s*"
    r"|^\s*[(\[【（]?\s*[一二三][甲乙丙]\s*[)\]】）]?\s*"
)
_LEVEL_SUFFIX: Final = re.compile(
    r"\s*[(\[【（]\s*(?:III|II|I|[一二三123])\s*级\s*(?:[特甲乙丙]\s*等)?\s*[)\]】）]\s*$"
    r"|\s*[(\[【（]\s*[一二三][甲乙丙]\s*[)\]】）]\s*$"
)


def _kind_with_level(text: str) -> str | None:
    """The kind of a kind cell that also names a level (``三级甲等医院``, ``医院（二级）``)."""
    norm = unicodedata.normalize("NFKC", text)
    rest = _LEVEL_SUFFIX.sub("", _LEVEL_PREFIX.sub("", norm, count=1), count=1)
    if rest == norm or not rest.strip():
        return None
    return _KIND_LOOKUP.get(_norm_value(rest))


#: The categorical columns, what their values are called, and the header to suggest.
_VOCABULARY_LABELS: Final = {
    "kind": ("facility kinds (机构类型)", "机构类型"),
    "operation": ("operation modes (运营方式)", "运营方式"),
    "ownership": ("ownership values (公办/民办)", "性质"),
    "level": ("hospital levels (医院等级)", "医院等级"),
    "location": ("point qualities (定位方式)", "定位方式"),
}
#: The vocabularies a categorical column accepts (ownership and operation take each other's).
_ACCEPTS: Final = {
    "kind": ("kind",),
    "operation": ("operation", "ownership"),
    "ownership": ("ownership", "operation"),
    "level": ("level",),
    "location": ("location",),
}


def _in_vocabulary(vocabulary: str, text: str) -> bool:
    """Whether ``text`` is exactly a value (or alias) of a categorical column's table."""
    norm = _norm_value(text)
    table = {
        "kind": _KIND_LOOKUP,
        "operation": _OPERATION_LOOKUP,
        "ownership": _OWNERSHIP_LOOKUP,
        "level": _LEVEL_LOOKUP,
        "location": _LOCATION_LOOKUP,
    }[vocabulary]
    return norm in table


def _accepted_in(canon: str, text: str) -> bool:
    """Whether a cell of column ``canon`` can be read (levels and kinds also from free text)."""
    if canon == "level":
        return parse_level(text) is not None
    if canon == "kind" and _kind_with_level(text) is not None:
        return True
    return any(_in_vocabulary(v, text) for v in _ACCEPTS[canon])


#: Values too plain to tell which column they belong to (a kind coded 1, 2, 3 is no level).
_PLAIN_VALUES: Final = frozenset({"无", "none", "是", "否", "yes", "no", "其他", "其它", "other"})


def _other_vocabulary(canon: str, text: str) -> str | None:
    """The other categorical column whose table holds ``text`` (``公建民营`` in a kind column)."""
    norm = _norm_value(text)
    if norm.isdigit() or norm in _PLAIN_VALUES:
        return None
    for other in _VOCABULARY_LABELS:
        if other not in _ACCEPTS[canon] and _in_vocabulary(other, text):
            return other
    return None


def _rows_text(rows: Sequence[int], limit: int = 10) -> str:
    """``"2, 3, 5"`` or ``"2, 3, 5 … (12 rows)"``."""
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown if len(rows) <= limit else f"{shown} … ({len(rows)} rows)"


class _Reading:
    """Interpret a loaded file, one step per method; every problem becomes an issue.

    The steps run in order (:meth:`run`) and never stop early, so that a planner sees every
    problem of the file at once; the registry is assembled only when there is no error.
    """

    def __init__(self, raw: _Raw, opts: _Options, issues: _Issues) -> None:
        self.raw = raw
        self.opts = opts
        self.issues = issues
        self.frame = raw.frame
        self.n = len(raw.frame)
        self.rows = raw.rows
        self.headers = [str(h) for h in raw.frame.columns]
        issues.columns = self.headers
        self.normalized = {_norm_header(h) for h in self.headers}
        self.by_canon = self._map_headers()
        if raw.vector:
            self.coords = "geometry"
        elif "lon" in self.by_canon and "lat" in self.by_canon:
            self.coords = "columns"
        elif "lnglat" in self.by_canon:
            self.coords = "pairs"
        else:
            self.coords = ""
        #: A web-map POI export: "lng,lat" coordinates, or Amap's typecode / Baidu's uid.
        self.poi = not raw.vector and (
            self.coords == "pairs" or bool({"typecode", "uid"} & self.normalized)
        )
        self.kind_is_type = False  # a POI export's 类型/type column holding POI type strings
        #: Categorical columns whose values are another column's vocabulary: the canonical
        #: column, the other column, the number of such cells, the filled cells, examples.
        self.confused: dict[str, tuple[str, int, int, list[str]]] = {}
        raw.attrs["poi_export"] = self.poi

    # --- helpers ----------------------------------------------------------------------------

    def cells(self, canon: str) -> list[Any]:
        """The cells of a canonical column (all ``None`` when the file lacks it or it holds
        another column's values)."""
        h = self.by_canon.get(canon)
        if h is None or canon in self.confused:
            return [None] * self.n
        return self.frame[h].tolist()

    def where(self, canon: str) -> str:
        """The file's header of a canonical column, for issues."""
        return self.by_canon.get(canon, canon)

    @property
    def point_column(self) -> str:
        if self.coords == "geometry":
            return _GEOMETRY
        return self.where("lnglat" if self.coords == "pairs" else "lon")

    # --- steps ------------------------------------------------------------------------------

    def _map_headers(self) -> dict[str, str]:
        by_canon: dict[str, str] = {}
        for h in self.headers:
            canon = _HEADER_LOOKUP.get(_norm_header(h))
            if canon is None:
                continue
            if canon in by_canon:
                self.issues.error(
                    None,
                    h,
                    f"columns {by_canon[canon]!r} and {h!r} both give {canon!r}; keep one",
                    f"列 {by_canon[canon]} 与 {h} 含义相同，请保留一列",
                )
                continue
            by_canon[canon] = h
        # A "location" column of "lng,lat" values (web-map exports) holds coordinates, not the
        # point quality of the registry's location column.
        if "location" in by_canon and _looks_like_pairs(self.frame[by_canon["location"]]):
            header = by_canon.pop("location")
            by_canon.setdefault("lnglat", header)
        return by_canon

    def required_columns(self) -> None:
        found = ", ".join(repr(h) for h in self.headers) or "none"
        required = ["name"]  # without a kind column, the kinds are inferred from the names
        if not self.coords:
            required += ["lon", "lat"]
        for c in required:
            if c in self.by_canon:
                continue
            zh = _ZH.get(c, c)
            aliases = ", ".join(a for a, v in COLUMN_ALIASES.items() if v == c)
            extra = (
                " (or one 'location'/经纬度 column holding 'lng,lat')"
                if c in ("lon", "lat")
                else ""
            )
            self.issues.error(
                None,
                c,
                f"required column {c!r} ({zh}) is missing{extra}; accepted headers: {aliases}; "
                f"columns found: {found}",
                f"缺少必需列“{zh}”；文件中的列：{found}",
            )

    def names(self) -> list[str | None]:
        names = [_text(v) for v in self.cells("name")]
        if "name" in self.by_canon:
            for i, v in enumerate(names):
                if v is None:
                    self.issues.error(self.rows[i], self.where("name"), "name is empty", "名称为空")
        return names

    def sizes(self) -> None:
        """A cell longer than Excel allows is not facility data (a quote not closed?)."""
        for h in self.headers:
            for i, v in enumerate(self.frame[h].tolist()):
                if isinstance(v, str) and len(v) > _MAX_CELL_CHARS:
                    self.issues.error(
                        self.rows[i],
                        h,
                        f"the cell holds {len(v):,} characters, more than the {_MAX_CELL_CHARS:,} "
                        "of an Excel cell: no facility's data is that long (a quote not closed?)",
                        f"单元格长达 {len(v):,} 个字符，超过 Excel 单元格上限，不是机构数据",
                    )

    def vocabularies(self) -> None:
        """A categorical column holding another column's values is said once, with the count.

        A ``type`` column of 公建民营/民建民营 read as the kind column gives one error (the kinds
        are then inferred from the names, so that the rest of the file is still checked), not
        one per row; an optional column (ownership, operation, level, point quality) holding
        another column's values gives one warning and is kept as an extra column.
        """
        for canon in _VOCABULARY_LABELS:
            header = self.by_canon.get(canon)
            if header is None:
                continue
            counts: dict[str, int] = {}
            for v in self.frame[header].tolist():
                if (t := _text(v)) is not None:
                    counts[t] = counts.get(t, 0) + 1
            others: dict[str, dict[str, int]] = {}
            for t, count in counts.items():  # each distinct value once
                if _accepted_in(canon, t):
                    continue
                other = _other_vocabulary(canon, t)
                if other is not None:
                    others.setdefault(other, {})[t] = count
            if not others:
                continue
            other, values = max(others.items(), key=lambda kv: sum(kv[1].values()))
            hits, filled = sum(values.values()), sum(counts.values())
            if hits * 2 < filled:
                continue  # a few stray values: each is reported on its row
            examples = list(values)[:4]
            self.confused[canon] = (other, hits, filled, examples)
            if canon != "kind":  # the kind column's error is given with the inferred kinds
                self.issues.warn(None, header, *self._confusion_text(canon, " (ignored)"))

    def _confusion_text(self, canon: str, tail: str = "") -> tuple[str, str]:
        other, count, filled, examples = self.confused[canon]
        header = self.by_canon[canon]
        label = _VOCABULARY_LABELS[other][0]
        suggest = _VOCABULARY_LABELS[other][1]
        more = " …" if count > len(examples) else ""
        reason = (
            f"column {header!r} (read as {canon}) holds {label}: {', '.join(examples)}{more} "
            f"in {count} of {filled} rows{tail}; it looks like the {other} column — rename it "
            f"to {suggest} (or {other})"
        )
        if canon == "kind":
            reason += ", and give the kinds in a 机构类型 column or leave them to the names"
        reason_zh = (
            f"列“{header}”被读作{_ZH_NAMES.get(canon, '类型')}，但 {count} 行填的是"
            f"{_ZH_NAMES.get(other, '类型')}（{'、'.join(examples)}），请将列名改为“{suggest}”"
        )
        return reason, reason_zh

    def unknown_values(self, canon: str, unknown: Mapping[str, list[int]], accepted: str) -> None:
        """Unknown values of an optional categorical column: a warning per value, never an
        error; the cells stay empty."""
        zh = _ZH_NAMES.get(canon, canon)
        for text, positions in unknown.items():
            rows = [self.rows[i] for i in positions]
            other = _other_vocabulary(canon, text)
            hint = f" (a value of the {other} column)" if other else ""
            also = f" (also rows {_rows_text(rows[1:])})" if len(rows) > 1 else ""
            self.issues.warn(
                rows[0],
                self.where(canon),
                f"unknown {canon} {text!r}{hint}{also}, left empty; accepted: {accepted}",
                f"无法识别的{zh}“{text}”，已留空" + (f"（共 {len(rows)} 行）" if also else ""),
            )

    def lookup(self, canon: str, table: Mapping[str, str], accepted: str) -> list[str | None]:
        """An optional categorical column through its alias table (point quality)."""
        out: list[str | None] = []
        unknown: dict[str, list[int]] = {}
        for i, v in enumerate(self.cells(canon)):
            value, ok = _lookup(v, table)
            if not ok:
                unknown.setdefault(str(_text(v)), []).append(i)
            out.append(value)
        self.unknown_values(canon, unknown, accepted)
        return out

    def ownership_operation(self) -> tuple[list[str | None], list[str | None]]:
        """``ownership`` (public/private) and ``operation`` (运营方式), from either column.

        An operation mode written in the ownership column (性质: 公建民营) gives both; the
        ownership of a row without one is the one its operation mode implies
        (``siting/data/operation_modes.yaml``).
        """
        own_cells = [_text(v) for v in self.cells("ownership")]
        op_cells = [_text(v) for v in self.cells("operation")]
        ownership: list[str | None] = []
        operation: list[str | None] = []
        unknown: dict[str, dict[str, list[int]]] = {"ownership": {}, "operation": {}}
        for i, (own_t, op_t) in enumerate(zip(own_cells, op_cells, strict=True)):
            given = mode_in_own = mode = own_in_op = None
            if own_t is not None:
                given = _OWNERSHIP_LOOKUP.get(_norm_value(own_t))
                if given is None:
                    mode_in_own = _OPERATION_LOOKUP.get(_norm_value(own_t))
                    if mode_in_own is None:
                        unknown["ownership"].setdefault(own_t, []).append(i)
            if op_t is not None:
                mode = _OPERATION_LOOKUP.get(_norm_value(op_t))
                if mode is None:
                    own_in_op = _OWNERSHIP_LOOKUP.get(_norm_value(op_t))
                    if own_in_op is None:
                        unknown["operation"].setdefault(op_t, []).append(i)
            if mode is not None and mode_in_own is not None and mode != mode_in_own:
                self.issues.warn(
                    self.rows[i],
                    self.where("operation"),
                    f"operation {mode} disagrees with the ownership column ({own_t!r}); the "
                    "operation column was used",
                    f"运营方式“{mode}”与性质列“{own_t}”不一致，以运营方式列为准",
                )
            mode = mode or mode_in_own
            implied = _OPERATION_OWNERSHIP.get(mode) if mode is not None else None
            value = given or own_in_op or implied
            if value is not None and implied is not None and value != implied:
                self.issues.warn(
                    self.rows[i],
                    self.where("ownership"),
                    f"ownership {value} disagrees with the operation mode {mode} (which is "
                    f"{implied}); kept as given",
                    f"性质与运营方式“{mode}”不一致，按所填保留",
                )
            ownership.append(value)
            operation.append(mode)
        modes = ", ".join(OPERATIONS)
        self.unknown_values(
            "ownership",
            unknown["ownership"],
            f"{_accepted(_TABLE['ownership'])}; or an operation mode ({modes})",
        )
        self.unknown_values(
            "operation",
            unknown["operation"],
            f"{modes} (siting/data/operation_modes.yaml for every alias); or public/private",
        )
        return ownership, operation

    def levels(
        self, kinds: list[str | None], names: list[str | None], types: list[str | None]
    ) -> list[str | None]:
        """Hospital levels: the level column (三级, 三甲, 二级乙等 ...), else a level written in
        the name or the POI type of a medical facility (``南充市中心医院（三级甲等）``)."""
        out: list[str | None] = []
        unknown: dict[str, list[int]] = {}
        for i, v in enumerate(self.cells("level")):
            t = _text(v)
            value = parse_level(t)
            if t is not None and value is None:
                unknown.setdefault(t, []).append(i)
            out.append(value)
        self.unknown_values("level", unknown, _accepted(_TABLE["hospital_levels"]))
        taken: list[int] = []
        for i in range(self.n):
            if kinds[i] not in MEDICAL_KINDS:
                continue
            found = next(
                (
                    (lv, text)
                    for text in (names[i], types[i])
                    if text and (lv := parse_level(text)) is not None
                ),
                None,
            )
            if found is None:
                continue
            level, text = found
            if out[i] is None:
                out[i] = level
                taken.append(i)
            elif out[i] != level:
                self.issues.warn(
                    self.rows[i],
                    self.where("level"),
                    f"level {out[i]} disagrees with {text!r} ({level}); the level column was used",
                    f"等级“{out[i]}”与名称或类型中的“{level}”不一致，以等级列为准",
                )
        if taken:
            rows = [self.rows[i] for i in taken]
            self.issues.warn(
                None,
                self.where("level"),
                f"hospital levels read from the names or POI types of {len(taken)} rows with no "
                f"level given (rows {_rows_text(rows)}); check them",
                f"{len(taken)} 行的医院等级取自名称或类型，请核对",
            )
        return out

    def counts(self, canon: str) -> list[int | None]:
        """Beds or capacity: whole numbers >= 0 and not beyond any facility's, or empty."""
        zh = _ZH_NAMES[canon]
        top = MAX_BEDS if canon == "beds" else MAX_CAPACITY
        out: list[int | None] = []
        for i, v in enumerate(self.cells(canon)):
            f, ok = _float(v)
            value: int | None = None
            problem: tuple[str, str] | None = None
            if not ok:
                problem = f"{canon} {_text(v)!r} is not a number", f"{zh}不是数字"
            elif f is not None and not f.is_integer():
                problem = f"{canon} {_text(v)!r} is not a whole number", f"{zh}须为整数"
            elif f is not None and f < 0:
                problem = f"{canon} {_text(v)!r} is negative", f"{zh}不能为负数"
            elif f is not None and f > top:
                too_many = f"{canon} {_text(v)!r} is more than {top:,}, beyond any facility"
                problem = (
                    f"{too_many} (a phone number or a code in the wrong column?)",
                    f"{zh}超过 {top:,}，不可能是一家机构的数值",
                )
            elif f is not None:
                value = int(f)
            if problem is not None:
                self.issues.error(self.rows[i], self.where(canon), *problem)
            out.append(value)
        return out

    def codes(self) -> dict[str, list[str | None]]:
        codes: dict[str, list[str | None]] = {}
        for canon, digits in _CODE_DIGITS.items():
            out: list[str | None] = []
            for i, v in enumerate(self.cells(canon)):
                code, ok = _code(v, digits)
                if not ok:
                    self.issues.error(
                        self.rows[i],
                        self.where(canon),
                        f"{canon} {_text(v)!r} is not a {digits}-digit code",
                        f"代码须为 {digits} 位数字",
                    )
                out.append(code)
            codes[canon] = out
        for i in range(self.n):
            county, town, village = (codes[c][i] for c in _CODE_DIGITS)
            if county and town and not town.startswith(county):
                self.issues.warn(
                    self.rows[i],
                    self.where("township_code"),
                    f"township_code {town} is not in county_code {county}",
                    "乡镇代码与区县代码不一致",
                )
            if town and village and not village.startswith(town):
                self.issues.warn(
                    self.rows[i],
                    self.where("village_code"),
                    f"village_code {village} is not in township_code {town}",
                    "村代码与乡镇代码不一致",
                )
        return codes

    def kinds(self, names: list[str | None]) -> tuple[list[str | None], list[str | None]]:
        """Each row's kind, and its type text (the kind cell or a POI tag, for levels).

        The kind column decides; without one (or when it is empty, or holds another column's
        values) the kinds are inferred from the names, as for a web-map POI export.
        """
        texts = [_text(v) for v in self.cells("kind")]
        tag = next((h for h in self.headers if _norm_header(h) in ("tag", "poitype")), None)
        tags: list[str | None] = (
            [_text(v) for v in self.frame[tag]] if tag is not None else [None] * self.n
        )
        types = [t if t is not None else g for t, g in zip(texts, tags, strict=True)]
        if self.poi or not any(t is not None for t in texts):
            kinds = self._poi_kinds(names, texts, tags)
            if not self.poi:
                self.kind_is_type = False
            if (not self.poi or "kind" in self.confused) and self.n:
                self._inferred(kinds)
            return kinds, types
        kinds = [None] * self.n
        for i, t in enumerate(texts):
            if t is None:
                guess = infer_kind(names[i] or "", keywords=self.opts.keywords)
                hint = f"; the name suggests {', '.join(guess)}" if guess else ""
                self.issues.error(
                    self.rows[i], self.where("kind"), f"kind is empty{hint}", "类型为空"
                )
                continue
            kinds[i] = _KIND_LOOKUP.get(_norm_value(t)) or _kind_with_level(t)
            if kinds[i] is None:
                other = _other_vocabulary("kind", t)
                hint = f" (a value of the {other} column)" if other else ""
                self.issues.error(
                    self.rows[i],
                    self.where("kind"),
                    f"unknown kind {t!r}{hint}; accepted kinds: {_accepted_kinds()}",
                    f"无法识别的类型“{t}”",
                )
        return kinds, types

    def _inferred(self, kinds: list[str | None]) -> None:
        """Say that the kinds were inferred from the names, and how many."""
        found = pd.Series([k for k in kinds if k is not None], dtype=object).value_counts()
        counts = ", ".join(f"{k} {n}" for k, n in found.items()) or "none"
        got = int(found.sum()) if len(found) else 0
        if "kind" in self.confused:
            reason, reason_zh = self._confusion_text("kind")
            self.issues.error(
                None,
                self.by_canon["kind"],
                f"{reason}; inferred from the names, the kinds of {got} of {self.n} rows are "
                f"known ({counts})",
                reason_zh,
            )
            return
        why = "the kind column is empty" if "kind" in self.by_canon else "there is no kind column"
        self.issues.warn(
            None,
            self.where("kind"),
            f"{why}: the kinds were inferred from the names by the keywords of "
            f"siting/data/kinds.yaml ({counts}); check them, or add a 机构类型 column",
            f"未提供机构类型，已按名称关键词推断（{got} 行），请核对",
        )

    def _poi_kinds(
        self, names: list[str | None], texts: list[str | None], tags: list[str | None]
    ) -> list[str | None]:
        """A POI's kind: its 类型/type cell when that is a kind alias, else inferred."""
        filled = [t for t in texts if t is not None]
        self.kind_is_type = "kind" in self.by_canon and not (
            filled and all(_norm_value(t) in _KIND_LOOKUP for t in filled)
        )
        what = "POI" if self.poi else "name"
        fix = "set 类型" if self.poi else "give it a 机构类型 column"
        kinds: list[str | None] = [None] * self.n
        for i in range(self.n):
            text = texts[i]
            known = _KIND_LOOKUP.get(_norm_value(text)) if text else None
            if known is not None:
                kinds[i] = known
                continue
            poi_type = text or tags[i]
            cands = infer_kind(names[i] or "", poi_type, keywords=self.opts.keywords)
            label = f"{names[i]!r}" + (f" (type {poi_type!r})" if poi_type else "")
            if len(cands) == 1:
                kinds[i] = cands[0]
            elif not cands:
                if names[i] is None:
                    continue  # "name is empty" says it
                self.issues.error(
                    self.rows[i],
                    self.where("kind"),
                    f"{what} {label} matches no kind; {fix} (one of {', '.join(KINDS)}) or add "
                    "a keyword to siting/data/kinds.yaml",
                    "无法判断机构类型，请填写“类型”",
                )
            else:
                self.issues.error(
                    self.rows[i],
                    self.where("kind"),
                    f"{what} {label} matches several kinds: {', '.join(cands)} — {fix} to decide",
                    f"名称同时符合多种类型（{'、'.join(KINDS[c].zh for c in cands)}），"
                    "请填写“类型”",
                )
        return kinds

    def coordinates(self) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Coordinates as written in the file (before any conversion) and which parsed."""
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        ok = np.zeros(self.n, dtype=bool)
        if self.coords == "columns":
            for i, (vx, vy) in enumerate(zip(self.cells("lon"), self.cells("lat"), strict=True)):
                good = True
                for canon, v, arr, zh in (("lon", vx, lon, "经度"), ("lat", vy, lat, "纬度")):
                    f, parsed = _float(v)
                    if f is None:
                        good = False
                        reason = "is empty" if parsed else f"{_text(v)!r} is not a number"
                        hint = " (decimals take a dot: 106.08)" if "," in str(v) else ""
                        self.issues.error(
                            self.rows[i],
                            self.where(canon),
                            f"{canon} {reason}{hint if not parsed else ''}",
                            f"{zh}为空" if parsed else f"{zh}“{_text(v)}”不是数字",
                        )
                    else:
                        arr[i] = f
                ok[i] = good
        elif self.coords == "pairs":
            for i, v in enumerate(self.cells("lnglat")):
                text = _text(v)
                m = _PAIR.fullmatch(unicodedata.normalize("NFKC", text)) if text else None
                if m is None:
                    self.issues.error(
                        self.rows[i],
                        self.where("lnglat"),
                        "location is empty"
                        if text is None
                        else f"location {text!r} is not 'lng,lat'",
                        "坐标为空" if text is None else "坐标格式须为“经度,纬度”",
                    )
                    continue
                lon[i], lat[i] = float(m[1]), float(m[2])
                ok[i] = True
        elif self.coords == "geometry":
            for i, g in enumerate(self.raw.geometry):
                if g is None or g.is_empty:
                    self.issues.error(
                        self.rows[i], _GEOMETRY, "feature has no geometry", "要素没有几何"
                    )
                elif g.geom_type != "Point":
                    self.issues.error(
                        self.rows[i],
                        _GEOMETRY,
                        f"geometry is a {g.geom_type}, a facility needs a Point",
                        "几何须为点",
                    )
                elif not (math.isfinite(g.x) and math.isfinite(g.y)):
                    self.issues.error(
                        self.rows[i], _GEOMETRY, "point has no finite coordinates", "坐标无效"
                    )
                else:
                    lon[i], lat[i] = g.x, g.y
                    ok[i] = True
        return lon, lat, ok

    def placement(
        self, lon: FloatArray, lat: FloatArray, ok: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Swapped, out of range, outside China: reported, never fixed. Returns (usable, inside)."""
        in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
        inside = ok & ~_crs.out_of_china(lon, lat)
        swapped = np.zeros(self.n, dtype=bool)
        col = (
            _GEOMETRY
            if self.coords == "geometry"
            else self.where("lnglat" if self.coords == "pairs" else "lat")
        )
        for i in np.flatnonzero(ok & ~inside).tolist():
            x, y = float(lon[i]), float(lat[i])
            if abs(y) <= 180 and abs(x) <= 90 and not bool(_crs.out_of_china(y, x)):
                swapped[i] = True
                self.issues.error(
                    self.rows[i],
                    col,
                    f"lon/lat look swapped: ({x}, {y}) is outside China but ({y}, {x}) is "
                    "inside; fix the file (not changed automatically)",
                    "经纬度疑似颠倒，请在文件中改正",
                )
            elif not in_range[i]:
                self.issues.error(
                    self.rows[i],
                    col,
                    f"({x}, {y}) is not a longitude/latitude (|lon| <= 180, |lat| <= 90)",
                    "经纬度超出范围",
                )
            else:
                self.issues.warn(
                    self.rows[i], col, f"({x}, {y}) lies outside China", "坐标位于中国境外"
                )
        return in_range & ~swapped, inside

    def row_systems(self) -> tuple[list[str | None], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per-row ``crs`` cells: (system or None, cell filled, cell unreadable)."""
        systems: list[str | None] = [None] * self.n
        filled = np.zeros(self.n, dtype=bool)
        bad = np.zeros(self.n, dtype=bool)
        for i, v in enumerate(self.cells("crs")):
            t = _text(v)
            if t is None:
                continue
            filled[i] = True
            try:
                systems[i] = _crs.normalize_crs_name(t)
            except _crs.CRSError:
                bad[i] = True
                self.issues.error(
                    self.rows[i],
                    self.where("crs"),
                    f"unknown coordinate system {t!r}; use wgs84, gcj02 or bd09",
                    f"无法识别的坐标系“{t}”，请填 wgs84、gcj02 或 bd09",
                )
        return systems, filled, bad

    def to_wgs84(
        self,
        lon: FloatArray,
        lat: FloatArray,
        ok: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
        inside: npt.NDArray[np.bool_],
    ) -> tuple[list[str | None], FloatArray, FloatArray]:
        """Each row's source system, and its coordinates converted to WGS84."""
        if self.raw.vector:
            return self._vector_to_wgs84(lon, lat, ok, usable)
        systems, filled, bad = self.row_systems()
        file_crs = self._file_crs()
        declared = np.zeros(self.n, dtype=bool)
        for i in range(self.n):
            if systems[i] is None and not bad[i]:
                systems[i] = file_crs
            declared[i] = systems[i] is not None
        undeclared = usable & ~declared & ~bad
        self._undeclared(lon, lat, undeclared & inside, whole_file=not filled.any())
        for i in np.flatnonzero(undeclared & ~inside).tolist():
            systems[i] = _crs.WGS84  # outside China every system is WGS84
        if self.opts.reference is not None:
            as_wgs = usable & declared & np.array([c == _crs.WGS84 for c in systems], dtype=bool)
            ev = _evidence(lon[as_wgs], lat[as_wgs], self.opts.reference)
            if ev is not None and ev.verdict == "gcj02":
                self.issues.warn(
                    None,
                    self.where("crs"),
                    f"{ev.text()}; they are declared WGS84 — check they do not come from a "
                    "Chinese web map (then declare gcj02)",
                    ev.text_zh() + "；但声明为 WGS84，请核对",
                )
            as_gcj = usable & declared & np.array([c == _crs.GCJ02 for c in systems], dtype=bool)
            self._declared_gcj02(lon[as_gcj], lat[as_gcj], self.where("crs"))
        wgs_lon, wgs_lat = lon.copy(), lat.copy()
        for name in (_crs.GCJ02, _crs.BD09):
            sel = ok & np.array([c == name for c in systems], dtype=bool)
            if sel.any():
                wgs_lon[sel], wgs_lat[sel] = _crs.convert(
                    lon[sel], lat[sel], src=name, dst=_crs.WGS84
                )
        return systems, wgs_lon, wgs_lat

    def _file_crs(self) -> str | None:
        """The system of rows without a crs cell: argument, poi_source, headers, POI signature."""
        if self.opts.crs is not None:
            self.raw.attrs["crs_declared_by"] = "argument crs"
            return self.opts.crs
        if self.opts.poi_source is not None:
            self.raw.attrs["crs_declared_by"] = "argument poi_source"
            return self.opts.poi_source
        named = {
            c: _header_crs(self.by_canon[c]) for c in ("lon", "lat", "lnglat") if c in self.by_canon
        }
        found = {c for c in named.values() if c is not None}
        if len(found) > 1:
            self.issues.error(
                None,
                None,
                f"the headers name different coordinate systems: {named}",
                "表头标注的坐标系不一致",
            )
            return None
        if found:
            self.raw.attrs["crs_declared_by"] = "headers"
            return found.pop()
        if not self.poi or "crs" in self.by_canon:
            return None
        if "typecode" in self.normalized:
            self.raw.attrs["crs_inferred"] = "gcj02 (typecode column: Amap export)"
            self.issues.warn(
                None,
                "crs",
                "coordinates taken as GCJ-02 because the file has a typecode column (an Amap "
                "POI export); pass crs= if that is wrong",
                "文件有 typecode 列（高德 POI 导出），坐标按 GCJ-02 读取",
            )
            return _crs.GCJ02
        if "uid" in self.normalized:
            self.raw.attrs["crs_inferred"] = "bd09 (uid column: Baidu export)"
            self.issues.warn(
                None,
                "crs",
                "coordinates taken as BD-09 because the file has a uid column (a Baidu POI "
                "export); pass crs= if that is wrong",
                "文件有 uid 列（百度 POI 导出），坐标按 BD-09 读取",
            )
            return _crs.BD09
        return None

    def _declared_gcj02(self, lon: FloatArray, lat: FloatArray, column: str) -> None:
        """Points declared GCJ-02 that sit on the seats' WGS84 positions: a warning."""
        if self.opts.reference is None or not len(lon):
            return
        ev = _evidence(lon, lat, self.opts.reference)
        if ev is not None and ev.verdict == "wgs84":
            self.issues.warn(
                None,
                column,
                f"{ev.text()}; they are declared GCJ-02 — if they come from a GPS, OpenStreetMap "
                "or 天地图 (WGS84/CGCS2000), declare wgs84: converting them from GCJ-02 moves "
                "each point about 500 m off",
                ev.text_zh() + "；但声明为 GCJ-02，若坐标来自 GPS、OSM 或天地图，请声明为 wgs84",
            )

    def _undeclared(
        self, lon: FloatArray, lat: FloatArray, rows: npt.NDArray[np.bool_], *, whole_file: bool
    ) -> None:
        """Points in China with no declared system: an error, with the GCJ-02 evidence if any."""
        if not rows.any():
            return
        evidence = evidence_zh = ""
        if self.opts.reference is not None:
            ev = _evidence(lon[rows], lat[rows], self.opts.reference)
            if ev is not None and ev.verdict is not None:
                evidence, evidence_zh = f"; {ev.text()}", f"；{ev.text_zh()}"
        reason = (
            "coordinate system not declared; in China web maps use GCJ-02 (offset ~500 m "
            "here) — declare wgs84, gcj02 or bd09 (--crs / 坐标系 column)" + evidence
        )
        reason_zh = (
            "未声明坐标系；国内网络地图多用 GCJ-02（此处偏移约 500 米），"
            "请注明 wgs84、gcj02 或 bd09（--crs 参数或“坐标系”列）" + evidence_zh
        )
        if whole_file:
            self.issues.error(None, "crs", reason, reason_zh)
        else:
            for i in np.flatnonzero(rows).tolist():
                self.issues.error(self.rows[i], self.where("crs"), reason, reason_zh)

    def _vector_to_wgs84(
        self,
        lon: FloatArray,
        lat: FloatArray,
        ok: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
    ) -> tuple[list[str | None], FloatArray, FloatArray]:
        """Vector files: the geometry is in the file's CRS; a crs column is provenance."""
        systems, _filled, _bad = self.row_systems()
        wgs_lon, wgs_lat = lon.copy(), lat.copy()
        declared = self.opts.crs
        if declared is not None:
            for i in range(self.n):
                if systems[i] not in (None, declared):
                    self.issues.error(
                        self.rows[i],
                        self.where("crs"),
                        f"the file's crs column says {systems[i]} (the geometry's provenance) "
                        f"but crs={declared!r} asks to convert the geometry from {declared}",
                        "crs 参数与文件中的坐标系列矛盾",
                    )
            systems = [declared] * self.n
            if declared == _crs.GCJ02:
                self._declared_gcj02(lon[usable], lat[usable], _GEOMETRY)
            if ok.any() and declared != _crs.WGS84:
                wgs_lon[ok], wgs_lat[ok] = _crs.convert(
                    lon[ok], lat[ok], src=declared, dst=_crs.WGS84
                )
        else:
            systems = [c if c is not None else _crs.WGS84 for c in systems]
            if self.opts.reference is not None:
                ev = _evidence(lon[usable], lat[usable], self.opts.reference)
                if ev is not None and ev.verdict == "gcj02":
                    self.issues.warn(
                        None,
                        _GEOMETRY,
                        f"{ev.text()}; the file says WGS84 — if its points come from a Chinese "
                        "web map, read it with crs='gcj02'",
                        ev.text_zh() + "；若坐标取自国内网络地图，请按 gcj02 读取",
                    )
        for canon, values in (("lon", lon), ("lat", lat)):  # as written, before any conversion
            if canon not in self.by_canon:
                continue
            for i in np.flatnonzero(ok).tolist():
                f = _float(self.frame[self.by_canon[canon]].iat[i])[0]
                if f is not None and abs(f - values[i]) > 1e-6:
                    self.issues.warn(
                        self.rows[i],
                        self.by_canon[canon],
                        f"{canon} {f} differs from the geometry ({values[i]}); "
                        "the geometry was used",
                        "经纬度列与几何不一致，以几何为准",
                    )
        return systems, wgs_lon, wgs_lat

    def region(self, lon: FloatArray, lat: FloatArray, usable: npt.NDArray[np.bool_]) -> None:
        """Points farther than the margin outside the boundary, measured in metres."""
        if self.opts.boundary is None or not usable.any():
            return
        dist = _outside_m(lon[usable], lat[usable], self.opts.boundary)
        for i, d in zip(np.flatnonzero(usable).tolist(), dist.tolist(), strict=True):
            if d > self.opts.margin_m:
                self.issues.error(
                    self.rows[i],
                    self.point_column,
                    f"the point lies {d / 1000:.1f} km outside the region boundary (allowed "
                    f"margin {self.opts.margin_m / 1000:g} km)",
                    f"位置在区域边界外 {d / 1000:.1f} 公里",
                )

    def same_point(
        self,
        lon: FloatArray,
        lat: FloatArray,
        usable: npt.NDArray[np.bool_],
        names: list[str | None],
        written: tuple[FloatArray, FloatArray],
    ) -> None:
        """Many differently named facilities on one point: a geocoder's fallback, probably.

        A geocoder that cannot place an address returns the centre of the city or district,
        the same point for every such address. Groups of at least :data:`_SAME_POINT_MIN`
        facilities with as many different names within :data:`_SAME_POINT_M` metres are told
        (a warning on each of their rows): their places are not known.
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        from scipy.spatial import cKDTree

        idx = np.flatnonzero(usable)
        if len(idx) < _SAME_POINT_MIN:
            return
        x, y = np.radians(lon[idx]), np.radians(lat[idx])
        xyz = _EARTH_RADIUS_M * np.column_stack(
            (np.cos(y) * np.cos(x), np.cos(y) * np.sin(x), np.sin(y))
        )
        pairs = cKDTree(xyz).query_pairs(r=_SAME_POINT_M, output_type="ndarray")
        if not len(pairs):
            return
        graph = coo_matrix(
            (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(idx), len(idx))
        )
        _n, labels = connected_components(graph, directed=False)
        mapped = set(self.by_canon.values())
        district = next(
            (h for h in self.headers if _norm_header(h) in _DISTRICT_HEADERS and h not in mapped),
            None,
        )
        sizes = np.bincount(labels)
        for label in np.flatnonzero(sizes >= _SAME_POINT_MIN).tolist():
            members = [int(i) for i in idx[labels == label]]
            distinct = {_norm_value(n) for i in members if (n := names[i])}
            if len(members) < _SAME_POINT_MIN or len(distinct) < _SAME_POINT_MIN:
                continue
            rows = [self.rows[i] for i in members]
            first = members[0]
            spread = ""
            if district is not None:
                places = {t for i in members if (t := _text(self.frame[district].iat[i]))}
                if len(places) > 1:
                    listed = "、".join(sorted(places)[:4]) + (" …" if len(places) > 4 else "")
                    spread = f", from {len(places)} districts (column {district!r}: {listed})"
            point = f"({written[0][first]:.6f}, {written[1][first]:.6f})"
            reason = (
                f"{len(members)} facilities with different names lie on one point {point} "
                f"within {_SAME_POINT_M:g} m{spread} (rows {_rows_text(rows)}): probably a "
                "geocoder's fallback to a city or district centre, not their real places — "
                "geocode them again from their addresses or survey them (their travel times and "
                "coverage would be wrong)"
            )
            reason_zh = (
                f"{len(members)} 家名称不同的机构位于同一点 {point}，疑似地理编码失败时退回的"
                f"城市或区县中心点（第 {_rows_text(rows)} 行），请重新定位"
            )
            for i in members:  # each row is told, so that a planner can mark them
                self.issues.warn(self.rows[i], self.point_column, reason, reason_zh)

    def ids(self) -> list[str | None]:
        ids = [_text(v) for v in self.cells("id")]
        seen: dict[str, int] = {}
        for i, v in enumerate(ids):
            if v is None:
                continue
            if v in seen:
                first = self.rows[seen[v]]
                self.issues.error(
                    self.rows[i],
                    self.where("id"),
                    f"duplicate id {v!r}: also on row {first}",
                    f"编号“{v}”重复（另见第 {first} 行）",
                )
            else:
                seen[v] = i
        return ids

    def extras(self) -> pd.DataFrame:
        """The columns the registry does not interpret, unchanged, in file order.

        Kept columns must not read back as registry columns: a POI export's type (类型/type)
        becomes ``poi_type``, its ``location`` text ``poi_location``; any other header that
        would clash gets a ``source_`` prefix.
        """
        consumed = {h for c, h in self.by_canon.items() if c in COLUMNS or c == "id"}
        if self.kind_is_type:
            consumed.discard(self.by_canon["kind"])
        for canon in self.confused:  # another column's values, not read: kept as they are
            consumed.discard(self.by_canon[canon])
        reserved = {*COLUMNS, "id", _GEOMETRY}
        extras: dict[str, Any] = {}
        for h in self.headers:
            if h in consumed:
                continue
            if h == self.by_canon.get("kind"):
                name = "poi_type"
            elif h == self.by_canon.get("lnglat") and _norm_header(h) == "location":
                name = "poi_location"
            elif h in reserved or _HEADER_LOOKUP.get(_norm_header(h)) in reserved:
                name = f"source_{h}"
            else:
                name = h
            if self.raw.typed is not None:
                extras[name] = _extra_vector(self.raw.typed[h], self.raw.field_dtypes.get(h))
            else:
                extras[name] = _extra_from_cells(self.frame[h].tolist(), self.raw.fmt)
        return pd.DataFrame(extras, index=pd.RangeIndex(self.n))

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
                "location", _LOCATION_LOOKUP, _accepted(_TABLE["location_quality"])
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
    issues = _Issues(file)
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
    gdf, issues, attrs = _run(
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
    if gdf is None or any(i.severity == "error" for i in issues):
        raise ValidationError(issues, header=_header(os.fspath(path), issues))
    gdf.attrs.update(attrs)
    gdf.attrs["issues"] = Shared(i for i in issues if i.severity != "error")
    return gdf


def _header(file: str, issues: list[Issue]) -> str:
    errors = sum(i.severity == "error" for i in issues)
    return f"{file}: {errors} problem(s) found (发现 {errors} 个问题)"


_VARYING: Final = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”|[+-]?\d+(?:[.,]\d+)*")


def _issue_lines(issue: Issue) -> list[str]:
    tag = "错误 ERROR" if issue.severity == "error" else "提示 WARNING"
    row = f"第{issue.row}行 row {issue.row}" if issue.row is not None else "整个文件 whole file"
    col = f"列 column {issue.column!r}" if issue.column else ""
    lines = [f"  [{tag}] {row} {col}".rstrip()]
    if issue.reason_zh:
        lines.append(f"      {issue.reason_zh}")
    lines.append(f"      {issue.reason}")
    return lines


def format_issues(
    issues: Sequence[Issue], *, file: PathLike | None = None, max_lines: int = 200
) -> list[str]:
    """The lines to print for the issues of one file, never many more than ``max_lines``.

    The first line counts errors and warnings (or says the file is clean); then every issue,
    errors first, in the bilingual layout of ``siting registry validate``, for as long as
    they fit; the rest is summarised by reason (the reason with its quoted values and numbers
    blanked), one line per reason with its count, column and first rows. A file with 600 rows
    of the same mistake gives a page, not half a megabyte.

    Parameters
    ----------
    issues
        As :func:`validate` returns them (or ``ValidationError.issues``, or a registry's
        ``attrs["issues"]``).
    file
        The file named in the first line; default the file of the first issue.
    max_lines
        The budget of lines (at least 20).

    Returns
    -------
    list of str
        The lines, without line ends.

    Examples
    --------
    >>> format_issues([], file="养老机构.csv")
    ['养老机构.csv: 检查通过，未发现问题 / no problems found']
    """
    name = os.fspath(file) if file is not None else (issues[0].file if issues else "")
    if not issues:
        return [f"{name}: 检查通过，未发现问题 / no problems found"]
    budget = max(int(max_lines), 20)
    errors = [i for i in issues if i.severity == "error"]
    warns = [i for i in issues if i.severity != "error"]
    lines = [f"{name}: {len(errors)} 个错误 / error(s), {len(warns)} 个提示 / warning(s)"]
    ordered = errors + warns
    shown = 0
    reserve = min(40, budget // 4)  # room for the summary of the rest
    first_of: dict[tuple[str, str, str], Issue] = {}
    for issue in ordered:
        block = _issue_lines(issue)
        same = first_of.setdefault((issue.severity, issue.column or "", issue.reason), issue)
        if same is not issue:  # the reason said for several rows: said once
            where = f"row {same.row}" if same.row is not None else "the whole file"
            block = [f"{block[0]}: as {where} 同上"]
        if len(lines) + len(block) > budget - reserve and shown < len(ordered) - 1:
            break
        lines.extend(block)
        shown += 1
    rest = ordered[shown:]
    if not rest:
        return lines
    groups: dict[tuple[str, str, str], list[Issue]] = {}
    for issue in rest:
        key = (issue.severity, issue.column or "", _VARYING.sub("…", issue.reason))
        groups.setdefault(key, []).append(issue)
    lines.append(f"  … {len(rest)} more, by reason 其余 {len(rest)} 条按原因汇总:")
    room = budget - len(lines) - 1
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    for (severity, column, reason), members in ranked[: max(room, 1)]:
        tag = "错误 ERROR" if severity == "error" else "提示 WARNING"
        rows = [i.row for i in members if i.row is not None]
        where = f" column {column!r}" if column else ""
        at = f" rows {_rows_text(rows, 5)}" if rows else ""
        text = reason if len(reason) <= 120 else reason[:119] + "…"
        lines.append(f"    {len(members)} × [{tag}]{where}{at}: {text}")
    if len(ranked) > max(room, 1):
        left = sum(len(m) for _k, m in ranked[max(room, 1) :])
        lines.append(f"    … and {left} more of {len(ranked) - max(room, 1)} other reasons")
    return lines


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


# --- frames in registry form -------------------------------------------------------------------


def _conform(
    frame: Any, *, file: str, need_ids: bool, renumber_generated: bool = False
) -> tuple[gpd.GeoDataFrame | None, list[str | None], list[Issue]]:
    """Check a frame already in registry form (WGS84 lon/lat, canonical column names).

    Returns the typed registry (its index holds <NA> where an id is missing), the ids
    (``None`` where missing) and the issues; ``None`` instead of the registry on errors.
    """
    issues = _Issues(file)
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
    generated = set(frame.attrs.get("generated_ids", ())) if renumber_generated else set()
    ids = [_text(v) for v in data["id"]] if "id" in data.columns else [None] * n
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

    def col(c: str) -> list[Any]:
        return data[c].tolist() if c in data.columns else [None] * n

    for c in ("name", "kind"):
        if c not in data.columns:
            issues.error(None, c, f"required column {c!r} is missing", f"缺少列 {c}")
    names = [_text(v) for v in col("name")]
    for i, v in enumerate(names):
        if v is None and "name" in data.columns:
            issues.error(rows[i], "name", "name is empty", "名称为空")
    kinds: list[str | None] = []
    for i, v in enumerate(col("kind")):
        k, ok = _lookup(v, _KIND_LOOKUP)
        if (not ok or k is None) and "kind" in data.columns:
            issues.error(
                rows[i],
                "kind",
                f"unknown kind {_text(v)!r}; kinds are {', '.join(KINDS)}",
                "类型无效",
            )
        kinds.append(k)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    has_cols = "lon" in data.columns and "lat" in data.columns
    if not has_cols and geoms is None:
        issues.error(None, "lon", "needs lon and lat columns or a geometry", "缺少经纬度")
    for i in range(n):
        x: float | None = None
        y: float | None = None
        if has_cols:
            x = _float(data["lon"].iat[i])[0]
            y = _float(data["lat"].iat[i])[0]
        elif geoms is not None:
            g = geoms.iat[i]
            if g is not None and not g.is_empty and g.geom_type == "Point":
                x, y = float(g.x), float(g.y)
        if x is None or y is None or abs(x) > 180 or abs(y) > 90:
            if has_cols or geoms is not None:
                issues.error(rows[i], "lon", "lon/lat missing or invalid", "经纬度缺失或无效")
            continue
        lon[i], lat[i] = x, y
        if has_cols and geoms is not None:
            g = geoms.iat[i]
            if g is not None and not g.is_empty and (abs(g.x - x) > 1e-7 or abs(g.y - y) > 1e-7):
                issues.error(
                    rows[i],
                    _GEOMETRY,
                    f"geometry ({g.x}, {g.y}) disagrees with lon/lat ({x}, {y})",
                    "几何与经纬度不一致",
                )
    crs_values: list[str | None] = []
    for i, v in enumerate(col("crs")):
        t = _text(v)
        try:
            crs_values.append(_crs.normalize_crs_name(t) if t is not None else None)
        except _crs.CRSError:
            issues.error(rows[i], "crs", f"unknown coordinate system {t!r}", "坐标系无效")
            crs_values.append(None)
    core: dict[str, Any] = {
        "name": names,
        "kind": kinds,
        "lon": lon,
        "lat": lat,
        "crs": crs_values,
    }
    for c, digits in _CODE_DIGITS.items():
        out_c: list[str | None] = []
        for i, v in enumerate(col(c)):
            code, ok = _code(v, digits)
            if not ok:
                issues.error(rows[i], c, f"{c} {_text(v)!r} is not {digits} digits", "代码无效")
            out_c.append(code)
        core[c] = out_c
    for c in ("beds", "capacity"):
        out_i: list[int | None] = []
        for i, v in enumerate(col(c)):
            f, ok = _float(v)
            if not ok or (f is not None and (f < 0 or not f.is_integer())):
                issues.error(rows[i], c, f"{c} {_text(v)!r} is not a whole number >= 0", "数值无效")
                f = None
            out_i.append(None if f is None else int(f))
        core[c] = out_i
    for c, table in (
        ("ownership", _OWNERSHIP_LOOKUP),
        ("operation", _OPERATION_LOOKUP),
        ("level", _LEVEL_LOOKUP),
        ("location", _LOCATION_LOOKUP),
    ):
        out_l: list[str | None] = []
        for i, v in enumerate(col(c)):
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
    for i, v in enumerate(col("ownership")):
        in_own = _lookup(v, _OPERATION_LOOKUP)[0] if core["ownership"][i] is None else None
        mode = core["operation"][i] or in_own
        core["operation"][i] = mode
        if core["ownership"][i] is None and mode is not None:
            core["ownership"][i] = _OPERATION_OWNERSHIP.get(mode)
    core["source"] = [_text(v) or "user" for v in col("source")]
    core["address"] = [_text(v) for v in col("address")]
    core["note"] = [_text(v) for v in col("note")]
    if issues.has_errors:
        return None, ids, issues.sorted()
    skip = {*COLUMNS, "id"} | ({geom_col} if geom_col else set())
    extras = pd.DataFrame(
        {c: data[c].to_numpy() for c in data.columns if c not in skip}, index=pd.RangeIndex(n)
    )
    for c in extras.columns:
        extras[c] = extras[c].astype(data[c].dtype)
    return _assemble(ids, core, extras), ids, issues.sorted()


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
        raise ValidationError(issues, header=_header("<frame>", issues))
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
        raise ValidationError(issues, header=_header("<new>", issues))
    existing = [str(i) for i in registry.index]
    position = {v: p for p, v in enumerate(existing)}
    clash = _Issues("<new>")
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
        raise ValidationError(clash.sorted(), header=_header("<new>", clash.items))
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


# --- duplicates --------------------------------------------------------------------------------

#: Columns of :func:`duplicates`.
DUPLICATE_COLUMNS: Final = (
    "row",
    "id",
    "name",
    "kind",
    "match_in",
    "match_row",
    "match_id",
    "match_name",
    "match_kind",
    "distance_m",
    "rule",
)

_EARTH_RADIUS_M: Final = 6_371_008.8


def _unit_xyz(gdf: gpd.GeoDataFrame) -> npt.NDArray[np.float64]:
    """Points on a sphere of the earth's radius: chord distances are metres (to < 0.1 mm at
    50 m), wherever in China the points are."""
    lon = np.radians(gdf.geometry.x.to_numpy(dtype=float))
    lat = np.radians(gdf.geometry.y.to_numpy(dtype=float))
    return _EARTH_RADIUS_M * np.column_stack(
        (np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat))
    )


def _same_name(a: Any, b: Any) -> bool:
    def norm(v: Any) -> str:
        return "".join(unicodedata.normalize("NFKC", str(v)).split()).casefold()

    return not _is_missing(a) and not _is_missing(b) and norm(a) == norm(b)


def duplicates(
    registry: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    name_radius_m: float = 50.0,
    any_radius_m: float = 10.0,
) -> pd.DataFrame:
    """Rows of ``new`` that are already in ``registry`` (or twice in ``new``).

    A row is a duplicate when it has the same id as a registry row (ids ``new`` was given, not
    ones :func:`read` generated), the same kind and name (ignoring spaces, case and full-width
    forms) within ``name_radius_m`` metres, or any facility within ``any_radius_m`` metres
    whatever its name.

    Returns
    -------
    pandas.DataFrame
        One row per duplicate (columns :data:`DUPLICATE_COLUMNS`): the row of ``new`` (as the
        planner sees it in the file: ``new.attrs["rows"]`` when :func:`read` made it, else the
        position from 1), its id, name and kind, where the match is (``registry`` or ``new``),
        the match's row, id, name and kind, the distance and the rule that matched. Empty when
        there is none.
    """
    from scipy.spatial import cKDTree

    rows: list[dict[str, Any]] = []
    if len(new) == 0:
        return pd.DataFrame(rows, columns=list(DUPLICATE_COLUMNS))
    given_rows = new.attrs.get("rows")
    file_rows = (
        [int(r) for r in given_rows]
        if given_rows is not None and len(given_rows) == len(new)
        else list(range(1, len(new) + 1))
    )
    generated = set(new.attrs.get("generated_ids") or ())
    new_ids = [str(i) for i in new.index]
    reg_pos = {str(v): p for p, v in enumerate(registry.index)}
    seen: set[tuple[int, str, int]] = set()

    def add(i: int, where: str, j: int, other: Any, dist: float, rule: str) -> None:
        if (i, where, j) in seen:
            return
        seen.add((i, where, j))
        rows.append(
            {
                "row": file_rows[i] if i < len(file_rows) else i + 1,
                "id": None if new_ids[i] in generated else new_ids[i],
                "name": new["name"].iat[i],
                "kind": new["kind"].iat[i],
                "match_in": where,
                "match_row": j + 1 if where == "registry" else file_rows[j],
                "match_id": str(other.name),
                "match_name": other["name"],
                "match_kind": other["kind"],
                "distance_m": round(dist, 1),
                "rule": rule,
            }
        )

    new_xyz = _unit_xyz(new)
    for i, fid in enumerate(new_ids):
        if fid not in generated and fid in reg_pos:
            j = reg_pos[fid]
            d = float(np.linalg.norm(new_xyz[i] - _unit_xyz(registry.iloc[[j]])[0]))
            add(i, "registry", j, registry.iloc[j], d, "same id 编号相同")
    radius = max(name_radius_m, any_radius_m)
    targets: list[tuple[str, gpd.GeoDataFrame]] = [("registry", registry), ("new", new)]
    for where, frame in targets:
        if len(frame) == 0:
            continue
        tree = cKDTree(new_xyz if where == "new" else _unit_xyz(frame))
        for i, near in enumerate(tree.query_ball_point(new_xyz, r=radius)):
            for j in sorted(near):
                if where == "new" and j >= i:
                    continue  # each pair within the file once, the later row named
                other = frame.iloc[j]
                d = (
                    float(np.linalg.norm(new_xyz[i] - new_xyz[j]))
                    if where == "new"
                    else float(np.linalg.norm(new_xyz[i] - _unit_xyz(frame.iloc[[j]])[0]))
                )
                if d <= any_radius_m:
                    add(
                        i, where, j, other, d, f"within {any_radius_m:g} m 相距{any_radius_m:g}米内"
                    )
                elif (
                    d <= name_radius_m
                    and str(new["kind"].iat[i]) == str(other["kind"])
                    and _same_name(new["name"].iat[i], other["name"])
                ):
                    add(
                        i,
                        where,
                        j,
                        other,
                        d,
                        f"same kind and name within {name_radius_m:g} m "
                        f"同类同名且相距{name_radius_m:g}米内",
                    )
    out = pd.DataFrame(rows, columns=list(DUPLICATE_COLUMNS))
    return out.sort_values(["row", "match_in", "match_row"], kind="stable").reset_index(drop=True)


# --- storage -----------------------------------------------------------------------------------

#: The timestamp stamped into written GeoPackages, so that identical registries give identical
#: bytes (GDAL otherwise writes the current time into ``gpkg_contents``).
_FIXED_DATE: Final = "2000-01-01T00:00:00.000Z"


@contextmanager
def _fixed_gdal_date() -> Iterator[None]:
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _FIXED_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write(
    gdf: gpd.GeoDataFrame,
    path: PathLike,
    *,
    layer: str = "facilities",
    extra_layers: Mapping[str, pd.DataFrame] | None = None,
) -> Path:
    """Write a registry to a GeoPackage, atomically and reproducibly.

    The file is written to a temporary file in the same folder and then moved over ``path``
    (an existing file is replaced whole; a reader never sees half a file). Identical input
    gives byte-identical files: GDAL's timestamp is fixed. :func:`read` gives the registry back
    equal: dtypes, index, Chinese text, <NA>s and extra columns.

    Parameters
    ----------
    gdf
        A registry (checked: ids unique and filled, schema as in the module docstring).
    path
        Target ``.gpkg``; its folder is created if needed.
    layer
        Layer name of the registry.
    extra_layers
        More layers to store in the same file, by name (e.g. a region's townships); written
        as given, after the registry.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    siting.ValidationError
        If ``gdf`` is not a valid registry.

    Notes
    -----
    The fixed timestamp is set with the GDAL configuration option ``OGR_CURRENT_DATE`` for the
    duration of the write and restored afterwards; GDAL options are process-wide, so do not
    write GeoPackages from several threads at once.

    Examples
    --------
    >>> import pandas as pd
    >>> reg = from_frame(pd.DataFrame({"name": ["甲敬老院"], "kind": ["nursing_home"],
    ...                                "lon": [106.1], "lat": [30.8]}))
    >>> write(reg, "/tmp/siting-doc-registry.gpkg").name
    'siting-doc-registry.gpkg'
    """
    target = Path(path)
    checked, _ids, issues = _conform(gdf, file=os.fspath(target), need_ids=True)
    if checked is None:
        raise ValidationError(issues, header=_header(os.fspath(target), issues))
    layers = dict(extra_layers or {})
    if layer in layers:
        msg = f"extra_layers has a layer named {layer!r}, the registry's layer"
        raise ValueError(msg)
    checked.index = gdf.index
    out = checked.reset_index()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp.gpkg")
    try:
        with _fixed_gdal_date():
            pyogrio.write_dataframe(out, tmp, layer=layer, driver="GPKG")
            for name, extra in layers.items():
                pyogrio.write_dataframe(extra, tmp, layer=name, driver="GPKG", append=False)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
