"""The LLM engine's prompt: the evidence given ids (C1.., N1.., G1.., R1..) and rendered into prompts/classify.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import prompts
from ..codes import format_code
from ..models import Candidate, Citation, Passage, SourceKind
from .evidence import Evidence

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

PROMPT_CANDIDATES = 20  # candidate lines shown to the model
PROMPT_NOTES, PROMPT_RULINGS = 12, 8
NOTE_CHARS, GRI_CHARS, RULING_CHARS = 1200, 700, 600


class Prompt:
    """The evidence given ids (C1.., N1.., G1.., R1..) and rendered into classify.md."""

    def __init__(self, evidence: Evidence, catalog: Any, *, limit: int):
        self.evidence, self.catalog, self.nomenclature = evidence, catalog, catalog.nomenclature
        self.shown = evidence.candidates[:limit]
        supplied = evidence.passages()
        self.line_passages = {p.codes[0]: p for p in supplied.values()
                              if p.kind in (SourceKind.HS, SourceKind.HTS) and len(p.codes) == 1}
        notes = unique([*evidence.notes, *(n for c in self.shown for n in c.notes)])[:PROMPT_NOTES]
        self.ids: dict[str, Passage | None] = {}
        self.codes: dict[str, str] = {}
        for i, c in enumerate(self.shown, 1):
            code = self.codes[f"C{i}"] = c.line.code
            self.ids[f"C{i}"] = catalog.line_passage(code) or self.line_passages.get(code)
        for prefix, group in (("N", notes), ("G", evidence.gris), ("R", evidence.rulings[:PROMPT_RULINGS])):
            for i, p in enumerate(group, 1):
                self.ids[f"{prefix}{i}"] = p

    def messages(self, description: str, context: list[str], top: int) -> list[BaseMessage]:
        lines = [f"{cid} | {format_code(code)} | {' > '.join(self.path(self.nomenclature.line(code), own=True))}"
                 for cid, code in self.codes.items()]
        return messages_of(prompts.render(
            "classify", edition=self.nomenclature.edition, top=top,
            description=quote(description, "DESCRIPTION>>>"),
            context=quote("\n".join(context), "FACTS>>>") or "(none)",
            candidates="\n".join(lines) or "(none)",
            notes=self._list("N", NOTE_CHARS), gris=self._list("G", GRI_CHARS), rulings=self._list("R", RULING_CHARS),
        ))

    def _list(self, prefix: str, chars: int) -> str:
        rows = []
        for cid, p in self.ids.items():
            if cid[0] == prefix and p is not None:
                assigns = ", ".join(format_code(c) for c in p.codes)
                codes = f" (assigns {assigns})" if p.kind is SourceKind.RULING and assigns else ""
                rows.append(f"{cid} | {p.label}{codes}: {clip(p.text, chars)}")
        return "\n".join(rows) or "(none)"

    def path(self, line: Any, *, own: bool = False) -> list[str]:
        """Descriptions from the chapter down to the line (the line itself only with `own`)."""
        return line_path(self.nomenclature, line, own=own)

    def candidates_scored(self) -> list[Candidate]:
        return [c.candidate() for c in self.evidence.candidates[:100]]

    def citations(self, code: str, cited: list[str]) -> list[Citation]:
        """The line's own passage and its heading's (when stored), then the supplied passages the model cited."""
        chosen: list[Passage] = []
        for own in (code, code[:4]):
            p = self.catalog.line_passage(own) or self.line_passages.get(own)
            if p is not None:
                chosen.append(p)
        chosen += [p for p in (self.ids.get(cid) for cid in cited) if p is not None]
        return [citation(p) for p in unique(chosen)]


def line_path(nomenclature: Any, line: Any, *, own: bool = False) -> list[str]:
    """Descriptions from the chapter down to the line (the line itself only with `own`)."""
    chapter = nomenclature.get(line.code[:2])
    parts = list(line.path)
    if chapter is not None and chapter.code != line.code and (not parts or parts[0] != chapter.description):
        parts.insert(0, chapter.description)
    return [*parts, line.description] if own else parts


def citation(p: Passage) -> Citation:
    """A citation of a supplied passage."""
    return Citation(label=p.label, kind=p.kind, source_id=p.id, excerpt=clip(p.text, 400), source=p.source,
                    edition=p.edition)


def messages_of(pairs: list[tuple[str, str]]) -> list[BaseMessage]:
    return [message(role, text) for role, text in pairs]


def message(role: str, text: str) -> BaseMessage:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    return {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}[role](content=text)


def quote(text: str, end_marker: str) -> str:
    """User text placed between markers; a copy of the end marker inside it is defused so it cannot close the quote."""
    return text.replace(end_marker, end_marker.replace(">>>", ">\u200b>>")).strip()


def clip(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def unique(passages: list[Passage]) -> list[Passage]:
    return list({p.id: p for p in passages}.values())
