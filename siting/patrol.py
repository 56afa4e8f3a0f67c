"""巡诊 Patrol routes and periodic schedules of village clinics and community health services.

Day-care centres, happiness homes and care complexes are visited by the doctors of their paired
village clinic, or in urban communities their 社区卫生服务站/中心 (the ``patrol`` pairing rule
of :mod:`siting.pairing`). :func:`plan` turns those
pairs into a timetable: which doctor visits which facility on which working day, in what order,
at what time, along which roads.

Model
-----
* **Horizon.** ``horizon_days`` working days, Monday to Friday, in whole weeks from a Monday
  (default 20: four weeks). Day ``d`` (0-based) is weekday ``d % 5`` of week ``d // 5``.
  ``start_date`` (a Monday) gives every row its ``date``; without it the days stay relative
  (week, weekday), so that a plan does not depend on the day it is made. Weekends are skipped;
  public holidays are not (no citable holiday table is shipped): move those visits by hand.
* **Co-located pairs** (同址): a facility within ``colocated_min`` (default 1 minute) of its
  clinic, there and back, is visited on foot at the clinic's place: a visit row
  (``stop="onsite"``, its service time, no leg) after the day's route, but no route and no km;
  its service time shortens the day left for the route.
* **Frequency** of each facility (:data:`FREQUENCIES`): ``daily``, ``twice_weekly``, ``weekly``,
  ``fortnightly``, ``monthly``. A frequency is a set of *patterns*, each a set of weekdays
  repeated every ``period`` weeks from a phase: weekly visits fall on the same weekday every week,
  fortnightly ones on weeks 1 and 3 (or 2 and 4), monthly ones once in four weeks. Only the
  patterns with the most visits inside the horizon are used.
* **Schedule (balance).** Every visit goes to a *slot*: one doctor of the clinic on one day.
  Facilities take a doctor and a pattern one by one (most frequent first, then the heaviest,
  then by id): the choice with the least largest slot load after adding it, then the least
  load of that doctor over the horizon, then the least largest day load of the clinic, then the
  earliest phase, weekday and doctor. The load of a visit is its stand-alone trip: clinic to
  facility and back plus the service time, an upper bound of what it adds to a route (road
  times obey the triangle inequality). So visits spread across the days and the doctors share
  the work, and a facility is always visited by the same doctor (continuity of care).
* **Routes.** Every slot is a routing problem: the doctor leaves the clinic at ``start``,
  visits the slot's facilities (service time each) and is back within ``day_hours``; as many
  visits as fit are made, with the least travel time. Slots with the same facilities (the same
  weekday of every week) are solved once.
* **Solver.** Up to ``exact_max_stops`` facilities (default 9): exact, by Held-Karp dynamic
  programming over the subsets of facilities (the most facilities that fit in the day, then the
  least travel time). Larger slots: OR-Tools routing (``pywrapcp``), local cheapest insertion
  as first solution (the best of OR-Tools' first-solution strategies on our instances when not
  every stop fits), then guided local search stopped after ``solution_limit`` solutions; a time
  dimension holds the working day and a disjunction per stop lets a stop be left out at a cost
  above any route. Times enter OR-Tools as whole milliseconds. :func:`solve_routes` exposes the
  solver (also for several doctors sharing one day). OR-Tools is an extra
  (``pip install 'siting[patrol]'``): :func:`plan` needs it, :func:`solve_routes` only when it
  uses it.
* **Overloaded clinics.** :attr:`PatrolPlan.totals` compares the hours a clinic's plan needs
  per month (driven routes, co-located visits and the visits that did not fit, at their
  stand-alone time) per doctor with a working month (:data:`WORKING_DAYS_PER_MONTH` x
  ``day_hours``); beyond it ``overloaded`` is true, with the hours and the reason in Chinese and
  English.
* **Nothing is dropped silently.** A facility without a clinic, one whose single visit (there,
  service, back) is longer than the working day, one the clinic cannot reach, and every visit
  that did not fit in its day are listed in :attr:`PatrolPlan.gaps` with the reason in Chinese
  and English; so are facilities whose clinic is beyond the patrol threshold (still scheduled).

Determinism
-----------
Nothing is random (there is no seed to set). The exact solver is deterministic; OR-Tools' guided
local search is deterministic for the same model when it is stopped by a count of solutions
(``solution_limit``, default 1,000: about 1-3 s for 60 stops), which is how it is stopped; when
that leaves stops out (a day too short for all of them), the search runs again with ten times the
solutions and the better answer is kept (about 10 s for 60 stops).
``time_limit_s`` (default 30 s) is only a safety cap per solve: a solve stopped by it, which
``settings["time_limit_hits"]`` counts, depends on the machine's speed. The same inputs and
settings give the same plan, table for table. Quality: ``bench/bench_patrol.py`` compares the
default limits with long runs on 20-60 stops.

Travel times come from :func:`siting.costs.od_matrix` among each clinic and its facilities (times
include the access legs to the nearest road node; ``leg_km`` is road length plus the access legs,
as in :mod:`siting.pairing`). Route geometries follow the fastest road path of every leg
(predecessor trees of :func:`scipy.sparse.csgraph.dijkstra`), from the facility's point to its
road node, along the nodes, to the next point; without a network they are straight lines.

Reuse
-----
A clinic's part of a plan (its travel matrices, schedule, routes and route geometries) depends
only on the clinic and its own stops: the travel time of a pair does not depend on the other
points of a search. :attr:`PatrolPlan.memo` (a :class:`PatrolMemo`) holds those parts; given back
to :func:`plan` (``memo=``), a clinic whose inputs are all identical (its id and point, doctors,
its stops in order with everything about them, every setting, the solver limits, the travel
settings and a fingerprint of the road network) is taken from it instead of searched and solved
again. A solve stopped by ``time_limit_s`` is never kept. The plan is the same, table for table,
with any memo or none; only the time differs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import itertools
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from siting import costs, pairing
from siting._errors import PatrolError
from siting._optional import require
from siting.costs.args import TravelOptions, with_options
from siting.graph import GraphArrays, Network, graph_arrays, snap

__all__ = [
    "COLOCATED_MIN",
    "DEFAULT_SERVICE_MIN",
    "FREQUENCIES",
    "GAP_COLUMNS",
    "PATROL_COLUMNS",
    "ROUTE_COLUMNS",
    "TOTAL_COLUMNS",
    "VILLAGE_CLINIC_KINDS",
    "WEEKDAYS_ZH",
    "WORKING_DAYS_PER_MONTH",
    "Frequency",
    "PatrolError",
    "PatrolMemo",
    "PatrolPlan",
    "Solution",
    "coverage_gaps",
    "frequency",
    "plan",
    "solve_routes",
]

F64 = npt.NDArray[np.float64]

#: Weekday labels of the working days (Monday to Friday).
WEEKDAYS_ZH: Final = ("周一", "周二", "周三", "周四", "周五")

#: Working days in an average month (365.25 days x 5/7 / 12), for the monthly totals.
WORKING_DAYS_PER_MONTH: Final = 21.74

#: Village-level kinds that patrol (村卫生室, 社区卫生服务站): the default ``clinic_kinds`` of
#: :func:`plan` with given pairings (with the partner kinds of their ``patrol`` pairs).
VILLAGE_CLINIC_KINDS: Final = ("village_clinic", "community_health_station")

#: Service time of a visit when no other is given (minutes).
DEFAULT_SERVICE_MIN: Final = 60.0

#: A facility at most this many minutes from its clinic, there and back each (default of
#: ``colocated_min``), is *co-located* (同址): the same village point, the same building or the
#: next door. Its visits are made on foot at the clinic's place, not driven: a visit row
#: (``stop="onsite"``, service time, no leg) but no route and no km. One minute is about 500 m
#: at the access speed of 30 km/h of :mod:`siting.settings` and less than one road edge of most
#: networks, so only points that share a road node (or its immediate surroundings) count.
COLOCATED_MIN: Final = 1.0

#: Columns of :attr:`PatrolPlan.visits` (the ``patrols.csv`` table), in order.
PATROL_COLUMNS: Final = (
    "clinic_id",
    "clinic_name",
    "doctor",
    "day",
    "week",
    "weekday",
    "date",
    "seq",
    "stop",
    "facility_id",
    "facility_name",
    "facility_kind",
    "arrive",
    "depart",
    "service_min",
    "leg_km",
    "leg_min",
    "method",
)

#: Columns of :attr:`PatrolPlan.routes` (before ``geometry``), in order.
ROUTE_COLUMNS: Final = (
    "clinic_id",
    "clinic_name",
    "doctor",
    "day",
    "week",
    "weekday",
    "date",
    "stops",
    "facility_ids",
    "start",
    "end",
    "km",
    "travel_min",
    "service_min",
    "duration_min",
    "solver",
    "method",
)

#: Columns of :attr:`PatrolPlan.totals`, in order.
TOTAL_COLUMNS: Final = (
    "clinic_id",
    "clinic_name",
    "clinic_kind",
    "doctors",
    "facilities",
    "visits",
    "visits_missed",
    "routes",
    "km",
    "travel_hours",
    "service_hours",
    "hours",
    "km_per_month",
    "hours_per_month",
    "max_day_hours",
    "visits_onsite",
    "hours_needed_per_month",
    "hours_per_doctor_month",
    "working_hours_per_month",
    "overloaded",
    "overload_reason",
    "overload_reason_en",
)

#: Columns of :attr:`PatrolPlan.gaps`, in order.
GAP_COLUMNS: Final = (
    "facility_id",
    "facility_name",
    "facility_kind",
    "clinic_id",
    "clinic_name",
    "gap",
    "scheduled",
    "travel_time_min",
    "threshold_min",
    "visits_planned",
    "visits_missed",
    "days_missed",
    "reason",
    "reason_en",
)

#: Kinds of gap in :attr:`PatrolPlan.gaps` (``gap`` column), with their Chinese labels.
GAP_KINDS: Final = {
    "no_clinic": "无可达村卫生室",
    "beyond_threshold": "超出巡诊阈值",
    "unreachable": "卫生室无法往返",
    "exceeds_day": "单次巡诊超过工作日",
    "does_not_fit": "当日排不下",
}

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
#: Default number of solutions after which OR-Tools' guided local search stops.
_SOLUTION_LIMIT: Final = 1000


# --- frequencies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frequency:
    """A visit frequency: weekday sets repeated every ``period_weeks`` weeks."""

    name: str
    zh: str
    period_weeks: int
    weekday_sets: tuple[tuple[int, ...], ...]

    def patterns(self, horizon_days: int) -> list[tuple[int, ...]]:
        """The visit days (0-based working days) of each pattern with the most visits in a
        horizon, in order of phase then weekday."""
        weeks = -(-horizon_days // 5)
        out = []
        for phase in range(self.period_weeks):
            for days in self.weekday_sets:
                out.append(
                    tuple(
                        w * 5 + d
                        for w in range(phase, weeks, self.period_weeks)
                        for d in days
                        if w * 5 + d < horizon_days
                    )
                )
        most = max(len(p) for p in out)
        return [p for p in out if len(p) == most and most > 0]


_SINGLE = tuple((d,) for d in range(5))
#: Visit frequencies by name (English; the Chinese names are accepted too).
FREQUENCIES: Final = {
    "daily": Frequency("daily", "每天", 1, ((0, 1, 2, 3, 4),)),
    "twice_weekly": Frequency(
        "twice_weekly", "每周两次", 1, ((0, 3), (1, 4), (0, 2), (1, 3), (2, 4))
    ),
    "weekly": Frequency("weekly", "每周", 1, _SINGLE),
    "fortnightly": Frequency("fortnightly", "每两周", 2, _SINGLE),
    "monthly": Frequency("monthly", "每月", 4, _SINGLE),
}
_FREQ_ALIASES: Final = {
    **{f.name: f.name for f in FREQUENCIES.values()},
    **{f.zh: f.name for f in FREQUENCIES.values()},
    "每周一次": "weekly",
    "每两周一次": "fortnightly",
    "每月一次": "monthly",
    "每日": "daily",
}


#: Visits per week of each frequency, for the ``N/week`` and ``N/month`` forms (a month of the
#: horizon is four weeks).
_PER_WEEK: Final = {5.0: "daily", 2.0: "twice_weekly", 1.0: "weekly", 0.5: "fortnightly",
                    0.25: "monthly"}  # fmt: skip
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:/|per|次/|次每)\s*(week|wk|w|周|month|mo|月)$")


def _frequency(value: Any, where: str) -> Frequency:
    key = str(value).strip()
    name = _FREQ_ALIASES.get(key, _FREQ_ALIASES.get(key.lower()))
    m = _RATE.match(key.lower().replace(" ", "")) if name is None else None
    if m is not None:
        n = float(m.group(1))
        per_week = n if m.group(2) in ("week", "wk", "w", "周") else n / 4.0
        name = _PER_WEEK.get(per_week)
    if name is None:
        known = ", ".join(FREQUENCIES)
        msg = (
            f"{where}: unknown frequency {value!r} (frequencies: {known}, their Chinese names, "
            "or 5/week, 2/week, 1/week, 0.5/week (= 2/month), 1/month)"
        )
        raise PatrolError(msg)
    return FREQUENCIES[name]


def frequency(value: Any) -> Frequency:
    """The :class:`Frequency` of a name (``"weekly"``), its Chinese name (``"每周"``) or a rate
    (``"1/week"``, ``"2/week"``, ``"5/week"``, ``"0.5/week"``, ``"1/month"``; a month is four
    weeks of the horizon).

    >>> frequency("2/week").name, frequency("每两周").name, frequency("1/month").name
    ('twice_weekly', 'fortnightly', 'monthly')
    """
    return _frequency(value, "frequency")


# --- the route solver --------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """Routes of one day of one clinic.

    Attributes
    ----------
    routes
        One tuple per doctor (vehicle): the stops (1..n, positions in the matrix) in visiting
        order; empty for a doctor without visits.
    dropped
        Stops that fit in no route.
    travel_s
        Total travel time of the routes (seconds, from the float matrix).
    span_s
        The longest route: travel plus service (seconds).
    solver
        ``"exact"`` (Held-Karp) or ``"ortools"``.
    time_limit_hit
        OR-Tools was stopped by ``time_limit_s`` rather than ``solution_limit``.
    """

    routes: tuple[tuple[int, ...], ...]
    dropped: tuple[int, ...]
    travel_s: float
    span_s: float
    solver: str
    time_limit_hit: bool = False


def _span(t: F64, service: F64, routes: Iterable[Sequence[int]]) -> float:
    return max((_travel(t, r) + float(service[list(r)].sum()) for r in routes), default=0.0)


def _travel(t: F64, route: Sequence[int]) -> float:
    if not route:
        return 0.0
    path = [0, *route, 0]
    return float(sum(t[a, b] for a, b in itertools.pairwise(path)))


def _held_karp(t: F64, service: F64, day_s: float) -> Solution:
    """Exact single-vehicle routes: the most stops that fit in the day, then the least travel."""
    n = len(t) - 1
    full = 1 << n
    inner = t[1:, 1:].copy()
    np.fill_diagonal(inner, np.inf)
    dp = np.full((full, n), np.inf)
    parent = np.full((full, n), -1, dtype=np.int64)
    for j in range(n):
        dp[1 << j, j] = t[0, j + 1]
    bits = 1 << np.arange(n)
    for mask in range(1, full):
        row = dp[mask]
        if not np.isfinite(row).any():
            continue
        out = (mask & bits) == 0
        if not out.any():
            continue
        cand = row[:, None] + inner  # from i (rows) to k (columns)
        best = np.argmin(cand, axis=0)
        val = cand[best, np.arange(n)]
        for k in np.flatnonzero(out & np.isfinite(val)):
            nxt = mask | (1 << int(k))
            if val[k] < dp[nxt, k]:
                dp[nxt, k] = val[k]
                parent[nxt, k] = best[k]
    back = t[1:, 0]
    close = dp + back[None, :]
    last = np.argmin(close, axis=1)
    total = close[np.arange(full), last]
    masks = np.arange(full)
    serv = np.array([service[1:][(m & bits) != 0].sum() for m in range(full)])
    ok = np.isfinite(total) & (total + serv <= day_s * (1 + 1e-12))
    ok[0] = True
    total[0] = 0.0
    count = np.array([bin(m).count("1") for m in range(full)])
    # the most stops, then the least travel, then the smallest mask
    order = np.lexsort((masks, total, -count))
    best_mask = int(next(m for m in order if ok[m]))
    route: list[int] = []
    mask, j = best_mask, int(last[best_mask])
    while mask:
        route.append(j + 1)
        prev = int(parent[mask, j])
        mask ^= 1 << j
        j = prev
    route.reverse()
    dropped = tuple(k + 1 for k in range(n) if not best_mask & (1 << k))
    span = _span(t, service, [route])
    return Solution((tuple(route),), dropped, _travel(t, route), span, "exact")


def _ortools() -> tuple[Any, Any]:
    """The OR-Tools routing wrapper and its enums (imported on first use; untyped).

    Raises :class:`siting.MissingDependencyError` (``siting[patrol]``) without OR-Tools.
    """
    cp = require(
        "ortools.constraint_solver.pywrapcp", "patrol", "巡诊路线规划", purpose="patrol routes"
    )
    enums = importlib.import_module("ortools.constraint_solver.routing_enums_pb2")
    return cp, enums


def _ortools_solve(
    t: F64,
    service: F64,
    day_s: float,
    vehicles: int,
    time_limit_s: float,
    solution_limit: int,
) -> Solution:
    cp, enums = _ortools()
    n = len(t)
    day_ms = math.floor(day_s * 1000)
    big = 10 * day_ms + 1  # an arc nobody can drive (no road): longer than any day
    arc = np.where(np.isfinite(t), np.rint(t * 1000), big).astype(np.int64)
    np.fill_diagonal(arc, 0)
    svc = np.rint(service * 1000).astype(np.int64)
    busy = np.minimum(arc + svc[:, None], big)
    manager = cp.RoutingIndexManager(n, vehicles, 0)
    model = cp.RoutingModel(manager)
    arc_cb = model.RegisterTransitMatrix(arc.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(arc_cb)
    busy_cb = model.RegisterTransitMatrix(busy.tolist())
    model.AddDimension(busy_cb, 0, day_ms, True, "time")
    # dropping a stop costs more than any set of routes: serve as many as possible
    penalty = int(min(big, arc.max()) * (n + 1) * (vehicles + 2) + day_ms * (vehicles + 1) + 1)
    for node in range(1, n):
        model.AddDisjunction([manager.NodeToIndex(node)], penalty)
    params = cp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = enums.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = enums.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.solution_limit = int(solution_limit)
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    params.log_search = False
    started = time.perf_counter()
    found = model.SolveWithParameters(params)
    elapsed = time.perf_counter() - started
    hit = elapsed >= time_limit_s * 0.98
    if found is None:  # no first solution at all: every stop is dropped
        empty = tuple(() for _ in range(vehicles))
        return Solution(empty, tuple(range(1, n)), 0.0, 0.0, "ortools", hit)
    routes = []
    served: set[int] = set()
    for v in range(vehicles):
        index = model.Start(v)
        stops = []
        while not model.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                stops.append(int(node))
            index = found.Value(model.NextVar(index))
        routes.append(tuple(stops))
        served.update(stops)
    dropped = tuple(k for k in range(1, n) if k not in served)
    travel = sum(_travel(t, r) for r in routes)
    return Solution(tuple(routes), dropped, travel, _span(t, service, routes), "ortools", hit)


def solve_routes(
    time_s: npt.ArrayLike,
    service_s: npt.ArrayLike,
    *,
    day_s: float,
    vehicles: int = 1,
    time_limit_s: float = 30.0,
    solution_limit: int = _SOLUTION_LIMIT,
    exact_max_stops: int = 9,
) -> Solution:
    """Routes from a depot (row and column 0) through stops 1..n and back, within a day.

    Parameters
    ----------
    time_s
        Square matrix of travel times (seconds), ``time_s[i, j]`` from ``i`` to ``j``; NaN or
        inf where there is no road.
    service_s
        Service time at each node (seconds; the depot's is ignored).
    day_s
        Longest route: travel plus service (seconds).
    vehicles
        Number of routes (doctors).
    time_limit_s, solution_limit
        Limits of OR-Tools' guided local search (see the module's *Determinism*).
    exact_max_stops
        Up to this many stops and one vehicle, the exact Held-Karp solver is used.

    Returns
    -------
    Solution

    Raises
    ------
    siting.MissingDependencyError
        The solve needs OR-Tools (more than ``exact_max_stops`` stops, or several vehicles)
        and it is not installed (``pip install 'siting[patrol]'``); the exact solver needs
        nothing more.

    Examples
    --------
    A clinic (0) and two facilities; the road from 1 back to the clinic is slow (one-way
    streets), so the round goes 0 -> 1 -> 2 -> 0:

    >>> t = np.array([[0, 600, 900], [1200, 0, 300], [900, 300, 0]], dtype=float)
    >>> s = solve_routes(t, [0, 3600, 3600], day_s=8 * 3600)
    >>> s.routes, s.dropped, s.travel_s
    (((1, 2),), (), 1800.0)
    >>> solve_routes(t, [0, 3600, 3600], day_s=1.5 * 3600).routes  # one visit fits
    ((1,),)
    """
    t = np.array(time_s, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        msg = f"time_s must be a square matrix with the depot first, got shape {t.shape}"
        raise PatrolError(msg)
    t[~np.isfinite(t)] = np.inf
    if (t < 0).any():
        msg = "time_s has negative travel times"
        raise PatrolError(msg)
    service = np.array(service_s, dtype=float).ravel()
    if service.shape != (len(t),) or not np.isfinite(service).all() or (service < 0).any():
        msg = f"service_s must hold {len(t)} non-negative times, one per node"
        raise PatrolError(msg)
    service[0] = 0.0
    if not day_s > 0:
        msg = f"day_s must be positive, got {day_s}"
        raise PatrolError(msg)
    if isinstance(vehicles, bool) or int(vehicles) != vehicles or vehicles < 1:
        msg = f"vehicles must be a whole number >= 1, got {vehicles!r}"
        raise PatrolError(msg)
    vehicles = int(vehicles)
    n = len(t) - 1
    if n == 0:
        return Solution(tuple(() for _ in range(vehicles)), (), 0.0, 0.0, "exact")
    if vehicles == 1 and n <= exact_max_stops:
        return _held_karp(t, service, day_s)
    sol = _ortools_solve(t, service, day_s, vehicles, time_limit_s, solution_limit)
    if sol.dropped:
        # an overloaded day: which stops to keep is the hard part (an orienteering problem),
        # and guided local search needs many more solutions to find the best set; search
        # ten times longer (still a count, so still deterministic) and keep the better answer
        more_limit = min(10 * int(solution_limit), 2**62)
        more = _ortools_solve(t, service, day_s, vehicles, time_limit_s, more_limit)
        if (len(more.dropped), more.travel_s) < (len(sol.dropped), sol.travel_s):
            sol = more
    return sol


# --- inputs ------------------------------------------------------------------------------------


def _clock(value: Any) -> int:
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    m = _CLOCK.match(str(value))
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        msg = f"start must be a clock time like '08:00', got {value!r}"
        raise PatrolError(msg)
    return int(m.group(1)) * 60 + int(m.group(2))


def _hhmm(minutes: float) -> str:
    total = round(minutes)
    return f"{total // 60:02d}:{total % 60:02d}"


def _per_kind(
    value: Any,
    frame: pd.DataFrame,
    name: str,
    default: Any,
    convert: Any,
) -> list[Any]:
    """A setting per row: one value, a mapping kind -> value, or a column name."""
    if isinstance(value, Mapping):
        out = []
        for fid, kind in zip(frame.index, frame["kind"], strict=True):
            raw = value.get(kind, default)
            out.append(convert(raw, f"{name} of kind {kind!r} (facility {fid!r})"))
        return out
    if isinstance(value, str) and value in frame.columns:
        out = []
        for fid, raw in zip(frame.index, frame[value], strict=True):
            if raw is None or (not isinstance(raw, str) and pd.isna(raw)):
                raw = default
            out.append(convert(raw, f"{name}: column {value!r}, facility {fid!r}"))
        return out
    try:
        one = convert(value, name)
    except PatrolError as exc:
        if not isinstance(value, str):
            raise
        msg = f"{exc}; nor is it a column of the facilities (columns: {', '.join(frame.columns)})"
        raise PatrolError(msg) from exc
    return [one] * len(frame)


def _minutes_value(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out) or out < 0 or isinstance(value, bool):
        msg = f"{where}: must be a non-negative number of minutes, got {value!r}"
        raise PatrolError(msg)
    return out


def _doctors_value(value: Any, where: str) -> int:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if isinstance(value, bool) or not math.isfinite(out) or out != int(out) or out < 1:
        msg = f"{where}: must be a whole number of doctors >= 1, got {value!r}"
        raise PatrolError(msg)
    return int(out)


def _start_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    try:
        day = pd.Timestamp(value).date()
    except (TypeError, ValueError) as exc:
        msg = f"start_date must be a date (a Monday), got {value!r}"
        raise PatrolError(msg) from exc
    if day.weekday() != 0:
        msg = f"start_date must be a Monday (the horizon runs Monday to Friday), got {day}"
        raise PatrolError(msg)
    return day


def _lonlat(frame: gpd.GeoDataFrame) -> tuple[F64, F64]:
    geom = frame.geometry
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        geom = geom.to_crs(4326)
    return np.asarray(geom.x, dtype=float), np.asarray(geom.y, dtype=float)


def _net(network: Network) -> GraphArrays | None:
    if network is None or isinstance(network, GraphArrays):
        return network
    if isinstance(network, nx.Graph):
        return graph_arrays(network)
    msg = f"network must be an osmnx-style graph, GraphArrays or None, got {type(network).__name__}"
    raise PatrolError(msg)


# --- plan --------------------------------------------------------------------------------------


@dataclass
class PatrolPlan:
    """A patrol plan: the timetable, the routes, per-clinic totals and the gaps.

    Attributes
    ----------
    visits
        The ``patrols`` table (:data:`PATROL_COLUMNS`): per clinic, doctor and working day, the
        start at the clinic (``stop="start"``), every visit and the return (``stop="end"``), with
        clock times and the leg that leads to the row's stop; then the co-located visits
        (``stop="onsite"``, no leg, ``method="co_located"``).
    routes
        One LineString per clinic, doctor and day along the roads (:data:`ROUTE_COLUMNS`, WGS84).
    totals
        Per clinic (:data:`TOTAL_COLUMNS`): over the horizon and per month, with the
        co-located visits, the hours needed per doctor and month against a working month, and
        ``overloaded`` with its reason.
    gaps
        Patrol gaps (:data:`GAP_COLUMNS`): facilities without a clinic, beyond the threshold,
        that cannot be reached or scheduled, with the reason. A facility appears once per kind
        of gap.
    settings
        The settings used and solver figures.
    memo
        The per-clinic parts of this plan, to give to the next :func:`plan` of the same area
        (``memo=``); not part of the plan's equality or printing.
    """

    visits: pd.DataFrame
    routes: gpd.GeoDataFrame
    totals: pd.DataFrame
    gaps: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    memo: PatrolMemo | None = field(default=None, compare=False, repr=False)


#: Layout of :class:`PatrolMemo` entries; a memo of another version is not used.
_MEMO_VERSION: Final = 2


@dataclass
class PatrolMemo:
    """The per-clinic parts of a plan, for a later :func:`plan` to reuse (see *Reuse*).

    Opaque: plain Python and numpy data, picklable, for saving beside a run and giving back to
    :func:`plan` (``memo=``). A memo never changes a plan: an entry is used only when everything
    that determines it is identical, whatever memo is given.

    Attributes
    ----------
    entries
        Per clinic, under a digest of everything its part depends on: its matrices, schedule,
        solved routes and route coordinates.
    reused, computed
        Clinics of the plan that made this memo taken from the memo it was given, and planned
        afresh.
    version
        The layout of the entries.
    """

    entries: dict[bytes, tuple[Any, ...]] = field(default_factory=dict)
    reused: int = 0
    computed: int = 0
    version: int = _MEMO_VERSION


@dataclass
class _Stop:
    fid: Any
    name: str
    kind: str
    clinic: Any | None
    travel_min: float
    threshold_min: float
    freq: Frequency
    service_min: float


@dataclass
class _Day:
    """One solved day of one clinic."""

    clinic: Any
    day: int
    doctor: int  # 0-based
    stops: tuple[int, ...]  # positions in the clinic's matrix (driven)
    solution: Solution | None  # None: no driven route that day
    sol_id: int = 0  # which of the clinic's distinct solves (its routes share a geometry)
    onsite: tuple[int, ...] = ()  # positions of the co-located visits made that day


def _assignments(
    pairings: pd.DataFrame,
    visit_kinds: tuple[str, ...],
    clinic_kinds: tuple[str, ...],
) -> pd.DataFrame:
    need = ("facility_id", "partner_id", "assigned", "facility_kind", "partner_kind")
    missing = [c for c in need if c not in pairings.columns]
    if missing:
        msg = f"pairings lack the column(s) {missing} (a siting.pairing.pair result)"
        raise PatrolError(msg)
    rows = pairings[
        pairings["assigned"].astype(bool).to_numpy()
        & pairings["facility_kind"].isin(visit_kinds).to_numpy(dtype=bool)
        & pairings["partner_kind"].isin(clinic_kinds).to_numpy(dtype=bool)
    ]
    return rows.drop_duplicates("facility_id", keep="first")


def _schedule(
    stops: list[_Stop], loads: F64, horizon_days: int, doctors: int
) -> list[tuple[int, tuple[int, ...]]]:
    """Doctor and visit days of each stop: greedy balance over the (doctor, day) slots.

    Stops are taken most frequent first, then heaviest, then by id; each takes the doctor and
    pattern with, in order: the least largest slot load after adding it, the least load of that
    doctor over the horizon, the least largest day load (all doctors), then the earliest phase,
    weekday and doctor.
    """
    cache = {s.freq.name: s.freq.patterns(horizon_days) for s in stops}
    slot = np.zeros((doctors, horizon_days))
    order = sorted(
        range(len(stops)),
        key=lambda i: (-len(cache[stops[i].freq.name][0]), -loads[i], str(stops[i].fid)),
    )
    chosen: list[tuple[int, tuple[int, ...]]] = [(0, ())] * len(stops)
    for i in order:
        load = float(loads[i])
        best: tuple[int, tuple[int, ...]] = (0, ())
        best_key = (math.inf, math.inf, math.inf)
        for days in cache[stops[i].freq.name]:
            cols = list(days)
            day_max = float((slot[:, cols].sum(axis=0) + load).max())
            for doc in range(doctors):
                key = (
                    float((slot[doc, cols] + load).max()),
                    float(slot[doc].sum()) + load * len(cols),
                    day_max,
                )
                if key < best_key:
                    best, best_key = (doc, days), key
        chosen[i] = best
        slot[best[0], list(best[1])] += load
    return chosen


def plan(
    network: Network,
    facilities: gpd.GeoDataFrame,
    pairings: pd.DataFrame | None = None,
    *,
    clinic_kinds: Iterable[str] | None = None,
    visit_kinds: Iterable[str] = ("day_care", "happiness_home", "care_complex"),
    rules: Any = None,
    frequency: str | Mapping[str, str] = "weekly",
    horizon_days: int = 20,
    start_date: Any = None,
    day_hours: float = 8.0,
    start: str | dt.time = "08:00",
    service_min: float | str | Mapping[str, float] = DEFAULT_SERVICE_MIN,
    doctors: int | str = 1,
    threshold_min: float | None = None,
    time_limit_s: float = 30.0,
    solution_limit: int = _SOLUTION_LIMIT,
    exact_max_stops: int = 9,
    colocated_min: float = COLOCATED_MIN,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
    memo: PatrolMemo | None = None,
    **cost_kw: Any,
) -> PatrolPlan:
    """Plan the patrols (巡诊) of every clinic to its paired facilities over a horizon.

    Parameters
    ----------
    network
        An osmnx-style graph, a compiled :class:`siting.graph.GraphArrays`, or ``None``
        (straight-line estimates).
    facilities
        A registry (points indexed by id, with ``name`` and ``kind``).
    pairings
        A :func:`siting.pairing.pair` result; its assigned pairs of a visited kind with a clinic
        kind are used (the first rule's when a facility has several). Default: the ``patrol``
        rule of ``rules``, applied with ``visit_kinds`` -> ``clinic_kinds``.
    clinic_kinds, visit_kinds
        Kinds that patrol and kinds that are visited. Default ``clinic_kinds``: the partner
        kinds of the ``patrol`` rule (its ``to`` and ``urban_to`` kinds: 村卫生室 in villages,
        社区卫生服务站/中心 in urban communities) without ``pairings``; with ``pairings``, the
        village level (:data:`VILLAGE_CLINIC_KINDS`) and the partner kinds of its ``patrol``
        pairs.
    rules
        Pairing rules (file, mapping or :class:`siting.pairing.Rules`), when ``pairings`` is
        ``None``; default the shipped rules.
    frequency
        A frequency of :data:`FREQUENCIES` for every facility, a mapping kind -> frequency
        (``weekly`` for kinds it omits), or the name of a column of ``facilities``.
    horizon_days
        Working days planned (Monday to Friday; 20 = four weeks).
    start_date
        A Monday: the plan then carries dates (column ``date``; weekends skipped, public
        holidays not). Default ``None``: no dates, the relative ``day``/``week``/``weekday``
        only (a plan that does not depend on the day it is made).
    day_hours
        Working time of a doctor's day, from leaving the clinic to coming back.
    start
        Clock time at which the doctors leave (``"08:00"``).
    service_min
        Minutes spent at each facility: one number, a mapping kind -> minutes
        (:data:`DEFAULT_SERVICE_MIN` for kinds it omits) or a column of ``facilities``.
    doctors
        Doctors per clinic: one number or a column of ``facilities`` (empty cells: 1).
    threshold_min
        Patrol threshold (minutes from the clinic); default the pairing rule's.
    time_limit_s, solution_limit, exact_max_stops
        Solver limits (see :func:`solve_routes` and the module's *Determinism*).
    colocated_min
        A facility within this many minutes of its clinic, there and back, is co-located: a
        visit without a route (:data:`COLOCATED_MIN`; ``0`` only for the very same place).
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings` for the travel times (:func:`siting.costs.od_matrix`
        and, without ``pairings``, :func:`siting.pairing.pair`).
    options
        A :class:`siting.costs.TravelOptions` instead of the separate keywords; a keyword given
        as well overrides its field (its ``direction`` is not used: patrols go both ways).
    memo
        The :attr:`PatrolPlan.memo` of an earlier plan: the clinics whose inputs are all the
        same are taken from it rather than planned again (see *Reuse*); the plan is the same
        with or without it.
    cost_kw
        Other keywords, passed to :func:`siting.costs.od_matrix` and
        :func:`siting.pairing.pair`.

    Returns
    -------
    PatrolPlan

    Raises
    ------
    siting.patrol.PatrolError
        Bad settings or inputs (named in the message); ``memo`` not a :class:`PatrolMemo`.
    siting.MissingDependencyError
        OR-Tools is not installed (``pip install 'siting[patrol]'``). A plan needs it even when
        every day happens to be small enough for the exact solver, so that whether a plan can be
        made depends on what is installed, never on the data. (:func:`solve_routes` imports it
        only when it uses it.)

    Examples
    --------
    >>> import siting
    >>> region = siting.load_region("xuanhan")
    >>> roads = siting.network.modelled(region)
    >>> facilities = siting.modelled.registry_for(region)
    >>> p = plan(roads, facilities)
    >>> p.visits.columns[:4].tolist()
    ['clinic_id', 'clinic_name', 'doctor', 'day']
    >>> set(p.gaps["gap"]) <= set(GAP_KINDS)
    True

    The same plan again, every clinic taken from the first one's memo:

    >>> again = plan(roads, facilities, memo=p.memo)
    >>> again.memo.reused == p.memo.computed, again.memo.computed
    (True, 0)
    >>> again.visits.equals(p.visits)
    True
    """
    started = time.perf_counter()
    _ortools()  # before any work: a plan needs OR-Tools (siting[patrol])
    _, snap_m, access, detour, straight = with_options(
        options, None, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
    )
    travel = {
        "max_snap_m": snap_m,
        "access_speed_kph": access,
        "detour_factor": detour,
        "straight_line_speed_kph": straight,
    }
    cost_kw = {**cost_kw, **{k: v for k, v in travel.items() if v is not None}}
    given_kinds = clinic_kinds is not None
    opts = _options(
        facilities,
        clinic_kinds if clinic_kinds is not None else _default_clinic_kinds(pairings, rules),
        visit_kinds,
        horizon_days=horizon_days,
        start_date=start_date,
        day_hours=day_hours,
        start=start,
        threshold_min=threshold_min,
        time_limit_s=time_limit_s,
        solution_limit=solution_limit,
        exact_max_stops=exact_max_stops,
        colocated_min=colocated_min,
    )
    if memo is not None and not isinstance(memo, PatrolMemo):
        msg = f"memo must be the PatrolMemo of an earlier plan (PatrolPlan.memo), got {memo!r:.60}"
        raise PatrolError(msg)
    net = _net(network)
    if pairings is None:
        pairings = _patrol_pairings(net, facilities, rules, opts, cost_kw, given_kinds)
    stops, docs = _stops(
        facilities, pairings, opts, frequency=frequency, service_min=service_min, doctors=doctors
    )
    by_clinic: dict[Any, list[int]] = {}
    for i, s in enumerate(stops):
        if s.clinic is not None:
            by_clinic.setdefault(s.clinic, []).append(i)
    run = _Run(stops)
    lon_all, lat_all = _lonlat(facilities)
    pos_of = {f: p for p, f in enumerate(facilities.index)}
    order = sorted(by_clinic, key=str)
    keys = _clinic_keys(net, facilities, stops, by_clinic, docs, opts, cost_kw, pos_of)
    old = memo.entries if memo is not None and memo.version == _MEMO_VERSION else {}
    results = {c: _ClinicResult.from_entry(old[keys[c]]) for c in order if keys[c] in old}
    fresh = [c for c in order if c not in results]
    matrices = _Matrices(
        net,
        facilities,
        pos_of,
        [(c, [c, *[stops[i].fid for i in by_clinic[c]]]) for c in fresh],
        cost_kw,
    )
    for clinic in order:
        res = results.get(clinic)
        if res is None:
            res = results[clinic] = _plan_clinic(
                stops, clinic, by_clinic[clinic], matrices, docs, opts
            )
        _add_clinic(run, clinic, by_clinic[clinic], res, facilities, opts)
    _stop_gaps(run, facilities, opts)

    visits, route_rows, legs, refs = _tables(
        run.days, stops, run.matrices, facilities, opts.start_min, opts.first_day
    )
    routes = _geometries(route_rows, legs, refs, results, net, lon_all, lat_all, pos_of)
    totals = _totals(routes, run, by_clinic, docs, facilities, opts)
    gap_frame = _gap_frame(run.gaps)
    settings = _settings(
        run,
        opts,
        by_clinic,
        frequency=frequency,
        day_hours=day_hours,
        service_min=service_min,
        doctors=doctors,
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    new_memo = PatrolMemo(
        {keys[c]: results[c].entry() for c in order if not results[c].hits},
        reused=len(order) - len(fresh),
        computed=len(fresh),
    )
    return PatrolPlan(visits, routes, totals, gap_frame, settings, memo=new_memo)


def _gap_frame(gaps: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``gaps`` table (:data:`GAP_COLUMNS`) with its column types."""
    gap_frame = pd.DataFrame(gaps, columns=list(GAP_COLUMNS))
    return gap_frame.astype(
        {
            "travel_time_min": float,
            "threshold_min": float,
            "visits_planned": "int64",
            "visits_missed": "int64",
            "scheduled": bool,
        }
    )


def _settings(
    run: _Run,
    opts: _Options,
    by_clinic: dict[Any, list[int]],
    *,
    frequency: str | Mapping[str, str],
    day_hours: float,
    service_min: float | str | Mapping[str, float],
    doctors: int | str,
    elapsed_s: float,
) -> dict[str, Any]:
    """The settings used and the solver figures of a plan (``PatrolPlan.settings``)."""
    return {
        "clinic_kinds": list(opts.clinic_kinds),
        "visit_kinds": list(opts.visit_kinds),
        "frequency": frequency if isinstance(frequency, str) else dict(frequency),
        "horizon_days": opts.horizon,
        "start_date": None if opts.first_day is None else opts.first_day.isoformat(),
        "day_hours": float(day_hours),
        "start": _hhmm(opts.start_min),
        "service_min": service_min if not isinstance(service_min, Mapping) else dict(service_min),
        "doctors": doctors,
        "threshold_min": opts.threshold_min,
        "time_limit_s": float(opts.time_limit_s),
        "solution_limit": int(opts.solution_limit),
        "exact_max_stops": int(opts.exact_max_stops),
        "colocated_min": opts.colocated_min,
        "working_hours_per_month": round(WORKING_DAYS_PER_MONTH * opts.day_min / 60.0, 3),
        "holidays": "weekends only (Monday to Friday); public holidays are not skipped",
        "solver": "Held-Karp (exact) up to exact_max_stops; OR-Tools routing "
        "(local cheapest insertion + guided local search) above",
        "solves": run.n_solves,
        "time_limit_hits": run.hits,
        "facilities": len(run.stops),
        "clinics": len(by_clinic),
        "scheduled": int(sum(run.scheduled)),
        "colocated": int(sum(run.colocated)),
        "elapsed_s": elapsed_s,
    }


@dataclass(frozen=True)
class _Options:
    """The checked settings of a plan."""

    clinic_kinds: tuple[str, ...]
    visit_kinds: tuple[str, ...]
    horizon: int
    first_day: dt.date | None
    start_min: int
    day_min: float
    threshold_min: float | None
    time_limit_s: float
    solution_limit: int
    exact_max_stops: int
    colocated_min: float = COLOCATED_MIN


def _options(
    facilities: Any,
    clinic_kinds: Iterable[str],
    visit_kinds: Iterable[str],
    *,
    horizon_days: int,
    start_date: Any,
    day_hours: float,
    start: str | dt.time,
    threshold_min: float | None,
    time_limit_s: float,
    solution_limit: int,
    exact_max_stops: int,
    colocated_min: float = COLOCATED_MIN,
) -> _Options:
    """Check the facilities and the settings of :func:`plan`, in the order it documents."""
    if not isinstance(facilities, gpd.GeoDataFrame):
        msg = f"facilities must be a registry GeoDataFrame, got {type(facilities).__name__}"
        raise PatrolError(msg)
    for col in ("name", "kind"):
        if col not in facilities.columns:
            msg = f"facilities lack the column {col!r} (a registry has name and kind)"
            raise PatrolError(msg)
    if not facilities.index.is_unique:
        msg = "facilities must be indexed by unique ids"
        raise PatrolError(msg)
    c_kinds = tuple([clinic_kinds] if isinstance(clinic_kinds, str) else clinic_kinds)
    v_kinds = tuple([visit_kinds] if isinstance(visit_kinds, str) else visit_kinds)
    if not c_kinds or not v_kinds:
        msg = "clinic_kinds and visit_kinds must name at least one kind each"
        raise PatrolError(msg)
    if isinstance(horizon_days, bool) or int(horizon_days) != horizon_days or horizon_days < 1:
        msg = f"horizon_days must be a whole number of working days >= 1, got {horizon_days!r}"
        raise PatrolError(msg)
    horizon = int(horizon_days)
    first_day = _start_date(start_date)
    start_min = _clock(start)
    if not 0 < float(day_hours) <= 24 or start_min + float(day_hours) * 60 > 24 * 60:
        msg = f"day_hours must be positive and end the day before midnight, got {day_hours!r}"
        raise PatrolError(msg)
    day_min = float(day_hours) * 60.0
    if threshold_min is not None and not float(threshold_min) > 0:
        msg = f"threshold_min must be positive minutes, got {threshold_min!r}"
        raise PatrolError(msg)
    if not time_limit_s > 0 or int(solution_limit) < 1:
        msg = "time_limit_s must be positive and solution_limit at least 1"
        raise PatrolError(msg)
    colocated = _minutes_value(colocated_min, "colocated_min")
    return _Options(
        clinic_kinds=c_kinds,
        visit_kinds=v_kinds,
        horizon=horizon,
        first_day=first_day,
        start_min=start_min,
        day_min=day_min,
        threshold_min=threshold_min,
        time_limit_s=time_limit_s,
        solution_limit=solution_limit,
        exact_max_stops=exact_max_stops,
        colocated_min=colocated,
    )


def _patrol_rules(rules: Any) -> pairing.Rules:
    rs = pairing.load_rules(rules)
    if "patrol" not in [r.id for r in rs]:
        msg = "the pairing rules have no 'patrol' rule: give one, or pass pairings="
        raise PatrolError(msg)
    return rs


def _default_clinic_kinds(pairings: pd.DataFrame | None, rules: Any) -> tuple[str, ...]:
    """Default ``clinic_kinds`` of :func:`plan` (see there)."""
    if pairings is None:
        rule = next(r for r in _patrol_rules(rules) if r.id == "patrol")
        urban = tuple(getattr(rule, "urban_to", ()) or ())
        return tuple(dict.fromkeys([*rule.to_kinds, *urban]))
    found: list[str] = []
    if isinstance(pairings, pd.DataFrame) and {"rule", "partner_kind"} <= set(pairings.columns):
        kinds = pairings.loc[pairings["rule"].astype(str).eq("patrol").to_numpy(), "partner_kind"]
        found = sorted({str(k) for k in kinds.dropna()})
    return tuple(dict.fromkeys([*VILLAGE_CLINIC_KINDS, *found]))


def _patrol_pairings(
    net: GraphArrays | None,
    facilities: gpd.GeoDataFrame,
    rules: Any,
    opts: _Options,
    cost_kw: dict[str, Any],
    given_kinds: bool = True,
) -> pd.DataFrame:
    """The pairs of the ``patrol`` rule, visited kinds -> clinic kinds (no pairings given);
    the rule's own partner kinds (``to`` and ``urban_to``) unless ``clinic_kinds`` were given."""
    rs = _patrol_rules(rules)
    if given_kinds:
        rs = rs.replace("patrol", from_kinds=opts.visit_kinds, to_kinds=opts.clinic_kinds)
    else:
        rs = rs.replace("patrol", from_kinds=opts.visit_kinds)
    return pairing.pair(net, facilities, rs, only=["patrol"], **cost_kw)


def _stops(
    facilities: gpd.GeoDataFrame,
    pairings: pd.DataFrame,
    opts: _Options,
    *,
    frequency: str | Mapping[str, str],
    service_min: float | str | Mapping[str, float],
    doctors: int | str,
) -> tuple[list[_Stop], dict[Any, int]]:
    """Every visited facility with its clinic, threshold, frequency and service; doctors."""
    c_kinds, v_kinds = opts.clinic_kinds, opts.visit_kinds
    assigned = _assignments(pairings, v_kinds, c_kinds)
    by_str = {str(i): i for i in facilities.index}
    visit = facilities[facilities["kind"].isin(v_kinds).to_numpy(dtype=bool)]
    freqs = _per_kind(frequency, visit, "frequency", "weekly", _frequency)
    services = _per_kind(service_min, visit, "service_min", DEFAULT_SERVICE_MIN, _minutes_value)
    clinics_all = facilities[facilities["kind"].isin(c_kinds).to_numpy(dtype=bool)]
    docs = dict(
        zip(
            clinics_all.index,
            _per_kind(doctors, clinics_all, "doctors", 1, _doctors_value),
            strict=True,
        )
    )
    unknown = sorted({str(p) for p in assigned["partner_id"]} - by_str.keys())
    if unknown:
        msg = f"pairings name clinics that are not in facilities: {', '.join(unknown[:5])}"
        raise PatrolError(msg)
    has_th = "threshold_min" in assigned.columns
    pair_of = {
        str(f): (str(p), float(t), float(th))
        for f, p, t, th in zip(
            assigned["facility_id"],
            assigned["partner_id"],
            pd.to_numeric(assigned["travel_time_min"], errors="coerce").to_numpy(dtype=float),
            (
                pd.to_numeric(assigned["threshold_min"], errors="coerce").to_numpy(dtype=float)
                if has_th
                else np.full(len(assigned), math.nan)
            ),
            strict=True,
        )
    }
    stops: list[_Stop] = []
    for fid, name, kind, freq, svc in zip(
        visit.index, visit["name"], visit["kind"], freqs, services, strict=True
    ):
        found = pair_of.get(str(fid))
        clinic = None if found is None else by_str.get(found[0])
        t_min = math.nan if found is None else found[1]
        if opts.threshold_min is not None:
            th = float(opts.threshold_min)
        else:
            th = math.nan if found is None else found[2]
        stops.append(_Stop(fid, str(name), str(kind), clinic, t_min, th, freq, float(svc)))
    return stops, docs


@dataclass
class _Run:
    """What planning the clinics one after another accumulates, per stop and in total."""

    stops: list[_Stop]
    gaps: list[dict[str, Any]] = field(default_factory=list)
    matrices: dict[Any, tuple[F64, F64, list[int], str]] = field(default_factory=dict)
    days: list[_Day] = field(default_factory=list)
    visits_planned: list[int] = field(default_factory=list)
    missed: dict[int, list[int]] = field(default_factory=dict)
    scheduled: list[bool] = field(default_factory=list)
    colocated: list[bool] = field(default_factory=list)
    load_min: list[float] = field(default_factory=list)  # a visit's stand-alone minutes
    hits: int = 0
    n_solves: dict[str, int] = field(default_factory=lambda: {"exact": 0, "ortools": 0})

    def __post_init__(self) -> None:
        self.visits_planned = [0] * len(self.stops)
        self.scheduled = [False] * len(self.stops)
        self.colocated = [False] * len(self.stops)
        self.load_min = [0.0] * len(self.stops)


class _Matrices:
    """The travel matrices (seconds, km) among each clinic and its stops, from batched searches.

    On a network the matrices of consecutive clinics are read from one
    :func:`siting.costs.od_matrix` over the union of their points (at most
    :data:`_OD_BATCH` points): each pair's time and distance do not depend on the other points
    of a call, and a call has a fixed cost (checking and copying the graph) that thousands of
    tiny searches paid one by one. Straight-line times stay one call per clinic (their metric
    CRS follows the points).
    """

    def __init__(
        self,
        net: GraphArrays | None,
        facilities: gpd.GeoDataFrame,
        pos_of: dict[Any, int],
        plan: list[tuple[Any, list[Any]]],
        cost_kw: dict[str, Any],
    ) -> None:
        self.net, self.facilities, self.pos_of, self.cost_kw = net, facilities, pos_of, cost_kw
        self.plan = plan
        self.next = 0  # the first clinic of ``plan`` not searched yet
        self.ready: dict[Any, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]] = {}

    def of(
        self, clinic: Any, ids: list[Any]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]:
        if self.net is None:
            return self._search([(clinic, ids)])[clinic]
        while clinic not in self.ready and self.next < len(self.plan):
            batch: list[tuple[Any, list[Any]]] = []
            union: set[int] = set()
            while self.next < len(self.plan):
                more = {self.pos_of[f] for f in self.plan[self.next][1]}
                if batch and len(union | more) > _OD_BATCH:
                    break
                batch.append(self.plan[self.next])
                union |= more
                self.next += 1
            self.ready.update(self._search(batch))
        if clinic not in self.ready:  # not in the plan: on its own
            self.ready.update(self._search([(clinic, ids)]))
        return self.ready.pop(clinic)

    def _search(
        self, batch: list[tuple[Any, list[Any]]]
    ) -> dict[Any, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]]:
        order = list(dict.fromkeys(self.pos_of[f] for _, ids in batch for f in ids))
        where = {p: i for i, p in enumerate(order)}
        pts = self.facilities.iloc[order]
        od = costs.od_matrix(self.net, pts, pts, **self.cost_kw)
        u = len(order)
        t_all = od["time_s"].to_numpy(dtype=float).reshape(u, u)
        access = (
            od["origin_snap_m"].fillna(0.0).to_numpy()
            + od["destination_snap_m"].fillna(0.0).to_numpy()
        )
        km_all = ((od["distance_m"].to_numpy(dtype=float) + access) / 1000.0).reshape(u, u)
        method = str(od["method"].iloc[0])
        out = {}
        for clinic, ids in batch:
            idx = np.array([where[self.pos_of[f]] for f in ids], dtype=np.int64)
            t = t_all[np.ix_(idx, idx)].copy()
            km = km_all[np.ix_(idx, idx)].copy()
            np.fill_diagonal(t, 0.0)
            np.fill_diagonal(km, 0.0)
            out[clinic] = (t, km, method)
        return out


#: Points of one batched travel-matrix search of the patrols (:class:`_Matrices`).
_OD_BATCH: Final = 256


@dataclass
class _ClinicResult:
    """One clinic's part of a plan: what a :class:`PatrolMemo` entry holds.

    ``t``, ``km`` and ``method`` are its travel matrices (clinic first, then its stops);
    ``planned`` the visits planned per stop; ``days`` the (day, doctor, matrix positions
    driven, solution number or -1 without a driven route, co-located positions visited,
    co-located positions that did not fit) of every slot with visits; ``solutions`` the
    distinct solves; ``coords`` the route coordinates of each solve (None until made; for an
    empty route too).
    """

    t: F64
    km: F64
    method: str
    planned: list[int]
    days: list[tuple[int, int, tuple[int, ...], int, tuple[int, ...], tuple[int, ...]]]
    solutions: list[Solution]
    coords: list[F64 | None]

    @property
    def hits(self) -> int:
        """Solves stopped by the time limit (such a result is never kept in a memo)."""
        return sum(int(s.time_limit_hit) for s in self.solutions)

    def entry(self) -> tuple[Any, ...]:
        """The memo entry: plain Python and numpy data."""
        sols = tuple(
            (s.routes, s.dropped, float(s.travel_s), float(s.span_s), s.solver)
            for s in self.solutions
        )
        return (
            self.t,
            self.km,
            self.method,
            tuple(self.planned),
            tuple(self.days),
            sols,
            tuple(self.coords),
        )

    @classmethod
    def from_entry(cls, entry: tuple[Any, ...]) -> _ClinicResult:
        t, km, method, planned, days, sols, coords = entry
        return cls(
            t,
            km,
            method,
            list(planned),
            list(days),
            [Solution(r, d, tr, sp, sv) for r, d, tr, sp, sv in sols],
            list(coords),
        )


def _digest(*parts: Any) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    for part in parts:
        h.update(part if isinstance(part, bytes) else repr(part).encode())
        h.update(b"\x00")
    return h.digest()


def _net_fingerprint(net: GraphArrays | None) -> bytes:
    """A digest of the compiled graph's arrays (coordinates, CRS, travel times, lengths)."""
    if net is None:
        return b"straight-line"
    h = hashlib.blake2b(digest_size=20)
    arrays = (
        net.x,
        net.y,
        net.lon,
        net.lat,
        net.time.indptr,
        net.time.indices,
        net.time.data,
        net.length.indptr,
        net.length.indices,
        net.length.data,
    )
    for a in arrays:
        arr = np.ascontiguousarray(a)
        h.update(repr((arr.dtype.str, arr.shape)).encode())
        h.update(arr.tobytes())
    h.update(str(net.crs.to_wkt()).encode())
    return h.digest()


def _clinic_keys(
    net: GraphArrays | None,
    facilities: gpd.GeoDataFrame,
    stops: list[_Stop],
    by_clinic: Mapping[Any, list[int]],
    docs: Mapping[Any, int],
    opts: _Options,
    cost_kw: Mapping[str, Any],
    pos_of: Mapping[Any, int],
) -> dict[Any, bytes]:
    """Per clinic, a digest of everything its part of the plan depends on (see *Reuse*)."""
    from siting import settings
    from siting.costs.args import travel_settings

    travel = travel_settings(
        cost_kw.get("max_snap_m"),
        cost_kw.get("access_speed_kph"),
        cost_kw.get("detour_factor"),
        cost_kw.get("straight_line_speed_kph"),
    )
    crs = None if facilities.crs is None else facilities.crs.to_wkt()
    common = _digest(
        _MEMO_VERSION,
        _net_fingerprint(net),
        crs,
        travel,
        (settings.max_snap_m, settings.access_speed_kph, settings.metric_crs),
        sorted((k, repr(v)) for k, v in cost_kw.items()),
        dataclasses.replace(opts, first_day=None),  # dates are filled in after, not memoised
    )
    geom = facilities.geometry
    xs = np.asarray(geom.x, dtype=float).tolist()
    ys = np.asarray(geom.y, dtype=float).tolist()
    out = {}
    for clinic, members in by_clinic.items():
        p = pos_of[clinic]
        stop_keys = []
        for i in members:
            s, q = stops[i], pos_of[stops[i].fid]
            stop_keys.append(
                (
                    s.fid,
                    s.name,
                    s.kind,
                    s.clinic,
                    s.travel_min,
                    s.threshold_min,
                    s.freq,
                    s.service_min,
                    xs[q],
                    ys[q],
                )
            )
        out[clinic] = _digest(common, clinic, xs[p], ys[p], docs.get(clinic, 1), stop_keys)
    return out


def _plan_clinic(
    stops: list[_Stop],
    clinic: Any,
    members: list[int],
    matrices: _Matrices,
    docs: Mapping[Any, int],
    opts: _Options,
) -> _ClinicResult:
    """One clinic: its travel matrices, the stops it can serve, their days and routes."""
    t, km, method = matrices.of(clinic, [clinic, *[stops[i].fid for i in members]])
    svc_s = np.array([0.0] + [stops[i].service_min * 60.0 for i in members])
    loads, colo = _loads(t, svc_s, opts)
    ok_pos = _servable(stops, members, t, loads, opts)
    res = _ClinicResult(t, km, method, [0] * len(members), [], [], [])
    if not ok_pos:
        return res
    sub = [stops[members[k - 1]] for k in ok_pos]
    chosen = _schedule(sub, loads[np.array(ok_pos) - 1], opts.horizon, docs.get(clinic, 1))
    on_slot: dict[tuple[int, int], list[int]] = {}
    for k, (doc, pat) in zip(ok_pos, chosen, strict=True):
        res.planned[k - 1] = len(pat)
        for d in pat:
            on_slot.setdefault((d, doc), []).append(k)
    _solve_days(res, on_slot, t, svc_s, colo, opts)
    return res


def _loads(t: F64, svc_s: F64, opts: _Options) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Stand-alone seconds of one visit of each stop (there, service, back; a co-located one:
    its service only) and which stops are co-located (there and back each within
    ``colocated_min``)."""
    there, back = t[0, 1:], t[1:, 0]
    lim = opts.colocated_min * 60.0
    colo = np.isfinite(there) & np.isfinite(back) & (there <= lim) & (back <= lim)
    loads = np.where(colo, 0.0, there + back) + svc_s[1:]
    return loads, colo


def _servable(
    stops: list[_Stop], members: list[int], t: F64, loads: F64, opts: _Options
) -> list[int]:
    """Matrix positions of the clinic's stops that a day can hold (:func:`_servable_gaps`
    says why the others are not)."""
    day_s = opts.day_min * 60.0
    ok_pos: list[int] = []
    for k in range(1, len(members) + 1):
        if not (math.isfinite(t[0, k]) and math.isfinite(t[k, 0])):
            continue
        if loads[k - 1] > day_s * (1 + 1e-12):
            continue
        ok_pos.append(k)
    return ok_pos


def _servable_gaps(
    run: _Run,
    clinic: Any,
    members: list[int],
    t: F64,
    loads: F64,
    facilities: gpd.GeoDataFrame,
    opts: _Options,
) -> None:
    """Gaps of the clinic's stops that no day can hold (those :func:`_servable` leaves out)."""
    day_s, day_min = opts.day_min * 60.0, opts.day_min
    for k, i in enumerate(members, start=1):
        s = run.stops[i]
        there, back = t[0, k] / 60.0, t[k, 0] / 60.0
        if not (math.isfinite(there) and math.isfinite(back)):
            run.gaps.append(
                _gap(
                    s,
                    "unreachable",
                    facilities,
                    False,
                    0,
                    [],
                    f"从{_name(facilities, clinic)}出发路网上无法往返，未排巡诊",
                    "no road from the clinic and back: not scheduled",
                )
            )
            continue
        if loads[k - 1] > day_s * (1 + 1e-12):
            tot = there + back + s.service_min
            run.gaps.append(
                _gap(
                    s,
                    "exceeds_day",
                    facilities,
                    False,
                    0,
                    [],
                    f"单次巡诊往返车程{there:.0f}+{back:.0f}分钟加服务{s.service_min:g}分钟，"
                    f"共{tot:.0f}分钟，超过每日工作时间{day_min:g}分钟",
                    f"one visit alone takes {there:.0f}+{back:.0f} min travel and "
                    f"{s.service_min:g} min service = {tot:.0f} min, more than the "
                    f"{day_min:g}-minute working day",
                )
            )


def _solve_days(
    res: _ClinicResult,
    on_slot: dict[tuple[int, int], list[int]],
    t: F64,
    svc_s: F64,
    colo: npt.NDArray[np.bool_],
    opts: _Options,
) -> None:
    """The route of every (day, doctor) slot of a clinic; one solve per distinct set of stops.

    The co-located stops of a slot are visited at the clinic's place (in id order, as many as
    the day holds); the driven stops are routed in what is left of the day.
    """
    day_s = opts.day_min * 60.0
    solved: dict[tuple[tuple[int, ...], float], int] = {}
    for d, doc in sorted(on_slot):
        here = sorted(on_slot[d, doc])
        kept: list[int] = []
        dropped: list[int] = []
        used = 0.0
        for k in (k for k in here if colo[k - 1]):
            if used + svc_s[k] <= day_s * (1 + 1e-12):
                kept.append(k)
                used += float(svc_s[k])
            else:
                dropped.append(k)
        key = tuple(k for k in here if not colo[k - 1])
        sol_id = -1
        if key:
            if (key, used) not in solved:
                idx = [0, *key]
                if day_s - used > 0:
                    sol = solve_routes(
                        t[np.ix_(idx, idx)],
                        svc_s[idx],
                        day_s=day_s - used,
                        time_limit_s=opts.time_limit_s,
                        solution_limit=opts.solution_limit,
                        exact_max_stops=opts.exact_max_stops,
                    )
                else:  # the co-located visits fill the day
                    sol = Solution(((),), tuple(range(1, len(idx))), 0.0, 0.0, "exact")
                solved[key, used] = len(res.solutions)
                res.solutions.append(sol)
                res.coords.append(None)
            sol_id = solved[key, used]
        res.days.append((d, doc, key, sol_id, tuple(kept), tuple(dropped)))


def _add_clinic(
    run: _Run,
    clinic: Any,
    members: list[int],
    res: _ClinicResult,
    facilities: gpd.GeoDataFrame,
    opts: _Options,
) -> None:
    """Add a clinic's part (planned now or from a memo) to the plan's accumulators."""
    stops = run.stops
    svc_s = np.array([0.0] + [stops[i].service_min * 60.0 for i in members])
    loads, colo = _loads(res.t, svc_s, opts)
    for k, i in enumerate(members):
        run.colocated[i] = bool(colo[k])
        run.load_min[i] = float(loads[k]) / 60.0
    _servable_gaps(run, clinic, members, res.t, loads, facilities, opts)
    run.matrices[clinic] = (res.t, res.km, members, res.method)
    for k, n in enumerate(res.planned):
        if n:
            run.visits_planned[members[k]] = n
    for solved in res.solutions:
        run.hits += int(solved.time_limit_hit)
        run.n_solves[solved.solver] += 1
    for d, doc, key, sol_id, onsite, onsite_dropped in res.days:
        sol = None if sol_id < 0 else res.solutions[sol_id]
        run.days.append(_Day(clinic, d, doc, key, sol, sol_id, onsite))
        for k in onsite:
            run.scheduled[members[k - 1]] = True
        for k in onsite_dropped:
            run.missed.setdefault(members[k - 1], []).append(d)
        if sol is None:
            continue
        for j in sol.dropped:
            run.missed.setdefault(members[key[j - 1] - 1], []).append(d)
        for j in sol.routes[0]:
            run.scheduled[members[key[j - 1] - 1]] = True


def _stop_gaps(run: _Run, facilities: gpd.GeoDataFrame, opts: _Options) -> None:
    """Gaps of the stops: no clinic, beyond the threshold, days that do not fit."""
    day_min, scheduled, visits_planned, missed = (
        opts.day_min,
        run.scheduled,
        run.visits_planned,
        run.missed,
    )
    for i, s in enumerate(run.stops):
        if s.clinic is None:
            run.gaps.append(
                _gap(
                    s,
                    "no_clinic",
                    facilities,
                    False,
                    0,
                    [],
                    "没有配对的"
                    + "或".join(_kind_zh(k) for k in opts.clinic_kinds)
                    + "（路网上不可达，或配对结果中没有），无法安排巡诊",
                    "no clinic paired (none reachable on the road network, or none in the "
                    "pairings): no patrol",
                )
            )
            continue
        if math.isfinite(s.threshold_min) and s.travel_min > s.threshold_min:
            run.gaps.append(
                _gap(
                    s,
                    "beyond_threshold",
                    facilities,
                    scheduled[i],
                    visits_planned[i],
                    missed.get(i, []),
                    f"{_name(facilities, s.clinic)}车程{s.travel_min:.0f}分钟，超过"
                    f"{s.threshold_min:g}分钟巡诊阈值"
                    + ("（仍已排入巡诊）" if scheduled[i] else ""),
                    f"{s.travel_min:.0f} min from the clinic, beyond the "
                    f"{s.threshold_min:g}-minute patrol threshold"
                    + (" (still scheduled)" if scheduled[i] else ""),
                )
            )
        if i in missed:
            dd = missed[i]
            labels = "、".join(_day_label(d) for d in dd)
            run.gaps.append(
                _gap(
                    s,
                    "does_not_fit",
                    facilities,
                    scheduled[i],
                    visits_planned[i],
                    dd,
                    f"{labels}与当日其他巡诊合计超过医生工作时间（{day_min:g}分钟），这些天未排入",
                    f"on {', '.join(_day_label(d, 'en') for d in dd)} it does not fit in the "
                    f"doctors' {day_min:g}-minute day with the other visits",
                )
            )


# --- outputs -----------------------------------------------------------------------------------


def _name(facilities: gpd.GeoDataFrame, fid: Any) -> str:
    return str(facilities.at[fid, "name"])


def _kind_zh(kind: str) -> str:
    from siting.kinds import kind_label

    return kind_label(kind, "zh").split("(")[0]


_WEEKDAYS_EN: Final = ("Mon", "Tue", "Wed", "Thu", "Fri")


def _day_label(day: int, lang: str = "zh") -> str:
    week, wd = divmod(day, 5)
    if lang == "zh":
        return f"第{week + 1}周{WEEKDAYS_ZH[wd]}"
    return f"week {week + 1} {_WEEKDAYS_EN[wd]}"


def _gap(
    s: _Stop,
    gap: str,
    facilities: gpd.GeoDataFrame,
    scheduled: bool,
    planned: int,
    days_missed: list[int],
    reason: str,
    reason_en: str,
) -> dict[str, Any]:
    return {
        "facility_id": s.fid,
        "facility_name": s.name,
        "facility_kind": s.kind,
        "clinic_id": s.clinic,
        "clinic_name": None if s.clinic is None else _name(facilities, s.clinic),
        "gap": gap,
        "scheduled": scheduled,
        "travel_time_min": round(s.travel_min, 3),
        "threshold_min": s.threshold_min,
        "visits_planned": planned,
        "visits_missed": len(days_missed),
        "days_missed": " ".join(str(d + 1) for d in days_missed),
        "reason": reason,
        "reason_en": reason_en,
    }


#: The legs of a route: (from id, to id), clinic to clinic.
_Legs = list[tuple[Any, Any]]


def _tables(
    days: list[_Day],
    stops: list[_Stop],
    matrices: Mapping[Any, tuple[F64, F64, list[int], str]],
    facilities: gpd.GeoDataFrame,
    start_min: int,
    first_day: dt.date | None,
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[_Legs], list[tuple[Any, int]]]:
    """The visits table; per route its row, its legs (ids) and its (clinic, solution number).

    The rows of a route are made once per distinct solve of a clinic (its routes on other days
    differ only in the day), then repeated column by column.
    """
    cols: dict[str, list[Any]] = {c: [] for c in PATROL_COLUMNS}
    route_rows: list[dict[str, Any]] = []
    legs: list[list[tuple[Any, Any]]] = []
    refs: list[tuple[Any, int]] = []
    names, kinds = facilities["name"], facilities["kind"]  # a column's .at is 20x a frame's
    clinic_of: dict[Any, tuple[str, str]] = {}
    made: dict[tuple[Any, int], list[_RouteRows]] = {}
    for d in days:
        if d.clinic not in clinic_of:
            clinic_of[d.clinic] = (str(names.at[d.clinic]), str(kinds.at[d.clinic]))
        key = (d.clinic, d.sol_id)
        if key not in made:
            made[key] = (
                []
                if d.solution is None
                else [
                    _route_rows(d, route, stops, matrices[d.clinic], clinic_of[d.clinic], start_min)
                    for route in d.solution.routes
                    if route
                ]
            )
        week, wd = divmod(d.day, 5)
        date = None if first_day is None else first_day + dt.timedelta(days=week * 7 + wd)
        base = {
            "clinic_id": d.clinic,
            "clinic_name": clinic_of[d.clinic][0],
            "day": d.day + 1,
            "week": week + 1,
            "weekday": WEEKDAYS_ZH[wd],
            "date": date,
            "doctor": d.doctor + 1,
        }
        for r in made[key]:
            n = len(r.rows["seq"])
            for c, v in base.items():
                cols[c].extend([v] * n)
            for c, vs in r.rows.items():
                cols[c].extend(vs)
            route_rows.append({**base, **r.route})
            legs.append(r.legs)
            refs.append(key)
        if d.onsite:
            _onsite_rows(cols, base, d, made[key], stops, matrices[d.clinic], start_min)
    visits = pd.DataFrame(cols if cols["seq"] else [], columns=list(PATROL_COLUMNS))
    if len(visits):
        visits = visits.sort_values(
            ["clinic_id", "day", "doctor", "seq"], key=_sort_key, kind="stable"
        ).reset_index(drop=True)
    visits = visits.astype(
        {
            "doctor": "int64",
            "day": "int64",
            "week": "int64",
            "seq": "int64",
            "service_min": float,
            "leg_km": float,
            "leg_min": float,
        }
    )
    return visits, route_rows, legs, refs


def _onsite_rows(
    cols: dict[str, list[Any]],
    base: dict[str, Any],
    d: _Day,
    routes: list[_RouteRows],
    stops: list[_Stop],
    matrix: tuple[F64, F64, list[int], str],
    start_min: int,
) -> None:
    """The co-located visits of a day (``stop="onsite"``): made at the clinic's place after the
    day's route (from ``start`` without one), service time only, no leg."""
    members = matrix[2]
    clock = float(start_min)
    seq = 0
    for r in routes:
        clock += float(r.route["duration_min"])
        seq = max(seq, max(r.rows["seq"], default=0))
    for k in d.onsite:
        st = stops[members[k - 1]]
        seq += 1
        row = {
            "seq": seq,
            "stop": "onsite",
            "facility_id": st.fid,
            "facility_name": st.name,
            "facility_kind": st.kind,
            "arrive": _hhmm(clock),
            "depart": _hhmm(clock + st.service_min),
            "service_min": st.service_min,
            "leg_km": 0.0,
            "leg_min": 0.0,
            "method": "co_located",
        }
        clock += st.service_min
        for c, v in base.items():
            cols[c].append(v)
        for c, v in row.items():
            cols[c].append(v)


@dataclass
class _RouteRows:
    """One route of a solve, whatever its day: its visit rows by column (without the day and
    doctor), its route row's own fields and its legs."""

    rows: dict[str, list[Any]]
    route: dict[str, Any]
    legs: list[tuple[Any, Any]]


def _route_rows(
    d: _Day,
    route: tuple[int, ...],
    stops: list[_Stop],
    matrix: tuple[F64, F64, list[int], str],
    clinic: tuple[str, str],
    start_min: int,
) -> _RouteRows:
    t, km, members, method = matrix
    c_name, c_kind = clinic
    path = [0, *(d.stops[j - 1] for j in route), 0]
    clock = float(start_min)
    ids = [d.clinic, *(stops[members[k - 1]].fid for k in path[1:-1]), d.clinic]
    rows: dict[str, list[Any]] = {
        "seq": [0],
        "stop": ["start"],
        "facility_id": [d.clinic],
        "facility_name": [c_name],
        "facility_kind": [c_kind],
        "arrive": [None],
        "depart": [_hhmm(clock)],
        "service_min": [0.0],
        "leg_km": [0.0],
        "leg_min": [0.0],
        "method": [method],
    }
    total_km = travel = service = 0.0
    for seq, (a, b) in enumerate(itertools.pairwise(path), start=1):
        leg_min = float(t[a, b]) / 60.0
        leg_km = float(km[a, b])
        clock += leg_min
        travel += leg_min
        total_km += leg_km
        end = seq == len(path) - 1
        st = None if end else stops[members[b - 1]]
        svc = 0.0 if st is None else st.service_min
        service += svc
        rows["seq"].append(seq)
        rows["stop"].append("end" if end else "visit")
        rows["facility_id"].append(d.clinic if st is None else st.fid)
        rows["facility_name"].append(c_name if st is None else st.name)
        rows["facility_kind"].append(c_kind if st is None else st.kind)
        rows["arrive"].append(_hhmm(clock))
        rows["depart"].append(None if end else _hhmm(clock + svc))
        rows["service_min"].append(svc)
        rows["leg_km"].append(round(leg_km, 3))
        rows["leg_min"].append(round(leg_min, 3))
        rows["method"].append(method)
        clock += svc
    own = {
        "stops": len(path) - 2,
        "facility_ids": "→".join(str(f) for f in ids[1:-1]),
        "start": _hhmm(start_min),
        "end": _hhmm(clock),
        "km": round(total_km, 3),
        "travel_min": round(travel, 3),
        "service_min": service,
        "duration_min": round(travel + service, 3),
        "solver": "" if d.solution is None else d.solution.solver,
        "method": method,
    }
    return _RouteRows(rows, own, list(itertools.pairwise(ids)))


def _sort_key(col: pd.Series) -> pd.Series:
    return col.astype(str) if col.name == "clinic_id" else col


def _geometries(
    route_rows: list[dict[str, Any]],
    legs: list[list[tuple[Any, Any]]],
    refs: list[tuple[Any, int]],
    results: Mapping[Any, _ClinicResult],
    net: GraphArrays | None,
    lon: F64,
    lat: F64,
    pos_of: Mapping[Any, int],
) -> gpd.GeoDataFrame:
    """The routes frame: each route's line, made once per distinct solve of a clinic (the
    routes of a solve share their legs) unless its clinic's result already holds it."""
    todo: dict[tuple[Any, int], list[tuple[Any, Any]]] = {}
    for ref, route in zip(refs, legs, strict=True):
        if results[ref[0]].coords[ref[1]] is None:
            todo.setdefault(ref, route)
    if todo:
        made = _route_coords(list(todo.values()), net, lon, lat, pos_of)
        for (clinic, sol_id), xy in zip(todo, made, strict=True):
            results[clinic].coords[sol_id] = xy
    coords: list[F64] = []
    for c, i in refs:
        line = results[c].coords[i]
        assert line is not None  # made above
        coords.append(line)
    if coords:
        sizes = np.array([len(c) for c in coords])
        geometry = shapely.linestrings(
            np.concatenate(coords), indices=np.repeat(np.arange(len(coords)), sizes)
        )
    else:
        geometry = np.array([], dtype=object)
    frame = pd.DataFrame(route_rows, columns=list(ROUTE_COLUMNS))
    out = gpd.GeoDataFrame(frame, geometry=list(geometry), crs="EPSG:4326")
    if len(out):
        out = out.sort_values(["clinic_id", "day", "doctor"], key=_sort_key, kind="stable")
        out = out.reset_index(drop=True)
    return out.astype({"doctor": "int64", "day": "int64", "week": "int64", "stops": "int64"})


def _route_coords(
    legs: list[list[tuple[Any, Any]]],
    net: GraphArrays | None,
    lon: F64,
    lat: F64,
    pos_of: Mapping[Any, int],
) -> list[F64]:
    """The coordinates of each route: every leg from the point to its road node, along the
    fastest road path (predecessor trees), to the next point; straight without a network."""
    coords: list[F64] = []
    if net is not None and legs:
        used = sorted({pos_of[f] for route in legs for leg in route for f in leg})
        snapped = snap(net, lon[used], lat[used])
        node_of = dict(zip(used, snapped["node_pos"].to_numpy(), strict=True))
        origins = sorted({int(node_of[pos_of[a]]) for route in legs for a, _ in route})
        row_of = {o: i for i, o in enumerate(origins)}
        pred = np.empty((0, net.n), dtype=np.int32)
        batch = max(1, (64 * 2**20) // max(net.n * 4, 1))
        parts = []
        for lo in range(0, len(origins), batch):
            _, p = dijkstra(
                net.time, directed=True, indices=origins[lo : lo + batch], return_predecessors=True
            )
            parts.append(p.astype(np.int32))
        if parts:
            pred = np.vstack(parts)
    for route in legs:
        pts: list[tuple[float, float]] = []
        for a, b in route:
            pa, pb = pos_of[a], pos_of[b]
            seg = [(float(lon[pa]), float(lat[pa]))]
            if net is not None:
                o, d = int(node_of[pa]), int(node_of[pb])
                chain = [d]
                tree = pred[row_of[o]]
                while chain[-1] != o and tree[chain[-1]] >= 0:
                    chain.append(int(tree[chain[-1]]))
                chain.reverse()
                seg.extend((float(net.lon[k]), float(net.lat[k])) for k in chain)
            seg.append((float(lon[pb]), float(lat[pb])))
            for xy in seg:
                if not pts or pts[-1] != xy:
                    pts.append(xy)
        if len(pts) < 2:
            pts = pts * 2
        coords.append(np.array(pts, dtype=float))
    return coords


def _totals(
    routes: gpd.GeoDataFrame,
    run: _Run,
    by_clinic: Mapping[Any, list[int]],
    docs: Mapping[Any, int],
    facilities: gpd.GeoDataFrame,
    opts: _Options,
) -> pd.DataFrame:
    """Per clinic: the driven routes and the co-located visits over the horizon and per month,
    and whether the plan (with the visits that did not fit) needs more than its doctors'
    working month (``overloaded``)."""
    missed = run.missed
    per_month = WORKING_DAYS_PER_MONTH / opts.horizon
    working = WORKING_DAYS_PER_MONTH * opts.day_min / 60.0
    onsite: dict[Any, list[tuple[int, int, float]]] = {}
    for d in run.days:
        members = run.matrices[d.clinic][2]
        for k in d.onsite:
            svc = run.stops[members[k - 1]].service_min
            onsite.setdefault(d.clinic, []).append((d.day, d.doctor, svc))
    rows = []
    # each clinic's routes as one slice of arrays (in the routes' order, as a groupby gives
    # them: the sums are numpy's over the same values in the same order, as Series.sum's)
    where: dict[Any, int] = {}
    bounds = np.zeros(1, dtype=np.int64)
    cols: dict[str, npt.NDArray[Any]] = {}
    if len(routes):
        codes, uniques = pd.factorize(routes["clinic_id"], sort=False)
        by_code = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[by_code], np.arange(len(uniques) + 1))
        where = {u: j for j, u in enumerate(uniques)}
        for c in ("km", "travel_min", "service_min", "duration_min"):
            cols[c] = routes[c].to_numpy(dtype=float)[by_code]
        for c in ("stops", "day", "doctor"):
            cols[c] = routes[c].to_numpy(dtype=np.int64)[by_code]
    names, kinds = facilities["name"], facilities["kind"]  # a column's .at is 20x a frame's
    for clinic in sorted(by_clinic, key=str):
        j = where.get(clinic)
        members = by_clinic[clinic]
        n_missed = sum(len(missed.get(i, [])) for i in members)
        missed_h = sum(len(missed.get(i, [])) * run.load_min[i] for i in members) / 60.0
        slot: dict[tuple[int, int], float] = {}
        if j is None:
            km = travel = service = 0.0
            visits = n_routes = 0
        else:
            a, b = int(bounds[j]), int(bounds[j + 1])
            km = float(cols["km"][a:b].sum())
            travel = float(cols["travel_min"][a:b].sum()) / 60.0
            service = float(cols["service_min"][a:b].sum()) / 60.0
            visits, n_routes = int(cols["stops"][a:b].sum()), b - a
            for day, doc, dur in zip(
                cols["day"][a:b], cols["doctor"][a:b], cols["duration_min"][a:b], strict=True
            ):
                key = (int(day), int(doc))
                slot[key] = slot.get(key, 0.0) + float(dur)
        here = onsite.get(clinic, [])
        if here:
            service += sum(svc for _, _, svc in here) / 60.0
            for day, doc, svc in here:
                key = (day + 1, doc + 1)
                slot[key] = slot.get(key, 0.0) + svc
        max_day = round(max(slot.values()) / 60, 3) if slot else 0.0
        n_docs = docs.get(clinic, 1)
        needed = (travel + service + missed_h) * per_month
        per_doc = needed / n_docs
        over = per_doc > working * (1 + 1e-9)
        rows.append(
            {
                "clinic_id": clinic,
                "clinic_name": str(names.at[clinic]),
                "clinic_kind": str(kinds.at[clinic]),
                "doctors": docs.get(clinic, 1),
                "facilities": len(members),
                "visits": visits + len(here),
                "visits_missed": n_missed,
                "routes": n_routes,
                "km": round(km, 3),
                "travel_hours": round(travel, 3),
                "service_hours": round(service, 3),
                "hours": round(travel + service, 3),
                "km_per_month": round(km * per_month, 3),
                "hours_per_month": round((travel + service) * per_month, 3),
                "max_day_hours": max_day,
                "visits_onsite": len(here),
                "hours_needed_per_month": round(needed, 3),
                "hours_per_doctor_month": round(per_doc, 3),
                "working_hours_per_month": round(working, 3),
                "overloaded": bool(over),
                "overload_reason": _overload_zh(needed, n_docs, per_doc, working, opts)
                if over
                else "",
                "overload_reason_en": _overload_en(needed, n_docs, per_doc, working, opts)
                if over
                else "",
            }
        )
    out = pd.DataFrame(rows, columns=list(TOTAL_COLUMNS))
    return out.astype({"overloaded": bool, "visits_onsite": "int64"})


def _overload_zh(needed: float, docs: int, per_doc: float, working: float, o: _Options) -> str:
    return (
        f"巡诊每月需{needed:.0f}小时（含当日排不下的巡诊），{docs}名医生每人{per_doc:.0f}小时，"
        f"超过每月工作时间{working:.0f}小时（{WORKING_DAYS_PER_MONTH:g}个工作日×"
        f"{o.day_min / 60:g}小时）；需增加医生或由社区卫生服务机构/卫生院分担"
    )


def _overload_en(needed: float, docs: int, per_doc: float, working: float, o: _Options) -> str:
    return (
        f"the patrols need {needed:.0f} hours a month (with the visits that did not fit), "
        f"{per_doc:.0f} hours for each of {docs} doctor(s), more than a working month of "
        f"{working:.0f} hours ({WORKING_DAYS_PER_MONTH:g} working days x {o.day_min / 60:g} h); "
        "more doctors, or another clinic or health centre to share the visits"
    )


def coverage_gaps(gaps: PatrolPlan | pd.DataFrame) -> pd.DataFrame:
    """Patrol gaps in the shape of the coverage gaps (``gaps.csv`` of a run).

    One row per facility with a patrol gap: ``gap_type="patrol"``, ``rule="patrol"``, the clinic
    as ``nearest_partner_id``/``nearest_partner_name``, ``reachable`` (a clinic can reach it),
    the patrol ``gap`` kind and the reasons joined.
    """
    frame = gaps.gaps if isinstance(gaps, PatrolPlan) else gaps
    cols = (
        "gap_type",
        "rule",
        "facility_id",
        "facility_name",
        "facility_kind",
        "nearest_partner_id",
        "nearest_partner_name",
        "travel_time_min",
        "threshold_min",
        "reachable",
        "patrol_gap",
        "reason",
    )
    if frame.empty:
        return pd.DataFrame(columns=list(cols))
    rows = []
    for fid, g in frame.groupby("facility_id", sort=False):
        first = g.iloc[0]
        rows.append(
            {
                "gap_type": "patrol",
                "rule": "patrol",
                "facility_id": fid,
                "facility_name": first["facility_name"],
                "facility_kind": first["facility_kind"],
                "nearest_partner_id": first["clinic_id"],
                "nearest_partner_name": first["clinic_name"],
                "travel_time_min": first["travel_time_min"],
                "threshold_min": first["threshold_min"],
                "reachable": not g["gap"].isin(["no_clinic", "unreachable"]).any(),
                "patrol_gap": " ".join(g["gap"]),
                "reason": "；".join(g["reason"]),
            }
        )
    return pd.DataFrame(rows, columns=list(cols))
