"""`tariff audit`: verify the keyed chain (and its checkpoints), write a signed checkpoint, export as JSON Lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import app
from .database import opened_database

audit_app = typer.Typer(help="The tamper-evident audit trail: verify, checkpoint, export.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify_cmd(
    checkpoint: Annotated[list[str] | None, typer.Option(
        "--checkpoint", help="a checkpoint file or http(s) URL written by `tariff audit checkpoint --to` (repeatable)",
    )] = None,
) -> None:
    """Check every link, every case and decision row, and the checkpoints given; exit 1 naming what disagrees."""
    from ..store import checkpoint as checkpoints
    from ..store import checkpoint_url
    from ..store.audit_verify import verify

    marks = [cp for source in checkpoint or [] for cp in (
        checkpoint_url.fetch(source) if checkpoint_url.is_url(source) else checkpoints.read(Path(source)))]
    with opened_database() as db:
        result = verify(db, checkpoints=marks)
    typer.echo(result.message())
    if result.ok and marks:
        typer.echo(f"{len(marks)} checkpoint(s) match, the newest at event {max(c.seq for c in marks)}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint_cmd(
    to: Annotated[str | None, typer.Option(
        "--to", help="append the signed head to this file, or POST it to this http(s) URL (an append-only receiver "
                     "outside the database's reach)")] = None,
) -> None:
    """Verify the chain, then write its signed head (seq, hash, time, HMAC) as one JSON line."""
    import json

    from ..store import checkpoint as checkpoints
    from ..store import checkpoint_url
    from ..store.audit_verify import verify

    with opened_database() as db:
        result = verify(db)
        key = db.audit_key
    if not result.ok:
        typer.echo(f"not checkpointed: {result.message()}", err=True)
        raise typer.Exit(1)
    cp = checkpoints.sign(key, result.events, result.head or "0" * 64)
    if to is None:
        typer.echo(json.dumps(cp.record()))
        return
    if checkpoint_url.is_url(to):
        checkpoint_url.post(to, cp)
        typer.echo(f"checkpoint at event {cp.seq} sent to {checkpoint_url.shown(to)}", err=True)
        return
    checkpoints.append_to(Path(to), cp)
    typer.echo(f"checkpoint at event {cp.seq} appended to {to}", err=True)


@audit_app.command("export")
def export_cmd(
    since: Annotated[str | None, typer.Option("--since", help="only events from this date on (YYYY-MM-DD, UTC)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="write to this file instead of standard output")] = None,
) -> None:
    """Write the audit events as JSON Lines, in chain order."""
    from ..store.audit import export, export_line, parse_since

    bound = parse_since(since)
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    n = 0
    try:
        with opened_database() as db:
            for event in export(db, since=bound):
                stream.write(export_line(event))
                n += 1
    finally:
        if out:
            stream.close()
    if out:
        typer.echo(f"wrote {n} events to {out}", err=True)
