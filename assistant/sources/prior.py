"""Code-frequency prior: how often past rulings assigned each code (a precedent statistic; no text, no labels).

Read from a JSON mapping {code: count} or the CROSS code-frequency index ({"valid_10digit": {...}}), or a CSV
"code,count", plain or gzip-compressed. Stored as `prior.json` under TARIFF_HOME; the offline engine uses it, when present, to prefer the
statistical suffixes and subheadings that rulings actually use among otherwise equal candidates.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

from ..errors import SourceFormatError
from ..files import write_atomic

FILENAME = "prior.json"


def load_prior_source(src: str | Path) -> dict[str, int]:
    """Counts per 10-digit code from a local file or URL; SourceFormatError naming the file otherwise."""
    from .fetch import read_bytes, resolve

    path = resolve(src)
    text = read_bytes(path)
    try:
        raw = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not a text file of code counts") from exc
    counts: dict[str, int] = {}
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and isinstance(data.get("valid_10digit"), dict):
            data = data["valid_10digit"]
        if not isinstance(data, dict):
            raise ValueError
        items = data.items()
    except ValueError:
        items = [tuple(r[:2]) for r in csv.reader(raw.splitlines()) if len(r) >= 2]
    for code, n in items:
        digits = "".join(ch for ch in str(code) if ch.isdigit())
        try:
            count = int(n)
        except (TypeError, ValueError):
            continue
        if len(digits) in (6, 8, 10) and count > 0:
            counts[digits] = counts.get(digits, 0) + count
    if not counts:
        raise SourceFormatError(f"{path}: no code counts found (expected JSON {{code: count}} or CSV code,count)")
    return counts


class CodePrior:
    """Smoothed log-frequency of a code and of each of its prefixes."""

    def __init__(self, counts: dict[str, int]):
        self.n_codes = len(counts)
        self.total = max(sum(counts.values()), 1)
        self._by_prefix: Counter[str] = Counter()
        for code, n in counts.items():
            for k in (2, 4, 6, 8, 10):
                if len(code) >= k:
                    self._by_prefix[code[:k]] += n
        self._logs: dict[str, float] = {}  # each code's log_prob, computed once (a request asks for ~1,500)

    def log_prob(self, code: str) -> float:
        """log((count + 1) / total): 0 for nothing known is never better than a seen code."""
        value = self._logs.get(code)
        if value is None:
            value = self._logs[code] = math.log((self._by_prefix.get(code, 0) + 1) / self.total)
        return value

    @classmethod
    def load(cls, home: Path) -> CodePrior | None:
        path = Path(home) / FILENAME
        if not path.exists():
            return None
        return cls(json.loads(path.read_text(encoding="utf-8")))


def save_prior(home: Path, counts: dict[str, int]) -> Path:
    """Write atomically, so a crash never leaves half a prior."""
    return write_atomic(Path(home) / FILENAME, json.dumps(counts, sort_keys=True).encode("utf-8"))
