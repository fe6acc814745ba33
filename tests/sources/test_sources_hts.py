"""hts.load_hts: the USITC CSV and JSON exports, hierarchy, inherited rates, format errors."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from assistant.errors import InputError, SourceFormatError
from assistant.index.nomenclature import Nomenclature, chapter_sections
from assistant.models import SourceKind
from assistant.sources.hts import HTS_EDITION, chapter_title, load_hts, to_passages

CSV = "hts/hts_2025_rev24_excerpt.csv"
JSON = "hts/hts_2025_rev24_excerpt.json"


@pytest.fixture(scope="module")
def sample_lines(samples: Path):
    return {ln.code: ln for ln in load_hts(samples / CSV)}


def _norm(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- the sample excerpt (BOM, header rows, quirks)


def test_sample_starts_with_a_bom_and_has_uncoded_header_rows(samples: Path):
    raw = (samples / CSV).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfHTS Number,Indent,Description")
    assert b'"","1","Horses:"' in raw


def test_statistical_line_gets_path_ancestors_units_and_inherited_rate(sample_lines):
    males = sample_lines["0101210010"]
    assert males.level == 10 and males.description == "Males"
    assert males.path == (
        chapter_title("01"),
        "Live horses, asses, mules and hinnies:",
        "Horses:",
        "Purebred breeding animals",
    )
    assert males.ancestors == ("01", "0101", "01012100")
    assert males.units == ("No.",)
    assert (males.general_rate, males.general_rate_from) == ("Free", "01012100")
    assert males.column2_rate == "Free" and males.special_rate is None
    assert males.section == chapter_sections()["01"]


def test_line_that_prints_its_own_rate(sample_lines):
    asses = sample_lines["0101300000"]
    assert (asses.general_rate, asses.general_rate_from) == ("6.8%", "0101300000")
    assert asses.special_rate.startswith("Free (A+,AU")
    assert asses.column2_rate == "15%"
    assert asses.ancestors == ("01", "0101")  # 0101.30 has no row of its own in the export


def test_one_synthesized_chapter_line_per_chapter(sample_lines):
    chapters = [ln for ln in sample_lines.values() if ln.level == 2]
    assert [c.code for c in chapters] == ["01", "30"]
    assert chapters[0].description == chapter_title("01") != ""
    assert chapters[0].path == () and chapters[0].ancestors == ()
    assert all(ln.ancestors[0] == ln.chapter for ln in sample_lines.values() if ln.level > 2)


def test_every_coded_row_becomes_a_line_whose_level_is_its_digits(samples: Path, sample_lines):
    rows = list(csv.DictReader(io.StringIO((samples / CSV).read_text(encoding="utf-8-sig"))))
    numbers = [
        r["HTS Number"].replace(".", "")
        for r in rows
        if r["HTS Number"] and not r["HTS Number"].startswith("99")
    ]
    assert sorted(code for code in sample_lines if len(code) > 2) == sorted(numbers)
    assert all(ln.level == len(ln.code) for ln in sample_lines.values())


def test_coded_parent_is_found_by_code_when_the_export_indents_it_as_a_sibling(sample_lines):
    # USITC prints 3004.50 on "Containing vitamins synthesized ..." (indent 2); "3004.50.50 Other" is
    # that row's sibling by indent, yet its code makes it a child of 3004.50.
    line = sample_lines["3004505010"]
    assert line.ancestors == ("30", "3004", "300450", "30045050")
    assert "Other, containing vitamins or other products of heading 2936:" in line.path
    assert not any(p.startswith("Containing vitamins synthesized") for p in line.path)
    assert line.path[-3:] == ("Other", "Other:", "Single vitamins")
    assert (line.general_rate, line.general_rate_from, line.column2_rate) == ("Free", "30045050", "25%")
    nomenclature = Nomenclature(sample_lines.values(), edition=HTS_EDITION)
    assert "30045050" in [c.code for c in nomenclature.children("300450")]


def test_special_chapters_only_on_request(samples: Path, sample_lines):
    assert not any(code.startswith("99") for code in sample_lines)
    with_special = {ln.code: ln for ln in load_hts(samples / CSV, include_special=True)}
    assert {"99", "99020101"} <= set(with_special)
    assert with_special["99"].description.startswith("Temporary legislation")
    assert with_special["99020101"].ancestors == ("99",)


def test_json_export_gives_the_same_lines_as_the_csv(samples: Path):
    from_csv = load_hts(samples / CSV, include_special=True)
    from_json = load_hts(samples / JSON, include_special=True)
    assert [dataclasses.replace(ln, source="") for ln in from_json] == [
        dataclasses.replace(ln, source="") for ln in from_csv
    ]
    # A local copy cites the publisher, never the path it was read from.
    assert {ln.source for ln in from_json} == {ln.source for ln in from_csv} == {"https://hts.usitc.gov/"}


def test_gzip_copy_of_the_export_reads_as_the_export(samples: Path, tmp_path: Path):
    gz = tmp_path / "hts_2025_rev24_excerpt.csv.gz"
    gz.write_bytes(gzip.compress((samples / CSV).read_bytes(), mtime=0))
    assert load_hts(gz, include_special=True) == load_hts(samples / CSV, include_special=True)
    damaged = tmp_path / "hts_2025_rev24_cut.csv.gz"
    damaged.write_bytes(gz.read_bytes()[:200])
    with pytest.raises(SourceFormatError, match="damaged gzip"):
        load_hts(damaged)


def test_edition_from_the_file_name_or_argument(samples: Path, tmp_path: Path):
    assert load_hts(samples / CSV)[0].edition == "HTS 2025 Rev. 24"
    renamed = tmp_path / "hts_2024_revision_9_csv.csv"
    shutil.copy(samples / CSV, renamed)
    assert load_hts(renamed)[0].edition == "HTS 2024 Rev. 9"
    plain = tmp_path / "export.csv"
    shutil.copy(samples / CSV, plain)
    assert load_hts(plain)[0].edition == HTS_EDITION
    assert load_hts(plain, edition="HTS 2026 Basic")[0].edition == "HTS 2026 Basic"


def test_passages_carry_label_path_and_rates(sample_lines):
    lines = list(sample_lines.values())
    passages = to_passages(lines)
    assert len(passages) == len(lines)
    by_label = {p.label: p for p in passages}
    males = by_label["HTS 0101.21.00.10"]
    assert males.kind is SourceKind.HTS and males.level == 10 and males.chapter == "01"
    assert "Horses:" in males.text and males.text.endswith("Males")
    assert males.meta["general_rate"] == "Free" and males.meta["ancestors"] == ["01", "0101", "01012100"]
    assert len({p.id for p in passages}) == len(passages)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"%PDF-1.4\x00\x01\x02binary", "binary file"),
        (b"\xff\xfe\x00H\x00T", "binary file|not UTF-8"),
        (b"section,hscode,description\nI,01,Animals; live\n", "not a USITC HTS CSV export"),
        (b'{"rules": []}', "not a USITC HTS JSON export"),
        (b'[{"code": "0101"}]', "not a USITC HTS JSON export"),
        (b"[1, 2", "invalid JSON"),
        (b"HTS Number,Indent,Description\n0101,zero,Live horses\n", "row 2: bad indent"),
        (b"HTS Number,Indent,Description\n01-01,0,Live horses\n", "row 2: bad HTS number"),
        (b"HTS Number,Indent,Description\n,0,Header only\n", "no coded HTS lines"),
    ],
)
def test_wrong_files_are_a_one_line_source_format_error(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "not-hts.csv"
    path.write_bytes(content)
    with pytest.raises(SourceFormatError, match=message) as info:
        load_hts(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_missing_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        load_hts(tmp_path / "absent.csv")


# ---------------------------------------------------------------- the full 2025 schedule (shared data)


@pytest.fixture(scope="module")
def full_schedule(shared_data: Path):
    return load_hts(shared_data / "usitc_hts_2025" / "htsdata_raw.csv", include_special=True)


def test_full_schedule_counts_and_chapters(full_schedule):
    product = [ln for ln in full_schedule if ln.chapter not in ("98", "99")]
    levels = Counter(ln.level for ln in product)
    assert levels[10] >= 19_000
    assert levels[2] == len({ln.chapter for ln in product}) == 96  # 01-97 without the reserved 77
    assert all(ln.description for ln in product if ln.level == 2)
    codes = [ln.code for ln in full_schedule]
    assert len(codes) == len(set(codes))


def test_ancestors_are_every_existing_prefix_line(full_schedule):
    codes = {ln.code for ln in full_schedule}
    for ln in full_schedule:
        expected = tuple(ln.code[:k] for k in (2, 4, 6, 8) if k < ln.level and ln.code[:k] in codes)
        assert ln.ancestors == expected, ln.code


def test_default_leaves_out_chapters_98_and_99(shared_data: Path):
    lines = load_hts(shared_data / "usitc_hts_2025" / "htsdata_raw.csv")
    assert {ln.chapter for ln in lines}.isdisjoint({"98", "99"})


def test_paths_and_effective_rates_agree_with_the_derived_file(shared_data: Path, full_schedule):
    by_code = {ln.code: ln for ln in full_schedule}
    checked = 0
    with gzip.open(shared_data / "usitc_hts_2025" / "hts_lines.jsonl.gz", "rt", encoding="utf-8") as fh:
        for row in map(json.loads, fh):
            if row["level"] != 10:
                continue
            line = by_code[row["digits"]]
            assert [_norm(p) for p in line.path[1:]] == [_norm(p) for p in row["path"]], row["htsno"]
            assert line.general_rate == (row["general_effective"] or None), row["htsno"]
            assert line.general_rate_from == ((row["general_effective_from"] or "").replace(".", "") or None)
            checked += 1
    assert checked == 19_768
