"""Benchmark a first start and a restart: cold (empty TARIFF_HOME -> default corpus indexed -> first answer) and
warm (a new process on the built home -> ready -> first answer).

COLD runs in this process on an empty home, step by step as `tariff ingest default` does, and splits every step
into load (parse + validate), embed and write (Chroma), in wall and CPU seconds (CPU = this process, all threads;
with 2 cores a step's CPU can exceed its wall time). The one-time export of the model to ONNX is timed on its own
line; `--model-cache DIR` reuses an export made earlier (copied into the new home), as a machine does after its
first start. The cold run ends with a first classification ("men's knitted cotton t-shirt"), checked to offer
6109.10.00.12.

WARM starts a new Python process on the built home and reports, from the process's start: imports done, index
open (catalog, retriever, embedder loaded: ready to answer), and the first answer.

    .venv/bin/python eval/bench_ingest.py [--corpus default|hs2022] [--home DIR] [--keep] [--model-cache DIR]
                                          [--warm-runs 3] [--json]
    .venv/bin/python eval/bench_ingest.py --warm-only HOME [--warm-runs 3]     # restarts of a built home only

Prints the load average before and after: the machine has 2 cores, and figures taken while others use them say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUERY = "men's knitted cotton t-shirt"
EXPECTED = "6109100012"


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Timed:
    """Wraps an object and adds the wall and CPU time of the named methods to shared counters."""

    def __init__(self, inner, counters: dict[str, float], methods: dict[str, str]):
        self._inner, self._counters, self._methods = inner, counters, methods

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        bucket = self._methods.get(name)
        if bucket is None or not callable(attr):
            return attr

        def timed(*args, **kw):
            wall, cpu = time.perf_counter(), cpu_seconds()
            try:
                return attr(*args, **kw)
            finally:
                c = self._counters
                c[bucket] = c.get(bucket, 0.0) + time.perf_counter() - wall
                c[bucket + "_cpu"] = c.get(bucket + "_cpu", 0.0) + cpu_seconds() - cpu

        return timed


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cold(home: Path, corpus: str, model_cache: Path | None) -> dict:
    """Empty home -> corpus indexed -> first answer, in this process."""
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    from assistant.backends import embed_cache_dir
    from assistant.config import Settings
    from assistant.corpus.default import runnable, step_file, steps_for
    from assistant.engines import classify
    from assistant.runtime import Runtime

    settings = Settings(home=home, corpus=corpus, _env_file=None)
    if model_cache:  # an ONNX export from an earlier start: what every start after a machine's first one has
        shutil.copytree(model_cache, embed_cache_dir(settings) / "onnx", dirs_exist_ok=True)
    runtime = Runtime.open(settings, auto_ingest=False)
    imports = time.perf_counter() - start_wall
    wall, cpu = time.perf_counter(), cpu_seconds()
    runtime._embedder = runtime.embedder  # first use: exports the model to ONNX unless it was copied in
    setup = {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_seconds() - cpu}
    counters: dict[str, float] = {}
    runtime._embedder = Timed(runtime._embedder, counters, {"embed": "embed"})
    runtime.store = Timed(runtime.store, counters, {"upsert": "write", "delete": "write"})
    rows = []
    for step in steps_for(corpus):
        if not runnable(step):
            rows.append({"step": f"{step.kind} {step.file}", "skipped": True})
            continue
        path = step_file(step, settings.default_corpus_dir)
        counters.clear()
        wall, cpu = time.perf_counter(), cpu_seconds()
        if step.kind == "prior":
            from assistant.sources.prior import load_prior_source, save_prior

            save_prior(home, load_prior_source(path))
            passages = added = 0
        elif step.kind == "precedent":  # as corpus/default.py's build runs it: checked against the lines loaded
            report = runtime.ingest_precedents(path, progress=False, **step.options)
            passages, added = report.total, report.added
        else:
            report = runtime.ingest(step.kind, path, progress=False, **step.options)
            passages, added = report.total, report.added
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        embed, write = counters.get("embed", 0.0), counters.get("write", 0.0)
        rows.append({"step": step.kind, "passages": passages, "added": added, "wall_s": wall, "cpu_s": cpu,
                     "embed_s": embed, "embed_cpu_s": counters.get("embed_cpu", 0.0),
                     "write_s": write, "write_cpu_s": counters.get("write_cpu", 0.0)})
    from assistant.corpus.default import build

    build(runtime, name=corpus, progress=False)  # writes the manifest; every step is already done (no-op)
    wall = time.perf_counter()
    result = classify(QUERY, runtime=runtime)
    first = time.perf_counter() - wall
    codes = [s.code for s in result.suggestions]
    return {"imports_s": imports, "model_setup": setup, "steps": rows, "first_answer_s": first,
            "answer_has_expected": EXPECTED in codes, "answer": codes[:5],
            "total_wall_s": time.perf_counter() - start_wall, "total_cpu_s": cpu_seconds() - start_cpu,
            "texts_embedded": getattr(runtime._embedder, "computed", None)}


WARM_CHILD = r"""
import json, resource, sys, time
t0 = float(sys.argv[1]); marks = {}
def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF); return ru.ru_utime + ru.ru_stime
from assistant.config import Settings
from assistant.engines import classify
from assistant.runtime import Runtime
marks["imports"] = (time.time() - t0, cpu())
rt = Runtime.open(Settings(home=sys.argv[2], corpus=sys.argv[3], _env_file=None), auto_ingest=True)
rt.retriever  # the catalog of the store's snapshot and the retriever over it
rt.embedder   # the ONNX model
marks["ready"] = (time.time() - t0, cpu())
res = classify(sys.argv[4], runtime=rt)
marks["first_answer"] = (time.time() - t0, cpu())
print(json.dumps({"marks": marks, "answer": [s.code for s in res.suggestions][:5]}))
"""


def warm(home: Path, corpus: str) -> dict:
    """A new process on the built home: seconds from its start to imports, ready, first answer."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("TARIFF_EMBED_CACHE_DIR", None)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", WARM_CHILD, str(t0), str(home), corpus, QUERY], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"warm run failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: {"wall_s": v[0], "cpu_s": v[1]} for k, v in out["marks"].items()} | {"answer": out["answer"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="default", help="default | hs2022")
    ap.add_argument("--home", type=Path, help="TARIFF_HOME to build (default: a temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home")
    ap.add_argument("--model-cache", type=Path, help="an earlier ONNX export (<embedding cache>/onnx) to reuse")
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--warm-only", type=Path, metavar="HOME",
                    help="no cold run: only the warm restarts of this already built home")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.warm_only:
        load_before = load_average()
        warms = [warm(args.warm_only, args.corpus) for _ in range(max(args.warm_runs, 1))]
        print(f"cores {os.cpu_count()}; load average before {load_before}, after {load_average()}")
        for i, w in enumerate(warms, 1):
            print(f"WARM #{i}: imports {w['imports']['wall_s']:.1f}s, ready {w['ready']['wall_s']:.1f}s wall "
                  f"({w['ready']['cpu_s']:.1f}s cpu), first answer {w['first_answer']['wall_s']:.1f}s")
        if args.json:
            print(json.dumps({"load_before": load_before, "load_after": load_average(), "warm": warms}))
        return 0
    home = args.home or Path(tempfile.mkdtemp(prefix="tariff-bench-"))
    if home.exists() and any(home.iterdir()):
        print(f"error: {home} is not empty (the cold run needs an empty home)", file=sys.stderr)
        return 2
    os.environ.pop("TARIFF_EMBED_CACHE_DIR", None)  # cold means the home's own, empty, embedding cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_before = load_average()
    try:
        c = cold(home, args.corpus, args.model_cache)
        warms = [warm(home, args.corpus) for _ in range(max(args.warm_runs, 0))]
    finally:
        if args.home is None and not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(f"cores {os.cpu_count()}; load average before {load_before}, after {load_average()}")
    print(f"\nCOLD ({args.corpus} corpus, empty home)")
    print(f"  imports + open store {c['imports_s']:.1f}s; model setup {c['model_setup']['wall_s']:.1f}s wall "
          f"{c['model_setup']['cpu_s']:.1f}s cpu ({'reused export' if args.model_cache else 'ONNX export'})")
    print(f"  {'step':10} {'passages':>8} {'added':>7} {'wall s':>7} {'cpu s':>7} {'embed':>6} {'e.cpu':>6} "
          f"{'write':>6} {'w.cpu':>6}")
    for r in c["steps"]:
        if r.get("skipped"):
            print(f"  {r['step']:10} skipped (no loader registered)")
            continue
        print(f"  {r['step']:10} {r['passages']:8} {r['added']:7} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} "
              f"{r['embed_s']:6.1f} {r['embed_cpu_s']:6.1f} {r['write_s']:6.1f} {r['write_cpu_s']:6.1f}")
    ran = [r for r in c["steps"] if not r.get("skipped")]
    print(f"  {'steps':10} {sum(r['passages'] for r in ran):8} {sum(r['added'] for r in ran):7} "
          f"{sum(r['wall_s'] for r in ran):7.1f} {sum(r['cpu_s'] for r in ran):7.1f}")
    print(f"  first answer {c['first_answer_s']:.1f}s: {c['answer']} "
          f"({'offers' if c['answer_has_expected'] else 'MISSING'} {EXPECTED})")
    print(f"  cold total {c['total_wall_s']:.1f}s wall, {c['total_cpu_s']:.1f}s cpu; texts embedded "
          f"{c['texts_embedded']}")
    for i, w in enumerate(warms, 1):
        print(f"WARM #{i}: imports {w['imports']['wall_s']:.1f}s, ready {w['ready']['wall_s']:.1f}s wall "
              f"({w['ready']['cpu_s']:.1f}s cpu), first answer {w['first_answer']['wall_s']:.1f}s")
    if args.json:
        print(json.dumps({"load_before": load_before, "load_after": load_average(), "cold": c, "warm": warms}))
    return 0 if c["answer_has_expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
