"""Precedent loaders: owned samples (every format, code checks against the HTS excerpt) and the real shared files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError, SourceFormatError
from assistant.index.nomenclature import Nomenclature
from assistant.models import SourceKind
from assistant.sources import hts
from assistant.sources.precedents import CodeCheck, detect, load_precedents, to_passages


@pytest.fixture(scope="module")
def excerpt(samples: Path) -> Nomenclature:
    lines = hts.load_hts(samples / "hts" / "hts_2025_rev24_excerpt.csv")
    return Nomenclature(lines, edition=lines[0].edition)


def test_rulings_jsonl_labels_links_and_code_checks(samples, excerpt):
    records = load_precedents(samples / "precedents" / "rulings_sample.jsonl", source="cbp_recent")
    assert [r.item_id for r in records] == ["N900101", "N900102", "N900103", "N900104"]  # no description: skipped
    assert records[1].codes == ("3004505005",)  # dots removed
    by_id = {p.meta["item_id"]: p for p in to_passages(records, excerpt)}
    assert set(by_id) == {"N900101", "N900102", "N900103"}  # N900104: its subheading is gone, nothing can vote
    current, retired = by_id["N900101"], by_id["N900103"]
    assert current.kind is SourceKind.PRECEDENT and current.codes == ("0101210010",) and current.level == 10
    assert current.label == "CBP NY N900101 (2026-03-02)"
    assert current.source == "https://rulings.cbp.gov/ruling/N900101"
    assert current.meta["dataset"] == "cbp_recent" and current.meta["jurisdiction"] == "us"
    assert current.meta["retired"] is False and current.meta["date"] == "2026-03-02"
    # 3004.50.90.00 is no longer a line: kept, marked, and it votes only as deep as the schedule still goes.
    assert retired.meta["retired"] is True and retired.codes == ("300450",) and retired.level == 6
    assert retired.meta["original_codes"] == ["3004509000"]


def test_ids_are_content_hashes(samples, excerpt):
    path = samples / "precedents" / "rulings_sample.jsonl"
    first = [p.id for p in to_passages(load_precedents(path), excerpt)]
    assert first == [p.id for p in to_passages(load_precedents(path), excerpt)]
    assert len(set(first)) == len(first)


def test_hmrc_term_map_counts_at_six_digits_only(samples, excerpt):
    records = load_precedents(samples / "precedents" / "search_references_sample.json")
    assert {r.dataset for r in records} == {"hmrc_search_refs"} and {r.jurisdiction for r in records} == {"uk"}
    passages = {p.meta["item_id"]: p for p in to_passages(records, excerpt)}
    assert set(passages) == {"breeding horses", "vitamin e, for retail sale"}  # 9999... is in no schedule
    horses = passages["breeding horses"]
    assert horses.codes == ("010121",) and horses.level == 6 and horses.meta["retired"] is False
    assert horses.label == "HMRC search reference 'breeding horses'"
    assert horses.source == "https://www.trade-tariff.service.gov.uk/commodities/0101210000"


def test_entry_history_csv_sniffed(samples, excerpt):
    records = load_precedents(samples / "precedents" / "entry_history_sample.csv", source="acme_entries")
    assert [(r.item_id, r.codes, r.date) for r in records] == [
        ("E-1001", ("0101300000",), "2026-01-20"), ("E-1002", ("3004502000",), "2026-02-03")]
    passages = to_passages(records, excerpt)
    assert [p.label for p in passages] == ["acme_entries E-1001 (2026-01-20)", "acme_entries E-1002 (2026-02-03)"]
    assert all(p.level == 10 and not p.source.startswith("/") for p in passages)


def test_csv_columns_by_name_and_clear_errors(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("Goods,Declared\nwooden chairs,9401.69.60.11\n", encoding="utf-8")
    with pytest.raises(InputError, match="--description-column"):
        load_precedents(path)
    [record] = load_precedents(path, description_column="goods", code_column="Declared")
    assert record.description == "wooden chairs" and record.codes == ("9401696011",)
    with pytest.raises(InputError, match="no code column 'tariff'"):
        load_precedents(path, description_column="goods", code_column="tariff")
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"description": "x", "code": "0101"}\nnot json\n', encoding="utf-8")
    with pytest.raises(SourceFormatError, match="line 2"):
        load_precedents(bad)
    with pytest.raises(InputError, match="not found"):
        load_precedents(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="jurisdiction"):
        load_precedents(path, jurisdiction="mars", description_column="goods", code_column="Declared")


def test_long_rulings_embed_their_opening(tmp_path, excerpt):
    path = tmp_path / "recent_rulings.jsonl"
    path.write_text(json.dumps({"id": "N900199", "description": "Live horses for breeding. " * 80,
                                "gold_codes": ["0101210010"]}) + "\n", encoding="utf-8")
    [p] = to_passages(load_precedents(path), excerpt)
    assert len(p.text) > 1500 and p.embed_text is not None and len(p.embed_text) <= 600


def test_file_names_tell_dataset_and_jurisdiction():
    assert detect("x/trader_descriptions_dev.csv") == ("hmrc_trader", "uk")
    assert detect("brands.csv") == ("hmrc_brands", "uk")
    assert detect("recent_rulings.jsonl") == ("cbp_recent", "us")
    assert detect("atlas_dev.jsonl") == ("atlas_dev", "us")
    assert detect("Broker Entries 2025.csv") == ("broker_entries_2025", "us")


# ---------------------------------------------------------------- the real files


@pytest.fixture(scope="module")
def us_check(shared_data) -> CodeCheck:
    lines = hts.load_hts(shared_data / "usitc_hts_2025" / "htsdata_raw.csv")
    return CodeCheck(Nomenclature(lines, edition=lines[0].edition))


@pytest.mark.parametrize("rel, dataset, jurisdiction, at_least", [
    ("cbp_recent_rulings/recent_rulings.jsonl", "cbp_recent", "us", 1098),
    ("atlas_cross_eval/atlas_dev.jsonl", "atlas_dev", "us", 200),
    ("uk_hmrc_references/search_references.json", "hmrc_search_refs", "uk", 4000),
    ("uk_hmrc_references/trader_descriptions_dev.csv", "hmrc_trader", "uk", 1150),
    ("uk_hmrc_references/brands.csv", "hmrc_brands", "uk", 130),
])
def test_real_files(shared_data, us_check, rel, dataset, jurisdiction, at_least):
    from assistant.sources.precedents import precedent_passage

    records = load_precedents(shared_data / rel)
    assert len(records) >= at_least
    assert {(r.dataset, r.jurisdiction) for r in records} == {(dataset, jurisdiction)}
    passages = [p for p in (precedent_passage(r, us_check) for r in records) if p is not None]
    assert len(passages) >= 0.95 * len(records)
    if jurisdiction == "uk":
        assert {p.level for p in passages} <= {4, 6} and all(len(c) <= 6 for p in passages for c in p.codes)
    else:
        assert all(us_check.prefixes.issuperset(p.codes) for p in passages)
        assert sum(p.level == 10 for p in passages) >= 0.8 * len(passages)
    if dataset == "cbp_recent":
        assert passages[0].label.startswith("CBP NY N") and passages[0].source.startswith("https://rulings.cbp.gov/")
        assert sum(p.meta["retired"] for p in passages) >= 10  # codes created after HTS 2025 Rev. 24
