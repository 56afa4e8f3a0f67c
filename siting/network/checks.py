"""Checks of a network: plausible speeds (:func:`check_speeds`), components
(:func:`connectivity`), coverage of the facilities (:func:`check_against`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely

from siting._errors import NetworkError
from siting.graph import GraphArrays, components, edge_text, graph_arrays, snap
from siting.network.speeds import _GEOD, _WGS84, MAX_SPEED_KPH, FloatArray

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
        A road graph, or a compiled :class:`siting.graph.GraphArrays` (its fastest edge of each
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
    >>> check_speeds(g)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siting._errors.NetworkError: the road network: 1 of 1 edges have implausible travel times ...
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
    impossible; points are not tied to them (:data:`siting.graph.ISLAND_SHARE`).

    Parameters
    ----------
    network
        A road graph, or a compiled :class:`siting.graph.GraphArrays` (lengths then count the
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
        A road graph or a compiled :class:`siting.graph.GraphArrays` (pass the compiled form
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
    >>> check_against(g, homes)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    siting._errors.NetworkError: 路网未覆盖机构 the road network does not cover the facilities: ...
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
