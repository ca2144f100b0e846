"""Partner API for the facilities app: a thin layer that validates, calls one service, renders.

Rows come from ``Model.objects.visible_to(user)`` (``ScopedViewSetMixin``): out of scope is 404.
Writes need a staff role at the object's facility or a regulator's division (``action_roles``):
a wrong role is 403. A rule refusal is 400 with the rule ID as ``code`` and every failing check in
``extra.reasons`` (raised by the services, rendered by ``telemed.errors.api_exception_handler``).
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch, Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from telemed.api import (
    ActionRolePermission,
    ReasonSerializer,
    Roles,
    ScopedViewSetMixin,
    VersionedResourceMixin,
    require_roles,
    run_service,
)
from telemed.checks import failing
from telemed.dates import IsoDateTimeFilter
from telemed.filters import IdFilter
from telemed.pagination import PageNumberPagination, SyncPagination

from .. import rules, selectors, services
from ..choices import (
    AccreditationCondition,
    AccreditationStatus,
    AgreementStatus,
    FacilityLevel,
    PracticeScope,
    StaffRole,
    Title,
)
from ..equipment import suspension_follow_up
from ..models import (
    AccreditationApplication,
    CooperationAgreement,
    Division,
    DutyShift,
    Facility,
    Physician,
    PracticeRegistration,
    ServiceType,
    StaffMembership,
    Suspension,
)
from . import serializers as s

ADMIN = Roles(staff=(StaffRole.FACILITY_ADMIN,))
PROVINCIAL_REGULATOR = Roles(provincial_regulator=True)


class FacilityScopedViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, ActionRolePermission]
    action_roles: dict[str, Roles] = {}

    def acting_on(self, obj) -> tuple[list[int], list[str]]:
        """The facilities an object belongs to and their division codes, for ``action_roles``."""
        return [obj.facility_id], [obj.facility.division_id]


# --- Facilities -------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": "^[0-9]{6}$"})
class DivisionFilter(django_filters.CharFilter):
    """Issue 14: a GB/T 2260 code is six digits; a code not on the register lists nothing."""

    refuse_empty = True  # telemed.filters


class FacilityFilter(django_filters.FilterSet):
    division = DivisionFilter(method="filter_division", label="行政区划代码（含下级）")
    level = django_filters.TypedChoiceFilter(choices=FacilityLevel.choices, coerce=int)
    accreditation_status = django_filters.ChoiceFilter(choices=AccreditationStatus.choices)

    class Meta:
        model = Facility
        fields = ["division", "level", "accreditation_status"]

    def filter_division(self, queryset, name, value):
        """JL-O1's prefix rule: 220000 → the province, 220100 → the city and its counties."""
        division = Division.objects.filter(code=value.strip()).first()
        if division is None:
            if not (len(value.strip()) == 6 and value.strip().isdigit()):
                raise serializers.ValidationError({"division": "须为已登记的6位行政区划代码（GB/T 2260）。"})
            return queryset.none()  # issue 14: well formed but not on the register: nothing is there
        return queryset.filter(division__code__startswith=division.prefix)


class FacilityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """医疗机构: read-only, with JL-F1/JL-F5 participation checks."""

    queryset = Facility.objects.select_related("division").with_suspension()
    serializer_class = s.FacilitySerializer
    filterset_class = FacilityFilter
    pagination_class = SyncPagination  # issue 14: ?updated_since= / ?pagination=cursor, by (updated_at, id)
    search_fields = ["name"]
    ordering_fields = ["name", "division", "level"]
    ordering = ["division_id", "name"]


# --- Cooperation agreements -------------------------------------------------------------------


class AgreementFilter(django_filters.FilterSet):
    facility = IdFilter(method="filter_facility", label="协议任一方机构 id")
    status = django_filters.ChoiceFilter(choices=AgreementStatus.choices)

    class Meta:
        model = CooperationAgreement
        fields = ["facility", "status"]

    def filter_facility(self, queryset, name, value):
        return queryset.filter(Q(inviting_id=value) | Q(invited_id=value))


@extend_schema_view(
    create=extend_schema(request=s.AgreementRegisterSerializer, responses={201: s.AgreementSerializer}),
    terminate=extend_schema(request=ReasonSerializer, responses=s.AgreementSerializer),
)
class AgreementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """合作协议 (JL-F3, art. 15; JL-F2 for the invited party)."""

    queryset = CooperationAgreement.objects.select_related("inviting", "invited").prefetch_related("service_types")
    serializer_class = s.AgreementSerializer
    filterset_class = AgreementFilter
    search_fields = ["number"]
    ordering_fields = ["valid_from", "valid_until", "number"]
    ordering = ["-valid_from", "number"]
    action_roles = {"create": ADMIN, "terminate": ADMIN}

    def acting_on(self, obj):
        return [obj.inviting_id, obj.invited_id], [obj.inviting.division_id, obj.invited.division_id]

    def create(self, request):
        data = s.AgreementRegisterSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, ADMIN, facility_ids=[values["inviting"].pk, values["invited"].pk])
        agreement = run_service(services.agreement_register, request=request, **values)
        return Response(self.get_serializer(self.get_queryset().get(pk=agreement.pk)).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        agreement = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.agreement_terminate, request=request, agreement=agreement, reason=data.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=agreement.pk)).data)


# --- Physicians -------------------------------------------------------------------------------


class PhysicianFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="registrations__facility", distinct=True, label="执业机构 id")
    title = django_filters.TypedChoiceFilter(choices=Title.choices, coerce=int)
    scope = django_filters.ChoiceFilter(choices=PracticeScope.choices, method="filter_scope", label="执业范围")

    class Meta:
        model = Physician
        fields = ["facility", "title", "scope"]

    def filter_scope(self, queryset, name, value):
        # As facilities.selectors.physician_list: JSON containment is not portable to SQLite and
        # scope lists are short, so match the quoted code in the stored list.
        return queryset.filter(scopes__icontains=f'"{value}"')


@extend_schema_view(
    create=extend_schema(request=s.PhysicianRegisterSerializer, responses={201: s.PhysicianSerializer}),
    assessment_entries=extend_schema(
        responses={200: s.AssessmentEntrySerializer(many=True), 401: OpenApiResponse(description="not_authenticated"),
                   404: OpenApiResponse(description="not_found: 医务人员不存在或不在您的范围内（JL-O1）")},
        description="JL-P6（第三十一条）: 医务人员的考核档案记录（如未经授权试图开展服务），最新的在前；与医务人员页面所示相同。",
    ),
    platform_register=extend_schema(
        request=None,
        responses={200: s.PhysicianSerializer, 401: OpenApiResponse(description="not_authenticated"),
                   403: OpenApiResponse(description="permission_denied: 仅医师本人或其执业机构管理员"),
                   404: OpenApiResponse(description="not_found: 医务人员不存在或不在您的范围内（JL-O1）")},
        description="JL-P3（第十四条第三项）: 记录医师已在省远程医疗平台注册；记入审计日志。",
    ),
    qualification=extend_schema(
        parameters=[s.QualificationQuerySerializer],
        responses=s.QualificationSerializer,
        description="JL-P1..P6: every check for this physician acting for a facility, passed or failed, at once.",
    ),
)
class PhysicianViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """医务人员: registrations are shown only at facilities the user may see."""

    queryset = Physician.objects.all()
    serializer_class = s.PhysicianSerializer
    filterset_class = PhysicianFilter
    pagination_class = SyncPagination  # issue 14: ?updated_since= / ?pagination=cursor, by (updated_at, id)
    search_fields = ["name", "=certificate_number"]
    ordering_fields = ["name", "title"]
    ordering = ["name", "id"]
    action_roles = {"create": ADMIN}

    def get_queryset(self):
        registrations = PracticeRegistration.objects.visible_to(self.request.user).select_related("facility")
        return super().get_queryset().prefetch_related(Prefetch("registrations", queryset=registrations))

    def create(self, request):
        data = s.PhysicianRegisterSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, ADMIN, facility_ids=[values["facility"].pk])
        registration = run_service(services.physician_register, request=request, **values)
        physician = self.get_queryset().get(pk=registration.physician_id)
        return Response(self.get_serializer(physician).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"], url_path="assessment-entries", pagination_class=PageNumberPagination)
    def assessment_entries(self, request, pk=None):
        """JL-P6 (art. 31): the physician's assessment file, as the physician page shows it."""
        physician = self.get_object()
        entries = selectors.assessment_entries(physician=physician)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(s.AssessmentEntrySerializer(page, many=True).data)

    @action(detail=True, methods=["post"], url_path="platform-register")
    def platform_register(self, request, pk=None):
        """JL-P3 (art. 14.3): the physician, or an administrator of a facility where they are
        registered, records the registration on the provincial platform (the service refuses anyone
        else: 403). Idempotent: a second call keeps the first time and is audited again."""
        physician = selectors.physician_detail(user=request.user, pk=self.get_object().pk)  # as the page reads it
        run_service(services.physician_platform_register, request=request, physician=physician)
        return Response(self.get_serializer(self.get_queryset().get(pk=physician.pk)).data)

    @action(detail=True, methods=["get"])
    def qualification(self, request, pk=None):
        physician = self.get_object()
        query = s.QualificationQuerySerializer(data=request.query_params.dict(), context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        facility = params["facility"]
        on = params.get("on") or timezone.localdate()
        registration = next((r for r in physician.registrations.all() if r.facility_id == facility.pk), None)
        checks = rules.physician_checks(physician, registration, acting_role=params["role"], scope=params.get("scope"), on=on)
        body = {
            "physician": physician.pk,
            "facility": facility.pk,
            "role": params["role"],
            "scope": params.get("scope"),
            "on": on,
            "qualified": not failing(checks),
            "failing_rules": sorted({c.rule for c in failing(checks)}),
            "checks": checks,
        }
        return Response(s.QualificationSerializer(body).data)


# --- Practice registrations (JL-P3, JL-P6) ----------------------------------------------------


@extend_schema_view(
    verify=extend_schema(request=None, responses=s.RegistrationSerializer),
    authorise=extend_schema(request=None, responses=s.RegistrationSerializer),
    revoke=extend_schema(request=None, responses=s.RegistrationSerializer),
    qualifications=extend_schema(request=s.PhysicianQualificationsSerializer, responses=s.PhysicianQualificationsOutSerializer),
)
class RegistrationViewSet(mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """执业注册: the facility verifies (JL-P3), authorises (JL-P6) or revokes the authorisation."""

    queryset = PracticeRegistration.objects.select_related("facility")
    serializer_class = s.RegistrationSerializer
    action_roles = {"verify": ADMIN, "authorise": ADMIN, "revoke": ADMIN, "qualifications": ADMIN}

    def _change(self, request, service):
        registration = self.get_object()
        run_service(service, request=request, registration=registration)
        return Response(self.get_serializer(self.get_queryset().get(pk=registration.pk)).data)

    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """JL-P3 (art. 14.3): the facility confirms the physician's platform registration."""
        return self._change(request, services.registration_verify)

    @action(detail=True, methods=["post"])
    def authorise(self, request, pk=None):
        """JL-P6 (art. 30): the facility authorises the physician to act for it."""
        return self._change(request, services.registration_authorise)

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """JL-P6 (art. 30, 31): the facility withdraws its authorisation."""
        return self._change(request, services.registration_revoke_authorisation)

    @action(detail=True, methods=["post"])
    def qualifications(self, request, pk=None):
        """JL-P1, P4, P5: this facility's administrator records the physician's renewed certificate
        (number, validity), title and scopes of practice; audited with the old and new values."""
        registration = self.get_object()
        data = s.PhysicianQualificationsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        physician = run_service(
            services.physician_update_qualifications, request=request, physician=registration.physician,
            facility=registration.facility, **data.validated_data,
        )
        return Response(s.PhysicianQualificationsOutSerializer(physician).data)


# --- Service types (JL-C1) -------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=s.ServiceTypeAddSerializer, responses={201: s.ServiceTypeSerializer}),
    report_template=extend_schema(request=s.ReportTemplateSerializer, responses=s.ServiceTypeSerializer),
)
class ServiceTypeViewSet(VersionedResourceMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """远程医疗服务项目 (JL-C1, art. 3): everyone signed in reads the catalogue; only the provincial
    regulator (220000) adds to it and sets a service's report template (JL-C11)."""

    queryset = ServiceType.objects.order_by("sort_order", "code")
    serializer_class = s.ServiceTypeSerializer
    permission_classes = [IsAuthenticated, ActionRolePermission]
    action_roles = {"create": PROVINCIAL_REGULATOR, "report_template": PROVINCIAL_REGULATOR}

    def acting_on(self, obj):
        """The catalogue is the province's: no facility owns a service type."""
        return [], []
    filter_backends: list = []

    def create(self, request):
        data = s.ServiceTypeAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service_type = run_service(services.service_type_add, request=request, **data.validated_data)
        return Response(self.get_serializer(service_type).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"], url_path="report-template", url_name="report-template")
    def report_template(self, request, pk=None):
        """JL-C11: replace the service's report template (sections, and per imaging modality)."""
        from consultations.services import service_type_report_template_set

        service_type = self.get_object()
        data = s.ReportTemplateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = {"sections": [dict(r) for r in data.validated_data["sections"]],
                    "modalities": {m: [dict(r) for r in rows] for m, rows in data.validated_data["modalities"].items()}}
        service_type = run_service(service_type_report_template_set, request=request, service_type=service_type, template=template)
        return Response(self.get_serializer(service_type).data)


# --- Staff roles ------------------------------------------------------------------------------


@extend_schema_view(revoke=extend_schema(request=s.MembershipRevokeSerializer, responses=s.MembershipSerializer))
class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """机构人员角色: the roles at the user's own facilities; the facility administrator ends one
    (a clinician who left). Nothing is deleted; an ended role no longer scopes anything."""

    queryset = StaffMembership.objects.select_related("user", "facility")
    serializer_class = s.MembershipSerializer
    filterset_fields = ["facility", "role", "active"]
    ordering = ["facility_id", "id"]
    action_roles = {"revoke": ADMIN}

    def scope_queryset(self, queryset):
        return queryset.filter(pk__in=selectors.membership_list(user=self.request.user, active_only=False).values("pk"))

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        membership = self.get_object()
        data = s.MembershipRevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.membership_revoke, request=request, membership=membership, reason=data.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=membership.pk)).data)


# --- Duty roster (JL-F4) ----------------------------------------------------------------------


class DutyShiftFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="facility")
    physician = IdFilter(field_name="physician")
    scope = django_filters.ChoiceFilter(choices=PracticeScope.choices)

    class Meta:
        model = DutyShift
        fields = ["facility", "physician", "scope"]


# ``from`` and ``to`` are Python keywords, so they are added by name: shifts overlapping [from, to).
DutyShiftFilter.base_filters["from"] = IsoDateTimeFilter(
    field_name="ends_at", lookup_expr="gt", label="起（ISO 8601，含时区）"
)
DutyShiftFilter.base_filters["to"] = IsoDateTimeFilter(
    field_name="starts_at", lookup_expr="lt", label="止（ISO 8601，含时区）"
)


@extend_schema_view(create=extend_schema(request=s.DutyShiftAddSerializer, responses={201: s.DutyShiftSerializer}))
class DutyShiftViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """值班 (JL-F4, art. 24)."""

    queryset = DutyShift.objects.select_related("facility", "physician")
    serializer_class = s.DutyShiftSerializer
    filterset_class = DutyShiftFilter
    ordering_fields = ["starts_at", "ends_at"]
    ordering = ["starts_at", "id"]
    action_roles = {"create": Roles(staff=(StaffRole.COORDINATOR, StaffRole.FACILITY_ADMIN))}

    def create(self, request):
        data = s.DutyShiftAddSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, self.action_roles["create"], facility_ids=[values["facility"].pk])
        shift = run_service(services.duty_shift_add, request=request, **values)
        return Response(self.get_serializer(self.get_queryset().get(pk=shift.pk)).data, status=status.HTTP_201_CREATED)


# --- Suspension (JL-F5) -----------------------------------------------------------------------


class SuspensionFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="facility")
    open = django_filters.BooleanFilter(field_name="lifted_at", lookup_expr="isnull", label="仅未解除")

    class Meta:
        model = Suspension
        fields = ["facility", "open"]


@extend_schema_view(
    create=extend_schema(request=s.SuspensionReportSerializer, responses={201: s.SuspensionSerializer}),
    lift=extend_schema(
        request=ReasonSerializer,
        responses=s.SuspensionSerializer,
        description="JL-F5 (art. 34): only the regulator that issued the facility's licence lifts a suspension.",
    ),
)
class SuspensionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """暂停远程医疗服务 (JL-F5, art. 34)."""

    queryset = Suspension.objects.select_related("facility", "issuing_division")
    serializer_class = s.SuspensionSerializer
    filterset_class = SuspensionFilter
    ordering_fields = ["reported_at"]
    ordering = ["-reported_at"]
    action_roles = {
        "create": Roles(staff=(StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR), regulator=True),
        "lift": Roles(regulator=True),
    }

    def create(self, request):
        data = s.SuspensionReportSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        facility = values["facility"]
        require_roles(request.user, self.action_roles["create"], facility_ids=[facility.pk], division_codes=[facility.division_id])
        suspension = run_service(services.suspension_report, request=request, **values)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=suspension.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        methods=["GET"], responses=s.FollowUpSerializer(many=True),
        description="JL-O7 (art. 34): the follow-up of a stop-and-report, oldest first.",
    )
    @extend_schema(
        methods=["POST"], request=s.FollowUpSerializer, responses={201: s.FollowUpSerializer},
        description="JL-O7 (art. 34): the facility or its regulators add to the follow-up until the suspension is lifted.",
    )
    @action(detail=True, methods=["get", "post"], url_path="follow-ups")
    def follow_ups(self, request, pk=None):
        suspension = self.get_object()
        if request.method == "POST":
            data = s.FollowUpSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            entry = run_service(
                suspension_follow_up, request=request, suspension=suspension, text=data.validated_data["text"]
            )
            return Response(s.FollowUpSerializer(entry).data, status=status.HTTP_201_CREATED)
        return Response(s.FollowUpSerializer(suspension.follow_ups.all(), many=True).data)

    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        suspension = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.suspension_lift, request=request, suspension=suspension, reason=data.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=suspension.pk)).data)


# --- Accreditation (JL-F1) --------------------------------------------------------------------


class AccreditationApplicationFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="facility")
    status = django_filters.ChoiceFilter(choices=AccreditationStatus.choices)

    class Meta:
        model = AccreditationApplication
        fields = ["facility", "status"]


@extend_schema_view(
    create=extend_schema(request=s.AccreditationApplySerializer, responses={201: s.AccreditationApplicationSerializer}),
    decide=extend_schema(request=s.AccreditationDecideSerializer, responses=s.AccreditationApplicationSerializer),
)
class AccreditationApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FacilityScopedViewSet):
    """远程医疗服务评估验收申请 (JL-F1, art. 10, 13)."""

    queryset = AccreditationApplication.objects.select_related("facility__division").prefetch_related("items")
    serializer_class = s.AccreditationApplicationSerializer
    filterset_class = AccreditationApplicationFilter
    ordering_fields = ["submitted_at"]
    ordering = ["-submitted_at"]
    action_roles = {"create": ADMIN, "decide": Roles(provincial_regulator=True)}

    def create(self, request):
        data = s.AccreditationApplySerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        facility = values["facility"]
        require_roles(request.user, ADMIN, facility_ids=[facility.pk])
        items = [
            services.AccreditationItemInput(
                condition=condition,
                statement=values[f"{condition}_statement"],
                evidence=values[f"{condition}_evidence"],
            )
            for condition in AccreditationCondition.values
            if values[f"{condition}_statement"].strip() or values[f"{condition}_evidence"] is not None
        ]
        application = run_service(services.accreditation_apply, request=request, facility=facility, items=items)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=application.pk)).data, status=status.HTTP_201_CREATED
        )

    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        application = self.get_object()
        data = s.AccreditationDecideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.accreditation_decide, request=request, application=application, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=application.pk)).data)

