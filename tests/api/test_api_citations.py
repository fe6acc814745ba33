"""Citations users can check: each names its official USITC or CBP page, quotes a ruling's holding, and no payload
carries a server file path."""

from __future__ import annotations

import json

import pytest

from assistant.links import source_url
from assistant.models import Citation, SourceKind, Suggestion


@pytest.mark.parametrize(("kind", "label", "url"), [
    ("hts", "HTS 6109.10.00.12", "https://hts.usitc.gov/search?query=6109.10.00"),
    ("hts", "HTS 6109", "https://hts.usitc.gov/search?query=6109"),
    ("hs", "HS 6109.10", "https://hts.usitc.gov/search?query=6109.10"),
    ("hs", "HS 61", "https://hts.usitc.gov/reststop/file?release=currentRelease&filename=Chapter%2061"),
    ("note", "Chapter 61, Note 2", "https://hts.usitc.gov/reststop/file?release=currentRelease&filename=Chapter%2061"),
    ("note", "Section XI, Note 1", "https://hts.usitc.gov/reststop/file?release=currentRelease&filename=Chapter%2050"),
    ("note", "Chapter 9, Additional U.S. Note 1",
     "https://hts.usitc.gov/reststop/file?release=currentRelease&filename=Chapter%209"),
    ("gri", "GRI 3(b)",
     "https://hts.usitc.gov/reststop/file?release=currentRelease&filename=General%20Rules%20of%20Interpretation"),
    ("ruling", "NY N270709", "https://rulings.cbp.gov/ruling/N270709"),
])
def test_each_kind_of_citation_links_its_official_source(kind, label, url):
    assert source_url(kind, label) == url
    assert Citation(label=label, kind=SourceKind(kind), source_id="x", excerpt="...").url == url


def test_no_local_path_and_a_ruling_quotes_its_holding(shared_data):
    """Real US passages read from the data directory, as the engines cite them."""
    from assistant.review.lookup import passage_view
    from assistant.sources import notes, rulings

    ruling = next(p for p in rulings.to_passages(rulings.load_rulings(
        shared_data / "cbp_rulings_sample/ny_rulings_fulltext.jsonl")) if p.meta["part"] == 0 and "\n" in p.text)
    note = notes.to_passages(notes.load_notes(shared_data / "usitc_hts_2025/chapters_pdf/chapter_61.pdf"))[0]
    assert ruling.source and note.source  # where the loader read them: kept for the engines, never shown
    cited = [Citation(label=p.label, kind=p.kind, source_id=p.id, excerpt=p.text[:400], source=p.source,
                      edition=p.edition) for p in (ruling, note)]
    suggestion = Suggestion.for_code("6109100012", description="T-shirts", path=["61", "6109"], confidence=0.5,
                                     rationale="r", citations=cited)
    payload = suggestion.model_dump_json() + "".join(passage_view(p).model_dump_json() for p in (ruling, note))
    assert str(shared_data) not in payload and "chapters_pdf" not in payload and '"source"' not in payload
    shown_ruling, shown_note = json.loads(suggestion.model_dump_json())["citations"]
    assert shown_ruling["url"] == f"https://rulings.cbp.gov/ruling/{ruling.meta['number']}"
    assert shown_note["url"].endswith("filename=Chapter%2061")
    # the excerpt is the sentence that classifies, not the subject line the passage opens with
    subject, holding = ruling.text.split("\n", 1)
    assert shown_ruling["excerpt"] == holding[:400 - len(subject) - 1].strip()
    assert "classifi" in shown_ruling["excerpt"] or "applicable" in shown_ruling["excerpt"]


def test_classification_json_and_pages_name_no_server_path(api):
    case = api.classify()
    home = str(api.app.state.settings.home)
    for text in (json.dumps(case), api.get(f"/v1/classifications/{case['id']}", "officer").text):
        assert home not in text and '"source":' not in text
    for c in case["suggestions"][0]["citations"]:
        assert c["url"].startswith("https://hts.usitc.gov/"), c
    passage = api.get(f"/v1/passages/{case['suggestions'][0]['citations'][0]['source_id']}", "broker_a").json()
    assert passage["url"].startswith("https://hts.usitc.gov/") and "source" not in passage
