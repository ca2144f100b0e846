"""JL-B1 (art. 39), issue 14: ``POST /api/v1/price-standards/`` — the provincial regulator publishes
a price standard over the API through ``services.price_standard_publish`` (audited as on the page);
a city regulator or a facility's staff is 403 before the body is read, anonymous 401, bad values
400 with their stable codes. (No 404 case: standards are province-wide, published to everyone.)"""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from billing.models import PriceStandard
from facilities.choices import StaffRole
from tests.api_cases import assert_error, token_client
from tests.factories import FacilityFactory, regulator, staff

URL = "/api/v1/price-standards/"
pytestmark = pytest.mark.django_db

BODY = {"service_type": "imaging", "facility_level": 3, "max_price_fen": 12_000, "valid_from": "2027-01-01",
        "valid_until": None, "document_number": "吉卫发〔2026〕12号"}


def test_jl_b1_provincial_regulator_publishes_a_standard_and_it_is_audited(db):
    province = regulator("220000")
    response = token_client(province).post(URL, BODY, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["service_type"] == "imaging" and body["facility_level"] == 3 and body["max_price_fen"] == 12_000
    standard = PriceStandard.objects.get(pk=body["id"])
    assert standard.published_by == province and standard.document_number == "吉卫发〔2026〕12号"
    event = AuditEvent.objects.get(event_type="billing.price_standard.publish")
    assert event.actor_id == province.pk and event.channel == "api" and event.object_id == str(standard.pk)
    # Published to everyone who signs in.
    listed = token_client(staff(FacilityFactory(), StaffRole.FINANCE)).get(URL).json()["results"]
    assert standard.pk in [row["id"] for row in listed]


def test_jl_b1_city_regulator_and_facility_staff_get_403_and_nothing_is_published(db):
    for user in (regulator("220100"), staff(FacilityFactory(), StaffRole.FACILITY_ADMIN), staff(FacilityFactory(), StaffRole.FINANCE)):
        assert_error(token_client(user).post(URL, BODY, format="json"), 403, "permission_denied")
    assert not PriceStandard.objects.filter(document_number=BODY["document_number"]).exists()


def test_jl_b1_anonymous_is_401(db):
    assert_error(token_client().post(URL, BODY, format="json"), 401, "not_authenticated")


def test_jl_b1_bad_values_are_refused_with_stable_codes(db):
    client = token_client(regulator("220000"))
    assert_error(client.post(URL, {**BODY, "document_number": "  "}, format="json"), 400, "JL-B1")
    assert_error(client.post(URL, {**BODY, "valid_until": "2026-12-01"}, format="json"), 400, "invalid")
    assert_error(client.post(URL, {**BODY, "max_price_fen": 0}, format="json"), 400, "JL-B1")
    assert_error(client.post(URL, {**BODY, "max_price_fen": "12.5"}, format="json"), 400, "invalid")
    # A reference that does not resolve is 404, as the same id in a path (issue 14, docs/api-changelog.md).
    assert_error(client.post(URL, {**BODY, "service_type": "massage"}, format="json"), 404, "not_found")
    assert not PriceStandard.objects.filter(document_number=BODY["document_number"]).exists()
