"""The registry's schema: columns, dtypes, header aliases and the categorical vocabularies.

:data:`COLUMNS` and :data:`DTYPES`, the Chinese and English header aliases
(:data:`COLUMN_ALIASES`, also of the indicator columns :data:`MEASURE_COLUMNS`), the vocabularies
of ``ownership``, ``operation`` (运营方式) and ``location``, the plausibility limits of ``beds``
and ``capacity``, :func:`empty`, :func:`district_column`, and :class:`Shared` (the immutable
sequence kept in ``attrs``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from siting import crs as _crs
from siting._errors import DataError
from siting._tables import load_table
from siting.kinds import KINDS_TABLE, lookup_table

PathLike = str | os.PathLike[str]


class Shared(tuple):  # type: ignore[type-arg]
    """An immutable sequence in a frame's ``attrs`` (row numbers, issues, generated ids).

    pandas deep-copies ``attrs`` on nearly every operation; a plain list of thousands of items
    made each copy cost milliseconds and a whole run minutes. A ``Shared`` is its own deep copy.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Shared:
        return self


FloatArray = npt.NDArray[np.float64]
#: Accepted values of ``ownership``.
OWNERSHIPS: Final[tuple[str, ...]] = tuple(KINDS_TABLE.get("ownership", {}))
#: Accepted values of ``location`` (how good a facility's point is).
LOCATION_QUALITIES: Final[tuple[str, ...]] = tuple(KINDS_TABLE.get("location_quality", {}))
_OWNERSHIP_LOOKUP: Final = lookup_table("ownership", KINDS_TABLE.get("ownership", {}))
_LOCATION_LOOKUP: Final = lookup_table("location_quality", KINDS_TABLE.get("location_quality", {}))


def _load_operations() -> dict[str, dict[str, Any]]:
    table = load_table("operation_modes.yaml", required="operation_modes", what="operation table")
    modes: dict[str, dict[str, Any]] = {}
    for key, spec in table["operation_modes"].items():
        spec = spec or {}
        owner = spec.get("ownership")
        if owner is not None and str(owner) not in OWNERSHIPS:
            msg = (
                f"siting/data/operation_modes.yaml: mode {key!r} has ownership {owner!r}; "
                f"use one of {', '.join(OWNERSHIPS)} or null"
            )
            raise DataError(msg)
        modes[str(key)] = {
            "en": str(spec.get("en", key)),
            "ownership": None if owner is None else str(owner),
            "aliases": tuple(str(a) for a in spec.get("aliases", ()) or ()),
        }
    return modes


_OPERATION_TABLE: Final = _load_operations()
#: Accepted values of ``operation`` (运营方式), from ``siting/data/operation_modes.yaml``.
OPERATIONS: Final[tuple[str, ...]] = tuple(_OPERATION_TABLE)
_OPERATION_LOOKUP: Final = lookup_table(
    "operation_modes",
    {k: v["aliases"] for k, v in _OPERATION_TABLE.items()},
    "operation_modes.yaml",
)
#: The ownership each operation mode implies (None: mixed).
_OPERATION_OWNERSHIP: Final[dict[str, str | None]] = {
    k: v["ownership"] for k, v in _OPERATION_TABLE.items()
}

#: Largest plausible ``beds`` of one facility (the largest hospitals in China have about 10,000);
#: a larger number is a row error, not a facility.
MAX_BEDS: Final = 50_000
#: Largest plausible ``capacity`` (places or clients served) of one facility.
MAX_CAPACITY: Final = 1_000_000
#: Longest cell accepted (Excel's own limit of a cell): a longer one is not facility data.
_MAX_CELL_CHARS: Final = 32_767


# --- the schema --------------------------------------------------------------------------------

#: The registry's columns after the ``id`` index, in order; extra columns follow, then geometry.
COLUMNS: Final[tuple[str, ...]] = (
    "name",
    "kind",
    "lon",
    "lat",
    "crs",
    "county_code",
    "township_code",
    "village_code",
    "beds",
    "capacity",
    "ownership",
    "operation",
    "level",
    "source",
    "location",
    "address",
    "note",
)

#: The dtype of each column of :data:`COLUMNS` (the ``id`` index is ``"string"``).
DTYPES: Final[dict[str, str]] = {
    c: ("float64" if c in ("lon", "lat") else "Int64" if c in ("beds", "capacity") else "string")
    for c in COLUMNS
}

_CODE_DIGITS: Final = {"county_code": 6, "township_code": 9, "village_code": 12}
_GEOMETRY: Final = "geometry"

#: Header aliases (Chinese and English) of the canonical columns. Headers are matched after
#: trimming, Unicode NFKC (full-width letters and brackets become half-width), case folding,
#: dropping a bracketed unit or note (``床位数（张）`` is ``床位数``) and dropping spaces,
#: ``_``, ``-``, ``.`` and ``:``. ``序号`` is a row number, kept as an extra column. ``lnglat`` is a
#: combined ``"lng,lat"`` column (``经纬度``); a ``location`` column holding ``"lng,lat"``
#: values (web-map POI exports) is one too, otherwise it is the point-quality column.
COLUMN_ALIASES: Final[dict[str, str]] = {
    **dict.fromkeys(
        ["id", "ID", "编号", "机构编号", "单位编号", "设施编号", "机构代码编号", "facility_id"],
        "id",
    ),
    **dict.fromkeys(
        ["name", "名称", "机构名称", "单位名称", "设施名称", "医院名称", "名字", "facility_name"],
        "name",
    ),
    **dict.fromkeys(
        ["kind", "type", "类型", "机构类型", "类别", "机构类别", "设施类型", "单位类型"], "kind"
    ),
    **dict.fromkeys(["lon", "lng", "long", "longitude", "x", "经度", "东经"], "lon"),
    **dict.fromkeys(["lat", "latitude", "y", "纬度", "北纬"], "lat"),
    **dict.fromkeys(["lnglat", "lonlat", "经纬度", "坐标", "经纬度坐标"], "lnglat"),
    **dict.fromkeys(
        ["crs", "坐标系", "坐标系统", "坐标类型", "coord_type", "coordsys", "coordinate_system"],
        "crs",
    ),
    **dict.fromkeys(
        ["beds", "床位", "床位数", "床位数量", "床位总数", "核定床位", "核定床位数"], "beds"
    ),
    **dict.fromkeys(["capacity", "容量", "服务容量"], "capacity"),
    **dict.fromkeys(
        [
            "ownership",
            "性质",
            "所有制",
            "公办民办",
            "公办/民办",
            "举办性质",
            "机构性质",
            "经营性质",
        ],
        "ownership",
    ),
    **dict.fromkeys(
        [
            "operation",
            "operation_mode",
            "operating_mode",
            "运营方式",
            "运营模式",
            "经营方式",
            "经营模式",
            "运营类型",
            "运营性质",
            "办营方式",
            "管理方式",
            "管理模式",
            "建设运营方式",
            "建设运营模式",
        ],
        "operation",
    ),
    **dict.fromkeys(["level", "等级", "医院等级", "机构等级", "grade"], "level"),
    **dict.fromkeys(["address", "地址", "详细地址", "机构地址", "addr"], "address"),
    **dict.fromkeys(
        ["county_code", "区县代码", "县代码", "区县编码", "县区代码", "adcode"], "county_code"
    ),
    **dict.fromkeys(
        ["township_code", "乡镇代码", "乡镇街道代码", "乡镇编码", "街道代码", "town_code"],
        "township_code",
    ),
    **dict.fromkeys(["village_code", "村代码", "村编码", "村社区代码", "村居代码"], "village_code"),
    **dict.fromkeys(["source", "来源", "数据来源"], "source"),
    **dict.fromkeys(["location", "定位方式", "定位质量", "位置质量", "坐标质量"], "location"),
    **dict.fromkeys(["note", "备注", "说明", "notes", "remark", "remarks"], "note"),
    # the columns that make policy indicators measurable (MEASURE_COLUMNS), kept as extra columns
    **dict.fromkeys(
        ["has_clinic", "内设医疗机构", "内设医务室", "是否内设医疗机构", "internal_medical"],
        "has_clinic",
    ),
    **dict.fromkeys(
        ["medical_service_form", "医疗服务形式", "医疗卫生服务形式", "医疗服务方式"],
        "medical_service_form",
    ),
    **dict.fromkeys(["nursing_beds", "护理型床位", "护理型床位数", "护理床位数"], "nursing_beds"),
    **dict.fromkeys(
        ["green_channel", "绿色通道", "就医绿色通道", "老年人就医绿色通道"], "green_channel"
    ),
    **dict.fromkeys(
        ["geriatric_dept", "geriatric_department", "老年病科", "老年医学科"], "geriatric_dept"
    ),
    **dict.fromkeys(["hospice", "安宁疗护", "安宁疗护服务", "开展安宁疗护"], "hospice"),
    **dict.fromkeys(
        ["family_doctor_signed", "家庭医生签约人数", "家庭医生签约老年人数", "签约老年人数"],
        "family_doctor_signed",
    ),
    **dict.fromkeys(
        ["health_managed_65plus", "65岁以上老年人健康管理人数", "老年人健康管理人数"],
        "health_managed_65plus",
    ),
    # the usual headers in traditional characters (Big5 lists, 繁體 Excel)
    "名稱": "name",
    "機構名稱": "name",
    "單位名稱": "name",
    "類型": "kind",
    "機構類型": "kind",
    "類別": "kind",
    "經度": "lon",
    "緯度": "lat",
    "經緯度": "lnglat",
    "坐標系": "crs",
    "座標系": "crs",
    "床位數": "beds",
    "性質": "ownership",
    "運營方式": "operation",
    "經營方式": "operation",
    "等級": "level",
    "醫院等級": "level",
    "詳細地址": "address",
    "備註": "note",
}

#: The extra columns that make a policy indicator measurable (:mod:`siting.indicators`) and
#: their Chinese names: not part of :data:`COLUMNS`, their headers (any alias of
#: :data:`COLUMN_ALIASES`) are accepted and the values kept as extra columns under the file's
#: header, read by the indicators when present.
MEASURE_COLUMNS: Final[dict[str, str]] = {
    "has_clinic": "内设医疗机构",
    "medical_service_form": "医疗服务形式",
    "nursing_beds": "护理型床位",
    "green_channel": "老年人就医绿色通道",
    "geriatric_dept": "老年病科",
    "hospice": "安宁疗护",
    "family_doctor_signed": "家庭医生签约老年人数",
    "health_managed_65plus": "65岁以上老年人健康管理人数",
}

_BRACKETED: Final = re.compile(r"[(\[【<《]([^)\]】>》]*)[)\]】>》]")


def _norm_header(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).strip().casefold()
    text = _BRACKETED.sub("", text)
    return re.sub(r"[\s_\-.:]+", "", text)


_HEADER_LOOKUP: Final = {_norm_header(a): c for a, c in COLUMN_ALIASES.items()}
_ZH: Final = {
    "id": "编号",
    "name": "名称",
    "kind": "类型",
    "lon": "经度",
    "lat": "纬度",
    "crs": "坐标系",
}


def _header_crs(header: str) -> str | None:
    """The coordinate system named in brackets in a header (``经度(GCJ-02)``), if any."""
    text = unicodedata.normalize("NFKC", header)
    for inner in _BRACKETED.findall(text):
        try:
            return _crs.normalize_crs_name(inner)
        except (_crs.CRSError, TypeError):
            continue
    return None


def empty() -> gpd.GeoDataFrame:
    """Return an empty registry with the full schema.

    Examples
    --------
    >>> reg = empty()
    >>> list(reg.columns)[:3], reg.index.name, len(reg)
    (['name', 'kind', 'lon'], 'id', 0)
    """
    return _assemble([], {c: [] for c in COLUMNS}, pd.DataFrame(index=pd.RangeIndex(0)))


def _assemble(
    ids: Sequence[str | None], core: Mapping[str, Sequence[Any]], extras: pd.DataFrame
) -> gpd.GeoDataFrame:
    """Build a registry from row-aligned core values and extra columns."""
    index = pd.Index(list(ids), dtype="string", name="id")
    data: dict[str, Any] = {c: pd.Series(list(core[c]), dtype=DTYPES[c]).array for c in COLUMNS}
    frame = pd.DataFrame(data, index=index)
    if len(extras.columns):
        extras = extras.set_axis(index, axis=0)
        frame = pd.concat([frame, extras], axis=1)
    geometry = gpd.points_from_xy(
        frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float), crs="EPSG:4326"
    )
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


#: Headers of a district column (kept as an extra column), named in the same-point warning.
_DISTRICT_HEADERS: Final = frozenset(
    _norm_header(h)
    for h in (
        "district",
        "区",
        "区县",
        "县区",
        "区县名称",
        "所属区县",
        "所在区县",
        "所属区",
        "行政区",
        "行政区划",
        "adname",
        "county",
        "county_name",
    )
)


def district_column(frame: pd.DataFrame) -> str | None:
    """The first column of ``frame`` whose header names a district (区县, 所属区县, district ...).

    >>> district_column(pd.DataFrame(columns=["name", "所属区县", "lng"]))
    '所属区县'
    >>> district_column(pd.DataFrame(columns=["name"])) is None
    True
    """
    return next(
        (
            str(c)
            for c in frame.columns
            if isinstance(c, str) and _norm_header(c) in _DISTRICT_HEADERS
        ),
        None,
    )
