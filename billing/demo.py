"""Demonstration billing for ``manage.py seed_demo`` (JL-B1..B5), in two steps around the cases.

``seed_billing`` runs before the demo cases: the provincial regulator publishes the price standards
for the six services, the invited facilities' finance officers set their prices within them, and the
facilities register their dedicated settlement accounts and staff allocation policies. A closed case
is charged on close at the price in force, so the prices must exist first. ``seed_statements`` runs
after the cases: the patient's payment for one charge, this month's statements, and the inviting
finance officer's confirmation (the invited side's confirmation is left for the person trying the demo).

Every write goes through ``billing.services`` inside the command's audit context. Natural keys: a
standard is its document number + service + level, a facility price its facility + service, an
account or policy its facility, a statement its pair + month. Document, account and receipt numbers
are invented and marked 演示/DEMO.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date

from django.contrib.auth import get_user_model
from django.utils import timezone

from facilities import demo_data as data
from facilities.choices import FacilityLevel, StaffRole
from facilities.models import Facility, ServiceType, StaffMembership

from . import rules, services
from .models import AllocationPolicy, Charge, FacilityPrice, PriceStandard, SettlementAccount, Statement

# Finance logins the facilities seed does not create (same pattern: password DEMO_PASSWORD).
EXTRA_LOGINS: tuple[data.LoginSpec, ...] = (
    data.LoginSpec("finance_ybdx", "金秀妍", StaffRole.FINANCE, facility="ybdx"),
)
FINANCE = {"nongan": "finance_nongan", "jdyy": "finance_jdyy", "ybdx": "finance_ybdx"}

PRICE_DOCUMENT = "吉发改价格〔2026〕99号（演示）"
# (service, facility level or None for every level, ceiling in fen): JL-B1, art. 39.
STANDARDS: tuple[tuple[str, int | None, int], ...] = (
    ("consultation", FacilityLevel.LEVEL_3, 300_00),
    ("consultation", None, 200_00),
    ("outpatient", None, 150_00),
    ("case_discussion", None, 300_00),
    ("pathology", None, 400_00),
    ("imaging", None, 200_00),
    ("laboratory", None, 100_00),
)
# Invited facilities' own prices (fen), for the services their agreements cover.
PRICES: dict[str, dict[str, int]] = {
    "jdyy": {"consultation": 300_00, "outpatient": 150_00, "case_discussion": 280_00, "pathology": 380_00,
             "imaging": 180_00, "laboratory": 90_00},
    "ybdx": {"consultation": 260_00, "pathology": 350_00, "imaging": 160_00, "laboratory": 80_00},
}
# (bank, invented account number) of each facility's dedicated account; the account name is the facility's.
ACCOUNTS: dict[str, tuple[str, str]] = {
    "jdyy": ("中国银行长春朝阳支行（演示）", "DEMO-2201-0401-0000-0001"),
    "ybdx": ("中国建设银行延吉分行（演示）", "DEMO-2224-0101-0000-0002"),
    "nongan": ("中国建设银行农安支行（演示）", "DEMO-2201-2201-0000-0003"),
}
# JL-B5: staff share of the fee in basis points (at least 6000).
POLICIES: dict[str, int] = {"jdyy": 7000, "ybdx": 6500, "nongan": 6000}
PAYMENT_RECEIPT = "吉财医票 DEMO-2200012345"


def _seed_extra_logins(facilities: Mapping[str, Facility], created: Counter[str]) -> None:
    user_model = get_user_model()
    for spec in EXTRA_LOGINS:
        user, made = user_model.objects.get_or_create(
            username=spec.username, defaults={"first_name": spec.display_name, "email": f"{spec.username}@demo.invalid"}
        )
        if made:
            user.set_password(data.DEMO_PASSWORD)
            user.save(update_fields=["password"])
            created["logins"] += 1
        _, made = StaffMembership.objects.get_or_create(user=user, facility=facilities[spec.facility], role=spec.role)
        created["staff memberships"] += made


def _users(*usernames: str) -> dict:
    """Fresh user objects, so that each one's cached Scope sees the memberships just created."""
    return {u.username: u for u in get_user_model().objects.filter(username__in=usernames)}


def seed_billing(*, facilities: Mapping[str, Facility]) -> Counter[str]:
    """Standards, prices, accounts and allocation policies that are missing; returns what was created."""
    created: Counter[str] = Counter()
    _seed_extra_logins(facilities, created)
    users = _users(data.PROVINCIAL_REGULATOR_LOGIN, *FINANCE.values())
    services_by_code = {s.code: s for s in ServiceType.objects.all()}
    valid_from = date(timezone.localdate().year, 1, 1)

    for code, level, ceiling in STANDARDS:
        if not PriceStandard.objects.filter(document_number=PRICE_DOCUMENT, service_type=code, facility_level=level).exists():
            services.price_standard_publish(
                actor=users[data.PROVINCIAL_REGULATOR_LOGIN], service_type=services_by_code[code], facility_level=level,
                max_price_fen=ceiling, valid_from=valid_from, valid_until=None, document_number=PRICE_DOCUMENT,
            )
            created["price standards"] += 1

    for key, prices in PRICES.items():
        for code, price_fen in prices.items():
            if not FacilityPrice.objects.filter(facility=facilities[key], service_type=code).exists():
                services.facility_price_set(
                    actor=users[FINANCE[key]], facility=facilities[key], service_type=services_by_code[code],
                    price_fen=price_fen, valid_from=valid_from,
                )
                created["facility prices"] += 1

    for key, (bank, number) in ACCOUNTS.items():
        facility = facilities[key]
        if not SettlementAccount.objects.filter(facility=facility).exists():
            services.settlement_account_register(
                actor=users[FINANCE[key]], facility=facility, account_name=facility.name, bank_name=bank, account_number=number
            )
            created["settlement accounts"] += 1

    for key, basis_points in POLICIES.items():
        facility = facilities[key]
        if not AllocationPolicy.objects.filter(facility=facility).exists():
            services.allocation_policy_adopt(
                actor=users[FINANCE[key]], facility=facility, staff_share_basis_points=basis_points, valid_from=valid_from,
                description=f"（演示）{facility.name}远程医疗服务收入到账后，按 {basis_points / 100:.0f}% 用于参与会诊、诊断的"
                "医务人员补贴，由科室按工作量二次分配；其余用于平台运行与设备维护（第四十三条、第四十四条）。",
            )
            created["allocation policies"] += 1
    return created


def _demo_charges():
    from consultations.demo import DEMO_PATIENT_PREFIX

    return Charge.objects.filter(consultation__patient__external_id__startswith=DEMO_PATIENT_PREFIX)


def seed_statements(*, facilities: Mapping[str, Facility]) -> Counter[str]:
    """After the cases: one patient payment, then what the month end does (``seed_month_end``)."""
    created: Counter[str] = Counter()
    users = _users(*FINANCE.values())
    # The cases were closed in this same transaction: their charges follow its commit (on_commit),
    # so catch them up now, as the monthly job would (the later on_commit finds them made).
    services.charges_backfill()
    charges = _demo_charges()
    if not charges.filter(paid_at__isnull=False).exists():
        charge = charges.filter(service_type="consultation", inviting=facilities["nongan"]).order_by("pk").first()
        if charge is not None:
            insurance = charge.fee_fen * 6 // 10  # the basic medical insurance pays 60 % here (invented)
            services.charge_record_payment(
                actor=users[FINANCE["nongan"]], charge=charge, fiscal_receipt_number=PAYMENT_RECEIPT,
                insurance_fen=insurance, self_pay_fen=charge.fee_fen - insurance, paid_at=timezone.now(),
            )
            created["patient payments"] += 1

    created.update(seed_month_end(facilities=facilities))
    return created


def seed_month_end(*, facilities: Mapping[str, Facility]) -> Counter[str]:
    """The month end of the demo: statements of every *ended* Beijing-time month that still has
    unsettled demo charges (JL-B4: never the current month, whose charges wait for its end), and
    农安's finance officer confirms the newest 农安 → 吉大一院 statement.

    The demo cases close today, so on the day it is loaded there is nothing to draft yet; a test (or
    a demo replayed after the month's end) calls this again once the month has ended.
    """
    created: Counter[str] = Counter()
    users = _users(*FINANCE.values())
    current = rules.month_of(timezone.now())
    months = sorted({rules.month_of(at) for at in _demo_charges().filter(statement__isnull=True).values_list("completed_at", flat=True)})
    for month in months:
        if month < current:
            created["statements drafted"] += len(services.statements_draft(period_start=month))
    statement = Statement.objects.filter(
        inviting=facilities["nongan"], invited=facilities["jdyy"], period_start__lt=current
    ).order_by("-period_start").first()
    if statement is not None and statement.inviting_confirmed_at is None:
        services.statement_confirm(actor=users[FINANCE["nongan"]], statement=statement)
        created["statement confirmations"] += 1
    return created


def summary_lines() -> list[str]:
    """Short Chinese summary of what exists, for the command's output."""
    charges = _demo_charges()
    lines = [
        f"收费 Billing：价格标准 {PriceStandard.objects.filter(document_number=PRICE_DOCUMENT).count()} 项（{PRICE_DOCUMENT}），"
        f"机构收费标准 {FacilityPrice.objects.count()} 项，结算专户 {SettlementAccount.objects.filter(active=True).count()} 个，"
        f"分配办法 {AllocationPolicy.objects.count()} 份",
        f"  收费记录 {charges.count()} 笔（已缴费 {charges.filter(paid_at__isnull=False).count()} 笔）",
    ]
    for statement in Statement.objects.select_related("inviting", "invited").order_by("period_start", "pk"):
        confirmed = "，".join(
            side for side, at in (("邀请方已确认", statement.inviting_confirmed_at), ("受邀方已确认", statement.invited_confirmed_at)) if at
        ) or "待确认"
        lines.append(
            f"  结算单 {statement.period_start:%Y-%m} {statement.inviting.name} → {statement.invited.name}："
            f"{statement.charge_count} 笔，应付 {rules.yuan(statement.invited_share_total_fen)}，"
            f"{statement.get_state_display()}（{confirmed}）"
        )
    if not Statement.objects.exists():
        lines.append("  结算单：本月收费在本月结束（北京时间）后生成结算单（JL-B4），今日尚无")
    for spec in EXTRA_LOGINS:
        lines.append(f"  新增演示账号 {spec.username}（{StaffRole(spec.role).label}，{spec.display_name}），密码 {data.DEMO_PASSWORD}")
    return lines
