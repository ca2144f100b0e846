"""Partner API of random inspections (双随机一公开) and credit records (JL-O6). Thin: validate, call
``audit.inspections``, render. Rows are scoped by the models' ``visible_to`` (JL-O1: regulators over
the plan's division; the inspectors named; the inspected facility) and, for credit, by
``inspection_selectors.credit_facilities``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from facilities.choices import FacilityKind, FacilityLevel
from facilities.models import Division, Facility
from telemed.api import (
    DivisionCodeField,
    ScopedViewSetMixin,
    VersionedResourceMixin,
    run_service,
    visible_text,
)

from .. import credit, credit_rules, inspection_rules, inspections
from .. import inspection_selectors as selectors
from ..choices import FindingSeverity, InspectionResultState
from ..inspection_models import InspectionPlan, InspectionResult, Inspector


class InspectorSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    user = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.filter(is_active=True))
    division = DivisionCodeField(queryset=Division.objects.all())
    workplace = serializers.PrimaryKeyRelatedField(queryset=Facility.objects.all(), allow_null=True, required=False)

    class Meta:
        model = Inspector
        fields = ["id", "division", "user", "name", "workplace", "active", "added_at"]
        read_only_fields = ["id", "name", "active", "added_at"]

    def get_name(self, inspector) -> str:
        return inspector.user.get_full_name() or inspector.user.get_username()


class InspectionPlanSerializer(serializers.ModelSerializer):
    division = DivisionCodeField(queryset=Division.objects.all())
    title = visible_text(max_length=InspectionPlan._meta.get_field("title").max_length)
    facility_kinds = serializers.ListField(child=serializers.ChoiceField(choices=FacilityKind.choices), min_length=1)
    facility_levels = serializers.ListField(child=serializers.ChoiceField(choices=FacilityLevel.choices), min_length=1)
    drawn = serializers.BooleanField(read_only=True)
    published = serializers.BooleanField(read_only=True)

    class Meta:
        model = InspectionPlan
        fields = [
            "id", "division", "title", "facility_kinds", "facility_levels", "facility_count", "inspectors_per_facility",
            "period_start", "period_end", "created_at", "drawn", "seed", "facility_candidates", "inspector_candidates",
            "drawn_facilities", "drawn_assignments", "drawn_at", "published", "published_at",
        ]
        read_only_fields = [
            "id", "created_at", "seed", "facility_candidates", "inspector_candidates", "drawn_facilities",
            "drawn_assignments", "drawn_at", "published_at",
        ]


class InspectionResultSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    state = serializers.ChoiceField(choices=InspectionResultState.choices, read_only=True)
    severity = serializers.ChoiceField(choices=FindingSeverity.choices, read_only=True)
    inspectors = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = InspectionResult
        fields = [
            "id", "plan", "facility", "facility_name", "inspectors", "state", "severity", "summary", "findings",
            "rectification", "deadline", "inspected_on", "entered_at", "rectification_report", "rectified_at", "overdue",
        ]
        read_only_fields = fields

    def get_overdue(self, result) -> bool:
        if result.state not in (InspectionResultState.RECTIFYING, InspectionResultState.RECTIFIED):
            return False
        rectified_on = timezone.localdate(result.rectified_at) if result.rectified_at else None
        return inspection_rules.rectification_overdue(deadline=result.deadline, rectified_on=rectified_on,
                                                      today=timezone.localdate())


class FindingsInputSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=FindingSeverity.choices)
    summary = visible_text(max_length=2000)
    findings = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    rectification = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    deadline = serializers.DateField(required=False, allow_null=True, default=None)
    inspected_on = serializers.DateField(required=False, allow_null=True, default=None)


class RectifyInputSerializer(serializers.Serializer):
    report = visible_text(max_length=5000)


class DrawVerificationSerializer(serializers.Serializer):
    drawn = serializers.BooleanField()
    same = serializers.BooleanField(help_text="JL-O6: the draw recomputed from the recorded seed matches the record")
    facilities = serializers.ListField(child=serializers.IntegerField(), required=False)
    assignments = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()), required=False)


class InspectorViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, ScopedViewSetMixin, viewsets.GenericViewSet):
    """检查人员名录 (JL-O6): the rosters of the regulator's divisions; POST names a person."""

    permission_classes = [IsAuthenticated]
    queryset = Inspector.objects.filter(active=True).select_related("user").order_by("division_id", "pk")
    serializer_class = InspectorSerializer

    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        inspector = run_service(inspections.inspector_add, request=request, division=data.validated_data["division"],
                                user=data.validated_data["user"], workplace=data.validated_data.get("workplace"))
        return Response(self.get_serializer(inspector).data, status=status.HTTP_201_CREATED)


class InspectionPlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                            ScopedViewSetMixin, viewsets.GenericViewSet):
    """随机抽查计划 (JL-O6): plans, their seeded draws and publication."""

    permission_classes = [IsAuthenticated]
    queryset = InspectionPlan.objects.order_by("-period_start", "-id")
    serializer_class = InspectionPlanSerializer

    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items()}
        plan = run_service(inspections.inspection_plan_create, request=request, **values)
        return Response(self.get_serializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: InspectionPlanSerializer})
    @action(detail=True, methods=["post"])
    def draw(self, request, pk=None):
        """JL-O6 双随机: draw the facilities and their inspectors with a fresh recorded seed."""
        plan = run_service(inspections.inspection_draw, request=request, plan=self.get_object())
        return Response(self.get_serializer(plan).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: DrawVerificationSerializer})
    @action(detail=True, methods=["get"])
    def verify(self, request, pk=None):
        """JL-O6: recompute the draw from the recorded seed and candidate lists."""
        outcome = inspections.inspection_draw_verify(self.get_object())
        if "assignments" in outcome:
            outcome["assignments"] = {str(k): v for k, v in outcome["assignments"].items()}
        return Response(DrawVerificationSerializer(outcome).data)

    @extend_schema(request=None, responses={200: InspectionPlanSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """JL-O6 一公开: publish the plan and its results on the public pages."""
        plan = run_service(inspections.inspection_publish, request=request, plan=self.get_object())
        return Response(self.get_serializer(plan).data)


class InspectionResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, viewsets.GenericViewSet):
    """抽查结果 (JL-O6): per drawn facility; the inspectors enter findings, the facility reports rectification."""

    permission_classes = [IsAuthenticated]
    queryset = InspectionResult.objects.select_related("facility").prefetch_related("inspectors").order_by("-plan_id", "facility_id")
    serializer_class = InspectionResultSerializer

    @extend_schema(request=FindingsInputSerializer, responses={200: InspectionResultSerializer})
    @action(detail=True, methods=["post"])
    def findings(self, request, pk=None):
        result = self.get_object()  # out of scope: 404 before the body is read
        data = FindingsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_service(inspections.inspection_findings_enter, request=request, result=result, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=result.pk)).data)

    @extend_schema(request=RectifyInputSerializer, responses={200: InspectionResultSerializer})
    @action(detail=True, methods=["post"])
    def rectify(self, request, pk=None):
        result = self.get_object()  # out of scope: 404 before the body is read
        data = RectifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_service(inspections.inspection_rectify, request=request, result=result, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=result.pk)).data)


class CreditEntrySerializer(serializers.Serializer):
    kind = serializers.CharField()
    on = serializers.DateField()
    source = serializers.CharField()
    source_id = serializers.IntegerField()
    label = serializers.CharField()
    deduction = serializers.IntegerField()
    public = serializers.BooleanField()


class FacilityCreditSerializer(serializers.Serializer):
    facility = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    grade = serializers.CharField(source="credit.grade")
    score = serializers.IntegerField(source="credit.score")
    counted = serializers.IntegerField(source="credit.counted")


class FacilityCreditDetailSerializer(FacilityCreditSerializer):
    entries = CreditEntrySerializer(many=True, source="credit_entries")


class FacilityCreditViewSet(VersionedResourceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """信用记录 (JL-O6): grade and score per facility (list: a page, one query per source); the detail
    adds every dated, sourced entry. Regulators see their division, facilities their own."""

    permission_classes = [IsAuthenticated]
    serializer_class = FacilityCreditSerializer

    def get_serializer_class(self):
        return FacilityCreditDetailSerializer if self.action == "retrieve" else FacilityCreditSerializer

    def get_queryset(self):
        return selectors.credit_facilities(user=self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = list(page if page is not None else self.get_queryset())
        grades = credit.credit_grades([f.pk for f in rows])
        for facility in rows:
            facility.credit = grades[facility.pk]
        data = FacilityCreditSerializer(rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        facility = self.get_object()
        facility.credit_entries = credit.credit_entries([facility.pk])[facility.pk]
        facility.credit = credit_rules.credit_grade(((e.kind, e.on) for e in facility.credit_entries), today=timezone.localdate())
        return Response(FacilityCreditDetailSerializer(facility).data)
