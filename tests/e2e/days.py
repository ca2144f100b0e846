"""Shared steps of the day-of-work browser tests (issue 12): each day runs in three looks (Chinese and
English on a 1366 px hospital PC, Chinese on a 390 px phone; ``look`` in conftest.py).

Assertions are made on what does not change with the language — element ids, ``data-action``,
form field names, the database — and every page visited is checked for the two layout faults the
issue names: a page wider than the screen (a wide table must scroll inside its ``.table-wrap``, not
push the page sideways) and a name broken one character per line (a cell narrower than two
characters holding a longer text).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

CJK = re.compile(r"[\u4e00-\u9fff]")

# Returns the layout faults of the page as strings (empty when none).
LAYOUT_FAULTS = """() => {
  const faults = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) {
    faults.push(`page ${doc.scrollWidth}px wider than the ${window.innerWidth}px screen`);
  }
  for (const el of document.querySelectorAll('td, th, dd, .tag, .badge, .user-name')) {
    if (!el.offsetParent) continue;  // hidden
    const text = (el.textContent || '').replace(/\\s+/g, '');
    if (text.length < 2) continue;
    // The lines the text was laid out in: the distinct tops of its text's boxes.
    const tops = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width > 0 && !tops.some(t => Math.abs(t - r.top) < 6)) tops.push(r.top);
      }
    }
    const lines = tops.length;
    if (lines >= 2 && text.length / lines < 2.5) {
      faults.push(`${lines} lines for ${text.length} characters: <${el.tagName.toLowerCase()}> "${text.slice(0, 20)}"`);
    }
  }
  return faults;
}"""


def check_layout(page: Page, where: str) -> None:
    faults = page.evaluate(LAYOUT_FAULTS)
    assert not faults, f"{where}: {faults}"


def check_language(page: Page, look: dict) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "en" if look["language"] == "en" else "zh-hans")


def visit(page: Page, look: dict, path: str, shot, name: str) -> None:
    """Open ``path``, check its language and layout, keep a full-page screenshot."""
    page.goto(path)
    check_language(page, look)
    check_layout(page, path)
    shot(page, name)


def flash(page: Page):
    return page.get_by_role("status").first
