"""Facilities services: role checks, the rules they call, and the audit events they write."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from facilities import services
from facilities.choices import (
    AccreditationCondition,
    AccreditationStatus,
    ActingRole,
    StaffRole,
    SuspensionCause,
    Title,
)
from facilities.models import AssessmentEntry, Facility, ServiceType, Suspension
from telemed.errors import ApplicationError
from tests.factories import (
    AgreementFactory,
    FacilityFactory,
    PhysicianFactory,
    RegistrationFactory,
    division,
    pdf,
    regulator,
    staff,
)

pytestmark = pytest.mark.django_db


def events(event_type):
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("sequence"))


def seven_items():
    return [services.AccreditationItemInput(c.value, f"{c.label} 情况说明", pdf(f"{c.value}.pdf")) for c in AccreditationCondition]


def test_jl_f1_apply_then_provincial_regulator_approves():
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    application = services.accreditation_apply(actor=admin, facility=facility, items=seven_items())
    assert application.items.count() == 7
    assert all(len(i.evidence_sha256) == 64 for i in application.items.all())
    facility.refresh_from_db()
    assert facility.accreditation_status == AccreditationStatus.PENDING

    city = regulator("220100")
    with pytest.raises(ApplicationError) as refused:
        services.accreditation_decide(actor=city, application=application, approve=True, reason="")
    assert refused.value.status == 403 and "JL-F1" in refused.value.message

    province = regulator("220000")
    services.accreditation_decide(actor=province, application=application, approve=True, reason="")
    facility.refresh_from_db()
    assert facility.accreditation_status == AccreditationStatus.APPROVED
    assert facility.accredited_on == timezone.localdate()
    assert [e.outcome for e in events("facility.accreditation.decide")] == ["success"]


def test_jl_f1_incomplete_application_lists_the_missing_conditions():
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    with pytest.raises(ApplicationError) as refused:
        services.accreditation_apply(actor=admin, facility=facility, items=seven_items()[:5])
    assert refused.value.code == "JL-F1"
    assert len(refused.value.extra["reasons"]) == 2
    assert "（六）" in refused.value.message and "（七）" in refused.value.message


def test_jl_f1_rejection_needs_a_reason():
    facility = FacilityFactory(accreditation_status=AccreditationStatus.NONE)
    application = services.accreditation_apply(actor=staff(facility, StaffRole.FACILITY_ADMIN), facility=facility, items=seven_items())
    province = regulator("220000")
    with pytest.raises(ApplicationError, match="理由"):
        services.accreditation_decide(actor=province, application=application, approve=False, reason=" ")
    services.accreditation_decide(actor=province, application=application, approve=False, reason="信息系统未与省平台联通")
    facility.refresh_from_db()
    assert facility.accreditation_status == AccreditationStatus.REJECTED


def agreement_kwargs(inviting, invited, **overrides):
    values = dict(
        number="JL-2026-001",
        inviting=inviting,
        invited=invited,
        service_types=ServiceType.objects.filter(code__in=["consultation", "imaging"]),
        valid_from=dt.date(2026, 1, 1),
        valid_until=dt.date(2027, 12, 31),
        purpose="目的",
        conditions="条件",
        process="流程",
        rights_obligations="权利义务",
        liability_sharing="责任分担",
        inviting_fee_share=3,
        invited_fee_share=7,
        signed_copy=pdf("signed.pdf"),
    )
    values.update(overrides)
    return values


def test_jl_f3_agreement_registered_by_a_party_admin_with_hash_and_audit():
    county = FacilityFactory(level=2, division=division("220122"))
    province_hospital = FacilityFactory()
    admin = staff(county, StaffRole.FACILITY_ADMIN)
    agreement = services.agreement_register(actor=admin, **agreement_kwargs(county, province_hospital))
    assert sorted(agreement.service_types.values_list("code", flat=True)) == ["consultation", "imaging"]
    assert len(agreement.signed_copy_sha256) == 64
    (event,) = events("facility.agreement.register")
    assert event.facility_ids == sorted([county.pk, province_hospital.pk])
    assert event.details["fee_ratio"] == "3:7"


def test_jl_f3_only_a_party_admin_registers_an_agreement():
    county, hospital, other = FacilityFactory(level=2), FacilityFactory(), FacilityFactory()
    for actor in (staff(county, StaffRole.CLINICIAN), staff(other, StaffRole.FACILITY_ADMIN)):
        with pytest.raises(ApplicationError) as refused:
            services.agreement_register(actor=actor, **agreement_kwargs(county, hospital))
        assert refused.value.code == "permission_denied"


def test_jl_f2_agreement_refused_for_a_level_one_invited_facility_with_every_reason():
    county = FacilityFactory(level=2)
    township = FacilityFactory(level=1, licence_expires_on=dt.date(2025, 1, 1))
    admin = staff(county, StaffRole.FACILITY_ADMIN)
    with pytest.raises(ApplicationError) as refused:
        services.agreement_register(actor=admin, **agreement_kwargs(county, township))
    assert refused.value.code == "JL-F2"
    assert "二级以上" in refused.value.message and "许可证" in refused.value.message
    assert events("facility.agreement.register") == []


def test_jl_f2_out_of_province_facility_joins_by_agreement_with_a_jilin_inviter():
    county = FacilityFactory(level=2, division=division("220122"))
    beijing = FacilityFactory(division=division("110000"), licence_issuer=division("110000"))
    admin = staff(county, StaffRole.FACILITY_ADMIN)
    assert services.agreement_register(actor=admin, **agreement_kwargs(county, beijing)).pk
    liaoning = FacilityFactory(level=2, division=division("210000"), licence_issuer=division("210000"))
    with pytest.raises(ApplicationError) as refused:
        services.agreement_register(
            actor=staff(liaoning, StaffRole.FACILITY_ADMIN), **agreement_kwargs(liaoning, beijing, number="X-2")
        )
    assert refused.value.code == "JL-F2" and "第十六条" in refused.value.message


def test_jl_p_qualification_check_is_audited_with_every_reason():
    hospital = FacilityFactory()
    registration = RegistrationFactory(
        facility=hospital,
        physician=PhysicianFactory(title=Title.ATTENDING_PHYSICIAN, certificate_valid_until=dt.date(2020, 1, 1)),
    )
    coordinator = staff(hospital, StaffRole.COORDINATOR)
    with pytest.raises(ApplicationError) as refused:
        services.physician_require_qualified(
            actor=coordinator, physician=registration.physician, facility=hospital,
            acting_role=ActingRole.EXPERT, scope="internal", act="assign",
        )
    assert refused.value.code == "JL-P1"
    assert [r["rule"] for r in refused.value.extra["reasons"]] == ["JL-P1", "JL-P4"]
    (event,) = events("physician.qualification.assign")
    assert event.outcome == "failure"
    assert [c["rule"] for c in event.details["checks"] if not c["passed"]] == ["JL-P1", "JL-P4"]
    assert AssessmentEntry.objects.count() == 0  # P6 passed: nothing for the assessment file


def test_jl_p6_unauthorised_attempt_goes_into_the_assessment_file():
    hospital = FacilityFactory()
    registration = RegistrationFactory(facility=hospital, authorised_at=None)
    with pytest.raises(ApplicationError) as refused:
        services.physician_require_qualified(
            actor=staff(hospital, StaffRole.COORDINATOR), physician=registration.physician, facility=hospital,
            acting_role=ActingRole.EXPERT, scope="internal", act="sign",
        )
    assert refused.value.code == "JL-P6"
    (entry,) = AssessmentEntry.objects.all()
    event = AuditEvent.objects.get(sequence=entry.log_sequence)
    assert entry.audit_event == event and entry.audit_sequence is None
    assert entry.rule == "JL-P6" and entry.physician == registration.physician and event.outcome == "failure"


def test_jl_p_qualified_expert_passes_and_the_pass_is_recorded():
    hospital = FacilityFactory()
    registration = RegistrationFactory(facility=hospital)
    checks = services.physician_require_qualified(
        actor=staff(hospital, StaffRole.COORDINATOR), physician=registration.physician, facility=hospital,
        acting_role=ActingRole.EXPERT, scope="internal", act="assign",
    )
    assert all(c.passed for c in checks)
    assert events("physician.qualification.assign")[0].outcome == "success"


def test_jl_p2_multiple_practice_sites_and_a_physician_cannot_be_hijacked():
    first, second = FacilityFactory(), FacilityFactory()
    reg = services.physician_register(
        actor=staff(first, StaffRole.FACILITY_ADMIN), facility=first, name="张医生", qualification_number="Q-1",
        qualification_obtained_on=dt.date(2005, 1, 1), certificate_number="C-1", certificate_valid_until=None,
        title=Title.CHIEF_PHYSICIAN, scopes=["internal"], registered_on=dt.date(2010, 1, 1), is_primary=True,
    )
    again = services.physician_register(
        actor=staff(second, StaffRole.FACILITY_ADMIN), facility=second, name="张医生", qualification_number="Q-1",
        qualification_obtained_on=dt.date(2005, 1, 1), certificate_number="C-1", certificate_valid_until=None,
        title=Title.CHIEF_PHYSICIAN, scopes=["internal"], registered_on=dt.date(2020, 1, 1),
    )
    assert again.physician_id == reg.physician_id
    assert reg.physician.registrations.count() == 2
    third = FacilityFactory()
    with pytest.raises(ApplicationError) as refused:
        services.physician_register(
            actor=staff(third, StaffRole.FACILITY_ADMIN), facility=third, name="李医生", qualification_number="Q-9",
            qualification_obtained_on=dt.date(2005, 1, 1), certificate_number="C-1", certificate_valid_until=None,
            title=Title.CHIEF_PHYSICIAN, scopes=["internal"], registered_on=dt.date(2020, 1, 1),
        )
    assert refused.value.code == "JL-P1" and "另一名医师" in refused.value.message


def test_jl_p3_and_p6_verification_and_authorisation_by_the_facility_admin_only():
    hospital = FacilityFactory()
    registration = RegistrationFactory(facility=hospital, verified_at=None, authorised_at=None)
    with pytest.raises(ApplicationError):
        services.registration_verify(actor=staff(hospital, StaffRole.CLINICIAN), registration=registration)
    admin = staff(hospital, StaffRole.FACILITY_ADMIN)
    services.registration_verify(actor=admin, registration=registration)
    services.registration_authorise(actor=admin, registration=registration)
    registration.refresh_from_db()
    assert registration.verified_at and registration.authorised_at and registration.authorisation_revoked_at is None
    services.registration_revoke_authorisation(actor=admin, registration=registration)
    registration.refresh_from_db()
    assert registration.authorisation_revoked_at is not None
    assert [e.event_type for e in AuditEvent.objects.order_by("sequence")] == [
        "physician.registration.verify",
        "physician.authorisation.grant",
        "physician.authorisation.revoke",
    ]


def test_jl_f4_duty_only_for_physicians_registered_at_the_facility():
    hospital = FacilityFactory()
    coordinator = staff(hospital, StaffRole.COORDINATOR)
    outsider = RegistrationFactory().physician
    start = timezone.now()
    with pytest.raises(ApplicationError) as refused:
        services.duty_shift_add(actor=coordinator, facility=hospital, physician=outsider, scope="imaging", starts_at=start, ends_at=start + dt.timedelta(hours=8))
    assert refused.value.code == "JL-P2"
    mine = RegistrationFactory(facility=hospital).physician
    with pytest.raises(ApplicationError, match="晚于"):
        services.duty_shift_add(actor=coordinator, facility=hospital, physician=mine, scope="imaging", starts_at=start, ends_at=start)
    shift = services.duty_shift_add(actor=coordinator, facility=hospital, physician=mine, scope="imaging", starts_at=start, ends_at=start + dt.timedelta(hours=8))
    assert events("facility.duty.add")[0].object_id == str(shift.pk)


def test_jl_f5_suspension_is_immediate_and_lifted_only_by_the_licensing_regulator():
    hospital = FacilityFactory(licence_issuer=division("220100"), division=division("220104"))
    suspension = services.suspension_report(
        actor=staff(hospital, StaffRole.FACILITY_ADMIN), facility=hospital,
        cause=SuspensionCause.EQUIPMENT_CHANGE, description="影像传输设备故障",
    )
    assert suspension.issuing_division_id == "220100"
    assert Facility.objects.with_suspension().get(pk=hospital.pk).is_suspended
    with pytest.raises(ApplicationError) as again:
        services.suspension_report(actor=staff(hospital, StaffRole.COORDINATOR), facility=hospital, cause=SuspensionCause.QUALITY_RISK, description="x")
    assert again.value.code == "JL-F5"

    for wrong in (regulator("220000"), regulator("220104"), regulator("220200")):
        with pytest.raises(ApplicationError) as refused:
            services.suspension_lift(actor=wrong, suspension=suspension, reason="已整改")
        assert refused.value.code == "JL-F5" and refused.value.status == 403
    services.suspension_lift(actor=regulator("220100"), suspension=suspension, reason="设备已修复并复核")
    assert not Facility.objects.with_suspension().get(pk=hospital.pk).is_suspended
    assert [e.event_type for e in AuditEvent.objects.filter(outcome="success").order_by("sequence")] == [
        "facility.suspension.report", "facility.suspension.lift"]
    # The three refused lifts are on record too, as failures (a regulator wants the attempts).
    assert AuditEvent.objects.filter(event_type="facility.suspension.lift", outcome="failure").count() == 3


def test_jl_f5_regulator_orders_a_suspension_within_their_division_only():
    hospital = FacilityFactory(division=division("220104"))
    with pytest.raises(ApplicationError):
        services.suspension_report(actor=regulator("220200"), facility=hospital, cause="quality_risk", description="抽查发现隐患")
    suspension = services.suspension_report(actor=regulator("220100"), facility=hospital, cause="quality_risk", description="抽查发现隐患")
    assert suspension.cause == SuspensionCause.REGULATOR_ORDER
    assert Suspension.objects.filter(facility=hospital, lifted_at__isnull=True).count() == 1


def test_jl_f3_terminate_needs_a_reason_and_a_party_admin():
    agreement = AgreementFactory()
    with pytest.raises(ApplicationError):
        services.agreement_terminate(actor=staff(agreement.inviting, StaffRole.FACILITY_ADMIN), agreement=agreement, reason="")
    services.agreement_terminate(actor=staff(agreement.invited, StaffRole.FACILITY_ADMIN), agreement=agreement, reason="合作到期不再续签")
    agreement.refresh_from_db()
    assert agreement.status == "terminated"


def test_jl_p6_the_assessment_entry_shows_the_attempts_chain_position_once_the_sequencer_chained_it(settings):
    """JL-P6 with the lock-free audit log (JL-A1, issue 11): the entry is written before its event is
    chained, so it points at the event and shows the position the sequencer gives it."""
    from audit.services import audit_chain_sequence

    settings.TELEMED_AUDIT_SEQUENCER = "worker"
    hospital = FacilityFactory()
    registration = RegistrationFactory(facility=hospital, authorised_at=None)
    with pytest.raises(ApplicationError):
        services.physician_require_qualified(
            actor=staff(hospital, StaffRole.COORDINATOR), physician=registration.physician, facility=hospital,
            acting_role=ActingRole.EXPERT, scope="internal", act="sign",
        )
    (entry,) = AssessmentEntry.objects.all()
    assert entry.audit_event.sequence is None and entry.log_sequence is None
    audit_chain_sequence()
    entry = AssessmentEntry.objects.select_related("audit_event").get()
    assert entry.log_sequence == entry.audit_event.sequence is not None
