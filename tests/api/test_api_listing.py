"""Listing input and vague input through the real app: attributes and category on classifications and batches
(JSON items, CSV `attributes` / `attr:NAME` / `category` columns), stored with the case; clear 4xx on bad input;
a vague description comes back as "needs more information"."""

from __future__ import annotations

import csv
import io

from test_api_batches import wait_done

from assistant.engines.vague import CONFIDENCE_CAP

ATTRIBUTES = {"material": "cotton", "construction": "knitted", "type": "T-shirt", "gender": "men", "brand": "Acme",
              "colour": "beige"}
TOP = "Crew-neck top"


def test_classification_with_attributes_and_category(api):
    case = api.classify(description=TOP, attributes=ATTRIBUTES, category="Apparel > T-shirts")
    assert case["attributes"] == ATTRIBUTES  # stored as sent; brand and colour simply do not decide the code
    assert case["category"] == ["Apparel", "T-shirts"]
    assert any(s["code"].startswith("6109") for s in case["suggestions"]), [s["code"] for s in case["suggestions"]]
    plain = api.classify(description=TOP)
    assert [s["code"] for s in plain["suggestions"]] != [s["code"] for s in case["suggestions"]]
    assert case["abstained"] is False
    again = api.get(f"/v1/classifications/{case['id']}", "broker_a").json()
    assert again["attributes"] == ATTRIBUTES and again["category"] == ["Apparel", "T-shirts"]
    # Adding information re-classifies with the same listing facts.
    r = api.post(f"/v1/classifications/{case['id']}/info", "broker_a", json={"text": "short sleeves"})
    assert r.status_code == 200, r.text
    assert r.json()["round"] == 2 and r.json()["attributes"] == ATTRIBUTES


def test_category_as_a_list_and_numbers_as_values(api):
    case = api.classify(description="Helmet", attributes={"use": "cycling", "weight_g": 250, "adjustable": True},
                        category=["Sports", "Cycling", "Helmets"])
    assert case["category"] == ["Sports", "Cycling", "Helmets"]
    assert case["attributes"]["weight_g"] == 250 and case["attributes"]["adjustable"] is True


def test_bad_listing_input_is_a_clear_422(api):
    bad = [
        {"attributes": ["material", "cotton"]},
        {"attributes": {"material": "x" * 1001}},
        {"attributes": {f"a{i}": "v" for i in range(51)}},
        {"attributes": {"": "cotton"}},
        {"attributes": {"material": {"nested": "object"}}},
        {"attributes": {"material": "cot\x00ton"}},
        {"category": ["Apparel", 7]},
        {"category": {"path": "Apparel"}},
    ]
    for extra in bad:
        r = api.post("/v1/classifications", "broker_a", json={"description": "Men's top", **extra})
        assert r.status_code == 422, (extra, r.status_code, r.text)
        assert r.json()["error"]


def test_vague_description_needs_more_information(api):
    case = api.classify(description="gifts")
    assert case["abstained"] is True and case["abstain_reason"]
    assert case["clarifying_question"].startswith("Needs more information")
    assert case["suggestions"] and all(s["confidence"] <= CONFIDENCE_CAP for s in case["suggestions"])


def _csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def test_batches_carry_attributes_and_category(api):
    items = [{"description": TOP, "attributes": {"material": "cotton", "construction": "knitted", "type": "T-shirt"},
              "category": "Apparel > T-shirts", "reference": "J1"}]
    r = api.post("/v1/batches", "broker_a", json={"items": items})
    assert r.status_code == 202, r.text
    wait_done(api, r.json()["id"])
    [row] = api.get(f"/v1/batches/{r.json()['id']}/results", "broker_a").json()["items"]
    case = api.get(f"/v1/classifications/{row['case_id']}", "broker_a").json()
    assert case["attributes"] == items[0]["attributes"] and case["category"] == ["Apparel", "T-shirts"]
    assert any(s["code"].startswith("6109") for s in case["suggestions"])

    rows = [{"description": "Men's top", "attr:material": "cotton", "attributes": '{"construction": "knitted"}',
             "category": "Apparel > T-shirts", "reference": "C1"},
            {"description": "Wood screws", "attr:material": "", "attributes": "", "category": "", "reference": "C2"}]
    r = api.post("/v1/batches", "broker_a", files={"file": ("goods.csv", _csv(rows), "text/csv")})
    assert r.status_code == 202, r.text
    wait_done(api, r.json()["id"])
    results = api.get(f"/v1/batches/{r.json()['id']}/results", "broker_a").json()["items"]
    first = api.get(f"/v1/classifications/{results[0]['case_id']}", "broker_a").json()
    second = api.get(f"/v1/classifications/{results[1]['case_id']}", "broker_a").json()
    assert first["attributes"] == {"construction": "knitted", "material": "cotton"}
    assert first["category"] == ["Apparel", "T-shirts"]
    assert second["attributes"] == {} and second["category"] == []


def test_bad_attribute_cells_name_the_line(api):
    rows = [{"description": "Men's top", "attributes": "{not json"}]
    r = api.post("/v1/batches", "broker_a", files={"file": ("goods.csv", _csv(rows), "text/csv")})
    assert r.status_code == 422 and "CSV line 2" in r.json()["detail"] and "JSON object" in r.json()["detail"]
    rows = [{"description": "Men's top", "attributes": '["cotton"]'}]
    r = api.post("/v1/batches", "broker_a", files={"file": ("goods.csv", _csv(rows), "text/csv")})
    assert r.status_code == 422 and "name -> value" in r.json()["detail"]


def test_redaction_covers_the_listing(api):
    from assistant.store.redaction import REDACTED, redact_closed_cases

    case = api.classify(description=TOP, attributes={"material": "cotton", "brand": "Acme"}, category="Apparel > Tees")
    r = api.decide(case["id"], action="confirm", code=case["suggestions"][0]["code"])
    assert r.status_code == 201, r.text
    assert case["id"] in redact_closed_cases(api.desk.db, after_days=0).case_ids
    after = api.get(f"/v1/classifications/{case['id']}", "broker_a").json()
    assert after["description"] == REDACTED
    assert after["attributes"] == {"material": REDACTED, "brand": REDACTED}
    assert after["category"] == [REDACTED, REDACTED]
