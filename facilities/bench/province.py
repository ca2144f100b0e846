"""``manage.py bench --province-fill`` (issue 9): a kept bench database filled to the province's size
where the dashboard and its floor read, then the dashboard measured at two sizes of the history.

The generator cannot reach 1,000,000 consultations here in reasonable time (its audit chain alone
takes most of an hour at 0.1), and the calendar dashboard does not read the cases at all: its cost
is set by the facilities and the months. So the fill writes what each side reads, in SQL:

- facilities copied (``bulk_create``) up to ``FACILITIES``, spread over Jilin's counties;
- ``MetricMonth`` replaced by synthetic rollups for ``MONTHS`` months × every service type (and
  the blank one of the JL-C2 obligations) × facility — 168,000 rows;
- ``MetricTotal`` rebuilt from them by the portal's own ``facts.totals_refresh`` (timed: the
  rebuild of every period, and one per-event refresh of a facility's year);
- ``MetricStat`` synthetic, one row per stored total × kind (what ``stats_rebuild`` would store);
- the consultations copied (``INSERT … SELECT … generate_series``) to each of ``STEPS`` rows,
  ``ANALYZE``, and the paths measured at each step.

The numbers on the page are made up; their shape (rows per period, scope and service type) is the
province's. Results: docs/performance.md.
"""

from __future__ import annotations

import datetime as dt
import time

from django.db import connection, transaction
from django.utils import timezone

from consultations.models import Consultation
from facilities.models import Division, Facility, MetricTotal

from .generate import _bulk, _row

FACILITIES = 1_000
MONTHS = 24
STEPS = (100_000, 1_000_000)
COPY = "PF"  # the number prefix of copied consultations


def _execute(statement: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.rowcount


def fill_facilities(total: int = FACILITIES) -> int:
    """Copies of an inviting facility up to ``total``, one county after another."""
    missing = total - Facility.objects.count()
    if missing <= 0:
        return 0
    model = Facility.objects.filter(pk__in=Consultation.objects.values("inviting_id")).order_by("pk").first()
    counties = list(Division.objects.filter(code__startswith="22", level="county").order_by("code").values_list("code", flat=True))
    rows = (_row(model, name=f"省级规模县医院{i:05d}", licence_number=f"PROV-LIC-{i:06d}", division_id=counties[i % len(counties)])
            for i in range(missing))
    with transaction.atomic():
        _bulk(Facility, rows, "facilities", missing)
    return missing


def month_firsts(today: dt.date, count: int = MONTHS) -> list[dt.date]:
    index = today.year * 12 + today.month - 1
    return [dt.date((index - n) // 12, (index - n) % 12 + 1, 1) for n in range(count - 1, -1, -1)]


def fill_rollups(firsts: list[dt.date]) -> int:
    """``MetricMonth`` replaced by synthetic rollups: every facility × month × service type."""
    with transaction.atomic():
        _execute("DELETE FROM facilities_metricmonth")
        return _execute(
            "INSERT INTO facilities_metricmonth (month, facility_id, division_code, service_type, sent, accepted, declined, returned, "
            "completed, obligations_due, obligations_met, violations, ratings_count, ratings_sum, fee_fen, inviting_share_fen, "
            "invited_share_fen) SELECT m, fid, division, code, a + d, a, d, 0, a, o, o - v, v, k, k * 4, a * 30000, a * 12000, a * 18000 "
            "FROM (SELECT m::date AS m, f.id AS fid, f.division_id AS division, s.code AS code, "
            "CASE WHEN s.code <> '' THEN (random() * 30)::int ELSE 0 END AS a, CASE WHEN s.code <> '' THEN (random() * 3)::int ELSE 0 END AS d, "
            "CASE WHEN s.code = '' THEN 100 + (random() * 100)::int ELSE 0 END AS o, "
            "CASE WHEN s.code = '' THEN (random() * 8)::int ELSE 0 END AS v, CASE WHEN s.code <> '' THEN (random() * 10)::int ELSE 0 END AS k "
            "FROM facilities_facility f CROSS JOIN generate_series(%s::date, %s::date, interval '1 month') AS m "
            "CROSS JOIN (SELECT code FROM facilities_servicetype UNION ALL SELECT '') AS s) AS g",
            [firsts[0], firsts[-1]])


def calendar_periods_of(firsts: list[dt.date]) -> list:
    from facilities.metrics.periods import month, quarter, year

    periods = {}
    for first in firsts:
        for period in (month(first), quarter(first), year(first.year)):
            periods[period.label] = period
    return list(periods.values())


def fill_totals(periods) -> dict:
    """``MetricTotal`` by the portal's own rebuild (timed), then one per-event refresh (timed)."""
    from facilities.metrics.facts import totals_rebuild, totals_refresh

    start = time.perf_counter()
    totals_rebuild(periods)
    rebuild_s = time.perf_counter() - start
    facility = Facility.objects.order_by("-pk").values_list("pk", flat=True).first()
    refreshes = []
    for period in periods[-3:]:  # a month, a quarter and a year, as an event refreshes them
        start = time.perf_counter()
        totals_refresh(period, [facility])
        refreshes.append(round((time.perf_counter() - start) * 1000, 1))
    return {"periods": len(periods), "rows": MetricTotal.objects.count(), "rebuild_s": round(rebuild_s, 1),
            "event_refresh_ms": refreshes}


def fill_stats() -> int:
    """Synthetic ``MetricStat``: one row per stored total × kind."""
    with transaction.atomic():
        _execute("DELETE FROM facilities_metricstat")
        return _execute(
            "INSERT INTO facilities_metricstat (period, scope, division_code, service_type, kind, count, median, p90, experts) "
            "SELECT t.period, t.scope, t.division_code, t.service_type, k.kind, t.accepted + t.declined, 600 + (random() * 3600)::int, "
            "7200 + (random() * 36000)::int, CASE WHEN k.kind = 'turnaround' THEN (t.completed + 9) / 10 ELSE 0 END "
            "FROM facilities_metrictotal t CROSS JOIN (VALUES ('response'), ('turnaround')) AS k(kind)")


def fill_consultations(target: int) -> int:
    """The consultations copied (new numbers, the same timestamps and facilities) up to ``target``."""
    have = Consultation.objects.count()
    if have >= target:
        return have
    originals = Consultation.objects.exclude(number__startswith=COPY)
    count, last = originals.count(), originals.order_by("-pk").values_list("pk", flat=True).first()
    with connection.cursor() as cursor:  # past every round used so far (the last one may be partial)
        cursor.execute("SELECT max(split_part(substr(number, %s), '-', 1)::int) FROM consultations_consultation WHERE number LIKE %s",
                       [len(COPY) + 1, f"{COPY}%"])
        first_round = (cursor.fetchone()[0] or 0) + 1
    rounds = (target - have) // count + 1
    columns = [f.column for f in Consultation._meta.concrete_fields if not f.primary_key]
    chosen = ", ".join(f"'{COPY}' || g || '-' || c.id" if column == "number" else f'c."{column}"' for column in columns)
    names = ", ".join(f'"{column}"' for column in columns)
    with transaction.atomic():
        _execute(
            f"INSERT INTO consultations_consultation ({names}) "  # noqa: S608 - model column names; values are parameters
            f"SELECT {chosen} FROM consultations_consultation c CROSS JOIN generate_series(%s, %s) AS g "
            f"WHERE c.id <= %s AND c.number NOT LIKE %s ORDER BY g, c.id LIMIT %s",
            [first_round, first_round + rounds, last, f"{COPY}%", target - have])
    return Consultation.objects.count()


EXPLAINED = ("regulator_home", "violations")  # the other item: lists that must not grow with history
BIG = ("consultations_consultation", "consultations_violation", "consultations_obligation", "audit_auditevent")


def explain(names=EXPLAINED) -> dict:
    """Each path's queries on the big tables, with their plans (``EXPLAIN ANALYZE``): a list
    that stays flat reads them by an index in its sort order (or an index-only count), not by a
    sequential scan and a sort of the whole history."""
    from django.test.utils import CaptureQueriesContext

    from .measure import Paths

    found: dict = {}
    paths = Paths()
    for name in names:
        project = getattr(paths, name)()[0]
        project()  # warm: sessions, caches
        with CaptureQueriesContext(connection) as captured:
            project()
        plans = []
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT") or not any(table in sql for table in BIG):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
                plan = [line for (line,) in cursor.fetchall()]
            plans.append({"sql": sql[:300], "plan": plan,
                          "seq_scans": sorted({t for line in plan for t in BIG if f"Seq Scan on {t}" in line})})
        found[name] = plans
    return found


def province_fill_and_measure(*, wanted: list[str], runs: int, write) -> dict:
    """Fill, then measure ``wanted`` at each step of the consultations; returns the report."""
    from .measure import Paths, run_path

    report: dict = {"facilities_added": fill_facilities()}
    firsts = month_firsts(timezone.localdate())
    report["metric_month_rows"] = fill_rollups(firsts)
    write(f"  MetricMonth: {report['metric_month_rows']} rows ({len(firsts)} months)")
    report["totals"] = fill_totals(calendar_periods_of(firsts))
    write(f"  MetricTotal: {report['totals']}")
    report["metric_stat_rows"] = fill_stats()
    write(f"  MetricStat: {report['metric_stat_rows']} rows")
    report["steps"] = {}
    for target in STEPS:
        have = fill_consultations(target)
        _execute("ANALYZE")
        write(f"  consultations: {have}")
        results = {}
        for name in wanted:
            write(f"  measuring {name} at {have} consultations …")
            results[name] = run_path(Paths(), name, runs=runs)
            write(f"    {results[name]}")
        report["steps"][have] = results
    report["explain"] = explain()
    for name, plans in report["explain"].items():
        write(f"  {name}: {len(plans)} queries on the big tables; sequential scans: {[p['seq_scans'] for p in plans]}")
    sizes = list(report["steps"])
    report["growth"] = {
        name: round(report["steps"][sizes[-1]][name]["project_ms"] / report["steps"][sizes[0]][name]["project_ms"], 2)
        for name in wanted if report["steps"][sizes[0]][name]["project_ms"]
    }
    return report
