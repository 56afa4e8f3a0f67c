"""The facility kind vocabulary: kinds, labels, groups, hospital levels, inference from names.

Everything here comes from ``siting/data/kinds.yaml``: :data:`KINDS` (one :class:`KindInfo` per
kind), the groups :data:`ELDERLY_CARE_KINDS` and :data:`MEDICAL_KINDS`, the accepted hospital
levels :data:`HOSPITAL_LEVELS`, the service tiers :data:`TIERS` (with :data:`TIER_ZH` and
:func:`tier_of`: the one definition of medical coverage), :func:`kind_label` for maps and
reports, :func:`parse_level` for a level written in a name or type, and :func:`infer_kind` for a
web-map POI's kind.

For :mod:`siting.registry`, the lookups behind its kind and level columns: :data:`KINDS_TABLE`
(the whole table), :func:`lookup_table`, :data:`KIND_LOOKUP`, :data:`LEVEL_LOOKUP`,
:func:`keyword_table` and :func:`kind_with_level`.

A leaf: it imports nothing of siting but :mod:`siting._errors` and :mod:`siting._tables` (the
loader of the packaged data tables). :mod:`siting.registry` re-exports every name of the
planners' API (kinds, groups, labels, levels, inference).

>>> KINDS["health_center"].category, kind_label("health_center", "both")
('medical', '乡镇卫生院 township health centre')
>>> "nursing_home" in ELDERLY_CARE_KINDS and "hospital" in MEDICAL_KINDS
True
>>> tier_of("community_health_center"), TIERS["township"]
('township', ('health_center', 'community_health_center'))
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from siting._errors import DataError
from siting._tables import load_table, normalize_label

__all__ = [
    "CLINIC_KINDS",
    "ELDERLY_CARE_KINDS",
    "HOSPITAL_LEVELS",
    "KINDS",
    "KINDS_TABLE",
    "KIND_LOOKUP",
    "LEVEL_LOOKUP",
    "MEDICAL_KINDS",
    "TIERS",
    "TIER_ZH",
    "KindInfo",
    "infer_kind",
    "keyword_table",
    "kind_label",
    "kind_with_level",
    "lookup_table",
    "parse_level",
    "tier_of",
]

# --- the kind table (siting/data/kinds.yaml) ----------------------------------------------------


@dataclass(frozen=True)
class KindInfo:
    """One facility kind of ``siting/data/kinds.yaml``.

    Attributes
    ----------
    key
        The value of the registry's ``kind`` column (``"nursing_home"``).
    zh, en
        Chinese and English labels for maps and reports.
    category
        ``"elderly_care"``, ``"medical"`` or ``"integrated"`` (both).
    id_code
        Prefix of generated ids (``"NH"`` gives ``NH-511302-00001``).
    aliases
        Names accepted in a file's kind column (exact match, case, spaces, ``_`` and ``-``
        ignored).
    keywords
        Substrings of a POI's name or type that suggest this kind (:func:`infer_kind`).
    exclude
        Substrings that veto this kind for a POI (a 宠物医院 is not a hospital).
    """

    key: str
    zh: str
    en: str
    category: str
    id_code: str
    aliases: tuple[str, ...]
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()


_CATEGORIES: Final = ("elderly_care", "medical", "integrated")


_norm_value = normalize_label


def _load_table() -> dict[str, Any]:
    return load_table("kinds.yaml", required="kinds", what="kind table")


def lookup_table(
    name: str, groups: Mapping[str, Iterable[Any]], where: str = "kinds.yaml"
) -> dict[str, str]:
    """Alias lookup (normalised alias -> canonical value) of one table, refusing clashes."""
    out: dict[str, str] = {}
    for canonical, aliases in groups.items():
        for alias in [canonical, *aliases]:
            key = _norm_value(str(alias))
            if out.get(key, canonical) != canonical:
                msg = (
                    f"siting/data/{where}: {name} alias {alias!r} is given to both "
                    f"{out[key]!r} and {canonical!r}"
                )
                raise DataError(msg)
            out[key] = str(canonical)
    return out


def _load_kinds(table: Mapping[str, Any]) -> dict[str, KindInfo]:
    kinds: dict[str, KindInfo] = {}
    codes: dict[str, str] = {}
    for key, spec in table["kinds"].items():
        try:
            info = KindInfo(
                key=str(key),
                zh=str(spec["zh"]),
                en=str(spec["en"]),
                category=str(spec["category"]),
                id_code=str(spec["id_code"]),
                aliases=tuple(str(a) for a in spec.get("aliases", ())),
                keywords=tuple(str(k) for k in spec.get("keywords", ())),
                exclude=tuple(str(e) for e in spec.get("exclude", ())),
            )
        except (KeyError, TypeError) as exc:
            msg = f"siting/data/kinds.yaml: kind {key!r} lacks {exc}"
            raise DataError(msg) from exc
        if info.category not in _CATEGORIES:
            msg = f"siting/data/kinds.yaml: kind {key!r} has category {info.category!r}"
            raise DataError(msg)
        if info.id_code in codes:
            msg = (
                f"siting/data/kinds.yaml: id_code {info.id_code!r} is given to both "
                f"{codes[info.id_code]!r} and {key!r}"
            )
            raise DataError(msg)
        codes[info.id_code] = info.key
        kinds[info.key] = info
    return kinds


#: ``siting/data/kinds.yaml`` as read (kinds, hospital levels, ownership, point qualities).
KINDS_TABLE: Final = _load_table()

#: The facility kinds, by key, from ``siting/data/kinds.yaml``.
KINDS: Final[dict[str, KindInfo]] = _load_kinds(KINDS_TABLE)
#: Kinds that take in elderly people (integrated care centres included).
ELDERLY_CARE_KINDS: Final[tuple[str, ...]] = tuple(
    k for k, v in KINDS.items() if v.category in ("elderly_care", "integrated")
)
#: Kinds that give medical care (integrated care centres included).
MEDICAL_KINDS: Final[tuple[str, ...]] = tuple(
    k for k, v in KINDS.items() if v.category in ("medical", "integrated")
)
#: Kinds that are medical facilities only (integrated care centres excluded): the kinds of the
#: service tiers (:data:`TIERS`: 村卫生室、社区卫生服务站、卫生院、社区卫生服务中心、医院).
CLINIC_KINDS: Final[tuple[str, ...]] = tuple(k for k, v in KINDS.items() if v.category == "medical")


def _load_tiers(table: Mapping[str, Any], kinds: Mapping[str, KindInfo]) -> dict[str, Any]:
    tiers = table.get("tiers")
    if not isinstance(tiers, Mapping) or not tiers:
        msg = "siting/data/kinds.yaml: `tiers` (the service tiers of the medical kinds) is missing"
        raise DataError(msg)
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for tier, spec in tiers.items():
        if not isinstance(spec, Mapping) or "zh" not in spec or not spec.get("kinds"):
            msg = f"siting/data/kinds.yaml: tier {tier!r} needs `zh` and a list of `kinds`"
            raise DataError(msg)
        members = tuple(str(k) for k in spec["kinds"])
        for kind in members:
            if kind not in kinds:
                msg = f"siting/data/kinds.yaml: tier {tier!r} names unknown kind {kind!r}"
                raise DataError(msg)
            if kinds[kind].category != "medical":
                msg = (
                    f"siting/data/kinds.yaml: tier {tier!r} names {kind!r}, which is not a "
                    f"medical kind (category {kinds[kind].category!r})"
                )
                raise DataError(msg)
            if kind in seen:
                msg = (
                    f"siting/data/kinds.yaml: kind {kind!r} is in both tiers {seen[kind]!r} "
                    f"and {tier!r}"
                )
                raise DataError(msg)
            seen[kind] = str(tier)
        out[str(tier)] = (str(spec["zh"]), members)
    return out


_TIER_TABLE: Final = _load_tiers(KINDS_TABLE, KINDS)
#: The service tiers (服务层级), from the nearest level of care to the farthest: tier -> its kinds
#: (``"village"``: 村卫生室/社区卫生服务站, ``"township"``: 卫生院/社区卫生服务中心,
#: ``"hospital"``: 医院). A place is covered at tier X within T minutes when a facility of tier X
#: is reachable within T: the one definition of medical coverage (:mod:`siting.coverage`).
TIERS: Final[dict[str, tuple[str, ...]]] = {t: kinds for t, (_, kinds) in _TIER_TABLE.items()}
#: The Chinese label of each tier of :data:`TIERS`.
TIER_ZH: Final[dict[str, str]] = {t: zh for t, (zh, _) in _TIER_TABLE.items()}
_KIND_TIER: Final[dict[str, str]] = {k: t for t, kinds in TIERS.items() for k in kinds}


def tier_of(kind: str) -> str | None:
    """The service tier (a key of :data:`TIERS`) a facility kind belongs to.

    ``None`` for a kind of no tier (elderly-care kinds, ``integrated_care``).

    Raises
    ------
    ValueError
        If ``kind`` is not a kind of :data:`KINDS`.

    Examples
    --------
    >>> tier_of("community_health_station"), tier_of("hospital"), tier_of("nursing_home")
    ('village', 'hospital', None)
    """
    if kind not in KINDS:
        msg = f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}"
        raise ValueError(msg)
    return _KIND_TIER.get(kind)


#: Accepted values of ``level`` (医院等级).
HOSPITAL_LEVELS: Final[tuple[str, ...]] = tuple(KINDS_TABLE.get("hospital_levels", {}))

#: Kind aliases (normalised) -> kind key, for a file's kind column.
KIND_LOOKUP: Final = lookup_table("kind", {k: v.aliases for k, v in KINDS.items()})
#: Hospital level aliases (normalised) -> a value of :data:`HOSPITAL_LEVELS`.
LEVEL_LOOKUP: Final = lookup_table("hospital_levels", KINDS_TABLE.get("hospital_levels", {}))

_LEVEL_TEXT: Final = re.compile(
    r"(?P<num>III|II|I|[一二三123])\s*级\s*(?:(?P<grade>[特甲乙丙])\s*等)?"
    r"|(?P<short>[一二三])(?P<sgrade>[甲乙丙])"
    r"(?=$|[\s)\]】）>》、,，;；:：/|]|医院|综合|中医|专科|级|等)"
)
_LEVEL_UNRATED: Final = re.compile(r"未定级|未评级|未定等|未评等级|未分级")
_LEVEL_NUMBER: Final = {
    "三": "三级",
    "3": "三级",
    "III": "三级",
    "二": "二级",
    "2": "二级",
    "II": "二级",
    "一": "一级",
    "1": "一级",
    "I": "一级",
}


def parse_level(text: str | None) -> str | None:
    """The hospital level (医院等级) written in a text, as a value of :data:`HOSPITAL_LEVELS`.

    Reads a level column's cell (``三级``, ``三甲``, ``二级乙等``, ``3``), or a level written in
    a name or a POI type (``南充市中心医院（三级甲等）``, ``医疗保健服务;综合医院;三级甲等医院``,
    ``三甲医院``). The grade (甲等, 乙等 ...) is not kept: the level is what the pairing rules
    use. ``None`` when the text names no level.

    Examples
    --------
    >>> parse_level("南充市中心医院（三级甲等）"), parse_level("二乙"), parse_level("一级医院")
    ('三级', '二级', '一级')
    >>> parse_level("三甲镇卫生院") is None
    True
    """
    if text is None:
        return None
    raw = str(text)
    exact = LEVEL_LOOKUP.get(_norm_value(raw))
    if exact is not None:
        return exact
    norm = unicodedata.normalize("NFKC", raw)
    if _LEVEL_UNRATED.search(norm):
        return "未定级" if "未定级" in HOSPITAL_LEVELS else None
    m = _LEVEL_TEXT.search(norm)
    if m is None:
        return None
    value = _LEVEL_NUMBER[m["num"] or m["short"]]
    return value if value in HOSPITAL_LEVELS else None


def kind_label(kind: str, lang: str = "zh") -> str:
    """Return the label of a facility kind for maps and reports.

    Parameters
    ----------
    kind
        A key of :data:`KINDS`.
    lang
        ``"zh"`` (Chinese), ``"en"`` (English) or ``"both"`` (``"乡镇卫生院 township health
        centre"``).

    Returns
    -------
    str
        The label.

    Raises
    ------
    ValueError
        If ``kind`` or ``lang`` is unknown.

    Examples
    --------
    >>> kind_label("health_center")
    '乡镇卫生院'
    >>> kind_label("village_clinic", "en")
    'village clinic'
    """
    if kind not in KINDS:
        msg = f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}"
        raise ValueError(msg)
    info = KINDS[kind]
    if lang == "zh":
        return info.zh
    if lang == "en":
        return info.en
    if lang == "both":
        return f"{info.zh} {info.en}"
    msg = f"lang must be 'zh', 'en' or 'both', got {lang!r}"
    raise ValueError(msg)


# --- POI kinds ---------------------------------------------------------------------------------


def keyword_table(
    extra: Mapping[str, Iterable[str]] | None,
) -> dict[str, tuple[str, ...]]:
    """The name keywords of every kind, with ``extra`` ones added (``kind_keywords=``)."""
    table = {k: tuple(v.keywords) for k, v in KINDS.items()}
    for kind, words in (extra or {}).items():
        if kind not in KINDS:
            msg = f"kind_keywords names unknown kind {kind!r}; kinds are {', '.join(KINDS)}"
            raise ValueError(msg)
        if isinstance(words, str):
            words = [words]
        table[kind] = (*table[kind], *(str(w) for w in words))
    return table


def _match_kinds(text: str, keywords: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Kinds whose keywords occur in ``text``; a match inside a longer one of another kind loses."""
    norm = unicodedata.normalize("NFKC", text).casefold()
    found: list[tuple[int, int, str]] = []
    for kind, words in keywords.items():
        if any(unicodedata.normalize("NFKC", e).casefold() in norm for e in KINDS[kind].exclude):
            continue
        for word in words:
            w = unicodedata.normalize("NFKC", word).casefold()
            if not w:
                continue
            start = norm.find(w)
            while start != -1:
                found.append((start, start + len(w), kind))
                start = norm.find(w, start + 1)
    kept = [
        (s, e, k)
        for s, e, k in found
        if not any(k2 != k and s2 <= s and e2 >= e and (e2 - s2) > (e - s) for s2, e2, k2 in found)
    ]
    order: list[str] = []
    for _, _, k in sorted(kept):
        if k not in order:
            order.append(k)
    return order


def infer_kind(
    name: str,
    poi_type: str | None = None,
    *,
    keywords: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Return the kinds a web-map POI may be, from its name and its POI type string.

    Keywords come from ``kinds.yaml`` (``keywords``; ``exclude`` vetoes a kind, so a 宠物医院 is
    no hospital). Within one text, a keyword match lying inside a longer match of another kind
    loses (the more specific keyword wins). The name decides first; the POI type (such as Amap's
    ``"医疗保健服务;综合医院;卫生院"``, read from its most specific segment backwards) is used when
    the name matches no kind, and to choose among several kinds the name matches when it agrees
    with exactly one of them. A name matching unrelated kinds (``"X镇卫生院敬老院"``) otherwise
    returns them all: the caller reports it rather than guess.

    Parameters
    ----------
    name
        The POI's name.
    poi_type
        The POI's type or tag string, if any.
    keywords
        Extra keywords by kind, added to those of the table.

    Returns
    -------
    list of str
        Matching kinds, in the order they appear in the text; empty when none matches.

    Examples
    --------
    >>> infer_kind("龙门镇中心卫生院")
    ['health_center']
    >>> infer_kind("南充市第三人民医院", "医疗保健服务;综合医院;综合医院")
    ['hospital']
    >>> infer_kind("某镇卫生院敬老院")
    ['health_center', 'nursing_home']
    >>> infer_kind("爱心宠物医院")
    []
    """
    table = keyword_table(keywords)
    by_name = _match_kinds(name or "", table)
    if len(by_name) == 1:
        return by_name
    by_type: list[str] = []
    if poi_type:
        text = unicodedata.normalize("NFKC", poi_type)
        segments = [s for s in re.split(r"[;|/]", text) if s.strip()]
        for segment in [*reversed(segments), text]:
            by_type = _match_kinds(segment, table)
            if by_type:
                break
    if not by_name:
        return by_type
    agreed = [k for k in by_name if k in by_type]
    return agreed if len(agreed) == 1 else by_name


_LEVEL_PREFIX: Final = re.compile(
    r"^\s*[(\[【（]?\s*(?:III|II|I|[一二三123])\s*级\s*(?:[特甲乙丙]\s*等)?\s*[)\]】）]?\s*"
    r"|^\s*[(\[【（]?\s*[一二三][甲乙丙]\s*[)\]】）]?\s*"
)
_LEVEL_SUFFIX: Final = re.compile(
    r"\s*[(\[【（]\s*(?:III|II|I|[一二三123])\s*级\s*(?:[特甲乙丙]\s*等)?\s*[)\]】）]\s*$"
    r"|\s*[(\[【（]\s*[一二三][甲乙丙]\s*[)\]】）]\s*$"
)


def kind_with_level(text: str) -> str | None:
    """The kind of a kind cell that also names a level (``三级甲等医院``, ``医院（二级）``)."""
    norm = unicodedata.normalize("NFKC", text)
    rest = _LEVEL_SUFFIX.sub("", _LEVEL_PREFIX.sub("", norm, count=1), count=1)
    if rest == norm or not rest.strip():
        return None
    return KIND_LOOKUP.get(_norm_value(rest))
