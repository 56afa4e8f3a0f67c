"""The workbook writer (siting._xlsx) and the Excel report written with it (issue 26).

Cells keep their type and value through openpyxl and pandas (text never becomes a formula,
numbers read back as the same float64, booleans as booleans, missing values as no cell); XML
specials and control characters are escaped the way Excel and XlsxWriter do; the header row is
bold and frozen; column widths follow the report's rule; the bytes are reproducible; and a real
run's sheets hold what the XlsxWriter writer wrote before.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pandas as pd
import pytest

from siting import _xlsx, report
from siting._xlsx import Sheet, column_width_xml, write_workbook

DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
NA = pd.NA

#: text a planner's data may hold, and what openpyxl reads back (the _xHHHH_ form of Excel is
#: what openpyxl shows, as it did with XlsxWriter)
TEXT = [
    ("机构 养老院", "机构 养老院"),
    ("=1+1", "=1+1"),
    ('=HYPERLINK("http://x","y")', '=HYPERLINK("http://x","y")'),
    ("+SUM(1,2)", "+SUM(1,2)"),
    ("-2+3", "-2+3"),
    ("@SUM(A1)", "@SUM(A1)"),
    ("a<b>&\"c'", "a<b>&\"c'"),
    ("bell\x07 nul\x00 us\x1f cr\r", "bell_x0007_ nul_x0000_ us_x001F_ cr_x000D_"),
    ("_x0041_ stays", "_x005F_x0041_ stays"),
    ("  pad\t", "  pad\t"),
    ("line\nbreak", "line\nbreak"),
    ("x\ufffey", "x_xFFFE_y"),
    ("<r>not rich</r>", "<r>not rich</r>"),
    ("-12.5", "-12.5"),
    ("", ""),
]
N = len(TEXT)


def _tricky() -> pd.DataFrame:
    """Every kind of column the report writes, with missing values of every kind."""
    floats = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -1.5, 3.0, np.nan, np.inf]
    ints = [0, -5, 2**53 + 1, 2**63 - 1, 7, 1, 2, 3]
    mixed = [1, "x", True, 2.5, None, np.int64(7), float("nan"), NA]
    return pd.DataFrame(
        {
            "文本 text": [t for t, _ in TEXT],
            "string": pd.array(["a", NA, "=b", *["c"] * (N - 3)], dtype="string"),
            "int": ints + ints[: N - len(ints)],
            "Int64": pd.array([1, None, -3, *[4] * (N - 3)], dtype="Int64"),
            "float": floats + floats[: N - len(floats)],
            "Float64": pd.array([0.5, None, *[2.25] * (N - 2)], dtype="Float64"),
            "bool": [i % 2 == 0 for i in range(N)],
            "boolean": pd.array([True, None, False, *[True] * (N - 3)], dtype="boolean"),
            "mixed": mixed + mixed[: N - len(mixed)],
            "missing": [np.nan, None, NA, pd.NaT, *[None] * (N - 4)],
        }
    )


def _expected(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """What openpyxl reads back, column by column (None: no cell)."""
    floats = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -1.5, 3, None, None]
    ints = [0, -5, 2**53 + 1, 2**63 - 1, 7, 1, 2, 3]
    mixed = [1, "x", True, 2.5, None, 7, None, None]
    return {
        "文本 text": [r for _, r in TEXT],
        "string": ["a", None, "=b", *["c"] * (N - 3)],
        "int": ints + ints[: N - len(ints)],
        "Int64": [1, None, -3, *[4] * (N - 3)],
        "float": floats + floats[: N - len(floats)],
        "Float64": [0.5, None, *[2.25] * (N - 2)],
        "bool": [i % 2 == 0 for i in range(N)],
        "boolean": [True, None, False, *[True] * (N - 3)],
        "mixed": mixed + mixed[: N - len(mixed)],
        "missing": [None] * N,
    }


def _write(path: Path, *sheets: tuple[str, pd.DataFrame]) -> Path:
    return write_workbook(
        path, [Sheet(name, f, [10] * f.shape[1]) for name, f in sheets], created=DATE
    )


def _same(got: Any, want: Any) -> bool:
    """Equal, and of the same kind (a boolean is not the number 1)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, float):
        return isinstance(got, float) and got.hex() == want.hex()  # exact to the last bit
    return type(got) is type(want) and got == want


def test_cells_keep_their_type_and_value_through_openpyxl(tmp_path: Path) -> None:
    frame = _tricky()
    path = _write(tmp_path / "t.xlsx", ("表 t", frame))
    ws = openpyxl.load_workbook(path)["表 t"]
    assert [c.value for c in ws[1]] == list(frame.columns)
    for j, (column, want) in enumerate(_expected(frame).items(), start=1):
        got = [ws.cell(row=i, column=j).value for i in range(2, N + 2)]
        bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if not _same(g, w)]
        assert not bad, (column, bad)
    kinds = {c.data_type for row in ws.iter_rows() for c in row}
    assert "f" not in kinds  # no formula, whatever the text begins with
    text_cells = [ws.cell(row=i, column=1) for i in range(2, N + 2)]
    assert {c.data_type for c in text_cells} == {"s"}
    assert ws.cell(row=2, column=7).data_type == "b"  # bool column
    assert ws.cell(row=2, column=5).data_type == "n"


def test_missing_values_leave_no_cell_and_numbers_are_exact(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", ("t", _tricky()))
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    # the "missing" column (J) has a header only; Float64's NA (F3) has no cell
    assert re.findall(r'<c r="J\d+"', xml) == ['<c r="J1"']
    assert '<c r="F3"' not in xml and '<c r="F2"><v>0.5</v></c>' in xml
    assert "<v>0.30000000000000004</v>" in xml and "<v>5e-324</v>" in xml
    assert "<v>9223372036854775807</v>" in xml and '<c r="E7"><v>3</v></c>' in xml  # 3.0 as 3
    assert 't="inlineStr"><is><t>=1+1</t></is>' in xml
    assert "<t>a&lt;b&gt;&amp;\"c'</t>" in xml
    assert '<t xml:space="preserve">  pad\t</t>' in xml
    assert "<f>" not in xml and 't="str"' not in xml


def test_cells_keep_their_value_through_pandas(tmp_path: Path) -> None:
    frame = _tricky()
    path = _write(tmp_path / "t.xlsx", ("t", frame))
    back = pd.read_excel(path, engine="openpyxl", sheet_name="t")
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_series_equal(back["int"], frame["int"], check_exact=True)
    pd.testing.assert_series_equal(back["bool"], frame["bool"], check_exact=True)
    want = frame["float"].replace(np.inf, np.nan)
    pd.testing.assert_series_equal(back["float"], want, check_exact=True)
    text = [r if r != "" else np.nan for _, r in TEXT]  # pandas reads an empty text as missing
    assert back["文本 text"].tolist()[:-1] == text[:-1] and pd.isna(back["文本 text"].iloc[-1])
    assert back["missing"].isna().all()


def test_header_is_bold_and_frozen_and_body_is_not_bold(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", ("a", _tricky()), ("b", _tricky().iloc[:0]))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["a", "b"]
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2"
        assert all(c.font.b for c in ws[1])
    assert not book["a"]["A2"].font.b and not book["a"]["C2"].font.b


def test_empty_frame_writes_the_header_only(tmp_path: Path) -> None:
    empty = _tricky().iloc[:0]
    none = pd.DataFrame()
    path = _write(tmp_path / "t.xlsx", ("empty", empty), ("none", none))
    book = openpyxl.load_workbook(path)
    assert [[c.value for c in row] for row in book["empty"].iter_rows()] == [list(empty.columns)]
    assert book["empty"].max_row == 1
    assert book["none"].max_row == 1 and book["none"]["A1"].value is None
    back = pd.read_excel(path, sheet_name="empty")
    assert list(back.columns) == list(empty.columns) and back.empty


def test_wide_frame_has_every_column(tmp_path: Path) -> None:
    wide = pd.DataFrame([[f"{i}:{j}" for j in range(800)] for i in range(3)])
    wide.columns = [f"c{j}" for j in range(800)]
    path = _write(tmp_path / "t.xlsx", ("wide", wide))
    ws = openpyxl.load_workbook(path)["wide"]
    assert ws.max_column == 800 and ws.dimensions == "A1:ADT4"
    assert ws["AA1"].value == "c26" and ws["ADT4"].value == "2:799" and ws["ZZ2"].value == "0:701"
    pd.testing.assert_frame_equal(pd.read_excel(path, sheet_name="wide"), wide, check_exact=True)


def test_all_missing_rows_are_left_out_but_keep_the_row_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [None, "x", None, None], "b": [np.nan, 1.0, np.nan, np.nan]})
    path = _write(tmp_path / "t.xlsx", ("t", frame))
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert re.findall(r'<row r="(\d+)">', xml) == ["1", "3"]
    assert '<dimension ref="A1:B3"/>' in xml
    assert openpyxl.load_workbook(path)["t"]["B3"].value == 1


def test_long_text_is_cut_at_excels_limit(tmp_path: Path) -> None:
    emoji = "\U0001f600"  # two UTF-16 units
    frame = pd.DataFrame({"t": ["a" * 40000, emoji * 20000, "b" * 32767]})
    ws = openpyxl.load_workbook(_write(tmp_path / "t.xlsx", ("t", frame)))["t"]
    assert ws["A2"].value == "a" * 32767
    assert ws["A3"].value == emoji * 16383
    assert ws["A4"].value == "b" * 32767


def test_every_part_is_well_formed_xml_and_declared(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", ("说明", _tricky()), ("a&b <c>", _tricky()))
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names[0] == "[Content_Types].xml"
        for name in names:
            ElementTree.fromstring(z.read(name))
        types = z.read("[Content_Types].xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    for name in names:
        if name.startswith(("xl/worksheets/", "xl/styles", "xl/workbook.xml", "docProps/")):
            assert f'PartName="/{name}"' in types, name
    assert rels.count("worksheets/sheet") == 2
    assert openpyxl.load_workbook(path).sheetnames == ["说明", "a&b <c>"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["x" * 32], "longer than 31"),
        (["a/b"], "forbids"),
        (["'a"], "apostrophe"),
        ([""], "empty"),
        (["Sheet", "sheet"], "used twice"),
    ],
)
def test_bad_sheet_names_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    sheets = [Sheet(n, pd.DataFrame({"a": [1]}), [8]) for n in names]
    with pytest.raises(ValueError, match=message):
        write_workbook(tmp_path / "t.xlsx", sheets, created=DATE)


def test_other_bad_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]})
    wide = pd.DataFrame(columns=[f"c{j}" for j in range(16385)])
    with pytest.raises(ValueError, match="0 rows and 16385 columns do not fit"):
        write_workbook(tmp_path / "t.xlsx", [Sheet("s", wide, [8] * 16385)], created=DATE)
    monkeypatch.setattr(_xlsx, "MAX_ROWS", 2)  # a header and one row
    write_workbook(tmp_path / "t.xlsx", [Sheet("s", frame, [8, 8])], created=DATE)
    with pytest.raises(ValueError, match="2 rows and 2 columns do not fit"):
        write_workbook(
            tmp_path / "t.xlsx", [Sheet("s", pd.concat([frame] * 2), [8, 8])], created=DATE
        )
    monkeypatch.undo()
    with pytest.raises(ValueError, match="1 column widths for 2 columns"):
        write_workbook(tmp_path / "t.xlsx", [Sheet("s", frame, [8])], created=DATE)
    with pytest.raises(ValueError, match="at least one sheet"):
        write_workbook(tmp_path / "t.xlsx", [], created=DATE)
    with pytest.raises(ValueError, match="time zone"):
        write_workbook(
            tmp_path / "t.xlsx", [Sheet("s", frame, [8, 8])], created=dt.datetime(2000, 1, 1)
        )
    lone = pd.DataFrame({"a": ["ok\ud800"]})
    with pytest.raises(ValueError, match="lone surrogate"):
        write_workbook(tmp_path / "t.xlsx", [Sheet("s", lone, [8])], created=DATE)


# --- the report -------------------------------------------------------------------------------


def _report(path: Path, frame: pd.DataFrame) -> Path:
    return report.excel(path, pairings=frame, gaps=frame, summary={"rules": {"a": {"n": 1}}})


def _widths(path: Path, sheet: str) -> dict[str, float]:
    ws = openpyxl.load_workbook(path)[sheet]
    out = {}
    for dim in ws.column_dimensions.values():
        for col in range(dim.min, dim.max + 1):
            out[openpyxl.utils.get_column_letter(col)] = dim.width
    return out


def test_report_column_widths_follow_the_rule(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "车程 km": [1.0] * 300,  # the header, 7 columns wide -> 9
            "cjk": ["机构名称机构名称机构"] + ["x"] * 299,  # 20 -> 22
            "long": ["y" * 100] * 300,  # -> the widest, 60
            "float": [0.1 + 0.2, 123456.789] + [1.0] * 298,  # shown as 123457 -> 8
            "late": ["z"] * 200 + ["w" * 40] * 100,  # after the first 200 rows: not counted
            "number": [1234567890123] + [1] * 299,  # as a float with :g, 1.23457e+12 -> 13
            "flag": [True] * 300,  # "True" -> 8
        }
    )
    path = _report(tmp_path / "r.xlsx", frame)
    got = _widths(path, "配对")
    want = [9, 22, 60, 8, 8, 13, 8]
    assert got == {chr(65 + j): column_width_xml(w) for j, w in enumerate(want)}
    assert got["A"] == 9.7109375 and got["D"] == 8.7109375  # what XlsxWriter wrote


def test_report_has_the_same_bytes_and_only_its_date_follows_source_date_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = _report(tmp_path / "a.xlsx", _tricky()).read_bytes()
    b = _report(tmp_path / "b.xlsx", _tricky()).read_bytes()
    assert a == b
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    c = _report(tmp_path / "c.xlsx", _tricky()).read_bytes()
    assert c != a
    za, zc = zipfile.ZipFile(io.BytesIO(a)), zipfile.ZipFile(io.BytesIO(c))
    assert za.namelist() == zc.namelist()
    changed = [n for n in za.namelist() if za.read(n) != zc.read(n)]
    assert changed == ["docProps/core.xml"]
    assert zc.read("docProps/core.xml").decode().count("2023-11-14T22:13:20Z") == 2
    for info in zc.infolist():
        assert info.date_time == _xlsx.ZIP_DATE and info.external_attr >> 16 == 0o100644
        assert info.compress_type == zipfile.ZIP_DEFLATED


def _xlsxwriter_workbook(path: str | Path, sheets: list[Sheet], *, created: dt.datetime) -> Path:
    """The report's writer before issue 26 (XlsxWriter, one call per cell), for comparison."""
    xlsxwriter = pytest.importorskip("xlsxwriter")
    book = xlsxwriter.Workbook(
        str(path),
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "constant_memory": True,
        },
    )
    book.set_properties({"created": created})
    bold = book.add_format({"bold": True})
    for sheet in sheets:
        ws = book.add_worksheet(sheet.name)
        ws.write_row(0, 0, [str(c) for c in sheet.frame.columns], bold)
        ws.freeze_panes(1, 0)
        for j, w in enumerate(sheet.widths):
            ws.set_column(j, j, w)
        cols = [report._cells(sheet.frame.iloc[:, j]) for j in range(sheet.frame.shape[1])]
        for i, row in enumerate(zip(*cols, strict=True), start=1):
            for j, v in enumerate(row):
                if isinstance(v, str):
                    ws.write_string(i, j, v)
                elif isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif v is not None:
                    ws.write_number(i, j, v)
    book.close()
    return Path(path)


def _sheets(path: Path) -> dict[str, tuple[list[list[Any]], dict[str, float], str | None]]:
    book = openpyxl.load_workbook(path)
    return {
        ws.title: (
            [list(r) for r in ws.iter_rows(values_only=True)],
            _widths(path, ws.title),
            ws.freeze_panes,
        )
        for ws in book.worksheets
    }


def test_report_of_a_real_run_holds_what_xlsxwriter_wrote(
    xuanhan_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xlsxwriter")
    run = xuanhan_run
    tables = {
        "pairings": run.pairings,
        "gaps": run.gaps,
        "summary": run.summary,
        "facilities": run.facilities,
        "counties": run.region.counties if run.region is not None else None,
        "coverage": run.coverage,
        "indicators": run.indicators,
        "recommendations": run.recommendations,
    }
    new = report.excel(tmp_path / "new.xlsx", **tables)
    monkeypatch.setattr(report, "write_workbook", _xlsxwriter_workbook)
    old = report.excel(tmp_path / "old.xlsx", **tables)
    got, want = _sheets(new), _sheets(old)
    assert list(got) == list(want) and len(got) >= 6
    numbers = 0
    for name, (rows, widths, frozen) in want.items():
        new_rows, new_widths, new_frozen = got[name]
        assert (new_widths, new_frozen) == (widths, frozen), name
        assert len(new_rows) == len(rows) > 1, name
        for i, (a, b) in enumerate(zip(new_rows, rows, strict=True)):
            for j, (x, y) in enumerate(zip(a, b, strict=True)):
                if isinstance(x, float) and not isinstance(y, bool):
                    # XlsxWriter wrote 16 significant digits; now every float64 is exact
                    assert isinstance(y, int | float) and float(f"{x:.16G}") == y, (name, i, j)
                    numbers += 1
                else:
                    assert _same(x, y), (name, i, j, x, y)
    assert numbers > 1000
