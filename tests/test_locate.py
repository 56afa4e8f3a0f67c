"""Tests of siting.locate: hand-worked optima, spopt cross-checks, statuses, the Xuanhan run."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

# spopt (with PuLP's bundled CBC) is the baseline of the cross-checks: a dev dependency, imported
# here so that a missing install fails loudly instead of skipping.
import pulp
import pytest
from shapely import Point
from spopt.locate import LSCP, MCLP, PMedian

import siting
from siting import costs, locate
from siting.costs import TravelOptions
from siting.locate import (
    LocateError,
    LocateInfeasibleError,
    lscp,
    mclp,
    p_median,
    pairs_from_matrix,
)

# --- hand-worked instances -----------------------------------------------------------------------

#  demand 0 is reached by site 0 only, demand 1 by sites 1 and 2, demand 2 by site 2 only
#  (within 2): the fewest sites covering all are {0, 2}.
COVER = np.array([[1.0, 9.0, 9.0], [9.0, 1.0, 1.0], [9.0, 9.0, 1.0]])


def test_lscp_hand_worked() -> None:
    sol = lscp(pairs_from_matrix(COVER), 2)
    assert sol.status == "optimal"
    assert sol.optimal
    assert sol.objective == 2.0
    assert sol.chosen.tolist() == [0, 2]
    assert sol.gap == 0.0
    assert sol.assignment.tolist() == [0, 2, 2]


def test_lscp_fixed_sites_are_open_and_not_counted() -> None:
    # site 2 exists: demand 1 and 2 are covered, only site 0 is needed
    sol = lscp(pairs_from_matrix(COVER), 2, fixed=[False, False, True])
    assert sol.objective == 1.0
    assert sol.chosen.tolist() == [0]
    assert sol.open.tolist() == [True, False, True]


def test_lscp_infeasible_is_reported_not_optimal() -> None:
    matrix = COVER.copy()
    matrix[2] = [9.0, 9.0, 9.0]  # demand 2: no site within 2
    sol = lscp(pairs_from_matrix(matrix), 2)
    assert sol.status == "infeasible"
    assert not sol.optimal
    assert not sol.has_solution
    assert math.isnan(sol.objective)
    assert sol.unreachable.tolist() == [2]


def test_mclp_hand_worked() -> None:
    # one site: site 2 covers demand 1 and 2 (20 + 5), site 0 only demand 0 (10)
    sol = mclp(pairs_from_matrix(COVER), [10, 20, 5], 2, 1)
    assert (sol.status, sol.objective, sol.chosen.tolist()) == ("optimal", 25.0, [2])
    # two sites cover everything
    assert mclp(pairs_from_matrix(COVER), [10, 20, 5], 2, 2).objective == 35.0


def test_mclp_fixed_sites_count_toward_coverage_not_p() -> None:
    # site 2 exists (covers 25): the one new site goes to site 0, objective 35
    sol = mclp(pairs_from_matrix(COVER), [10, 20, 5], 2, 1, fixed=[False, False, True])
    assert sol.objective == 35.0
    assert sol.chosen.tolist() == [0]


def test_mclp_does_not_open_useless_sites() -> None:
    # p = 2 but site 1 adds nothing once 2 is open; with 0 and 2, everything is covered
    sol = mclp(pairs_from_matrix(COVER), [10, 20, 5], 2, 3)
    assert sol.objective == 35.0
    assert sol.chosen.tolist() == [0, 2]


def test_p_median_hand_worked() -> None:
    matrix = np.array([[1.0, 4.0, 9.0], [4.0, 1.0, 9.0], [9.0, 9.0, 1.0]])
    # p=2: {0,2}: 2*1 + 1*4 + 2*1 = 8; {1,2}: 2*4 + 1 + 2 = 11; {0,1}: 2 + 1 + 18 = 21
    sol = p_median(pairs_from_matrix(matrix), [2, 1, 2], 2)
    assert (sol.status, sol.objective, sol.chosen.tolist()) == ("optimal", 8.0, [0, 2])
    assert sol.assignment.tolist() == [0, 0, 2]
    assert sol.assigned_cost.tolist() == [1.0, 4.0, 1.0]
    # site 1 exists: one new site; {1} + 0: 2 + 1 + 18 = 21; {1} + 2: 8 + 1 + 2 = 11
    fixed = p_median(pairs_from_matrix(matrix), [2, 1, 2], 1, fixed=[False, True, False])
    assert fixed.objective == 11.0
    assert fixed.chosen.tolist() == [2]
    assert fixed.assignment.tolist() == [1, 1, 2]


def test_p_median_cutoff_certificate_flags_excluded_pairs() -> None:
    matrix = np.array([[1.0, 10.0], [10.0, 1.0]])
    weights = [1.0, 5.0]
    # cutoff 5 leaves out (0, 1) and (1, 0): the relaxation opens site 1 and prices demand 0's
    # trip at the cutoff, a lower bound: flagged, never optimal
    cut = p_median(pairs_from_matrix(matrix, cutoff=5), weights, 1)
    assert cut.status == "cutoff_limited"
    assert not cut.optimal
    assert cut.beyond_cutoff.tolist() == [0]
    assert cut.objective <= 15.0
    # with every pair the same choice is proven optimal at its true cost 10 + 5
    full = p_median(pairs_from_matrix(matrix), weights, 1)
    assert (full.status, full.objective, full.chosen.tolist()) == ("optimal", 15.0, [1])


def test_p_median_capacities_respected() -> None:
    # three demand points of 4 next to site 0; site 1 farther for all; capacity 8 each
    matrix = np.array([[1.0, 5.0], [1.0, 6.0], [1.0, 7.0]])
    weights = np.array([4.0, 4.0, 4.0])
    free = p_median(pairs_from_matrix(matrix), weights, 2)
    assert free.objective == 12.0
    assert free.chosen.tolist() == [0]  # site 1 would serve nobody
    capped = p_median(pairs_from_matrix(matrix), weights, 2, capacity=[8.0, 8.0])
    assert capped.status == "optimal"
    # the cheapest to move is demand 0 (5 - 1 = 4 per person): 4*1 + 4*1 + 4*5
    assert capped.objective == 28.0
    assert capped.assignment.tolist() == [1, 0, 0]
    load = np.bincount(capped.assignment, weights=weights, minlength=2)
    assert (load <= 8.0).all()
    infeasible = p_median(pairs_from_matrix(matrix), weights, 2, capacity=[4.0, 4.0])
    assert infeasible.status == "infeasible"
    assert not infeasible.has_solution


def test_time_limit_is_reported_not_optimal() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.uniform(1, 60, size=(250, 60))
    weights = rng.integers(1, 100, size=250).astype(float)
    capacity = np.full(60, weights.sum() / 8)
    sol = p_median(pairs_from_matrix(matrix), weights, 10, capacity=capacity, time_limit_s=0.01)
    assert sol.status in ("time_limit", "no_solution")
    assert not sol.optimal
    assert "time limit" in sol.solver_status.lower()
    if sol.has_solution:
        assert sol.gap > 0


def test_arguments_are_checked() -> None:
    pairs = pairs_from_matrix(COVER)
    with pytest.raises(LocateError, match="p=4 exceeds"):
        mclp(pairs, [1, 1, 1], 2, 4)
    with pytest.raises(LocateError, match="weights has 2"):
        mclp(pairs, [1, 1], 2, 1)
    with pytest.raises(LocateError, match="mip_gap"):
        lscp(pairs, 2, mip_gap=1.5)
    with pytest.raises(LocateError, match="time_limit_s"):
        lscp(pairs, 2, time_limit_s=0)
    with pytest.raises(LocateError, match="negative"):
        pairs_from_matrix([[-1.0]])


# --- cross-checks against spopt ------------------------------------------------------------------


def _instance(seed: int, n_dem: int = 40, n_fac: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Demand and sites on a 10 km square, costs = Manhattan minutes at 30 km/h."""
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 10_000, size=(n_dem, 2))
    fac = rng.uniform(0, 10_000, size=(n_fac, 2))
    dist = np.abs(dem[:, None, :] - fac[None, :, :]).sum(axis=2)
    minutes = np.round(dist / 500.0, 3)  # 30 km/h = 500 m/min
    weights = rng.integers(10, 500, size=n_dem).astype(float)
    return minutes, weights


@contextlib.contextmanager
def _pulp_v4_deprecations() -> Iterator[None]:
    """PuLP 3.3 warns (DeprecationWarning, "... PuLP 4.0 ...") on the API spopt 0.7 uses
    (``LpVariable(...)``, ``PULP_CBC_CMD``): ignore exactly those, around the baseline only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*PuLP 4\.0", category=DeprecationWarning)
        yield


def _spopt(model: Callable[[], Any]) -> Any:
    """Build a spopt model and solve it with spopt's default solver (PuLP's bundled CBC)."""
    with _pulp_v4_deprecations():
        return model().solve(pulp.PULP_CBC_CMD(msg=False))


def _value(solved: Any) -> float:
    with _pulp_v4_deprecations():
        return float(solved.problem.objective.value())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lscp_matches_spopt(seed: int) -> None:
    minutes, _ = _instance(seed)
    radius = float(np.sort(minutes.min(axis=1))[-1]) + 4.0  # every demand point coverable
    ours = lscp(pairs_from_matrix(minutes), radius)
    theirs = _spopt(lambda: LSCP.from_cost_matrix(minutes, radius))
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_value(theirs))
    # with two sites fixed (spopt: predefined, counted in its objective)
    fixed = np.zeros(minutes.shape[1], dtype=bool)
    fixed[[0, 5]] = True
    ours_f = lscp(pairs_from_matrix(minutes), radius, fixed=fixed)
    theirs_f = _spopt(
        lambda: LSCP.from_cost_matrix(minutes, radius, predefined_facilities_arr=fixed.astype(int))
    )
    assert ours_f.objective + 2 == pytest.approx(_value(theirs_f))
    assert ours_f.open[[0, 5]].all()


@pytest.mark.parametrize(("seed", "p"), [(1, 2), (2, 3), (3, 4)])
def test_mclp_matches_spopt(seed: int, p: int) -> None:
    minutes, weights = _instance(seed)
    radius = 8.0
    ours = mclp(pairs_from_matrix(minutes), weights, radius, p)
    theirs = _spopt(lambda: MCLP.from_cost_matrix(minutes, weights, radius, p_facilities=p))
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_value(theirs))
    covered = (minutes[:, ours.open] <= radius).any(axis=1)
    assert float(weights[covered].sum()) == pytest.approx(ours.objective)
    # existing sites fixed: spopt's p counts them
    fixed = np.zeros(minutes.shape[1], dtype=bool)
    fixed[[1, 7]] = True
    ours_f = mclp(pairs_from_matrix(minutes), weights, radius, p, fixed=fixed)
    theirs_f = _spopt(
        lambda: MCLP.from_cost_matrix(
            minutes,
            weights,
            radius,
            p_facilities=p + 2,
            predefined_facilities_arr=fixed.astype(int),
        )
    )
    assert ours_f.objective == pytest.approx(_value(theirs_f))


@pytest.mark.parametrize(("seed", "p"), [(1, 2), (2, 3), (3, 4)])
def test_p_median_matches_spopt(seed: int, p: int) -> None:
    minutes, weights = _instance(seed, n_dem=30, n_fac=10)
    expected = _value(_spopt(lambda: PMedian.from_cost_matrix(minutes, weights, p_facilities=p)))
    ours = p_median(pairs_from_matrix(minutes), weights, p)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(expected, rel=1e-9)
    # with a cutoff the model is a relaxation: certified optimal (no demand point priced at
    # the cutoff) with the same objective, or flagged with an objective that is a lower bound
    statuses = set()
    for cut in (0.6, 1.0, 2.0):
        pairs = pairs_from_matrix(minutes, cutoff=cut * float(np.max(ours.assigned_cost)))
        ours_cut = p_median(pairs, weights, p)
        statuses.add(ours_cut.status)
        if ours_cut.status == "optimal":
            assert not len(ours_cut.beyond_cutoff)
            assert ours_cut.objective == pytest.approx(expected, rel=1e-9)
        else:
            assert ours_cut.status == "cutoff_limited"
            assert not ours_cut.optimal
            assert len(ours_cut.beyond_cutoff)
            assert ours_cut.objective <= expected * (1 + 1e-9)
    assert "optimal" in statuses
    # fixed sites (spopt: predefined, inside p)
    fixed = np.zeros(minutes.shape[1], dtype=bool)
    fixed[[2]] = True
    ours_f = p_median(pairs_from_matrix(minutes), weights, p, fixed=fixed)
    theirs_f = _spopt(
        lambda: PMedian.from_cost_matrix(
            minutes, weights, p_facilities=p + 1, predefined_facilities_arr=fixed.astype(int)
        )
    )
    assert ours_f.objective == pytest.approx(_value(theirs_f), rel=1e-9)


def test_capacitated_p_median_matches_spopt() -> None:
    minutes, weights = _instance(4, n_dem=20, n_fac=8)
    capacity = np.full(8, weights.sum() / 2.5)
    theirs = _spopt(
        lambda: PMedian.from_cost_matrix(
            minutes, weights, p_facilities=3, facility_capacities=capacity
        )
    )
    ours = p_median(pairs_from_matrix(minutes), weights, 3, capacity=capacity)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_value(theirs), rel=1e-9)
    load = np.bincount(ours.assignment, weights=weights, minlength=8)
    assert (load <= capacity + 1e-9).all()


# --- recommend on a small network ----------------------------------------------------------------


def _points(coords: dict[str, tuple[float, float]], **cols: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        dict(cols),
        geometry=[Point(xy) for xy in coords.values()],
        index=pd.Index(list(coords), name="id"),
        crs="EPSG:4326",
    )


def test_recommend_user_candidates_straight_line() -> None:
    # villages along a line, 0.1 degree (about 9.6 km) apart; one existing clinic at the west end
    lon0, lat = 106.0, 30.8
    villages = _points(
        {f"v{i}": (lon0 + 0.1 * i, lat) for i in range(5)},
        pop_60plus=[100, 100, 100, 300, 300],
        population_source=["modelled"] * 5,
    )
    existing = _points({"HC-1": (lon0, lat)}, kind=["health_center"], name=["一号卫生院"])
    sites = _points(
        {f"s{i}": (lon0 + 0.1 * i, lat) for i in range(1, 5)},
        name=[f"候选{i}" for i in range(1, 5)],
    )
    res = locate.recommend(
        None,
        None,
        existing,
        villages,
        model="mclp",
        p=1,
        threshold_min=15,
        candidates=sites,
    )
    assert res.status == "optimal"
    # straight line: 9.6 km * detour / speed; v3 and v4 (600 people) are best served from s3/s4
    rec = res.recommendations
    assert list(rec.columns) == list(locate.RECOMMENDATION_COLUMNS)
    assert len(rec) == 1
    assert rec["source"].tolist() == ["user"]
    assert rec["population_source"].tolist() == ["modelled"]
    assert rec["method"].tolist() == ["straight_line"]
    assert res.coverage_after > res.coverage_before
    gained = res.pop_covered_after - res.pop_covered_before
    assert rec["newly_covered_pop"].sum() == pytest.approx(gained)
    # the existing clinic is never proposed and every new site is a candidate
    assert set(rec["site_id"]) <= set(sites.index)


def test_recommend_lscp_infeasible_raises_with_result() -> None:
    villages = _points(
        {"v0": (106.0, 30.8), "far": (107.5, 30.8)},
        pop_60plus=[10, 10],
    )
    sites = _points({"s0": (106.01, 30.8)})
    with pytest.raises(LocateInfeasibleError, match="LSCP is infeasible") as info:
        locate.recommend(
            None, None, None, villages, model="lscp", threshold_min=30, candidates=sites
        )
    result = info.value.result
    assert result is not None
    assert result.status == "infeasible"
    assert not result.optimal
    assert result.unreachable == ["far"]


def test_recommend_arguments_are_checked() -> None:
    villages = _points({"v0": (106.0, 30.8)}, pop_60plus=[10])
    sites = _points({"s0": (106.01, 30.8)})
    with pytest.raises(LocateError, match="model must be one of"):
        locate.recommend(None, None, None, villages, model="pmedian", p=1, candidates=sites)
    with pytest.raises(LocateError, match="needs p"):
        locate.recommend(None, None, None, villages, model="mclp", candidates=sites)
    with pytest.raises(LocateError, match="p is not used"):
        locate.recommend(None, None, None, villages, model="lscp", p=2, candidates=sites)
    with pytest.raises(LocateError, match="needs a region"):
        locate.recommend(None, None, None, villages, model="lscp")
    with pytest.raises(LocateError, match="no column 'pop_80plus'"):
        locate.recommend(
            None, None, None, villages, model="lscp", candidates=sites, pop_column="pop_80plus"
        )
    with pytest.raises(LocateError, match="capacity is supported by model='p_median'"):
        locate.recommend(
            None, None, None, villages, model="mclp", p=1, candidates=sites, capacity=10
        )


# --- built-in Xuanhan data -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def xuanhan(
    xuanhan: siting.Region, xuanhan_network: Any, xuanhan_registry: gpd.GeoDataFrame
) -> tuple[siting.Region, object, gpd.GeoDataFrame]:
    """The shared Xuanhan fixtures (tests/conftest.py) as region, graph arrays and registry."""
    return xuanhan, costs._arrays(xuanhan_network), xuanhan_registry


TOWNSHIP_TIER = ("health_center", "community_health_center")


def test_xuanhan_mclp(xuanhan, tmp_path) -> None:  # type: ignore[no-untyped-def]
    region, network, registry = xuanhan
    res = locate.recommend(
        region,
        network,
        registry,
        region.villages,
        model="mclp",
        p=3,
        threshold_min=15,
        kind="health_center",
        candidates="villages",
    )
    assert res.status == "optimal"
    assert res.gap == 0.0
    assert res.coverage_after >= res.coverage_before
    # every existing facility of the township tier counts: 卫生院 and 社区卫生服务中心
    assert res.existing_kinds == TOWNSHIP_TIER
    assert res.n_existing == int(registry["kind"].isin(TOWNSHIP_TIER).sum())
    assert res.n_existing > int((registry["kind"] == "health_center").sum())
    rec = res.recommendations
    assert 1 <= len(rec) <= 3
    assert rec["rank"].tolist() == list(range(1, len(rec) + 1))
    assert (rec["source"] == "village").all()
    assert set(rec["site_id"]) <= set(region.villages.index)
    # no new 卫生院 in a 街道 its 社区卫生服务中心 serves
    town_type = rec["township_code"].astype(str).map(region.townships["town_type"])
    assert town_type.notna().all() and (town_type != "街道").all()
    streets = region.villages["township_code"].map(region.townships["town_type"]) == "街道"
    assert set(region.villages.index[streets]) <= set(res.served_candidates)
    assert (rec["population_source"] == "modelled").all()
    assert rec["newly_covered_pop"].is_monotonic_decreasing
    assert rec["newly_covered_pop"].sum() == pytest.approx(
        res.pop_covered_after - res.pop_covered_before
    )
    assert res.objective == pytest.approx(res.pop_covered_after)
    # the coverage before is that of siting.coverage's township tier on the same network
    cov = siting.coverage.covered_population_by_tier(
        network, region.villages, registry, tiers="township", thresholds_min=15, by=[]
    )
    assert res.pop_column == cov["pop_column"].iloc[0] == "pop_60plus"
    assert res.coverage_before == pytest.approx(float(cov["share_covered"].iloc[-1]))
    before, after = f"{res.coverage_before * 100:.1f}%", f"{res.coverage_after * 100:.1f}%"
    assert res.sentence_zh.startswith(f"新增{len(rec)}处乡镇卫生院后，15分钟覆盖率由{before}升至")
    assert after in res.sentence_zh
    assert "模拟" in res.sentence_zh
    assert res.sentence_en.startswith(f"After adding {len(rec)} township health centre")
    csv, js = locate.write(res, tmp_path / "out")
    assert csv.name == "recommendations.csv"
    back = pd.read_csv(csv, encoding="utf-8-sig", dtype={"site_id": str})
    assert back["site_id"].tolist() == rec["site_id"].tolist()
    payload = json.loads(js.read_text(encoding="utf-8"))
    assert payload["status"] == "optimal"
    assert payload["sentence_zh"] == res.sentence_zh
    assert len(payload["recommendations"]) == len(rec)
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_xuanhan_no_new_health_centre_where_the_tier_already_serves(xuanhan) -> None:  # type: ignore[no-untyped-def]
    region, network, registry = xuanhan
    streets = region.townships.index[region.townships["town_type"] == "街道"].astype(str)
    centres = registry[registry["kind"] == "community_health_center"]
    assert set(centres["township_code"].astype(str)) == set(streets)  # each 街道 has its 中心
    kw: dict[str, Any] = {"model": "mclp", "p": 5, "threshold_min": 30, "kind": "health_center"}
    res = locate.recommend(region, network, registry, **kw)
    # every township seat already has its 卫生院 or 社区卫生服务中心: nothing to add there
    assert res.recommendations.empty
    assert set(res.served_candidates) == set(region.townships.index)
    assert "候选点均不能再提高" in res.sentence_zh
    assert res.summary()["existing_kinds"] == list(TOWNSHIP_TIER)
    # the 中心 are what keeps the 街道 out: without them a new 卫生院 goes to a 街道
    without = registry[registry["kind"] != "community_health_center"]
    res_without = locate.recommend(region, network, without, **kw)
    assert set(res_without.recommendations["site_id"].astype(str)) & set(streets)
    # a new 社区卫生服务中心 counts the 卫生院 as covering too (the same tier)
    chc = locate.recommend(region, network, registry, **{**kw, "kind": "community_health_center"})
    assert chc.n_existing == res.n_existing and chc.coverage_before == res.coverage_before


def test_recommend_counts_every_facility_of_the_tier() -> None:
    # villages on a line; a 社区卫生服务中心 at v0 and a 村卫生室 at v3: a new 卫生院 counts the
    # 中心 as covering (same tier), never the 村卫生室 (village tier)
    lon0, lat = 106.0, 30.8
    villages = _points(
        {f"v{i}": (lon0 + 0.1 * i, lat) for i in range(4)},
        pop_60plus=[100, 100, 100, 300],
        township_code=["t0", "t0", "t1", "t1"],
    )
    existing = _points(
        {"CHC-1": (lon0, lat), "VC-1": (lon0 + 0.3, lat)},
        kind=["community_health_center", "village_clinic"],
        name=["一中心", "一村卫生室"],
    )
    sites = _points({f"s{i}": (lon0 + 0.1 * i, lat) for i in range(4)})
    res = locate.recommend(
        None, None, existing, villages, model="mclp", p=1, threshold_min=5, candidates=sites
    )
    assert res.n_existing == 1 and res.existing_kinds == TOWNSHIP_TIER
    assert res.pop_covered_before == 100  # v0, at the 中心
    assert res.recommendations["site_id"].tolist() == ["s3"]  # v3's 村卫生室 does not count
    clinic = locate.recommend(
        None, None, existing, villages, model="mclp", p=1, threshold_min=5, candidates=sites,
        kind="community_health_station",
    )  # fmt: skip
    assert clinic.n_existing == 1 and clinic.pop_covered_before == 300  # v3, at the 村卫生室


def test_xuanhan_p_median_and_lscp(xuanhan) -> None:  # type: ignore[no-untyped-def]
    region, network, registry = xuanhan
    res = locate.recommend(region, network, registry, model="p_median", p=2, threshold_min=30)
    assert res.status == "optimal"
    assert res.cutoff_exact
    assert res.mean_time_after_min < res.mean_time_before_min
    assert res.recommendations["assigned_demand_pop"].gt(0).all()
    # the objective is the weighted time of every village to its nearest open facility
    opened = pd.concat(
        [
            registry[registry["kind"].isin(TOWNSHIP_TIER)].geometry,
            region.townships.loc[res.recommendations["site_id"]].geometry,
        ]
    )
    sites = gpd.GeoDataFrame(geometry=opened.to_numpy(), crs="EPSG:4326")
    near = costs.nearest(network, region.villages, sites, k=1)
    true = float((near["time_s"].to_numpy() / 60 * region.villages["pop_60plus"]).sum())
    assert res.objective == pytest.approx(true, rel=1e-9)
    # LSCP from the villages covers everything
    lscp_res = locate.recommend(
        region, network, registry, model="lscp", threshold_min=30, candidates="villages"
    )
    assert lscp_res.status == "optimal"
    assert lscp_res.coverage_after == pytest.approx(1.0)
    assert len(lscp_res.recommendations) == lscp_res.objective


def test_xuanhan_colocation(xuanhan) -> None:  # type: ignore[no-untyped-def]
    region, network, registry = xuanhan
    out = locate.colocation(registry, region, distance_m=500, network=network)
    assert list(out.columns) == list(locate.COLOCATION_COLUMNS)
    health = registry[registry["kind"].isin(["health_center", "community_health_center"])]
    homes = registry[registry["kind"] == "nursing_home"]
    # brute force: distance of every health centre to every nursing home in the metric CRS
    hm = health.geometry.to_crs(32648)
    nm = homes.geometry.to_crs(32648)
    nearest_m = np.array([nm.distance(g).min() for g in hm])
    lonely = set(health.index[nearest_m > 500])
    assert set(out["facility_id"]) == lonely
    assert (out["nearest_care_m"] > 500).all()
    assert out["catchment_pop"].is_monotonic_decreasing
    assert out["rank"].tolist() == list(range(1, len(out) + 1))
    # catchment: villages whose nearest health centre it is
    near = costs.nearest(network, region.villages, health, k=1)
    pop = near.groupby("facility_id")["demand_id"].agg(
        lambda ids: float(region.villages.loc[list(ids), "pop_60plus"].sum())
    )
    for fid, value in zip(out["facility_id"], out["catchment_pop"], strict=True):
        assert value == pytest.approx(float(pop.get(fid, 0.0)))
    assert (out["population_source"] == "modelled").all()
    assert out["suggestion_zh"].str.contains("两院一体").all()
    # within a wider distance fewer health centres lack a nursing home
    wide = locate.colocation(registry, region, distance_m=5000, network=network)
    assert len(wide) <= len(out)


def test_pairs_from_reach_are_exact() -> None:
    # the pairs of recommend come from costs.reach: same times as od_matrix
    villages = _points({f"v{i}": (106.0 + 0.02 * i, 30.8) for i in range(4)}, pop_60plus=[1] * 4)
    sites = gpd.GeoDataFrame(
        geometry=[Point(106.01, 30.8), Point(106.05, 30.8)], index=pd.RangeIndex(2), crs=4326
    )
    pairs = locate._reach_pairs(None, villages, sites, 10.0)
    od = costs.od_matrix(None, villages, sites, wide=True).to_numpy()
    for d, s, c in zip(pairs.demand, pairs.site, pairs.cost, strict=True):
        assert c == pytest.approx(od[d, s])
    expected = {(d, s) for d, s in itertools.product(range(4), range(2)) if od[d, s] <= 10}
    assert set(zip(pairs.demand.tolist(), pairs.site.tolist(), strict=True)) == expected


def test_cli_locate_writes_recommendations_colocation_and_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from siting import maps
    from siting.cli import main

    out = tmp_path / "loc"
    args = ["locate", "--region", "xuanhan", "--model", "mclp", "--p", "3", "--threshold", "15"]
    args += ["--kind", "health_center", "--candidates", "villages"]
    assert main([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "15分钟覆盖率由" in text and "solver status: optimal" in text
    rec = pd.read_csv(out / "recommendations.csv", encoding="utf-8-sig")
    assert 1 <= len(rec) <= 3 and (rec["population_source"] == "modelled").all()
    assert (out / "recommendations.json").is_file() and (out / "colocation.csv").is_file()
    page = (out / "maps" / "recommendations.html").read_text(encoding="utf-8")
    assert maps.remote_assets(page) == []
    with pytest.raises(SystemExit) as bad:
        main(["locate", "--region", "xuanhan", "--model", "best", "--out", str(out)])
    assert bad.value.code == 2


# --- options= (TravelOptions) --------------------------------------------------------------------


def _line_case() -> dict[str, Any]:
    """Villages every 0.1 degree (about 9.6 km) east of a clinic; candidate sites at each."""
    lon0, lat = 106.0, 30.8
    return {
        "region": None,
        "network": None,
        "facilities": _points({"HC-1": (lon0, lat)}, kind=["health_center"]),
        "demand": _points(
            {f"v{i}": (lon0 + 0.1 * i, lat) for i in range(5)}, pop_60plus=[100, 100, 100, 300, 300]
        ),
        "candidates": _points({f"s{i}": (lon0 + 0.1 * i, lat) for i in range(1, 5)}),
    }


def _same(a: locate.LocateResult, b: locate.LocateResult) -> None:
    pd.testing.assert_frame_equal(a.recommendations, b.recommendations)
    drop = ("solve_time_s",)  # the only field that may differ between two equal solves
    assert {k: v for k, v in a.summary().items() if k not in drop} == {
        k: v for k, v in b.summary().items() if k not in drop
    }


@pytest.mark.parametrize(("model", "p"), [("mclp", 1), ("p_median", 2), ("lscp", None)])
def test_recommend_travel_options_act_as_the_settings(
    model: str, p: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _line_case()
    run: Callable[..., locate.LocateResult] = lambda **kw: locate.recommend(  # noqa: E731
        **case, model=model, p=p, threshold_min=25, **kw
    )
    base = run()
    opt = run(options=TravelOptions(detour_factor=2.0))
    assert opt.coverage_before < base.coverage_before  # the detour factor acts
    # recommend has no detour_factor keyword: the same value from siting.settings is the same run
    monkeypatch.setattr(siting.settings, "detour_factor", 2.0)
    _same(opt, run())


def test_recommend_direction_from_options_and_keyword() -> None:
    import networkx as nx

    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node("a", x=106.0, y=30.8)
    g.add_node("b", x=106.01, y=30.8)
    g.add_edge("a", "b", travel_time=60.0, length=1000.0)  # one way: a -> b
    case = {
        "region": None,
        "network": g,
        "facilities": None,
        "demand": _points({"v": (106.0, 30.8)}, pop_60plus=[10]),
        "candidates": _points({"s": (106.01, 30.8)}),
        "model": "lscp",
        "threshold_min": 2,
    }
    back = TravelOptions(direction="from_facility")
    assert locate.recommend(**case).status == "optimal"  # v -> s in one minute
    with pytest.raises(LocateInfeasibleError):  # s -> v: no road
        locate.recommend(**case, options=back)
    with pytest.raises(LocateInfeasibleError):
        locate.recommend(**case, direction="from_facility")
    _same(locate.recommend(**case, options=back, direction="to_facility"), locate.recommend(**case))


def test_locate_travel_options_of_a_wrong_type_are_refused() -> None:
    with pytest.raises(TypeError, match="options must be a TravelOptions, got dict"):
        bad: Any = {"detour_factor": 2.0}
        locate.recommend(**_line_case(), model="mclp", p=1, options=bad)
    with pytest.raises(TypeError, match="options must be a TravelOptions, got str"):
        locate.colocation(_line_case()["facilities"], None, options="fast")  # type: ignore[arg-type]


def test_colocation_travel_options_direction(xuanhan) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    import networkx as nx

    g = nx.MultiDiGraph(crs="EPSG:4326")
    for node, lon in (("a", 107.5), ("b", 107.52), ("c", 107.54)):
        g.add_node(node, x=lon, y=31.5)
    g.add_edge("a", "b", travel_time=60.0, length=1000.0)  # one way: a -> b -> c
    g.add_edge("b", "c", travel_time=60.0, length=1000.0)
    health = _points(
        {"HC-a": (107.5, 31.5), "HC-c": (107.54, 31.5)},
        kind=["health_center"] * 2,
        name=["甲卫生院", "丙卫生院"],
    )
    villages = _points(
        {"V-b": (107.52, 31.5)},
        pop_60plus=[70],
        county_code=["511722"],
        township_code=["511722001"],
        population_source=["modelled"],
    )
    region = dataclasses.replace(xuanhan[0], villages=villages)

    def catchments(**kw: Any) -> dict[str, float]:
        out = locate.colocation(health, region, network=g, **kw)
        return dict(zip(out["facility_id"], out["catchment_pop"], strict=True))

    # to the health centre, V-b reaches HC-c only; from it, HC-a only
    assert catchments() == {"HC-c": 70.0, "HC-a": 0.0}
    back = catchments(options=TravelOptions(direction="from_facility", detour_factor=2.0))
    assert back == {"HC-a": 70.0, "HC-c": 0.0}
