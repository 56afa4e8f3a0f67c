"""The argument layer of the cost functions: checked inputs and the compiled search graph.

Every cost function (here and in :mod:`siting.coverage`, :mod:`siting.locate`,
:mod:`siting.batch`) turns its arguments into the same checked forms with these helpers, so
that one bad input gives one message everywhere:

* :func:`points` / :func:`select` / :func:`kinds`: a GeoDataFrame of points -> :class:`Points`
  (ids, WGS84 coordinates, kinds), filtered by ``kind=``;
* :func:`direction`: ``direction=`` checked;
* :func:`arrays`: the ``network`` argument compiled (``None`` is the straight-line fallback);
* :func:`search`: the search graph of compiled arrays for a direction (cached);
* :func:`travel_settings`: snap distance, access speed, detour factor and straight-line speed,
  with defaults from :mod:`siting.settings`.

Errors are :class:`siting.costs.CostError` (``TypeError`` for a wrong type of argument).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from siting import settings
from siting._errors import CostError
from siting.graph import GraphArrays, compiled
from siting.graph import Network as Network

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]
Direction = Literal["to_facility", "from_facility"]

#: Accepted values of ``direction=``.
DIRECTIONS: Final = ("to_facility", "from_facility")

#: Columns of :func:`nearest`, :func:`reach` and :attr:`NearestIndex.result`, in order.
COLUMNS: Final = (
    "demand_id",
    "rank",
    "facility_id",
    "time_s",
    "distance_m",
    "method",
    "reachable",
    "demand_snap_m",
    "facility_snap_m",
    "snap_flag",
)

#: Columns of :func:`od_matrix` in long form, in order.
OD_COLUMNS: Final = (
    "origin_id",
    "destination_id",
    "time_s",
    "distance_m",
    "method",
    "reachable",
    "origin_snap_m",
    "destination_snap_m",
    "snap_flag",
)

NETWORK: Final = "network"
STRAIGHT_LINE: Final = "straight_line"

#: Memory budget of one batch of full single-source searches in :func:`od_matrix` (bytes).
_OD_BATCH_BYTES: Final = 256 * 2**20
_WGS84: Final = pyproj.CRS("EPSG:4326")
#: Relative slack of the crow-flies lower bounds (float rounding of projected coordinates).
_SLACK: Final = 1e-9


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Points:
    """Validated points: ids in input order, WGS84 coordinates."""

    ids: pd.Index
    lon: F64
    lat: F64
    kinds: pd.Series | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: B1) -> Points:
        kinds = None if self.kinds is None else self.kinds[mask]
        return Points(self.ids[mask], self.lon[mask], self.lat[mask], kinds)


def _is_wgs84(crs: Any) -> bool:
    """Whether ``crs`` is WGS84 lon/lat; "EPSG:4326" is known without comparing definitions."""
    srs = getattr(crs, "srs", None)
    if isinstance(srs, str) and srs.upper() == "EPSG:4326":
        return True
    return bool(pyproj.CRS(crs).equals(_WGS84))


def points(frame: Any, name: str) -> Points:
    """Check a GeoDataFrame/GeoSeries of points and return its ids and WGS84 coordinates."""
    if not isinstance(frame, gpd.GeoDataFrame | gpd.GeoSeries):
        msg = f"{name} must be a GeoDataFrame of points indexed by id, got {type(frame).__name__}"
        raise TypeError(msg)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name not in frame.columns:
        msg = f"{name} has no active geometry column"
        raise CostError(msg)
    if len(frame) and frame.crs is None:
        msg = f"{name} has no CRS; set it with .set_crs('EPSG:4326') (WGS84 lon/lat)"
        raise CostError(msg)
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()].unique()[:5].tolist()
        msg = f"{name} index must hold unique ids; duplicated: {dup}"
        raise CostError(msg)
    geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if len(frame) and not _is_wgs84(frame.crs):
        geoms = geoms.to_crs("EPSG:4326")
    arr = np.asarray(geoms.array)
    xy = shapely.get_coordinates(arr) if len(arr) else np.empty((0, 2))
    types = shapely.get_type_id(arr)
    bad = types != 0
    if len(xy) != len(arr) or bad.any():  # empty points have no coordinates
        bad |= shapely.is_empty(arr)
    if bad.any():
        first = int(np.argmax(bad))
        geom = arr[first]
        what = "missing or empty" if geom is None or geom.is_empty else geom.geom_type
        msg = (
            f"{name} must hold points; {int(bad.sum())} row(s) do not, first id "
            f"{frame.index[first]!r} ({what}); use .representative_point() for areas"
        )
        raise CostError(msg)
    lon = np.ascontiguousarray(xy[:, 0], dtype=np.float64)
    lat = np.ascontiguousarray(xy[:, 1], dtype=np.float64)
    kinds = None
    if isinstance(frame, gpd.GeoDataFrame) and "kind" in frame.columns:
        kinds = frame["kind"].reset_index(drop=True)
    return Points(frame.index, lon, lat, kinds)


def kinds(kind: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """The ``kind=`` argument as a tuple of kind names (``None``: every facility).

    >>> kinds("health_center"), kinds(None)
    (('health_center',), None)
    """
    if kind is None:
        return None
    if isinstance(kind, str):
        kinds: tuple[Any, ...] = (kind,)
    elif isinstance(kind, Iterable):
        kinds = tuple(kind)
    else:
        kinds = ()
    if not kinds or not all(isinstance(k, str) for k in kinds):
        msg = f"kind must be a kind name or a list of them, got {kind!r}"
        raise CostError(msg)
    return kinds


def select(points: Points, kinds: tuple[str, ...] | None, name: str) -> Points:
    """Keep the facilities of the given kinds."""
    if kinds is None:
        return points
    if points.kinds is None:
        msg = f"kind={list(kinds)!r} needs a 'kind' column in {name}"
        raise CostError(msg)
    from siting.kinds import KINDS

    present = set(points.kinds.dropna().astype(str))
    unknown = [k for k in kinds if k not in KINDS and k not in present]
    if unknown:
        msg = (
            f"kind {unknown[0]!r} is neither a known kind ({', '.join(sorted(KINDS))}) nor "
            f"present in {name}['kind']"
        )
        raise CostError(msg)
    mask = points.kinds.isin(kinds).to_numpy(dtype=bool, na_value=False)
    return points.subset(mask)


def direction(direction: str) -> Direction:
    """The ``direction=`` argument checked: one of :data:`DIRECTIONS`."""
    if direction not in DIRECTIONS:
        msg = f"direction must be one of {DIRECTIONS}, got {direction!r}"
        raise CostError(msg)
    return "to_facility" if direction == "to_facility" else "from_facility"


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (``k=`` and the like); a bool or anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise CostError(msg)
    return int(value)


def seconds(value: Any, name: str, *, scale: float = 1.0, optional: bool = True) -> float:
    """A non-negative finite time in seconds (``value`` times ``scale``); ``None`` is +inf."""
    if value is None and optional:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        msg = f"{name} must be a number, got {value!r}"
        raise CostError(msg)
    if not math.isfinite(float(value)) or float(value) < 0:
        msg = f"{name} must be a finite number >= 0, got {value!r}"
        raise CostError(msg)
    return float(value) * scale


def speed(value: float | None, default: float, name: str) -> float:
    """A finite positive number (a speed or a factor); ``None`` gives ``default``."""
    speed = default if value is None else value
    if isinstance(speed, bool) or not isinstance(speed, int | float | np.integer | np.floating):
        msg = f"{name} must be a number, got {speed!r}"
        raise CostError(msg)
    if not (math.isfinite(float(speed)) and float(speed) > 0):
        msg = f"{name} must be a positive number, got {speed!r}"
        raise CostError(msg)
    return float(speed)


def arrays(network: Network) -> GraphArrays | None:
    """The compiled graph of ``network`` (``None`` means the straight-line fallback).

    A networkx graph is compiled once and kept while it lives and is unchanged
    (:func:`siting.graph.compiled`), so the searches, KD-trees and components cached per
    compiled graph serve every later call on the same graph.
    """
    if network is None or isinstance(network, GraphArrays):
        return network
    if isinstance(network, nx.Graph):
        return compiled(network)
    msg = (
        "network must be a networkx graph (osmnx convention), a compiled GraphArrays or None "
        f"(straight-line fallback), got {type(network).__name__}"
    )
    raise TypeError(msg)


def order(ids: pd.Index) -> I64:
    """Positions that sort ``ids`` (natural order, or as strings when they do not compare)."""
    try:
        return np.asarray(ids.argsort(), dtype=np.int64)
    except TypeError:
        return np.asarray(pd.Index(ids.astype(str)).argsort(), dtype=np.int64)


def id_array(ids: pd.Index) -> Any:
    """``ids`` as the array type of an id column: ``Int64`` for integers, ``string`` for text,
    else object (what :func:`take_ids` takes from)."""
    if pd.api.types.is_integer_dtype(ids.dtype):
        return pd.array(np.asarray(ids), dtype="Int64")
    if pd.api.types.is_string_dtype(ids.dtype) and (
        ids.dtype != object or all(isinstance(v, str) for v in ids)
    ):
        return pd.array(np.asarray(ids, dtype=object).astype(str), dtype="string")
    return pd.Series(np.asarray(ids, dtype=object), dtype=object).array


def take_ids(ids: pd.Index | Any, pos: I64) -> Any:
    """The ids at ``pos`` (-1 gives <NA>) as a nullable array.

    ``ids`` is an index, or its non-empty :func:`id_array` (converted once and then taken from:
    the cheap way when positions are taken often, or many from few ids).

    >>> list(take_ids(pd.Index(["a", "b"]), np.array([1, -1, 0])))
    ['b', <NA>, 'a']
    """
    pos = np.asarray(pos, dtype=np.intp)
    missing = pos < 0
    if isinstance(ids, pd.Index):
        if not len(ids):
            if pd.api.types.is_integer_dtype(ids.dtype):
                return pd.array([pd.NA] * len(pos), dtype="Int64")
            if pd.api.types.is_string_dtype(ids.dtype):
                return pd.array([pd.NA] * len(pos), dtype="string")
            return pd.Series(np.full(len(pos), pd.NA, dtype=object), dtype=object).array
        ids = id_array(ids)
    if pd.api.types.is_object_dtype(ids.dtype):
        values = np.asarray(ids, dtype=object).take(np.where(missing, 0, pos))
        out = pd.Series(values, dtype=object).array
        if missing.any():
            out[missing] = pd.NA
        return out
    return ids.take(pos, allow_fill=True)


# --- the compiled search graph -------------------------------------------------------------------

IArr = npt.NDArray[np.signedinteger[Any]]


@dataclass(frozen=True, eq=False)
class Edges:
    """A graph in CSR order: edge ``i`` goes ``src[i] -> dst[i]`` (``src`` sorted).

    Node positions are int32 whenever they fit (half the memory traffic of int64).
    """

    n: int
    indptr: IArr
    src: IArr
    dst: IArr
    w: F64
    ln: F64

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.w, self.dst, self.indptr), shape=(self.n, self.n))


def index_dtype(*sizes: int) -> type[np.signedinteger[Any]]:
    """int32 when positions up to the sum of ``sizes`` fit in it, else int64."""
    return np.int32 if sum(sizes) < 2**31 - 1 else np.int64


@dataclass(eq=False)
class Search:
    """The graph searched from the facilities (reversed for ``to_facility``), with lazy helpers
    for incremental updates: a KD-tree of the nodes and the top crow-flies speed."""

    edges: Edges
    x: F64
    y: F64
    _tree: cKDTree | None = field(default=None, repr=False)
    _vmax: float | None = field(default=None, repr=False)

    @property
    def tree(self) -> cKDTree:
        """KD-tree of the nodes (:func:`siting.graph.node_tree` holds the same, per graph)."""
        if self._tree is None:
            self._tree = cKDTree(np.column_stack([self.x, self.y]))
        return self._tree

    @property
    def vmax(self) -> float:
        """Top crow-flies speed over the edges (m/s): any path takes >= crow metres / vmax."""
        if self._vmax is None:
            e = self.edges
            if len(e.dst):
                crow = np.hypot(self.x[e.src] - self.x[e.dst], self.y[e.src] - self.y[e.dst])
                self._vmax = float(np.max(crow / e.w)) * (1.0 + _SLACK)
            else:
                self._vmax = 0.0
        return self._vmax


_SEARCHES: weakref.WeakKeyDictionary[GraphArrays, dict[str, Search]] = weakref.WeakKeyDictionary()


def search(arrays: GraphArrays, direction: Direction) -> Search:
    """The search graph of ``arrays`` for ``direction``, cached for the life of ``arrays``."""
    per = _SEARCHES.setdefault(arrays, {})
    found = per.get(direction)
    if found is not None:
        return found
    time = sp.csr_matrix(arrays.time, dtype=np.float64, copy=True)
    length = sp.csr_matrix(arrays.length, dtype=np.float64, copy=True)
    if direction == "to_facility":
        time, length = time.T.tocsr(), length.T.tocsr()
    for mat in (time, length):
        mat.sum_duplicates()
        mat.sort_indices()
    n = arrays.n
    it = index_dtype(time.nnz, n, time.nnz + n)
    src = np.repeat(np.arange(n, dtype=it), np.diff(time.indptr))
    dst = time.indices.astype(it)
    if np.array_equal(time.indptr, length.indptr) and np.array_equal(time.indices, length.indices):
        ln = np.asarray(length.data, dtype=np.float64)
    else:  # align lengths on the time pattern
        lc = length.tocoo()
        keys = lc.row.astype(np.int64) * n + lc.col
        order = np.argsort(keys)
        keys = keys[order]
        want = src.astype(np.int64) * n + dst
        at = np.searchsorted(keys, want).clip(0, max(len(keys) - 1, 0))
        if len(want) and not (len(keys) and bool(np.all(keys[at] == want))):
            msg = "network: GraphArrays.length does not cover every edge of GraphArrays.time"
            raise CostError(msg)
        ln = np.asarray(lc.data, dtype=np.float64)[order][at]
    w = np.asarray(time.data, dtype=np.float64)
    if len(w) and not (np.all(np.isfinite(w)) and w.min() > 0):
        msg = "network: GraphArrays.time must hold finite positive travel times"
        raise CostError(msg)
    edges = Edges(n, time.indptr.astype(it), src, dst, w, ln)
    search = Search(edges, np.asarray(arrays.x, dtype=float), np.asarray(arrays.y, dtype=float))
    per[direction] = search
    return search


# --- travel settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TravelSettings:
    """Checked travel settings of one call (see :func:`travel_settings`)."""

    max_snap_m: float
    access_speed_kph: float
    detour_factor: float
    straight_speed_kph: float


def travel_settings(
    max_snap_m: float | None,
    access_speed_kph: float | None,
    detour_factor: float | None,
    straight_line_speed_kph: float | None,
) -> TravelSettings:
    """The snap distance (m), access speed (km/h), detour factor and straight-line speed (km/h)
    of a call, checked; each ``None`` takes its default from :mod:`siting.settings`."""
    snap_m = seconds(settings.max_snap_m if max_snap_m is None else max_snap_m, "max_snap_m")
    detour = speed(detour_factor, settings.detour_factor, "detour_factor")
    if detour < 1.0:
        msg = f"detour_factor must be >= 1 (a road is never shorter than the line), got {detour}"
        raise CostError(msg)
    return TravelSettings(
        max_snap_m=snap_m,
        access_speed_kph=speed(access_speed_kph, settings.access_speed_kph, "access_speed_kph"),
        detour_factor=detour,
        straight_speed_kph=speed(
            straight_line_speed_kph, settings.straight_line_speed_kph, "straight_line_speed_kph"
        ),
    )


@dataclass(frozen=True)
class TravelOptions:
    """How the cost functions measure trips, in one object (their ``options=`` argument).

    Each field defaults to its value in :mod:`siting.settings` when the object is made
    (``direction`` to ``"to_facility"``); values are checked when a cost function uses them. A
    keyword given to a cost function as well (``max_snap_m=`` ...) overrides the same field.
    :func:`siting.costs.od_matrix` has no direction and ignores it.

    >>> opts = TravelOptions(detour_factor=1.5, direction="from_facility")
    >>> opts.detour_factor, opts.direction
    (1.5, 'from_facility')
    """

    max_snap_m: float = field(default_factory=lambda: settings.max_snap_m)
    access_speed_kph: float = field(default_factory=lambda: settings.access_speed_kph)
    detour_factor: float = field(default_factory=lambda: settings.detour_factor)
    straight_line_speed_kph: float = field(default_factory=lambda: settings.straight_line_speed_kph)
    direction: str = "to_facility"


def with_options(
    options: TravelOptions | None,
    direction: str | None,
    max_snap_m: float | None,
    access_speed_kph: float | None,
    detour_factor: float | None,
    straight_line_speed_kph: float | None,
) -> tuple[str, float | None, float | None, float | None, float | None]:
    """The travel keywords of a call with ``options`` filled in: a keyword given (not ``None``)
    wins over the field of ``options``; without options, the keywords as they are (``direction``
    ``None`` is ``"to_facility"``). The numbers are checked later, by :func:`travel_settings`.

    >>> with_options(TravelOptions(max_snap_m=500.0), None, None, 30.0, None, None)[:3]
    ('to_facility', 500.0, 30.0)
    """
    if options is None:
        way = "to_facility" if direction is None else direction
        return way, max_snap_m, access_speed_kph, detour_factor, straight_line_speed_kph
    if not isinstance(options, TravelOptions):
        msg = f"options must be a TravelOptions, got {type(options).__name__}"
        raise TypeError(msg)
    return (
        options.direction if direction is None else direction,
        options.max_snap_m if max_snap_m is None else max_snap_m,
        options.access_speed_kph if access_speed_kph is None else access_speed_kph,
        options.detour_factor if detour_factor is None else detour_factor,
        options.straight_line_speed_kph
        if straight_line_speed_kph is None
        else straight_line_speed_kph,
    )
