"""Text from the data is shown as text, never run: CSV fields Excel would take for a formula get a
leading ``'`` (OWASP), the workbook holds text cells only, Markdown and HTML are escaped, static
maps draw ``$`` literally; and the same inputs give the same bytes (workbook, maps, GraphML mode).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import networkx as nx
import openpyxl
import pandas as pd
import pytest

from siting import maps, modelled, network, regions, report
from siting._io import (
    escape_html,
    escape_md,
    excel_restore_frame,
    excel_restore_text,
    excel_safe_frame,
    excel_safe_text,
    write_csv,
)

XSS = "<img src=x onerror=alert(1)>"
HYPERLINK = '=HYPERLINK("http://x","click")'
DDE = "=cmd|' /C calc'!A0"
#: Names a planner's file could hold; each is kept exactly in the workbook.
NASTY = [HYPERLINK, DDE, "+SUM(1,2)", "-2+3", "@SUM(A1)", "\tq", "\rq", "a|b", XSS, "正常", "-12.5"]

needs_cjk_font = pytest.mark.skipif(
    not maps.CJK_FONT_PATH.is_file() and not os.environ.get("SITING_REQUIRE_BROWSER"),
    reason="CJK font missing: apt-get install -y fonts-noto-cjk",
)


# --- the neutraliser ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["=1+1", HYPERLINK, DDE, "+x", "+1+1", "-x", "-", "-1-1", "@SUM(A1)", "\tx", "\rx"]
)
def test_formula_starts_get_a_quote(text: str) -> None:
    assert excel_safe_text(text) == "'" + text
    assert excel_safe_text(excel_safe_text(text)) == "'" + text  # once only
    assert excel_restore_text(excel_safe_text(text)) == text


@pytest.mark.parametrize(
    "value", ["-12.5", "+3", "-0", "-.5", "-1e-3", "12", "a=b", "'=x", " =x", "", "院", "x-1"]
)
def test_numbers_and_plain_text_are_left_alone(value: str) -> None:
    assert excel_safe_text(value) == value
    if value != "'=x":  # the one original restoring cannot tell from a neutralised field
        assert excel_restore_text(value) == value


@pytest.mark.parametrize("value", [3, -1.5, None, pd.NA, True])
def test_values_that_are_not_text_are_left_alone(value: object) -> None:
    assert excel_safe_text(value) is value


def test_nan_is_left_alone() -> None:
    assert math.isnan(excel_safe_text(float("nan")))


def test_safe_frame_is_a_copy_of_every_text_column() -> None:
    frame = pd.DataFrame(
        {
            "obj": pd.Series(["=a", 3, None, "-7"], dtype=object),
            "str": pd.Series(["+b", None, "-x", "ok"], dtype="string"),
            "cat": pd.Series(["@c", "ok", "@c", None], dtype="category"),
            "num": [-1.0, 2.0, 3.0, 4.0],
            "=header": ["x", "y", "z", "w"],
        }
    )
    before = frame.copy()
    out = excel_safe_frame(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    assert out["obj"].tolist()[:2] == ["'=a", 3] and out["obj"].iloc[3] == "-7"
    assert pd.isna(out["obj"].iloc[2])
    assert out["str"].dtype == frame["str"].dtype
    assert out["str"].tolist()[0] == "'+b" and out["str"].iloc[2] == "'-x"
    assert out["cat"].astype(object).tolist()[:3] == ["'@c", "ok", "'@c"]
    assert out["num"].tolist() == [-1.0, 2.0, 3.0, 4.0]
    assert list(out.columns) == ["obj", "str", "cat", "num", "'=header"]
    back = excel_restore_frame(out)
    assert list(back.columns) == list(frame.columns)
    assert back["obj"].tolist()[:2] == ["=a", 3]


def test_write_csv_neutralises_and_keeps_the_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"facility_id": ["=1+1", "F2"], "facility_name": [DDE, "-12.5"], "x": [-1.5, 2.0]}
    )
    before = frame.copy()
    path = write_csv(frame, tmp_path / "pairings.csv")
    pd.testing.assert_frame_equal(frame, before)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, for Chinese Excel
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert back["facility_id"].tolist() == ["'=1+1", "F2"]
    assert back["facility_name"].tolist() == ["'" + DDE, "-12.5"]
    assert back["x"].tolist() == ["-1.5", "2.0"]
    # no line of the file starts a field with a formula character
    for line in raw.decode("utf-8-sig").splitlines():
        for field in line.split(","):
            assert not field.startswith(("=", "@", "+", '"=')), line
    exact = write_csv(frame, tmp_path / "state.csv", excel_safe=False)
    assert pd.read_csv(exact, encoding="utf-8-sig", dtype=str)["facility_id"].iloc[0] == "=1+1"
    restored = excel_restore_frame(pd.read_csv(path, encoding="utf-8-sig", dtype=str))
    assert restored["facility_name"].tolist() == [DDE, "-12.5"]


# --- Markdown and HTML ----------------------------------------------------------------------------


def test_escape_md() -> None:
    assert escape_md("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escape_md("a|b") == "a\\|b"
    assert escape_md("[x](http://evil)") == "\\[x\\](http://evil)"
    assert escape_md("*a* _b_ `c` # d ~e~ \\") == "\\*a\\* \\_b\\_ \\`c\\` \\# d \\~e\\~ \\\\"
    assert escape_md("a\nb\r\nc\td") == "a b c d"
    assert escape_md("A&B") == "A&amp;B"
    assert escape_md(None) == "" and escape_md(float("nan")) == "" and escape_md(pd.NA) == ""
    assert escape_md(12) == "12"
    # a table row stays one row of the right number of cells
    row = "| " + " | ".join(escape_md(x) for x in ["a|b", "c\nd"]) + " |"
    assert row.count("|") - row.count("\\|") == 3


def test_escape_html() -> None:
    assert escape_html(XSS) == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape_html("\"'&") == "&quot;&#x27;&amp;"
    assert escape_html(None) == "" and escape_html(float("nan")) == ""


# --- the workbook ---------------------------------------------------------------------------------


def _tables() -> dict[str, pd.DataFrame]:
    n = len(NASTY)
    pairings = pd.DataFrame(
        {
            "rule": ["contract"] * n,
            "rule_zh": ["签约"] * n,
            "facility_id": NASTY,
            "facility_name": NASTY,
            "facility_kind": ["nursing_home"] * n,
            "partner_id": NASTY[::-1],
            "partner_name": NASTY[::-1],
            "partner_kind": ["health_center"] * n,
            "travel_time_min": [12.5] * n,
            "within_threshold": [True] * n,
            "assigned": [True] * n,
            "reason": NASTY,
        }
    )
    gaps = pd.DataFrame(
        {"gap_type": ["facility"], "facility_id": [HYPERLINK], "reason": [DDE], "rule": ["c"]}
    )
    return {"pairings": pairings, "gaps": gaps}


def _excel(path: Path) -> Path:
    summary = {"region": {"name": HYPERLINK}, "rules": {"contract": {"n": 3}}, "data": {}}
    return report.excel(path, summary=summary, **_tables())


def test_workbook_holds_text_cells_with_the_original_text(tmp_path: Path) -> None:
    path = _excel(tmp_path / "report.xlsx")
    book = openpyxl.load_workbook(path)
    seen: set[str] = set()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen.add(cell.value)
    # kept as written, no quote added in the workbook (XML reads a carriage return as a newline)
    kept = [t for t in NASTY if "\r" not in t]
    for text in kept:
        assert text in seen, text
    sheet = pd.read_excel(path, sheet_name="配对", dtype=str)
    # a carriage return is stored escaped (_x000D_, the OOXML form) and so survives intact
    names = [t.replace("_x000D_", "\r") for t in sheet["机构名称 facility_name"].tolist()]
    assert [t for t in names if "\n" not in t] == [t for t in NASTY if "\n" not in t]


def test_workbook_has_the_same_bytes_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = _excel(tmp_path / "a" / "report.xlsx")
    b = _excel(tmp_path / "b" / "report.xlsx")
    assert a.read_bytes() == b.read_bytes()
    assert (a.stat().st_mode & 0o777) == 0o666 & ~_umask()
    with zipfile.ZipFile(a) as z:
        assert z.testzip() is None
        for info in z.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info
            assert info.external_attr >> 16 == 0o100644
        core = z.read("docProps/core.xml").decode()
    assert core.count("2000-01-01T00:00:00Z") == 2, core
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    c = _excel(tmp_path / "c" / "report.xlsx")
    with zipfile.ZipFile(c) as z:
        assert z.read("docProps/core.xml").decode().count("2023-11-14T22:13:20Z") == 2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- maps -----------------------------------------------------------------------------------------


def _nasty_registry(region: regions.Region) -> pd.DataFrame:
    fac = modelled.registry_for(region).copy()
    fac["name"] = [f"{XSS}{NASTY[i % len(NASTY)]}" for i in range(len(fac))]
    return fac


def test_meeting_map_escapes_names(xuanhan: regions.Region, tmp_path: Path) -> None:
    fac = _nasty_registry(xuanhan)
    seat = xuanhan.townships.geometry.iloc[0]
    recs = pd.DataFrame({"name": [XSS + "a|b"], "lon": [seat.x], "lat": [seat.y]})
    m = maps.meeting_map(region=xuanhan, facilities=fac, recommendations=recs, title=XSS)
    page = maps.save_html(m, tmp_path / "map.html").read_text(encoding="utf-8")
    assert "<img" not in page.lower()  # not in popups, tooltips, the title or <title>
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<title>&lt;img src=x onerror=alert(1)&gt;</title>" in page
    assert "a|b" in page and "=HYPERLINK(&quot;http://x&quot;" in page


@needs_cjk_font
def test_static_map_draws_dollars_and_backslashes_as_text(
    xuanhan: regions.Region, tmp_path: Path
) -> None:
    path = maps.static_map(
        region=xuanhan,
        facilities=modelled.registry_for(xuanhan),
        path=tmp_path / "map.png",
        title="$\\frac{$ a_b^c \\ $x$ 宣汉",
        dpi=40,
    )
    assert path.read_bytes().startswith(b"\x89PNG")


_MAKE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import pandas as pd
    from siting import maps, modelled, regions, report
    out = Path(sys.argv[1])
    region = regions.load("xuanhan")
    fac = modelled.registry_for(region)
    maps.save_html(maps.meeting_map(region=region, facilities=fac, title="<b>t</b>"),
                   out / "map.html")
    maps.static_map(region=region, facilities=fac, path=out / "map.png", dpi=40)
    frame = pd.DataFrame({"facility_id": ["=1", "b"], "name": ["x", "y"]})
    report.excel(out / "report.xlsx", pairings=frame, gaps=frame, summary={},
                 facilities=None)
    """
)


@needs_cjk_font
def test_maps_and_workbook_have_the_same_bytes_whatever_the_hash_seed(tmp_path: Path) -> None:
    procs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        out.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        env.pop("SOURCE_DATE_EPOCH", None)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _MAKE, str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    for name in ("map.html", "map.png", "report.xlsx"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


# --- GraphML --------------------------------------------------------------------------------------


def test_graphml_gets_the_mode_of_every_other_output(tmp_path: Path) -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=107.0, y=31.0)
    g.add_node(2, x=107.1, y=31.0)
    g.add_edge(1, 2, length=9500.0, travel_time=600.0)
    old = os.umask(0o022)
    try:
        path = network.to_graphml(g, tmp_path / "net" / "roads.graphml")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["roads.graphml"]
