"""Problems found in an input file: their printing (the collector is :mod:`siting._issues`).

While reading, every problem of a file (row, column, reason, severity) goes into one
:class:`siting._issues.Problems` (``_Issues`` is its old name here); :func:`format_issues` prints
a list of :class:`siting.Issue` bounded and grouped, for the command line and notebooks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Final

from siting._errors import Issue
from siting._issues import Problems, problems_header
from siting.registry.schema import PathLike

# --- issues ------------------------------------------------------------------------------------

#: The collector used while reading: the one :class:`siting._issues.Problems` (old name).
_Issues = Problems
#: The first line of an error listing the issues of a file (old name).
_header = problems_header


def _rows_text(rows: Sequence[int], limit: int = 10) -> str:
    """``"2, 3, 5"`` or ``"2, 3, 5 … (12 rows)"``."""
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown if len(rows) <= limit else f"{shown} … ({len(rows)} rows)"


_VARYING: Final = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”|[+-]?\d+(?:[.,]\d+)*")


def _issue_lines(issue: Issue) -> list[str]:
    tag = "错误 ERROR" if issue.severity == "error" else "提示 WARNING"
    row = f"第{issue.row}行 row {issue.row}" if issue.row is not None else "整个文件 whole file"
    col = f"列 column {issue.column!r}" if issue.column else ""
    lines = [f"  [{tag}] {row} {col}".rstrip()]
    if issue.reason_zh:
        lines.append(f"      {issue.reason_zh}")
    lines.append(f"      {issue.reason}")
    return lines


def format_issues(
    issues: Sequence[Issue], *, file: PathLike | None = None, max_lines: int = 200
) -> list[str]:
    """The lines to print for the issues of one file, never many more than ``max_lines``.

    The first line counts errors and warnings (or says the file is clean); then every issue,
    errors first, in the bilingual layout of ``siting registry validate``, for as long as
    they fit; the rest is summarised by reason (the reason with its quoted values and numbers
    blanked), one line per reason with its count, column and first rows. A file with 600 rows
    of the same mistake gives a page, not half a megabyte.

    Parameters
    ----------
    issues
        As :func:`validate` returns them (or ``ValidationError.issues``, or a registry's
        ``attrs["issues"]``).
    file
        The file named in the first line; default the file of the first issue.
    max_lines
        The budget of lines (at least 20).

    Returns
    -------
    list of str
        The lines, without line ends.

    Examples
    --------
    >>> format_issues([], file="养老机构.csv")
    ['养老机构.csv: 检查通过，未发现问题 / no problems found']
    """
    name = os.fspath(file) if file is not None else (issues[0].file if issues else "")
    if not issues:
        return [f"{name}: 检查通过，未发现问题 / no problems found"]
    budget = max(int(max_lines), 20)
    errors = [i for i in issues if i.severity == "error"]
    warns = [i for i in issues if i.severity != "error"]
    lines = [f"{name}: {len(errors)} 个错误 / error(s), {len(warns)} 个提示 / warning(s)"]
    ordered = errors + warns
    shown = 0
    reserve = min(40, budget // 4)  # room for the summary of the rest
    first_of: dict[tuple[str, str, str], Issue] = {}
    for issue in ordered:
        block = _issue_lines(issue)
        same = first_of.setdefault((issue.severity, issue.column or "", issue.reason), issue)
        if same is not issue:  # the reason said for several rows: said once
            where = f"row {same.row}" if same.row is not None else "the whole file"
            block = [f"{block[0]}: as {where} 同上"]
        if len(lines) + len(block) > budget - reserve and shown < len(ordered) - 1:
            break
        lines.extend(block)
        shown += 1
    rest = ordered[shown:]
    if not rest:
        return lines
    groups: dict[tuple[str, str, str], list[Issue]] = {}
    for issue in rest:
        key = (issue.severity, issue.column or "", _VARYING.sub("…", issue.reason))
        groups.setdefault(key, []).append(issue)
    lines.append(f"  … {len(rest)} more, by reason 其余 {len(rest)} 条按原因汇总:")
    room = budget - len(lines) - 1
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    for (severity, column, reason), members in ranked[: max(room, 1)]:
        tag = "错误 ERROR" if severity == "error" else "提示 WARNING"
        rows = [i.row for i in members if i.row is not None]
        where = f" column {column!r}" if column else ""
        at = f" rows {_rows_text(rows, 5)}" if rows else ""
        text = reason if len(reason) <= 120 else reason[:119] + "…"
        lines.append(f"    {len(members)} × [{tag}]{where}{at}: {text}")
    if len(ranked) > max(room, 1):
        left = sum(len(m) for _k, m in ranked[max(room, 1) :])
        lines.append(f"    … and {left} more of {len(ranked) - max(room, 1)} other reasons")
    return lines
