"""Old import path of :mod:`siting.network.model`, kept so that existing imports keep working.

Everything lives in :mod:`siting.network.model` (the modelled network of the built-in regions);
this module only re-exports its public names. Patch ``siting.network.model.X``, not
``siting._network_model.X``, to change what the code uses.
"""

from __future__ import annotations

from siting.network.model import (
    DETOUR_FACTORS,
    EDGE_DTYPES,
    GRAPH_DTYPES,
    LOCAL_NEIGHBOURS,
    LONG_EDGE_FACTOR,
    NODE_DTYPES,
    NOTE,
    ROAD_CLASS_ZH,
    SPEEDS_KPH,
    TIERS,
    VILLAGE_STRETCH,
    county_towns,
    load_modelled_graphml,
    modelled,
)

__all__ = [
    "DETOUR_FACTORS",
    "EDGE_DTYPES",
    "GRAPH_DTYPES",
    "LOCAL_NEIGHBOURS",
    "LONG_EDGE_FACTOR",
    "NODE_DTYPES",
    "NOTE",
    "ROAD_CLASS_ZH",
    "SPEEDS_KPH",
    "TIERS",
    "VILLAGE_STRETCH",
    "county_towns",
    "load_modelled_graphml",
    "modelled",
]
