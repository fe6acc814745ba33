"""Facts that count, in a real browser: a negative fact added with "Add a fact" re-ranks the answer, and the clarifying
question's "other / don't know" leaves the question open for the officer instead of posing as a fact (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from assistant.engines.query import OTHER

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium package"),
]
ADVISORY = "Pending officer review — advisory only"


def stored_case(site, case_id: str):
    from assistant import review
    from assistant.auth import list_keys, principal_for

    admin = principal_for(site.desk.db, next(k.id for k in list_keys(site.desk.db) if k.role.value == "admin"))
    return review.get_case(site.desk, admin, case_id, record_open=False)


def current_answer(page):
    return page.locator(".answer:not(.answer-old)")


def shown_codes(answer) -> list[str]:
    return [t.strip() for t in answer.locator(".suggestion .s-head .code").all_inner_texts()]


def case_id_of(page) -> str:
    return current_answer(page).locator(".answer-head a").get_attribute("href").rsplit("/", 1)[-1]


def describe(page, text: str) -> list[str]:
    """Classify `text` as a new product; the codes shown, best first."""
    page.goto("/chat")
    page.get_by_role("textbox", name="Describe the product").fill(text)
    page.get_by_role("button", name="Classify").click()
    expect(page.locator(".answer[aria-label='Suggestions, round 1'] .suggestion").first).to_be_visible()
    return shown_codes(current_answer(page))


def test_a_negative_fact_added_in_the_chat_re_ranks_the_answer(site, visitors):
    page = visitors["broker"].page
    before = describe(page, "men's knitted t-shirt")
    assert before[0] == "6109.10"  # T-shirts ... of cotton: what the words alone point to
    case_id = case_id_of(page)
    page.get_by_role("textbox", name=re.compile("Add a fact")).fill("not of cotton")
    page.get_by_role("button", name="Add a fact").click()
    answer = page.locator(".answer[aria-label='Suggestions, round 2']")
    expect(answer.locator(".suggestion").first).to_be_visible()
    after = shown_codes(answer)
    case = stored_case(site, case_id)
    assert case.round == 2 and case.context == ["not of cotton"] and case_id_of(page) == case_id
    assert after == [s.display for s in case.suggestions]
    assert "6109.10" not in after  # below every line the fact does not contradict, so off the short list
    expect(answer.locator(".suggestion .s-desc", has_text=re.compile(r"\bof cotton"))).to_have_count(0)
    expect(answer.locator(".status")).to_contain_text(ADVISORY)
    assert visitors["broker"].errors == []


def test_other_dont_know_leaves_the_question_open_and_the_answer_advisory(site, visitors):
    page = visitors["broker"].page
    page.get_by_role("button", name="New product").click()
    before = describe(page, "cotton shirt")
    case_id = case_id_of(page)
    group = current_answer(page).locator(".quick-replies")
    question = group.locator(".question").inner_text()
    assert "knitted" in question
    group.get_by_role("button", name=OTHER).click()
    answer = page.locator(".answer[aria-label='Suggestions, round 2']")
    expect(answer.locator(".suggestion").first).to_be_visible()
    case = stored_case(site, case_id)
    # recorded as the question left open, for the officer to see; not searched as a fact about the goods
    assert case.context == [f"{OTHER}: {question}"] and case.round == 2
    assert case.status.value == "pending_review" and case.final_code is None
    assert shown_codes(answer) == before
    expect(answer.locator(".status")).to_contain_text(ADVISORY)
    expect(answer.locator(".quick-replies")).to_have_count(0)  # the same question is not asked again
    expect(answer.locator(".left-open")).to_contain_text(f"Left open: {question}")
    expect(answer.locator(".left-open")).to_contain_text("an officer decides")
    # the officer reads what the requester could not say
    officer = visitors["officer"].page
    officer.goto(f"/cases/{case_id}")
    expect(officer.locator("body")).to_contain_text(f"{OTHER}: {question}")
    assert visitors["broker"].errors == [] and visitors["officer"].errors == []
