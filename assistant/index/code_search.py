"""Code autocomplete from an index built once per nomenclature: lines in code order and a word -> lines map.

A request costs a scan of the vocabulary (some thousands of distinct words) per query word plus set
intersections, never a sort or a lower-casing of every line's text; query words are capped in number.
"""

from __future__ import annotations

import bisect
import heapq
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
    """Lines sorted by code, and for each distinct word of their full text, the positions of the lines holding it."""

    def __init__(self, nomenclature: Nomenclature):
        self.lines: list[TariffLine] = sorted(nomenclature.lines(), key=lambda ln: ln.code)
        self.codes = [ln.code for ln in self.lines]
        postings: dict[str, set[int]] = defaultdict(set)
        for i, line in enumerate(self.lines):
            for word in _WORD.findall(line.full_text().lower()):
                postings[word].add(i)
        self._postings = {w: frozenset(p) for w, p in postings.items()}
        self._vocabulary = tuple(sorted(self._postings))
        self._holding = lru_cache(maxsize=2048)(self._lines_holding)

    def _lines_holding(self, fragment: str) -> frozenset[int]:
        # A query word is a run of word characters, so it occurs in a line's text exactly when it occurs in one
        # of the line's words: the same answer as a substring test on the whole text.
        found: set[int] = set()
        for word in self._vocabulary:
            if fragment in word:
                found |= self._postings[word]
        return frozenset(found)

    def find(self, *, digits: str = "", words: list[str] | None = None, limit: int = 20) -> list[TariffLine]:
        """The first `limit` lines (in code order) whose code starts with `digits` and whose text holds every word."""
        lo = bisect.bisect_left(self.codes, digits) if digits else 0
        hi = bisect.bisect_left(self.codes, digits + "\uffff") if digits else len(self.codes)
        if not words:
            return self.lines[lo : min(hi, lo + limit)]
        sets = sorted((self._holding(w) for w in dict.fromkeys(words)), key=len)
        candidates = (i for i in sets[0] if lo <= i < hi and all(i in s for s in sets[1:]))
        return [self.lines[i] for i in heapq.nsmallest(limit, candidates)]


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
