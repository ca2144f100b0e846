"""Issue 11: the JL-C2 violation pages (the register and the regulators' start page) build their rows
in Python from plain values (``consultations.violation_rows``). The HTML must be what the templates
made of the same violations — escaping included — in either language and time zone, the access
record (JL-C8) must name the same rows and patients, and the identity numbers, which these pages
never show, are not read (JL-A2). The start page's referral counts for a regulator (JL-C10) are
the filtered counts they replaced."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Q
from django.template import engines
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import AuditEvent
from consultations import selectors, services
from consultations.choices import OPEN_REFERRAL_STATES, ReferralDirection, ReferralState, TriggerKind
from consultations.models import Referral, Violation
from consultations.violation_rows import home_panel_html, register_html, violation_rows
from telemed.scope import Scope
from tests.consultations import offer, signed
from tests.factories import FacilityFactory, division, regulator

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(\"x\")</script> O'Brien & 张"
# The template loops the rows replaced (templates/consultations/violation_list.html and _home_panel.html).
REGISTER_LOOP = """{% for violation in page_obj %}
      <tr>
        <td><a href="{% url 'facilities:facility-detail' violation.facility_id %}">{{ violation.facility.name }}</a></td>
        <td>{{ violation.facility.division.name }}</td>
        <td>{{ violation.obligation.patient.name }}</td>
        <td><span class="check-rule">{{ violation.rule }}</span></td>
        <td class="nowrap">{{ violation.due_at|date:"Y-m-d H:i" }}</td>
        <td class="nowrap">{{ violation.recorded_at|date:"Y-m-d H:i" }}</td>
        <td>{{ violation.text }}</td>
      </tr>
    {% endfor %}"""
HOME_LOOP = """{% for violation in violations %}
        <tr>
          <td>{{ violation.facility.name }} <span class="muted small">{{ violation.facility.division.name }}</span></td>
          <td>{{ violation.obligation.patient.name }}</td>
          <td class="nowrap">{{ violation.due_at|date:"Y-m-d H:i" }}</td>
          <td>{{ violation.text }}</td>
        </tr>
      {% endfor %}"""


@pytest.fixture
def violations(world):
    """Three missed JL-C2 deadlines, one of them a legacy row with its stored text; the deadline falls
    on different dates in UTC and in Beijing time; names, rule and text carry markup and quotes."""
    hostile = FacilityFactory(name=f"{HOSTILE}医院", division=division("220183"))
    start = dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC)  # due 3 月 2 日 20:00 (UTC) = 3 月 3 日 04:00 (北京)
    with time_machine.travel(start, tick=False):
        for trigger, name, details in (
            (TriggerKind.PATIENT_REQUEST, HOSTILE, {"requested_by": "家属"}),
            (TriggerKind.PATIENT_REQUEST, "王桂芝", {"requested_by": "本人"}),
            (TriggerKind.PATIENT_REQUEST, "李四", {"requested_by": "本人"}),
        ):
            services.obligation_open(actor=world.clinician, patient=world.patient(name=name), trigger=trigger,
                                     event_at=start, details=details)
    with time_machine.travel(start + dt.timedelta(hours=31), tick=False):
        services.obligation_sweep()
    made = list(Violation.objects.order_by("pk"))
    assert len(made) == 3
    # A row recorded before the texts were rendered when shown (issue 12), on another facility.
    Violation.objects.filter(pk=made[2].pk).update(message_key="", description=f"旧记录 {HOSTILE}", rule="JL-C2<&>",
                                                  facility=hostile)
    return made


def _old(loop: str, name: str, violations_shown) -> str:
    return engines["django"].from_string(loop).render({name: violations_shown})


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])
def test_issue_11_violation_rows_are_the_html_the_templates_made(violations, language, zone):
    province = regulator("220000", username="province")
    with translation.override(language), timezone.override(zone):
        shown = list(selectors.violation_list(user=province))
        rows = violation_rows(selectors.violation_list(user=province))
        assert [row.pk for row in rows] == [v.pk for v in shown]
        assert register_html(rows) == _old(REGISTER_LOOP, "page_obj", shown)
        assert home_panel_html(rows) == _old(HOME_LOOP, "violations", shown)
    page = register_html(rows)
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#x27;Brien &amp; 张" in page
    assert "JL-C2&lt;&amp;&gt;" in page and "旧记录 &lt;script&gt;" in page
    assert register_html([]) == home_panel_html([]) == ""


def test_jl_c8_the_register_logs_the_rows_it_shows_and_reads_no_identity_number(client, violations):
    city = regulator("220100", username="city")  # 长春市: 农安县 and 德惠市 are below it
    client.force_login(city)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("consultations:violation-list"))
    page = response.content.decode()
    assert response.status_code == 200 and response.context["page_obj"].paginator.count == 3
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "<script>alert" not in page
    assert page.count('<td class="nowrap">2026-03-03 04:00</td>') == 3  # the deadline in Beijing time
    assert not any("id_number" in q["sql"] or '"phone"' in q["sql"] for q in queries.captured_queries)
    event = AuditEvent.objects.filter(actor=city, event_type="record.list").latest("pk")
    shown = list(Violation.objects.order_by("-due_at").select_related("obligation"))
    assert event.object_type == "consultations.violation"
    assert sorted(event.details["object_ids"]) == sorted(v.pk for v in shown)
    assert event.details["patient_ids"] == sorted({v.obligation.patient_id for v in shown})
    assert event.facility_ids == sorted({v.facility_id for v in shown})
    home = client.get(reverse("home")).content.decode()
    assert "辖区最近的违规记录" in home and "&lt;script&gt;alert" in home and "王桂芝" in home


def test_jl_c2_an_empty_register_and_start_page_say_so(client, world):
    client.force_login(regulator("220200", username="jilin_city"))
    assert '<td colspan="7" class="empty">没有违规记录。</td>' in client.get(reverse("consultations:violation-list")).content.decode()
    assert '<td colspan="4" class="empty">辖区内没有违规记录。</td>' in client.get(reverse("home")).content.decode()


def _filtered_counts(user) -> dict:
    """The counts as ``referral_counts`` read them before issue 11 (five filtered counts)."""
    ids = Scope.of(user).facility_ids
    return Referral.objects.visible_to(user).aggregate(
        awaiting=Count("pk", filter=Q(sending_id__in=ids, state__in=list(OPEN_REFERRAL_STATES))),
        offered_by_us=Count("pk", filter=Q(receiving_id__in=ids, state__in=list(OPEN_REFERRAL_STATES))),
        up=Count("pk", filter=Q(direction=ReferralDirection.UP, state=ReferralState.TRANSFERRED)),
        down=Count("pk", filter=Q(direction=ReferralDirection.DOWN, state=ReferralState.TRANSFERRED)),
        open=Count("pk", filter=Q(state__in=list(OPEN_REFERRAL_STATES))),
    )


def test_jl_c10_a_regulators_referral_counts_are_the_filtered_counts(world):
    first = signed(world)
    up = offer(world, first)
    services.referral_confirm(actor=world.coordinator, referral=up)
    services.referral_transfer(actor=world.coordinator, referral=up)
    offer(world, first, direction=ReferralDirection.DOWN)  # open
    offer(world, signed(world))  # open, up
    regulators = [regulator(code, username=f"r{code}") for code in ("220000", "220100", "220104", "220200")]
    counts = [selectors.referral_counts(user=user) for user in regulators]
    assert counts[0] == {"awaiting": 0, "offered_by_us": 0, "up": 1, "down": 0, "open": 2}
    assert counts == [_filtered_counts(user) for user in regulators]
    assert counts[3] == {"awaiting": 0, "offered_by_us": 0, "up": 0, "down": 0, "open": 0}
    assert selectors.referral_counts(user=world.coordinator) == _filtered_counts(world.coordinator)
