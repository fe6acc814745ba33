"""How good is the precedent memory alone? The k-nearest-neighbour vote of the indexed precedents, per dataset item.

Each item is scored with its own precedent left out (leave-one-out: the vote trains nothing, so nothing else needs
leaving out), or with its whole dataset left out (--other-sources: what the other lists alone know).

    TARIFF_HOME=... python eval/precedent_vote.py ../shared/data/atlas_cross_eval/atlas_dev.jsonl [--top 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.engines.precedents import precedent_votes, retrieve_precedents
from assistant.evaluation.dataset import load_dataset
from assistant.runtime import get_runtime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--top", type=int, default=10, help="precedents that vote")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--other-sources", action="store_true", help="leave the item's whole dataset out")
    args = ap.parse_args()
    items = load_dataset(args.dataset, limit=args.limit)
    runtime = get_runtime()
    hits4 = hits6 = answered = 0
    datasets_seen: set[str] = set()
    for item in items:
        own = {(None, item.id)}
        hits = retrieve_precedents(runtime, item.description, top=args.top, exclude=own)
        if args.other_sources:
            mine = {h.dataset for h in retrieve_precedents(runtime, item.description, top=50)
                    if h.item_id == item.id}
            datasets_seen |= mine
            hits = [h for h in retrieve_precedents(runtime, item.description, top=args.top * 3, exclude=own)
                    if h.dataset not in mine][: args.top]
        v4, v6 = precedent_votes(hits, 4), precedent_votes(hits, 6)
        best4 = min(v4, key=lambda k: (-v4[k], k)) if v4 else None  # ties broken by code
        best6 = min(v6, key=lambda k: (-v6[k], k)) if v6 else None
        answered += best6 is not None
        hits4 += best4 == item.gold[:4]
        hits6 += best6 == item.gold[:6]
    n = len(items)
    print(json.dumps({"dataset": args.dataset.name, "n": n, "top": args.top, "leave_out": "own dataset"
                      if args.other_sources else "own item", "hs4_top1": round(hits4 / n, 4),
                      "hs6_top1": round(hits6 / n, 4), "answered": round(answered / n, 4)}))


if __name__ == "__main__":
    main()
