"""The LLM engine's answer cache: one SQLite file in TARIFF_HOME, keyed by everything that decides an answer."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

from ..models import Classification

_SCHEMA = "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, body TEXT NOT NULL)"


def prompts_digest() -> str:
    """A hash of the prompt files: a changed prompt is a different model behaviour, so old answers are not reused."""
    digest = hashlib.sha256()
    for entry in sorted(resources.files("assistant.prompts").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            digest.update(entry.name.encode() + entry.read_bytes())
    return digest.hexdigest()[:16]


def answer_key(description: str, context: list[str], *, snapshot: str, model: str, strategy: str, top: int,
               **more: Any) -> str:
    """The cache key of a request: description, facts, corpus snapshot, model (and where it runs), strategy."""
    payload = json.dumps([description, context, snapshot, model, strategy, top, prompts_digest(), more],
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class AnswerCache:
    """Validated LLM answers by key. The description and facts are not stored (only their hash, in the key)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        db.execute(_SCHEMA)
        return db

    def get(self, key: str, *, description: str, context: list[str]) -> Classification | None:
        db = self._connect()
        try:
            row = db.execute("SELECT body FROM answers WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        if row is None:
            return None
        return Classification.model_validate({**json.loads(row[0]), "description": description, "context": context})

    def put(self, key: str, result: Classification) -> None:
        body = result.model_dump(mode="json", exclude={"description", "context", "elapsed_ms"})
        db = self._connect()
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO answers (key, body) VALUES (?, ?)", (key, json.dumps(body)))
        finally:
            db.close()
