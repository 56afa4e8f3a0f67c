"""The results table of ``bench/README.md``: each bench rewrites its own rows there.

A bench calls :func:`record` at the end of a run with one :class:`Row` per figure. The table
between the markers ``<!-- results:start -->`` and ``<!-- results:end -->`` keeps one block per
bench (its rows replaced on every run, the other benches' rows kept), each row carrying the date,
the machine, the figure, the value, the baseline measured in the same run, the ratio and the
target, so a reader sees where the project stands without running anything.

Writing is atomic (a temporary file renamed over the README), and ``--no-record`` in a bench
(or ``SITING_BENCH_NO_RECORD=1``) leaves the README alone, e.g. for a quick trial run.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
HEADER = (
    "| bench | date | machine | figure | value | baseline (same run) | ratio | target | met |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


@dataclass(frozen=True)
class Row:
    """One figure of a bench: ``value`` against ``baseline``, with the target it answers."""

    figure: str
    value: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: bool | None = None


def machine() -> str:
    """A short description of this machine: CPUs, memory, Python."""
    cpus = os.cpu_count() or 0
    mem = ""
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as fh:
            kb = int(fh.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpus} vCPU{mem}, {platform.system()} Python {platform.python_version()}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def record(bench: str, rows: list[Row], *, readme: Path = README) -> None:
    """Replace the rows of ``bench`` in the README's results table (create the table if absent)."""
    if os.environ.get("SITING_BENCH_NO_RECORD") == "1":
        return
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    today = dt.date.today().isoformat()
    where = machine()
    mine = [
        "| "
        + " | ".join(
            _cell(c)
            for c in (
                bench,
                today,
                where,
                r.figure,
                r.value,
                r.baseline,
                r.ratio,
                r.target,
                "-" if r.met is None else ("yes" if r.met else "**no**"),
            )
        )
        + " |"
        for r in rows
    ]
    if START in text and END in text:
        head, rest = text.split(START, 1)
        body, tail = rest.split(END, 1)
        kept = [
            line
            for line in body.strip().splitlines()
            if line.startswith("| ")
            and not line.startswith("| bench |")
            and not re.match(rf"\|\s*{re.escape(bench)}\s*\|", line)
        ]
    else:
        head, tail, kept = text.rstrip() + "\n\n## Results\n\n", "\n", []
    lines = sorted(kept + mine, key=lambda line: line.split("|")[1].strip())
    table = "\n".join([HEADER, *lines])
    new = f"{head}{START}\n{table}\n{END}{tail}"
    fd, tmp = tempfile.mkstemp(dir=readme.parent, prefix=".README.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        Path(tmp).replace(readme)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
