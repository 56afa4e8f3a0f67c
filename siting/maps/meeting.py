"""The interactive meeting map (:func:`meeting_map`): one layer per kind, rule, gap and area,
with a legend, a title and the modelled-data notice."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import registry
from siting._errors import MapError
from siting.crs import convert_gdf
from siting.kinds import TIER_ZH, TIERS
from siting.maps.layers import HasMapLayers, MapLayers, _default_title, _gather, _Parts
from siting.maps.leaflet import (
    _add_offline_assets,
    _display,
    _features,
    _figure,
    _PointLayer,
    _Raw,
    _scale,
    _symbol_html,
    _VectorLayer,
)
from siting.maps.style import (
    _ELEMENT_TYPES_ZH,
    _QUALITY_ZH,
    _SOURCE_ZH,
    BASEMAPS,
    _esc,
    _generic_rows,
    _Html,
    _kind_label,
    _kind_style,
    _minutes,
    _missing,
    _rule_names,
    _style,
    _table,
    service_area_word,
)

if TYPE_CHECKING:
    from siting.layout import Layout
    from siting.regions import Region

# --- the meeting map -----------------------------------------------------------------------------


def _grouped(
    frame: pd.DataFrame, key: str, columns: Sequence[str]
) -> dict[Any, list[dict[str, Any]]]:
    """Rows of ``frame`` as dicts, grouped by ``key`` in order (faster than a pandas groupby
    over thousands of small groups)."""
    cols = [c for c in dict.fromkeys([key, *columns]) if c in frame.columns]
    out: dict[Any, list[dict[str, Any]]] = {}
    values = [frame[c].tolist() for c in cols]
    for row in zip(*values, strict=True):
        rec = dict(zip(cols, row, strict=True))
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
    present = set(fac["kind"])
    kinds = [k for k in registry.KINDS if k in present]
    kinds += sorted(set(fac["kind"].dropna().astype(str)) - set(kinds))
    for kind in kinds:
        sub = fac[fac["kind"] == kind]
        ks = _kind_style(kind)
        label = _kind_label(kind)
        # the columns shown, as lists (a missing column: None for every row)
        col = {
            c: sub[c].tolist() if c in sub.columns else [None] * len(sub)
            for c in ("name", "beds", "level", "capacity", "source", "location")
        }
        rows = []
        for i, (fid, lat, lon) in enumerate(
            zip(sub.index, sub.geometry.y.tolist(), sub.geometry.x.tolist(), strict=True)
        ):
            info: list[tuple[str, Any]] = [("类型", label)]
            for c, lab in (("beds", "床位"), ("level", "等级"), ("capacity", "容量")):
                val = col[c][i]
                info.append((lab, None if _missing(val) else val))
            if fid in partners:
                info.append(("配对机构", _Html(partners[fid])))
            if fid in served:
                info.append(("服务对象", _Html(served[fid])))
            if fid in gap_ids:
                info.append(("覆盖缺口", "是(见覆盖缺口图层)"))
            src = col["source"][i]
            info.append(("数据来源", _SOURCE_ZH.get(str(src), src)))
            loc = col["location"][i]
            info.append(("位置", None if _missing(loc) else _QUALITY_ZH.get(str(loc), loc)))
            info.append(("编号", fid))
            name = col["name"][i]
            rows.append([lat, lon, _esc(name), _table(info, str(name))])
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
    # the ends of every line as integers of the file's precision (what _encode gives)
    at = {fid: i for i, fid in enumerate(fac.index)}
    lonlat = np.column_stack([fac.geometry.x, fac.geometry.y])  # points only, as before
    ixy = np.rint(lonlat * _scale()).astype(np.int64)
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
        a = ixy[[at[f] for f in group["facility_id"]]]
        b = ixy[[at[p] for p in group["partner_id"]]]
        ends: list[list[int]] = np.hstack([a, b - a]).tolist()
        cols = ["within_threshold", "facility_name", "partner_name", "travel_time_min"]
        cols += ["distance_km", "threshold_min"]
        recs = cast("list[dict[str, Any]]", group[cols].to_dict("records"))
        feats = []
        for r, line in zip(recs, ends, strict=True):
            ok = r["within_threshold"]
            within = bool(ok) if not _missing(ok) else True
            tip = f"{_esc(r['facility_name'])} → {_esc(r['partner_name'])}："
            tip += f"车程{_minutes(r['travel_time_min'])}"
            if not _missing(r["distance_km"]):
                tip += f"，{r['distance_km']:.1f}公里"
            if not within and not _missing(r["threshold_min"]):
                tip += f"<br>⚠ 超出{r['threshold_min']:g}分钟时限"
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"s": 0 if within else 1, "t": tip},
                    "geometry": {"type": "LineString", "coordinates": line},
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
        if "tier" not in vgaps.columns:
            vgaps = vgaps.assign(tier=None)
        cols = [
            "village_name",
            "nearest_partner_name",
            "travel_time_min",
            "threshold_min",
            "reason",
            "tier",
        ]
        order = {t: i for i, t in enumerate(TIERS)}
        for code, recs in _grouped(vgaps, "village_code", cols).items():
            recs = sorted(recs, key=lambda r: (order.get(r["tier"], 9), float(r["threshold_min"])))
            rows_: list[tuple[str, Any]] = [("村/社区", recs[0]["village_name"])]
            for tier in dict.fromkeys(r["tier"] for r in recs):  # one block per service tier
                mine = [r for r in recs if r["tier"] == tier]
                head = TIER_ZH.get(tier, "医疗机构") if isinstance(tier, str) else "医疗机构"
                rows_ += [
                    (f"{head}：最近", mine[0]["nearest_partner_name"]),
                    ("车程", _minutes(mine[0]["travel_time_min"])),
                    ("超出时限", "、".join(f"{float(r['threshold_min']):g}分钟" for r in mine)),
                ]
            rows_.append(("说明", recs[0]["reason"]))
            first = recs[0]
            pop = _table(rows_, "覆盖缺口(村)")
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

        def layout_props(idx: Any, r: Mapping[str, Any]) -> dict[str, Any]:
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
        word = service_area_word(sa)
        areas = _display(sa, shift, simplify=True)
        straight = parts.straight_line
        colours = list(st["service_areas"])
        minutes = sorted(float(x) for x in areas["minutes"].unique())
        for i, mins in enumerate(minutes):
            sub = areas[areas["minutes"].astype(float) == mins]
            colour = colours[min(i, len(colours) - 1)]
            style = {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.12}

            def sa_props(idx: Any, r: Mapping[str, Any], mins: float = mins) -> dict[str, Any]:
                name = r.get("facility_name") or r.get("facility_id")
                area = r.get("area_km2")
                rows = [
                    ("机构", name),
                    ("车程", f"{mins:g}分钟以内" + ("（直线估算，圆形示意）" if straight else "")),
                    ("面积", None if _missing(area) else f"{float(str(area)):.1f}平方公里"),
                ]
                return {"t": f"{_esc(name)} {mins:g}分钟{word}", "p": _table(rows, word)}

            name = f"{word} {mins:g}分钟" + ("(直线估算)" if straight else "")
            m.add_child(_VectorLayer(_features(sub, sa_props), [style], name=name, show=i == 0))
        shown["straight"] = straight
        shown["service_area_word"] = word
        shown["service_areas"] = [(mins, colours[min(i, len(colours) - 1)]) for i, mins in
                                  enumerate(minutes)]  # fmt: skip
    return shown


def _extra_layers(m: folium.Map, parts: _Parts, shift: str) -> dict[str, bool]:
    st = _style()
    shown: dict[str, bool] = {}
    if parts.patrol_routes is not None and not parts.patrol_routes.empty:
        routes = _display(parts.patrol_routes, shift, simplify=True)
        p = st["patrol_routes"]

        def route_props(idx: Any, r: Mapping[str, Any]) -> dict[str, Any]:
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
            f"{polygons.get('service_area_word', '服务范围')} {mins:g}分钟"
            + ("(直线估算)" if polygons.get("straight") else ""),
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


def meeting_map(
    run: HasMapLayers | MapLayers | None = None,
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
        The result of :func:`siting.pipeline.run` (its in-memory layers,
        ``RunResult.map_layers()``: pairings, gaps, service areas, patrol routes,
        recommendations, and where it came from), or a :class:`MapLayers`. ``None`` to draw
        only the parts given.
    region
        The region (its county boundaries and villages); default: the run's region.
    facilities
        The facility registry; default: the registry the run read (without a run: the
        modelled registry of ``region``).
    layout
        The planned layout (a :class:`siting.layout.Layout`, its elements, or a spec name);
        default: the run's layout.
    patrol_routes
        Patrol routes (LineStrings, any CRS); default: the run's (each distinct route once).
    recommendations
        Recommended sites (points, or a DataFrame with ``lon``/``lat`` in WGS84); default: the
        run's.
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
        _Raw(f'<div class="siting-box siting-title" id="siting-title">{_esc(title)}</div>')
    )
    names = _rule_names(parts.pairings) if parts.pairings is not None else {}
    rule_names = {r: names[r] for r in rules}
    root.html.add_child(_Raw(_legend_html(parts.facilities, rule_names, polygons, extras, n_gaps)))
    modelled = parts.modelled()
    if modelled:
        items = "".join(f"<li>{_esc(x)}</li>" for x in modelled)
        root.html.add_child(
            _Raw(
                '<div class="siting-box siting-notice" id="siting-notice">'
                f"<b>⚠ {parts.notice_heading()}</b>"
                f'<ul style="margin:2px 0 0 0;padding-left:18px">{items}</ul></div>'
            )
        )
    if basemap != "none":
        root.html.add_child(
            _Raw(
                '<div class="siting-box" style="bottom:2px;left:50%;transform:translateX(-50%);'
                'padding:0 6px;font-size:11px;box-shadow:none">'
                f"底图：{_esc(base['label'])}(需联网；离线时仅显示图层)"
                + ("，图层已转换为GCJ-02坐标" if shift == "gcj02" else "")
                + "</div>"
            )
        )
    return m
