"""A commit writes its files in two processes when it may (siting._outdir._write_files): the
same files, every error raised as the writer raised it, nothing half-written left behind."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from siting import _outdir
from siting._errors import FolderError
from siting._outdir import OutputFolder


def _writer(text: str, fail: BaseException | None = None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if fail is not None:
            raise fail
        # which process wrote it: the parent or the forked child
        path.write_text(json.dumps({"text": text, "pid": os.getpid()}), encoding="utf-8")

    return write


def _writers(fail_b: BaseException | None = None) -> dict[str, Callable[[Path], None]]:
    # the two heaviest files go one to each process; b.xlsx goes to the child
    return {
        "a.xlsx": _writer("a"),
        "b.xlsx": _writer("b", fail_b),
        "maps/c.html": _writer("c"),
        "d.csv": _writer("d"),
        "e.csv": _writer("e"),
    }


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two-process path, whatever threads the test runner keeps."""
    monkeypatch.setattr(_outdir, "_parallel_writes", lambda: True)


def test_two_processes_write_every_file(tmp_path: Path, parallel: None) -> None:
    out = tmp_path / "out"
    seen: dict[str, float] = {}

    def manifest(seconds: dict[str, float]) -> str:
        seen.update(seconds)
        return json.dumps({"siting_version": "test"})

    with OutputFolder(out) as folder:
        folder.commit(_writers(), manifest)
    got = {
        p.relative_to(out).as_posix(): json.loads(p.read_text(encoding="utf-8"))
        for p in out.rglob("*")
        if p.is_file() and p.suffix in (".xlsx", ".html", ".csv")
    }
    assert {k: v["text"] for k, v in got.items()} == {
        "a.xlsx": "a",
        "b.xlsx": "b",
        "maps/c.html": "c",
        "d.csv": "d",
        "e.csv": "e",
    }
    pids = {v["pid"] for v in got.values()}
    assert len(pids) == 2 and os.getpid() in pids  # this process and one child
    # shared by weight: the map (the heaviest) on one side, the two workbooks on the other
    assert got["a.xlsx"]["pid"] == got["b.xlsx"]["pid"] != got["maps/c.html"]["pid"]
    assert list(seen) == list(_writers())  # every file timed, in the writers' order
    assert (out / "manifest.json").is_file()


def test_an_error_in_the_child_is_raised_as_it_was(tmp_path: Path, parallel: None) -> None:
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.commit({"old.csv": _writer("old")}, json.dumps({"siting_version": "test"}))
    before = sorted(p.name for p in out.iterdir())
    with OutputFolder(out) as folder, pytest.raises(ValueError, match="bad value in b"):
        folder.commit(_writers(ValueError("bad value in b")), "{}")
    assert sorted(p.name for p in out.iterdir()) == before  # nothing staged is left
    assert json.loads((out / "old.csv").read_text(encoding="utf-8"))["text"] == "old"


def test_a_full_disk_in_the_child_is_a_folder_error(tmp_path: Path, parallel: None) -> None:
    out = tmp_path / "out"
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "b.xlsx"))
    with OutputFolder(out) as folder, pytest.raises(FolderError, match="unchanged") as info:
        folder.commit(_writers(full), "{}")
    assert "b.xlsx" in str(info.value)
    assert not list(out.glob(".siting-*/*"))


def test_one_process_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITING_WORKERS", "1")
    assert not _outdir._parallel_writes()
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.commit(_writers(), json.dumps({"siting_version": "test"}))
    pids = {json.loads((out / n).read_text(encoding="utf-8"))["pid"] for n in ("a.xlsx", "b.xlsx")}
    assert pids == {os.getpid()}
