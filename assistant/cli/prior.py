"""`tariff ingest prior`: the code-frequency prior of past rulings (optional; improves line choice)."""

from __future__ import annotations

import typer

from .corpus import ingest_app


@ingest_app.command("prior")
def ingest_prior(src: str = typer.Argument(..., help="JSON {code: count}, the CROSS frequency index, or CSV")) -> None:
    """Store how often rulings assigned each code; the offline engine uses it as a weak prior."""
    from ..config import get_settings
    from ..sources.prior import load_prior_source, save_prior

    counts = load_prior_source(src)
    path = save_prior(get_settings().home, counts)
    typer.echo(f"prior: {len(counts)} codes, {sum(counts.values())} rulings counted -> {path}")
