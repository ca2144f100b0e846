"""The daily facts, rebuilt from the raw rows (docs/metrics.md).

``facts_rebuild(start, end)`` replaces the facts of those Beijing days, a batch of days per
transaction (delete the batch's rows, bulk-insert the new ones): running it twice, or late, gives
the same rows. ``facts_catch_up()`` is the beat job: the last few days, where new events land, plus
the days of any charge reversed since (a refund changes its completion day's fees, JL-B3).
``manage.py rebuild_metrics [--since]`` rebuilds everything from a day onwards.

Each raw row is put on the Beijing day of the timestamp its figure names in ``definitions``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .definitions import COUNTER_KEYS, RESPONSE, TURNAROUND

CASE = "consultations.consultation"
BATCH_DAYS = 31


def day_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant of ``start``, first instant after ``end``) in Beijing time."""
    zone = timezone.get_default_timezone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=zone),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
    )


def beijing_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _decision_events(lo, hi):
    from audit.choices import EventType, Outcome
    from audit.models import AuditEvent

    kinds = {
        EventType.CONSULTATION_SEND: "sent",
        EventType.CONSULTATION_ACCEPT: "accepted",
        EventType.CONSULTATION_DECLINE: "declined",
        EventType.CONSULTATION_RETURN_MATERIAL: "returned",
    }
    rows = AuditEvent.objects.filter(
        event_type__in=list(kinds), outcome=Outcome.SUCCESS, object_type=CASE, occurred_at__gte=lo, occurred_at__lt=hi
    ).values_list("pk", "event_type", "object_id", "occurred_at")
    return [(pk, kinds[kind], int(object_id), at) for pk, kind, object_id, at in rows]


def _sends_of(case_ids) -> dict[int, list[dt.datetime]]:
    from audit.choices import EventType, Outcome
    from audit.models import AuditEvent

    sends: dict[int, list[dt.datetime]] = defaultdict(list)
    rows = AuditEvent.objects.filter(
        event_type=EventType.CONSULTATION_SEND, outcome=Outcome.SUCCESS, object_type=CASE,
        object_id__in=[str(pk) for pk in case_ids],
    ).values_list("object_id", "occurred_at")
    for object_id, at in rows:
        sends[int(object_id)].append(at)
    return sends


def compute_facts(start: dt.date, end: dt.date) -> tuple[list, list]:
    """The MetricDay and MetricDuration rows (unsaved) of the Beijing days ``start``..``end``."""
    from billing.models import Charge
    from consultations.choices import ObligationState
    from consultations.models import Consultation, Obligation, Opinion, Rating, Violation

    from ..models import Facility, MetricDay, MetricDuration

    lo, hi = day_bounds(start, end)
    division_of = dict(Facility.objects.values_list("pk", "division_id"))
    counters: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_KEYS, 0))
    durations: list[MetricDuration] = []

    def add(day, facility_id, service_type, key, amount=1):
        counters[(day, facility_id, service_type or "")][key] += amount

    # JL-C4/C5: sends, decisions and returns from the case timeline (the audit log, JL-A1).
    events = _decision_events(lo, hi)
    cases = {
        pk: (inviting, invited, service)
        for pk, inviting, invited, service in Consultation.objects.filter(pk__in={e[2] for e in events}).values_list(
            "pk", "inviting_id", "invited_id", "service_type_id"
        )
    }
    decided = {e[2] for e in events if e[1] in ("accepted", "declined")}
    sends = _sends_of(decided) if decided else {}
    for pk, key, case_id, at in events:
        if case_id not in cases:  # an event naming no case (never expected: cases are never deleted, JL-C8)
            continue
        inviting, invited, service = cases[case_id]
        day = beijing_day(at)
        add(day, inviting if key == "sent" else invited, service, key)
        if key in ("accepted", "declined"):
            answered = max((s for s in sends.get(case_id, ()) if s <= at), default=None)
            if answered is not None:
                durations.append(MetricDuration(kind=RESPONSE, source=pk, day=day, facility_id=invited,
                                                division_code=division_of[invited], service_type=service,
                                                seconds=int((at - answered).total_seconds())))

    # JL-C6: completed at the first signing; turnaround from acceptance.
    signed = list(Consultation.objects.filter(signed_at__gte=lo, signed_at__lt=hi).values_list(
        "pk", "invited_id", "service_type_id", "signed_at", "accepted_at"))
    signers = dict(Opinion.objects.filter(consultation_id__in=[s[0] for s in signed], version=1).values_list("consultation_id", "signed_by_id"))
    for pk, invited, service, signed_at, accepted_at in signed:
        day = beijing_day(signed_at)
        add(day, invited, service, "completed")
        if accepted_at is not None:
            durations.append(MetricDuration(kind=TURNAROUND, source=pk, day=day, facility_id=invited,
                                            division_code=division_of[invited], service_type=service,
                                            seconds=int((signed_at - accepted_at).total_seconds()), physician_id=signers.get(pk)))

    # JL-C2: obligations decided, met in time, violations — by the deadline's day.
    for facility_id, state, met_at, due_at in Obligation.objects.filter(
        due_at__gte=lo, due_at__lt=hi, state__in=[ObligationState.MET, ObligationState.VIOLATED]
    ).values_list("facility_id", "state", "met_at", "due_at"):
        day = beijing_day(due_at)
        add(day, facility_id, "", "obligations_due")
        if state == ObligationState.MET and met_at is not None and met_at <= due_at:
            add(day, facility_id, "", "obligations_met")
    for facility_id, due_at in Violation.objects.filter(due_at__gte=lo, due_at__lt=hi).values_list("facility_id", "due_at"):
        add(beijing_day(due_at), facility_id, "", "violations")

    # JL-O5: satisfaction, to the invited side that delivered the service.
    for invited, service, score, at in Rating.objects.filter(recorded_at__gte=lo, recorded_at__lt=hi).values_list(
        "consultation__invited_id", "consultation__service_type_id", "score", "recorded_at"
    ):
        day = beijing_day(at)
        add(day, invited, service, "ratings_count")
        add(day, invited, service, "ratings_sum", score)

    # JL-B3: fees of charges not reversed, by completion day.
    for inviting, invited, service, fee, inviting_share, invited_share, at in Charge.objects.filter(
        completed_at__gte=lo, completed_at__lt=hi, reversal__isnull=True
    ).values_list("inviting_id", "invited_id", "service_type_id", "fee_fen", "inviting_share_fen", "invited_share_fen", "completed_at"):
        day = beijing_day(at)
        add(day, inviting, service, "fee_fen", fee)
        add(day, inviting, service, "inviting_share_fen", inviting_share)
        add(day, invited, service, "invited_share_fen", invited_share)

    days = [
        MetricDay(day=day, facility_id=facility_id, division_code=division_of[facility_id], service_type=service, **values)
        for (day, facility_id, service), values in counters.items()
    ]
    return days, durations


def facts_rebuild(start: dt.date, end: dt.date, *, batch_days: int = BATCH_DAYS) -> int:
    """Replace the facts of ``start``..``end``, one transaction per batch of days; returns rows written."""
    from ..models import MetricDay, MetricDuration

    written = 0
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(days=batch_days - 1))
        days, durations = compute_facts(first, last)
        with transaction.atomic():
            MetricDay.objects.filter(day__gte=first, day__lte=last).delete()
            MetricDuration.objects.filter(day__gte=first, day__lte=last).delete()
            MetricDay.objects.bulk_create(days, batch_size=1000)
            MetricDuration.objects.bulk_create(durations, batch_size=1000)
        written += len(days) + len(durations)
        first = last + dt.timedelta(days=1)
    return written


def earliest_day() -> dt.date:
    """The first Beijing day with any raw row the facts count (for a full rebuild)."""
    from django.db.models import Min

    from audit.models import AuditEvent
    from billing.models import Charge
    from consultations.models import Obligation

    candidates = [
        AuditEvent.objects.filter(object_type=CASE).aggregate(m=Min("occurred_at"))["m"],
        Obligation.objects.aggregate(m=Min("due_at"))["m"],
        Charge.objects.aggregate(m=Min("completed_at"))["m"],
    ]
    moments = [c for c in candidates if c is not None]
    return beijing_day(min(moments)) if moments else timezone.localdate()


def facts_catch_up(*, today: dt.date | None = None) -> int:
    """The beat job (idempotent): rebuild the recent days, and the days of recently reversed charges."""
    from billing.models import Charge

    today = today or timezone.localdate()
    since = today - dt.timedelta(days=settings.TELEMED_METRICS_CATCHUP_DAYS)
    written = facts_rebuild(since, today)
    lo, _hi = day_bounds(since, today)
    older = {
        beijing_day(at)
        for at in Charge.objects.filter(reversal__reversed_at__gte=lo).values_list("completed_at", flat=True)
    }
    for day in sorted(d for d in older if d < since):
        written += facts_rebuild(day, day)
    return written
