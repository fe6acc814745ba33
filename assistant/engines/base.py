"""The Engine protocol: what every engine offers (engines/registry.py finds them, review/ and the surfaces call them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..models import Classification


class Engine(Protocol):
    """A classification engine: description (+ follow-up context) in, validated suggestions out."""

    name: str

    def classify(self, description: str, *, context: list[str] | None = None, top: int = 5) -> Classification: ...

    def stream(self, description: str, *, context: list[str] | None = None, top: int = 5) -> Iterator[dict]:
        """{"type": "token", "text"} events (engines that write prose), then {"type": "result", "classification"}.

        Bad input raises before the first event, as in `classify`."""
        ...
