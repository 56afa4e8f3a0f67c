"""Fixtures shared by the test files: Xuanhan (宣汉县) and one full run of it.

Session fixtures: under pytest-xdist (scripts/test.sh, ``--dist loadfile``) each worker process
builds one at most once, for the first test file that asks for it. They are shared, so a test
must not change them: copy a frame before changing it, and write into its own ``tmp_path``,
never into ``xuanhan_run.out``. siting is imported inside the fixtures, so a test file that
needs none of them does not import what they need.

A test file may adapt ``xuanhan`` to its own shape with a fixture of the same name that asks for
the shared one. So that this works, the other fixtures here do not ask for ``xuanhan`` (they
would get the adapted one): they load the region themselves (``regions.load`` caches it, the
object is the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

    from siting import pipeline, regions


@pytest.fixture(scope="session", autouse=True)
def _siting_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """siting's disk cache (:mod:`siting._cache`) in a folder of this test session, never the
    user's ``~/.cache/siting``; subprocesses inherit it."""
    import os

    before = os.environ.get("SITING_CACHE_DIR")
    os.environ["SITING_CACHE_DIR"] = str(tmp_path_factory.mktemp("siting_cache"))
    yield
    if before is None:
        os.environ.pop("SITING_CACHE_DIR", None)
    else:
        os.environ["SITING_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def xuanhan() -> regions.Region:
    """The built-in region 宣汉县 (511722), default seed."""
    from siting import regions

    return regions.load("xuanhan")


@pytest.fixture(scope="session")
def xuanhan_network() -> nx.MultiDiGraph:
    """Xuanhan's modelled road network (:func:`siting.network.modelled`)."""
    from siting import network, regions

    return network.modelled(regions.load("xuanhan"))


@pytest.fixture(scope="session")
def xuanhan_registry() -> gpd.GeoDataFrame:
    """Xuanhan's modelled facility registry (:func:`siting.modelled.registry_for`)."""
    from siting import modelled, regions

    return modelled.registry_for(regions.load("xuanhan"))


@pytest.fixture(scope="session")
def xuanhan_run(tmp_path_factory: pytest.TempPathFactory) -> pipeline.RunResult:
    """One full ``siting run --region xuanhan`` (maps included), read-only for the tests."""
    from siting import pipeline

    out = tmp_path_factory.mktemp("xuanhan_run") / "xuanhan"
    return pipeline.run("xuanhan", out=out, progress=False)
