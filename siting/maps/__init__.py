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
nothing is dropped. The full Nanchong map is about 6 MB.

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

The room
--------
Everything drawn on a map. Modules:

- :mod:`siting.maps.style`: colours, symbols, layer names and the small text helpers of popups.
- :mod:`siting.maps.layers`: :class:`MapLayers`, what a map shows, checked and in WGS84.
- :mod:`siting.maps.leaflet`: the offline Leaflet layer kit (compact layers, inlined assets,
  :func:`save_html`).
- :mod:`siting.maps.meeting`: the interactive meeting map, :func:`meeting_map`.
- :mod:`siting.maps.static`: the printed map, :func:`static_map`.

It may import the data modules (registry, regions, layout, modelled, crs, settings, _io); never
:mod:`siting.pipeline`: a run hands its layers over through ``RunResult.map_layers()``.
"""

from __future__ import annotations

from siting._errors import MapError
from siting.maps.layers import MapLayers
from siting.maps.leaflet import remote_assets, save_html
from siting.maps.meeting import meeting_map
from siting.maps.static import FontWarning, cjk_font, static_map
from siting.maps.style import BASEMAPS, CJK_FONT_PATH, layer_names

__all__ = [
    "BASEMAPS",
    "CJK_FONT_PATH",
    "FontWarning",
    "MapError",
    "MapLayers",
    "cjk_font",
    "layer_names",
    "meeting_map",
    "remote_assets",
    "save_html",
    "static_map",
]
