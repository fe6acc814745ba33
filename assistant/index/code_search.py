"""Code autocomplete from an index built once per nomenclature: lines in code order, words -> lines as bitmasks.

A query word matches a line when it occurs in the line's text (as before: a substring test), which is when it
occurs in one of the line's words. The lines holding a word are one Python int used as a bitmask (bit i: the
i-th line in code order), so ORs and ANDs run in C. Fragments of one or two characters (the costly ones: they
occur in most words) are precomputed; a longer fragment is looked up among the words holding its rarest
trigram. Query words are capped in number and length, so a request costs milliseconds whatever it asks.
"""

from __future__ import annotations

import bisect
import re
import threading
import weakref
from collections import defaultdict
from functools import lru_cache

from ..errors import InputError
from ..models import TariffLine
from .nomenclature import Nomenclature

MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 8
_WORD = re.compile(r"\w+")


class CodeIndex:
    """Lines sorted by code; for each distinct word, one-, two- and three-character fragment, the lines holding it."""

    def __init__(self, nomenclature: Nomenclature):
        self.lines: list[TariffLine] = sorted(nomenclature.lines(), key=lambda ln: ln.code)
        self.codes = [ln.code for ln in self.lines]
        positions: dict[str, list[int]] = defaultdict(list)
        for i, line in enumerate(self.lines):
            for word in set(_WORD.findall(line.full_text().lower())):
                positions[word].append(i)
        self._vocabulary = sorted(positions)
        self._word_mask = [_mask(positions[w]) for w in self._vocabulary]
        short: dict[str, int] = defaultdict(int)
        trigrams: dict[str, list[int]] = defaultdict(list)
        for t, word in enumerate(self._vocabulary):
            for gram in {word[j : j + n] for n in (1, 2) for j in range(len(word) - n + 1)}:
                short[gram] |= self._word_mask[t]
            for gram in {word[j : j + 3] for j in range(len(word) - 2)}:
                trigrams[gram].append(t)
        self._short, self._trigrams = dict(short), dict(trigrams)
        self._holding = lru_cache(maxsize=4096)(self._lines_holding)

    def _lines_holding(self, fragment: str) -> int:
        if len(fragment) <= 2:
            return self._short.get(fragment, 0)
        grams = [fragment[j : j + 3] for j in range(len(fragment) - 2)]
        rarest = min(grams, key=lambda g: len(self._trigrams.get(g, ())))
        found = 0
        for t in self._trigrams.get(rarest, ()):
            if fragment in self._vocabulary[t]:
                found |= self._word_mask[t]
        return found

    def find(self, *, digits: str = "", words: list[str] | None = None, limit: int = 20) -> list[TariffLine]:
        """The first `limit` lines (in code order) whose code starts with `digits` and whose text holds every word."""
        lo = bisect.bisect_left(self.codes, digits) if digits else 0
        hi = bisect.bisect_left(self.codes, digits + "\uffff") if digits else len(self.codes)
        if not words:
            return self.lines[lo : min(hi, lo + limit)]
        mask = (1 << hi) - (1 << lo)
        for word in dict.fromkeys(words):
            mask &= self._holding(word)
            if not mask:
                return []
        found: list[TariffLine] = []
        while mask and len(found) < limit:
            low = mask & -mask
            found.append(self.lines[low.bit_length() - 1])
            mask ^= low
        return found


def _mask(positions: list[int]) -> int:
    bits = bytearray((max(positions) >> 3) + 1)
    for i in positions:
        bits[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(bits, "little")


def query_words(q: str | None) -> list[str]:
    """The words of an autocomplete query; InputError (422) past MAX_QUERY_CHARS or MAX_QUERY_WORDS."""
    text = (q or "").lower()
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"q is {len(text)} characters long; at most {MAX_QUERY_CHARS}")
    words = _WORD.findall(text)
    if len(words) > MAX_QUERY_WORDS:
        raise InputError(f"q has {len(words)} words; at most {MAX_QUERY_WORDS}")
    return words


_indexes: weakref.WeakKeyDictionary[Nomenclature, CodeIndex] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def code_index(nomenclature: Nomenclature) -> CodeIndex:
    """The index of `nomenclature`, built on first use (once, even when requests arrive together)."""
    with _lock:
        index = _indexes.get(nomenclature)
        if index is None:
            index = _indexes[nomenclature] = CodeIndex(nomenclature)
        return index
