"""Stored rows -> the records the API and the web UI show (CaseView, CaseSummary, CasePage)."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .. import language
from ..codes import format_code
from ..models import Classification, Suggestion
from .records import NOTICES, Action, CasePage, CaseSummary, CaseView, DecisionView, Person, Status
from .tables import Case, Decision, SuggestionRow


def suggestion_rows(case: Case, c: Classification) -> list[SuggestionRow]:
    return [
        SuggestionRow(
            case_id=case.id,
            round=case.round,
            rank=i,
            code=s.code,
            display=s.display,
            level=s.level,
            description=s.description,
            path=list(s.path),
            confidence=s.confidence,
            rationale=s.rationale,
            citations=[cit.model_dump(mode="json") for cit in s.citations],
            general_rate=s.general_rate,
            confidence_by_level=dict(s.confidence_by_level) or None,
            support=s.support.model_dump(mode="json") if s.support else None,
        )
        for i, s in enumerate(c.suggestions, start=1)
    ]


def current_suggestions(s: Session, case: Case) -> list[SuggestionRow]:
    stmt = select(SuggestionRow).where(SuggestionRow.case_id == case.id, SuggestionRow.round == case.round)
    return list(s.execute(stmt.order_by(SuggestionRow.rank)).scalars())


def view(s: Session, case: Case) -> CaseView:
    """The full case as the API and the web UI show it."""
    rows = list(s.execute(select(Decision).where(Decision.case_id == case.id).order_by(Decision.created_at)).scalars())
    superseded_by = {d.supersedes: d.id for d in rows if d.supersedes}
    status = Status(case.status)
    return CaseView(
        id=case.id,
        status=status,
        final_code=case.final_code,
        final_display=format_code(case.final_code) if case.final_code else None,
        notice=NOTICES[status],
        description=case.description,
        context=list(case.context or []),
        reference=case.reference,
        declared_code=case.declared_code,
        org=case.org,
        requester=Person(key_id=case.requester_key_id, name=case.requester_name),
        engine=case.engine,
        model=case.model,
        edition=case.edition,
        corpus_snapshot=case.corpus_snapshot,
        engine_version=case.engine_version,
        degraded=case.degraded,
        degraded_reason=case.degraded_reason,
        clarifying_question=case.clarifying_question,
        clarifying_options=list(case.clarifying_options or []),
        abstained=bool(case.abstained),
        abstain_reason=case.abstain_reason,
        attributes=dict(case.attributes or {}),
        category=list(case.category or []),
        language_notice=language.notice(" ".join([case.description, *(case.context or [])])),
        risk_flag=case.risk_flag,
        risk_reasons=list(case.risk_reasons or []),
        routing=case.routing or "review",
        candidate_sets=list(case.candidate_sets or []),
        candidate_set=next((cs for cs in case.candidate_sets or [] if cs.get("level") == 6), None),
        round=case.round,
        suggestions=[
            Suggestion(
                code=r.code, display=r.display, level=r.level, description=r.description, path=r.path,
                confidence=r.confidence, rationale=r.rationale, citations=r.citations, general_rate=r.general_rate,
                confidence_by_level=r.confidence_by_level or {}, support=r.support,
            )
            for r in current_suggestions(s, case)
        ],
        decisions=[
            DecisionView(
                id=d.id, action=Action(d.action), code=d.code, display=format_code(d.code) if d.code else None,
                reason=d.reason, officer=Person(key_id=d.officer_key_id, name=d.officer_name),
                supersedes=d.supersedes, superseded_by=superseded_by.get(d.id), round=d.round, created_at=d.created_at,
            )
            for d in rows
        ],
        current_decision_id=case.decision_id,
        assignee=_assignee(case),
        batch_id=case.batch_id,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def _assignee(case: Case) -> Person | None:
    return Person(key_id=case.assignee_key_id, name=case.assignee_name or "") if case.assignee_key_id else None


def declared_match(declared: str | None, suggested: str | None) -> str | None:
    """How far the declared code agrees with the top suggestion: the longest of line/subheading/heading it shares."""
    if not declared or not suggested:
        return None
    for digits, name in ((10, "line"), (6, "subheading"), (4, "heading")):
        if len(declared) >= digits and len(suggested) >= digits and declared[:digits] == suggested[:digits]:
            return name
    return "none"


def summary(case: Case, top: SuggestionRow | None) -> CaseSummary:
    status = Status(case.status)
    return CaseSummary(
        id=case.id, status=status, final_code=case.final_code, notice=NOTICES[status],
        description=case.description[:300], reference=case.reference, org=case.org,
        requester=Person(key_id=case.requester_key_id, name=case.requester_name), declared_code=case.declared_code,
        risk_flag=case.risk_flag, risk_reasons=list(case.risk_reasons or []), routing=case.routing or "review",
        top_code=top.code if top else None, top_description=top.description if top else None,
        top_confidence=top.confidence if top else None,
        declared_match=declared_match(case.declared_code, top.code if top else None),
        assignee=_assignee(case),
        degraded=case.degraded, batch_id=case.batch_id, created_at=case.created_at, updated_at=case.updated_at,
    )



def page(s: Session, stmt: Select, *, limit: int, offset: int) -> CasePage:
    """One page of a case query, with each case's top suggestion."""
    total = s.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    cases = list(s.execute(stmt.limit(limit).offset(offset)).scalars())
    tops: dict[str, SuggestionRow] = {}
    if cases:
        for r in s.execute(select(SuggestionRow).where(
            SuggestionRow.case_id.in_([c.id for c in cases]), SuggestionRow.rank == 1
        )).scalars():
            case = next(c for c in cases if c.id == r.case_id)
            if r.round == case.round:
                tops[r.case_id] = r
    return CasePage(items=[summary(c, tops.get(c.id)) for c in cases], total=total, limit=limit, offset=offset)
