"""The ``siting`` command.

Examples
--------
::

    siting data build --region nanchong
    siting data regions
    siting registry validate my_facilities.csv --crs gcj02 --region nanchong
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from siting import __version__
from siting._errors import Issue, SitingError

__all__ = ["main"]

_FMT = argparse.RawDescriptionHelpFormatter

# --- argument types: a bad value stops argparse (exit 2, usage line) before any work ------------

_Bad = argparse.ArgumentTypeError

#: Chinese reasons of the file-system errors a planner meets.
_OS_REASONS_ZH = {
    errno.ENOENT: "文件或文件夹不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EROFS: "只读文件系统",
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "超出磁盘配额",
    errno.EFBIG: "文件过大",
    errno.EISDIR: "是文件夹而非文件",
    errno.ENOTDIR: "路径中有一项不是文件夹",
    errno.EEXIST: "已存在",
    errno.ENAMETOOLONG: "文件名过长",
    errno.EMFILE: "打开的文件过多",
    errno.EIO: "读写错误",
}


def _os_reason(exc: OSError) -> str:
    """``中文原因 / English reason`` of a file-system error."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    zh = _OS_REASONS_ZH.get(exc.errno) if exc.errno is not None else None
    return f"{zh} / {reason}" if zh else reason


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        msg = f"不是整数 not an integer: {text!r}"
        raise _Bad(msg) from None


def _number(text: str) -> float:
    """A finite number (no nan, no inf)."""
    try:
        value = float(text.strip())
    except ValueError:
        msg = f"不是数字 not a number: {text!r}"
        raise _Bad(msg) from None
    if not math.isfinite(value):
        msg = f"须为有限数值 must be a finite number, got {text!r}"
        raise _Bad(msg)
    return value


def _seed(text: str) -> int:
    """``--seed``: an integer from 0 to 2**32-1 (the rule of ``CODE@SEED`` in a batch)."""
    from siting import batch

    try:
        return batch.seed_of(text, text)
    except SitingError:
        msg = (
            f"种子须为 0 到 {batch.MAX_SEED} 的整数 the seed must be an integer from 0 to "
            f"{batch.MAX_SEED}, got {text!r}"
        )
        raise _Bad(msg) from None


def _positive_int(text: str) -> int:
    """An integer >= 1 (``--p``, ``--k``, ``--workers``, ``--recommend``)."""
    value = _integer(text)
    if value < 1:
        msg = f"须为正整数 must be a positive integer (1, 2, ...), got {text!r}"
        raise _Bad(msg)
    return value


def _nonnegative_int(text: str) -> int:
    """An integer >= 0 (``--retries``)."""
    value = _integer(text)
    if value < 0:
        msg = f"须为非负整数 must be an integer >= 0, got {text!r}"
        raise _Bad(msg)
    return value


def _positive(what_zh: str, what_en: str) -> Callable[[str], float]:
    """An argument type: a finite number > 0, the message naming its unit."""

    def check(text: str) -> float:
        value = _number(text)
        if value <= 0:
            msg = f"{what_zh}须大于 0 {what_en} must be > 0, got {text!r}"
            raise _Bad(msg)
        return value

    return check


#: ``--threshold``, ``--buffer-min``; ``--time-limit``, ``--timeout``; ``--rate``.
_positive_minutes = _positive("分钟数", "minutes")
_positive_seconds = _positive("秒数", "seconds")
_positive_rate = _positive("每秒请求数", "requests per second")


def _margin_km(text: str) -> float:
    """Kilometres: a finite number >= 0 (``--margin-km``)."""
    value = _number(text)
    if value < 0:
        msg = f"公里数不能为负 kilometres must be >= 0, got {text!r}"
        raise _Bad(msg)
    return value


def _thresholds(text: str) -> list[float]:
    """``--thresholds``: positive minutes separated by commas."""
    try:
        return _minutes_arg(text)
    except SitingError as exc:
        raise _Bad(str(exc)) from None


def _input_file(text: str) -> Path:
    """A file that exists and can be read (not a folder)."""
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        msg = f"无法读取 cannot read {path}: {_os_reason(exc)}"
        raise _Bad(msg) from None
    return path


def _existing_dir(text: str) -> Path:
    """A folder that exists."""
    path = Path(text)
    if not path.is_dir():
        what = "不是文件夹 is not a folder" if path.exists() else "文件夹不存在 folder not found"
        msg = f"{what}: {path}"
        raise _Bad(msg)
    return path


def _check_writable(path: Path) -> None:
    """``path``, or the nearest folder above it when it does not exist yet, can be written in."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        msg = f"不是文件夹 {folder} is not a folder (in {path})"
        raise _Bad(msg)
    if not os.access(folder, os.W_OK | os.X_OK):
        msg = f"无法写入 cannot write in {folder}: 没有权限或只读 / permission denied or read-only"
        raise _Bad(msg)


def _output_file(text: str) -> Path:
    """An output file: not an existing folder, in a folder that can be written."""
    path = Path(text)
    if path.is_dir():
        msg = f"是文件夹而非文件 is a folder, not a file: {path}"
        raise _Bad(msg)
    _check_writable(path.parent)
    return path


def _output_dir(text: str) -> Path:
    """An output folder: a folder or nothing yet, somewhere that can be written."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        msg = f"是文件而非文件夹 is a file, not a folder: {path}"
        raise _Bad(msg)
    _check_writable(path)
    return path


def _candidates(text: str) -> str:
    """``--candidates``: ``townships``, ``villages`` or a readable file of sites."""
    if text.strip() in ("townships", "villages"):
        return text.strip()
    _input_file(text)
    return text


def _region_spec(text: str) -> str:
    """``--regions``: ``all``, a code or name, or ``CODE@SEED`` (checked, returned as given)."""
    from siting import batch

    if text.strip().lower() == "all":
        return text
    try:
        batch.parse_item(text, 0)
    except SitingError as exc:
        raise _Bad(str(exc)) from None
    return text


def _regions_file(text: str) -> Path:
    """``--regions-file``: a readable file of region specs, every line checked."""
    from siting import batch

    path = _input_file(text)
    try:
        batch.read_regions_file(path)
    except SitingError as exc:
        raise _Bad(str(exc)) from None
    return path


_FORCE_HELP = (
    "write into a folder that holds files not written by siting "
    "(only siting's own file names are touched)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siting",
        formatter_class=_FMT,
        description=(
            "siting — 医养结合 spatial planning: built-in regions, facility registries, pairing,\n"
            "coverage, patrols and siting. 医养结合空间规划工具。"
        ),
        epilog=(
            "examples:\n"
            "  siting data build --region nanchong      # region + modelled registry -> "
            "data/geo/nanchong.gpkg\n"
            "  siting data regions                      # list the built-in regions\n"
            "  siting registry validate list.csv --crs gcj02 --region nanchong\n"
            "  siting run --region nanchong --out out/nanchong   # pairing + gaps (就近配对)\n"
        ),
    )
    parser.add_argument("--version", action="version", version=f"siting {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (
        _add_data,
        _add_network,
        _add_run,
        _add_locate,
        _add_batch,
        _add_update,
        _add_costs,
        _add_registry,
    ):
        add(sub)
    return parser


def _add_data(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting data``: build and regions."""
    data = sub.add_parser(
        "data",
        help="build and list the built-in regions' data",
        description="Build and list the built-in regions' data (构建内置区域数据).",
        formatter_class=_FMT,
        epilog="examples:\n  siting data build --region nanchong\n  siting data regions\n",
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    _add_data_build(data_sub)
    _add_data_regions(data_sub)


def _add_data_build(data_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting data build``."""
    build = data_sub.add_parser(
        "build",
        help="write a region's GeoPackage: region layers and its modelled registry",
        formatter_class=_FMT,
        description=(
            "Write data/geo/<region>.gpkg with the region's counties, townships, modelled\n"
            "township areas and village points, and its modelled facility registry (every row\n"
            "source=modelled). The same --seed gives a byte-identical file.\n"
            "生成区域数据包：区县、乡镇、村点（模拟）与模拟机构名录。"
        ),
        epilog=(
            "examples:\n"
            "  siting data build --region nanchong\n"
            "  siting data build --region 宣汉县 --seed 7 --out /tmp/xuanhan.gpkg\n"
        ),
    )
    build.add_argument("--region", required=True, help="name, code or alias, e.g. nanchong, 511722")
    build.add_argument("--seed", type=_seed, default=None, help="seed of the modelled parts")
    build.add_argument(
        "--out", type=_output_file, default=None, help="output .gpkg (default data/geo/)"
    )
    build.add_argument(
        "--reference-dir", type=_existing_dir, default=None, help="other reference folder"
    )
    build.set_defaults(handler=_cmd_build)


def _add_data_regions(data_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting data regions``."""
    regions = data_sub.add_parser(
        "regions",
        help="list the regions of the reference tables and whether each can be loaded",
        description="List the built-in regions (列出内置区域).",
        epilog="example:\n  siting data regions\n",
        formatter_class=_FMT,
    )
    regions.add_argument(
        "--reference-dir", type=_existing_dir, default=None, help="other reference folder"
    )
    regions.set_defaults(handler=_cmd_regions)


def _add_network(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting network``: build, import and fetch."""
    net = sub.add_parser(
        "network",
        help="build or import road networks",
        description="Build the modelled road network of a region, or import real roads (路网).",
        formatter_class=_FMT,
        epilog=(
            "examples:\n  siting network build --region nanchong\n"
            "  siting network import roads.shp --crs gcj02 --out data/geo/roads.graphml\n"
        ),
    )
    net_sub = net.add_subparsers(dest="network_command", metavar="ACTION")
    _add_network_build(net_sub)
    _add_network_import(net_sub)
    _add_network_fetch(net_sub)


def _add_network_build(net_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting network build``."""
    nbuild = net_sub.add_parser(
        "build",
        help="write a region's modelled road network as GraphML",
        formatter_class=_FMT,
        description=(
            "Generate the modelled road network of a built-in region (county towns, township\n"
            "seats and village points as a trunk/township/village hierarchy; labelled modelled)\n"
            "and write it as osmnx GraphML. 生成模拟路网（非实测）。"
        ),
        epilog="examples:\n  siting network build --region nanchong\n"
        "  siting network build --region 宣汉县 --out /tmp/xuanhan_roads.graphml\n",
    )
    nbuild.add_argument("--region", required=True, help="name, code or alias")
    nbuild.add_argument("--seed", type=_seed, default=None, help="seed of the village points")
    nbuild.add_argument("--out", type=_output_file, default=None, help="output .graphml")
    nbuild.set_defaults(handler=_cmd_network_build)


def _add_network_import(net_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting network import``."""
    nimport = net_sub.add_parser(
        "import",
        help="read real roads (.osm.pbf, .osm, .graphml, .shp/.geojson/.gpkg) into GraphML",
        formatter_class=_FMT,
        description=(
            "Read a road network in any form siting reads - OpenStreetMap .osm.pbf or .osm,\n"
            "osmnx GraphML, or a line layer (Geofabrik gis_osm_roads schema or 道路等级 classes)\n"
            "with its coordinate system - check it and write osmnx GraphML. 导入实际路网。"
        ),
        epilog="examples:\n  siting network import sichuan-latest.osm.pbf --out roads.graphml\n"
        "  siting network import 道路.shp --crs gcj02 --out roads.graphml\n",
    )
    nimport.add_argument("file", type=_input_file, help="road file")
    nimport.add_argument(
        "--crs",
        "--network-crs",
        dest="crs",
        default=None,
        help="line layers: wgs84, gcj02, bd09 or EPSG (default: the file's .prj)",
    )
    nimport.add_argument(
        "--encoding", default=None, help="line layers: text encoding, e.g. gbk (Shapefile w/o .cpg)"
    )
    nimport.add_argument(
        "--oneway-column",
        default=None,
        metavar="none|NAME",
        help="line layers: the direction column, or none (every road two-way)",
    )
    nimport.add_argument(
        "--class-column", default=None, metavar="NAME", help="line layers: the road class column"
    )
    nimport.add_argument(
        "--class-map",
        default=None,
        metavar="LABEL=CLASS,...",
        help="line layers: extra class labels, e.g. 二级公路=secondary,三级公路=tertiary",
    )
    nimport.add_argument("--layer", default=None, help="line layers: the layer of a GeoPackage")
    nimport.add_argument("--out", type=_output_file, required=True, help="output .graphml")
    nimport.set_defaults(handler=_cmd_network_import)


def _add_network_fetch(net_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting network fetch``."""
    nfetch = net_sub.add_parser(
        "fetch",
        help="download OpenStreetMap roads of a region or boundary (needs internet)",
        formatter_class=_FMT,
        description=(
            "Download the drivable OpenStreetMap roads of a built-in region or a boundary, plus a\n"
            "buffer, from an Overpass server with osmnx, and write osmnx GraphML for\n"
            "'siting run --network'. The download date, server and osmnx settings are recorded;\n"
            "a file already fetched for the same area is reused (--refresh downloads again).\n"
            "Server: --overpass-url, else $SITING_OVERPASS_URL, else osmnx's public one.\n"
            "Roads © OpenStreetMap contributors, ODbL. 下载 OpenStreetMap 实际路网（需联网）。"
        ),
        epilog=(
            "examples:\n  siting network fetch --region xuanhan"
            "        # -> data/geo/roads_xuanhan.graphml\n"
            "  siting network fetch --boundary county.geojson --buffer-km 10 --out roads.graphml\n"
            "  siting run --region xuanhan --network data/geo/roads_xuanhan.graphml --out out/x\n"
        ),
    )
    narea = nfetch.add_mutually_exclusive_group(required=True)
    narea.add_argument("--region", default=None, help="built-in region: name, code or alias")
    narea.add_argument("--boundary", type=_input_file, default=None, help="boundary (any CRS)")
    nfetch.add_argument("--out", type=_output_file, default=None, help="output .graphml")
    nfetch.add_argument(
        "--buffer-km", type=_margin_km, default=5.0, help="roads this far around the area (5)"
    )
    nfetch.add_argument("--overpass-url", default=None, help="Overpass API URL (…/api)")
    nfetch.add_argument(
        "--timeout", type=_positive_seconds, default=180.0, help="seconds per request (180)"
    )
    nfetch.add_argument("--refresh", action="store_true", help="download again")
    nfetch.set_defaults(handler=_cmd_network_fetch)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting run``."""
    run = sub.add_parser(
        "run",
        help="就近配对 pairing and coverage gaps for a region or your own data",
        formatter_class=_FMT,
        description=(
            "Pair every elderly-care facility with its nearest medical partner (rules in\n"
            "siting/data/pairing_rules.yaml, or --rules FILE), list the gaps beyond the\n"
            "thresholds, and write pairings.csv, gaps.csv, coverage_by_area.csv,\n"
            "access_e2sfca.csv, service_areas.geojson, summary.json and manifest.json to --out.\n"
            "A built-in region brings its modelled registry, villages and roads; --facilities and\n"
            "--network replace them with yours. Bad input stops before anything is written.\n"
            "就近配对、覆盖缺口；结果写入 --out 文件夹。"
        ),
        epilog=(
            "examples:\n"
            "  siting run --region nanchong --out out/nanchong\n"
            "  siting run --region xuanhan --capacity --out out/xuanhan\n"
            "  siting run --facilities list.xlsx --crs gcj02 --network roads.shp "
            "--network-crs gcj02 \\\n"
            "             --boundary county.geojson --out out/mine\n"
        ),
    )
    run.add_argument("--region", default=None, help="built-in region: name, code or alias")
    run.add_argument("--facilities", type=_input_file, default=None, help="your facility file")
    run.add_argument("--crs", default=None, help="coordinate system of --facilities "
                     "(wgs84, gcj02, bd09)")  # fmt: skip
    run.add_argument(
        "--network",
        type=_input_file,
        default=None,
        help="road file: .graphml/.osm/.pbf/.shp/.gpkg ...",
    )
    run.add_argument(
        "--fetch-roads",
        action="store_true",
        help="download OpenStreetMap roads of the area (needs internet; reused next time)",
    )
    run.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    run.add_argument("--boundary", type=_input_file, default=None, help="boundary file (any CRS)")
    run.add_argument("--rules", type=_input_file, default=None, help="pairing rules YAML")
    run.add_argument("--capacity", action="store_true", help="respect partner capacities")
    run.add_argument(
        "--thresholds", type=_thresholds, default="15,30", help="village coverage minutes (15,30)"
    )
    run.add_argument(
        "--service-areas",
        default="health_center,community_health_center",
        help="kinds whose service areas are drawn, comma-separated, or 'none'",
    )
    run.add_argument(
        "--service-area-mode",
        default="nearest",
        choices=["nearest", "reach"],
        help="nearest: each facility's catchment (就近服务范围, no overlap); "
        "reach: all a facility reaches within T (overlapping)",
    )
    run.add_argument("--layout", default="auto", help="layout spec name or file, or 'none'")
    run.add_argument(
        "--basemap",
        default="amap",
        choices=["amap", "osm", "none"],
        help="basemap of the meeting map (overlays shift to GCJ-02 for amap)",
    )
    run.add_argument("--no-maps", action="store_true", help="skip maps/map.html and map.png")
    run.add_argument(
        "--recommend",
        type=_positive_int,
        default=None,
        metavar="P",
        help="also recommend P new sites",
    )
    run.add_argument("--recommend-kind", default="health_center", help="kind of the new sites")
    _add_patrol_options(run)
    run.add_argument("--seed", type=_seed, default=None, help="seed of the modelled parts")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--force", action="store_true", help=_FORCE_HELP)
    run.add_argument("--out", type=_output_dir, required=True, help="output folder")
    run.set_defaults(handler=_cmd_run)


def _add_patrol_options(run: argparse.ArgumentParser) -> None:
    """The patrol options of ``siting run`` (巡诊; :func:`siting.patrol.plan`)."""
    group = run.add_argument_group(
        "patrols 巡诊",
        "Settings of the patrol plan (patrols.csv, patrol_totals.csv); defaults: weekly, 60 min "
        "per visit, 1 doctor per clinic, 8-hour day, no dates.",
    )
    group.add_argument(
        "--patrol-frequency",
        default=None,
        metavar="KIND=N/week,...",
        help="visits per facility kind, e.g. day_care=1/week,happiness_home=0.5/week "
        "(5/week, 2/week, 1/week, 0.5/week, 1/month, or daily/weekly/每周...); one value "
        "without KIND= for every kind",
    )
    group.add_argument(
        "--patrol-service-min",
        default=None,
        metavar="MIN|KIND=MIN,...",
        help="minutes spent at each facility (60), or per kind: day_care=45,happiness_home=30",
    )
    group.add_argument(
        "--patrol-doctors",
        default=None,
        metavar="N|COLUMN",
        help="doctors per clinic (1), or a column of the facility file with each clinic's",
    )
    group.add_argument(
        "--patrol-day-hours",
        type=float,
        default=None,
        metavar="H",
        help="a doctor's working day for patrols, hours (8); the working month is "
        "21.74 days x H, beyond it a clinic is flagged overloaded",
    )
    group.add_argument(
        "--patrol-start-date",
        default=None,
        metavar="YYYY-MM-DD",
        help="a Monday: the plan starts then and patrols.csv gets dates (weekends skipped, "
        "public holidays not); without it the days stay relative (week 1 周一 ...)",
    )


def _patrol_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``siting.patrol.plan`` keywords of the ``--patrol-*`` options given (none: {})."""
    import datetime as dt

    from siting import patrol, registry

    def pairs(text: str, option: str) -> dict[str, str] | str:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            msg = f"{option} is empty"
            raise SitingError(msg)
        if len(items) == 1 and "=" not in items[0]:
            return items[0]
        out = {}
        for item in items:
            kind, sep, value = item.partition("=")
            kind = kind.strip()
            if not sep or not value.strip():
                msg = f"{option}: {item!r} is not KIND=VALUE (e.g. day_care=1/week)"
                raise SitingError(msg)
            if kind not in registry.KINDS:
                msg = f"{option}: unknown kind {kind!r} (kinds: {', '.join(registry.KINDS)})"
                raise SitingError(msg)
            out[kind] = value.strip()
        return out

    def minutes(value: str) -> float:
        try:
            out = float(value)
        except ValueError:
            out = math.nan
        if not math.isfinite(out) or out < 0:
            msg = f"--patrol-service-min: {value!r} is not a number of minutes >= 0"
            raise SitingError(msg)
        return out

    opts: dict[str, Any] = {}
    if args.patrol_frequency is not None:
        freq = pairs(args.patrol_frequency, "--patrol-frequency")
        for value in [freq] if isinstance(freq, str) else freq.values():
            try:
                patrol.frequency(value)
            except patrol.PatrolError as exc:
                raise SitingError(f"--patrol-frequency: {exc}") from exc
        opts["frequency"] = freq
    if args.patrol_service_min is not None:
        svc = pairs(args.patrol_service_min, "--patrol-service-min")
        opts["service_min"] = (
            minutes(svc) if isinstance(svc, str) else {k: minutes(v) for k, v in svc.items()}
        )
    if args.patrol_doctors is not None:
        text = args.patrol_doctors.strip()
        if text.isdigit():
            if int(text) < 1:
                msg = "--patrol-doctors must be a whole number >= 1 or a column name"
                raise SitingError(msg)
            opts["doctors"] = int(text)
        elif text:
            opts["doctors"] = text
        else:
            raise SitingError("--patrol-doctors is empty")
    if args.patrol_day_hours is not None:
        if not 0 < args.patrol_day_hours <= 16:
            msg = f"--patrol-day-hours must be > 0 and at most 16, got {args.patrol_day_hours}"
            raise SitingError(msg)
        opts["day_hours"] = float(args.patrol_day_hours)
    if args.patrol_start_date is not None:
        try:
            day = dt.date.fromisoformat(args.patrol_start_date.strip())
        except ValueError as exc:
            msg = f"--patrol-start-date must be a date YYYY-MM-DD, got {args.patrol_start_date!r}"
            raise SitingError(msg) from exc
        if day.weekday() != 0:
            msg = (
                f"--patrol-start-date must be a Monday (patrols run Monday to Friday), got "
                f"{day} ({day:%A})"
            )
            raise SitingError(msg)
        opts["start_date"] = day.isoformat()
    return opts


def _add_locate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting locate``."""
    loc = sub.add_parser(
        "locate",
        help="新增选址 where new facilities would close the gaps (LSCP, MCLP, p-median)",
        formatter_class=_FMT,
        description=(
            "Recommend sites for new facilities of --kind among candidate sites (township seats,\n"
            "villages or your own list), keeping the existing ones: mclp (p sites covering the\n"
            "most elderly within --threshold minutes), lscp (fewest sites covering everyone),\n"
            "p_median (p sites minimising the population-weighted travel time). Solved exactly\n"
            "with HiGHS; the status says when a result is not proven optimal. Writes\n"
            "recommendations.csv/.json, colocation.csv (两院一体: health centres with no\n"
            "nursing home within 500 m) and maps/recommendations.html to --out.\n"
            "新增选址建议；结果写入 --out 文件夹。"
        ),
        epilog=(
            "examples:\n"
            "  siting locate --region xuanhan --model mclp --p 5 --threshold 30 "
            "--kind health_center --out out/locate\n"
            "  siting locate --region nanchong --model lscp --threshold 30 --candidates villages "
            "--out out/lscp\n"
            "  siting locate --facilities list.csv --crs gcj02 --network roads.osm.pbf "
            "--model mclp --p 2 --out out/mine\n"
            "    (no region: the elderly-care facilities are the demand, weighted by beds, and\n"
            "     their sites the candidates unless --candidates FILE)\n"
        ),
    )
    loc.add_argument(
        "--region", default=None, help="built-in region (or give --facilities, any place)"
    )
    loc.add_argument("--boundary", type=_input_file, default=None, help="boundary file (any CRS)")
    loc.add_argument("--model", required=True, choices=["mclp", "lscp", "p_median", "pmedian"])
    loc.add_argument(
        "--p", type=_positive_int, default=None, help="number of new sites (mclp, p_median)"
    )
    loc.add_argument("--threshold", type=_positive_minutes, default=30.0, help="minutes (30)")
    loc.add_argument("--kind", default="health_center", help="kind(s) to add, comma-separated")
    loc.add_argument(
        "--candidates",
        type=_candidates,
        default="townships",
        help="townships, villages, or a file of sites",
    )
    loc.add_argument("--facilities", type=_input_file, default=None, help="your facility file")
    loc.add_argument("--crs", default=None, help="coordinate system of --facilities/--candidates")
    loc.add_argument("--network", type=_input_file, default=None, help="road file")
    loc.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    loc.add_argument(
        "--time-limit", type=_positive_seconds, default=60.0, help="solver seconds (60)"
    )
    loc.add_argument("--force", action="store_true", help=_FORCE_HELP)
    loc.add_argument("--out", type=_output_dir, required=True, help="output folder")
    loc.set_defaults(handler=_cmd_locate)


def _add_batch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting batch``."""
    bat = sub.add_parser(
        "batch",
        help="many regions in one batch, on Dask (a local cluster or an existing one)",
        formatter_class=_FMT,
        description=(
            "Run `siting run` for many regions on Dask: one folder per region under --out and\n"
            "merged pairings.csv, gaps.csv, indicators.csv and summary_by_region.csv. A county\n"
            "of a loadable city is cut from the city's data with a border buffer, so a\n"
            "facility near a county line may pair across it; rows the buffer cannot vouch for\n"
            "say so (border_exact=False). Failed regions are retried, then reported; a rerun\n"
            "recomputes only what failed or changed. Without --scheduler a local cluster sized\n"
            "to the machine is started. See docs/scale.md.\n"
            "With --facilities (your own list, any place) the list is cut into groups\n"
            "(--group-by; default the county code, else the list's district column) with the\n"
            "same border buffers, one folder per group; --network gives the roads (else\n"
            "straight-line times).\n"
            "多区域批量计算（Dask）。"
        ),
        epilog=(
            "examples:\n"
            "  siting batch --regions 511302 511303 511722 --out out/batch\n"
            "  siting batch --regions all --out out/all --scheduler tcp://10.0.0.5:8786\n"
            "  siting batch --regions-file counties.txt --out out/batch --workers 2\n"
            "  siting batch --facilities 名录.xlsx --crs gcj02 --network roads.graphml "
            "--out out/by_district\n"
            "  siting batch --facilities list.csv --group-by 所属区县 --regions 黄浦 静安区 "
            "--out out/two\n"
        ),
    )
    which = bat.add_mutually_exclusive_group(required=False)
    which.add_argument(
        "--regions",
        nargs="+",
        type=_region_spec,
        help="codes, names, CODE@SEED, or all (with --facilities: the groups to run)",
    )
    which.add_argument("--regions-file", type=_regions_file, help="a file of regions, one per line")
    bat.add_argument("--out", type=_output_dir, required=True, help="output folder")
    bat.add_argument(
        "--facilities", type=_input_file, default=None, help="your facility file (any place)"
    )
    bat.add_argument("--crs", default=None, help="coordinate system of --facilities")
    bat.add_argument("--network", type=_input_file, default=None, help="road file of the area")
    bat.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    bat.add_argument(
        "--group-by",
        default=None,
        help="column of --facilities to group by (county code, else the district column); "
        "with --boundary, the column naming its areas",
    )
    bat.add_argument(
        "--boundary",
        type=_input_file,
        default=None,
        help="area polygons (any CRS), one group each: a facility belongs to the one it lies in",
    )
    bat.add_argument("--scheduler", default=None, help="address of a Dask scheduler")
    bat.add_argument(
        "--workers", type=_positive_int, default=None, help="local workers (cpu count)"
    )
    bat.add_argument(
        "--buffer-min", type=_positive_minutes, default=None, help="border buffer, minutes"
    )
    bat.add_argument(
        "--retries", type=_nonnegative_int, default=2, help="retries of a failed region (2)"
    )
    bat.add_argument(
        "--thresholds", type=_thresholds, default="15,30", help="village coverage minutes (15,30)"
    )
    bat.add_argument("--no-service-areas", action="store_true", help="skip service areas")
    bat.add_argument("--capacity", action="store_true", help="respect partner capacities")
    bat.add_argument("--rules", type=_input_file, default=None, help="pairing rules YAML")
    bat.add_argument("--layout", default="auto", help="layout spec name, auto or none")
    bat.add_argument("--seed", type=_seed, default=None, help="seed of the modelled parts")
    bat.add_argument("--quiet", action="store_true", help="no progress output")
    bat.add_argument("--force", action="store_true", help=_FORCE_HELP)
    bat.set_defaults(handler=_cmd_batch)


def _add_update(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting update``."""
    upd = sub.add_parser(
        "update",
        help="批量更新 add facilities to a registry and update a run, with a diff",
        formatter_class=_FMT,
        description=(
            "Append the validated facilities of --add to the registry (the registry as it was\n"
            "is kept in <registry>.history/), recompute only what the additions touch in the\n"
            "run folder --out (made earlier by `siting run --facilities REGISTRY`), and write\n"
            "diff.csv / diff.md: pairings that changed and why, gaps closed or opened,\n"
            "indicators before and after. A bad --add file changes nothing.\n"
            "新增机构后增量更新结果，并说明变化。"
        ),
        epilog=(
            "example:\n"
            "  siting data build --region xuanhan --out data/geo/xuanhan.gpkg\n"
            "  siting run --region xuanhan --facilities data/geo/xuanhan.gpkg --out out/xuanhan\n"
            "  siting update --registry data/geo/xuanhan.gpkg --add new.csv --crs gcj02 "
            "--out out/xuanhan\n"
        ),
    )
    upd.add_argument("--registry", type=_input_file, required=True, help="the registry (.gpkg)")
    upd.add_argument("--add", type=_input_file, required=True, help="new facilities (CSV/XLSX/...)")
    upd.add_argument("--crs", default=None, help="coordinate system of --add")
    upd.add_argument("--quiet", action="store_true", help="no progress output")
    upd.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="add facilities even if they match one already in the registry (same id; same "
        "kind and name within 50 m; or any within 10 m)",
    )
    upd.add_argument("--force", action="store_true", help=_FORCE_HELP)
    upd.add_argument("--out", type=_output_dir, required=True, help="the run folder to update")
    upd.set_defaults(handler=_cmd_update)


def _add_costs(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting costs``: nearest."""
    cost = sub.add_parser(
        "costs",
        help="travel times: nearest facilities by road",
        description="Travel times by road (车程): the nearest facilities of each point.",
        formatter_class=_FMT,
        epilog="example:\n  siting costs nearest --region xuanhan --from nursing_home "
        "--to health_center --k 3 --out nearest.csv\n",
    )
    cost_sub = cost.add_subparsers(dest="costs_command", metavar="ACTION")
    _add_costs_nearest(cost_sub)


def _add_costs_nearest(cost_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting costs nearest``."""
    cnear = cost_sub.add_parser(
        "nearest",
        help="write the k nearest facilities of each point by travel time (CSV)",
        formatter_class=_FMT,
        description=(
            "For every facility of the --from kinds (or every village with --from villages), the\n"
            "k nearest facilities of the --to kinds by road travel time, with the distance (km:\n"
            "road plus access legs; distance_m: road only), "
            "snap distances and a flag where a point is more than 2 km from the road network.\n"
            "Uses the region's modelled registry and modelled network unless --registry and\n"
            "--network give real ones; the output says which (data_source, method).\n"
            "计算各点到最近机构的车程（就近）。"
        ),
        epilog=(
            "examples:\n"
            "  siting costs nearest --region xuanhan --from nursing_home --to health_center "
            "--k 3 --out nearest.csv\n"
            "  siting costs nearest --region nanchong --from villages --to village_clinic "
            "--network roads.osm.pbf --out villages.csv\n"
        ),
    )
    cnear.add_argument(
        "--region", default=None, help="built-in region (or give --registry, any place)"
    )
    cnear.add_argument("--boundary", type=_input_file, default=None, help="boundary file (any CRS)")
    cnear.add_argument("--from", dest="origin", required=True,
                       help="kind(s), comma-separated, or 'villages'")  # fmt: skip
    cnear.add_argument("--to", dest="target", required=True, help="kind(s), comma-separated")
    cnear.add_argument(
        "--k", type=_positive_int, default=1, help="number of nearest facilities (1)"
    )
    cnear.add_argument("--registry", type=_input_file, default=None, help="your facility file")
    cnear.add_argument("--crs", default=None, help="coordinate system of --registry")
    cnear.add_argument(
        "--network", type=_input_file, default=None, help="road file (.pbf/.graphml/...)"
    )
    cnear.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    cnear.add_argument(
        "--direction",
        default="to_facility",
        choices=["to_facility", "from_facility"],
        help="travel from the point to the facility (default) or back",
    )
    cnear.add_argument("--out", type=_output_file, required=True, help="output CSV")
    cnear.set_defaults(handler=_cmd_costs_nearest)


def _add_registry(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting registry``: validate and geocode."""
    reg = sub.add_parser(
        "registry",
        help="check facility registries",
        description="Check facility registries (机构名录检查).",
        formatter_class=_FMT,
        epilog="example:\n  siting registry validate list.csv --crs gcj02\n",
    )
    reg_sub = reg.add_subparsers(dest="registry_command", metavar="ACTION")
    _add_registry_validate(reg_sub)
    _add_registry_geocode(reg_sub)


def _add_registry_validate(reg_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting registry validate``."""
    val = reg_sub.add_parser(
        "validate",
        help="report every problem of a registry file (exit code 1 on errors)",
        formatter_class=_FMT,
        description=(
            "Read a facility list (CSV in UTF-8 or GBK, .xlsx, GeoJSON, GeoPackage, or a web-map\n"
            "POI export) and report every problem at once: file, row, column and reason, in\n"
            "Chinese and English. Exit code 0 when clean, 1 when there are errors.\n"
            "检查机构名录文件，一次列出全部问题（文件、行、列、原因）。"
        ),
        epilog=(
            "examples:\n"
            "  siting registry validate 养老机构.csv --crs gcj02 --region nanchong\n"
            "  siting registry validate poi_export.xlsx --poi-source amap\n"
        ),
    )
    val.add_argument("file", type=Path, help="CSV, XLSX, GeoJSON or GeoPackage file")
    val.add_argument(
        "--crs", default=None, help="coordinate system of the file: wgs84, gcj02 or bd09"
    )
    val.add_argument("--region", default=None, help="check points lie in this region")
    val.add_argument("--margin-km", type=_margin_km, default=None, help="allowed distance outside")
    val.add_argument("--sheet", default=None, help="Excel sheet name")
    val.add_argument("--layer", default=None, help="GeoPackage layer")
    val.add_argument("--poi-source", default=None, choices=["amap", "tencent", "baidu"])
    val.set_defaults(handler=_cmd_validate)


def _add_registry_geocode(reg_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``siting registry geocode``."""
    geo = reg_sub.add_parser(
        "geocode",
        help="fill missing coordinates from the address column (地理编码; uses the network)",
        formatter_class=_FMT,
        description=(
            "Fill the empty lon/lat of a facility list (CSV in UTF-8 or GBK, or .xlsx) from its\n"
            "address column (地址/详细地址/address; else the name) through a web map's geocoding\n"
            "service: amap (高德, GCJ-02), baidu (百度, BD-09) or tianditu (天地图, CGCS2000).\n"
            "Points are converted to WGS84; every row and column is kept, rows with coordinates\n"
            "are not touched, and geocode_provider/_crs/_level/_query/_status/_note say what\n"
            "happened. Matches only at 区县/市/省 level, vague ones, and points many addresses\n"
            "share (a fallback) are location=approximate and listed, never used as exact.\n"
            "Answers are cached (a rerun sends no request), requests are rate limited and\n"
            "retried. The key comes from --key or SITING_AMAP_KEY / SITING_BAIDU_AK /\n"
            "SITING_TIANDITU_TK and is never printed (the environment keeps it out of the\n"
            "shell history). Exit code 0 when the file was written, 1 when no row could be\n"
            "located, 2 for a usage error or a refused key.\n"
            "按地址批量查询坐标（高德/百度/天地图），结果转为 WGS84，并标出大致位置。"
        ),
        epilog=(
            "examples:\n"
            "  export SITING_AMAP_KEY=...   # 高德 Web服务 key\n"
            "  siting registry geocode 养老机构.xlsx --provider amap --city 南充市 "
            "--out 养老机构_坐标.xlsx\n"
            "  siting registry geocode list.csv --provider tianditu --out list_geocoded.csv\n"
            "  siting registry validate list_geocoded.csv --crs wgs84\n"
        ),
    )
    geo.add_argument("file", type=_input_file, help="CSV or XLSX facility list")
    geo.add_argument(
        "--provider", required=True, choices=["amap", "tianditu", "baidu"], help="the service"
    )
    geo.add_argument(
        "--key",
        default=None,
        help="the service's key (default SITING_AMAP_KEY, SITING_BAIDU_AK or SITING_TIANDITU_TK)",
    )
    geo.add_argument(
        "--out", type=_output_file, required=True, help="output file: .csv, .xlsx or .gpkg"
    )
    geo.add_argument("--city", default=None, help="city hint, e.g. 南充市 (查询城市)")
    geo.add_argument("--rate", type=_positive_rate, default=None, help="requests per second (3)")
    geo.add_argument(
        "--timeout", type=_positive_seconds, default=10.0, help="seconds per request (10)"
    )
    geo.add_argument(
        "--retries", type=_nonnegative_int, default=3, help="retries of a failed request (3)"
    )
    geo.add_argument("--sheet", default=None, help="Excel sheet name")
    geo.add_argument("--encoding", default=None, help="CSV encoding (default UTF-8, else GBK)")
    geo.add_argument(
        "--crs", default=None, help="system of the coordinates already in the file (for .gpkg)"
    )
    geo.add_argument(
        "--approximate-levels",
        default=None,
        help="levels flagged approximate, comma-separated (default 区县,市,省,未知)",
    )
    geo.add_argument(
        "--cache-dir", type=Path, default=None, help="answer cache (data_dir/geocode_cache)"
    )
    geo.add_argument("--no-cache", action="store_true", help="ask again, store nothing")
    geo.add_argument(
        "--url", default=None, help="service URL override (default: the documented endpoint)"
    )
    geo.set_defaults(handler=_cmd_geocode)


def _print_issues(issues: list[Issue], file: Path) -> int:
    """Every problem, bilingual, at most about 200 lines (the rest summarised by reason)."""
    from siting import registry

    for line in registry.format_issues(issues, file=file):
        print(line)
    return 1 if any(i.severity == "error" for i in issues) else 0


def _cmd_build(args: argparse.Namespace) -> int:
    from siting import modelled, regions, registry

    start = time.perf_counter()
    print(f"载入区域 loading region {args.region} ...", flush=True)
    region = regions.load(args.region, seed=args.seed, reference_dir=args.reference_dir)
    print(f"  {region}", flush=True)
    print("生成模拟机构名录 generating the modelled registry ...", flush=True)
    path = modelled.build(region, out=args.out, seed=args.seed)
    facilities = registry.read(path)
    counts = facilities["kind"].value_counts().sort_index()
    print(f"写入 wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print("机构数 facilities by kind (source=modelled):")
    for kind, n in counts.items():
        label = registry.kind_label(str(kind))
        print(f"  {label}\t{kind:<24} {n:>6}")
    if "beds" in facilities:
        print(f"  床位 beds (elderly-care and hospitals): {int(facilities['beds'].sum()):,}")
    imputed = int((region.townships["coord_quality"] == "imputed").sum())
    print(
        f"乡镇 {len(region.townships)} townships ({imputed} seats imputed), "
        f"村/社区 {len(region.villages)} villages (modelled points); "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


def _cmd_regions(args: argparse.Namespace) -> int:
    from siting import regions

    table = regions.available(reference_dir=args.reference_dir)
    for code, row in table.iterrows():
        state = "ok" if row["loadable"] else f"not loadable: {row['reason']}"
        alias = f" ({row['alias']})" if row["alias"] else ""
        print(f"{code}  {row['name']}{alias}  [{row['level']}]  {state}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from siting import regions, registry

    boundary = None
    points = None
    if args.region:
        region = regions.load(args.region)
        boundary = region.outline
        known = region.townships[region.townships["coord_quality"] == "reference"]
        points = known.rename(columns={"lon": "lon_wgs84", "lat": "lat_wgs84"})
    margin = args.margin_km * 1000.0 if args.margin_km is not None else None
    issues = registry.validate(
        args.file,
        crs=args.crs,
        sheet=args.sheet,
        layer=args.layer,
        boundary=boundary,
        margin_m=margin,
        poi_source=args.poi_source,
        reference_points=points,
    )
    return _print_issues(issues, args.file)


def _cmd_geocode(args: argparse.Namespace) -> int:
    from siting import geocode

    levels = args.approximate_levels
    result = geocode.geocode_file(
        args.file,
        provider=args.provider,
        key=args.key,
        out=args.out,
        city=args.city,
        sheet=args.sheet,
        encoding=args.encoding,
        crs=args.crs,
        rate=args.rate,
        timeout=args.timeout,
        retries=args.retries,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        url=args.url,
        approximate_levels=levels.replace("，", ",").split(",") if levels else None,
        log=lambda line: print(line, flush=True),
    )
    print(result.summary())
    if result.nothing_located:
        print("没有任何一行得到坐标 no row could be located (exit code 1)")
        return 1
    return 0


def _print_graph(graph: Any, path: Path) -> None:
    import networkx as nx

    from siting import network

    km = sum(float(d.get("length", 0.0)) for _, _, d in graph.edges(data=True)) / 1000.0
    parts = nx.number_weakly_connected_components(graph)
    label = "模拟 modelled" if graph.graph.get("modelled") else "实际 real"
    print(f"写入 wrote {path}: {label} road network")
    print(
        f"  {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} directed edges, "
        f"{km:,.0f} km of directed edges, {parts} connected part(s)"
    )
    if graph.number_of_nodes():
        c = network.connectivity(graph)
        others = c["sizes"][1:]
        sizes = ", ".join(f"{n:,}" for n in others[:8]) + (", ..." if c["components"] > 9 else "")
        if c["components"] == 1:
            print("  双向连通 strongly connected: one part, every node reaches every other")
        else:
            print(
                f"  双向连通 strongly connected: largest part {c['largest_nodes']:,} nodes "
                f"({c['largest_share']:.1%}); {c['components'] - 1:,} other part(s) of {sizes} "
                f"nodes; {c['outside_largest_km']:,.1f} km ({c['outside_largest_share']:.1%}) of "
                "the directed edges lie outside the largest part"
            )
        if c["island_nodes"]:
            print(
                f"  {c['islands']:,} island(s) (孤岛: one-way dead ends, fragments) hold "
                f"{c['island_nodes']:,} nodes; points are tied to the larger parts instead"
            )
    _print_source_warnings(graph)


def _print_source_warnings(graph: Any) -> None:
    """The warnings a loader kept in the graph's ``source`` (e.g. its CRS evidence), on stderr."""
    source = graph.graph.get("source")
    notes = source.get("warnings") if isinstance(source, dict) else None
    for note in notes or ():
        print(f"提示 warning: {note}", file=sys.stderr)


def _cmd_network_build(args: argparse.Namespace) -> int:
    from siting import data_dir, network, regions

    region = regions.load(args.region, seed=args.seed)
    graph = network.modelled(region, seed=args.seed)
    out = args.out or data_dir() / f"{region.slug}_roads.graphml"
    _print_graph(graph, network.to_graphml(graph, out))
    return 0


def _class_map_arg(text: str) -> dict[str, str]:
    """``--class-map LABEL=CLASS,...`` as a dict."""
    import re

    out: dict[str, str] = {}
    for item in re.split(r"[,，]", text):
        if not item.strip():
            continue
        label, sep, cls = item.partition("=")
        if not sep or not label.strip() or not cls.strip():
            msg = (
                f"--class-map: {item.strip()!r} is not LABEL=CLASS (e.g. 二级公路=secondary) "
                "(格式应为 标签=等级)"
            )
            raise SitingError(msg)
        out[label.strip()] = cls.strip()
    return out


def _cmd_network_import(args: argparse.Namespace) -> int:
    import warnings

    from siting import network

    options: dict[str, Any] = {}
    if args.encoding is not None:
        options["encoding"] = args.encoding
    if args.oneway_column is not None:
        none = args.oneway_column.strip().lower() in ("none", "no", "false")
        options["oneway_column"] = False if none else args.oneway_column
    if args.class_column is not None:
        options["class_column"] = args.class_column
    if args.class_map is not None:
        options["class_map"] = _class_map_arg(args.class_map)
    if args.layer is not None:
        options["layer"] = args.layer
    name = args.file.name.lower()
    if options and not name.endswith(network.LINE_SUFFIXES):
        given = ", ".join("--" + k.replace("_", "-") for k in options)
        msg = (
            f"{given}: for line layers ({', '.join(network.LINE_SUFFIXES)}) only, not "
            f"{args.file.name} (仅适用于线图层)"
        )
        raise SitingError(msg)
    with warnings.catch_warnings():  # its warnings are printed from the graph, once
        warnings.simplefilter("ignore", network.NetworkWarning)
        graph = network.load(args.file, crs=args.crs, **options)
    _print_graph(graph, network.to_graphml(graph, args.out))
    return 0


def _cmd_network_fetch(args: argparse.Namespace) -> int:
    from siting import network, osm_fetch, regions

    area = regions.study_area(args.region, boundary=args.boundary)
    buffer_m = args.buffer_km * 1000.0
    reused = not args.refresh and osm_fetch.cached_roads(area, out=args.out, buffer_m=buffer_m)
    path = osm_fetch.fetch_roads(
        area,
        out=args.out,
        buffer_m=buffer_m,
        overpass_url=args.overpass_url,
        timeout_s=args.timeout,
        refresh=args.refresh,
    )
    graph = network.load(path)
    if reused:
        km = sum(float(d.get("length", 0.0)) for _, _, d in graph.edges(data=True)) / 1000.0
        print(f"沿用 reused {path} (--refresh downloads again): 实际 real road network")
        print(f"  {len(graph):,} nodes, {graph.number_of_edges():,} directed edges, {km:,.0f} km")
    else:
        _print_graph(graph, path)
    print(
        f"  OpenStreetMap data of {graph.graph.get('osm_data_utc', '?')}, downloaded "
        f"{graph.graph.get('downloaded_utc', '?')} from {graph.graph.get('overpass_url', '?')}; "
        f"{osm_fetch.ATTRIBUTION}"
    )
    return 0


def _kinds_arg(text: str) -> list[str]:
    """A comma-separated list of kinds from the command line."""
    return [k.strip() for k in text.split(",") if k.strip()]


def _cmd_costs_nearest(args: argparse.Namespace) -> int:
    import pandas as pd

    from siting import costs, modelled, network, regions, registry
    from siting._io import write_csv

    region = regions.load(args.region) if args.region else None
    if region is None and args.registry is None:
        msg = "give --region (a built-in region) or --registry (your facility file)"
        raise SitingError(msg)
    outline = (
        regions.study_area(region, boundary=args.boundary).outline
        if region is not None or args.boundary is not None
        else None
    )
    if args.registry is not None:
        facilities = registry.read(args.registry, crs=args.crs, boundary=outline)
        data_source = "user"
    else:
        assert region is not None
        facilities = modelled.registry_for(region)
        data_source = "modelled"
    roads: Any = None
    if args.network is not None:
        roads = network.load(args.network, crs=args.network_crs)
        network.check_against(roads, facilities, where=f"road network {args.network}")
    elif region is not None:
        print("使用模拟路网 using the modelled road network (not surveyed)", flush=True)
        roads = network.modelled(region)
    else:
        print(
            "注意：没有路网，车程按直线距离估算 no road network: straight-line estimates "
            "(give --network FILE)",
            flush=True,
        )
    targets = _kinds_arg(args.target)
    if args.origin.strip() == "villages":
        if region is None:
            msg = "--from villages needs a built-in --region (its villages)"
            raise SitingError(msg)
        demand = region.villages
    else:
        kinds = _kinds_arg(args.origin)
        unknown = [k for k in kinds + targets if k not in registry.KINDS]
        if unknown:
            msg = f"unknown kind(s) {', '.join(unknown)}; kinds: {', '.join(registry.KINDS)}"
            raise SitingError(msg)
        demand = facilities[facilities["kind"].isin(kinds)]
    names = demand["name"]
    result = costs.nearest(
        roads, demand, facilities, k=args.k, kind=targets, direction=args.direction
    )
    out = pd.DataFrame(
        {
            "demand_id": result["demand_id"],
            "demand_name": result["demand_id"].map(names),
            "rank": result["rank"],
            "facility_id": result["facility_id"],
            "facility_name": result["facility_id"].map(facilities["name"]),
            "minutes": (result["time_s"] / 60.0).round(2),
            # road metres plus the straight access legs between each point and its road node
            "km": (
                (result["distance_m"] + result["demand_snap_m"] + result["facility_snap_m"])
                / 1000.0
            ).round(3),
        }
    )
    out = pd.concat([out, result.drop(columns=["demand_id", "rank", "facility_id"])], axis=1)
    out["network"] = (
        "none (straight line)"
        if roads is None
        else ("modelled" if roads.graph.get("modelled") else "real")
    )
    out["data_source"] = data_source
    write_csv(out, args.out)
    reached = result[result["rank"] == 1]
    print(
        f"写入 wrote {args.out}: {len(demand)} points x k={args.k}; "
        f"nearest median {reached['time_s'].median() / 60:.1f} min, "
        f"{int((~reached['reachable']).sum())} unreachable, "
        f"{int(reached['snap_flag'].sum())} flagged (> 2 km from a road)"
    )
    return 0


def _minutes_arg(text: str | Sequence[float]) -> list[float]:
    """``--thresholds``: positive minutes separated by commas (a parsed list passes through)."""
    parts: list[Any] = text.split(",") if isinstance(text, str) else list(text)
    values: list[float] = []
    for part in parts:
        if isinstance(part, str) and not part.strip():
            continue
        try:
            value = float(part)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            values = []
            break
        values.append(value)
    if not values:
        msg = (
            f"--thresholds must be positive minutes separated by commas (e.g. 15,30), got "
            f"{text!r} (--thresholds 须为逗号分隔的正分钟数，如 15,30)"
        )
        raise SitingError(msg)
    return values


def _patrol_kw(args: argparse.Namespace) -> dict[str, Any]:
    """``{"patrol_options": ...}`` for ``pipeline.run`` when a ``--patrol-*`` option is given."""
    opts = _patrol_options(args) if hasattr(args, "patrol_frequency") else {}
    return {"patrol_options": opts} if opts else {}


def _cmd_run(args: argparse.Namespace) -> int:
    from siting import pipeline

    thresholds = _minutes_arg(args.thresholds)
    if args.region is None and args.facilities is None:
        msg = "give --region (a built-in region) or --facilities (your facility file)"
        raise SitingError(msg)
    network = args.network
    if getattr(args, "fetch_roads", False):
        from siting import osm_fetch

        if args.network is not None:
            msg = "give either --network or --fetch-roads, not both (只能二选一)"
            raise SitingError(msg)
        network = osm_fetch.roads_for_run(
            args.region,
            boundary=args.boundary,
            facilities=args.facilities,
            crs=args.crs,
            progress=not args.quiet,
        )
    result = pipeline.run(
        args.region,
        out=args.out,
        facilities=args.facilities,
        network=network,
        crs=args.crs,
        network_crs=args.network_crs,
        boundary=args.boundary,
        rules=args.rules,
        capacity=args.capacity,
        thresholds_min=thresholds,
        service_area_kinds=None
        if args.service_areas.strip() == "none"
        else _kinds_arg(args.service_areas),
        service_area_mode=args.service_area_mode,
        layout=None if args.layout == "none" else args.layout,
        maps=not args.no_maps,
        basemap=args.basemap,
        recommend_p=args.recommend,
        recommend_kind=args.recommend_kind,
        seed=args.seed,
        progress=not args.quiet,
        force=getattr(args, "force", False),
        **_patrol_kw(args),
    )
    s = result.summary
    _print_warnings(result.manifest.get("inputs", {}).get("facilities", {}).get("warnings", []))
    print(f"数据 data: {s['data']}")
    for rule, r in s["rules"].items():
        if r.get("facilities") and not r.get("partners"):
            print(
                f"  {r['rule_zh']} ({rule}): 名录中没有可配对的机构，未配对 no partner in the list"
            )
            continue
        share, median = r.get("share_within"), r.get("median_min")
        print(
            f"  {r['rule_zh']} ({rule}): {r['paired']}/{r['facilities']} paired, "
            f"{r['within_threshold']} within {r['threshold_min']:g} min"
            + (f" ({share:.1%})" if share is not None else "")
            + (
                f", median {median:.1f} min"
                if median is not None
                else ", 无可配对的机构 no partner reached"
            )
        )
    if "recommendations" in s:
        print(f"  {s['recommendations']['sentence_zh']}")
    villages = s["gaps"]["villages_by_threshold_min"]
    if villages:
        print(f"  村覆盖缺口 village gaps by threshold (min): {villages}")
    travel = s.get("travel_times", {})
    if travel.get("straight_line"):
        print(f"  注意 note: {travel['note_zh']} / {travel['note']}")
    for item in s.get("not_computed", []):
        print(f"  未计算 not computed: {item['output']}: {item['reason_zh']} / {item['reason']}")
    print(f"写入 wrote {len(result.files)} files to {result.out}")
    return 0


def _cmd_locate(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    import geopandas as gpd

    from siting import locate, maps, modelled, network, regions, registry
    from siting._io import write_csv
    from siting._outdir import OutputFolder

    if args.region is None and args.facilities is None:
        msg = "give --region (a built-in region) or --facilities (your facility file)"
        raise SitingError(msg)
    if args.region is None and args.candidates == "villages":
        msg = "--candidates villages needs a built-in --region (its villages)"
        raise SitingError(msg)
    with OutputFolder(args.out, force=getattr(args, "force", False)) as folder:
        region = regions.load(args.region) if args.region else None
        outline = (
            regions.study_area(region, boundary=args.boundary).outline
            if region is not None or args.boundary is not None
            else None
        )
        if args.facilities is not None:
            facilities = registry.read(args.facilities, crs=args.crs, boundary=outline)
            from siting.pipeline import reader_warnings

            _print_warnings(reader_warnings(facilities))
        else:
            assert region is not None
            facilities = modelled.registry_for(region)
        roads: Any = None
        if args.network is not None:
            roads = network.load(args.network, crs=args.network_crs)
            network.check_against(roads, facilities, where=f"road network {args.network}")
        elif region is not None:
            print("使用模拟路网 using the modelled road network (not surveyed)", flush=True)
            roads = network.modelled(region)
        else:
            print(
                "注意：没有路网，车程按直线距离估算 no road network: straight-line estimates "
                "(give --network FILE)",
                flush=True,
            )
        candidates: str | gpd.GeoDataFrame = args.candidates
        demand = None
        pop_column = "pop_60plus"
        if region is None:
            # anywhere: the elderly-care facilities are the demand (weighted by beds, 1 without)
            demand = locate.facility_demand(facilities)
            pop_column = "weight"
            if args.candidates == "townships":  # the default: next to the elderly-care sites
                candidates = demand
        if args.candidates not in ("townships", "villages"):
            candidates = registry.read(Path(args.candidates), crs=args.crs, boundary=outline)
        model = "p_median" if args.model == "pmedian" else args.model
        result = locate.recommend(
            region,
            roads,
            facilities,
            demand,
            model=model,
            p=args.p,
            threshold_min=args.threshold,
            kind=_kinds_arg(args.kind),
            candidates=candidates,
            pop_column=pop_column,
            time_limit_s=args.time_limit,
        )
        coloc = locate.colocation(facilities, region, network=roads)
        page = maps.meeting_map(
            region=region, facilities=facilities, recommendations=result.recommendations
        )

        def recommendations(path: Path) -> None:
            locate.write(result, path.parent)  # the CSV and the JSON beside it

        def written_with_the_csv(path: Path) -> None:
            pass

        def colocated(path: Path) -> None:
            write_csv(coloc, path)

        def meeting_map(path: Path) -> None:
            maps.save_html(page, path)

        writers: dict[str, Callable[[Path], None]] = {
            "recommendations.csv": recommendations,
            "recommendations.json": written_with_the_csv,
            "colocation.csv": colocated,
            "maps/recommendations.html": meeting_map,
        }
        manifest = {
            "siting_version": __version__,
            "command": "locate",
            "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "settings": {
                "region": None if region is None else region.code,
                "model": model,
                "p": args.p,
                "threshold_min": args.threshold,
                "kind": args.kind,
                "candidates": str(args.candidates),
            },
            "status": result.status,
            "files": sorted([*writers, "manifest.json"]),
        }
        text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        folder.commit(writers, text)
    print(result.sentence_zh)
    print(result.sentence_en)
    print(f"求解状态 solver status: {result.status}")
    print(
        f"写入 wrote {args.out}: recommendations.csv, recommendations.json, colocation.csv, "
        "maps/recommendations.html"
    )
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from siting import batch

    thresholds = _minutes_arg(args.thresholds)
    own = args.facilities is not None
    regions: Any = (
        batch.read_regions_file(args.regions_file)
        if args.regions_file is not None
        else ("all" if args.regions == ["all"] else args.regions)
    )
    options: dict[str, Any] = {"thresholds_min": thresholds, "capacity": args.capacity}
    if args.no_service_areas:
        options["service_area_kinds"] = None
    if args.rules is not None:
        options["rules"] = str(args.rules)
    if args.layout != "auto":
        options["layout"] = None if args.layout == "none" else args.layout
    if args.seed is not None:
        options["seed"] = args.seed
    if own:
        options.update(
            facilities=args.facilities,
            network=args.network,
            group_by=args.group_by,
            boundaries=args.boundary,
            crs=args.crs,
            network_crs=args.network_crs,
        )
    result = batch.run_batch(
        regions,
        args.out,
        force=getattr(args, "force", False),
        scheduler=args.scheduler,
        workers=args.workers,
        buffer_min=args.buffer_min,
        retries=args.retries,
        progress=not args.quiet,
        **options,
    )
    counts = result.manifest.get("counts", {})
    print(f"区域 regions: {counts}")
    for outcome in result.failed[:20]:
        print(f"  失败 failed {outcome.code} {outcome.name}: {outcome.error}", file=sys.stderr)
    print(f"写入 wrote {args.out}")
    return 1 if result.failed else 0


def _print_warnings(lines: Sequence[str]) -> None:
    """The registry reader's warnings (file, row, column, reason), on stderr."""
    if lines:
        print(f"提示 {len(lines)} warning(s) reading the facility list:", file=sys.stderr)
        for line in lines:
            print(f"  [提示 WARNING] {line}", file=sys.stderr)


def _cmd_update(args: argparse.Namespace) -> int:
    from siting import pipeline

    result = pipeline.update(
        args.registry,
        args.add,
        out=args.out,
        crs=args.crs,
        progress=not args.quiet,
        allow_duplicates=getattr(args, "allow_duplicates", False),
        force=getattr(args, "force", False),
    )
    if result.run is not None:
        _print_warnings(result.run.manifest.get("update", {}).get("warnings", []))
    if result.already_applied:
        print(f"已完成，无需再更新 already up to date: {len(result.added)} facilities added before")
        return 0
    counts = result.diff["change"].value_counts()
    print(f"新增 added {len(result.added)} facilities to {result.registry}")
    print(f"  之前的名录 earlier registry kept as {result.history}")
    for change, n in counts.items():
        print(f"  {change}: {n}")
    print(f"写入 wrote {args.out / 'diff.csv'} and {args.out / 'diff.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``siting`` command; returns the exit code.

    Every error ends in one line on stderr, never a traceback (``SITING_DEBUG=1`` shows it):
    bad arguments stop argparse (exit 2); a :class:`SitingError` or a bad value
    (``ValueError``, ``OverflowError``) exits 2; a file-system error (``OSError``), running out
    of memory or an unexpected error exits 1; Ctrl-C exits 130.
    """
    try:
        return _dispatch(argv)
    except BaseException as exc:
        debug = os.environ.get("SITING_DEBUG", "").strip() not in ("", "0")
        if debug or isinstance(exc, SystemExit | GeneratorExit):
            raise
        return _report(exc)


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        sub = args.command if args.command in {"data", "registry", "network", "costs"} else None
        parser.parse_args([sub, "--help"] if sub else ["--help"])
        return 2
    _check_args(args)
    return handler(args)


def _check_kinds(option: str, kinds: list[str]) -> None:
    from siting import registry

    if not kinds:
        msg = f"{option}: give at least one kind (至少给出一种机构类型)"
        raise SitingError(msg)
    unknown = [k for k in kinds if k not in registry.KINDS]
    if unknown:
        msg = (
            f"{option}: unknown kind(s) {', '.join(unknown)} (未知机构类型); "
            f"kinds: {', '.join(registry.KINDS)}"
        )
        raise SitingError(msg)


def _check_args(args: argparse.Namespace) -> None:
    """Checks across options, made before any data is loaded (the command would fail late)."""
    if args.command == "locate":
        if args.model == "lscp" and args.p is not None:
            msg = "--p is not used by --model lscp (it finds the fewest sites) (lscp 不需要 --p)"
            raise SitingError(msg)
        if args.model != "lscp" and args.p is None:
            msg = f"--model {args.model} needs --p, the number of new sites (需要 --p 新增数量)"
            raise SitingError(msg)
        if args.facilities is None:  # the modelled registry holds the known kinds only
            _check_kinds("--kind", _kinds_arg(args.kind))
    elif args.command == "costs":
        if args.origin.strip() != "villages":
            _check_kinds("--from", _kinds_arg(args.origin))
        _check_kinds("--to", _kinds_arg(args.target))
    elif args.command == "batch":
        if args.facilities is None and args.regions is None and args.regions_file is None:
            msg = (
                "give --regions or --regions-file (built-in regions) or --facilities (your own "
                "list) (请指定 --regions、--regions-file 或 --facilities)"
            )
            raise SitingError(msg)
        own_only = {
            "--network": args.network,
            "--group-by": args.group_by,
            "--boundary": args.boundary,
            "--crs": args.crs,
            "--network-crs": args.network_crs,
        }
        given = [o for o, v in own_only.items() if v is not None]
        if args.facilities is None and given:
            msg = f"{', '.join(given)}: only with --facilities (仅用于 --facilities)"
            raise SitingError(msg)
    elif args.command == "run":
        if args.service_areas.strip() != "none":
            _check_kinds("--service-areas", _kinds_arg(args.service_areas))
        if args.recommend is not None and args.facilities is None:
            _check_kinds("--recommend-kind", _kinds_arg(args.recommend_kind))


def _report(exc: BaseException) -> int:
    """One line on stderr for an error of a command, and its exit code; never a traceback."""
    code, text = _describe(exc)
    if isinstance(exc, BrokenPipeError):
        # the reader of our output went away (``siting ... | head``): nothing more to say
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return code
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    print(text, file=sys.stderr)
    return code


def _path_text(name: object) -> str:
    return os.fsdecode(name) if isinstance(name, str | bytes | os.PathLike) else str(name)


def _describe(exc: BaseException) -> tuple[int, str]:
    """Exit code and message of an error (SITING_DEBUG=1 shows the traceback instead)."""
    if isinstance(exc, SitingError):
        return 2, f"错误 error: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return 130, "已中断 interrupted"
    if isinstance(exc, MemoryError):
        detail = f" ({exc})" if str(exc) else ""
        return 1, (
            f"错误 error: 内存不足 out of memory{detail}; try a smaller region or close other "
            "programs (请缩小区域或关闭其他程序)"
        )
    if isinstance(exc, OSError):
        if exc.filename is None:  # e.g. a full disk met by write(), a lost connection
            kind = type(exc).__name__
            return 1, f"错误 error: 系统错误 system error ({kind}): {_os_reason(exc)}"
        where = _path_text(exc.filename)
        if exc.filename2 is not None:
            where += f" -> {_path_text(exc.filename2)}"
        return 1, f"错误 error: 无法读写 cannot read or write {where}: {_os_reason(exc)}"
    if isinstance(exc, UnicodeError):
        return (
            2,
            f"错误 error: 文本编码无法识别 text in an unexpected encoding (save as UTF-8): {exc}",
        )
    if isinstance(exc, ValueError | OverflowError):
        return 2, f"错误 error: 数值无效 invalid value: {exc}"
    from xml.etree.ElementTree import ParseError

    if isinstance(exc, ParseError):  # a damaged .osm/.graphml file
        return 2, f"错误 error: 文件无法解析 a file could not be parsed (XML): {exc}"
    return 1, (
        f"内部错误 internal error: {type(exc).__name__}: {exc} "
        "(set SITING_DEBUG=1 to see the traceback)"
    )


if __name__ == "__main__":
    sys.exit(main())
