"""``manage.py seed_demo``: idempotent, written through the services, and every trap fails exactly its rule."""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta
from io import StringIO
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from audit.services import audit_chain_verify
from facilities import demo_data as data
from facilities import rules
from facilities.choices import AccreditationStatus, ActingRole, AgreementStatus
from facilities.models import (
    AccreditationApplication,
    AccreditationItem,
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
    AuditEvent,
)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    result = {model._meta.label: model.objects.count() for model in COUNTED}
    result["auth.User"] = get_user_model().objects.count()
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
    operator = get_user_model().objects.get(username=data.OPERATOR_LOGIN)
    token = Token.objects.get(user__username=data.PARTNER_LOGIN).key

    second = seed()

    assert counts() == before
    assert before["facilities.Facility"] == len(data.FACILITIES)
    assert before["facilities.CooperationAgreement"] == len(data.AGREEMENTS)
    assert before["facilities.Physician"] == len(data.PHYSICIANS)
    assert before["facilities.DutyShift"] == len(data.DUTY) * data.DUTY_DAYS * len(data.SHIFT_START_HOURS)
    assert "created this run: 0" in second and "created this run: 0" not in first
    # Nothing rewritten either: not the password hash, not the partner's token.
    operator_again = get_user_model().objects.get(username=data.OPERATOR_LOGIN)
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
        assert user.is_superuser == (spec.role == data.OPERATOR)
        if spec.role == data.REGULATOR:
            assert list(RegulatorMembership.objects.filter(user=user, active=True).values_list("division_id", flat=True)) == [
                spec.division
            ]
        elif spec.role != data.OPERATOR:
            memberships = StaffMembership.objects.filter(user=user, active=True)
            assert [(m.facility.name, m.role) for m in memberships] == [(facility(spec.facility).name, spec.role)]
        assert spec.username in output
    partner = users.get(username=data.PARTNER_LOGIN)
    assert Token.objects.get(user=partner).key in output
    assert users.get(username="expert_jdyy").physician.name == "林沐川"
    assert data.DEMO_PASSWORD in output


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
    } <= event_types
    assert "JL-A1 审计链完整" in output
