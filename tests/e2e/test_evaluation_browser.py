"""JL-O3 (art. 45–47) in Chromium: the provincial regulator starts a year's evaluation, adjusts one
grade with a reason and publishes; the facility's administrator then sees its grade. ``seed_demo``
has published the two years before this one already, so the test evaluates the year before those.

Screenshots: tests/e2e/screenshots/<test>/ (looked at when the test was written).
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e]

JDYY = "吉林大学第一医院"


def test_jl_o3_province_runs_adjusts_and_publishes_and_the_facility_sees_its_grade(page: Page, login, shot):
    year = timezone.localdate().year - 3
    login(page, "reg_province")
    page.get_by_role("link", name="年度评价", exact=True).first.click()
    expect(page.locator("h1")).to_contain_text("远程医疗服务年度评价考核")
    page.locator("select[name=division]").select_option("220000")
    page.locator("input[name=year]").fill(str(year))
    page.get_by_role("button", name="计算初评等次").click()
    expect(page.locator("h1")).to_contain_text(f"{year} 年度评价考核")
    expect(page.locator("h1 .badge")).to_have_text("审核中")
    shot(page, "1-provisional-grades")

    page.get_by_role("link", name=JDYY, exact=True).click()
    provisional = page.locator("#evaluation-grade").inner_text()
    page.locator("select[name=grade]").select_option("excellent")
    page.get_by_role("button", name="保存调整").click()
    expect(page.locator(".alert-error")).to_contain_text("调整等次须写明理由")  # JL-O3: the reason is mandatory
    page.locator("select[name=grade]").select_option("excellent")
    page.locator("textarea[name=reason]").fill("全年承担全省远程会诊任务最多，现场复核评为优秀。")
    page.get_by_role("button", name="保存调整").click()
    expect(page.locator("#evaluation-grade")).to_have_text("优秀")
    expect(page.locator("main")).to_contain_text("全年承担全省远程会诊任务最多")
    assert provisional.strip() in page.locator("main").inner_text()  # the provisional grade is kept
    shot(page, "2-adjusted")

    page.locator(".breadcrumb a").nth(1).click()
    page.get_by_role("button", name="公布结果").click()
    expect(page.locator("h1 .badge")).to_have_text("已公布")
    expect(page.get_by_role("button", name="公布结果")).to_have_count(0)
    shot(page, "3-published")
    page.context.clear_cookies()

    login(page, "admin_jdyy")
    page.get_by_role("link", name="年度评价", exact=True).first.click()
    page.get_by_role("link", name=str(year), exact=True).click()
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(1)  # its own result only
    expect(rows.first).to_contain_text(JDYY)
    rows.first.get_by_role("link", name=JDYY).click()
    expect(page.locator("#evaluation-grade")).to_have_text("优秀")
    shot(page, "4-facility-sees-its-grade")
    page.get_by_role("link", name="机构信息").click()
    expect(page.locator("main")).to_contain_text(f"{year}年 优秀")
    shot(page, "5-facility-page")
