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
    coverage: float = typer.Option(0.9, "--coverage", help="coverage of the conformal candidate set (0.5-0.99)"),
    as_json: bool = typer.Option(False, "--json", help="print the Classification as JSON"),
) -> None:
    """Suggest tariff codes for TEXT. Advisory only: an officer must confirm, override or reject."""
    from ..engines import classify
    from ..engines.suggestions import answered_offline, headline
    from ..errors import InputError
    from ..runtime import get_runtime

    attributes: dict[str, str] = {}
    for item in attr:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InputError(f"--attr {item!r}: expected NAME=VALUE, e.g. --attr material=cotton")
        attributes[name.strip()] = value.strip()
    result = classify(text, context=context or None, attributes=attributes or None, category=category or None,
                      engine=engine, top=top, coverage=coverage, runtime=get_runtime())
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
    typer.echo(f"routing: {result.routing}")
    if result.candidate_set is not None:
        typer.echo(set_line(result.candidate_set))
    by_subheading = answered_offline(result)
    for i, s in enumerate(result.suggestions, 1):
        value, label = headline(s, by_subheading=by_subheading)
        typer.echo("")
        typer.secho(f"{i}. {s.display}  {value:5.1%} {label} {'#' * round(value * 20)}", bold=True)
        typer.echo("   " + " > ".join(s.path))
        if s.confidence_by_level:
            typer.echo("   " + levels_line(s.code, s.confidence_by_level))
        if s.general_rate:
            typer.echo(f"   general duty: {s.general_rate}")
        if s.support is not None:
            typer.echo(f"   {s.support.summary}")
        typer.echo(f"   why: {s.rationale}")
        typer.echo("   sources: " + "; ".join(c.label for c in s.citations))
    if result.clarifying_question:
        typer.echo("")
        typer.secho(f"? {result.clarifying_question}  [{' | '.join(result.clarifying_options)}]", fg="cyan")
        typer.echo('  answer with: tariff classify "..." --context "<your answer>"')


def levels_line(code: str, by_level: dict[str, float]) -> str:
    """heading 61.09: 92 %, subheading 6109.10: 71 %, line 6109.10.00.12: 48 %"""
    from ..codes import LEVEL_NAMES, format_code

    return ", ".join(f"{LEVEL_NAMES.get(int(lv), lv)} {format_code(code[: int(lv)])}: {p:.0%}"
                     for lv, p in by_level.items())


def set_line(cs) -> str:
    """90 % set: 6109.10, 6109.90, 6105.10 (or: ... - open: the right code may be none of these)"""
    from ..codes import format_code

    text = f"{cs.coverage:.0%} set: " + ", ".join(format_code(c) for c in cs.codes)
    return text + (" - open: the right code may be none of these" if cs.open else "")
