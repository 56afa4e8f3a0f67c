"""Pairing rules, nearest and capacity-aware pairing, explanations and fees, against brute force."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from graphs import grid_graph
from shapely import points

from siting import _errors as siting_errors
from siting import pairing, registry
from siting.costs import TravelOptions
from siting.pairing import PairingRuleError, load_rules, pair

LON0, LAT0 = 106.08, 30.80
STEP = 0.01


def registry_at(
    g: nx.MultiDiGraph, rows: list[tuple[str, str, Any]], **extra: list[Any]
) -> gpd.GeoDataFrame:
    """Facilities exactly at graph nodes: rows of (id, kind, node)."""
    ids = [r[0] for r in rows]
    data: dict[str, Any] = {
        "name": [f"{r[0]}名" for r in rows],
        "kind": [r[1] for r in rows],
        **extra,
    }
    geom = points([g.nodes[r[2]]["x"] for r in rows], [g.nodes[r[2]]["y"] for r in rows])
    return gpd.GeoDataFrame(data, geometry=geom, index=pd.Index(ids, name="id"), crs=4326)


RULES_ONE: dict[str, Any] = {
    "rules": [
        {
            "id": "hp",
            "zh": "签约卫生院",
            "from": ["nursing_home"],
            "to": ["health_center"],
            "threshold_min": 5,
            "k": 3,
            "capacity": {"unit": "facilities", "column": "capacity", "assumed_default": 1},
        }
    ]
}


# --- rules ---------------------------------------------------------------------------------------


def test_default_rules_are_the_nanchong_plan() -> None:
    rules = load_rules()
    assert rules.name == "nanchong" and not rules.benchmark
    assert "default rule set 'nanchong'" in rules.note
    assert [r.id for r in rules] == ["health_partner", "patrol", "green_channel"]
    hp = rules.get("health_partner")
    assert set(hp.from_kinds) >= {"nursing_home"}
    assert set(hp.to_kinds) == {"health_center", "community_health_center"}
    # capacities come from data: the column, no blanket default
    assert hp.capacity is not None and hp.capacity.column == "capacity"
    assert hp.capacity.assumed_default is None
    patrol = rules.get("patrol")
    assert set(patrol.from_kinds) == {"day_care", "happiness_home", "care_complex"}
    assert patrol.to_kinds == ("village_clinic", "community_health_station")
    assert set(patrol.urban_to) == {"community_health_station", "community_health_center"}
    green = rules.get("green_channel")
    assert green.to_kinds == ("hospital",)
    assert set(green.partner_filter["level"]) == {"三级", "二级"}
    assert green.threshold_min == 30
    assert green.direction == "to_partner"
    assert any("二级以上医疗机构" in q for _, q in green.quotes)
    assert any("双向转诊" in q for _, q in green.quotes)
    for r in rules:
        assert set(r.from_kinds) <= set(registry.KINDS)
        assert r.k == 3
        assert r.quotes and all(doc == "002" for doc, _ in r.quotes)
    assert rules.cost is not None and rules.cost.subsidy_share == 0.5
    assert rules.cost.brackets[0] == (30, 20000)
    assert rules.cost.brackets[-1] == (None, 50000)
    assert "2-5万/年" in rules.cost.source


def test_xuanhan_rules_follow_the_programme() -> None:
    rules = load_rules("xuanhan")
    assert rules.name == "xuanhan" and not rules.benchmark
    assert [r.id for r in rules] == [
        "health_partner",
        "patrol",
        "green_channel",
        "referral_hospital",
    ]
    hp = rules.get("health_partner")
    assert hp.from_kinds == ("nursing_home",) and hp.to_kinds == ("health_center",)
    green = rules.get("green_channel")
    assert green.to_kinds == ("health_center",) and not green.partner_filter
    referral = rules.get("referral_hospital")
    assert referral.to_kinds == ("hospital",)
    assert set(referral.partner_filter["level"]) == {"三级", "二级"}
    patrol = rules.get("patrol")
    assert "village_clinic" in patrol.to_kinds and "village_clinic" not in patrol.urban_to
    assert all(doc == "000" for r in rules for doc, _ in r.quotes)


@pytest.mark.parametrize(
    ("region", "name"),
    [
        ("511722", "xuanhan"),
        (511722, "xuanhan"),
        ("511300", "nanchong"),
        ("511302", "nanchong"),
        ("511381", "nanchong"),
        ("511702", "nanchong"),  # Dazhou's Tongchuan: not Xuanhan
        ("330727", "nanchong"),
    ],
)
def test_rule_set_of_a_region(region: Any, name: str) -> None:
    rules = load_rules(region=region)
    assert rules.name == name
    assert pairing.rule_set_for(region) == name
    own = str(region).startswith(("511722", "5113"))
    assert ("has no rule set of its own" in rules.note) is not own


def test_rule_set_of_a_region_object_and_names() -> None:
    class Place:
        code = "511722"

    assert load_rules(region=Place()).name == "xuanhan"
    assert set(pairing.RULE_SETS) == {"xuanhan", "nanchong", "panan", "fengmao"}
    for name in pairing.RULE_SETS:
        rules = load_rules(name)
        assert rules.name == name
        assert rules.benchmark is (name in {"panan", "fengmao"})
        assert ("benchmark" in pairing.RULE_SETS[name]) is rules.benchmark
        assert rules.path == pairing.default_rules_path()
    # a name beats the region; a user's one-set file ignores the region
    assert load_rules("panan", region="511722").name == "panan"
    assert load_rules(RULES_ONE, region="511722").name == ""
    with pytest.raises(PairingRuleError, match="no rule set 'mars'"):
        load_rules({"rule_sets": {"a": RULES_ONE}, "default_set": "mars"})
    with pytest.raises(PairingRuleError, match="administrative code"):
        load_rules(region="宣汉")


def test_a_user_file_with_rule_sets(tmp_path: Path) -> None:
    import yaml

    data = {
        "default_set": "plain",
        "regions": {"5117": "dazhou"},
        "rule_sets": {
            "plain": RULES_ONE,
            "dazhou": {"zh": "达州", "benchmark": True, "rules": [{**RULES_ONE["rules"][0]}]},
        },
    }
    path = tmp_path / "sets.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_rules(path).name == "plain"
    got = load_rules(path, region="511722")
    assert got.name == "dazhou" and got.benchmark and got.zh == "达州"
    assert load_rules(path, region="330727").name == "plain"


def test_sources_are_quotes_or_text() -> None:
    one = {**RULES_ONE["rules"][0], "source": {"document": "000", "quote": "就近卫生院"}}
    rule = load_rules({"rules": [one]}).get("hp")
    assert rule.quotes == (("000", "就近卫生院"),) and "000" in rule.source
    plain = {**RULES_ONE["rules"][0], "source": "my own rule"}
    assert load_rules({"rules": [plain]}).get("hp").source == "my own rule"
    bad = {**RULES_ONE["rules"][0], "source": [{"document": "000"}]}
    with pytest.raises(PairingRuleError, match="source\\[0\\]: must be a mapping"):
        load_rules({"rules": [bad]})


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"from": ["nursing_homes"]}, "from: unknown kind 'nursing_homes'"),
        ({"threshold_min": -5}, "threshold_min: must be positive"),
        ({"threshold_min": None}, "threshold_min: missing"),
        ({"k": 0}, "k: must be a whole number"),
        ({"direction": "sideways"}, "direction: must be to_partner or from_partner"),
        ({"capacity": {"unit": "rooms"}}, "capacity.unit: must be facilities or beds"),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_invalid_rules_name_the_file_rule_and_key(
    tmp_path: Path, change: dict[str, Any], where: str
) -> None:
    import yaml

    rule = {**RULES_ONE["rules"][0], **change}
    path = tmp_path / "my_rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PairingRuleError) as err:
        load_rules(path)
    text = str(err.value)
    assert "my_rules.yaml" in text and "rules[0] (hp)" in text and where in text


def test_duplicate_rule_ids_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PairingRuleError, match="duplicate id 'hp'"):
        load_rules({"rules": [RULES_ONE["rules"][0], RULES_ONE["rules"][0]]})
    with pytest.raises(PairingRuleError, match="not found"):
        load_rules(tmp_path / "none.yaml")


def test_rules_can_be_changed_without_code() -> None:
    rules = load_rules().replace("patrol", threshold_min=20, k=2)
    assert rules.get("patrol").threshold_min == 20 and rules.get("patrol").k == 2
    assert rules.get("health_partner").threshold_min == 30


# --- nearest pairing against brute force ---------------------------------------------------------


def brute_times(g: nx.MultiDiGraph, source: Any, *, reverse: bool = False) -> dict[Any, float]:
    graph = g.reverse(copy=True) if reverse else g
    return dict(nx.single_source_dijkstra_path_length(graph, source, weight="travel_time"))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("direction", ["to_partner", "from_partner"])
def test_nearest_pairing_matches_brute_force(seed: int, direction: str) -> None:
    g = grid_graph(seed)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(g.number_of_nodes(), 14, replace=False)
    rows = [(f"NH-{i}", "nursing_home", int(n)) for i, n in enumerate(nodes[:8])]
    rows += [(f"HC-{i}", "health_center", int(n)) for i, n in enumerate(nodes[8:])]
    fac = registry_at(g, rows)
    rules = load_rules(RULES_ONE).replace("hp", direction=direction)
    out = pair(g, fac, rules)
    hcs = {r[0]: r[2] for r in rows if r[1] == "health_center"}
    for fid, _, node in (r for r in rows if r[1] == "nursing_home"):
        # to_partner: trips from the home to each centre; from_partner: from each centre
        if direction == "to_partner":
            times = brute_times(g, node)
            cand = {h: times.get(n, math.inf) for h, n in hcs.items()}
        else:
            cand = {h: brute_times(g, n).get(node, math.inf) for h, n in hcs.items()}
        ranked = sorted((t, h) for h, t in cand.items() if math.isfinite(t))[:3]
        got = out[out["facility_id"] == fid].sort_values("rank")
        reachable = got[got["partner_id"].notna()]
        assert reachable["partner_id"].tolist() == [h for _, h in ranked]
        assert np.allclose(reachable["travel_time_min"], [t / 60 for t, _ in ranked], atol=1e-3)
        first = got.iloc[0]
        if ranked:
            assert bool(first["assigned"])
            assert bool(first["within_threshold"]) == (ranked[0][0] <= 5 * 60)
            assert first["method"] == "network"
            assert f"最近的乡镇卫生院为{ranked[0][1]}名，车程" in first["reason"]
            if len(ranked) > 1:
                assert f"次近为{ranked[1][1]}名" in first["reason"]
            assert first["reason_en"].startswith("nearest township health centre:")
        else:
            assert "没有可达" in first["reason"]


def test_explanation_reads_like_the_issue_example() -> None:
    # a --300s-- NH --420s-- b, health centres at a (5 min) and b (7 min)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, i in (("a", 0), ("h", 1), ("b", 2)):
        g.add_node(n, x=LON0 + i * STEP, y=LAT0)
    for u, v, t in (("a", "h", 720.0), ("h", "b", 1080.0)):
        g.add_edge(u, v, travel_time=t, length=1000.0)
        g.add_edge(v, u, travel_time=t, length=1000.0)
    fac = registry_at(
        g, [("NH", "nursing_home", "h"), ("X", "health_center", "a"), ("Y", "health_center", "b")]
    )
    fac["name"] = ["某敬老院", "X镇卫生院", "Y镇卫生院"]
    out = pair(g, fac, RULES_ONE)
    first = out[out["rank"] == 1].iloc[0]
    assert (
        first["reason"]
        == "最近的乡镇卫生院为X镇卫生院，车程12分钟；次近为Y镇卫生院，18分钟；超过5分钟阈值"
    )
    assert out["distance_km"].tolist()[:2] == [1.0, 1.0]  # rank 3: no third centre
    assert pd.isna(out["partner_id"].iloc[2])
    assert out.loc[out["rank"] == 2, "reason"].iloc[0] == "备选：第2近，车程18分钟"


def test_straight_line_without_a_network_says_so() -> None:
    g = grid_graph(4)
    fac = registry_at(g, [("NH-1", "nursing_home", 0), ("HC-1", "health_center", 10)])
    out = pair(None, fac, RULES_ONE)
    assert set(out["method"]) == {"straight_line"}
    assert "直线" in out["reason"].iloc[0]


def test_partner_filter_and_excluded_names() -> None:
    g = grid_graph(5, one_way_share=0.0)
    fac = registry_at(
        g,
        [
            ("NH-1", "nursing_home", 0),
            ("H-psy", "hospital", 1),
            ("H-1", "hospital", 2),
            ("H-2", "hospital", 3),
            ("H-3", "hospital", 4),
        ],
        level=["", "二级", "一级", "三级", "二级"],
    )
    fac["name"] = ["敬老院", "某县精神病医院", "一级医院", "三级医院", "二级医院"]
    out = pair(g, fac, only=["green_channel"])
    assert set(out["partner_id"].dropna()) <= {"H-2", "H-3"}
    assert len(out) == 3  # k=3 rows, the third without a partner
    with pytest.raises(PairingRuleError, match="partner_filter needs the column 'level'"):
        pair(g, fac.drop(columns="level"), only=["green_channel"])


def test_gcj02_input_gives_the_same_pairs(tmp_path: Path) -> None:
    """A facility list in GCJ-02 (as copied from Amap) pairs exactly as its WGS84 twin."""
    from siting import crs as scrs

    g = grid_graph(6)
    rng = np.random.default_rng(6)
    n = g.number_of_nodes()
    lon = LON0 + rng.uniform(0, 6 * STEP, 12)
    lat = LAT0 + rng.uniform(0, 6 * STEP, 12)
    kinds = ["敬老院"] * 6 + ["卫生院"] * 6
    names = [f"机构{i}" for i in range(12)]
    glon, glat = scrs.wgs84_to_gcj02(lon, lat)
    pd.DataFrame({"名称": names, "类型": kinds, "经度": lon, "纬度": lat}).to_csv(
        tmp_path / "wgs.csv", index=False
    )
    pd.DataFrame({"名称": names, "类型": kinds, "经度": glon, "纬度": glat}).to_csv(
        tmp_path / "gcj.csv", index=False
    )
    wgs = registry.read(tmp_path / "wgs.csv", crs="wgs84")
    gcj = registry.read(tmp_path / "gcj.csv", crs="gcj02")
    assert n == 49
    a = pair(g, wgs, RULES_ONE)
    b = pair(g, gcj, RULES_ONE)
    assert a["partner_id"].tolist() == b["partner_id"].tolist()
    assert np.allclose(a["travel_time_min"], b["travel_time_min"], atol=1e-4, equal_nan=True)


# --- capacity-aware pairing ---------------------------------------------------------------------


def brute_assignment(times: np.ndarray, caps: list[int]) -> tuple[int, float]:
    """Most facilities served, then least total time, by enumeration (-1 = not served)."""
    n, m = times.shape
    best = (-1, math.inf)
    for choice in itertools.product(range(-1, m), repeat=n):
        load = [0] * m
        ok, total, served = True, 0.0, 0
        for i, j in enumerate(choice):
            if j < 0:
                continue
            if not math.isfinite(times[i, j]):
                ok = False
                break
            load[j] += 1
            total += times[i, j]
            served += 1
        if not ok or any(load[j] > caps[j] for j in range(m)):
            continue
        if served > best[0] or (served == best[0] and total < best[1] - 1e-9):
            best = (served, total)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_capacity_assignment_is_optimal(seed: int) -> None:
    g = grid_graph(seed + 10, one_way_share=0.0)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(g.number_of_nodes(), 9, replace=False)
    homes = [(f"NH-{i}", "nursing_home", int(n)) for i, n in enumerate(nodes[:6])]
    centres = [(f"HC-{i}", "health_center", int(n)) for i, n in enumerate(nodes[6:])]
    caps = [int(c) for c in rng.integers(1, 3, 3)]
    fac = registry_at(g, homes + centres, capacity=[pd.NA] * 6 + caps)
    fac["capacity"] = fac["capacity"].astype("Int64")
    info: dict[str, Any] = {}
    out = pair(g, fac, RULES_ONE, capacity=True, info=info)
    times = np.array([[brute_times(g, h[2]).get(c[2], math.inf) for c in centres] for h in homes])
    served, total = brute_assignment(times, caps)
    chosen = out[out["assigned"]]
    assert chosen["facility_id"].is_unique
    assert len(chosen) == served == 6 - info["hp"]["not_served"]
    assert chosen["travel_time_min"].sum() == pytest.approx(total / 60, abs=1e-2)
    load = chosen["partner_id"].value_counts()
    for c, cap in zip(centres, caps, strict=True):
        assert load.get(c[0], 0) <= cap
    assert info["hp"]["solver_status"] == "optimal"
    # everyone not with the nearest says why, everyone not served is listed with a reason
    for fid, group in out.groupby("facility_id"):
        near = group[group["rank"] == 1].iloc[0]
        got = group[group["assigned"]]
        if got.empty:
            assert "均已满额" in group.iloc[0]["reason"]
        elif got.iloc[0]["partner_id"] != near["partner_id"]:
            assert "改配" in got.iloc[0]["reason"], fid
        else:
            assert got.iloc[0]["reason"].startswith("就近配对")


def test_capacity_shortage_lists_the_unserved() -> None:
    g = grid_graph(21, one_way_share=0.0)
    fac = registry_at(
        g,
        [("NH-1", "nursing_home", 0), ("NH-2", "nursing_home", 1), ("HC-1", "health_center", 2)],
        capacity=[pd.NA, pd.NA, 1],
    )
    out = pair(g, fac, RULES_ONE, capacity=True)
    assert out["facility_id"].nunique() == 2  # nobody dropped
    assert out["assigned"].sum() == 1
    unserved = out[~out["facility_id"].isin(out.loc[out["assigned"], "facility_id"])]
    assert unserved["reason"].str.contains("均已满额").all()
    assert out.loc[out["assigned"], "partner_load"].iloc[0] == 1


def test_capacity_in_beds_needs_beds() -> None:
    g = grid_graph(22)
    fac = registry_at(
        g,
        [("NH-1", "nursing_home", 0), ("HC-1", "health_center", 2)],
        capacity=[pd.NA, 100],
        beds=[pd.NA, pd.NA],
    )
    rules = load_rules(RULES_ONE).replace(
        "hp", capacity=pairing.CapacityRule("beds", "capacity", None)
    )
    with pytest.raises(PairingRuleError, match="needs the beds of every facility"):
        pair(g, fac, rules, capacity=True)


def _two_homes_one_near_centre(g: nx.MultiDiGraph, **extra: list[Any]) -> gpd.GeoDataFrame:
    """NH-1 and NH-2 both nearest to HC-1; HC-2 farther away."""
    return registry_at(
        g,
        [
            ("NH-1", "nursing_home", 0),
            ("NH-2", "nursing_home", 1),
            ("HC-1", "health_center", 2),
            ("HC-2", "health_center", 48),
        ],
        **extra,
    )


def test_capacity_is_unlimited_without_data() -> None:
    g = grid_graph(23, one_way_share=0.0)
    fac = _two_homes_one_near_centre(g, capacity=[pd.NA] * 4)
    rule = {**RULES_ONE["rules"][0], "capacity": {"unit": "facilities", "column": "capacity"}}
    info: dict[str, Any] = {}
    out = pair(g, fac, {"rules": [rule]}, capacity=True, info=info)
    chosen = out[out["assigned"]].set_index("facility_id")
    assert list(chosen["partner_id"]) == ["HC-1", "HC-1"]  # both with the nearest
    assert (chosen["rank"] == 1).all()
    assert chosen["partner_capacity"].isna().all()  # no capacity invented
    assert (chosen["capacity_source"] == "unlimited").all()
    assert not chosen["capacity_assumed"].any()
    assert info["hp"]["partners_unlimited"] == 2 and info["hp"]["partners_capacity_assumed"] == 0
    # the same with a column the registry lacks altogether
    no_col = {**rule, "capacity": {"unit": "facilities", "column": "doctors"}}
    out2 = pair(g, fac.drop(columns="capacity"), {"rules": [no_col]}, capacity=True)
    assert list(out2.loc[out2["assigned"], "partner_id"]) == ["HC-1", "HC-1"]


def test_capacity_from_a_named_column() -> None:
    g = grid_graph(23, one_way_share=0.0)
    fac = _two_homes_one_near_centre(g, doctors=[pd.NA, pd.NA, 1, pd.NA])
    rule = {**RULES_ONE["rules"][0], "capacity": {"unit": "facilities", "column": "doctors"}}
    out = pair(g, fac, {"rules": [rule]}, capacity=True)
    chosen = out[out["assigned"]]
    assert sorted(chosen["partner_id"]) == ["HC-1", "HC-2"]  # HC-1 holds one, HC-2 unlimited
    by_partner = chosen.set_index("partner_id")
    assert by_partner.loc["HC-1", "capacity_source"] == "doctors"
    assert by_partner.loc["HC-1", "partner_capacity"] == 1
    assert by_partner.loc["HC-2", "capacity_source"] == "unlimited"
    assert not chosen["capacity_assumed"].any()
    moved = chosen[chosen["partner_id"] == "HC-2"].iloc[0]
    assert "已满额（容量1，已配1）" in moved["reason"] and "假定" not in moved["reason"]
    bad = fac.assign(doctors=["", "", "two", ""])
    with pytest.raises(PairingRuleError, match="'doctors' of partner 'HC-1' is not a number"):
        pair(g, bad, {"rules": [rule]}, capacity=True)


@pytest.mark.parametrize("key", ["assumed_default", "default"])
def test_an_assumed_capacity_is_labelled(key: str) -> None:
    g = grid_graph(23, one_way_share=0.0)
    fac = _two_homes_one_near_centre(g, capacity=[pd.NA, pd.NA, pd.NA, 5])
    rule = {**RULES_ONE["rules"][0], "capacity": {"column": "capacity", key: 1}}
    rules = load_rules({"rules": [rule]})
    assert rules.get("hp").capacity == pairing.CapacityRule("facilities", "capacity", 1.0)
    out = pair(g, fac, rules, capacity=True)
    chosen = out[out["assigned"]].set_index("partner_id")
    assert sorted(chosen.index) == ["HC-1", "HC-2"]
    assert bool(chosen.loc["HC-1", "capacity_assumed"]) is True
    assert chosen.loc["HC-1", "capacity_source"] == "assumed"
    assert chosen.loc["HC-1", "partner_capacity"] == 1
    assert bool(chosen.loc["HC-2", "capacity_assumed"]) is False  # its own column value
    assert chosen.loc["HC-2", "capacity_source"] == "capacity"
    assert "假定容量1" in chosen.loc["HC-2", "reason"]
    assert "assumed capacity" in chosen.loc["HC-2", "reason_en"]
    for cap in ({"column": None}, {"column": "capacity", key: -1}, {"column": "x", "size": 2}):
        with pytest.raises(PairingRuleError, match="capacity"):
            load_rules({"rules": [{**rule, "capacity": cap}]})


# --- urban communities ---------------------------------------------------------------------------


def test_mark_urban_from_township_and_village_types() -> None:
    fac = gpd.GeoDataFrame(
        {
            "name": ["a", "b", "c", "d", "e"],
            "kind": ["day_care"] * 5,
            "township_code": ["T1", "T1", "T2", "T2", None],
            "village_code": [None, "V-cun", "V-she", None, None],
        },
        geometry=points([0.0] * 5, [0.0] * 5),
        index=pd.Index(list("abcde"), name="id"),
        crs=4326,
    )
    towns = pd.DataFrame({"town_type": ["街道", "镇"]}, index=pd.Index(["T1", "T2"]))
    villages = pd.DataFrame(
        {"village_type": ["村委会", "社区"]}, index=pd.Index(["V-cun", "V-she"])
    )
    out = pairing.mark_urban(fac, towns, villages)
    # a: in a 街道; b: a 村 of a 街道; c: a 社区 of a 镇 (a township seat); d: a 镇; e: unknown
    assert out["urban"].tolist() == [True, False, False, False, pd.NA]
    assert "urban" not in fac.columns
    with pytest.raises(siting_errors.DataError, match="town_type"):
        pairing.mark_urban(fac, towns.rename(columns={"town_type": "type"}))


def test_urban_facilities_are_served_by_community_health_services() -> None:
    g = grid_graph(24, one_way_share=0.0)
    rows = [
        ("DC-town", "day_care", 0),
        ("DC-city", "day_care", 1),
        ("VC-1", "village_clinic", 2),
        ("CHS-1", "community_health_station", 40),
    ]
    fac = registry_at(g, rows, urban=[False, True, False, False])
    out = pair(g, fac, "nanchong", only=["patrol"], info=(info := {}))
    chosen = out[out["assigned"]].set_index("facility_id")
    # the town facility takes the nearest village clinic; the urban one a community station
    assert chosen.loc["DC-town", "partner_id"] == "VC-1"
    assert chosen.loc["DC-city", "partner_id"] == "CHS-1"
    assert "社区卫生服务站" in chosen.loc["DC-city", "reason"]
    assert info["patrol"]["urban_facilities"] == 1
    assert list(out["facility_id"].drop_duplicates()) == ["DC-town", "DC-city"]  # registry order
    # without the urban column (or without any community service) everyone takes `to`
    plain = pair(g, fac.drop(columns="urban"), "nanchong", only=["patrol"])
    assert set(plain.loc[plain["assigned"], "partner_id"]) == {"VC-1"}
    no_chs = pair(g, fac[fac.index != "CHS-1"], "nanchong", only=["patrol"])
    assert set(no_chs.loc[no_chs["assigned"], "partner_id"]) == {"VC-1"}


# --- the Xuanhan programme on its modelled registry ----------------------------------------------


@pytest.fixture(scope="module")
def xuanhan() -> tuple[Any, gpd.GeoDataFrame]:
    from siting import modelled, regions
    from siting.network import modelled as modelled_network

    reg = regions.load("xuanhan")
    fac = pairing.mark_urban(modelled.registry_for("xuanhan"), reg.townships, reg.villages)
    return modelled_network(reg), fac


def test_xuanhan_private_homes_pair_with_their_nearest_health_centre(
    xuanhan: tuple[Any, gpd.GeoDataFrame],
) -> None:
    g, fac = xuanhan
    private = fac[(fac["kind"] == "nursing_home") & (fac["ownership"] == "private")].index
    assert len(private) == 12  # the seed's 12家民办敬老院
    out = pair(g, fac, region="511722", capacity=True, only=["health_partner"])
    rows = out[out["facility_id"].isin(private)]
    chosen = rows[rows["assigned"]]
    assert chosen["facility_id"].nunique() == 12
    assert (chosen["rank"] == 1).all() and (chosen["partner_kind"] == "health_center").all()
    assert not chosen["capacity_assumed"].any()
    # a blanket assumed capacity of 3 would move some away - and says so
    assumed = load_rules("xuanhan").replace(
        "health_partner", capacity=pairing.CapacityRule("facilities", "capacity", 3)
    )
    out3 = pair(g, fac, assumed, capacity=True, only=["health_partner"])
    moved = out3[out3["assigned"] & out3["facility_id"].isin(private) & (out3["rank"] > 1)]
    assert len(moved) > 0
    assert out3.loc[out3["assigned"], "capacity_assumed"].all()
    assert moved["reason"].str.contains("假定容量3").all()


def test_xuanhan_green_channel_goes_to_the_nearest_health_centre(
    xuanhan: tuple[Any, gpd.GeoDataFrame],
) -> None:
    g, fac = xuanhan
    out = pair(g, fac, "xuanhan", only=["green_channel", "referral_hospital"])
    chosen = out[out["assigned"]]
    green = chosen[chosen["rule"] == "green_channel"]
    referral = chosen[chosen["rule"] == "referral_hospital"]
    assert set(green["partner_kind"]) == {"health_center"}
    assert set(referral["partner_kind"]) == {"hospital"}
    assert green["facility_id"].nunique() == referral["facility_id"].nunique() > 100
    # each tier is the nearest of its own kind (rank 1), however far
    assert (green["rank"] == 1).all() and (referral["rank"] == 1).all()
    assert green["within_threshold"].sum() > referral["within_threshold"].sum()


# --- the fee rule --------------------------------------------------------------------------------


def test_pan_an_fee_rule_is_applied_and_shown() -> None:
    g = grid_graph(23, one_way_share=0.0)
    fac = registry_at(
        g,
        [
            ("NH-1", "nursing_home", 0),
            ("NH-2", "nursing_home", 8),
            ("NH-3", "nursing_home", 16),
            ("HC-1", "health_center", 24),
        ],
        beds=[25, 80, pd.NA, pd.NA],
    )
    out = pair(g, fac, only=["health_partner"])
    chosen = out[out["assigned"]].set_index("facility_id")
    assert chosen.loc["NH-1", "fee_cny"] == 20000
    assert chosen.loc["NH-2", "fee_cny"] == 40000
    assert chosen.loc["NH-2", "subsidy_cny"] == 20000
    assert chosen.loc["NH-2", "net_cost_cny"] == 20000
    assert pd.isna(chosen.loc["NH-3", "fee_cny"])
    assert "无床位数" in chosen.loc["NH-3", "fee_rule"]
    assert "财政补助50%" in chosen.loc["NH-1", "fee_rule"]
    assert "assumed" in chosen.loc["NH-1", "fee_rule"]
    assert out.loc[~out["assigned"], "fee_cny"].isna().all()


# --- incremental ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [31, 32, 33, 34])
def test_incremental_pairing_equals_a_full_recompute(seed: int) -> None:
    g = grid_graph(seed)
    rng = np.random.default_rng(seed)
    nodes = rng.choice(g.number_of_nodes(), 24, replace=True)
    kinds = ["nursing_home"] * 8 + ["health_center"] * 6 + ["day_care"] * 4 + ["village_clinic"] * 6
    rows = [
        (f"F-{i:02d}", kind, int(n)) for i, (kind, n) in enumerate(zip(kinds, nodes, strict=True))
    ]
    fac = registry_at(g, rows, level=[pd.NA] * 24)
    added = rng.choice(fac.index.to_numpy(), 7, replace=False)
    base = fac.drop(index=added)
    raw: dict[str, pd.DataFrame] = {}
    pair(g, base, raw=raw)
    assert set(raw) == {"health_partner", "patrol", "green_channel"}
    full = pair(g, fac)
    inc = pair(g, fac, previous=raw, added=added)
    pd.testing.assert_frame_equal(inc, full)


def test_merge_nearest_pads_missing_ranks() -> None:
    g = grid_graph(40)
    fac = registry_at(
        g,
        [("NH-1", "nursing_home", 0), ("HC-1", "health_center", 3), ("HC-2", "health_center", 30)],
    )
    raw: dict[str, pd.DataFrame] = {}
    pair(g, fac.drop(index="HC-2"), raw=raw, only=["health_partner"])
    old = raw["health_partner"]
    assert old["reachable"].tolist() == [True, False, False]
    inc = pair(g, fac, previous=raw, added=["HC-2"], only=["health_partner"])
    pd.testing.assert_frame_equal(inc, pair(g, fac, only=["health_partner"]))


def test_rule_file_problems_all_at_once(tmp_path: Path) -> None:
    """Every rule's problem in one error (issue 25: one problem collector), one line when one."""
    rules = {
        "rules": [
            {"id": "a", "from": ["nursing_home"], "to": ["nowhere"], "threshold_min": 30},
            {"id": "b", "from": ["nursing_home"], "to": ["health_center"], "threshold_min": -1},
            {"id": "c", "from": ["nursing_home"], "to": ["health_center"], "threshold_min": 5},
            {"id": "c", "from": ["day_care"], "to": ["village_clinic"], "threshold_min": 5},
        ]
    }
    with pytest.raises(PairingRuleError) as err:
        load_rules(rules)
    text = str(err.value)
    assert "3 problems" in text and "配对规则有 3 个问题" in text
    assert "rules[0] (a): to: unknown kind 'nowhere'" in text
    assert "rules[1] (b): threshold_min: must be positive" in text
    assert "duplicate id 'c'" in text
    assert len(err.value.issues) == 3  # type: ignore[attr-defined]
    with pytest.raises(PairingRuleError) as one:
        load_rules({"rules": rules["rules"][1:3]})
    assert str(one.value) == "pairing rules: rules[0] (b): threshold_min: must be positive, got -1"


# --- options= (TravelOptions) --------------------------------------------------------------------


def shifted(g: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Three homes and two centres, each about 100 m north of its graph node."""
    fac = registry_at(
        g,
        [
            ("NH-1", "nursing_home", 0),
            ("NH-2", "nursing_home", 16),
            ("NH-3", "nursing_home", 30),
            ("HC-1", "health_center", 10),
            ("HC-2", "health_center", 40),
        ],
        capacity=[pd.NA, pd.NA, pd.NA, 2, 2],
    )
    fac["capacity"] = fac["capacity"].astype("Int64")
    return fac.set_geometry(fac.geometry.translate(0.0, 0.001))


@pytest.mark.parametrize("capacity", [False, True])
def test_travel_options_act_as_the_keywords(capacity: bool) -> None:
    g = grid_graph(41, one_way_share=0.0)
    fac = shifted(g)
    base = pair(None, fac, RULES_ONE, capacity=capacity)
    # detour factor: straight-line times
    kw = pair(None, fac, RULES_ONE, capacity=capacity, detour_factor=2.0)
    opt = pair(None, fac, RULES_ONE, capacity=capacity, options=TravelOptions(detour_factor=2.0))
    pd.testing.assert_frame_equal(opt, kw)
    assert not kw["travel_time_min"].equals(base["travel_time_min"])  # the option acts
    both = pair(
        None,
        fac,
        RULES_ONE,
        capacity=capacity,
        detour_factor=2.0,
        options=TravelOptions(detour_factor=3.0),
    )
    pd.testing.assert_frame_equal(both, kw)  # the keyword wins
    # snap distance: the 100 m access legs are flagged beyond 50 m
    snap_kw = pair(g, fac, RULES_ONE, capacity=capacity, max_snap_m=50.0)
    snap_opt = pair(g, fac, RULES_ONE, capacity=capacity, options=TravelOptions(max_snap_m=50.0))
    pd.testing.assert_frame_equal(snap_opt, snap_kw)
    assert snap_kw["snap_flag"].all()
    assert not pair(g, fac, RULES_ONE, capacity=capacity)["snap_flag"].any()
    wins = pair(
        g, fac, RULES_ONE, capacity=capacity, max_snap_m=500.0, options=TravelOptions(max_snap_m=50)
    )
    assert not wins["snap_flag"].any()


def test_travel_options_direction_is_the_rules() -> None:
    g = grid_graph(42, one_way_share=0.5)
    fac = registry_at(
        g,
        [("NH-1", "nursing_home", 0), ("NH-2", "nursing_home", 24), ("HC-1", "health_center", 48)],
    )
    to = pair(g, fac, RULES_ONE)
    back = pair(g, fac, RULES_ONE, direction="from_partner")
    assert not to["travel_time_min"].equals(back["travel_time_min"])  # one-way streets
    # a rule's direction (or direction=) decides, never options.direction
    opts = TravelOptions(direction="from_facility")
    pd.testing.assert_frame_equal(pair(g, fac, RULES_ONE, options=opts), to)
    pd.testing.assert_frame_equal(
        pair(g, fac, RULES_ONE, options=opts, direction="from_partner"), back
    )


def test_incremental_pairing_uses_the_options_snap_distance() -> None:
    g = grid_graph(43)
    fac = shifted(g)
    opts = TravelOptions(max_snap_m=50.0)
    raw: dict[str, pd.DataFrame] = {}
    pair(g, fac.drop(index=["HC-2", "NH-3"]), RULES_ONE, raw=raw, options=opts)
    full = pair(g, fac, RULES_ONE, options=opts)
    inc = pair(g, fac, RULES_ONE, previous=raw, added=["HC-2", "NH-3"], options=opts)
    pd.testing.assert_frame_equal(inc, full)
    assert full["snap_flag"].all()


def test_travel_options_of_a_wrong_type_are_refused() -> None:
    g = grid_graph(44)
    fac = shifted(g)
    with pytest.raises(TypeError, match="options must be a TravelOptions, got dict"):
        pair(g, fac, RULES_ONE, options={"max_snap_m": 50.0})  # type: ignore[arg-type]
