"""siting.geocode against local fakes of the three providers' documented answers.

Every test runs with the network blocked except loopback: a fake server per provider on
127.0.0.1 answers in the provider's documented JSON (高德 v3 ``geocodes[]``, 百度 v3
``result``, 天地图 ``location``), keyed by the address it is asked for.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import openpyxl
import pandas as pd
import pytest

from siting import crs as scrs
from siting import geocode, registry
from siting._errors import SitingError, ValidationError
from siting.cli import main

DATA = Path(__file__).resolve().parent / "data" / "geocode"
MIXED = DATA / "facilities_mixed.csv"
CLEAN = DATA / "facilities_clean.csv"
GOOD = "good-key-0123456789"
BAD = "bad-key-9876543210"

#: Points in each provider's own coordinate system.
EXACT = (106.0836, 30.7951)
COUNTY = (106.11, 30.837)
SHARED = (106.15, 30.9)
BUSY = (106.09, 30.79)
BY_NAME = (106.1, 30.78)

#: Levels each provider reports, by behaviour.
LEVELS = {
    "amap": {
        "exact": "门牌号",
        "county": "区县",
        "shared": "乡镇",
        "busy": "兴趣点",
        "name": "兴趣点",
    },
    "baidu": {"exact": "门址", "county": "区县", "shared": "乡镇", "busy": "医疗", "name": "医疗"},
    "tianditu": {
        "exact": "门址",
        "county": "行政区划",
        "shared": "道路",
        "busy": "兴趣点",
        "name": "地名地址",
    },
}
PATHS = {"amap": "/v3/geocode/geo", "baidu": "/geocoding/v3/", "tianditu": "/geocoder"}
KEY_PARAM = {"amap": "key", "baidu": "ak", "tianditu": "tk"}


def route(query: str) -> str:
    for needle, behaviour in (
        ("人民南路1号", "exact"),
        ("甲村", "shared"),
        ("乙村", "shared"),
        ("丙村", "shared"),
        ("潆溪镇", "county"),
        ("繁忙路", "busy"),
        ("慢街", "slow"),
        ("南充市中心医院", "name"),
    ):
        if needle in query:
            return behaviour
    return "not_found"


POINTS = {"exact": EXACT, "county": COUNTY, "shared": SHARED, "busy": BUSY, "name": BY_NAME}


# --- the fakes ---------------------------------------------------------------------------------

Reply = tuple[int, Any, dict[str, str]]


def amap_reply(behaviour: str, key: str, query: str) -> Reply:
    if key != GOOD:
        return 200, {"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"}, {}
    if behaviour == "busy!":
        return 200, {"status": "0", "info": "CUQPS_HAS_EXCEEDED_THE_LIMIT", "infocode": "10021"}, {}
    if behaviour == "quota!":
        return 200, {"status": "0", "info": "USER_DAILY_QUERY_OVER_LIMIT", "infocode": "10044"}, {}
    if behaviour not in POINTS:
        return (
            200,
            {"status": "1", "info": "OK", "infocode": "10000", "count": "0", "geocodes": []},
            {},
        )
    lon, lat = POINTS[behaviour]
    geocode_ = {
        "formatted_address": query,
        "country": "中国",
        "province": "四川省",
        "citycode": "0817",
        "city": "南充市",
        "district": "顺庆区",
        "township": [],
        "neighborhood": {"name": [], "type": []},
        "building": {"name": [], "type": []},
        "adcode": "511302",
        "street": [],
        "number": [],
        "location": f"{lon:.6f},{lat:.6f}",
        "level": LEVELS["amap"][behaviour],
    }
    body = {"status": "1", "info": "OK", "infocode": "10000", "count": "1", "geocodes": [geocode_]}
    return 200, body, {}


def baidu_reply(behaviour: str, key: str, query: str) -> Reply:
    if key != GOOD:
        return 200, {"status": 200, "message": "APP不存在，AK有误请检查再重试"}, {}
    if behaviour == "busy!":
        return 200, {"status": 401, "message": "当前并发量已经超过约定并发配额，限制访问"}, {}
    if behaviour not in POINTS:
        return 200, {"status": 1, "msg": "Internal Service Error:无相关结果", "results": []}, {}
    lon, lat = POINTS[behaviour]
    confidence = {"exact": 80, "county": 20, "shared": 50, "busy": 70, "name": 75}[behaviour]
    result = {
        "location": {"lng": lon, "lat": lat},
        "precise": 1 if behaviour == "exact" else 0,
        "confidence": confidence,
        "comprehension": 100,
        "level": LEVELS["baidu"][behaviour],
    }
    return 200, {"status": 0, "result": result}, {}


def tianditu_reply(behaviour: str, key: str, query: str) -> Reply:
    if key != GOOD:
        return 403, {"msg": "权限验证失败", "code": "403"}, {}
    if behaviour == "busy!":
        return 429, {"msg": "too many requests"}, {"Retry-After": "0"}
    if behaviour not in POINTS:
        return 200, {"msg": "无结果", "status": "101", "searchVersion": "6.4.9V"}, {}
    lon, lat = POINTS[behaviour]
    location = {
        "score": 100,
        "level": LEVELS["tianditu"][behaviour],
        "lon": lon,
        "lat": lat,
        "keyWord": query,
    }
    return 200, {"msg": "ok", "location": location, "searchVersion": "6.4.9V", "status": "0"}, {}


REPLIES: dict[str, Callable[[str, str, str], Reply]] = {
    "amap": amap_reply,
    "baidu": baidu_reply,
    "tianditu": tianditu_reply,
}


@dataclass
class Fake:
    """A provider's geocoding endpoint on 127.0.0.1; ``log`` holds (time, query) per request."""

    provider: str
    override: Callable[[str], str] | None = None  # query -> behaviour, instead of route()
    log: list[tuple[float, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{PATHS[self.provider]}"

    def queries(self) -> list[str]:
        return [q for _, q in self.log]

    def reply(self, path: str) -> Reply:
        params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        if self.provider == "tianditu":
            query = json.loads(params["ds"])["keyWord"]
        else:
            query = params["address"]
        self.log.append((time.monotonic(), query))
        key = params.get(KEY_PARAM[self.provider], "")
        self.keys.append(key)
        behaviour = self.override(query) if self.override else route(query)
        self.seen[query] = self.seen.get(query, 0) + 1
        if behaviour == "busy" and self.seen[query] == 1:
            behaviour = "busy!"
        if behaviour == "slow":
            self.stop.wait(2.0)  # the client has given up long before
            behaviour = "exact"
        if behaviour == "http500":
            return 500, {"error": "internal"}, {}
        return REPLIES[self.provider](behaviour, key, query)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed its socket: nothing to report


def serve(fake: Fake) -> Fake:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, headers = fake.reply(self.path)
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    fake.server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True).start()
    return fake


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No traffic but loopback; no key, endpoint or proxy from the environment."""
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            msg = f"network blocked in tests: {name}"
            raise OSError(msg)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    for var in (
        "SITING_AMAP_KEY",
        "SITING_BAIDU_AK",
        "SITING_TIANDITU_TK",
        "SITING_GEOCODER_URL",
        "SITING_AMAP_URL",
        "SITING_BAIDU_URL",
        "SITING_TIANDITU_URL",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SITING_DATA_DIR", str(tmp_path / "data_dir"))


@pytest.fixture
def fakes() -> Iterator[Callable[..., Fake]]:
    started: list[Fake] = []

    def start(provider: str, override: Callable[[str], str] | None = None) -> Fake:
        fake = serve(Fake(provider, override))
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop.set()
        assert fake.server is not None
        fake.server.shutdown()
        fake.server.server_close()


def run(fake: Fake, path: Path, tmp_path: Path, **kwargs: Any) -> geocode.GeocodeResult:
    options: dict[str, Any] = {
        "provider": fake.provider,
        "key": GOOD,
        "url": fake.url,
        "city": "南充市",
        "rate": 50,
        "timeout": 0.3,
        "retries": 1,
        "backoff": 0.01,
        "cache_dir": tmp_path / "cache",
        "progress": False,
    }
    options.update(kwargs)
    return geocode.geocode_file(path, **options)


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def wgs84(provider: str, point: tuple[float, float]) -> tuple[float, float]:
    src = geocode.PROVIDERS[provider].crs
    lon, lat = scrs.convert(point[0], point[1], src=src, dst=scrs.WGS84)
    return float(lon), float(lat)


# --- the three providers -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["amap", "baidu", "tianditu"])
def test_each_provider_fills_converts_flags_and_caches(
    provider: str, fakes: Callable[..., Fake], tmp_path: Path
) -> None:
    fake = fakes(provider)
    out = tmp_path / "out.csv"
    result = run(fake, MIXED, tmp_path, out=out)

    by_row = {r.row: r for r in result.rows}
    status = {row: r.status for row, r in by_row.items()}
    assert status == {
        2: "ok",
        3: "approximate",
        4: "approximate",
        5: "approximate",
        6: "approximate",
        7: "not_found",
        8: "ok",
        9: "error",
        10: "kept",
        11: "ok",
    }
    # the levels as reported, normalised
    county_level = "未知" if provider == "tianditu" else "区县"
    shared_level = "道路" if provider == "tianditu" else "乡镇"
    assert [by_row[r].level for r in (2, 3, 4, 8)] == [
        "门牌号",
        county_level,
        shared_level,
        "兴趣点",
    ]
    assert "shared point" in by_row[4].note and "shared point" in by_row[6].note
    assert "matched only at level" in by_row[3].note
    assert "no answer within" in by_row[9].note and "gave up after 2 tries" in by_row[9].note
    # requests: 6 single ones, "too many" then success (2), the slow one twice (2); row 11 asks
    # the same address as row 2 and is served from the cache
    assert len(fake.log) == 10
    assert result.requests == 10 and result.cache_hits == 1
    assert by_row[11].cached and not by_row[2].cached
    assert set(fake.keys) == {GOOD}

    table = read_csv(out)
    original = read_csv(MIXED)
    # every original column, in order, then the added ones
    assert list(table.columns[: len(original.columns)]) == list(original.columns)
    assert list(table.columns[len(original.columns) :]) == [
        "crs",
        "location",
        *geocode.GEOCODE_COLUMNS,
    ]
    assert len(table) == len(original)
    untouched = [c for c in original.columns if c not in ("经度", "纬度")]
    pd.testing.assert_frame_equal(table[untouched], original[untouched])
    # the kept row and the rows without a point keep their cells (0-based: not found, slow, kept)
    for i in (5, 7, 8):
        assert table.loc[i, "经度"] == original.loc[i, "经度"]
        assert table.loc[i, "纬度"] == original.loc[i, "纬度"]
    assert table.loc[8, "geocode_status"] == "kept" and table.loc[8, "geocode_provider"] == ""
    assert table.loc[5, "经度"] == "暂无"

    # WGS84, converted from the provider's system exactly as siting.crs does
    for i, point in ((0, EXACT), (1, COUNTY), (6, BUSY), (9, EXACT)):
        lon, lat = wgs84(provider, point)
        assert float(table.loc[i, "经度"]) == pytest.approx(lon, abs=1e-6)
        assert float(table.loc[i, "纬度"]) == pytest.approx(lat, abs=1e-6)
        assert table.loc[i, "crs"] == "wgs84"
    if provider != "tianditu":  # GCJ-02 and BD-09 points move by hundreds of metres
        assert abs(float(table.loc[0, "经度"]) - EXACT[0]) > 1e-3
    crs_label = {"amap": "GCJ-02", "baidu": "BD-09", "tianditu": "CGCS2000"}[provider]
    geocoded = table["geocode_status"].isin(["ok", "approximate", "not_found", "error"])
    assert set(table.loc[geocoded, "geocode_crs"]) == {crs_label}
    assert set(table.loc[geocoded, "geocode_provider"]) == {provider}
    assert table["location"].tolist() == [
        "",
        "approximate",
        "approximate",
        "approximate",
        "approximate",
        "",
        "",
        "",
        "",
        "",
    ]
    assert table.loc[1, "geocode_query"].endswith("顺庆区潆溪镇")

    # a rerun sends only the failed (uncached) row's requests
    fake.log.clear()
    again = run(fake, MIXED, tmp_path, out=tmp_path / "again.csv")
    assert set(fake.queries()) == {by_row[9].query}
    assert again.requests == 2
    assert [r.status for r in again.rows] == [r.status for r in result.rows]
    pd.testing.assert_frame_equal(read_csv(tmp_path / "again.csv"), table)


def test_baidu_confidence_and_levels_flag_approximate(
    fakes: Callable[..., Fake], tmp_path: Path
) -> None:
    result = run(fakes("baidu"), CLEAN, tmp_path, out=None)
    county = next(r for r in result.rows if r.row == 3)
    assert county.status == "approximate"
    assert "Baidu confidence 20" in county.note and "区县" in county.note
    assert "baidu precise 0, confidence 20" in county.note
    exact = next(r for r in result.rows if r.row == 2)
    assert (
        exact.status == "ok" and exact.note == "baidu precise 1, confidence 80, comprehension 100"
    )


# --- the output is a registry ------------------------------------------------------------------


def test_clean_output_reads_as_a_registry_in_csv_xlsx_and_gpkg(
    fakes: Callable[..., Fake], tmp_path: Path
) -> None:
    fake = fakes("amap")
    csv_out = tmp_path / "out.csv"
    result = run(fake, CLEAN, tmp_path, out=csv_out)
    assert [r.status for r in result.rows] == [
        "ok",
        "approximate",
        "approximate",
        "approximate",
        "approximate",
        "kept",
        "ok",
    ]
    assert result.rows[-1].query == "南充市中心医院"  # no address: the name
    reg = registry.read(csv_out, crs="wgs84")
    assert len(reg) == 7 and reg["name"].iloc[0] == "顺庆区社会福利院"
    assert reg["location"].tolist()[:6] == [pd.NA, *["approximate"] * 4, pd.NA]
    lon, lat = wgs84("amap", EXACT)
    assert reg["lon"].iloc[0] == pytest.approx(lon, abs=1e-6)
    assert reg["lat"].iloc[0] == pytest.approx(lat, abs=1e-6)
    assert reg["lon"].iloc[5] == pytest.approx(106.081)  # kept, as written
    assert reg["geocode_status"].tolist()[5] == "kept"

    xlsx_out = tmp_path / "out.xlsx"
    run(fake, CLEAN, tmp_path, out=xlsx_out)
    from_xlsx = registry.read(xlsx_out, crs="wgs84")
    np.testing.assert_allclose(from_xlsx["lon"], reg["lon"])
    assert from_xlsx["name"].tolist() == reg["name"].tolist()

    gpkg_out = tmp_path / "out.gpkg"
    run(fake, CLEAN, tmp_path, out=gpkg_out, crs="wgs84")
    from_gpkg = registry.read(gpkg_out)
    np.testing.assert_allclose(from_gpkg["lat"], reg["lat"])
    assert len(fake.log) == 6  # three files, one set of requests: the rest from the cache


def test_gpkg_refused_while_rows_lack_points_naming_file_and_row(
    fakes: Callable[..., Fake], tmp_path: Path
) -> None:
    out = tmp_path / "out.gpkg"
    with pytest.raises(ValidationError) as info:
        run(fakes("amap"), MIXED, tmp_path, out=out)
    text = str(info.value)
    assert str(MIXED) in text and "row 7" in text and "no GeoPackage" in text
    assert not out.exists()


def test_xlsx_with_title_row_and_gbk_csv(fakes: Callable[..., Fake], tmp_path: Path) -> None:
    fake = fakes("tianditu")
    frame = pd.read_csv(CLEAN, dtype=str, keep_default_na=False)
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["南充市顺庆区养老与医疗机构名录（2024）"])
    ws.append(list(frame.columns))
    for record in frame.itertuples(index=False):
        ws.append([v or None for v in record])
    src = tmp_path / "名录.xlsx"
    book.save(src)
    result = run(fake, src, tmp_path, out=tmp_path / "out.xlsx")
    assert [r.row for r in result.rows] == [3, 4, 5, 6, 7, 8, 9]  # spreadsheet rows
    assert "title rows" in str(result.issues[0])
    assert registry.read(tmp_path / "out.xlsx", crs="wgs84")["name"].iloc[-1] == "南充市中心医院"

    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(CLEAN.read_text(encoding="utf-8").encode("gb18030"))
    again = run(fake, gbk, tmp_path, out=tmp_path / "from_gbk.csv")
    assert [r.name for r in again.rows] == frame["机构名称"].tolist()
    assert again.requests == 0  # same queries: the cache
    assert read_csv(tmp_path / "from_gbk.csv")["机构名称"].tolist() == frame["机构名称"].tolist()


# --- requests: rate, retries, keys, quota, failures --------------------------------------------


def test_requests_are_spaced_by_the_rate(fakes: Callable[..., Fake], tmp_path: Path) -> None:
    fake = fakes("amap", override=lambda q: "exact")
    frame = pd.DataFrame(
        {"名称": [f"院{k}" for k in range(5)], "地址": [f"路{k}号" for k in range(5)]}
    )
    result = geocode.geocode_frame(
        frame, provider="amap", key=GOOD, url=fake.url, rate=10, cache_dir=tmp_path
    )
    assert result.requests == 5
    times = [t for t, _ in fake.log]
    gaps = np.diff(times)
    assert gaps.min() >= 0.1 - 0.01, gaps
    # all five on one point, from five different addresses: a fallback
    assert {r.status for r in result.rows} == {"approximate"}
    assert [r.row for r in result.rows] == [1, 2, 3, 4, 5]  # a frame's rows: 1-based position
    assert list(result.frame.columns[:2]) == ["名称", "地址"]


@pytest.mark.parametrize("provider", ["amap", "baidu", "tianditu"])
def test_a_refused_key_stops_at_once_without_showing_it(
    provider: str, fakes: Callable[..., Fake], tmp_path: Path
) -> None:
    fake = fakes(provider)
    with pytest.raises(geocode.GeocodeKeyError) as info:
        run(fake, MIXED, tmp_path, key=BAD, out=tmp_path / "out.csv")
    text = str(info.value)
    p = geocode.PROVIDERS[provider]
    assert p.zh in text and provider in text and p.key_env in text
    assert BAD not in text
    assert len(fake.log) == 1  # never retried
    assert not (tmp_path / "out.csv").exists()


def test_key_from_the_environment_and_missing_key(
    fakes: Callable[..., Fake], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fakes("baidu")
    with pytest.raises(SitingError, match="SITING_BAIDU_AK"):
        run(fake, CLEAN, tmp_path, key=None)
    assert fake.log == []
    monkeypatch.setenv("SITING_BAIDU_AK", GOOD)
    monkeypatch.setenv("SITING_BAIDU_URL", fake.url)
    result = run(fake, CLEAN, tmp_path, key=None, url=None)
    assert len(result.located) == 2 and set(fake.keys) == {GOOD}
    # everything cached now: no key needed at all
    monkeypatch.delenv("SITING_BAIDU_AK")
    assert run(fake, CLEAN, tmp_path, key=None, url=None).requests == 0


def test_quota_used_up_stops_asking_and_keeps_the_rest(
    fakes: Callable[..., Fake], tmp_path: Path
) -> None:
    fake = fakes("amap", override=lambda q: "quota!" if q == "顺庆区潆溪镇" else route(q))
    result = run(fake, CLEAN, tmp_path, city=None, out=tmp_path / "out.csv")
    statuses = [r.status for r in result.rows]
    assert statuses[0] == "ok" and statuses[1] == "error"
    assert all(s == "error" for s in statuses[2:5]) and statuses[5] == "kept"
    assert "not asked" in result.rows[2].note and "10044" in result.rows[2].note
    assert result.stopped is not None and len(fake.log) == 2
    assert (tmp_path / "out.csv").is_file()


def test_repeated_failures_stop_the_run(fakes: Callable[..., Fake], tmp_path: Path) -> None:
    fake = fakes("tianditu", override=lambda q: "http500")
    frame = pd.DataFrame({"地址": [f"某路{k}号" for k in range(8)]})
    result = geocode.geocode_frame(
        frame, provider="tianditu", key=GOOD, url=fake.url, rate=100, retries=0, cache_dir=tmp_path
    )
    assert len(fake.log) == geocode.MAX_FAILED_IN_A_ROW
    assert [r.status for r in result.rows] == ["error"] * 8
    assert "HTTP 500" in result.rows[0].note and "not asked" in result.rows[-1].note


def test_real_endpoints_are_unreachable_in_tests(tmp_path: Path) -> None:
    frame = pd.DataFrame({"地址": ["顺庆区人民南路1号"]})
    result = geocode.geocode_frame(
        frame, provider="amap", key=GOOD, retries=0, cache_dir=tmp_path, timeout=1
    )
    assert result.rows[0].status == "error" and "network blocked" in result.rows[0].note


def test_bad_inputs_name_file_and_column(tmp_path: Path) -> None:
    no_address = tmp_path / "x.csv"
    no_address.write_text("类型,床位数\n敬老院,10\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        geocode.geocode_file(no_address, provider="amap", key=GOOD, cache_dir=tmp_path)
    assert str(no_address) in str(info.value) and "address" in str(info.value)
    assert "缺少“地址”列" in str(info.value)
    half = tmp_path / "half.csv"
    half.write_text("名称,地址,经度,纬度\n院,某路,106.1,\n院2,某路2,东经,30\n", encoding="utf-8")
    result = geocode.geocode_file(
        half, provider="amap", key=GOOD, cache_dir=tmp_path, url="http://127.0.0.1:9/"
    )
    assert [r.status for r in result.rows] == ["error", "error"]
    assert "only one of lon/lat" in result.rows[0].note and "'东经'" in result.rows[1].note
    with pytest.raises(SitingError, match="unknown provider"):
        geocode.geocode_file(half, provider="google", key=GOOD)
    with pytest.raises(SitingError, match="rate must be"):
        geocode.geocode_file(half, provider="amap", key=GOOD, rate=0)
    with pytest.raises(SitingError, match=r"\.xlsx or \.gpkg"):
        geocode.geocode_file(half, provider="amap", key=GOOD, out=tmp_path / "x.shp")


def test_provider_answers_as_documented() -> None:
    amap = geocode._parse_amap
    two = {
        "status": "1",
        "count": "2",
        "geocodes": [
            {"location": "106.1,30.8", "level": "道路"},
            {"location": "107.1,31.8", "level": "道路"},
        ],
    }
    answer = amap(two)
    assert answer.kind == "ok" and answer.ambiguous and answer.candidates == 2
    assert (
        amap({"status": "0", "info": "DAILY_QUERY_OVER_LIMIT", "infocode": "10003"}).kind == "quota"
    )
    assert amap({"status": "0", "info": "ACCESS_TOO_FREQUENT", "infocode": "10004"}).kind == "retry"
    assert amap(
        {"status": "1", "count": "1", "geocodes": [{"location": [], "level": []}]}
    ).kind == ("not_found")
    baidu = geocode._parse_baidu
    assert baidu({"status": 1, "msg": "Internal Service Error:无相关结果"}).kind == "not_found"
    assert baidu({"status": 1, "msg": "Internal Service Error"}).kind == "retry"
    assert baidu({"status": 302, "message": "天配额超限，限制访问"}).kind == "quota"
    assert baidu({"status": 5, "message": "AK参数不存在"}).kind == "key"
    tdt = geocode._parse_tianditu
    assert tdt({"status": "404", "msg": "出错"}).kind == "retry"
    assert tdt({"status": "1", "msg": "非法的key"}).kind == "key"
    assert [
        geocode.normalize_level(v) for v in ("门址", "UNKNOWN", "城市", "村庄", "公交地铁站点")
    ] == [
        "门牌号",
        "未知",
        "市",
        "乡镇",
        "兴趣点",
    ]


# --- the command line --------------------------------------------------------------------------


def test_cli_writes_summarises_and_reruns_from_the_cache(
    fakes: Callable[..., Fake],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = fakes("amap")
    monkeypatch.setenv("SITING_AMAP_URL", fake.url)
    out = tmp_path / "out.csv"
    args = ["registry", "geocode", str(CLEAN), "--provider", "amap", "--key", GOOD]
    args += ["--out", str(out), "--city", "南充市", "--rate", "50", "--timeout", "1"]
    assert main(args) == 0
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "Traceback" not in text and GOOD not in text
    assert (
        "located exactly: 2" in text and "approximate (location=approximate, not exact): 4" in text
    )
    assert "第3行 row 3  潆溪镇敬老院  [区县]" in text
    assert "第4行 row 4  甲村卫生室  [乡镇]  与另外 2 个地址落在同一点" in text
    assert "kept (had coordinates): 1" in text and "requests made: 6" in text
    assert f"wrote {out}" in text
    # the default cache is under data_dir()/geocode_cache
    assert (tmp_path / "data_dir" / "geocode_cache" / "amap.json").is_file()
    assert registry.read(out, crs="wgs84")["name"].tolist()[-1] == "南充市中心医院"

    fake.log.clear()
    assert main(args) == 0
    assert "cache hits: 6, 请求 requests made: 0" in capsys.readouterr().out
    assert fake.log == []
    cache = (tmp_path / "data_dir" / "geocode_cache" / "amap.json").read_text(encoding="utf-8")
    assert GOOD not in cache


def test_cli_exit_codes_and_messages(
    fakes: Callable[..., Fake],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = fakes("baidu", override=lambda q: "not_found")
    monkeypatch.setenv("SITING_BAIDU_URL", fake.url)
    base = ["registry", "geocode", str(CLEAN), "--provider", "baidu", "--rate", "100"]
    base += ["--cache-dir", str(tmp_path / "c")]
    # nothing located: the file is written, exit 1
    out = tmp_path / "none.csv"
    assert main([*base, "--key", GOOD, "--out", str(out)]) == 1
    assert out.is_file() and "no row could be located" in capsys.readouterr().out
    # a refused key: exit 2, one line naming the provider, never the key
    assert main([*base, "--key", BAD, "--out", str(tmp_path / "bad.csv"), "--no-cache"]) == 2
    printed = capsys.readouterr()
    assert "百度 baidu" in printed.err and "SITING_BAIDU_AK" in printed.err
    assert BAD not in printed.out + printed.err and "Traceback" not in printed.err
    # a bad output suffix: exit 2 before any request
    fake.log.clear()
    assert main([*base, "--key", GOOD, "--out", str(tmp_path / "x.json")]) == 2
    assert ".gpkg" in capsys.readouterr().err and fake.log == []
    # usage errors stop argparse: exit 2
    with pytest.raises(SystemExit) as info:
        main(["registry", "geocode", str(CLEAN), "--out", str(tmp_path / "o.csv")])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["registry", "geocode", "--help"])
    assert info.value.code == 0
    assert "siting registry geocode" in capsys.readouterr().out


def test_a_poi_export_gets_lng_lat_pairs(fakes: Callable[..., Fake], tmp_path: Path) -> None:
    fake = fakes("amap")
    frame = pd.DataFrame(
        {
            "name": ["顺庆区社会福利院", "舞凤街道卫生院"],
            "address": ["顺庆区人民南路1号", "顺庆区舞凤街道"],
            "location": [None, "106.0852,30.7988"],
            "typecode": ["090000", "090100"],
        }
    )
    result = geocode.geocode_frame(
        frame, provider="amap", key=GOOD, url=fake.url, rate=50, cache_dir=tmp_path
    )
    out = result.frame
    lon, lat = wgs84("amap", EXACT)
    got_lon, got_lat = (float(v) for v in out.loc[0, "location"].split(","))
    assert got_lon == pytest.approx(lon, abs=1e-6) and got_lat == pytest.approx(lat, abs=1e-6)
    assert out.loc[1, "location"] == "106.0852,30.7988"
    assert out["crs"].tolist() == ["wgs84", None]
    assert "location_2" not in out.columns  # no second location column beside the pairs
