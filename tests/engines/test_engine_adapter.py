"""The query adapter (engines/adapter.py): it learns a map that real retrieval benefits from, reproduces bit for bit,
travels inside the ranker's file and refuses a damaged one; the shipped engine searches with it on the US corpus."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.engines.adapter import QueryAdapter, fit_adapter, line_targets
from assistant.engines.features import INDEX
from assistant.engines.offline import OfflineEngine
from assistant.engines.query import build_query
from assistant.engines.ranker import Ranker, packaged_ranker
from assistant.errors import AssistantError


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def rotated_queries(seed: int = 0, n: int = 1500, targets: int = 40):
    """Queries that are their target's vector turned by a fixed rotation, plus noise: the identity finds almost
    none of their targets; a learned linear map can."""
    rng = np.random.default_rng(seed)
    T = unit(rng.normal(size=(targets, 64)))
    R = np.linalg.qr(rng.normal(size=(64, 64)))[0].astype(np.float32)
    idx = rng.integers(0, targets, n)
    Q = unit(T[idx] @ R.T + 0.05 * rng.normal(size=(n, 64)).astype(np.float32))
    return T, Q, idx


def hit_rate(adapter: QueryAdapter | None, T, Q, idx) -> float:
    vecs = Q if adapter is None else np.stack([adapter.apply(q) for q in Q])
    return float(np.mean(np.argmax(vecs @ T.T, axis=1) == idx))


def test_the_adapter_learns_a_map_that_finds_held_out_targets():
    T, Q, idx = rotated_queries()
    train, test = slice(0, 1000), slice(1000, None)
    adapter = fit_adapter(Q[train], T[idx[train]], seed=13, epochs=8)
    assert hit_rate(None, T, Q[test], idx[test]) < 0.2
    assert hit_rate(adapter, T, Q[test], idx[test]) > 0.9  # items it never saw
    assert abs(float(np.linalg.norm(adapter.apply(Q[1000]))) - 1.0) < 1e-5


def test_the_same_seed_gives_the_same_matrix_and_another_seed_another():
    T, Q, idx = rotated_queries(n=400)
    a = fit_adapter(Q, T[idx], seed=5, epochs=2)
    b = fit_adapter(Q, T[idx], seed=5, epochs=2)
    c = fit_adapter(Q, T[idx], seed=6, epochs=2)
    assert np.array_equal(a.matrix, b.matrix)
    assert not np.array_equal(a.matrix, c.matrix)


def test_the_adapter_travels_in_the_rankers_file_and_a_damaged_one_is_refused(tmp_path):
    T, Q, idx = rotated_queries(n=300)
    adapter = fit_adapter(Q, T[idx], seed=1, epochs=2)
    ranker = Ranker(kind="logistic")
    ranker._linear = {"mean": [0.0] * len(ranker.features), "scale": [1.0] * len(ranker.features),
                      "coef": [0.0] * len(ranker.features), "intercept": 0.0}
    ranker.adapter = adapter
    back = Ranker.load(ranker.save(tmp_path / "r.json"))
    assert back.adapter is not None
    # Stored as W - I in float16: the map comes back to within float16 rounding of the small difference.
    assert np.abs(back.adapter.matrix - adapter.matrix).max() < 1e-3
    assert np.allclose(back.adapter.apply(Q[0]), adapter.apply(Q[0]), atol=1e-3)
    body = ranker.to_dict()
    data = bytearray(body["adapter"]["data"].encode())
    data[10] = ord("A") if data[10] != ord("A") else ord("B")
    body["adapter"]["data"] = data.decode()
    with pytest.raises(AssistantError, match="damaged"):
        Ranker.from_dict(body)
    with pytest.raises(AssistantError, match="square"):
        QueryAdapter(np.zeros((3, 4)))
    with pytest.raises(AssistantError, match="components"):
        adapter.apply(np.ones(5, np.float32))


def test_targets_are_the_gold_line_or_the_mean_of_its_subheadings_lines():
    codes = ["6109100012", "6109100040", "6109900000"]
    vecs = unit(np.eye(3, dtype=np.float32) + 0.01)
    got = line_targets(codes, vecs, [("6109100040",), ("610910",), ("0101210000",), ("6109900090",)])
    assert np.array_equal(got[0], vecs[1])
    assert np.allclose(got[1], unit(vecs[:2].mean(axis=0)))
    assert got[2] is None  # nothing of that subheading in the nomenclature
    assert np.allclose(got[3], vecs[2])  # a retired 10-digit code: its subheading's lines


def test_the_shipped_engine_searches_with_its_adapter_on_the_us_corpus(us_runtime):
    shipped = packaged_ranker()
    assert shipped is not None and shipped.adapter is not None, "the shipped ranker carries its query adapter"
    engine = OfflineEngine(us_runtime)
    q = build_query("100 ariel pods")
    hits = engine.adapted_hits(q)
    assert len(hits) > 50 and all(h.passage.kind.value == "hts" for h in hits)
    # The adapted vector is not the raw one: its nearest lines differ from the raw query's.
    raw = us_runtime.retriever.dense(q.text, kinds=["hts"], top=len(hits))
    assert [h.passage.id for h in hits] != [h.passage.id for h in raw]
    signals, _ = engine.collect(q)
    leaves, X = engine.candidate_rows(q, engine.keep_precedents(signals))
    assert X[:, INDEX["adapt_line"]].max() > 0 and X[:, INDEX["head_rank_adapt"]].min() == 1
    # Without an adapter the adapted features are all zero (nothing searched).
    plain = OfflineEngine(us_runtime, packaged=False)
    s2, _ = plain.collect(q)
    _, X2 = plain.candidate_rows(q, plain.keep_precedents(s2))
    assert (X2[:, INDEX["adapt_line"]] == 0).all()
