"""`tariff serve`: open (and on a first start, build) the index, then serve the API and web UI with uvicorn."""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from . import app

if TYPE_CHECKING:
    import uvicorn

    from ..runtime import Runtime

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Against slow or idle clients: an idle connection is closed after KEEP_ALIVE_SECONDS, a request head not complete
# HEAD_SECONDS after the connection (or the previous response) closes it (cli/serve_protocol.py), a head larger than
# MAX_HEAD_BYTES is refused (h11 is chosen so that limit holds), past MAX_CONNECTIONS new requests get a 503.
KEEP_ALIVE_SECONDS = 5
HEAD_SECONDS = 10.0
MAX_HEAD_BYTES = 16 * 1024
MAX_CONNECTIONS = 256
log = logging.getLogger(__name__)


class _NoQueryStrings(logging.Filter):
    """Access-log lines without query strings (a search query may quote a confidential description)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _warm_up(runtime: Runtime, server: uvicorn.Server) -> None:
    """In the background: the catalog (what /readyz waits for) while the app is set up, then, once the server
    listens, `Runtime.warm_up` (it would otherwise compete with the start for the interpreter). A failure is logged;
    the first request meets it again and reports it."""
    try:
        len(runtime.catalog)
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        from ..engines import classify

        runtime.warm_up(lambda text: classify(text, engine="offline", top=1, runtime=runtime))
        # The catalog and the engine's tables live as long as the process: the cyclic collector need not rescan them
        # on every request (~10 % of a classification; eval/bench_classify.py does the same). A catalog replaced
        # later is still freed by reference counting (it holds no cycles: test_a_replaced_catalog_is_freed...).
        gc.freeze()
    except Exception:  # noqa: BLE001 - a background thread has no caller to raise to
        log.warning("warm-up failed; the first request will load what it needs", exc_info=True)


def welcome(url: str, first_key: str | None) -> str:
    """What a start prints: the URL, the first admin key when one was just created, how to add keys."""
    lines = []
    if first_key:
        lines += [
            "",
            f"Open {url} and sign in with this admin key: {first_key}",
            "It is shown only this once; it is stored as a hash. Keep it somewhere safe.",
        ]
    else:
        lines += ["", f"Serving on {url}"]
    lines += [
        f"API documentation: {url}docs",
        "Create keys for brokers and officers with:",
        "  tariff keys create --role broker --name NAME --org ORG",
        "  tariff keys create --role officer --name NAME",
        "",
    ]
    return "\n".join(lines)


def server_config(api: object, *, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings for `tariff serve`, with the limits above."""
    import uvicorn

    from .serve_protocol import HeadDeadlineProtocol

    protocol = type("ServeProtocol", (HeadDeadlineProtocol,), {"head_seconds": HEAD_SECONDS})
    return uvicorn.Config(api, host=host, port=port, log_level="info", http=protocol,
                          timeout_keep_alive=KEEP_ALIVE_SECONDS, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                          limit_concurrency=MAX_CONNECTIONS, timeout_graceful_shutdown=10)


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port")] = 8000,
) -> None:
    """Serve the REST API (/v1, docs at /docs) and the web UI. A first start indexes the corpus (TARIFF_CORPUS)."""
    import uvicorn

    from ..auth import ensure_first_admin
    from ..config import get_settings
    from ..runtime import Runtime
    from ..server import create_app
    from ..store.db import Database

    settings = get_settings()
    typer.echo(f"Data directory: {settings.home}")
    runtime = Runtime.open(settings, auto_ingest=True)  # shows progress while a first start builds the index
    first = ensure_first_admin(Database.open(settings))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    if host not in LOOPBACK:
        typer.secho(f"Listening on {host}: put a TLS-terminating proxy in front before exposing it.", fg="yellow")
    api = create_app(settings, runtime=runtime)
    config = server_config(api, host=host, port=port)
    logging.getLogger("uvicorn.access").addFilter(_NoQueryStrings())
    typer.echo(welcome(url, first.key if first else None))
    server = uvicorn.Server(config)
    # Ready (/readyz) needs only the catalog; the model and the search indexes load behind it, not in a first request.
    threading.Thread(target=_warm_up, args=(runtime, server), name="tariff-warm-up", daemon=True).start()
    server.run()
