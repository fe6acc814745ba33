"""The API application: `create_app(settings=None, runtime=None)` wires storage, routers and limits (no web UI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..config import Settings, get_settings
from ..review import Desk
from ..review.batch_worker import BatchWorker
from ..review.webhooks import WebhookSender
from ..store.audit import check_key
from ..store.db import Database
from . import errors
from .deps import strict_query
from .limits import BodySizeLimit, RateLimiter, RateLimitHeaders
from .routers import audit, batches, classifications, codes, docs, health, keys, review, search, webhooks
from .security import SecurityHeaders

if TYPE_CHECKING:
    from ..runtime import Runtime

DESCRIPTION = """Ranked HS/HTS code suggestions with cited sources, for customs brokers' software.

Every classification opens a **case** that stays advisory (`final_code: null`) until a customs officer
confirms, overrides or rejects it. Authenticate with `Authorization: Bearer <API key>`
(`tariff keys create --role broker|officer|admin --name NAME [--org ORG]`).
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The API app on `settings` (default: the runtime's, else the environment's); the runtime opens lazily."""
    if settings is None:
        settings = runtime.settings if runtime is not None else get_settings()
    db = Database.from_settings(settings)
    db.migrate()
    try:
        check_key(db)  # a server must not extend a trail signed with another key
    except Exception:
        db.dispose()
        raise
    desk = Desk(db, settings, runtime)
    worker = BatchWorker(desk)
    sender = WebhookSender(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()  # resumes batches an earlier process left unfinished
        sender.start()  # and deliveries still pending
        try:
            yield
        finally:
            sender.stop()
            worker.stop()

    app = FastAPI(title="Tariff Classification Assistant", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)  # /docs is served from package files (docs.py)
    app.state.settings, app.state.desk, app.state.worker = settings, desk, worker
    app.state.webhooks = sender
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute)
    # Batch items are classification work: counted per key in their own bucket, so polling a batch still works.
    app.state.item_limiter = RateLimiter(settings.rate_limit_per_minute, unit="batch items")

    errors.install(app)
    # Added innermost first: SecurityHeaders wraps everything, so error responses carry the headers too.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(errors.CatchUnexpected)
    app.add_middleware(RateLimitHeaders)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"],
        )
    app.add_middleware(SecurityHeaders)

    for module in (health, classifications, review, batches, codes, search, audit, keys, webhooks):
        app.include_router(module.router, dependencies=[Depends(strict_query)])
    app.include_router(docs.router)
    _add_schemas(app, batches.SCHEMAS)
    return app


def _add_schemas(app: FastAPI, models: tuple[Any, ...]) -> None:
    """Put models that routes reference by hand (a body parsed in the route) into the OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _, defs = models_json_schema([(m, "validation") for m in models],
                                         ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        return app.openapi_schema

    app.openapi = openapi
