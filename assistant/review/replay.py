"""Replaying a case: its recorded engine and inputs run again on the current index, and what changed named.

A replay re-derives the case's current round: the same description, added facts and number of suggestions, with
the engine the case was classified by. The suggestions must come back identical (codes, order, confidences to the
stored 4 decimals, cited passages, clarifying question) when the corpus snapshot and engine version are unchanged;
otherwise the report lists each difference and says which of corpus snapshot, edition, engine version and model
changed since. The replay itself is an audit event (`case_replayed`: the outcome, never the description).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..auth import Principal
from ..engines import classify, get_engine
from ..engines.version import engine_version
from ..errors import ConflictError
from ..models import Classification
from ..store import audit
from ..store.redaction import REDACTED
from ..store.tables import SuggestionRow, utcnow
from ..store.views import current_suggestions
from .cases import Desk, load
from .slots import engine_slot


class Difference(BaseModel):
    """One way the replayed suggestions differ from the stored ones."""

    what: str = Field(description="codes | order | confidence | citations | clarifying_question")
    code: str | None = Field(default=None, description="the suggestion it concerns, when one")
    stored: Any = None
    replayed: Any = None


class Replay(BaseModel):
    """The outcome of a replay: identical, or the differences, and what changed since the case was classified."""

    case_id: str
    round: int
    engine: str
    identical: bool
    differences: list[Difference] = Field(default_factory=list)
    stored_codes: list[str]
    replayed_codes: list[str]
    changed: dict[str, bool] = Field(description="corpus_snapshot, edition, engine_version, model: changed since")
    stored: dict[str, str | None] = Field(description="corpus_snapshot, edition, engine_version, model of the case")
    current: dict[str, str | None] = Field(description="the same, now")
    replayed_at: datetime


def replay_case(desk: Desk, principal: Principal, case_id: str) -> Replay:
    """Re-run a case's current round with its recorded engine and inputs; record `case_replayed`."""
    principal.require("review")
    with desk.db.read() as s:
        case = load(s, principal, case_id)
        if case.description == REDACTED:
            raise ConflictError(f"case {case.id} was redacted under the retention policy: there is nothing to replay")
        inputs = (case.description, list(case.context or []), case.engine, case.top, case.attributes, case.category)
        stored_meta = {"corpus_snapshot": case.corpus_snapshot, "edition": case.edition,
                       "engine_version": case.engine_version, "model": case.model}
        rows, question, round_ = current_suggestions(s, case), case.clarifying_question, case.round
    description, context, engine_name, top, attributes, category = inputs
    runtime = desk.runtime()
    engine = get_engine(engine_name, runtime=runtime)
    with engine_slot(engine_name):
        result = classify(description, context=context, attributes=attributes, category=category, engine=engine_name,
                          top=top, runtime=runtime)
    current_meta = {"corpus_snapshot": result.corpus_snapshot, "edition": result.edition,
                    "engine_version": engine_version(engine, runtime), "model": result.model}
    differences = compare(rows, question, result)
    report = Replay(
        case_id=case_id, round=round_, engine=engine_name, identical=not differences, differences=differences,
        stored_codes=[r.code for r in rows], replayed_codes=[x.code for x in result.suggestions],
        changed={k: stored_meta[k] != current_meta[k] for k in stored_meta}, stored=stored_meta,
        current=current_meta, replayed_at=utcnow(),
    )
    with desk.db.write() as s:
        load(s, principal, case_id)
        audit.append(s, "case_replayed", case_id=case_id, actor=principal, data={
            "round": round_, "identical": report.identical, "differences": sorted({d.what for d in differences}),
            "stored_codes": report.stored_codes, "replayed_codes": report.replayed_codes,
            "changed": report.changed, "current": current_meta,
        })
    return report


def compare(rows: list[SuggestionRow], question: str | None, result: Classification) -> list[Difference]:
    """The differences between stored suggestion rows (rank order) and a fresh classification, in a fixed order."""
    out: list[Difference] = []
    before = [r.code for r in rows]
    after = [x.code for x in result.suggestions]
    if set(before) != set(after):
        out.append(Difference(what="codes", stored=before, replayed=after))
    elif before != after:
        out.append(Difference(what="order", stored=before, replayed=after))
    fresh = {x.code: x for x in result.suggestions}
    for row in rows:
        new = fresh.get(row.code)
        if new is None:
            continue
        if round(float(row.confidence), 4) != round(float(new.confidence), 4):
            out.append(Difference(what="confidence", code=row.code, stored=row.confidence, replayed=new.confidence))
        # Passage ids are content hashes: a cited text that changed under the same label shows as a new id.
        was = [{"label": c.get("label"), "source_id": c.get("source_id")} for c in row.citations or []]
        now = [{"label": c.label, "source_id": c.source_id} for c in new.citations]
        if was != now:
            out.append(Difference(what="citations", code=row.code, stored=was, replayed=now))
    if (question or None) != (result.clarifying_question or None):
        out.append(Difference(what="clarifying_question", stored=question, replayed=result.clarifying_question))
    return out
