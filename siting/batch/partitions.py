"""Built-in counties cut from their parent city's data with a border buffer."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from pyproj import Transformer

from siting import settings
from siting._errors import BatchError
from siting.batch.specs import _parent_of
from siting.graph import GraphArrays, graph_arrays, snap
from siting.regions import Region

# --- partitions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A county's share of its parent's data, with the border buffer.

    Attributes
    ----------
    region
        The county.
    parent
        Code of the city the data is cut from.
    network
        The parent's network restricted to the nodes within ``buffer_m`` of the county outline.
    facilities
        The county's facilities and the parent's facilities within ``buffer_m`` whose nearest
        parent node is in ``network``.
    home
        Ids of the county's own facilities.
    buffer_min, buffer_m, vmax
        The buffer in minutes and metres and the parent network's top crow-flies speed (m/s).
    """

    region: Region
    parent: str
    network: nx.MultiDiGraph
    facilities: gpd.GeoDataFrame
    home: list[str]
    buffer_min: float
    buffer_m: float
    vmax: float

    def facts(self) -> dict[str, Any]:
        """What the partition holds, for the records."""
        return {
            "partition": "buffer",
            "parent": self.parent,
            "buffer_min": self.buffer_min,
            "buffer_m": round(self.buffer_m, 1),
            "vmax_m_s": round(self.vmax, 6),
            "nodes": self.network.number_of_nodes(),
            "edges": self.network.number_of_edges(),
            "home_facilities": len(self.home),
            "partner_facilities_outside": len(self.facilities) - len(self.home),
        }


@dataclass(frozen=True, eq=False)
class _ParentData:
    region: Region
    graph: nx.MultiDiGraph
    arrays: GraphArrays
    facilities: gpd.GeoDataFrame
    node_pos: np.ndarray  # nearest parent node of each facility (matrix position)
    vmax: float


def _top_speed(arrays: GraphArrays) -> float:
    """Top crow-flies speed of the network (m/s), at least the access speed: any trip of ``t``
    seconds (access legs included) stays within ``t * vmax`` metres of its start."""
    from siting.costs import args as cost_args

    vmax = cost_args.search(arrays, "to_facility").vmax
    return max(float(vmax), settings.access_speed_kph / 3.6)


@functools.lru_cache(maxsize=2)
def _parent_data(code: str, seed: int) -> _ParentData:
    """The parent's region, network and registry (kept per worker for its next counties)."""
    from siting import modelled, network, regions

    region = regions.load(code, seed=seed)
    graph = network.modelled(region)
    arrays = graph_arrays(graph)
    fac = modelled.registry_for(region)
    snapped = snap(arrays, fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    return _ParentData(
        region=region,
        graph=graph,
        arrays=arrays,
        facilities=fac,
        node_pos=snapped["node_pos"].to_numpy(),
        vmax=_top_speed(arrays),
    )


def _to_metric(geom: Any, crs: Any) -> Any:
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def partition(
    region: str | Region,
    *,
    buffer_min: float,
    seed: int | None = None,
    parent: str | None = None,
) -> Partition:
    """Cut a county's partition with its border buffer from its parent city's data.

    Parameters
    ----------
    region
        A county whose city is loadable (name, code or :class:`Region`).
    buffer_min
        The buffer in minutes of travel at the parent network's top crow-flies speed.
    seed
        Seed of the modelled data (default: the region's, or :data:`siting.settings.default_seed`).
    parent
        The city to cut from (default: the county's city).

    Examples
    --------
    >>> p = partition("511302", buffer_min=30)
    >>> p.parent, len(p.home) < len(p.facilities)
    ('511300', True)
    """
    from siting import regions

    if isinstance(region, Region):
        reg = (
            region if seed is None or seed == region.seed else regions.load(region.code, seed=seed)
        )
    else:
        reg = regions.load(region, seed=seed)
    parent = parent or _parent_of(reg.code)
    if parent is None:
        msg = f"{reg.name} ({reg.code}) has no loadable parent city to cut a partition from"
        raise BatchError(msg)
    if not (buffer_min > 0 and math.isfinite(buffer_min)):
        msg = f"buffer_min must be a positive number of minutes, got {buffer_min}"
        raise BatchError(msg)
    data = _parent_data(parent, reg.seed)
    arrays = data.arrays
    buffer_m = float(buffer_min) * 60.0 * data.vmax
    outline = _to_metric(reg.outline, arrays.crs)
    keep = shapely.dwithin(shapely.points(arrays.x, arrays.y), outline, buffer_m)
    kept_nodes = set(arrays.nodes[keep].tolist())
    g = data.graph
    sub = nx.MultiDiGraph()
    sub.graph.update(g.graph)
    sub.graph["partition"] = {"of": parent, "region": reg.code, "buffer_m": round(buffer_m, 1)}
    sub.add_nodes_from((n, d) for n, d in g.nodes(data=True) if n in kept_nodes)
    sub.add_edges_from(
        (u, v, k, d)
        for u, v, k, d in g.edges(keys=True, data=True)
        if u in kept_nodes and v in kept_nodes
    )
    fac = data.facilities
    is_home = (fac["county_code"].astype(str) == reg.code).to_numpy()
    fx, fy = Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True).transform(
        fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    )
    near = shapely.dwithin(shapely.points(fx, fy), outline, buffer_m)
    chosen = is_home | (near & keep[data.node_pos])
    return Partition(
        region=reg,
        parent=parent,
        network=sub,
        facilities=fac[chosen],
        home=[str(i) for i in fac.index[is_home]],
        buffer_min=float(buffer_min),
        buffer_m=buffer_m,
        vmax=data.vmax,
    )


def _inside_limits(region: Region) -> tuple[dict[str, dict[str, float]], float]:
    """For a region run alone: minutes within which a search from each of its facilities and
    villages cannot leave it (distance to its border / top speed)."""
    from siting import modelled, network

    arrays = graph_arrays(network.modelled(region))
    vmax = _top_speed(arrays)
    border = _to_metric(region.outline, arrays.crs).boundary
    tr = Transformer.from_crs("EPSG:4326", arrays.crs, always_xy=True)
    out: dict[str, dict[str, float]] = {}
    for name, frame in (
        ("facility", modelled.registry_for(region)),
        ("village", region.villages),
    ):
        x, y = tr.transform(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
        d = shapely.distance(shapely.points(x, y), border)
        out[name] = {
            str(i): round(float(m), 4) for i, m in zip(frame.index, d / vmax / 60.0, strict=True)
        }
    return out, vmax
