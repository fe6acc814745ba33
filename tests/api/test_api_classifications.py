"""POST/GET /v1/classifications through the real app: cases, scoping, idempotency, declared-code risk, bad input."""

from __future__ import annotations

from api_support import SCREWS, T_SHIRT

NOTICE = "Advisory only: pending officer review. Not a final classification."


def test_create_opens_a_pending_case_with_cited_suggestions(api):
    case = api.classify(description=T_SHIRT, reference="PO-1", top=3)
    assert case["status"] == "pending_review"
    assert case["final_code"] is None
    assert case["notice"] == NOTICE
    assert case["reference"] == "PO-1"
    assert case["requester"] == {"key_id": api.ids["broker_a"], "name": "Ann Broker"}
    assert case["org"] == "acme"
    assert case["engine"] == "offline"
    assert case["edition"] == api.desk.runtime().nomenclature.edition
    assert case["corpus_snapshot"] == api.desk.runtime().catalog.snapshot
    assert 1 <= len(case["suggestions"]) <= 3
    first = case["suggestions"][0]
    assert first["citations"], "every suggestion cites its sources"
    assert first["citations"][0]["source_id"]
    # what is stored is what comes back
    again = api.get(f"/v1/classifications/{case['id']}", "broker_a").json()
    assert again["suggestions"] == case["suggestions"]
    assert again["status"] == "pending_review" and again["final_code"] is None and again["notice"] == NOTICE


def test_broker_sees_only_its_organisation(api):
    mine = api.classify("broker_a")
    theirs = api.classify("broker_b", description=SCREWS)
    assert api.get(f"/v1/classifications/{mine['id']}", "broker_b").status_code == 404
    r = api.get(f"/v1/classifications/{theirs['id']}", "broker_a")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    listed = api.get("/v1/classifications", "broker_a").json()
    assert [c["id"] for c in listed["items"]] == [mine["id"]]
    assert listed["total"] == 1
    # officers and admins see every organisation's cases
    for who in ("officer", "admin"):
        ids = {c["id"] for c in api.get("/v1/classifications", who).json()["items"]}
        assert ids == {mine["id"], theirs["id"]}


def test_list_filters_by_status(api):
    a = api.classify()
    b = api.classify(description=SCREWS)
    api.decide(b["id"], action="reject", reason="not enough detail")
    pending = api.get("/v1/classifications?status=pending_review", "officer").json()["items"]
    rejected = api.get("/v1/classifications?status=rejected", "officer").json()["items"]
    assert [c["id"] for c in pending] == [a["id"]]
    assert [c["id"] for c in rejected] == [b["id"]] and rejected[0]["final_code"] is None
    assert api.get("/v1/classifications?status=bogus", "officer").status_code == 422
    typo = api.get("/v1/classifications?stauts=rejected", "officer")  # not silently ignored
    assert typo.status_code == 422 and "stauts" in typo.json()["detail"]
    twice = api.get("/v1/classifications?status=rejected&status=pending_review", "officer")  # not last-wins
    assert twice.status_code == 422 and "'status'" in twice.json()["detail"]


def test_idempotency_key_returns_the_same_case(api):
    body = {"description": T_SHIRT, "reference": "PO-7"}
    first = api.post("/v1/classifications", "broker_a", json=body, headers={"Idempotency-Key": "abc-1"})
    second = api.post("/v1/classifications", "broker_a", json=body, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert api.get("/v1/classifications", "broker_a").json()["total"] == 1
    changed = api.post("/v1/classifications", "broker_a", json={**body, "reference": "PO-8"},
                       headers={"Idempotency-Key": "abc-1"})
    assert changed.status_code == 409 and changed.json()["error"] == "conflict"
    # the key is scoped to the API key that used it
    other = api.post("/v1/classifications", "broker_b", json=body, headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_declared_code_consistent_with_the_evidence_is_not_flagged(api):
    top = api.classify()["suggestions"][0]["code"]
    case = api.classify(declared_code=top)
    assert case["declared_code"] == top
    assert case["risk_flag"] is False and case["risk_reasons"] == []


def test_declared_code_risks_are_flagged(api):
    unknown = api.classify(declared_code="7777.77")  # chapter 77 is reserved
    assert unknown["risk_flag"] is True
    assert any("is not a line of" in r for r in unknown["risk_reasons"])
    far = api.classify(declared_code="0101.21")  # live horses for a T-shirt
    assert far["risk_flag"] is True
    assert any("heading 0101" in r and "not among the suggested headings" in r for r in far["risk_reasons"])
    # dots and spaces are accepted; letters are not
    assert api.post("/v1/classifications", "broker_a", json={"description": T_SHIRT, "declared_code": "61O9"}
                    ).status_code == 422


def test_flagged_cases_come_first_in_the_queue(api):
    plain = api.classify()
    flagged = api.classify(description=SCREWS, declared_code="0101.21")
    queue = api.get("/v1/review/queue", "officer").json()["items"]
    assert [c["id"] for c in queue] == [flagged["id"], plain["id"]]
    assert queue[0]["risk_flag"] and queue[0]["risk_reasons"]
    assert queue[1]["top_code"] == plain["suggestions"][0]["code"]


def test_bad_input_is_a_json_4xx(api):
    def post(**kw):
        return api.post("/v1/classifications", "broker_a", **kw)

    empty = post(json={"description": "   "})
    assert empty.status_code == 422 and empty.json()["error"] == "invalid_input"
    missing = post(json={"reference": "x"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["loc"][-1] == "description"
    assert post(json={"description": T_SHIRT, "colour": "red"}).status_code == 422  # unknown field
    assert post(json={"description": T_SHIRT, "top": 0}).status_code == 422
    assert post(json={"description": T_SHIRT, "engine": "quantum"}).status_code == 422
    invalid = post(content=b'{"description": ', headers={"Content-Type": "application/json"})
    assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_json"
    not_utf8 = post(content=b'{"description": "\xff\xfe caf\xe9"}', headers={"Content-Type": "application/json"})
    assert not_utf8.status_code in (400, 422) and "error" in not_utf8.json()
    as_text = post(content=T_SHIRT.encode(), headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 422 and "error" in as_text.json()
    not_object = post(json=[T_SHIRT])
    assert not_object.status_code == 422
    # text no database column can hold: NUL characters, lone surrogates
    assert post(json={"description": "cotton\u0000shirt"}).status_code == 422
    assert post(json={"description": T_SHIRT, "reference": "a\u0000b"}).status_code == 422
    assert post(json={"description": T_SHIRT, "context": ["x\u0000"]}).status_code == 422
    lone = post(content=b'{"description": "shirt \\udc80"}', headers={"Content-Type": "application/json"})
    assert lone.status_code == 422
    # ids that cannot exist are simply not found
    for path in ("/v1/classifications/%00", "/v1/batches/%00", "/v1/classifications?batch_id=%00"):
        assert api.get(path, "officer").status_code in (404, 422), path
    assert api.delete("/v1/keys/%00", "admin").status_code == 404


def test_description_and_body_limits(make_api):
    api = make_api(max_description_chars=200, max_request_bytes=4_000)
    long = api.post("/v1/classifications", "broker_a", json={"description": "cotton shirt " * 20})
    assert long.status_code == 422 and "limit is 200" in long.json()["detail"]
    big = api.post("/v1/classifications", "broker_a", json={"description": "x" * 5_000})
    assert big.status_code == 413 and big.json()["error"] == "too_large"

    def chunks():  # no Content-Length: the limit applies while the body streams in
        for _ in range(10):
            yield b" " * 1_000
    streamed = api.post("/v1/classifications", "broker_a", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"


def test_unknown_routes_and_methods_answer_json(api):
    r = api.get("/v1/nothing-here", "broker_a")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = api.client.delete("/v1/classifications", headers=api.h("officer"))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert api.get("/v1/classifications/not-a-case-id", "officer").status_code == 404


def test_security_headers_and_cors(make_api):
    api = make_api()
    r = api.client.get("/healthz")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"]
    assert "access-control-allow-origin" not in r.headers
    pre = {"Origin": "https://broker.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in api.client.options("/v1/classifications", headers=pre).headers
    cors = make_api(cors_origins=["https://broker.example"])
    r = cors.client.options("/v1/classifications", headers=pre)
    assert r.headers["access-control-allow-origin"] == "https://broker.example"
