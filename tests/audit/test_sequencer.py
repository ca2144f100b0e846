"""JL-A1, issue 11: lock-free appends, chained later by one sequencer.

Writers insert an event with the hash of its content (``leaf_hash``) and no place in the chain; the
sequencer (``audit_chain_sequence``) gives committed events the next sequences and links in batches.
Each property the design promises has a test here: durability at commit, one total order (no fork,
also with two sequencers at once on PostgreSQL), detection of modification, deletion, insertion and
reordering naming the first bad event, checkpoints over the chained prefix only, and the access log
(JL-C8) through the same lock-free path.
"""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.urls import reverse

from audit import fhir, rules, services
from audit.choices import EventType
from audit.models import AuditEvent
from audit.selectors import chain_length, pending_count
from audit.services import (
    audit_chain_sequence,
    audit_chain_verify,
    audit_event_append,
    audit_events_append_many,
)


@pytest.fixture
def worker_mode(settings):
    """The production mode on PostgreSQL: appends leave events for the worker's sequencer."""
    settings.TELEMED_AUDIT_SEQUENCER = "worker"
    with mock.patch("audit.tasks.audit_chain_sequence_task.apply_async") as nudge:
        yield nudge


def append(n: int, **details):
    return [audit_event_append(actor=None, event_type=EventType.AUDIT_LOG_READ, details={"n": i, **details}) for i in range(n)]


def raw(sql: str, params=()):
    """Change rows behind the ORM's back, as an attacker with database access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # bypass the trigger
        cursor.execute(sql, params)


# --- pure arithmetic ---------------------------------------------------------------------------


def test_jl_a1_links_chain_leaves_in_order_and_reordering_changes_every_later_link():
    leaves = [(10, "a" * 64, "sha256"), (11, "b" * 64, "sm3"), (12, "c" * 64, "sha256")]
    links = rules.chain_links(leaves, head_sequence=4, head_hash="f" * 64)
    assert [(link.id, link.sequence) for link in links] == [(10, 5), (11, 6), (12, 7)]
    assert links[0].prev_hash == "f" * 64 and links[1].prev_hash == links[0].hash and links[2].prev_hash == links[1].hash
    assert links[1].hash == rules.link_hash(links[0].hash, 6, "b" * 64, "sm3")
    swapped = rules.chain_links([leaves[1], leaves[0], leaves[2]], head_sequence=4, head_hash="f" * 64)
    assert {link.hash for link in swapped}.isdisjoint(link.hash for link in links)


def test_jl_a1_a_leaf_is_never_a_link():
    """Leaf and link hashes are computed with different prefixes (as RFC 9162 separates leaves from
    nodes), so the same bytes never give the same hash in both roles."""
    import datetime as dt

    fields = dict.fromkeys(rules.HASHED_FIELDS, "")
    fields.update(occurred_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC), facility_ids=[], details={})
    assert rules.leaf_hash(fields) != rules.leaf_hash(fields, "sm3")
    assert rules.link_hash("0" * 64, 1, rules.leaf_hash(fields)) != rules.leaf_hash(fields)


# --- durability and order ----------------------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_an_append_takes_no_lock_and_is_chained_by_the_sequencer(worker_mode):
    with mock.patch.object(services, "_lock_chain", wraps=services._lock_chain) as lock:
        events = append(3)
        assert lock.call_count == 0  # the writer never waits for the chain
    stored = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id"))
    assert all(e.sequence is None and e.hash is None and e.prev_hash is None and len(e.leaf_hash) == 64 for e in stored)
    assert (chain_length(), pending_count()) == (0, 3)
    report = audit_chain_verify()
    assert report.intact and report.pending == 3 and "3 条事件待入链" in report.text

    links = audit_chain_sequence()
    assert [link.id for link in links] == [e.pk for e in events]  # by id: the order they were written
    stored = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("sequence"))
    assert [e.sequence for e in stored] == [1, 2, 3] and stored[0].prev_hash == rules.GENESIS_HASH
    assert all(e.sequenced_at is not None for e in stored)
    assert (chain_length(), pending_count()) == (3, 0)
    report = audit_chain_verify()
    assert report.intact and report.checked == 3 and report.pending == 0
    assert audit_chain_sequence() == []  # nothing left: a second run is harmless


@pytest.mark.django_db
def test_jl_a1_a_rolled_back_writer_leaves_nothing(worker_mode):
    with pytest.raises(RuntimeError), transaction.atomic():
        append(2)
        raise RuntimeError("the act fails")
    assert AuditEvent.objects.count() == 0
    assert audit_chain_sequence() == []


@pytest.mark.django_db
def test_jl_a1_a_sequencer_crash_mid_batch_loses_nothing(worker_mode):
    """The batch's UPDATE runs, then the sequencer dies before its commit: the batch is unchained,
    every event still there, and the next run chains them from the same head."""
    events = append(5)
    real = services._write_links

    def crash(links, sequenced_at):
        real(links, sequenced_at)
        raise SystemExit("worker killed")

    # The worker runs each batch in a transaction of its own; here the test's transaction holds it, so a
    # savepoint stands for it.
    with mock.patch.object(services, "_write_links", crash), pytest.raises(SystemExit), transaction.atomic():
        audit_chain_sequence(batch_size=3)
    assert (AuditEvent.objects.count(), pending_count(), chain_length()) == (5, 5, 0)
    links = audit_chain_sequence(batch_size=3)  # two batches: 3 and 2
    assert [link.sequence for link in links] == [1, 2, 3, 4, 5] and [link.id for link in links] == [e.pk for e in events]
    assert audit_chain_verify().intact


@pytest.mark.django_db
def test_jl_a1_many_appended_in_one_insert_are_chained_in_their_order(worker_mode):
    created = audit_events_append_many([
        {"actor": None, "event_type": EventType.AUDIT_LOG_READ, "details": {"k": k}} for k in range(4)])
    assert all(e.sequence is None and e.leaf_hash for e in created)
    audit_chain_sequence(batch_size=2)
    ordered = list(AuditEvent.objects.filter(sequence__isnull=False).order_by("sequence").values_list("details__k", flat=True))
    assert ordered == [0, 1, 2, 3]
    assert audit_chain_verify().intact


@pytest.mark.django_db
def test_jl_a1_on_commit_mode_chains_right_after_the_commit(settings, django_capture_on_commit_callbacks):
    settings.TELEMED_AUDIT_SEQUENCER = "on_commit"
    with django_capture_on_commit_callbacks(execute=True):
        event = append(1)[0]
        assert AuditEvent.objects.get(pk=event.pk).sequence is None  # not before the commit
    assert AuditEvent.objects.get(pk=event.pk).sequence == 1


@pytest.mark.django_db
def test_jl_a1_worker_mode_nudges_the_sequencer_after_the_commit_only(worker_mode, django_capture_on_commit_callbacks):
    services._last_nudge = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        append(1)
        assert worker_mode.call_count == 0
    assert worker_mode.call_count == 1
    # A broker outage does not turn the committed act into an error: the beat chains it.
    worker_mode.side_effect = OSError("broker down")
    services._last_nudge = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        append(1)
    assert pending_count() == 2


# --- tampering is detected and named -----------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_verification_names_the_first_bad_event_for_each_kind_of_tampering(worker_mode):
    events = append(6)
    audit_chain_sequence()
    chained = list(AuditEvent.objects.order_by("sequence"))

    # Reordering: two events swap places (their sequences) — the first of them breaks.
    with transaction.atomic():
        raw("UPDATE audit_auditevent SET sequence = -1 WHERE id = %s", [chained[1].pk])
        raw("UPDATE audit_auditevent SET sequence = 2 WHERE id = %s", [chained[2].pk])
        raw("UPDATE audit_auditevent SET sequence = 3 WHERE id = %s", [chained[1].pk])
        report = audit_chain_verify()
        assert (report.intact, report.broken_sequence, report.checked) == (False, 2, 1)
        transaction.set_rollback(True)

    # Modification of a chained event: its content no longer matches its leaf hash.
    with transaction.atomic():
        raw("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 999}', chained[3].pk])
        report = audit_chain_verify()
        assert (report.intact, report.broken_sequence) == (False, 4) and "内容被改动" in report.text
        transaction.set_rollback(True)

    # Modification with the leaf hash recomputed: the link no longer matches.
    with transaction.atomic():
        row = AuditEvent.objects.filter(pk=chained[3].pk).values(*rules.VERIFIED_FIELDS).get()
        row["details"] = {"n": 999}
        raw("UPDATE audit_auditevent SET details = %s, leaf_hash = %s WHERE id = %s",
            ['{"n": 999}', rules.leaf_hash(row), chained[3].pk])
        report = audit_chain_verify()
        assert (report.intact, report.broken_sequence) == (False, 4) and "位置不符" in report.text
        transaction.set_rollback(True)

    # Deletion: a gap.
    with transaction.atomic():
        raw("DELETE FROM audit_auditevent WHERE id = %s", [chained[2].pk])
        report = audit_chain_verify()
        assert (report.intact, report.broken_sequence) == (False, 4)
        transaction.set_rollback(True)

    # Insertion: a well-formed event pushed in at 3 (a copy of the first), the rest moved up by one and
    # the next event relinked to it — that next event's own link then no longer holds.
    with transaction.atomic():
        forged_hash = rules.link_hash(chained[1].hash, 3, chained[0].leaf_hash)
        raw("UPDATE audit_auditevent SET sequence = sequence + 100 WHERE sequence >= 3")
        raw("UPDATE audit_auditevent SET sequence = sequence - 99 WHERE sequence >= 103")
        raw("UPDATE audit_auditevent SET prev_hash = %s WHERE id = %s", [forged_hash, chained[2].pk])
        raw("INSERT INTO audit_auditevent (sequence, occurred_at, actor_label, acting_division_code, request_id, channel, "
            "event_type, object_type, object_id, facility_ids, outcome, details, hash_algorithm, leaf_hash, prev_hash, hash) "
            "SELECT 3, occurred_at, actor_label, acting_division_code, request_id, channel, event_type, object_type, object_id, "
            "facility_ids, outcome, details, hash_algorithm, leaf_hash, %s, %s FROM audit_auditevent WHERE id = %s",
            [chained[1].hash, forged_hash, chained[0].pk])
        report = audit_chain_verify()
        assert (report.intact, report.broken_sequence) == (False, 4) and "位置不符" in report.text
        transaction.set_rollback(True)

    assert audit_chain_verify().intact and len(events) == 6


@pytest.mark.django_db
def test_jl_a1_a_changed_event_not_yet_chained_is_named_by_its_id(worker_mode):
    append(2)
    audit_chain_sequence()
    waiting = append(2)
    raw("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 999}', waiting[1].pk])
    report = audit_chain_verify()
    assert not report.intact and report.broken_sequence is None and report.broken_id == waiting[1].pk
    assert f"编号 {waiting[1].pk}" in report.text and "内容与其哈希不符" in report.text


# --- checkpoints, reads and exports ------------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_a_checkpoint_signs_only_the_chained_prefix(worker_mode, settings):
    from telemed import signing

    settings.TELEMED_AUDIT_SIGNING_KEYS = (signing.SigningKey("a", bytes(range(1, 33))),)
    append(3)
    audit_chain_sequence()
    append(2)  # committed, not yet chained
    checkpoint = services.audit_checkpoint_sign()
    head = AuditEvent.objects.get(sequence=3)
    assert (checkpoint.size, checkpoint.head_hash) == (3, head.hash)
    assert pending_count() == 3  # the two, and the signing's own event


@pytest.mark.django_db
def test_jl_a1_an_event_not_yet_chained_reads_as_pending_in_fhir_and_the_chain_order():
    import datetime as dt

    event = AuditEvent(pk=9, occurred_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC), event_type=str(EventType.AUDIT_LOG_READ),
                       outcome="success", facility_ids=[], details={}, leaf_hash="a" * 64)
    extension = fhir.audit_event_resource(event)["extension"]
    parts = {part["url"]: part for e in extension if e.get("url") == fhir.AUDIT_CHAIN_EXTENSION for part in e["extension"]}
    assert parts["pending"]["valueBoolean"] is True and "sequence" not in parts and parts["leafHash"]["valueString"] == "a" * 64
    assert str(event).startswith("待入链")


@pytest.mark.django_db
def test_jl_a1_lists_put_events_not_yet_chained_after_the_chain_and_first_when_newest_first(worker_mode):
    first = append(2)
    audit_chain_sequence()
    later = append(2)
    assert [e.pk for e in AuditEvent.objects.chain_order()] == [e.pk for e in first + later]
    assert [e.pk for e in AuditEvent.objects.newest_first()] == [e.pk for e in reversed(first + later)]
    assert [e.pk for e in AuditEvent.objects.all()] == [e.pk for e in reversed(first + later)]


@pytest.mark.django_db
def test_jl_c8_a_case_view_appends_its_access_record_without_the_chain_lock(worker_mode, world, client):
    """JL-C8: every case view appends ``record.view`` — through the same lock-free path (issue 11), and
    the case page shows an event not yet chained as 待入链."""
    consultation = world.draft()
    audit_chain_sequence()
    client.force_login(world.clinician)
    with mock.patch.object(services, "_lock_chain", wraps=services._lock_chain) as lock:
        response = client.get(reverse("consultations:detail", args=[consultation.pk]))
    assert response.status_code == 200 and lock.call_count == 0
    view = AuditEvent.objects.filter(event_type=EventType.RECORD_VIEW).get()
    assert view.sequence is None and view.leaf_hash
    response = client.get(reverse("consultations:detail", args=[consultation.pk]))
    assert "待入链" in response.content.decode()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as its PostgreSQL neighbours: no reloaded content types
def test_jl_a1_outside_a_transaction_an_access_record_is_its_insert_alone(worker_mode, django_assert_num_queries):
    """Issue 11: a page's access record with no webhook row, outside any transaction (autocommit, as a
    page runs), is one INSERT — durable at once, no BEGIN/COMMIT around it — and the worker is nudged
    right away. Inside a transaction it stays in the caller's transaction (rolled back with it)."""
    services._last_nudge = 0.0
    with django_assert_num_queries(1) as captured:
        event = audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, object_type="consultations.consultation",
                                   object_id="1", details={"purpose": "t"})
    assert captured.captured_queries[0]["sql"].startswith("INSERT INTO")
    assert worker_mode.call_count == 1
    assert AuditEvent.objects.get(pk=event.pk).sequence is None
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, details={"purpose": "rolled back"})
        raise RuntimeError
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [event.pk]


# --- PostgreSQL: the trigger, and two sequencers at once ---------------------------------------


@pytest.mark.django_db
def test_jl_a1_postgresql_trigger_lets_only_the_sequencing_update_through(on_postgresql, worker_mode):
    event = append(1)[0]
    with pytest.raises(DatabaseError, match="JL-A1"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET details = '{}' WHERE id = %s", [event.pk])  # content of a pending event
    with pytest.raises(DatabaseError, match="JL-A1"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET sequence = 1, prev_hash = %s, hash = %s, sequenced_at = now(), "
                       "outcome = 'failure' WHERE id = %s", ["0" * 64, "1" * 64, event.pk])  # chaining plus a change
    audit_chain_sequence()
    with pytest.raises(DatabaseError, match="JL-A1"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET sequence = 7 WHERE id = %s", [event.pk])  # re-chaining
    assert audit_chain_verify().intact


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_jl_a1_two_sequencers_at_once_never_fork_the_chain(on_postgresql, worker_mode):
    """Eight writers append without a lock while two sequencer threads chain in small batches, at
    once; every event gets exactly one sequence, 1…N without a gap, and the chain verifies."""
    writers, per_writer = 8, 20
    barrier = threading.Barrier(writers + 2)
    done = threading.Event()
    errors: list[BaseException] = []
    chained: list[list[int]] = [[], []]

    def writer(k):
        try:
            barrier.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    audit_event_append(actor=None, event_type=EventType.AUDIT_LOG_READ, details={"writer": k, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def sequencer(n):
        try:
            barrier.wait()
            while not done.is_set():
                chained[n] += [link.sequence for link in audit_chain_sequence(batch_size=7)]
            chained[n] += [link.sequence for link in audit_chain_sequence(batch_size=7)]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    sequencers = [threading.Thread(target=sequencer, args=(n,)) for n in range(2)]
    for t in pool + sequencers:
        t.start()
    for t in pool:
        t.join()
    done.set()
    for t in sequencers:
        t.join()
    assert errors == []
    total = writers * per_writer
    assert sorted(chained[0] + chained[1]) == list(range(1, total + 1))  # no sequence given twice
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, total + 1))
    report = audit_chain_verify()
    assert report.intact and report.checked == total and report.pending == 0


def test_jl_a1_the_written_out_insert_fills_every_column_but_the_chain_s():
    """``audit_event_append`` writes its INSERT out (issue 11); a field added to the model must be added
    there too, or the event would lose it silently."""
    from audit.models import AuditEvent

    columns = {f.attname for f in AuditEvent._meta.concrete_fields}
    chain_only = {"id", "sequence", "prev_hash", "hash", "sequenced_at"}
    assert set(services._INSERTED) == columns - chain_only


@pytest.mark.django_db
def test_jl_a1_an_appended_event_reads_back_as_it_was_hashed(worker_mode):
    from django.contrib.auth import get_user_model

    from telemed.context import use_context

    user = get_user_model().objects.create(username="读者")
    with use_context(request_id="req-1", ip_address="10.1.2.3", channel="web"):
        event = audit_event_append(actor=user, event_type=EventType.RECORD_VIEW, object_type="t", object_id=7,
                                   acting_facility_id=3, facility_ids=[5, 3], details={"名": "值", "n": [1, {"a": None}]})
    stored = AuditEvent.objects.values(*rules.VERIFIED_FIELDS).get(pk=event.pk)
    assert stored["details"] == {"名": "值", "n": [1, {"a": None}]} and stored["facility_ids"] == [3, 5]
    assert stored["ip_address"] == "10.1.2.3" and stored["actor_id"] == user.pk and stored["occurred_at"] == event.occurred_at
    assert rules.leaf_hash(stored) == stored["leaf_hash"] == event.leaf_hash


@pytest.mark.django_db
def test_jl_a1_the_beat_runs_the_sequencer_every_second_and_the_task_chains(worker_mode):
    from audit.tasks import audit_chain_sequence_task
    from telemed.celery import _beat_schedule

    entry = _beat_schedule()["jl-a1-audit-sequencer"]
    assert entry["task"] == audit_chain_sequence_task.name == "audit.sequence_chain" and entry["schedule"] == 1.0
    append(2)
    assert audit_chain_sequence_task() == {"chained": 2}
    assert audit_chain_sequence_task() == {"chained": 0}
