"""Facility ids: :func:`make_ids` and the filling of missing ids (``NH-511302-00001``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

import pandas as pd

from siting.kinds import KINDS
from siting.registry.checks import _code, _text

# --- ids ---------------------------------------------------------------------------------------

_ID_SEQ: Final = re.compile(r"(?P<prefix>.+)-(?P<seq>\d+)")


def _id_prefix(kind: str, county: str | None) -> str:
    return f"{KINDS[kind].id_code}-{county or '000000'}"


def _fill_ids(
    ids: Sequence[str | None],
    kinds: Sequence[str | None],
    counties: Sequence[str | None],
    *,
    existing: Iterable[str] = (),
    id_prefix: str | None = None,
) -> list[str]:
    taken = {i for i in ids if i is not None} | set(existing)
    top: dict[str, int] = {}
    for t in taken:
        m = _ID_SEQ.fullmatch(t)
        if m:
            top[m["prefix"]] = max(top.get(m["prefix"], 0), int(m["seq"]))
    out: list[str] = []
    for pos, (i, k, c) in enumerate(zip(ids, kinds, counties, strict=True)):
        if i is not None:
            out.append(i)
            continue
        if id_prefix is not None:
            prefix = id_prefix
        elif k in KINDS:
            prefix = _id_prefix(k, c)
        else:
            msg = f"row {pos + 1} has no id and an unknown kind {k!r}; cannot make an id"
            raise ValueError(msg)
        seq = top.get(prefix, 0) + 1
        while f"{prefix}-{seq:05d}" in taken:
            seq += 1
        new = f"{prefix}-{seq:05d}"
        top[prefix] = seq
        taken.add(new)
        out.append(new)
    return out


def make_ids(
    frame: pd.DataFrame,
    *,
    existing: Iterable[str] = (),
    id_prefix: str | None = None,
) -> pd.Series:
    """Return the ids of a frame's facilities, making ``<KINDCODE>-<county>-<seq>`` where missing.

    A row keeps its id if it has one (``id`` column, or an index named ``id``); a row without
    gets ``<id_code>-<county_code>-<seq:05d>`` (``NH-511302-00001``; county ``000000`` when
    unknown), numbered in row order after the highest number already used with that prefix in
    the frame or in ``existing``. The same frame gives the same ids.

    Parameters
    ----------
    frame
        Facilities with a ``kind`` column (keys of :data:`KINDS`) and optionally ``county_code``
        and ``id``.
    existing
        Ids already in use elsewhere (an existing registry), never reused.
    id_prefix
        Use ``<id_prefix>-<seq:05d>`` instead of the kind and county prefix.

    Returns
    -------
    pandas.Series
        ``string`` ids aligned to ``frame.index``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"kind": ["nursing_home"] * 2, "county_code": ["511302", None]})
    >>> make_ids(f).tolist()
    ['NH-511302-00001', 'NH-000000-00001']
    """
    n = len(frame)
    if "id" in frame.columns:
        ids = [_text(v) for v in frame["id"]]
    elif frame.index.name == "id":
        ids = [_text(v) for v in frame.index]
    else:
        ids = [None] * n
    kinds = [_text(v) for v in frame["kind"]] if "kind" in frame.columns else [None] * n
    counties = (
        [_code(v, 6)[0] for v in frame["county_code"]]
        if "county_code" in frame.columns
        else [None] * n
    )
    out = _fill_ids(ids, kinds, counties, existing=existing, id_prefix=id_prefix)
    return pd.Series(out, index=frame.index, dtype="string", name="id")
