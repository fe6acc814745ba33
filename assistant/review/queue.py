"""The officer's review queue: open cases searched, filtered and sorted; a case claimed by or assigned to an officer."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy import case as when

from ..auth import Principal, principal_for
from ..errors import AuthError, ConflictError, InputError
from ..store import audit
from ..store.records import CasePage, CaseView, Status
from ..store.tables import Case, SuggestionRow, utcnow
from ..store.views import page, view
from .cases import OPEN_STATUSES, Desk, load
from .requests import NO_NUL

QUEUE_STATUSES = (*OPEN_STATUSES, Status.NEEDS_INFO)  # needs_info: waiting for the requester, shown on request


class Sort(str, Enum):
    RISK = "risk"  # risk-flagged first, then by routing (review, quick_confirm, needs_information), oldest first
    OLDEST = "oldest"
    NEWEST = "newest"
    ORG = "org"
    REQUESTER = "requester"


class Routing(str, Enum):
    QUICK_CONFIRM = "quick_confirm"  # a 6-digit set of one and high calibrated confidence
    REVIEW = "review"
    NEEDS_INFORMATION = "needs_information"  # vague input, or a candidate set open or too large


class QueueFilter(BaseModel):
    """What an officer narrows the queue to; every field is optional and they combine with AND."""

    q: str | None = Field(default=None, max_length=200, pattern=NO_NUL, description="words in the description or reference")
    org: str | None = Field(default=None, max_length=200, pattern=NO_NUL, description="the requester's organisation (exact)")
    requester: str | None = Field(default=None, max_length=200, pattern=NO_NUL, description="part of the requester's name")
    risk: bool | None = Field(default=None, description="true: risk-flagged only; false: unflagged only")
    routing: Routing | None = Field(default=None, description="quick_confirm, review or needs_information")
    chapter: str | None = Field(default=None, pattern=r"^\d{2}$", description="chapter of the top suggestion, 2 digits")
    min_age_days: int | None = Field(default=None, ge=0, le=3650, description="waiting at least this many days")
    status: Status | None = Field(default=None, description="pending_review, override_pending_approval or needs_info")
    assignee: str | None = Field(default=None, max_length=200, pattern=NO_NUL, description="'me', 'none', or an officer's key id")
    sort: Sort | None = Sort.RISK


class QueueForm(QueueFilter):
    """The queue page's filter form: it sends its empty fields as "", which mean "any" (the API refuses them)."""

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


# Within the risk-flagged and the unflagged cases: review first, then quick confirmations, then the cases that wait
# for information from the requester.
_ROUTING_ORDER = when((Case.routing == Routing.QUICK_CONFIRM.value, 1),
                      (Case.routing == Routing.NEEDS_INFORMATION.value, 2), else_=0)

_ORDER = {
    Sort.RISK: (Case.risk_flag.desc(), _ROUTING_ORDER, Case.created_at, Case.id),
    Sort.OLDEST: (Case.created_at, Case.id),
    Sort.NEWEST: (Case.created_at.desc(), Case.id),
    Sort.ORG: (Case.org, Case.created_at, Case.id),
    Sort.REQUESTER: (Case.requester_name, Case.created_at, Case.id),
}


def queue(desk: Desk, principal: Principal, *, filters: QueueFilter | None = None, limit: int = 50,
          offset: int = 0) -> CasePage:
    """Cases waiting for an officer, narrowed by `filters`; ties always broken by case id."""
    principal.require("review")
    f = filters or QueueFilter()
    if f.status is not None and f.status not in QUEUE_STATUSES:
        raise InputError(f"status must be one of {', '.join(s.value for s in QUEUE_STATUSES)} in the queue")
    statuses = [f.status] if f.status else list(OPEN_STATUSES)
    stmt = select(Case).where(Case.status.in_([s.value for s in statuses]))
    if f.q and f.q.strip():
        for word in f.q.lower().split():
            like = f"%{word}%"
            stmt = stmt.where(or_(func.lower(Case.description).like(like), func.lower(Case.reference).like(like)))
    if f.org:
        stmt = stmt.where(Case.org == f.org.strip())
    if f.requester and f.requester.strip():
        stmt = stmt.where(func.lower(Case.requester_name).like(f"%{f.requester.strip().lower()}%"))
    if f.risk is not None:
        stmt = stmt.where(Case.risk_flag.is_(f.risk))
    if f.routing is not None:
        stmt = stmt.where(Case.routing == f.routing.value)
    if f.chapter:
        stmt = stmt.where(exists().where(and_(
            SuggestionRow.case_id == Case.id, SuggestionRow.round == Case.round, SuggestionRow.rank == 1,
            SuggestionRow.code.like(f"{f.chapter}%"),
        )))
    if f.min_age_days:
        stmt = stmt.where(Case.created_at <= utcnow() - timedelta(days=f.min_age_days))
    if f.assignee:
        who = f.assignee.strip()
        if who == "none":
            stmt = stmt.where(Case.assignee_key_id.is_(None))
        else:
            stmt = stmt.where(Case.assignee_key_id == (principal.key_id if who == "me" else who))
    stmt = stmt.order_by(*_ORDER[f.sort or Sort.RISK])
    with desk.db.read() as s:
        return page(s, stmt, limit=limit, offset=offset)


def organisations(desk: Desk, principal: Principal) -> list[str]:
    """The organisations with open cases (the queue's organisation filter offers these)."""
    principal.require("review")
    with desk.db.read() as s:
        stmt = select(Case.org).where(Case.status.in_([st.value for st in QUEUE_STATUSES])).distinct()
        return sorted(s.execute(stmt).scalars())


def assign(desk: Desk, principal: Principal, case_id: str, *, officer_key_id: str | None) -> CaseView:
    """Claim a case (`officer_key_id` = the caller's), assign it to another officer, or release it (None)."""
    principal.require("review")
    name = None
    if officer_key_id is not None:
        if officer_key_id == principal.key_id:
            name = principal.name
        else:
            try:
                officer = principal_for(desk.db, officer_key_id)
            except AuthError:
                officer = None
            if officer is None or not officer.can("review"):
                raise InputError(f"{officer_key_id[:40]!r} is not an active officer's key")
            name = officer.name
    with desk.db.write() as s:
        case = load(s, principal, case_id)
        if Status(case.status) not in QUEUE_STATUSES:
            raise ConflictError(f"case {case.id} is {case.status}: only a case in the queue can be assigned")
        before = case.assignee_key_id
        case.assignee_key_id, case.assignee_name = officer_key_id, name
        audit.append(s, "case_assigned", case_id=case.id, actor=principal,
                     data={"assignee_key_id": officer_key_id, "assignee_name": name, "before": before})
        return view(s, case)
