"""An offline Leaflet layer kit for folium: compact vector and point layers, the inlined
Leaflet/markercluster assets, stable element ids and :func:`save_html`."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, Figure
from folium.elements import ElementAddToElement
from folium.map import Layer
from folium.template import Template

from siting._errors import MapError
from siting._io import atomic_path
from siting._optional import require
from siting.crs import convert_gdf
from siting.maps.style import _esc, _style

if TYPE_CHECKING:
    pass

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


#: shapely type ids of the geometries :func:`_encode_many` encodes at once (others one by one).
_LINE, _POLYGON, _MULTILINE, _MULTIPOLYGON = 1, 3, 5, 6


def _encode_many(geoms: Any) -> list[dict[str, Any]]:
    """:func:`_encode` of each geometry of ``geoms``, vectorised: every line and ring of the
    lines and polygons is rounded and delta-encoded in one numpy pass (same numbers as
    :func:`_encode`); points, collections and geometries with empty parts go one by one."""
    arr = np.asarray(geoms, dtype=object)
    out: list[dict[str, Any] | None] = [None] * len(arr)
    types = shapely.get_type_id(arr)
    fast = np.isin(types, (_LINE, _POLYGON, _MULTILINE, _MULTIPOLYGON))
    fast[fast] = ~shapely.is_empty(arr[fast])
    sel = np.flatnonzero(fast)
    parts, owner = shapely.get_parts(arr[sel], return_index=True)
    part_types = shapely.get_type_id(parts)
    empty_part = shapely.is_empty(parts)
    if empty_part.any():  # one by one, as before (an empty part has no coordinates to encode)
        fast[sel[np.unique(owner[empty_part])]] = False
        sel = np.flatnonzero(fast)
        parts, owner = shapely.get_parts(arr[sel], return_index=True)
        part_types = shapely.get_type_id(parts)
    for i in np.flatnonzero(~fast):
        out[i] = _encode(arr[i])
    if len(sel):
        _encode_parts(arr, sel, parts, owner, part_types == _POLYGON, types, out)
    return cast("list[dict[str, Any]]", out)  # every one filled, fast or one by one


def _encode_parts(
    arr: Any,
    sel: Any,
    parts: Any,
    owner: Any,
    is_poly: Any,
    types: Any,
    out: list[dict[str, Any] | None],
) -> None:
    """Fill ``out[sel]``: the lines and polygons ``parts`` (of ``arr[sel][owner]``) encoded."""
    # every part's sequences (a line, or a polygon's exterior then interiors), in order
    n_seq = np.ones(len(parts), dtype=np.int64)
    n_seq[is_poly] = shapely.get_num_interior_rings(parts[is_poly]) + 1
    seq_start = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(n_seq, out=seq_start[1:])
    seqs = np.empty(int(seq_start[-1]), dtype=object)
    seqs[seq_start[:-1][~is_poly]] = parts[~is_poly]
    polys = np.flatnonzero(is_poly)
    rings = shapely.get_rings(parts[polys])
    ring_counts = n_seq[polys]
    first = np.repeat(seq_start[polys], ring_counts)
    within = np.arange(len(rings)) - np.repeat(np.cumsum(ring_counts) - ring_counts, ring_counts)
    seqs[first + within] = rings
    # the coordinates of all sequences at once: integers, then deltas within each sequence
    counts = shapely.get_num_coordinates(seqs)
    xy = np.rint(shapely.get_coordinates(seqs) * _scale()).astype(np.int64)
    delta = xy.copy()
    delta[1:] -= xy[:-1]
    starts = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    heads = starts[:-1][counts > 0]
    delta[heads] = xy[heads]
    flat: list[int] = delta.ravel().tolist()
    bounds = (2 * starts).tolist()
    lists = [flat[a:b] for a, b in pairwise(bounds)]
    seq_bounds = seq_start.tolist()
    poly_flags = is_poly.tolist()
    part_values = [
        lists[seq_bounds[k] : seq_bounds[k + 1]] if poly_flags[k] else lists[seq_bounds[k]]
        for k in range(len(parts))
    ]
    part_start = np.zeros(len(sel) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(sel)), out=part_start[1:])
    kinds = {_LINE: "LineString", _POLYGON: "Polygon"}
    kinds |= {_MULTILINE: "MultiLineString", _MULTIPOLYGON: "MultiPolygon"}
    for j, (i, t) in enumerate(zip(sel.tolist(), types[sel].tolist(), strict=True)):
        a, b = int(part_start[j]), int(part_start[j + 1])
        coords = part_values[a] if t in (_LINE, _POLYGON) else part_values[a:b]
        out[i] = {"type": kinds[t], "coordinates": coords}


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
    gdf: gpd.GeoDataFrame, props: Callable[[Any, Mapping[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """A FeatureCollection of ``gdf``: per row, ``props(index, row)`` (the row as a dict of its
    columns, geometry included) and the geometry encoded by :func:`_encode`."""
    geoms = _encode_many(gdf.geometry.array)
    rows = cast("list[dict[str, Any]]", gdf.to_dict("records"))
    feats = [
        {"type": "Feature", "properties": props(idx, row), "geometry": geom}
        for idx, row, geom in zip(gdf.index, rows, geoms, strict=True)
    ]
    return {"type": "FeatureCollection", "features": feats}


def _js(obj: Any) -> str:
    """JSON for inlining in a ``<script>``: UTF-8 (not escaped), safe against ``</script>``."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("</", "<\\/").replace("<!--", "\\u003c!--")
    return re.sub(r"<(script)", r"\\u003c\1", text, flags=re.IGNORECASE)


# --- folium layers -------------------------------------------------------------------------------


class _Raw(Element):
    """Text put into the page as it is.

    A plain ``folium.Element`` (and the script of every folium layer, when the page is rendered)
    is compiled as a Jinja template: most of a second for the inlined Leaflet files and the data,
    and wrong for a name with ``{{`` in it. This gives the bytes Jinja gives for text without
    template syntax (line ends as ``\\n``, one final line end dropped), without compiling it.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Raw"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.text = text[:-1] if text.endswith("\n") else text

    def render(self, **kwargs: Any) -> str:
        return self.text


class _RawLayer(Layer):
    """A layer whose script goes into the page as :class:`_Raw` text (as ``Layer.render`` would
    put it, without compiling the rendered script, megabytes of data, as a template)."""

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # as folium's Layer
        parent = self._parent
        if self.show and parent is not None:
            add = ElementAddToElement(
                element_name=self.get_name(), element_parent_name=parent.get_name()
            )
            self.add_child(add, name=self.get_name() + "_add")
        script = self._template.module.__dict__["script"]
        _figure(self).script.add_child(_Raw(str(script(self, kwargs))), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)


class _VectorLayer(_RawLayer):
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


class _PointLayer(_RawLayer):
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


def _figure(m: Element) -> Figure:
    root = m.get_root()
    if not isinstance(root, Figure):  # folium.Map always sits in a Figure
        msg = "the map is not in a branca Figure"
        raise MapError(msg)
    return root


def _add_offline_assets(m: folium.Map, *, cluster: bool) -> None:
    """Inline Leaflet (and Leaflet.markercluster) into the map's page; drop every CDN link."""
    require("xstatic.pkg.leaflet", "maps", "离线会议地图", purpose="the offline meeting map")
    if cluster:
        require(
            "xstatic.pkg.leaflet_markercluster",
            "maps",
            "离线会议地图",
            purpose="the offline meeting map",
        )
    m.default_js = []
    m.default_css = []
    header = _figure(m).header
    header.add_child(_Raw(f"<style>{_leaflet_css()}</style>"), name="leaflet_css")
    header.add_child(_Raw(_script(_asset("xstatic.pkg.leaflet", "leaflet.js"))), name="leaflet_js")
    if cluster:
        pkg = "xstatic.pkg.leaflet_markercluster"
        css = _asset(pkg, "MarkerCluster.css") + _asset(pkg, "MarkerCluster.Default.css")
        header.add_child(_Raw(f"<style>{css}</style>"), name="markercluster_css")
        header.add_child(
            _Raw(_script(_asset(pkg, "leaflet.markercluster.js"))), name="markercluster_js"
        )
    header.add_child(_Raw(f"<style>{_MAP_CSS}</style>"), name="siting_css")


_REMOTE: Final = re.compile(
    r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+|"
    r"<link[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+",
    re.IGNORECASE,
)


def remote_assets(page: str) -> list[str]:
    """Script and style sheet links of an HTML page that would need the network."""
    return [m.group(0) for m in _REMOTE.finditer(page)]


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
