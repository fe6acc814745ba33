"""Tariff codes: one line with its path, rates and notes; prefix/text autocomplete for the override field."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ...index.code_search import MAX_QUERY_CHARS, MAX_QUERY_WORDS
from ...review import lookup
from ...review.lookup import MAX_MATCHES, CodeMatches, CodeView
from ...review.requests import CODE_PATTERN, NO_NUL
from ..deps import DeskDep, Lookup
from ..errors import error_responses

router = APIRouter(prefix="/v1/codes", tags=["codes"])


@router.get("/{code}", response_model=CodeView, responses=error_responses(403, 404, 422),
            summary="A tariff line: path, rates, notes (dots and spaces accepted)")
def get_code(
    code: Annotated[str, Path(max_length=40, pattern=CODE_PATTERN, examples=["6109.10", "6109 10 00 12"])],
    desk: DeskDep,
    principal: Lookup,
) -> CodeView:
    return lookup.code_view(desk, code)

@router.get("", response_model=CodeMatches, responses=error_responses(403, 422),
            summary="Autocomplete: lines whose code starts with `prefix` and whose text holds every word of `q`",
            description="Without either, the first lines of the nomenclature (its chapters).")
def find_codes(
    desk: DeskDep,
    principal: Lookup,
    prefix: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9.\s\-]*$",
                                        description="leading digits; dots and spaces ignored")] = None,
    q: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS, pattern=NO_NUL,
                                   description=f"words of the description (at most {MAX_QUERY_WORDS})")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCHES)] = MAX_MATCHES,
) -> CodeMatches:
    return lookup.find_codes(desk, prefix=prefix, q=q, limit=limit)
