"""rulings.load_rulings: CBP ruling letters (folder of texts or JSON lines), their codes and passages.

The letters under corpus/samples/rulings are synthetic (they say so in their text); the real ones come
from the shared data (113 NY letters fetched from CROSS).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.errors import InputError, SourceFormatError
from assistant.models import SourceKind
from assistant.sources.rulings import load_rulings, to_passages

BOILERPLATE = ("Duty rates are provided", "Part 177", "A copy of the ruling", "Sincerely", "Dear ")


@pytest.fixture(scope="module")
def sample_rulings(samples: Path):
    return {r.number: r for r in load_rulings(samples / "rulings")}


def test_letters_are_parsed_from_their_own_text(sample_rulings):
    assert set(sample_rulings) == {"N900001", "N900002", "H900003"}
    r = sample_rulings["N900001"]
    assert (r.collection, r.date, r.category) == ("NY", "2024-03-04", "Classification")
    assert r.subject == "The tariff classification of cotton T-shirts from Honduras"
    assert r.tariff_no_codes == ("6109100012", "6109100040")
    assert r.codes == ("6109100012", "6109100040")
    assert (r.label, r.url) == ("NY N900001", "https://rulings.cbp.gov/ruling/N900001")
    assert "SYNTHETIC SAMPLE LETTER" in r.text


def test_wrapped_layout_and_codes_from_the_holding_only(sample_rulings):
    r = sample_rulings["N900002"]
    assert r.date == "2020-12-03"  # "December\n\n3, 2020"
    assert r.subject == "The tariff classification of a portable computer from Taiwan"
    assert r.tariff_no_codes == ()
    assert r.codes == r.holding_codes == ("8471300100",)  # the requester's 8473.30.1180 is not a holding


def test_headquarters_ruling(sample_rulings):
    r = sample_rulings["H900003"]
    assert (r.collection, r.label, r.date) == ("HQ", "HQ H900003", "2023-06-30")
    assert r.codes == ("9503000073",) and r.holding_codes == ("9503000073",)  # "is therefore classified in"


def test_the_same_letter_twice_in_a_folder_is_one_ruling(samples: Path, tmp_path: Path):
    shutil.copy(samples / "rulings" / "N900001.txt", tmp_path / "N900001.txt")
    shutil.copy(samples / "rulings" / "N900001.txt", tmp_path / "N900001.normalized.txt")
    assert [r.number for r in load_rulings(tmp_path)] == ["N900001"]


def test_single_letter_file(samples: Path):
    [r] = load_rulings(samples / "rulings" / "H900003.txt")
    assert r.number == "H900003" and r.source == "https://rulings.cbp.gov/ruling/H900003"  # never a local path


def test_json_lines_with_cross_metadata(samples: Path, tmp_path: Path):
    text = (samples / "rulings" / "N900002.normalized.txt").read_text()
    no_date = text.replace("December\n\n3, 2020", "")
    path = tmp_path / "letters.jsonl"
    records = [
        {
            "ruling_number": "N900002",
            "collection": "NY",
            "ruling_date": "2020-12-03",
            "category": "Classification",
            "text": no_date,
        },
        {"text": (samples / "rulings" / "N900001.txt").read_text()},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    rulings = load_rulings(path)
    assert [r.number for r in rulings] == ["N900002", "N900001"]
    assert rulings[0].date == "2020-12-03"  # from the metadata: the text no longer has it
    assert rulings[1].codes == ("6109100012", "6109100040")


def test_passages_open_with_a_summary_and_drop_boilerplate(sample_rulings):
    passages = to_passages([sample_rulings["N900001"]])
    summary, *body = passages
    assert summary.meta["part"] == 0
    assert summary.text.startswith("The tariff classification of cotton T-shirts from Honduras\n")
    assert "The applicable subheading for Style 101 will be 6109.10.0012" in summary.text
    assert "Style 202 will be 6109.10.0040" in summary.text
    assert body and [p.meta["part"] for p in body] == list(range(1, len(body) + 1))
    assert any("rib knit crew neckline" in p.text for p in body)
    for p in passages:
        assert p.kind is SourceKind.RULING and p.label == "NY N900001"
        assert p.codes == ("6109100012", "6109100040") and p.chapter == "61"
        assert p.meta["url"] == "https://rulings.cbp.gov/ruling/N900001" and p.meta["date"] == "2024-03-04"
        assert not any(b in p.text for b in BOILERPLATE), p.text
        assert "Example Apparel Importers" not in p.text  # the address block is not indexed
    assert len({p.id for p in passages}) == len(passages)


def test_ruling_without_codes_has_passages_without_chapter(samples: Path, tmp_path: Path):
    text = (samples / "rulings" / "N900001.txt").read_text()
    letter = (
        text.split("TARIFF NO.")[0]
        + "RE: The country of origin of T-shirts\n\nDear Ms. Example:\n\nThe country of origin is Honduras.\n"
    )
    (tmp_path / "N900009.txt").write_text(letter.replace("N900001", "N900009"))
    [r] = load_rulings(tmp_path)
    assert r.codes == () and r.subject == "The country of origin of T-shirts"
    passages = to_passages([r])
    assert [p.chapter for p in passages] == [None, None]
    assert passages[1].text == "The country of origin is Honduras."


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("N1.txt", b"", "empty file"),
        ("N1.txt", b"\x00\x01binary", "binary file"),
        ("letter.txt", b"Dear customer,\nthank you for your order.\n", "not a CBP ruling letter"),
        ("rulings.jsonl", b'{"text": "N270709"}\nnot json\n', "line 2 is not JSON"),
        ("rulings.jsonl", b'{"ruling_number": "N270709"}\n', 'line 1 has no ruling letter "text"'),
        ("rulings.jsonl", b"\n\n", "empty file"),
    ],
)
def test_wrong_files_are_a_source_format_error(tmp_path: Path, name: str, content: bytes, message: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceFormatError, match=message) as info:
        load_rulings(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_missing_file_and_empty_folder(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        load_rulings(tmp_path / "N270709.txt")
    with pytest.raises(SourceFormatError, match="no ruling letters"):
        load_rulings(tmp_path)


# ---------------------------------------------------------------- the real letters (shared data)


@pytest.fixture(scope="module")
def real(shared_data: Path):
    path = shared_data / "cbp_rulings_sample" / "ny_rulings_fulltext.jsonl"
    records = {rec["ruling_number"]: rec for rec in map(json.loads, path.read_text().splitlines())}
    return records, {r.number: r for r in load_rulings(path)}


def test_real_letters_agree_with_the_cross_metadata(real):
    records, rulings = real
    assert set(rulings) == set(records) and len(rulings) == 113
    for number, rec in records.items():
        r = rulings[number]
        header = tuple(c.replace(".", "") for c in rec["tariff_codes_header"])
        assert r.tariff_no_codes[: len(header)] == header, number
        if rec["ruling_date"]:
            assert r.date == rec["ruling_date"], number
        if rec["subject"]:
            assert r.subject.startswith(" ".join(rec["subject"].split())), number
        assert r.collection == "NY" and r.url.endswith(number)


def test_real_classification_rulings_have_holding_codes(real):
    _, rulings = real
    with_codes = [r for r in rulings.values() if r.codes]
    assert len(with_codes) >= 90
    classification = [r for r in with_codes if "Classification" in (r.category or "")]
    assert sum(1 for r in classification if r.holding_codes) >= 0.95 * len(classification)
    garlic = rulings["N270709"]
    assert garlic.codes == ("0712904020",) and garlic.date == "2015-12-15"


def test_real_passages(real):
    _, rulings = real
    passages = to_passages(list(rulings.values()))
    firsts = [p for p in passages if p.meta["part"] == 0]
    assert len(firsts) == len(rulings)
    assert all(len(p.text) <= 2500 for p in passages)
    assert not [p.label for p in passages if "Duty rates are provided for your convenience" in p.text]
    garlic = [p for p in passages if p.label == "NY N270709"]
    assert "garlic powder" in garlic[0].text and "0712.90.4020" in garlic[0].text
    assert {p.chapter for p in garlic} == {"07"}
