"""The learned ranker: LightGBM LambdaRank (or a logistic regression) over feature rows, saved as one text file."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import AssistantError
from .adapter import QueryAdapter
from .features import FEATURES
from .suggestions import calibrate

SEED = 13
FORMAT = "tariff-ranker/1"
# Threads of one prediction: each row is scored on its own, so the scores are the same bits with 1 or 2 threads
# (test_ranker_scores_do_not_depend_on_threads); a request's ~1,200 rows take ~16 ms on one core, ~9 ms on two.
PREDICT_THREADS = 2
# Small on purpose: a few dozen shallow trees keep the shipped file small and the model hard to overfit.
LABEL_GAIN = [0, 1, 3, 7, 15]  # NDCG gain of the graded labels 0..4 (see graded_label)
LGBM_PARAMS = {"n_estimators": 80, "num_leaves": 15, "learning_rate": 0.08, "min_child_samples": 40,
               "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0}


def graded_label(code: str, gold_codes: tuple[str, ...] | list[str], *, gold_digits: int = 10) -> int:
    """4 exact line, 3 same 8-digit line, 2 same subheading, 1 same heading, 0 otherwise (best over the gold codes);
    `gold_digits` = 6 for foreign (UK) codes, of which only the HS subheading counts."""
    best = 0
    for gold in gold_codes:
        g = gold[:gold_digits]
        for grade, n in ((4, 10), (3, 8), (2, 6), (1, 4)):
            if n <= len(g) and code[:n] == g[:n]:
                best = max(best, grade)
                break
    return best


def _group_sizes(groups: np.ndarray) -> list[int]:
    """Sizes of the runs of equal group ids (rows of one request are contiguous)."""
    sizes: list[int] = []
    last = object()
    for g in groups:
        if g != last:
            sizes.append(0)
            last = g
        sizes[-1] += 1
    return sizes


class Ranker:
    """Scores candidate rows: higher is better. `kind` is "lambdarank" (LightGBM) or "logistic"."""

    def __init__(self, *, kind: str = "lambdarank", seed: int = SEED, params: dict | None = None,
                 temperature: float = 1.0):
        if kind not in ("lambdarank", "logistic"):
            raise ValueError(f"unknown ranker kind {kind!r}")
        self.kind = kind
        self.seed = seed
        self.params = {**(LGBM_PARAMS if kind == "lambdarank" else {"C": 1.0}), **(params or {})}
        self.temperature = temperature  # softmax temperature over a request's scores, fitted on out-of-fold scores
        self.features = FEATURES
        self._booster = None
        self._linear: dict | None = None
        self.adapter: QueryAdapter | None = None  # the query adapter whose searches the features were built from

    # ------------------------------------------------------------------ sklearn-like

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, weight: np.ndarray | None = None) -> Ranker:
        """Train on rows X with graded labels y; `groups` gives each row's request id (rows of a request contiguous);
        `weight` (optional, one per row, equal within a request) weighs requests, e.g. so that no source dominates."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.shape[1] != len(self.features):
            raise ValueError(f"X has {X.shape[1]} columns; the ranker expects {len(self.features)}")
        if self.kind == "lambdarank":
            import lightgbm as lgb

            train = lgb.Dataset(X, label=y, group=_group_sizes(np.asarray(groups)), weight=weight,
                                feature_name=list(self.features), free_raw_data=True)
            p = dict(self.params)
            rounds = int(p.pop("n_estimators"))
            params = {
                "objective": "lambdarank", "metric": "ndcg", "label_gain": list(p.pop("label_gain", LABEL_GAIN)),
                "lambdarank_truncation_level": int(p.pop("lambdarank_truncation_level", 30)),
                "num_leaves": p.pop("num_leaves"),
                "learning_rate": p.pop("learning_rate"), "min_data_in_leaf": p.pop("min_child_samples"),
                "bagging_fraction": p.pop("subsample"), "bagging_freq": p.pop("subsample_freq"),
                "feature_fraction": p.pop("colsample_bytree"), "lambda_l2": p.pop("reg_lambda"),
                "seed": self.seed, "deterministic": True, "force_row_wise": True, "num_threads": 1,
                "verbosity": -1, **p,
            }
            self._booster = lgb.train(params, train, num_boost_round=rounds)
        else:
            from sklearn.linear_model import LogisticRegression  # (per-request weights: LambdaRank only)

            mean, scale = X.mean(axis=0), X.std(axis=0)
            scale[scale == 0] = 1.0
            model = LogisticRegression(C=self.params["C"], max_iter=500, random_state=self.seed)
            model.fit((X - mean) / scale, (y >= 2).astype(int), sample_weight=np.where(y > 0, y, 1.0))
            self._linear = {"mean": mean.tolist(), "scale": scale.tolist(), "coef": model.coef_[0].tolist(),
                            "intercept": float(model.intercept_[0])}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """One score per row (comparable within a request)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.features):
            raise ValueError(f"X must have {len(self.features)} columns")
        if not len(X):
            return np.zeros(0)
        if self._booster is not None:
            return self._booster.predict(X, num_threads=PREDICT_THREADS)
        if self._linear is not None:
            lin = self._linear
            z = (X - np.asarray(lin["mean"])) / np.asarray(lin["scale"])
            return z @ np.asarray(lin["coef"]) + lin["intercept"]
        raise AssistantError("the ranker is not trained")

    def probabilities(self, scores: list[float] | np.ndarray) -> list[float]:
        """Softmax of one request's scores at the fitted temperature (the suggestions' confidences)."""
        return calibrate([float(v) for v in scores], temperature=self.temperature)

    # ------------------------------------------------------------------ persistence (text, no pickle)

    def to_dict(self) -> dict:
        body = {"format": FORMAT, "kind": self.kind, "seed": self.seed, "params": self.params,
                "features": list(self.features), "temperature": self.temperature}
        if self._booster is not None:
            body["lightgbm"] = self._booster.model_to_string()
        if self._linear is not None:
            body["linear"] = self._linear
        if self.adapter is not None:
            body["adapter"] = self.adapter.to_dict()
        return body

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return p

    @classmethod
    def from_dict(cls, body: dict) -> Ranker:
        if body.get("format") != FORMAT:
            raise AssistantError(f"not a ranker file (format {body.get('format')!r}, expected {FORMAT})")
        if tuple(body["features"]) != FEATURES:
            raise AssistantError("the ranker was trained on other features than this version computes: retrain it "
                                 "with `tariff train ranker`")
        model = cls(kind=body["kind"], seed=body["seed"], params=body["params"], temperature=body["temperature"])
        if "lightgbm" in body:
            import lightgbm as lgb

            model._booster = lgb.Booster(model_str=body["lightgbm"])
        model._linear = body.get("linear")
        if body.get("adapter") is not None:
            model.adapter = QueryAdapter.from_dict(body["adapter"])
        return model

    @classmethod
    def load(cls, path: str | Path) -> Ranker:
        try:
            body = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AssistantError(f"cannot read ranker {path}: {exc}") from None
        return cls.from_dict(body)


def packaged_ranker() -> Ranker | None:
    """The ranker shipped in the package (data/ranker.json), or None when this build has none."""
    ref = resources.files(__package__).joinpath("data/ranker.json")
    if not ref.is_file():
        return None
    return Ranker.from_dict(json.loads(ref.read_text(encoding="utf-8")))


def fit_temperature(score_groups: list[np.ndarray], correct: list[np.ndarray]) -> float:
    """The softmax temperature minimising the negative log-likelihood of the correct candidates (grid, log-spaced)."""
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.02), math.log(20.0), 121)):
        nll = 0.0
        for s, ok in zip(score_groups, correct):
            if not ok.any():
                continue
            z = (s - s.max()) / t
            log_total = math.log(np.exp(z).sum())
            nll -= math.log(max(np.exp(z[ok]).sum(), 1e-300)) - log_total
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t
