"""Fixtures for the store tests: the CLI pointed at the test app's database and home."""

from __future__ import annotations

import pytest

from assistant.config import get_settings


@pytest.fixture
def cli_env(api, monkeypatch):
    """Point the CLI at the test app's database and home (where its audit key lives)."""
    monkeypatch.setenv("TARIFF_DATABASE_URL", api.desk.settings.sqlalchemy_url)
    monkeypatch.setenv("TARIFF_HOME", str(api.desk.settings.home))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
