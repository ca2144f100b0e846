"""JL-C4 "promptly" (及时): the invited side's response clock.

A sent request should be accepted or declined within the target of its urgency
(``settings.TELEMED_RESPONSE_TARGET_MINUTES``, checked by ``rules.response_clock``). Once the target
is passed, the invited facility's coordinators are told in the portal, once per sending: the sweep
claims the case by a compare-and-swap on ``Consultation.response_reminded_for`` (the ``sent_at`` it
reminded for), and the notification carries a dedupe key per case, sending and target, so a
redelivered or concurrent run sends nothing twice. A request returned and sent again has a new
``sent_at`` and so its own clock. The subject names the request, not the patient.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from facilities.choices import StaffRole

from .. import rules
from ..choices import ConsultationState
from ..models import Consultation
from ._common import notify

RESPONSE_BATCH = 200
RESPONSE_ROLES = (StaffRole.COORDINATOR,)


def _overdue(now: datetime, targets: dict[str, int]):
    """Requests awaiting acceptance past their urgency's target and not yet reminded for this
    sending, oldest first (partial index ``consult_awaiting_sent_idx``)."""
    past_target = Q()
    for urgency, minutes in targets.items():
        past_target |= Q(urgency=urgency, sent_at__lt=now - timedelta(minutes=minutes))
    return (
        Consultation.objects.filter(past_target, state=ConsultationState.SENT, sent_at__isnull=False)
        .filter(Q(response_reminded_for__isnull=True) | ~Q(response_reminded_for=F("sent_at")))
        .order_by("sent_at", "pk")
    )


def response_reminder_sweep(*, now: datetime | None = None, batch_size: int = RESPONSE_BATCH) -> int:
    """Remind the invited coordinators of every sent request whose JL-C4 target has passed, in
    batches until none is left; returns how many requests were reminded. Safe to run twice."""
    now = now or timezone.now()
    targets = settings.TELEMED_RESPONSE_TARGET_MINUTES
    reminded = 0
    while True:
        batch = list(_overdue(now, targets).only("pk", "number", "urgency", "sent_at", "invited_id")[:batch_size])
        claimed = 0
        for consultation in batch:
            clock = rules.response_clock(
                urgency=consultation.urgency, sent_at=consultation.sent_at, now=now, targets_minutes=targets
            )
            if not clock.passed:
                continue
            with transaction.atomic():
                # Claim: only the run that marks this sending as reminded sends the reminder.
                if (
                    Consultation.objects.filter(pk=consultation.pk, state=ConsultationState.SENT, sent_at=consultation.sent_at)
                    .exclude(response_reminded_for=consultation.sent_at)
                    .update(response_reminded_for=consultation.sent_at)
                    != 1
                ):
                    continue
                claimed += 1
                notify(
                    facility_id=consultation.invited_id,
                    roles=RESPONSE_ROLES,
                    message_key="consultation.response_overdue",
                    params={
                        "number": consultation.number,
                        "urgency": consultation.urgency,
                        "waited": clock.waited_minutes,
                        "target": clock.target_minutes,
                    },
                    link=reverse("consultations:detail", args=[consultation.pk]),
                    dedupe_key=f"consultation:{consultation.pk}:response:{consultation.sent_at.timestamp():.0f}:{clock.target_minutes}",
                )
        reminded += claimed
        if len(batch) < batch_size or not claimed:
            return reminded
