"""A small, exact SpreadsheetML (``.xlsx``) writer for data frames, built column by column.

:func:`write_workbook` writes sheets of tables: a bold header row frozen at the top, then one row
per row of the frame. Each cell keeps its type: text is an inline string (``t="inlineStr"``,
never a formula, whatever it begins with), numbers are numbers written so that they read back
as the same float64 (integers as integers), booleans are booleans (``t="b"``), and missing
values (``None``, NaN, ``pd.NA``, NaT, infinities) leave the cell out. Text is escaped for XML,
and what XML 1.0 cannot hold is written the way Excel (and XlsxWriter) do: a control character
becomes ``_xHHHH_``, and text that already reads ``_xHHHH_`` keeps it by escaping its underscore
(``_x005F_xHHHH_``); text longer than Excel's 32,767 characters is cut there.

The cells of a column are built at once (codes of its distinct values, formatted once each)
rather than one call per cell, and the zip is written once, reproducibly: the same sheets and
date give the same bytes (fixed entry dates, attributes, order and compression level).

Nothing of siting is imported here: the report (:mod:`siting.report`) decides the sheets, their
column widths and the document's date.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = [
    "COMPRESS_LEVEL",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "MAX_SHEET_NAME",
    "MAX_TEXT",
    "ZIP_DATE",
    "Sheet",
    "check_sheet_name",
    "column_letter",
    "column_width_xml",
    "escape_text",
    "write_workbook",
]

#: Excel's longest text in a cell (UTF-16 code units) and longest sheet name.
MAX_TEXT: Final = 32767
MAX_SHEET_NAME: Final = 31
#: Excel's largest sheet: rows (the header row included) and columns.
MAX_ROWS: Final = 1_048_576
MAX_COLUMNS: Final = 16_384
#: Date of every zip entry (the earliest a zip file can hold), and the compression level
#: (zlib 1..9; on a large run's sheets 2 is as fast as 1 and 6% smaller, 6 is 2-3 times
#: slower for a file a quarter smaller).
ZIP_DATE: Final = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL: Final = 2

_LITERAL_ESCAPE: Final = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_ILLEGAL: Final = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_NEEDS_ESCAPE: Final = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_SHEET_NAME_FORBIDDEN: Final = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Sheet:
    """A sheet to write: its name, its table (header = the column names) and the width of each
    column in characters (as Excel's column width dialog counts them)."""

    name: str
    frame: pd.DataFrame
    widths: Sequence[float]


def column_letter(index: int) -> str:
    """The letters of a 0-based column index.

    >>> column_letter(0), column_letter(25), column_letter(26), column_letter(16383)
    ('A', 'Z', 'AA', 'XFD')
    """
    if index < 0:
        raise ValueError(f"column index must be >= 0, got {index}")
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _char_repl(match: re.Match[str]) -> str:
    return f"_x{ord(match.group()):04X}_"


def escape_text(text: str) -> str:
    """Text as the content of an XML element in a sheet: ``&``, ``<`` and ``>`` escaped, control
    characters (and U+FFFE, U+FFFF) as Excel's ``_xHHHH_``, a literal ``_xHHHH_`` kept by
    escaping its underscore, and cut at Excel's 32,767 UTF-16 units.

    >>> escape_text('a<b & "c"')
    'a&lt;b &amp; "c"'
    >>> escape_text("tab\\tcr\\rbell\\x07 _x0041_")
    'tab\\tcr_x000D_bell_x0007_ _x005F_x0041_'
    """
    if len(text) > MAX_TEXT // 2 and len(text.encode("utf-16-le", "surrogatepass")) > MAX_TEXT * 2:
        units = 0
        for i, ch in enumerate(text):
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > MAX_TEXT:
                text = text[:i]
                break
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _ILLEGAL.sub(_char_repl, text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text_tail(text: str) -> str:
    """What follows ``<c r="B12`` for a text cell."""
    t = escape_text(text)
    space = ' xml:space="preserve"' if t[:1].isspace() or t[-1:].isspace() else ""
    return f'" t="inlineStr"><is><t{space}>{t}</t></is></c>'


_TRUE: Final = '" t="b"><v>1</v></c>'
_FALSE: Final = '" t="b"><v>0</v></c>'


def _float_text(value: float) -> str:
    s = repr(value)
    return s[:-2] if s.endswith(".0") else s


def _coded(codes: np.ndarray[Any, Any], tails: list[str]) -> np.ndarray[Any, Any]:
    """The tail of each cell from the codes of its value and the tails of the distinct values."""
    distinct: np.ndarray[Any, Any] = np.array(tails, dtype=object)
    return np.asarray(distinct[codes], dtype=object)


def _number_tails(texts: list[str]) -> list[str]:
    return [f'"><v>{t}</v></c>' for t in texts]


def _generic_tail(value: Any) -> str | None:
    """A value of an object column: bool, number (non-finite: no cell) or text."""
    if isinstance(value, bool | np.bool_):
        return _TRUE if value else _FALSE
    if isinstance(value, int | np.integer):
        return f'"><v>{int(value)}</v></c>'
    if isinstance(value, float | np.floating):
        f = float(value)
        return f'"><v>{_float_text(f)}</v></c>' if np.isfinite(f) else None
    return _text_tail(str(value))


def _column_tails(values: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Which cells of a column hold a value, and for each of those what follows its reference
    (``" t="b"><v>1</v></c>``); the tails are formatted once per distinct value."""
    dtype = values.dtype
    n = len(values)
    if pd.api.types.is_bool_dtype(dtype) and not values.hasnans:
        flags = values.to_numpy(dtype=bool)
        return np.ones(n, dtype=bool), np.where(flags, _TRUE, _FALSE).astype(object)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype):
            present = values.notna().to_numpy(dtype=bool)
            kept = values.to_numpy(dtype=None if isinstance(dtype, np.dtype) else object)
            codes, uniques = pd.factorize(kept[present])
            return present, _coded(codes, _number_tails([str(int(u)) for u in uniques.tolist()]))
        floats = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        present = np.isfinite(floats)
        codes, uniques = pd.factorize(floats[present])
        return present, _coded(codes, _number_tails([_float_text(u) for u in uniques.tolist()]))
    obj = values.to_numpy(dtype=object)
    present = ~pd.isna(obj)
    kept = obj[present]
    if pd.api.types.infer_dtype(kept, skipna=False) == "string":
        codes, uniques = pd.factorize(kept)
        return present, _coded(codes, [_text_tail(u) for u in uniques.tolist()])
    tails = [_generic_tail(v) for v in kept.tolist()]
    number_ok = np.array([t is not None for t in tails], dtype=bool)
    present[present] = number_ok
    return present, np.array([t for t in tails if t is not None], dtype=object)


def column_width_xml(width: float) -> float:
    """A column width in characters as Excel stores it (``<col width=...>``): whole pixels of
    Calibri 11's 7-pixel digits plus 5 pixels of padding, in 1/256 of a character.

    >>> column_width_xml(8), column_width_xml(60)
    (8.7109375, 60.7109375)
    """
    if width < 0:
        raise ValueError(f"column width must be >= 0, got {width}")
    pixels = int(width * 12 + 0.5) if width < 1 else int(width * 7 + 0.5) + 5
    return (pixels * 256 // 7) / 256.0


def check_sheet_name(name: str) -> str:
    """``name`` when Excel accepts it as a sheet name, else a :class:`ValueError` saying why."""
    if not name:
        raise ValueError("sheet name is empty")
    if len(name) > MAX_SHEET_NAME:
        raise ValueError(f"sheet name {name!r} is longer than {MAX_SHEET_NAME} characters")
    if _SHEET_NAME_FORBIDDEN.search(name):
        raise ValueError(f"sheet name {name!r} holds one of []:*?/\\, which Excel forbids")
    if name.startswith("'") or name.endswith("'"):
        raise ValueError(f"sheet name {name!r} begins or ends with an apostrophe")
    return name


_XML_HEAD: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS: Final = "http://schemas.openxmlformats.org/package/2006/content-types"
_CT_OFFICE: Final = "application/vnd.openxmlformats-officedocument"


def _sheet_xml(sheet: Sheet, index: int) -> str:
    frame = sheet.frame
    n, k = frame.shape
    if len(sheet.widths) != k:
        raise ValueError(f"sheet {sheet.name!r}: {len(sheet.widths)} column widths for {k} columns")
    if n + 1 > MAX_ROWS or k > MAX_COLUMNS:
        raise ValueError(
            f"sheet {sheet.name!r}: {n} rows and {k} columns do not fit in an Excel sheet "
            f"(at most {MAX_ROWS - 1} rows under the header and {MAX_COLUMNS} columns)"
        )
    letters = [column_letter(j) for j in range(k)]
    header = "".join(
        f'<c r="{letter}1" s="1{_text_tail(str(c))}'
        for letter, c in zip(letters, frame.columns, strict=True)
    )
    # a row of the grid: <row r="i">, then per column <c r="B, i, tail (or "" thrice), </row>
    grid = np.full((n, 3 * k + 2), "", dtype=object)
    filled = np.zeros(n, dtype=bool)
    rows = np.arange(2, n + 2).astype(str).astype(object)
    for j, letter in enumerate(letters):
        present, tails = _column_tails(frame.iloc[:, j])
        grid[present, 3 * j + 1] = f'<c r="{letter}'
        grid[present, 3 * j + 2] = rows[present]
        grid[present, 3 * j + 3] = tails
        filled |= present
    grid[filled, 0] = '<row r="' + rows[filled] + '">'
    grid[filled, 3 * k + 1] = "</row>"
    last_row = int(np.flatnonzero(filled)[-1]) + 2 if filled.any() else 1
    dimension = f"A1:{letters[-1]}{last_row}" if k else "A1"
    cols = "".join(
        f'<col min="{j + 1}" max="{j + 1}" width="{column_width_xml(w):.16g}" customWidth="1"/>'
        for j, w in enumerate(sheet.widths)
    )
    selected = ' tabSelected="1"' if index == 0 else ""
    data = (
        f'<sheetData><row r="1">{header}</row>{"".join(grid.ravel().tolist())}</sheetData>'
        if k
        else "<sheetData/>"
    )
    return (
        f'{_XML_HEAD}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        f'<dimension ref="{dimension}"/>'
        f'<sheetViews><sheetView{selected} workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"{f'<cols>{cols}</cols>' if cols else ''}{data}"
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _package_parts(names: Sequence[str], created: dt.datetime) -> list[tuple[str, str]]:
    """Every part but the sheets: content types, relationships, properties, workbook, styles."""
    n = len(names)
    sheet_ct = f"{_CT_OFFICE}.spreadsheetml.worksheet+xml"
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{sheet_ct}"/>'
        for i in range(1, n + 1)
    )
    content_types = (
        f'{_XML_HEAD}<Types xmlns="{_CT_NS}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/docProps/app.xml" ContentType="{_CT_OFFICE}.extended-properties'
        '+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT_OFFICE}.spreadsheetml.styles'
        '+xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT_OFFICE}.spreadsheetml.sheet.'
        'main+xml"/>'
        f"{overrides}</Types>"
    )
    rels = (
        f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL_NS}/extended-properties" '
        'Target="docProps/app.xml"/></Relationships>'
    )
    titles = "".join(f"<vt:lpstr>{_attr(name)}</vt:lpstr>" for name in names)
    app = (
        f'{_XML_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
        'docPropsVTypes"><Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity>'
        '<ScaleCrop>false</ScaleCrop><HeadingPairs><vt:vector size="2" baseType="variant">'
        "<vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant>"
        f"<vt:variant><vt:i4>{n}</vt:i4></vt:variant></vt:vector></HeadingPairs>"
        f'<TitlesOfParts><vt:vector size="{n}" baseType="lpstr">{titles}</vt:vector>'
        "</TitlesOfParts><Company></Company><LinksUpToDate>false</LinksUpToDate>"
        "<SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged>"
        "<AppVersion>12.0000</AppVersion></Properties>"
    )
    stamp = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    core = (
        f'{_XML_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/'
        '2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator></dc:creator>'
        "<cp:lastModifiedBy></cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    sheets = "".join(
        f'<sheet name="{_attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(names, start=1)
    )
    workbook = (
        f'{_XML_HEAD}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" '
        f'windowHeight="9660"/></bookViews><sheets>{sheets}</sheets></workbook>'
    )
    book_rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n + 1)
    )
    workbook_rels = (
        f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}">{book_rels}'
        f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    styles = (
        f'{_XML_HEAD}<styleSheet xmlns="{_MAIN_NS}">'
        f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        '</cellStyleXfs><cellXfs count="2">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
        '</cellStyles><dxfs count="0"/><tableStyles count="0"/></styleSheet>'
    )
    return [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", rels),
        ("docProps/app.xml", app),
        ("docProps/core.xml", core),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/styles.xml", styles),
    ]


def _utf8(text: str, part: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{part}: text holds a character that is not valid Unicode "
            f"({exc.object[exc.start : exc.end]!r}, a lone surrogate), which a workbook cannot hold"
        ) from None


def write_workbook(
    path: str | Path,
    sheets: Sequence[Sheet],
    *,
    created: dt.datetime,
    compresslevel: int = COMPRESS_LEVEL,
) -> Path:
    """Write ``sheets`` to the workbook at ``path`` (overwritten; not atomic: give a temporary
    path), with ``created`` as the document's creation and modification date; returns ``path``.

    The same sheets and date give the same bytes.
    """
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    names = [check_sheet_name(s.name) for s in sheets]
    seen: set[str] = set()
    for name in names:
        if name.casefold() in seen:
            raise ValueError(f"sheet name {name!r} is used twice (Excel ignores case)")
        seen.add(name.casefold())
    if created.tzinfo is None:
        raise ValueError("created must be an aware datetime (with a time zone)")
    target = Path(path)
    parts = _package_parts(names, created)
    with zipfile.ZipFile(target, "w") as book:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix, whatever system writes it
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            book.writestr(
                info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
            )

        for name, xml in parts:
            put(name, _utf8(xml, name))
        for i, sheet in enumerate(sheets):
            put(f"xl/worksheets/sheet{i + 1}.xml", _utf8(_sheet_xml(sheet, i), sheet.name))
    return target
