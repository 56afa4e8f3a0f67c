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

The room
--------
``siting.geocode`` is a package; import from ``siting.geocode`` (its names below), not from its
modules, which are private to the room:

* ``providers`` -- the answers, the three providers' parsers and parameters, :class:`Provider`,
  :data:`PROVIDERS`, the match levels and :func:`normalize_level`;
* ``client`` -- the rate limiter, the on-disk answer cache and the HTTP client;
* ``table`` -- reading the planner's table (decoding, CSV/XLSX rows, header row, columns);
* ``results`` -- :class:`GeocodeRow` and :class:`GeocodeResult`;
* ``run`` -- the options, the run over the rows, reading each answer, shared points;
* ``files`` -- :func:`geocode_frame`, :func:`geocode_file` and writing the result.

It may import :mod:`siting.crs`, :mod:`siting._errors`, :mod:`siting._io`,
:mod:`siting._reference` and (lazily, for header aliases and ``.gpkg`` output)
:mod:`siting.registry`; the HTTP modules, ``openpyxl`` and ``tqdm`` are imported lazily.
"""

from __future__ import annotations

# `X as X`: re-exported though not in __all__, as tests and older code use these names.
from siting._errors import GeocodeKeyError
from siting.geocode.files import geocode_file, geocode_frame
from siting.geocode.providers import AMBIGUOUS_SPREAD_DEG as AMBIGUOUS_SPREAD_DEG
from siting.geocode.providers import (
    APPROXIMATE_LEVELS,
    LEVELS,
    PROVIDERS,
    Provider,
    normalize_level,
)
from siting.geocode.providers import _parse_amap as _parse_amap
from siting.geocode.providers import _parse_baidu as _parse_baidu
from siting.geocode.providers import _parse_tianditu as _parse_tianditu
from siting.geocode.results import GEOCODE_COLUMNS as GEOCODE_COLUMNS
from siting.geocode.results import STATUSES, GeocodeResult, GeocodeRow
from siting.geocode.run import BAIDU_MIN_CONFIDENCE as BAIDU_MIN_CONFIDENCE
from siting.geocode.run import MAX_FAILED_IN_A_ROW, SHARED_POINT_MIN
from siting.geocode.run import SHARED_POINT_TOLERANCE as SHARED_POINT_TOLERANCE
from siting.geocode.run import PathLike as PathLike

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
