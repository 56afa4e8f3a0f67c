"""Coverage: gaps beyond a travel-time threshold, covered population, service areas, E2SFCA.

Every function here asks the travel-time engine (:mod:`siting.costs`) its questions in bulk:
one multi-source search answers all demand points at once, and every threshold is read from
that one answer. Nothing loops over pairs of points in Python.

* :func:`gaps` lists the demand points (villages, or elderly-care facilities looking for a
  medical partner) whose nearest facility is beyond a threshold, or out of reach.
* :func:`covered_population` sums the elderly living within each threshold of a facility, by
  county and township; :func:`covered_population_by_tier` does it for each service tier.
* :func:`nearest_by_tier` gives every demand point its nearest facility of each service tier.

**Coverage by service tier, one definition.** The medical kinds form service tiers
(:data:`siting.kinds.TIERS`: ``village`` 村卫生室/社区卫生服务站, ``township``
卫生院/社区卫生服务中心, ``hospital`` 医院). A village (or any point) is *covered at tier X within T
minutes* when a facility of tier X is reachable within T minutes: a 村卫生室 never stands in for
a 卫生院, and every facility of the tier counts (a 社区卫生服务中心 covers as a 卫生院 does).
:func:`covering_kinds` gives the kinds that count for a kind, and :mod:`siting.locate` and the
run's gaps and summary use these same functions. The elderly are the people aged 60 and over
(``pop_60plus``, :data:`ELDERLY_COLUMN`; 老年人 as Chinese law and the seed documents use it).
* :func:`service_areas` draws the area reachable within T minutes of each facility.
* :func:`e2sfca` scores access to capacity (beds per 1,000 elderly) with the Enhanced Two-Step
  Floating Catchment Area method (Luo & Qi 2009), :func:`e2sfca_from_pairs` from given pairs.

Conventions are those of :mod:`siting.costs`: demand and facilities are GeoDataFrames of points
indexed by id (WGS84 or any CRS that converts to it), ``kind=`` keeps the facilities of that kind,
the network is an osmnx-style graph, a compiled :class:`siting.graph.GraphArrays` or ``None``
(straight-line fallback), and every result says how times were measured (``method``:
``"network"`` or ``"straight_line"``). Times include the access legs between a point and its
nearest road node. A threshold is met when the time is **at most** the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from siting import costs
from siting._errors import CoverageError
from siting.costs import args as cost_args
from siting.costs.args import TravelOptions
from siting.graph import Network
from siting.kinds import TIER_ZH, TIERS
from siting.service_areas import (
    CONCAVE_RATIO,
    OUTLINES,
    SERVICE_AREA_BUFFER_M,
    SERVICE_AREA_COLUMNS,
    minutes_arg,
    minutes_column,
    service_areas,
)

__all__ = [
    "CONCAVE_RATIO",
    "COVERED_COLUMNS",
    "COVERED_TIER_COLUMNS",
    "E2SFCA_COLUMNS",
    "E2SFCA_WEIGHTS",
    "E2SFCA_ZONES_MIN",
    "ELDERLY_COLUMN",
    "GAP_COLUMNS",
    "NEAREST_TIER_COLUMNS",
    "OUTLINES",
    "SERVICE_AREA_BUFFER_M",
    "SERVICE_AREA_COLUMNS",
    "CoverageError",
    "covered_population",
    "covered_population_by_tier",
    "covering_kinds",
    "e2sfca",
    "e2sfca_from_pairs",
    "gaps",
    "nearest_by_tier",
    "service_areas",
    "tier_kinds",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Columns of :func:`gaps`, in order.
GAP_COLUMNS: Final = (
    "demand_id",
    "nearest_partner_id",
    "travel_time_min",
    "threshold_min",
    "reachable",
    "method",
    "snap_flag",
)

#: Columns of :func:`covered_population`, in order.
COVERED_COLUMNS: Final = (
    "level",
    "code",
    "name",
    "threshold_min",
    "n_villages",
    "n_villages_covered",
    "pop_column",
    "pop_total",
    "pop_covered",
    "share_covered",
    "method",
    "population_source",
)

#: Columns of :func:`covered_population_by_tier`, in order: the tier, its label, then
#: :data:`COVERED_COLUMNS`.
COVERED_TIER_COLUMNS: Final = ("tier", "tier_zh", *COVERED_COLUMNS)

#: Columns of :func:`nearest_by_tier`, in order.
NEAREST_TIER_COLUMNS: Final = (
    "tier",
    "demand_id",
    "facility_id",
    "facility_kind",
    "time_s",
    "reachable",
    "method",
    "snap_flag",
)

#: The population column of "the elderly" (老年人: aged 60 and over, as Chinese law and the seed
#: documents count them); ``pop_65plus`` only where a document counts 65+.
ELDERLY_COLUMN: Final = "pop_60plus"

#: Columns of :func:`e2sfca` and :func:`e2sfca_from_pairs`, in order.
E2SFCA_COLUMNS: Final = ("demand_id", "access", "n_supply_in_catchment", "method")

#: Travel-time zones of E2SFCA (upper bounds, minutes) and their weights: the step weights of
#: Luo & Qi (2009), the default of the PySAL ``access`` package.
E2SFCA_ZONES_MIN: Final = (10.0, 20.0, 30.0)
E2SFCA_WEIGHTS: Final = (1.0, 0.68, 0.22)

_LEVELS: Final = {"county_code": "county", "township_code": "township", "village_code": "village"}


# --- argument checks -----------------------------------------------------------------------------


def _numeric(frame: pd.DataFrame, column: str, name: str) -> F64:
    """A numeric, complete, non-negative column as float64; the message names it."""
    if not isinstance(column, str) or column not in frame.columns:
        have = ", ".join(map(str, frame.columns))
        msg = f"{name} has no column {column!r} (columns: {have})"
        raise CoverageError(msg)
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series)):
        msg = f"{name}[{column!r}] must be numeric, got dtype {series.dtype}"
        raise CoverageError(msg)
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any():
        first = frame.index[int(np.argmax(missing))]
        msg = (
            f"{name}[{column!r}] is missing for {int(missing.sum())} row(s), first id {first!r}; "
            "fill it (e.g. .fillna(0)) or keep only the rows that have it (e.g. kind=)"
        )
        raise CoverageError(msg)
    values = series.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first_pos = int(np.argmax(bad))
        msg = (
            f"{name}[{column!r}] must be finite and >= 0; {int(bad.sum())} row(s) are not, "
            f"first id {frame.index[first_pos]!r} ({values[first_pos]})"
        )
        raise CoverageError(msg)
    return values


def of_kind(
    frame: gpd.GeoDataFrame,
    kind: str | Iterable[str] | None,
    name: str,
    error: type[Exception] = CoverageError,
) -> Any:
    """The rows of ``frame`` of the given kind(s), checked as :mod:`siting.costs` does; a
    problem raises ``error``."""
    kinds = cost_args.kinds(kind)
    if kinds is None:
        return frame
    if "kind" not in frame.columns:
        msg = f"kind={list(kinds)!r} needs a 'kind' column in {name}"
        raise error(msg)
    from siting.kinds import KINDS

    present = set(frame["kind"].dropna().astype(str))
    unknown = [k for k in kinds if k not in KINDS and k not in present]
    if unknown:
        msg = (
            f"kind {unknown[0]!r} is neither a known kind ({', '.join(sorted(KINDS))}) nor "
            f"present in {name}['kind']"
        )
        raise error(msg)
    return frame[frame["kind"].isin(kinds).to_numpy(dtype=bool, na_value=False)]


#: Old private name of :func:`of_kind`.
_of_kind = of_kind


def _method(network: Network) -> str:
    return costs.STRAIGHT_LINE if network is None else costs.NETWORK


# --- service tiers -------------------------------------------------------------------------------


def tier_kinds(tiers: str | Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """The kinds of the named service tiers (all of :data:`siting.kinds.TIERS` for ``None``).

    Returns a mapping tier -> kinds in the order of :data:`~siting.kinds.TIERS` (village,
    township, hospital).

    Raises
    ------
    CoverageError
        If a tier is unknown (the message lists the tiers).

    Examples
    --------
    >>> tier_kinds("township")
    {'township': ('health_center', 'community_health_center')}
    """
    if tiers is None:
        return dict(TIERS)
    wanted = [tiers] if isinstance(tiers, str) else list(tiers)
    unknown = [t for t in wanted if t not in TIERS]
    if unknown or not wanted:
        msg = (
            f"unknown service tier {unknown[0]!r}" if unknown else "no service tier given"
        ) + f"; tiers are {', '.join(TIERS)}"
        raise CoverageError(msg)
    return {t: k for t, k in TIERS.items() if t in wanted}


def covering_kinds(kind: str | Iterable[str]) -> tuple[str, ...]:
    """The kinds whose facilities cover what a facility of ``kind`` covers.

    Every kind of the service tier of each given kind (:data:`siting.kinds.TIERS`), in the
    tier's order, then the given kinds of no tier (elderly-care kinds, ``integrated_care``): an
    existing 社区卫生服务中心 covers its villages as a 卫生院 does, so planning a new
    ``health_center`` counts both as already covering.

    Raises
    ------
    CoverageError
        If no kind is given.

    Examples
    --------
    >>> covering_kinds("health_center")
    ('health_center', 'community_health_center')
    >>> covering_kinds(["village_clinic", "nursing_home"])
    ('village_clinic', 'community_health_station', 'nursing_home')
    """
    try:
        given = cost_args.kinds(kind)
    except costs.CostError as exc:
        msg = f"kind must name at least one facility kind: {exc}"
        raise CoverageError(msg) from exc
    if not given:
        msg = "kind must name at least one facility kind"
        raise CoverageError(msg)
    out: list[str] = []
    for k in given:
        tier = next((t for t, members in TIERS.items() if k in members), None)
        for member in TIERS[tier] if tier is not None else (k,):
            if member not in out:
                out.append(member)
    return tuple(out)


# --- gaps ----------------------------------------------------------------------------------------


def gaps(
    network: costs.Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    thresholds_min: float | Iterable[float] = (15, 30),
    kind: str | Iterable[str] | None = None,
    direction: str | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """The demand points whose nearest facility lies beyond each threshold, or out of reach.

    One nearest-facility search (:func:`siting.costs.nearest`, ``k=1``, no time bound) gives
    every demand point its nearest facility and time; every threshold is read from it.

    Parameters
    ----------
    network
        A networkx graph (osmnx convention), a compiled GraphArrays, or ``None`` for the
        straight-line fallback.
    demand
        Points indexed by id: villages, or facilities looking for a partner (e.g. nursing homes
        and the health centres they should pair with).
    facilities
        Points indexed by id, the partners (filtered by ``kind``).
    thresholds_min
        Thresholds in minutes (one number or several).
    kind
        Keep the facilities of this kind (or these kinds).
    direction
        ``"to_facility"`` (trip from the demand point) or ``"from_facility"``; ``None``: that of
        ``options``, else ``"to_facility"``.
    max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        Overrides of :mod:`siting.settings`, as in :func:`siting.costs.nearest`.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`GAP_COLUMNS`: one row per demand point (input order) and threshold
        (ascending) that the nearest facility does not meet. ``nearest_partner_id`` and
        ``travel_time_min`` are those of the nearest facility whatever the threshold (<NA> and
        NaN when none can be reached; ``reachable`` is then ``False``).

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> homes = registry[registry["kind"] == "nursing_home"]
    >>> out = gaps(None, homes, registry, kind="health_center", thresholds_min=[15, 30])
    >>> list(out.columns)[:4]
    ['demand_id', 'nearest_partner_id', 'travel_time_min', 'threshold_min']
    """
    thresholds = minutes_arg(thresholds_min, "thresholds_min")
    near = costs.nearest(
        network,
        demand,
        facilities,
        k=1,
        kind=kind,
        direction=direction,
        max_snap_m=max_snap_m,
        access_speed_kph=access_speed_kph,
        detour_factor=detour_factor,
        straight_line_speed_kph=straight_line_speed_kph,
        options=options,
    )
    minutes = near["time_s"].to_numpy(dtype=np.float64) / 60.0
    reachable = near["reachable"].to_numpy(dtype=bool)
    limits = np.asarray(thresholds)
    # (demand, threshold) beyond: unreachable, or strictly slower than the threshold
    beyond = ~reachable[:, None] | ~(minutes[:, None] <= limits[None, :])
    point, col = np.nonzero(beyond)
    return pd.DataFrame(
        {
            "demand_id": near["demand_id"].array.take(point),
            "nearest_partner_id": near["facility_id"].array.take(point),
            "travel_time_min": minutes[point],
            "threshold_min": minutes_column(thresholds, 1)[col],
            "reachable": reachable[point],
            "method": near["method"].to_numpy(dtype=object)[point],
            "snap_flag": near["snap_flag"].to_numpy(dtype=bool)[point],
        }
    )


# --- covered population --------------------------------------------------------------------------


def _names(names: Mapping[str, Any] | None, column: str, codes: pd.Index) -> Any:
    """Names of ``codes`` from ``names[column]`` (a mapping or Series code -> name), else NA."""
    if names is None or column not in names:
        return pd.array([pd.NA] * len(codes), dtype="string")
    table = names[column]
    lookup = table if isinstance(table, pd.Series) else pd.Series(dict(table), dtype=object)
    found = lookup.reindex(codes)
    if found.isna().all() and len(codes):  # codes stored as int or str on one side only
        found = pd.Series(lookup.to_numpy(), index=lookup.index.astype(str)).reindex(
            codes.astype(str)
        )
    return pd.array(found.to_numpy(dtype=object), dtype="string")


def _sources(values: pd.Series) -> str:
    """The population source label of a group: one value, several joined by '+'."""
    found = sorted({str(v) for v in values.dropna()})
    return "+".join(found) if found else "unspecified"


def covered_population(
    network: costs.Network,
    villages: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    thresholds_min: float | Iterable[float] = (15, 30),
    kind: str | Iterable[str] | None = None,
    pop_column: str = ELDERLY_COLUMN,
    by: str | Sequence[str] = ("county_code", "township_code"),
    names: Mapping[str, pd.Series | Mapping[Any, str]] | None = None,
    direction: str | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """Elderly population within each threshold of a facility, by area (county, township ...).

    A village counts as covered when its nearest facility (of ``kind``) is at most the
    threshold away; its whole population then counts. One nearest-facility search bounded by
    the largest threshold answers every threshold. For the coverage of a service tier give
    the tier's kinds (``kind=siting.kinds.TIERS["township"]``), or use
    :func:`covered_population_by_tier` for every tier: a facility list of all medical kinds
    with no ``kind`` measures "any medical facility", which a 村卫生室 in every village fills.

    Parameters
    ----------
    network
        As in :func:`gaps`.
    villages
        Points indexed by village code with the population column and the ``by`` columns,
        e.g. ``Region.villages``. A ``population_source`` column (``"modelled"`` for the built-in
        regions) is carried into the result.
    facilities
        Points indexed by id (filtered by ``kind``).
    thresholds_min
        Thresholds in minutes.
    kind
        Keep the facilities of this kind (or these kinds).
    pop_column
        The population counted: numeric, complete, >= 0. Default ``pop_60plus`` (the elderly,
        :data:`ELDERLY_COLUMN`); ``pop_65plus`` where a document counts 65+.
    by
        Columns of ``villages`` to sum by, each giving a ``level`` (``county_code`` ->
        ``"county"``, ``township_code`` -> ``"township"``, others their column name).
    names
        For a ``by`` column, its codes' names (a Series or mapping code -> name), e.g.
        ``{"county_code": region.counties["name"], "township_code": region.townships["name"]}``.
    direction, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        As in :func:`siting.costs.nearest`.
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

    Returns
    -------
    pandas.DataFrame
        Tidy, columns :data:`COVERED_COLUMNS`: for each threshold (ascending), one row per code
        of each ``by`` level (sorted codes), then one ``level="total"`` row (code <NA>) for all
        villages. ``share_covered`` is ``pop_covered / pop_total`` (NaN when the total is 0).
        ``population_source`` is the villages' source (``"modelled"``; several joined by ``+``;
        ``"unspecified"`` without the column).

    Raises
    ------
    CoverageError
        If the population or a ``by`` column is missing, not numeric, incomplete or negative.

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> out = covered_population(
    ...     None, region.villages, registry, kind="health_center", thresholds_min=30
    ... )
    >>> out[out["level"] == "total"][["pop_column", "population_source"]].values.tolist()
    [['pop_60plus', 'modelled']]
    """
    thresholds = minutes_arg(thresholds_min, "thresholds_min")
    pop, columns = _check_villages(villages, pop_column, by)
    near = costs.nearest(
        network,
        villages,
        facilities,
        k=1,
        kind=kind,
        direction=direction,
        max_time_s=thresholds[-1] * 60.0,
        max_snap_m=max_snap_m,
        access_speed_kph=access_speed_kph,
        detour_factor=detour_factor,
        straight_line_speed_kph=straight_line_speed_kph,
        options=options,
    )
    seconds = np.where(
        near["reachable"].to_numpy(dtype=bool), near["time_s"].to_numpy(dtype=np.float64), np.inf
    )
    return _tabulate(
        villages, pop, seconds, thresholds, columns, names, pop_column, _method(network)
    )


def _check_villages(
    villages: gpd.GeoDataFrame, pop_column: str, by: str | Sequence[str]
) -> tuple[F64, list[str]]:
    """The population of the villages and the ``by`` columns, checked."""
    columns = [by] if isinstance(by, str) else list(by)
    if not isinstance(villages, gpd.GeoDataFrame):
        msg = f"villages must be a GeoDataFrame of points, got {type(villages).__name__}"
        raise TypeError(msg)
    pop = _numeric(villages, pop_column, "villages")
    for col in columns:
        if not isinstance(col, str) or col not in villages.columns:
            msg = f"by: villages has no column {col!r}"
            raise CoverageError(msg)
        if villages[col].isna().any():
            first = villages.index[int(np.argmax(villages[col].isna().to_numpy(dtype=bool)))]
            msg = f"villages[{col!r}] is missing for some rows, first id {first!r}"
            raise CoverageError(msg)
    return pop, columns


def _tabulate(
    villages: gpd.GeoDataFrame,
    pop: F64,
    seconds: F64,
    thresholds: Sequence[float],
    columns: Sequence[str],
    names: Mapping[str, pd.Series | Mapping[Any, str]] | None,
    pop_column: str,
    method: str,
) -> pd.DataFrame:
    """The covered-population table (:data:`COVERED_COLUMNS`) of the villages' times (seconds
    to the nearest facility; ``inf`` out of reach)."""
    covered = seconds[:, None] <= np.asarray(thresholds)[None, :] * 60.0  # (village, threshold)
    source = (
        villages["population_source"]
        if "population_source" in villages.columns
        else pd.Series(pd.NA, index=villages.index, dtype=object)
    )
    keys: list[tuple[str, pd.Series | None]] = [(c, villages[c]) for c in columns]
    keys.append(("total", None))
    parts = []
    for t_pos, threshold in enumerate(thresholds):
        hit = covered[:, t_pos]
        table = pd.DataFrame(
            {
                "n": np.ones(len(pop), dtype=np.int64),
                "n_cov": hit.astype(np.int64),
                "pop": pop,
                "pop_cov": np.where(hit, pop, 0.0),
            },
            index=villages.index,
        )
        for col, codes in keys:
            if codes is None:
                sums = table.sum().to_frame().T
                sums.index = pd.Index([pd.NA], dtype=object)
                src = [_sources(source)]
                level, name = "total", pd.array([pd.NA], dtype="string")
            else:
                grouper = codes.to_numpy(dtype=object)
                sums = table.groupby(grouper, sort=True).sum()
                src = source.groupby(grouper, sort=True).agg(_sources).reindex(sums.index).tolist()
                level = _LEVELS.get(col, col)
                name = _names(names, col, sums.index)
            total = sums["pop"].to_numpy(dtype=np.float64)
            got = sums["pop_cov"].to_numpy(dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(total > 0, got / np.where(total > 0, total, 1.0), np.nan)
            parts.append(
                pd.DataFrame(
                    {
                        "level": level,
                        "code": pd.array(
                            [None if pd.isna(c) else str(c) for c in sums.index], dtype="string"
                        ),
                        "name": name,
                        "threshold_min": minutes_column([threshold], len(sums)),
                        "n_villages": sums["n"].to_numpy(dtype=np.int64),
                        "n_villages_covered": sums["n_cov"].to_numpy(dtype=np.int64),
                        "pop_column": pop_column,
                        "pop_total": total,
                        "pop_covered": got,
                        "share_covered": share,
                        "method": method,
                        "population_source": src,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)[list(COVERED_COLUMNS)]


# --- coverage by service tier --------------------------------------------------------------------


def nearest_by_tier(
    network: costs.Network,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    tiers: str | Iterable[str] | None = None,
    max_minutes: float | None = None,
    direction: str | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """Every demand point's nearest facility of each service tier.

    One nearest-facility search (:func:`siting.costs.nearest`, ``k=1``) per tier, over every
    facility of the tier's kinds (:data:`siting.kinds.TIERS`): a point is covered at a tier
    within T minutes when its row's ``time_s`` is at most ``60 T``
    (:func:`covered_population_by_tier` and the run's village gaps read it so).

    Parameters
    ----------
    network
        As in :func:`gaps`.
    demand
        Points indexed by id (villages, or facilities).
    facilities
        The registry: points indexed by id with a ``kind`` column; kinds of no tier are ignored.
        A tier with no facility in the list gives ``reachable=False`` for every point.
    tiers
        The tiers to measure (default all, in the order of :data:`siting.kinds.TIERS`).
    max_minutes
        Bound of the searches (a facility farther away counts as not reached); ``None``: none.
    direction, options
        As in :func:`siting.costs.nearest`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`NEAREST_TIER_COLUMNS`: for each tier (in order), one row per demand point
        (input order); ``facility_id``/``facility_kind`` <NA> and ``time_s`` NaN where none is
        reached.

    Raises
    ------
    CoverageError
        If a tier is unknown or ``facilities`` has no ``kind`` column.

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> near = nearest_by_tier(None, region.villages, registry, tiers=["village", "township"])
    >>> near.groupby("tier", sort=False).size().to_dict()
    {'village': 423, 'township': 423}
    """
    wanted = tier_kinds(tiers)
    if not isinstance(facilities, gpd.GeoDataFrame) or "kind" not in facilities.columns:
        msg = "facilities must be a GeoDataFrame with a 'kind' column (the service tiers need it)"
        raise CoverageError(msg)
    max_time_s = None if max_minutes is None else minutes_arg(max_minutes, "max_minutes")[-1] * 60
    kinds = facilities["kind"].astype("string")
    parts = []
    for tier, members in wanted.items():
        own = facilities[kinds.isin(members).to_numpy(dtype=bool, na_value=False)]
        near = costs.nearest(
            network,
            demand,
            own,
            k=1,
            direction=direction,
            max_time_s=max_time_s,
            options=options,
        )
        ids = near["facility_id"].astype("string")
        kind_of = dict(zip(own.index.astype(str), own["kind"].astype(str), strict=True))
        parts.append(
            pd.DataFrame(
                {
                    "tier": tier,
                    "demand_id": near["demand_id"].to_numpy(dtype=object),
                    "facility_id": ids.to_numpy(dtype=object),
                    "facility_kind": ids.map(kind_of).astype("string").to_numpy(dtype=object),
                    "time_s": near["time_s"].to_numpy(dtype=np.float64),
                    "reachable": near["reachable"].to_numpy(dtype=bool),
                    "method": near["method"].to_numpy(dtype=object),
                    "snap_flag": near["snap_flag"].to_numpy(dtype=bool),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["facility_id"] = out["facility_id"].astype("string")
    return out[list(NEAREST_TIER_COLUMNS)]


def covered_population_by_tier(
    network: costs.Network,
    villages: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    tiers: str | Iterable[str] | None = None,
    thresholds_min: float | Iterable[float] = (15, 30),
    pop_column: str = ELDERLY_COLUMN,
    by: str | Sequence[str] = ("county_code", "township_code"),
    names: Mapping[str, pd.Series | Mapping[Any, str]] | None = None,
    nearest: pd.DataFrame | None = None,
    direction: str | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """Elderly population covered at each service tier within each threshold, by area.

    The one definition of coverage: a village is covered at tier X within T minutes when a
    facility of tier X (:data:`siting.kinds.TIERS`) is reachable within T; its whole
    population then counts. Each tier is :func:`covered_population` over the tier's kinds, so
    a 村卫生室 in every village covers the village tier and nothing else, and a 社区卫生服务中心
    covers the township tier as a 卫生院 does.

    Parameters
    ----------
    network, villages, thresholds_min, pop_column, by, names, direction, options
        As in :func:`covered_population` (``pop_column`` default ``pop_60plus``).
    facilities
        The registry (every kind; kinds of no tier are ignored).
    tiers
        The tiers to measure (default all).
    nearest
        The villages' :func:`nearest_by_tier` if already computed (e.g. for the run's village
        gaps, unbounded): read instead of searching again. It must hold every tier asked and
        every village.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COVERED_TIER_COLUMNS`: for each tier (village, township, hospital), the
        rows of :func:`covered_population`. A tier with no facility in the list covers no one.

    Raises
    ------
    CoverageError
        As :func:`covered_population`; also for an unknown tier, or a ``nearest`` that lacks a
        tier or a village.

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> out = covered_population_by_tier(None, region.villages, registry, thresholds_min=15)
    >>> total = out[out["level"] == "total"].set_index("tier")
    >>> total["pop_column"].unique().tolist(), total.index.tolist()
    (['pop_60plus'], ['village', 'township', 'hospital'])
    >>> bool(total.loc["hospital", "share_covered"] < total.loc["village", "share_covered"])
    True
    """
    thresholds = minutes_arg(thresholds_min, "thresholds_min")
    wanted = tier_kinds(tiers)
    pop, columns = _check_villages(villages, pop_column, by)
    if nearest is None:
        nearest = nearest_by_tier(
            network,
            villages,
            facilities,
            tiers=list(wanted),
            max_minutes=thresholds[-1],
            direction=direction,
            options=options,
        )
    method = _method(network)
    parts = []
    for tier in wanted:
        seconds = _tier_seconds(nearest, tier, villages.index)
        table = _tabulate(villages, pop, seconds, thresholds, columns, names, pop_column, method)
        table.insert(0, "tier_zh", TIER_ZH[tier])
        table.insert(0, "tier", tier)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)[list(COVERED_TIER_COLUMNS)]


def _tier_seconds(nearest: pd.DataFrame, tier: str, ids: pd.Index) -> F64:
    """The seconds of every id to its nearest facility of ``tier`` (``inf``: none reached)."""
    missing_cols = [c for c in ("tier", "demand_id", "time_s", "reachable") if c not in nearest]
    if missing_cols:
        msg = f"nearest has no column {missing_cols[0]!r} (give a nearest_by_tier table)"
        raise CoverageError(msg)
    rows = nearest[nearest["tier"] == tier]
    if rows.empty:
        msg = f"nearest has no row of tier {tier!r}"
        raise CoverageError(msg)
    times = pd.Series(
        np.where(
            rows["reachable"].to_numpy(dtype=bool),
            rows["time_s"].to_numpy(dtype=np.float64),
            np.inf,
        ),
        index=pd.Index(rows["demand_id"].astype(str)),
    )
    if not times.index.is_unique:
        msg = f"nearest lists a demand point twice for tier {tier!r}"
        raise CoverageError(msg)
    found = times.reindex(ids.astype(str))
    if found.isna().any():
        first = ids[int(np.argmax(found.isna().to_numpy()))]
        msg = f"nearest has no row for village {first!r} at tier {tier!r}"
        raise CoverageError(msg)
    out: F64 = np.asarray(found.to_numpy(), dtype=np.float64)
    return out


# --- E2SFCA --------------------------------------------------------------------------------------


def _zones(zones_min: Any, weights: Any) -> tuple[F64, F64]:
    """Validated E2SFCA zones (strictly increasing minutes) and weights (non-increasing, > 0)."""
    if isinstance(zones_min, str) or not isinstance(zones_min, Iterable):
        msg = f"zones_min must be a list of minutes, got {zones_min!r}"
        raise CoverageError(msg)
    if isinstance(weights, str) or not isinstance(weights, Iterable):
        msg = f"weights must be a list of numbers, got {weights!r}"
        raise CoverageError(msg)
    z, w = list(zones_min), list(weights)
    if not z:
        msg = "zones_min must hold at least one zone"
        raise CoverageError(msg)
    if len(z) != len(w):
        msg = (
            f"zones_min and weights must have the same length (one weight per zone), got "
            f"{len(z)} zones {z!r} and {len(w)} weights {w!r}"
        )
        raise CoverageError(msg)

    def number(v: Any) -> bool:
        return (
            not isinstance(v, bool)
            and isinstance(v, int | float | np.integer | np.floating)
            and math.isfinite(float(v))
        )

    if not all(number(v) and float(v) > 0 for v in z):
        msg = f"zones_min must hold positive finite minutes, got {z!r}"
        raise CoverageError(msg)
    if not all(number(v) and float(v) > 0 for v in w):
        msg = f"weights must hold positive finite numbers, got {w!r}"
        raise CoverageError(msg)
    za, wa = np.asarray(z, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if np.any(np.diff(za) <= 0):
        msg = f"zones_min must be strictly increasing (upper bounds of the zones), got {z!r}"
        raise CoverageError(msg)
    if np.any(np.diff(wa) > 0):
        msg = f"weights must not increase from one zone to the next (distance decay), got {w!r}"
        raise CoverageError(msg)
    return za, wa


def _ids_series(values: Any, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, Mapping):
        series = pd.Series(dict(values))
    else:
        msg = f"{name} must be a Series (or mapping) id -> value, got {type(values).__name__}"
        raise TypeError(msg)
    if not series.index.is_unique:
        dup = series.index[series.index.duplicated()].unique()[:5].tolist()
        msg = f"{name} index must hold unique ids; duplicated: {dup}"
        raise CoverageError(msg)
    _numeric(series.to_frame("value"), "value", name)
    return series


def e2sfca_from_pairs(
    pairs: pd.DataFrame,
    demand_weights: pd.Series | Mapping[Hashable, float],
    supply_capacity: pd.Series | Mapping[Hashable, float],
    *,
    zones_min: Sequence[float] = E2SFCA_ZONES_MIN,
    weights: Sequence[float] = E2SFCA_WEIGHTS,
    per: float = 1000.0,
) -> pd.DataFrame:
    """E2SFCA access scores from given (demand, supply, travel time) pairs.

    With travel-time zones ``0 < t <= z_1 < ... <= z_r`` of weights ``W_1 >= ... >= W_r``
    (``W(t) = 0`` beyond the last zone):

    1. every supply ``j`` gets the ratio ``R_j = S_j / sum_k P_k W(t_kj)`` over the demand
       points ``k`` in its catchment (``R_j = 0`` when that sum is 0: no one to serve);
    2. every demand point ``i`` gets ``A_i = per * sum_j R_j W(t_ij)``.

    With capacity in beds and demand weights in elderly persons, ``access`` is in **beds per
    ``per`` (default 1,000) elderly**. The capacity-weighted mean of ``A_i`` over demand equals
    ``per x`` total supply / total demand when every supply reaches some demand.

    Parameters
    ----------
    pairs
        Long form with ``demand_id``, ``facility_id`` and ``time_s`` (seconds), as
        :func:`siting.costs.reach` returns; rows with ``reachable=False`` or NaN time are
        ignored. Each (demand, facility) pair at most once. A ``method`` column, if any, is
        carried into the result.
    demand_weights
        Demand weight (e.g. persons aged 60+) per demand id; the result has one row per id, in
        this order.
    supply_capacity
        Capacity (e.g. beds) per facility id; every facility of ``pairs`` must have one.
    zones_min, weights
        Zone upper bounds (minutes, strictly increasing) and their weights (positive,
        non-increasing), same length.
    per
        Scale of the score (persons): 1000 gives capacity per 1,000 demand.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`E2SFCA_COLUMNS`, one row per demand id: ``access`` (0 where no supply is
        in reach), ``n_supply_in_catchment`` (facilities within the largest zone), ``method``
        (from ``pairs``, else ``"given"``).

    Examples
    --------
    >>> pairs = pd.DataFrame(
    ...     {"demand_id": ["v1", "v2"], "facility_id": ["NH-1", "NH-1"], "time_s": [300.0, 900.0]}
    ... )
    >>> out = e2sfca_from_pairs(pairs, pd.Series({"v1": 100, "v2": 50}), pd.Series({"NH-1": 40}))
    >>> out["access"].round(1).tolist()  # R = 40 / (100 * 1 + 50 * 0.68) = 0.2985 beds/person
    [298.5, 203.0]
    """
    za, wa = _zones(zones_min, weights)
    if (
        isinstance(per, bool)
        or not isinstance(per, int | float | np.integer | np.floating)
        or not (math.isfinite(float(per)) and float(per) > 0)
    ):
        msg = f"per must be a positive number, got {per!r}"
        raise CoverageError(msg)
    if not isinstance(pairs, pd.DataFrame):
        msg = f"pairs must be a DataFrame, got {type(pairs).__name__}"
        raise TypeError(msg)
    missing_cols = [c for c in ("demand_id", "facility_id", "time_s") if c not in pairs.columns]
    if missing_cols:
        msg = f"pairs has no column {missing_cols[0]!r} (needs demand_id, facility_id, time_s)"
        raise CoverageError(msg)
    dem = _ids_series(demand_weights, "demand_weights")
    sup = _ids_series(supply_capacity, "supply_capacity")
    pop = dem.to_numpy(dtype=np.float64)
    cap = sup.to_numpy(dtype=np.float64)
    time_s = pd.to_numeric(pairs["time_s"], errors="coerce").to_numpy(dtype=np.float64)
    use = np.isfinite(time_s)
    if "reachable" in pairs.columns:
        use &= pairs["reachable"].to_numpy(dtype=bool, na_value=False)
    if "method" in pairs.columns and len(pairs):
        found = sorted({str(m) for m in pairs["method"].dropna()})
        method = "+".join(found) if found else "given"
    else:
        method = "given"
    if np.any(time_s[use] < 0):
        msg = "pairs['time_s'] must be >= 0"
        raise CoverageError(msg)
    sel = pairs[use]
    di = dem.index.get_indexer(pd.Index(sel["demand_id"]))
    si = sup.index.get_indexer(pd.Index(sel["facility_id"]))
    if (di < 0).any():
        bad = sel["demand_id"].iloc[int(np.argmax(di < 0))]
        msg = f"pairs['demand_id'] {bad!r} has no weight in demand_weights"
        raise CoverageError(msg)
    if (si < 0).any():
        bad = sel["facility_id"].iloc[int(np.argmax(si < 0))]
        msg = f"pairs['facility_id'] {bad!r} has no capacity in supply_capacity"
        raise CoverageError(msg)
    di, si = di.astype(np.int64), si.astype(np.int64)
    key = di * max(len(sup), 1) + si
    if len(np.unique(key)) != len(key):
        msg = "pairs holds the same (demand_id, facility_id) pair more than once"
        raise CoverageError(msg)
    zone = np.searchsorted(za, time_s[use] / 60.0, side="left")  # t <= z_1 -> zone 0
    inside = zone < len(za)
    di, si, w = di[inside], si[inside], wa[zone[inside]]
    demand_seen = np.bincount(si, weights=pop[di] * w, minlength=len(sup))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(demand_seen > 0, cap / np.where(demand_seen > 0, demand_seen, 1.0), 0.0)
    access = np.bincount(di, weights=ratio[si] * w, minlength=len(dem)) * float(per)
    return pd.DataFrame(
        {
            "demand_id": dem.index.to_numpy(),
            "access": access,
            "n_supply_in_catchment": np.bincount(di, minlength=len(dem)).astype(np.int64),
            "method": np.full(len(dem), method, dtype=object),
        }
    )


def e2sfca(
    network: costs.Network,
    demand: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame,
    *,
    demand_weight: str = ELDERLY_COLUMN,
    capacity: str = "beds",
    zones_min: Sequence[float] = E2SFCA_ZONES_MIN,
    weights: Sequence[float] = E2SFCA_WEIGHTS,
    kind: str | Iterable[str] | None = None,
    per: float = 1000.0,
    direction: str | None = None,
    max_snap_m: float | None = None,
    access_speed_kph: float | None = None,
    detour_factor: float | None = None,
    straight_line_speed_kph: float | None = None,
    options: TravelOptions | None = None,
) -> pd.DataFrame:
    """Enhanced Two-Step Floating Catchment Area access (E2SFCA) of every demand point.

    One :func:`siting.costs.reach` search with the largest zone as bound gives every (demand,
    supply) pair within the catchment; :func:`e2sfca_from_pairs` scores them (formulas there).
    The defaults are the zones and weights of Luo & Qi (2009): 0-10, 10-20, 20-30 minutes
    weighted 1, 0.68 and 0.22.

    Parameters
    ----------
    network
        As in :func:`gaps`.
    demand
        Points indexed by id (villages) with the ``demand_weight`` column.
    supply
        Points indexed by id (facilities) with the ``capacity`` column, filtered by ``kind``.
    demand_weight
        Column of ``demand`` with the demand (persons; default ``pop_60plus``, the elderly):
        numeric, >= 0.
    capacity
        Column of ``supply`` with the capacity (e.g. ``beds``): numeric, complete, >= 0 for
        every facility kept (in the modelled registries only nursing homes have beds: use
        ``kind="nursing_home"``).
    zones_min, weights
        Zone upper bounds in minutes (strictly increasing) and their weights (positive,
        non-increasing), same length.
    kind
        Keep the supply of this kind (or these kinds).
    per
        Scale: ``access`` is capacity per ``per`` persons of demand (default: beds per 1,000
        elderly).
    direction, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        As in :func:`siting.costs.reach` (default: the trip from the village to the facility).
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`E2SFCA_COLUMNS`, one row per demand point (input order).

    Examples
    --------
    >>> import siting
    >>> region = siting.regions.load("xuanhan")
    >>> registry = siting.modelled.registry_for(region)
    >>> out = e2sfca(None, region.villages, registry, kind="nursing_home")
    >>> len(out) == len(region.villages), out["method"].iloc[0]
    (True, 'straight_line')
    """
    za, wa = _zones(zones_min, weights)
    if not isinstance(demand, gpd.GeoDataFrame):
        msg = f"demand must be a GeoDataFrame of points, got {type(demand).__name__}"
        raise TypeError(msg)
    if not isinstance(supply, gpd.GeoDataFrame):
        msg = f"supply must be a GeoDataFrame of points, got {type(supply).__name__}"
        raise TypeError(msg)
    pop = _numeric(demand, demand_weight, "demand")
    kept = of_kind(supply, kind, "supply")
    cap = _numeric(kept, capacity, "supply")
    pairs = costs.reach(
        network,
        demand,
        kept,
        minutes=float(za[-1]),
        direction=direction,
        max_snap_m=max_snap_m,
        access_speed_kph=access_speed_kph,
        detour_factor=detour_factor,
        straight_line_speed_kph=straight_line_speed_kph,
        options=options,
    )
    out = e2sfca_from_pairs(
        pairs,
        pd.Series(pop, index=demand.index),
        pd.Series(cap, index=kept.index),
        zones_min=tuple(za),
        weights=tuple(wa),
        per=per,
    )
    out["method"] = _method(network)
    return out
