"""Classification engines and the one entry point, `classify`."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..errors import InputError
from ..models import Classification
from .base import Engine, Evidence, ScoredLine
from .precedents import follow_decided_case
from .query import category_leaves, listing_facts, with_listing
from .vague import apply_vagueness

if TYPE_CHECKING:
    from ..runtime import Runtime

ENGINES = ("offline", "llm")
_lock = threading.Lock()
_cache: dict[tuple[int, str], Engine] = {}


def get_engine(name: str | None = None, *, runtime: Runtime | None = None) -> Engine:
    """The engine called `name` (default: settings.engine) bound to `runtime` (default: the process runtime)."""
    if runtime is None:
        from ..runtime import get_runtime

        runtime = get_runtime()
    name = (name or runtime.settings.engine or "offline").lower()
    if name not in ENGINES:
        raise InputError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    key = (id(runtime), name)
    with _lock:
        engine = _cache.get(key)
        if engine is None:
            from .offline import OfflineEngine

            offline = _cache.get((id(runtime), "offline")) or OfflineEngine(runtime)
            _cache[(id(runtime), "offline")] = offline
            if name == "llm":
                from .llm import LLMEngine

                engine = LLMEngine(runtime, offline=offline)
            else:
                engine = offline
            _cache[key] = engine
    return engine


def classify(
    description: str,
    *,
    context: list[str] | None = None,
    attributes: Mapping[str, object] | None = None,
    category: str | Iterable[str] | None = None,
    engine: str | None = None,
    top: int = 5,
    runtime: Runtime | None = None,
) -> Classification:
    """Ranked, cited code suggestions for a product description (and a listing's attributes and category).

    Advisory: an officer must decide. When the description cannot decide a chapter the answer says it needs more
    information (`abstained`, a clarifying question, confidences capped)."""
    text, facts = with_listing(description, context, attributes=attributes, category=category)
    if not text.strip():
        text = description  # nothing but marketing words: let the engine see (and the vague detector judge) them
    engine_obj = get_engine(engine, runtime=runtime)
    result = engine_obj.classify(text, context=facts or None, top=top)
    kept, _ = listing_facts(attributes)
    result = result.model_copy(update={
        "description": result.description if text == description.strip() else description.strip(),
        "context": [c for c in context or [] if c and c.strip()] if (attributes or category) else result.context,
        "attributes": kept, "category": list(category_leaves(category)),
    })
    searched = ". ".join([text, *facts])
    result = follow_decided_case(result, engine_obj.runtime, searched)
    return apply_vagueness(result, searched)


__all__ = ["ENGINES", "Engine", "Evidence", "ScoredLine", "classify", "get_engine"]
