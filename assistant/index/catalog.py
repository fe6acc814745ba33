"""The catalog: every indexed passage in memory, read from the vector store, with the nomenclature and legal texts."""

from __future__ import annotations

import gc
import json
import logging
import pickle
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files import replace_cached, write_atomic
from ..models import Passage, SourceKind
from .nomenclature import HS_EDITION, Nomenclature, passage_to_line
from .vectorstore import VectorStore, snapshot_of

log = logging.getLogger(__name__)

CATALOG_VERSION = 3  # bump when the pickled layout or order changes (2: precedents; 3: every kind in a fixed order)
_NOTE_KIND_ORDER = {"note": 0, "subheading_note": 1, "additional_us_note": 2, "statistical_note": 3}


def _natural(text: str) -> tuple:
    """Sort key that puts "2" before "10" and "5(A)" after "5"."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text or ""))


class Catalog:
    """An immutable view of one corpus snapshot; the runtime swaps in a new one when the store changes."""

    def __init__(self, passages: list[Passage], *, snapshot: str | None = None):
        self.snapshot = snapshot or snapshot_of(p.id for p in passages)
        self.passages: dict[str, Passage] = {p.id: p for p in passages}
        self.by_kind: dict[SourceKind, list[Passage]] = {k: [] for k in SourceKind}
        for p in passages:
            self.by_kind[p.kind].append(p)
        for ps in self.by_kind.values():  # a fixed order, whatever order the store returned the passages in
            ps.sort(key=lambda p: (p.codes[0] if p.codes else "", p.edition, p.id))

        self.hs = self._nomenclature(SourceKind.HS)
        national = self._nomenclature(SourceKind.HTS)
        empty = Nomenclature([], edition=HS_EDITION)
        self.nomenclature: Nomenclature = national or self.hs or empty
        self.edition = self.nomenclature.edition
        self._line_passages = {
            p.codes[0]: p for p in self.by_kind[SourceKind.HTS if national else SourceKind.HS]
            if p.codes and p.edition == self.edition
        }

        notes = sorted(
            self.by_kind[SourceKind.NOTE],
            key=lambda p: (_NOTE_KIND_ORDER.get(p.meta.get("kind"), 9), _natural(p.meta.get("number", p.label))),
        )
        self._section_notes: dict[str, list[Passage]] = defaultdict(list)
        self._chapter_notes: dict[str, list[Passage]] = defaultdict(list)
        for p in notes:
            if p.meta.get("scope") == "section":
                self._section_notes[str(p.meta.get("section"))].append(p)
            elif p.chapter:
                self._chapter_notes[p.chapter].append(p)
        self._sections_of: dict[str, set[str]] = defaultdict(set)  # chapter -> sections whose notes govern it
        for p in notes:
            if p.meta.get("scope") == "section":
                for ch in p.meta.get("chapters") or ():
                    self._sections_of[ch].add(str(p.meta.get("section")))

        self.gris: list[Passage] = sorted(
            self.by_kind[SourceKind.GRI],
            key=lambda p: (p.label.startswith("Additional"), _natural(p.meta.get("rule", p.label))),
        )
        rulings: dict[str, list[Passage]] = defaultdict(list)
        for p in self.by_kind[SourceKind.RULING]:
            rulings[str(p.meta.get("number") or p.label.split()[-1])].append(p)
        self.rulings: dict[str, list[Passage]] = {
            n: sorted(ps, key=lambda p: int(p.meta.get("part") or 0)) for n, ps in rulings.items()
        }

    def _nomenclature(self, kind: SourceKind) -> Nomenclature | None:
        lines = [p for p in self.by_kind[kind] if p.codes]
        if not lines:
            return None
        # Several editions of a schedule may be indexed side by side: the largest one is the working edition.
        editions = Counter(p.edition for p in lines)
        edition = max(editions, key=lambda e: (editions[e], e))
        return Nomenclature((passage_to_line(p) for p in lines if p.edition == edition), edition=edition)

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self.passages)

    def passage(self, passage_id: str) -> Passage | None:
        return self.passages.get(passage_id)

    def line_passage(self, code: str) -> Passage | None:
        """The passage of a line of the working nomenclature (HTS when loaded, else HS 2022)."""
        return self._line_passages.get(code)

    def section_of(self, chapter: str) -> str | None:
        line = self.nomenclature.get(chapter) or (self.hs.get(chapter) if self.hs else None)
        if line is not None and line.section:
            return line.section
        sections = self._sections_of.get(chapter)
        return sorted(sections)[0] if sections else None

    def notes_for_chapter(self, chapter: str) -> list[Passage]:
        """The notes that govern a chapter: its section's notes, then its own (Notes, Subheading, Additional U.S.)."""
        sections = set(self._sections_of.get(chapter, ()))
        if (own := self.section_of(chapter)) is not None:
            sections.add(own)
        out = [p for s in sorted(sections) for p in self._section_notes.get(s, [])]
        return out + self._chapter_notes.get(chapter, [])

    def counts(self) -> dict[str, dict[str, int]]:
        """Passages per source kind and edition."""
        out: dict[str, dict[str, int]] = {}
        for kind, ps in self.by_kind.items():
            if ps:
                out[kind.value] = dict(sorted(Counter(p.edition for p in ps).items()))
        return out


def _catalog_path(cache_dir: Path, namespace: str, snapshot: str) -> Path:
    return Path(cache_dir) / f"catalog-v{CATALOG_VERSION}-{namespace}-{snapshot}.pkl"


def _pointer_path(cache_dir: Path, namespace: str) -> Path:
    return Path(cache_dir) / f"last-{namespace}.json"


def _read_cached(path: Path, snapshot: str) -> Catalog | None:
    try:
        with path.open("rb") as fh, no_gc():
            catalog = pickle.load(fh)
        if isinstance(catalog, Catalog) and catalog.snapshot == snapshot:
            return catalog
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a stale or damaged cache is rebuilt, never fatal
        log.warning("rebuilding catalog cache %s: %s", path, exc)
    return None


def load_catalog(store: VectorStore, *, cache_dir: Path | None = None, namespace: str = "") -> Catalog:
    """The catalog of the store's current snapshot, from the on-disk cache when that snapshot was built before.

    With a cache_dir it also records the snapshot it read from the store as the store's last known one
    (`last_catalog`)."""
    ids = store.ids()
    snapshot = snapshot_of(ids)
    catalog = _read_cached(_catalog_path(cache_dir, namespace, snapshot), snapshot) if cache_dir else None
    if catalog is None:
        with no_gc():
            catalog = Catalog(list(store.iter_passages()), snapshot=None)
        if cache_dir is not None:  # one cached snapshot per store is enough
            # (the store may have changed while we read it: the ids read with the passages win)
            replace_cached(_catalog_path(cache_dir, namespace, catalog.snapshot),
                           pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL),
                           stale=f"catalog-v*-{namespace}-*.pkl")
    if cache_dir is not None:
        write_atomic(_pointer_path(cache_dir, namespace),
                     json.dumps({"snapshot": catalog.snapshot, "passages": len(catalog)}).encode())
    return catalog


def last_catalog(cache_dir: Path, *, namespace: str = "") -> Catalog | None:
    """The catalog of the store's last known snapshot, read from the cache without opening the store; None when no
    snapshot is recorded (never read, or forgotten by a write since) or its cache file is gone.

    A warm start answers from it at once; the runtime then opens the store in the background and checks the snapshot
    against it, as it does periodically anyway (a write by another process is seen within seconds)."""
    try:
        pointer = json.loads(_pointer_path(cache_dir, namespace).read_text(encoding="utf-8"))
        snapshot = str(pointer["snapshot"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _read_cached(_catalog_path(cache_dir, namespace, snapshot), snapshot)


def forget_last_catalog(cache_dir: Path, *, namespace: str = "") -> None:
    """Before a write to the store: the recorded snapshot is no longer the store's (the next read records it)."""
    _pointer_path(cache_dir, namespace).unlink(missing_ok=True)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC: building ~10^5 small objects otherwise triggers it over and over (3.4 s -> 0.45 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
