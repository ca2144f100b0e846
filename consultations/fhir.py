"""Consultations as FHIR R4 resources (issue 14): pure mappings, rows in, JSON-ready dicts out.

No query here: the views (``consultations/api/fhir.py``) pass rows already joined. The tables of
docs/fhir.md are the contract; this module is their code.

- ``ServiceRequest`` (id = the consultation's id): the invitation (JL-C4).
- ``Task`` (id = the consultation's id): its workflow state — ``TASK_STATUS`` maps each state of
  ``ConsultationState`` to ``Task.status``; the state itself is ``businessStatus``.
- ``DiagnosticReport`` (id = the consultation's id): the signed opinion or report; each signed
  version (JL-C6) is a FHIR version (``meta.versionId`` = its version, read at ``_history/<v>``).
- ``DocumentReference`` (id = the document's id): uploaded material (JL-C5); the SHA-256 goes in
  the ``attachment-sha256`` extension, because FHIR's ``Attachment.hash`` is a base64 SHA-1.
- ``Patient``: masked identity and phone numbers (JL-C9) unless ``revealed``.
- ``Consent`` (id = the consent's id): JL-C3, the informed consent and the separate consent to share
  sensitive personal information (PIPL art. 29) as a nested provision.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from telemed.fhir.search import NAMESPACE, compact, instant

from .choices import ConsultationState as S
from .rules import mask_number

REQUEST_SYSTEM = f"{NAMESPACE}/NamingSystem/request-number"
SERVICE_TYPE_SYSTEM = f"{NAMESPACE}/CodeSystem/service-type"
SERVICE_CATEGORY_SYSTEM = f"{NAMESPACE}/CodeSystem/service-category"
STATE_SYSTEM = f"{NAMESPACE}/CodeSystem/consultation-state"
SCOPE_SYSTEM = f"{NAMESPACE}/CodeSystem/practice-scope"
OPINION_KIND_SYSTEM = f"{NAMESPACE}/CodeSystem/opinion-kind"
DOCUMENT_KIND_SYSTEM = f"{NAMESPACE}/CodeSystem/document-kind"
ICD10_SYSTEM = f"{NAMESPACE}/CodeSystem/icd-10-gbt-14396"  # GB/T 14396 and its national clinical extensions
ID_NUMBER_SYSTEM = f"{NAMESPACE}/NamingSystem/resident-id"
CONSENT_SYSTEM = f"{NAMESPACE}/CodeSystem/consent"
RULE_SYSTEM = f"{NAMESPACE}/CodeSystem/rule"  # the rulebook's IDs (docs/rules.md)
SHA256_EXTENSION = f"{NAMESPACE}/StructureDefinition/attachment-sha256"
SIGNATURE_EXTENSION = f"{NAMESPACE}/StructureDefinition/signed-opinion"
RETURN_EXTENSION = f"{NAMESPACE}/StructureDefinition/document-return"
RELATION_EXTENSION = f"{NAMESPACE}/StructureDefinition/consent-signer"
MASKED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "MASKED", "display": "masked"}


def mrn_system(facility_id: int) -> str:
    return f"{NAMESPACE}/NamingSystem/facility/{facility_id}/medical-record-number"


def external_system(facility_id: int) -> str:
    return f"{NAMESPACE}/NamingSystem/facility/{facility_id}/patient"


# --- Task.status: the portal's states in FHIR's task state machine -----------------------------

TASK_STATUS: dict[str, str] = {
    S.DRAFT: "draft",  # not yet sent: the inviting facility is still writing it
    S.SENT: "requested",  # sent, awaiting the invited facility's answer (JL-C4)
    S.ACCEPTED: "accepted",
    S.DECLINED: "rejected",  # with the reason (JL-C4) as statusReason
    S.RETURNED: "on-hold",  # material returned for completion (JL-C5), waits for the inviting side
    S.SCHEDULED: "ready",  # a time and room are set; nothing performed yet
    S.IN_SESSION: "in-progress",
    S.SIGNED: "completed",  # the opinion or report is signed (JL-C6): the requested work is done
    S.CLOSED: "completed",
    S.CANCELLED: "cancelled",
}
SERVICE_REQUEST_STATUS: dict[str, str] = {
    S.DRAFT: "draft", S.SENT: "active", S.ACCEPTED: "active", S.RETURNED: "on-hold", S.SCHEDULED: "active",
    S.IN_SESSION: "active", S.SIGNED: "completed", S.CLOSED: "completed", S.DECLINED: "revoked", S.CANCELLED: "revoked",
}
PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
GENDER = {"1": "male", "2": "female", "0": "unknown"}


def states_for_task_status(status: str) -> list[str]:
    """``Task?status=``: the portal's states behind one FHIR status."""
    return [state for state, fhir_status in TASK_STATUS.items() if fhir_status == status]


def states_for_request_status(status: str) -> list[str]:
    return [state for state, fhir_status in SERVICE_REQUEST_STATUS.items() if fhir_status == status]


def _ref(resource_type: str, pk, display: str = "") -> dict:
    return {"reference": f"{resource_type}/{pk}", **({"display": display} if display else {})}


def _coding(system: str, code, display: str = "") -> dict:
    return {"system": system, "code": str(code), **({"display": str(display)} if display else {})}


def _meta(last_updated, version=None) -> dict:
    return {"lastUpdated": instant(last_updated), **({"versionId": str(version)} if version is not None else {})}


def _service(consultation) -> dict:
    service = consultation.service_type
    return {"coding": [_coding(SERVICE_TYPE_SYSTEM, service.code, service.name)], "text": service.name}


# --- ServiceRequest ------------------------------------------------------------------------------


def service_request(consultation) -> dict:
    """JL-C4: the invitation — reason, purpose, time wanted, summary, speciality and title wanted."""
    c = consultation
    occurrence = c.scheduled_for or c.requested_time
    return compact({
        "resourceType": "ServiceRequest",
        "id": str(c.pk),
        "meta": _meta(c.updated_at),
        "identifier": [{"system": REQUEST_SYSTEM, "value": c.number}],
        "status": SERVICE_REQUEST_STATUS[c.state],
        "intent": "order",
        "category": [{"coding": [_coding(SERVICE_CATEGORY_SYSTEM, c.service_type.category, c.service_type.get_category_display())]}],
        "priority": PRIORITY.get(c.urgency, "routine"),
        "code": _service(c),
        "subject": _ref("Patient", c.patient_id, c.patient.name),
        "occurrenceDateTime": instant(occurrence),
        "authoredOn": instant(c.sent_at or c.created_at),
        "requester": _ref("Organization", c.inviting_id, c.inviting.name),
        "performerType": {"coding": [_coding(SCOPE_SYSTEM, c.wanted_scope, c.get_wanted_scope_display())],
                          "text": _("%(scope)s（%(title)s及以上）") % {"scope": c.get_wanted_scope_display(), "title": c.get_wanted_title_display()}},
        "performer": [_ref("Organization", c.invited_id, c.invited.name)],
        "reasonCode": [{"text": c.reason}],
        "note": [{"text": _("会诊目的：%(text)s") % {"text": c.purpose}}, {"text": _("病例摘要：%(text)s") % {"text": c.case_summary}}],
    })


# --- Task ----------------------------------------------------------------------------------------


def task(consultation) -> dict:
    c = consultation
    reason = {S.DECLINED: c.decline_reason, S.RETURNED: c.return_reason, S.CANCELLED: c.cancel_reason}.get(c.state, "")
    return compact({
        "resourceType": "Task",
        "id": str(c.pk),
        "meta": _meta(c.updated_at),
        "identifier": [{"system": REQUEST_SYSTEM, "value": c.number}],
        "basedOn": [_ref("ServiceRequest", c.pk)],
        "status": TASK_STATUS[c.state],
        "statusReason": {"text": reason} if reason else None,
        "businessStatus": {"coding": [_coding(STATE_SYSTEM, c.state, c.get_state_display())], "text": c.get_state_display()},
        "intent": "order",
        "priority": PRIORITY.get(c.urgency, "routine"),
        "code": _service(c),
        "focus": _ref("ServiceRequest", c.pk, c.number),
        "for": _ref("Patient", c.patient_id, c.patient.name),
        "executionPeriod": {"start": instant(c.session_started_at or c.accepted_at), "end": instant(c.closed_at or c.signed_at)},
        "authoredOn": instant(c.created_at),
        "lastModified": instant(c.updated_at),
        "requester": _ref("Organization", c.inviting_id, c.inviting.name),
        "owner": _ref("Organization", c.invited_id, c.invited.name),
    })


# --- DiagnosticReport ----------------------------------------------------------------------------


def diagnostic_report(opinion, consultation) -> dict:
    """One signed version of a consultation's opinion or report (JL-C6, JL-C11)."""
    o, c = opinion, consultation
    structure = o.structure or {}
    diagnoses = [d for d in structure.get("diagnoses", []) if isinstance(d, dict) and d.get("code")]
    signature = [
        {"url": "contentSha256", "valueString": o.content_sha256},
        {"url": "version", "valueInteger": o.version},
    ]
    if o.supersedes_id:
        signature.append({"url": "correctionReason", "valueString": o.correction_reason or "—"})
    if o.recommends_transfer:
        signature.append({"url": "recommendsTransfer", "valueBoolean": True})
        if o.transfer_reason:
            signature.append({"url": "transferReason", "valueString": o.transfer_reason})
    return compact({
        "resourceType": "DiagnosticReport",
        "id": str(c.pk),
        "meta": _meta(o.signed_at, o.version),
        "extension": [{"url": SIGNATURE_EXTENSION, "extension": signature}],
        "identifier": [{"system": REQUEST_SYSTEM, "value": f"{c.number}-v{o.version}"}],
        "basedOn": [_ref("ServiceRequest", c.pk, c.number)],
        "status": "final" if o.version == 1 else "corrected",
        "category": [{"coding": [_coding(OPINION_KIND_SYSTEM, o.kind, o.get_kind_display())]}],
        "code": _service(c),
        "subject": _ref("Patient", c.patient_id, c.patient.name),
        "issued": instant(o.signed_at),
        "performer": [_ref("Practitioner", o.signed_by_id, o.signed_by.name), _ref("Organization", c.invited_id, c.invited.name)],
        "resultsInterpreter": [_ref("Practitioner", o.signed_by_id, o.signed_by.name)],
        "conclusion": o.content,
        "conclusionCode": [{"coding": [_coding(ICD10_SYSTEM, d["code"], d.get("text", ""))], "text": d.get("text", "")} for d in diagnoses],
    })


# --- DocumentReference ---------------------------------------------------------------------------


def document_reference(document, consultation, *, download_url: str) -> dict:
    """JL-C5: the file's SHA-256 (hex, as stored and shown) in ``attachment-sha256``; a document the
    invited side returned keeps ``status`` current and carries the return in ``document-return``."""
    d, c = document, consultation
    extensions = []
    if d.returned_at:
        extensions.append({"url": RETURN_EXTENSION, "extension": [
            {"url": "returnedAt", "valueDateTime": instant(d.returned_at)},
            {"url": "reason", "valueString": d.return_reason or "—"},
        ]})
    return compact({
        "resourceType": "DocumentReference",
        "id": str(d.pk),
        "meta": _meta(d.returned_at or d.uploaded_at),
        "extension": extensions,
        "status": "current",
        "type": {"coding": [_coding(DOCUMENT_KIND_SYSTEM, d.kind, d.get_kind_display())]},
        "subject": _ref("Patient", c.patient_id, c.patient.name),
        "date": instant(d.uploaded_at),
        "author": [_ref("Organization", c.inviting_id, c.inviting.name)],
        "description": d.title,
        "content": [{"attachment": {
            "extension": [{"url": SHA256_EXTENSION, "valueString": d.sha256}],
            "contentType": d.content_type,
            "url": download_url,
            "size": d.size,
            "title": d.original_name,
            "creation": instant(d.uploaded_at),
        }}],
        "context": {"related": [_ref("ServiceRequest", c.pk, c.number)]},
    })


# --- Patient -------------------------------------------------------------------------------------


def patient(p, *, revealed: bool) -> dict:
    """JL-C9: identity and phone numbers masked (``meta.security`` MASKED) unless ``revealed`` —
    only for the patient's own hospital's clinicians and coordinators, and logged as a reveal."""
    number = (lambda v: v) if revealed else mask_number
    identifiers = []
    if p.id_number:
        identifiers.append({"system": ID_NUMBER_SYSTEM, "value": number(p.id_number)})
    if p.medical_record_number:
        identifiers.append({"system": mrn_system(p.facility_id), "value": p.medical_record_number})
    if p.external_id:
        identifiers.append({"system": external_system(p.facility_id), "value": p.external_id})
    return compact({
        "resourceType": "Patient",
        "id": str(p.pk),
        "meta": {"lastUpdated": instant(p.created_at), "security": [] if revealed else [MASKED]},
        "identifier": identifiers,
        "name": [{"text": p.name}],
        "telecom": [{"system": "phone", "value": number(p.phone)}] if p.phone else [],
        "gender": GENDER.get(p.sex, "unknown"),
        "birthDate": p.birth_date.isoformat(),
        "managingOrganization": _ref("Organization", p.facility_id, p.facility.name),
    })


# --- Consent -------------------------------------------------------------------------------------


def consent(record, consultation, *, resource_id: int | None = None) -> dict:
    """JL-C3 (art. 20, 21, 23): who signed, their relation, when, the signed copy or e-signature; the
    separate consent to share sensitive personal information as a nested provision (permit/deny).
    ``record`` is the ``Consent`` or one of its superseded ``ConsentVersion`` rows (same fields);
    the resource's id is always the ``Consent``'s (``resource_id``)."""
    r, c = record, consultation
    signer = [{"url": "name", "valueString": r.signer_name},
              {"url": "relation", "valueCoding": _coding(f"{CONSENT_SYSTEM}-relation", r.relation, r.get_relation_display())}]
    if r.e_signature_reference:
        signer.append({"url": "eSignature", "valueString": r.e_signature_reference})
    sensitive = {
        "type": "permit" if r.sensitive_info_consent else "deny",
        "code": [{"coding": [_coding(CONSENT_SYSTEM, "sensitive-personal-information", _("敏感个人信息（个人信息保护法第二十九条）"))]}],
        "period": {"start": instant(r.sensitive_info_consented_at)} if r.sensitive_info_consent and r.sensitive_info_consented_at else None,
    }
    return compact({
        "resourceType": "Consent",
        "id": str(resource_id or r.pk),
        "meta": _meta(r.recorded_at or r.signed_at, r.version),
        "extension": [{"url": RELATION_EXTENSION, "extension": signer}],
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [_coding(CONSENT_SYSTEM, "telemedicine-informed-consent", _("远程医疗知情同意书"))]}],
        "patient": _ref("Patient", c.patient_id, c.patient.name),
        "dateTime": instant(r.signed_at),
        "performer": [{"display": _("%(name)s（%(relation)s）") % {"name": r.signer_name, "relation": r.get_relation_display()}}],
        "organization": [_ref("Organization", c.inviting_id, c.inviting.name)],
        "sourceAttachment": {
            "title": _("知情同意书签署件"),
            "extension": [{"url": SHA256_EXTENSION, "valueString": r.signed_copy_sha256}],
        } if r.signed_copy_sha256 else None,
        "policyRule": {"coding": [_coding(RULE_SYSTEM, "JL-C3", _("JL-C3 第二十条、第二十一条、第二十三条"))]},
        "provision": {
            "type": "permit",
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
                       "reference": _ref("Organization", c.invited_id, c.invited.name)}],
            "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "disclose"}]}],
            "data": [{"meaning": "related", "reference": _ref("ServiceRequest", c.pk, c.number)}],
            "provision": [sensitive],
        },
    })
