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
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import (
    __version__,
    costs,
    coverage,
    indicators,
    pairing,
    patrol,
    registry,
    report,
    settings,
)
from siting import layout as layouts
from siting._errors import DataError, SitingError
from siting._graph import GraphArrays, graph_arrays
from siting._io import escape_md, excel_restore_frame, write_csv
from siting._outdir import (
    JOURNAL,
    KeepNumbered,
    OutputFolder,
    Replace,
    fault_point,
    sha256_file,
)
from siting.regions import Region

__all__ = [
    "GAP_COLUMNS",
    "OUTPUT_FILES",
    "PAIRING_OUTPUT_COLUMNS",
    "STATE_DIR",
    "RunResult",
    "UpdateResult",
    "run",
    "update",
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
    "recommendations.csv",
    "patrols.csv",
    "patrol_routes.geojson",
    "patrol_totals.csv",
    "report.xlsx",
    "maps/map.html",
    "maps/map.png",
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
    #: Files kept outside the folder by the same commit (``update``: the registry's history copy).
    kept: list[Path] = field(default_factory=list)
    #: The facilities the run read (all of them, partners outside a batch partition included).
    facilities: gpd.GeoDataFrame | None = None


@dataclass
class _Prepared:
    """A computed run and the functions writing its files, not yet written."""

    result: RunResult
    writers: dict[str, Callable[[Path], None]]
    clock: _Clock


#: Hidden folder of a run with the exact search results :func:`update` starts from.
STATE_DIR: Final = ".state"


@dataclass
class _State:
    """What an update starts from: the earlier exact searches and the added facility ids."""

    added: set[str]
    pairs: dict[str, pd.DataFrame]
    villages: pd.DataFrame | None
    service_areas: gpd.GeoDataFrame | None


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


def _data_source(fac: pd.DataFrame) -> str:
    """``modelled``, ``partly modelled`` or ``user``, from the registry's ``source`` column."""
    sources = set(fac["source"].dropna().astype(str)) if "source" in fac else set()
    if sources == {"modelled"}:
        return "modelled"
    return "partly modelled" if "modelled" in sources else "user"


def reader_warnings(frame: pd.DataFrame, limit: int = 200) -> list[str]:
    """The registry reader's warnings of ``frame`` as lines (file, row, column, reason), at most
    ``limit`` and then one line with the count of the rest."""
    issues = [i for i in frame.attrs.get("issues", []) if getattr(i, "severity", "") != "error"]
    lines = [str(i) for i in issues[:limit]]
    if len(issues) > limit:
        lines.append(f"... and {len(issues) - limit} more warnings")
    return lines


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
            inputs["boundary"] = {"path": str(path), "sha256": sha256_file(path)}
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
        data_source = _data_source(fac)
        inputs["facilities"] = {"frame": True, "hash": _hash_frame(fac)}
    else:
        path = Path(facilities)
        fac = registry.read(path, crs=crs, boundary=outline)
        data_source = _data_source(fac)
        inputs["facilities"] = {
            "path": str(path),
            "crs": crs,
            "sha256": sha256_file(path),
            "warnings": reader_warnings(fac),
        }
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
        inputs["network"] = {"path": str(path), "crs": network_crs, "sha256": sha256_file(path)}
    else:
        roads = network
        graph = getattr(roads, "graph", {})
        network_source = "modelled" if graph.get("modelled") else "user"
        inputs["network"] = {"object": type(network).__name__}
    return reg, fac, roads, data_source, network_source


def _facility_gaps(pairs: pd.DataFrame, skip_rules: Iterable[str] = ()) -> pd.DataFrame:
    """Facilities whose assigned partner is beyond the rule's threshold, or who have none.

    ``skip_rules``: rules the list has no partner for at all (said in ``not_computed``, not
    listed as gaps of the roads)."""
    if pairs.empty:
        return pd.DataFrame(columns=list(GAP_COLUMNS))
    skip = set(skip_rules)
    rows = []
    for (rule, fid), group in pairs.groupby(["rule", "facility_id"], sort=False):
        if rule in skip:
            continue
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


def _village_nearest(
    net: GraphArrays | None,
    villages: gpd.GeoDataFrame,
    medical: gpd.GeoDataFrame,
    previous: _State | None,
) -> pd.DataFrame:
    """Every village's nearest medical facility (the long form of costs.nearest, k=1); with an
    earlier state, searched only from the added facilities and merged."""
    if previous is not None and previous.villages is not None:
        new = medical[medical.index.astype(str).isin(previous.added)]
        if new.empty:
            return previous.villages
        more = costs.nearest(net, villages, new, k=1)
        return pairing.merge_nearest(
            previous.villages, more, pd.Index(villages.index), 1, settings.max_snap_m
        )
    return costs.nearest(net, villages, medical, k=1)


def _all_village_gaps(villages: gpd.GeoDataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """Every village at every threshold: the list has no medical facility at all."""
    ids = np.repeat(villages.index.astype(str).to_numpy(), len(thresholds))
    limits = np.tile(np.asarray(thresholds, dtype=np.float64), len(villages))
    out = pd.DataFrame(
        {
            "gap_type": "village",
            "rule": "village_coverage",
            "village_code": pd.array(ids, dtype="string"),
            "village_name": pd.Series(ids).map(villages["name"]).astype("string").to_numpy(),
            "county_code": pd.Series(ids).map(villages["county_code"]).astype("string").to_numpy(),
            "township_code": pd.Series(ids)
            .map(villages["township_code"])
            .astype("string")
            .to_numpy(),
            "travel_time_min": np.nan,
            "threshold_min": limits,
            "reachable": False,
            "method": pd.array([None] * len(ids), dtype="string"),
            "reason": "名录中没有任何医疗机构 no medical facility in the list",
        }
    )
    return out.reindex(columns=list(GAP_COLUMNS))


def _village_gaps(
    near: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    medical: gpd.GeoDataFrame,
    thresholds: Sequence[float],
) -> pd.DataFrame:
    """Villages beyond each threshold of their nearest medical facility, or out of reach."""
    minutes = near["time_s"].to_numpy(dtype=np.float64) / 60.0
    reachable = near["reachable"].to_numpy(dtype=bool)
    limits = np.asarray(thresholds, dtype=np.float64)
    beyond = ~reachable[:, None] | ~(minutes[:, None] <= limits[None, :])
    point, col = np.nonzero(beyond)
    ids = near["demand_id"].to_numpy()[point]
    partner = near["facility_id"].to_numpy()[point]
    out = pd.DataFrame(
        {
            "gap_type": "village",
            "rule": "village_coverage",
            "village_code": pd.array(ids, dtype="string"),
            "village_name": pd.Series(ids).map(villages["name"]).astype("string").to_numpy(),
            "county_code": pd.Series(ids).map(villages["county_code"]).astype("string").to_numpy(),
            "township_code": pd.Series(ids)
            .map(villages["township_code"])
            .astype("string")
            .to_numpy(),
            "nearest_partner_id": pd.array(partner, dtype="string"),
            "nearest_partner_name": pd.Series(partner)
            .map(medical["name"])
            .astype("string")
            .to_numpy(),
            "travel_time_min": np.round(minutes[point], 3),
            "threshold_min": limits[col],
            "reachable": reachable[point],
            "method": pd.array(near["method"].to_numpy()[point], dtype="string"),
        }
    )
    out["reason"] = [
        f"距最近医疗机构车程{tm:.0f}分钟，超过{th:g}分钟" if ok else "路网上无可达的医疗机构"
        for tm, th, ok in zip(
            out["travel_time_min"], out["threshold_min"], out["reachable"], strict=True
        )
    ]
    return out.reindex(columns=list(GAP_COLUMNS))


def _travel_note(pairs: pd.DataFrame, network_source: str) -> dict[str, Any]:
    """How the travel times were measured: on roads, or straight-line estimates (and how)."""
    methods = sorted(set(pairs["method"].dropna().astype(str))) if len(pairs) else []
    straight = costs.STRAIGHT_LINE in methods
    note: dict[str, Any] = {"methods": methods, "network": network_source}
    if straight:
        note.update(
            {
                "straight_line": True,
                "detour_factor": settings.detour_factor,
                "speed_kph": settings.straight_line_speed_kph,
                "note_zh": (
                    f"部分或全部车程为直线估算（直线距离×{settings.detour_factor:g}，按"
                    f"{settings.straight_line_speed_kph:g}公里/小时），非路网实测"
                ),
                "note": (
                    f"some or all travel times are straight-line estimates (distance x "
                    f"{settings.detour_factor:g} at {settings.straight_line_speed_kph:g} km/h), "
                    "not measured on roads"
                ),
            }
        )
    else:
        note["straight_line"] = False
    return note


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


def _distinct_routes(routes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One line per distinct route of a clinic's doctor (a weekly route is driven four times in
    a 4-week horizon: drawn once, with the days it is driven), for a lighter map."""
    if routes.empty:
        return routes
    key = routes["clinic_id"].astype(str) + "|" + routes["doctor"].astype(str) + "|"
    key = key + pd.Series(shapely.to_wkb(routes.geometry.array), index=routes.index).map(
        lambda b: hashlib.sha1(b).hexdigest()
    )
    days = routes.groupby(key, sort=False).apply(
        lambda g: "、".join(f"第{w}周{d}" for w, d in zip(g["week"], g["weekday"], strict=True)),
        include_groups=False,
    )
    first = routes.loc[~key.duplicated()].copy()
    first["days"] = key[first.index].map(days).to_numpy()
    first["times_in_horizon"] = key[first.index].map(key.value_counts()).to_numpy()
    return first.drop(columns=["day", "week", "weekday", "date"], errors="ignore")


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


def _geojson(frame: gpd.GeoDataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        text = frame.to_json(drop_id=True, ensure_ascii=False, to_wgs84=True)
        path.write_text(text + "\n", encoding="utf-8")

    return write


def _state_csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    """Exact search results for a later incremental update (all digits of every float)."""

    def write(path: Path) -> None:
        frame.to_csv(path, index=False, encoding="utf-8", float_format="%.17g")

    return write


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def _csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        write_csv(frame, path)

    return write


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
    layout: Any = "auto",
    seed: int | None = None,
    progress: bool = True,
    maps: bool = True,
    basemap: str = "amap",
    patrol_plan: bool = True,
    recommend_p: int | None = None,
    recommend_kind: str = "health_center",
    home: Iterable[Any] | None = None,
    _previous: _State | None = None,
) -> _Prepared:
    """Everything :func:`run` computes, and the writers of its files (nothing written)."""
    started = dt.datetime.now(dt.UTC)
    clock = _Clock(progress)
    home_ids = None if home is None else {str(h) for h in home}
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
            {"path": str(rs.path), "sha256": sha256_file(rs.path)} if rs.path else {"mapping": True}
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
    own = fac if home_ids is None else fac[fac.index.astype(str).isin(home_ids)]
    if home_ids is not None:
        inputs["home"] = {"facilities": len(own), "partners_outside": len(fac) - len(own)}
    plan = _layout(layout, reg)
    if plan is not None:
        inputs["layout"] = {
            "name": plan.name,
            "source": str(plan.source) if plan.source else "mapping",
            "sha256": sha256_file(plan.source) if plan.source else None,
        }
    with clock.step("network", "编译路网 compiling the road network"):
        net = (
            None
            if roads is None
            else (roads if isinstance(roads, GraphArrays) else graph_arrays(roads))
        )
        if net is not None and network_source != "modelled":
            # a road file that does not cover the facilities, or implausible speeds: stop here
            from siting import network as netmod

            net_in = inputs.get("network") or {}
            label = f"road network {net_in['path']}" if net_in.get("path") else None
            check = netmod.check_against(net, fac, where=label)
            inputs["network_check"] = {
                k: check[k]
                for k in ("facilities", "beyond_snap", "snap_m_median", "snap_m_max", "warnings")
                if k in check
            }
            if not isinstance(roads, GraphArrays):
                src = roads.graph.get("source")
                if isinstance(src, dict) and net_in:
                    net_in["crs_used"] = src.get("crs")
                    net_in["warnings"] = list(src.get("warnings", []))
    details: dict[str, Any] = {}
    with clock.step("pairing", "就近配对 pairing"):
        raw: dict[str, pd.DataFrame] = {}
        pairs = pairing.pair(
            net,
            fac,
            rs,
            capacity=capacity,
            progress=progress,
            info=details,
            raw=raw,
            home=home_ids,
            previous=None if _previous is None else _previous.pairs,
            added=None if _previous is None else _previous.added,
        )
        pairs["data_source"] = data_source
        pairs["network_source"] = network_source
    villages = reg.villages if reg is not None else None
    patrols = None
    if patrol_plan and "patrol" in {r.id for r in rs}:
        with clock.step("patrols", "巡诊路线 patrol routes"):
            patrols = patrol.plan(net, fac, pairs, rules=rs)
    fac_tags = None if plan is None else layouts.tag_joined(fac, plan)
    if fac_tags is not None:
        pairs["layout_elements"] = pairs["facility_id"].map(fac_tags)
    not_computed: list[dict[str, str]] = []

    def skipped(output: str, zh: str, en: str) -> None:
        not_computed.append({"output": output, "reason_zh": zh, "reason": en})

    no_partner_rules = []
    for rule in rs:
        d = details.get(rule.id, {})
        if not d.get("facilities", 0):
            kinds_zh = "、".join(registry.kind_label(k) for k in rule.from_kinds)
            skipped(
                f"pairings: {rule.id}",
                f"规则 {rule.zh}：名录中没有{kinds_zh}，无需配对",
                f"rule {rule.id}: the list has no {' or '.join(rule.from_kinds)} to pair",
            )
        elif d.get("partners", 0) == 0:
            no_partner_rules.append(rule.id)
            zh, en = pairing.no_partner_reason(rule)
            skipped(f"pairings: {rule.id}", zh, en)
    with clock.step("gaps", "覆盖缺口 coverage gaps"):
        gap_parts = [_facility_gaps(pairs, no_partner_rules)]
        village_near = None
        medical = fac[fac["kind"].isin(MEDICAL_KINDS)]
        if villages is not None and not villages.empty and not medical.empty:
            village_near = _village_nearest(net, villages, medical, _previous)
            gap_parts.append(_village_gaps(village_near, villages, medical, thresholds))
        elif villages is not None and not villages.empty:
            gap_parts.append(_all_village_gaps(villages, thresholds))
        elif villages is None:
            skipped(
                "gaps: villages",
                "没有村庄数据，未计算村覆盖缺口（内置区域 --region 提供村庄）",
                "no villages, so no village gaps (a built-in --region brings its villages)",
            )
        if patrols is not None:
            gap_parts.append(patrol.coverage_gaps(patrols).reindex(columns=list(GAP_COLUMNS)))
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
        if plan is not None and fac_tags is not None:
            tags = fac_tags
            if villages is not None:
                tags = pd.concat([tags, layouts.tag_joined(villages, plan)])
            key = gaps["facility_id"].fillna(gaps["village_code"]).astype(object)
            gaps["layout_elements"] = key.map(tags).astype("string")
    cov = access = areas = None
    if villages is None or reg is None:
        for output in ("coverage_by_area.csv", "access_e2sfca.csv"):
            skipped(
                output,
                "没有村庄与老年人口数据（内置区域 --region 提供），未计算",
                "no villages and elderly population (a built-in --region brings them)",
            )
    else:
        with clock.step("coverage", "覆盖人口 elderly population covered"):
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
                    labels_zh = "、".join(registry.kind_label(k) for k in kinds)
                    skipped(
                        f"access_e2sfca.csv: {score}",
                        f"名录中没有填写{cap}（床位数）的{labels_zh}",
                        f"no {' or '.join(kinds)} with {cap} in the list",
                    )
                    continue
                a = coverage.e2sfca(net, villages, supply, capacity=cap)
                a.insert(1, "score", score)
                parts.append(a)
            if parts:
                access = pd.concat(parts, ignore_index=True)
                access["population_source"] = "modelled"
    if service_area_kinds:
        with clock.step("service_areas", "服务范围 service areas"):
            sa_fac = own[own["kind"].isin(service_area_kinds)]
            if not sa_fac.empty:
                old_areas = None if _previous is None else _previous.service_areas
                todo = sa_fac
                if old_areas is not None:
                    todo = sa_fac[sa_fac.index.astype(str).isin(_previous.added)]  # type: ignore[union-attr]
                areas = _service_areas(net, todo, thresholds, progress) if len(todo) else None
                if areas is not None:
                    # for maps and files: ~1 m coordinates, simplified within ~5 m
                    areas["geometry"] = shapely.set_precision(
                        shapely.simplify(areas.geometry.array, 5e-5), 1e-5
                    )
                    areas.insert(1, "facility_name", areas["facility_id"].map(fac["name"]))
                if old_areas is not None:
                    both = pd.concat([old_areas, areas], ignore_index=True)
                    order = pd.Index(sa_fac.index).get_indexer(both["facility_id"])
                    both = both.iloc[np.lexsort((both["minutes"].to_numpy(), order))]
                    areas = gpd.GeoDataFrame(both.reset_index(drop=True), crs="EPSG:4326")
    recommended = None
    if recommend_p is not None and reg is None:
        skipped(
            "recommendations.csv",
            "新增选址需要内置区域的村庄与人口（--region），未计算",
            "recommendations need a built-in region's villages and population (--region)",
        )
    if recommend_p is not None and reg is not None:
        from siting import locate

        with clock.step("locate", "新增选址 recommending new sites"):
            found = locate.recommend(
                reg,
                net,
                fac,
                model="mclp",
                p=int(recommend_p),
                threshold_min=max(thresholds),
                kind=recommend_kind,
            )
            recommended = found.recommendations
            summary_extra = {
                "model": "mclp",
                "p": int(recommend_p),
                "kind": recommend_kind,
                "status": found.status,
                "sentence_zh": found.sentence_zh,
                "sentence_en": found.sentence_en,
            }
    measured = None
    if reg is not None:
        with clock.step("indicators", "政策指标 policy indicators"):
            measured = indicators.measure(reg, own, pairs, gaps)
    else:
        skipped(
            "indicators.csv",
            "政策指标需要内置区域的人口与村庄（--region），未计算",
            "the policy indicators need a built-in region's population and villages (--region)",
        )
    if plan is None and layout is not None:
        skipped(
            "layout.geojson",
            "本区域没有规划布局文件（siting/layouts/），未标注布局",
            "no layout spec for this area (siting/layouts/), so no layout tags",
        )
    if patrol_plan and patrols is None:
        skipped(
            "patrols.csv",
            "规则中没有巡诊规则 patrol，未排巡诊",
            "the rules have no patrol rule, so no patrol plan",
        )
    layout_summary = None
    if plan is not None:
        layout_summary = layouts.summary(plan, own, reg, pairings=pairs, gaps=gaps).reset_index()
    labels = {
        "facilities": data_source,
        "network": network_source,
        "villages": "modelled points" if villages is not None else "none",
        "population": "modelled (census 2020 county totals split by weights)"
        if villages is not None
        else "none",
    }
    summary = _summary(reg, own, pairs, gaps, cov, details, labels, thresholds, capacity)
    summary["not_computed"] = not_computed
    summary["travel_times"] = _travel_note(pairs, network_source)
    if recommended is not None:
        summary["recommendations"] = summary_extra
    if patrols is not None:
        t = patrols.totals
        summary["patrols"] = {
            "clinics": len(t),
            "visits": int((patrols.visits["stop"] == "visit").sum()),
            "km_per_month": round(float(t["km_per_month"].sum()), 1)
            if "km_per_month" in t
            else None,
            "gaps_by_kind": {
                str(k): int(v) for k, v in patrols.gaps["gap_kind"].value_counts().items()
            }
            if "gap_kind" in patrols.gaps
            else {},
        }
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
    if recommended is not None:
        writers["recommendations.csv"] = _csv(recommended)
    if patrols is not None:
        writers["patrols.csv"] = _csv(patrols.visits)
        writers["patrol_routes.geojson"] = _geojson(patrols.routes)
        writers["patrol_totals.csv"] = _csv(patrols.totals)
    for rule_id, frame in raw.items():
        writers[f"{STATE_DIR}/nearest_{rule_id}.csv"] = _state_csv(frame)
    if village_near is not None:
        writers[f"{STATE_DIR}/nearest_villages.csv"] = _state_csv(village_near)
    # the tables an update compares with, exactly as computed (the public CSVs are made safe
    # for spreadsheets: a name beginning with "=" gets a leading "'" there)
    writers[f"{STATE_DIR}/pairings.csv"] = _state_csv(pairs)
    writers[f"{STATE_DIR}/gaps.csv"] = _state_csv(gaps)
    if measured is not None:
        writers[f"{STATE_DIR}/indicators.csv"] = _state_csv(measured)
        writers["indicators.csv"] = _csv(measured)
        writers["indicators.json"] = _text(_json(_clean(indicators.to_json(measured))))

    def workbook(path: Path) -> None:
        report.excel(
            path,
            pairings=pairs,
            gaps=gaps,
            summary=summary,
            facilities=own,
            counties=reg.counties if reg is not None else None,
            coverage=cov,
            layout_summary=layout_summary,
            indicators=measured,
            patrols=None if patrols is None else patrols.visits,
            recommendations=recommended,
        )

    writers["report.xlsx"] = workbook
    if maps:
        from siting import maps as mapping

        map_parts: dict[str, Any] = {
            "region": reg,
            "facilities": fac,
            "layout": plan,
            "pairings": pairs,
            "gaps": gaps,
            "service_areas": areas,
            "patrol_routes": None if patrols is None else _distinct_routes(patrols.routes),
            "recommendations": recommended,
            "data": labels,
        }

        def meeting(path: Path) -> None:
            mapping.save_html(mapping.meeting_map(basemap=basemap, **map_parts), path)

        def printed(path: Path) -> None:
            mapping.static_map(None, path, **map_parts)

        writers["maps/map.html"] = meeting
        writers["maps/map.png"] = printed
    manifest = {
        "siting_version": __version__,
        "started_utc": started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv else "",
        "inputs": inputs,
        "settings": {
            "capacity": capacity,
            "thresholds_min": list(thresholds),
            "service_area_kinds": list(service_area_kinds or ()),
            "maps": maps,
            "patrol_plan": patrol_plan,
            "recommend_p": recommend_p,
            "recommend_kind": recommend_kind,
            "basemap": basemap,
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
    result = RunResult(
        out=out_dir,
        pairings=pairs,
        gaps=gaps,
        summary=summary,
        manifest=manifest,
        coverage=cov,
        access=access,
        service_areas=areas,
        indicators=measured,
        facilities=fac,
    )
    return _Prepared(result=result, writers=writers, clock=clock)


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
    maps: bool = True,
    basemap: str = "amap",
    patrol_plan: bool = True,
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
    layout
        The planned layout whose elements tag every facility and village (columns
        ``layout_elements``), written to ``layout.geojson`` and ``layout_summary.csv``: a
        spec name or file, a loaded :class:`siting.layout.Layout`, ``"auto"`` (the shipped
        spec of the region if there is one) or ``None``.
    seed
        Seed of the modelled parts of a built-in region.
    progress
        Print the steps and show progress bars.
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
            layout=layout,
            seed=seed,
            progress=progress,
            maps=maps,
            basemap=basemap,
            patrol_plan=patrol_plan,
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
    text = _json(_clean(result.manifest))
    with prepared.clock.step("write", "写出结果 writing outputs"):
        committed = folder.commit(prepared.writers, text, extra=extra)
    result.files = committed.paths
    result.kept = committed.kept
    return result


# --- update: add facilities, recompute what they touch, say what changed ------------------------


@dataclass
class UpdateResult:
    """What :func:`update` did: the new run, the rows added, the diff and the history file."""

    run: RunResult | None
    added: gpd.GeoDataFrame
    diff: pd.DataFrame
    history: Path | None
    registry: Path
    #: True when this very update (same file added to the same registry) was already done and
    #: nothing was changed now.
    already_applied: bool = False


def _read_state(out: Path, added: set[str]) -> _State:
    folder = out / STATE_DIR
    dtypes = {"demand_id": "string", "facility_id": "string", "method": "string"}

    def read(path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path, dtype=dtypes, encoding="utf-8")
        for col in ("reachable", "snap_flag"):
            frame[col] = frame[col].astype(bool)
        frame["rank"] = frame["rank"].astype(np.int64)
        return frame

    pairs = {
        p.stem.removeprefix("nearest_"): read(p)
        for p in sorted(folder.glob("nearest_*.csv"))
        if p.stem != "nearest_villages"
    }
    vpath = folder / "nearest_villages.csv"
    areas = None
    if (out / "service_areas.geojson").is_file():
        areas = gpd.read_file(out / "service_areas.geojson")
        areas["facility_id"] = areas["facility_id"].astype("string")
    return _State(
        added=added,
        pairs=pairs,
        villages=read(vpath) if vpath.is_file() else None,
        service_areas=areas,
    )


def _diff(
    old_dir: Mapping[str, pd.DataFrame], new: RunResult, added: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Pairings that changed (and why), gaps closed or opened, indicators before and after."""
    rows: list[dict[str, Any]] = []
    old_p = old_dir["pairings"]
    old_map: dict[tuple[str, str], Any] = {
        (str(r["rule"]), str(r["facility_id"])): r
        for r in old_p[old_p["assigned"].astype(bool)].to_dict("records")
    }
    new_rows: list[Any] = new.pairings[new.pairings["assigned"].astype(bool)].to_dict("records")
    added_ids = set(added.index.astype(str))
    for r in new_rows:
        rule, fid = str(r["rule"]), str(r["facility_id"])
        before = old_map.get((rule, fid))
        if before is None:
            change = (
                "新增机构配对 new facility paired" if fid in added_ids else "新配对 newly paired"
            )
            rows.append(
                {
                    "section": "pairing",
                    "rule": rule,
                    "id": fid,
                    "name": r["facility_name"],
                    "before": None,
                    "after": f"{r['partner_name']} {float(r['travel_time_min']):.1f}分钟",
                    "change": change,
                    "reason": r["reason"],
                }
            )
            continue
        if str(before["partner_id"]) == str(r["partner_id"]):
            continue
        t0, t1 = float(before["travel_time_min"]), float(r["travel_time_min"])
        why = f"新增的{r['partner_name']}更近" if str(r["partner_id"]) in added_ids else r["reason"]
        rows.append(
            {
                "section": "pairing",
                "rule": rule,
                "id": fid,
                "name": r["facility_name"],
                "before": f"{before['partner_name']} {t0:.1f}分钟",
                "after": f"{r['partner_name']} {t1:.1f}分钟",
                "change": "配对改变 partner changed",
                "reason": f"{why}：车程由{t0:.1f}分钟变为{t1:.1f}分钟",
            }
        )

    def gap_keys(g: pd.DataFrame) -> pd.DataFrame:
        g = g.copy()
        g["key"] = g["facility_id"].astype("string").fillna(g["village_code"].astype("string"))
        return g.set_index(["gap_type", "rule", "key", "threshold_min"])

    og, ng = gap_keys(old_dir["gaps"]), gap_keys(new.gaps)
    for frame, other, closed in ((og, ng, True), (ng, og, False)):
        for key in frame.index.difference(other.index):
            r = frame.loc[key]
            name = r["facility_name"] if pd.notna(r["facility_name"]) else r["village_name"]
            beyond = f"{r['travel_time_min']:.1f}分钟 > {key[3]:g}"
            rows.append(
                {
                    "section": "gap",
                    "rule": key[1],
                    "id": key[2],
                    "name": name,
                    "before": beyond if closed else None,
                    "after": None if closed else beyond,
                    "change": "缺口消除 gap closed" if closed else "新增缺口 gap opened",
                    "reason": f"现在{key[3]:g}分钟内可达" if closed else r["reason"],
                }
            )
    old_i = old_dir.get("indicators")
    if old_i is not None and new.indicators is not None:
        a: dict[Any, Any] = old_i.set_index("indicator_id").to_dict("index")
        b: dict[Any, Any] = new.indicators.set_index("indicator_id").to_dict("index")
        for ind, rb in b.items():
            ra = a.get(ind, {})
            va, vb = ra.get("value"), rb.get("value")
            sa, sb = ra.get("status"), rb.get("status")
            fa = None if va is None or pd.isna(va) else float(va)
            fb = None if vb is None or pd.isna(vb) else float(vb)
            same = (fa is None and fb is None) or (
                fa is not None and fb is not None and math.isclose(fa, fb)
            )
            if same and sa == sb:
                continue
            rows.append(
                {
                    "section": "indicator",
                    "rule": None,
                    "id": ind,
                    "name": rb.get("name_zh"),
                    "before": None if fa is None else f"{fa:g} ({sa})",
                    "after": None if fb is None else f"{fb:g} ({sb})",
                    "change": "指标变化 indicator changed",
                    "reason": f"目标 {rb.get('target')}",
                }
            )
    return pd.DataFrame(
        rows, columns=["section", "rule", "id", "name", "before", "after", "change", "reason"]
    )


def _diff_md(diff: pd.DataFrame, added: gpd.GeoDataFrame, summary: Mapping[str, Any]) -> str:
    lines = [
        "# 更新差异 What changed",
        "",
        f"新增机构 {len(added)} 处 (added facilities): "
        + "、".join(
            f"{escape_md(n)}({registry.kind_label(str(k))})"
            for n, k in list(zip(added["name"], added["kind"], strict=True))[:20]
        ),
        "",
    ]
    for section, title in (
        ("pairing", "## 配对变化 Pairings that changed"),
        ("gap", "## 缺口变化 Gaps closed or opened"),
        ("indicator", "## 指标前后 Indicators before and after"),
    ):
        part = diff[diff["section"] == section]
        lines += [title, "", f"{len(part)} 项 items", ""]
        if not part.empty:
            lines += ["| 规则 | 名称 | 之前 | 之后 | 变化 | 原因 |", "|---|---|---|---|---|---|"]
            for _, r in part.head(200).iterrows():
                cells = [r["rule"], r["name"], r["before"], r["after"], r["change"], r["reason"]]
                lines.append("| " + " | ".join(escape_md(c) for c in cells) + " |")
            if len(part) > 200:
                lines.append(f"| … | 另有 {len(part) - 200} 项，见 diff.csv | | | | |")
            lines.append("")
    data = summary.get("data", {})
    if any("modelled" in str(v) for v in data.values()):
        lines += ["> 注意：含模拟数据（modelled），仅用于演示方法。", ""]
    return "\n".join(lines)


def _hash_add(add: str | os.PathLike[str] | pd.DataFrame) -> str:
    if isinstance(add, pd.DataFrame):
        return _hash_frame(add)
    return sha256_file(Path(add))


def _other_layers(path: Path, layer: str) -> dict[str, pd.DataFrame]:
    """Every layer of a GeoPackage but the registry's, as read, in file order."""
    import pyogrio

    out: dict[str, pd.DataFrame] = {}
    for name in (str(n) for n in pyogrio.list_layers(path)[:, 0]):
        if name != layer:
            out[name] = pyogrio.read_dataframe(path, layer=name)
    return out


def _registry_layer(path: Path) -> str:
    import pyogrio

    layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    if len(layers) == 1:
        return layers[0]
    if "facilities" in layers:
        return "facilities"
    msg = f"{path}: several layers {layers} and none named 'facilities': which is the registry?"
    raise DataError(msg)


def _old_tables(out_dir: Path) -> dict[str, pd.DataFrame]:
    """The earlier run's pairings, gaps and indicators, exactly as computed (``.state/``; the
    public CSVs of a run made before siting kept them there)."""

    def pick(name: str) -> tuple[Path, str]:
        exact = out_dir / STATE_DIR / name
        return (exact, "utf-8") if exact.is_file() else (out_dir / name, "utf-8-sig")

    def read(name: str, **options: Any) -> pd.DataFrame:
        path, enc = pick(name)
        frame = pd.read_csv(path, encoding=enc, keep_default_na=False, na_values=[""], **options)
        # a run made before .state/ kept them: undo the spreadsheet-safe prefix of the CSV
        return frame if enc == "utf-8" else excel_restore_frame(frame)

    old: dict[str, pd.DataFrame] = {
        "pairings": read("pairings.csv", dtype=str).assign(
            assigned=lambda f: f["assigned"] == "True",
            travel_time_min=lambda f: pd.to_numeric(f["travel_time_min"]),
        ),
        "gaps": read("gaps.csv", dtype={"facility_id": "string", "village_code": "string"}),
    }
    if pick("indicators.csv")[0].is_file():
        old["indicators"] = read("indicators.csv")
    return old


def update(
    registry_path: str | os.PathLike[str],
    add: str | os.PathLike[str] | pd.DataFrame,
    *,
    out: str | os.PathLike[str],
    crs: str | None = None,
    progress: bool = True,
    allow_duplicates: bool = False,
    force: bool = False,
) -> UpdateResult:
    """Add facilities to a registry and bring the run in ``out`` up to date, all or nothing.

    The additions are read and validated first (:func:`siting.registry.read` and
    :func:`siting.registry.append`): a bad file raises with every problem and changes nothing.
    A facility already in the registry - the same id, the same kind and name within 50 m, or
    any facility within 10 m - is refused, naming the row and its match
    (:func:`siting.registry.duplicates`), unless ``allow_duplicates``. The run in ``out`` is
    recomputed from its exact earlier searches (``.state/``): nearest partners only from the
    added partners and for the added facilities, village gaps only from the added medical
    facilities, service areas only for the added facilities; the cheap global tables (coverage
    by area, access scores, layout summary, indicators) in full. The result equals a full
    recompute of the new registry. ``diff.csv`` and ``diff.md`` say what changed: pairings (and
    why), gaps closed or opened, indicators before and after.

    **Together or not at all.** The new registry (every layer of the GeoPackage kept), the
    history copy of the registry as it was (``<name>.history/<name>.vNNNN.gpkg``, a number never
    used before, claimed at write time: nothing is ever overwritten) and every file of the run
    are written to temporary places first, then committed through one journal
    (:class:`siting._outdir.OutputFolder`). A crash before the commit point leaves the old
    registry and run; after it, the next command on ``out`` finishes the commit. Running the
    same update again after it has finished (or been finished) changes nothing and says so.

    ``out`` must hold a finished run (``siting run --facilities REGISTRY ...``) made from this
    registry, as its manifest records; otherwise the update is refused (run in full).
    """
    from siting._outdir import check_writable, lock_file

    reg_path = Path(registry_path)
    if not reg_path.is_file():
        msg = f"registry not found: {reg_path}"
        raise DataError(msg)
    if reg_path.suffix.lower() != ".gpkg":
        msg = (
            f"{reg_path}: update rewrites a GeoPackage registry (.gpkg), so that nothing of the "
            "file is lost; convert your list once with "
            "siting.write_registry(siting.read_registry(FILE), 'registry.gpkg') and run on that"
        )
        raise DataError(msg)
    history_dir = reg_path.with_name(reg_path.stem + ".history")
    check_writable(
        reg_path.parent, what="the registry's folder", need_bytes=3 * reg_path.stat().st_size
    )
    history_dir.mkdir(exist_ok=True)
    reg_lock = lock_file(history_dir / ".siting.lock", f"名录 registry {reg_path}")
    try:
        with OutputFolder(out, require_manifest=True, force=force) as folder:
            return _update(
                folder,
                reg_path,
                history_dir,
                add,
                crs=crs,
                progress=progress,
                allow_duplicates=allow_duplicates,
            )
    finally:
        reg_lock.release()
        if {p.name for p in history_dir.iterdir()} <= {".siting.lock"}:  # nothing kept yet
            shutil.rmtree(history_dir, ignore_errors=True)


def _update(
    folder: OutputFolder,
    reg_path: Path,
    history_dir: Path,
    add: str | os.PathLike[str] | pd.DataFrame,
    *,
    crs: str | None,
    progress: bool,
    allow_duplicates: bool,
) -> UpdateResult:
    out_dir = folder.path
    # staged files of an update killed before its commit point (the folder's own pending commit,
    # if any, has just been finished): under the registry's lock, nothing else uses them
    for left in [
        *history_dir.glob(".siting-stage-*"),
        *reg_path.parent.glob(f".{reg_path.stem}.siting-stage-*"),
    ]:
        left.unlink(missing_ok=True)
    manifest = folder.previous_manifest()
    if manifest is None:
        msg = f"{out_dir}: no finished run here (manifest.json missing); run `siting run` first"
        raise SitingError(msg)
    inputs = manifest.get("inputs", {})
    fac_in = inputs.get("facilities") or {}
    reg_sha = sha256_file(reg_path)
    if not isinstance(add, pd.DataFrame) and not Path(add).is_file():
        msg = f"file to add not found: {add}"
        raise DataError(msg)
    add_sha = _hash_add(add)
    last = manifest.get("update") or {}
    if last.get("add_sha256") == add_sha and last.get("registry_sha256") == reg_sha:
        print(
            f"已完成：{add} 已于上次更新加入 {reg_path}，未作改动 / "
            "this update was already applied "
            f"(added {len(last.get('added_ids', []))} facilities); nothing changed",
            file=sys.stderr,
            flush=True,
        )
        return UpdateResult(
            run=None,
            added=registry.read(reg_path).loc[lambda f: f.index.isin(last.get("added_ids", []))],
            diff=pd.DataFrame(
                columns=["section", "rule", "id", "name", "before", "after", "change", "reason"]
            ),
            history=None,
            registry=reg_path,
            already_applied=True,
        )
    if fac_in.get("sha256") != reg_sha:
        msg = (
            f"the run in {out_dir} was not made from {reg_path} as it is now (its manifest "
            f"records {fac_in.get('path', 'another input')}); run `siting run --facilities "
            f"{reg_path} --out {out_dir}` first"
        )
        raise SitingError(msg)
    from siting import regions

    region_in = inputs.get("region")
    reg = regions.load(region_in["code"], seed=region_in.get("seed")) if region_in else None
    layer = _registry_layer(reg_path)
    current = registry.read(reg_path, layer=layer)
    if isinstance(add, pd.DataFrame):
        new_rows = registry.from_frame(add)
    else:
        new_rows = registry.read(
            Path(add), crs=crs, boundary=reg.outline if reg is not None else None
        )
    if not allow_duplicates:
        found = registry.duplicates(current, new_rows)
        if not found.empty:
            raise registry.DuplicateError(
                found, file=str(add) if not isinstance(add, pd.DataFrame) else "<frame>"
            )
    merged = registry.append(current, new_rows)
    added = merged.iloc[len(current) :]
    if added.empty:
        msg = f"{add}: no facilities to add"
        raise DataError(msg)
    # everything before the first write: the earlier outputs, for the diff
    old = _old_tables(out_dir)
    state = _read_state(out_dir, set(added.index.astype(str)))
    settings_in = manifest.get("settings", {})
    net_in = inputs.get("network")
    network: Any = None
    network_crs = None
    if net_in and net_in.get("path"):
        network, network_crs = net_in["path"], net_in.get("crs")
    rules_in = inputs.get("rules") or {}
    layout_in = inputs.get("layout")
    # the new registry (every other layer of the file kept) and the history copy, staged
    token = os.urandom(6).hex()
    reg_stage = reg_path.with_name(f".{reg_path.stem}.siting-stage-{token}{reg_path.suffix}")
    hist_stage = history_dir / f".siting-stage-{token}{reg_path.suffix}"
    try:
        registry.write(merged, reg_stage, layer=layer, extra_layers=_other_layers(reg_path, layer))
        shutil.copy2(reg_path, hist_stage)
        prepared = _prepare(
            reg,
            out=out_dir,
            facilities=reg_stage,
            network=network,
            network_crs=network_crs,
            rules=rules_in.get("path"),
            capacity=bool(settings_in.get("capacity", False)),
            thresholds_min=settings_in.get("thresholds_min", (15.0, 30.0)),
            service_area_kinds=settings_in.get("service_area_kinds") or None,
            layout=(
                layout_in.get("source")
                if layout_in and layout_in.get("source") != "mapping"
                else None
            )
            if layout_in
            else None,
            seed=settings_in.get("seed"),
            progress=progress,
            maps=bool(settings_in.get("maps", True)),
            basemap=str(settings_in.get("basemap", "amap")),
            patrol_plan=bool(settings_in.get("patrol_plan", True)),
            recommend_p=settings_in.get("recommend_p"),
            recommend_kind=str(settings_in.get("recommend_kind", "health_center")),
            _previous=state,
        )
        new_sha = sha256_file(reg_stage)
        result = prepared.result
        result.manifest["inputs"]["facilities"]["path"] = str(reg_path)
        diff = _diff(old, result, added)
        prepared.writers["diff.csv"] = _csv(diff)
        prepared.writers["diff.md"] = _text(_diff_md(diff, added, result.summary))
        result.manifest["files"] = sorted([*prepared.writers, "manifest.json"])
        result.manifest["update"] = {
            "add": str(add) if not isinstance(add, pd.DataFrame) else "<frame>",
            "add_sha256": add_sha,
            "registry": str(reg_path),
            "registry_sha256_before": reg_sha,
            "registry_sha256": new_sha,
            "added_ids": [str(i) for i in added.index],
            "warnings": reader_warnings(new_rows),
        }
        fault_point("update:staged")
        result = _commit(
            folder,
            prepared,
            extra=(
                KeepNumbered(str(hist_stage), str(history_dir), reg_path.stem, reg_path.suffix),
                Replace(str(reg_stage), str(reg_path), reg_sha, new_sha),
            ),
        )
    finally:
        if not (out_dir / JOURNAL).exists():  # a pending commit still needs its staged files
            reg_stage.unlink(missing_ok=True)
            hist_stage.unlink(missing_ok=True)
    history = result.kept[0] if result.kept else None
    return UpdateResult(run=result, added=added, diff=diff, history=history, registry=reg_path)
