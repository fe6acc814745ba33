"""Batches through the real app: JSON and CSV uploads, the background worker, progress, results, limits."""

from __future__ import annotations

import csv
import io
import json
import time

from api_support import SCREWS, T_SHIRT

GOODS = [T_SHIRT, SCREWS, "Fresh apples", "Laptop computer, portable, 1.5 kg", "Leather handbag"]


def wait_done(api, batch_id: str, who: str = "broker_a", timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get(f"/v1/batches/{batch_id}", who)
        assert r.status_code == 200, r.text
        if r.json()["status"] == "done":
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} not done after {timeout} s: {r.json()}")


def csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def test_json_batch_creates_one_case_per_item(api):
    items = [{"description": d, "reference": f"L{i}"} for i, d in enumerate(GOODS)]
    items[1]["declared_code"] = "0101.21"
    r = api.post("/v1/batches", "broker_a", json={"items": items, "top": 3})
    assert r.status_code == 202, r.text
    batch = r.json()
    assert r.headers["Location"] == f"/v1/batches/{batch['id']}"
    assert api.get(r.headers["Location"], "broker_a").json()["id"] == batch["id"]
    assert batch["total"] == len(GOODS) and batch["status"] in ("queued", "running", "done")
    done = wait_done(api, batch["id"])
    assert done["done"] == len(GOODS) and done["failed"] == 0 and done["progress"] == 1.0
    results = api.get(f"/v1/batches/{batch['id']}/results", "broker_a").json()
    rows = results["items"]
    assert [row["reference"] for row in rows] == [f"L{i}" for i in range(len(GOODS))]
    assert all(row["status"] == "done" and row["case_status"] == "pending_review" for row in rows)
    assert all(row["final_code"] is None and row["notice"].startswith("Advisory only") for row in rows)
    assert all(1 <= len(row["codes"]) <= 3 and row["top_code"] == row["codes"][0] for row in rows)
    assert rows[1]["risk_flag"] is True and rows[0]["risk_flag"] is False
    assert rows[1]["routing"] == "priority_review"
    # an unflagged item carries its case's routing tag
    first = api.get(f"/v1/classifications/{rows[0]['case_id']}", "broker_a").json()
    assert rows[0]["routing"] == first["routing"] in ("quick_confirm", "review", "needs_information")
    assert all(row["top_description"] for row in rows)  # HS 2022 prints no duty: the rate may be null here
    # each item is a real case in the officers' queue, flagged first
    case = api.get(f"/v1/classifications/{rows[0]['case_id']}", "officer").json()
    assert case["batch_id"] == batch["id"] and case["description"] == GOODS[0]
    queue = api.get("/v1/review/queue", "officer").json()
    assert queue["total"] == len(GOODS) and queue["items"][0]["id"] == rows[1]["case_id"]
    listed = api.get(f"/v1/classifications?batch_id={batch['id']}", "broker_a").json()
    assert listed["total"] == len(GOODS)


def test_csv_batch_of_1000_rows_completes_and_downloads(api):
    rows = [{"description": f"{GOODS[i % len(GOODS)]} (lot {i})", "reference": f"R{i:04d}", "declared_code": ""}
            for i in range(1000)]
    r = api.post("/v1/batches", "broker_a", files={"file": ("goods.csv", csv_bytes(rows), "text/csv")})
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    assert r.json()["total"] == 1000
    done = wait_done(api, batch_id, timeout=300)
    assert done["done"] == 1000 and done["failed"] == 0
    out = api.get(f"/v1/batches/{batch_id}/results?format=csv", "broker_a")
    assert out.status_code == 200 and out.headers["content-type"].startswith("text/csv")
    assert "attachment" in out.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(out.text)))
    assert len(table) == 1000
    assert [t["reference"] for t in table] == [f"R{i:04d}" for i in range(1000)]
    assert all(t["status"] == "done" and t["case_status"] == "pending_review" and t["top_code"] for t in table)
    assert all(t["final_code"] == "" for t in table)
    assert api.get("/v1/classifications?limit=1", "officer").json()["total"] == 1000


def test_text_csv_body_and_formula_cells(api):
    data = b"Description,Reference\n=HYPERLINK(\"http://evil\"),X1\nCotton T-shirt,X2\n"
    r = api.post("/v1/batches", "broker_a", content=data, headers={"Content-Type": "text/csv"})
    assert r.status_code == 202, r.text
    wait_done(api, r.json()["id"])
    out = api.get(f"/v1/batches/{r.json()['id']}/results?format=csv", "broker_a").text
    first = next(csv.DictReader(io.StringIO(out)))
    assert first["description"].startswith("'=")  # neutralised for spreadsheets


def test_excel_csv_semicolons_latin1_blank_and_bad_rows(api):
    data = ("Artikel;Ref;Declared code\r\nCamiseta de algodón;A1;\r\n;\r\n;A2;\r\nTête de lit en bois;A3;zz\r\n"
            "Wood screws;A4;7318.12\r\n").encode("latin-1")
    r = api.post("/v1/batches?description_column=Artikel&reference_column=Ref", "broker_a", content=data,
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 202, r.text
    made = r.json()
    assert made["total"] == 2 and made["csv_encoding"] == "cp1252" and made["csv_delimiter"] == ";"
    assert [(e["line"], e["error"].split(":")[0]) for e in made["rejected_rows"]] == [
        (4, "the description is empty"), (5, "declared_code")]
    wait_done(api, made["id"])
    rows = api.get(f"/v1/batches/{made['id']}/results", "broker_a").json()["items"]
    assert [(row["reference"], row["description"]) for row in rows] == [("A1", "Camiseta de algodón"),
                                                                          ("A4", "Wood screws")]
    out = api.get(f"/v1/batches/{made['id']}/results?format=csv", "broker_a").text
    header = next(csv.reader(io.StringIO(out)))
    assert header[-3:] == ["top_description", "top_general_rate", "routing"]
    unknown = api.post("/v1/batches?description_column=Text", "broker_a", content=data,
                       headers={"Content-Type": "text/csv"})
    assert unknown.status_code == 422 and "'text' column" in unknown.json()["detail"]


def test_batch_limits_and_bad_uploads(make_api):
    api = make_api(max_batch_items=10)

    def post(**kw):
        return api.post("/v1/batches", "broker_a", **kw)

    too_many = post(json={"items": [{"description": "apples"}] * 11})
    assert too_many.status_code == 413 and "at most 10" in too_many.json()["detail"]
    big_csv = csv_bytes([{"description": f"apples {i}"} for i in range(11)])
    assert post(files={"file": ("a.csv", big_csv, "text/csv")}).status_code == 413
    binary = bytes(range(256)) * 4
    r = post(files={"file": ("a.csv", binary, "text/csv")})
    assert r.status_code == 422 and "binary file" in r.json()["detail"]
    r = post(files={"file": ("a.csv", b"name,price\nshirt,3\n", "text/csv")})
    assert r.status_code == 422 and "'description' column" in r.json()["detail"]
    r = post(files={"file": ("a.csv", b"description\n\x00\x01\n", "text/csv")})
    assert r.status_code == 422
    r = post(files={"file": ("a.csv", b"description\n", "text/csv")})
    assert r.status_code == 422 and "no rows" in r.json()["detail"]
    r = post(files={"other": ("a.csv", b"description\nshirt\n", "text/csv")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    assert post(json={"items": []}).status_code == 422
    assert post(json={"items": [{"description": "  "}]}).status_code == 422
    assert post(json={"items": [{"description": "shirt", "declared_code": "abc"}]}).status_code == 422
    r = post(content=b'{"items": [', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = post(content=b"description\nshirt\n", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = post(content=b"--xx\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=xx"})
    assert 400 <= r.status_code < 500 and "error" in r.json()


def test_batch_visibility_roles_and_idempotency(api):
    body = {"items": [{"description": T_SHIRT}]}
    r1 = api.post("/v1/batches", "broker_a", json=body, headers={"Idempotency-Key": "b-1"})
    r2 = api.post("/v1/batches", "broker_a", json=body, headers={"Idempotency-Key": "b-1"})
    assert r1.status_code == r2.status_code == 202 and r1.json()["id"] == r2.json()["id"]
    r3 = api.post("/v1/batches", "broker_a", json={"items": [{"description": SCREWS}]},
                  headers={"Idempotency-Key": "b-1"})
    assert r3.status_code == 409
    batch_id = r1.json()["id"]
    wait_done(api, batch_id)
    assert api.get(f"/v1/batches/{batch_id}", "broker_b").status_code == 404
    assert api.get(f"/v1/batches/{batch_id}/results", "broker_b").status_code == 404
    assert api.get(f"/v1/batches/{batch_id}", "officer").status_code == 200
    assert api.get("/v1/batches/nope", "broker_a").status_code == 404
    assert api.get(f"/v1/batches/{batch_id}/results?format=xml", "broker_a").status_code == 422
    # only one batch was stored for the repeated request
    assert api.get("/v1/classifications", "broker_a").json()["total"] == 1


def test_unfinished_batches_resume_on_restart(api):
    """A batch left pending (process stopped) is picked up when the worker starts again."""
    worker = api.app.state.worker
    worker.stop()
    r = api.post("/v1/batches", "broker_a", json={"items": [{"description": d} for d in GOODS[:3]]})
    assert r.status_code == 202
    batch_id = r.json()["id"]
    # submit() restarted the stopped worker, which re-queued the unfinished batch
    assert wait_done(api, batch_id)["done"] == 3


def test_a_batch_item_gets_the_answer_its_description_gets_alone(api):
    alone = [api.classify(description=d) for d in GOODS[:3]]
    r = api.post("/v1/batches", "broker_a", json={"items": [{"description": d} for d in GOODS[:3][::-1]]})
    assert r.status_code == 202, r.text
    rows = api.get(f"/v1/batches/{wait_done(api, r.json()['id'])['id']}/results", "broker_a").json()["items"]
    batched = [api.get(f"/v1/classifications/{row['case_id']}", "broker_a").json() for row in rows][::-1]
    for single, item in zip(alone, batched):
        assert [(s["code"], s["confidence"], [c["source_id"] for c in s["citations"]]) for s in item["suggestions"]] \
            == [(s["code"], s["confidence"], [c["source_id"] for c in s["citations"]]) for s in single["suggestions"]]
        assert item["corpus_snapshot"] == single["corpus_snapshot"]
        assert item["engine_version"] == single["engine_version"]


def _hold_worker(api, monkeypatch):
    """Stop the background worker and keep new batches from waking it: the test runs its turns itself."""
    worker = api.app.state.worker
    worker.stop()
    monkeypatch.setattr(worker, "submit", lambda batch_id: None)
    return worker


def test_batches_of_organisations_are_served_round_robin(api, monkeypatch):
    """Two big batches of one organisation do not hold back another's 1-item batch (issue 17)."""
    worker = _hold_worker(api, monkeypatch)
    big = [api.post("/v1/batches", "broker_a", json={"items": [{"description": d} for d in GOODS * 3]}).json()["id"]
           for _ in range(2)]
    small = api.post("/v1/batches", "broker_b", json={"items": [{"description": SCREWS}]}).json()["id"]
    served = []
    for _ in range(2):
        served.append(worker.next_org())
        assert worker.turn()
    assert served == ["acme", "globex"]
    assert api.get(f"/v1/batches/{small}", "broker_b").json()["status"] == "done"
    first = api.get(f"/v1/batches/{big[0]}", "broker_a").json()
    assert first["status"] == "running" and first["done"] == 4
    assert api.get(f"/v1/batches/{big[1]}", "broker_a").json()["status"] == "queued"
    worker.process(big[0])  # the rest, in the calling thread
    assert [api.get(f"/v1/batches/{b}", "broker_a").json()["done"] for b in big] == [15, 15]


def test_delete_cancels_what_has_not_run(api, monkeypatch):
    worker = _hold_worker(api, monkeypatch)
    batch_id = api.post("/v1/batches", "broker_a", json={"items": [{"description": d} for d in GOODS * 2]}).json()["id"]
    assert worker.turn()  # 4 items classified
    assert api.delete(f"/v1/batches/{batch_id}", "broker_b").status_code == 404  # another organisation's
    r = api.delete(f"/v1/batches/{batch_id}", "broker_a")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancelled"] == 6 and r.json()["done"] == 4
    assert r.json()["progress"] == 1.0
    assert api.delete(f"/v1/batches/{batch_id}", "broker_a").json()["cancelled"] == 6  # idempotent
    assert not worker.turn()  # nothing left to run
    items = api.get(f"/v1/batches/{batch_id}/results", "broker_a").json()["items"]
    assert [i["status"] for i in items] == ["done"] * 4 + ["cancelled"] * 6
    assert api.get(f"/v1/classifications?batch_id={batch_id}", "broker_a").json()["total"] == 4
    events = [json.loads(line) for line in api.get("/v1/audit/export", "admin").text.splitlines()]
    cancel = [e for e in events if e["type"] == "batch_cancelled"]
    assert len(cancel) == 1 and cancel[0]["data"]["items_cancelled"] == 6
    done = api.post("/v1/batches", "broker_a", json={"items": [{"description": SCREWS}]}).json()["id"]
    worker.process(done)
    r = api.delete(f"/v1/batches/{done}", "broker_a")
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert api.delete("/v1/batches/nope", "broker_a").status_code == 404


def test_revoking_a_key_cancels_its_pending_items(api, monkeypatch):
    worker = _hold_worker(api, monkeypatch)
    batch_id = api.post("/v1/batches", "broker_a", json={"items": [{"description": d} for d in GOODS]}).json()["id"]
    other = api.post("/v1/batches", "broker_b", json={"items": [{"description": SCREWS}]}).json()["id"]
    assert api.delete(f"/v1/keys/{api.ids['broker_a']}", "admin").status_code == 200
    batch = api.get(f"/v1/batches/{batch_id}", "officer").json()
    assert batch["status"] == "cancelled" and batch["cancelled"] == len(GOODS)
    worker.process(other)
    assert api.get(f"/v1/classifications?batch_id={batch_id}", "officer").json()["total"] == 0
    assert api.get(f"/v1/batches/{other}", "broker_b").json()["done"] == 1


def test_a_batch_counts_its_items_against_the_rate_limit(make_api, monkeypatch):
    api = make_api(rate_limit_per_minute=30)
    _hold_worker(api, monkeypatch)
    assert api.post("/v1/batches", "broker_a", json={"items": [{"description": SCREWS}] * 25}).status_code == 202
    r = api.post("/v1/batches", "broker_a", json={"items": [{"description": SCREWS}] * 10})
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert "rate limit of 30 batch items a minute exceeded" in r.json()["detail"]
    assert api.get("/v1/codes/6109", "broker_a").status_code == 200  # reading and polling stay possible
    # Larger than the whole quota: accepted from a full bucket, then the key's next batch waits until it is paid for.
    assert api.post("/v1/batches", "officer", json={"items": [{"description": SCREWS}] * 40}).status_code == 202
    r = api.post("/v1/batches", "officer", json={"items": [{"description": SCREWS}]})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 20
    assert api.post("/v1/batches", "broker_b", json={"items": [{"description": SCREWS}] * 30}).status_code == 202


def test_formula_guard_looks_past_leading_whitespace(api):
    refs = [" =1+1", "\u00a0+cmd", "  @SUM(A1)", "-2", "plain", " spaced ok"]
    r = api.post("/v1/batches", "broker_a",
                 json={"items": [{"description": SCREWS, "reference": ref} for ref in refs]})
    assert r.status_code == 202, r.text
    wait_done(api, r.json()["id"])
    out = api.get(f"/v1/batches/{r.json()['id']}/results?format=csv", "broker_a").text
    got = [row["reference"] for row in csv.DictReader(io.StringIO(out))]
    assert got == ["' =1+1", "'\u00a0+cmd", "'  @SUM(A1)", "'-2", "plain", " spaced ok"]


def test_nul_is_refused_in_every_batch_field(api):
    for item in ({"description": "shirt\x00"}, {"description": SCREWS, "reference": "R\x001"},
                 {"description": SCREWS, "declared_code": "6109\x00"}):
        r = api.post("/v1/batches", "broker_a", json={"items": [item]})
        assert r.status_code == 422 and r.json()["error"] == "invalid_input", (item, r.text)
    r = api.post("/v1/batches", "broker_a", content=b"description\nshirt\x00\n", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
