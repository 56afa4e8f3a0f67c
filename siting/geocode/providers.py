"""The three providers: what each answer means (:class:`_Answer`), their parsers and request
parameters, :class:`Provider` and :data:`PROVIDERS`, and the match levels
(:data:`LEVELS`, :func:`normalize_level`)."""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from siting import crs as _crs

#: The normalised match levels, finest first.
LEVELS: Final[tuple[str, ...]] = ("门牌号", "兴趣点", "道路", "乡镇", "区县", "市", "省", "未知")
#: Levels too coarse to place a facility: such rows are ``approximate``.
APPROXIMATE_LEVELS: Final[frozenset[str]] = frozenset({"区县", "市", "省", "未知"})
#: Candidates farther apart than this (degrees, about 100 m) make a match ambiguous.
AMBIGUOUS_SPREAD_DEG: Final = 1e-3


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
