"""Citation support: does the cited legal text name the goods (heading text, a note, a ruling, a precedent), does a
cited note exclude them, or does the suggestion rest on a residual "Other" line alone?"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..codes import format_code
from ..models import SourceKind, Suggestion, Support
from .exclusions import apply_exclusions
from .query import stem, words

if TYPE_CHECKING:
    from ..index.catalog import Catalog

# Words too general to say that a text names the goods.
_GENERAL = frozenset({
    "other", "others", "than", "with", "without", "whether", "parts", "part", "thereof", "articles", "article",
    "goods", "products", "product", "made", "used", "use", "kind", "kinds", "type", "types", "similar", "including",
    "their", "from", "into", "this", "that", "these", "those", "such", "which", "heading", "headings", "chapter",
    "note", "notes", "subheading", "section", "also", "each", "more", "less", "not", "for", "and", "the", "of",
    "new", "set", "sets", "item", "items", "general", "value", "weight",
})
_EXCLUDES = re.compile(r"does not (?:cover|include|apply)|do not (?:cover|include)", re.IGNORECASE)


def content(text: str) -> set[str]:
    """The stems of the words that can name goods."""
    return {stem(w) for w in words(text) if len(w) >= 3 and w not in _GENERAL and not w.isdigit()}


def _named(goods: set[str], text: str) -> list[str]:
    return sorted(goods & content(text))[:3]


def check_support(s: Suggestion, description: str, catalog: Catalog) -> Support:
    """What among the suggestion's citations names the goods, and whether a cited note may exclude them."""
    goods = content(description)
    by, excluded, strong = [], [], False
    heading = catalog.nomenclature.get(s.code[:4])
    if heading is not None and (hit := _named(goods, heading.description)):
        by.append(f"heading {format_code(s.code[:4])} names {', '.join(hit)}")
    line = catalog.nomenclature.get(s.code)
    residual = line is not None and line.description.strip().lstrip("-–— ").lower().startswith("other")
    if line is not None and not residual and (hit := _named(goods, line.description)):
        by.append(f"the line names {', '.join(hit)}")
    for c in s.citations:
        if c.kind in (SourceKind.PRECEDENT, SourceKind.RULING):
            by.append(f"{c.label}: similar goods classified in {format_code(s.code[:4])}")
            strong = True
        elif c.kind == SourceKind.NOTE:
            passage = catalog.passage(c.source_id)
            if passage is not None and passage.chapter == s.code[:2]:
                # The engine's own reading of "does not cover" notes (strict: most of an item's wording said).
                ruled_out, sent_to = apply_exclusions(description, [], [passage], penalty=0.0)
                if ruled_out and s.code[:4] not in sent_to:
                    excluded.append(f"{c.label} excludes such goods from chapter {s.code[:2]}")
                    continue
            text = passage.text if passage is not None else c.excerpt
            # What a note lists as *not* covered never supports: only its text before "does not cover" counts.
            hit = _named(goods, _EXCLUDES.split(text, maxsplit=1)[0])
            if hit:
                by.append(f"{c.label} names {', '.join(hit)}")
                strong = True
    supported = bool(by) and not excluded
    if excluded:
        summary = "check: " + "; ".join(excluded)
    elif not by:
        summary = "supported by: residual line only" if residual else "supported by: the line's position only"
    else:
        summary = "supported by: " + "; ".join(by[:3])
    return Support(supported=supported, by_note_or_precedent=strong and not excluded, by=by,
                   excluded_by=excluded, summary=summary)
