"""What a request to the review desk may contain: the request models, their patterns, and the text checks."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..config import Settings
from ..engines import registry
from ..errors import InputError
from ..store.records import Action

# A tariff code as typed: 2, 4, 6, 8 or 10 digits, with dots, spaces or dashes anywhere (normalize_code reads it).
CODE_PATTERN = r"^[\s.\-]*(?:\d[\s.\-]*){2}(?:(?:\d[\s.\-]*){2}){0,4}$"
OPTIONAL_CODE = r"^\s*$|" + CODE_PATTERN
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"  # some visible character, no NUL
ID_PATTERN = r"^[0-9a-f]{0,32}$"  # ids of cases, decisions and batches (empty: none)
EngineName = Literal[registry.names()]  # the installed engines (entry points), in the OpenAPI schema


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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"description": "Men's T-shirt, 100% cotton, knitted jersey", "reference": "PO-2291"},
        {"description": "Wireless in-ear earphones with microphone", "context": ["plastic housing"],
         "declared_code": "8518.30.20.00", "top": 3},
    ]})

    description: Description = Field(description="the goods, in plain words (limit: max_description_chars)")
    context: list[text(pattern=NO_NUL)] = Field(
        default_factory=list, max_length=20, description="extra facts (material, use, ...); blank items are ignored"
    )
    declared_code: str | None = Field(default=None, max_length=40, pattern=OPTIONAL_CODE,
                                      description="the code the broker intends to declare (dots allowed)")
    engine: EngineName | None = Field(default=None, description="default: the server's (TARIFF_ENGINE)")
    top: int = Field(default=5, ge=1, le=20)
    coverage: float = Field(default=0.9, ge=0.5, le=0.99, description="coverage of the conformal candidate set: it "
                            "contains the right subheading with this probability (split conformal)")
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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "confirm", "code": "6109.10.00.12"},
        {"action": "override", "code": "8518.30.20.00", "reason": "Earphones with microphone: heading 8518 (GRI 1)."},
        {"action": "request_info", "reason": "Is the body of the bag leather or plastic sheeting?"},
        {"action": "confirm", "code": "8518.30.20.00", "supersedes": "3f2a9c0e4b7d4e1f8a6b5c4d3e2f1a0b",
         "reason": "Correction: the goods are headsets, not cases."},
    ]})

    action: Action
    code: str | None = Field(default=None, max_length=40, pattern=OPTIONAL_CODE,
                             description="confirm/override: the tariff code (dots allowed)")
    reason: text(max_length=5000, pattern=NO_NUL) | None = Field(
        default=None, description="override/reject: why; request_info: the question"
    )
    supersedes: str | None = Field(default=None, pattern=ID_PATTERN,
                                   description="the decision this one corrects; a reason is then required")


class InfoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Description = Field(description="the facts the officer asked for")


# ---------------------------------------------------------------- helpers


def new_id() -> str:
    return uuid.uuid4().hex


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


