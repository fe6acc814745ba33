"""The embedders: the ONNX export agrees with sentence-transformers, vectors are normalised, passages compose."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.index.embed import HEADING_WEIGHT, SentenceTransformerEmbedder, passage_parts, passage_vectors
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


def test_batches_and_single_texts_agree(hs_runtime):
    onnx = hs_runtime.embedder.inner
    together = onnx.embed(TEXTS)
    alone = np.stack([onnx.embed([t])[0] for t in TEXTS])
    # int8 activations are scaled per batch: a text's vector moves a little with its batch-mates, never far.
    assert (together * alone).sum(axis=1).min() > 0.97
    assert onnx.embed([]).shape == (0, onnx.dim)


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
