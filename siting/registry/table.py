"""A loaded file being interpreted: the state and helpers the reading checks share.

``_Table`` holds the raw table, the options, the issue collector and the header mapping, and
gives the cells of a canonical column, where it is in the file and how unknown values are
reported. :mod:`.columns` and :mod:`.points` add the checks; :mod:`.reading` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siting._issues import Problems
from siting.registry.checks import (
    _VOCABULARY_LABELS,
    _ZH_NAMES,
    _looks_like_pairs,
    _Options,
    _other_vocabulary,
)
from siting.registry.issues import _rows_text
from siting.registry.readers import _Raw
from siting.registry.schema import (
    _GEOMETRY,
    _HEADER_LOOKUP,
    _norm_header,
)


class _Table:
    """A loaded file being interpreted; every problem becomes an issue."""

    def __init__(self, raw: _Raw, opts: _Options, issues: Problems) -> None:
        self.raw = raw
        self.opts = opts
        self.issues = issues
        self.frame = raw.frame
        self.n = len(raw.frame)
        self.rows = raw.rows
        self.headers = [str(h) for h in raw.frame.columns]
        issues.columns = self.headers
        self.normalized = {_norm_header(h) for h in self.headers}
        self.by_canon = self._map_headers()
        if raw.vector:
            self.coords = "geometry"
        elif "lon" in self.by_canon and "lat" in self.by_canon:
            self.coords = "columns"
        elif "lnglat" in self.by_canon:
            self.coords = "pairs"
        else:
            self.coords = ""
        #: A web-map POI export: "lng,lat" coordinates, or Amap's typecode / Baidu's uid.
        self.poi = not raw.vector and (
            self.coords == "pairs" or bool({"typecode", "uid"} & self.normalized)
        )
        self.kind_is_type = False  # a POI export's 类型/type column holding POI type strings
        #: Categorical columns whose values are another column's vocabulary: the canonical
        #: column, the other column, the number of such cells, the filled cells, examples.
        self.confused: dict[str, tuple[str, int, int, list[str]]] = {}
        raw.attrs["poi_export"] = self.poi

    # --- helpers ----------------------------------------------------------------------------

    def cells(self, canon: str) -> list[Any]:
        """The cells of a canonical column (all ``None`` when the file lacks it or it holds
        another column's values)."""
        h = self.by_canon.get(canon)
        if h is None or canon in self.confused:
            return [None] * self.n
        return self.frame[h].tolist()

    def where(self, canon: str) -> str:
        """The file's header of a canonical column, for issues."""
        return self.by_canon.get(canon, canon)

    @property
    def point_column(self) -> str:
        if self.coords == "geometry":
            return _GEOMETRY
        return self.where("lnglat" if self.coords == "pairs" else "lon")

    # --- steps ------------------------------------------------------------------------------

    def _map_headers(self) -> dict[str, str]:
        by_canon: dict[str, str] = {}
        for h in self.headers:
            canon = _HEADER_LOOKUP.get(_norm_header(h))
            if canon is None:
                continue
            if canon in by_canon:
                self.issues.error(
                    None,
                    h,
                    f"columns {by_canon[canon]!r} and {h!r} both give {canon!r}; keep one",
                    f"列 {by_canon[canon]} 与 {h} 含义相同，请保留一列",
                )
                continue
            by_canon[canon] = h
        # A "location" column of "lng,lat" values (web-map exports) holds coordinates, not the
        # point quality of the registry's location column.
        if "location" in by_canon and _looks_like_pairs(self.frame[by_canon["location"]]):
            header = by_canon.pop("location")
            by_canon.setdefault("lnglat", header)
        return by_canon

    def _confusion_text(self, canon: str, tail: str = "") -> tuple[str, str]:
        other, count, filled, examples = self.confused[canon]
        header = self.by_canon[canon]
        label = _VOCABULARY_LABELS[other][0]
        suggest = _VOCABULARY_LABELS[other][1]
        more = " …" if count > len(examples) else ""
        reason = (
            f"column {header!r} (read as {canon}) holds {label}: {', '.join(examples)}{more} "
            f"in {count} of {filled} rows{tail}; it looks like the {other} column — rename it "
            f"to {suggest} (or {other})"
        )
        if canon == "kind":
            reason += ", and give the kinds in a 机构类型 column or leave them to the names"
        reason_zh = (
            f"列“{header}”被读作{_ZH_NAMES.get(canon, '类型')}，但 {count} 行填的是"
            f"{_ZH_NAMES.get(other, '类型')}（{'、'.join(examples)}），请将列名改为“{suggest}”"
        )
        return reason, reason_zh

    def unknown_values(self, canon: str, unknown: Mapping[str, list[int]], accepted: str) -> None:
        """Unknown values of an optional categorical column: a warning per value, never an
        error; the cells stay empty."""
        zh = _ZH_NAMES.get(canon, canon)
        for text, positions in unknown.items():
            rows = [self.rows[i] for i in positions]
            other = _other_vocabulary(canon, text)
            hint = f" (a value of the {other} column)" if other else ""
            also = f" (also rows {_rows_text(rows[1:])})" if len(rows) > 1 else ""
            self.issues.warn(
                rows[0],
                self.where(canon),
                f"unknown {canon} {text!r}{hint}{also}, left empty; accepted: {accepted}",
                f"无法识别的{zh}“{text}”，已留空" + (f"（共 {len(rows)} 行）" if also else ""),
            )
