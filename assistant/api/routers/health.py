"""Liveness (/healthz) and readiness (/readyz: the index and the database answer now)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..deps import DeskDep
from ..errors import RETRY_AFTER_HEADER, RETRY_AFTER_S

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


def _index(desk) -> tuple[bool, str | None, str | None]:
    """(index usable, edition, why not): the vector store is asked now, not from the runtime's cached catalog."""
    try:
        runtime = desk.runtime()
        runtime.probe_store()  # a live probe: the catalog alone may be cached after the store went away
        nomenclature = runtime.nomenclature
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure instead of raising it
        log.warning("readiness: runtime unavailable: %s", exc)
        return False, None, "the index is not available"
    if not len(nomenclature):
        return False, nomenclature.edition, "the index holds no tariff lines; run `tariff ingest`"
    return True, nomenclature.edition, None


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "not ready", "headers": RETRY_AFTER_HEADER}},
            summary="Readiness: the index and the database answer")
async def readyz(desk: DeskDep) -> Readiness | JSONResponse:
    database = await run_in_threadpool(desk.db.ping)
    index, edition, detail = await run_in_threadpool(_index, desk)
    ready = Readiness(status="ready" if database and index else "unavailable", database=database, index=index,
                      edition=edition, detail=detail if not database or not index else None)
    if not database and detail is None:
        ready.detail = "the database is unreachable"
    if ready.status != "ready":
        return JSONResponse(ready.model_dump(), status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    return ready
