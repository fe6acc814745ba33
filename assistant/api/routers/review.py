"""Officer review: the queue and decisions on a case."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ... import review
from ...store.records import CasePage, CaseView
from ..deps import DeskDep, Officer
from ..errors import error_responses

router = APIRouter(tags=["review"])


@router.get("/v1/review/queue", response_model=CasePage, responses=error_responses(403, 422),
            summary="Cases awaiting an officer: search, filter and sort (default: risk-flagged first, then oldest)")
def review_queue(
    desk: DeskDep,
    principal: Officer,
    filters: Annotated[review.QueueFilter, Query()],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CasePage:
    return review.queue(desk, principal, filters=filters, limit=limit, offset=offset)


class Assignment(BaseModel):
    """Who works on a case: "me" to claim it, an officer's key id to assign it, null to release it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"officer": "me"}]})

    officer: str | None = Field(max_length=64)


@router.put("/v1/classifications/{case_id}/assignment", response_model=CaseView,
            responses=error_responses(400, 403, 404, 409, 422), summary="Claim, assign or release a case in the queue")
def assign_case(
    case_id: Annotated[str, Path(max_length=64)], body: Assignment, desk: DeskDep, principal: Officer
) -> CaseView:
    officer = principal.key_id if body.officer == "me" else body.officer
    return review.assign(desk, principal, case_id, officer_key_id=officer)


@router.post(
    "/v1/classifications/{case_id}/decisions",
    status_code=201,
    response_model=CaseView,
    responses=error_responses(400, 403, 404, 409, 413, 422),
    summary="Decide a case: confirm, override, reject, request_info or approve_override",
)
def decide_case(
    case_id: Annotated[str, Path(max_length=64)], body: review.DecisionRequest, desk: DeskDep, principal: Officer
) -> CaseView:
    """Decisions are immutable; a decided case answers 409 unless the body `supersedes` its current decision."""
    return review.decide(desk, principal, case_id, body)
