"""The installed engines: the entry-point group `tariff_assistant.engines`, name -> `create(runtime, engine)`.

An engine is a package, not an edit: it declares in its pyproject

    [project.entry-points."tariff_assistant.engines"]
    myengine = "my_package.engine:create"

where `create(runtime, engine)` returns an object with the Engine protocol (engines/base.py); `engine(name)`
gives another engine on the same runtime (the LLM engine takes the offline one as its fallback). The offline and
LLM engines register themselves the same way, in this project's pyproject.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import InputError

GROUP = "tariff_assistant.engines"
DEFAULT = "offline"


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    found = {ep.name.lower(): ep for ep in entry_points(group=GROUP)}
    # The default engine first, then the rest by name: a stable order for choices and schemas.
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != DEFAULT, kv[0])))


def names() -> tuple[str, ...]:
    """The names of the installed engines (the default first)."""
    return tuple(_entry_points())


def check(name: str | None) -> str:
    """The engine name, lower-cased; InputError naming the choices when no engine has that name."""
    key = (name or DEFAULT).lower()
    if not _entry_points():
        raise InputError(f"no engine is installed (entry points {GROUP}); reinstall the package: pip install -e .")
    if key not in _entry_points():
        raise InputError(f"unknown engine {key!r}; choose one of: {', '.join(names())}")
    return key


def factory(name: str) -> Callable[[Any, Callable[[str], Any]], Any]:
    """The `create(runtime, engine)` of the engine called `name`."""
    return _entry_points()[check(name)].load()
