"""Reading the planner's table: decoding, CSV and XLSX rows, finding the header row, and
finding the address, name and coordinate columns."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from siting._errors import Issue, ValidationError
from siting.geocode.providers import _finite

# --- reading the planner's table ---------------------------------------------------------------

_BRACKETED: Final = re.compile(r"[(\[【<《]([^)\]】>》]*)[)\]】>》]")
_TABLE_SUFFIXES: Final = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx"}
_HEADER_SCAN_ROWS: Final = 10
#: Cells that mean "no coordinate yet".
_PLACEHOLDERS: Final = frozenset(
    {"无", "暂无", "-", "--", "—", "/", "null", "none", "nan", "n/a", "na", "待定", "未知", "空"}
)


def _norm_header(header: str) -> str:
    """As :mod:`siting.registry` matches headers: NFKC, case, brackets, spaces and ``_-.:``."""
    text = unicodedata.normalize("NFKC", header).strip().casefold()
    text = _BRACKETED.sub("", text)
    return re.sub(r"[\s_\-.:]+", "", text)


def _header_lookup() -> dict[str, str]:
    from siting.registry import COLUMN_ALIASES

    return {_norm_header(a): c for a, c in COLUMN_ALIASES.items()}


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _cell_text(value: Any) -> str | None:
    """A cell as trimmed text; ``None`` when empty. Whole floats lose their ``.0``."""
    if _is_missing(value):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


@dataclass
class _Table:
    frame: pd.DataFrame  # object cells under the original headers, one row per data row
    rows: list[int]  # spreadsheet row of each
    fmt: str
    warnings: list[Issue] = field(default_factory=list)


def _decode(data: bytes, encoding: str | None, file: str) -> str:
    if encoding is not None:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            issue = Issue(file, None, None, f"cannot decode as {encoding}: {exc}", "error")
            raise ValidationError([issue]) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        reason = (
            f"the file is neither UTF-8 nor GBK/GB18030 text ({exc}); save it as CSV UTF-8 "
            "or pass encoding="
        )
        issue = Issue(file, None, None, reason, "error", "文件既不是 UTF-8 也不是 GBK 编码")
        raise ValidationError([issue]) from exc


def _csv_rows(text: str) -> list[list[Any]]:
    import csv
    import io

    first = text.split("\n", 1)[0]
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    if first.count(delimiter) == 0:
        delimiter = ","
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _xlsx_rows(path: Path, sheet: str | int | None, file: str) -> list[list[Any]]:
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken files
        issue = Issue(file, None, None, f"cannot open the workbook: {exc}", "error", "无法打开")
        raise ValidationError([issue]) from exc
    try:
        names = list(book.sheetnames)
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int) and 0 <= sheet < len(names):
            ws = book.worksheets[sheet]
        elif isinstance(sheet, str) and sheet in names:
            ws = book[sheet]
        elif isinstance(sheet, str) and sheet.isdigit() and int(sheet) < len(names):
            ws = book.worksheets[int(sheet)]
        else:
            reason = f"sheet {sheet!r} does not exist; sheets are {names}"
            raise ValidationError([Issue(file, None, None, reason, "error", "工作表不存在")])
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()


def _table_from_rows(rows: list[list[Any]], fmt: str, file: str) -> _Table:
    """The header row (the first of the first 10 non-empty rows naming two known columns, as
    :func:`siting.registry.read` finds it) and the non-blank rows below it."""
    lookup = _header_lookup()
    warnings: list[Issue] = []

    def known(cells: list[Any]) -> int:
        return sum(1 for c in cells if (t := _cell_text(c)) and _norm_header(t) in lookup)

    nonempty = [i for i, r in enumerate(rows) if any(not _is_missing(c) for c in r)]
    header_at = nonempty[0] if nonempty else 0
    for i in nonempty[:_HEADER_SCAN_ROWS]:
        if known(rows[i]) >= 2:
            header_at = i
            break
    if nonempty and header_at != nonempty[0]:
        warnings.append(
            Issue(
                file,
                None,
                None,
                f"the header is on row {header_at + 1}; the title rows above it are not copied",
                "warning",
                f"表头在第 {header_at + 1} 行，其上的标题行不写入结果",
            )
        )
    header_cells = rows[header_at] if rows else []
    body = rows[header_at + 1 :]
    width = max([len(header_cells), *(len(r) for r in body)], default=0)
    headers: list[str] = []
    keep: list[int] = []
    seen: dict[str, int] = {}
    for j in range(width):
        h = _cell_text(header_cells[j]) if j < len(header_cells) else None
        if h is None:
            if not any(j < len(r) and not _is_missing(r[j]) for r in body):
                continue
            h = f"column_{j + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
        headers.append(h)
        keep.append(j)
    records: list[list[Any]] = []
    numbers: list[int] = []
    for offset, r in enumerate(body):
        if all(_is_missing(c) for c in r):
            continue  # a blank line is not a facility
        records.append([r[j] if j < len(r) else None for j in keep])
        numbers.append(header_at + 2 + offset)
    frame = pd.DataFrame(records, columns=headers, dtype=object)
    if not records:
        frame = pd.DataFrame({h: pd.Series([], dtype=object) for h in headers})
    return _Table(frame, numbers, fmt, warnings)


def _read_table(path: Path, *, sheet: str | int | None, encoding: str | None, file: str) -> _Table:
    if not path.is_file():
        raise ValidationError([Issue(file, None, None, "file not found", "error", "文件不存在")])
    fmt = _TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        reason = (
            f"unsupported file type {path.suffix or '(none)'!r} for geocoding; use .csv or .xlsx "
            "(a GeoJSON or GeoPackage already has its points)"
        )
        raise ValidationError([Issue(file, None, None, reason, "error", "不支持的文件类型")])
    if fmt == "xlsx":
        return _table_from_rows(_xlsx_rows(path, sheet, file), fmt, file)
    text = _decode(path.read_bytes(), encoding, file)
    return _table_from_rows(_csv_rows(text), fmt, file)


# --- the columns -------------------------------------------------------------------------------


@dataclass
class _Columns:
    name: str | None = None
    address: str | None = None
    lon: str | None = None
    lat: str | None = None
    pair: str | None = None  # one "lng,lat" column
    crs: str | None = None
    location: str | None = None  # the point-quality column
    location_blocked: bool = False  # a "location" header holds "lng,lat": no quality column


_PAIR: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*[,;]\s*([+-]?\d+(?:\.\d+)?)\s*")


def _looks_like_pairs(values: Iterable[Any]) -> bool:
    texts = [t for t in (_cell_text(v) for v in values) if t is not None]
    if not texts:
        return False
    hits = sum(bool(_PAIR.fullmatch(unicodedata.normalize("NFKC", t))) for t in texts)
    return hits * 2 >= len(texts)


def _headers_by_meaning(frame: pd.DataFrame, file: str, issues: list[Issue]) -> dict[str, str]:
    """Canonical column name -> the table's header (the first one); duplicate and synonymous
    headers are added to ``issues``."""
    lookup = _header_lookup()
    by_canon: dict[str, str] = {}
    twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    for h in twice:
        issues.append(
            Issue(file, None, h, f"two columns are named {h!r}; rename one", "error", "列名重复")
        )
    for h in (str(c) for c in frame.columns):
        canon = lookup.get(_norm_header(h))
        if canon is None:
            continue
        if canon in by_canon:
            if canon in ("name", "address", "lon", "lat", "lnglat", "crs", "location"):
                issues.append(
                    Issue(
                        file,
                        None,
                        h,
                        f"columns {by_canon[canon]!r} and {h!r} both give {canon!r}; keep one",
                        "error",
                        f"列 {by_canon[canon]} 与 {h} 含义相同，请保留一列",
                    )
                )
            continue
        by_canon[canon] = h
    return by_canon


def _set_coordinate_columns(
    cols: _Columns, by_canon: Mapping[str, str], file: str, issues: list[Issue]
) -> None:
    """Set ``cols.lon``/``cols.lat`` or ``cols.pair``; a lone lon or lat is an issue."""
    if "lon" in by_canon or "lat" in by_canon:
        cols.lon, cols.lat = by_canon.get("lon"), by_canon.get("lat")
        for canon, zh in (("lon", "经度"), ("lat", "纬度")):
            if canon not in by_canon:
                issues.append(
                    Issue(
                        file,
                        None,
                        canon,
                        f"the file has a {'lat' if canon == 'lon' else 'lon'} column but no "
                        f"{canon} ({zh}) column",
                        "error",
                        f"缺少“{zh}”列",
                    )
                )
    elif "lnglat" in by_canon:
        cols.pair = by_canon["lnglat"]


def _find_columns(frame: pd.DataFrame, file: str) -> _Columns:
    issues: list[Issue] = []
    by_canon = _headers_by_meaning(frame, file, issues)
    cols = _Columns(
        name=by_canon.get("name"),
        address=by_canon.get("address"),
        crs=by_canon.get("crs"),
        location=by_canon.get("location"),
    )
    if cols.location is not None and _looks_like_pairs(frame[cols.location]):
        # The registry reads such a column as coordinates; a second location-quality column
        # would clash with it, so none is written.
        by_canon.setdefault("lnglat", cols.location)
        cols.location_blocked = True
        cols.location = None
    _set_coordinate_columns(cols, by_canon, file, issues)
    if cols.name is None and cols.address is None:
        found = ", ".join(repr(str(h)) for h in frame.columns) or "none"
        issues.append(
            Issue(
                file,
                None,
                "address",
                "no address column (地址, 详细地址, 机构地址, address, addr) and no name column "
                f"(名称, 机构名称, name) to geocode; columns found: {found}",
                "error",
                f"缺少“地址”列（也没有“名称”列），无法地理编码；文件中的列：{found}",
            )
        )
    if issues:
        raise ValidationError(issues, header=f"{file}: cannot geocode (无法地理编码)")
    return cols


def _coordinate(value: Any) -> tuple[float | None, bool]:
    """``(number, ok)``; ``(None, True)`` for an empty cell or a placeholder (暂无, -, 0)."""
    text = _cell_text(value)
    if text is None or text.casefold() in _PLACEHOLDERS:
        return None, True
    f = _finite(unicodedata.normalize("NFKC", text))
    return (f, True) if f is not None else (None, False)
