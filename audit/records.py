"""Services over medical records under the law (JL-C8, JL-C9, art. 35 "管控和追溯合一").

- ``record_access``: every view, download, export and reveal of patient data is an audit event
  (调阅) naming the viewer, their facility or division, the purpose and the object.
- ``seal_create`` / ``seal_release``: freeze a consultation for a dispute with both parties
  recorded and a hashed snapshot; ``seal_verify`` compares the snapshot with the live record.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from facilities.choices import StaffRole
from telemed.errors import ApplicationError
from telemed.scope import Scope

from . import rules
from .choices import EventType
from .models import Seal
from .services import audit_event_append, audit_refusal

ACCESS_EVENTS = {
    "view": EventType.RECORD_VIEW,
    "list": EventType.RECORD_LIST,
    "download": EventType.RECORD_DOWNLOAD,
    "export": EventType.RECORD_EXPORT,
    "reveal": EventType.RECORD_REVEAL,
}
ACCESS_ACTIONS = tuple(ACCESS_EVENTS)


def _acting(scope: Scope, facility_ids) -> tuple[int | None, str]:
    for facility_id in facility_ids:
        if facility_id in scope.facility_roles:
            return facility_id, ""
    return None, (scope.regulated[0][0] if scope.regulated else "")


def record_access(*, actor, action: str, consultation=None, patient=None, purpose: str = "", object_type: str = "",
                  object_id="", details: dict | None = None, sealed: bool | None = None):
    """Log one access (调阅) to patient data. Call it from every view and API read that returns it.
    ``sealed``: whether the case is sealed, when the caller has just read its open seal (the case
    page); otherwise it is read here."""
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"unknown access action {action!r}")
    scope = Scope.of(actor)
    facility_ids = [consultation.inviting_id, consultation.invited_id] if consultation is not None else (
        [patient.facility_id] if patient is not None else []
    )
    acting_facility_id, acting_division = _acting(scope, facility_ids)
    if consultation is None:
        sealed = False
    elif sealed is None:
        sealed = is_sealed(consultation.pk)
    data = {
        "purpose": purpose.strip(),
        "patient_id": (consultation.patient_id if consultation is not None else getattr(patient, "pk", None)),
        "consultation": getattr(consultation, "number", None),
        "sealed": sealed,
        **(details or {}),
    }
    # Its own transaction when none is open (audit_event_append; issue 11: a lone INSERT when it writes nothing else).
    return audit_event_append(
        actor=actor,
        event_type=ACCESS_EVENTS[action],
        obj=None if object_type else (consultation or patient),
        object_type=object_type,
        object_id=object_id,
        acting_facility_id=acting_facility_id,
        acting_division_code=acting_division,
        facility_ids=facility_ids,
        details=data,
    )


def require_access_purpose(*, actor, consultation, purpose: str, action: str = "view") -> str:
    """JL-C8 (art. 37): a sealed record is read only for a stated purpose. A read without one is
    refused (400 ``JL-C8``) and the refusal is on record (``record.access.refuse``, JL-A1)."""
    purpose = (purpose or "").strip()
    if purpose or not is_sealed(consultation.pk):
        return purpose
    error = ApplicationError(
        "JL-C8", _("JL-C8 第三十七条: 该病历已封存，调阅须在 purpose 参数中写明目的。"), {"needs": "purpose"}
    )
    scope = Scope.of(actor)
    facility_ids = [consultation.inviting_id, consultation.invited_id]
    acting_facility_id, acting_division = _acting(scope, facility_ids)
    raise audit_refusal(
        error, actor=actor, event_type=EventType.RECORD_ACCESS_REFUSE, obj=consultation, acting_facility_id=acting_facility_id,
        acting_division_code=acting_division, facility_ids=facility_ids,
        details={"consultation": consultation.number, "patient_id": consultation.patient_id, "action": action},
    )


def record_list_access(*, actor, what: str, rows: list, filters: dict | None = None):
    """Log a list or search result that shows patient data: which records appeared on the page."""
    scope = Scope.of(actor)
    facility_ids = sorted({fid for row in rows for name in _ROW_FACILITY_FIELDS if (fid := getattr(row, name, None))})
    acting_facility_id, acting_division = _acting(scope, facility_ids or scope.facility_ids)
    # Its own transaction when none is open (audit_event_append; issue 11: a lone INSERT when it writes nothing else).
    return audit_event_append(
        actor=actor,
        event_type=EventType.RECORD_LIST,
        object_type=what,
        acting_facility_id=acting_facility_id,
        acting_division_code=acting_division,
        facility_ids=facility_ids,
        details={
            "count": len(rows),
            "object_ids": [row.pk for row in rows],
            "patient_ids": sorted({pid for pid in (_row_patient(row) for row in rows) if pid}),
            "filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")},
        },
    )


# The attributes of a listed row that name a facility (a model instance or a row object, JL-C8).
_ROW_FACILITY_FIELDS = ("inviting_id", "invited_id", "facility_id", "sending_id", "receiving_id")


def _row_patient(row):
    if hasattr(row, "patient_id"):
        return row.patient_id
    if row._meta.label_lower == "consultations.patient":
        return row.pk
    return None


# --- Sealing (JL-C8) ------------------------------------------------------------------------------


def is_sealed(consultation_id: int) -> bool:
    return Seal.objects.filter(consultation_id=consultation_id, unsealed_at__isnull=True).exists()


def open_seal(consultation_id: int) -> Seal | None:
    return Seal.objects.filter(consultation_id=consultation_id, unsealed_at__isnull=True).first()


def consultation_snapshot(consultation) -> dict:
    """The record as it stands: request, patient, consent, participants, documents (by hash),
    opinions (by signed hash), responsibility records. Timestamps in UTC ISO form."""
    from consultations.models import Consultation

    c = (
        Consultation.objects.select_related("patient", "service_type")
        .prefetch_related("participants", "documents", "opinions", "responsibilities")
        .get(pk=consultation.pk)
    )
    consent = getattr(c, "consent", None) if hasattr(c, "consent") else None
    return {
        "consultation": {
            "number": c.number, "state": c.state, "inviting": c.inviting_id, "invited": c.invited_id,
            "service_type": c.service_type_id, "modality": c.modality, "reason": c.reason, "purpose": c.purpose,
            "case_summary": c.case_summary, "wanted_scope": c.wanted_scope, "wanted_title": c.wanted_title,
            "sent_at": c.sent_at, "accepted_at": c.accepted_at, "signed_at": c.signed_at, "closed_at": c.closed_at,
        },
        "patient": {
            "id": c.patient_id, "name": c.patient.name, "sex": c.patient.sex, "birth_date": c.patient.birth_date,
            "id_number": c.patient.id_number, "medical_record_number": c.patient.medical_record_number,
        },
        "consent": None if consent is None else {
            "signer": consent.signer_name, "relation": consent.relation, "signed_at": consent.signed_at,
            "sha256": consent.signed_copy_sha256, "e_signature": consent.e_signature_reference,
            "sensitive_info_consent": consent.sensitive_info_consent,
        },
        "participants": sorted([p.physician_id, p.side] for p in c.participants.all()),
        "documents": sorted([d.pk, d.kind, d.sha256, d.size, d.returned_at is not None] for d in c.documents.all()),
        "opinions": sorted([o.version, o.content_sha256, o.supersedes_id] for o in c.opinions.all()),
        "responsibilities": sorted([r.pk, r.article, r.occasion] for r in c.responsibilities.all()),
    }


def _require_seal_role(actor, consultation) -> Scope:
    scope = Scope.of(actor)
    coordinator = any(scope.has_role(f, StaffRole.COORDINATOR) for f in (consultation.inviting_id, consultation.invited_id))
    regulator = any(scope.regulates(code) for code in (consultation.inviting.division_id, consultation.invited.division_id))
    if not (coordinator or regulator):
        raise ApplicationError("permission_denied", _("JL-C8 第三十七条: 封存、启封由双方远程医疗管理人员或卫生健康行政部门办理。"), status=403)
    return scope


def _parties_check(*names_roles: str) -> None:
    if not all(v.strip() for v in names_roles):
        raise ApplicationError("JL-C8", _("JL-C8 第三十七条: 须记录双方在场人的姓名和身份。"))


@transaction.atomic
def seal_create(*, actor, consultation, reason: str, inviting_party_name: str, inviting_party_role: str,
                invited_party_name: str, invited_party_role: str) -> Seal:
    consultation = type(consultation).objects.select_related("inviting", "invited").select_for_update().get(pk=consultation.pk)
    scope = _require_seal_role(actor, consultation)
    if not reason.strip():
        raise ApplicationError("JL-C8", _("JL-C8 第三十二条: 请写明封存原因（医疗争议情况）。"))
    _parties_check(inviting_party_name, inviting_party_role, invited_party_name, invited_party_role)
    if is_sealed(consultation.pk):
        raise ApplicationError("JL-C8", _("JL-C8: 该病历已处于封存状态。"))
    snapshot = rules.json_normal(consultation_snapshot(consultation))
    seal = Seal.objects.create(
        consultation=consultation, reason=reason.strip(), sealed_at=timezone.now(), sealed_by=actor,
        inviting_party_name=inviting_party_name.strip(), inviting_party_role=inviting_party_role.strip(),
        invited_party_name=invited_party_name.strip(), invited_party_role=invited_party_role.strip(),
        snapshot=snapshot, snapshot_sha256=rules.snapshot_hash(snapshot),
    )
    acting_facility, acting_division = _acting(scope, [consultation.inviting_id, consultation.invited_id])
    audit_event_append(
        actor=actor, event_type=EventType.RECORD_SEAL, obj=seal, acting_facility_id=acting_facility, acting_division_code=acting_division,
        facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, "patient_id": consultation.patient_id, "reason": seal.reason,
                 "parties": [[seal.inviting_party_name, seal.inviting_party_role], [seal.invited_party_name, seal.invited_party_role]],
                 "snapshot_sha256": seal.snapshot_sha256},
    )
    return seal


@transaction.atomic
def seal_release(*, actor, seal: Seal, reason: str, inviting_party_name: str, inviting_party_role: str,
                 invited_party_name: str, invited_party_role: str) -> Seal:
    seal = Seal.objects.select_for_update().select_related("consultation__inviting", "consultation__invited").get(pk=seal.pk)
    consultation = seal.consultation
    scope = _require_seal_role(actor, consultation)
    if seal.unsealed_at is not None:
        raise ApplicationError("JL-C8", _("JL-C8: 该封存已启封。"))
    if not reason.strip():
        raise ApplicationError("JL-C8", _("JL-C8 第三十七条: 请写明启封原因。"))
    _parties_check(inviting_party_name, inviting_party_role, invited_party_name, invited_party_role)
    verified = seal_verify(seal)
    seal.unsealed_at = timezone.now()
    seal.unsealed_by = actor
    seal.unseal_reason = reason.strip()
    seal.unseal_inviting_party_name, seal.unseal_inviting_party_role = inviting_party_name.strip(), inviting_party_role.strip()
    seal.unseal_invited_party_name, seal.unseal_invited_party_role = invited_party_name.strip(), invited_party_role.strip()
    seal.save()
    acting_facility, acting_division = _acting(scope, [consultation.inviting_id, consultation.invited_id])
    audit_event_append(
        actor=actor, event_type=EventType.RECORD_UNSEAL, obj=seal, acting_facility_id=acting_facility, acting_division_code=acting_division,
        facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, "patient_id": consultation.patient_id, "reason": seal.unseal_reason,
                 "parties": [[seal.unseal_inviting_party_name, seal.unseal_inviting_party_role],
                             [seal.unseal_invited_party_name, seal.unseal_invited_party_role]],
                 "snapshot_intact": verified.intact, "differences": verified.differences},
    )
    return seal


class SealVerification:
    def __init__(self, intact: bool, differences: list[str], live_sha256: str):
        self.intact, self.differences, self.live_sha256 = intact, differences, live_sha256


def seal_verify(seal: Seal) -> SealVerification:
    """Does the live record still match the sealed snapshot (JL-C8)?"""
    live = rules.json_normal(consultation_snapshot(seal.consultation))
    live_hash = rules.snapshot_hash(live)
    intact = live_hash == seal.snapshot_sha256 and rules.snapshot_hash(seal.snapshot) == seal.snapshot_sha256
    return SealVerification(intact, [] if intact else rules.snapshot_differences(seal.snapshot, live), live_hash)
