"""`tariff audit`: verify the hash chain, export it as JSON Lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import app

if TYPE_CHECKING:
    from ..store.db import Database

audit_app = typer.Typer(help="The tamper-evident audit trail: verify, export.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _db() -> Database:
    from ..store.db import Database

    return Database.open()


@audit_app.command("verify")
def verify_cmd() -> None:
    """Check every link of the chain; exit 1 naming the first edited or missing event."""
    from ..store.audit import verify

    result = verify(_db())
    typer.echo(result.message())
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export_cmd(
    since: Annotated[str | None, typer.Option("--since", help="only events from this date on (YYYY-MM-DD, UTC)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of standard output")] = None,
) -> None:
    """Write the audit events as JSON Lines, in chain order."""
    from ..store.audit import export, parse_since

    bound = parse_since(since)
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    n = 0
    try:
        for event in export(_db(), since=bound):
            stream.write(json.dumps(event, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if out:
            stream.close()
    if out:
        typer.echo(f"wrote {n} events to {out}", err=True)
