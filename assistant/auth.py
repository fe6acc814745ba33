"""API keys, roles and organisations: keys are random, shown once, stored only as a SHA-256 hash.

Roles and what they may do (admin may do everything):
    broker   create classifications and batches; read and add information to its organisation's cases
    officer  everything a broker may, on every organisation's cases, plus the review queue, decisions, case audit trails
    admin    everything an officer may, plus API keys (create, list, revoke) and the audit export
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from pydantic import BaseModel
from sqlalchemy import func, select

from .errors import AuthError, InputError, NotFoundError, PermissionDenied
from .store import audit
from .store.db import Database
from .store.tables import ApiKey, utcnow

KEY_PREFIX = "tk_"
_KEY_ID = re.compile(r"k[0-9a-f]{12}")
DEFAULT_ORG = "default"


class Role(str, Enum):
    BROKER = "broker"
    OFFICER = "officer"
    ADMIN = "admin"


_RANK = {Role.BROKER: 0, Role.OFFICER: 1, Role.ADMIN: 2}

# permission -> least role that holds it (roles are ordered broker < officer < admin)
PERMISSIONS: dict[str, Role] = {
    "classify": Role.BROKER,
    "read_cases": Role.BROKER,  # brokers: their organisation's cases only
    "add_info": Role.BROKER,
    "lookup": Role.BROKER,  # codes, search, passages
    "read_all_cases": Role.OFFICER,
    "review": Role.OFFICER,  # queue and decisions
    "case_audit": Role.OFFICER,
    "manage_keys": Role.ADMIN,
    "export_audit": Role.ADMIN,
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and organisation."""

    key_id: str
    name: str
    role: Role
    org: str

    def can(self, permission: str) -> bool:
        return _RANK[self.role] >= _RANK[PERMISSIONS[permission]]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"the {self.role.value} role may not {permission.replace('_', ' ')}")


class KeyInfo(BaseModel):
    """An API key as listed (never with the key itself)."""

    id: str
    name: str
    role: Role
    org: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class NewKey(KeyInfo):
    key: str  # shown once


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 cannot be brute-forced; no salt or KDF is needed.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        org=row.org,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _clean(value: str | None, what: str, *, default: str | None = None) -> str:
    text = (value or "").strip() or (default or "")
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > 200 or any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F or 0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise InputError(f"{what} must be at most 200 printable characters")
    return text


def create_key(
    db: Database, *, name: str, role: Role | str, org: str | None = None, actor: Principal | None = None
) -> NewKey:
    """Create a key; the returned NewKey.key is the only time the plaintext exists."""
    try:
        role = Role(role)
    except ValueError:
        raise InputError(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if role == Role.BROKER and not (org or "").strip():
        raise InputError("a broker key needs an organisation (--org / \"org\"): brokers see their organisation's "
                         "cases, and keys without one would share them")
    name, org = _clean(name, "name"), _clean(org, "org", default=DEFAULT_ORG)
    key = generate_key()
    with db.write() as s:
        row = ApiKey(
            id="k" + secrets.token_hex(6),
            name=name,
            role=role.value,
            org=org,
            key_hash=hash_key(key),
            prefix=key[:8],
            created_at=utcnow(),
            created_by=actor.key_id if actor else "cli",
        )
        s.add(row)
        s.flush()
        audit.append(s, "key_created", actor=actor, data={"key_id": row.id, "name": name, "role": role.value, "org": org})
        return NewKey(**_info(row).model_dump(), key=key)


def ensure_first_admin(db: Database) -> NewKey | None:
    """On a first start (no key at all), create an admin key; None when keys already exist."""
    with db.read() as s:
        if s.execute(select(func.count()).select_from(ApiKey)).scalar_one():
            return None
    return create_key(db, name="first admin", role=Role.ADMIN)


def list_keys(db: Database) -> list[KeyInfo]:
    with db.read() as s:
        return [_info(r) for r in s.execute(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).scalars()]


def revoke_key(db: Database, key_id: str, *, actor: Principal | None = None) -> KeyInfo:
    """Revoke a key for good (idempotent: revoking twice keeps the first time)."""
    with db.write() as s:
        row = s.get(ApiKey, key_id) if _KEY_ID.fullmatch(key_id or "") else None
        if row is None:
            raise NotFoundError(f"no API key {key_id[:40]!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.append(s, "key_revoked", actor=actor, data={"key_id": row.id, "name": row.name, "role": row.role})
            _end_key_work(s, row.id, actor)
        s.flush()
        return _info(row)


def _end_key_work(s, key_id: str, actor: Principal | None) -> None:
    """In the revocation's transaction: end the key's web sessions and cancel its batches' pending items."""
    from .store.cancellation import cancel_for_key
    from .store.web_sessions import end_sessions

    end_sessions(s, key_id=key_id)
    cancel_for_key(s, key_id, actor=actor)


def shared_org_keys(keys: list[KeyInfo]) -> list[KeyInfo]:
    """Active broker keys of the shared default organisation (from versions that did not require one)."""
    return [k for k in keys if k.role == Role.BROKER and k.org == DEFAULT_ORG and k.revoked_at is None]


def authenticate(db: Database, key: str | None) -> Principal:
    """The principal of a bearer key; AuthError when it is missing, unknown or revoked."""
    if not key:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        raise AuthError("unknown API key")
    digest = hash_key(key)
    with db.read() as s:
        row = s.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise AuthError("unknown API key")
    if row.revoked_at is not None:
        raise AuthError("this API key has been revoked")
    return Principal(key_id=row.id, name=row.name, role=Role(row.role), org=row.org)


def principal_for(db: Database, key_id: str) -> Principal:
    """The principal of a key id (the web UI keeps only the key id in its session); AuthError when revoked."""
    with db.read() as s:
        row = s.get(ApiKey, key_id) if _KEY_ID.fullmatch(key_id or "") else None
    if row is None or row.revoked_at is not None:
        raise AuthError("this API key is unknown or has been revoked")
    return Principal(key_id=row.id, name=row.name, role=Role(row.role), org=row.org)
