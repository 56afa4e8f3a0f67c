"""From a region to recommended sites: :class:`LocateResult`, :func:`recommend`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import costs, coverage, registry
from siting._errors import LocateError, LocateInfeasibleError
from siting.costs import args as cost_args
from siting.costs.args import TravelOptions
from siting.locate.base import (
    _MODEL_EN,
    _MODEL_ZH,
    _SOLVER,
    _SOURCE_LABELS,
    _STATUS_ZH,
    B1,
    CANDIDATE_SOURCES,
    CUTOFF_RETRIES,
    F64,
    I64,
    MODELS,
    P_MEDIAN_NEAREST,
    RECOMMENDATION_COLUMNS,
    Model,
    Pairs,
    _number,
)
from siting.locate.highs import (
    Solution,
    _count,
    _settings,
)
from siting.locate.models import (
    lscp,
    mclp,
    p_median,
)
from siting.regions import Region

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
        Share of the elderly (``pop_column``) within ``threshold_min`` of a facility of the
        service tier of ``kind`` before and after the new sites (0-1): every existing facility
        of the tier counts (:func:`siting.coverage.covering_kinds`; a 社区卫生服务中心 as a 卫生院),
        the one definition of :func:`siting.coverage.covered_population_by_tier`.
    existing_kinds
        The kinds of the existing facilities kept open and counted as covering
        (:func:`siting.coverage.covering_kinds` of ``kind``).
    served_candidates
        Candidate sites left out of the coverage models (``mclp``, ``lscp``) because a facility
        of the tier already serves there: a township seat whose township has one (township or
        hospital tier), a village that has one, or (township tier) a village of a 街道 that has
        one. No second 卫生院 where a 卫生院 or 社区卫生服务中心 already serves.
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
    existing_kinds: tuple[str, ...] = ()
    served_candidates: list[Any] = field(default_factory=list)

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
            "existing_kinds": list(self.existing_kinds),
            "served_candidates": [str(i) for i in self.served_candidates],
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
        kinds = cost_args.kinds(kind)
    except costs.CostError as exc:
        raise LocateError(str(exc)) from exc
    if kinds is None:
        msg = "kind must name the kind of facility to add, e.g. 'health_center'"
        raise LocateError(msg)
    return kinds


def _covering(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds of existing facility that cover what new ones of ``kinds`` would."""
    try:
        return coverage.covering_kinds(kinds)
    except coverage.CoverageError as exc:
        raise LocateError(str(exc)) from exc


def _served(
    cand: gpd.GeoDataFrame,
    label: str,
    existing: gpd.GeoDataFrame,
    kinds: tuple[str, ...],
    region: Region | None,
) -> B1:
    """Which candidate sites lie where a facility of the tier of ``kinds`` already serves:

    * township seats (township and hospital tiers): the township has one (一乡镇一卫生院; each
      街道 its 社区卫生服务中心);
    * villages: the village has one; for the township tier also every village of a 街道 that
      has one (an urban 街道 is served by its 社区卫生服务中心, 社区卫生服务站 fill in below).
    """
    from siting.kinds import KINDS, tier_of

    tiers = {tier_of(k) for k in kinds if k in KINDS} - {None}
    served = np.zeros(len(cand), dtype=bool)
    if not tiers or existing.empty:
        return served
    ids = cand.index.astype(str)
    towns = (
        set(existing["township_code"].dropna().astype(str))
        if "township_code" in existing.columns
        else set()
    )
    if label == "townships" and tiers & {"township", "hospital"}:
        return np.asarray(ids.isin(towns), dtype=bool)
    if label != "villages":
        return served
    if "village_code" in existing.columns:
        served |= np.asarray(ids.isin(set(existing["village_code"].dropna().astype(str))))
    if "township" in tiers and region is not None and "town_type" in region.townships.columns:
        kind_of_town = region.townships["town_type"].set_axis(region.townships.index.astype(str))
        town = cand["township_code"].astype("string")
        urban = town.map(kind_of_town).eq("街道").to_numpy(dtype=bool, na_value=False)
        served |= urban & np.asarray(town.isin(towns).to_numpy(dtype=bool, na_value=False))
    return served


def _without_sites(pairs: Pairs, drop: B1) -> Pairs:
    """``pairs`` without the pairs of the sites ``drop`` (those sites then cover no one)."""
    keep = ~drop[pairs.site]
    return Pairs(
        pairs.demand[keep],
        pairs.site[keep],
        pairs.cost[keep],
        pairs.n_demand,
        pairs.n_site,
        pairs.bound,
    )


def _of_kind(frame: gpd.GeoDataFrame | None, kinds: tuple[str, ...], name: str) -> Any:
    """The rows of ``frame`` of the given kinds (an empty frame for ``None``)."""
    if frame is None:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{name} must be a GeoDataFrame indexed by id, got {type(frame).__name__}"
        raise TypeError(msg)
    return coverage.of_kind(frame, kinds, name, error=LocateError)


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
    from siting.kinds import KINDS

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
    pop_column: str = coverage.ELDERLY_COLUMN,
    nearest_k: int | None = None,
    cutoff_min: float | None = None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    direction: str | None = None,
    options: TravelOptions | None = None,
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
        The registry: its facilities of the service tier of ``kind`` are the existing ones,
        kept open and counted as covering (:func:`siting.coverage.covering_kinds`: for a new
        ``health_center``, every ``health_center`` and ``community_health_center``, so no new
        卫生院 is placed where a 社区卫生服务中心 already serves). ``None``: none.
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
        site ids; optional ``name``, ``county_code``, ``township_code`` columns). In the
        coverage models a candidate where a facility of the tier already serves adds no
        coverage (``served_candidates``, see :class:`LocateResult`): no new 卫生院 in a 街道 a
        社区卫生服务中心 already serves.
    capacity
        p-median only: capacity of every new site in elderly people served (a number), or a
        column of a GeoDataFrame of ``candidates``. ``None``: uncapacitated.
    existing_capacity
        p-median with ``capacity``: capacity of the existing facilities (a number or a column
        of ``facilities``); ``None``: unlimited.
    pop_column
        Demand weight column: default ``pop_60plus`` (the elderly); ``pop_65plus`` where a
        document counts 65+.
    nearest_k
        p-median: how many nearest sites of every demand point enter the model at first
        (default ``ceil(n_candidates / p) + 3``); doubled where the solution needs more.
    cutoff_min
        p-median: also list every pair within this many minutes.
    time_limit_s, mip_gap
        HiGHS's time limit (seconds) and relative optimality gap (0: prove optimality).
    direction
        As in :func:`siting.costs.reach` (``None``: that of ``options``, else
        ``"to_facility"``).
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

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
    >>> result = recommend(
    ...     region, None, registry, model="mclp", p=3, threshold_min=15, candidates="villages"
    ... )
    >>> result.status, len(result.recommendations), result.coverage_after > result.coverage_before
    ('optimal', 3, True)
    >>> result.existing_kinds  # every existing facility of the township tier counts
    ('health_center', 'community_health_center')
    """
    args = _model_args(model, threshold_min, time_limit_s, mip_gap, p, capacity, existing_capacity)
    cost_args.with_options(options, direction, None, None, None, None)  # a wrong type fails here
    mdl, threshold, t_limit, gap_req = args.model, args.threshold, args.time_limit_s, args.mip_gap
    cutoff0 = None if cutoff_min is None else _number(cutoff_min, "cutoff_min")
    if nearest_k is not None and (
        isinstance(nearest_k, bool) or not isinstance(nearest_k, int) or nearest_k < 1
    ):
        msg = f"nearest_k must be a positive integer, got {nearest_k!r}"
        raise LocateError(msg)
    kinds = _kind_tuple(kind)
    demand = _demand_frame(region, demand)
    weights, pop_source = _population(demand, pop_column)
    covering = _covering(kinds)
    existing = _of_kind(facilities, covering, "facilities")
    cand, label = _candidate_sites(region, candidates)
    if not len(cand):
        msg = "there are no candidate sites"
        raise LocateError(msg)
    n_ex, n_cand = len(existing), len(cand)
    served = (
        _served(cand, label, existing, kinds, region) if mdl != "p_median" else np.zeros(0, bool)
    )
    sites, fixed = _all_sites(existing, cand)
    cap_arr, cap_new = _capacities(capacity, existing_capacity, existing, cand)
    if mdl != "lscp":
        _count(p, "p", n_cand)
    arrays = cost_args.arrays(network)
    kw: dict[str, Any] = {"direction": direction, "options": options}
    method = costs.STRAIGHT_LINE if arrays is None else costs.NETWORK

    k0: int | None = None
    if mdl == "p_median":
        k0 = nearest_k or math.ceil(n_cand / int(p or 1)) + P_MEDIAN_NEAREST
        sol = _solve_median(
            arrays, demand, sites, weights, fixed, cap_arr, int(p or 0), k0, cutoff0, args, kw
        )
        cover = _reach_pairs(arrays, demand, sites, threshold, **kw)
    else:
        pairs = _reach_pairs(arrays, demand, sites, threshold, **kw)
        if served.any():
            pairs = _without_sites(pairs, np.concatenate([np.zeros(n_ex, dtype=bool), served]))
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
        existing_kinds=covering,
        served_candidates=cand.index[served].tolist() if len(served) else [],
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


@dataclass(frozen=True)
class _ModelArgs:
    """The checked model arguments of :func:`recommend`."""

    model: Model
    threshold: float
    time_limit_s: float
    mip_gap: float


def _model_args(
    model: str,
    threshold_min: float,
    time_limit_s: float,
    mip_gap: float,
    p: int | None,
    capacity: float | str | None,
    existing_capacity: float | str | None,
) -> _ModelArgs:
    """Check the model, its threshold, solver settings, ``p`` and the capacity arguments."""
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
    return _ModelArgs(mdl, threshold, t_limit, gap_req)


def _demand_frame(region: Region | None, demand: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The demand points: ``demand``, or the region's villages."""
    if demand is None:
        if region is None:
            msg = "demand is needed without a region (villages with a population column)"
            raise LocateError(msg)
        demand = region.villages
    if not isinstance(demand, gpd.GeoDataFrame):
        msg = f"demand must be a GeoDataFrame of points, got {type(demand).__name__}"
        raise TypeError(msg)
    return demand


def _all_sites(existing: gpd.GeoDataFrame, cand: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, B1]:
    """The existing facilities then the candidates as one frame of points (index 0..n-1), and
    which of them are fixed (the existing ones)."""
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
    return sites, fixed


def _capacities(
    capacity: float | str | None,
    existing_capacity: float | str | None,
    existing: gpd.GeoDataFrame,
    cand: gpd.GeoDataFrame,
) -> tuple[F64 | None, float | None]:
    """The capacity of every site (existing first; ``inf`` when not given), and the capacity of
    a new site when it is one number."""
    if capacity is None:
        return None, None
    n_ex = len(existing)
    cap_new: float | None = None
    cap_arr = np.full(n_ex + len(cand), np.inf)
    cap_arr[n_ex:] = _capacity_values(capacity, cand, "capacity", "candidates")
    if isinstance(capacity, int | float | np.integer | np.floating):
        cap_new = float(capacity)
    if existing_capacity is not None and n_ex:
        cap_arr[:n_ex] = _capacity_values(
            existing_capacity, existing, "existing_capacity", "facilities"
        )
    return cap_arr, cap_new


def _solve_median(
    arrays: Any,
    demand: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    weights: F64,
    fixed: B1,
    cap_arr: F64 | None,
    p: int,
    k0: int,
    cutoff0: float | None,
    args: _ModelArgs,
    kw: Mapping[str, Any],
) -> Solution:
    """Solve the p-median on the ``k0`` nearest sites of every demand point, doubling the sites
    of the demand points that rely on the cutoff bound (at most :data:`CUTOFF_RETRIES` times)."""
    n_sites = len(sites)
    ks = np.full(len(demand), min(k0, n_sites), dtype=np.int64)
    pairs = _median_pairs(arrays, demand, sites, ks, cutoff0, **kw)
    solve_s = 0.0
    for tries in range(CUTOFF_RETRIES + 1):
        sol = p_median(
            pairs,
            weights,
            p,
            fixed=fixed,
            capacity=cap_arr,
            time_limit_s=args.time_limit_s,
            mip_gap=args.mip_gap,
        )
        solve_s += sol.solve_time_s
        more = sol.beyond_cutoff[ks[sol.beyond_cutoff] < n_sites]
        if not len(more) or tries == CUTOFF_RETRIES:
            sol = replace(sol, solve_time_s=solve_s)  # every round counts
            break
        ks[more] = np.minimum(2 * ks[more], n_sites)
        pairs = _extend(pairs, arrays, demand, sites, ks, more, **kw)
    return sol


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
    existing_kinds: tuple[str, ...] = (),
    served_candidates: list[Any] | None = None,
    capacity_new: float | None,
    nearest_k: int | None,
    time_limit_s: float,
    mip_gap: float,
    method: str,
    arrays: Any,
    sites: gpd.GeoDataFrame,
    kw: Mapping[str, Any],
) -> LocateResult:
    total, pop_before, pop_after = _covered(sol, cover, weights, fixed)
    share_b = pop_before / total if total > 0 else math.nan
    share_a = pop_after / total if total > 0 else math.nan
    order, gains = _rank(sol, cover, weights, fixed, mdl)
    times = _MedianTimes(sol=sol, objective=sol.objective)
    if mdl == "p_median" and sol.has_solution:
        times = _median_times(sol, demand, weights, sites, n_ex, arrays, kw)
    sol = times.sol
    table = _table(
        mdl,
        sol,
        order,
        gains,
        weights=weights,
        n_site=cover.n_site,
        cand=cand,
        n_ex=n_ex,
        kinds=kinds,
        threshold=threshold,
        capacity=capacity,
        pop_column=pop_column,
        pop_source=pop_source,
        method=method,
    )
    zh, en = _sentences(
        mdl,
        kinds,
        threshold,
        len(order),
        share_b,
        share_a,
        sol.status,
        sol.gap,
        pop_source,
        times.mean_before,
        times.mean_after,
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
        mean_time_before_min=times.mean_before,
        mean_time_after_min=times.mean_after,
        status=sol.status,
        solver_status=sol.solver_status,
        objective=times.objective,
        bound=sol.bound,
        gap=sol.gap,
        solve_time_s=sol.solve_time_s,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        nearest_k=nearest_k,
        cutoff_exact=times.cutoff_exact,
        beyond_cutoff=times.beyond_ids,
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
        existing_kinds=existing_kinds,
        served_candidates=list(served_candidates or []),
    )
    if not sol.has_solution:
        msg = _no_solution_message(mdl, sol, demand, threshold, time_limit_s)
        raise LocateInfeasibleError(msg, result=result)
    return result


def _covered(sol: Solution, cover: Pairs, weights: F64, fixed: B1) -> tuple[float, float, float]:
    """The total weight, and the weight covered (within the threshold) before and after."""
    total = float(weights.sum())
    before = np.zeros(cover.n_demand, dtype=bool)
    before[cover.demand[fixed[cover.site]]] = True
    after = np.zeros(cover.n_demand, dtype=bool)
    after[cover.demand[sol.open[cover.site]]] = True
    pop_before = float(weights[before].sum())
    pop_after = float(weights[after].sum()) if sol.has_solution else math.nan
    return total, pop_before, pop_after


@dataclass(frozen=True)
class _MedianTimes:
    """The p-median solution with true times for its beyond-cutoff points, and mean times."""

    sol: Solution
    objective: float
    mean_before: float = math.nan
    mean_after: float = math.nan
    beyond_ids: list[Any] = field(default_factory=list)
    cutoff_exact: bool = True


def _median_times(
    sol: Solution,
    demand: gpd.GeoDataFrame,
    weights: F64,
    sites: gpd.GeoDataFrame,
    n_ex: int,
    arrays: Any,
    kw: Mapping[str, Any],
) -> _MedianTimes:
    """Replace the bound of the beyond-cutoff demand points by their true times to the nearest
    open site, and measure the mean times before (existing facilities) and after."""
    objective = sol.objective
    mean_before = mean_after = math.nan
    beyond_ids: list[Any] = []
    cutoff_exact = True
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
    return _MedianTimes(sol, objective, mean_before, mean_after, beyond_ids, cutoff_exact)


def _table(
    mdl: Model,
    sol: Solution,
    order: I64,
    gains: F64,
    *,
    weights: F64,
    n_site: int,
    cand: gpd.GeoDataFrame,
    n_ex: int,
    kinds: tuple[str, ...],
    threshold: float,
    capacity: F64 | None,
    pop_column: str,
    pop_source: str,
    method: str,
) -> pd.DataFrame:
    """The recommendations table (:data:`RECOMMENDATION_COLUMNS`), sites in ``order``."""
    assigned_pop = np.bincount(
        sol.assignment[sol.assignment >= 0],
        weights=weights[sol.assignment >= 0],
        minlength=n_site,
    )
    assigned_n = np.bincount(sol.assignment[sol.assignment >= 0], minlength=n_site)
    tsum = np.bincount(
        sol.assignment[sol.assignment >= 0],
        weights=(weights * np.nan_to_num(sol.assigned_cost))[sol.assignment >= 0],
        minlength=n_site,
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
    return pd.DataFrame(
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


def _no_solution_message(
    mdl: Model, sol: Solution, demand: gpd.GeoDataFrame, threshold: float, time_limit_s: float
) -> str:
    """Why a model has no solution, and what to try."""
    if sol.status == "infeasible" and mdl == "lscp" and len(sol.unreachable):
        ids = demand.index[sol.unreachable][:5].tolist()
        return (
            f"LSCP is infeasible: {len(sol.unreachable)} demand point(s) have no candidate "
            f"site or existing facility within {threshold:g} min (first: {ids}); use "
            "candidates='villages', a longer threshold, or model='mclp'"
        )
    if sol.status == "infeasible":
        return (
            f"{_MODEL_EN[mdl]} model is infeasible ({sol.solver_status}); "
            "with capacities: the capacities cannot serve all the demand"
        )
    return (
        f"{_MODEL_EN[mdl]} model: no solution found ({sol.status}, "
        f"{sol.solver_status}) within time_limit_s={time_limit_s:g}"
    )


def _replace_assignment(sol: Solution, assignment: I64, cost: F64) -> Solution:
    return replace(sol, assignment=assignment, assigned_cost=cost)
