"""JL-A1, issue 11: the verifier reads raw rows and hashes exactly the bytes the writer hashed.

The walk (``rules.verify_chain_rows`` over ``services.chained_rows``) takes shortcuts for speed: the
JSON columns decoded by the C scanner, the canonical text through a prebuilt encoder and a written-out
template, the time as ``to_char`` text on PostgreSQL, SM3 through OpenSSL when it has it. Each
shortcut is compared here with the plain function it stands for, on awkward values, so that a chain
written before still verifies and a changed value still fails.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes
from django.db import connection

from audit import rules, services
from audit.choices import EventType
from audit.models import AuditEvent
from audit.services import audit_chain_sequence, audit_chain_verify, audit_event_append
from telemed.context import use_context

AWKWARD = [
    {"b": 1, "a": [1, 2.5, -0.0, 1e300, 2**70, True, False, None], "名": "值", "A": {"z": {}, "y": []}},
    {"text": 'quote " backslash \\ slash / tab \t newline \n nul \x00 bell \x07 del \x7f'},
    {"unicode": "\u2028\u2029 😀 é 中文", "": "empty key", "10": 1, "9": 2},
    {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")},
    [], {}, "just text", 0, None, [{"k": [{"j": "v"}]}],
]


@pytest.mark.parametrize("value", AWKWARD, ids=range(len(AWKWARD)))
def test_jl_a1_the_prebuilt_canonical_encoder_writes_what_the_encoder_writes(value):
    assert rules.canonical_text(value) == rules._CANONICAL_JSON.encode(value)


def test_jl_a1_every_chain_hash_algorithm_has_a_one_shot_function_giving_the_same_digest():
    assert set(rules._ONE_SHOT) == set(rules.HASH_ALGORITHMS)
    data = b"telemed-audit-leaf/1\n{\"a\":1}"
    for name, algorithm in rules.HASH_ALGORITHMS.items():
        reference = hashes.Hash(algorithm())
        reference.update(data)
        assert rules._ONE_SHOT[name](data).hexdigest() == reference.finalize().hex()


def _events(algorithm: str = "sha256") -> list[dict]:
    """A chain of issue-11 events with the awkward values in every kind of field."""
    start = dt.datetime(2026, 12, 7, 1, 2, 3, tzinfo=dt.UTC)
    events, prev = [], rules.GENESIS_HASH
    for i, details in enumerate([d for d in AWKWARD if isinstance(d, dict) and "nan" not in d] * 2, start=1):
        fields = {
            "occurred_at": start + dt.timedelta(microseconds=999_999 * (i % 3)), "actor_id": None if i % 2 else i,
            "actor_label": f"医生 \"{i}\"\n", "acting_facility_id": i if i % 3 else None, "acting_division_code": "220100",
            "ip_address": None if i % 4 == 0 else ("::1" if i % 2 else "10.1.2.3"), "request_id": f"req-{i}",
            "channel": "web", "event_type": "record.view", "object_type": "consultations.consultation",
            "object_id": str(i), "facility_ids": [] if i % 2 else [3, 17], "outcome": "success", "details": details,
        }
        leaf = rules.leaf_hash(fields, algorithm)
        link = rules.link_hash(prev, i, leaf, algorithm)
        events.append({"sequence": i, **fields, "hash_algorithm": algorithm, "leaf_hash": leaf, "prev_hash": prev, "hash": link})
        prev = link
    return events


def _as_stored(event: dict) -> tuple:
    """An event as PostgreSQL gives it to the walk: JSON as jsonb's text (its own key order and
    spacing), the time as its canonical text."""
    row = list(rules._mapping_row(event))
    row[1] = rules.timestamp_text(event["occurred_at"])
    for index, name in ((12, "facility_ids"), (14, "details")):
        value = event[name]
        row[index] = json.dumps(dict(sorted(value.items(), key=lambda kv: (len(kv[0]), kv[0]))) if isinstance(value, dict) else value,
                                ensure_ascii=False)
    return tuple(row)


@pytest.mark.parametrize("algorithm", ["sha256", "sm3"])
def test_jl_a1_the_written_out_walk_verifies_a_chain_hashed_by_the_writers_functions(algorithm):
    events = _events(algorithm)
    assert rules.verify_chain(events).intact and rules.verify_chain(events).checked == len(events)
    report = rules.verify_chain_rows(_as_stored(e) for e in events)
    assert report.intact and report.checked == len(events)


@pytest.mark.parametrize("field, value", [
    ("actor_label", "医生"), ("actor_id", 99), ("acting_facility_id", 5), ("ip_address", "10.9.9.9"),
    ("details", {"n": 1}), ("facility_ids", [3]), ("occurred_at", dt.datetime(2026, 12, 7, 1, 2, 4, tzinfo=dt.UTC)),
    ("outcome", "failure"), ("object_id", "x"),
])
def test_jl_a1_the_written_out_walk_names_the_first_changed_event(field, value):
    events = _events()
    events[3][field] = value
    report = rules.verify_chain_rows(_as_stored(e) for e in events)
    assert (report.intact, report.broken_sequence, report.checked, report.problem) == (False, 4, 3, rules.CONTENT_CHANGED)


def test_jl_a1_a_value_of_another_type_than_its_column_fails_like_changed_content():
    """SQLite keeps whatever is written: an id stored as text, or a number where text is kept, takes
    the generic way (no template) and fails, as the ORM's values would have."""
    rows = [_as_stored(e) for e in _events()]
    assert rows[1][2] == 2  # actor_id
    rows[1] = (*rows[1][:2], "2", *rows[1][3:])
    assert rules.verify_chain_rows(rows).broken_sequence == 2
    rows = [_as_stored(e) for e in _events()]
    rows[4] = (*rows[4][:3], 5, *rows[4][4:])  # actor_label
    assert rules.verify_chain_rows(rows).broken_sequence == 5


def test_jl_a1_json_text_that_is_not_json_is_read_as_text_as_django_reads_it():
    assert rules.json_column('{"a": 1}') == {"a": 1}
    assert rules.json_column("not json") == "not json"
    assert rules._json_fast(' {"a": 1} ') == {"a": 1} and rules._json_fast('{"a": 1} x') == '{"a": 1} x'
    assert rules.json_column(None) is None


@pytest.mark.django_db
@pytest.mark.parametrize("moment", [
    dt.datetime(2026, 12, 7, 5, 0, 0, tzinfo=dt.UTC),  # no microseconds: SQLite stores no fraction
    dt.datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),  # the last microsecond of a Beijing year's day
    dt.datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
])
def test_jl_a1_the_raw_rows_carry_exactly_the_content_the_writer_hashed(moment):
    """The walk's own reading of each stored row (``to_char`` time on PostgreSQL, the JSON columns'
    text) gives the canonical content byte for byte as the ORM's values of the same row."""
    with time_machine.travel(moment, tick=False), use_context(request_id="req-1", ip_address="2001:db8::1", channel="web"):
        # (numbers that jsonb would not give back as written, 1e300 or -0.0, are left out: no writer sends them)
        for details in [{"b": 1, "a": [1, 2.5, True, False, None], "名": "值", "A": {"z": {}, "y": []}}, *AWKWARD[1:3], {}]:
            audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, object_type="t", object_id=1,
                               acting_facility_id=7, facility_ids=[9, 2], details=details)
        audit_chain_sequence()
        orm = {row["sequence"]: row for row in AuditEvent.objects.filter(sequence__isnull=False).values(*rules.VERIFIED_FIELDS)}
        timestamp = services._stored_timestamp()
        raw = list(services.chained_rows())
        assert [row[0] for row in raw] == sorted(orm)
        for row in raw:
            expected = orm[row[0]]
            assert rules.canonical_text(rules.row_content(row, timestamp=timestamp)).encode("utf-8") == rules.leaf_content(expected)
            if connection.vendor == "postgresql":
                assert row[1] == rules.timestamp_text(expected["occurred_at"])  # to_char gives the same text
        report = audit_chain_verify()
        assert report.intact and report.checked == len(orm)


@pytest.mark.django_db
def test_jl_a1_a_broken_walk_closes_its_reader_and_the_connection_goes_on():
    with time_machine.travel(dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC), tick=False):
        events = [audit_event_append(actor=None, event_type=EventType.AUDIT_LOG_READ, details={"n": i}) for i in range(12)]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = replica")  # bypass the trigger
            cursor.execute("UPDATE audit_auditevent SET outcome = 'failure' WHERE id = %s", [events[4].pk])
        report = audit_chain_verify(chunk_size=3)
        assert (report.intact, report.broken_sequence, report.checked) == (False, events[4].sequence, events[4].sequence - 1)
        assert AuditEvent.objects.count() == 12
