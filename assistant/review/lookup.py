"""Lookups behind the API and the web UI: a tariff line, code autocomplete, search, one cited passage."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from ..codes import format_code, normalize_code
from ..errors import InputError, NotFoundError
from ..index.code_search import code_index, query_words
from ..links import source_url
from ..models import Passage, SourceKind, TariffLine
from .cases import Desk

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
    url: str | None = None  # the official source (USITC, CBP); never the server's file
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
        id=p.id, kind=p.kind, label=p.label, text=p.text, edition=p.edition, url=source_url(p.kind.value, p.label), codes=list(p.codes),
        chapter=p.chapter, level=p.level,
        ruling_number=_str(m, "number", "ruling_number") if ruling else None,
        ruling_date=_str(m, "date", "ruling_date") if ruling else None,
        ruling_url=_str(m, "url") if ruling else None,
        general_rate=_str(m, "general_rate"), special_rate=_str(m, "special_rate"),
        column2_rate=_str(m, "column2_rate"), units=[str(u) for u in m.get("units") or []],
    )


def code_view(desk: Desk, code: str) -> CodeView:
    """One line of the nomenclature with its path, children, rates and chapter notes."""
    digits = normalize_code(code)
    runtime = desk.runtime()
    nomenclature = runtime.nomenclature
    line = nomenclature.line(digits)
    catalog = runtime.catalog
    notes = [NoteRef(id=p.id, label=p.label, excerpt=p.text[:300]) for p in catalog.notes_for_chapter(line.chapter)]
    passage = catalog.line_passage(digits)
    return CodeView(
        code=line.code, display=format_code(line.code), level=line.level, description=line.description,
        full_text=line.full_text(), edition=nomenclature.edition, declarable=nomenclature.is_valid_declaration(digits),
        path=[_ref(ln) for ln in nomenclature.path_lines(digits)], children=[_ref(c) for c in nomenclature.children(digits)],
        general_rate=line.general_rate, general_rate_from=line.general_rate_from, special_rate=line.special_rate,
        column2_rate=line.column2_rate, units=list(line.units), notes=notes, passage_id=passage.id if passage else None,
    )



def find_codes(desk: Desk, *, prefix: str | None = None, q: str | None = None, limit: int = MAX_MATCHES) -> CodeMatches:
    """Lines whose code starts with `prefix` and whose text holds every word of `q` (autocomplete, from an index)."""
    digits = re.sub(r"[.\s\-]", "", prefix or "")
    if digits and not digits.isdigit():
        raise InputError("prefix must contain only digits, dots and spaces")
    words = query_words(q)
    nomenclature = desk.runtime().nomenclature
    items = [
        CodeMatch(**_ref(line).model_dump(), full_text=line.full_text(),
                  declarable=nomenclature.is_valid_declaration(line.code))
        for line in code_index(nomenclature).find(digits=digits, words=words, limit=limit)
    ]
    return CodeMatches(edition=nomenclature.edition, items=items)


def search(desk: Desk, q: str, *, kind: SourceKind | None = None, top: int = 10) -> list[SearchHit]:
    """Hybrid search over the indexed sources."""
    hits = desk.runtime().retriever.search(q, kinds=[kind] if kind else None, top=top)
    return [
        SearchHit(passage_id=h.passage.id, label=h.passage.label, kind=h.passage.kind, score=float(h.score),
                  excerpt=h.passage.text[:400], codes=list(h.passage.codes), edition=h.passage.edition,
                  chapter=h.passage.chapter)
        for h in hits
    ]


def get_passage(desk: Desk, passage_id: str) -> PassageView:
    """One stored passage (what a citation chip opens)."""
    p = desk.runtime().catalog.passage(passage_id)
    if p is None:
        raise NotFoundError(f"no passage {passage_id[:64]!r}")
    return passage_view(p)
