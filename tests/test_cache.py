"""The disk cache of derived inputs (siting._cache) and its users: regions, modelled roads,
modelled registries and registry files give exactly what they give uncached."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from siting import _cache, modelled, network, regions, registry, settings
from siting._errors import ValidationError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SITING_CACHE_DIR", str(folder))
    monkeypatch.delenv("SITING_CACHE", raising=False)
    return folder


def _counter() -> tuple[list[int], object]:
    calls: list[int] = []

    def build() -> dict[str, object]:
        calls.append(1)
        return {"value": np.arange(3), "n": len(calls)}

    return calls, build


def test_second_call_is_read_back(cache: Path) -> None:
    calls, build = _counter()
    a = _cache.cached("ns", ("k", 1), build)  # type: ignore[arg-type]
    b = _cache.cached("ns", ("k", 1), build)  # type: ignore[arg-type]
    assert len(calls) == 1
    assert b["n"] == 1 and np.array_equal(b["value"], a["value"])  # type: ignore[index]
    assert len(list((cache / "ns").glob("*.pkl"))) == 1


def test_key_settings_and_code_make_other_entries(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls, build = _counter()
    _cache.cached("ns", ("k", 1), build)  # type: ignore[arg-type]
    _cache.cached("ns", ("k", 2), build)  # type: ignore[arg-type]
    assert len(calls) == 2
    monkeypatch.setattr(settings, "metric_crs", "EPSG:32649")
    _cache.cached("ns", ("k", 1), build)  # type: ignore[arg-type]
    assert len(calls) == 3
    monkeypatch.setattr(_cache, "code_fingerprint", lambda: "another version")
    _cache.cached("ns", ("k", 1), build)  # type: ignore[arg-type]
    assert len(calls) == 4


def test_unreadable_entry_is_rebuilt(cache: Path) -> None:
    calls, build = _counter()
    _cache.cached("ns", "k", build)  # type: ignore[arg-type]
    (entry,) = (cache / "ns").glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    got = _cache.cached("ns", "k", build)  # type: ignore[arg-type]
    assert len(calls) == 2 and got["n"] == 2  # type: ignore[index]
    assert pickle.loads(entry.read_bytes())["n"] == 2  # replaced


def test_unwritable_or_off_still_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    monkeypatch.setenv("SITING_CACHE_DIR", str(blocker / "cache"))
    calls, build = _counter()
    assert _cache.cached("ns", "k", build)["n"] == 1  # type: ignore[index]
    assert _cache.cached("ns", "k", build)["n"] == 2  # type: ignore[index]
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("SITING_CACHE", "0")
    _cache.cached("ns", "k", build)  # type: ignore[arg-type]
    _cache.cached("ns", "k", build)  # type: ignore[arg-type]
    assert len(calls) == 4 and not (tmp_path / "c").exists()


def test_prune_keeps_the_most_recent(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cache, "MAX_ENTRIES", 3)
    for i in range(5):
        _cache.cached("ns", i, lambda i=i: i)  # type: ignore[misc]
        os.utime(_cache._entry("ns", i), ns=(i * 10**9, i * 10**9))
    _cache.cached("ns", 5, lambda: 5)
    assert len(list((cache / "ns").glob("*.pkl"))) == 3


def test_object_hash_is_content() -> None:
    frame = gpd.GeoDataFrame(
        {"a": [1, 2], "b": ["x", "y"], "c": [0.5, np.nan]},
        geometry=[shapely.Point(1, 2), shapely.Point(3, 4)],
        crs="EPSG:4326",
    )
    same = pickle.loads(pickle.dumps(frame.copy()))
    same["a"] = same["a"].to_numpy()  # rebuilt column: other blocks, same content
    assert _cache.object_hash(frame) == _cache.object_hash(same)
    for change in (
        lambda f: f.assign(c=[0.5, 1.0]),
        lambda f: f.assign(b=["x", "z"]),
        lambda f: f.set_geometry([shapely.Point(1, 2), shapely.Point(3, 5)]),
        lambda f: f.rename(columns={"a": "A"}),
        lambda f: f.set_axis([5, 6]),
        lambda f: f.astype({"a": "float64"}),
    ):
        assert _cache.object_hash(change(frame.copy())) != _cache.object_hash(frame)
    assert _cache.object_hash({"k": [1, "1"]}) != _cache.object_hash({"k": [1, 1]})


def _fresh(monkeypatch: pytest.MonkeyPatch, build: object) -> object:
    monkeypatch.setenv("SITING_CACHE", "0")
    regions._load_cached.cache_clear()
    try:
        return build()  # type: ignore[operator]
    finally:
        monkeypatch.delenv("SITING_CACHE")
        regions._load_cached.cache_clear()


def test_region_roads_and_registry_from_the_cache_are_exact(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def everything() -> tuple[regions.Region, nx.MultiDiGraph, gpd.GeoDataFrame]:
        reg = regions.load("xuanhan")
        return reg, network.modelled(reg), modelled.registry_for(reg)

    uncached = _fresh(monkeypatch, everything)
    regions._load_cached.cache_clear()
    everything()  # fills the cache
    regions._load_cached.cache_clear()
    assert {p.name for p in cache.iterdir()} == {"regions", "modelled_roads", "modelled_registry"}
    reg, roads, fac = everything()  # read back
    old_reg, old_roads, old_fac = uncached  # type: ignore[misc]
    for name in ("counties", "townships", "township_areas", "villages"):
        pd.testing.assert_frame_equal(getattr(reg, name), getattr(old_reg, name), check_exact=True)
    assert reg.outline.equals_exact(old_reg.outline, 0) and reg.facts == old_reg.facts
    assert nx.utils.graphs_equal(roads, old_roads) and roads.graph == old_roads.graph
    pd.testing.assert_frame_equal(fac, old_fac, check_exact=True)
    assert fac.attrs.keys() == old_fac.attrs.keys()
    regions._load_cached.cache_clear()


def test_registry_file_is_read_again_when_its_bytes_change(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("name,kind,lon,lat\n甲敬老院,nursing_home,107.5,31.3\n", encoding="utf-8")
    first = registry.read(path, crs="wgs84")
    again = registry.read(path, crs="wgs84")
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert again.attrs["file"] == str(path)
    path.write_text("name,kind,lon,lat\n乙敬老院,nursing_home,107.6,31.3\n", encoding="utf-8")
    changed = registry.read(path, crs="wgs84")
    assert list(changed["name"]) == ["乙敬老院"]
    assert list(registry.read(path, crs="gcj02")["lon"]) != list(changed["lon"])  # other option
    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind,lon,lat\n甲敬老院,nursing_home,500,31.3\n", encoding="utf-8")
    for _ in range(2):  # a refused file is refused every time (errors are never cached)
        with pytest.raises(ValidationError):
            registry.read(bad, crs="wgs84")
    with pytest.raises(Exception, match=r"missing\.csv"):
        registry.read(tmp_path / "missing.csv")
