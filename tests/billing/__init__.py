"""Shared builders for the billing interface tests (pages, API, exports).

Charges and statements are made the way the portal makes them (STYLE 7): the provincial regulator
publishes a standard, the invited facility's finance officer sets a price within it, consultations
run to closed through the consultation services (which charge them), and ``statements_draft``
drafts the month. Nothing is written by hand. Times are "now", so the factories' agreements
(valid from 30 days ago) cover every case whatever the date the suite runs on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import time_machine
from django.test import TestCase
from django.utils import timezone

from billing import rules, services
from billing.models import Charge, Statement
from consultations import services as consultation_services
from facilities.choices import FacilityLevel, StaffRole, Title
from facilities.models import Facility, ServiceType
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    division,
    regulator,
    staff,
)

IMAGING_STANDARD_FEN = 20000
IMAGING_FEN = 15001  # odd on purpose: the agreement's 2:8 split leaves a fen to round (4500 / 10501)
DOCUMENT = "吉发改收费〔2026〕8号"


def service(code: str) -> ServiceType:
    return ServiceType.objects.get(code=code)


def this_month() -> dt.date:
    return rules.month_of(timezone.now())


def draft_month(month: dt.date | None = None) -> list[Statement]:
    """Draft ``month``'s statements (this month by default) the way the monthly job does: a minute
    after the month has ended in Beijing time (JL-B4: never earlier); the clock then returns."""
    month = month or this_month()
    with time_machine.travel(rules.period_bounds(month)[1] + dt.timedelta(minutes=1), tick=False):
        return services.statements_draft(period_start=month)


@dataclass
class Billing:
    """The ``world`` of tests/conftest.py with prices set and a finance officer on each side."""

    world: object
    province: object
    inviting_finance: object
    invited_finance: object

    @property
    def inviting(self) -> Facility:
        return self.world.inviting

    @property
    def invited(self) -> Facility:
        return self.world.invited


def priced(world) -> Billing:
    province = regulator("220000", first_name="省卫健委价格处")
    since = timezone.localdate() - dt.timedelta(days=365)
    for code, fen in (("consultation", 30000), ("imaging", IMAGING_STANDARD_FEN)):
        services.price_standard_publish(
            actor=province, service_type=service(code), facility_level=None, max_price_fen=fen, valid_from=since,
            valid_until=None, document_number=DOCUMENT,
        )
    invited_finance = staff(world.invited, StaffRole.FINANCE, first_name="受邀方财务")
    services.facility_price_set(
        actor=invited_finance, facility=world.invited, service_type=service("imaging"), price_fen=IMAGING_FEN, valid_from=since
    )
    return Billing(world, province, staff(world.inviting, StaffRole.FINANCE, first_name="邀请方财务"), invited_finance)


def close(*, actor, consultation):
    """Close a case the way a request does: the charge is made when the close commits (on_commit),
    which the test's own transaction would otherwise hold back."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return consultation_services.consultation_close(actor=actor, consultation=consultation)


def complete(world) -> Charge:
    """One imaging diagnosis of ``world``'s pair, run to closed now; returns its charge."""
    consultation = world.accepted_with_expert(service="imaging", wanted_scope="imaging")
    consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="影像诊断报告")
    close(actor=world.clinician, consultation=consultation)
    return Charge.objects.get(consultation=consultation)


def complete_from_another_county(world, *, division_code: str = "220122", name: str | None = None) -> Charge:
    """One imaging diagnosis for ``world.invited`` from a new level-2 hospital: a new pair."""
    extra = {"name": name} if name else {}
    inviting = FacilityFactory(level=FacilityLevel.LEVEL_2, division=division(division_code), **extra)
    AgreementFactory(inviting=inviting, invited=world.invited)
    clinician = staff(inviting, StaffRole.CLINICIAN)
    RegistrationFactory(facility=inviting, physician=PhysicianFactory(user=clinician, title=Title.ATTENDING_PHYSICIAN))
    coordinator = staff(inviting, StaffRole.COORDINATOR)
    patient = consultation_services.patient_register(
        actor=clinician, facility=inviting, name="王五", sex="2", birth_date=dt.date(1970, 1, 1)
    )
    consultation = consultation_services.consultation_create(
        actor=clinician, inviting=inviting, invited=world.invited, service_type=service("imaging"), patient=patient,
        reason="胸部CT疑似占位", purpose="明确诊断", case_summary="咳嗽两月", wanted_scope="imaging",
        wanted_title=Title.ASSOCIATE_CHIEF_PHYSICIAN, modality="radiology",
    )
    consultation_services.consent_record(
        actor=clinician, consultation=consultation, signer_name="王小五", relation="child",
        signed_at=timezone.now() - dt.timedelta(minutes=5), sensitive_info_consent=True, e_signature_reference="CA-0001",
    )
    consultation_services.participant_add_inviting(actor=clinician, consultation=consultation, physician=clinician.physician)
    consultation_services.consultation_send(actor=coordinator, consultation=consultation)
    consultation_services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)
    consultation_services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=world.expert_physician)
    consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="影像诊断报告")
    close(actor=clinician, consultation=consultation)
    return Charge.objects.get(consultation=consultation)


def draft(billing: Billing) -> Statement:
    """This month's statement of ``billing``'s pair (drafted now, idempotently)."""
    draft_month()
    return Statement.objects.get(inviting=billing.inviting, invited=billing.invited, period_start=this_month())


def register_account(billing: Billing):
    return services.settlement_account_register(
        actor=billing.invited_finance, facility=billing.invited, account_name=billing.invited.name,
        bank_name="中国银行长春南湖支行", account_number="2201 0000 1234 5678",
    )


def statement_with_lines(billing: Billing, *, charges: int = 2, paid: int = 1, reversed_: int = 1) -> Statement:
    """A statement of ``charges`` charges, the first ``paid`` paid by the patient, and ``reversed_``
    reversals of charges from an earlier statement of the same month (a refund, negative)."""
    lines = [complete(billing.world) for _ in range(charges)]
    for charge in lines[:paid]:
        services.charge_record_payment(
            actor=billing.inviting_finance, charge=charge, fiscal_receipt_number=f"吉财医 {charge.pk:08d}",
            insurance_fen=10000, self_pay_fen=charge.fee_fen - 10000, paid_at=timezone.now(),
        )
    register_account(billing)
    draft(billing)
    for charge in lines[:reversed_]:
        services.charge_reverse(actor=billing.inviting_finance, charge=charge, reason="重复收费，退费")
    return draft(billing)
