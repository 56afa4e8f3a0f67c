"""Old import path of :mod:`siting.network.fetch`, kept so that existing imports keep working.

Everything lives in :mod:`siting.network.fetch` (road download from an Overpass server); this
module only re-exports its names. Patch ``siting.network.fetch.X``, not ``siting.osm_fetch.X``,
to change what the code uses.
"""

from __future__ import annotations

from siting.network.fetch import (
    ATTRIBUTION,
    CONNECT_TIMEOUT_S,
    ENV_OVERPASS_URL,
    MAX_AREA_KM2,
    SOURCE,
    OverpassError,
    cached_roads,
    check_reachable,
    default_path,
    download_roads,
    fetch_roads,
    overpass_endpoint,
    roads_for_run,
)

__all__ = [
    "ATTRIBUTION",
    "CONNECT_TIMEOUT_S",
    "ENV_OVERPASS_URL",
    "MAX_AREA_KM2",
    "SOURCE",
    "OverpassError",
    "cached_roads",
    "check_reachable",
    "default_path",
    "download_roads",
    "fetch_roads",
    "overpass_endpoint",
    "roads_for_run",
]
