"""Road classes, the speed table, speeds and travel times, geodesic lengths.

What every loader of :mod:`siting.network` shares: :func:`road_class`, :func:`speed_table`,
:func:`network_classes`, :func:`add_travel_times` and the steps that finish a graph.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from siting._errors import DataError, NetworkError
from siting._tables import load_table, normalize_label
from siting.graph import GraphError, forget

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
    siting.graph.GraphError
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
    forget(graph)  # edge attributes were set in place: no compiled copy may outlive them
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
    forget(graph)  # edge attributes were set in place: no compiled copy may outlive them
    return graph


def _existing_file(path: str | os.PathLike[str], what: str) -> Path:
    file = Path(path)
    if not file.is_file():
        msg = f"{what} file not found: {file}"
        raise DataError(msg)
    return file
