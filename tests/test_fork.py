"""siting._fork: work in a forked child gives what the same work gives here, errors included;
a run whose service areas go to a child writes the same bytes as a run without."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from siting import _fork, pipeline


def test_a_child_returns_the_result_and_its_own_pid() -> None:
    job = _fork.Job(lambda: (os.getpid(), [1, 2, 3]), fork=True)
    assert job.forked
    pid, value = job.result()
    assert value == [1, 2, 3] and pid != os.getpid()
    assert job.seconds is not None and job.seconds >= 0
    with pytest.raises(RuntimeError, match="already taken"):
        job.result()


def test_an_error_in_the_child_is_raised_as_it_was() -> None:
    def fail() -> None:
        raise KeyError("no such facility")

    job = _fork.Job(fail, fork=True)
    with pytest.raises(KeyError, match="no such facility"):
        job.result()


def test_without_a_fork_the_work_runs_when_asked() -> None:
    calls: list[int] = []
    job = _fork.Job(lambda: calls.append(os.getpid()) or 7, fork=False)
    assert not job.forked and calls == []  # nothing done yet
    assert job.result() == 7 and calls == [os.getpid()]


def test_cancel_stops_the_child() -> None:
    import time

    job = _fork.Job(lambda: time.sleep(60), fork=True)
    t = time.perf_counter()
    job.cancel()
    assert time.perf_counter() - t < 10 and not job.forked


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITING_WORKERS", "1")
    assert not _fork.can_fork()


def test_service_areas_in_a_child_give_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bytes in every file but the manifest, with the service areas forked or not."""
    from siting.pipeline import steps

    outs = {}
    for forked in (True, False):
        monkeypatch.setattr(steps, "can_fork", lambda f=forked: f)
        out = tmp_path / ("forked" if forked else "here")
        pipeline.run("xuanhan", out=out, progress=False, maps=False, patrol_plan=False)
        outs[forked] = out
    files: dict[bool, dict[str, Any]] = {
        k: {
            p.relative_to(v).as_posix(): p.read_bytes()
            for p in v.rglob("*")
            if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".siting")
        }
        for k, v in outs.items()
    }
    assert "service_areas.geojson" in files[True]
    assert files[True] == files[False]
    import json

    timings = json.loads((outs[True] / "manifest.json").read_text(encoding="utf-8"))["timings_s"]
    assert "service_areas_in_background" in timings
