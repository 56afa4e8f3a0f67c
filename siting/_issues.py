"""One problem collector: every problem of an input at once, each naming where and why.

A reader or checker adds each problem it finds to a :class:`Problems` and goes on; at the end the
caller raises one error listing them all, so a planner fixes a file in one pass instead of one
error per run. The registry readers (a facility list, row by row), the layout specs (element,
anchor, key) and the pairing rules all use this one class.

Each problem is a :class:`siting._errors.Issue`: the file, the 1-based row (``None`` for the
whole file), the column or key, the reason in English and Chinese, and the severity
(``"error"`` stops the input being used, ``"warning"`` does not). A collector made with another
``issue`` type (the layout's :class:`~siting.layout.LayoutIssue`) also records the element and
anchor of a problem.

* :meth:`Problems.add` records one problem by keywords; :meth:`Problems.error` and
  :meth:`Problems.warn` take ``row, column, reason, reason_zh`` in that order (the registry's
  row-by-row checks).
* :attr:`Problems.items` keeps the order they were found; :meth:`Problems.sorted` gives file-level
  problems first, then by row, and within a row by column in the order of :attr:`Problems.columns`
  (the file's headers).
* :meth:`Problems.text` (and :func:`problems_header`) prints the errors, at most ``limit`` of them
  (50, as :class:`siting.ValidationError` does); :meth:`Problems.raise_errors` raises an error made
  from that text, :meth:`Problems.raise_if_any` one made from the problems themselves.

>>> p = Problems("rules.yaml")
>>> p.add("unknown kind 'x'", column="rules[0].from")
>>> p.add("missing", column="rules[1].to")
>>> len(p.errors), p.text().splitlines()[1]
(2, "  - rules.yaml, column 'rules[0].from': unknown kind 'x'")

>>> q = Problems("养老机构.csv", columns=["名称", "经度"])
>>> q.warn(3, "经度", "lon looks swapped", "经纬度可能颠倒")
>>> q.error(3, "名称", "name is empty", "名称为空")
>>> q.error(None, None, "no facility rows", "没有机构数据")
>>> [(i.row, i.column, i.severity) for i in q.sorted()]
[(None, None, 'error'), (3, '名称', 'error'), (3, '经度', 'warning')]
>>> q.has_errors, problems_header(q.file, q.items)
(True, '养老机构.csv: 2 problem(s) found (发现 2 个问题)')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from siting._errors import Issue, SitingError, ValidationError

__all__ = ["Problems", "problems_header"]

SEVERITIES = ("error", "warning")


def problems_header(file: str, issues: Iterable[Issue]) -> str:
    """``"<file>: N problem(s) found (发现 N 个问题)"``, counting the errors among ``issues``."""
    errors = sum(i.severity == "error" for i in issues)
    return f"{file}: {errors} problem(s) found (发现 {errors} 个问题)"


class Problems:
    """The problems found in one input (a file, or a mapping named ``file``).

    Parameters
    ----------
    file
        The name every problem carries.
    columns
        The input's headers, left to right: :meth:`sorted` orders the problems of a row by them
        (settable later through :attr:`columns`).
    issue
        What each problem is made with: :class:`~siting._errors.Issue` (the default) or a
        subclass with more fields (``element``, ``anchor``, ``key``), called with keywords.
    error
        What :meth:`raise_if_any` raises, made from the list of problems; default a
        :class:`~siting.ValidationError` headed by :func:`problems_header`.
    """

    def __init__(
        self,
        file: str,
        *,
        columns: Sequence[str] = (),
        issue: Callable[..., Issue] = Issue,
        error: Callable[[list[Issue]], SitingError] | None = None,
    ) -> None:
        self.file = file
        self.items: list[Issue] = []
        self.columns: list[str] = list(columns)  # the file's headers: a row's go left to right
        self._issue = issue
        self._error = error

    def __len__(self) -> int:
        return len(self.items)

    def add(
        self,
        reason: str,
        *,
        row: int | None = None,
        column: str | None = None,
        reason_zh: str = "",
        severity: str = "error",
        element: str | None = None,
        anchor: str | None = None,
        key: str | None = None,
    ) -> None:
        """Record one problem.

        ``key`` is the key path in a nested document (``"members[0].county"``); it stands for
        the column when no ``column`` is given. ``element``, ``anchor`` and ``key`` need an
        ``issue`` type that has those fields.
        """
        if severity not in SEVERITIES:
            msg = f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}"
            raise ValueError(msg)
        place: dict[str, Any] = {
            k: v
            for k, v in (("element", element), ("anchor", anchor), ("key", key))
            if v is not None
        }
        if place and self._issue is Issue:
            msg = (
                f"{', '.join(place)} given but the collector of {self.file} makes plain "
                "Issues; pass issue= a type with those fields"
            )
            raise ValueError(msg)
        self.items.append(
            self._issue(
                file=self.file,
                row=row,
                column=column if column is not None else key,
                reason=reason,
                severity=severity,
                reason_zh=reason_zh,
                **place,
            )
        )

    def error(self, row: int | None, column: str | None, reason: str, reason_zh: str = "") -> None:
        """Record an error of ``row`` (``None``: the whole file) and ``column``."""
        self.add(reason, row=row, column=column, reason_zh=reason_zh)

    def warn(self, row: int | None, column: str | None, reason: str, reason_zh: str = "") -> None:
        """Record a warning of ``row`` (``None``: the whole file) and ``column``."""
        self.add(reason, row=row, column=column, reason_zh=reason_zh, severity="warning")

    @property
    def errors(self) -> list[Issue]:
        """The problems that stop the input being used, in the order found."""
        return [i for i in self.items if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """The problems that do not, in the order found."""
        return [i for i in self.items if i.severity != "error"]

    @property
    def has_errors(self) -> bool:
        """Whether any problem is an error."""
        return any(i.severity == "error" for i in self.items)

    def sorted(self) -> list[Issue]:
        """File-level problems first, then by row, and within a row by column, left to right.

        Columns not among :attr:`columns` come last in their row; ties keep the order found.
        """
        order = {c: k for k, c in enumerate(self.columns)}

        def key(i: Issue) -> tuple[bool, int, int]:
            return i.row is not None, i.row or 0, order.get(i.column or "", len(order))

        return sorted(self.items, key=key)

    def header(self) -> str:
        """The default first line of :meth:`text`: the file and how many errors."""
        return problems_header(self.file, self.items)

    def text(self, header: str | None = None, limit: int = 50) -> str:
        """A header and one line per error, in the order found (at most ``limit``)."""
        errors = self.errors
        lines = [header or self.header()]
        lines += [f"  - {i}" for i in errors[:limit]]
        if len(errors) > limit:
            lines.append(f"  ... and {len(errors) - limit} more")
        return "\n".join(lines)

    def raise_errors(self, error: Callable[[str], SitingError], header: str | None = None) -> None:
        """Raise ``error(text)`` listing every error, if there is any (``issues``: all problems)."""
        if self.errors:
            self._raise(error, header)

    def _raise(self, error: Callable[[str], SitingError], header: str | None) -> NoReturn:
        exc = error(self.text(header))
        exc.issues = list(self.items)  # type: ignore[attr-defined]
        raise exc

    def raise_if_any(self) -> None:
        """Raise the collector's ``error`` made from every problem, if any was recorded."""
        if self.items:
            raise self._make_error()

    def _make_error(self) -> SitingError:
        if self._error is not None:
            return self._error(list(self.items))
        return ValidationError(self.items, header=self.header())
