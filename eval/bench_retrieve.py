"""Benchmark retrieval over an indexed home: catalog warm start, then dense / lexical / hybrid search latency.

    TARIFF_HOME=/work/tariff-home-us .venv/bin/python eval/bench_retrieve.py [--queries N] [--json]

Queries are the ATLAS dev descriptions (development set). "warm" means the catalog and BM25 indexes are loaded;
each query is new to the embedder (its embedding is computed and timed) unless the row says "repeat" (LRU hit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(s), 1), "p95_ms": round(1000 * s[int(0.95 * (len(s) - 1))], 1),
            "max_ms": round(1000 * s[-1], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="TARIFF_HOME (default: the environment's)")
    ap.add_argument("--dataset", type=Path, default=Path(os.environ.get("TARIFF_SHARED_DATA") or REPO.parent / "shared"
                                                          / "data") / "atlas_cross_eval" / "atlas_dev.jsonl")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from assistant.config import Settings
    from assistant.models import SourceKind
    from assistant.runtime import Runtime

    settings = Settings(home=args.home) if args.home else Settings()
    start = time.perf_counter()
    runtime = Runtime.open(settings, auto_ingest=False)
    catalog = runtime.catalog
    catalog_s = time.perf_counter() - start
    start = time.perf_counter()
    retriever = runtime.retriever
    retriever.embed_query("warm up")
    kinds_present = [k for k, ps in catalog.by_kind.items() if ps]
    for kind in kinds_present:
        retriever.lexical_index(kind)
        retriever.dense_index(kind)
    indexes_s = time.perf_counter() - start
    print(f"home {settings.home}: {len(catalog)} passages, snapshot {catalog.snapshot}, cores {os.cpu_count()}")
    print(f"open + catalog (warm start from the snapshot cache unless first run): {catalog_s:.2f}s")
    print(f"model load + BM25 and dense indexes for {len(kinds_present)} kinds: {indexes_s:.2f}s")

    queries = [json.loads(line)["description"] for line in args.dataset.read_text().splitlines() if line.strip()]
    queries = queries[: args.queries]
    line_kind = "hts" if catalog.by_kind[SourceKind.HTS] else "hs"
    cases = [
        ("embed_query (new text)", lambda q: retriever.embedder.inner.embed([q])),
        ("dense, all kinds", lambda q: retriever.dense(q, top=50)),
        ("lexical, all kinds", lambda q: retriever.lexical(q, top=50)),
        (f"dense, {line_kind}", lambda q: retriever.dense(q, kinds=[line_kind], top=50)),
        (f"lexical, {line_kind}", lambda q: retriever.lexical(q, kinds=[line_kind], top=50)),
        # What dense search cost before issue 15 (Chroma's HNSW: approximate, and not the same in every process).
        (f"chroma HNSW query, {line_kind} (not used)",
         lambda q: runtime.store.query(retriever.embed_query(q), top=50, where={"kind": [line_kind]})),
        ("hybrid search, all kinds (repeat)", lambda q: retriever.search(q, top=10)),
        (f"hybrid search, {line_kind} (repeat)", lambda q: retriever.search(q, kinds=[line_kind], top=10)),
        (f"hybrid, {line_kind}, chapters 61+62 (repeat)",
         lambda q: retriever.search(q, kinds=[line_kind], chapters=["61", "62"], top=10)),
    ]
    results = {}
    fresh = [f"{q} (variant)" for q in queries]  # texts the query LRU has not seen
    results_fresh = []
    for q in fresh:
        t = time.perf_counter()
        retriever.search(q, top=10)
        results_fresh.append(time.perf_counter() - t)
    results["hybrid search, all kinds (new query: embeds it)"] = percentiles(results_fresh)
    for name, fn in cases:
        samples = []
        for q in queries:
            t = time.perf_counter()
            fn(q)
            samples.append(time.perf_counter() - t)
        results[name] = percentiles(samples)
    print(f"\n{len(queries)} queries, warm")
    print(f"  {'case':48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, r in results.items():
        print(f"  {name:48} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f}")
    if args.json:
        print(json.dumps({"catalog_s": round(catalog_s, 2), "indexes_s": round(indexes_s, 2), "latency": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
