"""Issue 13 (密评), JL-A1: the audit chain is hashed with SM3 under ``sm4-gcm`` and SHA-256 otherwise,
recorded per event, so that a chain switching algorithm midway verifies and tampering is still caught."""

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from django.core.management import CommandError, call_command
from django.db import connection

from audit import rules
from audit.choices import EventType
from audit.models import AuditEvent
from audit.services import audit_chain_verify, audit_event_append
from telemed.crypto import chain_hash_algorithm


def _append(n: int):
    return [audit_event_append(actor=None, event_type=EventType.AUDIT_LOG_READ, details={"n": i}) for i in range(n)]


def _raw_update(sql: str, params):
    """Change a row behind the ORM's back, as someone with database access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # bypass the append-only trigger
        cursor.execute(sql, params)


def _fields(i: int) -> dict:
    fields = dict.fromkeys(rules.HASHED_FIELDS, "")
    fields.update(sequence=i, occurred_at=dt.datetime(2026, 12, 1, 8, 0, i, tzinfo=dt.UTC), details={"i": i}, facility_ids=[])
    return fields


def test_jl_a1_the_chain_hash_follows_the_data_cipher_setting():
    assert chain_hash_algorithm("aes-256-gcm") == "sha256"
    assert chain_hash_algorithm("sm4-gcm") == "sm3"


def test_jl_a1_sm3_and_sha256_hash_the_same_bytes_with_their_own_function():
    fields = _fields(1)
    content = rules.GENESIS_HASH.encode() + b"\n" + rules.canonical_content(fields)
    sm3 = hashes.Hash(hashes.SM3())
    sm3.update(content)
    sha = hashes.Hash(hashes.SHA256())
    sha.update(content)
    assert rules.event_hash(fields, rules.GENESIS_HASH, "sm3") == sm3.finalize().hex()
    assert rules.event_hash(fields, rules.GENESIS_HASH, "sha256") == sha.finalize().hex()
    assert rules.event_hash(fields, rules.GENESIS_HASH) == rules.event_hash(fields, rules.GENESIS_HASH, "sha256")
    with pytest.raises(ValueError, match="md5"):
        rules.event_hash(fields, rules.GENESIS_HASH, "md5")


def test_jl_a1_a_pure_chain_switching_algorithm_midway_verifies_and_a_flipped_algorithm_is_caught():
    chain, prev = [], rules.GENESIS_HASH
    for i in range(1, 7):
        algorithm = "sha256" if i <= 3 else "sm3"
        digest = rules.event_hash(_fields(i), prev, algorithm)
        chain.append({**_fields(i), "hash_algorithm": algorithm, "prev_hash": prev, "hash": digest})
        prev = digest
    assert rules.verify_chain(chain).intact and rules.verify_chain(chain).checked == 6

    flipped = [dict(e) for e in chain]
    flipped[4]["hash_algorithm"] = "sha256"
    report = rules.verify_chain(flipped)
    assert (report.intact, report.broken_sequence) == (False, 5)
    assert "哈希算法记录被改动" in report.text

    unknown = [dict(e) for e in chain]
    unknown[1]["hash_algorithm"] = "md5"
    report = rules.verify_chain(unknown)
    assert (report.intact, report.broken_sequence) == (False, 2) and "不可识别" in report.text


@pytest.mark.django_db
def test_jl_a1_events_record_sm3_under_sm4_and_the_chain_verifies_across_the_change(settings):
    settings.TELEMED_DATA_CIPHER = "aes-256-gcm"
    before = _append(3)
    settings.TELEMED_DATA_CIPHER = "sm4-gcm"
    after = _append(3)
    settings.TELEMED_DATA_CIPHER = "aes-256-gcm"
    back = _append(1)
    assert {e.hash_algorithm for e in before} == {"sha256"}
    assert {e.hash_algorithm for e in after} == {"sm3"}
    assert back[0].hash_algorithm == "sha256"
    stored = AuditEvent.objects.get(pk=after[0].pk)
    assert stored.hash_algorithm == "sm3"
    # Issue 11: the writer's leaf hash of the content and the sequencer's link, both SM3.
    assert stored.leaf_hash == rules.leaf_hash({f: getattr(stored, f) for f in rules.HASHED_FIELDS}, "sm3")
    assert stored.hash == rules.link_hash(stored.prev_hash, stored.sequence, stored.leaf_hash, "sm3")
    assert after[0].prev_hash == before[-1].hash and back[0].prev_hash == after[-1].hash
    report = audit_chain_verify()
    assert report.intact and report.checked == AuditEvent.objects.count()
    call_command("audit_verify")


@pytest.mark.django_db
def test_jl_a1_tampering_with_an_sm3_event_or_its_recorded_algorithm_is_detected(settings):
    settings.TELEMED_DATA_CIPHER = "sm4-gcm"
    events = _append(4)
    _raw_update("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"n": 999}', events[1].pk])
    report = audit_chain_verify()
    assert (report.intact, report.broken_sequence) == (False, events[1].sequence)


@pytest.mark.django_db
def test_jl_a1_flipping_the_recorded_algorithm_in_the_database_is_detected(settings):
    settings.TELEMED_DATA_CIPHER = "sm4-gcm"
    events = _append(3)
    _raw_update("UPDATE audit_auditevent SET hash_algorithm = 'sha256' WHERE id = %s", [events[2].pk])
    report = audit_chain_verify()
    assert (report.intact, report.broken_sequence) == (False, events[2].sequence)
    with pytest.raises(CommandError, match="哈希算法记录被改动"):
        call_command("audit_verify")


def test_jl_a1_existing_rows_are_sha256_by_the_migration_default():
    """Rows written before the field existed were SHA-256: migration 0006 fills them so."""
    field = AuditEvent._meta.get_field("hash_algorithm")
    assert field.default == "sha256"
