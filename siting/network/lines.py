"""Road line layers (Shapefile, GeoJSON, GeoPackage): :func:`from_lines`.

Column recognition, the CRS a layer declares and the evidence of its roads, GCJ-02/BD-09 to
WGS84, junctions at shared vertices (none where a bridge or tunnel crosses a road).
"""

from __future__ import annotations

import codecs
import math
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely

from siting._errors import DataError, Issue, NetworkError, ValidationError
from siting.network.layer_crs import (
    _CRS_FLAG,
    _check_crs,
    _crs_hint,
    _crs_warnings,
    _declare,
    _Declared,
    _own_crs,
    _to_wgs84,
)
from siting.network.speeds import (
    IntArray,
    NetworkWarning,
    _accepted_classes,
    _class_lookup,
    _existing_file,
    _finish,
    _network_type,
    _norm_label,
    _parse_maxspeed,
    _present,
    _step_lengths,
    network_classes,
    speed_table,
)

#: Vertices of a line layer in degrees (WGS84, GCJ-02, BD-09 or a geographic EPSG CRS) are the
#: same point when they agree after rounding to this many decimals: 7 decimals (1e-7 degree,
#: about 1 cm) is the precision OpenStreetMap stores. Matching happens in the file's own
#: coordinates, before any conversion, so a conversion never splits or merges a junction.
COORD_DECIMALS_DEG: int = 7

#: The same for a line layer in a projected CRS: decimals of its unit (2 = 1 cm in metres).
COORD_DECIMALS_M: int = 2

# --- road line layers ----------------------------------------------------------------------------

#: Column names recognised in a road line layer (case-insensitive), in order of preference.
_CLASS_COLUMNS: Final = (
    "fclass",
    "highway",
    "class",
    "road_class",
    "roadclass",
    "道路等级",
    "等级",
    "道路类型",
    "道路类别",
)
_ONEWAY_COLUMNS: Final = ("oneway", "one_way", "单行", "单行道", "方向", "direction", "dir")
_LAYER_COLUMNS: Final = ("layer", "层", "层级")
_BRIDGE_COLUMNS: Final = ("bridge", "桥梁", "桥", "是否桥梁")
_TUNNEL_COLUMNS: Final = ("tunnel", "隧道", "是否隧道")
_NAME_COLUMNS: Final = ("name", "名称", "道路名称", "路名", "道路名")
_REF_COLUMNS: Final = ("ref", "编号", "路线编号", "道路编号")
_MAXSPEED_COLUMNS: Final = ("maxspeed", "限速")
_OSMID_COLUMNS: Final = ("osm_id", "osmid")

#: Direction values (case-insensitive): Geofabrik's F/T/B, OSM's yes/-1/no, ESRI's FT/TF/N, and
#: Chinese 正向/反向/双向, 是/否. F = only in the digitised direction, T = only against it.
_FORWARD: Final = frozenset(
    {"f", "ft", "yes", "true", "1", "y", "正向", "顺向", "是", "单行", "单向"}
)
_BACKWARD: Final = frozenset({"t", "tf", "-1", "reverse", "反向", "逆向"})
_BOTH: Final = frozenset(
    {"b", "n", "no", "false", "0", "双向", "否", "", "reversible", "alternating"}
)
_FALSE_FLAGS: Final = frozenset({"f", "false", "no", "n", "0", "否", ""})

_BOTH_WAYS, _ALONG, _AGAINST = 0, 1, 2
_STRUCTURES: Final = ("", "bridge", "tunnel")


def _cell_text(value: Any) -> str:
    """A cell as normalised text: NFKC, trimmed, case-folded; whole floats without ``.0``."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip().casefold()


def _find_column(columns: Sequence[str], candidates: Iterable[str]) -> str | None:
    by_name = {unicodedata.normalize("NFKC", c).strip().casefold(): c for c in columns}
    for name in candidates:
        if name.casefold() in by_name:
            return by_name[name.casefold()]
    return None


def _rows_text(rows: Sequence[int], total: int) -> str:
    shown = ", ".join(str(r) for r in rows[:10])
    more = f" and {total - 10} more" if total > 10 else ""
    return f"feature(s) {shown}{more}"


def _read_lines(
    path: str | os.PathLike[str],
    layer: str | int | None,
    encoding: str | None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    file = _existing_file(path, "road line")
    where = str(file)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            msg = (
                f"--encoding {encoding!r} (encoding= in Python) is not a text encoding; "
                "Chinese layers are usually gbk (or gb18030, utf-8)"
            )
            raise NetworkError(msg) from exc
    try:
        layers = pyogrio.list_layers(file)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        msg = f"cannot open {where}: {exc}"
        raise DataError(msg) from exc
    names = [str(n) for n in layers[:, 0]]
    if layer is None:
        lines = [str(n) for n, g in layers if g is None or "linestring" in str(g).lower()]
        if len(names) == 1:
            layer = names[0]
        elif len(lines) == 1:
            layer = lines[0]
        else:
            msg = (
                f"{where} has several layers {names}; choose the road layer with --layer NAME "
                "(layer= in Python). 文件含多个图层，请用 --layer 指定道路图层"
            )
            raise NetworkError(msg)
    elif isinstance(layer, str) and layer not in names:
        msg = f"layer {layer!r} (--layer) not found in {where}; its layers are {names}"
        raise NetworkError(msg)
    kwargs: dict[str, Any] = {"layer": layer}
    if encoding is not None:
        kwargs["encoding"] = encoding
    try:
        gdf = pyogrio.read_dataframe(file, **kwargs)
        info = pyogrio.read_info(file, layer=layer)
    except UnicodeDecodeError as exc:
        used = encoding or "the encoding its .cpg names, else UTF-8"
        msg = (
            f"cannot read the text of {where} as {used}: {exc}; give its encoding with "
            f"--encoding (encoding= in Python), e.g. --encoding gbk. 文字编码不符，请用 --encoding"
        )
        raise NetworkError(msg) from exc
    except Exception as exc:
        msg = f"cannot read layer {layer!r} of {where}: {exc}"
        raise DataError(msg) from exc
    source = {"path": str(file.resolve()), "format": str(info.get("driver")), "layer": layer}
    return gdf, source


def _codes(*arrays: npt.NDArray[Any]) -> IntArray:
    """Group codes of rows of equal values across ``arrays``, numbered by first appearance."""
    combined: IntArray = np.zeros(len(arrays[0]), dtype=np.int64)
    for array in arrays:
        codes, uniques = pd.factorize(array)
        combined = combined * max(len(uniques), 1) + codes.astype(np.int64)
        combined, _ = pd.factorize(combined)
        combined = combined.astype(np.int64)
    return combined


@dataclass
class _Lines:
    """Per-feature attributes of a line layer, validated."""

    highway: list[str]
    direction: IntArray
    layer: IntArray
    structure: IntArray
    name: list[Any]
    ref: list[Any]
    maxspeed: list[str | None]
    osmid: list[int | None]


_LATIN1_HIGH: Final = re.compile("[\u0080-\u00ff]")


def _as_gbk(text: str) -> str | None:
    """``text`` re-read as GBK when it is GBK bytes shown as Latin-1 (a Shapefile without
    ``.cpg``), else ``None``."""
    if not _LATIN1_HIGH.search(text):
        return None
    try:
        fixed = text.encode("latin-1").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return fixed if re.search("[\u4e00-\u9fff]", fixed) else None


def _encoding_hint(texts: Iterable[str]) -> str:
    """A hint naming --encoding when some ``texts`` look like GBK read as Latin-1."""
    for text in texts:
        fixed = _as_gbk(text)
        if fixed is not None:
            return (
                f". The text looks garbled: {text!r} reads {fixed!r} as GBK, so the file (a "
                "Shapefile without .cpg?) is in GBK: give --encoding gbk (encoding='gbk' in "
                "Python). 文字乱码，请用 --encoding gbk"
            )
    return ""


def _attributes(
    gdf: gpd.GeoDataFrame,
    *,
    where: str,
    class_column: str | None,
    oneway_column: str | Literal[False] | None,
    class_map: Mapping[str, str] | None,
    encoding_given: bool = False,
) -> _Lines:
    columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    cls_col, dir_col = _key_columns(
        columns,
        where=where,
        class_column=class_column,
        oneway_column=oneway_column,
        garbled="" if encoding_given else _encoding_hint(columns),
    )
    highway, issues = _road_classes(
        gdf[cls_col].tolist(), cls_col, where, class_map, encoding_given=encoding_given
    )
    direction = np.zeros(len(gdf), dtype=np.int64)
    if dir_col is not None:
        direction, bad = _directions(
            gdf[dir_col].tolist(), dir_col, where, encoding_given=encoding_given
        )
        issues += bad
    if issues:
        raise ValidationError(issues, header=f"cannot build a road graph from {where}")
    return _optional_attributes(gdf, columns, highway=highway, direction=direction)


def _key_columns(
    columns: list[str],
    *,
    where: str,
    class_column: str | None,
    oneway_column: str | Literal[False] | None,
    garbled: str,
) -> tuple[str, str | None]:
    """The class column and the direction column (None: every road two-way), or the refusal."""
    present = ", ".join(repr(c) for c in columns) or "none"
    issues: list[Issue] = []
    if class_column is not None:
        cls_col = _find_column(columns, [class_column])
        if cls_col is None:
            reason = (
                f"the class column {class_column!r} is missing (--class-column); columns "
                f"present: {present}{garbled}"
            )
            issues.append(Issue(where, None, class_column, reason, reason_zh="缺少道路等级列"))
    else:
        cls_col = _find_column(columns, _CLASS_COLUMNS)
        if cls_col is None:
            reason = (
                f"no road class column: none of {', '.join(map(repr, _CLASS_COLUMNS))} found; "
                f"columns present: {present}. Name it with --class-column NAME (class_column= "
                f"in Python){garbled}"
            )
            issues.append(Issue(where, None, _CLASS_COLUMNS[0], reason, reason_zh="缺少道路等级列"))
    dir_col: str | None = None
    if oneway_column is None:
        dir_col = _find_column(columns, _ONEWAY_COLUMNS)
        if dir_col is None:
            reason = (
                f"no direction column: none of {', '.join(map(repr, _ONEWAY_COLUMNS))} found "
                f"(Geofabrik's 'oneway' holds F/T/B); columns present: {present}. Name it with "
                f"--oneway-column NAME, or give --oneway-column none if every road is two-way "
                f"(oneway_column=NAME or oneway_column=False in Python){garbled}"
            )
            issues.append(Issue(where, None, "oneway", reason, reason_zh="缺少单行/方向列"))
    elif oneway_column is not False:
        dir_col = _find_column(columns, [oneway_column])
        if dir_col is None:
            reason = (
                f"the direction column {oneway_column!r} is missing (--oneway-column); columns "
                f"present: {present}{garbled}"
            )
            issues.append(Issue(where, None, oneway_column, reason, reason_zh="缺少单行/方向列"))
    if issues:
        raise ValidationError(issues, header=f"cannot build a road graph from {where}")
    assert cls_col is not None  # issues were raised above otherwise
    return cls_col, dir_col


def _road_classes(
    values: list[Any],
    cls_col: str,
    where: str,
    class_map: Mapping[str, str] | None,
    *,
    encoding_given: bool,
) -> tuple[list[str], list[Issue]]:
    """The OSM class of every feature, and the issues of the empty and unknown ones."""
    lookup = _class_lookup(class_map)
    highway: list[str] = [""] * len(values)
    unknown: dict[str, list[int]] = {}
    missing: list[int] = []
    for i, value in enumerate(values):
        text = str(value).strip() if _present(value) else ""
        if not text:
            missing.append(i + 1)
            continue
        cls = lookup.get(_norm_label(_cell_text(value)))
        if cls is None:
            unknown.setdefault(text, []).append(i + 1)
        else:
            highway[i] = cls
    issues: list[Issue] = []
    if missing:
        reason = (
            f"{len(missing)} feature(s) have no road class ({_rows_text(missing, len(missing))}); "
            f"fill them (e.g. 'road' for an unknown class)"
        )
        issues.append(Issue(where, missing[0], cls_col, reason, reason_zh="道路等级为空"))
    garbled_values = "" if encoding_given else _encoding_hint(unknown)
    for text, rows in unknown.items():
        reason = (
            f"unknown road class {text!r} in {_rows_text(rows, len(rows))}. Accepted: "
            f"{_accepted_classes()}; or map it with --class-map '{text}=CLASS' "
            f"(class_map={{{text!r}: <class>}} in Python){garbled_values}"
        )
        issues.append(Issue(where, rows[0], cls_col, reason, reason_zh="无法识别的道路等级"))
    return highway, issues


def _directions(
    values: list[Any], dir_col: str, where: str, *, encoding_given: bool
) -> tuple[IntArray, list[Issue]]:
    """The direction of travel of every feature (_ALONG, _AGAINST, 0 both), and the issues."""
    direction = np.zeros(len(values), dtype=np.int64)
    bad: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        text = _cell_text(value) if _present(value) else ""
        if text in _FORWARD:
            direction[i] = _ALONG
        elif text in _BACKWARD:
            direction[i] = _AGAINST
        elif text not in _BOTH:
            bad.setdefault(str(value), []).append(i + 1)
    garbled_dirs = "" if encoding_given else _encoding_hint(bad)
    issues: list[Issue] = []
    for text, rows in bad.items():
        reason = (
            f"unknown direction {text!r} in {_rows_text(rows, len(rows))}. Accepted: "
            f"F/yes/1/正向 (only in the digitised direction), T/-1/反向 (only against it), "
            f"B/no/0/双向 or empty (both ways); if {dir_col!r} is not a direction, name "
            f"the right column with --oneway-column NAME, or give --oneway-column none "
            f"(every road two-way){garbled_dirs}"
        )
        issues.append(Issue(where, rows[0], dir_col, reason, reason_zh="无法识别的方向"))
    return direction, issues


def _optional_attributes(
    gdf: gpd.GeoDataFrame, columns: list[str], *, highway: list[str], direction: IntArray
) -> _Lines:
    """The attributes a layer may hold (layer, bridge/tunnel, name, ref, maxspeed, osm id)."""
    n = len(gdf)

    def optional(candidates: Iterable[str]) -> list[Any] | None:
        col = _find_column(columns, candidates)
        return None if col is None else gdf[col].tolist()

    def flags(values: list[Any] | None) -> npt.NDArray[np.bool_]:
        if values is None:
            return np.zeros(n, dtype=bool)
        return np.array([_present(v) and _cell_text(v) not in _FALSE_FLAGS for v in values])

    layer_values = optional(_LAYER_COLUMNS)
    layer = np.zeros(n, dtype=np.int64)
    if layer_values is not None:
        numbers = pd.to_numeric(pd.Series(layer_values, dtype=object), errors="coerce")
        layer = np.asarray(numbers.fillna(0).round(), dtype=np.int64)
    bridge = flags(optional(_BRIDGE_COLUMNS))
    tunnel = flags(optional(_TUNNEL_COLUMNS))
    structure = np.where(bridge, 1, np.where(tunnel, 2, 0)).astype(np.int64)

    def texts(candidates: Iterable[str]) -> list[Any]:
        vals = optional(candidates)
        if vals is None:
            return [None] * n
        return [str(v).strip() if _present(v) and str(v).strip() else None for v in vals]

    maxspeed: list[str | None] = [None] * n
    speed_values = optional(_MAXSPEED_COLUMNS)
    if speed_values is not None:
        for i, value in enumerate(speed_values):
            speed = _parse_maxspeed(value)
            maxspeed[i] = None if speed is None else f"{speed:g}"
    osmid: list[int | None] = [None] * n
    id_values = optional(_OSMID_COLUMNS)
    if id_values is not None:
        for i, value in enumerate(id_values):
            text = _cell_text(value) if _present(value) else ""
            osmid[i] = int(text) if re.fullmatch(r"-?\d+", text) else None
    return _Lines(
        highway=highway,
        direction=direction,
        layer=layer,
        structure=structure,
        name=texts(_NAME_COLUMNS),
        ref=texts(_REF_COLUMNS),
        maxspeed=maxspeed,
        osmid=osmid,
    )


def from_lines(
    path: str | os.PathLike[str] | gpd.GeoDataFrame,
    *,
    crs: str | None = None,
    layer: str | int | None = None,
    class_column: str | None = None,
    oneway_column: str | Literal[False] | None = None,
    speeds: Mapping[str, float] | None = None,
    network_type: str = "driving",
    class_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    use_maxspeed: bool = True,
) -> nx.MultiDiGraph:
    """Build a road graph from a road line layer (Shapefile, GeoJSON, GeoPackage).

    **Schema.** Either Geofabrik's (``gis_osm_roads_free_1.shp``: ``osm_id, code, fclass, name,
    ref, oneway, maxspeed, layer, bridge, tunnel``) or a Chinese one: a class column
    (``道路等级``/``等级``/``class`` ... holding 国道/省道/县道/乡道/村道, 高速, 快速路/主干路/
    次干路/支路, or OSM tags; see :func:`road_class`) and a direction column (``单行``/``方向``).
    Column names are found case-insensitively among known names (``fclass``, ``highway``,
    ``class``, ``road_class``, ``道路等级``, ``等级``, ``道路类型``, ``道路类别``; ``oneway``,
    ``单行``, ``单行道``, ``方向``, ``direction``; ``layer``; ``bridge``/``桥梁``;
    ``tunnel``/``隧道``; ``name``/``名称``/``道路名称``; ``ref``/``编号``; ``maxspeed``/``限速``;
    ``osm_id``) or named with ``class_column=``/``oneway_column=``.

    A missing class column is an error, and so is a missing direction column, since guessing
    two-way would let routes run the wrong way up one-way roads; pass ``oneway_column=False``
    (``--oneway-column none`` in the CLI) to declare every road two-way.

    **One-way** (Geofabrik): ``F`` = only in the digitised direction, ``T`` = only against it,
    ``B`` = both. Also accepted: ``yes``/``true``/``1``/``FT``/``正向``/``是`` (as F),
    ``-1``/``reverse``/``TF``/``反向`` (as T), ``no``/``false``/``0``/``N``/``双向``/``否`` and
    empty (as B); any other value is an error.

    **Topology.** Vertices are matched exactly after rounding, in the file's own coordinates,
    to :data:`COORD_DECIMALS_DEG` decimals of a degree (1e-7, about 1 cm) or
    :data:`COORD_DECIMALS_M` decimals of a projected unit (1 cm). Lines are split into edges at
    junctions, which are made where lines share a vertex (any vertex, not only endpoints), with
    one exception, so that a bridge or tunnel crossing a road is not a junction:

    * an *endpoint* of a line joins everything that has a vertex there (that is how OSM ways
      connect to bridges and how road layers are drawn);
    * an *interior* vertex joins only interior vertices of lines on the same ``layer`` (0 when
      absent) and of the same structure: a bridge (``bridge`` T/yes/1/是) or tunnel line never
      joins a plain line, nor a plain line a bridge, at their interior vertices.

    Every edge carries ``length`` (geodesic metres on the WGS84 ellipsoid, after conversion),
    ``highway`` (the OSM class), ``oneway``, ``reversed``, ``geometry`` (if it has more than two
    vertices), and where the layer has them ``name``, ``ref``, ``maxspeed`` (when > 0; Geofabrik
    writes 0 for unknown), ``osmid``, ``bridge``/``tunnel`` (``"yes"``) and ``layer``.
    Multi-part lines are split into their parts; empty geometries are skipped.

    Parameters
    ----------
    path
        The file (or a GeoDataFrame already read).
    crs
        The coordinate system of the coordinates (``--network-crs`` of the CLI): ``"wgs84"``,
        ``"gcj02"``, ``"bd09"`` (any name :func:`siting.crs.normalize_crs_name` accepts) or a
        pyproj CRS string such as ``"EPSG:32648"`` (reprojected to WGS84). GCJ-02 and BD-09 are
        converted with the exact inverse of :mod:`siting.crs` (to :data:`INVERSE_TOL_M`).
        By default the file's own label: a Shapefile's ``.prj``, a GeoPackage's SRS, a
        GeoJSON's ``crs`` member (a GeoJSON without one declares nothing), a GeoDataFrame's
        ``crs``; WGS84 and CGCS2000 (EPSG:4490) labels are read as WGS84. Without either it
        is an error. A layer read as WGS84 or GCJ-02 near the reference township seats is
        checked against them: when its roads sit closer to the seats' positions in the other
        system, a :class:`NetworkWarning` says so (also kept in ``source["warnings"]``).
    layer
        The layer of a multi-layer file (GeoPackage); by default its only (line) layer
        (``--layer`` of ``siting network import``).
    class_column, oneway_column
        Column names, when not among the known ones; ``oneway_column=False``: all two-way
        (``--class-column NAME``, ``--oneway-column NAME|none`` of ``siting network import``).
    speeds
        Overrides of the class speeds (:func:`speed_table`).
    network_type
        One of :data:`NETWORK_TYPES`: which classes become edges (:func:`network_classes`);
        every feature's class is validated whatever the type.
    class_map
        Extra class labels of this layer (:func:`road_class`), e.g. ``{"一级公路": "trunk"}``.
    encoding
        Text encoding of a Shapefile without ``.cpg`` (Chinese ones are often ``"gbk"``;
        ``--encoding`` of ``siting network import``). Without it, column names that read as
        GBK text shown as Latin-1 make the error name ``--encoding gbk``.
    use_maxspeed
        Use ``maxspeed`` where > 0 (:func:`add_travel_times`).

    Returns
    -------
    networkx.MultiDiGraph
        The road graph (osmnx contract); node ids are integers from 0, in order of first
        appearance in the layer.

    Raises
    ------
    NetworkError
        If ``crs`` is not given and the file has no label, or is unknown or contradicts the
        file's own label, or the layer cannot be chosen. Messages name the CLI option to change
        (``--network-crs``, ``--encoding``, ``--layer`` ...) and the Python keyword.
    siting.ValidationError
        Listing every problem of the layer: missing class or direction column (naming it and the
        columns present), empty or unknown classes, unknown directions, non-line geometries.
    DataError
        If the file is missing or unreadable.

    Warns
    -----
    NetworkWarning
        When the roads fit the other of WGS84 and GCJ-02 better (see ``crs``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame(
    ...     {"道路等级": ["国道", "村道"], "单行": ["否", "是"]},
    ...     geometry=[LineString([(104.00, 30.60), (104.01, 30.60), (104.02, 30.60)]),
    ...               LineString([(104.01, 30.60), (104.01, 30.61)])],
    ...     crs="EPSG:4326")
    >>> g = from_lines(roads, crs="wgs84")
    >>> len(g), g.number_of_edges()
    (4, 5)
    >>> sorted({d["highway"] for _, _, d in g.edges(data=True)})
    ['trunk', 'unclassified']
    """
    table = speed_table(speeds)
    kind = _network_type(network_type)
    keep_classes = network_classes(kind)
    file: Path | None = None
    if isinstance(path, gpd.GeoDataFrame):
        where = "<GeoDataFrame>"
        gdf = path
        source: dict[str, Any] = {"path": None, "format": "GeoDataFrame"}
    else:
        where = str(path)
        if crs is not None:
            _declare(crs, where)  # an unknown crs fails before the file is read
        gdf, source = _read_lines(path, layer, encoding)
        file = Path(path)
    own = _own_crs(gdf, file)
    declared = _declare(crs, where, own)
    _check_crs(own, declared, where)
    gdf = gdf.reset_index(drop=True)
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    types = shapely.get_type_id(geoms)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    lines_ok = np.isin(types, [1, 2, 5])  # LineString, LinearRing, MultiLineString
    wrong = np.flatnonzero(~lines_ok & ~empty) + 1
    if len(wrong):
        kinds = sorted({str(t) for t in shapely.get_type_id(geoms[wrong - 1])})
        reason = (
            f"{len(wrong)} feature(s) are not lines (geometry type ids {', '.join(kinds)}; "
            f"{_rows_text(wrong.tolist(), len(wrong))}); a road layer holds LineStrings"
        )
        issue = Issue(where, int(wrong[0]), "geometry", reason, reason_zh="几何类型不是线")
        raise ValidationError([issue], header=f"cannot build a road graph from {where}")
    attrs = _attributes(
        gdf,
        where=where,
        class_column=class_column,
        oneway_column=oneway_column,
        class_map=class_map,
        encoding_given=encoding is not None,
    )
    keep = ~empty & np.array([h in keep_classes for h in attrs.highway], dtype=bool)
    rows = np.flatnonzero(keep)
    parts, part_row = shapely.get_parts(geoms[rows], return_index=True)
    part_row = rows[part_row]
    graph = _build(parts, part_row.astype(np.int64), attrs, declared, where)
    notes = _crs_warnings(parts, declared, where)
    source.update(
        {
            "crs": declared.label,
            "crs_from": "file" if declared.by_file is not None else "argument",
            "network_type": kind,
        }
    )
    if notes:
        source["warnings"] = notes
    for note in notes:
        warnings.warn(note, NetworkWarning, stacklevel=2)
    return _finish(graph, source=source, table=table, use_maxspeed=use_maxspeed)


def _build(
    parts: npt.NDArray[Any],
    part_row: IntArray,
    attrs: _Lines,
    declared: _Declared,
    where: str,
) -> nx.MultiDiGraph:
    """The graph of line ``parts`` (in the declared CRS) under the topology rules of from_lines."""
    graph = nx.MultiDiGraph()
    coords, part = shapely.get_coordinates(parts, return_index=True)
    part = part.astype(np.int64)
    x = np.ascontiguousarray(coords[:, 0], dtype=np.float64)
    y = np.ascontiguousarray(coords[:, 1], dtype=np.float64)
    if len(x) and declared.degrees and (np.abs(x).max() > 180 or np.abs(y).max() > 90):
        msg = (
            f"{where}: coordinates reach ({np.abs(x).max():.0f}, {np.abs(y).max():.0f}), not "
            f"degrees, but {_CRS_FLAG} {declared.label} (crs={declared.label!r} in Python) was "
            f"declared; declare its projected CRS, e.g. {_crs_hint('EPSG:32648')}"
        )
        raise NetworkError(msg)
    scale = 10.0 ** (COORD_DECIMALS_DEG if declared.degrees else COORD_DECIMALS_M)
    kx = np.rint(x * scale).astype(np.int64)
    ky = np.rint(y * scale).astype(np.int64)
    cid = _codes(kx, ky)
    # drop repeated consecutive vertices, then parts left with fewer than two
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = ~((part[1:] == part[:-1]) & (cid[1:] == cid[:-1]))
    counts = np.bincount(part[keep], minlength=len(parts))
    keep &= counts[part] >= 2
    x, y, part, cid = x[keep], y[keep], part[keep], cid[keep]
    n = len(x)
    if n == 0:
        graph.graph["crs"] = "EPSG:4326"
        return graph
    first = np.ones(n, dtype=bool)
    first[1:] = part[1:] != part[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = part[1:] != part[:-1]
    is_end = first | last
    # junction groups: every vertex at a coordinate with a line endpoint is one group; other
    # vertices group by (coordinate, layer, structure)
    row = part_row[part]
    level = _codes(attrs.layer[row], attrs.structure[row])
    has_end = np.zeros(int(cid.max()) + 1, dtype=bool)
    has_end[cid[is_end]] = True
    level = np.where(has_end[cid], -1, level)
    group = _codes(cid, level)
    is_node = has_end[cid] | (np.bincount(group)[group] >= 2)
    node = np.full(n, -1, dtype=np.int64)
    node[is_node] = _codes(group[is_node])
    lon, lat = _to_wgs84(x, y, declared)
    _, first_seen = np.unique(node[is_node], return_index=True)
    at = np.flatnonzero(is_node)[first_seen]
    node_lon, node_lat = lon[at], lat[at]
    lon[is_node] = node_lon[node[is_node]]
    lat[is_node] = node_lat[node[is_node]]
    # edges: between consecutive node vertices of a part
    idx = np.flatnonzero(is_node)
    starts, ends = idx[:-1], idx[1:]
    valid = part[starts] == part[ends]
    starts, ends = starts[valid], ends[valid]
    steps = _step_lengths(lon, lat, part)
    seg_of_vertex = np.cumsum(is_node) - 1  # index into idx of the last node vertex so far
    by_seg = np.bincount(seg_of_vertex, weights=steps, minlength=len(idx))
    lengths = by_seg[np.flatnonzero(valid)].tolist()
    nverts = ends - starts + 1
    curved = np.flatnonzero(nverts > 2)
    geometry: list[Any] = [None] * len(starts)
    if len(curved):
        counts_c = nverts[curved]
        offsets = np.repeat(np.cumsum(counts_c) - counts_c, counts_c)
        gather = np.arange(int(counts_c.sum())) - offsets + np.repeat(starts[curved], counts_c)
        lines = shapely.linestrings(
            np.column_stack([lon[gather], lat[gather]]),
            indices=np.repeat(np.arange(len(curved)), counts_c),
        )
        for i, line in zip(curved.tolist(), lines.tolist(), strict=True):
            geometry[i] = line
    graph.add_nodes_from(
        (i, {"x": float(a), "y": float(b)})
        for i, (a, b) in enumerate(zip(node_lon.tolist(), node_lat.tolist(), strict=True))
    )
    graph.add_edges_from(_edges(starts, ends, node, row, lengths, geometry, attrs))
    return graph


def _edges(
    starts: IntArray,
    ends: IntArray,
    node: IntArray,
    row: IntArray,
    lengths: list[float],
    geometry: list[Any],
    attrs: _Lines,
) -> Iterable[tuple[int, int, dict[str, Any]]]:
    """The directed edges of the segments ``starts[i]..ends[i]`` of a line layer."""
    for u, v, r, length, geom in zip(
        node[starts].tolist(),
        node[ends].tolist(),
        row[starts].tolist(),
        lengths,
        geometry,
        strict=True,
    ):
        data: dict[str, Any] = {"highway": attrs.highway[r], "length": length}
        for key, values in (
            ("name", attrs.name),
            ("ref", attrs.ref),
            ("maxspeed", attrs.maxspeed),
            ("osmid", attrs.osmid),
        ):
            if values[r] is not None:
                data[key] = values[r]
        structure = int(attrs.structure[r])
        if structure:
            data[_STRUCTURES[structure]] = "yes"
        if attrs.layer[r]:
            data["layer"] = str(int(attrs.layer[r]))
        direction = int(attrs.direction[r])
        if direction == _AGAINST:
            back = dict(data, oneway=True, reversed=True)
            if geom is not None:
                back["geometry"] = shapely.reverse(geom)
            yield v, u, back
            continue
        forward = dict(data, oneway=direction == _ALONG, reversed=False)
        if geom is not None:
            forward["geometry"] = geom
        yield u, v, forward
        if direction == _BOTH_WAYS:
            back = dict(data, oneway=False, reversed=True)
            if geom is not None:
                back["geometry"] = shapely.reverse(geom)
            yield v, u, back
