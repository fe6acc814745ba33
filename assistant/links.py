"""Official sources of what is cited: the USITC or CBP address of a passage, built from its kind and label."""

from __future__ import annotations

import re
from urllib.parse import quote

HTS_SEARCH = "https://hts.usitc.gov/search?query={query}"
HTS_FILE = "https://hts.usitc.gov/reststop/file?release=currentRelease&filename={name}"
CBP_RULING = "https://rulings.cbp.gov/ruling/{number}"

# Section notes are printed at the head of the section's first chapter.
FIRST_CHAPTER = {
    "I": 1, "II": 6, "III": 15, "IV": 16, "V": 25, "VI": 28, "VII": 39, "VIII": 41, "IX": 44, "X": 47, "XI": 50,
    "XII": 64, "XIII": 68, "XIV": 71, "XV": 72, "XVI": 84, "XVII": 86, "XVIII": 90, "XIX": 93, "XX": 94, "XXI": 97,
    "XXII": 98,
}
_CODE = re.compile(r"\b(\d{2,4}(?:\.\d{2}){0,3})\b")
_CHAPTER = re.compile(r"^Chapter (\d{1,2})\b")
_SECTION = re.compile(r"^Section ([IVX]+)\b")
_RULING_NUMBER = re.compile(r"\b((?:N|H|NY|HQ)?\d{5,6}|[NH]\d{6})\b")
HMRC_TARIFF = "https://www.trade-tariff.service.gov.uk/search?q={query}"


def chapter_url(chapter: int | str) -> str:
    """The chapter as USITC publishes it (its PDF: notes first, then the lines)."""
    return HTS_FILE.format(name=quote(f"Chapter {int(chapter)}"))


def line_url(display: str) -> str:
    """A heading, subheading or tariff line on the USITC HTS search (statistical suffix dropped: it is not searched)."""
    parts = display.split(".")
    return HTS_SEARCH.format(query=quote(".".join(parts[:3])))


def source_url(kind: str, label: str) -> str | None:
    """The official page for a citation of `kind` ("hts", "hs", "note", "gri", "ruling") labelled `label`."""
    if kind == "ruling":
        number = label.split()[-1] if label.split() else ""
        return CBP_RULING.format(number=quote(number)) if number else None
    if kind == "precedent":  # a CBP ruling's facts link to the ruling; an HMRC reference to the UK tariff search
        if label.startswith("CBP") and (m := _RULING_NUMBER.search(label)):
            return CBP_RULING.format(number=quote(m.group(1)))
        if label.startswith("HMRC") and (m := re.search(r"'(.+)'", label)):
            return HMRC_TARIFF.format(query=quote(m.group(1)))
        if (m := re.fullmatch(r"Case ([0-9a-f]{32})", label)):  # an officer's decision: its page here
            return f"/cases/{m.group(1)}"
        return None
    if kind == "gri":
        return HTS_FILE.format(name=quote("General Rules of Interpretation"))
    if kind == "note":
        if m := _CHAPTER.match(label):
            return chapter_url(m.group(1))
        if (m := _SECTION.match(label)) and m.group(1) in FIRST_CHAPTER:
            return chapter_url(FIRST_CHAPTER[m.group(1)])
        return HTS_FILE.format(name=quote("General Notes"))
    if kind in ("hts", "hs") and (m := _CODE.search(label)):
        code = m.group(1)
        return chapter_url(code) if len(code) == 2 else line_url(code)
    return None
