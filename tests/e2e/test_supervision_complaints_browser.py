"""JL-O6 complaints in Chromium, all three sides.

- The patient's son, with no account, finds the complaint form from the sign-in page, files a
  complaint about 吉林大学第一医院 naming the case (a number of another facility is refused without
  saying whether it exists), gets a case number and follows it with the last four digits of his phone.
- 吉大一院's coordinator (唐予诺) is notified, acknowledges, records the investigation (internal) and
  answers with the finding (an answer without a finding is refused, the text kept); the patient then
  reads the answer — and nothing of the investigation.
- 长春市卫生健康委 (the city over 朝阳区) is notified, reads every step and adds its note; the
  facility cannot add regulators' notes; the substantiated finding counts against the facility (its
  page, linked from the complaint, counts the year's; its complaints list keeps the facility filter).
- A complaint received by phone is entered by the coordinator (staff entry).
- JL-O1: 农安县 and 延边州's regulators get a 404 for the complaint and do not list it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from audit.complaint_models import Complaint
from consultations.choices import ConsultationState
from consultations.models import Consultation, Notification
from tests.e2e.supervision import fact, flash, looked, nav, not_found, switch

pytestmark = [pytest.mark.e2e]

TEXT = "我父亲的远程会诊意见书写明一周后复查，但医院一直没有人联系我们安排复查，电话也打不通。"
INVESTIGATION = "经查，随访登记漏录，已由呼吸内科补录并电话联系患者家属。"
ANSWER = "您反映的情况属实。随访登记漏录，我院已于今日电话联系您安排复查，并向您致歉。"
NOTE = "请医院整改随访登记流程，并在下月质控中报告整改情况。"


def section(page: Page, heading: str):
    return page.locator("section.card", has=page.get_by_role("heading", level=2, name=heading, exact=True))


def test_jl_o6_a_complaint_from_the_public_form_to_the_answer_on_all_sides(page: Page, login, shot):
    case = Consultation.objects.filter(state=ConsultationState.CLOSED, invited__name="吉林大学第一医院").order_by("pk").first()
    elsewhere = Consultation.objects.filter(invited__name="延边大学附属医院").first()

    # --- The patient's side: no account --------------------------------------------------------
    page.goto("/login/")
    page.get_by_role("link", name="投诉远程医疗服务").click()
    expect(page).to_have_url(re.compile(r"/public/complaints/new/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("远程医疗服务投诉")
    page.get_by_label("被投诉的医疗机构").select_option(label="吉林大学第一医院")
    page.get_by_label("远程医疗申请编号（选填）").fill(elsewhere.number)
    page.get_by_label("投诉人姓名").fill("孙立")
    page.get_by_label("联系电话").fill("139-0431-5678")
    page.get_by_label("与患者关系").select_option(label="患者家属")
    page.get_by_label("投诉内容").fill(TEXT)
    page.get_by_role("button", name="提交投诉").click()
    expect(page.locator(".alert-error")).to_contain_text("JL-O6: 所选机构没有这个远程医疗申请编号")
    expect(page.get_by_label("投诉内容")).to_have_value(TEXT)
    looked(page, shot, "01-public-form-refused")
    page.get_by_label("远程医疗申请编号（选填）").fill(case.number)
    page.get_by_role("button", name="提交投诉").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("投诉已提交")
    complaint = Complaint.objects.get(text=TEXT)
    expect(page.locator(".tracking-number")).to_have_text(complaint.tracking_number)
    assert complaint.consultation_id == case.pk and complaint.channel == "public_form"
    looked(page, shot, "02-public-case-number")
    page.get_by_role("link", name="查询办理进度").click()
    page.get_by_label("投诉编号").fill(complaint.tracking_number)
    page.get_by_label("联系电话后4位").fill("0000")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_role("alert")).to_contain_text("未找到该投诉")
    page.get_by_label("投诉编号").fill(complaint.tracking_number)
    page.get_by_label("联系电话后4位").fill("5678")
    page.get_by_role("button", name="查询").click()
    expect(fact(page, "办理进度")).to_have_text("已受理")
    looked(page, shot, "03-public-status-received")

    # --- The facility: notified, acknowledges, investigates, answers ----------------------------
    login(page, "coordinator_jdyy")
    assert Notification.objects.filter(user__username="coordinator_jdyy", link=f"/records/complaints/{complaint.pk}/").exists()
    nav(page, "投诉办理")
    row = page.locator("table tbody tr", has_text=complaint.tracking_number)
    expect(row).to_contain_text("网上投诉")
    expect(row).to_contain_text("已受理")
    looked(page, shot, "04-facility-list")
    row.get_by_role("link", name=complaint.tracking_number).click()
    expect(fact(page, "远程医疗申请编号")).to_have_text(case.number)
    expect(fact(page, "联系电话")).to_have_text("139****5678")  # JL-C9: masked
    expect(section(page, "监管意见")).to_have_count(0)  # the regulators' act
    looked(page, shot, "05-facility-detail-received")
    section(page, "确认收到").get_by_role("button", name="确认收到").click()
    expect(flash(page)).to_contain_text("已办理：确认收到。")
    expect(fact(page, "状态")).to_have_text("已确认收到")
    investigate = section(page, "记录调查情况")
    investigate.get_by_label(re.compile("调查情况")).fill(INVESTIGATION)
    investigate.get_by_role("button", name="记录调查情况").click()
    expect(fact(page, "状态")).to_have_text("调查中")
    answer = section(page, "答复并认定")
    answer.get_by_label(re.compile("给投诉人的答复")).fill(ANSWER)
    answer.get_by_role("button", name="答复并认定").click()
    expect(page.locator(".alert-error")).to_contain_text("须认定投诉是否属实")
    answer = section(page, "答复并认定")
    expect(answer.get_by_label(re.compile("给投诉人的答复"))).to_have_value(ANSWER)
    looked(page, shot, "06-facility-answer-refused")
    answer.get_by_label("认定").select_option(label="属实")
    answer.get_by_role("button", name="答复并认定").click()
    expect(flash(page)).to_contain_text("已办理：答复并认定。")
    expect(fact(page, "状态")).to_have_text("已答复（办结）")
    expect(fact(page, "认定")).to_have_text("属实")
    expect(page.locator("section.card form")).to_have_count(0)  # nothing left for the facility to do
    looked(page, shot, "07-facility-answered")

    # --- The city regulator: notified, reads the steps, adds a note -----------------------------
    switch(page, login, "reg_changchun")
    assert Notification.objects.filter(user__username="reg_changchun", link=f"/records/complaints/{complaint.pk}/").exists()
    nav(page, "投诉办理")
    page.locator("table tbody tr", has_text=complaint.tracking_number).get_by_role("link").click()
    steps = page.locator("table tbody tr")
    expect(steps).to_have_count(4)
    expect(steps.nth(2)).to_contain_text(INVESTIGATION)
    detail_url = page.url
    # The finding counts against the facility: its page lists the year's substantiated complaints and
    # leads back to its complaints (the list keeps the facility across its filter).
    fact(page, "被投诉机构").get_by_role("link", name="吉林大学第一医院").click()
    expect(fact(page, "经查属实的投诉（JL-O6）")).to_contain_text("年 2 件")  # the demo's answered one and this one
    fact(page, "经查属实的投诉（JL-O6）").get_by_role("link", name="投诉办理").click()
    expect(page.locator(".filter-scope")).to_contain_text("机构：吉林大学第一医院")
    page.locator("select[name=state]").select_option("answered")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"facility=\d+.*state=answered|state=answered.*facility=\d+"))
    expect(page.locator("table tbody tr", has_text=complaint.tracking_number)).to_have_count(1)
    looked(page, shot, "08a-city-facility-complaints")
    page.goto(detail_url)
    note = section(page, "监管意见")
    note.get_by_label(re.compile("监管意见")).fill(NOTE)
    note.get_by_role("button", name="监管意见").click()
    expect(flash(page)).to_contain_text("已办理：监管意见。")
    expect(steps.last).to_contain_text(NOTE)
    expect(steps.last).to_contain_text("（监管部门）")
    looked(page, shot, "08-city-note")

    # --- The patient reads the answer, not the investigation ------------------------------------
    page.context.clear_cookies()
    page.goto("/public/complaints/status/")
    page.get_by_label("投诉编号").fill(complaint.tracking_number.lower())
    page.get_by_label("联系电话后4位").fill("5678")
    page.get_by_role("button", name="查询").click()
    expect(fact(page, "办理进度")).to_have_text("已答复（办结）")
    expect(page.locator(".complaint-answer")).to_have_text(ANSWER)
    expect(page.get_by_text(INVESTIGATION)).to_have_count(0)
    expect(page.get_by_text(NOTE)).to_have_count(0)
    looked(page, shot, "09-public-status-answered")

    # --- A complaint by phone, entered by the facility ------------------------------------------
    login(page, "coordinator_jdyy")
    nav(page, "投诉办理")
    page.get_by_role("link", name="登记电话或来访投诉").click()
    page.get_by_label("被投诉的医疗机构").select_option(label="吉林大学第一医院")
    page.get_by_label("投诉人姓名").fill("王红")
    page.get_by_label("联系电话").fill("13604310001")
    page.get_by_label("与患者关系").select_option(label="患者本人")
    page.get_by_label("投诉内容").fill("电话投诉：远程门诊预约后等待时间过长。")
    looked(page, shot, "10-facility-staff-entry")
    page.get_by_role("button", name="登记").click()
    expect(flash(page)).to_contain_text("已登记投诉，编号")
    expect(fact(page, "渠道")).to_have_text("电话或来访登记")

    # --- JL-O1: regulators of other divisions ----------------------------------------------------
    for outsider in ("reg_nongan", "reg_yanbian"):
        switch(page, login, outsider)
        not_found(page, f"/records/complaints/{complaint.pk}/")
        nav(page, "投诉办理")
        expect(page.get_by_text(complaint.tracking_number)).to_have_count(0)
    looked(page, shot, "11-other-county-list")
