"""Search the indexed sources, and open one cited passage (what a citation chip shows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ...models import SourceKind
from ...review import lookup
from ...review.lookup import PassageView, SearchHit
from ...review.requests import NO_NUL
from ..deps import DeskDep, Lookup
from ..errors import error_responses

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", response_model=list[SearchHit], responses=error_responses(403, 422),
            summary="Hybrid search over tariff lines, notes, rules and rulings")
def search(
    desk: DeskDep,
    principal: Lookup,
    q: Annotated[str, Query(min_length=1, max_length=500, pattern=NO_NUL)],
    kind: SourceKind | None = None,
    top: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SearchHit]:
    return lookup.search(desk, q, kind=kind, top=top)

@router.get("/passages/{passage_id}", response_model=PassageView, responses=error_responses(403, 404, 422),
            summary="One cited passage: text, label, kind, edition, ruling date/number, duty rates")
def get_passage(passage_id: Annotated[str, Path(max_length=64)], desk: DeskDep, principal: Lookup) -> PassageView:
    return lookup.get_passage(desk, passage_id)
