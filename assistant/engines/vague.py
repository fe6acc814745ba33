"""Vague input: a learned detector of descriptions that cannot decide a chapter ("gifts", "parts", "£5", "beige, one size").

The model is a logistic regression over character n-grams, words and a few signals (length, share of words found in
the tariff vocabulary, digits), trained by `tariff train vague` (vague_training.py) with grouped cross-validation, and
shipped as plain JSON (weights by feature name: no pickle to trust) with a model card beside it (data/vague.md).
When the detector fires, the answer keeps its ranked, cited suggestions but says it needs more information: a
question with options, and confidences capped.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..codes import format_code
from ..models import Classification
from .facets import WHICH_LINE

MODEL_FILE = "data/vague.json"
NGRAMS = (2, 3, 4)  # character n-grams within words (padded with a space each side)
CONFIDENCE_CAP = 0.5  # while the goods are not described, no suggestion is shown as more likely right than wrong
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)
_SPACE = re.compile(r"\s+")
SIGNALS = ("log_words", "log_chars", "tariff_share", "unknown_words", "digit_share", "letters_share")


@lru_cache(maxsize=1)
def tariff_vocabulary() -> frozenset[str]:
    """Stemmed words of the HS 2022 nomenclature (shipped with the assistant): the words goods are classified by."""
    from ..index.retrieve import tokenize
    from ..sources.hs2022 import load_hs2022

    return frozenset(t for line in load_hs2022() for t in tokenize(line.description) if len(t) > 2)


def features(text: str) -> dict[str, float]:
    """Feature name -> value: "c:" character n-grams and "w:" words (each block L2-normalised), "s:" signals."""
    from ..index.retrieve import tokenize

    low = _SPACE.sub(" ", text.lower()).strip()
    grams: dict[str, float] = {}
    for word in low.split(" "):
        padded = f" {word} "
        for n in NGRAMS:
            for i in range(max(len(padded) - n + 1, 1)):
                grams["c:" + padded[i : i + n]] = 1.0
    words = {"w:" + w: 1.0 for w in _WORD.findall(low)}
    out: dict[str, float] = {}
    for block in (grams, words):
        norm = math.sqrt(len(block)) or 1.0
        out.update({k: v / norm for k, v in block.items()})
    tokens = [t for t in tokenize(low) if len(t) > 2]
    vocab = tariff_vocabulary()
    known = sum(t in vocab for t in tokens)
    n_words = len(low.split()) if low else 0
    out.update({
        "s:log_words": math.log1p(n_words),
        "s:log_chars": math.log1p(len(low)),
        "s:tariff_share": known / len(tokens) if tokens else 0.0,
        "s:unknown_words": math.log1p(len(tokens) - known),
        "s:digit_share": sum(ch.isdigit() for ch in low) / max(len(low), 1),
        "s:letters_share": sum(ch.isalpha() for ch in low) / max(len(low), 1),
    })
    return out


@dataclass(frozen=True)
class VagueDetector:
    """Logistic regression by feature name; `threshold` was chosen by cross-validation (see the model card)."""

    weights: dict[str, float]
    intercept: float
    threshold: float
    scale: dict[str, tuple[float, float]]  # signal -> (mean, std) of the training data

    @classmethod
    def from_json(cls, data: dict) -> "VagueDetector":
        return cls(weights=dict(data["weights"]), intercept=float(data["intercept"]),
                   threshold=float(data["threshold"]), scale={k: tuple(v) for k, v in data["scale"].items()})

    @classmethod
    def load(cls, path: str | Path | None = None) -> "VagueDetector":
        text = (Path(path).read_text(encoding="utf-8") if path else
                resources.files(__package__).joinpath(MODEL_FILE).read_text(encoding="utf-8"))
        return cls.from_json(json.loads(text))

    def probability(self, text: str) -> float:
        """P(vague) for a description (with its facts)."""
        z = self.intercept
        for name, value in features(text).items():
            if name in self.scale:
                mean, std = self.scale[name]
                value = (value - mean) / (std or 1.0)
            z += self.weights.get(name, 0.0) * value
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def is_vague(self, text: str) -> bool:
        return self.probability(text) >= self.threshold


@lru_cache(maxsize=1)
def packaged_detector() -> VagueDetector | None:
    """The detector shipped in the package, or None when the model file is absent (nothing is flagged then)."""
    try:
        return VagueDetector.load()
    except FileNotFoundError:
        return None


def apply_vagueness(result: Classification, text: str, *, detector: VagueDetector | None = None) -> Classification:
    """Mark an answer whose description cannot decide a chapter: abstained, a question with options, confidence capped."""
    detector = detector or packaged_detector()
    if detector is None or not text.strip():
        return result
    p = detector.probability(text)
    if p < detector.threshold:
        return result
    chapters: dict[str, str] = {}  # the chapters the ranked suggestions fall in: the question's options
    for s in result.suggestions:
        chapters.setdefault(s.code[:2], (s.path[0] if s.path else format_code(s.code[:2]))[:80])
    options = [f"{title} (chapter {ch})" for ch, title in list(chapters.items())[:4]]
    options += ["something else: say what the goods are, their material and their use"]
    facet = bool(result.clarifying_question) and not result.clarifying_question.startswith(WHICH_LINE)
    return result.model_copy(update={
        "abstained": True,
        "abstain_reason": ("the description does not say what the goods are (what they are made of, what they do) "
                           f"well enough to decide a chapter (vague-input model: {p:.2f} >= {detector.threshold:.2f})"),
        # The engine's question on a fact that splits the candidates (knitted or woven? ...) is the better one; a
        # choice between lines is not: the description cannot decide those yet, so it is asked what the goods are.
        "clarifying_question": result.clarifying_question if facet else (
            "Needs more information: what exactly are the goods - what are they, what are they made of and what are "
            "they used for?"),
        "clarifying_options": list(result.clarifying_options) if facet else options,
        "suggestions": [s.model_copy(update={
            "confidence": min(s.confidence, CONFIDENCE_CAP),
            "confidence_by_level": {lv: min(p, CONFIDENCE_CAP) for lv, p in s.confidence_by_level.items()}})
            for s in result.suggestions],
    })
