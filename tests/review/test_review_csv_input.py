"""Batch CSV files as spreadsheets save them: encodings, delimiters, blank rows, bad rows, a column map."""

from __future__ import annotations

import codecs

import pytest

from assistant.errors import InputError, TooLarge
from assistant.review.csv_input import read_csv

ROWS = "Description;Reference;Declared code\nCamiseta de algodón;R1;6109.10\n;R2;\n\nPlato de cerámica;R3;abc\nTé verde;R4;\n"


@pytest.mark.parametrize(("data", "encoding"), [
    (ROWS.encode("utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + ROWS.encode("utf-8"), "utf-8-sig"),
    (ROWS.encode("cp1252"), "cp1252"),
    (ROWS.encode("utf-16"), "utf-16"),  # with its BOM, as Excel's "Unicode text"
    (ROWS.encode("utf-16-le"), "utf-16-le"),
])
def test_encodings_semicolons_blank_and_bad_rows(data, encoding):
    read = read_csv(data, max_items=10)
    assert read.encoding == encoding and read.delimiter == ";"
    assert [i.description for i in read.items] == ["Camiseta de algodón", "Té verde"]  # accents intact
    assert read.items[0].reference == "R1" and read.items[0].declared_code == "6109.10"
    # the blank line is skipped silently; the two bad rows are reported by line, the rest still classified
    assert [(r.line, r.error.split(":")[0]) for r in read.rejected] == [(3, "the description is empty"),
                                                                        (5, "declared_code")]


def test_tabs_quotes_and_a_column_map():
    data = b'SKU\tItem text\tNote\n1\t"Wood screws, steel"\tx\n2\tFresh apples\ty\n'
    read = read_csv(data, max_items=10, columns={"description": "Item text", "reference": "SKU"})
    assert read.delimiter == "\t"
    assert [(i.reference, i.description) for i in read.items] == [("1", "Wood screws, steel"), ("2", "Fresh apples")]
    quoted = read_csv(b'description,reference\n"apples; red",1\n', max_items=10)
    assert quoted.delimiter == "," and quoted.items[0].description == "apples; red"


def test_clear_errors():
    with pytest.raises(InputError, match="'item_text' column .*description_column"):
        read_csv(b"sku,name\n1,apples\n", max_items=10, columns={"description": "Item Text"})
    with pytest.raises(InputError, match="no rows that can be classified .*line 2: the description is empty"):
        read_csv(b"description,reference\n,1\n", max_items=10)
    with pytest.raises(InputError, match="binary file"):
        read_csv(b"description\nab\x00cd\x01\n", max_items=10)
    with pytest.raises(InputError, match="not valid UTF-16"):
        read_csv(codecs.BOM_UTF16_LE + b"d\x00\x00\xdc", max_items=10)
    with pytest.raises(TooLarge):
        read_csv(b"description\n" + b"apples\n" * 3, max_items=2)
    with pytest.raises(InputError, match="empty"):
        read_csv(b"", max_items=2)
