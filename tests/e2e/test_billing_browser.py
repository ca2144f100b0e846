"""JL-B4 in Chromium: the invited hospital's finance officer settles last month's statement.

``seed_demo`` closes two 农安县人民医院 → 吉林大学第一医院 cases this month; once the month has ended
(Beijing time, the ``month_ended`` fixture) its month end drafts the statement and has 农安's finance
officer (冯映雪, finance_nongan) confirm it (billing/demo.py).
吉大一院's finance officer, 邵静姝 (finance_jdyy), checks it on the page, confirms it, takes the PDF
and Excel exports through the page's links, and records the transfer. Amounts are compared in
integer fen, parsed from what the page shows (``¥1,234.56``), never as floats.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Locator, Page, expect

from billing.models import Statement

pytestmark = [pytest.mark.e2e]

NONGAN = "农安县人民医院"
JDYY = "吉林大学第一医院"
BANK_REFERENCE = "BOC-E2E-20260731-000123"
TOTALS = ("服务费合计", "邀请方分配合计", "应付受邀方合计")


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=label, exact=True).click()


def fen(text: str) -> int:
    """``¥1,234.56`` or ``-¥12.30`` as shown on the page → integer fen."""
    match = re.fullmatch(r"\s*(-?)¥([\d,]+)\.(\d{2})\s*", text)
    assert match, f"not an amount in yuan: {text!r}"
    sign, whole, cents = match.groups()
    return (-1 if sign else 1) * (int(whole.replace(",", "")) * 100 + int(cents))


def cell_fen(value) -> int:
    """A workbook cell in yuan (int, float or Decimal) → integer fen, exact to the fen or failing."""
    amount = Decimal(str(value)) * 100
    assert amount == amount.to_integral_value(), f"not a whole number of fen: {value!r}"
    return int(amount)


def fact(card: Locator, label: str) -> Locator:
    """The ``<dd>`` after the ``<dt>`` reading ``label`` in a facts list."""
    return card.locator("dt", has_text=re.compile(f"^{re.escape(label)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def download(page: Page, link: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("link", name=link).click()
    saved = folder / info.value.suggested_filename
    info.value.save_as(saved)
    return saved


def test_invited_finance_officer_confirms_exports_and_records_payment(month_ended, page: Page, login, shot):
    login(page, "finance_jdyy")
    expect(page.get_by_role("heading", level=1)).to_have_text("您好，邵静姝")
    nav(page, "费用结算")
    expect(page.get_by_role("heading", level=1)).to_have_text("远程医疗费用结算单")
    row = page.locator("table.table tbody tr").filter(has_text=NONGAN)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(JDYY)
    expect(row.locator(".badge")).to_have_text("待双方确认")
    listed_fee, listed_invited = (fen(t) for t in row.locator("td.money").all_inner_texts()[1:3])
    shot(page, "01-statement-list")

    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/billing/statements/\d+/$"))
    statement = Statement.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"{NONGAN} → {JDYY}")
    expect(heading.locator(".badge")).to_have_text("待双方确认")

    # The lines: every charge splits its whole fee, and the lines add up to the totals shown.
    lines = page.locator("table.table tbody tr")
    expect(lines).to_have_count(statement.charge_count)
    assert statement.charge_count >= 2
    columns = {"fee": 4, "inviting": 5, "invited": 6}
    line_fen = [
        {key: fen(r.locator("td").nth(i).inner_text()) for key, i in columns.items()} for r in lines.all()
    ]
    for line in line_fen:
        assert line["inviting"] + line["invited"] == line["fee"] > 0, line
    for r in lines.all():
        expect(r.locator("td").first).to_have_text("收费")
    footer = page.locator("table.table tfoot tr.totals-row td.money")
    assert [fen(t) for t in footer.all_inner_texts()] == [
        sum(line[key] for line in line_fen) for key in ("fee", "inviting", "invited")
    ]
    totals_card = page.locator("section.card", has=page.get_by_role("heading", name="合计", exact=True))
    shown = {label: fen(fact(totals_card, label).inner_text()) for label in TOTALS}
    assert shown == {
        "服务费合计": sum(line["fee"] for line in line_fen),
        "邀请方分配合计": sum(line["inviting"] for line in line_fen),
        "应付受邀方合计": sum(line["invited"] for line in line_fen),
    }
    assert (shown["服务费合计"], shown["应付受邀方合计"]) == (listed_fee, listed_invited)
    assert shown == {
        "服务费合计": statement.fee_total_fen,
        "邀请方分配合计": statement.inviting_share_total_fen,
        "应付受邀方合计": statement.invited_share_total_fen,
    }
    expect(fact(totals_card, "笔数")).to_have_text(str(statement.charge_count))
    reconciliation = totals_card.locator("li.check")
    expect(reconciliation).to_have_class(re.compile(r"\bcheck-pass\b"))
    expect(reconciliation.locator(".check-rule")).to_have_text("JL-B4")
    expect(reconciliation.locator(".visually-hidden")).to_have_text("符合")
    payable = fact(totals_card, "应付受邀方合计").inner_text()
    expect(reconciliation).to_contain_text(f"结算单 {payable}，明细 {payable}")

    confirmations = page.locator("section.card", has=page.get_by_role("heading", name="确认与付款"))
    expect(fact(confirmations, "邀请方确认")).to_contain_text("已确认")
    expect(fact(confirmations, "邀请方确认")).to_contain_text("冯映雪")
    expect(fact(confirmations, "受邀方确认")).to_contain_text("未确认")
    expect(fact(confirmations, "付款")).to_have_text("未付款")
    expect(page.get_by_role("button", name="登记付款")).to_have_count(0)  # not before both confirm
    shot(page, "02-detail-before-confirm")

    page.get_by_role("button", name="确认结算单").click()
    expect(page.get_by_role("status")).to_contain_text("已确认结算单。")
    expect(heading.locator(".badge")).to_have_text("双方已确认，待付款")
    expect(fact(confirmations, "受邀方确认")).to_contain_text("已确认")
    expect(fact(confirmations, "受邀方确认")).to_contain_text("邵静姝")
    expect(page.get_by_role("button", name="确认结算单")).to_have_count(0)
    folder = shot(page, "03-detail-after-confirm").parent

    # The exports, through the page's links, as the browser saves them.
    pdf = download(page, "导出 PDF", folder)
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    xlsx = download(page, "导出 Excel", folder)
    assert xlsx.suffix == ".xlsx"
    sheet = load_workbook(xlsx)["结算单"]
    header = {row[0]: row[1] for row in sheet.iter_rows(min_col=1, max_col=2, values_only=True) if row[0]}
    assert {label: cell_fen(header[f"{label}（元）"]) for label in TOTALS} == shown
    assert header["笔数"] == statement.charge_count
    assert header["状态"] == "双方已确认，待付款"
    stored = next(row for row in sheet.iter_rows(values_only=True) if row[0] == "结算单记载合计")
    assert [cell_fen(value) for value in stored[4:7]] == [shown[label] for label in TOTALS]
    first_line = next(r for r in sheet.iter_rows() if r[0].value == "类别")[0].row + 1
    workbook_lines = [
        [cell_fen(sheet.cell(row=r, column=c).value) for c in (5, 6, 7)]
        for r in range(first_line, first_line + statement.charge_count)
    ]
    assert sorted(workbook_lines) == sorted(
        [line["fee"], line["inviting"], line["invited"]] for line in line_fen
    )

    # The transfer into 吉大一院's settlement account, with the bank's reference.
    payment = page.locator("form", has=page.get_by_role("button", name="登记付款"))
    expect(payment.get_by_label("到账时间")).not_to_have_value("")  # now, for the officer to adjust
    payment.get_by_label("银行流水号").fill(BANK_REFERENCE)
    payment.get_by_role("button", name="登记付款").click()
    expect(page.get_by_role("status")).to_contain_text("已登记结算单付款。")
    expect(heading.locator(".badge")).to_have_text("已付款")
    expect(fact(confirmations, "付款")).to_contain_text("已付款")
    expect(fact(confirmations, "付款")).to_contain_text(f"银行流水号 {BANK_REFERENCE}")
    expect(page.get_by_role("button", name="登记付款")).to_have_count(0)
    shot(page, "04-detail-paid")
