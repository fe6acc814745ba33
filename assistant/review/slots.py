"""Engine slots: how many classifications run at once, overall (the CPU-bound offline engine) and per organisation.

Without a per-organisation cap, one organisation's burst takes every engine slot and every other organisation's
request waits behind it. A request over its organisation's cap waits briefly in a short queue, then gets a 429.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from ..errors import RateLimited

ENGINE_SLOTS = max(2, os.cpu_count() or 2)
_OFFLINE_SLOTS = threading.BoundedSemaphore(ENGINE_SLOTS)
WAIT_SECONDS = 30.0


def engine_slot(engine: str) -> AbstractContextManager:
    """A slot of the offline engine: CPU-bound, so more threads in it than cores only fight over the GIL.
    (The LLM engine mostly waits on its server: not limited here.)"""
    return _OFFLINE_SLOTS if engine == "offline" else nullcontext()


class OrgSlots:
    """At most `per_org` classifications of one organisation at once, and at most `queue` more waiting for one."""

    def __init__(self, per_org: int | None = None, *, queue: int = 16, wait: float = WAIT_SECONDS):
        # By default one organisation can hold every engine slot but one: another organisation always finds one.
        self.per_org = max(1, per_org if per_org else ENGINE_SLOTS - 1)
        self.queue, self.wait = queue, wait
        self._lock = threading.Condition()
        self._running: dict[str, int] = {}
        self._waiting: dict[str, int] = {}

    @contextmanager
    def slot(self, org: str | None) -> Iterator[None]:
        """Hold one of `org`'s slots for the block (no limit when org is None: the batch worker is one thread)."""
        if org is None:
            yield
            return
        with self._lock:
            if self._running.get(org, 0) >= self.per_org:
                if self._waiting.get(org, 0) >= self.queue:
                    raise self._busy(org)
                self._waiting[org] = self._waiting.get(org, 0) + 1
                try:
                    if not self._lock.wait_for(lambda: self._running.get(org, 0) < self.per_org, self.wait):
                        raise self._busy(org)
                finally:
                    self._waiting[org] -= 1
            self._running[org] = self._running.get(org, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[org] -= 1
                self._lock.notify_all()

    def _busy(self, org: str) -> RateLimited:
        return RateLimited(f"organisation {org!r} already has {self.per_org} classification(s) running and "
                           f"{self.queue} waiting; retry shortly", detail={"retry_after": 2})
