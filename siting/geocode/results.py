"""What a run returns: one :class:`GeocodeRow` per row and the :class:`GeocodeResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pandas as pd

from siting._errors import Issue
from siting.geocode.providers import Provider

#: Values of ``geocode_status``.
STATUSES: Final[tuple[str, ...]] = ("ok", "approximate", "not_found", "error", "kept", "skipped")

#: The columns added (or updated) by geocoding, in order.
GEOCODE_COLUMNS: Final[tuple[str, ...]] = (
    "geocode_provider",
    "geocode_crs",
    "geocode_level",
    "geocode_query",
    "geocode_status",
    "geocode_note",
)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeocodeRow:
    """What happened to one row.

    ``row`` is the spreadsheet row (the header is row 1) of a file, or the 1-based position of
    a frame's row; ``lon``/``lat`` are WGS84 (``None`` unless located) and
    ``provider_lon``/``provider_lat`` the provider's own coordinates.
    """

    row: int
    name: str
    query: str
    status: str
    level: str = ""
    note: str = ""
    lon: float | None = None
    lat: float | None = None
    provider_lon: float | None = None
    provider_lat: float | None = None
    cached: bool = False


@dataclass
class GeocodeResult:
    """The geocoded table and what happened to each row.

    Attributes
    ----------
    frame
        Every row and column of the input, in order, with ``lon``/``lat`` (WGS84), ``crs``,
        ``location`` and the :data:`GEOCODE_COLUMNS` filled.
    rows
        A :class:`GeocodeRow` per row, in order.
    provider
        The :class:`Provider` asked.
    path
        The file written, or ``None``.
    requests, cache_hits
        Requests sent and answers taken from the cache.
    stopped
        Why requests stopped before the end (quota used up, repeated failures), or ``None``.
    issues
        Warnings about the input (a title row, columns that could not be written).
    """

    frame: pd.DataFrame
    rows: list[GeocodeRow]
    provider: Provider
    path: Path | None = None
    source: str = ""
    requests: int = 0
    cache_hits: int = 0
    stopped: str | None = None
    issues: list[Issue] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[GeocodeRow]:
        """The rows of the given statuses."""
        return [r for r in self.rows if r.status in statuses]

    @property
    def located(self) -> list[GeocodeRow]:
        """Rows located exactly enough (``ok``)."""
        return self.with_status("ok")

    @property
    def approximate(self) -> list[GeocodeRow]:
        return self.with_status("approximate")

    @property
    def not_found(self) -> list[GeocodeRow]:
        return self.with_status("not_found")

    @property
    def errors(self) -> list[GeocodeRow]:
        return self.with_status("error")

    @property
    def to_locate(self) -> int:
        """Rows that needed coordinates (everything but ``kept``)."""
        return sum(r.status != "kept" for r in self.rows)

    @property
    def nothing_located(self) -> bool:
        """Rows needed coordinates and none got any."""
        return self.to_locate > 0 and not self.with_status("ok", "approximate")

    def summary(self) -> str:
        """A bilingual summary for a planner, listing approximate, not-found and failed rows."""
        p = self.provider
        head = (
            f"地理编码 geocoded with {p.label} ({p.crs_label} -> WGS84): "
            f"{self.to_locate} of {len(self.rows)} rows needed coordinates"
        )
        lines = [
            head,
            f"  精确定位 located exactly: {len(self.located)}",
            f"  大致位置 approximate (location=approximate, not exact): {len(self.approximate)}",
        ]
        lines += [
            f"    第{r.row}行 row {r.row}  {r.name}  [{r.level or '?'}]  {r.note}"
            for r in self.approximate
        ]
        lines.append(f"  未找到 not found: {len(self.not_found)}")
        lines += [
            f"    第{r.row}行 row {r.row}  {r.name}  query {r.query!r}" for r in self.not_found
        ]
        lines.append(f"  出错 errors: {len(self.errors)}")
        lines += [f"    第{r.row}行 row {r.row}  {r.name}  {r.note}" for r in self.errors]
        skipped = self.with_status("skipped")
        if skipped:
            lines.append(f"  无地址无名称 skipped (no address or name): {len(skipped)}")
            lines += [f"    第{r.row}行 row {r.row}" for r in skipped]
        lines.append(f"  已有坐标 kept (had coordinates): {len(self.with_status('kept'))}")
        lines.append(
            f"  缓存命中 cache hits: {self.cache_hits}, 请求 requests made: {self.requests}"
        )
        if self.stopped:
            lines.append(f"  已停止查询 stopped asking: {self.stopped}; rerun later to continue")
        for issue in self.issues:
            lines.append(f"  提示 warning: {issue}")
        if self.path is not None:
            lines.append(f"写入 wrote {self.path}")
        return "\n".join(lines)
