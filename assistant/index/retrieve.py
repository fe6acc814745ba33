"""Hybrid retrieval: dense (the vector store) + lexical (BM25, one index per source kind), fused by reciprocal rank."""

from __future__ import annotations

import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
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


# ---------------------------------------------------------------- retriever


class Retriever:
    """Search the corpus of one catalog snapshot: dense, lexical, or both fused."""

    def __init__(self, catalog: Catalog, store: VectorStore, embedder: Embedder, *, cache_dir: Path | None = None):
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.cache_dir = Path(cache_dir) if cache_dir else None  # BM25 indexes per snapshot and kind
        self._indexes: dict[SourceKind, LexicalIndex] = {}
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._editions = {k: {p.edition for p in ps} for k, ps in catalog.by_kind.items()}

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
        where: dict = {"kind": [k.value for k in kinds_]}
        if edition and any(self._editions[k] != {edition} for k in kinds_):  # a no-op filter costs Chroma time
            where["edition"] = edition
        if chapters:
            where["chapter"] = list(chapters)
        hits = []
        for ident, sim in self.store.query(self.embed_query(query), top=top, where=where):
            p = self.catalog.passage(ident)
            if p is not None:  # written after this catalog was built
                hits.append(Hit(p, sim, dense_rank=len(hits) + 1, dense_score=sim))
        return hits

    def lexical(self, query: str, *, kinds=None, edition: str | None = None, chapters: list[str] | None = None,
                top: int = 10) -> list[Hit]:
        """Best BM25 matches (scores of different kinds come from different indexes and are merged as they are)."""
        tokens = tokenize(query)
        if not tokens:
            return []
        scored: list[tuple[float, Passage]] = []
        for kind in self._kinds(kinds):
            index = self.lexical_index(kind)
            scores = index.scores(tokens)
            keep = index.mask(edition=edition, chapters=chapters)
            if keep is not None:
                scores = np.where(keep, scores, 0.0)
            n = min(top, int((scores > 0).sum()))
            if n <= 0:
                continue
            best = np.argpartition(-scores, n - 1)[:n]
            scored.extend((float(scores[i]), index.passages[i]) for i in best)
        scored.sort(key=lambda s: (-s[0], s[1].id))
        return [Hit(p, s, lexical_rank=r, lexical_score=s) for r, (s, p) in enumerate(scored[:top], start=1)]

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
