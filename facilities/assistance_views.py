"""The credited assistance time report (JL-O4, art. 46.4): a page, its Excel export and the API."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from telemed.errors import ApplicationError
from telemed.pages import submit
from telemed.scope import Scope

from . import assistance, rules, services
from .choices import ServiceCategory, StaffRole
from .models import Facility, ServiceType

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIRST_YEAR = 2018  # the measures took effect in 2018
LAST_YEAR = 2099  # issue 14: a fixed bound the schema can state; a year not yet begun simply has no work


def _query(request) -> tuple[int, int | None]:
    """The year (this Beijing year by default) and the facility filter, both checked."""
    this_year = timezone.localdate().year
    raw_year, raw_facility = request.GET.get("year", "").strip(), request.GET.get("facility", "").strip()
    if raw_year and not (raw_year.isdigit() and FIRST_YEAR <= int(raw_year) <= LAST_YEAR):
        raise ApplicationError("year_invalid", _("JL-O4: 年度须为 %(first)s 至 %(last)s 之间的整数。") % {"first": FIRST_YEAR, "last": LAST_YEAR})
    if raw_facility and not (raw_facility.isdigit() and int(raw_facility) < 2**63):
        raise ApplicationError("facility_invalid", _("机构须以编号指定。"))
    return (int(raw_year) if raw_year else this_year), (int(raw_facility) if raw_facility else None)


@login_required
def assistance_report(request):
    """Regulators see their division's facilities, administrators their facility's physicians, every
    physician their own line (JL-O1)."""
    try:
        year, facility_id = _query(request)
    except ApplicationError as error:
        return render(request, "facilities/assistance.html", {"error": error.message, "years": []}, status=400)
    lines = assistance.assistance_credit(user=request.user, year=year, facility_id=facility_id)
    if request.GET.get("format") == "xlsx":
        assistance.export_record(actor=request.user, year=year, facility_id=facility_id, lines=len(lines))
        response = HttpResponse(assistance.lines_xlsx(lines, year=year), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="assistance-{year}{"-" + str(facility_id) if facility_id else ""}.xlsx"'
        return response
    scope = Scope.of(request.user)
    facilities = (
        Facility.objects.visible_to(request.user).only("pk", "name").order_by("name")
        if scope.is_regulator else Facility.objects.filter(pk__in=scope.facilities_with_role(StaffRole.FACILITY_ADMIN)).order_by("name")
    )
    context = {
        "lines": lines,
        "year": year,
        "facility_id": facility_id,
        "years": list(range(timezone.localdate().year, FIRST_YEAR - 1, -1)),
        "facilities": facilities,
        "percent": rules.ASSISTANCE_CREDIT_PERCENT,
        "totals": {
            "work": sum(e.work_minutes for e in lines),
            "credited": sum(e.credited_minutes for e in lines),
        },
    }
    return render(request, "facilities/assistance.html", context)


class CreditLineSerializer(serializers.Serializer):
    physician = serializers.IntegerField(source="physician_id")
    physician_name = serializers.CharField()
    facility = serializers.IntegerField(source="facility_id")
    facility_name = serializers.CharField()
    sessions = serializers.IntegerField(help_text="会诊类服务次数")
    session_minutes = serializers.IntegerField(help_text="会诊时长（会诊开始至意见签发，分钟）")
    reports = serializers.IntegerField(help_text="签发的诊断报告份数")
    report_minutes = serializers.IntegerField(help_text="诊断报告按省定标准时长计入的分钟数")
    unpriced_reports = serializers.IntegerField(help_text="所属项目尚未设定标准时长的报告份数")
    work_minutes = serializers.IntegerField()
    eligible = serializers.BooleanField(help_text="JL-O4：县级以上公立医疗机构")
    reason = serializers.CharField()
    credited_minutes = serializers.IntegerField(help_text="按 25% 计入对口帮扶驻点时间的分钟数")


class AssistanceCreditSerializer(serializers.Serializer):
    """Issue 14: the answer as it is sent — the year, the credited percentage and the lines."""

    year = serializers.IntegerField()
    percent = serializers.IntegerField(help_text="计入对口帮扶驻点时间的比例（%）")
    results = CreditLineSerializer(many=True)


class AssistanceCreditView(APIView):
    """JL-O4 (art. 46.4): telemedicine work credited at 25 % toward on-site assistance time, per physician."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("year", {"type": "integer", "minimum": FIRST_YEAR, "maximum": LAST_YEAR},
                             description="北京时间年度（默认今年）；超出范围为 400 year_invalid"),
            OpenApiParameter("facility", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                             description="只看一个机构；非整数为 400 facility_invalid"),
        ],
        responses=AssistanceCreditSerializer,
    )
    def get(self, request):
        year, facility_id = _query(request)
        lines = assistance.assistance_credit(user=request.user, year=year, facility_id=facility_id)
        return Response({"year": year, "percent": rules.ASSISTANCE_CREDIT_PERCENT,
                         "results": CreditLineSerializer(lines, many=True).data})


class StandardForm(forms.Form):
    report_standard_minutes = forms.IntegerField(
        label=gettext_lazy("每份报告标准时长（分钟）"), required=False, min_value=1, max_value=rules.REPORT_STANDARD_MAX_MINUTES,
        help_text=gettext_lazy("留空表示尚未设定：该项目的报告暂不计入"),
    )


@login_required
@require_http_methods(["GET", "POST"])
def service_type_standard(request, code: str):
    """JL-O4 (art. 46.4): the provincial regulator sets a diagnosis type's standard time per report."""
    if not Scope.of(request.user).is_provincial_regulator:
        raise PermissionDenied(_("JL-O4 第四十六条第四项: 只有省卫生健康委可以设定报告标准时长。"))
    service_type = get_object_or_404(ServiceType, code=code, category=ServiceCategory.DIAGNOSIS)
    form = StandardForm(request.POST or None, initial={"report_standard_minutes": service_type.report_standard_minutes})
    done = submit(form, lambda report_standard_minutes: services.service_type_standard_set(
        actor=request.user, service_type=service_type, minutes=report_standard_minutes))
    if done is not None:
        messages.success(request, _("已设定“%(name)s”的报告标准时长。") % {"name": service_type.name})
        return redirect("facilities:service-type-list")
    return render(request, "facilities/service_type_standard.html", {"form": form, "service_type": service_type},
                  status=400 if form.is_bound else 200)
