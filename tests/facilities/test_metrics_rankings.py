"""The dashboard's facility rankings (issue 9, docs/performance.md): a page's report chooses the
facilities its three rankings show in SQL (``figures.load_ranked``) and derives only those; the
choice and the order must equal ranking every facility's full figures (``figures.rankings``) —
including ties of the value (then by name in code-point order, then by id) and compliance percents that round at an
exact half (Python's float rounding, which SQL does not reproduce)."""

from __future__ import annotations

import random

import pytest

from facilities.metrics.definitions import ALL_SERVICES, COUNTER_KEYS, RESPONSE, TURNAROUND, percent
from facilities.metrics.figures import RANK_LIMIT, Subject, rankings, report
from facilities.metrics.periods import year
from facilities.models import Division, Facility, MetricStat, MetricTotal
from tests.factories import FacilityFactory, division

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2027-01-06T12:00:00+08:00")]

COUNTIES = ("220122", "220104", "220102", "220203", "220581")  # two cities of Jilin
NAMES = ("甲医院", "乙医院", "丙医院", "丁医院", "戊医院", "Zeta Hospital", "zeta hospital")  # code points, not a locale's order


def _stored(rng: random.Random, facilities: list[Facility], label: str) -> None:
    """Random stored totals of ``label`` per facility, with many ties: the same declines, medians,
    obligations of 16 (1000·met/16 is an exact half for every odd ``met``) and missing values."""
    totals, stats = [], []
    for facility in facilities:
        due = rng.choice([0, 16, 16, 16, 8, 40, 2000, 3])
        counters = {key: rng.randint(0, 5) for key in COUNTER_KEYS}
        counters.update(obligations_due=due, obligations_met=rng.randint(0, due), declined=rng.choice([0, 0, 1, 2, 2, 3]))
        scope = f"f{facility.pk}"
        totals.append(MetricTotal(period=label, scope=scope, division_code=facility.division_id, service_type=ALL_SERVICES,
                                  active=1, **counters))
        for kind in (RESPONSE, TURNAROUND):
            median = rng.choice([None, 600, 600, 900, 1200])
            if median is not None:
                stats.append(MetricStat(period=label, scope=scope, division_code=facility.division_id, service_type=ALL_SERVICES,
                                        kind=kind, count=3, median=median, p90=median * 2, experts=rng.randint(0, 2)))
    MetricTotal.objects.bulk_create(totals)
    MetricStat.objects.bulk_create(stats)


@pytest.mark.parametrize("seed", [1, 9, 2026, 4242])
def test_the_rankings_chosen_in_sql_equal_the_rankings_of_every_facility(seed):
    rng = random.Random(seed)
    facilities = [FacilityFactory(name=f"{rng.choice(NAMES)}{n}", division=division(rng.choice(COUNTIES))) for n in range(45)]
    _stored(rng, facilities, "2026")
    _stored(rng, facilities, "2025")  # another period: not read
    names = dict(Facility.objects.values_list("pk", "name"))
    half = [f for f in MetricTotal.objects.filter(period="2026", obligations_due=16) if f.obligations_met % 2]
    assert half  # exact halves are among the data
    for code in ("220000", "220100", "220104"):
        subject = Subject.of_division(Division.objects.get(code=code))
        full = report(subject, year(2026), with_trends=False)
        expected = rankings(full.by_facility, names)
        page = report(subject, year(2026), with_trends=False, ranked=True)
        assert page.ranked == expected, (seed, code)
        shown = {pk for pks in expected.values() for pk in pks}
        assert page.by_facility == {pk: full.by_facility[pk] for pk in shown}, (seed, code)
        assert page.names == {pk: names[pk] for pk in shown}
        assert (page.current, page.by_child, page.by_service) == (full.current, full.by_child, full.by_service)
        if code == "220000":
            assert all(len(pks) == RANK_LIMIT for pks in expected.values())


def test_the_ranking_order_is_the_rounded_value_then_the_name_then_the_id():
    """1/16 is 6.25 %, shown 6.2 (Python rounds the float half to even): level with 31/500 = 6.2 %,
    so the names decide, by code point (names are unique; the id would decide after them)."""
    made = {key: FacilityFactory(name=name, division=division("220104"))
            for key, name in (("b", "乙医院"), ("a1", "甲医院"), ("a2", "Zeta 医院"), ("c", "丙医院"))}
    ratios = {"b": (1, 16), "a1": (31, 500), "a2": (31, 500), "c": (1, 15)}
    assert percent(1, 16) == percent(31, 500) == 6.2 and percent(1, 15) == 6.7
    for key, (met, due) in ratios.items():
        MetricTotal.objects.create(period="2026", scope=f"f{made[key].pk}", division_code="220104", service_type=ALL_SERVICES,
                                   obligations_met=met, obligations_due=due, declined=2, active=1)
    page = report(Subject.of_division(Division.objects.get(code="220104")), year(2026), with_trends=False, ranked=True)
    # Code points: Z U+005A < 丙 U+4E19 < 乙 U+4E59 < 甲 U+7532.
    assert page.ranked["compliance"] == [made[key].pk for key in ("a2", "b", "a1", "c")]
    assert page.ranked["declines"] == [made[key].pk for key in ("a2", "c", "b", "a1")]  # all level at 2
    assert page.ranked["response"] == []


def test_a_tables_rows_are_escaped_as_django_escapes_them():
    """``Table.body_html`` builds the rows with ``html.escape`` (faster at ~1,000 cells): the HTML
    must be what ``format_html`` / ``conditional_escape`` make of the same cells."""
    from django.utils.html import conditional_escape, format_html, format_html_join
    from django.utils.safestring import mark_safe

    from facilities.metrics.tables import Table

    table = Table("k", "c", ["a"], rows=[
        [("A&B <x> \"q\" 'y'", "/f/1/metrics/?period=year&year=2026", None), ("1,234.00", "", 1), ("—", "", None),
         (mark_safe("<b>safe</b>"), "", None)],
        [("甲医院=cmd|'", "", None), ("3小时05分", "", None)],
    ])
    expected = "\n".join(
        format_html('<tr><th scope="row">{}</th>{}</tr>',
                    format_html('<a href="{}">{}</a>', href, text) if href else conditional_escape(text),
                    format_html_join("", '<td class="num">{}</td>', ((c[0],) for c in cells)))
        for (text, href, _value), *cells in table.rows)
    assert table.body_html() == expected
