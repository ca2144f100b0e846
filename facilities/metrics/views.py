"""The regulators' dashboard and the facility scorecard (pages). No patient data: figures only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telemed.errors import ApplicationError
from telemed.scope import Scope

from ..choices import StaffRole
from ..models import Division, Facility, ServiceType
from . import exports, tables
from .definitions import FIGURES
from .figures import Subject, report
from .periods import parse_period
from .services import metrics_export_record

# The figures drawn as 12-month charts (each also in the trend table).
CHARTED = ("sent", "completed", "compliance_percent", "response_median")


def division_for(user, code: str) -> Division:
    """A division the user may see the figures of (JL-O1): their own or one below it; else 404."""
    scope = Scope.of(user)
    division = Division.objects.filter(code=code).first()
    if division is None or not (scope.is_regulator and scope.regulates(code)):
        raise Http404
    return division


def facility_for(user, pk: int) -> Facility:
    """A facility's scorecard: its administrators and its regulators (JL-O1); others in scope 403."""
    facility = get_object_or_404(Facility.objects.visible_to(user), pk=pk)
    scope = Scope.of(user)
    if scope.is_regulator and scope.regulates(facility.division_id):
        return facility
    if scope.has_role(facility.pk, StaffRole.FACILITY_ADMIN):
        return facility
    if scope.has_role(facility.pk, *StaffRole.values):
        raise PermissionDenied(_("机构统计仅供本机构管理员和监管部门查看。"))
    raise Http404


def names_for(result) -> dict:
    """Names of the service types, sub-divisions and facilities shown: two queries, the facilities'
    names coming with a ranked report (``report(..., ranked=True)``), or a third otherwise."""
    names: dict = dict(ServiceType.objects.values_list("code", "name"))
    names.update(Division.objects.filter(code__in=list(result.by_child)).values_list("code", "name"))
    if result.ranked is not None:
        names.update(result.names)
    else:
        names.update(Facility.objects.filter(pk__in=list(result.by_facility)).values_list("pk", "name"))
    return names


PERIOD_CHOICES = (("month", gettext_lazy("月")), ("quarter", gettext_lazy("季度")), ("year", gettext_lazy("年")), ("custom", gettext_lazy("自定义")))


def _page(request, subject: Subject, title: str, template_context: dict, export_url: str):
    template_context = {"period_choices": PERIOD_CHOICES, **template_context}
    try:
        period = parse_period(request.GET, today=timezone.localdate())
    except ApplicationError as error:
        return render(request, "facilities/metrics.html", {"title": title, "error": error.message, **template_context}, status=400)
    result = report(subject, period, ranked=True)  # only the facilities the rankings show (docs/performance.md)
    built = tables.build(result, names=names_for(result))
    query = urlencode(period.query())
    for table in built:
        table.export_url = f"{export_url}?{query}&{urlencode({'table': table.key})}"
    return render(request, "facilities/metrics.html", {
        "title": title, "period": period, "previous": period.previous(), "last_year": period.last_year(),
        "tables": built, "charts": _charts(result), **template_context,
    })


def _charts(result) -> dict:
    """The 12-month trends for the static chart script (a JSON island; the tables stay the accessible form)."""
    return {
        "months": [label for label, _values in result.trends],
        "series": [
            {"key": key, "label": str(FIGURES[key].label), "rule": FIGURES[key].rule, "unit": FIGURES[key].unit,
             "values": [values[key] for _label, values in result.trends]}
            for key in CHARTED
        ],
    }


def _export(request, subject: Subject, title: str):
    """One table of the page as Excel, for the same period; on record."""
    period = parse_period(request.GET, today=timezone.localdate())
    result = report(subject, period, ranked=True)
    wanted = request.GET.get("table", "")
    table = next((t for t in tables.build(result, names=names_for(result)) if t.key == wanted), None)
    if table is None:
        raise ApplicationError("table_invalid", _("没有名为“%(t)s”的统计表。") % {"t": wanted[:40]})
    metrics_export_record(actor=request.user, subject=subject, period=period, table=table.key)
    body = exports.table_xlsx(table, title=title, period_text=_("统计周期：%(p)s（%(s)s 至 %(e)s，北京时间）") % {
        "p": period.label, "s": period.start, "e": period.end})
    response = HttpResponse(body, content_type=exports.CONTENT_TYPE)
    name = f"metrics-{subject.division_code or subject.facility_id}-{period.label.replace(' ', '')}-{table.key}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _export_or_400(request, subject: Subject, title: str):
    try:
        return _export(request, subject, title)
    except ApplicationError as error:
        return render(request, "facilities/metrics.html", {"title": title, "error": error.message, "period_choices": PERIOD_CHOICES}, status=400)


@login_required
def dashboard(request):
    """The regulator's own division's dashboard (the first one, for a regulator of several)."""
    scope = Scope.of(request.user)
    if scope.is_regulator:
        return redirect("facilities:metrics-division", scope.regulated[0][0])
    raise Http404


@login_required
def division_dashboard(request, code: str):
    division = division_for(request.user, code)
    parent = None
    if division.level != "province":
        parent_code = division.code[:2] + "0000" if division.level == "city" else division.code[:4] + "00"
        if Scope.of(request.user).regulates(parent_code):
            parent = Division.objects.filter(code=parent_code).first()
    return _page(request, Subject.of_division(division), _("%(d)s 远程医疗监管统计") % {"d": division.name},
                 {"division": division, "parent": parent}, reverse("facilities:metrics-division-export", args=[division.code]))


@login_required
def facility_scorecard(request, pk: int):
    facility = facility_for(request.user, pk)
    return _page(request, Subject.of_facility(facility), _("%(f)s 远程医疗统计") % {"f": facility.name}, {"facility": facility},
                 reverse("facilities:metrics-facility-export", args=[facility.pk]))


@login_required
def division_export(request, code: str):
    division = division_for(request.user, code)
    return _export_or_400(request, Subject.of_division(division), _("%(d)s 远程医疗监管统计") % {"d": division.name})


@login_required
def facility_export(request, pk: int):
    facility = facility_for(request.user, pk)
    return _export_or_400(request, Subject.of_facility(facility), _("%(f)s 远程医疗统计") % {"f": facility.name})
