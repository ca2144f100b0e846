"""telemed.middleware: a query parameter with a NUL character is a 400, never a 500 (issue 8).

Run on PostgreSQL too (``DATABASE_URL=postgres://…``): that is where a NUL used to reach the
database (jsonb ``details`` of the access event, a ``LIKE`` search) and fail.
"""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.api_cases import assert_error
from tests.factories import regulator


@pytest.mark.parametrize("query", ["ordering=%00", "id=%00", "purpose=%00", "search=a%00b", "%00=1"])
@pytest.mark.parametrize("endpoint", ["patients", "consultations", "facilities", "statements", "seals"])
def test_a_nul_in_an_api_query_parameter_is_invalid_query(world, endpoint, query):
    world.sent()
    client = APIClient()
    client.force_authenticate(regulator("220000"))
    before = AuditEvent.objects.count()
    body = assert_error(client.get(f"/api/v1/{endpoint}/?{query}"), 400, "invalid_query")
    assert "NUL" in body["message"]
    assert AuditEvent.objects.count() == before


def test_a_nul_in_an_api_detail_query_is_invalid_query(world):
    consultation = world.sent()
    client = APIClient()
    client.force_authenticate(world.coordinator)
    body = assert_error(client.get(f"/api/v1/consultations/{consultation.pk}/?purpose=%00"), 400, "invalid_query")
    assert body["extra"] == {"parameters": ["purpose"]}


def test_a_nul_in_a_page_query_shows_the_error_page(world):
    world.sent()
    client = Client()
    client.force_login(world.clinician)
    response = client.get(reverse("consultations:list") + "?q=%00")
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_an_ordinary_query_still_passes(world):
    world.sent()
    client = APIClient()
    client.force_authenticate(world.coordinator)
    assert client.get("/api/v1/consultations/?ordering=-id&search=张").status_code == 200
