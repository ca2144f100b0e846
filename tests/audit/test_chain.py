"""JL-A1: the audit log is append-only and tamper-evident."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from audit import rules
from audit.choices import EventType
from audit.models import AppendOnlyError, AuditEvent
from audit.services import audit_chain_verify, audit_event_append
from telemed.context import use_context
from tests.factories import UserFactory


def append(n: int, **kwargs):
    return [audit_event_append(actor=None, event_type="audit.log.read", details={"n": i, "名": "值"}, **kwargs) for i in range(n)]


def raw_tamper(sql: str, params):
    """Change a row behind the ORM's back, as an attacker with database access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # bypass the trigger
        cursor.execute(sql, params)


# --- pure chain arithmetic --------------------------------------------------------------------


def _fake_chain(n):
    import datetime as dt

    events, prev = [], rules.GENESIS_HASH
    for i in range(1, n + 1):
        fields = dict.fromkeys(rules.HASHED_FIELDS, "")
        fields.update(sequence=i, occurred_at=dt.datetime(2026, 11, 24, 8, 0, i, tzinfo=dt.UTC), details={"i": i}, facility_ids=[])
        digest = rules.event_hash(fields, prev)
        events.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    return events


def test_jl_a1_pure_chain_verifies_and_catches_each_kind_of_tampering():
    chain = _fake_chain(5)
    assert rules.verify_chain(chain).intact
    assert rules.verify_chain(chain).checked == 5

    changed = [dict(e) for e in chain]
    changed[2]["details"] = {"i": 99}
    report = rules.verify_chain(changed)
    assert (report.intact, report.broken_sequence, report.checked) == (False, 3, 2)
    assert "内容被改动" in report.text

    deleted = chain[:2] + chain[3:]
    assert rules.verify_chain(deleted).broken_sequence == 4

    relinked = [dict(e) for e in chain]
    relinked[3]["prev_hash"] = "f" * 64
    assert rules.verify_chain(relinked).broken_sequence == 4


# --- the database ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jl_a1_events_chain_and_record_the_context():
    user = UserFactory(username="auditor")
    with use_context(request_id="req-12345678", ip_address="10.1.2.3", channel="web"):
        first = audit_event_append(actor=user, event_type="facility.update", object_type="t", object_id=7, acting_facility_id=3, facility_ids=[3, 5])
        second = audit_event_append(actor=None, event_type="facility.register", outcome="failure")
    assert second.sequence == first.sequence + 1
    assert second.prev_hash == first.hash
    assert first.request_id == "req-12345678" and first.ip_address == "10.1.2.3"
    assert first.actor_label.endswith("（auditor）") and first.object_id == "7" and first.facility_ids == [3, 5]
    report = audit_chain_verify()
    assert report.intact and report.checked == AuditEvent.objects.count()


@pytest.mark.django_db
def test_jl_a1_orm_refuses_update_and_delete():
    event = append(1)[0]
    event.details = {"changed": True}
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(outcome="failure")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).details == {"n": 0, "名": "值"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET outcome = 'failure'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_jl_a1_postgresql_trigger_refuses_update_delete_truncate(on_postgresql, statement):
    append(2)
    with pytest.raises(DatabaseError, match="JL-A1"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.count() >= 2


@pytest.mark.django_db
def test_jl_a1_audit_verify_catches_a_tampered_row():
    events = append(5)
    call_command("audit_verify")  # intact: no error
    raw_tamper("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 999}', events[2].pk])
    report = audit_chain_verify()
    assert not report.intact
    assert report.broken_sequence == events[2].sequence
    with pytest.raises(CommandError, match=f"第 {events[2].sequence} 号事件"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_jl_a1_audit_verify_catches_a_deleted_row():
    events = append(4)
    raw_tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify()
    assert not report.intact and report.broken_sequence == events[2].sequence


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_jl_a1_concurrent_writers_do_not_fork_the_chain(on_postgresql):
    """Eight threads, each on its own connection, append at once; the chain stays one line."""
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def writer(k):
        try:
            barrier.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    audit_event_append(actor=None, event_type="audit.log.read", details={"writer": k, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, writers * per_writer + 1))
    report = audit_chain_verify()
    assert report.intact and report.checked == writers * per_writer


def test_jl_a1_details_lose_nul_control_and_invisible_characters_recursively(db):
    """Issue 8: request text copied into ``details`` (a NUL from ``?purpose=%00``, a right-to-left
    override, a zero-width space) is stored without them, on SQLite and PostgreSQL alike, and the
    chain still verifies."""
    event = audit_event_append(actor=None, event_type=EventType.RECORD_VIEW, details={
        "purpose\x00": "会诊\x00用\u202e途\u200b",
        "nested": {"list": ["a\x1bb", ("c\ufeff", 3)], "note": "第一行\n第二行\t"},
        "number": 7,
    })
    event.refresh_from_db()
    assert event.details == {
        "purpose": "会诊用途",
        "nested": {"list": ["ab", ["c", 3]], "note": "第一行\n第二行\t"},
        "number": 7,
    }
    assert audit_chain_verify().intact
