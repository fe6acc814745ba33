"""Retention: redact the stored descriptions of closed cases N days after they closed (redact_closed_after_days).

A closed case is confirmed, overridden or rejected; it closed when its current decision was made (`updated_at`).
Redaction replaces the case's description, its added facts (context), its listing attributes' values and category
and its batch item's description with REDACTED, and records one `description_redacted` audit event per case. The audit chain stays valid: it only ever
held SHA-256 digests of those texts. Codes, decisions, citations and references are kept. On SQLite the old text
is also scrubbed from the files (secure_delete, then a WAL checkpoint); on PostgreSQL it stays in dead row
versions until `VACUUM FULL cases, batch_items` rewrites the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text

from ..errors import InputError
from . import audit
from .db import Database
from .records import Status
from .tables import BatchItem, Case, utcnow

REDACTED = "[redacted]"
CLOSED = (Status.CONFIRMED, Status.OVERRIDDEN, Status.REJECTED)
CHUNK = 500  # cases per write transaction


class _Actor:
    key_id = "retention"
    name = "retention policy"


@dataclass(frozen=True)
class Redaction:
    """What a run redacted (or, with dry_run, would redact)."""

    cases: int
    batch_items: int
    closed_before: datetime
    dry_run: bool = False
    case_ids: tuple[str, ...] = ()  # the cases redacted (their precedents must go too: review.precedents)

    def message(self) -> str:
        verb = "would redact" if self.dry_run else "redacted"
        return (f"{verb} the descriptions of {self.cases} closed case(s) ({self.batch_items} batch item(s)), "
                f"closed before {self.closed_before:%Y-%m-%d %H:%M} UTC")


def redact_closed_cases(db: Database, *, after_days: int, now: datetime | None = None,
                        dry_run: bool = False) -> Redaction:
    """Redact cases closed more than `after_days` days ago; cases already redacted are left alone."""
    if after_days is None or after_days < 0:
        raise InputError("the number of days after which closed cases are redacted must be 0 or more")
    cutoff = (now or utcnow()) - timedelta(days=after_days)
    due = (select(Case.id)
           .where(Case.status.in_([s.value for s in CLOSED]), Case.updated_at <= cutoff, Case.description != REDACTED)
           .order_by(Case.updated_at, Case.id))
    with db.read() as s:
        ids = list(s.execute(due).scalars())
    if dry_run:
        with db.read() as s:
            items = _count_items(s, ids)
        return Redaction(len(ids), items, cutoff, dry_run=True)
    cases = items = 0
    done: list[str] = []
    for start in range(0, len(ids), CHUNK):
        with db.write() as s:
            if db.is_sqlite:  # zero the freed bytes, so the old text does not linger in the page
                s.execute(text("PRAGMA secure_delete = ON"))
            for case in s.execute(select(Case).where(Case.id.in_(ids[start : start + CHUNK]))).scalars():
                if case.description == REDACTED or case.status not in {st.value for st in CLOSED}:
                    continue  # redacted, or reopened by a correction, since the read above
                facts = len(case.context or [])
                case.description, case.context = REDACTED, [REDACTED] * facts
                case.attributes, case.category = _redacted(case.attributes), _redacted(case.category)
                rows = list(s.execute(select(BatchItem).where(BatchItem.case_id == case.id)).scalars())
                for row in rows:
                    row.description = REDACTED
                    row.attributes, row.category = _redacted(row.attributes), _redacted(row.category)
                audit.append(s, "description_redacted", case_id=case.id, actor=_Actor(), data={
                    "status": case.status, "closed_at": case.updated_at.isoformat(), "after_days": after_days,
                    "context_items": facts, "batch_items": len(rows),
                })
                cases, items = cases + 1, items + len(rows)
                done.append(case.id)
            if db.is_sqlite:
                s.execute(text("PRAGMA secure_delete = OFF"))
    if db.is_sqlite and cases:
        # Older versions of the pages stay in the write-ahead log until it is checkpointed and truncated.
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return Redaction(cases, items, cutoff, case_ids=tuple(done))


def _redacted(listing: dict | list | None) -> dict | list | None:
    """A listing's attribute values or category parts replaced (names kept: they say what was sent, not what it was)."""
    if isinstance(listing, dict):
        return {name: REDACTED for name in listing}
    if isinstance(listing, list):
        return [REDACTED] * len(listing)
    return listing


def _count_items(s, ids: list[str]) -> int:
    n = 0
    for start in range(0, len(ids), CHUNK):
        n += len(list(s.execute(select(BatchItem.id).where(BatchItem.case_id.in_(ids[start : start + CHUNK])))))
    return n
