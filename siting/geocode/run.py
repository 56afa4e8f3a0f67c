"""Geocoding a read table: the options, the run over its rows (cache, retries, the stop
after failures), reading each answer into a row, the shared-point flag and the output table."""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from siting import crs as _crs
from siting._errors import Issue, SitingError
from siting.geocode.client import _Cache, _cache_key, _Client, _normalize_query
from siting.geocode.providers import (
    APPROXIMATE_LEVELS,
    LEVELS,
    PROVIDERS,
    Provider,
    _Answer,
    normalize_level,
)
from siting.geocode.results import GEOCODE_COLUMNS, GeocodeResult, GeocodeRow
from siting.geocode.table import (
    _PAIR,
    _PLACEHOLDERS,
    _cell_text,
    _Columns,
    _coordinate,
    _find_columns,
    _is_missing,
    _Table,
)

PathLike = str | os.PathLike[str]

#: This many different queries on one point make it a geocoder's fallback point.
SHARED_POINT_MIN: Final = 3
#: Coordinates closer than this (degrees, about 1 m) are the same point.
SHARED_POINT_TOLERANCE: Final = 1e-5
#: Baidu ``confidence`` below this (error may exceed 1 km by Baidu's table) is approximate.
BAIDU_MIN_CONFIDENCE: Final = 50
#: After this many rows in a row end in an error, no more requests are sent.
MAX_FAILED_IN_A_ROW: Final = 5


# --- geocoding ---------------------------------------------------------------------------------


def _provider(name: str) -> Provider:
    p = PROVIDERS.get(str(name).strip().lower())
    if p is None:
        msg = f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)} (未知地理编码服务)"
        raise SitingError(msg)
    return p


def _endpoint(provider: Provider, url: str | None) -> str:
    chosen = (
        url
        or os.environ.get(provider.url_env)
        or os.environ.get("SITING_GEOCODER_URL")
        or provider.url
    ).strip()
    if not re.match(r"https?://[^/\s]+", chosen):
        msg = f"{provider.label}: the service URL must start with http:// or https://: {chosen!r}"
        raise SitingError(msg)
    return chosen


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        msg = f"{name} must be a number > 0, got {value!r} ({name} 须大于 0)"
        raise SitingError(msg)
    return float(value)


def _cache_path(provider: Provider, cache_dir: PathLike | None, use_cache: bool) -> Path | None:
    if not use_cache:
        return None
    if cache_dir is None:
        from siting._reference import data_dir

        folder = data_dir() / "geocode_cache"
    else:
        folder = Path(cache_dir)
    return folder / f"{provider.name}.json"


def _levels(levels: Iterable[str] | None) -> frozenset[str]:
    if levels is None:
        return APPROXIMATE_LEVELS
    chosen = frozenset(str(v).strip() for v in levels if str(v).strip())
    unknown = sorted(chosen - set(LEVELS))
    if unknown:
        msg = f"unknown level(s) {', '.join(unknown)}; levels are {', '.join(LEVELS)}"
        raise SitingError(msg)
    return chosen


@dataclass
class _Options:
    provider: Provider
    client: _Client
    city: str | None
    approximate_levels: frozenset[str]
    shared_min: int
    progress: bool | None
    log: Callable[[str], None] | None


def _options(
    *,
    provider: str,
    key: str | None,
    city: str | None,
    url: str | None,
    rate: float | None,
    timeout: float,
    retries: int,
    backoff: float,
    cache_dir: PathLike | None,
    use_cache: bool,
    approximate_levels: Iterable[str] | None,
    shared_min: int,
    progress: bool | None,
    log: Callable[[str], None] | None,
) -> _Options:
    p = _provider(provider)
    if not (isinstance(retries, int) and retries >= 0):
        msg = f"retries must be an integer >= 0, got {retries!r}"
        raise SitingError(msg)
    if not (isinstance(shared_min, int) and shared_min >= 2):
        msg = f"shared_min must be an integer >= 2, got {shared_min!r}"
        raise SitingError(msg)
    if not (isinstance(backoff, int | float) and math.isfinite(backoff) and backoff >= 0):
        msg = f"backoff must be seconds >= 0, got {backoff!r}"
        raise SitingError(msg)
    client = _Client(
        p,
        key=key,
        url=_endpoint(p, url),
        rate=_positive("rate", p.rate if rate is None else rate),
        timeout=_positive("timeout", timeout),
        retries=retries,
        backoff=float(backoff),
        cache=_Cache(_cache_path(p, cache_dir, use_cache), p),
    )
    city_text = _normalize_query(city) if city and city.strip() else None
    return _Options(p, client, city_text, _levels(approximate_levels), shared_min, progress, log)


def _progress(total: int, enabled: bool | None, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=label, unit="row", disable=None if enabled is None else not enabled
    )


def _row_coordinates(frame: pd.DataFrame, cols: _Columns, i: int) -> tuple[bool, str | None]:
    """Whether row ``i`` has coordinates, and what is wrong with them (``None``: nothing)."""
    has, problem = False, None
    if cols.lon is not None and cols.lat is not None:
        x, okx = _coordinate(frame[cols.lon].iat[i])
        y, oky = _coordinate(frame[cols.lat].iat[i])
        if not (okx and oky):
            bad = cols.lon if not okx else cols.lat
            value = frame[bad].iat[i]
            problem = (
                f"{bad} {_cell_text(value)!r} is not a number; fix or empty it "
                f"(坐标“{_cell_text(value)}”不是数字)"
            )
        elif (x is None) != (y is None):
            problem = "only one of lon/lat is filled; fix the file (经纬度只填了一个)"
        has = x is not None and y is not None and not (x == 0 and y == 0)
    elif cols.pair is not None:
        text = _cell_text(frame[cols.pair].iat[i])
        if text is not None and text.casefold() not in _PLACEHOLDERS:
            m = _PAIR.fullmatch(unicodedata.normalize("NFKC", text))
            if m is None:
                problem = f"{cols.pair} {text!r} is not 'lng,lat' (坐标格式须为“经度,纬度”)"
            else:
                has = not (float(m[1]) == 0 and float(m[2]) == 0)
    return has, problem


def _ask_all(
    asking: list[int], queries: list[str | None], opts: _Options, file: str
) -> dict[int, tuple[_Answer, bool]]:
    """Ask the provider (or the cache) for the rows ``asking``: row -> (answer, from cache);
    after :data:`MAX_FAILED_IN_A_ROW` failed rows in a row the client stops asking."""
    p, client = opts.provider, opts.client
    if opts.log is not None:
        cached = sum(
            _cache_key(q, opts.city) in client.cache.entries
            for q in (queries[i] for i in asking)
            if q is not None
        )
        opts.log(
            f"地理编码 geocoding {len(asking)} rows of {file} with {p.label} "
            f"({cached} in the cache) ..."
        )
    answers: dict[int, tuple[_Answer, bool]] = {}
    failed_in_a_row = 0
    bar = _progress(len(asking), opts.progress, f"地理编码 {p.zh}")
    try:
        for done, i in enumerate(asking, 1):
            query = queries[i]
            assert query is not None
            answer, cached_hit = client.lookup(query, opts.city)
            answers[i] = (answer, cached_hit)
            if answer.kind == "error" and client.stopped is None and not cached_hit:
                failed_in_a_row += 1
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                    client.stop(
                        f"{failed_in_a_row} rows in a row failed, last: {answer.note} "
                        f"(连续 {failed_in_a_row} 行失败)"
                    )
            elif answer.kind != "error":
                failed_in_a_row = 0
            bar.update(1)
            if opts.log is not None and bar.disable and done % 50 == 0 and done < len(asking):
                opts.log(f"  {done}/{len(asking)} rows ...")
    finally:
        bar.close()
        client.cache.save()
    return answers


def _run(table: _Table, file: str, opts: _Options) -> GeocodeResult:
    """Geocode the rows of ``table`` lacking coordinates; the output table and the rows."""
    frame = table.frame
    cols = _find_columns(frame, file)
    p, client = opts.provider, opts.client
    n = len(frame)
    names = [_cell_text(v) for v in frame[cols.name]] if cols.name else [None] * n
    addresses = [_cell_text(v) for v in frame[cols.address]] if cols.address else [None] * n

    # 1. which rows have coordinates
    located = [_row_coordinates(frame, cols, i) for i in range(n)]
    has = [h for h, _ in located]
    problem = [pr for _, pr in located]

    # 2. ask
    todo = [i for i in range(n) if not has[i] and problem[i] is None]
    queries: list[str | None] = [None] * n
    for i in todo:
        raw = addresses[i] or names[i]
        queries[i] = p.query_text(_normalize_query(raw), opts.city) if raw else None
    asking = [i for i in todo if queries[i] is not None]
    answers = _ask_all(asking, queries, opts, file)

    # 3. interpret
    results: list[dict[str, Any]] = []
    for i in range(n):
        name = names[i] or addresses[i] or ""
        rec: dict[str, Any] = {"row": table.rows[i], "name": name, "query": queries[i] or ""}
        if has[i]:
            rec.update(status="kept", note="已有坐标，未查询 had coordinates, not geocoded")
        elif problem[i] is not None:
            rec.update(status="error", note=problem[i])
        elif queries[i] is None:
            rec.update(status="skipped", note="无地址和名称 no address or name to look up")
        else:
            answer, cached_hit = answers[i]
            rec["cached"] = cached_hit
            rec.update(_interpret(answer, p, opts))
        results.append(rec)
    _flag_shared_points(results, opts.shared_min)
    rows = [GeocodeRow(**r) for r in results]
    out = _output_frame(frame, cols, rows, p, table.warnings, file)
    return GeocodeResult(
        frame=out,
        rows=rows,
        provider=p,
        source=file,
        requests=client.requests,
        cache_hits=client.cache_hits,
        stopped=client.stopped,
        issues=list(table.warnings),
    )


def _interpret(answer: _Answer, p: Provider, opts: _Options) -> dict[str, Any]:
    if answer.kind == "not_found":
        note = "服务未找到此地址 the service found no match"
        return {"status": "not_found", "note": f"{note}; {answer.note}" if answer.note else note}
    if answer.kind != "ok" or answer.lon is None or answer.lat is None:
        return {"status": "error", "note": answer.note or "no answer (无应答)"}
    x, y = answer.lon, answer.lat
    if bool(_crs.out_of_china(x, y)) or abs(x) > 180 or abs(y) > 90:
        return {
            "status": "error",
            "note": f"the service gave ({x}, {y}), outside China (坐标位于中国境外)",
            "level": normalize_level(answer.level),
        }
    wx, wy = _crs.convert(x, y, src=p.crs, dst=_crs.WGS84)
    level = normalize_level(answer.level)
    reasons: list[str] = []
    if level in opts.approximate_levels:
        shown = f"{level} ({answer.level})" if answer.level and answer.level != level else level
        reasons.append(f"只匹配到{level}级 matched only at level {shown}")
    if answer.confidence is not None and answer.confidence < BAIDU_MIN_CONFIDENCE:
        reasons.append(
            f"百度可信度 {answer.confidence:g} < {BAIDU_MIN_CONFIDENCE} Baidu confidence "
            f"{answer.confidence:g}: may be off by more than 1 km"
        )
    if answer.ambiguous:
        reasons.append(
            f"{answer.candidates} 个候选相距较远，取第一个 {answer.candidates} candidates far "
            "apart, the first used"
        )
    notes = [*reasons, answer.note] if answer.note else reasons
    return {
        "status": "approximate" if reasons else "ok",
        "level": level,
        "note": "; ".join(notes),
        "lon": round(float(wx), 7),
        "lat": round(float(wy), 7),
        "provider_lon": x,
        "provider_lat": y,
    }


def _flag_shared_points(results: list[dict[str, Any]], shared_min: int) -> None:
    """Points that :data:`SHARED_POINT_MIN` or more different queries landed on: approximate."""
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in results:
        if r.get("status") in ("ok", "approximate") and r.get("provider_lon") is not None:
            cell = (
                round(r["provider_lon"] / SHARED_POINT_TOLERANCE),
                round(r["provider_lat"] / SHARED_POINT_TOLERANCE),
            )
            groups.setdefault(cell, []).append(r)
    for members in groups.values():
        distinct = {_cache_key(m["query"], None) for m in members}
        if len(distinct) < shared_min:
            continue
        for m in members:
            others = len(distinct) - 1
            reason = (
                f"与另外 {others} 个地址落在同一点，疑似兜底坐标 shared point with {others} other "
                "addresses (a geocoder's fallback)"
            )
            m["status"] = "approximate"
            m["note"] = f"{reason}; {m['note']}" if m.get("note") else reason


def _point_columns(
    out: pd.DataFrame,
    cols: _Columns,
    rows: Sequence[GeocodeRow],
    warnings: list[Issue],
    file: str,
) -> tuple[str | None, str | None, str, str | None]:
    """The lon, lat, crs and location columns to write, added (empty) to ``out`` when the
    table lacks them; a warning when ``location=approximate`` cannot be written."""
    n = len(out)
    lon_h, lat_h = cols.lon, cols.lat
    if cols.pair is None and (lon_h is None or lat_h is None):
        lon_h, lat_h = _free("lon", out), _free("lat", out)
        out[lon_h] = pd.Series([None] * n, index=out.index, dtype=object)
        out[lat_h] = pd.Series([None] * n, index=out.index, dtype=object)
    crs_h = cols.crs
    if crs_h is None:
        crs_h = _free("crs", out)
        out[crs_h] = pd.Series([None] * n, index=out.index, dtype=object)
    loc_h = cols.location
    if loc_h is None and not cols.location_blocked:
        loc_h = _free("location", out)
        out[loc_h] = pd.Series([None] * n, index=out.index, dtype=object)
    if loc_h is None and any(r.status == "approximate" for r in rows):
        warnings.append(
            Issue(
                file,
                None,
                cols.pair,
                f"the {cols.pair!r} column holds 'lng,lat' pairs, so location=approximate "
                "could not be written beside it; see geocode_status",
                "warning",
                f"“{cols.pair}”列是坐标，无法另写定位质量，请看 geocode_status 列",
            )
        )
    return lon_h, lat_h, crs_h, loc_h


def _output_frame(
    frame: pd.DataFrame,
    cols: _Columns,
    rows: Sequence[GeocodeRow],
    p: Provider,
    warnings: list[Issue],
    file: str,
) -> pd.DataFrame:
    out = frame.copy()
    n = len(out)
    lon_h, lat_h, crs_h, loc_h = _point_columns(out, cols, rows, warnings, file)
    for c in GEOCODE_COLUMNS:
        if c not in out.columns:
            out[c] = pd.Series([None] * n, index=out.index, dtype=object)
    pos = {str(c): k for k, c in enumerate(out.columns)}
    for i, r in enumerate(rows):
        if r.status == "kept":
            if _is_missing(out.iat[i, pos["geocode_status"]]):
                out.iat[i, pos["geocode_status"]] = "kept"
                out.iat[i, pos["geocode_note"]] = r.note
            continue
        values: dict[str, Any] = {
            "geocode_provider": p.name,
            "geocode_crs": p.crs_label,
            "geocode_level": r.level or None,
            "geocode_query": r.query or None,
            "geocode_status": r.status,
            "geocode_note": r.note or None,
        }
        if r.lon is not None and r.lat is not None:
            if cols.pair is not None:
                values[cols.pair] = f"{r.lon},{r.lat}"
            else:
                assert lon_h is not None and lat_h is not None
                values[lon_h], values[lat_h] = r.lon, r.lat
            values[crs_h] = _crs.WGS84
            if r.status == "approximate" and loc_h is not None:
                values[loc_h] = "approximate"
        for c, v in values.items():
            out.iat[i, pos[c]] = v
    return out


def _free(name: str, frame: pd.DataFrame) -> str:
    """``name``, or ``name_2`` ... when the table already has a column so named."""
    taken = {str(c) for c in frame.columns}
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"
