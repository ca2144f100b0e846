"""Every figure of the dashboard, defined once (docs/metrics.md mirrors this table).

A figure is either a *counter* summed from the daily facts, a *derived* value computed from
counters, a *duration* statistic over the per-case intervals, or a *distinct* count. The facts
builder (``facts.py``) reads the ``timestamp`` named here to put each raw row on a Beijing day; the
figures (``figures.py``) compute every derived value with the functions below and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    rule: str
    definition: str
    timestamp: str
    unit: str = "count"  # count, percent, seconds, fen, score


COUNTERS: tuple[Figure, ...] = (
    Figure("sent", _("发出申请"), "JL-C4", _("邀请方发送（含退回后重新发送）的次数，计入邀请方"), "审计事件 consultation.send 的时间"),
    Figure("accepted", _("受理"), "JL-C4", _("受邀方受理的次数，计入受邀方"), "审计事件 consultation.accept 的时间"),
    Figure("declined", _("拒绝"), "JL-C4", _("受邀方拒绝的次数，计入受邀方"), "审计事件 consultation.decline 的时间"),
    Figure("returned", _("退回补充资料"), "JL-C5", _("受邀方退回资料的次数，计入受邀方"), "审计事件 consultation.return_material 的时间"),
    Figure("completed", _("完成（意见/报告签发）"), "JL-C6", _("首次签发意见或报告的申请数，计入受邀方"), "Consultation.signed_at"),
    Figure("obligations_due", _("24小时上传义务（到期）"), "JL-C2", _("截止时间在期内、已判定（按时完成或超时）的义务数，计入邀请方；撤销的不计"), "Obligation.due_at"),
    Figure("obligations_met", _("按时上传"), "JL-C2", _("其中状态为已按时上传且完成时间不晚于截止时间的义务数"), "Obligation.due_at"),
    Figure("violations", _("违规（超时未上传）"), "JL-C2", _("截止时间在期内的违规记录数，计入邀请方"), "Violation.due_at"),
    Figure("ratings_count", _("满意度评价数"), "JL-O5", _("期内记录的评价数，计入受邀方"), "Rating.recorded_at"),
    Figure("ratings_sum", _("评分合计"), "JL-O5", _("期内记录的评分之和"), "Rating.recorded_at", "score"),
    Figure("fee_fen", _("服务费"), "JL-B3", _("未冲正收费的服务费之和，计入邀请方（患者向邀请方缴费，JL-B2）"), "Charge.completed_at", "fen"),
    Figure("inviting_share_fen", _("邀请方分配"), "JL-B3", _("未冲正收费的邀请方分配之和，计入邀请方"), "Charge.completed_at", "fen"),
    Figure("invited_share_fen", _("受邀方分配"), "JL-B3", _("未冲正收费的受邀方分配之和，计入受邀方"), "Charge.completed_at", "fen"),
)

DERIVED: tuple[Figure, ...] = (
    Figure("compliance_percent", _("24小时规则按时率"), "JL-C2", _("按时上传 ÷ 到期义务 × 100，保留一位小数；无到期义务时为空"), "Obligation.due_at", "percent"),
    Figure("satisfaction_mean", _("满意度均分"), "JL-O5", _("评分合计 ÷ 评价数，保留两位小数；无评价时为空"), "Rating.recorded_at", "score"),
)

DURATIONS: tuple[Figure, ...] = (
    Figure("response_median", _("受邀方响应时间中位数"), "JL-C4", _("受理或拒绝时间减去其所答复的最近一次发送时间，取最近秩中位数"), "受理/拒绝审计事件的时间", "seconds"),
    Figure("response_p90", _("受邀方响应时间第90百分位"), "JL-C4", _("同上，最近秩第90百分位"), "受理/拒绝审计事件的时间", "seconds"),
    Figure("turnaround_median", _("受理至签发时长中位数"), "JL-C6", _("首次签发时间减去受理时间，取最近秩中位数"), "Consultation.signed_at", "seconds"),
    Figure("turnaround_p90", _("受理至签发时长第90百分位"), "JL-C6", _("同上，最近秩第90百分位"), "Consultation.signed_at", "seconds"),
)

DISTINCT: tuple[Figure, ...] = (
    Figure("active_facilities", _("参与机构"), "JL-O1", _("期内发出、受理、拒绝、退回或完成至少一次的机构数"), "同上各计数的时间"),
    Figure("active_experts", _("签发专家"), "JL-O3", _("期内首次签发意见或报告的不同专家数"), "Consultation.signed_at"),
)

SNAPSHOT: tuple[Figure, ...] = (
    Figure("facilities_accredited", _("已通过评估验收的机构（期末）"), "JL-F1", _("期末（本期未结束时为查看时）已通过评估验收的机构数：自首次审核通过起计（通过后不撤销）"), "AccreditationApplication.decided_at"),
    Figure("facilities_suspended", _("暂停中的机构（期末）"), "JL-F5", _("期末（本期未结束时为查看时）已报告暂停且尚未解除的机构数"), "Suspension.reported_at / lifted_at"),
)

FIGURES: dict[str, Figure] = {f.key: f for f in COUNTERS + DERIVED + DURATIONS + DISTINCT + SNAPSHOT}
COUNTER_KEYS: tuple[str, ...] = tuple(f.key for f in COUNTERS)
ACTIVITY_KEYS = ("sent", "accepted", "declined", "returned", "completed")
# The figures shown per period (headline, previous period, same period last year): every one
# except the raw score sum, which only serves the mean.
PERIOD_KEYS: tuple[str, ...] = tuple(
    f.key for f in COUNTERS + DERIVED + DURATIONS + DISTINCT if f.key != "ratings_sum"
)
RESPONSE, TURNAROUND = "response", "turnaround"


def nearest_rank(sorted_values: list[int], percent: int) -> int | None:
    """The nearest-rank percentile: the value at rank ⌈p/100 × n⌉ of the sorted values (exact)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent * len(sorted_values) / 100))
    return sorted_values[rank - 1]


def percent(numerator: int, denominator: int) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


def mean(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


ALL_SERVICES = "*"  # the service-type key of a statistic over every service type


@dataclass(frozen=True)
class Stat:
    """The exact statistics of one set of intervals: how many, nearest-rank median and 90th
    percentile, and the distinct experts among them (JL-O3, for the turnaround)."""

    count: int = 0
    median: int | None = None
    p90: int | None = None
    experts: int = 0


def duration_stat(values: list[int], physicians=()) -> Stat:
    """The one way an interval statistic is computed, whether from the intervals of any days at
    once or when the calendar periods' statistics are stored (facts.stats_rebuild)."""
    ordered = sorted(values)
    return Stat(len(ordered), nearest_rank(ordered, 50), nearest_rank(ordered, 90),
                len({p for p in physicians if p is not None}))


def derive(counters: dict[str, int], stats: dict[str, Stat], *, facilities: int) -> dict:
    """Every figure of one slice (a division, a facility, a service type) out of its counters,
    its interval statistics by kind and the number of facilities active in it."""
    values = {key: counters.get(key, 0) for key in COUNTER_KEYS}
    values["compliance_percent"] = percent(values["obligations_met"], values["obligations_due"])
    values["satisfaction_mean"] = mean(values["ratings_sum"], values["ratings_count"])
    for kind in (RESPONSE, TURNAROUND):
        stat = stats.get(kind) or Stat()
        values[f"{kind}_median"] = stat.median
        values[f"{kind}_p90"] = stat.p90
    values["active_facilities"] = facilities
    values["active_experts"] = (stats.get(TURNAROUND) or Stat()).experts
    return values
