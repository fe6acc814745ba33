"""Metric functions on hand-made outcomes: own-length scoring, any-gold, top-k, recall eligibility, ECE, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.evaluation.metrics import (
    ItemOutcome,
    accuracy,
    accuracy_at_coverage,
    behaviour,
    calibration,
    citations,
    ece,
    matches,
    per_chapter,
    percentile,
    recall,
    reliability,
    summarize,
    topk_correct,
    usage_totals,
)


def outcome(gold, codes=(), conf=None, **kw) -> ItemOutcome:
    gold = (gold,) if isinstance(gold, str) else tuple(gold)
    codes = tuple(codes)
    conf = tuple(conf) if conf is not None else tuple(1.0 / (i + 1) for i in range(len(codes)))
    kw.setdefault("gold_is_line", tuple(len(g) == 10 for g in gold))
    kw.setdefault("gold6_is_line", tuple(True for _ in gold))
    return ItemOutcome(id=kw.pop("id", gold[0]), description="d", gold_codes=gold, codes=codes, confidences=conf, **kw)


def test_matches_needs_both_codes_to_have_the_digits():
    assert matches("3920620000", "392062", 6)
    assert not matches("3920620000", "392062", 8)  # a 6-digit gold is never padded
    assert not matches("392062", "3920620000", 8)  # a 6-digit answer cannot be right at 8 digits
    assert not matches(None, "3920620000", 2)


def test_each_gold_is_scored_at_its_own_length_with_denominators():
    items = [
        outcome("392062", ["3920620000"]),  # 6-digit gold: scored at 2, 4, 6 only
        outcome("39206200", ["3920620000"]),  # 8-digit gold: right at 8, not scored at 10
        outcome("3920620000", ["3920629000"]),  # right to 6 digits only
        outcome("8471300100", []),  # abstention: wrong everywhere it is scored
    ]
    assert topk_correct(items[0], 8) is None and topk_correct(items[0], 10) is None
    assert topk_correct(items[1], 8) is True and topk_correct(items[1], 10) is None
    m = accuracy(items)
    assert m["n_by_level"] == {"2": 4, "4": 4, "6": 4, "8": 3, "10": 2}
    assert m["hs2_top1"] == pytest.approx(3 / 4)
    assert m["hs6_top1"] == pytest.approx(3 / 4)
    assert m["hts8_top1"] == pytest.approx(1 / 3)
    assert m["hts10_top1"] == 0.0


def test_any_gold_accepts_a_secondary_code_and_topk_looks_further_down():
    item = outcome(["6109100012", "6110202079"], ["6110202079", "6109100040", "6109100012"])
    m = accuracy([item])
    assert m["hts10_top1"] == 0.0 and m["hts10_top1_any"] == 1.0
    assert m["hs6_top1"] == 0.0 and m["hs6_top3"] == 1.0  # 610910 appears at rank 2
    assert m["hts10_top3"] == 1.0 and m["hts10_top5"] == 1.0
    assert m["hs4_top1"] == 0.0 and m["hs4_top1_any"] == 1.0


def test_recall_counts_only_items_whose_gold_is_a_line():
    found = outcome("3920620000", ["3921901500"], candidates=tuple(f"39219015{i:02d}" for i in range(30))
                    + ("3920620000",))
    missing_line = outcome("3920620099", ["3920620000"], candidates=("3920620099",), gold_is_line=(False,))
    short_gold = outcome("39206200", ["3920620000"], candidates=("3920620000",))
    m = recall([found, missing_line, short_gold])
    assert m["recall_n"] == 1  # the 8-digit gold and the gold that is no line are left out
    assert m["hts10_recall20"] == 0.0 and m["hts10_recall50"] == 1.0
    # 6-digit recall runs over distinct 6-digit prefixes: 392190 then 392062 -> second place
    assert m["recall6_n"] == 3
    assert m["hs6_recall5"] == 1.0


def test_six_digit_recall_skips_items_without_a_line_of_that_prefix():
    item = outcome("999999", ["3920620000"], candidates=("3920620000",), gold6_is_line=(False,))
    m = recall([item])
    assert m["recall6_n"] == 0 and m["hs6_recall5"] is None


def test_recall_any_gold():
    item = outcome(["3920620000", "3921901500"], ["x"], candidates=("3921901500",))
    m = recall([item])
    assert m["hts10_recall10"] == 0.0 and m["hts10_recall10_any"] == 1.0


def test_ece_on_a_known_example():
    conf = [0.9, 0.9, 0.9, 0.9, 0.3, 0.3]
    right = [True, True, True, False, False, False]
    # bin 0.9: accuracy .75 vs .9 (weight 4/6); bin 0.3: accuracy 0 vs .3 (weight 2/6) -> 0.1 + 0.1
    assert ece(conf, right) == pytest.approx(0.2)
    assert ece([1.0, 1.0, 0.0], [True, True, False]) == pytest.approx(0.0)
    assert ece([], []) is None
    bins = reliability(conf, right)
    assert len(bins) == 10 and sum(b["n"] for b in bins) == 6
    assert bins[9]["n"] == 4 and bins[9]["accuracy"] == pytest.approx(0.75)


def test_ece_floor_is_what_sampling_alone_gives_a_perfectly_calibrated_model():
    from assistant.calibration import ece_floor

    rng = np.random.default_rng(5)
    small = rng.uniform(0.05, 0.95, 200)
    large = np.repeat(small, 10)
    # Certain confidences leave nothing to chance; 200 items leave more than 2,000.
    assert ece_floor([0.0, 1.0, 1.0]) == 0.0 and ece_floor([]) is None
    assert ece_floor(small.tolist()) > 0.05 > ece_floor(large.tolist()) > 0.01
    assert ece_floor(small.tolist()) == ece_floor(small.tolist())  # fixed seed
    # It is a floor: a model off by 0.15 everywhere lands well above it.
    drawn = (rng.random(len(large)) < np.clip(large - 0.15, 0, 1)).tolist()
    assert ece(large.tolist(), drawn) > ece_floor(large.tolist()) + 0.1


def test_accuracy_at_coverage_ranks_by_confidence_and_resolves_ties_in_expectation():
    conf, right = [0.9, 0.8, 0.2, 0.1], [True, True, False, False]
    assert accuracy_at_coverage(conf, right, 0.5) == 1.0
    assert accuracy_at_coverage(conf, right, 0.75) == pytest.approx(2 / 3)
    assert accuracy_at_coverage(conf, right, 1.0) == 0.5
    flat = [1.0] * 4  # no signal: every coverage level sees the overall accuracy
    for c in (0.25, 0.5, 0.75, 1.0):
        assert accuracy_at_coverage(flat, [True, False, False, True], c) == pytest.approx(0.5)


def test_calibration_scores_at_the_answer_level_and_ranks_abstentions_last():
    items = [
        outcome("6109100012", ["6109100012"], [0.9]),
        outcome("6109100040", ["6109100012"], [0.8]),  # right at 6 digits, wrong at 10
        outcome("8471300100", [], []),  # abstention
        outcome("392062", ["3920620000"], [0.7]),  # 6-digit gold: not scored at 10 digits
    ]
    hts = calibration(items, answer_level=10)
    assert hts["ece_n"] == 2 and hts["ece_hs6_n"] == 3
    assert hts["ece"] == pytest.approx((0.1 + 0.8) / 2)
    assert hts["acc_at_100_coverage"] == pytest.approx(accuracy(items)["hts10_top1"])
    assert hts["acc_at_25_coverage"] == 1.0
    assert hts["acc_at_100_coverage_hs6"] == pytest.approx(3 / 4)
    hs = calibration(items, answer_level=6)
    assert hs["ece"] == hs["ece_hs6"]


def test_citation_validity_codes_and_behaviour():
    items = [
        outcome("6109100012", ["6109100012", "6109100040"], citation_labels=(("HTS 6109.10.00.12",), ()),
                citation_ok=((True,), ()), code_ok=(True, True), clarifying=True, abstained=True),
        outcome("6109100012", ["6109999999"], citation_labels=(("a", "b"),), citation_ok=((True, False),),
                code_ok=(False,)),
        outcome("6109100012", [], error="boom"),
    ]
    m = citations(items)
    assert m["citation_present"] == pytest.approx(2 / 3)
    assert m["citation_valid"] == pytest.approx(2 / 3) and m["n_citations"] == 3
    assert m["codes_valid"] == pytest.approx(2 / 3)
    b = behaviour(items)
    assert b["abstention_rate"] == pytest.approx(1 / 3) and b["clarifying_rate"] == pytest.approx(1 / 3)
    assert b["abstain_rate"] == pytest.approx(1 / 3)  # "needs more information", suggestions kept
    assert b["errors"] == 1
    # the abstained item's kept suggestion was right at 6 digits, neither answered one was
    assert b["hs6_top1_abstained"] == 1.0 and b["hs6_top1_answered"] == 0.0
    assert behaviour(items[1:])["hs6_top1_abstained"] is None  # nothing abstained: no figure, not 0


def test_per_chapter_and_latency_and_usage():
    items = [
        outcome("6109100012", ["6109100012"], latency_ms=10.0, usage={"prompt_tokens": 100, "cost": 0.01}),
        outcome("6110202079", ["6109100012"], latency_ms=30.0, usage={"prompt_tokens": 50, "model": "x"}),
        outcome("84713001", ["8471300100"], latency_ms=20.0),
    ]
    chapters = per_chapter(items)
    assert list(chapters) == ["61", "84"]
    assert chapters["61"]["n"] == 2 and chapters["61"]["hs6_top1"] == 0.5
    assert chapters["84"]["hts10_top1"] is None and chapters["84"]["n_hts10"] == 0
    usage = usage_totals(items)
    assert usage == {"prompt_tokens": 150, "cost": pytest.approx(0.01), "items_reporting": 2}
    for values in ([10.0, 30.0, 20.0], [5.0], [1.0, 2.0, 3.0, 4.0, 100.0]):
        assert percentile(values, 95) == pytest.approx(np.percentile(values, 95))
    m = summarize(items, answer_level=10, elapsed_s=2.0)
    assert m["p50_ms"] == 20.0 and m["throughput_items_per_s"] == 1.5
    assert m["usage"]["prompt_tokens"] == 150
    assert "usage" not in summarize(items[2:], answer_level=10)
