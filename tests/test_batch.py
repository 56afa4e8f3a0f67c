"""siting.batch: many regions on Dask, border buffers exact against a whole-city run, failures,
retries and reruns that recompute only what failed or changed."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed  # a dependency (pyproject): the tests must run, not skip
import pandas as pd
import pytest

from siting import batch, pipeline
from siting.batch import BORDER_REASONS, _read_merged, read_regions_file, run_batch

#: Small thresholds so that the counties have village gaps; the buffer is the rules' 30 min.
THRESHOLDS = (5.0, 10.0)
OPTIONS: dict[str, Any] = {"service_area_kinds": None, "thresholds_min": THRESHOLDS}
RUN_FILES = ("pairings.csv", "gaps.csv", "indicators.csv", "summary.json", "coverage_by_area.csv")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local cluster shared by the tests that pass an address (workers keep parent data)."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as c:
        yield str(c.scheduler_address)


@pytest.fixture(scope="module")
def local_batch(tmp_path_factory: pytest.TempPathFactory) -> batch.BatchResult:
    """Two regions on a LocalCluster started (and closed) by run_batch itself."""
    out = tmp_path_factory.mktemp("local")
    return run_batch(["xuanhan", "511302"], out, workers=2, progress=False, **OPTIONS)


def test_local_cluster_two_regions(local_batch: batch.BatchResult) -> None:
    out = local_batch.out
    assert [(r.code, r.status, r.attempts) for r in local_batch.regions] == [
        ("511722", "ok", 1),
        ("511302", "ok", 1),
    ]
    for folder in ("511722_xuanhan", "511302_shunqing"):
        files = {p.name for p in (out / folder).iterdir()}
        manifest = json.loads((out / folder / "manifest.json").read_text(encoding="utf-8"))
        written = {p.relative_to(out / folder).as_posix() for p in (out / folder).rglob("*")}
        assert set(manifest["files"]) <= written
        assert {
            "pairings.csv",
            "gaps.csv",
            "indicators.csv",
            "report.xlsx",
            "manifest.json",
        } <= files
        assert not list(out.glob(".*.tmp"))
    for name in ("pairings.csv", "gaps.csv", "indicators.csv", "summary_by_region.csv"):
        assert (out / name).is_file()
    pairs = local_batch.pairings()
    assert list(pairs.columns[:2]) == ["region_code", "region_folder"]
    assert set(pairs["region_code"]) == {"511722", "511302"}
    assert {"border_exact", "border_reason"} <= set(pairs.columns)
    # the merged rows of a region are its own table's rows
    own = pd.read_csv(out / "511302_shunqing" / "pairings.csv", encoding="utf-8-sig")
    assert (pairs["region_code"] == "511302").sum() == len(own)
    # the partitioned county: exact within the buffer (30 min, the rules' largest threshold)
    sq = pairs[pairs["region_code"] == "511302"]
    assert sq["border_exact"].any()
    assert (sq.loc[sq["border_exact"], "travel_time_min"] <= 30.0).all()
    assert not sq.loc[sq["travel_time_min"] > 30.0, "border_exact"].any()
    # Xuanhan runs alone: exact only where the search cannot leave the county
    xh = pairs[pairs["region_code"] == "511722"]
    assert set(xh["border_reason"]) <= {BORDER_REASONS["no_data"], BORDER_REASONS["inside"]}
    assert (~xh["border_exact"]).any()
    summary = pd.read_csv(
        out / "summary_by_region.csv", encoding="utf-8-sig", dtype={"region_code": str}
    )
    assert list(summary["region_code"]) == ["511722", "511302"]
    assert list(summary["partition"]) == ["alone", "buffer"]
    row = summary.set_index("region_code").loc["511302"]
    assert row["pairing_rows_not_exact"] == (~sq["border_exact"]).sum()
    manifest = json.loads((out / "batch_manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"] == {"ok": 2, "skipped": 0, "failed": 0}
    assert manifest["regions"][1]["border"]["parent"] == "511300"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(procs):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def test_external_scheduler_and_worker_processes(
    local_batch: batch.BatchResult, tmp_path: Path
) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    run_dir = tmp_path / "procs"
    run_dir.mkdir()
    common: dict[str, Any] = {
        "cwd": run_dir,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-dashboard",
                ],
                **common,
            )
        )
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--death-timeout",
                        "60",
                    ],
                    **common,
                )
            )
        deadline = time.monotonic() + 90
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
            assert len(client.scheduler_info()["workers"]) == 2
        out = tmp_path / "remote"
        result = run_batch(["xuanhan", "511302"], out, scheduler=address, progress=False, **OPTIONS)
        assert [r.status for r in result.regions] == ["ok", "ok"]
        # the cluster is used unchanged: still up, still two workers
        with distributed.Client(address, timeout="30s") as client:
            assert len(client.scheduler_info()["workers"]) == 2
        assert {r.worker for r in result.regions} != {None}
    finally:
        _stop(procs)
    local = local_batch.out
    for folder in ("511722_xuanhan", "511302_shunqing"):
        for name in RUN_FILES:
            assert (out / folder / name).read_bytes() == (local / folder / name).read_bytes(), name
    for name in ("pairings.csv", "gaps.csv", "indicators.csv"):
        assert (out / name).read_bytes() == (local / name).read_bytes(), name


@pytest.fixture(scope="module")
def city_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The single-machine run of the whole city (the reference for the partitions)."""
    out = tmp_path_factory.mktemp("city")
    pipeline.run("nanchong", out=out, progress=False, **OPTIONS)
    return _read_merged(out / "pairings.csv"), _read_merged(out / "gaps.csv")


def test_partitions_equal_the_whole_city_within_the_buffer(
    cluster: str, city_run: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    counties = ["511302", "511303", "511304"]
    result = run_batch(counties, tmp_path / "parts", scheduler=cluster, progress=False, **OPTIONS)
    assert [r.status for r in result.regions] == ["ok"] * 3
    buffer = result.manifest["buffer_min"]
    assert buffer == 30.0  # the largest threshold in play (rules: 15, 30, 30; coverage 5, 10)
    city_pairs, city_gaps = city_run
    pairs, gaps = result.pairings(), result.gaps()
    key = ["rule", "facility_id", "rank"]
    for code in counties:
        part = pairs[pairs["region_code"] == code]
        home = set(part["facility_id"])
        city = city_pairs[city_pairs["facility_id"].isin(home)]
        assert home == set(
            city_pairs.loc[city_pairs["facility_id"].str.contains(f"-{code}-"), "facility_id"]
        )
        exact = part[part["border_exact"]]
        assert len(exact) > 0.5 * len(part)
        both = exact.merge(city, on=key, how="left", suffixes=("", "_city"), indicator=True)
        assert (both["_merge"] == "both").all()
        for col in ("partner_id", "travel_time_min", "distance_km", "assigned"):
            assert (both[col] == both[f"{col}_city"]).all(), (code, col)
        # every row of the city run within the buffer is an exact row of the partition
        within = city[city["travel_time_min"] <= buffer - 0.001]
        found = within.merge(exact, on=key, how="inner")
        assert len(found) == len(within) > 0
        # some rows lie beyond the buffer and say so
        assert (part.loc[~part["border_exact"], "border_reason"] != BORDER_REASONS["buffer"]).all()
        # village gaps: the same villages and thresholds; the exact rows the same partner and time
        cv = city_gaps[
            (city_gaps["gap_type"] == "village")
            & (city_gaps["county_code"] == code)
            & (city_gaps["threshold_min"] <= buffer)
        ]
        pv = gaps[(gaps["region_code"] == code) & (gaps["gap_type"] == "village")]
        assert len(cv) > 0
        assert set(zip(cv["village_code"], cv["threshold_min"], strict=True)) == set(
            zip(pv["village_code"], pv["threshold_min"], strict=True)
        )
        ev = pv[pv["border_exact"]].merge(
            cv, on=["village_code", "threshold_min"], suffixes=("", "_city")
        )
        assert len(ev) == pv["border_exact"].sum() > 0
        assert (ev["nearest_partner_id"] == ev["nearest_partner_id_city"]).all()
        assert (ev["travel_time_min"] == ev["travel_time_min_city"]).all()
        # facility gaps: the same facilities and rules
        cf = city_gaps[(city_gaps["gap_type"] == "facility") & city_gaps["facility_id"].isin(home)]
        pf = gaps[(gaps["region_code"] == code) & (gaps["gap_type"] == "facility")]
        assert set(zip(cf["rule"], cf["facility_id"], strict=True)) == set(
            zip(pf["rule"], pf["facility_id"], strict=True)
        )


def test_failure_retry_and_rerun_only_what_failed_or_changed(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "b"
    regions = ["511302", "511304", "nowhere"]
    first = run_batch(
        regions,
        out,
        scheduler=cluster,
        retries=1,
        progress=False,
        _inject_failures={"511302": 1, "511304": 99},
        **OPTIONS,
    )
    status = {r.requested: (r.status, r.attempts) for r in first.regions}
    assert status == {"511302": ("ok", 2), "511304": ("failed", 2), "nowhere": ("failed", 0)}
    failed = {r.requested: r.error or "" for r in first.failed}
    assert "injected failure" in failed["511304"]
    assert "RegionNotFoundError" in failed["nowhere"]
    assert not (out / "511304_jialing").exists()
    manifest = json.loads((out / "batch_manifest.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in manifest["regions"]] == ["ok", "failed", "failed"]
    assert manifest["regions"][1]["error"].startswith("RuntimeError: injected failure")
    summary = pd.read_csv(out / "summary_by_region.csv", encoding="utf-8-sig", dtype=str)
    assert list(summary["status"]) == ["ok", "failed", "failed"]
    assert summary["error"].iloc[1].startswith("RuntimeError")
    assert set(first.pairings()["region_code"]) == {"511302"}
    before = (out / "511302_shunqing" / "manifest.json").read_bytes()

    # rerun: only the failed region is computed
    second = run_batch(regions, out, scheduler=cluster, progress=False, **OPTIONS)
    assert {r.requested: r.status for r in second.regions} == {
        "511302": "skipped",
        "511304": "ok",
        "nowhere": "failed",
    }
    assert (out / "511302_shunqing" / "manifest.json").read_bytes() == before
    assert set(second.pairings()["region_code"]) == {"511302", "511304"}
    assert second.pairings()["border_exact"].any()

    # a region file, nothing changed: nothing computed (no cluster needed)
    listing = tmp_path / "regions.txt"
    listing.write_text("# two counties\n511302\n嘉陵区  # 511304\n", encoding="utf-8")
    assert read_regions_file(listing) == ["511302", "嘉陵区"]
    third = run_batch(listing, out, scheduler="tcp://127.0.0.1:1", progress=False, **OPTIONS)
    assert [r.status for r in third.regions] == ["skipped", "skipped"]

    # a changed option changes every hash; a folder whose manifest was edited is recomputed
    manifest_path = out / "511304_jialing" / "manifest.json"
    manifest_path.write_text(manifest_path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    fourth = run_batch(listing, out, scheduler=cluster, progress=False, **OPTIONS)
    assert [r.status for r in fourth.regions] == ["skipped", "ok"]
    fifth = run_batch(["511302"], out, scheduler=cluster, progress=False, buffer_min=20, **OPTIONS)
    assert [r.status for r in fifth.regions] == ["ok"]
    assert fifth.regions[0].border["buffer_min"] == 20


def test_regions_and_options_checked_up_front(tmp_path: Path) -> None:
    assert batch.all_regions() == sorted(
        [
            "511302",
            "511303",
            "511304",
            "511321",
            "511322",
            "511323",
            "511324",
            "511325",
            "511381",
            "511722",
        ]
    )
    with pytest.raises(batch.BatchError, match="does not take boundary"):
        run_batch(["511302"], tmp_path, boundary="x.geojson")
    with pytest.raises(batch.BatchError, match="go with facilities"):
        run_batch(["511302"], tmp_path / "n", network="roads.graphml")
    with pytest.raises(batch.BatchError, match="not found"):
        read_regions_file(tmp_path / "none.txt")
    with pytest.raises(batch.BatchError, match="no loadable parent"):
        batch.partition("xuanhan", buffer_min=30)


def test_cli_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siting.cli import main

    out = tmp_path / "b"
    args = ["batch", "--regions", "511722", "--out", str(out), "--workers", "1"]
    assert main([*args, "--no-service-areas", "--layout", "none", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "regions" in text and "wrote" in text
    assert (out / "pairings.csv").is_file() and (out / "summary_by_region.csv").is_file()
    # a region that does not exist is reported, with exit code 1, and the batch still ends
    assert main(["batch", "--regions", "火星县", "--out", str(tmp_path / "c"), "--quiet"]) == 1
    assert "火星县" in capsys.readouterr().err
