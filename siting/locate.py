"""Where to add facilities: location-allocation that closes the coverage gaps.

Three classic models, solved exactly with HiGHS (:mod:`highspy`) on sparse formulations:

* **LSCP** (location set covering, Toregas et al. 1971): the fewest new sites so that every
  demand point has an open facility within ``threshold`` minutes.
* **MCLP** (maximal covering, Church & ReVelle 1974): ``p`` new sites that maximise the elderly
  population within ``threshold`` minutes of an open facility.
* **p-median** (Hakimi 1964; ReVelle & Swain 1970): ``p`` new sites that minimise the
  population-weighted travel time of every demand point to the facility it is assigned to; with
  ``capacity``, every facility serves at most its capacity (each demand point assigned whole to
  one facility, as in :class:`spopt.locate.PMedian`).

Existing facilities are **fixed**: open, counted in coverage and assignment, never counted in
``p`` (``p`` is the number of *new* sites). Candidate sites are the township seats or the villages
of a :class:`~siting.regions.Region`, or a user list. Demand is weighted by the elderly population
(``pop_65plus`` by default); the built-in regions' village populations are modelled, and the
results say so (``population_source``).

Formulation
-----------
Costs come from the travel-time engine (:mod:`siting.costs`) as *pairs*: only the (demand, site)
pairs within a cutoff enter the model (:class:`Pairs`). Coverage models need the pairs within
``threshold`` (:func:`siting.costs.reach`); demand already covered by an existing facility drops
out, and demand points with the same set of covering candidates are merged (their weights
summed), so the model grows with the gaps, not with the region.

The p-median model lists, for every demand point, its ``k`` nearest sites (``nearest_k``,
default ``ceil(n_candidates / p) + 3``; plus the pairs within ``cutoff_min`` when given). Each
demand point ``i`` also gets a *beyond-cutoff* variable priced at ``bound[i]``, the time of its
``k``-th nearest site: a lower bound on every pair left out. The model is then a relaxation of
the full p-median, and when no demand point uses that variable the solution is optimal for the
full problem (an exact certificate). Otherwise the demand points that use it get twice as many
nearest sites and the model is solved again (at most :data:`CUTOFF_RETRIES` times; all sites
once ``k`` reaches their number); a solution still relying on it is flagged
(``cutoff_exact=False``, status ``"cutoff_limited"``) with the demand points concerned. Without
capacities, a demand point's candidate pairs no faster than its nearest existing facility are
left out (they could never be used), and the opening constraints are the strong ones
(``x_ij <= y_j``).

Every solve reports HiGHS's status, the objective, the best bound, the relative gap and the time.
``status`` is ``"optimal"`` (proven, gap 0), ``"within_gap"`` (proven within ``mip_gap``),
``"time_limit"`` (a feasible solution when the time limit stopped the search: not optimal; the
gap says how far it may be), ``"infeasible"`` (no solution exists: e.g. a demand point no site
can reach within the threshold in LSCP, or capacities too small), ``"no_solution"`` (stopped
before any solution was found) or ``"error"``. :func:`recommend` raises
:class:`LocateInfeasibleError` (with the result attached) when there is no solution; it never
passes a time-out as optimal.

Cross-checked against :mod:`spopt.locate` (``LSCP``, ``MCLP``, ``PMedian`` ``from_cost_matrix``
solved by CBC) in the tests: the same objective values.

两院一体: :func:`colocation` lists the health centres with no nursing home within a set distance
(500 m by default), ranked by the elderly population of their catchment (the villages whose
nearest health centre they are), the candidates for building a nursing home next door (毗邻建设).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import highspy
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from siting import costs, coverage, registry
from siting._errors import LocateError, LocateInfeasibleError
from siting._io import write_csv, write_text
from siting.crs import metric_crs
from siting.regions import Region

__all__ = [
    "CANDIDATE_SOURCES",
    "COLOCATION_COLUMNS",
    "CUTOFF_RETRIES",
    "MODELS",
    "P_MEDIAN_NEAREST",
    "RECOMMENDATION_COLUMNS",
    "STATUSES",
    "LocateError",
    "LocateInfeasibleError",
    "LocateResult",
    "Pairs",
    "Solution",
    "colocation",
    "facility_demand",
    "lscp",
    "mclp",
    "p_median",
    "pairs_from_matrix",
    "recommend",
    "write",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]
Model = Literal["lscp", "mclp", "p_median"]

#: Accepted values of ``model=``.
MODELS: Final = ("lscp", "mclp", "p_median")

#: Values of ``status`` (see the module docstring).
STATUSES: Final = (
    "optimal",
    "within_gap",
    "time_limit",
    "cutoff_limited",
    "infeasible",
    "no_solution",
    "error",
)

#: Accepted strings of ``candidates=`` (a GeoDataFrame of sites is accepted too).
CANDIDATE_SOURCES: Final = ("townships", "villages")

#: The p-median lists at least ``ceil(n_candidates / p)`` plus this many nearest sites of every
#: demand point.
P_MEDIAN_NEAREST: Final = 3

#: How many times the p-median doubles the nearest sites listed for the demand points whose
#: solution relies on a pair beyond them.
CUTOFF_RETRIES: Final = 6

#: Columns of :attr:`LocateResult.recommendations`, in order.
RECOMMENDATION_COLUMNS: Final = (
    "rank",
    "site_id",
    "site_name",
    "source",
    "lon",
    "lat",
    "county_code",
    "township_code",
    "coord_quality",
    "model",
    "kind",
    "threshold_min",
    "newly_covered_pop",
    "assigned_demand_pop",
    "assigned_demand_n",
    "mean_time_min",
    "capacity",
    "pop_column",
    "population_source",
    "method",
)

#: Columns of :func:`colocation`, in order.
COLOCATION_COLUMNS: Final = (
    "rank",
    "facility_id",
    "name",
    "kind",
    "county_code",
    "township_code",
    "lon",
    "lat",
    "nearest_care_id",
    "nearest_care_name",
    "nearest_care_m",
    "distance_m",
    "catchment_villages",
    "catchment_pop",
    "pop_column",
    "population_source",
    "method",
    "suggestion_zh",
    "suggestion_en",
)

_SOURCE_LABELS: Final = {"townships": "township_seat", "villages": "village", "user": "user"}
_MODEL_ZH: Final = {"lscp": "最少设施全覆盖", "mclp": "最大覆盖", "p_median": "p-中位"}
_MODEL_EN: Final = {"lscp": "set covering", "mclp": "maximal covering", "p_median": "p-median"}
_STATUS_ZH: Final = {
    "time_limit": "达到时间上限，非最优解",
    "cutoff_limited": "部分需求点超出候选时间截断，未证明最优",
    "within_gap": "在设定差距内最优",
}
_SOLVER: Final = (
    f"HiGHS {highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}."
    f"{highspy.HIGHS_VERSION_PATCH} (highspy)"
)
#: Solutions closer than this (relative) to their bound are reported optimal.
_GAP_TOL: Final = 1e-9


# --- sparse costs --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Pairs:
    """Travel costs of the (demand, site) pairs that enter a model, positions not ids.

    Attributes
    ----------
    demand, site
        Positions of the demand point and of the site of every pair.
    cost
        Travel cost of every pair (minutes in :func:`recommend`), finite and >= 0.
    n_demand, n_site
        Numbers of demand points and sites.
    bound
        Per demand point, a lower bound on the cost of every pair *not* listed (``inf``: every
        reachable pair is listed). Coverage models need every pair within their threshold.
    """

    demand: I64
    site: I64
    cost: F64
    n_demand: int
    n_site: int
    bound: F64

    def __post_init__(self) -> None:
        n = len(self.demand)
        if len(self.site) != n or len(self.cost) != n or len(self.bound) != self.n_demand:
            msg = "Pairs: demand, site and cost must have one entry per pair, bound per demand"
            raise LocateError(msg)
        if n and (
            self.demand.min() < 0
            or self.demand.max() >= self.n_demand
            or self.site.min() < 0
            or self.site.max() >= self.n_site
        ):
            msg = "Pairs: a demand or site position is out of range"
            raise LocateError(msg)
        if n and not (np.isfinite(self.cost).all() and (self.cost >= 0).all()):
            msg = "Pairs: costs must be finite and >= 0 (leave unreachable pairs out)"
            raise LocateError(msg)

    def within(self, threshold: float) -> Pairs:
        """The pairs of cost at most ``threshold`` (their bound becomes ``threshold``)."""
        keep = self.cost <= threshold
        bound = np.minimum(self.bound, threshold)
        return Pairs(
            self.demand[keep], self.site[keep], self.cost[keep], self.n_demand, self.n_site, bound
        )


def pairs_from_matrix(matrix: npt.ArrayLike, *, cutoff: float | None = None) -> Pairs:
    """The pairs of a dense cost matrix (demand points x sites) within ``cutoff``.

    Parameters
    ----------
    matrix
        Costs, rows demand points, columns sites; NaN or ``inf`` where unreachable.
    cutoff
        Keep the pairs of cost at most this; ``None`` keeps every finite one.

    Examples
    --------
    >>> pairs = pairs_from_matrix([[1.0, 5.0], [np.nan, 2.0]], cutoff=4)
    >>> pairs.demand.tolist(), pairs.site.tolist(), pairs.cost.tolist()
    ([0, 1], [0, 1], [1.0, 2.0])
    """
    mat = np.asarray(matrix, dtype=np.float64)
    if mat.ndim != 2:
        msg = f"matrix must be two-dimensional (demand x sites), got shape {mat.shape}"
        raise LocateError(msg)
    if (mat < 0).any():
        msg = "matrix holds negative costs"
        raise LocateError(msg)
    limit = math.inf if cutoff is None else _number(cutoff, "cutoff")
    ok = np.isfinite(mat) & (mat <= limit)
    rows, cols = np.nonzero(ok)
    return Pairs(
        rows.astype(np.int64),
        cols.astype(np.int64),
        mat[rows, cols],
        mat.shape[0],
        mat.shape[1],
        np.full(mat.shape[0], limit),
    )


# --- HiGHS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Solution:
    """A solved model, by position (see :func:`lscp`, :func:`mclp`, :func:`p_median`).

    Attributes
    ----------
    model
        ``"lscp"``, ``"mclp"`` or ``"p_median"``.
    status
        One of :data:`STATUSES`.
    solver_status
        HiGHS's model status, as HiGHS words it (or the reason found before solving).
    objective
        LSCP: the number of new sites; MCLP: the covered weight (existing facilities included);
        p-median: the weighted cost. NaN without a solution.
    bound
        The best bound HiGHS proved on the objective (NaN when unknown).
    gap
        Relative gap between objective and bound (0 when optimal; NaN without a solution).
    solve_time_s
        Wall-clock time of the solver (HiGHS's run time), seconds.
    chosen
        Positions of the chosen new sites, in increasing order.
    open
        Open sites (fixed or chosen).
    assignment
        Per demand point, the site it is assigned to (-1: none). Coverage models: the nearest
        open site within the threshold; p-median: the model's assignment.
    assigned_cost
        Cost of that assignment (NaN where none).
    beyond_cutoff
        p-median: demand points whose assignment relies on a pair beyond the cutoff.
    unreachable
        Demand points with no site at all (p-median), or no site within the threshold (LSCP:
        what makes it infeasible).
    n_columns, n_rows, n_nonzeros
        Size of the model passed to HiGHS.
    """

    model: Model
    status: str
    solver_status: str
    objective: float
    bound: float
    gap: float
    solve_time_s: float
    chosen: I64
    open: B1
    assignment: I64
    assigned_cost: F64
    beyond_cutoff: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unreachable: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_columns: int = 0
    n_rows: int = 0
    n_nonzeros: int = 0

    @property
    def has_solution(self) -> bool:
        """A feasible solution was found (optimal or not)."""
        return self.status in ("optimal", "within_gap", "time_limit", "cutoff_limited")

    @property
    def optimal(self) -> bool:
        """Proven optimal (``mip_gap`` 0) or within the requested gap."""
        return self.status in ("optimal", "within_gap")


@dataclass(frozen=True)
class _Raw:
    status: str
    solver_status: str
    objective: float
    bound: float
    gap: float
    time_s: float
    x: F64 | None
    n_columns: int
    n_rows: int
    n_nonzeros: int


def _highs(
    *,
    cost: F64,
    upper: F64,
    integer: B1,
    matrix: sp.csc_matrix,
    row_lower: F64,
    row_upper: F64,
    maximize: bool,
    offset: float,
    time_limit_s: float,
    mip_gap: float,
) -> _Raw:
    """Solve ``min/max cost @ x + offset`` s.t. ``row_lower <= A x <= row_upper``,
    ``0 <= x <= upper``, ``x[integer]`` integral."""
    n, m = len(cost), len(row_lower)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = m
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = upper
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    lp.offset_ = offset
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(np.float64)
    kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
    lp.integrality_ = [kinds[int(flag)] for flag in integer]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    word = h.modelStatusToString(ms)
    elapsed = float(h.getRunTime())
    has_sol = int(info.primal_solution_status) == int(highspy.kSolutionStatusFeasible)
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
    objective = float(info.objective_function_value) if has_sol else math.nan
    bound = float(info.mip_dual_bound) if integer.any() else objective
    gap = float(info.mip_gap) if integer.any() else 0.0
    if not math.isfinite(bound):
        bound = math.nan
    if not math.isfinite(gap):
        gap = math.nan
    status: str
    mstat = highspy.HighsModelStatus
    if ms == mstat.kOptimal and has_sol:
        gap = 0.0 if not gap > _GAP_TOL else gap
        status = "optimal" if gap <= _GAP_TOL else "within_gap"
    elif ms in (mstat.kInfeasible, mstat.kUnboundedOrInfeasible):
        status = "infeasible"
    elif ms in (
        mstat.kTimeLimit,
        mstat.kIterationLimit,
        mstat.kSolutionLimit,
        mstat.kInterrupt,
        mstat.kMemoryLimit,
        mstat.kObjectiveBound,
        mstat.kObjectiveTarget,
        mstat.kUnknown,
    ):
        status = "time_limit" if has_sol else "no_solution"
    else:
        status = "error"
    if not has_sol:
        objective, gap = math.nan, math.nan
    return _Raw(status, word, objective, bound, gap, elapsed, x, n, m, int(matrix.nnz))


def _csc(rows: I64, cols: I64, vals: F64, shape: tuple[int, int]) -> sp.csc_matrix:
    return sp.csc_matrix((vals, (rows, cols)), shape=shape)


def _check_sizes(pairs: Pairs, weights: F64 | None, fixed: B1) -> None:
    if weights is not None and len(weights) != pairs.n_demand:
        msg = f"weights has {len(weights)} values for {pairs.n_demand} demand points"
        raise LocateError(msg)
    if len(fixed) != pairs.n_site:
        msg = f"fixed has {len(fixed)} values for {pairs.n_site} sites"
        raise LocateError(msg)


def _weights(weights: npt.ArrayLike, name: str = "weights") -> F64:
    w = np.asarray(weights, dtype=np.float64).ravel()
    if not (np.isfinite(w).all() and (w >= 0).all()):
        msg = f"{name} must be finite and >= 0"
        raise LocateError(msg)
    return w


def _fixed(fixed: npt.ArrayLike | None, n_site: int) -> B1:
    if fixed is None:
        return np.zeros(n_site, dtype=bool)
    arr = np.asarray(fixed)
    if arr.dtype == bool:
        return arr.astype(bool)
    out = np.zeros(n_site, dtype=bool)
    out[arr.astype(np.int64)] = True  # positions
    return out


def _nearest_open(pairs: Pairs, is_open: B1, threshold: float = math.inf) -> tuple[I64, F64]:
    """Per demand point, its nearest open site among the pairs (ties: lower site position)."""
    keep = is_open[pairs.site] & (pairs.cost <= threshold)
    d, s, c = pairs.demand[keep], pairs.site[keep], pairs.cost[keep]
    order = np.lexsort((s, c, d))
    d, s, c = d[order], s[order], c[order]
    first = np.ones(len(d), dtype=bool)
    first[1:] = d[1:] != d[:-1]
    site = np.full(pairs.n_demand, -1, dtype=np.int64)
    cost = np.full(pairs.n_demand, np.nan)
    site[d[first]] = s[first]
    cost[d[first]] = c[first]
    return site, cost


def _group_rows(demand: I64, site: I64, n_demand: int) -> tuple[I64, I64]:
    """Merge demand points with the same set of sites: (group of every demand, -1 if none;
    the representative demand point of every group)."""
    order = np.lexsort((site, demand))
    d, s = demand[order], site[order]
    starts = np.searchsorted(d, np.arange(n_demand))
    ends = np.searchsorted(d, np.arange(n_demand), side="right")
    keys: dict[bytes, int] = {}
    group = np.full(n_demand, -1, dtype=np.int64)
    reps: list[int] = []
    for i in np.flatnonzero(ends > starts).tolist():
        key = s[starts[i] : ends[i]].tobytes()
        g = keys.setdefault(key, len(keys))
        if g == len(reps):
            reps.append(i)
        group[i] = g
    return group, np.asarray(reps, dtype=np.int64)


def _settings(time_limit_s: float, mip_gap: float) -> tuple[float, float]:
    t = _number(time_limit_s, "time_limit_s")
    if t <= 0:
        msg = f"time_limit_s must be positive, got {time_limit_s!r}"
        raise LocateError(msg)
    g = _number(mip_gap, "mip_gap")
    if g >= 1:
        msg = f"mip_gap is a relative gap in [0, 1), got {mip_gap!r}"
        raise LocateError(msg)
    return t, g


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        msg = f"{name} must be a number, got {value!r}"
        raise LocateError(msg)
    v = float(value)
    if math.isnan(v) or v < 0:
        msg = f"{name} must be a number >= 0, got {value!r}"
        raise LocateError(msg)
    return v


def _count(value: Any, name: str, n_candidates: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise LocateError(msg)
    if value > n_candidates:
        msg = f"{name}={value} exceeds the number of candidate sites ({n_candidates})"
        raise LocateError(msg)
    return int(value)


def _solution(
    model: Model,
    raw: _Raw,
    pairs: Pairs,
    fixed: B1,
    chosen: I64,
    *,
    objective: float | None = None,
    threshold: float = math.inf,
    **extra: Any,
) -> Solution:
    is_open = fixed.copy()
    is_open[chosen] = True
    site, cost = _nearest_open(pairs, is_open, threshold)
    if "assignment" in extra:
        site, cost = extra.pop("assignment"), extra.pop("assigned_cost")
    return Solution(
        model=model,
        status=raw.status,
        solver_status=raw.solver_status,
        objective=raw.objective if objective is None else objective,
        bound=raw.bound,
        gap=raw.gap,
        solve_time_s=raw.time_s,
        chosen=np.sort(chosen),
        open=is_open,
        assignment=site,
        assigned_cost=cost,
        n_columns=raw.n_columns,
        n_rows=raw.n_rows,
        n_nonzeros=raw.n_nonzeros,
        **extra,
    )


def _no_model(status: str, reason: str, objective: float = 0.0) -> _Raw:
    """The outcome of a model decided before any solver run."""
    ok = status == "optimal"
    return _Raw(
        status,
        reason,
        objective if ok else math.nan,
        objective if ok else math.nan,
        0.0 if ok else math.nan,
        0.0,
        None,
        0,
        0,
        0,
    )


# --- models --------------------------------------------------------------------------------------


def lscp(
    pairs: Pairs,
    threshold: float,
    *,
    fixed: npt.ArrayLike | None = None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> Solution:
    """Location set covering: the fewest new sites so that every demand point is covered.

    A demand point is covered when an open site (fixed or new) is within ``threshold``.

    Parameters
    ----------
    pairs
        Every (demand, site) pair within ``threshold`` (more are ignored).
    threshold
        The coverage bound, in the unit of the costs.
    fixed
        Sites open already (a boolean mask or positions): not counted in the objective.
    time_limit_s, mip_gap
        HiGHS's time limit (seconds) and relative optimality gap.

    Returns
    -------
    Solution
        ``objective`` is the number of new sites. ``status="infeasible"`` (and
        ``unreachable``) when some demand point has no site within ``threshold``.

    Examples
    --------
    >>> pairs = pairs_from_matrix([[1, 9, 9], [9, 1, 1], [9, 9, 1]])
    >>> sol = lscp(pairs, 2)
    >>> sol.status, sol.objective, sol.chosen.tolist()
    ('optimal', 2.0, [0, 2])
    """
    limit = _number(threshold, "threshold")
    t, g = _settings(time_limit_s, mip_gap)
    fix = _fixed(fixed, pairs.n_site)
    _check_sizes(pairs, None, fix)
    near = pairs.within(limit)
    done = np.zeros(pairs.n_demand, dtype=bool)
    done[near.demand[fix[near.site]]] = True
    cand = ~fix[near.site] & ~done[near.demand]
    d, s = near.demand[cand], near.site[cand]
    reachable = np.zeros(pairs.n_demand, dtype=bool)
    reachable[d] = True
    lost = np.flatnonzero(~done & ~reachable)
    empty = np.zeros(0, dtype=np.int64)
    if len(lost):
        reason = f"infeasible: {len(lost)} demand point(s) have no site within the threshold"
        raw = _no_model("infeasible", reason)
        return _solution("lscp", raw, pairs, fix, empty, threshold=limit, unreachable=lost)
    if not len(d):
        raw = _no_model("optimal", "optimal: every demand point is covered already")
        return _solution("lscp", raw, pairs, fix, empty, threshold=limit)
    group, _ = _group_rows(d, s, pairs.n_demand)
    cols, col_of = np.unique(s, return_inverse=True)
    rows = group[d]
    key = np.unique(rows * len(cols) + col_of)
    r, c = key // len(cols), key % len(cols)
    n_rows = int(rows.max()) + 1
    matrix = _csc(r, c, np.ones(len(r)), (n_rows, len(cols)))
    raw = _highs(
        cost=np.ones(len(cols)),
        upper=np.ones(len(cols)),
        integer=np.ones(len(cols), dtype=bool),
        matrix=matrix,
        row_lower=np.ones(n_rows),
        row_upper=np.full(n_rows, np.inf),
        maximize=False,
        offset=0.0,
        time_limit_s=t,
        mip_gap=g,
    )
    chosen = cols[raw.x > 0.5] if raw.x is not None else empty
    objective = float(len(chosen)) if raw.x is not None else math.nan
    return _solution("lscp", raw, pairs, fix, chosen, objective=objective, threshold=limit)


def mclp(
    pairs: Pairs,
    weights: npt.ArrayLike,
    threshold: float,
    p: int,
    *,
    fixed: npt.ArrayLike | None = None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> Solution:
    """Maximal covering: ``p`` new sites maximising the weight within ``threshold`` of an open
    site.

    Parameters
    ----------
    pairs
        Every (demand, site) pair within ``threshold`` (more are ignored).
    weights
        Demand weights (elderly population), one per demand point.
    threshold
        The coverage bound, in the unit of the costs.
    p
        At most this many new sites (fixed sites are open and not counted). Sites that would add
        no coverage are not opened, so fewer may be chosen.
    fixed, time_limit_s, mip_gap
        As in :func:`lscp`.

    Returns
    -------
    Solution
        ``objective`` is the covered weight, the demand covered by fixed sites included (as in
        :class:`spopt.locate.MCLP` with predefined facilities and ``p`` plus their number).

    Examples
    --------
    >>> pairs = pairs_from_matrix([[1, 9, 9], [9, 1, 1], [9, 9, 1]])
    >>> sol = mclp(pairs, [10, 20, 5], 2, 1)
    >>> sol.objective, sol.chosen.tolist()
    (25.0, [2])
    """
    limit = _number(threshold, "threshold")
    t, g = _settings(time_limit_s, mip_gap)
    w = _weights(weights)
    fix = _fixed(fixed, pairs.n_site)
    _check_sizes(pairs, w, fix)
    n_cand = int((~fix).sum())
    k = _count(p, "p", n_cand)
    near = pairs.within(limit)
    done = np.zeros(pairs.n_demand, dtype=bool)
    done[near.demand[fix[near.site]]] = True
    base = float(w[done].sum())
    cand = ~fix[near.site] & ~done[near.demand] & (w[near.demand] > 0)
    d, s = near.demand[cand], near.site[cand]
    empty = np.zeros(0, dtype=np.int64)
    if not len(d):
        raw = _no_model("optimal", "optimal: no candidate can cover more demand", base)
        return _solution("mclp", raw, pairs, fix, empty, threshold=limit)
    group, reps = _group_rows(d, s, pairs.n_demand)
    n_groups = len(reps)
    gw = np.bincount(group[group >= 0], weights=w[group >= 0], minlength=n_groups)
    cols, col_of = np.unique(s, return_inverse=True)
    rows = group[d]
    key = np.unique(rows * len(cols) + col_of)
    r, c = key // len(cols), key % len(cols)
    ny = len(cols)
    # columns: y (sites) then z (groups); rows: z_g - sum y <= 0, then sum y <= p
    rr = np.concatenate([r, np.arange(n_groups), np.full(ny, n_groups)])
    cc = np.concatenate([c, ny + np.arange(n_groups), np.arange(ny)])
    vv = np.concatenate([-np.ones(len(r)), np.ones(n_groups), np.ones(ny)])
    matrix = _csc(rr, cc, vv, (n_groups + 1, ny + n_groups))
    raw = _highs(
        cost=np.concatenate([np.zeros(ny), gw]),
        upper=np.ones(ny + n_groups),
        integer=np.concatenate([np.ones(ny, dtype=bool), np.zeros(n_groups, dtype=bool)]),
        matrix=matrix,
        row_lower=np.full(n_groups + 1, -np.inf),
        row_upper=np.concatenate([np.zeros(n_groups), [float(k)]]),
        maximize=True,
        offset=base,
        time_limit_s=t,
        mip_gap=g,
    )
    if raw.x is None:
        return _solution("mclp", raw, pairs, fix, empty, threshold=limit)
    chosen = cols[raw.x[:ny] > 0.5]
    # drop chosen sites that add nothing (the objective is unchanged)
    chosen = _prune_cover(near, w, fix, chosen)
    is_open = fix.copy()
    is_open[chosen] = True
    covered = np.zeros(pairs.n_demand, dtype=bool)
    covered[near.demand[is_open[near.site]]] = True
    objective = float(w[covered].sum())
    return _solution("mclp", raw, pairs, fix, chosen, objective=objective, threshold=limit)


def _cover_count(near: Pairs, is_open: B1) -> I64:
    return np.bincount(near.demand[is_open[near.site]], minlength=near.n_demand).astype(np.int64)


def _prune_cover(near: Pairs, w: F64, fix: B1, chosen: I64) -> I64:
    """Drop chosen sites whose removal loses no covered weight (least covering first)."""
    is_open = fix.copy()
    is_open[chosen] = True
    count = _cover_count(near, is_open)
    members = {int(j): near.demand[near.site == j] for j in chosen.tolist()}
    keep = set(members)
    for site in sorted(members, key=lambda j: (float(w[members[j]].sum()), j)):
        mine = members[site]
        if not (w[mine[count[mine] == 1]] > 0).any():
            count[mine] -= 1
            keep.discard(site)
    return np.asarray(sorted(keep), dtype=np.int64)


def p_median(
    pairs: Pairs,
    weights: npt.ArrayLike,
    p: int,
    *,
    fixed: npt.ArrayLike | None = None,
    capacity: npt.ArrayLike | None = None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> Solution:
    """p-median: ``p`` new sites minimising the weighted cost of every demand point's assignment.

    Without ``capacity`` each demand point goes to its nearest open site; with it, every site
    serves at most its capacity (sum of the weights assigned), each demand point assigned whole
    to one site.

    Parameters
    ----------
    pairs
        The (demand, site) pairs within a cutoff; ``pairs.bound`` is a lower bound on the cost
        of the pairs left out (see the module docstring: the cutoff certificate).
    weights
        Demand weights, one per demand point.
    p
        At most this many new sites (fixed sites are open and not counted).
    fixed
        As in :func:`lscp`.
    capacity
        Capacity of every site, in the unit of the weights (``inf`` for none); ``None``: no
        capacities.
    time_limit_s, mip_gap
        As in :func:`lscp`.

    Returns
    -------
    Solution
        ``objective`` is the weighted cost; demand points with no site at all are left out
        (``unreachable``); those whose assignment relies on the cutoff bound are
        ``beyond_cutoff`` (their cost counted at the bound: the objective is then a lower bound).

    Examples
    --------
    >>> pairs = pairs_from_matrix([[1, 4, 9], [4, 1, 9], [9, 9, 1]])
    >>> sol = p_median(pairs, [2, 1, 2], 2)
    >>> sol.objective, sol.chosen.tolist()
    (8.0, [0, 2])
    """
    t, g = _settings(time_limit_s, mip_gap)
    w = _weights(weights)
    fix = _fixed(fixed, pairs.n_site)
    _check_sizes(pairs, w, fix)
    k = _count(p, "p", int((~fix).sum()))
    cap: F64 | None = None
    if capacity is not None:
        cap = np.asarray(capacity, dtype=np.float64).ravel()
        if len(cap) != pairs.n_site or np.isnan(cap).any() or (cap < 0).any():
            msg = f"capacity must hold one number >= 0 (or inf) for each of {pairs.n_site} sites"
            raise LocateError(msg)
        if np.isinf(cap).all():
            cap = None
    n_dem = pairs.n_demand
    has_pair = np.zeros(n_dem, dtype=bool)
    has_pair[pairs.demand] = True
    unreachable = np.flatnonzero(~has_pair & np.isinf(pairs.bound))
    active = ~np.isin(np.arange(n_dem), unreachable) & (w > 0)
    keep = active[pairs.demand]
    d, s, c = pairs.demand[keep], pairs.site[keep], pairs.cost[keep]
    if cap is None:
        # the nearest fixed site of each demand point; slower candidates are useless
        fixed_best = np.full(n_dem, np.inf)
        fpair = fix[s]
        np.minimum.at(fixed_best, d[fpair], c[fpair])
        best_pair = np.zeros(len(d), dtype=bool)
        if fpair.any():
            fp = np.flatnonzero(fpair)
            order = fp[np.lexsort((s[fp], c[fp], d[fp]))]
            first = np.ones(len(order), dtype=bool)
            first[1:] = d[order][1:] != d[order][:-1]
            best_pair[order[first]] = True
        useful = best_pair | (~fpair & (c < fixed_best[d]))
        d, s, c = d[useful], s[useful], c[useful]
        need_far = active & np.isinf(fixed_best) & np.isfinite(pairs.bound)
    else:
        need_far = active & np.isfinite(pairs.bound)
    dem = np.flatnonzero(active)
    row_of = np.full(n_dem, -1, dtype=np.int64)
    row_of[dem] = np.arange(len(dem))
    cand_sites = np.unique(s[~fix[s]])
    ny = len(cand_sites)
    ne = len(d)
    far = np.flatnonzero(need_far)
    nf = len(far)
    n_cols = ny + ne + nf
    # y columns: candidates; x columns: pairs; f columns: beyond-cutoff
    ycol = np.full(pairs.n_site, -1, dtype=np.int64)
    ycol[cand_sites] = np.arange(ny)
    xcol = ny + np.arange(ne)
    fcol = ny + ne + np.arange(nf)
    rows_r: list[I64] = []
    rows_c: list[I64] = []
    rows_v: list[F64] = []
    lower: list[F64] = []
    upper: list[F64] = []
    n_rows = 0

    def add(r: I64, cidx: I64, v: F64, lo: F64, hi: F64) -> None:
        nonlocal n_rows
        rows_r.append(r + n_rows)
        rows_c.append(cidx)
        rows_v.append(v)
        lower.append(lo)
        upper.append(hi)
        n_rows += len(lo)

    nd = len(dem)
    # assignment: sum_j x_ij + f_i = 1
    add(
        np.concatenate([row_of[d], row_of[far]]),
        np.concatenate([xcol, fcol]),
        np.ones(ne + nf),
        np.ones(nd),
        np.ones(nd),
    )
    # opening: x_ij - y_j <= 0 for candidate pairs
    cp = np.flatnonzero(~fix[s])
    add(
        np.concatenate([np.arange(len(cp)), np.arange(len(cp))]),
        np.concatenate([xcol[cp], ycol[s[cp]]]),
        np.concatenate([np.ones(len(cp)), -np.ones(len(cp))]),
        np.full(len(cp), -np.inf),
        np.zeros(len(cp)),
    )
    # cardinality: sum y <= p
    add(
        np.zeros(ny, dtype=np.int64), np.arange(ny), np.ones(ny), np.array([-np.inf]), np.array([k])
    )
    if cap is not None:
        finite = np.flatnonzero(np.isfinite(cap))
        sites_used = np.unique(s)
        limited = np.intersect1d(finite, sites_used)
        crow = np.full(pairs.n_site, -1, dtype=np.int64)
        crow[limited] = np.arange(len(limited))
        on = crow[s] >= 0
        cand_lim = limited[~fix[limited]]
        fix_lim = limited[fix[limited]]
        add(
            np.concatenate([crow[s[on]], crow[cand_lim]]),
            np.concatenate([xcol[on], ycol[cand_lim]]),
            np.concatenate([w[d[on]], -cap[cand_lim]]),
            np.full(len(limited), -np.inf),
            np.where(fix[limited], cap[limited], 0.0),
        )
        del fix_lim
    matrix = _csc(
        np.concatenate(rows_r),
        np.concatenate(rows_c),
        np.concatenate(rows_v),
        (n_rows, n_cols),
    )
    bound = pairs.bound
    cost = np.concatenate([np.zeros(ny), w[d] * c, w[far] * bound[far]])
    integer = np.zeros(n_cols, dtype=bool)
    integer[:ny] = True
    if cap is not None:
        integer[xcol] = True
    raw = _highs(
        cost=cost,
        upper=np.ones(n_cols),
        integer=integer,
        matrix=matrix,
        row_lower=np.concatenate(lower),
        row_upper=np.concatenate(upper),
        maximize=False,
        offset=0.0,
        time_limit_s=t,
        mip_gap=g,
    )
    empty = np.zeros(0, dtype=np.int64)
    site = np.full(n_dem, -1, dtype=np.int64)
    acost = np.full(n_dem, np.nan)
    if raw.x is None:
        return _solution(
            "p_median",
            raw,
            pairs,
            fix,
            empty,
            assignment=site,
            assigned_cost=acost,
            unreachable=unreachable,
        )
    xv = raw.x[xcol]
    # each demand point: the pair of largest x (ties at equal cost are split by LP)
    order = np.lexsort((c, -xv, d))
    first = np.ones(len(order), dtype=bool)
    first[1:] = d[order][1:] != d[order][:-1]
    pick = order[first]
    pick = pick[xv[pick] > 0.5 - 1e-6]
    site[d[pick]] = s[pick]
    acost[d[pick]] = c[pick]
    beyond = far[raw.x[fcol] > 0.5] if nf else empty
    opened = cand_sites[raw.x[:ny] > 0.5]
    is_open = fix.copy()
    is_open[opened] = True
    objective: float | None = None
    if cap is None:
        # every demand point to its nearest open site: the zero-weight ones, and those the
        # relaxation priced at their bound when a listed open site is no slower (a tie)
        near_site, near_cost = _nearest_open(pairs, is_open)
        tie = np.zeros(n_dem, dtype=bool)
        tie[beyond] = near_site[beyond] >= 0
        tie[beyond] &= near_cost[beyond] <= pairs.bound[beyond]
        beyond = beyond[~tie[beyond]]
        rest = ~np.isin(np.arange(n_dem), beyond) & (near_site >= 0)
        site[rest] = near_site[rest]
        acost[rest] = near_cost[rest]
        assigned = site >= 0
        objective = float((w[assigned] * acost[assigned]).sum()) + float(
            (w[beyond] * pairs.bound[beyond]).sum()
        )
    used = np.zeros(pairs.n_site, dtype=bool)
    used[site[site >= 0]] = True
    chosen = opened[used[opened]]
    solution = _solution(
        "p_median",
        raw,
        pairs,
        fix,
        chosen,
        objective=objective,
        assignment=site,
        assigned_cost=acost,
        unreachable=unreachable,
        beyond_cutoff=beyond,
    )
    if len(beyond) and solution.status in ("optimal", "within_gap", "time_limit"):
        return _replace_status(solution, "cutoff_limited")
    return solution


def _replace_status(sol: Solution, status: str) -> Solution:
    return replace(sol, status=status)


# --- recommendations ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LocateResult:
    """What :func:`recommend` found: where to add facilities, and what it changes.

    Attributes
    ----------
    recommendations
        One row per new site (columns :data:`RECOMMENDATION_COLUMNS`), ``rank`` 1 first:
        coverage models rank by the population each site newly covers when added in that
        order (greedy on the chosen set), the p-median by the population assigned.
    coverage_before, coverage_after
        Share of the elderly (``pop_column``) within ``threshold_min`` of a facility of ``kind``
        before and after the new sites (0-1).
    status, solver_status, objective, bound, gap, solve_time_s
        As in :class:`Solution` (the objective in people for MCLP, sites for LSCP,
        person-minutes for the p-median).
    sentence_zh, sentence_en
        One sentence for a meeting, e.g. "新增3处乡镇卫生院后，30分钟覆盖率由61.2%升至78.4%".
    """

    model: Model
    kind: tuple[str, ...]
    threshold_min: float
    p: int | None
    recommendations: pd.DataFrame
    coverage_before: float
    coverage_after: float
    pop_total: float
    pop_covered_before: float
    pop_covered_after: float
    mean_time_before_min: float
    mean_time_after_min: float
    status: str
    solver_status: str
    objective: float
    bound: float
    gap: float
    solve_time_s: float
    time_limit_s: float
    mip_gap: float
    nearest_k: int | None
    cutoff_exact: bool
    beyond_cutoff: list[Any]
    unreachable: list[Any]
    n_existing: int
    n_candidates: int
    candidates: str
    capacity: float | None
    pop_column: str
    population_source: str
    method: str
    sentence_zh: str
    sentence_en: str
    solution: Solution = field(repr=False)

    @property
    def optimal(self) -> bool:
        """Proven optimal (or within the requested ``mip_gap``)."""
        return self.status in ("optimal", "within_gap")

    @property
    def has_solution(self) -> bool:
        """A solution was found (optimal or not)."""
        return self.solution.has_solution

    def summary(self) -> dict[str, Any]:
        """The result's figures as plain JSON-ready values (no table)."""
        out: dict[str, Any] = {
            "model": self.model,
            "model_zh": _MODEL_ZH[self.model],
            "kind": list(self.kind),
            "threshold_min": self.threshold_min,
            "p": self.p,
            "n_new": len(self.recommendations),
            "candidates": self.candidates,
            "n_candidates": self.n_candidates,
            "n_existing": self.n_existing,
            "capacity": self.capacity,
            "status": self.status,
            "optimal": self.optimal,
            "solver": _SOLVER,
            "solver_status": self.solver_status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "solve_time_s": self.solve_time_s,
            "time_limit_s": self.time_limit_s,
            "mip_gap": self.mip_gap,
            "nearest_k": self.nearest_k,
            "cutoff_exact": self.cutoff_exact,
            "coverage_before": self.coverage_before,
            "coverage_after": self.coverage_after,
            "pop_total": self.pop_total,
            "pop_covered_before": self.pop_covered_before,
            "pop_covered_after": self.pop_covered_after,
            "mean_time_before_min": self.mean_time_before_min,
            "mean_time_after_min": self.mean_time_after_min,
            "pop_column": self.pop_column,
            "population_source": self.population_source,
            "method": self.method,
            "beyond_cutoff": [str(i) for i in self.beyond_cutoff],
            "unreachable": [str(i) for i in self.unreachable],
            "sentence_zh": self.sentence_zh,
            "sentence_en": self.sentence_en,
        }
        return {k: _plain(v) for k, v in out.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _kind_tuple(kind: str | Iterable[str]) -> tuple[str, ...]:
    try:
        kinds = costs._kinds(kind)
    except costs.CostError as exc:
        raise LocateError(str(exc)) from exc
    if kinds is None:
        msg = "kind must name the kind of facility to add, e.g. 'health_center'"
        raise LocateError(msg)
    return kinds


def _of_kind(frame: gpd.GeoDataFrame | None, kinds: tuple[str, ...], name: str) -> Any:
    """The rows of ``frame`` of the given kinds (an empty frame for ``None``)."""
    if frame is None:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{name} must be a GeoDataFrame indexed by id, got {type(frame).__name__}"
        raise TypeError(msg)
    return coverage._of_kind(frame, kinds, name, error=LocateError)


def facility_demand(facilities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The elderly-care facilities of a registry as demand points, anywhere in China.

    Without a built-in region there are no villages nor population: the demand of a new
    medical facility is then the elderly-care facilities it would serve, each weighted by its
    beds (``weight``; 1 where beds are not given), ``population_source`` saying so.

    Raises
    ------
    LocateError
        If the registry has no elderly-care facility.
    """
    care = facilities[facilities["kind"].isin(registry.ELDERLY_CARE_KINDS)]
    if care.empty:
        msg = (
            "no elderly-care facility in the list to serve: without a built-in region the "
            "demand is the list's elderly-care facilities (名录中没有养老机构，无法确定需求点)"
        )
        raise LocateError(msg)
    beds = (
        pd.to_numeric(care["beds"], errors="coerce")
        if "beds" in care.columns
        else pd.Series(np.nan, index=care.index)
    )
    out = gpd.GeoDataFrame(
        {
            "name": care["name"],
            "kind": care["kind"],
            "weight": beds.fillna(1.0).clip(lower=1.0).astype(np.float64),
            "population_source": "elderly-care facilities weighted by beds (床位数加权)",
        },
        geometry=care.geometry,
        crs=care.crs,
    )
    for col in ("county_code", "township_code"):
        if col in care.columns:
            out[col] = care[col]
    return out


def _population(demand: gpd.GeoDataFrame, column: str) -> tuple[F64, str]:
    if not isinstance(column, str) or column not in demand.columns:
        have = ", ".join(map(str, demand.columns))
        msg = f"demand has no column {column!r} (columns: {have})"
        raise LocateError(msg)
    series = demand[column]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
        msg = f"demand[{column!r}] must be numeric, got dtype {series.dtype}"
        raise LocateError(msg)
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any():
        first = demand.index[int(np.argmax(missing))]
        msg = f"demand[{column!r}] is missing for {int(missing.sum())} row(s), first id {first!r}"
        raise LocateError(msg)
    values = series.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first = demand.index[int(np.argmax(bad))]
        msg = f"demand[{column!r}] must be finite and >= 0; first bad id {first!r}"
        raise LocateError(msg)
    if "population_source" in demand.columns:
        found = sorted({str(v) for v in demand["population_source"].dropna()})
        source = "+".join(found) if found else "unspecified"
    else:
        source = "unspecified"
    return values, source


def _text(frame: pd.DataFrame, column: str, default: Any = pd.NA) -> Any:
    if column in frame.columns:
        return frame[column].astype("string").to_numpy(dtype=object)
    return np.full(len(frame), default, dtype=object)


def _candidate_sites(region: Region | None, candidates: Any) -> tuple[gpd.GeoDataFrame, str]:
    """Candidate sites: index the site ids; columns site_name, source, county_code,
    township_code, coord_quality; WGS84 points."""
    if isinstance(candidates, str):
        if candidates not in CANDIDATE_SOURCES:
            msg = (
                f"candidates must be one of {CANDIDATE_SOURCES} or a GeoDataFrame of sites, "
                f"got {candidates!r}"
            )
            raise LocateError(msg)
        if region is None:
            msg = f"candidates={candidates!r} needs a region (its township seats or villages)"
            raise LocateError(msg)
        frame = region.townships if candidates == "townships" else region.villages
        label = candidates
    elif isinstance(candidates, gpd.GeoDataFrame):
        frame, label = candidates, "user"
    else:
        msg = (
            f"candidates must be one of {CANDIDATE_SOURCES} or a GeoDataFrame of sites, "
            f"got {type(candidates).__name__}"
        )
        raise TypeError(msg)
    if len(frame) and frame.crs is None:
        msg = "candidates has no CRS; set it with .set_crs('EPSG:4326')"
        raise LocateError(msg)
    if not frame.index.is_unique:
        msg = "candidates index must hold unique site ids"
        raise LocateError(msg)
    geoms = frame.geometry.to_crs("EPSG:4326") if len(frame) else frame.geometry
    township = _text(frame, "township_code")
    if label == "townships":
        township = frame.index.astype(str).to_numpy(dtype=object)
    out = gpd.GeoDataFrame(
        {
            "site_name": _text(frame, "name"),
            "source": _SOURCE_LABELS[label],
            "county_code": _text(frame, "county_code"),
            "township_code": township,
            "coord_quality": _text(frame, "coord_quality"),
        },
        geometry=geoms.to_numpy(),
        index=frame.index.copy(),
        crs="EPSG:4326",
    )
    return out, label


def _pairs_frame(rows: pd.DataFrame, demand: pd.Index, n_site: int) -> tuple[I64, I64, F64]:
    ok = rows["reachable"].to_numpy(dtype=bool)
    sub = rows[ok]
    dpos = demand.get_indexer(pd.Index(sub["demand_id"].to_numpy(dtype=object)))
    spos = sub["facility_id"].to_numpy(dtype=np.int64)
    mins = sub["time_s"].to_numpy(dtype=np.float64) / 60.0
    del n_site
    return dpos.astype(np.int64), spos, mins


def _reach_pairs(
    arrays: Any, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, minutes: float, **kw: Any
) -> Pairs:
    rows = costs.reach(arrays, demand, sites, minutes=minutes, **kw)
    d, s, c = _pairs_frame(rows, demand.index, len(sites))
    return Pairs(d, s, c, len(demand), len(sites), np.full(len(demand), minutes))


def _nearest_pairs(
    arrays: Any, demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, k: int, **kw: Any
) -> tuple[I64, I64, F64, F64]:
    """The ``k`` nearest sites of every demand point, and per demand point the bound on what is
    left out (the ``k``-th time; ``inf`` when fewer than ``k`` sites can be reached)."""
    k = min(k, len(sites))
    near = costs.nearest(arrays, demand, sites, k=k, **kw)
    d, s, c = _pairs_frame(near, demand.index, len(sites))
    n = len(demand)
    kth = np.full(n, -np.inf)
    np.maximum.at(kth, d, c)
    count = np.bincount(d, minlength=n)
    bound = np.where((count >= k) & (k < len(sites)), kth, np.inf)
    return d, s, c, bound


def _median_pairs(
    arrays: Any,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    ks: I64,
    cutoff: float | None,
    **kw: Any,
) -> Pairs:
    """Every demand point's ``ks[i]`` nearest sites (and the pairs within ``cutoff``)."""
    parts_d, parts_s, parts_c = [], [], []
    bound = np.full(len(demand), np.inf)
    for k in np.unique(ks).tolist():
        rows = np.flatnonzero(ks == k)
        d, s, c, b = _nearest_pairs(arrays, demand.iloc[rows], sites, int(k), **kw)
        parts_d.append(rows[d])
        parts_s.append(s)
        parts_c.append(c)
        bound[rows] = b
    if cutoff is not None:
        within = _reach_pairs(arrays, demand, sites, cutoff, **kw)
        parts_d.append(within.demand)
        parts_s.append(within.site)
        parts_c.append(within.cost)
        bound = np.fmax(bound, cutoff)
    d = np.concatenate(parts_d)
    s = np.concatenate(parts_s)
    c = np.concatenate(parts_c)
    _, first = np.unique(d * len(sites) + s, return_index=True)
    return Pairs(d[first], s[first], c[first], len(demand), len(sites), bound)


def _rank(
    sol: Solution,
    cover: Pairs,
    w: F64,
    fixed: B1,
    model: Model,
) -> tuple[I64, F64]:
    """Order of the chosen sites and the population each newly covers in that order."""
    chosen = sol.chosen
    if not len(chosen):
        return chosen, np.zeros(0)
    covered = np.zeros(cover.n_demand, dtype=bool)
    covered[cover.demand[fixed[cover.site]]] = True
    members = {int(j): cover.demand[cover.site == j] for j in chosen.tolist()}
    assigned = np.bincount(
        sol.assignment[sol.assignment >= 0],
        weights=w[sol.assignment >= 0],
        minlength=cover.n_site,
    )
    order: list[int] = []
    gains: list[float] = []
    left = [int(j) for j in chosen.tolist()]
    if model == "p_median":
        left.sort(key=lambda j: (-assigned[j], j))
    while left:
        if model == "p_median":
            best = left[0]
        else:
            best = max(
                left,
                key=lambda j: (float(w[members[j][~covered[members[j]]]].sum()), assigned[j], -j),
            )
        mine = members[best]
        gains.append(float(w[mine[~covered[mine]]].sum()))
        covered[mine] = True
        order.append(best)
        left.remove(best)
    return np.asarray(order, dtype=np.int64), np.asarray(gains)


def _fmt_pct(share: float) -> str:
    return "—" if not math.isfinite(share) else f"{share * 100:.1f}%"


def _sentences(
    model: Model,
    kinds: tuple[str, ...],
    threshold: float,
    n_new: int,
    before: float,
    after: float,
    status: str,
    gap: float,
    source: str,
    mean_before: float,
    mean_after: float,
    p: int | None,
) -> tuple[str, str]:
    from siting.registry import KINDS

    zh_kind = "/".join(KINDS[k].zh if k in KINDS else k for k in kinds)
    en_kind = "/".join(KINDS[k].en if k in KINDS else k for k in kinds)
    t = f"{threshold:g}"
    if n_new == 0:
        zh = (
            f"候选点均不能再提高{zh_kind}的{t}分钟覆盖率（现为{_fmt_pct(before)}），"
            "可改用村级候选点或调整时间阈值"
        )
        en = (
            f"No candidate site raises the share of elderly within {t} min of a {en_kind} "
            f"(now {_fmt_pct(before)}); try village candidates or another threshold"
        )
    else:
        zh = f"新增{n_new}处{zh_kind}后，{t}分钟覆盖率由{_fmt_pct(before)}升至{_fmt_pct(after)}"
        en = (
            f"After adding {n_new} {en_kind}{'' if n_new == 1 else 's'}, the share of elderly "
            f"within {t} min rises from {_fmt_pct(before)} to {_fmt_pct(after)}"
        )
    if p is not None and 0 < n_new < p:
        zh += f"（其余{p - n_new}处候选点无新增效果，未列出）"
        en += f" (the other {p - n_new} would add nothing and are not listed)"
    if model == "p_median" and math.isfinite(mean_before) and math.isfinite(mean_after):
        zh += f"，平均出行时间由{mean_before:.1f}分钟降至{mean_after:.1f}分钟"
        en += f"; mean travel time falls from {mean_before:.1f} to {mean_after:.1f} min"
    zh += f"（{_MODEL_ZH[model]}模型"
    en += f" ({_MODEL_EN[model]} model"
    if "modelled" in source:
        zh += "，老年人口为模拟数据"
        en += ", modelled elderly population"
    if "elderly-care facilities" in source:
        zh += "，覆盖对象为名录中的养老机构（按床位数加权）"
        en += "; coverage of the list's elderly-care facilities, weighted by beds"
    zh += "）。"
    en += ")."
    if status not in ("optimal",):
        gap_text = "" if not math.isfinite(gap) else f"，差距{gap:.2%}"
        zh += f"注意：{_STATUS_ZH.get(status, status)}{gap_text}。"
        en += f" Note: status {status}" + ("" if not math.isfinite(gap) else f", gap {gap:.2%}")
        en += "; not proven optimal." if status != "within_gap" else "."
    return zh, en


def recommend(
    region: Region | None,
    network: costs.Network,
    facilities: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame | None = None,
    *,
    model: str,
    p: int | None = None,
    threshold_min: float = 30.0,
    kind: str | Iterable[str] = "health_center",
    candidates: str | gpd.GeoDataFrame = "townships",
    capacity: float | str | None = None,
    existing_capacity: float | str | None = None,
    pop_column: str = "pop_65plus",
    nearest_k: int | None = None,
    cutoff_min: float | None = None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    direction: str = "to_facility",
) -> LocateResult:
    """Where to add facilities of ``kind``: LSCP, MCLP or p-median over a road network.

    Parameters
    ----------
    region
        A built-in region (its villages are the default demand; its township seats or villages
        the candidate sites), or ``None`` with ``demand`` and a GeoDataFrame of ``candidates``.
    network
        A networkx road graph (osmnx convention), a compiled GraphArrays, or ``None`` for the
        straight-line fallback (:mod:`siting.costs`).
    facilities
        The registry (filtered by ``kind``): existing facilities, kept open. ``None``: none.
    demand
        Demand points indexed by id with ``pop_column`` (default ``region.villages``).
    model
        ``"lscp"`` (fewest new sites covering all demand within ``threshold_min``), ``"mclp"``
        (``p`` new sites covering the most elderly) or ``"p_median"`` (``p`` new sites minimising
        the population-weighted travel time).
    p
        Number of new sites (MCLP, p-median; not for LSCP). Existing facilities do not count.
    threshold_min
        Coverage threshold in minutes (the models' bound; reported for every model).
    kind
        The kind (or kinds) of facility to add, e.g. ``"health_center"``.
    candidates
        ``"townships"`` (township seats), ``"villages"`` or a GeoDataFrame of sites (index the
        site ids; optional ``name``, ``county_code``, ``township_code`` columns).
    capacity
        p-median only: capacity of every new site in elderly people served (a number), or a
        column of a GeoDataFrame of ``candidates``. ``None``: uncapacitated.
    existing_capacity
        p-median with ``capacity``: capacity of the existing facilities (a number or a column
        of ``facilities``); ``None``: unlimited.
    pop_column
        Demand weight column (``pop_65plus``, ``pop_60plus`` ...).
    nearest_k
        p-median: how many nearest sites of every demand point enter the model at first
        (default ``ceil(n_candidates / p) + 3``); doubled where the solution needs more.
    cutoff_min
        p-median: also list every pair within this many minutes.
    time_limit_s, mip_gap
        HiGHS's time limit (seconds) and relative optimality gap (0: prove optimality).
    direction
        As in :func:`siting.costs.reach`.

    Returns
    -------
    LocateResult

    Raises
    ------
    LocateInfeasibleError
        If the model has no solution (e.g. LSCP with a demand point no site can reach within
        the threshold, or capacities too small), or none was found within the time limit.
    LocateError
        If an argument is invalid (the message names it).

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> result = recommend(region, None, registry, model="mclp", p=3, threshold_min=15)
    >>> result.status, len(result.recommendations), result.coverage_after > result.coverage_before
    ('optimal', 3, True)
    """
    if model not in MODELS:
        msg = f"model must be one of {MODELS}, got {model!r}"
        raise LocateError(msg)
    mdl: Model = "lscp" if model == "lscp" else "mclp" if model == "mclp" else "p_median"
    threshold = _number(threshold_min, "threshold_min")
    if threshold <= 0:
        msg = f"threshold_min must be positive, got {threshold_min!r}"
        raise LocateError(msg)
    t_limit, gap_req = _settings(time_limit_s, mip_gap)
    if mdl == "lscp" and p is not None:
        msg = "p is not used by model='lscp' (it finds the fewest sites); leave it None"
        raise LocateError(msg)
    if mdl != "lscp" and p is None:
        msg = f"model={mdl!r} needs p, the number of new sites"
        raise LocateError(msg)
    if capacity is not None and mdl != "p_median":
        msg = "capacity is supported by model='p_median' only"
        raise LocateError(msg)
    if existing_capacity is not None and capacity is None:
        msg = "existing_capacity needs capacity (the capacitated p-median)"
        raise LocateError(msg)
    cutoff0 = None if cutoff_min is None else _number(cutoff_min, "cutoff_min")
    if nearest_k is not None and (
        isinstance(nearest_k, bool) or not isinstance(nearest_k, int) or nearest_k < 1
    ):
        msg = f"nearest_k must be a positive integer, got {nearest_k!r}"
        raise LocateError(msg)
    kinds = _kind_tuple(kind)
    if demand is None:
        if region is None:
            msg = "demand is needed without a region (villages with a population column)"
            raise LocateError(msg)
        demand = region.villages
    if not isinstance(demand, gpd.GeoDataFrame):
        msg = f"demand must be a GeoDataFrame of points, got {type(demand).__name__}"
        raise TypeError(msg)
    weights, pop_source = _population(demand, pop_column)
    existing = _of_kind(facilities, kinds, "facilities")
    cand, label = _candidate_sites(region, candidates)
    if not len(cand):
        msg = "there are no candidate sites"
        raise LocateError(msg)
    n_ex, n_cand = len(existing), len(cand)
    sites = gpd.GeoDataFrame(
        geometry=np.concatenate(
            [
                np.asarray(existing.geometry.to_crs("EPSG:4326").array, dtype=object)
                if n_ex
                else np.zeros(0, dtype=object),
                np.asarray(cand.geometry.array, dtype=object),
            ]
        ),
        index=pd.RangeIndex(n_ex + n_cand),
        crs="EPSG:4326",
    )
    fixed = np.zeros(n_ex + n_cand, dtype=bool)
    fixed[:n_ex] = True
    cap_arr: F64 | None = None
    cap_new: float | None = None
    if capacity is not None:
        cap_arr = np.full(n_ex + n_cand, np.inf)
        cap_arr[n_ex:] = _capacity_values(capacity, cand, "capacity", "candidates")
        if isinstance(capacity, int | float | np.integer | np.floating):
            cap_new = float(capacity)
        if existing_capacity is not None and n_ex:
            cap_arr[:n_ex] = _capacity_values(
                existing_capacity, existing, "existing_capacity", "facilities"
            )
    if mdl != "lscp":
        _count(p, "p", n_cand)
    arrays = costs._arrays(network)
    kw = {"direction": direction}
    method = costs.STRAIGHT_LINE if arrays is None else costs.NETWORK

    k0: int | None = None
    if mdl == "p_median":
        n_sites = n_ex + n_cand
        k0 = nearest_k or math.ceil(n_cand / int(p or 1)) + P_MEDIAN_NEAREST
        ks = np.full(len(demand), min(k0, n_sites), dtype=np.int64)
        pairs = _median_pairs(arrays, demand, sites, ks, cutoff0, **kw)
        solve_s = 0.0
        for tries in range(CUTOFF_RETRIES + 1):
            sol = p_median(
                pairs,
                weights,
                int(p or 0),
                fixed=fixed,
                capacity=cap_arr,
                time_limit_s=t_limit,
                mip_gap=gap_req,
            )
            solve_s += sol.solve_time_s
            more = sol.beyond_cutoff[ks[sol.beyond_cutoff] < n_sites]
            if not len(more) or tries == CUTOFF_RETRIES:
                sol = replace(sol, solve_time_s=solve_s)  # every round counts
                break
            ks[more] = np.minimum(2 * ks[more], n_sites)
            pairs = _extend(pairs, arrays, demand, sites, ks, more, **kw)
        cover = _reach_pairs(arrays, demand, sites, threshold, **kw)
    else:
        pairs = _reach_pairs(arrays, demand, sites, threshold, **kw)
        cover = pairs
        if mdl == "lscp":
            sol = lscp(pairs, threshold, fixed=fixed, time_limit_s=t_limit, mip_gap=gap_req)
        else:
            sol = mclp(
                pairs,
                weights,
                threshold,
                int(p or 0),
                fixed=fixed,
                time_limit_s=t_limit,
                mip_gap=gap_req,
            )
    return _result(
        mdl,
        sol,
        demand=demand,
        weights=weights,
        pop_source=pop_source,
        pop_column=pop_column,
        cover=cover,
        fixed=fixed,
        cand=cand,
        n_ex=n_ex,
        kinds=kinds,
        threshold=threshold,
        p=p,
        label=label,
        capacity=cap_arr,
        capacity_new=cap_new,
        nearest_k=k0,
        time_limit_s=t_limit,
        mip_gap=gap_req,
        method=method,
        arrays=arrays,
        sites=sites,
        kw=kw,
    )


def _extend(
    pairs: Pairs,
    arrays: Any,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    ks: I64,
    rows: I64,
    **kw: Any,
) -> Pairs:
    """``pairs`` with the ``ks`` nearest sites of the demand points ``rows`` (theirs replaced)."""
    more = _median_pairs(arrays, demand.iloc[rows], sites, ks[rows], None, **kw)
    keep = ~np.isin(pairs.demand, rows)
    bound = pairs.bound.copy()
    bound[rows] = np.fmax(more.bound, pairs.bound[rows])
    return Pairs(
        np.concatenate([pairs.demand[keep], rows[more.demand]]),
        np.concatenate([pairs.site[keep], more.site]),
        np.concatenate([pairs.cost[keep], more.cost]),
        pairs.n_demand,
        pairs.n_site,
        bound,
    )


def _capacity_values(value: Any, frame: pd.DataFrame, name: str, where: str) -> F64:
    if isinstance(value, str):
        if value not in frame.columns:
            msg = f"{name}: {where} has no column {value!r}"
            raise LocateError(msg)
        vals = pd.to_numeric(frame[value], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        if np.isnan(vals).any() or (vals < 0).any():
            first = frame.index[int(np.argmax(np.isnan(vals) | (vals < 0)))]
            msg = f"{name}: {where}[{value!r}] must be numbers >= 0; first bad id {first!r}"
            raise LocateError(msg)
        return vals
    return np.full(len(frame), _number(value, name))


def _result(
    mdl: Model,
    sol: Solution,
    *,
    demand: gpd.GeoDataFrame,
    weights: F64,
    pop_source: str,
    pop_column: str,
    cover: Pairs,
    fixed: B1,
    cand: gpd.GeoDataFrame,
    n_ex: int,
    kinds: tuple[str, ...],
    threshold: float,
    p: int | None,
    label: str,
    capacity: F64 | None,
    capacity_new: float | None,
    nearest_k: int | None,
    time_limit_s: float,
    mip_gap: float,
    method: str,
    arrays: Any,
    sites: gpd.GeoDataFrame,
    kw: Mapping[str, Any],
) -> LocateResult:
    total = float(weights.sum())
    before = np.zeros(cover.n_demand, dtype=bool)
    before[cover.demand[fixed[cover.site]]] = True
    after = np.zeros(cover.n_demand, dtype=bool)
    after[cover.demand[sol.open[cover.site]]] = True
    pop_before = float(weights[before].sum())
    pop_after = float(weights[after].sum()) if sol.has_solution else math.nan
    share_b = pop_before / total if total > 0 else math.nan
    share_a = pop_after / total if total > 0 else math.nan
    order, gains = _rank(sol, cover, weights, fixed, mdl)
    mean_before = mean_after = math.nan
    beyond_ids: list[Any] = []
    cutoff_exact = True
    status = sol.status
    objective = sol.objective
    if mdl == "p_median" and sol.has_solution:
        reach_ok = np.ones(len(weights), dtype=bool)
        reach_ok[sol.unreachable] = False
        if len(sol.beyond_cutoff):
            cutoff_exact = False
            beyond_ids = demand.index[sol.beyond_cutoff].tolist()
            # the true times of those demand points to their nearest open site
            open_sites = sites[sol.open]
            near = costs.nearest(arrays, demand.iloc[sol.beyond_cutoff], open_sites, k=1, **kw)
            true = near["time_s"].to_numpy(dtype=np.float64) / 60.0
            fac = near["facility_id"].to_numpy(dtype=object)
            ok = near["reachable"].to_numpy(dtype=bool)
            assign = sol.assignment.copy()
            acost = sol.assigned_cost.copy()
            assign[sol.beyond_cutoff[ok]] = np.asarray(fac[ok], dtype=np.int64)
            acost[sol.beyond_cutoff[ok]] = true[ok]
            sol = _replace_assignment(sol, assign, acost)
            objective = float(np.nansum(weights * np.where(assign >= 0, acost, 0.0)))
        wa = weights * reach_ok
        if wa.sum() > 0:
            mean_after = float(np.nansum(wa * sol.assigned_cost) / wa.sum())
        if n_ex:
            near_ex = costs.nearest(arrays, demand, sites.iloc[:n_ex], k=1, **kw)
            tb = near_ex["time_s"].to_numpy(dtype=np.float64) / 60.0
            okb = near_ex["reachable"].to_numpy(dtype=bool)
            if okb.all() and weights.sum() > 0:
                mean_before = float((weights * tb).sum() / weights.sum())
    assigned_pop = np.bincount(
        sol.assignment[sol.assignment >= 0],
        weights=weights[sol.assignment >= 0],
        minlength=cover.n_site,
    )
    assigned_n = np.bincount(sol.assignment[sol.assignment >= 0], minlength=cover.n_site)
    tsum = np.bincount(
        sol.assignment[sol.assignment >= 0],
        weights=(weights * np.nan_to_num(sol.assigned_cost))[sol.assignment >= 0],
        minlength=cover.n_site,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = np.where(
            assigned_pop > 0, tsum / np.where(assigned_pop > 0, assigned_pop, 1), np.nan
        )
    pos = order - n_ex
    rows = cand.iloc[pos]
    geo = rows.geometry
    cap_col = (
        capacity[order] if capacity is not None else np.full(len(order), np.nan, dtype=np.float64)
    )
    table = pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1, dtype=np.int64),
            "site_id": rows.index.to_numpy(dtype=object),
            "site_name": rows["site_name"].to_numpy(dtype=object),
            "source": rows["source"].to_numpy(dtype=object),
            "lon": np.round(shapely.get_x(np.asarray(geo.array)), 6) if len(order) else [],
            "lat": np.round(shapely.get_y(np.asarray(geo.array)), 6) if len(order) else [],
            "county_code": rows["county_code"].to_numpy(dtype=object),
            "township_code": rows["township_code"].to_numpy(dtype=object),
            "coord_quality": rows["coord_quality"].to_numpy(dtype=object),
            "model": mdl,
            "kind": "+".join(kinds),
            "threshold_min": threshold,
            "newly_covered_pop": gains,
            "assigned_demand_pop": assigned_pop[order],
            "assigned_demand_n": assigned_n[order].astype(np.int64),
            "mean_time_min": np.round(mean_t[order], 3),
            "capacity": np.where(np.isfinite(cap_col), cap_col, np.nan),
            "pop_column": pop_column,
            "population_source": pop_source,
            "method": method,
        },
        index=pd.RangeIndex(len(order)),
    )[list(RECOMMENDATION_COLUMNS)]
    zh, en = _sentences(
        mdl,
        kinds,
        threshold,
        len(order),
        share_b,
        share_a,
        status,
        sol.gap,
        pop_source,
        mean_before,
        mean_after,
        p,
    )
    result = LocateResult(
        model=mdl,
        kind=kinds,
        threshold_min=threshold,
        p=p,
        recommendations=table,
        coverage_before=share_b,
        coverage_after=share_a,
        pop_total=total,
        pop_covered_before=pop_before,
        pop_covered_after=pop_after,
        mean_time_before_min=mean_before,
        mean_time_after_min=mean_after,
        status=status,
        solver_status=sol.solver_status,
        objective=objective,
        bound=sol.bound,
        gap=sol.gap,
        solve_time_s=sol.solve_time_s,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        nearest_k=nearest_k,
        cutoff_exact=cutoff_exact,
        beyond_cutoff=beyond_ids,
        unreachable=demand.index[sol.unreachable].tolist(),
        n_existing=n_ex,
        n_candidates=len(cand),
        candidates=label,
        capacity=capacity_new,
        pop_column=pop_column,
        population_source=pop_source,
        method=method,
        sentence_zh=zh,
        sentence_en=en,
        solution=sol,
    )
    if not sol.has_solution:
        if sol.status == "infeasible" and mdl == "lscp" and len(sol.unreachable):
            ids = demand.index[sol.unreachable][:5].tolist()
            msg = (
                f"LSCP is infeasible: {len(sol.unreachable)} demand point(s) have no candidate "
                f"site or existing facility within {threshold:g} min (first: {ids}); use "
                "candidates='villages', a longer threshold, or model='mclp'"
            )
        elif sol.status == "infeasible":
            msg = (
                f"{_MODEL_EN[mdl]} model is infeasible ({sol.solver_status}); "
                "with capacities: the capacities cannot serve all the demand"
            )
        else:
            msg = (
                f"{_MODEL_EN[mdl]} model: no solution found ({sol.status}, "
                f"{sol.solver_status}) within time_limit_s={time_limit_s:g}"
            )
        raise LocateInfeasibleError(msg, result=result)
    return result


def _replace_assignment(sol: Solution, assignment: I64, cost: F64) -> Solution:
    return replace(sol, assignment=assignment, assigned_cost=cost)


# --- output -------------------------------------------------------------------------------------


def write(result: LocateResult, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``recommendations.csv`` (UTF-8 with BOM) and ``recommendations.json`` atomically.

    The JSON holds :meth:`LocateResult.summary` and the table as ``recommendations`` (records).

    Returns
    -------
    tuple of pathlib.Path
        The CSV and JSON paths.
    """
    if not isinstance(result, LocateResult):
        msg = f"result must be a LocateResult, got {type(result).__name__}"
        raise TypeError(msg)
    folder = Path(out_dir)
    csv = write_csv(result.recommendations, folder / "recommendations.csv")
    records = [
        {k: _plain(None if v is pd.NA else v) for k, v in row.items()}
        for row in result.recommendations.astype(object).to_dict(orient="records")
    ]
    payload = {**result.summary(), "recommendations": records}
    text = json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False, default=str)
    js = write_text(text + "\n", folder / "recommendations.json")
    return csv, js


# --- 两院一体 -------------------------------------------------------------------------------------


def colocation(
    facilities: gpd.GeoDataFrame,
    region: Region | None,
    *,
    distance_m: float = 500.0,
    network: costs.Network = None,
    health_kinds: Sequence[str] = ("health_center", "community_health_center"),
    care_kinds: Sequence[str] = ("nursing_home",),
    pop_column: str = "pop_65plus",
) -> pd.DataFrame:
    """两院一体: health centres with no nursing home within ``distance_m``, by catchment.

    The seed documents ask to build nursing homes next to township health centres (乡镇卫生院、
    养老院"两院一体", 毗邻建设). This lists the health centres that have none within
    ``distance_m`` (straight-line metres in the metric CRS), ranked by the elderly population
    of their catchment: the villages whose nearest health centre (:func:`siting.costs.nearest`,
    over ``network``) they are.

    Parameters
    ----------
    facilities
        The registry (GeoDataFrame indexed by id, with ``kind`` and ``name``).
    region
        The region whose villages (with ``pop_column``) form the catchments; ``None`` (a
        planner's own list anywhere): no catchments (``catchment_pop`` empty, ranked by id).
    distance_m
        Adjacency distance in metres, measured in the UTM zone of the facilities' centre.
    network
        Road network for the catchments, or ``None`` (straight-line fallback).
    health_kinds, care_kinds
        The kinds of health centre, and of elderly-care facility that counts as the partner.
    pop_column
        Elderly population column of ``region.villages``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLOCATION_COLUMNS`, ``rank`` 1 first (largest catchment; ties by id).

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> out = colocation(registry, region)
    >>> bool((out["nearest_care_m"] > 500).all())
    True
    """
    dist = _number(distance_m, "distance_m")
    if region is not None and not isinstance(region, Region):
        msg = f"region must be a Region or None, got {type(region).__name__}"
        raise TypeError(msg)
    health = _of_kind(facilities, tuple(health_kinds), "facilities")
    care = _of_kind(facilities, tuple(care_kinds), "facilities")
    if region is not None:
        weights, source = _population(region.villages, pop_column)
    else:
        weights, source = np.zeros(0), "none (no villages: give a region)"
    located = facilities.geometry.to_crs("EPSG:4326")
    located = located[located.notna() & ~located.is_empty]
    crs = (
        metric_crs(region.outline.centroid)
        if region is not None
        else (metric_crs(located.union_all().centroid) if len(located) else metric_crs())
    )
    hxy = shapely.get_coordinates(np.asarray(health.geometry.to_crs(crs).array))
    if len(care):
        cxy = shapely.get_coordinates(np.asarray(care.geometry.to_crs(crs).array))
        d_care, i_care = cKDTree(cxy).query(hxy, k=1) if len(hxy) else (np.zeros(0), np.zeros(0))
        i_care = np.asarray(i_care, dtype=np.int64)
        d_care = np.asarray(d_care, dtype=np.float64)
    else:
        d_care = np.full(len(health), np.inf)
        i_care = np.full(len(health), -1, dtype=np.int64)
    lonely = d_care > dist
    if len(health) and region is not None:
        near = costs.nearest(network, region.villages, health, k=1)
        ok = near["reachable"].to_numpy(dtype=bool)
        fac = pd.Index(near["facility_id"].to_numpy(dtype=object)[ok])
        pos = health.index.get_indexer(fac)
        pop: F64 = np.bincount(pos, weights=weights[ok], minlength=len(health)).astype(np.float64)
        n_v: I64 = np.bincount(pos, minlength=len(health)).astype(np.int64)
    else:
        pop = np.full(len(health), np.nan if region is None else 0.0)
        n_v = np.zeros(len(health), dtype=np.int64)
    sel = np.flatnonzero(lonely)
    ids = health.index[sel]
    order = np.lexsort((ids.astype(str).to_numpy(), -np.nan_to_num(pop[sel], nan=0.0)))
    sel = sel[order]
    rows = health.iloc[sel]
    geo = np.asarray(rows.geometry.to_crs("EPSG:4326").array)
    has_care = i_care[sel] >= 0
    care_ids = care.index.to_numpy(dtype=object)
    care_names = _text(care, "name")
    near_id = np.full(len(sel), None, dtype=object)
    near_name = np.full(len(sel), None, dtype=object)
    near_id[has_care] = care_ids[i_care[sel][has_care]]
    near_name[has_care] = care_names[i_care[sel][has_care]]
    names = _text(rows, "name")
    zh = [
        f"{n}周边{dist:g}米内无养老院，"
        + ("" if np.isnan(p) else f"辐射老年人{p:,.0f}人，")
        + "建议毗邻建设养老院（两院一体）"
        for n, p in zip(names, pop[sel], strict=True)
    ]
    en = [
        f"{rid}: no nursing home within {dist:g} m; "
        + ("" if np.isnan(p) else f"catchment {p:,.0f} elderly; ")
        + "suggest a nursing home next door (two-in-one)"
        for rid, p in zip(rows.index, pop[sel], strict=True)
    ]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(sel) + 1, dtype=np.int64),
            "facility_id": rows.index.to_numpy(dtype=object),
            "name": names,
            "kind": _text(rows, "kind"),
            "county_code": _text(rows, "county_code"),
            "township_code": _text(rows, "township_code"),
            "lon": np.round(shapely.get_x(geo), 6) if len(sel) else np.zeros(0),
            "lat": np.round(shapely.get_y(geo), 6) if len(sel) else np.zeros(0),
            "nearest_care_id": near_id,
            "nearest_care_name": near_name,
            "nearest_care_m": np.round(d_care[sel], 1),
            "distance_m": dist,
            "catchment_villages": n_v[sel].astype(np.int64),
            "catchment_pop": pop[sel],
            "pop_column": pop_column,
            "population_source": source,
            "method": costs.STRAIGHT_LINE if network is None else costs.NETWORK,
            "suggestion_zh": zh,
            "suggestion_en": en,
        },
        index=pd.RangeIndex(len(sel)),
    )
    return out[list(COLOCATION_COLUMNS)]
