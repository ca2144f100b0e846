"""Issue 14: the facilities and physicians lists' sync mode (``?updated_since=``, ``telemed.pagination``)
over the change stamp ``updated_at`` — additive: page numbers stay the default."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from facilities import services
from facilities.choices import StaffRole, SuspensionCause
from telemed.pagination import SETTLE
from tests.api_cases import token_client
from tests.factories import regulator, staff

API = "/api/v1"
pytestmark = pytest.mark.django_db


def sync(client, url: str, **params) -> list[int]:
    response = client.get(url, params)
    ids = []
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body and "next_updated_since" in body
        ids += [row["id"] for row in body["results"]]
        if body["next"] is None:
            return ids
        response = client.get(body["next"])


def test_updated_since_lists_the_facilities_and_physicians_changed_after_jl_f5_p6(world, django_assert_max_num_queries):
    client = token_client(regulator("220100"))
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    registration = world.expert_physician.registrations.get(facility=world.invited)
    since = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=False):
        services.suspension_report(actor=admin, facility=world.invited, cause=SuspensionCause.QUALITY_RISK, description="CT 设备故障")
        services.registration_revoke_authorisation(actor=admin, registration=registration)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=3) + SETTLE, tick=False):
        assert sync(client, f"{API}/facilities/", updated_since=since) == [world.invited.pk]
        assert sorted(sync(client, f"{API}/facilities/", pagination="cursor", page_size=1)) == sorted([world.inviting.pk, world.invited.pk])
        with django_assert_max_num_queries(8):
            assert sync(client, f"{API}/physicians/", updated_since=since) == [world.expert_physician.pk]
        body = client.get(f"{API}/physicians/{world.expert_physician.pk}/").json()
        assert body["updated_at"] and body["registrations"][0]["authorised"] is False
        # Page numbers stay the default; the assessment file keeps them even when asked for a sync.
        assert client.get(f"{API}/facilities/").json()["count"] == 2
        entries = client.get(f"{API}/physicians/{world.expert_physician.pk}/assessment-entries/", {"updated_since": since})
        assert entries.status_code == 200 and "count" in entries.json()
