"""Hybrid retrieval: dense (exact cosine over the stored vectors) + lexical (BM25), one index per source kind, fused by
reciprocal rank.

Dense search is exact and in memory, not Chroma's HNSW: Chroma's approximate search gave different neighbours for
the same query vector in two processes on the same index (5 of 120 ATLAS dev queries, issue 15); exact search made
them agree (0 of 120). Ties are broken by passage id, and the vectors are read from the store once per snapshot and
kept on disk beside the BM25 indexes. The price: a scan of one kind's vectors (26,103 HTS lines x 384 floats, 40 MB)
took 45 ms against Chroma's 5.7 ms on 2 cores shared at load 17 (eval/bench_retrieve.py has both rows). HNSW
candidates re-scored exactly would be faster, but not guaranteed to be the same.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..files import replace_cached
from ..models import Passage, SourceKind
from .catalog import Catalog
from .embed import Embedder
from .vectorstore import VectorStore

RRF_K = 60  # the usual reciprocal-rank-fusion constant: rank 1 scores 1/61
POOL = 50  # each ranking contributes at least this many candidates to the fusion
QUERY_CACHE = 512
SCAN_BLOCK = 1024  # rows of a dense scan per einsum call (~1.5 MB: stays in cache)
PARALLEL_ROWS = 4096  # a dense index this large is scanned in two threads
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass
class Hit:
    """One retrieved passage: fused score, and its rank and score in each ranking it appeared in (1-based)."""

    passage: Passage
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None  # cosine similarity
    lexical_score: float | None = None  # BM25


# ---------------------------------------------------------------- tokenisation


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer  # PyStemmer (Snowball); optional

        return Stemmer.Stemmer("english").stemWord
    except ImportError:
        return _strip_suffix


def _strip_suffix(word: str) -> str:
    """A tiny English suffix stripper, used when PyStemmer is not installed."""
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer()(word)


def tokenize(text: str) -> list[str]:
    """Lowercase words without English stopwords, stemmed ("Men's knitted T-shirts" -> men, knit, t, shirt)."""
    stop = _stopwords()
    words = (w.split("'")[0] for w in _WORD.findall(text.lower()))
    return [_stem(w) for w in words if w and w not in stop]


# ---------------------------------------------------------------- lexical index


class LexicalIndex:
    """BM25 over the passages of one source kind (label + text), with edition and chapter masks."""

    def __init__(self, passages: list[Passage]):
        import bm25s

        # bm25s sets its logger to DEBUG when imported: once any library has configured the root logger, every index
        # build printed "DEBUG:bm25s:Building index from tokens" into the server's log.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.passages = passages
        self.editions = np.array([p.edition for p in passages], dtype=object)
        self.chapters = np.array([p.chapter or "" for p in passages], dtype=object)
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenize(f"{p.label} {p.text}") or [""] for p in passages], show_progress=False)
        self.vocab = self.bm25.vocab_dict

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "passages"}  # the catalog already holds them

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        ids = [self.vocab[t] for t in query_tokens if t in self.vocab]
        if not ids:
            return np.zeros(len(self.passages), np.float32)
        return np.asarray(self.bm25.get_scores(ids), dtype=np.float32)

    def mask(self, *, edition: str | None, chapters: list[str] | None) -> np.ndarray | None:
        keep = None
        if edition:
            keep = self.editions == edition
        if chapters:
            ch = np.isin(self.chapters, chapters)
            keep = ch if keep is None else keep & ch
        return keep


class DenseIndex:
    """The stored vectors of one kind's passages, row for row with the catalog, for exact cosine search."""

    def __init__(self, passages: list[Passage], vectors: np.ndarray):
        self.passages = passages
        self.matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        self.present = np.linalg.norm(self.matrix, axis=1) > 0  # a passage without a stored vector never matches
        self.editions = np.array([p.edition for p in passages], dtype=object)
        self.chapters = np.array([p.chapter or "" for p in passages], dtype=object)

    @classmethod
    def from_store(cls, passages: list[Passage], store: VectorStore, kind: SourceKind) -> "DenseIndex":
        row = {p.id: i for i, p in enumerate(passages)}
        vectors: np.ndarray | None = None
        for ident, vec in store.vectors(kind):
            i = row.get(ident)
            if i is None:
                continue  # written after this catalog was built
            if vectors is None:
                vectors = np.zeros((len(passages), len(vec)), np.float32)
            vectors[i] = vec
        return cls(passages, vectors if vectors is not None else np.zeros((len(passages), 1), np.float32))

    def scores(self, query: np.ndarray, *, edition: str | None, chapters: list[str] | None) -> np.ndarray:
        """Cosine similarity of every passage (vectors are normalised); -inf where filtered out."""
        return self.scores_many([query], edition=edition, chapters=chapters)[0]

    def scores_many(self, queries: list[np.ndarray], *, edition: str | None,
                    chapters: list[str] | None) -> list[np.ndarray]:
        """`scores` of several queries in one pass over the matrix (each the same bits as alone)."""
        fits = [self.matrix.shape[1] == len(q) for q in queries]  # another model's vector matches nothing
        scanned = iter(cosines_many(self.matrix, [np.asarray(q, dtype=np.float32) for q, ok in zip(queries, fits) if ok]))
        keep = self.present
        if edition:
            keep = keep & (self.editions == edition)
        if chapters:
            keep = keep & np.isin(self.chapters, chapters)
        return [np.where(keep, next(scanned), -np.inf) if ok else np.full(len(self.passages), -np.inf, np.float32)
                for ok in fits]


def cosines(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """matrix @ query with numpy's own loop (not BLAS), block by block of rows, the halves of a large matrix in
    two threads. Each row's dot product is computed alone, so the bits depend neither on the blocks nor on the
    threads nor on the machine's cores (test_dense_scores_are_the_same_bits_in_blocks_and_threads). A scan of the
    26,103 HTS lines took 5.0 ms in one einsum, 3.5 ms so (2 cores; it is bound by memory bandwidth)."""
    return cosines_many(matrix, [query])[0]


def cosines_many(matrix: np.ndarray, queries: list[np.ndarray]) -> list[np.ndarray]:
    """`cosines` of several queries in one pass: each block of rows is read from memory once and scored against
    every query while it is in cache (the same einsum per row and query, so the same bits as one query alone)."""
    outs = [np.empty(len(matrix), np.float32) for _ in queries]

    def run(start: int, stop: int) -> None:
        for b in range(start, stop, SCAN_BLOCK):
            e = min(b + SCAN_BLOCK, stop)
            block = matrix[b:e]
            for query, out in zip(queries, outs):
                np.einsum("ij,j->i", block, query, out=out[b:e])

    if len(matrix) < PARALLEL_ROWS:
        run(0, len(matrix))
    else:
        half = len(matrix) // 2
        other = _scan_pool(os.getpid()).submit(run, half, len(matrix))
        run(0, half)
        other.result()
    return outs


@lru_cache(maxsize=1)
def _scan_pool(pid: int) -> ThreadPoolExecutor:
    """The thread that scans the second half (numpy frees the GIL); one per process (a forked child makes its own)."""
    return ThreadPoolExecutor(1, thread_name_prefix="dense-scan")


def _best(scores: np.ndarray, n: int) -> np.ndarray:
    """Rows scoring at least the n-th best (more when several tie there): the caller cuts by score, then id."""
    n = min(n, int(np.isfinite(scores).sum()))
    if n <= 0:
        return np.zeros(0, np.int64)
    nth = np.partition(scores, len(scores) - n)[len(scores) - n]
    return np.flatnonzero(scores >= nth)


# ---------------------------------------------------------------- retriever


class Retriever:
    """Search the corpus of one catalog snapshot: dense, lexical, or both fused."""

    def __init__(self, catalog: Catalog, store: VectorStore, embedder: Embedder, *, cache_dir: Path | None = None):
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir else None  # BM25 indexes per snapshot and kind
        self._indexes: dict[SourceKind, LexicalIndex] = {}
        self._dense: dict[SourceKind, DenseIndex] = {}
        self._ids: dict[SourceKind, np.ndarray] = {}
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector (kept in a small LRU: the engine asks for the same query several times)."""
        with self._lock:
            if text in self._queries:
                self._queries.move_to_end(text)
                return self._queries[text]
        inner = getattr(self.embedder, "inner", self.embedder)  # queries bypass the on-disk passage cache
        vec = inner.embed([text])[0]
        with self._lock:
            self._queries[text] = vec
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vec

    def embed_queries(self, texts: Iterable[str]) -> None:
        """Embed many queries in one call and keep them in the LRU (a batch's descriptions are embedded together)."""
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t and t not in self._queries))
        if not todo:
            return
        inner = getattr(self.embedder, "inner", self.embedder)
        vectors = inner.embed(todo)
        with self._lock:
            for text, vec in zip(todo, vectors):
                self._queries[text] = vec
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)

    def lexical_index(self, kind: SourceKind) -> LexicalIndex:
        """The BM25 index of one kind: built on first use, and kept on disk per snapshot when there is a cache_dir."""
        with self._lock:
            index = self._indexes.get(kind)
            if index is None:
                index = self._indexes[kind] = self._load_or_build(kind)
            return index

    def dense_index(self, kind: SourceKind) -> DenseIndex:
        """The vectors of one kind: read from the store on first use, kept on disk per snapshot and namespace."""
        with self._lock:
            index = self._dense.get(kind)
            if index is None:
                index = self._dense[kind] = self._load_or_read(kind)
            return index

    def _load_or_read(self, kind: SourceKind) -> DenseIndex:
        passages = self.catalog.by_kind[kind]
        namespace = getattr(self.store, "namespace", "")
        path = (self.cache_dir / f"dense-{namespace}-{self.catalog.snapshot}-{kind.value}.npy"
                if self.cache_dir else None)
        if path is not None and path.exists():
            try:
                vectors = np.load(path, allow_pickle=False)
                if len(vectors) == len(passages):
                    return DenseIndex(passages, vectors)
            except (OSError, ValueError):  # a damaged cache file: read the store again
                pass
        index = DenseIndex.from_store(passages, self.store, kind)
        if path is not None:
            buf = io.BytesIO()
            np.save(buf, index.matrix, allow_pickle=False)
            replace_cached(path, buf.getvalue(), stale=f"dense-{namespace}-*-{kind.value}.npy")
        return index

    def _load_or_build(self, kind: SourceKind) -> LexicalIndex:
        passages = self.catalog.by_kind[kind]
        path = self.cache_dir / f"bm25-{self.catalog.snapshot}-{kind.value}.pkl" if self.cache_dir else None
        if path is not None and path.exists():
            try:
                index = pickle.loads(path.read_bytes())
                if len(index.editions) == len(passages):
                    index.passages = passages
                    return index
            except Exception:  # noqa: BLE001 - rebuilt below
                pass
        index = LexicalIndex(passages)
        if path is not None:
            replace_cached(path, pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL), stale=f"bm25-*-{kind.value}.pkl")
        return index

    def _kinds(self, kinds: Iterable[SourceKind | str] | None) -> list[SourceKind]:
        wanted = [SourceKind(k) for k in kinds] if kinds else list(SourceKind)
        return [k for k in dict.fromkeys(wanted) if self.catalog.by_kind[k]]

    def dense(self, query: str, *, kinds=None, edition: str | None = None, chapters: list[str] | None = None,
              top: int = 10) -> list[Hit]:
        """Nearest passages by cosine similarity of the embeddings."""
        kinds_ = self._kinds(kinds)
        if not kinds_ or not query.strip():
            return []
        return self.dense_vector(self.embed_query(query), kinds=kinds_, edition=edition, chapters=chapters, top=top)

    def dense_vector(self, vec: np.ndarray, *, kinds=None, edition: str | None = None,
                     chapters: list[str] | None = None, top: int = 10) -> list[Hit]:
        """Nearest passages to a query vector (an adapted query's, engines/adapter.py)."""
        return self.dense_vectors([vec], kinds=kinds, edition=edition, chapters=chapters, top=top)[0]

    def dense_vectors(self, vecs: list[np.ndarray], *, kinds=None, edition: str | None = None,
                      chapters: list[str] | None = None, top: int = 10) -> list[list[Hit]]:
        """`dense_vector` of several query vectors, each kind's matrix scanned once for all of them."""
        kinds_ = self._kinds(kinds)
        if not kinds_ or not vecs:
            return [[] for _ in vecs]
        self.store.heartbeat()
        parts: list[list[tuple[np.ndarray, np.ndarray, SourceKind]]] = [[] for _ in vecs]
        for kind in kinds_:
            index = self.dense_index(kind)
            for found, scores in zip(parts, index.scores_many(vecs, edition=edition, chapters=chapters)):
                found.append((_best(scores, top), scores, kind))
        return [[Hit(p, s, dense_rank=r, dense_score=s) for r, (s, p) in enumerate(self._ranked(found, top), start=1)]
                for found in parts]

    def lexical(self, query: str, *, kinds=None, edition: str | None = None, chapters: list[str] | None = None,
                top: int = 10) -> list[Hit]:
        """Best BM25 matches (scores of different kinds come from different indexes and are merged as they are)."""
        tokens = tokenize(query)
        if not tokens:
            return []
        parts: list[tuple[np.ndarray, np.ndarray, SourceKind]] = []
        for kind in self._kinds(kinds):
            index = self.lexical_index(kind)
            scores = index.scores(tokens)
            keep = index.mask(edition=edition, chapters=chapters)
            if keep is not None:
                scores = np.where(keep, scores, 0.0)
            # Which of equal scores make the cut is decided by passage id (_ranked), not by the partition's order.
            parts.append((_best(np.where(scores > 0, scores, -np.inf), top), scores, kind))
        return [Hit(p, s, lexical_rank=r, lexical_score=s) for r, (s, p) in enumerate(self._ranked(parts, top), start=1)]

    def _ranked(self, parts: list[tuple[np.ndarray, np.ndarray, SourceKind]], top: int) -> list[tuple[float, Passage]]:
        """The best `top` of the rows each kind put forward (rows, that kind's scores), by score then passage id."""
        if not parts:
            return []
        values = np.concatenate([scores[rows].astype(np.float64) for rows, scores, _ in parts])
        ids = np.concatenate([self._passage_ids(kind)[rows] for rows, _, kind in parts])
        passages = [p for rows, _, kind in parts for p in map(self.catalog.by_kind[kind].__getitem__, rows)]
        return [(float(values[j]), passages[j]) for j in np.lexsort((ids, -values))[:top]]

    def _passage_ids(self, kind: SourceKind) -> np.ndarray:
        """The ids of one kind's passages, row for row with its indexes (what ties between equal scores are cut by)."""
        with self._lock:
            ids = self._ids.get(kind)
            if ids is None:
                ids = self._ids[kind] = np.array([p.id for p in self.catalog.by_kind[kind]], dtype=str)
            return ids

    def search(self, query: str, *, kinds=None, edition: str | None = None, chapters: list[str] | None = None,
               top: int = 10) -> list[Hit]:
        """Dense and lexical rankings fused by reciprocal rank (a passage high in both wins)."""
        pool = max(POOL, 3 * top)
        fused: dict[str, Hit] = {}
        for h in self.dense(query, kinds=kinds, edition=edition, chapters=chapters, top=pool):
            fused[h.passage.id] = Hit(h.passage, 1.0 / (RRF_K + h.dense_rank), dense_rank=h.dense_rank,
                                      dense_score=h.dense_score)
        for h in self.lexical(query, kinds=kinds, edition=edition, chapters=chapters, top=pool):
            hit = fused.setdefault(h.passage.id, Hit(h.passage, 0.0))
            hit.score += 1.0 / (RRF_K + h.lexical_rank)
            hit.lexical_rank, hit.lexical_score = h.lexical_rank, h.lexical_score
        return sorted(fused.values(), key=lambda h: (-h.score, h.passage.id))[:top]
