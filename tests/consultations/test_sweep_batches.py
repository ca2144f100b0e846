"""JL-C2 (art. 22) at province scale (issue 11): the sweep records missed deadlines in batches —
one claim, bulk violations, the audit events under one chain lock, the notices in bulk — with the
same rows, texts and events as one by one, a query count that does not grow with the batch, and
each obligation violated once when two sweeps run at once (PostgreSQL)."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.choices import EventType, Outcome
from audit.models import AuditEvent
from audit.services import audit_chain_verify
from consultations import services
from consultations.choices import ObligationState, TriggerKind
from consultations.models import VIOLATION_UPLOAD_MISSED, Notification, Obligation, Violation


def open_obligations(world, n: int) -> list[Obligation]:
    patient = world.patient()
    return [
        services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                 event_at=timezone.now() - dt.timedelta(hours=1))
        for _ in range(n)
    ]


def sweep_later(**kwargs):
    with time_machine.travel(timezone.now() + dt.timedelta(days=2), tick=False), CaptureQueriesContext(connection) as queries:
        report = services.obligation_sweep(**kwargs)
    return report, len(queries)


@pytest.mark.django_db
@pytest.mark.frozen_at("2026-11-27T12:00:00+08:00")
def test_jl_c2_sweep_writes_per_batch_what_it_wrote_per_row(world):
    """JL-C2: every missed obligation gets one violation (message key), one ``obligation.violated``
    failure event with the same details, and its notice to the coordinators and administrators."""
    obligations = open_obligations(world, 4)
    report, _ = sweep_later(batch_size=3)
    assert report.violated == 4
    assert Obligation.objects.filter(state=ObligationState.VIOLATED).count() == 4
    for obligation in obligations:
        violation = Violation.objects.get(obligation=obligation)
        assert (violation.rule, violation.message_key, violation.due_at) == ("JL-C2", VIOLATION_UPLOAD_MISSED, obligation.due_at)
        event = AuditEvent.objects.get(event_type=EventType.OBLIGATION_VIOLATED, object_id=str(violation.pk))
        assert event.outcome == Outcome.FAILURE
        assert event.object_type == "consultations.violation"
        assert event.facility_ids == [obligation.facility_id]
        assert event.details["obligation_id"] == obligation.pk
        assert event.details["rule"] == "JL-C2"
        assert Notification.objects.filter(dedupe_key=f"obligation:{obligation.pk}:violated").exists()
    assert audit_chain_verify().intact
    again, _ = sweep_later(batch_size=3)
    assert again.violated == 0
    assert Violation.objects.count() == 4


@pytest.mark.django_db
@pytest.mark.frozen_at("2026-11-27T12:00:00+08:00")
def test_jl_c2_sweep_queries_are_constant_per_batch_not_per_row(world):
    """Issue 11: 2 or 12 due obligations in one batch cost the same queries; 12 in batches of 4
    cost three batches' worth, not twelve rows' worth."""
    open_obligations(world, 2)
    small, small_queries = sweep_later(batch_size=50)
    assert small.violated == 2
    open_obligations(world, 12)
    large, large_queries = sweep_later(batch_size=50)
    assert large.violated == 12
    assert large_queries == small_queries
    assert large_queries <= 30
    open_obligations(world, 12)
    batched, batched_queries = sweep_later(batch_size=4)
    assert batched.violated == 12
    assert batched_queries <= 3 * large_queries + 3


def _sweep_in_thread(barrier, results, errors):
    try:
        barrier.wait(timeout=30)
        with time_machine.travel(timezone.now() + dt.timedelta(days=2), tick=False):
            results.append(services.obligation_sweep(batch_size=3).violated)
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(error)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.frozen_at("2026-11-27T12:00:00+08:00")
def test_jl_c2_two_sweeps_at_once_violate_each_obligation_once(world):
    """JL-C2: two sweeps running at the same time (two workers) record each missed deadline once,
    with one event and one notice per recipient each; the chain stays whole."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks with SKIP LOCKED): set DATABASE_URL")
    obligations = open_obligations(world, 10)
    barrier, results, errors = threading.Barrier(2), [], []
    threads = [threading.Thread(target=_sweep_in_thread, args=(barrier, results, errors)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sum(results) == 10
    assert Violation.objects.count() == 10
    assert AuditEvent.objects.filter(event_type=EventType.OBLIGATION_VIOLATED).count() == 10
    for obligation in obligations:
        keys = Notification.objects.filter(dedupe_key=f"obligation:{obligation.pk}:violated")
        assert keys.count() == keys.values("user_id").distinct().count() >= 1
    assert audit_chain_verify().intact
