"""Liveness (/healthz) and readiness (/readyz: the index and the database answer)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..deps import DeskDep

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str  # ready | unavailable
    database: bool
    index: bool
    edition: str | None = None
    detail: str | None = None


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}},
            summary="Readiness: the index is loaded and the database reachable")
async def readyz(desk: DeskDep) -> Readiness | JSONResponse:
    database = await run_in_threadpool(desk.db.ping)
    index, edition, detail = False, None, None
    try:
        runtime = await run_in_threadpool(desk.runtime)
        index = len(runtime.nomenclature) > 0
        edition = runtime.nomenclature.edition
        if not index:
            detail = "the index holds no tariff lines; run `tariff ingest`"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure instead of raising it
        log.warning("readiness: runtime unavailable: %s", exc)
        detail = "the index is not available"
    ready = Readiness(status="ready" if database and index else "unavailable", database=database, index=index,
                      edition=edition, detail=detail if not database or not index else None)
    if not database and detail is None:
        ready.detail = "the database is unreachable"
    if ready.status != "ready":
        return JSONResponse(ready.model_dump(), status_code=503)
    return ready
