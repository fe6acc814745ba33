"""The batch worker: one background thread that classifies queued items, organisations served round-robin.

Each turn takes a few pending items of one organisation's oldest unfinished batch, classifies them, stores them
in one transaction, then moves to the next organisation with work: a 1-item batch waits for at most one turn of
every other organisation, however many items they queued. The database is the queue, so a restart resumes it.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from ..auth import Principal, Role
from ..errors import AssistantError
from ..store.tables import Batch, BatchItem, utcnow
from .cases import Desk, Prepared, insert_case, prepare

log = logging.getLogger(__name__)

CHUNK = 4  # items of one organisation per turn (classified, then stored in one transaction)
UNFINISHED = ("queued", "running")
# item id, description, declared code, reference, listing attributes, category path
Row = tuple[int, str, str | None, str | None, dict | None, list | None]


class BatchWorker:
    """One background thread that works through pending batch items, one organisation's turn at a time."""

    def __init__(self, desk: Desk):
        self.desk = desk
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._last_org: str | None = None

    def start(self) -> None:
        """Start the thread (idempotent); batches a previous process left unfinished are picked up."""
        with self._start_lock:
            if self._thread and self._thread.is_alive():
                return
            self._stop.clear()
            self._wake.set()
            self._thread = threading.Thread(target=self._run, name="tariff-batches", daemon=True)
            self._thread.start()

    def submit(self, batch_id: str) -> None:
        """A batch was stored: wake the worker (starting it if needed)."""
        if not (self._thread and self._thread.is_alive()):
            self.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while not self._stop.is_set():
                try:
                    if not self.turn():
                        break
                except Exception:  # the worker must outlive one bad turn; logged
                    log.exception("batch turn failed")
                    break

    def next_org(self) -> str | None:
        """The organisation after the last one served (in name order) that has an unfinished batch."""
        with self.desk.db.read() as s:
            orgs = sorted(set(s.execute(select(Batch.org).where(Batch.status.in_(UNFINISHED))).scalars()))
        if not orgs:
            return None
        later = [o for o in orgs if self._last_org is None or o > self._last_org]
        return (later or orgs)[0]

    def turn(self) -> bool:
        """Serve one organisation's turn; False when no batch has work left."""
        org = self.next_org()
        if org is None:
            return False
        self._last_org = org
        db = self.desk.db
        with db.write() as s:
            b = s.execute(select(Batch).where(Batch.org == org, Batch.status.in_(UNFINISHED))
                          .order_by(Batch.created_at, Batch.id).limit(1)).scalar_one_or_none()
            if b is None:
                return True
            batch_id, engine, top = b.id, b.engine, b.top
            who = Principal(key_id=b.requester_key_id, name=b.requester_name, role=Role(b.requester_role), org=b.org)
            chunk: list[Row] = list(s.execute(
                select(BatchItem.id, BatchItem.description, BatchItem.declared_code, BatchItem.reference,
                       BatchItem.attributes, BatchItem.category)
                .where(BatchItem.batch_id == batch_id, BatchItem.status == "pending")
                .order_by(BatchItem.idx).limit(CHUNK)))
            if not chunk:
                b.status, b.finished_at = "done", utcnow()
                return True
            b.status, b.started_at = "running", b.started_at or utcnow()
        self._embed_together(chunk)
        outcomes = [self._classify(batch_id, row, engine, top) for row in chunk]
        self._store(batch_id, who, chunk, outcomes, top)
        return True

    def process(self, batch_id: str) -> None:
        """Work until no batch is left (tests and tools that run the worker's job in the calling thread)."""
        while self.turn():
            pass

    def _embed_together(self, chunk: list[Row]) -> None:
        """Embed the turn's queries (as typed and with tariff wording) in one call, before classifying them."""
        from ..engines.query import build_query

        try:
            queries = [build_query(row[1], attributes=row[4], category=row[5]) for row in chunk
                       if row[1] and row[1].strip()]
            texts = [t for q in queries for t in dict.fromkeys((q.text, q.expanded))]
            self.desk.runtime().retriever.embed_queries(texts)
        except AssistantError:  # each item reports its own problem when it is classified
            pass

    def _classify(self, batch_id: str, row: Row, engine: str | None, top: int) -> Prepared | str:
        """The prepared classification of one item, or the error message that ends up on the item."""
        item_id, description, declared, _, attributes, category = row
        try:
            return prepare(self.desk, description, context=[], declared_code=declared, engine=engine, top=top,
                           org=None, attributes=attributes, category=category)
        except AssistantError as exc:
            return exc.message
        except Exception as exc:  # one item must not stop the batch; recorded on it
            log.exception("batch %s item %s failed", batch_id, item_id)
            return f"unexpected {type(exc).__name__}"

    def _store(self, batch_id: str, who: Principal, chunk: list[Row], outcomes: list[Prepared | str], top: int) -> None:
        """One transaction per turn: the cases, the items' outcomes and the batch's progress."""
        with self.desk.db.write() as s:
            b = s.get(Batch, batch_id)
            ids = [row[0] for row in chunk]
            items = {i.id: i for i in s.execute(select(BatchItem).where(BatchItem.id.in_(ids))).scalars()}
            for (item_id, description, _, reference, attributes, category), outcome in zip(chunk, outcomes,
                                                                                          strict=True):
                item = items.get(item_id)
                if item is None or item.status != "pending":
                    continue  # cancelled meanwhile, or another process got there first
                if isinstance(outcome, Prepared):
                    case = insert_case(s, who, outcome, description=description, context=[], reference=reference,
                                       top=top, batch_id=batch_id, attributes=attributes, category=category)
                    item.status, item.case_id = "done", case.id
                    b.done += 1
                else:
                    item.status, item.error = "error", outcome
                    b.failed += 1
            if b.status == "running" and b.done + b.failed + b.cancelled >= b.total:
                b.status, b.finished_at = "done", utcnow()
