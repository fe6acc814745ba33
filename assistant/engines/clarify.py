"""Clarifying questions: when the top candidates differ on a fact the description does not state, ask for it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import ScoredLine
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

_PCT = re.compile(r"\d+\s*%")


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
