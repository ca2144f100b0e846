"""Template helpers of the consultations pages: masking (JL-C9), the JL-C2 countdown, labels.

Small and presentational: a tag reads what the view gave it and never writes (not even an
audit event; the views log every read, JL-C8).
"""

from __future__ import annotations

from html import escape

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.selectors import event_label as event_label_of

from .. import rules
from ..choices import ConsentRelation, DocumentKind, RaterKind

register = template.Library()

URGENT_SECONDS = 2 * 3600  # under two hours left: shown in red

@register.filter
def mask(value) -> str:
    """JL-C9 (art. 36): ``220***********1234``, ``138****1234``."""
    return rules.mask_number(str(value or ""))


@register.filter
def event_label(event_type: str) -> str:
    """The event type's one label (``audit.choices.EventType``); reads only."""
    return event_label_of(event_type) or event_type


OCCASIONS = {
    "accepted": gettext_lazy("受理时"),
    "signed": gettext_lazy("签发时"),
    "corrected": gettext_lazy("更正时"),
}


@register.filter
def occasion_label(occasion: str) -> str:
    return str(OCCASIONS.get(occasion, occasion))


def _label(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


# The stored values of each choice (an enum's ``values`` is a new list on each call).
_DOCUMENT_KINDS = frozenset(DocumentKind.values)
_CONSENT_RELATIONS = frozenset(ConsentRelation.values)
_RATER_KINDS = frozenset(RaterKind.values)


@register.filter
def event_summary(event) -> str:
    """One line of what an audit event's details say, for the case timeline."""
    details = event.details or {}
    parts = []
    if details.get("kind") in _DOCUMENT_KINDS:
        parts.append(_label(DocumentKind, details["kind"]))
    if details.get("relation") in _CONSENT_RELATIONS:
        parts.append(_("签署人关系：%(r)s") % {"r": _label(ConsentRelation, details["relation"])})
    if details.get("rater_kind") in _RATER_KINDS:
        parts.append(f"{_label(RaterKind, details['rater_kind'])} {details.get('score', '')}")
    if details.get("version"):
        parts.append(_("第 %(v)s 版") % {"v": details["version"]})
    if details.get("occasion") in OCCASIONS:
        parts.append(f"{OCCASIONS[details['occasion']]} {details.get('article', '')}")
    if details.get("obligations_met"):
        parts.append(_("按时完成 %(n)d 项24小时上传义务") % {"n": len(details["obligations_met"])})
    if details.get("duty_gap"):
        parts.append(_("JL-F4：无该专业值班人员"))
    if details.get("reason"):
        parts.append(str(details["reason"]))
    return " · ".join(parts)


@register.filter
def detected_type(content_type: str) -> str:
    return rules.ALLOWED_TYPES.get(content_type, content_type)


def _duration(seconds: int) -> str:
    hours, rest = divmod(abs(int(seconds)), 3600)
    minutes = rest // 60
    if hours:
        return _("%(h)d 小时 %(m)d 分") % {"h": hours, "m": minutes}
    return _("%(m)d 分") % {"m": minutes}


@register.inclusion_tag("consultations/_countdown.html")
def countdown(due_at):
    """JL-C2: time left until ``due_at``; red under two hours; 已超时 when passed. The text is the
    fallback without JavaScript; ``_countdown_script.html`` updates it every second."""
    left = int((due_at - timezone.now()).total_seconds())
    return {
        "due_iso": timezone.localtime(due_at).replace(microsecond=0).isoformat(),
        "overdue": left <= 0,
        "urgent": left < URGENT_SECONDS,
        "text": _("已超时 %(d)s") % {"d": _duration(left)}
        if left <= 0
        else _("剩余 %(d)s") % {"d": _duration(left)},
    }


# --- The case timeline's rows (issue 11) ---------------------------------------------------------
# A case's timeline and access record run to hundreds of rows (every view of the case is one, JL-C8);
# a template loop cost the case page more than everything else on it. The rows are built here with
# the standard library's ``html.escape`` (the same five characters as Django's ``escape``), exactly
# as the loops in ``_case_timeline.html`` made them (tests/consultations/test_case_timeline.py).

_MISSING = object()  # what the template's ``a.b`` gives when ``a`` has no ``b``: "" (string_if_invalid)


def _key(value, key):
    """The template's ``value.key`` on decoded JSON: a dict's entry, else nothing (a list, a string,
    a number or null has no such attribute)."""
    return value.get(key, _MISSING) if isinstance(value, dict) else _MISSING


def _shown(value) -> str:
    """``{{ value }}`` with autoescaping: "" when missing, a string escaped, anything else localized
    (numbers) and escaped as ``render_value_in_context`` does."""
    if value is _MISSING:
        return ""
    if type(value) is str:
        return escape(value)
    return conditional_escape(str(localize(timezone.template_localtime(value))))


class _Rows:
    """What every row of one table shares: the labels of the event types met so far, the
    viewer's time zone and the fixed words, each looked up once."""

    def __init__(self):
        self.labels = {}
        self.zone = timezone.get_current_timezone() if settings.USE_TZ else None
        self.unchained = _("待入链")
        self.plain_numbers = not settings.USE_THOUSAND_SEPARATOR

    def label(self, event_type: str) -> str:
        label = self.labels.get(event_type)
        if label is None:
            label = self.labels[event_type] = escape(event_label(event_type))
        return label

    def date_time(self, value) -> str:
        """``{{ value|date:"Y-m-d H:i:s" }}``: an aware time in the viewer's zone."""
        if not value:
            return ""
        if self.zone is not None and value.utcoffset() is not None:
            value = value.astimezone(self.zone)
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
                f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")

    def sequence(self, sequence) -> str:
        """``{% if e.sequence %}#{{ e.sequence }}{% else %}待入链{% endif %}``."""
        if not sequence:
            return self.unchained
        return f"#{sequence}" if self.plain_numbers and type(sequence) is int else f"#{_shown(sequence)}"


def _failed_check_notes(details) -> str:
    """``{% for check in e.details.checks %}{% if not check.passed %}…{{ check.text }}…``."""
    checks = _key(details, "checks")
    if checks is _MISSING or checks is None:
        return ""
    notes = []
    for check in checks:
        passed = _key(check, "passed")
        if passed is _MISSING or not passed:
            notes.append(f'<br><span class="small check-detail-inline">{_shown(_key(check, "text"))}</span>')
    return "".join(notes)


@register.simple_tag
def timeline_rows(events) -> str:
    """The ``<li>`` of each event of the case timeline (``timeline`` in ``_case_timeline.html``);
    ``events`` carry ``occurred_at``, ``event_type``, ``outcome``, ``actor_label``, ``details``, ``sequence``."""
    shared = _Rows()
    failed = f'<span class="badge badge-danger">{_("未通过")}</span>'
    system = _("系统")
    rows = []
    for e in events:
        failure = e.outcome == "failure"
        summary = event_summary(e)
        rows.append(
            f'\n      <li class="{"timeline-failure" if failure else ""}">\n'
            f'        <span class="timeline-time nowrap">{shared.date_time(e.occurred_at)}</span>\n'
            f'        <span class="timeline-what"><strong>{shared.label(e.event_type)}</strong>\n'
            f'          {failed if failure else ""}\n'
            f'          <span class="muted small">{escape(e.actor_label) if e.actor_label else system}</span>\n'
            f'          {f"""<br><span class="small">{escape(summary)}</span>""" if summary else ""}\n'
            f"          {_failed_check_notes(e.details)}\n"
            f"        </span>\n"
            f'        <span class="mono small muted">{shared.sequence(e.sequence)}</span>\n'
            f"      </li>\n    "
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value escaped above


@register.simple_tag
def access_rows(events) -> str:
    """The ``<li>`` of each access to the case (``accesses`` in ``_case_timeline.html``, JL-C8)."""
    shared = _Rows()
    rows = []
    for e in events:
        rows.append(
            f'\n          <li><span class="timeline-time nowrap">{shared.date_time(e.occurred_at)}</span>'
            f'<span class="timeline-what">{shared.label(e.event_type)} <span class="muted small">{_shown(e.actor_label)} · '
            f'{_shown(_key(e.details, "purpose"))}</span></span>'
            f'<span class="mono small muted">{shared.sequence(e.sequence)}</span></li>\n        '
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value escaped above
