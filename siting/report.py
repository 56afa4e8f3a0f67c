"""Reports: the Excel workbook of a run, with Chinese headers, and summaries by county.

:func:`excel` writes one workbook a planner can take into a meeting: a notes sheet (说明) saying
what is modelled and how times were measured, the summary by rule (汇总), by county (按县汇总) and
by layout element (按布局汇总), then the tables: pairings (配对), gaps (缺口), patrols (巡诊),
indicators (指标) and recommendations (选址建议) when the run has them. Column headers are
Chinese with the English name in brackets (``车程(分钟) travel_time_min``), so that a sheet can
be read in a meeting and still be matched to the CSV files.

The file is written atomically (a temporary file, then replaced), and the same tables give the
same bytes: the document's dates are fixed (``SOURCE_DATE_EPOCH`` when set, else 2000-01-01) and
so are the zip entries' dates, attributes and compression. Text from the data is written as
text cells, never as formulas, whatever it begins with (``=HYPERLINK(...)`` stays text).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from siting import registry
from siting._io import atomic_path
from siting._xlsx import Sheet, write_workbook

__all__ = ["HEADERS", "by_county", "excel", "text_width"]

#: Chinese headers of the columns of siting's tables (the English name follows in the sheet).
HEADERS: Final[Mapping[str, str]] = {
    "rule": "规则",
    "rule_zh": "规则名称",
    "role": "性质",
    "role_zh": "性质(目标/基线/对照)",
    "year": "年份",
    "elderly": "老年人口径",
    "tier": "服务层级",
    "capacity_assumed": "容量为假定值",
    "capacity_source": "容量来源",
    "visits_onsite": "同址服务次数",
    "hours_needed_per_month": "每月所需工时",
    "hours_per_doctor_month": "每名医生每月工时",
    "working_hours_per_month": "每月工作时长",
    "overloaded": "超负荷",
    "facility_id": "机构编号",
    "facility_name": "机构名称",
    "facility_kind": "机构类型",
    "rank": "就近排序",
    "partner_id": "医疗机构编号",
    "partner_name": "医疗机构名称",
    "partner_kind": "医疗机构类型",
    "travel_time_min": "车程(分钟)",
    "distance_km": "距离(公里)",
    "method": "测算方式",
    "within_threshold": "阈值内",
    "threshold_min": "阈值(分钟)",
    "assigned": "配对结果",
    "reason": "说明",
    "reason_en": "说明(英文)",
    "snap_flag": "距路网超2公里",
    "demand_units": "占用容量",
    "partner_capacity": "医疗机构容量",
    "partner_load": "已配数量",
    "residents": "入住人数",
    "fee_cny": "合作费(元/年)",
    "subsidy_cny": "财政补助(元/年)",
    "net_cost_cny": "机构自付(元/年)",
    "fee_rule": "合作费规则",
    "layout_elements": "所在布局单元",
    "data_source": "机构数据来源",
    "network_source": "路网来源",
    "gap_type": "缺口类型",
    "village_code": "村/社区代码",
    "village_name": "村/社区",
    "county_code": "区县代码",
    "county_name": "区县",
    "township_code": "乡镇代码",
    "nearest_partner_id": "最近医疗机构编号",
    "nearest_partner_name": "最近医疗机构",
    "reachable": "可达",
    "facilities": "机构数",
    "paired": "已配对",
    "share_within": "阈值内比例",
    "median_min": "车程中位数(分钟)",
    "max_min": "最长车程(分钟)",
    "element_id": "布局单元编号",
    "name": "名称",
    "name_en": "英文名称",
    "element_type": "单元类型",
    "location_quality": "位置精度",
    "modelled": "模拟",
    "beds": "床位数",
    "elderly_65plus": "65岁以上人口",
    "elderly_60plus": "60岁以上老年人口",
    "gaps_facility": "机构缺口",
    "gaps_village": "村缺口(最大阈值)",
    "clinic_id": "村卫生室编号",
    "doctor": "医生",
    "day": "日",
    "seq": "顺序",
    "arrive": "到达",
    "depart": "离开",
    "leg_km": "路段(公里)",
    "leg_min": "路段(分钟)",
    "indicator_id": "指标编号",
    "name_zh": "指标",
    "value": "现状值",
    "target": "目标值",
    "unit": "单位",
    "met": "是否达标",
    "status": "状态",
    "needs_column": "所需字段",
    "source_document": "依据文件",
    "data_basis": "数据基础",
    "note": "备注",
    "site_id": "建议点编号",
    "site_name": "建议点",
    "newly_covered_pop": "新增覆盖老人",
}


def _headers(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [f"{HEADERS[c]} {c}" if c in HEADERS else str(c) for c in frame.columns]
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel takes no geometry (missing values are left blank by the workbook writer)."""
    return pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))


def text_width(text: str) -> int:
    """Columns a text takes on screen: 2 for a wide (CJK) character, 1 otherwise.

    >>> text_width("车程 km")
    7
    """
    if text.isascii():  # no wide character in ASCII
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


#: Rows read to size a column, and the narrowest and widest column (characters).
_WIDTH_ROWS: Final = 200
_MIN_WIDTH: Final = 8
_MAX_WIDTH: Final = 60


def _cells(values: pd.Series) -> list[Any]:
    """A column as Python values, as the sheet shows them (to size the column): numbers as
    float, booleans as bool, the rest as text, missing values as None."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return [bool(v) for v in values.to_numpy()]
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return [None if not math.isfinite(v) else v for v in arr.tolist()]
    out: list[Any] = []
    for v in values.to_numpy(dtype=object):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            out.append(None)
        elif isinstance(v, bool | np.bool_):
            out.append(bool(v))
        elif isinstance(v, int | float | np.integer | np.floating):
            f = float(v)
            out.append(f if math.isfinite(f) else None)
        else:
            out.append(str(v))
    return out


def _widths(frame: pd.DataFrame) -> list[int]:
    """Each column's width (characters): its header's or the widest of its first
    :data:`_WIDTH_ROWS` values as shown (wide characters counted twice), plus 2, within
    :data:`_MIN_WIDTH` and :data:`_MAX_WIDTH`."""
    head = frame.iloc[:_WIDTH_ROWS]
    widths = []
    for j, column in enumerate(frame.columns):
        values = _cells(head.iloc[:, j])
        shown = {f"{v:g}" if isinstance(v, float) else str(v) for v in values if v is not None}
        w = max([text_width(str(column)), *map(text_width, shown)])
        widths.append(min(max(_MIN_WIDTH, w + 2), _MAX_WIDTH))
    return widths


#: Date of the workbook's properties when ``SOURCE_DATE_EPOCH`` is not set.
_FIXED_DATE: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _document_datetime() -> dt.datetime:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) when set, else 2000-01-01."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = _FIXED_DATE
    if epoch.isdigit():
        try:
            when = dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        except (OverflowError, OSError, ValueError):  # out of range: keep the fixed date
            when = _FIXED_DATE
    return when


def by_county(
    pairings: pd.DataFrame,
    gaps: pd.DataFrame,
    facilities: pd.DataFrame,
    counties: pd.DataFrame | None = None,
    coverage: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per county: facilities by kind, beds, pairing within threshold by rule, gaps and (when
    given) elderly covered within the largest threshold."""
    fac = facilities.copy()
    fac["county_code"] = fac["county_code"].astype("string").fillna("未知")
    counts = fac.pivot_table(
        index="county_code", columns="kind", values="name", aggfunc="count", fill_value=0
    )
    counts.columns = [f"n_{c}" for c in counts.columns]
    out = counts
    beds = pd.to_numeric(
        fac["beds"] if "beds" in fac.columns else pd.Series(0, index=fac.index), errors="coerce"
    )
    out["beds"] = beds.groupby(fac["county_code"]).sum().reindex(out.index).fillna(0)
    if not pairings.empty:
        chosen = pairings[pairings["assigned"].astype(bool)].copy()
        chosen["county_code"] = (
            chosen["facility_id"].map(fac["county_code"]).astype("string").fillna("未知")
        )
        share = chosen.groupby(["county_code", "rule"])["within_threshold"].mean().unstack()
        share.columns = [f"share_within_{c}" for c in share.columns]
        out = out.join(share.round(4))
    if not gaps.empty:
        g = gaps.copy()
        g["county_code"] = g["county_code"].astype("string").fillna("未知")
        fac_gaps = g[g["gap_type"] == "facility"].groupby("county_code").size()
        out["gaps_facility"] = fac_gaps.reindex(out.index).fillna(0).astype(int)
        village = g[g["gap_type"] == "village"]
        if not village.empty:
            top = village["threshold_min"].max()
            vg = village[village["threshold_min"] == top].groupby("county_code").size()
            out["gaps_village"] = vg.reindex(out.index).fillna(0).astype(int)
    if coverage is not None and not coverage.empty:
        cov = coverage[coverage["level"] == "county"]
        if "tier" in cov.columns:  # by service tier: the township tier (卫生院/社区卫生服务中心)
            cov = cov[cov["tier"] == "township"]
        top = cov["threshold_min"].max()
        cov = cov[cov["threshold_min"] == top].set_index("code")
        out["elderly_60plus"] = cov["pop_total"].reindex(out.index)
        out[f"share_covered_{top:g}min"] = cov["share_covered"].reindex(out.index)
    if counties is not None and "name" in counties.columns:
        out.insert(0, "county_name", counties["name"].reindex(out.index))
    out.index.name = "county_code"
    return out.reset_index()


def excel(
    path: str | os.PathLike[str],
    *,
    pairings: pd.DataFrame,
    gaps: pd.DataFrame,
    summary: Mapping[str, Any],
    facilities: pd.DataFrame | None = None,
    counties: pd.DataFrame | None = None,
    coverage: pd.DataFrame | None = None,
    layout_summary: pd.DataFrame | None = None,
    patrols: pd.DataFrame | None = None,
    indicators: pd.DataFrame | None = None,
    recommendations: pd.DataFrame | None = None,
) -> Path:
    """Write the run's Excel workbook (Chinese headers), atomically; returns its path.

    Sheets: 说明, 汇总, 按县汇总 (with ``facilities``), 按布局汇总, 配对, 缺口, then 巡诊, 指标 and
    选址建议 when given. Modelled data is stated on the first sheet and in the tables' source
    columns.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = summary.get("data", {})
    notes = [
        ("区域 region", (summary.get("region") or {}).get("name", "用户数据 user data")),
        ("机构数据 facilities", data.get("facilities", "")),
        ("路网 road network", data.get("network", "")),
        ("村点 villages", data.get("villages", "")),
        ("人口 population", data.get("population", "")),
        ("容量约束 capacity-aware", "是 yes" if summary.get("capacity_aware") else "否 no"),
        (
            "车程 travel time",
            (
                "路网车程含两端接驳段(20 km/h)；无路网时按直线距离×1.3、35 km/h 估算 "
                "(road time plus access legs; straight-line estimate without a network)"
            ),
        ),
    ]
    travel = summary.get("travel_times") or {}
    if travel.get("straight_line"):
        notes.insert(
            0,
            (
                "注意 直线估算 STRAIGHT LINE",
                f"{travel.get('note_zh', '')} ({travel.get('note', '')})",
            ),
        )
    for item in summary.get("not_computed") or []:
        notes.append(
            (
                f"未计算 not computed: {item.get('output', '')}",
                f"{item.get('reason_zh', '')} ({item.get('reason', '')})",
            )
        )
    if any("modelled" in str(v) for v in data.values()):
        notes.insert(
            0,
            (
                "注意 NOTE",
                (
                    "本报告含模拟数据（modelled），仅用于演示方法，不代表实际情况 "
                    "(contains modelled data: it shows the method, not the facts)"
                ),
            ),
        )
    sheets: list[tuple[str, pd.DataFrame]] = [
        ("说明", pd.DataFrame(notes, columns=["项目 item", "内容 value"]))
    ]
    rules = pd.DataFrame(summary.get("rules", {})).T.rename_axis("rule").reset_index()
    sheets.append(("汇总", _headers(rules)))
    if facilities is not None:
        sheets.append(
            ("按县汇总", _headers(by_county(pairings, gaps, facilities, counties, coverage)))
        )
    if layout_summary is not None:
        sheets.append(("按布局汇总", _headers(layout_summary)))
    pairs = pairings.copy()
    for col in ("facility_kind", "partner_kind"):
        if col in pairs:
            labels = {k: registry.kind_label(str(k)) for k in pairs[col].dropna().unique()}
            pairs[col] = pairs[col].map(labels)  # a missing kind stays missing
    sheets.append(("配对", _headers(pairs)))
    sheets.append(("缺口", _headers(gaps)))
    for name, frame in (("巡诊", patrols), ("指标", indicators), ("选址建议", recommendations)):
        if frame is not None:
            sheets.append((name, _headers(frame)))
    plain = [(name, _plain(frame)) for name, frame in sheets]
    with atomic_path(target) as tmp:
        write_workbook(
            tmp,
            [Sheet(name, frame, _widths(frame)) for name, frame in plain],
            created=_document_datetime(),
        )
    return target
