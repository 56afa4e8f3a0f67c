"""Every quote of the pairing rules and the indicators is copied exactly from its seed document.

The check runs twice: against the seed documents (``../shared/seeds/`` beside the repository)
where they are present, and always against the copy of the quoted sentences shipped in the
package (``siting/data/seed_quotes.yaml``), so that CI never skips it. A changed character -
a full-width comma for an ASCII one, a dropped space - fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from siting import pairing

DATA = Path(pairing.__file__).with_name("data")
SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


def _doc_id(document: Any) -> str:
    """``"000"`` from ``"000"``, ``0`` or ``"000_677695924353f7fc.txt"``."""
    if isinstance(document, int):
        return f"{document:03d}"
    return str(document).strip()[:3]


def shipped() -> dict[str, Any]:
    data = yaml.safe_load((DATA / "seed_quotes.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def shipped_sentences() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in shipped()["sentences"]:
        out.setdefault(_doc_id(item["document"]), []).append(str(item["sentence"]))
    return out


def rule_quotes() -> list[tuple[str, str, str]]:
    """(where, document id, quote) of every rule of every shipped rule set and the fee rule."""
    out = []
    for name in pairing.RULE_SETS:
        rules = pairing.load_rules(name)
        for rule in rules:
            out += [(f"{name}.{rule.id}", doc, q) for doc, q in rule.quotes]
    raw = yaml.safe_load((DATA / "pairing_rules.yaml").read_text(encoding="utf-8"))
    src = raw["cost"]["source"]
    out.append(("cost", _doc_id(src["document"]), str(src["quote"])))
    return out


def indicator_quotes() -> list[tuple[str, str, str]]:
    raw = yaml.safe_load((DATA / "indicators.yaml").read_text(encoding="utf-8"))
    out = []
    for item in raw.get("indicators") or []:
        for src in item.get("sources") or []:
            out.append((f"indicator {item['id']}", _doc_id(src["document"]), str(src["quote"])))
    return out


def missing(quotes: list[tuple[str, str, str]], texts: dict[str, list[str]]) -> list[str]:
    """The quotes found in none of their document's texts (exact, character by character)."""
    return [
        f"{where}: {doc}: {quote!r}"
        for where, doc, quote in quotes
        if not any(quote in text for text in texts.get(doc, []))
    ]


def seed_texts() -> dict[str, list[str]]:
    return {p.name[:3]: [p.read_text(encoding="utf-8")] for p in sorted(SEEDS.glob("*.txt"))}


needs_seeds = pytest.mark.skipif(
    not SEEDS.is_dir(), reason="the seed documents are not beside the repository"
)


def test_every_shipped_rule_quotes_its_seed() -> None:
    for name in pairing.RULE_SETS:
        for rule in pairing.load_rules(name):
            assert rule.quotes, f"{name}.{rule.id} quotes no seed sentence"
            for doc, quote in rule.quotes:
                assert doc in {"000", "001", "002", "004"}, (name, rule.id, doc)
                assert quote.strip() == quote and len(quote) >= 10, (name, rule.id, quote)
                assert quote in rule.source  # the text of the source shows the quote


def test_rule_quotes_are_in_the_shipped_copy() -> None:
    assert missing(rule_quotes(), shipped_sentences()) == []


def test_indicator_quotes_are_in_the_shipped_copy() -> None:
    quotes = indicator_quotes()
    assert quotes, "indicators.yaml has no quotes to check"
    assert missing(quotes, shipped_sentences()) == []


@needs_seeds
def test_rule_and_indicator_quotes_are_in_the_seeds() -> None:
    assert missing(rule_quotes() + indicator_quotes(), seed_texts()) == []


@needs_seeds
def test_the_shipped_copy_is_exactly_the_seeds() -> None:
    seeds = seed_texts()
    files = {_doc_id(d): v["file"] for d, v in shipped()["documents"].items()}
    assert files == {p.name[:3]: p.name for p in SEEDS.glob("*.txt")}
    for doc, sentences in shipped_sentences().items():
        for sentence in sentences:
            assert sentence in seeds[doc][0], (doc, sentence)


def test_a_changed_character_is_caught() -> None:
    texts = shipped_sentences()
    where, doc, quote = next(q for q in rule_quotes() if "，" in q[2])
    assert missing([(where, doc, quote)], texts) == []
    for changed in (
        quote.replace("，", ",", 1),  # full-width comma for an ASCII one
        quote[:-1] + ("." if quote[-1] == "。" else "。"),
        quote[:5] + quote[6:],  # a dropped character
    ):
        assert missing([(where, doc, changed)], texts) == [f"{where}: {doc}: {changed!r}"]
    # the quote of the wrong document is not found either
    other = "002" if doc != "002" else "000"
    assert missing([(where, other, quote)], texts)


def test_the_xuanhan_green_channel_quotes_the_seed_not_a_paraphrase() -> None:
    green = pairing.load_rules("xuanhan").get("green_channel")
    assert ("000", "病情较重的通过绿色通道送往就近卫生院住院治疗，康复出院后送回原敬老院。") in (
        green.quotes
    )
    assert "送往就近医疗机构" not in green.source
    assert green.to_kinds == ("health_center",)
