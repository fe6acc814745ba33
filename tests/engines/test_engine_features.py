"""Feature rows on a real small index: names listed once, values in range, precedents and their leave-out."""

from __future__ import annotations

import math

import numpy as np

from assistant.engines.features import FEATURES, INDEX
from assistant.engines.offline import OfflineEngine
from assistant.engines.query import build_query


def rows_for(runtime, text: str, *, leave_out=None):
    engine = OfflineEngine(runtime, ranker=None, leave_out=leave_out)
    q = build_query(text)
    signals, _ = engine.collect(q)
    signals = engine.keep_precedents(signals)
    leaves, X = engine.candidate_rows(q, signals)
    return signals, [ln.code for ln in leaves], X


def test_feature_names_are_listed_once_and_rows_have_them_all(tiny_precedent_runtime):
    runtime, _, _ = tiny_precedent_runtime
    assert len(FEATURES) == len(set(FEATURES)) == len(INDEX)
    signals, codes, X = rows_for(runtime, "knitted cotton t-shirt for men")
    assert X.shape == (len(codes), len(FEATURES)) and len(codes) > 20
    assert np.isfinite(X).all()
    assert len(set(codes)) == len(codes), "a line is a candidate once"
    col = {name: X[:, i] for name, i in INDEX.items()}
    for name in ("dense_line", "dense_6", "dense_4", "lex_line", "lex_4", "hs_6", "prec_6_share"):
        assert (col[name] >= 0).all() and (col[name] <= 1.0001).all(), name
    assert (col["level"] == 6).all()  # HS-only index: every line is a subheading
    assert (col["dense_4_gap"] >= -1e-9).all()  # the best heading has gap 0
    # The precedents of 6109.10 vote for it: its row carries them, a far-off line does not.
    row = X[codes.index("610910")]
    assert row[INDEX["prec_6_count"]] >= 1 and row[INDEX["prec_6_rank"]] == 1
    assert row[INDEX["prec_6_max"]] > 0.5 and row[INDEX["head_rank_prec"]] == 1
    far = [i for i, c in enumerate(codes) if not c.startswith("61")]
    assert far and all(X[i, INDEX["prec_4_count"]] <= row[INDEX["prec_4_count"]] for i in far)
    assert not math.isnan(row[INDEX["prior_6"]])


def test_left_out_precedents_leave_no_trace_in_the_rows(tiny_precedent_runtime):
    runtime, _, _ = tiny_precedent_runtime
    _, codes, X = rows_for(runtime, "knitted cotton t-shirt for men", leave_out=lambda v: True)
    for name in ("prec_6_count", "prec_6_sum", "prec_4_count", "prec_best", "prec_10_count"):
        assert (X[:, INDEX[name]] == 0).all(), name
    # Leaving out one dataset keeps the other's votes.
    signals, _, _ = rows_for(runtime, "knitted cotton t-shirt for men", leave_out=lambda v: v.dataset == "tiny_a")
    assert signals.precedents and {v.dataset for v in signals.precedents} == {"tiny_b"}


def test_rows_are_the_same_in_any_order_of_requests(tiny_precedent_runtime):
    runtime, _, _ = tiny_precedent_runtime
    _, codes1, X1 = rows_for(runtime, "fresh cherry tomatoes")
    rows_for(runtime, "gold mechanical wrist watch")
    _, codes2, X2 = rows_for(runtime, "fresh cherry tomatoes")
    assert codes1 == codes2 and np.array_equal(X1, X2)


def test_the_words_that_set_a_line_apart_in_its_heading(tiny_precedent_runtime):
    runtime, _, _ = tiny_precedent_runtime
    _, codes, X = rows_for(runtime, "knitted cotton t-shirt for men")
    col = {name: X[:, INDEX[name]] for name in ("own_hit", "own_frac", "own_gap", "own6_hit", "own6_gap")}
    assert (col["own_frac"] >= 0).all() and (col["own_frac"] <= 1).all()
    assert (col["own_gap"] >= 0).all() and (col["own6_gap"] >= 0).all()
    # HS 6109.10 "...; of cotton, knitted or crocheted" is set apart in heading 6109 by "cotton" alone ("t-shirt" and
    # "knitted" are the heading's own words): one word of the request, and the best count of its heading.
    cotton = X[codes.index("610910")]
    assert cotton[INDEX["own_hit"]] == 1 and cotton[INDEX["own_gap"]] == 0 and cotton[INDEX["own6_hit"]] == 1
    # Every line's gap is its heading's best count less its own.
    for h4 in {c[:4] for c in codes}:
        rows = [i for i, c in enumerate(codes) if c.startswith(h4)]
        best = max(X[i, INDEX["own_hit"]] for i in rows)
        assert all(X[i, INDEX["own_gap"]] == best - X[i, INDEX["own_hit"]] for i in rows), h4
