"""Issue 11: ``GET /api/v1/consultations/`` builds its rows directly (``ConsultationListRows``) from plain
named tuples. They must be the plain ``ConsultationListSerializer`` output, byte for byte, for every
kind of row (a draft's empty times, a sealed record, an imaging case, Chinese text with quotes), in
both languages and in any time zone — and the JL-C8 access record must name the same rows.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from rest_framework.renderers import JSONRenderer

from audit import records
from audit.models import AuditEvent
from consultations import selectors
from consultations.api.serializers import (
    ConsultationDetailSerializer,
    ConsultationListRows,
    ConsultationListSerializer,
)
from consultations.models import Consultation
from facilities.choices import StaffRole
from tests.api_cases import token_client
from tests.factories import staff

pytestmark = pytest.mark.django_db

PARTIES = dict(inviting_party_name="王主任", inviting_party_role="医务科科长", invited_party_name="张某", invited_party_role="患者之子")


@pytest.fixture
def varied(world):
    """A draft (no times at all, a name with quotes and markup), an urgent imaging draft with a requested
    time, a sent case with a duty gap, an accepted case with its expert, a sealed case."""
    world.draft(patient=world.patient(name='欧阳"小明"<b>\'秀\'</b>'))
    world.draft(service="imaging", urgency="urgent", requested_time=timezone.now() + dt.timedelta(days=1, minutes=7))
    gap = world.sent()
    Consultation.objects.filter(pk=gap.pk).update(duty_gap_flag=True)
    world.accepted_with_expert()
    sealed = world.sent()
    records.seal_create(actor=world.coordinator, consultation=sealed, reason="医疗纠纷", **PARTIES)
    return world


def plain(user) -> list:
    """DRF's own output: the model serializer, row by row, on model instances."""
    return [ConsultationListSerializer(c).data for c in selectors.consultation_list(user=user)]


def fast(user) -> list:
    rows = ConsultationListRows.rows(selectors.consultation_list(user=user, suspension_flags=False))
    return ConsultationListSerializer(rows, many=True).data


def rendered(data) -> bytes:
    return JSONRenderer().render(data)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "America/St_Johns"])
def test_the_rows_are_the_plain_serializers_output(varied, language, zone):
    with translation.override(language), timezone.override(zone):
        expected, got = plain(varied.coordinator), fast(varied.coordinator)
    assert len(expected) == 5
    assert rendered(got) == rendered(expected)
    assert [list(row) for row in got] == [list(row) for row in expected]  # the same keys in the same order
    # The fixture covers what it says: empty and set times, both flags, a modality, two urgencies.
    assert {row["requested_time"] is None for row in got} == {True, False}
    assert {row["sent_at"] is None for row in got} == {True, False}
    assert {row["duty_gap_flag"] for row in got} == {True, False}
    assert {row["modality"] for row in got} == {"", "radiology"} and {row["urgency"] for row in got} == {"routine", "urgent"}
    if zone == "UTC":
        assert got[0]["created_at"].endswith("Z")
    if language == "en":
        assert {row["state_label"] for row in got} != {row["state_label"] for row in fast(varied.coordinator)}


def test_model_instances_and_the_detail_serializer_take_the_plain_path(varied):
    instances = list(selectors.consultation_list(user=varied.coordinator))
    assert rendered(ConsultationListSerializer(instances, many=True).data) == rendered(plain(varied.coordinator))
    detail = ConsultationDetailSerializer(instances, many=True).data
    assert "case_summary" in detail[0] and "inviting_suspended" not in detail[0]


def test_the_api_list_answers_the_plain_rows_and_logs_the_same_access(varied):
    partner = staff(varied.inviting, StaffRole.PARTNER_SYSTEM, username="his_rows")
    client = token_client(partner)
    instances = list(selectors.consultation_list(user=partner))
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/consultations/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5 and body["results"] == [dict(row) for row in plain(partner)]
    event = AuditEvent.objects.filter(event_type="record.list").latest("sequence")
    assert event.actor_id == partner.pk and event.object_type == "consultations.consultation"
    assert event.details["object_ids"] == [c.pk for c in instances]
    assert event.details["patient_ids"] == sorted({c.patient_id for c in instances})
    assert event.facility_ids == sorted({fid for c in instances for fid in (c.inviting_id, c.invited_id)})
    # The page's COUNT reads the consultations alone: the joins only read the columns shown.
    [count] = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"]]
    assert 'JOIN "facilities_facility"' not in count and 'JOIN "consultations_patient"' not in count


def test_the_sync_cursor_reads_the_same_rows(varied):
    """Issue 14's cursor mode pages the same rows (it reads ``updated_at`` and ``pk`` of the last)."""
    partner = staff(varied.inviting, StaffRole.PARTNER_SYSTEM, username="his_sync")
    client = token_client(partner)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5), tick=False):  # past the window's settling time
        first = client.get("/api/v1/consultations/?pagination=cursor&page_size=2").json()
        ids = [row["id"] for row in first["results"]]
        following = first["next"]
        while following:
            page = client.get(following).json()
            ids += [row["id"] for row in page["results"]]
            following = page["next"]
    assert sorted(ids) == sorted(c.pk for c in selectors.consultation_list(user=partner))
    assert len(ids) == len(set(ids)) == 5
