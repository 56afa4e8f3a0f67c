"""Where to add facilities: location-allocation that closes the coverage gaps.

The room of location-allocation. Modules:

* :mod:`siting.locate.base`: constants and the sparse costs (:class:`Pairs`,
  :func:`pairs_from_matrix`);
* :mod:`siting.locate.highs`: the HiGHS layer (building, solving, :class:`Solution`, statuses);
* :mod:`siting.locate.models`: :func:`lscp`, :func:`mclp`, :func:`p_median` on given pairs;
* :mod:`siting.locate.recommendation`: :class:`LocateResult`, :func:`recommend` and its steps;
* :mod:`siting.locate.output`: :func:`write`;
* :mod:`siting.locate.colocate`: :func:`colocation` (两院一体).

It may import :mod:`siting.costs` (its argument layer :mod:`siting.costs.args` included),
:mod:`siting.coverage`, :mod:`siting.registry`, :mod:`siting.regions`, :mod:`siting.crs`,
:mod:`siting._io` and :mod:`siting._errors`; nothing imports it but the pipeline, batch, maps
and the CLI.

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
(``pop_60plus`` by default: 老年人, aged 60 and over); the built-in regions' village populations
are modelled, and the results say so (``population_source``).

Existing facilities are those of the **service tier** of the kind added
(:func:`siting.coverage.covering_kinds`, :data:`siting.kinds.TIERS`): adding a ``health_center``
counts every existing 卫生院 and 社区卫生服务中心 as covering, so coverage before and after is the
one definition of :func:`siting.coverage.covered_population_by_tier`.

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

from siting._errors import LocateError, LocateInfeasibleError
from siting.locate.base import (
    CANDIDATE_SOURCES,
    COLOCATION_COLUMNS,
    CUTOFF_RETRIES,
    MODELS,
    P_MEDIAN_NEAREST,
    RECOMMENDATION_COLUMNS,
    STATUSES,
    Pairs,
    pairs_from_matrix,
)
from siting.locate.base import Model as Model
from siting.locate.colocate import colocation
from siting.locate.highs import Solution
from siting.locate.models import lscp, mclp, p_median
from siting.locate.output import write
from siting.locate.recommendation import LocateResult, facility_demand, recommend
from siting.locate.recommendation import _reach_pairs as _reach_pairs

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
