"""The vague-input detector: the packaged model (plain JSON) asks a question for descriptions that cannot decide a
chapter and leaves real descriptions alone; the answer keeps ranked, cited suggestions with capped confidence."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from assistant.engines import classify
from assistant.engines.vague import CONFIDENCE_CAP, VagueDetector, features, packaged_detector

VAGUE = ["gifts", "parts", "£5", "beige, one size", "Accessories", "sample", "10.00, girls", "Goods"]
CLEAR = [
    "Men's T-shirt, 100% cotton, knitted jersey, short sleeves",
    "Wood screws of stainless steel, threaded, 40 mm",
    "tablecloth fabric made of laminated PVC film and polyester",
    "Frozen boneless fillets of Atlantic salmon, vacuum packed",
]


def test_packaged_model_is_plain_json_with_a_card():
    files = resources.files("assistant.engines").joinpath("data")
    data = json.loads(files.joinpath("vague.json").read_text(encoding="utf-8"))
    assert {"weights", "intercept", "threshold", "scale", "cv"} <= set(data)
    assert 0.0 < data["threshold"] < 1.0 and len(data["weights"]) > 1000
    card = files.joinpath("vague.md").read_text(encoding="utf-8")
    assert "tariff train vague" in card and "out-of-fold" in card


def test_detector_separates_vague_from_described_goods():
    detector = packaged_detector()
    assert detector is not None
    assert [t for t in VAGUE if not detector.is_vague(t)] == []
    assert [t for t in CLEAR if detector.is_vague(t)] == []


def test_features_are_deterministic_and_named():
    a, b = features("Beige, one size"), features("beige,   one size")
    assert a == b and "s:tariff_share" in a and any(k.startswith("c:") for k in a)
    assert features("cotton")["s:tariff_share"] == 1.0


def test_vague_answer_asks_and_caps_confidence(hs_runtime):
    result = classify("gifts", runtime=hs_runtime, top=5)
    assert result.abstained and "chapter" in result.abstain_reason
    assert result.clarifying_question and result.clarifying_question.startswith("Needs more information")
    assert len(result.clarifying_options) >= 2 and "chapter" in result.clarifying_options[0]
    assert result.suggestions and all(s.confidence <= CONFIDENCE_CAP for s in result.suggestions)
    assert all(s.citations for s in result.suggestions)  # still ranked, still cited
    clear = classify(CLEAR[0], runtime=hs_runtime, top=5)
    assert not clear.abstained and clear.abstain_reason is None
    # The officer's answer to the question is a fact: with it the goods are described.
    answered = classify("gifts", context=["a men's knitted cotton T-shirt"], runtime=hs_runtime)
    assert not answered.abstained


def test_fit_and_threshold_on_a_tiny_set():
    pytest.importorskip("sklearn")
    from assistant.engines.vague_training import Sample, balanced, choose_threshold, fit

    samples = [Sample(t, True, "vague_terms") for t in VAGUE] + [Sample(t, False, "atlas_dev") for t in CLEAR] * 2
    rows = [features(s.text) for s in samples]
    y = np.array([s.vague for s in samples], dtype=int)
    model, index, scale = fit(rows, y, weights=balanced(samples), min_count=1)
    detector = VagueDetector(weights={n: float(model.coef_[0][j]) for n, j in index.items()},
                             intercept=float(model.intercept_[0]), threshold=0.5, scale=scale)
    p = np.array([detector.probability(s.text) for s in samples])
    assert (p[y == 1] > 0.5).all() and (p[y == 0] < 0.5).all()  # the JSON form scores as scikit-learn does
    t = choose_threshold(p, samples)
    assert (p[y == 0] < t).mean() >= 0.95
