"""Classifications: create a case from a description, list and read cases, add requested information."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from ... import review
from ...review.requests import ID_PATTERN
from ...store.records import CasePage, CaseView, Status
from ..deps import Broker, DeskDep, IdempotencyKey, Officer, Reader
from ..errors import error_responses

router = APIRouter(prefix="/v1/classifications", tags=["classifications"])
CaseId = Annotated[str, Path(max_length=64, description="case id")]


@router.post(
    "",
    status_code=201,
    response_model=CaseView,
    responses=error_responses(400, 403, 409, 413, 422),
    summary="Classify a description: opens a case in pending_review",
)
async def create_classification(
    body: review.ClassificationRequest, desk: DeskDep, principal: Broker, idempotency_key: IdempotencyKey = None
) -> CaseView:
    """Ranked, cited suggestions. Advisory only: the case waits for an officer's decision (`final_code` is null)."""
    return await run_in_threadpool(review.create_case, desk, principal, body, idempotency_key=idempotency_key)


@router.get("", response_model=CasePage, responses=error_responses(403, 422), summary="List cases")
def list_classifications(
    desk: DeskDep,
    principal: Reader,
    status: Status | None = None,
    batch_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CasePage:
    """Newest first; a broker sees its own organisation's cases only."""
    return review.list_cases(desk, principal, status=status, batch_id=batch_id, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CaseView, responses=error_responses(403, 404, 422), summary="Read a case")
def get_classification(case_id: CaseId, desk: DeskDep, principal: Reader) -> CaseView:
    return review.get_case(desk, principal, case_id)


@router.post(
    "/{case_id}/info",
    response_model=CaseView,
    responses=error_responses(400, 403, 404, 409, 413, 422),
    summary="Add the information an officer asked for; the case is re-classified",
)
async def add_information(case_id: CaseId, body: review.InfoRequest, desk: DeskDep, principal: Broker) -> CaseView:
    return await run_in_threadpool(review.add_info, desk, principal, case_id, body.text)


@router.get(
    "/{case_id}/replay",
    response_model=review.Replay,
    responses=error_responses(403, 404, 409, 422),
    summary="Replay a case: its recorded engine and inputs on the current index (officers and admins)",
)
async def replay_classification(case_id: CaseId, desk: DeskDep, principal: Officer) -> review.Replay:
    """`identical`, or each difference from the stored suggestions, and whether the corpus snapshot, edition,
    engine version or model changed since; recorded in the audit trail as `case_replayed`."""
    return await run_in_threadpool(review.replay_case, desk, principal, case_id)
