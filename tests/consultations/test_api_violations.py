"""JL-C2 (art. 22), issue 14: ``/api/v1/violations/`` — the violations register over the API, the
same rows as the page: the facility's own and the division's for its regulators (JL-O1), another
facility's is a 404, anonymous is 401; lists and reads are logged (JL-C8) with a constant number
of queries. (No 403 case: reading is open to every signed-in user, narrowed by scope, as on the page.)"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consultations import services
from consultations.models import Violation
from facilities.choices import StaffRole
from tests.api_cases import assert_error, audit_write_queries, rows, token_client
from tests.factories import FacilityFactory, regulator, staff

API = "/api/v1/violations/"
pytestmark = pytest.mark.django_db


def missed(world, name: str = "王桂芝") -> Violation:
    obligation = services.obligation_open(actor=world.clinician, patient=world.patient(name=name), trigger="patient_request",
                                          event_at=timezone.now() - dt.timedelta(hours=30))
    services.obligation_sweep()
    return Violation.objects.get(obligation=obligation)


def test_jl_c2_facility_and_its_regulator_list_the_violation_and_the_list_is_logged(world):
    violation = missed(world)
    for user in (staff(world.inviting, StaffRole.PARTNER_SYSTEM), regulator("220100"), regulator("220000")):
        listed = rows(token_client(user).get(API))
        assert [v["id"] for v in listed] == [violation.pk]
        assert listed[0]["patient_name"] == "王桂芝" and listed[0]["rule"] == "JL-C2" and listed[0]["facility"] == world.inviting.pk
        assert "王桂芝" in listed[0]["text"]
        event = AuditEvent.objects.filter(event_type="record.list", actor_id=user.pk).get()
        assert event.object_type == "consultations.violation" and event.details["object_ids"] == [violation.pk]


def test_jl_c2_read_one_violation_is_logged_as_a_view_of_the_patient(world):
    violation = missed(world)
    user = staff(world.inviting, StaffRole.COORDINATOR, username="coord_api")
    response = token_client(user).get(f"{API}{violation.pk}/")
    assert response.status_code == 200 and response.json()["obligation"] == violation.obligation_id
    assert response["ETag"]
    event = AuditEvent.objects.filter(event_type="record.view", actor_id=user.pk).get()
    assert event.object_type == "consultations.violation" and event.object_id == str(violation.pk)


def test_jl_o1_another_facility_or_division_sees_nothing_and_gets_404(world):
    violation = missed(world)
    for outsider in (staff(FacilityFactory(name="白城市中心医院"), StaffRole.FACILITY_ADMIN), regulator("220200"),
                     staff(world.invited, StaffRole.COORDINATOR)):  # the invited side: not its violation
        client = token_client(outsider)
        assert rows(client.get(API)) == []
        assert_error(client.get(f"{API}{violation.pk}/"), 404, "not_found")


def test_jl_c2_anonymous_is_401(world):
    violation = missed(world)
    assert_error(token_client().get(API), 401, "not_authenticated")
    assert_error(token_client().get(f"{API}{violation.pk}/"), 401, "not_authenticated")


def test_jl_c2_violation_list_queries_do_not_grow(world, django_assert_max_num_queries):
    client, counts = token_client(regulator("220100")), []
    for names in (("甲",), ("乙", "丙", "丁", "戊")):
        for name in names:
            missed(world, name=name)
        # 8 on SQLite, 9 on PostgreSQL (15 before issue 11): the token, the scope (one query), the count
        # (the violations alone), the page and the access record in the tests' inline sequencer mode.
        with django_assert_max_num_queries(2 + audit_write_queries()) as captured:
            assert rows(client.get(API))
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], counts
