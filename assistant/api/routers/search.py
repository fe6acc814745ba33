"""Search the indexed sources, and open one cited passage (what a citation chip shows)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from ...errors import NotFoundError
from ...models import Passage, SourceKind
from ..deps import DeskDep, Lookup
from ..errors import error_responses

router = APIRouter(prefix="/v1", tags=["search"])


class SearchHit(BaseModel):
    passage_id: str
    label: str
    kind: SourceKind
    score: float
    excerpt: str
    codes: list[str]
    edition: str
    chapter: str | None = None


class PassageView(BaseModel):
    """A stored passage with what a reader needs to judge it."""

    id: str
    kind: SourceKind
    label: str
    text: str
    edition: str
    source: str
    codes: list[str]
    chapter: str | None = None
    level: int | None = None
    ruling_number: str | None = None
    ruling_date: str | None = None
    ruling_url: str | None = None
    general_rate: str | None = None
    special_rate: str | None = None
    column2_rate: str | None = None
    units: list[str] = []


def _str(meta: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = meta.get(k)
        if v not in (None, ""):
            return str(v)
    return None


def passage_view(p: Passage) -> PassageView:
    m = p.meta or {}
    ruling = p.kind in (SourceKind.RULING, SourceKind.PRECEDENT)  # a precedent has a date and, often, a page
    return PassageView(
        id=p.id, kind=p.kind, label=p.label, text=p.text, edition=p.edition, source=p.source, codes=list(p.codes),
        chapter=p.chapter, level=p.level,
        ruling_number=_str(m, "number", "ruling_number") if ruling else None,
        ruling_date=_str(m, "date", "ruling_date") if ruling else None,
        ruling_url=_str(m, "url") if ruling else None,
        general_rate=_str(m, "general_rate"), special_rate=_str(m, "special_rate"),
        column2_rate=_str(m, "column2_rate"), units=[str(u) for u in m.get("units") or []],
    )


@router.get("/search", response_model=list[SearchHit], responses=error_responses(403, 422),
            summary="Hybrid search over tariff lines, notes, rules and rulings")
def search(
    desk: DeskDep,
    principal: Lookup,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    kind: SourceKind | None = None,
    top: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SearchHit]:
    hits = desk.runtime().retriever.search(q, kinds=[kind] if kind else None, top=top)
    return [
        SearchHit(passage_id=h.passage.id, label=h.passage.label, kind=h.passage.kind, score=float(h.score),
                  excerpt=h.passage.text[:400], codes=list(h.passage.codes), edition=h.passage.edition,
                  chapter=h.passage.chapter)
        for h in hits
    ]


@router.get("/passages/{passage_id}", response_model=PassageView, responses=error_responses(403, 404, 422),
            summary="One cited passage: text, label, kind, edition, ruling date/number, duty rates")
def get_passage(passage_id: Annotated[str, Path(max_length=64)], desk: DeskDep, principal: Lookup) -> PassageView:
    p = desk.runtime().catalog.passage(passage_id)
    if p is None:
        raise NotFoundError(f"no passage {passage_id[:64]!r}")
    return passage_view(p)
