"""`tariff webhooks`: add (the secret is printed once), list and remove decision webhooks."""

from __future__ import annotations

import typer

from . import app
from .database import opened_database

webhooks_app = typer.Typer(help="Decision webhooks: add (secret shown once), list, remove.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("add")
def add_cmd(
    org: str = typer.Option(..., "--org", help="the organisation whose decisions are sent"),
    url: str = typer.Option(..., "--url", help="http(s) URL that receives a signed POST per decision"),
) -> None:
    """Register a callback URL and print its signing secret once."""
    from ..review import webhooks

    with opened_database() as db:
        new = webhooks.add(db, None, org=org, url=url)
    typer.echo(f"Added webhook {new.id} for {new.org!r}: {new.url}")
    typer.echo("Signing secret (X-Tariff-Signature: sha256=HMAC-SHA256 of the body); store it now:")
    typer.echo(new.secret)


@webhooks_app.command("list")
def list_cmd() -> None:
    """Registered webhooks."""
    from ..review import webhooks

    with opened_database() as db:
        hooks = webhooks.list_webhooks(db)
    for w in hooks:
        typer.echo(f"{w.id}  {w.org}  {w.url}  (added {w.created_at:%Y-%m-%d} by {w.created_by or '?'})")


@webhooks_app.command("remove")
def remove_cmd(webhook_id: str = typer.Argument(..., help="the webhook's id (see `tariff webhooks list`)")) -> None:
    """Remove a webhook: its pending deliveries stop."""
    from ..review import webhooks

    with opened_database() as db:
        gone = webhooks.remove(db, None, webhook_id)
    typer.echo(f"Removed webhook {gone.id} ({gone.url}).")
