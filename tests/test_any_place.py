"""A planner's own list anywhere in China, without a built-in region: every command runs, says
what it could not compute and why, measures in the UTM zone of the area, and says where times
are straight-line estimates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from siting import locate, pipeline, registry
from siting.cli import main

SHANGHAI = (121.47, 31.23)
NANCHONG = (106.08, 30.80)


def a_list(lon0: float, lat0: float, kinds: list[str], seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(kinds)
    return pd.DataFrame(
        {
            "名称": [f"{k}{i:02d}" for i, k in enumerate(kinds)],
            "类型": kinds,
            "经度": lon0 + rng.uniform(0, 0.05, n),
            "纬度": lat0 + rng.uniform(0, 0.05, n),
            "床位数": [50 if k == "敬老院" else None for k in kinds],
        }
    )


KINDS = ["敬老院"] * 4 + ["日间照料中心"] * 2 + ["社区卫生服务中心"] * 3 + ["村卫生室"] * 2


def test_a_shanghai_list_runs_and_says_what_it_could_not_compute(tmp_path: Path) -> None:
    a_list(*SHANGHAI, KINDS).to_csv(tmp_path / "list.csv", index=False)
    out = tmp_path / "out"
    assert main(["run", "--facilities", str(tmp_path / "list.csv"), "--crs", "wgs84",
                 "--quiet", "--out", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    skipped = {item["output"]: item for item in summary["not_computed"]}
    # no hospital in the list: the green channel is not paired, said once, and no false gaps
    assert "名录中没有" in skipped["pairings: green_channel"]["reason_zh"]
    gaps = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig")
    assert not (gaps["rule"] == "green_channel").any()
    assert not gaps["reason"].astype(str).str.contains("路网上没有可达").any()
    pairs = pd.read_csv(out / "pairings.csv", encoding="utf-8-sig")
    green = pairs[pairs["rule"] == "green_channel"]
    said = green["reason"].dropna()
    assert len(said) == 6 and said.str.contains("名录中没有").all()  # once per facility
    # no villages, population, indicators or layout here: each said with its reason
    for name in ("coverage_by_area.csv", "access_e2sfca.csv", "indicators.csv", "gaps: villages"):
        assert name in skipped and skipped[name]["reason"], name
    # straight-line times said in the summary, the report and the map
    travel = summary["travel_times"]
    assert travel["straight_line"] and travel["detour_factor"] > 1 and travel["speed_kph"] > 0
    notes = openpyxl.load_workbook(out / "report.xlsx")["说明"]
    text = " ".join(str(c.value) for row in notes.iter_rows() for c in row)
    assert "直线估算" in text and "未计算" in text
    html = (out / "maps" / "map.html").read_text(encoding="utf-8")
    assert "车程为直线距离估算" in html and "直线估算" in html
    # codes: outside the reference tables, left empty and said so
    reg = registry.read(tmp_path / "list.csv", crs="wgs84")
    assert reg["county_code"].isna().all()
    assert any("outside the counties" in i.reason for i in reg.attrs["issues"])


def test_a_list_in_nanchong_gets_its_codes(tmp_path: Path) -> None:
    a_list(*NANCHONG, KINDS).to_csv(tmp_path / "list.csv", index=False)
    reg = registry.read(tmp_path / "list.csv", crs="wgs84")
    assert reg["county_code"].notna().all() and reg["township_code"].notna().all()
    assert set(reg["county_code"]) <= {"511302", "511303", "511304"}
    assert all(
        t.startswith(c) for c, t in zip(reg["county_code"], reg["township_code"], strict=True)
    )
    assert not any("-000000-" in i for i in reg.index)
    # given codes are kept
    table = a_list(*NANCHONG, KINDS)
    table["县区代码"] = "511321"
    table.to_csv(tmp_path / "coded.csv", index=False)
    assert set(registry.read(tmp_path / "coded.csv", crs="wgs84")["county_code"]) == {"511321"}


def test_a_list_with_no_elderly_care_or_no_medical_facility(tmp_path: Path) -> None:
    a_list(*SHANGHAI, ["社区卫生服务中心"] * 3).to_csv(tmp_path / "med.csv", index=False)
    result = pipeline.run(out=tmp_path / "a", facilities=tmp_path / "med.csv", crs="wgs84",
                          maps=False, progress=False)  # fmt: skip
    skipped = {i["output"] for i in result.summary["not_computed"]}
    assert {"pairings: health_partner", "pairings: patrol", "pairings: green_channel"} <= skipped
    # a built-in region whose list has no medical facility: every village is a gap
    from siting import modelled

    care = modelled.registry_for("xuanhan")
    care = care[care["kind"].isin(registry.ELDERLY_CARE_KINDS)]
    result = pipeline.run("xuanhan", out=tmp_path / "b", facilities=care, maps=False,
                          service_area_kinds=None, patrol_plan=False, progress=False)  # fmt: skip
    village_gaps = result.gaps[result.gaps["gap_type"] == "village"]
    from siting import regions

    n = len(regions.load("xuanhan").villages)
    assert len(village_gaps) == 2 * 2 * n  # both thresholds, village and township tiers
    assert set(village_gaps["tier"]) == {"village", "township"}
    assert village_gaps["reason"].str.contains("名录中没有").all()


def test_colocation_measures_in_the_zone_of_the_area() -> None:
    # a nursing home 490 m east of a health centre in Shanghai: next door (< 500 m). Measured in
    # UTM 48N (Sichuan's zone) the 490 m would read about 503 m.
    lon, lat = SHANGHAI
    dlon = 490.0 / (111_320.0 * np.cos(np.radians(lat)))
    frame = pd.DataFrame(
        {
            "name": ["甲社区卫生服务中心", "甲养老院"],
            "kind": ["community_health_center", "nursing_home"],
            "lon": [lon, lon + dlon],
            "lat": [lat, lat],
        }
    )
    reg = registry.from_frame(frame)
    assert locate.colocation(reg, None).empty
    far = registry.from_frame(frame.assign(lon=[lon, lon + 2 * dlon]))
    assert len(locate.colocation(far, None)) == 1


def test_locate_and_costs_without_a_region(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_list(*SHANGHAI, KINDS).to_csv(tmp_path / "list.csv", index=False)
    out = tmp_path / "loc"
    assert main(["locate", "--facilities", str(tmp_path / "list.csv"), "--crs", "wgs84",
                 "--model", "mclp", "--p", "1", "--threshold", "3",
                 "--kind", "community_health_center", "--out", str(out)]) == 0  # fmt: skip
    rec = pd.read_csv(out / "recommendations.csv", encoding="utf-8-sig")
    assert len(rec) == 1 and rec["pop_column"].iloc[0] == "weight"
    assert "养老机构" in capsys.readouterr().out
    assert main(["costs", "nearest", "--registry", str(tmp_path / "list.csv"), "--crs", "wgs84",
                 "--from", "nursing_home", "--to", "community_health_center",
                 "--out", str(tmp_path / "near.csv")]) == 0  # fmt: skip
    near = pd.read_csv(tmp_path / "near.csv", encoding="utf-8-sig")
    assert len(near) == 4 and (near["network"] == "none (straight line)").all()
    # villages need a region, and say so
    code = main(["costs", "nearest", "--registry", str(tmp_path / "list.csv"), "--crs", "wgs84",
                 "--from", "villages", "--to", "village_clinic",
                 "--out", str(tmp_path / "v.csv")])  # fmt: skip
    assert code == 2 and "--region" in capsys.readouterr().err


def test_study_area_from_a_boundary_file(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from siting import regions

    lon, lat = SHANGHAI
    gpd.GeoDataFrame(geometry=[box(lon, lat, lon + 0.1, lat + 0.1)], crs=4326).to_crs(3857).to_file(
        tmp_path / "area.geojson"
    )
    area = regions.study_area(boundary=tmp_path / "area.geojson")
    assert area.metric_crs == "EPSG:32651"
    assert abs(area.outline.centroid.x - (lon + 0.05)) < 1e-6
    with pytest.raises(Exception, match="no polygon"):
        gpd.GeoDataFrame(geometry=gpd.points_from_xy([lon], [lat]), crs=4326).to_file(
            tmp_path / "pts.geojson"
        )
        regions.study_area(boundary=tmp_path / "pts.geojson")


def test_run_shows_and_records_the_readers_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_list(*SHANGHAI, KINDS).to_csv(tmp_path / "list.csv", index=False)
    out = tmp_path / "out"
    assert main(["run", "--facilities", str(tmp_path / "list.csv"), "--crs", "wgs84",
                 "--quiet", "--no-maps", "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "[提示 WARNING]" in err and "outside the counties" in err
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert any("outside the counties" in w for w in manifest["inputs"]["facilities"]["warnings"])
