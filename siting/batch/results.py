"""What a batch did: each region's outcome and the batch result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# --- the batch ------------------------------------------------------------------------------------


@dataclass
class RegionOutcome:
    """What happened to one region of a batch."""

    code: str
    name: str
    seed: int | None
    folder: str | None
    status: str  # ok | failed | skipped
    attempts: int = 0
    error: str | None = None
    input_hash: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    border: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None
    requested: str = ""

    def record(self) -> dict[str, Any]:
        """The entry of ``batch_manifest.json`` (without the per-point border limits)."""
        border = {k: v for k, v in self.border.items() if k != "inside_limit_min"}
        return {
            "requested": self.requested,
            "code": self.code,
            "name": self.name,
            "seed": self.seed,
            "folder": self.folder,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "input_hash": self.input_hash,
            "timings_s": self.timings_s,
            "border": border,
            "worker": self.worker,
        }


@dataclass
class BatchResult:
    """What :func:`run_batch` did; the merged tables are files in ``out``."""

    out: Path
    regions: list[RegionOutcome]
    summary: pd.DataFrame
    manifest: dict[str, Any]
    files: dict[str, Path]

    def _status(self, status: str) -> list[RegionOutcome]:
        return [r for r in self.regions if r.status == status]

    @property
    def ok(self) -> list[RegionOutcome]:
        """Regions computed in this batch."""
        return self._status("ok")

    @property
    def skipped(self) -> list[RegionOutcome]:
        """Regions whose finished folder had the same input hash."""
        return self._status("skipped")

    @property
    def failed(self) -> list[RegionOutcome]:
        """Regions that failed (after their retries), with their error."""
        return self._status("failed")

    def pairings(self) -> pd.DataFrame:
        """The merged ``pairings.csv``."""
        return _read_merged(self.files["pairings.csv"])

    def gaps(self) -> pd.DataFrame:
        """The merged ``gaps.csv``."""
        return _read_merged(self.files["gaps.csv"])

    def indicators(self) -> pd.DataFrame:
        """The merged ``indicators.csv``."""
        return _read_merged(self.files["indicators.csv"])


def _read_merged(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_values=[""]
    )
    for col in ("travel_time_min", "distance_km", "threshold_min", "rank"):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col])
    if "border_exact" in frame.columns:
        frame["border_exact"] = frame["border_exact"] == "True"
    return frame
