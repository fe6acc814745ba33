"""The batch worker: one background thread that classifies queued batches, a chunk of items per transaction."""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy import select

from ..auth import Principal, Role
from ..errors import AssistantError
from ..store.tables import Batch, BatchItem, utcnow
from .cases import Desk, Prepared, insert_case, prepare

log = logging.getLogger(__name__)

CHUNK = 16  # items classified, then stored in one transaction (progress moves in these steps)
# item id, description, declared code, reference, listing attributes, category path
Row = tuple[int, str, str | None, str | None, dict | None, list | None]


class BatchWorker:
    """One background thread that classifies queued batches item by item (each item its own transaction)."""

    def __init__(self, desk: Desk):
        self.desk = desk
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (idempotent) and re-queue batches a previous process left unfinished."""
        with self._start_lock:
            if self._thread and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tariff-batches", daemon=True)
            self._thread.start()
        with self.desk.db.read() as s:
            for (bid,) in s.execute(select(Batch.id).where(Batch.status != "done").order_by(Batch.created_at)):
                self._queue.put(bid)

    def submit(self, batch_id: str) -> None:
        if not (self._thread and self._thread.is_alive()):
            self.start()  # start() re-queues every unfinished batch, this one included
            return
        self._queue.put(batch_id)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            bid = self._queue.get()
            if bid is None:
                break
            try:
                self.process(bid)
            except Exception:  # the worker must outlive one bad batch; logged
                log.exception("batch %s failed", bid)

    def process(self, batch_id: str) -> None:
        """Classify every pending item of a batch, then mark it done."""
        db = self.desk.db
        with db.write() as s:
            b = s.get(Batch, batch_id)
            if b is None or b.status == "done":
                return
            b.status, b.started_at = "running", b.started_at or utcnow()
            who = Principal(key_id=b.requester_key_id, name=b.requester_name, role=Role(b.requester_role), org=b.org)
            engine, top = b.engine, b.top
        with db.read() as s:
            pending = list(s.execute(select(BatchItem.id, BatchItem.description, BatchItem.declared_code,
                                            BatchItem.reference, BatchItem.attributes, BatchItem.category)
                                     .where(BatchItem.batch_id == batch_id, BatchItem.status == "pending")
                                     .order_by(BatchItem.idx)))
        for start in range(0, len(pending), CHUNK):
            if self._stop.is_set():
                return  # the rest stays pending; the next start resumes it
            chunk = pending[start : start + CHUNK]
            self._embed_together(chunk)
            outcomes = [self._classify(batch_id, row, engine, top) for row in chunk]
            self._store(batch_id, who, chunk, outcomes, top)
        with db.write() as s:
            b = s.get(Batch, batch_id)
            b.status, b.finished_at = "done", utcnow()

    def _embed_together(self, chunk: list[Row]) -> None:
        """Embed the chunk's queries (as typed and with tariff wording) in one call: much faster than one by one."""
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
                           attributes=attributes, category=category)
        except AssistantError as exc:
            return exc.message
        except Exception as exc:  # one item must not stop the batch; recorded on it
            log.exception("batch %s item %s failed", batch_id, item_id)
            return f"unexpected {type(exc).__name__}"

    def _store(self, batch_id: str, who: Principal, chunk: list[Row], outcomes: list[Prepared | str], top: int) -> None:
        """One transaction per chunk: the cases, the items' outcomes and the batch's progress."""
        with self.desk.db.write() as s:
            b = s.get(Batch, batch_id)
            ids = [row[0] for row in chunk]
            items = {i.id: i for i in s.execute(select(BatchItem).where(BatchItem.id.in_(ids))).scalars()}
            for (item_id, description, _, reference, attributes, category), outcome in zip(chunk, outcomes, strict=True):
                item = items.get(item_id)
                if item is None or item.status != "pending":
                    continue  # another process got there first
                if isinstance(outcome, Prepared):
                    case = insert_case(s, who, outcome, description=description, context=[], reference=reference,
                                       top=top, batch_id=batch_id, attributes=attributes, category=category)
                    item.status, item.case_id = "done", case.id
                    b.done += 1
                else:
                    item.status, item.error = "error", outcome
                    b.failed += 1
