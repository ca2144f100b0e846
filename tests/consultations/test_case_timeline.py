"""The case page's timeline and access record (JL-A1, JL-C8), built by ``timeline_rows`` and
``access_rows`` in Python since issue 11: the section must be, byte for byte, what its template
loops made — hostile text escaped the same way, missing details shown as nothing, every language."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple

import pytest
from django.template import engines
from django.template.loader import render_to_string
from django.utils import translation

from consultations.views import TIMELINE_FIELDS

Event = namedtuple("Event", TIMELINE_FIELDS)

# ``templates/consultations/_case_timeline.html`` as it was with its two loops (before issue 11).
LOOPS = """{% load i18n consultations_ui %}{# Case page: the audit timeline and the JL-C8 access record. #}
<section class="card" id="timeline">
  <h2>{% trans "审计时间线" %}</h2>
  <ol class="timeline">
    {% for e in timeline %}
      <li class="{% if e.outcome == 'failure' %}timeline-failure{% endif %}">
        <span class="timeline-time nowrap">{{ e.occurred_at|date:"Y-m-d H:i:s" }}</span>
        <span class="timeline-what"><strong>{{ e.event_type|event_label }}</strong>
          {% if e.outcome == "failure" %}<span class="badge badge-danger">{% trans "未通过" %}</span>{% endif %}
          <span class="muted small">{{ e.actor_label|default:_("系统") }}</span>
          {% with summary=e|event_summary %}{% if summary %}<br><span class="small">{{ summary }}</span>{% endif %}{% endwith %}
          {% for check in e.details.checks %}{% if not check.passed %}<br><span class="small check-detail-inline">{{ check.text }}</span>{% endif %}{% endfor %}
        </span>
        <span class="mono small muted">{% if e.sequence %}#{{ e.sequence }}{% else %}{% trans "待入链" %}{% endif %}</span>
      </li>
    {% empty %}
      <li class="muted">{% trans "暂无事件。" %}</li>
    {% endfor %}
  </ol>
  {% if accesses %}
    <details>
      <summary>{% blocktrans count counter=accesses|length %}调阅记录（{{ counter }} 次，JL-C8）{% plural %}调阅记录（{{ counter }} 次，JL-C8）{% endblocktrans %}</summary>
      <ol class="timeline">
        {% for e in accesses %}
          <li><span class="timeline-time nowrap">{{ e.occurred_at|date:"Y-m-d H:i:s" }}</span><span class="timeline-what">{{ e.event_type|event_label }} <span class="muted small">{{ e.actor_label }} · {{ e.details.purpose }}</span></span><span class="mono small muted">{% if e.sequence %}#{{ e.sequence }}{% else %}{% trans "待入链" %}{% endif %}</span></li>
        {% endfor %}
      </ol>
    </details>
  {% endif %}
</section>
"""

HOSTILE = "<script>alert('x')</script> & \"引号\" \u202e反向"
AT = dt.datetime(2026, 12, 7, 16, 5, 9, tzinfo=dt.UTC)  # 2026-12-08 00:05:09 in Shanghai


def _timeline() -> list[Event]:
    checks = [
        {"passed": True, "text": "JL-P1 通过"},
        {"passed": False, "text": HOSTILE},
        {"passed": 0, "text": 12},
        {"text": "没有 passed"},
        {"passed": False},
        {"passed": None, "text": None},
        "不是对象",
    ]
    return [
        Event(AT, "consultation.create", "success", "高若溪（coordinator_nongan）", {"consultation": "YC1"}, 1),
        Event(AT, "physician.qualification.assign", "failure", HOSTILE, {"checks": checks}, 12345678),
        Event(AT + dt.timedelta(seconds=1), "document.upload", "success", "", {"kind": "medical_record", "reason": HOSTILE}, None),
        Event(AT, "consultation.consent", "success", "某人", {"relation": "self", "version": 2, "checks": "字符串"}, 0),
        Event(AT, "consultation.rate", "success", "某人", {"rater_kind": "patient", "score": 5, "checks": None}, 7),
        Event(AT, "responsibility.record", "success", "某人", {"occasion": "accepted", "article": "第二十八条"}, 8),
        Event(AT, "consultation.send", "success", "某人", {"obligations_met": [1, 2], "duty_gap": True}, 9),
        Event(AT, "unknown.type<b>", "failure", "某人", None, 10),
        Event(dt.datetime(2026, 1, 2, 3, 4, 5), "consultation.accept", "success", "某人", {"checks": {"passed": False}}, 12),
    ]


def _accesses() -> list[Event]:
    return [
        Event(AT, "record.view", "success", "高若溪（coordinator_nongan）", {"purpose": "查看远程医疗病例"}, 3),
        Event(AT, "record.download", "success", HOSTILE, {"purpose": HOSTILE}, None),
        Event(AT, "record.reveal", "success", "", {}, 0),
        Event(AT, "record.view", "success", "某人", {"purpose": None}, 4),
        Event(AT, "record.view", "success", "某人", {"purpose": 42}, 1234567),
        Event(AT, "record.view", "success", "某人", None, 5),
        Event(AT, "record.view", "success", "某人", "不是对象", 6),
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(
    "timeline, accesses",
    [(_timeline(), _accesses()), ([], []), (_timeline()[:1], []), ([], _accesses()[:1])],
    ids=["hostile", "empty", "one-event", "one-access"],
)
def test_the_timeline_section_is_what_its_template_loops_made(language, timeline, accesses):
    context = {"timeline": timeline, "accesses": accesses, "access_total": len(accesses)}
    with translation.override(language):
        expected = engines["django"].from_string(LOOPS).render(context)
        built = render_to_string("consultations/_case_timeline.html", context)
    assert built == expected


def test_hostile_text_in_the_timeline_is_escaped():
    page = render_to_string(
        "consultations/_case_timeline.html", {"timeline": _timeline(), "accesses": _accesses(), "access_total": len(_accesses())}
    )
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;引号&quot;" in page
    assert "unknown.type&lt;b&gt;" in page
    assert "2026-12-08 00:05:09" in page and "2026-01-02 03:04:05" in page  # Shanghai time; a naive time as it is


def test_a_check_list_that_is_no_list_fails_as_the_template_did():
    """A number where the checks go broke the template loop (TypeError); it still does."""
    event = Event(AT, "consultation.create", "success", "某人", {"checks": 5}, 1)
    with pytest.raises(TypeError):
        engines["django"].from_string(LOOPS).render({"timeline": [event], "accesses": []})
    with pytest.raises(TypeError):
        render_to_string("consultations/_case_timeline.html", {"timeline": [event], "accesses": []})


def test_the_latest_accesses_are_listed_with_their_total():
    """Issue 11 (JL-C8): every view of the case adds an access; the page lists the latest and counts all."""
    shown = _accesses()[:2]
    page = render_to_string("consultations/_case_timeline.html", {"timeline": [], "accesses": shown, "access_total": 120})
    assert "调阅记录（120 次，JL-C8）" in page
    assert "仅列出最近 2 次调阅；全部调阅记录保存在审计日志中（JL-C8）。" in page
    assert page.count('<li><span class="timeline-time nowrap">') == 2
    whole = render_to_string("consultations/_case_timeline.html", {"timeline": [], "accesses": shown, "access_total": 2})
    assert "调阅记录（2 次，JL-C8）" in whole and "仅列出最近" not in whole
