"""Precedent memory at answer time: retrieve labelled examples like the goods, and turn them into votes per code.

The vote is a k-nearest-neighbour vote: per code prefix (heading, subheading, line) the sum of the similarities of
the retrieved precedents that assigned it. Each precedent votes only as deep as its code is trustworthy here
(`Passage.level`: 6 for a UK code or a retired US line, 10 for a current US line).

While scoring a labelled dataset that is also ingested as precedents, an item must not be answered by its own
precedent: pass `exclude`, or wrap the run in `excluding(...)` (what `tariff eval` does per item).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..models import Classification, Passage, SourceKind, Suggestion
from .suggestions import citation

if TYPE_CHECKING:
    from ..index.nomenclature import Nomenclature
    from ..runtime import Runtime

# What to leave out: a callable on the passage (True: leave it out), or a collection of dataset names and
# (dataset, item_id) pairs; a pair (None, item_id) leaves that item out of every dataset.
Exclude = Callable[[Passage], bool] | Iterable[str | tuple[str | None, str]] | None
_EXCLUDED: ContextVar[tuple[Any, ...]] = ContextVar("excluded_precedents", default=())
OVERFETCH = 4
SAME_GOODS = 0.98  # cosine similarity at which a decided case describes the same goods (near-identical text)
DECISIONS = "decisions"  # when something is excluded, fetch this many times `top` so that `top` remain


@dataclass(frozen=True)
class PrecedentHit:
    """One retrieved precedent: the passage, its cosine similarity to the query, and where it comes from."""

    passage: Passage
    similarity: float
    dataset: str
    item_id: str
    codes: tuple[str, ...]  # usable codes, already cut to `level` digits at ingest
    level: int  # how deep its codes may vote: 4, 6, 8 or 10

    @property
    def label(self) -> str:
        return self.passage.label


@contextmanager
def excluding(exclude: Exclude) -> Iterator[None]:
    """Leave precedents out of every retrieval in this context (e.g. the item being scored, or its CV fold)."""
    token = _EXCLUDED.set((*_EXCLUDED.get(), exclude))
    try:
        yield
    finally:
        _EXCLUDED.reset(token)


def _predicate(exclude: Exclude) -> Callable[[Passage], bool] | None:
    if exclude is None:
        return None
    if callable(exclude):
        return exclude
    datasets: set[str] = set()
    pairs: set[tuple[str | None, str]] = set()
    for item in exclude:
        if isinstance(item, tuple):
            pairs.add((item[0], str(item[1])))
        else:
            datasets.add(str(item))
    if not datasets and not pairs:
        return None

    def left_out(p: Passage) -> bool:
        dataset, item = p.meta.get("dataset"), str(p.meta.get("item_id"))
        return dataset in datasets or (dataset, item) in pairs or (None, item) in pairs

    return left_out


def retrieve_precedents(runtime: Runtime, query_text: str, *, top: int = 30, exclude: Exclude = None,
                        lexical: bool = False) -> list[PrecedentHit]:
    """The `top` precedents nearest to the query, minus the excluded ones; [] when none are indexed. Dense by
    default; `lexical=True`: BM25, with `similarity` the score over the request's best (so in (0, 1])."""
    rules = [f for f in map(_predicate, (*_EXCLUDED.get(), exclude)) if f is not None]
    fetch = top * OVERFETCH if rules else top
    if lexical:
        hits = runtime.retriever.lexical(query_text, kinds=[SourceKind.PRECEDENT], top=fetch)
        best = max((float(h.lexical_score or 0.0) for h in hits), default=0.0) or 1.0
    else:
        hits = runtime.retriever.dense(query_text, kinds=[SourceKind.PRECEDENT], top=fetch)
    out: list[PrecedentHit] = []
    for h in hits:
        p = h.passage
        if any(rule(p) for rule in rules):
            continue
        sim = float(h.lexical_score or 0.0) / best if lexical else float(h.dense_score or 0.0)
        out.append(PrecedentHit(
            passage=p, similarity=max(sim, 0.0), dataset=str(p.meta.get("dataset", "")),
            item_id=str(p.meta.get("item_id", "")), codes=p.codes, level=int(p.level or max(map(len, p.codes))),
        ))
        if len(out) == top:
            break
    return out


def precedent_votes(hits: list[PrecedentHit], level: int, *, nomenclature: Nomenclature | None = None,
                    min_similarity: float = 0.0) -> dict[str, float]:
    """Per code prefix of `level` digits: the sum of the similarities of the precedents that assigned it.

    A precedent counts once per prefix (a ruling with two lines of one subheading votes once for it) and only
    when its codes reach `level` digits; with `nomenclature`, only prefixes of its codes vote (level 10: leaves)."""
    votes: dict[str, float] = {}
    for h in hits:
        if h.similarity < min_similarity or h.level < level:
            continue
        for key in {c[:level] for c in h.codes if len(c) >= level}:
            if nomenclature is not None and not _exists(nomenclature, key, level):
                continue
            votes[key] = votes.get(key, 0.0) + h.similarity
    return votes


def _exists(nomenclature: Nomenclature, key: str, level: int) -> bool:
    if level >= 10 or (level == 6 and nomenclature.edition.startswith("HS")):
        return nomenclature.is_leaf(key)
    return key in nomenclature or (level == 8 and nomenclature.get(key + "00") is not None)


def follow_decided_case(result: Classification, runtime: Runtime, query_text: str) -> Classification:
    """An officer already decided these very goods (a `decisions` precedent of near-identical text): that case's
    code becomes the first suggestion, citing the case, whatever the ranker thought. Other suggestions keep their order;
    the confidences keep their ranks' values."""
    if not result.suggestions:
        return result
    hits = [h for h in retrieve_precedents(runtime, query_text, top=5)
            if h.dataset == DECISIONS and h.similarity >= SAME_GOODS and h.level == max(map(len, h.codes))]
    nomenclature = runtime.catalog.nomenclature
    hit = next((h for h in hits if nomenclature.is_leaf(h.codes[0])), None)
    if hit is None or result.suggestions[0].code == hit.codes[0]:
        return result
    code = hit.codes[0]
    found = next((s for s in result.suggestions if s.code == code), None)
    reason = f"{hit.label} decided the same goods as {code}: an officer's decision"
    if found is None:  # not among the suggestions: the line itself and its heading are cited with the case
        line = nomenclature.line(code)
        own = [p for p in (runtime.catalog.line_passage(code), runtime.catalog.line_passage(code[:4])) if p]
        found = Suggestion.for_code(code, description=line.description, path=[*line.path, line.description],
                                    confidence=0.0, rationale="", citations=[citation(p) for p in own],
                                    general_rate=line.general_rate)
    case_citation = citation(hit.passage)
    promoted = found.model_copy(update={
        "rationale": f"{reason}. {found.rationale}".strip(),
        "citations": [case_citation, *[c for c in found.citations if c.source_id != hit.passage.id]][:8],
    })
    rest = [s for s in result.suggestions if s.code != code]
    ordered = [promoted, *rest][: len(result.suggestions)]
    confidences = [s.confidence for s in result.suggestions]  # rank k keeps rank k's value
    return result.model_copy(update={"suggestions": [
        s.model_copy(update={"confidence": c}) for s, c in zip(ordered, confidences, strict=True)]})


