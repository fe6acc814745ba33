"""Decision webhooks end to end: an admin registers a loopback receiver; a decision arrives signed, after a retry."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from loopback import LoopbackServer, QuietHandler


class Receiver:
    """A loopback HTTP server that answers the scripted statuses in turn and records what it got."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.got = list(statuses), []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.http = LoopbackServer(Handler, "/hook")
        self.url = self.http.url

    def close(self):
        self.http.close()


@pytest.fixture
def receiver():
    r = Receiver([500])
    yield r
    r.close()


def wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := check()):
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_decision_is_delivered_signed_and_retried_after_a_500(api, receiver):
    api.app.state.webhooks.backoff = (0.2, 0.2, 0.2)  # seconds, not minutes, for the test
    api.app.state.webhooks.poll_s = 0.05
    assert api.post("/v1/webhooks", "officer", json={"org": "acme", "url": receiver.url}).status_code == 403
    for bad in ("ftp://example.com/x", "http://user:pw@127.0.0.1/x", "not a url"):
        assert api.post("/v1/webhooks", "admin", json={"org": "acme", "url": bad}).status_code == 422, bad
    r = api.post("/v1/webhooks", "admin", json={"org": "acme", "url": receiver.url})
    assert r.status_code == 201, r.text
    hook = r.json()
    secret = hook["secret"]
    listed = api.get("/v1/webhooks", "admin").json()
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]  # shown once only

    case = api.classify()  # acme's case
    other = api.classify("broker_b")  # globex: no webhook, nothing sent
    code = case["suggestions"][0]["code"]
    assert api.decide(case["id"], action="confirm", code=code).status_code == 201
    assert api.decide(other["id"], action="reject", reason="no").status_code == 201

    deliveries = wait_for(lambda: [d for d in api.get(f"/v1/webhooks/{hook['id']}/deliveries", "admin").json()
                                   if d["status"] == "delivered"])
    assert len(deliveries) == 1
    d = deliveries[0]
    assert d["attempts"] == 2 and d["last_status_code"] == 200 and d["case_id"] == case["id"]
    assert len(receiver.got) == 2  # the 500, then the retry
    headers, body = receiver.got[-1]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Tariff-Signature"], expected)
    sent = json.loads(body)
    assert sent["case_id"] == case["id"] and sent["action"] == "confirm" and sent["final_code"] == code
    assert sent["officer"] == "Olga Officer"
    assert receiver.got[0][1] == body  # the retry sends the same bytes

    assert api.delete(f"/v1/webhooks/{hook['id']}", "admin").status_code == 200
    assert api.get("/v1/webhooks", "admin").json() == []
    assert api.delete(f"/v1/webhooks/{hook['id']}", "admin").status_code == 404


def test_cli_webhooks_add_list_remove(tmp_path, capsys, monkeypatch):
    from assistant.cli import main
    from assistant.config import get_settings

    monkeypatch.setenv("TARIFF_HOME", str(tmp_path))
    monkeypatch.delenv("TARIFF_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["webhooks", "add", "--org", "acme", "--url", "https://broker.example/hook"]) == 0
        out = capsys.readouterr().out
        hook_id, secret = out.split()[2], out.strip().splitlines()[-1]
        assert len(secret) >= 32
        assert main(["webhooks", "list"]) == 0
        listing = capsys.readouterr().out
        assert hook_id in listing and "https://broker.example/hook" in listing and secret not in listing
        assert main(["webhooks", "remove", hook_id]) == 0
        assert f"Removed webhook {hook_id}" in capsys.readouterr().out
        assert main(["webhooks", "list"]) == 0 and hook_id not in capsys.readouterr().out
        assert main(["webhooks", "add", "--org", "acme", "--url", "file:///etc/passwd"]) == 2
        assert "http" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
