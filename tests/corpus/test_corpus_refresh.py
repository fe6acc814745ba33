"""`tariff corpus refresh`: the corpus files rebuilt from the publishers' formats, byte for byte reproducibly, on the
owned samples (everywhere) and on the shared snapshot of the official downloads (shared_data)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pdf_support import make_pdf

from assistant.corpus.default import STEPS, step_file
from assistant.corpus.refresh import refresh
from assistant.errors import InputError, SourceFormatError
from assistant.sources import gri, hts, notes, rulings

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "corpus" / "samples"
TARIFF = Path(sys.executable).with_name("tariff")
CHAPTER_61 = [[
    "Harmonized Tariff Schedule of the United States (2025) Revision 24",
    "Annotated for Statistical Reporting Purposes",
    "CHAPTER 61",
    "ARTICLES OF APPAREL AND CLOTHING ACCESSORIES, KNITTED OR CROCHETED",
    "Notes",
    "1. This chapter applies only to made up knitted or crocheted articles.",
    "2. This chapter does not cover goods of heading 6212.",
]]


@pytest.fixture
def downloads(tmp_path: Path) -> list[Path]:
    """What a user downloads, as owned samples: an HTS export, a chapter PDF, the GRI JSON, a folder of letters."""
    pdf = tmp_path / "downloads" / "Chapter 61_2025HTSRev24.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(make_pdf(CHAPTER_61))
    return [SAMPLES / "hts" / "hts_2025_rev24_excerpt.csv", pdf, SAMPLES / "gri" / "gri_excerpt.json",
            SAMPLES / "rulings"]


def test_refresh_writes_the_files_the_default_corpus_reads(downloads, tmp_path: Path):
    out = tmp_path / "corpus"
    written = {w.path: w.records for w in refresh(downloads, corpus_dir=out)}
    assert written == {"usitc/hts_2025_rev24.csv.gz": 29, "usitc/hts_2025_rev24_notes.jsonl.gz": 2,
                       "usitc/general_rules_of_interpretation.json": 3, "cbp/ny_rulings_fulltext.jsonl.gz": 3}
    by_kind = {s.kind: step_file(s, out) for s in STEPS if s.kind in ("hts", "notes", "gri", "rulings")}
    assert hts.load_hts(by_kind["hts"]) == hts.load_hts(downloads[0])
    assert notes.load_notes(by_kind["notes"]) == notes.load_notes(downloads[1])
    assert [n.source for n in notes.load_notes(by_kind["notes"])] == ["Chapter 61_2025HTSRev24.pdf"] * 2
    assert gri.load_gri(by_kind["gri"]) == gri.load_gri(downloads[2])
    assert sorted(r.number for r in rulings.load_rulings(by_kind["rulings"])) == ["H900003", "N900001", "N900002"]


def test_refresh_is_deterministic(downloads, tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    refresh(downloads, corpus_dir=first)
    refresh(list(reversed(downloads)), corpus_dir=second)  # the order of the inputs does not matter either
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        data = (first / rel).read_bytes()
        assert data == (second / rel).read_bytes(), rel
        if rel.suffix == ".gz":
            assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0: the bytes depend on the content only
            assert gzip.decompress(data)


def test_a_new_revision_replaces_the_previous_files(downloads, tmp_path: Path):
    out = tmp_path / "corpus"
    refresh(downloads, corpus_dir=out)
    refresh([downloads[0], downloads[1]], corpus_dir=out, edition="HTS 2026 Rev. 1")
    assert sorted(p.name for p in (out / "usitc").iterdir()) == [
        "general_rules_of_interpretation.json", "hts_2026_rev1.csv.gz", "hts_2026_rev1_notes.jsonl.gz"]
    assert {ln.edition for ln in hts.load_hts(out / "usitc" / "hts_2026_rev1.csv.gz")} == {"HTS 2026 Rev. 1"}


def test_inputs_that_are_no_source_are_refused_before_anything_is_written(downloads, tmp_path: Path):
    stray = tmp_path / "invoice.csv"
    stray.write_text("Item,Price\nWidget,3\n")
    out = tmp_path / "corpus"
    with pytest.raises(SourceFormatError, match="invoice.csv: not a source the corpus is built from"):
        refresh([*downloads, stray], corpus_dir=out)
    assert not out.exists()
    with pytest.raises(InputError, match="needs --from"):
        refresh([], corpus_dir=out)
    with pytest.raises(InputError, match="two HTS exports"):
        refresh([downloads[0], SAMPLES / "hts" / "hts_2025_rev24_excerpt.json"], corpus_dir=out)


def test_cli_refresh(downloads, tmp_path: Path):
    out = tmp_path / "corpus"
    args = [str(TARIFF), "corpus", "refresh", "--to", str(out)]
    for d in downloads:
        args += ["--from", str(d)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False,
                          env={**os.environ, "TARIFF_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr
    assert "usitc/hts_2025_rev24.csv.gz: 29 HTS tariff lines" in proc.stdout
    assert (out / "usitc" / "hts_2025_rev24_notes.jsonl.gz").exists()


@pytest.mark.shared_data
@pytest.mark.slow
def test_refresh_from_the_official_downloads_reproduces_the_shipped_files(shared_data: Path, tmp_path: Path):
    out = tmp_path / "corpus"
    sources = [shared_data / "usitc_hts_2025" / "htsdata_raw.csv", shared_data / "usitc_hts_2025" / "chapters_pdf",
               shared_data / "htsus_legal_notes" / "general_rules_of_interpretation.json",
               shared_data / "cbp_rulings_sample" / "ny_rulings_fulltext.jsonl",
               shared_data / "atlas_cross_eval" / "cross_code_frequency_stat_suffix_index.json"]
    written = refresh(sources, corpus_dir=out, edition="HTS 2025 Rev. 24")
    assert len(written) == 5
    for w in written:
        assert (out / w.path).read_bytes() == (REPO / "corpus" / w.path).read_bytes(), w.path
