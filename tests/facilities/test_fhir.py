"""Issue 14: the FHIR R4 facade of the facilities app — Organization, Practitioner, PractitionerRole —
read, search, paging, scope (JL-O1) and no access-log event (no patient data); and the
CapabilityStatement (``/api/v1/fhir/metadata``) listing exactly what the server implements.

Every resource is validated with the R4B models of ``fhir.resources`` (8.x defaults to R5)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from audit.models import AuditEvent
from facilities import services
from facilities.choices import AdminRole, StaffRole, SuspensionCause
from facilities.models import Facility, Physician, PracticeRegistration
from telemed.fhir.search import instant
from telemed.fhir.urls import RESOURCES
from telemed.oauth import rules as oauth_rules
from tests.api_cases import token_client
from tests.factories import FacilityFactory, administrator, division, regulator, staff
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


# --- meta.lastUpdated and _lastUpdated: the change stamp (issue 14) -------------------------------


def _after(moment) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_last_updated_moves_with_each_service_and_filters_the_search_jl_f5_p5_p6(world):
    """A change made through a service moves ``meta.lastUpdated``; ``_lastUpdated=gt`` then finds only
    the rows changed after — including what a resource shows from elsewhere: a suspension (JL-F5,
    Organization ``active``) and a physician's scopes (JL-P5, PractitionerRole ``specialty``)."""
    client = token_client(regulator("220100"))
    physician = world.expert_physician
    registration = physician.registrations.get(facility=world.invited)
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    cut = timezone.now() + dt.timedelta(days=1)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2), tick=False):
        later = timezone.now()
        services.suspension_report(actor=admin, facility=world.invited, cause=SuspensionCause.QUALITY_RISK, description="CT 设备故障")
        services.physician_update_qualifications(
            actor=admin, physician=physician, facility=world.invited, certificate_valid_until=None,
            certificate_revoked=False, title=physician.title, scopes=["internal"],
        )
    organization = get(client, f"Organization/{world.invited.pk}")
    assert organization["meta"]["lastUpdated"] == instant(later) and organization["active"] is False
    assert get(client, f"Practitioner/{physician.pk}")["meta"]["lastUpdated"] == instant(later)
    role = get(client, f"PractitionerRole/{registration.pk}")
    assert role["meta"]["lastUpdated"] == instant(later) and [s["coding"][0]["code"] for s in role["specialty"]] == ["internal"]
    assert ids(get(client, "Organization", _lastUpdated=f"gt{_after(cut)}")) == [str(world.invited.pk)]
    assert ids(get(client, "Organization", _lastUpdated=f"le{_after(cut)}")) == [str(world.inviting.pk)]
    assert ids(get(client, "Practitioner", _lastUpdated=f"gt{_after(cut)}")) == [str(physician.pk)]
    assert ids(get(client, "Practitioner", _lastUpdated=f"lt{_after(cut)}")) == [str(world.attending.pk)]
    assert ids(get(client, "PractitionerRole", _lastUpdated=f"gt{_after(cut)}")) == [str(registration.pk)]
    # Lifting the suspension (its licensing regulator, JL-F5) moves the stamp again.
    with time_machine.travel(later + dt.timedelta(days=1), tick=False):
        lifted = timezone.now()
        services.suspension_lift(actor=regulator(world.invited.licence_issuer_id), suspension=world.invited.suspensions.get(),
                                 reason="设备已修复")
    assert get(client, f"Organization/{world.invited.pk}")["meta"]["lastUpdated"] == instant(lifted)
    assert ids(get(client, "Organization", _lastUpdated=f"gt{_after(later + dt.timedelta(hours=1))}")) == [str(world.invited.pk)]


def test_registration_changes_move_the_role_and_the_physician_jl_p3_p6(world):
    """Verification, authorisation and revocation move the PractitionerRole's stamp (and the
    physician's, whose REST answer lists its registrations); the search orders by the stamp."""
    client = token_client(world.invited_coordinator)
    physician = world.expert_physician
    registration = physician.registrations.get(facility=world.invited)
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3), tick=False):
        services.registration_revoke_authorisation(actor=admin, registration=registration)
        revoked = timezone.now()
    role = get(client, f"PractitionerRole/{registration.pk}")
    assert role["meta"]["lastUpdated"] == instant(revoked) and role["active"] is False
    assert get(client, f"Practitioner/{physician.pk}")["meta"]["lastUpdated"] == instant(revoked)
    physician.refresh_from_db()
    assert physician.updated_at == revoked


def test_a_facility_renamed_moves_its_roles(world):
    """JL-A2: the system administrator renames a facility (``facility_save``); its PractitionerRoles show the name."""
    registration = world.expert_physician.registrations.get(facility=world.invited)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1), tick=False):
        world.invited.name = "吉林大学第二医院（新院区）"
        services.facility_save(actor=administrator(AdminRole.SYSTEM), facility=world.invited, changed=["name"])
        renamed = timezone.now()
    registration.refresh_from_db()
    world.invited.refresh_from_db()
    assert registration.updated_at == world.invited.updated_at == renamed
    world.inviting.refresh_from_db()
    assert world.inviting.updated_at < renamed


def test_last_updated_pages_with_the_keyset_on_equal_stamps(world):
    """Rows with the same stamp page by id behind it: every facility once, none twice."""
    with time_machine.travel(timezone.now(), tick=False):
        for n in range(5):
            FacilityFactory(name=f"长春同刻医院{n}", division=division("220102"))
    client = token_client(regulator("220100"))
    seen, url = [], f"{BASE}/Organization?_count=2&_lastUpdated=ge2000-01-01"
    while url:
        bundle = client.get(url).json()
        Bundle.model_validate(bundle)
        seen += ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert len(seen) == 7 == len(set(seen))


def test_backfill_takes_the_latest_known_change_time(world):
    """Migration facilities.0017: existing rows get their latest known change (an audit event about
    the row, a suspension), not the migration's time, and never one before their creation."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("facilities.migrations.0017_updated_at").backfill
    registration = world.expert_physician.registrations.get(facility=world.invited)
    with time_machine.travel(timezone.now() + dt.timedelta(days=1), tick=False):
        suspension = services.suspension_report(actor=staff(world.invited, StaffRole.FACILITY_ADMIN), facility=world.invited,
                                                cause=SuspensionCause.QUALITY_RISK, description="CT 设备故障")
    with time_machine.travel(timezone.now() + dt.timedelta(days=2), tick=False):
        services.registration_verify(actor=staff(world.invited, StaffRole.FACILITY_ADMIN), registration=registration)
        verified = timezone.now()
    future = timezone.now() + dt.timedelta(days=9)
    for model in (Facility, Physician, PracticeRegistration):
        model.objects.update(updated_at=future)
    backfill(apps, None)
    for row in (world.invited, world.inviting, world.attending, registration):
        row.refresh_from_db()
    assert world.invited.updated_at == suspension.reported_at
    assert world.inviting.updated_at == world.inviting.created_at
    assert registration.updated_at == verified  # its verified_at and its audit event
    assert world.attending.updated_at == max(world.attending.created_at, world.attending.platform_registered_at)


def test_no_writer_bypasses_the_facility_stamps():
    """``telemed.changes`` stamps ``update()`` and ``save()``; ``bulk_update`` and raw SQL would not,
    so no writer of facilities, physicians or registrations uses them (the benchmark copies rows with
    their stamps into a database of its own)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for app in ("consultations", "billing", "facilities", "audit", "notifications", "telemed"):
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts or path.parent.name == "bench":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                ours = any(name in line for name in ("Facility.", "Physician.", "PracticeRegistration.", "facilities_facility",
                                                      "facilities_physician", "facilities_practiceregistration"))
                if ours and ("bulk_update(" in line or "execute(" in line or ".raw(" in line):
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == [], offenders


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
