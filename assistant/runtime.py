"""The runtime: the backends of one process (settings, embedder, vector store), with the catalog and retriever
of the store's current snapshot; `get_runtime` is the process-wide one."""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from .backends import make_embedder, make_store, store_namespace
from .config import Settings, get_settings
from .errors import InputError
from .index.catalog import Catalog, forget_last_catalog, last_catalog, load_catalog
from .index.embed import Embedder
from .index.ingest import IngestReport, ingest_groups, ingest_passages
from .index.nomenclature import Nomenclature
from .index.retrieve import Retriever
from .index.status import describe
from .index.vectorstore import VectorStore, snapshot_of
from .sources import registry

RECHECK_COUNT_S = 2.0  # how often a long-lived runtime looks for writes by other processes (cheap count)
WARM_UP_TEXT = "knitted cotton shirts"
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
        self._embedder_lock = threading.Lock()  # its own: loading the model never holds up the catalog (/readyz)
        self._checked = (0.0, 0.0, -1)  # (last count check, last snapshot check, count seen)
        self._last: Catalog | None | bool = False  # the last known snapshot's catalog (False: not looked for)
        # The tariff lines as they stood before this process's own precedent writes: those writes change the catalog
        # but not its nomenclature, so the next precedent file is checked without reloading the whole catalog.
        self._lines_kept: Nomenclature | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, *, auto_ingest: bool = True) -> "Runtime":
        """Open the index; when `auto_ingest`, an empty one (or a first build that was interrupted) gets the corpus
        of TARIFF_CORPUS: the whole default US corpus shipped in corpus/, or HS 2022 alone."""
        settings = settings or get_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        # An embedded store opens when first needed: a warm start answers from the last known snapshot's caches
        # (Catalog.last_catalog) and opens Chroma behind it (open_store). A Chroma server is asked at once.
        runtime = cls(settings, make_store(settings) if settings.chroma_url else LazyStore(settings))
        if auto_ingest:
            from .corpus.default import read_manifest

            manifest = read_manifest(settings.home)
            last = runtime._last_catalog() if isinstance(runtime.store, LazyStore) else None
            empty = not len(last) if last is not None else runtime.store.count() == 0
            if empty or (manifest is not None and not manifest.get("complete")):
                from .corpus.default import title

                print(f"tariff: empty index, indexing {title(settings.corpus)} (first run only)...", file=sys.stderr)
                runtime.ingest_corpus(settings.corpus, progress=True)
        return runtime

    # ------------------------------------------------------------------ components

    @property
    def embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    @property
    def catalog(self) -> Catalog:
        """The catalog of the store's current snapshot (reloaded when another process changed the store)."""
        with self._lock:
            if self._catalog is None and (last := self._last_catalog()) is not None:
                # Warm start: the store's last known snapshot, checked against the store once it is open.
                self._catalog, self._last = last, None
                self._retriever = None
                # The store is first asked RECHECK_COUNT_S from now (count, then the whole snapshot at once).
                self._checked = (time.monotonic(), -math.inf, len(last))
            elif self._catalog is None or self._changed():
                self._catalog = load_catalog(self.store, cache_dir=self.settings.cache_dir / "catalog",
                                             namespace=store_namespace(self.settings))
                self._retriever = None
                self._checked = (time.monotonic(), time.monotonic(), len(self._catalog))
            return self._catalog

    @property
    def _unopened(self) -> bool:
        """Whether the store is an embedded one not opened yet (answers come from its last recorded snapshot)."""
        return isinstance(self.store, LazyStore) and not self.store.opened

    def _last_catalog(self) -> Catalog | None:
        """The last known snapshot's catalog, while an embedded store is not open yet (None otherwise)."""
        if not self._unopened:
            self._last = None
            return None
        if self._last is False:
            self._last = last_catalog(self.settings.cache_dir / "catalog", namespace=self.store.namespace)
        return self._last

    def open_store(self) -> None:
        """Open a lazily opened store and check the catalog against it now (`Runtime.warm_up` ends with it, so that
        no request of `tariff serve` waits for Chroma; without it the first check, RECHECK_COUNT_S after a warm
        start, opens it)."""
        if self._unopened:
            self.store.open()
            with self._lock:
                seen = self._checked[2]
                self._checked = (-math.inf, -math.inf, seen)  # the next look compares the count and the whole snapshot
        _ = self.catalog

    def probe_store(self) -> None:
        """Raise when the store cannot be reached; an embedded store not opened yet is not opened for it (answers
        come from the last known snapshot meanwhile)."""
        if self._unopened:
            return
        self.store.count()

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
        embedder = self.embedder  # loaded before the lock is taken, see _embedder_lock
        with self._lock:
            catalog = self.catalog
            if self._retriever is None or self._retriever.catalog is not catalog:
                self._retriever = Retriever(catalog, self.store, embedder,
                                            cache_dir=self.settings.cache_dir / "bm25")
            return self._retriever

    @property
    def nomenclature(self) -> Nomenclature:
        return self.catalog.nomenclature

    def warm_up(self, answer: Callable[[str], Any] | None = None) -> None:
        """Load what a first answer needs (catalog, embedding model, every kind's search indexes, and through
        `answer`, e.g. the offline engine's classify, its tables) now, so that the first request does not wait for
        it; answers are unchanged. (The caller passes the engine: the runtime sits below the engines.)"""
        if not len(self.catalog):  # the catalog first: it is what /readyz waits for
            return  # nothing indexed, nothing to load
        self.retriever.search(WARM_UP_TEXT, top=1)
        if answer is not None:
            answer(WARM_UP_TEXT)
        self.open_store()

    # ------------------------------------------------------------------ ingest and status

    def ingest(self, kind: str, target: str | Path | list[str | Path] | None = None, *,
               progress: bool = True, **options: Any) -> IngestReport:
        """Load, validate and index one source: hs2022 | hts PATH/URL | notes PATH/URL... | gri PATH | rulings PATH.

        Everything is read and checked before the first write, so bad input leaves the index as it was.
        """
        # source key -> passages
        groups = registry.load_cached(kind, target, cache_dir=self.settings.cache_dir, **options)
        with self._writing():
            report = ingest_groups(groups, store=self.store, embedder=_LazyEmbedder(self), progress=progress)
        with self._lock:
            self._catalog = None  # rebuilt on next use
            self._retriever = None
            self._lines_kept = None
        return report

    def ingest_precedents(self, path: str | Path, *, source: str | None = None, jurisdiction: str | None = None,
                          description_column: str | None = None, code_column: str | None = None,
                          progress: bool = True) -> IngestReport:
        """Index labelled examples (see sources/precedents.py); one file replaces what the same dataset gave before.

        Codes are checked against the loaded nomenclature, so load the tariff lines first."""
        from .sources import precedents

        records = precedents.load_precedents(path, source=source, jurisdiction=jurisdiction,
                                             description_column=description_column, code_column=code_column)
        with self._lock:
            kept = self._lines_kept if self._catalog is None else None
        nomenclature = kept if kept is not None else self.catalog.nomenclature
        if not len(nomenclature):
            raise InputError("no nomenclature is indexed: run `tariff ingest hs2022` (or `ingest hts`) first")
        passages = precedents.to_passages(records, nomenclature)
        if not passages:
            raise InputError(f"none of the codes in {path} is in {nomenclature.edition}")
        return self.index_passages(passages, source_key=f"precedents:{records[0].dataset}", progress=progress)

    def index_passages(self, passages: list, *, source_key: str, progress: bool = False) -> IngestReport:
        """Make the store hold exactly `passages` under `source_key` ([] removes the source); the next request sees it."""
        with self._writing():
            report = ingest_passages(passages, store=self.store, embedder=_LazyEmbedder(self), source_key=source_key,
                                     progress=progress)
        if report.added or report.removed:
            with self._lock:
                if not source_key.startswith("precedents:"):
                    self._lines_kept = None
                elif self._catalog is not None:
                    self._lines_kept = self._catalog.nomenclature
                self._catalog = None
                self._retriever = None
        return report

    def ingest_corpus(self, name: str = "default", *, progress: bool = True) -> dict[str, Any]:
        """Index a whole shipped corpus (see corpus/default.py); returns its manifest."""
        from .corpus.default import build

        return build(self, name=name, progress=progress)

    def status(self) -> dict[str, Any]:
        """What is indexed (see index/status.py)."""
        from .corpus.default import read_manifest

        return {**describe(self.catalog, settings=self.settings, store=self.store,
                           namespace=store_namespace(self.settings)),
                "corpus": read_manifest(self.settings.home)}

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Around writes to the store: its recorded last snapshot is forgotten before the first write and again after
        the last (a process that read the store in between, mid-ingest, may have recorded a partial one)."""
        forget = partial(forget_last_catalog, self.settings.cache_dir / "catalog",
                         namespace=store_namespace(self.settings))
        forget()
        try:
            yield
        finally:
            forget()


class LazyStore:
    """An embedded vector store opened on first use (opening Chroma takes ~1 s of a warm start otherwise)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.namespace = store_namespace(settings)
        self._store: VectorStore | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._store is not None

    def open(self) -> VectorStore:
        with self._lock:
            if self._store is None:
                self._store = make_store(self.settings)
            return self._store

    def heartbeat(self) -> None:
        """Embedded: nothing to reach before it is opened; afterwards, the store's own check."""
        if self._store is not None:
            self._store.heartbeat()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)


class _LazyEmbedder:
    """Stands for the runtime's embedder without loading the model until an attribute is used."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime.embedder, name)


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
