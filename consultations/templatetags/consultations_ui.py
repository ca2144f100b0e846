"""Template helpers of the consultations pages: masking (JL-C9), the JL-C2 countdown, labels.

Small and presentational: a tag reads what the view gave it and never writes (not even an
audit event; the views log every read, JL-C8).
"""

from __future__ import annotations

from django import template
from django.utils import timezone
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


@register.filter
def event_summary(event) -> str:
    """One line of what an audit event's details say, for the case timeline."""
    details = event.details or {}
    parts = []
    if details.get("kind") in DocumentKind.values:
        parts.append(_label(DocumentKind, details["kind"]))
    if details.get("relation") in ConsentRelation.values:
        parts.append(_("签署人关系：%(r)s") % {"r": _label(ConsentRelation, details["relation"])})
    if details.get("rater_kind") in RaterKind.values:
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
