"""`tariff classify` through the real script: listing attributes and category, bad --attr, vague input."""

from __future__ import annotations

import json


def test_classify_with_attributes_and_category(hs_runtime, tariff):
    home = hs_runtime.settings.home
    proc = tariff(home, "classify", "Crew-neck top", "--attr", "material=cotton", "--attr", "construction=knitted",
                  "--attr", "type=T-shirt", "--attr", "brand=Acme", "--category", "Apparel > T-shirts", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["attributes"] == {"material": "cotton", "construction": "knitted", "type": "T-shirt"}
    assert result["category"] == ["T-shirts", "Apparel"]
    assert any(s["code"].startswith("6109") for s in result["suggestions"])
    text = tariff(home, "classify", "Men's top", "-a", "material=cotton", "--category", "Apparel > T-shirts")
    assert text.returncode == 0 and "listing facts used: material=cotton; Apparel > T-shirts" in text.stdout


def test_bad_attr_is_one_line(hs_runtime, tariff):
    proc = tariff(hs_runtime.settings.home, "classify", "Men's top", "--attr", "cotton")
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "error: --attr 'cotton': expected NAME=VALUE, e.g. --attr material=cotton")


def test_vague_input_says_it_needs_more_information(hs_runtime, tariff):
    proc = tariff(hs_runtime.settings.home, "classify", "gifts")
    assert proc.returncode == 0, proc.stderr
    assert "NEEDS MORE INFORMATION" in proc.stdout and "? Needs more information" in proc.stdout


def test_each_suggestion_leads_with_what_the_list_is_ordered_by(us_runtime, tariff):
    """The offline engine lists suggestions by their subheading's probability: each leads with it (a 10-digit line's
    own probability, shown beside it, can be lower than the next line's), so the leading figures never rise."""
    import re

    home = us_runtime.settings.home
    query = "Bluetooth wireless earbuds with charging case"
    result = json.loads(tariff(home, "classify", query, "--json").stdout)
    text = tariff(home, "classify", query)
    assert text.returncode == 0, text.stderr
    led = re.findall(r"^\d+\. (\S+)\s+([\d.]+)% (subheading \S+|confidence)", text.stdout, flags=re.MULTILINE)
    assert [code for code, _, _ in led] == [s["display"] for s in result["suggestions"]]
    for (code, value, label), s in zip(led, result["suggestions"], strict=True):
        assert label == f"subheading {code[:7]}" and float(value) == round(100 * s["confidence_by_level"]["6"], 1)
    values = [float(v) for _, v, _ in led]
    assert values == sorted(values, reverse=True), led


def test_an_answer_listed_otherwise_leads_with_its_own_confidence():
    from assistant.engines.suggestions import headline
    from assistant.models import Suggestion

    line = Suggestion.for_code("4202925000", description="Musical instrument cases", path=[], confidence=0.014,
                               rationale="", citations=[], confidence_by_level={"4": 0.51, "6": 0.164, "10": 0.014})
    assert headline(line, by_subheading=True) == (0.164, "subheading 4202.92")
    assert headline(line, by_subheading=False) == (0.014, "confidence")  # an LLM's order: its own confidence
    six = line.model_copy(update={"code": "420292", "display": "4202.92", "level": 6, "confidence": 0.164})
    assert headline(six, by_subheading=True) == (0.164, "confidence")
