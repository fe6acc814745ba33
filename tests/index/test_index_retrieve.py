"""The retriever on the HS 2022 index: tokenisation, dense, lexical and fused rankings, filters."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from assistant.index import retrieve
from assistant.index.retrieve import RRF_K, cosines, tokenize
from assistant.models import Passage, SourceKind


def test_tokenize_lowercases_stems_and_drops_stopwords():
    assert tokenize("Men's knitted T-shirts of the cotton") == ["men", "knit", "t", "shirt", "cotton"]
    assert tokenize("the of and") == []


@pytest.fixture
def retriever(hs_runtime):
    return hs_runtime.retriever


def test_dense_finds_the_meaning(retriever):
    hits = retriever.dense("pure-bred breeding horses", top=5)
    assert hits[0].passage.codes[0].startswith("0101")
    assert [h.dense_rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(h.score == h.dense_score and -1 <= h.score <= 1 for h in hits)
    assert hits[0].dense_score >= hits[-1].dense_score


def test_lexical_matches_words(retriever):
    hits = retriever.lexical("tomatoes fresh or chilled", top=3)
    assert hits[0].passage.codes[0].startswith("0702")
    assert all(h.lexical_score > 0 and h.dense_rank is None for h in hits)
    assert retriever.lexical("the of", top=3) == []


def test_search_fuses_both_rankings(retriever):
    hits = retriever.search("men's knitted cotton t-shirt", top=10)
    assert any(h.passage.codes[0].startswith("6109") for h in hits[:5])
    for h in hits:
        expected = sum(1.0 / (RRF_K + r) for r in (h.dense_rank, h.lexical_rank) if r)
        assert h.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_filters_by_kind_edition_and_chapter(retriever):
    assert retriever.search("horses", kinds=[SourceKind.RULING]) == []
    assert retriever.search("horses", kinds=["hs"], edition="HTS 2025 Rev. 24") == []
    hits = retriever.search("garments", kinds=["hs"], edition="HS 2022", chapters=["62"], top=8)
    assert len(hits) == 8 and all(h.passage.chapter == "62" for h in hits)


def test_query_embeddings_are_cached(retriever):
    first = retriever.embed_query("wooden bedroom furniture")
    assert retriever.embed_query("wooden bedroom furniture") is first


def test_dense_scores_are_the_same_bits_in_blocks_and_threads(retriever, monkeypatch):
    """The scan splits the HS index into blocks and halves scored in two threads: every passage's cosine is the
    bits of one plain dot product, so rankings never depend on how the scan was cut."""
    index = retriever.dense_index(SourceKind.HS)
    query = retriever.embed_query("pure-bred breeding horses")
    plain = np.einsum("ij,j->i", index.matrix, query)
    assert len(index.matrix) > retrieve.PARALLEL_ROWS  # the real index takes the two-thread path
    assert np.array_equal(cosines(index.matrix, query), plain)
    monkeypatch.setattr(retrieve, "SCAN_BLOCK", 37)  # odd blocks, one thread
    monkeypatch.setattr(retrieve, "PARALLEL_ROWS", 10**9)
    assert np.array_equal(cosines(index.matrix, query), plain)
    assert index.passages[int(np.argmax(plain))].codes[0].startswith("0101")  # real cosines: horses first


def test_several_query_vectors_in_one_pass_are_each_scored_as_alone(retriever):
    """The engine scores its raw, expanded and adapted query vectors in one pass over the lines' vectors (each block
    read once): every query's cosines are the bits of its own plain dot products, and each ranking is ordered by
    score, then passage id, exactly as that vector's ranking alone."""
    index = retriever.dense_index(SourceKind.HS)
    vecs = [retriever.embed_query(t) for t in ("pure-bred breeding horses", "live horses", "frozen fish fillets")]
    for vec, scores in zip(vecs, retrieve.cosines_many(index.matrix, vecs), strict=True):
        assert np.array_equal(scores, np.einsum("ij,j->i", index.matrix, vec))
    joint = retriever.dense_vectors(vecs, kinds=["hs"], top=40)
    for vec, hits in zip(vecs, joint, strict=True):
        alone = retriever.dense_vectors([vec], kinds=["hs"], top=40)[0]
        assert [(h.passage.id, h.dense_score) for h in hits] == [(h.passage.id, h.dense_score) for h in alone]
        keys = [(-h.dense_score, h.passage.id) for h in hits]
        assert keys == sorted(keys) and [h.dense_rank for h in hits] == list(range(1, 41))
    assert joint[0][0].passage.codes[0].startswith("0101") and joint[2][0].passage.codes[0].startswith("0304")


def test_building_a_bm25_index_logs_nothing_below_warning(caplog):
    """bm25s turns its own logger to DEBUG on import; a first start printed its "Building index from tokens" lines."""
    passages = [Passage.make(kind=SourceKind.HS, label=f"HS {code}", text=text, edition="HS 2022", source="test",
                             codes=(code,)) for code, text in [("010121", "Pure-bred breeding horses"), ("070200", "Tomatoes")]]
    with caplog.at_level(logging.DEBUG):
        index = retrieve.LexicalIndex(passages)
    assert index.scores(["tomato"]).argmax() == 1
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING] == []
