"""The context of a run under way: its options, what it read, and what each step computed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from siting.pipeline.result import _Clock, _State

if TYPE_CHECKING:
    from siting.graph import GraphArrays
    from siting.layout import Layout
    from siting.pairing import Rules
    from siting.patrol import PatrolPlan
    from siting.regions import Region


@dataclass
class _Context:
    """A run under way: each step of :func:`siting.pipeline.run` reads and fills it."""

    # --- the options of the run
    capacity: bool
    thresholds: tuple[float, ...]
    service_area_kinds: Sequence[str] | None
    service_area_mode: str
    layout_spec: Any
    seed: int | None
    progress: bool
    maps: bool
    basemap: str
    patrol_plan: bool
    patrol_options: dict[str, Any]
    recommend_p: int | None
    recommend_kind: str
    home_ids: set[str] | None
    previous: _State | None
    clock: _Clock
    started: dt.datetime
    # --- the inputs read (recorded in the manifest's ``inputs``)
    inputs: dict[str, Any]
    reg: Region | None
    fac: gpd.GeoDataFrame
    roads: Any
    data_source: str
    network_source: str
    rs: Rules
    # --- what the steps compute
    own: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    plan: Layout | None = None
    net: GraphArrays | None = None
    details: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, pd.DataFrame] = field(default_factory=dict)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    patrols: PatrolPlan | None = None
    fac_tags: pd.Series | None = None
    not_computed: list[dict[str, str]] = field(default_factory=list)
    no_partner_rules: list[str] = field(default_factory=list)
    village_near: pd.DataFrame | None = None
    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)
    cov: pd.DataFrame | None = None
    access: pd.DataFrame | None = None
    areas: gpd.GeoDataFrame | None = None
    #: the service areas under way in a child process (siting._fork), until collected
    areas_job: Any = None
    recommended: pd.DataFrame | None = None
    recommend_summary: dict[str, Any] = field(default_factory=dict)
    measured: pd.DataFrame | None = None
    layout_summary: pd.DataFrame | None = None
    labels: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def villages(self) -> gpd.GeoDataFrame | None:
        return self.reg.villages if self.reg is not None else None

    def skipped(self, output: str, zh: str, en: str) -> None:
        """Say that an output was not computed, and why (``summary.json``'s ``not_computed``)."""
        self.not_computed.append({"output": output, "reason_zh": zh, "reason": en})
