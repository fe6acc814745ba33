"""Checkpoints kept by the operator's HTTP receiver: POST each signed head to it, GET them back to verify.

The receiver is the operator's own append-only service (a log shipper, a bucket with object lock behind a small
endpoint). The contract is two requests:

    POST url   body: one checkpoint as JSON {"seq", "hash", "time", "mac"}; any 2xx means stored
    GET  url   the checkpoints kept: JSON Lines, a JSON list, or the latest one as a JSON object

Checkpoints are HMAC-signed, so the receiver needs no secret and plain HTTP cannot forge one; only its
append-only-ness matters. Redirects are not followed, and every failure is a FetchError or an InputError naming the
receiver (never its credentials or query string).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from ..errors import FetchError, InputError, TooLarge
from . import checkpoint
from .checkpoint import Checkpoint

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_BYTES = 64 * 1024 * 1024  # ~300k checkpoints: years of hourly ones
HEADERS = {"User-Agent": "tariff-assistant-audit"}


def is_url(target: str) -> bool:
    """True for an http(s) URL; anything else names a file."""
    return str(target).lower().startswith(("http://", "https://"))


def shown(url: str) -> str:
    """The URL as messages show it: scheme, host, port and path; no user, password or query (they may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"[:200]


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def post(url: str, cp: Checkpoint) -> None:
    """Send one checkpoint to the receiver; FetchError unless it answers 2xx."""
    try:
        r = httpx.post(url, json=cp.record(), timeout=TIMEOUT, follow_redirects=False, headers=HEADERS)
    except httpx.InvalidURL as exc:
        raise InputError(f"not a checkpoint URL: {shown(url)} ({exc})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot send the checkpoint to {shown(url)}: {_reason(exc)}") from None
    if not 200 <= r.status_code < 300:
        raise FetchError(f"the checkpoint receiver {shown(url)} answered HTTP {r.status_code}: nothing was stored")


def fetch(url: str) -> list[Checkpoint]:
    """The checkpoints the receiver keeps; FetchError if it cannot be reached, InputError if its answer is not them."""
    origin = f"checkpoint URL {shown(url)}"
    try:
        with httpx.stream("GET", url, timeout=TIMEOUT, follow_redirects=False,
                          headers={**HEADERS, "Accept": "application/json, application/x-ndjson"}) as r:
            if r.status_code != 200:
                raise FetchError(f"the checkpoint receiver {shown(url)} answered HTTP {r.status_code}")
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise TooLarge(f"{origin} sent more than {MAX_BYTES // 2**20} MiB")
    except httpx.InvalidURL as exc:
        raise InputError(f"not a checkpoint URL: {shown(url)} ({exc})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot read checkpoints from {shown(url)}: {_reason(exc)}") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{origin} did not answer UTF-8 text") from None
    return checkpoint.parse(text, origin=origin)
