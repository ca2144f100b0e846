"""Partner API of complaints (JL-O6): list, detail and steps for the facility's handlers and the
regulators over it. Thin: validate, call ``audit.complaints``, render. The public intake is a page
only (no account, rate-limited); a complaint received by phone is entered on the staff page.
"""

from __future__ import annotations

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from consultations.rules import mask_number
from telemed.api import ScopedViewSetMixin, run_service
from telemed.filters import IdFilter

from .. import complaint_rules as rules
from .. import complaints
from ..choices import ComplaintState
from ..complaint_models import Complaint, ComplaintStep


class ComplaintStepSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    by_name = serializers.SerializerMethodField()

    class Meta:
        model = ComplaintStep
        fields = ["id", "kind", "kind_label", "at", "by_name", "by_regulator", "text", "substantiated"]
        read_only_fields = fields

    def get_by_name(self, step) -> str:
        return (step.by.get_full_name() or step.by.get_username()) if step.by else ""


class ComplaintSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    consultation_number = serializers.CharField(source="consultation.number", read_only=True, default=None)
    complainant_phone = serializers.SerializerMethodField(help_text="JL-C9: masked")
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    ack_overdue = serializers.SerializerMethodField()
    answer_overdue = serializers.SerializerMethodField()
    steps = ComplaintStepSerializer(many=True, read_only=True)

    class Meta:
        model = Complaint
        fields = [
            "id", "tracking_number", "facility", "facility_name", "consultation_number", "complainant_name",
            "complainant_phone", "relation", "text", "channel", "received_at", "ack_due_at", "answer_due_at", "state",
            "state_label", "acknowledged_at", "answered_at", "answer", "substantiated", "ack_overdue", "answer_overdue",
            "steps",
        ]
        read_only_fields = fields

    def get_complainant_phone(self, complaint) -> str:
        return mask_number(complaint.complainant_phone)

    def get_ack_overdue(self, complaint) -> bool:
        return rules.ack_overdue(ack_due_at=complaint.ack_due_at, acknowledged_at=complaint.acknowledged_at, now=timezone.now())

    def get_answer_overdue(self, complaint) -> bool:
        return rules.answer_overdue(answer_due_at=complaint.answer_due_at, answered_at=complaint.answered_at, now=timezone.now())


class ComplaintStepInputSerializer(serializers.Serializer):
    act = serializers.ChoiceField(choices=[(e.act, str(e.label)) for e in rules.EDGES])
    text = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)
    substantiated = serializers.BooleanField(required=False, allow_null=True, default=None)


class ComplaintFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="facility")
    state = django_filters.ChoiceFilter(choices=ComplaintState.choices)
    substantiated = django_filters.BooleanFilter()

    class Meta:
        model = Complaint
        fields = ["facility", "state", "substantiated"]


class ComplaintViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSetMixin, viewsets.GenericViewSet):
    """投诉 (JL-O6): the facility's administrators and coordinators, and regulators over it (JL-O1)."""

    permission_classes = [IsAuthenticated]
    queryset = Complaint.objects.select_related("facility", "consultation").prefetch_related("steps__by")
    serializer_class = ComplaintSerializer
    filterset_class = ComplaintFilter
    ordering_fields = ["received_at", "answer_due_at"]
    ordering = ["-received_at", "-id"]

    # One route, two operations: each method documents only its own answer.
    @extend_schema(methods=["GET"], responses={200: ComplaintStepSerializer(many=True)}, filters=False,
                   description="JL-O6: the complaint's steps, oldest first.")
    @extend_schema(methods=["POST"], request=ComplaintStepInputSerializer, responses={201: ComplaintSerializer},
                   description="JL-O6: one act (acknowledge, investigate, answer, note, override) — the facility's "
                               "handlers answer with a finding, the regulators over it note and override.")
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def steps(self, request, pk=None):
        complaint = self.get_object()
        if request.method == "GET":
            return Response(ComplaintStepSerializer(complaint.steps.all(), many=True).data)
        data = ComplaintStepInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        act = data.validated_data["act"]
        kwargs = {} if act == "acknowledge" else {"text": data.validated_data["text"]}
        if act in ("answer", "override"):
            kwargs["substantiated"] = data.validated_data["substantiated"]
        run_service(complaints.SERVICES[act], request=request, complaint=complaint, **kwargs)
        return Response(self.get_serializer(self.get_queryset().get(pk=complaint.pk)).data, status=status.HTTP_201_CREATED)
