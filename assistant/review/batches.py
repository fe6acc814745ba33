"""Batch jobs: up to max_batch_items descriptions (JSON items or a CSV upload): create, read, results (CSV too).

batch_worker.py classifies them in the background."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..auth import Principal
from ..codes import normalize_code
from ..errors import ConflictError, InputError, NotFoundError, TooLarge
from ..store import audit
from ..store.records import NOTICES, BatchResult, BatchResults, BatchView, Person, Status
from ..store.tables import Batch, BatchItem, Case, IdempotencyRecord, SuggestionRow, utcnow
from .batch_worker import BatchWorker
from .cases import Desk
from .idempotency import check_idempotency_key, find_idempotent, idempotent_resource, request_hash
from .requests import ID_PATTERN, OPTIONAL_CODE, Description, EngineName, Reference, check_text, new_id

log = logging.getLogger(__name__)


CSV_COLUMNS = ("description", "reference", "declared_code")
RESULT_COLUMNS = (
    "index", "reference", "description", "declared_code", "status", "error", "case_id", "case_status",
    "final_code", "top_code", "top_display", "top_confidence", "codes", "risk_flag", "risk_reasons", "notice",
)


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Description
    reference: Reference | None = None
    declared_code: str | None = Field(default=None, max_length=40, pattern=OPTIONAL_CODE)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BatchItemIn] = Field(min_length=1, description="at most max_batch_items (default 1,000)")
    engine: EngineName | None = Field(default=None, description="default: the server's (TARIFF_ENGINE)")
    top: int = Field(default=5, ge=1, le=20)


def parse_csv(data: bytes, *, max_items: int) -> list[BatchItemIn]:
    """Items of a CSV upload: a header row with a `description` column; `reference`, `declared_code` optional."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the CSV file is not UTF-8 text") from None
    if "\x00" in text:
        raise InputError("the CSV file contains NUL bytes: it looks like a binary file, not CSV")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise InputError("the CSV file is empty")
        names = [h.strip().lower().replace(" ", "_") for h in header]
        if "description" not in names:
            raise InputError("the CSV file needs a header row with a 'description' column")
        col = {n: names.index(n) for n in CSV_COLUMNS if n in names}
        items: list[BatchItemIn] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(items) >= max_items:
                raise TooLarge(f"the CSV file has more than {max_items} rows; the batch limit is {max_items}")
            line = reader.line_num
            values = {n: (row[i].strip() if i < len(row) else "") for n, i in col.items()}
            if not values["description"]:
                raise InputError(f"CSV line {line}: the description is empty")
            try:
                items.append(BatchItemIn(**{k: v or None for k, v in values.items()}))
            except ValidationError as exc:
                raise InputError(f"CSV line {line}: {exc.errors()[0]['msg']}") from None
    except csv.Error as exc:
        raise InputError(f"the CSV file cannot be read: {exc}") from None
    if not items:
        raise InputError("the CSV file has no rows")
    return items


def _check_items(desk: Desk, req: BatchRequest) -> list[tuple[BatchItemIn, str | None]]:
    limit = desk.settings.max_batch_items
    if len(req.items) > limit:
        raise TooLarge(f"{len(req.items)} items; a batch holds at most {limit}")
    out = []
    for i, item in enumerate(req.items):
        try:
            check_text(item.description, "description", desk.settings)
            declared = normalize_code(item.declared_code) if item.declared_code and item.declared_code.strip() else None
        except InputError as exc:
            raise InputError(f"item {i}: {exc.message}") from None
        out.append((item, declared))
    return out


def _view(b: Batch) -> BatchView:
    finished = b.done + b.failed + (b.cancelled or 0)
    return BatchView(
        id=b.id, status=b.status, org=b.org, requester=Person(key_id=b.requester_key_id, name=b.requester_name),
        engine=b.engine, total=b.total, done=b.done, failed=b.failed, cancelled=b.cancelled or 0,
        progress=round(finished / b.total, 4) if b.total else 1.0,
        created_at=b.created_at, started_at=b.started_at, finished_at=b.finished_at,
    )


def create_batch(
    desk: Desk, principal: Principal, req: BatchRequest, *, idempotency_key: str | None = None,
    worker: BatchWorker | None = None,
) -> BatchView:
    """Store a batch and its items, queue it for the worker; the same Idempotency-Key returns the same batch."""
    principal.require("classify")
    checked = _check_items(desk, req)
    key = check_idempotency_key(idempotency_key)
    digest = request_hash(req.model_dump(mode="json"))
    if key and (existing := find_idempotent(desk.db, principal, "batches", key, digest)):
        return get_batch(desk, principal, existing)
    existing = None
    with desk.db.write() as s:
        # Checked again under the write lock: a concurrent request with the same key may have just won.
        existing = idempotent_resource(s, principal, "batches", key, digest) if key else None
        if existing is None:
            batch = Batch(
                id=new_id(), org=principal.org, requester_key_id=principal.key_id, requester_name=principal.name,
                requester_role=principal.role.value, status="queued", engine=req.engine, top=req.top,
                total=len(checked), done=0, failed=0, cancelled=0, created_at=utcnow(),
            )
            s.add(batch)
            s.flush()
            s.add_all(
                BatchItem(batch_id=batch.id, idx=i, description=item.description.strip(), reference=item.reference,
                          declared_code=declared, status="pending")
                for i, (item, declared) in enumerate(checked)
            )
            if key:
                s.add(IdempotencyRecord(key_id=principal.key_id, scope="batches", idem_key=key, request_hash=digest,
                                        resource_id=batch.id))
            audit.append(s, "batch_created", actor=principal, data={
                "batch_id": batch.id, "org": batch.org, "items": batch.total, "engine": req.engine,
                "request_sha256": digest,
            })
            result = _view(batch)
    if existing:
        return get_batch(desk, principal, existing)
    if worker is not None:
        worker.submit(result.id)
    return result


def _load(s: Session, principal: Principal, batch_id: str) -> Batch:
    principal.require("read_cases")
    b = s.get(Batch, batch_id) if re.fullmatch(ID_PATTERN, batch_id or "-") else None
    if b is None or (not principal.can("read_all_cases") and b.org != principal.org):
        raise NotFoundError(f"no batch {batch_id[:40]!r}")
    return b


def cancel_pending(s: Session, b: Batch, *, actor: Principal | None, reason: str) -> int:
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


def cancel_batch(desk: Desk, principal: Principal, batch_id: str) -> BatchView:
    """Cancel what has not run yet (its organisation's brokers, or officers); 409 once the batch is done."""
    principal.require("classify")
    with desk.db.write() as s:
        b = _load(s, principal, batch_id)
        if b.status == "done":
            raise ConflictError(f"batch {b.id} is done: nothing left to cancel")
        if b.status != "cancelled":
            cancel_pending(s, b, actor=principal, reason=f"cancelled by {principal.name}")
        return _view(b)


def cancel_for_key(s: Session, key_id: str, *, actor: Principal | None) -> int:
    """Inside a key's revocation: cancel the pending items of every unfinished batch it submitted."""
    batches = s.execute(select(Batch).where(Batch.requester_key_id == key_id,
                                            Batch.status.in_(("queued", "running")))).scalars()
    return sum(cancel_pending(s, b, actor=actor, reason="the submitting API key was revoked") for b in list(batches))


def get_batch(desk: Desk, principal: Principal, batch_id: str) -> BatchView:
    with desk.db.read() as s:
        return _view(_load(s, principal, batch_id))


def batch_results(desk: Desk, principal: Principal, batch_id: str) -> BatchResults:
    """Every item with its case's status and top suggestions (items not yet processed show status pending)."""
    with desk.db.read() as s:
        b = _load(s, principal, batch_id)
        items = list(s.execute(select(BatchItem).where(BatchItem.batch_id == b.id).order_by(BatchItem.idx)).scalars())
        cases = {c.id: c for c in s.execute(select(Case).where(Case.batch_id == b.id)).scalars()}
        codes: dict[str, list[SuggestionRow]] = defaultdict(list)
        if cases:
            rows = s.execute(select(SuggestionRow).where(SuggestionRow.case_id.in_(list(cases)))
                             .order_by(SuggestionRow.case_id, SuggestionRow.rank)).scalars()
            for r in rows:
                if r.round == cases[r.case_id].round:
                    codes[r.case_id].append(r)
        out = []
        for it in items:
            c = cases.get(it.case_id or "")
            sugg = codes.get(it.case_id or "", [])
            top = sugg[0] if sugg else None
            out.append(BatchResult(
                index=it.idx, reference=it.reference, description=it.description, declared_code=it.declared_code,
                status=it.status, error=it.error, case_id=it.case_id,
                case_status=Status(c.status) if c else None, final_code=c.final_code if c else None,
                top_code=top.code if top else None, top_display=top.display if top else None,
                top_confidence=top.confidence if top else None, codes=[r.code for r in sugg],
                risk_flag=bool(c and c.risk_flag), risk_reasons=list(c.risk_reasons or []) if c else [],
                notice=NOTICES[Status(c.status)] if c else None,
            ))
        return BatchResults(batch=_view(b), items=out)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection), and some skip leading
    # spaces first: " =1+1" is a formula to them too.
    return "'" + text if text.lstrip(" \t\r\n\f\v\u00a0")[:1] in _FORMULA_START or text[:1] in _FORMULA_START else text


def results_csv(results: BatchResults) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RESULT_COLUMNS)
    for r in results.items:
        w.writerow([
            r.index, _cell(r.reference), _cell(r.description), r.declared_code or "", r.status, _cell(r.error),
            r.case_id or "", r.case_status.value if r.case_status else "", r.final_code or "", r.top_code or "",
            r.top_display or "", "" if r.top_confidence is None else f"{r.top_confidence:.4f}", " ".join(r.codes),
            "yes" if r.risk_flag else "no", _cell(" | ".join(r.risk_reasons)), r.notice or "",
        ])
    return buf.getvalue()
