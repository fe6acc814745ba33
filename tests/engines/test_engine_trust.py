"""Trust: calibration and conformal sets on synthetic scores whose right answers are known, and the routing tags."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistant.engines.trust import OUTSIDE, CandidateSetResult, Trust, masses, route, softmax
from assistant.engines.trust_training import Record, fit_trust, judge, nested_cv, summarise


def synthetic(n: int, *, seed: int, outside: float) -> list[Record]:
    """Items whose right line is drawn from the candidates' own softmax (so scores are informative), or, with
    probability `outside`, is a line none of the candidates is."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        k = 20
        codes = [f"{rng.integers(10, 30):02d}{rng.integers(10, 20):02d}{rng.integers(10, 13):02d}{j:04d}"
                 for j in range(k)]
        codes = list(dict.fromkeys(codes))
        scores = rng.normal(0, 1.5, len(codes))
        probs = softmax(scores, 1.0)
        gold = "9999999999" if rng.random() < outside else codes[rng.choice(len(codes), p=probs)]
        recs.append(Record(dataset="synthetic", fold=i % 5, gold=(gold,), codes=tuple(codes),
                           scores=tuple(float(s) for s in scores)))
    return recs


def test_masses_sum_prefixes_best_first():
    got = masses(["6109100012", "6109100011", "6105100010"], np.array([0.5, 0.3, 0.2]), 6)
    assert list(got) == ["610910", "610510"]
    assert got["610910"] == pytest.approx(0.8)


@pytest.mark.parametrize("outside", [0.0, 0.3])
def test_conformal_sets_reach_their_coverage_on_fresh_items(outside):
    train, test = synthetic(5000, seed=1, outside=outside), synthetic(3000, seed=2, outside=outside)
    trust = fit_trust(train, temperature=1.0, softmax_k=50, min_group=10**9)
    raws = [{lv: masses(list(r.codes), softmax(list(r.scores), 1.0), lv) for lv in (4, 6, 10)} for r in test]
    figures = summarise(judge(trust, test, raws, coverage=0.9))
    for key in ("hs4", "hs6", "hts10"):  # 90 % within sampling error (2,000 calibration and 3,000 test items)
        assert 0.87 <= figures[f"set_coverage_{key}"] <= 0.94, (key, figures)
    # With 30 % of right answers outside the candidates, a 90 % set must often admit it may be incomplete.
    if outside:
        assert figures["set_open_hts10"] > 0.2
        assert figures["set_coverage_closed_hts10"] < 0.75
    else:
        assert figures["set_open_hts10"] < 0.05


def test_calibrated_confidence_is_calibrated_out_of_fold():
    figures = nested_cv(synthetic(3000, seed=3, outside=0.1), temperature=1.0, softmax_k=50, min_group=10**9)
    for key in ("hs6", "hts10"):
        assert figures["all"][f"ece_{key}"] < 0.04, figures["all"]
    # Raw softmax confidences, ignoring the 10 % of right answers outside the candidates, are overconfident.
    assert figures["all"]["top1_hts10"] < 0.9


def short_and_long(n: int, *, seed: int) -> list[Record]:
    """Two kinds of input with the same scores: a long description's best line is right as often as its softmax says,
    a two-word text's half as often (its right line is then outside the candidates)."""
    rng = np.random.default_rng(seed)
    recs = []
    for i, r in enumerate(synthetic(n, seed=seed, outside=0.0)):
        short = i % 2 == 0
        gold = ("9999999999",) if short and rng.random() < 0.5 else r.gold
        recs.append(Record(r.dataset, r.fold, gold, r.codes, r.scores, words=2 if short else 40))
    return recs


def test_input_aware_calibration_separates_short_from_long_inputs():
    from assistant.engines.trust_training import context_rows

    train, test = short_and_long(4000, seed=11), short_and_long(3000, seed=12)
    raws = [{lv: masses(list(r.codes), softmax(list(r.scores), 1.0), lv) for lv in (4, 6, 10)} for r in test]
    aware = fit_trust(train, temperature=1.0, softmax_k=50, min_group=10**9)
    blind = fit_trust(train, temperature=1.0, softmax_k=50, min_group=10**9, use_context=False)
    assert aware.levels[6].context is not None and blind.levels[6].context is None
    for kind in (2, 40):
        idx = [i for i, r in enumerate(test) if r.words == kind]
        got = {name: summarise(judge(t, [test[i] for i in idx], [raws[i] for i in idx]))
               for name, t in (("aware", aware), ("blind", blind))}
        # Blind to the input, one map serves both kinds: too confident on short texts, too shy on long ones.
        assert got["aware"]["ece_hs6"] < 0.05, (kind, got)
        assert got["blind"]["ece_hs6"] > got["aware"]["ece_hs6"] + 0.03, (kind, got)
    assert context_rows([Record("x", 0, ("1",), ("1",), (0.0,))], [raws[0]], 6) is None  # no word count: blind


def backed_and_unbacked(n: int, *, seed: int) -> list[Record]:
    """Same scores and query lengths; what differs is the best line's evidence: when precedents back it (first
    EVIDENCE value high) the right line is drawn from the softmax, else half the time it is outside the candidates."""
    from assistant.engines.features import EVIDENCE

    rng = np.random.default_rng(seed)
    recs = []
    for i, r in enumerate(synthetic(n, seed=seed, outside=0.0)):
        backed = i % 2 == 0
        gold = ("9999999999",) if not backed and rng.random() < 0.5 else r.gold
        evidence = (0.9 if backed else 0.1, *rng.random(len(EVIDENCE) - 1))
        recs.append(Record(r.dataset, r.fold, gold, r.codes, r.scores, words=10, evidence=evidence))
    return recs


def test_calibration_reads_the_best_lines_evidence(tmp_path):
    from dataclasses import replace

    train, test = backed_and_unbacked(4000, seed=21), backed_and_unbacked(3000, seed=22)
    raws = [{lv: masses(list(r.codes), softmax(list(r.scores), 1.0), lv) for lv in (4, 6, 10)} for r in test]
    aware = fit_trust(train, temperature=1.0, softmax_k=50, min_group=10**9)
    words_only = fit_trust([replace(r, evidence=None) for r in train], temperature=1.0, softmax_k=50,
                           min_group=10**9)
    assert aware.levels[6].context.reads_evidence and not words_only.levels[6].context.reads_evidence
    for backed in (True, False):
        idx = [i for i, r in enumerate(test) if (r.evidence[0] > 0.5) == backed]
        got = {name: summarise(judge(t, [test[i] for i in idx], [raws[i] for i in idx]))
               for name, t in (("aware", aware), ("words only", words_only))}
        assert got["aware"]["ece_hs6"] < 0.05, (backed, got)
        assert got["words only"]["ece_hs6"] > got["aware"]["ece_hs6"] + 0.03, (backed, got)
    # Saved and read back, it still reads the evidence; an answer without it (read back from a cache) is mapped
    # without the context, never an error.
    loaded = Trust.load(aware.save(tmp_path / "t.json"))
    r = test[0]
    with_ev = loaded.assess(list(r.codes), list(r.scores), words=10, evidence=list(r.evidence))[6]
    without = loaded.assess(list(r.codes), list(r.scores), words=10)[6]
    best = next(iter(with_ev))
    assert 0 <= without[best] <= 1 and with_ev == aware.assess(list(r.codes), list(r.scores), words=10,
                                                              evidence=list(r.evidence))[6]


def test_a_runner_up_is_never_stated_likelier_than_the_best_code():
    """Input-aware calibration rates the best code from the request's context, the others by their raw probability
    alone: where the context says the best code is weak, the runner-up's map could state more. It is capped."""
    trust = fit_trust(short_and_long(4000, seed=11), temperature=1.0, softmax_k=50, min_group=10**9)
    assert trust.levels[6].context is not None
    capped = 0
    for r in short_and_long(600, seed=13):
        assessed = trust.assess(list(r.codes), list(r.scores), words=r.words)
        for lv, probs in assessed.items():
            listed = [p for code, p in probs.items() if code != OUTSIDE]
            assert all(p <= listed[0] for p in listed[1:]), (lv, listed)
        raw = masses(list(r.codes), softmax(list(r.scores), 1.0), 6)  # best subheading first
        best, *others = raw
        capped += bool(others) and trust.levels[6].rest(raw[others[0]]) > assessed[6][best]
    assert capped > 0  # the short inputs' best codes are rated below what the runner-up's map alone would state


def test_higher_coverage_gives_larger_sets_and_the_model_round_trips(tmp_path):
    recs = synthetic(2000, seed=4, outside=0.05)
    trust = Trust.load(fit_trust(recs, temperature=1.0, softmax_k=50, min_group=10**9).save(tmp_path / "t.json"))
    r = recs[0]
    assessed = trust.assess(list(r.codes), list(r.scores), words=5)[6]
    small = trust.candidate_set(assessed, 6, coverage=0.6, chapter=None)
    large = trust.candidate_set(assessed, 6, coverage=0.95, chapter=None)
    assert set(small.codes) <= set(large.codes)
    assert len(large.codes) > len(small.codes) or large.open
    assert trust.levels[6].threshold(0.999999, None, min_group=1) == math.inf  # beyond n+1 items: cannot be reached


def _sets(codes: tuple[str, ...], *, open_: bool = False) -> dict[int, CandidateSetResult]:
    return {6: CandidateSetResult(level=6, coverage=0.9, codes=codes, open=open_)}


def test_routing_tags():
    assert route(abstained=False, sets=_sets(("610910",)), top6_confidence=0.93) == "quick_confirm"
    assert route(abstained=False, sets=_sets(("610910",)), top6_confidence=0.5) == "review"
    assert route(abstained=False, sets=_sets(("610910", "610990")), top6_confidence=0.95) == "review"
    assert route(abstained=False, sets=_sets(("610910",), open_=True), top6_confidence=0.95) == "needs_information"
    six = tuple(f"6109{i:02d}" for i in range(6))
    assert route(abstained=False, sets=_sets(six), top6_confidence=0.3) == "needs_information"
    assert route(abstained=True, sets=_sets(("610910",)), top6_confidence=0.95) == "needs_information"
    assert route(abstained=False, sets={}, top6_confidence=None) == "review"


def test_confidence_by_level_never_grows_with_the_level():
    from assistant.engines.assessment import coherent

    assert coherent({"4": 0.888, "6": 0.892, "10": 0.265}) == {"4": 0.888, "6": 0.888, "10": 0.265}
    assert coherent({"10": 0.5, "4": 0.3, "6": 0.9}) == {"4": 0.3, "6": 0.3, "10": 0.3}
    assert coherent({"4": 0.9, "6": 0.7}) == {"4": 0.9, "6": 0.7}  # already coherent: unchanged
