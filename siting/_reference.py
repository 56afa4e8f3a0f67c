"""Where the reference data and the generated data live, and reading the reference tables.

The reference folder holds the real, public tables the built-in regions are made from (see
``data/geo/reference/README.md``). It is found, in this order: the ``reference_dir`` argument,
:data:`siting.settings.reference_dir`, the environment variable ``SITING_REFERENCE_DIR``, the
repository's ``data/geo/reference/`` (when running from a checkout), and the copy carried inside
the installed package (``siting/_reference/``).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from siting import settings
from siting._errors import DataError

__all__ = ["REQUIRED", "ReferenceData", "data_dir", "reference", "reference_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_REFERENCE = _PACKAGE_DIR.parent / "data" / "geo" / "reference"
_PACKED_REFERENCE = _PACKAGE_DIR / "_reference"

#: Files of a reference folder and the columns (or keys) each must have.
REQUIRED: dict[str, tuple[str, ...]] = {
    "counties_wgs84.geojson": ("adcode", "name", "city", "level"),
    "counties_2023.csv": ("code", "name", "cityCode", "provinceCode"),
    "townships_2023.csv": (
        "town_code",
        "town_name",
        "town_type",
        "county_code",
        "county_name",
        "n_village_level_units",
        "n_residents_committees",
        "lon_gcj02",
        "lat_gcj02",
        "lon_wgs84",
        "lat_wgs84",
        "coord_match",
    ),
    "villages_2023.csv": ("code", "name", "streetCode", "areaCode"),
    "census2020_county.csv": ("区划代码", "市", "区县", "人口数_合计", "城镇人口", "乡村人口"),
    "seed_facts.yaml": ("nanchong", "xuanhan"),
}

#: Census columns summed to the population aged 60+ (65+ takes the bands from 65 on).
AGE_BANDS_60 = ("60到64岁", "65到69岁", "70到74岁", "75到79岁", "80到84岁", "85岁以上")


def reference_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the reference folder in use (see the module docstring for the search order).

    Raises :class:`siting.DataError` naming the folder when it does not exist.
    """
    candidates: list[tuple[str, Path]] = []
    if path is not None:
        candidates.append(("argument reference_dir", Path(path)))
    elif settings.reference_dir is not None:
        candidates.append(("siting.settings.reference_dir", Path(settings.reference_dir)))
    elif os.environ.get("SITING_REFERENCE_DIR"):
        candidates.append(("SITING_REFERENCE_DIR", Path(os.environ["SITING_REFERENCE_DIR"])))
    if candidates:
        origin, folder = candidates[0]
        if not folder.is_dir():
            msg = f"reference folder {folder} (from {origin}) does not exist"
            raise DataError(msg)
        return folder.resolve()
    for folder in (_REPO_REFERENCE, _PACKED_REFERENCE):
        if folder.is_dir():
            return folder
    msg = (
        f"no reference data found: neither {_REPO_REFERENCE} nor {_PACKED_REFERENCE} exists; "
        "set SITING_REFERENCE_DIR to a folder holding " + ", ".join(REQUIRED)
    )
    raise DataError(msg)


def data_dir(
    path: str | os.PathLike[str] | None = None,
    *,
    reference: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the folder for generated data (registries, networks, caches), creating it.

    Order: the ``path`` argument, :data:`siting.settings.data_dir`, ``SITING_DATA_DIR``, the parent
    of the reference folder (``data/geo/`` in a checkout), or ``./data/geo`` when the reference
    data is the copy inside the installed package (nothing is written into site-packages).
    """
    if path is not None:
        folder = Path(path)
    elif settings.data_dir is not None:
        folder = Path(settings.data_dir)
    elif os.environ.get("SITING_DATA_DIR"):
        folder = Path(os.environ["SITING_DATA_DIR"])
    else:
        ref = reference_dir(reference)
        folder = Path.cwd() / "data" / "geo" if ref == _PACKED_REFERENCE else ref.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class ReferenceData:
    """The reference tables, read and checked once."""

    folder: Path
    counties_geo: dict[str, Any]
    counties: pd.DataFrame
    townships: pd.DataFrame
    villages: pd.DataFrame
    census: pd.DataFrame
    seed_facts: dict[str, Any]
    seed_facts_problems: tuple[str, ...] = ()


def _check_columns(file: Path, found: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in found]
    if missing:
        msg = (
            f"reference file {file} is incomplete: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, found[:20]))})"
        )
        raise DataError(msg)


def _read_csv(file: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"reference file {file} cannot be read as UTF-8 CSV: {exc}"
        raise DataError(msg) from exc
    _check_columns(file, list(frame.columns), REQUIRED[file.name])
    return frame


@functools.lru_cache(maxsize=8)
def _load(folder: Path) -> ReferenceData:
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        msg = f"reference folder {folder} is incomplete: missing file(s) " + ", ".join(
            str(folder / m) for m in missing
        )
        raise DataError(msg)
    geo_file = folder / "counties_wgs84.geojson"
    try:
        geo = json.loads(geo_file.read_text(encoding="utf-8"))
        features = geo["features"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        msg = f"reference file {geo_file} is not a GeoJSON FeatureCollection: {exc}"
        raise DataError(msg) from exc
    for i, feature in enumerate(features):
        props = feature.get("properties") or {}
        _check_columns(
            geo_file.with_name(f"{geo_file.name} (feature {i})"),
            list(props),
            REQUIRED[geo_file.name],
        )
    facts_file = folder / "seed_facts.yaml"
    facts, facts_problems = _load_yaml_tolerant(facts_file)
    _check_columns(facts_file, list(facts), REQUIRED["seed_facts.yaml"])
    census_file = folder / "census2020_county.csv"
    census = _read_csv(census_file)
    bands = [f"{sex}_{band}" for band in AGE_BANDS_60 for sex in ("男", "女")]
    _check_columns(census_file, list(census.columns), tuple(bands))
    return ReferenceData(
        folder=folder,
        counties_geo=geo,
        counties=_read_csv(folder / "counties_2023.csv"),
        townships=_read_csv(folder / "townships_2023.csv"),
        villages=_read_csv(folder / "villages_2023.csv"),
        census=census,
        seed_facts=facts,
        seed_facts_problems=tuple(facts_problems),
    )


def _split_blocks(lines: list[str], indent: int) -> list[tuple[int, list[str]]]:
    """Split YAML lines into blocks starting at exactly ``indent`` spaces, with line numbers."""
    blocks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        starts = (
            stripped
            and not stripped.startswith("#")
            and len(line) - len(line.lstrip(" ")) == indent
            and not stripped.startswith("- ")
        )
        if starts or not blocks:
            blocks.append((number, [line]))
        else:
            blocks[-1][1].append(line)
    return blocks


def _load_yaml_tolerant(file: Path) -> tuple[dict[str, Any], list[str]]:
    """Read a YAML mapping; where a section is malformed, keep the rest and report the section.

    The shipped ``seed_facts.yaml`` is not valid YAML as a whole (in ``nanchong.layout.wings`` a
    key follows a list at the same indent). Reference files are never edited, so it is read
    section by section: top-level sections, then their children; a child that still fails is
    left out and named in the returned problems (``ReferenceData.seed_facts_problems``).
    """
    text = file.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    else:
        if not isinstance(data, dict):
            msg = f"reference file {file} is not a YAML mapping"
            raise DataError(msg)
        return data, []
    problems: list[str] = []
    result = _load_blocks(file, text.splitlines(), 0, 1, "", problems)
    if not result:
        msg = f"reference file {file} is not valid YAML"
        raise DataError(msg)
    return result, problems


def _load_blocks(
    file: Path, lines: list[str], indent: int, first_line: int, prefix: str, problems: list[str]
) -> dict[str, Any]:
    """Parse the mapping blocks at ``indent``; recurse into the ones that fail (see above)."""
    result: dict[str, Any] = {}
    for start, block in _split_blocks(lines, indent):
        head = block[0].split(":", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        dedented = [line[indent:] for line in block]
        try:
            part = yaml.safe_load("\n".join(dedented))
        except yaml.YAMLError as exc:
            children = block[1:]
            if len(children) < 1 or indent >= 12:
                mark = getattr(exc, "problem_mark", None)
                line = first_line + start - 1 + (mark.line if mark is not None else 0)
                problems.append(f"{file}: {prefix}{head} is not valid YAML (line {line})")
                continue
            result[head] = _load_blocks(
                file, children, indent + 2, first_line + start, f"{prefix}{head}.", problems
            )
            continue
        if isinstance(part, dict):
            result.update(part)
        elif isinstance(part, list) and head.startswith("-"):
            # a list followed by keys at the same level: keep the list as "items"
            result["items"] = part
            problems.append(
                f"{file}: {prefix.rstrip('.')} mixes a list and keys; the list is kept as "
                f"{prefix}items"
            )
    return result


def reference(path: str | os.PathLike[str] | None = None) -> ReferenceData:
    """Read (once) and check the reference tables of the folder in use."""
    return _load(reference_dir(path))
