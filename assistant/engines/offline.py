"""The offline engine: retrieval over tariff lines, HS 2022, rulings and precedents, then a learned ranker; no LLM.

How a request is ranked:
1. Tariff lines are retrieved by dense similarity (raw and thesaurus-expanded query, and the raw query's vector
   through the learned query adapter, adapter.py) and BM25 over their full text; HS 2022 subheadings, the ruling
   letters and the precedents (labelled examples) are retrieved too.
2. Candidates are every line of the best headings of each signal (so a strong heading match or a precedent
   vote brings in its "Other" lines that never matched on their own), and of headings a legal note sends the goods to.
3. Each candidate gets one feature row (features.py: evidence at line, subheading, heading and chapter level,
   precedent votes, the code prior, note exclusions, stated-fact contradictions, the line's shape).
4. The ranker (ranker.py, trained by `tariff train ranker` with grouped cross-validation) scores the rows;
   confidences are a softmax at a temperature fitted on out-of-fold scores.
5. Lines a stated fact contradicts (facets.contradictions: "not of cotton" against "Of cotton") go below every other
   line and get no share of the confidence: what the requester states outranks statistical evidence.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import MAX_DESCRIPTION_CHARS
from ..errors import InputError
from ..index.catalog import no_gc
from ..models import Classification, Passage, SourceKind, Suggestion, TariffLine
from ..sources.prior import CodePrior
from .adapter import QueryAdapter
from .evidence import Evidence, ScoredLine
from .exclusions import apply_exclusions
from .facets import contradictions, open_question, stated_facts
from .features import EVIDENCE_COLUMNS, INDEX, PrecedentVote, Signals, feature_matrix
from .precedents import retrieve_precedents
from .query import Query, build_query, content_stems, with_listing, words
from .ranker import Ranker, packaged_ranker
from .rationale import explain
from .suggestions import by_subheading, calibrate, citations, diversify, reasons

if TYPE_CHECKING:
    from ..index.catalog import Catalog
    from ..runtime import Runtime


# Retrieval depths (plain constants: how much is fetched, not how it is weighed).
LINE_K = 300  # tariff lines fetched by each of dense (raw and expanded query) and BM25
HS_K = 100  # HS 2022 subheadings/headings
RULING_K = 8  # ruling letters
PRECEDENT_FETCH = 60  # precedents fetched (some may be left out: cross-validation)
PRECEDENT_K = 30  # precedents that vote
HEADINGS_PER_SIGNAL = 10  # the best headings of each signal become candidates (all their lines)
# Lines are scored only under the candidate headings within the best HEADING_RANK_ROWS by dense, lexical, precedent or
# adapted evidence (heading_ranks, among all candidates) and those a note sends the goods to. Chosen out of fold on
# the dev sets with the ranker of the time (issue 11, item 6): ~40 % fewer rows, the same best line for 98 % of
# items, 6-digit top-1 unchanged within 0.2 points; 12 kept 77 % of the rows.
HEADING_RANK_ROWS = 8
NOTE_CHAPTERS = 4  # chapters whose notes are checked for exclusions
SOFTMAX_K = 50  # candidates the confidences are shared among
EVIDENCE_K = 100  # ranked candidates kept in the Evidence (what the LLM engine and the candidate list see)


def best_by_prefix(hits: list, *, normalise: bool = False, levels: tuple[int, ...] = (0, 6, 4, 2)) -> dict[str, float]:
    """Best score per code and per prefix of 6/4/2 digits; BM25 scaled to [0, 1] by the request's best. Scores of 0
    or less are left out (a code a signal does not name reads 0)."""
    out: dict[str, float] = {}
    raw = [(h.passage.codes[0], (h.lexical_score if h.lexical_score is not None else h.dense_score) or 0.0)
           for h in hits if h.passage.codes]
    top = max((s for _, s in raw), default=0.0) if normalise else 1.0
    scale = top if top > 0 else 1.0
    get = out.get
    for code, score in raw:
        value = max(score, 0.0) / scale
        if value <= 0.0:
            continue
        for n in levels:
            if n and len(code) < n:
                continue
            key = code[:n] if n else code
            if value > get(key, 0.0):
                out[key] = value
    return out


def check_description(description: str, *, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """The description, stripped; InputError when empty or too long."""
    text = (description or "").strip()
    if not text:
        raise InputError("the product description is empty")
    if len(text) > limit:
        raise InputError(f"the product description is {len(text)} characters; the limit is {limit}")
    return text


class OfflineEngine:
    """Retrieval + a learned ranker over the evidence; the default engine and the LLM engine's fallback."""

    name = "offline"

    def __init__(self, runtime: Runtime, *, ranker: Ranker | None = None,
                 leave_out: Callable[[PrecedentVote], bool] | None = None, packaged: bool = True):
        self.runtime = runtime
        # packaged=False: no shipped ranker (training builds the rows a new one learns from, whatever features the
        # shipped one was trained on).
        self.ranker = ranker if ranker is not None else (packaged_ranker() if packaged else None)
        # Cross-validation: precedents this returns True for are never retrieved (the item's own fold).
        self.leave_out = leave_out
        # The query adapter the ranker was trained with (training sets each fold's own).
        self.adapter: QueryAdapter | None = self.ranker.adapter if self.ranker is not None else None

    # ------------------------------------------------------------------ evidence

    def gather(self, description: str, *, context: list[str] | None = None) -> Evidence:
        """Retrieve the evidence, build a feature row per candidate line and rank them with the learned ranker."""
        q = build_query(description, context)
        signals, found = self.collect(q)
        signals = self.keep_precedents(signals)
        for v in signals.precedents:  # only the precedents that voted are evidence (never a left-out one)
            bucket = found.precedents.setdefault(v.code[:6], [])
            passage = found.precedent_passages[(v.dataset, v.item_id)]
            if passage not in bucket:
                bucket.append(passage)
        leaves, X = self.candidate_rows(q, signals)
        scores = self.score(X)
        # A note that excludes the goods from one chapter and sends them to a heading is evidence for that heading.
        sending = {n.label: n for ch in signals.excluded for n in self.runtime.catalog.notes_for_chapter(ch)}
        scored: list[ScoredLine] = []
        # A fact the requester states outranks statistical evidence: a line its wording contradicts ("not of cotton"
        # against "Of cotton") goes below every line it does not, whatever the ranker learned (the contradictions
        # feature is rare in training, so the ranker alone cannot be relied on to demote it).
        clashed = X[:, INDEX["contradictions"]] > 0 if len(leaves) else np.zeros(0, dtype=bool)
        said = stated_facts(q.text)
        # Best first, ties broken by code (never by order of retrieval); only the best EVIDENCE_K are kept.
        order = np.lexsort((np.array([ln.code for ln in leaves]), -scores, clashed)) if len(leaves) else ()
        kept = order[:EVIDENCE_K]
        trust_rows = dict(zip(kept, X[kept][:, list(EVIDENCE_COLUMNS)].tolist())) if len(leaves) else {}  # for trust
        for i in kept:
            leaf, row, code = leaves[i], X[i], leaves[i].code
            ev = [found.lines[c] for c in (code, *reversed(leaf.ancestors)) if c in found.lines][:3]
            if code[:6] in found.hs:
                ev.append(found.hs[code[:6]])
            ev.extend(found.precedents.get(code[:6], [])[:2])
            ev.extend(found.rulings_by_head.get(code[:4], [])[:2])
            if code[:4] in signals.redirected:  # every excluding note that names this heading
                ev[1:1] = [n for label, n in sending.items() if label in signals.excluded.values() and code[:4] in n.text]
            clashes = contradictions(q.text, self._leaf_texts()[code], said=said) if clashed[i] else []
            scored.append(ScoredLine(line=leaf, score=float(scores[i]), evidence=ev,
                                     reasons=reasons(code, row, signals), contradicted=clashes,
                                     signals=tuple(trust_rows[i])))
        notes = self._notes_for(scored[:10])
        excluded = dict(signals.excluded)
        for c in scored[:20]:
            c.notes = [n for n in notes if (n.chapter == c.line.chapter or c.line.chapter in n.meta.get("chapters", ()))
                       and n.label not in excluded.values()][:2]
        return Evidence(
            query=q.text,
            candidates=scored,
            notes=notes,
            gris=list(self.runtime.catalog.gris),
            rulings=found.rulings,
            excluded=excluded,
        )

    def score(self, X: np.ndarray) -> np.ndarray:
        """The ranker's scores; without a trained ranker, the line's and its heading's dense similarity."""
        if self.ranker is None:
            return X[:, INDEX["dense_line"]] + X[:, INDEX["dense_4"]] if len(X) else np.zeros(0)
        return self.ranker.predict(X)

    def collect(self, q: Query) -> tuple[Signals, Found]:
        """Everything retrieval finds for the query: the signals per code prefix and the passages behind them."""
        catalog = self.runtime.catalog
        retriever = self.runtime.retriever
        line_kind = SourceKind.HS if catalog.nomenclature.edition.startswith("HS") else SourceKind.HTS
        retriever.embed_queries([q.text, q.expanded])  # one model call for both forms
        # The raw and expanded queries and the adapted vector, scored in one pass over the lines' vectors.
        vecs = [retriever.embed_query(q.text)]
        if q.expanded != q.text:
            vecs.append(retriever.embed_query(q.expanded))
        adapted_vec = self._adapted_vector(q)
        if adapted_vec is not None:
            vecs.append(adapted_vec)
        line_hits = retriever.dense_vectors(vecs, kinds=[line_kind], top=LINE_K)
        dense_raw = line_hits[0]
        dense_exp = line_hits[1] if q.expanded != q.text else dense_raw
        adapted = line_hits[-1] if adapted_vec is not None else []
        lexical = retriever.lexical(q.expanded, kinds=[line_kind], top=LINE_K)
        found = Found()
        for h in (*adapted, *lexical, *dense_exp, *dense_raw):
            found.lines[h.passage.codes[0]] = h.passage
        hs: dict[str, float] = {}
        if line_kind is SourceKind.HTS and catalog.hs is not None:
            hs_hits = retriever.dense(q.text, kinds=[SourceKind.HS], top=HS_K)
            found.hs = {h.passage.codes[0]: h.passage for h in hs_hits}
            hs = best_by_prefix(hs_hits, levels=(6, 4))
        ruling: dict[str, float] = {}
        ruling_hits = retriever.dense(q.text, kinds=[SourceKind.RULING], top=RULING_K)
        found.rulings = [h.passage for h in ruling_hits]
        for h in ruling_hits:
            sim = max(h.dense_score or 0.0, 0.0)
            for code in h.passage.codes:
                for key in (code[:4], code):
                    ruling[key] = max(ruling.get(key, 0.0), sim)
                found.rulings_by_head.setdefault(code[:4], [])
                if h.passage not in found.rulings_by_head[code[:4]]:
                    found.rulings_by_head[code[:4]].append(h.passage)
        votes: list[PrecedentVote] = []
        for h in retrieve_precedents(self.runtime, q.text, top=PRECEDENT_FETCH):
            for code in h.codes:
                votes.append(PrecedentVote(code=code, similarity=h.similarity, dataset=h.dataset, item_id=h.item_id))
            found.precedent_passages[(h.dataset, h.item_id)] = h.passage
        lex_votes = self.lexical_precedents(q, found)
        signals = Signals(
            query_words=len(words(q.text)),
            dense=best_by_prefix(dense_raw),
            dense_exp=best_by_prefix(dense_exp),
            lexical=best_by_prefix(lexical, normalise=True),
            hs=hs,
            ruling=ruling,
            precedents=votes,
            lex_precedents=lex_votes,
            prior=self._prior(),
            adapted=best_by_prefix(adapted),
        )
        return signals, found

    def adapted_hits(self, q: Query) -> list:
        """Tariff lines nearest the adapted query vector (none without an adapter, or on an HS-only corpus)."""
        vec = self._adapted_vector(q)
        return [] if vec is None else self.runtime.retriever.dense_vector(vec, kinds=[SourceKind.HTS], top=LINE_K)

    def _adapted_vector(self, q: Query) -> np.ndarray | None:
        """The adapted query vector (None without an adapter, on an HS-only corpus, or for another model's size)."""
        adapter = self.adapter
        if adapter is None or not self.runtime.catalog.nomenclature.edition.startswith("HTS"):
            return None
        vec = self.runtime.retriever.embed_query(q.text)
        return adapter.apply(vec) if len(vec) == adapter.dim else None

    def lexical_precedents(self, q: Query, found: Found | None = None) -> list[PrecedentVote]:
        """The precedent memory searched by words (brand and trade names, model words, short parcel texts)."""
        votes: list[PrecedentVote] = []
        for h in retrieve_precedents(self.runtime, q.expanded, top=PRECEDENT_FETCH, lexical=True):
            for code in h.codes:
                votes.append(PrecedentVote(code=code, similarity=h.similarity, dataset=h.dataset, item_id=h.item_id))
            if found is not None:
                found.precedent_passages.setdefault((h.dataset, h.item_id), h.passage)
        return votes

    def keep_precedents(self, signals: Signals) -> Signals:
        """The precedents that may vote: those not left out (cross-validation), best PRECEDENT_K."""
        def keep(vs: list[PrecedentVote]) -> list[PrecedentVote]:
            return [v for v in vs if self.leave_out is None or not self.leave_out(v)][:PRECEDENT_K]

        return replace(signals, precedents=keep(signals.precedents), lex_precedents=keep(signals.lex_precedents))

    def candidate_rows(self, q: Query, signals: Signals) -> tuple[list[TariffLine], np.ndarray]:
        """The candidate lines (every line of the best headings of each signal, and of headings notes send the
        goods to; rows only under those within HEADING_RANK_ROWS of the top by a main signal or sent to by a note)
        and their feature rows. Fills in `signals.headings` (every candidate heading), `.excluded` and `.redirected`."""
        stats = signals.precedent_stats
        per_signal = [
            _top_headings(signals.dense), _top_headings(signals.dense_exp), _top_headings(signals.lexical),
            _top_headings(signals.hs), _top_headings({k: v[1] for k, v in stats.items()}),
            _top_headings({k: v[1] for k, v in signals.lex_precedent_stats.items()}),
            sorted(k for k in signals.ruling if len(k) == 4), _top_headings(signals.adapted),
        ]
        index = self._leaf_index()
        headings: list[str] = []
        for rank in range(HEADINGS_PER_SIGNAL):  # interleaved, so the first headings are each signal's best
            for found in per_signal:
                if rank < len(found) and found[rank] not in headings and found[rank] in index:
                    headings.append(found[rank])
        excluded, redirected = self._exclusions(q.text, headings)
        headings += [h for h in sorted(redirected) if h not in headings and h in index]
        signals.headings = headings
        signals.excluded = excluded
        signals.redirected = redirected
        signals.__dict__.pop("heading_ranks", None)  # a cached view of the headings just set
        ranks = signals.heading_ranks  # over every candidate heading: a kept heading's features do not change
        rowed = [h for h in headings if h in redirected or min(ranks[h]) <= HEADING_RANK_ROWS]
        said = stated_facts(q.text)
        texts = self._leaf_texts() if said else {}
        leaves: list[TariffLine] = []
        ranks: list[int] = []
        forms = _leaf_tables(self.runtime.catalog)[3]
        for h4 in rowed:
            under = index[h4]
            order = sorted(under, key=lambda ln: (-signals.dense.get(ln.code, 0.0), ln.code))
            line_rank = {ln.code: i for i, ln in enumerate(order, start=1)}
            leaves.extend(under)
            ranks.extend(line_rank[ln.code] for ln in under)
        clashes = [len(contradictions(q.text, texts[ln.code], said=said)) for ln in leaves] if said else [0] * len(leaves)
        asked = content_stems(q.expanded)
        own, own6 = _own_words(self.runtime.catalog)
        counts = [(len(own[ln.code] & asked), len(own[ln.code]), len(own6[ln.code] & asked)) for ln in leaves]
        own_words = tuple(zip(*counts, strict=True)) if counts else ((), (), ())
        line_forms = np.concatenate([forms[h4] for h4 in rowed]) if rowed else np.zeros((0, 3))
        X = feature_matrix(leaves, signals, leaves_in=self._leaf_counts(), line_ranks=ranks, contradictions=clashes,
                           own_words=own_words, forms=line_forms)
        return leaves, X

    def _exclusions(self, query: str, headings: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Chapters a matching "does not cover" note of the first candidate chapters excludes, and where it sends them."""
        chapters: list[str] = []
        for h in headings:
            if h[:2] not in chapters:
                chapters.append(h[:2])
        notes = {n.id: n for ch in chapters[:NOTE_CHAPTERS] for n in self.runtime.catalog.notes_for_chapter(ch)}
        return apply_exclusions(query, [], list(notes.values()), penalty=0.0)

    def _prior(self) -> CodePrior | None:
        """The code-frequency prior under TARIFF_HOME, reloaded when the file changes."""
        path = self.runtime.settings.home / "prior.json"
        return _load_prior(str(path), path.stat().st_mtime if path.exists() else None)

    def _leaves_under(self, heading: str) -> list[TariffLine]:
        return self._leaf_index().get(heading, [])

    def _leaf_index(self) -> dict[str, list[TariffLine]]:
        return _leaf_tables(self.runtime.catalog)[0]

    def _leaf_counts(self) -> dict[str, int]:
        """Number of leaf lines under each heading and subheading."""
        return _leaf_tables(self.runtime.catalog)[1]

    def _leaf_texts(self) -> dict[str, str]:
        """Each leaf's full text (with its ancestors), which stated-fact contradictions are checked against."""
        return _leaf_tables(self.runtime.catalog)[2]

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

    def classify(self, description: str, *, context: list[str] | None = None,
                 attributes: Mapping[str, object] | None = None, category: str | Iterable[str] | None = None,
                 top: int = 5) -> Classification:
        """Rank the candidates and return the top `top` suggestions with calibrated confidences and citations.

        A listing's decisive attributes and category leaves are searched as follow-up facts (query.with_listing)."""
        started = time.perf_counter()
        description, context = with_listing(description, context, attributes=attributes, category=category)
        description = check_description(description)
        top = max(1, min(int(top), 50))
        ev = self.gather(description, context=context)
        return self.answer(description, ev, context=context, top=top, started=started)

    def answer(self, description: str, ev: Evidence, *, context: list[str] | None, top: int,
               started: float | None = None) -> Classification:
        catalog = self.runtime.catalog
        # Confidence is shared among the lines no stated fact contradicts (all of them if every line is contradicted).
        pool = [c for c in ev.candidates[:SOFTMAX_K] if not c.contradicted] or ev.candidates[:SOFTMAX_K]
        shares = (self.ranker.probabilities([c.score for c in pool]) if self.ranker is not None
                  else calibrate([c.score for c in pool], temperature=1.0))
        probs = dict(zip((c.line.code for c in pool), shares))
        # The most probable subheadings first, each by its best line.
        best = diversify(by_subheading(ev.candidates, probs), top)
        suggestions = []
        for c in best:
            suggestions.append(
                Suggestion.for_code(
                    c.line.code,
                    description=c.line.description,
                    path=[*c.line.path, c.line.description],
                    confidence=round(probs.get(c.line.code, 0.0), 4),
                    rationale=explain(c.line, notes=c.notes, nomenclature=catalog.nomenclature),
                    citations=citations(c, catalog),
                    general_rate=c.line.general_rate,
                )
            )
        question, options = open_question(ev.query, ev.candidates[:5], context=context)
        return Classification(
            description=description,
            context=list(context or []),
            suggestions=suggestions,
            candidates=[c.candidate() for c in ev.candidates[:100]],
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


@lru_cache(maxsize=4)
def _load_prior(path: str, stamp: float | None) -> CodePrior | None:
    """The prior file as of its modification time (shared by every engine on that home)."""
    return CodePrior.load(Path(path).parent) if stamp is not None else None


@lru_cache(maxsize=4)
def _leaf_tables(catalog: Catalog) -> tuple[dict[str, list[TariffLine]], dict[str, int], dict[str, str],
                                            dict[str, np.ndarray]]:
    """Per catalog snapshot (shared by every engine on it): leaves by heading, leaf counts by heading and
    subheading, each leaf's full text, and per heading, row for row with its leaves, each leaf's form as
    feature_matrix reads it (level, indent, whether its wording is "Other...")."""
    index: dict[str, list[TariffLine]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    texts: dict[str, str] = {}
    for leaf in catalog.nomenclature.leaves():
        index[leaf.code[:4]].append(leaf)
        counts[leaf.code[:4]] += 1
        counts[leaf.code[:6]] += 1
        texts[leaf.code] = leaf.full_text()
    forms = {h4: np.array([(float(ln.level), float(ln.indent), float(ln.description.strip().lower().startswith("other")))
                           for ln in under], dtype=np.float64).reshape(-1, 3) for h4, under in index.items()}
    return dict(index), dict(counts), texts, forms


@lru_cache(maxsize=4)
def _own_words(catalog: Catalog) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Per leaf: the content stems of its wording that its heading's wording lacks, and the same for its subheading
    (the 6-digit line; the leaf's own when the tariff prints no 6-digit line)."""
    nom = catalog.nomenclature
    by_part: dict[str, frozenset[str]] = {}
    by_path: dict[tuple[str, ...], frozenset[str]] = {(): frozenset()}  # lines share their paths: each read once
    by_code: dict[str, frozenset[str]] = {}

    def part(text: str) -> frozenset[str]:
        if (found := by_part.get(text)) is None:
            found = by_part[text] = content_stems(text)
        return found

    def path(steps: tuple[str, ...]) -> frozenset[str]:
        if (found := by_path.get(steps)) is None:
            found = by_path[steps] = path(steps[:-1]) | part(steps[-1])
        return found

    def stems(line: TariffLine) -> frozenset[str]:
        # = content_stems(line.full_text()): its parts are joined by ": ", which no word spans
        return path(tuple(line.path)) | part(line.description)

    def stems_of(code: str) -> frozenset[str]:
        if code not in by_code:
            line = nom.get(code)
            by_code[code] = stems(line) if line is not None else frozenset()
        return by_code[code]

    own: dict[str, frozenset[str]] = {}
    own6: dict[str, frozenset[str]] = {}
    with no_gc():  # ~10^5 small sets: the collector would rescan the catalog over and over (0.85 s -> 0.3 s)
        for leaf in nom.leaves():
            head = stems_of(leaf.code[:4])
            own[leaf.code] = stems(leaf) - head
            six = stems_of(leaf.code[:6]) if len(leaf.code) > 6 else frozenset()
            own6[leaf.code] = (six - head) if six else own[leaf.code]
    return own, own6


@dataclass
class Found:
    """The passages behind the signals, for evidence and citations."""

    lines: dict[str, Passage] = field(default_factory=dict)  # code -> its line passage (retrieved lines only)
    hs: dict[str, Passage] = field(default_factory=dict)  # HS 2022 code -> passage
    rulings: list[Passage] = field(default_factory=list)
    rulings_by_head: dict[str, list[Passage]] = field(default_factory=dict)
    precedents: dict[str, list[Passage]] = field(default_factory=dict)  # subheading -> precedents assigning it
    precedent_passages: dict[tuple[str, str], Passage] = field(default_factory=dict)  # (dataset, item id) -> passage


def _top_headings(scores: dict[str, float]) -> list[str]:
    """The best HEADINGS_PER_SIGNAL headings of one signal (ties by code)."""
    heads = [(v, k) for k, v in scores.items() if len(k) == 4 and v > 0]
    heads.sort(key=lambda t: (-t[0], t[1]))
    return [k for _, k in heads[:HEADINGS_PER_SIGNAL]]


def create(runtime: Runtime, engine: Callable[[str], Any]) -> OfflineEngine:
    """The entry point of `tariff_assistant.engines`: offline (pyproject)."""
    return OfflineEngine(runtime)
