"""The `tariff` command: assembles the sub-commands and maps AssistantError to one-line messages."""

from __future__ import annotations

import sys

import typer

from ..config import offline_env
from ..errors import AssistantError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Tariff classification assistant.")


def _register() -> None:
    # Each module owns its commands; importing it attaches them to `app`.
    from . import audit, cases, classify, corpus, eval, keys, prior, refresh, serve, train, vague, webhooks  # noqa: F401


def _click_exceptions() -> tuple[type, ...]:
    """Usage-error types: typer >= 0.29 ships its own copy of click, older ones use click."""
    found: list[type] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = __import__(name, fromlist=["ClickException"])
            found.append(module.ClickException)
        except ImportError:
            pass
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: never shows a traceback for an expected error."""
    offline_env()
    _register()
    try:
        # Without standalone mode click returns a command's `typer.Exit(code)` instead of exiting.
        code = app(args=argv, prog_name="tariff", standalone_mode=False)
        if isinstance(code, int) and code:
            return code
    except AssistantError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        return 2 if exc.status in (401, 403, 404, 409, 413, 422) else 1
    except (typer.Exit, SystemExit) as exc:
        return int(getattr(exc, "exit_code", getattr(exc, "code", 0)) or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # click usage errors and anything unexpected: one line, non-zero
        if isinstance(exc, _click_exceptions()):
            typer.echo(f"error: {exc.format_message()}", err=True)
            return exc.exit_code
        typer.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
