"""One run for a region or a planner's own data: pairing, coverage gaps, access, a manifest.

:func:`run` is what ``siting run`` calls:

1. **Inputs.** A built-in region (its modelled registry, villages and modelled roads unless
   files are given) and/or the planner's files: a facility list in any form
   :func:`siting.registry.read` takes (WGS84, GCJ-02 or BD-09), a road network in any form
   :func:`siting.network.load` takes, a boundary. Bad input stops here, with the registry's
   errors (file, row, column, reason), before anything is written.
2. **Pairing** (:mod:`siting.pairing`): every rule, nearest or capacity-aware.
3. **Gaps**: facilities whose partner is beyond the rule's threshold or out of reach, and villages
   beyond each coverage threshold (default 15 and 30 minutes) of any medical facility.
4. **Coverage** of the region: elderly population within each threshold by county and township,
   service areas of the medical facilities, E2SFCA access to nursing-home and hospital beds
   per village.
5. **Outputs**, written atomically into ``out``: every file goes to a temporary folder first and
   then replaces its namesake; ``manifest.json`` is removed first and written last, so a folder
   whose manifest is missing is not a finished run. A rerun with the same inputs gives the same
   bytes in every file but the manifest (which records timings and the time of the run).

Every table says what is modelled: ``data_source`` of the facilities, the network, the villages
and their population are recorded in ``summary.json`` and the manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import __version__, coverage, indicators, pairing, registry, report, settings
from siting import layout as layouts
from siting._errors import DataError, SitingError
from siting._graph import GraphArrays, graph_arrays
from siting._io import write_csv
from siting.regions import Region

__all__ = [
    "GAP_COLUMNS",
    "OUTPUT_FILES",
    "PAIRING_OUTPUT_COLUMNS",
    "RunResult",
    "run",
]

#: Columns of ``pairings.csv``.
PAIRING_OUTPUT_COLUMNS: Final = (*pairing.COLUMNS, "data_source", "network_source")

#: Columns of ``gaps.csv``.
GAP_COLUMNS: Final = (
    "gap_type",
    "rule",
    "facility_id",
    "facility_name",
    "facility_kind",
    "village_code",
    "village_name",
    "county_code",
    "township_code",
    "nearest_partner_id",
    "nearest_partner_name",
    "travel_time_min",
    "threshold_min",
    "reachable",
    "method",
    "reason",
)

#: Files of a run folder (``manifest.json`` is written last).
OUTPUT_FILES: Final = (
    "pairings.csv",
    "gaps.csv",
    "coverage_by_area.csv",
    "access_e2sfca.csv",
    "service_areas.geojson",
    "layout.geojson",
    "layout_summary.csv",
    "indicators.csv",
    "indicators.json",
    "report.xlsx",
    "summary.json",
    "manifest.json",
)

#: Facility kinds counted as medical for village gaps ("beyond T minutes of any clinic").
MEDICAL_KINDS: Final = tuple(k for k, v in registry.KINDS.items() if v.category == "medical")

#: E2SFCA access scores computed per village: name -> (supply kinds, capacity column).
ACCESS_SCORES: Final[Mapping[str, tuple[tuple[str, ...], str]]] = {
    "nursing_beds": (("nursing_home", "integrated_care"), "beds"),
    "hospital_beds": (("hospital",), "beds"),
}


@dataclass
class RunResult:
    """What :func:`run` produced (also written to ``out``)."""

    out: Path
    pairings: pd.DataFrame
    gaps: pd.DataFrame
    summary: dict[str, Any]
    manifest: dict[str, Any]
    coverage: pd.DataFrame | None = None
    access: pd.DataFrame | None = None
    service_areas: gpd.GeoDataFrame | None = None
    indicators: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)


class _Clock:
    def __init__(self, progress: bool) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def step(self, name: str, label: str) -> Iterator[None]:
        if self.progress:
            print(f"[siting] {label} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t, 3)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hash_frame(frame: pd.DataFrame) -> str:
    data = pd.util.hash_pandas_object(frame.drop(columns="geometry", errors="ignore"), index=True)
    h = hashlib.sha256(data.to_numpy().tobytes())
    if "geometry" in frame.columns:
        h.update(np.asarray(frame.geometry.to_wkb(), dtype=object).astype(bytes).tobytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"siting": __version__, "python": platform.python_version()}
    for pkg in (
        "numpy",
        "pandas",
        "geopandas",
        "shapely",
        "pyproj",
        "scipy",
        "networkx",
        "osmnx",
        "pyogrio",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _load_inputs(
    region: str | Region | None,
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None,
    network: Any,
    *,
    crs: str | None,
    network_crs: str | None,
    boundary: str | os.PathLike[str] | Any,
    seed: int | None,
    inputs: dict[str, Any],
) -> tuple[Region | None, gpd.GeoDataFrame, Any, str, str]:
    from siting import modelled, regions
    from siting import network as netmod

    reg: Region | None
    if region is None or isinstance(region, Region):
        reg = region
    else:
        reg = regions.load(region, seed=seed)
    if reg is not None:
        inputs["region"] = {"code": reg.code, "name": reg.name, "seed": reg.seed}
    outline = None
    if boundary is not None:
        if isinstance(boundary, str | os.PathLike):
            path = Path(boundary)
            if not path.is_file():
                msg = f"boundary file not found: {path}"
                raise DataError(msg)
            shapes = gpd.read_file(path)
            if shapes.crs is None:
                msg = f"{path}: the boundary has no CRS; save it with one (e.g. EPSG:4326)"
                raise DataError(msg)
            outline = shapes.to_crs(4326).union_all()
            inputs["boundary"] = {"path": str(path), "sha256": _sha256(path)}
        else:
            outline = boundary
    elif reg is not None:
        outline = reg.outline
    if facilities is None:
        if reg is None:
            msg = "give a region (--region) or a facility file (--facilities)"
            raise SitingError(msg)
        fac = modelled.registry_for(reg)
        data_source = "modelled"
        inputs["facilities"] = {"modelled_registry_of": reg.code, "hash": _hash_frame(fac)}
    elif isinstance(facilities, gpd.GeoDataFrame):
        fac = facilities
        sources = set(fac["source"].dropna().astype(str)) if "source" in fac else set()
        data_source = "modelled" if sources == {"modelled"} else "user"
        inputs["facilities"] = {"frame": True, "hash": _hash_frame(fac)}
    else:
        path = Path(facilities)
        fac = registry.read(path, crs=crs, boundary=outline)
        data_source = "user"
        inputs["facilities"] = {"path": str(path), "crs": crs, "sha256": _sha256(path)}
    if network is None and reg is not None:
        roads = netmod.modelled(reg)
        network_source = "modelled"
        inputs["network"] = {"modelled_network_of": reg.code}
    elif network is None:
        roads = None
        network_source = "none (straight line)"
        inputs["network"] = None
    elif isinstance(network, str | os.PathLike):
        path = Path(network)
        roads = netmod.load(path, crs=network_crs)
        network_source = "modelled" if roads.graph.get("modelled") else "user"
        inputs["network"] = {"path": str(path), "crs": network_crs, "sha256": _sha256(path)}
    else:
        roads = network
        graph = getattr(roads, "graph", {})
        network_source = "modelled" if graph.get("modelled") else "user"
        inputs["network"] = {"object": type(network).__name__}
    return reg, fac, roads, data_source, network_source


def _facility_gaps(pairs: pd.DataFrame) -> pd.DataFrame:
    """Facilities whose assigned partner is beyond the rule's threshold, or who have none."""
    if pairs.empty:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    rows = []
    for (rule, fid), group in pairs.groupby(["rule", "facility_id"], sort=False):
        chosen = group[group["assigned"]]
        first = chosen.iloc[0] if len(chosen) else group.sort_values("rank").iloc[0]
        if len(chosen) and bool(first["within_threshold"]):
            continue
        reachable = bool(len(chosen)) or pd.notna(first["partner_id"])
        rows.append(
            {
                "gap_type": "facility",
                "rule": rule,
                "facility_id": fid,
                "facility_name": first["facility_name"],
                "facility_kind": first["facility_kind"],
                "nearest_partner_id": first["partner_id"] if reachable else pd.NA,
                "nearest_partner_name": first["partner_name"] if reachable else pd.NA,
                "travel_time_min": first["travel_time_min"] if reachable else np.nan,
                "threshold_min": first["threshold_min"],
                "reachable": pd.notna(first["travel_time_min"]),
                "method": first["method"],
                "reason": first["reason"],
            }
        )
    return pd.DataFrame(rows, columns=list(GAP_COLUMNS))


def _village_gaps(
    net: GraphArrays | None,
    villages: gpd.GeoDataFrame,
    fac: gpd.GeoDataFrame,
    thresholds: Sequence[float],
    kinds: Sequence[str],
) -> pd.DataFrame:
    medical = fac[fac["kind"].isin(kinds)]
    if villages.empty or medical.empty:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    g = coverage.gaps(net, villages, medical, thresholds_min=thresholds)
    names = medical["name"]
    out = pd.DataFrame(
        {
            "gap_type": "village",
            "rule": "village_coverage",
            "village_code": g["demand_id"].astype("string"),
            "village_name": g["demand_id"].map(villages["name"]).astype("string"),
            "county_code": g["demand_id"].map(villages["county_code"]).astype("string"),
            "township_code": g["demand_id"].map(villages["township_code"]).astype("string"),
            "nearest_partner_id": g["nearest_partner_id"].astype("string"),
            "nearest_partner_name": g["nearest_partner_id"].map(names).astype("string"),
            "travel_time_min": g["travel_time_min"].round(3),
            "threshold_min": g["threshold_min"].astype(float),
            "reachable": g["reachable"].astype(bool),
            "method": g["method"].astype("string"),
        }
    )
    t = out["travel_time_min"]
    out["reason"] = [
        f"距最近医疗机构车程{tm:.0f}分钟，超过{th:g}分钟" if ok else "路网上无可达的医疗机构"
        for tm, th, ok in zip(t, out["threshold_min"], out["reachable"], strict=True)
    ]
    return out.reindex(columns=list(GAP_COLUMNS))


def _json(data: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return None if np.isnan(o) else float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if o is pd.NA:
            return None
        if isinstance(o, Path):
            return str(o)
        raise TypeError(type(o).__name__)

    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=default) + "\n"


def _clean(value: Any) -> Any:
    """NaN and NA as None, numpy scalars as Python ones (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _summary(
    reg: Region | None,
    fac: gpd.GeoDataFrame,
    pairs: pd.DataFrame,
    gaps: pd.DataFrame,
    cov: pd.DataFrame | None,
    details: Mapping[str, Any],
    labels: Mapping[str, str],
    thresholds: Sequence[float],
    capacity: bool,
) -> dict[str, Any]:
    rules = pairing.summarize(pairs)
    out: dict[str, Any] = {
        "region": None if reg is None else {"code": reg.code, "name": reg.name},
        "data": dict(labels),
        "facilities_by_kind": {str(k): int(v) for k, v in fac["kind"].value_counts().items()},
        "capacity_aware": capacity,
        "rules": {
            str(r["rule"]): {
                **_clean(r.drop("rule").to_dict()),
                **_clean(details.get(r["rule"], {})),
            }
            for _, r in rules.iterrows()
        },
        "gaps": {
            "facilities": {
                str(k): int(v)
                for k, v in gaps[gaps["gap_type"] == "facility"]["rule"].value_counts().items()
            },
            "villages_by_threshold_min": {
                f"{k:g}": int(v)
                for k, v in gaps[gaps["gap_type"] == "village"]["threshold_min"]
                .value_counts()
                .sort_index()
                .items()
            },
        },
        "coverage_thresholds_min": [float(t) for t in thresholds],
    }
    if cov is not None and not cov.empty:
        counties = cov[cov["level"] == "county"]
        out["elderly_covered"] = {
            f"{t:g}": {
                "pop_total": int(g["pop_total"].sum()),
                "pop_covered": int(g["pop_covered"].sum()),
                "share": round(float(g["pop_covered"].sum() / max(g["pop_total"].sum(), 1)), 4),
                "pop_column": str(g["pop_column"].iloc[0]),
                "population_source": str(g["population_source"].iloc[0]),
            }
            for t, g in counties.groupby("threshold_min")
        }
    return _clean(out)  # type: ignore[no-any-return]


def _service_areas(
    net: GraphArrays | None, fac: gpd.GeoDataFrame, thresholds: Sequence[float], progress: bool
) -> gpd.GeoDataFrame:
    """Service areas in chunks of facilities (each facility's area is independent), with a
    progress bar: this is the longest step of a run."""
    chunk = 25
    starts = range(0, len(fac), chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="服务范围 service areas", unit=f"x{chunk}", leave=False)
    parts = [
        coverage.service_areas(net, fac.iloc[i : i + chunk], minutes=thresholds) for i in starts
    ]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")


def _layout(spec: Any, reg: Region | None) -> layouts.Layout | None:
    if spec is None:
        return None
    if isinstance(spec, layouts.Layout):
        return spec
    if isinstance(spec, str) and spec == "auto":
        if reg is None:
            return None
        for name in layouts.available():
            if name == reg.slug:
                return layouts.load(name, reg)
        return None
    return layouts.load(spec, reg)


def _write_outputs(
    out: Path, writers: Mapping[str, Callable[[Path], None]], manifest: str
) -> dict[str, Path]:
    """Write every file to a temporary folder beside ``out``, then move them in; the manifest
    (removed first) comes last."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".siting-run-", dir=out))
    paths: dict[str, Path] = {}
    try:
        for name, write in writers.items():
            write(tmp / name)
        (tmp / "manifest.json").write_text(manifest, encoding="utf-8")
        (out / "manifest.json").unlink(missing_ok=True)
        for name in OUTPUT_FILES:  # a file of an earlier run that this run does not write
            if name not in writers and name != "manifest.json":
                (out / name).unlink(missing_ok=True)
        for name in writers:
            (tmp / name).replace(out / name)
            paths[name] = out / name
        (tmp / "manifest.json").replace(out / "manifest.json")
        paths["manifest.json"] = out / "manifest.json"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


def _geojson(frame: gpd.GeoDataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        text = frame.to_json(drop_id=True, ensure_ascii=False, to_wgs84=True)
        path.write_text(text + "\n", encoding="utf-8")

    return write


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def _csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        write_csv(frame, path)

    return write


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
    layout: Any = "auto",
    seed: int | None = None,
    progress: bool = True,
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
    layout
        The planned layout whose elements tag every facility and village (columns
        ``layout_elements``), written to ``layout.geojson`` and ``layout_summary.csv``: a
        spec name or file, a loaded :class:`siting.layout.Layout`, ``"auto"`` (the shipped
        spec of the region if there is one) or ``None``.
    seed
        Seed of the modelled parts of a built-in region.
    progress
        Print the steps and show progress bars.

    Returns
    -------
    RunResult
        The tables and the paths written.
    """
    started = dt.datetime.now(dt.UTC)
    clock = _Clock(progress)
    inputs: dict[str, Any] = {}
    out_dir = Path(out)
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
        rs = pairing.load_rules(rules)
        inputs["rules"] = (
            {"path": str(rs.path), "sha256": _sha256(rs.path)} if rs.path else {"mapping": True}
        )
        unknown = [k for k in service_area_kinds or () if k not in registry.KINDS]
        if unknown:
            msg = (
                f"unknown kind(s) for service areas: {unknown}; kinds: {', '.join(registry.KINDS)}"
            )
            raise SitingError(msg)
        thresholds = tuple(float(t) for t in thresholds_min)
        if not thresholds or any(t <= 0 for t in thresholds):
            msg = f"thresholds_min must be positive minutes, got {list(thresholds_min)}"
            raise SitingError(msg)
    plan = _layout(layout, reg)
    if plan is not None:
        inputs["layout"] = {
            "name": plan.name,
            "source": str(plan.source) if plan.source else "mapping",
            "sha256": _sha256(plan.source) if plan.source else None,
        }
    with clock.step("network", "编译路网 compiling the road network"):
        net = (
            None
            if roads is None
            else (roads if isinstance(roads, GraphArrays) else graph_arrays(roads))
        )
    details: dict[str, Any] = {}
    with clock.step("pairing", "就近配对 pairing"):
        pairs = pairing.pair(net, fac, rs, capacity=capacity, progress=progress, info=details)
        pairs["data_source"] = data_source
        pairs["network_source"] = network_source
    villages = reg.villages if reg is not None else None
    if plan is not None:
        pairs["layout_elements"] = pairs["facility_id"].map(layouts.tag_joined(fac, plan))
    with clock.step("gaps", "覆盖缺口 coverage gaps"):
        gap_parts = [_facility_gaps(pairs)]
        if villages is not None:
            gap_parts.append(_village_gaps(net, villages, fac, thresholds, MEDICAL_KINDS))
        gaps = pd.concat([g for g in gap_parts if not g.empty] or gap_parts, ignore_index=True)
        gaps = gaps.reindex(columns=list(GAP_COLUMNS))
        for col in ("village_code", "village_name", "nearest_partner_id", "facility_id"):
            gaps[col] = gaps[col].astype("string")
        is_fac = gaps["gap_type"] == "facility"
        for col in ("county_code", "township_code"):
            if col in fac.columns:
                where = gaps.loc[is_fac, "facility_id"].map(fac[col])
                gaps[col] = gaps[col].astype("string")
                gaps.loc[is_fac, col] = where.astype("string")
        if plan is not None:
            tags = layouts.tag_joined(fac, plan)
            if villages is not None:
                tags = pd.concat([tags, layouts.tag_joined(villages, plan)])
            key = gaps["facility_id"].fillna(gaps["village_code"]).astype(object)
            gaps["layout_elements"] = key.map(tags).astype("string")
    cov = access = areas = None
    if villages is not None and reg is not None:
        with clock.step("coverage", "覆盖人口 elderly population covered"):
            medical = fac[fac["kind"].isin(MEDICAL_KINDS)]
            names = {
                "county_code": reg.counties["name"],
                "township_code": reg.townships["name"],
            }
            cov = coverage.covered_population(
                net, villages, medical, thresholds_min=thresholds, names=names
            )
        with clock.step("access", "可达性评分 E2SFCA access"):
            parts = []
            for score, (kinds, cap) in ACCESS_SCORES.items():
                supply = fac[fac["kind"].isin(kinds)]
                supply = supply[pd.to_numeric(supply[cap], errors="coerce").fillna(0) > 0]
                if supply.empty:
                    continue
                a = coverage.e2sfca(net, villages, supply, capacity=cap)
                a.insert(1, "score", score)
                parts.append(a)
            if parts:
                access = pd.concat(parts, ignore_index=True)
                access["population_source"] = "modelled"
    if service_area_kinds:
        with clock.step("service_areas", "服务范围 service areas"):
            sa_fac = fac[fac["kind"].isin(service_area_kinds)]
            if not sa_fac.empty:
                areas = _service_areas(net, sa_fac, thresholds, progress)
                # for maps and files: ~1 m coordinates, simplified within ~5 m
                areas["geometry"] = shapely.set_precision(
                    shapely.simplify(areas.geometry.array, 5e-5), 1e-5
                )
                areas.insert(1, "facility_name", areas["facility_id"].map(fac["name"]))
    measured = None
    if reg is not None:
        with clock.step("indicators", "政策指标 policy indicators"):
            measured = indicators.measure(reg, fac, pairs, gaps)
    layout_summary = None
    if plan is not None:
        layout_summary = layouts.summary(plan, fac, reg, pairings=pairs, gaps=gaps).reset_index()
    labels = {
        "facilities": data_source,
        "network": network_source,
        "villages": "modelled points" if villages is not None else "none",
        "population": "modelled (census 2020 county totals split by weights)"
        if villages is not None
        else "none",
    }
    summary = _summary(reg, fac, pairs, gaps, cov, details, labels, thresholds, capacity)
    if measured is not None:
        summary["indicators"] = {
            str(k): int(v) for k, v in measured["status"].value_counts().sort_index().items()
        }
    writers: dict[str, Callable[[Path], None]] = {
        "pairings.csv": _csv(pairs),
        "gaps.csv": _csv(gaps),
    }
    if cov is not None:
        writers["coverage_by_area.csv"] = _csv(cov)
    if access is not None:
        writers["access_e2sfca.csv"] = _csv(access)
    if areas is not None:
        writers["service_areas.geojson"] = _geojson(areas)
    if plan is not None:
        writers["layout.geojson"] = _geojson(plan.elements)
    if layout_summary is not None:
        writers["layout_summary.csv"] = _csv(layout_summary)
    writers["summary.json"] = _text(_json(summary))
    if measured is not None:
        writers["indicators.csv"] = _csv(measured)
        writers["indicators.json"] = _text(_json(_clean(indicators.to_json(measured))))

    def workbook(path: Path) -> None:
        report.excel(
            path,
            pairings=pairs,
            gaps=gaps,
            summary=summary,
            facilities=fac,
            counties=reg.counties if reg is not None else None,
            coverage=cov,
            layout_summary=layout_summary,
            indicators=measured,
        )

    writers["report.xlsx"] = workbook
    manifest = {
        "siting_version": __version__,
        "started_utc": started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv else "",
        "inputs": inputs,
        "settings": {
            "capacity": capacity,
            "thresholds_min": list(thresholds),
            "service_area_kinds": list(service_area_kinds or ()),
            "max_snap_m": settings.max_snap_m,
            "access_speed_kph": settings.access_speed_kph,
            "detour_factor": settings.detour_factor,
            "straight_line_speed_kph": settings.straight_line_speed_kph,
            "metric_crs": settings.metric_crs,
            "seed": seed if seed is not None else settings.default_seed,
            "rules": [r.id for r in rs],
        },
        "versions": _versions(),
        "timings_s": clock.timings,
        "files": sorted([*writers, "manifest.json"]),
    }
    with clock.step("write", "写出结果 writing outputs"):
        paths = _write_outputs(out_dir, writers, _json(_clean(manifest)))
    return RunResult(
        out=out_dir,
        pairings=pairs,
        gaps=gaps,
        summary=summary,
        manifest=manifest,
        coverage=cov,
        access=access,
        service_areas=areas,
        indicators=measured,
        files=paths,
    )
