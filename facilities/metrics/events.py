"""The per-event update of the dashboard's facts (issue 9, docs/metrics.md).

Every write a figure counts — a send, acceptance, decline, return, first signature, rating, an
obligation met or violated, a charge made or reversed — appends its audit event in the same
transaction (JL-A1), whichever path made it (page, API, Celery). So the dashboard listens to the
audit log rather than to the services: when such an event is inserted, the slices of the facts it
touches — (Beijing day, facility, service type) — are enqueued for ``facts.facts_refresh`` once
the transaction commits. That recomputes them from the raw rows, the one definition in
``facts.compute_facts``: nothing is incremented, so a repeated or late task changes nothing, and
no service of the three apps learns about the dashboard. A broker outage loses only freshness:
the periodic catch-up (``facts_catch_up``) stays the source of truth.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from audit.choices import EventType, Outcome

from .facts import beijing_day

logger = logging.getLogger(__name__)

# The audit events of the writes the figures count (definitions.COUNTERS / DURATIONS).
COUNTED = frozenset({
    EventType.CONSULTATION_SEND, EventType.CONSULTATION_ACCEPT, EventType.CONSULTATION_DECLINE,
    EventType.CONSULTATION_RETURN_MATERIAL, EventType.OPINION_SIGN, EventType.CONSULTATION_RATE,
    EventType.OBLIGATION_MET, EventType.OBLIGATION_VIOLATED, EventType.OBLIGATION_WITHDRAW,
    EventType.BILLING_CHARGE_CREATE, EventType.BILLING_CHARGE_REVERSE,
})


def _charge_slices(charge) -> set:
    day = beijing_day(charge.completed_at)
    return {(day, charge.inviting_id, charge.service_type_id), (day, charge.invited_id, charge.service_type_id)}


def slices_of_event(event) -> set[tuple[dt.date, int, str]]:
    """The (Beijing day, facility, service type) slices of the facts an audit event changes."""
    from billing.models import Charge, ChargeReversal
    from consultations.models import Consultation, Obligation, Opinion, Rating

    kind, pk = event.object_type, event.object_id
    if not pk.isdigit():
        return set()
    if kind == "consultations.consultation":
        case = Consultation.objects.filter(pk=pk).values("inviting_id", "invited_id", "service_type_id").first()
        if case is None:
            return set()
        day = beijing_day(event.occurred_at)
        return {(day, case["inviting_id"], case["service_type_id"]), (day, case["invited_id"], case["service_type_id"])}
    if kind == "consultations.opinion":
        case = Opinion.objects.filter(pk=pk).values("consultation__invited_id", "consultation__service_type_id", "consultation__signed_at").first()
        if case is None or case["consultation__signed_at"] is None:
            return set()
        return {(beijing_day(case["consultation__signed_at"]), case["consultation__invited_id"], case["consultation__service_type_id"])}
    if kind == "consultations.rating":
        rating = Rating.objects.filter(pk=pk).values("recorded_at", "consultation__invited_id", "consultation__service_type_id").first()
        if rating is None:
            return set()
        return {(beijing_day(rating["recorded_at"]), rating["consultation__invited_id"], rating["consultation__service_type_id"])}
    if kind == "consultations.obligation":
        obligation = Obligation.objects.filter(pk=pk).values("due_at", "facility_id").first()
        return {(beijing_day(obligation["due_at"]), obligation["facility_id"], "")} if obligation else set()
    if kind == "billing.charge":
        charge = Charge.objects.filter(pk=pk).first()
        return _charge_slices(charge) if charge else set()
    if kind == "billing.chargereversal":
        reversal = ChargeReversal.objects.filter(pk=pk).select_related("charge").first()
        return _charge_slices(reversal.charge) if reversal else set()
    return set()


def metrics_refresh_for_event(event_id: int) -> int:
    """The task's body: recompute the slices of one audit event (idempotent). Returns rows written."""
    from audit.models import AuditEvent

    from .facts import facts_refresh

    event = AuditEvent.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    return facts_refresh(slices_of_event(event))


def _send(event_id: int) -> None:
    from telemed.queue import BrokerUnavailable, send_now

    from ..tasks import metrics_refresh_task

    try:
        send_now(metrics_refresh_task, event_id=event_id)
    except BrokerUnavailable:
        # Only freshness is lost: the catch-up rebuilds the recent days from the raw rows.
        logger.warning("metrics refresh for audit event %s not sent; the catch-up will count it", event_id)


def on_audit_event(sender, instance, created: bool, **kwargs) -> None:
    """post_save of an audit event: a counted, successful one enqueues its slices' refresh on commit."""
    if created and instance.outcome == Outcome.SUCCESS and instance.event_type in COUNTED:
        transaction.on_commit(lambda: _send(instance.pk))


def connect() -> None:
    from django.db.models.signals import post_save

    from audit.models import AuditEvent

    post_save.connect(on_audit_event, sender=AuditEvent, dispatch_uid="facilities.metrics.events")
