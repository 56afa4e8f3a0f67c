"""A disk cache of derived inputs that take seconds to build and milliseconds to load.

Building a region (:func:`siting.regions.load`: township areas, modelled villages, population
split), its modelled road network and its modelled registry takes seconds each, every run,
for the same result. :func:`cached` keeps such a result as a pickle under
:func:`cache_dir` and returns it again while *everything* it came from is the same:

* the key its caller gives (names, codes, seeds, parameters, content hashes of input files or
  of the objects it is built from),
* the code: a hash of every file of the installed ``siting`` package (code and data), so
  any change of the code (an edit, another version) is a different entry,
* the values of :mod:`siting.settings` (a session may change them),
* the Python version and the versions of the libraries whose objects are pickled.

An entry that cannot be read (truncated, another format) is rebuilt and replaced; an entry is
written atomically (a temporary file renamed into place), so two processes never see half of
one. A cache that cannot be written (read-only home, full disk) is skipped with one DEBUG log
line: the result is built as without a cache. Each namespace keeps its
:data:`MAX_ENTRIES` most recently used entries.

The folder is ``$SITING_CACHE_DIR``, else ``$XDG_CACHE_HOME/siting``, else ``~/.cache/siting``;
``SITING_CACHE=0`` turns the cache off. Only files this cache wrote are read: it lives in the
user's own cache folder, as the caches of pip or osmnx do.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, TypeVar

from siting import _log

__all__ = ["MAX_ENTRIES", "cache_dir", "cached", "code_fingerprint", "enabled", "object_hash"]

T = TypeVar("T")

#: Entries kept per namespace (the least recently used are removed beyond this).
MAX_ENTRIES: Final = 32
#: Libraries whose objects end up in cached pickles (their versions are part of every key).
_LIBRARIES: Final = ("numpy", "pandas", "geopandas", "shapely", "pyproj", "networkx", "scipy")


def enabled() -> bool:
    """False when ``SITING_CACHE`` is ``0``, ``off``, ``false`` or ``no``."""
    return os.environ.get("SITING_CACHE", "1").strip().lower() not in {"0", "off", "false", "no"}


def cache_dir() -> Path:
    """``$SITING_CACHE_DIR``, else ``$XDG_CACHE_HOME/siting``, else ``~/.cache/siting``."""
    own = os.environ.get("SITING_CACHE_DIR", "").strip()
    if own:
        return Path(own)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "siting"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of every file of the ``siting`` package (code and package data: path and bytes),
    of Python's version and of the versions of the pickled libraries."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    h.update(sys.version.encode())
    for name in _LIBRARIES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if version is None:
            try:
                from importlib.metadata import version as dist_version

                version = dist_version(name)
            except Exception:  # not installed: part of the key as such
                version = "-"
        h.update(f"{name}={version};".encode())
    files = (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in sorted(files):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def object_hash(obj: Any) -> str:
    """A hash of an object's content: equal content hashes the same, however it was built or
    stored (frames by column names, dtypes, index and values; geometries by WKB; dataclasses
    by field; mappings, sequences and arrays by item; anything else by ``repr``)."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    import dataclasses

    import numpy as np
    import pandas as pd
    import shapely

    if isinstance(obj, pd.DataFrame):
        h.update(f"frame{obj.shape};".encode())
        _feed(h, obj.index)
        for name in obj.columns:
            h.update(f"{name!r}:{obj[name].dtype};".encode())
            _feed(h, obj[name].array)
    elif isinstance(obj, pd.Index):
        h.update(f"index{len(obj)}:{obj.dtype}:{obj.names!r};".encode())
        _feed(h, obj.array)
    elif isinstance(obj, pd.Series):
        _feed(h, obj.index)
        _feed(h, obj.array)
    elif isinstance(obj, pd.api.extensions.ExtensionArray | np.ndarray):
        values = np.asarray(obj, dtype=object) if obj.dtype == object else obj
        if getattr(obj.dtype, "name", "") == "geometry":
            wkb = shapely.to_wkb(values)
            h.update(b"".join(b"\0" if g is None else g + b"\1" for g in wkb))
        elif isinstance(values, np.ndarray) and values.dtype != object:
            h.update(np.ascontiguousarray(values).tobytes())
        elif all(type(v) is str for v in values):
            h.update(pd.util.hash_array(values, categorize=False).tobytes())
        else:
            for v in values:
                _feed(h, v)
    elif isinstance(obj, shapely.Geometry):
        h.update(shapely.to_wkb(obj))
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(type(obj).__qualname__.encode())
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            _feed(h, getattr(obj, f.name))
    elif isinstance(obj, dict):
        h.update(f"dict{len(obj)};".encode())
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__}{len(obj)};".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def files_hash(paths: Iterable[Path]) -> str:
    """A hash of the names and bytes of ``paths`` (sorted)."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(paths):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _settings() -> str:
    """The values of :mod:`siting.settings` (a session may change them)."""
    from siting import settings

    values = {
        k: v
        for k, v in vars(settings).items()
        if not k.startswith("_") and isinstance(v, str | int | float | bool | Path | None)
    }
    return repr(sorted(values.items(), key=lambda kv: kv[0]))


def _entry(namespace: str, key: Any) -> Path:
    h = hashlib.blake2b(digest_size=20)
    h.update(code_fingerprint().encode())
    h.update(_settings().encode())
    h.update(repr(key).encode())
    return cache_dir() / namespace / f"{h.hexdigest()}.pkl"


def cached(namespace: str, key: Any, build: Callable[[], T]) -> T:
    """``build()``, or its earlier result when ``namespace``, ``key`` (its ``repr``) and the
    code are the same (see the module docstring)."""
    if not enabled():
        return build()
    path = _entry(namespace, key)
    try:
        with path.open("rb") as fh:
            found: T = pickle.load(fh)
    except FileNotFoundError:
        pass
    except Exception as exc:  # an unreadable entry: rebuilt and replaced
        _log.debug(f"cache entry {path} unreadable ({exc!r}): rebuilt")
    else:
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return found
    value = build()
    _store(path, value)
    return value


def _store(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=5)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(path.parent)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        _log.debug(f"cache not written at {path} ({exc!r}): going on without it")


def _prune(folder: Path) -> None:
    entries = sorted(
        (p for p in folder.glob("*.pkl")), key=lambda p: p.stat().st_mtime_ns, reverse=True
    )
    for old in entries[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
