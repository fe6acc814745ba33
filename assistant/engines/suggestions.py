"""From ranked candidates to what a user sees: confidences, one line per subheading, reasons and citations."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..codes import format_code
from ..models import Citation, Passage, Suggestion
from .evidence import ScoredLine
from .features import INDEX, Signals

if TYPE_CHECKING:
    from ..index.catalog import Catalog


def calibrate(scores: list[float], *, temperature: float) -> list[float]:
    """Softmax over the candidates' scores (the ranker's own temperature is fitted on out-of-fold scores)."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp((s - top) / max(temperature, 1e-6)) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


_REASON_FEATURES = ("dense_4", "dense_line", "lex_line", "hs_6", "prec_6_count", "ruling_4", "redirected", "excluded",
                    "contradictions")


def reasons(code: str, row: np.ndarray, s: Signals) -> list[str]:
    """What lifted the line, in tariff words (scores only as figures in brackets)."""
    f = {name: float(row[INDEX[name]]) for name in _REASON_FEATURES}
    out = [f"heading {code[:4]} matched the description (similarity {f['dense_4']:.2f})"]
    if f["dense_line"] or f["lex_line"]:
        out.append(f"the line itself matched (dense {f['dense_line']:.2f}, lexical {f['lex_line']:.2f})")
    if f["hs_6"]:
        out.append(f"HS 2022 subheading {format_code(code[:6])} matched ({f['hs_6']:.2f})")
    if f["prec_6_count"]:
        out.append(f"{int(f['prec_6_count'])} similar past classification(s) used subheading {format_code(code[:6])}")
    if f["ruling_4"]:
        out.append(f"a retrieved ruling classified similar goods in heading {code[:4]}")
    if f["redirected"]:
        out.append(f"a legal note sends such goods to heading {code[:4]}")
    if f["excluded"]:
        out.append(f"demoted: a legal note excludes such goods from chapter {code[:2]}")
    if f["contradictions"]:
        out.append("demoted: the line contradicts a stated fact")
    return out


def subheading_first(codes: list[str], probs: dict[str, float]) -> list[str]:
    """Codes (ranker order) grouped by 6-digit subheading, the most probable subheading first: the sum of its lines'
    confidences `probs`, i.e. the probability that the subheading is right whichever of its lines is; each group in
    ranker order; codes without a share (beyond the softmax pool, or contradicted) keep their order after them."""
    mass: dict[str, float] = {}
    for code, p in probs.items():
        mass[code[:6]] = mass.get(code[:6], 0.0) + p
    order = {c: i for i, c in enumerate(codes)}
    return sorted(codes, key=lambda c: (-mass.get(c[:6], 0.0), order[c]))


def answered_offline(answer: Any) -> bool:
    """Whether the offline engine's ranking made this answer (a Classification or a stored case): its own engine, or
    an LLM answer degraded to it. Such an answer lists suggestions by subheading probability and its confidences are
    the calibrated ones."""
    return answer.engine == "offline" or bool(answer.degraded)


def headline(s: Suggestion, *, by_subheading: bool) -> tuple[float, str]:
    """The probability a listed suggestion leads with, and its label. The offline engine lists its suggestions by
    their subheading's probability (`by_subheading` below), so that is what each leads with: a line's own probability
    can be lower than the next line's (out of fold, in 12 % of US answers: a subheading whose mass is spread over
    several lines). Its own level's probability stays in `confidence` and in the per-level line. Answers listed
    otherwise (an LLM's order) lead with their own confidence."""
    p6 = s.confidence_by_level.get("6")
    if by_subheading and p6 is not None and len(s.code) > 6:
        return p6, f"subheading {format_code(s.code[:6])}"
    return s.confidence, "confidence"


def by_subheading(candidates: list[ScoredLine], probs: dict[str, float]) -> list[ScoredLine]:
    """The candidates in the order of `subheading_first` (how the answer lists its suggestions; out of fold it puts
    the right subheading first more often than the single best line does: the ranker's model card)."""
    at = {c.line.code: c for c in candidates}
    return [at[code] for code in subheading_first([c.line.code for c in candidates], probs)]


def diversify(candidates: list[ScoredLine], top: int) -> list[ScoredLine]:
    """The best line of each distinct 6-digit subheading: five alternatives, not five suffixes of one line."""
    out: list[ScoredLine] = []
    seen: set[str] = set()
    for c in candidates:
        if c.line.code[:6] not in seen:
            seen.add(c.line.code[:6])
            out.append(c)
            if len(out) == top:
                break
    return out


def citation(passage: Passage) -> Citation:
    """A stored passage as a citation (its official link is added by the Citation model)."""
    return Citation(label=passage.label, kind=passage.kind, source_id=passage.id, excerpt=passage.text[:400],
                    source=passage.source, edition=passage.edition)


def citations(c: ScoredLine, catalog: Catalog) -> list[Citation]:
    """The suggested line and its heading first, then the HS subheading, notes and rulings that contributed."""
    out: dict[str, Citation] = {}
    for passage in [catalog.line_passage(c.line.code), catalog.line_passage(c.line.code[:4]), *c.evidence, *c.notes]:
        if passage is not None and passage.id not in out:
            out[passage.id] = citation(passage)
    return list(out.values())[:8]
