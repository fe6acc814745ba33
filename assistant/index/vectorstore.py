"""The vector store: the VectorStore protocol and its Chroma implementation (one collection per source kind)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from ..config import offline_env
from ..errors import BackendUnavailable
from ..models import Passage, SourceKind

PAGE = 5000  # rows per read; well under Chroma's max batch size

# `where` filters are plain dicts of field -> value or list of values (AND over fields), e.g.
# {"kind": ["hts"], "edition": "HTS 2025 Rev. 24", "chapter": ["61", "62"]}; each store translates them.
Where = dict[str, Any]


class VectorStore(Protocol):
    """Passages with their vectors; the single source of truth every worker reads the corpus from."""

    location: str

    def upsert(self, passages: list[Passage], embeddings: np.ndarray, *, source_key: str = "") -> None: ...
    def existing_ids(self, ids: Iterable[str]) -> set[str]: ...
    def ids(self, *, source_key: str | None = None) -> list[str]: ...
    def delete(self, ids: Iterable[str]) -> None: ...
    def query(self, embedding: np.ndarray, *, top: int, where: Where | None = None) -> list[tuple[str, float]]: ...
    def iter_passages(self) -> Iterator[Passage]: ...
    def vectors(self, kind: SourceKind) -> Iterator[tuple[str, np.ndarray]]: ...
    def count(self) -> int: ...
    def heartbeat(self) -> None: ...


def snapshot_of(ids: Iterable[str]) -> str:
    """Corpus snapshot id: a hash of the sorted passage ids (content hashes), so equal corpora get equal ids."""
    digest = hashlib.sha256()
    for ident in sorted(ids):
        digest.update(ident.encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


FILTERS = ("edition", "chapter", "source_key")  # the metadata `where` filters read; everything else is one JSON value


def to_metadata(p: Passage, source_key: str) -> dict[str, Any]:
    """Chroma metadata of a passage: the filter fields as such, the rest packed into one JSON string `p`.

    Chroma keeps each metadata field as an indexed row, so three fields plus one packed value instead of ten make
    writes (and the catalog's reads) cheaper; nothing ever filters on the packed fields."""
    md: dict[str, Any] = {"edition": p.edition, "source_key": source_key}
    if p.chapter is not None:  # Chroma metadata has no null: an absent key stands for None
        md["chapter"] = p.chapter
    packed = {"kind": p.kind.value, "label": p.label, "source": p.source, "codes": list(p.codes), "meta": p.meta}
    if p.level is not None:
        packed["level"] = int(p.level)
    if p.embed_text is not None:
        packed["embed_text"] = p.embed_text
    md["p"] = json.dumps(packed, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return md


def from_metadata(ident: str, text: str, md: dict[str, Any]) -> Passage:
    """The passage back from its metadata (the packed layout, or the one field per key of earlier indexes)."""
    if "p" in md:
        packed = json.loads(md["p"])
        return Passage(id=ident, kind=SourceKind(packed["kind"]), label=packed["label"], text=text,
                       edition=md["edition"], source=packed["source"], codes=tuple(packed.get("codes") or ()),
                       level=packed.get("level"), chapter=md.get("chapter"), embed_text=packed.get("embed_text"),
                       meta=packed.get("meta") or {})
    return Passage(
        id=ident,
        kind=SourceKind(md["kind"]),
        label=md["label"],
        text=text,
        edition=md["edition"],
        source=md["source"],
        codes=tuple(c for c in str(md.get("codes") or "").split(",") if c),
        level=md.get("level"),
        chapter=md.get("chapter"),
        embed_text=md.get("embed_text"),
        meta=json.loads(md.get("meta") or "{}"),
    )


COUNT_TTL = 5.0  # seconds


class ChromaStore:
    """Chroma, embedded (PersistentClient under TARIFF_HOME) or a server (TARIFF_CHROMA_URL).

    Passages live in one collection per source kind (`<namespace>-hts`, ...): a search restricted to a kind then
    needs no metadata pre-filter, which in Chroma costs more than the vector search itself (80 ms vs 3 ms measured
    on 40,000 passages). Vectors are always supplied by us; Chroma's own embedding function is never used.
    The engine does not search with `query` (HNSW is approximate and not the same in every process): the retriever
    reads the vectors once per snapshot (`vectors`) and searches them exactly (index/retrieve.py).
    """

    def __init__(self, *, namespace: str, path: Path | None = None, url: str | None = None):
        offline_env()  # Chroma's telemetry off
        self.namespace = namespace
        self.location = url or str(path)
        self._counts: dict[SourceKind, tuple[int, float]] = {}  # kind -> (count, when): saves a call per query
        with _guard(self.location):
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            if url:
                u = urlparse(url)
                self.client = chromadb.HttpClient(
                    host=u.hostname or "localhost", port=u.port or (443 if u.scheme == "https" else 8000),
                    ssl=u.scheme == "https", settings=chroma_settings,
                )
            else:
                assert path is not None
                Path(path).mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            self.collections = {
                kind: self.client.get_or_create_collection(
                    f"{namespace}-{kind.value}", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
                for kind in SourceKind
            }

    def upsert(self, passages: list[Passage], embeddings: np.ndarray, *, source_key: str = "") -> None:
        """Write passages with their vectors. Ids are content hashes, so an id already stored holds this very
        passage: Chroma's `add`, which skips known ids, does the job ~20% faster than its `upsert`."""
        self._counts.clear()
        by_kind: dict[SourceKind, list[int]] = {}
        for i, p in enumerate(passages):
            by_kind.setdefault(p.kind, []).append(i)
        with _guard(self.location):
            for kind, rows in by_kind.items():
                self.collections[kind].add(
                    ids=[passages[i].id for i in rows],
                    embeddings=np.asarray(embeddings, dtype=np.float32)[rows],
                    documents=[passages[i].text for i in rows],
                    metadatas=[to_metadata(passages[i], source_key) for i in rows],
                )

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > PAGE:  # listing every id is cheaper than many lookups by id
            return set(self.ids()).intersection(wanted)
        found: set[str] = set()
        with _guard(self.location):
            for col in self.collections.values():
                if wanted:
                    found.update(col.get(ids=wanted, include=[])["ids"])
        return found

    def ids(self, *, source_key: str | None = None) -> list[str]:
        where = {"source_key": source_key} if source_key is not None else None
        out: list[str] = []
        with _guard(self.location):
            for col in self.collections.values():
                out.extend(col.get(where=where, include=[])["ids"])
        return out

    def delete(self, ids: Iterable[str]) -> None:
        doomed = list(dict.fromkeys(ids))
        self._counts.clear()
        with _guard(self.location):
            for col in self.collections.values():
                present = set()
                for start in range(0, len(doomed), PAGE):
                    present.update(col.get(ids=doomed[start : start + PAGE], include=[])["ids"])
                present_list = sorted(present)
                for start in range(0, len(present_list), PAGE):
                    col.delete(ids=present_list[start : start + PAGE])

    def query(self, embedding: np.ndarray, *, top: int, where: Where | None = None) -> list[tuple[str, float]]:
        """(passage id, cosine similarity), best first, over the kinds named in `where` (all kinds by default)."""
        where = dict(where or {})
        kinds = _as_list(where.pop("kind", None)) or [k.value for k in SourceKind]
        chroma_where = _chroma_where(where)
        vec = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        hits: list[tuple[str, float]] = []
        with _guard(self.location):
            for kind in kinds:
                col = self.collections[SourceKind(kind)]
                n = min(top, self._count(SourceKind(kind), col))
                if n <= 0:
                    continue
                res = col.query(query_embeddings=vec, n_results=n, where=chroma_where, include=["distances"])
                hits.extend((i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0]))
        hits.sort(key=lambda h: (-h[1], h[0]))  # equal similarities: by passage id, never by arrival
        return hits[:top]

    def _count(self, kind: SourceKind, col: Any) -> int:
        """Items in one collection, remembered for a few seconds (another process may be writing)."""
        cached = self._counts.get(kind)
        now = time.monotonic()
        if cached is None or now - cached[1] > COUNT_TTL:
            cached = self._counts[kind] = (col.count(), now)
        return cached[0]

    def iter_passages(self) -> Iterator[Passage]:
        with _guard(self.location):
            for col in self.collections.values():
                offset = 0
                while True:
                    page = col.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
                    for ident, text, md in zip(page["ids"], page["documents"], page["metadatas"]):
                        yield from_metadata(ident, text or "", dict(md or {}))
                    if len(page["ids"]) < PAGE:
                        break
                    offset += PAGE

    def vectors(self, kind: SourceKind) -> Iterator[tuple[str, np.ndarray]]:
        """(passage id, stored vector) of every passage of one kind, in pages (the retriever's exact search)."""
        col = self.collections[SourceKind(kind)]
        with _guard(self.location):
            offset = 0
            while True:
                page = col.get(include=["embeddings"], limit=PAGE, offset=offset)
                yield from zip(page["ids"], page["embeddings"])
                if len(page["ids"]) < PAGE:
                    break
                offset += PAGE

    def count(self) -> int:
        with _guard(self.location):
            return sum(col.count() for col in self.collections.values())

    def heartbeat(self) -> None:
        """BackendUnavailable when the store cannot be reached (searches run on an in-memory copy of the vectors,
        yet a request that needs the index still fails fast when the index is gone, as documented)."""
        with _guard(self.location):
            self.client.heartbeat()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [getattr(v, "value", v) for v in value]
    return [getattr(value, "value", value)]


def _chroma_where(where: Where) -> dict[str, Any] | None:
    clauses = []
    for key, value in where.items():
        values = _as_list(value)
        if not values:
            continue
        clauses.append({key: values[0]} if len(values) == 1 else {key: {"$in": values}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@contextmanager
def _guard(location: str) -> Iterator[None]:
    """Turn a Chroma that cannot be reached into BackendUnavailable (a one-line CLI error, an HTTP 503)."""
    import httpx

    try:
        yield
    except (httpx.TransportError, ConnectionError, TimeoutError) as exc:
        raise BackendUnavailable(f"vector store at {location} is unavailable: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("chromadb") or _transport_failure(exc):
            text = str(exc)
            first = text.splitlines()[0] if text else type(exc).__name__
            raise BackendUnavailable(f"vector store at {location} failed: {first}") from exc
        raise


def _transport_failure(exc: BaseException) -> bool:
    """True when `exc` was raised while handling a lost connection (chromadb turns httpx.ConnectError into a
    ValueError inside its `except` block, so the connection error is the ValueError's context)."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (httpx.TransportError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
