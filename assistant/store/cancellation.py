"""Cancelling batch items that have not run: by a broker's request, or because the submitting key was revoked."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import audit
from .audit import Actor
from .tables import Batch, BatchItem, utcnow


def cancel_pending(s: Session, b: Batch, *, actor: Actor | None, reason: str) -> int:
    """Mark the batch's pending items cancelled (items being classified now are dropped when stored)."""
    n = s.execute(update(BatchItem).where(BatchItem.batch_id == b.id, BatchItem.status == "pending")
                  .values(status="cancelled", error=reason).execution_options(synchronize_session=False)).rowcount
    b.cancelled = (b.cancelled or 0) + n
    if b.status in ("queued", "running"):
        b.status, b.finished_at = "cancelled", utcnow()
    audit.append(s, "batch_cancelled", actor=actor, data={
        "batch_id": b.id, "org": b.org, "items_cancelled": n, "reason": reason,
    })
    return n


def cancel_for_key(s: Session, key_id: str, *, actor: Actor | None) -> int:
    """Inside a key's revocation: cancel the pending items of every unfinished batch it submitted."""
    batches = s.execute(select(Batch).where(Batch.requester_key_id == key_id,
                                            Batch.status.in_(("queued", "running")))).scalars()
    return sum(cancel_pending(s, b, actor=actor, reason="the submitting API key was revoked") for b in list(batches))
