"""`tariff train ranker` and `tariff train trust`: rebuild the offline engine's learned components from labelled data."""

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


@train_app.command("trust")
def train_trust_command(
    out: Annotated[Path, typer.Option(help="the trust model to write (its model card is written beside it)")],
    work: Annotated[Path | None, typer.Option(help="the ranker's training output with oof.jsonl.gz "
                                                   "(default TARIFF_HOME/ranker-cv)")] = None,
    coverage: Annotated[float, typer.Option(help="the set coverage the nested CV reports")] = 0.9,
) -> None:
    """Calibration per level and conformal sets, fitted on the ranker's out-of-fold scores; nested-CV figures."""
    from ..engines.offline import SOFTMAX_K
    from ..engines.trust_training import (
        MIN_GROUPS,
        POOLS,
        deviation,
        fit_trust,
        fold_models,
        load_records,
        model_card,
        nested_cv,
        source_ece,
    )
    from ..errors import InputError
    from ..runtime import get_runtime

    if not 0.5 <= coverage < 1.0:
        raise InputError("--coverage must be in [0.5, 1)")
    work = work or get_runtime().settings.home / "ranker-cv"
    recs = load_records(work / "oof.jsonl.gz")
    temperature = float(json.loads((work / "final.json").read_text(encoding="utf-8"))["temperature"])
    # Pool size (the ranker's best k lines) and Mondrian on/off, chosen by nested CV among the choices whose coverage
    # holds (sets are valid at any choice): the fewest open 6-digit sets (a set that is not open can be acted on),
    # then the smallest.
    figures = {(k, mg): nested_cv(recs, temperature=temperature, softmax_k=k, min_group=mg, coverage=coverage)
               for k in POOLS if k <= SOFTMAX_K for mg in MIN_GROUPS}
    valid = [c for c, f in figures.items() if f["all"]["set_coverage_hs6"] >= coverage - 0.01] or list(figures)
    pool, chosen = min(valid, key=lambda c: (round(figures[c]["all"]["set_open_hs6"], 3),
                                             figures[c]["all"]["set_size_hs6"], deviation(figures[c], coverage), c))
    n: dict[str, int] = {}
    for r in recs:
        n[r.dataset] = n.get(r.dataset, 0) + 1
    # Input-aware calibration or not, at the chosen pool and Mondrian setting: whichever has the lower mean 6-digit
    # ECE over the sources under the same nested CV (the sources differ in kind of input; pooled ECE hides that).
    # When the records carry the best line's evidence, the context with and without it compete the same way.
    kw = {"temperature": temperature, "softmax_k": pool, "min_group": chosen, "coverage": coverage}
    blind = nested_cv(recs, **kw, use_context=False) if all(r.words is not None for r in recs) else None
    has_evidence = blind is not None and all(r.evidence is not None for r in recs)
    words_only = nested_cv(recs, **kw, use_evidence=False) if has_evidence else None
    # The competing calibrations' nested-CV figures, by the name the model card gives them.
    runs = {} if blind is None else {"blind": blind, "context": words_only or figures[(pool, chosen)]}
    if has_evidence:
        runs["context + evidence"] = figures[(pool, chosen)]
    mode = min(runs, key=lambda k: source_ece(runs[k]), default="blind")
    aware, evidence = mode != "blind", mode == "context + evidence"
    meta = {"mondrian": "chapter" if chosen < 10**6 else "none", "pool": pool, "coverage_reported": coverage,
            "input_aware": aware, "evidence": evidence, "nested_cv": runs.get(mode) or figures[(pool, chosen)]}
    fit_trust(recs, temperature=temperature, softmax_k=pool, min_group=chosen, meta=meta,
              use_context=aware, use_evidence=evidence).save(out)
    fold_models(recs, work, temperature=temperature, softmax_k=pool, min_group=chosen, use_context=aware,
                use_evidence=evidence)
    command = "tariff train trust " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("trust") + 1:]) \
        if "trust" in sys.argv else "tariff train trust ..."
    card = out.with_suffix(".md")
    card.write_text(model_card(figures, chosen=(pool, chosen), n=n, command=command, coverage=coverage, out=out,
                               runs=runs, shipped=mode),
                    encoding="utf-8")
    for name, m in meta["nested_cv"].items():
        typer.echo(f"{name}: ECE hs6 {m.get('ece_hs6')}, hs6 set coverage {m.get('set_coverage_hs6')}, "
                   f"size {m.get('set_size_hs6')}, open {m.get('set_open_hs6')}", err=True)
    typer.echo(f"wrote {out}, {card} and fold models in {work}")
