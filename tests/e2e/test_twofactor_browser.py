"""JL-A2 (GB/T 22239-2019 8.1.4.1 d) in a real browser: a regulator without a device enrols TOTP,
signs out, and signs in again with a code; a wrong code is refused in Chinese.

The clock is moved with time-machine (a new 30-second step, past django-otp's throttle), never waited for.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from facilities.demo_data import DEMO_PASSWORD

from .conftest import totp_code

pytestmark = pytest.mark.e2e

USERNAME = "reg_nongan"


def later(seconds: int):
    return time_machine.travel(timezone.now() + dt.timedelta(seconds=seconds), tick=True)


def password_step(page: Page) -> None:
    page.goto("/login/")
    page.get_by_label("用户名").fill(USERNAME)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_jl_a2_regulator_enrols_totp_signs_out_and_signs_in_with_the_code(page: Page, shot):
    TOTPDevice.objects.filter(user__username=USERNAME).delete()  # a regulator without a device

    password_step(page)
    expect(page).to_have_url(re.compile(r"/login/enrol/"))
    expect(page.get_by_role("heading", name="绑定身份验证器")).to_be_visible()
    qr = page.get_by_role("img", name="身份验证器二维码")
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    assert qr.evaluate("img => img.naturalWidth") > 0  # drawn, from the page itself
    expect(page.locator(".otp-secret")).not_to_be_empty()
    shot(page, "enrol")
    page.get_by_label("动态码").fill(totp_code(USERNAME))
    page.get_by_role("button", name="完成绑定").click()
    expect(page.get_by_role("heading", name="身份验证器已绑定")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    shot(page, "recovery-codes")
    page.get_by_role("link", name="我已保存，继续").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".user-name")).to_be_visible()

    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login/"))

    with later(60):
        password_step(page)
        expect(page).to_have_url(re.compile(r"/login/verify/"))
        page.get_by_label("动态码").fill("000000" if totp_code(USERNAME) != "000000" else "111111")
        page.get_by_role("button", name="验证").click()
        expect(page.get_by_role("alert")).to_contain_text("JL-A2")
        expect(page.get_by_role("alert")).to_contain_text("动态码不正确")
        shot(page, "wrong-code")
        with later(10):  # past django-otp's short throttle after the wrong code
            page.get_by_label("动态码").fill(totp_code(USERNAME))
            page.get_by_role("button", name="验证").click()
            expect(page).to_have_url(re.compile(r"/$"))
            expect(page.locator(".user-name")).to_be_visible()
