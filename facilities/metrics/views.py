"""The regulators' dashboard and the facility scorecard (pages). No patient data: figures only."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from telemed.errors import ApplicationError
from telemed.scope import Scope

from ..choices import StaffRole
from ..models import Division, Facility, ServiceType
from . import tables
from .figures import Subject, report
from .periods import parse_period


def division_for(user, code: str) -> Division:
    """A division the user may see the figures of (JL-O1): their own or one below it; else 404."""
    scope = Scope.of(user)
    division = Division.objects.filter(code=code).first()
    if division is None or not (scope.is_operator or (scope.is_regulator and scope.regulates(code))):
        raise Http404
    return division


def facility_for(user, pk: int) -> Facility:
    """A facility's scorecard: its administrators and its regulators (JL-O1); others in scope 403."""
    facility = get_object_or_404(Facility.objects.visible_to(user), pk=pk)
    scope = Scope.of(user)
    if scope.is_operator or (scope.is_regulator and scope.regulates(facility.division_id)):
        return facility
    if scope.has_role(facility.pk, StaffRole.FACILITY_ADMIN):
        return facility
    if scope.has_role(facility.pk, *StaffRole.values):
        raise PermissionDenied(_("机构统计仅供本机构管理员和监管部门查看。"))
    raise Http404


def names_for(result) -> dict:
    """Names of the service types, sub-divisions and facilities shown (three queries, always)."""
    names: dict = dict(ServiceType.objects.values_list("code", "name"))
    names.update(Division.objects.filter(code__in=list(result.by_child)).values_list("code", "name"))
    names.update(Facility.objects.filter(pk__in=list(result.by_facility)).values_list("pk", "name"))
    return names


PERIOD_CHOICES = (("month", _lazy("月")), ("quarter", _lazy("季度")), ("year", _lazy("年")), ("custom", _lazy("自定义")))


def _page(request, subject: Subject, title: str, template_context: dict):
    template_context = {"period_choices": PERIOD_CHOICES, **template_context}
    try:
        period = parse_period(request.GET, today=timezone.localdate())
    except ApplicationError as error:
        return render(request, "facilities/metrics.html", {"title": title, "error": error.message, **template_context}, status=400)
    result = report(subject, period)
    return render(request, "facilities/metrics.html", {
        "title": title, "period": period, "previous": period.previous(), "last_year": period.last_year(),
        "tables": tables.build(result, names=names_for(result)), **template_context,
    })


@login_required
def dashboard(request):
    """The regulator's own division's dashboard (the first one, for a regulator of several)."""
    scope = Scope.of(request.user)
    if scope.is_regulator:
        return redirect("facilities:metrics-division", scope.regulated[0][0])
    if scope.is_operator:
        return redirect("facilities:metrics-division", "220000")
    raise Http404


@login_required
def division_dashboard(request, code: str):
    division = division_for(request.user, code)
    parent = None
    if division.level != "province":
        parent_code = division.code[:2] + "0000" if division.level == "city" else division.code[:4] + "00"
        if Scope.of(request.user).is_operator or Scope.of(request.user).regulates(parent_code):
            parent = Division.objects.filter(code=parent_code).first()
    return _page(request, Subject.of_division(division), _("%(d)s 远程医疗监管统计") % {"d": division.name},
                 {"division": division, "parent": parent})


@login_required
def facility_scorecard(request, pk: int):
    facility = facility_for(request.user, pk)
    return _page(request, Subject.of_facility(facility), _("%(f)s 远程医疗统计") % {"f": facility.name}, {"facility": facility})
