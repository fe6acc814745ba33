"""The database a CLI command works on: opened from the settings, disposed of when the command ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..store.db import Database


@contextmanager
def opened_database() -> Iterator[Database]:
    """`Database.open()` for the length of a `with` block (imported late: `tariff --help` stays fast)."""
    from ..store.db import Database

    db = Database.open()
    try:
        yield db
    finally:
        db.dispose()
