"""Evaluation datasets: JSONL, one {"id", "description", "gold_codes"} object a line (other fields ignored).

Listings may also carry `title` (used as the description when there is none, else put before it), `attributes`
(an object of name -> value) and `category` (a path string "Apparel > T-shirts" or a list)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

_GOLD_LENGTHS = (6, 8, 10)


@dataclass(frozen=True)
class EvalItem:
    """One labelled product: the description and every code the ruling assigned, primary first."""

    id: str
    description: str
    gold_codes: tuple[str, ...]  # digits, 6, 8 or 10 of them; scored at their own length
    attributes: dict[str, Any] | None = None  # listing attributes, name -> value
    category: tuple[str, ...] | None = None  # listing category path, outermost first

    def listing(self) -> dict[str, Any]:
        """The keyword arguments `classify` takes for a listing ({} for a plain description)."""
        out: dict[str, Any] = {}
        if self.attributes:
            out["attributes"] = self.attributes
        if self.category:
            out["category"] = list(self.category)
        return out

    @property
    def gold(self) -> str:
        """The primary gold code."""
        return self.gold_codes[0]

    @property
    def chapter(self) -> str:
        return self.gold[:2]


def _gold_code(raw: object, where: str) -> str:
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise InputError(f"{where}: gold code {raw!r} is not a string")
    text = str(raw).strip()
    if not re.fullmatch(r"[0-9][0-9.\s]*", text):
        raise InputError(f"{where}: gold code {text[:30]!r} must be digits (dots allowed)")
    digits = re.sub(r"\D", "", text)
    if len(digits) not in _GOLD_LENGTHS:
        raise InputError(f"{where}: gold code {text[:30]!r} has {len(digits)} digits; expected 6, 8 or 10")
    return digits


def parse_item(line: str, where: str) -> EvalItem:
    """One JSONL line -> EvalItem, or InputError saying what is wrong with it and where."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    description, title = record.get("description"), record.get("title")
    if title is not None and not isinstance(title, str):
        raise InputError(f"{where}: 'title' must be a string")
    if description is not None and not isinstance(description, str):
        raise InputError(f"{where}: 'description' must be a string")
    title, description = (title or "").strip(), (description or "").strip()
    if title and title.lower() not in description.lower():
        description = f"{title}. {description}" if description else title
    if not description:
        raise InputError(f"{where}: missing or empty 'description' (or 'title')")
    attributes = record.get("attributes")
    if attributes is not None and (not isinstance(attributes, dict)
                                   or not all(isinstance(k, str) for k in attributes)):
        raise InputError(f"{where}: 'attributes' must be an object of name -> value")
    category = record.get("category")
    if category is not None and not (isinstance(category, str) or (
            isinstance(category, list) and all(isinstance(c, str) for c in category))):
        raise InputError(f"{where}: 'category' must be a path string or a list of strings")
    gold = record.get("gold_codes")
    if isinstance(gold, str):
        gold = [gold]
    if not isinstance(gold, list) or not gold:
        raise InputError(f"{where}: 'gold_codes' must be a non-empty list of codes")
    codes = tuple(dict.fromkeys(_gold_code(g, where) for g in gold))
    ident = record.get("id")
    if ident is None or not str(ident).strip():
        raise InputError(f"{where}: missing 'id'")
    from ..engines.query import split_category

    return EvalItem(id=str(ident), description=description, gold_codes=codes, attributes=attributes or None,
                    category=tuple(split_category(category)) or None)


def load_dataset(path: str | Path, *, limit: int | None = None) -> list[EvalItem]:
    """Read a JSONL dataset (blank lines skipped); the first `limit` items when given."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"dataset {p} not found" if not p.exists() else f"dataset {p} is not a file")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    items: list[EvalItem] = []
    seen: set[str] = set()
    try:
        with p.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                item = parse_item(line, f"{p.name} line {number}")
                if item.id in seen:
                    raise InputError(f"{p.name} line {number}: duplicate id {item.id!r}")
                seen.add(item.id)
                items.append(item)
                if limit is not None and len(items) >= limit:
                    break
    except UnicodeDecodeError:
        raise InputError(f"dataset {p} is not UTF-8 text (expected JSONL)") from None
    if not items:
        raise InputError(f"dataset {p} has no items")
    return items
