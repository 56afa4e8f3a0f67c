"""Tests of siting.registry on the real small files of tests/data/registry/.

The files are made once by tests/data/registry/_make_fixtures.py and committed; each bad file
breaks one rule (bad_many.csv several at once).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import box

from siting import crs as scrs
from siting import registry, settings
from siting._errors import Issue, ValidationError

DATA = Path(__file__).resolve().parent / "data" / "registry"
TOWNSHIPS = (
    Path(__file__).resolve().parents[1] / "data" / "geo" / "reference" / "townships_2023.csv"
)

#: A box around the Shunqing urban area, the "region" of the outside-the-boundary tests.
SHUNQING = box(105.95, 30.70, 106.20, 30.90)


def errors(path: Path | str, **kwargs: object) -> list[Issue]:
    return [i for i in registry.validate(DATA / path, **kwargs) if i.severity == "error"]  # type: ignore[arg-type]


def raw_csv(name: str, encoding: str = "utf-8") -> pd.DataFrame:
    return pd.read_csv(DATA / name, dtype=str, keep_default_na=False, encoding=encoding)


@pytest.fixture(scope="module")
def seats() -> pd.DataFrame:
    return pd.read_csv(TOWNSHIPS, dtype={"town_code": str, "county_code": str})


# --- kinds and schema --------------------------------------------------------------------------


def test_kind_table() -> None:
    assert set(registry.KINDS) == {
        "nursing_home",
        "care_complex",
        "day_care",
        "happiness_home",
        "integrated_care",
        "health_center",
        "community_health_center",
        "community_health_station",
        "village_clinic",
        "hospital",
    }
    codes = {k: v.id_code for k, v in registry.KINDS.items()}
    assert codes == {
        "nursing_home": "NH",
        "care_complex": "CC",
        "day_care": "DC",
        "happiness_home": "HH",
        "integrated_care": "IC",
        "health_center": "HC",
        "community_health_center": "CHC",
        "community_health_station": "CHS",
        "village_clinic": "VC",
        "hospital": "HOS",
    }
    assert "integrated_care" in registry.ELDERLY_CARE_KINDS
    assert "integrated_care" in registry.MEDICAL_KINDS
    assert "nursing_home" in registry.ELDERLY_CARE_KINDS
    assert "nursing_home" not in registry.MEDICAL_KINDS
    assert "village_clinic" not in registry.ELDERLY_CARE_KINDS
    assert registry.kind_label("health_center") == "乡镇卫生院"
    assert registry.kind_label("village_clinic", "en") == "village clinic"
    assert registry.kind_label("hospital", "both") == "医院 hospital"
    with pytest.raises(ValueError, match="unknown kind"):
        registry.kind_label("clinic")


def test_column_aliases_cover_the_usual_headers() -> None:
    expected = {
        "机构编号": "id",
        "ID": "id",
        "名称": "name",
        "机构名称": "name",
        "单位名称": "name",
        "类型": "kind",
        "机构类型": "kind",
        "类别": "kind",
        "经度": "lon",
        "lng": "lon",
        "longitude": "lon",
        "x": "lon",
        "纬度": "lat",
        "latitude": "lat",
        "y": "lat",
        "坐标系": "crs",
        "床位": "beds",
        "床位数": "beds",
        "容量": "capacity",
        "性质": "ownership",
        "所有制": "ownership",
        "公办民办": "ownership",
        "等级": "level",
        "医院等级": "level",
        "地址": "address",
        "区县代码": "county_code",
        "乡镇街道代码": "township_code",
        "村代码": "village_code",
        "来源": "source",
        "备注": "note",
    }
    for alias, canonical in expected.items():
        assert registry.COLUMN_ALIASES[alias] == canonical, alias
    assert "序号" not in registry.COLUMN_ALIASES


def test_empty_has_the_schema() -> None:
    reg = registry.empty()
    assert list(reg.columns) == [*registry.COLUMNS, "geometry"]
    assert reg.index.name == "id"
    assert reg.index.dtype == "string"
    assert reg.crs.equals("EPSG:4326")
    assert {c: str(reg[c].dtype) for c in registry.COLUMNS} == registry.DTYPES


# --- good files --------------------------------------------------------------------------------


def test_read_utf8_csv_with_chinese_headers() -> None:
    reg = registry.read(DATA / "good_utf8.csv")
    raw = raw_csv("good_utf8.csv")
    assert reg.attrs["encoding"] == "utf-8"
    # every row, in order (the blank line is not a facility), with its extra columns
    assert reg["name"].tolist() == raw["机构名称"].tolist()
    assert list(reg.columns) == [*registry.COLUMNS, "序号", "联系电话", "geometry"]
    assert reg["联系电话"].tolist()[:2] == ["0817-2222001", "0817-2222002"]
    assert reg["联系电话"].isna().tolist() == [False, False, True, False, True, True]
    assert reg.index.tolist() == [
        "SQ-001",
        "CC-511302-00001",
        "DC-511302-00001",
        "SQ-004",
        "CHC-511302-00001",
        "VC-511302-00001",  # the county code attached from the reference boundaries
    ]
    assert list(reg.attrs["generated_ids"]) == [
        "CC-511302-00001",
        "DC-511302-00001",
        "CHC-511302-00001",
        "VC-511302-00001",
    ]
    assert reg["kind"].tolist() == [
        "nursing_home",
        "care_complex",
        "day_care",
        "hospital",
        "community_health_center",
        "village_clinic",
    ]
    assert reg["beds"].dtype == "Int64"
    assert reg["beds"].tolist() == [60, pd.NA, pd.NA, 500, 20, pd.NA]
    assert reg["ownership"].tolist() == ["public", "public", "private", "public", pd.NA, pd.NA]
    assert reg["operation"].isna().all()
    assert reg["level"].tolist()[3:5] == ["三级", "一级"]
    assert reg["township_code"].tolist()[0] == "511302001"
    assert (reg["crs"] == "gcj02").all()
    assert (reg["source"] == "user").all()
    lon, lat = scrs.gcj02_to_wgs84(raw["经度"].astype(float), raw["纬度"].astype(float))
    np.testing.assert_array_equal(reg["lon"].to_numpy(), lon)
    np.testing.assert_array_equal(reg["lat"].to_numpy(), lat)
    np.testing.assert_array_equal(reg.geometry.x.to_numpy(), lon)
    assert [i.column for i in reg.attrs["issues"]] == ["county_code"]  # codes attached


def test_read_gbk_csv() -> None:
    data = (DATA / "good_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is GBK
    reg = registry.read(DATA / "good_gbk.csv", crs="gcj02")
    assert reg.attrs["encoding"] == "gb18030"
    assert reg["name"].tolist() == ["潆溪镇敬老院", "潆溪镇中心卫生院", "胜观村卫生室"]
    assert reg["kind"].tolist() == ["nursing_home", "health_center", "village_clinic"]
    assert reg["address"].tolist() == ["潆溪镇正街12号", "潆溪镇新街", pd.NA]
    assert reg["note"].tolist() == ["五保集中供养", pd.NA, "乡村医生2名"]
    assert reg["ownership"].tolist() == ["public", "public", pd.NA]
    assert reg["序号"].tolist() == ["1", "2", "3"]
    same = registry.read(DATA / "good_gbk.csv", crs="gcj02", encoding="gbk")
    assert same["name"].tolist() == reg["name"].tolist()
    wrong = errors("good_gbk.csv", crs="gcj02", encoding="utf-8")
    assert len(wrong) == 1
    assert "cannot decode" in wrong[0].reason


def test_read_xlsx_with_title_row_keeps_types() -> None:
    reg = registry.read(DATA / "good.xlsx", crs="wgs84")
    assert reg["name"].tolist() == ["舞凤街道敬老院", "和平路日间照料中心", "搬罾农村幸福院"]
    assert reg["kind"].tolist() == ["nursing_home", "day_care", "happiness_home"]
    assert reg["county_code"].tolist() == ["511302"] * 3
    assert reg["beds"].tolist() == [80, pd.NA, 12]
    assert reg["开业年份"].dtype == "Int64"
    assert reg["评分"].dtype == "Float64"
    assert reg["医养结合"].dtype == "boolean"
    assert reg["登记日期"].iloc[0] == pd.Timestamp("2012-05-01")
    assert reg.attrs["header_row"] == 2
    assert any("row 2" in i.reason for i in reg.attrs["issues"])  # the title row is reported
    assert reg.index.tolist()[0] == "NH-511302-00001"


def test_read_xlsx_sheet_choice() -> None:
    by_name = registry.read(DATA / "good.xlsx", crs="wgs84", sheet="养老机构")
    by_index = registry.read(DATA / "good.xlsx", crs="wgs84", sheet=0)
    assert_geodataframe_equal(by_name, by_index)
    assert_geodataframe_equal(registry.read(DATA / "good.xlsx", crs="wgs84", sheet="0"), by_index)
    problems = errors("good.xlsx", crs="wgs84", sheet="没有这个表")
    assert "养老机构" in problems[0].reason
    assert "说明" in problems[0].reason


def test_read_geojson() -> None:
    reg = registry.read(DATA / "good.geojson")
    assert reg["kind"].tolist() == ["integrated_care", "health_center"]
    assert reg["beds"].tolist() == [120, pd.NA]
    assert reg["ownership"].tolist() == ["private", "public"]
    assert reg["联系人"].tolist() == ["王主任", pd.NA]
    assert (reg["crs"] == "wgs84").all()
    assert reg["lon"].tolist() == [106.070247, 106.090434]


def test_read_gpkg() -> None:
    reg = registry.read(DATA / "good.gpkg")
    assert reg["name"].tolist() == ["河西乡敬老院", "河西乡卫生院", "大林村卫生室"]
    assert reg["kind"].tolist() == ["nursing_home", "health_center", "village_clinic"]
    assert reg["beds"].tolist() == [40, 25, 0]
    assert reg["管理员"].tolist() == ["张三", "李四", pd.NA]
    assert reg.attrs["layer"] == "points"
    assert errors("good.gpkg", layer="nope")[0].reason.startswith("layer 'nope' not found")


def test_per_row_crs_is_converted() -> None:
    raw = raw_csv("mixed_crs.csv")
    reg = registry.read(DATA / "mixed_crs.csv", crs="gcj02")  # the argument fills the empty row
    assert reg["crs"].tolist() == ["wgs84", "gcj02", "bd09", "bd09", "gcj02"]
    for i, src in enumerate(reg["crs"]):
        lon, lat = scrs.convert(float(raw["lon"][i]), float(raw["lat"][i]), src=src, dst=scrs.WGS84)
        assert reg["lon"].iat[i] == float(lon)
        assert reg["lat"].iat[i] == float(lat)
    # the three spellings of one place land on it (within the file's 6 decimals, ~10 cm)
    assert np.ptp(reg["lon"].to_numpy()[:3]) < 1.5e-6
    assert np.ptp(reg["lat"].to_numpy()[:3]) < 1.5e-6
    # without the argument, the empty row has no system
    problems = errors("mixed_crs.csv")
    assert [(p.row, p.column) for p in problems] == [(6, "crs")]
    assert "not declared" in problems[0].reason


def test_header_names_the_crs(tmp_path: Path) -> None:
    path = tmp_path / "header_crs.csv"
    path.write_text("名称,类型,经度(GCJ-02),纬度(GCJ-02)\n甲敬老院,敬老院,106.07424,30.797586\n")
    reg = registry.read(path)
    assert reg["crs"].tolist() == ["gcj02"]
    assert reg["lon"].iat[0] == pytest.approx(106.070247, abs=1e-6)


def test_point_quality_source_and_codes(tmp_path: Path) -> None:
    path = tmp_path / "quality.csv"
    path.write_text(
        "名称,类型,经度,纬度,坐标系,定位方式,来源,村代码,乡镇代码\n"
        "甲敬老院,敬老院,106.07,30.80,wgs84,实测,民政局2024年调查,511302001001,511302001\n"
        "乙卫生院,卫生院,106.08,30.81,wgs84,地址匹配,,,\n",
        encoding="utf-8",
    )
    reg = registry.read(path)
    assert reg["location"].tolist() == ["surveyed", "approximate"]
    assert reg["source"].tolist() == ["民政局2024年调查", "user"]
    assert reg["village_code"].tolist() == ["511302001001", pd.NA]
    bad = tmp_path / "bad_quality.csv"
    bad.write_text(
        "名称,类型,经度,纬度,坐标系,定位方式,乡镇代码\n甲敬老院,敬老院,106.07,30.80,wgs84,瞎猜,5113\n",
        encoding="utf-8",
    )
    issues = registry.validate(bad)
    problems = [i for i in issues if i.severity == "error"]
    assert [(p.row, p.column) for p in problems] == [(2, "乡镇代码")]
    assert "9-digit" in problems[0].reason
    # an unknown point quality is a warning (an optional column never refuses the file)
    (quality,) = [i for i in issues if i.column == "定位方式"]
    assert quality.severity == "warning"
    assert "surveyed" in quality.reason


def test_vector_crs_column_is_provenance(tmp_path: Path) -> None:
    reg = registry.read(DATA / "mixed_crs.csv", crs="gcj02")
    path = registry.write(reg, tmp_path / "r.gpkg")
    back = registry.read(path)  # not converted a second time
    np.testing.assert_array_equal(back["lon"].to_numpy(), reg["lon"].to_numpy())
    clash = [i for i in registry.validate(path, crs="gcj02") if i.severity == "error"]
    assert [(i.row, i.severity) for i in clash] == [(1, "error"), (3, "error"), (4, "error")]
    assert all("provenance" in i.reason for i in clash)


# --- POI exports -------------------------------------------------------------------------------


def test_amap_poi_export() -> None:
    reg = registry.read(DATA / "poi_amap.csv")
    assert reg["kind"].tolist() == [
        "hospital",
        "community_health_center",
        "health_center",
        "nursing_home",
        "village_clinic",
        "nursing_home",  # 康乐老年服务站: the name says nothing, the type says 养老院
    ]
    assert reg.index.tolist()[0] == "B0FFG00001"  # Amap's own id
    assert (reg["crs"] == "gcj02").all()
    assert reg.attrs["crs_inferred"].startswith("gcj02")
    warnings = [i for i in reg.attrs["issues"] if i.column == "crs"]
    assert len(warnings) == 1
    assert warnings[0].severity == "warning"
    assert "typecode" in warnings[0].reason
    assert "GCJ-02" in warnings[0].reason
    # the level written in the POI type (医疗保健服务;综合医院;三级甲等医院)
    assert reg["level"].tolist() == ["三级", *[pd.NA] * 5]
    assert all(i.severity == "warning" for i in reg.attrs["issues"])
    raw = raw_csv("poi_amap.csv")
    assert reg["poi_location"].tolist() == raw["location"].tolist()
    assert reg["poi_type"].tolist() == raw["type"].tolist()
    assert reg["typecode"].tolist() == raw["typecode"].tolist()  # leading zeros kept
    assert reg["county_code"].tolist() == ["511302"] * 6  # adcode
    lng, lat = (float(v) for v in raw["location"][0].split(","))
    want = scrs.gcj02_to_wgs84(lng, lat)
    assert (reg["lon"].iat[0], reg["lat"].iat[0]) == (float(want[0]), float(want[1]))


def test_baidu_poi_export() -> None:
    reg = registry.read(DATA / "poi_baidu.csv")
    assert reg["kind"].tolist() == ["hospital", "care_complex", "health_center"]
    assert (reg["crs"] == "bd09").all()
    assert "uid" in reg.attrs["issues"][0].reason
    raw = raw_csv("poi_baidu.csv")
    lng, lat = (float(v) for v in raw["location"][1].split(","))
    want = scrs.bd09_to_wgs84(lng, lat)
    assert (reg["lon"].iat[1], reg["lat"].iat[1]) == (float(want[0]), float(want[1]))


def test_poi_ambiguous_and_unmatched_rows_are_reported() -> None:
    problems = errors("poi_ambiguous.csv")
    assert [(p.row, p.column) for p in problems] == [(2, "type"), (3, "type")]
    assert "matches several kinds: health_center, nursing_home" in problems[0].reason
    assert "set 类型 to decide" in problems[0].reason
    assert "matches no kind" in problems[1].reason
    assert "好又多超市" in problems[1].reason


def test_poi_crs_argument_and_source() -> None:
    reg = registry.read(DATA / "poi_amap.csv", crs="wgs84")
    assert (reg["crs"] == "wgs84").all()
    assert not [i for i in reg.attrs["issues"] if i.column == "crs"]
    assert "crs_inferred" not in reg.attrs
    problems = errors("bad_poi_undeclared.csv")
    assert len(problems) == 1
    assert "coordinate system not declared" in problems[0].reason
    for source, name in (("amap", "gcj02"), ("tencent", "gcj02"), ("baidu", "bd09")):
        reg = registry.read(DATA / "bad_poi_undeclared.csv", poi_source=source)
        assert (reg["crs"] == name).all()
        assert reg["kind"].tolist() == ["health_center", "nursing_home"]
    assert "poi_source" in errors("bad_poi_undeclared.csv", poi_source="google")[0].reason


def test_infer_kind() -> None:
    assert registry.infer_kind("龙门镇中心卫生院") == ["health_center"]
    assert registry.infer_kind("某村卫生室") == ["village_clinic"]
    assert registry.infer_kind("南充市社会福利院") == ["nursing_home"]
    assert registry.infer_kind("南充市儿童福利院") == []  # excluded
    assert registry.infer_kind("爱心宠物医院") == []
    assert registry.infer_kind("某镇卫生院敬老院") == ["health_center", "nursing_home"]
    # the type decides when the name says nothing, and between the name's candidates
    assert registry.infer_kind("康乐老年服务站", "生活服务;养老院;养老院") == ["nursing_home"]
    assert registry.infer_kind("某镇卫生院敬老院", "生活服务;养老院") == ["nursing_home"]
    assert registry.infer_kind("某镇卫生院", "医疗保健服务;综合医院;综合医院") == ["health_center"]
    assert registry.infer_kind("超市", "购物服务;超级市场;超市") == []
    # specificity: a keyword inside a longer keyword of another kind loses
    extra = {"hospital": ["服务中心"]}
    assert registry.infer_kind("新建街道社区卫生服务中心", keywords=extra) == [
        "community_health_center"
    ]
    assert registry.infer_kind("新建街道便民服务中心", keywords=extra) == ["hospital"]
    with pytest.raises(ValueError, match="unknown kind"):
        registry.infer_kind("x", keywords={"clinic": ["诊所"]})


def test_kind_keywords_argument() -> None:
    # an extra keyword settles the row that matched nothing; the ambiguous one stays reported
    problems = errors("poi_ambiguous.csv", kind_keywords={"hospital": ["超市"]})
    assert [p.row for p in problems] == [2]
    assert (
        "kind_keywords" in errors("poi_ambiguous.csv", kind_keywords={"shop": ["超市"]})[0].reason
    )


# --- validation, one bad file per rule ---------------------------------------------------------


def test_missing_columns() -> None:
    problems = errors("bad_missing_columns.csv")
    # no kind column: the kinds come from the names (中城街道敬老院), not an error
    assert [p.column for p in problems] == ["lon", "lat"]
    for p in problems:
        assert p.row is None
        assert p.file.endswith("bad_missing_columns.csv")
        assert "'名称', '地址', '电话'" in p.reason
        assert "is missing" in p.reason


def test_unknown_kind() -> None:
    problems = errors("bad_unknown_kind.csv")
    assert [(p.row, p.column) for p in problems] == [(3, "kind")]
    assert "'养鸡场'" in problems[0].reason
    assert "nursing_home (敬老院" in problems[0].reason
    assert "village_clinic (村卫生室" in problems[0].reason


def test_duplicate_id() -> None:
    problems = errors("bad_duplicate_id.csv")
    assert [(p.row, p.column) for p in problems] == [(4, "id")]
    assert "'NH-1'" in problems[0].reason
    assert "row 2" in problems[0].reason


def test_unparsable_coordinates() -> None:
    problems = errors("bad_coords.csv")
    assert [(p.row, p.column) for p in problems] == [(2, "lon"), (3, "lat"), (4, "lon")]
    assert "'106,08' is not a number" in problems[0].reason
    assert "'abc' is not a number" in problems[1].reason
    assert "empty" in problems[2].reason


def test_swapped_coordinates_are_reported_not_fixed() -> None:
    problems = errors("bad_swapped.csv")
    assert [p.row for p in problems] == [3, 4]
    assert all("lon/lat look swapped" in p.reason for p in problems)
    with pytest.raises(ValidationError, match="look swapped"):
        registry.read(DATA / "bad_swapped.csv")


def _km_outside(lon: float, lat: float) -> float:
    utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
    area = shapely.transform(SHUNQING, lambda xy: np.column_stack(utm.transform(*xy.T)))
    return float(shapely.distance(shapely.Point(utm.transform(lon, lat)), area)) / 1000


def test_outside_region() -> None:
    assert settings.outside_region_margin_m == 5000
    problems = errors("bad_outside.csv", boundary=SHUNQING)
    assert [p.row for p in problems] == [3]  # Chengdu; the point 2 km out is within the margin
    assert f"{_km_outside(104.06, 30.67):.1f} km outside" in problems[0].reason
    frame = gpd.GeoDataFrame(geometry=[SHUNQING], crs="EPSG:4326")
    tight = errors("bad_outside.csv", boundary=frame, margin_m=1000)
    assert [p.row for p in tight] == [3, 4]
    km = _km_outside(106.2207, 30.85)
    assert 1.9 < km < 2.1  # measured in metres, not degrees
    assert f"{km:.1f} km outside" in tight[1].reason
    assert errors("bad_outside.csv", boundary=frame, margin_m=200_000) == []


def test_beds_and_capacity() -> None:
    problems = errors("bad_beds.csv")
    assert [(p.row, p.column) for p in problems] == [
        (2, "beds"),
        (3, "beds"),
        (4, "beds"),
        (4, "capacity"),
    ]
    assert "negative" in problems[0].reason
    assert "whole number" in problems[1].reason
    assert "not a number" in problems[2].reason
    assert "negative" in problems[3].reason


def test_undeclared_crs() -> None:
    problems = errors("bad_undeclared.csv")
    assert len(problems) == 1
    assert problems[0].row is None
    assert problems[0].reason.startswith(
        "coordinate system not declared; in China web maps use GCJ-02 (offset ~500 m here) — "
        "declare wgs84, gcj02 or bd09 (--crs / 坐标系 column)"
    )
    assert registry.read(DATA / "bad_undeclared.csv", crs="gcj02")["crs"].tolist() == [
        "gcj02",
        "gcj02",
    ]


def test_undeclared_crs_with_gcj_evidence(seats: pd.DataFrame) -> None:
    plain = errors("gcj_undeclared.csv")
    assert "fit GCJ-02" not in plain[0].reason
    problems = errors("gcj_undeclared.csv", reference_points=seats)
    assert len(problems) == 1
    assert "coordinate system not declared" in problems[0].reason
    assert "the coordinates fit GCJ-02 offsets" in problems[0].reason
    # the same points declared as WGS84: read, with a warning
    reg = registry.read(DATA / "gcj_undeclared.csv", crs="wgs84", reference_points=seats)
    assert any("fit GCJ-02" in i.reason for i in reg.attrs["issues"])
    # converted from GCJ-02 they fit WGS84: no warning
    reg = registry.read(DATA / "gcj_undeclared.csv", crs="gcj02", reference_points=seats)
    assert not [i for i in reg.attrs["issues"] if "fit" in i.reason]


def test_gcj_evidence_in_geojson_is_a_warning(seats: pd.DataFrame) -> None:
    def crs_warnings(reg: gpd.GeoDataFrame) -> list[Issue]:
        return [i for i in reg.attrs["issues"] if i.column != "county_code"]

    reg = registry.read(DATA / "gcj_points.geojson", reference_points=seats)
    (warning,) = crs_warnings(reg)
    assert warning.severity == "warning"
    assert "the coordinates fit GCJ-02 offsets" in warning.reason
    assert crs_warnings(registry.read(DATA / "gcj_points.geojson")) == []
    converted = registry.read(DATA / "gcj_points.geojson", crs="gcj02", reference_points=seats)
    assert crs_warnings(converted) == []
    assert (converted["crs"] == "gcj02").all()
    lon, lat = scrs.gcj02_to_wgs84(reg["lon"].to_numpy(), reg["lat"].to_numpy())
    np.testing.assert_array_equal(converted["lon"].to_numpy(), lon)
    np.testing.assert_array_equal(converted["lat"].to_numpy(), lat)


def test_bad_crs_value() -> None:
    problems = errors("bad_crs_value.csv")
    assert [(p.row, p.column) for p in problems] == [(2, "坐标系")]
    assert "'utm50'" in problems[0].reason
    assert "wgs84, gcj02 or bd09" in problems[0].reason
    assert "argument crs" in errors("bad_crs_value.csv", crs="utm")[0].reason


def test_unknown_ownership_and_level() -> None:
    # optional columns: an unknown value is a warning and the cell stays empty
    assert errors("bad_ownership_level.csv") == []
    problems = [i for i in registry.validate(DATA / "bad_ownership_level.csv") if i.row]
    assert [(p.row, p.column) for p in problems] == [(2, "ownership"), (3, "level")]
    assert {p.severity for p in problems} == {"warning"}
    reg = registry.read(DATA / "bad_ownership_level.csv")
    assert reg["ownership"].tolist() == [pd.NA, "public"]
    assert reg["level"].isna().all()
    assert "'半公办'" in problems[0].reason
    assert "public" in problems[0].reason
    assert "private" in problems[0].reason
    assert "'四级'" in problems[1].reason
    assert "三级" in problems[1].reason
    assert "未定级" in problems[1].reason


def test_empty_name() -> None:
    problems = errors("bad_empty_name.csv")
    assert [(p.row, p.column, p.reason) for p in problems] == [(3, "name", "name is empty")]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        registry.read(DATA / "bad_many.csv")
    problems = [i for i in caught.value.issues if i.severity == "error"]
    # row 4 is blank: rows keep their spreadsheet numbers
    assert [(p.row, p.column) for p in problems] == [
        (2, "类型"),
        (3, "纬度"),
        (6, "编号"),
        (6, "床位数"),
        (7, "名称"),
    ]
    assert "also on row 5" in problems[2].reason
    message = str(caught.value)
    assert "5 problem(s)" in message
    for p in problems:
        assert str(p) in message


def test_validate_does_not_raise_and_returns_warnings() -> None:
    issues = registry.validate(DATA / "poi_amap.csv")
    assert issues and {i.severity for i in issues} == {"warning"}
    assert [i.column for i in registry.validate(DATA / "good_utf8.csv")] == ["county_code"]
    assert len(registry.validate(DATA / "bad_many.csv")) == 5


def test_unreadable_inputs(tmp_path: Path) -> None:
    missing = registry.validate(tmp_path / "none.csv")
    assert missing[0].reason == "file not found"
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf")
    assert ".xlsx" in registry.validate(old)[0].reason
    with pytest.raises(ValidationError):
        registry.read(old)


# --- storage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("good_utf8.csv", {}),
        ("good.xlsx", {"crs": "wgs84"}),
        ("poi_amap.csv", {}),
        ("good.geojson", {}),
    ],
)
def test_write_read_round_trip(tmp_path: Path, name: str, kwargs: dict[str, str]) -> None:
    reg = registry.read(DATA / name, **kwargs)  # type: ignore[arg-type]
    path = registry.write(reg, tmp_path / "out" / "registry.gpkg")
    back = registry.read(path)
    assert_geodataframe_equal(back, reg)
    assert list(back.attrs["issues"]) == []
    assert pyogrio.list_layers(path)[0][0] == "facilities"


def test_write_is_byte_identical_and_atomic(tmp_path: Path) -> None:
    reg = registry.read(DATA / "good_utf8.csv")
    first = registry.write(reg, tmp_path / "a.gpkg").read_bytes()
    time.sleep(1.1)  # GDAL's timestamp would differ now
    second = registry.write(reg, tmp_path / "b.gpkg").read_bytes()
    assert first == second
    with sqlite3.connect(tmp_path / "a.gpkg") as con:
        stamps = {row[0] for row in con.execute("SELECT last_change FROM gpkg_contents")}
    con.close()
    assert stamps == {"2000-01-01T00:00:00.000Z"}
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # restored
    # overwrite in place; nothing else left in the folder
    registry.write(reg.iloc[:2], tmp_path / "a.gpkg")
    assert len(registry.read(tmp_path / "a.gpkg")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gpkg", "b.gpkg"]


def test_write_refuses_a_bad_registry(tmp_path: Path) -> None:
    reg = registry.read(DATA / "good_utf8.csv")
    bad = reg.copy()
    bad.index = pd.Index(["x"] * len(bad), dtype="string", name="id")
    with pytest.raises(ValidationError, match="duplicate id"):
        registry.write(bad, tmp_path / "bad.gpkg")
    assert not any(tmp_path.iterdir())


def test_extra_layers(tmp_path: Path) -> None:
    reg = registry.read(DATA / "good.geojson")
    towns = gpd.GeoDataFrame(
        {"code": ["511302001"]}, geometry=[shapely.Point(106.07, 30.8)], crs="EPSG:4326"
    )
    path = registry.write(reg, tmp_path / "r.gpkg", extra_layers={"townships": towns})
    assert [row[0] for row in pyogrio.list_layers(path)] == ["facilities", "townships"]
    assert_geodataframe_equal(registry.read(path), reg)  # the facilities layer by default


# --- ids, frames and append --------------------------------------------------------------------


def test_make_ids_continues_numbering() -> None:
    frame = pd.DataFrame(
        {
            "id": ["NH-511302-00007", None, None, "own-id", None],
            "kind": ["nursing_home", "nursing_home", "hospital", "village_clinic", "nursing_home"],
            "county_code": ["511302", "511302", None, None, "511303"],
        }
    )
    ids = registry.make_ids(frame, existing=["HOS-000000-00002"])
    assert ids.tolist() == [
        "NH-511302-00007",
        "NH-511302-00008",
        "HOS-000000-00003",
        "own-id",
        "NH-511303-00001",
    ]
    assert registry.make_ids(frame).tolist() == registry.make_ids(frame).tolist()
    assert registry.make_ids(frame, id_prefix="NEW").tolist()[1:3] == ["NEW-00001", "NEW-00002"]


def test_from_frame() -> None:
    frame = pd.DataFrame(
        {
            "name": ["甲敬老院", "乙卫生院"],
            "kind": ["敬老院", "health_center"],
            "lon": [106.1, 106.2],
            "lat": [30.8, 30.9],
            "crs": "wgs84",
            "county_code": ["511302", "511303"],
            "beds": [10, None],
            "capacity": None,
            "source": "modelled",
            "location": ["modelled", "imputed"],
            "自定义": ["a", "b"],
        }
    )
    reg = registry.from_frame(frame)
    assert reg.index.tolist() == ["NH-511302-00001", "HC-511303-00001"]
    assert reg["kind"].tolist() == ["nursing_home", "health_center"]
    assert list(reg.columns) == [*registry.COLUMNS, "自定义", "geometry"]
    assert {c: str(reg[c].dtype) for c in registry.COLUMNS} == registry.DTYPES
    with pytest.raises(ValidationError, match="unknown kind"):
        registry.from_frame(frame.assign(kind=["敬老院", "养鸡场"]))


def test_from_frame_checks_geometry_against_lon_lat() -> None:
    import geopandas as gpd
    import shapely

    base = pd.DataFrame(
        {"name": ["甲敬老院", "乙卫生院", "丙卫生院"], "kind": "敬老院", "lon": [106.1, 106.2, 0.0]}
    ).assign(lat=[30.8, 30.9, 0.0], crs="wgs84", county_code="511302")
    good = [shapely.Point(106.1, 30.8), shapely.Point(106.2, 30.9), None]
    reg = registry.from_frame(gpd.GeoDataFrame(base, geometry=good, crs="EPSG:4326"))
    assert reg["lon"].tolist() == [106.1, 106.2, 0.0]
    moved = [shapely.Point(106.1, 30.8), shapely.Point(106.3, 30.9), None]
    with pytest.raises(ValidationError, match=r"row 2.*disagrees with lon/lat \(106.2, 30.9\)"):
        registry.from_frame(gpd.GeoDataFrame(base, geometry=moved, crs="EPSG:4326"))
    area = [shapely.Point(106.1, 30.8), shapely.box(106, 30, 107, 31), None]
    with pytest.raises(ValidationError, match=r"row 2.*Polygon, not a point"):
        registry.from_frame(gpd.GeoDataFrame(base, geometry=area, crs="EPSG:4326"))
    # geometry only: points read from it, a polygon is a missing point
    only = gpd.GeoDataFrame(base.drop(columns=["lon", "lat"]), geometry=good, crs="EPSG:4326")
    with pytest.raises(ValidationError, match=r"row 3.*lon/lat missing"):
        registry.from_frame(only)
    two = registry.from_frame(only.iloc[:2])
    assert two["lat"].tolist() == [30.8, 30.9]


def test_append_keeps_existing_rows_and_numbers_new_ones() -> None:
    reg = registry.read(DATA / "good_utf8.csv")
    new = registry.read(DATA / "good_gbk.csv", crs="gcj02")
    assert new.index.tolist()[2] == "VC-511302-00001"  # provisional, made by read
    out = registry.append(reg, new)
    assert out.index.tolist()[: len(reg)] == reg.index.tolist()
    assert_geodataframe_equal(out.iloc[: len(reg)][reg.columns], reg)
    assert out.index.tolist()[len(reg) :] == [
        "NH-511302-00001",
        "HC-511302-00001",
        "VC-511302-00002",  # the registry already has VC-511302-00001
    ]
    assert out.index.is_unique
    assert out["name"].tolist()[len(reg) :] == new["name"].tolist()
    assert out["序号"].tolist() == reg["序号"].tolist() + new["序号"].tolist()
    assert out["联系电话"].isna().tolist()[len(reg) :] == [True] * 3
    assert_geodataframe_equal(registry.append(reg, new), out)  # deterministic
    prefixed = registry.append(reg, new, id_prefix="SQ-2024")
    assert prefixed.index.tolist()[len(reg) :] == [
        "SQ-2024-00001",
        "SQ-2024-00002",
        "SQ-2024-00003",
    ]


def test_append_refuses_id_collisions() -> None:
    reg = registry.read(DATA / "good_utf8.csv")
    new = pd.DataFrame(
        {
            "id": ["SQ-001"],
            "name": ["新敬老院"],
            "kind": ["nursing_home"],
            "lon": [106.1],
            "lat": [30.8],
        }
    )
    with pytest.raises(ValidationError) as caught:
        registry.append(reg, new)
    (issue,) = caught.value.issues
    assert "'SQ-001'" in issue.reason
    assert "新敬老院" in issue.reason
    assert "中城街道敬老院" in issue.reason
    assert re.search(r"registry row 1\b", issue.reason)
