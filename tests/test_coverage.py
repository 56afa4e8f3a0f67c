"""Tests of siting.coverage: gaps, covered population, service areas and E2SFCA.

Small graphs are built in code with answers worked out by hand; gaps and service areas are
checked against networkx Dijkstra on a seeded random graph; E2SFCA against hand arithmetic and
against the PySAL ``access`` package; the built-in Xuanhan region checks shapes and labels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely import points

from siting import costs, coverage
from siting import kinds as siting_kinds
from siting import settings as ssettings
from siting._graph import graph_arrays
from siting.costs import TravelOptions
from siting.coverage import (
    CoverageError,
    covered_population,
    e2sfca,
    e2sfca_from_pairs,
    gaps,
    service_areas,
)

LON0, LAT0 = 106.08, 30.80  # Nanchong
STEP = 0.01  # degrees between hand-made nodes (about 1 km)

# --- helpers -------------------------------------------------------------------------------------


def graph(
    nodes: Mapping[Any, tuple[float, float]],
    edges: Sequence[tuple[Any, Any, float, float]],
    *,
    two_way: bool = True,
) -> nx.MultiDiGraph:
    """An osmnx-style graph: nodes at (i, j) grid steps from Nanchong, edges (u, v, s, m)."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (i, j) in nodes.items():
        g.add_node(n, x=LON0 + i * STEP, y=LAT0 + j * STEP)
    for u, v, t, m in edges:
        g.add_edge(u, v, travel_time=float(t), length=float(m))
        if two_way:
            g.add_edge(v, u, travel_time=float(t), length=float(m))
    return g


def at(g: nx.MultiDiGraph, places: dict[str, Any], **columns: Any) -> gpd.GeoDataFrame:
    """Points exactly at graph nodes (no access leg), indexed by the given ids."""
    ids = list(places)
    geom = points([g.nodes[places[i]]["x"] for i in ids], [g.nodes[places[i]]["y"] for i in ids])
    return gpd.GeoDataFrame(columns, geometry=geom, index=pd.Index(ids, name="id"), crs=4326)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def metric_xy(g: nx.MultiDiGraph, crs: Any, nodes: Sequence[Any]) -> np.ndarray:
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tf.transform([g.nodes[n]["x"] for n in nodes], [g.nodes[n]["y"] for n in nodes])
    return np.column_stack([x, y])


def random_graph(seed: int, n: int = 60) -> nx.MultiDiGraph:
    """A connected-ish random road graph: Delaunay-like neighbours, some one-way edges."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 8, size=(n, 2))
    nodes = {i: (float(xy[i, 0]), float(xy[i, 1])) for i in range(n)}
    edges = []
    for i in range(n):
        dist = np.hypot(*(xy - xy[i]).T)
        for j in np.argsort(dist)[1:4]:
            metres = float(dist[j]) * 1000.0
            edges.append((i, int(j), metres / rng.uniform(5, 15), metres))
    g = graph(nodes, edges, two_way=False)
    for u, v, t, m in edges[::3]:  # two thirds of the roads are one-way
        g.add_edge(v, u, travel_time=t, length=m)
    return g


#   a --60s/1000m-- b --120s/2000m-- c --60s/1000m-- d          e (isolated)
LINE = {"a": (0, 0), "b": (1, 0), "c": (2, 0), "d": (3, 0), "e": (0, 5)}
LINE_EDGES = [("a", "b", 60, 1000), ("b", "c", 120, 2000), ("c", "d", 60, 1000)]

# --- gaps ----------------------------------------------------------------------------------------


def test_gaps_on_a_line() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a"}, kind=["health_center"])
    dem = at(g, {"v-b": "b", "v-c": "c", "v-d": "d", "v-e": "e"})
    out = gaps(g, dem, fac, thresholds_min=[3.5, 2])
    assert list(out.columns) == list(coverage.GAP_COLUMNS)
    got = [
        (
            r["demand_id"],
            None if pd.isna(r["nearest_partner_id"]) else r["nearest_partner_id"],
            None if math.isnan(r["travel_time_min"]) else r["travel_time_min"],
            r["threshold_min"],
            r["reachable"],
        )
        for r in records(out)
    ]
    # v-b is 1 min away (within both); v-c 3 min (beyond 2 only); v-d 4 min; v-e unreachable
    assert got == [
        ("v-c", "HC-1", 3.0, 2.0, True),
        ("v-d", "HC-1", 4.0, 2.0, True),
        ("v-d", "HC-1", 4.0, 3.5, True),
        ("v-e", None, None, 2.0, False),
        ("v-e", None, None, 3.5, False),
    ]
    assert out["method"].eq("network").all() and not out["snap_flag"].any()
    # whole minutes keep an integer column; kind= filters the partners
    whole = gaps(g, dem, fac, thresholds_min=(2, 5), kind="health_center")
    assert whole["threshold_min"].dtype == np.int64
    assert whole[["demand_id", "threshold_min"]].values.tolist() == [
        ["v-c", 2],
        ["v-d", 2],
        ["v-e", 2],
        ["v-e", 5],
    ]
    # a time equal to the threshold meets it
    assert gaps(g, dem, fac, thresholds_min=3)["demand_id"].tolist() == ["v-d", "v-e"]
    none = gaps(g, dem, fac, thresholds_min=5, kind="village_clinic")  # no partner at all
    assert len(none) == 4 and not none["reachable"].any()


def test_gaps_direction_on_one_way_roads() -> None:
    g = graph({"a": (0, 0), "b": (1, 0)}, [("a", "b", 60, 1000)], two_way=False)
    fac = at(g, {"HC-1": "b"})
    dem = at(g, {"v-a": "a"})
    assert gaps(g, dem, fac, thresholds_min=2).empty  # a -> b in one minute
    back = gaps(g, dem, fac, thresholds_min=2, direction="from_facility")
    assert back["reachable"].tolist() == [False]


@pytest.mark.parametrize("direction", costs.DIRECTIONS)
def test_gaps_match_networkx_on_a_random_graph(direction: str) -> None:
    g = random_graph(7)
    rng = np.random.default_rng(11)
    fac_nodes = rng.choice(len(g), size=5, replace=False)
    fac = at(g, {f"F-{n}": int(n) for n in fac_nodes})
    dem = at(g, {f"v-{n}": n for n in g.nodes})
    thresholds = (3.0, 6.0, 12.0)
    out = gaps(graph_arrays(g), dem, fac, thresholds_min=thresholds, direction=direction)
    # brute force: networkx Dijkstra from every facility, on the reversed graph for to_facility
    search = g.reverse(copy=True) if direction == "to_facility" else g
    best = dict.fromkeys(g.nodes, math.inf)
    for f in fac_nodes:
        for n, t in nx.single_source_dijkstra_path_length(
            search, int(f), weight="travel_time"
        ).items():
            best[n] = min(best[n], t)
    expected = {
        (f"v-{n}", th) for n, t in best.items() for th in thresholds if not t <= th * 60.0 + 1e-9
    }
    assert set(zip(out["demand_id"], out["threshold_min"], strict=True)) == expected
    for r in records(out):
        t = best[int(str(r["demand_id"])[2:])]
        if math.isinf(t):
            assert not r["reachable"] and math.isnan(r["travel_time_min"])
        else:
            assert r["reachable"] and r["travel_time_min"] == pytest.approx(t / 60.0, rel=1e-9)
    assert len(expected) > 0 and len(expected) < len(g) * len(thresholds)


def test_gaps_straight_line_uses_the_fallback() -> None:
    dem = gpd.GeoDataFrame(
        geometry=points([LON0, LON0], [LAT0, LAT0 + 0.2]), index=pd.Index(["v1", "v2"]), crs=4326
    )
    fac = gpd.GeoDataFrame(geometry=points([LON0 + 0.01], [LAT0]), index=["HC-1"], crs=4326)
    out = gaps(None, dem, fac, thresholds_min=15)
    near = costs.nearest(None, dem, fac)
    assert out["demand_id"].tolist() == ["v2"]
    assert out["travel_time_min"].iloc[0] == pytest.approx(near["time_s"].iloc[1] / 60.0)
    assert out["method"].eq("straight_line").all()


@pytest.mark.parametrize("bad", [[], [-5], [0], "15", [15, math.inf], [True]])
def test_gaps_rejects_bad_thresholds(bad: Any) -> None:
    g = graph(LINE, LINE_EDGES)
    with pytest.raises(CoverageError, match="thresholds_min"):
        gaps(g, at(g, {"v": "b"}), at(g, {"F": "a"}), thresholds_min=bad)


# --- covered population --------------------------------------------------------------------------


def line_villages(g: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    return at(
        g,
        {"V-b": "b", "V-c": "c", "V-d": "d", "V-e": "e"},
        pop_60plus=[100, 200, 300, 400],
        county_code=["511700", "511700", "511700", "511800"],
        township_code=["511700001", "511700001", "511700002", "511800001"],
        population_source=["modelled"] * 4,
    )


def test_covered_population_by_hand() -> None:
    g = graph(LINE, LINE_EDGES)
    vil = line_villages(g)
    fac = at(g, {"HC-1": "a"})
    names = {"county_code": pd.Series({"511700": "甲县", "511800": "乙县"})}
    out = covered_population(g, vil, fac, thresholds_min=(2, 3.5), names=names)
    assert list(out.columns) == list(coverage.COVERED_COLUMNS)
    key = out.set_index(["threshold_min", "level", "code"], drop=False)
    # 2 min: only V-b (1 min); 3.5 min: V-b and V-c (3 min); V-d 4 min, V-e unreachable
    assert key.loc[(2.0, "county", "511700"), "pop_covered"] == 100
    assert key.loc[(2.0, "county", "511700"), "pop_total"] == 600
    assert key.loc[(2.0, "county", "511700"), "name"] == "甲县"
    assert key.loc[(3.5, "county", "511700"), "pop_covered"] == 300
    assert key.loc[(3.5, "county", "511700"), "share_covered"] == pytest.approx(0.5)
    assert key.loc[(3.5, "county", "511800"), "pop_covered"] == 0
    assert key.loc[(3.5, "township", "511700001"), "share_covered"] == 1.0
    assert key.loc[(3.5, "township", "511700001"), "n_villages_covered"] == 2
    assert key.loc[(3.5, "township", "511700002"), "pop_covered"] == 0
    unnamed: Any = key.loc[(3.5, "township", "511700002"), "name"]
    assert pd.isna(unnamed)  # no names given
    totals = out[out["level"] == "total"]
    assert totals["pop_total"].tolist() == [1000, 1000]
    assert totals["pop_covered"].tolist() == [100, 300]
    assert totals["n_villages"].tolist() == [4, 4]
    assert out["population_source"].eq("modelled").all()
    assert out["pop_column"].eq("pop_60plus").all() and out["method"].eq("network").all()
    # every level sums to the villages' population, and covered <= total
    for _, grp in out.groupby(["threshold_min", "level"]):
        assert grp["pop_total"].sum() == vil["pop_60plus"].sum()
    assert (out["pop_covered"] <= out["pop_total"]).all()
    # other labels
    mixed = vil.assign(population_source=["modelled", "census", "modelled", "modelled"])
    other = covered_population(g, mixed, fac, thresholds_min=2, by="county_code")
    assert other["level"].tolist() == ["county", "county", "total"]
    assert other["population_source"].tolist() == ["census+modelled", "modelled", "census+modelled"]
    bare = covered_population(g, vil.drop(columns="population_source"), fac, thresholds_min=2)
    assert bare["population_source"].eq("unspecified").all()


def test_covered_population_names_the_bad_column() -> None:
    g = graph(LINE, LINE_EDGES)
    vil = line_villages(g)
    fac = at(g, {"HC-1": "a"})
    with pytest.raises(CoverageError, match="pop_65plus"):
        covered_population(g, vil, fac, pop_column="pop_65plus")
    with pytest.raises(CoverageError, match=r"'pop_60plus'.*>= 0"):
        covered_population(g, vil.assign(pop_60plus=[1, -2, 3, 4]), fac)
    with pytest.raises(CoverageError, match=r"'pop_60plus'.*missing.*'V-c'"):
        covered_population(g, vil.assign(pop_60plus=[1.0, None, 3.0, 4.0]), fac)
    with pytest.raises(CoverageError, match="must be numeric"):
        covered_population(g, vil.assign(pop_60plus=["1", "2", "3", "4"]), fac)
    with pytest.raises(CoverageError, match="village_code"):
        covered_population(g, vil, fac, by=["village_code"])


# --- service areas -------------------------------------------------------------------------------


def test_service_area_on_a_line_by_hand() -> None:
    g = graph(LINE, LINE_EDGES)
    arrays = graph_arrays(g)
    fac = at(g, {"HC-1": "a"})
    areas = service_areas(arrays, fac, minutes=[2, 1], buffer_m=50)
    assert list(areas.columns) == list(coverage.SERVICE_AREA_COLUMNS)
    assert areas.crs is not None and areas.crs.to_epsg() == 4326
    assert areas["minutes"].tolist() == [1, 2] and areas["n_nodes"].tolist() == [2, 2]
    assert areas["method"].eq("network").all() and areas["facility_id"].eq("HC-1").all()
    xy = metric_xy(g, arrays.crs, ["a", "b", "c", "d"])
    poly = gpd.GeoSeries(areas.geometry, crs=4326).to_crs(arrays.crs).to_numpy()
    # 2 min: a -> b (60 s) and half of b -> c (60 of 120 s); 1 min: a -> b exactly
    ab = float(np.hypot(*(xy[1] - xy[0])))
    bc = float(np.hypot(*(xy[2] - xy[1])))
    two = poly[1]
    assert two.contains(shapely.points(xy[:2])).all()
    assert two.contains(shapely.Point(*(xy[1] + 0.45 * (xy[2] - xy[1]))))
    assert not two.contains(shapely.Point(*(xy[1] + 0.6 * (xy[2] - xy[1]))))  # 190 m past
    assert not two.contains(shapely.points(xy[2:])).any()
    # a corridor of 2 x 50 m along 1.5 road segments, with round ends
    assert areas["area_km2"].iloc[1] == pytest.approx(
        (2 * 50 * (ab + bc / 2) + math.pi * 50**2) / 1e6, rel=0.01
    )
    assert areas["area_km2"].iloc[0] == pytest.approx(
        (2 * 50 * ab + math.pi * 50**2) / 1e6, rel=0.01
    )
    # the concave outline also holds the reached roads
    hull = service_areas(arrays, fac, minutes=2, buffer_m=50, outline="concave")
    hull_poly = hull.to_crs(arrays.crs).geometry.iloc[0]
    assert hull_poly.contains(shapely.points(xy[:2])).all()
    assert not hull_poly.contains(shapely.points(xy[2:])).any()


def test_service_area_direction_on_one_way_roads() -> None:
    g = graph({"a": (0, 0), "b": (1, 0)}, [("a", "b", 60, 1000)], two_way=False)
    fac = at(g, {"HC-1": "b"})
    to = service_areas(g, fac, minutes=5, direction="to_facility")
    frm = service_areas(g, fac, minutes=5, direction="from_facility")
    assert to["n_nodes"].tolist() == [2] and frm["n_nodes"].tolist() == [1]
    a = shapely.Point(g.nodes["a"]["x"], g.nodes["a"]["y"])
    assert to.geometry.iloc[0].contains(a) and not frm.geometry.iloc[0].contains(a)


def test_service_areas_hold_the_reachable_nodes_of_a_random_graph() -> None:
    g = random_graph(3)
    arrays = graph_arrays(g)
    where = {"F-1": 4, "F-2": 17, "F-3": 4}  # two facilities at one node
    fac = at(g, where)
    buffer_m = 100.0
    areas = service_areas(arrays, fac, minutes=(4, 8), buffer_m=buffer_m)
    assert areas[["facility_id", "minutes"]].values.tolist() == [
        ["F-1", 4],
        ["F-1", 8],
        ["F-2", 4],
        ["F-2", 8],
        ["F-3", 4],
        ["F-3", 8],
    ]
    assert areas.geometry.iloc[0].equals(areas.geometry.iloc[4])
    metric = areas.to_crs(arrays.crs).geometry.to_numpy()
    nodes = list(g.nodes)
    xy = metric_xy(g, arrays.crs, nodes)
    longest = max(d["length"] for *_, d in g.edges(data=True))
    checked_far = 0
    for row, (fid, minutes) in enumerate(zip(areas["facility_id"], areas["minutes"], strict=True)):
        times = nx.single_source_dijkstra_path_length(g, where[fid], weight="travel_time")
        reached = np.array([times.get(n, math.inf) <= minutes * 60.0 for n in nodes])
        assert areas["n_nodes"].iloc[row] == reached.sum()
        assert shapely.contains(metric[row], shapely.points(xy[reached])).all()
        # nodes out of reach and farther than a road segment (plus the buffer) from every
        # reached node lie outside
        gap = np.min(
            np.hypot(xy[:, None, 0] - xy[None, reached, 0], xy[:, None, 1] - xy[None, reached, 1]),
            axis=1,
        )
        far = ~reached & (gap > longest * 1.01 + buffer_m)
        checked_far += int(far.sum())
        assert not shapely.contains(metric[row], shapely.points(xy[far])).any()
        # a larger T reaches at least as much
        if minutes == 8:
            assert metric[row].buffer(1.0).contains(metric[row - 1])
    assert checked_far > 10


def test_service_areas_straight_line_are_circles() -> None:
    fac = gpd.GeoDataFrame(
        {"kind": ["health_center", "village_clinic"]},
        geometry=points([LON0, LON0 + 0.1], [LAT0, LAT0]),
        index=pd.Index(["HC-1", "VC-1"], name="id"),
        crs=4326,
    )
    areas = service_areas(None, fac, minutes=15, kind="health_center")
    assert areas["facility_id"].tolist() == ["HC-1"] and areas["method"].tolist() == [
        "straight_line"
    ]
    assert areas["n_nodes"].isna().all()
    radius = ssettings.straight_line_speed_kph / 3.6 * 15 * 60 / ssettings.detour_factor
    assert areas["area_km2"].iloc[0] == pytest.approx(math.pi * radius**2 / 1e6, rel=0.01)
    utm = areas.to_crs(32648)
    centre = gpd.GeoSeries(fac.geometry.iloc[:1], crs=4326).to_crs(32648).iloc[0]
    assert utm.geometry.iloc[0].contains(shapely.Point(centre.x + 0.99 * radius, centre.y))
    assert not utm.geometry.iloc[0].contains(shapely.Point(centre.x + 1.01 * radius, centre.y))
    # no network: a km-scale circle; an override changes it
    slow = service_areas(None, fac, minutes=15, kind="health_center", straight_line_speed_kph=17.5)
    assert slow["area_km2"].iloc[0] == pytest.approx(areas["area_km2"].iloc[0] / 4, rel=1e-6)


def test_service_areas_edge_cases() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a"}, kind=["health_center"])
    empty = service_areas(g, fac, kind="village_clinic")
    assert empty.empty and list(empty.columns) == list(coverage.SERVICE_AREA_COLUMNS)
    with pytest.raises(CoverageError, match="outline"):
        service_areas(g, fac, outline="convex")
    with pytest.raises(CoverageError, match="buffer_m"):
        service_areas(g, fac, buffer_m=-1)
    with pytest.raises(CoverageError, match="minutes"):
        service_areas(g, fac, minutes=[])
    # a facility 1 km off the road with a 20 km/h access leg (180 s): 1 min reaches a third of it
    off = gpd.GeoDataFrame(
        geometry=points([LON0], [LAT0 - 0.009]), index=pd.Index(["HC-9"]), crs=4326
    )
    part = service_areas(g, off, minutes=1, buffer_m=10)
    assert part["n_nodes"].tolist() == [0]
    assert not part.geometry.iloc[0].contains(shapely.Point(LON0, LAT0))
    assert part.geometry.iloc[0].contains(shapely.Point(LON0, LAT0 - 0.009))


# --- E2SFCA --------------------------------------------------------------------------------------


def test_e2sfca_by_hand() -> None:
    g = graph(LINE, LINE_EDGES)
    dem = at(g, {"v-a": "a", "v-b": "b", "v-c": "c", "v-d": "d"}, pop_60plus=[100, 200, 300, 400])
    sup = at(g, {"NH-1": "a", "NH-2": "d"}, beds=[10, 30], kind=["nursing_home"] * 2)
    zones, weights = (1, 2, 3), (1.0, 0.5, 0.25)
    out = e2sfca(g, dem, sup, zones_min=zones, weights=weights)
    assert list(out.columns) == list(coverage.E2SFCA_COLUMNS)
    # times (min): NH-1: v-a 0, v-b 1, v-c 3, v-d 4 (outside); NH-2: v-b 3, v-c 1, v-d 0
    # zone weights: t <= 1 -> 1, (1, 2] -> 0.5, (2, 3] -> 0.25
    r1 = 10 / (100 * 1 + 200 * 1 + 300 * 0.25)  # 10 / 375
    r2 = 30 / (200 * 0.25 + 300 * 1 + 400 * 1)  # 30 / 750
    expected = [1000 * r1, 1000 * (r1 + 0.25 * r2), 1000 * (0.25 * r1 + r2), 1000 * r2]
    assert out["access"].tolist() == pytest.approx(expected, rel=1e-12)
    assert out["demand_id"].tolist() == ["v-a", "v-b", "v-c", "v-d"]
    assert out["n_supply_in_catchment"].tolist() == [1, 2, 2, 1]
    assert out["method"].eq("network").all()
    # every bed is shared out: sum of P_i * A_i / 1000 equals the beds
    assert float((out["access"] * dem["pop_60plus"].to_numpy()).sum() / 1000) == pytest.approx(40)
    # per= rescales; kind= filters; a village with no supply in reach scores 0
    per_person = e2sfca(g, dem, sup, zones_min=zones, weights=weights, per=1)
    assert per_person["access"].tolist() == pytest.approx([a / 1000 for a in expected])
    one = e2sfca(g, dem, sup.iloc[:1], zones_min=zones, weights=weights, kind="nursing_home")
    assert one["access"].iloc[3] == 0 and one["n_supply_in_catchment"].iloc[3] == 0


def test_e2sfca_from_pairs_by_hand_and_weights() -> None:
    pairs = pd.DataFrame(
        {
            "demand_id": ["v1", "v1", "v2", "v3", "v3"],
            "facility_id": ["NH-1", "NH-2", "NH-1", "NH-2", "NH-1"],
            "time_s": [5 * 60.0, 15 * 60.0, 25 * 60.0, 10 * 60.0, 45 * 60.0],
        }
    )
    pop = pd.Series({"v1": 100.0, "v2": 200.0, "v3": 300.0, "v4": 50.0})
    beds = pd.Series({"NH-1": 10, "NH-2": 20, "NH-3": 99})
    out = e2sfca_from_pairs(pairs, pop, beds)
    # default zones 10/20/30 min, weights 1/0.68/0.22; v3-NH-1 (45 min) is outside
    r1 = 10 / (100 * 1 + 200 * 0.22)
    r2 = 20 / (100 * 0.68 + 300 * 1)
    assert out["access"].tolist() == pytest.approx(
        [1000 * (r1 + 0.68 * r2), 1000 * 0.22 * r1, 1000 * r2, 0.0]
    )
    assert out["n_supply_in_catchment"].tolist() == [2, 1, 1, 0]
    assert out["method"].eq("given").all()


def test_e2sfca_matches_the_access_package() -> None:
    import access  # a dev dependency (pyproject): the cross-check must run, not skip

    rng = np.random.default_rng(5)
    n_dem, n_sup = 40, 8
    dem_ids = [f"v{i}" for i in range(n_dem)]
    sup_ids = [f"NH-{j}" for j in range(n_sup)]
    both = rng.random((n_dem, n_sup)) < 0.6
    di, sj = np.nonzero(both)
    minutes = rng.uniform(0, 40, size=len(di)).round(2)
    minutes[:5] = [10.0, 20.0, 30.0, 0.0, 30.01]  # zone edges
    pop = pd.Series(rng.integers(1, 500, n_dem).astype(float), index=dem_ids)
    beds = pd.Series(rng.integers(0, 200, n_sup).astype(float), index=sup_ids)
    pairs = pd.DataFrame(
        {
            "demand_id": np.asarray(dem_ids)[di],
            "facility_id": np.asarray(sup_ids)[sj],
            "time_s": minutes * 60.0,
        }
    )
    ours = e2sfca_from_pairs(pairs, pop, beds, per=1.0).set_index("demand_id")["access"]
    with warnings.catch_warnings():
        # access 1.1.10 calls DataFrame.set_index(inplace=True), deprecated in pandas 3
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        model = access.Access(
            demand_df=pop.rename("pop").rename_axis("id").reset_index(),
            demand_index="id",
            demand_value="pop",
            supply_df=beds.rename("beds").rename_axis("id").reset_index(),
            supply_index="id",
            supply_value="beds",
            cost_df=pd.DataFrame(
                {"origin": pairs["demand_id"], "dest": pairs["facility_id"], "cost": minutes}
            ),
            cost_origin="origin",
            cost_dest="dest",
            cost_name="cost",
        )
        theirs = model.enhanced_two_stage_fca(
            weight_fn=access.weights.step_fn({10: 1.0, 20: 0.68, 30: 0.22})
        )["e2sfca_beds"]
    theirs = theirs.reindex(ours.index).fillna(0.0)
    assert ours.to_numpy() == pytest.approx(theirs.to_numpy(), rel=1e-12, abs=1e-15)
    assert (ours > 0).sum() > n_dem // 2


@pytest.mark.parametrize(
    ("zones", "weights", "match"),
    [
        ((10, 20), (1.0, 0.68, 0.22), "same length"),
        ((10, 30, 20), (1.0, 0.68, 0.22), "strictly increasing"),
        ((10, 10, 30), (1.0, 0.68, 0.22), "strictly increasing"),
        ((10, 20, 30), (1.0, 0.22, 0.68), "must not increase"),
        ((), (), "at least one"),
        ((10, 20, -30), (1.0, 0.68, 0.22), "positive"),
        ((10, 20, 30), (1.0, 0.68, 0.0), "positive"),
    ],
)
def test_e2sfca_validates_zones(zones: Any, weights: Any, match: str) -> None:
    pairs = pd.DataFrame({"demand_id": ["v1"], "facility_id": ["NH-1"], "time_s": [60.0]})
    with pytest.raises(CoverageError, match=match):
        e2sfca_from_pairs(
            pairs,
            pd.Series({"v1": 1.0}),
            pd.Series({"NH-1": 1.0}),
            zones_min=zones,
            weights=weights,
        )


def test_e2sfca_names_the_bad_column() -> None:
    g = graph(LINE, LINE_EDGES)
    dem = at(g, {"v-a": "a"}, pop_60plus=[100])
    sup = at(g, {"NH-1": "a", "HC-1": "b"}, kind=["nursing_home", "health_center"])
    with pytest.raises(CoverageError, match="'beds'"):
        e2sfca(g, dem, sup)
    with_beds = sup.assign(beds=pd.array([10, None], dtype="Int64"))
    with pytest.raises(CoverageError, match=r"'beds'.*missing.*'HC-1'.*kind="):
        e2sfca(g, dem, with_beds)
    assert e2sfca(g, dem, with_beds, kind="nursing_home")["access"].tolist() == [100.0]
    with pytest.raises(CoverageError, match=r"'beds'.*>= 0"):
        e2sfca(g, dem, sup.assign(beds=[10, -1]))
    with pytest.raises(CoverageError, match="'pop_65plus'"):
        e2sfca(g, dem, sup.assign(beds=[1, 1]), demand_weight="pop_65plus")
    pairs = pd.DataFrame({"demand_id": ["v1"], "facility_id": ["NH-2"], "time_s": [60.0]})
    with pytest.raises(CoverageError, match="'NH-2' has no capacity"):
        e2sfca_from_pairs(pairs, pd.Series({"v1": 1.0}), pd.Series({"NH-1": 1.0}))
    twice = pd.concat([pairs, pairs], ignore_index=True)
    with pytest.raises(CoverageError, match="more than once"):
        e2sfca_from_pairs(twice, pd.Series({"v1": 1.0}), pd.Series({"NH-2": 1.0}))


# --- the built-in Xuanhan region -----------------------------------------------------------------


@pytest.fixture(scope="module")
def xuanhan(
    xuanhan: Any, xuanhan_network: nx.MultiDiGraph, xuanhan_registry: Any
) -> dict[str, Any]:
    """The shared Xuanhan fixtures (tests/conftest.py) as region, graph arrays and registry."""
    return {
        "region": xuanhan,
        "arrays": graph_arrays(xuanhan_network),
        "registry": xuanhan_registry,
    }


def test_xuanhan_gaps_and_covered_population(xuanhan: dict[str, Any]) -> None:
    region, arrays, reg = xuanhan["region"], xuanhan["arrays"], xuanhan["registry"]
    homes = reg[reg["kind"] == "nursing_home"]
    out = gaps(arrays, homes, reg, kind="health_center", thresholds_min=(15, 30))
    assert set(out["demand_id"]) <= set(homes.index)
    assert set(out["nearest_partner_id"].dropna()) <= set(reg.index[reg["kind"] == "health_center"])
    assert out["method"].eq("network").all() and out["reachable"].all()  # strongly connected
    assert (out["travel_time_min"] > out["threshold_min"]).all()
    names = {"county_code": region.counties["name"], "township_code": region.townships["name"]}
    cov = covered_population(arrays, region.villages, reg, kind="health_center", names=names)
    assert set(cov["level"]) == {"county", "township", "total"}
    assert cov["population_source"].eq("modelled").all()
    assert cov["name"].notna().sum() == len(cov) - 2  # all but the two totals
    census = float(region.counties["pop_60plus"].sum())
    for t, grp in cov.groupby("threshold_min"):
        for _, level in grp.groupby("level"):
            assert level["pop_total"].sum() == census  # villages sum to the county census
        assert t in (15, 30)
    assert (cov["pop_covered"] <= cov["pop_total"]).all()
    at15 = cov[cov["threshold_min"] == 15].set_index(["level", "code"])["pop_covered"]
    at30 = cov[cov["threshold_min"] == 30].set_index(["level", "code"])["pop_covered"]
    assert (at15 <= at30).all() and at30.sum() > 0
    assert len(cov) == 2 * (len(region.counties) + region.villages["township_code"].nunique() + 1)


def test_xuanhan_service_areas_and_e2sfca(xuanhan: dict[str, Any]) -> None:
    region, arrays, reg = xuanhan["region"], xuanhan["arrays"], xuanhan["registry"]
    centres = reg[reg["kind"] == "health_center"]
    areas = service_areas(arrays, reg, minutes=(15, 30), kind="health_center")
    assert len(areas) == 2 * len(centres) and areas.crs.to_epsg() == 4326
    assert areas.geometry.is_valid.all() and not areas.geometry.is_empty.any()
    assert areas["method"].eq("network").all() and (areas["n_nodes"] > 0).all()
    home = centres.geometry.reindex(areas["facility_id"]).to_numpy()
    assert shapely.contains(areas.geometry.to_numpy(), home).all()
    wide = areas.pivot(index="facility_id", columns="minutes", values="n_nodes")
    assert (wide[15] <= wide[30]).all()
    scores = e2sfca(arrays, region.villages, reg, kind="nursing_home")
    assert len(scores) == len(region.villages)
    assert scores["demand_id"].tolist() == region.villages.index.tolist()
    assert (scores["access"] >= 0).all() and scores["access"].gt(0).any()
    beds = float(reg.loc[reg["kind"] == "nursing_home", "beds"].sum())
    shared = float((scores["access"] * region.villages["pop_60plus"].to_numpy()).sum() / 1000)
    assert 0 < shared <= beds + 1e-6


# --- options= (TravelOptions) --------------------------------------------------------------------


def straight_setup() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Four villages 1-11 km north of a nursing home (straight-line times 2.5-24.5 min)."""
    dem = gpd.GeoDataFrame(
        {
            "pop_60plus": [100, 200, 300, 400],
            "county_code": ["511700"] * 4,
            "township_code": ["511700001", "511700001", "511700002", "511700002"],
        },
        geometry=points([LON0] * 4, [LAT0 + d for d in (0.01, 0.03, 0.06, 0.1)]),
        index=pd.Index(["v1", "v2", "v3", "v4"], name="id"),
        crs=4326,
    )
    fac = gpd.GeoDataFrame(
        {"kind": ["nursing_home"], "beds": [50]},
        geometry=points([LON0], [LAT0]),
        index=pd.Index(["NH-1"], name="id"),
        crs=4326,
    )
    return dem, fac


def test_travel_options_act_as_the_keywords() -> None:
    dem, fac = straight_setup()
    slow = TravelOptions(detour_factor=2.0)
    calls: list[Any] = [
        lambda **kw: gaps(None, dem, fac, thresholds_min=(10, 20), **kw),
        lambda **kw: covered_population(None, dem, fac, thresholds_min=(10, 20), **kw),
        lambda **kw: e2sfca(None, dem, fac, **kw),
    ]
    for call in calls:
        kw = call(detour_factor=2.0)
        pd.testing.assert_frame_equal(call(options=slow), kw)
        assert not call().equals(kw)  # the detour factor changes the result
        # a keyword given as well wins over the field of options
        pd.testing.assert_frame_equal(
            call(detour_factor=2.0, options=TravelOptions(detour_factor=3.0)), kw
        )
        with pytest.raises(TypeError, match="options must be a TravelOptions, got dict"):
            call(options={"detour_factor": 2.0})


def test_travel_options_snap_distance_and_direction() -> None:
    g = graph(LINE, LINE_EDGES)
    fac = at(g, {"HC-1": "a"})
    dem = at(g, {"v-b": "b", "v-d": "d"})
    dem = dem.set_geometry(dem.geometry.translate(0.0, 0.001))  # about 110 m off the road
    kw = gaps(g, dem, fac, thresholds_min=2, max_snap_m=50.0)
    pd.testing.assert_frame_equal(
        gaps(g, dem, fac, thresholds_min=2, options=TravelOptions(max_snap_m=50.0)), kw
    )
    assert kw["snap_flag"].all() and not gaps(g, dem, fac, thresholds_min=2)["snap_flag"].any()
    wins = gaps(
        g, dem, fac, thresholds_min=2, max_snap_m=500.0, options=TravelOptions(max_snap_m=50.0)
    )
    assert not wins["snap_flag"].any()
    # direction: that of options unless direction= is given
    one = graph({"a": (0, 0), "b": (1, 0)}, [("a", "b", 60, 1000)], two_way=False)
    hc, vil = at(one, {"HC-1": "b"}), at(one, {"v-a": "a"}, pop_60plus=[10], county_code=["1"])
    back = TravelOptions(direction="from_facility")
    assert gaps(one, vil, hc, thresholds_min=2, options=back)["reachable"].tolist() == [False]
    assert gaps(one, vil, hc, thresholds_min=2, options=back, direction="to_facility").empty
    cover = covered_population(one, vil, hc, thresholds_min=2, by="county_code", options=back)
    assert cover["pop_covered"].tolist() == [0.0, 0.0]
    scores = e2sfca(one, vil, hc.assign(beds=[5]), options=back)
    assert scores["n_supply_in_catchment"].tolist() == [0]
    assert e2sfca(one, vil, hc.assign(beds=[5]))["n_supply_in_catchment"].tolist() == [1]


# --- coverage by service tier ---------------------------------------------------------------------


def tier_setup() -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The line a-b-c-d (1, 2, 1 min) and e off the roads; a 村卫生室 at b and a 社区卫生服务站 at
    d (village tier), a 卫生院 at a and a 社区卫生服务中心 at d (township tier), no hospital, a
    医养结合机构 at e (no tier)."""
    g = graph(LINE, LINE_EDGES)
    vil = line_villages(g)
    fac = at(
        g,
        {"VC-1": "b", "CHS-1": "d", "HC-1": "a", "CHC-1": "d", "IC-1": "e"},
        kind=[
            "village_clinic",
            "community_health_station",
            "health_center",
            "community_health_center",
            "integrated_care",
        ],
        name=["一村卫生室", "一站", "一卫生院", "一中心", "一医养"],
    )
    return g, vil, fac


def test_tier_kinds_and_covering_kinds() -> None:
    assert coverage.tier_kinds() == dict(siting_kinds.TIERS)
    assert list(coverage.tier_kinds(["hospital", "village"])) == ["village", "hospital"]
    with pytest.raises(CoverageError, match="unknown service tier 'town'; tiers are village"):
        coverage.tier_kinds("town")
    with pytest.raises(CoverageError, match="no service tier given"):
        coverage.tier_kinds([])
    assert coverage.covering_kinds("community_health_center") == (
        "health_center",
        "community_health_center",
    )
    assert coverage.covering_kinds(["hospital", "day_care"]) == ("hospital", "day_care")
    with pytest.raises(CoverageError, match="at least one"):
        coverage.covering_kinds([])


def test_nearest_by_tier_on_a_line() -> None:
    g, vil, fac = tier_setup()
    near = coverage.nearest_by_tier(g, vil, fac)
    assert list(near.columns) == list(coverage.NEAREST_TIER_COLUMNS)
    assert near["tier"].tolist() == ["village"] * 4 + ["township"] * 4 + ["hospital"] * 4
    rows = near.set_index(["tier", "demand_id"])
    # V-c: 2 min to the clinic at b, 1 min to the station at d
    assert rows.loc[("village", "V-c"), "facility_id"] == "CHS-1"
    assert rows.loc[("village", "V-c"), "facility_kind"] == "community_health_station"
    assert rows.loc[("village", "V-c"), "time_s"] == 60.0
    # V-b: 1 min to the 卫生院 at a, 3 min to the 中心 at d; V-d at the 中心
    assert rows.loc[("township", "V-b"), "facility_id"] == "HC-1"
    assert rows.loc[("township", "V-d"), "facility_kind"] == "community_health_center"
    # the integrated centre at e is of no tier; no hospital in the list
    assert not rows.loc[("township", "V-e"), "reachable"]
    assert not near.loc[near["tier"] == "hospital", "reachable"].any()
    bounded = coverage.nearest_by_tier(g, vil, fac, tiers="township", max_minutes=0.5)
    assert bounded["reachable"].tolist() == [False, False, True, False]
    with pytest.raises(CoverageError, match="'kind' column"):
        coverage.nearest_by_tier(g, vil, fac.drop(columns="kind"))


def test_covered_population_by_tier_by_hand() -> None:
    g, vil, fac = tier_setup()
    out = coverage.covered_population_by_tier(g, vil, fac, thresholds_min=(0.5, 1.5))
    assert list(out.columns) == list(coverage.COVERED_TIER_COLUMNS)
    total = out[out["level"] == "total"].set_index(["tier", "threshold_min"])["pop_covered"]
    # V-b 100, V-c 200, V-d 300, V-e 400 (off the roads)
    assert total.to_dict() == {
        ("village", 0.5): 400.0,  # V-b, V-d
        ("village", 1.5): 600.0,  # and V-c (1 min from the station)
        ("township", 0.5): 300.0,  # V-d at the 社区卫生服务中心
        ("township", 1.5): 600.0,  # V-b (卫生院 1 min) and V-c (中心 1 min)
        ("hospital", 0.5): 0.0,
        ("hospital", 1.5): 0.0,
    }
    assert out["tier_zh"].iloc[0] == "村级（村卫生室/社区卫生服务站）"
    assert out["pop_column"].eq("pop_60plus").all()
    # one definition: each tier is covered_population over the tier's kinds
    for tier, kinds in siting_kinds.TIERS.items():
        if tier == "hospital":
            continue
        one = covered_population(g, vil, fac, kind=kinds, thresholds_min=(0.5, 1.5))
        mine = out[out["tier"] == tier].drop(columns=["tier", "tier_zh"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, one)
    # "any medical facility" is not a tier: a 卫生院 alone misses what the 中心 covers
    only_hc = covered_population(g, vil, fac, kind="health_center", thresholds_min=1.5, by=[])
    assert only_hc["pop_covered"].tolist() == [100.0]
    # a given nearest table gives the same answer without searching
    near = coverage.nearest_by_tier(g, vil, fac)
    again = coverage.covered_population_by_tier(
        None, vil, fac, thresholds_min=(0.5, 1.5), nearest=near
    )
    pd.testing.assert_frame_equal(again.drop(columns="method"), out.drop(columns="method"))
    with pytest.raises(CoverageError, match="no row of tier 'hospital'"):
        coverage.covered_population_by_tier(g, vil, fac, nearest=near[near["tier"] != "hospital"])
    with pytest.raises(CoverageError, match="no row for village 'V-e'"):
        coverage.covered_population_by_tier(g, vil, fac, nearest=near[near["demand_id"] != "V-e"])
    with pytest.raises(CoverageError, match="no column 'time_s'"):
        coverage.covered_population_by_tier(g, vil, fac, nearest=near.drop(columns="time_s"))
    with pytest.raises(CoverageError, match="'pop_65plus'"):
        coverage.covered_population_by_tier(g, vil, fac, pop_column="pop_65plus")


def test_xuanhan_coverage_by_tier(xuanhan: dict[str, Any]) -> None:
    region, arrays, reg = xuanhan["region"], xuanhan["arrays"], xuanhan["registry"]
    out = coverage.covered_population_by_tier(arrays, region.villages, reg, thresholds_min=(15, 30))
    total = out[out["level"] == "total"].set_index(["tier", "threshold_min"])["share_covered"]
    medical = reg[reg["kind"].isin(siting_kinds.CLINIC_KINDS)]
    anything = covered_population(arrays, region.villages, medical, thresholds_min=15, by=[])
    # a modelled 村卫生室 in (nearly) every village: "any medical facility" says (nearly) all ...
    assert float(anything["share_covered"].iloc[0]) >= total[("village", 15.0)]
    # ... while the township and hospital tiers say less, each its own figure
    assert total[("township", 15.0)] < total[("village", 15.0)]
    assert total[("hospital", 15.0)] < total[("township", 15.0)]
    assert total[("township", 15.0)] <= total[("township", 30.0)]
    # every facility of the tier counts: the 社区卫生服务中心 cover as the 卫生院 do
    hc = covered_population(arrays, region.villages, reg, kind="health_center", by=[])
    hc_share = hc.set_index("threshold_min")["share_covered"]
    assert total[("township", 15.0)] > hc_share[15.0]
    # the elderly are 60+: the villages' pop_60plus sums to the county census
    assert out["pop_column"].eq("pop_60plus").all()
    census = float(region.counties["pop_60plus"].sum())
    assert (out.loc[out["level"] == "total", "pop_total"] == census).all()


# --- the run's gaps by tier (siting.pipeline.gaps) ------------------------------------------------


def test_village_gaps_by_tier_on_a_line() -> None:
    from siting.pipeline.gaps import (
        GAP_TIER_COLUMNS,
        _village_gaps_by_tier,
        _village_nearest_by_tier,
    )

    g, vil, fac = tier_setup()
    vil = vil.assign(name=["乙村", "丙村", "丁村", "戊村"])
    near = _village_nearest_by_tier(g, vil, fac)
    gaps_ = _village_gaps_by_tier(near, vil, fac, (0.5, 1.5))
    assert list(gaps_.columns) == list(GAP_TIER_COLUMNS)
    assert (gaps_["rule"] == "village_coverage").all() and (gaps_["gap_type"] == "village").all()
    got = {
        (t, th): sorted(grp["village_code"])
        for (t, th), grp in gaps_.groupby(["tier", "threshold_min"])
    }
    assert got == {
        ("village", 0.5): ["V-c", "V-e"],
        ("village", 1.5): ["V-e"],
        ("township", 0.5): ["V-b", "V-c", "V-e"],
        ("township", 1.5): ["V-e"],
        ("hospital", 0.5): ["V-b", "V-c", "V-d", "V-e"],
        ("hospital", 1.5): ["V-b", "V-c", "V-d", "V-e"],
    }
    row = gaps_[(gaps_["tier"] == "township") & (gaps_["village_code"] == "V-b")].iloc[0]
    assert row["nearest_partner_id"] == "HC-1" and row["nearest_partner_name"] == "一卫生院"
    assert (
        row["reason"]
        == "距最近的乡镇级（卫生院/社区卫生服务中心）层级医疗机构车程1分钟，超过0.5分钟"
    )
    off = gaps_[(gaps_["tier"] == "township") & (gaps_["village_code"] == "V-e")]
    assert off["reason"].str.startswith("路网上无可达").all() and not off["reachable"].any()
    none = gaps_[gaps_["tier"] == "hospital"]
    assert none["reason"].eq("名录中没有医院层级的医疗机构").all()
    # thresholds by tier: a tier left out has no village gaps
    by_tier = _village_gaps_by_tier(near, vil, fac, {"village": [0.5], "township": 1.5})
    assert set(zip(by_tier["tier"], by_tier["threshold_min"], strict=True)) == {
        ("village", 0.5),
        ("township", 1.5),
    }
    # the run's coverage reads the same table: one measurement
    cov = coverage.covered_population_by_tier(
        g, vil, fac, thresholds_min=(0.5, 1.5), nearest=near, by=[]
    )
    for (tier, th), grp in cov.groupby(["tier", "threshold_min"]):
        uncovered = vil.loc[got[(tier, th)], "pop_60plus"].sum()
        assert grp["pop_total"].iloc[0] - grp["pop_covered"].iloc[0] == uncovered


def test_village_nearest_by_tier_updates_from_the_added_facilities() -> None:
    from siting.pipeline.gaps import _village_nearest_by_tier
    from siting.pipeline.result import _State

    g, vil, fac = tier_setup()
    first = _village_nearest_by_tier(g, vil, fac)
    more = pd.concat([fac, at(g, {"HOS-1": "c"}, kind=["hospital"], name=["一医院"])])
    state = _State(added={"HOS-1"}, pairs={}, villages=first, service_areas=None)
    updated = _village_nearest_by_tier(g, vil, more, state)
    full = _village_nearest_by_tier(g, vil, more)
    cols = ["tier", "demand_id", "facility_id", "time_s", "reachable"]
    pd.testing.assert_frame_equal(
        updated[cols].reset_index(drop=True), full[cols].reset_index(drop=True), check_dtype=False
    )
    hospital = updated[updated["tier"] == "hospital"].set_index("demand_id")
    assert hospital.loc["V-b", "facility_id"] == "HOS-1" and hospital.loc["V-b", "time_s"] == 120
    # an earlier table without tiers is not reused
    old = _State(added={"HOS-1"}, pairs={}, villages=first.drop(columns="tier"), service_areas=None)
    pd.testing.assert_frame_equal(_village_nearest_by_tier(g, vil, more, old), full)


def _pairs(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "rank": 1,
        "method": "network",
        "threshold_min": 30.0,
        "assigned": True,
        "within_threshold": False,
        "reason": "超过阈值",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_facility_gaps_say_their_tier_and_patrol_gaps_come_once() -> None:
    from siting.pipeline.gaps import _facility_gaps, _merge_gaps, _patrol_gaps

    pairs = _pairs(
        [
            {"rule": "health_partner", "facility_id": "NH-1", "facility_name": "甲敬老院",
             "facility_kind": "nursing_home", "partner_id": "CHC-1", "partner_name": "一中心",
             "partner_kind": "community_health_center", "travel_time_min": 40.0},
            {"rule": "green_channel", "facility_id": "NH-1", "facility_name": "甲敬老院",
             "facility_kind": "nursing_home", "partner_id": "HOS-1", "partner_name": "一医院",
             "partner_kind": "hospital", "travel_time_min": 50.0},
            {"rule": "patrol", "facility_id": "DC-1", "facility_name": "甲日照",
             "facility_kind": "day_care", "partner_id": "CHS-1", "partner_name": "一站",
             "partner_kind": "community_health_station", "travel_time_min": 45.0},
            {"rule": "patrol", "facility_id": "DC-2", "facility_name": "乙日照",
             "facility_kind": "day_care", "partner_id": pd.NA, "partner_name": pd.NA,
             "partner_kind": pd.NA, "travel_time_min": np.nan, "assigned": False},
        ]
    )  # fmt: skip
    fac_gaps = _facility_gaps(pairs)
    tiers = dict(zip(zip(fac_gaps["rule"], fac_gaps["facility_id"], strict=True),
                     fac_gaps["tier"], strict=True))  # fmt: skip
    assert tiers == {
        ("health_partner", "NH-1"): "township",
        ("green_channel", "NH-1"): "hospital",
        ("patrol", "DC-1"): "village",
        ("patrol", "DC-2"): "village",  # no partner reached: the tier of the rule's partners
    }
    registry = gpd.GeoDataFrame(
        {"kind": ["community_health_station", "day_care"], "name": ["一站", "甲日照"]},
        geometry=points([LON0, LON0], [LAT0, LAT0]),
        index=pd.Index(["CHS-1", "DC-1"], name="id"),
        crs=4326,
    )
    plan_gaps = pd.DataFrame(
        {
            "gap_type": ["patrol"],
            "rule": ["patrol"],
            "facility_id": ["DC-1"],
            "facility_name": ["甲日照"],
            "facility_kind": ["day_care"],
            "nearest_partner_id": ["CHS-1"],
            "nearest_partner_name": ["一站"],
            "travel_time_min": [45.0],
            "threshold_min": [30.0],
            "reachable": [True],
            "patrol_gap": ["overloaded"],
            "reason": ["巡诊超出医生工作时间"],
        }
    )
    patrol_rows = _patrol_gaps(plan_gaps, registry)
    assert patrol_rows["tier"].tolist() == ["village"]
    merged = _merge_gaps([fac_gaps, patrol_rows, fac_gaps.iloc[:1]])
    assert len(merged) == 4  # DC-1 once (as the patrol gap), NH-1's health_partner row once
    assert not merged.duplicated(["rule", "facility_id"]).any()
    dc1 = merged[merged["facility_id"] == "DC-1"].iloc[0]
    assert (dc1["gap_type"], dc1["reason"], dc1["tier"]) == (
        "patrol",
        "巡诊超出医生工作时间",
        "village",
    )
    # a facility gap of another rule is kept beside the patrol gap of the same facility
    other = _facility_gaps(pairs.assign(rule=pairs["rule"].replace("patrol", "visits")))
    assert len(_merge_gaps([other, patrol_rows])) == 5
    assert _merge_gaps([]).empty


def test_summary_reports_coverage_and_gaps_by_tier() -> None:
    from siting import pairing
    from siting.pipeline.gaps import _merge_gaps, _village_gaps_by_tier, _village_nearest_by_tier
    from siting.pipeline.summary import _summary

    g, vil, fac = tier_setup()
    near = _village_nearest_by_tier(g, vil, fac)
    gaps_ = _merge_gaps([_village_gaps_by_tier(near, vil, fac, (0.5, 1.5))])
    cov = coverage.covered_population_by_tier(g, vil, fac, thresholds_min=(0.5, 1.5), nearest=near)
    out = _summary(
        None,
        fac,
        pd.DataFrame(columns=list(pairing.COLUMNS)),
        gaps_,
        cov,
        {},
        {},
        (0.5, 1.5),
        False,
    )
    tiers = out["elderly_covered"]["tiers"]
    assert list(tiers) == ["village", "township", "hospital"]
    assert tiers["township"]["within_min"]["0.5"]["pop_covered"] == 300
    assert tiers["township"]["within_min"]["1.5"]["share"] == 0.6
    assert tiers["village"]["kinds"] == ["village_clinic", "community_health_station"]
    assert tiers["hospital"]["within_min"]["1.5"]["pop_covered"] == 0
    assert "60" in out["elderly_covered"]["definition_zh"]
    assert out["gaps"]["villages_by_threshold_min"] == {
        "village": {"0.5": 2, "1.5": 1},
        "township": {"0.5": 3, "1.5": 1},
        "hospital": {"0.5": 4, "1.5": 4},
    }
    assert out["gaps"]["by_rule_and_tier"] == {
        "village_coverage": {"hospital": 8, "township": 4, "village": 3}
    }
    # a table without tiers keeps the earlier shape
    flat = _summary(None, fac, pd.DataFrame(columns=list(pairing.COLUMNS)),
                    gaps_.drop(columns="tier"), cov[cov["tier"] == "village"].drop(
                        columns=["tier", "tier_zh"]), {}, {}, (0.5, 1.5), False)  # fmt: skip
    assert flat["elderly_covered"]["0.5"]["pop_covered"] == 400
    assert flat["gaps"]["villages_by_threshold_min"] == {"0.5": 9, "1.5": 6}
