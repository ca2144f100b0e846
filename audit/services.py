"""The one writer of the audit log (JL-A1), and its sequencer (issue 11).

Every domain service calls ``audit_event_append`` inside its own transaction, so the event and
the change it records commit or vanish together. So does the webhook outbox row an audited change produces
(``telemed.webhooks.services.webhook_outbox_write``, issue 14).

Appending takes no lock (issue 11). The writer inserts its event with the hash of its content
(``leaf_hash``) but without a place in the chain (``sequence``, ``prev_hash``, ``hash`` empty); the event
is durable when the writer's transaction commits. The sequencer (``audit_chain_sequence``; one at a
time, under the chain's advisory lock on PostgreSQL and the database write lock on SQLite) takes the
committed, not yet chained events by id, gives them the next sequences and links in one UPDATE per
batch, and commits. Who runs it is ``TELEMED_AUDIT_SEQUENCER``: the Celery worker (beat every second
and a nudge after each commit), the writer's process after its commit, or — in the tests — the writer's
own transaction. ``sequence`` and ``prev_hash`` stay unique, so a fork would be refused by the database
even if the lock were bypassed.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_save
from django.utils import timezone

from telemed.bulk import insert_rows, instances
from telemed.context import current
from telemed.crypto import chain_hash_algorithm
from telemed.errors import ApplicationError
from telemed.text import clean_data
from telemed.transactions import in_service_transaction, record_refusal
from telemed.webhooks.rules import webhook_type_for
from telemed.webhooks.services import webhook_outbox_write, webhook_outbox_write_many

from . import rules
from .choices import EventType, Outcome
from .models import AuditEvent

# An arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_CHAIN_LOCK_KEY = 2202_2018
# The catalogue, read once: ``EventType.values`` rebuilds its list on every read (a fifth of an append's
# time in a profile, issue 11).
_KNOWN_EVENT_TYPES = frozenset(EventType.values)


def _lock_chain(*, wait: bool = True) -> bool:
    """The sequencer's lock, held to the end of the transaction (JL-A1): one sequencer at a time.
    ``wait=False`` gives up at once when another holds it. On SQLite the IMMEDIATE transaction already
    holds the database's one write lock."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _actor_label(actor) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ""
    full = actor.get_full_name() if hasattr(actor, "get_full_name") else ""
    return f"{full}（{actor.get_username()}）" if full else actor.get_username()


def _event_fields(ctx, *, actor, event_type, outcome, object_type, object_id, acting_facility_id,
                  acting_division_code, facility_ids, details) -> dict:
    return {
        "occurred_at": timezone.now(),
        "actor_id": actor.pk if actor is not None and getattr(actor, "pk", None) else None,
        "actor_label": _actor_label(actor),
        "acting_facility_id": acting_facility_id,
        "acting_division_code": acting_division_code or "",
        "ip_address": ctx.ip_address,
        "request_id": ctx.request_id,
        "channel": ctx.channel,
        "event_type": str(event_type),
        "object_type": object_type,
        "object_id": str(object_id) if object_id != "" else "",
        "facility_ids": sorted({int(f) for f in facility_ids if f is not None}),
        "outcome": str(outcome),
        "details": rules.json_normal(clean_data(details or {})),
    }


_INSERTED = ("occurred_at", "actor_id", "actor_label", "acting_facility_id", "acting_division_code", "ip_address",
             "request_id", "channel", "event_type", "object_type", "object_id", "facility_ids", "outcome", "details",
             "hash_algorithm", "leaf_hash")
_JSON_COLUMNS = frozenset({"facility_ids", "details"})
# The columns only the sequencer fills: empty when a writer inserts (issue 11).
_CHAIN_ONLY = ("sequence", "prev_hash", "hash", "sequenced_at")
_UNCHAINED = (None,) * len(_CHAIN_ONLY)
_UNCHAINED_FIELDS = dict.fromkeys(_CHAIN_ONLY)
_OCCURRED_AT = _INSERTED.index("occurred_at")
_JSON_AT = tuple(at for at, name in enumerate(_INSERTED) if name in _JSON_COLUMNS)


@functools.cache
def _insert_sql() -> str:
    """The INSERT of one unchained event, written once (issue 11: every page view writes one)."""
    table = AuditEvent._meta.db_table
    columns = ", ".join(AuditEvent._meta.get_field(name).column for name in _INSERTED)
    placeholders = ", ".join(["%s"] * len(_INSERTED))
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id"  # noqa: S608 - fixed names


# ``json.dumps(value, ensure_ascii=False)``'s text, without building an encoder per call.
_COLUMN_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _insert(fields: dict) -> AuditEvent:
    """One INSERT of an unchained event (``fields``: every ``_INSERTED`` column's value), written out
    (issue 11): the ORM's ``save`` spent more time compiling the statement than the database spent
    running it, and an append runs on every page. The columns are the model's
    (``tests/audit/test_sequencer.py`` checks that every one is filled). Returns the event as loaded
    from the database (as ``telemed.bulk.instances`` makes it), after telling ``post_save``'s listeners."""
    db = connections[DEFAULT_DB_ALIAS]  # the ``connection`` proxy looks it up again on every attribute
    values = [fields[name] for name in _INSERTED]
    values[_OCCURRED_AT] = db.ops.adapt_datetimefield_value(values[_OCCURRED_AT])
    for at in _JSON_AT:
        values[at] = _COLUMN_JSON(values[at])
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(), values)
        pk = cursor.fetchone()[0]
    event = AuditEvent.__new__(AuditEvent)
    event._state = ModelState()
    event._state.adding, event._state.db = False, db.alias
    event.__dict__.update(fields, id=pk, **_UNCHAINED_FIELDS)
    # What ``save`` would have told its listeners (the dashboard's per-event refresh, issue 9, listens).
    post_save.send(sender=AuditEvent, instance=event, created=True, update_fields=None, raw=False, using=db.alias)
    return event


def _unsequenced(fields: dict, algorithm: str) -> dict:
    """The row a writer inserts (issue 11): its content and the hash of it, no place in the chain yet."""
    fields["hash_algorithm"] = algorithm
    fields["leaf_hash"] = rules.leaf_hash(fields, algorithm)  # of the content alone (``rules.LEAF_FIELDS``)
    return fields


def audit_event_append(
    *,
    actor,
    event_type: EventType,
    outcome: str = Outcome.SUCCESS,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    acting_facility_id: int | None = None,
    acting_division_code: str = "",
    facility_ids: Iterable[int] = (),
    details: dict | None = None,
) -> AuditEvent:
    """Append one event, in the caller's transaction (or its own), without any lock (JL-A1; issue 11).

    The event commits or vanishes with the caller's transaction; the sequencer chains it after the
    commit (``TELEMED_AUDIT_SEQUENCER``), so its ``sequence`` and ``hash`` may still be empty when this
    returns. ``details`` often carries what a request sent (query parameters, a purpose, a file name):
    its strings lose control, direction-override and zero-width characters first (``clean_data``),
    so that PostgreSQL's jsonb accepts them (it refuses NUL) and a reader sees what is there.
    ``event_type`` must be in the catalogue (``audit.choices.EventType``); anything else is a bug
    and raises ``ValueError`` before anything is written.
    """
    if event_type not in _KNOWN_EVENT_TYPES:
        raise ValueError(f"unknown audit event type {event_type!r}: add it to audit.choices.EventType")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    fields = _event_fields(current(), actor=actor, event_type=event_type, outcome=outcome, object_type=object_type,
                           object_id=object_id, acting_facility_id=acting_facility_id,
                           acting_division_code=acting_division_code, facility_ids=facility_ids, details=details)
    # Issue 13 (密评): SM3 under sm4-gcm, else SHA-256 — recorded, so a later change still verifies.
    fields = _unsequenced(fields, chain_hash_algorithm(settings.TELEMED_DATA_CIPHER))
    if _lone_insert(fields):
        # Issue 11: outside any transaction an event that writes nothing else (no webhook, chained
        # later) is one INSERT, atomic by itself: no BEGIN/COMMIT round trips around it (each page
        # view's JL-C8 access record). The worker's nudge runs at once (no transaction to wait for).
        event = _insert(fields)
        _after_append([event])
        return event
    # No savepoint inside the caller's transaction: if the event cannot be written, the act cannot commit.
    with transaction.atomic(savepoint=False):
        event = _insert(fields)
        # Issue 14: the webhook outbox row commits or vanishes with the change and its event.
        webhook_outbox_write(event, obj)
        _after_append([event])
    return event


def audit_events_append_many(events: list[dict]) -> list[AuditEvent]:
    """Append several events, in order, with one INSERT and no lock (JL-A1; issue 11).

    Each item takes the keyword arguments of ``audit_event_append`` (``actor``, ``event_type``,
    ``outcome``, ``obj``, ``object_type``, ``object_id``, ``acting_facility_id``,
    ``acting_division_code``, ``facility_ids``, ``details``) and gets exactly what a call of it would
    write: a checked type, cleaned details, the hash of its content with the recorded
    ``hash_algorithm``, its webhook outbox rows in the same transaction, and the ``post_save`` its
    listeners hear. The rows get increasing ids, so the sequencer chains them in this order (and
    consecutively unless another writer's events commit in between). A batch of N events costs a
    constant number of queries, not N appends; the rows are written as tuples (``telemed.bulk``): no
    model instance is built before the INSERT, each leaf hash is computed once, from the same dict.
    """
    if not events:
        return []
    for item in events:
        if item["event_type"] not in _KNOWN_EVENT_TYPES:
            raise ValueError(f"unknown audit event type {item['event_type']!r}: add it to audit.choices.EventType")
    ctx = current()
    algorithm = chain_hash_algorithm(settings.TELEMED_DATA_CIPHER)
    built, objects = [], []
    for item in events:
        obj = item.get("obj")
        object_type, object_id = item.get("object_type", ""), item.get("object_id", "")
        if obj is not None:
            object_type = object_type or obj._meta.label_lower
            object_id = object_id or obj.pk
        fields = _event_fields(
            ctx, actor=item.get("actor"), event_type=item["event_type"], outcome=item.get("outcome", Outcome.SUCCESS),
            object_type=object_type, object_id=object_id, acting_facility_id=item.get("acting_facility_id"),
            acting_division_code=item.get("acting_division_code"), facility_ids=item.get("facility_ids", ()),
            details=item.get("details"))
        fields["hash_algorithm"] = algorithm
        fields["leaf_hash"] = rules.leaf_hash(fields, algorithm)
        built.append(fields)
        objects.append(obj)
    with transaction.atomic(savepoint=False):
        ids = insert_rows(AuditEvent, _INSERTED + _CHAIN_ONLY, [(*map(fields.__getitem__, _INSERTED), *_UNCHAINED) for fields in built])
        created = instances(AuditEvent, [{**fields, "id": pk, **_UNCHAINED_FIELDS} for fields, (pk,) in zip(built, ids, strict=True)])
        for event in created:  # what ``save`` would have told its listeners, as ``_insert`` does
            post_save.send(sender=AuditEvent, instance=event, created=True, update_fields=None, raw=False, using=connection.alias)
        # Issue 14: the outbox rows commit or vanish with the changes and their events.
        webhook_outbox_write_many(list(zip(created, objects, strict=True)))
        _after_append(created)
    return created


# --- The sequencer (JL-A1; issue 11) --------------------------------------------------------------

_nudge_lock = threading.Lock()
_last_nudge = 0.0
NUDGE_EVERY_SECONDS = 0.2  # at most five nudges a second per process; the beat catches the rest


def _lone_insert(fields: dict) -> bool:
    """True when the event of ``fields`` can be written by its INSERT alone, in autocommit: no transaction
    is open, the sequencer does not chain inside the writer's transaction, and the event has no webhook row."""
    return (
        not connection.in_atomic_block
        and settings.TELEMED_AUDIT_SEQUENCER != "inline"
        and webhook_type_for(fields["event_type"], fields["outcome"]) is None
    )


def _after_append(events: list[AuditEvent]) -> None:
    mode = settings.TELEMED_AUDIT_SEQUENCER
    if mode == "inline":
        links = {link.id: link for link in audit_chain_sequence()}
        for event in events:
            link = links.get(event.pk)
            if link is not None:
                event.sequence, event.prev_hash, event.hash = link.sequence, link.prev_hash, link.hash
    elif mode == "on_commit":
        transaction.on_commit(_sequence_after_commit)
    else:
        transaction.on_commit(_nudge_worker)


def _sequence_after_commit() -> None:
    """``on_commit`` mode: chain what has committed, now, in the writer's process. A failure here must
    not turn a committed act into an error: the beat's run chains the event later."""
    try:
        audit_chain_sequence()
    except Exception:  # noqa: BLE001 - the event is committed; the beat retries
        import logging

        logging.getLogger(__name__).exception("JL-A1: sequencing after commit failed; the beat will retry")


def _nudge_worker() -> None:
    """``worker`` mode: ask the worker to chain soon (at most every ``NUDGE_EVERY_SECONDS`` per process).
    A lost nudge or a broker outage only delays the chaining until the beat's next run."""
    global _last_nudge
    now = time.monotonic()
    with _nudge_lock:
        if now - _last_nudge < NUDGE_EVERY_SECONDS:
            return
        _last_nudge = now
    try:
        from .tasks import audit_chain_sequence_task

        # No publish retries: a nudge is worth one attempt, never a request waiting on a broker that is down.
        audit_chain_sequence_task.apply_async(expires=float(settings.TELEMED_AUDIT_SEQUENCER_SECONDS) * 5, retry=False)
    except Exception:  # noqa: BLE001 - the beat's run is the source of truth
        import logging

        logging.getLogger(__name__).warning("JL-A1: could not nudge the audit sequencer; the beat will chain", exc_info=True)


def _chain_head() -> tuple[int, str]:
    head = (AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence")
            .values_list("sequence", "hash").first())
    return head if head else (0, rules.GENESIS_HASH)


def _write_links(links: list[rules.Link], sequenced_at) -> int:
    """One UPDATE for the whole batch (``UPDATE … FROM (VALUES …)``), only of events still unchained."""
    params: list = []
    for link in links:
        params += [link.id, link.sequence, link.prev_hash, link.hash]
    table = AuditEvent._meta.db_table
    if connection.vendor == "postgresql":
        # Untyped parameters in VALUES would be text: the numbers are cast.
        values = ", ".join(["(%s::bigint, %s::bigint, %s, %s)"] * len(links))
        sql = (f"UPDATE {table} AS e SET"  # noqa: S608 - the model's own table; every value a parameter
               f" sequence = v.seq, prev_hash = v.prev, hash = v.h, sequenced_at = %s "
               f"FROM (VALUES {values}) AS v(id, seq, prev, h) WHERE e.id = v.id AND e.sequence IS NULL")
        params = [connection.ops.adapt_datetimefield_value(sequenced_at), *params]
    else:
        # SQLite names a VALUES list's columns column1…; a leading WITH would hide the row count.
        values = ", ".join(["(%s, %s, %s, %s)"] * len(links))
        sql = (f"UPDATE {table} SET"  # noqa: S608 - the model's own table; every value a parameter
               f" sequence = v.column2, prev_hash = v.column3, hash = v.column4, sequenced_at = %s "
               f"FROM (VALUES {values}) AS v WHERE {table}.id = v.column1 AND {table}.sequence IS NULL")
        params = [connection.ops.adapt_datetimefield_value(sequenced_at), *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


class SequencerConflict(Exception):
    """The batch's UPDATE did not chain every event it read: someone else did (never expected under the
    lock). The batch's transaction rolls back and nothing is chained twice (JL-A1)."""


def audit_chain_sequence(*, batch_size: int | None = None, wait: bool = True, max_batches: int | None = None) -> list[rules.Link]:
    """Chain the committed events that have no place yet, in batches (JL-A1; issue 11).

    One sequencer at a time: each batch is its own transaction holding the chain's lock (``wait=False``:
    give up when another sequencer holds it — it will take these events too, or the next run will).
    In it: the head (the last sequence and its hash), the next ``batch_size`` unchained events by id,
    their sequences and links (``rules.chain_links``), one UPDATE, commit. A crash before the commit
    leaves the batch unchained and nothing lost; the next run starts from the same head. Returns the
    links written, in order. Writes no audit event of its own (it would feed itself).
    """
    batch_size = batch_size or settings.TELEMED_AUDIT_SEQUENCER_BATCH
    written: list[rules.Link] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        # Its own transaction per batch; inside a writer's (``inline``) no savepoint: a batch that
        # cannot be chained fails the writer's transaction with it.
        with transaction.atomic(savepoint=False):
            if not _lock_chain(wait=wait):
                break
            head_sequence, head_hash = _chain_head()
            pending = list(AuditEvent.objects.filter(sequence__isnull=True).order_by("id")
                           .values_list("id", "leaf_hash", "hash_algorithm")[:batch_size])
            if not pending:
                break
            links = rules.chain_links(pending, head_sequence=head_sequence, head_hash=head_hash)
            if _write_links(links, timezone.now()) != len(links):
                raise SequencerConflict(f"JL-A1: {len(links)} events read, fewer chained")
        written += links
        batches += 1
        if len(pending) < batch_size:
            break
    return written


def audit_refusal(
    error: ApplicationError,
    *,
    actor,
    event_type: EventType,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    acting_facility_id: int | None = None,
    acting_division_code: str = "",
    facility_ids: Iterable[int] = (),
    details: dict | None = None,
) -> ApplicationError:
    """Put a refusal on record (JL-A1): one failure event naming actor, object and reason.

    The event is written in its own transaction, so the refused act's rollback cannot take it
    along: at once when no service transaction is open, else right after the outermost one has
    rolled back (``telemed.transactions.service_transaction``). Returns ``error``, for ``raise``.
    """
    payload = {"code": error.code, "reason": error.message, **(details or {})}
    if error.extra.get("reasons"):
        payload["reasons"] = error.extra["reasons"]
    if obj is not None:
        object_type, object_id = object_type or obj._meta.label_lower, object_id or obj.pk

    def write() -> None:
        audit_event_append(
            actor=actor, event_type=event_type, outcome=Outcome.FAILURE, object_type=object_type, object_id=object_id,
            acting_facility_id=acting_facility_id, acting_division_code=acting_division_code,
            facility_ids=facility_ids, details=payload,
        )

    error.on_record = write
    if not in_service_transaction():
        record_refusal(error)
    return error


def _verified_columns(*, with_id: bool) -> str:
    """The SELECT list of the verifier's rows (``rules.VERIFIED_FIELDS`` order). On PostgreSQL the JSON
    columns come as their text (decoded once, in ``rules``) and the time as its canonical text,
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC: ``to_char`` gives exactly ``rules.timestamp_text`` of the
    stored microsecond (tests/audit/test_verify_rows.py compares them), without a datetime per row."""
    postgresql = connection.vendor == "postgresql"
    columns = []
    for name in ("id", *rules.VERIFIED_FIELDS) if with_id else rules.VERIFIED_FIELDS:
        column = connection.ops.quote_name(AuditEvent._meta.get_field(name).column)
        if postgresql and name == "occurred_at":
            column = f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        elif postgresql and name in _JSON_COLUMNS:
            column = f"{column}::text"
        columns.append(column)
    return ", ".join(columns)


def _stored_timestamp():
    """How the verifier turns the ``occurred_at`` it reads into the canonical text: nothing to do on
    PostgreSQL (``_verified_columns``); elsewhere the backend's own conversion (as the ORM reads it),
    then ``rules.timestamp_text``."""
    if connection.vendor == "postgresql":
        return None
    convert = connection.ops.convert_datetimefield_value
    return lambda value: rules.timestamp_text(convert(value, None, connection))


def _rows(sql: str, chunk_size: int, *, read_ahead: bool = False):
    """The rows of ``sql`` streamed ``chunk_size`` at a time: a server-side (named) cursor on
    PostgreSQL, a plain cursor elsewhere. ``read_ahead`` (PostgreSQL): one thread fetches the next
    chunk while the caller checks this one, so that the server's work and the hashing overlap (issue 11);
    the caller must not use the connection meanwhile. The thread is waited for before the cursor closes."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        if not (read_ahead and connection.vendor == "postgresql"):
            while rows := cursor.fetchmany(chunk_size):
                yield from rows
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify-read") as reader:
            coming = reader.submit(cursor.fetchmany, chunk_size)
            while rows := coming.result():
                coming = reader.submit(cursor.fetchmany, chunk_size)
                yield from rows


def chained_rows(*, chunk_size: int = 5000, read_ahead: bool = False):
    """The chained events in sequence order, as the verifier reads them (streamed): raw rows for
    ``rules.verify_chain_rows(rows, timestamp=_stored_timestamp())`` — issue 11, no ORM per row."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    return _rows(f"SELECT {_verified_columns(with_id=False)} FROM {table} "  # noqa: S608 - the model's own names
                 "WHERE sequence IS NOT NULL ORDER BY sequence", chunk_size, read_ahead=read_ahead)


def pending_rows(*, chunk_size: int = 5000, read_ahead: bool = False):
    """The committed events not yet chained, by id (issue 11), as the verifier reads them: ``id`` and
    the ``chained_rows`` columns."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    return _rows(f"SELECT {_verified_columns(with_id=True)} FROM {table} "  # noqa: S608 - the model's own names
                 "WHERE sequence IS NULL ORDER BY id", chunk_size, read_ahead=read_ahead)


def audit_chain_verify(*, chunk_size: int = 2000, progress=None, progress_every: int = 2000) -> rules.ChainReport:
    """Walk the whole chain in sequence order (streamed, constant memory), then check the content of
    the events not yet chained against their leaf hashes (JL-A1; issue 11).

    Read straight from the database and checked by ``rules.verify_chain_rows``: the walk must keep up
    with streaming the same rows (issue 11, ratio ≤ 2). ``progress(checked)`` is called every
    ``progress_every`` events (the background run's heartbeat, ``audit.tasks``): its writes must be seen
    by others as it goes, so with it the walk reads outside a transaction (a holdable cursor); without
    it the walk is one read-only transaction, whose server-side cursor need not be held past it, and
    the next chunk is read while this one is checked (``_rows``: nothing else uses the connection then).
    """
    timestamp = _stored_timestamp()
    if progress is None:
        with transaction.atomic():
            return _walk(chunk_size, timestamp, None, progress_every)
    return _walk(chunk_size, timestamp, progress, progress_every)


def _walk(chunk_size: int, timestamp, progress, progress_every: int) -> rules.ChainReport:
    read_ahead = progress is None  # the heartbeat writes on the same connection
    chained = chained_rows(chunk_size=chunk_size, read_ahead=read_ahead)
    try:
        rows = chained if progress is None else _counted(chained, progress, progress_every)
        report = rules.verify_chain_rows(rows, timestamp=timestamp)
    finally:
        chained.close()  # a broken chain stops the walk early: its cursor is closed now, not when collected
    pending = pending_rows(chunk_size=chunk_size, read_ahead=read_ahead)
    try:
        return rules.verify_pending_rows(report, pending, timestamp=timestamp)
    finally:
        pending.close()


def _counted(rows, progress, every: int):
    for n, row in enumerate(rows, start=1):
        if n % every == 0:
            progress(n)
        yield row


def verification_request(*, actor):
    """The audit administrator or a regulator asks for a background walk of the chain (JL-A1).

    A run already queued or running is returned as it is, unless it is stale (silent for longer
    than ``TELEMED_VERIFY_TIMEOUT_SECONDS``: its worker died or its message was lost); a stale run
    is then marked failed and a new one starts. The task is sent after the commit; a broker outage
    marks the new run failed (so that it can be asked for again) and raises ``BrokerUnavailable``.
    """
    from telemed.errors import ApplicationError
    from telemed.queue import enqueue_on_commit
    from telemed.scope import Scope

    from .models import VerificationRun
    from .tasks import audit_verify_chain_task

    scope = Scope.of(actor)
    if not (scope.is_audit_admin or scope.is_regulator):
        raise ApplicationError("permission_denied", "JL-A1: 只有审计管理员或卫生健康行政部门可以发起审计链校验。", status=403)
    now = timezone.now()
    replaced = None
    for running in VerificationRun.objects.filter(state__in=[VerificationRun.State.QUEUED, VerificationRun.State.RUNNING]):
        if not running.is_stale(now):
            return running
        # Compare-and-swap: a worker that heartbeats in the meantime keeps its run.
        if VerificationRun.objects.filter(pk=running.pk, state=running.state, heartbeat_at=running.heartbeat_at).update(
            state=VerificationRun.State.FAILED, finished_at=now, problem="JL-A1: 后台校验超时未响应，已由新的校验取代。",
        ) != 1:
            return VerificationRun.objects.get(pk=running.pk)
        replaced = running.pk
    with transaction.atomic():
        run = VerificationRun.objects.create(requested_by=actor, requested_at=now, heartbeat_at=now)
        audit_event_append(actor=actor, event_type=EventType.AUDIT_CHAIN_VERIFY_REQUEST, obj=run,
                           acting_division_code=scope.regulated[0][0] if scope.regulated else "",
                           details={"replaces_stale_run": replaced} if replaced else None)
        enqueue_on_commit(audit_verify_chain_task, run_id=run.pk,
                          on_failure=lambda error: verification_not_sent(run_id=run.pk, actor=actor, error=error))
    return run


@transaction.atomic
def verification_not_sent(*, run_id: int, actor, error: Exception):
    """The broker refused the run's message: the run is failed, so a new one can be asked for (JL-A1)."""
    from .models import VerificationRun

    VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.QUEUED).update(
        state=VerificationRun.State.FAILED, finished_at=timezone.now(), problem="JL-A1: 后台任务队列无法连接，校验未能开始。",
    )
    audit_event_append(actor=actor, event_type=EventType.AUDIT_CHAIN_VERIFY_REQUEST, outcome=Outcome.FAILURE,
                       object_type="audit.verificationrun", object_id=run_id,
                       details={"code": "broker_unavailable", "error": str(error)[:500]})


# --- Signed checkpoints (JL-A1; issue 11) ---------------------------------------------------------


def _checkpoint_document(checkpoint) -> dict:
    from telemed import signing

    public_key = base64.b64decode(checkpoint.public_key)
    return rules.checkpoint_document(
        size=checkpoint.size, head_hash=checkpoint.head_hash, signed_at=rules.timestamp_text(checkpoint.signed_at),
        signature_algorithm=checkpoint.signature_algorithm, key_id=checkpoint.key_id,
        public_key_b64=checkpoint.public_key, public_key_sha256=signing.fingerprint(public_key),
        signature_b64=checkpoint.signature,
    )


def audit_checkpoint_sign(*, actor=None):
    """Sign a checkpoint of the log as it stands: its size and its last event's hash (JL-A1; issue 11),
    with the current key of ``TELEMED_AUDIT_SIGNING_KEYS`` (never in the database), Ed25519 or SM2 under
    ``sm4-gcm``. Idempotent: a log already checkpointed at this size returns that checkpoint. Only the
    chained prefix is signed (issue 11: events not yet sequenced are not part of it); the head is read
    under the sequencer's lock, so the chain cannot move in between; the signing is itself audited
    (``audit.checkpoint.sign``), an event chained after the checkpointed head."""
    from telemed import signing

    from .models import AuditCheckpoint

    with transaction.atomic():
        # Issue 11: only the chained prefix is signed; the lock keeps the sequencer from moving the head.
        _lock_chain()
        size, head_hash = _chain_head()
        existing = AuditCheckpoint.objects.filter(size=size).first()
        if existing is not None:
            return existing
        key = settings.TELEMED_AUDIT_SIGNING_KEYS[0]
        algorithm = signing.signature_algorithm(settings.TELEMED_DATA_CIPHER)
        signed_at = timezone.now()
        statement = rules.checkpoint_statement(size=size, head_hash=head_hash, signed_at=rules.timestamp_text(signed_at),
                                               signature_algorithm=algorithm, key_id=key.id)
        checkpoint = AuditCheckpoint.objects.create(
            size=size, head_hash=head_hash, signed_at=signed_at, signature_algorithm=algorithm, key_id=key.id,
            public_key=signing.b64(key.public_key(algorithm)), signature=signing.b64(key.sign(algorithm, statement)),
        )
        audit_event_append(actor=actor, event_type=EventType.AUDIT_CHECKPOINT_SIGN, obj=checkpoint,
                           details={"size": size, "head_hash": head_hash, "signature_algorithm": algorithm, "key_id": key.id})
    return checkpoint


def audit_checkpoint_daily():
    """The beat's daily checkpoint (JL-A1): signs one unless one was signed today (Beijing time), so
    the hourly beat and a redelivered message sign at most once a day. Returns the new checkpoint or None."""
    from .models import AuditCheckpoint

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    if AuditCheckpoint.objects.filter(signed_at__gte=today).exists():
        return None
    return audit_checkpoint_sign(actor=None)


def audit_checkpoint_download(*, actor, checkpoint) -> dict:
    """A regulator or operator takes a checkpoint away to keep (JL-A1): the document, and the download
    on record (``audit.checkpoint.download``)."""
    audit_event_append(actor=actor, event_type=EventType.AUDIT_CHECKPOINT_DOWNLOAD, obj=checkpoint,
                       details={"size": checkpoint.size})
    return _checkpoint_document(checkpoint)


def audit_checkpoint_verify(raw: bytes | str) -> rules.CheckpointReport:
    """Check a kept checkpoint against the log as it is now (JL-A1; issue 11): the signature holds under
    this portal's key of that id, the log has at least its size, the event at its size has its head
    hash, and the whole chain verifies. A superuser who rewrote the table and recomputed every hash
    passes the plain chain walk but not this. ``rules.CheckpointError`` for a malformed file."""
    from telemed import signing

    checkpoint = rules.parse_checkpoint(raw)
    size = checkpoint["size"]
    problem = rules.checkpoint_signature_problem(checkpoint, settings.TELEMED_AUDIT_SIGNING_KEYS, signing.verify)
    if problem:
        return rules.CheckpointReport(size, False, problem)
    from .selectors import chain_length

    at_size = AuditEvent.objects.filter(sequence=size).values_list("hash", flat=True).first() if size else None
    problem = rules.checkpoint_chain_problem(checkpoint, chain_size=chain_length(), hash_at_size=at_size)
    if problem:
        return rules.CheckpointReport(size, False, problem)
    chain = audit_chain_verify()
    if not chain.intact:
        return rules.CheckpointReport(size, False, chain.text)
    return rules.CheckpointReport(size, True)
