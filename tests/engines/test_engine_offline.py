"""The offline engine on real indexes: HS 2022 only (6-digit answers) and the full US corpus (10-digit answers)."""

from __future__ import annotations

import pytest

from assistant.engines import classify, get_engine
from assistant.engines.facets import OTHER, contradictions
from assistant.engines.offline import OfflineEngine
from assistant.errors import InputError
from assistant.models import SourceKind


def _check_valid(result, runtime):
    """Every code is a leaf of the loaded nomenclature; every citation resolves to a stored passage."""
    nomen = runtime.catalog.nomenclature
    assert result.suggestions, "expected suggestions"
    for s in result.suggestions:
        assert nomen.is_leaf(s.code), s.code
        assert 0.0 <= s.confidence <= 1.0
        assert s.citations, f"{s.code} has no citation"
        for c in s.citations:
            stored = runtime.catalog.passage(c.source_id)
            assert stored is not None and stored.label == c.label
    confidences = [s.confidence for s in result.suggestions]
    assert confidences == sorted(confidences, reverse=True) or len({s.code[:6] for s in result.suggestions}) == len(
        result.suggestions
    )


def test_hs_only_answers_at_six_digits_with_citations(hs_runtime):
    result = classify("men's knitted cotton t-shirt", runtime=hs_runtime, top=5)
    _check_valid(result, hs_runtime)
    assert {s.level for s in result.suggestions} == {6}
    assert result.edition == "HS 2022" and result.engine == "offline" and not result.degraded
    assert result.corpus_snapshot == hs_runtime.catalog.snapshot
    assert any(s.code.startswith("6109") for s in result.suggestions[:3])
    # Suggestions are alternatives: one line per subheading.
    assert len({s.code[:6] for s in result.suggestions}) == len(result.suggestions)


def test_follow_up_context_refines_the_same_request(hs_runtime):
    plain = classify("cotton shirt", runtime=hs_runtime)
    knitted = classify("cotton shirt", context=["it is knitted"], runtime=hs_runtime)
    assert knitted.context == ["it is knitted"]
    assert knitted.suggestions[0].code[:2] == "61"  # chapter 61: knitted or crocheted apparel
    assert [s.code for s in plain.suggestions] != [s.code for s in knitted.suggestions]


def test_clarifying_question_when_construction_is_unknown(hs_runtime):
    result = classify("cotton shirt", runtime=hs_runtime)
    assert result.clarifying_question and "knitted" in result.clarifying_question
    assert "woven" in result.clarifying_options
    answered = classify("cotton shirt", context=["knitted or crocheted"], runtime=hs_runtime)
    assert answered.clarifying_question is None or "knitted" not in answered.clarifying_question


@pytest.mark.parametrize(("description", "fact", "contradicted"), [
    ("men's knitted t-shirt", "not of cotton", "610910"),  # T-shirts ... of cotton
    ("handbag", "not leather", "420221"),  # handbags ... with outer surface of leather
])
def test_a_negative_fact_moves_the_lines_it_contradicts_below_the_rest(hs_runtime, description, fact, contradicted):
    engine = OfflineEngine(hs_runtime)
    before = [c.line.code for c in engine.gather(description).candidates]
    assert contradicted in before[:3]  # the words alone favour the line the fact rules out
    ev = engine.gather(description, context=[fact])
    after = [c.line.code for c in ev.candidates]
    flags = [bool(c.contradicted) for c in ev.candidates]
    assert not flags[0] and flags == sorted(flags)  # every contradicted line below every other
    assert contradicted not in after or ev.candidates[after.index(contradicted)].contradicted
    result = engine.answer(description, ev, context=[fact], top=5)
    assert result.suggestions[0].code != contradicted and result.suggestions[0].code in before
    assert all(s.code != contradicted or s.confidence == 0.0 for s in result.suggestions)
    # the answer still says what would change it: a question on where the remaining lines split
    assert result.clarifying_question and result.clarifying_options[-1] == OTHER


def test_dont_know_is_not_searched_and_the_question_is_not_asked_again(hs_runtime):
    first = classify("cotton shirt", runtime=hs_runtime)
    assert first.clarifying_question
    unsure = f"{OTHER}: {first.clarifying_question}"
    again = classify("cotton shirt", context=[unsure], runtime=hs_runtime)
    assert again.context == [unsure] and again.clarifying_question is None
    assert [s.code for s in again.suggestions] == [s.code for s in first.suggestions]


def test_candidates_cover_more_than_the_suggestions(hs_runtime):
    result = classify("stainless steel kitchen knife", runtime=hs_runtime, top=3)
    assert len(result.suggestions) == 3
    assert len(result.candidates) > 3
    assert all(hs_runtime.catalog.nomenclature.is_leaf(c.code) for c in result.candidates)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_description_is_an_input_error(hs_runtime, bad):
    with pytest.raises(InputError):
        classify(bad, runtime=hs_runtime)


def test_unknown_engine_is_an_input_error(hs_runtime):
    with pytest.raises(InputError, match="unknown engine"):
        get_engine("magic", runtime=hs_runtime)


def test_stated_facts_contradicting_a_line():
    assert contradictions("knitted cotton shirt for men", "Shirts; men's or boys', of cotton (not knitted or crocheted)")
    assert contradictions("women's blouse", "Men's or boys' shirts")
    assert not contradictions("women's blouse", "Women's or girls' blouses")
    assert not contradictions("cotton shirt", "Shirts; men's or boys', of cotton (not knitted or crocheted)")


def test_us_corpus_answers_at_ten_digits_with_line_heading_and_notes(us_runtime):
    result = classify("men's knitted cotton t-shirt", runtime=us_runtime, top=5)
    _check_valid(result, us_runtime)
    assert result.edition.startswith("HTS")
    top = result.suggestions[0]
    assert top.level == 10 and top.code.startswith("6109")
    labels = [c.label for c in top.citations]
    assert labels[0] == f"HTS {top.display}" and "HTS 6109" in labels  # the line and its heading
    assert top.general_rate  # duty rate inherited from the 8-digit line
    assert top.path[0].lower().startswith("apparel") and top.path[-1] == top.description


def test_exclusion_note_demotes_and_is_cited(us_runtime):
    engine = OfflineEngine(us_runtime)
    ev = engine.gather("orthopedic surgical belts, knitted")
    # Chapters 61 and 62 both send surgical belts to heading 9021: the notes of whichever was checked say so.
    [ch] = sorted({"61", "62"} & set(ev.excluded))[:1]
    assert ev.excluded[ch].startswith(f"Chapter {ch}, Note")
    demoted = [c for c in ev.candidates if c.line.chapter == ch]
    assert all(any("demoted" in r for r in c.reasons) for c in demoted)
    # The note names where such goods go (heading 9021); those lines come in near the top, citing the note.
    sent = [c for c in ev.candidates[:10] if c.line.code.startswith("9021")]
    assert sent, [c.line.code for c in ev.candidates[:10]]
    assert any(p.label == ev.excluded[ch] for p in sent[0].evidence)


def test_rulings_and_notes_are_supplied_as_evidence(us_runtime):
    ev = OfflineEngine(us_runtime).gather("garlic powder")
    assert ev.rulings and all(p.kind is SourceKind.RULING for p in ev.rulings)
    assert ev.gris and ev.notes
    assert ev.candidates[0].line.code[:4] == "0712"


def test_suggestions_list_the_most_probable_subheading_first():
    from assistant.engines.suggestions import subheading_first

    # Line A is the single best line, but subheading 6110.20 holds more probability in its two lines together.
    probs = {"6109100012": 0.30, "6110200020": 0.25, "6110200075": 0.20, "6105100010": 0.15}
    codes = ["6109100012", "6110200020", "6110200075", "6105100010", "6109100040", "6205200000"]
    got = subheading_first(codes, probs)
    assert got[:3] == ["6110200020", "6110200075", "6109100012"]  # 0.45 > 0.30: its best line first, ranker order
    assert got[3:5] == ["6109100040", "6105100010"]  # same subheading as A (0.30) before 6105.10 (0.15)
    assert got[-1] == "6205200000"  # no share (beyond the pool or contradicted): last, in ranker order
    assert subheading_first(codes, {}) == codes


def test_the_answer_order_follows_subheading_probability(us_runtime):
    engine = OfflineEngine(us_runtime)
    ev = engine.gather("men's knitted cotton t-shirt")
    result = engine.answer("men's knitted cotton t-shirt", ev, context=None, top=5)
    pool = [c for c in ev.candidates[:50] if not c.contradicted]
    shares = dict(zip((c.line.code for c in pool), engine.ranker.probabilities([c.score for c in pool])))
    mass = [sum(p for code, p in shares.items() if code[:6] == s.code[:6]) for s in result.suggestions]
    assert mass == sorted(mass, reverse=True) and len(result.suggestions) == 5


def test_candidates_carry_the_evidence_trust_reads_and_never_show_it(us_runtime):
    import json

    import numpy as np

    from assistant.engines.features import EVIDENCE, EVIDENCE_COLUMNS
    from assistant.engines.query import build_query

    engine = OfflineEngine(us_runtime)
    text = "men's knitted cotton t-shirt"
    result = classify(text, runtime=us_runtime)
    first = result.candidates[0]
    assert first.signals is not None and len(first.signals) == len(EVIDENCE)
    # The values are the ranker's feature row of that very line.
    q = build_query(text)
    signals, _ = engine.collect(q)
    leaves, X = engine.candidate_rows(q, engine.keep_precedents(signals))
    row = X[[ln.code for ln in leaves].index(first.code)]
    assert np.allclose(first.signals, [row[j] for j in EVIDENCE_COLUMNS])
    # Internal: neither the JSON an integrator reads nor a stored answer carries them.
    assert "signals" not in json.loads(result.model_dump_json())["candidates"][0]
