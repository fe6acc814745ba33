"""Running an evaluation: classify every item with the engine (and the baselines), time it, check it, score it."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engines.precedents import excluding
from ..errors import AssistantError
from ..models import Classification
from .baselines import RANK_CONFIDENCE, line_kind, make_baselines, snapshot_of
from .dataset import EvalItem
from .metrics import ItemOutcome, summarize

CLASSIFY_CONFIDENCE = "engine"
WARM_UP_TEXT = "knitted cotton shirts"


class Checker:
    """Resolves codes and citations against the loaded nomenclature and catalog (memoised)."""

    def __init__(self, runtime: Any):
        self.nomenclature = runtime.nomenclature
        self.catalog = runtime.catalog
        self.hs = getattr(self.catalog, "hs", None)
        self._passages: dict[str, bool] = {}
        self.prefixes6 = {ln.code[:6] for ln in self.nomenclature.lines() if ln.level >= 6}
        self.answer_level = 10 if self.nomenclature.max_level >= 10 else 6

    def code_ok(self, code: str) -> bool:
        """A line of the working nomenclature, or an HS 2022 subheading (a national tariff prints many HS
        subheadings only as their 8-digit lines, yet the 6-digit code exists)."""
        return code in self.nomenclature or (self.hs is not None and code in self.hs)

    def passage_ok(self, source_id: str) -> bool:
        if source_id not in self._passages:
            self._passages[source_id] = self.catalog.passage(source_id) is not None
        return self._passages[source_id]

    def outcome(
        self, item: EvalItem, result: Classification | None, *, latency_ms: float, error: str | None = None
    ) -> ItemOutcome:
        """Flatten a classification into what the metrics score."""
        suggestions = result.suggestions if result else []
        candidates = [c.code for c in result.candidates] if result else []
        if not candidates:  # an engine that reports no candidates considered only what it suggested
            candidates = [s.code for s in suggestions]
        return ItemOutcome(
            id=item.id,
            description=item.description,
            gold_codes=item.gold_codes,
            codes=tuple(s.code for s in suggestions),
            confidences=tuple(float(s.confidence) for s in suggestions),
            citation_labels=tuple(tuple(c.label for c in s.citations) for s in suggestions),
            citation_ok=tuple(tuple(self.passage_ok(c.source_id) for c in s.citations) for s in suggestions),
            code_ok=tuple(self.code_ok(s.code) for s in suggestions),
            candidates=tuple(dict.fromkeys(candidates)),
            gold_is_line=tuple(len(g) == 10 and g in self.nomenclature for g in item.gold_codes),
            gold6_is_line=tuple(g[:6] in self.prefixes6 for g in item.gold_codes),
            clarifying=bool(result and result.clarifying_question),
            abstained=bool(result and result.abstained),
            degraded=bool(result and result.degraded),
            latency_ms=latency_ms,
            usage=dict(result.usage) if result and result.usage else {},
            error=error,
            top_by_level={int(k): float(v) for k, v in suggestions[0].confidence_by_level.items()}
            if suggestions else {},
            sets=set_outcomes(item.gold_codes, result) if result else {},
            supported=bool(suggestions[0].support.by_note_or_precedent) if suggestions and suggestions[0].support
            else None,
        )


def set_outcomes(gold_codes: Sequence[str], result: Classification) -> dict[int, tuple[bool, bool, int, bool]]:
    """Per level of the conformal sets: (covered, covered by a listed code, size, open). An open set covers a right
    code that none of the candidates the trust model saw has (it says the right code may lie outside)."""
    from ..engines.trust import packaged_trust

    trust = packaged_trust()
    pool = result.candidates[: trust.softmax_k if trust else 50]
    out = {}
    for cs in result.candidate_sets:
        gold = {g[: cs.level] for g in gold_codes if len(g) >= cs.level}
        if not gold:
            continue
        listed = bool(gold & set(cs.codes))
        outside = not gold & {c.code[: cs.level] for c in pool}
        out[cs.level] = (listed or (cs.open and outside), listed, len(cs.codes), cs.open)
    return out


@dataclass
class SystemRun:
    """One system's outcomes on the dataset, and how its confidences were made."""

    name: str
    outcomes: list[ItemOutcome]
    elapsed_s: float
    confidence: str = CLASSIFY_CONFIDENCE
    model: str | None = None


@dataclass
class EvalRun:
    """An engine and its baselines on the same items of one dataset."""

    dataset: Path
    items: list[EvalItem]
    engine: SystemRun
    baselines: list[SystemRun] = field(default_factory=list)
    edition: str = ""
    corpus_snapshot: str = ""
    answer_level: int = 10
    top: int = 5
    started: str = ""
    left_out_sources: tuple[str, ...] = ()

    def systems(self) -> list[SystemRun]:
        return [self.engine, *self.baselines]

    def system_metrics(self, system: SystemRun) -> dict[str, Any]:
        m = summarize(system.outcomes, answer_level=self.answer_level, elapsed_s=system.elapsed_s)
        return {"confidence": system.confidence, **({"model": system.model} if system.model else {}), **m}

    def metrics(self) -> dict[str, Any]:
        """Everything, as one JSON-ready dict: the engine's figures at top level, baselines under "baselines"."""
        out: dict[str, Any] = {
            "engine": self.engine.name,
            "dataset": str(self.dataset),
            "started": self.started,
            "edition": self.edition,
            "corpus_snapshot": self.corpus_snapshot,
            "top": self.top,
            "left_out_sources": list(self.left_out_sources),
        }
        out.update(self.system_metrics(self.engine))
        if self.baselines:
            out["baselines"] = {b.name: self.system_metrics(b) for b in self.baselines}
        return out


def run_system(
    name: str,
    classify: Callable[[str], Classification],
    items: Sequence[EvalItem],
    checker: Checker,
    *,
    progress: bool = True,
    leave_out_sources: Sequence[str] = (),
) -> SystemRun:
    """Classify every item, one at a time, timing each call; precedents of `leave_out_sources` (dataset names) and the
    item's own precedent are never retrieved.

    An AssistantError on one item is recorded as an error (scored as an abstention), except on the first item,
    where it is re-raised: a misconfigured engine should fail the run at once, not after 200 empty answers.
    """
    from tqdm import tqdm

    outcomes: list[ItemOutcome] = []
    model = None
    bar = tqdm(items, desc=name, unit="item", file=sys.stderr, disable=not progress, leave=False)
    start = time.perf_counter()
    for index, item in enumerate(bar):
        t0 = time.perf_counter()
        try:
            # An item is never answered by its own precedent when its dataset is also indexed as precedents.
            with excluding({(None, item.id), *leave_out_sources}):
                listing = item.listing()  # a marketplace listing's attributes and category, when the item has them
                result, error = (classify(item.description, **listing) if listing else classify(item.description)), None
        except AssistantError as exc:
            if index == 0:
                raise
            result, error = None, exc.message
        latency_ms = (time.perf_counter() - t0) * 1000
        model = model or (result.model if result else None)
        outcomes.append(checker.outcome(item, result, latency_ms=latency_ms, error=error))
    bar.close()
    return SystemRun(name=name, outcomes=outcomes, elapsed_s=time.perf_counter() - start, model=model)


def warm_up(runtime: Any) -> None:
    """Load the embedding model, the indexes and the offline engine's caches once, untimed, so that the first
    item's latency is not load time (the offline engine also gathers the LLM engine's evidence)."""
    from ..engines import classify

    kinds = [line_kind(runtime.nomenclature)]
    runtime.retriever.dense("warm up", kinds=kinds, top=1)
    runtime.retriever.lexical("warm up", kinds=kinds, top=1)
    try:
        classify(WARM_UP_TEXT, engine="offline", top=1, runtime=runtime)
    except AssistantError:  # a problem worth reporting shows up again on the first timed item
        pass
    import gc

    gc.freeze()  # the catalog and the engine's tables are long-lived: the collector need not rescan them per item


def evaluate(
    items: Sequence[EvalItem],
    *,
    runtime: Any,
    dataset: Path,
    engine: str = "offline",
    top: int = 5,
    baselines: bool = False,
    progress: bool = True,
    cv: Path | None = None,
    leave_out_sources: Sequence[str] = (),
) -> EvalRun:
    """Run `engine` (through `assistant.engines.classify`) and optionally the baselines on the same items; with `cv`
    (a `tariff train ranker` work folder) the offline engine scores each item with the fold model that never saw it.
    No system retrieves a precedent of `leave_out_sources` (e.g. the dataset's own source, when it is ingested)."""
    from ..engines import classify

    checker = Checker(runtime)
    warm_up(runtime)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if cv is not None:
        from .crossval import FoldScorer

        scorer = FoldScorer(runtime, cv)
        from ..engines.assessment import with_routing
        from ..engines.vague import apply_vagueness

        def system(text: str, **listing: Any) -> Classification:
            whole = listing_text(text, **listing)
            return with_routing(apply_vagueness(scorer.classify(whole, top=top), whole))
    else:
        system = lambda text, **listing: classify(text, engine=engine, top=top, runtime=runtime, **listing)  # noqa: E731
    engine_run = run_system(
        engine if cv is None else f"{engine}-cv",
        system,
        items,
        checker,
        progress=progress,
        leave_out_sources=leave_out_sources,
    )
    runs = []
    if baselines:
        for baseline in make_baselines(runtime):
            run = run_system(
                baseline.name,
                lambda text, b=baseline, **listing: b.classify(listing_text(text, **listing), top=top),
                items,
                checker,
                progress=progress,
                leave_out_sources=leave_out_sources,
            )
            run.confidence = RANK_CONFIDENCE
            runs.append(run)
    return EvalRun(
        dataset=Path(dataset),
        items=list(items),
        engine=engine_run,
        baselines=runs,
        edition=runtime.nomenclature.edition,
        corpus_snapshot=snapshot_of(runtime),
        answer_level=checker.answer_level,
        top=top,
        started=started,
        left_out_sources=tuple(leave_out_sources),
    )


def listing_text(description: str, *, attributes: dict | None = None, category: list[str] | None = None) -> str:
    """A listing as one text, for systems that take nothing else (the baselines)."""
    from ..engines.query import with_listing

    head, facts = with_listing(description, attributes=attributes, category=category)
    return ". ".join([head, *facts])
