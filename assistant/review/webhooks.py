"""Decision webhooks: admin-registered callback URLs per organisation; each decision POSTed signed, with retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import Principal
from ..errors import InputError, NotFoundError
from ..store.db import Database
from ..store.tables import Case, Decision, Webhook, WebhookDelivery, utcnow
from .requests import new_id

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Tariff-Signature"
BACKOFF_S = (5.0, 30.0, 120.0, 600.0, 3600.0)  # waits after the 1st, 2nd, ... failed attempt; then it has failed
TIMEOUT_S = 10.0


class WebhookInfo(BaseModel):
    id: str
    org: str
    url: str
    created_by: str | None = None
    created_at: datetime


class NewWebhook(WebhookInfo):
    secret: str  # shown once: the receiver checks X-Tariff-Signature with it


class DeliveryView(BaseModel):
    id: str
    webhook_id: str
    case_id: str
    decision_id: str
    status: str  # pending | delivered | failed
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None


def sign(secret: str, body: bytes) -> str:
    """The X-Tariff-Signature value: "sha256=" + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # no column of PostgreSQL holds NUL; none of these belongs in a URL


def check_url(url: str) -> str:
    """An http(s) URL with a host and no credentials (they would be stored and logged in clear)."""
    if _CONTROL.search(url):
        raise InputError("a webhook URL must not contain control characters (NUL, newlines)")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("a webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InputError("a webhook URL must not carry credentials; the signature authenticates the sender")
    return url.strip()


def _info(w: Webhook) -> WebhookInfo:
    return WebhookInfo(id=w.id, org=w.org, url=w.url, created_by=w.created_by, created_at=w.created_at)


def add(db: Database, principal: Principal | None, *, org: str, url: str) -> NewWebhook:
    """Register a callback URL for `org` (admins only); the secret is returned this once."""
    if principal is not None:
        principal.require("manage_keys")
    org = (org or "").strip()
    if not org:
        raise InputError("a webhook needs the organisation whose decisions it receives")
    if _CONTROL.search(org):
        raise InputError("a webhook's organisation must not contain control characters (NUL, newlines)")
    hook = Webhook(id=new_id(), org=org, url=check_url(url), secret=secrets.token_urlsafe(32),
                   created_by=principal.name if principal else "cli", created_at=utcnow())
    with db.write() as s:
        s.add(hook)
    return NewWebhook(**_info(hook).model_dump(), secret=hook.secret)


def list_webhooks(db: Database, principal: Principal | None = None) -> list[WebhookInfo]:
    if principal is not None:
        principal.require("manage_keys")
    with db.read() as s:
        rows = s.execute(select(Webhook).where(Webhook.removed_at.is_(None)).order_by(Webhook.created_at, Webhook.id))
        return [_info(w) for w in rows.scalars()]


def remove(db: Database, principal: Principal | None, webhook_id: str) -> WebhookInfo:
    if principal is not None:
        principal.require("manage_keys")
    with db.write() as s:
        hook = s.get(Webhook, webhook_id[:64])
        if hook is None or hook.removed_at is not None:
            raise NotFoundError(f"no webhook {webhook_id[:40]!r}")
        hook.removed_at = utcnow()  # pending deliveries stop; past ones stay listed
        return _info(hook)


def deliveries(db: Database, principal: Principal | None, webhook_id: str, *, limit: int = 100) -> list[DeliveryView]:
    if principal is not None:
        principal.require("manage_keys")
    with db.read() as s:
        if s.get(Webhook, webhook_id[:64]) is None:
            raise NotFoundError(f"no webhook {webhook_id[:40]!r}")
        rows = s.execute(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
                         .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit)).scalars()
        return [DeliveryView.model_validate(r, from_attributes=True) for r in rows]


def enqueue(s: Session, case: Case, decision: Decision) -> int:
    """Inside the decision's transaction: one pending delivery per webhook of the case's organisation."""
    hooks = list(s.execute(select(Webhook).where(Webhook.org == case.org, Webhook.removed_at.is_(None))).scalars())
    if not hooks:
        return 0
    body = json.dumps({
        "event": "decision", "case_id": case.id, "decision_id": decision.id, "action": decision.action,
        "code": decision.code, "reason": decision.reason, "officer": decision.officer_name,
        "status": case.status, "final_code": case.final_code, "supersedes": decision.supersedes,
        "reference": case.reference, "decided_at": decision.created_at.isoformat(),
    }, sort_keys=True, ensure_ascii=False)
    now = utcnow()
    for hook in hooks:
        s.add(WebhookDelivery(id=new_id(), webhook_id=hook.id, case_id=case.id, decision_id=decision.id, body=body,
                              status="pending", attempts=0, next_attempt_at=now, created_at=now))
    return len(hooks)


class WebhookSender:
    """A background thread that POSTs due deliveries, signed, and reschedules failures with back-off."""

    def __init__(self, db: Database, *, backoff: tuple[float, ...] = BACKOFF_S, poll_s: float = 0.5,
                 post: Callable[..., httpx.Response] | None = None):
        self.db, self.backoff, self.poll_s = db, backoff, poll_s
        self._post = post or httpx.post
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 5)

    def wake(self) -> None:
        """A decision was recorded: look for due deliveries now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_due()
            except Exception:  # the sender must outlive a database hiccup; the error is logged, not swallowed
                log.exception("webhook delivery round failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def send_due(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        with self.db.read() as s:
            due = [(d.id, d.body, w.url, w.secret) for d, w in s.execute(
                select(WebhookDelivery, Webhook).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow(),
                       Webhook.removed_at.is_(None))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(50))]
        for delivery_id, body, url, secret in due:
            self._attempt(delivery_id, body.encode(), url, secret)
        return len(due)

    def _attempt(self, delivery_id: str, body: bytes, url: str, secret: str) -> None:
        code, error = None, None
        try:
            r = self._post(url, content=body, timeout=TIMEOUT_S, follow_redirects=False, headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
                "X-Tariff-Delivery": delivery_id, "User-Agent": "tariff-assistant-webhooks"})
            code = r.status_code
            if not 200 <= code < 300:
                error = f"the receiver answered {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        with self.db.write() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None or d.status != "pending":
                return
            d.attempts += 1
            d.last_status_code, d.last_error = code, error
            if error is None:
                d.status, d.delivered_at, d.next_attempt_at = "delivered", utcnow(), None
            elif d.attempts > len(self.backoff):
                d.status, d.next_attempt_at = "failed", None
            else:
                d.next_attempt_at = utcnow() + timedelta(seconds=self.backoff[d.attempts - 1])
