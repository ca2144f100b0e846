"""The rulebook of random inspections, 双随机一公开 (JL-O6), pure: no database, no request (STYLE 1).

- The draw: random facilities from the candidates of the plan's division (JL-O1), then for each drawn
  facility random inspectors from the regulator's roster, **never one who works at that facility**.
  It is a pure function of the ordered candidate lists and the recorded seed (``audit.rules.
  seeded_sample``, the same draw QC uses), so anyone holding the three recomputes it and sees that it
  was fair (``verify`` on the plan's page, the public page shows seed and candidates).
- Findings: a severity, a public summary, and — when something was found — the rectification
  required and its deadline; the facility answers with the rectification done. An answer after the
  deadline is accepted and stays flagged as late.
- Publication: only a drawn plan whose every facility has its result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from telemed.checks import Check

from .choices import FindingSeverity, InspectionResultState
from .rules import seeded_sample

RULE = "JL-O6"
ARTICLE = "双随机一公开"
MAX_FACILITIES = 200
MAX_INSPECTORS_PER_FACILITY = 10


@dataclass(frozen=True)
class InspectionDraw:
    """What a seed gives: the drawn facilities (sorted), each one's inspectors (roster entry ids,
    sorted), and the drawn facilities left without enough eligible inspectors."""

    facility_ids: list[int]
    assignments: dict[int, list[int]] = field(default_factory=dict)
    short: list[int] = field(default_factory=list)


def draw_inspection(*, facility_ids: Iterable[int], roster: Sequence[tuple[int, int | None]], facility_count: int,
                    per_facility: int, seed: str) -> InspectionDraw:
    """JL-O6 双随机: ``facility_count`` facilities from ``facility_ids``, then ``per_facility``
    inspectors for each from ``roster`` — pairs (roster entry id, the facility the inspector works at
    or None) — excluding those who work at the drawn facility. Deterministic from the seed; the order
    of the inputs does not matter."""
    drawn = seeded_sample(facility_ids, facility_count, seed=seed, salt="JL-O6:facilities")
    assignments: dict[int, list[int]] = {}
    short: list[int] = []
    for facility_id in drawn:
        eligible = sorted({int(entry) for entry, workplace in roster if workplace != facility_id})
        if len(eligible) < per_facility:
            short.append(facility_id)
            continue
        assignments[facility_id] = seeded_sample(eligible, per_facility, seed=seed, salt=f"JL-O6:inspectors:{facility_id}")
    return InspectionDraw(facility_ids=drawn, assignments=assignments, short=short)


def draw_reproduces(*, recorded_facilities: Sequence[int], recorded_assignments: dict, redrawn: InspectionDraw) -> bool:
    """The recorded draw is exactly what the seed gives (assignment keys are strings once stored as JSON)."""
    stored = {int(k): sorted(int(v) for v in values) for k, values in recorded_assignments.items()}
    return sorted(int(pk) for pk in recorded_facilities) == redrawn.facility_ids and stored == redrawn.assignments


def plan_checks(*, title: str, kinds: Sequence[str], levels: Sequence[int], facility_count: int, per_facility: int,
                period_start: dt.date, period_end: dt.date) -> list[Check]:
    """JL-O6: a plan names its title, at least one facility kind and level, how many facilities and how
    many inspectors per facility, and a period that ends after it starts."""
    return [
        Check(RULE, ARTICLE, _("须写明抽查计划名称"), bool(title.strip())),
        Check(RULE, ARTICLE, _("须至少选择一个机构类别和一个机构级别"), bool(kinds) and bool(levels)),
        Check(RULE, ARTICLE, _("抽查机构数须在1至%(n)s之间") % {"n": MAX_FACILITIES}, 1 <= facility_count <= MAX_FACILITIES),
        Check(RULE, ARTICLE, _("每个机构的检查人员数须在1至%(n)s之间") % {"n": MAX_INSPECTORS_PER_FACILITY},
              1 <= per_facility <= MAX_INSPECTORS_PER_FACILITY),
        Check(RULE, ARTICLE, _("检查期限须晚于开始日期"), period_end >= period_start),
    ]


def findings_checks(*, state: str, severity: str, summary: str, rectification: str, deadline: dt.date | None,
                    today: dt.date) -> list[Check]:
    """JL-O6: a result is entered once, with a public summary; when a problem was found, the
    rectification required and a deadline not in the past."""
    found_problem = severity != FindingSeverity.NONE
    checks = [
        Check(RULE, ARTICLE, _("该机构的抽查结果已登记"), state == InspectionResultState.PENDING),
        Check(RULE, ARTICLE, _("须填写可公开的检查结果摘要（不得含患者信息）"), bool(summary.strip())),
        Check(RULE, ARTICLE, _("须选择检查结论"), severity in FindingSeverity.values),
    ]
    if found_problem:
        checks += [
            Check(RULE, ARTICLE, _("发现问题的，须写明整改要求"), bool(rectification.strip())),
            Check(RULE, ARTICLE, _("发现问题的，须规定不早于今天的整改期限"), deadline is not None and deadline >= today),
        ]
    return checks


def state_after_findings(severity: str) -> str:
    return InspectionResultState.CLEAN if severity == FindingSeverity.NONE else InspectionResultState.RECTIFYING


def rectify_checks(*, state: str, report: str) -> list[Check]:
    return [
        Check(RULE, ARTICLE, _("只有整改中的抽查结果可以报告整改完成"), state == InspectionResultState.RECTIFYING),
        Check(RULE, ARTICLE, _("须写明整改情况"), bool(report.strip())),
    ]


def rectification_overdue(*, deadline: dt.date | None, rectified_on: dt.date | None, today: dt.date) -> bool:
    """JL-O6: not rectified by the deadline (the whole Beijing day counts); a late report stays flagged."""
    if deadline is None:
        return False
    return (rectified_on or today) > deadline


def publish_checks(*, drawn: bool, published: bool, pending: int) -> list[Check]:
    """JL-O6 一公开: a plan is published once, after its draw, when every drawn facility has its result."""
    return [
        Check(RULE, ARTICLE, _("尚未公开"), not published),
        Check(RULE, ARTICLE, _("须先完成随机抽取"), drawn),
        Check(RULE, ARTICLE, _("每个被抽中的机构都须登记抽查结果"), pending == 0,
              "" if pending == 0 else str(_("尚有 %(n)s 个机构未登记") % {"n": pending})),
    ]
