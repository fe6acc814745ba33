"""Tariff codes: one line with its path, rates and notes; prefix/text autocomplete for the override field."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from ...codes import format_code, normalize_code
from ...errors import InputError
from ...models import TariffLine
from ...review.requests import CODE_PATTERN
from ..deps import DeskDep, Lookup
from ..errors import error_responses

router = APIRouter(prefix="/v1/codes", tags=["codes"])
MAX_MATCHES = 20


class LineRef(BaseModel):
    code: str
    display: str
    level: int
    description: str


class NoteRef(BaseModel):
    id: str
    label: str
    excerpt: str


class CodeView(BaseModel):
    """A line of the nomenclature as an officer reads it."""

    code: str
    display: str
    level: int
    description: str
    full_text: str
    edition: str
    declarable: bool
    path: list[LineRef]
    children: list[LineRef]
    general_rate: str | None = None
    general_rate_from: str | None = None
    special_rate: str | None = None
    column2_rate: str | None = None
    units: list[str] = []
    notes: list[NoteRef] = []
    passage_id: str | None = None


class CodeMatch(LineRef):
    full_text: str
    declarable: bool


class CodeMatches(BaseModel):
    edition: str
    items: list[CodeMatch]


def _ref(line: TariffLine) -> LineRef:
    return LineRef(code=line.code, display=format_code(line.code), level=line.level, description=line.description)


@router.get("/{code}", response_model=CodeView, responses=error_responses(403, 404, 422),
            summary="A tariff line: path, rates, notes (dots and spaces accepted)")
def get_code(
    code: Annotated[str, Path(max_length=40, pattern=CODE_PATTERN, examples=["6109.10", "6109 10 00 12"])],
    desk: DeskDep,
    principal: Lookup,
) -> CodeView:
    digits = normalize_code(code)
    runtime = desk.runtime()
    nomenclature = runtime.nomenclature
    line = nomenclature.line(digits)
    catalog = runtime.catalog
    notes: list[NoteRef] = []
    notes_for = getattr(catalog, "notes_for_chapter", None)
    if notes_for is not None:
        notes = [NoteRef(id=p.id, label=p.label, excerpt=p.text[:300]) for p in notes_for(line.chapter)]
    line_passage = getattr(catalog, "line_passage", None)
    passage = line_passage(digits) if line_passage is not None else None
    return CodeView(
        code=line.code, display=format_code(line.code), level=line.level, description=line.description,
        full_text=line.full_text(), edition=nomenclature.edition, declarable=nomenclature.is_valid_declaration(digits),
        path=[_ref(ln) for ln in nomenclature.path_lines(digits)], children=[_ref(c) for c in nomenclature.children(digits)],
        general_rate=line.general_rate, general_rate_from=line.general_rate_from, special_rate=line.special_rate,
        column2_rate=line.column2_rate, units=list(line.units), notes=notes, passage_id=passage.id if passage else None,
    )


@router.get("", response_model=CodeMatches, responses=error_responses(403, 422),
            summary="Autocomplete: lines whose code starts with `prefix` and whose text holds every word of `q`",
            description="Without either, the first lines of the nomenclature (its chapters).")
def find_codes(
    desk: DeskDep,
    principal: Lookup,
    prefix: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9.\s\-]*$",
                                        description="leading digits; dots and spaces ignored")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words of the description")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCHES)] = MAX_MATCHES,
) -> CodeMatches:
    digits = re.sub(r"[.\s\-]", "", prefix or "")
    if digits and not digits.isdigit():
        raise InputError("prefix must contain only digits, dots and spaces")
    words = [w for w in re.findall(r"\w+", (q or "").lower()) if w]
    nomenclature = desk.runtime().nomenclature
    items: list[CodeMatch] = []
    for line in sorted(nomenclature.lines(), key=lambda ln: ln.code):
        if digits and not line.code.startswith(digits):
            continue
        text = line.full_text()
        if words and not all(w in text.lower() for w in words):
            continue
        items.append(CodeMatch(**_ref(line).model_dump(), full_text=text,
                               declarable=nomenclature.is_valid_declaration(line.code)))
        if len(items) >= limit:
            break
    return CodeMatches(edition=nomenclature.edition, items=items)
