"""Lookups through the real app: codes, autocomplete, search, cited passages, health and readiness."""

from __future__ import annotations

from assistant.store.db import Database


def test_code_lookup_accepts_dots_and_spaces(api):
    nomenclature = api.desk.runtime().nomenclature
    leaf = next(ln for ln in nomenclature.leaves() if ln.code.startswith("6109"))
    dotted = leaf.display
    spaced = dotted.replace(".", " ")
    for form in (leaf.code, dotted, spaced):
        r = api.get(f"/v1/codes/{form}", "broker_a")
        assert r.status_code == 200, (form, r.text)
        body = r.json()
        assert body["code"] == leaf.code and body["display"] == dotted
        assert body["declarable"] is True and body["edition"] == nomenclature.edition
        assert [p["code"] for p in body["path"]] == [*leaf.ancestors, leaf.code]
        assert body["description"] == leaf.description
    heading = api.get("/v1/codes/6109", "officer").json()
    assert heading["declarable"] is False
    assert leaf.code in {c["code"] for c in heading["children"]}


def test_code_lookup_errors(api):
    r = api.get("/v1/codes/61O9", "broker_a")
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert api.get("/v1/codes/610", "broker_a").status_code == 422  # 3 digits is no level
    r = api.get("/v1/codes/7777.77", "broker_a")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_autocomplete_by_prefix_and_words(api):
    r = api.get("/v1/codes?prefix=61.09", "officer")
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and all(i["code"].startswith("6109") for i in items) and len(items) <= 20
    many = api.get("/v1/codes?prefix=8", "officer").json()["items"]
    assert len(many) == 20
    words = api.get("/v1/codes?q=cotton%20t-shirts", "officer").json()["items"]
    assert words and all("cotton" in i["full_text"].lower() for i in words)
    both = api.get("/v1/codes?prefix=61&q=cotton", "officer").json()["items"]
    assert both and all(i["code"].startswith("61") for i in both)
    assert api.get("/v1/codes?prefix=6a", "officer").status_code == 422
    chapters = api.get("/v1/codes?limit=5", "officer").json()["items"]  # no filter: the first lines
    assert [c["code"] for c in chapters] == sorted(c["code"] for c in chapters) and len(chapters) == 5
    assert api.get("/v1/codes?prefix=61&limit=50", "officer").status_code == 422


def test_search_and_open_a_cited_passage(api):
    r = api.get("/v1/search?q=cotton%20t-shirts&top=5", "broker_a")
    assert r.status_code == 200
    hits = r.json()
    assert 1 <= len(hits) <= 5 and all(h["passage_id"] and h["label"] for h in hits)
    assert api.get("/v1/search?q=&top=5", "broker_a").status_code == 422
    assert api.get("/v1/search?q=x&kind=poem", "broker_a").status_code == 422
    only_hs = api.get("/v1/search?q=horses&kind=hs", "broker_a").json()
    assert only_hs and all(h["kind"] == "hs" for h in only_hs)
    # a citation of a case opens as its passage
    case = api.classify()
    citation = case["suggestions"][0]["citations"][0]
    p = api.get(f"/v1/passages/{citation['source_id']}", "broker_a")
    assert p.status_code == 200, p.text
    body = p.json()
    assert body["id"] == citation["source_id"] and body["label"] == citation["label"]
    assert body["kind"] == citation["kind"] and body["text"] and body["edition"]
    assert api.get("/v1/passages/" + "0" * 32, "broker_a").status_code == 404


def test_health_and_readiness(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"] and body["index"]
    # the database goes away: not ready, as JSON
    desk = api.desk
    live = desk.db
    desk.db = Database("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    try:
        down = api.client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["database"] is False and down.json()["status"] == "unavailable"
        r = api.get("/v1/classifications", "officer")  # the key cannot even be checked
        assert r.status_code == 503 and r.json()["error"] == "backend_unavailable"
    finally:
        desk.db.dispose()
        desk.db = live


def test_openapi_documents_the_api(api):
    schema = api.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/classifications", "/v1/batches", "/v1/review/queue", "/v1/codes/{code}", "/v1/keys",
                 "/v1/passages/{passage_id}", "/v1/audit/export", "/healthz", "/readyz"):
        assert path in paths, path
    create = paths["/v1/classifications"]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/CaseView")
    assert create["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    batch_body = paths["/v1/batches"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data", "text/csv"} <= set(batch_body)
    assert "BatchRequest" in schema["components"]["schemas"]
    assert api.client.get("/docs").status_code == 200
    # integrators get examples, and every example is a request the API accepts
    from assistant.review import ClassificationRequest, DecisionRequest
    from assistant.review.batches import BatchRequest

    components = schema["components"]["schemas"]
    for model in (ClassificationRequest, DecisionRequest, BatchRequest):
        examples = components[model.__name__]["examples"]
        assert examples and all(model.model_validate(e) for e in examples)
    queue_params = {p["name"] for p in paths["/v1/review/queue"]["get"]["parameters"]}
    assert {"q", "org", "requester", "risk", "chapter", "min_age_days", "status", "sort"} <= queue_params
    assert "put" in paths["/v1/classifications/{case_id}/assignment"]
    assert {"description_column", "reference_column"} <= {p["name"] for p in paths["/v1/batches"]["post"]["parameters"]}


def test_passage_view_of_a_ruling_and_a_tariff_line(shared_data):
    """What a citation chip shows for the US sources: ruling number and date, the line's duty rates."""
    from assistant.review.lookup import passage_view
    from assistant.sources import hts, rulings

    ruling = rulings.to_passages(rulings.load_rulings(shared_data / "cbp_rulings_sample/ny_rulings_fulltext.jsonl"))[0]
    view = passage_view(ruling)
    assert view.kind == "ruling" and view.ruling_number and view.label.endswith(view.ruling_number)
    assert view.ruling_date and view.ruling_date[:2] in ("19", "20")
    lines = hts.load_hts(shared_data / "usitc_hts_2025/htsdata_raw.csv")
    line = next(ln for ln in lines if ln.code == "6109100012")
    shown = passage_view(hts.to_passages([line])[0])
    assert shown.general_rate == line.general_rate and shown.general_rate
    assert shown.ruling_number is None and shown.codes == ["6109100012"]


def test_code_search_answers_from_its_index_like_a_full_scan(api):
    """The index gives what the old per-request scan gave: lines in code order holding every word (as substrings)."""
    import re

    from assistant.index.code_search import code_index

    nomenclature = api.desk.runtime().nomenclature
    index = code_index(nomenclature)
    assert code_index(nomenclature) is index  # built once per nomenclature
    lines = sorted(nomenclature.lines(), key=lambda ln: ln.code)
    for digits, q in (("", "cotton knit"), ("61", "cotton"), ("", "horse"), ("84", "machin"), ("", "t-shirts"),
                      ("9", "zzzz"), ("0101", "")):
        words = re.findall(r"\w+", q.lower())
        scan = [ln.code for ln in lines
                if ln.code.startswith(digits) and all(w in ln.full_text().lower() for w in words)][:20]
        assert [ln.code for ln in index.find(digits=digits, words=words, limit=20)] == scan, (digits, q)


def test_code_search_caps_query_length_and_words(api):
    r = api.get("/v1/codes?q=" + "+".join(["cotton"] * 9), "broker_a")
    assert r.status_code == 422 and r.json()["error"] == "invalid_input" and "at most 8" in r.json()["detail"]
    r = api.get("/v1/codes?q=" + "a" * 201, "broker_a")
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert api.get("/v1/codes?q=" + "+".join(["cotton"] * 8), "broker_a").status_code == 200


def test_docs_page_needs_no_cdn(api):
    """Swagger UI comes from package files; the page's CSP allows this origin only (issue 17)."""
    import re

    r = api.client.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "http" not in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert not re.search(r"(src|href)=\"(https?:)?//", r.text) and "<script>" not in r.text
    for src in re.findall(r"(?:src|href)=\"(/docs/static/[^\"]+)\"", r.text):
        asset = api.client.get(src)
        assert asset.status_code == 200 and len(asset.content) > 100, src
        assert "cdn.jsdelivr" not in asset.text
    assert api.client.get("/docs/static/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    missing = api.client.get("/docs/static/../../config.py")
    assert missing.status_code == 404
    assert api.client.get("/docs/static/nothing.js").json()["error"] == "not_found"
    assert api.client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
