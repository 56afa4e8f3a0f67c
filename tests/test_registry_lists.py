"""Tests of siting.registry on facility lists as offices and web maps hand them out.

The files are made by tests/data/registry/_make_list_fixtures.py (committed): a 民政 list of
Shanghai elderly-care institutions with the operation modes in a ``type`` column and nine
addresses geocoded to the city centre, 卫健 lists without a kind column, hospital levels in
names and types, broken quoting, Big5/Shift-JIS/UTF-16 files, impossible numbers, a header
without rows and WGS84 points declared GCJ-02.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Point

from siting import pairing, registry
from siting._errors import Issue, ValidationError

DATA = Path(__file__).resolve().parent / "data" / "registry"
TOWNSHIPS = (
    Path(__file__).resolve().parents[1] / "data" / "geo" / "reference" / "townships_2023.csv"
)


def issues(path: Path | str, **kwargs: object) -> list[Issue]:
    return registry.validate(DATA / path, **kwargs)  # type: ignore[arg-type]


def errors(path: Path | str, **kwargs: object) -> list[Issue]:
    return [i for i in issues(path, **kwargs) if i.severity == "error"]


def warnings_of(path: Path | str, **kwargs: object) -> list[Issue]:
    return [i for i in issues(path, **kwargs) if i.severity == "warning"]


@pytest.fixture(scope="module")
def seats() -> pd.DataFrame:
    return pd.read_csv(TOWNSHIPS, dtype={"town_code": str, "county_code": str})


# --- ownership and operation modes -------------------------------------------------------------


def test_operation_modes_are_a_data_table() -> None:
    assert registry.COLUMNS.index("operation") == registry.COLUMNS.index("ownership") + 1
    assert registry.DTYPES["operation"] == "string"
    for mode in ("公建公营", "公建民营", "公办民营", "民办公助", "民建民营"):
        assert mode in registry.OPERATIONS
    # registry is a package (siting/registry/); the tables live in siting/data/
    data = Path(registry.__file__).parent.parent / "data"
    table = (data / "operation_modes.yaml").read_text("utf-8")
    assert "公建民营" in table and "ownership: public" in table
    for header in ("运营方式", "运营模式", "经营方式", "operation"):
        assert registry.COLUMN_ALIASES[header] == "operation"


def test_operation_modes_in_a_type_column_are_one_error() -> None:
    problems = errors("sh_elderly_type.csv", crs="gcj02")
    assert len(problems) == 1  # not one "unknown kind" per row
    (p,) = problems
    assert (p.row, p.column) == (None, "type")
    assert "column 'type' (read as kind) holds operation modes" in p.reason
    assert "公建民营" in p.reason and "民建民营" in p.reason
    assert "in 12 of 12 rows" in p.reason
    assert "rename it to 运营方式" in p.reason
    # the kinds were inferred from the names, so that renaming the column is enough
    assert "the kinds of 12 of 12 rows are known (nursing_home 12)" in p.reason
    assert "运营方式" in p.reason_zh


def test_612_rows_of_operation_modes_give_one_error_and_a_short_report(tmp_path: Path) -> None:
    lines = (DATA / "sh_elderly_type.csv").read_text("utf-8-sig").splitlines()
    header, rows = lines[0], lines[1:]
    body = []
    for k in range(612):
        cells = rows[k % len(rows)].split(",")
        cells[0] = str(k + 1)
        cells[3] = cells[3].replace("上海", f"第{k + 1}", 1)  # all different names
        body.append(",".join(cells))
    path = tmp_path / "养老机构名录.csv"
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    found = registry.validate(path, crs="gcj02")
    problems = [i for i in found if i.severity == "error"]
    assert len(problems) == 1
    assert "in 612 of 612 rows" in problems[0].reason
    text = registry.format_issues(found, file=path)
    assert len(text) <= 200
    assert sum(len(line) for line in text) < 20_000


def test_operation_column_gives_ownership_and_operation() -> None:
    reg = registry.read(DATA / "sh_elderly_operation.csv", crs="gcj02")
    assert (reg["kind"] == "nursing_home").all()  # from the names: no kind column
    raw = pd.read_csv(DATA / "sh_elderly_operation.csv", dtype=str, encoding="utf-8-sig")
    assert reg["operation"].tolist() == raw["运营方式"].tolist()
    want = {"公建公营": "public", "公建民营": "public", "公办民营": "public", "民建民营": "private"}
    assert reg["ownership"].tolist() == [want[m] for m in raw["运营方式"]]
    assert "运营方式" not in reg.columns  # read into `operation`, not kept twice
    assert reg["district"].tolist() == raw["district"].tolist()  # extra columns kept
    assert list(reg.attrs["issues"]) == [i for i in reg.attrs["issues"] if i.severity == "warning"]


def test_ownership_column_takes_operation_modes_and_unknown_values_are_warnings() -> None:
    assert errors("ownership_operation.csv") == []
    reg = registry.read(DATA / "ownership_operation.csv")
    assert reg["ownership"].tolist() == ["public", "private", "public", "private", pd.NA, pd.NA]
    assert reg["operation"].tolist() == [
        "公建民营",
        "民建民营",
        "公办民营",
        "公建公营",
        pd.NA,
        pd.NA,
    ]
    rows = {(i.row, i.column): i for i in reg.attrs["issues"] if i.row is not None}
    assert set(rows) == {(5, "性质"), (6, "性质"), (7, "运营方式")}
    assert "disagrees with the operation mode 公建公营" in rows[5, "性质"].reason
    assert "unknown ownership '半公办', left empty" in rows[6, "性质"].reason
    assert "公建民营" in rows[6, "性质"].reason  # the accepted modes are named
    assert "unknown operation '委托管理', left empty" in rows[7, "运营方式"].reason
    assert all(i.severity == "warning" for i in reg.attrs["issues"])


def test_an_optional_column_of_another_vocabulary_is_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "levels_in_ownership.csv"
    rows = ["名称,类型,经度,纬度,坐标系,性质"]
    rows += [f"第{k}医院,医院,106.07{k:02d},30.80,wgs84,三级甲等" for k in range(30)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    reg = registry.read(path)  # never refused for an optional column
    (warning,) = [i for i in reg.attrs["issues"] if i.column == "性质"]
    assert warning.row is None
    assert "holds hospital levels (医院等级)" in warning.reason
    assert "in 30 of 30 rows" in warning.reason
    assert reg["ownership"].isna().all()
    assert reg["source_性质"].tolist() == ["三级甲等"] * 30  # kept, not dropped


def test_frames_take_operation_modes() -> None:
    frame = pd.DataFrame(
        {
            "name": ["甲敬老院", "乙敬老院", "丙敬老院"],
            "kind": ["nursing_home"] * 3,
            "lon": [106.07, 106.08, 106.09],
            "lat": [30.80, 30.81, 30.82],
            "ownership": ["公建民营", None, "半公办"],
            "operation": [None, "民办公助", None],
        }
    )
    reg = registry.from_frame(frame)
    assert reg["ownership"].tolist() == ["public", "private", pd.NA]
    assert reg["operation"].tolist() == ["公建民营", "民办公助", pd.NA]
    assert [(i.row, i.severity) for i in reg.attrs["issues"]] == [(3, "warning")]


def test_operation_round_trips(tmp_path: Path) -> None:
    reg = registry.read(DATA / "ownership_operation.csv")
    back = registry.read(registry.write(reg, tmp_path / "r.gpkg"))
    assert back["operation"].tolist() == reg["operation"].tolist()
    assert back["ownership"].tolist() == reg["ownership"].tolist()


# --- kinds inferred from names -----------------------------------------------------------------


def test_kinds_are_inferred_without_a_kind_column() -> None:
    reg = registry.read(DATA / "sh_chc_no_kind.csv", crs="gcj02")
    assert (reg["kind"] == "community_health_center").all()
    assert reg.index.tolist() == ["1", "2", "3", "38", "39"]
    (said,) = [i for i in reg.attrs["issues"] if i.column == "kind"]
    assert "there is no kind column" in said.reason
    assert "community_health_center 5" in said.reason
    assert "siting/data/kinds.yaml" in said.reason


def test_kinds_are_inferred_when_the_kind_column_is_empty() -> None:
    reg = registry.read(DATA / "empty_kind_column.csv")
    assert reg["kind"].tolist() == ["nursing_home", "health_center", "day_care"]
    assert "poi_type" not in reg.columns and "类型" not in reg.columns
    assert any("the kind column is empty" in i.reason for i in reg.attrs["issues"])


def test_ambiguous_and_unmatched_names_are_listed() -> None:
    problems = errors("no_kind_unmatched.csv")
    assert [(p.row, p.column) for p in problems] == [(3, "kind"), (4, "kind")]
    assert "'龙门镇卫生院敬老院' matches several kinds: health_center, nursing_home" in (
        problems[0].reason
    )
    assert "'好又多超市' matches no kind" in problems[1].reason
    assert "机构类型" in problems[1].reason


def test_kind_keywords_argument_helps_inference(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("名称,经度,纬度\n顺庆区老年服务站,106.07,30.80\n", encoding="utf-8")
    assert errors(path, crs="wgs84")
    reg = registry.read(path, crs="wgs84", kind_keywords={"day_care": ["老年服务站"]})
    assert reg["kind"].tolist() == ["day_care"]


# --- hospital levels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("三级", "三级"),
        ("三级甲等", "三级"),
        ("三甲", "三级"),
        ("二级乙等", "二级"),
        ("二乙", "二级"),
        ("一级", "一级"),
        ("3", "三级"),
        ("南充市中心医院（三级甲等）", "三级"),
        ("南充市中心医院(三甲)", "三级"),
        ("三级甲等医院", "三级"),
        ("医疗保健服务;综合医院;三级甲等医院", "三级"),
        ("二级医院", "二级"),
        ("华凤镇中心卫生院（一级甲等）", "一级"),
        ("未定级", "未定级"),
        ("三甲镇卫生院", None),
        ("南充市第三人民医院", None),
        ("", None),
    ],
)
def test_parse_level(text: str, level: str | None) -> None:
    assert registry.parse_level(text) == level


def test_levels_from_names_and_types_make_level_2_partners() -> None:
    reg = registry.read(DATA / "hospital_levels.csv")
    assert reg["kind"].tolist() == ["hospital"] * 4 + ["health_center"] * 2  # 三级甲等医院 too
    assert reg["level"].tolist() == ["三级", "三级", "二级", "二级", "一级", pd.NA]
    (said,) = [i for i in reg.attrs["issues"] if i.column == "医院等级"]
    assert "from the names or POI types of 3 rows" in said.reason
    green = next(r for r in pairing.load_rules() if r.id == "green_channel")
    partners = reg[reg["kind"].isin(green.to_kinds)]
    for column, values in green.partner_filter.items():
        partners = partners[partners[column].isin(values)]
    assert partners["name"].tolist() == [
        "南充市中心医院（三级甲等）",
        "南充市第二人民医院",
        "顺庆区人民医院",
        "顺庆区中医医院",
    ]


def test_level_column_and_name_disagreeing_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "levels.csv"
    path.write_text(
        "名称,类型,经度,纬度,坐标系,等级\n南充市中心医院（三级甲等）,医院,106.07,30.80,wgs84,二级\n",
        encoding="utf-8",
    )
    reg = registry.read(path)
    assert reg["level"].tolist() == ["二级"]  # the level column decides
    assert any("disagrees" in i.reason and i.row == 2 for i in reg.attrs["issues"])


# --- many facilities on one point --------------------------------------------------------------


def test_many_facilities_on_one_point_are_a_probable_geocoder_fallback(tmp_path: Path) -> None:
    said = [
        i for i in warnings_of("sh_elderly_operation.csv", crs="gcj02") if "one point" in i.reason
    ]
    assert [i.row for i in said] == [2, 3, 5, 6, 7, 8, 9, 10, 11]  # each row is told
    assert {i.column for i in said} == {"lng"}
    reason = said[0].reason
    assert "9 facilities with different names lie on one point (121.473667, 31.230525)" in reason
    assert "rows 2, 3, 5, 6, 7, 8, 9, 10, 11" in reason
    assert "from 6 districts (column 'district'" in reason
    assert "geocoder" in reason
    found = registry.validate(DATA / "sh_elderly_operation.csv", crs="gcj02")
    text = registry.format_issues(found, max_lines=20)
    assert len(text) <= 20
    # two facilities on one point (医养结合: a nursing home in the health centre) are no fallback
    path = tmp_path / "colocated.csv"
    path.write_text(
        "名称,类型,经度,纬度,坐标系\n"
        "龙门镇卫生院,卫生院,106.07,30.80,wgs84\n"
        "龙门镇敬老院,敬老院,106.07,30.80,wgs84\n"  # 医养结合: a nursing home in the centre
        "龙门镇日间照料中心,日间照料中心,106.0701,30.80,wgs84\n",  # 10 m away
        encoding="utf-8",
    )
    assert not [i for i in registry.validate(path) if "one point" in i.reason]


# --- CSV reading -------------------------------------------------------------------------------


def test_an_unclosed_quote_stops_with_its_row() -> None:
    found = issues("broken_quote.csv")
    assert len(found) == 1
    (p,) = found
    assert (p.severity, p.row, p.column) == ("error", 6, "备注")
    assert "a quoted cell opening on line 6 is not closed" in p.reason
    assert "to the end of the file" in p.reason
    assert "15 lines that look like rows" in p.reason
    with pytest.raises(ValidationError, match="not closed"):
        registry.read(DATA / "broken_quote.csv")


def test_an_unclosed_quote_in_a_long_list(tmp_path: Path) -> None:
    rows = ["编号,名称,类型,经度,纬度,坐标系,备注"]
    for k in range(512):
        note = '"院内设医务室' if k == 8 else "医养结合"
        rows.append(f"{k + 1},第{k + 1}敬老院,敬老院,106.{k:04d},30.80,wgs84,{note}")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    (p,) = registry.validate(path)
    assert p.severity == "error" and p.row == 10
    assert "503 lines that look like rows" in p.reason


def test_big5_is_read_not_turned_into_mojibake() -> None:
    reg = registry.read(DATA / "big5.csv")
    assert reg.attrs["encoding"] == "big5"
    assert reg["name"].tolist() == [
        "臺北市私立松柏敬老院",
        "臺北市立聯合醫院仁愛院區",
        "新北市私立康寧養老院",
    ]
    assert reg["kind"].tolist() == ["nursing_home", "hospital", "nursing_home"]
    assert reg["note"].tolist() == ["長期照顧", "急診", pd.NA]
    assert any("read as Big5" in i.reason for i in reg.attrs["issues"])
    # GBK stays GBK (its bytes decode as Big5 too, into rare characters)
    assert registry.read(DATA / "good_gbk.csv", crs="gcj02").attrs["encoding"] == "gb18030"


def test_gbk_with_traditional_characters_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "traditional_gbk.csv"
    path.write_bytes(
        "名称,类型,经度,纬度,坐标系\n臺北市私立松柏敬老院,敬老院,121.52,25.05,wgs84\n"
        "臺北市立聯合醫院仁愛院區,医院,121.55,25.04,wgs84\n".encode("gb18030")
    )
    reg = registry.read(path)
    assert reg.attrs["encoding"] == "gb18030"
    assert reg["name"].tolist() == ["臺北市私立松柏敬老院", "臺北市立聯合醫院仁愛院區"]
    assert any("common ones" in i.reason for i in reg.attrs["issues"])


def test_shift_jis_is_read_not_turned_into_mojibake() -> None:
    reg = registry.read(DATA / "shift_jis.csv")
    assert reg.attrs["encoding"] == "shift_jis"
    assert reg["name"].tolist() == ["特別養護老人ホーム青葉苑", "東京都立広尾病院"]
    assert any("read as Shift-JIS" in i.reason for i in reg.attrs["issues"])


def test_utf16_with_a_bom_is_read() -> None:
    reg = registry.read(DATA / "unicode_text.txt")  # Excel's "Unicode 文本": UTF-16, tabs
    assert reg.attrs["encoding"] == "utf-16-le"
    assert reg["name"].tolist() == ["潆溪镇敬老院", "潆溪镇中心卫生院"]
    assert reg["beds"].tolist() == [45, 30]


def test_utf16_big_endian_and_without_bom(tmp_path: Path) -> None:
    text = "名称\t类型\t经度\t纬度\t坐标系\n潆溪镇敬老院\t敬老院\t106.07\t30.80\twgs84\n"
    big = tmp_path / "be.txt"
    big.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    assert registry.read(big)["name"].tolist() == ["潆溪镇敬老院"]
    bare = tmp_path / "bare.txt"
    bare.write_bytes(text.encode("utf-16-le"))
    reg = registry.read(bare)
    assert reg["name"].tolist() == ["潆溪镇敬老院"]
    assert any("UTF-16" in i.reason for i in reg.attrs["issues"])


def test_an_unknown_encoding_is_an_error_naming_what_was_tried() -> None:
    (p,) = errors("latin1.csv")
    assert p.row is None
    for name in ("UTF-8", "GB18030", "Big5", "Shift-JIS", "CSV UTF-8"):
        assert name in p.reason


def test_a_huge_field_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "huge_field.csv"
    big = "很长的备注" * 220_000  # 1.1 million characters
    path.write_text(
        "名称,类型,经度,纬度,坐标系,备注\n"
        "甲敬老院,敬老院,106.07,30.80,wgs84,正常\n"
        f"乙敬老院,敬老院,106.08,30.81,wgs84,{big}\n"
        "丙敬老院,敬老院,106.09,30.82,wgs84,正常\n",
        encoding="utf-8",
    )
    found = registry.validate(path)  # no _csv.Error
    (p,) = [i for i in found if i.severity == "error"]
    assert p.row == 3
    assert "longer than" in p.reason
    middle = tmp_path / "long_cell.csv"
    middle.write_text(
        f"名称,类型,经度,纬度,坐标系,备注\n甲敬老院,敬老院,106.07,30.80,wgs84,{'长' * 40_000}\n",
        encoding="utf-8",
    )
    (p,) = [i for i in registry.validate(middle) if i.severity == "error"]
    assert (p.row, p.column) == (2, "备注")
    assert "40,000 characters" in p.reason


def test_numbers_no_facility_has_are_row_errors() -> None:
    problems = errors("huge_numbers.csv")  # no OverflowError
    assert [(p.row, p.column) for p in problems] == [
        (2, "床位数"),
        (3, "床位数"),
        (4, "床位数"),
        (5, "容量"),
        (6, "纬度"),
    ]
    assert "'1e30' is more than 50,000" in problems[0].reason
    assert "'1000000000000000' is more than 50,000" in problems[2].reason
    assert "not a longitude/latitude" in problems[4].reason


def test_huge_whole_numbers_in_a_workbook(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["名称", "类型", "经度", "纬度", "坐标系", "床位数", "统一社会信用代码"])
    ws.append(["甲敬老院", "敬老院", 106.07, 30.80, "wgs84", 2**63, 2**64])
    ws.append(["乙敬老院", "敬老院", 106.08, 30.81, "wgs84", 60, 12])
    path = tmp_path / "big.xlsx"
    book.save(path)
    (p,) = errors(path)
    assert (p.row, p.column) == (2, "床位数")
    fixed = tmp_path / "fixed.xlsx"
    ws["F2"] = 60
    book.save(fixed)
    reg = registry.read(fixed)  # a whole number beyond 64 bits in an extra column: no error
    assert reg["统一社会信用代码"].tolist() == pytest.approx([2.0**64, 12.0], rel=1e-12)


def test_a_list_without_rows_is_an_error(tmp_path: Path) -> None:
    (p,) = errors("header_only.csv")
    assert "no facility rows" in p.reason
    assert not [i for i in issues("header_only.csv") if i.severity == "warning"]
    with pytest.raises(ValidationError, match="no facility rows"):
        registry.read(DATA / "header_only.csv")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\r\n")
    (p,) = registry.validate(empty)
    assert "the file is empty" in p.reason
    book = openpyxl.Workbook()
    book.active.append(["名称", "类型", "经度", "纬度"])
    book.save(tmp_path / "header.xlsx")
    assert "no facility rows" in errors(tmp_path / "header.xlsx")[0].reason


# --- coordinate systems ------------------------------------------------------------------------


def test_wgs84_points_declared_gcj02_are_warned(seats: pd.DataFrame) -> None:
    (said,) = [
        i for i in warnings_of("wgs_declared_gcj.csv", reference_points=seats) if "fit" in i.reason
    ]
    assert "the coordinates fit WGS84" in said.reason
    assert "declared GCJ-02" in said.reason
    assert not [i for i in warnings_of("wgs_declared_gcj.csv") if "fit" in i.reason]
    # the GCJ-02 points of the same places declared GCJ-02: no warning
    assert not [
        i for i in warnings_of("gcj_undeclared.csv", crs="gcj02", reference_points=seats)
        if "fit" in i.reason
    ]  # fmt: skip


def test_wgs84_geometry_declared_gcj02_is_warned(seats: pd.DataFrame, tmp_path: Path) -> None:
    raw = pd.read_csv(DATA / "wgs_declared_gcj.csv")
    gdf = gpd.GeoDataFrame(
        {"name": raw["名称"], "kind": raw["类型"]},
        geometry=[Point(x, y) for x, y in zip(raw["经度"], raw["纬度"], strict=True)],
        crs="EPSG:4326",
    )
    path = tmp_path / "points.geojson"
    gdf.to_file(path, driver="GeoJSON")
    reg = registry.read(path, crs="gcj02", reference_points=seats)
    assert any("declared GCJ-02" in i.reason for i in reg.attrs["issues"])
    assert not any(
        "fit" in i.reason for i in registry.read(path, reference_points=seats).attrs["issues"]
    )


# --- bounded reports ---------------------------------------------------------------------------


def test_format_issues_is_bounded_and_summarised_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    rows = ["名称,类型,经度,纬度,坐标系"]
    rows += [f"第{k}场,养鸡场,106.{k:04d},30.80,wgs84" for k in range(600)]
    rows += [f"第{k}院,敬老院,106.{k:04d},abc,wgs84" for k in range(100)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    found = registry.validate(path)
    assert len([i for i in found if i.severity == "error"]) == 700
    text = registry.format_issues(found, file=path)
    assert len(text) <= 200
    assert text[0] == f"{path}: 700 个错误 / error(s), 0 个提示 / warning(s)"
    summary = [line for line in text if " × [" in line]
    assert summary and "unknown kind" in summary[0] and "column '类型'" in summary[0]
    shown = sum(line.startswith("  [") for line in text)
    counted = sum(int(line.split(" × ")[0]) for line in summary)
    assert shown + counted == 700  # every issue is shown or counted
    assert registry.format_issues([], file="a.csv") == [
        "a.csv: 检查通过，未发现问题 / no problems found"
    ]
    few = registry.format_issues(registry.validate(DATA / "bad_many.csv"))
    assert not [line for line in few if " × [" in line]  # short lists are shown whole
