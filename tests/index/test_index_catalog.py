"""The catalog: nomenclature choice, notes per chapter, GRIs and rulings in order, and the on-disk snapshot cache."""

from __future__ import annotations

import pickle

from assistant.index.catalog import Catalog, load_catalog
from assistant.index.nomenclature import line_to_passage
from assistant.index.vectorstore import snapshot_of
from assistant.models import Passage, SourceKind
from assistant.sources import hs2022

ED = "HTS 2025 Rev. 24"


def note(label: str, scope: str, kind: str, number: str, *, section: str, chapter: str | None = None,
         chapters: tuple[str, ...] = ()) -> Passage:
    return Passage.make(kind=SourceKind.NOTE, label=label, text=f"text of {label}", edition=ED, source="x.pdf",
                        chapter=chapter, meta={"scope": scope, "kind": kind, "number": number, "section": section,
                                               "chapters": list(chapters)})


def hs_passages() -> list[Passage]:
    return hs2022.to_passages(hs2022.load_hs2022())


def test_hs_only_catalog_uses_hs_2022():
    catalog = Catalog(hs_passages())
    assert catalog.nomenclature is catalog.hs and catalog.edition == "HS 2022"
    assert catalog.line_passage("610910").label == "HS 6109.10"
    assert [ln.code for ln in catalog.nomenclature.ancestors("610910")] == ["61", "6109"]


def test_national_lines_become_the_working_nomenclature():
    hs = hs_passages()
    national = [line_to_passage(ln) for ln in hs2022.load_hs2022() if ln.chapter == "61"]
    national = [Passage.make(kind=SourceKind.HTS, label=p.label.replace("HS", "HTS"), text=p.text, edition=ED,
                             source="hts.csv", codes=p.codes, level=p.level, chapter=p.chapter, meta=p.meta)
                for p in national]
    catalog = Catalog(hs + national)
    assert catalog.edition == ED and len(catalog.nomenclature) == len(national)
    assert catalog.hs is not None and len(catalog.hs) == len(hs)
    assert catalog.line_passage("610910").kind is SourceKind.HTS


def test_notes_for_chapter_are_section_notes_then_chapter_notes_in_order():
    xi = tuple(f"{c}" for c in range(50, 64))
    notes = [
        note("Chapter 61, Note 10", "chapter", "note", "10", section="XI", chapter="61"),
        note("Chapter 61, Additional U.S. Note 1", "chapter", "additional_us_note", "1", section="XI", chapter="61"),
        note("Chapter 61, Note 2", "chapter", "note", "2", section="XI", chapter="61"),
        note("Section XI, Note 1", "section", "note", "1", section="XI", chapters=xi),
        note("Chapter 62, Note 1", "chapter", "note", "1", section="XI", chapter="62"),
        note("Section XII, Note 1", "section", "note", "1", section="XII", chapters=("64", "65")),
    ]
    catalog = Catalog(hs_passages() + notes)
    assert [p.label for p in catalog.notes_for_chapter("61")] == [
        "Section XI, Note 1", "Chapter 61, Note 2", "Chapter 61, Note 10", "Chapter 61, Additional U.S. Note 1"]
    assert [p.label for p in catalog.notes_for_chapter("64")] == ["Section XII, Note 1"]
    assert catalog.notes_for_chapter("01") == []


def test_gris_and_rulings_are_ordered():
    def gri(rule, label):
        return Passage.make(kind=SourceKind.GRI, label=label, text=label, edition=ED, source="g", meta={"rule": rule})

    def ruling(part):
        return Passage.make(kind=SourceKind.RULING, label="NY N270709", text=f"part {part}", edition="CBP CROSS",
                            source="r", codes=("6109100012",), meta={"number": "N270709", "part": part})

    catalog = Catalog([gri("US 1(a)", "Additional U.S. Rule 1(a)"), gri("3(b)", "GRI 3(b)"), gri("1", "GRI 1"),
                       gri("2(a)", "GRI 2(a)"), ruling(2), ruling(0), ruling(1)])
    assert [p.label for p in catalog.gris] == ["GRI 1", "GRI 2(a)", "GRI 3(b)", "Additional U.S. Rule 1(a)"]
    assert [p.text for p in catalog.rulings["N270709"]] == ["part 0", "part 1", "part 2"]
    assert catalog.counts() == {"gri": {ED: 4}, "ruling": {"CBP CROSS": 3}}


def test_load_catalog_caches_the_snapshot_on_disk(hs_runtime, tmp_path):
    store = hs_runtime.store
    first = load_catalog(store, cache_dir=tmp_path, namespace="t")
    files = list(tmp_path.glob("catalog-*-t-*.pkl"))
    assert len(files) == 1 and first.snapshot in files[0].name
    assert first.snapshot == snapshot_of(store.ids()) == hs_runtime.catalog.snapshot
    # The second load reads the pickle: prove it by planting a marker in it.
    cached = pickle.loads(files[0].read_bytes())
    cached.marker = "from disk"
    files[0].write_bytes(pickle.dumps(cached))
    again = load_catalog(store, cache_dir=tmp_path, namespace="t")
    assert getattr(again, "marker", None) == "from disk" and len(again) == len(first)
    files[0].write_bytes(b"damaged")  # a damaged cache is rebuilt, not fatal
    assert len(load_catalog(store, cache_dir=tmp_path, namespace="t")) == len(first)
