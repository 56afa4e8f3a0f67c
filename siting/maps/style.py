"""Colours, symbols and Chinese labels of the maps (``siting/data/map_style.yaml``), and the
small text helpers of popups and legends (escaping, minutes, kind labels, HTML tables)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import shapely
import yaml

from siting import registry

if TYPE_CHECKING:
    pass


_STYLE_FILE: Final = Path(__file__).resolve().parent.parent / "data" / "map_style.yaml"


@cache
def _style() -> dict[str, Any]:
    with _STYLE_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


#: Basemaps of :func:`meeting_map`: ``"none"``, ``"osm"`` and ``"amap"``.
BASEMAPS: Final[tuple[str, ...]] = tuple(_style()["basemaps"])

#: The CJK font of Debian's ``fonts-noto-cjk`` used for static maps.
CJK_FONT_PATH: Final = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

#: Fonts looked for when :data:`CJK_FONT_PATH` is absent (installed under other names).
_CJK_FAMILIES: Final = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)

_ELEMENT_TYPES_ZH: Final = {
    "core": "核心",
    "wing": "翼",
    "belt": "发展带",
    "zone": "功能区",
    "point": "节点",
}
_QUALITY_ZH: Final = {
    "surveyed": "实测",
    "reference": "参考点位",
    "approximate": "大致位置",
    "unknown": "位置未知(占位)",
    "modelled": "模拟",
    "imputed": "推算",
}
_SOURCE_ZH: Final = {"modelled": "模拟数据", "surveyed": "实测", "user": "用户提供"}
_COLUMN_ZH: Final = {
    "name": "名称",
    "kind": "类型",
    "beds": "床位",
    "capacity": "容量",
    "level": "等级",
    "score": "评分",
    "rank": "排序",
    "reason": "理由",
    "note": "备注",
    "minutes": "分钟",
    "route_id": "路线",
    "vehicle": "车辆",
    "stops": "停靠点",
    "duration_min": "用时(分钟)",
    "distance_km": "里程(公里)",
    "travel_time_min": "车程(分钟)",
    "covered_pop": "覆盖人口",
    "pop_covered": "覆盖人口",
    "county_code": "区县代码",
    "township_code": "乡镇代码",
    "source": "数据来源",
}

_MODELLED_NOTICE: Final = "模拟数据，仅供演示，不代表真实情况"
#: The notice's heading when the only caveat is straight-line travel times (real data).
_ESTIMATE_NOTICE: Final = "车程为估算，请谨慎解读"


def layer_names() -> dict[str, str]:
    """The Chinese names of the map's layers (``siting/data/map_style.yaml``), by key.

    Facility layers are named by their kind's label (:func:`siting.registry.kind_label`) and
    pairing layers ``配对连线：<rule>``.

    Examples
    --------
    >>> layer_names()["gaps"]
    '覆盖缺口'
    """
    return dict(_style()["layers"])


# --- small helpers -------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    if type(value) is str:
        return html.escape(value)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _minutes(value: Any) -> str:
    if _missing(value):
        return "不可达"
    v = float(value)
    return f"{v:.1f}分钟" if v < 10 else f"{v:.0f}分钟"


def _kind_label(kind: Any) -> str:
    try:
        return registry.kind_label(str(kind))
    except ValueError:
        return str(kind)


def _kind_style(kind: str) -> dict[str, Any]:
    st = _style()
    return {**st["default_kind"], **st["kinds"].get(kind, {})}


def _rule_short(rule_zh: str) -> str:
    """``签约医疗机构（乡镇卫生院/社区卫生服务中心）`` -> ``签约医疗机构``."""
    return re.split(r"[（(]", rule_zh, maxsplit=1)[0].strip() or rule_zh


def _rule_names(pairings: pd.DataFrame) -> dict[str, str]:
    names: dict[str, str] = {}
    for rule, group in pairings.groupby("rule", sort=False):
        zh = group["rule_zh"].dropna() if "rule_zh" in group else pd.Series(dtype=object)
        names[str(rule)] = _rule_short(str(zh.iloc[0])) if len(zh) else str(rule)
    return names


def _table(rows: Iterable[tuple[str, Any]], title: str | None = None) -> str:
    """A small HTML table (values escaped; empty values left out)."""
    cells: list[str] = []
    for k, v in rows:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            continue
        text = str(v)
        if text:
            if not isinstance(v, _Html | int | float):  # numbers need no escaping
                text = _escaped(text)
            cells.append(f"{_th(k)}{text}</td></tr>")
    head = f"<b>{_esc(title)}</b>" if title else ""
    return f'{head}<table class="siting-t">{"".join(cells)}</table>'


@lru_cache(maxsize=65536)
def _escaped(text: str) -> str:
    """``html.escape``, remembered: popups repeat the same kinds, sources and places."""
    return html.escape(text)


@lru_cache(maxsize=4096)
def _th(label: str) -> str:
    """The start of a row of :func:`_table` (a few labels, thousands of rows)."""
    return f"<tr><th>{html.escape(label)}</th><td>"


class _Html(str):
    """A string already escaped for HTML."""

    __slots__ = ()


def _generic_rows(
    row: Mapping[Any, Any] | pd.Series, skip: Sequence[str] = ()
) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for col, value in row.items():
        if col in skip or col == "geometry" or isinstance(value, shapely.Geometry):
            continue
        if isinstance(value, float) and not math.isnan(value):
            value = f"{value:.6g}"
        label = _COLUMN_ZH.get(str(col), str(col))
        if col == "kind":
            value = _kind_label(value)
        out.append((label, value))
    return out


def service_area_word(areas: pd.DataFrame) -> str:
    """What the service-area polygons are called on a map: 就近服务范围 for catchments
    (``mode="nearest"`` of :func:`siting.service_areas.service_areas`), else 服务范围."""
    return "就近服务范围" if areas.attrs.get("mode") == "nearest" else "服务范围"
