"""The pages: sign-in/out, home, chat, case lists, the case page with officer decisions, review queue, admin."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from .. import auth, review
from ..auth import Principal
from ..errors import AssistantError, AuthError
from ..store.audit_verify import verify
from ..store.records import Action, Status
from ..store.web_sessions import end_session, start_session
from .present import audit_summary, case_payload
from .session import MAX_AGE, check_csrf, clear_session, new_session, read_session, signed_in, write_session
from .templating import PageRoute, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def viewer(request: Request) -> Principal:
    return signed_in(request)[1]


async def csrf_ok(request: Request) -> None:
    await check_csrf(request, read_session(request))


Viewer = Annotated[Principal, Depends(viewer)]
CaseId = Annotated[str, Query(max_length=64)]


def _desk(request: Request) -> review.Desk:
    return request.app.state.desk


def _nomenclature(request: Request):
    try:
        return _desk(request).runtime().nomenclature
    except AssistantError:  # the page still shows the suggestions, without codes on the path steps
        return None


def _safe_next(target: str | None) -> str:
    """Only a local path: never `//host` or a full URL (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# ---------------------------------------------------------------- sign-in


@router.get("/signin")
def signin_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    return render(request, "signin.html", next=_safe_next(next), error=None, title="Sign in")


@router.post("/signin", dependencies=[Depends(csrf_ok)])
def signin(
    request: Request,
    api_key: Annotated[str, Form(max_length=300)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    try:
        principal = auth.authenticate(_desk(request).db, api_key.strip())
    except AuthError as exc:
        return render(request, "signin.html", status_code=401, next=_safe_next(next), error=exc.message, title="Sign in")
    response = RedirectResponse(_safe_next(next), status_code=303)
    sid = start_session(_desk(request).db, key_id=principal.key_id, max_age=MAX_AGE)
    write_session(request, response, new_session(principal.key_id, sid))  # a fresh CSRF token with the new session
    return response


@router.post("/signout", dependencies=[Depends(csrf_ok)])
def signout(request: Request) -> Response:
    session = read_session(request)
    if session is not None:
        end_session(_desk(request).db, session.sid)  # any copy of the cookie stops working now
    response = RedirectResponse("/signin", status_code=303)
    clear_session(response)
    return response


@router.get("/")
def home(principal: Viewer) -> Response:
    return RedirectResponse("/queue" if principal.can("review") else "/chat", status_code=303)


# ---------------------------------------------------------------- chat and cases


@router.get("/chat")
def chat_page(request: Request, principal: Viewer, case: CaseId | None = None) -> Response:
    principal.require("classify")
    payload = None
    if case:
        payload = case_payload(review.get_case(_desk(request), principal, case, record_open=False), _nomenclature(request))
    return render(request, "chat.html", title="Classify", case=payload, engine=request.app.state.settings.engine)


@router.get("/cases")
def cases_page(
    request: Request, principal: Viewer, status: Annotated[Status | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    found = review.list_cases(_desk(request), principal, status=status, limit=50, offset=offset)
    title = "All cases" if principal.can("read_all_cases") else "My organisation's cases"
    return render(request, "cases.html", title=title, page=found, status=status, statuses=list(Status))


@router.get("/queue")
def queue_page(request: Request, principal: Viewer, filters: Annotated[review.QueueForm, Query()],
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    desk = _desk(request)
    found = review.queue(desk, principal, filters=filters, limit=50, offset=offset)
    chosen = filters.model_dump(mode="json", exclude_defaults=True)
    return render(request, "queue.html", title="Review queue", page=found, filters=filters, filtered=bool(chosen),
                  query=urlencode(chosen), orgs=review.organisations(desk, principal),
                  statuses=review.QUEUE_STATUSES, sorts=list(review.Sort))


@router.post("/cases/{case_id}/claim", dependencies=[Depends(csrf_ok)])
def claim(request: Request, case_id: str, principal: Viewer,
          release: Annotated[str, Form(max_length=5)] = "") -> Response:
    """Claim a case from the queue (or release it): the other officers see who works on it."""
    review.assign(_desk(request), principal, case_id, officer_key_id=None if release else principal.key_id)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def _case_page(request: Request, principal: Principal, case_id: str, *, status: int = 200, error: str | None = None,
               form: dict[str, str] | None = None, flash: str | None = None) -> Response:
    desk = _desk(request)
    case = review.get_case(desk, principal, case_id, record_open=error is None and flash is None)
    events = []
    if principal.can("case_audit"):
        events = [(e, audit_summary(e.type, e.data)) for e in review.case_audit(desk, principal, case_id)]
    return render(request, "case.html", status_code=status, title="Case", case=case,
                  view=case_payload(case, _nomenclature(request)), events=events, error=error, form=form or {},
                  flash=flash)


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str, principal: Viewer,
                    decided: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    flash = f"Decision recorded: {decided.replace('_', ' ')}." if decided in {a.value for a in Action} else None
    return await run_in_threadpool(_case_page, request, principal, case_id, flash=flash)


@router.post("/cases/{case_id}/decide", dependencies=[Depends(csrf_ok)])
def decide(
    request: Request,
    case_id: str,
    principal: Viewer,
    action: Annotated[str, Form(max_length=40)] = "",  # none chosen: a clear 422 on the page, not a bare error
    confirm_code: Annotated[str, Form(max_length=40)] = "",
    override_code: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
    supersedes: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    principal.require("review")
    form = {"action": action, "confirm_code": confirm_code, "override_code": override_code, "reason": reason}
    try:
        req = review.DecisionRequest(
            action=action,
            code=confirm_code if action == Action.CONFIRM.value else override_code if action == Action.OVERRIDE.value else None,
            reason=reason or None, supersedes=supersedes or None,
        )
        review.decide(_desk(request), principal, case_id, req)
    except (AssistantError, ValueError) as exc:  # pydantic's ValidationError is a ValueError: an unknown action
        message = exc.message if isinstance(exc, AssistantError) else "choose one of the decisions"
        status = exc.status if isinstance(exc, AssistantError) else 422
        if status in (401, 403, 404):
            raise
        return _case_page(request, principal, case_id, status=status, error=message, form=form)
    return RedirectResponse(f"/cases/{case_id}?decided={action}", status_code=303)


# ---------------------------------------------------------------- admin


@router.get("/admin")
def admin_page(request: Request, principal: Viewer) -> Response:
    principal.require("manage_keys")
    db = _desk(request).db
    return render(request, "admin.html", title="Administration", verification=verify(db), keys=auth.list_keys(db))
