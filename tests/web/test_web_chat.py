"""The web endpoints without a browser (real app, TestClient): sign-in and CSRF, the chat stream (offline and LLM
engines; the LLM is ScriptedLLM, the suite's one fake), follow-ups, lookups, escaping, and HTML error pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from llm_server import Reply, ScriptedLLM, Status

from assistant import review
from assistant.auth import create_key
from assistant.config import Settings
from assistant.runtime import Runtime
from assistant.server import create_app

T_SHIRT = "Men's T-shirt, 100% cotton, knitted jersey"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class Web:
    """A TestClient on the app with a key per role; `sign_in(who)` returns a client holding that session."""

    def __init__(self, app: Any):
        self.app = app
        self.keys = {who: create_key(app.state.desk.db, name=name, role=who, org=org).key
                     for who, name, org in (("broker", "Ann Broker", "acme"), ("officer", "Olga Officer", "customs"))}
        self.clients: list[TestClient] = []

    def client(self) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False)
        self.clients.append(client)
        return client

    def sign_in(self, who: str) -> tuple[TestClient, str]:
        client = self.client()
        token = CSRF.search(client.get("/signin").text).group(1)
        r = client.post("/signin", data={"api_key": self.keys[who], "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client, CSRF.search(client.get("/chat").text).group(1)


def events(response) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a chat response, in order."""
    out = []
    for block in response.text.strip().split("\n\n"):
        kind = re.search(r"^event: (.+)$", block, re.MULTILINE).group(1)
        out.append((kind, json.loads(re.search(r"^data: (.+)$", block, re.MULTILINE).group(1))))
    return out


def parsed_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of a page with its attributes, as a browser's parser reads them."""
    tags: list[tuple[str, dict[str, str | None]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Collect().feed(html)
    return tags


def chat(client: TestClient, token: str, **body: Any):
    return client.post("/web/chat", json=body, headers={"X-CSRF-Token": token})


@pytest.fixture(scope="module")
def web(hs_runtime, tmp_path_factory) -> Iterator[Web]:
    app = create_app(Settings(home=tmp_path_factory.mktemp("web"), _env_file=None), runtime=hs_runtime)
    site = Web(app)
    yield site
    for c in site.clients:
        c.close()
    app.state.desk.db.dispose()


def test_chat_streams_status_and_tokens_then_stores_the_case(web):
    client, token = web.sign_in("broker")
    r = chat(client, token, message=T_SHIRT, reference="PO-1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    seen = events(r)
    kinds = [k for k, _ in seen]
    assert kinds[0] == "status" and kinds[-1] == "case" and "token" in kinds and "error" not in kinds
    case = seen[-1][1]
    assert case["status"] == "pending_review" and case["final_code"] is None
    assert case["status_label"]["text"] == "Pending officer review — advisory only"
    assert case["reference"] == "PO-1" and case["engine"] == "offline"
    first = case["suggestions"][0]
    assert "".join(d["text"] for k, d in seen if k == "token") == first["rationale"]
    # every step of the path carries its code, chapter first, the suggested line last
    assert first["steps"][0]["code"] == first["code"][:2]
    assert first["steps"][-1]["code"] == first["display"]
    stored = review.get_case(web.app.state.desk, _principal(web, "broker"), case["id"], record_open=False)
    assert [s.code for s in stored.suggestions] == [s["code"] for s in case["suggestions"]]


def _principal(web: Web, who: str):
    from assistant.auth import authenticate

    return authenticate(web.app.state.desk.db, web.keys[who])


def test_follow_up_refines_the_case_until_an_officer_decides(web):
    client, token = web.sign_in("broker")
    case = events(chat(client, token, message="cotton shirt"))[-1][1]
    again = events(chat(client, token, message="it is knitted", case_id=case["id"]))
    assert [k for k, _ in again][-1] == "case"
    refined = again[-1][1]
    assert refined["id"] == case["id"] and refined["round"] == 2 and refined["context"] == ["it is knitted"]
    # once decided, the case no longer changes: 409 before any streaming
    officer, officer_token = web.sign_in("officer")
    code = refined["suggestions"][0]["code"]
    r = officer.post(f"/cases/{case['id']}/decide", data={"action": "confirm", "confirm_code": code,
                                                          "csrf_token": officer_token}, follow_redirects=False)
    assert r.status_code == 303
    r = chat(client, token, message="for women", case_id=case["id"])
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    page = client.get(f"/cases/{case['id']}").text
    assert "Final — confirmed by a customs officer" in page and refined["suggestions"][0]["display"] in page


def test_posts_need_the_session_csrf_token_from_this_origin(web):
    client, token = web.sign_in("broker")
    assert client.post("/web/chat", json={"message": T_SHIRT}).status_code == 403
    assert chat(client, "forged", message=T_SHIRT).status_code == 403
    r = client.post("/web/chat", json={"message": T_SHIRT},
                    headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    # the sign-out form too: without the token the session survives
    assert client.post("/signout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/chat").status_code == 200
    r = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and client.get("/chat", follow_redirects=False).status_code == 303


def test_session_cookie_is_signed_and_keeps_no_key(web):
    client, _ = web.sign_in("broker")
    value = client.cookies.get("tariff_session")
    assert web.keys["broker"] not in value
    client.cookies.clear()
    client.cookies.set("tariff_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    r = client.get("/chat", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_sign_in_rejects_unknown_keys_and_redirects_only_locally(web):
    client = web.client()
    token = CSRF.search(client.get("/signin").text).group(1)
    r = client.post("/signin", data={"api_key": "tk_nope", "csrf_token": token})
    assert r.status_code == 401 and "unknown API key" in r.text
    r = client.post("/signin", data={"api_key": web.keys["broker"], "csrf_token": token, "next": "//evil.example/x"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_bad_chat_input_is_a_4xx_json_error(web):
    client, token = web.sign_in("broker")
    for body, status in (({"message": "   "}, 422), ({"message": "x", "declared_code": "61a9"}, 422),
                         ({"message": "x", "case_id": "0" * 32}, 404), ({"message": "x", "extra": 1}, 422)):
        r = chat(client, token, **body)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) >= {"error", "detail"}


def test_user_text_is_escaped_on_every_page(web):
    client, token = web.sign_in("broker")
    nasty = '<img src=x onerror="alert(1)"> cotton <script>alert(2)</script> T-shirt'
    case = events(chat(client, token, message=nasty, reference="<b>ref</b>"))[-1][1]
    officer, _ = web.sign_in("officer")
    for c, path in ((client, f"/cases/{case['id']}"), (client, "/cases"), (officer, "/queue"),
                    (client, f"/chat?case={case['id']}")):
        html = c.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>ref</b>" not in html, path
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in client.get(f"/cases/{case['id']}").text
    assert "\\u003cscript\\u003e" in client.get(f"/chat?case={case['id']}").text  # JSON data block, not markup


def test_pages_send_the_csp_and_have_no_inline_script(web):
    client, _ = web.sign_in("officer")
    for path in ("/queue", "/cases", "/chat", "/signin"):
        r = client.get(path)
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        tags = parsed_tags(r.text)
        scripts = [a for t, a in tags if t == "script"]
        assert scripts and all("src" in a or a.get("type") == "application/json" for a in scripts), path
        assert not [(t, a) for t, a in tags if any(n.startswith("on") or n == "style" for n in a)], path


def test_lookups_need_a_session_and_answer_json(web):
    anonymous = web.client()
    assert anonymous.get("/web/codes?prefix=6109").status_code == 401
    client, _ = web.sign_in("officer")
    items = client.get("/web/codes?prefix=6109").json()["items"]
    assert items and all(i["code"].startswith("6109") for i in items)
    assert client.get("/web/codes?prefix=61x").status_code == 422
    case = review.list_cases(web.app.state.desk, _principal(web, "officer")).items[0]
    full = review.get_case(web.app.state.desk, _principal(web, "officer"), case.id, record_open=False)
    cited = full.suggestions[0].citations[0]
    passage = client.get(f"/web/passages/{cited.source_id}").json()
    assert passage["label"] == cited.label and passage["text"].startswith(cited.excerpt[:40])
    assert client.get("/web/passages/" + "0" * 32).status_code == 404


def test_officer_decision_errors_are_shown_on_the_case_page(web):
    client, token = web.sign_in("broker")
    case = events(chat(client, token, message="wooden dining table"))[-1][1]
    officer, officer_token = web.sign_in("officer")
    r = officer.post(f"/cases/{case['id']}/decide", data={"action": "reject", "reason": "", "csrf_token": officer_token})
    assert r.status_code == 422 and "a rejection needs a reason" in r.text and 'role="alert"' in r.text
    r = officer.post(f"/cases/{case['id']}/decide",
                     data={"action": "override", "override_code": "61", "reason": "x", "csrf_token": officer_token})
    assert r.status_code == 422 and "declarable" in r.text
    r = officer.post(f"/cases/{case['id']}/decide", data={"action": "request_info", "reason": "Which wood?",
                                                         "csrf_token": officer_token}, follow_redirects=False)
    assert r.status_code == 303
    # the broker sees the question and answers it in the chat: the case returns to review
    page = client.get(f"/cases/{case['id']}").text
    assert "Which wood?" in page and "Information requested by the officer" in page
    waiting = officer.get(f"/cases/{case['id']}").text  # the officer is not told the case is decided
    assert "already decided" not in waiting and "Correct the decision" not in waiting
    assert "Decide without waiting" in waiting and "Replaces:</strong> request for information" in waiting
    answered = events(chat(client, token, message="solid oak", case_id=case["id"]))[-1][1]
    assert answered["status"] == "pending_review" and answered["round"] == 2
    # a broker posting a decision gets the 403 page, not a decision
    r = client.post(f"/cases/{case['id']}/decide", data={"action": "confirm", "csrf_token": token})
    assert r.status_code == 403 and "Not allowed" in r.text


def test_llm_engine_streams_tokens_and_a_failure_is_shown_as_degraded(hs_runtime, tmp_path):
    def suggest(request: dict) -> Reply:
        prompt = "\n".join(str(m.get("content")) for m in request["messages"])
        cid, code = re.search(r"^(C\d+) \| ([\d.]+) \|", prompt, re.MULTILINE).groups()
        return Reply({"suggestions": [{"code": code, "confidence": 0.7, "cited_ids": [cid],
                                       "rationale": f"GRI 1: heading {code[:4]} by its terms; GRI 6 for {code}."}],
                      "clarifying_question": None, "clarifying_options": []})

    with ScriptedLLM([suggest, Status(500)]) as llm:
        llm_settings = {"engine": "llm", "llm_base_url": llm.base_url, "llm_model": llm.model,
                        "llm_api_key": "test-key", "llm_timeout": 5.0, "llm_strategy": "oneshot", "llm_cache": False}
        runtime = Runtime(hs_runtime.settings.model_copy(update=llm_settings), hs_runtime.store,
                          embedder=hs_runtime.embedder)
        app = create_app(Settings(home=tmp_path, _env_file=None, **llm_settings), runtime=runtime)
        web = Web(app)
        try:
            client, token = web.sign_in("broker")
            seen = events(chat(client, token, message=T_SHIRT))
            tokens = [d["text"] for k, d in seen if k == "token"]
            case = seen[-1][1]
            assert len(tokens) > 1 and case["engine"] == "llm" and case["model"] == llm.model
            assert "".join(tokens) == case["suggestions"][0]["rationale"] and not case["degraded"]
            assert "Engine in use: <strong>llm</strong>" in client.get("/chat").text
            # the model server fails: the answer is the offline engine's, marked degraded on the case page
            failed = events(chat(client, token, message="cotton shirt"))[-1][1]
            assert failed["degraded"] and "HTTP 500" in failed["degraded_reason"]
            page = client.get(f"/cases/{failed['id']}").text
            assert "Degraded answer:" in page and "HTTP 500" in page
        finally:
            for c in web.clients:
                c.close()
            app.state.desk.db.dispose()


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(web):
    """A cookie saved before sign-out (another tab, a stolen copy) no longer opens a page (issue 17)."""
    client, token = web.sign_in("broker")
    saved = client.cookies.get("tariff_session")
    assert client.get("/chat", follow_redirects=False).status_code == 200
    assert client.post("/signout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    replay = web.client()
    replay.cookies.set("tariff_session", saved)
    r = replay.get("/chat", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert replay.post("/web/chat", json={"message": T_SHIRT}, headers={"X-CSRF-Token": token}).status_code == 401


def test_revoking_a_key_ends_its_web_sessions_at_once(web):
    from assistant.auth import authenticate, create_key, revoke_key

    new = create_key(web.app.state.desk.db, name="Temp Broker", role="broker", org="acme")
    web.keys["temp"] = new.key
    client, token = web.sign_in("temp")
    assert client.get("/chat", follow_redirects=False).status_code == 200
    revoke_key(web.app.state.desk.db, new.id)
    assert client.get("/chat", follow_redirects=False).status_code == 303
    assert chat(client, token, message=T_SHIRT).status_code == 401
    with pytest.raises(Exception, match="revoked"):
        authenticate(web.app.state.desk.db, new.key)


@pytest.mark.parametrize("field", ["message", "reference", "declared_code"])
def test_chat_refuses_nul_in_any_field(web, field):
    client, token = web.sign_in("broker")
    body = {"message": T_SHIRT, field: "PO\x001" if field != "message" else "shirt\x00"}
    r = chat(client, token, **body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_input", r.text
    with web.app.state.desk.db.read() as s:
        from sqlalchemy import select

        from assistant.store.tables import Case

        assert not any("\x00" in (ref or "") for ref in s.execute(select(Case.reference)).scalars())
