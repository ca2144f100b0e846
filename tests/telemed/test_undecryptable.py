"""JL-A2 (GB/T 22239-2019 8.1.4.8): a patient number that cannot be decrypted — tampered, moved from
another row, or under a key that is gone — is a clear Chinese page (pages) or ``data_undecryptable``
(API, the error contract), answered 409 and never a 500, and it is on record: one audit event
``security.data_undecryptable`` names the record and the field, never the ciphertext.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from consultations.models import Patient
from facilities.choices import StaffRole
from telemed import crypto
from tests.api_cases import assert_error, token_client
from tests.factories import staff

pytestmark = pytest.mark.django_db


def _raw(pk: int, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM consultations_patient WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def _tamper(patient, column: str = "phone", value: str | None = None) -> str:
    """Change one byte of the stored ciphertext (or store ``value``) behind the portal's back."""
    stored = _raw(patient.pk, column)
    if value is None:
        head, body = stored.rsplit(".", 1)
        value = f"{head}.{body[:-3]}{'A' if body[-3] != 'A' else 'B'}{body[-2:]}"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE consultations_patient SET {column} = %s WHERE id = %s", [value, patient.pk])  # noqa: S608
    return value


def _events():
    return list(AuditEvent.objects.filter(event_type="security.data_undecryptable").order_by("sequence"))


def test_jl_a2_a_tampered_number_shows_a_clear_chinese_page_and_is_recorded(world):
    consultation = world.sent()
    ciphertext = _tamper(consultation.patient, "phone")
    client = Client(raise_request_exception=False)
    client.force_login(world.clinician)
    response = client.get(reverse("consultations:detail", args=[consultation.pk]))
    page = response.content.decode()
    assert response.status_code == 409
    assert "此数据无法解密" in page and "已记录并通知安全管理员" in page and "JL-A2" in page
    assert ciphertext not in page
    [event] = _events()
    assert event.outcome == "failure" and event.actor_id == world.clinician.pk and event.channel == "web"
    assert event.object_type == "consultations.patient" and event.object_id == str(consultation.patient.pk)
    assert event.details["field"] == "phone" and event.details["record_ids"] == [str(consultation.patient.pk)]
    assert ciphertext not in str(event.details) and ciphertext.rsplit(".", 1)[1] not in str(event.details)


def test_jl_a2_the_api_answers_data_undecryptable_in_the_error_contract(world):
    patient = world.patient()
    _tamper(patient, "id_number")
    his = token_client(staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_undecryptable"))
    his.raise_request_exception = False
    for url in (f"/api/v1/patients/{patient.pk}/", "/api/v1/patients/"):
        body = assert_error(his.get(url), 409, "data_undecryptable")
        assert "无法解密" in body["message"] and "JL-A2" in body["message"]
        assert body["extra"] == {"object_type": "consultations.patient", "field": "id_number"}
    events = _events()
    assert len(events) == 2 and {e.channel for e in events} == {"api"}
    assert all(e.details["record_ids"] == [str(patient.pk)] and e.details["field"] == "id_number" for e in events)


def test_jl_a2_a_value_under_a_key_that_is_gone_is_refused_the_same_way(world, settings):
    patient = world.patient()
    # the same shape as a real value, but under a key id this deployment does not have
    stored = _raw(patient.pk, "phone")
    version, cipher, _key, body = stored.split(".")
    _tamper(patient, "phone", f"{version}.{cipher}.gone.{body}")
    client = Client(raise_request_exception=False)
    client.force_login(world.clinician)
    response = client.get(reverse("consultations:create"), {"q": "张三"})
    assert response.status_code == 409 and "此数据无法解密" in response.content.decode()
    [event] = _events()
    assert "'gone' is not configured" in event.details["reason"] and event.details["record_ids"] == [str(patient.pk)]


def test_jl_a2_an_undecryptable_value_still_raises_below_the_views(world):
    """Code outside a request (services, tasks, commands) still sees the error: nothing is read as garbage."""
    patient = world.patient()
    _tamper(patient, "phone")
    with pytest.raises(crypto.UndecryptableError) as caught:
        Patient.objects.get(pk=patient.pk)
    assert caught.value.field.column == "phone" and "JL-A2" in str(caught.value)


def test_jl_a2_the_security_administrators_are_told_once_a_day_per_record(world):
    """The page says the security administrator was told: each active one gets a notification."""
    from consultations.models import Notification
    from facilities.choices import AdminRole
    from tests.factories import administrator

    security = administrator(AdminRole.SECURITY, username="sec")
    auditor = administrator(AdminRole.AUDIT, username="aud")
    consultation = world.sent()
    _tamper(consultation.patient, "phone")
    client = Client(raise_request_exception=False)
    client.force_login(world.clinician)
    for _ in range(2):
        assert client.get(reverse("consultations:detail", args=[consultation.pk])).status_code == 409
    [notice] = Notification.objects.filter(user=security)
    assert notice.message_key == "security.data_undecryptable" and "phone" in notice.title
    assert not Notification.objects.filter(user=auditor).exists()
    assert len(_events()) == 2  # every refusal is on record; the notice is not repeated
