"""Issue 14: the FHIR R4 facade of the facilities app — Organization, Practitioner, PractitionerRole —
read, search, paging, scope (JL-O1) and no access-log event (no patient data); and the
CapabilityStatement (``/api/v1/fhir/metadata``) listing exactly what the server implements.

Every resource is validated with the R4B models of ``fhir.resources`` (8.x defaults to R5)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from audit.models import AuditEvent
from facilities import services
from facilities.choices import StaffRole, SuspensionCause
from telemed.fhir.urls import RESOURCES
from telemed.oauth import rules as oauth_rules
from tests.api_cases import token_client
from tests.factories import FacilityFactory, division, regulator, staff
from tests.routes import walk

pytestmark = pytest.mark.django_db

BASE = "/api/v1/fhir"
MODELS = {"Organization": Organization, "Practitioner": Practitioner, "PractitionerRole": PractitionerRole}


def get(client, path: str, status: int = 200, **params) -> dict:
    response = client.get(f"{BASE}/{path}", params)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    if status != 200:
        OperationOutcome.model_validate(body)
    elif body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        for entry in body["entry"]:
            MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    elif body["resourceType"] in MODELS:
        MODELS[body["resourceType"]].model_validate(body)
    return body


def ids(bundle) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle["entry"]]


def test_organization_carries_level_grade_accreditation_and_suspension_jl_f1_f2_f5(world):
    client = token_client(world.invited_coordinator)
    resource = get(client, f"Organization/{world.invited.pk}")
    assert resource["name"] == world.invited.name and resource["active"] is True
    assert resource["identifier"][0]["value"] == world.invited.licence_number
    [accreditation] = resource["extension"]
    parts = {e["url"]: e for e in accreditation["extension"]}
    assert parts["status"]["valueCoding"]["code"] == "approved"
    assert parts["level"]["valueCoding"]["code"] == "3" and parts["grade"]["valueCoding"]["code"] == "A"
    assert resource["address"][0]["extension"][0]["valueCoding"]["code"] == "220104"
    services.suspension_report(actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited,
                               cause=SuspensionCause.QUALITY_RISK, description="CT 设备故障")
    suspended = get(client, f"Organization/{world.invited.pk}")
    assert suspended["active"] is False
    assert ids(get(client, "Organization", type="2")) == [str(world.inviting.pk)]  # the agreement counterpart, level 2


def test_organization_scope_jl_o1_and_no_access_log(world):
    before = AuditEvent.objects.count()
    province, changchun, jilin = (token_client(regulator(code)) for code in ("220000", "220100", "220200"))
    elsewhere = FacilityFactory(name="吉林市中心医院", division=division("220202"))
    assert set(ids(get(province, "Organization"))) == {str(world.inviting.pk), str(world.invited.pk), str(elsewhere.pk)}
    assert set(ids(get(changchun, "Organization"))) == {str(world.inviting.pk), str(world.invited.pk)}
    assert ids(get(jilin, "Organization")) == [str(elsewhere.pk)]
    missing, outside = get(jilin, "Organization/999999", status=404), get(jilin, f"Organization/{world.invited.pk}", status=404)
    assert missing == outside and outside["issue"][0]["details"]["coding"][0]["code"] == "not_found"
    assert not AuditEvent.objects.filter(pk__gt=before, event_type__startswith="record.").exists()


def test_organization_search_pages_with_next_links(world):
    for n in range(4):
        FacilityFactory(name=f"长春测试医院{n}", division=division("220102"))
    client = token_client(regulator("220100"))
    seen, url = [], f"{BASE}/Organization?_count=2"
    while url:
        bundle = client.get(url).json()
        Bundle.model_validate(bundle)
        seen += ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert len(seen) == 6 == len(set(seen))


def test_practitioner_and_role_carry_qualification_title_registration_and_scope_jl_p1_p6(world):
    physician = world.expert_physician
    registration = physician.registrations.get(facility=world.invited)
    client = token_client(world.invited_coordinator)
    resource = get(client, f"Practitioner/{physician.pk}")
    values = {i["system"].rsplit("/", 1)[1]: i["value"] for i in resource["identifier"]}
    assert values == {"physician-qualification": physician.qualification_number, "practising-certificate": physician.certificate_number}
    titles = [q["code"]["coding"][0]["code"] for q in resource["qualification"]]
    assert str(physician.title) in titles
    role = get(client, f"PractitionerRole/{registration.pk}")
    assert role["practitioner"]["reference"] == f"Practitioner/{physician.pk}"
    assert role["organization"]["reference"] == f"Organization/{world.invited.pk}"
    assert {s["coding"][0]["code"] for s in role["specialty"]} == {"internal", "imaging"}
    assert ids(get(client, "PractitionerRole", practitioner=f"Practitioner/{physician.pk}")) == [str(registration.pk)]
    assert ids(get(client, "Practitioner", identifier=physician.certificate_number)) == [str(physician.pk)]


def test_the_agreement_counterpart_sees_the_hospital_not_its_physicians_jl_o1(world):
    """As the REST API: the inviting hospital addresses requests to the invited one, but its staff
    and registrations stay the invited hospital's."""
    physician = world.expert_physician
    counterpart = token_client(world.clinician)
    get(counterpart, f"Organization/{world.invited.pk}")
    get(counterpart, f"Practitioner/{physician.pk}", status=404)
    get(counterpart, f"PractitionerRole/{physician.registrations.get().pk}", status=404)
    assert str(physician.pk) not in ids(get(counterpart, "Practitioner"))


def test_no_last_updated_where_no_change_is_stamped(world):
    """Facilities, physicians and registrations keep no change time: ``_lastUpdated`` is not offered
    (an unknown parameter, 400), rather than answered from a creation date."""
    body = get(token_client(world.invited_coordinator), "Organization", status=400, _lastUpdated="ge2026-01-01")
    assert body["issue"][0]["details"]["coding"][0]["code"] == "fhir_parameter_unknown"


# --- CapabilityStatement ---------------------------------------------------------------------------


def test_capability_statement_lists_exactly_the_routes_and_parameters_that_exist(world):
    client = token_client(world.invited_coordinator)
    statement = get(client, "metadata")
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1" and statement["format"] == ["application/fhir+json"]
    listed = {r["type"]: r for r in statement["rest"][0]["resource"]}
    routed = {name.split(":")[1].rsplit("-", 1)[0] for name, _ns, _p in walk() if name.startswith("fhir-api:")} - {"metadata"}
    assert {t.lower() for t in listed} == routed | {"auditevent"}
    assert set(listed) == {"ServiceRequest", "Task", "DiagnosticReport", "DocumentReference", "Patient", "Consent",
                           "Organization", "Practitioner", "PractitionerRole", "AuditEvent"}
    for versioned in ("DiagnosticReport", "Consent"):
        assert [i["code"] for i in listed[versioned]["interaction"]] == ["read", "vread", "search-type"]
        assert listed[versioned]["versioning"] == "versioned" and listed[versioned]["readHistory"] is True
    assert listed["ServiceRequest"]["versioning"] == "no-version"
    regulator_client = token_client(regulator("220000"))
    for cls in RESOURCES:
        params = [p["name"] for p in listed[cls.resource_type]["searchParam"]]
        implemented = cls().all_params()
        assert params == [p.name for p in implemented]
        for param in implemented:  # every listed parameter is understood (no 400 for a well-formed value)
            response = regulator_client.get(f"{BASE}/{cls.resource_type}", {param.name: param.example})
            assert response.status_code == 200, (cls.resource_type, param.name, response.content)
        unlisted = regulator_client.get(f"{BASE}/{cls.resource_type}", {"not-a-parameter": "1"})
        assert unlisted.status_code == 400


def test_every_fhir_route_needs_a_read_scope_and_metadata_any_token():
    routes = [name for name, _ns, _p in walk() if name.startswith("fhir-api:")]
    assert len(routes) >= 19
    for route in routes:
        scope = oauth_rules.required_scope(route, "GET")
        if route == "fhir-api:metadata":
            assert scope == oauth_rules.ANY
        else:
            assert scope.endswith(":read") and scope in oauth_rules.SCOPES, route
            assert oauth_rules.required_scope(route, "POST").endswith(":write")
    assert oauth_rules.required_scope("fhir-api:patient-read", "GET") == "patients:read"
    assert oauth_rules.required_scope("fhir-api:documentreference-search", "GET") == "documents:read"
    assert oauth_rules.scope_sufficient(oauth_rules.ANY, ["facilities:read"])
    assert not oauth_rules.scope_sufficient(oauth_rules.ANY, [])


def test_a_fhir_write_is_refused(world):
    client = token_client(world.invited_coordinator)
    response = client.post(reverse("fhir-api:organization-search"), {}, format="json")
    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"
