"""Writing outputs atomically, so that a crash never leaves half a result that looks whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["write_csv"]


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
        Path(tmp).replace(target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
