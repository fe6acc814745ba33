"""The embedders: the ONNX export agrees with sentence-transformers, a text's vector does not depend on its batch or
process, the cache is keyed by the embedder's identity, vectors are normalised, passages compose."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from assistant.backends import embed_cache_dir
from assistant.index.embed import (
    HEADING_WEIGHT,
    CachedEmbedder,
    SentenceTransformerEmbedder,
    passage_parts,
    passage_vectors,
)
from assistant.index.onnx import OnnxEmbedder
from assistant.models import SourceKind
from assistant.sources import hs2022

TEXTS = [
    "Men's T-shirts of cotton, knitted",
    "laptop computer weighing 1.5 kg",
    "Other",
    "Frozen fillets of Alaska pollock",
    "Parts and accessories of motor vehicles: brakes and servo-brakes",
    "Wooden furniture of a kind used in the bedroom",
]


@pytest.mark.slow
def test_onnx_agrees_with_sentence_transformers(hs_runtime):
    onnx = hs_runtime.embedder.inner
    reference = SentenceTransformerEmbedder(hs_runtime.settings.resolved_embedding_model()).embed(TEXTS)
    ours = onnx.embed(TEXTS)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    agreement = (ours * reference).sum(axis=1)
    assert agreement.mean() > 0.99 and agreement.min() > 0.97, agreement
    # ... and the ranking it induces is the same on an easy pair.
    q = onnx.embed(["cotton tee shirt for men"])[0]
    assert int(np.argmax(ours @ q)) == int(np.argmax(reference @ q)) == 0


LONG = ("Parts and accessories of the motor vehicles of headings 8701 to 8705: brakes and servo-brakes; parts "
        "thereof: mounted brake linings, of a kind for tractors suitable for agricultural use, other than ") * 3


def test_a_text_gets_the_same_bits_alone_or_in_any_batch(hs_runtime):
    onnx = hs_runtime.embedder.inner
    alone = np.stack([onnx.embed([t])[0] for t in TEXTS])  # a lone text: one run of EMBED_THREADS threads
    # Several texts: INGEST_RUNS runs of INGEST_THREADS threads each, another session: the same bits all the same.
    # Mixed batches: every text beside others, reversed, beside a text of 128 tokens (int8 activations were
    # quantised per padded batch before issue 15: these vectors differed by up to 0.043 in a component).
    for batch in (TEXTS, TEXTS[::-1], [LONG, *TEXTS, LONG], [TEXTS[2], TEXTS[2], "x"]):
        vecs = onnx.embed(batch)
        for text, vec in zip(batch, vecs):
            if text in TEXTS:
                assert np.array_equal(vec, alone[TEXTS.index(text)]), text
    assert onnx.embed([]).shape == (0, onnx.dim)


def test_a_text_gets_the_same_bits_in_another_process(hs_runtime):
    code = ("import sys, numpy as np; from assistant.config import Settings; from assistant.backends import "
            "make_embedder; e = make_embedder(Settings(home=sys.argv[1], _env_file=None)).inner; "
            "sys.stdout.write(e.embed(sys.argv[2:]).tobytes().hex())")
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    proc = subprocess.run([sys.executable, "-c", code, str(hs_runtime.settings.home), *TEXTS[::-1]],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    theirs = np.frombuffer(bytes.fromhex(proc.stdout), dtype=np.float32).reshape(len(TEXTS), -1)[::-1]
    assert np.array_equal(theirs, hs_runtime.embedder.inner.embed(TEXTS))


def test_the_cache_is_keyed_by_the_embedders_identity(hs_runtime, tmp_path):
    int8 = hs_runtime.embedder.inner
    fp32 = OnnxEmbedder.for_model(hs_runtime.settings.resolved_embedding_model(),
                                  cache_dir=embed_cache_dir(hs_runtime.settings), quantize=False)
    assert int8.identity != fp32.identity and "int8" in int8.identity and "per-sequence" in int8.identity
    first = CachedEmbedder(int8, tmp_path / "vectors.sqlite")
    cached = first.embed(TEXTS)
    assert first.computed == len(TEXTS) and np.array_equal(cached, int8.embed(TEXTS))
    # Another precision on the same cache file computes its own vectors instead of reading the int8 ones ...
    other = CachedEmbedder(fp32, tmp_path / "vectors.sqlite")
    theirs = other.embed(TEXTS)
    assert other.computed == len(TEXTS) and np.array_equal(theirs, fp32.embed(TEXTS))
    assert not np.array_equal(theirs, cached)
    # ... and the same identity reads them back bit for bit, computing nothing.
    again = CachedEmbedder(int8, tmp_path / "vectors.sqlite")
    assert np.array_equal(again.embed(TEXTS[::-1]), cached[::-1]) and again.computed == 0


def test_a_tariff_line_is_its_text_plus_its_heading():
    line = next(p for p in hs2022.to_passages(hs2022.load_hs2022()) if p.codes == ("610910",))
    parts = passage_parts(line)
    assert parts[0] == (line.meta["description"], 1.0)  # its own words (its parent is the heading)
    assert parts[1][1] == HEADING_WEIGHT and parts[1][0].startswith("T-shirts, singlets")
    heading = next(p for p in hs2022.to_passages(hs2022.load_hs2022()) if p.codes == ("6109",))
    assert len(passage_parts(heading)) == 1
    assert line.kind is SourceKind.HS


def test_passage_vectors_are_normalised_weighted_sums(hs_runtime):
    ps = [p for p in hs2022.to_passages(hs2022.load_hs2022()) if p.codes and p.codes[0].startswith("6109")]
    vecs = passage_vectors(ps, hs_runtime.embedder)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    own, heading = hs_runtime.embedder.embed([passage_parts(ps[1])[0][0], passage_parts(ps[1])[1][0]])
    expected = own + HEADING_WEIGHT * heading
    assert np.allclose(vecs[1], expected / np.linalg.norm(expected), atol=1e-5)
