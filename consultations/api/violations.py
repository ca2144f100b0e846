"""Partner API for the violations register (JL-C2, art. 22; issue 14): ``/api/v1/violations/``.

A thin layer over ``selectors.violation_list`` — the same rows as the page ``consultations:violation-list``:
regulators see their division's violations (JL-O1), staff their own facilities'; another facility's
violation is a 404. A violation names its patient, so a list or a read is logged as the page's is
(JL-C8: ``record.list`` / ``record.view``). Read-only: violations are recorded by the deadline sweep.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers

from audit.records import record_access

from .. import selectors
from ..models import Violation
from .views import AccessLoggedReadsMixin, ClinicalViewSet


class ViolationSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    division = serializers.CharField(source="facility.division_id", read_only=True)
    patient = serializers.IntegerField(source="obligation.patient_id", read_only=True)
    patient_name = serializers.CharField(source="obligation.patient.name", read_only=True)
    trigger = serializers.CharField(source="obligation.trigger", read_only=True)
    text = serializers.CharField(read_only=True, help_text="情况说明（按读者语言生成）")

    class Meta:
        model = Violation
        fields = ["id", "facility", "facility_name", "division", "obligation", "patient", "patient_name", "trigger",
                  "rule", "due_at", "recorded_at", "text"]
        read_only_fields = fields


NOT_FOUND = OpenApiResponse(description="not_found: 不存在或不在您的范围内（JL-O1）")
UNAUTHENTICATED = OpenApiResponse(description="not_authenticated: 未登录或令牌无效")


@extend_schema_view(
    list=extend_schema(
        description="JL-C2 违规记录（超时未上传）：卫生健康行政部门看辖区（JL-O1），机构看本机构；截止时间最新的在前。"
                    "JL-C8: 列表记入调阅日志。",
        responses={200: ViolationSerializer(many=True), 401: UNAUTHENTICATED},
    ),
    retrieve=extend_schema(responses={200: ViolationSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND}),
)
class ViolationViewSet(AccessLoggedReadsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ClinicalViewSet):
    """违规记录 (JL-C2)."""

    access_what = "consultations.violation"
    serializer_class = ViolationSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Violation.objects.none()
        return selectors.violation_list(user=self.request.user)

    def get_object(self) -> Violation:
        try:
            violation = self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except Violation.DoesNotExist:
            raise exceptions.NotFound() from None
        self.check_object_permissions(self.request, violation)
        return violation

    def log_view(self, request, obj) -> None:
        record_access(
            actor=request.user, action="view", patient=obj.obligation.patient, purpose=request.query_params.get("purpose", ""),
            object_type=self.access_what, object_id=obj.pk,
        )
