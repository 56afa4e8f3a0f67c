"""Modelled registries: exact counts from the seed documents, reproducible, labelled."""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

import siting
from siting import modelled, regions
from siting._reference import reference


@pytest.fixture(scope="module")
def nanchong() -> gpd.GeoDataFrame:
    return modelled.registry_for("nanchong")


@pytest.fixture(scope="module")
def xuanhan(xuanhan_registry: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Xuanhan's modelled registry (the shared fixture of tests/conftest.py)."""
    return xuanhan_registry


def _counts(reg: gpd.GeoDataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in reg["kind"].value_counts().items()}


def test_nanchong_counts_match_seed_facts(nanchong: gpd.GeoDataFrame) -> None:
    facts = reference().seed_facts["nanchong"]["baseline_2019"]
    region = regions.load("nanchong")
    towns = region.townships["town_type"]
    counts = _counts(nanchong)
    care = nanchong[nanchong["kind"].isin(["nursing_home", "integrated_care"])]
    assert len(care) == facts["elderly_care_institutions"] == 468
    assert int(care["beds"].sum()) == facts["elderly_care_beds"] == 45_934
    assert counts["day_care"] == facts["day_care_centres"] == 447
    assert counts["happiness_home"] == facts["rural_happiness_homes"] == 811
    hospitals = nanchong[nanchong["kind"] == "hospital"]
    assert len(hospitals) == facts["hospitals"] == 165
    assert int((hospitals["level"] == "三级").sum()) == facts["hospitals_tertiary"] == 11
    assert int((hospitals["ownership"] == "public").sum()) == facts["hospitals_public"] == 38
    assert int((hospitals["ownership"] == "private").sum()) == facts["hospitals_private"] == 127
    assert int(hospitals["beds"].sum()) == facts["hospital_beds"]
    assert counts["health_center"] == int(towns.isin(["镇", "乡"]).sum()) == 200
    assert counts["community_health_center"] == int((towns == "街道").sum()) == 42
    assert counts["village_clinic"] == int((region.villages["village_type"] == "村委会").sum())
    assert counts["village_clinic"] == 2108
    # one health centre per 镇/乡, in that township
    hc = nanchong[nanchong["kind"] == "health_center"]
    assert hc["township_code"].is_unique
    assert set(hc["township_code"]) == set(towns.index[towns.isin(["镇", "乡"])])
    vc = nanchong[nanchong["kind"] == "village_clinic"]
    assert vc["village_code"].is_unique
    # happiness homes are rural: in 村委会 only
    hh = nanchong[nanchong["kind"] == "happiness_home"]
    vtype = region.villages["village_type"]
    assert (vtype.loc[hh["village_code"]] == "村委会").all()


def test_xuanhan_programme_counts(xuanhan: gpd.GeoDataFrame) -> None:
    nh = xuanhan[xuanhan["kind"] == "nursing_home"]
    assert int((nh["ownership"] == "public").sum()) == 23
    assert int((nh["ownership"] == "private").sum()) == 12
    counts = _counts(xuanhan)
    assert counts["day_care"] == 83
    assert counts["happiness_home"] + counts["care_complex"] == 10
    assert counts["care_complex"] == 3
    region = regions.load("xuanhan")
    towns = region.townships["town_type"]
    assert counts["health_center"] == int(towns.isin(["镇", "乡"]).sum()) == 35
    assert counts["community_health_center"] == 2
    assert counts["village_clinic"] == int((region.villages["village_type"] == "村委会").sum())
    centres = xuanhan[xuanhan["kind"] == "integrated_care"]
    names = dict(zip(centres["name"], centres["township_code"], strict=True))
    town_names = region.townships["name"]
    assert town_names.loc[names["宣汉县君塘医教康养中心"]] == "君塘镇"
    assert town_names.loc[names["宣汉县土黄医教康养中心"]] == "土黄镇"


@pytest.mark.parametrize(
    ("name", "township"),
    [
        ("宣汉县大成中心敬老院", "大成镇"),
        ("宣汉县君塘医教康养中心", "君塘镇"),
        ("宣汉县蒲江街道城西社区养老服务综合体", "蒲江街道"),
    ],
)
def test_named_sites_in_their_real_township(
    xuanhan: gpd.GeoDataFrame, name: str, township: str
) -> None:
    row = xuanhan[xuanhan["name"] == name]
    assert len(row) == 1
    region = regions.load("xuanhan")
    assert region.townships.at[row["township_code"].iloc[0], "name"] == township
    assert row["location"].iloc[0] == "approximate"
    area = region.township_areas.geometry.loc[row["township_code"].iloc[0]]
    assert area.buffer(1e-6).contains(row.geometry.iloc[0])


def test_six_demonstration_sites_and_named_nanchong(
    xuanhan: gpd.GeoDataFrame, nanchong: gpd.GeoDataFrame
) -> None:
    sites = reference().seed_facts["xuanhan"]["demonstration_sites"]
    for site in sites:
        name = site.split(" (")[0]
        assert (xuanhan["name"] == name).sum() == 1, name
    for name in ("川北医学院附属医院", "南充市中心医院", "南充市中医医院", "西充县川东北康养中心"):
        row = nanchong[nanchong["name"] == name]
        assert len(row) == 1 and row["location"].iloc[0] == "approximate"
    assert (nanchong.loc[nanchong["location"] != "approximate", "location"] == "modelled").all()


def test_every_row_modelled_and_inside_its_county(
    nanchong: gpd.GeoDataFrame, xuanhan: gpd.GeoDataFrame
) -> None:
    for reg, name in ((nanchong, "nanchong"), (xuanhan, "xuanhan")):
        assert (reg["source"] == "modelled").all()
        assert reg.index.is_unique
        counties = regions.load(name).counties.geometry
        inside = [
            counties.loc[c].contains(g)
            for c, g in zip(reg["county_code"], reg.geometry, strict=True)
        ]
        assert all(inside), name
        assert reg.crs.to_epsg() == 4326


def test_county_registry_is_city_registry_filtered(nanchong: gpd.GeoDataFrame) -> None:
    county = modelled.registry_for("顺庆区")
    sub = nanchong[nanchong["county_code"] == "511302"]
    assert list(county["name"]) == list(sub["name"])
    assert county.geometry.equals(sub.geometry)


def test_same_seed_byte_identical_gpkg(tmp_path: Path) -> None:
    a = modelled.build("xuanhan", out=tmp_path / "a" / "xuanhan.gpkg", seed=5)
    b = modelled.build("xuanhan", out=tmp_path / "b" / "xuanhan.gpkg", seed=5)
    c = modelled.build("xuanhan", out=tmp_path / "c" / "xuanhan.gpkg", seed=6)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1]
    assert digest[0] != digest[2]
    layers = {name for name, _ in pyogrio.list_layers(a)}
    assert layers == {"facilities", "counties", "townships", "township_areas", "villages"}
    back = siting.read_registry(a)
    assert len(back) == len(modelled.registry_for("xuanhan", seed=5))
    assert (back["source"] == "modelled").all()


def test_region_without_spec_is_a_clear_error(tmp_path: Path) -> None:
    region = regions.load("xuanhan")
    fake = regions.Region(
        code="990000",
        name="测试市",
        level="city",
        counties=region.counties,
        townships=region.townships,
        township_areas=region.township_areas,
        villages=region.villages,
        outline=region.outline,
        seed=1,
        reference_dir=region.reference_dir,
    )
    with pytest.raises(siting.DataError, match="no modelled-registry spec covers 测试市"):
        modelled.registry_for(fake)


#: Unit words a modelled name must never repeat (``"江家坝村村卫生室"``).
_DOUBLED = ("村村", "社区社区", "镇镇", "乡乡", "街道街道")
#: Kinds placed once per village unit: their names repeat across townships (villages of the
#: same name), never within one.
_PER_VILLAGE = {"village_clinic", "community_health_station", "day_care", "happiness_home",
                "care_complex"}  # fmt: skip


@pytest.mark.parametrize("which", ["nanchong", "xuanhan"])
def test_modelled_names_are_clean(
    which: str, nanchong: gpd.GeoDataFrame, xuanhan: gpd.GeoDataFrame
) -> None:
    reg = nanchong if which == "nanchong" else xuanhan
    kinds = set(reg["kind"])
    assert {"village_clinic", "community_health_station", "day_care"} <= kinds
    for kind, group in reg.groupby("kind"):
        names = group["name"].astype(str)
        assert (names.str.len() > 0).all(), kind
        doubled = names[names.str.contains("|".join(_DOUBLED))]
        assert doubled.empty, (kind, doubled.head().tolist())
        if kind in _PER_VILLAGE:
            assert not group.duplicated(["name", "township_code"]).any(), kind
        else:
            assert names.is_unique, (kind, names[names.duplicated()].head().tolist())


def test_short_village_names() -> None:
    short = modelled._short_village
    assert short("江家坝村村民委员会") == short("江家坝村民委员会") == "江家坝村"
    assert short("城西社区村民委员会") == short("城西社区居民委员会") == "城西社区"
    assert short("南门居委会") == "南门社区"
    assert short("任家沟农村社区居民委员会") == "任家沟农村社区"  # a 社区, not a 村


@pytest.mark.parametrize("which", ["nanchong", "xuanhan"])
def test_community_health_stations_in_street_communities(
    which: str, nanchong: gpd.GeoDataFrame, xuanhan: gpd.GeoDataFrame
) -> None:
    """One modelled 社区卫生服务站 per 社区 of a 街道, next to it; none elsewhere."""
    reg = nanchong if which == "nanchong" else xuanhan
    region = regions.load(which)
    vil = region.villages
    town_type = region.townships["town_type"]
    street_communities = vil[
        (vil["village_type"] == "社区") & (town_type.loc[vil["township_code"]] == "街道").to_numpy()
    ]
    chs = reg[reg["kind"] == "community_health_station"]
    assert len(chs) == len(street_communities) > 0
    assert set(chs["village_code"]) == set(street_communities.index)
    assert (chs["source"] == "modelled").all()
    assert chs["name"].str.endswith("社区卫生服务站").all()
    # ids of the other kinds are unchanged by the stations (listed last): sequences from 1
    vc = reg[reg["kind"] == "village_clinic"]
    assert vc.index.str.startswith("VC-").all()
    for county, g in vc.groupby("county_code"):
        assert sorted(g.index) == [f"VC-{county}-{i:05d}" for i in range(1, len(g) + 1)]
