"""The full US corpus (HTS 2025 CSV, chapter-note PDFs, GRIs, CBP rulings) indexed, searched and looked up."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_every_source_is_indexed(us_runtime):
    counts = us_runtime.status()["counts"]
    assert set(counts) == {"hs", "hts", "note", "gri", "ruling"}
    assert counts["hs"] == {"HS 2022": 6939}
    assert sum(counts["hts"].values()) > 25_000
    assert sum(counts["note"].values()) > 500
    assert sum(counts["gri"].values()) == 14
    assert us_runtime.nomenclature.edition.startswith("HTS 2025")
    assert us_runtime.catalog.hs is not None and len(us_runtime.catalog.hs) == 6939


def test_tshirt_search_finds_heading_6109(us_runtime, tariff):
    proc = tariff(us_runtime.settings.home, "search", "men's knitted cotton t-shirt", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert len(hits) == 10
    assert any(h["kind"] == "hts" and h["codes"][0].startswith("6109") for h in hits), [h["label"] for h in hits]


def test_search_filters_by_kind_and_labels_citations(us_runtime):
    retriever = us_runtime.retriever
    notes = retriever.search("articles of apparel knitted or crocheted", kinds=["note"], top=5)
    assert notes and all(h.passage.label.startswith(("Chapter ", "Section ")) for h in notes)
    rulings = retriever.search("polyethylene film packaging", kinds=["ruling"], top=5)
    assert rulings and all(h.passage.label.startswith(("NY ", "HQ ")) for h in rulings)
    gris = retriever.search("composite goods of different materials: the component giving the essential character",
                            kinds=["gri"], top=3)
    assert gris[0].passage.label == "GRI 3(b)", [h.passage.label for h in gris]
    in_62 = retriever.search("cotton shirts", kinds=["hts"], chapters=["62"], top=10)
    assert in_62 and all(h.passage.chapter == "62" for h in in_62)


def test_code_lookup_shows_ancestors_notes_and_duty_rate(us_runtime, tariff):
    proc = tariff(us_runtime.settings.home, "code", "6109.10.00.12", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["code"] == "6109100012" and info["level"] == 10
    assert [a["code"] for a in info["ancestors"]] == ["61", "6109", "61091000"]
    assert info["general_rate"] and "%" in info["general_rate"]
    assert info["general_rate_from"] == "61091000"
    labels = [n["label"] for n in info["notes"]]
    assert any(lb.startswith("Section XI, Note") for lb in labels)
    assert any(lb.startswith("Chapter 61, Note") for lb in labels)
    assert labels.index(next(lb for lb in labels if lb.startswith("Section"))) < labels.index(
        next(lb for lb in labels if lb.startswith("Chapter")))
    text = tariff(us_runtime.settings.home, "code", "6109 10 00 12")
    assert text.returncode == 0
    assert "6109.10.00.12" in text.stdout and "general duty:" in text.stdout and "Chapter 61, Note" in text.stdout
