"""Errors raised by siting.

Every error a planner can meet is a :class:`SitingError`; they subclass built-in exceptions
so that ``except ValueError`` still works, and their messages name the file, row, column and
reason where there is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


__all__ = [
    "BatchError",
    "CRSError",
    "CostError",
    "CoverageError",
    "DataError",
    "DuplicateError",
    "FolderError",
    "GeocodeKeyError",
    "GraphError",
    "InfeasibleError",
    "Issue",
    "LayoutError",
    "LocateError",
    "LocateInfeasibleError",
    "MapError",
    "MissingDependencyError",
    "NetworkError",
    "OverpassError",
    "PairingRuleError",
    "PatrolError",
    "RegionNotFoundError",
    "SitingError",
    "ValidationError",
]


class SitingError(Exception):
    """Base class of every error raised by siting."""


class DataError(SitingError, OSError):
    """Reference or generated data is missing, incomplete or unreadable."""


class RegionNotFoundError(SitingError, LookupError):
    """A region name or code matches nothing in the reference tables."""

    def __init__(self, msg: str, *, suggestions: list[str] | None = None) -> None:
        super().__init__(msg)
        self.suggestions = suggestions or []


@dataclass(frozen=True)
class Issue:
    """One problem found in an input file.

    ``row`` is the 1-based data row as a planner sees it in a spreadsheet (the header is row 1,
    the first facility row 2); ``None`` when the problem is about the whole file.
    """

    file: str
    row: int | None
    column: str | None
    reason: str
    severity: str = "error"  # "error" or "warning"
    reason_zh: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        text = f"{where}: {self.reason}"
        if self.reason_zh:
            text += f" ({self.reason_zh})"
        return text


class ValidationError(SitingError, ValueError):
    """Input data failed validation; ``issues`` lists every problem found, not only the first."""

    def __init__(self, issues: Iterable[Issue], *, header: str | None = None) -> None:
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        head = header or f"{len(errors)} problem(s) found"
        lines = [head] + [f"  - {i}" for i in errors[:50]]
        if len(errors) > 50:
            lines.append(f"  ... and {len(errors) - 50} more")
        super().__init__("\n".join(lines))


class MissingDependencyError(SitingError, ImportError):
    """An optional dependency (an extra of the package, ``siting[patrol]`` ...) is not installed.

    An ``ImportError`` too; ``module`` is the module that could not be imported and ``extra``
    the extra that installs it (:func:`siting._optional.require` raises it).
    """

    def __init__(self, msg: str, *, module: str, extra: str) -> None:
        super().__init__(msg, name=module)
        self.module = module
        self.extra = extra


# --- the errors of each room (defined here, importable from their modules too) -----------------


# siting.graph
class GraphError(SitingError, ValueError):
    """A road graph does not follow the contract (missing node coordinates or edge weights)."""


# siting._outdir
class FolderError(SitingError, OSError):
    """An output folder cannot be used (not writable, not siting's, locked, no room)."""


# siting.batch
class BatchError(SitingError):
    """A batch cannot start (bad options, no regions, no cluster)."""


# siting.costs
class CostError(SitingError, ValueError):
    """An argument of a travel-time function is invalid; the message names it."""


# siting.coverage
class CoverageError(SitingError, ValueError):
    """An argument of a coverage function is invalid; the message names it (and the column)."""


# siting.crs
class CRSError(SitingError, ValueError):
    """A coordinate system is unknown, or a frame is in the wrong CRS for the operation."""


# siting.geocode
class GeocodeKeyError(SitingError, PermissionError):
    """The provider refused the key (wrong, expired, not allowed for geocoding, IP whitelist)."""


# siting.layout
class LayoutError(ValidationError):
    """A layout spec is unreadable or invalid; ``issues`` lists every problem found.

    A :class:`siting.ValidationError` (hence a ``ValueError``); each issue is a
    :class:`LayoutIssue` naming the file, the element or anchor, the key and the reason.
    """

    def __init__(self, issues: Iterable[Issue], *, file: str) -> None:
        self.file = file
        items = list(issues)
        super().__init__(items, header=f"invalid layout spec {file}: {len(items)} problem(s)")


# siting.locate
class LocateError(SitingError, ValueError):
    """An argument of a location function is invalid; the message names it (and the column)."""


# siting.locate
class LocateInfeasibleError(SitingError, RuntimeError):
    """No solution: the model is infeasible, or the solver stopped before finding one.

    ``result`` holds the :class:`LocateResult` (status, reason, the demand points concerned).
    """

    def __init__(self, msg: str, *, result: Any = None) -> None:
        super().__init__(msg)
        self.result = result


# siting.maps
class MapError(SitingError, ValueError):
    """A map cannot be made from what was given (the message says what is missing)."""


# siting.network
class NetworkError(SitingError, ValueError):
    """An argument of a road-network function is invalid (unknown road class, bad speed, CRS)."""


# siting.osm_fetch
class OverpassError(SitingError, ConnectionError):
    """The Overpass server cannot be reached, or its answer cannot be used."""


# siting.pairing
class PairingRuleError(SitingError, ValueError):
    """A pairing rule file or mapping is invalid; the message names the file, rule and key."""


# siting.pairing
class InfeasibleError(SitingError):
    """The capacity-aware assignment could not be solved to optimality (time limit, solver)."""


# siting.patrol
class PatrolError(SitingError, ValueError):
    """An argument of :func:`plan` is invalid; the message names it."""


# siting.registry
class DuplicateError(ValidationError):
    """Facilities to add that are already in the registry; ``found`` is :func:`duplicates`."""

    def __init__(self, found: pd.DataFrame, *, file: str) -> None:
        self.found = found
        issues = []
        for r in found.itertuples(index=False):
            where = (
                f"registry row {r.match_row}" if r.match_in == "registry" else f"row {r.match_row}"
            )
            where_zh = (
                f"名录第{r.match_row}行" if r.match_in == "registry" else f"本文件第{r.match_row}行"
            )
            issues.append(
                Issue(
                    file,
                    int(str(r.row)),
                    "name",
                    f"{r.name} ({r.kind}) is already there: {r.match_id} {r.match_name} "
                    f"({r.match_kind}, {where}), {r.distance_m:g} m away: {r.rule}",
                    reason_zh=f"疑似重复：与{where_zh}“{r.match_name}”（{r.match_id}）"
                    f"相距{r.distance_m:g}米",
                )
            )
        header = (
            f"{file}: {found['row'].nunique()} facilities are already in the registry (疑似重复); "
            "nothing was changed. Remove them, or add --allow-duplicates to add them anyway"
        )
        super().__init__(issues, header=header)
