"""`tariff keys`: create (printed once), list and revoke API keys."""

from __future__ import annotations

import typer

from . import app
from .database import opened_database

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_cmd(
    role: str = typer.Option(..., "--role", help="broker | officer | admin"),
    name: str = typer.Option(..., "--name", help="who holds the key (shown in the audit trail)"),
    org: str = typer.Option(None, "--org", help="organisation; required for brokers (they see its cases only)"),
) -> None:
    """Create a key and print it once: it is stored only as a hash."""
    from ..auth import create_key

    with opened_database() as db:
        new = create_key(db, name=name, role=role, org=org)
    typer.echo(f"Created {new.role.value} key {new.id} for {new.name!r} (org {new.org!r}).")
    typer.echo("Store it now; it cannot be shown again:")
    typer.echo(new.key)


@keys_app.command("list")
def list_cmd() -> None:
    """List keys (ids, roles, names, organisations; never the keys themselves)."""
    from ..auth import list_keys, shared_org_keys

    with opened_database() as db:
        keys = list_keys(db)
    if not keys:
        typer.echo("No keys yet: create one with `tariff keys create --role admin --name NAME`.")
        return
    typer.echo(f"{'id':<14} {'role':<8} {'prefix':<9} {'created':<17} {'status':<18} name (org)")
    for k in keys:
        status = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        typer.echo(f"{k.id:<14} {k.role.value:<8} {k.prefix:<9} {k.created_at:%Y-%m-%d %H:%M} {status:<18} "
                   f"{k.name} ({k.org})")
    shared = shared_org_keys(keys)
    if shared:
        typer.secho(f"warning: {len(shared)} active broker key(s) share the 'default' organisation and see each "
                    f"other's cases: {', '.join(k.id for k in shared)}. Revoke them and create keys with --org.",
                    fg="yellow", err=True)


@keys_app.command("revoke")
def revoke_cmd(key_id: str = typer.Argument(..., help="the key's id, from `tariff keys list`")) -> None:
    """Revoke a key; requests with it are refused from now on."""
    from ..auth import revoke_key

    with opened_database() as db:
        k = revoke_key(db, key_id)
    typer.echo(f"Revoked {k.role.value} key {k.id} ({k.name}).")
