"""Untrusted text made safe to store and to show: one place that knows which characters go.

- Control characters (Unicode category Cc: NUL, escape, DEL, C1 controls …). PostgreSQL refuses
  NUL in ``text`` and ``jsonb``; the rest only hide or garble what a reader sees.
- Direction overrides and isolates (U+202A–U+202E, U+2066–U+2069) and zero-width characters
  (U+200B–U+200F, U+2060, U+FEFF): they make ``报告‮fdp.exe`` look like ``报告exe.pdf`` (Trojan
  Source, CVE-2021-42574) or make two different strings look the same.

Line breaks and tabs are kept where a text may have lines (a reason, a note); a file name keeps
none of them.
"""

from __future__ import annotations

import re
import unicodedata

INVISIBLE = frozenset(
    [chr(c) for c in range(0x200B, 0x2010)]  # zero-width space, non-joiner, joiner, LRM, RLM
    + [chr(c) for c in range(0x202A, 0x202F)]  # LRE, RLE, PDF, LRO, RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI, RLI, FSI, PDI
    + ["\u2060", "\ufeff"]  # word joiner, zero-width no-break space (BOM)
)
LINE_CHARACTERS = frozenset("\n\r\t")


def _unsafe(ch: str, keep: frozenset[str]) -> bool:
    if ch in keep:
        return False
    return ch in INVISIBLE or unicodedata.category(ch) == "Cc"


def clean_text(value: str, *, keep_lines: bool = True) -> str:
    """``value`` without control, direction-override and zero-width characters."""
    keep = LINE_CHARACTERS if keep_lines else frozenset()
    if value.isprintable():  # the common case; every character removed here is non-printable
        return value
    return "".join(ch for ch in value if not _unsafe(ch, keep))


# Values ``clean_data`` returns as they are, known by their exact type without a call (issue 11: an
# access record's details list the ids on the page, cleaned on every page view).
_KEPT_TYPES = frozenset({int, float, bool, type(None)})


def clean_data(value):
    """``clean_text`` applied to every string in nested dicts, lists and tuples (keys too)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: v if type(v) in _KEPT_TYPES else clean_data(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _KEPT_TYPES else clean_data(v) for v in value]
    return value


# --- Spreadsheet cells (CSV and Excel exports) ----------------------------------------------------

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def spreadsheet_cell(value):
    """A cell value that a spreadsheet shows as typed, never runs as a formula (OWASP "CSV
    injection"): text starting with ``= + - @``, a tab or a carriage return gets a leading ``'``.

    Numbers stay numbers: a non-text value is returned unchanged, and so is text that is only a
    decimal number (``-1234.56``, a refund in a CSV money column), which no spreadsheet evaluates.
    Every CSV and Excel export of the portal passes its data cells through here; only the
    formulas an export writes itself (``=SUM(…)``) bypass it.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_row(values) -> list:
    return [spreadsheet_cell(value) for value in values]
