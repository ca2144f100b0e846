"""The layout check of the day tests (tests/e2e/days.py) must be able to fail: a name broken one
character per line, and a page wider than the phone's screen, are both found; a table that
scrolls inside its box is not a fault."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.e2e.days import LAYOUT_FAULTS

pytestmark = [pytest.mark.e2e]

BROKEN = """<!doctype html><html><body style="margin:0;font-size:16px">
<table><tr><td style="width:1em">李树森</td><td>普通</td></tr></table>
<div style="width:600px">wide</div></body></html>"""
FINE = """<!doctype html><html><body style="margin:0;font-size:16px">
<div style="overflow-x:auto"><table style="width:900px"><tr><td style="word-break:keep-all">农安县人民医院</td><td>普通</td></tr></table></div>
</body></html>"""


def test_layout_check_finds_one_character_per_line_and_sideways_pages(chromium: Browser):
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_content(BROKEN)
    faults = page.evaluate(LAYOUT_FAULTS)
    assert any("wider than the 390px screen" in f for f in faults), faults
    assert any("李树森" in f and "3 lines" in f for f in faults), faults
    assert not any("普通" in f for f in faults), faults
    page.set_content(FINE)
    assert page.evaluate(LAYOUT_FAULTS) == []
    context.close()
