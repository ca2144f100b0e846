"""JL-A2 (GB/T 22239-2019 8.1.4.8, GB/T 39786-2021): patients' identity and phone numbers encrypted at rest.

The table holds ciphertext and keyed blind indexes; Python code, search by the full number, and the
masking of JL-C9 work as before; ``manage.py rotate_data_key`` moves rows to a new key in resumable
batches.
"""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from consultations.models import Patient
from facilities.choices import StaffRole
from telemed import crypto
from tests.api_cases import rows, token_client
from tests.factories import staff

ID, PHONE = "220102196005011234", "13812341234"
OLD = crypto.DataKey("old", bytes(range(32)))
NEW = crypto.DataKey("new", bytes(range(32, 64)))


@pytest.fixture(params=["aes-256-gcm", "sm4-gcm"])
def cipher(request, settings):
    settings.TELEMED_DATA_CIPHER = request.param
    return request.param


def raw_table() -> str:
    """Every cell of consultations_patient as the database returns it, no model in between."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM consultations_patient")  # noqa: S608 - fixed statement
        return "\n".join(" ".join(str(cell) for cell in row) for row in cursor.fetchall())


def raw_numbers(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, phone FROM consultations_patient WHERE id = %s", [pk])
        return cursor.fetchone()


def test_jl_a2_the_raw_table_holds_no_identity_or_phone_number(world, cipher):
    patient = world.patient(id_number=ID, phone=PHONE)
    table = raw_table()
    assert patient.name in table  # the read works: the name is not a number and is stored plain
    # Only the identity number's last four characters are kept in the clear (Patient.id_last4, for the
    # JL-C9 search; the masked number shows them anyway).
    assert ID not in table and PHONE not in table and ID[-8:] not in table and PHONE[-8:] not in table
    stored_id, stored_phone = raw_numbers(patient.pk)
    assert stored_id.startswith(f"v1.{crypto.CIPHERS[cipher]}.") and stored_phone.startswith(f"v1.{crypto.CIPHERS[cipher]}.")
    # In Python the numbers are plain, as before.
    fresh = Patient.objects.get(pk=patient.pk)
    assert (fresh.id_number, fresh.phone) == (ID, PHONE)


def test_jl_a2_an_equality_filter_on_the_ciphertext_is_refused_loudly(world):
    with pytest.raises(FieldError):
        Patient.objects.filter(id_number=ID).exists()
    assert Patient.objects.filter(Patient.objects.number_q(ID)).count() == 0
    patient = world.patient()
    assert list(Patient.objects.filter(Patient.objects.number_q(ID))) == [patient]
    assert list(Patient.objects.filter(Patient.objects.number_q(PHONE))) == [patient]


def test_jl_a2_a_row_changed_in_the_database_is_refused(world):
    patient, other = world.patient(), world.patient(name="李四", id_number="22010219700101567X", phone="13900001111")
    moved, _ = raw_numbers(other.pk)
    with connection.cursor() as cursor:  # another patient's ciphertext pasted into this row's phone
        cursor.execute("UPDATE consultations_patient SET phone = %s WHERE id = %s", [moved, patient.pk])
    with pytest.raises(crypto.UndecryptableError, match="JL-A2"):
        Patient.objects.get(pk=patient.pk)


def test_jl_a2_jl_c9_search_by_the_full_number_still_finds_the_patient_page_and_api(client, world, cipher):
    patient = world.patient(id_number=ID, phone=PHONE)
    world.patient(name="孙七", id_number="22010219700101567X", phone="13900001111")
    client.force_login(world.clinician)

    def page(term: str) -> list[int]:
        response = client.get(reverse("consultations:create"), {"q": term})
        assert response.status_code == 200
        return [p.pk for p in response.context["patients"]]

    assert page(ID) == [patient.pk] and page(PHONE) == [patient.pk] and page(ID.lower()) == [patient.pk]
    assert page(ID[:10]) == [] and page(PHONE[-4:]) == []
    body = client.get(reverse("consultations:create"), {"q": ID}).content.decode()
    assert "220***********1234" in body  # the result is masked (JL-C9)

    his = token_client(staff(world.inviting, StaffRole.PARTNER_SYSTEM, username="his_crypto"))

    def api(term: str) -> list[dict]:
        return rows(his.get("/api/v1/patients/", {"search": term}))

    found = api(ID)
    assert [p["id"] for p in found] == [patient.pk]
    assert found[0]["id_number"] == "220***********1234" and found[0]["phone"] == "138****1234"  # JL-C9 unchanged
    assert [p["id"] for p in api(PHONE)] == [patient.pk]
    assert [p["id"] for p in api("22010219700101567x")] != [] and api(ID[:10]) == [] and api("1234") == []
    assert [p["id"] for p in api("张三")] == [patient.pk]


def test_jl_a2_the_migration_encrypts_rows_stored_in_plain(world, settings):
    patient = world.patient()
    with connection.cursor() as cursor:  # as the row was before migration 0007
        cursor.execute(
            "UPDATE consultations_patient SET id_number = %s, phone = %s, id_number_index = '', phone_index = '' WHERE id = %s",
            [ID, PHONE, patient.pk],
        )
    migration = importlib.import_module("consultations.migrations.0007_patient_numbers_encrypted")
    migration.encrypt_existing(apps, None)
    assert ID not in raw_table() and PHONE not in raw_table()
    assert (Patient.objects.get(pk=patient.pk).id_number, Patient.objects.get(pk=patient.pk).phone) == (ID, PHONE)
    assert list(Patient.objects.filter(Patient.objects.number_q(ID))) == [patient]
    migration.decrypt_existing(apps, None)  # going back leaves plain values
    assert raw_numbers(patient.pk) == (ID, PHONE)


def test_jl_a2_rotate_data_key_re_encrypts_everything_in_resumable_batches(world, settings, cipher):
    settings.TELEMED_DATA_KEYS = (OLD,)
    patients = [world.patient(name=f"患者{n}", id_number=f"2201021960050112{n:02d}", phone=f"138123412{n:02d}")
                for n in range(5)]
    patients.append(world.patient(name="无号码", id_number="", phone=""))
    settings.TELEMED_DATA_KEYS = (NEW, OLD)
    assert Patient.objects.on_old_data_key().count() == 5  # the one without numbers has nothing to rotate
    before = AuditEvent.objects.filter(event_type="security.data_key_rotate").count()

    # Batches of two, stopped after one batch: as if the run were interrupted.
    out = StringIO()
    call_command("rotate_data_key", "--batch-size", "2", "--max-batches", "1", stdout=out)
    assert "remaining 3" in out.getvalue() and "paused" in out.getvalue()
    assert Patient.objects.on_old_data_key().count() == 3
    # Mid-rotation, rows on either key are found by their full number.
    for patient in patients[:5]:
        assert list(Patient.objects.filter(Patient.objects.number_q(patient.id_number))) == [patient]

    out = StringIO()
    call_command("rotate_data_key", "--batch-size", "2", stdout=out)  # run again: it continues
    assert "remaining 0" in out.getvalue() and "done" in out.getvalue()
    assert Patient.objects.on_old_data_key().count() == 0
    for patient in patients[:5]:
        stored_id, stored_phone = raw_numbers(patient.pk)
        assert crypto.key_id_of(stored_id) == "new" and crypto.key_id_of(stored_phone) == "new"

    # The old key can go: everything still reads and is still found.
    settings.TELEMED_DATA_KEYS = (NEW,)
    for patient in patients[:5]:
        fresh = Patient.objects.get(pk=patient.pk)
        assert (fresh.id_number, fresh.phone) == (patient.id_number, patient.phone)
        assert list(Patient.objects.filter(Patient.objects.number_q(patient.phone))) == [patient]
    events = AuditEvent.objects.filter(event_type="security.data_key_rotate", object_type="consultations.patient").order_by("sequence")[before:]
    assert [e.details["rows"] for e in events] == [2, 2, 1]
    assert events[2].details["remaining"] == 0 and events[0].details["key_id"] == "new"
    assert ID not in str([e.details for e in events])

    out = StringIO()
    call_command("rotate_data_key", stdout=out)  # nothing left: no batch, no event
    assert "done" in out.getvalue()
    assert AuditEvent.objects.filter(event_type="security.data_key_rotate").count() == before + 3


def test_jl_a2_rotate_data_key_moves_rows_to_a_new_cipher(world, settings):
    settings.TELEMED_DATA_KEYS = (NEW,)
    settings.TELEMED_DATA_CIPHER = "aes-256-gcm"
    patient = world.patient()
    settings.TELEMED_DATA_CIPHER = "sm4-gcm"
    assert list(Patient.objects.filter(Patient.objects.number_q(ID))) == [patient]  # found before rotation
    call_command("rotate_data_key", stdout=StringIO())
    assert raw_numbers(patient.pk)[0].startswith("v1.SM4G.new.")
    assert list(Patient.objects.filter(Patient.objects.number_q(ID))) == [patient]
    assert Patient.objects.get(pk=patient.pk).id_number == ID
