"""Facts a classification often turns on (knitted or woven, for men or women, material): contradictions and questions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..codes import format_code
from .evidence import ScoredLine
from .query import OTHER, unanswered, words


@dataclass(frozen=True)
class Facet:
    """A fact the tariff often turns on, how the tariff words each value, and how a user states it."""

    question: str
    values: dict[str, tuple[str, ...]]  # option shown to the user -> words in a line path that mean it
    stated_by: tuple[str, ...]  # words in the description that already answer it


FACETS = (
    Facet(
        "Is it knitted or crocheted, or woven?",
        {"knitted or crocheted": ("knitted or crocheted",), "woven": ("not knitted", "woven")},
        ("knit", "knitted", "crocheted", "crochet", "woven", "jersey", "fleece", "denim", "twill", "poplin"),
    ),
    Facet(
        "Is it for men or boys, for women or girls, or for babies?",
        {"for men or boys": ("men's or boys'", "men's", "boys'"), "for women or girls": ("women's or girls'", "women's", "girls'"),
         "for babies": ("babies'",)},
        ("men", "mens", "men's", "boys", "boy's", "boys'", "women", "womens", "women's", "girls", "girl's", "girls'",
         "ladies", "baby", "babies", "infant", "infants", "unisex", "male", "female"),
    ),
    Facet(
        "What is it mainly made of (the material that predominates by weight)?",
        {"cotton": ("of cotton",), "synthetic fibers": ("of synthetic fibers", "of man-made fibers"),
         "wool or fine animal hair": ("of wool",), "plastics": ("of plastics",), "iron or steel": ("of iron or steel",
         "of stainless steel"), "aluminum": ("of aluminum",), "leather": ("of leather", "composition leather")},
        ("cotton", "polyester", "nylon", "acrylic", "rayon", "viscose", "wool", "silk", "linen", "synthetic",
         "man-made", "plastic", "plastics", "pvc", "polyethylene", "polypropylene", "steel", "iron", "aluminum",
         "aluminium", "leather", "rubber", "wood", "wooden", "glass", "paper", "copper", "brass", "ceramic"),
    ),
)

_KNIT = frozenset({"knit", "knitted", "crocheted", "crochet", "jersey", "fleece"})
_WOVEN = frozenset({"woven", "denim", "twill", "poplin"})
_MEN = frozenset({"men", "mens", "men's", "boys", "boy's", "boys'", "male"})
_WOMEN = frozenset({"women", "womens", "women's", "ladies", "girls", "girl's", "girls'", "female", "woman", "woman's"})
_LINE_MEN = re.compile(r"\bmen's|\bboys'")
_LINE_WOMEN = re.compile(r"\bwomen's|\bgirls'")
# Age, within the gender groups the tariff joins ("Men's or boys'") and its statistical suffixes split ("Men's",
# "Boys'"): "male"/"female" say nothing of it.
_ADULT = frozenset({"men", "mens", "men's", "women", "womens", "women's", "ladies", "woman", "woman's"})
_CHILD = frozenset({"boys", "boy's", "boys'", "girls", "girl's", "girls'"})
_LINE_ADULT = re.compile(r"\b(?:wo)?men's")
_LINE_CHILD = re.compile(r"\b(?:boys|girls)'")


# "not of cotton", "not knitted or crocheted", "non-alcoholic", "isn't leather" (but never "whether or not").
_NEGATED = re.compile(r"(?<!or )\b(?:not|non|isn't|aren't)[\s-]+(?:(?:made|wholly|mainly|entirely)\s+)*"
                      r"(?:(?:of|from|for|in|a|an)\s+)*([a-z][a-z'\-]*(?:\s+or\s+(?:of\s+)?[a-z][a-z'\-]*)*)")
# Words after "not" that state a limit or a doubt, not a fact the tariff splits on ("not more than", "not sure").
_NOT_A_FACT = frozenset({"more", "less", "over", "under", "exceed", "exceeding", "only", "sure", "known", "yet",
                         "including", "elsewhere", "specified", "other", "applicable", "available", "certain"})
_NEGATION_IN_LINE = re.compile(r"\b(?:not|non|other than|excluding|except)\b")
MATERIALS = frozenset({*FACETS[2].stated_by, "textile", "paperboard", "vulcanised", "fur", "furskin"})


def _stem(word: str) -> str:
    word = word.lower().replace("aluminium", "aluminum")
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def negated(query: str) -> frozenset[str]:
    """The words the query states the goods are not ("not of cotton or wool" -> {"cotton", "wool"})."""
    out = set()
    for m in _NEGATED.finditer(query.lower()):
        out.update(w.removeprefix("of ").strip() for w in re.split(r"\s+or\s+", m.group(1)))
    return frozenset(w for w in out if len(w) > 2 and w not in _NOT_A_FACT)


def stated_facts(query: str) -> frozenset[str]:
    """The facts of the query that contradictions() looks at: facet words, and "not <word>" for each negation."""
    no = negated(query)
    yes = set(words(_NEGATED.sub(" ", query.lower()))) & (_KNIT | _WOVEN | _MEN | _WOMEN)
    return frozenset(yes | {f"not {w}" for w in no})


_MATERIAL_STEMS = frozenset(_stem(m) for m in MATERIALS)


def _positive(text: str) -> set[str]:
    """Stems of the words a line's segment affirms: those before any "not", "other than" or "excluding"."""
    return {_stem(w) for w in words(_NEGATION_IN_LINE.split(text, maxsplit=1)[0])}


def _only_choice(text: str, word: str) -> str | None:
    """The segment of the line (below its chapter) that names `word` as its only choice, if any."""
    stem = _stem(word)
    if stem not in text.replace("aluminium", "aluminum"):  # a word stemmed to `stem` contains it: not named here
        return None
    material = stem in _MATERIAL_STEMS
    for named, segments in _clauses(text):
        if material and named - {stem}:  # "covered by leather, plastic sheeting, textile ..." is a list
            continue
        for seg, alternatives in segments:
            if seg and all(stem in alt for alt in alternatives):
                return seg
    return None


@lru_cache(maxsize=4096)  # ~10 KB a line: all 19,745 HTS leaves would hold ~190 MB; 4,096 keep the common headings
def _clauses(text: str) -> tuple[tuple[frozenset[str], tuple[tuple[str, tuple[frozenset[str], ...]], ...]], ...]:
    """A line's clauses as _only_choice reads them, parsed once per line: per clause, the materials it names and its
    comma-separated segments, each with the stems every "or"/"and" alternative of it affirms."""
    steps = text.split(": ")
    out = []
    for step in steps[1:] or steps:  # a chapter's title ("Articles of leather; ...") names what it mostly holds
        for clause in re.split(r"[;()]", step):
            segments = [s.strip() for s in clause.split(",")]
            named = frozenset(set().union(*(_positive(s) for s in segments)) & _MATERIAL_STEMS)
            alternatives = [tuple(frozenset(_positive(alt)) for alt in re.split(r"\s+(?:or|and)\s+", seg))
                            for seg in segments]
            out.append((named, tuple(zip(segments, alternatives))))
    return tuple(out)


@lru_cache(maxsize=1 << 16)
def _line_facts(text: str) -> tuple[bool, bool, bool, bool, bool, bool]:
    """What a line's (lowercased) wording says of knitting, gender and age: knitted, not knitted, men's, women's, and
    whether its own segment (after its ancestors) is for adults only or children only. Read once per line."""
    knitted = "knitted or crocheted" in text and "not knitted" not in text
    own = text.rsplit(": ", 1)[-1]
    adult, child = bool(_LINE_ADULT.search(own)), bool(_LINE_CHILD.search(own))
    return (knitted, "not knitted" in text or "woven" in text, bool(_LINE_MEN.search(text)),
            bool(_LINE_WOMEN.search(text)), adult and not child, child and not adult)


@lru_cache(maxsize=1024)
def _reading(said: frozenset[str]) -> tuple[bool, bool, bool, bool, bool, bool, tuple[str, ...]]:
    """What stated facts say, once per request: knitted, woven, not for women, not for men, for adults only, for
    children only, other words negated."""
    yes = {w for w in said if not w.startswith("not ")}
    no = {w[4:] for w in said if w.startswith("not ")}
    knit, woven = yes & _KNIT, yes & _WOVEN or no & _KNIT  # in the tariff's words, "not knitted" is woven
    not_women = bool(yes & _MEN and not yes & _WOMEN or no & _WOMEN)
    not_men = bool(yes & _WOMEN and not yes & _MEN or no & _MEN)
    adult, child = bool(yes & _ADULT and not yes & _CHILD), bool(yes & _CHILD and not yes & _ADULT)
    return bool(knit), bool(woven), not_women, not_men, adult, child, tuple(sorted(no - _KNIT - _MEN - _WOMEN))


def contradictions(query: str, line_text: str, *, said: frozenset[str] | None = None) -> list[str]:
    """Facts stated in the query, negations included, that the line's own wording (with its ancestors) contradicts."""
    said = stated_facts(query) if said is None else said
    if not said:
        return []
    knit, woven, not_women, not_men, adult, child, others = _reading(said)
    text = line_text.lower()
    out = []
    knitted_line, unknitted_line, men, women, adult_line, child_line = _line_facts(text)
    if knit and not woven and unknitted_line:
        out.append("the goods are knitted; this line is for goods not knitted")
    if woven and not knit and knitted_line:
        out.append("the goods are not knitted; this line is for knitted or crocheted goods")
    if not_women and women and not men:
        out.append("the goods are not for women or girls; this line is for women or girls")
    if not_men and men and not women:
        out.append("the goods are not for men or boys; this line is for men or boys")
    if adult and child_line:
        out.append("the goods are for men or women; this line is for boys or girls")
    if child and adult_line:
        out.append("the goods are for boys or girls; this line is for men or women")
    for word in others:
        if (segment := _only_choice(text, word)) is not None:
            out.append(f"the requester states “not {word}”; this line reads “{segment}”")
    return out


WHICH_LINE = "Which describes the goods best?"  # the question between lines, when no single fact splits them
_STOP = frozenset({"of", "or", "and", "the", "for", "other", "not", "with", "its", "their", "a", "an", "in", "than"})


def _shown(text: str) -> str:
    """A line's text as a quick reply: its first clause, without the trailing colon, at most ~70 characters."""
    first = re.split(r"[;:]\s", text.strip(), maxsplit=1)[0].strip(" :;,")
    return first if len(first) <= 70 else first[:67].rsplit(" ", 1)[0] + "…"


def _split(top: list[ScoredLine]) -> list[tuple[str, str]]:
    """Where the candidates part in the tariff: for each branch, best first, its code and the step's text."""
    steps = [[*c.line.path, c.line.description] for c in top]
    at = next((i for i in range(min(map(len, steps))) if len({s[i] for s in steps}) > 1), None)
    if at is None:
        return []
    branches: dict[str, str] = {}  # step text -> the best candidate's code under it
    for c, s in zip(top, steps, strict=True):
        branches.setdefault(s[at], c.line.code)
    # Each branch is named by its best code, cut to the first level at which the branches' codes all differ.
    digits = next((n for n in (2, 4, 6, 8, 10) if len({code[:n] for code in branches.values()}) == len(branches)), 10)
    return [(code[:digits], text) for text, code in branches.items()]


def _names(text: str, markers: tuple[str, ...]) -> bool:
    # "not knitted or crocheted" must not count as "knitted or crocheted"
    return any(re.search(rf"(?<!not ){re.escape(m)}", text) for m in markers)


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP and len(w) > 2}


def open_question(query: str, top: list[ScoredLine], *, context: list[str] | None = None,
                  ) -> tuple[str | None, list[str]]:
    """The clarifying question, unless the requester already answered it "other / don't know" (never asked twice)."""
    question, options = clarifying_question(query, top)
    if question and any(unanswered(f) and question in f for f in context or ()):
        return None, []
    return question, options


def clarifying_question(query: str, top: list[ScoredLine]) -> tuple[str | None, list[str]]:
    """The question the top candidates split on in the tariff, with options named by those lines (plus "other")."""
    if len(top) < 2:
        return None, []
    branches = _split(top)[:4]
    if len(branches) < 2:
        return None, []
    said = set(words(query))
    # A fact the query states already decides the split: nothing to ask (contradictions did the ranking).
    distinct = [_content(text) - set().union(*(_content(t) for _, t in branches if t != text)) for _, text in branches]
    if any(d and d <= said for d in distinct):
        return None, []
    texts = [text.lower() for _, text in branches]
    for facet in FACETS:  # a split the tariff makes on a known fact gets that fact's plain question
        named = [next((o for o, markers in facet.values.items() if _names(t, markers)), None) for t in texts]
        if all(named) and len(set(named)) == len(named):
            return (None, []) if said & set(facet.stated_by) else (facet.question, [*named, OTHER])
    shown = [_shown(text) for _, text in branches]
    codes = " or ".join(format_code(code) for code, _ in branches)
    return f"{WHICH_LINE} The answer decides between {codes}.", [*shown, OTHER]
