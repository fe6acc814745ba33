"""Idempotent, crash-safe ingest: embed the passages the store lacks, write them in batches, drop stale ones."""

from __future__ import annotations

import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..models import Passage
from .embed import Embedder, passage_vectors
from .vectorstore import VectorStore

BATCH = 512  # passages embedded together (their distinct texts go to the model in one call)
# Passages per write, a multiple of BATCH: a kill between two writes leaves a consistent prefix. Chroma saves a
# collection's whole HNSW graph after every write (index/vectorstore.py), so writes are few and large; under
# Chroma's maximum batch size (5,461).
WRITE_BATCH = 4 * BATCH


@dataclass(frozen=True)
class IngestReport:
    """What one ingest changed: passages added, already present, removed as stale, and the source's total."""

    added: int
    unchanged: int
    removed: int
    total: int


def ingest_passages(
    passages: list[Passage],
    *,
    store: VectorStore,
    embedder: Embedder,
    source_key: str,
    progress: bool = True,
) -> IngestReport:
    """Make the store hold exactly `passages` for `source_key`.

    Passage ids are content hashes, so a passage already stored is neither embedded nor written again; a re-run
    after a crash picks up where the last completed batch ended. Passages stored earlier under the same
    `source_key` but absent now are deleted, after the new ones are written (a crash never loses a source).

    A batch is written by a worker thread while the next one is embedded (the model and Chroma both release the
    GIL); one write at a time, in order, so the store still only ever holds a prefix of the batches.
    """
    unique = list({p.id: p for p in passages}.values())
    present = store.existing_ids([p.id for p in unique])
    todo = [p for p in unique if p.id not in present]
    from tqdm import tqdm

    label = source_key if len(source_key) <= 40 else f"{source_key.split(':')[0]}:…{source_key[-30:]}"
    with (tqdm(total=len(todo), desc=f"ingest {label}", unit="passage", file=sys.stderr,
               disable=not progress or not todo, mininterval=0.5) as bar,
          ThreadPoolExecutor(max_workers=1, thread_name_prefix="tariff-write") as writer):
        pending: Future | None = None
        for start in range(0, len(todo), WRITE_BATCH):
            batch = todo[start : start + WRITE_BATCH]
            # Embedded in the same groups of BATCH as when every write was one group: the same vectors.
            vectors = np.concatenate([passage_vectors(batch[at : at + BATCH], embedder)
                                      for at in range(0, len(batch), BATCH)])
            if pending is not None:
                pending.result()  # the previous write has landed (or its error is raised here)
                bar.update(WRITE_BATCH)
            pending = writer.submit(store.upsert, batch, vectors, source_key=source_key)
        if pending is not None:
            pending.result()
            bar.update(len(todo) - bar.n)
    keep = {p.id for p in unique}
    stale = [i for i in store.ids(source_key=source_key) if i not in keep]
    if stale:
        store.delete(stale)
    return IngestReport(added=len(todo), unchanged=len(unique) - len(todo), removed=len(stale), total=len(unique))


def ingest_groups(groups: dict[str, list[Passage]], *, store: VectorStore, embedder: Embedder,
                  progress: bool = True) -> IngestReport:
    """`ingest_passages` for every source key of one loaded source, summed into one report."""
    reports = [ingest_passages(passages, store=store, embedder=embedder, source_key=key, progress=progress)
               for key, passages in groups.items()]
    return IngestReport(
        added=sum(r.added for r in reports), unchanged=sum(r.unchanged for r in reports),
        removed=sum(r.removed for r in reports), total=sum(r.total for r in reports),
    )
