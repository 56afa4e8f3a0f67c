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
    islands. Points are tied to nodes off the islands (:func:`siting.graph.snap`).

Modules
-------
:mod:`~siting.network.speeds`
    road classes, the speed table, speeds, travel times and geodesic lengths (shared by all).
:mod:`~siting.network.osm`
    ``.osm.pbf`` and ``.osm`` XML reading.
:mod:`~siting.network.graphml`
    GraphML reading and writing.
:mod:`~siting.network.lines`
    road line layers (Shapefile, GeoJSON, GeoPackage): columns, attributes and topology.
:mod:`~siting.network.layer_crs`
    the coordinate system of a line layer: declared, evidenced by its roads, to WGS84.
:mod:`~siting.network.checks`
    speeds, components and coverage of the facilities.
:mod:`~siting.network.loader`
    :func:`load`, the loader chosen by the file suffix.
:mod:`~siting.network.model`
    the modelled network of the built-in regions (old path ``siting._network_model``).
:mod:`~siting.network.fetch`
    road download from an Overpass server (old path ``siting.osm_fetch``); not imported here.

The modules of this room may import each other (``speeds`` first, which imports none of them)
and the lower rooms of siting (``crs``, ``regions``, ``settings``, ``_errors``, ``_graph``,
``_io``, ``_tables``); never ``pipeline``, ``cli`` or the analysis modules.
"""

from __future__ import annotations

from siting._errors import NetworkError
from siting.network.checks import check_against, check_speeds, connectivity
from siting.network.graphml import from_graphml, to_graphml
from siting.network.layer_crs import INVERSE_TOL_M
from siting.network.layer_crs import _reference_seats as _reference_seats
from siting.network.layer_crs import _road_evidence as _road_evidence
from siting.network.lines import (
    COORD_DECIMALS_DEG,
    COORD_DECIMALS_M,
    from_lines,
)
from siting.network.loader import LINE_SUFFIXES, load
from siting.network.model import county_towns, load_modelled_graphml, modelled
from siting.network.osm import _ACCESS_KEYS as _ACCESS_KEYS
from siting.network.osm import _closed_to_cars as _closed_to_cars
from siting.network.osm import _first as _first
from siting.network.osm import from_osm_xml, from_pbf
from siting.network.speeds import (
    MAX_SPEED_KPH,
    NETWORK_TYPES,
    NetworkWarning,
    add_travel_times,
    network_classes,
    road_class,
    speed_table,
)
from siting.network.speeds import (
    _set_lengths as _set_lengths,
)
from siting.network.speeds import (
    _set_travel_times as _set_travel_times,
)

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
