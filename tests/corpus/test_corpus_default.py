"""The default corpus shipped in corpus/: every file loads with the promised counts (parsed, not embedded), the steps
find their files, precedent steps wait for their loader, and a first start on a slice of it answers in 10 digits."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assistant.corpus.default import STEPS, read_manifest, runnable, step_file
from assistant.errors import InputError
from assistant.sources import registry
from assistant.sources.prior import load_prior_source

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus"
TARIFF = Path(sys.executable).with_name("tariff")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict[str, list]:
    """kind -> passages of every registered step (read and checked by the real loaders; nothing embedded)."""
    cache = tmp_path_factory.mktemp("cache")
    out: dict[str, list] = {}
    for step in STEPS:
        if step.kind in ("prior", "precedent") or not runnable(step):
            continue
        groups = registry.load(step.kind, step_file(step, CORPUS), cache_dir=cache, **step.options)
        out[step.kind] = [p for ps in groups.values() for p in ps]
    return out


def test_shipped_files_load_with_the_promised_counts(loaded):
    hts = Counter(p.level for p in loaded["hts"])
    assert hts[10] >= 19_000 and hts[8] >= 3_000 and hts[4] >= 900
    assert {p.edition for p in loaded["hts"]} == {"HTS 2025 Rev. 24"}
    notes = loaded["notes"]
    assert len(notes) >= 500 and len({p.label for p in notes}) == len(notes)
    assert {p.meta["kind"] for p in notes} == {"note", "subheading_note", "additional_us_note", "statistical_note"}
    assert any(p.label == "Chapter 61, Note 1" for p in notes)
    assert Counter(p.label.split()[0] for p in loaded["gri"]) == {"GRI": 10, "Additional": 4}
    letters = {p.meta["number"] for p in loaded["rulings"]}
    assert len(letters) >= 100
    assert len(loaded["hs2022"]) == 6939


def test_what_users_see_as_a_source_is_a_publisher_never_a_local_path(loaded):
    sources = Counter(p.source for ps in loaded.values() for p in ps)
    assert not [s for s in sources if s.startswith(("/", ".")) or str(REPO) in s or "\\" in s]
    assert {p.source for p in loaded["hts"]} == {p.source for p in loaded["gri"]} == {"https://hts.usitc.gov/"}
    assert all(p.source == f"https://rulings.cbp.gov/ruling/{p.meta['number']}" for p in loaded["rulings"])
    assert {p.source for p in loaded["notes"]} == {f"chapter_{c:02d}.pdf" for c in range(1, 98) if c != 77}


def test_prior_and_precedent_files_parse():
    counts = load_prior_source(CORPUS / "cbp" / "cross_code_prior.json.gz")
    assert len(counts) >= 9_000 and all(len(code) in (6, 8, 10) for code in counts)
    from assistant.sources.precedents import load_precedents

    recent = load_precedents(CORPUS / "cbp" / "recent_rulings_2026.jsonl.gz")
    assert len(recent) >= 1_000 and {r.dataset for r in recent} == {"cbp_recent"}
    assert all(r.description and all(len(c) == 10 for c in r.codes) for r in recent)
    terms = load_precedents(CORPUS / "hmrc" / "search_references.json.gz")
    assert len(terms) >= 4_000 and {r.jurisdiction for r in terms} == {"uk"}
    for name in ("trader_descriptions_dev.csv.gz", "brands.csv.gz"):
        assert len(load_precedents(CORPUS / "hmrc" / name)) > 100


def test_every_step_finds_one_file_and_every_file_is_a_step():
    files = {step_file(s, CORPUS) for s in STEPS} - {None}
    shipped = {p for p in CORPUS.rglob("*") if p.is_file() and "samples" not in p.parts
               and p.name not in ("README.md", "LICENSE.txt")}
    assert files == shipped
    assert sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()) <= 8_000_000  # the budget in git
    precedents = {s.options["source"] for s in STEPS if s.kind == "precedent"}
    assert precedents == {"cbp_recent", "hmrc_search_refs", "hmrc_trader", "hmrc_brands"}


def test_a_step_whose_file_is_missing_or_ambiguous_says_so(tmp_path: Path):
    hts = next(s for s in STEPS if s.kind == "hts")
    with pytest.raises(InputError, match="no file matching"):
        step_file(hts, tmp_path)
    (tmp_path / "usitc").mkdir()
    for name in ("hts_2025_rev24.csv.gz", "hts_2026_rev1.csv.gz"):
        (tmp_path / "usitc" / name).write_bytes(b"")
    with pytest.raises(InputError, match="2 files"):
        step_file(hts, tmp_path)


# ---------------------------------------------------------------- a first start on a slice of the corpus


def _slice(dst: Path) -> Path:
    """corpus/ cut to chapter 61 (HTS rows, section XI and chapter 61 notes), 8 letters; the other files whole."""
    shutil.copytree(CORPUS, dst, ignore=shutil.ignore_patterns("samples", "README.md"))
    rows = gzip.decompress((CORPUS / "usitc" / "hts_2025_rev24.csv.gz").read_bytes()).decode("utf-8-sig")
    lines = rows.splitlines(keepends=True)
    first = next(i for i, ln in enumerate(lines) if ln.startswith('"6101"'))
    last = next(i for i, ln in enumerate(lines) if ln.startswith('"6201"'))
    cut = "\ufeff" + lines[0] + "".join(lines[first:last])
    (dst / "usitc" / "hts_2025_rev24.csv.gz").write_bytes(gzip.compress(cut.encode("utf-8"), mtime=0))
    notes = gzip.open(CORPUS / "usitc" / "hts_2025_rev24_notes.jsonl.gz", "rt").read().splitlines()
    keep = [n for n in notes if "61" in json.loads(n)["chapters"]]
    (dst / "usitc" / "hts_2025_rev24_notes.jsonl.gz").write_bytes(gzip.compress("\n".join(keep).encode(), mtime=0))
    letters = gzip.open(CORPUS / "cbp" / "ny_rulings_fulltext.jsonl.gz", "rt").read().splitlines()[:8]
    (dst / "cbp" / "ny_rulings_fulltext.jsonl.gz").write_bytes(gzip.compress("\n".join(letters).encode(), mtime=0))
    # Precedents: those of chapter 61 (the slice's tariff lines) plus a few others, in each file's own format.
    recent = gzip.open(CORPUS / "cbp" / "recent_rulings_2026.jsonl.gz", "rt").read().splitlines()
    keep = [r for r in recent if json.loads(r)["gold_codes"][0].startswith("61")][:10]
    (dst / "cbp" / "recent_rulings_2026.jsonl.gz").write_bytes(gzip.compress("\n".join(keep).encode(), mtime=0))
    terms = json.loads(gzip.open(CORPUS / "hmrc" / "search_references.json.gz", "rt").read())
    terms = dict(sorted((k, v) for k, v in terms.items() if str(v).startswith("61"))[:10])
    (dst / "hmrc" / "search_references.json.gz").write_bytes(gzip.compress(json.dumps(terms).encode(), mtime=0))
    for name, code_first in (("trader_descriptions_dev.csv.gz", False), ("brands.csv.gz", True)):
        rows = gzip.open(CORPUS / "hmrc" / name, "rt", encoding="utf-8-sig").read().splitlines()
        ours = [r for r in rows[1:] if (r.split(",")[0] if code_first else r.rsplit(",", 1)[-1]).startswith("61")]
        (dst / "hmrc" / name).write_bytes(gzip.compress("\n".join([rows[0], *(ours or rows[1:4])][:12]).encode(),
                                                        mtime=0))
    return dst


@pytest.mark.slow
def test_first_start_builds_the_default_corpus_and_answers_in_ten_digits(tmp_path: Path, caplog, monkeypatch):
    from assistant.config import Settings
    from assistant.engines import classify
    from assistant.runtime import Runtime

    corpus_dir = _slice(tmp_path / "corpus")
    home = tmp_path / "home"
    settings = Settings(home=home, corpus="default", corpus_dir=corpus_dir, _env_file=None)
    with caplog.at_level(logging.WARNING, logger="assistant.corpus.default"):
        runtime = Runtime.open(settings, auto_ingest=True)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "brands" in skipped[0]  # HMRC's branded goods are food: none in chapter 61

    st = runtime.status()
    assert set(st["counts"]) == {"hs", "hts", "note", "gri", "ruling", "precedent"}
    assert st["details"]["hts_lines_by_level"]["10"] > 100 and st["edition"] == "HTS 2025 Rev. 24"
    assert st["details"]["gri_rules"] == 10 and st["details"]["rulings"] == 8
    manifest = st["corpus"]
    assert manifest["complete"] and manifest["corpus"] == "default"
    assert (manifest["edition"], manifest["year"], manifest["revision"]) == ("HTS 2025 Rev. 24", 2025, 24)
    assert manifest["skipped"] == ["precedent:hmrc/brands.csv.gz"] and len(manifest["files"]) == 9
    assert all(len(h) == 64 for h in manifest["files"].values())
    assert (home / "prior.json").exists()

    result = classify("men's knitted cotton t-shirt", runtime=runtime)
    codes = [s.code for s in result.suggestions]
    assert "6109100012" in codes, codes
    cited = next(s for s in result.suggestions if s.code == "6109100012").citations
    assert {"hts"} < {c.kind.value for c in cited} and {"note", "gri"} & {c.kind.value for c in cited}

    # `tariff status --json` reads the manifest; a restart builds nothing.
    proc = subprocess.run([str(TARIFF), "status", "--json"], capture_output=True, text=True, check=False,
                          env={**os.environ, "TARIFF_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["corpus"]["files"] == manifest["files"]
    assert read_manifest(home) == manifest
    before = runtime.store.count()
    assert Runtime.open(settings, auto_ingest=True).store.count() == before
