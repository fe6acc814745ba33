"""The review queue through the real app: search, filters, sorting, declared-code comparison, claim and assign."""

from __future__ import annotations

from api_support import SCREWS


def ids(api, **params) -> list[str]:
    r = api.get("/v1/review/queue", "officer", params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


def test_queue_filters_search_and_sorts(api):
    shirt = api.classify()
    screws = api.classify("broker_b", description=SCREWS, declared_code="0101.21", reference="PO-77")
    top = shirt["suggestions"][0]["code"]
    same_line = api.classify(declared_code=top)
    assert set(ids(api)) == {shirt["id"], screws["id"], same_line["id"]}
    assert ids(api)[0] == screws["id"]  # risk-flagged first by default
    assert ids(api, org="globex") == [screws["id"]]
    assert set(ids(api, requester="ann")) == {shirt["id"], same_line["id"]}
    assert ids(api, risk="true") == [screws["id"]] and screws["id"] not in ids(api, risk="false")
    assert ids(api, q="stainless") == [screws["id"]] and ids(api, q="po-77") == [screws["id"]]
    assert ids(api, q="stainless cotton") == []  # every word must match
    assert set(ids(api, chapter=top[:2])) == {shirt["id"], same_line["id"]}
    assert ids(api, min_age_days=1) == []
    assert ids(api, sort="newest") == [same_line["id"], screws["id"], shirt["id"]]
    assert ids(api, sort="oldest") == [shirt["id"], screws["id"], same_line["id"]]
    assert ids(api, sort="org")[-1] == screws["id"]  # acme before globex
    assert ids(api, status="needs_info") == []
    # rows carry the top suggestion's description and how the declared code compares at 10, 6 and 4 digits
    rows = {c["id"]: c for c in api.get("/v1/review/queue", "officer").json()["items"]}
    assert rows[shirt["id"]]["top_description"] == shirt["suggestions"][0]["description"]
    assert rows[shirt["id"]]["declared_match"] is None
    assert rows[same_line["id"]]["declared_match"] == ("line" if len(top) >= 10 else "subheading")
    assert rows[screws["id"]]["declared_match"] == "none"


def test_bad_queue_filters_are_clear_4xx(api):
    for params in ({"chapter": "6"}, {"chapter": "ab"}, {"sort": "price"}, {"risk": "maybe"},
                   {"min_age_days": "-1"}, {"status": "confirmed"}, {"q": "x" * 201}):
        r = api.get("/v1/review/queue", "officer", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"] and r.json()["detail"]
    assert api.get("/v1/review/queue", "broker_a", params={"org": "acme"}).status_code == 403


def test_claim_assign_and_release_a_case(api):
    case = api.classify()
    put = lambda who, officer: api.client.put(  # noqa: E731
        f"/v1/classifications/{case['id']}/assignment", headers=api.h(who), json={"officer": officer})
    claimed = put("officer", "me")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == {"key_id": api.ids["officer"], "name": "Olga Officer"}
    assert ids(api, assignee="me") == [case["id"]] and ids(api, assignee="none") == []
    moved = put("officer", api.ids["officer2"]).json()
    assert moved["assignee"]["name"] == "Otto Officer"
    assert put("officer", api.ids["broker_a"]).status_code == 422  # only an officer can be assigned
    assert put("officer", "f" * 32).status_code == 422
    assert put("broker_a", "me").status_code == 403
    assert put("officer", None).json()["assignee"] is None
    events = [e["type"] for e in api.get(f"/v1/classifications/{case['id']}/audit", "officer").json()]
    assert events.count("case_assigned") == 3
    api.decide(case["id"], action="reject", reason="no")
    assert put("officer", "me").status_code == 409  # a decided case is out of the queue
    missing = api.client.put("/v1/classifications/" + "0" * 32 + "/assignment", headers=api.h("officer"),
                             json={"officer": "me"})
    assert missing.status_code == 404
