"""siting: spatial planning of 医养结合 (integrated medical and elderly care) in China.

Built-in regions from real reference data, facility registries in any coordinate system Chinese
planners meet, modelled registries where no real one exists; pairing, coverage, patrols and
siting build on them.

Examples
--------
>>> import siting
>>> region = siting.load_region("nanchong")
>>> facilities = siting.modelled.registry_for(region)
"""

__version__ = "0.1.0"

from siting import (
    batch,
    costs,
    coverage,
    crs,
    indicators,
    layout,
    locate,
    modelled,
    network,
    pairing,
    patrol,
    pipeline,
    regions,
    registry,
    report,
    settings,
)
from siting._errors import (
    DataError,
    Issue,
    MissingDependencyError,
    RegionNotFoundError,
    SitingError,
    ValidationError,
)
from siting._reference import data_dir, reference_dir
from siting.pipeline import run
from siting.regions import Region
from siting.regions import load as load_region
from siting.registry import read as read_registry
from siting.registry import write as write_registry

__all__ = [
    "DataError",
    "Issue",
    "MissingDependencyError",
    "Region",
    "RegionNotFoundError",
    "SitingError",
    "ValidationError",
    "__version__",
    "batch",
    "costs",
    "coverage",
    "crs",
    "data_dir",
    "geocode",
    "indicators",
    "layout",
    "load_region",
    "locate",
    "modelled",
    "network",
    "osm_fetch",
    "pairing",
    "patrol",
    "pipeline",
    "read_registry",
    "reference_dir",
    "regions",
    "registry",
    "report",
    "run",
    "settings",
    "write_registry",
]


def __getattr__(name: str) -> object:
    """``siting.geocode`` and ``siting.osm_fetch`` load on first use (they talk to web
    services, which most runs never do), so ``import siting`` stays fast."""
    if name in ("geocode", "osm_fetch"):
        import importlib

        return importlib.import_module(f"siting.{name}")
    msg = f"module 'siting' has no attribute {name!r}"
    raise AttributeError(msg)
