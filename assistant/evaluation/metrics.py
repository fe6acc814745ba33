"""Scoring: pure functions from per-item outcomes to accuracy, recall, citation, calibration and latency figures.

Every gold code is scored at its own length and never padded: a 6-digit gold counts at 2, 4 and 6 digits and is
left out of the 8- and 10-digit denominators (which are reported next to the figures). "_any" variants accept any
of an item's gold codes (rulings covering several products list several).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..calibration import accuracy_at_coverage, ece, ece_floor, reliability

LEVELS = (2, 4, 6, 8, 10)
LEVEL_NAMES = {2: "hs2", 4: "hs4", 6: "hs6", 8: "hts8", 10: "hts10"}
TOPK = {6: (3, 5), 10: (3, 5)}  # extra top-k figures at these levels
RECALL_K = {10: (10, 20, 50, 100), 6: (5, 10, 20)}
COVERAGES = (25, 50, 75, 100)


@dataclass(frozen=True)
class ItemOutcome:
    """What one system answered for one labelled item, with the validity checks already resolved."""

    id: str
    description: str
    gold_codes: tuple[str, ...]
    codes: tuple[str, ...] = ()  # suggested codes, best first
    confidences: tuple[float, ...] = ()
    citation_labels: tuple[tuple[str, ...], ...] = ()  # per suggestion
    citation_ok: tuple[tuple[bool, ...], ...] = ()  # per suggestion: does each citation resolve to a stored passage
    code_ok: tuple[bool, ...] = ()  # per suggestion: is the code a line of the loaded nomenclature
    candidates: tuple[str, ...] = ()  # distinct codes the system considered, best first
    gold_is_line: tuple[bool, ...] = ()  # per gold: a 10-digit gold that is a line of the nomenclature
    gold6_is_line: tuple[bool, ...] = ()  # per gold: some line of the nomenclature has its 6-digit prefix
    clarifying: bool = False
    abstained: bool = False  # answered "needs more information" (suggestions kept, none confident)
    degraded: bool = False
    latency_ms: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    top_by_level: dict[int, float] = field(default_factory=dict)  # the top answer's calibrated confidence per level
    sets: dict[int, tuple[bool, bool, int, bool]] = field(default_factory=dict)  # level -> covered, listed, size, open
    supported: bool | None = None  # the top answer has a supporting note, ruling or precedent

    @property
    def gold(self) -> str:
        return self.gold_codes[0]

    @property
    def top(self) -> str | None:
        return self.codes[0] if self.codes else None

    @property
    def confidence(self) -> float | None:
        return self.confidences[0] if self.confidences else None


# ---------------------------------------------------------------- per item


def matches(code: str | None, gold: str, level: int) -> bool:
    """Do `code` and `gold` agree on their first `level` digits (both must have that many)?"""
    return code is not None and len(gold) >= level and len(code) >= level and code[:level] == gold[:level]


def _golds(o: ItemOutcome, any_gold: bool) -> tuple[str, ...]:
    return o.gold_codes if any_gold else o.gold_codes[:1]


def topk_correct(o: ItemOutcome, level: int, k: int = 1, *, any_gold: bool = False) -> bool | None:
    """Is a gold code among the first k suggestions at `level` digits? None when no gold has that many digits."""
    golds = [g for g in _golds(o, any_gold) if len(g) >= level]
    if not golds:
        return None
    return any(matches(c, g, level) for c in o.codes[:k] for g in golds)


def recall_hit(o: ItemOutcome, level: int, k: int, *, any_gold: bool = False) -> bool | None:
    """Is the gold among the first k distinct candidates (at 6 digits: distinct 6-digit prefixes)?

    None when the gold is not a line of the loaded nomenclature (no engine could find it).
    """
    picks = range(len(o.gold_codes)) if any_gold else range(1)
    if level == 10:
        golds = [o.gold_codes[i] for i in picks if len(o.gold_codes[i]) == 10 and _flag(o.gold_is_line, i)]
        pool = o.candidates[:k]
    else:
        golds = [o.gold_codes[i][:level] for i in picks if _flag(o.gold6_is_line, i)]
        pool = list(dict.fromkeys(c[:level] for c in o.candidates if len(c) >= level))[:k]
    if not golds:
        return None
    return any(g in pool for g in golds)


def _flag(flags: Sequence[bool], i: int) -> bool:
    return i < len(flags) and bool(flags[i])


# ---------------------------------------------------------------- aggregates


def rate(values: Iterable[bool | None]) -> tuple[float | None, int]:
    """Share of True among the non-None values, and how many there were (None when there were none)."""
    scored = [v for v in values if v is not None]
    return (sum(scored) / len(scored) if scored else None), len(scored)


def accuracy(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Top-1 at 2/4/6/8/10 digits, top-3/5 at 6 and 10, primary and any-gold, with their denominators."""
    out: dict[str, Any] = {}
    for suffix, any_gold in (("", False), ("_any", True)):
        denominators: dict[str, int] = {}
        for level in LEVELS:
            for k in (1, *TOPK.get(level, ())):
                value, n = rate(topk_correct(o, level, k, any_gold=any_gold) for o in outcomes)
                out[f"{LEVEL_NAMES[level]}_top{k}{suffix}"] = value
            denominators[str(level)] = n
        out[f"n_by_level{suffix}"] = denominators
    return out


def recall(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Candidate recall of the 10-digit gold at K=10..100 and of the 6-digit gold at K=5..20."""
    out: dict[str, Any] = {}
    for suffix, any_gold in (("", False), ("_any", True)):
        for level, ks in RECALL_K.items():
            n = 0
            for k in ks:
                value, n = rate(recall_hit(o, level, k, any_gold=any_gold) for o in outcomes)
                out[f"{LEVEL_NAMES[level]}_recall{k}{suffix}"] = value
            out[("recall_n" if level == 10 else "recall6_n") + suffix] = n
    return out


def citations(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Share of suggestions citing something, of citations that resolve, and of codes that exist."""
    per_suggestion = [bool(labels) for o in outcomes for labels in o.citation_labels]
    resolved = [ok for o in outcomes for oks in o.citation_ok for ok in oks]
    codes_ok = [ok for o in outcomes for ok in o.code_ok]
    present, n_suggestions = rate(per_suggestion)
    valid, n_citations = rate(resolved)
    codes_valid, _ = rate(codes_ok)
    return {
        "citation_present": present,
        "citation_valid": valid,
        "codes_valid": codes_valid,
        "n_suggestions": n_suggestions,
        "n_citations": n_citations,
    }


def behaviour(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Abstentions (no suggestion; or "needs more information": abstain_rate), clarifying questions, degraded
    answers and errors; and whether the abstentions fall on the right items: hs6 top-1 of the suggestions kept on
    abstained items against that of the answered ones (None when a side is empty). A detector that abstains where
    the engine would be wrong leaves the answered items more often right than the abstained."""
    n = len(outcomes) or 1

    def hs6_top1(abstained: bool) -> float | None:
        hits = [topk_correct(o, 6) for o in outcomes if o.abstained == abstained]
        hits = [h for h in hits if h is not None]
        return sum(hits) / len(hits) if hits else None

    return {
        "abstention_rate": sum(not o.codes for o in outcomes) / n,
        "abstain_rate": sum(o.abstained for o in outcomes) / n,
        "hs6_top1_answered": hs6_top1(False),
        "hs6_top1_abstained": hs6_top1(True),
        "clarifying_rate": sum(o.clarifying for o in outcomes) / n,
        "degraded_rate": sum(o.degraded for o in outcomes) / n,
        "errors": sum(o.error is not None for o in outcomes),
    }


def answer_correctness(outcomes: Sequence[ItemOutcome], level: int) -> list[tuple[float | None, bool]]:
    """(top-1 confidence at `level` - the calibrated one when the answer carries it, else its own - or None for an
    abstention, correct at `level`) for items whose gold has `level` digits."""
    return [(o.top_by_level.get(level, o.confidence) if o.confidence is not None else None,
             matches(o.top, o.gold, level)) for o in outcomes if len(o.gold) >= level]


def calibration(outcomes: Sequence[ItemOutcome], *, answer_level: int) -> dict[str, Any]:
    """ECE at the answer level and at 6 digits, reliability bins, and accuracy at 25/50/75/100 % coverage.

    ECE covers answered items; the coverage figures rank abstentions last (as wrong answers), so accuracy at
    100 % coverage equals top-1 accuracy at the answer level.
    """
    out: dict[str, Any] = {"answer_level": answer_level}
    for key, level in (("", answer_level), ("_hs6", 6), ("_hs4", 4)):
        pairs = answer_correctness(outcomes, level)
        answered = [(c, ok) for c, ok in pairs if c is not None]
        confs, oks = [c for c, _ in answered], [ok for _, ok in answered]
        out[f"ece{key}"] = ece(confs, oks)
        out[f"ece{key}_n"] = len(answered)
        out[f"ece{key}_floor"] = ece_floor(confs)  # what perfect calibration would show at this n (sampling alone)
        out[f"reliability{key}"] = reliability(confs, oks)
        ranked = [(-1.0 if c is None else c) for c, _ in pairs]
        right = [ok for _, ok in pairs]
        for pct in COVERAGES:
            out[f"acc_at_{pct}_coverage{key}"] = accuracy_at_coverage(ranked, right, pct / 100)
        out[f"coverage_curve{key}"] = [
            [pct / 100, accuracy_at_coverage(ranked, right, pct / 100)] for pct in range(5, 101, 5)
        ]
    return out


def trust(outcomes: Sequence[ItemOutcome], *, answer_level: int) -> dict[str, Any]:
    """Conformal sets per level (coverage counting open sets as covering a right code outside the candidates;
    coverage by listed codes only; mean size; share open) and the share of top answers with a supporting note,
    ruling or precedent."""
    out: dict[str, Any] = {}
    for key, level in (("", answer_level), ("_hs6", 6), ("_hs4", 4)):
        got = [o.sets[level] for o in outcomes if level in o.sets]
        out[f"set_n{key}"] = len(got)
        for name, i in (("set_coverage", 0), ("set_coverage_listed", 1), ("set_open", 3)):
            out[f"{name}{key}"] = sum(g[i] for g in got) / len(got) if got else None
        out[f"set_size{key}"] = sum(g[2] for g in got) / len(got) if got else None
    flags = [o.supported for o in outcomes if o.supported is not None]
    out["supported_top1"] = sum(flags) / len(flags) if flags else None
    return out


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency(outcomes: Sequence[ItemOutcome], *, elapsed_s: float | None = None) -> dict[str, Any]:
    """p50/p95 latency per item in ms and throughput in items/s (over `elapsed_s`, else the summed latency)."""
    ms = [o.latency_ms for o in outcomes]
    seconds = elapsed_s if elapsed_s is not None else sum(ms) / 1000
    return {
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "mean_ms": sum(ms) / len(ms) if ms else None,
        "throughput_items_per_s": len(ms) / seconds if seconds > 0 else None,
        "elapsed_s": seconds,
    }


def usage_totals(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Sums of the numeric usage fields engines report (tokens, cost), and how many items reported any."""
    totals: dict[str, float] = defaultdict(float)
    reporting = 0
    for o in outcomes:
        numeric = {k: v for k, v in o.usage.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            reporting += 1
        for key, value in numeric.items():
            totals[key] += value
    out: dict[str, Any] = {k: (int(v) if float(v).is_integer() and "cost" not in k else v) for k, v in totals.items()}
    out["items_reporting"] = reporting
    return out


def usage_per_item(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """Median and mean per item of model calls, prompt and completion tokens (and cost), over the items that
    reported usage; the strategy and the server that answered (an oracle names itself there)."""
    reporting = [o.usage for o in outcomes if o.usage]
    out: dict[str, Any] = {}
    for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
        values = [float(u.get(key, 0) or 0) for u in reporting if key in u or key != "cost_usd"]
        if values:
            out[f"{key}_median"] = percentile(values, 50)
            out[f"{key}_mean"] = sum(values) / len(values)
    for key in ("strategy", "served_by"):
        seen = sorted({str(u[key]) for u in reporting if u.get(key)})
        if seen:
            out[key] = ", ".join(seen)
    out["cached"] = sum(bool(u.get("cached")) for u in reporting)
    return out


def oracle_label(outcomes: Sequence[ItemOutcome]) -> str | None:
    """The oracle model's label when it answered this run (eval/oracle_llm.py): its figures are a ceiling."""
    labels = sorted({str(o.usage.get("served_by")) for o in outcomes
                     if str(o.usage.get("served_by") or "").startswith("tariff-oracle")})
    return ", ".join(labels) or None


def per_chapter(outcomes: Sequence[ItemOutcome]) -> dict[str, dict[str, Any]]:
    """By chapter of the primary gold: n, hs4_top1, hs6_top1, hts10_top1 (and its denominator)."""
    by: dict[str, list[ItemOutcome]] = defaultdict(list)
    for o in outcomes:
        by[o.gold[:2]].append(o)
    table = {}
    for chapter in sorted(by, key=lambda ch: (-len(by[ch]), ch)):
        group = by[chapter]
        hts10, n10 = rate(topk_correct(o, 10) for o in group)
        table[chapter] = {
            "n": len(group),
            "hs4_top1": rate(topk_correct(o, 4) for o in group)[0],
            "hs6_top1": rate(topk_correct(o, 6) for o in group)[0],
            "hts10_top1": hts10,
            "n_hts10": n10,
        }
    return table


def summarize(
    outcomes: Sequence[ItemOutcome], *, answer_level: int, elapsed_s: float | None = None
) -> dict[str, Any]:
    """Every figure for one system on one dataset, as one flat JSON-ready dict (plus per_chapter)."""
    out: dict[str, Any] = {"n": len(outcomes)}
    out.update(accuracy(outcomes))
    out.update(recall(outcomes))
    out.update(citations(outcomes))
    out.update(behaviour(outcomes))
    out.update(calibration(outcomes, answer_level=answer_level))
    out.update(trust(outcomes, answer_level=answer_level))
    out.update(latency(outcomes, elapsed_s=elapsed_s))
    usage = usage_totals(outcomes)
    if usage["items_reporting"]:
        out["usage"] = usage
        out["usage_per_item"] = usage_per_item(outcomes)
    out["oracle"] = oracle_label(outcomes)
    out["per_chapter"] = per_chapter(outcomes)
    return out
