"""The store: migrations on SQLite and PostgreSQL match the table models, run once, and record their version."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from assistant.config import Settings
from assistant.errors import BackendUnavailable
from assistant.store.db import Database
from assistant.store.migrations import MIGRATIONS
from assistant.store.tables import Base


def test_migrations_build_exactly_the_table_models(database_url):
    db = Database(database_url)
    try:
        assert db.migrate() == MIGRATIONS[-1][0]
        assert db.migrate() == MIGRATIONS[-1][0]  # a second start changes nothing
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            versions = conn.execute(text("SELECT version, name FROM schema_version ORDER BY version")).all()
            head = conn.execute(text("SELECT seq, hash FROM audit_head")).one()
        assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "schema_version")] == []
        assert [v for v, _ in versions] == [m[0] for m in MIGRATIONS]
        assert head == (0, "0" * 64)
    finally:
        db.dispose()


def test_sqlite_is_in_wal_mode_with_foreign_keys(tmp_path):
    db = Database.from_settings(Settings(home=tmp_path))
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "tariff.db").exists()
    db.dispose()


def test_unreachable_database_is_a_503_error():
    db = Database("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(BackendUnavailable) as info:
        db.migrate()
    assert info.value.status == 503
    assert db.ping() is False
