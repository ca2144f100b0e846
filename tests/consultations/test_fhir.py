"""Issue 14: the FHIR R4 facade of the consultations app — ServiceRequest, Task, DiagnosticReport,
DocumentReference, Patient, Consent — read, search, paging, ``_lastUpdated``, masking (JL-C9), scope
(JL-O1: an outsider gets the 404 of a missing id), the access log (JL-C8) and OperationOutcome errors.

Every resource the facade answers is validated with the R4B models of ``fhir.resources`` (8.x
defaults to R5; R4B is its R4 line — these resources are the same in R4 and R4B)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from audit import records
from audit.models import AuditEvent
from consultations import fhir, services
from consultations.choices import ConsultationState
from facilities.choices import StaffRole
from tests.api_cases import token_client
from tests.consultations import signed
from tests.factories import FacilityFactory, regulator, staff

pytestmark = pytest.mark.django_db

BASE = "/api/v1/fhir"
MODELS = {"ServiceRequest": ServiceRequest, "Task": Task, "DiagnosticReport": DiagnosticReport,
          "DocumentReference": DocumentReference, "Patient": FhirPatient, "Consent": FhirConsent}
PARTIES = dict(inviting_party_name="王主任", inviting_party_role="医务科科长", invited_party_name="张某", invited_party_role="患者之子")


def valid(resource: dict) -> dict:
    """Parse with the R4B model of its type: a resource that does not validate fails the test."""
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


def read(client, path: str, status: int = 200, **params) -> dict:
    response = client.get(f"{BASE}/{path}", params)
    assert response["Content-Type"].startswith("application/fhir+json"), response["Content-Type"]
    body = response.json()
    assert response.status_code == status, body
    if status == 200:
        return valid(body)
    OperationOutcome.model_validate(body)
    return body


def search(client, path: str, **params) -> dict:
    response = client.get(f"{BASE}/{path}", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:
        valid(entry["resource"])
    return bundle


def ids(bundle) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle["entry"]]


def outcome_code(body) -> str:
    return body["issue"][0]["details"]["coding"][0]["code"]


def new_events(before: int, prefix: str = "record."):
    return list(AuditEvent.objects.filter(sequence__gt=before, event_type__startswith=prefix).order_by("sequence"))


def last_sequence() -> int:
    event = AuditEvent.objects.order_by("-sequence").first()
    return event.sequence if event else 0


@pytest.fixture
def his(world):
    """The inviting hospital's HIS (partner_system) with an API token."""
    return token_client(staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_nongan"))


@pytest.fixture
def outsider(db):
    return token_client(staff(FacilityFactory(name="白城市中心医院"), StaffRole.PARTNER_SYSTEM, username="his_baicheng"))


@pytest.fixture
def case(world):
    """A signed case whose opinion was corrected once (two signed versions, JL-C6)."""
    consultation = signed(world, recommends=False)
    first = consultation.opinions.get()
    services.opinion_sign(actor=world.expert, consultation=consultation, content="更正：考虑主动脉夹层 B 型。",
                          corrects=first, correction_reason="补充分型")
    consultation.refresh_from_db()
    return consultation


# --- ServiceRequest and Task ---------------------------------------------------------------------


def test_service_request_read_maps_the_invitation_and_logs_record_view_jl_c8(world, his, case):
    before = last_sequence()
    resource = read(his, f"ServiceRequest/{case.pk}")
    assert resource["identifier"][0]["value"] == case.number
    assert resource["status"] == "completed" and resource["intent"] == "order"
    assert resource["subject"]["reference"] == f"Patient/{case.patient_id}"
    assert resource["requester"]["reference"] == f"Organization/{world.inviting.pk}"
    assert resource["performer"][0]["reference"] == f"Organization/{world.invited.pk}"
    assert resource["reasonCode"][0]["text"] == case.reason
    [event] = new_events(before)
    assert event.event_type == "record.view" and event.object_type == "consultations.consultation"
    assert event.object_id == str(case.pk) and event.details["patient_id"] == case.patient_id
    assert event.details["fhir"] == "ServiceRequest" and event.channel == "api"


def test_task_maps_every_portal_state_to_a_fhir_task_status():
    """docs/fhir.md's table is ``fhir.TASK_STATUS``: every state has a status of R4's value set."""
    r4_statuses = {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress",
                   "on-hold", "failed", "completed", "entered-in-error"}
    assert set(fhir.TASK_STATUS) == set(ConsultationState.values)
    assert set(fhir.TASK_STATUS.values()) <= r4_statuses
    assert set(fhir.SERVICE_REQUEST_STATUS) == set(ConsultationState.values)


def test_task_read_and_search_by_focus_and_status(world, his, case):
    resource = read(his, f"Task/{case.pk}")
    assert resource["status"] == "completed"
    assert resource["businessStatus"]["coding"][0]["code"] == "signed"
    assert resource["focus"]["reference"] == f"ServiceRequest/{case.pk}"
    other = world.sent()
    bundle = search(his, "Task", focus=f"ServiceRequest/{case.pk}")
    assert ids(bundle) == [str(case.pk)]
    assert ids(search(his, "Task", status="requested")) == [str(other.pk)]
    assert ids(search(his, "Task", **{"business-status": "sent"})) == [str(other.pk)]


def test_service_request_search_by_patient_pages_with_next_links_and_logs_record_list(world, his):
    patient = world.patient()
    made = [world.draft(patient=patient) for _ in range(5)]
    world.draft()  # another patient's
    before = last_sequence()
    seen, url, pages = [], f"{BASE}/ServiceRequest?patient=Patient/{patient.pk}&_count=2", 0
    while url:
        response = his.get(url)
        assert response.status_code == 200, response.content
        bundle = response.json()
        Bundle.model_validate(bundle)
        assert "total" not in bundle and {link["relation"] for link in bundle["link"]} >= {"self"}
        seen += ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        pages += 1
    assert pages == 3 and sorted(seen) == sorted(str(c.pk) for c in made) and len(seen) == len(set(seen))
    events = new_events(before)
    assert [e.event_type for e in events] == ["record.list"] * 3
    assert all(e.details["patient_ids"] == [patient.pk] for e in events)


def test_last_updated_filters_on_the_change_stamp(world, his):
    with time_machine.travel(timezone.now() - dt.timedelta(days=3), tick=False):
        old = world.draft()
    new = world.draft()
    day = timezone.localdate().isoformat()
    assert ids(search(his, "ServiceRequest", _lastUpdated=f"ge{day}")) == [str(new.pk)]
    assert ids(search(his, "ServiceRequest", _lastUpdated=f"lt{day}")) == [str(old.pk)]
    assert set(ids(search(his, "Task", _lastUpdated=["gt2000-01-01", f"le{day}"]))) == {str(old.pk), str(new.pk)}
    assert ids(search(his, "ServiceRequest", _id=str(old.pk))) == [str(old.pk)]


def test_outsider_gets_the_404_of_a_missing_id_jl_o1(world, outsider, his, case):
    for path in (f"ServiceRequest/{case.pk}", f"Task/{case.pk}", f"DiagnosticReport/{case.pk}",
                 f"Patient/{case.patient_id}", f"Consent/{case.consent.pk}",
                 f"DocumentReference/{case.documents.first().pk}", f"DiagnosticReport/{case.pk}/_history/1",
                 f"Consent/{case.consent.pk}/_history/1"):
        mine = read(outsider, path, status=404)
        missing = read(his, path.replace(str(path.split("/")[1]), "999999", 1), status=404)
        assert mine == missing and outcome_code(mine) == "not_found", path
    assert search(outsider, "ServiceRequest")["entry"] == []
    assert search(outsider, "DiagnosticReport", **{"based-on": str(case.pk)})["entry"] == []


def test_regulator_sees_their_division_only_jl_o1(world, case):
    inside, outside = token_client(regulator("220100")), token_client(regulator("220200"))
    assert str(case.pk) in ids(search(inside, "ServiceRequest"))
    assert search(outside, "ServiceRequest")["entry"] == []
    read(outside, f"ServiceRequest/{case.pk}", status=404)


def test_invited_side_does_not_see_a_draft(world):
    draft = world.draft()
    invited = token_client(world.invited_coordinator)
    read(invited, f"ServiceRequest/{draft.pk}", status=404)


# --- DiagnosticReport: signed versions (JL-C6) ---------------------------------------------------


def test_diagnostic_report_reads_the_latest_version_and_each_signed_one(world, his, case):
    first, second = case.opinions.order_by("version")
    current = read(his, f"DiagnosticReport/{case.pk}")
    assert current["meta"]["versionId"] == "2" and current["status"] == "corrected"
    assert current["conclusion"] == second.content
    assert current["basedOn"][0]["reference"] == f"ServiceRequest/{case.pk}"
    signature = {e["url"]: e for e in current["extension"][0]["extension"]}
    assert signature["contentSha256"]["valueString"] == second.content_sha256
    assert signature["correctionReason"]["valueString"] == "补充分型"
    old = read(his, f"DiagnosticReport/{case.pk}/_history/1")
    assert old["meta"]["versionId"] == "1" and old["status"] == "final" and old["conclusion"] == first.content
    read(his, f"DiagnosticReport/{case.pk}/_history/3", status=404)
    bundle = search(his, "DiagnosticReport", **{"based-on": f"ServiceRequest/{case.pk}"})
    assert ids(bundle) == [str(case.pk)] and bundle["entry"][0]["resource"]["meta"]["versionId"] == "2"
    assert ids(search(his, "DiagnosticReport", status="final")) == []


def test_diagnostic_report_read_logs_the_version_read(world, his, case):
    before = last_sequence()
    read(his, f"DiagnosticReport/{case.pk}/_history/1")
    [event] = new_events(before)
    first = case.opinions.get(version=1)
    assert (event.event_type, event.object_type, event.object_id) == ("record.view", "consultations.opinion", str(first.pk))
    assert event.details["version"] == 1 and event.details["patient_id"] == case.patient_id


def test_no_signed_opinion_is_no_diagnostic_report(world, his):
    sent = world.sent()
    read(his, f"DiagnosticReport/{sent.pk}", status=404)


# --- DocumentReference (JL-C5) -------------------------------------------------------------------


def test_document_reference_carries_sha256_in_its_extension_not_in_attachment_hash(world, his, case):
    document = case.documents.get(kind="test_report")
    resource = read(his, f"DocumentReference/{document.pk}")
    attachment = resource["content"][0]["attachment"]
    assert "hash" not in attachment  # FHIR's hash is a base64 SHA-1
    [sha] = [e["valueString"] for e in attachment["extension"] if e["url"] == fhir.SHA256_EXTENSION]
    document.file.open("rb")
    assert sha == document.sha256 == hashlib.sha256(document.file.read()).hexdigest()
    assert attachment["url"].endswith(f"/api/v1/consultations/{case.pk}/documents/{document.pk}/download/")
    assert attachment["size"] == document.size
    kinds = {r["resource"]["type"]["coding"][0]["code"] for r in search(his, "DocumentReference", related=str(case.pk))["entry"]}
    assert kinds == {"condition_summary", "medical_record", "test_report"}
    assert ids(search(his, "DocumentReference", type="test_report", related=str(case.pk))) == [str(document.pk)]


def test_document_reference_read_logs_the_document(world, his, case):
    document = case.documents.first()
    before = last_sequence()
    read(his, f"DocumentReference/{document.pk}")
    [event] = new_events(before)
    assert (event.event_type, event.object_type, event.object_id) == ("record.view", "consultations.document", str(document.pk))


# --- Consent (JL-C3) -----------------------------------------------------------------------------


def test_consent_maps_jl_c3_and_the_separate_sensitive_information_consent(world, his, case):
    consent = case.consent
    resource = read(his, f"Consent/{consent.pk}")
    assert resource["policyRule"]["coding"][0]["code"] == "JL-C3"
    assert resource["patient"]["reference"] == f"Patient/{case.patient_id}"
    assert resource["meta"]["versionId"] == str(consent.version)
    [sensitive] = resource["provision"]["provision"]
    assert sensitive["type"] == "permit"
    assert resource["provision"]["actor"][0]["reference"]["reference"] == f"Organization/{world.invited.pk}"
    assert ids(search(his, "Consent", patient=str(case.patient_id))) == [str(consent.pk)]


def test_a_re_recorded_consent_is_a_new_version_and_the_old_one_stays_readable_jl_c3(world, his):
    from tests.factories import pdf

    draft = world.ready(world.draft())
    services.consent_record(actor=world.clinician, consultation=draft, signer_name="王五", relation="child",
                            signed_at=timezone.now() - dt.timedelta(minutes=1), sensitive_info_consent=False,
                            signed_copy=pdf("consent2.pdf"))
    consent = draft.consent
    consent.refresh_from_db()
    current = read(his, f"Consent/{consent.pk}")
    assert current["meta"]["versionId"] == "2" and current["provision"]["provision"][0]["type"] == "deny"
    assert "王五" in current["performer"][0]["display"]
    before = last_sequence()
    old = read(his, f"Consent/{consent.pk}/_history/1")
    assert old["id"] == str(consent.pk) and old["meta"]["versionId"] == "1" and "李四" in old["performer"][0]["display"]
    assert old["provision"]["provision"][0]["type"] == "permit"
    [event] = new_events(before)
    assert (event.object_type, event.object_id, event.details["version"]) == ("consultations.consent", str(consent.pk), 1)
    assert read(his, f"Consent/{consent.pk}/_history/2") == current
    read(his, f"Consent/{consent.pk}/_history/3", status=404)


# --- Patient: masking (JL-C9) --------------------------------------------------------------------


def test_patient_is_masked_for_a_regulator_and_the_read_is_a_view_jl_c9(world, case):
    """A reader outside the patient's own hospital (here its regulator) gets the numbers masked (JL-C9)."""
    from tests.factories import regulator

    patient = case.patient
    assert patient.facility_id == world.inviting.pk
    before = last_sequence()
    resource = read(token_client(regulator("220000")), f"Patient/{patient.pk}")
    text = str(resource)
    assert patient.id_number not in text and patient.phone not in text
    assert resource["identifier"][0]["value"] == "220***********1234"
    assert resource["meta"]["security"][0]["code"] == "MASKED"
    [event] = new_events(before)
    assert event.event_type == "record.view" and event.object_id == str(patient.pk)


def test_patient_read_by_the_patients_own_hospital_system_is_revealed_and_logged_as_reveal_jl_c9(world, his, case):
    """Issue 14: masked unless the client's facility is the patient's — its HIS sent the numbers."""
    patient = case.patient
    before = last_sequence()
    resource = read(his, f"Patient/{patient.pk}")
    assert resource["identifier"][0]["value"] == patient.id_number and "security" not in resource["meta"]
    [event] = new_events(before)
    assert event.event_type == "record.reveal"
    assert patient.id_number not in str(search(his, "Patient", _id=str(patient.pk)))  # a list masks


def test_patient_read_by_own_clinician_is_revealed_and_logged_as_reveal_jl_c9(world, case):
    patient = case.patient
    clinician = token_client(world.clinician)
    before = last_sequence()
    resource = read(clinician, f"Patient/{patient.pk}")
    assert resource["identifier"][0]["value"] == patient.id_number and "security" not in resource["meta"]
    assert resource["telecom"][0]["value"] == patient.phone
    [event] = new_events(before)
    assert event.event_type == "record.reveal"
    # A search is a list: masked even for the own hospital (JL-C9).
    bundle = search(clinician, "Patient", _id=str(patient.pk))
    assert patient.id_number not in str(bundle)


def test_patient_search_by_full_identity_number_is_logged_masked_even_when_nothing_is_found(world, his, case):
    patient = case.patient
    assert ids(search(his, "Patient", identifier=patient.id_number)) == [str(patient.pk)]
    before = last_sequence()
    assert search(his, "Patient", identifier="220102199901011111")["entry"] == []
    [event] = new_events(before)
    assert event.event_type == "record.list" and "220102199901011111" not in str(event.details)


def test_invited_side_cannot_read_the_patient_resource(world, case):
    read(token_client(world.invited_coordinator), f"Patient/{case.patient_id}", status=404)


# --- Sealed records (JL-C8, art. 37) and errors ---------------------------------------------------


def test_sealed_record_is_read_only_with_a_purpose_jl_c8(world, his, case):
    records.seal_create(actor=world.coordinator, consultation=case, reason="医疗纠纷", **PARTIES)
    body = read(his, f"DiagnosticReport/{case.pk}", status=400)
    assert outcome_code(body) == "JL-C8" and "JL-C8" in body["issue"][0]["diagnostics"]
    assert AuditEvent.objects.filter(event_type="record.access.refuse").exists()
    assert outcome_code(read(his, "DocumentReference", status=400, related=str(case.pk))) == "JL-C8"
    before = last_sequence()
    read(his, f"DiagnosticReport/{case.pk}", purpose="纠纷处理")
    [event] = new_events(before)
    assert event.details["purpose"] == "纠纷处理" and event.details["sealed"] is True
    assert ids(search(his, "ServiceRequest", _id=str(case.pk))) == [str(case.pk)]  # the list's summary


@pytest.mark.parametrize("params, code", [
    ({"_lastUpdated": "yesterday"}, "fhir_parameter_invalid"),
    ({"_lastUpdated": "sa2026-01-01"}, "fhir_parameter_invalid"),
    ({"_count": "0"}, "fhir_parameter_invalid"),
    ({"patient": "Organization/1"}, "fhir_parameter_invalid"),
    ({"patient": "abc"}, "fhir_parameter_invalid"),
    ({"colour": "red"}, "fhir_parameter_unknown"),
    ({"_cursor": "forged"}, "cursor_invalid"),
])
def test_a_bad_parameter_is_a_400_operation_outcome_in_chinese(his, params, code):
    body = read(his, "ServiceRequest", status=400, **params)
    issue = body["issue"][0]
    assert issue["code"] == "invalid" and outcome_code(body) == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in issue["diagnostics"])


def test_anonymous_gets_a_401_operation_outcome(client):
    response = client.get(f"{BASE}/ServiceRequest")
    assert response.status_code == 401 and response.json()["resourceType"] == "OperationOutcome"


# --- OAuth partner applications: which scope reads which resource ----------------------------------


def test_an_application_reads_fhir_with_the_resources_read_scope_only(world, case):
    """telemed/oauth/rules.py: ServiceRequest/Task/DiagnosticReport/Consent need consultations:read,
    Patient patients:read, DocumentReference documents:read; the CapabilityStatement any token."""
    from django.core.cache import cache

    from telemed.oauth.services import partner_client_register
    from tests.telemed.test_oauth_clients import bearer, token_for

    cache.clear()
    admin = staff(world.inviting, StaffRole.FACILITY_ADMIN)
    client, secret = partner_client_register(actor=admin, facility=world.inviting, name="HIS", scopes=["consultations:read"])
    api = bearer(token_for(client, secret))
    assert api.get(f"{BASE}/ServiceRequest/{case.pk}").status_code == 200
    assert api.get(f"{BASE}/DiagnosticReport/{case.pk}").status_code == 200
    assert api.get(f"{BASE}/metadata").status_code == 200
    refused = api.get(f"{BASE}/Patient/{case.patient_id}")
    assert refused.status_code == 403 and outcome_code(refused.json()) == "scope_insufficient"
    OperationOutcome.model_validate(refused.json())
    assert api.get(f"{BASE}/DocumentReference", {"related": case.pk}).status_code == 403
    cache.clear()


def test_a_search_costs_the_same_queries_for_few_rows_as_for_many(world, his):
    """STYLE 7: joined once per page, whatever its length (the access log's append included)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert his.get(f"{BASE}/{path}").status_code == 200
        return len(captured.captured_queries)

    paths = ("ServiceRequest", "Task", "Patient", "DocumentReference", "Consent")
    world.ready(world.draft())
    few = {path: cost(path) for path in paths}
    for _ in range(3):
        world.ready(world.draft())
    assert {path: cost(path) for path in paths} == few
    assert max(few.values()) <= 20, few
