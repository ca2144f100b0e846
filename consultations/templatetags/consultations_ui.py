"""Template helpers of the consultations pages: masking (JL-C9), the JL-C2 countdown, labels.

Small and presentational: a tag reads what the view gave it and never writes (not even an
audit event; the views log every read, JL-C8).
"""

from __future__ import annotations

import functools
from html import escape

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.formats import localize
from django.utils.hashable import make_hashable
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


# --- The case page's documents and participants (issue 11) --------------------------------------
# Built as the loops of ``_case_documents.html`` and ``_case_people.html`` made them, with the same
# escaping (tests/consultations/test_case_rows.py compares both, hostile text included).


@functools.cache
def _choices(model, name: str) -> dict:
    """``dict(make_hashable(field.flatchoices))`` of a field with fixed choices (an enum's), built once:
    ``Model._get_FIELD_display`` builds it at every call (~80 µs, for a handful of choices)."""
    return dict(make_hashable(model._meta.get_field(name).flatchoices))


def _display(obj, name: str):
    """``obj.get_<name>_display()`` for a field whose choices are an enum's (never a callable)."""
    value = getattr(obj, name)
    return force_str(_choices(type(obj), name).get(make_hashable(value), value), strings_only=True)


def _in_zone(zone, value):
    """An aware time in the viewer's zone, as the ``date`` filter takes it; anything else as it is."""
    if zone is not None and getattr(value, "utcoffset", None) is not None and value.utcoffset() is not None:
        return value.astimezone(zone)
    return value


def _minutes(zone, value) -> str:
    """``{{ value|date:"Y-m-d H:i" }}``: an aware time in the viewer's zone; "" for none."""
    if not value:
        return ""
    value = _in_zone(zone, value)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"


@register.simple_tag
def document_rows(documents, consultation_pk) -> str:
    """The ``<tr>`` of each document of the case (``documents`` in ``_case_documents.html``, JL-C5)."""
    from django.template.defaultfilters import filesizeformat
    from django.urls import reverse

    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    returned_label = _("已退回")  # outside the f-string: makemessages does not read calls inside one
    returned = f'<span class="badge badge-warn">{escape(returned_label)}</span><br><span class="small">'
    valid = f'<span class="badge badge-ok">{escape(_("有效"))}</span>'
    rows = []
    for d in documents:
        href = escape(reverse("consultations:document-download", args=[consultation_pk, d.pk]))
        original = f'<br><span class="muted small">{escape(str(d.original_name))}</span>' if d.original_name != d.title else ""
        uploader = d.uploaded_by.get_full_name() or d.uploaded_by.get_username()
        state = f"{returned}{escape(str(d.return_reason))}</span>" if d.returned_at else valid
        rows.append(
            f"\n        <tr>\n"
            f'          <td><a href="{href}">{escape(str(d.title))}</a>{original}</td>\n'
            f"          <td>{escape(str(_display(d, 'kind')))}</td>\n"
            f'          <td class="num nowrap">{conditional_escape(filesizeformat(d.size))}</td>\n'
            f'          <td><span class="mono small" title="{escape(str(d.sha256))}">{escape(str(d.sha256)[:12])}…</span></td>\n'
            f"          <td>{escape(str(detected_type(d.content_type)))}</td>\n"
            f"          <td>{escape(str(uploader))}</td>\n"
            f'          <td class="nowrap">{_minutes(zone, d.uploaded_at)}</td>\n'
            f"          <td>{state}</td>\n"
            f"        </tr>\n      "
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value escaped above


@register.simple_tag
def participant_rows(participants, side_label) -> str:
    """The ``<tr>`` of each participating physician of one side (``_case_people.html``)."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    side = escape(str(side_label))
    return mark_safe("".join(  # noqa: S308 - every value escaped
        f"<tr><td>{side}</td><td>{escape(str(p.physician.name))}</td><td>{escape(str(_display(p.physician, 'title')))}</td>"
        f'<td class="nowrap">{_minutes(zone, p.added_at)}</td></tr>'
        for p in participants
    ))


# --- The case page's summary (issue 11) ----------------------------------------------------------
# ``_case_summary.html`` was the heaviest section of the case page (~1 ms, 60 lookups and filters);
# built here as its template made it (tests/consultations/test_case_rows.py keeps the template and
# compares, both languages, revealed or masked, hostile text included).

_PROGRESS = (
    ("sent_at", gettext_lazy("发送")),
    ("accepted_at", gettext_lazy("受理")),
    ("scheduled_for", gettext_lazy("排期")),
    ("session_started_at", gettext_lazy("会诊")),
    ("signed_at", gettext_lazy("签发")),
    ("closed_at", gettext_lazy("结束")),
)


def _v(value) -> str:
    """``{{ value }}``: localized, in the viewer's time zone, escaped (``render_value_in_context``)."""
    if type(value) is str:
        return escape(value)
    return conditional_escape(localize(timezone.template_localtime(value)))


def _day(value) -> str:
    """``{{ value|date:"Y-m-d" }}`` of a date."""
    if value in (None, ""):
        return ""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


@register.simple_tag(takes_context=True)
def case_summary(context, c, revealed, may_reveal) -> str:
    """The case page's progress, patient (JL-C9 masking, art. 36) and what is asked."""
    from django.template.defaultfilters import linebreaks_filter, linebreaksbr
    from django.urls import reverse
    from django.utils.html import format_html

    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    patient = c.patient
    out = [
        f'\n<section class="card case-progress" id="progress" aria-label="{escape(_("办理进度"))}">\n  <ol class="progress">\n'
        f'    <li class="done">{escape(_("创建"))} <span class="muted small">{_minutes(zone, c.created_at)}</span></li>\n'
    ]
    for field, label in _PROGRESS:
        value = getattr(c, field)
        done = ' class="done"' if value else ""
        out.append(f'    <li{done}>{escape(str(label))} <span class="muted small">{_minutes(zone, value)}</span></li>\n')
    out.append(
        "  </ol>\n</section>\n"
        '<div class="grid-2">\n  <section class="card">\n'
        f'    <h2>{escape(_("患者"))}</h2>\n    <dl class="facts">\n'
        f'      <dt>{escape(_("姓名"))}</dt><dd>{_v(patient.name)}</dd>\n'
        f'      <dt>{escape(_("性别"))}</dt><dd>{_v(_display(patient, "sex"))}</dd>\n'
        f'      <dt>{escape(_("出生日期"))}</dt><dd>{_day(patient.birth_date)}</dd>\n      '
    )
    if revealed:
        id_number, phone = revealed["id_number"] or "—", revealed["phone"] or "—"
    else:
        id_number, phone = mask(patient.id_number) or "—", mask(patient.phone) or "—"
    out.append(
        f'\n        <dt>{escape(_("身份证件号码"))}</dt><dd class="mono" id="patient-id-number">{_v(id_number)}</dd>\n'
        f'        <dt>{escape(_("联系电话"))}</dt><dd class="mono" id="patient-phone">{_v(phone)}</dd>\n      '
        f'\n      <dt>{escape(_("病案号/门诊号"))}</dt><dd>{_v(patient.medical_record_number or "—")}</dd>\n      '
    )
    admission = c.admission
    if admission:
        confirmed = ""
        if admission.diagnosis_confirmed_at:
            confirmed = (f'<br>{escape(_("明确诊断"))}：{_v(admission.diagnosis)}'
                         f"（{_minutes(zone, admission.diagnosis_confirmed_at)}）")
        out.append(
            f'\n        <dt>{escape(_("住院"))}</dt>\n'
            f"        <dd>{_v(admission.inpatient_number)} {_v(admission.ward)} · {escape(_('入院'))} {_minutes(zone, admission.admitted_at)}\n"
            f"          {confirmed}</dd>\n      "
        )
    out.append("\n    </dl>\n    ")
    if revealed:
        out.append(f'\n      <p class="alert alert-warn small" role="status">'
                   f'{escape(_("完整号码仅在本次页面中显示，不会保存；本次查看已记入调阅记录（JL-C8、JL-C9 第三十六条）。"))}</p>\n    ')
    else:
        out.append(f'\n      <p class="muted small">{escape(_("证件号码和电话已脱敏显示（JL-C9 第三十六条）。"))}</p>\n      ')
        if may_reveal and (patient.id_number or patient.phone):
            token = context.get("csrf_token")  # as {% csrf_token %} renders it
            csrf = (format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
                    if token and token != "NOTPROVIDED" else "")  # noqa: S105 - Django's marker, no secret
            out.append(
                f'\n        <form method="post" action="{escape(reverse("consultations:patient-reveal", args=[c.pk]))}" class="form reveal-form">\n'
                f"          {csrf}\n"
                f'          <button type="submit" class="button button-small button-plain">{escape(_("显示完整号码"))}</button>\n'
                f'          <span class="muted small">{escape(_("仅限本院临床医师和远程医疗管理人员，每次查看均记入调阅记录"))}</span>\n'
                "        </form>\n      "
            )
        out.append("\n    ")
    service = c.service_type
    modality = f" · {_v(_display(c, 'modality'))}" if c.modality else ""
    if c.agreement_id:
        agreement = (f'<a href="{escape(reverse("facilities:agreement-detail", args=[c.agreement_id]))}">'
                     f'{_v(getattr(c, "agreement_number", ""))}</a>')
    else:
        agreement = f'<span class="muted">{escape(_("发送时确定"))}</span>'
    out.append(
        "\n  </section>\n  <section class=\"card\">\n"
        f'    <h2>{escape(_("邀请内容"))}</h2>\n    <dl class="facts">\n'
        f'      <dt>{escape(_("服务项目"))}</dt><dd>{_v(service.label)}（{_v(_display(service, "category"))}）{modality}</dd>\n'
        f'      <dt>{escape(_("所需专业"))}</dt><dd>{_v(_display(c, "wanted_scope"))}</dd>\n'
        f'      <dt>{escape(_("所需职称（最低）"))}</dt><dd>{_v(_display(c, "wanted_title"))}</dd>\n'
        f'      <dt>{escape(_("期望会诊时间"))}</dt><dd>{_minutes(zone, c.requested_time) or "—"}</dd>\n'
        f'      <dt>{escape(_("申请理由"))}</dt><dd>{linebreaksbr(c.reason, autoescape=True)}</dd>\n'
        f'      <dt>{escape(_("会诊目的"))}</dt><dd>{linebreaksbr(c.purpose, autoescape=True)}</dd>\n'
        f'      <dt>{escape(_("合作协议"))}</dt><dd>{agreement}</dd>\n'
        "    </dl>\n"
        f'    <h3 class="section-title">{escape(_("病例摘要"))}</h3>\n'
        f'    <div class="prose">{linebreaks_filter(c.case_summary, autoescape=True)}</div>\n'
        "  </section>\n</div>"
    )
    return mark_safe("".join(out))  # noqa: S308 - every value escaped above


# --- The case page's responsibility records and ratings (issue 11) ------------------------------
# Built as the loops of ``_case_responsibility.html`` made them, with the same escaping
# (tests/consultations/test_case_rows.py keeps the loops and compares, hostile text included).


@register.simple_tag
def responsibility_rows(records) -> str:
    """The ``<div>`` of each JL-C7 responsibility record of the case (``responsibilities``)."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    return mark_safe("".join(  # noqa: S308 - every value escaped
        f'\n      <div class="responsibility">\n'
        f'        <p class="small muted">{_minutes(zone, r.recorded_at)} · {escape(occasion_label(r.occasion))} · {_v(r.article)}</p>\n'
        f'        <dl class="facts">\n'
        f"          <dt>{_v(r.inviting_facility.name)}</dt><dd>{_v(r.inviting_answers_for)}</dd>\n"
        f"          <dt>{_v(r.invited_facility.name)}</dt><dd>{_v(r.invited_answers_for)}</dd>\n"
        f"        </dl>\n"
        f"      </div>\n    "
        for r in records
    ))


@register.simple_tag
def rating_rows(ratings) -> str:
    """The ``<p>`` of each JL-O5 rating of the case (``ratings``)."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    return mark_safe("".join(  # noqa: S308 - every value escaped
        f'\n      <p><strong>{_v(_display(r, "rater_kind"))}</strong> <span class="score" aria-label="{_v(r.score)}/5">{_v(r.score)} / 5</span>'
        f' <span class="muted small">{_minutes(zone, r.recorded_at)}</span><br>{_v(r.comment)}</p>\n    '
        for r in ratings
    ))


# --- The case page's opinions (issue 11) ---------------------------------------------------------
# Built as the loop of ``_case_opinion.html`` and ``_opinion_body.html`` (included for each version,
# its only use) made them, with the same escaping and the template's lookups on the JSON of a
# structured report (JL-C11): tests/consultations/test_case_opinions.py keeps both and compares.


def _seconds(zone, value) -> str:
    """``{{ value|date:"Y-m-d H:i:s" }}``: an aware time in the viewer's zone; "" for none."""
    if not value:
        return ""
    value = _in_zone(zone, value)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"


def _each(value):
    """``{% for x in value %}`` of a looked-up value: nothing when missing or null."""
    return () if value is _MISSING or value is None else value


def _opinion_body(opinion) -> str:
    """What ``_opinion_body.html`` made of one version: its structured sections (JL-C11) or its free text."""
    from django.template.defaultfilters import linebreaks_filter
    from django.urls import reverse

    structure = opinion.structure
    if structure:
        parts = ['\n  <div class="opinion-structured">\n    ']
        for section in _each(_key(structure, "sections")):
            text = _key(section, "text")
            if text is not _MISSING and text:
                parts.append(f'\n      <h4>{_shown(_key(section, "label"))}</h4>\n'
                             f'      <div class="prose">{linebreaks_filter(text, autoescape=True)}</div>\n    ')
        parts.append(f'\n    <h4>{escape(_("诊断"))}</h4>\n    <ol class="diagnosis-list">\n      ')
        parts.extend(f'<li>{_shown(_key(d, "text"))} <code class="icd-code">{_shown(_key(d, "code"))}</code></li>'
                     for d in _each(_key(structure, "diagnoses")))
        parts.append("\n    </ol>\n    ")
        recommendations = _key(structure, "recommendations")
        if recommendations is not _MISSING and recommendations:
            parts.append(f'\n      <h4>{escape(_("建议"))}</h4>\n'
                         f'      <div class="prose">{linebreaks_filter(recommendations, autoescape=True)}</div>\n    ')
        parts.append("\n  </div>\n")
        body = "".join(parts)
    else:
        body = f'\n  <div class="prose">{linebreaks_filter(opinion.content, autoescape=True)}</div>\n'
    href = escape(reverse("consultations:opinion-print", args=[opinion.consultation_id, opinion.pk]))
    return f'\n{body}\n<p class="small"><a href="{href}">{escape(_("打印版报告"))}</a></p>\n'


@register.simple_tag
def opinion_articles(opinions, latest) -> str:
    """The ``<article>`` of each version of the case's opinion or report (``opinions``, JL-C6); ``latest``
    is the current one, the others were corrected."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    current = f'<span class="badge badge-ok">{escape(_("现行版本"))}</span>'
    corrected = f'<span class="badge badge-none">{escape(_("已被更正"))}</span>'
    signer = escape(_("签发专家"))
    articles = []
    for o in opinions:
        is_latest = o == latest
        supersedes = ""
        if o.supersedes_id:
            supersedes = (f'<p class="small">{_("更正第 %(v)s 版") % {"v": _v(o.supersedes_version)}}：'
                          f"{_v(o.correction_reason)}</p>")
        transfer = ""
        if o.recommends_transfer:
            transfer = (f'<p class="alert alert-warn"><strong>{escape(_("建议转诊（JL-C10）"))}</strong>：'
                        f"{_v(o.transfer_reason)}</p>")
        sha = str(o.content_sha256)
        articles.append(
            f'\n    <article class="opinion{"" if is_latest else " opinion-superseded"}">\n'
            f"      <header>\n"
            f'        <h3>{_v(_display(o, "kind"))} · {_("第 %(v)s 版") % {"v": _v(o.version)}}\n'
            f"          {current if is_latest else corrected}</h3>\n"
            f'        <p class="muted small">{signer}：{_v(o.signed_by.name)}（{_v(_display(o.signed_by, "title"))}） · '
            f'{_seconds(zone, o.signed_at)} · <span class="mono" title="{escape(sha)}">SHA-256 {escape(sha[:16])}…</span></p>\n'
            f"        {supersedes}\n"
            f"      </header>\n"
            f"      {_opinion_body(o)}\n"
            f"      {transfer}\n"
            f"    </article>\n  "
        )
    return mark_safe("".join(articles))  # noqa: S308 - every value escaped above


# --- The case page's head (issue 11) -------------------------------------------------------------
# Built as ``_case_head.html`` (with ``_state_badge.html``) made it: number, state, parties and the
# alerts that stop or qualify work (tests/consultations/test_case_head.py keeps the template and
# compares, every alert, both languages, hostile text included).

_BREADCRUMBS = {
    "inviting": ("?side=inviting", gettext_lazy("远程会诊"), "\n    "),
    "invited": ("?side=invited", gettext_lazy("收件箱"), "\n    "),
}


def _state_badge(state, label) -> str:
    """``_state_badge.html``."""
    if state in ("signed", "closed"):
        colour = "badge-ok"
    elif state in ("sent", "returned"):
        colour = "badge-warn"
    elif state == "declined":
        colour = "badge-danger"
    elif state in ("draft", "cancelled"):
        colour = "badge-none"
    else:
        colour = "badge-info"
    return f'<span class="badge {colour}">{_v(label)}</span>\n'


@register.simple_tag
def case_head(c, viewer_side, seal) -> str:
    """The case page's head: breadcrumb, number, state, urgency, service, the two parties; the seal
    (JL-C8), suspension (JL-F5), duty gap (JL-F4) and the returned/declined/cancelled alerts."""
    from django.template.defaultfilters import linebreaksbr
    from django.urls import reverse

    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    side, crumb, after = _BREADCRUMBS.get(viewer_side, ("", gettext_lazy("远程医疗申请"), ""))
    urgency = ""
    if c.urgency != "routine":
        colour = "badge-danger" if c.urgency == "emergency" else "badge-warn"
        urgency = f'<span class="badge {colour}">{_v(_display(c, "urgency"))}</span>'
    modality = f" · {_v(_display(c, 'modality'))}" if c.modality else ""
    out = [
        '\n<div class="page-head">\n  <p class="breadcrumb">\n    '
        f'<a href="{escape(reverse("consultations:list"))}{side}">{escape(str(crumb))}</a>{after} /\n  </p>\n'
        f'  <h1><span class="mono">{_v(c.number)}</span>\n'
        f'    {_state_badge(c.state, _display(c, "state"))}\n'
        f"    {urgency}\n"
        f'    <span class="subtitle">{_v(c.service_type.label)}{modality}</span>\n'
        "  </h1>\n"
        f'  <p class="lead">{_v(c.inviting.name)} <span aria-hidden="true">→</span><span class="visually-hidden">'
        f'{escape(_("邀请"))}</span> {_v(c.invited.name)}</p>\n'
        "</div>\n\n"
    ]
    if seal:
        out.append(
            '\n  <div class="alert alert-error sealed-banner" role="alert">\n'
            f'    <p class="alert-title"><span class="badge badge-danger">{escape(_("已封存 · 只读"))}</span> '
            f'{escape(_("JL-C8 第三十七条：该病历已封存，封存期间只读"))}</p>\n'
            f"    <p>{_minutes(zone, seal.sealed_at)} · {_v(seal.reason)}</p>\n"
            f'    <p class="small">{escape(_("封存期间不能办理任何操作；您的每次查看和下载均连同所述目的记入调阅记录。"))}</p>\n'
            "  </div>\n"
        )
    out.append("\n")
    if c.inviting_suspended or c.invited_suspended:
        inviting = _("邀请方 %(name)s 已暂停远程医疗服务。") % {"name": _v(c.inviting.name)} if c.inviting_suspended else ""
        invited = _("受邀方 %(name)s 已暂停远程医疗服务。") % {"name": _v(c.invited.name)} if c.invited_suspended else ""
        out.append(
            '\n  <div class="alert alert-error" role="alert">\n'
            f'    <p class="alert-title">{escape(_("JL-F5 第三十四条：暂停期间不得继续开展远程医疗服务（仅可取消）"))}</p>\n'
            f"    <p>{inviting}\n       {invited}</p>\n"
            "  </div>\n"
        )
    out.append("\n")
    if c.duty_gap_flag:
        out.append(f'\n  <div class="alert alert-warn"><p class="alert-title">'
                   f'{escape(_("JL-F4 第二十四条：申请到达时受邀方无该专业的值班人员，请尽快安排。"))}</p></div>\n')
    out.append("\n")
    if c.state == "returned" and c.return_reason:
        out.append(f'\n  <div class="alert alert-warn"><p class="alert-title">{escape(_("受邀方退回补充资料（JL-C5）"))}</p>'
                   f"<p>{linebreaksbr(c.return_reason, autoescape=True)}</p></div>\n")
    elif c.state == "declined":
        out.append(f'\n  <div class="alert alert-error"><p class="alert-title">{escape(_("受邀方已拒绝（JL-C4）"))}</p>'
                   f"<p>{linebreaksbr(c.decline_reason, autoescape=True)}</p></div>\n")
    elif c.state == "cancelled":
        out.append(f'\n  <div class="alert alert-warn"><p class="alert-title">{escape(_("申请已取消"))}</p>'
                   f"<p>{linebreaksbr(c.cancel_reason, autoescape=True)}</p></div>\n")
    out.append("\n")
    return mark_safe("".join(out))  # noqa: S308 - every value escaped above


@register.simple_tag
def consent_facts(consent, consultation_pk) -> str:
    """The current JL-C3 consent's facts (``_case_people.html``): signer, time, signed copy, electronic
    signature, the separate consent to sensitive information (PIPL art. 29), version."""
    from django.urls import reverse

    zone = timezone.get_current_timezone() if settings.USE_TZ else None
    if consent.signed_copy:
        sha = str(consent.signed_copy_sha256)
        copy = (f'<a href="{escape(reverse("consultations:consent-download", args=[consultation_pk]))}">{escape(_("下载"))}</a> '
                f'<span class="mono small" title="{escape(sha)}">SHA-256 {escape(sha[:12])}…</span>')
    else:
        copy = "—"
    if consent.sensitive_info_consent:
        sensitive = (f'<span class="badge badge-ok">{escape(_("已同意"))}</span> '
                     f'<span class="muted small">{_minutes(zone, consent.sensitive_info_consented_at)}</span>')
    else:
        sensitive = f'<span class="badge badge-danger">{escape(_("未取得"))}</span>'
    version_text = _("第 %(n)s 版") % {"n": _v(consent.version)}  # outside the f-string, for makemessages
    return mark_safe(  # noqa: S308 - every value escaped
        '<dl class="facts">\n'
        f'        <dt>{escape(_("签署人"))}</dt><dd>{_v(consent.signer_name)}（{_v(_display(consent, "relation"))}）</dd>\n'
        f'        <dt>{escape(_("签署时间"))}</dt><dd>{_minutes(zone, consent.signed_at)}</dd>\n'
        f'        <dt>{escape(_("签署件"))}</dt>\n'
        f"        <dd>{copy}</dd>\n"
        f'        <dt>{escape(_("电子签名凭证"))}</dt><dd>{_v(consent.e_signature_reference or "—")}</dd>\n'
        f'        <dt>{escape(_("敏感个人信息单独同意"))}</dt>\n'
        f"        <dd>{sensitive}</dd>\n"
        f'        <dt>{escape(_("版本"))}</dt><dd>{version_text}</dd>\n'
        "      </dl>"
    )
