"""The stored period totals (``MetricTotal``, issue 9, docs/metrics.md): after a rebuild and after
the per-event refreshes alone, every calendar period × scope × service type row equals the month
rollups summed over the same months and facilities, and the figures the page shows from them equal
the raw rows — across a Beijing month, quarter and year boundary (1 January 2027 00:00 Beijing is
31 December 16:00 UTC). The calendar page reads them in one query and sums nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.core.management import call_command

from facilities.metrics.definitions import ACTIVITY_KEYS, ALL_SERVICES, COUNTER_KEYS
from facilities.metrics.figures import Subject, figures, report
from facilities.metrics.periods import month, quarter, year
from facilities.models import Division, Facility, MetricMonth, MetricTotal
from tests.facilities import metrics_data
from tests.facilities.metrics_data import BEIJING, make_activity, price, raw_figures

NOW = "2027-01-06T12:00:00+08:00"
pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at(NOW)]

# The activity straddles the new year in Beijing time: a month, a quarter and a year end at once.
WINDOW = dt.datetime(2026, 12, 31, 14, 0, tzinfo=BEIJING)
PERIODS = (month(dt.date(2026, 12, 1)), month(dt.date(2027, 1, 1)), quarter(dt.date(2026, 12, 1)),
           quarter(dt.date(2027, 1, 1)), year(2026), year(2027))


@pytest.fixture
def new_year(world, monkeypatch):
    monkeypatch.setattr(metrics_data, "WINDOW_START", WINDOW)
    price(world)
    return world


@pytest.fixture
def eager():
    from telemed.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _scopes(division_code: str, facility_id: int) -> set[str]:
    """The test's own reading of JL-O1: the province, the city, the county, the facility."""
    return {division_code[:2] + "0000", division_code[:4] + "00", division_code, f"f{facility_id}"}


def _rollups_summed(period) -> dict:
    """(scope, service type) → (counters, active facilities), summed from MetricMonth in Python."""
    counters: dict = defaultdict(lambda: dict.fromkeys(COUNTER_KEYS, 0))
    per_facility: dict = defaultdict(lambda: dict.fromkeys(COUNTER_KEYS, 0))
    members: dict = defaultdict(set)
    for row in MetricMonth.objects.filter(month__gte=period.start, month__lte=period.end):
        for service in (row.service_type, ALL_SERVICES):
            for key in COUNTER_KEYS:
                per_facility[(row.facility_id, service)][key] += getattr(row, key)
            for scope in _scopes(row.division_code, row.facility_id):
                members[(scope, service)].add(row.facility_id)
                for key in COUNTER_KEYS:
                    counters[(scope, service)][key] += getattr(row, key)
    return {
        slice_: (counters[slice_], sum(1 for f in facility_ids if any(per_facility[(f, slice_[1])][k] for k in ACTIVITY_KEYS)))
        for slice_, facility_ids in members.items()
    }


def _stored(period) -> dict:
    return {(t.scope, t.service_type): ({k: getattr(t, k) for k in COUNTER_KEYS}, t.active)
            for t in MetricTotal.objects.filter(period=period.label)}


def _subjects(world):
    division = Division.objects.get
    return {
        "province": (Subject.of_division(division(code="220000")), {world.inviting.pk, world.invited.pk}),
        "city": (Subject.of_division(division(code="220100")), {world.inviting.pk, world.invited.pk}),
        "county of the inviting side": (Subject.of_division(division(code="220122")), {world.inviting.pk}),
        "district of the invited side": (Subject.of_division(division(code="220104")), {world.invited.pk}),
        "inviting facility": (Subject.of_facility(world.inviting), {world.inviting.pk}),
        "invited facility": (Subject.of_facility(world.invited), {world.invited.pk}),
    }


def _assert_totals_exact(world) -> None:
    assert MetricTotal.objects.filter(period="2026").exists() and MetricTotal.objects.filter(period="2027").exists()
    for period in PERIODS:
        assert _stored(period) == _rollups_summed(period), period.label
        for name, (subject, facility_ids) in _subjects(world).items():
            shown = figures(subject, period)
            expected = raw_figures(facility_ids, period.start, period.end)
            assert {k: shown[k] for k in expected} == expected, (name, period.label)
            page = report(subject, period, with_trends=False)
            for service_type, values in page.by_service.items():
                expected = raw_figures(facility_ids, period.start, period.end, service_type=service_type)
                assert {k: values[k] for k in expected} == expected, (name, period.label, service_type)


def test_stored_totals_equal_the_rollups_summed_and_the_raw_rows_after_a_rebuild_across_the_beijing_new_year(new_year):
    make_activity(new_year, seed=2027, cases=14)
    call_command("rebuild_metrics")
    _assert_totals_exact(new_year)
    before = {p.label: _stored(p) for p in PERIODS}
    call_command("rebuild_metrics", since="2026-12-30")  # idempotent: replaced, never incremented
    assert {p.label: _stored(p) for p in PERIODS} == before


def test_stored_totals_follow_each_event_without_the_rebuild_and_equal_what_the_rebuild_writes(
        new_year, eager, django_capture_on_commit_callbacks):
    """The per-event refresh alone (Celery eager, on-commit callbacks run) keeps every period's
    totals exact; the rebuild (the source of truth) then writes the very same rows."""
    with django_capture_on_commit_callbacks(execute=True):
        make_activity(new_year, seed=31337, cases=14)
    assert not MetricTotal.objects.exclude(period__in=[p.label for p in PERIODS]).exists()
    _assert_totals_exact(new_year)
    refreshed = {p.label: _stored(p) for p in PERIODS}
    call_command("rebuild_metrics")
    assert {p.label: _stored(p) for p in PERIODS} == refreshed


def test_a_facility_moved_to_another_county_leaves_no_stale_division_total(new_year, eager, django_capture_on_commit_callbacks):
    """The refresh replaces the rows of every division the facility counts in, before and after."""
    from facilities.metrics.facts import totals_refresh

    make_activity(new_year, seed=7, cases=6)
    call_command("rebuild_metrics")
    january = month(dt.date(2027, 1, 1))
    Facility.objects.filter(pk=new_year.inviting.pk).update(division_id="220104")
    MetricMonth.objects.filter(facility=new_year.inviting).update(division_code="220104")
    totals_refresh(january, [new_year.inviting.pk])
    assert _stored(january) == _rollups_summed(january)


def test_the_calendar_page_reads_its_slices_in_one_query_and_sums_nothing(new_year):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_activity(new_year, seed=5, cases=6)
    call_command("rebuild_metrics")
    province = _subjects(new_year)["province"][0]
    for period in (year(2026), quarter(dt.date(2027, 1, 1)), month(dt.date(2027, 1, 1))):
        with CaptureQueriesContext(connection) as queries:
            shown = report(province, period)
        sql = [q["sql"].lower() for q in queries]
        reads = [s for s in sql if "facilities_metrictotal" in s]
        assert len(reads) == 1 and "sum(" not in reads[0] and "group by" not in reads[0], period.label
        assert not any("facilities_metricmonth" in s or "facilities_metricday" in s for s in sql), period.label
        assert len(sql) == 3  # the stored slices, and the JL-F1 / JL-F5 states at the periods' ends (two)
        assert len(shown.trends) == 12 and shown.by_facility and shown.by_child
