"""The audit trail: one case's events (officers) and the full export as JSON Lines (admins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from ... import review
from ...auth import Principal
from ...store import audit
from ...store.records import AuditEventView
from ..deps import Auditor, DeskDep, requires
from ..errors import error_responses

router = APIRouter(tags=["audit"])
SINCE = (r"^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
         r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?)?$")


class NDJSONResponse(StreamingResponse):
    media_type = "application/x-ndjson"


@router.get("/v1/classifications/{case_id}/audit", response_model=list[AuditEventView],
            responses=error_responses(403, 404, 422), summary="A case's audit events, in chain order")
def case_audit(case_id: Annotated[str, Path(max_length=64)], desk: DeskDep, principal: Auditor) -> list[AuditEventView]:
    return review.case_audit(desk, principal, case_id)


@router.get(
    "/v1/audit/export",
    response_class=NDJSONResponse,
    responses={200: {"description": "one event per line, in chain order", "content": {
        "application/x-ndjson": {"schema": {"type": "string"}}}}, **error_responses(403, 422, by_reference=True)},
    summary="Export the audit chain as JSON Lines",
)
def export_audit(
    desk: DeskDep,
    principal: Annotated[Principal, Depends(requires("export_audit"))],
    since: Annotated[str | None, Query(max_length=40, pattern=SINCE,
                                       description="ISO date or datetime (UTC when no offset)")] = None,
) -> NDJSONResponse:
    bound = audit.parse_since(since)  # a bad date is a 422 before the response starts

    def lines() -> Iterator[bytes]:
        for ev in audit.export(desk.db, since=bound):  # streamed from one read transaction
            yield audit.export_line(ev).encode("utf-8")

    return NDJSONResponse(lines(), headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'})
