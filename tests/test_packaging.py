"""The project as a planner gets it: the wheel carries the reference data and works anywhere."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "data" / "geo" / "reference"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
         "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    wheels = list(out.glob("siting-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_wheel_carries_reference_data_unchanged(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for file in sorted(REF.iterdir()):
            inside = f"siting/_reference/{file.name}"
            assert inside in names, f"{inside} missing from {wheel.name}"
            assert _sha(zf.read(inside)) == _sha(file.read_bytes()), inside
        for needed in ("siting/py.typed", "siting/data/kinds.yaml", "siting/data/regions.yaml",
                       "siting/data/modelled_registries.yaml"):  # fmt: skip
            assert needed in names
        assert not any(n.startswith("tests/") for n in names)


@pytest.mark.slow
def test_installed_wheel_builds_nanchong_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    work = tmp_path / "planner"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITING_")}
    env["PYTHONPATH"] = str(site)
    code = (
        "import siting, pathlib\n"
        "print(pathlib.Path(siting.__file__).parent)\n"
        "print(siting.reference_dir())\n"
        "print(siting.data_dir())\n"
        "r = siting.load_region('nanchong')\n"
        "reg = siting.modelled.registry_for(r)\n"
        "print(len(r.townships), len(r.villages), len(reg))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True
    )
    pkg, ref, data, counts = done.stdout.strip().splitlines()
    assert Path(pkg) == site / "siting"
    assert Path(ref) == site / "siting" / "_reference"
    assert Path(data) == work / "data" / "geo"
    n_towns, n_villages, n_facilities = map(int, counts.split())
    assert (n_towns, n_villages) == (242, 3004)
    assert n_facilities > 3000


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))

    def names(specs: list[str]) -> dict[str, str]:
        out = {}
        for spec in specs:
            m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", spec)
            assert m, spec
            out[m.group(1).lower()] = m.group(2).replace(" ", "")
        return out

    pip_section = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-e .[all,dev]" in pip_section
    # conda packages, and the few that only PyPI has in the yml's pip list, with the same specs
    conda = names([d for d in env["dependencies"] if isinstance(d, str)])
    conda |= names([d for d in pip_section if not d.startswith("-e")])
    # the environment has everything: the base dependencies and every extra but dev (which
    # `-e .[all,dev]` installs); [all] is the other extras, by reference to the package itself
    extras = {k: v for k, v in project["optional-dependencies"].items() if k != "dev"}
    assert extras.pop("all") == [f"siting[{','.join(extras)}]"]
    wanted = list(project["dependencies"]) + [d for specs in extras.values() for d in specs]
    pip = names([d.split("#")[0].strip() for d in wanted])
    assert pip == {k: v for k, v in conda.items() if k in pip}
    assert set(pip) <= set(conda)
    # and nothing else: a package dropped from pyproject.toml leaves environment.yml too
    assert set(conda) - {"python", "pip"} == set(pip)


def test_extras_split_the_heavy_tools_from_the_base() -> None:
    """Reading a registry needs none of them: each heavy tool is in its extra only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {re.split(r"[\[<>=~! ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    extras = {
        name: {re.split(r"[\[<>=~! ]", d, maxsplit=1)[0].lower() for d in specs}
        for name, specs in project["optional-dependencies"].items()
    }
    assert extras["patrol"] == {"ortools"}
    assert extras["batch"] == {"dask"}
    assert extras["osm"] == {"pyrosm"}
    assert extras["maps"] == {"matplotlib", "xstatic-leaflet", "xstatic-leaflet-markercluster"}
    assert not base & {"ortools", "dask", "pyrosm", "matplotlib", "xstatic-leaflet"}
    assert {"geopandas", "shapely", "pyproj", "networkx", "osmnx", "folium", "scipy"} <= base
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert 'pip install --quiet -e ".[all,dev]"' in setup


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    run_cmd, test_cmd = (line.split("#")[0].strip() for line in block)
    assert "siting run --region nanchong" in run_cmd
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"exec {test_cmd}" in ci
    script = (ROOT / test_cmd).read_text(encoding="utf-8")
    for check in ("ruff check", "ruff format --check", "mypy siting", "pytest"):
        assert check in script


def test_generated_data_is_ignored_reference_is_tracked() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "data/geo"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {f"data/geo/reference/{p.name}" for p in REF.iterdir()} <= set(tracked)
    ignored = subprocess.run(
        ["git", "check-ignore", "data/geo/nanchong.gpkg", "outputs/maps/x.html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == ["data/geo/nanchong.gpkg", "outputs/maps/x.html"]
