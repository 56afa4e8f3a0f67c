"""Per-cell parsing and per-column vocabulary checks shared by reading and :func:`from_frame`.

Cell parsers (text, numbers, administrative codes, vocabulary lookups), the checks of
:func:`siting.registry.read`'s arguments (``_options``), and what a categorical column accepts
and which other column a misplaced value belongs to.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from siting import crs as _crs
from siting import settings
from siting._issues import Problems
from siting._tables import normalize_label as _norm_value
from siting.kinds import (
    KIND_LOOKUP,
    KINDS,
    LEVEL_LOOKUP,
    keyword_table,
    kind_with_level,
    parse_level,
)
from siting.registry.coords import _boundary_geometry, _check_reference
from siting.registry.schema import _LOCATION_LOOKUP, _OPERATION_LOOKUP, _OWNERSHIP_LOOKUP

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
    issues: Problems,
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
        opts.keywords = keyword_table(kind_keywords)
    except (ValueError, TypeError) as exc:
        issues.error(None, None, f"argument kind_keywords: {exc}", "参数 kind_keywords 无效")
        opts.keywords = keyword_table(None)
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


_ZH_NAMES: Final = {
    "ownership": "性质",
    "operation": "运营方式",
    "level": "等级",
    "location": "定位方式",
    "beds": "床位数",
    "capacity": "容量",
}


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
        "kind": KIND_LOOKUP,
        "operation": _OPERATION_LOOKUP,
        "ownership": _OWNERSHIP_LOOKUP,
        "level": LEVEL_LOOKUP,
        "location": _LOCATION_LOOKUP,
    }[vocabulary]
    return norm in table


def _accepted_in(canon: str, text: str) -> bool:
    """Whether a cell of column ``canon`` can be read (levels and kinds also from free text)."""
    if canon == "level":
        return parse_level(text) is not None
    if canon == "kind" and kind_with_level(text) is not None:
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
