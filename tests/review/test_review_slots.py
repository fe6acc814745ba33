"""Per-organisation limits on classification work: one organisation's burst leaves slots for the others."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.errors import RateLimited
from assistant.review.slots import ENGINE_SLOTS, OrgSlots


def test_an_organisation_over_its_cap_waits_then_gets_a_429_while_others_run():
    slots = OrgSlots(1, queue=1, wait=0.3)
    held, release = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def hold() -> None:
        with slots.slot("acme"):
            held.set()
            release.wait(5)

    def second() -> None:
        try:
            with slots.slot("acme"):
                outcomes.append("ran")
        except RateLimited:
            outcomes.append("429")

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.05)  # the waiter is queued: the queue of one is full
    with pytest.raises(RateLimited, match="already has 1 classification"), slots.slot("acme"):
        pass
    t0 = time.perf_counter()
    with slots.slot("globex"):  # another organisation is not held up
        assert time.perf_counter() - t0 < 0.05
    waiter.join(5)
    assert outcomes == ["429"]  # waited its 0.3 s, then refused
    release.set()
    holder.join(5)
    with slots.slot("acme"):  # the slot came back
        pass


def test_a_waiting_request_runs_when_a_slot_frees():
    slots = OrgSlots(1, queue=4, wait=5)
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with slots.slot("acme"):
            first_in.set()
            time.sleep(0.2)
            order.append("first")

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(5)
    with slots.slot("acme"):
        order.append("second")
    t.join(5)
    assert order == ["first", "second"]


def test_the_default_leaves_one_engine_slot_to_other_organisations():
    assert OrgSlots().per_org == max(1, ENGINE_SLOTS - 1)
    slots = OrgSlots(1, queue=0, wait=0)
    with slots.slot(None), slots.slot(None), slots.slot("acme"):  # None: the batch worker, one thread, not counted
        with pytest.raises(RateLimited):
            with slots.slot("acme"):
                pass
