"""The rationale states the legal steps in tariff words, from the nomenclature's own texts; no retrieval scores."""

from __future__ import annotations

from assistant.engines.rationale import explain
from assistant.models import Passage, SourceKind


def test_heading_then_subheading_with_their_gri(hs_runtime):
    nomenclature = hs_runtime.nomenclature
    line, heading = nomenclature.line("610910"), nomenclature.line("6109")
    note = Passage.make(kind=SourceKind.NOTE, label="Chapter 61, Note 2", text="...", edition="HS 2022", source="x")
    text = explain(line, notes=[note], nomenclature=nomenclature)
    assert text.startswith(f"Chapter 61 “{nomenclature.line('61').description.strip(' :;')}”; ")
    assert f"heading 6109 covers “{heading.description.strip(' :;')}” (GRI 1); " in text
    assert f"subheading 6109.10: “{line.description.strip(' :;')}” (GRI 6)." in text
    assert text.endswith("Notes considered: Chapter 61, Note 2.")
    # without a nomenclature the line's printed path still reads as words
    alone = explain(line)
    assert "subheading 6109.10" in alone and heading.description.split(";")[0] in alone


def test_the_offline_engine_gives_reasons_not_scores(hs_runtime):
    from assistant.engines.offline import OfflineEngine

    result = OfflineEngine(hs_runtime).classify("men's knitted cotton t-shirt", top=3)
    for s in result.suggestions:
        assert "(GRI 1)" in s.rationale and f"{s.display}:" in s.rationale
        assert "dense" not in s.rationale and "lexical" not in s.rationale
