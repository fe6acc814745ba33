"""The tamper-evident audit trail: hash-chained events (append, verify, export).

Each event stores the previous event's hash and its own hash = sha256(prev_hash + canonical JSON of its
fields), so editing, removing or reordering any stored event breaks every later link. Appends happen
inside `Database.write()` transactions, which are serialised, so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import AssistantError, InputError
from .db import Database
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
    }
)


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
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


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
    ev = AuditEvent(
        seq=head.seq + 1,
        ts=now_ts(),
        type=type,
        case_id=case_id,
        actor_key_id=actor.key_id if actor else None,
        actor_name=actor.name if actor else None,
        data=canonical(data),
        prev_hash=head.hash,
    )
    ev.hash = event_hash(head.hash, _fields(ev, data))
    head.seq, head.hash = ev.seq, ev.hash
    session.add(ev)
    return ev


def to_dict(ev: AuditEvent) -> dict[str, Any]:
    """The exported form of an event: every stored field, with `data` parsed."""
    try:
        data = json.loads(ev.data)
    except ValueError:
        data = ev.data
    return {**_fields(ev, data), "prev_hash": ev.prev_hash, "hash": ev.hash}


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    broken_at: int | None = None
    reason: str | None = None
    head: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.events} events, head {(self.head or GENESIS)[:16]}"
        return f"audit chain broken at event {self.broken_at} ({self.reason})"


def verify(db: Database) -> Verification:
    """Walk the chain from the first event; name the first edited, reordered or missing event."""
    expected_seq, prev = 1, GENESIS
    count = 0
    with db.read() as s:
        for ev in s.execute(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=500)).scalars():
            if ev.seq != expected_seq:
                return Verification(False, count, expected_seq, f"missing: the next stored event is {ev.seq}")
            if ev.prev_hash != prev:
                return Verification(False, count, ev.seq, f"prev_hash does not match event {ev.seq - 1}")
            try:
                data = json.loads(ev.data)
            except ValueError:
                return Verification(False, count, ev.seq, "edited: data is not valid JSON")
            if event_hash(prev, _fields(ev, data)) != ev.hash:
                return Verification(False, count, ev.seq, "edited: contents do not match its hash")
            prev, expected_seq, count = ev.hash, ev.seq + 1, count + 1
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        return Verification(False, count, count + 1, "the chain head record is missing")
    if head.seq > count:
        return Verification(False, count, count + 1, f"missing: the chain head records {head.seq} events")
    if head.seq != count or head.hash != prev:
        return Verification(False, count, count, "the chain head does not match the last event")
    return Verification(True, count, head=prev)


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


def export(db: Database, *, since: date | datetime | None = None) -> Iterator[dict[str, Any]]:
    """Events in chain order (optionally from a date on), as dictionaries ready for JSON Lines."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    bound = since_ts(since)
    if bound:
        stmt = stmt.where(AuditEvent.ts >= bound)
    with db.read() as s:
        for ev in s.execute(stmt.execution_options(yield_per=500)).scalars():
            yield to_dict(ev)


def case_events(db: Database, case_id: str) -> list[dict[str, Any]]:
    with db.read() as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq))
        return [to_dict(ev) for ev in rows.scalars()]
