"""Prompt files: markdown templates with $named placeholders, split into chat roles by `<!-- role -->` markers."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from string import Template

_ROLE = re.compile(r"^<!--\s*(system|user|assistant)\s*-->\s*$", re.MULTILINE)


@cache
def load(name: str) -> str:
    """Text of assistant/prompts/<name>.md."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **values: object) -> list[tuple[str, str]]:
    """(role, text) pairs of a prompt file with its placeholders filled; a file without markers is one user turn."""
    text = Template(load(name)).substitute({k: str(v) for k, v in values.items()})
    parts = _ROLE.split(text)
    if len(parts) == 1:
        return [("user", text.strip())]
    return [(role, body.strip()) for role, body in zip(parts[1::2], parts[2::2], strict=True)]
