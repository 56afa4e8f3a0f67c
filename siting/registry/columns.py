"""The reading checks of a file's columns: names, kinds, vocabularies, levels, numbers, codes.

``_ColumnChecks`` is one half of :class:`siting.registry.reading._Reading` (the other is
:mod:`.points`); every problem becomes an issue, nothing stops early.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from siting._tables import normalize_label as _norm_value
from siting.kinds import (
    KIND_LOOKUP,
    KINDS,
    KINDS_TABLE,
    MEDICAL_KINDS,
    infer_kind,
    kind_with_level,
    parse_level,
)
from siting.registry.checks import (
    _VOCABULARY_LABELS,
    _ZH_NAMES,
    _accepted,
    _accepted_in,
    _accepted_kinds,
    _code,
    _float,
    _lookup,
    _other_vocabulary,
    _text,
)
from siting.registry.issues import _rows_text
from siting.registry.readers import _extra_from_cells, _extra_vector
from siting.registry.schema import (
    _CODE_DIGITS,
    _GEOMETRY,
    _HEADER_LOOKUP,
    _MAX_CELL_CHARS,
    _OPERATION_LOOKUP,
    _OPERATION_OWNERSHIP,
    _OWNERSHIP_LOOKUP,
    _ZH,
    COLUMN_ALIASES,
    COLUMNS,
    MAX_BEDS,
    MAX_CAPACITY,
    OPERATIONS,
    _norm_header,
)
from siting.registry.table import _Table


class _ColumnChecks(_Table):
    """The checks of the columns (run in order by :meth:`_Reading.run`)."""

    def required_columns(self) -> None:
        found = ", ".join(repr(h) for h in self.headers) or "none"
        required = ["name"]  # without a kind column, the kinds are inferred from the names
        if not self.coords:
            required += ["lon", "lat"]
        for c in required:
            if c in self.by_canon:
                continue
            zh = _ZH.get(c, c)
            aliases = ", ".join(a for a, v in COLUMN_ALIASES.items() if v == c)
            extra = (
                " (or one 'location'/经纬度 column holding 'lng,lat')"
                if c in ("lon", "lat")
                else ""
            )
            self.issues.error(
                None,
                c,
                f"required column {c!r} ({zh}) is missing{extra}; accepted headers: {aliases}; "
                f"columns found: {found}",
                f"缺少必需列“{zh}”；文件中的列：{found}",
            )

    def names(self) -> list[str | None]:
        names = [_text(v) for v in self.cells("name")]
        if "name" in self.by_canon:
            for i, v in enumerate(names):
                if v is None:
                    self.issues.error(self.rows[i], self.where("name"), "name is empty", "名称为空")
        return names

    def sizes(self) -> None:
        """A cell longer than Excel allows is not facility data (a quote not closed?)."""
        for h in self.headers:
            for i, v in enumerate(self.frame[h].tolist()):
                if isinstance(v, str) and len(v) > _MAX_CELL_CHARS:
                    self.issues.error(
                        self.rows[i],
                        h,
                        f"the cell holds {len(v):,} characters, more than the {_MAX_CELL_CHARS:,} "
                        "of an Excel cell: no facility's data is that long (a quote not closed?)",
                        f"单元格长达 {len(v):,} 个字符，超过 Excel 单元格上限，不是机构数据",
                    )

    def vocabularies(self) -> None:
        """A categorical column holding another column's values is said once, with the count.

        A ``type`` column of 公建民营/民建民营 read as the kind column gives one error (the kinds
        are then inferred from the names, so that the rest of the file is still checked), not
        one per row; an optional column (ownership, operation, level, point quality) holding
        another column's values gives one warning and is kept as an extra column.
        """
        for canon in _VOCABULARY_LABELS:
            header = self.by_canon.get(canon)
            if header is None:
                continue
            counts: dict[str, int] = {}
            for v in self.frame[header].tolist():
                if (t := _text(v)) is not None:
                    counts[t] = counts.get(t, 0) + 1
            others: dict[str, dict[str, int]] = {}
            for t, count in counts.items():  # each distinct value once
                if _accepted_in(canon, t):
                    continue
                other = _other_vocabulary(canon, t)
                if other is not None:
                    others.setdefault(other, {})[t] = count
            if not others:
                continue
            other, values = max(others.items(), key=lambda kv: sum(kv[1].values()))
            hits, filled = sum(values.values()), sum(counts.values())
            if hits * 2 < filled:
                continue  # a few stray values: each is reported on its row
            examples = list(values)[:4]
            self.confused[canon] = (other, hits, filled, examples)
            if canon != "kind":  # the kind column's error is given with the inferred kinds
                self.issues.warn(None, header, *self._confusion_text(canon, " (ignored)"))

    def lookup(self, canon: str, table: Mapping[str, str], accepted: str) -> list[str | None]:
        """An optional categorical column through its alias table (point quality)."""
        out: list[str | None] = []
        unknown: dict[str, list[int]] = {}
        for i, v in enumerate(self.cells(canon)):
            value, ok = _lookup(v, table)
            if not ok:
                unknown.setdefault(str(_text(v)), []).append(i)
            out.append(value)
        self.unknown_values(canon, unknown, accepted)
        return out

    def ownership_operation(self) -> tuple[list[str | None], list[str | None]]:
        """``ownership`` (public/private) and ``operation`` (运营方式), from either column.

        An operation mode written in the ownership column (性质: 公建民营) gives both; the
        ownership of a row without one is the one its operation mode implies
        (``siting/data/operation_modes.yaml``).
        """
        own_cells = [_text(v) for v in self.cells("ownership")]
        op_cells = [_text(v) for v in self.cells("operation")]
        ownership: list[str | None] = []
        operation: list[str | None] = []
        unknown: dict[str, dict[str, list[int]]] = {"ownership": {}, "operation": {}}
        for i, (own_t, op_t) in enumerate(zip(own_cells, op_cells, strict=True)):
            given = mode_in_own = mode = own_in_op = None
            if own_t is not None:
                given = _OWNERSHIP_LOOKUP.get(_norm_value(own_t))
                if given is None:
                    mode_in_own = _OPERATION_LOOKUP.get(_norm_value(own_t))
                    if mode_in_own is None:
                        unknown["ownership"].setdefault(own_t, []).append(i)
            if op_t is not None:
                mode = _OPERATION_LOOKUP.get(_norm_value(op_t))
                if mode is None:
                    own_in_op = _OWNERSHIP_LOOKUP.get(_norm_value(op_t))
                    if own_in_op is None:
                        unknown["operation"].setdefault(op_t, []).append(i)
            if mode is not None and mode_in_own is not None and mode != mode_in_own:
                self.issues.warn(
                    self.rows[i],
                    self.where("operation"),
                    f"operation {mode} disagrees with the ownership column ({own_t!r}); the "
                    "operation column was used",
                    f"运营方式“{mode}”与性质列“{own_t}”不一致，以运营方式列为准",
                )
            mode = mode or mode_in_own
            implied = _OPERATION_OWNERSHIP.get(mode) if mode is not None else None
            value = given or own_in_op or implied
            if value is not None and implied is not None and value != implied:
                self.issues.warn(
                    self.rows[i],
                    self.where("ownership"),
                    f"ownership {value} disagrees with the operation mode {mode} (which is "
                    f"{implied}); kept as given",
                    f"性质与运营方式“{mode}”不一致，按所填保留",
                )
            ownership.append(value)
            operation.append(mode)
        modes = ", ".join(OPERATIONS)
        self.unknown_values(
            "ownership",
            unknown["ownership"],
            f"{_accepted(KINDS_TABLE['ownership'])}; or an operation mode ({modes})",
        )
        self.unknown_values(
            "operation",
            unknown["operation"],
            f"{modes} (siting/data/operation_modes.yaml for every alias); or public/private",
        )
        return ownership, operation

    def levels(
        self, kinds: list[str | None], names: list[str | None], types: list[str | None]
    ) -> list[str | None]:
        """Hospital levels: the level column (三级, 三甲, 二级乙等 ...), else a level written in
        the name or the POI type of a medical facility (``南充市中心医院（三级甲等）``)."""
        out: list[str | None] = []
        unknown: dict[str, list[int]] = {}
        for i, v in enumerate(self.cells("level")):
            t = _text(v)
            value = parse_level(t)
            if t is not None and value is None:
                unknown.setdefault(t, []).append(i)
            out.append(value)
        self.unknown_values("level", unknown, _accepted(KINDS_TABLE["hospital_levels"]))
        taken: list[int] = []
        for i in range(self.n):
            if kinds[i] not in MEDICAL_KINDS:
                continue
            found = next(
                (
                    (lv, text)
                    for text in (names[i], types[i])
                    if text and (lv := parse_level(text)) is not None
                ),
                None,
            )
            if found is None:
                continue
            level, text = found
            if out[i] is None:
                out[i] = level
                taken.append(i)
            elif out[i] != level:
                self.issues.warn(
                    self.rows[i],
                    self.where("level"),
                    f"level {out[i]} disagrees with {text!r} ({level}); the level column was used",
                    f"等级“{out[i]}”与名称或类型中的“{level}”不一致，以等级列为准",
                )
        if taken:
            rows = [self.rows[i] for i in taken]
            self.issues.warn(
                None,
                self.where("level"),
                f"hospital levels read from the names or POI types of {len(taken)} rows with no "
                f"level given (rows {_rows_text(rows)}); check them",
                f"{len(taken)} 行的医院等级取自名称或类型，请核对",
            )
        return out

    def counts(self, canon: str) -> list[int | None]:
        """Beds or capacity: whole numbers >= 0 and not beyond any facility's, or empty."""
        zh = _ZH_NAMES[canon]
        top = MAX_BEDS if canon == "beds" else MAX_CAPACITY
        out: list[int | None] = []
        for i, v in enumerate(self.cells(canon)):
            f, ok = _float(v)
            value: int | None = None
            problem: tuple[str, str] | None = None
            if not ok:
                problem = f"{canon} {_text(v)!r} is not a number", f"{zh}不是数字"
            elif f is not None and not f.is_integer():
                problem = f"{canon} {_text(v)!r} is not a whole number", f"{zh}须为整数"
            elif f is not None and f < 0:
                problem = f"{canon} {_text(v)!r} is negative", f"{zh}不能为负数"
            elif f is not None and f > top:
                too_many = f"{canon} {_text(v)!r} is more than {top:,}, beyond any facility"
                problem = (
                    f"{too_many} (a phone number or a code in the wrong column?)",
                    f"{zh}超过 {top:,}，不可能是一家机构的数值",
                )
            elif f is not None:
                value = int(f)
            if problem is not None:
                self.issues.error(self.rows[i], self.where(canon), *problem)
            out.append(value)
        return out

    def codes(self) -> dict[str, list[str | None]]:
        codes: dict[str, list[str | None]] = {}
        for canon, digits in _CODE_DIGITS.items():
            out: list[str | None] = []
            for i, v in enumerate(self.cells(canon)):
                code, ok = _code(v, digits)
                if not ok:
                    self.issues.error(
                        self.rows[i],
                        self.where(canon),
                        f"{canon} {_text(v)!r} is not a {digits}-digit code",
                        f"代码须为 {digits} 位数字",
                    )
                out.append(code)
            codes[canon] = out
        for i in range(self.n):
            county, town, village = (codes[c][i] for c in _CODE_DIGITS)
            if county and town and not town.startswith(county):
                self.issues.warn(
                    self.rows[i],
                    self.where("township_code"),
                    f"township_code {town} is not in county_code {county}",
                    "乡镇代码与区县代码不一致",
                )
            if town and village and not village.startswith(town):
                self.issues.warn(
                    self.rows[i],
                    self.where("village_code"),
                    f"village_code {village} is not in township_code {town}",
                    "村代码与乡镇代码不一致",
                )
        return codes

    def kinds(self, names: list[str | None]) -> tuple[list[str | None], list[str | None]]:
        """Each row's kind, and its type text (the kind cell or a POI tag, for levels).

        The kind column decides; without one (or when it is empty, or holds another column's
        values) the kinds are inferred from the names, as for a web-map POI export.
        """
        texts = [_text(v) for v in self.cells("kind")]
        tag = next((h for h in self.headers if _norm_header(h) in ("tag", "poitype")), None)
        tags: list[str | None] = (
            [_text(v) for v in self.frame[tag]] if tag is not None else [None] * self.n
        )
        types = [t if t is not None else g for t, g in zip(texts, tags, strict=True)]
        if self.poi or not any(t is not None for t in texts):
            kinds = self._poi_kinds(names, texts, tags)
            if not self.poi:
                self.kind_is_type = False
            if (not self.poi or "kind" in self.confused) and self.n:
                self._inferred(kinds)
            return kinds, types
        kinds = [None] * self.n
        for i, t in enumerate(texts):
            if t is None:
                guess = infer_kind(names[i] or "", keywords=self.opts.keywords)
                hint = f"; the name suggests {', '.join(guess)}" if guess else ""
                self.issues.error(
                    self.rows[i], self.where("kind"), f"kind is empty{hint}", "类型为空"
                )
                continue
            kinds[i] = KIND_LOOKUP.get(_norm_value(t)) or kind_with_level(t)
            if kinds[i] is None:
                other = _other_vocabulary("kind", t)
                hint = f" (a value of the {other} column)" if other else ""
                self.issues.error(
                    self.rows[i],
                    self.where("kind"),
                    f"unknown kind {t!r}{hint}; accepted kinds: {_accepted_kinds()}",
                    f"无法识别的类型“{t}”",
                )
        return kinds, types

    def _inferred(self, kinds: list[str | None]) -> None:
        """Say that the kinds were inferred from the names, and how many."""
        found = pd.Series([k for k in kinds if k is not None], dtype=object).value_counts()
        counts = ", ".join(f"{k} {n}" for k, n in found.items()) or "none"
        got = int(found.sum()) if len(found) else 0
        if "kind" in self.confused:
            reason, reason_zh = self._confusion_text("kind")
            self.issues.error(
                None,
                self.by_canon["kind"],
                f"{reason}; inferred from the names, the kinds of {got} of {self.n} rows are "
                f"known ({counts})",
                reason_zh,
            )
            return
        why = "the kind column is empty" if "kind" in self.by_canon else "there is no kind column"
        self.issues.warn(
            None,
            self.where("kind"),
            f"{why}: the kinds were inferred from the names by the keywords of "
            f"siting/data/kinds.yaml ({counts}); check them, or add a 机构类型 column",
            f"未提供机构类型，已按名称关键词推断（{got} 行），请核对",
        )

    def _poi_kinds(
        self, names: list[str | None], texts: list[str | None], tags: list[str | None]
    ) -> list[str | None]:
        """A POI's kind: its 类型/type cell when that is a kind alias, else inferred."""
        filled = [t for t in texts if t is not None]
        self.kind_is_type = "kind" in self.by_canon and not (
            filled and all(_norm_value(t) in KIND_LOOKUP for t in filled)
        )
        what = "POI" if self.poi else "name"
        fix = "set 类型" if self.poi else "give it a 机构类型 column"
        kinds: list[str | None] = [None] * self.n
        for i in range(self.n):
            text = texts[i]
            known = KIND_LOOKUP.get(_norm_value(text)) if text else None
            if known is not None:
                kinds[i] = known
                continue
            poi_type = text or tags[i]
            cands = infer_kind(names[i] or "", poi_type, keywords=self.opts.keywords)
            label = f"{names[i]!r}" + (f" (type {poi_type!r})" if poi_type else "")
            if len(cands) == 1:
                kinds[i] = cands[0]
            elif not cands:
                if names[i] is None:
                    continue  # "name is empty" says it
                self.issues.error(
                    self.rows[i],
                    self.where("kind"),
                    f"{what} {label} matches no kind; {fix} (one of {', '.join(KINDS)}) or add "
                    "a keyword to siting/data/kinds.yaml",
                    "无法判断机构类型，请填写“类型”",
                )
            else:
                self.issues.error(
                    self.rows[i],
                    self.where("kind"),
                    f"{what} {label} matches several kinds: {', '.join(cands)} — {fix} to decide",
                    f"名称同时符合多种类型（{'、'.join(KINDS[c].zh for c in cands)}），"
                    "请填写“类型”",
                )
        return kinds

    def ids(self) -> list[str | None]:
        ids = [_text(v) for v in self.cells("id")]
        seen: dict[str, int] = {}
        for i, v in enumerate(ids):
            if v is None:
                continue
            if v in seen:
                first = self.rows[seen[v]]
                self.issues.error(
                    self.rows[i],
                    self.where("id"),
                    f"duplicate id {v!r}: also on row {first}",
                    f"编号“{v}”重复（另见第 {first} 行）",
                )
            else:
                seen[v] = i
        return ids

    def extras(self) -> pd.DataFrame:
        """The columns the registry does not interpret, unchanged, in file order.

        Kept columns must not read back as registry columns: a POI export's type (类型/type)
        becomes ``poi_type``, its ``location`` text ``poi_location``; any other header that
        would clash gets a ``source_`` prefix.
        """
        consumed = {h for c, h in self.by_canon.items() if c in COLUMNS or c == "id"}
        if self.kind_is_type:
            consumed.discard(self.by_canon["kind"])
        for canon in self.confused:  # another column's values, not read: kept as they are
            consumed.discard(self.by_canon[canon])
        reserved = {*COLUMNS, "id", _GEOMETRY}
        extras: dict[str, Any] = {}
        for h in self.headers:
            if h in consumed:
                continue
            if h == self.by_canon.get("kind"):
                name = "poi_type"
            elif h == self.by_canon.get("lnglat") and _norm_header(h) == "location":
                name = "poi_location"
            elif h in reserved or _HEADER_LOOKUP.get(_norm_header(h)) in reserved:
                name = f"source_{h}"
            else:
                name = h
            if self.raw.typed is not None:
                extras[name] = _extra_vector(self.raw.typed[h], self.raw.field_dtypes.get(h))
            else:
                extras[name] = _extra_from_cells(self.frame[h].tolist(), self.raw.fmt)
        return pd.DataFrame(extras, index=pd.RangeIndex(self.n))
