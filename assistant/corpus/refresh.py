"""`tariff corpus refresh`: rebuild the files of corpus/ from the publishers' downloads, byte for byte reproducibly.

Each input (a local file or folder, or a URL) is recognised by its content, read and checked by its loader, and
written under the corpus folder in the form the default corpus reads (see `corpus/default.py`):

| input | written as |
|---|---|
| USITC HTS export, CSV or JSON | `usitc/hts_<year>_rev<N>.csv.gz` / `.json.gz`, the export's bytes |
| USITC chapter PDFs (files, folders, URLs) | `usitc/hts_<year>_rev<N>_notes.jsonl.gz`, the notes parser's output |
| GRI JSON (`{"rules": [...]}`) | `usitc/general_rules_of_interpretation.json`, as given |
| CBP letters: folder of `*.txt`, or JSON lines with `text` | `cbp/ny_rulings_fulltext.jsonl.gz` |
| code counts (`{"valid_10digit": {...}}` or `{code: count}`) | `cbp/cross_code_prior.json.gz` |

Deterministic: gzip level 9 with mtime 0 and the plain file name in the header, inputs in a fixed order (PDFs by
natural file name, letters by ruling number), so the same downloads always give the same bytes. A new HTS revision
replaces the files of the previous one.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputError, SourceFormatError
from ..files import write_atomic
from ..sources import gri, hts, notes, prior, rulings
from ..sources.fetch import is_url, plain_name, read_bytes, resolve

GRI_FILE = "usitc/general_rules_of_interpretation.json"
RULINGS_FILE = "cbp/ny_rulings_fulltext.jsonl.gz"
PRIOR_FILE = "cbp/cross_code_prior.json.gz"
_REVISION = re.compile(r"HTS (\d{4}) Rev\. (\d+)")


@dataclass(frozen=True)
class Written:
    """One corpus file a refresh wrote: its path under the corpus folder, what it holds, how many records."""

    path: str
    what: str
    records: int


def gzip_bytes(data: bytes, *, name: str) -> bytes:
    """gzip that depends on the content only: level 9, mtime 0, the plain file name in the header."""
    out = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return out.getvalue()


def refresh(sources: list[str | Path], *, corpus_dir: Path, cache_dir: Path | None = None,
            edition: str | None = None) -> list[Written]:
    """Recognise, load and check every input, then write the corpus files (nothing is written if one input fails)."""
    if not sources:
        raise InputError("corpus refresh needs --from: the USITC export, chapter PDFs, the GRI JSON or CBP letters")
    pdfs: list[str | Path] = []
    files: dict[str, tuple[bytes, str, int]] = {}  # corpus path -> (bytes, what, records)
    export = None  # (source, local path, lines) of the HTS export: named once the edition is known
    for src in sources:
        kind, local = _recognise(src, cache_dir=cache_dir)
        if kind == "pdfs":
            pdfs.extend(local)
            continue
        path = local[0]
        if kind == "hts":
            if export is not None:
                raise InputError("corpus refresh: two HTS exports given; pass one")
            export = (src, path, hts.load_hts(path, edition=edition))  # checks the export
        elif kind == "gri":
            rules = gri.load_gri(path)
            _put(files, GRI_FILE, read_bytes(path), "GRIs and Additional U.S. Rules", len(rules))
        elif kind == "rulings":
            _put(files, RULINGS_FILE, *_rulings_file(path))
        elif kind == "prior":
            counts = prior.load_prior_source(path)
            _put(files, PRIOR_FILE, gzip_bytes(read_bytes(path), name=plain_name(PRIOR_FILE)), "code prior",
                 len(counts))
    found = notes.load_notes(sorted(pdfs, key=lambda p: _natural(plain_name(p))), cache_dir=cache_dir) if pdfs else []
    # The edition: as given, else the export's file name, else the running header of the chapter PDFs.
    edition = edition or (hts.edition_from_name(plain_name(export[0])) if export else None) or (
        found[0].edition if found else None)
    if export is not None:
        src, path, lines = export
        data = read_bytes(path)
        name = _revision_stem(edition) + (".json" if data.lstrip()[:1] in (b"[", b"{") else ".csv")
        _put(files, f"usitc/{name}.gz", gzip_bytes(data, name=name), "HTS tariff lines", len(lines))
    if found:
        stem = _revision_stem(edition) + "_notes.jsonl"
        _put(files, f"usitc/{stem}.gz", gzip_bytes(notes.dump_jsonl(found), name=stem), "legal notes", len(found))
    written = []
    for rel, (data, what, count) in sorted(files.items()):
        target = Path(corpus_dir) / rel
        if rel.startswith("usitc/hts_"):  # a new revision replaces the files of the previous one
            pattern = "hts_*_rev*_notes.jsonl.gz" if "_notes." in rel else "hts_*_rev*[0-9].*.gz"
            for old in target.parent.glob(pattern):
                if old != target:
                    old.unlink()
        write_atomic(target, data)
        written.append(Written(rel, what, count))
    return written


def _put(files: dict, rel: str, data: bytes, what: str, count: int) -> None:
    if rel in files:
        raise InputError(f"corpus refresh: two inputs give {rel}; pass one")
    files[rel] = (data, what, count)


def _revision_stem(edition: str) -> str:
    m = _REVISION.match(edition or "")
    if not m:
        raise InputError("cannot tell the HTS year and revision (not in the export's file name or the PDFs); "
                         "pass --edition 'HTS 2026 Rev. 1'")
    return f"hts_{m.group(1)}_rev{int(m.group(2))}"


def _natural(text: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text.lower()))


def _recognise(src: str | Path, *, cache_dir: Path | None) -> tuple[str, list]:
    """(kind, [local path]) of one input; chapter PDFs give ("pdfs", [PDF paths or URLs])."""
    name = plain_name(src).lower()
    if is_url(src) and name.endswith(".pdf"):
        return "pdfs", [src]
    path = resolve(src, cache_dir=cache_dir)
    if path.is_dir():
        if pdfs := sorted(path.glob("*.pdf")):
            return "pdfs", pdfs
        if sorted(path.glob("*.txt")):
            return "rulings", [path]
        raise SourceFormatError(f"{path}: no chapter PDFs (*.pdf) or ruling letters (*.txt) in this folder")
    if name.endswith(".pdf") or read_bytes(path)[:5] == b"%PDF-":
        return "pdfs", [path]
    text = read_bytes(path).decode("utf-8-sig", errors="replace").lstrip()
    if text[:1] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            first = json.loads(text.splitlines()[0]) if text.splitlines() else None
            if isinstance(first, dict) and "text" in first:
                return "rulings", [path]
            raise SourceFormatError(f"{src}: JSON lines, but not CBP ruling letters (no \"text\" field)") from None
        if (isinstance(data, dict) and "rules" in data) or (isinstance(data, list) and data and "rule" in data[0]):
            return "gri", [path]
        if isinstance(data, list) and data and isinstance(data[0], dict) and "htsno" in data[0]:
            return "hts", [path]
        if isinstance(data, dict) and ("valid_10digit" in data or all(isinstance(v, int) for v in data.values())):
            return "prior", [path]
        if isinstance(data, dict) and "text" in data:
            return "rulings", [path]
    elif text and "HTS Number" in text.splitlines()[0]:
        return "hts", [path]
    raise SourceFormatError(f"{src}: not a source the corpus is built from (USITC HTS export, chapter PDFs, "
                            "GRI JSON, CBP ruling letters, code counts)")


def _rulings_file(path: Path) -> tuple[bytes, str, int]:
    """CBP letters as the default corpus keeps them: JSON lines as published, or a folder of letters turned into
    JSON lines (ruling number, collection, date, category, subject, text), sorted by ruling number."""
    letters = rulings.load_rulings(path)  # checks every letter
    if path.is_dir():
        records = sorted(({"ruling_number": r.number, "collection": r.collection, "ruling_date": r.date,
                           "category": r.category, "subject": r.subject, "text": r.text} for r in letters),
                         key=lambda rec: rec["ruling_number"])
        data = "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records).encode("utf-8")
    else:
        data = read_bytes(path)
    return gzip_bytes(data, name=plain_name(RULINGS_FILE)), "CBP ruling letters", len(letters)


def describe(written: list[Written]) -> list[dict]:
    return [asdict(w) for w in written]
