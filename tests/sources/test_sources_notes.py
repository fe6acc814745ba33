"""notes.load_notes: numbered, citable notes from USITC chapter PDFs (tiny PDFs written here + the real ones)."""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from assistant.errors import InputError, SourceFormatError
from assistant.index.nomenclature import chapter_sections
from assistant.models import SourceKind
from assistant.sources.notes import dump_jsonl, load_notes, to_passages

RUNNING = [
    "Harmonized Tariff Schedule of the United States (2024) Revision 9",
    "Annotated for Statistical Reporting Purposes",
]
REPO = Path(__file__).resolve().parents[2]
TABLE = [
    "Rates of Duty",
    "Heading/",
    "Subheading",
    "Stat.",
    "Suf-",
    "fix",
    "Article Description",
    "5001.00.00 Silk-worm cocoons",
]
LONG = (
    "goods of this kind are to be classified as if consisting wholly of the textile material which predominates by weight "
    * 3
)
ARTEFACTS = re.compile(
    r"Harmonized Tariff Schedule of the United States|Annotated for Statistical|\(con\.\)|\bXI-\d\b|\b50-\d\b|\d/\s|Footnote"
)

SECTION_XI_PAGES = [
    [
        "SECTION XI",
        "TEXTILES AND TEXTILE ARTICLES",
        "XI-1",
        "Notes",
        "1. This section does not cover:",
        "(a) Animal brush making hair or hair (heading 0502); 1/",
        "(b) Human hair, or articles of human hair (heading 0501, 6703 or 6704);",
        "2. (A) Goods classifiable in chapters 50 to 55 or in heading 5809 or 5902 and of a mixture of two or more",
        f"textile materials are to be classified as if consisting wholly of that one textile material; {LONG}",
        "(B) For the purposes of the above rule: gimped horsehair yarn is to be taken as a single textile material;",
        f"{LONG}",
        "1/",
        "1/ Footnote text at the foot of the page, which is not part of any note.",
        *RUNNING,
    ],
    [
        "Notes (con.)",
        "3. For the purposes of this section, the expression twine covers yarn measuring 4.6 m",
        "4.6 m per kilogram or less, when plied.",
        "5. The expression put up for retail sale applies to yarn wound on cards.",
        "6 Heading 5810 does not cover embroidery.",
        "Additional U.S. Notes",
        "1. For the purposes of this section, the term wool means the fiber from the fleece of the sheep.",
        "Statistical Note",
        "1. Goods of this section are reported by weight in kilograms.",
        *RUNNING,
        "XI-2",
    ],
    [
        "CHAPTER 50",
        "SILK",
        "XI",
        "50-1",
        "Subheading Note",
        "1. For the purposes of subheading 5007.10, noil silk means waste.",
        *RUNNING,
    ],
    TABLE,
]


@pytest.fixture
def section_xi_pdf(write_pdf):
    return write_pdf("chapter_50.pdf", SECTION_XI_PAGES)


@pytest.fixture
def sample_notes(section_xi_pdf):
    return {n.label: n for n in load_notes(section_xi_pdf)}


# ---------------------------------------------------------------- tiny PDFs written by the tests


def test_notes_of_a_section_opening_chapter_are_split_and_labelled(sample_notes):
    assert list(sample_notes) == [
        "Section XI, Note 1",
        "Section XI, Note 2(A)",
        "Section XI, Note 2(B)",
        "Section XI, Note 3",
        "Section XI, Note 5",
        "Section XI, Note 6",
        "Section XI, Additional U.S. Note 1",
        "Section XI, Statistical Note 1",
        "Chapter 50, Subheading Note 1",
    ]


def test_section_notes_govern_every_chapter_of_the_section(sample_notes):
    note = sample_notes["Section XI, Note 1"]
    assert (note.scope, note.kind, note.number, note.section, note.chapter) == (
        "section",
        "note",
        "1",
        "XI",
        None,
    )
    assert note.chapters == tuple(sorted(c for c, s in chapter_sections().items() if s == "XI"))
    assert "50" in note.chapters and "63" in note.chapters
    chapter_note = sample_notes["Chapter 50, Subheading Note 1"]
    assert (chapter_note.scope, chapter_note.kind, chapter_note.chapter, chapter_note.chapters) == (
        "chapter",
        "subheading_note",
        "50",
        ("50",),
    )
    assert chapter_note.section == "XI"


def test_page_artefacts_footnotes_and_table_are_removed(sample_notes):
    for note in sample_notes.values():
        assert not ARTEFACTS.search(note.text), (note.label, note.text)
        assert "Article Description" not in note.text and "Silk-worm" not in note.text
    assert sample_notes["Section XI, Note 1"].text == (
        "This section does not cover:\n"
        "(a) Animal brush making hair or hair (heading 0502);\n"
        "(b) Human hair, or articles of human hair (heading 0501, 6703 or 6704);"
    )


def test_numbering_survives_wrapped_numbers_missing_dots_and_gaps(sample_notes):
    assert sample_notes["Section XI, Note 3"].text.endswith("4.6 m 4.6 m per kilogram or less, when plied.")
    assert sample_notes["Section XI, Note 6"].text == "Heading 5810 does not cover embroidery."
    assert "Section XI, Note 4" not in sample_notes  # a deleted note leaves a gap


def test_unnumbered_note_introduction_and_misprinted_number(write_pdf):
    page = [
        "CHAPTER 76", "ALUMINUM AND ARTICLES THEREOF", "XV", "76-1",
        "Note", "This chapter covers only aluminum.",
        "Additional U.S. Notes", "For the purposes of this chapter:", "1. Alloy means x.", "2. Bars means y.",
        "Statistical Notes", "l. First statistical note.", "2. Second statistical note.",
    ]  # fmt: skip
    notes = [(n.label, n.text) for n in load_notes(write_pdf("chapter_76.pdf", [page, TABLE]))]
    assert notes == [
        ("Chapter 76, Note 1", "This chapter covers only aluminum."),
        ("Chapter 76, Additional U.S. Note 1", "For the purposes of this chapter: Alloy means x."),
        ("Chapter 76, Additional U.S. Note 2", "Bars means y."),
        ("Chapter 76, Statistical Note 1", "First statistical note."),
        ("Chapter 76, Statistical Note 2", "Second statistical note."),
    ]


def test_lettered_parts_of_a_long_note_are_citable_on_their_own(sample_notes):
    part_a, part_b = sample_notes["Section XI, Note 2(A)"], sample_notes["Section XI, Note 2(B)"]
    assert part_a.number == "2(A)" and part_a.text.startswith("(A) Goods classifiable in chapters 50 to 55")
    assert part_b.text.startswith("(B) For the purposes of the above rule")
    assert "gimped" not in part_a.text


def test_short_note_with_lettered_parts_stays_whole(write_pdf):
    pdf = write_pdf(
        "chapter_10.pdf",
        [["CHAPTER 10", "CEREALS", "Notes", "1. (a) Grains only.", "(b) Rice only.", *RUNNING], TABLE],
    )
    assert [(n.label, n.text) for n in load_notes(pdf)] == [
        ("Chapter 10, Note 1", "(a) Grains only.\n(b) Rice only.")
    ]


def test_edition_is_read_from_the_running_header(sample_notes, write_pdf):
    assert {n.edition for n in sample_notes.values()} == {"HTS 2024 Rev. 9"}
    bare = write_pdf(
        "chapter_37.pdf", [["CHAPTER 37", "PHOTOGRAPHIC GOODS", "Note", "1. Waste is excluded."], TABLE]
    )
    assert load_notes(bare)[0].edition == "HTS 2025 Rev. 24"


def test_passages_cite_each_note(sample_notes):
    passages = {p.label: p for p in to_passages(list(sample_notes.values()))}
    section = passages["Section XI, Note 1"]
    assert section.kind is SourceKind.NOTE and section.chapter is None and section.codes == ()
    assert section.meta["scope"] == "section" and section.meta["section"] == "XI"
    assert "61" in section.meta["chapters"]
    chapter = passages["Chapter 50, Subheading Note 1"]
    assert chapter.chapter == "50" and chapter.meta == {
        "scope": "chapter",
        "kind": "subheading_note",
        "number": "1",
        "section": "XI",
        "chapters": ["50"],
    }


def test_folders_and_lists_are_read_once_each(section_xi_pdf, tmp_path: Path):
    notes = load_notes([tmp_path, section_xi_pdf])
    assert len(notes) == len({n.label for n in notes}) == 9


@pytest.mark.parametrize(
    "content, message",
    [
        (os.urandom(4096), "not a readable PDF"),
        (b"", "not a readable PDF"),
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n", "not a readable PDF"),
    ],
)
def test_corrupt_pdf_is_a_source_format_error(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "chapter_61.pdf"
    path.write_bytes(content)
    with pytest.raises(SourceFormatError, match=message) as info:
        load_notes(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_pdf_that_is_not_a_chapter_is_a_source_format_error(write_pdf):
    pdf = write_pdf("invoice.pdf", [["INVOICE 2024-17", "1. Widgets, 12 pieces"]])
    with pytest.raises(SourceFormatError, match="invoice.pdf: not a USITC HTS chapter PDF"):
        load_notes(pdf)


def test_missing_file_and_empty_folder(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        load_notes(tmp_path / "chapter_99.pdf")
    with pytest.raises(SourceFormatError, match="no chapter PDFs"):
        load_notes(tmp_path)


def test_parsed_notes_as_json_lines_read_back_as_the_same_notes(sample_notes, section_xi_pdf, tmp_path: Path):
    parsed = load_notes(section_xi_pdf)
    assert {n.source for n in parsed} == {"chapter_50.pdf"}  # the published file name, not where it was read from
    plain = tmp_path / "hts_2025_rev24_notes.jsonl"
    plain.write_bytes(dump_jsonl(parsed))
    packed = tmp_path / "hts_2025_rev24_notes.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    assert load_notes(plain) == load_notes(packed) == parsed
    assert to_passages(load_notes(packed)) == to_passages(parsed)  # same ids: re-ingesting adds nothing


def test_json_lines_that_are_not_notes_are_a_source_format_error(tmp_path: Path):
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"label": "Chapter 61, Note 1", "text": "no kind, scope or number"}\n')
    with pytest.raises(SourceFormatError, match="line 1 is not a parsed note"):
        load_notes(bad)
    bad.write_text("not json\n")
    with pytest.raises(SourceFormatError, match="line 1 is not JSON"):
        load_notes(bad)


# ---------------------------------------------------------------- the official chapter PDFs (shared data)


def _md_numbers(path: Path) -> set[tuple[str, str, int]]:
    """(scope, kind, number) of the numbered notes in the derived markdown (its own simple reading)."""
    block = re.compile(
        r"^(Notes?|Subheading Notes?|Additional U\.\s?S\. Notes?|Statistical Notes?):?\s*(\(con\.\))?:?$",
        re.IGNORECASE,
    )
    kinds = {"sub": "subheading_note", "add": "additional_us_note", "sta": "statistical_note"}
    found, scope, kind, last = set(), None, None, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if m := re.match(r"^(SECTION|CHAPTER) ([IVXL]+|\d+)$", line):
            number = m.group(2) if m.group(1) == "SECTION" else str(int(m.group(2)))
            scope, kind = f"{m.group(1).title()} {number}", None
            continue
        if m := block.match(line):
            new_kind = kinds.get(m.group(1)[:3].lower(), "note")
            if not (m.group(2) and new_kind == kind):
                kind, last = new_kind, 0
            continue
        if kind and (m := re.match(r"^(\d{1,2})\.\s", line)) and int(m.group(1)) == last + 1:
            last += 1
            found.add((scope, kind, last))
    return found


def _pdf_numbers(notes) -> set[tuple[str, str, int]]:
    return {
        (
            f"Section {n.section}" if n.scope == "section" else f"Chapter {int(n.chapter)}",
            n.kind,
            int(re.match(r"\d+", n.number).group(0)),
        )
        for n in notes
    }


@pytest.fixture(scope="module")
def chapter_pdfs(shared_data: Path) -> Path:
    return shared_data / "usitc_hts_2025" / "chapters_pdf"


@pytest.fixture(scope="module")
def some_notes(chapter_pdfs: Path):
    files = [chapter_pdfs / f"chapter_{c}.pdf" for c in ("01", "61", "84", "85")]
    return {n.label: n for n in load_notes(files)}


def test_real_chapters_give_the_expected_citable_notes(some_notes):
    assert "This chapter does not cover" in some_notes["Chapter 61, Note 2"].text
    for label in (
        "Section I, Note 1",
        "Chapter 1, Additional U.S. Note 1",
        "Chapter 61, Additional U.S. Note 1",
        "Chapter 61, Statistical Note 1",
        "Chapter 84, Note 6(A)",
        "Chapter 84, Subheading Note 1",
        "Chapter 85, Subheading Note 1",
        "Section XVI, Note 1",
        "Section XVI, Additional U.S. Note 1",
    ):
        assert label in some_notes, label
    assert some_notes["Section XVI, Note 1"].chapters == ("84", "85")
    assert some_notes["Chapter 84, Note 6(A)"].text.startswith("(A)")
    assert {n.edition for n in some_notes.values()} == {"HTS 2025 Rev. 24"}


def test_real_notes_carry_no_page_artefacts(some_notes):
    artefacts = re.compile(
        r"Harmonized Tariff Schedule of the United States|Annotated for Statistical|\(con\.\)"
        r"|(^|\n)\|?[IVXL]+(\n|$)|(^|\n)\d{1,2}-\d+(\n|$)|\s\d/\s"
    )
    assert [n.label for n in some_notes.values() if artefacts.search(n.text)] == []


def test_real_note_numbers_match_the_derived_markdown(some_notes, shared_data: Path):
    md = shared_data / "htsus_legal_notes" / "chapter_notes_md"
    mine = _pdf_numbers(some_notes.values())
    for chapter in ("01", "61", "84"):
        expected = _md_numbers(md / f"chapter_{chapter}_notes.md")
        scopes = {s for s, _, _ in expected}
        assert {t for t in mine if t[0] in scopes} == expected, chapter
    # The PDF prints "10 Heading 8537 ..." without the dot; the markdown lost notes 10-12 of chapter 85 there.
    assert _md_numbers(md / "chapter_85_notes.md") <= mine
    assert {("Chapter 85", "note", n) for n in (10, 11, 12)} <= mine


@pytest.mark.slow
def test_all_chapter_pdfs(chapter_pdfs: Path, shared_data: Path):
    notes = load_notes(chapter_pdfs)
    assert len(notes) >= 500
    assert len({n.label for n in notes}) == len(notes)
    kinds = Counter(n.kind for n in notes)
    assert set(kinds) == {"note", "subheading_note", "additional_us_note", "statistical_note"}
    assert {n.chapter for n in notes if n.scope == "chapter"} >= {"01", "39", "61", "84", "85", "97"}
    assert all(n.text.strip() for n in notes)
    # The default corpus ships these notes parsed: the same records as parsing the PDFs now.
    assert load_notes(REPO / "corpus" / "usitc" / "hts_2025_rev24_notes.jsonl.gz") == notes
    # The markdown was extracted from the same PDFs; where it has a note number, so must we.
    md = shared_data / "htsus_legal_notes" / "chapter_notes_md"
    mine = _pdf_numbers(notes)
    files = sorted(md.glob("chapter_*_notes.md"))[:-2]  # 98 and 99 are truncated there and have no PDF here
    covered = [f for f in files if _md_numbers(f) <= mine]
    equal = [
        f for f in files if _md_numbers(f) == {t for t in mine if t[0] in {s for s, _, _ in _md_numbers(f)}}
    ]
    assert len(covered) >= 0.95 * len(files)
    assert len(equal) >= 0.80 * len(files)
