"""The request from the inviting bedside to the invited inbox (JL-C1, JL-C3, JL-C4, JL-C5, JL-F1..F5)."""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append
from facilities import rules as facility_rules
from facilities.choices import ActingRole, StaffRole
from facilities.models import CooperationAgreement, DutyShift, Facility, Physician, ServiceType
from facilities.services import physician_require_qualified
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.files import clean_filename, content_type_of, sha256_of
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from .. import rules
from ..choices import ConsultationState, Side
from ..models import Admission, Consent, ConsentVersion, Consultation, Document, Participant, Patient
from ..selectors import expert_scopes
from ._common import (
    deny,
    move,
    notify,
    refuse_facility_checks,
    refuse_on_record,
    require_not_sealed,
    require_transition,
    suspended_ids,
)
from .obligations import obligations_meet
from .patients import require_clinical_role


def _audit(actor, consultation: Consultation, event_type: EventType, *, acting_facility_id=None, details=None, obj=None):
    return audit_event_append(
        actor=actor,
        event_type=event_type,
        obj=obj or consultation,
        acting_facility_id=acting_facility_id,
        facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, **(details or {})},
    )


def _refuse_if_failing(checks) -> None:
    """A plain refusal with every failing check (not one a regulator needs on record)."""
    bad = failing(checks)
    if bad:
        raise ApplicationError.from_reasons(bad)


def _new_number() -> str:
    return f"YC{timezone.localdate():%Y%m%d}{secrets.token_hex(3).upper()}"


def _require_open_draft(consultation: Consultation, *, actor, act: str) -> None:
    require_not_sealed(consultation, actor=actor, act=act)
    consultation.state = Consultation.objects.values_list("state", flat=True).get(pk=consultation.pk)
    if consultation.state not in (ConsultationState.DRAFT, ConsultationState.RETURNED):
        raise ApplicationError("invalid_state", _("申请已发送，不能再修改邀请内容；如需补充请等待退回或上传补充资料。"))


# --- Facility-level checks shared by send and accept (JL-F1..F5) ------------------------------


def facility_checks(consultation: Consultation, *, on=None) -> list:
    """Every JL-F check for this pair, this service, today: both take part (F1, F5), the invited
    facility qualifies (F2), an agreement covers the service (F3)."""
    on = on or timezone.localdate()
    inviting, invited = consultation.inviting, consultation.invited
    suspended = suspended_ids(inviting.pk, invited.pk)
    agreements = [
        {
            "status": a.status,
            "valid_from": a.valid_from,
            "valid_until": a.valid_until,
            "service_codes": [s.code for s in a.service_types.all()],
        }
        for a in CooperationAgreement.objects.filter(inviting=inviting, invited=invited).prefetch_related("service_types")
    ]
    checks = []
    for facility in (inviting, invited):
        for check in facility_rules.participation_checks(
            accreditation_status=facility.accreditation_status, suspended=facility.pk in suspended
        ):
            checks.append(check if check.passed else check.__class__(**{**check.__dict__, "detail": f"{facility.name}：{check.detail}"}))
    checks += facility_rules.invited_facility_checks(invited=invited, inviting=inviting, has_agreement=bool(agreements), on=on)
    checks += facility_rules.agreement_checks(agreements, service_code=consultation.service_type_id, on=on)
    return checks


def _agreement_in_force(consultation: Consultation, on) -> CooperationAgreement | None:
    return (
        CooperationAgreement.objects.in_force_on(on)
        .filter(inviting_id=consultation.inviting_id, invited_id=consultation.invited_id, service_types=consultation.service_type_id)
        .order_by("-valid_from")
        .first()
    )


# --- Draft ---------------------------------------------------------------------------------------


@service_transaction()
def consultation_create(
    *,
    actor,
    inviting: Facility,
    invited: Facility,
    service_type: ServiceType,
    patient: Patient,
    reason: str,
    purpose: str,
    case_summary: str,
    wanted_scope: str,
    wanted_title: int,
    urgency: str = "routine",
    modality: str = "",
    requested_time: datetime | None = None,
    admission: Admission | None = None,
) -> Consultation:
    """A draft request (JL-C1 service type, JL-C4 invitation contents)."""
    require_clinical_role(actor, inviting.pk)
    if patient.facility_id != inviting.pk or (admission is not None and admission.patient_id != patient.pk):
        raise ApplicationError("invalid", _("患者或住院记录不属于邀请方机构。"))
    if not service_type.active:
        raise ApplicationError("JL-C1", _("JL-C1 第三条: 服务项目“%(name)s”已停用。") % {"name": service_type.name})
    bad = failing(
        rules.invitation_checks(
            reason=reason, purpose=purpose, case_summary=case_summary, wanted_scope=wanted_scope,
            needs_modality=service_type.needs_modality, modality=modality,
        )
        + [rules.requested_time_check(requested_time, now=timezone.now())]
    )
    if bad:
        raise ApplicationError.from_reasons(bad)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                consultation = Consultation.objects.create(
                    number=_new_number(),
                    inviting=inviting,
                    invited=invited,
                    service_type=service_type,
                    modality=modality if service_type.needs_modality else "",
                    patient=patient,
                    admission=admission,
                    reason=reason.strip(),
                    purpose=purpose.strip(),
                    requested_time=requested_time,
                    case_summary=case_summary.strip(),
                    wanted_scope=wanted_scope,
                    wanted_title=wanted_title,
                    urgency=urgency,
                    created_by=actor,
                    created_at=timezone.now(),
                )
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - five random collisions in a row
        raise ApplicationError("conflict", _("申请编号生成冲突，请重试。"), status=409)
    _audit(actor, consultation, EventType.CONSULTATION_CREATE, acting_facility_id=inviting.pk, details={"service_type": service_type.code})
    return consultation


# --- JL-C3: consent and the inviting physician ------------------------------------------------


@service_transaction()
def consent_record(
    *,
    actor,
    consultation: Consultation,
    signer_name: str,
    relation: str,
    signed_at: datetime,
    sensitive_info_consent: bool,
    signed_copy=None,
    e_signature_reference: str = "",
) -> Consent:
    require_clinical_role(actor, consultation.inviting_id)
    _require_open_draft(consultation, actor=actor, act="consent")
    _refuse_if_failing(rules.consent_time_checks(signed_at, now=timezone.now()))
    digest = ""
    if signed_copy is not None:
        from telemed.files import require_file

        digest = require_file(signed_copy, label=_("知情同意书签署件"))
    if not digest and not e_signature_reference.strip():
        raise ApplicationError("JL-C3", _("JL-C3 第二十三条: 请上传知情同意书签署件或填写电子签名凭证。"))
    now = timezone.now()
    values = {
        "signer_name": signer_name.strip(),
        "relation": relation,
        "signed_at": signed_at,
        "signed_copy": signed_copy if signed_copy is not None else "",
        "signed_copy_sha256": digest,
        "e_signature_reference": e_signature_reference.strip(),
        "sensitive_info_consent": sensitive_info_consent,
        "sensitive_info_consented_at": now if sensitive_info_consent else None,
        "recorded_by": actor,
        "recorded_at": now,
    }
    # JL-C3: recorded again only as a new version; the current one is kept, unchanged, first.
    previous = Consent.objects.select_for_update().filter(consultation=consultation).first()
    if previous is None:
        consent = Consent.objects.create(consultation=consultation, version=1, **values)
    else:
        ConsentVersion.objects.create(
            consultation=consultation, version=previous.version, superseded_at=now, superseded_by=actor,
            **{field: getattr(previous, field) for field in CONSENT_VERSION_FIELDS},
        )
        for field, value in values.items():
            setattr(previous, field, value)
        previous.version += 1
        previous.save()
        consent = previous
    _audit(
        actor, consultation, EventType.CONSULTATION_CONSENT, acting_facility_id=consultation.inviting_id, obj=consent,
        details={"relation": relation, "signed_at": signed_at, "sensitive_info_consent": sensitive_info_consent, "sha256": digest,
                 "version": consent.version},
    )
    return consent


# What a kept consent version copies from the consent it was (JL-C3).
CONSENT_VERSION_FIELDS = (
    "signer_name", "relation", "signed_at", "signed_copy", "signed_copy_sha256", "e_signature_reference",
    "sensitive_info_consent", "sensitive_info_consented_at", "recorded_by", "recorded_at",
)


def participant_add_inviting(*, actor, consultation: Consultation, physician: Physician) -> Participant:
    """Name an attending physician of the inviting facility (JL-C3, art. 23; JL-P1..P3, P6)."""
    require_clinical_role(actor, consultation.inviting_id)
    _require_open_draft(consultation, actor=actor, act="participant")
    if physician.title // 10 != 23:  # GB/T 8561 physician series: 231..235
        raise ApplicationError(
            "JL-C3",
            _("JL-C3 第二十三条: 须由邀请方执业医师参与（%(name)s 的职称为%(title)s，不属于医师系列）。")
            % {"name": physician.name, "title": physician.get_title_display()},
        )
    physician_require_qualified(
        actor=actor, physician=physician, facility=consultation.inviting, acting_role=ActingRole.ATTENDING, scope=None,
        act="attend", object_type="consultations.consultation", object_id=consultation.pk,
    )
    with service_transaction():
        participant, created = Participant.objects.get_or_create(
            consultation=consultation, physician=physician, side=Side.INVITING,
            defaults={"added_by": actor, "added_at": timezone.now()},
        )
        if created:
            _audit(actor, consultation, EventType.CONSULTATION_PARTICIPANT_ADD, acting_facility_id=consultation.inviting_id,
                   details={"physician_id": physician.pk, "side": Side.INVITING})
    return participant


# --- JL-C5: documents ----------------------------------------------------------------------------


@service_transaction()
def document_upload(*, actor, consultation: Consultation, kind: str, title: str, upload) -> Document:
    """Inviting side uploads material; the portal keeps its SHA-256, size, real type, uploader, time."""
    require_clinical_role(actor, consultation.inviting_id)
    require_not_sealed(consultation, actor=actor, act="upload")
    consultation.state = Consultation.objects.values_list("state", flat=True).get(pk=consultation.pk)
    if consultation.state not in (
        ConsultationState.DRAFT, ConsultationState.RETURNED, ConsultationState.SENT, ConsultationState.ACCEPTED, ConsultationState.SCHEDULED,
    ):
        raise ApplicationError("invalid_state", _("当前状态下不能再上传资料。"))
    if upload is None:
        raise ApplicationError("JL-C5", _("JL-C5 第二十九条: 请选择要上传的文件。"))
    content_type = content_type_of(upload)
    bad = failing(rules.document_checks(size=upload.size or 0, content_type=content_type))
    if bad:
        raise ApplicationError.from_reasons(bad)
    upload.name = clean_filename(upload.name)
    digest = sha256_of(upload)
    document = Document.objects.create(
        consultation=consultation,
        kind=kind,
        title=clean_text(title or upload.name, keep_lines=False).strip()[:200],
        file=upload,
        original_name=upload.name[:255],
        sha256=digest,
        size=upload.size,
        content_type=content_type,
        uploaded_by=actor,
        uploaded_at=timezone.now(),
    )
    _audit(actor, consultation, EventType.DOCUMENT_UPLOAD, acting_facility_id=consultation.inviting_id, obj=document,
           details={"kind": kind, "sha256": digest, "size": upload.size, "content_type": content_type})
    return document


# --- Transitions -----------------------------------------------------------------------------


@service_transaction()
def consultation_send(*, actor, consultation: Consultation) -> Consultation:
    """Send (or re-send after a return): every JL-F check, JL-C3 consent and participant, then the
    request reaches the invited facility and meets the patient's open JL-C2 obligations in time."""
    consultation = Consultation.objects.select_for_update().select_related("inviting", "invited", "service_type").get(pk=consultation.pk)
    edge = require_transition(actor, consultation, "send")
    today = timezone.localdate()
    checks = facility_checks(consultation, on=today)
    consent = Consent.objects.filter(consultation=consultation).first()
    participants_ok = Participant.objects.filter(consultation=consultation, side=Side.INVITING).exists()
    checks += rules.consent_checks(consent, participants_ok=participants_ok)
    refuse_facility_checks(actor, consultation, checks, act="send")
    now = timezone.now()
    duty_gap = False
    if consultation.service_type.category == "diagnosis":
        # JL-F4 for the speciality the report needs (JL-P5), not whatever was typed as wanted.
        duty_gap = not any(duty_covered(consultation.invited_id, at=now, scope=s) for s in expert_scopes(consultation))
    move(consultation, edge, sent_at=now, agreement=_agreement_in_force(consultation, today), duty_gap_flag=duty_gap, return_reason="")
    material = set(consultation.documents.filter(returned_at__isnull=True).values_list("kind", flat=True))
    met = obligations_meet(actor=actor, consultation=consultation, delivered_at=now, material_kinds=material)
    _audit(actor, consultation, EventType.CONSULTATION_SEND, acting_facility_id=consultation.inviting_id,
           details={"checks": [c.as_dict() for c in checks], "obligations_met": [o.pk for o in met], "duty_gap": duty_gap})
    notify(
        facility_id=consultation.invited_id, roles=(StaffRole.COORDINATOR,),
        subject=_("新的远程医疗申请 %(n)s：%(s)s（来自 %(f)s）") % {"n": consultation.number, "s": consultation.service_type.label, "f": consultation.inviting.name},
        body=_("JL-F4 第二十四条提示：当前无该专业值班人员，请尽快安排。") if duty_gap else "",
        link=reverse("consultations:detail", args=[consultation.pk]),
        dedupe_key=f"consultation:{consultation.pk}:sent:{now.timestamp():.0f}",
    )
    return consultation


def duty_covered(facility_id: int, *, at: datetime, scope: str) -> bool:
    """JL-F4 (art. 24): is someone qualified for ``scope`` on duty at the invited facility now?"""
    shifts = list(
        DutyShift.objects.filter(facility_id=facility_id, starts_at__lte=at, ends_at__gt=at, scope=scope)
        .select_related("physician")
        .prefetch_related("physician__registrations")
    )
    on = timezone.localdate(at)
    for shift in shifts:
        registration = next((r for r in shift.physician.registrations.all() if r.facility_id == facility_id), None)
        shift.qualified = not failing(
            facility_rules.physician_checks(shift.physician, registration, acting_role=ActingRole.EXPERT, scope=scope, on=on)
        )
    return facility_rules.duty_coverage(shifts, at=at, scope=scope).passed


@service_transaction()
def consultation_accept(*, actor, consultation: Consultation) -> Consultation:
    from .opinions import responsibility_record

    consultation = Consultation.objects.select_for_update().select_related("inviting", "invited", "service_type").get(pk=consultation.pk)
    edge = require_transition(actor, consultation, "accept")
    refuse_facility_checks(actor, consultation, facility_checks(consultation), act="accept")
    move(consultation, edge, accepted_at=timezone.now())
    responsibility_record(actor=actor, consultation=consultation, occasion="accepted")
    _audit(actor, consultation, EventType.CONSULTATION_ACCEPT, acting_facility_id=consultation.invited_id)
    notify(facility_id=consultation.inviting_id, roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN),
           subject=_("申请 %(n)s 已被 %(f)s 受理") % {"n": consultation.number, "f": consultation.invited.name},
           link=reverse("consultations:detail", args=[consultation.pk]), dedupe_key=f"consultation:{consultation.pk}:accepted")
    return consultation


def _transition_with_reason(*, actor, consultation: Consultation, action: str, reason: str, field: str, acting: str, event: EventType, code: str) -> Consultation:
    consultation = Consultation.objects.select_for_update().select_related("service_type").get(pk=consultation.pk)
    edge = require_transition(actor, consultation, action)
    if not reason.strip():
        raise ApplicationError(code, _("%(code)s: 请写明理由。") % {"code": code})
    move(consultation, edge, **{field: reason.strip()})
    _audit(actor, consultation, event, acting_facility_id=getattr(consultation, acting), details={"reason": reason.strip()})
    return consultation


@service_transaction()
def consultation_decline(*, actor, consultation: Consultation, reason: str) -> Consultation:
    """JL-C4: the invited facility declines promptly, with a reason."""
    consultation = _transition_with_reason(actor=actor, consultation=consultation, action="decline", reason=reason,
                                           field="decline_reason", acting="invited_id", event=EventType.CONSULTATION_DECLINE, code="JL-C4")
    notify(facility_id=consultation.inviting_id, roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN),
           subject=_("申请 %(n)s 被拒绝：%(r)s") % {"n": consultation.number, "r": reason.strip()[:80]},
           link=reverse("consultations:detail", args=[consultation.pk]), dedupe_key=f"consultation:{consultation.pk}:declined")
    return consultation


@service_transaction()
def consultation_return_material(*, actor, consultation: Consultation, reason: str, document_ids=()) -> Consultation:
    """JL-C5 (art. 29): the invited side returns material as insufficient, with a reason."""
    consultation = _transition_with_reason(actor=actor, consultation=consultation, action="return_material", reason=reason,
                                           field="return_reason", acting="invited_id", event=EventType.CONSULTATION_RETURN_MATERIAL, code="JL-C5")
    now = timezone.now()
    returned = Document.objects.filter(consultation=consultation, pk__in=list(document_ids), returned_at__isnull=True)
    returned_ids = list(returned.values_list("pk", flat=True))
    returned.update(returned_at=now, return_reason=reason.strip())
    if returned_ids:
        _audit(actor, consultation, EventType.DOCUMENT_RETURN, acting_facility_id=consultation.invited_id, details={"documents": returned_ids, "reason": reason.strip()})
    notify(facility_id=consultation.inviting_id, roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN),
           subject=_("申请 %(n)s 资料被退回补充：%(r)s") % {"n": consultation.number, "r": reason.strip()[:80]},
           link=reverse("consultations:detail", args=[consultation.pk]), dedupe_key=f"consultation:{consultation.pk}:returned:{now.timestamp():.0f}")
    return consultation


@service_transaction()
def consultation_cancel(*, actor, consultation: Consultation, reason: str) -> Consultation:
    return _transition_with_reason(actor=actor, consultation=consultation, action="cancel", reason=reason,
                                   field="cancel_reason", acting="inviting_id", event=EventType.CONSULTATION_CANCEL, code="invalid")


def expert_assign(*, actor, consultation: Consultation, physician: Physician) -> Participant:
    """The invited coordinator assigns an expert: every JL-P check as of now, audited, all reasons."""
    consultation = Consultation.objects.select_related("inviting", "invited", "service_type").get(pk=consultation.pk)
    require_not_sealed(consultation, actor=actor, act="assign")
    scope = Scope.of(actor)
    if not scope.has_role(consultation.invited_id, StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM):
        raise deny(_("只有受邀方远程医疗管理人员（或其对接系统）可以指定专家。"))
    if consultation.state not in (ConsultationState.ACCEPTED, ConsultationState.SCHEDULED, ConsultationState.IN_SESSION):
        raise ApplicationError("invalid_state", _("请先受理申请，再指定专家。"))
    if consultation.invited_id in suspended_ids(consultation.invited_id, consultation.inviting_id) or consultation.inviting_id in suspended_ids(consultation.inviting_id):
        error = ApplicationError("JL-F5", _("JL-F5 第三十四条: 暂停期间不得继续开展远程医疗服务。"))
        raise refuse_on_record(error, actor=actor, consultation=consultation, event_type=EventType.FACILITY_CHECK_REFUSE, act="assign")
    physician_require_qualified(
        actor=actor, physician=physician, facility=consultation.invited, acting_role=ActingRole.EXPERT,
        scope=expert_scopes(consultation), act="assign", object_type="consultations.consultation", object_id=consultation.pk,
    )
    if not facility_rules.title_meets_wanted(title=physician.title, wanted_title=consultation.wanted_title):
        raise ApplicationError(
            "JL-C4", _("JL-C4: 邀请方要求%(want)s，该专家职称为%(has)s。") % {"want": consultation.get_wanted_title_display(), "has": physician.get_title_display()}
        )
    with service_transaction():
        participant, created = Participant.objects.get_or_create(
            consultation=consultation, physician=physician, side=Side.INVITED, defaults={"added_by": actor, "added_at": timezone.now()}
        )
        if created:
            _audit(actor, consultation, EventType.CONSULTATION_EXPERT_ASSIGN, acting_facility_id=consultation.invited_id, details={"physician_id": physician.pk})
            if physician.user_id:
                notify(facility_id=consultation.invited_id, roles=(), extra_users=[physician.user],
                       subject=_("您被指定为申请 %(n)s 的会诊专家") % {"n": consultation.number},
                       link=reverse("consultations:detail", args=[consultation.pk]), dedupe_key=f"consultation:{consultation.pk}:assigned:{physician.pk}")
    return participant


@service_transaction()
def consultation_schedule(*, actor, consultation: Consultation, scheduled_for: datetime, video_link: str) -> Consultation:
    consultation = Consultation.objects.select_for_update().select_related("service_type").get(pk=consultation.pk)
    edge = require_transition(actor, consultation, "schedule")
    if not video_link.strip():
        raise ApplicationError("invalid", _("请填写视频会议链接。"))
    if not rules.is_web_link(video_link):
        raise ApplicationError(
            "video_link_invalid", _("视频会议链接须为以 http:// 或 https:// 开头的网址（例如 https://meet.example.cn/room-1）。"),
            {"field": "video_link"},
        )
    _refuse_if_failing([rules.schedule_time_check(scheduled_for, now=timezone.now())])
    move(consultation, edge, scheduled_for=scheduled_for, video_link=video_link.strip())
    _audit(actor, consultation, EventType.CONSULTATION_SCHEDULE, acting_facility_id=consultation.invited_id,
           details={"scheduled_for": scheduled_for, "video_link": video_link.strip()})
    local = timezone.localtime(scheduled_for)
    notify(facility_id=consultation.inviting_id, roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN),
           subject=_("申请 %(n)s 已排期：%(t)s") % {"n": consultation.number, "t": f"{local:%Y-%m-%d %H:%M}"},
           link=reverse("consultations:detail", args=[consultation.pk]), dedupe_key=f"consultation:{consultation.pk}:scheduled:{scheduled_for.timestamp():.0f}")
    return consultation


@service_transaction()
def consultation_start_session(*, actor, consultation: Consultation) -> Consultation:
    consultation = Consultation.objects.select_for_update().select_related("service_type").get(pk=consultation.pk)
    edge = require_transition(actor, consultation, "start_session")
    move(consultation, edge, session_started_at=timezone.now())
    _audit(actor, consultation, EventType.CONSULTATION_START_SESSION, acting_facility_id=consultation.invited_id)
    return consultation


@service_transaction()
def consultation_close(*, actor, consultation: Consultation) -> Consultation:
    consultation = Consultation.objects.select_for_update().select_related("service_type").get(pk=consultation.pk)
    edge = require_transition(actor, consultation, "close")
    now = timezone.now()
    move(consultation, edge, closed_at=now)
    _audit(actor, consultation, EventType.CONSULTATION_CLOSE, acting_facility_id=consultation.inviting_id)
    # JL-B2/B3: the completed service is charged at the price in force now (billing owns the rules),
    # after the close has committed and in its own transaction: a billing problem never blocks
    # closing a case; it is audited and the backfill (statements_draft) catches it up.
    from billing.services import charge_after_close

    transaction.on_commit(partial(charge_after_close, consultation_id=consultation.pk, completed_at=now), robust=True)
    return consultation
