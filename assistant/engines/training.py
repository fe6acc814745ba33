"""Training the ranker: labelled datasets -> grouped folds -> feature rows (the item's fold left out of precedent
retrieval) -> fold models and out-of-fold scores -> the final model, its temperature and its model card."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .adapter import QueryAdapter, fit_adapter, line_targets
from .features import EVIDENCE_COLUMNS, Signals
from .offline import SOFTMAX_K, OfflineEngine, best_by_prefix
from .query import build_query, words
from .ranker import LGBM_PARAMS, Ranker, fit_temperature, graded_label
from .suggestions import calibrate, subheading_first

if TYPE_CHECKING:
    from ..runtime import Runtime

SEED = 13
FOLDS = 5
MAX_PER_DATASET = 1500  # a fixed-seed sample of larger lists (the HMRC search references) keeps training fast
NEGATIVE_KEEP = 0.3  # share of label-0 rows kept for training (fixed seed); every row is scored out of fold
KINDS = ("lambdarank", "logistic")
_PUNCT = re.compile(r"[^a-z0-9]+")


@dataclass
class Item:
    """One labelled training example."""

    dataset: str
    item_id: str
    description: str
    gold: tuple[str, ...]  # digits, primary first; UK codes cut to their 6-digit subheading
    group: str = ""  # identical normalised descriptions share a group (and so a fold), across datasets
    fold: int = -1
    train: bool = True  # False: outside the fixed-seed sample, kept only so that its precedent gets a fold


def normalise(text: str) -> str:
    return _PUNCT.sub(" ", text.lower()).strip()


def parse_spec(spec: str) -> tuple[str, Path]:
    """"name=path" -> (name, path); a bare path takes the dataset name its file name implies."""
    from ..sources.precedents import detect

    name, sep, path = spec.partition("=")
    if not sep:
        path, name = spec, detect(spec)[0]
    p = Path(path)
    if not p.is_file():
        raise InputError(f"dataset {p} not found")
    return name.strip(), p


def load_items(specs: list[str], *, max_per_dataset: int = MAX_PER_DATASET, seed: int = SEED) -> list[Item]:
    """Read the named datasets with the precedent loaders (same dataset names and item ids as the ingested
    precedents, which is what lets an item's fold be left out of retrieval)."""
    from ..sources.precedents import load_precedents

    items: list[Item] = []
    for spec in specs:
        name, path = parse_spec(spec)
        records = load_precedents(path, source=name)
        sample = set(range(len(records)))
        if len(records) > max_per_dataset:
            sample = set(np.random.default_rng(seed).choice(len(records), size=max_per_dataset, replace=False).tolist())
        for i, r in enumerate(records):
            gold = tuple(dict.fromkeys(c[:6] if r.jurisdiction != "us" else c for c in r.codes if len(c) >= 6))
            if gold:
                items.append(Item(dataset=name, item_id=r.item_id, description=r.description, gold=gold,
                                  train=i in sample))
    if not items:
        raise InputError("no labelled items in the datasets given")
    return items


def assign_folds(items: list[Item], *, folds: int = FOLDS, seed: int = SEED) -> None:
    """Grouped folds: one group per normalised description (an item and its duplicates in other datasets)."""
    for it in items:
        it.group = normalise(it.description)
    groups = sorted({it.group for it in items})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of = {groups[j]: i % folds for i, j in enumerate(order)}
    for it in items:
        it.fold = fold_of[it.group]


# ---------------------------------------------------------------- features (cached)


class SignalCache:
    """What retrieval found for each item (precedents unfiltered), on disk under TARIFF_HOME per corpus snapshot."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.path = runtime.settings.home / "cache" / "ranker" / f"signals-{runtime.catalog.snapshot}.pkl.gz"
        self.data: dict[str, dict] = {}
        if self.path.exists():
            with gzip.open(self.path, "rb") as fh:
                self.data = pickle.load(fh)
        self.dirty = False

    @staticmethod
    def key(item: Item) -> str:
        return hashlib.sha1(f"{item.dataset}\0{item.item_id}\0{item.description}".encode()).hexdigest()

    def signals(self, engine: OfflineEngine, item: Item) -> Signals:
        k = self.key(item)
        raw = self.data.get(k)
        if raw is None:
            s, _ = engine.collect(build_query(item.description))
            # The adapted search depends on the fold's adapter: never cached (item_rows adds it).
            raw = self.data[k] = {f.name: getattr(s, f.name) for f in fields(Signals)
                                  if f.name not in ("prior", "adapted")}
            self.dirty = True
        elif "lex_precedents" not in raw:  # cached before the lexical precedent signal: add just that
            raw["lex_precedents"] = engine.lexical_precedents(build_query(item.description))
            self.dirty = True
        return Signals(**raw, prior=engine._prior())

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with gzip.open(tmp, "wb") as fh:
                pickle.dump(self.data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(self.path)
            self.dirty = False


@dataclass
class Rows:
    """Feature rows of one item's candidates, with graded labels."""

    codes: list[str]
    X: np.ndarray
    y: np.ndarray


def item_rows(engine: OfflineEngine, cache: SignalCache, item: Item, leave_out,
              adapter: QueryAdapter | None = None) -> Rows:
    """The item's candidates as the engine would rank them with `leave_out` precedents not retrievable and the
    query adapter `adapter` (one that never saw the item)."""
    engine.leave_out = leave_out
    engine.adapter = None
    q = build_query(item.description)
    signals = cache.signals(engine, item)
    engine.adapter = adapter
    signals.adapted = best_by_prefix(engine.adapted_hits(q))
    signals = engine.keep_precedents(signals)
    leaves, X = engine.candidate_rows(q, signals)
    digits = 6 if all(len(g) == 6 for g in item.gold) else 10
    y = np.array([graded_label(ln.code, item.gold, gold_digits=digits) for ln in leaves], dtype=np.int32)
    return Rows([ln.code for ln in leaves], X.astype(np.float32), y)


# ---------------------------------------------------------------- query adapters


class AdapterData:
    """Every labelled item's query vector and target line vector (engines/adapter.py), to fit adapters on subsets."""

    def __init__(self, runtime: Runtime, items: list[Item], log=print):
        from ..models import SourceKind

        index = runtime.retriever.dense_index(SourceKind.HTS)
        keep = [i for i, p in enumerate(index.passages) if p.codes and len(p.codes[0]) >= 8 and index.present[i]]
        codes = [index.passages[i].codes[0] for i in keep]
        targets = line_targets(codes, index.matrix[keep], [it.gold for it in items])
        self.items = [it for it, t in zip(items, targets) if t is not None]
        self.targets = np.asarray([t for t in targets if t is not None], dtype=np.float32)
        inner = getattr(runtime.embedder, "inner", runtime.embedder)
        texts = [build_query(it.description).text for it in self.items]
        log(f"adapter: embedding {len(texts)} queries")
        self.queries = np.concatenate([inner.embed(texts[i:i + 256]) for i in range(0, len(texts), 256)]) \
            if texts else np.zeros((0, self.targets.shape[1] if len(self.targets) else 1), np.float32)

    def fit(self, exclude, *, seed: int) -> QueryAdapter | None:
        """An adapter fitted on the items `exclude(item)` is False for (None when nothing is left)."""
        mask = np.array([not exclude(it) for it in self.items], dtype=bool)
        if not mask.any():
            return None
        return fit_adapter(self.queries[mask], self.targets[mask], seed=seed)


# ---------------------------------------------------------------- scoring a ranking


def ranking_metrics(ranked: list[str], gold: tuple[str, ...]) -> dict[str, bool | None]:
    """hs4/hs6/hts10 top-1, hs6 top-5 (distinct subheadings, as suggestions are shown), hts10 recall@50; primary
    gold; None where the gold code is too short to say."""
    g = gold[0]
    top = ranked[0] if ranked else ""
    subs: list[str] = []
    for c in ranked:
        if c[:6] not in subs:
            subs.append(c[:6])
        if len(subs) == 5:
            break
    long = len(g) == 10
    return {"hs4_top1": top[:4] == g[:4], "hs6_top1": top[:6] == g[:6], "hs6_top5": g[:6] in subs,
            "hts10_top1": top == g if long else None, "hts10_recall50": g in ranked[:50] if long else None}


def summarise(per_item: list[dict]) -> dict[str, float | int]:
    out: dict[str, float | int] = {"n": len(per_item)}
    for key in ("hs4_top1", "hs6_top1", "hs6_top5", "hts10_top1", "hts10_recall50"):
        vals = [m[key] for m in per_item if m[key] is not None]
        out[key] = round(float(np.mean(vals)), 4) if vals else None
    return out


def n_words(item: Item) -> int:
    """The query's word count, as the trust model reads it at inference (engines.assessment)."""
    return len(words(build_query(item.description).text))


def rank(codes: list[str], scores: np.ndarray) -> list[str]:
    """Codes best first, ties by code (as the engine breaks them)."""
    return [c for _, c in sorted(zip((-scores).tolist(), codes))]


# ---------------------------------------------------------------- training


@dataclass
class TrainingRun:
    items: list[Item]
    cv: dict[str, dict[str, dict]] = field(default_factory=dict)  # kind -> source -> metrics
    loso: dict[str, dict] = field(default_factory=dict)  # source -> metrics (chosen kind)
    chosen: str = "lambdarank"
    temperature: float = 1.0
    rows: int = 0
    params: dict = field(default_factory=lambda: dict(LGBM_PARAMS))
    negative_keep: float = NEGATIVE_KEEP
    weigh_sources: bool = False
    adapter_items: int = 0  # items the query adapters were fitted on (0: no adapter, e.g. an HS-only corpus)
    answer_cv: dict[str, dict] = field(default_factory=dict)  # source -> metrics of the answer's order (chosen kind)


def source_weights(sources: np.ndarray) -> np.ndarray:
    """One weight per row so that every source weighs the same in training: n_rows_items / (n_sources * n_source)."""
    names, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
    return (len(sources) / (len(names) * counts))[inverse]


def train_ranker(runtime: Runtime, items: list[Item], *, out: Path, work: Path, folds: int = FOLDS,
                 seed: int = SEED, loso: bool = True, params: dict | None = None,
                 negative_keep: float = NEGATIVE_KEEP, weigh_sources: bool = False, log=print) -> TrainingRun:
    """Grouped K-fold CV of both model kinds, leave-one-source-out, then the final model (see module docstring).
    `params` override the LambdaRank hyper-parameters (LGBM_PARAMS); `negative_keep` is the share of label-0 rows
    kept; `weigh_sources` gives every source the same total weight (LambdaRank only)."""
    lgbm_params = {**LGBM_PARAMS, **(params or {})}
    assign_folds(items, folds=folds, seed=seed)
    fold_of = {(it.dataset, it.item_id): it.fold for it in items}  # every record, sampled or not
    everything, items = items, [it for it in items if it.train]
    engine = OfflineEngine(runtime, packaged=False)
    cache = SignalCache(runtime)
    rng = np.random.default_rng(seed)

    def own_fold(f: int):
        return lambda v: fold_of.get((v.dataset, v.item_id)) == f

    # 0. Query adapters: one per fold (fitted without the fold's items, sampled or not) and the final one.
    adapter_data = AdapterData(runtime, everything, log=log) if runtime.catalog.nomenclature.edition.startswith("HTS") \
        else None
    adapters: dict[int, QueryAdapter | None] = {}
    final_adapter = None
    if adapter_data is not None:
        for f in range(folds):
            adapters[f] = adapter_data.fit(lambda it, f=f: it.fold == f, seed=seed)
        final_adapter = adapter_data.fit(lambda it: False, seed=seed)
        log(f"adapter: {folds} fold adapters and the final one fitted on {len(adapter_data.items)} items")

    # 1. Training rows: every item with its own fold left out of precedent retrieval; label-0 rows subsampled.
    Xs, ys, gs, item_of = [], [], [], []
    all_rows: list[Rows] = []  # every candidate row, kept for out-of-fold scoring (not built twice)
    for n, it in enumerate(items):
        r = item_rows(engine, cache, it, own_fold(it.fold), adapters.get(it.fold))
        all_rows.append(r)
        keep = (r.y > 0) | (rng.random(len(r.y)) < negative_keep)
        if not (r.y > 0).any():
            keep[:] = False  # nothing to learn from an item whose answer is not among the candidates
        Xs.append(r.X[keep]), ys.append(r.y[keep]), gs.append(np.full(int(keep.sum()), n)), item_of.append(n)
        if n % 500 == 499:
            cache.save()
            log(f"features: {n + 1}/{len(items)} items")
    cache.save()
    X, y, g = np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs)
    row_fold = np.array([items[i].fold for i in g])
    row_source = np.array([items[i].dataset for i in g])
    run = TrainingRun(items=items, rows=len(y), params=lgbm_params, negative_keep=negative_keep,
                      weigh_sources=weigh_sources, adapter_items=len(adapter_data.items) if adapter_data else 0)
    item_source = np.array([it.dataset for it in items])
    w = source_weights(item_source)[g] if weigh_sources else None

    def fit(kind: str, mask: np.ndarray) -> Ranker:
        p = lgbm_params if kind == "lambdarank" else None
        return Ranker(kind=kind, seed=seed, params=p).fit(X[mask], y[mask], g[mask],
                                                          weight=w[mask] if w is not None else None)

    log(f"training rows: {len(y)} ({int((y > 0).sum())} positive) from {len(items)} items")

    # 2. Fold models of each kind; every item scored by the models that never saw its fold.
    work.mkdir(parents=True, exist_ok=True)
    models = {kind: {} for kind in KINDS}
    for kind in KINDS:
        for f in range(folds):
            m = fit(kind, row_fold != f)
            m.adapter = adapters.get(f)
            models[kind][f] = m
    oof: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    oof_records: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for it, r in zip(items, all_rows):
        query_words = n_words(it)
        for kind in KINDS:
            scores = models[kind][it.fold].predict(r.X)
            ranked = rank(r.codes, scores)
            oof[kind].append(ranking_metrics(ranked, it.gold) | {"dataset": it.dataset})
            order = np.lexsort((np.array(r.codes), -scores))[:SOFTMAX_K]
            oof_records[kind].append({"dataset": it.dataset, "item_id": it.item_id, "fold": it.fold,
                                    "gold": list(it.gold), "query_words": query_words,
                                    "codes": [r.codes[i] for i in order],
                                    "scores": [round(float(scores[i]), 6) for i in order],
                                    "labels": [int(r.y[i]) for i in order],
                                    # the best line's evidence, as the trust model reads it at answer time
                                    "evidence": [round(float(r.X[order[0], j]), 6) for j in EVIDENCE_COLUMNS]
                                    if len(order) else None})
    sources = sorted({it.dataset for it in items})
    for kind in KINDS:
        run.cv[kind] = {s: summarise([m for m in oof[kind] if m["dataset"] == s]) for s in sources}
        run.cv[kind]["all"] = summarise(oof[kind])
    macro = {k: np.mean([run.cv[k][s]["hs6_top1"] for s in sources]) for k in KINDS}
    # The simpler model ships when it does as well under CV.
    run.chosen = "logistic" if macro["logistic"] >= macro["lambdarank"] else "lambdarank"
    log(f"CV macro hs6 top-1: {', '.join(f'{k} {v:.3f}' for k, v in macro.items())}; shipping {run.chosen}")

    # 3. Confidences: the softmax temperature fitted on out-of-fold scores (exact line right, US items).
    groups_s, correct = [], []
    for rec in oof_records[run.chosen]:
        if len(rec["gold"][0]) == 10:
            groups_s.append(np.array(rec["scores"]))
            correct.append(np.array(rec["labels"]) == 4)
    run.temperature = fit_temperature(groups_s, correct)
    # What the answer lists first: subheadings by probability mass at that temperature (suggestions.subheading_first).
    answered = []
    for rec in oof_records[run.chosen]:
        k = rec["scores"][:SOFTMAX_K]
        probs = dict(zip(rec["codes"][:SOFTMAX_K], calibrate(k, temperature=run.temperature)))
        answered.append(ranking_metrics(subheading_first(rec["codes"], probs), tuple(rec["gold"]))
                        | {"dataset": rec["dataset"]})
    run.answer_cv = {s: summarise([m for m in answered if m["dataset"] == s]) for s in sources}
    run.answer_cv["all"] = summarise(answered)
    for f, m in models[run.chosen].items():
        m.temperature = run.temperature
        body = m.to_dict() | {"fold": f, "trained_on_folds": [k for k in range(folds) if k != f]}
        (work / f"fold-{f}.json").write_text(json.dumps(body), encoding="utf-8")
    with gzip.open(work / "oof.jsonl.gz", "wt", encoding="utf-8") as fh:
        for rec in oof_records[run.chosen]:
            fh.write(json.dumps(rec) + "\n")
    (work / "folds.json").write_text(json.dumps({
        "seed": seed, "folds": folds, "kind": run.chosen,
        "items": [{"dataset": it.dataset, "item_id": it.item_id, "group": it.group, "fold": it.fold,
                   "train": it.train} for it in everything],
    }), encoding="utf-8")

    # 4. Leave one source out: trained without the source; its items scored with none of it retrievable.
    if loso and len(sources) > 1:
        for s in sources:
            m = fit(run.chosen, row_source != s)
            loso_adapter = adapter_data.fit(lambda it, s=s: it.dataset == s, seed=seed) if adapter_data else None
            per = []
            for it in items:
                if it.dataset != s:
                    continue
                f = it.fold
                r = item_rows(engine, cache, it, lambda v, s=s, f=f: v.dataset == s or fold_of.get((v.dataset, v.item_id)) == f,
                              loso_adapter)
                per.append(ranking_metrics(rank(r.codes, m.predict(r.X)), it.gold))
            run.loso[s] = summarise(per)
            log(f"LOSO {s}: {run.loso[s]}")

    # 5. The final model on every row.
    final = fit(run.chosen, np.ones(len(y), dtype=bool))
    final.temperature = run.temperature
    final.adapter = final_adapter
    final.save(out)
    (work / "final.json").write_text(json.dumps(final.to_dict()), encoding="utf-8")
    return run
