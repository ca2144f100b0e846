"""JL-A1 (issue 11): ``audit_events_append_many`` appends a batch under one chain lock with every
property of ``audit_event_append``: checked types, cleaned details, consecutive sequences, each
hash over its fields and the previous hash with its recorded ``hash_algorithm``."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import rules
from audit.choices import EventType
from audit.models import AuditEvent
from audit.services import audit_chain_verify, audit_event_append, audit_events_append_many

pytestmark = pytest.mark.django_db


def test_jl_a1_append_many_chains_in_order_with_the_hash_algorithm():
    first = audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, object_type="t", object_id=1)
    events = audit_events_append_many([
        {"actor": None, "event_type": EventType.RECORD_VIEW, "object_type": "t", "object_id": n,
         "facility_ids": [3, 1, 3], "details": {"n": n, "text": "a\u200bb"}}
        for n in range(2, 6)
    ])
    rows = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in rows] == [first.sequence + i for i in range(5)]
    for prev, event in zip(rows, rows[1:], strict=False):
        assert event.prev_hash == prev.hash
        assert event.hash_algorithm == first.hash_algorithm
        assert event.hash_algorithm in rules.HASH_ALGORITHMS
    assert events[0].facility_ids == [1, 3]
    assert events[0].details["text"] == "ab"  # cleaned as one append cleans it
    assert audit_chain_verify().intact  # recomputes every hash with its recorded algorithm


def test_jl_a1_append_many_refuses_an_unknown_type_before_writing():
    with pytest.raises(ValueError):
        audit_events_append_many([{"actor": None, "event_type": EventType.RECORD_VIEW},
                                  {"actor": None, "event_type": "no.such.event"}])
    assert AuditEvent.objects.count() == 0


def test_jl_a1_append_many_queries_do_not_grow_with_the_batch():
    def count(n):
        with CaptureQueriesContext(connection) as queries:
            audit_events_append_many([{"actor": None, "event_type": EventType.RECORD_VIEW, "object_type": "t", "object_id": i}
                                      for i in range(n)])
        return len(queries)

    assert count(2) == count(40)
