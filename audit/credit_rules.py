"""The credit grade of a facility (JL-O6 信用记录), pure: no database (STYLE 1). docs/supervision.md
"Credit record" states the same table for people.

A facility starts each day at ``FULL_SCORE`` points; every entry of its credit record dated within
the last ``LOOKBACK_DAYS`` days (the entry's day counted in Beijing time, today included) deducts the
points of its kind; the score never goes below 0. The grade is the first band the score reaches:

    A ≥ 90,  B ≥ 75,  C ≥ 60,  D below 60.

Kinds and deductions (``DEDUCTIONS``):

- ``violation``            JL-C2 missed 24-hour upload                       2
- ``suspension``           JL-F5/JL-O7 stop-and-report suspension            5
- ``suspension_ordered``   JL-F5 suspension ordered by the regulator         15
- ``inspection_minor``     JL-O6 published inspection, minor findings        5
- ``inspection_serious``   JL-O6 published inspection, serious findings      15
- ``inspection_overdue``   JL-O6 rectification not done by its deadline      10
- ``complaint``            JL-O6 substantiated complaint                     3
- ``evaluation_fail``      JL-O3 yearly evaluation 不合格                     20
- ``evaluation_pass`` / ``evaluation_excellent`` / ``inspection_clean``      0 (on record, no deduction)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

RULE = "JL-O6"
FULL_SCORE = 100
LOOKBACK_DAYS = 365
BANDS: tuple[tuple[str, int], ...] = (("A", 90), ("B", 75), ("C", 60))
LOWEST = "D"
DEDUCTIONS: dict[str, int] = {
    "violation": 2,
    "suspension": 5,
    "suspension_ordered": 15,
    "inspection_clean": 0,
    "inspection_minor": 5,
    "inspection_serious": 15,
    "inspection_overdue": 10,
    "complaint": 3,
    "evaluation_excellent": 0,
    "evaluation_pass": 0,
    "evaluation_fail": 20,
}


@dataclass(frozen=True)
class Grade:
    score: int
    grade: str
    counted: int  # entries inside the window


def in_window(*, on: dt.date, today: dt.date, days: int = LOOKBACK_DAYS) -> bool:
    """An entry dated ``on`` counts today when it is at most ``days - 1`` days old and not in the future."""
    return today - dt.timedelta(days=days - 1) <= on <= today


def window_start(today: dt.date, days: int = LOOKBACK_DAYS) -> dt.date:
    return today - dt.timedelta(days=days - 1)


def deduction(kind: str) -> int:
    """Points a kind deducts; an unknown kind raises, so that a new source must be priced here first."""
    return DEDUCTIONS[kind]


def band(score: int) -> str:
    for grade, floor in BANDS:
        if score >= floor:
            return grade
    return LOWEST


def credit_grade(entries: Iterable[tuple[str, dt.date]], *, today: dt.date, days: int = LOOKBACK_DAYS) -> Grade:
    """JL-O6: the facility's score and grade from its entries ``(kind, day)``."""
    counted = [(kind, on) for kind, on in entries if in_window(on=on, today=today, days=days)]
    score = max(0, FULL_SCORE - sum(deduction(kind) for kind, _on in counted))
    return Grade(score=score, grade=band(score), counted=len(counted))
