"""Server-rendered pages: the Jinja environment (autoescaped), page context, and HTML error pages."""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..auth import Principal
from ..codes import LEVEL_NAMES, format_code
from ..errors import AssistantError, AuthError
from .present import ACTION_LABELS, status_label
from .session import CSRF_FIELD, new_session, read_session, write_session

TEMPLATES = Path(__file__).parent / "templates"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _pct(value: float | None) -> str:
    # Half up, as the page's script rounds (Math.round): Python's round() would show 12 % where the chat shows 13 %.
    return "" if value is None else f"{math.floor(float(value) * 100 + 0.5)}%"


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))
env.filters.update(when=_when, pct=_pct, code=lambda c: format_code(c) if c else "", status=status_label)
env.globals.update(ACTION_LABELS=ACTION_LABELS, CSRF_FIELD=CSRF_FIELD, LEVEL_NAMES=LEVEL_NAMES)


def nav(principal: Principal | None) -> list[tuple[str, str]]:
    """The links a role sees, in order."""
    if principal is None:
        return []
    links = []
    if principal.can("review"):
        links += [("/queue", "Review queue"), ("/cases", "All cases")]
    links.append(("/chat", "Classify"))
    if not principal.can("review"):
        links.append(("/cases", "My organisation's cases"))
    if principal.can("manage_keys"):
        links.append(("/admin", "Administration"))
    return links


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page with the signed-in principal, its navigation and the session's CSRF token."""
    session = read_session(request)
    fresh = session is None
    if fresh:  # an anonymous visitor still gets a CSRF token, for the sign-in form
        session = new_session()
    principal = getattr(request.state, "principal", None)
    html = env.get_template(name).render(
        request=request, principal=principal, nav=nav(principal), path=request.url.path, csrf=session.csrf,
        settings=request.app.state.settings, **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    if fresh:
        write_session(request, response, session)
    return response


def error_page(request: Request, exc: AssistantError) -> Response:
    """Sign-in redirect for a missing session, else the error as a page with its status."""
    if isinstance(exc, AuthError):
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
        return render(request, "error.html", status_code=401, title="Signed out", message=exc.message)
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Check your input", 429: "Too many requests"}
    return render(request, "error.html", status_code=exc.status, title=titles.get(exc.status, "Unavailable"),
                  message=exc.message)


class PageRoute(APIRoute):
    """A route whose errors are pages (the API's routes answer JSON instead)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except AssistantError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()[:3])
                return render(request, "error.html", status_code=422, title="Check your input",
                              message=f"missing or invalid: {fields or 'form'}")

        return page_handler
