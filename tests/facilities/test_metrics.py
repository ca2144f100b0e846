"""The regulators' dashboard (issue 9; docs/metrics.md): the facts against the raw rows, scoping,
periods, query counts, the exports and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from facilities.metrics import definitions
from facilities.metrics.facts import facts_catch_up, facts_rebuild
from facilities.metrics.figures import Facts, Subject, report
from facilities.metrics.periods import Period, month, parse_period
from facilities.models import Division, MetricDay, MetricDuration
from telemed.errors import ApplicationError
from tests.facilities.metrics_data import NOW, make_activity, price, raw_figures

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at(NOW)]

OCTOBER, NOVEMBER = month(dt.date(2026, 10, 1)), month(dt.date(2026, 11, 1))
BOUNDARY = Period("custom", dt.date(2026, 10, 31), dt.date(2026, 11, 1))
LAST_DAY = Period("custom", dt.date(2026, 10, 31), dt.date(2026, 10, 31))


@pytest.fixture(params=[7, 2026, 31337])
def activity(request, world):
    price(world)
    make_activity(world, seed=request.param)
    call_command("rebuild_metrics")
    return world


def _subjects(world):
    return {
        "county of the inviting side": (Subject.of_division(Division.objects.get(code="220122")), {world.inviting.pk}),
        "district of the invited side": (Subject.of_division(Division.objects.get(code="220104")), {world.invited.pk}),
        "city": (Subject.of_division(Division.objects.get(code="220100")), {world.inviting.pk, world.invited.pk}),
        "province": (Subject.of_division(Division.objects.get(code="220000")), {world.inviting.pk, world.invited.pk}),
        "inviting facility": (Subject.of_facility(world.inviting), {world.inviting.pk}),
        "invited facility": (Subject.of_facility(world.invited), {world.invited.pk}),
    }


def test_every_figure_from_the_facts_equals_the_raw_computation_across_the_beijing_month_boundary(activity):
    assert MetricDay.objects.exists()
    for name, (subject, facility_ids) in _subjects(activity).items():
        for period in (OCTOBER, NOVEMBER, BOUNDARY, LAST_DAY):
            facts = Facts.load(subject, period.start, period.end)
            expected = raw_figures(facility_ids, period.start, period.end)
            got = facts.total()
            assert {k: got[k] for k in expected} == expected, (name, period)
            for service_type, figures in facts.slices(lambda fact: fact.service_type or None).items():
                expected = raw_figures(facility_ids, period.start, period.end, service_type=service_type)
                assert {k: figures[k] for k in expected} == expected, (name, period, service_type)


def test_calendar_periods_read_from_the_month_rollups_show_exactly_the_figures_of_the_days(activity):
    """Months, quarters and years (and the trends) read MetricMonth and MetricStat; every slice —
    summed per slice in the database (one query) — and the previous and last year's period equal
    the figures cut from the daily facts and the intervals themselves, and the raw rows."""
    from facilities.metrics.periods import quarter, year

    for name, (subject, facility_ids) in _subjects(activity).items():
        for period in (OCTOBER, NOVEMBER, quarter(dt.date(2026, 10, 1)), year(2026)):
            got = report(subject, period)
            days = Facts.load(subject, period.start, period.end)
            assert got.current == days.total() == {**got.current, **raw_figures(facility_ids, period.start, period.end)}, (name, period)
            assert got.by_service == days.slices(lambda fact: fact.service_type or None), (name, period)
            assert got.by_child == days.slices(lambda fact, s=subject: s.child_code(fact.division_code) or None), (name, period)
            if subject.facility_id is None:
                assert got.by_facility == days.slices(lambda fact: fact.facility_id), (name, period)
            for shown, other in ((got.previous, period.previous()), (got.last_year, period.last_year())):
                assert shown == Facts.load(subject, other.start, other.end).total(), (name, period, other)
            for label, values in got.trends[-2:]:
                first = dt.date.fromisoformat(label + "-01")
                assert values == Facts.load(subject, first, month(first).end).total(), (name, label)


def test_jl_f1_jl_f5_states_at_the_end_of_past_periods_come_from_the_history(world):
    """JL-F1 / JL-F5 per period: accredited from the first approval on, suspended while reported
    and not yet lifted — at the end of each period, or now for one that has not ended."""
    from zoneinfo import ZoneInfo

    import time_machine

    from facilities import services as facility_services
    from facilities.choices import AccreditationStatus
    from facilities.metrics.figures import snapshots
    from tests.facilities.test_api import apply_for_accreditation, suspend
    from tests.factories import FacilityFactory, division, regulator

    beijing = ZoneInfo("Asia/Shanghai")
    newcomer = FacilityFactory(division=division("220122"), accreditation_status=AccreditationStatus.NONE)
    with time_machine.travel(dt.datetime(2026, 11, 2, 10, tzinfo=beijing), tick=False):
        application = apply_for_accreditation(newcomer)
        facility_services.accreditation_decide(actor=regulator("220000", username="province_accreditation"),
                                               application=application, approve=True, reason="")
    with time_machine.travel(dt.datetime(2026, 11, 3, 10, tzinfo=beijing), tick=False):
        suspension = suspend(world.inviting)
    with time_machine.travel(dt.datetime(2026, 11, 5, 10, tzinfo=beijing), tick=False):
        facility_services.suspension_lift(actor=regulator(world.inviting.licence_issuer_id, username="licensing_regulator"),
                                          suspension=suspension, reason="设备已修复并验收")
    county = Subject.of_division(Division.objects.get(code="220122"))
    first_days = Period("custom", dt.date(2026, 11, 1), dt.date(2026, 11, 4))
    states = snapshots(county, [OCTOBER, first_days, NOVEMBER])
    assert [(s["facilities_accredited"], s["facilities_suspended"]) for s in states] == [(1, 0), (2, 1), (2, 0)]
    shown = report(county, NOVEMBER, with_trends=False)
    assert (shown.snapshot, shown.previous_snapshot) == (states[2], states[0])


def test_the_raw_yardstick_covers_every_figure_defined(activity):
    subject, ids = _subjects(activity)["city"]
    assert set(raw_figures(ids, OCTOBER.start, NOVEMBER.end)) == set(Facts.load(subject, OCTOBER.start, NOVEMBER.end).total())
    assert set(definitions.PERIOD_KEYS) <= set(raw_figures(ids, OCTOBER.start, NOVEMBER.end))


def test_a_city_adds_up_its_counties_and_the_comparison_shows_them(activity):
    subjects = _subjects(activity)
    city = report(subjects["city"][0], OCTOBER, with_trends=False)
    inviting = report(subjects["county of the inviting side"][0], OCTOBER, with_trends=False).current
    invited = report(subjects["district of the invited side"][0], OCTOBER, with_trends=False).current
    for key in definitions.COUNTER_KEYS:
        assert city.current[key] == inviting[key] + invited[key], key
    for code, county in (("220122", inviting), ("220104", invited)):
        shown = city.by_child.get(code)
        assert (shown["sent"], shown["accepted"], shown["fee_fen"]) == (county["sent"], county["accepted"], county["fee_fen"]) if shown else not county["active_facilities"]


def test_rebuild_and_catch_up_are_idempotent(activity):
    def snapshot():
        return (sorted(MetricDay.objects.values_list(*[f.name for f in MetricDay._meta.fields if f.name != "id"])),
                sorted(MetricDuration.objects.values_list("kind", "source", "day", "seconds")))

    before = snapshot()
    facts_catch_up()
    facts_catch_up()
    facts_rebuild(dt.date(2026, 10, 1), dt.date(2026, 11, 6), batch_days=3)
    assert snapshot() == before


def test_the_trends_cover_every_figure_of_a_period_once():
    from facilities.metrics.tables import TRENDS

    shown = [key for _table, _caption, columns in TRENDS for key in columns]
    assert sorted(shown) == sorted(definitions.PERIOD_KEYS)


def test_nearest_rank_percentiles():
    assert definitions.nearest_rank([], 50) is None
    assert definitions.nearest_rank([5], 90) == 5
    assert definitions.nearest_rank([1, 2, 3, 4], 50) == 2
    assert definitions.nearest_rank(list(range(1, 11)), 90) == 9
    assert definitions.nearest_rank(list(range(1, 12)), 90) == 10


# --- Periods ----------------------------------------------------------------------------------


TODAY = dt.date(2026, 11, 6)


@pytest.mark.parametrize(
    "params, start, end, previous, last_year",
    [
        ({}, "2026-11-01", "2026-11-30", ("2026-10-01", "2026-10-31"), ("2025-11-01", "2025-11-30")),
        ({"period": "month", "month": "2026-03"}, "2026-03-01", "2026-03-31", ("2026-02-01", "2026-02-28"), ("2025-03-01", "2025-03-31")),
        ({"period": "month", "month": "2026-01"}, "2026-01-01", "2026-01-31", ("2025-12-01", "2025-12-31"), ("2025-01-01", "2025-01-31")),
        ({"period": "quarter", "quarter": "2026-q1"}, "2026-01-01", "2026-03-31", ("2025-10-01", "2025-12-31"), ("2025-01-01", "2025-03-31")),
        ({"period": "quarter"}, "2026-10-01", "2026-12-31", ("2026-07-01", "2026-09-30"), ("2025-10-01", "2025-12-31")),
        ({"period": "year", "year": "2025"}, "2025-01-01", "2025-12-31", ("2024-01-01", "2024-12-31"), ("2024-01-01", "2024-12-31")),
        ({"period": "custom", "start": "2028-02-20", "end": "2028-02-29"}, "2028-02-20", "2028-02-29",
         ("2028-02-10", "2028-02-19"), ("2027-02-20", "2027-02-28")),
    ],
)
def test_periods(params, start, end, previous, last_year):
    period = parse_period(params, today=TODAY)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)
    assert (period.previous().start.isoformat(), period.previous().end.isoformat()) == previous
    assert (period.last_year().start.isoformat(), period.last_year().end.isoformat()) == last_year
    assert parse_period(period.query(), today=TODAY) == period


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "week"}, "period"),
        ({"period": "month", "month": "2026-13"}, "month"),
        ({"period": "month", "month": "11/2026"}, "month"),
        ({"period": "quarter", "quarter": "2026-Q5"}, "quarter"),
        ({"period": "year", "year": "26"}, "year"),
        ({"period": "custom", "start": "2026-11-05"}, "end"),
        ({"period": "custom", "start": "2026-11-05", "end": "2026-11-01"}, "end"),
        ({"period": "custom", "start": "2020-01-01", "end": "2026-11-01"}, "end"),
        ({"period": "custom", "start": "2026-02-30", "end": "2026-03-01"}, "start"),
    ],
)
def test_bad_periods_are_refused_with_a_stable_code_and_a_chinese_message(params, field):
    with pytest.raises(ApplicationError) as refused:
        parse_period(params, today=TODAY)
    assert refused.value.code == "period_invalid"
    assert refused.value.extra["field"] == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)


def test_docs_metrics_lists_every_figure_with_its_rule():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for figure in definitions.FIGURES.values():
        assert f"| `{figure.key}` | {figure.label} | {figure.rule} |" in text, figure.key


# --- Pages and API ----------------------------------------------------------------------------


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_a_county_regulator_sees_only_its_county_and_another_facility_is_404(activity):
    from django.urls import reverse

    from tests.factories import regulator

    county = _client(regulator("220122", username="nongan_regulator"))
    assert county.get(reverse("facilities:metrics")).url == reverse("facilities:metrics-division", args=["220122"])
    assert county.get(reverse("facilities:metrics-division", args=["220122"])).status_code == 200
    for code in ("220100", "220104", "220000", "999999"):
        assert county.get(reverse("facilities:metrics-division", args=[code])).status_code == 404, code
    assert county.get(reverse("facilities:metrics-facility", args=[activity.inviting.pk])).status_code == 200
    assert county.get(reverse("facilities:metrics-facility", args=[activity.invited.pk])).status_code == 404
    assert county.get(reverse("facilities-api:metrics-division", args=["220100"])).status_code == 404
    assert county.get(reverse("facilities-api:metrics-facility", args=[activity.invited.pk])).status_code == 404
    from django.test import Client

    anonymous = Client()
    assert anonymous.get(reverse("facilities:metrics-division", args=["220122"])).status_code == 302
    answer = anonymous.get(reverse("facilities-api:metrics-division", args=["220122"]))
    assert answer.status_code in (401, 403) and answer.json()["code"] == "not_authenticated"


def test_the_scorecard_is_for_the_facility_administrators_not_its_clinicians(activity):
    from django.urls import reverse

    from facilities.choices import StaffRole
    from tests.factories import staff

    url = reverse("facilities:metrics-facility", args=[activity.invited.pk])
    assert _client(staff(activity.invited, StaffRole.FACILITY_ADMIN, username="invited_admin")).get(url).status_code == 200
    assert _client(activity.expert).get(url).status_code == 403
    assert _client(activity.expert).get(reverse("facilities:metrics-division", args=["220104"])).status_code == 404


def test_bad_period_is_a_400_with_the_chinese_message_on_the_page_and_the_api(activity):
    from django.urls import reverse

    from tests.factories import regulator

    client = _client(regulator("220100", username="city_regulator"))
    page = client.get(reverse("facilities:metrics-division", args=["220100"]), {"period": "month", "month": "2026-13"})
    assert page.status_code == 400 and "月份格式应为" in page.content.decode()
    api = client.get(reverse("facilities-api:metrics-division", args=["220100"]), {"period": "decade"})
    assert api.status_code == 400 and api.json()["code"] == "period_invalid" and api.json()["extra"]["field"] == "period"


def test_the_api_refuses_a_malformed_start_or_end_whatever_the_period(activity):
    """Issue 14 (found by the regulator's fuzz run): ``start``/``end`` are ``format: date`` in the schema; one
    that is not a YYYY-MM-DD date is 400 period_invalid even with a period that does not read it. The page
    (whose form sends them empty with every period) still ignores them."""
    from django.urls import reverse

    from tests.factories import regulator

    client = _client(regulator("220100", username="city_regulator"))
    api = reverse("facilities-api:metrics-division", args=["220100"])
    for params in ({"start": "\x07$Cb"}, {"period": "month", "end": ""}, {"period": "year", "start": "20261001"},
                   {"start": "2026-02-30"}):
        answer = client.get(api, params)
        assert answer.status_code == 400 and answer.json()["code"] == "period_invalid", params
        assert answer.json()["extra"]["field"] in ("start", "end")
    assert client.get(api, {"period": "month", "start": "2026-10-01", "end": "2026-10-31"}).status_code == 200
    page = client.get(reverse("facilities:metrics-division", args=["220100"]), {"period": "month", "start": "", "end": ""})
    assert page.status_code == 200


def test_the_api_shows_the_numbers_of_the_page(activity):
    from django.urls import reverse

    from facilities.metrics.tables import show
    from tests.factories import regulator

    client = _client(regulator("220100", username="city_regulator"))
    params = {"period": "custom", "start": "2026-10-31", "end": "2026-11-01"}
    api = client.get(reverse("facilities-api:metrics-division", args=["220100"]), params).json()
    expected = raw_figures({activity.inviting.pk, activity.invited.pk}, BOUNDARY.start, BOUNDARY.end)
    assert {k: api["current"][k] for k in expected} == expected
    page = client.get(reverse("facilities:metrics-division", args=["220100"]), params)
    rows = {row[0][0]: [c[0] for c in row[1:]] for row in page.context["tables"][0].rows}
    for key in definitions.PERIOD_KEYS:
        label = next(label for label in rows if label.startswith(str(definitions.FIGURES[key].label) + "（") or label.startswith(str(definitions.FIGURES[key].label)))
        assert rows[label] == [show(key, api[name][key]) for name in ("current", "previous", "last_year")], key
    assert len(api["trends"]) == 12 and api["trends"][-1]["month"] == "2026-11"
    assert api["facilities"][str(activity.invited.pk)]["accepted"] == api["sub_divisions"]["220104"]["accepted"]


def test_the_dashboard_costs_the_same_number_of_queries_whatever_the_data(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from tests.factories import regulator

    client = _client(regulator("220000", username="province_regulator"))
    url = reverse("facilities:metrics-division", args=["220000"])

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"period": "month", "month": "2026-10"}).status_code == 200
        return len(queries)

    price(world)
    make_activity(world, seed=5, cases=3)
    call_command("rebuild_metrics")
    some = count()
    make_activity(world, seed=6, cases=10)
    call_command("rebuild_metrics")
    assert MetricDay.objects.values("facility").distinct().count() == 2
    assert count() == some <= 20


def _same(cell, text: str) -> bool:
    """A workbook cell against the page's text: numbers as numbers (money in 元), the rest as shown."""
    if cell is None:
        return text == "—"
    if isinstance(cell, (int, float)):
        return float(text.replace(",", "")) == cell
    return cell == text


def test_each_table_exports_to_excel_with_the_numbers_of_the_page_and_the_export_is_audited(activity):
    import io

    from django.urls import reverse
    from openpyxl import load_workbook

    from audit.choices import EventType
    from audit.models import AuditEvent
    from tests.factories import regulator

    client = _client(regulator("220100", username="city_regulator"))
    params = {"period": "month", "month": "2026-10"}
    page = client.get(reverse("facilities:metrics-division", args=["220100"]), params)
    built = page.context["tables"]
    assert {t.key for t in built} >= {"headline", "service", "subdivision", "rank-compliance", "rank-response", "rank-declines",
                                      "trend-activity", "trend-rules"}
    html = page.content.decode()
    assert 'type="application/json"' in html and "<script>" not in html and " onclick" not in html
    for table in built:
        assert table.export_url in html.replace("&amp;", "&")
        response = client.get(table.export_url)
        assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[3]) == table.columns
        for got, row in zip(rows[4:], table.rows, strict=True):
            shown = [text for text, _href, _value in row]
            assert len(got) == len(shown) and all(_same(v, text) for v, text in zip(got, shown, strict=True)), (table.key, got, shown)
    events = AuditEvent.objects.filter(event_type=EventType.METRICS_EXPORT)
    assert events.count() == len(built)
    assert {e.details["table"] for e in events} == {t.key for t in built}
    assert all(e.object_id == "220100" and e.acting_division_code == "220100" for e in events)
    bad = client.get(reverse("facilities:metrics-division-export", args=["220100"]), {**params, "table": "=cmd"})
    assert bad.status_code == 400 and "统计表" in bad.content.decode()
    assert events.count() == len(built)


def test_the_regulators_menu_is_grouped_and_leads_to_the_dashboard(world):
    from django.urls import reverse

    from facilities.choices import StaffRole
    from tests.factories import regulator, staff

    page = _client(regulator("220100", username="city_regulator")).get(reverse("facilities:facility-list"))
    groups = {str(group): [str(label) for label, _url in members] for group, members in page.context["nav_groups"]}
    assert list(groups) == ["常用", "监管统计", "机构与人员", "费用", "病历与审计"]
    # JL-C10 referrals count here too; JL-O2 quality control, JL-O3 the yearly evaluation, JL-O6 complaints,
    # random inspections and credit records, JL-O4 the assistance-time report
    assert groups["监管统计"] == ["监管统计", "双向转诊", "违规记录", "质量控制", "年度评价", "投诉办理", "随机抽查", "信用记录",
                              "结算统计", "帮扶时间"]
    html = page.content.decode()
    assert 'class="nav-group-label"' in html and reverse("facilities:metrics") in html
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN, username="invited_admin")
    page = _client(admin).get(reverse("facilities:facility-list"))
    assert page.context["nav_groups"] == []
    assert ("本机构统计", reverse("facilities:metrics-facility", args=[world.invited.pk])) in [(str(label), url) for label, url in page.context["nav_items"]]


def test_the_scorecard_is_linked_from_the_facility_page_and_costs_constant_queries(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from tests.factories import regulator

    client = _client(regulator("220104", username="chaoyang_regulator"))
    url = reverse("facilities:metrics-facility", args=[world.invited.pk])
    assert url in client.get(reverse("facilities:facility-detail", args=[world.invited.pk])).content.decode()
    assert url not in _client(world.expert).get(reverse("facilities:facility-detail", args=[world.invited.pk])).content.decode()

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"period": "quarter", "quarter": "2026-Q4"}).status_code == 200
        return len(queries)

    price(world)
    make_activity(world, seed=11, cases=3)
    call_command("rebuild_metrics")
    some = count()
    make_activity(world, seed=12, cases=8)
    call_command("rebuild_metrics")
    assert count() == some <= 20
