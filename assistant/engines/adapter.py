"""The query adapter: a linear map on the packaged MiniLM's query vectors, learned from labelled examples.

MiniLM places a trader's "100 ariel pods" far from the tariff line that classifies it ("Washing preparations, put up
for retail sale"). The adapter is a 384x384 matrix W, started at the identity and trained so that W applied to an
item's query vector lies nearest its right tariff line among the other items' lines (in-batch contrastive loss).
The engine searches the tariff lines with the adapted vector as one more signal beside the raw and expanded queries;
the passages' vectors are unchanged (nothing is re-embedded).

It ships inside the ranker's file (the ranker learned its features from this adapter's searches), as W - I in
float16, base64 (no pickle). `tariff train ranker` trains one per fold (the fold's items never seen) and a final one.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np

from ..errors import AssistantError

EPOCHS = 30
BATCH = 128
LEARNING_RATE = 1e-3
SCALE = 20.0  # inverse temperature of the contrastive softmax (cosine similarities * 20)


class QueryAdapter:
    """W: query vector -> adapted, normalised query vector."""

    def __init__(self, matrix: np.ndarray):
        m = np.asarray(matrix, dtype=np.float32)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise AssistantError(f"a query adapter is a square matrix, not {m.shape}")
        self.matrix = np.ascontiguousarray(m)

    @property
    def dim(self) -> int:
        return self.matrix.shape[0]

    def apply(self, vec: np.ndarray) -> np.ndarray:
        """The adapted vector, unit length (numpy's own loop: the bits never depend on the machine's BLAS)."""
        v = np.asarray(vec, dtype=np.float32)
        if v.shape != (self.dim,):
            raise AssistantError(f"the query vector has {v.shape} components; the adapter expects {self.dim}")
        out = np.einsum("j,jk->k", v, self.matrix)
        norm = float(np.sqrt(np.einsum("k,k->", out, out)))
        return out / norm if norm > 0 else out

    def to_dict(self) -> dict:
        delta = (self.matrix - np.eye(self.dim, dtype=np.float32)).astype("<f2")
        data = base64.b64encode(delta.tobytes()).decode("ascii")
        return {"dim": self.dim, "dtype": "float16", "encoding": "W - I, row-major, little-endian, base64",
                "sha256": hashlib.sha256(delta.tobytes()).hexdigest(), "data": data}

    @classmethod
    def from_dict(cls, body: dict) -> QueryAdapter:
        try:
            raw = base64.b64decode(body["data"])
            dim = int(body["dim"])
        except (KeyError, ValueError, TypeError) as exc:
            raise AssistantError(f"the ranker's query adapter cannot be read: {exc}") from None
        if hashlib.sha256(raw).hexdigest() != body.get("sha256") or len(raw) != dim * dim * 2:
            raise AssistantError("the ranker's query adapter is damaged (its checksum or size does not match)")
        delta = np.frombuffer(raw, dtype="<f2").reshape(dim, dim).astype(np.float32)
        return cls(delta + np.eye(dim, dtype=np.float32))


def fit_adapter(queries: np.ndarray, targets: np.ndarray, *, seed: int, epochs: int = EPOCHS) -> QueryAdapter:
    """Learn W from query vectors and their right lines' vectors (row for row; both unit length).

    In-batch contrastive loss: each query must score its own target above the batch's other targets. One torch
    thread and a fixed seed, so a rerun gives the same matrix."""
    import torch

    if len(queries) != len(targets) or not len(queries):
        raise AssistantError("the adapter needs as many targets as queries, and at least one")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(seed)
        q_all = torch.tensor(np.asarray(queries, dtype=np.float32))
        t_all = torch.nn.functional.normalize(torch.tensor(np.asarray(targets, dtype=np.float32)), dim=1)
        W = torch.nn.Parameter(torch.eye(q_all.shape[1]))
        opt = torch.optim.Adam([W], lr=LEARNING_RATE)
        for _ in range(epochs):
            perm = torch.randperm(len(q_all), generator=gen)
            for b in range(0, len(perm), BATCH):
                idx = perm[b:b + BATCH]
                if len(idx) < 2:
                    continue
                q = torch.nn.functional.normalize(q_all[idx] @ W, dim=1)
                logits = SCALE * (q @ t_all[idx].T)
                loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(idx)))
                opt.zero_grad()
                loss.backward()
                opt.step()
        return QueryAdapter(W.detach().numpy())
    finally:
        torch.set_num_threads(threads)


def line_targets(codes: list[str], vectors: np.ndarray, golds: list[tuple[str, ...]]) -> list[np.ndarray | None]:
    """Each item's target vector: its gold line's (a 10-digit code), else the mean of the lines of its gold
    subheading (a 6-digit or foreign code); None when the nomenclature has neither."""
    index = {c: i for i, c in enumerate(codes)}
    by_sub: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        by_sub.setdefault(c[:6], []).append(i)
    out: list[np.ndarray | None] = []
    for gold in golds:
        g = gold[0] if gold else ""
        if g in index:
            out.append(vectors[index[g]])
        elif g[:6] in by_sub:
            mean = vectors[by_sub[g[:6]]].mean(axis=0)
            norm = float(np.linalg.norm(mean))
            out.append(mean / norm if norm > 0 else None)
        else:
            out.append(None)
    return out
