"""Benchmark the full US ingest (HS 2022, HTS CSV, chapter-note PDFs, GRIs, rulings): cold, then warm.

Cold = empty TARIFF_HOME and empty embedding cache (the one-time ONNX export of the model is timed on its own
line). Warm = the same ingests again on the same home: nothing to parse (source cache), embed or write.

    .venv/bin/python eval/bench_ingest.py [--shared-data ../shared/data] [--home DIR] [--keep]

Prints, per source: passages, seconds (wall), and where they went (load = parse + validate, embed, write =
Chroma), then totals; with `--json` a machine-readable line too. Run it alone: the machine has 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [
    ("hs2022", None),
    ("hts", "usitc_hts_2025/htsdata_raw.csv"),
    ("notes", "usitc_hts_2025/chapters_pdf"),
    ("gri", "htsus_legal_notes/general_rules_of_interpretation.json"),
    ("rulings", "cbp_rulings_sample/ny_rulings_fulltext.jsonl"),
]


class Timed:
    """Wraps an object and adds the wall time of the named methods to a shared counter."""

    def __init__(self, inner, counters: dict[str, float], methods: dict[str, str]):
        self._inner, self._counters, self._methods = inner, counters, methods

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        bucket = self._methods.get(name)
        if bucket is None or not callable(attr):
            return attr

        def timed(*args, **kw):
            start = time.perf_counter()
            try:
                return attr(*args, **kw)
            finally:
                self._counters[bucket] = self._counters.get(bucket, 0.0) + time.perf_counter() - start

        return timed


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_pass(runtime, shared: Path, label: str, counters: dict[str, float]) -> dict:
    rows = []
    for kind, rel in SOURCES:
        counters.clear()
        wall, cpu = time.perf_counter(), cpu_seconds()
        report = runtime.ingest(kind, shared / rel if rel else None, progress=False)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        embed, write = counters.get("embed", 0.0), counters.get("write", 0.0)
        rows.append({"source": kind, "passages": report.total, "added": report.added, "seconds": round(wall, 2),
                     "cpu_seconds": round(cpu, 2), "embed_s": round(embed, 2), "write_s": round(write, 2),
                     "load_s": round(max(wall - embed - write, 0.0), 2)})
    total = {k: round(sum(r[k] for r in rows), 2) for k in ("seconds", "cpu_seconds", "embed_s", "write_s", "load_s")}
    print(f"\n{label}")
    print(f"  {'source':8} {'passages':>8} {'added':>7} {'wall s':>7} {'cpu s':>7} {'load':>6} {'embed':>6} {'write':>6}")
    for r in rows:
        print(f"  {r['source']:8} {r['passages']:8} {r['added']:7} {r['seconds']:7.1f} {r['cpu_seconds']:7.1f} "
              f"{r['load_s']:6.1f} {r['embed_s']:6.1f} {r['write_s']:6.1f}")
    print(f"  {'total':8} {sum(r['passages'] for r in rows):8} {sum(r['added'] for r in rows):7} "
          f"{total['seconds']:7.1f} {total['cpu_seconds']:7.1f} {total['load_s']:6.1f} {total['embed_s']:6.1f} "
          f"{total['write_s']:6.1f}")
    return {"sources": rows, "total": total}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", type=Path,
                    default=Path(os.environ.get("TARIFF_SHARED_DATA") or REPO.parent / "shared" / "data"))
    ap.add_argument("--home", type=Path, help="TARIFF_HOME to build (default: a temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.shared_data.is_dir():
        print(f"error: no shared data at {args.shared_data}", file=sys.stderr)
        return 2
    home = args.home or Path(tempfile.mkdtemp(prefix="tariff-bench-"))
    if home.exists() and any(home.iterdir()):
        print(f"error: {home} is not empty (the cold run needs an empty home)", file=sys.stderr)
        return 2
    os.environ.pop("TARIFF_EMBED_CACHE_DIR", None)  # cold means the home's own, empty, embedding cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from assistant.config import Settings
    from assistant.runtime import Runtime

    try:
        settings = Settings(home=home, _env_file=None)
        counters: dict[str, float] = {}
        start = time.perf_counter()
        runtime = Runtime.open(settings, auto_ingest=False)
        opened = time.perf_counter() - start
        start = time.perf_counter()
        runtime._embedder = runtime.embedder  # first use: exports the model to ONNX (once per cache)
        setup = time.perf_counter() - start
        runtime._embedder = Timed(runtime._embedder, counters, {"embed": "embed"})
        runtime.store = Timed(runtime.store, counters, {"upsert": "write", "delete": "write"})
        print(f"home {home}; cores {os.cpu_count()}; embedder {runtime._embedder.name}")
        print(f"open store {opened:.1f}s; model setup (ONNX export + quantisation, first use only) {setup:.1f}s")
        cold = run_pass(runtime, args.shared_data, "COLD (empty home, empty embedding cache)", counters)
        computed_cold = runtime._embedder.computed
        warm = run_pass(runtime, args.shared_data, "WARM (re-run on the same home)", counters)
        print(f"\ntexts embedded: cold {computed_cold}, warm {runtime._embedder.computed - computed_cold}")
        print(f"cold {cold['total']['seconds']:.1f}s (+{setup:.1f}s one-time model export), "
              f"warm {warm['total']['seconds']:.1f}s")
        if args.json:
            print(json.dumps({"setup_s": round(setup, 2), "cold": cold, "warm": warm,
                              "embedded_cold": computed_cold}))
    finally:
        if args.home is None and not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
