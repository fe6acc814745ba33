"""The web UI in a real browser (Playwright + Debian's Chromium) against uvicorn: chat, citations, follow-ups,
the officer's review, role separation. The tests run in order and build on each other's cases."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from assistant import review
from assistant.auth import principal_for

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium package"),
]

T_SHIRT = "men's knitted cotton t-shirt"
SHIRT = "cotton shirt"
ADVISORY = "Pending officer review — advisory only"
HS6 = re.compile(r"^\d{4}\.\d{2}$")
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pct(value: float) -> str:
    """A confidence as the page shows it: a whole percent, halves rounded up (the script's Math.round)."""
    return f"{math.floor(value * 100 + 0.5)}%"


def stored_case(site, case_id: str):
    """The case as the review desk stores it (read as the admin, who sees every organisation)."""
    admin = principal_for(site.desk.db, next(k.id for k in _keys(site) if k.role.value == "admin"))
    return review.get_case(site.desk, admin, case_id, record_open=False)


def _keys(site):
    from assistant.auth import list_keys

    return list_keys(site.desk.db)


def ask(page, text: str) -> None:
    page.get_by_role("textbox", name=re.compile("Describe the product|Add a fact|Answer")).fill(text)
    page.locator("#send").click()


def current_answer(page):
    return page.locator(".answer:not(.answer-old)")


def shown_codes(answer) -> list[str]:
    return [t.strip() for t in answer.locator(".suggestion .s-head .code").all_inner_texts()]


def case_id_of(page) -> str:
    href = current_answer(page).locator(".answer-head a").get_attribute("href")
    return href.rsplit("/", 1)[-1]


def unlabelled_controls(page) -> list[str]:
    """Form controls a screen reader could not name (no <label>, aria-label(ledby) or button text)."""
    return page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select, button')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 100))""")


def tab_to(page, selector: str, *, presses: int = 40) -> bool:
    """Press Tab from the top of the page until `selector` has focus, with a visible focus outline."""
    page.evaluate("document.querySelector('.skip-link').focus()")  # the first stop of the tab order
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return page.evaluate("getComputedStyle(document.activeElement).outlineStyle !== 'none'")
    return False


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


# ---------------------------------------------------------------- (a) a broker asks, sees cited suggestions


def test_broker_chat_streams_cited_suggestions_into_a_pending_case(site, visitors, screenshot):
    broker = visitors["broker"]
    page = broker.page
    expect(page).to_have_url(re.compile(r"/chat$"))
    ask(page, T_SHIRT)
    answer = current_answer(page)
    expect(answer.locator(".suggestion").first).to_be_visible()

    # what the page shows is the case the review desk stored: pending review, no final code
    case = stored_case(site, case_id_of(page))
    assert case.status.value == "pending_review" and case.final_code is None
    codes = shown_codes(answer)
    assert codes == [s.display for s in case.suggestions]
    assert codes and all(HS6.match(c) for c in codes), codes  # HS-only nomenclature: 6 digits, dotted
    expect(answer.locator(".status")).to_contain_text(ADVISORY)
    first = answer.locator(".suggestion").first
    expect(first.locator(".pct")).to_have_text(pct(case.suggestions[0].confidence))
    expect(first.locator("meter")).to_have_attribute("value", str(case.suggestions[0].confidence))
    steps = first.locator(".path li")
    assert steps.count() == len(case.suggestions[0].path) >= 2
    expect(steps.first).to_contain_text(case.suggestions[0].path[0])
    expect(first.locator(".rationale")).to_have_text(case.suggestions[0].rationale)
    # the answer is short: evidence collapsed, the top suggestion in view (not scrolled away to the composer)
    assert answer.locator(".evidence[open]").count() == 0
    expect(first.locator(".rationale")).to_be_hidden()
    expect(first.locator(".s-head")).to_be_in_viewport()
    first.locator(".evidence > summary").click()
    expect(first.locator(".rationale")).to_be_visible()
    expect(answer.locator(".engine-line")).to_contain_text(case.engine)
    # the streamed text lands in a polite live region, which ends with a summary
    live = page.locator("[aria-live=polite]#stream")
    expect(live).to_contain_text(f"Best: {codes[0]}")

    # a citation chip opens the cited passage; Escape closes it and focus returns to the chip
    chip = first.locator(".chip").first
    label = chip.inner_text()
    citation = case.suggestions[0].citations[0]
    assert label == citation.label
    chip.click()
    dialog = page.locator("#passage-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#passage-title")).to_have_text(label)
    expect(dialog.locator("#passage-text")).to_contain_text(citation.excerpt[:60])
    expect(dialog.locator("#passage-meta")).to_contain_text("Duty rate")  # a tariff line shows its duty rate
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(chip).to_be_focused()
    # keyboard only: Tab reaches the chips (focus visible), Enter opens the dialog too
    assert tab_to(page, ".answer:not(.answer-old) .suggestion:first-child .chips li:first-child .chip")
    page.keyboard.press("Tab")
    second = first.locator(".chip").nth(1)
    expect(second).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#passage-title")).to_have_text(second.inner_text())
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    assert unlabelled_controls(page) == []
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    screenshot(page, "chat-laptop.png")
    assert no_horizontal_scroll(page)
    # the same conversation at phone width (reloaded from the case)
    page.set_viewport_size(PHONE)
    page.reload()
    expect(current_answer(page).locator(".suggestion").first).to_be_visible()
    assert shown_codes(current_answer(page)) == codes
    assert no_horizontal_scroll(page)
    page.evaluate("document.querySelector('.msg-user').scrollIntoView({block: 'start'})")
    screenshot(page, "chat-phone.png")
    page.set_viewport_size(LAPTOP)
    assert broker.errors == []  # no script error, no Content-Security-Policy violation


# ---------------------------------------------------------------- (b) a follow-up refines the same case


def test_follow_up_refines_the_same_case_and_changes_the_suggestions(site, visitors, screenshot):
    page = visitors["broker"].page
    page.get_by_role("button", name="New product").click()
    page.get_by_text("Reference and intended code").click()
    page.get_by_label("Your reference").fill("PO-2291")
    page.get_by_label("Code you intend to declare").fill("8471.30")
    ask(page, SHIRT)
    expect(current_answer(page).locator(".suggestion").first).to_be_visible()
    case_id = case_id_of(page)
    before = shown_codes(current_answer(page))

    replies = current_answer(page).locator(".quick-replies button")
    if replies.count():  # the engine asked a clarifying question: answer it with a quick reply
        option = next((t for t in replies.all_inner_texts() if "knitted" in t), replies.first.inner_text())
        replies.filter(has_text=option).click()
        fact = option
    else:
        fact = "it is knitted"
        ask(page, fact)
    expect(page.locator(".answer[aria-label='Suggestions, round 2']")).to_be_visible()
    after = shown_codes(current_answer(page))
    assert after != before, (before, after)
    assert case_id_of(page) == case_id  # the same case, re-classified
    case = stored_case(site, case_id)
    assert case.round == 2 and case.context == [fact] and case.status.value == "pending_review"
    assert case.reference == "PO-2291" and case.declared_code == "847130" and case.risk_flag
    assert [s.display for s in case.suggestions] == after
    expect(current_answer(page).locator(".status")).to_contain_text(ADVISORY)
    expect(page.locator(".answer-old")).to_have_count(1)
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement.blur(); document.querySelector('.answer-old').scrollIntoView()")
    screenshot(page, "chat-follow-up.png")
    assert visitors["broker"].errors == []


TEA_POT = "ceramic tea pot"


def test_new_product_opens_a_new_case_and_add_a_fact_refines_the_open_one(site, visitors):
    page = visitors["broker"].page
    shirt_id = case_id_of(page)
    expect(page.locator("#send")).to_have_text("Add a fact")
    box = page.get_by_role("textbox", name=re.compile("Add a fact about this product, or describe a new product"))
    box.fill(TEA_POT)
    page.get_by_role("button", name="New product").click()
    expect(page.locator(".answer[aria-label='Suggestions, round 1']")).to_be_visible()
    tea_id = case_id_of(page)
    assert tea_id != shirt_id
    tea, shirt = stored_case(site, tea_id), stored_case(site, shirt_id)
    assert tea.description == TEA_POT and tea.round == 1 and tea.context == []
    assert tea.reference is None and tea.declared_code is None  # nothing carried over from the shirt
    assert shirt.round == 2 and TEA_POT not in shirt.context  # never round 3 of the shirt
    expect(page.locator(".msg-user")).to_have_count(1)  # the thread holds only the new product
    expect(page).to_have_url(re.compile(f"case={tea_id}$"))
    assert visitors["broker"].errors == []


def test_officer_filters_sorts_and_claims_in_the_queue(site, visitors, screenshot):
    officer = visitors["officer"]
    page = officer.page
    expect(page).to_have_url(re.compile(r"/queue$"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Risk").select_option("true")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(SHIRT)
    expect(rows.first.locator(".declared")).to_contain_text("Declared 8471.30")
    expect(rows.first.locator(".match-none")).to_have_text("differs from the heading up")
    assert "risk=true" in page.url
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Search").fill("tea")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(TEA_POT)
    tea = stored_case(site, rows.first.get_by_role("link").first.get_attribute("href").rsplit("/", 1)[-1])
    top = tea.suggestions[0]
    expect(rows.first.locator(".top-desc")).to_contain_text(top.description[:40])  # code with its description
    # its confidence says which level it is of (the case page leads with the subheading's; this is the code's own)
    expect(rows.first.locator(".top-conf")).to_have_text(f"subheading {pct(top.confidence)}")
    page.goto(f"/queue?chapter={top.code[:2]}&org=acme&sort=newest")
    expect(rows.first).to_contain_text(TEA_POT)
    expect(page.get_by_label("Organisation")).to_have_value("acme")
    page.goto("/queue?chapter=9")
    expect(page.locator("h1")).to_have_text("Check your input")  # a bad filter is a clear 4xx page
    expect(page.locator(".alert-error")).to_contain_text("chapter")
    page.goto("/queue?q=tea")
    rows.first.get_by_role("button", name=re.compile("Claim")).click()
    expect(page.locator(".meta-grid")).to_contain_text("Olga Officer")
    page.goto("/queue?assignee=me")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".assignee")).to_have_text("Claimed by Olga Officer")
    page.goto("/queue")
    screenshot(page, "officer-queue-filters.png")
    page.set_viewport_size(PHONE)
    assert no_horizontal_scroll(page)
    screenshot(page, "officer-queue-phone.png")
    page.set_viewport_size(LAPTOP)
    refused = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    assert officer.errors == [refused]
    officer.errors.clear()


# ---------------------------------------------------------------- (c) an officer confirms; the broker sees the final code


def test_officer_confirms_and_the_broker_sees_the_final_code(site, visitors, screenshot):
    officer = visitors["officer"]
    page = officer.page
    page.goto("/queue")
    row = page.locator("tbody tr", has_text=T_SHIRT)
    expect(row).to_have_count(1)
    # both open cases wait; the one whose declared code disagrees with the evidence comes first, with the reason
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text(SHIRT)
    expect(rows.first).to_contain_text("Risk flag")
    expect(rows.first.locator(".reasons")).to_contain_text("heading 8471")
    expect(rows.nth(1)).not_to_contain_text("Risk flag")
    screenshot(page, "officer-queue.png")
    row.get_by_role("link", name=re.compile("Review")).click()
    expect(page.locator("h1")).to_contain_text("Case")
    case_id = page.url.rsplit("/", 1)[-1]
    case = stored_case(site, case_id)
    expect(page.locator(".status")).to_contain_text(ADVISORY)
    expect(page.locator(".description")).to_have_text(T_SHIRT)
    expect(page.locator(".audit")).to_contain_text("Case opened")
    expect(page.locator(".audit")).to_contain_text("Opened for review")
    assert shown_codes(page) == [s.display for s in case.suggestions]

    assert unlabelled_controls(page) == []
    assert tab_to(page, "input[name=action]")  # the decision form is reachable by keyboard
    # override autocomplete reads the nomenclature
    page.get_by_label("Override with another code").check()
    field = page.get_by_label("Override code")
    expect(field).to_be_visible()
    field.fill("6109")
    expect(page.locator("#code-options option").first).to_be_attached()
    options = page.locator("#code-options option").evaluate_all("els => els.map(e => e.value)")
    assert options and all(o.startswith("6109") for o in options), options
    expect(page.locator("#override_match")).to_contain_text("6109")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "officer-review.png", clip={"x": 0, "y": 0, "width": 1280, "height": 1100})
    page.set_viewport_size(PHONE)
    assert no_horizontal_scroll(page)
    page.set_viewport_size(LAPTOP)

    # confirm the top suggestion, with a reason
    page.get_by_label("Confirm a suggestion").check()
    expect(field).to_be_hidden()
    top = case.suggestions[0]
    page.locator(f"input[name=confirm_code][value='{top.code}']").check()
    page.get_by_label(re.compile("^Reason")).fill("Matches the goods as described (GRI 1, then GRI 6).")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".alert-ok")).to_contain_text("Decision recorded")
    expect(page.locator(".status")).to_contain_text("Final — confirmed")
    expect(page.locator(".final-code")).to_contain_text(top.display)
    assert stored_case(site, case_id).final_code == top.code
    page.set_viewport_size(PHONE)
    page.goto("/queue")
    assert no_horizontal_scroll(page)
    page.set_viewport_size(LAPTOP)
    assert officer.errors == []

    # the broker's list and case page now show the final code
    broker = visitors["broker"].page
    broker.goto("/cases")
    mine = broker.locator("tbody tr", has_text=T_SHIRT)
    expect(mine.locator(".code-final")).to_have_text(top.display)
    expect(mine).to_contain_text("Final — confirmed")
    other = broker.locator("tbody tr", has_text=SHIRT).filter(has_not_text=T_SHIRT)
    expect(other).to_contain_text(ADVISORY)  # the undecided case stays advisory
    broker.set_viewport_size(PHONE)
    assert no_horizontal_scroll(broker)
    broker.set_viewport_size(LAPTOP)
    mine.get_by_role("link").click()
    expect(broker.locator(".final-code")).to_contain_text(top.display)
    expect(broker.locator(".decisions")).to_contain_text("Olga Officer")
    expect(broker.locator("#decision-form")).to_have_count(0)
    assert visitors["broker"].errors == []


def test_correcting_a_decision_is_deliberate_and_needs_a_reason(site, visitors, screenshot):
    broker = visitors["broker"].page
    broker.goto("/cases")
    href = broker.locator("tbody tr", has_text=T_SHIRT).get_by_role("link").first.get_attribute("href")
    case_id = href.rsplit("/", 1)[-1]
    before = stored_case(site, case_id)
    decided = before.decisions[-1]
    page = visitors["officer"].page
    page.goto(href)
    form = page.locator("#decision-form")
    expect(page.locator("#decide-title")).to_have_text("Correct the decision")
    # nothing is pre-selected: neither an action nor a code to confirm
    assert form.locator("input[type=radio]:checked").count() == 0
    replaces = page.locator("#replaces")
    expect(replaces).to_contain_text(f"Replaces: confirmation of {decided.display}, decided by Olga Officer on ")
    expect(page.get_by_label("Reason (required)")).to_have_attribute("required", "")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "officer-correction.png", clip={"x": 0, "y": 0, "width": 1280, "height": 1100})
    page.set_viewport_size(PHONE)
    assert no_horizontal_scroll(page)
    page.locator("#decide-title").scroll_into_view_if_needed()
    screenshot(page, "officer-correction-phone.png")
    page.set_viewport_size(LAPTOP)

    # one click records nothing: the browser asks for the reason, and the server for an action
    page.get_by_role("button", name="Record decision").click()
    assert page.evaluate("document.querySelector('#reason').validity.valueMissing")
    page.get_by_label("Reason (required)").fill("Second look.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator("#decision-error")).to_have_text("choose one of the decisions")
    # without the browser's check, the server refuses a correction without a reason
    other = before.suggestions[1]
    page.get_by_label("Confirm a suggestion").check()
    page.locator(f"input[name=confirm_code][value='{other.code}']").check()
    page.get_by_label("Reason (required)").fill("")
    page.evaluate("document.querySelector('#reason').removeAttribute('required')")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator("#decision-error")).to_have_text(
        "a correction needs a reason: say why the current decision is replaced")
    assert stored_case(site, case_id).final_code == before.final_code
    page.get_by_label("Confirm a suggestion").check()
    page.locator(f"input[name=confirm_code][value='{other.code}']").check()
    page.get_by_label(re.compile("^Reason")).fill("The goods are not knitted.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".alert-ok")).to_contain_text("Decision recorded")
    after = stored_case(site, case_id)
    assert after.final_code == other.code and after.decisions[-1].supersedes == decided.id
    refused = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    assert visitors["officer"].errors == [refused, refused]  # the two refusals above, and nothing else
    visitors["officer"].errors.clear()


def test_the_broker_reads_the_officers_decision_and_reason(site, visitors, screenshot):
    officer = visitors["officer"].page
    officer.goto("/queue")
    officer.locator("tbody tr", has_text=TEA_POT).get_by_role("link", name=re.compile("Review")).click()
    case_id = officer.url.rsplit("/", 1)[-1]
    officer.get_by_label("Reject").check()
    reason = "Say whether it is porcelain or stoneware; the tariff splits on the ceramic."
    officer.get_by_label(re.compile("^Reason")).fill(reason)
    officer.get_by_role("button", name="Record decision").click()
    expect(officer.locator(".alert-ok")).to_contain_text("Decision recorded")

    broker = visitors["broker"].page
    broker.goto(f"/cases/{case_id}")
    outcome = broker.locator(".officer-outcome")
    expect(outcome).to_contain_text("Rejected by Olga Officer on ")
    expect(outcome.locator(".outcome-reason")).to_have_text(f"Officer's reason: {reason}")
    broker.goto(f"/chat?case={case_id}")
    expect(current_answer(broker).locator(".officer-outcome")).to_contain_text(reason)
    # no page names a server path: not the data home, not a source file
    home = str(site.app.state.settings.home)
    for path in (f"/chat?case={case_id}", f"/cases/{case_id}"):
        broker.goto(path)
        html = broker.content()
        assert home not in html and '"source":' not in html and "/shared/data" not in html, path
    # a final code comes with its description and duty rate, and the reason for the correction
    broker.goto("/cases")
    href = broker.locator("tbody tr", has_text=T_SHIRT).get_by_role("link").first.get_attribute("href")
    shirt = stored_case(site, href.rsplit("/", 1)[-1])
    broker.goto(f"/chat?case={shirt.id}")
    answer = current_answer(broker)
    line = site.desk.runtime().nomenclature.line(shirt.final_code)
    expect(answer.locator(".final-code")).to_contain_text(f"{shirt.final_display} {line.description}")
    expect(answer.locator(".officer-outcome")).to_contain_text("Officer's reason: The goods are not knitted.")
    answer.scroll_into_view_if_needed()
    screenshot(broker, "chat-officer-decision.png")
    broker.set_viewport_size(PHONE)
    assert no_horizontal_scroll(broker)
    screenshot(broker, "chat-officer-decision-phone.png")
    broker.set_viewport_size(LAPTOP)
    assert visitors["broker"].errors == []


# ---------------------------------------------------------------- (d) roles and session protection


def test_broker_cannot_reach_the_officer_queue_or_admin(site, visitors):
    page = visitors["broker"].page
    expect(page.get_by_role("navigation", name="Main")).not_to_contain_text("Review queue")
    for path in ("/queue", "/admin"):
        response = page.goto(path)
        assert response.status == 403
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.locator(".queue-table")).to_have_count(0)
    # the case page of a broker has no decision form, and a forged decision is refused
    response = page.request.post(f"{site.url}/web/chat", data={"message": "x"})
    assert response.status == 403  # no CSRF token


def test_session_cookie_is_http_only_and_strict_and_sign_out_ends_it(site, new_visitor):
    visitor = new_visitor("admin")
    cookie = next(c for c in visitor.context.cookies() if c["name"] == "tariff_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert site.keys["admin"] not in cookie["value"]
    page = visitor.page
    page.goto("/admin")
    expect(page.locator("#audit-title + .status")).to_contain_text("Chain verified")
    expect(page.locator("table")).to_contain_text("Ann Broker")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fadmin$"))
