"""Officer decisions as precedents: a confirmed or overridden case teaches the assistant, cited as "Case <id>".

`learn_from_case` makes the index agree with the case as it now stands: a final case (confirmed or overridden, with
a final code, not redacted) is one precedent of the deployment (dataset `decisions`); any other state - rejected,
reopened, an override awaiting approval, superseded by a rejection, or redacted - holds none. Each case has its own
source key, so a correction replaces the precedent and a redaction removes it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..sources.precedents import CodeCheck, Precedent, precedent_passage
from ..store.records import FINAL, Status
from ..store.redaction import REDACTED
from ..store.tables import Case

if TYPE_CHECKING:
    from ..models import Passage
    from ..runtime import Runtime
    from .cases import Desk

log = logging.getLogger(__name__)
DATASET = "decisions"
_checks: dict[str, CodeCheck] = {}  # corpus snapshot -> code check (building one reads every line)


def source_key(case_id: str) -> str:
    return f"precedents:{DATASET}:{case_id}"


def case_precedent(case: Case, runtime: Runtime) -> Passage | None:
    """The precedent a case stands for now, or None (not final, no code, redacted, code gone from the schedule)."""
    if Status(case.status) not in FINAL or not case.final_code or case.description == REDACTED:
        return None
    facts = [c for c in (case.context or []) if c and c != REDACTED]
    text = ". ".join(part.strip().rstrip(".") for part in (case.description, *facts) if part.strip())
    record = Precedent(description=text, codes=(case.final_code,), dataset=DATASET, item_id=case.id,
                       jurisdiction="us", date=case.updated_at.date().isoformat() if case.updated_at else None)
    catalog = runtime.catalog
    check = _checks.get(catalog.snapshot)
    if check is None:
        _checks.clear()
        check = _checks[catalog.snapshot] = CodeCheck(catalog.nomenclature)
    return precedent_passage(record, check)


def learn_from_case(desk: Desk, case_id: str) -> bool:
    """Index (or un-index) the case's precedent after a decision or a redaction; True when it holds one now."""
    with desk.db.read() as s:
        case = s.get(Case, case_id)
        runtime = desk.runtime()
        learn = case is not None and desk.settings.learn_from_decisions
        passage = case_precedent(case, runtime) if learn else None
    runtime.index_passages([passage] if passage else [], source_key=source_key(case_id))
    return passage is not None


def learn_quietly(desk: Desk, case_id: str) -> None:
    """`learn_from_case` after a decision is stored: the decision stands even when the index cannot be written."""
    try:
        learn_from_case(desk, case_id)
    except Exception:  # noqa: BLE001 - logged with its traceback; `tariff cases relearn` repairs it
        log.exception("case %s: decision stored, but its precedent could not be indexed", case_id)


def relearn_all(desk: Desk) -> int:
    """`learn_from_case` for every case an officer has decided; the number that are precedents now."""
    from sqlalchemy import select

    with desk.db.read() as s:
        ids = list(s.execute(select(Case.id).where(Case.decision_id.is_not(None)).order_by(Case.id)).scalars())
    return sum(learn_from_case(desk, case_id) for case_id in ids)
