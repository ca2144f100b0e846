"""The figures of a division or a facility for a period, read from the facts.

A calendar period (month, quarter, year) costs one query: every slice it shows — the subject's
total and each service type (JL-C1), each sub-division, each facility, the previous period, last
year's, the trend months — is stored in ``MetricTotal`` with its interval statistics in
``MetricStat`` and read by index (``load_totals``), nothing summed at read time, so that its cost
grows neither with the number of cases nor with the months (docs/performance.md). Custom days
read the daily counters and the intervals and cut every slice from them (``Facts.slices``). Each
figure of a slice comes from ``definitions.derive`` either way: computed one way only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q, Sum
from django.utils import timezone

from .definitions import (
    ACTIVITY_KEYS,
    ALL_SERVICES,
    COUNTER_KEYS,
    RESPONSE,
    TURNAROUND,
    Stat,
    derive,
    duration_stat,
)
from .periods import Period, trailing_months

CALENDAR = ("month", "quarter", "year")  # the periods whose interval statistics are stored

# The facility rankings of a division's page, worst first: the figure ranked, its direction (1:
# lowest first, -1: highest first) and whether a facility is ranked at all. Ties go by the
# facility's name (code-point order), then its id, so that the order never depends on the data's
# storage (tables.py shows them; ``load_ranked`` chooses them in SQL for calendar periods).
RANK_LIMIT = 10
RANKINGS: dict[str, tuple[str, int, Callable[[object], bool]]] = {
    "compliance": ("compliance_percent", 1, lambda value: value is not None),  # JL-C2, lowest first
    "response": ("response_median", -1, lambda value: value is not None),  # JL-C4, slowest first
    "declines": ("declined", -1, bool),  # JL-C4, most first
}


def rankings(by_facility: dict[int, dict], names: dict) -> dict[str, list[int]]:
    """The facilities each ranking shows (at most ``RANK_LIMIT``), in order, out of every
    facility's figures: the one definition of the order, whichever rows it is given."""
    found = {}
    for kind, (key, direction, ranked) in RANKINGS.items():
        chosen = [pk for pk, values in by_facility.items() if ranked(values[key])]
        chosen.sort(key=lambda pk, key=key, direction=direction: (direction * by_facility[pk][key], str(names.get(pk)), pk))
        found[kind] = chosen[:RANK_LIMIT]
    return found


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
        return Q(**{f"{division}__gte": self.prefix, f"{division}__lt": _upper(self.prefix)})

    @property
    def scope(self) -> str:
        """The key of the subject's stored statistics (``MetricStat.scope``)."""
        return f"f{self.facility_id}" if self.facility_id is not None else self.division_code

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


# Which stored statistic a slice's intervals are: (calendar period label, scope, service type).
StatKey = Callable[[object], tuple[str, str, str]]


class Facts:
    """The facts of one subject over some days, ready to be cut into slices.

    Two sources, the same figures (``definitions.derive``): any days (``load``) read the daily
    counters and the intervals themselves; calendar periods (``load_calendar``: months, quarters,
    years, the trends) read the month rollups and the stored interval statistics, so that their
    cost does not grow with the number of cases (docs/metrics.md).
    """

    def __init__(self, rows: list[Row], intervals: list[Interval] | None = None, stats: dict | None = None, label: str = ""):
        self.rows = rows
        self.intervals = intervals
        self.stats = stats or {}
        self.label = label

    @classmethod
    def load(cls, subject: Subject, start: dt.date, end: dt.date) -> Facts:
        """Any days: the daily counters and every interval (two queries)."""
        from ..models import MetricDay, MetricDuration

        where = subject.q() & Q(day__gte=start, day__lte=end)
        keys = ["facility_id", "division_code", "service_type"]
        rows = [
            Row(r["facility_id"], r["division_code"], r["service_type"], "", {k: r[k] or 0 for k in COUNTER_KEYS})
            for r in MetricDay.objects.filter(where).values(*keys).annotate(**{k: Sum(k) for k in COUNTER_KEYS}).order_by()
        ]
        intervals = [
            Interval(*values)
            for values in MetricDuration.objects.filter(where)
            .values_list("kind", "facility_id", "division_code", "service_type", "seconds", "physician_id")
            .order_by()
        ]
        return cls(rows, intervals)

    @classmethod
    def load_calendar(cls, subject: Subject, period: Period, *, by_month: bool = False, stats: dict | None = None) -> Facts:
        """A calendar period (or, ``by_month``, the months from its first to its last day): the
        month rollups summed in the database, and the stored statistics of the slices shown (one
        query more unless ``stats`` were loaded already, see ``load_stats``). The page reads the
        stored totals instead (``load_totals``); this is their yardstick (the tests)."""
        from ..models import MetricMonth

        where = subject.q() & Q(month__gte=period.start.replace(day=1), month__lte=period.end)
        # By month (the trends) only the month and the facility (for the active facilities) matter:
        # grouping by service type too would bring seven times the rows into Python.
        keys = ["facility_id", "month"] if by_month else ["facility_id", "division_code", "service_type"]
        rows = [
            Row(r["facility_id"], r.get("division_code", ""), r.get("service_type", ""), f"{r['month']:%Y-%m}" if by_month else "",
                {k: r[k] or 0 for k in COUNTER_KEYS})
            for r in MetricMonth.objects.filter(where).values(*keys).annotate(**{k: Sum(k) for k in COUNTER_KEYS}).order_by()
        ]
        if stats is None:
            months = [m.label for m in trailing_months(period, count=_months_between(period))]
            stats = load_stats(subject, detailed="" if by_month else period.label, overall=months if by_month else [])
        return cls(rows, None, stats, period.label)

    def slices(self, key: Callable[[Row | Interval], object], stat_key: StatKey | None = None) -> dict[object, dict]:
        """The figures of every slice, ``key`` naming the slice each fact belongs to (None: left
        out), ``stat_key`` the stored statistic of a slice (calendar periods)."""
        counters: dict = defaultdict(lambda: dict.fromkeys(COUNTER_KEYS, 0))
        facilities: dict = defaultdict(set)
        for row in self.rows:
            k = key(row)
            if k is None:
                continue
            bucket = counters[k]
            for name, value in row.counters.items():
                bucket[name] += value
            if any(row.counters[name] for name in ACTIVITY_KEYS):
                facilities[k].add(row.facility_id)
        stats: dict = {}
        if self.intervals is not None:
            grouped: dict = defaultdict(lambda: defaultdict(lambda: ([], [])))
            for interval in self.intervals:
                k = key(interval)
                if k is None:
                    continue
                values, physicians = grouped[k][interval.kind]
                values.append(interval.seconds)
                if interval.kind == TURNAROUND:
                    physicians.append(interval.physician_id)
            stats = {k: {kind: duration_stat(*pair) for kind, pair in kinds.items()} for k, kinds in grouped.items()}
        elif stat_key is not None:
            stats = {k: self.stats.get(stat_key(k), {}) for k in counters}
        return {
            k: derive(counters[k], stats.get(k, {}), facilities=len(facilities[k]))
            for k in set(counters) | set(stats)
        }

    def total(self, scope: str = "") -> dict:
        found = self.slices(lambda _fact: "all", lambda _k: (self.label, scope, ALL_SERVICES)).get("all")
        return found or derive({}, {}, facilities=0)


def load_stats(subject: Subject, *, detailed: str, overall: list[str]) -> dict:
    """The stored interval statistics (one query): for the period ``detailed``, the subject's own by
    service type and every sub-division's and facility's overall; for the periods ``overall``, the
    subject's overall only. Keyed (period, scope, service type) → kind → ``Stat``."""
    from ..models import MetricStat

    wanted = Q(period__in=overall, scope=subject.scope, service_type=ALL_SERVICES)
    if detailed:
        mine = Q(scope=subject.scope)
        if subject.facility_id is None:
            mine |= Q(service_type=ALL_SERVICES) & subject.q()
        wanted |= Q(period=detailed) & mine
    stats: dict = defaultdict(dict)
    for s in MetricStat.objects.filter(wanted).values_list("period", "scope", "service_type", "kind", "count", "median", "p90", "experts"):
        stats[(s[0], s[1], s[2])][s[3]] = Stat(*s[4:])
    return stats


def _months_between(period: Period) -> int:
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1


def _load(subject: Subject, period: Period, stats: dict | None = None) -> Facts:
    if period.kind in CALENDAR:
        return Facts.load_calendar(subject, period, stats=stats)
    return Facts.load(subject, period.start, period.end)


def figures(subject: Subject, period: Period) -> dict:
    """The headline figures of a subject for a period: a calendar period's stored total (one
    query), or custom days' daily facts (two)."""
    if period.kind in CALENDAR:
        return load_totals(subject, detailed="", overall=[period.label]).get((period.label, subject.scope, ALL_SERVICES)) or derive({}, {}, facilities=0)
    return Facts.load(subject, period.start, period.end).total(subject.scope)


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
    snapshot: dict  # JL-F1 / JL-F5 at the end of the period (now, if it has not ended)
    previous_snapshot: dict
    last_year_snapshot: dict
    # With ``ranked=True`` (the pages): the facilities each ranking shows, in order; ``by_facility``
    # then holds only those, and ``names`` their names. None: ``by_facility`` holds every facility.
    ranked: dict[str, list[int]] | None = None
    names: dict[int, str] = field(default_factory=dict)


_STAT_COLUMNS = "count, median, p90, experts"
_STAT_JOIN = ("LEFT JOIN facilities_metricstat {0} ON {0}.period = t.period AND {0}.scope = t.scope "
              "AND {0}.service_type = t.service_type AND {0}.kind = %s")
# The columns ``_derived`` reads: the counters, the active facilities, both kinds' statistics.
_FIGURE_COLUMNS = (f"{', '.join('t.' + k for k in COUNTER_KEYS)}, t.active, "
                   f"{', '.join('r.' + c for c in _STAT_COLUMNS.split(', '))}, {', '.join('u.' + c for c in _STAT_COLUMNS.split(', '))}")


def _derived(row) -> dict:
    """The figures of one stored slice out of the ``_FIGURE_COLUMNS`` of a row."""
    width = len(COUNTER_KEYS)
    counters = dict(zip(COUNTER_KEYS, (int(v) for v in row[:width]), strict=True))
    response, turnaround = row[1 + width:5 + width], row[5 + width:9 + width]
    stats = {kind: Stat(*values) for kind, values in ((RESPONSE, response), (TURNAROUND, turnaround)) if values[0] is not None}
    return derive(counters, stats, facilities=int(row[width]))


def _upper(prefix: str) -> str:
    return str(int(prefix) + 1).zfill(len(prefix))


def load_totals(subject: Subject, *, detailed: str, overall: list[str], facilities: bool = True) -> dict[tuple[str, str, str], dict]:
    """The stored totals (``MetricTotal``) and interval statistics (``MetricStat``) a page shows,
    in ONE query by index, already turned into figures by ``derive``: for the period ``detailed``,
    the subject's own by service type (and ``*``) and, for a division, its sub-divisions' and
    (``facilities``) its facilities' stored slices of all service types in its code range; for the
    periods ``overall`` (previous, last year's, the trend months), the subject's total. Nothing is
    summed at read time (docs/performance.md). Keyed (period, scope, service type)."""
    from telemed.dbrouter import read_connection

    from ..models import MetricTotal

    parts: list[tuple[str, list]] = []
    if detailed:
        parts.append(("t.period = %s AND t.scope = %s", [detailed, subject.scope]))
        if subject.facility_id is None:
            # A facility's scope is f<id>, a division's its code (digits): ``< 'f'`` leaves the facilities out.
            # Under the province only the cities ('xxyy00') are shown, not the counties.
            children = "" if facilities else " AND t.scope < 'f'" + (" AND SUBSTR(t.scope, 5, 2) = '00'" if len(subject.prefix) == 2 else "")
            parts.append(("t.period = %s AND t.service_type = %s AND t.division_code >= %s AND t.division_code < %s AND t.scope <> %s"
                          + children, [detailed, ALL_SERVICES, subject.prefix, _upper(subject.prefix), subject.scope]))
    overall = sorted(set(overall) - {detailed})
    if overall:
        parts.append((f"t.period IN ({', '.join(['%s'] * len(overall))}) AND t.scope = %s AND t.service_type = %s",
                      [*overall, subject.scope, ALL_SERVICES]))
    if not parts:
        return {}
    select = (f"SELECT t.period, t.scope, t.service_type, {_FIGURE_COLUMNS} "  # noqa: S608 - fixed names; values are parameters
              f"FROM facilities_metrictotal t {_STAT_JOIN.format('r')} {_STAT_JOIN.format('u')} WHERE ")
    # UNION ALL, not OR: each part is one index range (an OR of them is read by a sequential scan).
    sql = " UNION ALL ".join(select + where for where, _params in parts)
    params = [value for _where, part_params in parts for value in (RESPONSE, TURNAROUND, *part_params)]
    # Plain SQL does not pass through the router: ask it where a rollup read goes (the replica on the
    # dashboard routes when there is one, issue 11).
    with read_connection(MetricTotal).cursor() as cursor:
        cursor.execute(sql, params)
        return {(row[0], row[1], row[2]): _derived(row[3:]) for row in cursor.fetchall()}


def _ranked_sql(collate: str) -> str:
    """The candidates of the three rankings among a division's facilities of one period, chosen in
    SQL (``load_ranked``). ``fac``: each facility's stored ``*`` row of the period with its name and
    median response. Slowest response and most declines: the first ``RANK_LIMIT`` in the exact
    order of ``rankings`` (value, name in code-point order, id). Compliance is ranked by the
    *rounded* percent (``definitions.percent``, one decimal, Python's float rounding), which SQL
    does not reproduce at exact halves; in tenths of a percent it is 1000·met/due rounded, which
    is ``hi`` = (2000·met + due) div (2·due) except when 1000·met/due is exactly k + ½, where it is
    ``hi`` or ``lo`` = ``hi`` − 1. So the first ``RANK_LIMIT`` by (``hi``, name, id) are taken, and
    with them every exact-half facility whose ``lo`` is not above the tenth one's ``hi``: a
    superset of the true first ten, which ``rankings`` then orders exactly."""
    name = f"name{collate}"
    hi = "(2000 * met + due) / (2 * due)"
    return (
        "WITH fac AS (SELECT t.id AS tid, f.id AS fid, f.name AS name, t.declined AS declined, r.median AS median, "  # noqa: S608 - fixed names and numbers; the values are parameters
        "CAST(t.obligations_met AS BIGINT) AS met, CAST(t.obligations_due AS BIGINT) AS due "
        "FROM facilities_metrictotal t JOIN facilities_facility f ON f.id = CAST(SUBSTR(t.scope, 2) AS INTEGER) "
        f"{_STAT_JOIN.format('r')} "
        "WHERE t.period = %s AND t.service_type = %s AND t.division_code >= %s AND t.division_code < %s "
        "AND t.scope >= 'f' AND t.scope < 'g'), "
        "chosen AS ("
        f"SELECT tid FROM (SELECT tid FROM fac WHERE median IS NOT NULL ORDER BY median DESC, {name}, fid LIMIT {RANK_LIMIT}) a "
        f"UNION SELECT tid FROM (SELECT tid FROM fac WHERE declined > 0 ORDER BY declined DESC, {name}, fid LIMIT {RANK_LIMIT}) b "
        f"UNION SELECT tid FROM (SELECT tid FROM fac WHERE due > 0 ORDER BY {hi}, {name}, fid LIMIT {RANK_LIMIT}) c "
        f"UNION SELECT tid FROM fac WHERE due > 0 AND (2000 * met + due) %% (2 * due) = 0 AND {hi} - 1 <= "
        f"(SELECT {hi} FROM fac WHERE due > 0 ORDER BY {hi}, {name}, fid LIMIT 1 OFFSET {RANK_LIMIT - 1})) "
        f"SELECT f.id, f.name, {_FIGURE_COLUMNS} FROM chosen JOIN facilities_metrictotal t ON t.id = chosen.tid "
        "JOIN facilities_facility f ON f.id = CAST(SUBSTR(t.scope, 2) AS INTEGER) "
        f"{_STAT_JOIN.format('r')} {_STAT_JOIN.format('u')}"
    )


def load_ranked(subject: Subject, label: str) -> tuple[dict[int, dict], dict[int, str]]:
    """The facilities a division's rankings may show for the calendar period ``label``, chosen in
    SQL in ONE query out of the stored totals (``_ranked_sql``): their figures (``derive``) and
    names — about thirty, not every facility of the division (docs/performance.md)."""
    from telemed.dbrouter import read_connection

    from ..models import MetricTotal

    connection = read_connection(MetricTotal)
    # Python compares names by code point; so do PostgreSQL's "C" collation (UTF-8 bytes) and SQLite's default.
    sql = _ranked_sql(' COLLATE "C"' if connection.vendor == "postgresql" else "")
    params = [RESPONSE, label, ALL_SERVICES, subject.prefix, _upper(subject.prefix), RESPONSE, TURNAROUND]
    figures_of, names = {}, {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            figures_of[row[0]], names[row[0]] = _derived(row[2:]), row[1]
    return figures_of, names


def report(subject: Subject, period: Period, *, with_trends: bool = True, ranked: bool = False) -> Report:
    """Current, previous and last year's figures, the slices and the 12-month trends. A calendar
    period reads every slice it shows from the stored totals and statistics in one query
    (``load_totals``), whatever the data (docs/performance.md); custom days read the daily facts
    (exact, the one path that grows with the cases). ``ranked`` (the pages): of the facilities
    only those the rankings show, chosen in SQL for a calendar period (``load_ranked``, one query
    more, the names with them) — the API keeps every facility."""
    scope = subject.scope
    previous, last_year = period.previous(), period.last_year()
    months = trailing_months(period) if with_trends else []
    calendar = period.kind in CALENDAR
    division = subject.facility_id is None
    empty = derive({}, {}, facilities=0)
    stored = load_totals(subject, detailed=period.label if calendar else "",
                         overall=([previous.label, last_year.label] if calendar else []) + [m.label for m in months],
                         facilities=not ranked)
    names: dict[int, str] = {}
    if calendar:
        label = period.label
        current = stored.get((label, scope, ALL_SERVICES), empty)
        figures_previous = stored.get((previous.label, scope, ALL_SERVICES), empty)
        figures_last_year = stored.get((last_year.label, scope, ALL_SERVICES), empty)
        by_service = {s: v for (p, sc, s), v in stored.items() if p == label and sc == scope and s not in (ALL_SERVICES, "")}
        by_child, by_facility = {}, {}
        if division:
            for (p, sc, s), values in stored.items():
                if p != label or s != ALL_SERVICES or sc == scope:
                    continue
                if sc.startswith("f"):
                    by_facility[int(sc[1:])] = values
                elif subject.child_code(sc) == sc:
                    by_child[sc] = values
            if ranked:
                by_facility, names = load_ranked(subject, label)
    else:
        facts = _load(subject, period)
        current = facts.total(scope)
        loaded: dict[Period, dict] = {}
        for other in (previous, last_year):
            if other not in loaded:
                loaded[other] = _load(subject, other).total(scope)
        figures_previous, figures_last_year = loaded[previous], loaded[last_year]
        by_service = facts.slices(lambda fact: fact.service_type or None)
        by_child = facts.slices(lambda fact: subject.child_code(fact.division_code) or None)
        by_facility = facts.slices(lambda fact: fact.facility_id) if division else {}
        if ranked and division:
            from ..models import Facility

            names = dict(Facility.objects.filter(pk__in=list(by_facility)).values_list("pk", "name"))
    chosen = None
    if ranked:
        chosen = rankings(by_facility, names) if division else {kind: [] for kind in RANKINGS}
        shown = {pk for pks in chosen.values() for pk in pks}
        by_facility = {pk: values for pk, values in by_facility.items() if pk in shown}
        names = {pk: name for pk, name in names.items() if pk in shown}
    monthly = {m.label: stored.get((m.label, scope, ALL_SERVICES), empty) for m in months}
    trends = [(m.label, monthly.get(m.label, empty)) for m in months]
    states = snapshots(subject, [period, previous, last_year])
    return Report(
        subject=subject,
        period=period,
        current=current,
        previous=figures_previous,
        last_year=figures_last_year,
        by_service=by_service,
        by_child=by_child,
        by_facility=by_facility,
        trends=trends,
        snapshot=states[0],
        previous_snapshot=states[1],
        last_year_snapshot=states[2],
        ranked=chosen,
        names=names,
    )


def snapshot_moment(period: Period, now: dt.datetime) -> dt.datetime:
    """When a period's JL-F1 / JL-F5 state is read: the end of its last Beijing day, or now for a
    period that has not ended."""
    from .facts import day_bounds

    return min(day_bounds(period.end, period.end)[1], now)


def snapshots(subject: Subject, periods: list[Period]) -> list[dict]:
    """JL-F1 / JL-F5 at the end of each period, from the history (two queries for all periods):
    a facility counts as accredited from its first approval (an approval is never withdrawn; an
    approved facility without an application on record from its ``accredited_on`` day, or always
    when that is unknown too), and as suspended while a suspension reported by then was not yet
    lifted."""
    from django.db.models import Count, Min

    from ..choices import AccreditationStatus
    from ..models import Facility, Suspension

    now = timezone.now()
    moments = [snapshot_moment(p, now) for p in periods]
    # The first approval per facility by one grouped join (a correlated subquery would run once
    # per facility and moment: 3,000 probes at the province).
    facilities = Facility.objects.filter(subject.q(facility="pk", division="division_id"))
    first_approval = Min("applications__decided_at", filter=Q(applications__status=AccreditationStatus.APPROVED))
    accredited = facilities.annotate(first_approval=first_approval).aggregate(**{
        f"m{n}": Count("pk", filter=Q(first_approval__lt=moment) | (
            Q(first_approval__isnull=True, accreditation_status=AccreditationStatus.APPROVED)
            & (Q(accredited_on__isnull=True) | Q(accredited_on__lte=timezone.localtime(moment).date()))))
        for n, moment in enumerate(moments)
    })
    suspended = Suspension.objects.filter(facility__in=facilities).aggregate(**{
        f"m{n}": Count("facility", distinct=True, filter=Q(reported_at__lt=moment) & (Q(lifted_at__isnull=True) | Q(lifted_at__gte=moment)))
        for n, moment in enumerate(moments)
    })
    return [{"facilities_accredited": accredited[f"m{n}"], "facilities_suspended": suspended[f"m{n}"]} for n in range(len(periods))]
