"""Services that had no way in (issue 8): each through the service, its page and its API, with the
404 for another facility and the 403 for the wrong role.

- a facility administrator ends a staff role (a clinician who left); the user then loses access;
- a facility administrator renews a physician's certificate, title and scopes (JL-P1, P4, P5);
- the provincial regulator adds a service type (JL-C1, art. 3), with the scope a diagnosis needs (JL-P5).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from facilities import rules, services
from facilities.choices import ActingRole, StaffRole, Title
from facilities.models import Physician, ServiceType, StaffMembership
from telemed.errors import ApplicationError
from tests.api_cases import assert_error, token_client
from tests.factories import FacilityFactory, RegistrationFactory, regulator, staff

pytestmark = pytest.mark.django_db

API = "/api/v1"


def event(event_type: str) -> AuditEvent:
    return AuditEvent.objects.filter(event_type=event_type).order_by("-sequence").first()


# --- a. Ending a staff role ----------------------------------------------------------------------


def test_membership_revoke_keeps_the_row_audits_and_the_user_loses_access(client):
    facility = FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    leaver = staff(facility, StaffRole.CLINICIAN)
    client.force_login(leaver)
    assert client.get(reverse("facilities:facility-detail", args=[facility.pk])).status_code == 200
    membership = StaffMembership.objects.get(user=leaver, facility=facility)

    services.membership_revoke(actor=admin, membership=membership, reason="已离职")

    membership.refresh_from_db()
    assert (membership.active, membership.ended_by_id, membership.end_reason) == (False, admin.pk, "已离职")
    assert membership.ended_at is not None
    assert event("membership.revoke").details["reason"] == "已离职"
    client.force_login(leaver)  # a fresh request: the scope is read again
    assert client.get(reverse("facilities:facility-detail", args=[facility.pk])).status_code == 404
    assert token_client(leaver).get(f"{API}/facilities/{facility.pk}/").status_code == 404
    with pytest.raises(ApplicationError) as twice:
        services.membership_revoke(actor=admin, membership=membership)
    assert twice.value.code == "invalid_state"


def test_membership_revoke_refused_for_a_clinician():
    facility = FacilityFactory()
    membership = StaffMembership.objects.get(user=staff(facility, StaffRole.CLINICIAN))
    with pytest.raises(ApplicationError) as refused:
        services.membership_revoke(actor=staff(facility, StaffRole.CLINICIAN), membership=membership)
    assert refused.value.status == 403


def revoke_url(membership) -> str:
    return reverse("facilities:staff-revoke", args=[membership.facility_id, membership.pk])


def test_membership_revoke_page_from_the_facility_page(client):
    facility, other = FacilityFactory(), FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    leaver = staff(facility, StaffRole.CLINICIAN, first_name="王离职")
    membership = StaffMembership.objects.get(user=leaver)
    client.force_login(admin)
    detail = client.get(reverse("facilities:facility-detail", args=[facility.pk])).content.decode()
    assert reverse("facilities:staff-list", args=[facility.pk]) in detail
    listing = client.get(reverse("facilities:staff-list", args=[facility.pk])).content.decode()
    assert "王离职" in listing and "撤销角色" in listing
    # Their own administrator role is not offered: the service would refuse it.
    own = reverse("facilities:staff-revoke", args=[facility.pk, StaffMembership.objects.get(user=admin).pk])
    assert own not in listing and revoke_url(membership) in listing
    revoke = reverse("facilities:staff-revoke", args=[facility.pk, membership.pk])
    assert client.get(revoke).status_code == 200
    response = client.post(revoke, {"reason": "调往他院"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert not membership.active and membership.end_reason == "调往他院"
    assert event("membership.revoke").channel == "web"
    # Another facility's staff: 404; a clinician of this facility: 403.
    stranger = StaffMembership.objects.get(user=staff(other, StaffRole.CLINICIAN))
    assert client.get(reverse("facilities:staff-revoke", args=[other.pk, stranger.pk])).status_code == 404
    client.force_login(staff(facility, StaffRole.CLINICIAN))
    assert client.get(reverse("facilities:staff-list", args=[facility.pk])).status_code == 403


def test_membership_revoke_api_404_elsewhere_403_for_the_wrong_role():
    facility, other = FacilityFactory(), FacilityFactory()
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    membership = StaffMembership.objects.get(user=staff(facility, StaffRole.CLINICIAN))
    stranger = StaffMembership.objects.get(user=staff(other, StaffRole.CLINICIAN))
    api = token_client(admin)
    ids = {row["id"] for row in api.get(f"{API}/memberships/").json()["results"]}
    assert membership.pk in ids and stranger.pk not in ids
    assert_error(api.post(f"{API}/memberships/{stranger.pk}/revoke/", {}, format="json"), 404, "not_found")
    clinician = staff(facility, StaffRole.CLINICIAN)
    assert_error(token_client(clinician).post(f"{API}/memberships/{membership.pk}/revoke/", {}, format="json"), 403, "permission_denied")
    response = api.post(f"{API}/memberships/{membership.pk}/revoke/", {"reason": "已离职"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["active"] is False and response.json()["end_reason"] == "已离职"
    assert event("membership.revoke").channel == "api"


# --- b. Renewing a physician's certificate, title and scopes ---------------------------------------


def test_jl_p1_p4_p5_qualifications_update_is_audited_with_old_and_new_values_and_checks_see_it():
    registration = RegistrationFactory(physician__certificate_valid_until=timezone.localdate() - dt.timedelta(days=1),
                                       physician__title=Title.ATTENDING_PHYSICIAN, physician__scopes=["internal"])
    physician, facility = registration.physician, registration.facility
    before = rules.physician_checks(physician, registration, acting_role=ActingRole.EXPERT, scope="imaging", on=timezone.localdate())
    assert {c.rule for c in before if not c.passed} == {"JL-P1", "JL-P4", "JL-P5"}
    renewed_until = timezone.localdate() + dt.timedelta(days=5 * 365)
    services.physician_update_qualifications(
        actor=staff(facility, StaffRole.FACILITY_ADMIN), physician=physician, facility=facility, certificate_number="C-NEW-1",
        certificate_valid_until=renewed_until, certificate_revoked=False, title=Title.ASSOCIATE_CHIEF_PHYSICIAN,
        scopes=["internal", "imaging"],
    )
    checks = services.physician_require_qualified(
        actor=None, physician=physician, facility=facility, acting_role=ActingRole.EXPERT, scope="imaging", act="assign",
    )
    assert all(c.passed for c in checks)
    details = event("physician.qualifications.update").details
    assert details["before"]["title"] == Title.ATTENDING_PHYSICIAN and details["after"]["title"] == Title.ASSOCIATE_CHIEF_PHYSICIAN
    assert details["after"]["certificate_number"] == "C-NEW-1" and "certificate_number" in details["changed"]


def test_jl_p1_certificate_number_of_another_physician_is_refused():
    registration = RegistrationFactory()
    other = RegistrationFactory().physician
    with pytest.raises(ApplicationError) as refused:
        services.physician_update_qualifications(
            actor=staff(registration.facility, StaffRole.FACILITY_ADMIN), physician=registration.physician,
            facility=registration.facility, certificate_number=other.certificate_number, certificate_valid_until=None,
            certificate_revoked=False, title=Title.CHIEF_PHYSICIAN, scopes=["internal"],
        )
    assert refused.value.code == "JL-P1"


def test_jl_p1_qualifications_page_reachable_from_the_physician_page(client):
    registration = RegistrationFactory(physician__scopes=["internal"])
    physician, facility = registration.physician, registration.facility
    client.force_login(staff(facility, StaffRole.FACILITY_ADMIN))
    page = reverse("facilities:physician-qualifications", args=[physician.pk, registration.pk])
    assert page in client.get(reverse("facilities:physician-detail", args=[physician.pk])).content.decode()
    form = client.get(page)
    assert form.status_code == 200 and "执业证书有效期至" in form.content.decode()
    response = client.post(page, {"certificate_number": "C-PAGE-1", "certificate_valid_until": "2031-06-30",
                                  "title": str(Title.CHIEF_PHYSICIAN.value), "scopes": ["imaging"]})
    assert response.status_code == 302
    physician.refresh_from_db()
    assert (physician.certificate_number, physician.certificate_valid_until, physician.scopes) == ("C-PAGE-1", dt.date(2031, 6, 30), ["imaging"])
    assert event("physician.qualifications.update").channel == "web"


def test_jl_p1_qualifications_page_404_elsewhere_403_for_a_clinician(client):
    registration = RegistrationFactory()
    page = reverse("facilities:physician-qualifications", args=[registration.physician.pk, registration.pk])
    client.force_login(staff(FacilityFactory(), StaffRole.FACILITY_ADMIN))
    assert client.get(page).status_code == 404
    client.force_login(staff(registration.facility, StaffRole.CLINICIAN))
    assert client.get(page).status_code == 403


def test_jl_p1_qualifications_api_404_elsewhere_403_for_the_wrong_role():
    registration = RegistrationFactory()
    target = f"{API}/registrations/{registration.pk}/qualifications/"
    body = {"certificate_number": "C-API-1", "certificate_valid_until": "2030-01-31", "title": Title.CHIEF_PHYSICIAN, "scopes": ["surgery"]}
    assert_error(token_client(staff(FacilityFactory(), StaffRole.FACILITY_ADMIN)).post(target, body, format="json"), 404, "not_found")
    assert_error(token_client(staff(registration.facility, StaffRole.CLINICIAN)).post(target, body, format="json"), 403, "permission_denied")
    response = token_client(staff(registration.facility, StaffRole.FACILITY_ADMIN)).post(target, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["scopes"] == ["surgery"] and response.json()["certificate_number"] == "C-API-1"
    assert Physician.objects.get(pk=registration.physician_id).certificate_valid_until == dt.date(2030, 1, 31)
    assert event("physician.qualifications.update").channel == "api"


# --- c. The provincial regulator adds a service type (JL-C1) ----------------------------------------


def test_jl_c1_provincial_regulator_adds_a_diagnosis_type_with_its_scope():
    service_type = services.service_type_add(
        actor=regulator("220000"), code="tele_eeg", name="远程脑电图诊断", category="diagnosis", required_scope="imaging",
        needs_modality=False, negotiated_split=True,
    )
    assert (service_type.required_scope, service_type.built_in, service_type.active) == ("imaging", False, True)
    assert event("facility.service_type.add").acting_division_code == "220000"


def test_jl_c1_city_and_county_regulators_may_not_add_a_service_type():
    for code in ("220100", "220102"):
        with pytest.raises(ApplicationError) as refused:
            services.service_type_add(actor=regulator(code), code="tele_x", name="远程某项", category="opinion")
        assert refused.value.status == 403 and "JL-C1" in refused.value.message
    assert not ServiceType.objects.filter(code="tele_x").exists()


def test_jl_c1_jl_p5_a_diagnosis_type_needs_a_required_scope_an_opinion_type_none():
    province = regulator("220000")
    with pytest.raises(ApplicationError) as refused:
        services.service_type_add(actor=province, code="tele_y", name="远程某诊断", category="diagnosis")
    assert refused.value.code == "JL-P5"
    with pytest.raises(ApplicationError):
        services.service_type_add(actor=province, code="tele_z", name="远程某会诊", category="opinion", required_scope="imaging")


def test_jl_c1_service_type_page_for_the_provincial_regulator_only(client):
    client.force_login(regulator("220000"))
    listing = client.get(reverse("facilities:service-type-list")).content.decode()
    assert reverse("facilities:service-type-create") in listing
    assert reverse("facilities:service-type-list") in client.get(reverse("facilities:facility-list")).content.decode()
    response = client.post(reverse("facilities:service-type-create"), {
        "code": "tele_icu", "name": "远程重症监护诊断", "category": "diagnosis", "required_scope": "internal",
    })
    assert response.status_code == 302
    assert ServiceType.objects.get(code="tele_icu").required_scope == "internal"
    refused = client.post(reverse("facilities:service-type-create"), {"code": "tele_q", "name": "远程某诊断2", "category": "diagnosis"})
    assert refused.status_code == 200 and "JL-P5" in refused.content.decode()
    client.force_login(regulator("220100"))
    assert client.get(reverse("facilities:service-type-create")).status_code == 403
    client.force_login(staff(FacilityFactory(), StaffRole.FACILITY_ADMIN))
    assert client.get(reverse("facilities:service-type-create")).status_code == 403


def test_jl_c1_service_type_api_403_for_city_regulators_and_staff():
    body = {"code": "tele_api", "name": "远程某项API", "category": "diagnosis", "required_scope": "lab_pathology"}
    assert_error(token_client(regulator("220100")).post(f"{API}/service-types/", body, format="json"), 403, "permission_denied")
    assert_error(token_client(staff(FacilityFactory(), StaffRole.FACILITY_ADMIN)).post(f"{API}/service-types/", body, format="json"), 403, "permission_denied")
    response = token_client(regulator("220000")).post(f"{API}/service-types/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["required_scope"] == "lab_pathology"
    assert event("facility.service_type.add").channel == "api"
    assert token_client(staff(FacilityFactory())).get(f"{API}/service-types/tele_api/").json()["name"] == "远程某项API"
