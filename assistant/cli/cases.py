"""`tariff cases replay`: re-derive a case on the current index; `tariff cases redact`: the retention policy."""

from __future__ import annotations

from typing import Annotated

import typer

from . import app

cases_app = typer.Typer(help="Cases: replay one, retention of stored descriptions, decisions as precedents.",
                        no_args_is_help=True)
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
        done = redact_closed_cases(db, after_days=after, dry_run=dry_run)
        typer.echo(done.message())
        if done.case_ids:  # a redacted case is no longer a precedent either
            from ..review.cases import Desk
            from ..review.precedents import learn_from_case

            desk = Desk(db=db, settings=settings)
            for case_id in done.case_ids:
                learn_from_case(desk, case_id)
    finally:
        db.dispose()


@cases_app.command("relearn")
def relearn_cmd() -> None:
    """Make the precedents of officer decisions agree with the cases (after a failed index write or a restore)."""
    from ..config import get_settings
    from ..review.cases import Desk
    from ..review.precedents import relearn_all
    from ..store.db import Database

    settings = get_settings()
    db = Database.open(settings)
    try:
        held = relearn_all(Desk(db=db, settings=settings))
        typer.echo(f"{held} decided case(s) are precedents")
    finally:
        db.dispose()


@cases_app.command("replay")
def replay_cmd(
    case_id: Annotated[str, typer.Argument(help="the case id (32 hex digits)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the replay report as JSON")] = False,
) -> None:
    """Re-run a case with its recorded engine and inputs on the current index; exit 1 when the answer differs."""
    from ..auth import Principal, Role
    from ..config import get_settings
    from ..review import Desk, replay_case
    from ..store.db import Database

    settings = get_settings()
    db = Database.open(settings)
    # Whoever runs the CLI holds the database itself; the audit trail names the replay as the local operator's.
    operator = Principal(key_id="cli", name="local operator (tariff CLI)", role=Role.OFFICER, org="local")
    try:
        report = replay_case(Desk(db=db, settings=settings), operator, case_id)
    finally:
        db.dispose()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(_describe(report))
    if not report.identical:
        raise typer.Exit(1)


def _describe(report) -> str:
    changed = [k.replace("_", " ") for k, v in report.changed.items() if v]
    lines = [f"case {report.case_id} round {report.round} ({report.engine}): "
             + ("identical" if report.identical else f"{len(report.differences)} difference(s)")]
    lines.append("changed since: " + (", ".join(changed) if changed else "nothing (same corpus snapshot, edition, "
                                      "engine version and model)"))
    for d in report.differences:
        where = f" {d.code}" if d.code else ""
        lines.append(f"  {d.what}{where}: {d.stored} -> {d.replayed}")
    return "\n".join(lines)
