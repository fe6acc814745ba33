"""The REST API for broker software and the web UI (FastAPI, OpenAPI at /docs)."""

from .app import create_app

__all__ = ["create_app"]
