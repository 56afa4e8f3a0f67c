"""A planner's own list cut into groups (county code, district column, polygons) with buffers."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from siting import settings
from siting._errors import BatchError
from siting.batch.partitions import _to_metric, _top_speed
from siting.batch.specs import _available
from siting.graph import GraphArrays, graph_arrays, snap

# --- a planner's own list, in groups --------------------------------------------------------------

#: Margin around the convex hull of a group's facilities that makes its area (no reference
#: polygon). Small, so that the partition is the buffer around the group, not around a wide area.
_GROUP_HULL_M: Final = 1000.0

#: The group of the rows with no group value.
UNASSIGNED: Final = "未分组"


@dataclass(frozen=True)
class OwnPartition:
    """One group of a planner's own list, with the border buffer cut from the whole list.

    Attributes
    ----------
    key
        The group's value (a county code, a district name, or :data:`UNASSIGNED`).
    name
        The group's name for people (the county's name when the key is a known code).
    group_by
        The column the list was grouped by (``county_code``, a district column, or the one
        given).
    region
        The built-in county of the key when it is loadable (its villages, population and
        layout join the run; only with a road file), else None.
    outline
        The group's area (WGS84): the county polygon of the reference data when the key is a
        county code it has, else the convex hull of the group's facilities plus 1 km.
    outline_source
        Where ``outline`` comes from.
    facilities
        The group's facilities and the list's facilities within ``buffer_m`` of the outline
        (with roads: whose nearest road node is kept).
    network
        The road network restricted to the nodes within ``buffer_m`` of the outline (None:
        straight-line times).
    home
        Ids of the group's own facilities.
    buffer_min, buffer_m, vmax
        The buffer in minutes and metres and the top crow-flies speed (m/s) behind it: of the
        roads (with the access speed), or straight-line speed / detour factor.
    network_sha256
        Hash of the roads the partition is cut from (the file, or the graph's nodes and edges).
    """

    key: str
    name: str
    group_by: str
    region: str | None
    outline: Any
    outline_source: str
    facilities: gpd.GeoDataFrame
    network: nx.MultiDiGraph | None
    home: list[str]
    buffer_min: float
    buffer_m: float
    vmax: float
    network_sha256: str | None

    def facts(self) -> dict[str, Any]:
        """What the partition holds, for the records."""
        net = self.network
        return {
            "partition": "buffer",
            "parent": "list",
            "group_by": self.group_by,
            "group": self.key,
            "area": self.outline_source,
            "region": self.region,
            "buffer_min": self.buffer_min,
            "buffer_m": round(self.buffer_m, 1),
            "vmax_m_s": round(self.vmax, 6),
            "nodes": None if net is None else net.number_of_nodes(),
            "edges": None if net is None else net.number_of_edges(),
            "home_facilities": len(self.home),
            "partner_facilities_outside": len(self.facilities) - len(self.home),
        }


def _graph_sha(graph: nx.MultiDiGraph) -> str:
    """A hash of a road graph's nodes (id, x, y) and edges (ends, key, attributes)."""
    h = hashlib.sha256()
    for n, d in sorted(graph.nodes(data=True), key=lambda nd: str(nd[0])):
        h.update(repr((str(n), d.get("x"), d.get("y"))).encode())
    edges = sorted(
        (str(u), str(v), str(k), sorted((str(a), repr(b)) for a, b in d.items()))
        for u, v, k, d in graph.edges(keys=True, data=True)
    )
    for e in edges:
        h.update(repr(e).encode())
    return h.hexdigest()


def _group_keys(fac: gpd.GeoDataFrame, group_by: str | None) -> tuple[pd.Series, str]:
    """The group value of each row and the column(s) it comes from."""
    from siting import registry

    def text(col: str) -> pd.Series:
        values: pd.Series = fac[col].astype("string").str.strip()
        blank = values.isna() | (values == "")
        return values.mask(blank.fillna(True).astype(bool))

    if group_by is not None:
        if group_by not in fac.columns or group_by == "geometry":
            cols = ", ".join(str(c) for c in fac.columns if c != "geometry")
            msg = (
                f"--group-by {group_by!r}: the facility list has no such column "
                f"(分组列不存在); its columns: {cols}"
            )
            raise BatchError(msg)
        keys, source = text(group_by), group_by
    else:
        keys = (
            text("county_code")
            if "county_code" in fac.columns
            else pd.Series(pd.NA, index=fac.index, dtype="string")
        )
        source = "county_code"
        district = registry.district_column(fac)
        if district is not None and bool(keys.isna().any()):
            keys = keys.fillna(text(district))
            source = f"county_code, else {district}"
    return keys.fillna(UNASSIGNED).astype(str), source


#: Suffixes of administrative names (黄浦 and 黄浦区 name one district).
_ADMIN_SUFFIXES: Final = ("自治县", "自治旗", "新区", "区", "县", "市", "旗")


def similar_groups(keys: Iterable[str]) -> list[list[str]]:
    """Group values that probably name one place written two ways (``黄浦`` and ``黄浦区``).

    >>> similar_groups(["黄浦", "黄浦区", "静安区", "511302"])
    [['黄浦', '黄浦区']]
    """
    by_stem: dict[str, list[str]] = {}
    for key in keys:
        text = str(key).strip()
        stem = next(
            (text[: -len(s)] for s in _ADMIN_SUFFIXES if text.endswith(s) and len(text) > len(s)),
            text,
        )
        by_stem.setdefault(stem, []).append(text)
    return [sorted(v) for _, v in sorted(by_stem.items()) if len(set(v)) > 1]


#: Headers of the name column of a boundary file, in order of preference.
_NAME_HEADERS: Final = ("name", "名称", "区县", "district", "county", "NAME", "Name", "adname")


def _read_areas(
    boundaries: str | os.PathLike[str] | gpd.GeoDataFrame, column: str | None
) -> tuple[gpd.GeoDataFrame, str]:
    """The polygons of a boundary file (WGS84) with their group names, and the name column."""
    from siting.regions import read_polygons

    where = "boundaries" if isinstance(boundaries, gpd.GeoDataFrame) else str(boundaries)
    shapes = read_polygons(boundaries)
    if column is not None and column not in shapes.columns:
        cols = ", ".join(str(c) for c in shapes.columns if c != "geometry")
        msg = (
            f"--group-by {column!r}: {where} has no such column (分组列不存在); its columns: {cols}"
        )
        raise BatchError(msg)
    name_col = column or next((c for c in _NAME_HEADERS if c in shapes.columns), None)
    if name_col is None:
        names = pd.Series([f"区域{i + 1}" for i in range(len(shapes))], index=shapes.index)
        name_col = "(row number)"
    else:
        names = shapes[name_col].astype("string").str.strip()
        blank = names.isna() | (names == "")
        if bool(blank.any()):
            rows = [int(i) + 1 for i in np.flatnonzero(blank.to_numpy())][:10]
            msg = f"{where}, column {name_col!r}: rows {rows} have no name (边界缺少名称)"
            raise BatchError(msg)
    areas = gpd.GeoDataFrame(
        {"key": names.astype(str).to_numpy()},
        geometry=shapes.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    areas = areas.dissolve(by="key", sort=True).reset_index()
    return areas, f"{Path(where).name}:{name_col}"


def _folder_of(key: str, taken: set[str]) -> str:
    """A folder name for a group: the key made safe for every file system, made unique."""
    import re

    table = _available()
    if key in table.index:
        alias = str(table.loc[key, "alias"] or "")
        base = f"{key}_{alias}" if alias else key
    elif key == UNASSIGNED:
        base = "unassigned"
    else:
        base = re.sub(r"[^\w.-]+", "_", key, flags=re.UNICODE).strip("._") or "group"
        base = base[:60]
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name.lower())
    return name


def partition_list(
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame,
    network: str | os.PathLike[str] | nx.MultiDiGraph | None = None,
    *,
    buffer_min: float,
    group_by: str | None = None,
    boundaries: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    crs: str | None = None,
    network_crs: str | None = None,
) -> list[OwnPartition]:
    """Cut a planner's own facility list (and roads) into groups with border buffers.

    The groups are the values of ``group_by``; by default the county code the reader attaches
    where the reference data covers a point, else the list's district column (区县, 所属区县,
    district ...); rows with no value form the group :data:`UNASSIGNED`. Each group's area is
    the county polygon of the reference data when its key is a county code there, else the
    convex hull of its facilities plus 1 km. As for a built-in city (:func:`partition`), the
    partition holds the roads within ``buffer_m = buffer_min * 60 * vmax`` of the area and the
    list's facilities there, so that a row within ``buffer_min`` equals the row of one run of
    the whole list.

    Parameters
    ----------
    facilities
        The list (a file :func:`siting.registry.read` reads, or a registry frame).
    network
        A road file or graph; None: straight-line times (``vmax`` = straight-line speed /
        detour factor).
    buffer_min
        The border buffer in minutes.
    group_by
        The column to group by (default: county code, else the district column); with
        ``boundaries``, the column of the boundary file that names the areas (default
        ``name``, ``名称``, ``区县`` ...).
    boundaries
        A file (or frame) of area polygons, any CRS: each polygon is a group and its area; a
        facility belongs to the polygon it lies in, one in none to :data:`UNASSIGNED`.
    crs, network_crs
        Coordinate systems of the list and of a road line layer (as for ``siting run``).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from siting import registry
    >>> fac = registry.from_frame(gpd.GeoDataFrame(
    ...     {"name": ["甲敬老院", "乙卫生院", "丙敬老院"], "kind": ["nursing_home", "health_center",
    ...      "nursing_home"], "区县": ["甲区", "甲区", "乙区"]},
    ...     geometry=shapely.points([[121.40, 31.20], [121.41, 31.20], [121.45, 31.22]]),
    ...     crs="EPSG:4326"))
    >>> parts = partition_list(fac, buffer_min=30)
    >>> [(p.key, len(p.home), len(p.facilities)) for p in parts]
    [('乙区', 1, 3), ('甲区', 2, 3)]
    """
    if not (buffer_min > 0 and math.isfinite(buffer_min)):
        msg = f"buffer_min must be a positive number of minutes, got {buffer_min}"
        raise BatchError(msg)
    fac = _read_list(facilities, crs)
    areas = None
    if boundaries is not None:
        areas, source = _read_areas(boundaries, group_by)
        inside = gpd.sjoin(fac[["geometry"]], areas, how="left", predicate="within")
        first = inside[~inside.index.duplicated(keep="first")]
        keys = first["key"].reindex(fac.index).fillna(UNASSIGNED).astype(str)
    else:
        keys, source = _group_keys(fac, group_by)
    roads = _Roads.of(network, network_crs, fac)
    buffer_m = float(buffer_min) * 60.0 * roads.vmax
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    fx, fy = Transformer.from_crs("EPSG:4326", roads.crs, always_xy=True).transform(lon, lat)
    fpts = shapely.points(fx, fy)
    node_pos = None if roads.arrays is None else snap(roads.arrays, lon, lat)["node_pos"].to_numpy()
    parts: list[OwnPartition] = []
    for key in sorted(keys.unique()):
        is_home = (keys == key).to_numpy()
        name, outline, area = _group_area(key, fac[is_home], areas, source)
        ring = _to_metric(outline, roads.crs)
        near = shapely.dwithin(fpts, ring, buffer_m)
        sub = None
        if roads.arrays is not None and roads.graph is not None and node_pos is not None:
            keep = shapely.dwithin(shapely.points(roads.arrays.x, roads.arrays.y), ring, buffer_m)
            near &= keep[node_pos]
            sub = _subgraph(roads.graph, set(roads.arrays.nodes[keep].tolist()))
            sub.graph["partition"] = {"of": "list", "group": key, "buffer_m": round(buffer_m, 1)}
        parts.append(
            OwnPartition(
                key=key,
                name=name,
                group_by=source,
                region=key if roads.graph is not None and _loadable_county(key) else None,
                outline=outline,
                outline_source=area,
                facilities=fac[is_home | near],
                network=sub,
                home=[str(i) for i in fac.index[is_home]],
                buffer_min=float(buffer_min),
                buffer_m=buffer_m,
                vmax=roads.vmax,
                network_sha256=roads.sha256,
            )
        )
    return parts


def _read_list(facilities: Any, crs: str | None) -> gpd.GeoDataFrame:
    """The list as a registry in WGS84 (read when it is a file); an empty one is an error."""
    from siting import registry

    fac = (
        facilities
        if isinstance(facilities, gpd.GeoDataFrame)
        else registry.read(Path(facilities), crs=crs)
    )
    if fac.empty:
        where = "" if isinstance(facilities, gpd.GeoDataFrame) else f" {facilities}"
        msg = f"the facility list{where} has no rows (名录为空)"
        raise BatchError(msg)
    if fac.crs is not None and not fac.crs.equals("EPSG:4326"):
        fac = fac.to_crs("EPSG:4326")
    return fac


@dataclass(frozen=True)
class _Roads:
    """The roads a list is cut with: the graph and its compiled form, their hash, the top speed
    behind the buffer and the metric CRS (no roads: straight-line speed / detour factor)."""

    graph: nx.MultiDiGraph | None
    arrays: GraphArrays | None
    sha256: str | None
    vmax: float
    crs: Any

    @classmethod
    def of(cls, network: Any, network_crs: str | None, fac: gpd.GeoDataFrame) -> _Roads:
        from siting import network as netmod
        from siting._outdir import sha256_file
        from siting.crs import metric_crs

        if network is None:
            vmax = settings.straight_line_speed_kph / 3.6 / settings.detour_factor
            return cls(None, None, None, vmax, metric_crs(fac.geometry.union_all().centroid))
        if isinstance(network, str | os.PathLike):
            graph = netmod.load(Path(network), crs=network_crs)
            sha = sha256_file(Path(network))
        else:
            graph, sha = network, _graph_sha(network)
        arrays = graph_arrays(graph)
        return cls(graph, arrays, sha, _top_speed(arrays), arrays.crs)


def _group_area(
    key: str, home: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, source: str
) -> tuple[str, Any, str]:
    """A group's name, area (WGS84) and where the area comes from: its boundary polygon, its
    reference county polygon, or the hull of its facilities plus :data:`_GROUP_HULL_M`."""
    from siting import _admin
    from siting.regions import study_area

    if areas is not None and key != UNASSIGNED:
        return key, areas.loc[areas["key"] == key].geometry.iat[0], f"boundary {source} = {key}"
    known = _admin.county_outline(key) if key != UNASSIGNED and areas is None else None
    if known is not None:
        name, outline = known
        return name, outline, f"reference county polygon {key} {name}"
    sa = study_area(facilities=home, buffer_m=_GROUP_HULL_M)
    return key, sa.outline, sa.source


def _loadable_county(key: str) -> bool:
    """Whether ``key`` is a built-in county (its villages, population and layout can join)."""
    table = _available()
    return bool(
        key in table.index
        and table.loc[key, "level"] == "county"
        and bool(table.loc[key, "loadable"])
    )


def _subgraph(graph: nx.MultiDiGraph, kept: set[Any]) -> nx.MultiDiGraph:
    """The graph restricted to ``kept`` nodes (with the graph's attributes)."""
    sub = nx.MultiDiGraph()
    sub.graph.update(graph.graph)
    sub.add_nodes_from((n, d) for n, d in graph.nodes(data=True) if n in kept)
    sub.add_edges_from(
        (u, v, k, d) for u, v, k, d in graph.edges(keys=True, data=True) if u in kept and v in kept
    )
    return sub
