"""Batch throughput: items/s of a CSV batch through the real API, the offline engine and the batch worker.

    .venv/bin/python eval/bench_batch.py [--items 1000] [--home TARIFF_HOME] [--database-url URL] [--json]

Without --home, HS 2022 is indexed into a temporary home first (quick when the embedding cache,
TARIFF_EMBED_CACHE_DIR, already holds it). Descriptions come from the ATLAS dev split in ../shared/data when it is
there (repeated up to --items), else from HS 2022 subheading texts. Prints the end-to-end rate (upload to the last
case stored), the worker's rate, and the engine alone on a sample, so the storage overhead shows.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

if TYPE_CHECKING:
    from assistant.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
ATLAS = REPO.parent / "shared" / "data" / "atlas_cross_eval" / "atlas_dev.jsonl"


def descriptions(n: int, runtime: Runtime) -> list[str]:
    if ATLAS.exists():
        pool = [json.loads(line)["description"] for line in ATLAS.read_text(encoding="utf-8").splitlines() if line]
    else:
        pool = [ln.full_text() for ln in runtime.nomenclature.leaves()]
    return [f"{pool[i % len(pool)]} (lot {i})" for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--home", type=Path, help="TARIFF_HOME with an index (default: a temporary HS 2022 home)")
    ap.add_argument("--database-url", help="SQLAlchemy URL for the cases (default: SQLite in a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)

    from fastapi.testclient import TestClient

    from assistant.auth import create_key
    from assistant.config import Settings
    from assistant.engines import classify
    from assistant.runtime import Runtime
    from assistant.server import create_app

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    home = args.home or work / "index"
    t0 = time.perf_counter()
    runtime = Runtime.open(Settings(home=home, _env_file=None), auto_ingest=True)
    runtime.retriever  # noqa: B018 - load the catalog, lexical index and model before timing
    setup_s = time.perf_counter() - t0
    items = descriptions(args.items, runtime)

    # the engine alone, on a sample (warm-up first)
    classify(items[0], runtime=runtime)
    gc.freeze()  # as `tariff serve` does after its warm-up (cli/serve.py)
    sample = items[: min(100, len(items))]
    t = time.perf_counter()
    for text in sample:
        classify(text, runtime=runtime)
    engine_rate = len(sample) / (time.perf_counter() - t)

    settings = Settings(home=work / "app", database_url=args.database_url, max_batch_items=max(1000, args.items),
                        max_request_bytes=50_000_000, _env_file=None)
    app = create_app(settings, runtime=runtime)
    key = create_key(app.state.desk.db, name="bench", role="broker", org="bench").key
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["description", "reference"])
    w.writerows([text, f"R{i}"] for i, text in enumerate(items))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        t = time.perf_counter()
        r = client.post("/v1/batches", headers=headers, files={"file": ("bench.csv", buf.getvalue(), "text/csv")})
        r.raise_for_status()
        batch_id = r.json()["id"]
        while (b := client.get(f"/v1/batches/{batch_id}", headers=headers).json())["status"] != "done":
            time.sleep(0.2)
        wall = time.perf_counter() - t
        results = client.get(f"/v1/batches/{batch_id}/results?format=csv", headers=headers)
        results.raise_for_status()
    worker_s = (datetime.fromisoformat(b["finished_at"]) - datetime.fromisoformat(b["started_at"])).total_seconds()
    app.state.desk.db.dispose()
    figures = {
        "items": args.items,
        "done": b["done"],
        "failed": b["failed"],
        "end_to_end_items_per_s": round(args.items / wall, 1),
        "worker_items_per_s": round(args.items / worker_s, 1),
        "engine_only_items_per_s": round(engine_rate, 1),
        "wall_s": round(wall, 1),
        "setup_s": round(setup_s, 1),
        "database": app.state.desk.db.dialect,
        "edition": runtime.nomenclature.edition,
        "cpus": os.cpu_count(),
        "result_rows": len(results.text.splitlines()) - 1,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:>24}: {v}")
    return 0 if b["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
