"""Errors raised by siting.

Every error a planner can meet is a :class:`SitingError`; they subclass built-in exceptions
so that ``except ValueError`` still works, and their messages name the file, row, column and
reason where there is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DataError",
    "Issue",
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
