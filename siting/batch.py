"""Many regions in one batch, on Dask: a local cluster or an existing one, with border buffers.

:func:`run_batch` runs :func:`siting.pipeline.run` for every region of a list on a
:mod:`dask.distributed` cluster and writes

* one folder per region, ``out/<code>_<slug>/`` (``_s<seed>`` appended for a seed other than
  the batch's), holding what ``siting run`` writes for it, plus a hidden ``.batch.json`` (the
  region's input hash and border facts);
* merged tables in ``out/``: ``pairings.csv``, ``gaps.csv``, ``indicators.csv`` (each with
  ``region_code`` and ``region_folder`` first; pairings and gaps with ``border_exact`` and
  ``border_reason``), ``summary_by_region.csv`` (one row per region, failed ones too) and
  ``batch_manifest.json`` (per region: status ``ok``/``failed``/``skipped``, input hash,
  error, timings, attempts).

**Workers need no shared filesystem.** A task loads its region from the reference data shipped
with siting on the worker, runs the pipeline into a temporary folder there, reads the files back
as bytes and returns them; the driver writes them into ``out/<region>/`` atomically (a temporary
folder renamed into place, the run's ``manifest.json`` last). Each worker checks that its siting
version and data are those the batch hashed (else the region fails, saying so).

**Border buffers** (:func:`partition`). A facility near a county line may be nearest to a partner
across it. For a county whose parent city is loadable (the nine counties of 南充市), the task cuts
its partition from the parent's data: the parent's modelled network restricted to the nodes within
``buffer_m`` (crow-flies, metric CRS) of the county outline, and the parent's facilities within the
same distance whose nearest parent node is kept; the county's own facilities are the run's
``home`` (paired and reported), the others serve as partners only. ``buffer_m = buffer_min * 60 *
vmax``, where ``vmax`` is the parent network's top crow-flies speed (``max`` of edge crow-flies
metres over edge seconds, and of the access speed), so that any trip of ``t <= buffer_min``
minutes from a point of the county stays inside the buffer: its nodes, its partner and the
partner's nearest node. A pairing or gap row whose travel time is at most ``buffer_min`` is
therefore exactly the row of a run of the whole parent (same partner, time, distance and rank):
it gets ``border_exact=True``. Rows beyond ``buffer_min`` or unreachable inside the partition get
``False``: the buffer cannot be known to suffice. Whether a facility or village *has* a gap at a
threshold at most ``buffer_min`` is always exact (no partner within the threshold inside the
buffer means none outside either); only the nearest partner reported beyond the buffer may not be.

A region without a loadable parent (宣汉县: 达州市 is only partly in the reference tables) has no
neighbours' data: it runs alone and its rows are ``border_exact=False`` ("no data beyond the
region's border"), except rows whose travel time is at most the facility's (or village's)
distance to the region's border divided by the region's ``vmax``: such a search cannot leave the
region, assuming the roads beyond the border are no faster than the region's fastest.

With ``capacity=True`` the capacity-aware rules assign partners within each partition, so their
rows are ``border_exact=False`` (capacities are shared across the border in a whole run).

The E2SFCA access scores of a partition count only the region's own villages as demand on the
partners in its buffer, so they differ from a whole-city run near the border.

**A planner's own list** (``run_batch(None, out, facilities=..., network=..., group_by=...)``,
``siting batch --facilities``): the list is cut into groups by :func:`partition_list` — the
county code attached from the reference data, else the list's district column, or a column
given — each group's area being its reference county polygon or the hull of its facilities
plus 1 km; partitions are cut from the whole list and roads with the same border buffer, so
``border_exact`` keeps its meaning (equal to one run of the whole list). The driver reads the
list and roads once and ships each partition to its worker.

**Reruns.** Each region's input hash covers its code, seed, partition (parent and buffer), the
run options, the siting version, the rules file and the reference and packaged data files. A
region whose folder has a ``manifest.json`` made by the batch with the same hash is skipped
(status ``skipped``): rerunning a batch recomputes only what failed or changed. A failing region
is retried ``retries`` times, then reported with its error; the others are not lost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import math
import operator
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from siting import __version__, pairing, settings
from siting._errors import BatchError, SitingError
from siting._graph import GraphArrays, graph_arrays, snap
from siting._io import excel_restore_frame, excel_safe_frame, frame_sha256
from siting._outdir import LOCK, OutputFolder, is_siting_manifest
from siting.regions import Region

__all__ = [
    "BORDER_REASONS",
    "MAX_SEED",
    "UNASSIGNED",
    "BatchError",
    "BatchResult",
    "OwnPartition",
    "Partition",
    "RegionOutcome",
    "all_regions",
    "parse_item",
    "partition",
    "partition_list",
    "read_regions_file",
    "run_batch",
    "seed_of",
    "similar_groups",
]

#: Options of :func:`siting.pipeline.run` a batch passes on to every region.
RUN_OPTIONS: Final = (
    "rules",
    "capacity",
    "thresholds_min",
    "service_area_kinds",
    "layout",
    "seed",
)

#: Why a row is or is not ``border_exact``.
BORDER_REASONS: Final = {
    "buffer": "within the buffer: any faster partner would lie inside it",
    "beyond_buffer": "beyond the buffer: the buffer cannot be known to suffice",
    "unreachable": "unreachable inside the partition: the buffer cannot be known to suffice",
    "no_data": "no data beyond the region's border",
    "inside": "the search cannot leave the region (time <= distance to its border / top speed)",
    "capacity": "capacity-aware assignment: capacities are shared across the border",
}

#: Travel times in the tables are rounded to 0.001 min: a row counts as within a limit when its
#: rounded time is at most the limit less this margin.
_ROUNDING_MIN: Final = 0.001

BATCH_RECORD: Final = ".batch.json"
MANIFEST: Final = "batch_manifest.json"


# --- regions --------------------------------------------------------------------------------------


def read_regions_file(path: str | os.PathLike[str]) -> list[str]:
    """Region codes or names of a file, one per line (``CODE@SEED`` for a seed of its own).

    Blank lines and text after ``#`` are ignored.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "regions.txt"
    >>> _ = p.write_text("# two counties\\n511302\\nxuanhan  # 宣汉县\\n\\n", encoding="utf-8")
    >>> read_regions_file(p)
    ['511302', 'xuanhan']
    """
    file = Path(path)
    if not file.is_file():
        msg = (
            f"regions file {file} is a folder, not a file (是文件夹而非文件)"
            if file.is_dir()
            else f"regions file not found: {file} (文件不存在)"
        )
        raise BatchError(msg)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        msg = f"regions file {file}: not UTF-8 text; save it as UTF-8 (区域列表文件须为 UTF-8 编码)"
        raise BatchError(msg) from None
    except OSError as exc:
        msg = f"cannot read regions file {file}: {exc.strerror or exc} (无法读取区域列表文件)"
        raise BatchError(msg) from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if item:
            try:
                parse_item(item, settings.default_seed)
            except BatchError as exc:
                msg = f"{file}, line {number} (第{number}行): {exc}"
                raise BatchError(msg) from None
            out.append(item)
    return out


def all_regions() -> list[str]:
    """Codes of every loadable county-level unit of the reference tables.

    Cities are left out: a city is the union of its counties, so running both would count every
    facility twice; run a city on its own with :func:`siting.pipeline.run` when wanted.

    Examples
    --------
    >>> all_regions()[:3], len(all_regions())
    (['511302', '511303', '511304'], 10)
    """
    from siting import regions

    table = regions.available()
    keep = table[(table["level"] == "county") & table["loadable"]]
    return sorted(str(c) for c in keep.index)


@functools.lru_cache(maxsize=1)
def _available() -> pd.DataFrame:
    from siting import regions

    return regions.available()


def _parent_of(code: str) -> str | None:
    """The loadable city a county belongs to, if any."""
    table = _available()
    if code not in table.index or table.loc[code, "level"] != "county":
        return None
    city = code[:4] + "00"
    if city in table.index and table.loc[city, "level"] == "city":
        return city if bool(table.loc[city, "loadable"]) else None
    return None


# --- partitions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A county's share of its parent's data, with the border buffer.

    Attributes
    ----------
    region
        The county.
    parent
        Code of the city the data is cut from.
    network
        The parent's network restricted to the nodes within ``buffer_m`` of the county outline.
    facilities
        The county's facilities and the parent's facilities within ``buffer_m`` whose nearest
        parent node is in ``network``.
    home
        Ids of the county's own facilities.
    buffer_min, buffer_m, vmax
        The buffer in minutes and metres and the parent network's top crow-flies speed (m/s).
    """

    region: Region
    parent: str
    network: nx.MultiDiGraph
    facilities: gpd.GeoDataFrame
    home: list[str]
    buffer_min: float
    buffer_m: float
    vmax: float

    def facts(self) -> dict[str, Any]:
        """What the partition holds, for the records."""
        return {
            "partition": "buffer",
            "parent": self.parent,
            "buffer_min": self.buffer_min,
            "buffer_m": round(self.buffer_m, 1),
            "vmax_m_s": round(self.vmax, 6),
            "nodes": self.network.number_of_nodes(),
            "edges": self.network.number_of_edges(),
            "home_facilities": len(self.home),
            "partner_facilities_outside": len(self.facilities) - len(self.home),
        }


@dataclass(frozen=True, eq=False)
class _ParentData:
    region: Region
    graph: nx.MultiDiGraph
    arrays: GraphArrays
    facilities: gpd.GeoDataFrame
    node_pos: np.ndarray  # nearest parent node of each facility (matrix position)
    vmax: float


def _top_speed(arrays: GraphArrays) -> float:
    """Top crow-flies speed of the network (m/s), at least the access speed: any trip of ``t``
    seconds (access legs included) stays within ``t * vmax`` metres of its start."""
    from siting import costs

    vmax = costs._search(arrays, "to_facility").vmax
    return max(float(vmax), settings.access_speed_kph / 3.6)


@functools.lru_cache(maxsize=2)
def _parent_data(code: str, seed: int) -> _ParentData:
    """The parent's region, network and registry (kept per worker for its next counties)."""
    from siting import modelled, network, regions

    region = regions.load(code, seed=seed)
    graph = network.modelled(region)
    arrays = graph_arrays(graph)
    fac = modelled.registry_for(region)
    snapped = snap(arrays, fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    return _ParentData(
        region=region,
        graph=graph,
        arrays=arrays,
        facilities=fac,
        node_pos=snapped["node_pos"].to_numpy(),
        vmax=_top_speed(arrays),
    )


def _to_metric(geom: Any, crs: Any) -> Any:
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def partition(
    region: str | Region,
    *,
    buffer_min: float,
    seed: int | None = None,
    parent: str | None = None,
) -> Partition:
    """Cut a county's partition with its border buffer from its parent city's data.

    Parameters
    ----------
    region
        A county whose city is loadable (name, code or :class:`Region`).
    buffer_min
        The buffer in minutes of travel at the parent network's top crow-flies speed.
    seed
        Seed of the modelled data (default: the region's, or :data:`siting.settings.default_seed`).
    parent
        The city to cut from (default: the county's city).

    Examples
    --------
    >>> p = partition("511302", buffer_min=30)
    >>> p.parent, len(p.home) < len(p.facilities)
    ('511300', True)
    """
    from siting import regions

    if isinstance(region, Region):
        reg = (
            region if seed is None or seed == region.seed else regions.load(region.code, seed=seed)
        )
    else:
        reg = regions.load(region, seed=seed)
    parent = parent or _parent_of(reg.code)
    if parent is None:
        msg = f"{reg.name} ({reg.code}) has no loadable parent city to cut a partition from"
        raise BatchError(msg)
    if not (buffer_min > 0 and math.isfinite(buffer_min)):
        msg = f"buffer_min must be a positive number of minutes, got {buffer_min}"
        raise BatchError(msg)
    data = _parent_data(parent, reg.seed)
    arrays = data.arrays
    buffer_m = float(buffer_min) * 60.0 * data.vmax
    outline = _to_metric(reg.outline, arrays.crs)
    keep = shapely.dwithin(shapely.points(arrays.x, arrays.y), outline, buffer_m)
    kept_nodes = set(arrays.nodes[keep].tolist())
    g = data.graph
    sub = nx.MultiDiGraph()
    sub.graph.update(g.graph)
    sub.graph["partition"] = {"of": parent, "region": reg.code, "buffer_m": round(buffer_m, 1)}
    sub.add_nodes_from((n, d) for n, d in g.nodes(data=True) if n in kept_nodes)
    sub.add_edges_from(
        (u, v, k, d)
        for u, v, k, d in g.edges(keys=True, data=True)
        if u in kept_nodes and v in kept_nodes
    )
    fac = data.facilities
    is_home = (fac["county_code"].astype(str) == reg.code).to_numpy()
    fx, fy = Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True).transform(
        fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    )
    near = shapely.dwithin(shapely.points(fx, fy), outline, buffer_m)
    chosen = is_home | (near & keep[data.node_pos])
    return Partition(
        region=reg,
        parent=parent,
        network=sub,
        facilities=fac[chosen],
        home=[str(i) for i in fac.index[is_home]],
        buffer_min=float(buffer_min),
        buffer_m=buffer_m,
        vmax=data.vmax,
    )


def _inside_limits(region: Region) -> tuple[dict[str, dict[str, float]], float]:
    """For a region run alone: minutes within which a search from each of its facilities and
    villages cannot leave it (distance to its border / top speed)."""
    from siting import modelled, network

    arrays = graph_arrays(network.modelled(region))
    vmax = _top_speed(arrays)
    border = _to_metric(region.outline, arrays.crs).boundary
    tr = Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True)
    out: dict[str, dict[str, float]] = {}
    for name, frame in (
        ("facility", modelled.registry_for(region)),
        ("village", region.villages),
    ):
        x, y = tr.transform(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
        d = shapely.distance(shapely.points(x, y), border)
        out[name] = {
            str(i): round(float(m), 4) for i, m in zip(frame.index, d / vmax / 60.0, strict=True)
        }
    return out, vmax


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
    from siting._errors import DataError

    where = "boundaries" if isinstance(boundaries, gpd.GeoDataFrame) else str(boundaries)
    if isinstance(boundaries, gpd.GeoDataFrame):
        shapes = boundaries
    else:
        file = Path(boundaries)
        if not file.is_file():
            msg = f"boundary file not found: {file} (边界文件不存在)"
            raise DataError(msg)
        try:
            shapes = gpd.read_file(file)
        except Exception as exc:  # a damaged or foreign file: name it
            msg = f"{file}: cannot read the boundaries ({type(exc).__name__}: {exc})"
            raise DataError(msg) from exc
    if shapes.crs is None:
        msg = f"{where}: the boundaries have no CRS; save them with one (e.g. EPSG:4326)"
        raise DataError(msg)
    shapes = shapes[shapes.geometry.notna() & ~shapes.geometry.is_empty]
    shapes = shapes[shapes.geom_type.isin(["Polygon", "MultiPolygon"])]
    if shapes.empty:
        msg = f"{where}: the boundaries hold no polygon (边界文件中没有面)"
        raise DataError(msg)
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
        geometry=shapely.make_valid(shapes.to_crs("EPSG:4326").geometry.to_numpy()),
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
    from siting import _admin, registry
    from siting import network as netmod
    from siting.crs import metric_crs
    from siting.regions import study_area

    if not (buffer_min > 0 and math.isfinite(buffer_min)):
        msg = f"buffer_min must be a positive number of minutes, got {buffer_min}"
        raise BatchError(msg)
    fac = (
        facilities
        if isinstance(facilities, gpd.GeoDataFrame)
        else registry.read(Path(facilities), crs=crs)
    )
    if fac.empty:
        where = "" if isinstance(facilities, gpd.GeoDataFrame) else f" {facilities}"
        msg = f"the facility list{where} has no rows (名录为空)"
        raise BatchError(msg)
    fac = (
        fac.to_crs("EPSG:4326") if fac.crs is not None and not fac.crs.equals("EPSG:4326") else fac
    )
    areas = None
    if boundaries is not None:
        areas, source = _read_areas(boundaries, group_by)
        inside = gpd.sjoin(fac[["geometry"]], areas, how="left", predicate="within")
        first = inside[~inside.index.duplicated(keep="first")]
        keys = first["key"].reindex(fac.index).fillna(UNASSIGNED).astype(str)
    else:
        keys, source = _group_keys(fac, group_by)
    graph: nx.MultiDiGraph | None
    net_sha: str | None
    if network is None:
        graph, net_sha, arrays = None, None, None
        vmax = settings.straight_line_speed_kph / 3.6 / settings.detour_factor
        crs_m: Any = metric_crs(fac.geometry.union_all().centroid)
    else:
        if isinstance(network, str | os.PathLike):
            graph = netmod.load(Path(network), crs=network_crs)
            from siting._outdir import sha256_file

            net_sha = sha256_file(Path(network))
        else:
            graph = network
            net_sha = _graph_sha(graph)
        arrays = graph_arrays(graph)
        vmax = _top_speed(arrays)
        crs_m = arrays.crs
    buffer_m = float(buffer_min) * 60.0 * vmax
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    fx, fy = Transformer.from_crs("EPSG:4326", crs_m, always_xy=True).transform(lon, lat)
    fpts = shapely.points(fx, fy)
    if arrays is not None:
        node_pos = snap(arrays, lon, lat)["node_pos"].to_numpy()
        npts = shapely.points(arrays.x, arrays.y)
    table = _available()
    parts: list[OwnPartition] = []
    for key in sorted(keys.unique()):
        is_home = (keys == key).to_numpy()
        known = _admin.county_outline(key) if key != UNASSIGNED and areas is None else None
        if areas is not None and key != UNASSIGNED:
            name = key
            outline = areas.loc[areas["key"] == key].geometry.iat[0]
            area = f"boundary {source} = {key}"
        elif known is not None:
            name, outline = known
            area = f"reference county polygon {key} {name}"
        else:
            name = key
            sa = study_area(facilities=fac[is_home], buffer_m=_GROUP_HULL_M)
            outline, area = sa.outline, sa.source
        loadable = (
            key in table.index
            and table.loc[key, "level"] == "county"
            and bool(table.loc[key, "loadable"])
        )
        region = key if loadable and graph is not None else None
        ring = _to_metric(outline, crs_m)
        near = shapely.dwithin(fpts, ring, buffer_m)
        sub = None
        if arrays is not None and graph is not None:
            keep = shapely.dwithin(npts, ring, buffer_m)
            near &= keep[node_pos]
            kept = set(arrays.nodes[keep].tolist())
            sub = nx.MultiDiGraph()
            sub.graph.update(graph.graph)
            sub.graph["partition"] = {"of": "list", "group": key, "buffer_m": round(buffer_m, 1)}
            sub.add_nodes_from((n, d) for n, d in graph.nodes(data=True) if n in kept)
            sub.add_edges_from(
                (u, v, k, d)
                for u, v, k, d in graph.edges(keys=True, data=True)
                if u in kept and v in kept
            )
        chosen = is_home | near
        parts.append(
            OwnPartition(
                key=key,
                name=name,
                group_by=source,
                region=region,
                outline=outline,
                outline_source=area,
                facilities=fac[chosen],
                network=sub,
                home=[str(i) for i in fac.index[is_home]],
                buffer_min=float(buffer_min),
                buffer_m=buffer_m,
                vmax=vmax,
                network_sha256=net_sha,
            )
        )
    return parts


# --- hashing --------------------------------------------------------------------------------------


def _sha_files(files: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode())
            h.update(b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _data_fingerprint() -> dict[str, str]:
    """The siting version and the sha256 of the reference and packaged data files in use."""
    from siting._reference import reference_dir

    ref = reference_dir()
    pkg = Path(__file__).resolve().parent
    packaged = [*(pkg / "data").rglob("*"), *(pkg / "layouts").rglob("*")]
    return {
        "siting_version": __version__,
        "reference_sha256": _sha_files(ref.rglob("*"), ref),
        "package_data_sha256": _sha_files(packaged, pkg),
    }


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _hash(payload: Mapping[str, Any]) -> str:
    text = json.dumps(_canonical(payload), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    code: str
    name: str
    slug: str
    seed: int
    folder: str
    parent: str | None
    buffer_min: float
    options: dict[str, Any]
    input_hash: str
    fingerprint: dict[str, str]
    fail_first: int = 0
    own: OwnPartition | None = None


def _read_folder(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK
    }


def _clean_leftovers(out: Path) -> None:
    """Temporary region folders of a killed batch (``.<folder>.*.tmp``, ``.<folder>.old-*``)."""
    for p in out.iterdir():
        if p.is_dir() and p.name.startswith(".") and (p.name.endswith(".tmp") or ".old-" in p.name):
            shutil.rmtree(p, ignore_errors=True)
    (out / f".{MANIFEST}.tmp").unlink(missing_ok=True)


def _run_task(task: _Task, attempt: int) -> dict[str, Any]:
    """One region on a worker: run into a temporary folder, return the files as bytes."""
    from siting import pipeline, regions

    if attempt <= task.fail_first:
        msg = f"injected failure of {task.code} on attempt {attempt} (test hook)"
        raise RuntimeError(msg)
    t0 = time.perf_counter()
    found = _data_fingerprint()
    if found != task.fingerprint:
        diff = sorted(k for k in found if found[k] != task.fingerprint.get(k))
        msg = (
            f"this worker's siting differs from the driver's in {', '.join(diff)}: "
            f"install the same siting version and data on every worker ({found})"
        )
        raise BatchError(msg)
    border: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="siting-batch-") as tmp:
        out = Path(tmp) / "run"
        if task.own is not None:
            own = task.own
            t1 = time.perf_counter()
            pipeline.run(
                own.region,
                out=out,
                facilities=own.facilities,
                network=own.network,
                boundary=None if own.region is not None else own.outline,
                home=own.home,
                seed=task.seed,
                progress=False,
                **task.options,
            )
            border = own.facts()
        elif task.parent is not None:
            part = partition(
                task.code, buffer_min=task.buffer_min, seed=task.seed, parent=task.parent
            )
            t1 = time.perf_counter()
            pipeline.run(
                part.region,
                out=out,
                facilities=part.facilities,
                network=part.network,
                home=part.home,
                seed=task.seed,
                progress=False,
                **task.options,
            )
            border = part.facts()
        else:
            region = regions.load(task.code, seed=task.seed)
            limits, vmax = _inside_limits(region)
            t1 = time.perf_counter()
            pipeline.run(region, out=out, seed=task.seed, progress=False, **task.options)
            border = {
                "partition": "alone",
                "parent": None,
                "buffer_min": task.buffer_min,
                "vmax_m_s": round(vmax, 6),
                "reason": BORDER_REASONS["no_data"],
                "inside_limit_min": limits,
            }
        t2 = time.perf_counter()
        files = _read_folder(out)
    return {
        "files": files,
        "border": border,
        "timings_s": {
            "partition": round(t1 - t0, 3),
            "run": round(t2 - t1, 3),
            "task": round(time.perf_counter() - t0, 3),
        },
        "worker": f"{platform.node()}:{os.getpid()}",
    }


# --- writing on the driver ------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _write_region(
    out: Path, folder: str, files: Mapping[str, bytes], record: dict[str, Any]
) -> None:
    """Write a region's files into ``out/folder`` atomically: a temporary folder renamed into
    place, the run's manifest written last."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".tmp", dir=out))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private to the user
    try:
        for rel, data in files.items():
            if rel == "manifest.json":
                continue
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        record = {**record, "manifest_sha256": hashlib.sha256(files["manifest.json"]).hexdigest()}
        (tmp / BATCH_RECORD).write_text(_json_text(record), encoding="utf-8")
        (tmp / "manifest.json").write_bytes(files["manifest.json"])
        target = out / folder
        old = None
        if target.exists() and not (
            is_siting_manifest(target / "manifest.json") or (target / BATCH_RECORD).is_file()
        ):
            msg = (
                f"{target} exists and was not written by siting: not replacing it (move it away "
                "or choose another --out)"
            )
            raise BatchError(msg)
        if target.exists():
            (target / "manifest.json").unlink(missing_ok=True)
            old = out / f".{folder}.old-{uuid.uuid4().hex[:8]}"
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _finished_record(out: Path, folder: str) -> dict[str, Any] | None:
    """The batch record of a finished region folder (its manifest unchanged since), else None."""
    target = out / folder
    manifest, rec_path = target / "manifest.json", target / BATCH_RECORD
    if not (manifest.is_file() and rec_path.is_file()):
        return None
    try:
        record: dict[str, Any] = json.loads(rec_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("manifest_sha256") != hashlib.sha256(manifest.read_bytes()).hexdigest():
        return None
    return record


# --- the batch ------------------------------------------------------------------------------------


@dataclass
class RegionOutcome:
    """What happened to one region of a batch."""

    code: str
    name: str
    seed: int | None
    folder: str | None
    status: str  # ok | failed | skipped
    attempts: int = 0
    error: str | None = None
    input_hash: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    border: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None
    requested: str = ""

    def record(self) -> dict[str, Any]:
        """The entry of ``batch_manifest.json`` (without the per-point border limits)."""
        border = {k: v for k, v in self.border.items() if k != "inside_limit_min"}
        return {
            "requested": self.requested,
            "code": self.code,
            "name": self.name,
            "seed": self.seed,
            "folder": self.folder,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "input_hash": self.input_hash,
            "timings_s": self.timings_s,
            "border": border,
            "worker": self.worker,
        }


@dataclass
class BatchResult:
    """What :func:`run_batch` did; the merged tables are files in ``out``."""

    out: Path
    regions: list[RegionOutcome]
    summary: pd.DataFrame
    manifest: dict[str, Any]
    files: dict[str, Path]

    def _status(self, status: str) -> list[RegionOutcome]:
        return [r for r in self.regions if r.status == status]

    @property
    def ok(self) -> list[RegionOutcome]:
        """Regions computed in this batch."""
        return self._status("ok")

    @property
    def skipped(self) -> list[RegionOutcome]:
        """Regions whose finished folder had the same input hash."""
        return self._status("skipped")

    @property
    def failed(self) -> list[RegionOutcome]:
        """Regions that failed (after their retries), with their error."""
        return self._status("failed")

    def pairings(self) -> pd.DataFrame:
        """The merged ``pairings.csv``."""
        return _read_merged(self.files["pairings.csv"])

    def gaps(self) -> pd.DataFrame:
        """The merged ``gaps.csv``."""
        return _read_merged(self.files["gaps.csv"])

    def indicators(self) -> pd.DataFrame:
        """The merged ``indicators.csv``."""
        return _read_merged(self.files["indicators.csv"])


def _read_merged(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_values=[""]
    )
    for col in ("travel_time_min", "distance_km", "threshold_min", "rank"):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col])
    if "border_exact" in frame.columns:
        frame["border_exact"] = frame["border_exact"] == "True"
    return frame


#: Largest seed of a region spec: the modelled data seed numpy with unsigned 32-bit words.
MAX_SEED: Final = 2**32 - 1
_MAX_SEED: Final = MAX_SEED  # the old name


def seed_of(value: Any, spec: str) -> int:
    """The seed ``value`` of the region spec ``spec``: an integer in 0..2**32-1, or BatchError."""
    number: int | None = None
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    elif not isinstance(value, bool):
        try:
            number = operator.index(value)
        except TypeError:
            number = None
    if number is None or not 0 <= number <= _MAX_SEED:
        msg = (
            f"region {spec!r}: the seed must be an integer from 0 to {MAX_SEED}, got {value!r} "
            f"(区域 {spec!r}：种子须为 0 到 {MAX_SEED} 的整数)"
        )
        raise BatchError(msg)
    return number


def parse_item(item: Any, default_seed: int) -> tuple[str, int]:
    """``(code or name, seed)`` of a region spec: ``"CODE"``, ``"CODE@SEED"`` or a pair.

    Raises :class:`BatchError` naming the spec for a bad seed, an empty code or a stray ``@``.
    """
    if isinstance(item, tuple | list):
        if len(item) != 2:
            msg = f"a region given as a pair must be (code or name, seed), got {item!r}"
            raise BatchError(msg)
        spec = f"{item[0]}@{item[1]}"
        name = str(item[0]).strip()
        seed = seed_of(item[1], spec)
    else:
        spec = str(item).strip()
        if "@" in spec:
            head, tail = spec.rsplit("@", 1)
            name = head.strip()
            seed = seed_of(tail, spec)
        else:
            name, seed = spec, default_seed
    if not name or "@" in name:
        msg = (
            f"region {spec!r}: give a region code or name, optionally followed by @SEED "
            f"(e.g. 511722 or 511722@7) (区域写法应为 代码 或 代码@种子)"
        )
        raise BatchError(msg)
    return name, seed


def _items(regions: Any) -> list[Any]:
    if isinstance(regions, str) and regions.strip().lower() == "all":
        return list(all_regions())
    if isinstance(regions, str | os.PathLike):
        path = Path(regions)
        if path.is_file():
            return list(read_regions_file(path))
        return [str(regions)]
    items = list(regions)
    if not items:
        msg = "no regions given"
        raise BatchError(msg)
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and item.strip().lower() == "all":
            out.extend(all_regions())
        else:
            out.append(item)
    return out


def _default_buffer(rules: pairing.Rules, thresholds: Sequence[float]) -> float:
    """The largest threshold in play: the rules' and the coverage thresholds."""
    return float(max([r.threshold_min for r in rules] + [float(t) for t in thresholds]))


def _start_client(scheduler: Any, workers: int | None, progress: bool) -> tuple[Any, Any]:

    import distributed

    dist: Any = distributed  # untyped in places
    client_type = dist.Client
    if scheduler is None:
        n = int(workers or os.cpu_count() or 1)
        # any free port: the scheduler's HTTP server starts even without a dashboard, and the
        # default port 8787 may be taken by another cluster on this machine
        dashboard = ":0"
        cluster = dist.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard,
            silence_logs=logging.ERROR,
        )
        client = client_type(cluster)
    elif isinstance(scheduler, client_type):
        return scheduler, None
    else:
        cluster = None
        client = client_type(str(scheduler))
    if progress:
        link = client.dashboard_link if _has_dashboard(client) else None
        where = f"a local cluster of {workers or os.cpu_count()} workers" if cluster else scheduler
        print(f"[siting] batch on {where}", file=sys.stderr, flush=True)
        if link:
            print(f"[siting] Dask dashboard: {link}", file=sys.stderr, flush=True)
    return client, cluster


def _address(scheduler: Any) -> str:
    """The address of a scheduler given as an address or a Client."""
    rpc = getattr(scheduler, "scheduler", None)
    return str(getattr(rpc, "address", None) or scheduler)


def _has_dashboard(client: Any) -> bool:
    try:
        info = client.scheduler_info()
    except Exception:  # only for a link in the progress output
        return False
    return "dashboard" in info.get("services", {})


def run_batch(
    regions: Sequence[Any] | str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    network: str | os.PathLike[str] | nx.MultiDiGraph | None = None,
    group_by: str | None = None,
    boundaries: str | os.PathLike[str] | gpd.GeoDataFrame | None = None,
    crs: str | None = None,
    network_crs: str | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    buffer_min: float | None = None,
    retries: int = 2,
    progress: bool = True,
    force: bool = False,
    _inject_failures: Mapping[str, int] | None = None,
    **run_options: Any,
) -> BatchResult:
    """Run the pipeline for many regions on Dask; one folder per region and merged tables.

    Parameters
    ----------
    regions
        Region codes or names (``"CODE@SEED"`` or ``(code, seed)`` for a seed of its own),
        ``"all"`` (every loadable county-level unit, :func:`all_regions`; cities are left out,
        being the union of their counties), or a file of them, one per line
        (:func:`read_regions_file`). With ``facilities``: the groups of the list to run
        (their keys or names; ``None`` or ``"all"``: every group).
    out
        Output folder: ``<code>_<slug>/`` per region, the merged tables and
        ``batch_manifest.json``.
    facilities, network, group_by, boundaries, crs, network_crs
        A planner's own list (and roads) instead of built-in regions: the list is cut into
        groups (``group_by``; default the county code, else the district column; or the
        polygons of ``boundaries``) with border buffers by :func:`partition_list`, and each
        group is one folder. Without ``network``
        the times are straight-line estimates (and, a batch of own data using no modelled
        roads, the built-in villages are not joined).
    scheduler
        Address of a running Dask scheduler (``"tcp://host:8786"``; the cluster is used
        unchanged) or a :class:`distributed.Client`. ``None``: a
        :class:`distributed.LocalCluster` of processes with one thread each, started and
        closed here.
    workers
        Workers of the local cluster (default: the number of CPUs).
    buffer_min
        Border buffer in minutes (default: the largest threshold in play, of the pairing
        rules and the coverage thresholds).
    retries
        How many times a failing region is tried again before it is reported as failed.
    progress
        A progress bar over the regions (and the dashboard link, when there is one).
    force
        Write into a folder that holds files siting did not write (only siting's own names
        are touched); without it such a folder is refused before any region is computed.
    _inject_failures
        Test hook: region code -> number of first attempts that fail.
    **run_options
        Options of :func:`siting.pipeline.run` for every region: ``rules``, ``capacity``,
        ``thresholds_min``, ``service_area_kinds``, ``layout`` (a shipped spec name, ``"auto"``
        or ``None``), ``seed`` (the default seed of the regions).

    Returns
    -------
    BatchResult
        Each region's outcome, the summary by region, the batch manifest and the files.

    Examples
    --------
    >>> result = run_batch(["511302", "xuanhan"], "out/batch", service_area_kinds=None)
    ... # doctest: +SKIP
    >>> [r.status for r in result.regions]  # doctest: +SKIP
    ['ok', 'ok']
    """
    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    unknown = sorted(set(run_options) - set(RUN_OPTIONS))
    if unknown:
        msg = (
            f"run_batch does not take {', '.join(unknown)}: options passed on to each run: "
            f"{', '.join(RUN_OPTIONS)} (a planner's own data: facilities=, network=, group_by=)"
        )
        raise BatchError(msg)
    if retries < 0:
        msg = f"retries must be >= 0, got {retries}"
        raise BatchError(msg)
    layout = run_options.get("layout", "auto")
    if layout is not None and not isinstance(layout, str):
        msg = "layout must be 'auto', None or the name of a shipped layout spec in a batch"
        raise BatchError(msg)
    out_dir = Path(out)
    with OutputFolder(out_dir, force=force, manifest_name=MANIFEST):
        _clean_leftovers(out_dir)
        rules = pairing.load_rules(run_options.get("rules"))
        rules_sha = (
            hashlib.sha256(rules.path.read_bytes()).hexdigest()
            if rules.path is not None
            else _hash({"rules": [dataclasses.asdict(r) for r in rules.rules]})
        )
        options = dict(run_options)
        if (
            "rules" in options
            and options["rules"] is not None
            and rules.path != pairing.default_rules_path()
        ):
            # workers share no filesystem: ship the parsed rules (the batch records the file's sha)
            options["rules"] = dataclasses.replace(rules, path=None)
        else:
            options.pop("rules", None)
        thresholds = tuple(float(t) for t in options.get("thresholds_min", (15.0, 30.0)))
        buffer = float(buffer_min) if buffer_min is not None else _default_buffer(rules, thresholds)
        if not (buffer > 0 and math.isfinite(buffer)):
            msg = f"buffer_min must be a positive number of minutes, got {buffer_min}"
            raise BatchError(msg)
        seed_option = options.pop("seed", None)
        default_seed = settings.default_seed if seed_option is None else int(seed_option)
        if "thresholds_min" in options:
            options["thresholds_min"] = [float(t) for t in options["thresholds_min"]]
        capacity_rules = (
            sorted(r.id for r in rules if r.capacity is not None) if options.get("capacity") else []
        )
        fingerprint = _data_fingerprint()
        hashed_options = {k: v for k, v in options.items() if k != "rules"}

        from siting import regions as regmod

        outcomes: list[RegionOutcome] = []
        tasks: list[_Task] = []
        seen: set[tuple[str, int]] = set()
        table = _available()
        notes: list[str] = []
        if facilities is not None:
            notes = _own_tasks(
                regions,
                facilities,
                network,
                group_by=group_by,
                boundaries=boundaries,
                crs=crs,
                network_crs=network_crs,
                buffer=buffer,
                seed=default_seed,
                options=options,
                hashed=hashed_options,
                rules_sha=rules_sha,
                fingerprint=fingerprint,
                out_dir=out_dir,
                inject=_inject_failures or {},
                outcomes=outcomes,
                tasks=tasks,
                progress=progress,
            )
        elif network is not None or group_by is not None or boundaries is not None:
            msg = "network=, group_by= and boundaries= go with facilities= (a planner's own list)"
            raise BatchError(msg)
        elif regions is None:
            msg = "no regions given (give regions, or facilities= for a planner's own list)"
            raise BatchError(msg)
        for item in _items(regions) if facilities is None and regions is not None else ():
            requested = str(item) if not isinstance(item, tuple | list) else f"{item[0]}@{item[1]}"
            try:
                name_or_code, seed = parse_item(item, default_seed)
                code = regmod.resolve(name_or_code)
                if not bool(table.loc[code, "loadable"]):
                    raise BatchError(str(table.loc[code, "reason"]))
            except (SitingError, KeyError, ValueError) as exc:
                outcomes.append(
                    RegionOutcome(
                        code=str(item),
                        name="",
                        seed=None,
                        folder=None,
                        status="failed",
                        error=f"{type(exc).__name__}: {exc}",
                        requested=requested,
                    )
                )
                continue
            if (code, seed) in seen:
                continue
            seen.add((code, seed))
            alias = str(table.loc[code, "alias"] or "")
            slug = alias or code
            folder = code if slug == code else f"{code}_{slug}"
            if seed != default_seed:
                folder += f"_s{seed}"
            parent = _parent_of(code)
            input_hash = _hash(
                {
                    "code": code,
                    "seed": seed,
                    "buffer_min": buffer,
                    "partition": parent,
                    "options": hashed_options,
                    "rules_sha256": rules_sha,
                    **fingerprint,
                }
            )
            task = _Task(
                code=code,
                name=str(table.loc[code, "name"]),
                slug=slug,
                seed=seed,
                folder=folder,
                parent=parent,
                buffer_min=buffer,
                options=options,
                input_hash=input_hash,
                fingerprint=fingerprint,
                fail_first=int((_inject_failures or {}).get(code, 0)),
            )
            outcome = RegionOutcome(
                code=code,
                name=task.name,
                seed=seed,
                folder=folder,
                status="pending",
                input_hash=input_hash,
                requested=requested,
            )
            record = _finished_record(out_dir, folder)
            if record is not None and record.get("input_hash") == input_hash:
                outcome.status = "skipped"
                outcome.border = dict(record.get("border", {}))
            else:
                tasks.append(task)
            outcomes.append(outcome)
        if not outcomes:
            msg = "no regions given"
            raise BatchError(msg)
        by_folder = {str(o.folder): o for o in outcomes if o.folder is not None}
        if tasks:
            # counties of one parent (and seed) next to each other: a worker keeps the parent's data
            tasks.sort(key=lambda t: (t.parent or t.code, t.seed, t.code))
            _compute(tasks, by_folder, out_dir, scheduler, workers, retries, progress)
        files, counts = _merge(out_dir, outcomes, capacity_rules)
        summary = _summary(outcomes, counts)
        files["summary_by_region.csv"] = _write_table(summary, out_dir / "summary_by_region.csv")
        manifest = {
            "siting_version": __version__,
            "started_utc": started.isoformat(timespec="seconds"),
            "elapsed_s": round(time.perf_counter() - t_start, 3),
            "command": " ".join(sys.argv) if sys.argv else "",
            "scheduler": "local" if scheduler is None else _address(scheduler),
            "buffer_min": buffer,
            "inputs": _own_inputs(facilities, network, group_by, boundaries, crs, network_crs),
            "notes": notes,
            "buffer_note": (
                "rows with travel time <= buffer_min are exact (border_exact); see siting.batch"
            ),
            "run_options": _canonical(hashed_options),
            "rules_sha256": rules_sha,
            "data": fingerprint,
            "counts": {
                s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed")
            },
            "regions": [o.record() for o in outcomes],
        }
        tmp = out_dir / f".{MANIFEST}.tmp"
        tmp.write_text(_json_text(manifest), encoding="utf-8")
        tmp.replace(out_dir / MANIFEST)
        files[MANIFEST] = out_dir / MANIFEST
        return BatchResult(
            out=out_dir, regions=outcomes, summary=summary, manifest=manifest, files=files
        )


def _own_inputs(
    facilities: Any,
    network: Any,
    group_by: str | None,
    boundaries: Any,
    crs: str | None,
    network_crs: str | None,
) -> dict[str, Any] | None:
    """The planner's own inputs of a batch, for its manifest (None for built-in regions)."""
    from siting._outdir import sha256_file

    if facilities is None:
        return None

    def described(value: Any, what: str) -> Any:
        if value is None:
            return None
        if isinstance(value, str | os.PathLike):
            path = Path(value)
            return {"path": str(path), "sha256": sha256_file(path)}
        return {"object": type(value).__name__, what: True}

    return {
        "facilities": described(facilities, "frame"),
        "network": described(network, "graph") or "none (straight line)",
        "group_by": group_by
        or (
            "the boundaries' name column"
            if boundaries is not None
            else "county_code, else the district column"
        ),
        "boundaries": described(boundaries, "frame"),
        "crs": crs,
        "network_crs": network_crs,
    }


def _own_tasks(
    regions: Any,
    facilities: Any,
    network: Any,
    *,
    group_by: str | None,
    boundaries: Any,
    crs: str | None,
    network_crs: str | None,
    buffer: float,
    seed: int,
    options: dict[str, Any],
    hashed: dict[str, Any],
    rules_sha: str,
    fingerprint: dict[str, str],
    out_dir: Path,
    inject: Mapping[str, int],
    outcomes: list[RegionOutcome],
    tasks: list[_Task],
    progress: bool,
) -> list[str]:
    """The tasks of a batch of a planner's own list: one per group (:func:`partition_list`).

    Returns the notes for the batch manifest (groups that probably name one place)."""

    if progress:
        print("[siting] 按分组切分名录 cutting the list into groups", file=sys.stderr, flush=True)
    parts = partition_list(
        facilities,
        network,
        buffer_min=buffer,
        group_by=group_by,
        boundaries=boundaries,
        crs=crs,
        network_crs=network_crs,
    )
    by_key = {p.key: p for p in parts}
    by_name = {p.name: p for p in parts}
    chosen: list[OwnPartition] = []
    wanted = (
        None
        if regions is None or (isinstance(regions, str) and regions.strip().lower() == "all")
        else ([regions] if isinstance(regions, str | os.PathLike) else list(regions))
    )
    if wanted is None:
        chosen = list(parts)
    else:
        for item in wanted:
            text = str(item).strip()
            part = by_key.get(text) or by_name.get(text)
            if part is None:
                listed = ", ".join(p.key for p in parts[:30])
                outcomes.append(
                    RegionOutcome(
                        code=text,
                        name="",
                        seed=None,
                        folder=None,
                        status="failed",
                        error=(
                            f"BatchError: no facility of group {text!r} in the list "
                            f"(名录中没有该分组); groups: {listed}"
                        ),
                        requested=text,
                    )
                )
            elif part not in chosen:
                chosen.append(part)
    if progress:
        print(
            f"[siting] {len(parts)} 个分组 groups by {parts[0].group_by}: "
            + ", ".join(f"{p.name} ({len(p.home)})" for p in parts[:12])
            + (" ..." if len(parts) > 12 else ""),
            file=sys.stderr,
            flush=True,
        )
    notes = [
        f"分组 {' 与 '.join(g)} 可能是同一地区，请统一写法 / groups {' and '.join(g)} probably "
        f"name one place: write them one way in column {parts[0].group_by!r}"
        for g in similar_groups(p.key for p in parts)
    ]
    for note in notes:
        print(f"[siting] 提示 WARNING: {note}", file=sys.stderr, flush=True)
    taken: set[str] = set()
    for part in chosen:
        folder = _folder_of(part.key, taken)
        input_hash = _hash(
            {
                "group": part.key,
                "group_by": part.group_by,
                "seed": seed,
                "buffer_min": buffer,
                "region": part.region,
                "area": part.outline_source,
                "outline_sha256": hashlib.sha256(shapely.to_wkb(part.outline)).hexdigest(),
                "facilities": frame_sha256(part.facilities),
                "home": sorted(part.home),
                "network_sha256": part.network_sha256,
                "options": hashed,
                "rules_sha256": rules_sha,
                **fingerprint,
            }
        )
        task = _Task(
            code=part.key,
            name=part.name,
            slug=folder,
            seed=seed,
            folder=folder,
            parent="list",
            buffer_min=buffer,
            options=options,
            input_hash=input_hash,
            fingerprint=fingerprint,
            fail_first=int(inject.get(part.key, 0)),
            own=part,
        )
        outcome = RegionOutcome(
            code=part.key,
            name=part.name,
            seed=seed,
            folder=folder,
            status="pending",
            input_hash=input_hash,
            requested=part.key,
        )
        record = _finished_record(out_dir, folder)
        if record is not None and record.get("input_hash") == input_hash:
            outcome.status = "skipped"
            outcome.border = dict(record.get("border", {}))
        else:
            tasks.append(task)
        outcomes.append(outcome)
    return notes


def _compute(
    tasks: list[_Task],
    by_folder: dict[str, RegionOutcome],
    out: Path,
    scheduler: Any,
    workers: int | None,
    retries: int,
    progress: bool,
) -> None:
    import distributed
    from tqdm.auto import tqdm

    as_completed: Any = distributed.as_completed

    client, cluster = _start_client(scheduler, workers, progress)
    own_client = scheduler is None or isinstance(scheduler, str | os.PathLike)
    bar = tqdm(total=len(tasks), desc="regions", unit="region", disable=not progress)
    try:
        token = uuid.uuid4().hex[:8]

        def submit(task: _Task, attempt: int) -> Any:
            fut = client.submit(
                _run_task, task, attempt, key=f"siting-{task.folder}-{attempt}-{token}", pure=False
            )
            pending[fut.key] = (task, attempt)
            return fut

        pending: dict[str, tuple[_Task, int]] = {}
        queue = as_completed([submit(t, 1) for t in tasks])
        for fut in queue:
            task, attempt = pending.pop(fut.key)
            outcome = by_folder[task.folder]
            outcome.attempts = attempt
            if fut.status == "finished":
                try:
                    result = fut.result()
                    outcome.timings_s = {**result["timings_s"]}
                    t_write = time.perf_counter()
                    record = {
                        "input_hash": task.input_hash,
                        "code": task.code,
                        "seed": task.seed,
                        "border": result["border"],
                        "written_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    }
                    _write_region(out, task.folder, result["files"], record)
                    outcome.timings_s["write"] = round(time.perf_counter() - t_write, 3)
                    outcome.border = result["border"]
                    outcome.worker = result["worker"]
                    outcome.status = "ok"
                    outcome.error = None
                except Exception as exc:  # reported, the others go on
                    outcome.status = "failed"
                    outcome.error = f"{type(exc).__name__}: {exc} (writing {out / task.folder})"
                fut.release()
                bar.update(1)
                continue
            try:
                error: BaseException = fut.exception()
                tb = "".join(traceback.format_tb(fut.traceback())) if fut.traceback() else ""
            except BaseException as exc:  # a cancelled future (its worker lost)
                error, tb = exc, ""
            fut.release()
            if attempt <= retries:
                queue.add(submit(task, attempt + 1))
                continue
            outcome.status = "failed"
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.timings_s = {}
            if tb:
                outcome.error += "\n" + tb.strip()[-2000:]
            bar.update(1)
    finally:
        bar.close()
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


# --- merged tables --------------------------------------------------------------------------------


def _write_table(frame: pd.DataFrame, path: Path) -> Path:
    from siting._io import write_csv

    return write_csv(frame, path)


def _flags(
    frame: pd.DataFrame,
    border: Mapping[str, Any],
    kind: str,
    capacity_rules: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """``border_exact`` and ``border_reason`` of a region's pairings or gaps."""
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=object)
    time_min = pd.to_numeric(frame["travel_time_min"], errors="coerce").to_numpy(dtype=float)
    if kind == "pairings":
        reachable = frame["partner_id"].notna().to_numpy() & np.isfinite(time_min)
    else:
        reachable = (frame["reachable"].astype(str) == "True").to_numpy() & np.isfinite(time_min)
    reason = np.empty(n, dtype=object)
    if border.get("partition") == "buffer":
        limit = np.full(n, float(border["buffer_min"]))
        exact = reachable & (time_min <= limit - _ROUNDING_MIN)
        reason[:] = BORDER_REASONS["beyond_buffer"]
        reason[exact] = BORDER_REASONS["buffer"]
        reason[~reachable] = BORDER_REASONS["unreachable"]
    else:
        limits = border.get("inside_limit_min") or {}
        fac = limits.get("facility", {})
        vil = limits.get("village", {})
        if kind == "gaps" and "village_code" in frame.columns:
            is_vil = (frame["gap_type"] == "village").to_numpy()
            keys = np.where(
                is_vil, frame["village_code"].astype(str), frame["facility_id"].astype(str)
            )
            limit = np.array(
                [(vil if v else fac).get(k, 0.0) for k, v in zip(keys, is_vil, strict=True)],
                dtype=float,
            )
        else:
            limit = frame["facility_id"].astype(str).map(fac).fillna(0.0).to_numpy(dtype=float)
        exact = reachable & (time_min <= limit - _ROUNDING_MIN)
        reason[:] = BORDER_REASONS["no_data"]
        reason[exact] = BORDER_REASONS["inside"]
    if capacity_rules and "rule" in frame.columns:
        cap = frame["rule"].isin(list(capacity_rules)).to_numpy()
        exact &= ~cap
        reason[cap] = BORDER_REASONS["capacity"]
    return exact, reason


def _merge(
    out: Path, outcomes: Sequence[RegionOutcome], capacity_rules: Sequence[str]
) -> tuple[dict[str, Path], dict[str, dict[str, int]]]:
    """Stream each finished region's tables into the merged ones (column union, region first)."""
    done = [o for o in outcomes if o.status in ("ok", "skipped") and o.folder]
    counts: dict[str, dict[str, int]] = {str(o.folder): {} for o in done}
    files: dict[str, Path] = {}
    for name in ("pairings.csv", "gaps.csv", "indicators.csv"):
        columns: list[str] = []
        for o in done:
            path = out / str(o.folder) / name
            if path.is_file():
                head = pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns
                columns += [c for c in head if c not in columns]
        lead = ["region_code", "region_folder"]
        tail = ["border_exact", "border_reason"] if name != "indicators.csv" else []
        target = out / name
        tmp = out / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
                first = True
                for o in done:
                    path = out / str(o.folder) / name
                    if not path.is_file():
                        continue
                    frame = excel_restore_frame(
                        pd.read_csv(
                            path,
                            encoding="utf-8-sig",
                            dtype=str,
                            keep_default_na=False,
                            na_values=[""],
                        )
                    )
                    stats = counts[str(o.folder)]
                    if tail:
                        kind = name.removesuffix(".csv")
                        exact, reason = _flags(frame, o.border, kind, capacity_rules)
                        frame["border_exact"] = exact
                        frame["border_reason"] = reason
                        stats[f"{kind}_rows"] = len(frame)
                        stats[f"{kind}_not_exact"] = int((~exact).sum())
                        if kind == "gaps":
                            stats["facility_gaps"] = int((frame["gap_type"] == "facility").sum())
                            stats["village_gaps"] = int((frame["gap_type"] == "village").sum())
                    frame.insert(0, "region_folder", o.folder)
                    frame.insert(0, "region_code", o.code)
                    frame = frame.reindex(columns=[*lead, *columns, *tail])
                    excel_safe_frame(frame).to_csv(handle, index=False, header=first)
                    first = False
                if first:
                    pd.DataFrame(columns=[*lead, *columns, *tail]).to_csv(handle, index=False)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        files[name] = target
    for o in done:
        path = out / str(o.folder) / "summary.json"
        if path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
            counts[str(o.folder)]["home_facilities"] = int(
                sum(summary.get("facilities_by_kind", {}).values())
            )
    return files, counts


def _summary(
    outcomes: Sequence[RegionOutcome], counts: Mapping[str, Mapping[str, int]]
) -> pd.DataFrame:
    rows = []
    for o in outcomes:
        c = counts.get(str(o.folder), {})
        b = o.border
        rows.append(
            {
                "region_code": o.code,
                "region_name": o.name,
                "seed": o.seed,
                "region_folder": o.folder,
                "status": o.status,
                "attempts": o.attempts,
                "error": (o.error or "").splitlines()[0] if o.error else None,
                "partition": b.get("partition"),
                "parent": b.get("parent"),
                "buffer_min": b.get("buffer_min"),
                "buffer_km": round(float(b["buffer_m"]) / 1000.0, 3) if b.get("buffer_m") else None,
                "home_facilities": c.get("home_facilities"),
                "partner_facilities_outside": b.get("partner_facilities_outside"),
                "pairing_rows": c.get("pairings_rows"),
                "pairing_rows_not_exact": c.get("pairings_not_exact"),
                "facility_gaps": c.get("facility_gaps"),
                "village_gaps": c.get("village_gaps"),
                "gap_rows_not_exact": c.get("gaps_not_exact"),
                "task_s": o.timings_s.get("task"),
                "input_hash": o.input_hash,
            }
        )
    frame = pd.DataFrame(rows)
    ints = [
        "seed",
        "attempts",
        "home_facilities",
        "partner_facilities_outside",
        "pairing_rows",
        "pairing_rows_not_exact",
        "facility_gaps",
        "village_gaps",
        "gap_rows_not_exact",
    ]
    for col in ints:
        frame[col] = pd.array(frame[col].tolist(), dtype="Int64")
    return frame


# the old private names (kept for code written against them)
_seed_of = seed_of
_parse_item = parse_item
