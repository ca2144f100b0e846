"""Partner API of the register of telemedicine equipment and software, and of stop-and-report
follow-up (JL-O7, art. 33, 34). Thin: validate, call ``facilities.equipment``, render."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from telemed.api import Roles, ScopedPrimaryKeyRelatedField, require_roles, run_service
from telemed.filters import IdFilter

from .. import equipment
from ..choices import AssetKind, AssetStatus, MaintenanceKind, StaffRole
from ..models import AssetMaintenance, Facility, TelemedicineAsset
from .views import FacilityScopedViewSet

KEEPERS = Roles(staff=(StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR))


class AssetMaintenanceSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = AssetMaintenance
        fields = ["id", "kind", "kind_label", "performed_on", "performed_by", "description", "recorded_at"]
        read_only_fields = fields


class AssetSerializer(serializers.ModelSerializer):
    facility_name = serializers.CharField(source="facility.name", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    maintenance = AssetMaintenanceSerializer(many=True, read_only=True)

    class Meta:
        model = TelemedicineAsset
        fields = [
            "id", "facility", "facility_name", "kind", "kind_label", "name", "model_number", "serial_number", "vendor",
            "essential", "in_service_since", "maintenance_interval_days", "last_maintained_on", "next_maintenance_due",
            "status", "status_label", "status_changed_at", "registered_at", "maintenance",
        ]
        read_only_fields = fields


class AssetRegisterSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all())
    kind = serializers.ChoiceField(choices=AssetKind.choices)
    name = serializers.CharField(max_length=100)
    model_number = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    serial_number = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    vendor = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    essential = serializers.BooleanField(required=False, default=False)
    in_service_since = serializers.DateField()
    maintenance_interval_days = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)


class MaintenanceRecordSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MaintenanceKind.choices)
    performed_on = serializers.DateField()
    performed_by = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=5000)


class AssetStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AssetStatus.choices)
    report = serializers.CharField(max_length=5000, required=False, default="", allow_blank=True)


class AssetFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="facility")
    status = django_filters.ChoiceFilter(choices=AssetStatus.choices)

    class Meta:
        model = TelemedicineAsset
        fields = ["facility", "status"]


@extend_schema_view(
    create=extend_schema(request=AssetRegisterSerializer, responses={201: AssetSerializer}),
    maintenance=extend_schema(
        request=MaintenanceRecordSerializer, responses={201: AssetSerializer},
        description="JL-O7 (art. 33): record a maintenance; the next one falls due a period after it.",
    ),
    set_status=extend_schema(
        request=AssetStatusSerializer, responses=AssetSerializer,
        description="JL-O7 (art. 33, 34): an essential entry going out of service suspends the facility and reports it (JL-F5).",
    ),
)
class AssetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """远程医疗设备与软件登记 (JL-O7, art. 33)."""

    queryset = TelemedicineAsset.objects.select_related("facility").prefetch_related("maintenance")
    serializer_class = AssetSerializer
    filterset_class = AssetFilter
    ordering_fields = ["name", "next_maintenance_due"]
    ordering = ["facility_id", "kind", "name", "id"]
    action_roles = {"create": KEEPERS, "maintenance": KEEPERS, "set_status": KEEPERS}

    def create(self, request):
        data = AssetRegisterSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        require_roles(request.user, KEEPERS, facility_ids=[data.validated_data["facility"].pk])
        asset = run_service(equipment.asset_register, request=request, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=asset.pk)).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def maintenance(self, request, pk=None):
        asset = self.get_object()
        data = MaintenanceRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(equipment.asset_maintenance_record, request=request, asset=asset, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=asset.pk)).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        asset = self.get_object()
        data = AssetStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(equipment.asset_status_change, request=request, asset=asset, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=asset.pk)).data)
