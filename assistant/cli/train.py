"""`tariff train ranker`: rebuild the offline engine's learned ranker from named labelled datasets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import app

train_app = typer.Typer(no_args_is_help=True, help="Train the learned components from labelled datasets.")
app.add_typer(train_app, name="train")


@train_app.command("ranker")
def train_ranker_command(
    datasets: Annotated[list[str], typer.Argument(help="name=path, e.g. atlas_dev=.../atlas_dev.jsonl "
                                                       "cbp_recent=.../recent_rulings.jsonl hmrc_trader=...csv")],
    out: Annotated[Path, typer.Option(help="the model file to write (its model card is written beside it)")],
    work: Annotated[Path | None, typer.Option(help="fold models, folds and out-of-fold scores "
                                                   "(default TARIFF_HOME/ranker-cv)")] = None,
    folds: Annotated[int, typer.Option(help="grouped cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option(help="the seed of folds, sampling and models")] = 13,
    max_per_dataset: Annotated[int, typer.Option(help="fixed-seed sample of larger datasets")] = 1500,
    loso: Annotated[bool, typer.Option(help="also report leave-one-source-out figures")] = True,
) -> None:
    """Grouped K-fold CV (each item's fold left out of precedent retrieval), then the final model + model card."""
    from ..engines.training import load_items, model_card, train_ranker
    from ..errors import InputError
    from ..runtime import get_runtime

    if folds < 2:
        raise InputError("--folds must be at least 2")
    items = load_items(datasets, max_per_dataset=max_per_dataset, seed=seed)
    runtime = get_runtime()
    work = work or runtime.settings.home / "ranker-cv"
    run = train_ranker(runtime, items, out=out, work=work, folds=folds, seed=seed, loso=loso,
                       log=lambda m: typer.echo(m, err=True))
    command = "tariff train ranker " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("ranker") + 1:]) \
        if "ranker" in sys.argv else "tariff train ranker ..."
    card = out.with_suffix(".md")
    card.write_text(model_card(run, command=command, out=out), encoding="utf-8")
    typer.echo(f"wrote {out} ({run.chosen}), {card}, fold models and out-of-fold scores in {work}")
