"""Reading a batch CSV as spreadsheets save it: encoding and delimiter sniffed, columns mapped, bad rows reported."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from ..errors import InputError, TooLarge
from .batches import ATTR_PREFIX, BatchItemIn, csv_attributes

DELIMITERS = (",", ";", "\t")  # Excel writes ";" where the decimal mark is a comma, and "\t" for "Unicode text"
FIELDS = ("description", "reference", "declared_code", "category")


class RowError(BaseModel):
    """A CSV row left out of the batch, and why (the rest of the file is still classified)."""

    line: int
    error: str


@dataclass
class CsvBatch:
    """The items read from a CSV upload, the rows left out, and how the file was read."""

    items: list[BatchItemIn]
    rejected: list[RowError] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): a BOM decides (UTF-8, UTF-16); then UTF-16 without BOM, UTF-8, and else Windows-1252."""
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[len(codecs.BOM_UTF8):], "utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16"), "utf-16"
    even, odd = data[0::2], data[1::2]
    if len(data) >= 4 and len(data) % 2 == 0:  # ASCII text in UTF-16 has a NUL in every other byte
        if odd.count(0) > 0.4 * len(odd) and even.count(0) == 0:
            return _strict(data, "utf-16-le"), "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) == 0:
            return _strict(data, "utf-16-be"), "utf-16-be"
    if b"\x00" in data:
        raise InputError("the CSV file contains NUL bytes: it looks like a binary file, not CSV")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"  # what Excel saves as "CSV" on Western-European Windows
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise InputError(f"the CSV file is not valid {encoding.upper()} text") from None


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of comma, semicolon and tab outside quotes."""
    header, quoted = [], False
    for ch in text.split("\n", 1)[0]:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            header.append(ch)
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


def _name(header: str) -> str:
    return header.strip().lower().replace(" ", "_")


def read_csv(data: bytes, *, max_items: int, columns: dict[str, str | None] | None = None) -> CsvBatch:
    """Items of a CSV upload. `columns` maps a field (description, reference, declared_code) to the file's header
    for it, e.g. {"description": "Item text"}; unmapped fields use their own name. Blank rows are skipped; a row
    that cannot be an item is reported in `rejected` with its line number."""
    text, encoding = decode(data)
    if "\x00" in text:
        raise InputError("the CSV file contains NUL characters: it looks like a binary file, not CSV")
    delimiter = sniff_delimiter(text)
    wanted = {f: _name((columns or {}).get(f) or f) for f in FIELDS}
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise InputError("the CSV file is empty")
        names = [_name(h) for h in header]
        if wanted["description"] not in names:
            shown = ", ".join(repr(h.strip()) for h in header[:10])
            raise InputError(f"the CSV file needs a header row with a {wanted['description']!r} column "
                             f"(found {shown}); name another column with ?description_column=")
        col = {f: names.index(n) for f, n in wanted.items() if n in names}
        # Listing attributes: one `attr:NAME` column each, or a JSON object in an `attributes` column.
        attr_cols = {h.strip()[len(ATTR_PREFIX):].strip(): i for i, h in enumerate(header)
                     if h.strip().lower().startswith(ATTR_PREFIX) and h.strip()[len(ATTR_PREFIX):].strip()}
        json_col = names.index("attributes") if "attributes" in names else None
        out = CsvBatch(items=[], encoding=encoding, delimiter=delimiter)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(out.items) >= max_items:
                raise TooLarge(f"the CSV file has more than {max_items} rows; the batch limit is {max_items}")
            values = {f: (row[i].strip() if i < len(row) else "") for f, i in col.items()}
            if not values["description"]:
                out.rejected.append(RowError(line=line, error="the description is empty"))
                continue
            try:
                attributes = csv_attributes(row, attr_cols, json_col, line)
                out.items.append(BatchItemIn(**{k: v or None for k, v in values.items()}, attributes=attributes))
            except InputError as exc:
                out.rejected.append(RowError(line=line, error=exc.message))
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem.get("loc", ()))
                out.rejected.append(RowError(line=line, error=f"{where}: {problem['msg']}"))
    except csv.Error as exc:
        raise InputError(f"the CSV file cannot be read: {exc}") from None
    if not out.items:
        why = "; ".join(f"line {r.line}: {r.error}" for r in out.rejected[:5])
        raise InputError("the CSV file has no rows" + (f" that can be classified ({why})" if why else ""))
    return out
