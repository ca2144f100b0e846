"""Issue 12: a coordinator's day in Chromium — 唐予诺 (coordinator_jdyy, 吉大一院) works her inbox:
accepts the urgent request within its JL-C4 target, assigns the expert (JL-P1..P6 checked) and
schedules the video consultation, guided by the case page's "下一步" panel; then the obligations and
referrals lists — in Chinese and in English at 1366 px and in Chinese at 390 px."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from consultations.choices import ConsultationState
from consultations.models import Consultation
from tests.e2e.days import check_layout, flash, visit

pytestmark = [pytest.mark.e2e]


def test_a_coordinators_day(look, page: Page, login, shot):
    login(page, "coordinator_jdyy")
    visit(page, look, "/", shot, "01-home")
    visit(page, look, "/consultations/?side=invited", shot, "02-inbox")
    case = Consultation.objects.get(state=ConsultationState.SENT, invited__name="吉林大学第一医院")
    page.locator("table tbody tr", has_text=case.number).get_by_role("link", name=case.number).click()

    # Answering is due within the JL-C4 target: accept first, the alternatives after it.
    next_panel = page.locator("section#actions")
    actions = next_panel.locator(".next-step")
    expect(actions.first).to_have_attribute("data-action", "accept")
    assert [a.get_attribute("data-action") for a in actions.all()] == ["accept", "return_material", "decline"]
    expect(next_panel.locator(".next-step[data-action=accept] .countdown")).to_be_visible()
    check_layout(page, "case page, sent")
    shot(page, "03-case-sent")
    next_panel.locator("#form-accept button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    case.refresh_from_db()
    assert case.state == ConsultationState.ACCEPTED

    # Assign the expert and schedule: both in the panel now.
    assert [a.get_attribute("data-action") for a in actions.all()][:2] == ["assign", "schedule"]
    assign = page.locator("#form-assign")
    option = assign.locator("select option", has_text="林沐川").first
    assign.locator("select").first.select_option(option.get_attribute("value"))
    assign.locator("button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    assert case.participants.filter(physician__name="林沐川").exists()
    at = timezone.localtime(timezone.now() + dt.timedelta(days=1)).replace(hour=14, minute=0, second=0, microsecond=0)
    schedule = page.locator("#form-schedule")
    schedule.locator("input[name$=scheduled_for]").fill(at.strftime("%Y-%m-%dT%H:%M"))
    schedule.locator("input[name$=video_link]").fill("https://meet.example.cn/jdyy-day")
    shot(page, "04-case-accepted")
    schedule.locator("button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    case.refresh_from_db()
    assert case.state == ConsultationState.SCHEDULED and timezone.localtime(case.scheduled_for) == at
    expect(next_panel).to_contain_text("https://meet.example.cn/jdyy-day")
    check_layout(page, "case page, scheduled")
    shot(page, "05-case-scheduled")

    visit(page, look, "/consultations/obligations/", shot, "06-obligations")
    visit(page, look, "/consultations/referrals/", shot, "07-referrals")
