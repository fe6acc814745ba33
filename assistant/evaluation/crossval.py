"""Cross-validated scoring: each item ranked by the fold model that never saw it, with its fold's precedents left out."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

from ..engines.assessment import assess
from ..engines.offline import OfflineEngine
from ..engines.ranker import Ranker
from ..engines.training import normalise
from ..engines.trust import Trust
from ..errors import AssistantError, InputError
from ..models import Classification


class FoldScorer:
    """Classifies like the offline engine, but as cross-validation must: the output of `tariff train ranker --work`."""

    def __init__(self, runtime: Any, work: str | Path):
        work = Path(work)
        folds_file = work / "folds.json"
        if not folds_file.is_file():
            raise InputError(f"{work} is not a training output (no folds.json): run `tariff train ranker` first")
        meta = json.loads(folds_file.read_text(encoding="utf-8"))
        self.fold_of_pair = {(r["dataset"], r["item_id"]): r["fold"] for r in meta["items"]}
        self.fold_of_group = {r["group"]: r["fold"] for r in meta["items"]}
        self.engines: dict[int | None, OfflineEngine] = {}
        self.trained_on: dict[int, set[int]] = {}
        self.trusts: dict[int, Trust] = {}
        for f in range(meta["folds"]):
            body = json.loads((work / f"fold-{f}.json").read_text(encoding="utf-8"))
            self.trained_on[f] = set(body["trained_on_folds"])
            self.engines[f] = OfflineEngine(runtime, ranker=Ranker.from_dict(body), leave_out=self._leave_out(f))
            trust_file = work / f"trust-fold-{f}.json"  # `tariff train trust`: fitted without fold f's items
            if trust_file.is_file():
                self.trusts[f] = Trust.load(trust_file)
        self.runtime, self.work = runtime, work
        self.scored: dict[int | None, int] = {}
        self.engines[0].classify("warm up: steel bolts")  # the shared caches, built once
        gc.freeze()  # the catalog and caches are long-lived: keep the collector from scanning them on every request

    def _leave_out(self, fold: int):
        return lambda v: self.fold_of_pair.get((v.dataset, v.item_id)) == fold

    def fold_for(self, description: str) -> int | None:
        return self.fold_of_group.get(normalise(description))

    def classify(self, description: str, *, top: int = 5) -> Classification:
        fold = self.fold_for(description)
        if fold is not None and fold in self.trained_on[fold]:
            raise AssistantError(f"fold {fold}'s model was trained on the item it is asked to score")
        self.scored[fold] = self.scored.get(fold, 0) + 1
        if fold not in self.engines:  # an item the training never saw: the final model scores it
            final = Ranker.from_dict(json.loads((self.work / "final.json").read_text(encoding="utf-8")))
            self.engines[None] = OfflineEngine(self.runtime, ranker=final)
        result = self.engines[fold].classify(description, top=top)
        return assess(result, self.runtime.catalog, trust=self.trusts.get(fold), packaged=fold is None)
