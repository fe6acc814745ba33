"""The index on a Chroma server (`chroma run` on 127.0.0.1, TARIFF_CHROMA_URL): the scale-out mode, and its failure.

Two `tariff serve` processes with separate homes share one Chroma server and one database (SQLite file, or
PostgreSQL with TARIFF_TEST_POSTGRES_URL) and serve the same cases. When the Chroma server is killed mid-run,
requests that need the index answer 503 with Retry-After (never 500, never a hang), /readyz answers 503, the
rest of the API keeps working, and everything recovers once Chroma is back on the same port and folder.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.slow

GOODS = ["Men's T-shirt of cotton, knitted", "Wood screws of stainless steel", "Fresh apples",
         "Portable laptop computer", "Leather handbag", "Frozen shrimps"]


def test_two_servers_share_one_chroma_server_and_one_database(chroma_server, start_server, database_url, tmp_path):
    a = start_server(database_url, chroma_url=chroma_server.url)
    b = start_server(database_url, home=tmp_path / "empty-home", chroma_url=chroma_server.url)  # nothing local
    for server in (a, b):
        ready = httpx.get(server.url + "/readyz", timeout=60)
        assert ready.status_code == 200 and ready.json()["edition"] == "HS 2022"

    def classify(args: tuple[str, str]):
        server, description = args
        return httpx.post(server + "/v1/classifications", headers=a.h("broker"), timeout=120,
                          json={"description": description})

    jobs = [(server.url, d) for d in GOODS for server in (a, b)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(classify, jobs))
    assert [r.status_code for r in answers] == [201] * len(jobs), [r.text for r in answers if r.status_code != 201]
    cases = [r.json() for r in answers]
    for first, second in zip(cases[::2], cases[1::2]):  # the same description on each server: the same answer
        assert [s["code"] for s in first["suggestions"]] == [s["code"] for s in second["suggestions"]]
        assert first["corpus_snapshot"] == second["corpus_snapshot"]

    # a case opened on one server is decided on the other, and read back on the first
    case = cases[0]
    decided = httpx.post(f"{b.url}/v1/classifications/{case['id']}/decisions", headers=a.h("officer"), timeout=60,
                         json={"action": "confirm", "code": case["suggestions"][0]["code"]})
    assert decided.status_code == 201, decided.text
    back = httpx.get(f"{a.url}/v1/classifications/{case['id']}", headers=a.h("broker"), timeout=60).json()
    assert back["status"] == "confirmed" and back["final_code"] == case["suggestions"][0]["code"]
    listed = httpx.get(f"{b.url}/v1/classifications?limit=200", headers=a.h("officer"), timeout=60).json()
    assert {c["id"] for c in cases} <= {c["id"] for c in listed["items"]}

    # both processes appended to one audit chain, which still verifies
    verify = a.cli("audit", "verify")
    assert verify.returncode == 0 and "audit chain OK" in verify.stdout, verify.stdout + verify.stderr


def test_chroma_killed_mid_run_answers_503_with_retry_after_then_recovers(chroma_server, start_server):
    server = start_server(chroma_url=chroma_server.url)
    broker = server.h("broker")
    seen: list[tuple[float, int | str, str | None, float]] = []  # (when, status or error, Retry-After, seconds)
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not stop.is_set():
                started = time.monotonic()
                try:
                    r = client.post(server.url + "/v1/classifications", headers=broker,
                                    json={"description": f"{GOODS[i % len(GOODS)]}, lot {i}"})
                    seen.append((started, r.status_code, r.headers.get("retry-after"), time.monotonic() - started))
                except httpx.HTTPError as exc:  # a timeout would be a hang: recorded, and it fails the test
                    seen.append((started, type(exc).__name__, None, time.monotonic() - started))
                i += 1

    def wait_for(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"{what} within {timeout} s: {seen[-5:]}"
            time.sleep(0.05)

    worker = threading.Thread(target=stream, name="classify-stream", daemon=True)
    worker.start()
    try:
        wait_for(lambda: sum(s[1] == 201 for s in seen) >= 3, 120, "three classifications")
        chroma_server.kill()
        killed = time.monotonic()
        wait_for(lambda: sum(s[0] > killed for s in seen) >= 3, 60, "three answers after the kill")

        r = httpx.post(server.url + "/v1/classifications", headers=broker, timeout=30,
                       json={"description": "Cotton shirt, woven"})
        assert r.status_code == 503 and r.json()["error"] == "backend_unavailable", r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert httpx.get(server.url + "/v1/search?q=cotton", headers=broker, timeout=30).status_code == 503
        ready = httpx.get(server.url + "/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["index"] is False and ready.json()["database"] is True
        # what needs only the database keeps working
        assert httpx.get(server.url + "/v1/classifications", headers=broker, timeout=30).status_code == 200

        chroma_server.start()  # the same port and folder
        wait_for(lambda: httpx.get(server.url + "/readyz", timeout=30).status_code == 200, 60, "ready again")
        back = httpx.post(server.url + "/v1/classifications", headers=broker, timeout=60,
                          json={"description": "Cotton shirt, woven"})
        assert back.status_code == 201, back.text
    finally:
        stop.set()
        worker.join(timeout=60)

    statuses = {s[1] for s in seen}
    assert statuses <= {201, 503}, statuses  # never a 500, never a timeout
    assert 503 in statuses
    assert all(s[2] and int(s[2]) >= 1 for s in seen if s[1] == 503)  # every 503 says when to retry
    assert max(s[3] for s in seen) < 30
