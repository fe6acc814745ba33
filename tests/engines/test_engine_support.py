"""Citation support on the real HS 2022 corpus: what names the goods, and a residual "Other" line that nothing does."""

from __future__ import annotations

from assistant.engines import classify
from assistant.engines.suggestions import citation
from assistant.engines.support import check_support
from assistant.models import Suggestion


def test_heading_text_that_names_the_goods_supports_the_top_answer(hs_runtime):
    result = classify("men's knitted cotton t-shirt", runtime=hs_runtime, top=3)
    top = result.suggestions[0]
    assert top.code.startswith("6109")
    assert top.support.supported and any(b.startswith("heading 6109 names") for b in top.support.by)
    assert top.support.summary.startswith("supported by: ")


def test_a_residual_line_that_nothing_names_says_so(us_runtime):
    catalog = us_runtime.catalog  # HTS: HS 2022 as published by the UN has almost no "Other" subheadings
    line = next(ln for ln in catalog.nomenclature.lines(level=10) if ln.description.strip().lstrip("-–— ").lower().startswith("other")
                and catalog.line_passage(ln.code) is not None)
    own = catalog.line_passage(line.code)
    s = Suggestion.for_code(line.code, description=line.description, path=[line.description], confidence=0.1,
                            rationale="", citations=[citation(own)])
    support = check_support(s, "zqxv wobble", catalog)
    assert not support.supported and not support.by_note_or_precedent
    assert support.summary == "supported by: residual line only"
