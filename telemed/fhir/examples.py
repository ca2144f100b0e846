"""Examples of the FHIR facade's answers for the OpenAPI schema (issue 14).

Made by the facade's own mappings (``facilities.fhir``, ``consultations.fhir``, ``audit.fhir``: pure, rows
in, dicts out) from unsaved rows of one small case — 农安县人民医院 invites 吉林大学第一医院 to a remote
consultation for 张三 — so that an example is what the server would answer for such rows. A search
answers a Bundle ``searchset`` of one match (``telemed.fhir.search.searchset``).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BASE = "https://telemed.example.com/api/v1/fhir"
BEIJING = ZoneInfo("Asia/Shanghai")


def _at(hour: int, minute: int = 0, day: int = 7) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=BEIJING)


def _rows():
    from consultations.models import Consent, Consultation, Document, Opinion, Patient
    from facilities.models import Division, Facility, Physician, PracticeRegistration, ServiceType

    changchun = Division(code="220102", name="长春市南关区")
    nongan = Division(code="220122", name="农安县")
    inviting = Facility(pk=7, name="农安县人民医院", division=nongan, level=2, grade="A", kind="general",
                        licence_number="PDY00002X22012215A1001", licence_expires_on=dt.date(2030, 12, 31),
                        accreditation_status="approved", accredited_on=dt.date(2026, 3, 1),
                        address="吉林省长春市农安县黄龙路 1 号", phone="0431-83222222", updated_at=_at(8, day=1))
    invited = Facility(pk=12, name="吉林大学第一医院", division=changchun, level=3, grade="A", kind="general",
                       licence_number="PDY00001X22010215A1001", licence_expires_on=dt.date(2030, 12, 31),
                       accreditation_status="approved", accredited_on=dt.date(2026, 1, 15),
                       address="吉林省长春市朝阳区新民大街 71 号", phone="0431-88782222", updated_at=_at(8, day=1))
    expert = Physician(pk=56, name="王建国", qualification_number="202022110220102196501011234",
                       qualification_obtained_on=dt.date(1990, 7, 1), certificate_number="110220100012345",
                       certificate_valid_until=dt.date(2030, 12, 31), title=231, scopes=["internal"],
                       platform_registered_at=_at(9, day=1), updated_at=_at(10, 30, day=2))
    registration = PracticeRegistration(pk=88, physician=expert, facility=invited, is_primary=True,
                                        registered_on=dt.date(2020, 1, 1), verified_at=_at(10, day=2),
                                        authorised_at=_at(10, 30, day=2), updated_at=_at(10, 30, day=2))
    service = ServiceType(code="consultation", name="远程会诊", category="opinion")
    patient = Patient(pk=4411, facility=inviting, name="张三", sex="1", birth_date=dt.date(1960, 5, 1),
                      id_number="220122196005011234", phone="13812341234", medical_record_number="BA2026120701",
                      external_id="HIS-20261207-7781", created_at=_at(8, 15))
    case = Consultation(pk=305, number="YC-20261207-0042", state="accepted", service_type=service, patient=patient,
                        inviting=inviting, invited=invited, urgency="routine", reason="入院三天诊断不明",
                        purpose="明确诊断", case_summary="男，66 岁，发热 4 天，诊断不明。", wanted_scope="internal",
                        wanted_title=232, requested_time=_at(14, day=8), created_at=_at(8, 20), sent_at=_at(8, 40),
                        accepted_at=_at(9, 30), updated_at=_at(9, 30))
    consent = Consent(pk=301, consultation=case, version=1, signer_name="李四", relation="spouse",
                      signed_at=_at(8, 25), sensitive_info_consent=True, sensitive_info_consented_at=_at(8, 25),
                      signed_copy_sha256="5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
                      recorded_at=_at(8, 26))
    opinion = Opinion(pk=77, consultation=case, version=1, kind="opinion", signed_by=expert, signed_at=_at(16, 10),
                      content="考虑社区获得性肺炎，建议完善胸部 CT 及血培养。",
                      content_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                      structure={"diagnoses": [{"code": "J18.900", "text": "肺炎"}]})
    document = Document(pk=91, consultation=case, kind="medical_record", title="入院记录", original_name="入院记录.pdf",
                        content_type="application/pdf", size=184320, uploaded_at=_at(8, 30),
                        sha256="2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")
    return locals()


def _audit_event(rows) -> dict:
    from audit.choices import EventType
    from audit.fhir import audit_event_resource
    from audit.models import AuditEvent

    event = AuditEvent(pk=40213, event_type=EventType.CONSULTATION_SEND, outcome="success", occurred_at=_at(8, 40),
                       actor_id=1024, actor_label="协调员 刘洋", acting_facility_id=7, acting_division_code="220122",
                       object_type="consultations.consultation", object_id="305", details={"patient_id": 4411},
                       sequence=40213, facility_ids=[7, 12], prev_hash="0" * 64, hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    return audit_event_resource(event, facility_name="农安县人民医院", division_name="农安县", type_display="发送会诊申请")


TYPES = {name.lower(): name for name in (
    "Organization", "Practitioner", "PractitionerRole", "Patient", "ServiceRequest", "Task", "Consent",
    "DiagnosticReport", "DocumentReference", "AuditEvent")}


def resource(resource_type: str) -> dict:
    """One resource of ``resource_type`` as the facade answers it."""
    from consultations import fhir as cf
    from facilities import fhir as ff

    r = _rows()
    makers = {
        "Organization": lambda: ff.organization(r["invited"], suspended=False),
        "Practitioner": lambda: ff.practitioner(r["expert"]),
        "PractitionerRole": lambda: ff.practitioner_role(r["registration"]),
        "Patient": lambda: cf.patient(r["patient"], revealed=False),
        "ServiceRequest": lambda: cf.service_request(r["case"]),
        "Task": lambda: cf.task(r["case"]),
        "Consent": lambda: cf.consent(r["consent"], r["case"]),
        "DiagnosticReport": lambda: cf.diagnostic_report(r["opinion"], r["case"]),
        "DocumentReference": lambda: cf.document_reference(
            r["document"], r["case"], download_url="/api/v1/consultations/305/documents/91/download/"),
        "AuditEvent": lambda: _audit_event(r),
    }
    return makers[resource_type]()


def example(operation_id: str) -> dict | None:
    """The answer of the facade's operation ``fhir_<type>_<interaction>`` (``telemed.fhir.views``): one
    resource for a ``read``/``vread``, a Bundle of one match for a ``search``; the CapabilityStatement for
    ``fhir_metadata``; None for an operation that is not the facade's."""
    from .search import searchset

    if operation_id == "fhir_metadata":
        from .capability import capability_statement
        from .urls import RESOURCES

        return capability_statement(RESOURCES, base_url=BASE)
    name, _sep, interaction = operation_id.removeprefix("fhir_").rpartition("_")
    resource_type = TYPES.get(name)
    if resource_type is None:
        return None
    one = resource(resource_type)
    if interaction != "search":
        return one
    return searchset(resources=[one], total=None, base_url=f"{BASE}/{resource_type}",
                     links={"self": f"{BASE}/{resource_type}?_count=20"})
