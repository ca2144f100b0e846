"""Facilities and physicians as FHIR R4 resources (issue 14): pure mappings, rows in, dicts out.

- ``Organization`` (id = the facility's id): licence, level and grade (JL-F2), kind, division
  (GB/T 2260), accreditation (JL-F1) and suspension (JL-F5: ``active`` is false while suspended).
- ``Practitioner`` (id = the physician's id): qualification and practising certificate (JL-P1), title
  (GB/T 8561, JL-P4), platform registration (JL-P3).
- ``PractitionerRole`` (id = the practice registration's id): the physician at one facility (JL-P2),
  verification (JL-P3) and telemedicine authorisation (JL-P6), and the scopes of practice (JL-P5).

``meta.lastUpdated`` is the row's ``updated_at`` (``telemed.changes``): every change to the row moves it,
and so do what the resource shows from elsewhere — a suspension reported or lifted (Organization
``active``), a physician's scopes or a facility's name (PractitionerRole); ``_lastUpdated`` searches it
(docs/fhir.md).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from telemed.fhir.search import NAMESPACE, compact, instant

from .choices import PracticeScope

LICENCE_SYSTEM = f"{NAMESPACE}/NamingSystem/practising-licence"
DIVISION_SYSTEM = f"{NAMESPACE}/NamingSystem/division"  # GB/T 2260 (as audit/fhir.py)
FACILITY_KIND_SYSTEM = f"{NAMESPACE}/CodeSystem/facility-kind"
LEVEL_SYSTEM = f"{NAMESPACE}/CodeSystem/facility-level"
GRADE_SYSTEM = f"{NAMESPACE}/CodeSystem/facility-grade"
ACCREDITATION_EXTENSION = f"{NAMESPACE}/StructureDefinition/facility-accreditation"
QUALIFICATION_SYSTEM = f"{NAMESPACE}/NamingSystem/physician-qualification"
CERTIFICATE_SYSTEM = f"{NAMESPACE}/NamingSystem/practising-certificate"
QUALIFICATION_KIND_SYSTEM = f"{NAMESPACE}/CodeSystem/qualification-kind"
TITLE_SYSTEM = f"{NAMESPACE}/CodeSystem/gbt-8561"
SCOPE_SYSTEM = f"{NAMESPACE}/CodeSystem/practice-scope"  # as consultations/fhir.py
ROLE_SYSTEM = f"{NAMESPACE}/CodeSystem/registration"
REGISTRATION_EXTENSION = f"{NAMESPACE}/StructureDefinition/practice-registration"
PLATFORM_EXTENSION = f"{NAMESPACE}/StructureDefinition/platform-registration"


def _coding(system: str, code, display: str = "") -> dict:
    return {"system": system, "code": str(code), **({"display": str(display)} if display else {})}


def organization(facility, *, suspended: bool) -> dict:
    f = facility
    accreditation = [
        {"url": "status", "valueCoding": _coding(f"{NAMESPACE}/CodeSystem/accreditation-status", f.accreditation_status,
                                                  f.get_accreditation_status_display())},
        {"url": "level", "valueCoding": _coding(LEVEL_SYSTEM, f.level, f.get_level_display())},
        {"url": "grade", "valueCoding": _coding(GRADE_SYSTEM, f.grade, f.get_grade_display())},
        {"url": "licenceExpiresOn", "valueDate": f.licence_expires_on.isoformat()},
        {"url": "suspended", "valueBoolean": suspended},
    ]
    if f.accredited_on:
        accreditation.append({"url": "accreditedOn", "valueDate": f.accredited_on.isoformat()})
    return compact({
        "resourceType": "Organization",
        "id": str(f.pk),
        "meta": {"lastUpdated": instant(f.updated_at)},
        "extension": [{"url": ACCREDITATION_EXTENSION, "extension": accreditation}],
        "identifier": [{"system": LICENCE_SYSTEM, "value": f.licence_number}],
        "active": not suspended,
        "type": [
            {"coding": [_coding(FACILITY_KIND_SYSTEM, f.kind, f.get_kind_display())]},
            {"coding": [_coding(LEVEL_SYSTEM, f.level, f.get_level_display())]},
        ],
        "name": f.name,
        "telecom": [{"system": "phone", "value": f.phone, "use": "work"}] if f.phone else [],
        "address": [{
            "text": f.address,
            "district": f.division.name,
            "extension": [{"url": f"{NAMESPACE}/StructureDefinition/division", "valueCoding": _coding(DIVISION_SYSTEM, f.division_id, f.division.name)}],
        }],
    })


def practitioner(physician) -> dict:
    p = physician
    extensions = []
    if p.platform_registered_at:
        extensions.append({"url": PLATFORM_EXTENSION, "valueDateTime": instant(p.platform_registered_at)})
    return compact({
        "resourceType": "Practitioner",
        "id": str(p.pk),
        "meta": {"lastUpdated": instant(p.updated_at)},
        "extension": extensions,
        "identifier": [
            {"system": QUALIFICATION_SYSTEM, "value": p.qualification_number},
            {"system": CERTIFICATE_SYSTEM, "value": p.certificate_number},
        ],
        "active": not p.certificate_revoked,
        "name": [{"text": p.name}],
        "qualification": [
            {"identifier": [{"system": QUALIFICATION_SYSTEM, "value": p.qualification_number}],
             "code": {"coding": [_coding(QUALIFICATION_KIND_SYSTEM, "qualification", _("医师资格"))]},
             "period": {"start": p.qualification_obtained_on.isoformat()}},
            {"identifier": [{"system": CERTIFICATE_SYSTEM, "value": p.certificate_number}],
             "code": {"coding": [_coding(QUALIFICATION_KIND_SYSTEM, "practising-certificate", _("医师执业证书"))],
                      "text": _("已注销或吊销") if p.certificate_revoked else ""},
             "period": {"end": p.certificate_valid_until.isoformat() if p.certificate_valid_until else None}},
            {"code": {"coding": [_coding(TITLE_SYSTEM, p.title, p.get_title_display())], "text": p.get_title_display()}},
        ],
    })


def _scope_label(code: str) -> str:
    try:
        return PracticeScope(code).label
    except ValueError:
        return code


def practitioner_role(registration) -> dict:
    r = registration
    details = [{"url": "primary", "valueBoolean": r.is_primary}]
    for name, value in (("verifiedAt", r.verified_at), ("authorisedAt", r.authorised_at), ("authorisationRevokedAt", r.authorisation_revoked_at)):
        if value:
            details.append({"url": name, "valueDateTime": instant(value)})
    authorised = bool(r.authorised_at) and not r.authorisation_revoked_at
    return compact({
        "resourceType": "PractitionerRole",
        "id": str(r.pk),
        "meta": {"lastUpdated": instant(r.updated_at)},
        "extension": [{"url": REGISTRATION_EXTENSION, "extension": details}],
        "active": authorised,
        "period": {"start": r.registered_on.isoformat(), "end": r.valid_until.isoformat() if r.valid_until else None},
        "practitioner": {"reference": f"Practitioner/{r.physician_id}", "display": r.physician.name},
        "organization": {"reference": f"Organization/{r.facility_id}", "display": r.facility.name},
        "code": [{"coding": [_coding(ROLE_SYSTEM, "primary" if r.is_primary else "additional",
                                     _("第一执业地点") if r.is_primary else _("多点执业地点"))]}],
        "specialty": [{"coding": [_coding(SCOPE_SYSTEM, code, _scope_label(code))]} for code in (r.physician.scopes or [])],
    })
