"""`tariff cases redact`: apply the retention policy to closed cases (run it daily, e.g. from cron)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app

cases_app = typer.Typer(help="Cases: retention of stored descriptions.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")


@cases_app.command("redact")
def redact_cmd(
    days: Annotated[int | None, typer.Option("--days", min=0, help="redact cases closed more than DAYS days ago "
                                             "(default: TARIFF_REDACT_CLOSED_AFTER_DAYS)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be redacted, change nothing")] = False,
) -> None:
    """Replace the descriptions of confirmed, overridden and rejected cases closed more than N days ago."""
    from ..config import get_settings
    from ..errors import InputError
    from ..store.db import Database
    from ..store.redaction import redact_closed_cases

    settings = get_settings()
    after = days if days is not None else settings.redact_closed_after_days
    if after is None:
        raise InputError("no retention period: pass --days N or set TARIFF_REDACT_CLOSED_AFTER_DAYS")
    db = Database.open(settings)
    try:
        typer.echo(redact_closed_cases(db, after_days=after, dry_run=dry_run).message())
    finally:
        db.dispose()
