"""Reusing the per-clinic parts of an earlier patrol plan (``plan(memo=...)``).

Whatever memo is given, the plan is exactly the plan made without one; only the clinics whose
inputs changed are searched and solved again.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from graphs import patrol_grid_graph as grid_graph
from shapely import points

from siting import costs, pairing, patrol, settings
from siting.patrol import PatrolError, PatrolMemo, PatrolPlan, plan

# three clinics in three corners of a 6 x 6 grid, each with its own facilities; a facility
# with no road (a gap), one too far for a day, and one clinic with more visits than a day holds
CLINICS = [("VC-A", 0), ("VC-B", 5), ("VC-C", 35)]
VISITED = [
    ("DC-A1", "day_care", 1),
    ("DC-A2", "day_care", 6),
    ("HH-A3", "happiness_home", 7),
    ("DC-B1", "day_care", 4),
    ("CC-B2", "care_complex", 11),
    ("DC-C1", "day_care", 34),
    ("DC-C2", "day_care", 29),
    ("HH-C3", "happiness_home", 28),
    ("HH-lost", "happiness_home", 99),
]


def graph() -> nx.MultiDiGraph:
    g = grid_graph(11)
    g.add_node(99, x=106.08 - 0.5, y=30.80)  # a facility there has no road to anything
    return g


def registry(
    g: nx.MultiDiGraph,
    extra: list[tuple[str, str, int]] | None = None,
    *,
    service: list[Any] | None = None,
    doctors: list[Any] | None = None,
) -> Any:
    """The clinics and facilities of the tests at graph nodes, with (empty) columns of service
    minutes and doctors: a plan given those columns uses the defaults for empty cells."""
    rows = [(c, "village_clinic", n) for c, n in CLINICS] + VISITED + (extra or [])
    geom = points([g.nodes[r[2]]["x"] for r in rows], [g.nodes[r[2]]["y"] for r in rows])
    data: dict[str, Any] = {"name": [f"{r[0]}名" for r in rows], "kind": [r[1] for r in rows]}
    for name, values in (("service", service or []), ("doctors", doctors or [])):
        data[name] = values + [None] * (len(rows) - len(values))
    return gpd.GeoDataFrame(data, geometry=geom, index=pd.Index([r[0] for r in rows]), crs=4326)


KW: dict[str, Any] = {"frequency": {"day_care": "daily", "happiness_home": "weekly"}}


def assert_same_plan(a: PatrolPlan, b: PatrolPlan) -> None:
    """Exactly the same tables, row order and geometries (settings but the time taken)."""
    pd.testing.assert_frame_equal(a.visits, b.visits, check_exact=True)
    pd.testing.assert_frame_equal(a.totals, b.totals, check_exact=True)
    pd.testing.assert_frame_equal(a.gaps, b.gaps, check_exact=True)
    assert_geodataframe_equal(a.routes, b.routes, check_less_precise=False)
    assert a.routes.geometry.to_wkb().tolist() == b.routes.geometry.to_wkb().tolist()
    sa = {k: v for k, v in a.settings.items() if k != "elapsed_s"}
    sb = {k: v for k, v in b.settings.items() if k != "elapsed_s"}
    assert sa == sb


@pytest.fixture
def searched(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The points of every travel-matrix search of a plan (its origins)."""
    calls: list[set[str]] = []
    real = costs.od_matrix

    def counting(net: Any, origins: Any, destinations: Any, **kw: Any) -> Any:
        calls.append({str(i) for i in origins.index})
        return real(net, origins, destinations, **kw)

    monkeypatch.setattr(patrol.costs, "od_matrix", counting)
    return calls


def test_the_same_inputs_reuse_every_clinic_and_give_the_same_plan(
    searched: list[set[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    g = graph()
    fac = registry(g)
    # a small day and OR-Tools for every day: visits that do not fit, both solvers' answers kept
    kw = {**KW, "day_hours": 3.0, "exact_max_stops": 1}
    first = plan(g, fac, **kw)
    assert first.memo is not None
    assert (first.memo.reused, first.memo.computed) == (0, 3)
    assert set(first.gaps["gap"]) >= {"does_not_fit", "no_clinic"}
    assert first.settings["solves"]["ortools"] > 0
    assert searched  # the matrices were searched
    searched.clear()
    trees: list[Any] = []  # the road-path searches of the route lines
    real = patrol.dijkstra
    monkeypatch.setattr(patrol, "dijkstra", lambda *a, **k: trees.append(a) or real(*a, **k))
    again = plan(g, fac, **kw, memo=first.memo)
    assert_same_plan(again, first)
    assert (again.memo.reused, again.memo.computed) == (3, 0)
    assert searched == []  # no travel-matrix search at all
    assert trees == []  # nor any road path
    assert again.memo.entries.keys() == first.memo.entries.keys()
    # the memo is not part of the plan's equality or printing
    assert "memo" not in repr(dataclasses.replace(first, visits=first.visits.head(0)))


def test_adding_a_facility_plans_only_its_clinic_again(searched: list[set[str]]) -> None:
    g = graph()
    first = plan(g, registry(g), **KW)
    searched.clear()
    # a new day-care centre beside clinic B: B's stops change, A's and C's do not
    fac = registry(g, [("DC-new", "day_care", 10)])
    fresh = plan(g, fac, **KW)
    searched.clear()
    updated = plan(g, fac, **KW, memo=first.memo)
    assert_same_plan(updated, fresh)
    assert "DC-new" in set(updated.visits["facility_id"])
    assert (updated.memo.reused, updated.memo.computed) == (2, 1)
    assert searched == [{"VC-B", "DC-B1", "CC-B2", "DC-new"}]
    # a new clinic with a facility of its own (and nothing taken from the others)
    more = registry(g, [("VC-D", "village_clinic", 30), ("DC-D1", "day_care", 30)])
    fresh = plan(g, more, **KW)
    searched.clear()
    updated = plan(g, more, **KW, memo=first.memo)
    assert_same_plan(updated, fresh)
    assert (updated.memo.reused, updated.memo.computed) == (3, 1)
    assert searched == [{"VC-D", "DC-D1"}]


@pytest.mark.parametrize(
    ("change", "computed"),
    [
        # one facility's service time (a column): only its clinic
        ({"service": [None] * 3 + [None, None, None, 45]}, {"VC-B"}),
        # one clinic's doctors
        ({"doctors": [None, None, 2]}, {"VC-C"}),
        # a kind's frequency: the clinics that visit that kind
        ({"frequency": {"day_care": "daily", "happiness_home": "fortnightly"}}, {"VC-A", "VC-C"}),
        # one facility's or clinic's point, a few metres off its road node
        ({"moved": "DC-A2"}, {"VC-A"}),
        ({"moved": "VC-B"}, {"VC-B"}),
        # a facility's name (it is in the memo's key with everything about a stop)
        ({"renamed": "CC-B2"}, {"VC-B"}),
        # settings of the plan, the solver, the travel times, the network: every clinic
        ({"day_hours": 7.5}, {"VC-A", "VC-B", "VC-C"}),
        ({"start": "09:00"}, {"VC-A", "VC-B", "VC-C"}),
        ({"solution_limit": 500}, {"VC-A", "VC-B", "VC-C"}),
        ({"exact_max_stops": 2}, {"VC-A", "VC-B", "VC-C"}),
        ({"access_speed_kph": 15.0}, {"VC-A", "VC-B", "VC-C"}),
        ({"settings.access_speed_kph": 15.0}, {"VC-A", "VC-B", "VC-C"}),
        ({"slower_road": True}, {"VC-A", "VC-B", "VC-C"}),
        # which pairs are co-located (visits, not routes): every clinic
        ({"colocated_min": 3.0}, {"VC-A", "VC-B", "VC-C"}),
        # dates only: no clinic (the dates are filled in after the memo)
        ({"start_date": "2026-03-02"}, set()),
    ],
)
def test_a_changed_input_plans_its_clinics_again(
    change: dict[str, Any],
    computed: set[str],
    searched: list[set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g = graph()
    fac = registry(g)
    # the same pairs throughout: what changes is only the input named
    pairs = pairing.pair(g, fac, only=["patrol"])
    first = plan(g, fac, pairs, **KW, service_min="service", doctors="doctors")
    kw: dict[str, Any] = {**KW, "service_min": "service", "doctors": "doctors"}
    if "service" in change:
        fac = registry(g, service=change["service"])
    elif "doctors" in change:
        fac = registry(g, doctors=change["doctors"])
    elif "moved" in change:
        fac = fac.copy()
        fac.geometry = fac.geometry.where(
            fac.index != change["moved"], fac.geometry.translate(0.0004, 0.0)
        )
    elif "renamed" in change:
        fac = fac.assign(name=fac["name"].where(fac.index != change["renamed"], "新名字"))
    elif "slower_road" in change:
        u, v, k = next(iter(g.edges(keys=True)))
        g[u][v][k]["travel_time"] += 1.0
    elif "settings.access_speed_kph" in change:
        monkeypatch.setattr(settings, "access_speed_kph", change["settings.access_speed_kph"])
    else:
        kw.update(change)
    fresh = plan(g, fac, pairs, **kw)
    searched.clear()
    again = plan(g, fac, pairs, **kw, memo=first.memo)
    assert_same_plan(again, fresh)
    assert again.memo.computed == len(computed)
    assert again.memo.reused == 3 - len(computed)
    assert set().union(*searched) & {c for c, _ in CLINICS} == computed


def test_a_memo_of_other_places_or_versions_changes_nothing() -> None:
    g = graph()
    fac = registry(g)
    mine = plan(g, fac, **KW)
    # another area entirely: nothing in common
    other = grid_graph(12)
    rows = [("VC-A", "village_clinic", 0), ("DC-A1", "day_care", 1)]
    there = gpd.GeoDataFrame(
        {"name": ["VC-A名", "DC-A1名"], "kind": [r[1] for r in rows]},
        geometry=points(
            [other.nodes[r[2]]["x"] for r in rows], [other.nodes[r[2]]["y"] for r in rows]
        ),
        index=pd.Index([r[0] for r in rows]),
        crs=4326,
    )
    foreign = plan(other, there, **KW)
    p = plan(g, fac, **KW, memo=foreign.memo)
    assert_same_plan(p, mine)
    assert p.memo.reused == 0
    # the same clinic and facility on another network: not reused either
    q = plan(other, there, **KW, memo=plan(grid_graph(13), there, **KW).memo)
    assert_same_plan(q, foreign)
    assert q.memo.reused == 0
    # a memo of another layout version is not used
    old = PatrolMemo(dict(mine.memo.entries), version=mine.memo.version - 1)
    r = plan(g, fac, **KW, memo=old)
    assert r.memo.reused == 0
    assert_same_plan(r, mine)
    with pytest.raises(PatrolError, match="memo must be the PatrolMemo"):
        plan(g, fac, **KW, memo={"entries": {}})  # type: ignore[arg-type]


def plain(value: Any) -> bool:
    """Only plain Python and numpy data (what a pickle can hold without siting)."""
    if isinstance(value, dict):
        return all(plain(k) and plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fiub"
    return value is None or isinstance(value, bool | int | float | str | bytes)


def test_the_memo_is_plain_data_and_survives_pickle() -> None:
    g = graph()
    fac = registry(g)
    first = plan(g, fac, **KW)
    memo = first.memo
    assert memo is not None
    assert plain(memo.entries) and plain(memo.version)
    back = pickle.loads(pickle.dumps(memo))
    again = plan(g, fac, **KW, memo=back)
    assert_same_plan(again, first)
    assert again.memo.reused == 3
    # on straight lines too (no network)
    s = plan(None, fac, **KW)
    t = plan(None, fac, **KW, memo=pickle.loads(pickle.dumps(s.memo)))
    assert_same_plan(t, s)
    assert t.memo.reused == 3
    u = plan(None, fac, **KW, straight_line_speed_kph=20.0, memo=s.memo)
    assert u.memo.reused == 0
    assert_same_plan(u, plan(None, fac, **KW, straight_line_speed_kph=20.0))


def test_a_time_limited_solve_is_never_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    g = graph()
    fac = registry(g)
    real = patrol.solve_routes

    def limited(t: Any, service: Any, **kw: Any) -> patrol.Solution:
        sol = real(t, service, **kw)
        # the days of VC-A and VC-C with their weekly visit have three stops; VC-B's fewer
        return dataclasses.replace(sol, time_limit_hit=len(t) == 4)

    monkeypatch.setattr(patrol, "solve_routes", limited)
    first = plan(g, fac, **KW)
    assert first.settings["time_limit_hits"] > 0
    assert first.memo is not None
    assert len(first.memo.entries) == 1
    monkeypatch.setattr(patrol, "solve_routes", real)
    again = plan(g, fac, **KW, memo=first.memo)
    assert (again.memo.reused, again.memo.computed) == (1, 2)
    assert_same_plan(again, plan(g, fac, **KW))


def test_totals_add_up_the_routes() -> None:
    """The per-clinic totals are the sums of each clinic's routes (summed in route order)."""
    g = graph()
    p = plan(g, registry(g), **KW, day_hours=3.0)
    per = p.routes.groupby("clinic_id", sort=False)
    totals = p.totals.set_index("clinic_id")
    for clinic, r in per:
        row = totals.loc[clinic]
        assert row["km"] == round(float(r["km"].sum()), 3)
        assert row["travel_hours"] == round(float(r["travel_min"].sum()) / 60, 3)
        assert row["service_hours"] == round(float(r["service_min"].sum()) / 60, 3)
        assert row["visits"] == r["stops"].sum() and row["routes"] == len(r)
        assert row["max_day_hours"] == round(float(r["duration_min"].max()) / 60, 3)
    missed = p.gaps[p.gaps["gap"] == "does_not_fit"].groupby("clinic_id")["visits_missed"].sum()
    assert (totals.loc[missed.index, "visits_missed"] == missed).all()
    assert missed.sum() > 0
