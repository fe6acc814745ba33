"""Fairness: one organisation's heavy use must not slow another's (issue 17). A benchmark, not a test.

    PYTHONPATH=. .venv/bin/python eval/bench_fairness.py [--home TARIFF_HOME] [--seconds 20] [--batch-items 1000]
                                                         [--no-hts] [--json]
    # a smoke run (HS 2022 only, seconds not minutes; its figures are not the issue's):
    PYTHONPATH=. .venv/bin/python eval/bench_fairness.py --no-hts --seconds 3 --batch-items 50

Starts `uvicorn assistant.server:create_app --factory` on 127.0.0.1 (a free port) in a subprocess, on --home or a
temporary TARIFF_HOME where HS 2022 (and, when ../shared/data has it, the US HTS 2025) is indexed first, with a
fresh SQLite database. Then, loopback only, bounded in requests and time:

1. search: one broker key of organisation A sends `/v1/codes?q=` with costly queries (8 one-letter words, and
   ~200-character queries) at 9 requests/s, inside the default rate limit of 600 a minute, for --seconds, while a
   broker of organisation B reads `GET /v1/codes/6109` at 5 requests/s. Reports B's p50/p95 (goal: p95 < 50 ms),
   and the same without the load as a baseline.
2. batches: organisation A queues two --batch-items-item batches (two keys: the item quota is per key), then B
   queues a 1-item batch; reports how long B's batch takes to finish (goal: < 5 s). A's batches are then
   cancelled with DELETE /v1/batches/{id}, which the report also times.
Exit status 0 when both goals are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HTS_CSV = REPO.parent / "shared" / "data" / "usitc_hts_2025" / "htsdata_raw.csv"
GOAL_P95_MS = 50.0
GOAL_BATCH_S = 5.0
# Within the caps (8 words, 200 characters): one-letter words occur in most lines; long words in none.
COSTLY = ["a e i o n t s r", "t " * 7 + "e", " ".join(["polytetrafluoroethylenes"] * 8)]
GOODS = ["Men's T-shirt, 100% cotton, knitted", "Wood screws of stainless steel, 40 mm", "Fresh apples",
         "Portable laptop computer, 1.5 kg", "Leather handbag with shoulder strap"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def paced(client, path: str, key: str, per_second: float, seconds: float, out: list[float], codes: dict):
    """GET `path` (a str, or a callable of the request number) at a steady pace; latencies (ms) into `out`."""
    headers = {"Authorization": f"Bearer {key}"}
    start = time.perf_counter()
    n = 0
    while (now := time.perf_counter()) - start < seconds:
        due = start + n / per_second
        if due > now:
            await asyncio.sleep(due - now)
        target = path(n) if callable(path) else path
        t0 = time.perf_counter()
        r = await client.get(target, headers=headers)
        out.append((time.perf_counter() - t0) * 1000)
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
        n += 1


async def search_phase(url: str, hammer: str, victim: str, seconds: float) -> dict:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        baseline: list[float] = []
        await paced(client, "/v1/codes/6109", victim, 5, min(5.0, seconds), baseline, {})
        loaded, hammered, codes = [], [], {}
        await asyncio.gather(
            paced(client, lambda n: "/v1/codes?q=" + COSTLY[n % len(COSTLY)].replace(" ", "+"), hammer, 9, seconds,
                  hammered, codes),
            paced(client, "/v1/codes/6109", victim, 5, seconds, loaded, {}),
        )
    return {
        "baseline_p50_ms": round(statistics.median(baseline), 1), "baseline_p95_ms": round(percentile(baseline, .95), 1),
        "victim_requests": len(loaded), "victim_p50_ms": round(statistics.median(loaded), 1),
        "victim_p95_ms": round(percentile(loaded, 0.95), 1), "victim_max_ms": round(max(loaded), 1),
        "hammer_requests": len(hammered), "hammer_p95_ms": round(percentile(hammered, 0.95), 1),
        "hammer_status": {str(k): v for k, v in sorted(codes.items())},
    }


def batch_phase(url: str, heavy: list[str], light: str, items: int, timeout: float) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        def post(key: str, n: int) -> str:
            body = {"items": [{"description": f"{GOODS[i % len(GOODS)]} lot {i}"} for i in range(n)]}
            r = client.post("/v1/batches", json=body, headers={"Authorization": f"Bearer {key}"})
            r.raise_for_status()
            return r.json()["id"]

        big = [post(key, items) for key in heavy]
        t0 = time.perf_counter()
        small = post(light, 1)
        state: dict = {}
        while time.perf_counter() - t0 < timeout:
            r = client.get(f"/v1/batches/{small}", headers={"Authorization": f"Bearer {light}"})
            state = r.json() if r.status_code == 200 else state  # a 429 on polling is not the batch's state
            if state.get("status") == "done":
                break
            time.sleep(0.1)
        waited = time.perf_counter() - t0
        progress = [client.get(f"/v1/batches/{b}", headers={"Authorization": f"Bearer {heavy[0]}"}).json()
                    for b in big]
        t1 = time.perf_counter()
        cancelled = [client.delete(f"/v1/batches/{b}", headers={"Authorization": f"Bearer {heavy[0]}"}).json()
                     for b in big]
        cancel_ms = (time.perf_counter() - t1) * 1000
    return {
        "light_batch_s": round(waited, 2), "light_batch_status": state.get("status", "unknown"),
        "heavy_done_when_light_finished": [p["done"] for p in progress],
        "heavy_cancelled_items": [c.get("cancelled") for c in cancelled], "cancel_ms": round(cancel_ms, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="TARIFF_HOME with an index (default: a temporary one, indexed first)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the search phase (at most 120)")
    ap.add_argument("--batch-items", type=int, default=1000, help="items in each heavy batch (at most 1000)")
    ap.add_argument("--no-hts", action="store_true", help="index HS 2022 only (quicker; ~7k lines, not ~30k)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    args.seconds, args.batch_items = min(args.seconds, 120.0), min(args.batch_items, 1000)
    work = Path(tempfile.mkdtemp(prefix="bench-fair-"))
    try:
        return bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path) -> int:
    from assistant.auth import create_key
    from assistant.config import Settings
    from assistant.store.db import Database

    home = args.home or work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARIFF_")}
    env.update(TARIFF_HOME=str(home), PYTHONUNBUFFERED="1", TARIFF_DATABASE_URL=f"sqlite:///{work / 'bench.db'}")
    # The subprocesses run in `work`: a relative PYTHONPATH (the docstring's `PYTHONPATH=.`) must still name this
    # checkout, not the temporary folder.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *(str(Path(p).resolve()) for p in
                                                     os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)])
    for name in ("TARIFF_EMBED_CACHE_DIR", "TARIFF_EMBEDDING_MODEL", "TARIFF_EMBEDDING_RUNTIME"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    if args.home is None:
        steps = [["ingest", "hs2022", "--quiet"]]
        if not args.no_hts and HTS_CSV.exists():
            steps.append(["ingest", "hts", str(HTS_CSV), "--quiet"])
        for step in steps:
            print(f"tariff {' '.join(step[:2])} into {home} ...", file=sys.stderr)
            done = subprocess.run([str(BIN / "tariff"), *step], env=env, capture_output=True, text=True, timeout=3600)
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                return 2
    settings = Settings(_env_file=None, home=home, database_url=env["TARIFF_DATABASE_URL"])
    db = Database.open(settings)
    hammer = create_key(db, name="hammer", role="broker", org="org-a").key
    heavy = [create_key(db, name=f"heavy {i}", role="broker", org="org-a").key for i in range(2)]
    victim = create_key(db, name="victim", role="broker", org="org-b").key
    db.dispose()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "python"), "-m", "uvicorn", "assistant.server:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        import httpx

        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print((work / "server.log").read_text()[-2000:], file=sys.stderr)
                return 2
            time.sleep(0.2)
        # warm up: the nomenclature, the code index and the engine load on first use
        httpx.get(url + "/v1/codes?q=cotton", headers={"Authorization": f"Bearer {victim}"}, timeout=600)
        httpx.get(url + "/v1/codes/6109", headers={"Authorization": f"Bearer {victim}"}, timeout=600)
        with httpx.Client(base_url=url, timeout=600) as c:
            c.post("/v1/classifications", json={"description": GOODS[0]}, headers={"Authorization": f"Bearer {victim}"})
        search = asyncio.run(search_phase(url, hammer, victim, args.seconds))
        batches = batch_phase(url, heavy, victim, args.batch_items, timeout=120)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    figures = {"search": search, "batches": batches,
               "goals": {"victim_p95_ms": GOAL_P95_MS, "light_batch_s": GOAL_BATCH_S}}
    ok = (search["victim_p95_ms"] < GOAL_P95_MS and batches["light_batch_status"] == "done"
          and batches["light_batch_s"] < GOAL_BATCH_S)
    if args.json:
        print(json.dumps(figures))
    else:
        s, b = search, batches
        print(f"search: org B GET /v1/codes/6109 p50 {s['victim_p50_ms']} ms, p95 {s['victim_p95_ms']} ms "
              f"(max {s['victim_max_ms']} ms, {s['victim_requests']} requests) while org A sent "
              f"{s['hammer_requests']} costly /v1/codes?q= (p95 {s['hammer_p95_ms']} ms, status {s['hammer_status']}); "
              f"without load p50 {s['baseline_p50_ms']} ms, p95 {s['baseline_p95_ms']} ms; goal p95 < {GOAL_P95_MS} ms")
        print(f"batches: org B's 1-item batch {b['light_batch_status']} in {b['light_batch_s']} s behind org A's "
              f"2 x {args.batch_items} items (A had {b['heavy_done_when_light_finished']} done); goal < "
              f"{GOAL_BATCH_S} s; DELETE cancelled {b['heavy_cancelled_items']} items in {b['cancel_ms']} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
