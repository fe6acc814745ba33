"""The offline engine: hybrid retrieval over tariff lines, evidence aggregated along the hierarchy, no LLM.

How a request is ranked (weights in `params.json`, tuned on the ATLAS dev split only):
1. Tariff lines are scored by dense similarity and BM25 over their full text (ancestors included).
2. Evidence is aggregated up the hierarchy: every line, subheading and heading hit lifts the lines
   under it, so a strong heading match brings in its "Other" lines that never matched on their own.
3. HS 2022 descriptions score each 6-digit subheading and heading a second time (a second wording).
4. Retrieved rulings vote for the codes they assigned (precedents).
5. Legal notes are applied where they can be: a chapter or heading excluded by a "does not cover"
   note that matches the description is demoted, and the note is cited.
6. Scores become calibrated confidences (temperature softmax fitted on the dev split).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..codes import format_code
from ..config import MAX_DESCRIPTION_CHARS
from ..errors import InputError
from ..models import Candidate, Citation, Classification, Passage, SourceKind, Suggestion, TariffLine
from ..sources.prior import CodePrior
from .base import Evidence, ScoredLine
from .exclusions import apply_exclusions
from .facets import clarifying_question, contradictions, stated_facts
from .query import build_query
from .rationale import explain

if TYPE_CHECKING:
    from ..index.catalog import Catalog
    from ..runtime import Runtime


@lru_cache(maxsize=1)
def default_params() -> dict[str, float]:
    text = resources.files(__package__).joinpath("data/params.json").read_text(encoding="utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def _best_by(hits: list, digits: int, weight: float, *, normalise: bool = False) -> dict[str, float]:
    """Best score per code prefix of `digits` (0: the whole code), weighted; BM25 scaled to [0, 1] by the best."""
    out: dict[str, float] = {}
    if not hits or not weight:
        return out
    raw = [(h.passage.codes[0], (h.lexical_score if h.lexical_score is not None else h.dense_score) or 0.0)
           for h in hits if h.passage.codes]
    top = max((s for _, s in raw), default=0.0) if normalise else 1.0
    for code, score in raw:
        key = code[:digits] if digits else code
        value = weight * max(score, 0.0) / (top if top > 0 else 1.0)
        if value > out.get(key, 0.0):
            out[key] = value
    return out


def _add(into: dict[str, float], more: dict[str, float]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value


def check_description(description: str, *, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """The description, stripped; InputError when empty or too long."""
    text = (description or "").strip()
    if not text:
        raise InputError("the product description is empty")
    if len(text) > limit:
        raise InputError(f"the product description is {len(text)} characters; the limit is {limit}")
    return text


class OfflineEngine:
    """Retrieval + evidence ranking; the default engine and the LLM engine's fallback."""

    name = "offline"

    def __init__(self, runtime: Runtime, *, params: dict[str, float] | None = None):
        self.runtime = runtime
        self.params = {**default_params(), **(params or {})}

    # ------------------------------------------------------------------ evidence

    def gather(self, description: str, *, context: list[str] | None = None) -> Evidence:
        """Retrieve and rank candidate lines with the passages behind them."""
        p = self.params
        catalog = self.runtime.catalog
        nomen = catalog.nomenclature
        retriever = self.runtime.retriever
        line_kind = SourceKind.HS if nomen.edition.startswith("HS") else SourceKind.HTS
        q = build_query(description, context)
        prior = self._prior()

        k = int(p["line_k"])
        dense_raw = retriever.dense(q.text, kinds=[line_kind], top=k)
        dense_exp = dense_raw if q.expanded == q.text else retriever.dense(q.expanded, kinds=[line_kind], top=k)
        lexical = retriever.lexical(q.expanded, kinds=[line_kind], top=k)
        passages: dict[str, Passage] = {}
        for h in (*lexical, *dense_exp, *dense_raw):
            passages[h.passage.codes[0]] = h.passage

        # Evidence per node of the hierarchy: the best score of any passage in its subtree.
        head = _best_by(dense_raw, 4, p["h_dense"])
        _add(head, _best_by(dense_exp, 4, p["h_dense_exp"]))
        _add(head, _best_by(lexical, 4, p["h_lexical"], normalise=True))
        line_dense = _best_by(dense_exp, 0, 1.0)
        line_lex = _best_by(lexical, 0, 1.0, normalise=True)
        sub_dense = _best_by(dense_exp, 6, 1.0)

        # A second wording of each HS subheading/heading (only when the national lines are loaded).
        hs_sub: dict[str, float] = {}
        hs_passages: dict[str, Passage] = {}
        if line_kind is SourceKind.HTS and catalog.hs is not None:
            hs_hits = retriever.dense(q.text, kinds=[SourceKind.HS], top=int(p["hs_k"]))
            hs_passages = {h.passage.codes[0]: h.passage for h in hs_hits}
            hs_sub = _best_by(hs_hits, 6, 1.0)
            _add(head, _best_by(hs_hits, 4, p["h_hs"]))

        # Precedents: retrieved rulings vote for the headings and lines they assigned.
        rulings = retriever.dense(q.text, kinds=[SourceKind.RULING], top=int(p["ruling_k"]))
        ruling_vote: dict[str, float] = defaultdict(float)
        ruling_by_head: dict[str, list[Passage]] = defaultdict(list)
        for h in rulings:
            sim = max(h.dense_score or 0.0, 0.0)
            if sim < p["ruling_min_sim"]:
                continue
            for code in h.passage.codes:
                for key in (code[:4], code):
                    ruling_vote[key] = max(ruling_vote[key], sim)
                if h.passage not in ruling_by_head[code[:4]]:
                    ruling_by_head[code[:4]].append(h.passage)
        for h4 in [c for c in ruling_vote if len(c) == 4]:
            head[h4] = head.get(h4, 0.0) + p["h_ruling"] * ruling_vote[h4]
        if prior is not None:
            for h4 in head:
                head[h4] += p["h_prior"] * prior.log_prob(h4)

        top_heads = sorted(head, key=head.get, reverse=True)[: int(p["heading_k"])]
        facts = stated_facts(q.text)
        scored: list[ScoredLine] = []
        for h4 in top_heads:
            for leaf in self._leaves_under(h4):
                code = leaf.code
                own_d, own_l = line_dense.get(code, 0.0), line_lex.get(code, 0.0)
                s = (
                    head[h4]
                    + p["l_dense"] * own_d
                    + p["l_lexical"] * own_l
                    + p["l_sub"] * sub_dense.get(code[:6], 0.0)
                    + p["l_hs"] * hs_sub.get(code[:6], 0.0)
                    + p["l_ruling"] * ruling_vote.get(code, 0.0)
                    + (p["l_prior"] * prior.log_prob(code) if prior is not None else 0.0)
                )
                ev = [passages[c] for c in (code, *reversed(leaf.ancestors)) if c in passages][:3]
                if code[:6] in hs_passages:
                    ev.append(hs_passages[code[:6]])
                ev.extend(ruling_by_head.get(h4, [])[:2])
                reasons = [f"heading {h4} is among the best matches ({head[h4]:.2f})"]
                if own_d or own_l:
                    reasons.append(f"the line itself matched (dense {own_d:.2f}, lexical {own_l:.2f})")
                if hs_sub.get(code[:6]):
                    reasons.append(f"HS 2022 subheading {format_code(code[:6])} matched ({hs_sub[code[:6]]:.2f})")
                if ruling_vote.get(h4):
                    reasons.append(f"a retrieved ruling classified similar goods in heading {h4}")
                if prior is not None and prior.log_prob(code) > prior.log_prob("0000000000"):
                    reasons.append("rulings have used this line before")
                for clash in contradictions(q.text, leaf.full_text(), said=facts) if facts else ():
                    s -= p["contradiction_penalty"]
                    reasons.append(f"demoted: {clash}")
                scored.append(ScoredLine(line=leaf, score=s, evidence=ev, reasons=reasons))

        scored.sort(key=lambda c: c.score, reverse=True)
        notes = self._notes_for(scored[: int(p["notes_for_top"])])
        best_before = scored[0].score if scored else 0.0
        excluded, redirected = apply_exclusions(q.text, scored, notes, penalty=p["exclusion_penalty"])
        have = {c.line.code for c in scored}
        by_label = {n.label: n for n in notes}
        for h4, label in redirected.items():
            # The note sends the goods to another heading: its lines come in at the level the excluded ones had.
            for leaf in self._leaves_under(h4):
                if leaf.code in have:
                    continue
                line_p = catalog.line_passage(leaf.code)
                ev = [x for x in (line_p, by_label.get(label)) if x is not None]
                scored.append(ScoredLine(line=leaf, score=best_before + p["l_dense"] * line_dense.get(leaf.code, 0.0),
                                         evidence=ev, reasons=[f"{label} sends such goods to heading {h4}"]))
        scored.sort(key=lambda c: c.score, reverse=True)
        for c in scored[:20]:
            c.notes = [n for n in notes if (n.chapter == c.line.chapter or c.line.chapter in n.meta.get("chapters", ()))
                       and n.label not in excluded.values()][:2]
        return Evidence(
            query=q.text,
            candidates=scored,
            notes=notes,
            gris=list(catalog.gris),
            rulings=[h.passage for h in rulings],
            excluded=excluded,
        )

    def _prior(self) -> CodePrior | None:
        """The code-frequency prior under TARIFF_HOME, reloaded when the file changes."""
        path = self.runtime.settings.home / "prior.json"
        stamp = path.stat().st_mtime if path.exists() else None
        if stamp != getattr(self, "_prior_stamp", "unset"):
            self._prior_stamp = stamp
            self._prior_value = CodePrior.load(self.runtime.settings.home) if stamp else None
        return self._prior_value

    def _leaves_under(self, heading: str) -> list[TariffLine]:
        return self._leaf_index().get(heading, [])

    @lru_cache(maxsize=4)  # noqa: B019 - one engine per runtime; the index is tied to its nomenclature
    def _leaf_index_for(self, snapshot: str) -> dict[str, list[TariffLine]]:
        index: dict[str, list[TariffLine]] = defaultdict(list)
        for leaf in self.runtime.catalog.nomenclature.leaves():
            index[leaf.code[:4]].append(leaf)
        return dict(index)

    def _leaf_index(self) -> dict[str, list[TariffLine]]:
        return self._leaf_index_for(self.runtime.catalog.snapshot)

    def _notes_for(self, top: list[ScoredLine]) -> list[Passage]:
        catalog = self.runtime.catalog
        chapters: list[str] = []
        for c in top:
            if c.line.chapter not in chapters:
                chapters.append(c.line.chapter)
        out: dict[str, Passage] = {}
        for ch in chapters[:4]:
            for n in catalog.notes_for_chapter(ch):
                out[n.id] = n
        return list(out.values())

    # ------------------------------------------------------------------ answer

    def classify(self, description: str, *, context: list[str] | None = None, top: int = 5) -> Classification:
        """Rank the candidates and return the top `top` suggestions with calibrated confidences and citations."""
        started = time.perf_counter()
        description = check_description(description)
        top = max(1, min(int(top), 50))
        ev = self.gather(description, context=context)
        return self.answer(description, ev, context=context, top=top, started=started)

    def answer(self, description: str, ev: Evidence, *, context: list[str] | None, top: int,
               started: float | None = None) -> Classification:
        catalog = self.runtime.catalog
        best = _diversify(ev.candidates, top) if self.params.get("diversify_suggestions") else ev.candidates[:top]
        pool = ev.candidates[: int(self.params["softmax_k"])]
        probs = dict(zip((c.line.code for c in pool),
                         calibrate([c.score for c in pool], temperature=self.params["temperature"])))
        suggestions = []
        for c in best:
            suggestions.append(
                Suggestion.for_code(
                    c.line.code,
                    description=c.line.description,
                    path=[*c.line.path, c.line.description],
                    confidence=round(probs.get(c.line.code, 0.0), 4),
                    rationale=explain(c.line, notes=c.notes, nomenclature=catalog.nomenclature),
                    citations=_citations(c, catalog),
                    general_rate=c.line.general_rate,
                )
            )
        question, options = clarifying_question(ev.query, ev.candidates[:5])
        return Classification(
            description=description,
            context=list(context or []),
            suggestions=suggestions,
            candidates=[Candidate(code=c.line.code, score=round(c.score, 5)) for c in ev.candidates[:100]],
            engine=self.name,
            model=None,
            edition=catalog.nomenclature.edition,
            corpus_snapshot=catalog.snapshot,
            clarifying_question=question,
            clarifying_options=options,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
        )

    def stream(self, description: str, *, context: list[str] | None = None, top: int = 5):
        """Events for the chat page: the rationale of the best suggestion as text, then the result."""
        result = self.classify(description, context=context, top=top)
        if result.suggestions:
            yield {"type": "token", "text": result.suggestions[0].rationale}
        yield {"type": "result", "classification": result}


def calibrate(scores: list[float], *, temperature: float) -> list[float]:
    """Softmax over the candidates' scores with a temperature fitted on the dev split (see eval/calibrate.py)."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp((s - top) / max(temperature, 1e-6)) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _diversify(candidates: list[ScoredLine], top: int) -> list[ScoredLine]:
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


def _rationale(c: ScoredLine, ev: Evidence) -> str:
    path = " > ".join([*c.line.path[1:], c.line.description])
    why = "; ".join(c.reasons) or "closest line by retrieval"
    notes = f" Notes considered: {', '.join(n.label for n in c.notes)}." if c.notes else ""
    return f"{format_code(c.line.code)} ({path}): {why}. GRI 1 and GRI 6 applied by heading, then subheading.{notes}"


def _citations(c: ScoredLine, catalog: "Catalog") -> list[Citation]:
    """The suggested line and its heading first, then the HS subheading, notes and rulings that contributed."""
    out: dict[str, Citation] = {}
    for passage in [catalog.line_passage(c.line.code), catalog.line_passage(c.line.code[:4]), *c.evidence, *c.notes]:
        if passage is None or passage.id in out:
            continue
        out[passage.id] = Citation(
            label=passage.label,
            kind=passage.kind,
            source_id=passage.id,
            excerpt=passage.text[:400],
            source=passage.source,
            edition=passage.edition,
        )
    return list(out.values())[:8]


def create(runtime: Runtime, engine: Callable[[str], Any]) -> OfflineEngine:
    """The entry point of `tariff_assistant.engines`: offline (pyproject)."""
    return OfflineEngine(runtime)
