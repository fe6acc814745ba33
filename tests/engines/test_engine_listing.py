"""Listing input: decisive attributes and category leaves reach the search; brand, colour, size, price and marketing
words do not; both engines and the entry point take them."""

from __future__ import annotations

import inspect

from assistant.engines import classify
from assistant.engines.llm import LLMEngine
from assistant.engines.query import build_query, category_leaves, clean_listing_text, listing_facts

LISTING = {
    "Brand": "Acme", "Material": "100% cotton", "Colour": "beige", "Size": "XL", "Price": "9.99",
    "fabric_type": "knitted jersey", "Gender": "men", "Pack size": "3", "Model number": "AC-1234",
}


def test_query_keeps_decisive_attributes_and_drops_the_rest():
    q = build_query("Gorgeous High-Quality NEW 2024 crew-neck tee, free shipping!", attributes=LISTING,
                    category="Home > Apparel > Men > T-shirts")
    assert q.facts == {"material": "100% cotton", "fabric type": "knitted jersey", "gender": "men"}
    assert set(q.ignored) == {"brand", "colour", "size", "price", "pack size", "model number"}
    assert q.category == ("T-shirts", "Men")
    for gone in ("Acme", "beige", "XL", "9.99", "AC-1234", "Gorgeous", "High-Quality", "2024", "free shipping", "NEW"):
        assert gone.lower() not in q.text.lower(), gone
    for kept in ("crew-neck tee", "100% cotton", "knitted jersey", "men", "T-shirts"):
        assert kept in q.text, kept
    assert "cotton" in q.expanded  # the thesaurus still adds tariff wording


def test_plain_descriptions_are_left_as_typed():
    assert build_query("New pneumatic tyres of rubber").text == "New pneumatic tyres of rubber"  # "new" decides 4011


def test_attribute_values_and_categories_of_any_shape():
    facts, ignored = listing_facts({"material": ["wool", "silk"], "waterproof": True, "colour": "red", "use": " "})
    assert facts == {"material": "wool, silk", "waterproof": "yes"} and ignored == ("colour",)
    assert category_leaves(["All", "Sports", "Cycling / Helmets"]) == ("Helmets", "Cycling")
    assert category_leaves("Other") == () and category_leaves(None) == ()
    assert clean_listing_text("Premium NEW") == "Premium NEW"  # nothing but marketing: kept rather than emptied


def test_attributes_change_the_answer_and_are_reported(hs_runtime):
    plain = classify("Men's top", runtime=hs_runtime, top=5)
    knitted = classify("Men's top", attributes={"material": "cotton", "construction": "knitted", "brand": "Acme"},
                       category="Apparel > T-shirts", runtime=hs_runtime, top=5)
    assert knitted.attributes == {"material": "cotton", "construction": "knitted"}  # brand left out
    assert knitted.category == ["T-shirts", "Apparel"]
    assert knitted.description == "Men's top" and knitted.context == []
    # The attributes change the answer, and it leads with knitted apparel (chapter 61) of cotton.
    assert [s.code for s in knitted.suggestions] != [s.code for s in plain.suggestions]
    assert knitted.suggestions[0].code.startswith("61") and "cotton" in " ".join(knitted.suggestions[0].path).lower(), \
        [s.code for s in knitted.suggestions]
    # Attributes that never decide a code change nothing.
    branded = classify("Men's top", attributes={"brand": "Acme", "colour": "red", "size": "L"}, runtime=hs_runtime)
    assert [s.code for s in branded.suggestions] == [s.code for s in plain.suggestions]


def test_both_engines_take_listing_input():
    from assistant.engines.offline import OfflineEngine

    for engine in (LLMEngine, OfflineEngine):
        params = inspect.signature(engine.classify).parameters
        assert {"attributes", "category", "context", "top"} <= set(params), engine
