"""JL-A2 in the browser: the Content-Security-Policy holds and the portal still works under it.

Every e2e test fails on a CSP violation (tests/e2e/conftest.py), so the countdown (a static file now)
is checked under the policy by the consultation walk-through; here the API reference (Redoc, with
its own relaxed style policy) and the listener itself, which must catch a violation.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import CSP_LISTENER, CSP_VIOLATION_PREFIX

pytestmark = [pytest.mark.e2e]


def test_jl_a2_the_api_reference_renders_under_its_policy(page: Page, live_portal: str):
    """…and asks nothing of the internet (issue 14: Redoc's footer logo came from Redocly's CDN)."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/docs/")
    expect(page.locator("redoc h1")).to_contain_text("吉林省远程医疗服务平台 API", timeout=60_000)
    expect(page.get_by_text("API docs by Redocly")).to_be_visible()
    outside = [url for url in requested if not url.startswith((live_portal, "blob:", "data:"))]
    assert requested and outside == []


def test_jl_a2_an_injected_inline_script_is_blocked_and_reported(chromium: Browser, live_portal: str):
    context = chromium.new_context(base_url=live_portal)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.goto("/login/")
    with page.expect_console_message(lambda message: message.text.startswith(CSP_VIOLATION_PREFIX)) as report:
        ran = page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
            " document.body.appendChild(s); return window.__ran === 1; }"
        )
    text = report.value.text
    context.close()
    assert ran is False
    assert "script-src" in text and "inline" in text
