"""Classification engines and the one entry point, `classify`."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..models import Classification
from . import registry
from .base import Engine
from .evidence import Evidence, ScoredLine

if TYPE_CHECKING:
    from ..runtime import Runtime

_lock = threading.RLock()  # re-entered when an engine asks for another (the LLM engine's offline fallback)
_cache: dict[tuple[int, str], Engine] = {}


def get_engine(name: str | None = None, *, runtime: Runtime | None = None) -> Engine:
    """The engine called `name` (default: settings.engine) bound to `runtime` (default: the process runtime)."""
    if runtime is None:
        from ..runtime import get_runtime

        runtime = get_runtime()
    name = registry.check(name or runtime.settings.engine)
    key = (id(runtime), name)
    with _lock:
        engine = _cache.get(key)
        if engine is None:
            engine = _cache[key] = registry.factory(name)(runtime, lambda other: get_engine(other, runtime=runtime))
    return engine


def classify(
    description: str,
    *,
    context: list[str] | None = None,
    engine: str | None = None,
    top: int = 5,
    runtime: Runtime | None = None,
) -> Classification:
    """Ranked, cited code suggestions for a product description. Advisory: an officer must decide."""
    return get_engine(engine, runtime=runtime).classify(description, context=context, top=top)


__all__ = ["Engine", "Evidence", "ScoredLine", "classify", "get_engine"]
