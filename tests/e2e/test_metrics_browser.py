"""The regulators' dashboard in Chromium (issue 9): the provincial, a city and a county regulator
each open their dashboard, drill down and export a table; the city's figures are the sum of its
counties'. ``seed_demo`` makes this month's cases through the services and rebuilds the facts.

Screenshots: tests/e2e/screenshots/<test>/ (looked at when the test was written).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e]

COUNTED = ("发出申请（JL-C4）", "受理（JL-C4）", "拒绝（JL-C4）", "完成（意见/报告签发）（JL-C6）", "服务费（元）（JL-B3）")


def table(page: Page, caption: str) -> list[list[str]]:
    """The rows of the table captioned ``caption``: header row first, then each row's cell texts."""
    found = page.locator("table", has=page.locator("caption", has_text=caption))
    expect(found).to_have_count(1)
    return found.evaluate(
        "t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )


def number(text: str) -> int:
    """A count, or yuan as shown (``1,234.00``) in fen; ``—`` is nothing."""
    if text in ("", "—"):
        return 0
    if "." in text:
        whole, cents = text.replace(",", "").split(".")
        return int(whole) * 100 + int(cents)
    return int(text.replace(",", ""))


def headline(page: Page) -> dict[str, int]:
    """This period's value of each counted figure in the headline table."""
    rows = table(page, "主要指标")
    return {row[0]: number(row[1]) for row in rows[1:] if row[0] in COUNTED}


def column_sums(rows: list[list[str]]) -> dict[str, int]:
    header = rows[0]
    return {label: sum(number(row[header.index(label)]) for row in rows[1:]) for label in COUNTED if label in header}


def export(page: Page, caption: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("link", name=f"导出 Excel：{caption}").click()
    saved = folder / info.value.suggested_filename
    info.value.save_as(saved)
    return saved


def open_dashboard(page: Page) -> None:
    page.goto("/")
    page.locator("a.stat[href='/facilities/metrics/']").click()
    expect(page.locator("h1")).to_contain_text("远程医疗监管统计")
    # The charts script drew the trends from the JSON island (CSP: a static file, no inline script).
    expect(page.locator("#metrics-chart-area svg").first).to_be_visible()


def test_province_city_and_county_regulators_open_drill_down_and_export(page: Page, login, shot, tmp_path):
    # The province: its cities, drill down to 长春市.
    login(page, "reg_province")
    open_dashboard(page)
    expect(page).to_have_url(re.compile(r"/facilities/metrics/divisions/220000/$"))
    province = headline(page)
    assert province["发出申请（JL-C4）"] > 0, province
    cities = table(page, "下级区划比较")
    assert column_sums(cities) == province  # every facility of the demonstration lies in a city
    shot(page, "1-province")
    saved = export(page, "主要指标", tmp_path)
    sheet = load_workbook(saved).active
    values = {row[0]: row[1] for row in sheet.iter_rows(min_row=5, values_only=True)}
    assert values["发出申请（JL-C4）"] == province["发出申请（JL-C4）"]
    page.get_by_role("link", name="长春市", exact=True).click()
    expect(page.locator("h1")).to_contain_text("长春市")
    shot(page, "2-province-drilled-to-changchun")
    page.context.clear_cookies()

    # The city: its figures are the sum of its counties' (the sub-division table), drill down to 农安县.
    login(page, "reg_changchun")
    open_dashboard(page)
    expect(page.locator("h1")).to_contain_text("长春市")
    city = headline(page)
    counties = table(page, "下级区划比较")
    assert [row[0] for row in counties[1:]] and column_sums(counties) == city
    assert city["发出申请（JL-C4）"] > 0
    shot(page, "3-city")
    saved = export(page, "下级区划比较", tmp_path)
    exported = [list(row) for row in load_workbook(saved).active.iter_rows(min_row=5, values_only=True)]
    assert [row[0] for row in exported] == [row[0] for row in counties[1:]]
    page.get_by_role("link", name="农安县", exact=True).click()
    expect(page.locator("h1")).to_contain_text("农安县")
    assert headline(page)["发出申请（JL-C4）"] == number(next(row for row in counties if row[0] == "农安县")[1])
    shot(page, "4-city-drilled-to-nongan")
    page.context.clear_cookies()

    # The county: no sub-divisions; a year's view, drill down to a facility's scorecard from a ranking.
    login(page, "reg_nongan")
    open_dashboard(page)
    expect(page.locator("h1")).to_contain_text("农安县")
    page.locator("select[name=period]").select_option("year")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("caption", has_text="下级区划比较")).to_have_count(0)
    county = headline(page)
    shot(page, "5-county-year")
    saved = export(page, "主要指标", tmp_path)
    values = {row[0]: row[1] for row in load_workbook(saved).active.iter_rows(min_row=5, values_only=True)}
    assert values["发出申请（JL-C4）"] == county["发出申请（JL-C4）"]
    page.locator("section.metrics-table tbody th a").first.click()
    expect(page.locator("h1")).to_contain_text("远程医疗统计")
    expect(page.locator("caption", has_text="主要指标")).to_be_visible()
    shot(page, "6-county-drilled-to-facility")
