"""Writing outputs atomically, so that a crash never leaves half a result that looks whole."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

__all__ = ["atomic_path", "write_csv", "write_text"]


def _share(path: Path) -> None:
    """Give a temporary file the permissions of a normally created one (mkstemp makes it
    private to the user)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file beside ``path`` (same suffix) to write; it replaces ``path`` when the
    block ends without an error, and is removed otherwise. The folder is created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _share(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], **options: object) -> Path:
    """Write a CSV (UTF-8 with BOM, which Chinese Excel opens correctly) atomically.

    The table goes to a temporary file in the same folder, which then replaces ``path``.
    """
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", **options)  # type: ignore[call-overload]
    return Path(path)
