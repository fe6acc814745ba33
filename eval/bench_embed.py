"""Benchmark the embedder's determinism choice: one sequence per ONNX run (what ships) against padded batches.

    .venv/bin/python eval/bench_embed.py [--texts 800] [--queries 60] [--json]

Passage texts are HS 2022 passage parts (what ingest embeds); queries are ATLAS dev descriptions. Reports, per
variant: texts/s at ingest, ms per query, the largest difference between a text embedded alone and in the batch
(0.0 means batch-invariant), and the mean / min cosine with sentence-transformers (the torch reference, fp32).
The "batched" rows reproduce the recipe before issue 15 (int8 in batches of 8, fp32 in batches of 32).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def batched(embedder, texts: list[str], size: int) -> np.ndarray:
    """The pre-issue-15 recipe: length-sorted padded batches of `size` in one run each."""
    from assistant.index.embed import normalise

    encoded = [e.ids for e in embedder.tokenizer.encode_batch(texts)]
    out = np.zeros((len(texts), embedder.dim), np.float32)
    order = np.argsort([len(x) for x in encoded], kind="stable")
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        width = max(len(encoded[i]) for i in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(rows):
            ids[r, : len(encoded[i])], mask[r, : len(encoded[i])] = encoded[i], 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = embedder.session.run(None, {k: v for k, v in feed.items() if k in embedder._inputs})[0]
        out[rows] = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    return normalise(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=Path(os.environ.get("TARIFF_SHARED_DATA") or REPO.parent / "shared"
                                                          / "data") / "atlas_cross_eval" / "atlas_dev.jsonl")
    ap.add_argument("--texts", type=int, default=800)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from assistant.backends import embed_cache_dir
    from assistant.config import Settings
    from assistant.index.embed import SentenceTransformerEmbedder, passage_parts
    from assistant.index.onnx import OnnxEmbedder
    from assistant.sources import hs2022

    settings = Settings()
    model = settings.resolved_embedding_model()
    texts = sorted({t for p in hs2022.to_passages(hs2022.load_hs2022()) for t, _ in passage_parts(p)})[: args.texts]
    queries = [json.loads(line)["description"] for line in args.dataset.open(encoding="utf-8")][: args.queries]
    reference = SentenceTransformerEmbedder(model).embed(texts)
    rows = []
    for quantize, size in ((True, 8), (False, 32)):
        e = OnnxEmbedder.for_model(model, cache_dir=embed_cache_dir(settings), quantize=quantize)
        variant = "int8" if quantize else "fp32"
        alone = np.stack([e.embed([t])[0] for t in texts[:64]])
        e.embed(queries[:3])  # warm up
        for recipe, run in ((f"batched {size}", lambda xs, e=e, size=size: batched(e, xs, size)),
                            ("one sequence per run", e.embed)):
            started = time.perf_counter()
            vecs = run(texts)
            ingest = len(texts) / (time.perf_counter() - started)
            started = time.perf_counter()
            for q in queries:
                run([q])
            per_query = 1000 * (time.perf_counter() - started) / len(queries)
            cos = (vecs * reference).sum(axis=1)
            rows.append({"variant": variant, "recipe": recipe, "texts_per_s": round(ingest, 1),
                         "ms_per_query": round(per_query, 2), "max_diff_alone_vs_batch": float(np.abs(
                             vecs[:64] - alone).max()), "cosine_vs_torch_mean": round(float(cos.mean()), 4),
                         "cosine_vs_torch_min": round(float(cos.min()), 4)})
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(f"{len(texts)} HS passage texts, {len(queries)} ATLAS dev queries, {os.cpu_count()} cores")
        for r in rows:
            print(f"{r['variant']:5} {r['recipe']:21} {r['texts_per_s']:7.1f} texts/s {r['ms_per_query']:7.2f} ms/query"
                  f"  alone-vs-batch max diff {r['max_diff_alone_vs_batch']:.4f}  cosine vs torch"
                  f" {r['cosine_vs_torch_mean']:.4f} (min {r['cosine_vs_torch_min']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
