"""The one writer of the audit log (JL-A1).

Every domain service calls ``audit_event_append`` inside its own transaction, so the event and
the change it records commit or vanish together. So does the webhook outbox row an audited change produces
(``telemed.webhooks.services.webhook_outbox_write``, issue 14). Appends are serialised so that concurrent
writers never fork the chain: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by
the database write lock that an IMMEDIATE transaction takes. ``prev_hash`` is also unique, so a
fork would be refused by the database even if the lock were bypassed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from telemed.context import current
from telemed.crypto import chain_hash_algorithm
from telemed.errors import ApplicationError
from telemed.text import clean_data
from telemed.transactions import in_service_transaction, record_refusal
from telemed.webhooks.services import webhook_outbox_write, webhook_outbox_write_many

from . import rules
from .choices import EventType, Outcome
from .models import AuditEvent

# An arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_CHAIN_LOCK_KEY = 2202_2018


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def _actor_label(actor) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ""
    full = actor.get_full_name() if hasattr(actor, "get_full_name") else ""
    return f"{full}（{actor.get_username()}）" if full else actor.get_username()


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
    """Append one event to the chain, in the caller's transaction (or its own).

    ``details`` often carries what a request sent (query parameters, a purpose, a file name): its
    strings lose control, direction-override and zero-width characters first (``clean_data``),
    so that PostgreSQL's jsonb accepts them (it refuses NUL) and a reader sees what is there.
    ``event_type`` must be in the catalogue (``audit.choices.EventType``); anything else is a bug
    and raises ``ValueError`` before anything is written.
    """
    if event_type not in EventType.values:
        raise ValueError(f"unknown audit event type {event_type!r}: add it to audit.choices.EventType")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    ctx = current()
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
        sequence = last["sequence"] + 1 if last else 1
        prev_hash = last["hash"] if last else rules.GENESIS_HASH
        fields = {
            "sequence": sequence,
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
        # Issue 13 (密评): SM3 under sm4-gcm, else SHA-256 — recorded, so a later change still verifies.
        algorithm = chain_hash_algorithm(settings.TELEMED_DATA_CIPHER)
        event = AuditEvent(**fields, hash_algorithm=algorithm, prev_hash=prev_hash,
                           hash=rules.event_hash(fields, prev_hash, algorithm))
        event.save(force_insert=True)
        # Issue 14: the webhook outbox row commits or vanishes with the change and its event.
        webhook_outbox_write(event, obj)
    return event


def audit_events_append_many(events: list[dict]) -> list[AuditEvent]:
    """Append several events, in order, under ONE acquisition of the chain's lock (JL-A1; issue 11).

    Each item takes the keyword arguments of ``audit_event_append`` (``actor``, ``event_type``,
    ``outcome``, ``obj``, ``object_type``, ``object_id``, ``acting_facility_id``,
    ``acting_division_code``, ``facility_ids``, ``details``) and gets exactly what a call of it would
    write: a checked type, cleaned details, consecutive sequences, each hash over its own fields and
    the previous event's hash with the recorded ``hash_algorithm``, and its webhook outbox rows in the
    same transaction. A batch of N events costs a constant number of queries, not N appends.
    """
    if not events:
        return []
    known = set(EventType.values)  # once per batch: ``.values`` rebuilds the catalogue's list on every read
    for item in events:
        if item["event_type"] not in known:
            raise ValueError(f"unknown audit event type {item['event_type']!r}: add it to audit.choices.EventType")
    ctx = current()
    algorithm = chain_hash_algorithm(settings.TELEMED_DATA_CIPHER)
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
        sequence = last["sequence"] if last else 0
        prev_hash = last["hash"] if last else rules.GENESIS_HASH
        built, objects = [], []
        for item in events:
            obj, actor = item.get("obj"), item.get("actor")
            object_type, object_id = item.get("object_type", ""), item.get("object_id", "")
            if obj is not None:
                object_type = object_type or obj._meta.label_lower
                object_id = object_id or obj.pk
            sequence += 1
            fields = {
                "sequence": sequence,
                "occurred_at": timezone.now(),
                "actor_id": actor.pk if actor is not None and getattr(actor, "pk", None) else None,
                "actor_label": _actor_label(actor),
                "acting_facility_id": item.get("acting_facility_id"),
                "acting_division_code": item.get("acting_division_code") or "",
                "ip_address": ctx.ip_address,
                "request_id": ctx.request_id,
                "channel": ctx.channel,
                "event_type": str(item["event_type"]),
                "object_type": object_type,
                "object_id": str(object_id) if object_id != "" else "",
                "facility_ids": sorted({int(f) for f in item.get("facility_ids", ()) if f is not None}),
                "outcome": str(item.get("outcome", Outcome.SUCCESS)),
                "details": rules.json_normal(clean_data(item.get("details") or {})),
            }
            event_hash = rules.event_hash(fields, prev_hash, algorithm)
            built.append(AuditEvent(**fields, hash_algorithm=algorithm, prev_hash=prev_hash, hash=event_hash))
            objects.append(obj)
            prev_hash = event_hash
        created = AuditEvent.objects.bulk_create(built)
        # Issue 14: the outbox rows commit or vanish with the changes and their events.
        webhook_outbox_write_many(list(zip(created, objects, strict=True)))
    return created


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


def audit_chain_verify(*, chunk_size: int = 5000) -> rules.ChainReport:
    """Walk the whole chain in sequence order (streamed, constant memory)."""
    rows = AuditEvent.objects.order_by("sequence").values(*rules.VERIFIED_FIELDS).iterator(chunk_size=chunk_size)
    return rules.verify_chain(rows)


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
    ``sm4-gcm``. Idempotent: a log already checkpointed at this size returns that checkpoint. The head is
    read under the chain's lock, so no append slips in between; the signing is itself audited
    (``audit.checkpoint.sign``), as the next event after the checkpointed head."""
    from telemed import signing

    from .models import AuditCheckpoint

    with transaction.atomic():
        _lock_chain()
        head = AuditEvent.objects.order_by("-sequence").values("sequence", "hash").first()
        size, head_hash = (head["sequence"], head["hash"]) if head else (0, rules.GENESIS_HASH)
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
