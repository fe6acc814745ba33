"""Domain types: source records (TariffLine, Note, Gri, Ruling), the indexed Passage, and classification results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from .codes import format_code
from .links import source_url


class SourceKind(str, Enum):
    """What a passage is; also the `kind` metadata in the vector store."""

    HS = "hs"  # HS 2022 nomenclature (chapter, heading, subheading)
    HTS = "hts"  # national tariff line (US HTS)
    NOTE = "note"  # section / chapter / subheading / additional U.S. / statistical note
    GRI = "gri"  # General Rules of Interpretation and Additional U.S. Rules
    RULING = "ruling"  # customs ruling letter passage
    PRECEDENT = "precedent"  # a labelled example: goods description -> code(s), with provenance (ruling, list, case)


# ---------------------------------------------------------------- source records


@dataclass(frozen=True)
class TariffLine:
    """One coded line of a nomenclature, with the context that makes it readable."""

    code: str  # digits: "61", "6109", "610910", "61091000", "6109100012"
    level: int  # 2, 4, 6, 8, 10
    description: str  # the line's own text ("Other")
    path: tuple[str, ...]  # ancestor descriptions, outermost first (chapter/heading ... parent), uncoded headers too
    ancestors: tuple[str, ...]  # codes of coded ancestors, outermost first
    edition: str  # "HS 2022", "HTS 2025 Rev. 24"
    source: str  # file or URL it was read from
    indent: int = 0
    section: str | None = None  # roman numeral, when known
    units: tuple[str, ...] = ()
    general_rate: str | None = None  # effective general rate (inherited from the nearest ancestor that prints one)
    general_rate_from: str | None = None  # code whose printed rate it is
    special_rate: str | None = None
    column2_rate: str | None = None

    @property
    def chapter(self) -> str:
        return self.code[:2]

    @property
    def display(self) -> str:
        return format_code(self.code)

    def full_text(self) -> str:
        """Description with its ancestors, e.g. "T-shirts ...: Of cotton: Men's or boys': Other"."""
        return ": ".join(part.rstrip(": ") for part in (*self.path, self.description) if part.strip(": "))


@dataclass(frozen=True)
class Note:
    """One numbered legal note, citable on its own ("Chapter 84, Note 5(A)")."""

    label: str  # "Section XI, Note 2" | "Chapter 61, Additional U.S. Note 1" | "Chapter 85, Subheading Note 1"
    scope: str  # "section" | "chapter"
    kind: str  # "note" | "subheading_note" | "additional_us_note" | "statistical_note"
    number: str  # "2", "5(A)"
    text: str
    edition: str
    source: str
    section: str | None = None  # roman numeral
    chapter: str | None = None  # "61" for chapter notes
    chapters: tuple[str, ...] = ()  # chapters the note governs (a section note: all chapters of the section)


@dataclass(frozen=True)
class Gri:
    """One General Rule of Interpretation or Additional U.S. Rule ("GRI 3(b)")."""

    rule: str  # "3(b)", "US 1(a)"
    label: str  # "GRI 3(b)", "Additional U.S. Rule 1(a)"
    text: str
    edition: str
    source: str


@dataclass(frozen=True)
class Ruling:
    """A customs ruling letter with the codes it assigns."""

    number: str  # "N270709"
    collection: str  # "NY", "HQ"
    date: str | None  # ISO date
    subject: str
    codes: tuple[str, ...]  # digits, TARIFF NO. line first, then the holding
    tariff_no_codes: tuple[str, ...]
    holding_codes: tuple[str, ...]
    text: str
    source: str
    category: str | None = None
    url: str | None = None

    @property
    def label(self) -> str:
        return f"{self.collection} {self.number}"


# ---------------------------------------------------------------- indexed passage


def passage_id(kind: str, label: str, text: str, edition: str, meta: dict[str, Any] | None = None) -> str:
    """Content-hash ID: the same content always gets the same ID, so re-ingesting adds nothing."""
    payload = json.dumps([kind, label, text, edition, meta or {}], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Passage:
    """A unit of retrievable, citable text: one tariff line, note, rule or ruling passage."""

    id: str
    kind: SourceKind
    label: str  # citation label: "HTS 6109.10.00.12", "HS 6109.10", "Chapter 61, Note 2", "GRI 3(b)", "NY N270709"
    text: str  # what is shown and lexically indexed (tariff lines: with ancestor path)
    edition: str
    source: str  # file or URL
    codes: tuple[str, ...] = ()  # digits the passage is about (ruling: codes it assigns)
    level: int | None = None  # tariff lines: 2/4/6/8/10
    chapter: str | None = None  # "61"; None for GRIs
    embed_text: str | None = None  # text to embed when it differs from `text`
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def make(cls, *, kind: SourceKind, label: str, text: str, edition: str, source: str, **kw: Any) -> "Passage":
        """Build a passage whose id is the hash of its content (source path excluded: moving a file changes nothing)."""
        meta = kw.get("meta") or {}
        ident = passage_id(kind.value, label, text, edition, {"codes": list(kw.get("codes", ())), **meta})
        return cls(id=ident, kind=kind, label=label, text=text, edition=edition, source=source, **kw)

    def text_for_embedding(self) -> str:
        return self.embed_text or self.text


# ---------------------------------------------------------------- classification results (API boundary)


class Citation(BaseModel):
    """A source that justifies a suggestion; always one that was retrieved and is stored."""

    label: str
    kind: SourceKind
    source_id: str  # Passage.id
    excerpt: str
    url: str | None = Field(default=None, description="the official source: hts.usitc.gov or rulings.cbp.gov")
    # Where the server read the passage: kept for the engines, never sent (a local path means nothing to a user).
    source: str | None = Field(default=None, exclude=True)
    edition: str | None = None

    @model_validator(mode="after")
    def _official(self) -> "Citation":
        if self.url is None:
            self.url = source_url(self.kind.value, self.label)
        if self.kind == SourceKind.RULING and "\n" in self.excerpt:
            # A ruling's summary passage is its subject, then the sentences that classify: quote the holding.
            self.excerpt = self.excerpt.split("\n", 1)[1].strip() or self.excerpt
        return self


class Support(BaseModel):
    """Whether the cited sources support a suggestion, not merely exist: what names the goods, what may exclude them."""

    supported: bool = Field(description="a heading text, note, ruling or precedent names the goods")
    by_note_or_precedent: bool = Field(description="a cited note, ruling or precedent supports it")
    by: list[str] = Field(default_factory=list, description="the supporting sources, in words")
    excluded_by: list[str] = Field(default_factory=list, description="cited notes that may exclude the goods")
    summary: str = Field(description="one line, e.g. 'supported by: residual line only'")


class CandidateSet(BaseModel):
    """A conformal candidate set: it contains the right code with probability `coverage` (split conformal)."""

    coverage: float = Field(ge=0.5, lt=1.0)
    level: int = Field(description="digits: 4 heading, 6 subheading, 10 tariff line")
    codes: list[str] = Field(description="best first")
    open: bool = Field(description="the right code may lie outside the listed codes: the candidates cannot reach "
                       "the coverage, so more information is needed")


class Suggestion(BaseModel):
    """One ranked code suggestion. Advice only: an officer confirms, overrides or rejects it."""

    code: str = Field(description="digits, e.g. 6109100012")
    display: str = Field(description="dotted, e.g. 6109.10.00.12")
    level: int
    description: str
    path: list[str] = Field(description="from chapter to the line")
    confidence: float = Field(ge=0.0, le=1.0, description="probability that the code is right at its own level "
                              "(offline engine: calibrated; the offline engine lists suggestions by their subheading's "
                              "probability, confidence_by_level['6'], so a line's own confidence can be lower than the "
                              "next one's)")
    rationale: str
    citations: list[Citation]
    general_rate: str | None = None
    confidence_by_level: dict[str, float] = Field(
        default_factory=dict, description="calibrated probability that the code is right at 4, 6 and 10 digits "
        "(keys '4', '6', '10'), fitted on out-of-fold data; empty when no trust model is loaded")
    support: Support | None = Field(default=None, description="whether the cited legal text supports the code")

    @classmethod
    def for_code(cls, code: str, **kw: Any) -> "Suggestion":
        return cls(code=code, display=format_code(code), level=len(code), **kw)


class Candidate(BaseModel):
    """A code the engine considered before its final ranking (for candidate recall in the evaluation)."""

    code: str
    score: float
    contradicted: bool = Field(default=False, description="a stated fact contradicts the line (ranked last)")
    # The line's evidence as the trust model reads it (engines.features.EVIDENCE): internal, never serialised and
    # not part of the published schema.
    signals: SkipJsonSchema[list[float] | None] = Field(default=None, exclude=True)


class Classification(BaseModel):
    """Result of one classification request. Never final: `status` stays advisory until an officer decides."""

    description: str
    context: list[str] = Field(default_factory=list, description="follow-up facts that refined the request")
    suggestions: list[Suggestion]
    candidates: list[Candidate] = Field(default_factory=list)
    engine: str
    model: str | None = None
    edition: str
    corpus_snapshot: str
    degraded: bool = False
    degraded_reason: str | None = None
    clarifying_question: str | None = None
    clarifying_options: list[str] = Field(default_factory=list)
    abstained: bool = Field(default=False, description="needs more information: the description cannot decide a "
                            "chapter, so no suggestion is confident (see clarifying_question)")
    abstain_reason: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict, description="listing attributes used (brand, colour, "
                                       "size, price ... are left out: they never decide a code)")
    category: list[str] = Field(default_factory=list, description="category path leaves used, most specific first")
    status: str = "advisory"  # the API turns this into a case in pending_review
    usage: dict[str, Any] = Field(default_factory=dict, description="LLM token usage and cost, when reported")
    candidate_set: CandidateSet | None = Field(default=None, description="the subheadings (6 digits) that contain "
                                               "the right one with the stated coverage")
    candidate_sets: list[CandidateSet] = Field(default_factory=list, description="the sets at 4, 6 and 10 digits")
    routing: str = Field(default="review", description="quick_confirm (one subheading, high confidence), review, or "
                         "needs_information (vague input, or a set open or too large to review)")
    elapsed_ms: float | None = None
