"""The tree walk: the heading among the offline engine's best headings, then down its subtree to the tariff line.

Step 1 shows the best headings of the evidence (and those the retrieved rulings assigned) with the section and
chapter notes of their chapters and the GRIs; the model names one heading, or two when GRI 3 decides, or says that
none of them fits: then, as GRI 1 reads the tariff from the top, it is shown the chapters by section and names one
(two when GRI 3 decides), and then chooses among all the headings of that chapter with its notes. Step 2 shows
the whole subtree of the chosen heading(s) from the nomenclature, with the subheading and Additional U.S. notes,
and the model names the tariff line; a subtree too large for the stage budget is narrowed one level at a time
first. When the model names a note that excludes the goods, the walk backtracks to step 1 without that heading.
Every stage is one call with a JSON schema; every code and cited id is checked against what that stage supplied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from .. import prompts
from ..codes import format_code, normalize_code
from ..errors import InputError, UnusableOutput
from ..models import Passage, Suggestion, TariffLine
from .evidence import Evidence
from .llm_output import CHAPTER_FORMAT, clarification, confidence, heading_format, parse_answer, subtree_format
from .llm_prompt import citation, clip, line_path, message, messages_of, quote, unique
from .llm_tree import Tree, fit

log = logging.getLogger(__name__)

HEADINGS, PRECEDENT_HEADINGS = 16, 4  # headings offered in step 1: the evidence's best, then rulings' ones,
LEADING_CHAPTERS, HEADING_TABLE_SHARE = 2, 0.4  # then the other headings of the two leading chapters, while the
# heading table fits in that share of the stage budget
CHARS_PER_TOKEN = 4  # how the stage budget (tokens) becomes characters of notes and rows
NOTE_CHARS, GRI_CHARS, RULING_CHARS, RULINGS = 500, 240, 300, 5
MAX_BACKTRACKS, MAX_NARROWING = 2, 2
SUBTREE_SHARE = 0.6  # of a stage's free characters, what the rows may take before the subtree is narrowed
CHAPTER_SHARE = 0.6  # what a whole chapter's heading table may take (its texts are clipped to fit)
_EXCLUDING = re.compile(r"does not cover|do not cover|exclud|not classified (?:in|under)", re.IGNORECASE)

# One chat completion: (messages, response_format, streaming) -> token events, then the reply message.
Call = Callable[[list, dict, bool], Generator[dict, None, Any]]


@dataclass
class Stage:
    """One call of the walk: what it supplied (id -> passage or code) and what the model chose."""

    name: str  # chapter | heading | subheading | line
    options: dict[str, str]  # id -> code the model may choose
    sources: dict[str, Passage | None]  # every id supplied (options included) -> its passage
    may_decline: bool = False  # a heading step that may answer that none of its headings fits
    chosen: list[dict] = field(default_factory=list)  # valid items: code, confidence, rationale, cited passages
    excluded_by: Passage | None = None
    none_fits: bool = False
    answer: dict = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return bool(self.chosen) or self.excluded_by is not None or self.none_fits


class Walk:
    """One classification by walking the tree; `run` yields token events and returns the suggestions."""

    def __init__(self, evidence: Evidence, catalog: Any, *, description: str, context: list[str], top: int,
                 stage_tokens: int, call: Call):
        self.evidence, self.catalog, self.nomenclature = evidence, catalog, catalog.nomenclature
        self.tree = Tree(catalog)
        self.description, self.context, self.top = description, context, top
        self.budget = max(2000, stage_tokens * CHARS_PER_TOKEN)
        self.call = call
        self.question: dict[str, Any] = {"clarifying_question": None, "clarifying_options": []}
        self._ids: dict[str, str] = {}  # passage id -> the id it was given (stable across stages)
        self._counts: dict[str, int] = {}

    # ------------------------------------------------------------ the walk

    def run(self, *, streaming: bool) -> Generator[dict, None, list[Suggestion]]:
        """Heading, then down the chosen subtree; backtrack when a note excludes the goods from the heading. When no
        offered heading fits, down from the chapters first (once)."""
        offered = self.headings()
        if not offered:
            raise UnusableOutput("the evidence has no heading to walk from")
        excluded: dict[str, str] = {}
        whole = False  # the headings offered are a whole chapter's, reached from the chapters
        for _ in range(MAX_BACKTRACKS + 1):
            remaining = [h for h in offered if h not in excluded]
            if not remaining:
                break
            first = yield from self.stage(self.heading_stage(remaining, excluded, whole=whole), streaming=False)
            if first.none_fits:
                log.info("walk: no offered heading fits; choosing the chapter")
                declined = [*first.options.values()]  # the headings it was shown
                chapters = yield from self.stage(self.chapter_stage(declined, excluded), streaming=False)
                offered = [h for c in chapters.chosen[:2] for h in self.tree.headings(c["code"])]
                whole = True
                remaining = [h for h in offered if h not in excluded]
                first = yield from self.stage(self.heading_stage(remaining, excluded, whole=True), streaming=False)
            heads = [c["code"] for c in first.chosen][:2]
            if streaming and first.chosen and first.chosen[0]["rationale"]:
                yield {"type": "token", "text": first.chosen[0]["rationale"] + "\n\n"}
            last = yield from self.descend(heads, streaming=streaming)
            if last.excluded_by is None:
                return self.suggestions(first, last)
            log.info("walk: %s excludes heading(s) %s; backtracking", last.excluded_by.label, ", ".join(heads))
            excluded.update({h: last.excluded_by.label for h in heads})
        raise UnusableOutput(f"notes exclude every heading tried ({', '.join(excluded)})")

    def descend(self, heads: list[str], *, streaming: bool) -> Generator[dict, None, Stage]:
        """From the chosen heading(s) down to the tariff line, narrowing first while the subtree is too large."""
        roots = heads
        for depth in range(MAX_NARROWING + 1):
            leaves = [leaf for r in roots for leaf in self.tree.leaves(r)]
            rows = self.rows(roots, leaves, ids="L")
            if len("\n".join(rows)) <= SUBTREE_SHARE * self.budget or depth == MAX_NARROWING:
                return (yield from self.stage(self.subtree_stage("line", heads, roots, leaves), streaming=streaming))
            children = self.tree.children(roots)
            stage = yield from self.stage(self.subtree_stage("subheading", heads, roots, children), streaming=False)
            if stage.excluded_by is not None:
                return stage
            picked = [c["code"] for c in stage.chosen][:2]
            if self.nomenclature.is_leaf(picked[0]):  # a subheading without subdivisions is the line
                return stage
            roots = [c for c in picked if not self.nomenclature.is_leaf(c)]
        raise AssertionError("unreachable: the last depth always asks for the line")

    def stage(self, stage_and_messages: tuple[Stage, list], *, streaming: bool) -> Generator[dict, None, Stage]:
        """Ask, validate, and ask once more with the errors when nothing valid came back; UnusableOutput if still."""
        stage, messages = stage_and_messages
        fmt = {"heading": heading_format(may_decline=stage.may_decline), "chapter": CHAPTER_FORMAT}.get(
            stage.name) or subtree_format(stage.name)
        reply = yield from self.call(messages, fmt, streaming)
        errors = self.check(stage, parse_answer(reply.text))
        if not stage.decided:
            repair = prompts.render("repair", errors="\n".join(f"- {e}" for e in errors) or "- no valid choice")
            messages = [*messages, message("assistant", reply.text), *messages_of(repair)]
            reply = yield from self.call(messages, fmt, False)
            errors = self.check(stage, parse_answer(reply.text))
        if errors:
            log.info("walk %s: items dropped: %s", stage.name, "; ".join(errors))
        if not stage.decided:
            raise UnusableOutput(f"LLM chose no valid {stage.name} ({'; '.join(errors)[:200]})")
        if stage.answer.get("clarifying_question"):
            self.question = clarification(stage.answer)
        return stage

    def check(self, stage: Stage, answer: dict) -> list[str]:
        """Fill stage.chosen with the valid items of `answer` (codes offered in this stage); the errors found."""
        key = {"heading": "headings", "chapter": "chapters"}.get(stage.name, "suggestions")
        items = answer.get(key)
        if not isinstance(items, list):
            raise UnusableOutput(f"LLM output has no {key} list")
        stage.answer, stage.chosen, errors = answer, [], []
        if answer.get("none_fits") is True and not items:
            if stage.may_decline:
                stage.none_fits = True
                return errors
            errors.append("none_fits is not an answer here; choose a listed heading")
        note = answer.get("excluded_by")
        if stage.name in ("subheading", "line") and isinstance(note, str) and note.strip():
            passage = stage.sources.get(note.strip())
            if note.strip().startswith("N") and passage is not None:
                stage.excluded_by = passage
                return errors
            errors.append(f"excluded_by {note.strip()[:20]!r} is not a supplied note id")
        offered = {code: cid for cid, code in stage.options.items()}
        for item in items:
            if not isinstance(item, dict):
                errors.append(f"item {str(item)[:60]!r} is not an object")
                continue
            try:
                code = normalize_code(str(item.get("code")))
            except InputError:
                errors.append(f"code {str(item.get('code'))[:40]!r} is not a tariff code; choose a listed one")
                continue
            if code not in offered and code + "00" in offered:  # an 8-digit line printed as its '00' line
                code += "00"
            if code not in offered:
                errors.append(f"code {format_code(code)} is not one of the listed {stage.name}s; choose a listed one")
                continue
            if code in {c["code"] for c in stage.chosen}:
                continue
            cited = [str(i).strip() for i in item.get("cited_ids") or [] if str(i).strip()]
            errors += [f"id {i} was not supplied; cite only the ids listed" for i in cited if i not in stage.sources]
            passages = [stage.sources[i] for i in [offered[code], *cited] if stage.sources.get(i) is not None]
            stage.chosen.append({"code": code, "confidence": confidence(item), "cited": passages,
                                 "rationale": str(item.get("rationale") or "").strip()})
        stage.chosen.sort(key=lambda c: -c["confidence"])
        return errors

    def suggestions(self, first: Stage, last: Stage) -> list[Suggestion]:
        """Validated suggestions from the last stage, citing their line, heading and what every stage cited."""
        by_heading = {c["code"]: c for c in first.chosen}
        out: list[Suggestion] = []
        for item in [c for c in last.chosen if self.nomenclature.is_leaf(c["code"])][: self.top]:
            code = item["code"]
            line = self.nomenclature.line(code)
            head = by_heading.get(code[:4], {"cited": [], "rationale": ""})
            own = [p for p in (self.catalog.line_passage(code), self.catalog.line_passage(code[:4])) if p]
            cited = unique([*own, *item["cited"], *head["cited"]])
            rationale = " ".join(r for r in (head["rationale"], item["rationale"]) if r)
            out.append(Suggestion.for_code(
                code, description=line.description, path=line_path(self.nomenclature, line, own=True),
                confidence=item["confidence"], rationale=rationale, general_rate=line.general_rate,
                citations=[citation(p) for p in cited],
            ))
        return out

    # ------------------------------------------------------------ step 1: the heading

    def headings(self) -> list[str]:
        """The evidence's best headings, then the headings retrieved rulings assigned (precedents), then the other
        headings of the leading chapters (GRI 1 reads a chapter's headings together with its notes)."""
        out: list[str] = []
        for c in self.evidence.candidates:
            if c.line.code[:4] not in out:
                out.append(c.line.code[:4])
            if len(out) == HEADINGS:
                break
        extra = 0
        for p in self.evidence.rulings:
            for code in p.codes:
                h = code[:4]
                if h not in out and self.tree.leaves(h) and extra < PRECEDENT_HEADINGS:
                    out.append(h)
                    extra += 1
        leading = list(dict.fromkeys(h[:2] for h in out))[:LEADING_CHAPTERS]
        for chapter in leading:
            out += [h for h in self.tree.headings(chapter) if h not in out]
        return out

    def heading_stage(self, heads: list[str], excluded: dict[str, str], *, whole: bool) -> tuple[Stage, list]:
        """The heading table: the offered headings (the evidence's best first, then the leading chapters' others
        while the budget lasts), or with `whole` every heading of the chosen chapter(s), texts clipped to fit."""
        stage = Stage("heading", {}, {}, may_decline=not whole)
        kept, width, used = ([], 160, 0) if not whole else (heads, int(CHAPTER_SHARE * self.budget / len(heads)), 0)
        for h in [] if whole else heads:
            used += len(self.tree.text(h)[:160]) + 16
            if len(kept) >= HEADINGS and used > HEADING_TABLE_SHARE * self.budget:
                break
            kept.append(h)
        rows: list[str] = []
        for chapter in dict.fromkeys(h[:2] for h in kept):  # grouped by chapter, chapters in order of their best
            rows.append(f"Chapter {chapter}: {clip(self.tree.text(chapter), 100)}")
            for h in (h for h in kept if h[:2] == chapter):
                cid = self.supply(stage, "H", h, self.tree.passage(h))
                stage.options[cid] = h
                rows.append(f"  {cid} | {h} | {clip(self.tree.text(h), max(60, min(160, width - 16)))}")
        gris = self.gris(stage)
        rulings = []
        for p in self.evidence.rulings[:RULINGS]:
            assigns = ", ".join(format_code(c) for c in p.codes)
            rulings.append(f"{self.supply(stage, 'R', p.id, p)} | {p.label}"
                           f"{f' (assigns {assigns})' if assigns else ''}: {clip(p.text, RULING_CHARS)}")
        chapters = list(dict.fromkeys(h[:2] for h in heads))
        notes = [n for ch in chapters for n in self.catalog.notes_for_chapter(ch) if n.meta.get("kind") == "note"]
        mentioned = re.compile("|".join(heads))
        notes.sort(key=lambda n: not (mentioned.search(n.text) or _EXCLUDING.search(n.text)))  # stable: chapter order
        used = sum(map(len, (*rows, gris, *rulings))) + len(prompts.load("walk_heading"))
        decline = ("If none of the listed headings covers the goods by its terms and the notes, answer "
                   '"none_fits": true and no heading: you will be shown the chapters of the tariff.')
        return stage, messages_of(prompts.render(
            "walk_heading", edition=self.nomenclature.edition, **self._quoted(),
            decline=decline if stage.may_decline else "Answer with a listed heading.",
            decline_field=' "none_fits": false,' if stage.may_decline else "",
            headings="\n".join(rows), excluded=_excluded(excluded), notes=self.notes(stage, notes, self.budget - used),
            gris=gris, rulings="\n".join(rulings) or "(none)",
        ))

    def chapter_stage(self, declined: list[str], excluded: dict[str, str]) -> tuple[Stage, list]:
        """Every chapter of the tariff by section (none of the offered headings fitted): the model names one, or two
        when GRI 3 decides; the headings it was offered are named as not fitting."""
        stage = Stage("chapter", {}, {})
        rows: list[str] = []
        section = None
        for chapter in self.tree.chapters():
            if (here := self.catalog.section_of(chapter)) != section and here:
                section = here
                rows.append(f"Section {section}")
            cid = self.supply(stage, "K", chapter, self.catalog.line_passage(chapter))
            stage.options[cid] = chapter
            rows.append(f"  {cid} | {chapter} | {clip(self.tree.text(chapter), 110)}")
        return stage, messages_of(prompts.render(
            "walk_chapter", edition=self.nomenclature.edition, **self._quoted(), chapters="\n".join(rows),
            declined=", ".join(declined), excluded=_excluded(excluded), gris=self.gris(stage),
        ))

    # ------------------------------------------------------------ step 2: down the subtree

    def subtree_stage(self, name: str, heads: list[str], roots: list[str],
                      options: list[TariffLine]) -> tuple[Stage, list]:
        stage = Stage(name, {}, {})
        prefix = "L" if name == "line" else "S"
        rows = self.rows(roots, options, ids=prefix, stage=stage)
        rows = fit(rows, int(SUBTREE_SHARE * self.budget) if name == "subheading" else self.budget // 4 * 3)
        chapters = list(dict.fromkeys(h[:2] for h in heads))
        notes = [n for ch in chapters for n in self.catalog.notes_for_chapter(ch)]
        mentioned = re.compile("|".join(heads))
        order = {"subheading_note": 0, "additional_us_note": 1, "statistical_note": 2, "note": 3}
        notes.sort(key=lambda n: (order.get(n.meta.get("kind"), 4), n.meta.get("scope") == "section",
                                  not mentioned.search(n.text)))
        used = sum(map(len, rows)) + len(prompts.load(f"walk_{name}"))
        headings = "; ".join(f"{h} {clip(self.tree.text(h), 120)}" for h in heads)
        return stage, messages_of(prompts.render(
            f"walk_{name}", edition=self.nomenclature.edition, **self._quoted(), top=self.top, headings=headings,
            rows="\n".join(rows) or "(none)", notes=self.notes(stage, notes, self.budget - used),
        ))

    def rows(self, roots: list[str], lines: list[TariffLine], *, ids: str, stage: Stage | None = None) -> list[str]:
        """The lines under `roots` as an indented tree (Tree.rows), each given an id supplied by `stage`."""

        def label(code: str) -> str:
            if stage is None:  # only measuring the rows
                return ids + "?"
            cid = self.supply(stage, ids, code, self.catalog.line_passage(code))
            stage.options[cid] = code
            return cid

        return self.tree.rows(roots, lines, label=label)

    # ------------------------------------------------------------ ids, notes, texts

    def supply(self, stage: Stage, prefix: str, key: str, passage: Passage | None) -> str:
        """The id of a passage (or code) in this walk, recorded as supplied by `stage`."""
        if key not in self._ids:
            self._counts[prefix] = self._counts.get(prefix, 0) + 1
            self._ids[key] = f"{prefix}{self._counts[prefix]}"
        stage.sources[self._ids[key]] = passage
        return self._ids[key]

    def notes(self, stage: Stage, notes: list[Passage], chars: int) -> str:
        rows = [f"{self.supply(stage, 'N', n.id, n)} | {n.label}: {clip(n.text, NOTE_CHARS)}" for n in unique(notes)]
        kept = fit(rows, chars)
        for row in rows[len(kept):]:  # not shown: not citable in this stage
            stage.sources.pop(row.split(" | ", 1)[0], None)
        return "\n".join(kept) or "(none)"

    def gris(self, stage: Stage) -> str:
        rows = [f"{self.supply(stage, 'G', p.id, p)} | {p.label}: {clip(p.text, GRI_CHARS)}"
                for p in self.evidence.gris]
        return "\n".join(rows) or "(none)"

    def _quoted(self) -> dict[str, str]:
        return {"description": quote(self.description, "DESCRIPTION>>>"),
                "context": quote("\n".join(self.context), "FACTS>>>") or "(none)"}


def _excluded(excluded: dict[str, str]) -> str:
    """The headings a note excluded the goods from so far, for the prompt."""
    if not excluded:
        return ""
    return "\nExcluded so far (a note excludes the goods): " + "; ".join(
        f"{h} by {label}" for h, label in excluded.items()) + "\n"
