"""Checkpoints sent to and read back from an operator's HTTP receiver (`--to URL`, `verify --checkpoint URL`).

The receiver is a real append-only HTTP server on loopback, started by the test.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import SCREWS
from loopback import LoopbackServer, QuietHandler

from assistant.cli import main
from assistant.store import audit, checkpoint_url


class Receiver:
    """An append-only checkpoint store: POST appends the JSON body; GET answers the kept checkpoints as `form`
    ("lines": JSON Lines, "list": a JSON list, "latest": the newest object) or, when set, a scripted `answer`."""

    def __init__(self, form: str = "lines"):
        self.form, self.kept, self.answer, self.delay = form, [], None, 0.0
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.answer:
                    return self._send(outer.answer[0], b"")
                outer.kept.append((self.headers["Content-Type"], json.loads(body)))
                self._send(201, b"")

            def do_GET(self):  # noqa: N802
                time.sleep(outer.delay)
                if outer.answer:
                    return self._send(*outer.answer)
                records = [r for _, r in outer.kept]
                body = {"lines": "".join(json.dumps(r) + "\n" for r in records),
                        "list": json.dumps(records, indent=2),
                        "latest": json.dumps(records[-1] if records else {})}[outer.form]
                self._send(200, body.encode())

            def _send(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout case)

        self.http = LoopbackServer(Handler, "/audit/checkpoints")
        self.url = self.http.url

    def close(self):
        self.http.close()


@pytest.fixture
def receiver(request):
    r = Receiver(getattr(request, "param", "lines"))
    yield r
    r.close()


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    got = capsys.readouterr()
    return code, got.out, got.err


def _sql(api, sql: str, **params: Any) -> None:
    with api.desk.db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


@pytest.mark.parametrize("receiver", ["lines", "list", "latest"], indirect=True)
def test_a_checkpoint_sent_to_a_url_verifies_then_catches_a_rolled_back_tail(api, cli_env, capsys, receiver):
    case = api.classify()
    assert api.decide(case["id"], action="reject", reason="too vague").status_code == 201
    assert _run(capsys, "audit", "checkpoint", "--to", receiver.url)[0] == 0
    api.classify(description=SCREWS)
    assert api.get(f"/v1/classifications/{case['id']}", "officer").status_code == 200  # last event: case_opened
    code, _, err = _run(capsys, "audit", "checkpoint", "--to", receiver.url)
    events = list(audit.export(api.desk.db))
    assert code == 0 and f"checkpoint at event {events[-1]['seq']} sent to {receiver.url}" in err
    assert [t for t, _ in receiver.kept] == ["application/json"] * 2
    newest = receiver.kept[-1][1]
    assert (newest["seq"], newest["hash"]) == (events[-1]["seq"], events[-1]["hash"]) and len(newest["mac"]) == 64

    code, out, _ = _run(capsys, "audit", "verify", "--checkpoint", receiver.url)
    shown = 1 if receiver.form == "latest" else 2
    assert code == 0 and f"{shown} checkpoint(s) match, the newest at event {newest['seq']}" in out

    last = events[-1]  # an insider deletes the newest event and rolls `audit_head` back to the one before
    _sql(api, "DELETE FROM audit_events WHERE seq = :s", s=last["seq"])
    _sql(api, "UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1", s=last["seq"] - 1, h=last["prev_hash"])
    assert _run(capsys, "audit", "verify")[0] == 0  # nothing inside the database shows the loss
    code, out, _ = _run(capsys, "audit", "verify", "--checkpoint", receiver.url)
    where = {"lines": "line 2", "list": "item 2", "latest": "line 1"}[receiver.form]
    assert code == 1
    assert f"rolled back: the checkpoint of {newest['time']} ({where}) records {last['seq']} events" in out


def test_an_unreachable_receiver_is_a_clear_error(api, cli_env, capsys):
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/checkpoints"
    api.classify()
    code, out, err = _run(capsys, "audit", "checkpoint", "--to", url)
    assert code == 1 and err.startswith(f"error: cannot send the checkpoint to {url}: ConnectError")
    code, out, err = _run(capsys, "audit", "verify", "--checkpoint", url)
    assert code == 1 and err.startswith(f"error: cannot read checkpoints from {url}: ConnectError")
    assert "Traceback" not in out + err and "audit chain OK" not in out  # no verdict without the anchor


def test_a_bad_answer_from_the_receiver_is_a_clear_error(api, cli_env, capsys, receiver, monkeypatch):
    api.classify()
    plain = receiver.url
    secret = plain.replace("http://", "http://operator:pa55word@") + "?token=s3cret"
    receiver.answer = (500, b"")
    code, _, err = _run(capsys, "audit", "checkpoint", "--to", secret)
    assert code == 1 and f"the checkpoint receiver {plain} answered HTTP 500: nothing was stored" in err
    assert "pa55word" not in err and "s3cret" not in err and not receiver.kept
    for status, body, message, exit_code in (
        (404, b"", f"the checkpoint receiver {plain} answered HTTP 404", 1),
        (302, b"", f"the checkpoint receiver {plain} answered HTTP 302", 1),  # redirects are not followed
        (200, b"<html>checkpoints</html>", f"checkpoint URL {plain}, line 1: not a checkpoint", 2),
        (200, b"[1, 2", f"checkpoint URL {plain}: not a JSON list of checkpoints", 2),
        (200, b"[]", f"checkpoint URL {plain} holds no checkpoint", 2),
        (200, b"\xff\xfe", f"checkpoint URL {plain} did not answer UTF-8 text", 2),
    ):
        receiver.answer = (status, body)
        code, out, err = _run(capsys, "audit", "verify", "--checkpoint", secret)
        assert (code, err.strip()) == (exit_code, f"error: {message}"), (status, body)
        assert "audit chain OK" not in out
    receiver.answer, receiver.delay = None, 1.0
    monkeypatch.setattr(checkpoint_url, "TIMEOUT", 0.2)  # a receiver slower than the timeout
    code, _, err = _run(capsys, "audit", "verify", "--checkpoint", plain)
    assert code == 1 and err.startswith(f"error: cannot read checkpoints from {plain}: ReadTimeout")


def test_a_checkpoint_file_that_cannot_be_written_is_a_clear_error(api, cli_env, capsys, tmp_path):
    assert not checkpoint_url.is_url(str(tmp_path / "http-checkpoints"))
    code, _, err = _run(capsys, "audit", "checkpoint", "--to", str(tmp_path / "missing" / "audit.checkpoints"))
    assert code == 2 and "error: cannot append to checkpoint file" in err and "No such file" in err
