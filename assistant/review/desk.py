"""The review desk (database, settings, runtime), the request models, and classification before storage."""

from __future__ import annotations

import hashlib
import os
import threading
import unicodedata
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..auth import Principal
from ..codes import normalize_code
from ..config import Settings
from ..errors import ConflictError, InputError
from ..models import Classification
from ..store.db import Database
from ..store.records import Action
from ..store.tables import IdempotencyRecord
from .risk import declared_code_risks

if TYPE_CHECKING:
    from ..runtime import Runtime


@dataclass
class Desk:
    """What the case functions work with: the database, the settings, and the runtime (opened on first use)."""

    db: Database
    settings: Settings
    _runtime: Runtime | None = field(default=None, repr=False)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from ..runtime import get_runtime

            self._runtime = get_runtime()
        return self._runtime


# ---------------------------------------------------------------- requests


# A tariff code as typed: 2, 4, 6, 8 or 10 digits, with dots, spaces or dashes anywhere (normalize_code reads it).
CODE_PATTERN = r"^[\s.\-]*(?:\d[\s.\-]*){2}(?:(?:\d[\s.\-]*){2}){0,4}$"
OPTIONAL_CODE = r"^\s*$|" + CODE_PATTERN
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"  # some visible character, no NUL
ID_PATTERN = r"^[0-9a-f]{0,32}$"  # ids of cases, decisions and batches (empty: none)
EngineName = Literal["offline", "llm"]


def _storable(value: str) -> str:
    # What no database column can hold: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates (not UTF-8).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def text(**constraints: object) -> object:
    """A str type that a database column can hold, with JSON-schema constraints (max_length, pattern, ...)."""
    return Annotated[str, Field(**constraints), AfterValidator(_storable)]


Description = text(min_length=1, pattern=NOT_BLANK)
Reference = text(max_length=200, pattern=NO_NUL)


AttributeScalar = text(max_length=1000, pattern=NO_NUL) | int | float | bool
AttributeName = text(min_length=1, max_length=100, pattern=NOT_BLANK)
CategoryPart = text(min_length=1, max_length=200, pattern=NOT_BLANK)


class ClassificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Description = Field(description="the goods, in plain words (limit: max_description_chars)")
    context: list[text(pattern=NO_NUL)] = Field(
        default_factory=list, max_length=20, description="extra facts (material, use, ...); blank items are ignored"
    )
    declared_code: str | None = Field(default=None, max_length=40, pattern=OPTIONAL_CODE,
                                      description="the code the broker intends to declare (dots allowed)")
    engine: EngineName | None = Field(default=None, description="default: the server's (TARIFF_ENGINE)")
    top: int = Field(default=5, ge=1, le=20)
    reference: Reference | None = Field(default=None, description="the broker's own reference")
    attributes: dict[AttributeName, AttributeScalar | Annotated[list[AttributeScalar], Field(max_length=20)]] | None = (
        Field(default=None, max_length=50, description="listing attributes, name -> value (material, gender, use, "
              "power source ...); brand, colour, size and price are kept but never decide the code"))
    category: text(max_length=1000, pattern=NO_NUL) | Annotated[list[CategoryPart], Field(max_length=12)] | None = Field(
        default=None, description='category path: "Apparel > T-shirts" or ["Apparel", "T-shirts"]')

    def category_path(self) -> list[str] | None:
        """The category as a list of path parts (outermost first), or None."""
        return category_path(self.category)


def category_path(category: str | list[str] | None) -> list[str] | None:
    """"Apparel > T-shirts" -> ["Apparel", "T-shirts"]; a list is kept; blank -> None."""
    from ..engines.query import split_category

    parts = split_category(category) if category else []
    return parts or None


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    code: str | None = Field(default=None, max_length=40, pattern=OPTIONAL_CODE,
                             description="confirm/override: the tariff code (dots allowed)")
    reason: text(max_length=5000, pattern=NO_NUL) | None = Field(
        default=None, description="override/reject: why; request_info: the question"
    )
    supersedes: str | None = Field(default=None, pattern=ID_PATTERN, description="the decision this one corrects")


class InfoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Description = Field(description="the facts the officer asked for")


# ---------------------------------------------------------------- helpers


def new_id() -> str:
    return uuid.uuid4().hex


def request_hash(payload: object) -> str:
    return hashlib.sha256(audit.canonical(payload).encode("utf-8")).hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_text(text: str, what: str, settings: Settings) -> str:
    clean = (text or "").strip()
    # Invisible format characters (zero-width space, BOM, word joiner) are not text either.
    if not clean or all(unicodedata.category(ch) == "Cf" or ch.isspace() for ch in clean):
        raise InputError(f"the {what} is empty")
    if len(clean) > settings.max_description_chars:
        raise InputError(f"the {what} is {len(clean)} characters; the limit is {settings.max_description_chars}")
    if "\x00" in clean:
        raise InputError(f"the {what} contains a NUL character")
    return clean


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


def _passage_text(runtime: Runtime) -> Callable[[str], str | None]:
    def lookup(passage_id: str) -> str | None:
        p = runtime.catalog.passage(passage_id)  # None when gone: the check falls back to the citation's excerpt
        return p.text if p is not None else None

    return lookup


_OFFLINE_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


@dataclass
class Prepared:
    """A classification ready to be stored as a case (computed outside any transaction)."""

    classification: Classification
    declared_code: str | None
    risk_reasons: list[str]


def prepare(desk: Desk, description: str, *, context: list[str], declared_code: str | None, engine: str | None,
            top: int, attributes: dict | None = None, category: list[str] | None = None) -> Prepared:
    """Classify and run the declared-code check: the slow part, done before taking the write lock."""
    from ..engines import classify

    description = check_text(description, "description", desk.settings)
    context = [check_text(c, "context item", desk.settings) for c in context if c and c.strip()]
    declared = normalize_code(declared_code) if declared_code and declared_code.strip() else None
    runtime = desk.runtime()
    engine = engine or desk.settings.engine
    # The offline engine is CPU-bound: more threads in it at once than cores only fight over the GIL, which
    # lowers throughput and stretches every latency. (The LLM engine mostly waits on its server: not limited.)
    with _OFFLINE_SLOTS if engine == "offline" else nullcontext():
        c = classify(description, context=context, attributes=attributes, category=category, engine=engine, top=top,
                     runtime=runtime)
    risks = declared_code_risks(declared, c, runtime.nomenclature, _passage_text(runtime)) if declared else []
    return Prepared(c, declared, risks)


