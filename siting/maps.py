"""Maps of a run: an interactive meeting map (one offline HTML file) and static report maps.

:func:`meeting_map` draws a run (:func:`siting.pipeline.run`) as a `folium`_ map in Chinese, with
a layer control (图层控制) to switch every layer on and off: county boundaries (县界), the
planned layout (规划布局), the facilities by kind (养老机构, 乡镇卫生院, 村卫生室, 医院 ...,
each with its colour and symbol and a popup giving name, kind, beds, partners and travel
times), the pairing lines from each facility to its assigned partner (配对连线, one layer per
rule), the coverage gaps (覆盖缺口), the service areas (服务范围), patrol routes (巡诊路线) and
recommended sites (建议选址). A legend, the title and, when anything shown is modelled, a
notice (模拟数据，仅供演示) are plain HTML boxes on the map.

The map is made for meeting rooms with no internet: :func:`save_html` writes **one
self-contained HTML file** whose JavaScript and CSS (Leaflet and Leaflet.markercluster, from the
``XStatic-Leaflet`` and ``XStatic-Leaflet-MarkerCluster`` packages) are inlined; nothing is
loaded from a CDN, there is no jQuery, Bootstrap or icon font. Only the basemap tiles need a
network, and without them the overlays still show. The basemap is chosen when the map is made:
``"none"``, ``"osm"`` (OpenStreetMap, WGS84) or ``"amap"`` (高德, GCJ-02): with Amap every
overlay is shifted from WGS84 to GCJ-02 (:func:`siting.crs.convert_gdf`) so that it lines up
with the tiles.

To keep the file small, points are clustered when a kind has many of them, polygons and lines are
simplified within ~50 m and coordinates are rounded to ~1 m (``siting/data/map_style.yaml``);
nothing is dropped. The full Nanchong map is about 5 MB.

:func:`static_map` draws the same data for printed reports (PNG or PDF by suffix) in the metric
CRS (:data:`siting.settings.metric_crs`) with Chinese text (the Noto Sans CJK font of Debian's
``fonts-noto-cjk``), a legend, a scale bar and a north arrow.

Colours, symbols and layer names are data: ``siting/data/map_style.yaml``.

.. _folium: https://python-visualization.github.io/folium/

Examples
--------
>>> import tempfile
>>> from siting import maps, pipeline
>>> out = tempfile.mkdtemp()
>>> run = pipeline.run("xuanhan", out=out, progress=False)
>>> m = maps.meeting_map(run, basemap="amap", title="宣汉县医养结合布局")
>>> path = maps.save_html(m, f"{out}/宣汉.html")
>>> png = maps.static_map(run, f"{out}/宣汉.png", title="宣汉县医养结合布局")
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from branca.element import Figure
from folium.map import Layer
from folium.template import Template

from siting import registry, settings
from siting._errors import MapError
from siting._io import atomic_path
from siting.crs import convert_gdf

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from siting.layout import Layout
    from siting.pipeline import RunResult
    from siting.regions import Region

__all__ = [
    "BASEMAPS",
    "CJK_FONT_PATH",
    "FontWarning",
    "MapError",
    "cjk_font",
    "layer_names",
    "meeting_map",
    "remote_assets",
    "save_html",
    "static_map",
]


_STYLE_FILE: Final = Path(__file__).resolve().parent / "data" / "map_style.yaml"


@cache
def _style() -> dict[str, Any]:
    with _STYLE_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


#: Basemaps of :func:`meeting_map`: ``"none"``, ``"osm"`` and ``"amap"``.
BASEMAPS: Final[tuple[str, ...]] = tuple(_style()["basemaps"])

#: The CJK font of Debian's ``fonts-noto-cjk`` used for static maps.
CJK_FONT_PATH: Final = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

#: Fonts looked for when :data:`CJK_FONT_PATH` is absent (installed under other names).
_CJK_FAMILIES: Final = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)

_ELEMENT_TYPES_ZH: Final = {
    "core": "核心",
    "wing": "翼",
    "belt": "发展带",
    "zone": "功能区",
    "point": "节点",
}
_QUALITY_ZH: Final = {
    "surveyed": "实测",
    "reference": "参考点位",
    "approximate": "大致位置",
    "unknown": "位置未知(占位)",
    "modelled": "模拟",
    "imputed": "推算",
}
_SOURCE_ZH: Final = {"modelled": "模拟数据", "surveyed": "实测", "user": "用户提供"}
_COLUMN_ZH: Final = {
    "name": "名称",
    "kind": "类型",
    "beds": "床位",
    "capacity": "容量",
    "level": "等级",
    "score": "评分",
    "rank": "排序",
    "reason": "理由",
    "note": "备注",
    "minutes": "分钟",
    "route_id": "路线",
    "vehicle": "车辆",
    "stops": "停靠点",
    "duration_min": "用时(分钟)",
    "distance_km": "里程(公里)",
    "travel_time_min": "车程(分钟)",
    "covered_pop": "覆盖人口",
    "pop_covered": "覆盖人口",
    "county_code": "区县代码",
    "township_code": "乡镇代码",
    "source": "数据来源",
}

_MODELLED_NOTICE: Final = "模拟数据，仅供演示，不代表真实情况"
#: The notice's heading when the only caveat is straight-line travel times (real data).
_ESTIMATE_NOTICE: Final = "车程为估算，请谨慎解读"


def layer_names() -> dict[str, str]:
    """The Chinese names of the map's layers (``siting/data/map_style.yaml``), by key.

    Facility layers are named by their kind's label (:func:`siting.registry.kind_label`) and
    pairing layers ``配对连线：<rule>``.

    Examples
    --------
    >>> layer_names()["gaps"]
    '覆盖缺口'
    """
    return dict(_style()["layers"])


# --- inputs --------------------------------------------------------------------------------------


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
    run: RunResult | None,
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
    from siting import modelled, regions

    manifest: Mapping[str, Any] = run.manifest if run is not None else {}
    inputs: Mapping[str, Any] = manifest.get("inputs", {}) or {}
    reg: Region | None
    if region is None and inputs.get("region"):
        info = inputs["region"]
        reg = regions.load(str(info["code"]), seed=info.get("seed"))
    elif isinstance(region, str):
        reg = regions.load(region)
    else:
        reg = region
    if facilities is None and run is not None and run.facilities is not None:
        facilities = run.facilities  # the registry the run read, kept in memory
    if facilities is None:
        fac_info = inputs.get("facilities") or {}
        if reg is not None and (run is None or "modelled_registry_of" in fac_info):
            seed = (inputs.get("region") or {}).get("seed")
            facilities = modelled.registry_for(reg, seed=seed)
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
    plan: gpd.GeoDataFrame | None
    if layout is None and run is not None and "layout.geojson" in run.files:
        path = Path(run.files["layout.geojson"])
        plan = gpd.read_file(path) if path.is_file() else None
    elif isinstance(layout, str):
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
    return _Parts(
        facilities=fac,
        region=reg,
        layout=plan,
        pairings=pairings if pairings is not None else (run.pairings if run else None),
        gaps=gaps if gaps is not None else (run.gaps if run else None),
        service_areas=(
            service_areas.to_crs(4326)
            if service_areas is not None
            else (run.service_areas if run is not None else None)
        ),
        patrol_routes=None if patrol_routes is None else _as_lines(patrol_routes, "patrol_routes"),
        recommendations=(
            None if recommendations is None else _as_points(recommendations, "recommendations")
        ),
        data={
            str(k): str(v)
            for k, v in (
                data if data is not None else (run.summary.get("data", {}) if run else {})
            ).items()
        },
    )


# --- small helpers -------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _minutes(value: Any) -> str:
    if _missing(value):
        return "不可达"
    v = float(value)
    return f"{v:.1f}分钟" if v < 10 else f"{v:.0f}分钟"


def _kind_label(kind: Any) -> str:
    try:
        return registry.kind_label(str(kind))
    except ValueError:
        return str(kind)


def _kind_style(kind: str) -> dict[str, Any]:
    st = _style()
    return {**st["default_kind"], **st["kinds"].get(kind, {})}


def _rule_short(rule_zh: str) -> str:
    """``签约医疗机构（乡镇卫生院/社区卫生服务中心）`` -> ``签约医疗机构``."""
    return re.split(r"[（(]", rule_zh, maxsplit=1)[0].strip() or rule_zh


def _rule_names(pairings: pd.DataFrame) -> dict[str, str]:
    names: dict[str, str] = {}
    for rule, group in pairings.groupby("rule", sort=False):
        zh = group["rule_zh"].dropna() if "rule_zh" in group else pd.Series(dtype=object)
        names[str(rule)] = _rule_short(str(zh.iloc[0])) if len(zh) else str(rule)
    return names


def _table(rows: Iterable[tuple[str, Any]], title: str | None = None) -> str:
    """A small HTML table (values escaped; empty values left out)."""
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v if isinstance(v, _Html) else _esc(v)}</td></tr>"
        for k, v in rows
        if not _missing(v) and str(v) != ""
    )
    head = f"<b>{_esc(title)}</b>" if title else ""
    return f'{head}<table class="siting-t">{cells}</table>'


class _Html(str):
    """A string already escaped for HTML."""

    __slots__ = ()


def _generic_rows(row: pd.Series, skip: Sequence[str] = ()) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for col, value in row.items():
        if col in skip or col == "geometry" or isinstance(value, shapely.Geometry):
            continue
        if isinstance(value, float) and not math.isnan(value):
            value = f"{value:.6g}"
        label = _COLUMN_ZH.get(str(col), str(col))
        if col == "kind":
            value = _kind_label(value)
        out.append((label, value))
    return out


# --- geometry for the HTML file ------------------------------------------------------------------


def _display(gdf: gpd.GeoDataFrame, shift: str, *, simplify: bool = False) -> gpd.GeoDataFrame:
    """``gdf`` in WGS84 shifted to the basemap's system, simplified and rounded for the file."""
    st = _style()
    out = gdf.to_crs(4326)
    out = out[out.geometry.notna() & ~out.geometry.is_empty]
    if shift != "wgs84":
        out = convert_gdf(out, src="wgs84", dst=shift)
    geoms = np.asarray(out.geometry.array)
    if simplify:
        geoms = shapely.simplify(geoms, float(st["html_simplify_deg"]), preserve_topology=True)
    decimals = int(st["html_decimals"])
    geoms = shapely.transform(geoms, lambda c: np.round(c, decimals))
    out = out.copy()
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=out.crs)
    return out


def _scale() -> float:
    return float(10 ** int(_style()["html_decimals"]))


def _encode_ring(coords: Any) -> list[int]:
    """A ring or line as integer deltas ``[x0, y0, dx1, dy1, ...]`` in units of the file's
    precision (decoded by ``_DECODE_JS``): about a quarter of the bytes of GeoJSON."""
    xy = np.rint(np.asarray(coords, dtype=float)[:, :2] * _scale()).astype(np.int64)
    xy[1:] -= xy[:-1].copy()
    out: list[int] = xy.ravel().tolist()
    return out


def _encode(geom: Any) -> dict[str, Any]:
    """GeoJSON geometry with delta-encoded lines and rings (points as they are)."""
    kind = geom.geom_type
    if kind == "LineString":
        coords: Any = _encode_ring(geom.coords)
    elif kind == "Polygon":
        coords = [_encode_ring(r.coords) for r in (geom.exterior, *geom.interiors)]
    elif kind == "MultiLineString":
        coords = [_encode_ring(g.coords) for g in geom.geoms]
    elif kind == "MultiPolygon":
        coords = [[_encode_ring(r.coords) for r in (g.exterior, *g.interiors)] for g in geom.geoms]
    elif kind == "GeometryCollection":
        return {"type": kind, "geometries": [_encode(g) for g in geom.geoms]}
    else:
        return dict(shapely.geometry.mapping(geom))
    return {"type": kind, "coordinates": coords}


_DECODE_JS: Final = """
function(g, k) {
    function ring(a) {
        var out = [], x = 0, y = 0;
        for (var i = 0; i < a.length; i += 2) {
            x += a[i]; y += a[i + 1]; out.push([x / k, y / k]);
        }
        return out;
    }
    function geom(g) {
        var t = g.type, c = g.coordinates;
        if (t === 'GeometryCollection') { g.geometries = g.geometries.map(geom); return g; }
        if (t === 'LineString') { c = ring(c); }
        else if (t === 'Polygon' || t === 'MultiLineString') { c = c.map(ring); }
        else if (t === 'MultiPolygon') { c = c.map(function(p) { return p.map(ring); }); }
        g.coordinates = c;
        return g;
    }
    return geom(g);
}
"""


def _features(
    gdf: gpd.GeoDataFrame, props: Callable[[Any, pd.Series], dict[str, Any]]
) -> dict[str, Any]:
    feats = []
    for idx, row in gdf.iterrows():
        feats.append(
            {
                "type": "Feature",
                "properties": props(idx, row),
                "geometry": _encode(row[gdf.geometry.name]),
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def _js(obj: Any) -> str:
    """JSON for inlining in a ``<script>``: UTF-8 (not escaped), safe against ``</script>``."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("</", "<\\/").replace("<!--", "\\u003c!--")
    return re.sub(r"<(script)", r"\\u003c\1", text, flags=re.IGNORECASE)


# --- folium layers -------------------------------------------------------------------------------


class _VectorLayer(Layer):
    """Lines or polygons from a compact GeoJSON: style by ``properties.s`` (an index into
    ``styles``), tooltip ``properties.t`` and popup ``properties.p`` (HTML)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function() {
            var styles = {{ this.styles_js }};
            var decode = {{ this.decode_js }};
            var data = {{ this.data_js }};
            data.features.forEach(function(f) {
                f.geometry = decode(f.geometry, {{ this.scale }});
            });
            return L.geoJson(data, {
                style: function(f) { return styles[f.properties.s || 0]; },
                onEachFeature: function(f, layer) {
                    var p = f.properties;
                    if (p.t) { layer.bindTooltip(p.t, {sticky: true}); }
                    if (p.p) { layer.bindPopup(p.p, {maxWidth: 380}); }
                }
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: dict[str, Any],
        styles: Sequence[Mapping[str, Any]],
        *,
        name: str,
        show: bool = True,
    ) -> None:
        # Leaflet's layer control shows the name as HTML: a kind or a rule is text
        super().__init__(name=_esc(name), overlay=True, control=True, show=show)
        self._name = "SitingVectors"
        self.data_js = _js(data)
        self.styles_js = _js(list(styles))
        self.decode_js = _DECODE_JS.strip()
        self.scale = repr(_scale())
        self.n = len(data["features"])


class _PointLayer(Layer):
    """Points from compact rows ``[lat, lon, tooltip, popup]``: HTML (div) icons, clustered
    when ``cluster``, or circle markers when ``circle`` (a style dict) is given."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function() {
            var rows = {{ this.rows_js }};
            {%- if this.circle %}
            var style = {{ this.circle_js }};
            {%- else %}
            var icon = L.divIcon({{ this.icon_js }});
            {%- endif %}
            {%- if this.cluster %}
            var group = L.markerClusterGroup({
                maxClusterRadius: 45,
                disableClusteringAtZoom: {{ this.until_zoom }},
                spiderfyOnMaxZoom: false,
                showCoverageOnHover: false,
                chunkedLoading: true,
                iconCreateFunction: function(c) {
                    var n = c.getChildCount();
                    var s = n < 10 ? 24 : (n < 100 ? 30 : 36);
                    return L.divIcon({
                        html: '<div class="siting-cluster" style="background:{{ this.colour }};'
                            + 'width:' + s + 'px;height:' + s + 'px;line-height:' + s + 'px">'
                            + n + '</div>',
                        className: 'siting-cluster-icon', iconSize: L.point(s, s)});
                }
            });
            {%- else %}
            var group = L.featureGroup();
            {%- endif %}
            var markers = [];
            for (var i = 0; i < rows.length; i++) {
                var r = rows[i];
                {%- if this.circle %}
                var m = L.circleMarker([r[0], r[1]], style);
                {%- else %}
                var m = L.marker([r[0], r[1]], {icon: icon});
                {%- endif %}
                if (r[2]) { m.bindTooltip(r[2]); }
                if (r[3]) { m.bindPopup(r[3], {maxWidth: 380}); }
                markers.push(m);
            }
            {%- if this.cluster %}
            group.addLayers(markers);
            {%- else %}
            for (var j = 0; j < markers.length; j++) { group.addLayer(markers[j]); }
            {%- endif %}
            return group;
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        rows: list[list[Any]],
        *,
        name: str,
        colour: str,
        icon_html: str = "",
        size: int = 10,
        circle: Mapping[str, Any] | None = None,
        cluster: bool = False,
        until_zoom: int = 13,
        show: bool = True,
    ) -> None:
        # Leaflet's layer control shows the name as HTML: a kind or a rule is text
        super().__init__(name=_esc(name), overlay=True, control=True, show=show)
        self._name = "SitingPoints"
        self.rows_js = _js(rows)
        self.n = len(rows)
        self.colour = colour
        self.circle = circle is not None
        self.circle_js = _js(dict(circle or {}))
        self.icon_js = _js(
            {
                "html": icon_html,
                "className": "siting-marker",
                "iconSize": [size, size],
                "iconAnchor": [size / 2, size / 2],
            }
        )
        self.cluster = cluster
        self.until_zoom = int(until_zoom)


def _symbol_html(symbol: str, colour: str, size: int) -> str:
    return (
        f'<div class="siting-sym siting-{symbol}" '
        f'style="background:{colour};width:{size}px;height:{size}px"></div>'
    )


# --- offline assets ------------------------------------------------------------------------------

_ASSET_HINT: Final = (
    "the offline map needs Leaflet's files from the packages XStatic-Leaflet and "
    "XStatic-Leaflet-MarkerCluster: pip install XStatic-Leaflet XStatic-Leaflet-MarkerCluster"
)


def _asset(package: str, name: str) -> str:
    try:
        data = resources.files(package) / "data" / name
        return data.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as e:
        msg = f"{name} not found: {_ASSET_HINT}"
        raise MapError(msg) from e


def _leaflet_css() -> str:
    css = _asset("xstatic.pkg.leaflet", "leaflet.css")
    images = resources.files("xstatic.pkg.leaflet") / "data"

    def data_uri(match: re.Match[str]) -> str:
        raw = (images / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(raw).decode('ascii')})"

    return re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)


def _script(js: str) -> str:
    return "<script>" + re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE) + "</script>"


_MAP_CSS: Final = """
.siting-marker { background: none; border: none; }
.siting-sym { box-sizing: border-box; border: 1px solid #fff; box-shadow: 0 0 1px #000; }
.siting-circle { border-radius: 50%; }
.siting-square { border-radius: 1px; }
.siting-diamond { transform: rotate(45deg) scale(0.8); }
.siting-triangle { clip-path: polygon(50% 0, 100% 100%, 0 100%); border: none; box-shadow: none; }
.siting-star { clip-path: polygon(50% 0, 61% 35%, 98% 35%, 68% 57%, 79% 91%, 50% 70%,
  21% 91%, 32% 57%, 2% 35%, 39% 35%); border: none; box-shadow: none; }
.siting-cluster-icon { background: none; border: none; }
.siting-cluster { border-radius: 50%; color: #fff; font: bold 12px sans-serif; text-align: center;
  opacity: 0.85; border: 2px solid #fff; box-sizing: border-box; }
.siting-t th { text-align: left; padding-right: 8px; color: #555; font-weight: normal;
  white-space: nowrap; vertical-align: top; }
.siting-t td { vertical-align: top; }
.siting-box { position: fixed; z-index: 1000; background: rgba(255,255,255,0.93);
  border-radius: 4px; box-shadow: 0 1px 5px rgba(0,0,0,0.4); font: 13px/1.4 "Noto Sans CJK SC",
  "Microsoft YaHei", "PingFang SC", sans-serif; }
.siting-title { top: 10px; left: 50%; transform: translateX(-50%); padding: 6px 14px;
  font-size: 18px; font-weight: bold; }
.siting-notice { bottom: 52px; left: 10px; max-width: 420px; padding: 6px 10px;
  background: #fff3cd; border: 2px solid #d39e00; color: #6b4a00; }
.siting-legend { bottom: 22px; right: 10px; max-height: 45vh; overflow-y: auto; padding: 6px 10px; }
.siting-legend .row { display: flex; align-items: center; gap: 6px; white-space: nowrap; }
.siting-legend .key { width: 18px; display: flex; justify-content: center; align-items: center; }
.siting-legend .line { width: 18px; height: 0; border-top: 3px solid; }
.siting-legend .area { width: 16px; height: 11px; border: 1px solid; }
.leaflet-control-layers { font: 13px/1.5 "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
"""


def _figure(m: folium.Map) -> Figure:
    root = m.get_root()
    if not isinstance(root, Figure):  # folium.Map always sits in a Figure
        msg = "the map is not in a branca Figure"
        raise MapError(msg)
    return root


def _add_offline_assets(m: folium.Map, *, cluster: bool) -> None:
    """Inline Leaflet (and Leaflet.markercluster) into the map's page; drop every CDN link."""
    m.default_js = []
    m.default_css = []
    header = _figure(m).header
    header.add_child(folium.Element(f"<style>{_leaflet_css()}</style>"), name="leaflet_css")
    header.add_child(
        folium.Element(_script(_asset("xstatic.pkg.leaflet", "leaflet.js"))), name="leaflet_js"
    )
    if cluster:
        pkg = "xstatic.pkg.leaflet_markercluster"
        css = _asset(pkg, "MarkerCluster.css") + _asset(pkg, "MarkerCluster.Default.css")
        header.add_child(folium.Element(f"<style>{css}</style>"), name="markercluster_css")
        header.add_child(
            folium.Element(_script(_asset(pkg, "leaflet.markercluster.js"))),
            name="markercluster_js",
        )
    header.add_child(folium.Element(f"<style>{_MAP_CSS}</style>"), name="siting_css")


_REMOTE: Final = re.compile(
    r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+|"
    r"<link[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+",
    re.IGNORECASE,
)


def remote_assets(page: str) -> list[str]:
    """Script and style sheet links of an HTML page that would need the network."""
    return [m.group(0) for m in _REMOTE.finditer(page)]


# --- the meeting map -----------------------------------------------------------------------------


def _grouped(
    frame: pd.DataFrame, key: str, columns: Sequence[str]
) -> dict[Any, list[dict[str, Any]]]:
    """Rows of ``frame`` as dicts, grouped by ``key`` in order (faster than a pandas groupby
    over thousands of small groups)."""
    cols = [c for c in dict.fromkeys([key, *columns]) if c in frame.columns]
    out: dict[Any, list[dict[str, Any]]] = {}
    records = cast("list[dict[str, Any]]", frame[cols].to_dict("records"))
    for rec in records:
        out.setdefault(rec[key], []).append(rec)
    return out


def _facility_popups(parts: _Parts) -> tuple[dict[Any, str], dict[Any, str]]:
    """Per facility id: the partner lines (HTML) and the 'partner of' line."""
    partners: dict[Any, str] = {}
    served: dict[Any, str] = {}
    pairs = parts.pairings
    if pairs is None or pairs.empty or "assigned" not in pairs:
        return partners, served
    names = _rule_names(pairs)
    chosen = pairs[pairs["assigned"].fillna(False).astype(bool)]
    cols = ["rule", "partner_name", "travel_time_min", "within_threshold"]
    for fid, recs in _grouped(chosen, "facility_id", cols).items():
        lines = []
        for r in recs:
            ok = r.get("within_threshold", True)
            mark = "" if _missing(ok) or bool(ok) else " ⚠超出时限"
            lines.append(
                f"{_esc(names.get(str(r['rule']), r['rule']))}：{_esc(r['partner_name'])}"
                f"(车程{_minutes(r['travel_time_min'])}){mark}"
            )
        partners[fid] = "<br>".join(lines)
    for pid, recs in _grouped(chosen, "partner_id", ["rule"]).items():
        counts: dict[str, int] = {}
        for r in recs:
            counts[str(r["rule"])] = counts.get(str(r["rule"]), 0) + 1
        served[pid] = "；".join(f"{_esc(names.get(k, k))} {v}家" for k, v in counts.items())
    return partners, served


def _facility_layers(m: folium.Map, parts: _Parts, fac: gpd.GeoDataFrame) -> bool:
    st = _style()
    partners, served = _facility_popups(parts)
    any_cluster = False
    gap_ids: set[Any] = set()
    if parts.gaps is not None and "gap_type" in parts.gaps:
        gap_ids = set(parts.gaps.loc[parts.gaps["gap_type"] == "facility", "facility_id"])
    kinds = [k for k in registry.KINDS if k in set(fac["kind"])]
    kinds += sorted(set(fac["kind"].dropna().astype(str)) - set(kinds))
    for kind in kinds:
        sub = fac[fac["kind"] == kind]
        ks = _kind_style(kind)
        label = _kind_label(kind)
        rows = []
        for fid, r in zip(sub.index, sub.itertuples(index=False), strict=True):
            geom = r.geometry
            info: list[tuple[str, Any]] = [("类型", label)]
            for col, lab in (("beds", "床位"), ("level", "等级"), ("capacity", "容量")):
                val = getattr(r, col, None)
                info.append((lab, None if _missing(val) else val))
            if fid in partners:
                info.append(("配对机构", _Html(partners[fid])))
            if fid in served:
                info.append(("服务对象", _Html(served[fid])))
            if fid in gap_ids:
                info.append(("覆盖缺口", "是(见覆盖缺口图层)"))
            src = getattr(r, "source", None)
            info.append(("数据来源", _SOURCE_ZH.get(str(src), src)))
            loc = getattr(r, "location", None)
            info.append(("位置", None if _missing(loc) else _QUALITY_ZH.get(str(loc), loc)))
            info.append(("编号", fid))
            rows.append([geom.y, geom.x, _esc(r.name), _table(info, str(r.name))])
        cluster = len(rows) > int(st["cluster_above"])
        any_cluster |= cluster
        size = int(ks["size"])
        m.add_child(
            _PointLayer(
                rows,
                name=f"{label} ({len(rows)})",
                colour=str(ks["colour"]),
                icon_html=_symbol_html(str(ks["symbol"]), str(ks["colour"]), size),
                size=size,
                cluster=cluster,
                until_zoom=int(st["cluster_until_zoom"]),
            )
        )
    return any_cluster


def _pairing_layers(m: folium.Map, parts: _Parts, fac: gpd.GeoDataFrame) -> list[str]:
    st = _style()
    pairs = parts.pairings
    if pairs is None or pairs.empty or "assigned" not in pairs:
        return []
    names = _rule_names(pairs)
    chosen = pairs[pairs["assigned"].fillna(False).astype(bool) & pairs["partner_id"].notna()]
    chosen = chosen[chosen["facility_id"].isin(fac.index) & chosen["partner_id"].isin(fac.index)]
    xy = {fid: (g.x, g.y) for fid, g in zip(fac.index, fac.geometry, strict=True)}
    shown = []
    layer = st["layers"]["pairings"]
    for rule, group in chosen.groupby("rule", sort=False):
        colour = st["pairing_lines"].get(str(rule), st["pairing_lines"]["default"])
        styles = [
            {"color": colour, "weight": 1.5, "opacity": 0.7},
            {
                "color": st["pairing_beyond_threshold"],
                "weight": 2,
                "opacity": 0.9,
                "dashArray": "5 4",
            },
        ]
        feats = []
        for r in group.itertuples(index=False):
            a, b = xy[r.facility_id], xy[r.partner_id]
            within = bool(r.within_threshold) if not _missing(r.within_threshold) else True
            tip = f"{_esc(r.facility_name)} → {_esc(r.partner_name)}："
            tip += f"车程{_minutes(r.travel_time_min)}"
            if not _missing(r.distance_km):
                tip += f"，{r.distance_km:.1f}公里"
            if not within and not _missing(r.threshold_min):
                tip += f"<br>⚠ 超出{r.threshold_min:g}分钟时限"
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"s": 0 if within else 1, "t": tip},
                    "geometry": _encode(shapely.LineString([a, b])),
                }
            )
        name = f"{layer}：{names[str(rule)]}"
        m.add_child(
            _VectorLayer({"type": "FeatureCollection", "features": feats}, styles, name=name)
        )
        shown.append(str(rule))
    return shown


def _gap_layer(m: folium.Map, parts: _Parts, fac: gpd.GeoDataFrame, shift: str) -> int:
    st = _style()
    gaps = parts.gaps
    if gaps is None or gaps.empty or "gap_type" not in gaps:
        return 0
    rows: list[list[Any]] = []
    names = _rule_names(parts.pairings) if parts.pairings is not None else {}
    fgaps = gaps[(gaps["gap_type"] == "facility") & gaps["facility_id"].isin(fac.index)]
    xy = dict(zip(fac.index, zip(fac.geometry.y, fac.geometry.x, strict=True), strict=True))
    cols = ["rule", "reason", "facility_name", "facility_kind"]
    for fid, recs in _grouped(fgaps, "facility_id", cols).items():
        first = recs[0]
        lines = "<br>".join(
            f"{_esc(names.get(str(r['rule']), r['rule']))}：{_esc(r['reason'])}" for r in recs
        )
        pop = _table(
            [
                ("机构", first["facility_name"]),
                ("类型", _kind_label(first["facility_kind"])),
                ("缺口", _Html(lines)),
            ],
            "覆盖缺口",
        )
        rows.append([*xy[fid], f"覆盖缺口：{_esc(first['facility_name'])}", pop])
    vgaps = gaps[gaps["gap_type"] == "village"]
    if not vgaps.empty and parts.region is not None:
        villages = parts.region.villages.to_crs(4326)
        if shift != "wgs84":
            villages = convert_gdf(villages, src="wgs84", dst=shift)
        vxy = dict(
            zip(
                villages.index,
                zip(villages.geometry.y, villages.geometry.x, strict=True),
                strict=True,
            )
        )
        vgaps = vgaps[vgaps["village_code"].isin(villages.index)]
        cols = [
            "village_name",
            "nearest_partner_name",
            "travel_time_min",
            "threshold_min",
            "reason",
        ]
        for code, recs in _grouped(vgaps, "village_code", cols).items():
            recs = sorted(recs, key=lambda r: float(r["threshold_min"]))
            first = recs[0]
            pop = _table(
                [
                    ("村/社区", first["village_name"]),
                    ("最近医疗机构", first["nearest_partner_name"]),
                    ("车程", _minutes(first["travel_time_min"])),
                    ("超出时限", "、".join(f"{float(r['threshold_min']):g}分钟" for r in recs)),
                    ("说明", first["reason"]),
                ],
                "覆盖缺口(村)",
            )
            rows.append([*vxy[code], f"覆盖缺口：{_esc(first['village_name'])}", pop])
    if not rows:
        return 0
    colour = str(st["gaps"]["colour"])
    circle = {
        "radius": int(st["gaps"]["radius"]),
        "color": colour,
        "weight": 1.5,
        "fillColor": colour,
        "fillOpacity": 0.08,
    }
    m.add_child(
        _PointLayer(
            rows, name=f"{st['layers']['gaps']} ({len(rows)})", colour=colour, circle=circle
        )
    )
    return len(rows)


def _polygon_layers(m: folium.Map, parts: _Parts, shift: str) -> dict[str, Any]:
    st = _style()
    shown: dict[str, Any] = {}
    if parts.counties is not None:
        counties = _display(parts.counties, shift, simplify=True)
        c = st["counties"]
        data = _features(counties, lambda idx, r: {"t": _esc(r.get("name", idx))})
        style = {"color": c["colour"], "weight": c["weight"], "dashArray": c["dash"], "fill": False}
        m.add_child(_VectorLayer(data, [style], name=st["layers"]["counties"]))
        shown["counties"] = True
    if parts.layout is not None and not parts.layout.empty:
        plan = _display(parts.layout, shift, simplify=True)
        types = list(st["layout_types"])
        styles = [
            {
                "color": st["layout_types"][t],
                "weight": 2,
                "dashArray": "4 3",
                "fillColor": st["layout_types"][t],
                "fillOpacity": 0.12,
            }
            for t in types
        ]

        def layout_props(idx: Any, r: pd.Series) -> dict[str, Any]:
            t = str(r.get("element_type", ""))
            q = str(r.get("location_quality", ""))
            rows = [
                ("类型", _ELEMENT_TYPES_ZH.get(t, t)),
                ("位置", _QUALITY_ZH.get(q, q)),
                ("范围", "示意(模拟)" if bool(r.get("modelled", False)) else "按边界"),
                ("功能", r.get("functions")),
                ("位置说明", r.get("location_note")),
            ]
            return {
                "s": types.index(t) if t in types else 0,
                "t": _esc(r.get("name", idx)),
                "p": _table(rows, str(r.get("name", idx))),
            }

        order = {t: i for i, t in enumerate(["core", "wing", "zone", "belt", "point"])}
        plan = plan.iloc[
            np.argsort([order.get(str(t), 9) for t in plan.get("element_type", [])], kind="stable")
        ]
        m.add_child(
            _VectorLayer(_features(plan, layout_props), styles, name=st["layers"]["layout"])
        )
        shown["layout"] = sorted(set(plan.get("element_type", [])) & set(types), key=types.index)
    sa = parts.service_areas
    if sa is not None and not sa.empty:
        areas = _display(sa, shift, simplify=True)
        straight = parts.straight_line
        colours = list(st["service_areas"])
        minutes = sorted(float(x) for x in areas["minutes"].unique())
        for i, mins in enumerate(minutes):
            sub = areas[areas["minutes"].astype(float) == mins]
            colour = colours[min(i, len(colours) - 1)]
            style = {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.12}

            def sa_props(idx: Any, r: pd.Series, mins: float = mins) -> dict[str, Any]:
                name = r.get("facility_name") or r.get("facility_id")
                area = r.get("area_km2")
                rows = [
                    ("机构", name),
                    ("车程", f"{mins:g}分钟以内" + ("（直线估算，圆形示意）" if straight else "")),
                    ("面积", None if _missing(area) else f"{float(str(area)):.1f}平方公里"),
                ]
                return {"t": f"{_esc(name)} {mins:g}分钟服务范围", "p": _table(rows, "服务范围")}

            name = f"{st['layers']['service_areas']} {mins:g}分钟" + (
                "(直线估算)" if straight else ""
            )
            m.add_child(_VectorLayer(_features(sub, sa_props), [style], name=name, show=i == 0))
        shown["straight"] = straight
        shown["service_areas"] = [(mins, colours[min(i, len(colours) - 1)]) for i, mins in
                                  enumerate(minutes)]  # fmt: skip
    return shown


def _extra_layers(m: folium.Map, parts: _Parts, shift: str) -> dict[str, bool]:
    st = _style()
    shown: dict[str, bool] = {}
    if parts.patrol_routes is not None and not parts.patrol_routes.empty:
        routes = _display(parts.patrol_routes, shift, simplify=True)
        p = st["patrol_routes"]

        def route_props(idx: Any, r: pd.Series) -> dict[str, Any]:
            name = next(
                (r[c] for c in ("name", "route_id", "vehicle") if c in r and not _missing(r[c])),
                idx,
            )
            return {"t": f"巡诊路线 {_esc(name)}", "p": _table(_generic_rows(r), "巡诊路线")}

        style = {"color": p["colour"], "weight": p["weight"], "opacity": 0.85}
        name = f"{st['layers']['patrol_routes']} ({len(routes)})"
        m.add_child(_VectorLayer(_features(routes, route_props), [style], name=name))
        shown["patrol_routes"] = True
    if parts.recommendations is not None and not parts.recommendations.empty:
        rec = _display(parts.recommendations, shift)
        rs = st["recommendations"]
        rows = []
        for n, (idx, r) in enumerate(rec.iterrows(), start=1):
            g = r[rec.geometry.name]
            label = next(
                (r[c] for c in ("name", "site_id", "id") if c in r and not _missing(r[c])), idx
            )
            rows.append(
                [g.y, g.x, f"建议选址 {n}：{_esc(label)}", _table(_generic_rows(r), "建议选址")]
            )
        size = int(rs["size"])
        m.add_child(
            _PointLayer(
                rows,
                name=f"{st['layers']['recommendations']} ({len(rows)})",
                colour=str(rs["colour"]),
                icon_html=(
                    f'<div class="siting-sym siting-star" style="background:{rs["colour"]};'
                    f'width:{size}px;height:{size}px;filter:drop-shadow(0 0 1px {rs["edge"]})">'
                    "</div>"
                ),
                size=size,
            )
        )
        shown["recommendations"] = True
    return shown


def _legend_html(
    fac: gpd.GeoDataFrame,
    rules: Mapping[str, str],
    polygons: Mapping[str, Any],
    extras: Mapping[str, bool],
    n_gaps: int,
) -> str:
    st = _style()
    rows: list[str] = ["<b>图例</b>"]

    def row(key: str, text: str) -> None:
        rows.append(f'<div class="row"><span class="key">{key}</span>{html.escape(text)}</div>')

    counts = fac["kind"].value_counts()
    for kind in [k for k in registry.KINDS if k in counts.index]:
        ks = _kind_style(kind)
        row(
            _symbol_html(str(ks["symbol"]), str(ks["colour"]), min(int(ks["size"]), 14)),
            f"{_kind_label(kind)} {int(counts[kind])}",
        )
    if polygons.get("counties"):
        c = st["counties"]
        row(f'<span class="line" style="border-top:2px dashed {c["colour"]}"></span>', "县界")
    for rule, name in rules.items():
        colour = st["pairing_lines"].get(rule, st["pairing_lines"]["default"])
        row(f'<span class="line" style="border-color:{colour}"></span>', f"配对：{name}")
    if rules:
        colour = st["pairing_beyond_threshold"]
        row(f'<span class="line" style="border-top:3px dashed {colour}"></span>', "配对超出时限")
    if n_gaps:
        colour = st["gaps"]["colour"]
        row(
            f'<span style="display:inline-block;width:14px;height:14px;border-radius:50%;'
            f'border:2.5px solid {colour};box-sizing:border-box"></span>',
            f"覆盖缺口 {n_gaps}",
        )
    for mins, colour in polygons.get("service_areas", []):
        row(
            f'<span class="area" style="background:{colour}33;border-color:{colour}"></span>',
            f"服务范围 {mins:g}分钟" + ("(直线估算)" if polygons.get("straight") else ""),
        )
    for t in polygons.get("layout", []):
        colour = st["layout_types"][t]
        row(
            f'<span class="area" style="background:{colour}22;border:1px dashed {colour}"></span>',
            f"规划布局：{_ELEMENT_TYPES_ZH.get(t, t)}",
        )
    if extras.get("patrol_routes"):
        colour = st["patrol_routes"]["colour"]
        row(f'<span class="line" style="border-color:{colour}"></span>', "巡诊路线")
    if extras.get("recommendations"):
        rs = st["recommendations"]
        row(
            f'<div class="siting-sym siting-star" style="background:{rs["colour"]};'
            f'width:16px;height:16px;filter:drop-shadow(0 0 1px {rs["edge"]})"></div>',
            "建议选址",
        )
    return f'<div class="siting-box siting-legend" id="siting-legend">{"".join(rows)}</div>'


def _default_title(parts: _Parts) -> str:
    name = parts.region.name if parts.region is not None else ""
    return f"{name}医养结合布局图"


def meeting_map(
    run: RunResult | None = None,
    region: Region | str | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    layout: Layout | gpd.GeoDataFrame | str | None = None,
    patrol_routes: gpd.GeoDataFrame | None = None,
    recommendations: gpd.GeoDataFrame | pd.DataFrame | None = None,
    *,
    pairings: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    service_areas: gpd.GeoDataFrame | None = None,
    basemap: str = "none",
    title: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> folium.Map:
    """One interactive map of a run, in Chinese, that works with no internet.

    Parameters
    ----------
    run
        The result of :func:`siting.pipeline.run` (pairings, gaps, service areas, and where
        it came from). ``None`` to draw only the parts given.
    region
        The region (its county boundaries and villages); default: the run's region.
    facilities
        The facility registry the run used; default: the modelled registry of the run's
        region (a run on a planner's facility file needs it given).
    layout
        The planned layout (a :class:`siting.layout.Layout`, its elements, or a spec name);
        default: the run's ``layout.geojson``.
    patrol_routes
        Patrol routes (LineStrings, any CRS), or ``None``.
    recommendations
        Recommended sites (points, or a DataFrame with ``lon``/``lat`` in WGS84), or ``None``.
    pairings, gaps, service_areas
        Tables overriding (or, without a run, giving) the run's.
    basemap
        ``"none"``, ``"osm"`` (OpenStreetMap) or ``"amap"`` (高德; overlays are shifted to
        GCJ-02 to line up with its tiles).
    title
        Title shown on the map (default ``<region>医养结合布局图``).

    Returns
    -------
    folium.Map
        The map; write it with :func:`save_html` (a ``Map.save`` also gives an offline file).

    Raises
    ------
    MapError
        If the basemap is unknown or the facilities cannot be found.

    Examples
    --------
    >>> import tempfile
    >>> from siting import maps, pipeline
    >>> run = pipeline.run("xuanhan", out=tempfile.mkdtemp(), progress=False)
    >>> m = maps.meeting_map(run, basemap="osm")
    >>> "县界" in m.get_root().render()
    True
    """
    st = _style()
    if basemap not in st["basemaps"]:
        msg = f"basemap must be one of {', '.join(BASEMAPS)}, got {basemap!r}"
        raise MapError(msg)
    base = st["basemaps"][basemap]
    shift = str(base.get("shift", "wgs84"))
    parts = _gather(
        run,
        region,
        facilities,
        layout,
        patrol_routes,
        recommendations,
        pairings=pairings,
        gaps=gaps,
        service_areas=service_areas,
        data=data,
    )
    fac = _display(parts.facilities, shift)
    outline = (
        parts.region.outline_gdf
        if parts.region is not None
        else gpd.GeoDataFrame(geometry=[shapely.box(*parts.facilities.total_bounds)], crs=4326)
    )
    w, s, e, n = _display(outline, shift).total_bounds
    m = folium.Map(
        location=[(s + n) / 2, (w + e) / 2],
        zoom_start=9,
        tiles=None,
        control_scale=True,
        zoom_control=True,
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    # the map's own zoom range: without a tile layer Leaflet.markercluster needs one
    m.options["max_zoom"] = int(base.get("max_zoom", 18))
    m.options["min_zoom"] = 5
    if basemap != "none":
        folium.TileLayer(
            tiles=base["url"],
            attr=base["attribution"],
            name=f"{st['layers']['basemap']}：{base['label']}",
            max_zoom=int(base.get("max_zoom", 18)),
            subdomains=str(base.get("subdomains", "abc")),
            overlay=True,
            control=True,
        ).add_to(m)
    polygons = _polygon_layers(m, parts, shift)
    extras = _extra_layers(m, parts, shift)
    rules = _pairing_layers(m, parts, fac)
    n_gaps = _gap_layer(m, parts, fac, shift)
    cluster = _facility_layers(m, parts, fac)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.fit_bounds([[s, w], [n, e]])
    _add_offline_assets(m, cluster=cluster)
    root = _figure(m)
    title = _default_title(parts) if title is None else title
    root.title = _esc(title)  # branca writes <title>{{ this.title }}</title> as is
    root.html.add_child(
        folium.Element(
            f'<div class="siting-box siting-title" id="siting-title">{_esc(title)}</div>'
        )
    )
    names = _rule_names(parts.pairings) if parts.pairings is not None else {}
    rule_names = {r: names[r] for r in rules}
    root.html.add_child(
        folium.Element(_legend_html(parts.facilities, rule_names, polygons, extras, n_gaps))
    )
    modelled = parts.modelled()
    if modelled:
        items = "".join(f"<li>{_esc(x)}</li>" for x in modelled)
        root.html.add_child(
            folium.Element(
                '<div class="siting-box siting-notice" id="siting-notice">'
                f"<b>⚠ {parts.notice_heading()}</b>"
                f'<ul style="margin:2px 0 0 0;padding-left:18px">{items}</ul></div>'
            )
        )
    if basemap != "none":
        root.html.add_child(
            folium.Element(
                '<div class="siting-box" style="bottom:2px;left:50%;transform:translateX(-50%);'
                'padding:0 6px;font-size:11px;box-shadow:none">'
                f"底图：{_esc(base['label'])}(需联网；离线时仅显示图层)"
                + ("，图层已转换为GCJ-02坐标" if shift == "gcj02" else "")
                + "</div>"
            )
        )
    return m


def _stable_ids(root: Any) -> None:
    """Number the page's elements in tree order instead of folium's random ids, so that the
    same map gives the same bytes (a rerun with the same inputs writes an identical file)."""
    count = 0
    todo = [root]
    while todo:
        el = todo.pop(0)
        if hasattr(el, "_id"):
            el._id = f"{count:032x}"
            count += 1
        todo.extend(getattr(el, "_children", {}).values())


def save_html(m: folium.Map, path: str | os.PathLike[str]) -> Path:
    """Write a map as one self-contained HTML file (UTF-8), atomically.

    Parameters
    ----------
    m
        A map from :func:`meeting_map`.
    path
        The HTML file (its folder is created).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    MapError
        If the page would load a script or a style sheet from the network (a folium plugin
        added to the map that loads from a CDN), which a meeting room without internet lacks.

    Examples
    --------
    >>> import tempfile
    >>> from siting import maps, pipeline
    >>> out = tempfile.mkdtemp()
    >>> run = pipeline.run("xuanhan", out=out, progress=False)
    >>> p = maps.save_html(maps.meeting_map(run), f"{out}/map.html")
    >>> p.stat().st_size < 10_000_000
    True
    """
    _stable_ids(m.get_root())
    page = m.get_root().render()
    remote = remote_assets(page)
    if remote:
        msg = "the map would load files from the network and show nothing offline: " + "; ".join(
            remote[:5]
        )
        raise MapError(msg)
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


# --- static maps ---------------------------------------------------------------------------------


class FontWarning(UserWarning):
    """No CJK font was found: Chinese text on static maps would show as boxes."""


@cache
def cjk_font() -> str | None:
    """The family name of a CJK font for matplotlib, registering Noto Sans CJK if present.

    Returns ``None`` (after a :class:`FontWarning`) when no CJK font is installed.

    Examples
    --------
    >>> cjk_font()  # doctest: +SKIP
    'Noto Sans CJK JP'
    """
    from matplotlib import font_manager

    if CJK_FONT_PATH.is_file():
        font_manager.fontManager.addfont(str(CJK_FONT_PATH))
        bold = CJK_FONT_PATH.with_name(CJK_FONT_PATH.name.replace("Regular", "Bold"))
        if bold.is_file():
            font_manager.fontManager.addfont(str(bold))
        return str(font_manager.FontProperties(fname=str(CJK_FONT_PATH)).get_name())
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in installed:
            return family
    warnings.warn(
        f"no Chinese (CJK) font found ({CJK_FONT_PATH} is missing): Chinese text on static maps "
        "will show as empty boxes. Install one: apt-get install fonts-noto-cjk",
        FontWarning,
        stacklevel=3,
    )
    return None


def _nice_length(span_m: float) -> float:
    """A round scale-bar length of about a fifth of ``span_m`` (1, 2 or 5 x 10^k metres)."""
    target = span_m / 5
    exp = 10 ** math.floor(math.log10(target))
    return float(max(f for f in (1, 2, 5, 10) if f * exp <= target) * exp)


def _scale_bar(ax: Axes) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice_length(x1 - x0)
    left, bottom = x0 + 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    height = 0.012 * (y1 - y0)
    from matplotlib.patches import Rectangle

    for i in range(4):
        ax.add_patch(
            Rectangle(
                (left + i * length / 4, bottom),
                length / 4,
                height,
                facecolor="black" if i % 2 == 0 else "white",
                edgecolor="black",
                linewidth=0.8,
                zorder=20,
            )
        )
    km = length / 1000
    label = f"{km:g} 公里" if km >= 1 else f"{length:g} 米"
    for x, text in ((left, "0"), (left + length, label)):
        ax.text(x, bottom + 1.8 * height, text, ha="center", va="bottom", fontsize=8, zorder=20)


def _north_arrow(ax: Axes) -> None:
    """An arrow pointing up (grid north of the metric CRS, within a degree of true north in
    Sichuan) with 北 / N under it, in the upper right corner."""
    ax.annotate(
        "",
        xy=(0.955, 0.97),
        xytext=(0.955, 0.89),
        xycoords="axes fraction",
        textcoords="axes fraction",
        arrowprops={"facecolor": "black", "edgecolor": "black", "width": 3, "headwidth": 10},
        zorder=20,
    )
    ax.text(
        0.955,
        0.885,
        "北\nN",
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=9,
        linespacing=1.0,
        zorder=20,
    )


_MPL_MARKERS: Final = {"circle": "o", "square": "s", "diamond": "D", "triangle": "^"}


def _draw_static(ax: Axes, parts: _Parts) -> list[Any]:
    """Draw every part on ``ax`` in the metric CRS; return the legend handles."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    st = _style()
    crs = parts.metric_crs()
    handles: list[Any] = []
    fac = parts.facilities.to_crs(crs)
    if parts.counties is not None:
        c = st["counties"]
        parts.counties.to_crs(crs).boundary.plot(
            ax=ax, color=c["colour"], linewidth=1.0, linestyle="--", zorder=2
        )
        handles.append(Line2D([], [], color=c["colour"], linestyle="--", label="县界"))
    if parts.layout is not None and not parts.layout.empty:
        plan = parts.layout.to_crs(crs)
        for t, colour in st["layout_types"].items():
            sub = plan[plan.get("element_type", pd.Series(dtype=object)) == t]
            if sub.empty:
                continue
            sub.plot(ax=ax, facecolor=colour, alpha=0.12, edgecolor="none", zorder=1)
            sub.boundary.plot(ax=ax, color=colour, linewidth=0.8, linestyle=":", zorder=1)
            handles.append(
                Patch(
                    facecolor=colour,
                    alpha=0.3,
                    edgecolor=colour,
                    label=f"规划布局：{_ELEMENT_TYPES_ZH.get(t, t)}",
                )
            )
    sa = parts.service_areas
    if sa is not None and not sa.empty:
        colours = list(st["service_areas"])
        minutes = sorted(float(x) for x in sa["minutes"].unique())
        mins = minutes[0]
        sub = sa[sa["minutes"].astype(float) == mins].to_crs(crs)
        colour = colours[0]
        sub.plot(ax=ax, facecolor=colour, alpha=0.08, edgecolor="none", zorder=1.5)
        label = f"服务范围 {mins:g}分钟" + ("(直线估算)" if parts.straight_line else "")
        handles.append(Patch(facecolor=colour, alpha=0.25, label=label))
    pairs = parts.pairings
    if pairs is not None and not pairs.empty and "assigned" in pairs:
        names = _rule_names(pairs)
        chosen = pairs[pairs["assigned"].fillna(False).astype(bool) & pairs["partner_id"].notna()]
        chosen = chosen[
            chosen["facility_id"].isin(fac.index) & chosen["partner_id"].isin(fac.index)
        ]
        from matplotlib.collections import LineCollection

        xs, ys = fac.geometry.x, fac.geometry.y
        for rule, group in chosen.groupby("rule", sort=False):
            colour = st["pairing_lines"].get(str(rule), st["pairing_lines"]["default"])
            segs = np.stack(
                [
                    np.column_stack([xs[group["facility_id"]], ys[group["facility_id"]]]),
                    np.column_stack([xs[group["partner_id"]], ys[group["partner_id"]]]),
                ],
                axis=1,
            )
            ax.add_collection(
                LineCollection(list(segs), colors=colour, linewidths=0.4, alpha=0.5, zorder=3)
            )
            handles.append(
                Line2D([], [], color=colour, linewidth=1, label=f"配对：{names[str(rule)]}")
            )
    if parts.patrol_routes is not None and not parts.patrol_routes.empty:
        p = st["patrol_routes"]
        parts.patrol_routes.to_crs(crs).plot(ax=ax, color=p["colour"], linewidth=1.2, zorder=3.5)
        handles.append(Line2D([], [], color=p["colour"], linewidth=1.5, label="巡诊路线"))
    counts = fac["kind"].value_counts()
    for kind in [k for k in registry.KINDS if k in counts.index]:
        ks = _kind_style(kind)
        sub = fac[fac["kind"] == kind]
        marker = _MPL_MARKERS.get(str(ks["symbol"]), "o")
        size = (0.6 * float(ks["size"])) ** 2 / 4
        ax.scatter(
            sub.geometry.x,
            sub.geometry.y,
            s=size,
            c=ks["colour"],
            marker=marker,
            edgecolors="white",
            linewidths=0.3,
            zorder=5 if kind != "village_clinic" else 4,
        )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=marker,
                markersize=6,
                markerfacecolor=ks["colour"],
                markeredgecolor="white",
                label=f"{_kind_label(kind)} {int(counts[kind])}",
            )
        )
    gaps = parts.gaps
    if gaps is not None and not gaps.empty and "gap_type" in gaps:
        ids = gaps.loc[gaps["gap_type"] == "facility", "facility_id"]
        pts = list(fac.geometry[fac.index.isin(ids)])
        if parts.region is not None:
            codes = gaps.loc[gaps["gap_type"] == "village", "village_code"]
            villages = parts.region.villages
            pts += list(villages[villages.index.isin(codes)].to_crs(crs).geometry)
        if pts:
            colour = st["gaps"]["colour"]
            ax.scatter(
                [g.x for g in pts],
                [g.y for g in pts],
                s=30,
                facecolors="none",
                edgecolors=colour,
                linewidths=0.7,
                zorder=6,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker="o",
                    markersize=8,
                    markerfacecolor="none",
                    markeredgecolor=colour,
                    label=f"覆盖缺口 {len(pts)}",
                )
            )
    if parts.recommendations is not None and not parts.recommendations.empty:
        rs = st["recommendations"]
        rec = parts.recommendations.to_crs(crs)
        ax.scatter(
            rec.geometry.x,
            rec.geometry.y,
            s=140,
            marker="*",
            c=rs["colour"],
            edgecolors=rs["edge"],
            linewidths=0.6,
            zorder=7,
        )
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="*",
                markersize=12,
                markerfacecolor=rs["colour"],
                markeredgecolor=rs["edge"],
                label="建议选址",
            )
        )
    return handles


def static_map(
    run: RunResult | None = None,
    path: str | os.PathLike[str] | None = None,
    region: Region | str | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    layout: Layout | gpd.GeoDataFrame | str | None = None,
    patrol_routes: gpd.GeoDataFrame | None = None,
    recommendations: gpd.GeoDataFrame | pd.DataFrame | None = None,
    *,
    pairings: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
    service_areas: gpd.GeoDataFrame | None = None,
    title: str | None = None,
    data: Mapping[str, Any] | None = None,
    dpi: int = 200,
    size_in: tuple[float, float] = (11.69, 8.27),
) -> Path:
    """A static map for printed reports (PNG or PDF by the suffix of ``path``), atomically.

    Drawn in the metric CRS (:data:`siting.settings.metric_crs`) with Chinese text, a legend,
    a scale bar and a north arrow; a note in red says what is modelled. The parts are those of
    :func:`meeting_map` (only the shortest service area is drawn, to keep the print legible).

    Parameters
    ----------
    run, region, facilities, layout, patrol_routes, recommendations, pairings, gaps, service_areas
        As for :func:`meeting_map`.
    path
        ``.png`` or ``.pdf`` file (its folder is created).
    title
        Title (default ``<region>医养结合布局图``).
    dpi
        Resolution of a PNG.
    size_in
        Page size in inches (default A4 landscape).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from siting import maps, pipeline
    >>> out = tempfile.mkdtemp()
    >>> run = pipeline.run("xuanhan", out=out, progress=False)
    >>> maps.static_map(run, f"{out}/map.pdf").suffix
    '.pdf'
    """
    if path is None:
        msg = "path: give the PNG or PDF file to write"
        raise MapError(msg)
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf"):
        msg = f"path must end in .png or .pdf, got {out.name!r}"
        raise MapError(msg)
    parts = _gather(
        run,
        region,
        facilities,
        layout,
        patrol_routes,
        recommendations,
        pairings=pairings,
        gaps=gaps,
        service_areas=service_areas,
        data=data,
    )
    import matplotlib as mpl
    from matplotlib.figure import Figure

    family = cjk_font()
    # names from the data are text, never mathtext: "$\\frac" or "a_b" drawn as written
    rc: dict[str, Any] = {"axes.unicode_minus": False, "pdf.fonttype": 42, "text.parse_math": False}
    if family is not None:
        rc["font.family"] = [family, "DejaVu Sans"]
    with mpl.rc_context(rc), warnings.catch_warnings():  # type: ignore[arg-type]
        if family is None:  # already warned once, clearly; not one warning per glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
        fig = Figure(figsize=size_in, layout="constrained")
        ax = fig.add_subplot()
        handles = _draw_static(ax, parts)
        crs = parts.metric_crs()
        bounds = (
            parts.region.outline_gdf.to_crs(crs).total_bounds
            if parts.region is not None
            else parts.facilities.to_crs(crs).total_bounds
        )
        pad = 0.03 * max(bounds[2] - bounds[0], bounds[3] - bounds[1])
        ax.set_xlim(bounds[0] - pad, bounds[2] + pad)
        ax.set_ylim(bounds[1] - pad, bounds[3] + pad)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        _scale_bar(ax)
        _north_arrow(ax)
        ax.set_title(_default_title(parts) if title is None else title, fontsize=16)
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
            title="图例",
            title_fontsize=9,
        )
        modelled = parts.modelled()
        zone = int(crs.rsplit(":", 1)[-1]) % 100
        hemisphere = "N" if crs.rsplit(":", 1)[-1].startswith("326") else "S"
        note = f"坐标系 {crs} (WGS 84 / UTM {zone}{hemisphere})"
        if modelled:
            note = f"⚠ {parts.notice_heading()}：" + "；".join(modelled) + "。\n" + note
        fig.supxlabel(
            note,
            x=0.01,
            ha="left",
            fontsize=7,
            color="#b00000" if modelled else "#444444",
        )
        with atomic_path(out) as tmp:
            # no creation date in the file: the same map gives the same bytes
            meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
    return out
