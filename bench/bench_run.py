"""Benchmark of a whole run and of an update: ``siting run --region nanchong`` and ``siting update``
adding 3 facilities, each against the same commands of a baseline commit, in the same run.

Run from the repository root::

    .venv/bin/python bench/bench_run.py                  # baseline: the commit before issue 26
    .venv/bin/python bench/bench_run.py --baseline REF   # any commit, tag or branch
    .venv/bin/python bench/bench_run.py --no-baseline    # this tree only

What is measured (wall clock of the whole command, in a fresh process; peak resident memory of
that process from ``os.wait4``):

(a) ``siting run --region R --out …``: every output, maps and Excel included; the stage
    timings of its ``manifest.json`` (``timings_s``, writing included) are printed too. Each
    tree gets its own empty ``SITING_CACHE_DIR`` (:mod:`siting._cache`): the first run is cold
    (the figure held to the target), then the same run again is timed warm.
(b) ``siting update --registry reg.gpkg --add 3.csv --out …`` on a run made from the region's
    modelled registry written to a GeoPackage (``siting run --region R --facilities reg.gpkg``);
    the 3 facilities are modelled 卫生院/养老院 points inside the region (fixed seed). The
    same full run on the merged registry is timed as its own baseline (update / full ratio),
    and every output file of the update is compared byte for byte with that full run
    (``manifest.json``, ``diff.*`` and the history aside).

The baseline is the same commands run from a ``git worktree`` of ``--baseline`` with this
venv's Python, so both see the same machine, data and packages. Figures go to the results
table of ``bench/README.md`` (``bench/_results.py``; ``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _results  # noqa: E402

#: The last commit before the speed work of issue 26 (session 5 starts after it).
DEFAULT_BASELINE = "5434ac7"
#: Targets of issue 26 (seconds).
RUN_TARGET_S = 20.0
UPDATE_TARGET_S = 5.0
SKIP_COMPARE = {"manifest.json", "diff.csv", "diff.md"}


def run_peak(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the peak resident MB of exactly this command (a wrapper process that
    runs it and reports its own children's peak)."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        f"r = subprocess.run({cmd!r}, capture_output=True)\n"
        "wall = time.perf_counter() - t\n"
        "if r.returncode:\n"
        "    sys.stderr.write(r.stderr.decode(errors='replace')[-3000:]); sys.exit(r.returncode)\n"
        "print(json.dumps([wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper], cwd=cwd, env=env, capture_output=True, check=False
    )
    if done.returncode:
        msg = f"{' '.join(cmd)} failed:\n{done.stderr.decode(errors='replace')}"
        raise SystemExit(msg)
    wall, kb = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return float(wall), float(kb) / 1024.0


def env_for(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITING_")}
    env["PYTHONPATH"] = str(tree)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def siting(*args: str) -> list[str]:
    """A siting command (the code comes from PYTHONPATH: this tree or the baseline's)."""
    return [sys.executable, "-m", "siting.cli", *args]


def make_inputs(work: Path, region: str) -> tuple[Path, Path]:
    """The region's modelled registry as a GeoPackage and 3 new facilities inside the region."""
    import numpy as np

    import siting
    from siting import modelled, regions

    reg = regions.load(region)
    fac = modelled.registry_for(reg)
    gpkg = work / "registry.gpkg"
    siting.write_registry(fac, gpkg)
    rng = np.random.default_rng(26)
    pick = fac[fac["kind"].isin(["health_center", "nursing_home"])]
    rows = pick.iloc[rng.choice(len(pick), size=3, replace=False)]
    add = work / "add3.csv"
    lines = ["id,name,kind,lon,lat"]
    for i, (_, r) in enumerate(rows.iterrows()):
        lon, lat = float(r["lon"]) + 0.01 * (i + 1), float(r["lat"]) - 0.008 * (i + 1)
        lines.append(f"bench-new-{i + 1},新增机构{i + 1}号{r['kind']},{r['kind']},{lon},{lat}")
    add.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return gpkg, add


def measure(tree: Path, region: str, work: Path, label: str) -> dict[str, Any]:
    """Run, update and the full run after the update, from the code in ``tree``."""
    env = env_for(tree)
    env["SITING_CACHE_DIR"] = str(work / f"cache-{label}")  # empty: the first run is cold
    out: dict[str, Any] = {}
    run_dir = work / f"{label}-run"
    wall, mb = run_peak(
        siting("run", "--region", region, "--quiet", "--out", str(run_dir)), work, env
    )
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    out["run_s"], out["run_mb"], out["stages"] = wall, mb, manifest.get("timings_s", {})
    out["write_s"] = manifest.get("write_s", {})
    # the same run again: the region, its modelled roads and registry from siting's disk cache
    warm_dir = work / f"{label}-run-warm"
    out["run_warm_s"], _ = run_peak(
        siting("run", "--region", region, "--quiet", "--out", str(warm_dir)), work, env
    )
    # update: a run on the registry file, then 3 facilities added
    # the region's modelled registry and the 3 additions, made by this tree's own code (a
    # registry of a newer tree may hold kinds an older one does not know)
    inputs = work / f"{label}-inputs"
    inputs.mkdir(exist_ok=True)
    code = (
        "import sys; sys.path.insert(0, sys.argv[3]); import bench_run; "
        "from pathlib import Path; bench_run.make_inputs(Path(sys.argv[1]), sys.argv[2])"
    )
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(inputs),
            region,
            str(ROOT / "bench"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        check=False,
    )
    if made.returncode:
        raise SystemExit(made.stderr.decode(errors="replace"))
    gpkg_src, add = inputs / "registry.gpkg", inputs / "add3.csv"
    reg = work / f"{label}-registry.gpkg"
    shutil.copy2(gpkg_src, reg)
    upd_dir = work / f"{label}-upd"
    run_peak(
        siting(
            "run", "--region", region, "--facilities", str(reg), "--quiet", "--out", str(upd_dir)
        ),
        work,
        env,
    )
    wall, mb = run_peak(
        siting(
            "update",
            "--registry",
            str(reg),
            "--add",
            str(add),
            "--crs",
            "wgs84",
            "--quiet",
            "--out",
            str(upd_dir),
        ),
        work,
        env,
    )
    out["update_s"], out["update_mb"] = wall, mb
    # the full run on the merged registry: the update's baseline, and its reference output
    full_dir = work / f"{label}-full"
    merged = work / f"{label}-merged.gpkg"
    shutil.copy2(reg, merged)
    wall, _ = run_peak(
        siting(
            "run",
            "--region",
            region,
            "--facilities",
            str(merged),
            "--quiet",
            "--out",
            str(full_dir),
        ),
        work,
        env,
    )
    out["full_after_s"] = wall
    out["identical"], out["differ"] = compare(upd_dir, full_dir)
    return out


def compare(a: Path, b: Path) -> tuple[bool, list[str]]:
    """Every file of ``b`` but the manifest has the same bytes in ``a``."""
    differ = []
    for p in sorted(b.rglob("*")):
        rel = p.relative_to(b).as_posix()
        if not p.is_file() or rel in SKIP_COMPARE or rel.startswith((".", "maps/.")):
            continue
        q = a / rel
        if not q.is_file() or q.read_bytes() != p.read_bytes():
            differ.append(rel)
    return not differ, differ


def worktree(ref: str, where: Path) -> Path:
    tree = where / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), ref],
        check=True,
        capture_output=True,
    )
    return tree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", default="nanchong")
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref of the baseline")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-record", action="store_true", help="leave bench/README.md alone")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="siting-bench-run-"))
    base_tree = None
    try:
        print(f"# siting run / update benchmark: {args.region} ({_results.machine()})")
        ours = measure(ROOT, args.region, work, "ours")
        base = None
        if not args.no_baseline:
            base_tree = worktree(args.baseline, work)
            base = measure(base_tree, args.region, work, "base")
        print(f"\n## siting run --region {args.region} (every output, maps included)")
        print(f"{'':12s} {'wall s':>8s} {'peak MB':>8s}")
        print(f"{'this tree':12s} {ours['run_s']:8.1f} {ours['run_mb']:8.0f}  (cold cache)")
        print(f"{'':12s} {ours['run_warm_s']:8.1f} {'':8s}  (again, warm cache)")
        if base:
            print(f"{args.baseline:12s} {base['run_s']:8.1f} {base['run_mb']:8.0f}")
            print(f"speed-up {base['run_s'] / ours['run_s']:.2f}x (cold)")
        print("stages (manifest timings_s):")
        for k, v in sorted(ours["stages"].items(), key=lambda kv: -kv[1]):
            print(f"  {k:16s} {v:7.2f} s")
        print("writing, per file:")
        for k, v in sorted(ours["write_s"].items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {k:28s} {v:7.2f} s")
        print(f"\n## siting update adding 3 facilities ({args.region})")
        print(
            f"this tree: update {ours['update_s']:.1f} s, "
            f"full run after {ours['full_after_s']:.1f} s"
            f" ({ours['full_after_s'] / ours['update_s']:.1f}x); identical to the full run: "
            f"{ours['identical']} {ours['differ'] or ''}"
        )
        if base:
            print(
                f"{args.baseline}: update {base['update_s']:.1f} s, full run after "
                f"{base['full_after_s']:.1f} s; identical: {base['identical']}"
            )
        rows = [
            _results.Row(
                f"siting run --region {args.region}, wall (all outputs, cold disk cache)",
                f"{ours['run_s']:.1f} s",
                f"{base['run_s']:.1f} s ({args.baseline})" if base else "-",
                f"{base['run_s'] / ours['run_s']:.2f}x faster" if base else "-",
                f"<= {RUN_TARGET_S:g} s",
                ours["run_s"] <= RUN_TARGET_S,
            ),
            _results.Row(
                f"siting run --region {args.region}, again (warm disk cache)",
                f"{ours['run_warm_s']:.1f} s",
                f"{base['run_warm_s']:.1f} s ({args.baseline})" if base else "-",
                f"{base['run_warm_s'] / ours['run_warm_s']:.2f}x faster" if base else "-",
            ),
            _results.Row(
                f"siting run --region {args.region}, peak memory",
                f"{ours['run_mb']:.0f} MB",
                f"{base['run_mb']:.0f} MB" if base else "-",
            ),
            _results.Row(
                f"siting update +3 facilities ({args.region})",
                f"{ours['update_s']:.1f} s",
                f"full run {ours['full_after_s']:.1f} s",
                f"{ours['full_after_s'] / ours['update_s']:.1f}x faster",
                f"<= {UPDATE_TARGET_S:g} s, byte-identical",
                ours["update_s"] <= UPDATE_TARGET_S and ours["identical"],
            ),
        ]
        if not args.no_record:
            _results.record("bench_run", rows)
    finally:
        if base_tree is not None:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
