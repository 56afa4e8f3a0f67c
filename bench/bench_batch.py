"""Benchmark of siting.batch: a generated province of county-sized regions on 1, 2 and all workers.

The province: region ``i`` is one of the ten built-in counties (the nine of 南充市, cut with their
border buffer from the city, and 宣汉县, alone) with seed ``BASE_SEED + i // 10``; the seed moves
the modelled villages, and with them the modelled registry and network, so every task is a
different region of the size of a real county. The default 183 regions is the number of
county-level units of Sichuan. Each run goes on a fresh local cluster (processes, one thread
each) into its own folder; the pipeline runs without service areas (as a batch for tables would).

Prints wall time, peak memory per worker (the workers' own ``ru_maxrss``), scaling efficiency
``t1 / (n * tn)``, the per-region cost, and an estimate of a national run (about 2,800
county-level units) on a 32-worker cluster from the measured per-region cost.

Usage::

    python bench/bench_batch.py            # 183 regions on 1, 2 and all workers (~15 min, 2 cores)
    python bench/bench_batch.py --quick    # 12 regions (~1.5 min)
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from siting import batch

BASE_SEED = 1000
NATIONAL_REGIONS = 2800
NATIONAL_WORKERS = 32


def province(n: int) -> list[str]:
    """``n`` generated regions: ``CODE@SEED`` items for run_batch, cycling through the
    loadable county-level units (Nanchong's 9 and Xuanhan)."""
    counties = batch.all_regions()
    return [f"{counties[i % len(counties)]}@{BASE_SEED + i // len(counties)}" for i in range(n)]


def _peak_rss() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _spin(_: int) -> float:
    t = time.perf_counter()
    s = 0
    for i in range(5_000_000):
        s += i
    return time.perf_counter() - t


def parallel_probe(n: int) -> float:
    """How many times faster ``n`` pure-Python processes get through ``n`` equal jobs than one
    process through one: the machine's real parallelism (vCPUs can share a core)."""
    import multiprocessing as mp

    one = _spin(0)
    with mp.get_context("spawn").Pool(n) as pool:
        pool.map(_spin, [0] * n)  # warm up
        t = time.perf_counter()
        pool.map(_spin, list(range(n)))
        many = time.perf_counter() - t
    return n * one / many


def run(n_workers: int, items: list[str], out: Path, options: dict[str, Any]) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        t = time.perf_counter()
        result = batch.run_batch(items, out, scheduler=client, progress=True, retries=0, **options)
        wall = time.perf_counter() - t
        peaks = sorted(client.run(_peak_rss).values())
    tasks = [r.timings_s for r in result.regions if r.status == "ok"]
    return {
        "workers": n_workers,
        "wall_s": wall,
        "ok": sum(r.status == "ok" for r in result.regions),
        "failed": len(result.failed),
        "peak_rss_mib": [p / 2**20 for p in peaks],
        "task_s": [t["task"] for t in tasks],
        "partition_s": [t["partition"] for t in tasks],
        "run_s": [t["run"] for t in tasks],
        "alone_s": [
            r.timings_s["task"]
            for r in result.regions
            if r.status == "ok" and r.border.get("partition") == "alone"
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 regions")
    parser.add_argument("--regions", type=int, default=None, help="number of regions (183)")
    parser.add_argument("--workers", type=str, default=None, help="e.g. 1,2 (default 1,2,all)")
    parser.add_argument("--service-areas", action="store_true", help="draw service areas too")
    parser.add_argument("--out", type=Path, default=None, help="keep the outputs here")
    args = parser.parse_args(argv)
    n = args.regions or (12 if args.quick else 183)
    cpus = os.cpu_count() or 1
    counts = sorted({int(w) for w in args.workers.split(",")} if args.workers else {1, 2, cpus})
    items = province(n)
    options: dict[str, Any] = {}
    if not args.service_areas:
        options["service_area_kinds"] = None
    root = args.out or Path(tempfile.mkdtemp(prefix="siting-bench-batch-"))
    print(f"{n} regions (10 county templates x seeds), workers {counts}, {cpus} CPUs", flush=True)
    probe = parallel_probe(cpus)
    print(f"machine: {cpus} pure-Python processes run {probe:.2f}x as fast as one", flush=True)
    rows = []
    try:
        for w in counts:
            out = root / f"w{w}"
            shutil.rmtree(out, ignore_errors=True)
            r = run(w, items, out, options)
            rows.append(r)
            print(
                f"  {w} worker(s): {r['wall_s']:.1f} s wall, {r['ok']} ok, {r['failed']} failed, "
                f"peak RSS per worker {', '.join(f'{p:.0f}' for p in r['peak_rss_mib'])} MiB",
                flush=True,
            )
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    t1 = next(r["wall_s"] for r in rows if r["workers"] == counts[0]) * counts[0]
    print("\n| workers | wall (s) | regions/min | efficiency t1/(n*tn) | peak RSS/worker (MiB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        eff = t1 / (r["workers"] * r["wall_s"])
        print(
            f"| {r['workers']} | {r['wall_s']:.1f} | {60 * n / r['wall_s']:.1f} | {eff:.2f} | "
            f"{max(r['peak_rss_mib']):.0f} |"
        )
    one = rows[0]
    task = one["task_s"]
    mean = statistics.fmean(task)
    print(
        f"\nper region (on {one['workers']} worker(s)): mean {mean:.2f} s, median "
        f"{statistics.median(task):.2f} s, max {max(task):.2f} s; of which cutting the partition "
        f"(loading the parent when not cached) {statistics.fmean(one['partition_s']):.2f} s, "
        f"the pipeline {statistics.fmean(one['run_s']):.2f} s"
        + (
            f"; regions run alone {statistics.fmean(one['alone_s']):.2f} s"
            if one["alone_s"]
            else ""
        )
    )
    overhead = one["wall_s"] - sum(task)
    print(
        f"driver, scheduler and merge overhead on {one['workers']} worker(s): {overhead:.1f} s "
        f"of {one['wall_s']:.1f} s ({overhead / one['wall_s']:.1%})"
    )
    parts = sorted(one["partition_s"])
    cold = [p for p in parts if p > 3 * statistics.median(parts)] or parts[-1:]
    best = rows[-1]
    eff = t1 / (best["workers"] * best["wall_s"])
    ideal = NATIONAL_REGIONS * mean / NATIONAL_WORKERS
    print(
        f"national estimate: {NATIONAL_REGIONS} regions x {mean:.2f} s / {NATIONAL_WORKERS} "
        f"workers = {ideal / 60:.1f} min at perfect scaling, {ideal / eff / 60:.1f} min at the "
        f"efficiency measured on {best['workers']} workers ({eff:.2f}); memory "
        f"{max(best['peak_rss_mib']):.0f} MiB per worker"
    )
    worst = NATIONAL_REGIONS * (mean + statistics.fmean(cold)) / NATIONAL_WORKERS
    print(
        f"  if every region had to load its parent city again ({statistics.fmean(cold):.1f} s): "
        f"{worst / 60:.1f} min at perfect scaling"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
