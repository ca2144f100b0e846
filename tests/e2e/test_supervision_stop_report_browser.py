"""JL-O7 / JL-F5 (art. 33, 34) in Chromium, both sides: the equipment register and stop-and-report.

- 农安县人民医院's coordinator (高若溪) records a maintenance of the 远程会诊终端 and, when it fails,
  takes it out of service: without a report she is refused; with one, the facility's telemedicine is
  suspended at once (the page says so and links to the report) and its ready draft can no longer be
  sent (JL-F5) — until the lift, after which it can.
- The regulators over 农安 are notified: 长春市 (the licensing one), 农安县 and the province. The county
  follows the report up but cannot lift it; nor can the facility (the lift page shows why).
- The facility follows up; 长春市卫生健康委 lifts the suspension with a reason and the facility is
  told at once; the report is closed (no more follow-up).
- The regulators read the register and its maintenance, without forms; 延边州 gets 404s (JL-O1).
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from consultations.choices import ConsultationState
from consultations.models import Consultation, Notification
from facilities.models import Suspension, TelemedicineAsset
from tests.e2e.supervision import fact, flash, looked, nav, not_found, switch

pytestmark = [pytest.mark.e2e]

REPORT = "会诊终端主板故障，无法进行视频会诊；已联系厂家更换，按第三十四条即时停止远程医疗服务。"
FACILITY_FOLLOW_UP = "厂家已更换主板，终端完成联调测试，视频与影像传输正常，申请恢复。"
COUNTY_FOLLOW_UP = "县卫生健康局已派员现场核查，终端运行正常。"
LIFT_REASON = "经核查，必要设备已修复并通过测试，同意恢复远程医疗服务。"


def test_jl_o7_stop_and_report_from_the_register_to_the_lift_on_both_sides(page: Page, login, shot):
    terminal = TelemedicineAsset.objects.get(facility__name="农安县人民医院", name="远程会诊终端")
    draft = Consultation.objects.filter(inviting__name="农安县人民医院", state=ConsultationState.DRAFT).first()
    today = timezone.localdate().isoformat()

    # --- The facility keeps its register ---------------------------------------------------------
    login(page, "coordinator_nongan")
    nav(page, "设备与软件")
    expect(page.get_by_role("heading", level=1)).to_have_text("远程医疗设备与软件登记")
    expect(page.locator("table tbody tr", has_text="吉林大学第一医院")).to_have_count(0)  # its own register only
    page.get_by_role("link", name="远程会诊终端").click()
    expect(fact(page, "必要设备")).to_have_text("是")
    maintenance = page.locator("form", has=page.locator("input[name=form][value=maintenance]"))
    maintenance.get_by_label("类别").select_option(label="检测校准")
    maintenance.get_by_label("日期").fill(today)
    maintenance.get_by_label("执行人／单位").fill("设备科 王工")
    maintenance.get_by_label("内容").fill("年度检测：摄像头、麦克风、网络带宽。")
    maintenance.get_by_role("button", name="登记维护").click()
    expect(flash(page)).to_contain_text("维护记录已登记。")
    expect(page.locator("table tbody tr").first).to_contain_text("设备科 王工")
    looked(page, shot, "01-facility-maintenance")

    # --- It fails: out of service, which stops the facility's telemedicine at once -----------------
    status = page.locator("form", has=page.locator("input[name=form][value=status]"))
    status.get_by_label("新状态").select_option(label="故障停用")
    status.get_by_role("button", name="变更状态").click()
    expect(page.locator(".alert-error")).to_contain_text("JL-O7 第三十四条")
    looked(page, shot, "02-facility-stop-without-report-refused")
    status = page.locator("form", has=page.locator("input[name=form][value=status]"))
    status.get_by_label("新状态").select_option(label="故障停用")
    status.get_by_label("情况说明").fill(REPORT)
    status.get_by_role("button", name="变更状态").click()
    suspension = Suspension.objects.get(facility__name="农安县人民医院", lifted_at__isnull=True)
    expect(flash(page)).to_contain_text("农安县人民医院 的远程医疗服务已立即暂停，并已报告长春市")
    expect(fact(page, "状态")).to_contain_text("故障停用")
    looked(page, shot, "03-facility-stopped")
    page.get_by_role("link", name="查看暂停报告").click()
    expect(page).to_have_url(re.compile(rf"/facilities/suspensions/{suspension.pk}/$"))
    expect(fact(page, "状态")).to_contain_text("暂停中")
    expect(fact(page, "情况说明")).to_contain_text(REPORT)
    expect(page.get_by_role("link", name="解除暂停")).to_have_count(0)
    looked(page, shot, "04-facility-report")

    # New requests stop at once (JL-F5): the ready draft says why and no longer offers to send.
    page.goto(f"/consultations/{draft.pk}/")
    expect(page.get_by_text("JL-F5 第三十四条：暂停期间不得继续开展远程医疗服务（仅可取消）")).to_be_visible()
    expect(page.get_by_text("邀请方 农安县人民医院 已暂停远程医疗服务。")).to_be_visible()
    expect(page.get_by_role("button", name="④ 发送申请")).to_have_count(0)
    looked(page, shot, "05-facility-new-request-stopped")

    # --- The regulators are told at once; the county follows up but cannot lift ---------------------
    for username in ("reg_changchun", "reg_nongan", "reg_province"):
        assert Notification.objects.filter(user__username=username, link=f"/facilities/suspensions/{suspension.pk}/").exists(), username
    switch(page, login, "reg_nongan")
    page.goto("/consultations/notifications/")
    page.get_by_role("link", name=re.compile("农安县人民医院 已暂停远程医疗服务并报告")).first.click()
    expect(page).to_have_url(re.compile(rf"/facilities/suspensions/{suspension.pk}/$"))
    expect(page.get_by_role("link", name="解除暂停")).to_have_count(0)
    page.get_by_label("跟进情况").fill(COUNTY_FOLLOW_UP)
    page.get_by_role("button", name="记录跟进情况").click()
    expect(flash(page)).to_contain_text("跟进情况已记录。")
    expect(page.locator("table tbody tr", has_text=COUNTY_FOLLOW_UP)).to_contain_text("监管部门")
    looked(page, shot, "06-county-follow-up")
    page.goto(f"/facilities/suspensions/{suspension.pk}/lift/")
    expect(page.get_by_role("button", name="解除暂停")).to_be_disabled()
    looked(page, shot, "07-county-cannot-lift")

    # --- The facility follows up; it cannot lift either -------------------------------------------
    switch(page, login, "coordinator_nongan")
    page.goto(f"/facilities/suspensions/{suspension.pk}/")
    page.get_by_label("跟进情况").fill(FACILITY_FOLLOW_UP)
    page.get_by_role("button", name="记录跟进情况").click()
    expect(page.locator("table tbody tr", has_text=FACILITY_FOLLOW_UP)).to_contain_text("机构")

    # --- The licensing regulator (长春市) lifts it -------------------------------------------------
    switch(page, login, "reg_changchun")
    nav(page, "暂停与恢复")
    row = page.locator("table tbody tr", has_text="农安县人民医院").filter(has_text="暂停中")
    expect(row).to_contain_text("长春市")
    row.get_by_role("link", name="解除暂停").click()
    expect(page.locator(".checks, ul").filter(has_text="JL-F5").first).to_be_visible()
    page.get_by_label("理由").fill(LIFT_REASON)
    looked(page, shot, "08-city-lift-form")
    page.get_by_role("button", name="解除暂停").click()
    expect(flash(page)).to_contain_text("农安县人民医院 的暂停已解除。")
    suspension.refresh_from_db()
    assert suspension.lifted_at is not None and suspension.lifted_by.username == "reg_changchun"
    page.goto(f"/facilities/suspensions/{suspension.pk}/")
    expect(fact(page, "状态")).to_contain_text("已解除（办结）")
    expect(page.locator("table tbody tr")).to_have_count(2)
    page.goto(f"/facilities/equipment/{terminal.pk}/")
    expect(page.locator("table tbody tr").first).to_contain_text("设备科 王工")
    expect(page.locator("main form")).to_have_count(0)  # the register is the facility's to keep
    looked(page, shot, "09-city-reads-register")

    # --- The facility is told and may resume -------------------------------------------------------
    switch(page, login, "coordinator_nongan")
    assert Notification.objects.filter(user__username="coordinator_nongan", message_key="facility.suspension_lifted").exists()
    page.goto(f"/facilities/suspensions/{suspension.pk}/")
    expect(fact(page, "解除理由")).to_contain_text(LIFT_REASON)
    expect(page.get_by_label("跟进情况")).to_have_count(0)
    looked(page, shot, "10-facility-lifted")
    page.goto(f"/consultations/{draft.pk}/")  # and it may send again
    expect(page.get_by_role("button", name="④ 发送申请")).to_be_visible()
    expect(page.get_by_text("JL-F5 第三十四条：暂停期间不得继续开展远程医疗服务（仅可取消）")).to_have_count(0)

    # --- JL-O1: another division's regulator -------------------------------------------------------
    switch(page, login, "reg_yanbian")
    not_found(page, f"/facilities/suspensions/{suspension.pk}/")
    not_found(page, f"/facilities/equipment/{terminal.pk}/")
    nav(page, "设备与软件")
    expect(page.locator("table tbody tr", has_text="农安县人民医院")).to_have_count(0)
