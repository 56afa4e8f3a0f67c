"""Addresses to points: fill the missing coordinates of a facility table from its address
column through a Chinese web map's geocoding service (地理编码).

A planner's list of 敬老院 and 卫生院 often has an address (地址) but no coordinates.
:func:`geocode_file` reads the table (CSV in UTF-8 or GBK/GB18030, or ``.xlsx``), asks the
provider for every row whose longitude/latitude are empty, and writes the same table, every
row and column in order, with WGS84 ``lon``/``lat`` filled and what the provider said beside
them, so that :func:`siting.registry.read` then reads it. Rows that had coordinates are not
touched. Network access happens only here, when a command exists to fetch.

Providers
---------
Every provider answers in its own coordinate system; the point is converted to WGS84 once, with
:mod:`siting.crs`, and the provider's system is kept in ``geocode_crs``.

``amap`` (高德 Web服务 地理编码 v3), GCJ-02
    ``GET https://restapi.amap.com/v3/geocode/geo?address=...&city=...&key=...``
    (https://lbs.amap.com/api/webservice/guide/api/georegeo). Fields relied on: ``status``
    (``"1"`` success, ``"0"`` failure), ``info`` and ``infocode`` (10001 INVALID_USER_KEY and the
    other key/permission codes stop the run; 10004, 10014-10016, 10019-10021 are "too many
    requests" or "busy", retried; 10003, 10044 and the other daily quotas stop further requests),
    ``count``, ``geocodes[].location`` (``"lng,lat"``) and ``geocodes[].level`` (国家, 省, 市,
    区县, 开发区, 乡镇, 村庄, 热点商圈, 兴趣点, 门牌号, 单元号, 道路, 道路交叉路口, 公交地铁站点,
    门址, 住宅区, 未知 ...). ``count`` 0 is "not found"; several candidates more than about
    100 m apart make the match ambiguous (the first is used, flagged approximate).
``baidu`` (百度 地理编码 v3.0), BD-09 (``ret_coordtype`` left at its default ``bd09ll``)
    ``GET https://api.map.baidu.com/geocoding/v3/?address=...&city=...&output=json&ak=...``
    (https://lbsyun.baidu.com/faq/api?title=webapi/guide/webservice-geocoding). Fields relied
    on: ``status`` (0 success; 1 with ``msg`` "无相关结果" not found, otherwise a server error,
    retried; 2 bad request; 3, 5, 101, 102 and 2xx key or permission problems, which stop the
    run; 4 and 3xx quotas; 401/402 concurrency limits, retried), ``msg``/``message``,
    ``result.location.lng``/``lat``, ``result.level`` (门址, 道路, 乡镇, 村庄, 区县, 城市, 省,
    POI classes such as 医疗 or 政府机构, ``UNKNOWN``), ``result.precise``,
    ``result.confidence`` and ``result.comprehension``. Baidu documents ``confidence`` as the
    point's absolute accuracy: 50 and above means an error under 1 km; below 50 the row is
    flagged approximate.
``tianditu`` (天地图 地理编码), CGCS2000, which is WGS84 to within centimetres (taken as WGS84)
    ``GET https://api.tianditu.gov.cn/geocoder?ds={"keyWord":"..."}&tk=...``
    (http://lbs.tianditu.gov.cn/server/geocodinginterface.html). Fields relied on: ``status``
    (``"0"`` success, ``"101"`` no result, ``"404"`` error, retried), ``msg``,
    ``location.lon``/``lat``, ``location.level`` and ``location.score``. Tianditu has no city
    parameter: the ``city`` hint is put in front of the keyword unless the address names it.
    A refused ``tk`` comes back as HTTP 403 (or 401/418), or as a message about the key.

Match levels and flags
----------------------
``geocode_level`` is the provider's level normalised to 门牌号 (door number), 兴趣点 (a named
place), 道路 (a road), 乡镇 (township or village), 区县, 市, 省 or 未知 (see :data:`LEVELS`).
A row is ``approximate`` (``location=approximate`` and listed, never used as exact) when it
was matched only at 区县, 市 or 省 level or at an unknown level (:data:`APPROXIMATE_LEVELS`), when
the provider says the match is vague (Baidu ``confidence`` < 50, several distant candidates),
or when it lands on a **shared point**: :data:`SHARED_POINT_MIN` (3) or more *different* queries
of the run on the same coordinate (to 1e-5 degree, about 1 m), which is what a geocoder returns
when it falls back to the centre of a district or a road. Rows with the *same* address on one
point are not counted, since a 敬老院 and a 卫生院 in one compound legitimately share it.

Cache, rate, retries, keys
--------------------------
Answers (a point, or "not found") are cached on disk, one JSON file per provider under
``siting.data_dir()/geocode_cache/`` keyed by the normalised query and city hint, so a rerun
sends no request. Requests are spaced to ``rate`` per second (default 3, the free quota of a
personal key); a timeout, a connection error, HTTP 429 or 5xx or a provider "too many
requests" code is retried ``retries`` times with exponential backoff, after which that row is
``error`` and the others go on; after :data:`MAX_FAILED_IN_A_ROW` failed rows in a row the run
stops asking (the rest are ``error``) and writes what it has. A refused key stops at once with
:class:`GeocodeKeyError` naming the provider. The key comes from the ``key`` argument or from
``SITING_AMAP_KEY``, ``SITING_BAIDU_AK`` or ``SITING_TIANDITU_TK``; it is never printed, logged
or cached. The endpoint can be changed with ``url=``, ``SITING_AMAP_URL``, ``SITING_BAIDU_URL``,
``SITING_TIANDITU_URL`` or ``SITING_GEOCODER_URL`` (any provider), e.g. to a local test server.

Examples
--------
>>> from siting import geocode
>>> result = geocode.geocode_file(  # doctest: +SKIP
...     "养老机构.xlsx", provider="amap", out="养老机构_坐标.xlsx", city="南充市"
... )
>>> print(result.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from siting import crs as _crs
from siting._errors import DataError, GeocodeKeyError, Issue, SitingError, ValidationError

if TYPE_CHECKING:
    import urllib.request

__all__ = [
    "APPROXIMATE_LEVELS",
    "LEVELS",
    "MAX_FAILED_IN_A_ROW",
    "PROVIDERS",
    "SHARED_POINT_MIN",
    "STATUSES",
    "GeocodeKeyError",
    "GeocodeResult",
    "GeocodeRow",
    "Provider",
    "geocode_file",
    "geocode_frame",
    "normalize_level",
]

PathLike = str | os.PathLike[str]

#: The normalised match levels, finest first.
LEVELS: Final[tuple[str, ...]] = ("门牌号", "兴趣点", "道路", "乡镇", "区县", "市", "省", "未知")
#: Levels too coarse to place a facility: such rows are ``approximate``.
APPROXIMATE_LEVELS: Final[frozenset[str]] = frozenset({"区县", "市", "省", "未知"})
#: This many different queries on one point make it a geocoder's fallback point.
SHARED_POINT_MIN: Final = 3
#: Coordinates closer than this (degrees, about 1 m) are the same point.
SHARED_POINT_TOLERANCE: Final = 1e-5
#: Baidu ``confidence`` below this (error may exceed 1 km by Baidu's table) is approximate.
BAIDU_MIN_CONFIDENCE: Final = 50
#: Candidates farther apart than this (degrees, about 100 m) make a match ambiguous.
AMBIGUOUS_SPREAD_DEG: Final = 1e-3
#: After this many rows in a row end in an error, no more requests are sent.
MAX_FAILED_IN_A_ROW: Final = 5
#: Values of ``geocode_status``.
STATUSES: Final[tuple[str, ...]] = ("ok", "approximate", "not_found", "error", "kept", "skipped")

#: The columns added (or updated) by geocoding, in order.
GEOCODE_COLUMNS: Final[tuple[str, ...]] = (
    "geocode_provider",
    "geocode_crs",
    "geocode_level",
    "geocode_query",
    "geocode_status",
    "geocode_note",
)

_USER_AGENT: Final = "siting-geocode/1.0 (facility planning; python urllib)"
_MAX_BACKOFF_S: Final = 30.0
_CACHE_FORMAT: Final = "siting-geocode-cache"
_CACHE_SAVE_EVERY: Final = 25


# --- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """What the provider said about one query (coordinates in the provider's system)."""

    kind: str  # ok | not_found | retry | key | quota | error
    lon: float | None = None
    lat: float | None = None
    level: str = ""
    note: str = ""
    confidence: float | None = None  # Baidu
    candidates: int = 1
    ambiguous: bool = False
    retry_after: float | None = None

    def to_cache(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind}
        if self.kind == "ok":
            entry.update(lon=self.lon, lat=self.lat, level=self.level)
            if self.confidence is not None:
                entry["confidence"] = self.confidence
            if self.candidates != 1:
                entry["candidates"] = self.candidates
                entry["ambiguous"] = self.ambiguous
            if self.note:
                entry["note"] = self.note
        return entry

    @classmethod
    def from_cache(cls, entry: Mapping[str, Any]) -> _Answer:
        kind = str(entry.get("kind", ""))
        if kind == "not_found":
            return cls("not_found")
        lon, lat = _finite(entry.get("lon")), _finite(entry.get("lat"))
        if kind != "ok" or lon is None or lat is None:
            msg = f"unreadable cache entry {dict(entry)!r}"
            raise ValueError(msg)
        return cls(
            "ok",
            lon,
            lat,
            level=str(entry.get("level", "")),
            note=str(entry.get("note", "")),
            confidence=_finite(entry.get("confidence")),
            candidates=int(entry.get("candidates", 1)),
            ambiguous=bool(entry.get("ambiguous", False)),
        )


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text_of(value: Any) -> str:
    """A JSON field as text (Amap writes an empty field as ``[]``)."""
    if value is None or isinstance(value, list | dict):
        return ""
    return str(value).strip()


# --- providers ---------------------------------------------------------------------------------

# Amap infocodes (https://lbs.amap.com/api/webservice/guide/tools/info).
_AMAP_KEY_CODES: Final = {
    "10001": "INVALID_USER_KEY",
    "10002": "SERVICE_NOT_AVAILABLE",
    "10005": "INVALID_USER_IP",
    "10006": "INVALID_USER_DOMAIN",
    "10007": "INVALID_USER_SIGNATURE",
    "10008": "INVALID_USER_SCODE",
    "10009": "USERKEY_PLAT_NOMATCH",
    "10011": "SERVICE_NOT_EXIST",
    "10012": "INSUFFICIENT_PRIVILEGES",
    "10013": "USER_KEY_RECYCLED",
}
_AMAP_BUSY_CODES: Final = frozenset(
    {"10004", "10014", "10015", "10016", "10017", "10019", "10020", "10021"}
)
_AMAP_QUOTA_CODES: Final = frozenset({"10003", "10010", "10029", "10044", "10045"})


def _parse_amap(data: Any) -> _Answer:
    if not isinstance(data, dict):
        return _Answer("retry", note="the answer is not a JSON object (应答格式无效)")
    if _text_of(data.get("status")) != "1":
        code = _text_of(data.get("infocode"))
        info = _text_of(data.get("info")) or _AMAP_KEY_CODES.get(code, "")
        reason = f"{info} (infocode {code})" if code else info or "status 0"
        if code in _AMAP_KEY_CODES or info in _AMAP_KEY_CODES.values():
            return _Answer("key", note=reason)
        if code in _AMAP_BUSY_CODES:
            return _Answer("retry", note=f"too many requests or busy: {reason} (请求过于频繁)")
        if code in _AMAP_QUOTA_CODES:
            return _Answer("quota", note=f"quota used up: {reason} (配额已用完)")
        return _Answer("error", note=reason)
    geocodes = data.get("geocodes")
    if not isinstance(geocodes, list) or not geocodes:
        return _Answer("not_found")
    points: list[tuple[float, float]] = []
    for g in geocodes:
        loc = _text_of(g.get("location")) if isinstance(g, dict) else ""
        parts = loc.split(",")
        if len(parts) == 2:
            x, y = _finite(parts[0]), _finite(parts[1])
            if x is not None and y is not None:
                points.append((x, y))
                continue
        points.append((math.nan, math.nan))
    lon, lat = points[0]
    if math.isnan(lon):
        return _Answer("not_found", note="the match has no location (无坐标)")
    first = geocodes[0]
    spread = max(max(abs(x - lon), abs(y - lat)) for x, y in points if not math.isnan(x))
    return _Answer(
        "ok",
        lon,
        lat,
        level=_text_of(first.get("level")),
        candidates=len(geocodes),
        ambiguous=len(geocodes) > 1 and spread > AMBIGUOUS_SPREAD_DEG,
    )


def _parse_baidu(data: Any) -> _Answer:
    if not isinstance(data, dict):
        return _Answer("retry", note="the answer is not a JSON object (应答格式无效)")
    try:
        status = int(data.get("status", -1))
    except (TypeError, ValueError):
        status = -1
    message = _text_of(data.get("msg")) or _text_of(data.get("message"))
    reason = f"{message} (status {status})" if message else f"status {status}"
    if status == 0:
        result = data.get("result")
        loc = result.get("location") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(loc, dict):
            return _Answer("not_found")
        lon, lat = _finite(loc.get("lng")), _finite(loc.get("lat"))
        if lon is None or lat is None:
            return _Answer("not_found", note="the match has no location (无坐标)")
        conf = _finite(result.get("confidence"))
        parts = [
            f"{k} {result[k]}"
            for k in ("precise", "confidence", "comprehension")
            if _text_of(result.get(k))
        ]
        return _Answer(
            "ok",
            lon,
            lat,
            level=_text_of(result.get("level")),
            confidence=conf,
            note="baidu " + ", ".join(parts) if parts else "",
        )
    if status == 1:
        if "无相关结果" in message or "no result" in message.lower():
            return _Answer("not_found")
        return _Answer("retry", note=f"server error: {reason} (服务器内部错误)")
    if status in (3, 5, 101, 102) or 200 <= status < 300:
        return _Answer("key", note=reason)
    if status == 4 or 300 <= status < 400:
        return _Answer("quota", note=f"quota used up: {reason} (配额已用完)")
    if status in (401, 402):
        return _Answer("retry", note=f"too many requests: {reason} (并发超限)")
    return _Answer("error", note=reason)


_TIANDITU_KEY_WORDS: Final = ("key", "tk", "权限", "授权", "密钥", "非法")


def _parse_tianditu(data: Any) -> _Answer:
    if not isinstance(data, dict):
        return _Answer("retry", note="the answer is not a JSON object (应答格式无效)")
    status = _text_of(data.get("status"))
    message = _text_of(data.get("msg"))
    if status == "0":
        loc = data.get("location")
        if not isinstance(loc, dict):
            return _Answer("not_found")
        lon, lat = _finite(loc.get("lon")), _finite(loc.get("lat"))
        if lon is None or lat is None:
            return _Answer("not_found", note="the match has no location (无坐标)")
        score = _text_of(loc.get("score"))
        return _Answer(
            "ok",
            lon,
            lat,
            level=_text_of(loc.get("level")),
            note=f"tianditu score {score}" if score else "",
        )
    if status == "101":
        return _Answer("not_found")
    reason = f"{message} (status {status})" if status else message or "no status"
    if status == "404":
        return _Answer("retry", note=f"server error: {reason} (服务出错)")
    if any(w in message.lower() for w in _TIANDITU_KEY_WORDS):
        return _Answer("key", note=reason)
    return _Answer("error", note=reason)


def _amap_params(query: str, city: str | None, key: str) -> dict[str, str]:
    params = {"address": query, "output": "JSON", "key": key}
    if city:
        params["city"] = city
    return params


def _baidu_params(query: str, city: str | None, key: str) -> dict[str, str]:
    params = {"address": query, "output": "json", "ak": key}
    if city:
        params["city"] = city
    return params


def _tianditu_params(query: str, city: str | None, key: str) -> dict[str, str]:
    del city  # already in the keyword (:meth:`Provider.query_text`)
    return {"ds": json.dumps({"keyWord": query}, ensure_ascii=False), "tk": key}


@dataclass(frozen=True)
class Provider:
    """A geocoding web service.

    Attributes
    ----------
    name
        ``"amap"``, ``"baidu"`` or ``"tianditu"``.
    zh
        Chinese name (高德, 百度, 天地图).
    crs
        The system its points are in, as :mod:`siting.crs` names it.
    crs_label
        That system as written in ``geocode_crs`` (GCJ-02, BD-09, CGCS2000).
    url
        The documented endpoint.
    key_env, url_env
        Environment variables of the key and of an endpoint override.
    rate
        Default requests per second.
    """

    name: str
    zh: str
    crs: str
    crs_label: str
    url: str
    key_env: str
    url_env: str
    rate: float
    params: Callable[[str, str | None, str], dict[str, str]] = field(repr=False)
    parse: Callable[[Any], _Answer] = field(repr=False)
    city_in_query: bool = False

    @property
    def label(self) -> str:
        return f"{self.zh} {self.name}"

    def query_text(self, query: str, city: str | None) -> str:
        """The text sent: the query, with the city in front where the service has no city
        parameter (Tianditu) and the query does not name it."""
        if self.city_in_query and city and city not in query:
            return city + query
        return query


#: The providers, by name.
PROVIDERS: Final[dict[str, Provider]] = {
    "amap": Provider(
        name="amap",
        zh="高德",
        crs=_crs.GCJ02,
        crs_label="GCJ-02",
        url="https://restapi.amap.com/v3/geocode/geo",
        key_env="SITING_AMAP_KEY",
        url_env="SITING_AMAP_URL",
        rate=3.0,
        params=_amap_params,
        parse=_parse_amap,
    ),
    "baidu": Provider(
        name="baidu",
        zh="百度",
        crs=_crs.BD09,
        crs_label="BD-09",
        url="https://api.map.baidu.com/geocoding/v3/",
        key_env="SITING_BAIDU_AK",
        url_env="SITING_BAIDU_URL",
        rate=3.0,
        params=_baidu_params,
        parse=_parse_baidu,
    ),
    "tianditu": Provider(
        name="tianditu",
        zh="天地图",
        crs=_crs.WGS84,
        crs_label="CGCS2000",
        url="https://api.tianditu.gov.cn/geocoder",
        key_env="SITING_TIANDITU_TK",
        url_env="SITING_TIANDITU_URL",
        rate=3.0,
        params=_tianditu_params,
        parse=_parse_tianditu,
        city_in_query=True,
    ),
}


# --- levels ------------------------------------------------------------------------------------

#: Amap 兴趣点/住宅区/公交地铁站点, Tianditu 地名地址, and Baidu's POI classes: a named place.
_POI_LEVELS: Final = (
    "兴趣点 poi 地名地址 住宅区 公交地铁站点 公交站台 地铁站 地产小区 商务大厦 政府机构 "
    "行政单位 公司企业 生活服务 休闲娱乐 餐饮 美食 宾馆 酒店 购物 金融 教育 医疗 医疗卫生 "
    "工业园区 旅游景点 汽车服务 火车站 长途汽车站 停车场/停车区 港口/码头 收费区/收费站 "
    "收费处/收费站 飞机场 机场 加油站 绿地 文化传媒 运动健身 房地产 自然地物 交通设施"
)
_LEVEL_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "门牌号": ("门牌号", "门址", "单元号", "楼层", "房间", "门牌"),
    "兴趣点": tuple(_POI_LEVELS.split()),
    "道路": ("道路", "道路交叉路口", "交叉路口", "小巷", "桥"),
    "乡镇": ("乡镇", "村庄", "开发区", "热点商圈", "商圈", "街道"),
    "区县": ("区县", "县", "区", "县级市"),
    "市": ("市", "城市", "地级市"),
    "省": ("省", "省份"),
    "未知": ("未知", "unknown", "noclass", "国家", ""),
}
_LEVEL_LOOKUP: Final[dict[str, str]] = {
    alias.casefold(): level for level, aliases in _LEVEL_GROUPS.items() for alias in aliases
}


def normalize_level(level: str) -> str:
    """The provider's match level as one of :data:`LEVELS` (未知 when not recognised).

    Examples
    --------
    >>> normalize_level("门址"), normalize_level("城市"), normalize_level("UNKNOWN")
    ('门牌号', '市', '未知')
    """
    text = unicodedata.normalize("NFKC", str(level)).strip().casefold()
    return _LEVEL_LOOKUP.get(text, "未知")


# --- rate limit, cache, client -----------------------------------------------------------------


class _RateLimiter:
    """Spaces calls to :meth:`wait` by at least ``1 / rate`` seconds."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = -math.inf

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = time.monotonic()
        self._next = now + self.interval


class _Cache:
    """Answers of one provider on disk: a JSON file of query key -> answer."""

    def __init__(self, path: Path | None, provider: Provider) -> None:
        self.path = path
        self.provider = provider
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = 0
        if path is not None and path.is_file():
            self.entries = self._load(path)

    def _load(self, path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = (
                f"地理编码缓存无法读取 cannot read the geocoding cache {path}: {exc}; "
                "delete it to start afresh (删除后重新查询)"
            )
            raise DataError(msg) from exc
        entries = data.get("entries") if isinstance(data, dict) else None
        if data.get("format") != _CACHE_FORMAT or not isinstance(entries, dict):
            msg = f"{path} is not a siting geocoding cache (不是地理编码缓存文件); delete it"
            raise DataError(msg)
        return {str(k): v for k, v in entries.items() if isinstance(v, dict)}

    def get(self, key: str) -> _Answer | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        try:
            return _Answer.from_cache(entry)
        except (ValueError, TypeError):
            return None  # a damaged entry is asked again

    def put(self, key: str, answer: _Answer) -> None:
        """Keep an answer (in memory only when the cache is off: one run asks once)."""
        self.entries[key] = answer.to_cache()
        self.dirty += 1
        if self.dirty >= _CACHE_SAVE_EVERY:
            self.save()

    def save(self) -> None:
        """Write the cache atomically, keeping entries another run wrote meanwhile."""
        if self.path is None or not self.dirty:
            return
        from siting._io import write_text

        merged: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                merged = self._load(self.path)
            except DataError:
                merged = {}
        merged.update(self.entries)
        data = {
            "format": _CACHE_FORMAT,
            "version": 1,
            "provider": self.provider.name,
            "crs": self.provider.crs,
            "entries": dict(sorted(merged.items())),
        }
        write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", self.path)
        self.entries = merged
        self.dirty = 0


def _normalize_query(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _cache_key(query: str, city: str | None) -> str:
    def squash(t: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", t)).casefold()

    return f"{squash(query)}|{squash(city or '')}"


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


class _Client:
    """Asks one provider, through the cache, the rate limiter and the retries."""

    def __init__(
        self,
        provider: Provider,
        *,
        key: str | None,
        url: str,
        rate: float,
        timeout: float,
        retries: int,
        backoff: float,
        cache: _Cache,
    ) -> None:
        self.provider = provider
        self.key = key
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cache = cache
        self.limiter = _RateLimiter(rate)
        self.requests = 0
        self.cache_hits = 0
        self.stopped: str | None = None  # why no more requests are sent
        self._opener: urllib.request.OpenerDirector | None = None

    def lookup(self, query: str, city: str | None) -> tuple[_Answer, bool]:
        """The answer to ``query`` and whether it came from the cache."""
        key = _cache_key(query, city)
        cached = self.cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            return cached, True
        if self.stopped is not None:
            return _Answer("error", note=f"not asked: {self.stopped}"), False
        answer = self._ask(query, city)
        if answer.kind in ("ok", "not_found"):
            self.cache.put(key, answer)
        return answer, False

    def stop(self, reason: str) -> None:
        self.stopped = reason

    def _require_key(self) -> str:
        key = self.key if self.key is not None else os.environ.get(self.provider.key_env)
        key = (key or "").strip()
        if not key:
            p = self.provider
            msg = (
                f"{p.label}: 缺少密钥 no key; pass --key (key=) or set {p.key_env} "
                f"(在{p.zh}开放平台申请 Web 服务密钥 / a web-service key from {p.zh})"
            )
            raise SitingError(msg)
        return key

    def _scrub(self, text: str) -> str:
        key = (self.key or os.environ.get(self.provider.key_env) or "").strip()
        return text.replace(key, "***") if key else text

    def _open(self) -> urllib.request.OpenerDirector:
        import urllib.request

        if self._opener is None:
            # A local test server is reached directly, never through a proxy of the environment.
            handlers = [urllib.request.ProxyHandler({})] if _loopback(self.url) else []
            self._opener = urllib.request.build_opener(*handlers)
        return self._opener

    def _ask(self, query: str, city: str | None) -> _Answer:
        from urllib.parse import quote, urlencode

        params = self.provider.params(query, city, self._require_key())
        sep = "&" if "?" in self.url else "?"
        url = self.url + sep + urlencode(params, quote_via=quote)
        last = _Answer("error", note="no attempt")
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.backoff * 2 ** (attempt - 1), _MAX_BACKOFF_S)
                if last.retry_after is not None:
                    delay = max(delay, min(last.retry_after, _MAX_BACKOFF_S))
                time.sleep(delay)
            self.limiter.wait()
            self.requests += 1
            answer = self._once(url)
            if answer.kind == "key":
                p = self.provider
                msg = (
                    f"{p.label}: 密钥被拒绝 the key was refused ({self._scrub(answer.note)}); "
                    f"check --key or {p.key_env}, and that the key is a web-service (Web服务) "
                    "key allowed to geocode from this machine (密钥无效、过期或无地理编码权限)"
                )
                raise GeocodeKeyError(msg)
            if answer.kind == "quota":
                self.stop(answer.note)
                return _Answer("error", note=self._scrub(answer.note))
            if answer.kind != "retry":
                return _Answer(
                    answer.kind,
                    answer.lon,
                    answer.lat,
                    level=answer.level,
                    note=self._scrub(answer.note),
                    confidence=answer.confidence,
                    candidates=answer.candidates,
                    ambiguous=answer.ambiguous,
                )
            last = answer
        tries = self.retries + 1
        note = f"{self._scrub(last.note)}; gave up after {tries} tries (重试 {tries} 次仍失败)"
        return _Answer("error", note=note)

    def _once(self, url: str) -> _Answer:
        import http.client
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            url, headers={"User-Agent": _USER_AGENT, "Accept": "application/json"}
        )
        headers: Any = None
        try:
            with self._open().open(request, timeout=self.timeout) as response:
                status = int(response.status)
                body = response.read()
                headers = response.headers
        except urllib.error.HTTPError as exc:
            status, headers = int(exc.code), exc.headers
            try:
                body = exc.read()
            except (OSError, http.client.HTTPException):
                body = b""
            finally:
                exc.close()
        except TimeoutError:
            return _Answer("retry", note=f"no answer within {self.timeout:g} s (超时)")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return _Answer("retry", note=f"no answer within {self.timeout:g} s (超时)")
            return _Answer("retry", note=f"cannot reach the service: {exc.reason} (无法连接)")
        except (OSError, http.client.HTTPException) as exc:
            return _Answer("retry", note=f"connection failed: {exc!r} (连接失败)")
        return self._classify(status, body, headers)

    def _classify(self, status: int, body: bytes, headers: Any) -> _Answer:
        if status in (401, 403) or (status == 418 and self.provider.name == "tianditu"):
            return _Answer("key", note=f"HTTP {status}")
        if status == 429 or status >= 500:
            after = _finite(headers.get("Retry-After")) if headers is not None else None
            return _Answer("retry", note=f"HTTP {status} (服务繁忙)", retry_after=after)
        if status != 200:
            return _Answer("error", note=f"HTTP {status}")
        try:
            data = json.loads(body.decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            return _Answer("retry", note="the answer is not JSON (应答不是 JSON)")
        return self.provider.parse(data)


# --- reading the planner's table ---------------------------------------------------------------

_BRACKETED: Final = re.compile(r"[(\[【<《]([^)\]】>》]*)[)\]】>》]")
_TABLE_SUFFIXES: Final = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx"}
_OUT_SUFFIXES: Final = (".csv", ".xlsx", ".gpkg")
_HEADER_SCAN_ROWS: Final = 10
#: Cells that mean "no coordinate yet".
_PLACEHOLDERS: Final = frozenset(
    {"无", "暂无", "-", "--", "—", "/", "null", "none", "nan", "n/a", "na", "待定", "未知", "空"}
)


def _norm_header(header: str) -> str:
    """As :mod:`siting.registry` matches headers: NFKC, case, brackets, spaces and ``_-.:``."""
    text = unicodedata.normalize("NFKC", header).strip().casefold()
    text = _BRACKETED.sub("", text)
    return re.sub(r"[\s_\-.:]+", "", text)


def _header_lookup() -> dict[str, str]:
    from siting.registry import COLUMN_ALIASES

    return {_norm_header(a): c for a, c in COLUMN_ALIASES.items()}


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _cell_text(value: Any) -> str | None:
    """A cell as trimmed text; ``None`` when empty. Whole floats lose their ``.0``."""
    if _is_missing(value):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


@dataclass
class _Table:
    frame: pd.DataFrame  # object cells under the original headers, one row per data row
    rows: list[int]  # spreadsheet row of each
    fmt: str
    warnings: list[Issue] = field(default_factory=list)


def _decode(data: bytes, encoding: str | None, file: str) -> str:
    if encoding is not None:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            issue = Issue(file, None, None, f"cannot decode as {encoding}: {exc}", "error")
            raise ValidationError([issue]) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        reason = (
            f"the file is neither UTF-8 nor GBK/GB18030 text ({exc}); save it as CSV UTF-8 "
            "or pass encoding="
        )
        issue = Issue(file, None, None, reason, "error", "文件既不是 UTF-8 也不是 GBK 编码")
        raise ValidationError([issue]) from exc


def _csv_rows(text: str) -> list[list[Any]]:
    import csv
    import io

    first = text.split("\n", 1)[0]
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    if first.count(delimiter) == 0:
        delimiter = ","
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _xlsx_rows(path: Path, sheet: str | int | None, file: str) -> list[list[Any]]:
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken files
        issue = Issue(file, None, None, f"cannot open the workbook: {exc}", "error", "无法打开")
        raise ValidationError([issue]) from exc
    try:
        names = list(book.sheetnames)
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int) and 0 <= sheet < len(names):
            ws = book.worksheets[sheet]
        elif isinstance(sheet, str) and sheet in names:
            ws = book[sheet]
        elif isinstance(sheet, str) and sheet.isdigit() and int(sheet) < len(names):
            ws = book.worksheets[int(sheet)]
        else:
            reason = f"sheet {sheet!r} does not exist; sheets are {names}"
            raise ValidationError([Issue(file, None, None, reason, "error", "工作表不存在")])
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        book.close()


def _table_from_rows(rows: list[list[Any]], fmt: str, file: str) -> _Table:
    """The header row (the first of the first 10 non-empty rows naming two known columns, as
    :func:`siting.registry.read` finds it) and the non-blank rows below it."""
    lookup = _header_lookup()
    warnings: list[Issue] = []

    def known(cells: list[Any]) -> int:
        return sum(1 for c in cells if (t := _cell_text(c)) and _norm_header(t) in lookup)

    nonempty = [i for i, r in enumerate(rows) if any(not _is_missing(c) for c in r)]
    header_at = nonempty[0] if nonempty else 0
    for i in nonempty[:_HEADER_SCAN_ROWS]:
        if known(rows[i]) >= 2:
            header_at = i
            break
    if nonempty and header_at != nonempty[0]:
        warnings.append(
            Issue(
                file,
                None,
                None,
                f"the header is on row {header_at + 1}; the title rows above it are not copied",
                "warning",
                f"表头在第 {header_at + 1} 行，其上的标题行不写入结果",
            )
        )
    header_cells = rows[header_at] if rows else []
    body = rows[header_at + 1 :]
    width = max([len(header_cells), *(len(r) for r in body)], default=0)
    headers: list[str] = []
    keep: list[int] = []
    seen: dict[str, int] = {}
    for j in range(width):
        h = _cell_text(header_cells[j]) if j < len(header_cells) else None
        if h is None:
            if not any(j < len(r) and not _is_missing(r[j]) for r in body):
                continue
            h = f"column_{j + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
        headers.append(h)
        keep.append(j)
    records: list[list[Any]] = []
    numbers: list[int] = []
    for offset, r in enumerate(body):
        if all(_is_missing(c) for c in r):
            continue  # a blank line is not a facility
        records.append([r[j] if j < len(r) else None for j in keep])
        numbers.append(header_at + 2 + offset)
    frame = pd.DataFrame(records, columns=headers, dtype=object)
    if not records:
        frame = pd.DataFrame({h: pd.Series([], dtype=object) for h in headers})
    return _Table(frame, numbers, fmt, warnings)


def _read_table(path: Path, *, sheet: str | int | None, encoding: str | None, file: str) -> _Table:
    if not path.is_file():
        raise ValidationError([Issue(file, None, None, "file not found", "error", "文件不存在")])
    fmt = _TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        reason = (
            f"unsupported file type {path.suffix or '(none)'!r} for geocoding; use .csv or .xlsx "
            "(a GeoJSON or GeoPackage already has its points)"
        )
        raise ValidationError([Issue(file, None, None, reason, "error", "不支持的文件类型")])
    if fmt == "xlsx":
        return _table_from_rows(_xlsx_rows(path, sheet, file), fmt, file)
    text = _decode(path.read_bytes(), encoding, file)
    return _table_from_rows(_csv_rows(text), fmt, file)


# --- the columns -------------------------------------------------------------------------------


@dataclass
class _Columns:
    name: str | None = None
    address: str | None = None
    lon: str | None = None
    lat: str | None = None
    pair: str | None = None  # one "lng,lat" column
    crs: str | None = None
    location: str | None = None  # the point-quality column
    location_blocked: bool = False  # a "location" header holds "lng,lat": no quality column


_PAIR: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*[,;]\s*([+-]?\d+(?:\.\d+)?)\s*")


def _looks_like_pairs(values: Iterable[Any]) -> bool:
    texts = [t for t in (_cell_text(v) for v in values) if t is not None]
    if not texts:
        return False
    hits = sum(bool(_PAIR.fullmatch(unicodedata.normalize("NFKC", t))) for t in texts)
    return hits * 2 >= len(texts)


def _find_columns(frame: pd.DataFrame, file: str) -> _Columns:
    lookup = _header_lookup()
    by_canon: dict[str, str] = {}
    issues: list[Issue] = []
    twice = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    for h in twice:
        issues.append(
            Issue(file, None, h, f"two columns are named {h!r}; rename one", "error", "列名重复")
        )
    for h in (str(c) for c in frame.columns):
        canon = lookup.get(_norm_header(h))
        if canon is None:
            continue
        if canon in by_canon:
            if canon in ("name", "address", "lon", "lat", "lnglat", "crs", "location"):
                issues.append(
                    Issue(
                        file,
                        None,
                        h,
                        f"columns {by_canon[canon]!r} and {h!r} both give {canon!r}; keep one",
                        "error",
                        f"列 {by_canon[canon]} 与 {h} 含义相同，请保留一列",
                    )
                )
            continue
        by_canon[canon] = h
    cols = _Columns(
        name=by_canon.get("name"),
        address=by_canon.get("address"),
        crs=by_canon.get("crs"),
        location=by_canon.get("location"),
    )
    if cols.location is not None and _looks_like_pairs(frame[cols.location]):
        # The registry reads such a column as coordinates; a second location-quality column
        # would clash with it, so none is written.
        by_canon.setdefault("lnglat", cols.location)
        cols.location_blocked = True
        cols.location = None
    if "lon" in by_canon or "lat" in by_canon:
        cols.lon, cols.lat = by_canon.get("lon"), by_canon.get("lat")
        for canon, zh in (("lon", "经度"), ("lat", "纬度")):
            if canon not in by_canon:
                issues.append(
                    Issue(
                        file,
                        None,
                        canon,
                        f"the file has a {'lat' if canon == 'lon' else 'lon'} column but no "
                        f"{canon} ({zh}) column",
                        "error",
                        f"缺少“{zh}”列",
                    )
                )
    elif "lnglat" in by_canon:
        cols.pair = by_canon["lnglat"]
    if cols.name is None and cols.address is None:
        found = ", ".join(repr(str(h)) for h in frame.columns) or "none"
        issues.append(
            Issue(
                file,
                None,
                "address",
                "no address column (地址, 详细地址, 机构地址, address, addr) and no name column "
                f"(名称, 机构名称, name) to geocode; columns found: {found}",
                "error",
                f"缺少“地址”列（也没有“名称”列），无法地理编码；文件中的列：{found}",
            )
        )
    if issues:
        raise ValidationError(issues, header=f"{file}: cannot geocode (无法地理编码)")
    return cols


def _coordinate(value: Any) -> tuple[float | None, bool]:
    """``(number, ok)``; ``(None, True)`` for an empty cell or a placeholder (暂无, -, 0)."""
    text = _cell_text(value)
    if text is None or text.casefold() in _PLACEHOLDERS:
        return None, True
    f = _finite(unicodedata.normalize("NFKC", text))
    return (f, True) if f is not None else (None, False)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeocodeRow:
    """What happened to one row.

    ``row`` is the spreadsheet row (the header is row 1) of a file, or the 1-based position of
    a frame's row; ``lon``/``lat`` are WGS84 (``None`` unless located) and
    ``provider_lon``/``provider_lat`` the provider's own coordinates.
    """

    row: int
    name: str
    query: str
    status: str
    level: str = ""
    note: str = ""
    lon: float | None = None
    lat: float | None = None
    provider_lon: float | None = None
    provider_lat: float | None = None
    cached: bool = False


@dataclass
class GeocodeResult:
    """The geocoded table and what happened to each row.

    Attributes
    ----------
    frame
        Every row and column of the input, in order, with ``lon``/``lat`` (WGS84), ``crs``,
        ``location`` and the :data:`GEOCODE_COLUMNS` filled.
    rows
        A :class:`GeocodeRow` per row, in order.
    provider
        The :class:`Provider` asked.
    path
        The file written, or ``None``.
    requests, cache_hits
        Requests sent and answers taken from the cache.
    stopped
        Why requests stopped before the end (quota used up, repeated failures), or ``None``.
    issues
        Warnings about the input (a title row, columns that could not be written).
    """

    frame: pd.DataFrame
    rows: list[GeocodeRow]
    provider: Provider
    path: Path | None = None
    source: str = ""
    requests: int = 0
    cache_hits: int = 0
    stopped: str | None = None
    issues: list[Issue] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[GeocodeRow]:
        """The rows of the given statuses."""
        return [r for r in self.rows if r.status in statuses]

    @property
    def located(self) -> list[GeocodeRow]:
        """Rows located exactly enough (``ok``)."""
        return self.with_status("ok")

    @property
    def approximate(self) -> list[GeocodeRow]:
        return self.with_status("approximate")

    @property
    def not_found(self) -> list[GeocodeRow]:
        return self.with_status("not_found")

    @property
    def errors(self) -> list[GeocodeRow]:
        return self.with_status("error")

    @property
    def to_locate(self) -> int:
        """Rows that needed coordinates (everything but ``kept``)."""
        return sum(r.status != "kept" for r in self.rows)

    @property
    def nothing_located(self) -> bool:
        """Rows needed coordinates and none got any."""
        return self.to_locate > 0 and not self.with_status("ok", "approximate")

    def summary(self) -> str:
        """A bilingual summary for a planner, listing approximate, not-found and failed rows."""
        p = self.provider
        head = (
            f"地理编码 geocoded with {p.label} ({p.crs_label} -> WGS84): "
            f"{self.to_locate} of {len(self.rows)} rows needed coordinates"
        )
        lines = [
            head,
            f"  精确定位 located exactly: {len(self.located)}",
            f"  大致位置 approximate (location=approximate, not exact): {len(self.approximate)}",
        ]
        lines += [
            f"    第{r.row}行 row {r.row}  {r.name}  [{r.level or '?'}]  {r.note}"
            for r in self.approximate
        ]
        lines.append(f"  未找到 not found: {len(self.not_found)}")
        lines += [
            f"    第{r.row}行 row {r.row}  {r.name}  query {r.query!r}" for r in self.not_found
        ]
        lines.append(f"  出错 errors: {len(self.errors)}")
        lines += [f"    第{r.row}行 row {r.row}  {r.name}  {r.note}" for r in self.errors]
        skipped = self.with_status("skipped")
        if skipped:
            lines.append(f"  无地址无名称 skipped (no address or name): {len(skipped)}")
            lines += [f"    第{r.row}行 row {r.row}" for r in skipped]
        lines.append(f"  已有坐标 kept (had coordinates): {len(self.with_status('kept'))}")
        lines.append(
            f"  缓存命中 cache hits: {self.cache_hits}, 请求 requests made: {self.requests}"
        )
        if self.stopped:
            lines.append(f"  已停止查询 stopped asking: {self.stopped}; rerun later to continue")
        for issue in self.issues:
            lines.append(f"  提示 warning: {issue}")
        if self.path is not None:
            lines.append(f"写入 wrote {self.path}")
        return "\n".join(lines)


# --- geocoding ---------------------------------------------------------------------------------


def _provider(name: str) -> Provider:
    p = PROVIDERS.get(str(name).strip().lower())
    if p is None:
        msg = f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)} (未知地理编码服务)"
        raise SitingError(msg)
    return p


def _endpoint(provider: Provider, url: str | None) -> str:
    chosen = (
        url
        or os.environ.get(provider.url_env)
        or os.environ.get("SITING_GEOCODER_URL")
        or provider.url
    ).strip()
    if not re.match(r"https?://[^/\s]+", chosen):
        msg = f"{provider.label}: the service URL must start with http:// or https://: {chosen!r}"
        raise SitingError(msg)
    return chosen


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        msg = f"{name} must be a number > 0, got {value!r} ({name} 须大于 0)"
        raise SitingError(msg)
    return float(value)


def _cache_path(provider: Provider, cache_dir: PathLike | None, use_cache: bool) -> Path | None:
    if not use_cache:
        return None
    if cache_dir is None:
        from siting._reference import data_dir

        folder = data_dir() / "geocode_cache"
    else:
        folder = Path(cache_dir)
    return folder / f"{provider.name}.json"


def _levels(levels: Iterable[str] | None) -> frozenset[str]:
    if levels is None:
        return APPROXIMATE_LEVELS
    chosen = frozenset(str(v).strip() for v in levels if str(v).strip())
    unknown = sorted(chosen - set(LEVELS))
    if unknown:
        msg = f"unknown level(s) {', '.join(unknown)}; levels are {', '.join(LEVELS)}"
        raise SitingError(msg)
    return chosen


@dataclass
class _Options:
    provider: Provider
    client: _Client
    city: str | None
    approximate_levels: frozenset[str]
    shared_min: int
    progress: bool | None
    log: Callable[[str], None] | None


def _options(
    *,
    provider: str,
    key: str | None,
    city: str | None,
    url: str | None,
    rate: float | None,
    timeout: float,
    retries: int,
    backoff: float,
    cache_dir: PathLike | None,
    use_cache: bool,
    approximate_levels: Iterable[str] | None,
    shared_min: int,
    progress: bool | None,
    log: Callable[[str], None] | None,
) -> _Options:
    p = _provider(provider)
    if not (isinstance(retries, int) and retries >= 0):
        msg = f"retries must be an integer >= 0, got {retries!r}"
        raise SitingError(msg)
    if not (isinstance(shared_min, int) and shared_min >= 2):
        msg = f"shared_min must be an integer >= 2, got {shared_min!r}"
        raise SitingError(msg)
    if not (isinstance(backoff, int | float) and math.isfinite(backoff) and backoff >= 0):
        msg = f"backoff must be seconds >= 0, got {backoff!r}"
        raise SitingError(msg)
    client = _Client(
        p,
        key=key,
        url=_endpoint(p, url),
        rate=_positive("rate", p.rate if rate is None else rate),
        timeout=_positive("timeout", timeout),
        retries=retries,
        backoff=float(backoff),
        cache=_Cache(_cache_path(p, cache_dir, use_cache), p),
    )
    city_text = _normalize_query(city) if city and city.strip() else None
    return _Options(p, client, city_text, _levels(approximate_levels), shared_min, progress, log)


def _progress(total: int, enabled: bool | None, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=label, unit="row", disable=None if enabled is None else not enabled
    )


def _run(table: _Table, file: str, opts: _Options) -> GeocodeResult:
    """Geocode the rows of ``table`` lacking coordinates; the output table and the rows."""
    frame = table.frame
    cols = _find_columns(frame, file)
    p, client = opts.provider, opts.client
    n = len(frame)
    names = [_cell_text(v) for v in frame[cols.name]] if cols.name else [None] * n
    addresses = [_cell_text(v) for v in frame[cols.address]] if cols.address else [None] * n

    # 1. which rows have coordinates
    has = [False] * n
    problem: list[str | None] = [None] * n
    for i in range(n):
        if cols.lon is not None and cols.lat is not None:
            x, okx = _coordinate(frame[cols.lon].iat[i])
            y, oky = _coordinate(frame[cols.lat].iat[i])
            if not (okx and oky):
                bad = cols.lon if not okx else cols.lat
                value = frame[bad].iat[i]
                problem[i] = (
                    f"{bad} {_cell_text(value)!r} is not a number; fix or empty it "
                    f"(坐标“{_cell_text(value)}”不是数字)"
                )
            elif (x is None) != (y is None):
                problem[i] = "only one of lon/lat is filled; fix the file (经纬度只填了一个)"
            has[i] = x is not None and y is not None and not (x == 0 and y == 0)
        elif cols.pair is not None:
            text = _cell_text(frame[cols.pair].iat[i])
            if text is not None and text.casefold() not in _PLACEHOLDERS:
                m = _PAIR.fullmatch(unicodedata.normalize("NFKC", text))
                if m is None:
                    problem[i] = f"{cols.pair} {text!r} is not 'lng,lat' (坐标格式须为“经度,纬度”)"
                else:
                    has[i] = not (float(m[1]) == 0 and float(m[2]) == 0)

    # 2. ask
    todo = [i for i in range(n) if not has[i] and problem[i] is None]
    queries: list[str | None] = [None] * n
    for i in todo:
        raw = addresses[i] or names[i]
        queries[i] = p.query_text(_normalize_query(raw), opts.city) if raw else None
    asking = [i for i in todo if queries[i] is not None]
    if opts.log is not None:
        cached = sum(
            _cache_key(q, opts.city) in client.cache.entries
            for q in (queries[i] for i in asking)
            if q is not None
        )
        opts.log(
            f"地理编码 geocoding {len(asking)} rows of {file} with {p.label} "
            f"({cached} in the cache) ..."
        )
    answers: dict[int, tuple[_Answer, bool]] = {}
    failed_in_a_row = 0
    bar = _progress(len(asking), opts.progress, f"地理编码 {p.zh}")
    try:
        for done, i in enumerate(asking, 1):
            query = queries[i]
            assert query is not None
            answer, cached_hit = client.lookup(query, opts.city)
            answers[i] = (answer, cached_hit)
            if answer.kind == "error" and client.stopped is None and not cached_hit:
                failed_in_a_row += 1
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                    client.stop(
                        f"{failed_in_a_row} rows in a row failed, last: {answer.note} "
                        f"(连续 {failed_in_a_row} 行失败)"
                    )
            elif answer.kind != "error":
                failed_in_a_row = 0
            bar.update(1)
            if opts.log is not None and bar.disable and done % 50 == 0 and done < len(asking):
                opts.log(f"  {done}/{len(asking)} rows ...")
    finally:
        bar.close()
        client.cache.save()

    # 3. interpret
    results: list[dict[str, Any]] = []
    for i in range(n):
        name = names[i] or addresses[i] or ""
        rec: dict[str, Any] = {"row": table.rows[i], "name": name, "query": queries[i] or ""}
        if has[i]:
            rec.update(status="kept", note="已有坐标，未查询 had coordinates, not geocoded")
        elif problem[i] is not None:
            rec.update(status="error", note=problem[i])
        elif queries[i] is None:
            rec.update(status="skipped", note="无地址和名称 no address or name to look up")
        else:
            answer, cached_hit = answers[i]
            rec["cached"] = cached_hit
            rec.update(_interpret(answer, p, opts))
        results.append(rec)
    _flag_shared_points(results, opts.shared_min)
    rows = [GeocodeRow(**r) for r in results]
    out = _output_frame(frame, cols, rows, p, table.warnings, file)
    return GeocodeResult(
        frame=out,
        rows=rows,
        provider=p,
        source=file,
        requests=client.requests,
        cache_hits=client.cache_hits,
        stopped=client.stopped,
        issues=list(table.warnings),
    )


def _interpret(answer: _Answer, p: Provider, opts: _Options) -> dict[str, Any]:
    if answer.kind == "not_found":
        note = "服务未找到此地址 the service found no match"
        return {"status": "not_found", "note": f"{note}; {answer.note}" if answer.note else note}
    if answer.kind != "ok" or answer.lon is None or answer.lat is None:
        return {"status": "error", "note": answer.note or "no answer (无应答)"}
    x, y = answer.lon, answer.lat
    if bool(_crs.out_of_china(x, y)) or abs(x) > 180 or abs(y) > 90:
        return {
            "status": "error",
            "note": f"the service gave ({x}, {y}), outside China (坐标位于中国境外)",
            "level": normalize_level(answer.level),
        }
    wx, wy = _crs.convert(x, y, src=p.crs, dst=_crs.WGS84)
    level = normalize_level(answer.level)
    reasons: list[str] = []
    if level in opts.approximate_levels:
        shown = f"{level} ({answer.level})" if answer.level and answer.level != level else level
        reasons.append(f"只匹配到{level}级 matched only at level {shown}")
    if answer.confidence is not None and answer.confidence < BAIDU_MIN_CONFIDENCE:
        reasons.append(
            f"百度可信度 {answer.confidence:g} < {BAIDU_MIN_CONFIDENCE} Baidu confidence "
            f"{answer.confidence:g}: may be off by more than 1 km"
        )
    if answer.ambiguous:
        reasons.append(
            f"{answer.candidates} 个候选相距较远，取第一个 {answer.candidates} candidates far "
            "apart, the first used"
        )
    notes = [*reasons, answer.note] if answer.note else reasons
    return {
        "status": "approximate" if reasons else "ok",
        "level": level,
        "note": "; ".join(notes),
        "lon": round(float(wx), 7),
        "lat": round(float(wy), 7),
        "provider_lon": x,
        "provider_lat": y,
    }


def _flag_shared_points(results: list[dict[str, Any]], shared_min: int) -> None:
    """Points that :data:`SHARED_POINT_MIN` or more different queries landed on: approximate."""
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in results:
        if r.get("status") in ("ok", "approximate") and r.get("provider_lon") is not None:
            cell = (
                round(r["provider_lon"] / SHARED_POINT_TOLERANCE),
                round(r["provider_lat"] / SHARED_POINT_TOLERANCE),
            )
            groups.setdefault(cell, []).append(r)
    for members in groups.values():
        distinct = {_cache_key(m["query"], None) for m in members}
        if len(distinct) < shared_min:
            continue
        for m in members:
            others = len(distinct) - 1
            reason = (
                f"与另外 {others} 个地址落在同一点，疑似兜底坐标 shared point with {others} other "
                "addresses (a geocoder's fallback)"
            )
            m["status"] = "approximate"
            m["note"] = f"{reason}; {m['note']}" if m.get("note") else reason


def _output_frame(
    frame: pd.DataFrame,
    cols: _Columns,
    rows: Sequence[GeocodeRow],
    p: Provider,
    warnings: list[Issue],
    file: str,
) -> pd.DataFrame:
    out = frame.copy()
    n = len(out)
    lon_h, lat_h = cols.lon, cols.lat
    if cols.pair is None and (lon_h is None or lat_h is None):
        lon_h, lat_h = _free("lon", out), _free("lat", out)
        out[lon_h] = pd.Series([None] * n, index=out.index, dtype=object)
        out[lat_h] = pd.Series([None] * n, index=out.index, dtype=object)
    crs_h = cols.crs
    if crs_h is None:
        crs_h = _free("crs", out)
        out[crs_h] = pd.Series([None] * n, index=out.index, dtype=object)
    loc_h = cols.location
    if loc_h is None and not cols.location_blocked:
        loc_h = _free("location", out)
        out[loc_h] = pd.Series([None] * n, index=out.index, dtype=object)
    if loc_h is None and any(r.status == "approximate" for r in rows):
        warnings.append(
            Issue(
                file,
                None,
                cols.pair,
                f"the {cols.pair!r} column holds 'lng,lat' pairs, so location=approximate "
                "could not be written beside it; see geocode_status",
                "warning",
                f"“{cols.pair}”列是坐标，无法另写定位质量，请看 geocode_status 列",
            )
        )
    for c in GEOCODE_COLUMNS:
        if c not in out.columns:
            out[c] = pd.Series([None] * n, index=out.index, dtype=object)
    pos = {str(c): k for k, c in enumerate(out.columns)}
    for i, r in enumerate(rows):
        if r.status == "kept":
            if _is_missing(out.iat[i, pos["geocode_status"]]):
                out.iat[i, pos["geocode_status"]] = "kept"
                out.iat[i, pos["geocode_note"]] = r.note
            continue
        values: dict[str, Any] = {
            "geocode_provider": p.name,
            "geocode_crs": p.crs_label,
            "geocode_level": r.level or None,
            "geocode_query": r.query or None,
            "geocode_status": r.status,
            "geocode_note": r.note or None,
        }
        if r.lon is not None and r.lat is not None:
            if cols.pair is not None:
                values[cols.pair] = f"{r.lon},{r.lat}"
            else:
                assert lon_h is not None and lat_h is not None
                values[lon_h], values[lat_h] = r.lon, r.lat
            values[crs_h] = _crs.WGS84
            if r.status == "approximate" and loc_h is not None:
                values[loc_h] = "approximate"
        for c, v in values.items():
            out.iat[i, pos[c]] = v
    return out


def _free(name: str, frame: pd.DataFrame) -> str:
    """``name``, or ``name_2`` ... when the table already has a column so named."""
    taken = {str(c) for c in frame.columns}
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


# --- writing -----------------------------------------------------------------------------------


def _check_out(out: PathLike) -> Path:
    path = Path(out)
    if path.suffix.lower() not in _OUT_SUFFIXES:
        msg = (
            f"--out {path}: write .csv (UTF-8 with BOM, opens in Excel), .xlsx or .gpkg "
            f"(输出文件须为 .csv、.xlsx 或 .gpkg)"
        )
        raise SitingError(msg)
    if path.is_dir():
        msg = f"--out {path} is a folder (是文件夹)"
        raise SitingError(msg)
    return path


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from siting._io import atomic_path

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "geocoded"
    ws.append([str(c) for c in frame.columns])
    for record in frame.itertuples(index=False, name=None):
        ws.append([None if _is_missing(v) else v for v in record])
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", cell.value)
                cell.data_type = "s"  # text, never a formula
    ws.freeze_panes = "A2"
    with atomic_path(path) as tmp:
        book.save(tmp)


def _write_gpkg(result: GeocodeResult, path: Path, crs: str | None, rows: list[int]) -> None:
    import tempfile

    from siting import registry
    from siting._io import write_csv

    with tempfile.TemporaryDirectory(prefix="siting-geocode-") as folder:
        tmp = Path(folder) / "geocoded.csv"
        write_csv(result.frame, tmp, excel_safe=False)
        try:
            gdf = registry.read(tmp, crs=crs)
        except ValidationError as exc:
            issues = [
                Issue(
                    result.source,
                    rows[i.row - 2] if i.row is not None and 2 <= i.row < len(rows) + 2 else i.row,
                    i.column,
                    i.reason,
                    i.severity,
                    i.reason_zh,
                )
                for i in exc.issues
            ]
            header = (
                f"{result.source}: the geocoded table is not yet a registry, so no GeoPackage "
                "was written (结果尚不能作为机构名录写入 GeoPackage); write --out x.csv or "
                ".xlsx (the answers are cached: no new requests), fix the rows below, then read it"
            )
            raise ValidationError(issues, header=header) from None
    registry.write(gdf, path)


def _write(result: GeocodeResult, out: Path, crs: str | None, rows: list[int]) -> Path:
    suffix = out.suffix.lower()
    if suffix == ".csv":
        from siting._io import write_csv

        write_csv(result.frame, out)
    elif suffix == ".xlsx":
        _write_xlsx(result.frame, out)
    else:
        _write_gpkg(result, out, crs, rows)
    result.path = out
    return out


# --- the public functions ----------------------------------------------------------------------


def geocode_frame(
    frame: pd.DataFrame,
    *,
    provider: str,
    key: str | None = None,
    city: str | None = None,
    url: str | None = None,
    rate: float | None = None,
    timeout: float = 10.0,
    retries: int = 3,
    backoff: float = 1.0,
    cache_dir: PathLike | None = None,
    use_cache: bool = True,
    approximate_levels: Iterable[str] | None = None,
    shared_min: int = SHARED_POINT_MIN,
    progress: bool | None = False,
) -> GeocodeResult:
    """Fill the missing coordinates of a facility table from its address (or name) column.

    The table's columns are found by the registry's header aliases
    (:data:`siting.registry.COLUMN_ALIASES`: 地址/详细地址/address, 名称/name, 经度/lon,
    纬度/lat, 经纬度, 坐标系/crs, 定位方式/location). A row is asked for when its lon/lat are
    empty (or 0,0, or a placeholder such as 暂无); its address is the query, else its name. Rows
    with coordinates are not touched.

    Parameters
    ----------
    frame
        The planner's table, one row per facility. Rows are numbered by 1-based position.
    provider
        ``"amap"`` (高德, GCJ-02), ``"baidu"`` (百度, BD-09) or ``"tianditu"`` (天地图, CGCS2000).
    key
        The provider's web-service key; default the environment (``SITING_AMAP_KEY``,
        ``SITING_BAIDU_AK``, ``SITING_TIANDITU_TK``). Needed only when a request is sent.
    city
        A city hint (``"南充市"``) that narrows the search.
    url
        Endpoint override (default: the provider's environment variable, then
        ``SITING_GEOCODER_URL``, then the documented URL).
    rate
        Requests per second (default :attr:`Provider.rate`, 3).
    timeout
        Seconds to wait for one answer.
    retries
        Retries of a request that timed out, failed to connect, or met HTTP 429/5xx or a
        "too many requests" code, with backoff ``backoff``, ``2 * backoff`` ... seconds.
    backoff
        First retry delay in seconds.
    cache_dir
        Folder of the answer cache (default ``siting.data_dir()/geocode_cache``).
    use_cache
        ``False`` asks again and stores nothing.
    approximate_levels
        Normalised levels flagged approximate (default :data:`APPROXIMATE_LEVELS`).
    shared_min
        This many different queries on one point make it a fallback point (default 3).
    progress
        Show a progress bar (``None``: when stderr is a terminal).

    Returns
    -------
    GeocodeResult

    Raises
    ------
    siting.ValidationError
        No address or name column, or conflicting columns, naming them.
    GeocodeKeyError
        The provider refused the key (nothing more is sent).
    siting.SitingError
        A bad argument, or no key when a request is needed.
    """
    opts = _options(
        provider=provider,
        key=key,
        city=city,
        url=url,
        rate=rate,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        cache_dir=cache_dir,
        use_cache=use_cache,
        approximate_levels=approximate_levels,
        shared_min=shared_min,
        progress=progress,
        log=None,
    )
    data = pd.DataFrame(frame).reset_index(drop=True).astype(object)
    data.columns = pd.Index([str(c) for c in data.columns])
    table = _Table(data, list(range(1, len(data) + 1)), "frame")
    return _run(table, "<frame>", opts)


def geocode_file(
    path: PathLike,
    *,
    provider: str,
    key: str | None = None,
    out: PathLike | None = None,
    city: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    url: str | None = None,
    rate: float | None = None,
    timeout: float = 10.0,
    retries: int = 3,
    backoff: float = 1.0,
    cache_dir: PathLike | None = None,
    use_cache: bool = True,
    approximate_levels: Iterable[str] | None = None,
    shared_min: int = SHARED_POINT_MIN,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> GeocodeResult:
    """Geocode a planner's CSV or Excel file (see :func:`geocode_frame`) and write the result.

    The file is read as :func:`siting.registry.read` reads it (CSV in UTF-8 with or without
    BOM or GBK/GB18030, comma/tab/semicolon separated; ``.xlsx``; a title row above the header
    is skipped; blank lines are not rows), and rows are numbered as in the spreadsheet.

    The output keeps every row and column in order and adds (or fills) ``lon``/``lat`` in
    WGS84, ``crs`` (``wgs84`` on geocoded rows, so that a file whose other rows are GCJ-02 still
    reads right), ``location`` (``approximate`` on approximate rows) and ``geocode_provider``,
    ``geocode_crs`` (the provider's system), ``geocode_level``, ``geocode_query``,
    ``geocode_status`` (:data:`STATUSES`) and ``geocode_note`` (the reason). Its format follows
    the suffix of ``out``: ``.csv`` (UTF-8 with BOM), ``.xlsx``, or ``.gpkg`` (a registry,
    through :func:`siting.registry.read` with ``crs`` for the coordinates the file already had
    and :func:`siting.registry.write`; refused, listing the rows, unless every row is located
    and valid). It is written atomically.

    Parameters
    ----------
    path
        The table (``.csv``, ``.txt``, ``.tsv`` or ``.xlsx``).
    out
        The file to write; ``None`` writes nothing (see :attr:`GeocodeResult.frame`).
    sheet, encoding
        As for :func:`siting.registry.read`.
    crs
        The system of the coordinates already in the file; used only to write a GeoPackage.
    log
        Called with progress lines (start, every 50 rows without a progress bar).
    provider, key, city, url, rate, timeout, retries, backoff, cache_dir, use_cache,
    approximate_levels, shared_min, progress
        As for :func:`geocode_frame`.

    Returns
    -------
    GeocodeResult
        With :attr:`GeocodeResult.path` set when ``out`` was written.
    """
    file = os.fspath(path)
    target = _check_out(out) if out is not None else None
    opts = _options(
        provider=provider,
        key=key,
        city=city,
        url=url,
        rate=rate,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        cache_dir=cache_dir,
        use_cache=use_cache,
        approximate_levels=approximate_levels,
        shared_min=shared_min,
        progress=progress,
        log=log,
    )
    table = _read_table(Path(path), sheet=sheet, encoding=encoding, file=file)
    result = _run(table, file, opts)
    if target is not None:
        _write(result, target, crs, table.rows)
    return result
