"""Partner API of the yearly evaluation (JL-O3, art. 45–47). Thin: validate, call
``facilities.evaluation``, render. Scoped like the pages (JL-O1): a round or result outside the
caller's scope is a 404; refusals carry the services' stable codes (``evaluation_*``)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from telemed.api import DivisionCodeField, ScopedViewSetMixin, run_service
from telemed.scope import Scope

from .. import evaluation as ev
from .. import evaluation_rules as rules
from ..choices import EvaluationGrade
from ..models import Division, EvaluationFormula, EvaluationResult, EvaluationRound


class EvaluationFormulaSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvaluationFormula
        fields = ["id", "version", "weights", "thresholds", "document_number", "published_by", "published_at"]
        read_only_fields = fields


def _every_key(keys, value_schema: dict) -> dict:
    """Issue 14: a JL-O3 formula names every part (every threshold) and nothing else; the schema says so,
    so a body that leaves one out is schema-invalid, as the service refuses it (evaluation_formula_invalid).
    What no schema can state (weights adding up to 100, pass below excellent) stays the rule's refusal."""
    return {"type": "object", "properties": {key: value_schema for key in keys}, "required": list(keys),
            "additionalProperties": False}


@extend_schema_field(_every_key(rules.PARTS, {"type": "integer", "minimum": 0, "maximum": 100}))
class FormulaWeightsField(serializers.DictField):
    """JL-O3 (art. 45): a whole-number weight for every part of the score."""


@extend_schema_field(_every_key(rules.THRESHOLDS, {"type": "string", "format": "decimal", "pattern": r"^([0-9]{1,7}(\.[0-9]?)?|\.[0-9])$"}))
class FormulaThresholdsField(serializers.DictField):
    """JL-O3 (art. 47): every threshold, a decimal ≥ 0 with at most one decimal place."""


class EvaluationFormulaPublishSerializer(serializers.Serializer):
    weights = FormulaWeightsField(child=serializers.IntegerField(min_value=0, max_value=100),
                                  help_text="每个指标的权重（整数，合计 100）：" + "、".join(rules.PARTS))
    thresholds = FormulaThresholdsField(child=serializers.DecimalField(max_digits=8, decimal_places=1, min_value=0),
                                        help_text="标准：" + "、".join(rules.THRESHOLDS))
    document_number = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


class EvaluationResultSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    division = serializers.CharField(source="facility.division_id", read_only=True)
    grade_label = serializers.CharField(source="get_grade_display", read_only=True)
    provisional_grade_label = serializers.CharField(source="get_provisional_grade_display", read_only=True)
    published = serializers.BooleanField(source="round.published", read_only=True)

    class Meta:
        model = EvaluationResult
        fields = [
            "id", "round", "year", "facility", "facility_name", "division", "inputs", "parts", "score", "provisional_grade",
            "provisional_grade_label", "grade", "grade_label", "adjusted_at", "adjust_reason", "previous_grade",
            "accountability", "principal_name", "principal_barred", "published",
        ]
        read_only_fields = fields


class EvaluationRoundSerializer(serializers.ModelSerializer):
    formula_version = serializers.IntegerField(source="formula.version", read_only=True)
    results = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationRound
        fields = ["id", "year", "division", "formula", "formula_version", "started_at", "published_at", "results"]
        read_only_fields = fields

    @extend_schema_field(EvaluationResultSerializer(many=True))
    def get_results(self, obj) -> list[dict]:
        """The results in the caller's scope (JL-O1); left out of the list of rounds."""
        view = self.context.get("view")
        if view is None or view.action == "list":
            return []
        return EvaluationResultSerializer(ev.round_results(user=self.context["request"].user, round_=obj), many=True).data


class EvaluationStartSerializer(serializers.Serializer):
    # Issue 14: a code not on the register is a missing reference (404 not_found), as a missing id is.
    division = DivisionCodeField(queryset=Division.objects.all(), help_text="评价部门所在区划代码（省 220000 或市州）")
    year = serializers.IntegerField(min_value=2000, max_value=2999)


class EvaluationAdjustSerializer(serializers.Serializer):
    grade = serializers.ChoiceField(choices=EvaluationGrade.choices)
    reason = serializers.CharField(max_length=2000, allow_blank=True)


class EvaluationResultFilter(django_filters.FilterSet):
    round = django_filters.NumberFilter(field_name="round")
    facility = django_filters.NumberFilter(field_name="facility")
    year = django_filters.NumberFilter(field_name="year")

    class Meta:
        model = EvaluationResult
        fields = ["round", "facility", "year"]


@extend_schema_view(create=extend_schema(request=EvaluationFormulaPublishSerializer, responses={201: EvaluationFormulaSerializer},
                                         description="JL-O3 (art. 45): the province publishes a new version of weights and thresholds."))
class EvaluationFormulaViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """年度评价考核办法 (JL-O3): the versions, newest first; regulators only."""

    queryset = EvaluationFormula.objects.order_by("-version")
    serializer_class = EvaluationFormulaSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return super().get_queryset() if Scope.of(self.request.user).is_regulator else EvaluationFormula.objects.none()

    def create(self, request):
        data = EvaluationFormulaPublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        formula = run_service(ev.evaluation_formula_publish, request=request, weights=dict(values["weights"]),
                              thresholds=dict(values["thresholds"]), document_number=values["document_number"])
        return Response(self.get_serializer(formula).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    create=extend_schema(request=EvaluationStartSerializer, responses={201: EvaluationRoundSerializer},
                         description="JL-O3 (art. 45–47): start a year's evaluation: the provisional grades, computed in one batch."),
    publish=extend_schema(request=None, responses=EvaluationRoundSerializer,
                          description="JL-O3 (art. 47): publish the year's results, once."),
)
class EvaluationRoundViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, viewsets.GenericViewSet):
    """年度评价考核 (JL-O3): a division's year; its detail lists the results in the caller's scope."""

    queryset = EvaluationRound.objects.select_related("formula", "division").order_by("-year", "division_id")
    serializer_class = EvaluationRoundSerializer
    permission_classes = [IsAuthenticated]

    def create(self, request):
        data = EvaluationStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = run_service(ev.evaluation_start, request=request, **data.validated_data)
        return Response(self.get_serializer(round_).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        round_ = run_service(ev.evaluation_publish, request=request, round_=self.get_object())
        return Response(self.get_serializer(round_).data)


@extend_schema_view(adjust=extend_schema(request=EvaluationAdjustSerializer, responses=EvaluationResultSerializer,
                                         description="JL-O3 (art. 47): change a grade before publication, with a reason."))
class EvaluationResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, viewsets.GenericViewSet):
    """年度评价考核结果 (JL-O3): a facility's year; its own staff see it once published."""

    queryset = EvaluationResult.objects.select_related("facility", "round").order_by("-year", "facility_id")
    serializer_class = EvaluationResultSerializer
    filterset_class = EvaluationResultFilter
    permission_classes = [IsAuthenticated]

    @action(detail=True, methods=["post"])
    def adjust(self, request, pk=None):
        result = self.get_object()  # out of scope: 404 before the body is looked at (JL-O1)
        data = EvaluationAdjustSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_service(ev.evaluation_adjust, request=request, result=result, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=result.pk)).data)
