"""Tariff code strings: a code is always digits; dots are presentation only."""

from __future__ import annotations

import re

from .errors import InputError

_ALLOWED = re.compile(r"^[0-9.\s\-]+$")
LEVELS = (2, 4, 6, 8, 10)
# What a code of each length is called where an officer reads a probability of it ("subheading 6109.10: 78 %").
LEVEL_NAMES = {2: "chapter", 4: "heading", 6: "subheading", 8: "line", 10: "line"}


def normalize_code(raw: str) -> str:
    """Digits of a code typed with dots, spaces or dashes ("6109.10.00 12" -> "6109100012")."""
    if raw is None or not str(raw).strip():
        raise InputError("empty tariff code")
    text = str(raw).strip()
    if not _ALLOWED.match(text):
        raise InputError(f"tariff code {text[:40]!r} must contain only digits, dots and spaces")
    digits = re.sub(r"[^0-9]", "", text)
    if len(digits) not in LEVELS:
        raise InputError(f"tariff code {text[:40]!r} has {len(digits)} digits; expected 2, 4, 6, 8 or 10")
    return digits


def format_code(digits: str) -> str:
    """Dotted display form as USITC prints it: 6109, 6109.10, 6109.10.00, 6109.10.00.12."""
    d = str(digits)
    if len(d) <= 4:
        return d
    parts = [d[:4]] + [d[i : i + 2] for i in range(4, len(d), 2)]
    return ".".join(parts)


def heading_of(digits: str) -> str:
    return str(digits)[:4]
