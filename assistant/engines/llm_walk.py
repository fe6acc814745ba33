"""The tree walk: the heading among the offline engine's best headings, then down its subtree to the tariff line.

Step 1 shows the best headings of the evidence (and those the retrieved rulings assigned) with the section and
chapter notes of their chapters and the GRIs; the model names one heading, or two when GRI 3 decides. Step 2 shows
the whole subtree of the chosen heading(s) from the nomenclature, with the subheading and Additional U.S. notes,
and the model names the tariff line; a subtree too large for the stage budget is narrowed one level at a time
first. When the model names a note that excludes the goods, the walk backtracks to step 1 without that heading.
Every stage is one call with a JSON schema; every code and cited id is checked against what that stage supplied.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from .. import prompts
from ..codes import format_code, normalize_code
from ..errors import InputError, UnusableOutput
from ..models import Passage, Suggestion, TariffLine
from .evidence import Evidence
from .llm_output import HEADING_FORMAT, clarification, confidence, parse_answer, subtree_format
from .llm_prompt import citation, clip, line_path, message, messages_of, quote, unique

log = logging.getLogger(__name__)

HEADINGS, PRECEDENT_HEADINGS = 16, 4  # headings offered in step 1: the evidence's best, then rulings' ones,
LEADING_CHAPTERS, HEADING_TABLE_SHARE = 2, 0.4  # then the other headings of the two leading chapters, while the
# heading table fits in that share of the stage budget
CHARS_PER_TOKEN = 4  # how the stage budget (tokens) becomes characters of notes and rows
NOTE_CHARS, GRI_CHARS, RULING_CHARS, RULINGS = 500, 240, 300, 5
MAX_BACKTRACKS, MAX_NARROWING = 2, 2
SUBTREE_SHARE = 0.6  # of a stage's free characters, what the rows may take before the subtree is narrowed
_EXCLUDING = re.compile(r"does not cover|do not cover|exclud|not classified (?:in|under)", re.IGNORECASE)

# One chat completion: (messages, response_format, streaming) -> token events, then the reply message.
Call = Callable[[list, dict, bool], Generator[dict, None, Any]]


@dataclass
class Stage:
    """One call of the walk: what it supplied (id -> passage or code) and what the model chose."""

    name: str  # heading | subheading | line
    options: dict[str, str]  # id -> code the model may choose
    sources: dict[str, Passage | None]  # every id supplied (options included) -> its passage
    chosen: list[dict] = field(default_factory=list)  # valid items: code, confidence, rationale, cited passages
    excluded_by: Passage | None = None
    answer: dict = field(default_factory=dict)


class Walk:
    """One classification by walking the tree; `run` yields token events and returns the suggestions."""

    def __init__(self, evidence: Evidence, catalog: Any, *, description: str, context: list[str], top: int,
                 stage_tokens: int, call: Call):
        self.evidence, self.catalog, self.nomenclature = evidence, catalog, catalog.nomenclature
        self.description, self.context, self.top = description, context, top
        self.budget = max(2000, stage_tokens * CHARS_PER_TOKEN)
        self.call = call
        self.question: dict[str, Any] = {"clarifying_question": None, "clarifying_options": []}
        self._ids: dict[str, str] = {}  # passage id -> the id it was given (stable across stages)
        self._counts: dict[str, int] = {}
        self._leaves: dict[str, list[TariffLine]] = {}

    # ------------------------------------------------------------ the walk

    def run(self, *, streaming: bool) -> Generator[dict, None, list[Suggestion]]:
        """Heading, then down the chosen subtree; backtrack when a note excludes the goods from the heading."""
        offered = self.headings()
        if not offered:
            raise UnusableOutput("the evidence has no heading to walk from")
        excluded: dict[str, str] = {}
        for _ in range(MAX_BACKTRACKS + 1):
            remaining = [h for h in offered if h not in excluded]
            if not remaining:
                break
            first = yield from self.stage(self.heading_stage(remaining, excluded), streaming=False)
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
            leaves = [leaf for r in roots for leaf in self.leaves(r)]
            rows = self.rows(roots, leaves, ids="L")
            if len("\n".join(rows)) <= SUBTREE_SHARE * self.budget or depth == MAX_NARROWING:
                return (yield from self.stage(self.subtree_stage("line", heads, roots, leaves), streaming=streaming))
            children = self.children(roots)
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
        fmt = HEADING_FORMAT if stage.name == "heading" else subtree_format(stage.name)
        reply = yield from self.call(messages, fmt, streaming)
        errors = self.check(stage, parse_answer(reply.text))
        if not stage.chosen and stage.excluded_by is None:
            repair = prompts.render("repair", errors="\n".join(f"- {e}" for e in errors) or "- no valid choice")
            messages = [*messages, message("assistant", reply.text), *messages_of(repair)]
            reply = yield from self.call(messages, fmt, False)
            errors = self.check(stage, parse_answer(reply.text))
        if errors:
            log.info("walk %s: items dropped: %s", stage.name, "; ".join(errors))
        if not stage.chosen and stage.excluded_by is None:
            raise UnusableOutput(f"LLM chose no valid {stage.name} ({'; '.join(errors)[:200]})")
        if stage.answer.get("clarifying_question"):
            self.question = clarification(stage.answer)
        return stage

    def check(self, stage: Stage, answer: dict) -> list[str]:
        """Fill stage.chosen with the valid items of `answer` (codes offered in this stage); the errors found."""
        key = "headings" if stage.name == "heading" else "suggestions"
        items = answer.get(key)
        if not isinstance(items, list):
            raise UnusableOutput(f"LLM output has no {key} list")
        stage.answer, stage.chosen, errors = answer, [], []
        note = answer.get("excluded_by")
        if stage.name != "heading" and isinstance(note, str) and note.strip():
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
                if h not in out and self.leaves(h) and extra < PRECEDENT_HEADINGS:
                    out.append(h)
                    extra += 1
        leading = list(dict.fromkeys(h[:2] for h in out))[:LEADING_CHAPTERS]
        index = _leaf_index(self.nomenclature)
        for chapter in leading:
            out += [h for h in index if h[:2] == chapter and h not in out]
        return out

    def heading_stage(self, heads: list[str], excluded: dict[str, str]) -> tuple[Stage, list]:
        stage = Stage("heading", {}, {})
        kept: list[str] = []
        used = 0
        for h in heads:  # the evidence's best first; the leading chapter's other headings while the budget lasts
            used += len(self._text(h)[:160]) + 16
            if len(kept) >= HEADINGS and used > HEADING_TABLE_SHARE * self.budget:
                break
            kept.append(h)
        rows: list[str] = []
        for chapter in dict.fromkeys(h[:2] for h in kept):  # grouped by chapter, chapters in order of their best
            rows.append(f"Chapter {chapter}: {clip(self._text(chapter), 100)}")
            for h in (h for h in kept if h[:2] == chapter):
                cid = self.supply(stage, "H", h, self.catalog.line_passage(h) or self._first_line_passage(h))
                stage.options[cid] = h
                rows.append(f"  {cid} | {h} | {clip(self._text(h), 160)}")
        gris = [f"{self.supply(stage, 'G', p.id, p)} | {p.label}: {clip(p.text, GRI_CHARS)}"
                for p in self.evidence.gris]
        rulings = []
        for p in self.evidence.rulings[:RULINGS]:
            assigns = ", ".join(format_code(c) for c in p.codes)
            rulings.append(f"{self.supply(stage, 'R', p.id, p)} | {p.label}"
                           f"{f' (assigns {assigns})' if assigns else ''}: {clip(p.text, RULING_CHARS)}")
        chapters = list(dict.fromkeys(h[:2] for h in heads))
        notes = [n for ch in chapters for n in self.catalog.notes_for_chapter(ch) if n.meta.get("kind") == "note"]
        mentioned = re.compile("|".join(heads))
        notes.sort(key=lambda n: not (mentioned.search(n.text) or _EXCLUDING.search(n.text)))  # stable: chapter order
        used = sum(map(len, (*rows, *gris, *rulings))) + len(prompts.load("walk_heading"))
        text = ""
        if excluded:
            text = "\nExcluded so far (a note excludes the goods): " + "; ".join(
                f"{h} by {label}" for h, label in excluded.items()) + "\n"
        return stage, messages_of(prompts.render(
            "walk_heading", edition=self.nomenclature.edition, **self._quoted(),
            headings="\n".join(rows), excluded=text, notes=self.notes(stage, notes, self.budget - used),
            gris="\n".join(gris) or "(none)", rulings="\n".join(rulings) or "(none)",
        ))

    # ------------------------------------------------------------ step 2: down the subtree

    def subtree_stage(self, name: str, heads: list[str], roots: list[str],
                      options: list[TariffLine]) -> tuple[Stage, list]:
        stage = Stage(name, {}, {})
        prefix = "L" if name == "line" else "S"
        rows = self.rows(roots, options, ids=prefix, stage=stage)
        rows = _fit(rows, int(SUBTREE_SHARE * self.budget) if name == "subheading" else self.budget // 4 * 3)
        chapters = list(dict.fromkeys(h[:2] for h in heads))
        notes = [n for ch in chapters for n in self.catalog.notes_for_chapter(ch)]
        mentioned = re.compile("|".join(heads))
        order = {"subheading_note": 0, "additional_us_note": 1, "statistical_note": 2, "note": 3}
        notes.sort(key=lambda n: (order.get(n.meta.get("kind"), 4), n.meta.get("scope") == "section",
                                  not mentioned.search(n.text)))
        used = sum(map(len, rows)) + len(prompts.load(f"walk_{name}"))
        headings = "; ".join(f"{h} {clip(self._text(h), 120)}" for h in heads)
        return stage, messages_of(prompts.render(
            f"walk_{name}", edition=self.nomenclature.edition, **self._quoted(), top=self.top, headings=headings,
            rows="\n".join(rows) or "(none)", notes=self.notes(stage, notes, self.budget - used),
        ))

    def rows(self, roots: list[str], lines: list[TariffLine], *, ids: str, stage: Stage | None = None) -> list[str]:
        """The lines under `roots` as an indented tree: the uncoded texts above them once, then one row per line
        with its id (in `stage`) and code; an "Other" row also names the text it is the other of."""
        out: list[str] = []
        shown: list[str] = []
        for line in lines:
            root = next(r for r in roots if line.code.startswith(r))
            above = self._below(root, line)
            depth = 0
            while depth < min(len(above), len(shown)) and above[depth] == shown[depth]:
                depth += 1
            for i in range(depth, len(above)):
                out.append(f"{'  ' * i}{above[i]}")
            shown = above
            text = line.description.strip()
            if text.lower().startswith("other") and above:
                text += f" (other than the rows above under: {above[-1].rstrip(':')})"
            if not self.nomenclature.is_leaf(line.code):
                text += f" [{len(self.leaves(line.code))} lines]"
            cid = ids + "?" if stage is None else self.supply(stage, ids, line.code, self.catalog.line_passage(line.code))
            if stage is not None:
                stage.options[cid] = line.code
            out.append(f"{'  ' * len(above)}{cid} | {format_code(line.code)} | {text}")
        return out

    def _below(self, root: str, line: TariffLine) -> list[str]:
        """The texts of the levels between `root` and `line` (uncoded headers and coded parents alike)."""
        top = self.nomenclature.get(root)
        skip = len(top.path) + 1 if top is not None else 2
        return [clip(t, 160) for t in line.path[skip:]]

    def leaves(self, prefix: str) -> list[TariffLine]:
        """The tariff lines under a code (a heading the tariff prints only as its lines works too)."""
        if prefix not in self._leaves:
            index = _leaf_index(self.nomenclature)
            self._leaves[prefix] = [ln for ln in index.get(prefix[:4], []) if ln.code.startswith(prefix)]
        return self._leaves[prefix]

    def children(self, roots: list[str]) -> list[TariffLine]:
        """The next coded level under each root: for each line below, its highest coded ancestor below the root."""
        out: dict[str, TariffLine] = {}
        for root in roots:
            for leaf in self.leaves(root):
                node = next((a for a in leaf.ancestors if len(a) > len(root) and a in self.nomenclature), leaf.code)
                out.setdefault(node, self.nomenclature.line(node))
        return list(out.values())

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
        kept = _fit(rows, chars)
        for row in rows[len(kept):]:  # not shown: not citable in this stage
            stage.sources.pop(row.split(" | ", 1)[0], None)
        return "\n".join(kept) or "(none)"

    def _quoted(self) -> dict[str, str]:
        return {"description": quote(self.description, "DESCRIPTION>>>"),
                "context": quote("\n".join(self.context), "FACTS>>>") or "(none)"}

    def _text(self, code: str) -> str:
        line = self.nomenclature.get(code) or (self.catalog.hs.get(code) if self.catalog.hs else None)
        if line is not None:
            return line.description
        leaves = self.leaves(code)
        return leaves[0].path[min(1, len(leaves[0].path) - 1)] if leaves and leaves[0].path else code

    def _first_line_passage(self, heading: str) -> Passage | None:
        leaves = self.leaves(heading)
        return self.catalog.line_passage(leaves[0].code) if leaves else None


def _fit(rows: list[str], chars: int) -> list[str]:
    """The first rows that fit in `chars` characters (the stage budget)."""
    out, used = [], 0
    for row in rows:
        used += len(row) + 1
        if used > chars:
            break
        out.append(row)
    return out


_LEAF_INDEX: WeakKeyDictionary = WeakKeyDictionary()  # nomenclature -> heading -> its lines
_LEAF_LOCK = threading.Lock()


def _leaf_index(nomenclature: Any) -> dict[str, list[TariffLine]]:
    """Heading -> its tariff lines in code order, built once per nomenclature (a corpus snapshot)."""
    with _LEAF_LOCK:
        index = _LEAF_INDEX.get(nomenclature)
        if index is None:
            index = {}
            for leaf in sorted(nomenclature.leaves(), key=lambda ln: ln.code):
                index.setdefault(leaf.code[:4], []).append(leaf)
            _LEAF_INDEX[nomenclature] = index
        return index

