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


@dataclass(frozen=True)
class LevelModel:
    """One level's calibration maps and its conformal calibration scores (sorted), pooled and per chapter."""

    top: Isotonic
    rest: Isotonic
    inside: Isotonic  # P(the right code is among the candidates | the level's best raw probability)
    scores: dict[str, tuple[float, ...]]  # "all" and "ch:NN" -> sorted nonconformity scores

    def calibrated(self, raw: dict[str, float]) -> dict[str, float]:
        """Calibrated probability per candidate code (best first) and of OUTSIDE."""
        out = {code: (self.top if i == 0 else self.rest)(p) for i, (code, p) in enumerate(raw.items())}
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

    def assess(self, codes: list[str], scores: list[float]) -> dict[int, dict[str, float]]:
        """Calibrated probability per code at each level (best first), OUTSIDE included."""
        probs = softmax(scores[: self.softmax_k], self.temperature)
        codes = codes[: self.softmax_k]
        raw = {lv: masses(codes, probs, lv) for lv in self.levels}
        return {lv: m.calibrated(raw[lv]) for lv, m in self.levels.items() if raw[lv]}  # HS only: no 10-digit level

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
                                 "scores": {k: list(v) for k, v in m.scores.items()}}
                       for lv, m in self.levels.items()},
        }

    @classmethod
    def from_dict(cls, body: dict) -> Trust:
        if body.get("format") != FORMAT:
            raise AssistantError(f"not a trust model (format {body.get('format')!r}, expected {FORMAT})")
        levels = {int(lv): LevelModel(top=_un_iso(m["top"]), rest=_un_iso(m["rest"]), inside=_un_iso(m["inside"]),
                                      scores={k: tuple(v) for k, v in m["scores"].items()})
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
