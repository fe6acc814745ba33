"""Load: concurrent brokers classify through a real uvicorn server while officers decide; then nothing is lost.

    .venv/bin/python eval/bench_load.py [--clients 50] [--requests 2000] [--officers 2] [--workers 1]
                                        [--home TARIFF_HOME] [--database-url URL] [--json]

Starts `uvicorn assistant.server:create_app --factory` on 127.0.0.1 (a free port) in a subprocess, on --home or a
temporary TARIFF_HOME where HS 2022 is indexed first (quick when TARIFF_EMBED_CACHE_DIR already holds its
embeddings), with SQLite or --database-url. Creates one broker key per client (the rate limit is per key) and
one officer key per officer. Then --clients concurrent clients send --requests classifications in total (offline
engine) while the officers work the review queue, confirming or rejecting cases as they arrive. Reports p50/p95/
p99 latency, throughput and errors for both; then checks that every acknowledged (2xx) classification and
decision is stored and that `tariff audit verify` passes. Loopback traffic only; it stops by itself.
Exit status: 0 when there were no errors and nothing was lost (the p99 goal is reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ATLAS = REPO.parent / "shared" / "data" / "atlas_cross_eval" / "atlas_dev.jsonl"
GOAL_P99_S = 1.0
FALLBACK_GOODS = [
    "Men's T-shirt, 100% cotton, knitted", "Wood screws of stainless steel, 40 mm", "Fresh apples",
    "Portable laptop computer, 1.5 kg", "Leather handbag with shoulder strap", "Frozen shrimps, shell-on",
    "Ceramic coffee mugs", "Rubber tyres for cars, new", "Mobile phone, smartphone", "Plastic toy building blocks",
]


@dataclass
class Stats:
    """Latencies (seconds) and outcomes of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self, wall_s: float) -> dict:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

        return {"ok": len(lat), "errors": sum(self.errors.values()), "error_kinds": self.errors,
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": pct(1.0),
                "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
                "throughput_per_s": round(len(lat) / wall_s, 1) if wall_s else None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descriptions(n: int) -> list[str]:
    pool = FALLBACK_GOODS
    if ATLAS.exists():
        pool = [json.loads(line)["description"] for line in ATLAS.read_text(encoding="utf-8").splitlines() if line]
    return [f"{pool[i % len(pool)]} (lot {i})" for i in range(n)]


def run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, **kw)


async def drive(url: str, brokers: list[str], officers: list[str], texts: list[str], timeout: float) -> dict:
    """The load: brokers send `texts`, officers decide what reaches the queue until the brokers are done."""
    import httpx

    classify, decide = Stats(), Stats()
    cases: list[str] = []  # ids of acknowledged classifications
    decisions: dict[str, str] = {}  # case id -> acknowledged decision id
    todo = iter(enumerate(texts))
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=len(brokers) + len(officers) + 4)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def broker(key: str) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            for i, text in todo:
                started = time.perf_counter()
                try:
                    r = await client.post("/v1/classifications", headers=headers,
                                          json={"description": text, "reference": f"L{i}"})
                except httpx.HTTPError as exc:
                    classify.error(type(exc).__name__)
                    continue
                if r.status_code == 201:
                    classify.latencies.append(time.perf_counter() - started)
                    cases.append(r.json()["id"])
                else:
                    classify.error(f"HTTP {r.status_code}")

        async def officer(n: int, key: str) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            while True:
                finished = done.is_set()
                try:
                    queue = (await client.get("/v1/review/queue?limit=50", headers=headers)).json()["items"]
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    decide.error(f"queue: {type(exc).__name__}")
                    await asyncio.sleep(0.2)
                    continue
                mine = [c for c in queue if int(c["id"], 16) % len(officers) == n and c["top_code"]]
                for c in mine:  # officers split the cases between them: no two decide the same case
                    body = ({"action": "reject", "reason": "not enough detail to classify"}
                            if int(c["id"], 16) % 5 == 0 else {"action": "confirm", "code": c["top_code"]})
                    started = time.perf_counter()
                    try:
                        r = await client.post(f"/v1/classifications/{c['id']}/decisions", headers=headers, json=body)
                    except httpx.HTTPError as exc:
                        decide.error(type(exc).__name__)
                        continue
                    if r.status_code == 201:
                        decide.latencies.append(time.perf_counter() - started)
                        decisions[c["id"]] = r.json()["current_decision_id"]
                    else:
                        decide.error(f"HTTP {r.status_code}")
                if finished:
                    return
                if not mine:
                    await asyncio.sleep(0.1)

        started = time.perf_counter()
        staff = [asyncio.create_task(officer(n, key)) for n, key in enumerate(officers)]
        await asyncio.gather(*(broker(key) for key in brokers))
        classify_wall = time.perf_counter() - started
        done.set()
        await asyncio.gather(*staff)
        total_wall = time.perf_counter() - started
    return {"classify": classify.summary(classify_wall), "decide": decide.summary(total_wall),
            "classify_wall_s": round(classify_wall, 1), "total_wall_s": round(total_wall, 1),
            "cases": cases, "decisions": decisions}


def verify_stored(settings, cases: list[str], decisions: dict[str, str]) -> dict:
    """Every acknowledged case and decision is in the database, and each decided case points at its decision."""
    from sqlalchemy import select

    from assistant.store.db import Database
    from assistant.store.tables import Case, Decision

    db = Database.from_settings(settings)
    try:
        with db.read() as s:
            stored_cases = set(s.execute(select(Case.id)).scalars())
            current = dict(s.execute(select(Case.id, Case.decision_id).where(Case.decision_id.is_not(None))).all())
            stored_decisions = set(s.execute(select(Decision.id)).scalars())
    finally:
        db.dispose()
    return {
        "cases_missing": len(set(cases) - stored_cases),
        "decisions_missing": len(set(decisions.values()) - stored_decisions),
        "decisions_not_current": sum(current.get(c) != d for c, d in decisions.items()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50, help="concurrent broker clients (one key each)")
    ap.add_argument("--requests", type=int, default=2000, help="classifications in total")
    ap.add_argument("--officers", type=int, default=2, help="concurrent officers deciding")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--home", type=Path, help="TARIFF_HOME with an index (default: a temporary HS 2022 home)")
    ap.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite under a temporary folder)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (home, database, server log)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        return bench(args, work)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path) -> int:
    from assistant.auth import create_key
    from assistant.config import Settings
    from assistant.store.db import Database

    home = args.home or work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARIFF_")}
    env.update(TARIFF_HOME=str(home), PYTHONUNBUFFERED="1")
    for name in ("TARIFF_EMBED_CACHE_DIR", "TARIFF_EMBEDDING_MODEL", "TARIFF_EMBEDDING_RUNTIME"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    # the cases go to a fresh database unless one is given: a reused home keeps its own index, not its cases
    database_url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    env["TARIFF_DATABASE_URL"] = database_url
    t0 = time.perf_counter()
    if args.home is None:
        print(f"indexing HS 2022 into {home} ...", file=sys.stderr)
        done = run([str(BIN / "tariff"), "ingest", "hs2022", "--quiet"], env, timeout=3600)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return 2
    settings = Settings(_env_file=None, home=home, database_url=database_url)
    db = Database.open(settings)  # migrated once, before the workers start
    brokers = [create_key(db, name=f"broker {i}", role="broker", org=f"org{i % 5}").key for i in range(args.clients)]
    officers = [create_key(db, name=f"officer {i}", role="officer", org="customs").key for i in range(args.officers)]
    db.dispose()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "python"), "-m", "uvicorn", "assistant.server:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        import httpx

        deadline = time.monotonic() + 600
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                print("the server did not start:\n" + (work / "server.log").read_text()[-3000:], file=sys.stderr)
                return 2
            try:
                if httpx.get(url + "/readyz", timeout=60).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {brokers[0]}"}) as c, \
                ThreadPoolExecutor(4 * args.workers) as pool:  # concurrent, so that every worker loads its model
            list(pool.map(lambda text: c.post("/v1/classifications", json={"description": text}),
                          descriptions(8 * args.workers)))
        setup_s = time.perf_counter() - t0
        print(f"server ready on {url} ({args.workers} worker(s)); driving {args.requests} classifications from "
              f"{args.clients} clients with {args.officers} officers ...", file=sys.stderr)
        result = asyncio.run(drive(url, brokers, officers, descriptions(args.requests), args.timeout))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

    stored = verify_stored(settings, result["cases"], result["decisions"])
    audit = run([str(BIN / "tariff"), "audit", "verify"], env, timeout=600)
    figures = {
        "clients": args.clients, "requests": args.requests, "officers": args.officers, "workers": args.workers,
        "cpus": os.cpu_count(), "database": database_url.split(":", 1)[0].split("+")[0],
        "classify": result["classify"], "decide": result["decide"],
        "classify_wall_s": result["classify_wall_s"], "total_wall_s": result["total_wall_s"],
        "setup_s": round(setup_s, 1), **stored,
        "audit_verify": (audit.stdout or audit.stderr).strip(),
        "p99_goal_met": bool(result["classify"]["p99_ms"] is not None
                             and result["classify"]["p99_ms"] <= GOAL_P99_S * 1000),
    }
    lost = stored["cases_missing"] + stored["decisions_missing"] + stored["decisions_not_current"]
    errors = figures["classify"]["errors"] + figures["decide"]["errors"]
    if args.json:
        print(json.dumps(figures))
    else:
        for k, v in figures.items():
            print(f"{k:>22}: {v}")
    return 0 if errors == 0 and lost == 0 and audit.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
