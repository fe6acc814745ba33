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
from ..auth import Principal
from ..codes import normalize_code
from ..config import MAX_DESCRIPTION_CHARS
from ..errors import AssistantError, ConflictError
from ..review import lookup
from ..review.requests import NO_NUL, Reference, check_text, text
from ..store.records import Status
from .present import case_payload
from .routes import csrf_ok, viewer

router = APIRouter(prefix="/web", include_in_schema=False)
log = logging.getLogger(__name__)
TOP = 5


class ChatMessage(BaseModel):
    """One message typed in the chat: a new product description, or a follow-up fact for `case_id`."""

    model_config = ConfigDict(extra="forbid")

    message: text(min_length=1, max_length=MAX_DESCRIPTION_CHARS, pattern=NO_NUL)
    case_id: str | None = Field(default=None, max_length=64)
    declared_code: text(max_length=40, pattern=NO_NUL) | None = None
    reference: Reference | None = None


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _new_case(desk: review.Desk, principal: Principal, body: ChatMessage, description: str) -> Iterator[bytes]:
    """Stream the engine's answer while the review desk opens the case (review.stream_case)."""
    for event in review.stream_case(desk, principal, description, declared_code=body.declared_code,
                                    reference=body.reference, top=TOP):
        if event["type"] == "status":
            yield sse("status", {"text": f"Searching the tariff ({event['engine']} engine)…"})
        elif event["type"] == "token":
            yield sse("token", {"text": event["text"]})
        elif event["type"] == "case":
            yield sse("case", case_payload(event["case"], desk.runtime().nomenclature))


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
        if (body.declared_code or "").strip():
            normalize_code(body.declared_code)  # a malformed code is a 422 before streaming
        events = _new_case(desk, principal, body, text)
    return StreamingResponse(_guarded(events), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/passages/{passage_id}")
def passage(request: Request, passage_id: Annotated[str, Path(max_length=64)],
            principal: Annotated[Principal, Depends(viewer)]) -> lookup.PassageView:
    """What a citation chip opens (the same service as GET /v1/passages/{id})."""
    principal.require("lookup")
    return lookup.get_passage(request.app.state.desk, passage_id)


@router.get("/codes")
def find_codes(request: Request, principal: Annotated[Principal, Depends(viewer)],
               prefix: Annotated[str | None, Query(max_length=20)] = None,
               q: Annotated[str | None, Query(max_length=200)] = None) -> lookup.CodeMatches:
    """Autocomplete for the override field (the same service as GET /v1/codes)."""
    principal.require("lookup")
    return lookup.find_codes(request.app.state.desk, prefix=prefix, q=q, limit=12)
