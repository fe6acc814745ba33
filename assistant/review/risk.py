"""The declared-code check: when the code a broker means to declare disagrees with the evidence, flag the case."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..codes import format_code, heading_of
from ..models import Classification, SourceKind

if TYPE_CHECKING:
    from ..index.nomenclature import Nomenclature


def mentions_heading(text: str, heading: str) -> bool:
    pattern = rf"(?<![\d.]){heading}(?!\d)|(?<![\d.]){heading[:2]}\.{heading[2:]}(?![\d])"
    return re.search(pattern, text) is not None


def declared_code_risks(
    declared: str, c: Classification, nomenclature: Nomenclature, passage_text: Callable[[str], str | None]
) -> list[str]:
    """Why a declared code needs an officer's eye (empty when it agrees with the evidence).

    Flags: the code is not a line of the nomenclature (or has subdivisions); its heading (first 4 digits)
    is not among the suggestions' headings; or a cited note saying "does not cover" names that heading.
    """
    reasons: list[str] = []
    shown, heading = format_code(declared), heading_of(declared)
    if nomenclature.get(declared) is None:
        reasons.append(f"declared code {shown} is not a line of {nomenclature.edition}")
    elif not nomenclature.is_valid_declaration(declared):
        reasons.append(f"declared code {shown} has subdivisions: it is not a declarable line")
    headings = sorted({s.code[:4] for s in c.suggestions})
    if heading not in headings:
        listed = ", ".join(headings) or "none"
        reasons.append(f"heading {heading} of the declared code is not among the suggested headings ({listed})")
    seen: set[str] = set()
    for s in c.suggestions:
        for cit in s.citations:
            if cit.kind != SourceKind.NOTE or cit.source_id in seen:
                continue
            seen.add(cit.source_id)
            text = passage_text(cit.source_id) or cit.excerpt
            if "does not cover" in text.lower() and mentions_heading(text, heading):
                reasons.append(f"{cit.label} (cited) excludes goods of heading {heading}: it says 'does not cover'")
    return reasons
