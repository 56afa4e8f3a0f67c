"""政策指标 Indicators: the seed policy targets measured against the current state.

The four seed documents set quantitative targets (100% of 养老机构 served by a medical partner,
护理型床位 40%, two thirds of villages with an elder-service facility, 23 + 12 敬老院 paired with a
卫生院 ...). :func:`measure` takes a region, its facility registry and, optionally, the pairings of
a run (:func:`siting.pairing.pair`, ``pipeline.run(...).pairings``) and returns one row per
indicator: the value, the document's figure and what it is (``role``: the region's *target* or
*baseline* with its ``year``, or a *benchmark*), where it comes from (document and verbatim
quote), whether it is met, the numerator and denominator, and what the value rests on.

The definitions are data (``siting/data/indicators.yaml``, :func:`load_definitions`); each names
its measure function (:data:`MEASURES`) and that function's parameters.

Rules, so that a report never presents a made-up or a modelled number as a fact:

* **Not measurable.** When the registry (or the region's population tables) lacks the field an
  indicator needs, the row says ``status="not measurable"``, ``value`` is empty and
  ``needs_column`` names the column that would make it measurable (e.g. ``nursing_beds`` for
  护理型床位, ``has_clinic`` for 内设医疗机构, ``medical_service_form`` for 医疗服务形式). A
  registry that has the column (under its name or an alias of
  :data:`siting.registry.COLUMN_ALIASES` or of the definition, e.g. ``护理型床位``) is measured;
  :data:`siting.registry.schema.MEASURE_COLUMNS` lists these columns. Yes/no columns accept
  是/否, 有/无, yes/no, true/false, 1/0 (:func:`truthy`); rows with an empty or unreadable value
  are left out of the share and counted in the note.
* **Modelled inputs are labelled.** ``data_basis`` says what a value rests on (``modelled
  registry``, ``census 2020 county population``, ``modelled village points`` ...) and
  ``modelled`` is ``True`` when any input is modelled (registry rows with ``source="modelled"``,
  modelled village points or population).
* **Role and scope.** A figure of the Nanchong plan (002) is 南充市's (511300 and its counties), a
  figure of the Xuanhan programme (000) 宣汉县's (511722): there ``role`` is what the document
  makes it, a ``target`` (met or not met) or a ``baseline`` (e.g. 35.6 beds per 1,000 elderly in
  2019: ``status="baseline"``, the value shown beside it, never met or not met). In any other
  region, and everywhere for 磐安县 (001, Zhejiang) and 冯卯镇 (004, Shandong), the figure is a
  ``benchmark`` (对照): ``status="benchmark"``, the value beside it, never met or not met. A count
  of one place (``local_only``: 宣汉县's 23 敬老院) is ``not applicable`` elsewhere.
* **Elderly** is 60+ (老年人, as Chinese law and the seeds use it); 65+ only where a document
  counts those aged 65+, and the row's ``elderly`` column says so.
* **Status** is one of ``met``, ``not met`` (targets), ``baseline``, ``benchmark`` (shown beside
  the value), ``not measurable``, ``not applicable`` and ``no target`` (measured, but the
  documents set no number, e.g. 两院一体 毗邻建设).

Shares are fractions (0-1). A target is met when ``value >= target`` (``<=`` for the
``comparison`` ``"<="``), exactly at the boundary included; the comparison uses the exact value,
the table shows it rounded (shares to 4 decimals, per 1,000 to 3).

Examples
--------
>>> from siting import indicators, modelled, network, pairing, regions
>>> region = regions.load("xuanhan")
>>> facilities = modelled.registry_for(region)
>>> pairs = pairing.pair(network.modelled(region), facilities)
>>> table = indicators.measure(region, facilities, pairs)
>>> table.set_index("indicator_id").loc["xuanhan_private_homes_paired", "status"]
'met'
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from scipy.spatial import cKDTree

from siting import regions as _regions
from siting._errors import DataError
from siting._io import write_text
from siting.crs import metric_crs
from siting.regions import Region
from siting.registry import COLUMN_ALIASES

__all__ = [
    "COLUMNS",
    "MEASURES",
    "ROLES",
    "ROLES_ZH",
    "STATUSES",
    "Context",
    "Indicator",
    "Measurement",
    "Source",
    "adjacent_pairs",
    "find_column",
    "load_definitions",
    "measure",
    "service_form",
    "to_json",
    "truthy",
    "villages_served",
    "write_json",
]

#: Columns of :func:`measure`, in order.
COLUMNS: Final[tuple[str, ...]] = (
    "indicator_id",
    "name_zh",
    "name_en",
    "value",
    "target",
    "role",
    "role_zh",
    "year",
    "unit",
    "comparison",
    "met",
    "status",
    "needs_column",
    "numerator",
    "denominator",
    "source_document",
    "source_quote",
    "scope",
    "elderly",
    "data_basis",
    "modelled",
    "note",
    "ids",
)

#: The values of the ``status`` column.
STATUSES: Final[tuple[str, ...]] = (
    "met",
    "not met",
    "baseline",
    "benchmark",
    "not measurable",
    "not applicable",
    "no target",
)

#: What a row's figure (``target``) is: the region's own target or baseline, or a benchmark
#: (another region's document, a national norm): the ``role`` column.
ROLES: Final[tuple[str, ...]] = ("target", "baseline", "benchmark")
#: The Chinese of :data:`ROLES` (the ``role_zh`` column).
ROLES_ZH: Final[dict[str, str]] = {"target": "目标", "baseline": "基线", "benchmark": "对照"}

_DEFINITIONS: Final = "indicators.yaml"
_UNITS: Final = ("share", "count", "per_1000")
_COMPARISONS: Final = (">=", "<=")
_AGE_GROUPS: Final = ("60plus", "65plus")
_EPS: Final = 1e-9

_TRUE: Final = frozenset(
    {"是", "有", "yes", "y", "true", "t", "1", "√", "✓", "已设", "已开展", "设有"}
)
_FALSE: Final = frozenset(
    {"否", "无", "没有", "no", "n", "false", "f", "0", "×", "✗", "未设", "未开展"}
)


# --- definitions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A seed document and the verbatim sentence a target comes from."""

    document: str
    quote: str


@dataclass(frozen=True)
class Indicator:
    """One indicator of ``siting/data/indicators.yaml``.

    Attributes
    ----------
    id, zh, en
        Identifier and names.
    measure
        Key of :data:`MEASURES`.
    params
        Keyword arguments of the measure function.
    target
        The document's figure (``None``: the documents set no number); ``target_text`` as written
        (``"2/3"``). What it is says ``role``.
    comparison, unit
        ``">="`` or ``"<="``; ``"share"``, ``"count"`` or ``"per_1000"``.
    sources
        The documents and quotes; the first gives the target.
    scope
        Admin codes where the target is local, or ``None`` for a benchmark that applies anywhere.
    benchmark_document
        Kept for old definition files: outside ``scope`` every figure is a benchmark now.
    note
        What the indicator is and is not.
    role
        ``"target"`` (to reach by ``year``), ``"baseline"`` (the state of ``year``, never met or
        not met) or ``"benchmark"`` (:data:`ROLES`), in the regions of ``scope``; elsewhere
        every figure is a benchmark.
    year
        The target or baseline year, from the document.
    local_only
        A count of one place (23 homes of 宣汉县): outside ``scope`` it is not applicable rather
        than a comparison.
    """

    id: str
    zh: str
    en: str
    measure: str
    params: Mapping[str, Any]
    target: float | None
    target_text: str | None
    comparison: str
    unit: str
    sources: tuple[Source, ...]
    scope: tuple[str, ...] | None
    benchmark_document: str | None = None
    note: str = ""
    role: str = "target"
    year: int | None = None
    local_only: bool = False


@dataclass(frozen=True)
class _Document:
    zh: str
    place: str
    scope: tuple[str, ...] | None  # None: benchmark


def _target(raw: Any, where: str) -> tuple[float | None, str | None]:
    if raw is None:
        return None, None
    text = str(raw).strip()
    try:
        value = float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError) as exc:
        msg = f"{where}: target must be a number or a fraction like '2/3', got {raw!r}"
        raise DataError(msg) from exc
    return value, text


def _parse_documents(table: Mapping[str, Any]) -> dict[str, _Document]:
    docs: dict[str, _Document] = {}
    for name, spec in dict(table.get("documents") or {}).items():
        scope = spec.get("scope")
        docs[str(name)] = _Document(
            zh=str(spec.get("zh", "")),
            place=str(spec.get("place", "")),
            scope=None if scope in (None, "benchmark", "any") else tuple(str(c) for c in scope),
        )
    return docs


def _required_fields(
    raw: Mapping[str, Any], where: str, file: str
) -> tuple[str, str, str, tuple[Source, ...], str, str]:
    """``where`` (now naming the indicator), id, measure, sources, zh and en of one entry."""
    try:
        ident = str(raw["id"])
        where = f"{file}: indicator {ident!r}"
        fn = str(raw["measure"])
        sources = tuple(
            Source(document=str(s["document"]), quote=str(s["quote"])) for s in raw["sources"]
        )
        zh, en = str(raw["zh"]), str(raw["en"])
    except (KeyError, TypeError) as exc:
        msg = f"{where} lacks {exc}"
        raise DataError(msg) from exc
    return where, ident, fn, sources, zh, en


def _check_entry(
    where: str,
    fn: str,
    comparison: str,
    unit: str,
    sources: tuple[Source, ...],
    docs: Mapping[str, _Document],
) -> None:
    if fn not in MEASURES:
        msg = f"{where}: unknown measure {fn!r}; measures are {', '.join(MEASURES)}"
        raise DataError(msg)
    if comparison not in _COMPARISONS:
        msg = f"{where}: comparison must be one of {_COMPARISONS}, got {comparison!r}"
        raise DataError(msg)
    if unit not in _UNITS:
        msg = f"{where}: unit must be one of {_UNITS}, got {unit!r}"
        raise DataError(msg)
    if not sources:
        msg = f"{where}: needs at least one source"
        raise DataError(msg)
    for s in sources:
        if docs and s.document not in docs:
            msg = f"{where}: source document {s.document!r} is not in 'documents'"
            raise DataError(msg)


def _parse_indicator(
    raw: Any, where: str, file: str, docs: Mapping[str, _Document], seen: set[str]
) -> Indicator:
    """One entry of the ``indicators`` list; its id is added to ``seen``."""
    if not isinstance(raw, Mapping):
        msg = f"{where} must be a mapping"
        raise DataError(msg)
    where, ident, fn, sources, zh, en = _required_fields(raw, where, file)
    if ident in seen:
        msg = f"{where}: id given twice"
        raise DataError(msg)
    seen.add(ident)
    comparison = str(raw.get("comparison", ">="))
    unit = str(raw.get("unit", "share"))
    _check_entry(where, fn, comparison, unit, sources, docs)
    scope_raw = raw.get("scope", "any")
    scope = None if scope_raw in (None, "any") else tuple(str(c) for c in scope_raw)
    target, target_text = _target(raw.get("target"), where)
    role, year = _role_year(raw, where)
    return Indicator(
        id=ident,
        zh=zh,
        en=en,
        measure=fn,
        params=dict(raw.get("params") or {}),
        target=target,
        target_text=target_text,
        comparison=comparison,
        unit=unit,
        sources=sources,
        scope=scope,
        benchmark_document=(
            str(raw["benchmark_document"]) if raw.get("benchmark_document") else None
        ),
        note=" ".join(str(raw.get("note", "")).split()),
        role=role,
        year=year,
        local_only=bool(raw.get("local_only", False)),
    )


def _role_year(raw: Mapping[str, Any], where: str) -> tuple[str, int | None]:
    """The ``role`` (default target) and ``year`` of one entry, checked."""
    role = str(raw.get("role", "target"))
    if role not in ROLES:
        msg = f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}"
        raise DataError(msg)
    year_raw = raw.get("year")
    if year_raw is None:
        return role, None
    if isinstance(year_raw, bool) or not isinstance(year_raw, int) or not 1949 <= year_raw <= 2100:
        msg = f"{where}: year must be a year like 2025 (the document's), got {year_raw!r}"
        raise DataError(msg)
    return role, int(year_raw)


def _parse(table: Mapping[str, Any], file: str) -> tuple[list[Indicator], dict[str, _Document]]:
    docs = _parse_documents(table)
    raw_list = table.get("indicators")
    if not isinstance(raw_list, list) or not raw_list:
        msg = f"{file} must hold a non-empty 'indicators' list"
        raise DataError(msg)
    seen: set[str] = set()
    out = [
        _parse_indicator(raw, f"{file}: indicators[{i}]", file, docs, seen)
        for i, raw in enumerate(raw_list)
    ]
    return out, docs


def _read_table(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> tuple[Any, str]:
    if isinstance(source, Mapping):
        return source, "<mapping>"
    try:
        if source is None:
            text = (resources.files("siting") / "data" / _DEFINITIONS).read_text("utf-8")
            file = f"siting/data/{_DEFINITIONS}"
        else:
            text = Path(source).read_text("utf-8")
            file = str(source)
        return yaml.safe_load(text), file
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read the indicator definitions {source or _DEFINITIONS}: {exc}"
        raise DataError(msg) from exc


def load_definitions(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> list[Indicator]:
    """Read the indicator definitions.

    Parameters
    ----------
    source
        A YAML file or a mapping of the same form; default ``siting/data/indicators.yaml``.

    Returns
    -------
    list of Indicator
        In the file's order.

    Raises
    ------
    siting.DataError
        Naming the file and indicator when a definition is malformed.

    Examples
    --------
    >>> defs = load_definitions()
    >>> defs[0].id, defs[0].target
    ('institutions_partner_within_threshold', 1.0)
    """
    table, file = _read_table(source)
    if not isinstance(table, Mapping):
        msg = f"{file} must hold a mapping with an 'indicators' list"
        raise DataError(msg)
    return _parse(table, file)[0]


def _documents(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, _Document]:
    table, file = _read_table(source)
    return _parse(table, file)[1]


# --- helpers -------------------------------------------------------------------------------------

_BRACKETED: Final = re.compile(r"[(\[【<《（][^)\]】>》）]*[)\]】>》）]")


def _norm_name(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name)).strip().casefold()
    text = _BRACKETED.sub("", text)
    return re.sub(r"[\s_\-.:]+", "", text)


def find_column(frame: pd.DataFrame, aliases: Iterable[str]) -> str | None:
    """Return the column of ``frame`` that one of ``aliases`` names, or ``None``.

    Names are compared after Unicode NFKC, case folding, dropping a bracketed unit (``护理型床位
    （张）``) and dropping spaces, ``_``, ``-``, ``.`` and ``:``. The first alias found wins.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(columns=["name", "护理型床位（张）"])
    >>> find_column(frame, ["nursing_beds", "护理型床位"])
    '护理型床位（张）'
    """
    names = {_norm_name(c): c for c in frame.columns if isinstance(c, str)}
    for alias in aliases:
        hit = names.get(_norm_name(alias))
        if hit is not None:
            return str(hit)
    return None


def truthy(value: Any) -> bool | None:
    """Read a yes/no cell: 是/否, 有/无, yes/no, true/false, 1/0 (``None`` when empty or unclear).

    Examples
    --------
    >>> truthy("是"), truthy("无"), truthy(1), truthy(""), truthy("maybe")
    (True, False, True, None, None)
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating):
        if isinstance(value, float | np.floating) and math.isnan(float(value)):
            return None
        return float(value) != 0.0
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    try:
        return float(text) != 0.0
    except ValueError:
        return None


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("Float64")


def _metric_xy(frame: gpd.GeoDataFrame) -> np.ndarray:
    if frame.empty:
        return np.empty((0, 2))
    if frame.crs is None:
        msg = "facilities have no CRS; a registry is in EPSG:4326"
        raise DataError(msg)
    pts = frame.geometry.to_crs(metric_crs())
    return np.column_stack([pts.x.to_numpy(dtype=float), pts.y.to_numpy(dtype=float)])


def adjacent_pairs(
    facilities: gpd.GeoDataFrame,
    from_kinds: Sequence[str],
    to_kinds: Sequence[str],
    *,
    max_distance_m: float = 500.0,
) -> pd.DataFrame:
    """List facilities of ``from_kinds`` with a facility of ``to_kinds`` within a distance.

    Straight-line distance in the metric CRS (:func:`siting.crs.metric_crs`), the nearest
    neighbour of the other kinds only: for 两院一体 (a 卫生院 and a 敬老院 on one site or next
    door) the question is whether one is next door, not how far by road.

    Parameters
    ----------
    facilities
        A registry.
    from_kinds, to_kinds
        The kinds looked from (e.g. ``health_center``) and for (e.g. ``nursing_home``).
    max_distance_m
        Largest distance counted as adjacent (metres, inclusive).

    Returns
    -------
    pandas.DataFrame
        One row per ``from_kinds`` facility in registry order: ``facility_id``,
        ``facility_name``, ``facility_kind``, ``neighbour_id``, ``neighbour_name``,
        ``neighbour_kind``, ``distance_m`` (to the nearest one, empty when there is none) and
        ``adjacent``.

    Examples
    --------
    >>> from siting import modelled
    >>> reg = modelled.registry_for("xuanhan")
    >>> pairs = adjacent_pairs(reg, ["health_center"], ["nursing_home"], max_distance_m=500)
    >>> sorted(pairs.columns)[:2]
    ['adjacent', 'distance_m']
    """
    if max_distance_m < 0 or not math.isfinite(max_distance_m):
        msg = f"max_distance_m must be a finite distance >= 0, got {max_distance_m!r}"
        raise ValueError(msg)
    src = facilities[facilities["kind"].isin(list(from_kinds))]
    dst = facilities[facilities["kind"].isin(list(to_kinds))]
    names = facilities["name"] if "name" in facilities.columns else pd.Series(dtype="string")
    out = pd.DataFrame(
        {
            "facility_id": src.index.astype(str),
            "facility_name": names.reindex(src.index).to_numpy(),
            "facility_kind": src["kind"].to_numpy(),
        }
    )
    if dst.empty or src.empty:
        out["neighbour_id"] = pd.Series([pd.NA] * len(out), dtype="string")
        out["neighbour_name"] = pd.Series([pd.NA] * len(out), dtype="string")
        out["neighbour_kind"] = pd.Series([pd.NA] * len(out), dtype="string")
        out["distance_m"] = pd.Series([np.nan] * len(out), dtype="float64")
        out["adjacent"] = False
        return out
    dist, idx = cKDTree(_metric_xy(dst)).query(_metric_xy(src), k=1)
    dist = np.asarray(dist, dtype=float)
    idx = np.asarray(idx, dtype=int)
    out["neighbour_id"] = dst.index.astype(str).to_numpy()[idx]
    out["neighbour_name"] = names.reindex(dst.index).to_numpy()[idx]
    out["neighbour_kind"] = dst["kind"].to_numpy()[idx]
    out["distance_m"] = np.round(dist, 1)
    out["adjacent"] = dist <= max_distance_m + _EPS
    return out


def villages_served(
    region: Region,
    facilities: gpd.GeoDataFrame,
    kinds: Sequence[str],
    *,
    radius_m: float = 1000.0,
    village_types: Sequence[str] | None = ("村委会",),
) -> pd.Series:
    """Which villages have an elderly-care facility of ``kinds``.

    A village is served when a facility of ``kinds`` carries its ``village_code``, or when a
    facility *without* a ``village_code`` lies within ``radius_m`` (straight line, metric CRS) of
    the village point (``region.villages``; modelled points in the built-in regions).

    Parameters
    ----------
    region
        The region; its villages are the denominator.
    facilities
        A registry.
    kinds
        Facility kinds that count (e.g. ``day_care``, ``happiness_home``).
    radius_m
        Distance rule for facilities without a village code (metres, inclusive).
    village_types
        Village types counted (``村委会``, ``社区``); ``None`` for all village-level units.

    Returns
    -------
    pandas.Series
        Boolean, indexed by ``village_code``.

    Examples
    --------
    >>> from siting import modelled, regions
    >>> region = regions.load("xuanhan")
    >>> served = villages_served(region, modelled.registry_for(region), ["happiness_home"])
    >>> int(served.sum())
    7
    """
    if radius_m < 0 or not math.isfinite(radius_m):
        msg = f"radius_m must be a finite distance >= 0, got {radius_m!r}"
        raise ValueError(msg)
    villages = region.villages
    if village_types is not None and "village_type" in villages.columns:
        villages = villages[villages["village_type"].isin(list(village_types))]
    served = pd.Series(False, index=villages.index.astype(str), name="served")
    sub = facilities[facilities["kind"].isin(list(kinds))]
    if sub.empty or villages.empty:
        return served
    codes = (
        sub["village_code"].astype("string")
        if "village_code" in sub.columns
        else pd.Series(pd.NA, index=sub.index, dtype="string")
    )
    served |= served.index.isin(codes.dropna().tolist())
    loose = sub[codes.isna().to_numpy()]
    if not loose.empty:
        tree = cKDTree(_metric_xy(loose))
        vxy = _metric_xy(gpd.GeoDataFrame(geometry=villages.geometry, crs=villages.crs))
        near = tree.query_ball_point(vxy, r=radius_m + _EPS)
        served |= np.array([len(n) > 0 for n in near], dtype=bool)
    return served


# --- measurements ---------------------------------------------------------------------------------


@dataclass
class Measurement:
    """What a measure function returns (see :data:`MEASURES`).

    ``value`` is ``None`` when the indicator cannot be measured; ``needs_column`` then names the
    column that would make it measurable. ``basis`` lists what the value rests on and
    ``modelled`` whether any of it is modelled.
    """

    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    needs_column: str | None = None
    note: str = ""
    basis: list[str] = field(default_factory=list)
    modelled: bool = False
    ids: list[str] = field(default_factory=list)
    elderly: str | None = None


@dataclass(frozen=True)
class Context:
    """What a measure function sees: the inputs and settings of :func:`measure`."""

    region: Region
    facilities: gpd.GeoDataFrame
    pairings: pd.DataFrame | None
    threshold_min: float | Mapping[str, float] | None
    village_radius_m: float
    village_types: tuple[str, ...] | None
    adjacency_m: float
    age_group: str


def _registry_basis(rows: pd.DataFrame, what: str = "registry") -> tuple[str, bool]:
    if "source" not in rows.columns or rows.empty:
        return f"{what} (source not given)", False
    src = rows["source"].astype("string").fillna("user")
    n_mod = int((src == "modelled").sum())
    if n_mod == len(rows):
        return f"modelled {what} (source=modelled)", True
    if n_mod:
        return f"{what}: {n_mod} of {len(rows)} rows modelled", True
    labels = ", ".join(sorted(set(src.tolist())))
    return f"{what} (source: {labels})", False


def _select(
    ctx: Context,
    kinds: Sequence[str],
    *,
    ownership: str | None = None,
    levels: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    f = ctx.facilities
    sub = f[f["kind"].isin(list(kinds))]
    if ownership is not None:
        sub = sub[sub["ownership"].astype("string") == ownership]
    if levels is not None:
        sub = sub[sub["level"].astype("string").isin(list(levels))]
    return sub


def _kinds_text(kinds: Sequence[str]) -> str:
    return ", ".join(kinds)


def _threshold(ctx: Context, rule: str) -> float | None:
    t = ctx.threshold_min
    if t is None:
        return None
    if isinstance(t, Mapping):
        return float(t[rule]) if rule in t else None
    return float(t)


def _rule_rows(ctx: Context, rule: str) -> tuple[pd.DataFrame, pd.DataFrame, float | None]:
    """The assigned and the nearest (lowest rank) pairing row of each facility under ``rule``
    (indexed by facility id) and the threshold used (``None``: the rule's own)."""
    assert ctx.pairings is not None
    p = ctx.pairings[ctx.pairings["rule"] == rule].copy()
    p["facility_id"] = p["facility_id"].astype(str)
    p["_t"] = pd.to_numeric(p["travel_time_min"], errors="coerce")
    p["_rank"] = pd.to_numeric(p["rank"], errors="coerce") if "rank" in p.columns else p["_t"]
    assigned = p[p["assigned"].fillna(False).astype(bool)].drop_duplicates("facility_id")
    nearest = p.sort_values(["facility_id", "_rank", "_t"], kind="stable").drop_duplicates(
        "facility_id"
    )
    return (
        assigned.set_index("facility_id"),
        nearest.set_index("facility_id"),
        _threshold(ctx, rule),
    )


def _partner_text(r: Mapping[str, Any]) -> str:
    name = r.get("partner_name")
    named = f" {name}" if isinstance(name, str) and name else ""
    return f"{r.get('partner_id', '?')}{named} ({float(r['_t']):.1f} min)"


def _capacity_text(r: Mapping[str, Any]) -> str:
    """``"; X is full: capacity 3 (assumed), load 3"`` from a pairing row, or ``""``."""
    cap = pd.to_numeric(pd.Series([r.get("partner_capacity")]), errors="coerce").iloc[0]
    if pd.isna(cap):
        return ""
    load = pd.to_numeric(pd.Series([r.get("partner_load")]), errors="coerce").iloc[0]
    assumed = truthy(r.get("capacity_assumed"))
    text = f"; {r.get('partner_id', '?')} is full: capacity {float(cap):g}"
    text += " (assumed, not from data)" if assumed else ""
    return text + (f", load {float(load):g}" if pd.notna(load) else "")


def _breaks(
    ctx: Context, rule: str, ids: pd.Index, *, nearest: bool
) -> tuple[pd.Series, dict[str, str], float | None, str]:
    """Per facility id whether it holds under ``rule`` (its assigned partner within the
    threshold and, with ``nearest``, its nearest one), the reason of each that does not, the
    threshold used and the travel-time methods."""
    assigned, first, t_over = _rule_rows(ctx, rule)
    ok: dict[str, bool] = {}
    why: dict[str, str] = {}
    thresholds = (
        pd.to_numeric(assigned["threshold_min"], errors="coerce").dropna()
        if "threshold_min" in assigned.columns
        else pd.Series(dtype=float)
    )
    t_rule = float(thresholds.iloc[0]) if t_over is None and len(thresholds) else t_over
    a_rows: dict[Any, Any] = assigned.to_dict("index")  # one lookup per facility
    n_rows: dict[Any, Any] = first.to_dict("index")
    for fid in ids.astype(str):
        a = a_rows.get(fid)
        n = n_rows.get(fid)
        if a is None:
            ok[fid] = False
            why[fid] = (
                f"no partner assigned; its nearest is {_partner_text(n)}{_capacity_text(n)}"
                if n is not None
                else "no partner of the rule within reach"
            )
            continue
        thr = t_over if t_over is not None else float(a.get("threshold_min", math.nan))
        within = (
            bool(a["within_threshold"])
            if t_over is None
            else bool(pd.notna(a["_t"]) and float(a["_t"]) <= t_over + _EPS)
        )
        if not within:
            ok[fid] = False
            why[fid] = f"its partner {_partner_text(a)} is over the {thr:g}-minute threshold"
        elif (
            nearest
            and n is not None
            and str(n.get("partner_id")) != str(a.get("partner_id"))
            and float(a["_t"]) > float(n["_t"]) + _EPS
        ):
            ok[fid] = False
            why[fid] = (
                f"paired with {_partner_text(a)} instead of its nearest {_partner_text(n)}"
                + _capacity_text(n)
            )
        else:
            ok[fid] = True
    result = pd.Series(ok, dtype=bool).reindex(ids.astype(str)).fillna(False).astype(bool)
    methods = sorted(set(assigned["method"].dropna().astype(str))) if "method" in assigned else []
    return result, why, t_rule, "/".join(methods) or "unknown"


def _within(ctx: Context, rule: str, ids: pd.Index) -> tuple[pd.Series, float | None, str]:
    """Per facility id: is its assigned partner under ``rule`` within the threshold?"""
    result, _, t_used, method = _breaks(ctx, rule, ids, nearest=False)
    return result, t_used, method


def _no_pairings(rule: str) -> Measurement:
    return Measurement(
        value=None,
        needs_column="pairings",
        note=(
            f"needs the pairings of a run (rule {rule}): pass pairings= "
            "(siting.pairing.pair or pipeline.run(...).pairings)"
        ),
    )


def _breaks_text(sub: pd.DataFrame, why: Mapping[str, str], limit: int = 15) -> str:
    """``"not met by: ID 名称: reason; ..."`` for the facilities that break the rule."""
    names = sub["name"] if "name" in sub.columns else pd.Series(dtype="string")
    parts = []
    for fid, reason in list(why.items())[:limit]:
        name = names.get(fid) if fid in names.index else None
        named = f" {name}" if isinstance(name, str) and name else ""
        parts.append(f"{fid}{named}: {reason}")
    more = f" (+{len(why) - limit} more)" if len(why) > limit else ""
    return "not met by: " + "; ".join(parts) + more


def _pairing_measure(
    ctx: Context,
    rule: str,
    kinds: Sequence[str],
    ownership: str | None,
    as_share: bool,
    nearest: bool = False,
) -> Measurement:
    if ctx.pairings is None:
        return _no_pairings(rule)
    if ownership is not None and (
        "ownership" not in ctx.facilities.columns or ctx.facilities["ownership"].isna().all()
    ):
        return Measurement(value=None, needs_column="ownership", note="ownership is unknown")
    sub = _select(ctx, kinds, ownership=ownership)
    sub = sub.set_axis(sub.index.astype(str), axis=0)
    basis, modelled = _registry_basis(sub)
    within, why, t_used, method = _breaks(ctx, rule, sub.index, nearest=nearest)
    n, k = len(sub), int(within.sum())
    t_text = "rule threshold" if t_used is None else f"{t_used:g} min"
    basis_list = [basis, f"travel times of the pairings (rule {rule} only, method {method})"]
    what = f"with its nearest partner within {t_text}" if nearest else f"within {t_text}"
    note = f"{k} of {n} paired under rule {rule} {what}"
    if why:
        note += "; " + _breaks_text(sub, why)
    if as_share:
        if n == 0:
            return Measurement(
                value=None,
                denominator=0,
                note=f"the registry has no {_kinds_text(kinds)}",
                basis=basis_list,
                modelled=modelled,
            )
        value = k / n
    else:
        value = float(k)
        note = f"registry has {n}; " + note
    return Measurement(
        value=value,
        numerator=k,
        denominator=n,
        note=note,
        basis=basis_list,
        modelled=modelled,
        ids=[str(i) for i, ok in within.items() if ok],
    )


def partner_within_threshold(ctx: Context, *, rule: str, kinds: Sequence[str]) -> Measurement:
    """Share of facilities of ``kinds`` whose assigned partner under ``rule`` is within the
    threshold (the rule's, or ``measure(threshold_min=...)``)."""
    return _pairing_measure(ctx, rule, kinds, None, as_share=True)


def programme_count(
    ctx: Context,
    *,
    rule: str,
    kinds: Sequence[str],
    ownership: str | None = None,
    nearest: bool = False,
) -> Measurement:
    """Number of facilities of ``kinds`` (and ``ownership``) paired under ``rule`` (that rule
    only) within its threshold and, with ``nearest``, with their nearest partner (就近); the
    note names each facility that breaks it, its nearest partner, the one it got, the travel
    times and, when capacity decided, the capacity."""
    return _pairing_measure(ctx, rule, kinds, ownership, as_share=False, nearest=nearest)


def facility_count(ctx: Context, *, kinds: Sequence[str]) -> Measurement:
    """Number of facilities of ``kinds`` in the registry."""
    sub = _select(ctx, kinds)
    basis, modelled = _registry_basis(sub)
    return Measurement(
        value=float(len(sub)),
        numerator=float(len(sub)),
        note=f"{len(sub)} {_kinds_text(kinds)} in the registry",
        basis=[basis],
        modelled=modelled,
        ids=[str(i) for i in sub.index],
    )


def _beds(ctx: Context, kinds: Sequence[str]) -> tuple[pd.Series, str, bool, Measurement | None]:
    """The beds of the facilities of ``kinds``, the registry basis, whether it is modelled, and
    the "not measurable" answer when no beds are known."""
    sub = _select(ctx, kinds)
    basis, modelled = _registry_basis(sub)
    beds = _numbers(sub["beds"]) if "beds" in sub.columns else pd.Series(dtype="Float64")
    if not beds.isna().all():
        return beds, basis, modelled, None
    unknown = Measurement(
        value=None,
        needs_column="beds",
        note=f"no beds are known for the {_kinds_text(kinds)}",
        basis=[basis],
        modelled=modelled,
    )
    return beds, basis, modelled, unknown


def beds_total(ctx: Context, *, kinds: Sequence[str]) -> Measurement:
    """Sum of the beds of the facilities of ``kinds`` (those without beds left out, counted)."""
    beds, basis, modelled, unknown = _beds(ctx, kinds)
    if unknown is not None:
        return unknown
    total = float(beds.sum())
    note = f"{total:g} beds in {int(beds.notna().sum())} {_kinds_text(kinds)}"
    if beds.isna().any():
        note += f"; {int(beds.isna().sum())} without beds left out"
    return Measurement(
        value=total, numerator=total, note=note, basis=[basis, "column beds"], modelled=modelled
    )


def _with_min_beds(
    sub: pd.DataFrame, min_beds: float, what: str, notes: list[str]
) -> tuple[pd.DataFrame, str] | str:
    """The facilities with at least ``min_beds`` beds and their description (a note is added
    to ``notes`` for those without beds), or the reason why no beds are known."""
    beds = _numbers(sub["beds"]) if "beds" in sub.columns else pd.Series(dtype="Float64")
    if beds.isna().all():
        return f"no beds are known for the {what}"
    unknown_beds = int(beds.isna().sum())
    if unknown_beds:
        notes.append(f"{unknown_beds} without beds left out")
    sub = sub[(beds >= min_beds).fillna(False).to_numpy(dtype=bool)]
    return sub, f"{what} with {min_beds:g}+ beds"


def _share_of_yes(
    flags: pd.Series,
    col: str,
    column: str,
    what: str,
    notes: list[str],
    *,
    basis: str,
    modelled: bool,
    used: Sequence[str] | None = None,
) -> Measurement:
    """The share of yes among the known ``flags`` of column ``col`` (asked for as ``column``);
    ``used`` says what the flags rest on (default ``column <col>``)."""
    on = list(used) if used is not None else [f"column {col}"]
    known = flags.dropna()
    if len(flags) - len(known):
        notes.append(f"{len(flags) - len(known)} with an empty or unclear {col} left out")
    if known.empty:
        return Measurement(
            value=None,
            denominator=0,
            needs_column=column,
            note="; ".join([f"no {what} with a yes/no {col}", *notes]),
            basis=[basis, *on],
            modelled=modelled,
        )
    k = int(known.sum())
    return Measurement(
        value=k / len(known),
        numerator=k,
        denominator=len(known),
        note="; ".join([f"{k} of {len(known)} {what}", *notes]),
        basis=[basis, *on],
        modelled=modelled,
        ids=[str(i) for i, v in known.items() if v],
    )


def _aliases(column: str, aliases: Sequence[str] = ()) -> list[str]:
    """``column``, the definition's ``aliases`` and the registry's header aliases of ``column``
    (:data:`siting.registry.COLUMN_ALIASES`: 护理型床位 for ``nursing_beds`` ...)."""
    out = [column, *aliases]
    out += [a for a, c in COLUMN_ALIASES.items() if c == column and a not in out]
    return out


_NO_FORM: Final = ("无", "否", "未", "没有", "不提供", "none", "no")


def service_form(value: Any) -> bool | None:
    """Read a 医疗服务形式 cell: a named form (内设医疗机构, 签约合作, 巡诊, 医养结合 ...) or yes is
    ``True``; 无/否/未提供 or no is ``False``; empty is ``None``.

    Examples
    --------
    >>> service_form("签约合作"), service_form("无"), service_form("未提供"), service_form(None)
    (True, False, False, None)
    """
    flag = truthy(value)
    if flag is not None:
        return flag
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    if not text:
        return None
    return not any(text.startswith(w) or text == w for w in _NO_FORM)


def flag_share(
    ctx: Context,
    *,
    kinds: Sequence[str],
    column: str,
    aliases: Sequence[str] = (),
    min_beds: float | None = None,
    levels: Sequence[str] | None = None,
    true_kinds: Sequence[str] = (),
    forms: bool = False,
    also_yes: str | None = None,
    partner_rule: str | None = None,
) -> Measurement:
    """Share of facilities of ``kinds`` (with at least ``min_beds`` beds, of ``levels``) whose
    yes/no ``column`` is yes; ``true_kinds`` count as yes by definition.

    With ``forms`` the column names a form of service (:func:`service_form`). A yes in the
    ``also_yes`` column (e.g. ``has_clinic``) counts as yes. Where neither column tells, and
    ``partner_rule`` is given with the run's pairings, a facility whose partner under that rule
    is within the threshold counts as yes and one beyond it as no (a spatial precondition,
    labelled so in the basis)."""
    sub = _select(ctx, kinds, levels=levels)
    sub = sub.set_axis(sub.index.astype(str), axis=0)
    what = _kinds_text(kinds)
    basis, modelled = _registry_basis(sub)
    notes: list[str] = []
    if min_beds is not None:
        selected = _with_min_beds(sub, min_beds, what, notes)
        if isinstance(selected, str):
            return Measurement(
                value=None, needs_column="beds", note=selected, basis=[basis], modelled=modelled
            )
        sub, what = selected
    if levels is not None:
        what = f"{what} of level {'/'.join(levels)}"
    names = _aliases(column, aliases)
    col = find_column(sub, names)
    yes_col = find_column(sub, _aliases(also_yes)) if also_yes else None
    by_partner = partner_rule is not None and ctx.pairings is not None
    n = len(sub)
    if col is None and yes_col is None and not by_partner:
        return Measurement(
            value=None,
            denominator=n,
            needs_column=column,
            note=(
                f"the registry has no {column} column (aliases: {', '.join(names[1:])}); "
                f"{n} {what} to survey"
            ).strip(),
            basis=[basis],
            modelled=modelled,
        )
    if col is not None:
        reader = service_form if forms else truthy
        flags = pd.Series([reader(v) for v in sub[col]], index=sub.index, dtype="boolean")
    else:
        flags = pd.Series(pd.NA, index=sub.index, dtype="boolean")
    used = [f"column {col}"] if col is not None else []
    if yes_col is not None:
        flags[[truthy(v) is True for v in sub[yes_col]]] = True
        used.append(f"column {yes_col} (yes)")
    if true_kinds:
        flags[sub["kind"].isin(list(true_kinds)).to_numpy()] = True
    if by_partner and flags.isna().any():
        assert partner_rule is not None
        unknown = sub.index[flags.isna().to_numpy()]
        within, _, t_used, _ = _breaks(ctx, partner_rule, unknown, nearest=False)
        flags[unknown] = within.reindex(unknown).to_numpy(dtype=bool)
        t_text = "its threshold" if t_used is None else f"{t_used:g} min"
        used.append(
            f"{len(unknown)} without a survey value: a medical partner under rule "
            f"{partner_rule} within {t_text} (spatial precondition, not a survey)"
        )
        notes.append(
            f"a {column} column ({', '.join(names[1:4])}) would replace the spatial precondition"
        )
    return _share_of_yes(
        flags, col or column, column, what, notes, basis=basis, modelled=modelled, used=used
    )


def column_ratio(
    ctx: Context,
    *,
    kinds: Sequence[str],
    column: str,
    aliases: Sequence[str] = (),
    denominator_column: str = "beds",
) -> Measurement:
    """Sum of ``column`` over the sum of ``denominator_column`` for facilities of ``kinds``
    where both are known (e.g. 护理型床位 / 床位)."""
    sub = _select(ctx, kinds)
    basis, modelled = _registry_basis(sub)
    den_all = (
        _numbers(sub[denominator_column])
        if denominator_column in sub.columns
        else pd.Series(pd.NA, index=sub.index, dtype="Float64")
    )
    col = find_column(sub, _aliases(column, aliases))
    if col is None:
        total = float(den_all.sum()) if den_all.notna().any() else None
        return Measurement(
            value=None,
            denominator=total,
            needs_column=column,
            note=f"the registry has no {column} column (aliases: {', '.join(aliases)})",
            basis=[basis],
            modelled=modelled,
        )
    num = _numbers(sub[col])
    both = (num.notna() & den_all.notna()).to_numpy(dtype=bool)
    left = int(len(sub) - both.sum())
    den = float(den_all[both].sum())
    if den <= 0:
        return Measurement(
            value=None,
            denominator=0,
            needs_column=denominator_column if den_all.isna().all() else column,
            note=f"no {_kinds_text(kinds)} with both {col} and {denominator_column}",
            basis=[basis, f"column {col}"],
            modelled=modelled,
        )
    k = float(num[both].sum())
    note = f"{k:g} of {den:g} {denominator_column} in {int(both.sum())} facilities"
    if left:
        note += f"; {left} without both values left out"
    return Measurement(
        value=k / den,
        numerator=k,
        denominator=den,
        note=note,
        basis=[basis, f"columns {col}, {denominator_column}"],
        modelled=modelled,
    )


def _age_column(age_group: str) -> str:
    if age_group not in _AGE_GROUPS:
        msg = f"age_group must be one of {_AGE_GROUPS}, got {age_group!r}"
        raise ValueError(msg)
    return f"pop_{age_group}"


def _age_label(age_group: str) -> str:
    return age_group.replace("plus", "+")


def _elderly_text(age_group: str, *, chosen: bool = False) -> str:
    """The ``elderly`` column: ``60+`` (老年人), or 65+ and why."""
    if age_group == "60plus":
        return "60+ (老年人)"
    if chosen:
        return "65+ (measure(age_group='65plus'); 老年人 is 60+)"
    return "65+ (as the document counts; 老年人 is 60+)"


def beds_per_1000_elderly(ctx: Context, *, kinds: Sequence[str]) -> Measurement:
    """Beds of ``kinds`` per 1,000 elderly of the region (census 2020 county counts, age group
    ``measure(age_group=...)``)."""
    beds, basis, modelled, unknown = _beds(ctx, kinds)
    if unknown is not None:
        return unknown
    pop_col = _age_column(ctx.age_group)
    counties = ctx.region.counties
    pop = float(pd.to_numeric(counties[pop_col], errors="coerce").sum())
    source = (
        ", ".join(sorted(set(counties["population_source"].astype(str))))
        if "population_source" in counties.columns
        else "unknown"
    )
    pop_modelled = "modelled" in source
    total = float(beds.sum())
    note = f"{total:g} beds / {pop:,.0f} aged {_age_label(ctx.age_group)} x 1000"
    if beds.isna().any():
        note += f"; {int(beds.isna().sum())} facilities without beds left out"
    return Measurement(
        value=total / pop * 1000.0 if pop > 0 else None,
        numerator=total,
        denominator=pop,
        note=note,
        basis=[basis, f"county population aged {_age_label(ctx.age_group)} ({source})"],
        modelled=modelled or pop_modelled,
        elderly=_elderly_text(ctx.age_group, chosen=True),
    )


def villages_with_facility(ctx: Context, *, kinds: Sequence[str]) -> Measurement:
    """Share of villages (``measure(village_types=...)``) served by a facility of ``kinds``
    (:func:`villages_served`, ``measure(village_radius_m=...)``)."""
    sub = _select(ctx, kinds)
    basis, modelled = _registry_basis(sub)
    served = villages_served(
        ctx.region,
        ctx.facilities,
        kinds,
        radius_m=ctx.village_radius_m,
        village_types=ctx.village_types,
    )
    n, k = len(served), int(served.sum())
    types = "all village-level units" if ctx.village_types is None else "/".join(ctx.village_types)
    basis_list = [basis, f"village_code of the facilities; villages: {types}"]
    codes = (
        sub["village_code"] if "village_code" in sub.columns else pd.Series(pd.NA, index=sub.index)
    )
    n_loose = int(codes.isna().sum())
    if n_loose:
        quality = (
            ", ".join(sorted(set(ctx.region.villages["coord_quality"].astype(str))))
            if "coord_quality" in ctx.region.villages.columns
            else "unknown"
        )
        basis_list.append(
            f"{n_loose} facilities without village_code matched within "
            f"{ctx.village_radius_m:g} m of the village points ({quality})"
        )
        modelled = modelled or quality == "modelled"
    if n == 0:
        return Measurement(
            value=None, denominator=0, note=f"the region has no {types}", basis=basis_list
        )
    return Measurement(
        value=k / n,
        numerator=k,
        denominator=n,
        note=f"{k} of {n} villages ({types}) with a {_kinds_text(kinds)}",
        basis=basis_list,
        modelled=modelled,
        ids=[str(c) for c, v in served.items() if v],
    )


def adjacent_share(
    ctx: Context, *, from_kinds: Sequence[str], to_kinds: Sequence[str]
) -> Measurement:
    """Share of facilities of ``from_kinds`` with one of ``to_kinds`` within
    ``measure(adjacency_m=...)`` (:func:`adjacent_pairs`)."""
    pairs = adjacent_pairs(ctx.facilities, from_kinds, to_kinds, max_distance_m=ctx.adjacency_m)
    used = ctx.facilities[ctx.facilities["kind"].isin([*from_kinds, *to_kinds])]
    basis, modelled = _registry_basis(used)
    basis_list = [basis, f"straight-line distance <= {ctx.adjacency_m:g} m"]
    n = len(pairs)
    if n == 0:
        return Measurement(
            value=None,
            denominator=0,
            note=f"the registry has no {_kinds_text(from_kinds)}",
            basis=basis_list,
            modelled=modelled,
        )
    hit = pairs[pairs["adjacent"]]
    listed = ", ".join(
        f"{r.facility_id}+{r.neighbour_id} ({r.distance_m:.0f} m)"
        for r in hit.head(10).itertuples()
    )
    note = f"{len(hit)} of {n} {_kinds_text(from_kinds)} within {ctx.adjacency_m:g} m of a " + (
        _kinds_text(to_kinds)
    )
    if listed:
        note += f": {listed}" + (" ..." if len(hit) > 10 else "")
    return Measurement(
        value=len(hit) / n,
        numerator=len(hit),
        denominator=n,
        note=note,
        basis=basis_list,
        modelled=modelled,
        ids=hit["facility_id"].astype(str).tolist(),
    )


def population_share(
    ctx: Context, *, column: str, aliases: Sequence[str] = (), age_group: str = "60plus"
) -> Measurement:
    """Sum of a head-count ``column`` of the region's counties, villages or, failing those, of
    the registry's facilities (e.g. the elderly each 卫生院 signed with a family doctor) over the
    region's population of ``age_group`` (60+, or 65+ where the document counts so)."""
    pop_col = _age_column(age_group)
    names = _aliases(column, aliases)
    elderly = _elderly_text(age_group)
    for table, label in ((ctx.region.counties, "county"), (ctx.region.villages, "village")):
        col = find_column(table, names)
        if col is None:
            continue
        num = pd.to_numeric(table[col], errors="coerce")
        known = num.notna()
        pop = float(pd.to_numeric(table.loc[known, pop_col], errors="coerce").sum())
        k = float(num[known].sum())
        source = (
            ", ".join(sorted(set(table.loc[known, "population_source"].astype(str))))
            if "population_source" in table.columns
            else "unknown"
        )
        note = f"{k:g} of {pop:,.0f} aged {_age_label(age_group)} ({label} tables)"
        if int((~known).sum()):
            note += f"; {int((~known).sum())} {label} rows without {col} left out"
        return Measurement(
            value=k / pop if pop > 0 else None,
            numerator=k,
            denominator=pop,
            note=note,
            basis=[
                f"{label} column {col}",
                f"{label} population aged {_age_label(age_group)} ({source})",
            ],
            modelled="modelled" in source,
            elderly=elderly,
        )
    col = find_column(ctx.facilities, names)
    if col is not None:
        return _registry_head_count(ctx, col, age_group, elderly)
    return Measurement(
        value=None,
        needs_column=column,
        note=(
            f"needs a {column} head count in the registry (per medical facility, summed), "
            f"region.counties or region.villages (aliases: {', '.join(names[1:])})"
        ),
        elderly=elderly,
    )


def _registry_head_count(ctx: Context, col: str, age_group: str, elderly: str) -> Measurement:
    """A head count summed over the facilities that report it, over the region's elderly."""
    num = pd.to_numeric(ctx.facilities[col], errors="coerce")
    rows = ctx.facilities[num.notna().to_numpy()]
    basis, modelled = _registry_basis(rows)
    counties = ctx.region.counties
    pop = float(pd.to_numeric(counties[_age_column(age_group)], errors="coerce").sum())
    source = (
        ", ".join(sorted(set(counties["population_source"].astype(str))))
        if "population_source" in counties.columns
        else "unknown"
    )
    k = float(num.sum())
    return Measurement(
        value=k / pop if pop > 0 and len(rows) else None,
        numerator=k,
        denominator=pop,
        needs_column=None if len(rows) else col,
        note=(
            f"{k:g} reported by {len(rows)} facilities (column {col}) of {pop:,.0f} aged "
            f"{_age_label(age_group)} in the region; facilities without a number count as 0"
        ),
        basis=[
            basis,
            f"column {col}",
            f"county population aged {_age_label(age_group)} ({source})",
        ],
        modelled=modelled or "modelled" in source,
        elderly=elderly,
    )


#: The measure functions by name (the ``measure`` key of ``indicators.yaml``).
MEASURES: Final[dict[str, Callable[..., Measurement]]] = {
    "partner_within_threshold": partner_within_threshold,
    "programme_count": programme_count,
    "flag_share": flag_share,
    "column_ratio": column_ratio,
    "beds_per_1000_elderly": beds_per_1000_elderly,
    "villages_with_facility": villages_with_facility,
    "adjacent_share": adjacent_share,
    "population_share": population_share,
    "facility_count": facility_count,
    "beds_total": beds_total,
}


# --- measure -------------------------------------------------------------------------------------


def _in_scope(region: Region, scope: tuple[str, ...]) -> bool:
    """A region is in scope when it is a scope unit or all its counties lie in scope units."""
    if region.code in scope:
        return True
    counties = [str(c) for c in region.counties.index]
    return bool(counties) and all(c in scope or (c[:4] + "00") in scope for c in counties)


def _round(value: float | None, unit: str) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, {"share": 4, "count": 0, "per_1000": 3}[unit])


def _compare(value: float, target: float, comparison: str) -> bool:
    if comparison == ">=":
        return value >= target - _EPS
    return value <= target + _EPS


def _scope_text(ind: Indicator, docs: Mapping[str, _Document]) -> str:
    if ind.scope is None:
        places = sorted({docs[s.document].place for s in ind.sources if s.document in docs})
        return "benchmark (" + "; ".join(places) + ")" if places else "any"
    return ", ".join(ind.scope)


def measure(
    region: Region | str,
    facilities: gpd.GeoDataFrame,
    pairings: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    *,
    indicators: Iterable[str] | None = None,
    definitions: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    threshold_min: float | Mapping[str, float] | None = None,
    village_radius_m: float = 1000.0,
    village_types: Sequence[str] | None = ("村委会",),
    adjacency_m: float = 500.0,
    age_group: Literal["60plus", "65plus"] = "60plus",
    out_of_scope: Literal["not applicable", "benchmark"] = "benchmark",
) -> pd.DataFrame:
    """Measure the seed policy indicators for a region.

    Parameters
    ----------
    region
        A :class:`~siting.regions.Region` or a name/code for :func:`siting.regions.load`.
    facilities
        The region's registry (:mod:`siting.registry`).
    pairings
        The pairings of a run (:func:`siting.pairing.pair`); without them the pairing
        indicators are "not measurable".
    gaps
        Accepted for symmetry with ``pipeline.run`` results; not used by the shipped
        indicators.
    indicators
        Indicator ids to measure (default all, in the definitions' order).
    definitions
        Another definitions file or mapping (default ``siting/data/indicators.yaml``).
    threshold_min
        Travel-time threshold (minutes) replacing the pairing rules' thresholds, for all rules
        or per rule id (``{"health_partner": 20}``).
    village_radius_m
        A facility without ``village_code`` serves the villages whose point is within this
        distance (metres).
    village_types
        Village types counted as 行政村 (default ``("村委会",)``; ``None`` for every
        village-level unit, 社区 included).
    adjacency_m
        Distance within which two facilities are next door (两院一体, metres).
    age_group
        Census age group of "elderly" for beds per 1,000: ``"60plus"`` (default, 老年人 as
        Chinese law and the seeds use it) or ``"65plus"``.
    out_of_scope
        For a figure of another region's document (a Nanchong target measured in Xuanhan):
        ``"benchmark"`` (default; status ``benchmark``, the value shown beside the figure as
        comparison, never met or not met) or ``"not applicable"`` (value shown, no comparison).

    Returns
    -------
    pandas.DataFrame
        One row per indicator, columns :data:`COLUMNS`: ``value`` and ``target`` (the
        document's figure; shares as fractions), ``role`` (:data:`ROLES`: what the figure is
        for this region), ``role_zh`` (目标/基线/对照), ``year`` (the target or baseline year),
        ``met`` (boolean, ``<NA>`` unless a target), ``status`` (:data:`STATUSES`),
        ``needs_column``, ``numerator``, ``denominator``, ``source_document``, ``source_quote``
        (``" | "`` between several), ``scope``, ``elderly`` (the age group of a population
        figure: ``60+``, or ``65+ (the document's own)``), ``data_basis``, ``modelled``,
        ``note`` (for a pairing count not met: which facilities break the rule and why) and
        ``ids`` (the facility ids or village codes counted in the numerator).

    Raises
    ------
    ValueError
        For an unknown indicator id, option value or a bad distance.
    siting.DataError
        If the definitions are malformed or the facilities lack ``kind``.

    Examples
    --------
    >>> from siting import modelled, regions
    >>> region = regions.load("xuanhan")
    >>> t = measure(region, modelled.registry_for(region))
    >>> t.set_index("indicator_id").loc["nursing_bed_share", ["status", "needs_column"]].tolist()
    ['not measurable', 'nursing_beds']
    """
    del gaps  # no shipped indicator uses the gaps (yet)
    if not isinstance(region, Region):
        region = _regions.load(region)
    _check_inputs(facilities, pairings, village_radius_m, adjacency_m, age_group, out_of_scope)
    defs = load_definitions(definitions)
    docs = _documents(definitions)
    defs = _chosen(defs, indicators)
    ctx = Context(
        region=region,
        facilities=facilities,
        pairings=pairings,
        threshold_min=threshold_min,
        village_radius_m=float(village_radius_m),
        village_types=None if village_types is None else tuple(village_types),
        adjacency_m=float(adjacency_m),
        age_group=age_group,
    )
    return _typed_frame([_row(ind, ctx, docs, out_of_scope) for ind in defs])


def _check_inputs(
    facilities: gpd.GeoDataFrame,
    pairings: pd.DataFrame | None,
    village_radius_m: float,
    adjacency_m: float,
    age_group: str,
    out_of_scope: str,
) -> None:
    """Refuse the arguments of :func:`measure` it cannot work with."""
    if not isinstance(facilities, gpd.GeoDataFrame) or "kind" not in facilities.columns:
        msg = "facilities must be a registry GeoDataFrame with a 'kind' column"
        raise DataError(msg)
    if out_of_scope not in ("not applicable", "benchmark"):
        msg = f"out_of_scope must be 'not applicable' or 'benchmark', got {out_of_scope!r}"
        raise ValueError(msg)
    _age_column(age_group)
    for name, dist in (("village_radius_m", village_radius_m), ("adjacency_m", adjacency_m)):
        if not math.isfinite(float(dist)) or dist < 0:
            msg = f"{name} must be a finite distance >= 0, got {dist!r}"
            raise ValueError(msg)
    if pairings is not None:
        need = {"rule", "facility_id", "assigned", "within_threshold", "travel_time_min"}
        lacking = sorted(need - set(pairings.columns))
        if lacking:
            msg = f"pairings lack the columns {lacking} (see siting.pairing.COLUMNS)"
            raise DataError(msg)


def _chosen(defs: list[Indicator], indicators: Iterable[str] | None) -> list[Indicator]:
    """The definitions of ``indicators`` (all by default), in the definitions' order."""
    if indicators is None:
        return defs
    wanted = list(indicators)
    known = {d.id for d in defs}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        msg = f"unknown indicators {unknown}; indicators are {', '.join(sorted(known))}"
        raise ValueError(msg)
    return [d for d in defs if d.id in set(wanted)]


def _typed_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as :func:`measure`'s table, with its column dtypes."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("value", "target", "numerator", "denominator"):
        frame[col] = pd.array(frame[col].tolist(), dtype="Float64")
    frame["met"] = pd.array(frame["met"].tolist(), dtype="boolean")
    frame["year"] = pd.array(frame["year"].tolist(), dtype="Int64")
    frame["modelled"] = frame["modelled"].astype(bool)
    for col in COLUMNS:
        if col not in (
            *("value", "target", "numerator", "denominator", "met", "modelled", "ids", "year"),
        ):
            frame[col] = frame[col].astype("string")
    return frame


def _row(
    ind: Indicator, ctx: Context, docs: Mapping[str, _Document], out_of_scope: str
) -> dict[str, Any]:
    m = MEASURES[ind.measure](ctx, **dict(ind.params))
    value = _round(m.value, ind.unit)
    notes = [ind.note, m.note]
    own = ind.scope is not None and _in_scope(ctx.region, ind.scope)
    role = ind.role if own else "benchmark"
    met: bool | None = None
    if not own and (ind.local_only or out_of_scope == "not applicable"):
        status = "not applicable"
        notes.insert(0, _foreign_text(ind, ctx, docs, shown=False))
    elif value is None or m.value is None:
        status = "not measurable"
        if not own:
            notes.insert(0, _foreign_text(ind, ctx, docs, shown=True))
    elif ind.target is None:
        status = "no target"
    elif role == "target":
        met = _compare(m.value, ind.target, ind.comparison)  # unrounded
        status = "met" if met else "not met"
    else:
        status = role  # a baseline or a benchmark: shown beside the value, never met/not met
        if not own:
            notes.insert(0, _foreign_text(ind, ctx, docs, shown=True))
        notes.insert(1 if not own else 0, _beside_text(ind, m.value, role, docs))
    return _row_values(ind, docs, m, value, met, status, notes, role)


def _foreign_text(
    ind: Indicator, ctx: Context, docs: Mapping[str, _Document], *, shown: bool
) -> str:
    """Why a figure is not the region's own: whose document it is."""
    places = "; ".join(
        sorted({docs[s.document].place for s in ind.sources[:1] if s.document in docs})
    ) or ", ".join(ind.scope or ())
    here = f"{ctx.region.name} ({ctx.region.code})"
    if not shown:
        what = "a count of that place" if ind.local_only else "another region's figure"
        return (
            f"The figure is {places}'s, not {here}'s ({what}): not applicable here; "
            "value shown for information."
        )
    return f"Benchmark (对照): the figure is {places}'s, not a target of {here}."


def _beside_text(ind: Indicator, value: float, role: str, docs: Mapping[str, _Document]) -> str:
    """The value beside a baseline or benchmark figure: above, equal or below."""
    assert ind.target is not None
    shown = _round(value, ind.unit)
    if shown is None:
        return ""
    diff = value - ind.target
    side = "equal to" if abs(diff) <= _EPS else "above" if diff > 0 else "below"
    year = f"{ind.year} " if ind.year else ""
    figure = ind.target_text or f"{ind.target:g}"
    doc = docs.get(ind.sources[0].document)
    whose = "the" if role == ind.role or doc is None else f"{doc.place.split(' (')[0]}'s"
    return (
        f"Value {shown:g} is {side} {whose} {year}{ind.role} {figure}: shown beside it, "
        "not judged met or not met."
    )


def _row_values(
    ind: Indicator,
    docs: Mapping[str, _Document],
    m: Measurement,
    value: float | None,
    met: bool | None,
    status: str,
    notes: list[str],
    role: str,
) -> dict[str, Any]:
    """One row of :func:`measure`'s table, by column."""
    return {
        "indicator_id": ind.id,
        "name_zh": ind.zh,
        "name_en": ind.en,
        "value": value,
        "target": ind.target,
        "role": role,
        "role_zh": ROLES_ZH[role],
        "year": ind.year,
        "unit": ind.unit,
        "comparison": ind.comparison,
        "met": met,
        "status": status,
        "needs_column": m.needs_column,
        "numerator": m.numerator,
        "denominator": m.denominator,
        "source_document": " | ".join(s.document for s in ind.sources),
        "source_quote": " | ".join(s.quote for s in ind.sources),
        "scope": _scope_text(ind, docs),
        "elderly": m.elderly or "",
        "data_basis": "; ".join(m.basis) if m.basis else "none (not measurable)",
        "modelled": bool(m.modelled),
        "note": " ".join(n for n in notes if n),
        "ids": list(m.ids),
    }


# --- output --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return None
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    return str(value)


def to_json(frame: pd.DataFrame, *, include_ids: bool = True) -> dict[str, Any]:
    """The indicator table as a JSON-ready dict (for ``indicators.json``).

    Rows keep the table's order, keys the order of :data:`COLUMNS`; missing values are
    ``null``, whole numbers are integers. Write it with ``ensure_ascii=False`` (UTF-8) or use
    :func:`write_json`.

    Parameters
    ----------
    frame
        A table from :func:`measure`.
    include_ids
        Keep the ``ids`` lists (long for a city's villages).

    Returns
    -------
    dict
        ``{"schema": "siting.indicators/1", "statuses": {...counts...}, "indicators": [...]}``.

    Examples
    --------
    >>> from siting import modelled, regions
    >>> region = regions.load("xuanhan")
    >>> doc = to_json(measure(region, modelled.registry_for(region)))
    >>> doc["indicators"][0]["indicator_id"]
    'institutions_partner_within_threshold'
    """
    cols = [c for c in COLUMNS if c in frame.columns and (include_ids or c != "ids")]
    records = [{c: _plain(row[c]) for c in cols} for _, row in frame.iterrows()]
    counts = {s: int((frame["status"] == s).sum()) for s in STATUSES} if len(frame) else {}
    return {"schema": "siting.indicators/1", "statuses": counts, "indicators": records}


def write_json(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, include_ids: bool = True
) -> Path:
    """Write :func:`to_json` of ``frame`` to ``path`` (UTF-8, indented, atomic); return the path."""
    target = Path(path)
    text = json.dumps(to_json(frame, include_ids=include_ids), ensure_ascii=False, indent=2)
    return write_text(text + "\n", target)
