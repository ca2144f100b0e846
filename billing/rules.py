"""The billing rulebook as pure functions on integer fen (JL-B1..B5).

Nothing here touches the database or the clock. Money is always ``int`` fen: there is no float
and no ``Decimal`` arithmetic anywhere in the portal's money path (STYLE 6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_noop

from telemed.checks import Check

CONSULTATION_RATIO = (2, 8)  # art. 44: 省级、市级、县级会诊项目，邀请方、受邀方按2:8分配
MIN_STAFF_SHARE_BASIS_POINTS = 6000  # art. 44: 不得低于服务费用的60%
BEIJING = ZoneInfo("Asia/Shanghai")
CLOCK_SKEW = dt.timedelta(minutes=5)  # a clock a few minutes ahead is not a payment "in the future"


# --- JL-B3: the split -----------------------------------------------------------------------


def split_fee(fee_fen: int, inviting_parts: int, invited_parts: int) -> tuple[int, int]:
    """Split ``fee_fen`` between inviting and invited facility in the ratio ``inviting:invited``.

    Rounding rule (written down here and in README → Billing): the inviting facility's share is
    rounded *down* to the whole fen, ``fee × inviting ÷ (inviting + invited)``, and the invited
    facility receives the rest. So the two shares always add up to the fee exactly, neither is
    negative, and the at most one fen of rounding goes to the invited facility, whose experts did
    the work and to whom the fee is paid (art. 42).
    """
    if not isinstance(fee_fen, int) or isinstance(fee_fen, bool):
        raise TypeError("fees are whole fen (int)")
    if fee_fen < 0:
        raise ValueError("a fee cannot be negative; a refund is a reversal")
    if inviting_parts < 0 or invited_parts < 0 or inviting_parts + invited_parts == 0:
        raise ValueError("a ratio needs non-negative parts that are not both zero")
    inviting = fee_fen * inviting_parts // (inviting_parts + invited_parts)
    return inviting, fee_fen - inviting


@dataclass(frozen=True)
class SplitBasis:
    inviting_parts: int
    invited_parts: int
    text: str


def split_basis(*, negotiated: bool, agreement_ratio: tuple[int, int] | None) -> SplitBasis:
    """Art. 44: consultation items 2:8; outpatient, ECG, imaging, laboratory and pathology
    diagnosis at the ratio the cooperation agreement negotiated."""
    if not negotiated:
        return SplitBasis(*CONSULTATION_RATIO, "JL-B3 第四十四条 会诊项目 2:8")
    if agreement_ratio is None:
        raise ValueError("a negotiated item needs the agreement's ratio")
    a, b = agreement_ratio
    return SplitBasis(a, b, f"JL-B3 第四十四条 协议约定 {a}:{b}")


# --- JL-B1: prices within the standard -----------------------------------------------------------


def standard_for(standards: Sequence, *, service_code: str, level: int, on: dt.date):
    """The standard in force: for that service on that day, the level-specific one if published,
    else the general one; the newest ``valid_from`` wins."""
    in_force = [
        s for s in standards
        if s.service_type_id == service_code and s.valid_from <= on and (s.valid_until is None or s.valid_until >= on)
        and s.facility_level in (None, level)
    ]
    if not in_force:
        return None
    return max(in_force, key=lambda s: (s.facility_level is not None, s.valid_from))


def price_check(*, price_fen: int, standard) -> Check:
    if standard is None:
        return Check("JL-B1", gettext_noop("第三十九条"), gettext_noop("须有卫生健康行政部门公布的价格标准"), False, "该项目在该日期无有效价格标准")
    ok = 0 < price_fen <= standard.max_price_fen
    return Check(
        "JL-B1",
        gettext_noop("第三十九条"),
        gettext_noop("机构收费标准不得超出价格标准"),
        ok,
        f"收费 {yuan(price_fen)}，标准上限 {yuan(standard.max_price_fen)}（{standard.document_number}）",
    )


# --- JL-B2: what the patient paid ----------------------------------------------------------------


def payment_checks(*, fee_fen: int, insurance_fen: int, self_pay_fen: int, receipt_number: str) -> list[Check]:
    return [
        Check("JL-B2", gettext_noop("第四十一条"), gettext_noop("须记录财政部门监制的收费票据号"), bool(receipt_number.strip())),
        Check(
            "JL-B2",
            gettext_noop("第五条"),
            gettext_noop("医保支付与个人自付须分别记录，且合计等于服务费"),
            insurance_fen >= 0 and self_pay_fen >= 0 and insurance_fen + self_pay_fen == fee_fen,
            f"医保 {yuan(insurance_fen)} + 自付 {yuan(self_pay_fen)}，服务费 {yuan(fee_fen)}",
        ),
    ]


def payment_time_check(paid_at: dt.datetime, *, now: dt.datetime, rule: str = "JL-B2", article: str = "第四十一条") -> Check:
    """A payment (the patient's, JL-B2; the statement's transfer, JL-B4) cannot be recorded as made
    in the future; ``CLOCK_SKEW`` allows a clock a few minutes ahead."""
    ok = paid_at <= now + CLOCK_SKEW
    detail = "" if ok else f"所填时间 {paid_at.astimezone(BEIJING):%Y-%m-%d %H:%M}（北京时间）"
    return Check(rule, article, gettext_noop("付款时间不能晚于当前时间"), ok, detail)


# --- JL-B4: payee --------------------------------------------------------------------------------


def payee_checks(*, account_facility_id: int, payee_facility_id: int, facility_name: str, account_name: str,
                 account_kind: str, person_names: Iterable[str]) -> list[Check]:
    """The fee goes to the invited facility's dedicated corporate account, never to a person."""
    names = {n.strip() for n in person_names if n and n.strip()}
    return [
        Check("JL-B4", gettext_noop("第四十二条"), gettext_noop("收款账户须属于受邀方医疗机构"), account_facility_id == payee_facility_id),
        Check("JL-B4", gettext_noop("第四十二条"), gettext_noop("须为单位对公账户，不得为个人账户"), account_kind == "corporate"),
        Check(
            "JL-B4",
            gettext_noop("第四十二条"),
            gettext_noop("户名须为机构名称，不得为会诊医师本人"),
            account_name.strip() == facility_name.strip() and account_name.strip() not in names,
            f"户名：{account_name}",
        ),
    ]


# --- JL-B5 ---------------------------------------------------------------------------------------


def allocation_check(staff_share_basis_points: int) -> Check:
    ok = MIN_STAFF_SHARE_BASIS_POINTS <= staff_share_basis_points <= 10000
    return Check(
        "JL-B5",
        gettext_noop("第四十四条"),
        gettext_noop("医务人员补贴不得低于服务费用的60%"),
        ok,
        f"现为 {staff_share_basis_points / 100:.2f}%",
    )


# --- Periods (Beijing time) --------------------------------------------------------------------


def month_of(moment: dt.datetime) -> dt.date:
    """The first day of the Beijing-time month a moment falls in (23:59:59 on the 31st stays in it)."""
    local = moment.astimezone(BEIJING)
    return dt.date(local.year, local.month, 1)


def next_month(first: dt.date) -> dt.date:
    return dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def previous_month(first: dt.date) -> dt.date:
    return dt.date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def period_bounds(first: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a Beijing-time month as aware datetimes."""
    start = dt.datetime(first.year, first.month, first.day, tzinfo=BEIJING)
    end_day = next_month(first)
    return start, dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=BEIJING)


def last_day(first: dt.date) -> dt.date:
    return next_month(first) - dt.timedelta(days=1)


# --- Reconciliation (JL-B4) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    count: int
    fee: int
    inviting: int
    invited: int


def totals(charges: Iterable, reversals: Iterable = ()) -> Totals:
    """Charges add, reversed charges subtract (a refund settles in the month it happens)."""
    count = fee = inviting = invited = 0
    for c in charges:
        count += 1
        fee += c.fee_fen
        inviting += c.inviting_share_fen
        invited += c.invited_share_fen
    for r in reversals:
        count += 1
        fee -= r.charge.fee_fen
        inviting -= r.charge.inviting_share_fen
        invited -= r.charge.invited_share_fen
    return Totals(count, fee, inviting, invited)


def reconcile_check(*, stated: Totals, computed: Totals) -> Check:
    return Check(
        "JL-B4",
        gettext_noop("第四十二条"),
        gettext_noop("结算单合计须与所含收费明细一致"),
        stated == computed,
        gettext_noop("结算单 %(stated)s，明细 %(computed)s"),
        {"stated": yuan(stated.invited), "computed": yuan(computed.invited)},
    )


def statement_month_ended_check(period_start: dt.date, *, now: dt.datetime) -> Check:
    """JL-B4: a statement is drafted only for a whole Beijing-time month that has already ended
    (2026-11-30T16:30Z is already 1 December in Beijing, so November may then be drafted)."""
    if period_start.day != 1:
        return Check("JL-B4", gettext_noop("第四十二条"), gettext_noop("结算周期须为整月（自每月1日起）"), False, f"所填起始日 {period_start:%Y-%m-%d}")
    _start, end = period_bounds(period_start)
    return Check(
        "JL-B4",
        gettext_noop("第四十二条"),
        gettext_noop("结算单只能在该月结束（北京时间）后生成"),
        now >= end,
        f"{period_start:%Y-%m} 于 {end:%Y-%m-%d %H:%M}（北京时间）结束",
    )


def statement_items_check(period_start: dt.date, moments: Iterable[dt.datetime]) -> Check:
    """JL-B4: a charge made in a month (or a reversal made in a month) is settled by that month's
    statement and no other; ``moments`` are the items' completion/reversal times."""
    strays = sorted({f"{m.astimezone(BEIJING):%Y-%m-%d %H:%M}" for m in moments if month_of(m) != period_start})
    return Check(
        "JL-B4",
        gettext_noop("第四十二条"),
        gettext_noop("每笔收费须由其发生月份的结算单结算"),
        not strays,
        f"不属于 {period_start:%Y-%m} 的明细：{'、'.join(strays)}（北京时间）" if strays else "",
    )


def yuan(fen: int) -> str:
    """``123456`` → ``¥1,234.56`` (display only; arithmetic stays in fen)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


# --- JL-B6: per-person payouts (art. 43) ---------------------------------------------------------

SIGNER_WEIGHT = 2  # the expert who signed the opinion or report (JL-C6) answers for it (JL-C7)
EXPERT_WEIGHT = 1  # an expert assigned to the case who did not sign
ATTENDING_WEIGHT = 1  # each attending physician the inviting facility named (JL-C3)


def distribute(amount_fen: int, weights: Sequence[int]) -> list[int]:
    """Divide ``amount_fen`` among persons by ``weights`` so that the parts add up to it exactly.

    Largest remainder (Hamilton): each person first gets the exact share ``amount × w ÷ Σw``
    rounded down; the fen left over (fewer than the number of persons) go one each to the persons
    whose exact share lost the most in rounding. **Tie-break:** among equal remainders, the person
    listed first wins — callers list persons in a stable order (by physician id), so the same
    charge always divides the same way. Every part is non-negative and within one fen of the exact
    share; a person of weight 0 gets nothing.
    """
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise TypeError("amounts are whole fen (int)")
    if amount_fen < 0:
        raise ValueError("an amount to distribute cannot be negative")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    total = sum(weights)
    parts = [amount_fen * w // total for w in weights]
    left = amount_fen - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount_fen * weights[i] % total), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


def staff_part(share_fen: int, staff_share_basis_points: int) -> int:
    """JL-B5/JL-B6: the medical staff's part of a facility's share of one charge.

    Rounded *up* to the fen, so that the staff never receive less than the policy's percentage
    (art. 44: 不得低于60%); the facility keeps the rest.
    """
    if not 0 <= staff_share_basis_points <= 10000:
        raise ValueError("basis points lie between 0 and 10000")
    return -(-share_fen * staff_share_basis_points // 10000)


@dataclass(frozen=True)
class Recipient:
    physician_id: int
    role: str  # "signer", "expert" or "attending"
    weight: int


def payout_recipients(*, side: str, attending_ids: Iterable[int] = (), expert_ids: Iterable[int] = (),
                      signer_ids: Iterable[int] = ()) -> list[Recipient]:
    """Who receives a facility's staff part of one charge (JL-B6, art. 43), in physician id order.

    - The **invited** facility (``side="invited"``): every expert who signed a version of the
      opinion or report (weight ``SIGNER_WEIGHT``) and every other expert assigned to the case
      (weight ``EXPERT_WEIGHT``).
    - The **inviting** facility (``side="inviting"``): every attending physician it named on the
      case (weight ``ATTENDING_WEIGHT``).

    An empty list means nobody qualifies: that part stays unassigned and the report does not
    reconcile until the case data are complete.
    """
    if side == "inviting":
        return [Recipient(pid, "attending", ATTENDING_WEIGHT) for pid in sorted(set(attending_ids))]
    if side != "invited":
        raise ValueError("side is inviting or invited")
    signers = set(signer_ids)
    people = signers | set(expert_ids)
    return [
        Recipient(pid, "signer", SIGNER_WEIGHT) if pid in signers else Recipient(pid, "expert", EXPERT_WEIGHT)
        for pid in sorted(people)
    ]


def policy_in_force(policies: Sequence, *, on: dt.date):
    """The facility's allocation policy (JL-B5) in force on a day: the newest ``valid_from`` not
    after it, the latest adopted among equals; ``None`` when none was in force yet."""
    in_force = [p for p in policies if p.valid_from <= on]
    return max(in_force, key=lambda p: (p.valid_from, p.adopted_at, p.pk or 0)) if in_force else None


def month_ended_check(month: dt.date, *, now: dt.datetime) -> Check:
    """JL-B6: a month's payout report is drafted only once the month has ended in Beijing time."""
    _start, end = period_bounds(month)
    return Check(
        "JL-B6",
        gettext_noop("第四十三条"),
        gettext_noop("绩效分配表须在该月结束（北京时间）后生成"),
        now >= end,
        f"{month:%Y-%m} 于 {end:%Y-%m-%d %H:%M}（北京时间）结束",
    )


def payout_reconcile_check(*, lines_total_fen: int, staff_total_fen: int) -> Check:
    """JL-B6: the persons' lines add up, to the fen, to the staff part of the month's charges."""
    return Check(
        "JL-B6",
        gettext_noop("第四十三条"),
        gettext_noop("个人分配合计须与当月收费中医务人员部分一致"),
        lines_total_fen == staff_total_fen,
        f"个人合计 {yuan(lines_total_fen)}，医务人员部分 {yuan(staff_total_fen)}",
    )
