"""Classification engines and the one entry point, `classify`."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..models import Classification
from . import registry
from .assessment import assess, with_routing
from .base import Engine
from .evidence import Evidence, ScoredLine
from .precedents import follow_decided_case
from .query import category_leaves, listing_facts, with_listing
from .vague import apply_vagueness

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
    attributes: Mapping[str, object] | None = None,
    category: str | Iterable[str] | None = None,
    engine: str | None = None,
    top: int = 5,
    coverage: float | None = None,
    runtime: Runtime | None = None,
) -> Classification:
    """Ranked, cited code suggestions for a product description (and a listing's attributes and category).

    Advisory: an officer must decide. When the description cannot decide a chapter the answer says it needs more
    information (`abstained`, a clarifying question, confidences capped). Each answer carries calibrated confidence
    per level, the conformal candidate sets at `coverage` (default 0.9), citation support and a routing tag."""
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
    return finish(result, engine_obj.runtime, ". ".join([text, *facts]), coverage=coverage)


def finish(result: Classification, runtime: Runtime, searched: str, *, coverage: float | None = None) -> Classification:
    """What every answer goes through after its engine: trust assessed (calibrated confidence per level, candidate
    sets, citation support), goods an officer decided before follow that case, vague input gets a question, and the
    answer is routed."""
    result = assess(result, runtime.catalog, coverage=coverage)
    result = follow_decided_case(result, runtime, searched)
    return with_routing(apply_vagueness(result, searched))


__all__ = ["Engine", "Evidence", "ScoredLine", "classify", "finish", "get_engine"]
