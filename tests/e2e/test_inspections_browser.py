"""JL-O6 双随机一公开 in Chromium: 长春市's regulator plans a random inspection, is refused a draw the
roster cannot staff (an inspector never inspects the facility they work at), draws, verifies the draw
from its seed, enters the result and publishes; 农安县人民医院 reads its result and reports the
rectification; an anonymous visitor reads the published result and the credit record without signing in.

The demo roster of 长春市 (facilities/demo_data.py ``INSPECTORS``): 林沐川 (works at 吉大一院), 许星澜
(works at 农安县人民医院) and 农安县卫生健康局's regulator (no facility). A plan over 二级综合医院 of 长春市
can only draw 农安县人民医院, so the eligible inspectors are exactly two.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.inspection_models import InspectionPlan
from audit.models import AuditEvent

pytestmark = [pytest.mark.e2e]


def new_plan(page: Page, title: str, inspectors: int) -> None:
    today = timezone.localdate()
    page.goto("/records/inspections/")
    form = page.locator("form.card")
    form.get_by_label("计划名称").fill(title)
    form.get_by_label("综合医院", exact=True).check()
    form.get_by_label("二级", exact=True).check()
    form.get_by_label("抽查机构数").fill("1")
    form.get_by_label("每个机构检查人员数").fill(str(inspectors))
    form.get_by_label("检查开始日期").fill(today.isoformat())
    form.get_by_label("检查截止日期").fill((today + dt.timedelta(days=30)).isoformat())
    form.get_by_role("button", name="制定计划").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def test_jl_o6_regulator_draws_enters_and_publishes_facility_rectifies_public_reads(page: Page, login, shot):
    login(page, "reg_changchun")
    page.get_by_role("link", name="随机抽查").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("双随机一公开：随机抽查")
    shot(page, "01-plans")

    # Three inspectors per facility: 许星澜 works at 农安 and stands aside, so only two are eligible.
    new_plan(page, "农安县二级医院专项抽查（人员不足）", 3)
    page.get_by_role("button", name="随机抽取").click()
    expect(page.locator(".message-error")).to_contain_text("JL-O6")
    expect(page.get_by_text(re.compile("回避"))).to_be_visible()
    shot(page, "02-draw-refused")
    assert AuditEvent.objects.filter(event_type="inspection.refuse").exists()

    new_plan(page, "农安县二级医院专项抽查", 2)
    page.get_by_role("button", name="随机抽取").click()
    plan = InspectionPlan.objects.get(title="农安县二级医院专项抽查")
    expect(page.locator("code.seed")).to_have_text(plan.seed)
    expect(page.get_by_role("link", name="农安县人民医院")).to_be_visible()
    page.get_by_role("link", name="核验抽取结果").click()
    expect(page.locator("#verify-result")).to_contain_text("核验一致")
    shot(page, "03-drawn-verified")

    # The result, then publication.
    page.get_by_role("link", name="农安县人民医院").click()
    page.get_by_label("检查结论").select_option("minor")
    page.get_by_label(re.compile("检查结果摘要")).fill("远程会诊知情同意书存档不全。")
    page.get_by_label(re.compile("检查发现")).fill("抽查10份病历，2份知情同意书未扫描存档。")
    page.get_by_label(re.compile("整改要求")).fill("补齐知情同意书存档，完善归档核查制度。")
    page.get_by_label("整改期限").fill((timezone.localdate() + dt.timedelta(days=15)).isoformat())
    page.get_by_role("button", name="登记结果").click()
    expect(page.locator("#result-state")).to_contain_text("整改中")
    shot(page, "04-result-entered")
    page.goto(f"/records/inspections/{plan.pk}/")
    page.get_by_role("button", name="公开抽查结果").click()
    expect(page.get_by_role("link", name="查看公开页面")).to_be_visible()
    shot(page, "05-published")

    # The facility reads its result and reports the rectification.
    page.context.clear_cookies()
    login(page, "coordinator_nongan")
    page.get_by_role("link", name="随机抽查").first.click()
    page.get_by_role("link", name="农安县人民医院").first.click()
    expect(page.get_by_text("补齐知情同意书存档")).to_be_visible()
    page.get_by_label("整改情况").fill("已补齐全部知情同意书扫描件，建立每周归档核查。")
    page.get_by_role("button", name="提交整改情况").click()
    expect(page.locator("#result-state")).to_contain_text("已整改")
    shot(page, "06-rectified")

    # Anyone, without an account.
    page.context.clear_cookies()
    page.goto("/public/inspections/")
    expect(page.get_by_role("link", name="农安县二级医院专项抽查")).to_be_visible()
    expect(page.get_by_text("农安县二级医院专项抽查（人员不足）")).to_have_count(0)  # never drawn, never published
    page.get_by_role("link", name="农安县二级医院专项抽查").click()
    expect(page.get_by_text("远程会诊知情同意书存档不全。")).to_be_visible()
    expect(page.get_by_text("已整改")).to_be_visible()
    expect(page.get_by_text("2份知情同意书未扫描存档")).to_have_count(0)  # the findings detail stays inside
    page.get_by_role("link", name="核验抽取结果").click()
    expect(page.locator("#verify-result")).to_contain_text("核验一致")
    shot(page, "07-public-inspection")
    page.get_by_role("link", name="农安县人民医院").first.click()
    expect(page.locator("#credit-grade")).to_have_text(re.compile("^[ABCD]$"))
    expect(page.get_by_text(re.compile("随机抽查“农安县二级医院专项抽查”"))).to_be_visible()
    shot(page, "08-public-credit")
