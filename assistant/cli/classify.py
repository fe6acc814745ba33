"""`tariff classify`: ranked code suggestions with citations for one product description."""

from __future__ import annotations

import json

import typer

from . import app


@app.command("classify")
def classify_cmd(
    text: str = typer.Argument(..., help="product description"),
    context: list[str] = typer.Option([], "--context", "-c", help="a follow-up fact (repeatable): 'it is knitted'"),
    attr: list[str] = typer.Option([], "--attr", "-a", help="a listing attribute NAME=VALUE (repeatable): material=cotton"),
    category: str = typer.Option(None, "--category", help='the listing\'s category path: "Apparel > T-shirts"'),
    engine: str = typer.Option(None, "--engine", "-e", help="offline | llm (default: TARIFF_ENGINE or offline)"),
    top: int = typer.Option(5, "--top", "-k", min=1, max=50, help="number of suggestions"),
    as_json: bool = typer.Option(False, "--json", help="print the Classification as JSON"),
) -> None:
    """Suggest tariff codes for TEXT. Advisory only: an officer must confirm, override or reject."""
    from ..engines import classify
    from ..errors import InputError
    from ..runtime import get_runtime

    attributes: dict[str, str] = {}
    for item in attr:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"--attr {item!r}: expected NAME=VALUE, e.g. --attr material=cotton")
        attributes[name.strip()] = value.strip()
    result = classify(text, context=context or None, attributes=attributes or None, category=category or None,
                      engine=engine, top=top, runtime=get_runtime())
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    typer.echo(f"{result.edition} · engine {result.engine}{' (' + result.model + ')' if result.model else ''}"
               f" · corpus {result.corpus_snapshot[:12]}")
    if result.degraded:
        typer.secho(f"DEGRADED: {result.degraded_reason}", fg="yellow", err=False)
    typer.secho("ADVISORY ONLY - not a final classification until an officer confirms it.", bold=True)
    if result.attributes or result.category:
        used = [f"{k}={v}" for k, v in result.attributes.items()] + ([" > ".join(reversed(result.category))]
                                                                     if result.category else [])
        typer.echo("listing facts used: " + "; ".join(used))
    if result.abstained:
        typer.secho(f"NEEDS MORE INFORMATION: {result.abstain_reason}", fg="yellow")
        typer.echo("The suggestions below are not confident; answer the question at the end first.")
    if not result.suggestions:
        typer.echo("No suggestion: nothing in the loaded nomenclature matched.")
    for i, s in enumerate(result.suggestions, 1):
        bar = "#" * round(s.confidence * 20)
        typer.echo("")
        typer.secho(f"{i}. {s.display}  {s.confidence:5.1%} {bar}", bold=True)
        typer.echo("   " + " > ".join(s.path))
        if s.general_rate:
            typer.echo(f"   general duty: {s.general_rate}")
        typer.echo(f"   why: {s.rationale}")
        typer.echo("   sources: " + "; ".join(c.label for c in s.citations))
    if result.clarifying_question:
        typer.echo("")
        typer.secho(f"? {result.clarifying_question}  [{' | '.join(result.clarifying_options)}]", fg="cyan")
        typer.echo('  answer with: tariff classify "..." --context "<your answer>"')
