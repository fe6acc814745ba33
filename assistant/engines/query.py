"""Turning a product description (follow-up facts, listing attributes, category path) into search queries.

Listing input: the attributes that decide a code (material, composition, knitted/woven, gender, use, power source,
type, shape, processing ...) and the meaningful leaves of the category path join the searched text; what never
decides a code (brand, model number, package size or quantity, colour, size, price) and marketing words
("high-quality", "gorgeous", "premium", "new", "2024", "free shipping") are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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


def stem(word: str) -> str:
    """Crude English stem, enough to match "shirts" with "shirt" and "batteries" with "battery"."""
    w = re.sub(r"'s$", "", word).strip("'-")  # men's -> men
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
        if len(w) > 4 and w.endswith(suffix) and not w.endswith("ss"):
            return w[: -len(suffix)] + repl
    return w


_CONTENT_STOP = frozenset({"of", "or", "and", "the", "for", "other", "with", "not", "than", "its", "their", "whether",
                           "nesoi", "thereof", "such", "used", "containing", "including", "excluding", "any", "all"})
_cached_stem = lru_cache(maxsize=1 << 16)(stem)  # the tariff's ~20,000 lines use a few thousand words


def content_stems(text: str) -> frozenset[str]:
    """Stems of a text's content words (three letters or more, starting with a letter, not a stop word): what the
    ranker's word features compare (changing it changes the features: retrain the ranker)."""
    return frozenset(_cached_stem(w) for w in words(text) if len(w) > 2 and w[0].isalpha() and w not in _CONTENT_STOP)


OTHER = "other / don't know"  # offered with every clarifying question: the goods fit none of the options, or unknown


def unanswered(fact: str) -> bool:
    """Whether a follow-up fact only says the requester could not answer a question ("other / don't know: ...")."""
    return fact.strip().lower().startswith(OTHER)


# Attribute names (normalised: lower case, "_"/"-" as spaces) that never decide a code.
IGNORED_ATTRIBUTES = frozenset({
    "brand", "brand name", "manufacturer", "maker", "seller", "vendor", "store", "shop", "model", "model number",
    "model name", "model no", "item model number", "part number", "mpn", "sku", "upc", "ean", "gtin", "asin", "isbn",
    "colour", "color", "colour name", "color name", "size", "clothing size", "shoe size", "ring size", "price",
    "list price", "sale price", "msrp", "currency", "quantity", "qty", "package quantity", "pack size",
    "package size", "pack of", "number of items", "item count", "unit count", "condition", "warranty", "shipping",
    "rating", "reviews", "release date", "year", "season", "style number", "style code", "url", "image", "id",
})
# Decisive attributes first, in this order (others keep their given order after them).
DECISIVE_ATTRIBUTES = (
    "material", "materials", "composition", "fabric", "fabric type", "outer material", "fiber", "fibre",
    "construction", "knit or woven", "knitted", "woven", "gender", "department", "for whom", "target audience",
    "age group", "use", "usage", "intended use", "function", "application", "power source", "power", "voltage",
    "type", "product type", "item type", "form", "shape", "processing", "preparation", "state", "ingredients",
)
# Words that sell rather than describe ("high-quality gorgeous premium new 2024 free shipping").
MARKETING = re.compile(
    r"\b(?:brand[- ]new|new arrivals?|new|hot(?:[- ]sale)?|best[- ]?sell(?:er|ing)|top[- ]quality|high[- ]quality|"
    r"premium|luxury|luxurious|gorgeous|beautiful|amazing|perfect|stylish|trendy|fashionable|cute|elegant|deluxe|"
    r"super|great|excellent|ideal|upgraded|genuine|authentic|original|official|limited[- ]edition|free[- ]shipping|"
    r"fast[- ]shipping|on[- ]sale|sale|discount(?:ed)?|cheap|clearance|(?:19|20)\d\d)\b[!.,]*",
    re.IGNORECASE,
)
_GENERIC_CATEGORIES = frozenset({"all", "all categories", "home", "other", "others", "misc", "miscellaneous",
                                 "products", "shop", "more", "new", "sale", "general"})


@dataclass(frozen=True)
class Query:
    """The searchable forms of one request."""

    text: str  # description plus follow-up context (and decisive listing facts), as searched
    expanded: str  # text plus tariff wording for the trade terms found in it
    expansions: tuple[str, ...]  # the expansions added (shown in the rationale)
    facts: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # listing attributes kept
    category: tuple[str, ...] = ()  # the meaningful leaves of the category path, most specific first
    ignored: tuple[str, ...] = ()  # attribute names left out (brand, colour, size ...)


def _attribute_name(name: object) -> str:
    return re.sub(r"[\s_\-:]+", " ", str(name)).strip().lower()


def _attribute_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(_attribute_value(v) for v in value if v not in (None, ""))
    return " ".join(str(value).split()) if value is not None else ""


def listing_facts(attributes: Mapping[str, object] | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """(decisive attributes name -> value, decisive first; names left out because they never decide a code)."""
    kept: dict[str, str] = {}
    ignored: list[str] = []
    for raw, value in (attributes or {}).items():
        name, text = _attribute_name(raw), clean_listing_text(_attribute_value(value))
        if not name or not text:
            continue
        if name in IGNORED_ATTRIBUTES:
            ignored.append(name)
        else:
            kept[name] = text
    order = {n: i for i, n in enumerate(DECISIVE_ATTRIBUTES)}
    ranked = sorted(kept, key=lambda n: order.get(n, len(order)))  # stable: unknown names keep their order
    return {n: kept[n] for n in ranked}, tuple(ignored)


def category_leaves(category: str | Iterable[str] | None, *, keep: int = 2) -> tuple[str, ...]:
    """The meaningful end of a category path ("Apparel > Men > T-shirts" -> ("T-shirts", "Men")), most specific first."""
    useful = [p for p in split_category(category) if p.lower() not in _GENERIC_CATEGORIES]
    return tuple(reversed(useful[-keep:]))


def split_category(category: str | Iterable[str] | None) -> list[str]:
    """A category path as its parts, outermost first ("Apparel > T-shirts", "Apparel/T-shirts" or a list)."""
    if not category:
        return []
    items = [category] if isinstance(category, str) else [str(c) for c in category]
    return [p.strip() for item in items for p in re.split(r"\s*(?:>|/|\||»|›)\s*", item) if p and p.strip()]


def clean_listing_text(text: str) -> str:
    """The text without marketing words ("Premium NEW 2024 cotton tee, free shipping" -> "cotton tee")."""
    cleaned = MARKETING.sub(" ", text)
    cleaned = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", cleaned)).strip(" ,;:-!")
    return cleaned or text.strip()


def with_listing(description: str, context: list[str] | None = None, *,
                 attributes: Mapping[str, object] | None = None, category: str | Iterable[str] | None = None,
                 ) -> tuple[str, list[str]]:
    """(description, facts) as an engine searches them: for listing input (attributes or a category given) the
    description loses its marketing words and the decisive attributes and category leaves become facts."""
    facts = [c.strip() for c in (context or []) if c and c.strip()]
    if attributes is None and category is None:
        return description.strip(), facts
    kept, _ = listing_facts(attributes)
    leaves = category_leaves(category)
    facts += [f"{name}: {value}" for name, value in kept.items()]
    if leaves:
        facts.append("category: " + ", ".join(leaves))
    return clean_listing_text(description), facts


def build_query(description: str, context: list[str] | None = None, *,
                attributes: Mapping[str, object] | None = None, category: str | Iterable[str] | None = None) -> Query:
    """Combine description, follow-up facts, decisive listing attributes and category leaves; add tariff wording for
    trade terms (e.g. polyester -> synthetic fibers)."""
    facts, ignored = listing_facts(attributes)
    leaves = category_leaves(category)
    head, more = with_listing(description, context, attributes=attributes, category=category)
    parts = [head, *(f for f in more if not unanswered(f))]  # "don't know" says nothing about the goods
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
    return Query(text=text, expanded=expanded, expansions=tuple(found), facts=facts, category=leaves,
                 ignored=ignored)
