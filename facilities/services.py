"""Every write to facilities, agreements, physicians, duty and suspensions (STYLE 2).

Each service is keyword-only, checks the actor's role, calls the pure rules, saves, and writes
its audit event in the same transaction. A refusal that the law wants on record (an unauthorised
physician, JL-P6) is audited in its own transaction before the error is raised, so the record
survives the refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.choices import EventType, Outcome
from audit.services import audit_event_append, audit_refusal
from telemed.checks import Check, failing
from telemed.errors import ApplicationError
from telemed.files import require_file
from telemed.scope import Scope
from telemed.transactions import service_transaction

from . import rules
from .choices import (
    AccreditationStatus,
    ActingRole,
    AgreementStatus,
    PracticeScope,
    StaffRole,
    SuspensionCause,
    Title,
)
from .models import (
    AccreditationApplication,
    AccreditationItem,
    AssessmentEntry,
    CooperationAgreement,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    RegulatorMembership,
    ServiceType,
    StaffMembership,
    Suspension,
)


def _deny(message: str) -> ApplicationError:
    return ApplicationError("permission_denied", message, status=403)


def _require_role(actor, facility_id: int, *roles: str) -> None:
    scope = Scope.of(actor)
    if not scope.has_role(facility_id, *roles):
        raise _deny(_("您在该机构没有执行此操作的角色。"))


def _refuse(checks: list[Check]) -> None:
    bad = failing(checks)
    if bad:
        raise ApplicationError.from_reasons(bad)


def _today() -> date:
    return timezone.localdate()


# --- Accreditation (JL-F1) ----------------------------------------------------------------


@dataclass
class AccreditationItemInput:
    condition: str
    statement: str
    evidence: object  # an uploaded file


@transaction.atomic
def accreditation_apply(*, actor, facility: Facility, items: Iterable[AccreditationItemInput]) -> AccreditationApplication:
    """A facility administrator applies for 远程医疗服务专业技术能力评估验收 (JL-F1, art. 10, 13)."""
    _require_role(actor, facility.pk, StaffRole.FACILITY_ADMIN)
    items = list(items)
    complete = [i.condition for i in items if i.statement.strip() and i.evidence is not None]
    _refuse(rules.accreditation_completeness(complete))
    if AccreditationApplication.objects.filter(facility=facility, status=AccreditationStatus.PENDING).exists():
        raise ApplicationError("JL-F1", _("JL-F1 第十条: 该机构已有待审核的申请，请等待审核结果。"))
    # Every file is checked before anything is stored, so one refused file stores none (JL-C5 check).
    digests = [require_file(item.evidence, label=_("证明材料")) for item in items]
    application = AccreditationApplication.objects.create(
        facility=facility, submitted_by=actor, submitted_at=timezone.now(), status=AccreditationStatus.PENDING
    )
    for item, digest in zip(items, digests, strict=True):
        AccreditationItem.objects.create(
            application=application,
            condition=item.condition,
            statement=item.statement.strip(),
            evidence=item.evidence,
            evidence_sha256=digest,
        )
    if facility.accreditation_status != AccreditationStatus.APPROVED:
        Facility.objects.filter(pk=facility.pk).update(accreditation_status=AccreditationStatus.PENDING)
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_ACCREDITATION_APPLY,
        obj=application,
        acting_facility_id=facility.pk,
        facility_ids=[facility.pk],
        details={"conditions": sorted(complete)},
    )
    return application


@transaction.atomic
def accreditation_decide(*, actor, application: AccreditationApplication, approve: bool, reason: str) -> AccreditationApplication:
    """Only the provincial regulator approves or rejects (JL-F1, art. 10); a rejection needs a reason."""
    scope = Scope.of(actor)
    if not scope.is_provincial_regulator:
        raise _deny(_("JL-F1 第十条: 评估验收由省卫生健康委审核。"))
    application = AccreditationApplication.objects.select_for_update().get(pk=application.pk)
    if application.status != AccreditationStatus.PENDING:
        raise ApplicationError("invalid_state", _("该申请已审核，不能重复审核。"))
    if not approve and not reason.strip():
        raise ApplicationError("JL-F1", _("JL-F1 第十条: 不予通过须写明理由。"))
    now = timezone.now()
    application.status = AccreditationStatus.APPROVED if approve else AccreditationStatus.REJECTED
    application.decided_by = actor
    application.decided_at = now
    application.decision_reason = reason.strip()
    application.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    facility = application.facility
    if approve:
        facility.accreditation_status = AccreditationStatus.APPROVED
        facility.accredited_on = timezone.localdate(now)
    elif facility.accreditation_status != AccreditationStatus.APPROVED:
        facility.accreditation_status = AccreditationStatus.REJECTED
    facility.save(update_fields=["accreditation_status", "accredited_on"])
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_ACCREDITATION_DECIDE,
        obj=application,
        acting_division_code=scope.regulated[0][0],
        facility_ids=[facility.pk],
        details={"approved": approve, "reason": application.decision_reason},
    )
    return application


# --- Cooperation agreements (JL-F2, JL-F3) --------------------------------------------------


@transaction.atomic
def agreement_register(
    *,
    actor,
    number: str,
    inviting: Facility,
    invited: Facility,
    service_types: Iterable[ServiceType],
    valid_from: date,
    valid_until: date,
    purpose: str,
    conditions: str,
    process: str,
    rights_obligations: str,
    liability_sharing: str,
    inviting_fee_share: int,
    invited_fee_share: int,
    signed_copy,
) -> CooperationAgreement:
    """Register a signed cooperation agreement (JL-F3, art. 15; out of province, art. 16)."""
    scope = Scope.of(actor)
    if not (scope.has_role(inviting.pk, StaffRole.FACILITY_ADMIN) or scope.has_role(invited.pk, StaffRole.FACILITY_ADMIN)):
        raise _deny(_("只有协议一方的机构管理员可以登记合作协议。"))
    service_types = list(service_types)
    texts = {
        _("合作目的"): purpose,
        _("合作条件"): conditions,
        _("远程医疗流程"): process,
        _("双方权利义务"): rights_obligations,
        _("医疗损害风险和责任分担"): liability_sharing,
    }
    checks = rules.agreement_terms_checks(
        inviting_id=inviting.pk,
        invited_id=invited.pk,
        valid_from=valid_from,
        valid_until=valid_until,
        inviting_share=inviting_fee_share,
        invited_share=invited_fee_share,
        service_codes=[s.code for s in service_types],
        texts=texts,
    )
    # The invited side must qualify as an invited facility (JL-F2); the agreement itself is what
    # lets an out-of-province facility in (art. 16), so it counts as present here.
    checks += rules.invited_facility_checks(invited=invited, inviting=inviting, has_agreement=True, on=valid_from)
    if not inviting.in_province and not invited.in_province:
        checks.append(Check("JL-F2", gettext_noop("第十六条"), gettext_noop("协议至少一方须为本省医疗机构"), False))
    _refuse(checks)
    digest = require_file(signed_copy, label=_("协议签署件"))
    if CooperationAgreement.objects.filter(number=number.strip()).exists():
        raise ApplicationError("duplicate", _("协议编号 %(number)s 已登记。") % {"number": number})
    agreement = CooperationAgreement.objects.create(
        number=number.strip(),
        inviting=inviting,
        invited=invited,
        valid_from=valid_from,
        valid_until=valid_until,
        purpose=purpose.strip(),
        conditions=conditions.strip(),
        process=process.strip(),
        rights_obligations=rights_obligations.strip(),
        liability_sharing=liability_sharing.strip(),
        inviting_fee_share=inviting_fee_share,
        invited_fee_share=invited_fee_share,
        signed_copy=signed_copy,
        signed_copy_sha256=digest,
        created_by=actor,
    )
    agreement.service_types.set(service_types)
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_AGREEMENT_REGISTER,
        obj=agreement,
        acting_facility_id=inviting.pk if scope.has_role(inviting.pk, StaffRole.FACILITY_ADMIN) else invited.pk,
        facility_ids=[inviting.pk, invited.pk],
        details={
            "number": agreement.number,
            "service_types": sorted(s.code for s in service_types),
            "valid_from": valid_from,
            "valid_until": valid_until,
            "fee_ratio": f"{inviting_fee_share}:{invited_fee_share}",
            "signed_copy_sha256": digest,
        },
    )
    return agreement


@transaction.atomic
def agreement_terminate(*, actor, agreement: CooperationAgreement, reason: str) -> CooperationAgreement:
    scope = Scope.of(actor)
    parties = (agreement.inviting_id, agreement.invited_id)
    if not any(scope.has_role(p, StaffRole.FACILITY_ADMIN) for p in parties):
        raise _deny(_("只有协议一方的机构管理员可以终止合作协议。"))
    if not reason.strip():
        raise ApplicationError("JL-F3", _("JL-F3 第十五条: 终止协议须写明原因。"))
    agreement = CooperationAgreement.objects.select_for_update().get(pk=agreement.pk)
    if agreement.status == AgreementStatus.TERMINATED:
        raise ApplicationError("invalid_state", _("该协议已终止。"))
    agreement.status = AgreementStatus.TERMINATED
    agreement.terminated_at = timezone.now()
    agreement.termination_reason = reason.strip()
    agreement.save(update_fields=["status", "terminated_at", "termination_reason"])
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_AGREEMENT_TERMINATE,
        obj=agreement,
        acting_facility_id=next((p for p in parties if scope.has_role(p, StaffRole.FACILITY_ADMIN)), None),
        facility_ids=list(parties),
        details={"reason": agreement.termination_reason},
    )
    return agreement


# --- Physicians (JL-P1..P6) -----------------------------------------------------------------


@transaction.atomic
def physician_register(
    *,
    actor,
    facility: Facility,
    name: str,
    qualification_number: str,
    qualification_obtained_on: date,
    certificate_number: str,
    certificate_valid_until: date | None,
    title: int,
    scopes: list[str],
    registered_on: date,
    registration_valid_until: date | None = None,
    is_primary: bool = False,
    user=None,
) -> PracticeRegistration:
    """A facility administrator records a physician's practice registration at their facility (JL-P2).

    A physician already known by certificate number gets a further registration (多点执业).
    """
    _require_role(actor, facility.pk, StaffRole.FACILITY_ADMIN)
    _refuse(
        rules.qualification_entry_checks(
            qualification_obtained_on=qualification_obtained_on,
            registered_on=registered_on,
            registration_valid_until=registration_valid_until,
            today=_today(),
        )
    )
    physician = Physician.objects.filter(certificate_number=certificate_number.strip()).first()
    created = physician is None
    if created:
        physician = Physician.objects.create(
            user=user,
            name=name.strip(),
            qualification_number=qualification_number.strip(),
            qualification_obtained_on=qualification_obtained_on,
            certificate_number=certificate_number.strip(),
            certificate_valid_until=certificate_valid_until,
            title=title,
            scopes=sorted(set(scopes)),
        )
    elif physician.name != name.strip() or physician.qualification_number != qualification_number.strip():
        raise ApplicationError(
            "JL-P1",
            _("JL-P1 第十四条第一项: 执业证书编码 %(number)s 已属于另一名医师，姓名或资格证书编码不一致。")
            % {"number": certificate_number},
        )
    if PracticeRegistration.objects.filter(physician=physician, facility=facility).exists():
        raise ApplicationError("duplicate", _("该医师已在本机构登记执业注册。"))
    registration = PracticeRegistration.objects.create(
        physician=physician,
        facility=facility,
        is_primary=is_primary,
        registered_on=registered_on,
        valid_until=registration_valid_until,
    )
    if not created:  # issue 14: a further registration (多点执业) changes what the REST physician shows
        Physician.objects.filter(pk=physician.pk).update(updated_at=registration.updated_at)
    audit_event_append(
        actor=actor,
        event_type=EventType.PHYSICIAN_REGISTER,
        obj=registration,
        acting_facility_id=facility.pk,
        facility_ids=[facility.pk],
        details={"physician_id": physician.pk, "new_physician": created, "title": title, "scopes": physician.scopes},
    )
    return registration


@transaction.atomic
def physician_update_qualifications(
    *, actor, physician: Physician, facility: Facility, certificate_number: str | None = None,
    certificate_valid_until: date | None, certificate_revoked: bool, title: int, scopes: list[str],
) -> Physician:
    """A facility administrator records a renewed certificate (number, validity), a new title or a
    changed scope of practice (JL-P1, P4, P5), audited with the old and new values. Every later
    JL-P check sees the new data. ``certificate_number`` None keeps the current one."""
    _require_role(actor, facility.pk, StaffRole.FACILITY_ADMIN)
    if not PracticeRegistration.objects.filter(physician=physician, facility=facility).exists():
        raise _deny(_("该医师未在本机构注册执业。"))
    physician = Physician.objects.select_for_update().get(pk=physician.pk)
    number = physician.certificate_number if certificate_number is None else certificate_number.strip()
    if not number:
        raise ApplicationError("JL-P1", _("JL-P1 第十四条第一项: 请填写医师执业证书编码。"))
    if number != physician.certificate_number and Physician.objects.filter(certificate_number=number).exclude(pk=physician.pk).exists():
        raise ApplicationError(
            "JL-P1", _("JL-P1 第十四条第一项: 执业证书编码 %(number)s 已属于另一名医师。") % {"number": number}
        )
    if title not in Title.values:
        raise ApplicationError("invalid", _("专业技术职务代码无效。"))
    unknown = sorted(set(scopes) - set(PracticeScope.values))
    if unknown or not scopes:
        raise ApplicationError("JL-P5", _("JL-P5 第十四条第五项: 请选择有效的执业范围。"))
    fields = ["certificate_number", "certificate_valid_until", "certificate_revoked", "title", "scopes"]
    before = {k: getattr(physician, k) for k in fields}
    physician.certificate_number = number
    physician.certificate_valid_until = certificate_valid_until
    physician.certificate_revoked = certificate_revoked
    physician.title = title
    physician.scopes = sorted(set(scopes))
    physician.save(update_fields=fields)  # moves updated_at (telemed.changes, issue 14)
    after = {k: getattr(physician, k) for k in fields}
    if before["scopes"] != after["scopes"]:
        # Issue 14: FHIR PractitionerRole shows the physician's scopes as its specialty.
        PracticeRegistration.objects.filter(physician=physician).update(updated_at=physician.updated_at)
    audit_event_append(
        actor=actor,
        event_type=EventType.PHYSICIAN_QUALIFICATIONS_UPDATE,
        obj=physician,
        acting_facility_id=facility.pk,
        facility_ids=[facility.pk],
        details={"before": before, "after": after, "changed": [k for k in fields if before[k] != after[k]]},
    )
    return physician


@transaction.atomic
def physician_platform_register(*, actor, physician: Physician) -> Physician:
    """The physician completes registration on the provincial platform (JL-P3, art. 14.3)."""
    is_self = getattr(actor, "pk", None) is not None and physician.user_id == actor.pk
    scope = Scope.of(actor)
    admin_of = [r.facility_id for r in physician.registrations.all() if scope.has_role(r.facility_id, StaffRole.FACILITY_ADMIN)]
    if not (is_self or admin_of):
        raise _deny(_("只有医师本人或其执业机构管理员可以完成平台注册。"))
    if physician.platform_registered_at is None:
        physician.platform_registered_at = timezone.now()
        physician.save(update_fields=["platform_registered_at"])
    audit_event_append(
        actor=actor,
        event_type=EventType.PHYSICIAN_PLATFORM_REGISTER,
        obj=physician,
        acting_facility_id=admin_of[0] if admin_of else None,
        facility_ids=[r.facility_id for r in physician.registrations.all()],
    )
    return physician


def _registration_change(*, actor, registration: PracticeRegistration, event_type: EventType, changes: dict) -> PracticeRegistration:
    _require_role(actor, registration.facility_id, StaffRole.FACILITY_ADMIN)
    for field, value in changes.items():
        setattr(registration, field, value)
    registration.save(update_fields=list(changes))
    # Issue 14: the REST physician shows its registrations; its sync stamp moves with them.
    Physician.objects.filter(pk=registration.physician_id).update(updated_at=registration.updated_at)
    audit_event_append(
        actor=actor,
        event_type=event_type,
        obj=registration,
        acting_facility_id=registration.facility_id,
        facility_ids=[registration.facility_id],
        details={"physician_id": registration.physician_id},
    )
    return registration


@transaction.atomic
def registration_verify(*, actor, registration: PracticeRegistration) -> PracticeRegistration:
    """The facility confirms the physician's platform registration (JL-P3, art. 14.3)."""
    return _registration_change(
        actor=actor,
        registration=registration,
        event_type=EventType.PHYSICIAN_REGISTRATION_VERIFY,
        changes={"verified_at": timezone.now(), "verified_by": actor},
    )


@transaction.atomic
def registration_authorise(*, actor, registration: PracticeRegistration) -> PracticeRegistration:
    """The facility authorises the physician to provide telemedicine on its behalf (JL-P6, art. 30)."""
    return _registration_change(
        actor=actor,
        registration=registration,
        event_type=EventType.PHYSICIAN_AUTHORISATION_GRANT,
        changes={"authorised_at": timezone.now(), "authorised_by": actor, "authorisation_revoked_at": None},
    )


@transaction.atomic
def registration_revoke_authorisation(*, actor, registration: PracticeRegistration) -> PracticeRegistration:
    return _registration_change(
        actor=actor,
        registration=registration,
        event_type=EventType.PHYSICIAN_AUTHORISATION_REVOKE,
        changes={"authorisation_revoked_at": timezone.now()},
    )


QUALIFICATION_EVENTS = {
    "attend": EventType.PHYSICIAN_QUALIFICATION_ATTEND,
    "assign": EventType.PHYSICIAN_QUALIFICATION_ASSIGN,
    "accept": EventType.PHYSICIAN_QUALIFICATION_ACCEPT,
    "sign": EventType.PHYSICIAN_QUALIFICATION_SIGN,
}


def physician_require_qualified(
    *,
    actor,
    physician: Physician,
    facility: Facility,
    acting_role: str,
    scope: str | None,
    act: str,
    object_type: str = "",
    object_id: str | int = "",
    on: date | None = None,
) -> list[Check]:
    """Run every JL-P check for an act (assign, accept, sign), record the result, refuse if any fails.

    The result and its reasons go to the audit log whether the act is allowed or refused; an act
    by a physician the facility has not authorised also goes into their assessment file (JL-P6,
    art. 31). Both are written in their own transaction before the error is raised, so call this
    before the transaction of the act itself.
    """
    on = on or _today()
    # The data as it is now, not an instance read earlier (e.g. cached on the signing user).
    physician = Physician.objects.get(pk=physician.pk)
    registration = PracticeRegistration.objects.filter(physician=physician, facility=facility).first()
    checks = rules.physician_checks(physician, registration, acting_role=acting_role, scope=scope, on=on)
    bad = failing(checks)
    with transaction.atomic():
        event = audit_event_append(
            actor=actor,
            event_type=QUALIFICATION_EVENTS[act],
            outcome=Outcome.FAILURE if bad else Outcome.SUCCESS,
            object_type=object_type or "facilities.physician",
            object_id=object_id or physician.pk,
            acting_facility_id=facility.pk,
            facility_ids=[facility.pk],
            details={
                "physician_id": physician.pk,
                "acting_role": acting_role,
                "scope": scope,
                "on": on,
                "checks": [c.as_dict() for c in checks],
            },
        )
        if any(c.rule == "JL-P6" for c in bad):
            AssessmentEntry.objects.create(
                physician=physician,
                facility=facility,
                occurred_at=event.occurred_at,
                rule="JL-P6",
                description=_("未经所在机构授权，试图以%(role)s身份开展远程医疗服务（%(act)s）。")
                % {"role": ActingRole(acting_role).label, "act": act},
                audit_event=event,  # its chain position is read from the event (sequenced after commit)
            )
    if bad:
        raise ApplicationError.from_reasons(bad)
    return checks


# --- Duty roster (JL-F4) --------------------------------------------------------------------


@transaction.atomic
def duty_shift_add(
    *, actor, facility: Facility, physician: Physician, scope: str, starts_at: datetime, ends_at: datetime
) -> DutyShift:
    _require_role(actor, facility.pk, StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN)
    if ends_at <= starts_at:
        raise ApplicationError("invalid", _("值班结束时间须晚于开始时间。"))
    if not PracticeRegistration.objects.filter(physician=physician, facility=facility).exists():
        raise ApplicationError("JL-P2", _("JL-P2 第十四条第二项: 该医师未在本机构注册执业，不能排班。"))
    shift = DutyShift.objects.create(
        facility=facility, physician=physician, scope=scope, starts_at=starts_at, ends_at=ends_at, created_by=actor
    )
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_DUTY_ADD,
        obj=shift,
        acting_facility_id=facility.pk,
        facility_ids=[facility.pk],
        details={"physician_id": physician.pk, "scope": scope, "starts_at": starts_at, "ends_at": ends_at},
    )
    return shift


# --- Suspension (JL-F5) ---------------------------------------------------------------------


@transaction.atomic
def suspension_report(*, actor, facility: Facility, cause: str, description: str) -> Suspension:
    """Stop at once and report to the licensing regulator (JL-F5, art. 34).

    The facility's own administrator or coordinator reports it; a regulator over the facility may
    order it. It takes effect immediately: new requests and acceptances are refused from now on.
    """
    scope = Scope.of(actor)
    by_staff = scope.has_role(facility.pk, StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR)
    by_regulator = scope.regulates(facility.division_id)
    if not (by_staff or by_regulator):
        raise _deny(_("只有本机构管理人员或辖区卫生健康行政部门可以暂停远程医疗服务。"))
    if not description.strip():
        raise ApplicationError("JL-F5", _("JL-F5 第三十四条: 请写明需要暂停的情况。"))
    facility = Facility.objects.select_for_update().get(pk=facility.pk)
    if Suspension.objects.filter(facility=facility, lifted_at__isnull=True).exists():
        raise ApplicationError("JL-F5", _("JL-F5 第三十四条: 该机构已处于暂停状态。"))
    suspension = Suspension.objects.create(
        facility=facility,
        cause=SuspensionCause.REGULATOR_ORDER if (by_regulator and not by_staff) else cause,
        description=description.strip(),
        reported_by=actor,
        reported_at=timezone.now(),
        issuing_division=facility.licence_issuer,
    )
    # Issue 14: the suspension is the facility's FHIR Organization ``active``; its change stamp moves.
    Facility.objects.filter(pk=facility.pk).update(updated_at=suspension.reported_at)
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_SUSPENSION_REPORT,
        obj=suspension,
        acting_facility_id=facility.pk if by_staff else None,
        acting_division_code="" if by_staff else (scope.regulated[0][0] if scope.regulated else ""),
        facility_ids=[facility.pk],
        details={"cause": suspension.cause, "reported_to": facility.licence_issuer_id},
    )
    _tell_regulators(suspension)
    return suspension


def _tell_regulators(suspension: Suspension) -> None:
    """JL-O7 (art. 34): the report reaches the licensing regulator and the regulators over the facility
    at once (in-app, and by e-mail after commit)."""
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from consultations.services._common import notify

    from .equipment import regulators_to_tell

    users = get_user_model().objects.filter(pk__in=regulators_to_tell(suspension.facility))
    notify(
        facility_id=suspension.facility_id, roles=(), message_key="facility.suspension_reported",
        params={"f": suspension.facility.name, "c": suspension.cause, "d": suspension.description},
        link=reverse("facilities:suspension-detail", args=[suspension.pk]),
        dedupe_key=f"suspension:{suspension.pk}", extra_users=list(users),
    )


@service_transaction()
def suspension_lift(*, actor, suspension: Suspension, reason: str) -> Suspension:
    """Only the regulator that issued the licence lifts a suspension (JL-F5, art. 34). A refused lift
    (another regulator, the facility itself, no reason, already lifted) is on record (JL-A1, issue 10)."""
    scope = Scope.of(actor)

    def refused(error: ApplicationError) -> ApplicationError:
        return audit_refusal(error, actor=actor, event_type=EventType.FACILITY_SUSPENSION_LIFT, obj=suspension,
                             facility_ids=[suspension.facility_id])

    check = rules.suspension_lift_check(
        issuing_division_code=suspension.issuing_division_id,
        regulator_division_codes=[code for code, _prefix in scope.regulated],
    )
    if not check.passed:
        raise refused(ApplicationError(check.rule, check.text, {"reasons": [check.as_dict()]}, status=403))
    if not reason.strip():
        raise refused(ApplicationError("JL-F5", _("JL-F5 第三十四条: 解除暂停须写明理由。")))
    suspension = Suspension.objects.select_for_update().get(pk=suspension.pk)
    if suspension.lifted_at is not None:
        raise refused(ApplicationError("invalid_state", _("该暂停已解除。")))
    suspension.lifted_at = timezone.now()
    suspension.lifted_by = actor
    suspension.lift_reason = reason.strip()
    suspension.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    # Issue 14: the facility's FHIR Organization is ``active`` again; its change stamp moves.
    Facility.objects.filter(pk=suspension.facility_id).update(updated_at=suspension.lifted_at)
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_SUSPENSION_LIFT,
        obj=suspension,
        acting_division_code=suspension.issuing_division_id,
        facility_ids=[suspension.facility_id],
        details={"reason": suspension.lift_reason},
    )
    _tell_facility_lifted(suspension)
    return suspension


def _tell_facility_lifted(suspension: Suspension) -> None:
    """JL-F5/JL-O7 (art. 34): the facility's administrators and coordinators learn at once that they
    may resume (the stop-and-report's other side: the regulators learnt of it in ``_tell_regulators``)."""
    from django.urls import reverse

    from consultations.services._common import notify

    notify(
        facility_id=suspension.facility_id, roles=(StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR),
        message_key="facility.suspension_lifted",
        params={"f": suspension.facility.name, "g": suspension.issuing_division.name, "r": suspension.lift_reason},
        link=reverse("facilities:suspension-detail", args=[suspension.pk]), dedupe_key=f"suspension-lifted:{suspension.pk}",
    )


# --- Facilities (system administrator) and roles (security administrator) — JL-A2 三员分立 -------

FACILITY_FIELDS = (
    "name", "licence_number", "licence_expires_on", "licence_issuer", "level", "grade", "kind", "public", "division", "address",
    "phone",
)


def _require_system_admin(actor) -> None:
    if not Scope.of(actor).is_system_admin:
        raise _deny(_("JL-A2 三员分立: 只有系统管理员可以维护机构登记信息。"))


def _require_role_grantable(user) -> None:
    """JL-A2 三员分立: a platform administrator is given no facility or regulator role."""
    from .models import AdminAssignment

    _refuse([rules.data_role_check(holds_admin_role=AdminAssignment.objects.filter(user=user, active=True).exists())])


@transaction.atomic
def facility_save(*, actor, facility: Facility, changed: list[str] | None = None) -> Facility:
    """Register or update a facility's registry data (the system administrator, from the admin; JL-A2).
    Accreditation and suspension are not registry data: they change only through their own services."""
    _require_system_admin(actor)
    creating = facility.pk is None
    before = {} if creating else dict(Facility.objects.filter(pk=facility.pk).values(*[f"{f}_id" if f in ("licence_issuer", "division") else f for f in FACILITY_FIELDS]).get())
    if creating:
        facility.accreditation_status = AccreditationStatus.NONE
        facility.save()
    else:
        facility.save(update_fields=[f for f in FACILITY_FIELDS])  # moves updated_at (telemed.changes, issue 14)
        if before["name"] != facility.name:
            # Issue 14: FHIR PractitionerRole and the REST physician show the facility's name.
            PracticeRegistration.objects.filter(facility=facility).update(updated_at=facility.updated_at)
            Physician.objects.filter(registrations__facility=facility).update(updated_at=facility.updated_at)
    audit_event_append(
        actor=actor, event_type=EventType.FACILITY_REGISTER if creating else EventType.FACILITY_UPDATE, obj=facility, facility_ids=[facility.pk],
        details={"before": before, "changed": changed or []},
    )
    return facility


@transaction.atomic
def membership_grant(*, actor, user, facility: Facility, role: str) -> StaffMembership:
    """Give a user a role at a facility: the security administrator for any facility, a facility
    administrator for the roles of their own (JL-A2 三员分立). Never to a platform administrator."""
    scope = Scope.of(actor)
    if not (scope.is_security_admin or scope.has_role(facility.pk, StaffRole.FACILITY_ADMIN)):
        raise _deny(_("JL-A2 三员分立: 只有安全管理员或本机构管理员可以分配角色。"))
    _require_role_grantable(user)
    membership, created = StaffMembership.objects.get_or_create(user=user, facility=facility, role=role, defaults={"active": True})
    if not created and not membership.active:
        membership.active = True
        membership.ended_at = membership.ended_by = None
        membership.end_reason = ""
        membership.save(update_fields=["active", "ended_at", "ended_by", "end_reason"])
    audit_event_append(
        actor=actor, event_type=EventType.MEMBERSHIP_GRANT, obj=membership, acting_facility_id=facility.pk, facility_ids=[facility.pk],
        details={"user_id": user.pk, "role": role},
    )
    return membership


@transaction.atomic
def membership_revoke(*, actor, membership: StaffMembership, reason: str = "") -> StaffMembership:
    """End a user's role at a facility (e.g. a clinician who left): the facility administrator or an
    security administrator (JL-A2 三员分立). The row stays, with who ended it, when and why; every
    scoped query ignores it from now."""
    scope = Scope.of(actor)
    if not (scope.is_security_admin or scope.has_role(membership.facility_id, StaffRole.FACILITY_ADMIN)):
        raise _deny(_("JL-A2 三员分立: 只有安全管理员或本机构管理员可以撤销角色。"))
    membership = StaffMembership.objects.select_for_update().get(pk=membership.pk)
    if not membership.active:
        raise ApplicationError("invalid_state", _("该角色已撤销。"))
    if membership.user_id == actor.pk and membership.role == StaffRole.FACILITY_ADMIN and not scope.is_security_admin:
        raise ApplicationError("invalid", _("不能撤销本人的机构管理员角色，请由其他管理员或安全管理员办理。"))
    membership.active = False
    membership.ended_at = timezone.now()
    membership.ended_by = actor
    membership.end_reason = reason.strip()
    membership.save(update_fields=["active", "ended_at", "ended_by", "end_reason"])
    audit_event_append(
        actor=actor, event_type=EventType.MEMBERSHIP_REVOKE, obj=membership, acting_facility_id=membership.facility_id,
        facility_ids=[membership.facility_id],
        details={"user_id": membership.user_id, "role": membership.role, "reason": membership.end_reason},
    )
    return membership


@transaction.atomic
def regulator_grant(*, actor, user, division) -> RegulatorMembership:
    """A regulator's role in a division: the security administrator (JL-A2 三员分立)."""
    if not Scope.of(actor).is_security_admin:
        raise _deny(_("JL-A2 三员分立: 只有安全管理员可以授予监管角色。"))
    _require_role_grantable(user)
    membership, _created = RegulatorMembership.objects.update_or_create(user=user, division=division, defaults={"active": True})
    audit_event_append(actor=actor, event_type=EventType.MEMBERSHIP_REGULATOR_GRANT, obj=membership, acting_division_code=division.code,
                       details={"user_id": user.pk, "division": division.code})
    return membership


# --- Service types (JL-C1) --------------------------------------------------------------------


@transaction.atomic
def service_type_add(
    *, actor, code: str, name: str, category: str, required_scope: str = "", needs_modality: bool = False,
    negotiated_split: bool = False,
) -> ServiceType:
    """JL-C1 (art. 3): "others that the provincial regulator adds" — only the provincial health
    commission (division 220000) adds a service type; a diagnosis type names the scope of practice
    its reports need (JL-P5)."""
    scope = Scope.of(actor)
    if not scope.is_provincial_regulator:
        raise _deny(_("JL-C1 第三条: 只有省卫生健康委可以增加远程医疗服务项目。"))
    code, name = code.strip(), name.strip()
    _refuse(rules.service_type_checks(code=code, name=name, category=category, required_scope=required_scope))
    if ServiceType.objects.filter(code=code).exists():
        raise ApplicationError("duplicate", _("服务项目编码 %(code)s 已存在。") % {"code": code})
    if ServiceType.objects.filter(name=name).exists():
        raise ApplicationError("duplicate", _("服务项目名称 %(name)s 已存在。") % {"name": name})
    service_type = ServiceType.objects.create(
        code=code, name=name, category=category, required_scope=required_scope, needs_modality=needs_modality,
        negotiated_split=negotiated_split, built_in=False, active=True,
    )
    audit_event_append(
        actor=actor,
        event_type=EventType.FACILITY_SERVICE_TYPE_ADD,
        obj=service_type,
        acting_division_code=next(code_ for code_, prefix in scope.regulated if prefix == rules.JILIN_PREFIX),
        details={"code": code, "name": name, "category": category, "required_scope": required_scope,
                 "needs_modality": needs_modality, "negotiated_split": negotiated_split},
    )
    return service_type


@transaction.atomic
def service_type_standard_set(*, actor, service_type: ServiceType, minutes: int | None) -> ServiceType:
    """JL-O4 (art. 46.4): the provincial regulator sets how long a diagnosis report counts as toward
    on-site assistance time (None: not set, reports count nothing until it is)."""
    scope = Scope.of(actor)
    if not scope.is_provincial_regulator:
        raise _deny(_("JL-O4 第四十六条第四项: 只有省卫生健康委可以设定报告标准时长。"))
    _refuse([rules.report_standard_check(category=service_type.category, minutes=minutes)])
    before = service_type.report_standard_minutes
    service_type.report_standard_minutes = minutes
    service_type.save(update_fields=["report_standard_minutes"])
    audit_event_append(
        actor=actor, event_type=EventType.FACILITY_SERVICE_TYPE_STANDARD, obj=service_type,
        acting_division_code=next(code_ for code_, prefix in scope.regulated if prefix == rules.JILIN_PREFIX),
        details={"code": service_type.code, "before": before, "minutes": minutes},
    )
    return service_type
