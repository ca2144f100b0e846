"""``manage.py seed_demo``: idempotent, written through the services, and every trap fails exactly its rule;
the demo cases and billing (``consultations/demo.py``, ``billing/demo.py``) end in the intended states."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, time, timedelta
from io import StringIO
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from audit.services import audit_chain_verify
from billing import demo as billing_demo
from billing import rules as billing_rules
from billing.models import (
    AllocationPolicy,
    Charge,
    FacilityPrice,
    PriceStandard,
    SettlementAccount,
    Statement,
)
from consultations.choices import REQUIRED_MATERIAL, ConsultationState, ObligationState, RaterKind, Urgency
from consultations.models import (
    Admission,
    Consent,
    Consultation,
    Document,
    Notification,
    Obligation,
    Opinion,
    Participant,
    Patient,
    Rating,
    ResponsibilityRecord,
    Violation,
)
from facilities import demo_data as data
from facilities import rules
from facilities.choices import AccreditationStatus, ActingRole, AgreementStatus
from facilities.models import (
    AccreditationApplication,
    AccreditationItem,
    AdminAssignment,
    AssessmentEntry,
    CooperationAgreement,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    RegulatorMembership,
    StaffMembership,
    Suspension,
)
from telemed.checks import failing
from telemed.models import PartnerClient

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
COUNTED = (
    Facility,
    AccreditationApplication,
    AccreditationItem,
    CooperationAgreement,
    Physician,
    PracticeRegistration,
    AssessmentEntry,
    DutyShift,
    Suspension,
    StaffMembership,
    RegulatorMembership,
    Token,
    PartnerClient,
    Patient,
    Admission,
    Consultation,
    Consent,
    Participant,
    Document,
    Opinion,
    Rating,
    ResponsibilityRecord,
    Obligation,
    Violation,
    Notification,
    PriceStandard,
    FacilityPrice,
    SettlementAccount,
    AllocationPolicy,
    Charge,
    Statement,
    AuditEvent,
)
S = ConsultationState
# What the demo cases and billing end in (consultations/demo.py, billing/demo.py).
DEMO_STATES = {S.DRAFT: 1, S.SENT: 1, S.RETURNED: 1, S.DECLINED: 1, S.SCHEDULED: 1, S.SIGNED: 1, S.CLOSED: 2}
DEMO_OBLIGATIONS = {ObligationState.OPEN: 2, ObligationState.MET: 1, ObligationState.VIOLATED: 1}


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    result = {model._meta.label: model.objects.count() for model in COUNTED}
    result["auth.User"] = get_user_model().objects.count()
    result["consultation states"] = Counter(Consultation.objects.values_list("state", flat=True))
    result["obligation states"] = Counter(Obligation.objects.values_list("state", flat=True))
    result["statement confirmations"] = list(
        Statement.objects.values_list("state", "inviting_confirmed_at", "invited_confirmed_at", "fee_total_fen")
    )
    result["paid charges"] = Charge.objects.filter(paid_at__isnull=False).count()
    return result


def facility(key: str) -> Facility:
    name = next(spec.name for spec in data.FACILITIES if spec.key == key)
    return Facility.objects.get(name=name)


def failing_rules(physician: Physician, facility_: Facility, *, acting_role: str, scope: str | None) -> set[str]:
    registration = PracticeRegistration.objects.filter(physician=physician, facility=facility_).first()
    checks = rules.physician_checks(physician, registration, acting_role=acting_role, scope=scope, on=timezone.localdate())
    return {check.rule for check in failing(checks)}


@pytest.fixture
def output() -> str:
    return seed()


def test_second_run_changes_nothing():
    first = seed()
    before = counts()
    operator = get_user_model().objects.get(username=data.SECURITY_ADMIN_LOGIN)
    token = Token.objects.get(user__username=data.PARTNER_LOGIN).key

    second = seed()

    assert counts() == before
    assert before["facilities.Facility"] == len(data.FACILITIES)
    assert before["facilities.CooperationAgreement"] == len(data.AGREEMENTS)
    assert before["facilities.Physician"] == len(data.PHYSICIANS)
    assert before["facilities.DutyShift"] == len(data.DUTY) * data.DUTY_DAYS * len(data.SHIFT_START_HOURS)
    assert "created this run: 0" in second and "created this run: 0" not in first
    # The demo cases, obligations and billing are as intended, and the second run added no event.
    assert before["consultation states"] == DEMO_STATES
    assert before["obligation states"] == DEMO_OBLIGATIONS
    assert before["billing.Charge"] == DEMO_STATES[S.CLOSED] and before["paid charges"] == 1
    assert before["billing.Statement"] == 0  # JL-B4: today's charges wait for the month's end
    due_soon = Obligation.objects.filter(state=ObligationState.OPEN, due_at__lt=timezone.now() + timedelta(hours=2))
    assert due_soon.count() == 1
    report = audit_chain_verify()
    assert report.intact and report.checked == before["audit.AuditEvent"], report.text
    # Nothing rewritten either: not the password hash, not the partner's token.
    operator_again = get_user_model().objects.get(username=data.SECURITY_ADMIN_LOGIN)
    assert operator_again.password == operator.password
    assert Token.objects.get(user__username=data.PARTNER_LOGIN).key == token
    assert token in second


def test_jl_p1_to_p6_each_unqualified_physician_fails_exactly_the_intended_rule(output):
    """JL-P1..P6 (art. 14, 30, 31): one trap per rule, each failing that rule and no other."""
    traps = [spec for spec in data.PHYSICIANS if spec.fails]
    assert sorted(spec.fails for spec in traps) == ["JL-P1", "JL-P2", "JL-P3", "JL-P4", "JL-P5", "JL-P6"]
    found = {
        spec.name: failing_rules(
            Physician.objects.get(certificate_number=spec.certificate_number),
            facility(spec.acts_for),
            acting_role=ActingRole.EXPERT,
            scope=spec.check_scope,
        )
        for spec in traps
    }
    assert found == {spec.name: {spec.fails} for spec in traps}
    assert all(spec.note.startswith(spec.fails) for spec in traps)


def test_qualified_experts_and_attending_physicians_pass_every_check(output):
    for spec in data.PHYSICIANS:
        physician = Physician.objects.get(certificate_number=spec.certificate_number)
        if spec.duty:
            key, scope = spec.duty.split(":")
            assert failing_rules(physician, facility(key), acting_role=ActingRole.EXPERT, scope=scope) == set(), spec.name
    for username, key in (("clinician_nongan", "nongan"), ("clinician_dunhua", "dunhua")):
        physician = Physician.objects.get(user__username=username)
        assert failing_rules(physician, facility(key), acting_role=ActingRole.ATTENDING, scope=None) == set()
    expert = Physician.objects.get(user__username="expert_jdyy")
    assert failing_rules(expert, facility("jdyy"), acting_role=ActingRole.EXPERT, scope="internal") == set()


def test_multi_site_practice_and_every_physician_series_title(output):
    """JL-P2 多点执业: some physicians are registered at two facilities; GB/T 8561 titles 231–235 all present."""
    two_sites = [spec for spec in data.PHYSICIANS if len(spec.registrations) == 2]
    assert len(two_sites) >= 2
    for spec in two_sites:
        assert PracticeRegistration.objects.filter(physician__certificate_number=spec.certificate_number).count() == 2
    titles = set(Physician.objects.values_list("title", flat=True))
    assert {231, 232, 233, 234, 235} <= titles
    assert titles & {261, 262, 263, 264, 265} and titles & {251, 252, 253, 254, 255}


def test_jl_f5_suspended_facility_has_an_open_suspension_reported_to_its_licensing_regulator(output):
    suspended = facility(data.SUSPENDED.facility)
    suspension = Suspension.objects.get(facility=suspended, lifted_at__isnull=True)
    assert suspension.cause == data.SUSPENDED.cause
    assert suspension.description == data.SUSPENDED.description
    assert suspension.issuing_division_id == suspended.licence_issuer_id
    assert Suspension.objects.filter(lifted_at__isnull=True).count() == 1
    checks = rules.participation_checks(accreditation_status=suspended.accreditation_status, suspended=True)
    assert [c.rule for c in failing(checks)] == ["JL-F5"]


def test_jl_f1_f2_facility_traps(output):
    """JL-F1 pending accreditation; JL-F2 an expired licence and a level-1 facility as invited side."""
    assert facility(data.PENDING_ACCREDITATION).accreditation_status == AccreditationStatus.PENDING
    others = Facility.objects.exclude(pk=facility(data.PENDING_ACCREDITATION).pk)
    assert set(others.values_list("accreditation_status", flat=True)) == {AccreditationStatus.APPROVED}
    inviting = facility("nongan")
    today = timezone.localdate()
    for key, detail in ((data.EXPIRED_LICENCE, "执业许可证"), (data.LEVEL_ONE_TRAP, "二级以上")):
        bad = failing(rules.invited_facility_checks(invited=facility(key), inviting=inviting, has_agreement=True, on=today))
        assert len(bad) == 1 and detail in bad[0].label, key
    for key in data.INVITED_KEYS:
        invited = facility(key)
        assert (invited.level, invited.grade) == (3, "A")
        assert not failing(rules.invited_facility_checks(invited=invited, inviting=inviting, has_agreement=True, on=today))


def test_jl_f3_agreements_in_force_expired_and_terminated_with_hashed_signed_copies(output):
    today = timezone.localdate()
    in_force = set(CooperationAgreement.objects.in_force_on(today).values_list("number", flat=True))
    assert in_force == {spec.number for spec in data.AGREEMENTS} - {data.EXPIRED_AGREEMENT, data.TERMINATED_AGREEMENT}
    expired = CooperationAgreement.objects.get(number=data.EXPIRED_AGREEMENT)
    assert expired.status == AgreementStatus.ACTIVE and expired.valid_until < today
    terminated = CooperationAgreement.objects.get(number=data.TERMINATED_AGREEMENT)
    assert terminated.status == AgreementStatus.TERMINATED and terminated.termination_reason
    ratios = {(a.inviting_fee_share, a.invited_fee_share) for a in CooperationAgreement.objects.all()}
    assert {(2, 8), (3, 7), (4, 6)} <= ratios
    for agreement in CooperationAgreement.objects.all():
        with agreement.signed_copy.open("rb") as handle:
            content = handle.read()
        assert content.startswith(b"%PDF-1.4") and content.rstrip().endswith(b"%%EOF")
        assert hashlib.sha256(content).hexdigest() == agreement.signed_copy_sha256


def test_jl_f4_duty_covers_24_hours_with_exactly_one_deliberate_gap(output):
    today = timezone.localdate()
    start = datetime.combine(today, time(0), tzinfo=SHANGHAI)
    for duty in data.DUTY:
        shifts = [
            SimpleNamespace(
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                scope=s.scope,
                qualified=not failing_rules(s.physician, s.facility, acting_role=ActingRole.EXPERT, scope=s.scope),
            )
            for s in DutyShift.objects.filter(facility=facility(duty.facility), scope=duty.scope).select_related(
                "physician", "facility"
            )
        ]
        uncovered = [
            at
            for at in (start + timedelta(minutes=30 * i) for i in range(data.DUTY_DAYS * 48))
            if not rules.duty_coverage(shifts, at=at, scope=duty.scope).passed
        ]
        expected = [
            datetime.combine(today + timedelta(days=day), time(hour), tzinfo=SHANGHAI) + timedelta(minutes=30 * i)
            for day, hour, covered in duty.gaps
            for i in range(covered * 2, 16)
        ]
        assert uncovered == expected, duty


def test_every_demo_login_exists_with_the_right_membership(output):
    users = get_user_model().objects
    for spec in data.LOGINS:
        user = users.get(username=spec.username)
        assert user.check_password(data.DEMO_PASSWORD), spec.username
        assert not user.is_superuser and not user.is_staff  # JL-A2 三员分立: nobody needs a superuser
        if spec.role in data.ADMIN_ROLES:
            assert list(AdminAssignment.objects.filter(user=user, active=True).values_list("role", flat=True)) == [spec.role]
            assert not StaffMembership.objects.filter(user=user).exists() and not RegulatorMembership.objects.filter(user=user).exists()
        elif spec.role == data.REGULATOR:
            assert list(RegulatorMembership.objects.filter(user=user, active=True).values_list("division_id", flat=True)) == [
                spec.division
            ]
        else:
            memberships = StaffMembership.objects.filter(user=user, active=True)
            assert [(m.facility.name, m.role) for m in memberships] == [(facility(spec.facility).name, spec.role)]
        assert spec.username in output
    partner = users.get(username=data.PARTNER_LOGIN)
    assert Token.objects.get(user=partner).key in output
    assert users.get(username="expert_jdyy").physician.name == "林沐川"
    assert data.DEMO_PASSWORD in output


def test_the_demo_partner_application_is_registered_and_printed(output):
    """Issue 14: a fixed demo client id acting as the partner account; its secret is printed (demo only)
    and works at the token endpoint; the database keeps only its hash."""
    from rest_framework.test import APIClient

    client = PartnerClient.objects.select_related("application", "user").get(application__client_id=data.DEMO_CLIENT_ID)
    assert client.user.username == data.PARTNER_LOGIN and not client.owns_user
    assert client.facility.name == facility("nongan").name
    assert data.DEMO_CLIENT_ID in output and data.DEMO_CLIENT_SECRET in output
    assert data.DEMO_CLIENT_SECRET not in client.application.client_secret
    answer = APIClient().post("/api/v1/oauth/token/", {"grant_type": "client_credentials", "client_id": data.DEMO_CLIENT_ID,
                                                      "client_secret": data.DEMO_CLIENT_SECRET})
    assert answer.status_code == 200, answer.content
    assert AuditEvent.objects.filter(event_type="oauth.client.issue", object_id=str(client.pk), channel="command").exists()


def test_the_invited_hospital_has_a_coordination_and_an_expert_application(output):
    """Issue 14 (examples/partner_client.py): 吉林大学第一医院's coordination system acts as its coordinator,
    the expert's signing workstation as the expert (JL-C6: only the assigned expert signs); both printed."""
    from rest_framework.test import APIClient

    by_id = {c.client_id: c for c in data.DEMO_CLIENTS}
    assert {"demo-jdyy-coordination", "demo-jdyy-expert"} <= set(by_id)
    for client_id, login in (("demo-jdyy-coordination", "coordinator_jdyy"), ("demo-jdyy-expert", "expert_jdyy")):
        client = PartnerClient.objects.select_related("user", "facility").get(application__client_id=client_id)
        assert client.user.username == login and not client.owns_user and client.facility.name == facility("jdyy").name
        assert client.scopes == sorted(by_id[client_id].scopes)
        assert client_id in output and by_id[client_id].secret in output
        answer = APIClient().post("/api/v1/oauth/token/", {"grant_type": "client_credentials", "client_id": client_id,
                                                          "client_secret": by_id[client_id].secret})
        assert answer.status_code == 200, answer.content


def test_an_application_may_not_act_as_someone_the_two_factor_policy_covers(output, settings):
    """JL-A2: client credentials have no second factor, so no application acts as a facility
    administrator (or any role TELEMED_2FA_REQUIRED_ROLES names)."""
    from telemed.errors import ApplicationError
    from telemed.oauth.services import partner_client_register

    users = get_user_model().objects
    with pytest.raises(ApplicationError, match="双重认证"):
        partner_client_register(actor=users.get(username="admin_jdyy"), facility=facility("jdyy"), name="x",
                                scopes=["consultations:read"], acting_user=users.get(username="admin_jdyy"))
    settings.TELEMED_2FA_REQUIRED_ROLES = [*settings.TELEMED_2FA_REQUIRED_ROLES, "clinician"]
    with pytest.raises(ApplicationError, match="双重认证"):
        partner_client_register(actor=users.get(username="admin_jdyy"), facility=facility("jdyy"), name="x",
                                scopes=["consultations:read"], acting_user=users.get(username="expert_jdyy"))


def test_jl_a1_the_seed_writes_an_intact_audit_chain_on_the_command_channel(output):
    report = audit_chain_verify()
    assert report.intact, report.text
    assert report.checked == AuditEvent.objects.count() > 0
    assert set(AuditEvent.objects.values_list("channel", flat=True)) == {"command"}
    assert len(set(AuditEvent.objects.values_list("request_id", flat=True))) == 1
    event_types = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {
        "facility.accreditation.apply",
        "facility.accreditation.decide",
        "facility.agreement.register",
        "facility.agreement.terminate",
        "physician.register",
        "physician.platform_register",
        "physician.registration.verify",
        "physician.authorisation.grant",
        "physician.authorisation.revoke",
        "facility.duty.add",
        "facility.suspension.report",
        # consultations/demo.py and billing/demo.py
        "patient.register",
        "admission.record",
        "admission.diagnosis",
        "obligation.open",
        "obligation.met",
        "obligation.violated",
        "consultation.create",
        "consultation.consent",
        "consultation.participant.add",
        "document.upload",
        "consultation.send",
        "consultation.return_material",
        "consultation.decline",
        "consultation.accept",
        "consultation.expert.assign",
        "consultation.schedule",
        "consultation.start_session",
        "opinion.sign",
        "opinion.correct",
        "consultation.close",
        "consultation.rate",
        "billing.price_standard.publish",
        "billing.price.set",
        "billing.account.register",
        "billing.allocation.adopt",
        "billing.charge.create",
        "billing.charge.payment",
    } <= event_types
    assert not event_types & {"billing.statement.draft", "billing.statement.confirm"}  # JL-B4: after the month's end
    assert not AuditEvent.objects.filter(outcome="failure").exclude(event_type="obligation.violated").exists()
    assert "JL-A1 审计链完整" in output


def test_jl_c2_c3_c5_c6_demo_cases_in_every_state(output):
    """The demo cases: one per state, each with consent, an attending physician and the JL-C2 material;
    JL-C2 obligations open (one due in under two hours), met and violated. (That a second run changes
    none of it is in ``test_second_run_changes_nothing``.)"""
    demo = Consultation.objects.filter(patient__external_id__startswith="DEMO-P-")
    assert Counter(demo.values_list("state", flat=True)) == DEMO_STATES
    for consultation in demo:
        assert consultation.number in output
        consent = Consent.objects.get(consultation=consultation)
        assert consent.sensitive_info_consent and (consent.signed_copy_sha256 or consent.e_signature_reference)
        assert Participant.objects.filter(consultation=consultation, side="inviting").exists()
        assert set(REQUIRED_MATERIAL) <= set(Document.objects.filter(consultation=consultation).values_list("kind", flat=True))
    for document in Document.objects.filter(consultation__in=demo)[:3]:
        with document.file.open("rb") as handle:
            content = handle.read()
        assert content.startswith(b"%PDF-1.4") and hashlib.sha256(content).hexdigest() == document.sha256
    for patient in Patient.objects.filter(external_id__startswith="DEMO-P-"):
        assert len(patient.id_number) == 18 and patient.id_number.startswith("22") and patient.phone.startswith("138")

    assert demo.get(state=S.SENT).urgency == Urgency.URGENT
    returned = demo.get(state=S.RETURNED)
    assert returned.return_reason and Document.objects.filter(consultation=returned, returned_at__isnull=False).count() == 1
    assert demo.get(state=S.DECLINED).decline_reason
    scheduled = demo.get(state=S.SCHEDULED)
    assert scheduled.scheduled_for > timezone.now() and "https://meet.invalid/" in scheduled.video_link
    assert Participant.objects.filter(consultation=scheduled, side="invited", physician__user__username="expert_jdyy").exists()
    signed = demo.get(state=S.SIGNED)
    assert (signed.invited.name, signed.service_type_id) == (facility("ybdx").name, "imaging")
    first, second = Opinion.objects.filter(consultation=signed).order_by("version")
    assert (first.version, second.version, second.supersedes_id) == (1, 2, first.pk) and second.correction_reason
    for closed in demo.filter(state=S.CLOSED):
        assert set(Rating.objects.filter(consultation=closed).values_list("rater_kind", flat=True)) == set(RaterKind.values)
        assert ResponsibilityRecord.objects.filter(consultation=closed).exists()
    assert Admission.objects.filter(inpatient_number="DEMO-ZY-0005", diagnosis_confirmed_at__isnull=False).exists()

    obligations = Obligation.objects.filter(patient__external_id__startswith="DEMO-P-")
    assert Counter(obligations.values_list("state", flat=True)) == DEMO_OBLIGATIONS
    now = timezone.now()
    hours_left = sorted((o.due_at - now).total_seconds() / 3600 for o in obligations.filter(state=ObligationState.OPEN))
    assert 1 < hours_left[0] < 2 and 19 < hours_left[1] < 21, hours_left
    assert obligations.get(state=ObligationState.OPEN, trigger="undiagnosed").admission.inpatient_number == "DEMO-ZY-0009"
    assert obligations.get(state=ObligationState.MET).consultation == demo.get(state=S.SENT)
    assert Violation.objects.get(obligation=obligations.get(state=ObligationState.VIOLATED)).rule == "JL-C2"


def billing_demo_facilities() -> dict:
    return {key: facility(key) for key in ("nongan", "jdyy")}


def test_jl_b1_to_b5_demo_billing(output):
    """Prices within the published standards, a charge per closed case split by JL-B3, one payment;
    no statement of the month not yet ended (JL-B4), and once it has ended (Beijing time) the month
    end drafts it and the inviting side alone confirms it."""
    standards = PriceStandard.objects.all()
    assert set(standards.values_list("service_type", flat=True)) == {
        "consultation", "outpatient", "case_discussion", "pathology", "imaging", "laboratory",
    }
    assert "演示" in standards.first().document_number
    for price in FacilityPrice.objects.select_related("standard"):
        assert 0 < price.price_fen <= price.standard.max_price_fen
    assert set(FacilityPrice.objects.values_list("facility__name", flat=True)) == {facility("jdyy").name, facility("ybdx").name}
    for account in SettlementAccount.objects.select_related("facility"):
        assert account.active and account.kind == "corporate" and account.account_name == account.facility.name
    assert AllocationPolicy.objects.count() == 3
    assert all(bp >= 6000 for bp in AllocationPolicy.objects.values_list("staff_share_basis_points", flat=True))

    closed = Consultation.objects.filter(state=S.CLOSED)
    charges = Charge.objects.filter(consultation__in=closed)
    assert charges.count() == closed.count() == Charge.objects.count() == 2
    for charge in charges:
        assert charge.inviting_share_fen + charge.invited_share_fen == charge.fee_fen == charge.price.price_fen > 0
    by_service = {c.service_type_id: c for c in charges}
    assert (by_service["consultation"].inviting_share_fen, by_service["consultation"].invited_share_fen) == (6000, 24000)
    assert (by_service["outpatient"].inviting_share_fen, by_service["outpatient"].invited_share_fen) == (4500, 10500)
    paid = Charge.objects.get(paid_at__isnull=False)
    assert paid.fiscal_receipt_number and paid.insurance_fen + paid.self_pay_fen == paid.fee_fen and paid.self_pay_fen > 0

    assert not Statement.objects.exists()  # JL-B4: the demo never drafts the current month
    month = billing_rules.month_of(timezone.now())
    with time_machine.travel(billing_rules.period_bounds(month)[1] + timedelta(minutes=1), tick=False):
        assert billing_demo.seed_month_end(facilities=billing_demo_facilities())["statements drafted"] == 1
        assert billing_demo.seed_month_end(facilities=billing_demo_facilities()) == Counter()  # idempotent
    statement = Statement.objects.get()
    assert statement.period_start == month
    assert (statement.inviting, statement.invited) == (facility("nongan"), facility("jdyy"))
    assert statement.state == "draft" and statement.invited_confirmed_at is None
    assert statement.inviting_confirmed_by.username == "finance_nongan"
    assert set(statement.charges.all()) == set(charges)
    assert billing_rules.totals(statement.charges.all()) == billing_rules.Totals(
        statement.charge_count, statement.fee_total_fen, statement.inviting_share_total_fen, statement.invited_share_total_fen
    )
    assert statement.payee_account.facility == facility("jdyy")
    assert get_user_model().objects.get(username="finance_ybdx").check_password(data.DEMO_PASSWORD)
    assert "finance_ybdx" in output


def test_the_dashboard_has_its_figures_as_soon_as_the_demo_is_loaded(output):
    from facilities.models import MetricDay

    # Without this the demo's regulators saw an empty dashboard until beat's first catch-up.
    assert MetricDay.objects.exists()


def test_jl_o6_demo_complaints_one_answered_one_overdue(output):
    from audit import complaint_rules
    from audit.complaint_models import Complaint

    complaints = list(Complaint.objects.order_by("received_at"))
    assert len(complaints) == len(data.COMPLAINTS) == 2
    assert all("（演示）" in c.text and "（演示）" in c.complainant_name for c in complaints)
    overdue, answered = complaints
    assert answered.state == "answered" and answered.substantiated is True and "（演示）" in answered.answer
    assert overdue.state == "received"
    assert complaint_rules.answer_overdue(answer_due_at=overdue.answer_due_at, answered_at=None, now=timezone.now())


def test_jl_o3_demo_evaluations_published_for_two_past_years_with_the_accountability_flag(output):
    """JL-O3 (art. 45–47): a formula, the province's two past years published; 农安 不合格 twice."""
    from facilities.models import EvaluationFormula, EvaluationResult, EvaluationRound

    today = timezone.localdate()
    assert EvaluationFormula.objects.get().version == 1
    rounds = EvaluationRound.objects.filter(division_id="220000").order_by("year")
    assert [(r.year, r.published) for r in rounds] == [(today.year - 2, True), (today.year - 1, True)]
    last = EvaluationResult.objects.get(year=today.year - 1, facility=facility("nongan"))
    assert last.grade == "fail" and last.accountability and last.principal_barred and last.principal_name == "白振华"
    assert last.provisional_grade != "" and last.adjust_reason
    assert EvaluationResult.objects.get(year=today.year - 1, facility=facility("jdyy")).grade == "excellent"
    # Art. 45: the province grades county level and above only; primary care is the cities'.
    assert not EvaluationResult.objects.filter(facility=facility("helong")).exists()
