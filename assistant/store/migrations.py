"""Schema migrations: an ordered list of steps (alembic operations), recorded in `schema_version`, applied on startup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.orm import Session

GENESIS = "0" * 64  # prev_hash of the first audit event

# Append new steps at the end; never edit one that has shipped. Each step runs inside one transaction.
Step = Callable[[Operations], None]


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _v1_initial(op: Operations) -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(200)),
        _ts("revoked_at", True),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("requester_key_id", sa.String(32), nullable=False),
        sa.Column("requester_name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("context", sa.JSON, nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("declared_code", sa.String(16)),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("edition", sa.String(100), nullable=False),
        sa.Column("corpus_snapshot", sa.String(100), nullable=False),
        sa.Column("degraded", sa.Boolean, nullable=False),
        sa.Column("degraded_reason", sa.Text),
        sa.Column("clarifying_question", sa.Text),
        sa.Column("clarifying_options", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("final_code", sa.String(16)),
        sa.Column("risk_flag", sa.Boolean, nullable=False),
        sa.Column("risk_reasons", sa.JSON, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("top", sa.Integer, nullable=False),
        sa.Column("decision_id", sa.String(32)),
        sa.Column("batch_id", sa.String(32)),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_cases_queue", "cases", ["status", "risk_flag", "created_at"])
    op.create_index("ix_cases_org", "cases", ["org", "created_at"])
    op.create_index("ix_cases_batch_id", "cases", ["batch_id"])
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("display", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("path", sa.JSON, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("citations", sa.JSON, nullable=False),
        sa.Column("general_rate", sa.String(200)),
    )
    op.create_index("ix_suggestions_case", "suggestions", ["case_id", "round", "rank"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(32), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("code", sa.String(16)),
        sa.Column("reason", sa.Text),
        sa.Column("officer_key_id", sa.String(32), nullable=False),
        sa.Column("officer_name", sa.String(200), nullable=False),
        sa.Column("supersedes", sa.String(32), sa.ForeignKey("decisions.id"), unique=True),
        sa.Column("round", sa.Integer, nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(32)),
        sa.Column("actor_key_id", sa.String(32)),
        sa.Column("actor_name", sa.String(200)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_events_case_id", "audit_events", ["case_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("requester_key_id", sa.String(32), nullable=False),
        sa.Column("requester_name", sa.String(200), nullable=False),
        sa.Column("requester_role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("engine", sa.String(32)),
        sa.Column("top", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("started_at", True),
        _ts("finished_at", True),
    )
    op.create_index("ix_batches_org", "batches", ["org"])
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("declared_code", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("batch_id", "idx"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("idem_key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(32), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("key_id", "scope", "idem_key"),
    )


def _v2_listing_and_abstention(op: Operations) -> None:
    with op.batch_alter_table("cases") as t:
        t.add_column(sa.Column("attributes", sa.JSON))
        t.add_column(sa.Column("category", sa.JSON))
        t.add_column(sa.Column("abstained", sa.Boolean, nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("abstain_reason", sa.Text))
    with op.batch_alter_table("batch_items") as t:
        t.add_column(sa.Column("attributes", sa.JSON))
        t.add_column(sa.Column("category", sa.JSON))


def _v3_engine_version(op: Operations) -> None:
    # What a replay compares: the engine's code, parameters and embedder when the case was classified (null for
    # cases stored before this step: their replay reports the version as unknown).
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("engine_version", sa.String(200)))


def _v4_case_assignee(op: Operations) -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("assignee_key_id", sa.String(32)))
        batch.add_column(sa.Column("assignee_name", sa.String(200)))


def _v5_webhooks(op: Operations) -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org", sa.String(200), nullable=False, index=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(200)),
        _ts("created_at"),
        _ts("removed_at", True),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("webhook_id", sa.String(32), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        _ts("next_attempt_at", True),
        _ts("created_at"),
        _ts("delivered_at", True),
    )


def _v6_keyed_audit(op: Operations) -> None:
    # Existing events keep their sha256 links (keyed false); Database.migrate() seals them with an `audit_keyed`
    # event once the audit key is at hand.
    op.add_column("audit_events", sa.Column("keyed", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("cases", sa.Column("event_hash", sa.String(64)))
    op.add_column("decisions", sa.Column("event_hash", sa.String(64)))
    op.add_column("batches", sa.Column("cancelled", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("ended_at", True),
    )
    op.create_index("ix_web_sessions_key_id", "web_sessions", ["key_id"])


def _v7_trust(op: Operations) -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("routing", sa.String(32), nullable=False, server_default="review"))
        batch.add_column(sa.Column("candidate_sets", sa.JSON))
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("confidence_by_level", sa.JSON))
        batch.add_column(sa.Column("support", sa.JSON))


MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "initial schema", _v1_initial),
    (2, "listing attributes and category; abstention", _v2_listing_and_abstention),
    (3, "cases.engine_version", _v3_engine_version),
    (4, "the officer a case is assigned to", _v4_case_assignee),
    (5, "decision webhooks and their deliveries", _v5_webhooks),
    (6, "keyed audit, row event hashes, batch cancellation, web sessions", _v6_keyed_audit),
    (7, "routing, candidate sets, confidence by level and citation support", _v7_trust),
]

_version_table = sa.Table(
    "schema_version",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


KEYED_AUDIT = 6  # the version from which audit events are keyed


def current_version(session: Session) -> int:
    """The recorded schema version (0 for an empty database)."""
    conn = session.connection()
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(sa.select(sa.func.max(_version_table.c.version))).scalar() or 0


def apply(session: Session) -> int:
    """Run the steps newer than the recorded version inside `session` (a serialised write); returns the version."""
    conn = session.connection()
    _version_table.create(conn, checkfirst=True)
    current = conn.execute(sa.select(sa.func.max(_version_table.c.version))).scalar() or 0
    op = Operations(MigrationContext.configure(conn))
    for version, name, step in MIGRATIONS:
        if version > current:
            step(op)
            conn.execute(
                _version_table.insert().values(version=version, name=name, applied_at=datetime.now(UTC))
            )
            current = version
    return current
