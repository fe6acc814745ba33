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
