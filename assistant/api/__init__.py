"""The REST API for broker software (FastAPI, OpenAPI at /docs); assistant.server adds the web UI."""

from .app import create_app

__all__ = ["create_app"]
