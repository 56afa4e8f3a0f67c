"""Road-like test graphs shared by the test files (``from graphs import ...``).

pytest puts this folder on ``sys.path`` (the tests are a rootless folder, no ``__init__.py``).
The graphs differ on purpose: each test file's expectations depend on its exact graph.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

LON0, LAT0 = 106.08, 30.80
STEP = 0.01


def grid_graph(seed: int, side: int = 7, one_way_share: float = 0.15) -> nx.MultiDiGraph:
    """A road-like grid near Nanchong with random times, some one-way streets.

    About one street in ten is missing; each kept street is one-way with ``one_way_share``
    (tests/test_pairing.py).
    """
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=LON0 + i * STEP, y=LAT0 + j * STEP)
    for i in range(side):
        for j in range(side):
            u = i * side + j
            for v in ([u + side] if i + 1 < side else []) + ([u + 1] if j + 1 < side else []):
                if rng.random() < 0.1:
                    continue
                t = float(rng.uniform(40, 200))
                length = float(rng.uniform(800, 1400))
                g.add_edge(u, v, travel_time=t, length=length)
                if rng.random() > one_way_share:
                    g.add_edge(v, u, travel_time=t, length=length)
    return g


def patrol_grid_graph(seed: int, side: int = 6) -> nx.MultiDiGraph:
    """A road-like grid near Nanchong: random times, a few one-way streets.

    Every street is kept; the way back takes 0.9 to 1.1 times the way there
    (tests/test_patrol.py).
    """
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=LON0 + i * STEP, y=LAT0 + j * STEP)
    for i in range(side):
        for j in range(side):
            u = i * side + j
            for v in ([u + side] if i + 1 < side else []) + ([u + 1] if j + 1 < side else []):
                t = float(rng.uniform(60, 240))
                length = float(rng.uniform(800, 1400))
                g.add_edge(u, v, travel_time=t, length=length)
                if rng.random() > 0.1:
                    g.add_edge(v, u, travel_time=t * float(rng.uniform(0.9, 1.1)), length=length)
    return g
