""":func:`run`: the steps of a run over a small context object, then one atomic commit."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import shapely

from siting import (
    __version__,
    _log,
    coverage,
    indicators,
    pairing,
    patrol,
    registry,
    service_areas,
    settings,
)
from siting import layout as layouts
from siting._errors import MissingDependencyError, SitingError
from siting._fork import Job, can_fork
from siting._optional import require
from siting._outdir import (
    KeepNumbered,
    OutputFolder,
    Replace,
    sha256_file,
)
from siting.graph import GraphArrays, graph_arrays
from siting.pipeline.context import _Context
from siting.pipeline.gaps import (
    _facility_gaps,
    _merge_gaps,
    _patrol_gaps,
    _village_gaps_by_tier,
    _village_nearest_by_tier,
)
from siting.pipeline.inputs import _layout, _load_inputs, _versions
from siting.pipeline.outputs import _writers
from siting.pipeline.result import (
    ACCESS_SCORES,
    GAP_COLUMNS,
    RunResult,
    _Clock,
    _Prepared,
    _State,
)
from siting.pipeline.summary import _clean, _json, _summary, _travel_note
from siting.regions import Region


def _service_areas(
    net: GraphArrays | None,
    fac: gpd.GeoDataFrame,
    home: pd.Index,
    thresholds: Sequence[float],
    mode: str,
) -> gpd.GeoDataFrame:
    """The service areas of the ``home`` facilities of ``fac``, in one call over all of
    ``fac``: a catchment depends on every other facility, also those beyond a partition's
    border (:mod:`siting.batch`)."""
    areas = service_areas.service_areas(net, fac, minutes=thresholds, mode=mode)
    keep = areas["facility_id"].isin(home).to_numpy()
    out = gpd.GeoDataFrame(areas[keep].reset_index(drop=True), crs="EPSG:4326")
    out.attrs["mode"] = mode
    return out


def _prepare(
    region: str | Region | None = None,
    *,
    out: str | os.PathLike[str],
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    network: Any = None,
    crs: str | None = None,
    network_crs: str | None = None,
    boundary: Any = None,
    rules: Any = None,
    capacity: bool = False,
    thresholds_min: Sequence[float] = (15.0, 30.0),
    service_area_kinds: Sequence[str] | None = ("health_center", "community_health_center"),
    service_area_mode: str = "nearest",
    layout: Any = "auto",
    seed: int | None = None,
    progress: bool = True,
    maps: bool = True,
    basemap: str = "amap",
    patrol_plan: bool = True,
    patrol_options: Mapping[str, Any] | None = None,
    recommend_p: int | None = None,
    recommend_kind: str = "health_center",
    home: Iterable[Any] | None = None,
    _previous: _State | None = None,
) -> _Prepared:
    """Everything :func:`run` computes, and the writers of its files (nothing written)."""
    started = dt.datetime.now(dt.UTC)
    clock = _Clock(progress)
    inputs: dict[str, Any] = {}
    with clock.step("inputs", "读取输入 reading inputs"):
        reg, fac, roads, data_source, network_source = _load_inputs(
            region,
            facilities,
            network,
            crs=crs,
            network_crs=network_crs,
            boundary=boundary,
            seed=seed,
            inputs=inputs,
        )
        rs = pairing.load_rules(rules, region=reg)  # without rules: the region's rule set
        inputs["rules"] = {
            **(
                {"path": str(rs.path), "sha256": sha256_file(rs.path)}
                if rs.path
                else {"mapping": True}
            ),
            "set": rs.name,
            "benchmark": rs.benchmark,
        }
        thresholds = _check_options(service_area_kinds, thresholds_min)
        if service_area_mode not in service_areas.MODES:
            msg = (
                f"service_area_mode must be one of {service_areas.MODES}, got {service_area_mode!r}"
            )
            raise SitingError(msg)
    ctx = _Context(
        capacity=capacity,
        thresholds=thresholds,
        service_area_kinds=service_area_kinds,
        service_area_mode=service_area_mode,
        layout_spec=layout,
        seed=seed,
        progress=progress,
        maps=maps,
        basemap=basemap,
        patrol_plan=patrol_plan,
        patrol_options=dict(patrol_options or {}),
        recommend_p=recommend_p,
        recommend_kind=recommend_kind,
        home_ids=None if home is None else {str(h) for h in home},
        previous=_previous,
        clock=clock,
        started=started,
        inputs=inputs,
        reg=reg,
        fac=fac,
        roads=roads,
        data_source=data_source,
        network_source=network_source,
        rs=rs,
    )
    try:
        for step in _STEPS:
            step(ctx)
    except BaseException:
        if ctx.areas_job is not None:  # a child still at work: not wanted any more
            ctx.areas_job.cancel()
        raise
    result = RunResult(
        out=Path(out),
        pairings=ctx.pairs,
        gaps=ctx.gaps,
        summary=ctx.summary,
        manifest={},
        coverage=ctx.cov,
        access=ctx.access,
        service_areas=ctx.areas,
        indicators=ctx.measured,
        facilities=ctx.fac,
        region=ctx.reg,
        layout=ctx.plan,
        patrol_routes=None if ctx.patrols is None else ctx.patrols.routes,
        recommendations=ctx.recommended,
    )
    writers = _writers(ctx, result)
    result.manifest = _manifest(ctx, writers)
    return _Prepared(result=result, writers=writers, clock=clock)


def _check_options(
    service_area_kinds: Sequence[str] | None, thresholds_min: Sequence[float]
) -> tuple[float, ...]:
    """Refuse unknown service-area kinds and non-positive thresholds; the thresholds as floats."""
    unknown = [k for k in service_area_kinds or () if k not in registry.KINDS]
    if unknown:
        msg = f"unknown kind(s) for service areas: {unknown}; kinds: {', '.join(registry.KINDS)}"
        raise SitingError(msg)
    thresholds = tuple(float(t) for t in thresholds_min)
    if not thresholds or any(t <= 0 for t in thresholds):
        msg = f"thresholds_min must be positive minutes, got {list(thresholds_min)}"
        raise SitingError(msg)
    return thresholds


def _check_maps(ctx: _Context) -> None:
    """Without the map packages (the extra ``siting[maps]``) the maps are skipped: a WARNING
    says so, and ``summary.json``'s ``not_computed`` says how to install them; every other
    output is written as usual."""
    if not ctx.maps:
        return
    try:
        require("matplotlib", "maps", "打印版静态地图", purpose="the printed map")
        require("xstatic.pkg.leaflet", "maps", "离线会议地图", purpose="the offline meeting map")
    except MissingDependencyError:
        hint = "pip install 'siting[maps]'"
        _log.warning(
            f"提示 WARNING: 未安装地图组件，跳过地图（maps/map.html、maps/map.png）；"
            f"安装：{hint} / "
            f"the map packages are not installed: maps skipped, the rest of the run goes on; "
            f"install them with {hint}"
        )
        for name in ("maps/map.html", "maps/map.png"):
            ctx.skipped(
                name,
                f"未安装地图组件，未绘制地图；安装后重新运行：{hint}",
                f"the map packages are not installed, so no map; install them and run "
                f"again: {hint}",
            )
        ctx.maps = False


def _select_home_and_layout(ctx: _Context) -> None:
    """The facilities the run is about (``home``) and the planned layout."""
    fac, home_ids = ctx.fac, ctx.home_ids
    ctx.own = fac if home_ids is None else fac[fac.index.astype(str).isin(home_ids)]
    if home_ids is not None:
        ctx.inputs["home"] = {
            "facilities": len(ctx.own),
            "partners_outside": len(fac) - len(ctx.own),
        }
    ctx.plan = plan = _layout(ctx.layout_spec, ctx.reg)
    if plan is not None:
        ctx.inputs["layout"] = {
            "name": plan.name,
            "source": str(plan.source) if plan.source else "mapping",
            "sha256": sha256_file(plan.source) if plan.source else None,
        }


def _compile_network(ctx: _Context) -> None:
    """The road network as arrays; a planner's roads are checked against the facilities."""
    with ctx.clock.step("network", "编译路网 compiling the road network"):
        roads = ctx.roads
        net = (
            None
            if roads is None
            else (roads if isinstance(roads, GraphArrays) else graph_arrays(roads))
        )
        ctx.net = net
        if net is not None and ctx.network_source != "modelled":
            # a road file that does not cover the facilities, or implausible speeds: stop here
            from siting import network as netmod

            net_in = ctx.inputs.get("network") or {}
            label = f"road network {net_in['path']}" if net_in.get("path") else None
            check = netmod.check_against(net, ctx.fac, where=label)
            ctx.inputs["network_check"] = {
                k: check[k]
                for k in ("facilities", "beyond_snap", "snap_m_median", "snap_m_max", "warnings")
                if k in check
            }
            if not isinstance(roads, GraphArrays):
                src = roads.graph.get("source")
                if isinstance(src, dict) and net_in:
                    net_in["crs_used"] = src.get("crs")
                    net_in["warnings"] = list(src.get("warnings", []))


def _marked(ctx: _Context) -> gpd.GeoDataFrame:
    """The facilities with ``urban`` (城镇社区: a 街道 township, a 社区 village) from the
    region's township and village types, for the rules that send urban facilities to
    community health services (:func:`siting.pairing.mark_urban`); as read without a region."""
    if ctx.reg is None:
        return ctx.fac
    return pairing.mark_urban(ctx.fac, ctx.reg.townships, ctx.reg.villages)


def _pair(ctx: _Context) -> None:
    """Every rule's pairing (from the earlier searches on an update)."""
    with ctx.clock.step("pairing", "就近配对 pairing"):
        prev = ctx.previous
        pairs = pairing.pair(
            ctx.net,
            _marked(ctx),
            ctx.rs,
            capacity=ctx.capacity,
            progress=ctx.progress,
            info=ctx.details,
            raw=ctx.raw,
            home=ctx.home_ids,
            previous=None if prev is None else prev.pairs,
            added=None if prev is None else prev.added,
        )
        pairs["data_source"] = ctx.data_source
        pairs["network_source"] = ctx.network_source
        ctx.pairs = pairs


def _plan_patrols(ctx: _Context) -> None:
    """The patrol plan of the ``patrol`` rule; the layout elements of every facility.

    Without OR-Tools (the extra ``siting[patrol]``) there is no patrol plan: a WARNING says
    so, and ``summary.json``'s ``not_computed`` says how to install it; every other output is
    written as usual.
    """
    if ctx.patrol_plan and "patrol" in {r.id for r in ctx.rs}:
        try:
            with ctx.clock.step("patrols", "巡诊路线 patrol routes"):
                memo = None if ctx.previous is None else ctx.previous.patrol_memo
                if not isinstance(memo, patrol.PatrolMemo):
                    memo = None  # none kept, or of another kind: planned in full
                ctx.patrols = patrol.plan(
                    ctx.net, ctx.fac, ctx.pairs, rules=ctx.rs, memo=memo, **ctx.patrol_options
                )
                done = ctx.patrols.memo
                if memo is not None and done is not None:
                    ctx.inputs["patrol_memo"] = {
                        "clinics_reused": done.reused,
                        "clinics_planned": done.computed,
                    }
        except MissingDependencyError as exc:
            if exc.extra != "patrol":
                raise
            hint = "pip install 'siting[patrol]'"
            _log.warning(
                f"提示 WARNING: 未安装 OR-Tools，跳过巡诊路线（patrols.csv 等）；安装：{hint} / "
                f"OR-Tools is not installed: patrol routes skipped, the rest of the run goes on; "
                f"install it with {hint}"
            )
            ctx.skipped(
                "patrols.csv",
                f"未安装 OR-Tools，未排巡诊；安装后重新运行：{hint}",
                f"OR-Tools is not installed, so no patrol plan; install it and run again: {hint}",
            )
    ctx.fac_tags = None if ctx.plan is None else layouts.tag_joined(ctx.fac, ctx.plan)
    if ctx.fac_tags is not None:
        ctx.pairs["layout_elements"] = ctx.pairs["facility_id"].map(ctx.fac_tags)


def _note_rules_not_paired(ctx: _Context) -> None:
    """Rules with nothing to pair, or with no partner at all (no gaps of the roads then)."""
    for rule in ctx.rs:
        d = ctx.details.get(rule.id, {})
        if not d.get("facilities", 0):
            kinds_zh = "、".join(registry.kind_label(k) for k in rule.from_kinds)
            ctx.skipped(
                f"pairings: {rule.id}",
                f"规则 {rule.zh}：名录中没有{kinds_zh}，无需配对",
                f"rule {rule.id}: the list has no {' or '.join(rule.from_kinds)} to pair",
            )
        elif d.get("partners", 0) == 0:
            ctx.no_partner_rules.append(rule.id)
            zh, en = pairing.no_partner_reason(rule)
            ctx.skipped(f"pairings: {rule.id}", zh, en)


#: Service tiers whose distance gives village gaps (the hospital tier is coverage only).
VILLAGE_GAP_TIERS: Final = ("village", "township")


def _find_gaps(ctx: _Context) -> None:
    """Facility, village and patrol gaps in one table, tagged with areas and layout elements."""
    fac, villages, thresholds = ctx.fac, ctx.villages, ctx.thresholds
    with ctx.clock.step("gaps", "覆盖缺口 coverage gaps"):
        gap_parts = [_facility_gaps(ctx.pairs, ctx.no_partner_rules)]
        if villages is not None and not villages.empty:
            # one search per service tier; the village and township tiers give village gaps
            # (every village has a hospital beyond 15 min: that tier is coverage, not a gap)
            ctx.village_near = _village_nearest_by_tier(ctx.net, villages, fac, ctx.previous)
            per_tier = dict.fromkeys(VILLAGE_GAP_TIERS, thresholds)
            gap_parts.append(_village_gaps_by_tier(ctx.village_near, villages, fac, per_tier))
        else:
            ctx.skipped(
                "gaps: villages",
                "没有村庄数据，未计算村覆盖缺口（内置区域 --region 提供村庄）",
                "no villages, so no village gaps (a built-in --region brings its villages)",
            )
        if ctx.patrols is not None:
            gap_parts.append(_patrol_gaps(patrol.coverage_gaps(ctx.patrols), fac))
        gaps = _merge_gaps(gap_parts).reindex(columns=list(GAP_COLUMNS))
        for col in ("village_code", "village_name", "nearest_partner_id", "facility_id"):
            gaps[col] = gaps[col].astype("string")
        is_fac = gaps["facility_id"].notna().to_numpy(dtype=bool)
        for col in ("county_code", "township_code"):
            if col in fac.columns:
                where = gaps.loc[is_fac, "facility_id"].map(fac[col])
                gaps[col] = gaps[col].astype("string")
                gaps.loc[is_fac, col] = where.astype("string")
        if ctx.plan is not None and ctx.fac_tags is not None:
            tags = ctx.fac_tags
            if villages is not None:
                tags = pd.concat([tags, layouts.tag_joined(villages, ctx.plan)])
            key = gaps["facility_id"].fillna(gaps["village_code"]).astype(object)
            gaps["layout_elements"] = key.map(tags).astype("string")
        ctx.gaps = gaps


def _measure_coverage(ctx: _Context) -> None:
    """Elderly covered by area and E2SFCA access scores (a region's villages needed)."""
    villages, reg, fac = ctx.villages, ctx.reg, ctx.fac
    if villages is None or reg is None:
        for output in ("coverage_by_area.csv", "access_e2sfca.csv"):
            ctx.skipped(
                output,
                "没有村庄与老年人口数据（内置区域 --region 提供），未计算",
                "no villages and elderly population (a built-in --region brings them)",
            )
        return
    with ctx.clock.step("coverage", "覆盖人口 elderly population covered"):
        names = {
            "county_code": reg.counties["name"],
            "township_code": reg.townships["name"],
        }
        ctx.cov = coverage.covered_population_by_tier(
            ctx.net,
            villages,
            fac,
            thresholds_min=ctx.thresholds,
            names=names,
            nearest=ctx.village_near,
        )
    with ctx.clock.step("access", "可达性评分 E2SFCA access"):
        parts = []
        for score, (kinds, cap) in ACCESS_SCORES.items():
            supply = fac[fac["kind"].isin(kinds)]
            supply = supply[pd.to_numeric(supply[cap], errors="coerce").fillna(0) > 0]
            if supply.empty:
                labels_zh = "、".join(registry.kind_label(k) for k in kinds)
                ctx.skipped(
                    f"access_e2sfca.csv: {score}",
                    f"名录中没有填写{cap}（床位数）的{labels_zh}",
                    f"no {' or '.join(kinds)} with {cap} in the list",
                )
                continue
            a = coverage.e2sfca(ctx.net, villages, supply, capacity=cap)
            a.insert(1, "score", score)
            parts.append(a)
        if parts:
            ctx.access = pd.concat(parts, ignore_index=True)
            ctx.access["population_source"] = "modelled"


def _service_area_facilities(ctx: _Context) -> gpd.GeoDataFrame | None:
    """The facilities that get service areas; None when there are none. On an update they
    are all computed again: an added facility changes its neighbours' catchments, and one
    search for all of them takes about a second."""
    if not ctx.service_area_kinds:
        return None
    sa_fac = ctx.own[ctx.own["kind"].isin(ctx.service_area_kinds)]
    return None if sa_fac.empty else sa_fac


def _service_area_competitors(ctx: _Context) -> gpd.GeoDataFrame:
    """Every facility of the service-area kinds (a partition's border partners too)."""
    kinds = ctx.service_area_kinds or ()
    return ctx.fac[ctx.fac["kind"].isin(kinds)]


def _start_service_areas(ctx: _Context) -> None:
    """Start the service areas in a forked child when the machine has two CPUs
    (:mod:`siting._fork`); the next steps go on here meanwhile."""
    sa_fac = _service_area_facilities(ctx)
    if sa_fac is None:
        return
    net, thresholds, mode = ctx.net, ctx.thresholds, ctx.service_area_mode
    every, home = _service_area_competitors(ctx), sa_fac.index
    ctx.areas_job = Job(lambda: _service_areas(net, every, home, thresholds, mode), fork=can_fork())


def _compute_service_areas(ctx: _Context) -> None:
    """Service areas of the home medical facilities."""
    if _service_area_facilities(ctx) is None:
        return
    with ctx.clock.step("service_areas", "服务范围 service areas"):
        job, ctx.areas_job = ctx.areas_job, None
        forked = job is not None and job.forked
        areas = None if job is None else job.result()
        if forked and job is not None and job.seconds is not None:
            ctx.clock.timings["service_areas_in_background"] = round(job.seconds, 3)
        if areas is not None:
            # for maps and files: ~1 m coordinates, simplified within ~5 m
            areas["geometry"] = shapely.set_precision(
                shapely.simplify(areas.geometry.array, 5e-5), 1e-5
            )
            areas.insert(1, "facility_name", areas["facility_id"].map(ctx.fac["name"]))
        ctx.areas = areas


def _recommend(ctx: _Context) -> None:
    """New sites that would cover the most elderly (MCLP), when asked and a region is given."""
    if ctx.recommend_p is None:
        return
    if ctx.reg is None:
        ctx.skipped(
            "recommendations.csv",
            "新增选址需要内置区域的村庄与人口（--region），未计算",
            "recommendations need a built-in region's villages and population (--region)",
        )
        return
    from siting import locate

    with ctx.clock.step("locate", "新增选址 recommending new sites"):
        found = locate.recommend(
            ctx.reg,
            ctx.net,
            ctx.fac,
            model="mclp",
            p=int(ctx.recommend_p),
            threshold_min=max(ctx.thresholds),
            kind=ctx.recommend_kind,
            # every township seat has its 卫生院 (or a 社区卫生服务中心 serves it): the sites
            # that would add coverage are villages far from them (a branch, 分院/服务点)
            candidates="villages",
        )
        ctx.recommended = found.recommendations
        ctx.recommend_summary = {
            "model": "mclp",
            "p": int(ctx.recommend_p),
            "kind": ctx.recommend_kind,
            "candidates": "villages",
            "status": found.status,
            "sentence_zh": found.sentence_zh,
            "sentence_en": found.sentence_en,
        }


def _measure_indicators(ctx: _Context) -> None:
    """The policy indicators (a region's population and villages needed)."""
    if ctx.reg is not None:
        with ctx.clock.step("indicators", "政策指标 policy indicators"):
            ctx.measured = indicators.measure(ctx.reg, ctx.own, ctx.pairs, ctx.gaps)
    else:
        ctx.skipped(
            "indicators.csv",
            "政策指标需要内置区域的人口与村庄（--region），未计算",
            "the policy indicators need a built-in region's population and villages (--region)",
        )


def _summarize_layout(ctx: _Context) -> None:
    """Say what the layout and patrols did not give; the layout summary table."""
    if ctx.plan is None and ctx.layout_spec is not None:
        ctx.skipped(
            "layout.geojson",
            "本区域没有规划布局文件（siting/layouts/），未标注布局",
            "no layout spec for this area (siting/layouts/), so no layout tags",
        )
    if (
        ctx.patrol_plan
        and ctx.patrols is None
        and not any(n["output"] == "patrols.csv" for n in ctx.not_computed)
    ):
        ctx.skipped(
            "patrols.csv",
            "规则中没有巡诊规则 patrol，未排巡诊",
            "the rules have no patrol rule, so no patrol plan",
        )
    if ctx.plan is not None:
        ctx.layout_summary = layouts.summary(
            ctx.plan, ctx.own, ctx.reg, pairings=ctx.pairs, gaps=ctx.gaps
        ).reset_index()


def _summarize(ctx: _Context) -> None:
    """``summary.json``: what is modelled, counts, what was not computed, travel times."""
    has_villages = ctx.villages is not None
    ctx.labels = labels = {
        "facilities": ctx.data_source,
        "network": ctx.network_source,
        "villages": "modelled points" if has_villages else "none",
        "population": "modelled (census 2020 county totals split by weights)"
        if has_villages
        else "none",
    }
    summary = _summary(
        ctx.reg,
        ctx.own,
        ctx.pairs,
        ctx.gaps,
        ctx.cov,
        ctx.details,
        labels,
        ctx.thresholds,
        ctx.capacity,
    )
    summary["not_computed"] = ctx.not_computed
    summary["travel_times"] = _travel_note(ctx.pairs, ctx.network_source)
    if ctx.recommended is not None:
        summary["recommendations"] = ctx.recommend_summary
    patrols = ctx.patrols
    if patrols is not None:
        t = patrols.totals
        stops = patrols.visits["stop"]
        gaps = patrols.gaps
        summary["patrols"] = {
            "clinics": len(t),
            "visits": int(stops.isin(["visit", "onsite"]).sum()),
            "visits_onsite": int((stops == "onsite").sum()),
            "km_per_month": round(float(t["km_per_month"].sum()), 1)
            if "km_per_month" in t
            else None,
            "clinics_overloaded": int(t["overloaded"].sum()) if "overloaded" in t else 0,
            "gaps_by_kind": {str(k): int(v) for k, v in gaps["gap"].value_counts().items()}
            if "gap" in gaps
            else {},
        }
    if ctx.measured is not None:
        summary["indicators"] = {
            str(k): int(v) for k, v in ctx.measured["status"].value_counts().sort_index().items()
        }
    ctx.summary = summary


#: The steps of a run after its inputs are read, in order: each reads and fills the context.
_STEPS: Final[tuple[Callable[[_Context], None], ...]] = (
    _check_maps,
    _select_home_and_layout,
    _compile_network,
    _start_service_areas,
    _pair,
    _plan_patrols,
    _note_rules_not_paired,
    _find_gaps,
    _measure_coverage,
    _compute_service_areas,
    _recommend,
    _measure_indicators,
    _summarize_layout,
    _summarize,
)


def _json_safe(value: Any) -> Any:
    """``value`` as JSON holds it (mappings, lists, numbers, text; dates as ISO text)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _manifest(ctx: _Context, writers: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest.json``: inputs, settings, versions, timings and the files written."""
    return {
        "siting_version": __version__,
        "started_utc": ctx.started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv else "",
        "inputs": ctx.inputs,
        "settings": {
            "capacity": ctx.capacity,
            "thresholds_min": list(ctx.thresholds),
            "service_area_kinds": list(ctx.service_area_kinds or ()),
            "service_area_mode": ctx.service_area_mode,
            "maps": ctx.maps,
            "patrol_plan": ctx.patrol_plan,
            "patrol_options": _json_safe(ctx.patrol_options),
            "recommend_p": ctx.recommend_p,
            "recommend_kind": ctx.recommend_kind,
            "basemap": ctx.basemap,
            "max_snap_m": settings.max_snap_m,
            "access_speed_kph": settings.access_speed_kph,
            "detour_factor": settings.detour_factor,
            "straight_line_speed_kph": settings.straight_line_speed_kph,
            "metric_crs": settings.metric_crs,
            "seed": ctx.seed if ctx.seed is not None else settings.default_seed,
            "rules": [r.id for r in ctx.rs],
        },
        "versions": _versions(),
        "timings_s": ctx.clock.timings,
        "files": sorted([*writers, "manifest.json"]),
    }


def run(
    region: str | Region | None = None,
    *,
    out: str | os.PathLike[str],
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    network: Any = None,
    crs: str | None = None,
    network_crs: str | None = None,
    boundary: Any = None,
    rules: Any = None,
    capacity: bool = False,
    thresholds_min: Sequence[float] = (15.0, 30.0),
    service_area_kinds: Sequence[str] | None = ("health_center", "community_health_center"),
    service_area_mode: str = "nearest",
    layout: Any = "auto",
    seed: int | None = None,
    progress: bool = True,
    maps: bool = True,
    basemap: str = "amap",
    patrol_plan: bool = True,
    patrol_options: Mapping[str, Any] | None = None,
    recommend_p: int | None = None,
    recommend_kind: str = "health_center",
    home: Iterable[Any] | None = None,
    force: bool = False,
) -> RunResult:
    """Run pairing and coverage for a region or for a planner's own data; write ``out``.

    Parameters
    ----------
    region
        A built-in region (name, code or alias, or a loaded :class:`Region`): its modelled
        registry, modelled roads, villages and modelled population are used unless
        ``facilities``/``network`` are given.
    out
        Output folder (created).
    facilities
        A facility file (CSV, XLSX, GeoJSON, GeoPackage; :func:`siting.registry.read`) or a
        registry frame.
    network
        A road file (.graphml, .osm, .osm.pbf, .shp/.geojson/.gpkg line layer) or a graph;
        without one and without a region, times are straight-line estimates.
    crs, network_crs
        Coordinate system of the facility file / a road line layer: wgs84, gcj02, bd09 or EPSG.
    boundary
        A boundary file or geometry (points far outside it are refused on reading).
    rules
        Pairing rules file or mapping (default: the shipped seed rules).
    capacity
        Capacity-aware pairing for the rules that declare capacities.
    thresholds_min
        Coverage thresholds for villages (minutes).
    service_area_kinds
        Medical kinds whose service areas are drawn (``None``: none).
    service_area_mode
        ``"nearest"`` (default): each facility's catchment (就近服务范围), the roads it
        reaches within T before any other facility of those kinds, so the polygons of one T
        tile the served area without overlapping; ``"reach"``: everything each facility
        reaches within T (polygons overlap). See :func:`siting.service_areas.service_areas`.
    layout
        The planned layout whose elements tag every facility and village (columns
        ``layout_elements``), written to ``layout.geojson`` and ``layout_summary.csv``: a
        spec name or file, a loaded :class:`siting.layout.Layout`, ``"auto"`` (the shipped
        spec of the region if there is one) or ``None``.
    seed
        Seed of the modelled parts of a built-in region.
    progress
        Print the steps and show progress bars.
    patrol_options
        Keywords of :func:`siting.patrol.plan` (frequency, service minutes, doctors, working
        day, start date ...); recorded in the manifest and used again by an update.
    patrol_plan
        Plan the village-clinic patrols of the ``patrol`` rule (:func:`siting.patrol.plan`,
        weekly visits over 20 working days): ``patrols.csv``, ``patrol_routes.geojson``,
        ``patrol_totals.csv``; patrol gaps join ``gaps.csv``.
    recommend_p, recommend_kind
        With a region: recommend ``recommend_p`` new sites of ``recommend_kind`` among the
        township seats that would cover the most elderly within the largest threshold (MCLP,
        :func:`siting.locate.recommend`): ``recommendations.csv``, a sheet of the report and a
        layer of the map.
    maps, basemap
        Write ``maps/map.html`` (the meeting map: one self-contained file that works offline;
        ``basemap`` none, osm or amap — overlays are shifted to GCJ-02 for amap) and
        ``maps/map.png`` (the printed map).
    force
        Write into a folder that holds files siting did not write (only siting's own file
        names are touched). Without it such a folder is refused before any computation.
    home
        The ids of the facilities this run is about (default all). The others serve as
        partners only: a partition's border buffer (:mod:`siting.batch`). Pairings, facility
        gaps, service areas, indicators and the report are of the home facilities.

    Returns
    -------
    RunResult
        The tables and the paths written.
    """
    with OutputFolder(out, force=force) as folder:
        prepared = _prepare(
            region,
            out=out,
            facilities=facilities,
            network=network,
            crs=crs,
            network_crs=network_crs,
            boundary=boundary,
            rules=rules,
            capacity=capacity,
            thresholds_min=thresholds_min,
            service_area_kinds=service_area_kinds,
            service_area_mode=service_area_mode,
            layout=layout,
            seed=seed,
            progress=progress,
            maps=maps,
            basemap=basemap,
            patrol_plan=patrol_plan,
            patrol_options=patrol_options,
            recommend_p=recommend_p,
            recommend_kind=recommend_kind,
            home=home,
        )
        return _commit(folder, prepared)


def _commit(
    folder: OutputFolder,
    prepared: _Prepared,
    *,
    extra: Sequence[Replace | KeepNumbered] = (),
) -> RunResult:
    """Write a prepared run into its folder, all or nothing (:class:`OutputFolder`)."""
    result = prepared.result
    started = time.perf_counter()

    def manifest(seconds: Mapping[str, float]) -> str:
        # the writing is timed too: its wall time, and each file's (two files may be written
        # at once, in two processes: see siting._outdir)
        result.manifest.setdefault("timings_s", {})["write"] = round(
            time.perf_counter() - started, 3
        )
        result.manifest["write_s"] = dict(seconds)
        return _json(_clean(result.manifest))

    with prepared.clock.step("write", "写出结果 writing outputs"):
        committed = folder.commit(prepared.writers, manifest, extra=extra)
    result.files = committed.paths
    result.kept = committed.kept
    return result
