"""Constants, the sparse costs of the models: :class:`Pairs`, :func:`pairs_from_matrix`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import highspy
import numpy as np
import numpy.typing as npt

from siting._errors import LocateError

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


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        msg = f"{name} must be a number, got {value!r}"
        raise LocateError(msg)
    v = float(value)
    if math.isnan(v) or v < 0:
        msg = f"{name} must be a number >= 0, got {value!r}"
        raise LocateError(msg)
    return v
