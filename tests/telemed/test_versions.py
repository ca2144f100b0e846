"""ETag and If-Match on the partner API (issue 14, "writes a partner can retry")."""

import pytest

from consultations import services
from consultations.choices import ConsultationState
from tests.api_cases import assert_error, token_client

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _detail(consultation) -> str:
    return f"{API}/consultations/{consultation.pk}/"


def test_a_detail_carries_an_etag_and_if_none_match_gives_304(world):
    consultation = world.sent()
    client = token_client(world.invited_coordinator)
    first = client.get(_detail(consultation))
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and len(etag) == 34
    assert client.get(_detail(consultation))["ETag"] == etag  # nothing changed: the same version
    not_modified = client.get(_detail(consultation), HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)
    assert client.get(_detail(consultation))["ETag"] != etag


def test_a_write_with_a_stale_if_match_is_refused_412_and_changes_nothing(world):
    consultation = world.sent()
    client = token_client(world.invited_coordinator)
    stale = client.get(_detail(consultation))["ETag"]
    # Meanwhile a colleague at the invited facility accepts the case.
    services.consultation_accept(actor=world.invited_coordinator, consultation=consultation)
    response = client.post(f"{_detail(consultation)}decline/", {"reason": "专家不足"}, format="json", HTTP_IF_MATCH=stale)
    error = assert_error(response, 412, "precondition_failed")
    current = client.get(_detail(consultation))["ETag"]
    assert error["extra"]["etag"] == current
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.ACCEPTED


def test_a_write_with_the_current_if_match_or_a_star_runs(world):
    consultation = world.sent()
    client = token_client(world.invited_coordinator)
    current = client.get(_detail(consultation))["ETag"]
    response = client.post(f"{_detail(consultation)}accept/", {}, format="json", HTTP_IF_MATCH=f"W/{current}, \"other\"")
    assert response.status_code == 200, response.content
    second = world.sent(patient=world.patient(name="李雷"))
    assert client.post(f"{_detail(second)}accept/", {}, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_without_if_match_writes_work_as_before(world):
    consultation = world.sent()
    client = token_client(world.invited_coordinator)
    assert client.post(f"{_detail(consultation)}accept/", {}, format="json").status_code == 200


def test_an_out_of_scope_object_stays_404_with_if_match(world):
    from facilities.choices import StaffRole
    from tests.factories import FacilityFactory, staff

    consultation = world.sent()
    stranger = token_client(staff(FacilityFactory(name="白城市中心医院"), StaffRole.COORDINATOR))
    assert_error(stranger.post(f"{_detail(consultation)}accept/", {}, format="json", HTTP_IF_MATCH='"x"'), 404, "not_found")
