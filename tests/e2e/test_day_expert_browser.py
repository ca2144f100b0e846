"""Issue 12: an expert's day in Chromium — 林沐川 (expert_jdyy, 吉大一院) opens his work list, starts the
scheduled video consultation from the case page's "下一步" panel, signs the opinion (JL-C6; JL-C7
recorded) and looks at his payouts page — in Chinese and in English at 1366 px and in Chinese at
390 px (``look``), each page checked for layout faults and kept as a screenshot."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from consultations.choices import ConsultationState
from consultations.models import Consultation, Opinion
from tests.e2e.days import check_layout, flash, visit

pytestmark = [pytest.mark.e2e]

OPINION = "考虑社区获得性肺炎；建议完善痰培养，继续抗感染治疗并复查胸部CT。"


def test_an_experts_day(look, page: Page, login, shot):
    login(page, "expert_jdyy")
    visit(page, look, "/", shot, "01-home")
    visit(page, look, "/consultations/assigned/", shot, "02-assigned")
    case = Consultation.objects.get(state=ConsultationState.SCHEDULED, participants__physician__user__username="expert_jdyy")
    row = page.locator("table tbody tr", has_text=case.number)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=case.number).click()

    # The case page leads with what he may do now: the graph's "start the session", due at the slot.
    next_panel = page.locator("section#actions")
    expect(next_panel.locator(".next-step").first).to_have_attribute("data-action", "start_session")
    expect(next_panel.locator(".next-step[data-action=start_session] .countdown")).to_be_visible()
    check_layout(page, "case page, scheduled")
    shot(page, "03-case-scheduled")
    next_panel.locator("#form-start_session button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    case.refresh_from_db()
    assert case.state == ConsultationState.IN_SESSION

    # Now signing is his next step; the form is in the opinion section.
    expect(next_panel.locator(".next-step").first).to_have_attribute("data-action", "sign")
    next_panel.locator(".next-step[data-action=sign] a").click()
    sign = page.locator("#form-sign")
    # The structured editor (JL-C11) also takes a free-text opinion, under its fold.
    sign.locator("details.opinion-free-text summary").click()
    sign.locator("textarea[name='sign-content']").fill(OPINION)
    shot(page, "04-case-signing")
    sign.locator("button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    case.refresh_from_db()
    assert case.state == ConsultationState.SIGNED
    assert Opinion.objects.get(consultation=case).content == OPINION
    expect(page.locator("#opinions article.opinion")).to_have_count(1)
    expect(page.locator("#form-sign")).to_have_count(0)
    check_layout(page, "case page, signed")
    shot(page, "05-case-signed")

    visit(page, look, "/billing/my-payouts/", shot, "06-my-payouts")
