"""Turning a product description (and follow-up facts) into search queries: normalising and tariff-wording expansion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
_MAX_PHRASE = 3


@lru_cache(maxsize=1)
def thesaurus() -> dict[str, str]:
    """Trade term -> tariff wording, from data/thesaurus.tsv."""
    out: dict[str, str] = {}
    text = resources.files(__package__).joinpath("data/thesaurus.tsv").read_text(encoding="utf-8")
    for raw in text.splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        term, _, expansion = raw.partition("\t")
        out[term.strip().lower()] = expansion.strip()
    return out


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Query:
    """The searchable forms of one request."""

    text: str  # description plus follow-up context, as the user wrote it
    expanded: str  # text plus tariff wording for the trade terms found in it
    expansions: tuple[str, ...]  # the expansions added (shown in the rationale)


def build_query(description: str, context: list[str] | None = None) -> Query:
    """Combine description and follow-up facts; add tariff wording for trade terms (e.g. polyester -> synthetic fibers)."""
    parts = [description.strip(), *[c.strip() for c in (context or []) if c and c.strip()]]
    text = ". ".join(p.rstrip(".") for p in parts if p)
    toks = words(text)
    table = thesaurus()
    found: list[str] = []
    seen: set[str] = set()
    for n in range(_MAX_PHRASE, 0, -1):
        for i in range(len(toks) - n + 1):
            phrase = " ".join(toks[i : i + n])
            exp = table.get(phrase)
            if exp and exp not in seen:
                seen.add(exp)
                found.append(exp)
    expanded = text if not found else f"{text}. {' '.join(found)}"
    return Query(text=text, expanded=expanded, expansions=tuple(found))
