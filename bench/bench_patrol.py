"""Benchmark of siting.patrol's route solver: our settings against a long run of the same solver.

Run from the repository root::

    .venv/bin/python bench/bench_patrol.py            # long runs of 60 s (about 35 minutes)
    .venv/bin/python bench/bench_patrol.py --quick    # long runs of 10 s (about 7 minutes)

Instances are generated on the modelled road network of Nanchong (``siting.network.modelled``):
for each size ``n`` (20 to 60 stops) and seed, a random road node is the clinic and ``n`` random
nodes within 40 minutes of it are the stops; travel times are ``siting.costs.od_matrix`` among
them (asymmetric: one-way roads). Two families:

* ``tsp``: one doctor, 5 minutes of service per stop, a 24-hour day (every stop fits: the
  travelling-salesman tour);
* ``day``: one doctor, 10 minutes of service, an 8-hour day: not every stop fits, the solver
  serves as many as it can, then minimises travel (what :func:`siting.patrol.plan` asks of it
  for a doctor's day with many stops);
* ``vrp``: ``ceil(n / 6)`` doctors, 30 minutes of service, an 8-hour day (every stop fits;
  :func:`siting.patrol.solve_routes` with several vehicles).

"ours" is :func:`siting.patrol.solve_routes` with its defaults (OR-Tools local cheapest insertion +
guided local search, stopped after ``solution_limit`` solutions; the exact solver is switched
off with ``exact_max_stops=0``), "long" the same model and search with no solution limit, stopped
after ``--long`` seconds. The solver first serves as many stops as fit ("served": ours/long),
then minimises the total travel time ("min"). Gap = (ours - long) / long of the travel time when
both serve as many stops (else the row says which serves more). The run also solves each
instance twice with our settings and checks that the two answers are identical
(determinism). Timing: wall clock (``time.perf_counter``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra
from shapely import points

from siting import costs, network, patrol, regions
from siting._graph import GraphArrays, graph_arrays


def instance(arrays: GraphArrays, n: int, seed: int) -> np.ndarray:
    """Travel times (s) among a random clinic and ``n`` stops within 40 minutes of it."""
    rng = np.random.default_rng(seed * 1000 + n)
    while True:
        depot = int(rng.integers(arrays.n))
        dist = dijkstra(arrays.time, indices=depot, limit=40 * 60.0)
        near = np.flatnonzero(np.isfinite(dist))
        near = near[near != depot]
        if len(near) >= n:
            break
    nodes = np.concatenate([[depot], rng.choice(near, n, replace=False)])
    pts = gpd.GeoDataFrame(
        geometry=points(arrays.lon[nodes], arrays.lat[nodes]),
        index=pd.Index([f"P{i}" for i in range(n + 1)], name="id"),
        crs=4326,
    )
    minutes = costs.od_matrix(arrays, pts, pts, wide=True).to_numpy(dtype=float)
    t = minutes * 60.0
    np.fill_diagonal(t, 0.0)
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="long runs of 10 s")
    parser.add_argument("--long", type=float, default=None, help="seconds of the long run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 30, 40, 50, 60])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--families", nargs="+", default=["tsp", "day", "vrp"])
    args = parser.parse_args(argv)
    long_s = args.long if args.long is not None else (10.0 if args.quick else 60.0)

    region = regions.load("nanchong")
    arrays = graph_arrays(network.modelled(region))
    print(f"Nanchong modelled roads: {arrays.n:,} nodes; long run {long_s:g} s")
    print(
        f"{'family':6} {'stops':>5} {'seed':>4} {'doctors':>7} {'served':>7} {'ours s':>7} "
        f"{'ours min':>9} {'long min':>9} {'gap %':>6} {'same':>5}"
    )
    gaps = []
    for family in args.families:
        for n in args.sizes:
            for seed in args.seeds:
                t = instance(arrays, n, seed)
                if family == "tsp":
                    vehicles, service_min, day_h = 1, 5.0, 24.0
                elif family == "day":
                    vehicles, service_min, day_h = 1, 10.0, 8.0
                else:
                    vehicles, service_min, day_h = math.ceil(n / 6), 30.0, 8.0
                service = np.full(n + 1, service_min * 60.0)
                kw: dict[str, Any] = {
                    "day_s": day_h * 3600.0,
                    "vehicles": vehicles,
                    "exact_max_stops": 0,
                }
                started = time.perf_counter()
                ours = patrol.solve_routes(t, service, **kw)
                ours_s = time.perf_counter() - started
                again = patrol.solve_routes(t, service, **kw)
                long = patrol.solve_routes(
                    t, service, **kw, time_limit_s=long_s, solution_limit=2**62
                )
                served = f"{n - len(ours.dropped)}/{n - len(long.dropped)}"
                same = again.routes == ours.routes
                if len(ours.dropped) == len(long.dropped):
                    gap = (ours.travel_s - long.travel_s) / long.travel_s * 100
                    gaps.append(gap)
                    gap_text = f"{gap:6.2f}"
                else:
                    gap_text = "served" if len(ours.dropped) > len(long.dropped) else "better"
                print(
                    f"{family:6} {n:5d} {seed:4d} {vehicles:7d} {served:>7} {ours_s:7.2f} "
                    f"{ours.travel_s / 60:9.1f} {long.travel_s / 60:9.1f} {gap_text:>6} "
                    f"{'yes' if same else 'NO':>5}"
                    + ("  (time limit hit)" if ours.time_limit_hit else ""),
                    flush=True,
                )
    if gaps:
        print(f"largest gap {max(gaps):.2f} %, mean {np.mean(gaps):.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
