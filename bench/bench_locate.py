"""Benchmark of siting.locate: p-median and MCLP (p = 20) against spopt + CBC, same instance.

Run from the repository root::

    .venv/bin/python bench/bench_locate.py                 # baseline capped at 300 s per model
    .venv/bin/python bench/bench_locate.py --cap 60        # shorter cap on the baseline

Instance (fixed seed): the modelled road network of Nanchong (``siting.network.modelled``,
3,246 nodes); 2,000 demand points drawn from its 3,004 villages (weights: modelled
``pop_65plus``); 200 candidate sites drawn from its 242 township seats; no existing facility.
Costs are minutes from the network engine: ``siting.costs.od_matrix`` gives the dense
2,000 x 200 matrix the baseline needs. MCLP threshold: 30 minutes.

Compared in the same run:

(a) ``siting.locate`` on the same matrix: :func:`~siting.locate.mclp` on the pairs within the
    threshold; :func:`~siting.locate.p_median` on each demand point's ``ceil(200 / 20) + 3 = 13``
    nearest sites (the rule of ``recommend``), doubling them for the demand points whose
    solution relies on a pair beyond them (the cutoff certificate), until none does. HiGHS,
    ``mip_gap=0``. Time = building the pairs and the model + solving.
(b) ``siting.locate.recommend`` end to end (candidates as a GeoDataFrame): its costs from the
    network engine (``costs.reach`` / ``costs.nearest``), the model, the result table.
(c) spopt 0.7 ``MCLP`` / ``PMedian.from_cost_matrix`` on the dense matrix, solved by its default
    solver, PuLP's bundled CBC (``PULP_CBC_CMD(msg=False, timeLimit=cap)``). Time = building the
    PuLP model + solving. When CBC stops at the cap its answer is not proven optimal ("cap").

Objectives: (a) and (b) as reported by siting (proven optimal, gap 0, unless said); (c)
re-evaluated from the sites it opened (covered population; population-weighted minutes to the
nearest open site), so the comparison does not rest on CBC's own figure.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import siting
from siting import costs, locate

SEED = 20241124
N_DEMAND = 2_000
N_SITES = 200
P = 20
THRESHOLD_MIN = 30.0


def instance() -> tuple[Any, gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray, float]:
    region = siting.regions.load("nanchong")
    t0 = time.perf_counter()
    arrays = costs._arrays(siting.network.modelled(region))
    rng = np.random.default_rng(SEED)
    villages = region.villages
    demand = villages.iloc[np.sort(rng.choice(len(villages), N_DEMAND, replace=False))]
    seats = region.townships
    sites = seats.iloc[np.sort(rng.choice(len(seats), N_SITES, replace=False))]
    od = costs.od_matrix(arrays, demand, sites, wide=True).to_numpy(dtype=np.float64)
    od_s = time.perf_counter() - t0
    return arrays, demand, sites, od, od_s


def nearest_pairs(minutes: np.ndarray, ks: np.ndarray) -> locate.Pairs:
    """Every demand point's ``ks[i]`` nearest sites (recommend's rule), from the dense matrix;
    per demand point the bound on what is left out (its ``ks[i]``-th time)."""
    n, m = minutes.shape
    finite = np.where(np.isfinite(minutes), minutes, np.inf)
    order = np.argsort(finite, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(m)[None, :]
    keep = (rank < ks[:, None]) & np.isfinite(finite)
    rows, cols = np.nonzero(keep)
    kth = finite[np.arange(n), order[np.arange(n), np.minimum(ks, m) - 1]]
    bound = np.where(ks < m, kth, np.inf)
    return locate.Pairs(
        rows.astype(np.int64), cols.astype(np.int64), finite[rows, cols], n, m, bound
    )


def ours_p_median(minutes: np.ndarray, w: np.ndarray) -> tuple[locate.Solution, float, str]:
    t0 = time.perf_counter()
    n, m = minutes.shape
    ks = np.full(n, min(math.ceil(m / P) + locate.P_MEDIAN_NEAREST, m), dtype=np.int64)
    solves = []
    for tries in range(locate.CUTOFF_RETRIES + 1):
        sol = locate.p_median(nearest_pairs(minutes, ks), w, P, time_limit_s=300)
        solves.append(f"{sol.n_columns} cols {sol.solve_time_s:.1f} s")
        more = sol.beyond_cutoff[ks[sol.beyond_cutoff] < m]
        if not len(more) or tries == locate.CUTOFF_RETRIES:
            break
        ks[more] = np.minimum(2 * ks[more], m)
    return sol, time.perf_counter() - t0, "; ".join(solves)


def ours_mclp(minutes: np.ndarray, w: np.ndarray) -> tuple[locate.Solution, float]:
    t0 = time.perf_counter()
    pairs = locate.pairs_from_matrix(minutes, cutoff=THRESHOLD_MIN)
    sol = locate.mclp(pairs, w, THRESHOLD_MIN, P, time_limit_s=300)
    return sol, time.perf_counter() - t0


def spopt_run(model: str, minutes: np.ndarray, w: np.ndarray, cap: float) -> dict[str, Any]:
    import pulp
    from spopt.locate import MCLP, PMedian

    dense = np.where(np.isfinite(minutes), minutes, 1e6)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # PuLP 3.3 warns about the PuLP 4 API on what spopt 0.7 calls; not ours to fix
        warnings.filterwarnings("ignore", message=r"(?s).*PuLP 4\.0", category=DeprecationWarning)
        if model == "p_median":
            obj = PMedian.from_cost_matrix(dense, w, p_facilities=P)
        else:
            obj = MCLP.from_cost_matrix(dense, w, THRESHOLD_MIN, p_facilities=P)
        build = time.perf_counter() - t0
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=cap)
        error = ""
        try:
            obj.solve(solver)
        except RuntimeError as exc:  # spopt raises when PuLP's status is not "Optimal"
            error = str(exc)
        total = time.perf_counter() - t0
        status = pulp.LpStatus[obj.problem.status]
        sol_status = pulp.LpSolution.get(obj.problem.sol_status, str(obj.problem.sol_status))
        values = np.array([v.value() or 0.0 for v in obj.fac_vars])
    opened = values > 0.5
    if not opened.any():
        value = math.nan
    elif model == "p_median":
        value = float((w * dense[:, opened].min(axis=1)).sum())
    else:
        value = float(w[(dense[:, opened] <= THRESHOLD_MIN).any(axis=1)].sum())
    capped = total >= cap * 0.98 or sol_status != "Optimal Solution Found"
    return {
        "time_s": total,
        "build_s": build,
        "objective": value,
        "status": f"{status}/{sol_status}" + (" (cap)" if capped else "") + error[:40],
        "capped": capped,
        "n_open": int(opened.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=float, default=300.0, help="time cap of CBC, seconds")
    parser.add_argument("--skip-spopt", action="store_true", help="run siting only")
    args = parser.parse_args()

    arrays, demand, sites, minutes, od_s = instance()
    w = demand["pop_65plus"].to_numpy(dtype=np.float64)
    print(
        f"instance: {len(demand)} demand x {len(sites)} sites, p={P}, MCLP threshold "
        f"{THRESHOLD_MIN:g} min; network {arrays.n} nodes; dense OD matrix {od_s:.2f} s "
        f"({np.isfinite(minutes).mean():.1%} reachable)"
    )
    rows: list[dict[str, Any]] = []

    pm, pm_s, solves = ours_p_median(minutes, w)
    rows.append(
        {
            "model": "p-median",
            "solver": "siting.locate (HiGHS)",
            "time_s": pm_s,
            "objective": pm.objective,
            "gap": pm.gap,
            "status": f"{pm.status} (solves: {solves})",
        }
    )
    mc, mc_s = ours_mclp(minutes, w)
    rows.append(
        {
            "model": "MCLP",
            "solver": "siting.locate (HiGHS)",
            "time_s": mc_s,
            "objective": mc.objective,
            "gap": mc.gap,
            "status": f"{mc.status} ({mc.n_columns} cols)",
        }
    )
    cand = gpd.GeoDataFrame(
        {"name": sites["name"]}, geometry=sites.geometry, index=sites.index, crs=sites.crs
    )
    for model, label in (("p_median", "p-median"), ("mclp", "MCLP")):
        t0 = time.perf_counter()
        res = locate.recommend(
            None,
            arrays,
            None,
            demand,
            model=model,
            p=P,
            threshold_min=THRESHOLD_MIN,
            candidates=cand,
            time_limit_s=300,
        )
        rows.append(
            {
                "model": label,
                "solver": "recommend end to end",
                "time_s": time.perf_counter() - t0,
                "objective": res.objective,
                "gap": res.gap,
                "status": f"{res.status} (solve {res.solve_time_s:.2f} s)",
            }
        )
    if not args.skip_spopt:
        for model, label in (("p_median", "p-median"), ("mclp", "MCLP")):
            out = spopt_run(model, minutes, w, args.cap)
            rows.append(
                {
                    "model": label,
                    "solver": f"spopt + CBC (build {out['build_s']:.1f} s)",
                    "time_s": out["time_s"],
                    "objective": out["objective"],
                    "gap": math.nan,
                    "status": out["status"],
                }
            )
    table = pd.DataFrame(rows)
    base = table[table["solver"].str.startswith("spopt")].set_index("model")
    ratios_t, ratios_o = [], []
    for _, row in table.iterrows():
        if row["model"] in base.index and not row["solver"].startswith("spopt"):
            ref = base.loc[row["model"]]
            ratios_t.append(ref["time_s"] / row["time_s"])
            ratios_o.append((row["objective"] - ref["objective"]) / abs(ref["objective"]))
        else:
            ratios_t.append(math.nan)
            ratios_o.append(math.nan)
    table["speedup_vs_spopt"] = ratios_t
    table["objective_diff_vs_spopt"] = ratios_o
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(
            table.to_string(
                index=False,
                formatters={
                    "time_s": "{:.2f}".format,
                    "objective": "{:,.1f}".format,
                    "gap": lambda g: "-" if not math.isfinite(g) else f"{g:.2e}",
                    "speedup_vs_spopt": lambda r: "-" if not math.isfinite(r) else f"{r:.1f}x",
                    "objective_diff_vs_spopt": lambda r: (
                        "-" if not math.isfinite(r) else f"{r:+.4%}"
                    ),
                },
            )
        )
    print(
        "objective: p-median in population-weighted minutes (lower is better), MCLP in elderly "
        "covered (higher is better); spopt's re-evaluated from the sites it opened"
    )


if __name__ == "__main__":
    main()
