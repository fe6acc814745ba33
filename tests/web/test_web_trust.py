"""Trust on the page, in a real browser: confidence per level, the 90 % candidate set and the routing tag, in the
broker's chat and on the officer's case page (with screenshots at 1280 and 390 px)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_web_browser import (
    LAPTOP,
    PHONE,
    T_SHIRT,
    ask,
    case_id_of,
    current_answer,
    no_horizontal_scroll,
    pct,
    stored_case,
)

from assistant.engines.trust import packaged_trust

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium package"),
    pytest.mark.skipif(packaged_trust() is None, reason="this build ships no trust model (data/trust.json)"),
]


def dotted(code: str) -> str:
    return code if len(code) <= 4 else f"{code[:4]}.{code[4:6]}"


def test_chat_and_case_page_show_levels_set_and_routing(site, visitors, new_visitor, screenshot):
    page = visitors["broker"].page
    ask(page, T_SHIRT)
    answer = current_answer(page)
    expect(answer.locator(".suggestion").first).to_be_visible()
    case = stored_case(site, case_id_of(page))
    top = case.suggestions[0]
    # "heading 6109: 71 % · subheading 6109.10: 48 %" as the stored case says
    levels = answer.locator(".suggestion").first.locator(".levels")
    for lv, p in top.confidence_by_level.items():
        name = {"4": "heading", "6": "subheading", "10": "line"}[lv]
        expect(levels).to_contain_text(f"{name} {dotted(top.code[: int(lv)])}: {pct(p)}")
    note = answer.locator(".trust-note")
    expect(note).to_contain_text(f"Routing: {case.routing.replace('_', ' ')}")
    cs = case.candidate_set
    assert cs is not None
    expect(note.locator(".candidate-set")).to_contain_text(f"90 % set: {', '.join(dotted(c) for c in cs.codes)}")
    if cs.open:
        expect(note).to_contain_text("open: the right code may be none of these")
    expect(answer.locator(".suggestion").first.locator(".support")).to_have_text(top.support.summary)

    for viewport, name in ((LAPTOP, "trust-case-laptop.png"), (PHONE, "trust-case-phone.png")):
        officer = new_visitor("officer", viewport=viewport)
        officer.page.goto(f"/cases/{case.id}")
        card = officer.page.locator(".trust-note")
        expect(card).to_contain_text(re.compile(r"Routing: (quick confirm|review|needs information)"))
        expect(card.locator(".candidate-set")).to_contain_text("90 % set:")
        expect(officer.page.locator(".suggestion .levels").first).to_contain_text("subheading")
        assert no_horizontal_scroll(officer.page)
        assert not officer.errors, officer.errors
        card.scroll_into_view_if_needed()
        screenshot(officer.page, name)


def test_vague_input_is_shown_as_needing_information(site, visitors):
    page = visitors["broker"].page
    page.get_by_role("button", name=re.compile("New product")).click()
    ask(page, "gifts")
    answer = current_answer(page)
    expect(answer.locator(".trust-note")).to_contain_text("Routing: needs information")
    assert stored_case(site, case_id_of(page)).routing == "needs_information"
