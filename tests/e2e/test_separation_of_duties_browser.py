"""JL-A2 in a real browser (GB/T 22239-2019 8.1.4.1 b and 8.1.4.2 d, 三员分立): a clinician locks
themselves out with five wrong passwords and sees the Chinese lockout message; the security
administrator (secadmin, with its TOTP step) releases the account, with a reason — which frees the
ward PC's address too, whose failures were all this account's; the clinician signs in.

Each side has its own address (``X-Forwarded-For`` through a trusted proxy, as behind the portal's
TLS proxy), so that the lock on the ward PC does not stop the security administrator.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from audit.models import AuditEvent
from facilities.demo_data import DEMO_PASSWORD, SECURITY_ADMIN_LOGIN

pytestmark = pytest.mark.e2e

USERNAME = "clinician_nongan"
WARD_PC = "10.20.1.15"
SECURITY_DESK = "10.30.0.2"


def password_attempt(page: Page, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("用户名").fill(USERNAME)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_jl_a2_a_locked_out_user_sees_the_message_and_the_security_administrator_unlocks(
    page: Page, chromium: Browser, live_portal: str, login, settings, shot
):
    settings.TELEMED_TRUSTED_PROXIES = ("127.0.0.1/32",)
    page.context.set_extra_http_headers({"X-Forwarded-For": WARD_PC})

    for attempt in range(5):
        password_attempt(page, f"wrong-Pass-{attempt}")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("JL-A2 等保三级 8.1.4.1: 登录失败次数过多")
    expect(alert).to_contain_text("请稍后再试，或联系安全管理员解锁")
    expect(page.get_by_role("heading", name="登录已锁定")).to_be_visible()
    shot(page, "locked-out")
    password_attempt(page, DEMO_PASSWORD)  # the right password does not help while locked
    expect(page.get_by_role("heading", name="登录已锁定")).to_be_visible()

    desk = chromium.new_context(base_url=live_portal, locale="zh-CN", timezone_id="Asia/Shanghai",
                                extra_http_headers={"X-Forwarded-For": SECURITY_DESK})
    try:
        admin_page = desk.new_page()
        login(admin_page, SECURITY_ADMIN_LOGIN)  # password, then the TOTP code (JL-A2 d)
        admin_page.get_by_role("link", name="登录锁定").first.click()
        expect(admin_page.get_by_role("heading", name="登录锁定")).to_be_visible()
        expect(admin_page.get_by_role("row").filter(has_text=WARD_PC)).to_be_visible()  # the ward PC's address too
        shot(admin_page, "lockouts")
        row = admin_page.get_by_role("row").filter(has_text=USERNAME)
        row.get_by_label("解锁理由").fill("本人来电，核实工号与身份证后解锁")
        row.get_by_role("button", name="解除锁定").click()
        expect(admin_page.get_by_text(f"已解除锁定：{USERNAME}。")).to_be_visible()
        # The address had counted only this account's failures: releasing the account frees it too.
        expect(admin_page.get_by_text("当前没有被锁定的账号或地址。")).to_be_visible()
        shot(admin_page, "released")
    finally:
        desk.close()

    password_attempt(page, DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".user-name")).to_be_visible()
    unlocks = AuditEvent.objects.filter(event_type="auth.unlock", outcome="success", actor__username=SECURITY_ADMIN_LOGIN)
    assert list(unlocks.values_list("details__reason", flat=True)) == ["本人来电，核实工号与身份证后解锁"]
