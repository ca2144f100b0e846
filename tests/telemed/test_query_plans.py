"""The indexes the lists and the case timeline need, read from PostgreSQL's plans (issue 11).

Each test turns sequential scans off for its transaction, so that the planner shows whether an index
*can* serve the query at all: with a handful of rows it would rightly scan, and a test that counted
on the planner's cost model at test size would prove nothing. A query written so that no index
matches it (the timeline's ``details -> 'consultation'`` against an index on ``->>``) still scans,
and the test fails. Timings are the benchmark's business, not these tests'.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.selectors import chain_length, responsibility_timelines
from consultations import selectors
from consultations.models import Notification
from facilities.choices import StaffRole
from tests.factories import regulator, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_seqscan(on_postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")


def _plan(queryset) -> str:
    return queryset.explain()


def test_jl_a1_the_case_timeline_reads_the_consultation_index(world, no_seqscan):
    consultation = world.sent()
    timeline = selectors.consultation_timeline(consultation=consultation)
    assert "audit_event_consultation_idx" in _plan(timeline)
    assert {e.event_type for e in timeline} >= {"consultation.send"}
    # What the timeline used to ask: ``details -> 'consultation'`` as jsonb, which the index on
    # ``->>`` cannot serve. Kept here so that this test shows it can fail.
    assert "audit_event_consultation_idx" not in _plan(AuditEvent.objects.filter(details__consultation=consultation.number))


def test_jl_a1_responsibility_timelines_read_the_consultation_index(world, no_seqscan):
    consultation = world.accepted_with_expert()
    with CaptureQueriesContext(connection) as queries:
        timelines = responsibility_timelines([consultation])
    assert timelines[consultation.pk], "the accepted case has its responsibility periods"
    (audit_query,) = [q["sql"] for q in queries.captured_queries if 'FROM "audit_auditevent"' in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + audit_query)
        assert "audit_event_consultation_idx" in "\n".join(row[0] for row in cursor.fetchall())


def test_jl_o1_a_regulators_violation_list_is_read_in_due_order_from_an_index(world, no_seqscan):
    city = regulator("220100", username="city")
    plan = _plan(selectors.violation_list(user=city)[:10])
    assert "violation_due_idx" in plan or "violation_facility_due_idx" in plan


@pytest.mark.parametrize("side", ["inviting", "invited"])
def test_the_work_lists_have_an_index_for_their_side_and_sort(world, no_seqscan, side):
    world.sent()
    user = world.coordinator if side == "inviting" else world.invited_coordinator
    plan = _plan(selectors.consultation_list(user=user, side=side)[:25])
    assert f"consult_{side}_created_idx" in plan or f"consult_{side}_state_idx" in plan


def test_a_provincial_list_is_read_newest_first_from_the_created_index(world, no_seqscan):
    province = regulator("220000", username="province")
    assert "consult_created_idx" in _plan(selectors.consultation_list(user=province)[:25])


def test_unread_notifications_are_counted_from_the_partial_index(world, no_seqscan):
    user = staff(world.inviting, StaffRole.COORDINATOR, username="reader")
    plan = _plan(Notification.objects.filter(user=user, read_at__isnull=True))
    assert "notification_unread_idx" in plan or "notification_user_created_idx" in plan


def test_jl_a1_the_chain_length_is_the_last_sequence_not_a_count(world):
    world.sent()
    assert chain_length() == AuditEvent.objects.count() == AuditEvent.objects.order_by("-sequence").first().sequence


@pytest.mark.parametrize("model", ["Facility", "Physician", "PracticeRegistration"])
def test_issue14_fhir_last_updated_searches_read_the_change_stamp_index(world, no_seqscan, model):
    """FHIR Organization, Practitioner, PractitionerRole: ``_lastUpdated=gt…`` in ``(updated_at, id)``
    order, as ``telemed.fhir.views`` asks it, is served by the ``(updated_at, id)`` index."""
    import datetime as dt

    from django.utils import timezone

    from facilities import models

    index = {"Facility": "facility_updated_idx", "Physician": "physician_updated_idx",
             "PracticeRegistration": "registration_updated_idx"}[model]
    since = timezone.now() - dt.timedelta(days=1)
    rows = getattr(models, model).objects.filter(updated_at__gte=since).order_by("updated_at", "pk")[:51]
    assert index in _plan(rows)
