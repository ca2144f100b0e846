"""The yearly evaluation (JL-O3, art. 45–47) as pure functions: who evaluates a facility, whether a
formula is well formed, and the score and grade of one facility from its figures and the formula.

No database, no clock (STYLE 1). The figures come from the dashboard (``facilities.metrics``) and
quality control (JL-O2); the formula (weights and thresholds) is data the province publishes
(``EvaluationFormula``), so a year's result can always be recomputed from its stored snapshot.

The reading of the articles the portal makes (docs/architecture.md "Annual evaluation"):

- Art. 45: the province evaluates county-level-and-above facilities (level 2 and 3 hospitals and
  other non-primary facilities); a city (市州) evaluates the primary-care facilities (基层医疗卫生
  机构: township health centres, community health service centres, and level 1 facilities) of its
  city. County regulators see results in their county (JL-O1) but do not grade.
- Each figure becomes a part score from 0 to 100; the score is the weighted mean of the part scores
  of the figures the facility has (a figure without data — no obligation due, no rating, no QC
  review, no request answered — is left out and the other weights carry the score), rounded half up
  to one decimal. The grade compares that shown score with the thresholds: score ≥ excellent is
  优秀, score ≥ pass is 合格, otherwise 不合格.
- Art. 47: a 不合格 year bars the facility's principal (主要负责人) from that year's awards; two
  不合格 years in a row raise the accountability flag (问责).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.utils.translation import gettext_lazy as _

from .choices import DivisionLevel, EvaluationGrade, FacilityKind, FacilityLevel

RULE = "JL-O3"
PRIMARY_KINDS = frozenset({FacilityKind.TOWNSHIP_CENTRE, FacilityKind.COMMUNITY_CENTRE})

# The parts of the score, in the order pages and exports show them: key → (label, rule it measures).
PARTS: dict[str, tuple[object, str]] = {
    "volume": (_("服务量"), "JL-O3"),
    "compliance": (_("24小时规则按时率"), "JL-C2"),
    "response": (_("受邀方响应时间"), "JL-C4"),
    "turnaround": (_("受理至签发时长"), "JL-C4"),
    "satisfaction": (_("满意度"), "JL-O5"),
    "qc": (_("质控得分"), "JL-O2"),
    "violations": (_("违规记录"), "JL-C2"),
    "suspensions": (_("暂停服务"), "JL-F5"),
}
# Thresholds of a formula: key → label. Scores are out of 100.
THRESHOLDS: dict[str, object] = {
    "excellent": _("优秀最低分"),
    "pass": _("合格最低分"),
    "volume_target": _("服务量满分标准（例）"),
    "response_target_hours": _("响应时间满分标准（小时）"),
    "turnaround_target_hours": _("受理至签发满分标准（小时）"),
    "violation_penalty": _("每条违规扣分"),
    "suspension_penalty": _("每次暂停扣分"),
}
SATISFACTION_MAX = 5  # JL-O5 ratings are 1 to 5

# The figures a result keeps (its snapshot): key → label. The parts are computed from these.
INPUTS: dict[str, object] = {
    "sent": _("发出申请"),
    "completed": _("完成（意见/报告签发）"),
    "volume": _("服务量（发出＋完成）"),
    "obligations_due": _("24小时上传义务（到期）"),
    "obligations_met": _("按时上传"),
    "compliance_percent": _("24小时规则按时率（%）"),
    "response_median": _("响应时间中位数（秒）"),
    "turnaround_median": _("受理至签发时长中位数（秒）"),
    "ratings_count": _("满意度评价数"),
    "satisfaction_mean": _("满意度均分（1–5）"),
    "qc_reviews": _("质控评审数"),
    "qc_percent": _("质控平均得分率（%）"),
    "violations": _("违规记录（超时未上传）"),
    "suspensions": _("暂停服务次数"),
}


def evaluator_level(*, level: int, kind: str) -> str:
    """JL-O3 (art. 45): the division level that evaluates a facility — the city for primary-care
    facilities (乡镇卫生院, 社区卫生服务中心, level 1), the province for every other one."""
    if kind in PRIMARY_KINDS or level == FacilityLevel.LEVEL_1:
        return DivisionLevel.CITY
    return DivisionLevel.PROVINCE


def formula_problems(weights: dict, thresholds: dict) -> list[str]:
    """JL-O3: what is wrong with a formula (empty when it is well formed). Weights are whole
    numbers ≥ 0 for every part, adding up to 100; thresholds are numbers with 0 ≤ pass <
    excellent ≤ 100, targets above 0 and penalties from 0 to 100."""
    problems = []
    if set(weights) != set(PARTS) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in weights.values()):
        problems.append(_("JL-O3 第四十五条: 权重须为每个指标给出不小于 0 的整数。"))
    elif sum(weights.values()) != 100:
        problems.append(_("JL-O3 第四十五条: 权重合计须为 100（现为 %(n)s）。") % {"n": sum(weights.values())})
    numeric = set(thresholds) == set(THRESHOLDS) and all(
        isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in thresholds.values())
    if not numeric:
        problems.append(_("JL-O3 第四十七条: 请为每个标准填写数值。"))
        return problems
    t = {k: Decimal(str(v)) for k, v in thresholds.items()}
    if not (0 <= t["pass"] < t["excellent"] <= 100):
        problems.append(_("JL-O3 第四十七条: 须满足 0 ≤ 合格最低分 < 优秀最低分 ≤ 100。"))
    if min(t["volume_target"], t["response_target_hours"], t["turnaround_target_hours"]) <= 0:
        problems.append(_("JL-O3 第四十五条: 服务量、响应时间和签发时长的满分标准须大于 0。"))
    if not (0 <= t["violation_penalty"] <= 100 and 0 <= t["suspension_penalty"] <= 100):
        problems.append(_("JL-O3 第四十五条: 扣分须在 0 至 100 之间。"))
    return problems


def _fraction(value) -> Fraction:
    return Fraction(str(value)) if not isinstance(value, (int, Fraction)) else Fraction(value)


def _time_part(median_seconds, target_hours) -> Fraction | None:
    """Full marks up to the target, falling linearly to 0 at twice the target."""
    if median_seconds is None:
        return None
    target = _fraction(target_hours) * 3600
    over = max(Fraction(0), Fraction(median_seconds) - target)
    return max(Fraction(0), 100 * (1 - over / target))


def parts(inputs: dict, thresholds: dict) -> dict[str, Fraction | None]:
    """Each part score (0–100, exact), None for a figure without data."""
    t = {k: _fraction(v) for k, v in thresholds.items()}
    compliance, satisfaction, qc = inputs.get("compliance_percent"), inputs.get("satisfaction_mean"), inputs.get("qc_percent")
    return {
        "volume": min(Fraction(100), 100 * Fraction(int(inputs.get("volume") or 0)) / t["volume_target"]),
        "compliance": None if compliance is None else min(Fraction(100), _fraction(compliance)),
        "response": _time_part(inputs.get("response_median"), t["response_target_hours"]),
        "turnaround": _time_part(inputs.get("turnaround_median"), t["turnaround_target_hours"]),
        "satisfaction": None if satisfaction is None else min(Fraction(100), 100 * _fraction(satisfaction) / SATISFACTION_MAX),
        "qc": None if qc is None else min(Fraction(100), _fraction(qc)),
        "violations": max(Fraction(0), 100 - int(inputs.get("violations") or 0) * t["violation_penalty"]),
        "suspensions": max(Fraction(0), 100 - int(inputs.get("suspensions") or 0) * t["suspension_penalty"]),
    }


def one_decimal(value: Fraction) -> Decimal:
    """Half up to one decimal, exactly (no float on the way)."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Outcome:
    score: Decimal
    grade: str
    parts: dict  # key → part score (Decimal, one decimal) or None


def grade_for(score: Decimal, thresholds: dict) -> str:
    """JL-O3 (art. 47): the grade of a shown score; a score equal to a threshold reaches it."""
    if score >= Decimal(str(thresholds["excellent"])):
        return EvaluationGrade.EXCELLENT
    if score >= Decimal(str(thresholds["pass"])):
        return EvaluationGrade.PASS
    return EvaluationGrade.FAIL


def evaluate(inputs: dict, *, weights: dict, thresholds: dict) -> Outcome:
    """JL-O3 (art. 45–47): one facility's score and provisional grade from its figures."""
    found = parts(inputs, thresholds)
    present = {k: v for k, v in found.items() if v is not None and weights.get(k, 0) > 0}
    total_weight = sum(weights[k] for k in present)
    exact = sum((weights[k] * v for k, v in present.items()), Fraction(0)) / total_weight if total_weight else Fraction(0)
    score = one_decimal(exact)
    return Outcome(score, grade_for(score, thresholds), {k: None if v is None else one_decimal(v) for k, v in found.items()})


def accountability(*, grade: str, previous_grade: str | None) -> bool:
    """JL-O3 (art. 47): two 不合格 years in a row raise the accountability flag (问责)."""
    return grade == EvaluationGrade.FAIL and previous_grade == EvaluationGrade.FAIL


def principal_barred(grade: str) -> bool:
    """JL-O3 (art. 47): after a 不合格 year the principal takes no part in that year's awards."""
    return grade == EvaluationGrade.FAIL
