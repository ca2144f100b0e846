"""Partner API of quality control (JL-O2, art. 26, 27): the main lists, read-only. Writes are the
regulators', reviewers' and facilities' acts on the pages (``audit.qc``). Rows are scoped by the
models' ``visible_to`` (regulators over the plan's division, the named reviewer, the facility fed back).
"""

from __future__ import annotations

from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from telemed.api import VersionedResourceMixin

from .. import selectors
from ..choices import QCPeriod
from ..models import QCDraw, QCPlan, QCReview


class QCPlanSerializer(serializers.ModelSerializer):
    period = serializers.ChoiceField(choices=QCPeriod.choices, read_only=True)
    period_label = serializers.CharField(source="get_period_display", read_only=True)
    service_types = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = QCPlan
        fields = ["id", "division", "name", "service_types", "share_per_mille", "period", "period_label", "active", "created_at"]
        read_only_fields = fields


class QCDrawSerializer(serializers.ModelSerializer):
    checklist_version = serializers.IntegerField(source="checklist.version", read_only=True)

    class Meta:
        model = QCDraw
        fields = [
            "id", "plan", "period_start", "period_end", "seed", "population_query", "population_ids", "case_ids",
            "checklist_version", "review_until", "drawn_at",
        ]
        read_only_fields = fields


class QCReviewSerializer(serializers.ModelSerializer):
    consultation_number = serializers.CharField(source="consultation.number", read_only=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = QCReview
        fields = [
            "id", "draw", "consultation", "consultation_number", "facility", "reviewer", "assigned_at", "scores", "total",
            "feedback", "submitted_at", "answer_due", "answer", "answered_at", "overdue",
        ]
        read_only_fields = fields

    def get_overdue(self, review) -> bool:
        from django.utils import timezone

        from ..rules import qc_answer_overdue

        return qc_answer_overdue(answer_due=review.answer_due, answered_at=review.answered_at, now=timezone.now())


class _QCList(VersionedResourceMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated]


class QCPlanViewSet(_QCList):
    """质控计划 (JL-O2, art. 26)."""

    serializer_class = QCPlanSerializer

    def get_queryset(self):
        return selectors.qc_plan_list(user=self.request.user)


class QCDrawViewSet(_QCList):
    """质控抽样: the seed, the population query and the drawn cases (JL-O2, art. 26)."""

    serializer_class = QCDrawSerializer

    def get_queryset(self):
        return selectors.qc_draw_list(user=self.request.user)


class QCReviewViewSet(_QCList):
    """质控评审: scores, feedback, the facility's answer and its overdue flag (JL-O2, art. 27)."""

    serializer_class = QCReviewSerializer

    def get_queryset(self):
        return selectors.qc_review_list(user=self.request.user)
