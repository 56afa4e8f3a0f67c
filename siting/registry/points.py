"""The reading checks of a file's points: coordinates, their system, conversion to WGS84,
points outside the region and many facilities on one point.

``_PointChecks`` is one half of :class:`siting.registry.reading._Reading` (the other is
:mod:`.columns`); every problem becomes an issue, nothing stops early.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np
import numpy.typing as npt

from siting import crs as _crs
from siting._tables import normalize_label as _norm_value
from siting.registry.checks import (
    _PAIR,
    _SAME_POINT_M,
    _SAME_POINT_MIN,
    _float,
    _text,
)
from siting.registry.coords import _EARTH_RADIUS_M, _evidence, _outside_m
from siting.registry.issues import _rows_text
from siting.registry.schema import (
    _DISTRICT_HEADERS,
    _GEOMETRY,
    FloatArray,
    _header_crs,
    _norm_header,
)
from siting.registry.table import _Table


class _PointChecks(_Table):
    """The checks of the points (run in order by :meth:`_Reading.run`)."""

    def coordinates(self) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Coordinates as written in the file (before any conversion) and which parsed."""
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        ok = np.zeros(self.n, dtype=bool)
        if self.coords == "columns":
            for i, (vx, vy) in enumerate(zip(self.cells("lon"), self.cells("lat"), strict=True)):
                good = True
                for canon, v, arr, zh in (("lon", vx, lon, "经度"), ("lat", vy, lat, "纬度")):
                    f, parsed = _float(v)
                    if f is None:
                        good = False
                        reason = "is empty" if parsed else f"{_text(v)!r} is not a number"
                        hint = " (decimals take a dot: 106.08)" if "," in str(v) else ""
                        self.issues.error(
                            self.rows[i],
                            self.where(canon),
                            f"{canon} {reason}{hint if not parsed else ''}",
                            f"{zh}为空" if parsed else f"{zh}“{_text(v)}”不是数字",
                        )
                    else:
                        arr[i] = f
                ok[i] = good
        elif self.coords == "pairs":
            for i, v in enumerate(self.cells("lnglat")):
                text = _text(v)
                m = _PAIR.fullmatch(unicodedata.normalize("NFKC", text)) if text else None
                if m is None:
                    self.issues.error(
                        self.rows[i],
                        self.where("lnglat"),
                        "location is empty"
                        if text is None
                        else f"location {text!r} is not 'lng,lat'",
                        "坐标为空" if text is None else "坐标格式须为“经度,纬度”",
                    )
                    continue
                lon[i], lat[i] = float(m[1]), float(m[2])
                ok[i] = True
        elif self.coords == "geometry":
            for i, g in enumerate(self.raw.geometry):
                if g is None or g.is_empty:
                    self.issues.error(
                        self.rows[i], _GEOMETRY, "feature has no geometry", "要素没有几何"
                    )
                elif g.geom_type != "Point":
                    self.issues.error(
                        self.rows[i],
                        _GEOMETRY,
                        f"geometry is a {g.geom_type}, a facility needs a Point",
                        "几何须为点",
                    )
                elif not (math.isfinite(g.x) and math.isfinite(g.y)):
                    self.issues.error(
                        self.rows[i], _GEOMETRY, "point has no finite coordinates", "坐标无效"
                    )
                else:
                    lon[i], lat[i] = g.x, g.y
                    ok[i] = True
        return lon, lat, ok

    def placement(
        self, lon: FloatArray, lat: FloatArray, ok: npt.NDArray[np.bool_]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Swapped, out of range, outside China: reported, never fixed. Returns (usable, inside)."""
        in_range = ok & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
        inside = ok & ~_crs.out_of_china(lon, lat)
        swapped = np.zeros(self.n, dtype=bool)
        col = (
            _GEOMETRY
            if self.coords == "geometry"
            else self.where("lnglat" if self.coords == "pairs" else "lat")
        )
        for i in np.flatnonzero(ok & ~inside).tolist():
            x, y = float(lon[i]), float(lat[i])
            if abs(y) <= 180 and abs(x) <= 90 and not bool(_crs.out_of_china(y, x)):
                swapped[i] = True
                self.issues.error(
                    self.rows[i],
                    col,
                    f"lon/lat look swapped: ({x}, {y}) is outside China but ({y}, {x}) is "
                    "inside; fix the file (not changed automatically)",
                    "经纬度疑似颠倒，请在文件中改正",
                )
            elif not in_range[i]:
                self.issues.error(
                    self.rows[i],
                    col,
                    f"({x}, {y}) is not a longitude/latitude (|lon| <= 180, |lat| <= 90)",
                    "经纬度超出范围",
                )
            else:
                self.issues.warn(
                    self.rows[i], col, f"({x}, {y}) lies outside China", "坐标位于中国境外"
                )
        return in_range & ~swapped, inside

    def row_systems(self) -> tuple[list[str | None], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per-row ``crs`` cells: (system or None, cell filled, cell unreadable)."""
        systems: list[str | None] = [None] * self.n
        filled = np.zeros(self.n, dtype=bool)
        bad = np.zeros(self.n, dtype=bool)
        for i, v in enumerate(self.cells("crs")):
            t = _text(v)
            if t is None:
                continue
            filled[i] = True
            try:
                systems[i] = _crs.normalize_crs_name(t)
            except _crs.CRSError:
                bad[i] = True
                self.issues.error(
                    self.rows[i],
                    self.where("crs"),
                    f"unknown coordinate system {t!r}; use wgs84, gcj02 or bd09",
                    f"无法识别的坐标系“{t}”，请填 wgs84、gcj02 或 bd09",
                )
        return systems, filled, bad

    def to_wgs84(
        self,
        lon: FloatArray,
        lat: FloatArray,
        ok: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
        inside: npt.NDArray[np.bool_],
    ) -> tuple[list[str | None], FloatArray, FloatArray]:
        """Each row's source system, and its coordinates converted to WGS84."""
        if self.raw.vector:
            return self._vector_to_wgs84(lon, lat, ok, usable)
        systems, filled, bad = self.row_systems()
        file_crs = self._file_crs()
        declared = np.zeros(self.n, dtype=bool)
        for i in range(self.n):
            if systems[i] is None and not bad[i]:
                systems[i] = file_crs
            declared[i] = systems[i] is not None
        undeclared = usable & ~declared & ~bad
        self._undeclared(lon, lat, undeclared & inside, whole_file=not filled.any())
        for i in np.flatnonzero(undeclared & ~inside).tolist():
            systems[i] = _crs.WGS84  # outside China every system is WGS84
        if self.opts.reference is not None:
            as_wgs = usable & declared & np.array([c == _crs.WGS84 for c in systems], dtype=bool)
            ev = _evidence(lon[as_wgs], lat[as_wgs], self.opts.reference)
            if ev is not None and ev.verdict == "gcj02":
                self.issues.warn(
                    None,
                    self.where("crs"),
                    f"{ev.text()}; they are declared WGS84 — check they do not come from a "
                    "Chinese web map (then declare gcj02)",
                    ev.text_zh() + "；但声明为 WGS84，请核对",
                )
            as_gcj = usable & declared & np.array([c == _crs.GCJ02 for c in systems], dtype=bool)
            self._declared_gcj02(lon[as_gcj], lat[as_gcj], self.where("crs"))
        wgs_lon, wgs_lat = lon.copy(), lat.copy()
        for name in (_crs.GCJ02, _crs.BD09):
            sel = ok & np.array([c == name for c in systems], dtype=bool)
            if sel.any():
                wgs_lon[sel], wgs_lat[sel] = _crs.convert(
                    lon[sel], lat[sel], src=name, dst=_crs.WGS84
                )
        return systems, wgs_lon, wgs_lat

    def _file_crs(self) -> str | None:
        """The system of rows without a crs cell: argument, poi_source, headers, POI signature."""
        if self.opts.crs is not None:
            self.raw.attrs["crs_declared_by"] = "argument crs"
            return self.opts.crs
        if self.opts.poi_source is not None:
            self.raw.attrs["crs_declared_by"] = "argument poi_source"
            return self.opts.poi_source
        named = {
            c: _header_crs(self.by_canon[c]) for c in ("lon", "lat", "lnglat") if c in self.by_canon
        }
        found = {c for c in named.values() if c is not None}
        if len(found) > 1:
            self.issues.error(
                None,
                None,
                f"the headers name different coordinate systems: {named}",
                "表头标注的坐标系不一致",
            )
            return None
        if found:
            self.raw.attrs["crs_declared_by"] = "headers"
            return found.pop()
        if not self.poi or "crs" in self.by_canon:
            return None
        if "typecode" in self.normalized:
            self.raw.attrs["crs_inferred"] = "gcj02 (typecode column: Amap export)"
            self.issues.warn(
                None,
                "crs",
                "coordinates taken as GCJ-02 because the file has a typecode column (an Amap "
                "POI export); pass crs= if that is wrong",
                "文件有 typecode 列（高德 POI 导出），坐标按 GCJ-02 读取",
            )
            return _crs.GCJ02
        if "uid" in self.normalized:
            self.raw.attrs["crs_inferred"] = "bd09 (uid column: Baidu export)"
            self.issues.warn(
                None,
                "crs",
                "coordinates taken as BD-09 because the file has a uid column (a Baidu POI "
                "export); pass crs= if that is wrong",
                "文件有 uid 列（百度 POI 导出），坐标按 BD-09 读取",
            )
            return _crs.BD09
        return None

    def _declared_gcj02(self, lon: FloatArray, lat: FloatArray, column: str) -> None:
        """Points declared GCJ-02 that sit on the seats' WGS84 positions: a warning."""
        if self.opts.reference is None or not len(lon):
            return
        ev = _evidence(lon, lat, self.opts.reference)
        if ev is not None and ev.verdict == "wgs84":
            self.issues.warn(
                None,
                column,
                f"{ev.text()}; they are declared GCJ-02 — if they come from a GPS, OpenStreetMap "
                "or 天地图 (WGS84/CGCS2000), declare wgs84: converting them from GCJ-02 moves "
                "each point about 500 m off",
                ev.text_zh() + "；但声明为 GCJ-02，若坐标来自 GPS、OSM 或天地图，请声明为 wgs84",
            )

    def _undeclared(
        self, lon: FloatArray, lat: FloatArray, rows: npt.NDArray[np.bool_], *, whole_file: bool
    ) -> None:
        """Points in China with no declared system: an error, with the GCJ-02 evidence if any."""
        if not rows.any():
            return
        evidence = evidence_zh = ""
        if self.opts.reference is not None:
            ev = _evidence(lon[rows], lat[rows], self.opts.reference)
            if ev is not None and ev.verdict is not None:
                evidence, evidence_zh = f"; {ev.text()}", f"；{ev.text_zh()}"
        reason = (
            "coordinate system not declared; in China web maps use GCJ-02 (offset ~500 m "
            "here) — declare wgs84, gcj02 or bd09 (--crs / 坐标系 column)" + evidence
        )
        reason_zh = (
            "未声明坐标系；国内网络地图多用 GCJ-02（此处偏移约 500 米），"
            "请注明 wgs84、gcj02 或 bd09（--crs 参数或“坐标系”列）" + evidence_zh
        )
        if whole_file:
            self.issues.error(None, "crs", reason, reason_zh)
        else:
            for i in np.flatnonzero(rows).tolist():
                self.issues.error(self.rows[i], self.where("crs"), reason, reason_zh)

    def _vector_to_wgs84(
        self,
        lon: FloatArray,
        lat: FloatArray,
        ok: npt.NDArray[np.bool_],
        usable: npt.NDArray[np.bool_],
    ) -> tuple[list[str | None], FloatArray, FloatArray]:
        """Vector files: the geometry is in the file's CRS; a crs column is provenance."""
        systems, _filled, _bad = self.row_systems()
        wgs_lon, wgs_lat = lon.copy(), lat.copy()
        declared = self.opts.crs
        if declared is not None:
            for i in range(self.n):
                if systems[i] not in (None, declared):
                    self.issues.error(
                        self.rows[i],
                        self.where("crs"),
                        f"the file's crs column says {systems[i]} (the geometry's provenance) "
                        f"but crs={declared!r} asks to convert the geometry from {declared}",
                        "crs 参数与文件中的坐标系列矛盾",
                    )
            systems = [declared] * self.n
            if declared == _crs.GCJ02:
                self._declared_gcj02(lon[usable], lat[usable], _GEOMETRY)
            if ok.any() and declared != _crs.WGS84:
                wgs_lon[ok], wgs_lat[ok] = _crs.convert(
                    lon[ok], lat[ok], src=declared, dst=_crs.WGS84
                )
        else:
            systems = [c if c is not None else _crs.WGS84 for c in systems]
            if self.opts.reference is not None:
                ev = _evidence(lon[usable], lat[usable], self.opts.reference)
                if ev is not None and ev.verdict == "gcj02":
                    self.issues.warn(
                        None,
                        _GEOMETRY,
                        f"{ev.text()}; the file says WGS84 — if its points come from a Chinese "
                        "web map, read it with crs='gcj02'",
                        ev.text_zh() + "；若坐标取自国内网络地图，请按 gcj02 读取",
                    )
        for canon, values in (("lon", lon), ("lat", lat)):  # as written, before any conversion
            if canon not in self.by_canon:
                continue
            cells = self.frame[self.by_canon[canon]].tolist()
            for i in np.flatnonzero(ok).tolist():
                f = _float(cells[i])[0]
                if f is not None and abs(f - values[i]) > 1e-6:
                    self.issues.warn(
                        self.rows[i],
                        self.by_canon[canon],
                        f"{canon} {f} differs from the geometry ({values[i]}); "
                        "the geometry was used",
                        "经纬度列与几何不一致，以几何为准",
                    )
        return systems, wgs_lon, wgs_lat

    def region(self, lon: FloatArray, lat: FloatArray, usable: npt.NDArray[np.bool_]) -> None:
        """Points farther than the margin outside the boundary, measured in metres."""
        if self.opts.boundary is None or not usable.any():
            return
        dist = _outside_m(lon[usable], lat[usable], self.opts.boundary)
        for i, d in zip(np.flatnonzero(usable).tolist(), dist.tolist(), strict=True):
            if d > self.opts.margin_m:
                self.issues.error(
                    self.rows[i],
                    self.point_column,
                    f"the point lies {d / 1000:.1f} km outside the region boundary (allowed "
                    f"margin {self.opts.margin_m / 1000:g} km)",
                    f"位置在区域边界外 {d / 1000:.1f} 公里",
                )

    def same_point(
        self,
        lon: FloatArray,
        lat: FloatArray,
        usable: npt.NDArray[np.bool_],
        names: list[str | None],
        written: tuple[FloatArray, FloatArray],
    ) -> None:
        """Many differently named facilities on one point: a geocoder's fallback, probably.

        A geocoder that cannot place an address returns the centre of the city or district,
        the same point for every such address. Groups of at least :data:`_SAME_POINT_MIN`
        facilities with as many different names within :data:`_SAME_POINT_M` metres are told
        (a warning on each of their rows): their places are not known.
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        from scipy.spatial import cKDTree

        idx = np.flatnonzero(usable)
        if len(idx) < _SAME_POINT_MIN:
            return
        x, y = np.radians(lon[idx]), np.radians(lat[idx])
        xyz = _EARTH_RADIUS_M * np.column_stack(
            (np.cos(y) * np.cos(x), np.cos(y) * np.sin(x), np.sin(y))
        )
        pairs = cKDTree(xyz).query_pairs(r=_SAME_POINT_M, output_type="ndarray")
        if not len(pairs):
            return
        graph = coo_matrix(
            (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(idx), len(idx))
        )
        _n, labels = connected_components(graph, directed=False)
        mapped = set(self.by_canon.values())
        district = next(
            (h for h in self.headers if _norm_header(h) in _DISTRICT_HEADERS and h not in mapped),
            None,
        )
        sizes = np.bincount(labels)
        for label in np.flatnonzero(sizes >= _SAME_POINT_MIN).tolist():
            members = [int(i) for i in idx[labels == label]]
            distinct = {_norm_value(n) for i in members if (n := names[i])}
            if len(members) < _SAME_POINT_MIN or len(distinct) < _SAME_POINT_MIN:
                continue
            rows = [self.rows[i] for i in members]
            first = members[0]
            spread = ""
            if district is not None:
                places = {t for i in members if (t := _text(self.frame[district].iat[i]))}
                if len(places) > 1:
                    listed = "、".join(sorted(places)[:4]) + (" …" if len(places) > 4 else "")
                    spread = f", from {len(places)} districts (column {district!r}: {listed})"
            point = f"({written[0][first]:.6f}, {written[1][first]:.6f})"
            reason = (
                f"{len(members)} facilities with different names lie on one point {point} "
                f"within {_SAME_POINT_M:g} m{spread} (rows {_rows_text(rows)}): probably a "
                "geocoder's fallback to a city or district centre, not their real places — "
                "geocode them again from their addresses or survey them (their travel times and "
                "coverage would be wrong)"
            )
            reason_zh = (
                f"{len(members)} 家名称不同的机构位于同一点 {point}，疑似地理编码失败时退回的"
                f"城市或区县中心点（第 {_rows_text(rows)} 行），请重新定位"
            )
            for i in members:  # each row is told, so that a planner can mark them
                self.issues.warn(self.rows[i], self.point_column, reason, reason_zh)
