"""What a run produces and carries along: the output columns and files, :class:`RunResult`
(with its map layers), the state an update starts from and the step clock."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import (
    _log,
    pairing,
)
from siting.kinds import CLINIC_KINDS

if TYPE_CHECKING:
    from siting.layout import Layout
    from siting.maps import MapLayers
    from siting.regions import Region

#: Columns of ``pairings.csv``.
PAIRING_OUTPUT_COLUMNS: Final = (*pairing.COLUMNS, "data_source", "network_source")

#: Columns of ``gaps.csv``.
GAP_COLUMNS: Final = (
    "gap_type",
    "rule",
    "tier",
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
#: The medical kinds a village's coverage counts (:data:`siting.kinds.CLINIC_KINDS`: integrated
#: care centres excluded, unlike :data:`siting.kinds.MEDICAL_KINDS`); the old name, kept.
MEDICAL_KINDS: Final = CLINIC_KINDS

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
    #: The region of the run (counties, villages), if any.
    region: Region | None = None
    #: The planned layout whose elements tag the facilities and villages, if any.
    layout: Layout | None = None
    #: The planned patrol routes (one line per route and day), if any.
    patrol_routes: gpd.GeoDataFrame | None = None
    #: The recommended new sites, if any.
    recommendations: pd.DataFrame | None = None

    def map_layers(self) -> MapLayers:
        """The layers the maps draw, from memory (:class:`siting.maps.MapLayers`): the region,
        the facilities read, the layout, pairings, gaps, service areas, each distinct patrol
        route once, the recommendations and where the data came from (``summary["data"]``)."""
        from siting.maps import MapLayers

        routes = self.patrol_routes
        return MapLayers(
            facilities=self.facilities,
            region=self.region,
            layout=self.layout,
            pairings=self.pairings,
            gaps=self.gaps,
            service_areas=self.service_areas,
            patrol_routes=None if routes is None else _distinct_routes(routes),
            recommendations=self.recommendations,
            data=dict(self.summary.get("data", {})),
        )


@dataclass
class _Prepared:
    """A computed run and the functions writing its files, not yet written."""

    result: RunResult
    writers: dict[str, Callable[[Path], None]]
    clock: _Clock


#: Hidden folder of a run with the exact search results :func:`update` starts from.
STATE_DIR: Final = ".state"
#: File in :data:`STATE_DIR` with the patrol plan's per-clinic results (a pickle).
PATROL_MEMO: Final = "patrol_memo.pkl"


@dataclass
class _State:
    """What an update starts from: the earlier exact searches and the added facility ids."""

    added: set[str]
    pairs: dict[str, pd.DataFrame]
    villages: pd.DataFrame | None
    service_areas: gpd.GeoDataFrame | None
    #: the earlier patrol plan's per-clinic results (:func:`siting.patrol.plan` ``memo=``)
    patrol_memo: Any = None


class _Clock:
    def __init__(self, progress: bool) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def step(self, name: str, label: str) -> Iterator[None]:
        if self.progress:
            _log.info(f"{label} ...")
        t = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t, 3)


def _distinct_routes(routes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One line per distinct route of a clinic's doctor (a weekly route is driven four times in
    a 4-week horizon: drawn once, with the days it is driven), for a lighter map."""
    if routes.empty:
        return routes
    key = routes["clinic_id"].astype(str) + "|" + routes["doctor"].astype(str) + "|"
    key = key + pd.Series(shapely.to_wkb(routes.geometry.array), index=routes.index).map(
        lambda b: hashlib.sha1(b).hexdigest()
    )
    driven: dict[str, list[str]] = {}  # the days of each distinct route, in row order
    weeks, weekdays = routes["week"].tolist(), routes["weekday"].tolist()
    for k, w, d in zip(key.tolist(), weeks, weekdays, strict=True):
        driven.setdefault(k, []).append(f"第{w}周{d}")
    first = routes.loc[~key.duplicated()].copy()
    first_keys = key[first.index].tolist()
    first["days"] = ["、".join(driven[k]) for k in first_keys]
    first["times_in_horizon"] = np.array([len(driven[k]) for k in first_keys], dtype=np.int64)
    return first.drop(columns=["day", "week", "weekday", "date"], errors="ignore")
