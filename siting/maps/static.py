"""The static map for printed reports (:func:`static_map`, PNG or PDF) with Chinese text, a
legend, a scale bar and a north arrow."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import registry
from siting._errors import MapError
from siting._io import atomic_path
from siting._optional import require
from siting.maps.layers import HasMapLayers, MapLayers, _default_title, _gather, _Parts
from siting.maps.style import (
    _CJK_FAMILIES,
    _ELEMENT_TYPES_ZH,
    CJK_FONT_PATH,
    _kind_label,
    _kind_style,
    _rule_names,
    _style,
    service_area_word,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from siting.layout import Layout
    from siting.regions import Region

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
    require("matplotlib", "maps", "打印版静态地图", purpose="the printed (static) map")
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

# --- drawing geometries --------------------------------------------------------------------------
# What ``GeoSeries.plot`` draws for polygons and lines (one collection of normalised geometries),
# built with a few vectorised shapely calls instead of one matplotlib object per ring and part.


def _geo_labels(ax: Axes) -> None:
    """What ``GeoSeries.plot`` does to the axis labels (small, cleared later): the layout of the
    page (the labels' font size) stays as it was with geopandas."""
    if ax.get_xlabel() == "":
        ax.set_xlabel("x", fontsize="small")
    if ax.get_ylabel() == "":
        ax.set_ylabel("y", fontsize="small")


def _all_of(geoms: Any, types: tuple[str, ...]) -> bool:
    """Whether every geometry is present, not empty and one of ``types``."""
    arr = np.asarray(geoms, dtype=object)
    if len(arr) == 0 or shapely.is_missing(arr).any() or shapely.is_empty(arr).any():
        return False
    return bool(np.isin(shapely.get_type_id(arr), [_TYPE_IDS[t] for t in types]).all())


_TYPE_IDS: Final = {"LineString": 1, "Polygon": 3, "MultiLineString": 5, "MultiPolygon": 6}


def _polygon_paths(geoms: Any) -> list[Any]:
    """One compound path per (Multi)Polygon, as geopandas builds it: the normalised polygon's
    parts, each exterior then its holes, every ring closed."""
    from matplotlib.path import Path as MplPath

    polys = shapely.normalize(np.asarray(geoms, dtype=object))
    parts, owner = shapely.get_parts(polys, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    counts = shapely.get_num_coordinates(rings)
    verts = shapely.get_coordinates(rings)
    codes = np.full(len(verts), MplPath.LINETO, dtype=MplPath.code_type)
    ends = np.cumsum(counts)
    codes[ends - counts] = MplPath.MOVETO
    codes[ends - 1] = MplPath.CLOSEPOLY
    # vertices per polygon: its rings' coordinates, in order
    ring_poly = owner[ring_part]
    per_poly = np.bincount(ring_poly, weights=counts, minlength=len(polys)).astype(np.int64)
    cut = np.cumsum(per_poly)[:-1]
    return [MplPath(v, c) for v, c in zip(np.split(verts, cut), np.split(codes, cut), strict=True)]


def _draw_polygons(ax: Axes, gdf: gpd.GeoDataFrame | gpd.GeoSeries, **style: Any) -> None:
    """``gdf.plot(ax=ax, **style)`` for polygons (``facecolor``, ``alpha``, ``edgecolor``,
    ``zorder``): one collection of one path per polygon."""
    geoms = gdf.geometry.array if isinstance(gdf, gpd.GeoDataFrame) else gdf.array
    if not _all_of(geoms, ("Polygon", "MultiPolygon")):
        gdf.plot(ax=ax, **style)
        return
    from matplotlib.collections import PathCollection

    _geo_labels(ax)
    ax.add_collection(PathCollection(_polygon_paths(geoms), **style), autolim=True)


def _draw_lines(ax: Axes, gdf: gpd.GeoDataFrame | gpd.GeoSeries, **style: Any) -> None:
    """``gdf.plot(ax=ax, color=..., **style)`` for lines: a LineCollection of the parts of the
    normalised lines."""
    geoms = gdf.geometry.array if isinstance(gdf, gpd.GeoDataFrame) else gdf.array
    if not _all_of(geoms, ("LineString", "MultiLineString")):
        gdf.plot(ax=ax, **style)
        return
    from matplotlib.collections import LineCollection

    _geo_labels(ax)
    lines = shapely.get_parts(shapely.normalize(np.asarray(geoms, dtype=object)))
    counts = shapely.get_num_coordinates(lines)
    segments = np.split(shapely.get_coordinates(lines), np.cumsum(counts)[:-1])
    color = style.pop("color")
    ax.add_collection(LineCollection(segments, **style, color=color), autolim=True)


def _draw_counties(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """County boundaries (dashed)."""
    from matplotlib.lines import Line2D

    st = _style()
    handles: list[Any] = []
    if parts.counties is not None:
        c = st["counties"]
        _draw_lines(
            ax,
            parts.counties.to_crs(crs).boundary,
            color=c["colour"],
            linewidth=1.0,
            linestyle="--",
            zorder=2,
        )
        handles.append(Line2D([], [], color=c["colour"], linestyle="--", label="县界"))
    return handles


def _draw_layout(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """The planned layout's elements, tinted by type."""
    from matplotlib.patches import Patch

    st = _style()
    handles: list[Any] = []
    if parts.layout is not None and not parts.layout.empty:
        plan = parts.layout.to_crs(crs)
        for t, colour in st["layout_types"].items():
            sub = plan[plan.get("element_type", pd.Series(dtype=object)) == t]
            if sub.empty:
                continue
            _draw_polygons(ax, sub, facecolor=colour, alpha=0.12, edgecolor="none", zorder=1)
            _draw_lines(ax, sub.boundary, color=colour, linewidth=0.8, linestyle=":", zorder=1)
            handles.append(
                Patch(
                    facecolor=colour,
                    alpha=0.3,
                    edgecolor=colour,
                    label=f"规划布局：{_ELEMENT_TYPES_ZH.get(t, t)}",
                )
            )
    return handles


def _draw_service_areas(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """The shortest service area only (to keep the print legible)."""
    from matplotlib.patches import Patch

    st = _style()
    handles: list[Any] = []
    sa = parts.service_areas
    if sa is not None and not sa.empty:
        colours = list(st["service_areas"])
        minutes = sorted(float(x) for x in sa["minutes"].unique())
        mins = minutes[0]
        sub = sa[sa["minutes"].astype(float) == mins].to_crs(crs)
        colour = colours[0]
        _draw_polygons(ax, sub, facecolor=colour, alpha=0.08, edgecolor="none", zorder=1.5)
        label = f"{service_area_word(sa)} {mins:g}分钟" + (
            "(直线估算)" if parts.straight_line else ""
        )
        handles.append(Patch(facecolor=colour, alpha=0.25, label=label))
    return handles


def _draw_pairings(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """One line per assigned pairing, a colour per rule."""
    from matplotlib.lines import Line2D

    st = _style()
    handles: list[Any] = []
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
    return handles


def _draw_patrol_routes(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """The patrol routes."""
    from matplotlib.lines import Line2D

    st = _style()
    handles: list[Any] = []
    if parts.patrol_routes is not None and not parts.patrol_routes.empty:
        p = st["patrol_routes"]
        _draw_lines(
            ax, parts.patrol_routes.to_crs(crs), color=p["colour"], linewidth=1.2, zorder=3.5
        )
        handles.append(Line2D([], [], color=p["colour"], linewidth=1.5, label="巡诊路线"))
    return handles


def _draw_facilities(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """The facilities, a symbol and colour per kind, with their counts."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
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
    return handles


def _draw_gaps(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """Facilities and villages with a coverage gap, ringed."""
    from matplotlib.lines import Line2D

    st = _style()
    handles: list[Any] = []
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
    return handles


def _draw_recommendations(ax: Axes, parts: _Parts, crs: str, fac: gpd.GeoDataFrame) -> list[Any]:
    """Recommended sites, as stars."""
    from matplotlib.lines import Line2D

    st = _style()
    handles: list[Any] = []
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


#: The steps of a static map, in drawing order: each draws one part and returns its legend
#: handles.
_STATIC_STEPS: Final = (
    _draw_counties,
    _draw_layout,
    _draw_service_areas,
    _draw_pairings,
    _draw_patrol_routes,
    _draw_facilities,
    _draw_gaps,
    _draw_recommendations,
)


#: zlib level of the PNG: pixels are the same at any level; 3 is about twice as fast as the
#: default 6 and the file only slightly larger (the RGB file is smaller than the RGBA one was).
_PNG_LEVEL: Final = 3


@cache
def _png_canvas() -> type[Any]:
    """An Agg canvas that writes its PNG as RGB when the page is opaque (always, with the white
    page of :func:`static_map`): a quarter fewer bytes to compress than matplotlib's RGBA, the
    same pixels; no text chunks (no software name or date: the same map gives the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    class Canvas(FigureCanvasAgg):
        def print_png(
            self,
            filename_or_obj: Any,
            *,
            metadata: Mapping[str, Any] | None = None,
            pil_kwargs: Mapping[str, Any] | None = None,
            **kwargs: Any,  # print_figure's own (colours and size already set on the figure)
        ) -> None:
            FigureCanvasAgg.draw(self)  # type: ignore[no-untyped-call]
            rgba = np.asarray(self.buffer_rgba())  # type: ignore[no-untyped-call]
            opaque = bool((rgba[..., 3] == 255).all())
            image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]) if opaque else rgba)
            dpi = self.figure.dpi
            image.save(filename_or_obj, format="png", dpi=(dpi, dpi), compress_level=_PNG_LEVEL)

    return Canvas


def _draw_static(ax: Axes, parts: _Parts) -> list[Any]:
    """Draw every part on ``ax`` in the metric CRS; return the legend handles."""
    crs = parts.metric_crs()
    fac = parts.facilities.to_crs(crs)
    handles: list[Any] = []
    for step in _STATIC_STEPS:
        handles += step(ax, parts, crs, fac)
    return handles


def static_map(
    run: HasMapLayers | MapLayers | None = None,
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
    require("matplotlib", "maps", "打印版静态地图", purpose="the printed (static) map")
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
        _png_canvas()(fig)
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
