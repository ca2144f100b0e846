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

from .definitions import ACTIVITY_KEYS, ALL_SERVICES, COUNTER_KEYS, RESPONSE, TURNAROUND, duration_stat
from .periods import month, quarter, year

CASE = "consultations.consultation"
BATCH_DAYS = 31
METRICS_LOCK = 9_222_017  # the advisory lock key of the facts writers


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


def calendar_periods(day: dt.date) -> list:
    """The stored calendar periods a day falls in: its month, quarter and year."""
    return [month(day), quarter(day), year(day.year)]


def scopes_of(facility_id: int, division_code: str) -> list[tuple[str, str]]:
    """The scopes a facility's facts count in, with their division code: the province, its city,
    its county (JL-O1; GB/T 2260 codes, once each) and the facility itself (``f<pk>``)."""
    return [(code, code) for code in division_scopes(division_code)] + [(f"f{facility_id}", division_code)]


def division_scopes(division_code: str) -> list[str]:
    """The divisions a facility of this division counts in: the province, its city, its county
    (GB/T 2260 codes, once each: a facility may sit at a city's or the province's own code)."""
    return list(dict.fromkeys([division_code[:2] + "0000", division_code[:4] + "00", division_code]))


def _lock() -> None:
    """One writer of the facts at a time (PostgreSQL advisory lock for the transaction): a slice
    refresh that waits reads the raw rows only after the one before it has committed."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [METRICS_LOCK])


def _month_firsts(start: dt.date, end: dt.date) -> list[dt.date]:
    firsts, current = [], start.replace(day=1)
    while current <= end:
        firsts.append(current)
        current = month(current).end + dt.timedelta(days=1)
    return firsts


def months_rebuild(firsts, *, only: set | None = None) -> None:
    """The month rollups of these months from their ``MetricDay`` rows (all facility × service
    slices, or ``only`` those); in the caller's transaction."""
    from django.db.models import Q, Sum

    from ..models import MetricDay, MetricMonth

    for first in firsts:
        days = MetricDay.objects.filter(day__gte=first, day__lte=month(first).end)
        rollups = MetricMonth.objects.filter(month=first)
        if only is not None:
            if not only:
                continue
            which = Q()
            for facility_id, service_type in only:
                which |= Q(facility_id=facility_id, service_type=service_type)
            days, rollups = days.filter(which), rollups.filter(which)
        rows = days.values("facility_id", "division_code", "service_type").annotate(**{k: Sum(k) for k in COUNTER_KEYS}).order_by()
        rollups.delete()
        MetricMonth.objects.bulk_create([MetricMonth(month=first, **row) for row in rows], batch_size=1000)


def stats_rebuild(periods) -> int:
    """The exact interval statistics of these calendar periods, for every scope and service type
    (and ``*``), each period replaced in one transaction; returns rows written."""
    from ..models import MetricDuration, MetricStat

    written = 0
    for period in {p.label: p for p in periods}.values():
        groups: dict = defaultdict(lambda: ([], []))
        division: dict[str, str] = {}
        for kind, facility_id, division_code, service_type, seconds, physician_id in MetricDuration.objects.filter(
            day__gte=period.start, day__lte=period.end
        ).values_list("kind", "facility_id", "division_code", "service_type", "seconds", "physician_id").iterator(chunk_size=5000):
            for scope, code in scopes_of(facility_id, division_code):
                division[scope] = code
                for service in (service_type, ALL_SERVICES):
                    values, physicians = groups[(scope, service, kind)]
                    values.append(seconds)
                    physicians.append(physician_id)
        rows = []
        for (scope, service, kind), (values, physicians) in groups.items():
            stat = duration_stat(values, physicians)
            rows.append(MetricStat(period=period.label, scope=scope, division_code=division[scope], service_type=service, kind=kind,
                                   count=stat.count, median=stat.median, p90=stat.p90, experts=stat.experts))
        with transaction.atomic():
            _lock()
            MetricStat.objects.filter(period=period.label).delete()
            MetricStat.objects.bulk_create(rows, batch_size=1000)
        written += len(rows)
    return written


# The stored period totals (MetricTotal): plain SQL, the same on PostgreSQL and SQLite.
_TOTAL = "facilities_metrictotal"
_COLUMNS = ", ".join(COUNTER_KEYS)
_SUMS = ", ".join(f"SUM({k})" for k in COUNTER_KEYS)
_ACTIVE = "CASE WHEN " + " OR ".join(f"SUM({k}) > 0" for k in ACTIVITY_KEYS) + " THEN 1 ELSE 0 END"
# A division's rows sum its facilities' rows: the province by the code's first two digits, the
# city by four (unless the facility sits at the province itself), the county by the whole code
# (unless at a city or the province) — once each, as ``scopes_of`` counts them.
_LEVELS = (("substr(division_code, 1, 2) || '0000'", "1 = 1"),
           ("substr(division_code, 1, 4) || '00'", "substr(division_code, 3, 4) <> '0000'"),
           ("division_code", "substr(division_code, 5, 2) <> '00'"))


def _marks(values) -> str:
    return ", ".join(["%s"] * len(values))


def totals_refresh(period, facility_ids=None) -> None:
    """Replace the stored totals of one calendar period (``MetricTotal``): the rows of these
    facilities (all, when ``None``) summed from their month rollups, then the rows of every
    division they count in (the province, their city and county) summed from the facilities'
    rows. Replaced, never incremented: running it again changes nothing. Its own transaction,
    under the facts writers' lock, after the month rollups it reads were written."""
    from django.db import connection

    from ..models import Facility, MetricTotal

    label, first, last = period.label, period.start.replace(day=1), period.end
    only, params = "", []
    if facility_ids is not None:
        facility_ids = sorted(set(facility_ids))
        if not facility_ids:
            return
        only, params = f" AND facility_id IN ({_marks(facility_ids)})", facility_ids
    with transaction.atomic():
        _lock()
        rows = MetricTotal.objects.filter(period=label)
        scopes = None
        if facility_ids is not None:
            facility_scopes = [f"f{pk}" for pk in facility_ids]
            # Every division the facilities count in, now and in the rows about to be replaced.
            codes = set(Facility.objects.filter(pk__in=facility_ids).values_list("division_id", flat=True))
            codes |= set(rows.filter(scope__in=facility_scopes).values_list("division_code", flat=True))
            scopes = sorted({scope for code in codes for scope in division_scopes(code)})
            rows.filter(scope__in=facility_scopes + scopes).delete()
        else:
            rows.delete()
        facility = "'f' || CAST(facility_id AS varchar(20))"
        where = f"month >= %s AND month <= %s{only}"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_TOTAL} (period, scope, division_code, service_type, {_COLUMNS}, active) "  # noqa: S608 - fixed names; values are parameters
                f"SELECT %s, {facility}, MAX(division_code), service_type, {_SUMS}, {_ACTIVE} FROM facilities_metricmonth "
                f"WHERE {where} GROUP BY facility_id, service_type UNION ALL "
                f"SELECT %s, {facility}, MAX(division_code), %s, {_SUMS}, {_ACTIVE} FROM facilities_metricmonth "
                f"WHERE {where} GROUP BY facility_id",
                [label, first, last, *params, label, ALL_SERVICES, first, last, *params])
            parts, part_params = [], []
            for code, level in _LEVELS:
                parts.append(f"SELECT {code} AS code, service_type, {_COLUMNS}, active FROM {_TOTAL} "  # noqa: S608
                             f"WHERE period = %s AND scope LIKE %s AND {level}")
                part_params += [label, "f%"]
            if scopes == []:
                return
            which = f" WHERE code IN ({_marks(scopes)})" if scopes else ""
            cursor.execute(
                f"INSERT INTO {_TOTAL} (period, scope, division_code, service_type, {_COLUMNS}, active) "  # noqa: S608 - fixed names; values are parameters
                f"SELECT %s, code, code, service_type, {_SUMS}, SUM(active) FROM ({' UNION ALL '.join(parts)}) AS facilities"
                f"{which} GROUP BY code, service_type",
                [label, *part_params, *(scopes or [])])


def totals_rebuild(periods, stale: dict | None = None) -> None:
    """The stored totals of these calendar periods: every row (``stale`` None), or only those of
    the facilities ``stale[label]`` names and their divisions."""
    for period in {p.label: p for p in periods}.values():
        totals_refresh(period, None if stale is None else stale.get(period.label, set()))


def _duration_keys(durations) -> set:
    return {(d.kind, d.source, d.day, d.facility_id, d.service_type, d.seconds, d.physician_id) for d in durations}


_DAY_FIELDS = ("day", "facility_id", "division_code", "service_type", *COUNTER_KEYS)


def _day_keys(rows) -> set:
    return {tuple(getattr(row, name) for name in _DAY_FIELDS) for row in rows}


def facts_rebuild(start: dt.date, end: dt.date, *, batch_days: int = BATCH_DAYS, all_stats: bool = False) -> int:
    """Replace the facts of ``start``..``end``, one transaction per batch of days, and the month
    rollups of their months; then the interval statistics of the calendar periods whose intervals
    changed and the stored totals of the facilities whose counters changed (``all_stats``: both
    of every period the days touch, every facility). Returns rows written."""
    from ..models import MetricDay, MetricDuration

    written = 0
    stale: dict[str, object] = {}
    periods: dict[str, object] = {}
    stale_totals: dict[str, set] = defaultdict(set)
    first = start
    while first <= end:
        last = min(end, first + dt.timedelta(days=batch_days - 1))
        with transaction.atomic():
            _lock()
            days, durations = compute_facts(first, last)
            old = MetricDuration.objects.filter(day__gte=first, day__lte=last)
            changed = _duration_keys(old) ^ _duration_keys(durations)
            if not all_stats:
                old_days = MetricDay.objects.filter(day__gte=first, day__lte=last).only(*_DAY_FIELDS)
                for day, facility_id, *_rest in _day_keys(old_days) ^ _day_keys(days):
                    for period in calendar_periods(day):
                        periods[period.label] = period
                        stale_totals[period.label].add(facility_id)
            MetricDay.objects.filter(day__gte=first, day__lte=last).delete()
            old.delete()
            MetricDay.objects.bulk_create(days, batch_size=1000)
            MetricDuration.objects.bulk_create(durations, batch_size=1000)
            months_rebuild(_month_firsts(first, last))
        touched = {key[2] for key in changed} if not all_stats else {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
        for day in touched:
            stale.update({p.label: p for p in calendar_periods(day)})
        written += len(days) + len(durations)
        first = last + dt.timedelta(days=1)
    if all_stats:
        totals_rebuild(stale.values())
    else:
        totals_rebuild(periods.values(), stale_totals)
    return written + stats_rebuild(stale.values())


def facts_refresh(slices) -> int:
    """Recompute the facts of some (Beijing day, facility, service type) slices from the raw rows
    — the per-event update (docs/metrics.md). Each slice is replaced, never incremented, so running
    it twice changes nothing; the month rollups of the slices follow, the stored totals of the
    day's month, quarter and year when its counters changed, and their interval statistics only
    when its intervals changed. Returns rows written."""
    from django.db.models import Q

    from ..models import MetricDay, MetricDuration

    by_day: dict[dt.date, set] = defaultdict(set)
    for day, facility_id, service_type in slices:
        by_day[day].add((facility_id, service_type or ""))
    written, stale = 0, {}
    periods: dict[str, object] = {}
    stale_totals: dict[str, set] = defaultdict(set)
    for day, pairs in sorted(by_day.items()):
        which = Q()
        for facility_id, service_type in pairs:
            which |= Q(facility_id=facility_id, service_type=service_type)
        with transaction.atomic():
            _lock()
            days, durations = compute_facts(day, day)
            days = [d for d in days if (d.facility_id, d.service_type) in pairs]
            durations = [d for d in durations if (d.facility_id, d.service_type) in pairs]
            old = MetricDuration.objects.filter(day=day).filter(which)
            changed = _duration_keys(old) != _duration_keys(durations)
            counted = {row[1] for row in _day_keys(MetricDay.objects.filter(day=day).filter(which).only(*_DAY_FIELDS)) ^ _day_keys(days)}
            MetricDay.objects.filter(day=day).filter(which).delete()
            old.delete()
            MetricDay.objects.bulk_create(days)
            MetricDuration.objects.bulk_create(durations)
            months_rebuild([day.replace(day=1)], only=pairs)
        if changed:
            stale.update({p.label: p for p in calendar_periods(day)})
        for period in calendar_periods(day) if counted else ():
            periods[period.label] = period
            stale_totals[period.label] |= counted
        written += len(days) + len(durations)
    # The stored totals of the day's month, quarter and year, for the facilities whose counters
    # changed and their divisions: batched per period over all the slices.
    totals_rebuild(periods.values(), stale_totals)
    return written + stats_rebuild(stale.values())


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
