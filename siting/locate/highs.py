"""The HiGHS layer: building and solving a sparse MIP, :class:`Solution`, the statuses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from siting._errors import LocateError
from siting.locate.base import (
    _GAP_TOL,
    B1,
    F64,
    I64,
    Model,
    Pairs,
    _number,
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
