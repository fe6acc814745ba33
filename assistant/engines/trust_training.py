"""`tariff train trust`: fit the trust model on the ranker's out-of-fold scores, with nested cross-validated figures.

Every calibration map and conformal score is fitted on items the ranker never trained on (the ranker's out-of-fold
scores, WORK/oof.jsonl.gz): the maps on about half of the folds, the conformal scores on the others. The figures
reported are nested: fold k's items are judged by a trust model fitted on the other folds only.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calibration import accuracy_at_coverage, ece, ece_floor
from ..errors import InputError
from .features import EVIDENCE
from .trust import CONTEXT, LEVELS, OUTSIDE, Context, Isotonic, LevelModel, Trust, context_row, masses, softmax

MIN_GROUPS = (10**9, 150)  # Mondrian by chapter off / on where a chapter has >= 150 calibration items
POOLS = (10, 20, 50)  # the ranker's best k lines whose softmax the probabilities come from


@dataclass(frozen=True)
class Record:
    """One item's out-of-fold ranking: its candidates' codes and scores, gold codes, source and fold."""

    dataset: str
    fold: int
    gold: tuple[str, ...]
    codes: tuple[str, ...]
    scores: tuple[float, ...]
    words: int | None = None  # the query's word count (records written before it was kept have none)
    evidence: tuple[float, ...] | None = None  # the best line's EVIDENCE values (likewise)


def load_records(path: str | Path) -> list[Record]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} not found: it is written by `tariff train ranker --work DIR` (DIR/oof.jsonl.gz)")
    with gzip.open(p, "rt", encoding="utf-8") as fh:
        return [Record(r["dataset"], int(r["fold"]), tuple(r["gold"]), tuple(r["codes"]), tuple(r["scores"]),
                       r.get("query_words"), tuple(r["evidence"]) if r.get("evidence") is not None else None)
                for r in map(json.loads, fh)]


def golds_at(rec: Record, level: int) -> set[str]:
    """The gold codes at `level` digits (10 digits: only US 10-digit golds count)."""
    return {g[:level] for g in rec.gold if len(g) >= level}


def _raw(recs: list[Record], temperature: float, softmax_k: int) -> list[dict[int, dict[str, float]]]:
    out = []
    for r in recs:
        probs = softmax(list(r.scores[:softmax_k]), temperature)
        out.append({lv: masses(list(r.codes[:softmax_k]), probs, lv) for lv in LEVELS})
    return out


def fit_maps(raws: list[dict[str, float]], golds: list[set[str]], rows: list[list[float]] | None = None,
             groups: list[int] | None = None) -> tuple[Isotonic, Isotonic, Isotonic, Context | None]:
    """The level's three isotonic maps (best code, other codes, right code among the candidates) and, given the
    requests' context rows, the input-aware model of the best code. The best code's map is fitted on the context
    model's output for requests it did not see: cross-fitted over `groups` (the records' folds) when there are
    several, so that the map corrects what the model does on new requests, not on its own training rows."""
    keep = [i for i, g in enumerate(golds) if g]
    context = None
    first: dict[int, float] = {}
    if rows is not None:
        label = {i: float(next(iter(raws[i]), None) in golds[i]) for i in keep}
        context = Context.fit([rows[i] for i in keep], [label[i] for i in keep])
        for g in sorted(set(groups or ())) if groups and len(set(groups)) > 1 else ():
            inner = Context.fit([rows[i] for i in keep if groups[i] != g], [label[i] for i in keep if groups[i] != g])
            first.update({i: (inner or context)(rows[i]) for i in keep if groups[i] == g})
    tx, ty, rx, ry, ix, iy = [], [], [], [], [], []
    for i in keep:
        raw, gold = raws[i], golds[i]
        for j, (code, p) in enumerate(raw.items()):
            if j == 0 and context is not None:
                p = first[i] if i in first else context(rows[i])
            (tx if j == 0 else rx).append(p)
            (ty if j == 0 else ry).append(float(code in gold))
        ix.append(next(iter(raw.values()), 0.0))
        iy.append(float(bool(gold & raw.keys())))
    return Isotonic.fit(tx, ty), Isotonic.fit(rx, ry), Isotonic.fit(ix, iy), context


def context_rows(recs: list[Record], raws: list[dict[int, dict[str, float]]], level: int,
                 use: bool = True, evidence: bool = True) -> list[list[float]] | None:
    """Each record's context row at `level`, with the best line's evidence when `evidence` is on and every record
    has it; None (no input-aware model) when `use` is off or a record has no word count."""
    if not use or any(r.words is None for r in recs):
        return None
    with_evidence = evidence and all(r.evidence is not None for r in recs)
    return [context_row(raw, level, r.words or 0, r.scores, r.evidence if with_evidence else None)
            for r, raw in zip(recs, raws)]


def nonconformity(calibrated: dict[str, float], gold: set[str]) -> float:
    """LAC score: 1 - calibrated probability of the right code (of OUTSIDE when no candidate is right)."""
    hit = [p for c, p in calibrated.items() if c in gold]
    return 1.0 - (max(hit) if hit else calibrated[OUTSIDE])


def fit_trust(recs: list[Record], *, temperature: float, softmax_k: int, min_group: int, meta: dict | None = None,
              raws: list[dict[int, dict[str, float]]] | None = None, use_context: bool = True,
              use_evidence: bool = True) -> Trust:
    """Split conformal: the calibration maps are fitted on the first folds, the conformal scores computed with those
    same maps on the remaining folds (so the scores are exchangeable with a new request's)."""
    raws = raws if raws is not None else _raw(recs, temperature, softmax_k)
    folds = sorted({r.fold for r in recs})
    fit_folds = set(folds[: max(1, (len(folds) + 1) // 2)])
    levels: dict[int, LevelModel] = {}
    for lv in LEVELS:
        golds = [golds_at(r, lv) for r in recs]
        rows = context_rows(recs, raws, lv, use_context, use_evidence)
        idx = [i for i, r in enumerate(recs) if r.fold in fit_folds]
        top, rest, inside, context = fit_maps([raws[i][lv] for i in idx], [golds[i] for i in idx],
                                              [rows[i] for i in idx] if rows is not None else None,
                                              [recs[i].fold for i in idx])
        m = LevelModel(top, rest, inside, scores={}, context=context)
        scores: dict[str, list[float]] = {"all": []}
        for i, r in enumerate(recs):
            if (r.fold in fit_folds and len(folds) > 1) or not golds[i]:
                continue
            s = round(nonconformity(m.calibrated(raws[i][lv], rows[i] if rows else None), golds[i]), 5)
            scores["all"].append(s)
            chapter = next(iter(raws[i][4]), "")[:2]
            scores.setdefault(f"ch:{chapter}", []).append(s)
        kept = {k: tuple(sorted(v)) for k, v in scores.items() if k == "all" or len(v) >= min_group}
        levels[lv] = LevelModel(m.top, m.rest, m.inside, scores=kept, context=context)
    return Trust(levels, temperature=temperature, softmax_k=softmax_k, min_group=min_group, meta=meta)


def judge(trust: Trust, recs: list[Record], raws: list[dict[int, dict[str, float]]], *,
          coverage: float = 0.9) -> list[dict]:
    """Per item and level: the top code's calibrated confidence, right or not, and the conformal set's outcome."""
    out = []
    for r, raw in zip(recs, raws):
        chapter = next(iter(raw[4]), "")[:2] or None
        row: dict = {"dataset": r.dataset}
        for lv in LEVELS:
            gold = golds_at(r, lv)
            if not gold:
                continue
            model = trust.levels[lv]
            cal = model.calibrated(raw[lv], model.context_row(raw, lv, r.words or 0, r.scores, r.evidence))
            best = next(iter(raw[lv]), None)
            cs = trust.candidate_set(cal, lv, coverage=coverage, chapter=chapter)
            in_set = bool(gold & set(cs.codes))
            row[lv] = {"conf": cal.get(best, 0.0) if best else 0.0, "ok": best in gold,
                       "covered": in_set or (cs.open and not gold & raw[lv].keys()),
                       "covered_closed": in_set, "size": len(cs.codes), "open": cs.open}
        out.append(row)
    return out


def summarise(rows: list[dict]) -> dict[str, float | int | None]:
    """ECE, set coverage / size / open share per level, and accuracy of the most confident half at 6 digits."""
    out: dict[str, float | int | None] = {"n": len(rows)}
    for lv in LEVELS:
        got = [r[lv] for r in rows if lv in r]
        key = {4: "hs4", 6: "hs6", 10: "hts10"}[lv]
        if not got:
            continue
        confs, oks = [g["conf"] for g in got], [g["ok"] for g in got]
        out[f"n_{key}"] = len(got)
        out[f"top1_{key}"] = float(np.mean(oks))
        out[f"ece_{key}"] = ece(confs, oks)
        out[f"ece_floor_{key}"] = ece_floor(confs)
        out[f"set_coverage_{key}"] = float(np.mean([g["covered"] for g in got]))
        out[f"set_coverage_closed_{key}"] = float(np.mean([g["covered_closed"] for g in got]))
        out[f"set_size_{key}"] = float(np.mean([g["size"] for g in got]))
        out[f"set_open_{key}"] = float(np.mean([g["open"] for g in got]))
        out[f"acc_top_half_{key}"] = accuracy_at_coverage(confs, oks, 0.5)
    return out


def nested_cv(recs: list[Record], *, temperature: float, softmax_k: int, min_group: int,
              coverage: float = 0.9, use_context: bool = True, use_evidence: bool = True) -> dict[str, dict]:
    """Figures per dataset (and "all"), each item judged by a trust model fitted without its fold."""
    raws = _raw(recs, temperature, softmax_k)
    rows: list[dict] = []
    for f in sorted({r.fold for r in recs}):
        train = [i for i, r in enumerate(recs) if r.fold != f]
        test = [i for i, r in enumerate(recs) if r.fold == f]
        t = fit_trust([recs[i] for i in train], temperature=temperature, softmax_k=softmax_k, min_group=min_group,
                      raws=[raws[i] for i in train], use_context=use_context, use_evidence=use_evidence)
        rows += judge(t, [recs[i] for i in test], [raws[i] for i in test], coverage=coverage)
    by = {d: summarise([r for r in rows if r["dataset"] == d]) for d in sorted({r["dataset"] for r in rows})}
    by["all"] = summarise(rows)
    return by


def fold_models(recs: list[Record], work: Path, *, temperature: float, softmax_k: int, min_group: int,
                use_context: bool = True, use_evidence: bool = True) -> None:
    """WORK/trust-fold-K.json: fitted without fold K, for `tariff eval --cv` (each item judged out of fold)."""
    for f in sorted({r.fold for r in recs}):
        fit_trust([r for r in recs if r.fold != f], temperature=temperature, softmax_k=softmax_k,
                  min_group=min_group, use_context=use_context, use_evidence=use_evidence
                  ).save(work / f"trust-fold-{f}.json")


def source_ece(figures: dict[str, dict]) -> float:
    """Mean 6-digit ECE over the sources (how input-aware calibration is chosen)."""
    vals = [m["ece_hs6"] for k, m in figures.items() if k != "all" and m.get("ece_hs6") is not None]
    return float(np.mean(vals)) if vals else math.inf


def deviation(figures: dict[str, dict], coverage: float) -> float:
    """Mean distance of the 6-digit set coverage from its target over the sources (how Mondrian is chosen)."""
    vals = [abs(m["set_coverage_hs6"] - coverage) for k, m in figures.items()
            if k != "all" and m.get("set_coverage_hs6") is not None]
    return float(np.mean(vals)) if vals else math.inf


def model_card(figures: dict[tuple[int, int], dict[str, dict]], *, chosen: tuple[int, int], n: dict[str, int],
               command: str, coverage: float, out: Path, runs: dict[str, dict[str, dict]] | None = None,
               shipped: str = "blind") -> str:
    """The Markdown model card written beside the shipped trust model."""
    import datetime as dt

    cols = [("top1_hs6", "hs6 top-1"), ("ece_hs4", "ECE hs4"), ("ece_hs6", "ECE hs6"),
            ("ece_floor_hs6", "ECE hs6 of perfect calibration (same n)"), ("ece_hts10", "ECE hts10"),
            ("acc_top_half_hs6", "hs6 acc. most confident half"), ("set_coverage_hs4", "hs4 set coverage"),
            ("set_size_hs4", "hs4 set size"), ("set_coverage_hs6", "hs6 set coverage"),
            ("set_coverage_closed_hs6", "hs6 listed codes cover"), ("set_size_hs6", "hs6 set size"),
            ("set_open_hs6", "hs6 open sets"), ("set_coverage_hts10", "hts10 set coverage"),
            ("set_size_hts10", "hts10 set size"), ("set_open_hts10", "hts10 open sets")]

    def cell(key: str, v: float | None) -> str:
        if v is None:
            return "–"
        return f"{v:.1f}" if key.startswith("set_size") else (f"{v:.3f}" if key.startswith("ece") else f"{100 * v:.1f} %")

    lines = [
        "# Trust model (calibration and conformal sets) — model card", "",
        f"Fitted {dt.datetime.now(dt.UTC).date().isoformat()}; file `{out.name}` "
        f"({out.stat().st_size / 1024:.0f} KB, JSON: isotonic breakpoints and sorted calibration scores; no pickle).", "",
        "## Rebuild", "", "```", command, "```", "",
        "## Data", "",
        "The shipped ranker's out-of-fold scores (`tariff train ranker --work DIR` writes DIR/oof.jsonl.gz): every item "
        "ranked by the fold model that never saw it, with its fold's precedents not retrievable. Items:",
        *[f"- `{k}`: {v}" for k, v in sorted(n.items())], "",
        "## Method", "",
        f"- Raw probability of a heading / subheading / line: the ranker's softmax over its best {chosen[0]} lines, "
        "summed per prefix (the pool size, 10, 20 or 50 lines, chosen by the nested CV below among the choices "
        "whose coverage holds: the fewest open 6-digit sets, then the smallest; what lies beyond the pool is the "
        "pseudo-code OUTSIDE).",
        "- Per level (4, 6, 10 digits), isotonic regression maps raw to calibrated probability: one map for the "
        "level's best code, one for the others, and one for the probability that the right code is among the "
        "candidates at all (the complement is the pseudo-code OUTSIDE).",
        "- Candidate sets: split conformal prediction with the LAC score (1 - calibrated probability of the right "
        "code, or of OUTSIDE when no candidate is right): the maps are fitted on about half of the folds and the "
        "conformal scores computed with them on the others. A set that must include OUTSIDE to reach its coverage "
        "is *open*.",
        f"- Mondrian by the best answer's chapter where a chapter has >= 150 calibration items: "
        f"{'on' if chosen[1] < 10**6 else 'off'} (chosen by the same nested CV).",
        "- Input-aware calibration: the best code's probability at each level from a logistic regression on the "
        "request's context (" + ", ".join(f"`{c}`" for c in CONTEXT) + "), optionally with the best line's "
        "evidence (" + ", ".join(f"`{c}`" for c in EVIDENCE) + "), fitted on the same folds as the maps (its "
        "isotonic map on cross-fitted outputs); blind, context, or context with evidence: whichever has the lowest "
        "mean 6-digit ECE over the sources under the same nested CV. Shipped: "
        + ({"context + evidence": "**context with evidence**.", "context": "**context**.", "blind": "**blind**."}[shipped]
           if runs else "blind (the records carry no query word counts)."),
        "- 10-digit figures: US items only (UK codes count to 6 digits).", "",
        f"## Nested cross-validation ({coverage:.0%} sets)", "",
        "Fold k's items judged by a trust model fitted on the other folds only. \"Set coverage\" counts an open set as "
        "covering an item whose right code is outside the candidates; \"listed codes cover\" does not. \"ECE of "
        "perfect calibration\" is the median ECE of outcomes drawn with exactly the stated confidences "
        "(`calibration.ece_floor`): the part of a source's ECE that its size alone explains.", "",
    ]
    tables: list[tuple[str, dict[str, dict]]] = []
    if runs:
        lines += [f"### Blind or input-aware (shipped pool and Mondrian setting; shipped: {shipped})", "",
                  "Mean 6-digit ECE over the sources: "
                  + ", ".join(f"{k} {source_ece(v):.3f}" for k, v in runs.items())
                  + ". The per-pool tables further down are the "
                  + ("context + evidence" if "context + evidence" in runs else "context") + " runs.", "",
                  "| source | " + " | ".join(f"ECE hs6 {k}" for k in runs) + " | "
                  + " | ".join(f"most confident half right at hs6, {k}" for k in runs) + " |",
                  "|---|" + "---|" * (2 * len(runs))]
        for name in figures[chosen]:
            lines.append(f"| {name} | " + " | ".join(cell("ece_hs6", v.get(name, {}).get("ece_hs6")) for v in runs.values())
                         + " | " + " | ".join(cell("acc", v.get(name, {}).get("acc_top_half_hs6")) for v in runs.values())
                         + " |")
        lines.append("")
        if runs[shipped] is not figures[chosen]:  # the shipped calibration is not one of the per-pool runs below
            tables = [(f"Shipped: pool {chosen[0]} lines, Mondrian {'on' if chosen[1] < 10**6 else 'off'}, {shipped}",
                       runs[shipped])]
    tables += [(f"Pool {k} lines, Mondrian {'on' if mg < 10**6 else 'off'}"
                f"{' (shipped setting)' if (k, mg) == chosen else ''}", by) for (k, mg), by in figures.items()]
    for title, by in tables:
        lines += [f"### {title}", "",
                  "| source | n | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 2) + "|"]
        for name, m in by.items():
            lines.append(f"| {name} | {m['n']} | " + " | ".join(cell(k, m.get(k)) for k, _ in cols) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"
