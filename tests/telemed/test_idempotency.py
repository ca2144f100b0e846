"""``Idempotency-Key``: a partner's retried POST is answered once (issue 14, "writes a partner can retry")."""

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from consultations.models import Patient
from facilities.choices import StaffRole
from telemed.idempotency import idempotency_keys_purge, key_problem
from telemed.models import IdempotencyKey
from tests.api_cases import partner, token_client
from tests.factories import FacilityFactory, staff

pytestmark = pytest.mark.django_db

URL = "/api/v1/patients/"
BODY = {"name": "王五", "sex": "1", "birth_date": "1958-03-02", "id_number": "220122195803021234", "phone": "13912345678"}


@pytest.fixture
def facility():
    return FacilityFactory()


@pytest.fixture
def his(facility):
    return partner(facility)


def _post(client, body=BODY, key="retry-0001", **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, body, format="json", **headers, **extra)


def test_without_a_key_a_retry_registers_the_patient_twice(his):
    # What the key is for: the patient API has no natural key here (no external_id).
    assert _post(his, key=None).status_code == 201
    assert _post(his, key=None).status_code == 201
    assert Patient.objects.count() == 2


def test_a_retry_with_the_same_key_returns_the_first_answer_and_writes_nothing(his):
    first = _post(his)
    assert first.status_code == 201
    again = _post(his)
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Patient.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(his):
    assert _post(his).status_code == 201
    response = _post(his, body={**BODY, "name": "王六"})
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_reused"
    assert Patient.objects.count() == 1


def test_keys_belong_to_whoever_sent_them(facility, his):
    other = partner(facility)  # another partner account of the same hospital, with its own token
    assert _post(his).status_code == 201
    assert _post(other).status_code == 201
    assert Patient.objects.count() == 2


def test_a_refusal_is_not_kept_so_the_corrected_request_may_use_the_key(his):
    refused = _post(his, body={**BODY, "birth_date": "not a date"})
    assert refused.status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert _post(his).status_code == 201


def test_a_key_still_running_is_answered_409(his):
    assert _post(his).status_code == 201
    # As if the first request were still being handled by another worker.
    IdempotencyKey.objects.update(state=IdempotencyKey.State.IN_FLIGHT)
    response = _post(his)
    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_in_flight"
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize("key", ["", "x" * 256, "有中文", "has space", "tab\tkey"])
def test_a_malformed_key_is_refused_before_anything_runs(his, key):
    assert key_problem(key)
    response = his.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key.encode("utf-8").decode("latin-1"))
    assert response.status_code == 400 and response.json()["code"] == "idempotency_key_invalid"
    assert not Patient.objects.exists()


def test_keys_expire_after_24_hours_and_are_purged_in_batches(his, frozen_now):
    assert _post(his).status_code == 201
    with time_machine.travel(frozen_now + dt.timedelta(hours=23, minutes=59), tick=False):
        assert _post(his)["Idempotent-Replayed"] == "true"
        assert idempotency_keys_purge() == 0
    with time_machine.travel(frozen_now + dt.timedelta(hours=24, minutes=1), tick=False):
        assert idempotency_keys_purge() == 1
        assert _post(his).status_code == 201  # a new request now
    assert Patient.objects.count() == 2


def test_an_expired_key_is_taken_over_by_the_next_request(his, frozen_now):
    assert _post(his).status_code == 201
    with time_machine.travel(frozen_now + dt.timedelta(hours=25), tick=False):
        assert _post(his, body={**BODY, "name": "王六"}).status_code == 201
    assert Patient.objects.count() == 2


def test_an_upload_is_hashed_and_still_reaches_the_view(facility):
    clinician = staff(facility, StaffRole.CLINICIAN)
    client = token_client(clinician)
    first = client.post(URL, BODY, format="multipart", HTTP_IDEMPOTENCY_KEY="multipart-1")
    again = client.post(URL, BODY, format="multipart", HTTP_IDEMPOTENCY_KEY="multipart-1")
    assert first.status_code == 201 and again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert Patient.objects.count() == 1


def test_anonymous_posts_are_left_to_authentication():
    response = APIClient().post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="anon")
    assert response.status_code in (401, 403)
    assert not IdempotencyKey.objects.exists()


def test_the_schema_documents_the_header_on_every_post():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    posts = [op for item in schema["paths"].values() for method, op in item.items() if method == "post"]
    assert posts
    assert all(any(p.get("name") == "Idempotency-Key" and p["in"] == "header" for p in op.get("parameters", [])) for op in posts)
