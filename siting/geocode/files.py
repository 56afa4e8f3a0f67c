"""The public functions :func:`geocode_frame` and :func:`geocode_file`, and writing the
result as CSV, XLSX or a GeoPackage registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

import pandas as pd

from siting._errors import Issue, SitingError, ValidationError
from siting.geocode.results import GeocodeResult
from siting.geocode.run import SHARED_POINT_MIN, PathLike, _options, _run
from siting.geocode.table import _is_missing, _read_table, _Table

_OUT_SUFFIXES: Final = (".csv", ".xlsx", ".gpkg")


# --- writing -----------------------------------------------------------------------------------


def _check_out(out: PathLike) -> Path:
    path = Path(out)
    if path.suffix.lower() not in _OUT_SUFFIXES:
        msg = (
            f"--out {path}: write .csv (UTF-8 with BOM, opens in Excel), .xlsx or .gpkg "
            f"(输出文件须为 .csv、.xlsx 或 .gpkg)"
        )
        raise SitingError(msg)
    if path.is_dir():
        msg = f"--out {path} is a folder (是文件夹)"
        raise SitingError(msg)
    return path


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from siting._io import atomic_path

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "geocoded"
    ws.append([str(c) for c in frame.columns])
    for record in frame.itertuples(index=False, name=None):
        ws.append([None if _is_missing(v) else v for v in record])
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", cell.value)
                cell.data_type = "s"  # text, never a formula
    ws.freeze_panes = "A2"
    with atomic_path(path) as tmp:
        book.save(tmp)


def _write_gpkg(result: GeocodeResult, path: Path, crs: str | None, rows: list[int]) -> None:
    import tempfile

    from siting import registry
    from siting._io import write_csv

    with tempfile.TemporaryDirectory(prefix="siting-geocode-") as folder:
        tmp = Path(folder) / "geocoded.csv"
        write_csv(result.frame, tmp, excel_safe=False)
        try:
            gdf = registry.read(tmp, crs=crs)
        except ValidationError as exc:
            issues = [
                Issue(
                    result.source,
                    rows[i.row - 2] if i.row is not None and 2 <= i.row < len(rows) + 2 else i.row,
                    i.column,
                    i.reason,
                    i.severity,
                    i.reason_zh,
                )
                for i in exc.issues
            ]
            header = (
                f"{result.source}: the geocoded table is not yet a registry, so no GeoPackage "
                "was written (结果尚不能作为机构名录写入 GeoPackage); write --out x.csv or "
                ".xlsx (the answers are cached: no new requests), fix the rows below, then read it"
            )
            raise ValidationError(issues, header=header) from None
    registry.write(gdf, path)


def _write(result: GeocodeResult, out: Path, crs: str | None, rows: list[int]) -> Path:
    suffix = out.suffix.lower()
    if suffix == ".csv":
        from siting._io import write_csv

        write_csv(result.frame, out)
    elif suffix == ".xlsx":
        _write_xlsx(result.frame, out)
    else:
        _write_gpkg(result, out, crs, rows)
    result.path = out
    return out


# --- the public functions ----------------------------------------------------------------------


def geocode_frame(
    frame: pd.DataFrame,
    *,
    provider: str,
    key: str | None = None,
    city: str | None = None,
    url: str | None = None,
    rate: float | None = None,
    timeout: float = 10.0,
    retries: int = 3,
    backoff: float = 1.0,
    cache_dir: PathLike | None = None,
    use_cache: bool = True,
    approximate_levels: Iterable[str] | None = None,
    shared_min: int = SHARED_POINT_MIN,
    progress: bool | None = False,
) -> GeocodeResult:
    """Fill the missing coordinates of a facility table from its address (or name) column.

    The table's columns are found by the registry's header aliases
    (:data:`siting.registry.COLUMN_ALIASES`: 地址/详细地址/address, 名称/name, 经度/lon,
    纬度/lat, 经纬度, 坐标系/crs, 定位方式/location). A row is asked for when its lon/lat are
    empty (or 0,0, or a placeholder such as 暂无); its address is the query, else its name. Rows
    with coordinates are not touched.

    Parameters
    ----------
    frame
        The planner's table, one row per facility. Rows are numbered by 1-based position.
    provider
        ``"amap"`` (高德, GCJ-02), ``"baidu"`` (百度, BD-09) or ``"tianditu"`` (天地图, CGCS2000).
    key
        The provider's web-service key; default the environment (``SITING_AMAP_KEY``,
        ``SITING_BAIDU_AK``, ``SITING_TIANDITU_TK``). Needed only when a request is sent.
    city
        A city hint (``"南充市"``) that narrows the search.
    url
        Endpoint override (default: the provider's environment variable, then
        ``SITING_GEOCODER_URL``, then the documented URL).
    rate
        Requests per second (default :attr:`Provider.rate`, 3).
    timeout
        Seconds to wait for one answer.
    retries
        Retries of a request that timed out, failed to connect, or met HTTP 429/5xx or a
        "too many requests" code, with backoff ``backoff``, ``2 * backoff`` ... seconds.
    backoff
        First retry delay in seconds.
    cache_dir
        Folder of the answer cache (default ``siting.data_dir()/geocode_cache``).
    use_cache
        ``False`` asks again and stores nothing.
    approximate_levels
        Normalised levels flagged approximate (default :data:`APPROXIMATE_LEVELS`).
    shared_min
        This many different queries on one point make it a fallback point (default 3).
    progress
        Show a progress bar (``None``: when stderr is a terminal).

    Returns
    -------
    GeocodeResult

    Raises
    ------
    siting.ValidationError
        No address or name column, or conflicting columns, naming them.
    GeocodeKeyError
        The provider refused the key (nothing more is sent).
    siting.SitingError
        A bad argument, or no key when a request is needed.
    """
    opts = _options(
        provider=provider,
        key=key,
        city=city,
        url=url,
        rate=rate,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        cache_dir=cache_dir,
        use_cache=use_cache,
        approximate_levels=approximate_levels,
        shared_min=shared_min,
        progress=progress,
        log=None,
    )
    data = pd.DataFrame(frame).reset_index(drop=True).astype(object)
    data.columns = pd.Index([str(c) for c in data.columns])
    table = _Table(data, list(range(1, len(data) + 1)), "frame")
    return _run(table, "<frame>", opts)


def geocode_file(
    path: PathLike,
    *,
    provider: str,
    key: str | None = None,
    out: PathLike | None = None,
    city: str | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    crs: str | None = None,
    url: str | None = None,
    rate: float | None = None,
    timeout: float = 10.0,
    retries: int = 3,
    backoff: float = 1.0,
    cache_dir: PathLike | None = None,
    use_cache: bool = True,
    approximate_levels: Iterable[str] | None = None,
    shared_min: int = SHARED_POINT_MIN,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> GeocodeResult:
    """Geocode a planner's CSV or Excel file (see :func:`geocode_frame`) and write the result.

    The file is read as :func:`siting.registry.read` reads it (CSV in UTF-8 with or without
    BOM or GBK/GB18030, comma/tab/semicolon separated; ``.xlsx``; a title row above the header
    is skipped; blank lines are not rows), and rows are numbered as in the spreadsheet.

    The output keeps every row and column in order and adds (or fills) ``lon``/``lat`` in
    WGS84, ``crs`` (``wgs84`` on geocoded rows, so that a file whose other rows are GCJ-02 still
    reads right), ``location`` (``approximate`` on approximate rows) and ``geocode_provider``,
    ``geocode_crs`` (the provider's system), ``geocode_level``, ``geocode_query``,
    ``geocode_status`` (:data:`STATUSES`) and ``geocode_note`` (the reason). Its format follows
    the suffix of ``out``: ``.csv`` (UTF-8 with BOM), ``.xlsx``, or ``.gpkg`` (a registry,
    through :func:`siting.registry.read` with ``crs`` for the coordinates the file already had
    and :func:`siting.registry.write`; refused, listing the rows, unless every row is located
    and valid). It is written atomically.

    Parameters
    ----------
    path
        The table (``.csv``, ``.txt``, ``.tsv`` or ``.xlsx``).
    out
        The file to write; ``None`` writes nothing (see :attr:`GeocodeResult.frame`).
    sheet, encoding
        As for :func:`siting.registry.read`.
    crs
        The system of the coordinates already in the file; used only to write a GeoPackage.
    log
        Called with progress lines (start, every 50 rows without a progress bar).
    provider, key, city, url, rate, timeout, retries, backoff, cache_dir, use_cache,
    approximate_levels, shared_min, progress
        As for :func:`geocode_frame`.

    Returns
    -------
    GeocodeResult
        With :attr:`GeocodeResult.path` set when ``out`` was written.
    """
    file = os.fspath(path)
    target = _check_out(out) if out is not None else None
    opts = _options(
        provider=provider,
        key=key,
        city=city,
        url=url,
        rate=rate,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        cache_dir=cache_dir,
        use_cache=use_cache,
        approximate_levels=approximate_levels,
        shared_min=shared_min,
        progress=progress,
        log=log,
    )
    table = _read_table(Path(path), sheet=sheet, encoding=encoding, file=file)
    result = _run(table, file, opts)
    if target is not None:
        _write(result, target, crs, table.rows)
    return result
