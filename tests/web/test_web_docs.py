"""/docs in a real browser with the network off: Swagger UI and the schema come from this server alone (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: install Debian's chromium package"),
]


def test_docs_render_with_every_other_host_unreachable(site, new_visitor):
    visitor = new_visitor(None)
    page, local, refused = visitor.page, [], []

    def offline(route):
        # The network is off: anything not asked of this server fails, and is recorded.
        if route.request.url.startswith(site.url + "/"):
            local.append(route.request.url.removeprefix(site.url))
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    visitor.context.route("**/*", offline)
    page.goto("/docs")
    ui = page.locator("#swagger-ui .swagger-ui")
    expect(ui.locator(".info .title")).to_contain_text("Tariff")
    operations = ui.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() >= 10
    expect(ui.locator(".opblock-summary-path", has_text=re.compile(r"^/v1/classifications$")).first).to_be_visible()
    # an operation opens with its parameters and example, still without the network
    operations.first.locator(".opblock-summary").click()
    expect(operations.first.locator(".opblock-body")).to_be_visible()
    assert refused == []
    assert {"/docs", "/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-init.js",
            "/openapi.json"} <= set(local)
    assert visitor.errors == []  # no blocked asset, no Content-Security-Policy violation
