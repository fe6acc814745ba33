"""Section and chapter notes from the official USITC HTS chapter PDFs (hts.usitc.gov, "Chapter N" PDF).

Each chapter PDF opens with the notes (the section notes first when the chapter opens a section,
then the chapter's Notes, Subheading Notes, Additional U.S. Notes and Statistical Notes) and then the
tariff table; only the pages before the table are read. Page artefacts (running headers, page
markers such as "XVI-1" / "84-3", footnote markers "1/" and footnote text) are removed and the text
is split into numbered notes, each citable on its own: "Section XI, Note 2", "Chapter 61, Additional
U.S. Note 1", "Chapter 85, Subheading Note 1", "Chapter 61, Statistical Note 1".

Lettered parts: a note whose text opens with "(A)" or "(a)" and runs longer than SPLIT_MIN_CHARS
is split into one note per part ("Chapter 84, Note 6(A)", "... 6(B)"), since such parts are separate
rules cited on their own. Any other note stays whole, lists included ("Chapter 61, Note 2" with its
exclusions (a)-(c)), because a list item means little without the sentence that introduces it.

The parsed notes are also kept as JSON lines, one `Note` a line (`dump_jsonl`; the default corpus ships them as
`corpus/usitc/hts_<year>_rev<N>_notes.jsonl.gz`): `load_notes` reads such a file (plain or gzip) into the very
records parsing the PDFs gives. A note cites the chapter PDF it came from by its published name or URL.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SourceFormatError
from ..index.nomenclature import chapter_sections
from ..models import Note, Passage, SourceKind
from .fetch import is_url, plain_name, read_bytes, resolve
from .hts import HTS_EDITION

MAX_NOTE_PAGES = 30  # the longest notes part (chapter 72) is 11 pages; stop early on anything odd
SPLIT_MIN_CHARS = 600

KIND_LABELS = {
    "note": "Note",
    "subheading_note": "Subheading Note",
    "additional_us_note": "Additional U.S. Note",
    "statistical_note": "Statistical Note",
}
_BLOCK = re.compile(
    r"^(?P<head>Notes?|Subheading\s+Notes?|Additional\s+U\.\s?S\.\s+Notes?|Statistical\s+Notes?)"
    r"\s*:?\s*(?P<con>\(con\.?\))?\s*:?\s*$",
    re.IGNORECASE,
)
_SECTION = re.compile(r"^SECTION\s+([IVXL]+)\s*$")
_CHAPTER = re.compile(r"^CHAPTER\s+(\d{1,2})\s*$")
# "5. For the purposes ...", also "3.. Certain" and "10 Heading ..." (dot missing), but not "4.6 m".
_NUMBERED = re.compile(r"^(\d{1,2})(?:\s?\.+(?!\d)\s*|\s+(?=[A-Z“\"(]))(.*)$")
_NUMBERED_STRICT = re.compile(r"^\d{1,2}\.\s+[A-Z“\"(]")
MAX_NUMBER_GAP = 2  # deleted notes leave gaps (chapter 69 goes from Additional U.S. Note 3 to 5)
_RUNNING = re.compile(
    r"^(Harmonized Tariff Schedule of the United States|Annotated for Statistical Reporting)"
)
_PAGE_MARK = re.compile(
    r"^\|?\s*(?:[IVXL]+|\d{1,2}-\d+|[IVXL]+-\d+|\d{1,2}-[IVXL]+-\d+|[IVXL]+\s+\d{1,2}-\d+)\s*$"
)
_FOOTNOTE_MARK = re.compile(r"^\d{1,2}/$")
_FOOTNOTE_TEXT = re.compile(r"^\d{1,2}/\s+\S")
_INLINE_MARK = re.compile(r"(?<=\S)\s+\d{1,2}/(?![\d/])")  # "(heading 9021) 1/ ;" but not "1/2"
_LIST_ITEM = re.compile(r"^(?:\((?:[a-zA-Z]{1,2}|[ivxlIVXL]{1,5}|\d{1,2})\)|[-•–]\s)")
_EDITION = re.compile(
    r"Harmonized Tariff Schedule of the United States \((\d{4})\)\s*Revision (\d+)"
    r"|Harmonized Tariff Schedule of the United States Revision (\d+) \((\d{4})\)"
)
_LOWER_PARTS = [f"({c})" for c in "abcdefgh"] + ["(ij)"] + [f"({c})" for c in "klmnopqrstuvwxyz"]
_UPPER_PARTS = [f"({c})" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]


@dataclass
class _Draft:
    """A note being collected line by line."""

    scope: str
    section: str | None
    chapter: str | None
    kind: str
    number: str
    lines: list[str] = field(default_factory=list)
    implicit: bool = False  # no number printed (yet)


def load_notes(srcs: str | Path | list[str | Path], *, cache_dir: Path | None = None) -> list[Note]:
    """Numbered notes of the given chapter PDFs (files, folders of `*.pdf`, or URLs) or of their parsed form
    (`.jsonl` / `.jsonl.gz`, see `dump_jsonl`), in document order."""
    items = srcs if isinstance(srcs, (list, tuple)) else [srcs]
    notes: list[Note] = []
    seen: set[str] = set()
    for item in items:
        jsonl = plain_name(item).lower().endswith(".jsonl")
        path = resolve(item, cache_dir=cache_dir, expect=None if jsonl else ".pdf")
        files = sorted(path.glob("*.pdf")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise SourceFormatError(f"{path}: no chapter PDFs (*.pdf) in this folder")
        for f in files:
            source = str(item) if is_url(item) and not jsonl else f.name
            parsed = read_jsonl(f) if jsonl else parse_chapter_pdf(f, source=source)
            for note in parsed:
                if note.label not in seen:  # the same file given twice adds nothing
                    seen.add(note.label)
                    notes.append(note)
    return notes


def dump_jsonl(notes: list[Note]) -> bytes:
    """The notes as JSON lines (field order of `Note`), the form `load_notes` reads back unchanged."""
    return "".join(json.dumps(dataclasses.asdict(n), ensure_ascii=False) + "\n" for n in notes).encode("utf-8")


def read_jsonl(path: Path) -> list[Note]:
    """Notes from a JSON-lines file written by `dump_jsonl` (plain or gzip)."""
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise SourceFormatError(f"{path}: not UTF-8 text, expected parsed notes (JSON lines)") from None
    names = {f.name for f in dataclasses.fields(Note)}
    notes = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(f"{path}: line {n} is not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or not {"label", "scope", "kind", "number", "text"} <= rec.keys():
            raise SourceFormatError(f"{path}: line {n} is not a parsed note (needs label, scope, kind, number, text)")
        rec = {k: v for k, v in rec.items() if k in names}
        rec["chapters"] = tuple(rec.get("chapters") or ())
        rec.setdefault("edition", HTS_EDITION)
        rec.setdefault("source", plain_name(path))
        notes.append(Note(**rec))
    if not notes:
        raise SourceFormatError(f"{path}: no notes in this file")
    return notes


def to_passages(notes: list[Note]) -> list[Passage]:
    return [
        Passage.make(
            kind=SourceKind.NOTE,
            label=n.label,
            text=n.text,
            edition=n.edition,
            source=n.source,
            codes=(),
            chapter=n.chapter,
            meta={
                "scope": n.scope,
                "kind": n.kind,
                "number": n.number,
                "section": n.section,
                "chapters": list(n.chapters),
            },
        )
        for n in notes
    ]


def parse_chapter_pdf(path: Path, *, source: str | None = None) -> list[Note]:
    """Notes of one USITC chapter PDF; SourceFormatError when the file is not a readable chapter PDF."""
    pages = _note_pages(path)
    text = "\n".join(pages)
    if not re.search(r"^\s*(SECTION [IVXL]+|CHAPTER \d{1,2})\s*$", text, re.MULTILINE):
        raise SourceFormatError(
            f"{path}: not a USITC HTS chapter PDF (no SECTION or CHAPTER heading on its first pages)"
        )
    m = _EDITION.search(text)
    edition = f"HTS {m.group(1) or m.group(4)} Rev. {m.group(2) or m.group(3)}" if m else HTS_EDITION
    lines = [ln for page in pages for ln in _clean_page(page)]
    return _split_notes(lines, edition=edition, source=source or str(path))


# ---------------------------------------------------------------- PDF pages -> clean lines


def _note_pages(path: Path) -> list[str]:
    """Text of the pages before the tariff table (whose header reads "Heading/ Subheading ... Article Description")."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs its repair attempts ("EOF marker not found"); the error raised below says it once.
    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        reader = PdfReader(path)
        pages = []
        for page in reader.pages[:MAX_NOTE_PAGES]:
            text = page.extract_text() or ""
            if "Heading/" in text and "Article Description" in text:
                break
            pages.append(text)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceFormatError(f"{path}: not a readable PDF ({reason[:120]})") from None
    finally:
        log.setLevel(level)
    if not pages:
        raise SourceFormatError(f"{path}: not a USITC HTS chapter PDF (no text before the tariff table)")
    return pages


def _clean_page(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.replace("\xa0", " ").splitlines():
        line = raw.strip()
        if _FOOTNOTE_TEXT.match(line):
            break  # footnotes sit at the foot of the page: the rest is footnote text and running headers
        if not line or _RUNNING.match(line) or _PAGE_MARK.match(line) or _FOOTNOTE_MARK.match(line):
            continue
        out.append(_INLINE_MARK.sub("", line))
    return out


# ---------------------------------------------------------------- clean lines -> notes


def _split_notes(lines: list[str], *, edition: str, source: str) -> list[Note]:
    drafts: list[_Draft] = []
    scope, section, chapter, kind = None, None, None, None
    current: _Draft | None = None
    in_title = False
    for line in lines:
        if m := _SECTION.match(line):
            scope, section, chapter, kind, current, in_title = "section", m.group(1), None, None, None, True
            continue
        if m := _CHAPTER.match(line):
            chapter = f"{int(m.group(1)):02d}"
            scope, section, kind, current, in_title = (
                "chapter",
                chapter_sections().get(chapter),
                None,
                None,
                True,
            )
            continue
        if m := _BLOCK.match(line):
            new_kind = _kind_of(m.group("head"))
            if not (m.group("con") and new_kind == kind):
                kind, current = new_kind, None
            in_title = False
            continue
        if in_title or scope is None or kind is None:
            continue  # section / chapter titles, and anything before the first notes heading
        if current is None and line.startswith("l. "):
            line = "1" + line[1:]  # the first note of a block printed as "l." (chapter 76, Statistical Notes)
        m = _NUMBERED.match(line)
        if m and current is not None and current.implicit and m.group(1) == "1":
            # The text before "1." was an introduction, not an unnumbered note: it opens note 1.
            current.number, current.implicit = "1", False
            current.lines.append(m.group(2))
        elif m and _starts_note(line, int(m.group(1)), _next_number(current)):
            current = _Draft(scope, section, chapter, kind, m.group(1), [m.group(2)] if m.group(2) else [])
            drafts.append(current)
        elif current is not None:
            current.lines.append(line)
        else:
            # Text under a heading before any number: a single unnumbered note (unless "1." follows).
            current = _Draft(scope, section, chapter, kind, "1", [line], implicit=True)
            drafts.append(current)
    notes: list[Note] = []
    for d in drafts:
        notes.extend(_finish(d, edition=edition, source=source))
    return notes


def _kind_of(head: str) -> str:
    h = " ".join(head.lower().split())
    if h.startswith("subheading"):
        return "subheading_note"
    if h.startswith("additional"):
        return "additional_us_note"
    if h.startswith("statistical"):
        return "statistical_note"
    return "note"


def _next_number(current: _Draft | None) -> int:
    """The number the next note of this block must carry (a stray "5." inside a note is not note 5)."""
    if current is None:
        return 1
    digits = re.match(r"\d+", current.number)
    return int(digits.group(0)) + 1 if digits else 1


def _starts_note(line: str, number: int, expected: int) -> bool:
    if number == expected:
        return True
    return expected < number <= expected + MAX_NUMBER_GAP and bool(_NUMBERED_STRICT.match(line))


def _join(lines: list[str]) -> str:
    """Undo the PDF's hard line wraps; list items and dashes keep a line of their own."""
    out: list[str] = []
    for line in lines:
        if out and not _LIST_ITEM.match(line):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return "\n".join(" ".join(x.split()) for x in out).strip()


def _finish(d: _Draft, *, edition: str, source: str) -> list[Note]:
    parts = _lettered_parts(d.lines)
    if parts is None:
        return [_note(d, d.number, _join(d.lines), edition=edition, source=source)]
    return [
        _note(d, f"{d.number}{letter}", _join(body), edition=edition, source=source) for letter, body in parts
    ]


def _lettered_parts(lines: list[str]) -> list[tuple[str, list[str]]] | None:
    """[("(A)", lines), ("(B)", lines) ...] when the note opens with (A)/(a) and is long enough to split."""
    if not lines or sum(len(x) for x in lines) < SPLIT_MIN_CHARS:
        return None
    first = lines[0].lstrip()
    sequence = _UPPER_PARTS if first.startswith("(A)") else _LOWER_PARTS if first.startswith("(a)") else None
    if sequence is None:
        return None
    parts: list[tuple[str, list[str]]] = []
    want = 0
    for line in lines:
        if want < len(sequence) and line.lstrip().startswith(sequence[want]):
            label = sequence[want].replace("(ij)", "(i)")
            parts.append((label, [line]))
            want += 1
        else:
            parts[-1][1].append(line)
    return parts if len(parts) > 1 else None


def _note(d: _Draft, number: str, text: str, *, edition: str, source: str) -> Note:
    if d.scope == "section":
        chapters = tuple(sorted(c for c, s in chapter_sections().items() if s == d.section))
        label = f"Section {d.section}, {KIND_LABELS[d.kind]} {number}"
    else:
        chapters = (d.chapter,)
        label = f"Chapter {int(d.chapter)}, {KIND_LABELS[d.kind]} {number}"
    return Note(
        label=label,
        scope=d.scope,
        kind=d.kind,
        number=number,
        text=text,
        edition=edition,
        source=source,
        section=d.section,
        chapter=d.chapter if d.scope == "chapter" else None,
        chapters=chapters,
    )
