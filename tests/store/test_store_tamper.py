"""Tampering by an insider who can write the database but does not hold the audit key (issue 17).

Each method is one an attacker tried against the unkeyed chain, where `tariff audit verify` said "OK":
rewriting an event and every later hash with the project's own hash function, deleting the newest event and
rolling back `audit_head` (caught by a checkpoint), editing `cases` directly, and appending a forged event.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import SCREWS

from assistant.cli import main
from assistant.config import Settings, get_settings
from assistant.store import audit, audit_verify, migrations
from assistant.store.db import Database


def _sql(api, sql: str, **params: Any) -> None:
    """A write straight to the database, bypassing the application (no audit key involved)."""
    with api.desk.db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _events(api) -> list[dict[str, Any]]:
    return list(audit.export(api.desk.db))


def _fields(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: ev[k] for k in ("seq", "ts", "type", "case_id", "actor_key_id", "actor_name", "data")}


def _rehash_from(api, events: list[dict[str, Any]], start: int, *, keyed: bool) -> None:
    """Recompute the hash of every event from `start` on with `audit.event_hash`, as an intruder without the key."""
    prev = events[start - 2]["hash"] if start > 1 else "0" * 64
    for ev in events[start - 1:]:
        new = audit.event_hash(prev, _fields(ev))
        _sql(api, "UPDATE audit_events SET data = :d, prev_hash = :p, hash = :h, keyed = :k WHERE seq = :s",
             d=audit.canonical(ev["data"]), p=prev, h=new, k=keyed, s=ev["seq"])
        prev = new
    _sql(api, "UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1", s=events[-1]["seq"], h=prev)


def _verify(capsys, *args: str) -> tuple[int, str]:
    code = main(["audit", "verify", *args])
    return code, capsys.readouterr().out


def _populate(api) -> str:
    case = api.classify()
    assert api.decide(case["id"], action="reject", reason="too vague").status_code == 201
    api.classify(description=SCREWS)
    return case["id"]


@pytest.mark.parametrize("keyed", [True, False], ids=["flag-kept", "flag-cleared"])
def test_an_edited_event_with_every_later_hash_recomputed_is_caught(api, cli_env, capsys, keyed):
    _populate(api)
    assert _verify(capsys)[0] == 0
    events = _events(api)
    decision = next(e for e in events if e["type"] == "decision")
    decision["data"]["reason"] = "fine"
    _rehash_from(api, events, decision["seq"], keyed=keyed)
    code, out = _verify(capsys)
    assert code == 1
    if keyed:
        assert f"audit chain broken at event {decision['seq']} (edited or forged" in out
    else:
        assert f"audit chain broken at event {decision['seq']} (forged: an unkeyed event after keyed ones)" in out


def test_a_chain_rewritten_whole_without_the_key_is_caught(api, cli_env, capsys):
    _populate(api)
    events = _events(api)
    _rehash_from(api, events, 1, keyed=False)
    code, out = _verify(capsys)
    assert code == 1 and "no event is keyed" in out


def test_a_deleted_tail_with_a_rolled_back_head_is_caught_by_a_checkpoint(api, cli_env, capsys, tmp_path):
    case_id = _populate(api)
    assert api.get(f"/v1/classifications/{case_id}", "officer").status_code == 200  # last event: case_opened
    anchor = tmp_path / "anchor" / "audit.checkpoints"
    anchor.parent.mkdir()
    assert main(["audit", "checkpoint", "--to", str(anchor)]) == 0
    capsys.readouterr()
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600
    [line] = anchor.read_text().splitlines()
    cp = json.loads(line)
    events = _events(api)
    assert (cp["seq"], cp["hash"]) == (events[-1]["seq"], events[-1]["hash"]) and len(cp["mac"]) == 64
    code, out = _verify(capsys, "--checkpoint", str(anchor))
    assert code == 0 and "1 checkpoint(s) match" in out

    last = events[-1]
    assert last["type"] == "case_opened"
    _sql(api, "DELETE FROM audit_events WHERE seq = :s", s=last["seq"])
    _sql(api, "UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1", s=last["seq"] - 1, h=last["prev_hash"])
    assert _verify(capsys)[0] == 0  # without an anchor outside the database the loss cannot be seen
    code, out = _verify(capsys, "--checkpoint", str(anchor))
    assert code == 1
    assert f"rolled back: the checkpoint of {cp['time']} (line 1) records {last['seq']} events" in out


def test_a_forged_or_rewritten_checkpoint_is_refused(api, cli_env, capsys, tmp_path):
    _populate(api)
    anchor = tmp_path / "audit.checkpoints"
    assert main(["audit", "checkpoint", "--to", str(anchor)]) == 0
    good = json.loads(anchor.read_text())
    forged = {**good, "seq": 1, "hash": "ab" * 32}
    with anchor.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    code, out = _verify(capsys, "--checkpoint", str(anchor))
    assert code == 1 and "(line 2) is not signed by this audit key" in out
    # A checkpoint that matched once no longer does after the chain was rewritten from that event on.
    anchor.write_text(json.dumps(good) + "\n")
    events = _events(api)
    events[2]["data"] = {"forged": True}
    _rehash_from(api, events, 3, keyed=True)
    code, out = _verify(capsys, "--checkpoint", str(anchor))
    assert code == 1 and "audit chain broken at event 3" in out


def test_a_case_row_edited_in_place_is_caught(api, cli_env, capsys):
    case_id = _populate(api)
    _sql(api, "UPDATE cases SET status = 'confirmed', final_code = '9999999999' WHERE id = :i", i=case_id)
    code, out = _verify(capsys)
    assert code == 1
    assert f"case {case_id} is confirmed 9999999999 but the trail says rejected -" in out
    assert api.desk.db.audit_key and not audit_verify.verify(api.desk.db).ok


def test_a_decision_row_edited_or_a_case_pointer_moved_is_caught(api, cli_env, capsys):
    case_id = _populate(api)
    _sql(api, "UPDATE decisions SET action = 'confirm', code = '610910' WHERE case_id = :i", i=case_id)
    code, out = _verify(capsys)
    assert code == 1 and "differs from its decision event" in out


def test_an_event_forged_without_the_key_is_caught(api, cli_env, capsys):
    _populate(api)
    head = _events(api)[-1]
    forged = {**head, "seq": head["seq"] + 1, "type": "decision", "data": {"status": "confirmed"}}
    for keyed, reason in ((True, "edited or forged: its HMAC does not match"),
                          (False, "forged: an unkeyed event after keyed ones")):
        h = audit.event_hash(head["hash"], _fields(forged))
        _sql(api, "DELETE FROM audit_events WHERE seq = :s", s=forged["seq"])
        _sql(api, "INSERT INTO audit_events (seq, ts, type, case_id, actor_key_id, actor_name, data, prev_hash, hash, "
                  "keyed) VALUES (:s, :ts, 'decision', :c, :a, :n, :d, :p, :h, :k)",
             s=forged["seq"], ts=forged["ts"], c=forged["case_id"], a=forged["actor_key_id"], n=forged["actor_name"],
             d=audit.canonical(forged["data"]), p=head["hash"], h=h, k=keyed)
        _sql(api, "UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1", s=forged["seq"], h=h)
        code, out = _verify(capsys)
        assert code == 1 and f"audit chain broken at event {forged['seq']} ({reason}" in out


def test_another_key_cannot_vouch_for_the_chain(api, monkeypatch, capsys, cli_env):
    _populate(api)
    monkeypatch.setenv("TARIFF_AUDIT_KEY", "not-the-key")
    get_settings.cache_clear()
    code, out = _verify(capsys)
    assert code == 1 and "audit chain broken at event 1 (edited or forged" in out


def test_the_key_file_is_private_and_outside_the_database(api):
    key_file = Path(api.desk.settings.home) / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip().encode()
    assert api.desk.db.audit_key == key and len(key) >= 32
    with api.desk.db.read() as s:
        tables = [str(v) for row in s.execute(sa.text("SELECT data FROM audit_events")) for v in row]
    assert not any(key.decode() in t for t in tables)


def test_an_upgraded_database_seals_its_unkeyed_events(tmp_path, monkeypatch):
    """A version-1 database (sha256 links) gets an `audit_keyed` event on upgrade and verifies from then on."""
    settings = Settings(home=tmp_path / "home", _env_file=None)
    url = settings.sqlalchemy_url
    old = Database(url)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    old.migrate()
    monkeypatch.undo()
    prev = "0" * 64
    with old.engine.begin() as conn:
        for seq in (1, 2):
            ev = {"seq": seq, "ts": audit.now_ts(), "type": "key_created", "case_id": None, "actor_key_id": None,
                  "actor_name": None, "data": {"key_id": f"k{seq}"}}
            h = audit.event_hash(prev, ev)
            conn.execute(sa.text("INSERT INTO audit_events (seq, ts, type, data, prev_hash, hash) "
                                 "VALUES (:s, :t, 'key_created', :d, :p, :h)"),
                         {"s": seq, "t": ev["ts"], "d": audit.canonical(ev["data"]), "p": prev, "h": h})
            prev = h
        conn.execute(sa.text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": prev})
    old.dispose()
    db = Database.open(settings)
    result = audit_verify.verify(db)
    assert result.ok and result.events == 3 and result.legacy == 2, result.message()
    assert "2 unkeyed legacy events sealed" in result.message()
    sealed = list(audit.export(db))[-1]
    assert sealed["type"] == "audit_keyed" and sealed["keyed"] and sealed["data"]["legacy_head"] == prev
    assert Database.open(settings).migrate() == migrations.MIGRATIONS[-1][0]
    assert len(list(audit.export(db))) == 3  # sealed once, not on every start
    assert stat.S_IMODE(os.stat(db.url.database).st_mode) == 0o600
    db.dispose()


def test_a_server_with_another_key_refuses_to_start(api, tmp_path):
    """A second server on the same database with its own audit.key would fork the trail's key: it stops at once."""
    from assistant.errors import AssistantError
    from assistant.server import create_app

    api.classify()
    other = Settings(home=tmp_path / "other-home", database_url=api.desk.settings.sqlalchemy_url, _env_file=None)
    with pytest.raises(AssistantError, match="every server on one database needs the same key"):
        create_app(other, runtime=api.desk.runtime())
