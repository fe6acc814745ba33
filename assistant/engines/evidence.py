"""What an engine works from: candidate tariff lines with their evidence, and the notes, GRIs and rulings retrieved."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import Candidate, Passage, TariffLine


@dataclass
class ScoredLine:
    """A candidate tariff line with its aggregated evidence score and the passages behind it."""

    line: TariffLine
    score: float
    evidence: list[Passage] = field(default_factory=list)  # passages that lifted this line (lines, HS, rulings)
    notes: list[Passage] = field(default_factory=list)  # notes that apply to it (excluding ones that excluded it)
    reasons: list[str] = field(default_factory=list)  # short human-readable reasons ("heading 6109 matched", ...)
    contradicted: list[str] = field(default_factory=list)  # stated facts the line's wording contradicts
    signals: tuple[float, ...] = ()  # its feature values the trust model reads (engines.features.EVIDENCE)

    def candidate(self) -> Candidate:
        """The line as an answer lists it among its candidates."""
        return Candidate(code=self.line.code, score=round(float(self.score), 5), contradicted=bool(self.contradicted),
                         signals=list(self.signals) if self.signals else None)


@dataclass
class Evidence:
    """Everything retrieved and ranked for one request; the LLM engine builds its prompt from this."""

    query: str  # description plus follow-up context, as searched
    candidates: list[ScoredLine]  # ranked, best first (already filtered by note exclusions)
    notes: list[Passage]  # relevant legal notes (section/chapter/subheading/additional U.S.)
    gris: list[Passage]  # the General Rules of Interpretation
    rulings: list[Passage]  # retrieved ruling passages (precedents)
    excluded: dict[str, str] = field(default_factory=dict)  # chapter or heading -> label of the note excluding it

    def passages(self) -> dict[str, Passage]:
        """Every passage supplied as evidence, by id (what a citation may point at)."""
        out: dict[str, Passage] = {}
        for c in self.candidates:
            for p in (*c.evidence, *c.notes):
                out[p.id] = p
        for p in (*self.notes, *self.gris, *self.rulings):
            out[p.id] = p
        return out
