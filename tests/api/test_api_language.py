"""Non-English descriptions are detected and the answer says so, suggesting an English description."""

from __future__ import annotations

import pytest
from api_support import T_SHIRT

from assistant.language import detect


@pytest.mark.parametrize(("text", "lang"), [
    ("camiseta de algodón para hombre", "es"),
    ("chemise pour homme en coton", "fr"),
    ("Herren T-Shirt aus Baumwolle", "de"),
    ("camiseta de algodão para homem", "pt"),
    (T_SHIRT, None),
    ("Wood screws of stainless steel, threaded, 40 mm", None),
    ("frozen beef, not processed", None),
    ("laptop", None),  # too little to tell: no notice
    ("", None),
])
def test_detect(text, lang):
    assert detect(text) == lang


def test_the_answer_says_the_description_is_not_english(api):
    spanish = api.classify(description="camiseta de algodón para hombre")
    assert "looks Spanish" in spanish["language_notice"] and "English description" in spanish["language_notice"]
    assert api.classify()["language_notice"] is None
    # an English fact added later is enough to lift the notice
    r = api.post(f"/v1/classifications/{spanish['id']}/info", "broker_a",
                 json={"text": "men's cotton T-shirt, knitted, for men, made of cotton jersey with short sleeves"})
    assert r.status_code in (200, 201), r.text
    assert r.json()["language_notice"] is None
