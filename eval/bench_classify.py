"""Offline classify latency, warm, on this machine (a benchmark, not a test).

    TARIFF_HOME=/path/to/us-home .venv/bin/python eval/bench_classify.py ../shared/data/atlas_cross_eval/atlas_dev.jsonl
        [--rounds 2] [--engine offline]

Warms up on a few items, then classifies every description `rounds` times (the second round hits the query-embedding
cache, so only the first round is reported as cold-query latency) and prints p50/p95/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time

from assistant.engines import classify
from assistant.runtime import Runtime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--engine", default="offline")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    items = [json.loads(line)["description"] for line in open(args.dataset, encoding="utf-8") if line.strip()]
    runtime = Runtime.open(auto_ingest=False)
    for text in ["warm-up: steel bolts", "warm-up: cotton shirt"]:
        classify(text, engine=args.engine, runtime=runtime)
    gc.freeze()  # as a server does after start-up: the long-lived catalog is not rescanned by the collector
    out = {"items": len(items), "engine": args.engine, "edition": runtime.catalog.edition}
    for r in range(args.rounds):
        times = []
        for text in items:
            t = time.perf_counter()
            classify(text, engine=args.engine, runtime=runtime)
            times.append((time.perf_counter() - t) * 1000)
        label = "first" if r == 0 else f"repeat{r}"
        out[label] = {"p50_ms": round(percentile(times, 0.5), 1), "p95_ms": round(percentile(times, 0.95), 1),
                      "p99_ms": round(percentile(times, 0.99), 1), "mean_ms": round(statistics.mean(times), 1),
                      "per_second": round(1000 * len(times) / sum(times), 1)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
