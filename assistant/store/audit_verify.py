"""Verifying the audit trail: every link, every case and decision row against the events, and the checkpoints."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import audit_state, checkpoint
from .audit import Verification, walk
from .db import Database


def verify(db: Database, *, checkpoints: list[Any] | None = None) -> Verification:
    """Check every link, then every case and decision row against the trail, then any checkpoints given."""
    rebuild = audit_state.Rebuild()
    marks = list(checkpoints or [])
    with db.snapshot() as s:  # events and rows from one state: a case created meanwhile is in neither
        result, seen = walk(s, db.audit_key, want=frozenset(c.seq for c in marks if c.seq), on_event=rebuild.feed)
        problems = [*checkpoint.compare(marks, result, seen, db.audit_key)]
        if result.broken_at is None:
            problems[:0] = rebuild.compare(s)
    if problems:
        return replace(result, ok=False, problems=tuple(problems))
    return result
