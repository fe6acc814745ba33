"""Server-side records of web sessions: started at sign-in, checked on every page, ended by sign-out or revocation.

The cookie carries a random session id; the table keeps only its SHA-256, so a database reader cannot sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .db import Database
from .tables import WebSessionRow, utcnow


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_session(db: Database, *, key_id: str, max_age: int) -> str:
    """Record a new session of `key_id`; returns its id (for the cookie only)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with db.write() as s:
        s.add(WebSessionRow(id_hash=_digest(session_id), key_id=key_id, created_at=now,
                            expires_at=now + timedelta(seconds=max_age)))
    return session_id


def is_active(db: Database, session_id: str | None, *, key_id: str) -> bool:
    """True while the session exists, belongs to `key_id`, has not expired and was not ended."""
    if not session_id or len(session_id) > 100:
        return False
    with db.read() as s:
        row = s.execute(select(WebSessionRow).where(WebSessionRow.id_hash == _digest(session_id))).scalar_one_or_none()
    return bool(row and row.key_id == key_id and row.ended_at is None and row.expires_at > utcnow())


def end_session(db: Database, session_id: str | None) -> None:
    """Sign-out: the session ends now, whatever copies of the cookie exist."""
    if not session_id or len(session_id) > 100:
        return
    with db.write() as s:
        s.execute(update(WebSessionRow).where(WebSessionRow.id_hash == _digest(session_id),
                                              WebSessionRow.ended_at.is_(None)).values(ended_at=utcnow()))


def end_sessions(s: Session, *, key_id: str) -> None:
    """Inside a key's revocation: end every open session of the key."""
    s.execute(update(WebSessionRow).where(WebSessionRow.key_id == key_id, WebSessionRow.ended_at.is_(None))
              .values(ended_at=utcnow()))
