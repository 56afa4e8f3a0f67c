"""``siting run`` end to end: outputs, atomic and repeatable writes, own data, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from siting import crs as scrs
from siting import network, pipeline, regions
from siting._errors import SitingError, ValidationError
from siting.cli import main

LON0, LAT0 = 106.08, 30.80
STEP = 0.01
REQUIRED_PAIRING = (
    "rule",
    "facility_id",
    "partner_id",
    "partner_kind",
    "rank",
    "travel_time_min",
    "distance_km",
    "method",
    "within_threshold",
    "reason",
)
#: The files every region run writes (recommendations.csv only with ``recommend_p``).
ALWAYS_WRITTEN = tuple(f for f in pipeline.OUTPUT_FILES if f != "recommendations.csv")
REQUIRED_GAPS = (
    "facility_id",
    "village_code",
    "nearest_partner_id",
    "travel_time_min",
    "threshold_min",
)


def test_region_run_writes_every_output(xuanhan_run: pipeline.RunResult) -> None:
    out = xuanhan_run.out
    for name in ALWAYS_WRITTEN:
        assert (out / name).is_file(), name
    assert not list(out.glob(".siting-run-*"))  # no temporary folder left behind
    pairs = pd.read_csv(out / "pairings.csv", encoding="utf-8-sig")
    assert set(REQUIRED_PAIRING) <= set(pairs.columns)
    gaps = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig", dtype={"village_code": str})
    assert set(REQUIRED_GAPS) <= set(gaps.columns)
    # the Xuanhan programme (seed 000): the 35 nursing homes with the nearest 卫生院, 93 on
    # patrols, every facility's green channel to the nearest 卫生院 and a referral hospital
    first = pairs[pairs["rank"] == 1]
    assert first.groupby("rule")["facility_id"].nunique().to_dict() == {
        "green_channel": 130,
        "health_partner": 35,
        "patrol": 93,
        "referral_hospital": 130,
    }
    green = first[first["rule"] == "green_channel"]
    assert set(green["partner_kind"]) == {"health_center"}
    assert (pairs["data_source"] == "modelled").all()
    assert (pairs["network_source"] == "modelled").all()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["data"]["facilities"] == "modelled"
    assert summary["region"]["code"] == "511722"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {"inputs", "settings", "versions", "timings_s", "files"} <= set(manifest)
    assert manifest["inputs"]["rules"]["sha256"]
    assert manifest["versions"]["siting"]
    assert manifest["settings"]["thresholds_min"] == [15.0, 30.0]
    # the layout: elements written, every table tagged with the elements its rows lie in
    assert manifest["inputs"]["layout"]["name"] == "xuanhan"
    assert "layout_elements" in pairs.columns and "layout_elements" in gaps.columns
    elements = json.loads((out / "layout.geojson").read_text(encoding="utf-8"))
    ids = {f["properties"]["element_id"] for f in elements["features"]}
    tagged = set(pairs["layout_elements"].dropna().str.split(";").explode())
    assert tagged and tagged <= ids
    summary_rows = pd.read_csv(out / "layout_summary.csv", encoding="utf-8-sig")
    assert set(summary_rows["element_id"]) == ids
    # patrols: every patrol facility on a route or listed as a gap; routes follow the roads
    visits = pd.read_csv(out / "patrols.csv", encoding="utf-8-sig")
    need = {"clinic_id", "doctor", "day", "seq", "facility_id", "arrive", "depart", "leg_km"}
    assert need | {"leg_min"} <= set(visits.columns)
    # (a facility at its clinic's point is a visit on foot: stop "onsite", no route)
    on_routes = set(visits.loc[visits["stop"].isin(["visit", "onsite"]), "facility_id"])
    patrol_gaps = set(gaps.loc[gaps["gap_type"] == "patrol", "facility_id"])
    patrol_ids = set(first.loc[first["rule"] == "patrol", "facility_id"])
    assert patrol_ids <= on_routes | patrol_gaps
    routes = json.loads((out / "patrol_routes.geojson").read_text(encoding="utf-8"))
    assert routes["features"] and routes["features"][0]["geometry"]["type"] == "LineString"
    assert (out / "patrol_totals.csv").is_file() and summary["patrols"]["visits"] > 0
    # the meeting map: one self-contained page, nothing from the network; the printed map
    from siting import maps

    page = (out / "maps" / "map.html").read_text(encoding="utf-8")
    assert maps.remote_assets(page) == [] and "L.map(" in page
    assert (out / "maps" / "map.png").read_bytes()[:4] == b"\x89PNG"
    assert manifest["settings"]["basemap"] == "amap"
    # the policy indicators: value, target, source, status; never made up
    ind = pd.read_csv(out / "indicators.csv", encoding="utf-8-sig")
    assert {"indicator_id", "value", "target", "source_document", "status", "met"} <= set(
        ind.columns
    )
    row = ind.set_index("indicator_id").loc["xuanhan_public_homes_paired"]
    assert row["value"] == 23 and row["status"] == "met"
    unmeasured = ind[ind["status"] == "not measurable"]
    assert unmeasured["value"].isna().all() and unmeasured["needs_column"].notna().all()
    payload = json.loads((out / "indicators.json").read_text(encoding="utf-8"))
    assert [i["indicator_id"] for i in payload["indicators"]] == ind["indicator_id"].tolist()
    assert summary["indicators"]["met"] >= 3  # the programme's 23 public homes, 83 + 10 patrolled
    # the Excel report: Chinese headers, modelled data stated, the same pairings as the CSV
    book = pd.read_excel(out / "report.xlsx", sheet_name=None)
    assert list(book)[:3] == ["说明", "汇总", "按县汇总"]
    assert {"配对", "缺口", "按布局汇总", "指标"} <= set(book)
    assert "模拟" in book["说明"].iloc[0, 1]
    sheet = book["配对"]
    assert "车程(分钟) travel_time_min" in sheet.columns
    assert sheet["机构编号 facility_id"].tolist() == pairs["facility_id"].tolist()
    county = book["按县汇总"]
    assert county["区县代码 county_code"].astype(str).tolist() == ["511722"]
    assert int(county["n_nursing_home"].iloc[0]) == 35


def test_facility_gaps_are_exactly_the_pairs_beyond_threshold(
    xuanhan_run: pipeline.RunResult,
) -> None:
    pairs, gaps = xuanhan_run.pairings, xuanhan_run.gaps
    chosen = pairs[pairs["assigned"]]
    beyond = chosen[~chosen["within_threshold"]]
    expect = set(zip(beyond["rule"], beyond["facility_id"], strict=True))
    fg = gaps[gaps["gap_type"] == "facility"]
    assert set(zip(fg["rule"], fg["facility_id"], strict=True)) == expect
    assert (fg["travel_time_min"] > fg["threshold_min"]).all()
    assert len(expect) > 0  # the green channel has gaps in Xuanhan's modelled data


@pytest.mark.parametrize("tier", ["township", "village"])
def test_village_gaps_against_brute_force(xuanhan_run: pipeline.RunResult, tier: str) -> None:
    """Villages beyond 15 and 30 min of a facility of the service tier, recomputed with
    networkx; the covered population of the tier agrees."""
    region = regions.load("xuanhan")
    from siting import kinds, modelled
    from siting._graph import graph_arrays, snap

    fac = modelled.registry_for(region)
    g = network.modelled(region)
    medical = fac[fac["kind"].isin(kinds.TIERS[tier])]
    arrays = graph_arrays(g)
    fs = snap(arrays, medical.geometry.x, medical.geometry.y)
    vs = snap(arrays, region.villages.geometry.x, region.villages.geometry.y)
    # trips village -> facility: search from the facilities on the reversed graph, seeding
    # each facility's node with its access leg
    rev = g.reverse(copy=True)
    rev.add_node("src")
    for node, acc in zip(fs["node"], fs["access_s"], strict=True):
        if rev.has_edge("src", node):
            acc = min(acc, min(d["travel_time"] for d in rev["src"][node].values()))
            rev.remove_edges_from([("src", node, k) for k in list(rev["src"][node])])
        rev.add_edge("src", node, travel_time=float(acc))
    dist = nx.single_source_dijkstra_path_length(rev, "src", weight="travel_time")
    minutes = np.array(
        [
            (dist.get(n, math.inf) + a) / 60.0
            for n, a in zip(vs["node"], vs["access_s"], strict=True)
        ]
    )
    for threshold in (15.0, 30.0):
        expect = set(region.villages.index[minutes > threshold])
        got = xuanhan_run.gaps
        got = got[
            (got["gap_type"] == "village")
            & (got["threshold_min"] == threshold)
            & (got["tier"] == tier)
        ]
        assert set(got["village_code"]) == expect
        assert not got.duplicated(["village_code", "threshold_min"]).any()
    # and the coverage table agrees with the same brute force
    cov = xuanhan_run.coverage
    assert cov is not None
    total = cov[(cov["level"] == "county") & (cov["threshold_min"] == 15.0)]
    total = total[total["tier"] == tier]
    covered = region.villages.loc[minutes <= 15.0, "pop_60plus"].sum()
    assert int(total["pop_covered"].sum()) == int(covered)
    assert set(cov["population_source"]) == {"modelled"}


def test_rerun_gives_identical_files(xuanhan_run: pipeline.RunResult, tmp_path: Path) -> None:
    again = pipeline.run("xuanhan", out=tmp_path / "again", progress=False)
    for name in ALWAYS_WRITTEN:
        if name == "manifest.json":  # records timings and the start time
            continue
        a = (xuanhan_run.out / name).read_bytes()
        b = (again.out / name).read_bytes()
        assert a == b, name
    m1 = json.loads((xuanhan_run.out / "manifest.json").read_text(encoding="utf-8"))
    m2 = json.loads((again.out / "manifest.json").read_text(encoding="utf-8"))
    assert m1["inputs"] == m2["inputs"] and m1["settings"] == m2["settings"]


# --- a planner's own data -----------------------------------------------------------------------


def small_roads(path: Path) -> nx.MultiDiGraph:
    rng = np.random.default_rng(3)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    side = 6
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=LON0 + i * STEP, y=LAT0 + j * STEP)
    for i in range(side):
        for j in range(side):
            u = i * side + j
            for v in ([u + side] if i + 1 < side else []) + ([u + 1] if j + 1 < side else []):
                t = float(rng.uniform(60, 180))
                g.add_edge(u, v, travel_time=t, length=1000.0, speed_kph=30.0)
                g.add_edge(v, u, travel_time=t, length=1000.0, speed_kph=30.0)
    network.to_graphml(g, path)
    return g


def facility_table(rng: np.random.Generator) -> pd.DataFrame:
    n = 16
    lon = LON0 + rng.uniform(0, 5 * STEP, n)
    lat = LAT0 + rng.uniform(0, 5 * STEP, n)
    kinds = ["敬老院"] * 5 + ["日间照料中心"] * 3 + ["卫生院"] * 4 + ["村卫生室"] * 4
    return pd.DataFrame(
        {
            "名称": [f"机构{i:02d}" for i in range(n)],
            "类型": kinds,
            "经度": lon,
            "纬度": lat,
            "床位数": [40, 80, 120, 20, 60] + [None] * 11,
        }
    )


def test_own_data_in_gcj02_gives_the_same_pairs_as_wgs84(tmp_path: Path) -> None:
    small_roads(tmp_path / "roads.graphml")
    table = facility_table(np.random.default_rng(8))
    table.to_csv(tmp_path / "wgs.csv", index=False)
    gcj = table.copy()
    gcj["经度"], gcj["纬度"] = scrs.wgs84_to_gcj02(table["经度"], table["纬度"])
    gcj.to_csv(tmp_path / "gcj.csv", index=False)
    runs = {}
    for name, c in (("wgs", "wgs84"), ("gcj", "gcj02")):
        runs[name] = pipeline.run(
            out=tmp_path / f"out_{name}",
            facilities=tmp_path / f"{name}.csv",
            crs=c,
            network=tmp_path / "roads.graphml",
            progress=False,
        )
    a, b = runs["wgs"].pairings, runs["gcj"].pairings
    assert a["partner_id"].tolist() == b["partner_id"].tolist()
    assert np.allclose(a["travel_time_min"], b["travel_time_min"], atol=1e-3, equal_nan=True)
    assert (a["data_source"] == "user").all() and (a["network_source"] == "user").all()
    assert set(a["method"]) == {"network"}
    # no region: no villages, no coverage tables, but pairings, gaps, summary and manifest
    out = runs["gcj"].out
    assert (out / "pairings.csv").is_file() and (out / "manifest.json").is_file()
    assert not (out / "coverage_by_area.csv").exists()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["facilities"]["crs"] == "gcj02"
    assert len(manifest["inputs"]["facilities"]["sha256"]) == 64


def test_own_data_without_a_network_is_straight_line(tmp_path: Path) -> None:
    facility_table(np.random.default_rng(9)).to_csv(tmp_path / "f.csv", index=False)
    result = pipeline.run(
        out=tmp_path / "out", facilities=tmp_path / "f.csv", crs="wgs84", progress=False
    )
    assert set(result.pairings["method"]) == {"straight_line"}
    assert result.summary["data"]["network"] == "none (straight line)"


def test_bad_input_stops_before_anything_is_written(tmp_path: Path) -> None:
    table = facility_table(np.random.default_rng(10))
    table["纬度"] = table["纬度"].astype(object)
    table.loc[3, "纬度"] = "abc"
    table.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "out"
    with pytest.raises(ValidationError) as err:
        pipeline.run(out=out, facilities=tmp_path / "bad.csv", crs="wgs84", progress=False)
    assert "bad.csv" in str(err.value) and "row 5" in str(err.value)
    assert not out.exists()
    # an earlier run's folder is left as it was
    good = tmp_path / "good.csv"
    facility_table(np.random.default_rng(10)).to_csv(good, index=False)
    pipeline.run(out=out, facilities=good, crs="wgs84", progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ValidationError):
        pipeline.run(out=out, facilities=tmp_path / "bad.csv", crs="wgs84", progress=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_crash_while_writing_leaves_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facility_table(np.random.default_rng(11)).to_csv(tmp_path / "f.csv", index=False)
    out = tmp_path / "out"
    pipeline.run(out=out, facilities=tmp_path / "f.csv", crs="wgs84", progress=False)
    assert (out / "manifest.json").is_file()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.outputs, "write_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(out=out, facilities=tmp_path / "f.csv", crs="wgs84", progress=False)
    # the earlier complete result is still there, untouched
    assert (out / "manifest.json").is_file()
    assert not list(out.glob(".siting-run-*"))


# --- the command ----------------------------------------------------------------------------------


def test_run_with_recommendations(tmp_path: Path) -> None:
    result = pipeline.run("xuanhan", out=tmp_path / "r", recommend_p=2, progress=False)
    rec = pd.read_csv(tmp_path / "r" / "recommendations.csv", encoding="utf-8-sig")
    assert 1 <= len(rec) <= 2 and (rec["model"] == "mclp").all()
    assert "30分钟覆盖率由" in result.summary["recommendations"]["sentence_zh"]
    book = pd.read_excel(tmp_path / "r" / "report.xlsx", sheet_name=None)
    assert {"巡诊", "指标", "选址建议"} <= set(book)
    page = (tmp_path / "r" / "maps" / "map.html").read_text(encoding="utf-8")
    assert "建议选址" in page and "巡诊路线" in page


def test_cli_run_region_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["run", "--region", "xuanhan", "--quiet", "--capacity", "--out", str(tmp_path / "x")])
        == 0
    )
    text = capsys.readouterr().out
    assert "health_partner" in text and "wrote" in text
    pairs = pd.read_csv(tmp_path / "x" / "pairings.csv", encoding="utf-8-sig")
    assert {"partner_capacity", "partner_load"} <= set(pairs.columns)
    summary = json.loads((tmp_path / "x" / "summary.json").read_text(encoding="utf-8"))
    assert summary["capacity_aware"] is True
    assert summary["rules"]["health_partner"]["solver_status"] == "optimal"
    # bad input: exit 2, a message naming the file, row and column, nothing written
    table = facility_table(np.random.default_rng(12))
    table.loc[2, "类型"] = "火星基地"
    table.to_csv(tmp_path / "bad.csv", index=False)
    assert (
        main(
            [
                "run",
                "--facilities",
                str(tmp_path / "bad.csv"),
                "--crs",
                "wgs84",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "bad.csv" in err and "火星基地" in err
    assert not (tmp_path / "b").exists()
    assert main(["run", "--out", str(tmp_path / "c")]) == 2
    assert "--region" in capsys.readouterr().err


def test_own_roads_as_a_gcj02_line_layer(tmp_path: Path) -> None:
    """Roads digitised from a Chinese web map (GCJ-02 GeoJSON lines, Geofabrik schema) give the
    same pairs as the same roads in WGS84."""
    import geopandas as gpd
    from shapely import LineString

    g = small_roads(tmp_path / "unused.graphml")
    seen, lines = set(), []
    for u, v in g.edges():
        if (v, u) in seen:
            continue
        seen.add((u, v))
        a, b = g.nodes[u], g.nodes[v]
        lines.append(LineString([(a["x"], a["y"]), (b["x"], b["y"])]))
    n = len(lines)
    wgs = gpd.GeoDataFrame(
        {"fclass": ["tertiary"] * n, "oneway": ["B"] * n, "maxspeed": [0] * n},
        geometry=lines,
        crs=4326,
    )
    wgs.to_file(tmp_path / "roads_wgs.geojson")
    gcj = scrs.convert_gdf(wgs, src="wgs84", dst="gcj02")
    assert gcj.geometry.iloc[0].coords[0] != wgs.geometry.iloc[0].coords[0]  # shifted ~500 m
    gcj.to_file(tmp_path / "roads_gcj.geojson")
    facility_table(np.random.default_rng(13)).to_csv(tmp_path / "f.csv", index=False)
    runs = {
        c: pipeline.run(
            out=tmp_path / c,
            facilities=tmp_path / "f.csv",
            crs="wgs84",
            network=tmp_path / f"roads_{c}.geojson",
            network_crs="wgs84" if c == "wgs" else "gcj02",
            progress=False,
        )
        for c in ("wgs", "gcj")
    }
    a, b = runs["wgs"].pairings, runs["gcj"].pairings
    assert set(a["method"]) == {"network"}
    assert a["partner_id"].tolist() == b["partner_id"].tolist()
    assert np.allclose(a["travel_time_min"], b["travel_time_min"], atol=1e-3, equal_nan=True)
    manifest = json.loads((tmp_path / "gcj" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["network"]["crs"] == "gcj02"


def test_run_draws_catchments_or_whole_reach(
    xuanhan_run: pipeline.RunResult, tmp_path: Path
) -> None:
    from siting.maps.style import service_area_word

    near = xuanhan_run.service_areas
    assert near is not None and near.attrs["mode"] == "nearest"
    assert service_area_word(near) == "就近服务范围"
    manifest = json.loads((xuanhan_run.out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["service_area_mode"] == "nearest"
    out = tmp_path / "reach"
    args = ["run", "--region", "xuanhan", "--quiet", "--no-maps", "--out", str(out)]
    assert main([*args, "--service-area-mode", "reach"]) == 0
    reach = gpd.read_file(out / "service_areas.geojson")
    assert list(reach["facility_id"]) == list(near["facility_id"])
    # catchments of one threshold hardly overlap; whole reaches do, and hold them
    for mins in (15, 30):
        a = near[near["minutes"] == mins].to_crs(3857)
        b = reach[reach["minutes"] == mins].to_crs(3857)
        overlap_near = a.area.sum() - a.union_all().area
        overlap_reach = b.area.sum() - b.union_all().area
        assert overlap_near < 0.1 * overlap_reach
        assert a.union_all().symmetric_difference(b.union_all()).area < 0.01 * b.union_all().area
        assert (a.area.to_numpy() <= b.area.to_numpy() * 1.001 + 1.0).all()


def test_cli_run_patrol_options_reach_the_plan(tmp_path: Path) -> None:
    out = tmp_path / "p"
    args = ["run", "--region", "xuanhan", "--quiet", "--no-maps", "--out", str(out)]
    args += ["--service-areas", "none", "--patrol-day-hours", "6"]
    assert main([*args, "--patrol-start-date", "2026-01-05"]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    options = manifest["settings"]["patrol_options"]
    assert options["day_hours"] == 6.0 and str(options["start_date"]) == "2026-01-05"
    visits = pd.read_csv(out / "patrols.csv", encoding="utf-8-sig")
    assert visits["date"].notna().all() and visits["date"].min() >= "2026-01-05"
    assert pd.to_datetime(visits["date"]).dt.day_of_week.max() <= 4  # weekdays only
    routes = pd.read_csv(out / "patrol_totals.csv", encoding="utf-8-sig")
    assert (routes["max_day_hours"] <= 6.0 + 1e-9).all()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["patrols"]["visits"] == int(visits["stop"].isin(["visit", "onsite"]).sum())
    assert summary["patrols"]["visits_onsite"] > 0


def test_cli_run_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    args = ["run", "--region", "xuanhan", "--quiet", "--out", str(out)]
    assert main([*args, "--service-areas", "none", "--layout", "none", "--thresholds", "20"]) == 0
    assert not (out / "service_areas.geojson").exists() and not (out / "layout.geojson").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["coverage_thresholds_min"] == [20.0]
    assert main([*args, "--service-areas", "spaceport"]) == 2
    assert "spaceport" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:  # argparse refuses it, with the usage line
        main([*args, "--thresholds", "soon"])
    assert bad.value.code == 2
    assert "soon" in capsys.readouterr().err


# --- update: add facilities, recompute incrementally, diff --------------------------------------


def _additions(region: regions.Region, first: pipeline.RunResult | None = None) -> pd.DataFrame:
    """Two health centres next to the nursing homes farthest from theirs, a village clinic and
    a nursing home."""
    from siting import modelled

    fac = modelled.registry_for(region)
    if first is not None:
        hp = first.pairings[
            (first.pairings["rule"] == "health_partner") & first.pairings["assigned"]
        ]
        far = hp.sort_values("travel_time_min", ascending=False)["facility_id"].iloc[:2]
    else:
        far = fac[fac["kind"] == "nursing_home"].index[:2]
    lon = fac.loc[far, "lon"].to_numpy() + 0.002
    lat = fac.loc[far, "lat"].to_numpy()
    seat = region.townships.iloc[5]
    return pd.DataFrame(
        {
            "名称": ["新建甲卫生院", "新建乙卫生院", "新建丙村卫生室", "新建丁敬老院"],
            "类型": ["卫生院", "卫生院", "村卫生室", "敬老院"],
            "经度": [lon[0], lon[1], seat["lon"] + 0.002, seat["lon"] - 0.004],
            "纬度": [lat[0], lat[1], seat["lat"], seat["lat"]],
            "床位数": [None, None, None, 60],
            "县区代码": ["511722"] * 4,
        }
    )


def test_update_equals_a_full_recompute_and_says_what_changed(tmp_path: Path) -> None:
    from siting import modelled, registry

    region = regions.load("xuanhan")
    reg_path = modelled.build(region, out=tmp_path / "xuanhan.gpkg")
    original = reg_path.read_bytes()
    out = tmp_path / "run"
    first = pipeline.run(region, out=out, facilities=reg_path, progress=False)
    assert (out / pipeline.STATE_DIR / "nearest_health_partner.csv").is_file()
    _additions(region, first).to_csv(tmp_path / "new.csv", index=False)
    result = pipeline.update(reg_path, tmp_path / "new.csv", out=out, crs="wgs84", progress=False)
    # the registry: 4 rows appended, the earlier state kept
    assert len(registry.read(reg_path)) == 527 + 4
    assert result.history.read_bytes() == original
    assert len(result.added) == 4
    # equal to a full recompute of the new registry
    full = pipeline.run(region, out=tmp_path / "full", facilities=reg_path, progress=False)
    for name in ALWAYS_WRITTEN:
        if name in ("manifest.json", "report.xlsx"):
            continue
        assert (out / name).read_bytes() == (full.out / name).read_bytes(), name
    # the patrols of the clinics whose stops did not change were reused, not planned again
    reuse = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["inputs"]
    clinics = reuse["patrol_memo"]
    assert clinics["clinics_reused"] > 10 * clinics["clinics_planned"] > 0
    # what changed, and why
    diff = pd.read_csv(out / "diff.csv", encoding="utf-8-sig")
    moved = diff[diff["change"] == "配对改变 partner changed"]
    assert len(moved) > 0
    assert moved["reason"].str.contains("新增的新建").all()
    # the new home: its health centre and its green channel
    # (its health centre, its green channel to the nearest 卫生院, its referral hospital)
    assert (diff["change"] == "新增机构配对 new facility paired").sum() == 3
    md = (out / "diff.md").read_text(encoding="utf-8")
    assert md.startswith("# 更新差异") and "新建甲卫生院" in md and "模拟" in md


def test_a_patrol_memo_loads_nothing_but_plain_data(tmp_path: Path) -> None:
    import os
    import pickle

    from siting import patrol
    from siting.pipeline.update import _patrol_memo

    class Runs:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"memo": Runs()}))
    assert _patrol_memo(tmp_path / "evil.pkl") is None
    assert not (tmp_path / "ran").exists()
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x05 truncated")
    assert _patrol_memo(tmp_path / "bad.pkl") is None
    assert _patrol_memo(tmp_path / "none.pkl") is None
    memo = patrol.PatrolMemo()
    (tmp_path / "memo.pkl").write_bytes(pickle.dumps(memo, protocol=5))
    assert isinstance(_patrol_memo(tmp_path / "memo.pkl"), patrol.PatrolMemo)


def test_update_with_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    from siting import modelled

    region = regions.load("xuanhan")
    reg_path = modelled.build(region, out=tmp_path / "xuanhan.gpkg")
    out = tmp_path / "run"
    pipeline.run(region, out=out, facilities=reg_path, progress=False)
    before = {p: p.read_bytes() for p in [reg_path, *out.rglob("*")] if p.is_file()}
    bad = _additions(region)
    bad.loc[1, "类型"] = "火星基地"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError, match="火星基地"):
        pipeline.update(reg_path, tmp_path / "bad.csv", out=out, crs="wgs84", progress=False)
    after = {p: p.read_bytes() for p in [reg_path, *out.rglob("*")] if p.is_file()}
    assert after == before
    assert not reg_path.with_name("xuanhan.history").exists()
    # and a registry that is not the one the run was made from is refused
    (tmp_path / "other.gpkg").write_bytes(b"not the registry of this run")
    with pytest.raises(SitingError, match="was not made from"):
        pipeline.update(tmp_path / "other.gpkg", tmp_path / "bad.csv", out=out, progress=False)
    with pytest.raises(SitingError, match="no finished run"):
        pipeline.update(reg_path, tmp_path / "bad.csv", out=tmp_path / "nothing", progress=False)


def test_cli_update(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siting import modelled

    region = regions.load("xuanhan")
    reg_path = modelled.build(region, out=tmp_path / "r.gpkg")
    out = tmp_path / "run"
    assert main(["run", "--region", "xuanhan", "--facilities", str(reg_path), "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    _additions(region).to_csv(tmp_path / "new.csv", index=False)
    args = ["update", "--registry", str(reg_path), "--add", str(tmp_path / "new.csv")]
    assert main([*args, "--crs", "wgs84", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "added 4 facilities" in text and "r.history" in text
    assert (out / "diff.md").is_file()
