"""Reading a run's inputs: the region, the facility registry, the road network, the boundary and
the layout, each recorded (path, hash) in the manifest's ``inputs``."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from siting import (
    __version__,
    registry,
)
from siting import layout as layouts
from siting._errors import SitingError
from siting._fork import Job, can_fork
from siting._io import frame_sha256
from siting._outdir import (
    sha256_file,
)
from siting.regions import Region

#: The hash of a frame recorded in the manifest (:func:`siting._io.frame_sha256`).
_hash_frame = frame_sha256


def _versions() -> dict[str, str]:
    out = {"siting": __version__, "python": platform.python_version()}
    for pkg in (
        "numpy",
        "pandas",
        "geopandas",
        "shapely",
        "pyproj",
        "scipy",
        "networkx",
        "osmnx",
        "pyogrio",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _data_source(fac: pd.DataFrame) -> str:
    """``modelled``, ``partly modelled`` or ``user``, from the registry's ``source`` column."""
    sources = set(fac["source"].dropna().astype(str)) if "source" in fac else set()
    if sources == {"modelled"}:
        return "modelled"
    return "partly modelled" if "modelled" in sources else "user"


def reader_warnings(frame: pd.DataFrame, limit: int = 200) -> list[str]:
    """The registry reader's warnings of ``frame`` as lines (file, row, column, reason), at most
    ``limit`` and then one line with the count of the rest."""
    issues = [i for i in frame.attrs.get("issues", []) if getattr(i, "severity", "") != "error"]
    lines = [str(i) for i in issues[:limit]]
    if len(issues) > limit:
        lines.append(f"... and {len(issues) - limit} more warnings")
    return lines


def _load_inputs(
    region: str | Region | None,
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None,
    network: Any,
    *,
    crs: str | None,
    network_crs: str | None,
    boundary: str | os.PathLike[str] | Any,
    seed: int | None,
    inputs: dict[str, Any],
) -> tuple[Region | None, gpd.GeoDataFrame, Any, str, str]:
    from siting import network as netmod
    from siting import regions

    reg: Region | None
    if region is None or isinstance(region, Region):
        reg = region
    else:
        reg = regions.load(region, seed=seed)
    if reg is not None:
        inputs["region"] = {"code": reg.code, "name": reg.name, "seed": reg.seed}
    outline = None
    if boundary is not None:
        if isinstance(boundary, str | os.PathLike):
            path = Path(boundary)
            outline = shapely.make_valid(regions.read_polygons(path).union_all())
            inputs["boundary"] = {"path": str(path), "sha256": sha256_file(path)}
        else:
            outline = boundary
    elif reg is not None:
        outline = reg.outline
    # the modelled roads are built in a child (siting._fork) while the facilities are read here
    region = reg
    roads_job = (
        Job(lambda: netmod.modelled(region), fork=can_fork())
        if network is None and region is not None
        else None
    )
    try:
        fac, data_source = _read_facilities(facilities, reg, outline, crs, inputs)
    except BaseException:
        if roads_job is not None:
            roads_job.cancel()
        raise
    if roads_job is not None:
        roads = roads_job.result()
        network_source = "modelled"
        inputs["network"] = {"modelled_network_of": reg.code if reg is not None else None}
    elif network is None:
        roads = None
        network_source = "none (straight line)"
        inputs["network"] = None
    elif isinstance(network, str | os.PathLike):
        path = Path(network)
        roads = netmod.load(path, crs=network_crs)
        network_source = "modelled" if roads.graph.get("modelled") else "user"
        inputs["network"] = {"path": str(path), "crs": network_crs, "sha256": sha256_file(path)}
    else:
        roads = network
        graph = getattr(roads, "graph", {})
        network_source = "modelled" if graph.get("modelled") else "user"
        inputs["network"] = {"object": type(network).__name__}
    return reg, fac, roads, data_source, network_source


def _read_facilities(
    facilities: str | os.PathLike[str] | gpd.GeoDataFrame | None,
    reg: Region | None,
    outline: Any,
    crs: str | None,
    inputs: dict[str, Any],
) -> tuple[gpd.GeoDataFrame, str]:
    """The facility registry (modelled for a region without a list) and its data source."""
    from siting import modelled

    if facilities is None:
        if reg is None:
            msg = "give a region (--region) or a facility file (--facilities)"
            raise SitingError(msg)
        fac = modelled.registry_for(reg)
        data_source = "modelled"
        inputs["facilities"] = {"modelled_registry_of": reg.code, "hash": _hash_frame(fac)}
    elif isinstance(facilities, gpd.GeoDataFrame):
        fac = facilities
        data_source = _data_source(fac)
        inputs["facilities"] = {"frame": True, "hash": _hash_frame(fac)}
    else:
        path = Path(facilities)
        fac = registry.read(path, crs=crs, boundary=outline)
        data_source = _data_source(fac)
        inputs["facilities"] = {
            "path": str(path),
            "crs": crs,
            "sha256": sha256_file(path),
            "warnings": reader_warnings(fac),
        }
    return fac, data_source


def _layout(spec: Any, reg: Region | None) -> layouts.Layout | None:
    if spec is None:
        return None
    if isinstance(spec, layouts.Layout):
        return spec
    if isinstance(spec, str) and spec == "auto":
        if reg is None:
            return None
        for name in layouts.available():
            if name == reg.slug:
                return layouts.load(name, reg)
        return None
    return layouts.load(spec, reg)
