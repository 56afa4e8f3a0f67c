"""Storage of registries: :func:`duplicates` and :func:`write` (GeoPackage, byte-identical)."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio

from siting._errors import ValidationError
from siting._io import atomic_target
from siting._issues import problems_header
from siting.registry.checks import _is_missing
from siting.registry.coords import _EARTH_RADIUS_M
from siting.registry.frames import _conform
from siting.registry.frames import from_frame as from_frame  # the doctest of write uses it
from siting.registry.schema import PathLike

# --- duplicates --------------------------------------------------------------------------------

#: Columns of :func:`duplicates`.
DUPLICATE_COLUMNS: Final = (
    "row",
    "id",
    "name",
    "kind",
    "match_in",
    "match_row",
    "match_id",
    "match_name",
    "match_kind",
    "distance_m",
    "rule",
)


def _unit_xyz(gdf: gpd.GeoDataFrame) -> npt.NDArray[np.float64]:
    """Points on a sphere of the earth's radius: chord distances are metres (to < 0.1 mm at
    50 m), wherever in China the points are."""
    lon = np.radians(gdf.geometry.x.to_numpy(dtype=float))
    lat = np.radians(gdf.geometry.y.to_numpy(dtype=float))
    return _EARTH_RADIUS_M * np.column_stack(
        (np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat))
    )


def _same_name(a: Any, b: Any) -> bool:
    def norm(v: Any) -> str:
        return "".join(unicodedata.normalize("NFKC", str(v)).split()).casefold()

    return not _is_missing(a) and not _is_missing(b) and norm(a) == norm(b)


def _file_rows(new: gpd.GeoDataFrame) -> list[int]:
    """The rows of ``new`` as the planner sees them (``attrs["rows"]``, else from 1)."""
    given_rows = new.attrs.get("rows")
    return (
        [int(r) for r in given_rows]
        if given_rows is not None and len(given_rows) == len(new)
        else list(range(1, len(new) + 1))
    )


def _proximity_rule(
    d: float, kind: Any, name: Any, other: Any, any_radius_m: float, name_radius_m: float
) -> str | None:
    """The rule by which a facility ``d`` metres from ``other`` duplicates it, or ``None``."""
    if d <= any_radius_m:
        return f"within {any_radius_m:g} m 相距{any_radius_m:g}米内"
    if d <= name_radius_m and str(kind) == str(other["kind"]) and _same_name(name, other["name"]):
        return f"same kind and name within {name_radius_m:g} m 同类同名且相距{name_radius_m:g}米内"
    return None


def duplicates(
    registry: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    name_radius_m: float = 50.0,
    any_radius_m: float = 10.0,
) -> pd.DataFrame:
    """Rows of ``new`` that are already in ``registry`` (or twice in ``new``).

    A row is a duplicate when it has the same id as a registry row (ids ``new`` was given, not
    ones :func:`read` generated), the same kind and name (ignoring spaces, case and full-width
    forms) within ``name_radius_m`` metres, or any facility within ``any_radius_m`` metres
    whatever its name.

    Returns
    -------
    pandas.DataFrame
        One row per duplicate (columns :data:`DUPLICATE_COLUMNS`): the row of ``new`` (as the
        planner sees it in the file: ``new.attrs["rows"]`` when :func:`read` made it, else the
        position from 1), its id, name and kind, where the match is (``registry`` or ``new``),
        the match's row, id, name and kind, the distance and the rule that matched. Empty when
        there is none.
    """
    from scipy.spatial import cKDTree

    rows: list[dict[str, Any]] = []
    if len(new) == 0:
        return pd.DataFrame(rows, columns=list(DUPLICATE_COLUMNS))
    file_rows = _file_rows(new)
    generated = set(new.attrs.get("generated_ids") or ())
    new_ids = [str(i) for i in new.index]
    reg_pos = {str(v): p for p, v in enumerate(registry.index)}
    seen: set[tuple[int, str, int]] = set()

    def add(i: int, where: str, j: int, other: Any, dist: float, rule: str) -> None:
        if (i, where, j) in seen:
            return
        seen.add((i, where, j))
        rows.append(
            {
                "row": file_rows[i] if i < len(file_rows) else i + 1,
                "id": None if new_ids[i] in generated else new_ids[i],
                "name": new["name"].iat[i],
                "kind": new["kind"].iat[i],
                "match_in": where,
                "match_row": j + 1 if where == "registry" else file_rows[j],
                "match_id": str(other.name),
                "match_name": other["name"],
                "match_kind": other["kind"],
                "distance_m": round(dist, 1),
                "rule": rule,
            }
        )

    new_xyz = _unit_xyz(new)
    for i, fid in enumerate(new_ids):
        if fid not in generated and fid in reg_pos:
            j = reg_pos[fid]
            d = float(np.linalg.norm(new_xyz[i] - _unit_xyz(registry.iloc[[j]])[0]))
            add(i, "registry", j, registry.iloc[j], d, "same id 编号相同")
    radius = max(name_radius_m, any_radius_m)
    targets: list[tuple[str, gpd.GeoDataFrame]] = [("registry", registry), ("new", new)]
    for where, frame in targets:
        if len(frame) == 0:
            continue
        tree = cKDTree(new_xyz if where == "new" else _unit_xyz(frame))
        for i, near in enumerate(tree.query_ball_point(new_xyz, r=radius)):
            for j in sorted(near):
                if where == "new" and j >= i:
                    continue  # each pair within the file once, the later row named
                other = frame.iloc[j]
                d = (
                    float(np.linalg.norm(new_xyz[i] - new_xyz[j]))
                    if where == "new"
                    else float(np.linalg.norm(new_xyz[i] - _unit_xyz(frame.iloc[[j]])[0]))
                )
                rule = _proximity_rule(
                    d, new["kind"].iat[i], new["name"].iat[i], other, any_radius_m, name_radius_m
                )
                if rule is not None:
                    add(i, where, j, other, d, rule)
    out = pd.DataFrame(rows, columns=list(DUPLICATE_COLUMNS))
    return out.sort_values(["row", "match_in", "match_row"], kind="stable").reset_index(drop=True)


# --- storage -----------------------------------------------------------------------------------

#: The timestamp stamped into written GeoPackages, so that identical registries give identical
#: bytes (GDAL otherwise writes the current time into ``gpkg_contents``).
_FIXED_DATE: Final = "2000-01-01T00:00:00.000Z"


@contextmanager
def _fixed_gdal_date() -> Iterator[None]:
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _FIXED_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write(
    gdf: gpd.GeoDataFrame,
    path: PathLike,
    *,
    layer: str = "facilities",
    extra_layers: Mapping[str, pd.DataFrame] | None = None,
) -> Path:
    """Write a registry to a GeoPackage, atomically and reproducibly.

    The file is written to a temporary file in the same folder and then moved over ``path``
    (an existing file is replaced whole; a reader never sees half a file). Identical input
    gives byte-identical files: GDAL's timestamp is fixed. :func:`read` gives the registry back
    equal: dtypes, index, Chinese text, <NA>s and extra columns.

    Parameters
    ----------
    gdf
        A registry (checked: ids unique and filled, schema as in the module docstring).
    path
        Target ``.gpkg``; its folder is created if needed.
    layer
        Layer name of the registry.
    extra_layers
        More layers to store in the same file, by name (e.g. a region's townships); written
        as given, after the registry.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    siting.ValidationError
        If ``gdf`` is not a valid registry.

    Notes
    -----
    The fixed timestamp is set with the GDAL configuration option ``OGR_CURRENT_DATE`` for the
    duration of the write and restored afterwards; GDAL options are process-wide, so do not
    write GeoPackages from several threads at once.

    Examples
    --------
    >>> import pandas as pd
    >>> reg = from_frame(pd.DataFrame({"name": ["甲敬老院"], "kind": ["nursing_home"],
    ...                                "lon": [106.1], "lat": [30.8]}))
    >>> write(reg, "/tmp/siting-doc-registry.gpkg").name
    'siting-doc-registry.gpkg'
    """
    target = Path(path)
    checked, _ids, issues = _conform(gdf, file=os.fspath(target), need_ids=True)
    if checked is None:
        raise ValidationError(issues, header=problems_header(os.fspath(target), issues))
    layers = dict(extra_layers or {})
    if layer in layers:
        msg = f"extra_layers has a layer named {layer!r}, the registry's layer"
        raise ValueError(msg)
    checked.index = gdf.index
    out = checked.reset_index()
    with atomic_target(target) as tmp, _fixed_gdal_date():
        pyogrio.write_dataframe(out, tmp, layer=layer, driver="GPKG")
        for name, extra in layers.items():
            pyogrio.write_dataframe(extra, tmp, layer=name, driver="GPKG", append=False)
    return target
