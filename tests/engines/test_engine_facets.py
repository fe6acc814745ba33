"""The clarifying question comes from where the top candidates split in the tariff, with those lines as options."""

from __future__ import annotations

from assistant.engines.evidence import ScoredLine
from assistant.engines.facets import OTHER, clarifying_question
from assistant.models import TariffLine

KNIT, WOVEN = "Apparel and clothing accessories; knitted or crocheted", "Apparel, not knitted or crocheted"


def scored(code: str, *path: str, description: str) -> ScoredLine:
    line = TariffLine(code=code, level=len(code), description=description, path=path, ancestors=(), edition="t",
                      source="t")
    return ScoredLine(line=line, score=1.0)


def test_a_split_on_a_known_fact_asks_it_plainly():
    top = [scored("610510", KNIT, "Men's shirts", description="Of cotton"),
           scored("620520", WOVEN, "Men's shirts", description="Of cotton")]
    question, options = clarifying_question("cotton shirt", top)
    assert question == "Is it knitted or crocheted, or woven?"
    assert options == ["knitted or crocheted", "woven", OTHER]
    assert clarifying_question("knitted cotton shirt", top) == (None, [])  # already stated


def test_other_splits_are_named_by_the_lines_and_say_what_decides():
    top = [scored("0202300200", "Meat of bovine animals, frozen", description="Boneless"),
           scored("0202200200", "Meat of bovine animals, frozen", description="Other cuts with bone in"),
           scored("0202300400", "Meat of bovine animals, frozen", description="Boneless")]
    question, options = clarifying_question("frozen beef", top)
    assert question == "Which describes the goods best? The answer decides between 0202.30 or 0202.20."
    assert options == ["Boneless", "Other cuts with bone in", OTHER]
    assert clarifying_question("frozen beef, boneless", top) == (None, [])
    assert clarifying_question("frozen beef", top[:1]) == (None, [])
