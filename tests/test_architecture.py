"""The package layout stays what docs/architecture.md says (issue 25).

* every public name of ``siting`` and of each public module is still there (the list below is
  the API as it was before the restructure; add names, never drop one);
* the import graph of ``siting`` (module-level, lazy and ``TYPE_CHECKING`` imports) has no cycle;
* no module uses another room's ``_private`` name (a room is a top-level module, or a
  sub-package with its modules).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import networkx as nx
import pytest

import siting

ROOT = Path(siting.__file__).resolve().parent

#: The public API before the restructure of issue 25: module -> names of its ``__all__``.
PUBLIC_API: dict[str, list[str]] = {
    "siting": [
        "DataError",
        "Issue",
        "Region",
        "RegionNotFoundError",
        "SitingError",
        "ValidationError",
        "__version__",
        "batch",
        "costs",
        "coverage",
        "crs",
        "data_dir",
        "geocode",
        "indicators",
        "layout",
        "load_region",
        "locate",
        "modelled",
        "network",
        "osm_fetch",
        "pairing",
        "patrol",
        "pipeline",
        "read_registry",
        "reference_dir",
        "regions",
        "registry",
        "report",
        "run",
        "settings",
        "write_registry",
    ],
    "siting.batch": [
        "BORDER_REASONS",
        "BatchError",
        "BatchResult",
        "MAX_SEED",
        "OwnPartition",
        "Partition",
        "RegionOutcome",
        "UNASSIGNED",
        "all_regions",
        "parse_item",
        "partition",
        "partition_list",
        "read_regions_file",
        "run_batch",
        "seed_of",
        "similar_groups",
    ],
    "siting.cli": [
        "main",
    ],
    "siting.costs": [
        "COLUMNS",
        "CostError",
        "DIRECTIONS",
        "NearestIndex",
        "OD_COLUMNS",
        "nearest",
        "od_matrix",
        "reach",
        "reach_count",
    ],
    "siting.coverage": [
        "CONCAVE_RATIO",
        "COVERED_COLUMNS",
        "CoverageError",
        "E2SFCA_COLUMNS",
        "E2SFCA_WEIGHTS",
        "E2SFCA_ZONES_MIN",
        "GAP_COLUMNS",
        "OUTLINES",
        "SERVICE_AREA_BUFFER_M",
        "SERVICE_AREA_COLUMNS",
        "covered_population",
        "e2sfca",
        "e2sfca_from_pairs",
        "gaps",
        "service_areas",
    ],
    "siting.crs": [
        "BD09",
        "CRSError",
        "CRS_NAMES",
        "GCJ02",
        "WGS84",
        "bd09_to_gcj02",
        "bd09_to_wgs84",
        "convert",
        "convert_gdf",
        "convert_geometry",
        "gcj02_to_bd09",
        "gcj02_to_wgs84",
        "metric_crs",
        "normalize_crs_name",
        "out_of_china",
        "require_metric",
        "to_metric",
        "wgs84_to_bd09",
        "wgs84_to_gcj02",
    ],
    "siting.geocode": [
        "APPROXIMATE_LEVELS",
        "GeocodeKeyError",
        "GeocodeResult",
        "GeocodeRow",
        "LEVELS",
        "MAX_FAILED_IN_A_ROW",
        "PROVIDERS",
        "Provider",
        "SHARED_POINT_MIN",
        "STATUSES",
        "geocode_file",
        "geocode_frame",
        "normalize_level",
    ],
    "siting.indicators": [
        "COLUMNS",
        "Context",
        "Indicator",
        "MEASURES",
        "Measurement",
        "STATUSES",
        "Source",
        "adjacent_pairs",
        "find_column",
        "load_definitions",
        "measure",
        "to_json",
        "truthy",
        "villages_served",
        "write_json",
    ],
    "siting.layout": [
        "ELEMENT_TYPES",
        "LOCATION_QUALITIES",
        "Layout",
        "LayoutError",
        "LayoutIssue",
        "RULES",
        "available",
        "load",
        "load_spec",
        "spec_path",
        "summary",
        "tag",
        "tag_joined",
    ],
    "siting.locate": [
        "CANDIDATE_SOURCES",
        "COLOCATION_COLUMNS",
        "CUTOFF_RETRIES",
        "LocateError",
        "LocateInfeasibleError",
        "LocateResult",
        "MODELS",
        "P_MEDIAN_NEAREST",
        "Pairs",
        "RECOMMENDATION_COLUMNS",
        "STATUSES",
        "Solution",
        "colocation",
        "facility_demand",
        "lscp",
        "mclp",
        "p_median",
        "pairs_from_matrix",
        "recommend",
        "write",
    ],
    "siting.maps": [
        "BASEMAPS",
        "CJK_FONT_PATH",
        "FontWarning",
        "MapError",
        "cjk_font",
        "layer_names",
        "meeting_map",
        "remote_assets",
        "save_html",
        "static_map",
    ],
    "siting.modelled": [
        "build",
        "registry_for",
        "spec_for",
    ],
    "siting.network": [
        "COORD_DECIMALS_DEG",
        "COORD_DECIMALS_M",
        "INVERSE_TOL_M",
        "LINE_SUFFIXES",
        "MAX_SPEED_KPH",
        "NETWORK_TYPES",
        "NetworkError",
        "NetworkWarning",
        "add_travel_times",
        "check_against",
        "check_speeds",
        "connectivity",
        "county_towns",
        "from_graphml",
        "from_lines",
        "from_osm_xml",
        "from_pbf",
        "load",
        "load_modelled_graphml",
        "modelled",
        "network_classes",
        "road_class",
        "speed_table",
        "to_graphml",
    ],
    "siting.osm_fetch": [
        "ATTRIBUTION",
        "CONNECT_TIMEOUT_S",
        "ENV_OVERPASS_URL",
        "MAX_AREA_KM2",
        "OverpassError",
        "SOURCE",
        "cached_roads",
        "check_reachable",
        "default_path",
        "download_roads",
        "fetch_roads",
        "overpass_endpoint",
        "roads_for_run",
    ],
    "siting.pairing": [
        "COLUMNS",
        "CapacityRule",
        "CostRule",
        "InfeasibleError",
        "PairingRuleError",
        "Rule",
        "Rules",
        "default_rules_path",
        "load_rules",
        "pair",
        "summarize",
    ],
    "siting.patrol": [
        "DEFAULT_SERVICE_MIN",
        "FREQUENCIES",
        "Frequency",
        "GAP_COLUMNS",
        "PATROL_COLUMNS",
        "PatrolError",
        "PatrolPlan",
        "ROUTE_COLUMNS",
        "Solution",
        "TOTAL_COLUMNS",
        "WEEKDAYS_ZH",
        "WORKING_DAYS_PER_MONTH",
        "coverage_gaps",
        "plan",
        "solve_routes",
    ],
    "siting.pipeline": [
        "GAP_COLUMNS",
        "OUTPUT_FILES",
        "PAIRING_OUTPUT_COLUMNS",
        "RunResult",
        "STATE_DIR",
        "UpdateResult",
        "run",
        "update",
    ],
    "siting.regions": [
        "Region",
        "StudyArea",
        "apportion",
        "available",
        "load",
        "resolve",
        "study_area",
    ],
    "siting.registry": [
        "COLUMNS",
        "COLUMN_ALIASES",
        "DTYPES",
        "DuplicateError",
        "ELDERLY_CARE_KINDS",
        "HOSPITAL_LEVELS",
        "KINDS",
        "KindInfo",
        "LOCATION_QUALITIES",
        "MAX_BEDS",
        "MAX_CAPACITY",
        "MEDICAL_KINDS",
        "OPERATIONS",
        "OWNERSHIPS",
        "append",
        "district_column",
        "duplicates",
        "empty",
        "format_issues",
        "from_frame",
        "infer_kind",
        "kind_label",
        "make_ids",
        "parse_level",
        "read",
        "validate",
        "write",
    ],
    "siting.report": [
        "HEADERS",
        "by_county",
        "excel",
    ],
}


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _room(module: str) -> str:
    """``siting.costs.kernel`` -> ``siting.costs``; ``siting.batch`` -> ``siting.batch``."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _runtime_nodes(tree: ast.Module, *, typing: bool = False) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (unless ``typing``)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING" and not typing:
                skip.update(id(n) for b in node.body for n in ast.walk(b))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _graph(
    root: Path = ROOT, *, typing: bool = True
) -> tuple[nx.DiGraph, list[tuple[str, str, str]]]:
    """The import graph of siting (``typing``: with ``TYPE_CHECKING`` imports) and the uses of
    another room's private names."""
    mods = _modules(root)
    graph = nx.DiGraph()
    private: list[tuple[str, str, str]] = []
    for mod, path in mods.items():
        graph.add_node(mod)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_pkg = path.name == "__init__.py"
        nodes = _runtime_nodes(tree, typing=typing)
        bound: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod if is_pkg else mod.rsplit(".", 1)[0]
                    for _ in range(node.level - 1):
                        base = base.rsplit(".", 1)[0]
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                if not source.startswith("siting"):
                    continue
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    if full in mods:
                        graph.add_edge(mod, full)
                        bound[alias.asname or alias.name] = full
                        continue
                    graph.add_edge(mod, source)
                    name = alias.name
                    if (
                        name.startswith("_")
                        and not name.startswith("__")
                        and _room(source) != _room(mod)
                    ):
                        private.append((mod, source, name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("siting") and alias.name in mods:
                        graph.add_edge(mod, alias.name)
                        if alias.asname:
                            bound[alias.asname] = alias.name
        for node in nodes:
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
            ):
                target = bound[node.value.id]
                attr = node.attr
                if (
                    attr.startswith("_")
                    and not attr.startswith("__")
                    and _room(target) != _room(mod)
                ):
                    private.append((mod, target, attr))
    return graph, sorted(set(private))


@pytest.mark.parametrize("module", sorted(PUBLIC_API))
def test_public_names_kept(module: str) -> None:
    mod = importlib.import_module(module)
    exported = set(getattr(mod, "__all__", []))
    missing = [n for n in PUBLIC_API[module] if n not in exported or not hasattr(mod, n)]
    assert not missing, f"{module} lost {missing}"


def test_no_import_cycle() -> None:
    graph, _ = _graph()
    # the root package re-exports every room; a room importing ``siting`` (for __version__) is
    # not a cycle of rooms
    graph.remove_node("siting")
    cycles = [c for c in nx.simple_cycles(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles[:10]}"


def test_no_private_name_of_another_room() -> None:
    _, private = _graph()
    assert not private, "\n".join(f"{m} uses {t}.{n}" for m, t, n in private)


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """On a small package with a cycle, a typing-only cycle and a private use: all seen."""
    pkg = tmp_path / "siting"
    (pkg / "room").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from siting.b import _helper\n")
    (pkg / "b.py").write_text("def f():\n    from siting import a\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from siting import d\n"
    )
    (pkg / "d.py").write_text("import siting.c as c\nc._private\n")
    (pkg / "room" / "__init__.py").write_text("from siting.room.x import _shared\n")
    (pkg / "room" / "x.py").write_text("_shared = 1\n")
    graph, private = _graph(pkg)
    graph.remove_node("siting")
    cycles = sorted(sorted(c) for c in nx.simple_cycles(graph) if len(c) > 1)
    assert cycles == [["siting.a", "siting.b"], ["siting.c", "siting.d"]]
    runtime, _ = _graph(pkg, typing=False)
    runtime.remove_node("siting")
    assert sorted(sorted(c) for c in nx.simple_cycles(runtime) if len(c) > 1) == [
        ["siting.a", "siting.b"]
    ]
    # inside a sub-package private names are shared; across rooms they are not
    assert private == [("siting.a", "siting.b", "_helper"), ("siting.d", "siting.c", "_private")]
