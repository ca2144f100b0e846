"""The metrics endpoint: the dashboard's numbers for a division or a facility, over the API.

The same ``figures.report`` as the pages, unformatted: counts, fen, seconds, percentages. Scoped
like the pages (JL-O1): another division or facility is a 404. Bad periods are ``period_invalid``.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .definitions import FIGURES
from .figures import Subject, report
from .periods import parse_period, refuse_malformed_dates
from .views import division_for, facility_for

PERIOD_PARAMETERS = [
    OpenApiParameter("period", OpenApiTypes.STR, enum=["month", "quarter", "year", "custom"], description="统计周期，默认 month"),
    OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM（period=month），默认本月"),
    OpenApiParameter("quarter", OpenApiTypes.STR, description="YYYY-Qn（period=quarter）"),
    OpenApiParameter("year", OpenApiTypes.STR, description="YYYY（period=year）"),
    OpenApiParameter("start", OpenApiTypes.DATE, description="自定义周期开始日（北京时间）"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="自定义周期结束日（含）"),
]


class MetricsPeriodSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()


class MetricsReportSerializer(serializers.Serializer):
    """Keys of every figures object are those of docs/metrics.md; money in fen, durations in seconds."""

    division = serializers.CharField(allow_blank=True)
    facility = serializers.IntegerField(allow_null=True)
    period = MetricsPeriodSerializer()
    previous_period = MetricsPeriodSerializer()
    last_year_period = MetricsPeriodSerializer()
    current = serializers.DictField()
    previous = serializers.DictField()
    last_year = serializers.DictField()
    snapshot = serializers.DictField(child=serializers.IntegerField())
    previous_snapshot = serializers.DictField(child=serializers.IntegerField())
    last_year_snapshot = serializers.DictField(child=serializers.IntegerField())
    by_service_type = serializers.DictField(child=serializers.DictField())
    sub_divisions = serializers.DictField(child=serializers.DictField())
    facilities = serializers.DictField(child=serializers.DictField())
    trends = serializers.ListField(child=serializers.DictField())
    definitions = serializers.DictField(child=serializers.DictField())


def _period(p):
    return {"kind": p.kind, "label": p.label, "start": p.start, "end": p.end}


def render_report(result) -> dict:
    period = result.period
    return {
        "division": result.subject.division_code,
        "facility": result.subject.facility_id,
        "period": _period(period),
        "previous_period": _period(period.previous()),
        "last_year_period": _period(period.last_year()),
        "current": result.current,
        "previous": result.previous,
        "last_year": result.last_year,
        "snapshot": result.snapshot,
        "previous_snapshot": result.previous_snapshot,
        "last_year_snapshot": result.last_year_snapshot,
        "by_service_type": result.by_service,
        "sub_divisions": result.by_child,
        "facilities": {str(k): v for k, v in result.by_facility.items()},
        "trends": [{"month": label, **values} for label, values in result.trends],
        "definitions": {
            key: {"label": str(f.label), "rule": f.rule, "definition": str(f.definition), "timestamp": f.timestamp, "unit": f.unit}
            for key, f in FIGURES.items()
        },
    }


class _MetricsView(APIView):
    permission_classes = [IsAuthenticated]

    def respond(self, request, subject: Subject):
        refuse_malformed_dates(request.query_params)
        period = parse_period(request.query_params, today=timezone.localdate())
        return Response(MetricsReportSerializer(render_report(report(subject, period))).data)


@extend_schema(tags=["metrics"], parameters=PERIOD_PARAMETERS, responses=MetricsReportSerializer,
               summary="行政区划监管统计（JL-O1：本级及下级）")
class DivisionMetricsView(_MetricsView):
    def get(self, request, code: str):
        return self.respond(request, Subject.of_division(division_for(request.user, code)))


@extend_schema(tags=["metrics"], parameters=PERIOD_PARAMETERS, responses=MetricsReportSerializer,
               summary="机构统计（本机构管理员及其监管部门）")
class FacilityMetricsView(_MetricsView):
    def get(self, request, pk: int):
        return self.respond(request, Subject.of_facility(facility_for(request.user, pk)))
