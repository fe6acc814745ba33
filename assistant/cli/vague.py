"""`tariff train vague`: rebuild the vague-input detector (the model file and its card) from the shared data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .train import train_app

_PACKAGED = Path(__file__).resolve().parents[1] / "engines" / "data" / "vague.json"


@train_app.command("vague")
def train_vague_command(
    data: Annotated[Path, typer.Option(help="the shared data folder (vague_terms.csv and the coded datasets)")] = Path(
        "../shared/data"),
    out: Annotated[Path, typer.Option(help="the model file to write (its card is written beside it, .md)")] = _PACKAGED,
    folds: Annotated[int, typer.Option(help="grouped cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option(help="the seed of the folds and the model")] = 13,
) -> None:
    """Nested grouped CV (threshold chosen inside each training fold), then the final model on all data."""
    from ..engines.vague_training import train_vague
    from ..errors import InputError

    if folds < 3:
        raise InputError("--folds must be at least 3 (the threshold is chosen by an inner cross-validation)")
    payload = train_vague(data, out=out, folds=folds, seed=seed)
    typer.echo(f"wrote {out} and {out.with_suffix('.md')} (threshold {payload['threshold']})")
    for name, v in payload["cv"]["per_dataset"].items():
        what = "flagged" if "flagged" in v else "kept"
        typer.echo(f"  {name:<18} n={v['n']:>5}  out-of-fold {what}: {100 * v[what]:.1f} %")
