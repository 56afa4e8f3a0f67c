"""Every command turns bad arguments and failures into one clear message, never a traceback.

Nothing here starts a Dask cluster or runs a pipeline: bad arguments are rejected by argparse
(exit 2 with a usage line) or by a check made before any data is loaded.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from siting import batch, cli
from siting._errors import SitingError
from siting.cli import main

HUGE = "99999999999999999999999"
#: Commands with actions (``siting data build``).
GROUPS = {"data", "registry", "network", "costs"}


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A readable file, a folder, a missing path and a regions file with a bad line."""
    monkeypatch.chdir(tmp_path)  # whatever a test gets wrong is written there
    file = tmp_path / "list.csv"
    file.write_text("name,kind,lon,lat\n", encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    regions = tmp_path / "regions.txt"
    regions.write_text("511302\n# a comment\n511722@-1\n", encoding="utf-8")
    registry = tmp_path / "registry.gpkg"
    registry.write_bytes(b"")
    return {
        "FILE": str(file),
        "DIR": str(folder),
        "MISSING": str(tmp_path / "missing.csv"),
        "OUT": str(tmp_path / "out"),
        "REGIONS": str(regions),
        "REG": str(registry),
    }


def _fill(args: list[str], paths: dict[str, str]) -> list[str]:
    """The arguments with FILE, DIR, ... (alone or before a ``/``) replaced by the paths."""
    out = []
    for arg in args:
        head, sep, tail = arg.partition("/")
        out.append(paths[head] + sep + tail if head in paths else arg)
    return out


def _stderr(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# (arguments, text the message must contain); FILE, DIR, MISSING, OUT, REGIONS are paths
ARGPARSE_ERRORS: list[tuple[list[str], str]] = [
    # data build / data regions
    (["data", "build", "--region", "xuanhan", "--seed", "-1"], "-1"),
    (["data", "build", "--region", "xuanhan", "--seed", HUGE], HUGE),
    (["data", "build", "--region", "xuanhan", "--seed", "4294967296"], "4294967296"),
    (["data", "build", "--region", "xuanhan", "--seed", "abc"], "abc"),
    (["data", "build", "--region", "xuanhan", "--seed", "1.5"], "1.5"),
    (["data", "build", "--region", "xuanhan", "--out", "DIR"], "DIR"),
    (["data", "build", "--region", "xuanhan", "--out", "FILE/x.gpkg"], "FILE"),
    (["data", "build", "--region", "xuanhan", "--reference-dir", "MISSING"], "MISSING"),
    (["data", "regions", "--reference-dir", "MISSING"], "MISSING"),
    (["data", "regions", "--reference-dir", "FILE"], "FILE"),
    # registry geocode, network fetch
    (["registry", "geocode", "MISSING", "--provider", "amap", "--out", "OUT/x.csv"], "MISSING"),
    (["registry", "geocode", "FILE", "--provider", "amap", "--out", "x.csv", "--rate", "0"], "0"),
    (
        ["registry", "geocode", "FILE", "--provider", "amap", "--out", "x.csv", "--rate", "nan"],
        "nan",
    ),
    (["network", "fetch", "--region", "xuanhan", "--buffer-km", "-1"], "-1"),
    (["network", "fetch", "--region", "xuanhan", "--timeout", "0"], "0"),
    (["network", "fetch", "--boundary", "MISSING"], "MISSING"),
    # registry validate
    (["registry", "validate", "FILE", "--margin-km", "nan"], "nan"),
    (["registry", "validate", "FILE", "--margin-km", "-1"], "-1"),
    (["registry", "validate", "FILE", "--margin-km", "abc"], "abc"),
    (["registry", "validate", "FILE", "--margin-km", "inf"], "inf"),
    # network build / import
    (["network", "build", "--region", "xuanhan", "--seed", "-5"], "-5"),
    (["network", "build", "--region", "xuanhan", "--seed", HUGE], HUGE),
    (["network", "build", "--region", "xuanhan", "--out", "DIR"], "DIR"),
    (["network", "import", "MISSING", "--out", "OUT/r.graphml"], "MISSING"),
    (["network", "import", "DIR", "--out", "OUT/r.graphml"], "DIR"),
    (["network", "import", "FILE", "--out", "DIR"], "DIR"),
    # costs nearest
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "nursing_home",
            "--to",
            "health_center",
            "--k",
            "0",
            "--out",
            "OUT/n.csv",
        ],
        "0",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "nursing_home",
            "--to",
            "health_center",
            "--k",
            "-3",
            "--out",
            "OUT/n.csv",
        ],
        "-3",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "nursing_home",
            "--to",
            "health_center",
            "--k",
            "two",
            "--out",
            "OUT/n.csv",
        ],
        "two",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "nursing_home",
            "--to",
            "health_center",
            "--registry",
            "MISSING",
            "--out",
            "OUT/n.csv",
        ],
        "MISSING",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "nursing_home",
            "--to",
            "health_center",
            "--network",
            "DIR",
            "--out",
            "OUT/n.csv",
        ],
        "DIR",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "nursing_home",
            "--to",
            "health_center",
            "--out",
            "DIR",
        ],
        "DIR",
    ),
    # run
    (["run", "--region", "xuanhan", "--seed", "-1", "--out", "OUT"], "-1"),
    (["run", "--region", "xuanhan", "--seed", HUGE, "--out", "OUT"], HUGE),
    (["run", "--region", "xuanhan", "--seed", "seven", "--out", "OUT"], "seven"),
    (["run", "--region", "xuanhan", "--thresholds", "15,abc", "--out", "OUT"], "15,abc"),
    (["run", "--region", "xuanhan", "--thresholds", ",", "--out", "OUT"], "','"),
    (["run", "--region", "xuanhan", "--thresholds", "", "--out", "OUT"], "''"),
    (["run", "--region", "xuanhan", "--thresholds", "15,nan", "--out", "OUT"], "15,nan"),
    (["run", "--region", "xuanhan", "--thresholds", "inf", "--out", "OUT"], "inf"),
    (["run", "--region", "xuanhan", "--thresholds", "0,30", "--out", "OUT"], "0,30"),
    (["run", "--region", "xuanhan", "--thresholds", "-5", "--out", "OUT"], "-5"),
    (["run", "--region", "xuanhan", "--recommend", "0", "--out", "OUT"], "0"),
    (["run", "--region", "xuanhan", "--recommend", "-2", "--out", "OUT"], "-2"),
    (["run", "--facilities", "MISSING", "--out", "OUT"], "MISSING"),
    (["run", "--facilities", "DIR", "--out", "OUT"], "DIR"),
    (["run", "--region", "xuanhan", "--network", "MISSING", "--out", "OUT"], "MISSING"),
    (["run", "--region", "xuanhan", "--boundary", "MISSING", "--out", "OUT"], "MISSING"),
    (["run", "--region", "xuanhan", "--rules", "DIR", "--out", "OUT"], "DIR"),
    (["run", "--region", "xuanhan", "--out", "FILE"], "FILE"),
    # update
    (["update", "--registry", "MISSING", "--add", "FILE", "--out", "OUT"], "MISSING"),
    (["update", "--registry", "FILE", "--add", "DIR", "--out", "OUT"], "DIR"),
    (["update", "--registry", "FILE", "--add", "FILE", "--out", "FILE"], "FILE"),
    # locate
    (["locate", "--region", "xuanhan", "--model", "mclp", "--p", "0", "--out", "OUT"], "0"),
    (["locate", "--region", "xuanhan", "--model", "mclp", "--p", "-3", "--out", "OUT"], "-3"),
    (["locate", "--region", "xuanhan", "--model", "mclp", "--p", "x", "--out", "OUT"], "x"),
    (
        [
            "locate",
            "--region",
            "xuanhan",
            "--model",
            "mclp",
            "--p",
            "2",
            "--threshold",
            "nan",
            "--out",
            "OUT",
        ],
        "nan",
    ),
    (
        [
            "locate",
            "--region",
            "xuanhan",
            "--model",
            "mclp",
            "--p",
            "2",
            "--threshold",
            "-5",
            "--out",
            "OUT",
        ],
        "-5",
    ),
    (
        [
            "locate",
            "--region",
            "xuanhan",
            "--model",
            "mclp",
            "--p",
            "2",
            "--threshold",
            "0",
            "--out",
            "OUT",
        ],
        "0",
    ),
    (
        ["locate", "--region", "xuanhan", "--model", "lscp", "--time-limit", "-1", "--out", "OUT"],
        "-1",
    ),
    (
        ["locate", "--region", "xuanhan", "--model", "lscp", "--time-limit", "inf", "--out", "OUT"],
        "inf",
    ),
    (
        [
            "locate",
            "--region",
            "xuanhan",
            "--model",
            "lscp",
            "--candidates",
            "MISSING",
            "--out",
            "OUT",
        ],
        "MISSING",
    ),
    (
        ["locate", "--region", "xuanhan", "--model", "lscp", "--facilities", "DIR", "--out", "OUT"],
        "DIR",
    ),
    (["locate", "--region", "xuanhan", "--model", "lscp", "--out", "FILE"], "FILE"),
    # batch
    (["batch", "--regions", f"511722@{HUGE}", "--out", "OUT"], HUGE),
    (["batch", "--regions", "511722@-1", "--out", "OUT"], "511722@-1"),
    (["batch", "--regions", "511302", "511722@abc", "--out", "OUT"], "511722@abc"),
    (["batch", "--regions", "511722@", "--out", "OUT"], "511722@"),
    (["batch", "--regions", "@7", "--out", "OUT"], "@7"),
    (["batch", "--regions", "511722@1@2", "--out", "OUT"], "511722@1@2"),
    (["batch", "--regions-file", "MISSING", "--out", "OUT"], "MISSING"),
    (["batch", "--regions-file", "DIR", "--out", "OUT"], "DIR"),
    (["batch", "--regions-file", "REGIONS", "--out", "OUT"], "line 3"),
    (["batch", "--regions", "511722", "--workers", "0", "--out", "OUT"], "0"),
    (["batch", "--regions", "511722", "--workers", "-2", "--out", "OUT"], "-2"),
    (["batch", "--regions", "511722", "--retries", "-1", "--out", "OUT"], "-1"),
    (["batch", "--regions", "511722", "--buffer-min", "0", "--out", "OUT"], "0"),
    (["batch", "--regions", "511722", "--buffer-min", "nan", "--out", "OUT"], "nan"),
    (["batch", "--regions", "511722", "--seed", "-1", "--out", "OUT"], "-1"),
    (["batch", "--regions", "511722", "--seed", HUGE, "--out", "OUT"], HUGE),
    (["batch", "--regions", "511722", "--thresholds", "15,abc", "--out", "OUT"], "15,abc"),
    (["batch", "--regions", "511722", "--thresholds", ",", "--out", "OUT"], "','"),
    (["batch", "--regions", "511722", "--rules", "MISSING", "--out", "OUT"], "MISSING"),
    (["batch", "--regions", "511722", "--out", "FILE"], "FILE"),
]


@pytest.mark.parametrize(
    ("args", "names"), ARGPARSE_ERRORS, ids=[" ".join(a) for a, _ in ARGPARSE_ERRORS]
)
def test_bad_argument_is_a_usage_error(
    args: list[str],
    names: str,
    paths: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(_fill(args, paths))
    assert info.value.code == 2
    err = _stderr(capsys)
    assert "usage:" in err and "error:" in err
    assert paths.get(names, names) in err


def test_every_command_and_action_is_walked() -> None:
    walked = {tuple(a[:2]) if a[0] in GROUPS else (a[0],) for a, _ in ARGPARSE_ERRORS}
    walked |= {tuple(a[:2]) if a[0] in GROUPS else (a[0],) for a, _, _ in LATE_ERRORS}
    assert walked >= {
        ("data", "build"),
        ("data", "regions"),
        ("registry", "validate"),
        ("registry", "geocode"),
        ("network", "build"),
        ("network", "fetch"),
        ("network", "import"),
        ("costs", "nearest"),
        ("run",),
        ("update",),
        ("locate",),
        ("batch",),
    }


# bad arguments argparse cannot see: (arguments, exit code, text the message must contain)
LATE_ERRORS: list[tuple[list[str], int, str]] = [
    (["data", "build", "--region", "火星", "--out", "OUT/x.gpkg"], 2, "火星"),
    (["network", "build", "--region", "火星", "--out", "OUT/r.graphml"], 2, "火星"),
    (["registry", "validate", "MISSING"], 1, "MISSING"),
    (["registry", "validate", "DIR"], 1, "DIR"),
    (["registry", "validate", "FILE", "--region", "火星"], 2, "火星"),
    (["network", "import", "FILE", "--out", "OUT/r.graphml"], 2, "FILE"),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "敬老院x",
            "--to",
            "health_center",
            "--out",
            "OUT/n.csv",
        ],
        2,
        "敬老院x",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "xuanhan",
            "--from",
            "villages",
            "--to",
            "clinic",
            "--out",
            "OUT/n.csv",
        ],
        2,
        "clinic",
    ),
    (
        [
            "costs",
            "nearest",
            "--region",
            "火星",
            "--from",
            "villages",
            "--to",
            "health_center",
            "--out",
            "OUT/n.csv",
        ],
        2,
        "火星",
    ),
    (["run", "--out", "OUT"], 2, "--region"),
    (["run", "--region", "xuanhan", "--service-areas", "clinics", "--out", "OUT"], 2, "clinics"),
    (
        [
            "run",
            "--region",
            "xuanhan",
            "--recommend",
            "2",
            "--recommend-kind",
            "spa",
            "--out",
            "OUT",
        ],
        2,
        "spa",
    ),
    (["run", "--region", "火星", "--out", "OUT"], 2, "火星"),
    (["update", "--registry", "FILE", "--add", "FILE", "--out", "OUT"], 2, "FILE|OUT"),
    (["update", "--registry", "REG", "--add", "FILE", "--out", "OUT"], 2, "REG|OUT"),
    (["locate", "--region", "xuanhan", "--model", "mclp", "--out", "OUT"], 2, "--p"),
    (["locate", "--region", "xuanhan", "--model", "lscp", "--p", "3", "--out", "OUT"], 2, "--p"),
    (
        [
            "locate",
            "--region",
            "xuanhan",
            "--model",
            "mclp",
            "--p",
            "2",
            "--kind",
            "spa",
            "--out",
            "OUT",
        ],
        2,
        "spa",
    ),
    (["locate", "--region", "火星", "--model", "lscp", "--out", "OUT"], 2, "火星"),
]


@pytest.mark.parametrize(
    ("args", "code", "names"), LATE_ERRORS, ids=[" ".join(a) for a, _, _ in LATE_ERRORS]
)
def test_bad_input_is_one_message(
    args: list[str],
    code: int,
    names: str,
    paths: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(_fill(args, paths)) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    # a message naming the value (`registry validate` reports on stdout, with exit code 1)
    assert any(paths.get(name, name) in out + err for name in names.split("|"))
    assert "internal error" not in err


def test_batch_unknown_region_is_reported_and_the_batch_ends(
    paths: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # no region to compute: no cluster is started, the manifest is still written
    assert main(["batch", "--regions", "火星县", "--out", paths["OUT"], "--quiet"]) == 1
    assert "火星县" in _stderr(capsys)
    assert (Path(paths["OUT"]) / batch.MANIFEST).is_file()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files with mode 000"
)
def test_unreadable_file(paths: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    locked = Path(paths["FILE"])
    locked.chmod(0)
    try:
        for args in (
            ["run", "--facilities", str(locked), "--out", paths["OUT"]],
            ["network", "import", str(locked), "--out", paths["OUT"] + ".graphml"],
            ["update", "--registry", str(locked), "--add", str(locked), "--out", paths["OUT"]],
        ):
            with pytest.raises(SystemExit) as info:
                main(args)
            assert info.value.code == 2
            assert str(locked) in _stderr(capsys)
        code = main(["registry", "validate", str(locked)])
        assert code in (1, 2)
        assert str(locked) in _stderr(capsys)
    finally:
        locked.chmod(0o644)


def test_unreadable_file_as_seen_by_a_user(
    paths: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # what a non-root user meets on a file of mode 000, whoever runs the tests
    locked = paths["FILE"]
    real_open = Path.open

    def open_(self: Path, *args: object, **kwargs: object) -> object:
        if str(self) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", locked)
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", open_)
    with pytest.raises(SystemExit) as info:
        main(["run", "--facilities", locked, "--out", paths["OUT"]])
    assert info.value.code == 2
    err = _stderr(capsys)
    assert locked in err and "Permission denied" in err and "没有权限" in err


# --- region specs of a batch ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [f"511722@{HUGE}", "511722@-1", "511722@abc", "511722@", "511722@4294967296", "@5", "  ",
     "a@b@1", ("511722", -1), ("511722", 1.5), ("511722", True), ("", 3)],
)  # fmt: skip
def test_bad_region_spec_names_the_spec(spec: object) -> None:
    with pytest.raises(SitingError, match="region") as info:
        batch._parse_item(spec, 1)
    assert "seed" in str(info.value) or "code or name" in str(info.value)


def test_good_region_specs() -> None:
    assert batch._parse_item("511722", 5) == ("511722", 5)
    assert batch._parse_item(" 宣汉县 @ 7 ", 5) == ("宣汉县", 7)
    assert batch._parse_item("511722@4294967295", 5) == ("511722", 4294967295)
    assert batch._parse_item(("511722", 0), 5) == ("511722", 0)


def test_regions_file_names_the_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "counties.txt"
    listing.write_text(f"511302\n\n# note\n511722@{HUGE}  # too big\n", encoding="utf-8")
    with pytest.raises(batch.BatchError) as info:
        batch.read_regions_file(listing)
    text = str(info.value)
    assert str(listing) in text and "line 4" in text and HUGE in text
    listing.write_bytes("511302\n宣汉县\n".encode("gbk"))
    with pytest.raises(batch.BatchError, match="UTF-8"):
        batch.read_regions_file(listing)
    with pytest.raises(batch.BatchError, match="folder"):
        batch.read_regions_file(tmp_path)


def test_run_batch_reports_a_bad_seed_and_keeps_the_manifest(tmp_path: Path) -> None:
    # only bad regions: nothing to compute, no cluster; the summary and manifest are written
    result = batch.run_batch([f"511722@{HUGE}", ("511722", -1)], tmp_path, progress=False)
    assert [r.status for r in result.regions] == ["failed", "failed"]
    assert HUGE in str(result.regions[0].error) and "-1" in str(result.regions[1].error)
    assert (tmp_path / batch.MANIFEST).is_file()
    assert (tmp_path / "summary_by_region.csv").is_file()


# --- new flags ------------------------------------------------------------------------------------


def test_force_and_allow_duplicates_flags() -> None:
    parser = cli._parser()
    for args in (
        ["run", "--region", "xuanhan", "--out", "o"],
        ["update", "--registry", __file__, "--add", __file__, "--out", "o"],
        ["locate", "--region", "xuanhan", "--model", "lscp", "--out", "o"],
        ["batch", "--regions", "511722", "--out", "o"],
    ):
        assert parser.parse_args(args).force is False
        assert parser.parse_args([*args, "--force"]).force is True
    upd = ["update", "--registry", __file__, "--add", __file__, "--out", "o"]
    assert parser.parse_args(upd).allow_duplicates is False
    assert parser.parse_args([*upd, "--allow-duplicates"]).allow_duplicates is True


def test_good_numbers_parse() -> None:
    args = cli._parser().parse_args(
        ["batch", "--regions", "511722@0", "all", "--out", "o", "--seed", "4294967295",
         "--workers", "2", "--retries", "0", "--buffer-min", "12.5", "--thresholds", "15, 30,"]
    )  # fmt: skip
    assert (args.seed, args.workers, args.retries, args.buffer_min) == (4294967295, 2, 0, 12.5)
    assert args.thresholds == [15.0, 30.0]
    assert cli._minutes_arg(args.thresholds) == [15.0, 30.0]
    assert cli._parser().parse_args(["run", "--region", "x", "--out", "o"]).thresholds == [
        15.0,
        30.0,
    ]


# --- failures inside a command: one line, the right exit code -------------------------------------


def _raising(exc: BaseException) -> Callable[..., int]:
    def handler(*_: object) -> int:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "code", "texts"),
    [
        (SitingError("bad registry"), 2, ["错误 error: bad registry"]),
        (OSError(errno.ENOSPC, "No space left on device", "/out/pairings.csv"), 1,
         ["/out/pairings.csv", "No space left on device", "磁盘空间不足"]),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/out/a.csv"), 1, ["/out/a.csv", "配额"]),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"), 1, ["/mnt/ro/x", "只读"]),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), 1, ["/root/x", "权限"]),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "a.csv"), 1,
         ["a.csv", "不存在"]),
        (OSError(errno.EFBIG, "File too large", "big.gpkg"), 1, ["big.gpkg", "过大"]),
        (OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b"), 1, ["a -> b"]),
        (OSError(errno.ENOSPC, "No space left on device"), 1, ["No space left on device"]),
        (ConnectionRefusedError("scheduler unreachable"), 1, ["scheduler unreachable"]),
        (KeyboardInterrupt(), 130, ["已中断 interrupted"]),
        (MemoryError(), 1, ["内存不足 out of memory"]),
        (ValueError("cannot convert 'x' to float"), 2, ["cannot convert 'x' to float"]),
        (OverflowError("int too large to convert"), 2, ["int too large"]),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2, ["UTF-8"]),
        (RuntimeError("boom"), 1,
         ["内部错误 internal error: RuntimeError: boom", "SITING_DEBUG=1"]),
    ],
)  # fmt: skip
def test_failures_map_to_one_line_and_an_exit_code(
    exc: BaseException,
    code: int,
    texts: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("SITING_DEBUG", raising=False)
    monkeypatch.setattr(cli, "_cmd_regions", _raising(exc))
    assert main(["data", "regions"]) == code
    err = _stderr(capsys)
    for text in texts:
        assert text in err
    assert len(err.strip().splitlines()) == 1


def test_broken_pipe_is_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SITING_DEBUG", raising=False)
    monkeypatch.setattr(cli, "_cmd_regions", _raising(BrokenPipeError(errno.EPIPE, "pipe")))
    assert main(["data", "regions"]) == 1
    assert capsys.readouterr().err == ""


def test_siting_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITING_DEBUG", "1")
    monkeypatch.setattr(cli, "_cmd_regions", _raising(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main(["data", "regions"])


def test_system_exit_of_a_command_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_cmd_regions", _raising(SystemExit(3)))
    with pytest.raises(SystemExit) as info:
        main(["data", "regions"])
    assert info.value.code == 3


# --- end to end -----------------------------------------------------------------------------------


def _siting(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SITING_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "siting", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_no_traceback_end_to_end(tmp_path: Path) -> None:
    done = _siting("batch", "--regions", f"511722@{HUGE}", "--out", str(tmp_path / "b"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and HUGE in done.stderr
    assert not (tmp_path / "b").exists()
    done = _siting("run", "--region", "xuanhan", "--seed", "-1", "--out", str(tmp_path / "r"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "--seed" in done.stderr
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml>", encoding="utf-8")
    done = _siting("network", "import", str(bad), "--out", str(tmp_path / "o.graphml"))
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr and "错误 error" in done.stderr
