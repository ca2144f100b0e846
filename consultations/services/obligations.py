"""JL-C2 (art. 22): open, meet, remind, and record violations of the 24-hour upload obligation.

``obligation_sweep`` is the source of truth (STYLE 5). It runs from Celery beat every
``TELEMED_SWEEP_SECONDS``, and each step claims its work with a compare-and-swap, so two workers,
a redelivered message or a re-run after an outage never record anything twice; a deadline that
passed while nothing ran is recorded on the next run with its real due time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType, Outcome
from audit.rules import json_normal
from audit.services import audit_event_append, audit_events_append_many
from facilities.choices import StaffRole
from telemed.bulk import insert_rows, instances
from telemed.errors import ApplicationError
from telemed.webhooks.rules import WebhookEventType
from telemed.webhooks.services import webhook_event_emit

from .. import rules
from ..choices import ObligationState, TriggerKind
from ..models import VIOLATION_UPLOAD_MISSED, Admission, Consultation, Obligation, Patient, Violation
from ._common import notify
from .patients import require_clinical_role

SWEEP_BATCH = 500
_VIOLATION_COLUMNS = ("facility_id", "obligation_id", "rule", "due_at", "recorded_at", "message_key", "description")


def _open(*, actor, patient: Patient, trigger: str, trigger_at: datetime, due_at: datetime, admission=None, details=None) -> Obligation:
    obligation = Obligation.objects.create(
        facility_id=patient.facility_id,
        patient=patient,
        admission=admission,
        trigger=trigger,
        trigger_at=trigger_at,
        due_at=due_at,
        trigger_details=json_normal(details or {}),
    )
    audit_event_append(
        actor=actor,
        event_type=EventType.OBLIGATION_OPEN,
        obj=obligation,
        acting_facility_id=patient.facility_id,
        facility_ids=[patient.facility_id],
        details={"rule": "JL-C2", "trigger": trigger, "trigger_at": trigger_at, "due_at": due_at, **(details or {})},
    )
    return obligation


@transaction.atomic
def obligation_open(*, actor, patient: Patient, trigger: str, event_at: datetime, details: dict | None = None, admission=None) -> Obligation:
    """Staff (or a partner system) record trigger (2) or (3) of art. 22; the deadline follows from it."""
    require_clinical_role(actor, patient.facility_id)
    if trigger not in (TriggerKind.EXPERT_CONSULT_FAILED, TriggerKind.PATIENT_REQUEST):
        raise ApplicationError("invalid", _("入院超3日未明确诊断的情形由系统根据入院和诊断记录自动判定。"))
    if event_at > timezone.now():
        raise ApplicationError("invalid", _("触发时间不能晚于当前时间。"))
    trigger_at, due_at = rules.trigger_and_due(trigger, event_at=event_at, after_hours=settings.TELEMED_UNDIAGNOSED_AFTER_HOURS)
    return _open(actor=actor, patient=patient, trigger=trigger, trigger_at=trigger_at, due_at=due_at, admission=admission, details=details)


@transaction.atomic
def obligation_withdraw(*, actor, obligation: Obligation, reason: str) -> Obligation:
    """E.g. the patient left or died before the deadline; the reason is kept and regulators see it."""
    require_clinical_role(actor, obligation.facility_id)
    if not reason.strip():
        raise ApplicationError("JL-C2", _("JL-C2 第二十二条: 撤销上传义务须写明原因。"))
    if Obligation.objects.filter(pk=obligation.pk, state=ObligationState.OPEN).update(
        state=ObligationState.WITHDRAWN, withdrawn_reason=reason.strip()
    ) != 1:
        raise ApplicationError("invalid_state", _("该义务已完成、超时或已撤销。"))
    audit_event_append(
        actor=actor, event_type=EventType.OBLIGATION_WITHDRAW, obj=obligation, acting_facility_id=obligation.facility_id,
        facility_ids=[obligation.facility_id], details={"reason": reason.strip()},
    )
    obligation.refresh_from_db()
    return obligation


def obligations_meet(*, actor, consultation: Consultation, delivered_at: datetime, material_kinds) -> list[Obligation]:
    """A request with the required material reached the invited side: meet the patient's open obligations
    that are still within their deadline (called in the send transaction)."""
    if not rules.material_check(material_kinds).passed:
        return []
    met = []
    candidates = Obligation.objects.filter(
        facility_id=consultation.inviting_id, patient_id=consultation.patient_id, state=ObligationState.OPEN
    )
    for obligation in candidates:
        if not rules.is_on_time(delivered_at=delivered_at, due_at=obligation.due_at):
            continue  # the sweep records it as violated
        claimed = Obligation.objects.filter(pk=obligation.pk, state=ObligationState.OPEN).update(
            state=ObligationState.MET, met_at=delivered_at, consultation=consultation
        )
        if claimed == 1:
            audit_event_append(
                actor=actor,
                event_type=EventType.OBLIGATION_MET,
                obj=obligation,
                acting_facility_id=consultation.inviting_id,
                facility_ids=[consultation.inviting_id, consultation.invited_id],
                details={"rule": "JL-C2", "consultation": consultation.number, "delivered_at": delivered_at, "due_at": obligation.due_at},
            )
            met.append(obligation)
    return met


def _meet_by_earlier_request(obligation: Obligation, *, since: datetime) -> None:
    """Art. 22 (1) arises for a patient whose records already went out during this stay: a request
    sent after admission with the required material already meets it (at the time it was sent)."""
    earlier = (
        Consultation.objects.filter(
            inviting_id=obligation.facility_id, patient_id=obligation.patient_id, sent_at__gte=since, sent_at__lte=obligation.due_at
        )
        .order_by("sent_at")
        .prefetch_related("documents")
    )
    for consultation in earlier:
        kinds = {d.kind for d in consultation.documents.all() if d.returned_at is None}
        if rules.material_check(kinds).passed:
            obligations_meet(actor=None, consultation=consultation, delivered_at=consultation.sent_at, material_kinds=kinds)
            return


@dataclass
class SweepReport:
    opened: int = 0
    reminded: int = 0
    violated: int = 0


def _open_undiagnosed(now: datetime, report: SweepReport) -> None:
    hours = settings.TELEMED_UNDIAGNOSED_AFTER_HOURS
    threshold = now - timezone.timedelta(hours=hours)
    admissions = Admission.objects.filter(
        diagnosis_confirmed_at__isnull=True,
        discharged_at__isnull=True,
        undiagnosed_obligation_opened=False,
        admitted_at__lt=threshold,
    ).select_related("patient")[:SWEEP_BATCH]
    for admission in admissions:
        with transaction.atomic():
            if Admission.objects.filter(pk=admission.pk, undiagnosed_obligation_opened=False).update(undiagnosed_obligation_opened=True) != 1:
                continue  # another worker took it
            trigger_at, due_at = rules.trigger_and_due(TriggerKind.UNDIAGNOSED, event_at=admission.admitted_at, after_hours=hours)
            try:
                with transaction.atomic():
                    obligation = _open(
                        actor=None, patient=admission.patient, trigger=TriggerKind.UNDIAGNOSED, trigger_at=trigger_at,
                        due_at=due_at, admission=admission, details={"admitted_at": admission.admitted_at, "after_hours": hours},
                    )
            except IntegrityError:
                continue
            report.opened += 1
            _meet_by_earlier_request(obligation, since=admission.admitted_at)


def _remind(now: datetime, report: SweepReport) -> None:
    offsets = settings.TELEMED_REMINDER_HOURS
    horizon = now + timezone.timedelta(hours=max(offsets))
    due_soon = Obligation.objects.filter(state=ObligationState.OPEN, due_at__gt=now, due_at__lte=horizon).select_related("patient")
    for obligation in due_soon[:SWEEP_BATCH]:
        pending = rules.reminders_due(due_at=obligation.due_at, now=now, offsets_hours=offsets, already_sent=obligation.reminders_sent)
        if not pending:
            continue
        with transaction.atomic():
            # Claim: only the worker that moves reminders_sent from the value it read sends them.
            sent = sorted(set(obligation.reminders_sent) | set(pending), reverse=True)
            if Obligation.objects.filter(pk=obligation.pk, state=ObligationState.OPEN, reminders_sent=obligation.reminders_sent).update(reminders_sent=sent) != 1:
                continue
            hours_left = min(pending)
            local_due = timezone.localtime(obligation.due_at)
            notify(
                facility_id=obligation.facility_id,
                roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN),
                message_key="obligation.reminder",
                params={"name": obligation.patient.name, "due": f"{local_due:%Y-%m-%d %H:%M}", "h": hours_left},
                link=reverse("consultations:obligation-list"),
                dedupe_key=f"obligation:{obligation.pk}:remind:{hours_left}",
            )
            webhook_event_emit(  # issue 14: partner systems hear of it too
                hook_type=WebhookEventType.OBLIGATION_DUE_SOON, facility_ids=[obligation.facility_id], occurred_at=now,
                resource=("obligation", str(obligation.pk), reverse("consultations-api:obligation-detail", args=[obligation.pk])),
                data={"rule": "JL-C2", "due_at": obligation.due_at.isoformat(), "hours_left": hours_left},
            )
            report.reminded += 1


def _violations_batch(now: datetime, size: int) -> int:
    """One batch of missed JL-C2 deadlines, in one transaction and a constant number of queries.

    Claim: the due open obligations are locked with ``FOR UPDATE SKIP LOCKED`` (on the partial index
    of open obligations by due time), so a second sweep running at once takes other rows, and a
    meeting upload waits for this commit and then finds the obligation no longer open; the claimed
    rows then move open → violated in one compare-and-swap UPDATE (on SQLite the IMMEDIATE transaction
    serialises writers). Then, for the whole batch: the violations (bulk), their audit events under
    one chain lock (``audit_events_append_many``, with their webhook outbox rows) and the notices
    (``notify_many``) — the same rows, texts and events the one-by-one sweep wrote, the violations and
    notices as hand-written multi-row INSERTs (``telemed.bulk``). Nothing listens for a violation's
    ``post_save`` (``bulk_create`` never sent one); the audit events' is sent. Returns the number of
    obligations claimed (0: nothing left)."""
    from notifications.services import notify_many

    overdue = Obligation.objects.filter(state=ObligationState.OPEN, due_at__lt=now)
    if not overdue.exists():  # the idle sweep: one indexed probe, no transaction
        return 0
    with transaction.atomic():
        # Plain values, not instances: the patient's name is all the notice needs (no decryption of
        # the patient's numbers, no model building for 500 rows; issue 11).
        due = list(
            overdue.select_for_update(skip_locked=True, of=("self",)).order_by("due_at", "pk")
            .values_list("pk", "facility_id", "due_at", "patient__name")[:size]
        )
        if not due:
            return 0
        ids = [pk for pk, *_ in due]
        claimed = Obligation.objects.filter(pk__in=ids, state=ObligationState.OPEN).update(state=ObligationState.VIOLATED)
        if claimed != len(ids):  # cannot happen under the row locks; refuse rather than record twice
            raise RuntimeError("JL-C2 sweep: claimed obligations changed under their locks")
        # The text is rendered when shown (issue 12); one multi-row INSERT (telemed.bulk).
        rows = [(facility_id, pk, "JL-C2", due_at, now, VIOLATION_UPLOAD_MISSED, "") for pk, facility_id, due_at, _ in due]
        violation_ids = insert_rows(Violation, _VIOLATION_COLUMNS, rows)
        violations = instances(Violation, [
            {"id": vid, **dict(zip(_VIOLATION_COLUMNS, row, strict=True))} for (vid,), row in zip(violation_ids, rows, strict=True)
        ])
        audit_events_append_many([
            {"actor": None, "event_type": EventType.OBLIGATION_VIOLATED, "outcome": Outcome.FAILURE, "obj": v,
             "acting_facility_id": facility_id, "facility_ids": [facility_id],
             "details": {"rule": "JL-C2", "obligation_id": pk, "due_at": due_at, "recorded_at": now}}
            for (pk, facility_id, due_at, _), v in zip(due, violations, strict=True)
        ])
        link = reverse("consultations:obligation-list")
        notify_many([
            {"facility_id": facility_id, "roles": (StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN),
             "message_key": "obligation.violated", "params": {"name": name}, "link": link,
             "dedupe_key": f"obligation:{pk}:violated"}
            for pk, facility_id, _, name in due
        ])
    return len(due)


def _record_violations(now: datetime, report: SweepReport, batch_size: int) -> None:
    """JL-C2: record the missed deadlines, ``batch_size`` obligations per transaction, at most
    ``SWEEP_BATCH`` per run (the next run takes the rest, as before)."""
    while report.violated < SWEEP_BATCH:
        claimed = _violations_batch(now, min(batch_size, SWEEP_BATCH - report.violated))
        report.violated += claimed
        if claimed < batch_size:
            return


def obligation_sweep(*, now: datetime | None = None, batch_size: int | None = None) -> SweepReport:
    """Open art. 22 (1) obligations, send due reminders, record missed deadlines. Idempotent.

    ``batch_size`` (default ``TELEMED_SWEEP_BATCH_SIZE``): the violations recorded per transaction."""
    now = now or timezone.now()
    batch_size = max(1, batch_size or settings.TELEMED_SWEEP_BATCH_SIZE)
    report = SweepReport()
    _open_undiagnosed(now, report)
    _remind(now, report)
    _record_violations(now, report, batch_size)
    return report
