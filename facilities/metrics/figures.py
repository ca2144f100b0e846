"""The figures of a division or a facility for a period, read from the daily facts.

Two queries load a period's facts (counters grouped by facility × service type, and the
intervals); every slice — the whole subject, each service type (JL-C1), each sub-division, each
facility — is then cut from them in Python with ``definitions.derive``, so each figure is computed
one way only and a page costs the same number of queries however much data there is.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q, Sum
from django.db.models.functions import ExtractMonth, ExtractYear

from .definitions import ACTIVITY_KEYS, COUNTER_KEYS, TURNAROUND, derive
from .periods import Period, trailing_months


@dataclass(frozen=True)
class Subject:
    """What the figures are about: a division (JL-O1, by code prefix) or one facility."""

    division_code: str = ""
    prefix: str = ""
    facility_id: int | None = None

    @classmethod
    def of_division(cls, division) -> Subject:
        return cls(division_code=division.code, prefix=division.prefix)

    @classmethod
    def of_facility(cls, facility) -> Subject:
        return cls(facility_id=facility.pk)

    def q(self, *, facility: str = "facility_id", division: str = "division_code") -> Q:
        if self.facility_id is not None:
            return Q(**{facility: self.facility_id})
        # A range on the code instead of LIKE 'prefix%': the (division_code, day) index serves it
        # under any collation, and GB/T 2260 codes are digits of one length.
        upper = str(int(self.prefix) + 1).zfill(len(self.prefix))
        return Q(**{f"{division}__gte": self.prefix, f"{division}__lt": upper})

    def child_code(self, division_code: str) -> str:
        """The sub-division a facility's division falls in: cities under the province, counties under a city."""
        if self.facility_id is not None or len(self.prefix) >= 6:
            return ""
        if len(self.prefix) == 2:
            return division_code[:4] + "00"
        return division_code


@dataclass
class Row:
    facility_id: int
    division_code: str
    service_type: str
    month: str = ""
    counters: dict = field(default_factory=dict)


@dataclass
class Interval:
    kind: str
    facility_id: int
    division_code: str
    service_type: str
    seconds: int
    physician_id: int | None
    month: str = ""


class Facts:
    """The facts of one subject over some days, ready to be cut into slices."""

    def __init__(self, rows: list[Row], intervals: list[Interval]):
        self.rows = rows
        self.intervals = intervals

    @classmethod
    def load(cls, subject: Subject, start: dt.date, end: dt.date, *, by_month: bool = False) -> Facts:
        from ..models import MetricDay, MetricDuration

        where = subject.q() & Q(day__gte=start, day__lte=end)
        keys = ["facility_id", "division_code", "service_type"]
        queryset = MetricDay.objects.filter(where)
        if by_month:
            queryset = queryset.annotate(y=ExtractYear("day"), m=ExtractMonth("day"))
            keys += ["y", "m"]
        rows = [
            Row(r["facility_id"], r["division_code"], r["service_type"],
                f"{r['y']:04d}-{r['m']:02d}" if by_month else "", {k: r[k] or 0 for k in COUNTER_KEYS})
            for r in queryset.values(*keys).annotate(**{k: Sum(k) for k in COUNTER_KEYS}).order_by()
        ]
        intervals = [
            Interval(kind, facility_id, division_code, service_type, seconds, physician_id, f"{day:%Y-%m}")
            for kind, facility_id, division_code, service_type, seconds, physician_id, day in MetricDuration.objects.filter(where)
            .values_list("kind", "facility_id", "division_code", "service_type", "seconds", "physician_id", "day")
            .order_by()
        ]
        return cls(rows, intervals)

    def slices(self, key: Callable[[Row | Interval], object]) -> dict[object, dict]:
        """The figures of every slice, ``key`` naming the slice each fact belongs to (None: left out)."""
        counters: dict = defaultdict(lambda: dict.fromkeys(COUNTER_KEYS, 0))
        durations: dict = defaultdict(lambda: defaultdict(list))
        facilities: dict = defaultdict(set)
        experts: dict = defaultdict(set)
        for row in self.rows:
            k = key(row)
            if k is None:
                continue
            bucket = counters[k]
            for name, value in row.counters.items():
                bucket[name] += value
            if any(row.counters[name] for name in ACTIVITY_KEYS):
                facilities[k].add(row.facility_id)
        for interval in self.intervals:
            k = key(interval)
            if k is None:
                continue
            durations[k][interval.kind].append(interval.seconds)
            if interval.kind == TURNAROUND and interval.physician_id is not None:
                experts[k].add(interval.physician_id)
        return {
            k: derive(counters[k], durations[k], facilities=facilities[k], experts=experts[k])
            for k in set(counters) | set(durations)
        }

    def total(self) -> dict:
        return self.slices(lambda _fact: "all").get("all") or derive({}, {}, facilities=set(), experts=set())


def figures(subject: Subject, period: Period) -> dict:
    """The headline figures of a subject for a period (two queries)."""
    return Facts.load(subject, period.start, period.end).total()


@dataclass
class Report:
    """Everything the dashboard, the scorecard, the API and the exports show (the same numbers)."""

    subject: Subject
    period: Period
    current: dict
    previous: dict
    last_year: dict
    by_service: dict
    by_child: dict
    by_facility: dict
    trends: list[tuple[str, dict]]
    snapshot: dict


def report(subject: Subject, period: Period, *, with_trends: bool = True) -> Report:
    """Current, previous and last year's figures, the slices and the 12-month trends (constant queries)."""
    facts = Facts.load(subject, period.start, period.end)
    previous, last_year = period.previous(), period.last_year()
    trends: list[tuple[str, dict]] = []
    if with_trends:
        months = trailing_months(period)
        monthly = Facts.load(subject, months[0].start, months[-1].end, by_month=True).slices(lambda fact: fact.month)
        empty = derive({}, {}, facilities=set(), experts=set())
        trends = [(m.label, monthly.get(m.label, empty)) for m in months]
    by_child = facts.slices(lambda fact: subject.child_code(fact.division_code) or None)
    return Report(
        subject=subject,
        period=period,
        current=facts.total(),
        previous=figures(subject, previous),
        last_year=figures(subject, last_year),
        by_service=facts.slices(lambda fact: fact.service_type or None),
        by_child=by_child,
        by_facility=facts.slices(lambda fact: fact.facility_id) if subject.facility_id is None else {},
        trends=trends,
        snapshot=snapshot(subject),
    )


def snapshot(subject: Subject) -> dict:
    """JL-F1 / JL-F5 as of now: accredited facilities and facilities under a suspension."""
    from ..choices import AccreditationStatus
    from ..models import Facility, Suspension

    facilities = Facility.objects.filter(subject.q(facility="pk", division="division_id"))
    return {
        "facilities_accredited": facilities.filter(accreditation_status=AccreditationStatus.APPROVED).count(),
        "facilities_suspended": Suspension.objects.filter(facility__in=facilities, lifted_at__isnull=True).values("facility").distinct().count(),
    }
