"""ChromaStore: passages round-trip exactly, filtered queries, deletes, snapshots, and an unreachable server."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import BackendUnavailable
from assistant.index.embed import passage_vectors
from assistant.index.vectorstore import ChromaStore, snapshot_of
from assistant.models import Passage, SourceKind
from assistant.sources import hs2022


@pytest.fixture(scope="module")
def sample() -> list[Passage]:
    lines = hs2022.to_passages(hs2022.load_hs2022())
    rule = Passage.make(kind=SourceKind.GRI, label="GRI 1", text="Classification shall be determined by the terms "
                        "of the headings.", edition="HTS 2025 Rev. 24", source="gri.json", meta={"rule": "1"})
    note = Passage.make(kind=SourceKind.NOTE, label="Chapter 61, Note 1", text="This chapter applies only to "
                        "made up knitted or crocheted articles.", edition="HTS 2025 Rev. 24", source="c61.pdf",
                        chapter="61", embed_text="knitted articles", meta={"scope": "chapter", "chapters": ["61"]})
    return [p for p in lines if p.chapter in ("01", "61")] + [rule, note]


@pytest.fixture
def store(tmp_path) -> ChromaStore:
    return ChromaStore(namespace="test", path=tmp_path / "chroma")


@pytest.fixture(scope="module")
def vectors(sample, hs_runtime) -> np.ndarray:
    return passage_vectors(sample, hs_runtime.embedder)


def test_passages_round_trip_exactly(sample, vectors, store):
    store.upsert(sample, vectors, source_key="k")
    back = {p.id: p for p in store.iter_passages()}
    assert len(back) == store.count() == len(sample)
    for p in sample:
        q = back[p.id]
        assert q == p  # every compared field: kind, label, text, edition, source, codes, level, chapter, embed_text
        assert q.meta == p.meta and q.text_for_embedding() == p.text_for_embedding()


def test_query_is_cosine_and_honours_kind_chapter_and_edition(sample, vectors, store):
    store.upsert(sample, vectors)
    i = next(n for n, p in enumerate(sample) if p.codes == ("610910",))
    best_id, sim = store.query(vectors[i], top=3)[0]
    assert best_id == sample[i].id and sim == pytest.approx(1.0, abs=1e-3)
    hits = store.query(vectors[i], top=5, where={"kind": ["gri", "note"]})
    assert {h for h, _ in hits} == {sample[-2].id, sample[-1].id}
    in_01 = store.query(vectors[i], top=5, where={"kind": "hs", "chapter": ["01"]})
    by_id = {p.id: p for p in sample}
    assert len(in_01) == 5 and all(by_id[h].chapter == "01" for h, _ in in_01)
    assert store.query(vectors[i], top=5, where={"kind": "hs", "edition": "HS 2017"}) == []
    sims = [s for _, s in store.query(vectors[i], top=10)]
    assert sims == sorted(sims, reverse=True)


def test_delete_and_snapshot(sample, vectors, store):
    store.upsert(sample, vectors)
    snap = snapshot_of(store.ids())
    store.upsert(sample, vectors)
    assert snapshot_of(store.ids()) == snap  # content-hash ids: writing again changes nothing
    store.delete([sample[0].id, "not-there"])
    assert store.count() == len(sample) - 1
    assert snapshot_of(store.ids()) != snap
    assert store.existing_ids([sample[0].id, sample[1].id]) == {sample[1].id}


def test_unreachable_server_is_backend_unavailable():
    with pytest.raises(BackendUnavailable):
        ChromaStore(namespace="test", url="http://127.0.0.1:9")
