"""The work lists' rows written in Python (``consultations.list_rows``, issue 11) are the HTML the
template's row loop wrote, byte for byte: every column on each side, the JL-F5 and JL-F4 badges, the
JL-C4 waiting clocks, a renamed service, an imaging modality, both languages, and hostile text
escaped as the template escaped it."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.template import engines
from django.utils import timezone, translation

from consultations import list_rows, selectors, services
from consultations.choices import ConsultationState
from consultations.models import Consultation
from facilities import services as facility_services
from facilities.choices import SuspensionCause
from facilities.models import ServiceType
from tests.factories import regulator

pytestmark = pytest.mark.django_db

# The row loop of templates/consultations/list.html before issue 11, with its two includes.
TEMPLATE_ROWS = """{% load i18n %}{% for consultation in rows %}
      <tr>
        <td class="nowrap"><a href="{% url 'consultations:detail' consultation.pk %}" class="mono">{{ consultation.number }}</a></td>
        <td>{{ consultation.patient.name }}</td>
        <td>{{ consultation.service_type.label }}{% if consultation.modality %} <span class="muted small">{{ consultation.get_modality_display }}</span>{% endif %}</td>
        {% if side != "inviting" %}<td>{{ consultation.inviting.name }}{% if consultation.inviting_suspended %} <span class="badge badge-danger">{% trans "暂停中" %}</span>{% endif %}</td>{% endif %}
        {% if side != "invited" %}<td>{{ consultation.invited.name }}{% if consultation.invited_suspended %} <span class="badge badge-danger">{% trans "暂停中" %}</span>{% endif %}</td>{% endif %}
        <td>{% if consultation.urgency == "emergency" %}<span class="badge badge-danger">{{ consultation.get_urgency_display }}</span>{% elif consultation.urgency == "urgent" %}<span class="badge badge-warn">{{ consultation.get_urgency_display }}</span>{% else %}<span class="muted">{{ consultation.get_urgency_display }}</span>{% endif %}</td>
        <td class="nowrap">{{ consultation.requested_time|date:"Y-m-d H:i"|default:"—" }}</td>
        <td class="nowrap">{% if side == "invited" %}{{ consultation.sent_at|date:"Y-m-d H:i"|default:"—" }} {% include "consultations/_response_badge.html" %}{% else %}{{ consultation.created_at|date:"Y-m-d H:i" }}{% endif %}</td>
        <td>
          {% include "consultations/_state_badge.html" with state=consultation.state label=consultation.get_state_display %}
          {% if consultation.inviting_suspended or consultation.invited_suspended %}<span class="badge badge-danger" title="{% trans 'JL-F5 第三十四条：暂停期间仅可取消' %}">{% trans "JL-F5 暂停" %}</span>{% endif %}
          {% if consultation.duty_gap_flag %}<span class="badge badge-warn" title="{% trans 'JL-F4 第二十四条：申请到达时无该专业值班人员' %}">{% trans "JL-F4 无值班" %}</span>{% endif %}
        </td>
      </tr>
    {% endfor %}"""

HOSTILE = "<script>alert('x')</script> \"O'Neil\" & 王"


def _both(user, side, now):
    """The rows as the template wrote them and as ``list_rows`` writes them, for ``user`` on ``side``."""
    queryset = selectors.consultation_work_list(user=user, side=side)
    models = selectors.with_response_clocks(list(queryset), now=now)
    values = selectors.with_response_clocks(list_rows.rows(list_rows.values(queryset)), now=now)
    assert [row.pk for row in values] == [row.pk for row in models]
    expected = engines["django"].from_string(TEMPLATE_ROWS).render({"rows": models, "side": side})
    return expected, list_rows.rows_html(values, side=side)


@pytest.fixture
def cases(world):
    """Requests of every kind: a hostile patient name and facility name, a renamed service, an
    imaging request (modality; JL-F4 nobody on duty), emergency and urgent ones awaiting acceptance
    (one past its JL-C4 target), one under way, a draft and a returned one; the invited facility
    suspended (JL-F5)."""
    world.inviting.name = HOSTILE
    world.inviting.save(update_fields=["name"])
    ServiceType.objects.filter(code="outpatient").update(name="远程门诊<b>（改名）</b>")
    world.draft(patient=world.patient(name=HOSTILE))
    returned = world.sent(service="outpatient")
    services.consultation_return_material(actor=world.invited_coordinator, consultation=returned, reason="缺少影像资料")
    world.sent(service="outpatient")  # the renamed service awaiting acceptance
    world.sent(service="imaging", urgency="emergency")
    with time_machine.travel(timezone.now() - dt.timedelta(hours=5)):
        world.sent(urgency="urgent", requested_time=timezone.now() + dt.timedelta(days=1))
    world.accepted_with_expert()
    facility_services.suspension_report(
        actor=regulator("220000"), facility=world.invited, cause=SuspensionCause.QUALITY_RISK, description="设备故障"
    )
    return world


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("side", ["inviting", "invited", ""])
def test_rows_are_the_templates_rows_byte_for_byte(cases, side, language):
    user = cases.invited_coordinator if side == "invited" else cases.coordinator
    with translation.override(language):
        expected, written = _both(user, side, timezone.now())
    assert written == expected
    assert written.count("<tr>") >= 4 and "badge-danger" in written  # JL-F5: the invited facility is suspended


def test_hostile_text_is_escaped_as_the_template_escaped_it(cases):
    expected, written = _both(cases.coordinator, "", timezone.now())
    assert written == expected
    assert "<script>" not in written and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in written
    assert "&quot;O&#x27;Neil&quot; &amp; 王" in written
    assert "远程门诊&lt;b&gt;（改名）&lt;/b&gt;" in written
    assert "JL-F4 无值班" in written and '<span class="muted small">' in written  # the imaging request


def test_waiting_clocks_on_the_inbox(cases):
    expected, written = _both(cases.invited_coordinator, "invited", timezone.now())
    assert written == expected
    assert "已超时" in written and "badge-ok" in written  # one past its JL-C4 target, one within it


def test_no_rows_is_nothing():
    assert list_rows.rows_html([], side="invited") == ""


def test_a_state_or_label_the_choices_do_not_know_is_shown_as_stored(world):
    consultation = world.sent()
    Consultation.objects.filter(pk=consultation.pk).update(state="legacy<x>", urgency="later")
    queryset = Consultation.objects.filter(pk=consultation.pk)
    models = selectors.with_response_clocks(list(selectors._with_suspension_flags(queryset)), now=timezone.now())
    values = list_rows.rows(list_rows.values(selectors._with_suspension_flags(queryset)))
    expected = engines["django"].from_string(TEMPLATE_ROWS).render({"rows": models, "side": "inviting"})
    assert list_rows.rows_html(values, side="inviting") == expected
    assert ConsultationState.SENT not in expected and "legacy&lt;x&gt;" in expected


TEMPLATE_TABS = """{% load i18n %}{% for tab, count in tabs %}
    <a href="?side={{ side }}&amp;tab={{ tab.key }}{% if q %}&amp;q={{ q|urlencode }}{% endif %}" class="tab{% if current == tab.key %} current{% endif %}"{% if current == tab.key %} aria-current="page"{% endif %}>{{ tab.label }} {% if count > cap %}<span class="tab-count" title="{% blocktrans with number=cap %}超过 {{ number }} 条{% endblocktrans %}">{{ cap }}+</span>{% else %}<span class="tab-count">{{ count }}</span>{% endif %}</a>
  {% endfor %}"""


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("q", ["", "JL-2026 王", HOSTILE, "a/b?c=d&e#f%20"])
def test_tabs_are_the_templates_tabs_byte_for_byte(language, q):
    from consultations.views import INVITED_TABS, INVITING_TABS

    for side, tabs in (("inviting", INVITING_TABS), ("invited", INVITED_TABS), ("", INVITING_TABS[-1:])):
        # Issue 11: exact up to the cap (999), "999+" above it.
        counts = [(tab, (0, 999, 1000, 2468, 7)[n % 5]) for n, tab in enumerate(tabs)]
        for current in [tab.key for tab in tabs] + ["obligations"]:
            context = {"tabs": counts, "side": side, "current": current, "q": q, "cap": list_rows.TAB_COUNT_CAP}
            with translation.override(language):
                expected = engines["django"].from_string(TEMPLATE_TABS).render(context)
                written = list_rows.tabs_html(counts, side=side, current=current, q=q)
            assert written == expected
    assert "<script>" not in list_rows.tabs_html(counts, side="", current="all", q=HOSTILE)
