"""The real-browser tests: one headless Chromium per session, a fresh browser context per test.

The portal runs under pytest-django's ``live_server`` (static files through Django's
``StaticFilesHandler``, so the stylesheet loads without collectstatic) with the demonstration
network of ``manage.py seed_demo`` loaded anew for every test. The live server reads what the test
wrote, so the database is transactional; the rollback is serialized because the divisions and
service types come from data migrations and must survive the flush.

Playwright's own browser download is not used: we drive Debian's Chromium, and every e2e test is
skipped, with the reason, where there is none.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from facilities.demo_data import DEMO_PASSWORD, FACILITIES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
CSP_VIOLATION_PREFIX = "CSP violation:"
# Blocked as they should be: Redoc's sidebar shows its maker's logo from a CDN, which the policy stops
# (nothing loads from outside); the page works without it.
CSP_EXPECTED_BLOCKS = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)
# Installed by Playwright in every page before the page's own scripts (not subject to its policy).
CSP_LISTENER = (
    "document.addEventListener('securitypolicyviolation', function (e) {"
    " console.error('" + CSP_VIOLATION_PREFIX + " ' + e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline')"
    " + ' at ' + e.sourceFile + ':' + e.lineNumber); });"
)
BRAND_COLOUR = "rgb(13, 92, 117)"  # .topbar background in portal.css: proof the stylesheet applied


def _chromium_executable() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="package")
def chromium(django_db_setup) -> Iterator[Browser]:
    """One Playwright and one Chromium for all the e2e tests of a run.

    Playwright's sync API leaves its asyncio loop marked as running on this thread while it is up.
    Django takes that for async code, with two consequences handled here:

    - it refuses database calls from this thread (seeding, the flush): they are not async, so
      ``DJANGO_ALLOW_ASYNC_UNSAFE`` allows them while the browser is up, and only then;
    - ``django.db.connections`` is thread-critical: with a loop running it hands out a second set
      of connection objects, without the serialized contents that pytest-django's setup keeps
      for the rollback (so reference data from data migrations would be lost after the first
      e2e test). The connections made by the test database setup are carried over, so the test
      code and the live server keep using them.

    Package scope, not session, so the loop is gone as soon as the last e2e test is done (they
    are all transactional, so pytest-django keeps them together) and the rest of the suite runs
    as it would without a browser.
    """
    executable = _chromium_executable()
    if executable is None:
        pytest.skip(f"e2e: no Chromium at {CHROMIUM} or on PATH")
    test_connections = {alias: connections[alias] for alias in connections}
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        for alias, connection in test_connections.items():
            connections[alias] = connection
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_portal(chromium, live_server, transactional_db, django_db_serialized_rollback) -> str:
    """The portal's base URL, with the demonstration network loaded (``seed_demo`` prints; fine)."""
    call_command("seed_demo")
    return live_server.url


@pytest.fixture
def month_ended(live_portal: str) -> Iterator[None]:
    """The demo's month has ended: the clock moves to 02:00 on the 1st of the next month, Beijing
    time (when beat drafts), and the demo's month end runs: its statement is drafted (JL-B4: only an
    ended month) and 农安's finance officer confirms it. Request it before ``page``, whose browser
    clock then follows."""
    import time_machine

    from billing import demo as billing_demo
    from billing import rules as billing_rules
    from facilities.models import Facility

    month = billing_rules.month_of(timezone.now())
    with time_machine.travel(billing_rules.period_bounds(month)[1] + dt.timedelta(hours=2), tick=True):
        facilities = {spec.key: Facility.objects.get(name=spec.name) for spec in FACILITIES}
        billing_demo.seed_month_end(facilities=facilities)
        yield


# Issue 12: the days of work are seen in Chinese and in English on a hospital PC, and in Chinese on
# a phone (390 px wide). A test that takes the ``look`` fixture runs once per look.
LOOKS = {"zh-desktop": ("zh-hans", 1366, 900), "en-desktop": ("en", 1366, 900), "zh-phone": ("zh-hans", 390, 844)}


@pytest.fixture(params=list(LOOKS))
def look(request) -> dict:
    language, width, height = LOOKS[request.param]
    return {"name": request.param, "language": language, "width": width, "height": height}


@pytest.fixture
def page(request, chromium: Browser, live_portal: str) -> Iterator[Page]:
    """A fresh context per test: Chinese locale, Beijing time, a common hospital-PC screen.

    A static file that fails to load fails the test: a page without its stylesheet is broken. So does
    any Content-Security-Policy violation (JL-A2): an inline script or handler, an inline style, or
    anything from another origin that the policy blocks — reported by the page's
    ``securitypolicyviolation`` event and by Chromium's console.
    """
    chosen = request.getfixturevalue("look") if "look" in request.fixturenames else None
    context = chromium.new_context(
        base_url=live_portal,
        locale="en-US" if chosen and chosen["language"] == "en" else "zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": chosen["width"], "height": chosen["height"]} if chosen else {"width": 1366, "height": 900},
        is_mobile=bool(chosen and chosen["width"] < 640),
        has_touch=bool(chosen and chosen["width"] < 640),
    )
    if chosen:  # the portal is Chinese first; English is the reader's choice (the language cookie)
        context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": chosen["language"], "url": live_portal}])
    context.set_default_timeout(10_000)
    failed_assets: list[str] = []

    def note_failed_asset(response) -> None:
        if "/static/" in response.url and response.status >= 400:
            failed_assets.append(f"{response.status} {response.url}")

    context.on("response", note_failed_asset)
    csp_violations: list[str] = []

    def note_csp_violation(message) -> None:
        text = message.text
        if any(blocked in text for blocked in CSP_EXPECTED_BLOCKS):
            return
        if text.startswith(CSP_VIOLATION_PREFIX) or "Content Security Policy" in text:
            csp_violations.append(f"{message.page.url if message.page else '?'}: {text}")

    context.on("console", note_csp_violation)
    context.add_init_script(CSP_LISTENER)
    # The browser keeps the portal's clock (the test's frozen "now", or --clock), so that live
    # countdowns computed in JavaScript agree with the due times the server rendered.
    context.clock.install(time=timezone.now())
    page = context.new_page()
    yield page
    context.close()
    assert not failed_assets, f"static files failed to load: {failed_assets}"
    assert not csp_violations, f"JL-A2: Content-Security-Policy violations: {csp_violations}"


def totp_code(username: str) -> str:
    """The code the user's authenticator shows now, from their device (django-otp, this process)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user__username=username).order_by("-id").first()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    # A code is good once (django-otp keeps the last step used, JL-A2): a second sign-in of the same user
    # within one 30-second step types the next step's code, which the device's tolerance accepts.
    if device.last_t is not None and device.last_t >= totp.t():
        totp.time += device.step * (device.last_t - totp.t() + 1)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def login():
    """``login(page, username)``: sign in through the form with the demo password, land on 首页.
    A privileged demo login (regulator, facility administrator, one of the three administrators) is asked for its TOTP code
    next (JL-A2, 8.1.4.1 d): the fixture types the one its device shows now."""

    def sign_in(page: Page, username: str) -> None:
        page.goto("/login/")
        # By the inputs' names, so that the same sign-in works in either language.
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(DEMO_PASSWORD)
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
        if "/login/verify/" in page.url:
            page.locator("input[name=otp_token], input[autocomplete=one-time-code]").first.fill(totp_code(username))
            page.locator("main form button[type=submit]").first.click()
        expect(page).to_have_url(re.compile(r"://[^/]+/$"))  # 首页 itself, not /login/verify/
        expect(page.locator(".user-name")).to_be_visible()
        expect(page.locator(".topbar")).to_have_css("background-color", BRAND_COLOUR)

    return sign_in


@pytest.fixture
def shot(request):
    """``shot(page, name)``: a full-page PNG at tests/e2e/screenshots/<test>/<name>.png (gitignored)."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)

    def take(page: Page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
