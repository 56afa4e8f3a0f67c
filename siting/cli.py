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
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siting import __version__
from siting._errors import Issue, SitingError

__all__ = ["main"]

_FMT = argparse.RawDescriptionHelpFormatter


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

    data = sub.add_parser(
        "data",
        help="build and list the built-in regions' data",
        description="Build and list the built-in regions' data (构建内置区域数据).",
        formatter_class=_FMT,
        epilog="examples:\n  siting data build --region nanchong\n  siting data regions\n",
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
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
    build.add_argument("--seed", type=int, default=None, help="seed of the modelled parts")
    build.add_argument("--out", type=Path, default=None, help="output .gpkg (default data/geo/)")
    build.add_argument("--reference-dir", type=Path, default=None, help="other reference folder")
    data_sub.add_parser(
        "regions",
        help="list the regions of the reference tables and whether each can be loaded",
        description="List the built-in regions (列出内置区域).",
        epilog="example:\n  siting data regions\n",
        formatter_class=_FMT,
    ).add_argument("--reference-dir", type=Path, default=None, help="other reference folder")

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
    nbuild.add_argument("--seed", type=int, default=None, help="seed of the village points")
    nbuild.add_argument("--out", type=Path, default=None, help="output .graphml")
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
    nimport.add_argument("file", type=Path, help="road file")
    nimport.add_argument("--crs", default=None, help="line layers: wgs84, gcj02, bd09 or EPSG")
    nimport.add_argument("--out", type=Path, required=True, help="output .graphml")

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
    run.add_argument("--facilities", type=Path, default=None, help="your facility file")
    run.add_argument("--crs", default=None, help="coordinate system of --facilities "
                     "(wgs84, gcj02, bd09)")  # fmt: skip
    run.add_argument(
        "--network", type=Path, default=None, help="road file: .graphml/.osm/.pbf/.shp/.gpkg ..."
    )
    run.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    run.add_argument("--boundary", type=Path, default=None, help="boundary file (any CRS)")
    run.add_argument("--rules", type=Path, default=None, help="pairing rules YAML")
    run.add_argument("--capacity", action="store_true", help="respect partner capacities")
    run.add_argument("--thresholds", default="15,30", help="village coverage minutes (15,30)")
    run.add_argument(
        "--service-areas",
        default="health_center,community_health_center",
        help="kinds whose service areas are drawn, comma-separated, or 'none'",
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
        "--recommend", type=int, default=None, metavar="P", help="also recommend P new sites"
    )
    run.add_argument("--recommend-kind", default="health_center", help="kind of the new sites")
    run.add_argument("--seed", type=int, default=None, help="seed of the modelled parts")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--out", type=Path, required=True, help="output folder")

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
        ),
    )
    loc.add_argument("--region", required=True, help="built-in region: name, code or alias")
    loc.add_argument("--model", required=True, choices=["mclp", "lscp", "p_median", "pmedian"])
    loc.add_argument("--p", type=int, default=None, help="number of new sites (mclp, p_median)")
    loc.add_argument("--threshold", type=float, default=30.0, help="minutes (30)")
    loc.add_argument("--kind", default="health_center", help="kind(s) to add, comma-separated")
    loc.add_argument(
        "--candidates", default="townships", help="townships, villages, or a file of sites"
    )
    loc.add_argument("--facilities", type=Path, default=None, help="your facility file")
    loc.add_argument("--crs", default=None, help="coordinate system of --facilities/--candidates")
    loc.add_argument("--network", type=Path, default=None, help="road file")
    loc.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    loc.add_argument("--time-limit", type=float, default=60.0, help="solver seconds (60)")
    loc.add_argument("--out", type=Path, required=True, help="output folder")

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
            "多区域批量计算（Dask）。"
        ),
        epilog=(
            "examples:\n"
            "  siting batch --regions 511302 511303 511722 --out out/batch\n"
            "  siting batch --regions all --out out/all --scheduler tcp://10.0.0.5:8786\n"
            "  siting batch --regions-file counties.txt --out out/batch --workers 2\n"
        ),
    )
    which = bat.add_mutually_exclusive_group(required=True)
    which.add_argument("--regions", nargs="+", help="codes, names, CODE@SEED, or all")
    which.add_argument("--regions-file", type=Path, help="a file of regions, one per line")
    bat.add_argument("--out", type=Path, required=True, help="output folder")
    bat.add_argument("--scheduler", default=None, help="address of a Dask scheduler")
    bat.add_argument("--workers", type=int, default=None, help="local workers (cpu count)")
    bat.add_argument("--buffer-min", type=float, default=None, help="border buffer, minutes")
    bat.add_argument("--retries", type=int, default=2, help="retries of a failed region (2)")
    bat.add_argument("--thresholds", default="15,30", help="village coverage minutes (15,30)")
    bat.add_argument("--no-service-areas", action="store_true", help="skip service areas")
    bat.add_argument("--capacity", action="store_true", help="respect partner capacities")
    bat.add_argument("--rules", type=Path, default=None, help="pairing rules YAML")
    bat.add_argument("--layout", default="auto", help="layout spec name, auto or none")
    bat.add_argument("--seed", type=int, default=None, help="seed of the modelled parts")
    bat.add_argument("--quiet", action="store_true", help="no progress output")

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
    upd.add_argument("--registry", type=Path, required=True, help="the registry (.gpkg)")
    upd.add_argument("--add", type=Path, required=True, help="new facilities (CSV/XLSX/...)")
    upd.add_argument("--crs", default=None, help="coordinate system of --add")
    upd.add_argument("--quiet", action="store_true", help="no progress output")
    upd.add_argument("--out", type=Path, required=True, help="the run folder to update")

    cost = sub.add_parser(
        "costs",
        help="travel times: nearest facilities by road",
        description="Travel times by road (车程): the nearest facilities of each point.",
        formatter_class=_FMT,
        epilog="example:\n  siting costs nearest --region xuanhan --from nursing_home "
        "--to health_center --k 3 --out nearest.csv\n",
    )
    cost_sub = cost.add_subparsers(dest="costs_command", metavar="ACTION")
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
    cnear.add_argument("--region", required=True, help="name, code or alias")
    cnear.add_argument("--from", dest="origin", required=True,
                       help="kind(s), comma-separated, or 'villages'")  # fmt: skip
    cnear.add_argument("--to", dest="target", required=True, help="kind(s), comma-separated")
    cnear.add_argument("--k", type=int, default=1, help="number of nearest facilities (1)")
    cnear.add_argument("--registry", type=Path, default=None, help="your facility file")
    cnear.add_argument("--crs", default=None, help="coordinate system of --registry")
    cnear.add_argument("--network", type=Path, default=None, help="road file (.pbf/.graphml/...)")
    cnear.add_argument("--network-crs", default=None, help="coordinate system of a line layer")
    cnear.add_argument(
        "--direction",
        default="to_facility",
        choices=["to_facility", "from_facility"],
        help="travel from the point to the facility (default) or back",
    )
    cnear.add_argument("--out", type=Path, required=True, help="output CSV")

    reg = sub.add_parser(
        "registry",
        help="check facility registries",
        description="Check facility registries (机构名录检查).",
        formatter_class=_FMT,
        epilog="example:\n  siting registry validate list.csv --crs gcj02\n",
    )
    reg_sub = reg.add_subparsers(dest="registry_command", metavar="ACTION")
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
    val.add_argument("--margin-km", type=float, default=None, help="allowed distance outside")
    val.add_argument("--sheet", default=None, help="Excel sheet name")
    val.add_argument("--layer", default=None, help="GeoPackage layer")
    val.add_argument("--poi-source", default=None, choices=["amap", "tencent", "baidu"])
    return parser


def _print_issues(issues: list[Issue], file: Path) -> int:
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity != "error"]
    if not issues:
        print(f"{file}: 检查通过，未发现问题 / no problems found")
        return 0
    print(f"{file}: {len(errors)} 个错误 / error(s), {len(warnings)} 个提示 / warning(s)")
    for issue in errors + warnings:
        tag = "错误 ERROR" if issue.severity == "error" else "提示 WARNING"
        row = f"第{issue.row}行 row {issue.row}" if issue.row is not None else "整个文件 whole file"
        col = f"列 column {issue.column!r}" if issue.column else ""
        print(f"  [{tag}] {row} {col}".rstrip())
        if issue.reason_zh:
            print(f"      {issue.reason_zh}")
        print(f"      {issue.reason}")
    return 1 if errors else 0


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


def _print_graph(graph: Any, path: Path) -> None:
    import networkx as nx

    km = sum(float(d.get("length", 0.0)) for _, _, d in graph.edges(data=True)) / 1000.0
    parts = nx.number_weakly_connected_components(graph)
    label = "模拟 modelled" if graph.graph.get("modelled") else "实际 real"
    print(f"写入 wrote {path}: {label} road network")
    print(
        f"  {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} directed edges, "
        f"{km:,.0f} km of directed edges, {parts} connected part(s)"
    )


def _cmd_network_build(args: argparse.Namespace) -> int:
    from siting import data_dir, network, regions

    region = regions.load(args.region, seed=args.seed)
    graph = network.modelled(region, seed=args.seed)
    out = args.out or data_dir() / f"{region.slug}_roads.graphml"
    _print_graph(graph, network.to_graphml(graph, out))
    return 0


def _cmd_network_import(args: argparse.Namespace) -> int:
    from siting import network

    graph = network.load(args.file, crs=args.crs)
    _print_graph(graph, network.to_graphml(graph, args.out))
    return 0


def _kinds_arg(text: str) -> list[str]:
    """A comma-separated list of kinds from the command line."""
    return [k.strip() for k in text.split(",") if k.strip()]


def _cmd_costs_nearest(args: argparse.Namespace) -> int:
    import pandas as pd

    from siting import costs, modelled, network, regions, registry
    from siting._io import write_csv

    region = regions.load(args.region)
    if args.registry is not None:
        facilities = registry.read(args.registry, crs=args.crs, boundary=region.outline)
        data_source = "user"
    else:
        facilities = modelled.registry_for(region)
        data_source = "modelled"
    if args.network is not None:
        roads = network.load(args.network, crs=args.network_crs)
    else:
        print("使用模拟路网 using the modelled road network (not surveyed)", flush=True)
        roads = network.modelled(region)
    targets = _kinds_arg(args.target)
    if args.origin.strip() == "villages":
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
    out["network"] = "modelled" if roads.graph.get("modelled") else "real"
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


def _minutes_arg(text: str) -> list[float]:
    """``--thresholds``: minutes separated by commas."""
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        msg = f"--thresholds must be minutes separated by commas, got {text!r}"
        raise SitingError(msg) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from siting import pipeline

    thresholds = _minutes_arg(args.thresholds)
    if args.region is None and args.facilities is None:
        msg = "give --region (a built-in region) or --facilities (your facility file)"
        raise SitingError(msg)
    result = pipeline.run(
        args.region,
        out=args.out,
        facilities=args.facilities,
        network=args.network,
        crs=args.crs,
        network_crs=args.network_crs,
        boundary=args.boundary,
        rules=args.rules,
        capacity=args.capacity,
        thresholds_min=thresholds,
        service_area_kinds=None
        if args.service_areas.strip() == "none"
        else _kinds_arg(args.service_areas),
        layout=None if args.layout == "none" else args.layout,
        maps=not args.no_maps,
        basemap=args.basemap,
        recommend_p=args.recommend,
        recommend_kind=args.recommend_kind,
        seed=args.seed,
        progress=not args.quiet,
    )
    s = result.summary
    print(f"数据 data: {s['data']}")
    for rule, r in s["rules"].items():
        print(
            f"  {r['rule_zh']} ({rule}): {r['paired']}/{r['facilities']} paired, "
            f"{r['within_threshold']} within {r['threshold_min']:g} min "
            f"({r['share_within']:.1%}), median {r['median_min']:.1f} min"
        )
    if "recommendations" in s:
        print(f"  {s['recommendations']['sentence_zh']}")
    villages = s["gaps"]["villages_by_threshold_min"]
    if villages:
        print(f"  村覆盖缺口 village gaps by threshold (min): {villages}")
    print(f"写入 wrote {len(result.files)} files to {result.out}")
    return 0


def _cmd_locate(args: argparse.Namespace) -> int:
    import geopandas as gpd

    from siting import locate, maps, modelled, network, regions, registry
    from siting._io import write_csv

    region = regions.load(args.region)
    if args.facilities is not None:
        facilities = registry.read(args.facilities, crs=args.crs, boundary=region.outline)
    else:
        facilities = modelled.registry_for(region)
    if args.network is not None:
        roads = network.load(args.network, crs=args.network_crs)
    else:
        print("使用模拟路网 using the modelled road network (not surveyed)", flush=True)
        roads = network.modelled(region)
    candidates: str | gpd.GeoDataFrame = args.candidates
    if args.candidates not in ("townships", "villages"):
        candidates = registry.read(Path(args.candidates), crs=args.crs, boundary=region.outline)
    model = "p_median" if args.model == "pmedian" else args.model
    result = locate.recommend(
        region,
        roads,
        facilities,
        model=model,
        p=args.p,
        threshold_min=args.threshold,
        kind=_kinds_arg(args.kind),
        candidates=candidates,
        time_limit_s=args.time_limit,
    )
    csv_path, json_path = locate.write(result, args.out)
    write_csv(locate.colocation(facilities, region, network=roads), args.out / "colocation.csv")
    page = maps.meeting_map(
        region=region, facilities=facilities, recommendations=result.recommendations
    )
    maps.save_html(page, args.out / "maps" / "recommendations.html")
    print(result.sentence_zh)
    print(result.sentence_en)
    print(f"求解状态 solver status: {result.status}")
    print(f"写入 wrote {csv_path}, {json_path}, colocation.csv, maps/recommendations.html")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from siting import batch

    thresholds = _minutes_arg(args.thresholds)
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
    result = batch.run_batch(
        regions,
        args.out,
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


def _cmd_update(args: argparse.Namespace) -> int:
    from siting import pipeline

    result = pipeline.update(
        args.registry, args.add, out=args.out, crs=args.crs, progress=not args.quiet
    )
    counts = result.diff["change"].value_counts()
    print(f"新增 added {len(result.added)} facilities to {result.registry}")
    print(f"  之前的名录 earlier registry kept as {result.history}")
    for change, n in counts.items():
        print(f"  {change}: {n}")
    print(f"写入 wrote {args.out / 'diff.csv'} and {args.out / 'diff.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``siting`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handlers = {
        ("data", "build"): _cmd_build,
        ("data", "regions"): _cmd_regions,
        ("registry", "validate"): _cmd_validate,
        ("network", "build"): _cmd_network_build,
        ("network", "import"): _cmd_network_import,
        ("costs", "nearest"): _cmd_costs_nearest,
        ("run", "None"): _cmd_run,
        ("update", "None"): _cmd_update,
        ("locate", "None"): _cmd_locate,
        ("batch", "None"): _cmd_batch,
    }
    action = str(getattr(args, f"{args.command}_command", None)) if args.command else ""
    handler = handlers.get((str(args.command), action))
    if handler is None:
        sub = args.command if args.command in {"data", "registry", "network", "costs"} else None
        parser.parse_args([sub, "--help"] if sub else ["--help"])
        return 2
    try:
        return handler(args)
    except SitingError as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
