"""Reading planners' files into raw tables: CSV, Excel and vector formats.

Decoding (UTF-8, UTF-16, GBK/GB18030; Big5 and Shift-JIS recognised, never turned into
mojibake), CSV and ``.xlsx`` rows, finding the header row, vector layers (GeoJSON, GeoPackage),
and keeping the extra columns of the source with their types.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyogrio
import pyproj

from siting._issues import Problems
from siting.registry.checks import _is_missing, _text
from siting.registry.schema import _HEADER_LOOKUP, _norm_header

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


def _decode(data: bytes, encoding: str | None, issues: Problems) -> tuple[str, str] | None:
    """Decode a CSV's bytes: a byte-order mark first (UTF-8, UTF-16 LE/BE), then strict UTF-8,
    then GB18030, Big5 and Shift-JIS, believed only when they give common characters."""
    if encoding is not None:
        return _decode_declared(data, encoding, issues)
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
    return _decode_legacy(data, issues)


def _decode_declared(data: bytes, encoding: str, issues: Problems) -> tuple[str, str] | None:
    """Decode a CSV's bytes in the encoding the caller gave (``encoding=``)."""
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


def _decode_legacy(data: bytes, issues: Problems) -> tuple[str, str] | None:
    """Decode a CSV's bytes that are not UTF-8: GB18030, Big5 or Shift-JIS, whichever gives
    plausible (common) characters; an error naming what was tried when none does."""
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


def _csv_rows(text: str, issues: Problems) -> list[list[Any]] | None:
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


def _xlsx_rows(path: Path, sheet: str | int | None, issues: Problems) -> list[list[Any]] | None:
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


def _table_from_rows(rows: list[list[Any]], fmt: str, issues: Problems) -> _Raw:
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


def _load_vector(path: Path, fmt: str, layer: str | None, issues: Problems) -> _Raw | None:
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
    path: Path,
    *,
    sheet: str | int | None,
    layer: str | None,
    encoding: str | None,
    issues: Problems,
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
