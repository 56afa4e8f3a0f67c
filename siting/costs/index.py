"""The incremental index: the ``k`` nearest facilities kept exact as facilities change.

:class:`NearestIndex` (see "Incremental" in :mod:`siting.costs` for the algorithm).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy.sparse.csgraph import dijkstra

from siting._errors import CostError
from siting.costs import args
from siting.costs.args import (
    _SLACK,
    F64,
    I64,
    NETWORK,
    STRAIGHT_LINE,
    Direction,
    Network,
    TravelOptions,
    TravelSettings,
)
from siting.costs.kernel import (
    _CHANGING,
    _columns,
    _handed_out,
    _insert_sorted,
    _member,
    _merge,
    _pad,
    _prepare,
    _prepare_later,
    _Ranked,
    _ranked,
    _Seeds,
    _Sites,
    _straight,
    _straight_crs,
    _subgraph,
)
from siting.graph import GraphArrays, node_tree


def _background_snap_from() -> int:
    """:data:`siting.costs._BACKGROUND_SNAP_FROM`, read at each build so that a patch of the
    package attribute (as the tests do) takes effect; looked up in ``sys.modules`` (the package
    is always imported before its modules) rather than imported back, which would be a cycle."""
    return int(sys.modules["siting.costs"]._BACKGROUND_SNAP_FROM)


class NearestIndex:
    """The ``k`` nearest facilities of fixed demand points, kept exact as facilities change.

    Build it with :meth:`build`; read :attr:`result`; :meth:`add` new facilities (searching from
    the new ones only, within the bound where they can matter) and :meth:`remove` closed ones.
    After any sequence of changes :attr:`result` equals :func:`nearest` on the current
    facilities (ids, ranks, times; ties broken by time then facility id).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> demand = gpd.GeoDataFrame(
    ...     geometry=[Point(106.08, 30.80)], index=pd.Index(["v1"], name="id"), crs=4326
    ... )
    >>> far = gpd.GeoDataFrame(
    ...     geometry=[Point(106.20, 30.80)], index=pd.Index(["HC-1"], name="id"), crs=4326
    ... )
    >>> index = NearestIndex.build(None, demand, far)
    >>> index.result["facility_id"].tolist()
    ['HC-1']
    >>> near = gpd.GeoDataFrame(
    ...     geometry=[Point(106.09, 30.80)], index=pd.Index(["HC-2"], name="id"), crs=4326
    ... )
    >>> index.add(near).result["facility_id"].tolist()
    ['HC-2']
    """

    def __init__(
        self,
        *,
        arrays: GraphArrays | None,
        direction: Direction,
        k: int,
        kinds: tuple[str, ...] | None,
        limit: float,
        st: TravelSettings,
        crs: pyproj.CRS | None,
        demand: _Sites | Callable[[], _Sites],
        facilities: _Sites,
    ) -> None:
        self._arrays = arrays
        self._direction = direction
        self._k = k
        self._kinds = kinds
        self._limit = limit
        self._st = st
        self._crs = crs
        self._pending = demand if callable(demand) else None
        if not callable(demand):
            self._set_demand(demand)
        self._fac = facilities.sorted()
        self._state = self._solve(self._fac)
        self._demand_keys()  # the demand is known from here on
        self._cols: dict[str, Any] | None = None  # the columns of the result, kept up to date
        self._closure_nodes: I64 | None = None
        self._closure_known = False
        self._kxy: tuple[F64, F64] | None = None

    # -- construction --

    def _set_demand(self, demand: _Sites) -> None:
        self._dem = demand
        if self._arrays is not None:
            self._keynode, self._key_of = np.unique(demand.node, return_inverse=True)
            self._key_of = self._key_of.astype(np.int64)
            slack = np.full(len(self._keynode), np.inf)
            np.minimum.at(slack, self._key_of, demand.access_s)
            self._slack = self._limit - slack
        else:
            self._keynode = np.arange(len(demand), dtype=np.int64)
            self._key_of = self._keynode
            self._slack = np.full(len(demand), self._limit)

    def _demand_keys(self) -> tuple[I64, F64]:
        """The demand nodes and their slack, waiting for a background snap if one runs."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._set_demand(pending())
        return self._keynode, self._slack

    @classmethod
    def build(
        cls,
        network: Network,
        demand: gpd.GeoDataFrame,
        facilities: gpd.GeoDataFrame,
        *,
        k: int = 1,
        kind: str | Iterable[str] | None = None,
        direction: str | None = None,
        max_time_s: float | None = None,
        max_snap_m: float | None = None,
        access_speed_kph: float | None = None,
        detour_factor: float | None = None,
        straight_line_speed_kph: float | None = None,
        options: TravelOptions | None = None,
    ) -> NearestIndex:
        """Compute the ``k`` nearest facilities of every demand point.

        Parameters are those of :func:`nearest`.
        """
        kk = args.positive_int(k, "k")
        direction, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph = (
            args.with_options(
                options,
                direction,
                max_snap_m,
                access_speed_kph,
                detour_factor,
                straight_line_speed_kph,
            )
        )
        way = args.direction(direction)
        limit = args.seconds(max_time_s, "max_time_s")
        st = args.travel_settings(
            max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
        )
        kinds = args.kinds(kind)
        dem_pts = args.points(demand, "demand")
        fac_pts = args.select(args.points(facilities, "facilities"), kinds, "facilities")
        arrays = args.arrays(network)
        crs = None if arrays is not None else _straight_crs([dem_pts, fac_pts])
        dem: _Sites | Callable[[], _Sites]
        if arrays is not None and len(dem_pts) >= _background_snap_from():
            (fac,) = _prepare(arrays, [fac_pts], st)
            dem = _prepare_later(arrays, dem_pts, st)
        else:
            dem, fac = _prepare(arrays, [dem_pts, fac_pts], st, crs)
        return cls(
            arrays=arrays,
            direction=way,
            k=kk,
            kinds=kinds,
            limit=limit,
            st=st,
            crs=crs,
            demand=dem,
            facilities=fac,
        )

    # -- reading --

    @property
    def result(self) -> pd.DataFrame:
        """The nearest facilities in long form (columns :data:`COLUMNS`), ``k`` rows per
        demand point in input order, ``rank`` 1..k."""
        return _handed_out(self._columns())

    def _release(self) -> pd.DataFrame:
        """:attr:`result` without its defensive copy, for a caller that drops the index."""
        cols, self._cols = self._columns(), None
        return pd.DataFrame(cols, copy=False)

    def _columns(self) -> dict[str, Any]:
        """The result columns, computed once and then kept up to date by :meth:`add`."""
        if self._cols is None:
            self._cols = _columns(
                self._dem,
                self._key_of,
                _Ranked(*self._state),
                self._fac,
                k=self._k,
                limit=self._limit,
                method=self.method,
            )
        return self._cols

    def _update_rows(self, rows: I64) -> None:
        """Bring the kept result columns up to date after the demand keys ``rows`` changed."""
        if self._cols is None or rows.size == 0:
            return
        changed = np.zeros(len(self._state[0]), dtype=bool)
        changed[rows] = True
        only = np.flatnonzero(changed[self._key_of])
        if only.size == 0:
            return
        part = _columns(
            self._dem,
            self._key_of,
            _Ranked(*self._state),
            self._fac,
            k=self._k,
            limit=self._limit,
            method=self.method,
            only=only,
        )
        at = (only[:, None] * self._k + np.arange(self._k)).ravel()
        for name in _CHANGING:
            self._cols[name][at] = part[name]

    @property
    def facilities(self) -> pd.Index:
        """Ids of the facilities currently indexed (after the ``kind`` filter), sorted."""
        return self._fac.ids.copy()

    @property
    def k(self) -> int:
        """Number of nearest facilities kept per demand point."""
        return self._k

    @property
    def direction(self) -> Direction:
        """``"to_facility"`` or ``"from_facility"``."""
        return self._direction

    @property
    def method(self) -> str:
        """``"network"`` or ``"straight_line"``."""
        return NETWORK if self._arrays is not None else STRAIGHT_LINE

    def __repr__(self) -> str:
        return (
            f"NearestIndex({len(self._dem)} demand points, {len(self._fac)} facilities, "
            f"k={self._k}, {self._direction}, {self.method})"
        )

    # -- computing --

    def _solve(self, fac: _Sites) -> tuple[F64, I64, F64]:
        """Ranked facilities of every demand key (node or point), from scratch."""
        k = self._k
        if self._arrays is None:
            ranked = _straight(
                self._dem.x,
                self._dem.y,
                fac.x,
                fac.y,
                k=k,
                limit=self._limit,
                detour=self._st.detour_factor,
                speed_kph=self._st.straight_speed_kph,
            )
            return (
                _pad(ranked.time, k, np.inf),
                _pad(ranked.lab, k, -1),
                _pad(ranked.length, k, np.nan),
            )
        search = args.search(self._arrays, self._direction)
        seeds = _Seeds(
            fac.node, fac.access_s, np.arange(len(fac), dtype=np.int64), np.zeros(len(fac))
        )
        ranked = _ranked(
            search.edges,
            seeds,
            len(fac),
            k=k,
            limit=self._limit,
            watch_later=self._demand_keys,
        )
        rows = self._keynode
        return (
            _pad(ranked.time[rows], k, np.inf),
            _pad(ranked.lab[rows], k, -1),
            _pad(ranked.length[rows], k, np.nan),
        )

    def _add_network(self, new: _Sites) -> tuple[F64, I64, F64, I64]:
        """Ranked new facilities at the demand keys they could improve (labels local to
        ``new``), and those keys."""
        assert self._arrays is not None
        search = args.search(self._arrays, self._direction)
        rows, bound, nodes = self._plan(new)
        k = self._k
        if rows.size == 0:
            empty = np.empty((0, k))
            return empty, np.empty((0, k), dtype=np.int64), empty, rows
        key_pos = self._keynode[rows]
        fac_pos = new.node
        graph = search.edges
        if nodes is not None:
            graph = _subgraph(search.edges, nodes)
            fac_pos = np.searchsorted(nodes, new.node)  # all inside
            at = np.searchsorted(nodes, key_pos).clip(0, len(nodes) - 1)
            inside = nodes[at] == key_pos
            rows, key_pos = rows[inside], at[inside]
        seeds = _Seeds(
            fac_pos, new.access_s, np.arange(len(new), dtype=np.int64), np.zeros(len(new))
        )
        ranked = _ranked(
            graph,
            seeds,
            len(new),
            k=k,
            limit=bound,
            watch=key_pos,
            watch_limit=np.minimum(self._slack[rows], self._state[0][rows, k - 1]),
        )
        return (
            _pad(ranked.time[key_pos], k, np.inf),
            _pad(ranked.lab[key_pos], k, -1),
            _pad(ranked.length[key_pos], k, np.nan),
            rows,
        )

    def _closure(self) -> I64 | None:
        """Nodes from which the search could reach a demand node that has fewer than ``k``
        facilities (within ``max_time_s``); ``None`` when that is most of the graph.

        Computed once (one multi-source run on the reverse of the search graph) and kept: adding
        facilities only shrinks the set of such demand nodes, so it stays a superset.
        """
        if not self._closure_known:
            assert self._arrays is not None
            short = self._keynode[~np.isfinite(self._state[0][:, self._k - 1])]
            other: Direction = (
                "from_facility" if self._direction == "to_facility" else "to_facility"
            )
            back = args.search(self._arrays, other).edges
            dist = dijkstra(
                back.matrix(), directed=True, indices=short, min_only=True, limit=self._limit
            )
            nodes = np.flatnonzero(np.isfinite(dist))
            self._closure_nodes = nodes if 2 * len(nodes) <= back.n else None
            self._closure_known = True
        return self._closure_nodes

    def _plan(self, new: _Sites) -> tuple[I64, float, I64 | None]:
        """Demand keys that ``new`` could improve, the search bound, and the nodes to search
        (sorted positions; ``None`` for the whole graph)."""
        assert self._arrays is not None
        search = args.search(self._arrays, self._direction)
        kth = self._state[0][:, self._k - 1]
        if self._kxy is None:
            self._kxy = (search.x[self._keynode], search.y[self._keynode])
        kx, ky = self._kxy
        bx, by = search.x[new.node], search.y[new.node]
        vmax = search.vmax
        # lower bound of the time from any new facility: access + crow-flies at top speed
        if len(new) == 1:  # the common case, in one dimension
            # in place, few passes over the keys (np.hypot is several times slower)
            lower = kx - bx[0]
            dy = ky - by[0]
            lower *= lower
            dy *= dy
            lower += dy
            np.sqrt(lower, out=lower)
            if vmax > 0:
                lower *= (1.0 - _SLACK) / vmax
            else:
                lower = np.where(lower > 0, np.inf, 0.0)
            lower += new.access_s[0] * (1.0 - _SLACK)
        else:
            lower = np.full(len(kx), np.inf)
            step = max(1, 4_000_000 // max(len(kx), 1))
            for i in range(0, len(new), step):
                crow = np.hypot(
                    kx[:, None] - bx[None, i : i + step], ky[:, None] - by[None, i : i + step]
                )
                leg = crow / vmax if vmax > 0 else np.where(crow > 0, np.inf, 0.0)
                lower = np.minimum(lower, (new.access_s[None, i : i + step] + leg).min(axis=1))
            lower = lower * (1.0 - _SLACK)
        # a key can improve when the bound is within its k-th time and its slack (keys with
        # fewer than k facilities have an infinite k-th time: within the slack is enough)
        cap = np.minimum(kth, self._slack)
        rows = np.flatnonzero(lower <= cap)
        finite = np.isfinite(kth[rows])
        closure: I64 | None = None
        whole = False
        if not finite.all():
            closure = self._closure()
            if closure is None:
                whole = True
            elif not _member(closure, new.node).any():  # (closure: sorted positions)
                rows, finite = rows[finite], finite[finite]  # no new facility reaches the short
        if rows.size == 0:
            return rows, 0.0, np.empty(0, dtype=np.int64)
        if whole:
            return rows, self._limit, None
        bound = -np.inf
        parts = [new.node]
        if finite.any():
            bound = min(float(np.max(cap[rows[finite]])), self._limit)
            # only nodes within the bound's crow-flies radius of a new facility can matter
            inside = np.flatnonzero(new.access_s <= bound)
            if inside.size:
                radius = (bound - new.access_s[inside]) * vmax * (1.0 + _SLACK) + 1e-6
                centre = np.column_stack([bx[inside], by[inside]])
                tree = node_tree(self._arrays)  # the one snapping uses: built once
                hits = tree.query_ball_point(centre, radius, return_sorted=True)
                parts += [np.asarray(h, dtype=np.int64) for h in hits]
        if not finite.all() and closure is not None:
            bound = self._limit
            parts.append(closure)
        if len(parts) == 2 and _member(parts[1], parts[0]).all():
            return rows, bound, parts[1]  # one ball around the new facilities: sorted, unique
        return rows, bound, np.unique(np.concatenate(parts))

    def add(self, new_facilities: gpd.GeoDataFrame) -> NearestIndex:
        """Add facilities and update the nearest results in place; returns ``self``.

        Only the new facilities are searched, bounded by the largest current ``k``-th time of
        the demand nodes they could improve (a crow-flies lower bound decides which), on the
        subgraph within reach of that bound. The ``kind`` filter of :meth:`build` applies.

        Raises
        ------
        CostError
            If an id is already indexed.
        """
        pts = args.select(
            args.points(new_facilities, "new_facilities"), self._kinds, "new_facilities"
        )
        if len(pts) == 0:
            return self
        clash = pts.ids[pts.ids.isin(self._fac.ids)]
        if len(clash):
            msg = f"new_facilities: ids already indexed: {clash[:5].tolist()}"
            raise CostError(msg)
        (new,) = _prepare(self._arrays, [pts], self._st, self._crs)
        new = new.sorted()
        if self._arrays is None:
            ranked = _straight(
                self._dem.x,
                self._dem.y,
                new.x,
                new.y,
                k=self._k,
                limit=self._limit,
                detour=self._st.detour_factor,
                speed_kph=self._st.straight_speed_kph,
            )
            rows = np.arange(len(self._dem), dtype=np.int64)
            part = (
                _pad(ranked.time, self._k, np.inf),
                _pad(ranked.lab, self._k, -1),
                _pad(ranked.length, self._k, np.nan),
            )
        else:
            *found, rows = self._add_network(new)
            part = (found[0], found[1], found[2])
        # one table sorted by id: old and new labels move to their places in it
        table, place_old, place_new = _insert_sorted(self._fac, new)
        time, lab, road = self._state
        lab[...] = np.append(place_old, -1)[lab]  # -1 (no facility) takes the appended -1
        new_lab = np.where(part[1] >= 0, place_new[np.maximum(part[1], 0)], -1)
        if rows.size:
            t, lb, rd = _merge(
                (time[rows], lab[rows], road[rows]), (part[0], new_lab, part[2]), self._k
            )
            time[rows], lab[rows], road[rows] = t, lb, rd
        self._fac = table
        self._update_rows(rows)
        return self

    def remove(self, ids: Iterable[Any]) -> NearestIndex:
        """Remove facilities by id and update the results in place; returns ``self``.

        Demand points whose ``k`` nearest did not include a removed facility keep their result;
        otherwise the index is recomputed (exact, as a full build).

        Raises
        ------
        CostError
            Naming ids that are not indexed.
        """
        gone = pd.Index(list(ids) if not isinstance(ids, str) else [ids])
        missing = gone[~gone.isin(self._fac.ids)]
        if len(missing):
            msg = f"ids: not indexed: {missing[:5].tolist()}"
            raise CostError(msg)
        drop = self._fac.ids.isin(gone)
        if not drop.any():
            return self
        keep = np.flatnonzero(~drop)
        newpos = np.full(len(self._fac), -1, dtype=np.int64)
        newpos[keep] = np.arange(len(keep))
        time, lab, road = self._state
        affected = np.isin(lab, np.flatnonzero(drop)).any(axis=1)
        self._fac = self._fac.take(keep)
        if affected.any():
            self._state = self._solve(self._fac)
            self._closure_known = False
            self._cols = None
        else:  # the same facilities at every demand point: the result stays
            self._state = (time, np.where(lab >= 0, newpos[np.maximum(lab, 0)], -1), road)
        return self
