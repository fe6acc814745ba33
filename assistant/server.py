"""The served application: the API with the web UI mounted on it, the one place where the two surfaces meet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from . import api, web
from .config import Settings

if TYPE_CHECKING:
    from .runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """What `tariff serve` runs: the API (`assistant.api.create_app`) plus the pages, chat and /static."""
    app = api.create_app(settings, runtime)
    web.install(app)
    return app
