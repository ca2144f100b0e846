"""JL-O2 (art. 26, 27) in Chromium, both sides: quality control of finished cases.

``seed_demo`` closes two cases of 农安县人民医院 with 吉林大学第一医院 this month (a consultation and
an outpatient service). Once the month has ended:

- the provincial regulator publishes the scoring checklist (a malformed line is refused on the form);
- 农安县卫生健康局 (the county) sets its plan and draws the month with a recorded seed; the draw page
  shows the seed and that the draw reproduces; it names 崔明浩 of 延边大学附属医院 as reviewer of one
  case (an expert of 吉大一院, a party of the case, is refused);
- the reviewer reads exactly that case (a per-object grant) and no other, and scores it on the
  checklist (a score above an item's maximum is refused, the input kept);
- 农安县人民医院's coordinator receives the scores and feedback (a notification and the 质控评审
  page) and answers with the corrective action; the county reads the answer;
- a second scored case left unanswered past its deadline is flagged overdue on both sides;
- the city (长春市) above the county reads the draw but does not assign; another division's regulator
  (延边州) gets a 404 for the draw and the reviews.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import QCDraw, QCReview
from consultations.choices import ConsultationState
from consultations.models import Consultation, Notification
from tests.e2e.supervision import fact, flash, looked, nav, not_found, switch

pytestmark = [pytest.mark.e2e]

BEIJING = ZoneInfo("Asia/Shanghai")
CHECKLIST = "\n".join([
    "material|资料完整性与质量|20",
    "timeliness|及时性|20",
    "signers|签发人资质与执业范围|20",
    "opinion|意见内容|30",
    "documentation|文书记录|10",
])
SCORES = {"material": "18", "timeliness": "20", "signers": "20", "opinion": "25", "documentation": "8"}
FEEDBACK = "会诊资料齐全；意见书未写明随访时间，请补充随访计划并规范文书。"
ANSWER = "已组织呼吸内科学习远程会诊文书规范，随访计划模板已加入会诊意见书（12月起执行）。"


@pytest.fixture
def month_ended_for_qc(live_portal: str):
    """The demo's cases were closed this month (Beijing); the clock moves to 09:00 on the 1st of the
    next month, when the month may be drawn. Yields the month's first day. Request before ``page``."""
    first = timezone.localdate().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    with time_machine.travel(dt.datetime.combine(following, dt.time(9), BEIJING), tick=True):
        yield first


def test_jl_o2_quality_control_from_plan_to_corrective_answer_on_both_sides(month_ended_for_qc, page: Page, login, shot):
    month = month_ended_for_qc
    closed = list(Consultation.objects.filter(state=ConsultationState.CLOSED, inviting__name="农安县人民医院").order_by("pk"))
    assert len(closed) == 2, closed
    unsampled = Consultation.objects.filter(inviting__name="农安县人民医院").exclude(state=ConsultationState.CLOSED).first()

    # --- The province publishes the checklist -------------------------------------------------
    login(page, "reg_province")
    nav(page, "质量控制")
    expect(page.get_by_role("heading", level=1)).to_have_text("远程医疗质量控制")
    expect(page.get_by_text("省级卫生健康行政部门尚未发布质控评分表。")).to_be_visible()
    page.get_by_label("评分项目").fill("material|资料完整性与质量")
    page.get_by_role("button", name="发布").click()
    expect(page.locator(".field .error, .errorlist").first).to_contain_text("JL-O2 第二十七条: 每行须为“编号|内容|满分”")
    looked(page, shot, "01-province-checklist-refused")
    page.get_by_label("评分项目").fill(CHECKLIST)
    page.get_by_role("button", name="发布").click()
    expect(flash(page)).to_contain_text("质控评分表已发布。")
    expect(page.get_by_text("现行版本 v1，满分 100 分。")).to_be_visible()
    looked(page, shot, "02-province-checklist-published")

    # --- The county sets its plan and draws the ended month ------------------------------------
    switch(page, login, "reg_nongan")
    nav(page, "质量控制")
    expect(page.get_by_text("现行版本 v1，满分 100 分。")).to_be_visible()
    expect(page.get_by_role("heading", name="发布新版质控评分表")).to_have_count(0)  # the province's alone
    plan_form = page.locator("form", has=page.locator("input[name=form][value=plan]"))
    plan_form.get_by_label("质控区划").select_option(label="农安县（220122）")
    plan_form.get_by_label("计划名称").fill("农安县远程会诊与门诊月度质控")
    plan_form.locator("input[value=consultation]").check()
    plan_form.locator("input[value=outpatient]").check()
    plan_form.get_by_label("抽样比例（‰）").fill("1000")
    plan_form.get_by_label("抽样周期").select_option("month")
    plan_form.get_by_role("button", name="保存计划").click()
    expect(flash(page)).to_contain_text("质控计划已制定。")
    expect(page.locator("table").first).to_contain_text("农安县远程会诊与门诊月度质控")
    draw_form = page.locator("form", has=page.locator("input[name=form][value=draw]"))
    draw_form.get_by_label("质控计划").select_option(label="农安县远程会诊与门诊月度质控")
    draw_form.get_by_label("周期第一天").fill(month.isoformat())
    looked(page, shot, "03-county-plan-set")
    draw_form.get_by_role("button", name="抽样").click()
    expect(flash(page)).to_contain_text("已完成随机抽样。")
    draw = QCDraw.objects.get()
    expect(page).to_have_url(re.compile(rf"/records/qc/draws/{draw.pk}/$"))
    assert draw.case_ids == [c.pk for c in closed]
    expect(fact(page, "随机种子")).to_have_text(draw.seed)
    expect(fact(page, "复现核对")).to_contain_text("可复现")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{month:%Y-%m-%d} — ")
    expect(page.get_by_role("heading", level=1)).not_to_contain_text(f"{draw.period_end:%Y-%m-%d}")  # the last day, not the next
    expect(fact(page, "抽中病例")).to_have_text("2 例（申请编号见下表）")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    for case in closed:
        expect(rows.filter(has_text=case.number)).to_contain_text("农安县人民医院")  # the invited one is outside the county
    first, second = closed

    # A party of the case does not review it; the refusal is on the form, in Chinese.
    assign = page.locator("form", has=page.get_by_label("质控专家（用户名）"))
    assign.get_by_label("抽中病例").select_option(label=first.number)
    assign.get_by_label("质控专家（用户名）").fill("expert_jdyy")
    assign.get_by_role("button", name="指定").click()
    expect(page.locator(".alert-error")).to_contain_text("JL-O2 第二十六条: 质控专家不能评审本机构参与的病例。")
    looked(page, shot, "04-county-reviewer-refused")
    assign.get_by_label("抽中病例").select_option(label=first.number)
    assign.get_by_label("质控专家（用户名）").fill("expert_ybdx")
    assign.get_by_role("button", name="指定").click()
    expect(flash(page)).to_contain_text("已指定质控专家。")
    expect(rows.filter(has_text=first.number)).to_contain_text("崔明浩")
    assign.get_by_label("抽中病例").select_option(label=second.number)
    assign.get_by_label("质控专家（用户名）").fill("expert_ybdx")
    assign.get_by_role("button", name="指定").click()
    expect(rows.filter(has_text=second.number)).to_contain_text("崔明浩")
    looked(page, shot, "05-county-draw-assigned")

    # --- The reviewer reads exactly the sampled cases and scores one ----------------------------
    switch(page, login, "expert_ybdx")
    assert Notification.objects.filter(user__username="expert_ybdx", link__contains="/records/qc/reviews/").count() == 2
    nav(page, "质控评审")
    to_score = page.locator("table", has=page.get_by_role("columnheader", name="评审截止")).first
    expect(to_score.locator("tbody tr")).to_have_count(2)
    to_score.get_by_role("link", name=first.number).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(first.number)
    looked(page, shot, "06-reviewer-to-score")
    page.get_by_role("link", name="调阅病例（记录调阅）").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(first.number)
    looked(page, shot, "07-reviewer-reads-the-case")
    not_found(page, f"/consultations/{unsampled.pk}/")  # not sampled: not his to read
    page.goto(f"/records/qc/reviews/{QCReview.objects.get(consultation=first).pk}/")
    for code, value in SCORES.items():
        page.locator(f"input[name=score_{code}]").fill(value)
    page.locator("input[name=score_opinion]").fill("31")
    page.get_by_label("反馈意见").fill(FEEDBACK)
    page.get_by_role("button", name="提交评分与反馈").click()
    expect(page.locator(".alert-error")).to_contain_text("JL-O2")
    expect(page.locator(".alert-error")).to_contain_text("0至30分")
    expect(page.get_by_label("反馈意见")).to_have_value(FEEDBACK)
    looked(page, shot, "08-reviewer-score-refused")
    page.locator("input[name=score_opinion]").fill(SCORES["opinion"])
    page.get_by_role("button", name="提交评分与反馈").click()
    expect(flash(page)).to_contain_text("评分与反馈已提交。")
    expect(fact(page, "总分")).to_have_text("91 / 100")
    looked(page, shot, "09-reviewer-scored")
    page.goto(f"/records/qc/reviews/{QCReview.objects.get(consultation=second).pk}/")
    for code, value in SCORES.items():
        page.locator(f"input[name=score_{code}]").fill(value)
    page.get_by_label("反馈意见").fill("门诊意见完整。")
    page.get_by_role("button", name="提交评分与反馈").click()
    expect(flash(page)).to_contain_text("评分与反馈已提交。")

    # --- The facility receives the scores and the feedback, and answers ---------------------------
    switch(page, login, "coordinator_nongan")
    assert Notification.objects.filter(user__username="coordinator_nongan", link__contains="/records/qc/reviews/").count() == 2
    nav(page, "质控评审")
    feedback = page.locator("table", has=page.get_by_role("columnheader", name="整改答复期限"))
    row = feedback.locator("tbody tr", has_text=first.number)
    expect(row).to_contain_text("91 / 100")
    expect(row).to_contain_text("未答复")
    expect(row).to_contain_text(FEEDBACK[:20])
    looked(page, shot, "10-facility-feedback-list")
    row.get_by_role("link", name=first.number).click()
    expect(page.locator("table tbody tr", has_text="意见内容")).to_contain_text("25")
    expect(page.get_by_role("link", name="调阅病例（记录调阅）")).to_have_count(0)
    page.get_by_label("整改情况").fill(ANSWER)
    looked(page, shot, "11-facility-answer-form")
    page.get_by_role("button", name="提交答复").click()
    expect(flash(page)).to_contain_text("整改情况已答复。")
    expect(fact(page, "整改情况")).to_contain_text(ANSWER)
    expect(page.get_by_role("button", name="提交答复")).to_have_count(0)
    looked(page, shot, "12-facility-answered")

    # --- The county reads the answer; past the deadline the other is overdue --------------------
    switch(page, login, "reg_nongan")
    page.goto(f"/records/qc/draws/{draw.pk}/")
    page.get_by_role("link", name=first.number).click()
    expect(fact(page, "整改情况")).to_contain_text(ANSWER)
    due = QCReview.objects.get(consultation=second).answer_due
    with time_machine.travel(due + dt.timedelta(hours=1), tick=True):
        switch(page, login, "reg_nongan")  # two weeks on: the session has timed out (JL-A2)
        nav(page, "质量控制")
        page.get_by_role("link", name="质控评审").first.click()
        late = page.locator("table tbody tr", has_text=second.number)
        expect(late.locator(".badge-danger")).to_have_text("逾期")
        expect(page.locator("table tbody tr", has_text=first.number).locator(".badge-danger")).to_have_count(0)
        looked(page, shot, "13-county-overdue-flagged")
        switch(page, login, "coordinator_nongan")
        nav(page, "质控评审")
        expect(page.locator("table tbody tr", has_text=second.number).locator(".badge-danger")).to_have_text("逾期")

    # --- JL-O1: the city above reads without assigning; another division gets a 404 --------------
    switch(page, login, "reg_changchun")
    page.goto(f"/records/qc/draws/{draw.pk}/")
    expect(fact(page, "随机种子")).to_have_text(draw.seed)
    expect(page.get_by_role("button", name="指定")).to_have_count(0)
    looked(page, shot, "14-city-reads-county-draw")
    switch(page, login, "reg_yanbian")
    not_found(page, f"/records/qc/draws/{draw.pk}/")
    not_found(page, f"/records/qc/reviews/{QCReview.objects.get(consultation=first).pk}/")
    nav(page, "质量控制")
    expect(page.get_by_text("农安县远程会诊与门诊月度质控")).to_have_count(0)
    looked(page, shot, "15-other-division-sees-nothing")
