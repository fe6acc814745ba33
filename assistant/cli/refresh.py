"""`tariff corpus refresh`: rebuild the shipped corpus files (corpus/) from the publishers' downloads."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app

corpus_app = typer.Typer(no_args_is_help=True, help="The corpus shipped in corpus/ (what a first start indexes).")
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("refresh")
def refresh_cmd(
    sources: list[str] = typer.Option(..., "--from", help="a download, folder or URL (repeatable): the USITC HTS "
                                      "export (CSV/JSON, https://hts.usitc.gov/ -> Export), chapter PDFs, the GRI "
                                      "JSON, CBP ruling letters, code counts"),
    to: Path = typer.Option(None, "--to", help="corpus folder to write (default: TARIFF_CORPUS_DIR or corpus/)"),
    edition: str = typer.Option(None, "--edition", help="'HTS 2026 Rev. 1' when the file name does not say it"),
) -> None:
    """Rebuild corpus/ files deterministically, then `tariff ingest default` indexes them."""
    from ..config import get_settings
    from ..corpus.refresh import refresh

    settings = get_settings()
    target = to or settings.default_corpus_dir
    for w in refresh(sources, corpus_dir=target, cache_dir=settings.cache_dir / "downloads", edition=edition):
        typer.echo(f"{w.path}: {w.records} {w.what}")
    typer.echo(f"written under {target}; record the provenance in its README, then run `tariff ingest default`")
