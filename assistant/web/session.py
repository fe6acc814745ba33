"""Web sign-in: a signed HttpOnly SameSite=Strict cookie naming a server-side session record, and a CSRF token."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..auth import Principal, principal_for
from ..config import Settings
from ..errors import AuthError, PermissionDenied
from ..keyfiles import read_or_create_secret
from ..store.web_sessions import is_active

COOKIE = "tariff_session"
MAX_AGE = 8 * 3600  # a signed-in session lasts one working day
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class WebSession:
    """What the cookie carries: the CSRF token, and once signed in the key id and the session record's id."""

    csrf: str
    key_id: str | None = None
    sid: str | None = None


def new_session(key_id: str | None = None, sid: str | None = None) -> WebSession:
    return WebSession(csrf=secrets.token_urlsafe(32), key_id=key_id, sid=sid)


def session_secret(settings: Settings) -> str:
    """settings.session_secret, else a random secret kept (mode 0600) under TARIFF_HOME so restarts keep sessions."""
    if settings.session_secret:
        return settings.session_secret
    path = Path(settings.home) / "session.secret"
    return read_or_create_secret(path, nbytes=48)


class SessionCodec:
    """Signs and reads the session cookie (itsdangerous, timestamped: expired cookies are ignored)."""

    def __init__(self, secret: str):
        self._serializer = URLSafeTimedSerializer(secret, salt="tariff-web-session")

    def dumps(self, session: WebSession) -> str:
        return self._serializer.dumps({"c": session.csrf, "k": session.key_id, "s": session.sid})

    def loads(self, value: str | None) -> WebSession | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=MAX_AGE)
        except BadSignature:  # tampered, signed with another secret, or expired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        key_id, sid = data.get("k"), data.get("s")
        return WebSession(csrf=data["c"], key_id=key_id if isinstance(key_id, str) else None,
                          sid=sid if isinstance(sid, str) else None)


def codec(request: Request) -> SessionCodec:
    return request.app.state.web_sessions


def read_session(request: Request) -> WebSession | None:
    return codec(request).loads(request.cookies.get(COOKIE))


def write_session(request: Request, response: Response, session: WebSession) -> None:
    response.set_cookie(
        COOKIE, codec(request).dumps(session), max_age=MAX_AGE, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def signed_in(request: Request) -> tuple[WebSession, Principal]:
    """The session and its principal (after the per-key rate limit); AuthError when not signed in or revoked."""
    session = read_session(request)
    if session is None or session.key_id is None:
        raise AuthError("sign in with your API key")
    db = request.app.state.desk.db
    if not is_active(db, session.sid, key_id=session.key_id):  # signed out, expired, or the key was revoked
        raise AuthError("your session has ended: sign in again")
    principal = principal_for(db, session.key_id)
    request.app.state.limiter.check(principal.key_id)
    request.state.principal = principal
    return session, principal


def _same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (Origin or Sec-Fetch-Site)."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc != request.headers.get("host", request.url.netloc):
            return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


async def check_csrf(request: Request, session: WebSession | None) -> None:
    """Every POST carries the session's token (form field or X-CSRF-Token header) and comes from this origin."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if session is None or not sent or not hmac.compare_digest(sent, session.csrf) or not _same_origin(request):
        raise PermissionDenied("the form expired or came from another site (CSRF check failed): reload the page")
