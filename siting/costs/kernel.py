"""The kernel: multi-source Dijkstra runs with deterministic ties, road lengths and k ranks.

The algorithms are described in :mod:`siting.costs`. This module holds the search runs
(:func:`_settle`, :func:`_ranked`), the straight-line fallback (:func:`_straight`), the prepared
sites of a search (:class:`_Sites`, :func:`_prepare`), the result frames (:func:`_frame`) and the
OD runs (:func:`_od_network`). Its names are internal to :mod:`siting.costs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from siting._errors import CostError
from siting.costs import args
from siting.costs.args import (
    _OD_BATCH_BYTES,
    B1,
    F64,
    I64,
    Edges,
    IArr,
    Points,
    TravelSettings,
)
from siting.crs import metric_crs
from siting.graph import GraphArrays, Snapped, snap_points, snap_points_in_background


def _gather(indptr: IArr, nodes: IArr) -> I64:
    """Edge positions of the out-edges of ``nodes`` (CSR rows), in row order."""
    starts = indptr[nodes].astype(np.int64)
    counts = indptr[nodes + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)


def _subgraph(e: Edges, nodes: I64) -> Edges:
    """The subgraph induced by the sorted node positions ``nodes``, renumbered from 0."""
    m = len(nodes)
    pos = _gather(e.indptr, nodes)
    counts = (e.indptr[nodes + 1] - e.indptr[nodes]).astype(np.int64)
    dst = e.dst[pos]
    at = np.searchsorted(nodes, dst)
    ok = at < m
    ok[ok] = nodes[at[ok]] == dst[ok]
    it = args.index_dtype(int(ok.sum()), m, int(ok.sum()) + m)
    src = np.repeat(np.arange(m, dtype=it), counts)[ok]
    indptr = np.zeros(m + 1, dtype=it)
    np.cumsum(np.bincount(src, minlength=m), out=indptr[1:])
    return Edges(m, indptr, src, at[ok].astype(it), e.w[pos[ok]], e.ln[pos[ok]])


# --- the kernel with deterministic ties and road lengths -----------------------------------------


@dataclass(frozen=True)
class _Seeds:
    """Virtual sources: each enters ``node`` at time ``val`` carrying facility ``lab``, having
    already travelled ``base`` road metres."""

    node: I64
    val: F64
    lab: I64
    base: F64

    def __len__(self) -> int:
        return len(self.node)

    def take(self, sel: Any) -> _Seeds:
        return _Seeds(self.node[sel], self.val[sel], self.lab[sel], self.base[sel])

    @staticmethod
    def concat(parts: Sequence[_Seeds]) -> _Seeds:
        return _Seeds(
            np.concatenate([p.node for p in parts]),
            np.concatenate([p.val for p in parts]),
            np.concatenate([p.lab for p in parts]),
            np.concatenate([p.base for p in parts]),
        )

    def best_per_node(self) -> _Seeds:
        """One seed per node: the smallest (time, facility)."""
        order = np.lexsort((self.lab, self.val, self.node))
        node = self.node[order]
        first = np.ones(len(node), dtype=bool)
        first[1:] = node[1:] != node[:-1]
        return self.take(order[first])


def _settle(
    e: Edges,
    keep: I64 | None,
    seeds: _Seeds,
    limit: float,
    need: I64 | Callable[[], I64] | None = None,
) -> tuple[F64, I64, F64]:
    """One multi-source kernel run: time, facility and road length of every node's best seed.

    ``keep`` selects edges of ``e`` (sorted positions; ``None`` for all). Ties in time go to
    the smallest facility label; lengths follow the fastest path to that facility. Unreached
    nodes (or beyond ``limit``) get ``inf``, ``-1`` and NaN. With ``need`` (node positions),
    road lengths are only computed there (NaN elsewhere): a walk up the predecessor chains of
    those nodes, cheaper than pointer jumping over the whole tree when few nodes are needed.
    ``need`` may be a function, called once the kernel has run (it may wait for work done
    meanwhile on another thread).
    """
    n, s = e.n, len(seeds)
    if s == 0 or n == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    if keep is None:
        src, dst, w, ln, base_ptr = e.src, e.dst, e.w, e.ln, e.indptr
    else:
        src, dst, w, ln = e.src[keep], e.dst[keep], e.w[keep], e.ln[keep]
        base_ptr = np.zeros(n + 1, dtype=src.dtype)
        np.cumsum(np.bincount(src, minlength=n), out=base_ptr[1:])
    m, tot = len(src), n + s
    it = args.index_dtype(m + s, tot)
    indptr = np.empty(tot + 1, dtype=it)
    indptr[: n + 1] = base_ptr
    indptr[n + 1 :] = m + np.arange(1, s + 1)
    cols = np.concatenate([dst.astype(it, copy=False), seeds.node.astype(it)])
    data = np.concatenate([w, seeds.val])
    dist, pred, origin = dijkstra(
        sp.csr_matrix((data, cols, indptr), shape=(tot, tot)),
        directed=True,
        indices=np.arange(n, tot),
        return_predecessors=True,
        limit=limit,
        min_only=True,
    )
    lab = np.full(tot, -1, dtype=np.int64)
    reached = np.flatnonzero(origin >= 0)
    lab[reached] = seeds.lab[origin[reached] - n]

    # ties: each node takes the smallest label among the seeds reaching it along tight edges
    # (d(u) + w == d(v)); only edges entering a node with a larger label can change anything
    small = lab.astype(np.int32) if s < 2**31 else lab  # narrower gathers over every edge
    edge = np.flatnonzero(np.take(small, src) < np.take(small, dst))
    edge = edge[dist[src[edge]] + w[edge] == dist[dst[edge]]]
    virt = np.flatnonzero((seeds.val == dist[seeds.node]) & (seeds.lab < lab[seeds.node]))
    if edge.size or virt.size:
        rows = np.concatenate([src.astype(it, copy=False), np.arange(n, tot, dtype=it)])
        todo = np.concatenate([edge, m + virt])
        seen = []
        while todo.size:
            seen.append(todo)
            heads = cols[todo]
            before = lab[heads]
            np.minimum.at(lab, heads, lab[rows[todo]])
            out = _gather(indptr, np.unique(heads[lab[heads] < before]))
            keep_out = (lab[rows[out]] < lab[cols[out]]) & (
                dist[rows[out]] + data[out] == dist[cols[out]]
            )
            todo = out[keep_out]
        used = np.concatenate(seen)
        good = used[
            (lab[rows[used]] == lab[cols[used]]) & (dist[rows[used]] < dist[cols[used]])
            | (rows[used] >= n)
        ]
        good = good[lab[rows[good]] == lab[cols[good]]]
        pred[cols[good]] = rows[good]

    if callable(need):
        need = need()
    if need is not None and 4 * len(need) < n:
        acc_need = _chain_lengths(need, pred, n, src, dst, ln, seeds.base)
        road = np.full(n, np.nan)
        road[need] = acc_need
        return dist[:n], lab[:n], road

    # road length along the predecessor tree, summed by pointer jumping
    acc = np.full(tot, np.nan)
    hit = np.flatnonzero(pred[dst] == src)
    acc[dst[hit]] = ln[hit]
    first = np.flatnonzero(pred[:n] >= n)
    acc[first] = 0.0
    acc[n:] = seeds.base
    anc = pred
    anc[anc < 0] = -1
    live = np.flatnonzero(anc >= 0)
    while live.size:
        up = anc[live]
        acc[live] += acc[up]
        anc[live] = anc[up]
        live = live[anc[live] >= 0]
    return dist[:n], lab[:n], acc[:n]


def _chain_lengths(
    need: I64, pred: npt.NDArray[Any], n: int, src: IArr, dst: IArr, ln: F64, base: F64
) -> F64:
    """Road metres from each ``need`` node up its predecessor chain to its virtual source.

    Rows ``0..n-1`` of the searched graph are the road edges ``src -> dst`` of length ``ln``;
    a predecessor ``>= n`` is a virtual source whose edge length is its seed's ``base``.
    """
    # the length of the tree edge into every node (one pass over the edges), then a walk up
    # the chains of the needed nodes only, adding them
    tree_edge = np.flatnonzero(np.take(pred, dst) == src)
    into = np.zeros(len(pred))
    into[dst[tree_edge]] = ln[tree_edge]
    into[n:] = base
    need = np.asarray(need, dtype=np.int64)
    total = np.zeros(len(need))
    cur = pred[need].astype(np.int64)
    total[cur < 0] = np.nan
    total += np.where(cur >= 0, into[need], 0.0)
    todo = np.flatnonzero((cur >= 0) & (cur < n))
    while todo.size:
        v = cur[todo]
        p = pred[v].astype(np.int64)
        total[todo] += into[v]
        cur[todo] = p
        todo = todo[p < n]
    virt = cur >= n
    total[virt] += into[cur[virt]]
    return total


def _member(keys: I64, query: I64) -> B1:
    """Whether each ``query`` is in the sorted ``keys``."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=bool)
    at = np.searchsorted(keys, query).clip(0, len(keys) - 1)
    return np.asarray(keys[at] == query)


@dataclass
class _Ranked:
    """The nearest facilities of every node by rank: times, labels, road lengths (n x ranks)."""

    time: F64
    lab: I64
    length: F64


def _ranked(
    e: Edges,
    fac: _Seeds,
    n_labels: int,
    *,
    k: int | None,
    limit: float,
    watch: I64 | None = None,
    watch_limit: F64 | None = None,
    watch_later: Callable[[], tuple[I64, F64]] | None = None,
) -> _Ranked:
    """The ``k`` nearest facilities (all within ``limit`` when ``k`` is None) of every node.

    ``fac`` are the facilities as seeds (node, access time, label in id order, base 0). Ranks
    stop early once no ``watch`` node can gain another facility within its ``watch_limit``;
    ``watch_later`` gives both instead, called only after the first kernel run.
    The algorithm is described in the module docstring.
    """
    n = e.n
    if n_labels and n * n_labels >= 2**62:
        msg = "network and facilities too large for the rank keys"
        raise CostError(msg)
    fac = fac.take(np.flatnonzero(fac.val <= limit))
    need: I64 | Callable[[], I64] | None = None
    if k == 1:  # callers read the watched nodes only
        if watch_later is not None:
            later = watch_later
            need = lambda: later()[0]  # noqa: E731
        else:
            need = watch
    d, lb, ln = _settle(e, None, fac.best_per_node(), limit, need)
    if watch_later is not None:
        watch, watch_limit = watch_later()
    if k == 1 or not (lb >= 0).any():
        return _Ranked(d[:, None], lb[:, None], ln[:, None])
    cap = k if k is not None else 4
    time = np.full((n, cap), np.inf)
    lab = np.full((n, cap), -1, dtype=np.int64)
    length = np.full((n, cap), np.nan)
    cnt = np.zeros(n, dtype=np.int64)
    keys = np.empty(0, dtype=np.int64)
    first = np.zeros(len(e.dst), dtype=np.int64)  # first candidate rank of every edge
    r = 0
    while True:
        if r >= time.shape[1]:
            grow = time.shape[1]
            time = np.hstack([time, np.full((n, grow), np.inf)])
            lab = np.hstack([lab, np.full((n, grow), -1, dtype=np.int64)])
            length = np.hstack([length, np.full((n, grow), np.nan)])
        time[:, r], lab[:, r], length[:, r] = d, lb, ln
        got = np.flatnonzero(lb >= 0)
        cnt[got] += 1
        keys = np.sort(np.concatenate([keys, got * n_labels + lb[got]]), kind="stable")
        r += 1
        if (k is not None and r >= k) or r >= n_labels:
            break
        active = (cnt == r) & (time[:, r - 1] <= limit)
        if (
            watch is not None
            and watch_limit is not None
            and not np.any(active[watch] & (time[watch, r - 1] <= watch_limit))
        ):
            break
        # candidates across order-r cell borders: the first facility of u not among v's r
        em = np.flatnonzero(active[e.dst] & (cnt[e.src] > 0))
        u, v, pe = e.src[em], e.dst[em], first[em]
        cu = cnt[u]
        todo = np.flatnonzero(pe < cu)
        while todo.size:
            inside = _member(keys, v[todo].astype(np.int64) * n_labels + lab[u[todo], pe[todo]])
            todo = todo[inside]
            pe[todo] += 1
            todo = todo[pe[todo] < cu[todo]]
        first[em] = pe
        cand = pe < cu
        inner = em[~cand & (cu == r)]  # edges inside order-r cells carry rank r + 1
        c = np.flatnonzero(cand)
        uc, pc, ec = u[c], pe[c], em[c]
        cross = _Seeds(
            v[c].astype(np.int64), time[uc, pc] + e.w[ec], lab[uc, pc], length[uc, pc] + e.ln[ec]
        )
        own = fac.take(
            np.flatnonzero(active[fac.node] & ~_member(keys, fac.node * n_labels + fac.lab))
        )
        seeds = _Seeds.concat([cross, own])
        seeds = seeds.take(np.flatnonzero(seeds.val <= limit))
        if len(seeds) == 0:
            break
        d, lb, ln = _settle(e, inner, seeds.best_per_node(), limit)
        if not (lb >= 0).any():
            break
    return _Ranked(time[:, :r], lab[:, :r], length[:, :r])


def _pad(a: npt.NDArray[Any], k: int, fill: Any) -> npt.NDArray[Any]:
    """``a`` (m x r) cut or padded with ``fill`` to k columns."""
    if a.shape[1] >= k:
        return a[:, :k]
    out = np.full((a.shape[0], k), fill, dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def _merge(a: tuple[F64, I64, F64], b: tuple[F64, I64, F64], k: int) -> tuple[F64, I64, F64]:
    """Row-wise ``k`` best of two ranked sets (time, label, length) by (time, label).

    Labels ``-1`` are absent entries; the result has exactly ``k`` columns.
    """
    t = np.hstack([a[0], b[0]])
    lab = np.hstack([a[1], b[1]])
    dist = np.hstack([a[2], b[2]])
    m, width = t.shape
    absent = lab < 0
    tkey = np.where(absent, np.inf, t).ravel()
    lkey = np.where(absent, np.iinfo(np.int64).max, lab).ravel()
    order = np.lexsort((lkey, tkey, np.repeat(np.arange(m), width))).reshape(m, width)[:, :k]
    out_t, out_l, out_d = t.ravel()[order], lab.ravel()[order], dist.ravel()[order]
    out_t[out_l < 0] = np.inf
    return _pad(out_t, k, np.inf), _pad(out_l, k, -1), _pad(out_d, k, np.nan)


# --- the straight-line fallback ------------------------------------------------------------------


def _straight(
    qx: F64,
    qy: F64,
    fx: F64,
    fy: F64,
    *,
    k: int | None,
    limit: float,
    detour: float,
    speed_kph: float,
) -> _Ranked:
    """Ranked facilities of every query point by detoured straight-line time (exact ties)."""
    m, nf = len(qx), len(fx)
    per_m = detour / (speed_kph / 3.6)  # seconds per straight metre
    if nf == 0 or m == 0:
        return _Ranked(
            np.full((m, 0), np.inf), np.full((m, 0), -1, dtype=np.int64), np.full((m, 0), np.nan)
        )
    tree = cKDTree(np.column_stack([fx, fy]))
    q = np.column_stack([qx, qy])
    if k is not None:
        kq = min(nf, k + 2)
        kd_dist, cand = tree.query(q, k=kq)
        cand = np.asarray(cand, dtype=np.int64).reshape(m, kq)
        kd_dist = np.asarray(kd_dist, dtype=float).reshape(m, kq)
        lists: list[I64] = list(cand)
        if kq < nf:
            d = np.hypot(qx[:, None] - fx[cand], qy[:, None] - fy[cand])
            kth = np.sort(d, axis=1)[:, min(k, kq) - 1]
            unsure = np.flatnonzero(~(kth < kd_dist[:, -1] * (1.0 - 1e-12)))
            if unsure.size:
                wide = tree.query_ball_point(q[unsure], kth[unsure] * (1 + 1e-9) + 1e-6)
                for i, got in zip(unsure, wide, strict=True):
                    lists[i] = np.asarray(got, dtype=np.int64)
    else:
        radius = limit / per_m * (1 + 1e-9) + 1e-6 if math.isfinite(limit) else np.inf
        if not math.isfinite(radius):
            lists = [np.arange(nf, dtype=np.int64)] * m
        else:
            lists = [np.asarray(x, dtype=np.int64) for x in tree.query_ball_point(q, radius)]
    sizes = np.fromiter((len(x) for x in lists), np.int64, m)
    row = np.repeat(np.arange(m), sizes)
    lab = np.concatenate(lists) if m else np.empty(0, dtype=np.int64)
    road = np.hypot(qx[row] - fx[lab], qy[row] - fy[lab]) * detour
    t = road / (speed_kph / 3.6)
    ok = t <= limit
    row, lab, road, t = row[ok], lab[ok], road[ok], t[ok]
    order = np.lexsort((lab, t, row))
    row, lab, road, t = row[order], lab[order], road[order], t[order]
    starts = np.searchsorted(row, np.arange(m))
    rank = np.arange(len(row)) - starts[row]
    if k is not None:
        sel = rank < k
        row, lab, road, t, rank = row[sel], lab[sel], road[sel], t[sel], rank[sel]
    width = int(rank.max()) + 1 if len(rank) else 0
    tt = np.full((m, width), np.inf)
    ll = np.full((m, width), -1, dtype=np.int64)
    dd = np.full((m, width), np.nan)
    tt[row, rank], ll[row, rank], dd[row, rank] = t, lab, road
    return _Ranked(tt, ll, dd)


# --- prepared inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sites:
    """Points ready for a search: snapped to the network, or projected for straight lines."""

    ids: pd.Index
    node: I64  # snapped node position (-1 without a network)
    access_s: F64  # access leg (0 without a network)
    snap_m: F64  # NaN without a network
    flag: B1
    x: F64  # metric coordinates (straight line), else empty
    y: F64

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, sel: I64) -> _Sites:
        return _Sites(
            self.ids[sel],
            self.node[sel],
            self.access_s[sel],
            self.snap_m[sel],
            self.flag[sel],
            self.x[sel] if len(self.x) else self.x,
            self.y[sel] if len(self.y) else self.y,
        )

    def sorted(self) -> _Sites:
        return self.take(args.order(self.ids))

    @cached_property
    def id_values(self) -> Any:
        """The ids as the array of an id column (:func:`siting.costs.args.id_array`), converted
        once; the index itself when empty."""
        return args.id_array(self.ids) if len(self.ids) else self.ids

    @staticmethod
    def concat(a: _Sites, b: _Sites) -> _Sites:
        return _Sites(
            a.ids.append(b.ids),
            np.concatenate([a.node, b.node]),
            np.concatenate([a.access_s, b.access_s]),
            np.concatenate([a.snap_m, b.snap_m]),
            np.concatenate([a.flag, b.flag]),
            np.concatenate([a.x, b.x]),
            np.concatenate([a.y, b.y]),
        )


def _insert_sorted(old: _Sites, new: _Sites) -> tuple[_Sites, I64, I64]:
    """Merge ``new`` (sorted by id) into ``old`` (sorted by id): the merged table and the new
    positions of the rows of ``old`` and of ``new``. Binary search, no full re-sort."""
    n_old, n_new = len(old), len(new)
    try:
        ins = np.asarray(old.ids.searchsorted(new.ids), dtype=np.int64)
    except TypeError:  # ids that do not compare: sort the union as strings
        both = _Sites.concat(old, new)
        order = args.order(both.ids)
        place = np.empty(len(order), dtype=np.int64)
        place[order] = np.arange(len(order))
        return both.take(order), place[:n_old], place[n_old:]
    place_new = ins + np.arange(n_new)
    place_old = np.arange(n_old) + np.searchsorted(ins, np.arange(n_old), side="right")
    order = np.empty(n_old + n_new, dtype=np.int64)
    order[place_old] = np.arange(n_old)
    order[place_new] = n_old + np.arange(n_new)
    table = _Sites.concat(old, new).take(order)
    if n_old and n_new and "id_values" in old.__dict__:
        # the ids converted once: old and new of the same kind give the union's (no new
        # conversion of every id, which is most of the time of adding one facility)
        a, b = old.id_values, new.id_values
        if a.dtype == b.dtype:
            table.__dict__["id_values"] = type(a)._concat_same_type([a, b]).take(order)
    return table, place_old, place_new


def _straight_crs(groups: Sequence[Points]) -> pyproj.CRS:
    """The metric CRS of the first non-empty group (its bounding-box centre's UTM zone)."""
    for pts in groups:
        if len(pts):
            lon = (float(pts.lon.min()) + float(pts.lon.max())) / 2.0
            lat = (float(pts.lat.min()) + float(pts.lat.max())) / 2.0
            return metric_crs((lon, lat))
    return metric_crs()


def _snapped_sites(ids: pd.Index, snapped: Snapped, sel: slice = slice(None)) -> _Sites:
    """Points tied to the network, from :func:`siting.graph.snap_points` (rows ``sel``)."""
    empty = np.empty(0)
    return _Sites(
        ids,
        snapped.node_pos[sel],
        snapped.access_s[sel],
        snapped.snap_m[sel],
        snapped.snap_flag[sel],
        empty,
        empty,
    )


def _prepare(
    arrays: GraphArrays | None,
    groups: Sequence[Points],
    st: TravelSettings,
    crs: pyproj.CRS | None = None,
) -> list[_Sites]:
    """Snap (network) or project (straight line) several point sets in one pass."""
    sizes = [len(g) for g in groups]
    lon = np.concatenate([g.lon for g in groups]) if groups else np.empty(0)
    lat = np.concatenate([g.lat for g in groups]) if groups else np.empty(0)
    cuts = np.cumsum(sizes)[:-1]
    out = []
    if arrays is not None:
        if not len(lon):
            empty = np.empty(0)
            none = np.empty(0, np.int64)
            return [
                _Sites(g.ids, none, empty, empty, np.empty(0, bool), empty, empty) for g in groups
            ]
        snapped = snap_points(
            arrays, lon, lat, max_snap_m=st.max_snap_m, access_speed_kph=st.access_speed_kph
        )
        starts = np.concatenate([[0], cuts]).astype(int)
        ends = np.concatenate([cuts, [len(lon)]]).astype(int)
        return [
            _snapped_sites(g.ids, snapped, slice(a, b))
            for g, a, b in zip(groups, starts, ends, strict=True)
        ]
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs or metric_crs(), always_xy=True)
    x, y = (np.asarray(a, dtype=np.float64) for a in tf.transform(lon, lat))
    for g, gx, gy in zip(groups, np.split(x, cuts), np.split(y, cuts), strict=True):
        m = len(g)
        out.append(
            _Sites(
                g.ids,
                np.full(m, -1, dtype=np.int64),
                np.zeros(m),
                np.full(m, np.nan),
                np.zeros(m, dtype=bool),
                gx,
                gy,
            )
        )
    return out


def _prepare_later(arrays: GraphArrays, pts: Points, st: TravelSettings) -> Callable[[], _Sites]:
    """:func:`_prepare` for one point set on a network, snapped on a background thread."""
    join = snap_points_in_background(
        arrays, pts.lon, pts.lat, max_snap_m=st.max_snap_m, access_speed_kph=st.access_speed_kph
    )

    return lambda: _snapped_sites(pts.ids, join())


#: Columns of a nearest frame that change when a demand point's facilities change.
_CHANGING = ("facility_id", "time_s", "distance_m", "reachable", "facility_snap_m", "snap_flag")


def _columns(
    dem: _Sites,
    key_of: I64,
    ranked: _Ranked,
    fac: _Sites,
    *,
    k: int | None,
    limit: float,
    method: str,
    only: I64 | None = None,
) -> dict[str, Any]:
    """The columns of :func:`_frame`; with ``only`` (demand positions, ``k`` given), the columns
    :data:`_CHANGING` of the rows of these demand points alone (``k`` rows each, in the order of
    ``only``)."""
    width = max(ranked.time.shape[1], 1) if k is None else k
    keys = key_of if only is None else key_of[only]
    t = _pad(ranked.time[keys], width, np.inf)
    lab = _pad(ranked.lab[keys], width, -1)
    road = _pad(ranked.length[keys], width, np.nan)
    access = dem.access_s if only is None else dem.access_s[only]
    total = t + access[:, None]
    ok = (lab >= 0) & (total <= limit)
    if k is None:
        keep = ok.copy()
        keep[:, 0] = True  # every point appears, reachable or not
        point, col = np.nonzero(keep)
        good = ok[point, col]
        lab_at, total_at, road_at = lab[point, col], total[point, col], road[point, col]
    else:  # every (point, rank) in row-major order: the flattened arrays
        point = np.repeat(np.arange(len(keys)), width) if width > 1 else np.arange(len(keys))
        col = np.tile(np.arange(width), len(keys))
        good, lab_at, total_at, road_at = ok.ravel(), lab.ravel(), total.ravel(), road.ravel()
    glob = point if only is None else only[point]
    fpos = np.where(good, lab_at, -1)
    has = fpos >= 0
    fac_flag = np.zeros(len(fpos), dtype=bool)
    fac_snap = np.full(len(fpos), np.nan)
    if len(fac):
        fac_flag[has] = fac.flag[fpos[has]]
        fac_snap[has] = fac.snap_m[fpos[has]]
    changing = {
        "facility_id": args.take_ids(fac.id_values, fpos),
        "time_s": np.where(good, total_at, np.nan),
        "distance_m": np.where(good, road_at, np.nan),
        "reachable": good,
        "facility_snap_m": fac_snap,
        "snap_flag": dem.flag[glob] | fac_flag,
    }
    if only is not None:
        return changing
    return {
        "demand_id": dem.ids.take(glob),
        "rank": (col + 1).astype(np.int64),
        "facility_id": changing["facility_id"],
        "time_s": changing["time_s"],
        "distance_m": changing["distance_m"],
        # an index (immutable): typed once as a frame column would be, shared by the frames of
        # NearestIndex.result under copy-on-write instead of copied (see _handed_out)
        "method": pd.Index(np.full(len(point), method, dtype=object)),
        "reachable": good,
        "demand_snap_m": dem.snap_m[glob],
        "facility_snap_m": fac_snap,
        "snap_flag": changing["snap_flag"],
    }


#: pandas >= 3 always copies on write: a frame built on an index shares it safely.
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def _handed_out(cols: dict[str, Any]) -> pd.DataFrame:
    """A frame of the kept columns ``cols`` that shares nothing its reader could change with
    them, nor anything :meth:`NearestIndex.add` changes later: the arrays are copied; the index
    columns (ids, method) are shared under copy-on-write (pandas >= 3), immutable there."""
    if not _COPY_ON_WRITE:
        return pd.DataFrame(cols, copy=True)
    out = {name: v if isinstance(v, pd.Index) else v.copy() for name, v in cols.items()}
    return pd.DataFrame(out, copy=False)


def _frame(
    dem: _Sites,
    key_of: I64,
    ranked: _Ranked,
    fac: _Sites,
    *,
    k: int | None,
    limit: float,
    method: str,
) -> pd.DataFrame:
    """Long-form result: one row per demand point and rank (k rows each, or the reachable ones
    and a placeholder row for a point with none when ``k`` is None)."""
    return pd.DataFrame(
        _columns(dem, key_of, ranked, fac, k=k, limit=limit, method=method), copy=False
    )


# --- OD matrices ---------------------------------------------------------------------------------


def _od_network(arrays: GraphArrays, orig: I64, dest: I64, limit: float) -> tuple[F64, F64]:
    """Road time and length between node positions (``len(orig)`` x ``len(dest)``)."""
    uo, io = np.unique(orig, return_inverse=True)
    ud, idd = np.unique(dest, return_inverse=True)
    flip = len(uo) > len(ud)
    e = args.search(arrays, "to_facility" if flip else "from_facility").edges
    sources, targets = (ud, uo) if flip else (uo, ud)
    mat = e.matrix()
    n = e.n
    time = np.full((len(sources), len(targets)), np.inf)
    road = np.full((len(sources), len(targets)), np.nan)
    batch = max(1, _OD_BATCH_BYTES // max(n * 40 + len(e.dst), 1))
    for lo in range(0, len(sources), batch):
        idx = sources[lo : lo + batch]
        b = len(idx)
        dist, pred = dijkstra(
            mat, directed=True, indices=idx, return_predecessors=True, limit=limit
        )
        dist = np.asarray(dist).reshape(b, n)
        pred = np.asarray(pred, dtype=np.int64).reshape(b, n)
        acc = np.full((b, n), np.nan)
        rr, ee = np.nonzero(pred[:, e.dst] == e.src[None, :])
        acc[rr, e.dst[ee]] = e.ln[ee]
        acc[np.arange(b), idx] = 0.0
        anc = np.where(pred >= 0, pred + (np.arange(b) * n)[:, None], -1).ravel()
        flat = acc.ravel()
        live = np.flatnonzero(anc >= 0)
        while live.size:
            up = anc[live]
            flat[live] += flat[up]
            anc[live] = anc[up]
            live = live[anc[live] >= 0]
        time[lo : lo + b] = dist[:, targets]
        road[lo : lo + b] = acc[:, targets]
    if flip:
        time, road = time.T, road.T
    return time[io][:, idd], road[io][:, idd]
