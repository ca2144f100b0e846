"""The facilities pages clicked through in Chromium, as the demo network's people would use them.

Each test signs in as one demo login (facilities/demo_data.py), follows the navigation rather than
typing URLs where a user would click, and asserts on what is on the screen.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from facilities.models import Facility

pytestmark = [pytest.mark.e2e]

NONGAN = "农安县人民医院"
PENDING = "敦化市大石头镇中心卫生院"
SUSPENDED = "梨树县第一人民医院"


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=label, exact=True).click()


def check(page: Page, rule: str):
    """The check list item citing ``rule`` (the first, where a page lists several)."""
    return page.locator("li.check").filter(has=page.locator(".check-rule", has_text=rule)).first


def test_facility_admin_walks_facilities_agreements_and_physicians(page: Page, login, shot):
    login(page, "admin_nongan")
    expect(page.get_by_role("heading", level=1)).to_have_text("您好，郑楚然")
    my_facilities = page.locator("section.card", has=page.get_by_role("heading", name="我的机构"))
    expect(my_facilities.get_by_role("row", name=re.compile(NONGAN))).to_contain_text("机构管理员")
    expect(my_facilities.get_by_role("row", name=re.compile(NONGAN))).to_contain_text("可开展")
    shot(page, "01-home")

    # 医疗机构: the hospital sees itself and the two hospitals it has agreements with, and filters.
    nav(page, "医疗机构")
    expect(page).to_have_url(re.compile(r"/facilities/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("医疗机构")
    rows = page.locator("table.table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_role("link", name="吉林大学第一医院")).to_be_visible()
    page.get_by_label("级别", exact=True).select_option(label="二级")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"level=2"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(NONGAN)
    shot(page, "02-facility-list-filtered")

    page.get_by_role("link", name=NONGAN).click()
    expect(page).to_have_url(re.compile(r"/facilities/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(NONGAN)
    for rule in ("JL-F1", "JL-F5"):
        expect(check(page, rule)).to_have_class(re.compile(r"\bcheck-pass\b"))
        expect(check(page, rule).locator(".visually-hidden")).to_have_text("符合")
    expect(check(page, "JL-F1")).to_contain_text("第十条、第十三条")
    expect(check(page, "JL-F5")).to_contain_text("第三十四条")
    # Not suspended (JL-F5); the one alert is the demo's JL-O3 accountability flag (不合格 two years running).
    expect(page.locator(".alert-error")).to_have_count(1)
    expect(page.locator("#evaluation-accountability")).to_contain_text("JL-O3")
    shot(page, "03-facility-detail")

    # 医务人员: only people registered here. Another hospital's physician is out of scope.
    nav(page, "医务人员")
    expect(page).to_have_url(re.compile(r"/facilities/physicians/$"))
    expect(page.locator("table.table tbody tr")).to_have_count(5)
    page.get_by_label("姓名或执业证书编码").fill("杜衡之")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_text("没有符合条件的医务人员。")).to_be_visible()
    page.get_by_label("姓名或执业证书编码").fill("陈予墨")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("table.table tbody tr")).to_have_count(1)
    shot(page, "04-physician-list")

    # A resident may attend for the inviting side but never act as an invited expert (JL-P4).
    page.get_by_role("link", name="陈予墨").click()
    expect(page).to_have_url(re.compile(r"/facilities/physicians/\d+/$"))
    expect(page.get_by_role("heading", level=1).locator(".subtitle")).to_have_text("医师")  # 住院医师
    as_expert, as_attending = page.locator(".grid-2 > div").all()
    failing = as_expert.locator("li.check-fail")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("JL-P4")
    expect(failing).to_contain_text("第十四条第四项")
    expect(failing).to_contain_text("不符合")
    expect(as_attending.locator("li.check-fail")).to_have_count(0)
    shot(page, "05-physician-resident")

    # 合作协议: the hospital's two agreements; the one with 吉大一院 covers all six services.
    nav(page, "合作协议")
    expect(page).to_have_url(re.compile(r"/facilities/agreements/$"))
    expect(page.get_by_role("link", name="JLYC-DEMO-001")).to_be_visible()
    expect(page.get_by_role("link", name="JLYC-DEMO-002")).to_be_visible()
    shot(page, "06-agreement-list")
    page.get_by_role("link", name="JLYC-DEMO-001").click()
    expect(page).to_have_url(re.compile(r"/facilities/agreements/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("JLYC-DEMO-001")
    expect(page.get_by_role("heading", level=1)).to_contain_text("有效")
    expect(page.locator("dl.facts")).to_contain_text("邀请方 3 : 受邀方 7")
    expect(page.locator("li.check-fail")).to_have_count(0)
    expect(page.get_by_role("link", name="终止协议")).to_be_visible()
    shot(page, "07-agreement-detail")


def test_facility_admin_sees_why_a_deliberately_unqualified_physician_fails(page: Page, login, shot):
    """杜衡之's certificate ran out last 30 June (JL-P1); every other condition is met.

    The demo's deliberately unqualified physicians all work at 吉林大学第一医院, so it is that
    hospital's administrator who finds them: 农安's administrator cannot (see the test above).
    """
    login(page, "admin_jdyy")
    nav(page, "医务人员")
    page.get_by_label("姓名或执业证书编码").fill("杜衡之")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"[?&]q=\S+"))
    page.get_by_role("link", name="杜衡之").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("杜衡之")
    as_expert, as_attending = page.locator(".grid-2 > div").all()
    for role in (as_expert, as_attending):
        failing = role.locator("li.check-fail")
        expect(failing).to_have_count(1)
        expect(failing.locator(".check-rule")).to_have_text("JL-P1")
        expect(failing.locator(".check-article")).to_have_text("第十四条第一项")
        expect(failing).to_contain_text(f"执业证书有效期至 {timezone.localdate().year - 1}-06-30")
    expect(as_expert.locator("li.check-pass")).to_have_count(5)
    shot(page, "01-physician-certificate-expired")


def test_provincial_regulator_approves_the_pending_accreditation(page: Page, login, shot):
    login(page, "reg_province")
    pending = page.get_by_role("link", name=re.compile("待审核的评估验收申请"))
    expect(pending.locator(".stat-value")).to_have_text("1")
    shot(page, "01-home")

    nav(page, "评估验收")
    expect(page).to_have_url(re.compile(r"/facilities/applications/$"))
    page.get_by_label("状态").select_option(label="待审核")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("table.table tbody tr")).to_have_count(1)
    shot(page, "02-application-list-pending")
    page.get_by_role("link", name=PENDING).click()

    expect(page).to_have_url(re.compile(r"/facilities/applications/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("待审核")
    expect(page.locator("li.check-pass")).to_have_count(7)
    shot(page, "03-application-detail")
    page.get_by_label("通过", exact=True).check()
    page.get_by_label("审核意见").fill("（演示）七项条件材料齐全，现场评估合格。")
    page.get_by_role("button", name="提交审核结论").click()

    expect(page.get_by_role("status")).to_contain_text("评估验收申请已通过。")
    expect(page.get_by_role("heading", level=1)).to_contain_text("已通过")
    expect(page.get_by_role("button", name="提交审核结论")).to_have_count(0)
    shot(page, "04-application-approved")

    page.get_by_role("heading", level=1).get_by_role("link", name=PENDING).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PENDING)
    expect(check(page, "JL-F1")).to_have_class(re.compile(r"\bcheck-pass\b"))
    expect(page.locator("dl.facts")).to_contain_text("已通过")
    shot(page, "05-facility-now-approved")

    # 暂停与恢复: 梨树's suspension is open; only Siping's commission (its licensing body) lifts it.
    nav(page, "暂停与恢复")
    expect(page).to_have_url(re.compile(r"/facilities/suspensions/$"))
    row = page.get_by_role("row", name=re.compile(SUSPENDED))
    expect(row).to_contain_text("暂停中")
    expect(row).to_contain_text("四平市")
    expect(row.get_by_role("link", name="解除暂停")).to_have_count(0)
    shot(page, "06-suspension-list")


def test_city_regulator_cannot_open_a_facility_of_another_city(page: Page, login, shot):
    """JL-O1: Yanbian's commission regulates Yanbian; 农安 (Changchun) is not found, not forbidden."""
    nongan_url = f"/facilities/{Facility.objects.get(name=NONGAN).pk}/"
    login(page, "reg_yanbian")
    nav(page, "医疗机构")
    expect(page.get_by_role("link", name="延边大学附属医院")).to_be_visible()
    expect(page.get_by_role("link", name=NONGAN)).to_have_count(0)
    shot(page, "01-facility-list")

    response = page.goto(nongan_url)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("未找到该页面")
    expect(page.get_by_text("未找到该对象，或它不在您的管辖范围内。")).to_be_visible()
    expect(page.get_by_text(NONGAN)).to_have_count(0)
    shot(page, "02-not-found")


def test_language_switch_to_english_and_back(page: Page, login, shot):
    login(page, "admin_nongan")
    nav(page, "医疗机构")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "zh-hans")

    page.get_by_role("button", name="English").click()
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/facilities/$"))  # stays on the page it was switched on
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-current", "true")
    shot(page, "01-english")

    page.get_by_role("button", name="简体中文").click()
    expect(html).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("button", name="简体中文")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("heading", level=1)).to_have_text("医疗机构")
    shot(page, "02-back-to-chinese")


def test_on_a_phone_the_menu_folds_behind_one_button(page: Page, login, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "reg_province")
    menu = page.get_by_role("navigation", name="主导航")
    dashboard = menu.get_by_role("link", name="监管统计", exact=True)
    expect(dashboard).to_be_hidden()
    shot(page, "phone-menu-folded")
    menu.get_by_text("菜单").click()
    expect(dashboard).to_be_visible()
    shot(page, "phone-menu-open")
    dashboard.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("监管统计")
