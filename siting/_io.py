"""Writing outputs atomically, so that a crash never leaves half a result that looks whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["write_csv"]


def _share(path: Path) -> None:
    """Give a temporary file the permissions of a normally created one (mkstemp makes it
    private to the user)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], **options: object) -> Path:
    """Write a CSV (UTF-8 with BOM, which Chinese Excel opens correctly) atomically.

    The table goes to a temporary file in the same folder, which then replaces ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", **options)  # type: ignore[call-overload]
        _share(Path(tmp))
        Path(tmp).replace(target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
