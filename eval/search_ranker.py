"""Hyper-parameter search for the learned ranker by grouped cross-validation on the cached feature rows.

    TARIFF_HOME=/path/to/home .venv/bin/python eval/search_ranker.py name=path ... [--work DIR] [--threads 2]

1. Feature rows: every training item's candidates with its own fold left out of precedent retrieval, built from the
   retrieval signals `tariff train ranker` cached (never recomputed here), the fold assignment of `folds.json` in
   the work directory and each fold's query adapter (WORK/fold-K.json: fitted without the fold); dumped once to WORK/search-rows.npz (not part of the package; never committed).
2. For each configuration of the grid below: 5 fold models, each trained on the other folds' rows only (label-0 rows
   subsampled with a fixed seed, per-source weights if the configuration says so); every item scored out of fold on
   ALL its candidate rows. Tree counts are read off one training run with `num_iteration` (80 / 200 trees).
3. Objective: the mean out-of-fold hs6 top-1 over the sources, equal weight per source; hs4 top-1 and hts10 recall@50
   are reported beside it. Results are appended to WORK/search-results.jsonl and printed as a Markdown table.

Deterministic (seed 13, `deterministic=True`, one or two threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

SEED = 13
BASE = {"num_leaves": 15, "learning_rate": 0.08, "min_data_in_leaf": 40, "keep": 0.3, "weights": "none",
        "label_gain": [0, 1, 3, 7, 15], "truncation": 30}
# name -> overrides of BASE, and the tree counts read off one run. Kept small on purpose (2 shared cores).
GRID: dict[str, tuple[dict, tuple[int, ...]]] = {
    "A shipped (15 leaves, lr .08, 30 % label-0)": ({}, (80, 200)),
    "B 31 leaves, lr .05, 15 % label-0": ({"num_leaves": 31, "learning_rate": 0.05, "keep": 0.15}, (80, 200)),
    "C = B + equal source weights": ({"num_leaves": 31, "learning_rate": 0.05, "keep": 0.15, "weights": "source"},
                                     (80, 200)),
    "D = B + hs6-heavy gains, truncation 10": ({"num_leaves": 31, "learning_rate": 0.05, "keep": 0.15,
                                               "label_gain": [0, 2, 10, 12, 15], "truncation": 10}, (80, 200)),
    "E 63 leaves, lr .1, min_data 100, 15 % label-0": ({"num_leaves": 63, "learning_rate": 0.1,
                                                       "min_data_in_leaf": 100, "keep": 0.15}, (80, 200)),
    # Added with the query adapter's features (71 columns): longer boosting of D, and D with larger trees.
    "F = D, more trees": ({"num_leaves": 31, "learning_rate": 0.05, "keep": 0.15, "label_gain": [0, 2, 10, 12, 15],
                           "truncation": 10}, (200, 300, 450)),
    "G = D + 63 leaves, min_data 80": ({"num_leaves": 63, "learning_rate": 0.05, "min_data_in_leaf": 80,
                                        "keep": 0.15, "label_gain": [0, 2, 10, 12, 15], "truncation": 10},
                                       (200, 350)),
    # Seed bagging: G trained with three seeds (rows and features drawn differently), each reported alone - the
    # spread is the noise of one CV figure - and the mean of the three models' scores.
    "H = G, seeds 13/14/15 and their mean": ({"num_leaves": 63, "learning_rate": 0.05, "min_data_in_leaf": 80,
                                              "keep": 0.15, "label_gain": [0, 2, 10, 12, 15], "truncation": 10,
                                              "seeds": [13, 14, 15]}, (200,)),
    # The listwise cross-entropy of Bruch et al. (2020, "An alternative cross entropy loss for learning-to-rank")
    # instead of LambdaRank, on G's trees: seeds as H, so the two compare beyond one CV figure's noise.
    "I = G with the rank_xendcg objective, seeds 13/14/15": ({"objective": "rank_xendcg", "num_leaves": 63,
                                                              "learning_rate": 0.05, "min_data_in_leaf": 80,
                                                              "keep": 0.15, "label_gain": [0, 2, 10, 12, 15],
                                                              "truncation": 10, "seeds": [13, 14, 15]}, (200,)),
}


def build_rows(specs: list[str], work: Path, out: Path) -> None:
    from assistant.engines.adapter import QueryAdapter
    from assistant.engines.offline import OfflineEngine
    from assistant.engines.training import SignalCache, item_rows, load_items
    from assistant.runtime import get_runtime

    meta = json.loads((work / "folds.json").read_text(encoding="utf-8"))
    fold_of = {(r["dataset"], r["item_id"]): r["fold"] for r in meta["items"]}
    items = [it for it in load_items(specs, seed=meta["seed"]) if it.train]
    runtime = get_runtime()
    engine = OfflineEngine(runtime, packaged=False)
    cache = SignalCache(runtime)
    n_cached = sum(SignalCache.key(it) in cache.data for it in items)
    if n_cached < len(items):
        raise SystemExit(f"only {n_cached}/{len(items)} items have cached signals: run `tariff train ranker` first")
    # Each fold's query adapter, as training fitted it without the fold (carried by WORK/fold-K.json).
    # Read straight from the file: an adapter does not depend on the feature list, so a search over new features can
    # reuse the fold adapters of an earlier training.
    adapters = {f: QueryAdapter.from_dict(json.loads((work / f"fold-{f}.json").read_text(encoding="utf-8"))["adapter"])
                for f in range(meta["folds"])}
    Xs, ys, codes, item_idx = [], [], [], []
    info = []
    t0 = time.time()
    for n, it in enumerate(items):
        f = fold_of[(it.dataset, it.item_id)]
        r = item_rows(engine, cache, it, lambda v, f=f: fold_of.get((v.dataset, v.item_id)) == f, adapters[f])
        Xs.append(r.X)
        ys.append(r.y.astype(np.int8))
        codes += r.codes
        item_idx.append(np.full(len(r.y), n, dtype=np.int32))
        info.append({"dataset": it.dataset, "item_id": it.item_id, "fold": f, "gold": list(it.gold)})
        if n % 500 == 499:
            print(f"rows: {n + 1}/{len(items)} items, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    assert not cache.dirty, "features were recomputed: the cache does not match"
    np.savez(out, X=np.concatenate(Xs), y=np.concatenate(ys), item=np.concatenate(item_idx),
             codes=np.array(codes), info=np.array(json.dumps(info)))


def run_config(name: str, cfg: dict, trees: tuple[int, ...], data, threads: int) -> list[dict]:
    import lightgbm as lgb

    from assistant.engines.training import rank, ranking_metrics, summarise

    X, y, item, codes, info = data
    n_items = len(info)
    item_fold = np.array([r["fold"] for r in info])
    item_src = np.array([r["dataset"] for r in info])
    sources = sorted(set(item_src.tolist()))
    src_w = {s: n_items / (len(sources) * int((item_src == s).sum())) for s in sources}
    # the same subsample for every configuration with the same share: one fixed-seed draw per row
    draw = np.random.default_rng(SEED).random(len(y))
    has_pos = np.zeros(n_items, dtype=bool)
    has_pos[item[y > 0]] = True
    keep = ((y > 0) | (draw < cfg["keep"])) & has_pos[item]
    bounds = np.flatnonzero(np.diff(item)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(item)]])
    per: dict = {}  # trees (or (trees, seed)) -> each item's out-of-fold metrics
    t0 = time.time()
    for f in range(int(item_fold.max()) + 1):
        tr = keep & (item_fold[item] != f)
        idx = np.flatnonzero(tr)
        grp_items, sizes = np.unique(item[idx], return_counts=True)  # rows of an item are contiguous and sorted
        weight = None
        if cfg["weights"] == "source":
            weight = np.array([src_w[s] for s in item_src[item[idx]]])
        seeds = cfg.get("seeds") or [SEED]
        test_items = np.flatnonzero(item_fold == f)
        rows = np.concatenate([np.arange(starts[i], ends[i]) for i in test_items])
        seed_scores: dict[int, dict[int, np.ndarray]] = {t: {} for t in trees}
        for seed in seeds:
            ds = lgb.Dataset(X[idx], label=y[idx], group=sizes, weight=weight, free_raw_data=True)
            params = {"objective": cfg.get("objective", "lambdarank"), "metric": "ndcg", "label_gain": cfg["label_gain"],
                      "lambdarank_truncation_level": cfg["truncation"], "num_leaves": cfg["num_leaves"],
                      "learning_rate": cfg["learning_rate"], "min_data_in_leaf": cfg["min_data_in_leaf"],
                      "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.8, "lambda_l2": 1.0,
                      "seed": seed, "deterministic": True, "force_row_wise": True, "num_threads": threads,
                      "verbosity": -1}
            booster = lgb.train(params, ds, num_boost_round=max(trees))
            for t in trees:
                seed_scores[t][seed] = booster.predict(X[rows], num_iteration=t, num_threads=threads)
        for t in trees:
            # one model alone, or each seed alone (key (t, seed)) and the mean of their scores (key t)
            variants = {t: np.mean([seed_scores[t][s] for s in seeds], axis=0)}
            if len(seeds) > 1:
                variants |= {(t, s): seed_scores[t][s] for s in seeds}
            for key, scores in variants.items():
                pos = 0
                for i in test_items:
                    n = ends[i] - starts[i]
                    ranked = rank(codes[starts[i]:ends[i]].tolist(), scores[pos:pos + n])
                    per.setdefault(key, [None] * n_items)[i] = \
                        ranking_metrics(ranked, tuple(info[i]["gold"])) | {"dataset": item_src[i]}
                    pos += n
        print(f"  {name}: fold {f} done, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    results = []
    for t in sorted(per, key=str):
        by = {s: summarise([m for m in per[t] if m["dataset"] == s]) for s in sources}
        by["all"] = summarise(per[t])
        trees_of, seed = (t if isinstance(t, tuple) else (t, "mean" if cfg.get("seeds") else None))
        results.append({"config": name if seed is None else f"{name} [{seed}]", "trees": trees_of, **cfg,
                        "by_source": by,
                        "macro_hs6_top1": round(float(np.mean([by[s]["hs6_top1"] for s in sources])), 4),
                        "seconds": round(time.time() - t0)})
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--work", type=Path, default=None, help="the `tariff train ranker --work` directory")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated config letters to run (default: all)")
    args = ap.parse_args()
    if args.work is None:
        from assistant.config import get_settings

        args.work = get_settings().home / "ranker-cv"
    rows_file = args.work / "search-rows.npz"
    if not rows_file.exists():
        build_rows(args.datasets, args.work, rows_file)
    z = np.load(rows_file)
    data = (z["X"], z["y"].astype(np.int32), z["item"], z["codes"], json.loads(str(z["info"])))
    out = args.work / "search-results.jsonl"
    wanted = {c.strip() for c in args.only.split(",") if c.strip()}
    for name, (over, trees) in GRID.items():
        if wanted and name.split()[0] not in wanted:
            continue
        for res in run_config(name, {**BASE, **over}, trees, data, args.threads):
            with out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(res) + "\n")
            by = res["by_source"]
            print(f"| {res['config']} | {res['trees']} | {100 * res['macro_hs6_top1']:.1f} | "
                  + " | ".join(f"{100 * by[s]['hs6_top1']:.1f}" for s in by if s != "all")
                  + f" | {100 * by['all']['hs4_top1']:.1f} | {100 * by['all']['hts10_recall50']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
