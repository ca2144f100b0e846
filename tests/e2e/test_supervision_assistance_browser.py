"""JL-O4 (art. 46.4) in Chromium: credited assistance time, per physician and year, seen by each side.

``seed_demo`` has 延边大学附属医院's 崔明浩 sign a CT report for 敦化市医院 (corrected once: it counts
once) and sets the imaging report's standard time at 30 minutes; 吉大一院's experts sign two
consultations for 农安. Every line on the page is compared with ``facilities.assistance`` itself.

- The physician sees his own line and nobody else's; no facility filter.
- 延边大学附属医院's administrator sees the hospital's lines and exports them (the workbook has the
  same figures; the export is on record, JL-A1).
- 延边州 sees its division's lines; 长春市 does not see 崔明浩 (JL-O1); the province sees both.
- A year outside 2018..this year is refused with a Chinese message, not a 500.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from facilities import assistance
from tests.e2e.supervision import looked, nav, switch

pytestmark = [pytest.mark.e2e]

CUI = "崔明浩"
YBDX = "延边大学附属医院"


def rows(page: Page) -> list[list[str]]:
    return [[c.strip() for c in r.locator("td").all_inner_texts()] for r in page.locator("table tbody tr").all()
            if r.locator("td.empty").count() == 0]


def expected(username: str) -> list[list[str]]:
    user = get_user_model().objects.get(username=username)
    lines = assistance.assistance_credit(user=user, year=timezone.localdate().year)
    return [[e.physician_name, e.facility_name, str(e.sessions), str(e.session_minutes), str(e.reports), str(e.report_minutes),
             str(e.work_minutes), str(e.credited_minutes)] for e in lines]


def test_jl_o4_credited_assistance_time_for_the_physician_the_facility_and_each_regulator(page: Page, login, shot, tmp_path: Path):
    # --- The physician: his own line -----------------------------------------------------------
    login(page, "expert_ybdx")
    nav(page, "帮扶时间")
    expect(page.get_by_role("heading", level=1)).to_have_text("远程医疗工作计入对口帮扶驻点时间")
    shown = rows(page)
    assert [r[:8] for r in shown] == expected("expert_ybdx")
    assert [r[0] for r in shown] == [CUI] and shown[0][1] == YBDX
    assert shown[0][4:8] == ["1", "30", "30", "7"]  # one report (corrected once) at 30 minutes, 25 % rounded down
    expect(page.locator("select#facility")).to_have_count(0)
    looked(page, shot, "01-physician-own-line")

    # --- The facility's administrator: the hospital's lines and the export ----------------------
    switch(page, login, "admin_ybdx")
    nav(page, "帮扶时间")
    assert [r[:8] for r in rows(page)] == expected("admin_ybdx")
    expect(page.locator("select#facility option", has_text=YBDX)).to_have_count(1)
    looked(page, shot, "02-facility-lines")
    with page.expect_download() as info:
        page.get_by_role("link", name="导出 Excel").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    sheet = load_workbook(saved).active
    data = [list(r) for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert [[str(v) for v in r[:8]] for r in data] == expected("admin_ybdx")
    assert "JL-O4" in sheet["A1"].value
    assert AuditEvent.objects.filter(event_type="assistance.export", actor__username="admin_ybdx").count() == 1

    # --- The regulators: each their own division ---------------------------------------------
    switch(page, login, "reg_yanbian")
    nav(page, "帮扶时间")
    yanbian = rows(page)
    assert [r[:8] for r in yanbian] == expected("reg_yanbian")
    assert CUI in [r[0] for r in yanbian] and "吉林大学第一医院" not in [r[1] for r in yanbian]
    page.locator("select#facility").select_option(label=YBDX)
    page.get_by_role("button", name="查看").click()
    expect(page).to_have_url(re.compile(r"facility=\d+"))
    assert {r[1] for r in rows(page)} == {YBDX}
    looked(page, shot, "03-yanbian-filtered")

    switch(page, login, "reg_changchun")
    nav(page, "帮扶时间")
    changchun = rows(page)
    assert [r[:8] for r in changchun] == expected("reg_changchun")
    assert CUI not in [r[0] for r in changchun]
    expect(page.locator("select#facility option", has_text=YBDX)).to_have_count(0)
    looked(page, shot, "04-changchun-lines")

    switch(page, login, "reg_province")
    nav(page, "帮扶时间")
    province = rows(page)
    assert {r[1] for r in province} >= {YBDX, "吉林大学第一医院"}
    response = page.goto("/facilities/assistance/?year=2017")
    assert response is not None and response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("JL-O4: 年度须为 2018 至")
    looked(page, shot, "05-province-bad-year")
