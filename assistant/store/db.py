"""Database engine and sessions: SQLite under settings.home (WAL, foreign keys) or any SQLAlchemy URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..config import Settings
from ..errors import BackendUnavailable
from ..keyfiles import private_dir, private_file, read_or_create_secret
from .migrations import KEYED_AUDIT, apply, current_version

log = logging.getLogger(__name__)

# Any constant works; it names the one advisory lock every PostgreSQL write transaction takes.
PG_WRITE_LOCK = 7_205_041_862


class Database:
    """One SQLAlchemy engine plus two kinds of session: `read()` and serialised `write()`.

    Errors never carry statement parameters (hide_parameters): a logged database error shows no description.

    Every write transaction appends to the hash-chained audit log, so writes are serialised:
    on SQLite a process lock plus BEGIN IMMEDIATE (other processes wait on the database lock),
    on PostgreSQL a transaction-scoped advisory lock. The chain can therefore never fork.
    """

    def __init__(self, url: str, *, audit_key: bytes | None = None):
        self.url = make_url(url)
        self.audit_key = audit_key  # signs audit events; None only for a database that is read or migrated
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._lock = threading.RLock()
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                # Created 0600 before SQLite opens it: its -wal and -shm files take the same mode.
                private_dir(Path(self.url.database).parent)
                private_file(Path(self.url.database))
            self.engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                        hide_parameters=True)
            _sqlite_events(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        self._write_engine = self.engine.execution_options(tariff_write=True)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.sqlalchemy_url, audit_key=audit_key(settings))

    @classmethod
    def open(cls, settings: Settings | None = None) -> Database:
        """The database of `settings` (default: the environment's), migrated to the current schema."""
        from ..config import get_settings

        db = cls.from_settings(settings or get_settings())
        db.migrate()
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads (never committed)."""
        with _unavailable_as_503(), self._reader() as session:
            yield session  # closing the session ends its transaction; loaded objects stay readable

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read session that sees one state of the whole database throughout (verifying rows against events)."""
        with _unavailable_as_503(), self._reader() as session:
            if not self.is_sqlite:  # SQLite's WAL already gives a read transaction one snapshot
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A serialised read-write transaction, committed when the block ends without an exception."""
        with _unavailable_as_503(), self._lock, self._writer() as session:
            session.info["audit_key"] = self.audit_key
            try:
                if not self.is_sqlite:
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> int:
        """Bring the schema up to date; returns the schema version."""
        from .audit import seal_legacy

        with self.write() as session:  # the write lock keeps two starting processes from migrating at once
            before = current_version(session)
            version = apply(session)
            # Only the upgrade itself seals older unkeyed events: a chain rewritten unkeyed later is never sealed.
            if 0 < before < KEYED_AUDIT <= version:
                seal_legacy(session)
            return version

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
            log.warning("database ping failed: %s", type(exc).__name__)
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def audit_key(settings: Settings) -> bytes:
    """The key that signs audit events: TARIFF_AUDIT_KEY, else TARIFF_HOME/audit.key (created once, mode 0600).

    Keep it (and a copy) away from the database's backups: whoever holds both can rewrite the trail.
    """
    if settings.audit_key:
        return settings.audit_key.get_secret_value().encode("utf-8")
    return read_or_create_secret(Path(settings.home) / "audit.key").encode("utf-8")


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so a write transaction can be BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("tariff_write") else "BEGIN")


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        log.warning("database error: %s", exc.__class__.__name__)
        raise BackendUnavailable("the database is unavailable", detail=str(exc.orig)[:200]) from exc
