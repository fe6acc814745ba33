"""`tariff ingest|search|code|status`: build the index from official sources, search it, look up a code."""

from __future__ import annotations

import json

import typer

from . import app

ingest_app = typer.Typer(no_args_is_help=True, help="Index an official source (re-running adds nothing new).")
app.add_typer(ingest_app, name="ingest")

KINDS = ("hts", "hs", "note", "gri", "ruling", "precedent")


def _runtime(*, auto_ingest: bool):
    from ..runtime import Runtime, get_runtime

    return get_runtime() if auto_ingest else Runtime.open(auto_ingest=False)


def _ingest(kind: str, target, *, quiet: bool) -> None:
    from ..runtime import Runtime

    report = Runtime.open(auto_ingest=False).ingest(kind, target, progress=not quiet)
    typer.echo(f"{kind}: {report.added} added, {report.unchanged} unchanged, {report.removed} removed "
               f"({report.total} passages)")


_QUIET = typer.Option(False, "--quiet", "-q", help="no progress bar")


@ingest_app.command("default")
def ingest_default(quiet: bool = _QUIET,
                   corpus: str = typer.Option(None, "--corpus", help="default | hs2022 (default: TARIFF_CORPUS)")) -> None:
    """The whole corpus shipped in corpus/: HS 2022, HTS lines, notes, GRIs, rulings, precedents, prior."""
    from ..runtime import Runtime

    runtime = Runtime.open(auto_ingest=False)
    manifest = runtime.ingest_corpus(corpus or runtime.settings.corpus, progress=not quiet)
    skipped = f"; skipped (no loader): {', '.join(manifest['skipped'])}" if manifest.get("skipped") else ""
    typer.echo(f"{manifest['corpus']} corpus indexed: {manifest.get('edition') or 'HS 2022'}, "
               f"{len(manifest['files'])} files{skipped}")


@ingest_app.command("hs2022")
def ingest_hs2022(quiet: bool = _QUIET) -> None:
    """HS 2022 nomenclature (chapters, headings, subheadings), shipped with the assistant."""
    _ingest("hs2022", None, quiet=quiet)


@ingest_app.command("hts")
def ingest_hts(source: str = typer.Argument(..., help="USITC HTS export (CSV or JSON): file or URL"),
               quiet: bool = _QUIET) -> None:
    """US HTS tariff lines; replaces the previously indexed schedule."""
    _ingest("hts", source, quiet=quiet)


@ingest_app.command("notes")
def ingest_notes(sources: list[str] = typer.Argument(..., help="USITC chapter PDFs: files, folders or URLs"),
                 quiet: bool = _QUIET) -> None:
    """Section and chapter notes from the USITC chapter PDFs."""
    _ingest("notes", sources, quiet=quiet)


@ingest_app.command("gri")
def ingest_gri(source: str = typer.Argument(..., help="GRI JSON file or URL"), quiet: bool = _QUIET) -> None:
    """General Rules of Interpretation and Additional U.S. Rules."""
    _ingest("gri", source, quiet=quiet)


@ingest_app.command("rulings")
def ingest_rulings(source: str = typer.Argument(..., help="CBP ruling letters (JSONL): file or URL"),
                   quiet: bool = _QUIET) -> None:
    """CBP ruling letters (full text), split into citable passages."""
    _ingest("rulings", source, quiet=quiet)


@ingest_app.command("precedents")
def ingest_precedents(
    source_file: str = typer.Argument(..., metavar="PATH",
                                      help="labelled examples: JSONL (ATLAS / CBP rulings), HMRC JSON term map, or CSV"),
    source: str = typer.Option(None, "--source", help="dataset name (default: from the file name)"),
    jurisdiction: str = typer.Option(None, "--jurisdiction", help="us | uk (UK codes count at 6 digits only)"),
    description_column: str = typer.Option(None, "--description-column", help="CSV: the goods description column"),
    code_column: str = typer.Option(None, "--code-column", help="CSV: the tariff code column"),
    quiet: bool = _QUIET,
) -> None:
    """Past classifications (description -> code) that vote for the codes of similar goods; re-running adds nothing."""
    from ..runtime import Runtime

    report = Runtime.open(auto_ingest=False).ingest_precedents(
        source_file, source=source, jurisdiction=jurisdiction, description_column=description_column,
        code_column=code_column, progress=not quiet)
    typer.echo(f"precedents: {report.added} added, {report.unchanged} unchanged, {report.removed} removed "
               f"({report.total} passages)")


@app.command("search")
def search_cmd(
    text: str = typer.Argument(..., help="what to look for"),
    kind: list[str] = typer.Option([], "--kind", help="hts | hs | note | gri | ruling | precedent (repeatable)"),
    top: int = typer.Option(10, "--top", "-k", min=1, max=100),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hybrid (semantic + keyword) search over the indexed sources, with citation labels."""
    from ..errors import InputError

    bad = [k for k in kind if k.lower() not in KINDS]
    if bad:
        raise InputError(f"unknown --kind {bad[0]!r}; expected one of {', '.join(KINDS)}")
    if not text.strip():
        raise InputError("empty search text")
    hits = _runtime(auto_ingest=True).retriever.search(text, kinds=[k.lower() for k in kind] or None, top=top)
    if as_json:
        typer.echo(json.dumps([
            {"label": h.passage.label, "kind": h.passage.kind.value, "id": h.passage.id, "score": round(h.score, 6),
             "dense_rank": h.dense_rank, "lexical_rank": h.lexical_rank, "codes": list(h.passage.codes),
             "edition": h.passage.edition, "source": h.passage.source, "text": h.passage.text}
            for h in hits
        ], indent=2, ensure_ascii=False))
        return
    if not hits:
        typer.echo("no match")
    for i, h in enumerate(hits, 1):
        typer.secho(f"{i:2}. {h.passage.label}", bold=True, nl=False)
        typer.echo(f"  [{h.passage.kind.value} · {h.passage.edition}]")
        typer.echo(f"    {_excerpt(h.passage.text)}")


@app.command("code")
def code_cmd(code: str = typer.Argument(..., help="tariff code, dots or spaces allowed: 6109.10.00.12"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """A tariff line with its ancestors, the notes of its section and chapter, and its duty rate."""
    from ..codes import format_code, normalize_code

    digits = normalize_code(code)
    rt = _runtime(auto_ingest=True)
    catalog = rt.catalog
    nomen = catalog.nomenclature
    line = nomen.line(digits)
    ancestors = nomen.ancestors(digits)
    notes = catalog.notes_for_chapter(line.chapter)
    info = {
        "code": line.code, "display": format_code(line.code), "level": line.level, "edition": nomen.edition,
        "description": line.description, "path": list(line.path),
        "ancestors": [{"code": a.code, "display": format_code(a.code), "description": a.description}
                      for a in ancestors],
        "children": [c.code for c in nomen.children(digits)],
        "general_rate": line.general_rate, "general_rate_from": line.general_rate_from,
        "special_rate": line.special_rate, "column2_rate": line.column2_rate, "units": list(line.units),
        "section": line.section or catalog.section_of(line.chapter),
        "notes": [{"label": n.label, "id": n.id, "text": n.text} for n in notes],
    }
    if as_json:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    typer.secho(f"{info['display']}  {line.description}", bold=True)
    typer.echo(f"{nomen.edition}" + (f" · Section {info['section']}" if info["section"] else ""))
    for depth, a in enumerate(ancestors):
        typer.echo(f"{'  ' * depth}{format_code(a.code):>14}  {a.description}")
    typer.echo(f"full text: {line.full_text()}")
    if line.general_rate is not None:
        src = f" (from {format_code(line.general_rate_from)})" if line.general_rate_from not in (None, line.code) else ""
        typer.echo(f"general duty: {line.general_rate or '-'}{src}")
        if line.special_rate:
            typer.echo(f"special: {line.special_rate}")
        if line.column2_rate:
            typer.echo(f"column 2: {line.column2_rate}")
    if info["children"]:
        typer.echo(f"subdivided into: {', '.join(format_code(c) for c in info['children'])}")
    typer.echo(f"notes ({len(notes)}):" if notes else "notes: none indexed for this chapter")
    for n in notes:
        typer.echo(f"  {n.label}: {_excerpt(n.text, 160)}")


@app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """What is indexed: passages per source and edition, the corpus snapshot, the model and the store."""
    st = _runtime(auto_ingest=False).status()
    if as_json:
        typer.echo(json.dumps(st, indent=2, ensure_ascii=False))
        return
    typer.echo(f"home: {st['home']}")
    typer.echo(f"store: {st['store']} (collections {st['collection']}-*)")
    typer.echo(f"embedding model: {st['embedding_model']} via {st['embedding_runtime']}")
    typer.echo(f"snapshot: {st['snapshot']} · {st['passages']} passages · working edition: {st['edition'] or '-'}")
    if corpus := st.get("corpus"):
        state = "" if corpus.get("complete") else " (build incomplete: the next start resumes it)"
        typer.echo(f"corpus: {corpus['corpus']} · {corpus.get('edition') or 'HS 2022'} · "
                   f"{len(corpus.get('files') or {})} files{state}")
    for kind, editions in st["counts"].items():
        for edition, n in editions.items():
            typer.echo(f"  {kind:7} {edition:22} {n:7}")
    d = st.get("details") or {}
    if d.get("hts_lines_by_level"):
        typer.echo("  HTS lines by digits: " + ", ".join(f"{k}: {v}" for k, v in d["hts_lines_by_level"].items()))
    if d.get("notes_by_kind"):
        typer.echo(f"  notes ({d['notes_chapters']} chapters): "
                   + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in d["notes_by_kind"].items()))
    if d.get("gri_rules") or d.get("additional_us_rules"):
        typer.echo(f"  rules: {d['gri_rules']} GRIs, {d['additional_us_rules']} Additional U.S. Rules")
    if d.get("rulings"):
        typer.echo(f"  rulings: {d['rulings']} letters ({d['rulings_with_codes']} with tariff codes)")
    if not st["passages"]:
        typer.echo("empty: run `tariff ingest default` (or any search) to index the default corpus")


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
