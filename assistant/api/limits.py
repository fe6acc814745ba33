"""Request limits: body size (413, as JSON) and per-key rate limits on requests and batch items (429 with
Retry-After; RateLimit-* headers)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RateLimited, TooLarge
from .errors import error_json


class BodySizeLimit:
    """Refuse bodies over `max_bytes`: at once when Content-Length says so, else while the body streams in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise TooLarge(f"the request body exceeds {self.max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app answered to the aborted read, the client gets the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:  # TooLarge from limited_receive, or what the app made of it: the 413 below answers
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_json(413, "too_large", f"the request body exceeds {self.max_bytes} bytes")
        await response(scope, receive, send)


@dataclass(frozen=True)
class Quota:
    """A key's rate-limit state after a request: what the RateLimit-* response headers say."""

    limit: int
    remaining: int
    reset: int  # seconds until the bucket is full again

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset)}


class RateLimitHeaders:
    """Add the caller's RateLimit-Limit/-Remaining/-Reset to every response of a rate-limited request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_quota(message: Message) -> None:
            quota = scope.get("state", {}).get("quota")
            if message["type"] == "http.response.start" and isinstance(quota, Quota):
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in quota.headers().items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_quota)


class RateLimiter:
    """A token bucket per API key: `per_minute` requests (or batch items) a minute, bursts up to the same number."""

    def __init__(self, per_minute: int, *, unit: str = "requests"):
        self.unit = unit
        self.capacity = max(1, int(per_minute))
        self.rate = self.capacity / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, *, cost: int = 1) -> Quota:
        """Take `cost` tokens for `key` and say what is left; RateLimited (with the seconds to wait) when the bucket
        holds too few.

        A cost above the capacity is let through from a full bucket and leaves it in debt, so a large batch is
        accepted once and the key's next requests wait until its items are paid for.
        """
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            need = min(float(cost), float(self.capacity))  # a full bucket pays any cost, and goes into debt
            if tokens < need:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((need - tokens) / self.rate))
                raise RateLimited(
                    f"rate limit of {self.capacity} {self.unit} a minute exceeded; retry in {wait} s",
                    detail={"retry_after": wait},
                )
            self._buckets[key] = (tokens - cost, now)
            left = tokens - cost
        return Quota(limit=self.capacity, remaining=max(0, int(left)),
                     reset=math.ceil((self.capacity - left) / self.rate))
