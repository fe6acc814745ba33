"""SQLAlchemy 2 table models: cases, suggestions, decisions, API keys, audit events, batches, idempotency records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_queue", "status", "risk_flag", "created_at"),
        Index("ix_cases_org", "org", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    requester_key_id: Mapped[str] = mapped_column(String(32))
    requester_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    context: Mapped[list[Any]] = mapped_column(default=list)
    reference: Mapped[str | None] = mapped_column(String(200))
    declared_code: Mapped[str | None] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    edition: Mapped[str] = mapped_column(String(100))
    corpus_snapshot: Mapped[str] = mapped_column(String(100))
    engine_version: Mapped[str | None] = mapped_column(String(200))  # engines/version.py; null before migration 2
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    degraded_reason: Mapped[str | None] = mapped_column(Text)
    clarifying_question: Mapped[str | None] = mapped_column(Text)
    clarifying_options: Mapped[list[Any]] = mapped_column(default=list)
    abstained: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    abstain_reason: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # listing attributes as sent
    category: Mapped[list[Any] | None] = mapped_column(default=None)  # category path as sent, outermost first
    status: Mapped[str] = mapped_column(String(32))
    final_code: Mapped[str | None] = mapped_column(String(16))
    risk_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_reasons: Mapped[list[Any]] = mapped_column(default=list)
    round: Mapped[int] = mapped_column(Integer, default=1)
    top: Mapped[int] = mapped_column(Integer, default=5)
    decision_id: Mapped[str | None] = mapped_column(String(32))  # the decision that set the current status
    event_hash: Mapped[str | None] = mapped_column(String(64))  # the audit event that set status and final code
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    assignee_key_id: Mapped[str | None] = mapped_column(String(32))  # the officer who claimed it (or was assigned)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    routing: Mapped[str] = mapped_column(String(32), default="review", server_default="review")
    candidate_sets: Mapped[list[Any] | None] = mapped_column(default=None)  # conformal sets at 4, 6, 10 digits
    routing: Mapped[str] = mapped_column(String(32), default="review", server_default="review")
    candidate_sets: Mapped[list[Any] | None] = mapped_column(default=None)  # conformal sets at 4, 6, 10 digits


class SuggestionRow(Base):
    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_case", "case_id", "round", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    display: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    path: Mapped[list[Any]] = mapped_column(default=list)
    confidence: Mapped[float] = mapped_column(Float)
    rationale: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[Any]] = mapped_column(default=list)
    general_rate: Mapped[str | None] = mapped_column(String(200))
    confidence_by_level: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    support: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    confidence_by_level: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    support: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Decision(Base):
    """An officer's decision. Rows are never updated: a correction is a new row that `supersedes` the old one."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    code: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    officer_key_id: Mapped[str] = mapped_column(String(32))
    officer_name: Mapped[str] = mapped_column(String(200))
    supersedes: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"), unique=True)
    round: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    event_hash: Mapped[str | None] = mapped_column(String(64))  # its `decision` audit event


class AuditEvent(Base):
    """One link of the audit chain: hash = HMAC-SHA256(audit key, prev_hash + canonical JSON of the other fields)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC, stored as text so it hashes identically everywhere
    type: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_key_id: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    keyed: Mapped[bool] = mapped_column(Boolean, default=True)  # false: a legacy sha256 link (older versions)


class AuditHead(Base):
    """The single row holding the chain's last sequence number and hash (a deleted tail shows up here)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(200), index=True)
    requester_key_id: Mapped[str] = mapped_column(String(32))
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | cancelled
    engine: Mapped[str | None] = mapped_column(String(32))
    top: Mapped[int] = mapped_column(Integer, default=5)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BatchItem(Base):
    __tablename__ = "batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200))
    declared_code: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    category: Mapped[list[Any] | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | error | cancelled
    case_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("key_id", "scope", "idem_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(32))  # "classifications" | "batches"
    idem_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A callback URL an admin registered for an organisation's decisions; removed ones are kept (removed_at)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))  # signs the bodies: the receiver holds the same secret
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    """One decision sent (or still to be sent) to one webhook, with its attempts."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(32))
    decision_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class WebSessionRow(Base):
    """A signed-in web session; the cookie holds its random id, the table holds only the id's SHA-256."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
