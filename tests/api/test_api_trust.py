"""Trust through the real app: confidence per level, the conformal candidate set, citation support and routing on
POST /v1/classifications, stored with the case, and the queue filtered and sorted by routing."""

from __future__ import annotations

import pytest
from api_support import SCREWS, T_SHIRT

from assistant.engines.trust import packaged_trust
from assistant.engines.vague import CONFIDENCE_CAP

pytestmark = pytest.mark.skipif(packaged_trust() is None, reason="this build ships no trust model (data/trust.json)")


def test_classification_carries_confidence_by_level_candidate_set_and_routing(api):
    case = api.classify(description=T_SHIRT, top=3)
    first = case["suggestions"][0]
    by_level = first["confidence_by_level"]
    assert set(by_level) <= {"4", "6", "10"} and {"4", "6"} <= set(by_level)
    assert all(0.0 <= p <= 1.0 for p in by_level.values())
    # coherent: a line is right only if its subheading is, and a subheading only if its heading is
    assert by_level["4"] >= by_level["6"] >= by_level.get("10", 0.0)
    assert first["confidence"] == by_level[max(by_level, key=int)]  # the answer's confidence at its own level
    assert first["support"]["summary"]
    cs = case["candidate_set"]
    assert cs["level"] == 6 and cs["coverage"] == 0.9
    assert cs["codes"] or cs["open"]
    assert all(len(c) == 6 for c in cs["codes"])
    assert case["routing"] in ("quick_confirm", "review", "needs_information")
    # stored with the case: what comes back later is what was answered
    again = api.get(f"/v1/classifications/{case['id']}", "broker_a").json()
    assert again["candidate_set"] == cs and again["routing"] == case["routing"]
    assert again["suggestions"][0]["confidence_by_level"] == by_level


def test_a_higher_coverage_never_gives_a_smaller_set(api):
    small = api.classify(description=T_SHIRT, coverage=0.6)["candidate_set"]
    large = api.classify(description=T_SHIRT, coverage=0.99)["candidate_set"]
    assert set(small["codes"]) <= set(large["codes"]) or large["open"]
    assert len(large["codes"]) >= len(small["codes"]) or large["open"]


@pytest.mark.parametrize("coverage", [0.3, 1.0, "most"])
def test_a_coverage_out_of_range_is_refused(api, coverage):
    r = api.post("/v1/classifications", "broker_a", json={"description": T_SHIRT, "coverage": coverage})
    assert r.status_code == 422 and "coverage" in r.text


def test_vague_input_is_routed_to_needs_information(api):
    case = api.classify(description="gifts")
    assert case["abstained"] is True
    assert case["routing"] == "needs_information"
    assert all(p <= CONFIDENCE_CAP for s in case["suggestions"] for p in s["confidence_by_level"].values())


def test_queue_filters_by_routing_and_puts_the_risk_flag_first(api):
    vague = api.classify(description="gifts")
    clear = api.classify(description=SCREWS)
    flagged = api.classify(description=T_SHIRT, declared_code="0101.21")  # a horse for a T-shirt: risk flag
    assert flagged["risk_flag"]
    items = api.get("/v1/review/queue", "officer").json()["items"]
    assert items[0]["id"] == flagged["id"]
    assert [c["routing"] for c in items if c["id"] == vague["id"]] == ["needs_information"]
    # needs_information waits for the requester: after every case an officer can act on now
    order = [c["id"] for c in items]
    if clear["routing"] != "needs_information":
        assert order.index(clear["id"]) < order.index(vague["id"])
    only = api.get("/v1/review/queue?routing=needs_information", "officer").json()["items"]
    assert vague["id"] in [c["id"] for c in only] and all(c["routing"] == "needs_information" for c in only)
    assert api.get("/v1/review/queue?routing=urgent", "officer").status_code == 422
