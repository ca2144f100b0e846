"""The rows of the work lists (远程会诊 and 收件箱, ``views.consultation_list``) as HTML, built in Python.

Issue 11: the template's row loop (a dozen variable lookups, three translated labels and two includes
per row) was most of the page's time. The rows are read as plain values (``WorkRow``: no model
instances, no decryption of identity and phone numbers the list never shows) and written here with
the standard library's ``html.escape`` — the same five characters as Django's ``escape`` — every
label made once per page. The HTML is the template's, byte for byte
(``tests/consultations/test_list_rows.py`` renders both). ``WorkRow`` carries what the JL-C8 list
access record reads of a row (``pk``, ``patient_id``, ``inviting_id``, ``invited_id``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from html import escape
from urllib.parse import quote

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from facilities.models import service_type_label

from .choices import ConsultationState, Side, Urgency
from .models import Consultation, Patient

# Issue 11: a tab's count is exact up to the cap and shown as "999+" above it (``tabs_html``); each
# state's count reads at most ``TAB_COUNT_CAP + 1`` index entries (``work_list_statements``), not the
# facility's whole history. Exact statistics stay on the regulators' dashboard. Tests patch this.
TAB_COUNT_CAP = 999

# The values a row is read with (``values``), in ``WorkRow``'s order.
FIELDS = (
    "pk", "number", "patient_id", "patient_name", "inviting_id", "inviting_name", "inviting_suspended",
    "invited_id", "invited_name", "invited_suspended", "service_type_id", "service_type_built_in",
    "service_type_name", "modality", "urgency", "state", "requested_time", "sent_at", "created_at", "duty_gap_flag",
)


@functools.cache
def _related_names() -> dict[str, Subquery]:
    """The names a row shows of its patient, parties and service, each a subquery on its primary key
    (built once a process; ``annotate`` resolves a copy). Issue 11: with joins PostgreSQL joined the
    patients (a scan of them all) before sorting the facility's cases; as subqueries of the select
    list they are read after the sort, for the page's 25 rows only. Same values: every one of these
    foreign keys is required and protected."""
    from facilities.models import Facility, ServiceType

    def of(model, key: str, field: str, name: str = "name") -> Subquery:
        return Subquery(model.objects.filter(**{key: OuterRef(field)}).order_by().values(name))

    return {
        "patient_name": of(Patient, "pk", "patient_id"),
        "inviting_name": of(Facility, "pk", "inviting_id"),
        "invited_name": of(Facility, "pk", "invited_id"),
        "service_type_built_in": of(ServiceType, "pk", "service_type_id", "built_in"),
        "service_type_name": of(ServiceType, "pk", "service_type_id"),
    }


def values(queryset):
    """``queryset`` (a work list, with ``selectors._with_suspension_flags``) read as ``FIELDS``."""
    return queryset.annotate(**_related_names()).values_list(*FIELDS)

# The state badge's colour (``_state_badge.html``); any other state is "badge-info".
_STATE_BADGE = {
    ConsultationState.SIGNED: "badge-ok", ConsultationState.CLOSED: "badge-ok",
    ConsultationState.SENT: "badge-warn", ConsultationState.RETURNED: "badge-warn",
    ConsultationState.DECLINED: "badge-danger",
    ConsultationState.DRAFT: "badge-none", ConsultationState.CANCELLED: "badge-none",
}
_PK = 918273645  # a stand-in primary key: the detail URL is reversed once a page, not once a row


class WorkRow:
    """One request on a work list, as read by ``FIELDS``; ``response`` is its JL-C4 clock on the
    inbox (``selectors.with_response_clocks``)."""

    __slots__ = (*(name.replace("__", "_") for name in FIELDS), "response")

    def __init__(self, values):
        for name, value in zip(self.__slots__, values, strict=False):
            setattr(self, name, value)
        self.response = None


def rows(values) -> list[WorkRow]:
    return [WorkRow(v) for v in values]


def _display(field: str) -> dict[str, str]:
    """A field's labels in the active language, escaped (``get_FIELD_display``), once a page."""
    return {value: escape(str(label)) for value, label in Consultation._meta.get_field(field).flatchoices}


def _time(value: datetime | None, tz) -> str:
    """``{{ value|date:"Y-m-d H:i" }}``: in the current time zone ``tz``; nothing when there is none."""
    if value is None:
        return ""
    if tz is not None and value.utcoffset() is not None:
        value = value.astimezone(tz)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"


def rows_html(rows: list[WorkRow], *, side: str) -> str:
    """The ``<tbody>`` rows of ``consultations/list.html`` for ``side``; "" when there is none."""
    if not rows:
        return ""
    head, tail = (escape(part) for part in reverse("consultations:detail", args=[_PK]).rsplit(str(_PK), 1))
    urgency, modality, state = _display("urgency"), _display("modality"), _display("state")
    # The texts are read outside the f-strings: makemessages does not find calls inside one.
    suspended, f5_title, f5, f4_title, f4 = (
        _("暂停中"), _("JL-F5 第三十四条：暂停期间仅可取消"), _("JL-F5 暂停"), _("JL-F4 第二十四条：申请到达时无该专业值班人员"), _("JL-F4 无值班"))
    suspended_badge = f' <span class="badge badge-danger">{suspended}</span>'
    jl_f5 = f'<span class="badge badge-danger" title="{f5_title}">{f5}</span>'
    jl_f4 = f'<span class="badge badge-warn" title="{f4_title}">{f4}</span>'
    tz = timezone.get_current_timezone() if settings.USE_TZ else None
    response_badge = _ResponseBadge() if side == Side.INVITED else None
    services: dict[tuple, str] = {}
    out = []
    for row in rows:
        service_key = (row.service_type_id, row.service_type_built_in, row.service_type_name)
        service = services.get(service_key)
        if service is None:
            service = services[service_key] = escape(str(service_type_label(*service_key)))
        if row.modality:
            service += f' <span class="muted small">{modality.get(row.modality) or escape(row.modality)}</span>'
        inviting = (
            f"<td>{escape(row.inviting_name)}{suspended_badge if row.inviting_suspended else ''}</td>"
            if side != Side.INVITING else ""
        )
        invited = (
            f"<td>{escape(row.invited_name)}{suspended_badge if row.invited_suspended else ''}</td>"
            if side != Side.INVITED else ""
        )
        label = urgency.get(row.urgency) or escape(row.urgency)
        if row.urgency == Urgency.EMERGENCY:
            urgency_badge = f'<span class="badge badge-danger">{label}</span>'
        elif row.urgency == Urgency.URGENT:
            urgency_badge = f'<span class="badge badge-warn">{label}</span>'
        else:
            urgency_badge = f'<span class="muted">{label}</span>'
        if side == Side.INVITED:
            received = f"{_time(row.sent_at, tz) or '—'} {response_badge(row.response)}\n"
        else:
            received = _time(row.created_at, tz)
        state_badge = f'<span class="badge {_STATE_BADGE.get(row.state, "badge-info")}">{state.get(row.state) or escape(row.state)}</span>'
        out.append(
            "\n      <tr>"
            f'\n        <td class="nowrap"><a href="{head}{row.pk}{tail}" class="mono">{escape(row.number)}</a></td>'
            f"\n        <td>{escape(row.patient_name)}</td>"
            f"\n        <td>{service}</td>"
            f"\n        {inviting}"
            f"\n        {invited}"
            f"\n        <td>{urgency_badge}</td>"
            f'\n        <td class="nowrap">{_time(row.requested_time, tz) or "—"}</td>'
            f'\n        <td class="nowrap">{received}</td>'
            "\n        <td>"
            f"\n          {state_badge}\n"
            f"\n          {jl_f5 if row.inviting_suspended or row.invited_suspended else ''}"
            f"\n          {jl_f4 if row.duty_gap_flag else ''}"
            "\n        </td>"
            "\n      </tr>\n    "
        )
    return mark_safe("".join(out))  # noqa: S308 - every value escaped above; the labels are the template's own


def _number(value: int) -> str:
    """An integer as ``{{ value }}`` shows it (grouped only under USE_THOUSAND_SEPARATOR)."""
    return escape(str(localize(value))) if settings.USE_THOUSAND_SEPARATOR else str(value)


class _ResponseBadge:
    """``_response_badge.html``: how long a request awaiting acceptance has waited (JL-C4); its
    texts translated once a page."""

    def __init__(self):
        self.overdue, self.waiting = _("已等待 %(waited)s 分钟，已超时"), _("已等待 %(waited)s 分钟")
        self.title = _("JL-C4 及时受理：目标 %(target)s 分钟")

    def __call__(self, clock) -> str:
        if not clock:
            return ""
        text = (self.overdue if clock.passed else self.waiting) % {"waited": _number(clock.waited_minutes)}
        title = self.title % {"target": _number(clock.target_minutes)}
        return f'<span class="badge {"badge-danger" if clock.passed else "badge-ok"}" title="{title}">{text}</span>'


def _tab_count(count: int) -> str:
    """A tab's count: exact up to ``TAB_COUNT_CAP``, "999+" above it (issue 11)."""
    if count <= TAB_COUNT_CAP:
        return f'<span class="tab-count">{_number(count)}</span>'
    title = escape(_("超过 %(number)s 条") % {"number": _number(TAB_COUNT_CAP)})
    return f'<span class="tab-count" title="{title}">{_number(TAB_COUNT_CAP)}+</span>'


def tabs_html(tabs, *, side: str, current: str, q: str) -> str:
    """The tab links of ``consultations/list.html`` (its ``{% for tab, count in tabs %}`` loop), byte
    for byte: ``tabs`` are (``views.Tab``, count) pairs. Issue 11: one of the page's costlier loops."""
    query = f"&amp;q={escape(quote(q, safe='/'))}" if q else ""
    out = []
    for tab, count in tabs:
        on = ' current" aria-current="page"' if current == tab.key else '"'
        out.append(
            f'\n    <a href="?side={escape(side)}&amp;tab={escape(tab.key)}{query}" class="tab{on}>'
            f'{escape(str(tab.label))} {_tab_count(count)}</a>\n  '
        )
    return mark_safe("".join(out))  # noqa: S308 - every value escaped above
