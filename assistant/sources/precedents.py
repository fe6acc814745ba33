"""Precedents: labelled examples (goods description -> code) from rulings, reference lists, entry histories, decisions.

Formats read (the dataset name and jurisdiction are guessed from the file name; `source=` / `jurisdiction=` override):
- JSON lines `{"description", "gold_codes"|"code", "id"?, "date"?, "subject"?}`: the ATLAS/CROSS format
  (`atlas_dev.jsonl`, dataset `atlas_dev`) and the recent CBP rulings (`recent_rulings.jsonl`, dataset `cbp_recent`;
  `usable_rulings.jsonl` with `cleaned_description`/`true_code`/`rulingNumber` too);
- the HMRC `search_references.json` (`{"term": "code"}`, dataset `hmrc_search_refs`, UK codes);
- CSV with a description and a code column, sniffed or named (`trader_descriptions_dev.csv`: `Goods Description,
  Commodity Code`, dataset `hmrc_trader`; `brands.csv`: `GDSDESC,CMDTYCODE`, dataset `hmrc_brands`; a broker's own
  entry history under any other name).

Codes are checked against the loaded nomenclature (`to_passages`): a foreign (UK) code contributes its 6-digit
subheading only; a US code no longer in the schedule is kept, marked `retired`, and votes only at the deepest level
that still exists (never as a line).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, SourceFormatError
from ..models import Passage, SourceKind
from .fetch import read_bytes

if TYPE_CHECKING:
    from ..index.nomenclature import Nomenclature

EMBED_CHARS = 600  # a long ruling is embedded by its opening (the goods); all of it is shown and searched lexically
CROSS_URL = "https://rulings.cbp.gov/ruling/{number}"
UK_TARIFF_URL = "https://www.trade-tariff.service.gov.uk/commodities/{code}"
JURISDICTIONS = ("us", "uk")
_RULING_NUMBER = re.compile(r"^(?:NY\s*)?([A-Z]{1,2}\d{5,6}|\d{6})$")
_DESCRIPTION_COLUMNS = ("description", "goods description", "gdsdesc", "goods_description", "item description",
                        "product description", "product", "title", "text")
_CODE_COLUMNS = ("code", "commodity code", "cmdtycode", "hts", "hts code", "htsus", "tariff code", "hs code",
                 "hs_code", "commodity_code", "gold_code", "final_code", "classification")

# Known files: name fragment -> (dataset, jurisdiction).
_KNOWN = (
    ("search_references", ("hmrc_search_refs", "uk")),
    ("trader_descriptions", ("hmrc_trader", "uk")),
    ("extra_references", ("hmrc_trader", "uk")),
    ("brands", ("hmrc_brands", "uk")),
    ("recent_rulings", ("cbp_recent", "us")),
    ("usable_rulings", ("cbp_recent", "us")),
    ("atlas", ("atlas_dev", "us")),
)
EDITIONS = {"us": "Precedents (US)", "uk": "Precedents (UK reference data)"}


@dataclass(frozen=True)
class Precedent:
    """One labelled example as read from its source, before its codes are checked against a nomenclature."""

    description: str
    codes: tuple[str, ...]  # digits as given, primary first
    dataset: str  # cbp_recent | atlas_dev | hmrc_search_refs | hmrc_trader | hmrc_brands | decisions | --source name
    item_id: str  # the record's id within its dataset
    jurisdiction: str  # us | uk
    date: str | None = None
    subject: str | None = None

    @property
    def label(self) -> str:
        """Citation label: "CBP NY N363957 (2026-08-13)", "HMRC search reference 'abalone'", "Case <id>" ..."""
        when = f" ({self.date})" if self.date else ""
        if self.dataset == "decisions":
            return f"Case {self.item_id}"
        if self.dataset == "hmrc_search_refs":
            return f"HMRC search reference '{self.description}'"
        if self.dataset == "hmrc_trader":
            return "HMRC trader description"
        if self.dataset == "hmrc_brands":
            return "HMRC brand reference"
        if self.ruling_number:
            return f"CBP NY {self.ruling_number}{when}"
        if self.dataset.startswith("atlas"):
            return f"ATLAS/CROSS ruling {self.item_id}"
        return f"{self.dataset} {self.item_id}{when}"

    @property
    def ruling_number(self) -> str | None:
        m = _RULING_NUMBER.match(self.item_id.strip().upper()) if self.dataset != "decisions" else None
        return m.group(1) if m else None

    @property
    def url(self) -> str | None:
        """The official page of the precedent: the CBP ruling, or the UK commodity page."""
        if self.ruling_number:
            return CROSS_URL.format(number=self.ruling_number)
        if self.jurisdiction == "uk" and self.codes:
            return UK_TARIFF_URL.format(code=self.codes[0].ljust(10, "0")[:10])
        if self.dataset == "decisions":
            return f"/cases/{self.item_id}"
        return None


# ---------------------------------------------------------------- reading


def detect(path: str | Path) -> tuple[str, str]:
    """(dataset, jurisdiction) guessed from a file name; unknown files are a US entry history named by their stem."""
    name = Path(path).name.lower()
    for fragment, found in _KNOWN:
        if fragment in name:
            return found
    return re.sub(r"[^a-z0-9_]+", "_", Path(path).stem.lower()).strip("_") or "precedents", "us"


def load_precedents(path: str | Path, *, source: str | None = None, jurisdiction: str | None = None,
                    description_column: str | None = None, code_column: str | None = None) -> list[Precedent]:
    """Read a JSONL, JSON term map or CSV file of labelled examples (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"precedents file {p} not found" if not p.exists() else f"{p} is not a file")
    dataset, guessed = detect(p)
    dataset = (source or dataset).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", dataset):
        raise InputError(f"--source {dataset!r}: use 1-64 letters, digits, '_', '-' or '.'")
    jurisdiction = (jurisdiction or guessed).lower()
    if jurisdiction not in JURISDICTIONS:
        raise InputError(f"unknown jurisdiction {jurisdiction!r}; expected one of {', '.join(JURISDICTIONS)}")
    try:
        text = read_bytes(p).decode("utf-8-sig")  # the shipped copies in corpus/ are gzip files
    except UnicodeDecodeError:
        raise SourceFormatError(f"{p.name} is not UTF-8 text") from None
    suffix = Path(p.name[:-3] if p.name.lower().endswith(".gz") else p.name).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        out = _from_jsonl(text, p.name, dataset, jurisdiction)
    elif suffix == ".json":
        out = _from_json(text, p.name, dataset, jurisdiction)
    elif suffix in (".csv", ".tsv", ".txt"):
        out = _from_csv(text, p.name, dataset, jurisdiction, description_column, code_column)
    else:
        raise InputError(f"{p.name}: expected .jsonl, .json or .csv")
    if not out:
        raise SourceFormatError(f"no precedents (description + code) found in {p.name}")
    return out


def _digits(raw: Any) -> str | None:
    text = re.sub(r"[\s.\-]", "", str(raw or ""))
    if not text.isdigit():
        return None
    if len(text) in (5, 7, 9):  # a leading zero lost by a spreadsheet (chapters 01-09)
        text = "0" + text
    return text if len(text) in (4, 6, 8, 10) else None


def _codes(raw: Any) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    return tuple(dict.fromkeys(c for c in map(_digits, values) if c))


def _from_jsonl(text: str, name: str, dataset: str, jurisdiction: str) -> list[Precedent]:
    out: list[Precedent] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(f"{name} line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise SourceFormatError(f"{name} line {number}: expected a JSON object")
        description = rec.get("description") or rec.get("cleaned_description") or ""
        codes = _codes(rec.get("gold_codes") or rec.get("code") or rec.get("codes") or rec.get("true_code"))
        if not isinstance(description, str) or not description.strip() or not codes:
            continue  # a record without goods or code teaches nothing
        ident = str(rec.get("id") or rec.get("rulingNumber") or rec.get("ruling_number") or number)
        out.append(Precedent(
            description=" ".join(description.split()), codes=codes, dataset=dataset, item_id=ident,
            jurisdiction=jurisdiction, date=rec.get("date") or rec.get("rulingDate") or rec.get("ruling_date"),
            subject=rec.get("subject"),
        ))
    return out


def _from_json(text: str, name: str, dataset: str, jurisdiction: str) -> list[Precedent]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{name}: not valid JSON ({exc.msg})") from None
    if isinstance(data, list):  # a JSON array of records: same fields as the JSON-lines form
        return _from_jsonl("\n".join(json.dumps(r) for r in data), name, dataset, jurisdiction)
    if not isinstance(data, dict):
        raise SourceFormatError(f"{name}: expected a JSON object of term -> code")
    out = []
    for term, code in data.items():
        codes = _codes(code)
        if term.strip() and codes:
            out.append(Precedent(description=term.strip(), codes=codes, dataset=dataset, item_id=term.strip(),
                                 jurisdiction=jurisdiction))
    return out


def _pick(header: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, name: str) -> int:
    lowered = [h.strip().lower() for h in header]
    if wanted:
        if wanted.strip().lower() not in lowered:
            raise InputError(f"{name}: no {what} column {wanted!r}; columns are {', '.join(header)}")
        return lowered.index(wanted.strip().lower())
    for c in candidates:
        if c in lowered:
            return lowered.index(c)
    raise InputError(f"{name}: cannot tell which column holds the {what}; columns are {', '.join(header)} "
                     f"(name it with --{what}-column)")


def _from_csv(text: str, name: str, dataset: str, jurisdiction: str, description_column: str | None,
              code_column: str | None) -> list[Precedent]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        return []
    header = rows[0]
    d = _pick(header, description_column, _DESCRIPTION_COLUMNS, "description", name)
    c = _pick(header, code_column, _CODE_COLUMNS, "code", name)
    lowered = [h.strip().lower() for h in header]
    id_col = next((lowered.index(k) for k in ("id", "entry", "entry number", "reference") if k in lowered), None)
    date_col = next((lowered.index(k) for k in ("date", "entry date") if k in lowered), None)
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) <= max(d, c):
            continue
        description, codes = " ".join(row[d].split()), _codes(row[c])
        if not description or not codes:
            continue
        ident = row[id_col].strip() if id_col is not None and len(row) > id_col and row[id_col].strip() else str(number)
        date = row[date_col].strip() or None if date_col is not None and len(row) > date_col else None
        out.append(Precedent(description=description, codes=codes, dataset=dataset, item_id=ident,
                             jurisdiction=jurisdiction, date=date))
    return out


# ---------------------------------------------------------------- checking codes, making passages


class CodeCheck:
    """Which prefixes of a code the loaded nomenclature still has, and how deep a precedent may vote."""

    def __init__(self, nomenclature: Nomenclature):
        self.national = not nomenclature.edition.startswith("HS")  # US HTS loaded (else HS 2022 only)
        self.leaves = {ln.code for ln in nomenclature.leaves()}
        self.prefixes = {code[:n] for code in self.leaves for n in (2, 4, 6, 8, 10) if n <= len(code)}

    def usable(self, code: str, jurisdiction: str) -> tuple[str | None, bool]:
        """(the deepest trustworthy prefix of `code`, retired?): UK codes stop at 6 digits; None: nothing left."""
        cap = 6 if jurisdiction != "us" or not self.national else 10
        if len(code) >= 6 and code[:6] not in self.prefixes:
            return None, jurisdiction == "us" and self.national  # its subheading is gone too: no vote at all
        for n in (10, 8, 6, 4):
            if n <= min(len(code), cap) and code[:n] in self.prefixes:
                # A 10-digit line must be a leaf; an 8-digit line is valid by prefix (USITC prints it as ...00).
                if n == 10 and code not in self.leaves:
                    continue
                retired = jurisdiction == "us" and self.national and n < len(code)
                return code[:n], retired
        return None, jurisdiction == "us" and self.national


def to_passages(precedents: list[Precedent], nomenclature: Nomenclature) -> list[Passage]:
    """One passage per precedent; codes reduced to what the loaded nomenclature can use (see `CodeCheck`)."""
    check = CodeCheck(nomenclature)
    return [p for p in (precedent_passage(x, check) for x in precedents) if p is not None]


def precedent_passage(x: Precedent, check: CodeCheck) -> Passage | None:
    """The passage of one precedent, or None when none of its codes exists in the loaded nomenclature."""
    usable: list[str] = []
    retired = False
    for code in x.codes:
        kept, gone = check.usable(code, x.jurisdiction)
        retired = retired or gone
        if kept and kept not in usable:
            usable.append(kept)
    if not usable:
        return None
    level = max(len(c) for c in usable)
    text = x.description
    embed = text[:EMBED_CHARS].rsplit(" ", 1)[0] if len(text) > EMBED_CHARS else None
    meta = {
        "dataset": x.dataset, "item_id": x.item_id, "date": x.date, "jurisdiction": x.jurisdiction,
        "level": level, "retired": retired, "original_codes": list(x.codes), "url": x.url,
    }
    if x.subject:
        meta["subject"] = x.subject
    return Passage.make(
        kind=SourceKind.PRECEDENT, label=x.label, text=text, edition=EDITIONS.get(x.jurisdiction, "Precedents"),
        source=x.url or _SOURCE_NAMES.get(x.dataset, x.dataset), codes=tuple(usable), level=level,
        chapter=usable[0][:2], embed_text=embed, meta=meta,
    )


_SOURCE_NAMES = {  # what a citation names when a precedent has no page of its own (never a local path)
    "atlas_dev": "CROSS Rulings HTS Dataset (Flexify.AI), validation split",
    "hmrc_trader": "HMRC Online Trade Tariff reference data",
    "hmrc_brands": "HMRC Online Trade Tariff reference data",
    "hmrc_search_refs": "HMRC Online Trade Tariff reference data",
}
