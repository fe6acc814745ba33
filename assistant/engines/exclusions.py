"""Applying legal notes where a machine can: "This chapter does not cover ..." exclusions that match the goods."""

from __future__ import annotations

import re
from functools import lru_cache

from ..models import Passage
from .evidence import ScoredLine
from .query import words

_ITEM = re.compile(r"\(([a-z]{1,2})\)\s")
_HEADING_REF = re.compile(r"\bheadings?\s+((?:\d{4}(?:\.\d\d)?(?:,\s*|\s+(?:or|and|to)\s+)?)+)", re.IGNORECASE)
_CHAPTER_REF = re.compile(r"\bchapters?\s+(\d{1,2})\b", re.IGNORECASE)
_STOP = frozenset(
    ["the", "of", "or", "and", "a", "an", "in", "for", "to", "with", "by", "on", "other", "than", "its", "their", "which", "whether", "not", "be", "are", "is", "as", "this", "that", "goods", "articles", "heading", "headings", "chapter", "chapters", "subheading", "note", "notes", "section", "products", "made", "parts", "thereof", "such", "like", "similar", "including", "containing"]
)


@lru_cache(maxsize=4096)
def exclusion_items(text: str) -> tuple[tuple[frozenset[str], tuple[str, ...]], ...]:
    """(content words, referenced headings) of each item of a "does not cover" note."""
    lower = text.lower()
    at = lower.find("does not cover")
    if at < 0:
        return ()
    body = text[at + len("does not cover") :]
    pieces = _ITEM.split(body)
    items = []
    # split() yields [preamble, 'a', text_a, 'b', text_b, ...]
    for i in range(2, len(pieces), 2):
        item = pieces[i]
        refs = tuple(re.findall(r"\d{4}", " ".join(m.group(1) for m in _HEADING_REF.finditer(item))))
        content = frozenset(w for w in words(item) if w not in _STOP and not w.isdigit() and len(w) > 2)
        if content:
            items.append((content, refs))
    return tuple(items)


def apply_exclusions(
    query: str, candidates: list[ScoredLine], notes: list[Passage], *, penalty: float
) -> tuple[dict[str, str], dict[str, str]]:
    """Demote candidates whose chapter a matching exclusion note rules out.

    Returns (chapter -> note label) of the exclusions applied and (heading -> note label) of the headings those
    notes send the goods to, so the caller can bring them in.
    """
    said = {w for w in words(query) if w not in _STOP}
    excluded: dict[str, str] = {}
    redirected: dict[str, str] = {}
    for note in notes:
        if note.chapter is None:
            continue
        for content, refs in exclusion_items(note.text):
            hit = said & content
            # Strict on purpose: only when most of the item's wording is in the description.
            if len(hit) >= 2 and len(hit) / len(content) >= 0.5:
                if any(r[:2] == note.chapter for r in refs):
                    continue  # the item points back into the same chapter: not an exclusion of it
                excluded[note.chapter] = note.label
                for ref in refs:
                    redirected.setdefault(ref, note.label)
    if excluded:
        for c in candidates:
            label = excluded.get(c.line.chapter)
            if label:
                c.score -= penalty
                c.reasons.append(f"demoted: {label} excludes such goods from chapter {c.line.chapter}")
    return excluded, redirected
