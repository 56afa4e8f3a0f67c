"""Maps: the offline meeting map (checked in headless Chromium with the network blocked) and
static report maps with Chinese text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib import font_manager
from matplotlib import image as mpimg

from siting import crs, maps, modelled, pipeline, regions, registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: scripts/test.sh (CI) sets SITING_REQUIRE_BROWSER: there a missing browser or font fails.
REQUIRED = bool(os.environ.get("SITING_REQUIRE_BROWSER"))
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not REQUIRED,
    reason="headless Chromium missing: apt-get install -y chromium",
)
needs_cjk_font = pytest.mark.skipif(
    not maps.CJK_FONT_PATH.is_file() and not REQUIRED,
    reason="CJK font missing: apt-get install -y fonts-noto-cjk",
)

#: Flags of DEPENDENCIES.md, and every host name and proxy blocked: the page must work offline.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
    "--window-size=1200,900",
)


@pytest.fixture(scope="module")
def patrol_routes(xuanhan: regions.Region) -> gpd.GeoDataFrame:
    """Two hand-made routes through village points (metric CRS, to check reprojection)."""
    v = xuanhan.villages.geometry
    lines = [shapely.LineString(list(v.iloc[i : i + 4])) for i in (0, 10)]
    routes = gpd.GeoDataFrame(
        {"route_id": ["R1", "R2"], "duration_min": [95.0, 120.0], "source": "modelled"},
        geometry=lines,
        crs=4326,
    )
    return routes.to_crs(32648)


@pytest.fixture(scope="module")
def recommendations(xuanhan: regions.Region) -> pd.DataFrame:
    seats = xuanhan.townships.geometry.iloc[:3]
    return pd.DataFrame(
        {
            "name": ["建议A<测试>", "建议B", "建议C"],
            "lon": seats.x.to_numpy(),
            "lat": seats.y.to_numpy(),
            "score": [0.9, 0.8, 0.7],
        }
    )


def _overlay_names(page: str) -> list[str]:
    """The overlay names of the page's LayerControl (as folium writes them)."""
    block = re.search(r"overlays\s*:\s*\{(.*?)\}", page, re.DOTALL)
    assert block, "no layer control"
    return [json.loads(f'"{k}"') for k in re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', block.group(1))]


def _chromium(page: Path, tmp: Path, *, dump_dom: bool) -> tuple[str, str]:
    assert CHROMIUM is not None
    profile = tmp / f"profile-{'dom' if dump_dom else 'shot'}"
    profile.mkdir()
    mode = ["--dump-dom"] if dump_dom else [f"--screenshot={tmp / 'shot.png'}"]
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *mode, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def _js_errors(stderr: str) -> list[str]:
    console = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    return [
        line
        for line in console
        if ("Uncaught" in line or "Error" in line) and "Failed to load resource" not in line
    ]


def _check_screenshot(png: Path) -> None:
    """Not blank: many colours and a good share of drawn (not background) pixels in the map."""
    img = mpimg.imread(png)[:, :, :3]
    h, w = img.shape[:2]
    area = img[80 : h - 80, 60 : w - 300]  # the map, less the title, controls and legend
    pixels = (area * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    background = np.all(pixels == pixels[0], axis=1) | np.all(pixels >= 250, axis=1)
    assert len(colours) > 200, len(colours)
    assert (~background).mean() > 0.05, (~background).mean()


# --- the meeting map ------------------------------------------------------------------------------


def test_meeting_map_is_one_offline_file_with_every_layer(
    xuanhan_run: pipeline.RunResult,
    patrol_routes: gpd.GeoDataFrame,
    recommendations: pd.DataFrame,
    tmp_path: Path,
) -> None:
    m = maps.meeting_map(
        xuanhan_run, patrol_routes=patrol_routes, recommendations=recommendations, title="宣汉测试"
    )
    assert isinstance(m, folium.Map)
    path = maps.save_html(m, tmp_path / "map.html")
    page = path.read_text(encoding="utf-8")
    assert maps.remote_assets(page) == []
    for host in ("jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fontawesome"):
        assert host not in page
    assert "Leaflet 1.9" in page and "L.markerClusterGroup" in page  # inlined, and clustering
    names = _overlay_names(page)
    for expected in ("县界", "规划布局", "就近服务范围 15分钟", "就近服务范围 30分钟"):
        assert expected in names
    for prefix in (
        "配对连线：签约卫生院",
        "覆盖缺口",
        "巡诊路线",
        "建议选址",
        "村卫生室",
        "医院",
    ):
        assert any(n.startswith(prefix) for n in names), (prefix, names)
    assert any(n.startswith("养老机构") for n in names)
    assert "模拟数据，仅供演示" in page and 'id="siting-notice"' in page
    assert 'id="siting-legend"' in page and "宣汉测试" in page
    assert "建议A&lt;测试&gt;" in page  # names are escaped in popups
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]  # no temporary file left


def _point_layers(m: folium.Map) -> dict[str, list[list[Any]]]:
    return {
        ch.layer_name: json.loads(ch.rows_js)
        for ch in m._children.values()
        if hasattr(ch, "rows_js")
    }


def test_facility_popups_give_kind_beds_partner_and_time(xuanhan_run: pipeline.RunResult) -> None:
    layers = _point_layers(maps.meeting_map(xuanhan_run))
    hospitals = layers[next(n for n in layers if n.startswith("医院"))]
    fac = modelled.registry_for("xuanhan")
    assert len(hospitals) == int((fac["kind"] == "hospital").sum())
    homes = layers[next(n for n in layers if n.startswith(registry.kind_label("nursing_home")))]
    popup = homes[0][3]
    for text in ("类型", "养老机构", "配对机构", "车程", "分钟", "数据来源", "模拟数据"):
        assert text in popup, (text, popup)
    # every facility is drawn, none dropped
    n_points = sum(len(v) for k, v in layers.items() if not k.startswith(("覆盖缺口", "建议")))
    assert n_points == len(fac)


def test_amap_shifts_every_overlay_to_gcj02(xuanhan_run: pipeline.RunResult) -> None:
    plain = _point_layers(maps.meeting_map(xuanhan_run, basemap="osm"))
    amap_map = maps.meeting_map(xuanhan_run, basemap="amap")
    amap = _point_layers(amap_map)
    name = next(n for n in plain if n.startswith("医院"))
    lat, lon = plain[name][0][:2]
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert amap[name][0][:2] == pytest.approx([float(glat), float(glon)], abs=2e-5)
    assert abs(amap[name][0][1] - lon) > 1e-3  # a few hundred metres
    page = amap_map.get_root().render()
    assert "webrd0{s}.is.autonavi.com" in page and '"1234"' in page


def test_bad_inputs_are_refused(xuanhan_run: pipeline.RunResult, tmp_path: Path) -> None:
    with pytest.raises(maps.MapError, match="basemap"):
        maps.meeting_map(xuanhan_run, basemap="google")
    points = gpd.GeoDataFrame(geometry=[shapely.Point(107.7, 31.3)], crs=4326)
    with pytest.raises(maps.MapError, match="LineString"):
        maps.meeting_map(xuanhan_run, patrol_routes=points)
    with pytest.raises(maps.MapError, match="lon/lat"):
        maps.meeting_map(xuanhan_run, recommendations=pd.DataFrame({"a": [1]}))
    with pytest.raises(maps.MapError, match="network"):  # a plain folium map loads from CDNs
        maps.save_html(folium.Map(), tmp_path / "cdn.html")
    assert not (tmp_path / "cdn.html").exists()


def test_no_notice_when_nothing_shown_is_modelled(xuanhan: regions.Region) -> None:
    fac = modelled.registry_for(xuanhan).assign(source="surveyed")
    page = maps.meeting_map(region=xuanhan, facilities=fac).get_root().render()
    assert 'id="siting-notice"' not in page
    assert "县界" in _overlay_names(page)


@needs_chromium
@pytest.mark.parametrize("basemap", ["none", "osm", "amap"])
def test_map_works_in_a_browser_with_no_network(
    basemap: str,
    xuanhan_run: pipeline.RunResult,
    patrol_routes: gpd.GeoDataFrame,
    recommendations: pd.DataFrame,
    tmp_path: Path,
) -> None:
    m = maps.meeting_map(
        xuanhan_run,
        patrol_routes=patrol_routes,
        recommendations=recommendations,
        basemap=basemap,
    )
    page = maps.save_html(m, tmp_path / "宣汉 map.html")
    dom, err = _chromium(page, tmp_path, dump_dom=True)
    assert _js_errors(err) == []
    control = re.search(r'class="leaflet-control-layers-overlays">(.*?)</section>', dom, re.S)
    assert control, "layer control not drawn"
    labels = [s.strip() for s in re.findall(r"<span>([^<]*)</span>", control.group(1))]
    for prefix in ("县界", "规划布局", "就近服务范围 15分钟", "配对连线：", "覆盖缺口", "村卫生室"):
        assert any(x.startswith(prefix) for x in labels), (prefix, labels)
    for prefix in ("巡诊路线", "建议选址"):
        assert any(x.startswith(prefix) for x in labels), (prefix, labels)
    assert ("底图" in " ".join(labels)) == (basemap != "none")
    # the overlays were drawn: SVG paths, HTML markers and clusters, the notice
    assert dom.count("leaflet-interactive") > 100
    assert "siting-marker" in dom and "siting-cluster" in dom
    assert "模拟数据，仅供演示" in dom
    _, err = _chromium(page, tmp_path, dump_dom=False)
    assert _js_errors(err) == []
    _check_screenshot(tmp_path / "shot.png")


@needs_chromium
def test_browser_check_sees_a_page_that_needs_a_cdn(tmp_path: Path) -> None:
    """The check above would catch a page that loads Leaflet from the network."""
    page = tmp_path / "cdn.html"
    folium.Map(location=[31.3, 107.7], zoom_start=9, tiles=None).save(page)
    _, err = _chromium(page, tmp_path, dump_dom=True)
    assert any("L is not defined" in line for line in _js_errors(err)), err[-2000:]


@pytest.fixture(scope="module")
def nanchong_run(tmp_path_factory: pytest.TempPathFactory) -> pipeline.RunResult:
    return pipeline.run("nanchong", out=tmp_path_factory.mktemp("nanchong"), progress=False)


def test_full_nanchong_map_is_under_10_mb_and_drops_nothing(
    nanchong_run: pipeline.RunResult, tmp_path: Path
) -> None:
    m = maps.meeting_map(nanchong_run, basemap="amap")
    path = maps.save_html(m, tmp_path / "nanchong.html")
    size = path.stat().st_size
    assert 1_000_000 < size < 10_000_000, size
    # the map the run wrote itself, with the patrol routes too (each distinct route once)
    own = nanchong_run.out / "maps" / "map.html"
    assert own.stat().st_size < 10_000_000, own.stat().st_size
    page = own.read_text(encoding="utf-8")
    assert "巡诊路线" in page and "第4周" in page
    # a village's gap popup says which service tier is too far (escaped JSON in the page)
    assert "乡镇级（卫生院/社区卫生服务中心）：最近" in page
    layers = {ch.layer_name: ch for ch in m._children.values() if hasattr(ch, "layer_name")}
    fac = modelled.registry_for("nanchong")
    n_points = sum(
        ch.n for k, ch in layers.items() if hasattr(ch, "rows_js") and not k.startswith("覆盖")
    )
    assert n_points == len(fac)
    lines = sum(ch.n for k, ch in layers.items() if k.startswith("配对连线"))
    pairs = nanchong_run.pairings
    assert lines == int((pairs["assigned"] & pairs["partner_id"].notna()).sum())
    areas = sum(ch.n for k, ch in layers.items() if k.startswith("就近服务范围"))
    assert nanchong_run.service_areas is not None
    assert areas == len(nanchong_run.service_areas)
    gaps = nanchong_run.gaps
    n_gaps = next(ch.n for k, ch in layers.items() if k.startswith("覆盖缺口"))
    # one point per facility with a gap and one per village with a gap (any tier, threshold)
    n_fac = gaps.loc[gaps["gap_type"] == "facility", "facility_id"].nunique()
    n_vil = gaps.loc[gaps["gap_type"] == "village", "village_code"].nunique()
    assert n_gaps == n_fac + n_vil


# --- static maps ----------------------------------------------------------------------------------


@needs_cjk_font
def test_static_map_png_with_chinese_text(
    xuanhan_run: pipeline.RunResult,
    patrol_routes: gpd.GeoDataFrame,
    recommendations: pd.DataFrame,
    tmp_path: Path,
) -> None:
    family = maps.cjk_font()
    assert family is not None and "CJK" in family
    found = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    assert Path(found) == maps.CJK_FONT_PATH
    # pytest turns warnings into errors: a missing glyph ("Glyph ... missing from font") fails
    path = maps.static_map(
        xuanhan_run,
        tmp_path / "宣汉.png",
        patrol_routes=patrol_routes,
        recommendations=recommendations,
        title="宣汉县医养结合布局图",
    )
    img = mpimg.imread(path)[:, :, :3]
    assert img.shape[1] > 2000
    pixels = (img * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200
    assert (pixels.min(axis=1) < 200).mean() > 0.02
    assert [p.name for p in tmp_path.iterdir()] == ["宣汉.png"]


@needs_cjk_font
def test_static_map_pdf_embeds_the_cjk_font(
    xuanhan_run: pipeline.RunResult, tmp_path: Path
) -> None:
    path = maps.static_map(xuanhan_run, tmp_path / "map.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and b"NotoSansCJK" in data
    with pytest.raises(maps.MapError, match=r"\.png or \.pdf"):
        maps.static_map(xuanhan_run, tmp_path / "map.svg")


# --- the fast paths give what the plain ones gave -------------------------------------------------


def _sample_geometries() -> list[Any]:
    square = shapely.Polygon(
        [(104.0, 30.0), (104.1, 30.0), (104.1, 30.1), (104.0, 30.1)],
        holes=[[(104.02, 30.02), (104.04, 30.02), (104.04, 30.04)]],
    )
    return [
        square,
        shapely.LineString([(104.0, 30.0), (104.123456, 30.2), (104.3, 30.25)]),
        shapely.Point(104.5, 30.5),
        shapely.MultiPolygon([square, shapely.box(105.0, 31.0, 105.2, 31.3)]),
        shapely.MultiLineString([[(104, 30), (104.1, 30.1)], [(105, 31), (105, 31.5), (105, 32)]]),
        shapely.GeometryCollection([shapely.Point(1, 2), shapely.LineString([(1, 2), (3, 4)])]),
        shapely.LineString([(103.99999, 29.99999), (104.00001, 30.00001)]),
    ]


def test_encode_many_equals_encoding_one_by_one() -> None:
    from siting.maps.leaflet import _encode, _encode_many

    geoms = _sample_geometries()
    assert _encode_many(geoms) == [_encode(g) for g in geoms]
    assert _encode_many(geoms[::-1]) == [_encode(g) for g in geoms[::-1]]
    assert _encode_many([]) == []
    # deltas within each line or ring, the first point absolute
    line = _encode_many([geoms[1]])[0]
    assert line["coordinates"][:4] == [10400000, 3000000, 12346, 20000]


def test_features_give_each_row_and_its_geometry() -> None:
    from siting.maps.leaflet import _encode, _features

    geoms = _sample_geometries()
    gdf = gpd.GeoDataFrame(
        {
            "name": [f"n{i}" for i in range(len(geoms))],
            "beds": np.arange(len(geoms), dtype="int64"),
            "area": [1.5, float("nan"), 2.0, 3.0, 4.0, 5.0, 6.0],
        },
        geometry=geoms,
        index=[f"id{i}" for i in range(len(geoms))],
        crs=4326,
    )
    seen: list[tuple[Any, dict[str, Any]]] = []

    def props(idx: Any, row: Any) -> dict[str, Any]:
        seen.append((idx, dict(row)))
        return {"t": f"{idx}:{row['name']}:{row['beds']}"}

    data = _features(gdf, props)
    assert data["type"] == "FeatureCollection"
    assert [f["geometry"] for f in data["features"]] == [_encode(g) for g in geoms]
    assert [f["properties"]["t"] for f in data["features"]] == [
        f"id{i}:n{i}:{i}" for i in range(len(geoms))
    ]
    idx, row = seen[1]
    assert idx == "id1" and row["geometry"].equals(geoms[1]) and np.isnan(row["area"])
    assert type(row["beds"]) is int  # as a row of iterrows gave it: popups print 1, not 1.0


def test_table_escapes_values_and_leaves_out_empty_ones() -> None:
    from siting.maps.style import _Html, _table

    rows = [
        ("名称", "A<b>&'\""),
        ("空", None),
        ("空2", float("nan")),
        ("空3", pd.NA),
        ("空4", ""),
        ("零", 0),
        ("床位", 12),
        ("评分", 0.5),
        ("评分2", np.float64(2.25)),
        ("编号", np.int64(7)),
        ("布尔", True),
        ("已转义", _Html("<i>x</i>")),
        ("<th>", "值"),
    ]
    expected = "".join(
        f"<tr><th>{k}</th><td>{v}</td></tr>"
        for k, v in [
            ("名称", "A&lt;b&gt;&amp;&#x27;&quot;"),
            ("零", "0"),
            ("床位", "12"),
            ("评分", "0.5"),
            ("评分2", "2.25"),
            ("编号", "7"),
            ("布尔", "True"),
            ("已转义", "<i>x</i>"),
            ("&lt;th&gt;", "值"),
        ]
    )
    head = "<b>标题&lt;1&gt;</b>"
    assert _table(rows, "标题<1>") == f'{head}<table class="siting-t">{expected}</table>'
    assert _table([("a", None)]) == '<table class="siting-t"></table>'


def test_raw_text_is_what_jinja_gave_without_its_syntax() -> None:
    import jinja2

    from siting.maps.leaflet import _Raw

    for text in ("<b>a</b>", "a\r\nb\rc\n", "x\n\n", "", "\n"):
        assert _Raw(text).render() == jinja2.Template(text).render(), repr(text)
    # a name with template syntax is text, not a template (jinja would drop or fail on it)
    assert _Raw("{{ name }} {% x %}").render() == "{{ name }} {% x %}"


def test_layer_scripts_are_what_folium_rendered(
    xuanhan_run: pipeline.RunResult, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The page with the raw layer scripts is, byte for byte, the page folium's own rendering
    (each script compiled as a template) gives, and the same inputs give the same bytes."""
    from folium.map import Layer

    from siting.maps import leaflet

    fast = maps.save_html(maps.meeting_map(xuanhan_run, basemap="amap"), tmp_path / "a.html")
    again = maps.save_html(maps.meeting_map(xuanhan_run, basemap="amap"), tmp_path / "b.html")
    assert fast.read_bytes() == again.read_bytes()
    monkeypatch.setattr(leaflet._RawLayer, "render", Layer.render)
    slow = maps.save_html(maps.meeting_map(xuanhan_run, basemap="amap"), tmp_path / "c.html")
    assert fast.read_bytes() == slow.read_bytes()
    page = fast.read_text(encoding="utf-8")
    assert "var siting_vectors_" in page and "var siting_points_" in page  # the layers are there


def _vector_layers(m: folium.Map) -> dict[str, dict[str, Any]]:
    return {
        ch.layer_name: json.loads(ch.data_js)
        for ch in m._children.values()
        if hasattr(ch, "data_js")
    }


def test_pairing_lines_join_the_two_facilities(xuanhan_run: pipeline.RunResult) -> None:
    """Each pairing line, rule by rule, is the encoded line between the two facilities as shown
    (shifted to GCJ-02 for the Amap basemap)."""
    from siting.maps.leaflet import _display, _encode

    m = maps.meeting_map(xuanhan_run, basemap="amap")
    fac = _display(xuanhan_run.map_layers().facilities, "gcj02")
    xy = dict(zip(fac.index, zip(fac.geometry.x, fac.geometry.y, strict=True), strict=True))
    pairs = xuanhan_run.pairings
    chosen = pairs[pairs["assigned"].fillna(False).astype(bool) & pairs["partner_id"].notna()]
    want = [
        _encode(shapely.LineString([xy[a], xy[b]]))
        for _, group in chosen.groupby("rule", sort=False)
        for a, b in zip(group["facility_id"], group["partner_id"], strict=True)
    ]
    layers = [v for k, v in _vector_layers(m).items() if k.startswith("配对连线")]
    got = [f["geometry"] for layer in layers for f in layer["features"]]
    assert len(layers) == chosen["rule"].nunique() > 0
    assert got == want


# --- the static map's fast paths ------------------------------------------------------------------


def _pixels(draw: Any) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw(ax)
    ax.set_xlim(-1, 12)
    ax.set_ylim(-1, 9)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def test_static_polygons_and_lines_draw_what_geopandas_drew() -> None:
    from siting.maps.static import _draw_lines, _draw_polygons

    hole = [(1.5, 1.5), (2.5, 1.5), (2.5, 2.5), (1.5, 2.5)]
    polys = gpd.GeoDataFrame(
        geometry=[
            shapely.Polygon([(1, 1), (4, 1), (4, 4), (1, 4)], holes=[hole]),
            shapely.MultiPolygon([shapely.box(5, 5, 7, 8), shapely.box(8, 1, 11, 3)]),
            shapely.box(3, 3, 6, 6),  # overlapping: its tint adds up where it overlaps
        ],
        crs=32648,
    )
    lines = gpd.GeoSeries(
        [
            shapely.LineString([(0, 0), (10, 8), (11, 2)]),
            shapely.MultiLineString([[(0, 8), (5, 0)], [(6, 6), (9, 7)]]),
        ],
        crs=32648,
    )
    fill = {"facecolor": "#e31a1c", "alpha": 0.3, "edgecolor": "none", "zorder": 1}
    dash = {"color": "#333333", "linewidth": 1.5, "linestyle": "--", "zorder": 2}

    def ours(ax: Any) -> None:
        _draw_polygons(ax, polys, **fill)
        _draw_lines(ax, polys.boundary, **dash)
        _draw_lines(ax, lines, **dash)

    def theirs(ax: Any) -> None:
        polys.plot(ax=ax, **fill)
        polys.boundary.plot(ax=ax, **dash)
        lines.plot(ax=ax, **dash)

    mine = _pixels(ours)
    assert (mine[..., :3] < 250).any()  # something was drawn
    assert np.array_equal(mine, _pixels(theirs))
    # anything else (here a point among the polygons) is drawn by geopandas itself
    mixed = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 3, 3), shapely.Point(6, 6)], crs=32648)
    style = {"facecolor": "#1f78b4", "edgecolor": "none", "zorder": 1}
    assert np.array_equal(
        _pixels(lambda ax: _draw_polygons(ax, mixed, **style)),
        _pixels(lambda ax: mixed.plot(ax=ax, **style)),
    )


def test_static_png_has_matplotlibs_pixels_in_rgb(tmp_path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    from siting.maps.static import _png_canvas

    def save(canvas: Any, path: Path, *, clear: bool = False) -> Path:
        fig = Figure(figsize=(3, 2))
        canvas(fig)
        if clear:
            fig.patch.set_alpha(0.0)
        ax = fig.add_subplot()
        ax.plot([0, 1, 2], [0, 1, 0.5], color="#d7191c", linewidth=2)
        ax.fill_between([0, 1, 2], [0, 0.5, 0.2], color="#41ab5d", alpha=0.3)
        fig.savefig(path, format="png", dpi=150, metadata={"Software": None})
        return path

    with (
        Image.open(save(_png_canvas(), tmp_path / "ours.png")) as ours,
        Image.open(save(FigureCanvasAgg, tmp_path / "theirs.png")) as theirs,
    ):
        assert (ours.mode, theirs.mode) == ("RGB", "RGBA")
        assert ours.size == theirs.size == (450, 300)
        assert ours.info == theirs.info  # the resolution, no text chunks
        assert set(ours.info) == {"dpi"}
        assert np.array_equal(np.asarray(ours), np.asarray(theirs)[..., :3])
    assert (
        save(_png_canvas(), tmp_path / "again.png").read_bytes()
        == (tmp_path / "ours.png").read_bytes()
    )
    # a see-through page keeps its alpha
    with (
        Image.open(save(_png_canvas(), tmp_path / "clear.png", clear=True)) as ours,
        Image.open(save(FigureCanvasAgg, tmp_path / "clear2.png", clear=True)) as theirs,
    ):
        assert ours.mode == theirs.mode == "RGBA"
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_text_with_template_syntax_is_shown_as_written(
    xuanhan_run: pipeline.RunResult, tmp_path: Path
) -> None:
    """Titles and names go into the page as text: ``{{ … }}`` is not a template (it was)."""
    fac = xuanhan_run.map_layers().facilities
    assert fac is not None
    fac = fac.copy()
    fac.iloc[0, fac.columns.get_loc("name")] = "院{{ 名 }}{% if %}"
    m = maps.meeting_map(xuanhan_run, facilities=fac, title="布局{{图}}")
    page = maps.save_html(m, tmp_path / "map.html").read_text(encoding="utf-8")
    assert '<div class="siting-box siting-title" id="siting-title">布局{{图}}</div>' in page
    assert "院{{ 名 }}{% if %}" in page
