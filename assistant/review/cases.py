"""Cases: open one from a classification, read it (organisation-scoped), list, queue, add information."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import Principal
from ..codes import normalize_code
from ..config import Settings
from ..engines import classify, finish, get_engine
from ..engines import registry as engine_registry
from ..engines.version import engine_version
from ..errors import BackendUnavailable, ConflictError, InputError, NotFoundError
from ..models import Classification
from ..store import audit
from ..store.db import Database
from ..store.records import AuditEventView, CasePage, CaseView, Status
from ..store.tables import Case, IdempotencyRecord, utcnow
from ..store.views import page, suggestion_rows, view
from .idempotency import check_idempotency_key, find_idempotent, idempotent_resource, request_hash
from .requests import ClassificationRequest, check_text, new_id, text_digest
from .risk import declared_code_risks
from .slots import OrgSlots, engine_slot

if TYPE_CHECKING:
    from ..runtime import Runtime

_CASE_ID = re.compile(r"^[0-9a-f]{32}$")
OPEN_STATUSES = (Status.PENDING_REVIEW, Status.OVERRIDE_PENDING_APPROVAL)  # what the review queue shows


@dataclass
class Desk:
    """What the case functions work with: the database, the settings, and the runtime (opened on first use)."""

    db: Database
    settings: Settings
    _runtime: Runtime | None = field(default=None, repr=False)

    slots: OrgSlots = field(init=False, repr=False)

    def __post_init__(self) -> None:
        engine_registry.check(self.settings.engine)  # a typo in TARIFF_ENGINE stops the start, naming the choices
        self.slots = OrgSlots(self.settings.org_concurrency)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from ..runtime import get_runtime

            self._runtime = get_runtime()
        return self._runtime


def _passage_text(runtime: Runtime) -> Callable[[str], str | None]:
    def lookup(passage_id: str) -> str | None:
        p = runtime.catalog.passage(passage_id)  # None when gone: the check falls back to the citation's excerpt
        return p.text if p is not None else None

    return lookup


@dataclass
class Prepared:
    """A classification ready to be stored as a case (computed outside any transaction)."""

    classification: Classification
    declared_code: str | None
    risk_reasons: list[str]
    engine_version: str | None = None


def prepare(desk: Desk, description: str, *, context: list[str], declared_code: str | None, engine: str | None,
            top: int, org: str | None, attributes: dict | None = None, category: list[str] | None = None,
            coverage: float | None = None) -> Prepared:
    """Classify and run the declared-code check: the slow part, done before taking the write lock."""
    description = check_text(description, "description", desk.settings)
    context = [check_text(c, "context item", desk.settings) for c in context if c and c.strip()]
    declared = normalize_code(declared_code) if declared_code and declared_code.strip() else None
    runtime = desk.runtime()
    engine = engine or desk.settings.engine
    chosen = get_engine(engine, runtime=runtime)
    with desk.slots.slot(org), engine_slot(engine):
        c = classify(description, context=context, attributes=attributes, category=category, engine=engine, top=top,
                     coverage=coverage, runtime=runtime)
    return Prepared(c, declared, _risks(runtime, declared, c), engine_version(chosen, runtime))


def _risks(runtime: Runtime, declared: str | None, c: Classification) -> list[str]:
    return declared_code_risks(declared, c, runtime.nomenclature, _passage_text(runtime)) if declared else []


def stream_case(desk: Desk, principal: Principal, description: str, *, declared_code: str | None,
                reference: str | None, top: int) -> Iterator[dict[str, Any]]:
    """Open a case while the engine streams its answer (one classification, not two).

    Yields {"type": "status", "engine": name}, the engine's {"type": "token", ...} events, then
    {"type": "case", "case": CaseView} once the answer is stored in pending_review.
    """
    principal.require("classify")
    description = check_text(description, "description", desk.settings)
    if reference and "\x00" in reference:  # refused before the answer streams, as the API refuses it
        raise InputError("the reference contains a NUL character")
    declared = normalize_code(declared_code) if declared_code and declared_code.strip() else None
    runtime = desk.runtime()
    engine = get_engine(desk.settings.engine, runtime=runtime)
    yield {"type": "status", "engine": engine.name}
    result = None
    with desk.slots.slot(principal.org), engine_slot(desk.settings.engine):
        for event in engine.stream(description, context=[], top=top):
            if event.get("type") == "token":
                yield event
            elif event.get("type") == "result":
                result = event["classification"]
    if result is None:
        raise BackendUnavailable("the engine ended without an answer; try again")
    # As engines.classify does: trust assessed, decided goods follow the case, vague goods get a question, routed.
    result = finish(result, runtime, description)
    prepared = Prepared(result, declared, _risks(runtime, declared, result), engine_version(engine, runtime))
    with desk.db.write() as s:
        case = insert_case(s, principal, prepared, description=description, context=[],
                           reference=(reference or "").strip() or None, top=top)
        stored = view(s, case)
    yield {"type": "case", "case": stored}


def _set_engine_fields(case: Case, p: Prepared) -> None:
    c = p.classification
    case.engine, case.model, case.edition, case.corpus_snapshot = c.engine, c.model, c.edition, c.corpus_snapshot
    case.engine_version = p.engine_version
    case.degraded, case.degraded_reason = c.degraded, c.degraded_reason
    case.clarifying_question, case.clarifying_options = c.clarifying_question, list(c.clarifying_options)
    case.abstained, case.abstain_reason = c.abstained, c.abstain_reason
    case.risk_flag, case.risk_reasons = bool(p.risk_reasons), list(p.risk_reasons)
    case.routing = c.routing
    case.candidate_sets = [cs.model_dump(mode="json") for cs in c.candidate_sets] or None


def load(s: Session, principal: Principal, case_id: str) -> Case:
    """The case, if this principal may see it; another organisation's case is simply not found."""
    principal.require("read_cases")
    case = s.get(Case, case_id) if _CASE_ID.match(case_id or "") else None
    if case is None or (not principal.can("read_all_cases") and case.org != principal.org):
        raise NotFoundError(f"no case {case_id[:40]!r}")
    return case


def insert_case(
    s: Session, principal: Principal, p: Prepared, *, description: str, context: list[str], reference: str | None,
    top: int, batch_id: str | None = None, attributes: dict | None = None, category: list[str] | None = None,
) -> Case:
    """Store a prepared classification as a new case in pending_review, with its audit events."""
    now = utcnow()
    case = Case(
        id=new_id(), org=principal.org, requester_key_id=principal.key_id, requester_name=principal.name,
        description=description.strip(), context=[c.strip() for c in context if c and c.strip()], reference=reference,
        declared_code=p.declared_code, status=Status.PENDING_REVIEW.value, final_code=None, round=1, top=top,
        decision_id=None, batch_id=batch_id, created_at=now, updated_at=now,
        attributes=attributes or None, category=category or None,
    )
    _set_engine_fields(case, p)
    s.add(case)
    s.add_all(suggestion_rows(case, p.classification))
    c = p.classification
    case.event_hash = audit.append(s, "case_created", case_id=case.id, actor=principal, data={
        "org": case.org, "reference": reference, "declared_code": p.declared_code, "batch_id": batch_id,
        "description_sha256": text_digest(case.description), "context": len(case.context),
    }).hash
    audit.append(s, "suggestions_made", case_id=case.id, actor=principal, data=_suggestions_event(case, c))
    return case


def _suggestions_event(case: Case, c: Classification) -> dict:
    return {
        "round": case.round, "codes": [s.code for s in c.suggestions], "engine": c.engine, "model": c.model,
        "engine_version": case.engine_version, "edition": c.edition, "corpus_snapshot": c.corpus_snapshot,
        "degraded": c.degraded,
        "risk_flag": case.risk_flag, "risk_reasons": list(case.risk_reasons or []),
    }


def create_case(
    desk: Desk, principal: Principal, req: ClassificationRequest, *, idempotency_key: str | None = None
) -> CaseView:
    """Classify a request and open a case in pending_review (the same Idempotency-Key returns the same case)."""
    principal.require("classify")
    key = check_idempotency_key(idempotency_key)
    digest = request_hash(req.model_dump(mode="json"))
    if key and (existing := find_idempotent(desk.db, principal, "classifications", key, digest)):
        return get_case(desk, principal, existing, record_open=False)
    p = prepare(desk, req.description, context=req.context, declared_code=req.declared_code, engine=req.engine,
                top=req.top, org=principal.org, attributes=req.attributes, category=req.category_path(),
                coverage=req.coverage)
    with desk.db.write() as s:
        # Checked again under the write lock: a concurrent request with the same key may have just won.
        existing = idempotent_resource(s, principal, "classifications", key, digest) if key else None
        if existing is None:
            case = insert_case(s, principal, p, description=req.description, context=req.context,
                               reference=req.reference, top=req.top, attributes=req.attributes,
                               category=req.category_path())
            if key:
                s.add(IdempotencyRecord(key_id=principal.key_id, scope="classifications", idem_key=key,
                                        request_hash=digest, resource_id=case.id))
            result = view(s, case)
    if existing is not None:
        return get_case(desk, principal, existing, record_open=False)
    return result


def get_case(desk: Desk, principal: Principal, case_id: str, *, record_open: bool = True) -> CaseView:
    """One case; an officer's read is recorded as `case_opened` in the audit trail."""
    if record_open and principal.can("review"):
        with desk.db.write() as s:
            case = load(s, principal, case_id)
            audit.append(s, "case_opened", case_id=case.id, actor=principal, data={"status": case.status})
            return view(s, case)
    with desk.db.read() as s:
        return view(s, load(s, principal, case_id))


def list_cases(
    desk: Desk, principal: Principal, *, status: Status | None = None, batch_id: str | None = None,
    limit: int = 50, offset: int = 0,
) -> CasePage:
    """Cases newest first; brokers see their organisation's only."""
    principal.require("read_cases")
    stmt = select(Case).order_by(Case.created_at.desc(), Case.id)
    if not principal.can("read_all_cases"):
        stmt = stmt.where(Case.org == principal.org)
    if status is not None:
        stmt = stmt.where(Case.status == Status(status).value)
    if batch_id is not None:
        stmt = stmt.where(Case.batch_id == batch_id)
    with desk.db.read() as s:
        return page(s, stmt, limit=limit, offset=offset)


def add_info(desk: Desk, principal: Principal, case_id: str, text: str) -> CaseView:
    """Add facts to a case (typically after request_info) and re-classify it; it returns to pending_review."""
    principal.require("add_info")
    text = check_text(text, "information", desk.settings)
    with desk.db.read() as s:
        case = load(s, principal, case_id)
        _check_open_for_info(case)
        snapshot = (case.round, case.status)
        description, context = case.description, [*case.context, text]
        declared, engine, top = case.declared_code, case.engine, case.top
        attributes, category = case.attributes, case.category
    p = prepare(desk, description, context=context, declared_code=declared, engine=engine, top=top,
                org=principal.org, attributes=attributes, category=category)
    with desk.db.write() as s:
        case = load(s, principal, case_id)
        if (case.round, case.status) != snapshot:
            raise ConflictError("the case changed while it was being re-classified; reload it and retry")
        was = case.status
        case.context, case.round = context, case.round + 1
        _set_engine_fields(case, p)
        case.status, case.decision_id, case.updated_at = Status.PENDING_REVIEW.value, None, utcnow()
        s.add_all(suggestion_rows(case, p.classification))
        s.flush()
        case.event_hash = audit.append(s, "info_added", case_id=case.id, actor=principal, data={
            "round": case.round, "text_sha256": text_digest(text), "chars": len(text), "status_before": was,
        }).hash
        audit.append(s, "suggestions_made", case_id=case.id, actor=principal,
                     data=_suggestions_event(case, p.classification))
        return view(s, case)


def _check_open_for_info(case: Case) -> None:
    if case.status not in (Status.NEEDS_INFO.value, Status.PENDING_REVIEW.value):
        raise ConflictError(f"case {case.id} is {case.status}: information can only be added while it awaits review")


def case_audit(desk: Desk, principal: Principal, case_id: str) -> list[AuditEventView]:
    """The audit events of one case, in chain order."""
    principal.require("case_audit")
    with desk.db.read() as s:
        load(s, principal, case_id)
    return [AuditEventView(**e) for e in audit.case_events(desk.db, case_id)]
