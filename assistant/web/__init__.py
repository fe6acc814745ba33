"""The web UI for brokers and officers: server-rendered pages plus one script, mounted on the API app by assistant.server."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import chat, routes
from .session import SessionCodec, session_secret

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages, the chat endpoints (/web/...) and /static to an app made by `assistant.api.create_app`."""

    app.state.web_sessions = SessionCodec(session_secret(app.state.settings))
    app.include_router(routes.router)
    app.include_router(chat.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


__all__ = ["install"]
