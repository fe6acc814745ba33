"""The tamper-evident audit trail: keyed, hash-chained events (append, verify, export).

Each event stores the previous event's hash and its own hash = HMAC-SHA256(audit key, prev_hash + canonical JSON
of its fields). The key lives outside the database (TARIFF_HOME/audit.key or TARIFF_AUDIT_KEY), so someone who can
write the database but not read the key can neither edit an event and recompute the later links nor forge a new
one. Removing the newest events and rolling back `audit_head` is caught by a signed checkpoint kept elsewhere
(store/checkpoint.py); rows of `cases` and `decisions` edited without an event are caught by store/audit_state.py.

Databases from before the key existed keep their plain sha256 links ("legacy" events, `keyed` false); on the
first start with a key, an `audit_keyed` event seals them, and from then on an unkeyed event is a forgery.
Appends happen inside `Database.write()` transactions, which are serialised, so the chain never forks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import AssistantError, InputError
from .migrations import GENESIS
from .tables import AuditEvent, AuditHead

EVENT_TYPES = frozenset(
    {
        "case_created",
        "suggestions_made",
        "case_opened",
        "decision",
        "decision_superseded",
        "case_assigned",
        "info_requested",
        "info_added",
        "key_created",
        "key_revoked",
        "batch_created",
        "description_redacted",
        "case_replayed",
        "audit_keyed",
        "batch_cancelled",
    }
)


class Database(Protocol):
    """What the trail needs of store.db.Database (a Protocol: db.py builds on this module when it seals)."""

    audit_key: bytes | None

    def read(self) -> Any: ...

    def snapshot(self) -> Any: ...


class Actor(Protocol):
    key_id: str
    name: str


def canonical(obj: Any) -> str:
    """The one JSON form that is hashed: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def now_ts() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fields(ev: AuditEvent, data: Any) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "ts": ev.ts,
        "type": ev.type,
        "case_id": ev.case_id,
        "actor_key_id": ev.actor_key_id,
        "actor_name": ev.actor_name,
        "data": data,
    }


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The unkeyed link of legacy events (anyone can compute it: it proves nothing on its own)."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


def event_mac(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    """The keyed link: HMAC-SHA256 under the audit key of the same text `event_hash` hashes."""
    return hmac.new(key, (prev_hash + canonical(fields)).encode("utf-8"), hashlib.sha256).hexdigest()


def _key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not key:  # a programming error: every Database opened from settings carries the key
        raise AssistantError("this database was opened without the audit key; events cannot be signed")
    return key


def append(
    session: Session, type: str, *, data: dict[str, Any], case_id: str | None = None, actor: Actor | None = None
) -> AuditEvent:
    """Add one event to the chain inside the caller's (serialised) write transaction."""
    if type not in EVENT_TYPES:
        raise AssistantError(f"unknown audit event type {type!r}")  # a programming error, never user input
    # The head is locked (PostgreSQL) and read once per transaction; writes are serialised, so it stays current.
    head = session.info.get("audit_head")
    if head is None:
        head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        session.info["audit_head"] = head
    key = _key(session)
    ev = AuditEvent(
        seq=head.seq + 1,
        ts=now_ts(),
        type=type,
        case_id=case_id,
        actor_key_id=actor.key_id if actor else None,
        actor_name=actor.name if actor else None,
        data=canonical(data),
        prev_hash=head.hash,
        keyed=True,
    )
    ev.hash = event_mac(key, head.hash, _fields(ev, data))
    head.seq, head.hash = ev.seq, ev.hash
    session.add(ev)
    return ev


def check_key(db: Database) -> None:
    """Refuse to start with a key that did not sign the newest event (say, a second server with its own audit.key)."""
    if not db.audit_key:
        return
    with db.read() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.keyed.is_(True)).order_by(AuditEvent.seq.desc())
                       .limit(1)).scalar_one_or_none()
        if ev is None:
            return
        try:
            expected = event_mac(db.audit_key, ev.prev_hash, _fields(ev, json.loads(ev.data)))
        except ValueError:
            expected = ""
    if not hmac.compare_digest(expected, ev.hash):
        raise AssistantError(
            f"the audit key does not verify event {ev.seq}, the newest signed one: every server on one database needs "
            "the same key (TARIFF_AUDIT_KEY, or the same TARIFF_HOME/audit.key); run `tariff audit verify` to check "
            "the trail")


def to_dict(ev: AuditEvent) -> dict[str, Any]:
    """The exported form of an event: every stored field, with `data` parsed."""
    try:
        data = json.loads(ev.data)
    except ValueError:
        data = ev.data
    return {**_fields(ev, data), "prev_hash": ev.prev_hash, "hash": ev.hash, "keyed": bool(ev.keyed)}


def seal_legacy(session: Session) -> AuditEvent | None:
    """Once per database: append `audit_keyed` after the unkeyed events of an older version (None if none)."""
    if session.execute(select(AuditEvent.seq).where(AuditEvent.keyed.is_(True)).limit(1)).first():
        return None
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    if head.seq == 0:
        return None  # a new database: every event will be keyed
    return append(session, "audit_keyed", data={"legacy_events": head.seq, "legacy_head": head.hash})


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    broken_at: int | None = None
    reason: str | None = None
    head: str | None = None
    legacy: int = 0  # unkeyed events sealed by the `audit_keyed` event
    problems: tuple[str, ...] = ()  # rows of cases/decisions, or checkpoints, that disagree with the chain

    def message(self) -> str:
        if self.broken_at is not None:
            return f"audit chain broken at event {self.broken_at} ({self.reason})"
        if self.problems:
            shown = "; ".join(self.problems[:20]) + (f"; and {len(self.problems) - 20} more" if len(self.problems) > 20 else "")
            return f"audit chain links OK but {len(self.problems)} problem(s): {shown}"
        legacy = f" ({self.legacy} unkeyed legacy events sealed)" if self.legacy else ""
        return f"audit chain OK: {self.events} events, head {(self.head or GENESIS)[:16]}{legacy}"


def walk(s: Session, key: bytes | None, *, want: frozenset[int] = frozenset(),
         on_event: Any = None) -> tuple[Verification, dict[int, str]]:
    """Walk the chain from the first event, checking every link; (result, hashes of the events in `want`).

    `on_event(ev, data)` sees every event whose link checked out (store/audit_state.py rebuilds case states).
    """
    expected_seq, prev, count, legacy, keyed_seen = 1, GENESIS, 0, 0, False
    seen: dict[int, str] = {}
    rows = s.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=500)).scalars()
    try:  # closed explicitly: a PostgreSQL server-side cursor left open on an early return leaks
        for ev in rows:
            if ev.seq != expected_seq:
                return Verification(False, count, expected_seq, f"missing: the next stored event is {ev.seq}"), seen
            if ev.prev_hash != prev:
                return Verification(False, count, ev.seq, f"prev_hash does not match event {ev.seq - 1}"), seen
            try:
                data = json.loads(ev.data)
            except ValueError:
                return Verification(False, count, ev.seq, "edited: data is not valid JSON"), seen
            problem = _link_problem(ev, prev, _fields(ev, data), key, keyed_seen)
            if problem:
                return Verification(False, count, ev.seq, problem), seen
            keyed_seen = keyed_seen or bool(ev.keyed)
            legacy += 0 if ev.keyed else 1
            if on_event is not None:
                on_event(ev, data)
            if ev.seq in want:
                seen[ev.seq] = ev.hash
            prev, expected_seq, count = ev.hash, ev.seq + 1, count + 1
    finally:
        rows.close()
    head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        return Verification(False, count, count + 1, "the chain head record is missing"), seen
    if head.seq > count:
        return Verification(False, count, count + 1, f"missing: the chain head records {head.seq} events"), seen
    if head.seq != count or head.hash != prev:
        return Verification(False, count, count, "the chain head does not match the last event"), seen
    if count and not keyed_seen:
        return Verification(False, count, 1, "no event is keyed: the chain was rewritten without the audit key"), seen
    return Verification(True, count, head=prev, legacy=legacy), seen


def _link_problem(ev: AuditEvent, prev: str, fields: dict[str, Any], key: bytes | None, keyed_seen: bool) -> str | None:
    """Why this event's own hash is wrong (None when it checks out)."""
    if ev.keyed:
        if not key:
            return "no audit key: keyed events cannot be checked"
        if not hmac.compare_digest(event_mac(key, prev, fields), ev.hash):
            return "edited or forged: its HMAC does not match the audit key"
        return None
    if keyed_seen:
        return "forged: an unkeyed event after keyed ones"
    if event_hash(prev, fields) != ev.hash:
        return "edited: contents do not match its hash"
    return None


def parse_since(text: str | None) -> date | datetime | None:
    """An ISO date ("2025-01-31") or datetime ("2025-01-31T12:00:00Z"); InputError otherwise."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
    except ValueError:
        raise InputError(f"since {value[:40]!r} is not an ISO date (YYYY-MM-DD) or datetime") from None


def since_ts(since: date | datetime | None) -> str | None:
    """Lower bound in the stored timestamp format (a date means its midnight UTC)."""
    if since is None:
        return None
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day, tzinfo=UTC)
    elif since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def export_line(event: dict[str, Any]) -> str:
    """One JSON Lines line: UTF-8 text, with the characters some readers take for line ends escaped."""
    line = json.dumps(event, ensure_ascii=False)  # control characters (\n, \r, NUL) are escaped by json itself
    for raw, escaped in _LINE_BREAKS.items():
        line = line.replace(raw, escaped)
    return line + "\n"


def export(db: Database, *, since: date | datetime | None = None) -> Iterator[dict[str, Any]]:
    """Events in chain order (optionally from a date on), as dictionaries ready for JSON Lines."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    bound = since_ts(since)
    if bound:
        stmt = stmt.where(AuditEvent.ts >= bound)
    with db.read() as s:
        rows = s.execute(stmt.execution_options(yield_per=500)).scalars()
        try:  # a reader that stops early must not leave a PostgreSQL server-side cursor open
            for ev in rows:
                yield to_dict(ev)
        finally:
            rows.close()


def case_events(db: Database, case_id: str) -> list[dict[str, Any]]:
    with db.read() as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq))
        return [to_dict(ev) for ev in rows.scalars()]
