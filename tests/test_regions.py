"""Built-in regions from the reference tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import siting
from siting import regions
from siting._reference import REQUIRED, reference

REF = Path(__file__).resolve().parents[1] / "data" / "geo" / "reference"


@pytest.fixture(scope="module")
def nanchong() -> regions.Region:
    return regions.load("nanchong")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("南充市", "511300"),
        ("南充", "511300"),
        ("nanchong", "511300"),
        ("NanChong", "511300"),
        ("511300", "511300"),
        (511722, "511722"),
        ("宣汉", "511722"),
        ("顺庆区", "511302"),
        ("阆中", "511381"),
        ("langzhong", "511381"),
    ],
)
def test_resolve_names_codes_aliases(query: str | int, code: str) -> None:
    assert regions.resolve(query) == code


def test_unknown_region_lists_close_matches() -> None:
    with pytest.raises(siting.RegionNotFoundError) as info:
        regions.load("南冲市")
    assert "南充市" in str(info.value)
    assert "南充市" in info.value.suggestions
    with pytest.raises(LookupError, match="did you mean"):
        regions.load("xuanhna")


def test_every_unit_loads_or_says_why() -> None:
    table = regions.available()
    loadable = set(table.index[table["loadable"]])
    # today: Nanchong, its 9 units and Xuanhan; 达州市 is only partly present
    assert loadable == {
        "511300", "511302", "511303", "511304", "511321", "511322",
        "511323", "511324", "511325", "511381", "511722",
    }  # fmt: skip
    assert "26%" in table.at["511700", "reason"]
    with pytest.raises(siting.DataError, match="only partly"):
        regions.load("达州市")
    for code in sorted(loadable - {"511300"}):
        region = regions.load(code)
        assert len(region.counties) == 1
        assert region.villages["county_code"].eq(code).all()


def test_nanchong_contents(nanchong: regions.Region) -> None:
    assert nanchong.level == "city" and nanchong.name == "南充市"
    assert len(nanchong.counties) == 9
    assert len(nanchong.townships) == 242
    assert nanchong.townships["town_type"].value_counts().to_dict() == {
        "镇": 162,
        "街道": 42,
        "乡": 38,
    }
    assert len(nanchong.villages) == 3004
    assert nanchong.villages["village_type"].value_counts().to_dict() == {
        "村委会": 2108,
        "社区": 896,
    }
    assert nanchong.counties.crs.to_epsg() == 4326
    assert nanchong.slug == "nanchong"


def test_imputed_seats_rule(nanchong: regions.Region, xuanhan: regions.Region) -> None:
    towns = pd.concat([nanchong.townships, xuanhan.townships])
    imputed = towns[towns["coord_quality"] == "imputed"]
    assert len(imputed) == 20
    assert (imputed["impute_rule"] != "").all()
    assert (towns.loc[towns["coord_quality"] == "reference", "impute_rule"] == "").all()
    ref = reference().townships.set_index("town_code")
    assert set(imputed.index) == set(ref.index[ref["coord_match"] == "none"])
    # reference seats are the table's WGS84 points, untouched
    known = towns[towns["coord_quality"] == "reference"]
    np.testing.assert_allclose(
        known["lon"], ref.loc[known.index, "lon_wgs84"].astype(float), atol=1e-6
    )
    # imputed seats lie inside their county, and 街道 within 3.5 km of their anchor
    counties = pd.concat([nanchong.counties, xuanhan.counties])
    for code, row in imputed.iterrows():
        assert counties.geometry.loc[row["county_code"]].contains(row.geometry), code
    m = towns.to_crs(siting.settings.metric_crs)
    streets = m[(m["county_code"] == "511302") & (m["town_type"] == "街道")]
    anchor = streets[streets["coord_quality"] == "reference"].geometry.union_all().centroid
    for code in ("511302003", "511302011"):
        assert 900 <= m.geometry.loc[code].distance(anchor) <= 3100
    # no imputed seat coincides with another seat
    d = m.geometry.apply(lambda g: m.geometry.distance(g).nsmallest(2).iloc[-1])
    assert d.loc[imputed.index].min() > 200


def test_villages_inside_their_township_area(nanchong: regions.Region) -> None:
    v = nanchong.villages
    assert (v["coord_quality"] == "modelled").all()
    areas = nanchong.township_areas.geometry
    inside = [
        areas.loc[t].buffer(1e-7).contains(g)
        for t, g in zip(v["township_code"], v.geometry, strict=True)
    ]
    assert all(inside)
    assert v.within(nanchong.outline.buffer(1e-7)).all()
    # township areas tile each county: their areas sum to the county's area (within 0.1%)
    m_areas = nanchong.township_areas.to_crs(siting.settings.metric_crs)
    m_counties = nanchong.counties.to_crs(siting.settings.metric_crs)
    by_county = m_areas.geometry.area.groupby(m_areas["county_code"]).sum()
    np.testing.assert_allclose(by_county, m_counties.geometry.area.loc[by_county.index], rtol=1e-3)


def test_population_real_and_split_exactly(nanchong: regions.Region) -> None:
    census = reference().census.set_index("区划代码")
    # the real census: 1,160,245 aged 65+ in Nanchong (20.69%)
    assert int(nanchong.counties["pop_65plus"].sum()) == 1_160_245
    assert int(nanchong.counties["pop_total"].sum()) == int(census.at["511300", "人口数_合计"])
    bands = [
        f"{s}_{b}"
        for b in ("60到64岁", "65到69岁", "70到74岁", "75到79岁", "80到84岁", "85岁以上")
        for s in ("男", "女")
    ]
    city60 = sum(round(float(census.at["511300", c])) for c in bands)
    assert int(nanchong.counties["pop_60plus"].sum()) == city60
    v, t = nanchong.villages, nanchong.townships
    for col in ("pop_60plus", "pop_65plus"):
        by_county_v = v.groupby("county_code")[col].sum()
        by_county_t = t.groupby("county_code")[col].sum()
        pd.testing.assert_series_equal(
            by_county_v, nanchong.counties[col], check_names=False, check_dtype=False
        )
        pd.testing.assert_series_equal(by_county_t, by_county_v, check_dtype=False)
    assert (v["pop_65plus"] <= v["pop_60plus"]).all()
    assert (v["population_source"] == "modelled").all()
    assert (nanchong.counties["population_source"] == "census2020").all()
    # the documented rule: within a county, every 村委会 carries the same share (±1 person)
    shunqing = v[(v["county_code"] == "511321") & (v["village_type"] == "村委会")]
    assert shunqing["pop_65plus"].max() - shunqing["pop_65plus"].min() <= 1


def test_apportion_exact() -> None:
    assert regions.apportion(10, np.array([1.0, 1.0, 1.0])).tolist() == [4, 3, 3]
    out = regions.apportion(1_160_245, np.random.default_rng(1).random(3004))
    assert out.sum() == 1_160_245 and (out >= 0).all()
    with pytest.raises(ValueError, match="non-negative"):
        regions.apportion(5, np.array([-1.0, 2.0]))


def test_same_seed_same_points_other_seed_different() -> None:
    a = regions.load("xuanhan", seed=1)
    b = regions.load("xuanhan", seed=1)
    c = regions.load("xuanhan", seed=2)
    assert a.villages.geometry.equals(b.villages.geometry)
    assert not a.villages.geometry.equals(c.villages.geometry)
    # a county has the same villages alone or inside its city
    city = regions.load("nanchong")
    county = regions.load("顺庆区")
    sub = city.villages[city.villages["county_code"] == "511302"]
    assert sub.geometry.equals(county.villages.geometry)


def test_xuanhan(xuanhan: regions.Region) -> None:
    assert len(xuanhan.townships) == 37 and len(xuanhan.villages) == 423
    assert int(xuanhan.counties["pop_65plus"].iloc[0]) == 169_647
    rules = xuanhan.townships.loc[["511722001", "511722002"], "impute_rule"]
    assert rules.str.contains("county town").all()


def _copy_reference(tmp_path: Path) -> Path:
    folder = tmp_path / "ref"
    shutil.copytree(REF, folder)
    return folder


def test_reference_dir_by_argument_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_reference(tmp_path)
    region = regions.load("xuanhan", reference_dir=folder)
    assert region.reference_dir == folder.resolve()
    monkeypatch.setenv("SITING_REFERENCE_DIR", str(folder))
    assert siting.reference_dir() == folder.resolve()
    monkeypatch.setenv("SITING_REFERENCE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(siting.DataError, match=r"nowhere.*does not exist"):
        regions.load("xuanhan")


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_incomplete_reference_names_the_file(tmp_path: Path, name: str) -> None:
    folder = _copy_reference(tmp_path)
    (folder / name).unlink()
    with pytest.raises(siting.DataError) as info:
        regions.load("xuanhan", reference_dir=folder)
    assert str(folder / name) in str(info.value)


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    folder = _copy_reference(tmp_path)
    path = folder / "townships_2023.csv"
    text = path.read_text(encoding="utf-8").replace("n_village_level_units", "n_units", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(siting.DataError, match=r"townships_2023\.csv.*n_village_level_units"):
        regions.load("xuanhan", reference_dir=folder)


def test_seed_facts_read_despite_malformed_section() -> None:
    ref = reference()
    assert ref.seed_facts["nanchong"]["baseline_2019"]["elderly_care_institutions"] == 468
    assert ref.seed_facts["nanchong"]["layout"]["wings"]["items"][0]["name"] == "东翼"
    assert ref.seed_facts["nanchong"]["layout"]["belts"][0]["anchor_county"] == "西充县"
    assert any("wings" in p for p in ref.seed_facts_problems)


def test_generated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SITING_DATA_DIR", raising=False)
    assert siting.data_dir() == REF.parent
    monkeypatch.setenv("SITING_DATA_DIR", str(tmp_path / "gen"))
    assert siting.data_dir() == tmp_path / "gen"
    assert (tmp_path / "gen").is_dir()
