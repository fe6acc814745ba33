"""Item 5 experiment: does a linear query adapter on the packaged MiniLM help retrieval? Grouped CV, a report only.

    TARIFF_HOME=/path/to/us-home .venv/bin/python eval/try_query_adapter.py name=path ... [--folds 5]

For each fold, a 384x384 matrix W (started at the identity) is trained on the other folds' items to map a query
embedding towards the embedding of its gold tariff line (in-batch contrastive loss, fixed seed); the held-out fold's
queries are then searched over the HTS lines with and without W. Reports heading / subheading hit rates of the best
line and line recall@50 per source, out of fold. Nothing is shipped by this script.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()

    import torch

    from assistant.engines.training import assign_folds, load_items
    from assistant.models import SourceKind
    from assistant.runtime import Runtime

    torch.manual_seed(args.seed)
    runtime = Runtime.open(auto_ingest=False)
    items = [it for it in load_items(args.datasets, seed=args.seed)]
    assign_folds(items, folds=args.folds, seed=args.seed)
    items = [it for it in items if it.train]
    col = runtime.store.collections[SourceKind.HTS]
    got = col.get(include=["embeddings", "metadatas"])
    codes = [md["codes"].split(",")[0] for md in got["metadatas"]]
    lines = np.asarray(got["embeddings"], dtype=np.float32)
    leaf = np.array([len(c) >= 8 for c in codes])
    lines, codes = lines[leaf], [c for c, k in zip(codes, leaf) if k]
    index = {c: i for i, c in enumerate(codes)}
    inner = getattr(runtime.embedder, "inner", runtime.embedder)
    Q = np.concatenate([inner.embed([it.description for it in items[i:i + 256]]) for i in range(0, len(items), 256)])

    def target(it) -> int | None:
        g = it.gold[0]
        if g in index:
            return index[g]
        same = [i for c, i in index.items() if c.startswith(g[:6])]
        return same[0] if same else None

    tgt = [target(it) for it in items]
    folds = np.array([it.fold for it in items])
    lines_t = torch.tensor(lines)
    out: dict[str, dict[str, list[bool]]] = {"base": {}, "adapter": {}}
    for f in range(args.folds):
        train = [i for i in range(len(items)) if folds[i] != f and tgt[i] is not None]
        W = torch.nn.Parameter(torch.eye(Q.shape[1]))
        opt = torch.optim.Adam([W], lr=1e-3)
        q_t, p_t = torch.tensor(Q[train]), lines_t[[tgt[i] for i in train]]
        for _ in range(args.epochs):
            perm = torch.randperm(len(train))
            for b in range(0, len(train), 128):
                idx = perm[b:b + 128]
                q = torch.nn.functional.normalize(q_t[idx] @ W, dim=1)
                logits = q @ p_t[idx].T / 0.05
                loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(idx)))
                opt.zero_grad()
                loss.backward()
                opt.step()
        test = [i for i in range(len(items)) if folds[i] == f]
        with torch.no_grad():
            adapted = torch.nn.functional.normalize(torch.tensor(Q[test]) @ W, dim=1).numpy()
        for name, queries in (("base", Q[test]), ("adapter", adapted)):
            top = np.argsort(-(queries @ lines.T), axis=1)[:, :50]
            for row, i in zip(top, test):
                it, g = items[i], items[i].gold[0]
                ranked = [codes[j] for j in row]
                res = out[name].setdefault(it.dataset, [])
                res.append((ranked[0][:4] == g[:4], ranked[0][:6] == g[:6],
                            g in ranked if len(g) == 10 else None))
    report = {}
    for name, by in out.items():
        for ds, rows in by.items():
            r50 = [r[2] for r in rows if r[2] is not None]
            report.setdefault(ds, {})[name] = {
                "n": len(rows), "hs4_top1": round(float(np.mean([r[0] for r in rows])), 4),
                "hs6_top1": round(float(np.mean([r[1] for r in rows])), 4),
                "hts10_recall50": round(float(np.mean(r50)), 4) if r50 else None}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
