"""Every module's doctests, one test per module of the package, found by walking its folders.

The same option flags as ``pytest --doctest-modules`` (``ELLIPSIS``, pytest's default; the
project sets no other). ``__main__`` modules are skipped, as pytest does: importing one runs
the command.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
from pathlib import Path

import pytest

OPTIONFLAGS = doctest.ELLIPSIS


def _module_names(package: str = "siting", paths: list[str] | None = None) -> list[str]:
    """The package and every module and subpackage under it, found without importing them."""
    if paths is None:
        spec = importlib.util.find_spec(package)  # a top-level name: nothing is imported
        assert spec is not None and spec.submodule_search_locations is not None, package
        paths = list(spec.submodule_search_locations)
    names = [package]
    for info in pkgutil.iter_modules(paths, f"{package}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        if info.ispkg:
            short = info.name.rsplit(".", 1)[-1]
            names += _module_names(info.name, [str(Path(p) / short) for p in paths])
        else:
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", sorted(_module_names()))
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    out = io.StringIO()
    for test in finder.find(module, name):
        runner.run(test, out=out.write)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, (
        f"{failed} of {attempted} doctest examples failed in {name}:\n{out.getvalue()}"
    )
