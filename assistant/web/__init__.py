"""The web UI for brokers and officers: server-rendered pages plus one script, served by the API's FastAPI app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .session import SessionCodec, session_secret

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages, the chat endpoints (/web/...) and /static to an app made by `create_app`."""
    from . import chat, routes

    app.state.web_sessions = SessionCodec(session_secret(app.state.settings))
    app.include_router(routes.router)
    app.include_router(chat.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


install_web = install

__all__ = ["install", "install_web"]
