"""Billing services: charges at completion, payment, refunds, monthly statements, confirmation, payment."""

import datetime as dt
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from billing import rules, services
from billing.choices import StatementState
from billing.models import Charge, Statement
from consultations import services as consultation_services
from consultations.choices import ConsultationState
from facilities.choices import FacilityLevel, StaffRole
from facilities.models import ServiceType
from telemed.errors import ApplicationError
from tests.billing import close, draft_month
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    UserFactory,
    division,
    regulator,
    staff,
)

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-10-20T10:00:00+08:00")]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV = dt.date(2026, 11, 1)


@pytest.fixture
def priced(world):
    province = regulator("220000")
    for code, fen in (("consultation", 30000), ("imaging", 20000)):
        services.price_standard_publish(actor=province, service_type=ServiceType.objects.get(code=code), facility_level=None,
                                        max_price_fen=fen, valid_from=dt.date(2026, 1, 1), valid_until=None, document_number="吉价〔2026〕8号")
    finance = staff(world.invited, StaffRole.FINANCE, username="finance_invited")
    for code, fen in (("consultation", 30000), ("imaging", 15001)):
        services.facility_price_set(actor=finance, facility=world.invited, service_type=ServiceType.objects.get(code=code),
                                    price_fen=fen, valid_from=dt.date(2026, 1, 1))
    world.invited_finance = finance
    world.inviting_finance = staff(world.inviting, StaffRole.FINANCE, username="finance_inviting")
    return world


def complete(world, at: dt.datetime, service="imaging"):
    """Run a case to closed at a given Beijing time (diagnosis: signed straight after acceptance)."""
    with time_machine.travel(at - dt.timedelta(hours=1), tick=False):
        consultation = world.accepted_with_expert(service=service, wanted_scope="imaging")
        if service != "imaging":
            consultation_services.consultation_schedule(actor=world.invited_coordinator, consultation=consultation,
                                                        scheduled_for=at, video_link="https://meet.example.cn/room-1")
            consultation_services.consultation_start_session(actor=world.expert, consultation=consultation)
        consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="意见")
    with time_machine.travel(at, tick=False):
        close(actor=world.clinician, consultation=consultation)
    return Charge.objects.get(consultation=consultation)


def test_jl_b3_charge_at_completion_with_the_split(priced):
    consultation_charge = complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI), service="consultation")
    assert (consultation_charge.fee_fen, consultation_charge.inviting_share_fen, consultation_charge.invited_share_fen) == (30000, 6000, 24000)
    assert "2:8" in consultation_charge.split_basis
    agreement = priced.inviting.agreements_as_inviting.get()
    agreement.inviting_fee_share, agreement.invited_fee_share = 3, 7
    agreement.save()
    imaging = complete(priced, dt.datetime(2026, 11, 11, 9, 0, tzinfo=SHANGHAI))
    assert (imaging.fee_fen, imaging.inviting_share_fen, imaging.invited_share_fen) == (15001, 4500, 10501)
    assert "协议约定 3:7" in imaging.split_basis


def test_jl_b1_a_price_change_never_alters_charges_already_made(priced):
    charge = complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    services.facility_price_set(actor=priced.invited_finance, facility=priced.invited, service_type=ServiceType.objects.get(code="imaging"),
                                price_fen=12000, valid_from=dt.date(2026, 11, 15))
    charge.refresh_from_db()
    assert charge.fee_fen == 15001
    later = complete(priced, dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))
    assert later.fee_fen == 12000


def test_jl_b1_price_above_the_standard_is_refused(priced):
    with pytest.raises(ApplicationError) as refused:
        services.facility_price_set(actor=priced.invited_finance, facility=priced.invited,
                                    service_type=ServiceType.objects.get(code="imaging"), price_fen=20001, valid_from=dt.date(2026, 12, 1))
    assert refused.value.code == "JL-B1" and "¥200.00" in refused.value.message
    with pytest.raises(ApplicationError) as no_standard:
        services.facility_price_set(actor=priced.invited_finance, facility=priced.invited,
                                    service_type=ServiceType.objects.get(code="pathology"), price_fen=100, valid_from=dt.date(2026, 12, 1))
    assert no_standard.value.code == "JL-B1"


def test_jl_b1_only_the_provincial_regulator_publishes_standards(world):
    with pytest.raises(ApplicationError) as refused:
        services.price_standard_publish(actor=regulator("220100"), service_type=ServiceType.objects.get(code="imaging"), facility_level=FacilityLevel.LEVEL_3,
                                        max_price_fen=100, valid_from=dt.date(2026, 1, 1), valid_until=None, document_number="x")
    assert refused.value.status == 403 and "JL-B1" in refused.value.message


def test_jl_b1_missing_price_is_recorded_and_backfilled_at_the_completion_day_price(world):
    closed_at = dt.datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(closed_at - dt.timedelta(hours=1), tick=False):
        consultation = world.accepted_with_expert(service="imaging", wanted_scope="imaging")
        consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="报告")
    with time_machine.travel(closed_at, tick=False):
        close(actor=world.clinician, consultation=consultation)
    assert not Charge.objects.exists()
    assert AuditEvent.objects.filter(event_type="billing.charge.missing_price", outcome="failure").count() == 1
    services.price_standard_publish(actor=regulator("220000"), service_type=ServiceType.objects.get(code="imaging"), facility_level=None,
                                    max_price_fen=20000, valid_from=dt.date(2026, 1, 1), valid_until=None, document_number="吉价")
    finance = staff(world.invited, StaffRole.FINANCE)
    services.facility_price_set(actor=finance, facility=world.invited, service_type=ServiceType.objects.get(code="imaging"),
                                price_fen=16000, valid_from=dt.date(2026, 11, 1))
    services.facility_price_set(actor=finance, facility=world.invited, service_type=ServiceType.objects.get(code="imaging"),
                                price_fen=18000, valid_from=dt.date(2026, 11, 20))
    assert services.charges_backfill() == 1
    assert services.charges_backfill() == 0
    assert Charge.objects.get().fee_fen == 16000  # the price in force on the completion day


def test_jl_b2_payment_recorded_by_the_inviting_finance_with_receipt_and_insurance_apart(priced):
    charge = complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    with pytest.raises(ApplicationError):
        services.charge_record_payment(actor=priced.invited_finance, charge=charge, fiscal_receipt_number="R1",
                                       insurance_fen=10000, self_pay_fen=5001, paid_at=timezone.now())
    with pytest.raises(ApplicationError) as bad:
        services.charge_record_payment(actor=priced.inviting_finance, charge=charge, fiscal_receipt_number="",
                                       insurance_fen=10000, self_pay_fen=5000, paid_at=timezone.now())
    assert bad.value.code == "JL-B2" and len(bad.value.extra["reasons"]) == 2
    with pytest.raises(ApplicationError) as future:  # issue 8: a payment cannot have been made tomorrow
        services.charge_record_payment(actor=priced.inviting_finance, charge=charge, fiscal_receipt_number="吉财 0001",
                                       insurance_fen=10000, self_pay_fen=5001, paid_at=timezone.now() + dt.timedelta(days=1))
    assert future.value.code == "JL-B2" and "付款时间不能晚于当前时间" in future.value.message
    charge.refresh_from_db()
    assert charge.paid_at is None and charge.fiscal_receipt_number == ""
    services.charge_record_payment(actor=priced.inviting_finance, charge=charge, fiscal_receipt_number="吉财 0001",
                                   insurance_fen=10000, self_pay_fen=5001, paid_at=timezone.now())
    charge.refresh_from_db()
    assert (charge.insurance_fen, charge.self_pay_fen, charge.fiscal_receipt_number) == (10000, 5001, "吉财 0001")


def test_jl_b4_personal_account_or_physician_as_payee_is_refused_and_audited(priced):
    expert_name = priced.expert_physician.name
    for name, kind in ((expert_name, "corporate"), ("吉林大学第一医院", "personal"), (priced.invited.name, "personal")):
        with pytest.raises(ApplicationError) as refused:
            services.settlement_account_register(actor=priced.invited_finance, facility=priced.invited, account_name=name,
                                                 bank_name="中国银行长春分行", account_number="6217000011112222", kind=kind)
        assert refused.value.code == "JL-B4"
    assert AuditEvent.objects.filter(event_type="billing.account.register", outcome="failure").count() == 3
    account = services.settlement_account_register(actor=priced.invited_finance, facility=priced.invited, account_name=priced.invited.name,
                                                   bank_name="中国银行长春分行", account_number="2201000012345678")
    assert account.active


def _second_pairs(world):
    """Two more pairs: the county with a second hospital, and a second county with the first."""
    other_invited = FacilityFactory(name="延边大学附属医院", division=division("222401"))
    AgreementFactory(inviting=world.inviting, invited=other_invited, inviting_fee_share=3, invited_fee_share=7)
    other_inviting = FacilityFactory(name="敦化市医院", level=2, division=division("222403"))
    AgreementFactory(inviting=other_inviting, invited=world.invited)
    return other_invited, other_inviting


def test_jl_b4_a_month_of_statements_for_several_pairs_reconciles_and_reruns_change_nothing(priced):
    other_invited, other_inviting = _second_pairs(priced)
    services.facility_price_set(actor=staff(other_invited, StaffRole.FINANCE), facility=other_invited,
                                service_type=ServiceType.objects.get(code="imaging"), price_fen=19999, valid_from=dt.date(2026, 1, 1))
    # Physicians for the second pairs.
    other_expert = UserFactory(username="expert2")
    staff(other_invited, StaffRole.CLINICIAN, username="expert2")
    RegistrationFactory(facility=other_invited, physician=PhysicianFactory(user=other_expert, scopes=["imaging"]))
    other_clinician = staff(other_inviting, StaffRole.CLINICIAN, username="clin2")
    RegistrationFactory(facility=other_inviting, physician=PhysicianFactory(user=other_clinician))

    charges = [
        complete(priced, dt.datetime(2026, 11, 1, 0, 0, 0, tzinfo=SHANGHAI)),
        complete(priced, dt.datetime(2026, 11, 15, 12, 0, tzinfo=SHANGHAI)),
        complete(priced, dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)),  # last second of the month, Beijing
        complete(priced, dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=SHANGHAI)),  # first second of the next
    ]
    pair2 = _complete_for(priced, other_inviting=None, other_invited=other_invited, expert=other_expert,
                          at=dt.datetime(2026, 11, 20, 8, 0, tzinfo=SHANGHAI))
    pair3 = _complete_for(priced, other_inviting=other_inviting, other_invited=None, clinician=other_clinician,
                          at=dt.datetime(2026, 11, 21, 8, 0, tzinfo=SHANGHAI))

    with time_machine.travel(dt.datetime(2026, 12, 1, 2, 0, tzinfo=SHANGHAI), tick=False):
        drafted = services.statements_draft(period_start=NOV)
    assert len(drafted) == 3
    main = Statement.objects.get(inviting=priced.inviting, invited=priced.invited, period_start=NOV)
    assert set(main.charges.values_list("pk", flat=True)) == {c.pk for c in charges[:3]}  # 23:59:59 on the 30th is in
    assert main.period_end == dt.date(2026, 11, 30)
    for statement in Statement.objects.all():
        lines = list(statement.charges.all())
        assert statement.fee_total_fen == sum(c.fee_fen for c in lines)
        assert statement.invited_share_total_fen == sum(c.invited_share_fen for c in lines)
        assert statement.inviting_share_total_fen + statement.invited_share_total_fen == statement.fee_total_fen
    assert Statement.objects.get(invited=other_invited).charges.get() == pair2
    assert Statement.objects.get(inviting=other_inviting).charges.get() == pair3

    snapshot = list(Statement.objects.order_by("pk").values())
    charge_links = list(Charge.objects.order_by("pk").values_list("pk", "statement_id"))
    events = AuditEvent.objects.count()
    with time_machine.travel(dt.datetime(2026, 12, 1, 2, 5, tzinfo=SHANGHAI), tick=False):
        assert services.statements_draft(period_start=NOV) == []
    assert list(Statement.objects.order_by("pk").values()) == snapshot
    assert list(Charge.objects.order_by("pk").values_list("pk", "statement_id")) == charge_links
    assert AuditEvent.objects.count() == events
    assert Charge.objects.get(pk=charges[3].pk).statement is None  # December waits for December


def _complete_for(world, *, at, other_inviting=None, other_invited=None, expert=None, clinician=None):
    """Like ``complete`` but for another pair (one side swapped)."""
    inviting = other_inviting or world.inviting
    invited = other_invited or world.invited
    clinician = clinician or world.clinician
    expert_user = expert or world.expert
    coordinator_in = staff(inviting, StaffRole.COORDINATOR)
    coordinator_out = staff(invited, StaffRole.COORDINATOR)
    with time_machine.travel(at - dt.timedelta(hours=1), tick=False):
        patient = consultation_services.patient_register(actor=clinician, facility=inviting, name="患者", sex="2", birth_date=dt.date(1970, 1, 1))
        draft = consultation_services.consultation_create(
            actor=clinician, inviting=inviting, invited=invited, service_type=ServiceType.objects.get(code="imaging"), patient=patient,
            reason="r", purpose="p", case_summary="s", wanted_scope="imaging", wanted_title=232, modality="radiology",
        )
        consultation_services.consent_record(actor=clinician, consultation=draft, signer_name="家属", relation="child",
                                             signed_at=timezone.now(), sensitive_info_consent=True, e_signature_reference="CA-1")
        consultation_services.participant_add_inviting(actor=clinician, consultation=draft, physician=clinician.physician)
        consultation_services.consultation_send(actor=coordinator_in, consultation=draft)
        consultation_services.consultation_accept(actor=coordinator_out, consultation=draft)
        consultation_services.expert_assign(actor=coordinator_out, consultation=draft, physician=expert_user.physician)
        consultation_services.opinion_sign(actor=expert_user, consultation=draft, content="报告")
    with time_machine.travel(at, tick=False):
        close(actor=clinician, consultation=draft)
    return Charge.objects.get(consultation=draft)


def test_jl_b4_statement_confirmed_by_both_finance_officers_then_paid(priced):
    complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    (statement,) = draft_month(NOV)
    with pytest.raises(ApplicationError) as no_account:
        services.statement_confirm(actor=priced.inviting_finance, statement=statement)
    assert no_account.value.code == "JL-B4"
    services.settlement_account_register(actor=priced.invited_finance, facility=priced.invited, account_name=priced.invited.name,
                                         bank_name="中国银行", account_number="2201000012345678")
    with pytest.raises(ApplicationError):
        services.statement_confirm(actor=priced.coordinator, statement=statement)
    statement = services.statement_confirm(actor=priced.inviting_finance, statement=statement)
    assert statement.state == StatementState.DRAFT and statement.inviting_confirmed_at
    with pytest.raises(ApplicationError):
        services.statement_record_payment(actor=priced.invited_finance, statement=statement, bank_reference="X", paid_at=timezone.now())
    statement = services.statement_confirm(actor=priced.invited_finance, statement=statement)
    assert statement.state == StatementState.CONFIRMED and statement.payee_account.facility == priced.invited
    with pytest.raises(ApplicationError):
        services.statement_record_payment(actor=priced.inviting_finance, statement=statement, bank_reference="X", paid_at=timezone.now())
    with pytest.raises(ApplicationError) as future:  # issue 8: JL-B4, a transfer cannot arrive tomorrow
        services.statement_record_payment(actor=priced.invited_finance, statement=statement, bank_reference="BOC20261205001",
                                          paid_at=timezone.now() + dt.timedelta(days=1))
    assert future.value.code == "JL-B4" and "付款时间不能晚于当前时间" in future.value.message
    statement.refresh_from_db()
    assert statement.state == StatementState.CONFIRMED and statement.paid_at is None
    statement = services.statement_record_payment(actor=priced.invited_finance, statement=statement,
                                                  bank_reference="BOC20261205001", paid_at=timezone.now())
    assert statement.state == StatementState.PAID and statement.bank_reference == "BOC20261205001"


def test_jl_b4_tampered_totals_cannot_be_confirmed(priced):
    complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    (statement,) = draft_month(NOV)
    Statement.objects.filter(pk=statement.pk).update(invited_share_total_fen=statement.invited_share_total_fen + 1)
    with pytest.raises(ApplicationError) as refused:
        services.statement_confirm(actor=priced.inviting_finance, statement=statement)
    assert refused.value.code == "JL-B4" and "一致" in refused.value.message


def test_jl_b2_refund_is_a_reversal_settled_in_its_own_month(priced):
    charge = complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    draft_month(NOV)
    with time_machine.travel(dt.datetime(2026, 12, 5, 10, 0, tzinfo=SHANGHAI), tick=False):
        services.charge_reverse(actor=priced.inviting_finance, charge=charge, reason="患者投诉后退费")
    with pytest.raises(ApplicationError):
        services.charge_reverse(actor=priced.inviting_finance, charge=charge, reason="again")
    charge.refresh_from_db()
    assert charge.fee_fen == 15001  # never edited
    (december,) = draft_month(dt.date(2026, 12, 1))
    assert december.fee_total_fen == -15001 and december.charge_count == 1
    assert rules.reconcile_check(stated=rules.Totals(1, -15001, december.inviting_share_total_fen, december.invited_share_total_fen),
                                 computed=services.statement_totals(december)).passed


def test_jl_b5_allocation_policy_below_60_percent_is_refused(priced):
    with pytest.raises(ApplicationError) as refused:
        services.allocation_policy_adopt(actor=priced.invited_finance, facility=priced.invited, staff_share_basis_points=5900,
                                         valid_from=dt.date(2026, 1, 1), description="按工作量分配")
    assert refused.value.code == "JL-B5" and "59.00%" in refused.value.message
    policy = services.allocation_policy_adopt(actor=priced.invited_finance, facility=priced.invited, staff_share_basis_points=6500,
                                              valid_from=dt.date(2026, 1, 1), description="按工作量分配")
    assert policy.staff_share_basis_points == 6500


def test_jl_b4_the_beat_job_drafts_last_month_on_the_first_at_two(priced):
    from billing.tasks import draft_statements_task
    from telemed.celery import _beat_schedule

    schedule = _beat_schedule()["jl-b4-monthly-statements"]["schedule"]
    assert (schedule.hour, schedule.minute, schedule.day_of_month) == ({2}, {0}, {1})
    complete(priced, dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI))
    with time_machine.travel(dt.datetime(2026, 12, 1, 2, 0, tzinfo=SHANGHAI), tick=False):
        result = draft_statements_task()
        again = draft_statements_task()
    assert result["period"] == "2026-11" and len(result["statements"]) == 1 and again["statements"] == []


def test_jl_b2_a_billing_failure_never_blocks_closing_and_the_backfill_charges_later(priced):
    """Issue 8 (JL-B2/B3): the charge is made after the close commits, in its own transaction; when
    it fails the case is closed all the same, the failure is audited, and the backfill catches up."""
    at = dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI)
    with time_machine.travel(at - dt.timedelta(hours=1), tick=False):
        consultation = priced.accepted_with_expert(service="imaging", wanted_scope="imaging")
        consultation_services.opinion_sign(actor=priced.expert, consultation=consultation, content="报告")
    broken = mock.patch("billing.services.charge_for_completed", side_effect=RuntimeError("billing tables locked"))
    with time_machine.travel(at, tick=False), broken:
        close(actor=priced.clinician, consultation=consultation)
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.CLOSED and consultation.closed_at == at
    assert not Charge.objects.exists()
    failure = AuditEvent.objects.get(event_type="billing.charge.create", outcome="failure")
    assert failure.object_id == str(consultation.pk) and "billing tables locked" in failure.details["error"]
    assert failure.facility_ids == sorted([priced.inviting.pk, priced.invited.pk])
    assert AuditEvent.objects.filter(event_type="consultation.close", object_id=str(consultation.pk)).exists()

    assert services.charges_backfill() == 1
    charge = Charge.objects.get(consultation=consultation)
    assert charge.completed_at == at and charge.fee_fen == 15001
    assert services.charges_backfill() == 0


def test_jl_b4_statement_of_a_month_not_yet_ended_in_beijing_is_refused_and_nothing_is_written(priced):
    """JL-B4: at 2026-11-30T15:59Z it is still November in Beijing: no November statement; at
    16:30Z (already 1 December in Beijing, still 30 November in UTC) November is drafted, with the
    charge of its last Beijing second and without that of December's first."""
    last_second = complete(priced, dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI))
    december = complete(priced, dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=SHANGHAI))
    events = AuditEvent.objects.count()
    with time_machine.travel(dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.UTC), tick=False), pytest.raises(ApplicationError) as refused:
        services.statements_draft(period_start=NOV)
    assert refused.value.code == "statement_month_not_ended"
    assert refused.value.message.startswith("JL-B4 第四十二条") and "北京时间" in refused.value.message
    assert refused.value.extra["rule"] == "JL-B4" and refused.value.extra["period"] == "2026-11"
    assert not Statement.objects.exists() and AuditEvent.objects.count() == events
    with time_machine.travel(dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC), tick=False):
        with pytest.raises(ApplicationError) as too_early:
            services.statements_draft(period_start=dt.date(2026, 12, 1))
        assert too_early.value.code == "statement_month_not_ended"
        (statement,) = services.statements_draft(period_start=NOV)
    assert list(statement.charges.all()) == [last_second]
    december.refresh_from_db()
    assert december.statement is None


def test_jl_b4_a_statement_holding_a_charge_of_another_month_cannot_be_confirmed(priced):
    """JL-B4: a charge made in a month is settled by that month's statement, never another's."""
    complete(priced, dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    stray = complete(priced, dt.datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI))
    (statement,) = draft_month(NOV)
    Charge.objects.filter(pk=stray.pk).update(statement=statement)  # a tampered link, as a bad import would make
    Statement.objects.filter(pk=statement.pk).update(
        charge_count=2, fee_total_fen=statement.fee_total_fen + stray.fee_fen,
        inviting_share_total_fen=statement.inviting_share_total_fen + stray.inviting_share_fen,
        invited_share_total_fen=statement.invited_share_total_fen + stray.invited_share_fen,
    )
    with pytest.raises(ApplicationError) as refused:
        services.statement_confirm(actor=priced.inviting_finance, statement=statement)
    assert refused.value.code == "JL-B4" and "须由其发生月份的结算单结算" in refused.value.message and "2026-12-01 00:30" in refused.value.message
    statement.refresh_from_db()
    assert statement.inviting_confirmed_at is None
