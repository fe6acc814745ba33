"""Officer decisions through the real app: every action and transition, corrections, four eyes, request_info."""

from __future__ import annotations

import pytest
from api_support import SCREWS


def test_roles_on_decisions_and_queue(api):
    case = api.classify()
    code = case["suggestions"][0]["code"]
    r = api.decide(case["id"], "broker_a", action="confirm", code=code)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert api.get("/v1/review/queue", "broker_a").status_code == 403
    assert api.get("/v1/classifications/" + case["id"] + "/audit", "broker_a").status_code == 403
    assert api.get("/v1/review/queue", "officer").status_code == 200
    assert api.get("/v1/review/queue", "admin").status_code == 200


def test_confirm_sets_the_final_code(api):
    case = api.classify()
    code = case["suggestions"][1]["code"]
    r = api.decide(case["id"], action="confirm", code=api.desk.runtime().nomenclature.line(code).display)
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["status"] == "confirmed" and done["final_code"] == code
    assert done["notice"].startswith("Final")
    [d] = done["decisions"]
    assert d["action"] == "confirm" and d["officer"]["name"] == "Olga Officer" and d["supersedes"] is None
    assert done["current_decision_id"] == d["id"]
    # the broker sees the outcome, and the case left the queue
    assert api.get(f"/v1/classifications/{case['id']}", "broker_a").json()["final_code"] == code
    assert api.get("/v1/review/queue", "officer").json()["items"] == []


def test_confirm_only_a_suggested_code(api):
    case = api.classify()
    suggested = {s["code"] for s in case["suggestions"]}
    other = next(ln.code for ln in api.desk.runtime().nomenclature.leaves() if ln.code not in suggested)
    r = api.decide(case["id"], action="confirm", code=other)
    assert r.status_code == 422 and "not one of this case's suggestions" in r.json()["detail"]
    assert api.decide(case["id"], action="confirm").status_code == 422  # no code


def test_override_checks_the_code_and_needs_a_reason(api):
    case = api.classify()
    nomenclature = api.desk.runtime().nomenclature
    leaf = next(ln.code for ln in nomenclature.leaves() if ln.code.startswith("6205"))
    cases = {
        "7777.77": "is not a line of",  # chapter 77 is reserved: no such line
        "6205": "has subdivisions",  # a heading, not a declarable line
        "62O5.20": "pattern",  # malformed
    }
    for code, message in cases.items():
        r = api.decide(case["id"], action="override", code=code, reason="wrong chapter")
        assert r.status_code == 422, code
        assert message in r.json()["detail"]
    no_reason = api.decide(case["id"], action="override", code=leaf)
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    ok = api.decide(case["id"], action="override", code=leaf, reason="woven, not knitted")
    assert ok.status_code == 201
    assert ok.json()["status"] == "overridden" and ok.json()["final_code"] == leaf


def test_reject_needs_a_reason_and_has_no_final_code(api):
    case = api.classify()
    assert api.decide(case["id"], action="reject").status_code == 422
    r = api.decide(case["id"], action="reject", reason="description too vague")
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "rejected" and body["final_code"] is None and "Not a final" in body["notice"]


@pytest.mark.parametrize("first", ["confirm", "reject", "request_info"])
def test_a_decided_case_needs_supersedes(api, first):
    case = api.classify()
    code = case["suggestions"][0]["code"]
    body = {"confirm": {"code": code}, "reject": {"reason": "no"}, "request_info": {"reason": "Knitted?"}}[first]
    d1 = api.decide(case["id"], action=first, **body).json()["current_decision_id"]
    again = api.decide(case["id"], "officer2", action="reject", reason="changed my mind")
    assert again.status_code == 409 and d1 in again.json()["detail"]
    fixed = api.decide(case["id"], "officer2", action="confirm", code=code, supersedes=d1, reason="goods seen")
    assert fixed.status_code == 201, fixed.text
    body = fixed.json()
    assert body["status"] == "confirmed" and body["final_code"] == code
    old, new = body["decisions"]
    assert old["id"] == d1 and old["superseded_by"] == new["id"] and new["supersedes"] == d1
    # only the current decision can be superseded, and only once
    stale = api.decide(case["id"], action="reject", reason="x", supersedes=d1)
    assert stale.status_code == 409
    assert api.decide(case["id"], action="reject", reason="x", supersedes="f" * 32).status_code == 404
    events = [e["type"] for e in api.get(f"/v1/classifications/{case['id']}/audit", "officer").json()]
    assert events.count("decision") == 2 and events.count("decision_superseded") == 1


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_correction_always_needs_a_reason(api, reason):
    case = api.classify()
    top, other = case["suggestions"][0]["code"], case["suggestions"][1]["code"]
    d1 = api.decide(case["id"], action="override", code=top, reason="seen the goods").json()["current_decision_id"]
    body = {"action": "confirm", "code": other, "supersedes": d1} | ({} if reason is None else {"reason": reason})
    r = api.decide(case["id"], "officer2", **body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "a correction needs a reason: say why the current decision is replaced"
    after = api.get(f"/v1/classifications/{case['id']}", "officer").json()
    assert after["current_decision_id"] == d1 and after["final_code"] == top and len(after["decisions"]) == 1


def test_four_eyes_override(make_api):
    api = make_api(four_eyes_override=True)
    case = api.classify()
    leaf = next(ln.code for ln in api.desk.runtime().nomenclature.leaves() if ln.code.startswith("6205"))
    r = api.decide(case["id"], action="override", code=leaf, reason="woven fabric")
    assert r.status_code == 201
    pending = r.json()
    assert pending["status"] == "override_pending_approval" and pending["final_code"] is None
    assert "second officer" in pending["notice"]
    # still in the queue, and the same officer cannot approve
    assert [c["id"] for c in api.get("/v1/review/queue", "officer2").json()["items"]] == [case["id"]]
    same = api.decide(case["id"], action="approve_override")
    assert same.status_code == 409 and "four-eyes" in same.json()["detail"]
    assert api.decide(case["id"], "officer2", action="confirm", code=leaf).status_code == 409
    approved = api.decide(case["id"], "officer2", action="approve_override")
    assert approved.status_code == 201
    body = approved.json()
    assert body["status"] == "overridden" and body["final_code"] == leaf
    assert [d["action"] for d in body["decisions"]] == ["override", "approve_override"]
    # approving when nothing awaits approval
    assert api.decide(case["id"], "officer2", action="approve_override").status_code == 409


def test_without_four_eyes_approve_has_nothing_to_approve(api):
    case = api.classify()
    assert api.decide(case["id"], action="approve_override").status_code == 409


def test_request_info_then_broker_adds_it_and_the_case_is_reclassified(api):
    case = api.classify(description="Shirt")
    r = api.decide(case["id"], action="request_info", reason="Is it knitted or woven? What material?")
    assert r.status_code == 201
    asked = r.json()
    assert asked["status"] == "needs_info" and asked["final_code"] is None
    assert "more information" in asked["notice"]
    # the broker of another organisation cannot answer; an empty answer is refused
    assert api.post(f"/v1/classifications/{case['id']}/info", "broker_b", json={"text": "x"}).status_code == 404
    assert api.post(f"/v1/classifications/{case['id']}/info", "broker_a", json={"text": " "}).status_code == 422
    r = api.post(f"/v1/classifications/{case['id']}/info", "broker_a",
                 json={"text": "steel wood screws, threaded, of iron or steel"})
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["status"] == "pending_review" and again["round"] == 2
    assert again["context"] == ["steel wood screws, threaded, of iron or steel"]
    assert again["current_decision_id"] is None
    assert [s["code"] for s in again["suggestions"]] != [s["code"] for s in case["suggestions"]]
    assert any(s["code"].startswith("7318") for s in again["suggestions"])
    events = [e["type"] for e in api.get(f"/v1/classifications/{case['id']}/audit", "officer").json()]
    assert "info_requested" in events and "info_added" in events
    assert events.count("suggestions_made") == 2
    # decided now without `supersedes`, on the new suggestions
    code = again["suggestions"][0]["code"]
    assert api.decide(case["id"], action="confirm", code=code).json()["final_code"] == code
    # a decided case takes no more information
    assert api.post(f"/v1/classifications/{case['id']}/info", "broker_a", json={"text": "more"}).status_code == 409


def test_officer_reads_are_audited(api):
    case = api.classify(description=SCREWS)
    api.get(f"/v1/classifications/{case['id']}", "broker_a")
    api.get(f"/v1/classifications/{case['id']}", "officer")
    events = api.get(f"/v1/classifications/{case['id']}/audit", "admin").json()
    types = [e["type"] for e in events]
    assert types[:2] == ["case_created", "suggestions_made"]
    assert types.count("case_opened") == 1
    opened = next(e for e in events if e["type"] == "case_opened")
    assert opened["actor_key_id"] == api.ids["officer"]


def test_unknown_case_and_bad_action(api):
    assert api.decide("0" * 32, action="reject", reason="x").status_code == 404
    case = api.classify()
    assert api.decide(case["id"], action="approve").status_code == 422


def test_an_officer_cannot_decide_a_case_they_requested(make_api):
    """Separation of duties (TARIFF_SEPARATION_OF_DUTIES, on by default)."""
    api = make_api()
    own = api.classify("officer")
    r = api.decide(own["id"], "officer", action="confirm", code=own["suggestions"][0]["code"])
    assert r.status_code == 403 and "separation of duties" in r.json()["detail"]
    r = api.decide(own["id"], "officer2", action="confirm", code=own["suggestions"][0]["code"])
    assert r.status_code == 201 and r.json()["status"] == "confirmed"
    relaxed = make_api(separation_of_duties=False)
    own = relaxed.classify("officer")
    assert relaxed.decide(own["id"], "officer", action="reject", reason="mine").status_code == 201
