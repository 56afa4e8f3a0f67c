"""Writers of a run's files: each output is a function writing one path (called by
:class:`siting._outdir.OutputFolder` into a temporary folder), and the distinct patrol routes
of the maps."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from siting import indicators, report
from siting._io import write_csv
from siting.pipeline.result import PATROL_MEMO, STATE_DIR
from siting.pipeline.summary import _clean, _json

if TYPE_CHECKING:
    from siting.maps import MapLayers
    from siting.pipeline.context import _Context
    from siting.pipeline.result import RunResult


def _geojson(frame: gpd.GeoDataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        # dates (a patrol's visit days) as ISO text, as in the CSV files
        text = frame.to_json(drop_id=True, ensure_ascii=False, to_wgs84=True, default=str)
        path.write_text(text + "\n", encoding="utf-8")

    return write


def _state_csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    """Exact search results for a later incremental update (all digits of every float)."""

    def write(path: Path) -> None:
        frame.to_csv(path, index=False, encoding="utf-8", float_format="%.17g")

    return write


def _pickle(value: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as fh:
            pickle.dump(value, fh, protocol=5)

    return write


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def _csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        write_csv(frame, path)

    return write


def _writers(ctx: _Context, result: RunResult) -> dict[str, Callable[[Path], None]]:
    """The writer of every file of a run, by its path in the folder (nothing written yet)."""
    pairs, gaps, patrols, measured = ctx.pairs, ctx.gaps, ctx.patrols, ctx.measured
    writers: dict[str, Callable[[Path], None]] = {
        "pairings.csv": _csv(pairs),
        "gaps.csv": _csv(gaps),
    }
    if ctx.cov is not None:
        writers["coverage_by_area.csv"] = _csv(ctx.cov)
    if ctx.access is not None:
        writers["access_e2sfca.csv"] = _csv(ctx.access)
    if ctx.areas is not None:
        writers["service_areas.geojson"] = _geojson(ctx.areas)
    if ctx.plan is not None:
        writers["layout.geojson"] = _geojson(ctx.plan.elements)
    if ctx.layout_summary is not None:
        writers["layout_summary.csv"] = _csv(ctx.layout_summary)
    writers["summary.json"] = _text(_json(ctx.summary))
    if ctx.recommended is not None:
        writers["recommendations.csv"] = _csv(ctx.recommended)
    if patrols is not None:
        writers["patrols.csv"] = _csv(patrols.visits)
        writers["patrol_routes.geojson"] = _geojson(patrols.routes)
        writers["patrol_totals.csv"] = _csv(patrols.totals)
        memo = getattr(patrols, "memo", None)
        if memo is not None:  # what an update re-plans only where the stops changed
            # without the counts of this plan's reuse: the same plan keeps the same bytes
            kept = dataclasses.replace(memo, reused=0, computed=0)
            writers[f"{STATE_DIR}/{PATROL_MEMO}"] = _pickle(kept)
    for rule_id, frame in ctx.raw.items():
        writers[f"{STATE_DIR}/nearest_{rule_id}.csv"] = _state_csv(frame)
    if ctx.village_near is not None:
        writers[f"{STATE_DIR}/nearest_villages.csv"] = _state_csv(ctx.village_near)
    # the tables an update compares with, exactly as computed (the public CSVs are made safe
    # for spreadsheets: a name beginning with "=" gets a leading "'" there)
    writers[f"{STATE_DIR}/pairings.csv"] = _state_csv(pairs)
    writers[f"{STATE_DIR}/gaps.csv"] = _state_csv(gaps)
    if measured is not None:
        writers[f"{STATE_DIR}/indicators.csv"] = _state_csv(measured)
        writers["indicators.csv"] = _csv(measured)
        writers["indicators.json"] = _text(_json(_clean(indicators.to_json(measured))))
    writers["report.xlsx"] = _workbook(ctx)
    if ctx.maps:
        writers.update(_map_writers(result.map_layers(), ctx.basemap))
    return writers


def _workbook(ctx: _Context) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        report.excel(
            path,
            pairings=ctx.pairs,
            gaps=ctx.gaps,
            summary=ctx.summary,
            facilities=ctx.own,
            counties=ctx.reg.counties if ctx.reg is not None else None,
            coverage=ctx.cov,
            layout_summary=ctx.layout_summary,
            indicators=ctx.measured,
            patrols=None if ctx.patrols is None else ctx.patrols.visits,
            recommendations=ctx.recommended,
        )

    return write


def _map_writers(layers: MapLayers, basemap: str) -> dict[str, Callable[[Path], None]]:
    """``maps/map.html`` (the meeting map) and ``maps/map.png`` (the printed map)."""
    from siting import maps

    def meeting(path: Path) -> None:
        maps.save_html(maps.meeting_map(layers, basemap=basemap), path)

    def printed(path: Path) -> None:
        maps.static_map(layers, path)

    return {"maps/map.html": meeting, "maps/map.png": printed}
