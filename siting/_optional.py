"""Optional dependencies: the extras of the package, imported when first needed.

``pip install siting`` gives what reading a registry, pairing, coverage and siting need; the
heavier tools come with extras (``pip install 'siting[patrol]'`` ...), listed in
:data:`EXTRAS`. :func:`require` imports one of them and, when it is missing, raises a
:class:`~siting._errors.MissingDependencyError` saying in Chinese and English what needs it and
the command that installs it.

>>> require("json", "patrol", "示例").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from siting._errors import MissingDependencyError

__all__ = ["EXTRAS", "MissingDependencyError", "require"]

#: The extras of the package and what each one is for (``pip install 'siting[<extra>]'``).
EXTRAS: Final = {
    "patrol": "OR-Tools: patrol routes (siting.patrol.plan, siting run's patrols)",
    "batch": "Dask distributed: many regions in one batch (siting.batch, siting batch)",
    "osm": "pyrosm: road networks from .osm.pbf extracts (siting.network.from_pbf)",
    "maps": "matplotlib and XStatic-Leaflet: the printed map and the offline meeting map",
    "all": "every extra above",
}


def require(module: str, extra: str, purpose_zh: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module`` (an optional dependency) or say how to install it.

    Parameters
    ----------
    module
        The module to import, e.g. ``"ortools.constraint_solver.pywrapcp"``.
    extra
        The extra of :data:`EXTRAS` that installs it.
    purpose_zh, purpose
        What needs it, in Chinese and (optionally) in English, for the message.

    Raises
    ------
    MissingDependencyError
        The module (or something it needs) cannot be imported.

    >>> require("no_such_module_xyz", "patrol", "巡诊路线", purpose="patrol routes")
    Traceback (most recent call last):
    ...
    siting._errors.MissingDependencyError: 未安装可选依赖 no_such_module_xyz（巡诊路线需要它），\
请运行 pip install 'siting[patrol]'; the optional dependency no_such_module_xyz is not installed \
(needed for patrol routes): pip install 'siting[patrol]'
    """
    if extra not in EXTRAS:
        msg = f"unknown extra {extra!r}: one of {', '.join(EXTRAS)}"
        raise ValueError(msg)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        hint = f"pip install 'siting[{extra}]'"
        en = purpose or purpose_zh
        msg = (
            f"未安装可选依赖 {top}（{purpose_zh}需要它），请运行 {hint}; "
            f"the optional dependency {top} is not installed (needed for {en}): {hint}"
        )
        if exc.name not in (None, module, top) and not module.startswith(f"{exc.name}."):
            msg += f" ({exc})"
        raise MissingDependencyError(msg, module=module, extra=extra) from exc
