"""Writing a recommendation: :func:`write`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from siting._io import write_csv, write_text
from siting.locate.recommendation import (
    LocateResult,
    _plain,
)

# --- output -------------------------------------------------------------------------------------


def write(result: LocateResult, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``recommendations.csv`` (UTF-8 with BOM) and ``recommendations.json`` atomically.

    The JSON holds :meth:`LocateResult.summary` and the table as ``recommendations`` (records).

    Returns
    -------
    tuple of pathlib.Path
        The CSV and JSON paths.
    """
    if not isinstance(result, LocateResult):
        msg = f"result must be a LocateResult, got {type(result).__name__}"
        raise TypeError(msg)
    folder = Path(out_dir)
    csv = write_csv(result.recommendations, folder / "recommendations.csv")
    records = [
        {k: _plain(None if v is pd.NA else v) for k, v in row.items()}
        for row in result.recommendations.astype(object).to_dict(orient="records")
    ]
    payload = {**result.summary(), "recommendations": records}
    text = json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False, default=str)
    js = write_text(text + "\n", folder / "recommendations.json")
    return csv, js
