"""Assessing an answer for an officer: calibrated confidence per level, conformal candidate sets, citation support,
and the routing of its case (quick_confirm, review, needs_information)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError
from ..models import CandidateSet, Classification
from .query import build_query, words
from .suggestions import answered_offline
from .support import check_support
from .trust import DEFAULT_COVERAGE, CandidateSetResult, Trust, packaged_trust, route

if TYPE_CHECKING:
    from ..index.catalog import Catalog


def check_coverage(coverage: float | None) -> float:
    """The requested set coverage (default 90 %); InputError outside [0.5, 0.99]."""
    if coverage is None:
        return DEFAULT_COVERAGE
    if not 0.5 <= float(coverage) <= 0.99:
        raise InputError(f"coverage must be between 0.5 and 0.99 (got {coverage})")
    return float(coverage)


def assess(result: Classification, catalog: Catalog, *, coverage: float | None = None,
           trust: Trust | None = None, packaged: bool = True) -> Classification:
    """The answer with confidence_by_level, support and candidate sets. The calibrated probabilities come from the
    offline ranker's candidates (what every engine's answer is drawn from); for the offline engine's answers
    `confidence` becomes the calibrated probability at the suggestion's own level. `packaged=False`: no trust model
    unless one is given (cross-validation must not use the shipped one, fitted on every fold)."""
    coverage = check_coverage(coverage)
    trust = trust if trust is not None else (packaged_trust() if packaged else None)
    # As the engine shares its confidence: among the lines no stated fact contradicts.
    pool = [c for c in result.candidates if not c.contradicted] or result.candidates
    n_words = len(words(build_query(result.description, result.context).text))
    assessed = trust.assess([c.code for c in pool], [c.score for c in pool], words=n_words,
                            evidence=pool[0].signals) if trust and pool else {}
    # The calibration is the offline ranker's: an LLM's own confidence is kept (confidence_by_level is the offline
    # evidence's view of its codes), unless it failed and the offline engine answered.
    offline_answer = answered_offline(result)
    suggestions = []
    for s in result.suggestions:
        update: dict = {"support": check_support(s, result.description + ". " + ". ".join(result.context), catalog)}
        if assessed:
            by_level = {}
            for lv, probs in assessed.items():
                if len(s.code) >= lv:
                    p = probs.get(s.code[:lv])
                    by_level[str(lv)] = round(p if p is not None else trust.levels[lv].rest(0.0), 4)
            update["confidence_by_level"] = by_level = coherent(by_level)
            own = max((lv for lv in assessed if len(s.code) >= lv), default=None)
            if own is not None and offline_answer:
                update["confidence"] = by_level[str(own)]
        suggestions.append(s.model_copy(update=update))
    sets: list[CandidateSet] = []
    if assessed and suggestions:
        chapter = suggestions[0].code[:2]
        for lv, probs in assessed.items():
            cs = trust.candidate_set(probs, lv, coverage=coverage, chapter=chapter)
            sets.append(CandidateSet(coverage=coverage, level=lv, codes=list(cs.codes), open=cs.open))
    six = next((s for s in sets if s.level == 6), None)
    return result.model_copy(update={"suggestions": suggestions, "candidate_sets": sets, "candidate_set": six})


def coherent(by_level: dict[str, float]) -> dict[str, float]:
    """A code cannot be more likely right at a finer level than at a coarser one (its line is right only if its
    subheading is): each level's maps are fitted apart, so a finer probability is capped by the coarser one."""
    out: dict[str, float] = {}
    ceiling = 1.0
    for lv in sorted(by_level, key=int):
        out[lv] = ceiling = min(by_level[lv], ceiling)
    return out


def with_routing(result: Classification) -> Classification:
    """The routing tag from the answer as it stands (after the vague-input check)."""
    sets = {s.level: CandidateSetResult(s.level, s.coverage, tuple(s.codes), s.open) for s in result.candidate_sets}
    top = result.suggestions[0].confidence_by_level.get("6") if result.suggestions else None
    return result.model_copy(update={"routing": route(abstained=result.abstained, sets=sets, top6_confidence=top)})

