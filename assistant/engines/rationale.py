"""A suggestion's legal reasoning in words: the heading and subheading texts that cover the goods, each with its GRI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..models import Passage, TariffLine

if TYPE_CHECKING:
    from ..index.nomenclature import Nomenclature


def _quoted(text: str) -> str:
    return "“" + " ".join(text.split()).strip(" :;") + "”"


def _own_text(line: TariffLine, parent: TariffLine | None) -> str:
    """The line's text with the uncoded headers between it and its coded parent ("Men's or boys': Other")."""
    headers: list[str] = []
    if parent is not None and parent.description in line.path:
        after = len(line.path) - 1 - line.path[::-1].index(parent.description)
        headers = [p for p in line.path[after + 1:] if p.strip(" :")]
    return ": ".join(p.strip(" :") for p in (*headers, line.description))


def explain(line: TariffLine, *, notes: Sequence[Passage] = (), nomenclature: Nomenclature | None = None) -> str:
    """E.g. "Heading 6109 covers “T-shirts, …” (GRI 1); subheading 6109.10: “Of cotton” (GRI 6). Notes considered: …"."""
    steps = nomenclature.path_lines(line.code) if nomenclature is not None and line.code in nomenclature else [line]
    parts: list[str] = []
    parent: TariffLine | None = None
    for step in steps:
        text = _quoted(_own_text(step, parent))
        if step.level == 2:
            parts.append(f"Chapter {int(step.code)} {text}")
        elif step.level == 4:
            parts.append(f"heading {step.display} covers {text} (GRI 1)")
        elif step.level == 6:
            parts.append(f"subheading {step.display}: {text} (GRI 6)")
        elif step.level == 8:
            parts.append(f"tariff line {step.display}: {text} (GRI 6)")
        else:  # a statistical suffix is not a legal split: no GRI, it only records the goods for statistics
            parts.append(f"statistical suffix {step.display}: {text}")
        parent = step
    if len(steps) == 1 and line.path:  # no nomenclature at hand: the path as printed
        parts.insert(0, "under " + " › ".join(_quoted(p) for p in line.path))
    sentence = "; ".join(parts)
    sentence = sentence[:1].upper() + sentence[1:] + "."
    if notes:
        sentence += " Notes considered: " + "; ".join(n.label for n in notes) + "."
    return sentence
