"""The models on given pairs: :func:`lscp`, :func:`mclp`, :func:`p_median`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from siting._errors import LocateError
from siting.locate.base import (
    B1,
    F64,
    I64,
    Pairs,
    _number,
    pairs_from_matrix,  # noqa: F401  (the doctests use it)
)
from siting.locate.highs import (
    Solution,
    _check_sizes,
    _count,
    _csc,
    _fixed,
    _group_rows,
    _highs,
    _nearest_open,
    _no_model,
    _Raw,
    _settings,
    _solution,
    _weights,
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
    cap = _median_capacity(capacity, pairs.n_site)
    data = _median_data(pairs, w, fix, cap)
    cols, raw = _median_solve(pairs, data, w, fix, cap, k, t, g)
    return _median_solution(pairs, data, cols, raw, w, fix, cap)


def _median_capacity(capacity: npt.ArrayLike | None, n_site: int) -> F64 | None:
    """The capacities of the sites checked (``None`` when there are none or all are infinite)."""
    if capacity is None:
        return None
    cap: F64 = np.asarray(capacity, dtype=np.float64).ravel()
    if len(cap) != n_site or np.isnan(cap).any() or (cap < 0).any():
        msg = f"capacity must hold one number >= 0 (or inf) for each of {n_site} sites"
        raise LocateError(msg)
    if np.isinf(cap).all():
        return None
    return cap


@dataclass(frozen=True, eq=False)
class _MedianData:
    """The pairs of a p-median model (``d``, ``s``, ``c``) and its demand points."""

    d: I64
    s: I64
    c: F64
    active: B1  # demand points in the model (reachable, weight > 0)
    unreachable: I64  # demand points with no site at all
    far: I64  # demand points with a beyond-cutoff variable


def _median_data(pairs: Pairs, w: F64, fix: B1, cap: F64 | None) -> _MedianData:
    """The pairs and demand points that enter the model; without capacities, the candidate pairs
    no faster than a demand point's nearest fixed site are left out (they are never used)."""
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
    return _MedianData(d, s, c, active, unreachable, np.flatnonzero(need_far))


@dataclass(frozen=True, eq=False)
class _MedianColumns:
    """The columns of a p-median model: y (candidates), x (pairs), f (beyond-cutoff)."""

    cand_sites: I64
    ycol: I64  # site -> y column (-1 for fixed sites)
    xcol: I64
    fcol: I64

    @property
    def ny(self) -> int:
        return len(self.cand_sites)

    @property
    def n(self) -> int:
        return self.ny + len(self.xcol) + len(self.fcol)


class _Rows:
    """Constraint rows gathered block by block (COO triplets and row bounds)."""

    def __init__(self) -> None:
        self.r: list[I64] = []
        self.c: list[I64] = []
        self.v: list[F64] = []
        self.lower: list[F64] = []
        self.upper: list[F64] = []
        self.n = 0

    def add(self, r: I64, cidx: I64, v: F64, lo: F64, hi: F64) -> None:
        self.r.append(r + self.n)
        self.c.append(cidx)
        self.v.append(v)
        self.lower.append(lo)
        self.upper.append(hi)
        self.n += len(lo)


def _median_columns(pairs: Pairs, data: _MedianData, fix: B1) -> _MedianColumns:
    cand_sites = np.unique(data.s[~fix[data.s]])
    ny, ne, nf = len(cand_sites), len(data.d), len(data.far)
    ycol = np.full(pairs.n_site, -1, dtype=np.int64)
    ycol[cand_sites] = np.arange(ny)
    return _MedianColumns(cand_sites, ycol, ny + np.arange(ne), ny + ne + np.arange(nf))


def _median_rows(
    pairs: Pairs,
    data: _MedianData,
    cols: _MedianColumns,
    w: F64,
    fix: B1,
    cap: F64 | None,
    k: int,
) -> _Rows:
    """Assignment, opening, cardinality and (with capacities) capacity rows."""
    d, s, far = data.d, data.s, data.far
    xcol, ycol, fcol, ny = cols.xcol, cols.ycol, cols.fcol, cols.ny
    ne, nf = len(d), len(far)
    dem = np.flatnonzero(data.active)
    row_of = np.full(pairs.n_demand, -1, dtype=np.int64)
    row_of[dem] = np.arange(len(dem))
    rows = _Rows()
    nd = len(dem)
    # assignment: sum_j x_ij + f_i = 1
    rows.add(
        np.concatenate([row_of[d], row_of[far]]),
        np.concatenate([xcol, fcol]),
        np.ones(ne + nf),
        np.ones(nd),
        np.ones(nd),
    )
    # opening: x_ij - y_j <= 0 for candidate pairs
    cp = np.flatnonzero(~fix[s])
    rows.add(
        np.concatenate([np.arange(len(cp)), np.arange(len(cp))]),
        np.concatenate([xcol[cp], ycol[s[cp]]]),
        np.concatenate([np.ones(len(cp)), -np.ones(len(cp))]),
        np.full(len(cp), -np.inf),
        np.zeros(len(cp)),
    )
    # cardinality: sum y <= p
    rows.add(
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
        rows.add(
            np.concatenate([crow[s[on]], crow[cand_lim]]),
            np.concatenate([xcol[on], ycol[cand_lim]]),
            np.concatenate([w[d[on]], -cap[cand_lim]]),
            np.full(len(limited), -np.inf),
            np.where(fix[limited], cap[limited], 0.0),
        )
    return rows


def _median_solve(
    pairs: Pairs,
    data: _MedianData,
    w: F64,
    fix: B1,
    cap: F64 | None,
    k: int,
    time_limit_s: float,
    mip_gap: float,
) -> tuple[_MedianColumns, _Raw]:
    """Build the p-median MIP and solve it with HiGHS."""
    cols = _median_columns(pairs, data, fix)
    rows = _median_rows(pairs, data, cols, w, fix, cap, k)
    n_cols = cols.n
    matrix = _csc(
        np.concatenate(rows.r),
        np.concatenate(rows.c),
        np.concatenate(rows.v),
        (rows.n, n_cols),
    )
    far = data.far
    cost = np.concatenate([np.zeros(cols.ny), w[data.d] * data.c, w[far] * pairs.bound[far]])
    integer = np.zeros(n_cols, dtype=bool)
    integer[: cols.ny] = True
    if cap is not None:
        integer[cols.xcol] = True
    raw = _highs(
        cost=cost,
        upper=np.ones(n_cols),
        integer=integer,
        matrix=matrix,
        row_lower=np.concatenate(rows.lower),
        row_upper=np.concatenate(rows.upper),
        maximize=False,
        offset=0.0,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
    )
    return cols, raw


def _median_solution(
    pairs: Pairs,
    data: _MedianData,
    cols: _MedianColumns,
    raw: _Raw,
    w: F64,
    fix: B1,
    cap: F64 | None,
) -> Solution:
    """The solution of a solved p-median model: sites opened, every demand point's site."""
    n_dem = pairs.n_demand
    d, s, c, far, unreachable = data.d, data.s, data.c, data.far, data.unreachable
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
    xv = raw.x[cols.xcol]
    # each demand point: the pair of largest x (ties at equal cost are split by LP)
    order = np.lexsort((c, -xv, d))
    first = np.ones(len(order), dtype=bool)
    first[1:] = d[order][1:] != d[order][:-1]
    pick = order[first]
    pick = pick[xv[pick] > 0.5 - 1e-6]
    site[d[pick]] = s[pick]
    acost[d[pick]] = c[pick]
    beyond = far[raw.x[cols.fcol] > 0.5] if len(far) else empty
    opened = cols.cand_sites[raw.x[: cols.ny] > 0.5]
    is_open = fix.copy()
    is_open[opened] = True
    objective: float | None = None
    if cap is None:
        beyond, objective = _median_nearest(pairs, w, is_open, beyond, site, acost)
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


def _median_nearest(
    pairs: Pairs, w: F64, is_open: B1, beyond: I64, site: I64, acost: F64
) -> tuple[I64, float]:
    """Without capacities, every demand point to its nearest open site (``site`` and ``acost``
    updated in place): the zero-weight ones, and those the relaxation priced at their bound when
    a listed open site is no slower (a tie). Returns the beyond-cutoff points and the objective."""
    n_dem = pairs.n_demand
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
    return beyond, objective


def _replace_status(sol: Solution, status: str) -> Solution:
    return replace(sol, status=status)
