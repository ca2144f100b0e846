"""Shared steps of the supervision browser tests (issue 10: JL-O2 quality control, JL-O4 assistance time,
JL-O6 complaints, JL-O7 stop-and-report): each workflow is run by both sides — the regulators at
province, city and county level and the facility (for complaints, also the anonymous patient) — in
one browser, signing out between them."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.days import check_layout


def nav(page: Page, label: str) -> None:
    """Follow a main-menu entry (grouped for regulators, flat for staff)."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()


def switch(page: Page, login, username: str) -> None:
    """Sign out (drop the session) and sign in as ``username`` (TOTP for privileged users: conftest)."""
    page.context.clear_cookies()
    login(page, username)


def fact(scope: Page | Locator, label: str) -> Locator:
    """The ``<dd>`` after the ``<dt>`` reading ``label`` in a facts list."""
    return scope.locator("dt", has_text=re.compile(f"^{re.escape(label)}$")).locator("xpath=following-sibling::dd[1]").first


def flash(page: Page) -> Locator:
    return page.get_by_role("status").first


def not_found(page: Page, path: str) -> None:
    """JL-O1: a record outside the user's division is what a missing id is — a 404, never a 500."""
    response = page.goto(path)
    assert response is not None and response.status == 404, f"{path}: {response.status if response else None}"
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def looked(page: Page, shot, name: str) -> None:
    """Check the layout (no page wider than the screen, no name broken one character per line) and
    keep a screenshot to look at."""
    check_layout(page, name)
    shot(page, name)
