"""Batch jobs: up to max_batch_items descriptions (JSON items or a CSV upload): create, read, results (CSV too).

batch_worker.py classifies them in the background."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import defaultdict
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import Principal
from ..codes import normalize_code
from ..errors import ConflictError, InputError, NotFoundError, TooLarge
from ..store import audit
from ..store.cancellation import cancel_pending
from ..store.records import NOTICES, BatchResult, BatchResults, BatchView, Person, Status
from ..store.tables import Batch, BatchItem, Case, IdempotencyRecord, SuggestionRow, utcnow
from .batch_worker import BatchWorker
from .cases import Desk
from .idempotency import check_idempotency_key, find_idempotent, idempotent_resource, request_hash
from .requests import (
    ID_PATTERN,
    NO_NUL,
    OPTIONAL_CODE,
    AttributeName,
    AttributeScalar,
    CategoryPart,
    Description,
    EngineName,
    Reference,
    category_path,
    check_text,
    new_id,
)
from .requests import text as constrained_text

log = logging.getLogger(__name__)


CSV_COLUMNS = ("description", "reference", "declared_code", "category")
ATTR_PREFIX = "attr:"  # CSV: one column per attribute ("attr:material"), or a JSON object in `attributes`
RESULT_COLUMNS = (
    "index", "reference", "description", "declared_code", "status", "error", "case_id", "case_status",
    "final_code", "top_code", "top_display", "top_confidence", "codes", "risk_flag", "risk_reasons", "notice",
    "top_description", "top_general_rate", "routing",
)


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Description
    reference: Reference | None = None
    declared_code: str | None = Field(default=None, max_length=40, pattern=OPTIONAL_CODE)
    attributes: dict[AttributeName, AttributeScalar | Annotated[list[AttributeScalar], Field(max_length=20)]] | None = (
        Field(default=None, max_length=50, description="listing attributes, name -> value"))
    category: constrained_text(max_length=1000, pattern=NO_NUL) | Annotated[list[CategoryPart], Field(max_length=12)] | None = Field(
        default=None, description='category path: "Apparel > T-shirts" or ["Apparel", "T-shirts"]')


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        {"description": "Men's T-shirt, 100% cotton, knitted jersey", "reference": "L1"},
        {"description": "Wood screws of stainless steel, 40 mm", "reference": "L2", "declared_code": "7318.12"},
    ], "top": 3}]})

    items: list[BatchItemIn] = Field(min_length=1, description="at most max_batch_items (default 1,000)")
    engine: EngineName | None = Field(default=None, description="default: the server's (TARIFF_ENGINE)")
    top: int = Field(default=5, ge=1, le=20)


def csv_attributes(row: list[str], columns: dict[str, int], json_col: int | None, line: int) -> dict | None:
    """An item's attributes from its `attributes` JSON cell and `attr:NAME` cells (blank cells are left out).

    Raises InputError naming the CSV line when the JSON cell is not an object."""
    out: dict = {}
    if json_col is not None and json_col < len(row) and row[json_col].strip():
        try:
            parsed = json.loads(row[json_col])
        except json.JSONDecodeError:
            raise InputError(f"CSV line {line}: 'attributes' must be a JSON object, e.g. {{\"material\": \"cotton\"}}"
                             ) from None
        if not isinstance(parsed, dict):
            raise InputError(f"CSV line {line}: 'attributes' must be a JSON object of name -> value")
        out.update(parsed)
    for name, i in columns.items():
        if i < len(row) and row[i].strip():
            out[name] = row[i].strip()
    return out or None


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
                          declared_code=declared, status="pending", attributes=item.attributes,
                          category=category_path(item.category))
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
                top_description=top.description if top else None, top_general_rate=top.general_rate if top else None,
                routing=_routing(c),
            ))
        return BatchResults(batch=_view(b), items=out)


def _routing(c: Case | None) -> str | None:
    """Where the item's case went: decided, an officer's priority review (risk flag), or its routing tag
    (quick_confirm, review, needs_information)."""
    if c is None:
        return None
    if Status(c.status) not in (Status.PENDING_REVIEW, Status.OVERRIDE_PENDING_APPROVAL, Status.NEEDS_INFO):
        return "decided"
    return "priority_review" if c.risk_flag else (c.routing or "review")


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
            _cell(r.top_description), r.top_general_rate or "", r.routing or "",
        ])
    return buf.getvalue()
