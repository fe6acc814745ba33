"""`tariff train ranker`: rebuild the offline engine's learned ranker from named labelled datasets."""

from __future__ import annotations

import json
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
    trees: Annotated[int, typer.Option(help="LambdaRank: boosting rounds")] = 80,
    leaves: Annotated[int, typer.Option(help="LambdaRank: leaves per tree")] = 15,
    learning_rate: Annotated[float, typer.Option(help="LambdaRank: learning rate")] = 0.08,
    min_data_in_leaf: Annotated[int, typer.Option(help="LambdaRank: minimum rows per leaf")] = 40,
    label_gain: Annotated[str, typer.Option(help="LambdaRank: NDCG gains of labels 0..4, comma-separated")]
        = "0,1,3,7,15",
    truncation: Annotated[int, typer.Option(help="LambdaRank: lambdarank_truncation_level")] = 30,
    negative_keep: Annotated[float, typer.Option(help="share of label-0 rows kept for training")] = 0.3,
    source_weights: Annotated[bool, typer.Option(help="weigh requests so that every source counts the same")]
        = False,
    threads: Annotated[int, typer.Option(help="LightGBM training threads (deterministic for a given count)")] = 1,
) -> None:
    """Grouped K-fold CV (each item's fold left out of precedent retrieval), then the final model + model card."""
    from ..engines.model_card import model_card
    from ..engines.training import load_items, train_ranker
    from ..errors import InputError
    from ..runtime import get_runtime

    if folds < 2:
        raise InputError("--folds must be at least 2")
    items = load_items(datasets, max_per_dataset=max_per_dataset, seed=seed)
    runtime = get_runtime()
    work = work or runtime.settings.home / "ranker-cv"
    gains = [float(v) for v in label_gain.split(",")]
    if len(gains) != 5:
        raise InputError("--label-gain takes five comma-separated gains (labels 0..4)")
    params = {"n_estimators": trees, "num_leaves": leaves, "learning_rate": learning_rate,
              "min_child_samples": min_data_in_leaf, "label_gain": gains, "lambdarank_truncation_level": truncation,
              "num_threads": threads}
    run = train_ranker(runtime, items, out=out, work=work, folds=folds, seed=seed, loso=loso, params=params,
                       negative_keep=negative_keep, weigh_sources=source_weights,
                       log=lambda m: typer.echo(m, err=True))
    results = work / "search-results.jsonl"  # eval/search_ranker.py's grouped-CV search on the same folds
    search = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()] \
        if results.is_file() else None
    command = "tariff train ranker " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("ranker") + 1:]) \
        if "ranker" in sys.argv else "tariff train ranker ..."
    card = out.with_suffix(".md")
    card.write_text(model_card(run, command=command, out=out, search=search), encoding="utf-8")
    typer.echo(f"wrote {out} ({run.chosen}), {card}, fold models and out-of-fold scores in {work}")
