"""Facts a classification often turns on (knitted or woven, for men or women, material): contradictions and questions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .evidence import ScoredLine
from .query import words


@dataclass(frozen=True)
class Facet:
    """A fact the tariff often turns on, how the tariff words each value, and how a user states it."""

    question: str
    values: dict[str, tuple[str, ...]]  # option shown to the user -> words in a line path that mean it
    stated_by: tuple[str, ...]  # words in the description that already answer it


FACETS = (
    Facet(
        "Is it knitted or crocheted, or woven?",
        {"knitted or crocheted": ("knitted or crocheted",), "woven": ("not knitted", "woven")},
        ("knit", "knitted", "crocheted", "crochet", "woven", "jersey", "fleece", "denim", "twill", "poplin"),
    ),
    Facet(
        "Is it for men or boys, for women or girls, or for babies?",
        {"for men or boys": ("men's or boys'", "men's", "boys'"), "for women or girls": ("women's or girls'", "women's", "girls'"),
         "for babies": ("babies'",)},
        ("men", "mens", "men's", "boys", "boy's", "boys'", "women", "womens", "women's", "girls", "girl's", "girls'",
         "ladies", "baby", "babies", "infant", "infants", "unisex", "male", "female"),
    ),
    Facet(
        "What is it mainly made of (the material that predominates by weight)?",
        {"cotton": ("of cotton",), "synthetic fibers": ("of synthetic fibers", "of man-made fibers"),
         "wool or fine animal hair": ("of wool",), "plastics": ("of plastics",), "iron or steel": ("of iron or steel",
         "of stainless steel"), "aluminum": ("of aluminum",), "leather": ("of leather", "composition leather")},
        ("cotton", "polyester", "nylon", "acrylic", "rayon", "viscose", "wool", "silk", "linen", "synthetic",
         "man-made", "plastic", "plastics", "pvc", "polyethylene", "polypropylene", "steel", "iron", "aluminum",
         "aluminium", "leather", "rubber", "wood", "wooden", "glass", "paper", "copper", "brass", "ceramic"),
    ),
)

_KNIT = frozenset({"knit", "knitted", "crocheted", "crochet", "jersey", "fleece"})
_WOVEN = frozenset({"woven", "denim", "twill", "poplin"})
_MEN = frozenset({"men", "mens", "men's", "boys", "boy's", "boys'", "male"})
_WOMEN = frozenset({"women", "womens", "women's", "ladies", "girls", "girl's", "girls'", "female", "woman", "woman's"})
_LINE_MEN = re.compile(r"\bmen's|\bboys'")
_LINE_WOMEN = re.compile(r"\bwomen's|\bgirls'")


def stated_facts(query: str) -> frozenset[str]:
    """The facet words of the query that contradictions() looks at (empty: nothing to check)."""
    return frozenset(set(words(query)) & (_KNIT | _WOVEN | _MEN | _WOMEN))


def contradictions(query: str, line_text: str, *, said: frozenset[str] | None = None) -> list[str]:
    """Facts stated in the query that the line's own wording (with its ancestors) contradicts."""
    said = stated_facts(query) if said is None else said
    if not said:
        return []
    text = line_text.lower()
    out = []
    knitted_line = "knitted or crocheted" in text and "not knitted" not in text
    if said & _KNIT and not said & _WOVEN and ("not knitted" in text or "woven" in text):
        out.append("the goods are knitted; this line is for goods not knitted")
    if said & _WOVEN and not said & _KNIT and knitted_line:
        out.append("the goods are woven; this line is for knitted or crocheted goods")
    men, women = bool(_LINE_MEN.search(text)), bool(_LINE_WOMEN.search(text))
    if said & _MEN and not said & _WOMEN and women and not men:
        out.append("the goods are for men or boys; this line is for women or girls")
    if said & _WOMEN and not said & _MEN and men and not women:
        out.append("the goods are for women or girls; this line is for men or boys")
    return out


def clarifying_question(query: str, top: list[ScoredLine]) -> tuple[str | None, list[str]]:
    """A question and quick-reply options when the top candidates split on a facet the query leaves open."""
    if len(top) < 2:
        return None, []
    said = set(words(query))
    for facet in FACETS:
        if said & set(facet.stated_by):
            continue
        present = []
        for option, markers in facet.values.items():
            for c in top:
                text = " ".join([*c.line.path, c.line.description]).lower()
                if any(m in text for m in markers):
                    present.append(option)
                    break
        if len(present) >= 2:
            return facet.question, present
    return None, []
