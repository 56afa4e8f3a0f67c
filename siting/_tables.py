"""The data tables shipped in ``siting/data/`` (YAML), read one way, and label normalisation."""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from typing import Any

import yaml

from siting._errors import DataError

__all__ = ["load_table", "normalize_label"]


def normalize_label(value: str) -> str:
    """Normalise a categorical label for lookup: NFKC, case, spaces, ``_`` and ``-`` ignored."""
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    return re.sub(r"[\s_\-]+", "", text)


def load_table(name: str, *, required: str, what: str) -> dict[str, Any]:
    """Read ``siting/data/<name>`` (YAML) and check it holds a ``required`` mapping.

    Raises :class:`siting.DataError` naming the file when it cannot be read or is malformed.
    """
    where = f"siting/data/{name}"
    try:
        table = yaml.safe_load((resources.files("siting") / "data" / name).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read the {what} {where}: {exc}"
        raise DataError(msg) from exc
    if not isinstance(table, dict) or not isinstance(table.get(required), dict):
        msg = f"{where} must hold a {required!r} mapping"
        raise DataError(msg)
    return table
