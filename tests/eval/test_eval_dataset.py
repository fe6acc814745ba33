"""Reading evaluation datasets: valid JSONL, extra fields ignored, clear errors naming the bad line."""

from __future__ import annotations

import json

import pytest

from assistant.errors import InputError
from assistant.evaluation.dataset import load_dataset


def write(tmp_path, lines, name="set.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_reads_items_ignores_extra_fields_and_blank_lines(tmp_path):
    path = write(tmp_path, [
        {"id": "a", "description": " cotton T-shirt ", "gold_codes": ["6109.10.00.12", "61102020"], "x": 1},
        "",
        {"id": "b", "description": "PET film", "gold_codes": "392062"},
    ])
    items = load_dataset(path)
    assert [i.id for i in items] == ["a", "b"]
    assert items[0].gold_codes == ("6109100012", "61102020") and items[0].description == "cotton T-shirt"
    assert items[1].gold == "392062" and items[1].chapter == "39"
    assert [i.id for i in load_dataset(path, limit=1)] == ["a"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["not json at all"], "line 1: not valid JSON"),
        ([{"id": "a", "gold_codes": ["392062"]}], "line 1: missing or empty 'description'"),
        ([{"id": "a", "description": "x", "gold_codes": ["392062"]}, {"id": "b", "description": "y"}],
         "line 2: 'gold_codes' must be a non-empty list"),
        ([{"id": "a", "description": "x", "gold_codes": ["39206"]}], "has 5 digits"),
        ([{"id": "a", "description": "x", "gold_codes": ["ABC123"]}], "must be digits"),
        ([{"description": "x", "gold_codes": ["392062"]}], "missing 'id'"),
        ([{"id": "a", "description": "x", "gold_codes": ["392062"]}] * 2, "line 2: duplicate id 'a'"),
        (["[1, 2]"], "expected a JSON object"),
        ([""], "has no items"),
    ],
)
def test_bad_lines_raise_one_clear_error(tmp_path, lines, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")) as info:
        load_dataset(write(tmp_path, lines))
    assert "\n" not in str(info.value)


def test_missing_file_and_bad_limit(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="not a file"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="--limit"):
        load_dataset(write(tmp_path, [{"id": "a", "description": "x", "gold_codes": ["392062"]}]), limit=0)


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(InputError):
        load_dataset(path)


def test_listing_fields_title_attributes_category(tmp_path):
    path = write(tmp_path, [
        {"id": "l1", "title": "Crew-neck tee", "description": "Soft and comfy", "gold_codes": ["610910"],
         "attributes": {"material": "cotton", "brand": "Acme"}, "category": "Apparel > T-shirts"},
        {"id": "l2", "title": "Bike helmet", "gold_codes": ["650610"], "category": ["Sports", "Cycling"]},
        {"id": "l3", "description": "PET film", "gold_codes": ["392062"]},
    ])
    a, b, c = load_dataset(path)
    assert a.description == "Crew-neck tee. Soft and comfy" and a.attributes == {"material": "cotton", "brand": "Acme"}
    assert a.category == ("Apparel", "T-shirts") and a.listing() == {
        "attributes": {"material": "cotton", "brand": "Acme"}, "category": ["Apparel", "T-shirts"]}
    assert b.description == "Bike helmet" and b.attributes is None and b.category == ("Sports", "Cycling")
    assert c.listing() == {}


@pytest.mark.parametrize("record, message", [
    ({"id": "x", "title": "", "gold_codes": ["610910"]}, "'description' (or 'title')"),
    ({"id": "x", "description": "tee", "gold_codes": ["610910"], "attributes": ["cotton"]}, "'attributes'"),
    ({"id": "x", "description": "tee", "gold_codes": ["610910"], "category": {"a": 1}}, "'category'"),
    ({"id": "x", "title": 5, "gold_codes": ["610910"]}, "'title'"),
])
def test_bad_listing_fields_name_the_line(tmp_path, record, message):
    with pytest.raises(InputError, match="line 1") as info:
        load_dataset(write(tmp_path, [record]))
    assert message in info.value.message
