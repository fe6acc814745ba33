"""ingest_passages on a real Chroma store with the real model: idempotent, embeds each distinct text once, drops stale."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.index.embed import CachedEmbedder, passage_parts
from assistant.index.ingest import ingest_passages
from assistant.index.vectorstore import ChromaStore
from assistant.sources import gri, hs2022


@pytest.fixture(scope="module")
def chapter_61() -> list:
    """HS 2022 chapter 61 (knitted apparel): ~120 passages whose lines share headings."""
    return [p for p in hs2022.to_passages(hs2022.load_hs2022()) if p.chapter == "61"]


@pytest.fixture
def cold(hs_runtime, tmp_path) -> CachedEmbedder:
    """The real model behind an empty cache, so every embedding it computes is counted."""
    return CachedEmbedder(hs_runtime.embedder.inner, tmp_path / "vectors.sqlite")


@pytest.fixture
def store(tmp_path) -> ChromaStore:
    return ChromaStore(namespace="test", path=tmp_path / "chroma")


def test_rerun_adds_nothing_and_embeds_nothing(chapter_61, cold, store):
    first = ingest_passages(chapter_61, store=store, embedder=cold, source_key="hs", progress=False)
    assert (first.added, first.unchanged, first.removed) == (len(chapter_61), 0, 0)
    assert store.count() == len(chapter_61)
    embedded = cold.computed
    distinct = {t for p in chapter_61 for t, _ in passage_parts(p)}
    assert embedded == len(distinct) < 2 * len(chapter_61)  # each distinct text once; headings shared

    again = ingest_passages(chapter_61, store=store, embedder=cold, source_key="hs", progress=False)
    assert (again.added, again.unchanged, again.removed, again.total) == (0, len(chapter_61), 0, len(chapter_61))
    assert cold.computed == embedded
    assert store.count() == len(chapter_61)


def test_a_second_cache_instance_reuses_the_file(chapter_61, cold, store, tmp_path):
    ingest_passages(chapter_61[:20], store=store, embedder=cold, source_key="hs", progress=False)
    reopened = CachedEmbedder(cold.inner, tmp_path / "vectors.sqlite")
    texts = [t for p in chapter_61[:20] for t, _ in passage_parts(p)]
    vecs = reopened.embed(texts)
    assert reopened.computed == 0
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_passages_missing_from_a_source_are_removed(chapter_61, cold, store):
    ingest_passages(chapter_61, store=store, embedder=cold, source_key="hs", progress=False)
    kept = chapter_61[:-10]
    report = ingest_passages(kept, store=store, embedder=cold, source_key="hs", progress=False)
    assert (report.added, report.unchanged, report.removed) == (0, len(kept), 10)
    assert store.existing_ids(p.id for p in chapter_61) == {p.id for p in kept}


def test_other_sources_are_left_alone(chapter_61, cold, store, shared_data):
    rules = gri.to_passages(gri.load_gri(shared_data / "htsus_legal_notes" / "general_rules_of_interpretation.json"))
    ingest_passages(chapter_61, store=store, embedder=cold, source_key="hs", progress=False)
    ingest_passages(rules, store=store, embedder=cold, source_key="gri", progress=False)
    report = ingest_passages(chapter_61[:5], store=store, embedder=cold, source_key="hs", progress=False)
    assert report.removed == len(chapter_61) - 5
    assert store.count() == 5 + len(rules)
    assert set(store.ids(source_key="gri")) == {p.id for p in rules}


def test_duplicates_in_the_input_count_once(chapter_61, cold, store):
    report = ingest_passages(chapter_61[:8] * 2, store=store, embedder=cold, source_key="hs", progress=False)
    assert (report.added, report.total) == (8, 8)
    assert store.count() == 8
