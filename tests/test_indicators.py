"""Policy indicators: each measure on hand-made registries with known answers, the not-measurable
path, met/not-met boundaries, scope, JSON output, and the built-in Xuanhan run."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Transformer
from shapely import points

from siting import DataError, indicators, modelled, network, pairing, registry
from siting.regions import Region

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
LON0, LAT0 = 107.73, 31.35  # 宣汉县 county town
TO_M = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
TO_WGS = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
X0, Y0 = TO_M.transform(LON0, LAT0)


def at(dx_m: float, dy_m: float = 0.0) -> tuple[float, float]:
    """WGS84 lon/lat of a point dx, dy metres from the origin (in UTM 48N)."""
    lon, lat = TO_WGS.transform(X0 + dx_m, Y0 + dy_m)
    return float(lon), float(lat)


def reg(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """A registry from rows with id, kind, x (metres east of the origin) and other columns."""
    frame = pd.DataFrame(rows)
    lonlat = [at(float(x), float(y)) for x, y in zip(frame.pop("x"), frame.pop("y"), strict=True)]
    frame["lon"] = [p[0] for p in lonlat]
    frame["lat"] = [p[1] for p in lonlat]
    frame["name"] = frame["id"] + "名"
    frame["county_code"] = "511722"
    return registry.from_frame(frame)


def row(ident: str, kind: str, x: float = 0.0, y: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {"id": ident, "kind": kind, "x": x, "y": y, **extra}


@pytest.fixture(scope="module")
def tiny(xuanhan: Region) -> Region:
    """Xuanhan with three villages: two 村委会 at 0 m and 5 km east, one 社区 at 10 km east."""
    codes = ["511722100001", "511722100002", "511722001001"]
    xy = [at(0.0), at(5000.0), at(10000.0)]
    villages = gpd.GeoDataFrame(
        {
            "name": ["甲村", "乙村", "丙社区"],
            "village_type": ["村委会", "村委会", "社区"],
            "coord_quality": "modelled",
            "pop_60plus": [100, 100, 100],
            "pop_65plus": [80, 80, 80],
            "population_source": "modelled",
        },
        geometry=points([p[0] for p in xy], [p[1] for p in xy]),
        index=pd.Index(codes, name="village_code"),
        crs="EPSG:4326",
    )
    return dataclasses.replace(xuanhan, villages=villages)


@pytest.fixture(scope="module")
def tiny_nc(tiny: Region) -> Region:
    """The tiny region under Nanchong's code: the Nanchong plan's figures are its own."""
    return dataclasses.replace(tiny, code="511300", name="南充市")


def one(table: pd.DataFrame, ident: str) -> pd.Series:
    out = table.set_index("indicator_id").loc[ident]
    assert isinstance(out, pd.Series)
    return out


def pairings(
    rows: list[tuple[str, str, str, bool, float]], threshold: float = 30.0
) -> pd.DataFrame:
    """A pairings frame: (rule, facility_id, facility_kind, assigned, travel_time_min); the
    partner is ``P<minutes>``, ranks by travel time per facility and rule."""
    frame = pd.DataFrame(
        {
            "rule": [r[0] for r in rows],
            "facility_id": [r[1] for r in rows],
            "facility_kind": [r[2] for r in rows],
            "partner_id": [f"P{r[4]:g}" for r in rows],
            "partner_name": [f"卫生院{r[4]:g}" for r in rows],
            "assigned": [r[3] for r in rows],
            "travel_time_min": [r[4] for r in rows],
            "within_threshold": [r[4] <= threshold for r in rows],
            "threshold_min": threshold,
            "method": "network",
        }
    )
    frame["rank"] = (
        frame.groupby(["rule", "facility_id"])["travel_time_min"].rank(method="first").astype(int)
    )
    return frame


# --- definitions ---------------------------------------------------------------------------------


def test_definitions_are_complete_and_unique() -> None:
    defs = indicators.load_definitions()
    ids = [d.id for d in defs]
    assert len(ids) == len(set(ids)) >= 15
    assert all(d.measure in indicators.MEASURES for d in defs)
    assert {s.document[:3] for d in defs for s in d.sources} == {"000", "001", "002", "004"}
    villages = next(d for d in defs if d.id == "villages_with_elder_service")
    assert villages.target == pytest.approx(2 / 3) and villages.target_text == "2/3"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed documents not beside the repository")
def test_quotes_are_verbatim_in_the_seed_documents() -> None:
    def squash(text: str) -> str:
        return re.sub(r"\s+", "", text)

    texts = {p.name: squash(p.read_text("utf-8")) for p in SEEDS.glob("*.txt")}
    for d in indicators.load_definitions():
        for s in d.sources:
            assert squash(s.quote) in texts[s.document], (d.id, s.document)


def test_malformed_definitions_are_refused() -> None:
    base = {
        "id": "x",
        "zh": "x",
        "en": "x",
        "measure": "flag_share",
        "sources": [{"document": "d", "quote": "q"}],
    }
    with pytest.raises(DataError, match="unknown measure"):
        indicators.load_definitions({"indicators": [{**base, "measure": "nope"}]})
    with pytest.raises(DataError, match="target"):
        indicators.load_definitions({"indicators": [{**base, "target": "two thirds"}]})
    with pytest.raises(DataError, match="comparison"):
        indicators.load_definitions({"indicators": [{**base, "comparison": ">"}]})
    with pytest.raises(DataError, match="twice"):
        indicators.load_definitions({"indicators": [base, base]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("是", True),
        ("否", False),
        ("有", True),
        ("无", False),
        ("Yes", True),
        ("no", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0.0, False),
        (True, True),
        ("", None),
        (None, None),
        (float("nan"), None),
        (pd.NA, None),
        ("不清楚", None),
    ],
)
def test_truthy(value: Any, expected: bool | None) -> None:
    assert indicators.truthy(value) is expected


def test_find_column_matches_aliases_and_units() -> None:
    frame = pd.DataFrame(columns=["name", "护理型床位（张）", "Internal Medical"])
    assert indicators.find_column(frame, ["nursing_beds", "护理型床位"]) == "护理型床位（张）"
    assert indicators.find_column(frame, ["internal_medical"]) == "Internal Medical"
    assert indicators.find_column(frame, ["hospice"]) is None


# --- flag shares: 100+ bed homes with internal medical care ---------------------------------------


def test_internal_medical_not_measurable_without_the_column(tiny_nc: Region) -> None:
    f = reg(
        [
            row("NH1", "nursing_home", beds=120),
            row("NH2", "nursing_home", beds=100),
            row("NH3", "nursing_home", beds=99),
        ]
    )
    t = indicators.measure(tiny_nc, f, indicators=["nursing_homes_100plus_internal_medical"])
    r = one(t, "nursing_homes_100plus_internal_medical")
    assert r["status"] == "not measurable"
    assert r["needs_column"] == "has_clinic"
    assert (r["role"], r["year"]) == ("target", 2025)
    assert pd.isna(r["value"]) and pd.isna(r["met"]) and pd.isna(r["numerator"])
    assert r["denominator"] == 2  # the two homes of 100+ beds to survey
    assert r["data_basis"].startswith("registry (source: user)")
    assert not r["modelled"]


def test_internal_medical_measured_from_a_chinese_column(tiny_nc: Region) -> None:
    f = reg(
        [
            row("NH1", "nursing_home", beds=120, 内设医疗机构="是"),
            row("NH2", "nursing_home", beds=100, 内设医疗机构="否"),
            row("NH3", "nursing_home", beds=150, 内设医疗机构=""),
            row("NH4", "nursing_home", beds=99, 内设医疗机构="否"),
            row("IC1", "integrated_care", beds=300, 内设医疗机构="否"),
        ]
    )
    kw: dict[str, Any] = {"indicators": ["nursing_homes_100plus_internal_medical"]}
    r = one(indicators.measure(tiny_nc, f, **kw), "nursing_homes_100plus_internal_medical")
    assert r["status"] == "not met" and pd.notna(r["met"]) and not r["met"]
    assert (r["value"], r["numerator"], r["denominator"]) == (0.5, 1, 2)
    assert "1 with an empty or unclear" in r["note"]
    assert r["ids"] == ["NH1"]
    f.loc["NH2", "内设医疗机构"] = "有"
    r = one(indicators.measure(tiny_nc, f, **kw), "nursing_homes_100plus_internal_medical")
    assert r["status"] == "met" and pd.notna(r["met"]) and r["met"] and r["value"] == 1.0


def test_flag_share_true_kinds_and_levels(tiny_nc: Region) -> None:
    f = reg(
        [
            row("NH1", "nursing_home", medical_service="否"),
            row("IC1", "integrated_care", medical_service=""),
            row("H1", "hospital", level="二级", geriatric_dept="yes"),
            row("H2", "hospital", level="一级", geriatric_dept="no"),
            row("H3", "hospital", level="三级", geriatric_dept="no"),
        ]
    )
    t = indicators.measure(
        tiny_nc,
        f,
        indicators=["institutions_providing_medical_service", "hospitals_geriatric_department"],
    )
    ms = one(t, "institutions_providing_medical_service")
    # 冯卯镇's target is nobody's here: a comparison, never met or not met
    assert (ms["value"], ms["denominator"], ms["status"]) == (0.5, 2, "benchmark")
    assert (ms["role"], ms["role_zh"], ms["year"]) == ("benchmark", "对照", 2018)
    assert pd.isna(ms["met"]) and "below 冯卯镇's 2018 target 0.8" in ms["note"]
    geri = one(t, "hospitals_geriatric_department")
    assert (geri["value"], geri["denominator"], geri["status"]) == (0.5, 2, "not met")


# --- nursing-bed share ---------------------------------------------------------------------------


def test_nursing_bed_share_boundary_and_missing_column(tiny_nc: Region) -> None:
    tiny = tiny_nc
    kw: dict[str, Any] = {"indicators": ["nursing_bed_share"]}
    f = reg([row("NH1", "nursing_home", beds=100), row("NH2", "nursing_home", beds=50)])
    r = one(indicators.measure(tiny, f, **kw), "nursing_bed_share")
    assert (r["status"], r["needs_column"], r["denominator"]) == (
        "not measurable",
        "nursing_beds",
        150,
    )
    f["护理型床位"] = [40, 20]
    r = one(indicators.measure(tiny, f, **kw), "nursing_bed_share")
    assert (r["value"], r["numerator"], r["denominator"]) == (0.4, 60, 150)
    assert r["status"] == "met"  # exactly the 40% target
    f["护理型床位"] = [39, 20]
    r = one(indicators.measure(tiny, f, **kw), "nursing_bed_share")
    assert r["status"] == "not met" and r["value"] == pytest.approx(59 / 150, abs=1e-4)


# --- beds per 1,000 elderly ----------------------------------------------------------------------


def test_beds_per_1000_is_a_baseline_on_the_census_elderly(tiny_nc: Region) -> None:
    tiny = tiny_nc
    pop60 = int(tiny.counties["pop_60plus"].sum())
    pop65 = int(tiny.counties["pop_65plus"].sum())
    assert tiny.counties["population_source"].eq("census2020").all()
    kw: dict[str, Any] = {"indicators": ["beds_per_1000_elderly"]}
    need = math.ceil(35.6 * pop60 / 1000)
    for beds, side in ((need, "above"), (need - 1, "below")):
        f = reg([row("NH1", "nursing_home", beds=beds), row("DC1", "day_care", beds=999)])
        r = one(indicators.measure(tiny, f, **kw), "beds_per_1000_elderly")
        # Nanchong's 35.6 is its 2019 baseline: shown beside the value, never met or not met
        assert (r["status"], r["role"], r["role_zh"], r["year"]) == (
            "baseline",
            "baseline",
            "基线",
            2019,
        )
        assert pd.isna(r["met"]) and f"is {side} the 2019 baseline 35.6" in r["note"]
        assert r["elderly"] == "60+ (老年人)"
        assert (r["numerator"], r["denominator"]) == (beds, pop60)
        assert r["value"] == pytest.approx(beds / pop60 * 1000, abs=0.005)
        assert "census2020" in r["data_basis"] and "60+" in r["data_basis"]
    r = one(indicators.measure(tiny, f, age_group="65plus", **kw), "beds_per_1000_elderly")
    assert r["denominator"] == pop65
    f = reg([row("NH1", "nursing_home")])
    r = one(indicators.measure(tiny, f, **kw), "beds_per_1000_elderly")
    assert (r["status"], r["needs_column"]) == ("not measurable", "beds")


# --- villages with an elder-service facility ------------------------------------------------------


def test_villages_by_code_and_by_distance(tiny: Region) -> None:
    f = reg(
        [
            row("HH1", "happiness_home", 10.0, village_code="511722100001"),
            row("NH1", "nursing_home", 5000.0, 800.0),  # no village code, 800 m from 乙村
            row("VC1", "village_clinic", 10000.0),  # not an elder-service facility
        ]
    )
    served = indicators.villages_served(tiny, f, ["happiness_home", "nursing_home"])
    assert served.to_dict() == {"511722100001": True, "511722100002": True}
    served = indicators.villages_served(tiny, f, ["happiness_home", "nursing_home"], radius_m=500)
    assert served.to_dict() == {"511722100001": True, "511722100002": False}
    everything = indicators.villages_served(tiny, f, ["village_clinic"], village_types=None)
    assert everything.to_dict() == {
        "511722100001": False,
        "511722100002": False,
        "511722001001": True,
    }

    t = indicators.measure(tiny, f, indicators=["villages_with_elder_service"])
    r = one(t, "villages_with_elder_service")
    # 冯卯镇's two thirds: a comparison (对照) anywhere, never met or not met
    assert (r["value"], r["numerator"], r["denominator"], r["status"]) == (1.0, 2, 2, "benchmark")
    assert pd.isna(r["met"]) and "above 冯卯镇's 2020 target 2/3" in r["note"]
    assert "Benchmark" in r["note"] and "modelled" in r["data_basis"] and r["modelled"]
    t = indicators.measure(
        tiny, f, indicators=["villages_with_elder_service"], village_radius_m=500
    )
    r = one(t, "villages_with_elder_service")
    assert (r["value"], r["status"], r["ids"]) == (0.5, "benchmark", ["511722100001"])
    assert "below 冯卯镇's 2020 target 2/3" in r["note"]


# --- 两院一体 adjacency ---------------------------------------------------------------------------


def test_adjacent_pairs_and_share(tiny: Region) -> None:
    f = reg(
        [
            row("HC1", "health_center", 0.0),
            row("NH1", "nursing_home", 300.0),
            row("HC2", "health_center", 20000.0),
            row("NH2", "nursing_home", 20700.0),
        ]
    )
    pairs = indicators.adjacent_pairs(f, ["health_center"], ["nursing_home"], max_distance_m=500)
    assert pairs["neighbour_id"].tolist() == ["NH1", "NH2"]
    assert pairs["distance_m"].tolist() == pytest.approx([300.0, 700.0], abs=0.2)
    assert pairs["adjacent"].tolist() == [True, False]
    ids = ["health_centres_adjacent_nursing_home"]
    r = one(indicators.measure(tiny, f, indicators=ids), ids[0])
    assert (r["value"], r["status"], r["ids"]) == (0.5, "no target", ["HC1"])
    assert pd.isna(r["met"]) and pd.isna(r["target"])
    r = one(indicators.measure(tiny, f, indicators=ids, adjacency_m=800), ids[0])
    assert r["value"] == 1.0
    empty = indicators.adjacent_pairs(f, ["hospital"], ["nursing_home"])
    assert empty.empty


# --- pairing indicators --------------------------------------------------------------------------


def test_partner_within_threshold_and_override(tiny: Region) -> None:
    f = reg(
        [
            row("NH1", "nursing_home", ownership="public"),
            row("NH2", "nursing_home", ownership="private"),
            row("IC1", "integrated_care", ownership="public"),
            row("NH3", "nursing_home", ownership="public"),  # never paired (unreachable)
            row("DC1", "day_care"),
        ]
    )
    p = pairings(
        [
            ("health_partner", "NH1", "nursing_home", True, 10.0),
            ("health_partner", "NH1", "nursing_home", False, 12.0),
            ("health_partner", "NH2", "nursing_home", True, 30.0),
            ("health_partner", "IC1", "integrated_care", True, 45.0),
            ("patrol", "DC1", "day_care", True, 5.0),
        ]
    )
    ids = ["institutions_partner_within_threshold", "xuanhan_public_homes_paired"]
    t = indicators.measure(tiny, f, p, indicators=ids)
    r = one(t, ids[0])
    assert (r["value"], r["numerator"], r["denominator"]) == (0.5, 2, 4)
    assert r["status"] == "not met"
    assert (
        "IC1 IC1名: its partner P45 卫生院45 (45.0 min) is over the 30-minute threshold"
        in (r["note"])
    )
    assert "NH3 NH3名: no partner of the rule within reach" in r["note"]
    assert sorted(r["ids"]) == ["NH1", "NH2"]
    c = one(t, ids[1])
    assert (c["value"], c["denominator"], c["target"], c["status"]) == (1, 2, 23, "not met")
    r = one(indicators.measure(tiny, f, p, indicators=ids, threshold_min=10), ids[0])
    assert r["numerator"] == 1
    r = one(
        indicators.measure(tiny, f, p, indicators=ids, threshold_min={"health_partner": 45}), ids[0]
    )
    assert r["numerator"] == 3
    r = one(indicators.measure(tiny, f, indicators=ids), ids[0])
    assert (r["status"], r["needs_column"]) == ("not measurable", "pairings")


def test_programme_count_is_per_rule_nearest_and_says_who_breaks_it(tiny: Region) -> None:
    f = reg(
        [
            row("NH1", "nursing_home", ownership="private"),
            row("NH2", "nursing_home", ownership="private"),
            row("NH3", "nursing_home", ownership="private"),
        ]
    )
    ident = "xuanhan_private_homes_paired"
    p = pairings(
        [
            ("health_partner", "NH1", "nursing_home", True, 8.0),
            ("health_partner", "NH2", "nursing_home", False, 5.0),  # its nearest, full
            ("health_partner", "NH2", "nursing_home", True, 20.0),
            ("health_partner", "NH3", "nursing_home", False, 40.0),
            ("health_partner", "NH3", "nursing_home", True, 41.0),
            # another rule within its threshold must not rescue NH3 ("not any rule")
            ("green_channel", "NH3", "nursing_home", True, 3.0),
        ]
    )
    p["partner_capacity"] = [pd.NA, 1, pd.NA, pd.NA, pd.NA, pd.NA]
    p["partner_load"] = [pd.NA, 1, pd.NA, pd.NA, pd.NA, pd.NA]
    p["capacity_assumed"] = [False, True, False, False, False, False]
    r = one(indicators.measure(tiny, f, p, indicators=[ident]), ident)
    assert (r["value"], r["numerator"], r["denominator"], r["status"]) == (1, 1, 3, "not met")
    assert r["ids"] == ["NH1"]
    assert (
        "NH2 NH2名: paired with P20 卫生院20 (20.0 min) instead of its nearest P5 卫生院5 "
        "(5.0 min); P5 is full: capacity 1 (assumed, not from data), load 1" in r["note"]
    )
    assert "NH3 NH3名: its partner P41 卫生院41 (41.0 min) is over the 30-minute" in r["note"]
    assert "rule health_partner only" in r["data_basis"]
    # the share of all institutions does not ask for the nearest: NH2 holds there
    share = one(
        indicators.measure(tiny, f, p, indicators=["institutions_partner_within_threshold"]),
        "institutions_partner_within_threshold",
    )
    assert (share["numerator"], share["denominator"]) == (2, 3)
    # with unlimited capacity every home gets its nearest and the programme holds
    q = p[p["rule"] == "health_partner"].copy()
    q["assigned"] = q["rank"] == 1
    q["travel_time_min"] = q["travel_time_min"].clip(upper=30)
    q["within_threshold"] = True
    r = one(indicators.measure(tiny, f, q, indicators=[ident]), ident)
    assert (r["numerator"], r["status"]) == (3, "not met")  # 3 of the programme's 12
    assert "not met by" not in r["note"]


def test_programme_count_needs_ownership(tiny: Region) -> None:
    f = reg([row("NH1", "nursing_home")])
    p = pairings([("health_partner", "NH1", "nursing_home", True, 1.0)])
    r = one(
        indicators.measure(tiny, f, p, indicators=["xuanhan_private_homes_paired"]),
        "xuanhan_private_homes_paired",
    )
    assert (r["status"], r["needs_column"]) == ("not measurable", "ownership")


# --- population shares ---------------------------------------------------------------------------


def test_population_share_from_a_county_column(tiny: Region) -> None:
    ids = ["family_doctor_signing_elderly"]
    f = reg([row("NH1", "nursing_home")])
    r = one(indicators.measure(tiny, f, indicators=ids), ids[0])
    assert (r["status"], r["needs_column"]) == ("not measurable", "family_doctor_signed")
    assert r["data_basis"] == "none (not measurable)"
    counties = tiny.counties.copy()
    pop60 = int(counties["pop_60plus"].sum())
    counties["家庭医生签约人数"] = math.ceil(0.7 * pop60)
    region = dataclasses.replace(tiny, counties=counties)
    r = one(indicators.measure(region, f, indicators=ids), ids[0])
    # elderly = 60+ (常住老年人群); 冯卯镇's 70% is a comparison, not a target here
    assert r["denominator"] == pop60 and r["elderly"] == "60+ (老年人)"
    assert r["status"] == "benchmark" and "above 冯卯镇's 2018 target 0.7" in r["note"]
    assert "census2020" in r["data_basis"] and not r["modelled"]


def test_population_share_from_a_registry_column(tiny_nc: Region) -> None:
    ident = "health_management_65plus"
    pop65 = int(tiny_nc.counties["pop_65plus"].sum())
    f = reg([row("HC1", "health_center"), row("HC2", "health_center"), row("NH1", "nursing_home")])
    r = one(indicators.measure(tiny_nc, f, indicators=[ident]), ident)
    assert (r["status"], r["needs_column"]) == ("not measurable", "health_managed_65plus")
    a = math.ceil(0.45 * pop65)
    f["65岁以上老年人健康管理人数"] = [a, a, None]  # a registry alias (COLUMN_ALIASES)
    r = one(indicators.measure(tiny_nc, f, indicators=[ident]), ident)
    assert (r["numerator"], r["denominator"], r["status"]) == (2 * a, pop65, "met")
    assert r["elderly"].startswith("65+ (as the document counts")
    f["65岁以上老年人健康管理人数"] = [a, 0, None]
    r = one(indicators.measure(tiny_nc, f, indicators=[ident]), ident)
    assert (r["numerator"], r["status"]) == (a, "not met")


# --- scope ---------------------------------------------------------------------------------------


def test_scope_rules(xuanhan: Region) -> None:
    f = reg([row("NH1", "nursing_home", beds=10)])
    t = indicators.measure(xuanhan, f, indicators=["beds_per_1000_elderly"])
    r = one(t, "beds_per_1000_elderly")
    # Nanchong's baseline in Xuanhan: a comparison (对照), never met or not met
    assert r["status"] == "benchmark" and pd.isna(r["met"]) and r["value"] > 0
    assert (r["role"], r["role_zh"], r["year"]) == ("benchmark", "对照", 2019)
    assert "南充市" in r["note"] and "below 南充市's 2019 baseline 35.6" in r["note"]
    r = one(
        indicators.measure(
            xuanhan, f, indicators=["beds_per_1000_elderly"], out_of_scope="not applicable"
        ),
        "beds_per_1000_elderly",
    )
    assert r["status"] == "not applicable" and r["value"] > 0
    # a count of one place is not a comparison elsewhere
    t = indicators.measure(xuanhan, f, indicators=["nanchong_institutions"])
    assert one(t, "nanchong_institutions")["status"] == "not applicable"
    defs = {
        "documents": {"d": {"zh": "d", "place": "南充市", "scope": ["511300"]}},
        "indicators": [
            {
                "id": "beds",
                "zh": "b",
                "en": "b",
                "measure": "beds_per_1000_elderly",
                "params": {"kinds": ["nursing_home"]},
                "target": 0.01,
                "sources": [{"document": "d", "quote": "q"}],
                "scope": ["511700"],  # 达州市 covers its county 宣汉县
                "unit": "per_1000",
            }
        ],
    }
    r = one(indicators.measure(xuanhan, f, definitions=defs), "beds")
    assert r["status"] == "met"


def test_bad_options_are_refused(tiny: Region) -> None:
    f = reg([row("NH1", "nursing_home")])
    with pytest.raises(ValueError, match="unknown indicators"):
        indicators.measure(tiny, f, indicators=["nope"])
    with pytest.raises(ValueError, match="age_group"):
        indicators.measure(tiny, f, age_group="80plus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="adjacency_m"):
        indicators.measure(tiny, f, adjacency_m=-1)
    with pytest.raises(DataError, match="pairings lack"):
        indicators.measure(tiny, f, pd.DataFrame({"rule": []}))


# --- JSON ----------------------------------------------------------------------------------------


def test_to_json_is_stable_and_utf8(tiny: Region, tmp_path: Path) -> None:
    f = reg([row("NH1", "nursing_home", beds=120), row("HC1", "health_center", 100.0)])
    t = indicators.measure(tiny, f)
    doc = indicators.to_json(t)
    assert [r["indicator_id"] for r in doc["indicators"]] == [
        d.id for d in indicators.load_definitions()
    ]
    assert list(doc["indicators"][0]) == list(indicators.COLUMNS)
    assert sum(doc["statuses"].values()) == len(t)
    assert json.dumps(doc, ensure_ascii=False) == json.dumps(
        indicators.to_json(t), ensure_ascii=False
    )
    path = indicators.write_json(t, tmp_path / "indicators.json", include_ids=False)
    text = path.read_text("utf-8")
    assert "护理型床位" in text  # Chinese written as such, not escaped
    back = json.loads(text)
    assert "ids" not in back["indicators"][0]
    nb = next(r for r in back["indicators"] if r["indicator_id"] == "nursing_bed_share")
    assert nb["value"] is None and nb["met"] is None and nb["needs_column"] == "nursing_beds"


# --- the built-in Xuanhan region -----------------------------------------------------------------


def test_xuanhan_modelled_run(xuanhan: Region) -> None:
    facilities = modelled.registry_for(xuanhan)
    nh = facilities[facilities["kind"] == "nursing_home"]
    assert (nh["ownership"] == "public").sum() == 23 and (nh["ownership"] == "private").sum() == 12
    assert (facilities["kind"] == "day_care").sum() == 83
    assert (facilities["kind"] == "happiness_home").sum() == 7
    assert (facilities["kind"] == "care_complex").sum() == 3
    p = pairing.pair(network.modelled(xuanhan), facilities)
    t = indicators.measure(xuanhan, facilities, p).set_index("indicator_id")
    expected = {
        "xuanhan_public_homes_paired": 23,
        "xuanhan_private_homes_paired": 12,
        "xuanhan_day_care_patrolled": 83,
        "xuanhan_happiness_homes_patrolled": 10,
    }
    for ident, count in expected.items():
        r = t.loc[ident]
        assert r["denominator"] == count  # the registry holds the programme's facilities
        assert r["target"] == count
        assert r["numerator"] <= count
        assert r["status"] == ("met" if r["numerator"] >= count else "not met")
        assert "modelled registry" in r["data_basis"] and r["modelled"]
    assert t.loc["institutions_partner_within_threshold", "denominator"] == 37
    measured = t[t["value"].notna()]
    assert measured["modelled"].all()
    assert measured["data_basis"].str.contains("modelled").all()
    assert t.loc["nursing_bed_share", "status"] == "not measurable"  # no nursing_beds column
    assert t.loc["nursing_bed_share", "role"] == "benchmark"  # a Nanchong target
    assert t.loc["nursing_bed_share", "needs_column"] == "nursing_beds"
    assert t.loc["medical_institutions_green_channel", "status"] == "not measurable"
    assert set(t["status"]) <= set(indicators.STATUSES)
    # no other region's figure is judged met or not met in Xuanhan
    judged = t[t["status"].isin(["met", "not met"])]
    assert (judged["role"] == "target").all()
    assert judged["source_document"].str.startswith("000_").all()
    assert t.loc["beds_per_1000_elderly", "status"] == "benchmark"
    assert t.loc["villages_with_elder_service", "status"] == "benchmark"
    # each not measurable row names a column the registry accepts (or the population tables)
    lacking = t[t["status"] == "not measurable"]
    assert set(lacking["needs_column"]) <= set(registry.schema.MEASURE_COLUMNS) | {"beds"}
    assert len(lacking) <= 7


# --- role, year, elderly ------------------------------------------------------------------------


def test_every_indicator_says_what_its_figure_is() -> None:
    defs = indicators.load_definitions()
    for d in defs:
        assert d.role in indicators.ROLES, d.id
        assert d.target is None or d.year is not None, d.id
    by_id = {d.id: d for d in defs}
    assert (by_id["beds_per_1000_elderly"].role, by_id["beds_per_1000_elderly"].year) == (
        "baseline",
        2019,
    )
    assert by_id["nursing_bed_share"].year == 2025
    assert by_id["xuanhan_private_homes_paired"].year == 2023
    # elderly is 60+ except where the document itself counts 65+
    ages = {d.id: d.params.get("age_group") for d in defs if "age_group" in d.params}
    assert ages == {"family_doctor_signing_elderly": "60plus", "health_management_65plus": "65plus"}
    assert "65" in next(s.quote for s in by_id["health_management_65plus"].sources)
    base = {
        "id": "x",
        "zh": "x",
        "en": "x",
        "measure": "flag_share",
        "sources": [{"document": "d", "quote": "q"}],
    }
    with pytest.raises(DataError, match="role must be one of"):
        indicators.load_definitions({"indicators": [{**base, "role": "goal"}]})
    with pytest.raises(DataError, match="year must be a year"):
        indicators.load_definitions({"indicators": [{**base, "year": "2025年"}]})


def test_baseline_counts_of_nanchong(tiny_nc: Region) -> None:
    ids = ["nanchong_institutions", "nanchong_institution_beds", "nanchong_day_care_centres"]
    f = reg(
        [
            row("NH1", "nursing_home", beds=100),
            row("IC1", "integrated_care", beds=50),
            row("CC1", "care_complex", beds=10),
            row("DC1", "day_care"),
            row("HC1", "health_center", beds=500),
        ]
    )
    t = indicators.measure(tiny_nc, f, indicators=ids)
    assert one(t, ids[0])[["value", "target", "status"]].tolist() == [2, 468, "baseline"]
    assert one(t, ids[1])[["value", "target", "status"]].tolist() == [160, 45934, "baseline"]
    assert one(t, ids[2])[["value", "role_zh"]].tolist() == [1, "基线"]
    assert t["met"].isna().all()


# --- columns that make an indicator measurable ---------------------------------------------------


def test_medical_service_from_forms_clinics_and_partners(tiny: Region) -> None:
    ident = "institutions_providing_medical_service"
    rows = [
        row("NH1", "nursing_home"),
        row("NH2", "nursing_home"),
        row("NH3", "nursing_home"),
        row("IC1", "integrated_care"),
    ]
    f = reg(rows)
    r = one(indicators.measure(tiny, f, indicators=[ident]), ident)
    assert (r["status"], r["needs_column"]) == ("not measurable", "medical_service_form")
    # from the run's pairings: a partner within the threshold (a spatial precondition)
    p = pairings(
        [
            ("health_partner", "NH1", "nursing_home", True, 10.0),
            ("health_partner", "NH2", "nursing_home", True, 50.0),
            ("health_partner", "NH3", "nursing_home", True, 20.0),
        ]
    )
    r = one(indicators.measure(tiny, f, p, indicators=[ident]), ident)
    assert (r["numerator"], r["denominator"]) == (3, 4)  # NH1, NH3 and IC1 by definition
    assert "spatial precondition" in r["data_basis"]
    # a survey column wins over the pairings; a has_clinic yes counts as a form
    f = reg(
        [
            {**rows[0], "医疗服务形式": "签约合作"},
            {**rows[1], "医疗服务形式": "无", "内设医疗机构": "是"},
            {**rows[2], "医疗服务形式": "未提供"},
            rows[3],
        ]
    )
    r = one(indicators.measure(tiny, f, p, indicators=[ident]), ident)
    assert (r["numerator"], r["denominator"]) == (3, 4) and sorted(r["ids"]) == [
        "IC1",
        "NH1",
        "NH2",
    ]
    assert "spatial precondition" not in r["data_basis"]


@pytest.mark.parametrize(
    ("header", "ident", "values"),
    [
        ("护理型床位", "nursing_bed_share", ["40", "20"]),
        ("内设医疗机构", "nursing_homes_100plus_internal_medical", ["是", "否"]),
        ("老年医学科", "hospitals_geriatric_department", ["是", "是"]),
        ("安宁疗护", "health_centres_hospice", ["是", "否"]),
        ("老年人就医绿色通道", "medical_institutions_green_channel", ["是", "否"]),
    ],
)
def test_a_registry_file_with_the_column_is_measured(
    tiny_nc: Region, tmp_path: Path, header: str, ident: str, values: list[str]
) -> None:
    kinds = {
        "nursing_bed_share": ("nursing_home", "敬老院"),
        "nursing_homes_100plus_internal_medical": ("nursing_home", "敬老院"),
        "hospitals_geriatric_department": ("hospital", "医院"),
        "health_centres_hospice": ("health_center", "卫生院"),
        "medical_institutions_green_channel": ("health_center", "卫生院"),
    }
    kind, zh = kinds[ident]
    assert registry.COLUMN_ALIASES[header] in registry.schema.MEASURE_COLUMNS
    lon, lat = at(0.0)
    lines = [f"名称,类型,经度,纬度,床位数,等级,{header}"]
    lines += [f"甲{zh}{i},{zh},{lon + i * 0.01},{lat},150,二级,{v}" for i, v in enumerate(values)]
    path = tmp_path / "list.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    f = registry.read(path, crs="wgs84")
    assert header in f.columns and set(f["kind"]) == {kind}
    r = one(indicators.measure(tiny_nc, f, indicators=[ident]), ident)
    assert r["status"] != "not measurable" and pd.notna(r["value"]), r["note"]
    assert r["value"] == pytest.approx(
        0.5 if ident != "hospitals_geriatric_department" else 1.0, abs=1e-3
    ) or (ident == "nursing_bed_share" and r["value"] == pytest.approx(60 / 300))
    r = one(indicators.measure(tiny_nc, f.drop(columns=[header]), indicators=[ident]), ident)
    assert r["status"] == "not measurable"
    assert r["needs_column"] == registry.COLUMN_ALIASES[header]
