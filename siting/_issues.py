"""One problem collector: every problem of an input at once, each naming where and why.

A reader or checker adds each problem it finds to a :class:`Problems` (file, row, column or key,
reason in English and Chinese, severity) and goes on; at the end :meth:`Problems.raise_errors`
raises one error listing them all, so a planner fixes a file in one pass instead of one error per
run. Used by the pairing rules; the registry and layout readers have their own collectors built
on the same :class:`siting._errors.Issue` (to be merged here).

>>> p = Problems("rules.yaml")
>>> p.add("unknown kind 'x'", column="rules[0].from")
>>> p.add("missing", column="rules[1].to")
>>> len(p.errors), p.text().splitlines()[1]
(2, "  - rules.yaml, column 'rules[0].from': unknown kind 'x'")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from siting._errors import Issue, SitingError

__all__ = ["Problems"]


class Problems:
    """The problems found in one input (a file, or a mapping named ``file``)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Issue] = []

    def add(
        self,
        reason: str,
        *,
        row: int | None = None,
        column: str | None = None,
        reason_zh: str = "",
        severity: str = "error",
    ) -> None:
        """Record one problem."""
        self.items.append(Issue(self.file, row, column, reason, severity, reason_zh))

    @property
    def errors(self) -> list[Issue]:
        """The problems that stop the input being used."""
        return [i for i in self.items if i.severity == "error"]

    def text(self, header: str | None = None, limit: int = 50) -> str:
        """A header and one line per error (at most ``limit``)."""
        errors = self.errors
        lines = [
            header or f"{self.file}: {len(errors)} problem(s) found (发现 {len(errors)} 个问题)"
        ]
        lines += [f"  - {i}" for i in errors[:limit]]
        if len(errors) > limit:
            lines.append(f"  ... and {len(errors) - limit} more")
        return "\n".join(lines)

    def raise_errors(self, error: Callable[[str], SitingError], header: str | None = None) -> None:
        """Raise ``error(text)`` listing every error, if there is any."""
        if self.errors:
            self._raise(error, header)

    def _raise(self, error: Callable[[str], SitingError], header: str | None) -> NoReturn:
        exc = error(self.text(header))
        exc.issues = list(self.items)  # type: ignore[attr-defined]
        raise exc
