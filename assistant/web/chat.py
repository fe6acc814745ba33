"""The chat's endpoints: a streamed answer that opens or refines a case, and the lookups behind chips and autocomplete."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .. import review
from ..api.routers import codes, search
from ..auth import Principal
from ..codes import normalize_code
from ..engines import get_engine
from ..engines.precedents import follow_decided_case
from ..engines.vague import apply_vagueness
from ..errors import AssistantError, BackendUnavailable, ConflictError
from ..review.desk import _passage_text, check_text  # the same checks review.prepare runs
from ..store.records import Status
from ..store.views import view
from .present import case_payload
from .routes import csrf_ok, viewer

router = APIRouter(prefix="/web", include_in_schema=False)
log = logging.getLogger(__name__)
TOP = 5


class ChatMessage(BaseModel):
    """One message typed in the chat: a new product description, or a follow-up fact for `case_id`."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=20_000)
    case_id: str | None = Field(default=None, max_length=64)
    declared_code: str | None = Field(default=None, max_length=40)
    reference: str | None = Field(default=None, max_length=200)


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _new_case(desk: review.Desk, principal: Principal, body: ChatMessage, description: str,
              declared: str | None) -> Iterator[bytes]:
    """Stream the engine's answer, then store it as a case in pending_review (one classification, not two)."""
    runtime = desk.runtime()
    engine = get_engine(desk.settings.engine, runtime=runtime)
    yield sse("status", {"text": f"Searching the tariff ({engine.name} engine)…"})
    result = None
    for event in engine.stream(description, context=[], top=TOP):
        if event.get("type") == "token":
            yield sse("token", {"text": event["text"]})
        elif event.get("type") == "result":
            result = event["classification"]
    if result is None:
        raise BackendUnavailable("the engine ended without an answer; try again")
    # As engines.classify does: goods an officer decided before follow the case; vague goods get a question.
    result = apply_vagueness(follow_decided_case(result, runtime, description), description)
    risks = (review.declared_code_risks(declared, result, runtime.nomenclature, _passage_text(runtime))
             if declared else [])
    prepared = review.Prepared(result, declared, risks)
    with desk.db.write() as s:
        case = review.insert_case(s, principal, prepared, description=description, context=[],
                                  reference=(body.reference or "").strip() or None, top=TOP)
        stored = view(s, case)
    yield sse("case", case_payload(stored, runtime.nomenclature))


def _follow_up(desk: review.Desk, principal: Principal, case_id: str, text: str) -> Iterator[bytes]:
    """Add the fact to the case through the review desk (it re-classifies), then send the updated case."""
    yield sse("status", {"text": "Re-classifying with the added facts…"})
    updated = review.add_info(desk, principal, case_id, text)
    if updated.suggestions:
        yield sse("token", {"text": updated.suggestions[0].rationale})
    yield sse("case", case_payload(updated, desk.runtime().nomenclature))


def _guarded(events: Iterator[bytes]) -> Iterator[bytes]:
    """Errors after the stream started become an `error` event with the usual {error, detail}, never a traceback."""
    try:
        yield from events
    except AssistantError as exc:
        yield sse("error", {"error": exc.code, "detail": exc.message, "status": exc.status})
    except Exception:
        log.exception("chat stream failed")
        yield sse("error", {"error": "unavailable", "detail": "the assistant hit an unexpected error; try again",
                            "status": 503})


@router.post("/chat", dependencies=[Depends(csrf_ok)])
def chat(request: Request, body: ChatMessage, principal: Annotated[Principal, Depends(viewer)]) -> StreamingResponse:
    """Server-sent events: status, token..., then `case` (the stored case) or `error`."""
    principal.require("classify")
    desk: review.Desk = request.app.state.desk
    text = check_text(body.message, "message", desk.settings)
    if body.case_id:
        case = review.get_case(desk, principal, body.case_id, record_open=False)  # 404 before streaming
        if case.status not in (Status.PENDING_REVIEW, Status.NEEDS_INFO):
            raise ConflictError("an officer has decided this case; start a new classification for more changes")
        events = _follow_up(desk, principal, case.id, text)
    else:
        declared = normalize_code(body.declared_code) if (body.declared_code or "").strip() else None
        events = _new_case(desk, principal, body, text, declared)
    return StreamingResponse(_guarded(events), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/passages/{passage_id}")
def passage(request: Request, passage_id: Annotated[str, Path(max_length=64)],
            principal: Annotated[Principal, Depends(viewer)]) -> search.PassageView:
    """What a citation chip opens (the same service as GET /v1/passages/{id})."""
    principal.require("lookup")
    return search.get_passage(passage_id, request.app.state.desk, principal)


@router.get("/codes")
def find_codes(request: Request, principal: Annotated[Principal, Depends(viewer)],
               prefix: Annotated[str | None, Query(max_length=20)] = None,
               q: Annotated[str | None, Query(max_length=200)] = None) -> codes.CodeMatches:
    """Autocomplete for the override field (the same service as GET /v1/codes)."""
    principal.require("lookup")
    return codes.find_codes(request.app.state.desk, principal, prefix=prefix, q=q, limit=12)
