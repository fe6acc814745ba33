"""The default corpus: the files of corpus/ as one declarative list of ingest steps, built in one go.

`STEPS` is the only place that says what the default index holds. Each step names a source kind of
`sources/registry.py` (or `prior`, the code-frequency prior kept beside the index), a file under the corpus folder
(a glob with exactly one match, so a refresh to the next HTS revision needs no code change) and the loader's options.
Precedent steps go through `Runtime.ingest_precedents`, after the tariff lines they are validated against; a step
whose kind this build does not register is skipped with a log line.

After a build the home holds `corpus.json` (`MANIFEST`): the corpus name, the HTS edition and revision, and the
sha256 of every file indexed, which `tariff status` shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..config import Settings
from ..errors import InputError
from ..files import write_atomic


class Indexer(Protocol):
    """What a build needs of the process's runtime (runtime.Runtime): its settings and its ingest entry points."""

    settings: Settings

    def ingest(self, kind: str, target: Any, *, progress: bool = True) -> Any: ...

    def ingest_precedents(self, path: Any, *, source: str | None = None, progress: bool = True) -> Any: ...

log = logging.getLogger(__name__)

MANIFEST = "corpus.json"


@dataclass(frozen=True)
class Step:
    """One ingest of the default corpus: `kind` read from `file` (a glob under the corpus folder) with `options`."""

    kind: str
    file: str | None = None  # None: packaged data (HS 2022)
    options: dict[str, Any] = field(default_factory=dict)


STEPS: tuple[Step, ...] = (
    Step("hs2022"),
    Step("hts", "usitc/hts_*_rev*[0-9].*.gz"),  # the CSV or JSON export
    Step("notes", "usitc/hts_*_rev*_notes.jsonl.gz"),
    Step("gri", "usitc/general_rules_of_interpretation.json"),
    Step("rulings", "cbp/ny_rulings_fulltext.jsonl.gz"),
    Step("precedent", "cbp/recent_rulings_2026.jsonl.gz", {"source": "cbp_recent"}),
    Step("precedent", "hmrc/search_references.json.gz", {"source": "hmrc_search_refs"}),
    Step("precedent", "hmrc/trader_descriptions_dev.csv.gz", {"source": "hmrc_trader"}),
    Step("precedent", "hmrc/brands.csv.gz", {"source": "hmrc_brands"}),
    Step("prior", "cbp/cross_code_prior.json.gz"),
)
CORPORA: dict[str, tuple[Step, ...]] = {"default": STEPS, "hs2022": (Step("hs2022"),)}
_TITLES = {"default": "the default US corpus (HS 2022, HTS lines, notes, GRIs, rulings, precedents, prior)",
           "hs2022": "HS 2022"}
_EDITION = re.compile(r"HTS (\d{4}) Rev\. (\d+)")


def steps_for(name: str) -> tuple[Step, ...]:
    """The steps of a named corpus (TARIFF_CORPUS): `default` or `hs2022`."""
    steps = CORPORA.get((name or "").lower())
    if steps is None:
        raise InputError(f"unknown corpus {name!r}; expected one of {', '.join(CORPORA)} (TARIFF_CORPUS)")
    return steps


def title(name: str) -> str:
    """How a first start names what it is indexing."""
    return _TITLES.get((name or "").lower(), name)


def step_file(step: Step, corpus_dir: Path) -> Path | None:
    """The one file of `step` under `corpus_dir` (None for packaged data); InputError when missing or ambiguous."""
    if step.file is None:
        return None
    found = sorted(Path(corpus_dir).glob(step.file))
    if len(found) != 1:
        what = "no file" if not found else f"{len(found)} files ({', '.join(f.name for f in found)})"
        raise InputError(f"default corpus: {what} matching {step.file} in {corpus_dir}")
    return found[0]


def runnable(step: Step) -> bool:
    """Whether this build can run `step` (its kind is registered, or it is the prior)."""
    from ..sources import registry

    return step.kind in ("prior", "precedent") or registry.registered(step.kind)


def build(runtime: Indexer, *, name: str = "default", progress: bool = True) -> dict[str, Any]:
    """Index every step of corpus `name` into `runtime` (idempotent: what is already stored is skipped) and write
    the manifest. Returns the manifest."""
    steps = steps_for(name)
    corpus_dir = runtime.settings.default_corpus_dir
    files = [(step, step_file(step, corpus_dir)) for step in steps]  # every file is found before the first write
    manifest = describe(name, files, corpus_dir=corpus_dir, complete=False)
    write_manifest(runtime.settings.home, manifest)
    unusable: list[str] = []
    for n, (step, path) in enumerate(files, start=1):
        shown = path.relative_to(corpus_dir) if path else "packaged data"
        if not runnable(step):
            log.warning("default corpus: step %d/%d skipped: no %r loader registered in this build (%s)",
                        n, len(steps), step.kind, shown)
            continue
        if progress:
            print(f"[{n}/{len(steps)}] {step.kind}: {shown}", file=sys.stderr, flush=True)
        if step.kind == "prior":
            from ..sources.prior import load_prior_source, save_prior

            save_prior(runtime.settings.home, load_prior_source(path))
        elif step.kind == "precedent":  # validated against the nomenclature loaded by the steps before
            try:
                runtime.ingest_precedents(path, progress=progress, **step.options)
            except InputError as exc:  # supplementary: a list with no code of this nomenclature adds nothing
                log.warning("default corpus: step %d/%d skipped: %s", n, len(steps), exc.message)
                unusable.append(f"{step.kind}:{step.file}")
        else:
            runtime.ingest(step.kind, path, progress=progress, **step.options)
    manifest["complete"] = True
    manifest["skipped"] = [f"{s.kind}:{s.file}" for s in steps if not runnable(s)] + unusable
    write_manifest(runtime.settings.home, manifest)
    return manifest


def describe(name: str, files: list[tuple[Step, Path | None]], *, corpus_dir: Path,
             complete: bool) -> dict[str, Any]:
    """The manifest: corpus name, HTS edition and revision (from the export's file name), file hashes."""
    from ..sources.hts import edition_from_name

    hts = next((p for s, p in files if s.kind == "hts" and p), None)
    edition = edition_from_name(hts.name) if hts else None
    m = _EDITION.match(edition or "")
    return {
        "corpus": name,
        "edition": edition,
        "year": int(m.group(1)) if m else None,
        "revision": int(m.group(2)) if m else None,
        "files": {str(p.relative_to(corpus_dir)): sha256_of(p) for _, p in files if p},
        "complete": complete,
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(home: Path) -> dict[str, Any] | None:
    """The manifest of the last corpus build in `home`, or None."""
    path = Path(home) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_manifest(home: Path, manifest: dict[str, Any]) -> Path:
    return write_atomic(Path(home) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
