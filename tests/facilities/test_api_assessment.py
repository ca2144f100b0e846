"""JL-P6 (art. 31), issue 14: ``GET /api/v1/physicians/{id}/assessment-entries/`` — the physician's
assessment file over the API, as the physician page shows it: the physician's facility and its
regulator read it, another facility's user or another division's regulator gets 404, anonymous 401.
(No 403 case: reading is open to every signed-in user who may see the physician, as on the page.)"""

from __future__ import annotations

import pytest

from facilities import services
from facilities.choices import StaffRole, Title
from tests.api_cases import assert_error, rows, token_client
from tests.factories import FacilityFactory, PhysicianFactory, RegistrationFactory, division, regulator, staff

pytestmark = pytest.mark.django_db


def unauthorised_attempt(physician, facility, admin) -> None:
    with pytest.raises(services.ApplicationError):  # JL-P6: refused and entered in the file
        services.physician_require_qualified(
            actor=admin, physician=physician, facility=facility, acting_role="expert", scope="internal", act="accept",
        )


@pytest.fixture
def filed():
    facility = FacilityFactory(division=division("220104"))
    registration = RegistrationFactory(facility=facility, authorised_at=None,
                                       physician=PhysicianFactory(title=Title.ATTENDING_PHYSICIAN))
    admin = staff(facility, StaffRole.FACILITY_ADMIN)
    unauthorised_attempt(registration.physician, facility, admin)
    return registration.physician, facility, admin


def url(physician) -> str:
    return f"/api/v1/physicians/{physician.pk}/assessment-entries/"


def test_jl_p6_facility_admin_and_regulator_read_the_assessment_file(filed):
    physician, facility, admin = filed
    for user in (admin, regulator("220100")):
        [entry] = rows(token_client(user).get(url(physician)))
        assert entry["rule"] == "JL-P6" and entry["facility"] == facility.pk and entry["physician"] == physician.pk
        assert "未经所在机构授权" in entry["description"] and entry["audit_sequence"]


def test_jl_o1_another_facility_or_division_gets_404(filed):
    physician, _facility, _admin = filed
    for outsider in (staff(FacilityFactory(division=division("220202")), StaffRole.FACILITY_ADMIN), regulator("220200")):
        assert_error(token_client(outsider).get(url(physician)), 404, "not_found")


def test_jl_p6_anonymous_is_401(filed):
    physician, _facility, _admin = filed
    assert_error(token_client().get(url(physician)), 401, "not_authenticated")


def test_jl_p6_assessment_file_queries_do_not_grow(filed, django_assert_max_num_queries):
    physician, facility, admin = filed
    client, counts = token_client(admin), []
    for more in (0, 4):
        for _n in range(more):
            unauthorised_attempt(physician, facility, admin)
        with django_assert_max_num_queries(12) as captured:
            assert rows(client.get(url(physician)))
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts


# --- JL-P3 (art. 14.3): platform registration over the API -----------------------------------------


def platform_url(physician) -> str:
    return f"/api/v1/physicians/{physician.pk}/platform-register/"


def test_jl_p3_facility_admin_records_the_platform_registration_and_it_is_audited(db):
    from audit.models import AuditEvent

    registration = RegistrationFactory(physician=PhysicianFactory(platform_registered_at=None))
    admin = staff(registration.facility, StaffRole.FACILITY_ADMIN)
    response = token_client(admin).post(platform_url(registration.physician))
    assert response.status_code == 200, response.content
    assert response.json()["platform_registered"] is True
    event = AuditEvent.objects.get(event_type="physician.platform_register")
    assert event.actor_id == admin.pk and event.channel == "api"


def test_jl_p3_a_clinician_colleague_gets_403_and_another_facility_404_and_anonymous_401(db):
    registration = RegistrationFactory(physician=PhysicianFactory(platform_registered_at=None))
    physician = registration.physician
    colleague = staff(registration.facility, StaffRole.CLINICIAN)
    assert_error(token_client(colleague).post(platform_url(physician)), 403, "permission_denied")
    outsider = staff(FacilityFactory(division=division("220202")), StaffRole.FACILITY_ADMIN)
    assert_error(token_client(outsider).post(platform_url(physician)), 404, "not_found")
    assert_error(token_client().post(platform_url(physician)), 401, "not_authenticated")
    physician.refresh_from_db()
    assert physician.platform_registered_at is None
