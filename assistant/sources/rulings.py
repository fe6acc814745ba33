"""CBP ruling letters (CROSS, https://rulings.cbp.gov/) as plain text: a folder of letters or a JSON-lines file.

Everything is read from the letter itself: the ruling number (its first line), the date ("December 15,
2015"), the subject (RE: line), the codes of the "TARIFF NO.:" line, and the codes of the holding
("The applicable subheading for ... will be 0712.90.4020"; "... is classified in subheading ...").
`Ruling.codes` lists the TARIFF NO. codes first, then the holding codes, without repeats. Letters that
classify nothing (origin or marking rulings) are kept, with no codes.

JSON lines: one object per letter with at least `text`; `ruling_number`, `collection`, `ruling_date`
and `category` (CROSS metadata, as in `cbp_rulings_sample/ny_rulings_fulltext.jsonl`) fill what the
text does not say.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from ..codes import format_code
from ..errors import SourceFormatError
from ..models import Passage, Ruling, SourceKind
from .fetch import plain_name, read_bytes, resolve

EDITION = "CBP CROSS"
CROSS_URL = "https://rulings.cbp.gov/ruling/{number}"
PASSAGE_TARGET_CHARS = 800  # a passage is closed once it reaches this size ...
PASSAGE_MAX_CHARS = 1200  # ... and before it would exceed this one

_NUMBER_LINE = re.compile(r"^(?:(NY|HQ)\s*)?([A-Z]{1,2}\d{5,6}|\d{6})$")
_DATE = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\s+(\d{1,2}),\s*(\d{4})"
)
_CODE_RE = r"(?<![\d.])\d{4}\.\d{2}(?:\.\d{2}(?:\.?\d{2})?)?(?!\d)"
_CODE = re.compile(_CODE_RE)
# The codes a holding verb is followed by: "will be 1901.20.6500 and 1901.20.7000", "in subheading 6203.31".
_CODE_LIST = re.compile(
    rf"\s*(?:be\s+)?(?:in\s+|under\s+)?(?:(?:sub)?headings?\s+)?"
    rf"({_CODE_RE}(?:(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+){_CODE_RE})*)"
)
_TARIFF_LINE = re.compile(r"TARIFF\s+NO\.?\s*:?[ \t]*([^\n]*)", re.IGNORECASE)
_SUBJECT = re.compile(r"\bRE:[ \t]*(.*?)(?=\n\s*Dear\b|\Z)", re.DOTALL)
_ADDRESSEE = re.compile(r"^\s*(?:Mr|Ms|Mrs|Miss|Dr|Messrs)\.?\s")
_CATEGORY = re.compile(r"^\s*CATEGORY:\s*(.+?)\s*$", re.MULTILINE)
_SALUTATION = re.compile(r"\bDear\s[^:]{1,80}:\s*")
_CLOSING = re.compile(r"\bSincerely,?\s")
_HOLDING_APPLICABLE = re.compile(
    r"\bapplicable\s+(?:tariff\s+|classification\s+)?(?:sub)?(?:heading|provision|classification)s?\b.*?\bwill\b",
    re.IGNORECASE,
)
_HOLDING_CLASSIFIED = re.compile(
    r"\b(?:is|are|will\s+be|would\s+be|shall\s+be|remains?)\s+(?:(?!not\b)\w+\s+)?classifi(?:ed|able)\s+(?:in|under|within)\b",
    re.IGNORECASE,
)
_NOT_A_HOLDING = re.compile(r"\byou(?:r)?\b|\bsuggest|\bclaim|\bpropos|\bshould\b", re.IGNORECASE)
# Standard sentences of every letter: dropped from the passages (the letter text keeps them). Matched up to the
# end of their sentence, wherever they start: some letters run them on without a full stop before.
_BOILERPLATE = re.compile(
    r"(?i:Duty rates are provided for your convenience"
    r"|The text of the most recent HTSUS"
    r"|This ruling is being issued under the provisions of Part 177"
    r"|A copy of the ruling or the control number"
    r"|If you have any questions regarding (?:the|this) ruling"
    r"|This merchandise is subject to The Public Health Security and Bioterrorism"
    r"|Information on the Bioterrorism Act"
    r"|The holding set forth above applies only to the specific factual situation"
    r"|In your (?:letter|request|electronic ruling request)[^.]{0,80}\byou requested\b)"
    r".*?(?:[.!?][\"”’)]*\s+(?=[A-Z“\"(])|$)"
)
_ABBREVIATIONS = {
    "u.s",
    "no",
    "nos",
    "inc",
    "ltd",
    "co",
    "corp",
    "jr",
    "sr",
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "e.g",
    "i.e",
    "etc",
    "vs",
    "v",
    "c.f.r",
    "u.s.c",
    "fig",
    "approx",
    "ft",
    "sq",
    "oz",
    "lbs",
}


def load_rulings(src: str | Path, *, cache_dir: Path | None = None) -> list[Ruling]:
    """Rulings from a folder of `*.txt` letters, one letter `.txt`, or a JSON-lines file of letters."""
    path = resolve(src, cache_dir=cache_dir)
    source = str(src)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise SourceFormatError(f"{path}: no ruling letters (*.txt) in this folder")
        rulings: dict[str, Ruling] = {}
        for f in files:  # N270709.normalized.txt and N270709.txt are the same letter: keep the first
            r = parse_letter(_read_text(f), source=str(f), fallback_number=f.name.split(".")[0])
            rulings.setdefault(r.number, r)
        return list(rulings.values())
    if Path(plain_name(path)).suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return _load_jsonl(path, source)
    return [parse_letter(_read_text(path), source=source, fallback_number=path.name.split(".")[0])]


def parse_letter(
    text: str, *, source: str, fallback_number: str | None = None, meta: dict[str, Any] | None = None
) -> Ruling:
    """One ruling from its letter text; `meta` (CROSS metadata) fills what the text lacks."""
    meta = meta or {}
    raw = text.replace("\xa0", " ").replace("\r\n", "\n")
    flat = " ".join(raw.split())
    prefix, number = _number(raw)
    if meta.get("ruling_number"):
        number = str(meta["ruling_number"]).strip()
    elif number is None and fallback_number and _NUMBER_LINE.match(fallback_number):
        number = fallback_number
    if not number:
        raise SourceFormatError(f"{source}: not a CBP ruling letter (no ruling number on its first lines)")
    head = flat[: flat.find(" RE:")] if " RE:" in flat else flat[:800]
    tariff_no = _TARIFF_LINE.search(raw)
    tariff_codes = _codes(tariff_no.group(1)) if tariff_no else ()
    holding_codes = _dedupe(
        c for s in holding_sentences(_BOILERPLATE.sub("", flat)) for c in _holding_codes(s)
    )
    subject = _subject(raw)
    category = _CATEGORY.search(raw)
    return Ruling(
        number=number,
        collection=str(meta.get("collection") or _collection(prefix, number)),
        date=_date(head) or meta.get("ruling_date"),
        subject=subject,
        codes=_dedupe([*tariff_codes, *holding_codes]),
        tariff_no_codes=tariff_codes,
        holding_codes=holding_codes,
        text=raw.strip(),
        source=CROSS_URL.format(number=number),  # cited as the letter's page on CROSS, never a local file
        category=category.group(1) if category else meta.get("category"),
        url=CROSS_URL.format(number=number),
    )


def holding_sentences(flat: str) -> list[str]:
    """Sentences that state the classification ("The applicable subheading for X will be 0712.90.4020, ...")."""
    return [s for s in _sentences(flat) if _CODE.search(s) and _holding_codes(s)]


def _holding_codes(sentence: str) -> tuple[str, ...]:
    """Codes right after the holding verb (not codes quoted elsewhere in the sentence)."""
    found: list[str] = []
    if (m := _HOLDING_APPLICABLE.search(sentence)) and (codes := _CODE_LIST.match(sentence, m.end())):
        found.extend(_codes(codes.group(1)))
    if not _NOT_A_HOLDING.search(sentence):
        for m in _HOLDING_CLASSIFIED.finditer(sentence):
            if codes := _CODE_LIST.match(sentence, m.end()):
                found.extend(_codes(codes.group(1)))
    return _dedupe(found)


def to_passages(rulings: list[Ruling]) -> list[Passage]:
    """Per ruling: a summary passage (subject + holding) first, then the letter body in ~800-1200 char parts."""
    passages: list[Passage] = []
    for r in rulings:
        body = _BOILERPLATE.sub("", _body(" ".join(r.text.split())))
        holdings = holding_sentences(body)
        # Letters without a RE: line (some origin rulings) are summed up by their first sentence.
        summary = r.subject or next(iter(_sentences(body)), "")[:300] or f"Ruling {r.number}"
        if holdings:
            kept = [
                h
                for i, h in enumerate(holdings)
                if i == 0 or sum(map(len, holdings[: i + 1])) <= PASSAGE_MAX_CHARS
            ]
            summary += "\n" + " ".join(kept)
        elif r.codes:
            summary += "\nTariff No.: " + ", ".join(format_code(c) for c in r.codes)
        for part, text in enumerate([summary, *_chunks(body)]):
            passages.append(
                Passage.make(
                    kind=SourceKind.RULING,
                    label=r.label,
                    text=text,
                    edition=EDITION,
                    source=r.source,
                    codes=r.codes,
                    chapter=r.codes[0][:2] if r.codes else None,
                    meta={
                        "number": r.number,
                        "collection": r.collection,
                        "date": r.date,
                        "subject": r.subject,
                        "category": r.category,
                        "part": part,
                        "url": r.url,
                    },
                )
            )
    return passages


# ---------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    data = read_bytes(path)
    if not data.strip():
        raise SourceFormatError(f"{path}: empty file, expected a CBP ruling letter")
    if b"\x00" in data:
        raise SourceFormatError(f"{path}: binary file, expected a CBP ruling letter as text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _load_jsonl(path: Path, source: str) -> list[Ruling]:
    text = _read_text(path)
    rulings: list[Ruling] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(f"{path}: line {n} is not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
            raise SourceFormatError(f'{path}: line {n} has no ruling letter "text"')
        rulings.append(parse_letter(rec["text"], source=source, meta=rec))
    if not rulings:
        raise SourceFormatError(f"{path}: no ruling letters in this file")
    return rulings


# ---------------------------------------------------------------- parsing helpers


def _number(raw: str) -> tuple[str | None, str | None]:
    for line in [ln.strip() for ln in raw.splitlines() if ln.strip()][:15]:
        if m := _NUMBER_LINE.match(line):
            return m.group(1), m.group(2)
    return None, None


def _subject(raw: str) -> str:
    """The RE: line (it may wrap over several lines; it ends at the salutation or the addressee)."""
    m = _SUBJECT.search(raw[:8000])
    if not m:
        return ""
    lines = []
    for line in m.group(1).splitlines():
        if _ADDRESSEE.match(line):
            break
        lines.append(line)
    return " ".join(" ".join(lines).split())[:500]


def _collection(prefix: str | None, number: str) -> str:
    if prefix:
        return prefix
    return "HQ" if number[:1] in ("H", "W") else "NY"


def _date(head: str) -> str | None:
    m = _DATE.search(head)
    if not m:
        return None
    try:
        return datetime.strptime(f"{m.group(1)} {m.group(2)} {m.group(3)}", "%B %d %Y").date().isoformat()
    except ValueError:
        return None


def _codes(text: str) -> tuple[str, ...]:
    return _dedupe(m.group(0).replace(".", "") for m in _CODE.finditer(text))


def _dedupe(codes) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


def _sentences(flat: str) -> list[str]:
    """Split at ". " + capital, except after abbreviations and initials ("U.S. Customs", "Bruce N. Hadley")."""
    out, start = [], 0
    for m in re.finditer(r"[.!?][\"”’)]*\s+(?=[A-Z“\"(])", flat):
        word = re.search(r"([A-Za-z.]+)[.!?][\"”’)]*\s+$", flat[start : m.end()])
        token = word.group(1).lower() if word else ""
        if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            continue
        out.append(flat[start : m.end()].strip())
        start = m.end()
    if flat[start:].strip():
        out.append(flat[start:].strip())
    return out


def _body(flat: str) -> str:
    """The letter between the salutation and the signature (without address block and sign-off)."""
    start = _SALUTATION.search(flat)
    body = flat[start.end() :] if start else flat
    ends = list(_CLOSING.finditer(body))
    return body[: ends[-1].start()] if ends else body


def _chunks(body: str) -> list[str]:
    sentences = _sentences(body)
    chunks: list[str] = []
    current = ""
    for s in sentences:
        if current and (
            len(current) >= PASSAGE_TARGET_CHARS or len(current) + 1 + len(s) > PASSAGE_MAX_CHARS
        ):
            chunks.append(current)
            current = s
        else:
            current = f"{current} {s}".strip()
    if current:
        if chunks and len(current) < 200 and len(chunks[-1]) + len(current) < PASSAGE_MAX_CHARS + 300:
            chunks[-1] = f"{chunks[-1]} {current}"
        else:
            chunks.append(current)
    return chunks
