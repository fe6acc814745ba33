"""Faults: the model server down, too slow or talking nonsense; the API process or an ingest killed with SIGKILL.

The LLM faults go through the API (POST /v1/classifications with engine "llm"); the model server is ScriptedLLM
(tests/llm_server.py), the suite's one fake. The SIGKILL tests run real processes: `tariff serve` on SQLite and,
with TARIFF_TEST_POSTGRES_URL, PostgreSQL; `tariff ingest` into a Chroma server. The embedded-index variant of
the ingest kill is tests/index/test_index_kill.py; a Chroma server killed mid-run is test_chroma_server.py.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from llm_server import Delay, ScriptedLLM, Status

from assistant.index.ingest import WRITE_BATCH

TARIFF = Path(sys.executable).with_name("tariff")
T_SHIRT = "Men's T-shirt, 100% cotton, knitted jersey, short sleeves"
GOODS = [T_SHIRT, "Wood screws of stainless steel, 40 mm", "Fresh apples", "Portable laptop computer, 1.5 kg",
         "Leather handbag", "Frozen shrimps, shell-on"]


# ---------------------------------------------------------------- the model server fails


def classify_with_llm(api) -> tuple[dict, float]:
    started = time.monotonic()
    r = api.post("/v1/classifications", "broker", json={"description": T_SHIRT, "engine": "llm"})
    assert r.status_code == 201, r.text
    return r.json(), time.monotonic() - started


def assert_degraded_offline_answer(api, case: dict, reason: str) -> None:
    assert case["degraded"] is True and case["engine"] == "offline", case["engine"]
    assert reason in case["degraded_reason"] and "answered by the offline engine" in case["degraded_reason"]
    nomenclature = api.desk.runtime().nomenclature
    assert case["suggestions"] and all(nomenclature.is_valid_declaration(s["code"]) for s in case["suggestions"])
    assert all(s["citations"] for s in case["suggestions"])
    stored = api.get(f"/v1/classifications/{case['id']}", "officer").json()
    assert stored["degraded"] is True and stored["status"] == "pending_review"  # still waits for an officer


def test_llm_server_down_is_answered_offline_and_flagged(make_api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens there: connection refused
    api = make_api(engine="llm", llm_base_url=nobody, llm_model="any-model", llm_timeout=5.0)
    case, took = classify_with_llm(api)
    assert_degraded_offline_answer(api, case, "LLM server unreachable")
    assert took < 10


def test_llm_slower_than_the_timeout_is_answered_offline_and_flagged(make_api):
    with ScriptedLLM([Delay(20), Delay(20)]) as llm:
        api = make_api(engine="llm", llm_base_url=llm.base_url, llm_model=llm.model, llm_timeout=1.0)
        case, took = classify_with_llm(api)
    assert_degraded_offline_answer(api, case, "LLM timeout after 1.0s")
    assert took < 10  # the timeout, not the model's 20 s


GARBAGE = {  # what the model server answers -> what the degraded answer says about it
    "prose": ("It is probably a T-shirt, heading 6109, I would say.", "not valid JSON"),
    "broken_json": ('{"suggestions": [{"code": "6109.10", "confidence": 0.9', "not valid JSON"),
    "a_list": ("[6109, 6110]", "not valid JSON"),
    "wrong_shape": ({"suggestions": "6109.10"}, "no suggestions list"),
    "empty": ("", "not valid JSON"),
    "codes_outside_the_nomenclature": ({"suggestions": [
        {"code": "0000.00", "confidence": 1.0, "rationale": "x", "cited_ids": ["C1"]},
        {"code": "9999.99", "confidence": 1.0, "rationale": "x", "cited_ids": ["C1"]}],
        "clarifying_question": None, "clarifying_options": []}, "no valid code"),
    "http_500": (Status(500), "HTTP 500"),
    "http_429": (Status(429, {"error": {"message": "slow down", "type": "rate_limit"}}), "HTTP 429"),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_llm_garbage_is_answered_offline_and_flagged(make_api, kind):
    reply, reason = GARBAGE[kind]
    with ScriptedLLM([reply, reply]) as llm:  # the second copy answers the repair request, when one is made
        api = make_api(engine="llm", llm_base_url=llm.base_url, llm_model=llm.model, llm_timeout=10.0)
        case, _ = classify_with_llm(api)
        assert llm.requests, "the model server was not asked"
    assert_degraded_offline_answer(api, case, reason)


# ---------------------------------------------------------------- SIGKILL of the API during decisions

CASES, KILL_AFTER, DECIDERS = 200, 40, 4


def batch_of_cases(server, n: int) -> list[dict]:
    """n cases (one batch), with their top codes."""
    broker = server.h("broker")
    items = [{"description": f"{GOODS[i % len(GOODS)]}, lot {i}", "reference": f"L{i}"} for i in range(n)]
    r = httpx.post(server.url + "/v1/batches", headers=broker, json={"items": items}, timeout=60)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 300
    while httpx.get(f"{server.url}/v1/batches/{r.json()['id']}", headers=broker, timeout=30).json()["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.2)
    rows = httpx.get(f"{server.url}/v1/batches/{r.json()['id']}/results", headers=broker, timeout=60).json()["items"]
    assert len(rows) == n and all(row["status"] == "done" for row in rows)
    return rows


@pytest.mark.slow
def test_sigkill_during_decisions_loses_no_acknowledged_decision(start_server, database_url):
    server = start_server(database_url)
    rows = batch_of_cases(server, CASES)
    todo: queue.Queue[dict] = queue.Queue()
    for row in rows:
        todo.put(row)
    acked: dict[str, dict] = {}  # case id -> the decision the server acknowledged (2xx)
    unacked: set[str] = set()  # sent, but the connection died first
    lock = threading.Lock()

    def decide() -> None:
        with httpx.Client(base_url=server.url, headers=server.h("officer"), timeout=30) as client:
            while True:
                try:
                    row = todo.get_nowait()
                except queue.Empty:
                    return
                i = row["index"]
                body = ({"action": "reject", "reason": f"not enough detail (lot {i})"} if i % 3 == 2
                        else {"action": "confirm", "code": row["top_code"]})
                try:
                    r = client.post(f"/v1/classifications/{row['case_id']}/decisions", json=body)
                except httpx.TransportError:
                    with lock:
                        unacked.add(row["case_id"])
                    return  # the server is gone
                assert r.status_code == 201, r.text
                with lock:
                    acked[row["case_id"]] = {"body": body, "decision_id": r.json()["current_decision_id"],
                                             "status": r.json()["status"]}

    threads = [threading.Thread(target=decide, name=f"decider-{n}", daemon=True) for n in range(DECIDERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < KILL_AFTER:
        assert time.monotonic() < deadline, "decisions are not being acknowledged"
        time.sleep(0.002)
    server.kill(signal.SIGKILL)
    for t in threads:
        t.join(timeout=60)
    assert KILL_AFTER <= len(acked) < CASES, "the server was not killed mid-stream"
    assert server.proc.returncode == -signal.SIGKILL

    server.start()  # the same home, database and port
    with httpx.Client(base_url=server.url, headers=server.h("admin"), timeout=60) as client:
        for case_id, sent in acked.items():
            case = client.get(f"/v1/classifications/{case_id}").json()
            assert case["current_decision_id"] == sent["decision_id"] and case["status"] == sent["status"]
            assert [d["id"] for d in case["decisions"]] == [sent["decision_id"]]
        for case_id in unacked:  # in flight when killed: all or nothing
            case = client.get(f"/v1/classifications/{case_id}").json()
            assert (case["status"], len(case["decisions"])) in {("pending_review", 0), ("confirmed", 1),
                                                                ("rejected", 1)}
        exported = client.get("/v1/audit/export").text.splitlines()
    decided = {e["data"]["decision_id"] for e in map(json.loads, exported) if e["type"] == "decision"}
    assert {sent["decision_id"] for sent in acked.values()} <= decided
    verify = server.cli("audit", "verify")
    assert verify.returncode == 0 and "audit chain OK" in verify.stdout, verify.stdout + verify.stderr


# ---------------------------------------------------------------- SIGKILL of an ingest into a Chroma server


def ingest_progress(buffer: list[bytes]) -> int:
    counts = re.findall(rb"(\d+)/\d+ \[", b"".join(buffer))
    return int(counts[-1]) if counts else 0


@pytest.mark.slow
def test_sigkill_mid_ingest_into_a_chroma_server_then_rerun_converges(hs_runtime, empty_chroma_server, tmp_path):
    home = tmp_path / "ingest-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARIFF_")}
    env.update(TARIFF_HOME=str(home), TARIFF_CHROMA_URL=empty_chroma_server.url,
               TARIFF_EMBED_CACHE_DIR=os.environ["TARIFF_EMBED_CACHE_DIR"])

    def tariff(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(TARIFF), *args], env=env, cwd=home, capture_output=True, text=True, timeout=600,
                              check=False)

    proc = subprocess.Popen([str(TARIFF), "ingest", "hs2022"], env=env, cwd=home, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    buffer: list[bytes] = []
    reader = threading.Thread(target=lambda: [buffer.append(c) for c in iter(lambda: proc.stderr.read1(4096), b"")],
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while ingest_progress(buffer) < 2 * WRITE_BATCH and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    proc.stdout.close()  # closed here, not by the garbage collector (warnings are errors)
    proc.stderr.close()

    def status() -> dict:
        done = tariff("status", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    partial = status()
    total = hs_runtime.status()["passages"]
    assert 2 * WRITE_BATCH <= partial["passages"] < total and partial["store"] == empty_chroma_server.url
    rerun = tariff("ingest", "hs2022", "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    added, unchanged = map(int, re.search(r"(\d+) added, (\d+) unchanged", rerun.stdout).groups())
    assert (added, unchanged) == (total - partial["passages"], partial["passages"])
    final, embedded = status(), hs_runtime.status()
    assert final["counts"] == embedded["counts"] and final["snapshot"] == embedded["snapshot"]
