"""Errors -> JSON `{"error", "detail"}`: AssistantError with its status, validation 400/422, HTTP 404/405, unknown 503."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AssistantError, RateLimited

log = logging.getLogger("assistant.api")


class ErrorBody(BaseModel):
    """Every error the API returns."""

    error: str
    detail: str
    errors: list[dict[str, Any]] | None = None


RETRY_AFTER_S = 5  # what a 503 asks clients to wait before retrying
RETRY_AFTER_HEADER = {"Retry-After": {"description": "seconds to wait before retrying", "required": True,
                                      "schema": {"type": "integer", "minimum": 1}}}

_DESCRIPTIONS = {
    400: "Malformed request (invalid JSON or body)",
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this",
    404: "Not found (or not visible to this key's organisation)",
    409: "Conflict with the current state (already decided, idempotency key reuse, ...)",
    413: "Request or batch too large",
    415: "Unsupported content type",
    422: "Invalid input",
    429: "Rate limit exceeded; see Retry-After",
    503: "A backend (database, index, model server) is unavailable; see Retry-After",
}


def error_responses(*codes: int, by_reference: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses (always with 401, 429 and 503).

    by_reference: name the JSON schema explicitly, for routes whose own responses are not JSON.
    """
    wanted = sorted({*codes, 401, 429, 503})
    if by_reference:
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        out = {c: {"description": _DESCRIPTIONS[c], "content": ref} for c in wanted}
    else:
        out = {c: {"model": ErrorBody, "description": _DESCRIPTIONS[c]} for c in wanted}
    for c in (429, 503):
        out[c]["headers"] = RETRY_AFTER_HEADER
    return out


def error_json(status: int, error: str, detail: str, *, errors: list[dict[str, Any]] | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, errors=errors).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


async def _assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited) and isinstance(exc.detail, dict):
        wait = exc.detail.get("retry_after", 1)
        headers["Retry-After"] = str(wait)
        headers["RateLimit-Remaining"], headers["RateLimit-Reset"] = "0", str(wait)
    if exc.status == 503:  # a backend is down: clients and proxies should retry, not give up
        headers["Retry-After"] = str(RETRY_AFTER_S)
    errors = exc.detail if isinstance(exc.detail, list) else None
    return error_json(exc.status, exc.code, exc.message, errors=errors, headers=headers or None)


def clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input (it may be a long description or a secret)."""
    out = []
    for e in errors:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type", "")})
    return out


def validation_response(errors: list[Any]) -> JSONResponse:
    cleaned = clean_errors(errors)
    if any(e["type"] == "json_invalid" for e in cleaned):
        return error_json(400, "invalid_json", "the request body is not valid JSON", errors=cleaned)
    if any(e["loc"] == ["body"] and e["type"] in ("model_attributes_type", "missing") for e in cleaned):
        detail = "the request body must be a JSON object, sent with Content-Type: application/json"
        return error_json(422, "invalid_input", detail, errors=cleaned)
    summary = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in cleaned[:5])
    return error_json(422, "invalid_input", summary or "invalid request", errors=cleaned)


async def _validation_error(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
    return validation_response(list(exc.errors()))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    try:
        name = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        name = "error"
    if exc.status_code == 413:
        name = "too_large"
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_json(exc.status_code, name, detail, headers=headers or None)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers on this path (Starlette names only the first matching route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "__none__"})
        if match == Match.PARTIAL and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register the exception handlers and the last-resort middleware on an app."""
    app.add_exception_handler(AssistantError, _assistant_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class CatchUnexpected:
    """Last resort: an unexpected exception is logged and answered 503 JSON, never a bare 500."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:  # anything no handler claimed: log it with its traceback, answer 503
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = error_json(503, "unavailable", "the service hit an unexpected error; try again later",
                                      headers={"Retry-After": str(RETRY_AFTER_S)})
                await response(scope, receive, send)
