"""Which regions a batch runs: region specs (CODE, CODE@SEED), region files, all regions."""

from __future__ import annotations

import functools
import operator
import os
from pathlib import Path
from typing import Any, Final

import pandas as pd

from siting import settings
from siting._errors import BatchError

# --- regions --------------------------------------------------------------------------------------


def read_regions_file(path: str | os.PathLike[str]) -> list[str]:
    """Region codes or names of a file, one per line (``CODE@SEED`` for a seed of its own).

    Blank lines and text after ``#`` are ignored.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "regions.txt"
    >>> _ = p.write_text("# two counties\\n511302\\nxuanhan  # 宣汉县\\n\\n", encoding="utf-8")
    >>> read_regions_file(p)
    ['511302', 'xuanhan']
    """
    file = Path(path)
    if not file.is_file():
        msg = (
            f"regions file {file} is a folder, not a file (是文件夹而非文件)"
            if file.is_dir()
            else f"regions file not found: {file} (文件不存在)"
        )
        raise BatchError(msg)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        msg = f"regions file {file}: not UTF-8 text; save it as UTF-8 (区域列表文件须为 UTF-8 编码)"
        raise BatchError(msg) from None
    except OSError as exc:
        msg = f"cannot read regions file {file}: {exc.strerror or exc} (无法读取区域列表文件)"
        raise BatchError(msg) from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if item:
            try:
                parse_item(item, settings.default_seed)
            except BatchError as exc:
                msg = f"{file}, line {number} (第{number}行): {exc}"
                raise BatchError(msg) from None
            out.append(item)
    return out


def all_regions() -> list[str]:
    """Codes of every loadable county-level unit of the reference tables.

    Cities are left out: a city is the union of its counties, so running both would count every
    facility twice; run a city on its own with :func:`siting.pipeline.run` when wanted.

    Examples
    --------
    >>> all_regions()[:3], len(all_regions())
    (['511302', '511303', '511304'], 10)
    """
    from siting import regions

    table = regions.available()
    keep = table[(table["level"] == "county") & table["loadable"]]
    return sorted(str(c) for c in keep.index)


@functools.lru_cache(maxsize=1)
def _available() -> pd.DataFrame:
    from siting import regions

    return regions.available()


def _parent_of(code: str) -> str | None:
    """The loadable city a county belongs to, if any."""
    table = _available()
    if code not in table.index or table.loc[code, "level"] != "county":
        return None
    city = code[:4] + "00"
    if city in table.index and table.loc[city, "level"] == "city":
        return city if bool(table.loc[city, "loadable"]) else None
    return None


#: Largest seed of a region spec: the modelled data seed numpy with unsigned 32-bit words.
MAX_SEED: Final = 2**32 - 1
_MAX_SEED: Final = MAX_SEED  # the old name


def seed_of(value: Any, spec: str) -> int:
    """The seed ``value`` of the region spec ``spec``: an integer in 0..2**32-1, or BatchError."""
    number: int | None = None
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    elif not isinstance(value, bool):
        try:
            number = operator.index(value)
        except TypeError:
            number = None
    if number is None or not 0 <= number <= _MAX_SEED:
        msg = (
            f"region {spec!r}: the seed must be an integer from 0 to {MAX_SEED}, got {value!r} "
            f"(区域 {spec!r}：种子须为 0 到 {MAX_SEED} 的整数)"
        )
        raise BatchError(msg)
    return number


def parse_item(item: Any, default_seed: int) -> tuple[str, int]:
    """``(code or name, seed)`` of a region spec: ``"CODE"``, ``"CODE@SEED"`` or a pair.

    Raises :class:`BatchError` naming the spec for a bad seed, an empty code or a stray ``@``.
    """
    if isinstance(item, tuple | list):
        if len(item) != 2:
            msg = f"a region given as a pair must be (code or name, seed), got {item!r}"
            raise BatchError(msg)
        spec = f"{item[0]}@{item[1]}"
        name = str(item[0]).strip()
        seed = seed_of(item[1], spec)
    else:
        spec = str(item).strip()
        if "@" in spec:
            head, tail = spec.rsplit("@", 1)
            name = head.strip()
            seed = seed_of(tail, spec)
        else:
            name, seed = spec, default_seed
    if not name or "@" in name:
        msg = (
            f"region {spec!r}: give a region code or name, optionally followed by @SEED "
            f"(e.g. 511722 or 511722@7) (区域写法应为 代码 或 代码@种子)"
        )
        raise BatchError(msg)
    return name, seed


def _items(regions: Any) -> list[Any]:
    if isinstance(regions, str) and regions.strip().lower() == "all":
        return list(all_regions())
    if isinstance(regions, str | os.PathLike):
        path = Path(regions)
        if path.is_file():
            return list(read_regions_file(path))
        return [str(regions)]
    items = list(regions)
    if not items:
        msg = "no regions given"
        raise BatchError(msg)
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and item.strip().lower() == "all":
            out.extend(all_regions())
        else:
            out.append(item)
    return out


# the old private names (kept for code written against them)
_seed_of = seed_of
_parse_item = parse_item
