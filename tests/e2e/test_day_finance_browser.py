"""Issue 12: a finance officer's month end in Chromium — once the month has ended (Beijing time,
``month_ended``: the statement is drafted then, JL-B4), 邵静姝 (finance_jdyy, 吉大一院) confirms the
statement, records the transfer, drafts the month's per-person payout report (JL-B6) and reviews
the charges — in Chinese and in English at 1366 px and in Chinese at 390 px."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from billing import rules
from billing.choices import StatementState
from billing.models import PayoutReport, Statement
from tests.e2e.days import check_layout, flash, visit

pytestmark = [pytest.mark.e2e]


def test_a_finance_officers_month_end(month_ended, look, page: Page, login, shot):
    statement = Statement.objects.get(invited__name="吉林大学第一医院")
    assert statement.period_start < rules.month_of(timezone.now())  # an ended month only (JL-B4)
    login(page, "finance_jdyy")
    visit(page, look, "/", shot, "01-home")
    visit(page, look, "/billing/statements/", shot, "02-statements")
    page.locator("table tbody tr", has_text=f"{statement.period_start:%Y-%m}").locator("a").first.click()
    expect(page).to_have_url(f"{page.url.split('/billing/')[0]}/billing/statements/{statement.pk}/")
    check_layout(page, "statement")
    shot(page, "03-statement")

    page.locator(f"form[action$='/statements/{statement.pk}/confirm/'] button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    statement.refresh_from_db()
    assert statement.state == StatementState.CONFIRMED
    payment = page.locator(f"form[action$='/statements/{statement.pk}/payment/']")
    payment.locator("input[name=bank_reference]").fill("BOC-DAY-000777")
    payment.locator("button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    statement.refresh_from_db()
    assert statement.state == StatementState.PAID and statement.bank_reference == "BOC-DAY-000777"
    check_layout(page, "statement paid")
    shot(page, "04-statement-paid")

    # JL-B6: the month's payout report, drafted only now that the month has ended.
    visit(page, look, "/billing/payouts/", shot, "05-payouts")
    draft = page.locator("form[action$='/billing/payouts/draft/']")
    draft.locator("select[name$=facility]").select_option(index=1)
    draft.locator("input[name$=month]").fill(f"{statement.period_start:%Y-%m}")
    draft.locator("button[type=submit]").click()
    expect(flash(page)).to_be_visible()
    report = PayoutReport.objects.get(facility=statement.invited, month=statement.period_start)
    assert report.lines_total_fen == report.staff_total_fen > 0
    check_layout(page, "payout report")
    shot(page, "06-payout-report")

    visit(page, look, "/billing/charges/", shot, "07-charges")
