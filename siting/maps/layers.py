"""What a map shows: :class:`MapLayers` (the in-memory layers of a run, or given ones), checked
and brought to WGS84."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import pandas as pd

from siting import settings
from siting._errors import MapError
from siting.maps.style import _ESTIMATE_NOTICE, _MODELLED_NOTICE

if TYPE_CHECKING:
    from siting.layout import Layout
    from siting.regions import Region

# --- inputs --------------------------------------------------------------------------------------


@dataclass
class MapLayers:
    """The layers a map draws, in memory, in any CRS (brought to WGS84 when drawn).

    A run gives its own (``RunResult.map_layers()``); :func:`~siting.maps.meeting_map` and
    :func:`~siting.maps.static_map` take either, and their keyword arguments override a part.
    """

    #: The facility registry (name, kind, geometry, with a CRS).
    facilities: gpd.GeoDataFrame | None = None
    #: The region: county boundaries and outline.
    region: Region | None = None
    #: The planned layout (a :class:`siting.layout.Layout` or its elements).
    layout: Layout | gpd.GeoDataFrame | None = None
    pairings: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    service_areas: gpd.GeoDataFrame | None = None
    #: Patrol routes (LineStrings).
    patrol_routes: gpd.GeoDataFrame | None = None
    #: Recommended sites (points, or a DataFrame with ``lon``/``lat`` in WGS84).
    recommendations: gpd.GeoDataFrame | pd.DataFrame | None = None
    #: Where the data came from (``summary.json``'s ``data``: facilities, network, villages ...);
    #: a straight-line network means travel times are estimates.
    data: Mapping[str, Any] = field(default_factory=dict)


class HasMapLayers(Protocol):
    """Anything with ``map_layers()``, as :class:`siting.pipeline.RunResult` (duck typing: the
    maps never import the pipeline)."""

    def map_layers(self) -> MapLayers: ...


@dataclass
class _Parts:
    """Everything a map shows, in WGS84."""

    facilities: gpd.GeoDataFrame
    region: Region | None = None
    layout: gpd.GeoDataFrame | None = None
    pairings: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    service_areas: gpd.GeoDataFrame | None = None
    patrol_routes: gpd.GeoDataFrame | None = None
    recommendations: gpd.GeoDataFrame | None = None
    data: dict[str, str] = field(default_factory=dict)

    @property
    def counties(self) -> gpd.GeoDataFrame | None:
        return None if self.region is None else self.region.counties

    @property
    def straight_line(self) -> bool:
        """Whether travel times shown are straight-line estimates (no road network)."""
        if "straight" in str(self.data.get("network", "")):
            return True
        pairs = self.pairings
        return bool(
            pairs is not None and "method" in pairs and (pairs["method"] == "straight_line").any()
        )

    def metric_crs(self) -> str:
        """The UTM zone of the area shown (its centre), where the static map is drawn."""
        from siting.crs import metric_crs

        if self.region is not None:
            return str(metric_crs(self.region.outline.centroid).to_string())
        pts = self.facilities.geometry.to_crs(4326)
        pts = pts[pts.notna() & ~pts.is_empty]
        if pts.empty:
            return str(settings.metric_crs)
        return str(metric_crs(pts.union_all().centroid).to_string())

    def notice_heading(self) -> str:
        """The notice's heading: modelled data, or (real data) estimated travel times only."""
        only_estimates = self.straight_line and len(self.modelled()) == 1
        return _ESTIMATE_NOTICE if only_estimates else _MODELLED_NOTICE

    def modelled(self) -> list[str]:
        """What is modelled among the parts shown, in Chinese (empty: nothing)."""
        out = []
        src = self.facilities.get("source")
        if src is not None and (src.astype("string") == "modelled").any():
            out.append("机构名录与床位为模拟数据(按公开统计数生成的示意点位)")
        net = str(self.data.get("network", ""))
        if "modelled" in net:
            out.append("路网为模拟路网，车程与服务范围为估算")
        elif self.straight_line:
            out.append(
                f"车程为直线距离估算（直线距离×{settings.detour_factor:g}，按"
                f"{settings.straight_line_speed_kph:g}公里/小时），非路网实测；服务范围为圆形示意"
            )
        gap_types = set() if self.gaps is None else set(self.gaps.get("gap_type", []))
        if "modelled" in str(self.data.get("villages", "")) and "village" in gap_types:
            out.append("村点位与老年人口为模拟分布")
        if self.layout is not None and not self.layout.empty:
            mod = self.layout.get("modelled", pd.Series(False, index=self.layout.index))
            qual = self.layout.get("location_quality", pd.Series("", index=self.layout.index))
            if mod.fillna(False).astype(bool).any() or qual.isin(["approximate", "unknown"]).any():
                out.append("规划布局范围为示意(按规划文字描述生成，部分位置未知)")
        for frame, what in ((self.patrol_routes, "巡诊路线"), (self.recommendations, "建议选址")):
            if frame is not None and _frame_is_modelled(frame):
                out.append(f"{what}基于模拟数据计算")
        return out


def _default_title(parts: _Parts) -> str:
    name = parts.region.name if parts.region is not None else ""
    return f"{name}医养结合布局图"


def _frame_is_modelled(frame: pd.DataFrame) -> bool:
    for col in ("modelled", "source", "data_source", "network_source"):
        if col not in frame.columns:
            continue
        values = frame[col]
        if col == "modelled":
            if values.fillna(False).astype(bool).any():
                return True
        elif values.astype("string").str.contains("modelled", na=False).any():
            return True
    return False


def _as_points(frame: Any, what: str) -> gpd.GeoDataFrame:
    """A GeoDataFrame of points in WGS84 from a GeoDataFrame or a frame with lon/lat."""
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.crs is None:
            msg = f"{what}: the GeoDataFrame has no CRS; set one (e.g. .set_crs('EPSG:4326'))"
            raise MapError(msg)
        return frame.to_crs(4326)
    if isinstance(frame, pd.DataFrame):
        for lon, lat in (("lon", "lat"), ("longitude", "latitude"), ("经度", "纬度"), ("x", "y")):
            if lon in frame.columns and lat in frame.columns:
                pts = gpd.points_from_xy(
                    pd.to_numeric(frame[lon], errors="coerce"),
                    pd.to_numeric(frame[lat], errors="coerce"),
                )
                return gpd.GeoDataFrame(frame.copy(), geometry=pts, crs=4326)
        msg = f"{what}: a DataFrame needs lon/lat columns (WGS84), got {list(frame.columns)}"
        raise MapError(msg)
    msg = f"{what} must be a GeoDataFrame or a DataFrame with lon/lat, got {type(frame).__name__}"
    raise MapError(msg)


def _as_lines(frame: Any, what: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame of LineStrings, got {type(frame).__name__}"
        raise MapError(msg)
    if frame.crs is None:
        msg = f"{what}: the GeoDataFrame has no CRS; set one (e.g. .set_crs('EPSG:4326'))"
        raise MapError(msg)
    types = set(frame.geometry.dropna().geom_type)
    if not types <= {"LineString", "MultiLineString"}:
        msg = f"{what}: geometries must be LineStrings, got {sorted(types)}"
        raise MapError(msg)
    return frame.to_crs(4326)


def _gather(
    run: HasMapLayers | MapLayers | None,
    region: Region | str | None,
    facilities: gpd.GeoDataFrame | None,
    layout: Layout | gpd.GeoDataFrame | str | None,
    patrol_routes: Any,
    recommendations: Any,
    *,
    pairings: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    service_areas: gpd.GeoDataFrame | None = None,
    data: Mapping[str, Any] | None = None,
) -> _Parts:
    """The parts of a map: the arguments given, else the layers of ``run``, checked, in WGS84."""
    from siting import modelled, regions

    base = MapLayers() if run is None else run if isinstance(run, MapLayers) else run.map_layers()
    reg: Region | None
    if isinstance(region, str):
        reg = regions.load(region)
    else:
        reg = region if region is not None else base.region
    if facilities is None:
        facilities = base.facilities
    if facilities is None:
        if reg is not None and not callable(getattr(run, "map_layers", None)):
            facilities = modelled.registry_for(reg)
        else:
            msg = (
                "facilities: the run used a facility file; pass its registry "
                "(facilities=siting.registry.read(path)) to draw the map"
            )
            raise MapError(msg)
    if not isinstance(facilities, gpd.GeoDataFrame) or facilities.crs is None:
        msg = "facilities must be a registry GeoDataFrame with a CRS (siting.registry.read)"
        raise MapError(msg)
    for col in ("name", "kind"):
        if col not in facilities.columns:
            msg = f"facilities: column {col!r} is missing (a registry has name, kind, geometry)"
            raise MapError(msg)
    fac = facilities.to_crs(4326)
    if layout is None:
        layout = base.layout
    plan: gpd.GeoDataFrame | None
    if isinstance(layout, str):
        from siting import layout as layouts

        plan = layouts.load(layout, reg).elements
    elif isinstance(layout, gpd.GeoDataFrame):
        plan = layout
    elif layout is not None:
        plan = layout.elements
    else:
        plan = None
    if plan is not None:
        plan = plan.to_crs(4326)
    areas = service_areas if service_areas is not None else base.service_areas
    routes = patrol_routes if patrol_routes is not None else base.patrol_routes
    sites = recommendations if recommendations is not None else base.recommendations
    return _Parts(
        facilities=fac,
        region=reg,
        layout=plan,
        pairings=pairings if pairings is not None else base.pairings,
        gaps=gaps if gaps is not None else base.gaps,
        service_areas=None if areas is None else areas.to_crs(4326),
        patrol_routes=None if routes is None else _as_lines(routes, "patrol_routes"),
        recommendations=None if sites is None else _as_points(sites, "recommendations"),
        data={str(k): str(v) for k, v in (data if data is not None else base.data).items()},
    )
