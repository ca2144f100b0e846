"""Signed opinions and reports (JL-C6), responsibility (JL-C7), ratings (JL-O5)."""

from __future__ import annotations

import hashlib
import json

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append
from facilities.choices import ActingRole, ServiceCategory, StaffRole
from facilities.services import physician_require_qualified
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.transactions import service_transaction

from .. import report_rules, rules
from ..choices import ConsultationState, OpinionKind, RaterKind, Side
from ..models import Consultation, Opinion, Participant, Rating, ResponsibilityRecord
from ..selectors import expert_scopes
from ._common import deny, move, notify, require_not_sealed, require_transition


def responsibility_record(*, actor, consultation: Consultation, occasion: str) -> ResponsibilityRecord:
    """JL-C7 (art. 28, 29): who answers for what, recorded at acceptance and at each signature."""
    duty = rules.responsibility_for(consultation.service_type.category)
    record = ResponsibilityRecord.objects.create(
        consultation=consultation,
        recorded_at=timezone.now(),
        occasion=occasion,
        article=duty.article,
        inviting_facility_id=consultation.inviting_id,
        invited_facility_id=consultation.invited_id,
        inviting_answers_for=duty.inviting,
        invited_answers_for=duty.invited,
        acted_by=actor,
    )
    audit_event_append(
        actor=actor,
        event_type=EventType.RESPONSIBILITY_RECORD,
        obj=record,
        facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, "occasion": occasion, "article": duty.article,
                 "inviting": duty.inviting, "invited": duty.invited},
    )
    return record


TRANSFER_REASON_MAX = 200  # Opinion.transfer_reason


def signed_content_hash(
    *, consultation_number: str, version: int, kind: str, content: str, physician_id: int, signed_at,
    recommends_transfer: bool = False, transfer_reason: str = "", structure: dict | None = None,
) -> str:
    """JL-C6: the SHA-256 of the canonical signed content.

    JL-C10: a recommendation to transfer is part of what is signed. It enters the canonical form
    only when it is made, as ``"transfer": {"recommended": true, "reason": …}``, so every opinion
    signed before (and every one without a recommendation) keeps exactly the hash it had.

    JL-C11: a structured opinion's structure (``report_rules.canonical_structure``: sections,
    ICD-10 diagnoses, recommendations) is signed too. It enters only when present, as
    ``"structure": {…}`` next to ``"form": 2`` (the canonical form's version), so a free-text
    opinion — every one signed before structures existed — keeps exactly the hash it had.
    """
    payload = {
        "consultation": consultation_number,
        "version": version,
        "kind": kind,
        "content": content,
        "physician": physician_id,
        "signed_at": signed_at.isoformat(),
    }
    if recommends_transfer:
        payload["transfer"] = {"recommended": True, "reason": transfer_reason}
    if structure:
        payload["form"] = 2
        payload["structure"] = structure
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def opinion_content_hash(opinion: Opinion, *, consultation_number: str) -> str:
    """JL-C6: the hash of an opinion as it is stored now (to compare with the signed one)."""
    return signed_content_hash(
        consultation_number=consultation_number, version=opinion.version, kind=opinion.kind, content=opinion.content,
        physician_id=opinion.signed_by_id, signed_at=opinion.signed_at, recommends_transfer=opinion.recommends_transfer,
        transfer_reason=opinion.transfer_reason, structure=opinion.structure or None,
    )


def opinion_signature_intact(opinion: Opinion, *, consultation_number: str) -> bool:
    """JL-C6: whether what is stored is still what was signed — a diagnosis code, a section, the
    text changed behind the portal's back (in the database) makes this False."""
    return opinion_content_hash(opinion, consultation_number=consultation_number) == opinion.content_sha256


def _structured(consultation: Consultation, structure: dict, content: str) -> dict:
    """JL-C11: the canonical structure of a structured opinion, or a refusal with every reason —
    a malformed ICD-10 code as ``icd10_invalid``, anything else as ``JL-C11``."""
    if content.strip():
        raise ApplicationError(
            report_rules.RULE,
            _("JL-C11: 结构化意见/报告的正文由各栏目生成，请勿同时提交自由文本内容。"),
            {"field": "content"},
        )
    sections = report_rules.template_sections(consultation.service_type.report_template, consultation.modality)
    texts = {str(k): str(v or "") for k, v in (structure.get("sections") or {}).items()}
    diagnoses = [d for d in structure.get("diagnoses") or [] if (d.get("code") or "").strip() or (d.get("text") or "").strip()]
    recommendations = str(structure.get("recommendations") or "")
    bad = failing(report_rules.structure_checks(sections=sections, texts=texts, diagnoses=diagnoses, recommendations=recommendations))
    if bad:
        raise ApplicationError.from_reasons(bad)
    bad_codes = failing(report_rules.diagnosis_code_checks(diagnoses))
    if bad_codes:
        error = ApplicationError.from_reasons(bad_codes)
        error.code = report_rules.ICD10_ERROR_CODE
        error.extra["field"] = "diagnoses"
        raise error
    return report_rules.canonical_structure(sections=sections, texts=texts, diagnoses=diagnoses, recommendations=recommendations)


def opinion_sign(
    *, actor, consultation: Consultation, content: str = "", corrects: Opinion | None = None, correction_reason: str = "",
    recommends_transfer: bool = False, transfer_reason: str = "", structure: dict | None = None,
) -> Opinion:
    """An assigned expert signs the opinion or report; a correction is a new version (JL-C6).

    JL-C10: the expert may recommend transfer, with a short reason; it is signed with the content.

    JL-C11: instead of free text, ``structure`` — ``{"sections": {key: text}, "diagnoses": [{"code",
    "text"}], "recommendations": text}`` in the sections of the service type's template; its
    canonical form is stored, its plain text becomes ``content``, and both are signed.

    The JL-P checks run as of this moment (the expert may have lost a qualification since being
    assigned) before the signing transaction, so a refusal is on record.
    """
    physician = getattr(actor, "physician", None)
    if physician is None or not Participant.objects.filter(consultation=consultation, physician=physician, side=Side.INVITED).exists():
        raise deny(_("JL-C6: 只有被指定的受邀方专家本人可以签发意见或报告。"))
    action = "sign" if corrects is None else "correct"
    consultation = Consultation.objects.select_related("service_type", "invited").get(pk=consultation.pk)
    require_transition(actor, consultation, action)
    canonical = _structured(consultation, structure, content) if structure is not None else {}
    if canonical:
        content = report_rules.structure_text(canonical)
    if not content.strip():
        raise ApplicationError("JL-C6", _("JL-C6: 意见或报告内容不能为空。"))
    if corrects is not None:
        if corrects.consultation_id != consultation.pk or hasattr(corrects, "superseded_by"):
            raise ApplicationError("JL-C6", _("JL-C6: 只能更正本申请的最新版本。"))
        if not correction_reason.strip():
            raise ApplicationError("JL-C6", _("JL-C6: 更正须写明理由。"))
    transfer_reason = transfer_reason.strip() if recommends_transfer else ""
    if recommends_transfer and not transfer_reason:
        raise ApplicationError("JL-C10", _("JL-C10 第九条: 建议转诊须简要写明理由。"), {"field": "transfer_reason"})
    if len(transfer_reason) > TRANSFER_REASON_MAX:
        raise ApplicationError(
            "JL-C10", _("JL-C10: 建议转诊理由请控制在 %(n)d 字以内。") % {"n": TRANSFER_REASON_MAX}, {"field": "transfer_reason"}
        )
    physician_require_qualified(
        actor=actor, physician=physician, facility=consultation.invited, acting_role=ActingRole.EXPERT,
        scope=expert_scopes(consultation), act="sign", object_type="consultations.consultation", object_id=consultation.pk,
    )
    with service_transaction():
        consultation = Consultation.objects.select_for_update().select_related("service_type").get(pk=consultation.pk)
        edge = require_transition(actor, consultation, action)
        latest = consultation.opinions.order_by("-version").first()
        if corrects is not None and (latest is None or latest.pk != corrects.pk):
            raise ApplicationError("JL-C6", _("JL-C6: 只能更正本申请的最新版本。"))
        if corrects is None and latest is not None:
            raise ApplicationError("JL-C6", _("JL-C6: 已签发，修改请签发更正版本。"))
        now = timezone.now()
        version = (latest.version + 1) if latest else 1
        kind = OpinionKind.REPORT if consultation.service_type.category == ServiceCategory.DIAGNOSIS else OpinionKind.OPINION
        opinion = Opinion.objects.create(
            consultation=consultation,
            kind=kind,
            version=version,
            content=content.strip(),
            signed_by=physician,
            signed_by_user=actor,
            signed_at=now,
            content_sha256=signed_content_hash(
                consultation_number=consultation.number, version=version, kind=kind, content=content.strip(),
                physician_id=physician.pk, signed_at=now, recommends_transfer=recommends_transfer,
                transfer_reason=transfer_reason, structure=canonical or None,
            ),
            supersedes=corrects,
            correction_reason=correction_reason.strip(),
            recommends_transfer=recommends_transfer,
            transfer_reason=transfer_reason,
            structure=canonical,
        )
        move(consultation, edge, signed_at=consultation.signed_at or now)
        responsibility_record(actor=actor, consultation=consultation, occasion="signed" if corrects is None else "corrected")
        audit_event_append(
            actor=actor,
            event_type=EventType.OPINION_SIGN if corrects is None else EventType.OPINION_CORRECT,
            obj=opinion,
            acting_facility_id=consultation.invited_id,
            facility_ids=[consultation.inviting_id, consultation.invited_id],
            details={"consultation": consultation.number, "version": version, "sha256": opinion.content_sha256,
                     "supersedes": corrects.pk if corrects else None, "reason": correction_reason.strip(),
                     "recommends_transfer": recommends_transfer, "transfer_reason": transfer_reason,
                     "structured": bool(canonical), "diagnoses": [d["code"] for d in canonical.get("diagnoses", [])]},
        )
        notify(
            facility_id=consultation.inviting_id, roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN),
            message_key="opinion.signed", params={"n": consultation.number, "k": opinion.kind, "v": version},
            link=reverse("consultations:detail", args=[consultation.pk]),
            dedupe_key=f"opinion:{opinion.pk}",
        )
    return opinion


@service_transaction()
def rating_record(*, actor, consultation: Consultation, rater_kind: str, score: int, comment: str = "") -> Rating:
    """JL-O5: after closing, the inviting physician's and the patient's satisfaction (1–5)."""
    consultation = Consultation.objects.select_for_update().get(pk=consultation.pk)
    require_not_sealed(consultation, actor=actor, act="rate")
    scope = Scope.of(actor)
    if not scope.has_role(consultation.inviting_id, StaffRole.CLINICIAN, StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM):
        raise deny(_("JL-O5: 满意度由邀请方医师记录（患者评价由邀请方代为录入）。"))
    if consultation.state != ConsultationState.CLOSED:
        raise ApplicationError("JL-O5", _("JL-O5 第四十六条第三项: 服务结束后才能评价。"))
    bad = failing([rules.rating_check(score)])
    if bad:
        raise ApplicationError.from_reasons(bad)
    if rater_kind not in RaterKind.values:
        raise ApplicationError("invalid", _("评价人类别无效。"))
    if Rating.objects.filter(consultation=consultation, rater_kind=rater_kind).exists():
        raise ApplicationError("duplicate", _("该评价人已评价过本次服务。"))
    rating = Rating.objects.create(
        consultation=consultation, rater_kind=rater_kind, score=score, comment=comment.strip(), recorded_by=actor, recorded_at=timezone.now()
    )
    audit_event_append(
        actor=actor, event_type=EventType.CONSULTATION_RATE, obj=rating, acting_facility_id=consultation.inviting_id,
        facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, "rater_kind": rater_kind, "score": score},
    )
    return rating
