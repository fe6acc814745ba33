"""Rows checked against the trail: every case's status and final code, and every decision, rebuilt from events.

An UPDATE of `cases` or `decisions` that bypasses the application leaves no event behind; replaying the chain
gives the state each row should be in, so such an edit shows up as a row that disagrees with the trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .tables import AuditEvent, Case, Decision

_RESETS = frozenset({"case_created", "info_added"})  # events that put a case (back) in pending_review


@dataclass
class Rebuild:
    """The state of every case and decision as the events tell it (fed one event at a time, in chain order)."""

    cases: dict[str, tuple[str, str | None, str | None, str, bool]] = field(default_factory=dict)
    decisions: dict[str, tuple[str, str, str | None, str, bool]] = field(default_factory=dict)

    def feed(self, ev: AuditEvent, data: Any) -> None:
        if not ev.case_id or not isinstance(data, dict):
            return
        if ev.type in _RESETS:
            self.cases[ev.case_id] = ("pending_review", None, None, ev.hash, bool(ev.keyed))
        elif ev.type == "decision":
            self.cases[ev.case_id] = (data.get("status"), data.get("final_code"), data.get("decision_id"), ev.hash,
                                      bool(ev.keyed))
            if data.get("decision_id"):
                self.decisions[data["decision_id"]] = (ev.case_id, data.get("action"), data.get("code"), ev.hash,
                                                       bool(ev.keyed))

    def compare(self, s: Session) -> list[str]:
        """One line per row that disagrees with the trail (or that the trail never recorded), read in `s`."""
        problems: list[str] = []
        found: set[str] = set()
        rows = s.execute(select(Case.id, Case.status, Case.final_code, Case.decision_id, Case.event_hash)
                         .order_by(Case.id).execution_options(yield_per=1000))
        for case_id, status, final, decision_id, event_hash in rows:
            found.add(case_id)
            want = self.cases.get(case_id)
            if want is None:
                problems.append(f"case {case_id} has no case_created event")
                continue
            w_status, w_final, w_decision, w_hash, keyed = want
            if (status, final) != (w_status, w_final):
                problems.append(f"case {case_id} is {status} {final or '-'} but the trail says "
                                f"{w_status} {w_final or '-'}")
            elif decision_id != w_decision:
                problems.append(f"case {case_id} points at decision {decision_id} but the trail at {w_decision}")
            elif (event_hash or keyed) and event_hash != w_hash:
                problems.append(f"case {case_id} names event hash {(event_hash or '-')[:16]}, not the event "
                                "that set its state")
        problems += [f"case {cid} in the trail is missing from the database" for cid in sorted(set(self.cases) - found)]
        seen: set[str] = set()
        rows = s.execute(select(Decision.id, Decision.case_id, Decision.action, Decision.code, Decision.event_hash)
                         .order_by(Decision.id).execution_options(yield_per=1000))
        for decision_id, case_id, action, code, event_hash in rows:
            seen.add(decision_id)
            want = self.decisions.get(decision_id)
            if want is None:
                problems.append(f"decision {decision_id} has no decision event")
            elif (case_id, action, code) != want[:3] or ((event_hash or want[4]) and event_hash != want[3]):
                problems.append(f"decision {decision_id} differs from its decision event")
        problems += [f"decision {d} in the trail is missing from the database"
                     for d in sorted(set(self.decisions) - seen)]
        return problems
