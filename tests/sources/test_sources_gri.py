"""gri.load_gri: the General Rules of Interpretation and Additional U.S. Rules, each citable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError, SourceFormatError
from assistant.models import SourceKind
from assistant.sources.gri import load_gri, to_passages

SAMPLE = "gri/gri_excerpt.json"


def test_sample_rules_get_citable_labels(samples: Path):
    rules = load_gri(samples / SAMPLE)
    assert [(g.rule, g.label) for g in rules] == [
        ("1", "GRI 1"),
        ("3(b)", "GRI 3(b)"),
        ("US 1(a)", "Additional U.S. Rule 1(a)"),
    ]
    assert "essential character" in rules[1].text
    assert {g.edition for g in rules} == {"HTS 2025 Rev. 24"}
    assert load_gri(samples / SAMPLE, edition="HTS 2026 Basic")[0].edition == "HTS 2026 Basic"


def test_bare_list_of_rules_is_accepted(tmp_path: Path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"rule": "4", "text": "Goods which cannot be classified ...  most akin."}]))
    [rule] = load_gri(path)
    assert (rule.label, rule.text) == ("GRI 4", "Goods which cannot be classified ... most akin.")


def test_passages(samples: Path):
    passages = to_passages(load_gri(samples / SAMPLE))
    assert [p.label for p in passages] == ["GRI 1", "GRI 3(b)", "Additional U.S. Rule 1(a)"]
    assert all(p.kind is SourceKind.GRI and p.chapter is None and p.codes == () for p in passages)
    assert passages[1].meta == {"rule": "3(b)"}
    assert len({p.id for p in passages}) == 3


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "not a GRI JSON file"),
        ("HTS Number,Indent\n", "not a GRI JSON file"),
        ('{"rules": []}', "expected a list of rules"),
        ('{"rules": [{"rule": "3(b)"}]}', 'rule #1 needs non-empty "rule" and "text"'),
        ('{"rules": [{"rule": "9", "text": "no such rule"}]}', "unknown rule '9'"),
    ],
)
def test_wrong_file_is_a_source_format_error(tmp_path: Path, content: str, message: str):
    path = tmp_path / "gri.json"
    path.write_text(content)
    with pytest.raises(SourceFormatError, match=message) as info:
        load_gri(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        load_gri(tmp_path / "gri.json")


def test_the_full_set_of_rules(shared_data: Path):
    rules = load_gri(shared_data / "htsus_legal_notes" / "general_rules_of_interpretation.json")
    labels = [g.label for g in rules]
    assert labels == [
        "GRI 1",
        "GRI 2(a)",
        "GRI 2(b)",
        "GRI 3(a)",
        "GRI 3(b)",
        "GRI 3(c)",
        "GRI 4",
        "GRI 5(a)",
        "GRI 5(b)",
        "GRI 6",
        "Additional U.S. Rule 1(a)",
        "Additional U.S. Rule 1(b)",
        "Additional U.S. Rule 1(c)",
        "Additional U.S. Rule 1(d)",
    ]
    by_label = {g.label: g for g in rules}
    assert "essential character" in by_label["GRI 3(b)"].text
    assert "principal use" in by_label["Additional U.S. Rule 1(a)"].text
    assert all(len(g.text) > 80 for g in rules)
