"""Idempotency-Key handling: the same key and body return what the first request created."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import Principal
from ..errors import ConflictError, InputError
from ..store import audit
from ..store.db import Database
from ..store.tables import IdempotencyRecord


def request_hash(payload: object) -> str:
    return hashlib.sha256(audit.canonical(payload).encode("utf-8")).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > 200 or any(ord(c) < 32 or ord(c) > 126 for c in key):
        raise InputError("Idempotency-Key must be 1-200 printable ASCII characters")
    return key


def idempotent_resource(s: Session, principal: Principal, scope: str, key: str, digest: str) -> str | None:
    """The resource an earlier request with this key created; ConflictError if its body differed."""
    rec = s.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.key_id == principal.key_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.idem_key == key,
        )
    ).scalar_one_or_none()
    if rec is None:
        return None
    if rec.request_hash != digest:
        raise ConflictError("this Idempotency-Key was already used with a different request body")
    return rec.resource_id


def find_idempotent(db: Database, principal: Principal, scope: str, key: str, digest: str) -> str | None:
    with db.read() as s:
        return idempotent_resource(s, principal, scope, key, digest)
