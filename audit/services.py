"""The one writer of the audit log (JL-A1).

Every domain service calls ``audit_event_append`` inside its own transaction, so the event and
the change it records commit or vanish together. Appends are serialised so that concurrent
writers never fork the chain: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by
the database write lock that an IMMEDIATE transaction takes. ``prev_hash`` is also unique, so a
fork would be refused by the database even if the lock were bypassed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from telemed.context import current
from telemed.text import clean_data

from . import rules
from .choices import Outcome
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
    event_type: str,
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
    """
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
            "event_type": event_type,
            "object_type": object_type,
            "object_id": str(object_id) if object_id != "" else "",
            "facility_ids": sorted({int(f) for f in facility_ids if f is not None}),
            "outcome": str(outcome),
            "details": rules.json_normal(clean_data(details or {})),
        }
        event = AuditEvent(**fields, prev_hash=prev_hash, hash=rules.event_hash(fields, prev_hash))
        event.save(force_insert=True)
    return event


def audit_chain_verify(*, chunk_size: int = 5000) -> rules.ChainReport:
    """Walk the whole chain in sequence order (streamed, constant memory)."""
    fields = (*rules.HASHED_FIELDS, "prev_hash", "hash")
    rows = AuditEvent.objects.order_by("sequence").values(*fields).iterator(chunk_size=chunk_size)
    return rules.verify_chain(rows)


def verification_request(*, actor):
    """An operator or regulator asks for a background walk of the chain (JL-A1)."""
    from django.db import transaction as tx

    from telemed.errors import ApplicationError
    from telemed.scope import Scope

    from .models import VerificationRun
    from .tasks import audit_verify_chain_task

    scope = Scope.of(actor)
    if not (scope.is_operator or scope.is_regulator):
        raise ApplicationError("permission_denied", "JL-A1: 只有运维人员或卫生健康行政部门可以发起审计链校验。", status=403)
    running = VerificationRun.objects.filter(state__in=[VerificationRun.State.QUEUED, VerificationRun.State.RUNNING]).first()
    if running is not None:
        return running
    with tx.atomic():
        run = VerificationRun.objects.create(requested_by=actor, requested_at=timezone.now())
        audit_event_append(actor=actor, event_type="audit.chain.verify_request", obj=run,
                           acting_division_code=scope.regulated[0][0] if scope.regulated else "")
        tx.on_commit(lambda: audit_verify_chain_task.delay(run_id=run.pk))
    return run
