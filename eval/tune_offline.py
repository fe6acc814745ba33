"""Tune the offline engine's weights on the ATLAS dev split (never on a test split).

    TARIFF_HOME=/path/to/us-home .venv/bin/python eval/tune_offline.py ../shared/data/atlas_cross_eval/atlas_dev.jsonl
        [--set w_dense=0.5 ...] [--search] [--fit-temperature]

Retrieval results are memoised per query, so a sweep re-ranks without re-searching. Prints hs4/hs6/hts10 top-1,
hs6 top-5 and hts10 recall@50 for the current weights; --search does a coordinate search over the weights and
prints the best set; --fit-temperature fits the softmax temperature by minimising the top-1 negative log-likelihood.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from functools import wraps

from assistant.engines.offline import OfflineEngine, calibrate, default_params
from assistant.runtime import Runtime


def memoise(obj, name):
    fn = getattr(obj, name)
    cache = {}

    @wraps(fn)
    def wrapper(query, **kw):
        key = (query, json.dumps({k: [str(x) for x in v] if isinstance(v, list) else v for k, v in kw.items()},
                                 sort_keys=True))
        if key not in cache:
            cache[key] = fn(query, **kw)
        return cache[key]

    setattr(obj, name, wrapper)


def evaluate(engine, items, level_of_answer=10):
    n = len(items)
    hits = {"hs2": 0, "hs4": 0, "hs6": 0, "hts10": 0, "hs6_top5": 0, "rec50": 0, "rec_n": 0}
    scored_items = []
    nomen = engine.runtime.catalog.nomenclature
    for it in items:
        gold = it["gold_codes"][0]
        ev = engine.gather(it["description"])
        cands = [c.line.code for c in ev.candidates]
        top = cands[0] if cands else ""
        hits["hs2"] += top[:2] == gold[:2]
        hits["hs4"] += top[:4] == gold[:4]
        hits["hs6"] += top[:6] == gold[:6]
        hits["hts10"] += len(gold) == 10 and top == gold
        distinct6 = list(dict.fromkeys(c[:6] for c in cands))  # suggestions are diversified by subheading
        hits["hs6_top5"] += gold[:6] in distinct6[:5]
        if gold in nomen:
            hits["rec_n"] += 1
            hits["rec50"] += gold in cands[:50]
        scored_items.append(([c.score for c in ev.candidates[:50]], top[:6] == gold[:6], top == gold))
    out = {k: round(v / n, 3) for k, v in hits.items() if k not in ("rec50", "rec_n")}
    out["hts10_recall50"] = round(hits["rec50"] / max(hits["rec_n"], 1), 3)
    return out, scored_items


def fit_temperature(scored_items, *, exact=True):
    best = None
    for t in [0.01 * 1.25**i for i in range(30)]:
        loss = 0.0
        for scores, ok6, ok10 in scored_items:
            if not scores:
                continue
            p = calibrate(scores, temperature=t)[0]
            y = ok10 if exact else ok6
            loss -= math.log(max(p if y else 1 - p, 1e-9))
        if best is None or loss < best[1]:
            best = (t, loss)
    return best


def objective(m: dict) -> float:
    """What the coordinate search maximises: 4- and 6-digit top-1 first, then top-5, 10-digit and recall."""
    return m["hs6"] + m["hs4"] + 0.5 * m["hs6_top5"] + 0.5 * m["hts10"] + 0.25 * m["hts10_recall50"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--fit-temperature", action="store_true")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    items = [json.loads(line) for line in open(args.dataset, encoding="utf-8") if line.strip()]
    if args.limit:
        items = items[: args.limit]
    rt = Runtime.open()
    for name in ("dense", "lexical", "search"):
        memoise(rt.retriever, name)
    params = dict(default_params())
    for kv in args.set:
        k, v = kv.split("=")
        params[k] = float(v)
    engine = OfflineEngine(rt, params=params)
    base, scored = evaluate(engine, items)
    print("current", base, file=sys.stderr)
    if args.search:
        best_obj = objective(base)
        keys = [k for k in params if k.startswith("w_")]
        for _ in range(2):
            for k in keys:
                for factor in (0.0, 0.5, 2.0):
                    trial = {**params, k: params[k] * factor if params[k] else 0.1 * (factor or 1)}
                    m, _ = evaluate(OfflineEngine(rt, params=trial), items)
                    if objective(m) > best_obj + 1e-9:
                        best_obj, params = objective(m), trial
                        print(f"  {k}={trial[k]:.3g} -> {m}", file=sys.stderr)
        print(json.dumps({k: round(v, 4) for k, v in params.items()}, indent=2))
        base, scored = evaluate(OfflineEngine(rt, params=params), items)
        print("best", base, file=sys.stderr)
    if args.fit_temperature:
        t, loss = fit_temperature(scored)
        print(f"temperature={t:.4f} nll={loss:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
