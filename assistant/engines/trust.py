"""Trust: confidence calibrated at 4, 6 and 10 digits, conformal candidate sets, and the routing they give a case.

How it works (fitted by `tariff train trust` on the ranker's out-of-fold scores, never on the items it reports on):
- The ranker's softmax over its best SOFTMAX_K lines is summed per heading / subheading / line ("raw" probability).
- Per level, two isotonic maps turn raw into calibrated probability: one for the level's best code, one for the rest;
  a third gives the probability that the right code is among the candidates at all (from the best raw value).
- Candidate sets are split conformal (maps fitted on some folds, scores computed on the others) with the LAC score (1 - calibrated probability of the right code) over the
  candidate codes plus one pseudo-code, OUTSIDE ("none of the candidates"): a set that has to include OUTSIDE to reach
  its coverage is *open* - the right code may lie outside the codes it lists. Our own few lines rather than `crepes`:
  the open-set class and the per-request coverage need the sorted calibration scores, which is all this keeps.
- Mondrian by chapter of the best answer where a chapter has enough calibration items, else one pooled quantile.
- Input-aware (when the training records carry the query's word count): the best code's probability comes from a
  logistic regression on the request's context (CONTEXT: its raw probability, the best heading's and subheading's,
  the margin to the runner-up, the number of codes sharing the pool, the query's length, the ranker's best score and
  its lead over the next; and, when the training records carry it, the best line's EVIDENCE: how strongly
  precedents, the adapted search, the tariff text and the HS view back its subheading and heading), then the
  isotonic map. A three-word parcel text and a ruling's paragraph with the same raw probability are not equally
  likely right, nor are a code that ten precedents assign and one only the tariff text suggests.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AssistantError
from .features import EVIDENCE
from .suggestions import calibrate

FORMAT = "tariff-trust/1"
LEVELS = (4, 6, 10)
OUTSIDE = "*"  # pseudo-code: the right code is none of the candidates
DEFAULT_COVERAGE = 0.9
QUICK_CONFIRM = 0.8  # calibrated 6-digit confidence above which a set of one may be confirmed quickly
MAX_REVIEW_SET = 5  # a 6-digit set larger than this cannot be reviewed from the evidence shown: ask for information


def softmax(scores: list[float] | np.ndarray, temperature: float) -> np.ndarray:
    """The ranker's confidences over one request's candidate scores (the engine's own softmax, as an array)."""
    return np.asarray(calibrate([float(v) for v in scores], temperature=temperature), dtype=np.float64)


def masses(codes: list[str], probs: np.ndarray, level: int) -> dict[str, float]:
    """Raw probability per code prefix of `level` digits, best first (ties by code)."""
    out: dict[str, float] = {}
    for code, p in zip(codes, probs):
        if len(code) >= level:
            out[code[:level]] = out.get(code[:level], 0.0) + float(p)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class Isotonic:
    """A monotone map fitted by isotonic regression, kept as its breakpoints (no pickle)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, value: float) -> float:
        return float(np.interp(value, self.x, self.y)) if self.x else 0.0

    @classmethod
    def fit(cls, x: list[float], y: list[float]) -> Isotonic:
        from sklearn.isotonic import IsotonicRegression

        if not x:
            return cls((), ())
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        return cls(tuple(round(float(v), 6) for v in iso.X_thresholds_),
                   tuple(round(float(v), 6) for v in iso.y_thresholds_))


CONTEXT = ("logit_best", "logit_best_4", "logit_best_6", "margin", "log_codes", "log_words", "score_best",
           "score_gap")


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def context_row(raw: dict[int, dict[str, float]], level: int, words: int, scores: list[float] | tuple[float, ...],
                evidence: list[float] | tuple[float, ...] | None = None) -> list[float]:
    """The CONTEXT features of a request at `level` (raw: the level's masses, best first, per level; scores: the
    ranker's scores, best first), followed by the best line's EVIDENCE values when given."""
    own = list(raw.get(level, {}).values())
    best, second = (own[0] if own else 0.0), (own[1] if len(own) > 1 else 0.0)
    b4, b6 = next(iter(raw.get(4, {}).values()), 0.0), next(iter(raw.get(6, {}).values()), 0.0)
    top = float(scores[0]) if len(scores) else 0.0
    gap = top - float(scores[1]) if len(scores) > 1 else 0.0
    return [_logit(best), _logit(b4), _logit(b6), best - second, math.log1p(len(own)), math.log1p(max(words, 0)),
            top, gap, *(float(v) for v in evidence or ())]


@dataclass(frozen=True)
class Context:
    """Logistic regression on standardised CONTEXT features: P(the level's best code is right)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @property
    def reads_evidence(self) -> bool:
        """Whether the row must end with the best line's EVIDENCE (else CONTEXT alone)."""
        return len(self.coef) == len(CONTEXT) + len(EVIDENCE)

    def __call__(self, row: list[float]) -> float:
        z = self.intercept + sum(c * (v - m) / s for c, v, m, s in zip(self.coef, row, self.mean, self.scale))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    @classmethod
    def fit(cls, rows: list[list[float]], y: list[float], *, seed: int = 13) -> Context | None:
        """None when the labels are all one class (nothing to learn)."""
        from sklearn.linear_model import LogisticRegression

        if len(set(y)) < 2:
            return None
        X = np.asarray(rows, dtype=np.float64)
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale[scale < 1e-6] = 1.0  # a constant feature (kept, it then weighs nothing)
        m = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit((X - mean) / scale, np.asarray(y) > 0.5)
        r = lambda v: tuple(round(float(x), 8) for x in v)  # noqa: E731
        return cls(r(mean), r(scale), r(m.coef_[0]), round(float(m.intercept_[0]), 8))

    def to_dict(self) -> dict:
        return {"features": list(CONTEXT) + (list(EVIDENCE) if self.reads_evidence else []),
                "mean": list(self.mean), "scale": list(self.scale), "coef": list(self.coef),
                "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict | None) -> Context | None:
        if not d:
            return None
        if tuple(d.get("features", ())) not in (CONTEXT, CONTEXT + EVIDENCE):
            raise AssistantError("the trust model's context features differ from this version's: retrain it with "
                                 "`tariff train trust`")
        return cls(tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]), float(d["intercept"]))


@dataclass(frozen=True)
class LevelModel:
    """One level's calibration maps and its conformal calibration scores (sorted), pooled and per chapter."""

    top: Isotonic
    rest: Isotonic
    inside: Isotonic  # P(the right code is among the candidates | the level's best raw probability)
    scores: dict[str, tuple[float, ...]]  # "all" and "ch:NN" -> sorted nonconformity scores
    context: Context | None = None  # input-aware: the best code's probability before `top` (see CONTEXT)

    def context_row(self, raw: dict[int, dict[str, float]], level: int, words: int, scores,
                    evidence: list[float] | tuple[float, ...] | None) -> list[float] | None:
        """The request's row for this level's context model (the evidence only when it reads it); None without one."""
        if self.context is None:
            return None
        return context_row(raw, level, words, scores, evidence if self.context.reads_evidence else None)

    def calibrated(self, raw: dict[str, float], row: list[float] | None = None) -> dict[str, float]:
        """Calibrated probability per candidate code (best first) and of OUTSIDE; `row`: the request's context_row
        (required when the model is input-aware). A row without the EVIDENCE an evidence-aware model reads (an answer
        read back from the LLM engine's cache keeps no feature values) gets the best code's raw probability mapped
        by `top` alone: an approximation, never an error."""
        if self.context is not None and row is None:
            raise AssistantError("this trust model is input-aware: pass the request's context row")
        usable = self.context is not None and row is not None and len(row) == len(self.context.coef)
        first = (lambda p: self.top(self.context(row))) if usable else self.top  # noqa: E731
        out = {code: (first if i == 0 else self.rest)(p) for i, (code, p) in enumerate(raw.items())}
        # A runner-up is never stated as likelier than the best code. The input-aware map can rate the best code
        # below what `rest` (blind to the request) gives the runner-up; out of fold that happened in 9 % of requests
        # at 6 digits, and there the runner-up was right 18.6 % of the time against 22.8 % stated (the best: 17.5 %
        # against 17.3 %), so the cap is both coherent and closer to the truth.
        ceiling = next(iter(out.values()), 1.0)
        out = {code: min(p, ceiling) for code, p in out.items()}
        best = next(iter(raw.values()), 0.0)
        out[OUTSIDE] = 1.0 - self.inside(best) if raw else 1.0
        return out

    def threshold(self, coverage: float, chapter: str | None, *, min_group: int) -> float:
        """The conformal quantile of the nonconformity scores for `coverage` (inf when it cannot be reached)."""
        group = self.scores.get(f"ch:{chapter}") if chapter else None
        s = group if group is not None and len(group) >= min_group else self.scores["all"]
        k = math.ceil((len(s) + 1) * coverage)
        return s[k - 1] if 0 < k <= len(s) else math.inf


@dataclass(frozen=True)
class CandidateSetResult:
    level: int
    coverage: float
    codes: tuple[str, ...]
    open: bool


class Trust:
    """Calibrated confidences and conformal candidate sets over one request's ranked candidates."""

    def __init__(self, levels: dict[int, LevelModel], *, temperature: float, softmax_k: int, min_group: int,
                 meta: dict[str, Any] | None = None):
        self.levels, self.temperature, self.softmax_k, self.min_group = levels, temperature, softmax_k, min_group
        self.meta = meta or {}

    def assess(self, codes: list[str], scores: list[float], *, words: int,
               evidence: list[float] | None = None) -> dict[int, dict[str, float]]:
        """Calibrated probability per code at each level (best first), OUTSIDE included; `words`: the query's word
        count (engines.query.words of the built query's text); `evidence`: the best line's EVIDENCE values."""
        probs = softmax(scores[: self.softmax_k], self.temperature)
        codes = codes[: self.softmax_k]
        raw = {lv: masses(codes, probs, lv) for lv in self.levels}
        best_first = sorted((float(v) for v in scores[: self.softmax_k]), reverse=True)
        return {lv: m.calibrated(raw[lv], m.context_row(raw, lv, words, best_first, evidence))
                for lv, m in self.levels.items() if raw[lv]}  # HS only: no 10-digit level

    def candidate_set(self, assessed: dict[str, float], level: int, *, coverage: float,
                      chapter: str | None) -> CandidateSetResult:
        """The codes of `level` whose nonconformity is within the conformal quantile; open when OUTSIDE is in."""
        q = self.levels[level].threshold(coverage, chapter, min_group=self.min_group)
        inside = [c for c, p in assessed.items() if c != OUTSIDE and 1.0 - p <= q]
        is_open = math.isinf(q) or 1.0 - assessed.get(OUTSIDE, 1.0) <= q
        if not inside and not is_open:  # an empty set says nothing to an officer: keep the best code
            inside = [c for c in assessed if c != OUTSIDE][:1]
        return CandidateSetResult(level=level, coverage=coverage, codes=tuple(inside), open=is_open)

    # ------------------------------------------------------------------ persistence (text, no pickle)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "temperature": self.temperature, "softmax_k": self.softmax_k,
            "min_group": self.min_group, "meta": self.meta,
            "levels": {str(lv): {"top": _iso(m.top), "rest": _iso(m.rest), "inside": _iso(m.inside),
                                 "scores": {k: list(v) for k, v in m.scores.items()},
                                 "context": m.context.to_dict() if m.context else None}
                       for lv, m in self.levels.items()},
        }

    @classmethod
    def from_dict(cls, body: dict) -> Trust:
        if body.get("format") != FORMAT:
            raise AssistantError(f"not a trust model (format {body.get('format')!r}, expected {FORMAT})")
        levels = {int(lv): LevelModel(top=_un_iso(m["top"]), rest=_un_iso(m["rest"]), inside=_un_iso(m["inside"]),
                                      scores={k: tuple(v) for k, v in m["scores"].items()},
                                      context=Context.from_dict(m.get("context")))
                  for lv, m in body["levels"].items()}
        return cls(levels, temperature=body["temperature"], softmax_k=body["softmax_k"],
                   min_group=body["min_group"], meta=body.get("meta"))

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Trust:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise AssistantError(f"cannot read trust model {path}: {exc}") from None


def _iso(m: Isotonic) -> dict:
    return {"x": list(m.x), "y": list(m.y)}


def _un_iso(d: dict) -> Isotonic:
    return Isotonic(tuple(d["x"]), tuple(d["y"]))


@lru_cache(maxsize=1)
def packaged_trust() -> Trust | None:
    """The trust model shipped in the package (data/trust.json), or None when this build has none."""
    ref = resources.files(__package__).joinpath("data/trust.json")
    if not ref.is_file():
        return None
    return Trust.from_dict(json.loads(ref.read_text(encoding="utf-8")))


def route(*, abstained: bool, sets: dict[int, CandidateSetResult], top6_confidence: float | None) -> str:
    """quick_confirm (one subheading, high confidence), needs_information (vague input, or a 6-digit set that is open
    or too large to review), else review."""
    s6 = sets.get(6)
    if s6 is None:  # no trust model: nothing says the answer can be confirmed quickly
        return "needs_information" if abstained else "review"
    if abstained or s6.open or len(s6.codes) > MAX_REVIEW_SET:
        return "needs_information"
    if len(s6.codes) == 1 and (top6_confidence or 0.0) >= QUICK_CONFIRM:
        return "quick_confirm"
    return "review"
