"""Patrol routes and schedules: exact optimum against brute force, gaps, frequencies, doctors."""

from __future__ import annotations

import itertools
import math
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from graphs import patrol_grid_graph as grid_graph
from shapely import points

from siting import pairing, patrol
from siting.patrol import PatrolError, plan, solve_routes

LON0, LAT0 = 106.08, 30.80
STEP = 0.01


def registry_at(g: nx.MultiDiGraph, rows: list[tuple[str, str, Any]], **extra: Any) -> Any:
    """Facilities exactly at graph nodes: rows of (id, kind, node)."""
    data: dict[str, Any] = {
        "name": [f"{r[0]}名" for r in rows],
        "kind": [r[1] for r in rows],
        **extra,
    }
    geom = points([g.nodes[r[2]]["x"] for r in rows], [g.nodes[r[2]]["y"] for r in rows])
    return gpd.GeoDataFrame(data, geometry=geom, index=pd.Index([r[0] for r in rows]), crs=4326)


def brute_force(t: np.ndarray) -> float:
    """Least travel time of a tour from node 0 through every other node and back."""
    n = len(t)
    best = math.inf
    for perm in itertools.permutations(range(1, n)):
        path = (0, *perm, 0)
        best = min(best, sum(t[a, b] for a, b in itertools.pairwise(path)))
    return best


def road_times(g: nx.MultiDiGraph, nodes: list[int]) -> np.ndarray:
    """Fastest times (s) among graph nodes, by networkx."""
    simple = nx.DiGraph()
    for u, v, d in g.edges(data=True):
        if not simple.has_edge(u, v) or simple[u][v]["w"] > d["travel_time"]:
            simple.add_edge(u, v, w=d["travel_time"])
    out = np.zeros((len(nodes), len(nodes)))
    for a, u in enumerate(nodes):
        dist = nx.single_source_dijkstra_path_length(simple, u, weight="w")
        for b, v in enumerate(nodes):
            out[a, b] = dist[v]
    return out


# --- the solver ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [7, 8, 9])
@pytest.mark.parametrize("seed", [0, 1])
def test_solve_routes_is_exact_for_small_instances(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20_000, (n + 1, 2))
    t = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) / 10.0
    t *= rng.uniform(1.0, 1.3, t.shape)  # asymmetric
    np.fill_diagonal(t, 0.0)
    service = np.full(n + 1, 600.0)
    best = brute_force(t)
    exact = solve_routes(t, service, day_s=24 * 3600)
    assert exact.solver == "exact"
    assert exact.dropped == ()
    assert sorted(exact.routes[0]) == list(range(1, n + 1))
    assert exact.travel_s == pytest.approx(best, rel=1e-12)
    if n <= 8:  # OR-Tools' guided local search finds it too on these sizes
        ort = solve_routes(t, service, day_s=24 * 3600, exact_max_stops=0)
        assert ort.solver == "ortools"
        assert ort.travel_s == pytest.approx(best, abs=n * 1e-3)


def test_solve_routes_drops_what_does_not_fit_and_serves_the_most() -> None:
    # a star: every stop 10 min from the depot, 20 min from each other, 60 min service
    n = 6
    t = np.full((n + 1, n + 1), 1200.0)
    t[0, :] = t[:, 0] = 600.0
    np.fill_diagonal(t, 0.0)
    service = np.full(n + 1, 3600.0)
    # a day of 4 h 30: 3 stops take 10 + 20 + 20 + 10 min + 3 h = 4 h
    sol = solve_routes(t, service, day_s=4.5 * 3600)
    assert len(sol.routes[0]) == 3
    assert len(sol.dropped) == 3
    assert sol.span_s <= 4.5 * 3600
    two = solve_routes(t, service, day_s=4.5 * 3600, vehicles=2)
    assert two.solver == "ortools"
    assert sum(len(r) for r in two.routes) == 6
    assert two.dropped == ()


def test_solve_routes_checks_its_arguments() -> None:
    with pytest.raises(PatrolError, match="square"):
        solve_routes(np.zeros((2, 3)), [0, 0], day_s=100)
    with pytest.raises(PatrolError, match="service_s"):
        solve_routes(np.zeros((2, 2)), [0], day_s=100)
    with pytest.raises(PatrolError, match="vehicles"):
        solve_routes(np.zeros((2, 2)), [0, 0], day_s=100, vehicles=0)


# --- plans on hand-made graphs -------------------------------------------------------------------


def test_route_of_one_day_is_the_exact_optimum() -> None:
    g = grid_graph(3)
    nodes = [14, 0, 5, 30, 35, 9, 26, 20, 3]  # the clinic, then 8 stops
    rows = [("VC-1", "village_clinic", nodes[0])]
    rows += [(f"DC-{i}", "day_care", v) for i, v in enumerate(nodes[1:], start=1)]
    fac = registry_at(g, rows)
    best = brute_force(road_times(g, nodes))
    for exact_max in (9, 0):
        p = plan(
            g,
            fac,
            horizon_days=1,
            day_hours=20.0,
            start="02:00",
            service_min=10.0,
            exact_max_stops=exact_max,
        )
        assert len(p.routes) == 1
        assert p.routes["stops"].iloc[0] == 8
        assert p.routes["travel_min"].iloc[0] * 60 == pytest.approx(best, abs=0.01)
        assert p.visits["leg_min"].sum() * 60 == pytest.approx(best, abs=0.5)  # rounded legs
        assert p.routes["solver"].iloc[0] == ("exact" if exact_max else "ortools")


def test_visit_that_cannot_fit_in_a_day_is_reported_with_the_reason() -> None:
    g = grid_graph(4)
    g.add_node(99, x=LON0 + 0.5, y=LAT0)
    g.add_edge(5, 99, travel_time=5 * 3600.0, length=200_000.0)
    g.add_edge(99, 5, travel_time=5 * 3600.0, length=200_000.0)
    g.add_node(98, x=LON0 - 0.5, y=LAT0)  # no road at all
    fac = registry_at(
        g,
        [
            ("VC-1", "village_clinic", 0),
            ("DC-near", "day_care", 7),
            ("DC-far", "day_care", 99),
            ("HH-lost", "happiness_home", 98),
        ],
    )
    p = plan(g, fac)
    gaps = p.gaps.set_index(["facility_id", "gap"])
    far = gaps.loc[("DC-far", "exceeds_day")]
    assert "超过每日工作时间480分钟" in far["reason"]
    assert "more than the 480-minute working day" in far["reason_en"]
    assert not far["scheduled"]
    assert ("DC-far", "beyond_threshold") in gaps.index
    lost = gaps.loc[("HH-lost", "no_clinic")]
    assert lost["clinic_id"] is None or pd.isna(lost["clinic_id"])
    assert set(p.visits.loc[p.visits["stop"] == "visit", "facility_id"]) == {"DC-near"}
    assert "DC-near" not in set(p.gaps["facility_id"])
    cov = patrol.coverage_gaps(p)
    assert set(cov["facility_id"]) == {"DC-far", "HH-lost"}
    assert (cov["gap_type"] == "patrol").all()
    assert cov.set_index("facility_id").loc["HH-lost", "reachable"] == False  # noqa: E712


def test_frequencies_give_the_right_visits_on_the_right_days() -> None:
    g = grid_graph(5)
    fac = registry_at(
        g,
        [
            ("VC-1", "village_clinic", 14),
            ("DC-1", "day_care", 15),
            ("HH-1", "happiness_home", 20),
            ("CC-1", "care_complex", 8),
            ("DC-2", "day_care", 13),
        ],
    )
    freq = {"day_care": "weekly", "happiness_home": "fortnightly", "care_complex": "monthly"}
    p = plan(g, fac, frequency=freq, start_date="2026-03-02")
    v = p.visits[p.visits["stop"] == "visit"]
    days = v.groupby("facility_id")["day"].apply(sorted).to_dict()
    assert len(days["DC-1"]) == 4 and len(days["DC-2"]) == 4
    for fid in ("DC-1", "DC-2"):  # weekly: the same weekday every week
        assert np.diff(days[fid]).tolist() == [5, 5, 5]
        assert v.loc[v["facility_id"] == fid, "weekday"].nunique() == 1
    assert len(days["HH-1"]) == 2 and days["HH-1"][1] - days["HH-1"][0] == 10
    assert v.loc[v["facility_id"] == "HH-1", "week"].tolist() in ([1, 3], [2, 4])
    assert len(days["CC-1"]) == 1
    # balance: the two weekly facilities are not on the same day
    assert days["DC-1"][0] != days["DC-2"][0]
    # dates follow the days from the Monday given
    first = v.iloc[0]
    assert (
        pd.Timestamp(first["date"]).day_name()
        == [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
        ][patrol.WEEKDAYS_ZH.index(first["weekday"])]
    )
    # a column of frequencies (Chinese names accepted)
    mine = fac[fac["kind"] != "care_complex"].assign(visits=[None, "weekly", "weekly", "每天"])
    q = plan(g, mine, frequency="visits")
    counts = q.visits[q.visits["stop"] == "visit"].groupby("facility_id").size()
    assert counts.to_dict() == {"DC-1": 4, "DC-2": 20, "HH-1": 4}
    with pytest.raises(PatrolError, match="unknown frequency 'yearly'"):
        plan(g, fac, frequency="yearly")


def hhmm(minutes: float) -> str:
    whole = round(minutes)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def test_times_of_day_add_up() -> None:
    g = grid_graph(6)
    fac = registry_at(g, [("VC-1", "village_clinic", 0), ("DC-1", "day_care", 2)])
    p = plan(g, fac, start="07:30", service_min={"day_care": 45})
    day1 = p.visits[p.visits["day"] == p.visits["day"].min()].reset_index(drop=True)
    assert day1["stop"].tolist() == ["start", "visit", "end"]
    assert day1.loc[0, "depart"] == "07:30"
    leg = day1.loc[1, "leg_min"]
    arrive = 7 * 60 + 30 + leg
    assert day1.loc[1, "arrive"] == hhmm(arrive)
    assert day1.loc[1, "depart"] == hhmm(arrive + 45)
    assert day1.loc[1, "service_min"] == 45
    assert (day1["leg_km"] >= 0).all() and day1.loc[1, "leg_km"] > 0
    totals = p.totals.set_index("clinic_id").loc["VC-1"]
    assert totals["visits"] == 4 and totals["routes"] == 4
    assert totals["hours"] == pytest.approx(
        (p.routes["travel_min"].sum() + p.routes["service_min"].sum()) / 60, abs=1e-3
    )
    assert totals["hours_per_month"] == pytest.approx(
        totals["hours"] * patrol.WORKING_DAYS_PER_MONTH / 20, abs=1e-3
    )


def test_more_doctors_split_the_load() -> None:
    g = grid_graph(7)
    rows = [("VC-1", "village_clinic", 14)]
    rows += [(f"DC-{i}", "day_care", v) for i, v in enumerate([7, 8, 13, 15, 20, 21], start=1)]
    fac = registry_at(g, rows, doctors=[2] + [None] * 6)
    # every facility every day, 2 hours each: 12 hours a day for a single doctor
    one = plan(g, fac, frequency="daily", service_min=120)
    assert (one.gaps["gap"] == "does_not_fit").any()
    assert one.routes["duration_min"].max() <= 480 + 1e-6
    for doctors in (2, "doctors"):
        p = plan(g, fac, frequency="daily", service_min=120, doctors=doctors)
        assert set(p.routes["doctor"]) == {1, 2}
        assert not (p.gaps["gap"] == "does_not_fit").any()
        per_day = p.routes.groupby(["day", "doctor"])["stops"].sum().unstack()
        assert (per_day == 3).all().all()
        assert p.routes["duration_min"].max() <= 480 + 1e-6
        assert p.totals["doctors"].tolist() == [2]
    # the same doctor visits a facility every time
    v = p.visits[p.visits["stop"] == "visit"]
    assert (v.groupby("facility_id")["doctor"].nunique() == 1).all()


def test_plans_are_deterministic() -> None:
    g = grid_graph(8)
    rows = [("VC-1", "village_clinic", 0), ("VC-2", "village_clinic", 35)]
    rows += [(f"DC-{v}", "day_care", v) for v in (1, 2, 6, 7, 12, 28, 29, 33, 34, 22, 23, 17)]
    fac = registry_at(g, rows)
    kw: dict[str, Any] = {"frequency": "daily", "service_min": 20, "exact_max_stops": 0}
    a, b = plan(g, fac, **kw), plan(g, fac, **kw)
    pd.testing.assert_frame_equal(a.visits, b.visits)
    pd.testing.assert_frame_equal(a.totals, b.totals)
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    assert_geodataframe_equal(a.routes, b.routes)
    assert a.settings["solves"]["ortools"] > 0
    assert a.settings["time_limit_hits"] == 0


def test_route_geometries_follow_the_roads_from_and_to_the_clinic() -> None:
    g = grid_graph(9)
    fac = registry_at(
        g, [("VC-1", "village_clinic", 0), ("DC-1", "day_care", 33), ("DC-2", "day_care", 17)]
    )
    p = plan(g, fac, frequency="daily")
    assert p.routes.crs.to_epsg() == 4326
    xy = {(d["x"], d["y"]): n for n, d in g.nodes(data=True)}
    clinic = (g.nodes[0]["x"], g.nodes[0]["y"])
    for line, ids in zip(p.routes.geometry, p.routes["facility_ids"], strict=True):
        coords = [tuple(c) for c in line.coords]
        assert coords[0] == pytest.approx(clinic) and coords[-1] == pytest.approx(clinic)
        on = [xy[c] for c in coords]  # every vertex is a graph node
        for u, v in itertools.pairwise(on):
            assert g.has_edge(u, v)
        for fid in ids.split("→"):
            node = {"DC-1": 33, "DC-2": 17}[fid]
            assert node in on


def test_arguments_are_checked() -> None:
    g = grid_graph(2)
    fac = registry_at(g, [("VC-1", "village_clinic", 0), ("DC-1", "day_care", 2)])
    with pytest.raises(PatrolError, match="Monday"):
        plan(g, fac, start_date="2026-03-03")
    with pytest.raises(PatrolError, match="clock time"):
        plan(g, fac, start="8h")
    with pytest.raises(PatrolError, match="day_hours"):
        plan(g, fac, start="20:00", day_hours=8)
    with pytest.raises(PatrolError, match="horizon_days"):
        plan(g, fac, horizon_days=0)
    with pytest.raises(PatrolError, match="service_min of kind 'day_care'"):
        plan(g, fac, service_min={"day_care": -5})
    with pytest.raises(PatrolError, match="doctors"):
        plan(g, fac, doctors=0)
    with pytest.raises(PatrolError, match="nor is it a column of the facilities"):
        plan(g, fac, doctors="staff")


# --- built-in data -------------------------------------------------------------------------------


def test_xuanhan_every_patrol_facility_is_scheduled_or_explained() -> None:
    from siting import modelled, network, regions

    region = regions.load("xuanhan")
    roads = network.modelled(region)
    fac = modelled.registry_for(region)
    p = plan(roads, fac, doctors=1)
    kinds = ("day_care", "happiness_home", "care_complex")
    wanted = set(fac.index[fac["kind"].isin(kinds)])
    made = p.visits["stop"].isin(["visit", "onsite"])
    visited = set(p.visits.loc[made, "facility_id"])
    unscheduled = set(p.gaps.loc[~p.gaps["scheduled"], "facility_id"])
    assert wanted == visited | unscheduled
    assert p.gaps["reason"].str.len().gt(0).all()
    # co-located pairs (a day-care centre next to its community's station or clinic) are
    # visits on foot: no route, no km
    onsite = p.visits[p.visits["stop"] == "onsite"]
    assert len(onsite) > 0
    assert (onsite["leg_km"] == 0).all() and (onsite["method"] == "co_located").all()
    routed = set(p.visits.loc[p.visits["stop"] == "visit", "facility_id"])
    assert not routed & set(onsite["facility_id"])
    # weekly over four weeks: four visits each, the routes close at the clinic
    counts = p.visits[made].groupby("facility_id").size()
    assert (counts == 4).all()
    assert p.routes["duration_min"].max() <= 480
    assert p.totals["visits"].sum() == len(visited) * 4
    assert p.settings["elapsed_s"] < 10


def test_health_centres_patrol_from_given_pairings_and_straight_lines() -> None:
    g = grid_graph(10)
    fac = registry_at(
        g,
        [
            ("HC-1", "health_center", 0),
            ("VC-1", "village_clinic", 35),
            ("DC-1", "day_care", 1),
            ("HH-1", "happiness_home", 34),
        ],
    )
    rules = {
        "rules": [
            {
                "id": "patrol",
                "from": ["day_care", "happiness_home"],
                "to": ["health_center"],
                "threshold_min": 5,
                "direction": "from_partner",
            }
        ]
    }
    pairs = pairing.pair(g, fac, rules)
    p = plan(
        g, fac, pairs, clinic_kinds=("health_center",), visit_kinds=("day_care", "happiness_home")
    )
    assert set(p.routes["clinic_id"]) == {"HC-1"}
    assert p.totals["clinic_kind"].tolist() == ["health_center"]
    far = p.gaps.set_index("facility_id").loc["HH-1"]
    assert far["gap"] == "beyond_threshold" and far["threshold_min"] == 5 and far["scheduled"]
    # the same from the rules, with the threshold overridden; then without a network
    q = plan(g, fac, rules=rules, clinic_kinds="health_center", threshold_min=60)
    assert q.gaps.empty
    assert set(q.routes["clinic_id"]) == {"HC-1"}
    s = plan(None, fac, rules=rules, clinic_kinds="health_center", threshold_min=60)
    assert (s.visits["method"] == "straight_line").all()
    assert (s.routes.geometry.apply(lambda line: len(line.coords)) == 3).all()
    with pytest.raises(PatrolError, match="no 'patrol' rule"):
        plan(g, fac, rules={"rules": [{**rules["rules"][0], "id": "other"}]})


def test_travel_options_work_like_the_keywords() -> None:
    """``options=`` (a TravelOptions) gives the plan of the same keywords; a keyword wins."""
    from siting.costs import TravelOptions

    g = grid_graph(6)
    fac = registry_at(g, [("VC-1", "village_clinic", 0), ("DC-1", "day_care", 14)])
    # straight lines: the speed sets every leg (an access leg, on roads, is too short to tell)
    slow = plan(None, fac, straight_line_speed_kph=10.0)
    fast = plan(None, fac, straight_line_speed_kph=40.0)
    minutes = slow.routes["travel_min"].iloc[0]
    assert minutes == pytest.approx(4 * fast.routes["travel_min"].iloc[0], abs=0.01)
    by_options = plan(None, fac, options=TravelOptions(straight_line_speed_kph=10.0))
    pd.testing.assert_frame_equal(by_options.visits, slow.visits)
    assert_geodataframe_equal(by_options.routes, slow.routes)
    # a keyword given as well overrides the field of the options
    both = plan(
        None,
        fac,
        options=TravelOptions(straight_line_speed_kph=10.0),
        straight_line_speed_kph=40.0,
    )
    pd.testing.assert_frame_equal(both.visits, fast.visits)
    # on roads: the access speed of the options is used for the legs to and from the roads
    far = registry_at(g, [("VC-1", "village_clinic", 0), ("DC-1", "day_care", 14)])
    far.geometry = far.geometry.translate(0.002, 0.0)  # ~190 m off the road nodes
    walk = plan(g, far, options=TravelOptions(access_speed_kph=3.0))
    ride = plan(g, far, access_speed_kph=30.0)
    assert walk.routes["travel_min"].iloc[0] > ride.routes["travel_min"].iloc[0] + 5
    with pytest.raises(TypeError, match="options must be a TravelOptions"):
        plan(None, fac, options={"straight_line_speed_kph": 10.0})  # type: ignore[arg-type]


# --- co-located visits, overloaded clinics, options ----------------------------------------------


def test_co_located_facilities_are_visits_not_routes() -> None:
    g = grid_graph(12)
    fac = registry_at(
        g,
        [
            ("VC-1", "village_clinic", 14),
            ("DC-same", "day_care", 14),  # on the clinic's point
            ("DC-far", "day_care", 27),
        ],
    )
    p = plan(g, fac, frequency="weekly", service_min=30)
    onsite = p.visits[p.visits["stop"] == "onsite"]
    assert set(onsite["facility_id"]) == {"DC-same"} and len(onsite) == 4
    assert (onsite["leg_km"] == 0).all() and (onsite["leg_min"] == 0).all()
    assert (onsite["service_min"] == 30).all() and (onsite["method"] == "co_located").all()
    # no route goes to it; the far one is driven
    assert not p.routes["facility_ids"].str.contains("DC-same").any()
    assert set(p.routes["facility_ids"]) == {"DC-far"}
    assert p.visits.loc[p.visits["stop"] == "visit", "facility_id"].eq("DC-far").all()
    # times: after the day's route, or from the start on a day without one
    for _, row in onsite.iterrows():
        day = p.visits[(p.visits["day"] == row["day"]) & (p.visits["doctor"] == row["doctor"])]
        ends = day.loc[day["stop"] == "end", "arrive"]
        assert row["arrive"] == (ends.iloc[0] if len(ends) else "08:00")
        assert row["seq"] == day["seq"].max()
    t = p.totals.iloc[0]
    assert t["visits"] == 8 and t["visits_onsite"] == 4 and t["routes"] == len(p.routes)
    assert t["km"] == pytest.approx(p.routes["km"].sum(), abs=1e-3)
    assert t["service_hours"] == pytest.approx((4 * 30 + p.routes["service_min"].sum()) / 60)
    assert p.settings["colocated"] == 1
    # a larger co-location radius (five minutes) takes in the neighbour too; none at zero
    wide = plan(g, fac, frequency="weekly", service_min=30, colocated_min=60)
    assert set(wide.visits.loc[wide.visits["stop"] == "onsite", "facility_id"]) == {
        "DC-same",
        "DC-far",
    }
    assert wide.routes.empty and wide.totals["km"].iloc[0] == 0
    with pytest.raises(PatrolError, match="colocated_min"):
        plan(g, fac, colocated_min=-1)


def test_co_located_visits_share_the_day_with_the_route() -> None:
    """The co-located visits of a day shorten the day left for the route."""
    g = grid_graph(13)
    rows = [("VC-1", "village_clinic", 14), ("DC-0", "day_care", 14)]
    rows += [(f"DC-{i}", "day_care", v) for i, v in enumerate([7, 21, 13, 15], start=1)]
    fac = registry_at(g, rows)
    p = plan(g, fac, frequency="daily", service_min=110)
    per_slot = p.visits.groupby(["day", "doctor"]).apply(
        lambda d: (d["leg_min"].sum() + d["service_min"].sum()) / 60
    )
    assert per_slot.max() <= 8 + 1e-6
    assert p.totals["max_day_hours"].iloc[0] == pytest.approx(per_slot.max(), abs=1e-2)
    # 5 x 110 min of service alone is more than 8 h: something does not fit every day
    assert (p.gaps["gap"] == "does_not_fit").any()
    assert (p.visits["stop"] == "onsite").sum() == 20  # the on-site visit always fits


def test_overloaded_clinics_are_flagged_with_the_hours() -> None:
    g = grid_graph(7)
    rows = [("VC-1", "village_clinic", 14)]
    rows += [(f"DC-{i}", "day_care", v) for i, v in enumerate([7, 8, 13, 15, 20, 21], start=1)]
    fac = registry_at(g, rows)
    one = plan(g, fac, frequency="daily", service_min=120)
    t = one.totals.iloc[0]
    working = patrol.WORKING_DAYS_PER_MONTH * 8
    assert t["working_hours_per_month"] == pytest.approx(working, abs=1e-3)
    # 6 visits of 2 h every day: 12 h of service alone a day, more than one doctor's day
    assert t["hours_needed_per_month"] > 12 * patrol.WORKING_DAYS_PER_MONTH
    assert t["hours_needed_per_month"] > t["hours_per_month"]  # the visits that did not fit
    assert t["overloaded"] and t["hours_per_doctor_month"] > working
    assert "超过每月工作时间174小时" in t["overload_reason"]
    assert "more than a working month of 174 hours" in t["overload_reason_en"]
    two = plan(g, fac, frequency="daily", service_min=120, doctors=2)
    u = two.totals.iloc[0]
    assert u["hours_per_doctor_month"] == pytest.approx(u["hours_needed_per_month"] / 2, abs=1e-3)
    assert not u["overloaded"] and u["overload_reason"] == ""
    # a longer working day holds the same plan
    long_day = plan(g, fac, frequency="weekly", service_min=120, day_hours=10)
    assert not long_day.totals["overloaded"].any()
    assert long_day.totals["working_hours_per_month"].iloc[0] == pytest.approx(
        patrol.WORKING_DAYS_PER_MONTH * 10, abs=1e-3
    )


def test_frequencies_as_rates() -> None:
    assert patrol.frequency("1/week").name == "weekly"
    assert patrol.frequency("2/week").name == "twice_weekly"
    assert patrol.frequency("5/week").name == "daily"
    assert patrol.frequency("0.5/week").name == patrol.frequency("2/month").name == "fortnightly"
    assert patrol.frequency("1/month").name == "monthly"
    with pytest.raises(PatrolError, match="unknown frequency '3/week'"):
        patrol.frequency("3/week")


def test_run_patrol_options_reach_the_plan_keywords() -> None:
    """``siting run --patrol-*`` parse to the keywords of :func:`siting.patrol.plan`."""
    from siting import cli
    from siting._errors import SitingError

    parser = cli._parser()
    base = ["run", "--region", "xuanhan", "--out", "/tmp/siting-test-not-written"]
    args = parser.parse_args(
        [
            *base,
            "--patrol-frequency",
            "day_care=2/week,happiness_home=1/month",
            "--patrol-service-min",
            "day_care=45,care_complex=90",
            "--patrol-doctors",
            "doctors",
            "--patrol-day-hours",
            "7.5",
            "--patrol-start-date",
            "2026-03-02",
        ]
    )
    opts = cli._patrol_options(args)
    assert opts == {
        "frequency": {"day_care": "2/week", "happiness_home": "1/month"},
        "service_min": {"day_care": 45.0, "care_complex": 90.0},
        "doctors": "doctors",
        "day_hours": 7.5,
        "start_date": "2026-03-02",
    }
    g = grid_graph(5)
    fac = registry_at(
        g,
        [("VC-1", "village_clinic", 14), ("DC-1", "day_care", 15), ("HH-1", "happiness_home", 8)],
        doctors=[2, None, None],
    )
    p = plan(g, fac, **opts)
    v = p.visits[p.visits["stop"].isin(["visit", "onsite"])]
    assert v.groupby("facility_id").size().to_dict() == {"DC-1": 8, "HH-1": 1}
    assert v["date"].notna().all() and str(v["date"].min()) >= "2026-03-02"
    assert p.totals["doctors"].tolist() == [2]
    assert p.settings["day_hours"] == 7.5
    plain = cli._patrol_options(parser.parse_args(base))
    assert plain == {}
    one = cli._patrol_options(
        parser.parse_args([*base, "--patrol-frequency", "weekly", "--patrol-doctors", "3"])
    )
    assert one == {"frequency": "weekly", "doctors": 3}
    for bad, match in (
        (["--patrol-frequency", "day_care=3/week"], "unknown frequency"),
        (["--patrol-frequency", "bogus_kind=1/week"], "unknown kind"),
        (["--patrol-service-min", "day_care=-4"], "minutes"),
        (["--patrol-start-date", "2026-03-03"], "Monday"),
        (["--patrol-start-date", "March"], "YYYY-MM-DD"),
        (["--patrol-day-hours", "0"], "day-hours"),
        (["--patrol-doctors", "0"], "doctors"),
    ):
        with pytest.raises(SitingError, match=match):
            cli._patrol_options(parser.parse_args([*base, *bad]))


def test_clinic_kinds_default_to_the_patrol_rule_and_the_pairs() -> None:
    """Without ``clinic_kinds``: the patrol rule's partner kinds, or those of the pairs given
    (a day-care centre paired with a 社区卫生服务中心 is patrolled from it, not a gap)."""
    g = grid_graph(10)
    fac = registry_at(
        g,
        [
            ("HC-1", "health_center", 0),
            ("CHC-1", "community_health_center", 35),
            ("DC-1", "day_care", 1),
            ("DC-2", "day_care", 34),
        ],
    )
    rule = {"id": "patrol", "from": ["day_care"], "threshold_min": 30, "direction": "from_partner"}
    to_hc = {"rules": [{**rule, "to": ["health_center"]}]}
    p = plan(g, fac, rules=to_hc)
    assert p.settings["clinic_kinds"] == ["health_center"]
    assert set(p.routes["clinic_id"]) == {"HC-1"} and p.gaps.empty
    to_both = {"rules": [{**rule, "to": ["health_center", "community_health_center"]}]}
    pairs = pairing.pair(g, fac, to_both)
    q = plan(g, fac, pairs)
    assert q.settings["clinic_kinds"] == [
        *patrol.VILLAGE_CLINIC_KINDS,
        "community_health_center",
        "health_center",
    ]
    assert set(q.routes["clinic_id"]) == {"HC-1", "CHC-1"} and q.gaps.empty
    # given kinds win: the pairs with another kind are not patrolled (no clinic)
    r = plan(g, fac, pairs, clinic_kinds=("health_center",))
    assert set(r.gaps.loc[r.gaps["gap"] == "no_clinic", "facility_id"]) == {"DC-2"}


def test_run_passes_patrol_options_only_when_given(capsys: pytest.CaptureFixture[str]) -> None:
    """``siting run`` hands ``patrol_options`` to ``pipeline.run`` when a --patrol-* option
    is given (tests/test_pipeline.py runs it end to end)."""
    from siting import cli

    parser = cli._parser()
    base = ["run", "--region", "xuanhan", "--out", "/tmp/siting-test-not-written"]
    assert cli._patrol_kw(parser.parse_args(base)) == {}
    given = parser.parse_args([*base, "--patrol-day-hours", "6"])
    assert cli._patrol_kw(given) == {"patrol_options": {"day_hours": 6.0}}
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    text = capsys.readouterr().out
    for option in ("--patrol-frequency", "--patrol-service-min", "--patrol-doctors",
                   "--patrol-day-hours", "--patrol-start-date"):  # fmt: skip
        assert option in text
