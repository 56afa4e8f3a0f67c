"""Writing outputs atomically, so that a crash never leaves half a result that looks whole;
and making text from the data safe where it is shown: in Excel (CSV injection), in Markdown
and in HTML.

Text from the data (a facility's name or id, a reason) may begin with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return, which Excel takes for a formula when it opens a CSV file
(``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``). :func:`write_csv` neutralises such fields the
way OWASP recommends, with a leading ``'`` (:func:`excel_safe_text`); numbers such as
``-12.5`` are left alone. The registry and the GeoPackages keep the original text.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

__all__ = [
    "atomic_folder",
    "atomic_path",
    "atomic_target",
    "escape_html",
    "escape_md",
    "excel_restore_frame",
    "excel_restore_text",
    "excel_safe_frame",
    "excel_safe_text",
    "frame_sha256",
    "write_csv",
    "write_text",
]

_T = TypeVar("_T")

#: Characters that make Excel (or LibreOffice) read a cell as a formula (OWASP, CSV injection).
_FORMULA_START: frozenset[str] = frozenset("=+-@\t\r")
#: A plain number with a sign, which ``+`` or ``-`` may begin without making a formula.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _is_na(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _formula_like(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula."""
    if not text or text[0] not in _FORMULA_START:
        return False
    return text[0] not in "+-" or _NUMBER.fullmatch(text) is None


def excel_safe_text(value: _T) -> _T:
    """``value`` as a spreadsheet shows it as text, never as a formula (OWASP on CSV injection).

    A string that begins with ``=``, ``@``, a tab or a carriage return, or with ``+`` or ``-``
    when the whole string is not a plain number (``-12.5`` and ``+3`` are left alone), gets a
    leading ``'``. Every other value, strings or not, is returned unchanged, so applying it
    twice is the same as once.

    Examples
    --------
    >>> print(excel_safe_text('=HYPERLINK("http://x")'))
    '=HYPERLINK("http://x")
    >>> excel_safe_text("-12.5"), excel_safe_text("-x"), excel_safe_text("a=b"), excel_safe_text(3)
    ('-12.5', "'-x", 'a=b', 3)
    """
    if isinstance(value, str) and _formula_like(value):
        return "'" + value  # type: ignore[return-value]
    return value


def excel_restore_text(value: _T) -> _T:
    """The original of a field read back from a CSV file :func:`write_csv` wrote: the leading
    ``'`` that :func:`excel_safe_text` added is removed (other values unchanged).

    Exact for every original except one that itself began with ``'`` and then ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return (its ``'`` is removed too).

    Examples
    --------
    >>> excel_restore_text(excel_safe_text("=1+1")), excel_restore_text("'x"), excel_restore_text(1)
    ('=1+1', "'x", 1)
    """
    if isinstance(value, str) and value.startswith("'") and _formula_like(value[1:]):
        return value[1:]  # type: ignore[return-value]
    return value


def _is_text_column(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        pd.api.types.is_object_dtype(dtype)
        or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _map_text(series: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """``func`` applied to every value of a text column: ``series`` itself when nothing
    changes, else a new column (of the same dtype where the values allow)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = list(series.cat.categories)
        new = [func(c) for c in cats]
        if new == cats:
            return series
        if len(set(new)) == len(new):
            return series.cat.rename_categories(new)
        series = series.astype(object)  # two categories became one: plain values
    values = series.to_numpy(dtype=object)
    changed = [func(v) for v in values]
    if all(a is b for a, b in zip(values, changed, strict=True)):
        return series
    out = pd.Series(changed, index=series.index, name=series.name, dtype=object)
    if not pd.api.types.is_object_dtype(series.dtype):
        out = out.astype(series.dtype)
    return out


def _map_frame(frame: pd.DataFrame, func: Callable[[Any], Any]) -> pd.DataFrame:
    out = frame.copy()
    for i, (_, series) in enumerate(frame.items()):
        if _is_text_column(series):
            mapped = _map_text(series, func)
            if mapped is not series:
                out.isetitem(i, mapped.array)
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = pd.MultiIndex.from_tuples(
            [tuple(func(x) for x in col) for col in out.columns], names=out.columns.names
        )
    else:
        out.columns = pd.Index([func(c) for c in out.columns], name=out.columns.name)
    return out


def excel_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`excel_safe_text` applied to every text field (object,
    string and categorical columns) and to the column names; ``frame`` is not changed.

    Examples
    --------
    >>> df = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "院"], "dx": [-1.5, 2.0]})
    >>> excel_safe_frame(df)["name"].tolist(), df["name"].iloc[0]
    (["'=cmd|' /C calc'!A0", '院'], "=cmd|' /C calc'!A0")
    """
    return _map_frame(frame, excel_safe_text)


def excel_restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` (read from a CSV that :func:`write_csv` wrote) with
    :func:`excel_restore_text` applied to every text field and column name."""
    return _map_frame(frame, excel_restore_text)


#: Markdown characters that could make a link, emphasis, code, a heading or a table cell break.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_MD_SPACE = re.compile(r"[\r\n\t]+")


def escape_md(text: Any) -> str:
    r"""``text`` for a Markdown table cell: shown literally, never as markup.

    HTML (``<``, ``>``, ``&``) is escaped as entities; ``|`` and the characters that could
    make a link, code, emphasis or a heading (backslash, backtick, ``*``, ``_``, ``[``, ``]``,
    ``#``, ``~``) are backslash-escaped; newlines, carriage returns and tabs become one space.
    ``None`` and NaN give ``""``.

    Examples
    --------
    >>> escape_md("<script>a|b</script>")
    '&lt;script&gt;a\\|b&lt;/script&gt;'
    >>> escape_md("[x](http://evil)")
    '\\[x\\](http://evil)'
    """
    if _is_na(text):
        return ""
    s = _MD_SPACE.sub(" ", str(text))
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return html.escape(s, quote=False)


def escape_html(text: Any) -> str:
    """``text`` escaped for HTML, in an element or an attribute (``None`` and NaN give ``""``).

    Examples
    --------
    >>> escape_html('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    if _is_na(text):
        return ""
    return html.escape(str(text), quote=True)


def share_mode(path: Path) -> None:
    """Give a temporary file the permissions of a normally created one (mkstemp makes it
    private to the user)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def _replace_with(tmp: Path, target: Path) -> Iterator[Path]:
    """The shared tail of the atomic writers: yield ``tmp``; on success give it the usual
    permissions and rename it over ``target``; remove it in any case."""
    try:
        yield tmp
        share_mode(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file beside ``path`` (same suffix) to write; it replaces ``path`` when the
    block ends without an error, and is removed otherwise. The folder is created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    yield from _replace_with(Path(name), target)


@contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A path beside ``path`` that does not exist yet, for writers that must create the file
    themselves (GDAL, some libraries); it replaces ``path`` when the block ends without an
    error, and is removed otherwise. The folder is created.

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.gpkg"
    >>> with atomic_target(target) as tmp:
    ...     existed = tmp.exists()
    ...     _ = tmp.write_text("x")
    >>> existed, target.read_text(), sorted(p.name for p in target.parent.iterdir())
    (False, 'x', ['a.gpkg'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(
        f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}"
    )
    yield from _replace_with(tmp, target)


@contextmanager
def atomic_folder(
    path: str | os.PathLike[str], *, before_swap: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """A new empty folder beside ``path`` to fill; when the block ends without an error it
    takes the place of ``path`` (an existing folder is first moved aside, then removed), and
    it is removed otherwise. ``before_swap(target)`` runs just before an existing folder is
    moved aside (e.g. to remove its manifest first, so a crash in between never leaves an old
    folder that looks whole).

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> target.mkdir(); _ = (target / "old.txt").write_text("old")
    >>> with atomic_folder(target) as tmp:
    ...     _ = (tmp / "new.txt").write_text("new")
    >>> sorted(p.name for p in target.iterdir()), sorted(p.name for p in target.parent.iterdir())
    (['new.txt'], ['run'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private to the user
    try:
        yield tmp
        old = None
        if target.exists():
            if before_swap is not None:
                before_swap(target)
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    excel_safe: bool = True,
    **options: object,
) -> Path:
    """Write a CSV (UTF-8 with BOM, which Chinese Excel opens correctly) atomically.

    The table goes to a temporary file in the same folder, which then replaces ``path``. Text
    fields that a spreadsheet would take for a formula get a leading ``'``
    (:func:`excel_safe_frame`; ``frame`` itself is not changed); ``excel_safe=False`` writes
    every field exactly, for files only siting reads back.
    """
    if excel_safe:
        frame = excel_safe_frame(frame)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", **options)  # type: ignore[call-overload]
    return Path(path)


def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's values and index (and geometry as WKB): equal frames, equal hash.

    >>> a = pd.DataFrame({"x": [1, 2]}, index=["a", "b"])
    >>> frame_sha256(a) == frame_sha256(a.copy()), frame_sha256(a) == frame_sha256(a.iloc[::-1])
    (True, False)
    """
    data = pd.util.hash_pandas_object(frame.drop(columns="geometry", errors="ignore"), index=True)
    h = hashlib.sha256(data.to_numpy().tobytes())
    if "geometry" in frame.columns:
        h.update(np.asarray(frame.geometry.to_wkb(), dtype=object).astype(bytes).tobytes())
    return h.hexdigest()
