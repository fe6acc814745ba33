"""Stated facts (negations included) and the lines they contradict; the clarifying question comes from where the top
candidates split in the tariff, with those lines as options, and is not asked again once answered "don't know"."""

from __future__ import annotations

from assistant.engines.evidence import ScoredLine
from assistant.engines.facets import OTHER, clarifying_question, contradictions, negated, open_question, stated_facts
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


T_SHIRTS = "Apparel and clothing accessories; knitted or crocheted: T-shirts, singlets and other vests; knitted or crocheted"
HANDBAGS = ("Articles of leather; saddlery and harness; travel goods, handbags and similar containers: Trunks; suit, "
            "camera cases; travel bags; wholly or mainly covered by leather, composition leather, plastic sheeting, "
            "textile materials, vulcanised fibre, paperboard: Cases and containers; handbags (whether or not with "
            "shoulder strap and including those without handle)")


def test_negated_facts_are_read_as_negations():
    assert negated("men's t-shirt. not of cotton or of wool") == {"cotton", "wool"}
    assert negated("handbag, isn't leather; non-alcoholic") == {"leather", "alcoholic"}
    assert negated("printed whether or not embroidered, not more than 50 cm, not sure") == set()
    # "not knitted" states no knitting: it never counts as saying the goods are knitted
    assert stated_facts("men's shirt. not knitted") == {"men's", "not knitted"}


def test_a_negated_fact_contradicts_the_lines_that_name_it_as_the_only_choice():
    said = "men's knitted t-shirt. not of cotton"
    assert contradictions(said, f"{T_SHIRTS}: T-shirts, singlets and other vests; of cotton, knitted or crocheted")
    assert not contradictions(said, f"{T_SHIRTS}: T-shirts, singlets and other vests; of textile materials "
                                    "(other than cotton), knitted or crocheted")
    assert contradictions("handbag. not leather", f"{HANDBAGS}, with outer surface of leather or of composition leather")
    # a heading that lists leather among other materials, or a chapter titled "Articles of leather", is no contradiction
    assert not contradictions("handbag. not leather", f"{HANDBAGS}, with outer surface of plastics or of textile materials")
    assert contradictions("beef. not frozen", "Meat and edible meat offal: Meat of bovine animals; frozen: Boneless")
    assert not contradictions("beef. not chilled", "Meat and edible meat offal: Meat of bovine animals; fresh or chilled")
    assert contradictions("men's shirt. not knitted", f"{T_SHIRTS}: Of cotton")  # "not knitted" is woven
    assert contradictions("shirt, not for men", "Shirts; men's or boys', of cotton")


def test_an_adults_garment_contradicts_the_statistical_suffix_for_children_and_back():
    # The tariff joins "Men's or boys'"; its statistical suffixes then split "Men's (338)" from "Boys' (338)".
    line = f"{T_SHIRTS}: Of cotton: Men's or boys': Other T-shirts: "
    assert contradictions("men's knitted cotton t-shirt", line + "Boys' (338)") == [
        "the goods are for men or women; this line is for boys or girls"]
    assert not contradictions("men's knitted cotton t-shirt", line + "Men's (338)")
    assert contradictions("boys' cotton t-shirt", line + "Men's (338)")
    assert not contradictions("boys' cotton t-shirt", line + "Boys' (338)")
    # a line for both, a request naming both, or one saying neither: nothing to contradict
    assert not contradictions("men's cotton t-shirt", f"{T_SHIRTS}: Of cotton: Men's or boys'")
    assert not contradictions("men's and boys' cotton t-shirts", line + "Boys' (338)")
    assert not contradictions("male cotton t-shirt", line + "Boys' (338)")
    assert not contradictions("cotton t-shirt", line + "Boys' (338)")


def test_a_question_answered_other_is_not_asked_again():
    top = [scored("610510", KNIT, "Men's shirts", description="Of cotton"),
           scored("620520", WOVEN, "Men's shirts", description="Of cotton")]
    question, options = open_question("cotton shirt", top, context=[])
    assert question and options[-1] == OTHER
    assert open_question("cotton shirt", top, context=[f"{OTHER}: {question}"]) == (None, [])
    assert open_question("cotton shirt", top, context=[f"{OTHER}: Is it for men or boys?"]) == (question, options)
