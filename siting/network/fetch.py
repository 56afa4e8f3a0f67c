"""Real roads in one command: the OpenStreetMap roads of a study area, downloaded with osmnx.

:func:`fetch_roads` downloads the drivable roads of an area - a built-in region, a boundary file,
the extent of a facility list (:func:`siting.regions.study_area`) or any WGS84 polygon - plus a
buffer (5 km by default, so that routes leaving the area and coming back are found) from an
Overpass server, with osmnx (``osmnx.graph_from_polygon``, network type ``"drive"``), and writes
osmnx GraphML that ``siting run --network FILE`` and :func:`siting.network.load` read. On the
command line::

    siting network fetch --region xuanhan                 # -> data/geo/roads_xuanhan.graphml
    siting network fetch --boundary county.geojson --out roads.graphml
    siting run --facilities list.xlsx --crs gcj02 --fetch-roads --out out/mine

**The same graph as an .osm file.** osmnx downloads and parses the roads (its own Overpass JSON
parsing, one-way rules and truncation to the polygon), unsimplified; the graph then goes through
the steps :func:`siting.network.from_osm_xml` applies to an ``.osm`` file: only the road classes
of the ``"driving"`` network type (:func:`siting.network.network_classes`) and no road closed to
cars, geodesic lengths, speeds of ``siting/data/road_speeds.yaml`` (``maxspeed`` where usable),
travel times per OSM segment summed on simplification, which never merges across a change of
``highway`` or ``maxspeed``. So the fetched roads give the graph, lengths and travel times that
the same roads saved as ``.osm`` give. Every connected part is kept (``retain_all``, as the other
loaders do): a road cut off by the buffer's edge stays, and planners see unreachable pairs as
such rather than points snapped to a far road. The one difference from an ``.osm`` file of *all*
roads is the server-side filter of osmnx's ``"drive"`` type, stricter in rare cases: a way tagged
``access=private``, ``motor_vehicle=no`` or ``motorcar=no`` is never downloaded, even where a
more specific tag (``motorcar=yes``) opens it to cars, nor a road tagged
``service`` alley, driveway, parking(_aisle), emergency_access or private.

**Provenance.** The graph attributes record ``source`` (``format`` ``"overpass"``,
``description`` ``"OpenStreetMap via osmnx (Overpass)"``), ``downloaded_utc`` (the time of the
download: of the osmnx cache file when the answer came from the cache), ``osm_data_utc`` (the
state of the OSM database the server reported), ``osmnx_version``, ``osmnx_settings``,
``overpass_url``, ``network_type``, ``buffer_m``, ``area_source``, ``area_key`` and the
attribution the ODbL requires, :data:`ATTRIBUTION`, to be shown with maps and tables made from
these roads.

**Network use.** Only this module's download functions go online, and only when called, never
at import or from another command. Before any download a TCP connection to the Overpass server
(or to the proxy of ``HTTPS_PROXY``/``HTTP_PROXY``) is tried for at most
:data:`CONNECT_TIMEOUT_S` seconds, name resolution included, so that without internet the command
fails in seconds with a clear :class:`OverpassError`, not after minutes. osmnx's cache
(``siting.data_dir() / "osm_cache"``) answers repeated queries without the network (also
offline); the GraphML written is reused by the next call for the same area (``refresh=True`` or
``--refresh`` downloads again). The osmnx settings are changed for the call only and restored
afterwards; osmnx's fallback of resolving the server's name through Google's DNS-over-HTTPS
service is switched off, so no host other than the Overpass server (or the proxy) is contacted.
The server is osmnx's default public one, ``https://overpass-api.de/api``, unless
``overpass_url=`` or the environment variable ``SITING_OVERPASS_URL`` names another (for example
a mirror in China, or a local server); the public servers limit how much one may download, hence
:data:`MAX_AREA_KM2`.

Examples
--------
>>> overpass_endpoint("https://overpass.example.org/api/interpreter")
'https://overpass.example.org/api'
>>> import shapely
>>> default_path(shapely.box(106.0, 30.7, 106.1, 30.8)).name  # doctest: +ELLIPSIS
'roads_area-...graphml'
>>> default_path("xuanhan").name, default_path("xuanhan", buffer_m=10_000).name
('roads_xuanhan.graphml', 'roads_xuanhan_buffer10km.graphml')

Downloading (needs internet)::

    from siting import osm_fetch, regions, run
    roads = osm_fetch.fetch_roads(regions.study_area("xuanhan"))
    run("xuanhan", network=roads, out="out/xuanhan")
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from siting import _log
from siting._errors import DataError, NetworkError, OverpassError, SitingError
from siting.regions import Region, StudyArea

__all__ = [
    "ATTRIBUTION",
    "CONNECT_TIMEOUT_S",
    "ENV_OVERPASS_URL",
    "MAX_AREA_KM2",
    "SOURCE",
    "OverpassError",
    "cached_roads",
    "check_reachable",
    "default_path",
    "download_roads",
    "fetch_roads",
    "overpass_endpoint",
    "roads_for_run",
]

#: Environment variable naming the Overpass server (its API base URL).
ENV_OVERPASS_URL: Final = "SITING_OVERPASS_URL"

#: Seconds allowed to reach the server (name resolution and TCP connection) before a download.
CONNECT_TIMEOUT_S: Final = 5.0

#: ``description`` of the graph attribute ``source`` of a fetched graph.
SOURCE: Final = "OpenStreetMap via osmnx (Overpass)"

#: The attribution the Open Database Licence requires wherever the roads are used.
ATTRIBUTION: Final = "© OpenStreetMap contributors, ODbL (https://www.openstreetmap.org/copyright)"

#: The largest area (km², buffer included) downloaded through Overpass; beyond it a Geofabrik
#: extract (``.osm.pbf``, ``siting network import``) is faster and spares a shared server.
MAX_AREA_KM2: Final = 25_000.0

#: osmnx's network type of the download (the server-side filter).
OSMNX_NETWORK_TYPE: Final = "drive"

#: The network type of siting applied to the download, as :func:`siting.network.from_osm_xml`.
_KIND: Final = "driving"

#: Default buffer (metres) around the area.
_BUFFER_M: Final = 5000.0

#: Tries of one query that the server answers "busy" (HTTP 429/504; osmnx waits 55 s each).
_MAX_TRIES: Final = 3

_HEAD_BYTES: Final = 65536  # GraphML keys are at the head of the file ...
_TAIL_BYTES: Final = 262144  # ... and graph attributes at its end (networkx writes them last)


class _AbsentError(Exception):
    """Stands for an osmnx error class that a later osmnx no longer has."""


def _say(text: str) -> None:
    _log.info(text)


# --- the server ----------------------------------------------------------------------------------


def overpass_endpoint(url: str | None = None) -> str:
    """Return the Overpass API base URL to use: ``url``, else ``$SITING_OVERPASS_URL``, else
    osmnx's default (``https://overpass-api.de/api``).

    A URL ending in ``/interpreter`` (the query endpoint) is accepted too; the base URL, which
    osmnx extends with ``/interpreter`` and ``/status``, is returned.

    Raises
    ------
    siting.network.NetworkError
        If the URL is not an ``http``/``https`` URL with a host name.

    Examples
    --------
    >>> overpass_endpoint("http://127.0.0.1:12345/api/interpreter")
    'http://127.0.0.1:12345/api'
    """
    text = url if url is not None and url.strip() else os.environ.get(ENV_OVERPASS_URL, "")
    if not text.strip():
        import osmnx as ox

        text = str(ox.settings.overpass_url)
    text = text.strip().rstrip("/")
    if text.endswith("/interpreter"):
        text = text[: -len("/interpreter")].rstrip("/")
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        msg = (
            f"Overpass 服务器地址无效 invalid Overpass server URL {text!r}: give an http(s) URL "
            f"such as https://overpass-api.de/api (--overpass-url or ${ENV_OVERPASS_URL})"
        )
        raise NetworkError(msg)
    return text


def _target(endpoint: str) -> tuple[str, int, str]:
    """Host and port to connect to for ``endpoint`` (its proxy's, if one is set) and a note."""
    parts = urlsplit(endpoint)
    host = str(parts.hostname)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxies = {k.lower(): v for k, v in os.environ.items() if k.lower().endswith("_proxy") and v}
    if proxies.get(f"{parts.scheme}_proxy") or proxies.get("all_proxy"):
        import requests

        proxy = requests.utils.get_environ_proxies(endpoint).get(parts.scheme)
        proxy = proxy or requests.utils.get_environ_proxies(endpoint).get("all")
        if proxy:
            p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if p.hostname:
                p_port = p.port or (443 if p.scheme == "https" else 80)
                return p.hostname, p_port, f" via the proxy {p.hostname}:{p_port}"
    return host, port, ""


def _connect(host: str, port: int, timeout_s: float) -> tuple[str, str] | None:
    """``None`` if a TCP connection to ``host:port`` opens within ``timeout_s`` seconds (name
    resolution included), else the reason (Chinese, English)."""
    deadline = time.monotonic() + timeout_s
    found: list[Any] = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    # getaddrinfo has no timeout of its own: resolve on a daemon thread and stop waiting
    worker = threading.Thread(target=resolve, name="siting-overpass-dns", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not found:
        return "域名解析超时", f"the name {host} did not resolve within {timeout_s:g} s"
    if isinstance(found[0], OSError):
        return "无法解析域名", f"the name {host} cannot be resolved ({found[0]})"
    last: OSError | None = None
    for family, kind, proto, _, address in found[0]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(remaining)
                sock.connect(address)
        except OSError as exc:
            last = exc
        else:
            return None
    if last is None or isinstance(last, TimeoutError):
        return "连接超时", f"no answer within {timeout_s:g} s"
    if isinstance(last, ConnectionRefusedError):
        return "连接被拒绝", "the connection was refused"
    return "网络不可达", str(last.strerror or last)


def check_reachable(url: str | None = None, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Check that the Overpass server answers a TCP connection within ``timeout_s`` seconds.

    Resolves the server's name and opens (then closes) a TCP connection to it, or to the proxy
    of ``HTTPS_PROXY``/``HTTP_PROXY`` when one applies; no HTTP request is sent.

    Returns
    -------
    str
        The Overpass API base URL checked (:func:`overpass_endpoint`).

    Raises
    ------
    OverpassError
        If the name does not resolve or no connection opens in time; the message says what to
        do (check the connection, or give a road file with ``--network``).
    """
    endpoint = overpass_endpoint(url)
    host, port, via = _target(endpoint)
    failure = _connect(host, port, timeout_s)
    if failure is None:
        return endpoint
    zh, reason = failure
    msg = (
        f"无法连接 OpenStreetMap Overpass 服务器 {endpoint}（{zh}）/ cannot reach the "
        f"OpenStreetMap Overpass server {endpoint}{via}: {reason}. Check the internet connection "
        f"(检查网络连接), or give --network FILE, a road file you already have (.osm.pbf from "
        f"download.geofabrik.de, .osm, .graphml, .shp) / 或用 --network 指定已有的路网文件"
    )
    raise OverpassError(msg)


# --- the area ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Area:
    """An area to download, buffered."""

    polygon: BaseGeometry  # WGS84 Polygon or MultiPolygon: the outline plus the buffer
    label: str
    source: str
    km2: float  # of the outline
    buffered_km2: float
    buffer_m: float
    key: str  # sha1 of the buffered polygon: identifies the download
    slug: str  # for the default file name


def _area(area: StudyArea | Region | BaseGeometry | str, buffer_m: float) -> _Area:
    from siting import regions
    from siting.crs import metric_crs

    buffer = float(buffer_m)
    if not (math.isfinite(buffer) and buffer >= 0):
        msg = f"buffer_m must be a number of metres >= 0, got {buffer_m!r} (缓冲距离须为非负数)"
        raise NetworkError(msg)
    if isinstance(area, str | Region):
        area = regions.study_area(area)
    region: Region | None = None
    if isinstance(area, StudyArea):
        outline, metric, source = area.outline, area.metric_crs, area.source
        region = area.region
        whole_region = region is not None and area.outline is region.outline
        label = f"{region.name} {region.code}" if whole_region and region else source
    elif isinstance(area, BaseGeometry):
        outline, source, whole_region = area, "geometry", False
        label = "the given area"
        if outline.is_empty:
            msg = "the area to download is empty (下载范围为空)"
            raise DataError(msg)
        x0, y0, x1, y1 = outline.bounds
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            msg = (
                f"the area must be in WGS84 degrees (lon, lat), its bounds are "
                f"{outline.bounds} (范围须为 WGS84 经纬度)"
            )
            raise NetworkError(msg)
        metric = metric_crs(outline).to_string()
    else:
        msg = (
            f"area must be a StudyArea (siting.regions.study_area), a region or a WGS84 shapely "
            f"geometry, got {type(area).__name__}"
        )
        raise NetworkError(msg)
    if outline is None or outline.is_empty:
        msg = f"the study area ({source}) is empty (研究范围为空)"
        raise DataError(msg)
    local = gpd.GeoSeries([outline], crs="EPSG:4326").to_crs(metric)
    km2 = float(local.area.iloc[0]) / 1e6
    buffered = local.buffer(buffer) if buffer > 0 else local
    buffered_km2 = float(buffered.area.iloc[0]) / 1e6
    polygon = shapely.make_valid(buffered.to_crs("EPSG:4326").iloc[0])
    parts = [g for g in shapely.get_parts(polygon) if g.geom_type in ("Polygon", "MultiPolygon")]
    polygon = shapely.union_all(parts) if parts else shapely.Polygon()
    if polygon.is_empty or buffered_km2 <= 0:
        msg = (
            f"the area ({source}) has no extent to download: a point or line needs a buffer "
            f"(buffer_m > 0) (范围无面积，请设缓冲距离)"
        )
        raise NetworkError(msg)
    rounded = shapely.transform(polygon, lambda xy: np.round(xy, 6))
    key = hashlib.sha1(
        shapely.to_wkb(rounded, output_dimension=2) + OSMNX_NETWORK_TYPE.encode(),
        usedforsecurity=False,
    ).hexdigest()
    if whole_region and region is not None:
        slug = region.slug if buffer == _BUFFER_M else f"{region.slug}_buffer{buffer / 1000:g}km"
    else:
        slug = f"area-{key[:10]}"
    return _Area(polygon, label, source, km2, buffered_km2, buffer, key, slug)


def default_path(
    area: StudyArea | Region | BaseGeometry | str, *, buffer_m: float = _BUFFER_M
) -> Path:
    """Return the file :func:`fetch_roads` writes by default for ``area``.

    ``siting.data_dir() / "roads_<slug>.graphml"``: the slug is the region's (``nanchong``;
    ``nanchong_buffer10km`` with another buffer) for a whole built-in region, else
    ``area-`` and 10 hexadecimal digits of a hash of the buffered outline (a boundary file or
    a facility list gives the same name each time).

    Examples
    --------
    >>> import shapely
    >>> default_path(shapely.box(106.0, 30.7, 106.1, 30.8)).name  # doctest: +ELLIPSIS
    'roads_area-...graphml'
    >>> default_path("xuanhan").name, default_path("xuanhan", buffer_m=10_000).name
    ('roads_xuanhan.graphml', 'roads_xuanhan_buffer10km.graphml')
    """
    return _default_path(_area(area, buffer_m))


def _default_path(where: _Area) -> Path:
    from siting import data_dir

    return data_dir() / f"roads_{where.slug}.graphml"


def _recorded(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Graph attributes ``names`` of a GraphML file, read from its head and tail only."""
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES).decode("utf-8", errors="replace")
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - _TAIL_BYTES))
            tail = file.read().decode("utf-8", errors="replace")
    except OSError:
        return {}
    ids: dict[str, str] = {}  # attribute name -> GraphML key id, of the graph attributes
    for tag in re.findall(r"<key\s[^>]*>", head):
        attrs = dict(re.findall(r'([\w.:-]+)="([^"]*)"', tag))
        if attrs.get("for") == "graph" and attrs.get("attr.name") in names and "id" in attrs:
            ids[attrs["attr.name"]] = attrs["id"]
    found: dict[str, str] = {}
    for name, key in ids.items():
        value = re.search(rf'<data key="{re.escape(key)}">([^<]*)</data>', tail)
        if value is not None:
            found[name] = value.group(1)
    return found


def cached_roads(
    area: StudyArea | Region | BaseGeometry | str,
    *,
    out: str | os.PathLike[str] | None = None,
    buffer_m: float = _BUFFER_M,
) -> Path | None:
    """Return the GraphML that :func:`fetch_roads` would reuse for ``area``, or ``None``.

    The file (``out``, else :func:`default_path`) is reused when it exists and records the same
    area and buffer (graph attribute ``area_key``); a file of another area, or one not written by
    :func:`fetch_roads`, is not.
    """
    where = _area(area, buffer_m)
    path = Path(out) if out is not None else _default_path(where)
    if path.is_file() and _recorded(path, ("area_key",)).get("area_key") == where.key:
        return path
    return None


# --- osmnx ---------------------------------------------------------------------------------------


@dataclass
class _Calls:
    """What osmnx did during a download."""

    responses: int = 0
    cache_hits: int = 0
    cache_times: list[float] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    osm_base: list[str] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=dict)
    depth: int = 0
    hooked: bool = False


_SETTINGS: Final = (
    "use_cache",
    "cache_only_mode",
    "cache_folder",
    "overpass_url",
    "overpass_rate_limit",
    "requests_timeout",
    "useful_tags_way",
    "doh_url_template",
)


@contextlib.contextmanager
def _osmnx_session(
    *,
    endpoint: str,
    cache_dir: Path,
    timeout_s: float,
    custom_server: bool,
    refresh: bool,
    offline: OverpassError | None,
) -> Iterator[_Calls]:
    """osmnx set up for one download, restored afterwards.

    Two private functions of osmnx are wrapped for the call (if present; else the download runs
    unwatched): the cache lookup, to count cache hits, skip the cache on ``refresh`` and raise
    ``offline`` on a miss when the server is unreachable; and the Overpass request, to see the
    server's ``remark`` (an incomplete answer: time-out, memory) and data date, and to stop
    after :data:`_MAX_TRIES` "busy" answers instead of retrying forever.
    """
    import osmnx as ox

    from siting.network.osm import _ACCESS_KEYS

    calls = _Calls()
    settings = ox.settings
    saved = {name: getattr(settings, name) for name in _SETTINGS}
    getaddrinfo = socket.getaddrinfo  # osmnx replaces it to pin the server's address
    _overpass, _http = _osmnx_module("_overpass"), _osmnx_module("_http")
    original_request: Callable[..., Any] | None = getattr(_overpass, "_overpass_request", None)
    original_cache: Callable[..., Any] | None = getattr(_http, "_retrieve_from_cache", None)
    cache_path: Callable[..., Any] | None = getattr(_http, "_resolve_cache_filepath", None)

    def from_cache(url: str) -> Any:
        assert original_cache is not None
        hit = None if refresh else original_cache(url)
        if hit is not None:
            calls.cache_hits += 1
            with contextlib.suppress(Exception):
                assert cache_path is not None
                calls.cache_times.append(Path(cache_path(url)).stat().st_mtime)
        elif offline is not None:
            raise offline
        return hit

    def request(data: Mapping[str, Any]) -> Any:
        assert original_request is not None
        query = str(data.get("data", data))
        calls.tries[query] = calls.tries.get(query, 0) + 1
        if calls.tries[query] > _MAX_TRIES:
            msg = (
                f"Overpass 服务器繁忙 the Overpass server {endpoint} answered 'busy' "
                f"(HTTP 429/504) {_MAX_TRIES} times; try again later or give another server with "
                f"--overpass-url"
            )
            raise OverpassError(msg)
        calls.depth += 1
        try:
            response = original_request(data)
        finally:
            calls.depth -= 1
        if calls.depth == 0 and isinstance(response, dict):
            calls.responses += 1
            if response.get("remark"):
                calls.remarks.append(str(response["remark"]))
            base = (response.get("osm3s") or {}).get("timestamp_osm_base")
            if base:
                calls.osm_base.append(str(base))
        return response

    try:
        settings.use_cache = True
        settings.cache_only_mode = False
        settings.cache_folder = str(cache_dir)
        settings.overpass_url = endpoint
        settings.overpass_rate_limit = bool(saved["overpass_rate_limit"]) and not custom_server
        settings.requests_timeout = math.ceil(timeout_s)  # also Overpass's [timeout:], an integer
        kept = list(saved["useful_tags_way"])
        settings.useful_tags_way = kept + [t for t in (*_ACCESS_KEYS, "layer") if t not in kept]
        settings.doh_url_template = None  # never ask Google's DNS-over-HTTPS for the address
        if callable(original_request) and callable(original_cache):
            setattr(_overpass, "_overpass_request", request)  # noqa: B010 - patched for the call
            setattr(_http, "_retrieve_from_cache", from_cache)  # noqa: B010
            calls.hooked = True
        elif offline is not None:
            raise offline
        yield calls
    finally:
        if calls.hooked:
            setattr(_overpass, "_overpass_request", original_request)  # noqa: B010
            setattr(_http, "_retrieve_from_cache", original_cache)  # noqa: B010
        for name, value in saved.items():
            setattr(settings, name, value)
        socket.getaddrinfo = getaddrinfo


def _osmnx_module(name: str) -> Any:
    """A private module of osmnx 2 (``None`` if a later osmnx has no such module)."""
    try:
        return importlib.import_module(f"osmnx.{name}")
    except ImportError:
        return None


def _osmnx_graph(area: _Area, endpoint: str, timeout_s: float) -> nx.MultiDiGraph:
    """``osmnx.graph_from_polygon`` (unsimplified, every part), its errors made clear."""
    import osmnx as ox
    import requests

    errors = _osmnx_module("_errors")
    no_data: type[Exception] = getattr(errors, "InsufficientResponseError", _AbsentError)
    bad_status: type[Exception] = getattr(errors, "ResponseStatusCodeError", _AbsentError)
    where = f"the Overpass server {endpoint}"
    try:
        return ox.graph_from_polygon(
            area.polygon,
            network_type=OSMNX_NETWORK_TYPE,
            simplify=False,
            retain_all=True,
            truncate_by_edge=False,
        )
    except SitingError:
        raise
    except requests.exceptions.ConnectionError as exc:
        msg = (
            f"与 Overpass 服务器的连接中断 the connection to {where} failed ({exc}); check the "
            f"internet connection and try again, or give --network FILE"
        )
        raise OverpassError(msg) from exc
    except requests.exceptions.Timeout as exc:
        msg = (
            f"Overpass 服务器超时 {where} did not answer within {timeout_s:g} s; try again later, "
            f"allow more time (--timeout) or download a smaller area"
        )
        raise OverpassError(msg) from exc
    except requests.exceptions.RequestException as exc:
        msg = f"下载失败 the download from {where} failed: {type(exc).__name__}: {exc}"
        raise OverpassError(msg) from exc
    except bad_status as exc:
        msg = (
            f"Overpass 服务器返回错误 {where} answered with an error: {_short(exc)}; is "
            f"{endpoint} an Overpass API URL (ending in /api)?"
        )
        raise OverpassError(msg) from exc
    except no_data as exc:
        if "No data elements" in str(exc):
            msg = (
                f"该范围内没有道路 OpenStreetMap has no drivable roads in {area.label} "
                f"({area.km2:,.1f} km², buffer {area.buffer_m / 1000:g} km) according to {where}"
            )
            raise DataError(msg) from exc
        msg = f"Overpass 服务器的回答无法使用 {where} gave an unusable answer: {_short(exc)}"
        raise OverpassError(msg) from exc
    except ValueError as exc:  # a damaged cache file (JSON) or nothing left in the polygon
        if "no graph nodes" in str(exc).lower():
            msg = f"该范围内没有道路 OpenStreetMap has no drivable roads in {area.label}"
            raise DataError(msg) from exc
        msg = (
            f"下载的数据无法读取 the downloaded data cannot be read ({type(exc).__name__}: "
            f"{_short(exc)}); a damaged osmnx cache file? Download again with --refresh"
        )
        raise OverpassError(msg) from exc


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _to_contract(graph: nx.MultiDiGraph, *, table: Mapping[str, float], where: str) -> Any:
    """The steps :func:`siting.network.from_osm_xml` applies after osmnx builds the graph.

    Keep the classes of the ``"driving"`` type, not areas, not closed to cars; drop the nodes
    left alone; geodesic lengths; travel times per segment; simplify without merging across a
    change of ``highway`` or ``maxspeed``, summing lengths and travel times.
    """
    import osmnx as ox

    from siting.network.osm import _closed_to_cars, _first
    from siting.network.speeds import _set_lengths, _set_travel_times, network_classes

    classes = network_classes(_KIND)
    drop = []
    for u, v, k, data in graph.edges(keys=True, data=True):
        highway = _first(data.get("highway"))
        keep = isinstance(highway, str) and highway in classes and data.get("area") != "yes"
        if keep and _closed_to_cars(data):
            keep = False
        if not keep:
            drop.append((u, v, k))
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    if graph.number_of_edges() == 0:
        msg = f"该范围内没有可通车的道路 {where} holds no roads of network type {_KIND!r}"
        raise DataError(msg)
    for _, data in graph.nodes(data=True):
        data.pop("street_count", None)  # counted by osmnx before the class filter: stale
    _set_lengths(graph)
    _set_travel_times(graph, table, use_maxspeed=True)
    graph = ox.simplification.simplify_graph(
        graph,
        edge_attrs_differ=["highway", "maxspeed"],
        remove_rings=False,
        edge_attr_aggs={"length": sum, "travel_time": sum},
    )
    for _, _, data in graph.edges(data=True):
        if isinstance(data.get("speed_kph"), list):
            data["speed_kph"] = data["length"] / data["travel_time"] * 3.6
    graph.graph.pop("created_date", None)
    return graph


def _utc(seconds: float | None = None) -> str:
    moment = (
        dt.datetime.now(dt.UTC) if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)
    )
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _download(
    area: _Area,
    *,
    overpass_url: str | None,
    cache_dir: str | os.PathLike[str] | None,
    timeout_s: float,
    progress: bool,
    refresh: bool,
    max_km2: float | None,
) -> nx.MultiDiGraph:
    import osmnx as ox

    from siting import data_dir
    from siting.network.speeds import speed_table

    endpoint = overpass_endpoint(overpass_url)
    wait = float(timeout_s)
    if not (math.isfinite(wait) and wait > 0):
        msg = f"timeout_s must be a number of seconds > 0, got {timeout_s!r}"
        raise NetworkError(msg)
    if max_km2 is not None and area.buffered_km2 > max_km2:
        msg = (
            f"范围过大 the area to download, {area.label} with its buffer, is "
            f"{area.buffered_km2:,.0f} km², more than {max_km2:,.0f} km²: downloading it through "
            f"Overpass is slow and burdens a shared server. Download a Geofabrik extract "
            f"(https://download.geofabrik.de/asia/china.html, .osm.pbf) and give it with "
            f"--network, or convert it with 'siting network import'"
        )
        raise NetworkError(msg)
    cache = Path(cache_dir) if cache_dir is not None else data_dir() / "osm_cache"
    table = speed_table()
    if progress:
        _say(
            f"下载 OpenStreetMap 道路 downloading OpenStreetMap roads for {area.label} "
            f"({area.km2:,.1f} km², buffer {area.buffer_m / 1000:g} km) from {endpoint} ..."
        )
    offline: OverpassError | None = None
    try:
        check_reachable(endpoint)
    except OverpassError as exc:
        offline = exc  # the osmnx cache may still answer; a cache miss raises it
    default_server = overpass_endpoint(str(ox.settings.overpass_url))
    started = time.monotonic()
    with _osmnx_session(
        endpoint=endpoint,
        cache_dir=cache,
        timeout_s=wait,
        custom_server=endpoint != default_server,
        refresh=refresh,
        offline=offline,
    ) as calls:
        raw = _osmnx_graph(area, endpoint, wait)
        if calls.remarks:
            msg = (
                f"Overpass 服务器的回答不完整 the Overpass server {endpoint} answered only in "
                f"part: {calls.remarks[0]!r}. Try again later, allow more time (--timeout) or "
                f"download a smaller area; nothing was written"
            )
            raise OverpassError(msg)
        settings_used = {
            "network_type": OSMNX_NETWORK_TYPE,
            "overpass_settings": str(ox.settings.overpass_settings),
            "requests_timeout": ox.settings.requests_timeout,
            "default_access": str(ox.settings.default_access),
            "useful_tags_way": list(ox.settings.useful_tags_way),
            "max_query_area_size": float(ox.settings.max_query_area_size),
            "use_cache": True,
            "cache_folder": str(cache),
            "simplify": "siting (as network.from_osm_xml)",
            "retain_all": True,
        }
    where = f"OpenStreetMap ({endpoint}) in {area.label}"
    graph = _to_contract(raw, table=table, where=where)
    live = calls.responses - calls.cache_hits
    downloaded = _utc() if live > 0 or not calls.cache_times else _utc(min(calls.cache_times))
    graph.graph.update(
        {
            "crs": "EPSG:4326",
            "source": {
                "path": None,
                "format": "overpass",
                "description": SOURCE,
                "overpass_url": endpoint,
                "network_type": _KIND,
                "reader": f"osmnx {ox.__version__}",
            },
            "speeds": dict(table),
            "modelled": False,
            "downloaded_utc": downloaded,
            "osmnx_version": str(ox.__version__),
            "osmnx_settings": settings_used,
            "overpass_url": endpoint,
            "network_type": OSMNX_NETWORK_TYPE,
            "buffer_m": area.buffer_m,
            "area_source": area.source,
            "area_key": area.key,
            "attribution": ATTRIBUTION,
        }
    )
    if calls.osm_base:
        graph.graph["osm_data_utc"] = min(calls.osm_base)
    if progress:
        km = sum(float(d["length"]) for _, _, d in graph.edges(data=True)) / 1000
        cached = f", {calls.cache_hits} from the cache {cache}" if calls.cache_hits else ""
        if offline is not None:
            cached += "; the server was not reachable: answered from the cache"
        _say(
            f"  收到 got {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges "
            f"({km:,.0f} km) in {time.monotonic() - started:.0f} s "
            f"({calls.responses} request(s){cached}); {ATTRIBUTION}"
        )
    return graph


def download_roads(
    area: StudyArea | Region | BaseGeometry | str,
    *,
    buffer_m: float = _BUFFER_M,
    overpass_url: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout_s: float = 180.0,
    progress: bool = True,
    refresh: bool = False,
    max_km2: float | None = MAX_AREA_KM2,
) -> nx.MultiDiGraph:
    """Download the OpenStreetMap roads of ``area`` and return the road graph (nothing written).

    The parameters are those of :func:`fetch_roads`. The graph follows the contract of
    :mod:`siting.network` and carries the provenance attributes the module describes.

    Raises
    ------
    OverpassError
        If the server cannot be reached (in :data:`CONNECT_TIMEOUT_S` seconds, unless the osmnx
        cache holds the answer), times out, answers with an error or only in part.
    siting.DataError
        If there are no drivable roads in the area.
    siting.network.NetworkError
        If an argument is invalid: the area, the buffer, the URL, or an area larger than
        ``max_km2``.
    """
    return _download(
        _area(area, buffer_m),
        overpass_url=overpass_url,
        cache_dir=cache_dir,
        timeout_s=timeout_s,
        progress=progress,
        refresh=refresh,
        max_km2=max_km2,
    )


def fetch_roads(
    area: StudyArea | Region | BaseGeometry | str,
    *,
    out: str | os.PathLike[str] | None = None,
    buffer_m: float = _BUFFER_M,
    overpass_url: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout_s: float = 180.0,
    progress: bool = True,
    refresh: bool = False,
    max_km2: float | None = MAX_AREA_KM2,
) -> Path:
    """Download the OpenStreetMap roads of an area (plus a buffer) and write them as GraphML.

    If ``out`` already holds the roads of the same area and buffer (written by this function;
    :func:`cached_roads`), it is reused and nothing is downloaded, unless ``refresh``.
    Otherwise the roads are downloaded (:func:`download_roads`) and written atomically with
    :func:`siting.network.to_graphml`.

    Parameters
    ----------
    area
        A :class:`siting.regions.StudyArea` (:func:`siting.regions.study_area`: a region, a
        boundary file or the extent of a facility list), a built-in region (name, code or
        :class:`siting.Region`), or a shapely geometry in WGS84 degrees.
    out
        The ``.graphml`` file; default :func:`default_path`, ``data/geo/roads_<area>.graphml``.
    buffer_m
        Metres added around the area (measured in its UTM zone); roads beyond the area matter
        for routes that leave it and come back. A point or line area needs one.
    overpass_url
        The Overpass API base URL (``.../api``; ``.../api/interpreter`` works too); default
        ``$SITING_OVERPASS_URL``, else osmnx's public server. osmnx's pause between requests
        (rate limiting) is used for its public server only.
    cache_dir
        osmnx's cache of server answers; default ``siting.data_dir() / "osm_cache"``.
    timeout_s
        Seconds the server may take to answer each request (osmnx ``requests_timeout``, also
        Overpass's ``[timeout:]``). Reaching it is checked first, in :data:`CONNECT_TIMEOUT_S`.
    progress
        Say on stderr what is downloaded, from where, and what came back.
    refresh
        Download again, ignoring the file and osmnx's cache (both are then replaced).
    max_km2
        Refuse areas larger than this (km², buffer included); ``None``: no limit.

    Returns
    -------
    pathlib.Path
        The GraphML file, for ``siting.run(network=...)`` or :func:`siting.network.load`.

    Raises
    ------
    OverpassError, siting.DataError, siting.network.NetworkError
        As :func:`download_roads`; nothing is written then.

    Examples
    --------
    Needs internet (or a local Overpass server, ``overpass_url="http://127.0.0.1:12345/api"``)::

        >>> from siting import network, osm_fetch, regions          # doctest: +SKIP
        >>> path = osm_fetch.fetch_roads(regions.study_area("xuanhan"))  # doctest: +SKIP
        [siting] 下载 OpenStreetMap 道路 downloading OpenStreetMap roads for 宣汉县 511722 ...
        >>> network.load(path).graph["modelled"]                    # doctest: +SKIP
        False
    """
    where = _area(area, buffer_m)
    path = Path(out) if out is not None else _default_path(where)
    if not refresh and path.is_file():
        recorded = _recorded(path, ("area_key", "downloaded_utc"))
        if recorded.get("area_key") == where.key:
            if progress:
                when = recorded.get("downloaded_utc", "?")
                _say(
                    f"使用已下载的道路 reusing the OpenStreetMap roads of {where.label} downloaded "
                    f"{when}: {path} (--refresh downloads them again)"
                )
            return path
        if progress:
            _say(f"{path} holds the roads of another area, or other roads: downloading again")
    graph = _download(
        where,
        overpass_url=overpass_url,
        cache_dir=cache_dir,
        timeout_s=timeout_s,
        progress=progress,
        refresh=refresh,
        max_km2=max_km2,
    )
    from siting.network.graphml import to_graphml

    written = to_graphml(graph, path)
    if progress:
        _say(f"  写入 wrote {written}")
    return written


def roads_for_run(
    region: str | Region | None = None,
    *,
    boundary: str | os.PathLike[str] | None = None,
    facilities: str | os.PathLike[str] | None = None,
    crs: str | None = None,
    **options: Any,
) -> Path:
    """The roads of the area a run covers (``siting run --fetch-roads``): :func:`fetch_roads`
    of :func:`siting.regions.study_area` of the boundary, else the region, else the extent of
    the facility file (read with :func:`siting.registry.read` and ``crs``) plus 5 km.

    ``options`` go to :func:`fetch_roads`.
    """
    from siting import regions, registry

    frame = None
    if region is None and boundary is None and facilities is not None:
        frame = registry.read(facilities, crs=crs)
    area = regions.study_area(region, boundary=boundary, facilities=frame)
    return fetch_roads(area, **options)
