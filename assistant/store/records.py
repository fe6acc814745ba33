"""Pydantic views of stored rows, shared by the API and the web UI: Case, Decision, Batch and their parts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from ..models import CandidateSet, Suggestion


class Status(str, Enum):
    PENDING_REVIEW = "pending_review"
    NEEDS_INFO = "needs_info"
    OVERRIDE_PENDING_APPROVAL = "override_pending_approval"
    CONFIRMED = "confirmed"
    OVERRIDDEN = "overridden"
    REJECTED = "rejected"


FINAL = frozenset({Status.CONFIRMED, Status.OVERRIDDEN})

NOTICES = {
    Status.PENDING_REVIEW: "Advisory only: pending officer review. Not a final classification.",
    Status.NEEDS_INFO: "Advisory only: the reviewing officer asked for more information. Not a final classification.",
    Status.OVERRIDE_PENDING_APPROVAL: (
        "Advisory only: an officer's override awaits a second officer's approval. Not a final classification."
    ),
    Status.REJECTED: "Rejected by the reviewing officer: no classification was confirmed. Not a final classification.",
    Status.CONFIRMED: "Final: confirmed by a customs officer.",
    Status.OVERRIDDEN: "Final: classified by a customs officer (override of the suggestions).",
}


class Action(str, Enum):
    CONFIRM = "confirm"
    OVERRIDE = "override"
    REJECT = "reject"
    REQUEST_INFO = "request_info"
    APPROVE_OVERRIDE = "approve_override"


class Person(BaseModel):
    key_id: str
    name: str


class DecisionView(BaseModel):
    """An officer's decision; immutable once made (a correction supersedes it)."""

    id: str
    action: Action
    code: str | None = None
    display: str | None = None
    reason: str | None = None
    officer: Person
    supersedes: str | None = None
    superseded_by: str | None = None
    round: int
    created_at: datetime


class CaseView(BaseModel):
    """A classification case: the request, the engine's suggestions and the officer's decisions."""

    id: str
    status: Status
    final_code: str | None = Field(description="set only when an officer confirmed or overrode; null otherwise")
    final_display: str | None = None
    notice: str
    description: str
    context: list[str] = Field(default_factory=list, description="facts added after the request")
    reference: str | None = None
    declared_code: str | None = None
    org: str
    requester: Person
    engine: str
    model: str | None = None
    edition: str
    corpus_snapshot: str
    engine_version: str | None = Field(default=None, description="engine code, parameters and embedder "
                                       "(what a replay compares); null for cases stored before it was recorded")
    degraded: bool = False
    degraded_reason: str | None = None
    clarifying_question: str | None = None
    clarifying_options: list[str] = Field(default_factory=list)
    abstained: bool = Field(default=False, description="needs more information: no suggestion is confident")
    abstain_reason: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="listing attributes as sent")
    category: list[str] = Field(default_factory=list, description="category path as sent")
    language_notice: str | None = Field(
        default=None, description="set when the description does not read as English: add an English description")
    risk_flag: bool = False
    risk_reasons: list[str] = Field(default_factory=list)
    routing: str = Field(default="review", description="quick_confirm (one subheading, high confidence), review, or "
                         "needs_information (vague input, or a candidate set open or too large to review)")
    candidate_set: CandidateSet | None = Field(default=None, description="the 6-digit conformal candidate set")
    candidate_sets: list[CandidateSet] = Field(default_factory=list, description="the sets at 4, 6 and 10 digits")
    round: int = Field(description="1, then +1 each time added information re-classified the case")
    suggestions: list[Suggestion]
    decisions: list[DecisionView] = Field(default_factory=list)
    current_decision_id: str | None = None
    assignee: Person | None = Field(default=None, description="the officer who claimed the case or was assigned it")
    batch_id: str | None = None
    created_at: datetime
    updated_at: datetime


class CaseSummary(BaseModel):
    """One row of a case list or the review queue."""

    id: str
    status: Status
    final_code: str | None
    notice: str
    description: str
    reference: str | None = None
    org: str
    requester: Person
    declared_code: str | None = None
    risk_flag: bool = False
    risk_reasons: list[str] = Field(default_factory=list)
    routing: str = Field(default="review", description="quick_confirm, review or needs_information")
    top_code: str | None = None
    top_description: str | None = None
    top_confidence: float | None = None
    declared_match: str | None = Field(
        default=None, description="declared vs top suggestion: line (10 digits), subheading (6), heading (4) or none")
    assignee: Person | None = None
    degraded: bool = False
    batch_id: str | None = None
    created_at: datetime
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


class AuditEventView(BaseModel):
    seq: int
    ts: str
    type: str
    case_id: str | None = None
    actor_key_id: str | None = None
    actor_name: str | None = None
    data: Any = None
    prev_hash: str
    hash: str


class BatchView(BaseModel):
    """A batch job and its progress."""

    id: str
    status: str = Field(description="queued | running | done | cancelled")
    org: str
    requester: Person
    engine: str | None = None
    total: int
    done: int = Field(description="items classified (a case was created)")
    failed: int = Field(description="items that could not be classified (see their error)")
    cancelled: int = Field(default=0, description="items cancelled before they ran (DELETE, or the key revoked)")
    progress: float = Field(ge=0.0, le=1.0)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class BatchResult(BaseModel):
    """One item of a batch and what became of it."""

    index: int
    reference: str | None = None
    description: str
    declared_code: str | None = None
    status: str = Field(description="pending | done | error | cancelled")
    error: str | None = None
    case_id: str | None = None
    case_status: Status | None = None
    final_code: str | None = None
    top_code: str | None = None
    top_display: str | None = None
    top_confidence: float | None = None
    codes: list[str] = Field(default_factory=list)
    risk_flag: bool = False
    risk_reasons: list[str] = Field(default_factory=list)
    notice: str | None = None
    top_description: str | None = None
    top_general_rate: str | None = Field(default=None, description="general duty rate of the top suggestion")
    routing: str | None = Field(default=None, description="decided | priority_review (risk flag) | quick_confirm | "
                                "review | needs_information")


class BatchResults(BaseModel):
    batch: BatchView
    items: list[BatchResult]
