"""Officer decisions: confirm, override (optional four-eyes approval), reject, request_info; corrections with a reason."""

from __future__ import annotations

from ..auth import Principal
from ..codes import format_code, normalize_code
from ..errors import ConflictError, InputError, NotFoundError, PermissionDenied
from ..store import audit
from ..store.records import Action, CaseView, Status
from ..store.tables import Case, Decision, utcnow
from ..store.views import current_suggestions, view
from . import webhooks
from .cases import Desk, load
from .precedents import learn_quietly
from .requests import DecisionRequest, new_id

_NEEDS_REASON = {
    Action.OVERRIDE: "an override needs a reason",
    Action.REJECT: "a rejection needs a reason",
    Action.REQUEST_INFO: "request_info needs the question to ask (reason)",
}


def _validated(desk: Desk, req: DecisionRequest) -> tuple[str | None, str | None]:
    """(code, reason) after the checks that need no database: code format and validity, required reasons."""
    reason = (req.reason or "").strip() or None
    if req.action in _NEEDS_REASON and not reason:
        raise InputError(_NEEDS_REASON[req.action])
    if req.action == Action.APPROVE_OVERRIDE and req.supersedes:
        raise InputError("approve_override cannot supersede a decision")
    if req.supersedes and not reason:  # one click must never silently replace an officer's decision
        raise InputError("a correction needs a reason: say why the current decision is replaced")
    code = None
    if req.action in (Action.CONFIRM, Action.OVERRIDE):
        if not req.code or not req.code.strip():
            raise InputError(f"{req.action.value} needs a code")
        code = normalize_code(req.code)
        if req.action == Action.OVERRIDE:
            nomenclature = desk.runtime().nomenclature
            if not nomenclature.is_valid_declaration(code):
                what = "has subdivisions" if code in nomenclature else f"is not a line of {nomenclature.edition}"
                raise InputError(f"{format_code(code)} {what}: an override must be a declarable tariff line")
    return code, reason


def _same_officer(a: Principal, d: Decision) -> bool:
    return a.key_id == d.officer_key_id or a.name.strip().casefold() == d.officer_name.strip().casefold()


def _requested_by(a: Principal, case: Case) -> bool:
    return a.key_id == case.requester_key_id or a.name.strip().casefold() == case.requester_name.strip().casefold()


def decide(desk: Desk, principal: Principal, case_id: str, req: DecisionRequest) -> CaseView:
    """Record an officer's decision and move the case on; decisions are never edited, only superseded."""
    principal.require("review")
    with desk.db.read() as s:
        load(s, principal, case_id)  # an unknown case is 404 before any check of the body
    code, reason = _validated(desk, req)  # outside the write lock: it may open the nomenclature
    with desk.db.write() as s:
        case = load(s, principal, case_id)
        if desk.settings.separation_of_duties and _requested_by(principal, case):
            raise PermissionDenied("separation of duties: an officer cannot decide a case they requested "
                                   "(TARIFF_SEPARATION_OF_DUTIES)")
        status = Status(case.status)
        old: Decision | None = None
        if req.supersedes:
            old = s.get(Decision, req.supersedes)
            if old is None or old.case_id != case.id:
                raise NotFoundError(f"no decision {req.supersedes!r} on case {case.id}")
            if case.decision_id != old.id:
                raise ConflictError(
                    f"decision {old.id} is not the case's current decision"
                    + (f" ({case.decision_id})" if case.decision_id else " (the case awaits a new decision)")
                )
        elif req.action == Action.APPROVE_OVERRIDE:
            if status != Status.OVERRIDE_PENDING_APPROVAL:
                raise ConflictError(f"case {case.id} is {status.value}: no override awaits approval")
            pending = s.get(Decision, case.decision_id)
            if pending is None:  # unreachable unless the database was edited by hand
                raise ConflictError("the pending override decision is missing")
            if _same_officer(principal, pending):
                raise ConflictError("four-eyes rule: the officer who made the override cannot approve it")
            code = pending.code
        elif status != Status.PENDING_REVIEW:
            raise ConflictError(
                f"case {case.id} is already decided ({status.value}); to correct it send "
                f'"supersedes": "{case.decision_id}"'
            )
        if req.action == Action.CONFIRM and code not in {r.code for r in current_suggestions(s, case)}:
            raise InputError(f"{format_code(code)} is not one of this case's suggestions; use override instead")

        new_status, final = _outcome(desk, req.action, code)
        decision = Decision(
            id=new_id(), case_id=case.id, action=req.action.value, code=code, reason=reason,
            officer_key_id=principal.key_id, officer_name=principal.name, supersedes=old.id if old else None,
            round=case.round, created_at=utcnow(),
        )
        s.add(decision)
        s.flush()
        before = case.status
        case.status, case.final_code, case.decision_id, case.updated_at = new_status.value, final, decision.id, utcnow()
        _audit(s, principal, case, decision, before, old)
        webhooks.enqueue(s, case, decision)  # sent after the commit by the webhook sender, signed and retried
        result = view(s, case)
    learn_quietly(desk, result.id)  # a final case becomes a precedent; a corrected or rejected one stops being one
    return result


def _outcome(desk: Desk, action: Action, code: str | None) -> tuple[Status, str | None]:
    if action == Action.CONFIRM:
        return Status.CONFIRMED, code
    if action == Action.OVERRIDE:
        if desk.settings.four_eyes_override:
            return Status.OVERRIDE_PENDING_APPROVAL, None
        return Status.OVERRIDDEN, code
    if action == Action.APPROVE_OVERRIDE:
        return Status.OVERRIDDEN, code
    if action == Action.REJECT:
        return Status.REJECTED, None
    return Status.NEEDS_INFO, None


def _audit(s, principal: Principal, case: Case, d: Decision, before: str, old: Decision | None) -> None:
    ev = audit.append(s, "decision", case_id=case.id, actor=principal, data={
        "decision_id": d.id, "action": d.action, "code": d.code, "reason": d.reason, "supersedes": d.supersedes,
        "status_before": before, "status": case.status, "final_code": case.final_code, "round": d.round,
    })
    d.event_hash = case.event_hash = ev.hash
    if old is not None:
        audit.append(s, "decision_superseded", case_id=case.id, actor=principal, data={
            "decision_id": old.id, "action": old.action, "code": old.code, "superseded_by": d.id,
        })
    if d.action == Action.REQUEST_INFO.value:
        audit.append(s, "info_requested", case_id=case.id, actor=principal,
                     data={"decision_id": d.id, "question": d.reason})
