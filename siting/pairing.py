"""就近配对 Pairing: every elderly-care facility with its nearest suitable medical partner.

Rules are data (:func:`load_rules`, ``siting/data/pairing_rules.yaml``): which elderly-care
kinds pair with which medical kinds (and, for urban 社区/街道 facilities marked by
:func:`mark_urban`, which community health services), the travel-time threshold, how many
alternatives to list, the direction of travel, optional partner capacities and the cooperation
fee rule. The shipped file holds one rule set per seed document (:data:`RULE_SETS`: the
Xuanhan programme, the Nanchong plan, and the Pan'an and Fengmao benchmarks); each rule quotes
its seed sentences exactly (``Rule.quotes``), and the region picks its set. :func:`pair`
applies them over a road network (or straight lines without one) with the
travel-time engine :mod:`siting.costs`, and explains every pair in Chinese and English.

Two modes:

* **nearest** (default): each facility gets its nearest partner (rank 1) and the next
  alternatives (``k``), with travel time and road distance.
* **capacity-aware** (``capacity=True``, for rules that declare a capacity): partners take at
  most their capacity (in facilities or beds) read from a registry column the rule names; a
  partner with no value is unlimited, unless the rule gives an ``assumed_default``, which is
  labelled ``capacity_assumed`` in the rows. The assignment minimises the total travel time
  exactly (a mixed-integer programme solved by HiGHS through :func:`scipy.optimize.milp`, first
  serving as many facilities as possible). Every facility not paired with its nearest partner
  says why (``最近的乡镇卫生院已满额``); facilities that cannot be served are listed with the
  reason, never dropped.

Output columns (:data:`COLUMNS`), one row per facility, rule and listed partner:
``rule``, ``rule_zh``, ``facility_id``, ``facility_name``, ``facility_kind``, ``rank`` (1 = the
nearest), ``partner_id``, ``partner_name``, ``partner_kind``, ``travel_time_min``,
``distance_km`` (road plus the straight access legs), ``method`` (network | straight_line),
``within_threshold``, ``threshold_min``, ``assigned`` (the partner the facility is paired with),
``reason`` (Chinese), ``reason_en``, ``snap_flag``, then the capacity columns
(:data:`CAPACITY_COLUMNS`: ``partner_capacity`` empty for an unlimited partner,
``capacity_assumed``, ``capacity_source`` = the column, ``assumed`` or ``unlimited``) and the
fee columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from siting import costs, registry, settings
from siting._errors import DataError, InfeasibleError, PairingRuleError, SitingError
from siting._issues import Problems
from siting.costs import args as cost_args
from siting.costs.args import TravelOptions
from siting.graph import GraphArrays, Network, graph_arrays

__all__ = [
    "COLUMNS",
    "CapacityRule",
    "CostRule",
    "InfeasibleError",
    "PairingRuleError",
    "Rule",
    "Rules",
    "default_rules_path",
    "load_rules",
    "pair",
    "summarize",
]

#: Columns of :func:`pair`, in order (capacity and fee columns follow when used).
COLUMNS: Final = (
    "rule",
    "rule_zh",
    "facility_id",
    "facility_name",
    "facility_kind",
    "rank",
    "partner_id",
    "partner_name",
    "partner_kind",
    "travel_time_min",
    "distance_km",
    "method",
    "within_threshold",
    "threshold_min",
    "assigned",
    "reason",
    "reason_en",
    "snap_flag",
)
CAPACITY_COLUMNS: Final = (
    "demand_units",
    "partner_capacity",
    "partner_load",
    "capacity_assumed",
    "capacity_source",
)
FEE_COLUMNS: Final = ("residents", "fee_cny", "subsidy_cny", "net_cost_cny", "fee_rule")

_COLUMN_ZH: Final = {"beds": "床位数", "capacity": "容量"}
_ORDINALS_ZH: Final = ("最近", "次近", "再次")
_ORDINALS_EN: Final = ("nearest", "next", "third")


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityRule:
    """Partner capacities of a rule: ``unit`` facilities or beds, read from ``column`` of the
    partners (any registry column: ``capacity``, ``beds``, ``doctors`` or a planner's own).

    Where a partner's column is empty its capacity is ``assumed_default`` when the rule gives
    one (labelled ``capacity_assumed`` in the pairings), else unlimited: no capacity is
    invented.

    >>> CapacityRule("beds", "beds").assumed_default is None
    True
    """

    unit: Literal["facilities", "beds"] = "facilities"
    column: str | None = "capacity"
    assumed_default: float | None = None

    @property
    def default(self) -> float | None:
        """The former name of :attr:`assumed_default`."""
        return self.assumed_default


@dataclass(frozen=True)
class Rule:
    """One pairing rule (see ``siting/data/pairing_rules.yaml``)."""

    id: str
    zh: str
    en: str
    from_kinds: tuple[str, ...]
    to_kinds: tuple[str, ...]
    threshold_min: float
    k: int = 3
    direction: Literal["to_partner", "from_partner"] = "to_partner"
    partner_filter: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    partner_exclude_names: tuple[str, ...] = ()
    capacity: CapacityRule | None = None
    cost: bool = False
    source: str = ""
    #: (document id, sentence copied exactly from the seed document) of every quote
    quotes: tuple[tuple[str, str], ...] = ()
    #: partner kinds of facilities in urban units (社区/街道: column ``urban``); () = ``to_kinds``
    urban_to: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class CostRule:
    """The cooperation fee by number of residents (Pan'an rule) and its subsidy share."""

    zh: str
    en: str
    residents_column: str
    brackets: tuple[tuple[float | None, float], ...]
    subsidy_share: float
    brackets_source: str
    source: str

    def fee(self, residents: float) -> float:
        """The yearly fee (CNY) for ``residents`` residents."""
        for upper, fee in self.brackets:
            if upper is None or residents <= upper:
                return fee
        return self.brackets[-1][1]

    def describe(self) -> str:
        """The rule in one line of Chinese, with where its brackets come from."""
        parts = []
        lower = 0.0
        for upper, fee in self.brackets:
            if upper is None:
                parts.append(f">{lower:g}人 {fee / 1e4:g}万元")
            else:
                parts.append(f"≤{upper:g}人 {fee / 1e4:g}万元")
                lower = upper
        return (
            f"{self.zh}: {'; '.join(parts)}/年, 财政补助{self.subsidy_share:.0%}"
            f" (分档: {self.brackets_source}; 依据: {self.source})"
        )


@dataclass(frozen=True)
class Rules:
    """A set of pairing rules and the optional fee rule, with the file they came from."""

    rules: tuple[Rule, ...]
    cost: CostRule | None = None
    path: Path | None = None
    #: the rule set's name (``xuanhan``, ``nanchong`` ...; "" for a user's rules)
    name: str = ""
    zh: str = ""
    note: str = ""
    #: a benchmark from another region's document: shown as comparison, never as "not met"
    benchmark: bool = False

    def __iter__(self) -> Any:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        msg = f"no pairing rule {rule_id!r}; rules: {', '.join(r.id for r in self.rules)}"
        raise KeyError(msg)

    def replace(self, rule_id: str, **changes: Any) -> Rules:
        """A copy with one rule changed, e.g. ``rules.replace("patrol", threshold_min=20)``."""
        self.get(rule_id)
        new = tuple(replace(r, **changes) if r.id == rule_id else r for r in self.rules)
        return replace(self, rules=new)


def default_rules_path() -> Path:
    """The shipped default rules (the seed programme)."""
    return Path(__file__).with_name("data") / "pairing_rules.yaml"


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, reason: str) -> PairingRuleError:
        return PairingRuleError(f"{self.where}: {key}: {reason}")

    def kinds(self, value: Any, key: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            raise self.fail(key, "must be a kind or a non-empty list of kinds")
        out = []
        for item in items:
            kind = str(item).strip()
            if kind not in registry.KINDS:
                known = ", ".join(registry.KINDS)
                raise self.fail(key, f"unknown kind {kind!r} (kinds: {known})")
            out.append(kind)
        return tuple(out)

    def number(self, value: Any, key: str, *, positive: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(key, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(key, f"must be positive, got {value!r}")
        return float(value)


def _rule(raw: Any, check: _Checker) -> Rule:
    if not isinstance(raw, Mapping):
        raise check.fail("rule", "must be a mapping of keys (id, from, to, threshold_min ...)")
    known = {
        "id",
        "zh",
        "en",
        "from",
        "to",
        "threshold_min",
        "k",
        "direction",
        "partner_filter",
        "partner_exclude_names",
        "capacity",
        "cost",
        "source",
        "urban_to",
        "note",
    }
    extra = sorted(set(map(str, raw)) - known)
    if extra:
        raise check.fail(extra[0], f"unknown key (keys: {', '.join(sorted(known))})")
    for key in ("id", "from", "to", "threshold_min"):
        if key not in raw or raw[key] in (None, ""):
            raise check.fail(key, "missing")
    rid = str(raw["id"]).strip()
    k_raw = raw.get("k", 3)
    if isinstance(k_raw, bool) or not isinstance(k_raw, int) or k_raw < 1:
        raise check.fail("k", f"must be a whole number >= 1, got {k_raw!r}")
    direction = str(raw.get("direction", "to_partner"))
    if direction not in ("to_partner", "from_partner"):
        raise check.fail("direction", f"must be to_partner or from_partner, got {direction!r}")
    filt: dict[str, tuple[str, ...]] = {}
    raw_filter = raw.get("partner_filter") or {}
    if not isinstance(raw_filter, Mapping):
        raise check.fail("partner_filter", "must map a column to its accepted values")
    for col, values in raw_filter.items():
        vals = [values] if isinstance(values, str) else values
        if not isinstance(vals, list | tuple) or not vals:
            raise check.fail(f"partner_filter.{col}", "must be a value or a list of values")
        filt[str(col)] = tuple(str(v) for v in vals)
    excl = raw.get("partner_exclude_names") or []
    if isinstance(excl, str):
        excl = [excl]
    if not isinstance(excl, list | tuple) or not all(str(x).strip() for x in excl):
        raise check.fail("partner_exclude_names", "must be a list of name fragments")
    cap = _capacity_rule(raw.get("capacity"), check)
    text, quotes = _source(raw.get("source"), check)
    urban = raw.get("urban_to")
    return Rule(
        id=rid,
        zh=str(raw.get("zh") or rid),
        en=str(raw.get("en") or rid),
        from_kinds=check.kinds(raw["from"], "from"),
        to_kinds=check.kinds(raw["to"], "to"),
        threshold_min=check.number(raw["threshold_min"], "threshold_min"),
        k=int(k_raw),
        direction=direction,  # type: ignore[arg-type]
        partner_filter=filt,
        partner_exclude_names=tuple(str(x).strip() for x in excl),
        capacity=cap,
        cost=bool(raw.get("cost", False)),
        source=text,
        quotes=quotes,
        urban_to=() if urban in (None, [], ()) else check.kinds(urban, "urban_to"),
        note=str(raw.get("note") or ""),
    )


def _capacity_rule(raw_cap: Any, check: _Checker) -> CapacityRule | None:
    if raw_cap is None:
        return None
    if not isinstance(raw_cap, Mapping):
        raise check.fail("capacity", "must be a mapping (unit, column, assumed_default)")
    extra = sorted(set(map(str, raw_cap)) - {"unit", "column", "assumed_default", "default"})
    if extra:
        raise check.fail(f"capacity.{extra[0]}", "unknown key (unit, column, assumed_default)")
    unit = str(raw_cap.get("unit", "facilities"))
    if unit not in ("facilities", "beds"):
        raise check.fail("capacity.unit", f"must be facilities or beds, got {unit!r}")
    column = raw_cap.get("column", "capacity")
    if column is not None and not str(column).strip():
        raise check.fail("capacity.column", "must name a registry column (or be null)")
    # ``default`` is the former name: it was always an assumption, and is labelled so now
    key = "assumed_default" if "assumed_default" in raw_cap else "default"
    default = raw_cap.get(key)
    if default is not None:
        default = check.number(default, f"capacity.{key}", positive=False)
        if default < 0:
            raise check.fail(f"capacity.{key}", f"must not be negative, got {default}")
    if column is None and default is None:
        raise check.fail("capacity", "needs a column or an assumed_default")
    col = None if column is None else str(column).strip()
    return CapacityRule(unit, col, default)  # type: ignore[arg-type]


def _source(raw: Any, check: _Checker) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A rule's ``source``: free text (a user's rules) or ``{document, quote}`` mappings
    (one or a list) whose quote is a sentence copied exactly from the seed document."""
    if raw is None or raw == "":
        return "", ()
    if isinstance(raw, str):
        return raw.strip(), ()
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list | tuple):
        raise check.fail("source", "must be text or {document, quote} mappings")
    quotes = []
    for i, item in enumerate(items):
        key = f"source[{i}]"
        if not isinstance(item, Mapping) or not item.get("document") or not item.get("quote"):
            raise check.fail(key, "must be a mapping with document and quote")
        extra = sorted(set(map(str, item)) - {"document", "quote"})
        if extra:
            raise check.fail(f"{key}.{extra[0]}", "unknown key (document, quote)")
        doc = str(item["document"]).strip()
        if isinstance(item["document"], int):
            doc = f"{item['document']:03d}"
        quotes.append((doc, str(item["quote"])))
    text = "; ".join(f"{doc}: “{q}”" for doc, q in quotes)
    return text, tuple(quotes)


def _cost_rule(raw: Any, check: _Checker) -> CostRule:
    if not isinstance(raw, Mapping):
        raise check.fail("cost", "must be a mapping")
    brackets_raw = raw.get("brackets")
    if not isinstance(brackets_raw, list) or not brackets_raw:
        raise check.fail("cost.brackets", "must be a non-empty list of {residents, fee}")
    brackets: list[tuple[float | None, float]] = []
    last = -math.inf
    for i, b in enumerate(brackets_raw):
        key = f"cost.brackets[{i}]"
        if not isinstance(b, Mapping) or "fee" not in b:
            raise check.fail(key, "must be {residents: N or null, fee: CNY}")
        fee = check.number(b["fee"], f"{key}.fee", positive=False)
        upper = b.get("residents")
        if upper is None:
            if i != len(brackets_raw) - 1:
                raise check.fail(key, "only the last bracket may be open (residents: null)")
            brackets.append((None, fee))
            continue
        upper_f = check.number(upper, f"{key}.residents")
        if upper_f <= last:
            raise check.fail(key, "brackets must rise")
        last = upper_f
        brackets.append((upper_f, fee))
    share = check.number(raw.get("subsidy_share", 0.0), "cost.subsidy_share", positive=False)
    if not 0 <= share <= 1:
        raise check.fail("cost.subsidy_share", f"must be between 0 and 1, got {share}")
    return CostRule(
        zh=str(raw.get("zh") or "合作费"),
        en=str(raw.get("en") or "cooperation fee"),
        residents_column=str(raw.get("residents_column") or "beds"),
        brackets=tuple(brackets),
        subsidy_share=share,
        brackets_source=str(raw.get("brackets_source") or "user"),
        source=_source(raw.get("source"), _Checker(f"{check.where}: cost"))[0],
    )


def _read_yaml(path: Path) -> Any:
    import yaml

    if not path.is_file():
        msg = f"pairing rules file not found: {path}"
        raise PairingRuleError(msg)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"{path}: not valid YAML: {exc}"
        raise PairingRuleError(msg) from exc


def _region_code(region: Any) -> str:
    code = getattr(region, "code", region)
    text = str(code).strip()
    if isinstance(code, bool) or not text.isdigit():
        msg = (
            f"region must be a Region or an administrative code (e.g. 511722), got {region!r}"
            " (地区须为行政区划代码)"
        )
        raise PairingRuleError(msg)
    return text


def rule_set_for(region: Any, source: Mapping[str, Any] | None = None) -> str:
    """The name of the rule set of ``region`` (a Region or an administrative code): the longest
    code prefix listed under ``regions`` of the rules file, else its ``default_set``.

    >>> rule_set_for("511722"), rule_set_for(511302), rule_set_for("330727")
    ('xuanhan', 'nanchong', 'nanchong')
    """
    data = _shipped() if source is None else source
    code = _region_code(region)
    table = {str(k): str(v) for k, v in (data.get("regions") or {}).items()}
    hits = [p for p in table if code.startswith(p)]
    if hits:
        return table[max(hits, key=len)]
    return str(data.get("default_set") or "")


def _shipped() -> Mapping[str, Any]:
    data = _read_yaml(default_rules_path())
    assert isinstance(data, Mapping)
    return data


def _rule_sets(data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    sets = data.get("rule_sets")
    if not isinstance(sets, Mapping) or not sets:
        raise PairingRuleError(f"{where}: rule_sets: must map a name to a rule set")
    return sets


def _pick_set(
    data: Mapping[str, Any], name: str | None, region: Any, where: str
) -> tuple[str, Mapping[str, Any], str]:
    """(name, the rule set's mapping with the file's shared cost rule, the note on the choice)."""
    sets = _rule_sets(data, where)
    chosen_note = ""
    if name is None:
        default = str(data.get("default_set") or "")
        if region is None:
            name = default
            chosen_note = f"no region given: the default rule set {default!r}"
        else:
            name = rule_set_for(region, data)
            if name == default and not any(
                _region_code(region).startswith(str(p)) for p in (data.get("regions") or {})
            ):
                chosen_note = (
                    f"region {_region_code(region)} has no rule set of its own: the default "
                    f"plan {default!r} is used (本地区无专门规则，采用默认规划 {default})"
                )
    if name not in sets:
        msg = f"{where}: no rule set {name!r} (rule sets: {', '.join(map(str, sets))})"
        raise PairingRuleError(msg)
    chosen = sets[name]
    if not isinstance(chosen, Mapping):
        raise PairingRuleError(f"{where}: rule_sets.{name}: must be a mapping with rules")
    merged = dict(chosen)
    if "cost" not in merged and data.get("cost"):
        merged["cost"] = data["cost"]
    return str(name), merged, chosen_note


def load_rules(
    source: str | Path | Mapping[str, Any] | Rules | None = None, *, region: Any = None
) -> Rules:
    """Read pairing rules: a rule set by name, the rule set of a region, a YAML file or a mapping.

    Parameters
    ----------
    source
        ``None``: the shipped rule set of ``region`` (:data:`RULE_SETS`; Xuanhan 511722 →
        ``xuanhan``, Nanchong 5113xx → ``nanchong``, anywhere else the default plan
        ``nanchong``, said in :attr:`Rules.note`). A rule-set name (``"xuanhan"``,
        ``"nanchong"``, ``"panan"``, ``"fengmao"``). A YAML file or mapping with ``rules:``
        (one set, as always) or with ``rule_sets:`` (several; ``region`` picks one). A
        :class:`Rules` is returned as it is.
    region
        A Region or an administrative code: picks the rule set when ``source`` holds several.

    Raises
    ------
    PairingRuleError
        Naming the file, the rule and the key: unknown kind, missing key, bad number, unknown
        rule set ...

    >>> load_rules(region="511722").name, load_rules("panan").benchmark
    ('xuanhan', True)
    """
    if isinstance(source, Rules):
        return source
    path: Path | None = None
    set_name: str | None = None
    if source is None:
        path = default_rules_path()
    elif isinstance(source, str) and source in RULE_SETS and not Path(source).is_file():
        path, set_name = default_rules_path(), source
    elif isinstance(source, str | Path):
        path = Path(source)
    data = _read_yaml(path) if path is not None else source
    where = str(path) if path else "pairing rules"
    head: dict[str, Any] = {}
    if isinstance(data, Mapping) and "rule_sets" in data and "rules" not in data:
        set_name, data, choice = _pick_set(data, set_name, region, where)
        where = f"{where}: rule_sets.{set_name}"
        note_text = " ".join(x for x in (str(data.get("note") or "").strip(), choice) if x)
        head = {
            "name": set_name,
            "zh": str(data.get("zh") or set_name),
            "note": note_text,
            "benchmark": bool(data.get("benchmark", False)),
        }
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise PairingRuleError(f"{where}: rules: missing (a list of rules)")
    if not data["rules"]:
        raise PairingRuleError(f"{where}: rules: empty")
    # every problem of every rule at once (the first of each rule: its later keys depend on it)
    problems = Problems(where)

    def note(exc: PairingRuleError) -> None:
        problems.add(str(exc).removeprefix(f"{where}: "))

    out = []
    for i, raw in enumerate(data["rules"]):
        name = raw.get("id", i) if isinstance(raw, Mapping) else i
        try:
            out.append(_rule(raw, _Checker(f"{where}: rules[{i}] ({name})")))
        except PairingRuleError as exc:
            note(exc)
    ids = [r.id for r in out]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.add(f"rules: duplicate id {dup!r}")
    cost = None
    if data.get("cost"):
        try:
            cost = _cost_rule(data["cost"], _Checker(where))
        except PairingRuleError as exc:
            note(exc)
    elif any(r.cost for r in out):
        problems.add("cost: a rule asks for the fee but no cost rule is given")
    if len(problems.errors) == 1:  # one problem: one line, as it always was
        raise PairingRuleError(str(problems.errors[0]))
    problems.raise_errors(
        PairingRuleError,
        header=f"{where}: {len(problems.errors)} problems in the pairing rules (配对规则有 "
        f"{len(problems.errors)} 个问题)",
    )
    return Rules(tuple(out), cost, path, **head)


def _rule_set_index() -> dict[str, str]:
    data = _shipped()
    out = {}
    for name, body in _rule_sets(data, str(default_rules_path())).items():
        body = body if isinstance(body, Mapping) else {}
        text = str(body.get("zh") or name)
        if body.get("benchmark"):
            text += " (对照 benchmark)"
        out[str(name)] = text
    return out


#: The shipped rule sets: name → description (``load_rules(name)``; benchmarks are marked).
RULE_SETS: Final[Mapping[str, str]] = MappingProxyType(_rule_set_index())

#: Township types and village types that are urban (served by community health services).
URBAN_TOWN_TYPES: Final = ("街道",)
URBAN_VILLAGE_TYPES: Final = ("社区",)


def mark_urban(
    facilities: gpd.GeoDataFrame,
    townships: pd.DataFrame | None = None,
    villages: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """A copy of ``facilities`` with a boolean column ``urban`` (城镇社区): the facility's
    township is a 街道 (``townships.town_type`` by ``township_code``) and its village, where
    known (``villages.village_type`` by ``village_code``), is a 社区, not a 村委会. A 社区 of a
    镇 or 乡 (the residents' committee of a township seat) stays rural: its village tier is
    the village clinic and the 卫生院. Facilities whose township is unknown get ``<NA>``
    (treated as rural). Rules with ``urban_to`` pair the urban facilities with those kinds
    (社区卫生服务站/中心) instead of ``to``.

    Pass a Region's ``townships`` and ``villages`` (pairing does not load regions itself).
    """
    out = facilities.copy()
    flag = pd.Series(pd.NA, index=out.index, dtype="boolean")
    if townships is not None and "township_code" in out.columns:
        if "town_type" not in townships.columns:
            raise DataError("townships lack the column 'town_type' (镇/乡/街道)")
        types = townships["town_type"].astype("string")
        types.index = types.index.astype(str)
        known = out["township_code"].astype("string").map(types)
        flag = flag.mask(known.notna(), known.isin(URBAN_TOWN_TYPES))
    if villages is not None and "village_code" in out.columns:
        if "village_type" not in villages.columns:
            raise DataError("villages lack the column 'village_type' (村委会/社区)")
        vtypes = villages["village_type"].astype("string")
        vtypes.index = vtypes.index.astype(str)
        vknown = out["village_code"].astype("string").map(vtypes)
        village_rural = vknown.notna() & ~vknown.isin(URBAN_VILLAGE_TYPES)
        flag = flag.mask(village_rural.fillna(False) & flag.notna(), False)
    out["urban"] = flag
    return out


# --- pairing -----------------------------------------------------------------------------------


def _label(kind: str) -> str:
    zh = registry.kind_label(kind, "zh")
    return zh.split("(")[0]


def _minutes(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _partners(facilities: gpd.GeoDataFrame, rule: Rule) -> gpd.GeoDataFrame:
    mask = facilities["kind"].isin(rule.to_kinds).to_numpy(dtype=bool).copy()
    for col, values in rule.partner_filter.items():
        if col not in facilities.columns:
            msg = f"rule {rule.id}: partner_filter needs the column {col!r}, not in the registry"
            raise PairingRuleError(msg)
        mask &= facilities[col].astype("string").isin(values).fillna(False).to_numpy(dtype=bool)
    if rule.partner_exclude_names:
        names = facilities["name"].astype("string").fillna("")
        for frag in rule.partner_exclude_names:
            mask &= ~names.str.contains(frag, regex=False).to_numpy(dtype=bool)
    return facilities[mask]


def _frame(
    rule: Rule,
    demand: gpd.GeoDataFrame,
    partners: gpd.GeoDataFrame,
    near: pd.DataFrame,
) -> pd.DataFrame:
    """Pairing rows from a costs result (demand_id, rank, facility_id, time_s ...)."""
    access = near["demand_snap_m"].fillna(0.0) + near["facility_snap_m"].fillna(0.0)
    return pd.DataFrame(
        {
            "rule": rule.id,
            "rule_zh": rule.zh,
            "facility_id": near["demand_id"].astype("string"),
            "facility_name": near["demand_id"].map(demand["name"]).astype("string"),
            "facility_kind": near["demand_id"].map(demand["kind"]).astype("string"),
            "rank": near["rank"].astype("int64"),
            "partner_id": near["facility_id"].astype("string"),
            "partner_name": near["facility_id"].map(partners["name"]).astype("string"),
            "partner_kind": near["facility_id"].map(partners["kind"]).astype("string"),
            "travel_time_min": (near["time_s"] / 60.0).round(3),
            "distance_km": ((near["distance_m"] + access) / 1000.0).round(3),
            "method": near["method"].astype("string"),
            "within_threshold": (near["time_s"] <= rule.threshold_min * 60.0) & near["reachable"],
            "threshold_min": float(rule.threshold_min),
            "assigned": False,
            "reason": pd.Series(pd.NA, index=near.index, dtype="string"),
            "reason_en": pd.Series(pd.NA, index=near.index, dtype="string"),
            "snap_flag": near["snap_flag"].astype(bool),
            "reachable": near["reachable"].astype(bool),
        }
    )


def _capacities(
    partners: gpd.GeoDataFrame, cap: CapacityRule, rule: Rule
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each partner's capacity (``inf``: unlimited), whether it is assumed, and its source
    (the column's name, ``assumed`` or ``unlimited``)."""
    if cap.column is not None and cap.column in partners.columns:
        raw = partners[cap.column]
        col = pd.to_numeric(raw, errors="coerce").astype("Float64")
        bad = col.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
        if bad.any():
            first = partners.index[bad.to_numpy()][0]
            msg = (
                f"rule {rule.id}: capacity column {cap.column!r} of partner {first!r} is not a "
                f"number: {raw[first]!r}"
            )
            raise PairingRuleError(msg)
    else:
        col = pd.Series(pd.NA, index=partners.index, dtype="Float64")
    given = col.notna().to_numpy(dtype=bool)
    out: np.ndarray = col.to_numpy(dtype=float, na_value=np.nan)
    if (out[given] < 0).any():
        bad_id = partners.index[given & (np.nan_to_num(out) < 0)][0]
        msg = f"rule {rule.id}: negative capacity for partner {bad_id!r}"
        raise PairingRuleError(msg)
    assumed = ~given & (cap.assumed_default is not None)
    out = np.where(given, out, np.inf if cap.assumed_default is None else cap.assumed_default)
    source = np.where(given, str(cap.column), np.where(assumed, "assumed", "unlimited"))
    return out.astype(float), assumed, source.astype(object)


def _units(demand: gpd.GeoDataFrame, cap: CapacityRule, rule: Rule) -> np.ndarray:
    if cap.unit == "facilities":
        return np.ones(len(demand))
    beds = pd.to_numeric(demand.get("beds"), errors="coerce")
    if beds is None or beds.isna().any():
        ids = (
            ", ".join(map(str, demand.index[beds.isna().to_numpy()][:5]))
            if beds is not None
            else "all"
        )
        msg = f"rule {rule.id}: capacity in beds needs the beds of every facility (missing: {ids})"
        raise PairingRuleError(msg)
    units: np.ndarray = beds.to_numpy(dtype=float)
    return units


@dataclass
class _Solved:
    choice: np.ndarray  # partner position per demand (-1: not served)
    status: str
    objective: float
    gap: float | None


def _assign(
    times: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    units: np.ndarray,
    caps: np.ndarray,
    n_dem: int,
    n_part: int,
    time_limit_s: float,
) -> _Solved:
    """Exact capacity-constrained assignment: serve as many facilities as possible, then the
    least total travel time (binary programme; HiGHS)."""
    m = len(times)
    big = (float(times.max()) + 1.0) * max(n_dem, 1) + 1.0 if m else 1.0
    c = np.concatenate([times, np.full(n_dem, big)])
    nvar = m + n_dem
    # each facility: one partner or "not served"
    a1 = sp.csr_matrix(
        (np.ones(nvar), (np.concatenate([rows, np.arange(n_dem)]), np.arange(nvar))),
        shape=(n_dem, nvar),
    )
    cons = [LinearConstraint(a1, 1.0, 1.0)]
    if m:
        a2 = sp.csr_matrix((units[rows], (cols, np.arange(m))), shape=(n_part, nvar))
        cons.append(LinearConstraint(a2, -np.inf, caps))
    res = milp(
        c,
        constraints=cons,
        integrality=np.ones(nvar),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit_s, "mip_rel_gap": 0.0},
    )
    if res.x is None or res.status != 0:
        msg = f"capacity assignment not solved to optimality: {res.message}"
        raise InfeasibleError(msg)
    x = np.round(res.x).astype(bool)
    choice = np.full(n_dem, -1, dtype=np.int64)
    chosen = np.flatnonzero(x[:m])
    choice[rows[chosen]] = cols[chosen]
    gap = getattr(res, "mip_gap", None)
    return _Solved(choice, "optimal", float(res.fun), None if gap is None else float(gap))


def _all_pairs(
    net: GraphArrays | None,
    demand: gpd.GeoDataFrame,
    partners: gpd.GeoDataFrame,
    direction: str,
    cost_kw: Mapping[str, Any],
) -> pd.DataFrame:
    """Every (facility, partner) pair in the long form of :func:`siting.costs.nearest`, ranked
    per facility by time then partner id (one OD matrix, searched from the smaller side)."""
    to_partner = direction == "to_facility"
    od = costs.od_matrix(
        net, demand if to_partner else partners, partners if to_partner else demand, **cost_kw
    )
    dem_col, par_col = ("origin", "destination") if to_partner else ("destination", "origin")
    out = pd.DataFrame(
        {
            "demand_id": od[f"{dem_col}_id"],
            "facility_id": od[f"{par_col}_id"],
            "time_s": od["time_s"],
            "distance_m": od["distance_m"],
            "method": od["method"],
            "reachable": od["reachable"].astype(bool),
            "demand_snap_m": od[f"{dem_col}_snap_m"],
            "facility_snap_m": od[f"{par_col}_snap_m"],
            "snap_flag": od["snap_flag"].astype(bool),
        }
    )
    order = pd.Index(demand.index).get_indexer(out["demand_id"])
    out["_d"] = order
    out["_t"] = out["time_s"].fillna(np.inf)
    out["_p"] = out["facility_id"].astype(str)
    out = out.sort_values(["_d", "_t", "_p"], kind="stable").reset_index(drop=True)
    out["rank"] = out.groupby("_d").cumcount() + 1
    return out.drop(columns=["_d", "_t", "_p"])


def _pair_capacity(
    rule: Rule,
    net: GraphArrays | None,
    demand: gpd.GeoDataFrame,
    partners: gpd.GeoDataFrame,
    direction: str,
    time_limit_s: float,
    cost_kw: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    assert rule.capacity is not None
    caps, assumed, cap_source = _capacities(partners, rule.capacity, rule)
    units = _units(demand, rule.capacity, rule)
    # all reachable pairs, ranked per facility by (time, partner id): the exact candidate set
    ranked = _all_pairs(net, demand, partners, direction, cost_kw)
    ok = ranked[ranked["reachable"]]
    d_pos = pd.Index(demand.index).get_indexer(ok["demand_id"])
    p_pos = pd.Index(partners.index).get_indexer(ok["facility_id"])
    solved = _assign(
        ok["time_s"].to_numpy(dtype=float),
        d_pos.astype(np.int64),
        p_pos.astype(np.int64),
        units,
        caps,
        len(demand),
        len(partners),
        time_limit_s,
    )
    load = np.zeros(len(partners))
    served = solved.choice >= 0
    np.add.at(load, solved.choice[served], units[served])
    chosen_id = pd.Series(
        np.where(served, partners.index.to_numpy()[np.maximum(solved.choice, 0)], None),
        index=demand.index,
    )
    keep = (ranked["rank"] <= rule.k) | (
        ranked["facility_id"].astype(object).to_numpy()
        == chosen_id.reindex(ranked["demand_id"]).to_numpy()
    )
    rows = _frame(rule, demand, partners, ranked[keep].reset_index(drop=True))
    rows["assigned"] = (
        rows["partner_id"].astype(object).to_numpy()
        == chosen_id.reindex(rows["facility_id"]).to_numpy()
    ) & rows["reachable"].to_numpy()
    # unlimited: no capacity (<NA>), said by capacity_source
    cap_of = pd.Series(np.where(np.isinf(caps), np.nan, caps), index=partners.index)
    load_of = pd.Series(load, index=partners.index)
    rows["demand_units"] = rows["facility_id"].map(pd.Series(units, index=demand.index))
    rows["partner_capacity"] = rows["partner_id"].map(cap_of).astype("Float64")
    rows["partner_load"] = rows["partner_id"].map(load_of).astype("Float64")
    rows["capacity_assumed"] = (
        rows["partner_id"].map(pd.Series(assumed, index=partners.index)).astype("boolean")
    )
    rows["capacity_source"] = (
        rows["partner_id"].map(pd.Series(cap_source, index=partners.index)).astype("string")
    )
    info = {
        "capacity": True,
        "capacity_unit": rule.capacity.unit,
        "solver": "HiGHS (scipy.optimize.milp)",
        "solver_status": solved.status,
        "objective_time_min": round(float(rows.loc[rows["assigned"], "travel_time_min"].sum()), 3),
        "mip_gap": solved.gap,
        "not_served": int((~served).sum()),
        "capacity_column": rule.capacity.column,
        "partners_capacity_assumed": int(assumed.sum()),
        "partners_unlimited": int((np.isinf(caps)).sum()),
    }
    return rows, info


def no_partner_reason(rule: Rule) -> tuple[str, str]:
    """What to say when the facility list holds no partner of ``rule`` at all (zh, en)."""
    kinds_zh = "或".join(_label(k) for k in rule.to_kinds)
    kinds_en = " or ".join(registry.kind_label(k, "en") for k in rule.to_kinds)
    if rule.partner_filter:
        cond = "、".join("/".join(v) for v in rule.partner_filter.values())
        kinds_zh = f"{cond}{kinds_zh}"
        kinds_en = f"{kinds_en} ({', '.join('/'.join(v) for v in rule.partner_filter.values())})"
    return (
        f"规则 {rule.zh}：名录中没有{kinds_zh}，未配对",
        f"rule {rule.id}: the facility list has no {kinds_en}; not paired",
    )


def _reasons(
    rows: pd.DataFrame, rule: Rule, capacity: bool, *, no_partners: bool = False
) -> pd.DataFrame:
    """The reason (zh, en) of every pairing row: the explanation on each facility's assigned
    row (its first row when none is assigned), "alternative: rank r" on its other reachable
    rows. Worked on plain arrays, one facility at a time (a pandas group per facility took
    seconds for a city)."""
    kinds_zh = "或".join(_label(k) for k in rule.to_kinds)
    kinds_en = " or ".join(registry.kind_label(k, "en") for k in rule.to_kinds)
    if rule.partner_filter:
        cond = "、".join("/".join(v) for v in rule.partner_filter.values())
        kinds_zh = f"{cond}{kinds_zh}"
        kinds_en = f"{kinds_en} ({', '.join('/'.join(v) for v in rule.partner_filter.values())})"
    reason = rows["reason"].astype(object).to_numpy().copy()
    reason_en = rows["reason_en"].astype(object).to_numpy().copy()
    codes, _ = pd.factorize(rows["facility_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    order = order[codes[order] >= 0]  # rows without a facility id belong to no facility
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if len(order) else []
    cols = _ReasonColumns(rows)
    for members in groups:
        if no_partners:  # not a gap of the roads: the list has none of the partners at all
            zh, en = no_partner_reason(rule)
        else:
            near = [int(p) for p in members if cols.rank[p] <= rule.k]
            zh, en = _explain_rows(cols, near, rule, kinds_zh, kinds_en)
        if capacity:
            zh, en = _capacity_reason(rows.iloc[members], zh, en, kinds_zh, kinds_en)
        target = [int(p) for p in members if cols.assigned[p]] or [int(members[0])]
        for p in members:
            if p in target:
                reason[p], reason_en[p] = zh, en
            elif cols.reachable[p]:
                r = int(cols.rank[p])
                t = _minutes(float(cols.minutes[p]))
                reason[p] = f"备选：第{r}近，车程{t}分钟"
                reason_en[p] = f"alternative: rank {r}, {t} min"
    rows["reason"] = pd.array(reason, dtype="string")
    rows["reason_en"] = pd.array(reason_en, dtype="string")
    return rows


class _ReasonColumns:
    """The columns of pairing rows that the reasons read, as plain arrays."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.rank = rows["rank"].to_numpy()
        self.reachable = rows["reachable"].to_numpy(dtype=bool)
        self.assigned = rows["assigned"].to_numpy(dtype=bool)
        self.minutes = rows["travel_time_min"].to_numpy(dtype=float)
        self.name = rows["partner_name"].astype(object).to_numpy()
        self.kind = rows["partner_kind"].astype(object).to_numpy()
        self.method = rows["method"].astype(object).to_numpy()


def _explain_rows(
    cols: _ReasonColumns, near: list[int], rule: Rule, kinds_zh: str, kinds_en: str
) -> tuple[str, str]:
    """:func:`_explain` on the rows at positions ``near`` (one facility's rows by rank)."""
    ok = [p for p in near if cols.reachable[p]]
    if not ok:
        return (
            f"路网上没有可达的{kinds_zh}",
            f"no {kinds_en} can be reached on the road network",
        )
    zh, en = [], []
    for i, p in enumerate(ok):
        t = _minutes(float(cols.minutes[p]))
        name = cols.name[p]
        if i == 0:
            zh.append(f"最近的{_label(cols.kind[p])}为{name}，车程{t}分钟")
            en.append(f"nearest {registry.kind_label(cols.kind[p], 'en')}: {name}, {t} min")
        elif i < len(_ORDINALS_ZH):
            zh.append(f"{_ORDINALS_ZH[i]}为{name}，{t}分钟")
            en.append(f"{_ORDINALS_EN[i]}: {name}, {t} min")
    first = ok[0]
    if float(cols.minutes[first]) > rule.threshold_min:
        zh.append(f"超过{rule.threshold_min:g}分钟阈值")
        en.append(f"beyond the {rule.threshold_min:g}-minute threshold")
    if cols.method[first] == costs.STRAIGHT_LINE:
        zh.append("（无路网，按直线距离估算）")
        en.append("(no road network: straight-line estimate)")
    return "；".join(zh), "; ".join(en)


def _capacity_reason(
    group: pd.DataFrame, zh: str, en: str, kinds_zh: str, kinds_en: str
) -> tuple[str, str]:
    ok = group[group["reachable"]].sort_values("rank")
    if ok.empty:
        return zh, en
    nearest = ok.iloc[0]
    chosen = group[group["assigned"]]
    if chosen.empty:
        return (
            f"可达的{kinds_zh}均已满额，未能配对（{zh}）",
            f"every reachable {kinds_en} is full: not paired ({en})",
        )
    ch = chosen.iloc[0]
    if ch["partner_id"] == nearest["partner_id"]:
        return f"就近配对（容量之内）：{zh}", f"paired with the nearest (within capacity): {en}"
    t_near = float(nearest["travel_time_min"])
    t_ch = float(ch["travel_time_min"])
    cap, load = nearest["partner_capacity"], nearest["partner_load"]
    units = float(ch["demand_units"])
    if pd.notna(cap) and pd.notna(load) and float(cap) - float(load) < units:
        flag = nearest.get("capacity_assumed", False)
        assumed = bool(pd.notna(flag) and flag)
        why_zh = f"最近的{_label(nearest['partner_kind'])}{nearest['partner_name']}已满额"
        why_zh += f"（{'假定' if assumed else ''}容量{float(cap):g}，已配{float(load):g}）"
        why_en = f"the nearest, {nearest['partner_name']}, is full ({float(load):g}/{float(cap):g}"
        why_en += ", assumed capacity)" if assumed else ")"
    else:  # equal total time with another facility taking the nearest
        why_zh = f"最近的{nearest['partner_name']}由车程总和相同的安排占用"
        why_en = f"the nearest, {nearest['partner_name']}, goes to another facility at equal cost"
    extra = t_ch - t_near
    rank = int(ch["rank"])
    zh_out = (
        f"{why_zh}，改配第{rank}近的{ch['partner_name']}，车程{_minutes(t_ch)}分钟"
        f"（多{_minutes(extra)}分钟）"
    )
    en_out = (
        f"{why_en}; paired with rank {rank} {ch['partner_name']}, "
        f"{_minutes(t_ch)} min (+{_minutes(extra)} min)"
    )
    return zh_out, en_out


def _fees(rows: pd.DataFrame, demand: gpd.GeoDataFrame, cost: CostRule) -> pd.DataFrame:
    col = cost.residents_column
    residents = (
        pd.to_numeric(demand[col], errors="coerce")
        if col in demand.columns
        else pd.Series(np.nan, index=demand.index)
    )
    res = rows["facility_id"].map(residents).astype("Float64")
    fee = pd.array(
        [
            pd.NA if (not a or pd.isna(r)) else cost.fee(float(r))
            for a, r in zip(rows["assigned"], res, strict=True)
        ],
        dtype="Float64",
    )
    rows["residents"] = res.mask(~rows["assigned"].astype(bool))
    rows["fee_cny"] = fee
    rows["subsidy_cny"] = rows["fee_cny"] * cost.subsidy_share
    rows["net_cost_cny"] = rows["fee_cny"] - rows["subsidy_cny"]
    text = cost.describe()
    rows["fee_rule"] = pd.array(
        [
            (text if pd.notna(f) else f"无{_COLUMN_ZH.get(col, col)}数据，未计算 ({text})")
            if a
            else pd.NA
            for a, f in zip(rows["assigned"], rows["fee_cny"], strict=True)
        ],
        dtype="string",
    )
    return rows


def pair(
    network: Network,
    facilities: gpd.GeoDataFrame,
    rules: str | Path | Mapping[str, Any] | Rules | None = None,
    *,
    capacity: bool = False,
    only: Iterable[str] | None = None,
    home: Iterable[Any] | None = None,
    k: int | None = None,
    direction: str | None = None,
    time_limit_s: float = 60.0,
    progress: bool = False,
    info: dict[str, Any] | None = None,
    previous: Mapping[str, pd.DataFrame] | None = None,
    added: Iterable[Any] | None = None,
    raw: dict[str, pd.DataFrame] | None = None,
    options: TravelOptions | None = None,
    region: Any = None,
    **cost_kw: Any,
) -> pd.DataFrame:
    """Pair every elderly-care facility with its nearest partner under each rule.

    Parameters
    ----------
    network
        An osmnx-style graph, a compiled :class:`siting.graph.GraphArrays`, or ``None`` for
        straight-line estimates (``method="straight_line"``).
    facilities
        A registry (:mod:`siting.registry`): points indexed by id with ``name`` and ``kind``.
    rules
        A rule-set name, rules file, mapping or :class:`Rules` (default: the shipped rule set of
        ``region``, see :func:`load_rules`).
    capacity
        Respect partner capacities for the rules that declare one (exact minimum total time).
    only
        Rule ids to apply (default all).
    home
        Pair only these facilities (ids); every facility can still be a partner. For a
        partition with a border buffer: the buffer's facilities serve, the home ones are paired.
    k, direction
        Override every rule's number of listed partners / ``to_partner`` | ``from_partner``.
    time_limit_s
        Time limit of each capacity assignment; a run that hits it raises
        :class:`InfeasibleError` rather than pass a non-optimal answer as optimal.
    progress
        Show a progress bar over the rules.
    info
        If given, filled with per-rule details (counts, solver status, objective).
    previous, added, raw
        Incremental recompute: ``raw`` (a dict) is filled with each nearest-mode rule's exact
        search result (the long form of :func:`siting.costs.nearest`); passing such a result
        back as ``previous`` with the ids of the facilities ``added`` since, searches only from
        the added partners (merged into the earlier ranks: the k nearest of a union are the k
        best of each part's k nearest) and only for the added facilities to pair. The result
        equals a full recompute. Capacity-aware rules are always solved in full (the
        assignment is global).
    options
        A :class:`~siting.costs.args.TravelOptions` (snap distance, speeds, detour factor,
        direction) instead of the separate keywords; a keyword given as well overrides its field.
        Its ``direction`` is not used: each rule's (or ``direction=``) decides.
    region
        A Region or administrative code: picks the rule set (:func:`load_rules`).
    cost_kw
        Passed to :func:`siting.costs.nearest` (``max_snap_m``, ``access_speed_kph`` ...).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` (plus capacity and fee columns when used); for each rule, the
        facilities of its ``from`` kinds in registry order, ranks 1..k (and the assigned
        partner's row when capacity moves it beyond ``k``).
    """
    cost_args.with_options(options, None, None, None, None, None)  # a wrong type fails here
    cost_kw = {**cost_kw, "options": options}
    rs = load_rules(rules, region=region)
    chosen = list(rs) if only is None else [rs.get(r) for r in only]
    if not isinstance(facilities, gpd.GeoDataFrame):
        msg = f"facilities must be a registry GeoDataFrame, got {type(facilities).__name__}"
        raise TypeError(msg)
    for col in ("name", "kind"):
        if col not in facilities.columns:
            msg = f"facilities lack the column {col!r} (a registry has name and kind)"
            raise DataError(msg)
    added_ids = None if added is None else {str(a) for a in added}
    home_ids = None if home is None else {str(h) for h in home}
    net = (
        graph_arrays(network)
        if network is not None and not isinstance(network, GraphArrays)
        else network
    )
    frames = []
    details: dict[str, Any] = {}
    bar = _progress(chosen, progress)
    for rule in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(rule.id)
        if k is not None:
            rule = replace(rule, k=int(k))
        if direction is not None:
            if direction not in ("to_partner", "from_partner"):
                msg = f"direction must be to_partner or from_partner, got {direction!r}"
                raise ValueError(msg)
            rule = replace(rule, direction=direction)
        demand = facilities[facilities["kind"].isin(rule.from_kinds)]
        if home_ids is not None:
            demand = demand[demand.index.astype(str).isin(home_ids)]
        way = "to_facility" if rule.direction == "to_partner" else "from_facility"
        groups = _groups(facilities, demand, rule)
        detail: dict[str, Any] = {
            "facilities": len(demand),
            "partners": len({i for _, _, par in groups for i in par.index}),
            "threshold_min": rule.threshold_min,
            "capacity": False,
        }
        if len(groups) > 1 or groups[0][0] is not rule:
            detail["urban_facilities"] = sum(len(d) for r, d, _ in groups if r is not rule)
        if demand.empty:
            details[rule.id] = detail
            continue
        parts, nears = [], []
        for grule, gdemand, partners in groups:
            if capacity and grule.capacity is not None and len(partners):
                rows, extra = _pair_capacity(
                    grule, net, gdemand, partners, way, time_limit_s, cost_kw
                )
                detail.update(extra)
            else:
                near = _nearest(
                    net,
                    gdemand,
                    partners,
                    grule.k,
                    way,
                    cost_kw,
                    None if previous is None else previous.get(rule.id),
                    added_ids,
                )
                nears.append(near)
                rows = _frame(grule, gdemand, partners, near)
                rows["assigned"] = (rows["rank"] == 1) & rows["reachable"]
            rows = _reasons(
                rows, grule, bool(detail.get("capacity")), no_partners=len(partners) == 0
            )
            if rule.cost and rs.cost is not None:
                rows = _fees(rows, gdemand, rs.cost)
            parts.append(rows)
        if raw is not None and nears:
            raw[rule.id] = _in_order(nears, demand, "demand_id")
        rows = _in_order(parts, demand, "facility_id") if len(parts) > 1 else parts[0]
        first = rows[rows["assigned"]]
        detail["paired"] = int(first["facility_id"].nunique())
        detail["within_threshold"] = int(first["within_threshold"].sum())
        frames.append(rows.drop(columns=["reachable"]))
        details[rule.id] = detail
    if info is not None:
        info.update(details)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _groups(
    facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, rule: Rule
) -> list[tuple[Rule, gpd.GeoDataFrame, gpd.GeoDataFrame]]:
    """(rule, facilities to pair, partners) of a rule: one group, or, for a rule with
    ``urban_to`` over facilities with the column ``urban`` (:func:`mark_urban`), the rural
    facilities with ``to`` and the urban ones with ``urban_to`` (when the list holds any of
    those; else they keep ``to``)."""
    partners = _partners(facilities, rule)
    if not rule.urban_to or "urban" not in demand.columns:
        return [(rule, demand, partners)]
    urban = demand["urban"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    city_rule = replace(rule, to_kinds=rule.urban_to)
    city_partners = _partners(facilities, city_rule)
    if not urban.any() or city_partners.empty:
        return [(rule, demand, partners)]
    out = [(city_rule, demand[urban], city_partners)]
    if (~urban).any():
        out.insert(0, (rule, demand[~urban], partners))
    return out


def _in_order(parts: list[pd.DataFrame], demand: gpd.GeoDataFrame, key: str) -> pd.DataFrame:
    """Rows of several groups in the registry order of their facilities, then by rank."""
    both = pd.concat(parts, ignore_index=True)
    pos = pd.Index(demand.index.astype(str)).get_indexer(both[key].astype(str))
    order = np.lexsort((both["rank"].to_numpy(), pos))
    return both.iloc[order].reset_index(drop=True)


def merge_nearest(
    old: pd.DataFrame, new: pd.DataFrame, order: pd.Index, k: int, max_snap_m: float
) -> pd.DataFrame:
    """The ``k`` nearest of two results of :func:`siting.costs.nearest` for the same demand
    points (``order``) over disjoint facility sets, ranked by time then facility id."""
    both = pd.concat([old[old["reachable"]], new[new["reachable"]]], ignore_index=True)
    both["_d"] = order.get_indexer(pd.Index(both["demand_id"]))
    both["_f"] = both["facility_id"].astype(str)
    both = both.sort_values(["_d", "time_s", "_f"], kind="stable")
    both["rank"] = both.groupby("_d").cumcount() + 1
    both = both[both["rank"] <= k]
    # demand snap of every point (from any of its rows), for the placeholder ranks
    snap_m = pd.concat([old, new]).groupby("demand_id")["demand_snap_m"].first()
    method = str(pd.concat([old["method"], new["method"]]).iloc[0]) if len(old) + len(new) else ""
    have = both.groupby("_d").size().reindex(range(len(order)), fill_value=0)
    missing = np.repeat(np.arange(len(order)), (k - have.to_numpy()).clip(0))
    starts = have.to_numpy()[missing] + 1
    ranks = starts + (np.arange(len(missing)) - np.searchsorted(missing, missing))
    ids = order.take(missing)
    dsnap = snap_m.reindex(ids).to_numpy(dtype=float)
    pad = pd.DataFrame(
        {
            "demand_id": ids,
            "rank": ranks.astype(np.int64),
            "facility_id": pd.Series(
                [pd.NA] * len(missing), dtype=cast(Any, old["facility_id"].dtype)
            ).to_numpy(),
            "time_s": np.nan,
            "distance_m": np.nan,
            "method": method,
            "reachable": False,
            "demand_snap_m": dsnap,
            "facility_snap_m": np.nan,
            "snap_flag": dsnap > max_snap_m,
            "_d": missing,
            "_f": "",
        }
    )
    out = pd.concat([both, pad], ignore_index=True).sort_values(["_d", "rank"], kind="stable")
    out = out.drop(columns=["_d", "_f"]).reset_index(drop=True)
    out["rank"] = out["rank"].astype(np.int64)
    out["reachable"] = out["reachable"].astype(bool)
    out["snap_flag"] = out["snap_flag"].astype(bool)
    return out[list(costs.COLUMNS)]


def _nearest(
    net: GraphArrays | None,
    demand: gpd.GeoDataFrame,
    partners: gpd.GeoDataFrame,
    k: int,
    way: str,
    cost_kw: Mapping[str, Any],
    previous: pd.DataFrame | None,
    added: set[str] | None,
) -> pd.DataFrame:
    """costs.nearest, or its incremental equal from an earlier result and the added ids."""
    if previous is None or added is None:
        return costs.nearest(net, demand, partners, k=k, direction=way, **cost_kw)
    new_dem = demand.index.astype(str).isin(added)
    new_par = partners.index.astype(str).isin(added)
    old = previous[previous["demand_id"].astype(str).isin(set(demand.index[~new_dem].astype(str)))]
    if len(old) != k * int((~new_dem).sum()):
        msg = "the earlier result does not match the facilities (run in full instead)"
        raise SitingError(msg)
    snap_m = cost_args.with_options(
        cost_kw.get("options"), None, cost_kw.get("max_snap_m"), None, None, None
    )[1]
    max_snap = float(settings.max_snap_m if snap_m is None else snap_m)
    parts = []
    if (~new_dem).any():
        kept = demand[~new_dem]
        if new_par.any():
            more = costs.nearest(net, kept, partners[new_par], k=k, direction=way, **cost_kw)
            old = merge_nearest(old, more, pd.Index(kept.index), k, max_snap)
        parts.append(old)
    if new_dem.any():
        parts.append(costs.nearest(net, demand[new_dem], partners, k=k, direction=way, **cost_kw))
    near = pd.concat(parts, ignore_index=True)
    pos = pd.Index(demand.index).get_indexer(near["demand_id"])
    return near.iloc[np.lexsort((near["rank"].to_numpy(), pos))].reset_index(drop=True)


def _progress(items: Sequence[Rule], show: bool) -> Any:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="就近配对 pairing", unit="rule", leave=False)


def summarize(pairings: pd.DataFrame) -> pd.DataFrame:
    """Per rule: facilities, paired, within threshold (count and share), median and max time."""
    if pairings.empty:
        return pd.DataFrame(
            columns=["rule", "rule_zh", "facilities", "paired", "within_threshold", "share"]
        )
    grp = pairings.groupby("rule", sort=False)
    facilities = grp["facility_id"].nunique()
    chosen = pairings[pairings["assigned"]]
    cg = chosen.groupby("rule", sort=False)
    out = pd.DataFrame(
        {
            "rule_zh": grp["rule_zh"].first(),
            "facilities": facilities,
            "paired": cg["facility_id"].nunique().reindex(facilities.index, fill_value=0),
            "within_threshold": cg["within_threshold"]
            .sum()
            .reindex(facilities.index, fill_value=0),
            "threshold_min": grp["threshold_min"].first(),
            "median_min": cg["travel_time_min"].median().reindex(facilities.index).round(3),
            "max_min": cg["travel_time_min"].max().reindex(facilities.index).round(3),
        }
    )
    out["share_within"] = (out["within_threshold"] / out["facilities"]).round(4)
    return out.reset_index()
