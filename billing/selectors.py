"""Reads of the billing app, already scoped to the user (STYLE 3) and already joined.

Every list starts from ``Model.objects.visible_to(user)``; money rows (charges, statements,
settlement accounts, allocation policies) are further narrowed, for hospital staff, to the
facilities where the user holds a finance role (财务人员, 机构管理员, or the facility's partner
finance system): a clinician of a party sees no fees. Regulators see the rows of their division
and below (JL-O1). An object outside that is ``DoesNotExist`` → 404.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_lazy as _

from facilities.choices import StaffRole
from telemed.scope import Scope

from . import rules
from .models import (
    AllocationPolicy,
    Charge,
    ChargeReversal,
    FacilityPrice,
    PayoutLine,
    PayoutReport,
    PriceStandard,
    SettlementAccount,
    Statement,
)

# Who sees money at a facility. The services decide who may *write* (finance, admin).
BILLING_ROLES = (StaffRole.FINANCE, StaffRole.FACILITY_ADMIN, StaffRole.PARTNER_SYSTEM)

UNSETTLED, IN_STATEMENT, REVERSED = "unsettled", "in_statement", "reversed"
CHARGE_STATUSES = (
    (UNSETTLED, _("未结算")),
    (IN_STATEMENT, _("已入结算单")),
    (REVERSED, _("已冲正")),
)


def parse_period(value: str) -> dt.date | None:
    """``"2026-11"`` → ``date(2026, 11, 1)``; anything else → None."""
    try:
        year, month = (int(part) for part in value.strip().split("-"))
        return dt.date(year, month, 1)
    except (ValueError, AttributeError):
        return None


def charge_status(charge: Charge) -> str:
    """A reversal wins over a statement: the refund is what the finance officer must see."""
    if getattr(charge, "reversal", None) is not None:
        return REVERSED
    return IN_STATEMENT if charge.statement_id else UNSETTLED


def _for_finance(queryset: QuerySet, user, facility_fields: tuple[str, ...]) -> QuerySet:
    """``visible_to(user)``, then, for hospital staff, only facilities where they hold a finance role."""
    scope = Scope.of(user)
    queryset = queryset.visible_to(user)
    if scope.is_regulator:
        return queryset
    own = scope.facilities_with_role(*BILLING_ROLES)
    condition = Q(pk__in=[])
    for field in facility_fields:
        condition |= Q(**{f"{field}__in": own})
    return queryset.filter(condition)


def _either_party(facility_id: int) -> Q:
    return Q(inviting_id=facility_id) | Q(invited_id=facility_id)


# --- Charges (JL-B2, JL-B3) -----------------------------------------------------------------------


def filter_charges(
    queryset: QuerySet, *, period: dt.date | None = None, counterpart_id: int | None = None, service_type: str = "",
    status: str = "", paid: bool | None = None,
) -> QuerySet:
    """The charge filters of the page and the API alike.

    ``period`` is a Beijing-time month (its first day) of completion; ``counterpart_id`` the other
    party; ``status`` one of ``CHARGE_STATUSES``; ``paid`` whether the patient's payment is recorded.
    """
    if period is not None:
        start, end = rules.period_bounds(period)
        queryset = queryset.filter(completed_at__gte=start, completed_at__lt=end)
    if counterpart_id:
        queryset = queryset.filter(_either_party(counterpart_id))
    if service_type:
        queryset = queryset.filter(service_type_id=service_type)
    if status == UNSETTLED:
        queryset = queryset.filter(statement__isnull=True, reversal__isnull=True)
    elif status == IN_STATEMENT:
        queryset = queryset.filter(statement__isnull=False, reversal__isnull=True)
    elif status == REVERSED:
        queryset = queryset.filter(reversal__isnull=False)
    if paid is not None:
        queryset = queryset.filter(paid_at__isnull=not paid)
    return queryset


def charge_list(*, user, **filters) -> QuerySet:
    """Charges of the user's facilities, newest first, with everything a row shows joined."""
    queryset = _for_finance(Charge.objects.all(), user, ("inviting_id", "invited_id")).select_related(
        "consultation", "inviting", "invited", "service_type", "statement", "reversal"
    )
    return filter_charges(queryset, **filters).order_by("-completed_at", "-pk")


def charge_detail(*, user, pk: int) -> Charge:
    return charge_list(user=user).get(pk=pk)


# --- Statements (JL-B4) ---------------------------------------------------------------------------


def filter_statements(queryset: QuerySet, *, period: dt.date | None = None, counterpart_id: int | None = None,
                      state: str = "") -> QuerySet:
    if period is not None:
        queryset = queryset.filter(period_start=period)
    if counterpart_id:
        queryset = queryset.filter(_either_party(counterpart_id))
    if state:
        queryset = queryset.filter(state=state)
    return queryset


def statement_list(*, user, **filters) -> QuerySet:
    queryset = _for_finance(Statement.objects.all(), user, ("inviting_id", "invited_id")).select_related(
        "inviting", "invited", "payee_account"
    )
    return filter_statements(queryset, **filters).order_by("-period_start", "inviting__name", "invited__name", "pk")


def with_lines(queryset: QuerySet) -> QuerySet:
    """Statements with their lines (charges and reversals) and everything an export row shows."""
    charges = Charge.objects.select_related("consultation", "service_type").order_by("completed_at", "pk")
    reversals = ChargeReversal.objects.select_related(
        "charge__consultation", "charge__service_type", "reversed_by"
    ).order_by("reversed_at", "pk")
    return queryset.select_related(
        "inviting__division", "invited__division", "payee_account", "inviting_confirmed_by", "invited_confirmed_by",
        "paid_recorded_by",
    ).prefetch_related(Prefetch("charges", queryset=charges), Prefetch("reversals", queryset=reversals))


def statement_detail(*, user, pk: int) -> Statement:
    """One statement with its lines, ready for the page, the API and the exports."""
    return with_lines(statement_list(user=user)).get(pk=pk)


def stated_totals(statement: Statement) -> rules.Totals:
    return rules.Totals(
        statement.charge_count, statement.fee_total_fen, statement.inviting_share_total_fen, statement.invited_share_total_fen
    )


def computed_totals(statement: Statement) -> rules.Totals:
    """The totals of a statement loaded ``with_lines`` (no further query)."""
    return rules.totals(statement.charges.all(), statement.reversals.all())


def statement_reconciliation(statement: Statement):
    """JL-B4: the stored totals against the lines, for a statement loaded ``with_lines``."""
    return rules.reconcile_check(stated=stated_totals(statement), computed=computed_totals(statement))


# --- Prices (JL-B1) -------------------------------------------------------------------------------


def price_standard_list(*, user, service_type: str = "", in_force_on: dt.date | None = None) -> QuerySet:
    """Published standards are public to every logged-in user (art. 39: 公布)."""
    if not getattr(user, "is_authenticated", False):
        return PriceStandard.objects.none()
    queryset = PriceStandard.objects.select_related("service_type")
    if service_type:
        queryset = queryset.filter(service_type_id=service_type)
    if in_force_on is not None:
        queryset = queryset.filter(valid_from__lte=in_force_on).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gte=in_force_on)
        )
    return queryset.order_by("service_type__sort_order", "service_type_id", "facility_level", "-valid_from", "pk")


def facility_price_list(*, user, facility_id: int | None = None, service_type: str = "") -> QuerySet:
    queryset = FacilityPrice.objects.visible_to(user).select_related("facility", "service_type", "standard")
    if facility_id:
        queryset = queryset.filter(facility_id=facility_id)
    if service_type:
        queryset = queryset.filter(service_type_id=service_type)
    return queryset.order_by("facility__name", "service_type__sort_order", "service_type_id", "-valid_from", "pk")


# --- Accounts and policies (JL-B4, JL-B5) ---------------------------------------------------------


def settlement_account_list(*, user, facility_id: int | None = None) -> QuerySet:
    queryset = _for_finance(SettlementAccount.objects.all(), user, ("facility_id",)).select_related("facility")
    if facility_id:
        queryset = queryset.filter(facility_id=facility_id)
    return queryset.order_by("facility__name", "-active", "-registered_at", "pk")


def allocation_policy_list(*, user, facility_id: int | None = None) -> QuerySet:
    queryset = _for_finance(AllocationPolicy.objects.all(), user, ("facility_id",)).select_related("facility")
    if facility_id:
        queryset = queryset.filter(facility_id=facility_id)
    return queryset.order_by("facility__name", "-valid_from", "-adopted_at", "pk")


# --- Per-person payouts (JL-B6) ------------------------------------------------------------------


def filter_payout_reports(queryset: QuerySet, *, month: dt.date | None = None, state: str = "") -> QuerySet:
    if month is not None:
        queryset = queryset.filter(month=month)
    if state:
        queryset = queryset.filter(state=state)
    return queryset


def payout_report_list(*, user, **filters) -> QuerySet:
    """Payout reports of the facilities where the user holds a finance role, and of the regulator's
    division (totals only: a regulator sees no person's line). Newest month first, along the
    ``payout_facility_month_idx`` / ``payout_facility_state_idx`` indexes."""
    queryset = _for_finance(PayoutReport.objects.all(), user, ("facility_id",)).select_related(
        "facility", "confirmed_by", "supersedes", "superseded_by"
    )
    return filter_payout_reports(queryset, **filters).order_by("-month", "facility_id", "-version", "pk")


def payout_report_detail(*, user, pk: int) -> PayoutReport:
    return payout_report_list(user=user).get(pk=pk)


def payout_lines(*, user, report: PayoutReport) -> QuerySet:
    """The lines of one report the user may see (``PayoutLine.visible_to``): every line for the
    facility's finance staff, none for a regulator, a person's own lines for that person."""
    return (
        PayoutLine.objects.visible_to(user).filter(report=report)
        .select_related("physician", "charge__consultation", "charge__service_type")
        .order_by("physician__name", "physician_id", "charge__completed_at", "kind", "pk")
    )


@dataclass(frozen=True)
class PersonTotal:
    physician_id: int
    name: str
    line_count: int
    amount_fen: int


def person_totals(lines) -> list[PersonTotal]:
    """One row per person of already loaded lines, in the order given (no query)."""
    totals: dict[int, list] = {}
    for line in lines:
        row = totals.setdefault(line.physician_id, [line.physician.name, 0, 0])
        row[1] += 1
        row[2] += line.amount_fen
    return [PersonTotal(pid, name, count, amount) for pid, (name, count, amount) in totals.items()]


def my_payout_lines(*, user, month: dt.date | None = None) -> QuerySet:
    """The user's own lines (as a physician) in current reports — a superseded version's lines are
    replaced by its correction's — newest month first, along ``payout_line_person_idx``."""
    if not getattr(user, "is_authenticated", False):
        return PayoutLine.objects.none()
    queryset = PayoutLine.objects.visible_to(user).filter(physician__user=user, report__superseded_by__isnull=True)
    if month is not None:
        queryset = queryset.filter(report__month=month)
    return queryset.select_related(
        "report__facility", "charge__consultation", "charge__service_type", "physician"
    ).order_by("-report__month", "report__facility_id", "charge__completed_at", "kind", "pk")


# --- Regulators: totals by division and month (JL-O1) ---------------------------------------------


@dataclass(frozen=True)
class DivisionMonthTotals:
    month: dt.date
    division_code: str
    division_name: str
    count: int
    fee_fen: int
    inviting_share_fen: int
    invited_share_fen: int
    reversed_count: int
    reversed_fee_fen: int

    @property
    def net_fee_fen(self) -> int:
        return self.fee_fen - self.reversed_fee_fen


def regulator_totals(*, user, year: int | None = None, division_prefix: str = "") -> list[DivisionMonthTotals]:
    """Fees per division of the *inviting* facility and Beijing-time month of completion.

    One aggregate query. A regulator sees the divisions they regulate and those below (JL-O1), by
    the inviting facility's division, so a county never sees a neighbour's totals through a shared
    invited hospital. Reversed charges are counted in their completion month and shown apart.
    Hospital staff get nothing here.
    """
    scope = Scope.of(user)
    if not scope.is_regulator:
        return []
    queryset = Charge.objects.visible_to(user)
    if not scope.is_provincial_regulator:
        condition = Q(pk__in=[])
        for prefix in scope.prefixes:
            condition |= Q(inviting__division__code__startswith=prefix)
        queryset = queryset.filter(condition)
    if division_prefix:
        queryset = queryset.filter(inviting__division__code__startswith=division_prefix)
    if year is not None:
        start = dt.datetime(year, 1, 1, tzinfo=rules.BEIJING)
        end = dt.datetime(year + 1, 1, 1, tzinfo=rules.BEIJING)
        queryset = queryset.filter(completed_at__gte=start, completed_at__lt=end)
    reversed_ = Q(reversal__isnull=False)
    rows = (
        queryset.annotate(month=TruncMonth("completed_at", tzinfo=rules.BEIJING))
        .values("month", "inviting__division__code", "inviting__division__name")
        .annotate(
            count=Count("pk"),
            fee=Sum("fee_fen"),
            inviting_share=Sum("inviting_share_fen"),
            invited_share=Sum("invited_share_fen"),
            reversed_count=Count("pk", filter=reversed_),
            reversed_fee=Sum("fee_fen", filter=reversed_),
        )
        .order_by("-month", "inviting__division__code")
    )
    return [
        DivisionMonthTotals(
            month=row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"],
            division_code=row["inviting__division__code"],
            division_name=row["inviting__division__name"],
            count=row["count"],
            fee_fen=row["fee"] or 0,
            inviting_share_fen=row["inviting_share"] or 0,
            invited_share_fen=row["invited_share"] or 0,
            reversed_count=row["reversed_count"],
            reversed_fee_fen=row["reversed_fee"] or 0,
        )
        for row in rows
    ]


def may_see_payee_account(*, user, statement) -> bool:
    """JL-B4: the whole payee account number is for the paying (inviting) facility's finance
    officers, who transfer the money; everybody else sees its last four digits."""
    return Scope.of(user).has_role(statement.inviting_id, StaffRole.FINANCE)
