"""Old import path of :mod:`siting.graph`, kept so that existing imports keep working.

Everything lives in :mod:`siting.graph`; this module only re-exports its names (no other module
uses a private name of it).
"""

from __future__ import annotations

from siting.graph import (
    ISLAND_SHARE,
    Components,
    GraphArrays,
    GraphError,
    components,
    edge_text,
    graph_arrays,
    node_tree,
    snap,
    snap_in_background,
)

__all__ = [
    "ISLAND_SHARE",
    "Components",
    "GraphArrays",
    "GraphError",
    "components",
    "edge_text",
    "graph_arrays",
    "node_tree",
    "snap",
    "snap_in_background",
]
