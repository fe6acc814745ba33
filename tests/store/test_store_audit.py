"""The hash-chained audit trail: `tariff audit verify/export`, link checks, the export API, concurrency.

Tampering by someone who can write the database but lacks the audit key: tests/store/test_store_tamper.py."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from pathlib import Path

from api_support import SCREWS, T_SHIRT

from assistant import review
from assistant.auth import principal_for
from assistant.cli import main
from assistant.store import audit, audit_verify


def _tamper(api, sql: str) -> None:
    db = api.desk.db
    if db.is_sqlite:  # straight into the file, as an intruder would
        con = sqlite3.connect(db.url.database)
        con.execute(sql)
        con.commit()
        con.close()
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(sql)


def _populate(api) -> str:
    case = api.classify()
    api.decide(case["id"], action="reject", reason="too vague")
    api.classify(description=SCREWS)
    return case["id"]


def test_verify_passes_then_names_the_edited_event(api, cli_env, capsys):
    _populate(api)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audit chain OK:")
    n = audit_verify.verify(api.desk.db).events
    assert n >= 8  # 5 keys, case, suggestions, decision, case, suggestions
    _tamper(api, "UPDATE audit_events SET data = replace(data, 'too vague', 'fine') WHERE type = 'decision'")
    seq = next(e["seq"] for e in audit.export(api.desk.db) if e["type"] == "decision")
    assert main(["audit", "verify"]) == 1
    assert f"audit chain broken at event {seq} (edited" in capsys.readouterr().out


def test_verify_names_a_removed_event(api, cli_env, capsys):
    _populate(api)
    _tamper(api, "DELETE FROM audit_events WHERE seq = 3")
    assert main(["audit", "verify"]) == 1
    assert "audit chain broken at event 3 (missing" in capsys.readouterr().out


def test_verify_notices_a_removed_tail(api, cli_env, capsys):
    _populate(api)
    last = audit_verify.verify(api.desk.db).events
    _tamper(api, f"DELETE FROM audit_events WHERE seq = {last}")
    assert main(["audit", "verify"]) == 1
    assert f"audit chain broken at event {last} (missing" in capsys.readouterr().out


def test_export_cli_and_api(api, cli_env, capsys, tmp_path: Path):
    case_id = _populate(api)
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(lines))
    assert any(e["type"] == "case_created" and e["case_id"] == case_id for e in lines)
    # descriptions are not copied into the trail, only their hash
    assert T_SHIRT not in out.read_text()
    assert main(["audit", "export", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "export", "--since", "yesterday"]) == 2
    r = api.get("/v1/audit/export", "admin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in r.text.splitlines()] == lines
    assert api.get("/v1/audit/export?since=2999-01-01", "admin").text == ""
    assert api.get("/v1/audit/export?since=someday", "admin").status_code == 422
    assert api.get("/v1/audit/export", "officer").status_code == 403


def test_concurrent_writers_never_fork_the_chain(api):
    """Many threads creating cases and decisions at once: one unbroken chain."""
    desk = api.desk
    broker = principal_for(desk.db, api.ids["broker_a"])
    officer = principal_for(desk.db, api.ids["officer"])
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            req = review.ClassificationRequest(description=f"{T_SHIRT} lot {i}")
            case = review.create_case(desk, broker, req)
            review.get_case(desk, officer, case.id)
            review.decide(desk, officer, case.id, review.DecisionRequest(action="reject", reason=f"r{i}"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = audit_verify.verify(desk.db)
    assert result.ok, result.message()
    assert result.events == 5 + 12 * 4  # keys + (created, suggestions, opened, decision) per case


def test_export_escapes_what_line_readers_split_on(api, cli_env, tmp_path: Path):
    """U+2028, U+2029 and U+0085 in a reason stay inside one JSON Lines line (issue 17)."""
    case = api.classify()
    reason = "part one\u2028part two\u2029part three\u0085end\nnext"
    assert api.decide(case["id"], action="reject", reason=reason).status_code == 201
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--out", str(out)]) == 0
    for text in (out.read_text(encoding="utf-8"), api.get("/v1/audit/export", "admin").text):
        assert not any(ch in text for ch in "\u2028\u2029\u0085")
        assert "\\u2028" in text and "\\u2029" in text and "\\u0085" in text
        lines = text.splitlines()  # str.splitlines also splits on U+2028/2029/0085: one event per line still
        events = [json.loads(line) for line in lines]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert next(e for e in events if e["type"] == "decision")["data"]["reason"] == reason
