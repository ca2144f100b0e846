"""Partner API for hospital finance systems: a thin layer that validates, calls one service, renders.

Rows come from ``billing.selectors`` (``visible_to(user)``, narrowed to the facilities where a staff
user holds a finance role): out of scope is 404. Writes need the role named in ``action_roles`` at
the object's facility: a wrong role is 403. A rule refusal is 400 with the rule ID as ``code``
(``JL-B1`` … ``JL-B5``) and every failing check in ``extra.reasons``. Money is integer fen.
"""

from __future__ import annotations

import django_filters
from django.core.validators import RegexValidator
from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from facilities.choices import StaffRole
from telemed.api import (
    ActionRolePermission,
    ReasonSerializer,
    Roles,
    ScopedViewSetMixin,
    require_roles,
    run_service,
)
from telemed.filters import IdFilter

from .. import exports, selectors, services
from ..choices import PayoutState, StatementState
from ..models import Charge, FacilityPrice, PayoutLine, PayoutReport, PriceStandard, Statement
from . import serializers as s

FINANCE_OR_ADMIN = Roles(staff=(StaffRole.FINANCE, StaffRole.FACILITY_ADMIN))
FINANCE_ONLY = Roles(staff=(StaffRole.FINANCE,))
PROVINCIAL_REGULATOR = Roles(provincial_regulator=True)  # JL-B1 (art. 39)


class BillingViewSet(ScopedViewSetMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, ActionRolePermission]
    action_roles: dict[str, Roles] = {}

    def acting_on(self, obj) -> tuple[list[int], list[str]]:
        return [obj.facility_id], []


PERIOD = RegexValidator(r"^\d{4}-(0[1-9]|1[0-2])$", "须为 YYYY-MM，例如 2026-11。")


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"})
class MonthFilter(django_filters.CharFilter):
    """Issue 14: ``?month=YYYY-MM`` — the schema states the form that PERIOD checks."""

    refuse_empty = True  # telemed.filters


# --- Prices (JL-B1) ---------------------------------------------------------------------------


@extend_schema_view(create=extend_schema(
    request=s.PriceStandardPublishSerializer,
    responses={201: s.PriceStandardSerializer,
               400: OpenApiResponse(description="JL-B1: 价格须为正数、须填写文号；invalid: 截止日期早于执行日期或字段错误"),
               401: OpenApiResponse(description="not_authenticated"),
               403: OpenApiResponse(description="permission_denied: 仅省卫生健康行政部门（JL-B1 第三十九条）")},
    description="JL-B1（第三十九条）: 省卫生健康行政部门公布价格标准（最高限价、适用级别、执行期间、文号）；记入审计日志。",
))
class PriceStandardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """价格标准 (JL-B1, art. 39): published, so readable by every authenticated caller; the
    provincial regulator publishes them (``POST``, ``services.price_standard_publish``)."""

    queryset = PriceStandard.objects.select_related("service_type")
    serializer_class = s.PriceStandardSerializer
    filterset_fields = ["service_type", "facility_level"]
    ordering = ["service_type__sort_order", "service_type_id", "facility_level", "-valid_from", "id"]
    action_roles = {"create": PROVINCIAL_REGULATOR}

    def scope_queryset(self, queryset):
        return queryset if self.request.user.is_authenticated else queryset.none()

    def create(self, request):
        data = s.PriceStandardPublishSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        standard = run_service(services.price_standard_publish, request=request, **data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=standard.pk)).data, status=status.HTTP_201_CREATED)


class FacilityPriceFilter(django_filters.FilterSet):
    facility = IdFilter(field_name="facility")
    service_type = django_filters.CharFilter(field_name="service_type")

    class Meta:
        model = FacilityPrice
        fields = ["facility", "service_type"]


@extend_schema_view(create=extend_schema(request=s.FacilityPriceSetSerializer, responses={201: s.FacilityPriceSerializer}))
class FacilityPriceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """机构收费标准 (JL-B1): a facility's price, within the standard in force on ``valid_from``."""

    queryset = FacilityPrice.objects.select_related("facility", "service_type", "standard")
    serializer_class = s.FacilityPriceSerializer
    filterset_class = FacilityPriceFilter
    ordering = ["facility_id", "service_type_id", "-valid_from", "id"]
    action_roles = {"create": FINANCE_OR_ADMIN}

    def create(self, request):
        data = s.FacilityPriceSetSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, FINANCE_OR_ADMIN, facility_ids=[values["facility"].pk])
        price = run_service(services.facility_price_set, request=request, **values)
        return Response(self.get_serializer(self.get_queryset().get(pk=price.pk)).data, status=status.HTTP_201_CREATED)


# --- Charges (JL-B2, JL-B3) -------------------------------------------------------------------


class ChargeFilter(django_filters.FilterSet):
    """The charges page's filters, applied by ``selectors.filter_charges``."""

    period = MonthFilter(method="by_selector", validators=[PERIOD], label="完成月份 YYYY-MM（北京时间）")
    counterpart = IdFilter(method="by_selector", label="对方机构 id")
    service_type = django_filters.CharFilter(method="by_selector", label="服务项目编码")
    status = django_filters.ChoiceFilter(choices=selectors.CHARGE_STATUSES, method="by_selector", label="结算状态")
    paid = django_filters.BooleanFilter(method="by_selector", label="是否已登记患者缴费")

    class Meta:
        model = Charge
        fields = ["period", "counterpart", "service_type", "status", "paid"]

    def by_selector(self, queryset, name, value):
        return queryset  # see filter_queryset: all at once, as on the page

    def filter_queryset(self, queryset):
        f = self.form.cleaned_data
        return selectors.filter_charges(
            queryset, period=selectors.parse_period(f.get("period") or ""), counterpart_id=f.get("counterpart"),
            service_type=f.get("service_type") or "", status=f.get("status") or "", paid=f.get("paid"),
        )


@extend_schema_view(
    payment=extend_schema(request=s.ChargePaymentSerializer, responses=s.ChargeSerializer,
                          description="JL-B2: 邀请方财务登记患者缴费：财政票据号、医保支付与个人自付（分），合计须等于服务费。"),
    reverse=extend_schema(request=ReasonSerializer, responses=s.ChargeSerializer,
                          description="退费：另记一笔冲正，计入冲正当月的结算单；原收费不修改。"),
)
class ChargeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """服务收费 (JL-B2, JL-B3): one per completed consultation, with the split as it was."""

    serializer_class = s.ChargeSerializer
    filterset_class = ChargeFilter
    ordering_fields = ["completed_at", "fee_fen"]
    ordering = ["-completed_at", "-id"]
    action_roles = {"payment": FINANCE_OR_ADMIN, "reverse": FINANCE_OR_ADMIN}

    def get_queryset(self):
        return selectors.charge_list(user=self.request.user)

    def acting_on(self, charge):
        return [charge.inviting_id], []  # the patient pays the inviting facility (art. 21)

    def _done(self, charge):
        return Response(self.get_serializer(self.get_queryset().get(pk=charge.pk)).data)

    @action(detail=True, methods=["post"])
    def payment(self, request, pk=None):
        charge = self.get_object()
        data = s.ChargePaymentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.charge_record_payment, request=request, charge=charge, **data.validated_data)
        return self._done(charge)

    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        charge = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.charge_reverse, request=request, charge=charge, reason=data.validated_data["reason"])
        return self._done(charge)


# --- Statements (JL-B4) -----------------------------------------------------------------------


class StatementFilter(django_filters.FilterSet):
    period = MonthFilter(method="by_selector", validators=[PERIOD], label="结算月份 YYYY-MM")
    counterpart = IdFilter(method="by_selector", label="对方机构 id")
    state = django_filters.ChoiceFilter(choices=StatementState.choices, method="by_selector")

    class Meta:
        model = Statement
        fields = ["period", "counterpart", "state"]

    def by_selector(self, queryset, name, value):
        return queryset

    def filter_queryset(self, queryset):
        f = self.form.cleaned_data
        return selectors.filter_statements(
            queryset, period=selectors.parse_period(f.get("period") or ""), counterpart_id=f.get("counterpart"),
            state=f.get("state") or "",
        )


class _FirstRendererNegotiation(BaseContentNegotiation):
    """For the export action: ``?format=`` names the file format, not a DRF renderer. Errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema_view(
    retrieve=extend_schema(responses=s.StatementDetailSerializer),
    confirm=extend_schema(request=None, responses=s.StatementDetailSerializer,
                          description="JL-B4: 双方财务人员各自确认；双方均确认后待付款。合计与明细不一致时拒绝。"),
    payment=extend_schema(request=s.StatementPaymentSerializer, responses=s.StatementDetailSerializer,
                          description="JL-B4: 受邀方财务人员登记到账（银行流水号、到账时间）。"),
    export=extend_schema(
        parameters=[s.ExportQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
                   (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiResponse(OpenApiTypes.BINARY),
                   (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY)},
        description="结算单导出：CSV（UTF-8 带 BOM）、Excel 或 PDF。收款账号仅显示后四位。",
    ),
)
class StatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """结算单 (JL-B4, art. 42): monthly, per pair of facilities; draft → confirmed by both → paid."""

    serializer_class = s.StatementSerializer
    filterset_class = StatementFilter
    ordering_fields = ["period_start"]
    ordering = ["-period_start", "id"]
    action_roles = {"confirm": FINANCE_ONLY, "payment": FINANCE_ONLY}

    def get_queryset(self):
        statements = selectors.statement_list(user=self.request.user)
        return selectors.with_lines(statements) if self.detail else statements

    def get_serializer_class(self):
        return s.StatementDetailSerializer if self.detail else s.StatementSerializer

    def get_content_negotiator(self):
        if getattr(self, "action", None) == "export":
            return _FirstRendererNegotiation()
        return super().get_content_negotiator()

    def acting_on(self, statement):
        if self.action == "payment":
            return [statement.invited_id], []  # the payee records the transfer received
        return [statement.inviting_id, statement.invited_id], []

    def _done(self, statement):
        return Response(self.get_serializer(self.get_queryset().get(pk=statement.pk)).data)

    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        statement = self.get_object()
        run_service(services.statement_confirm, request=request, statement=statement)
        return self._done(statement)

    @action(detail=True, methods=["post"])
    def payment(self, request, pk=None):
        statement = self.get_object()
        data = s.StatementPaymentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run_service(services.statement_record_payment, request=request, statement=statement, **data.validated_data)
        return self._done(statement)

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        statement = self.get_object()
        query = s.ExportQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        content, content_type, name = exports.render(
            statement, query.validated_data["format"],
            full_account=selectors.may_see_payee_account(user=request.user, statement=statement))
        run_service(services.statement_export_record, request=request, statement=statement, fmt=query.validated_data["format"])
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
        return response


# --- Settlement accounts (JL-B4) and allocation policies (JL-B5) ------------------------------


@extend_schema_view(
    create=extend_schema(request=s.SettlementAccountRegisterSerializer, responses={201: s.SettlementAccountSerializer},
                         description="JL-B4: 须为本机构单位对公账户，户名为机构名称；个人账户或医师本人户名被拒绝并记入审计日志。"),
)
class SettlementAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """远程医疗结算专户 (JL-B4, art. 42). Account numbers are masked but for the last four digits."""

    serializer_class = s.SettlementAccountSerializer
    filterset_fields = ["active"]
    ordering = ["facility_id", "-active", "-registered_at", "id"]
    action_roles = {"create": FINANCE_OR_ADMIN}

    def get_queryset(self):
        return selectors.settlement_account_list(user=self.request.user)

    def create(self, request):
        data = s.SettlementAccountRegisterSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, FINANCE_OR_ADMIN, facility_ids=[values["facility"].pk])
        account = run_service(services.settlement_account_register, request=request, **values)
        return Response(self.get_serializer(self.get_queryset().get(pk=account.pk)).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    create=extend_schema(request=s.AllocationPolicyAdoptSerializer, responses={201: s.AllocationPolicySerializer},
                         description="JL-B5: 医务人员补贴不得低于服务费用的60%（6000 万分比）。"),
)
class AllocationPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """院内远程医疗绩效分配办法 (JL-B5, art. 43, 44)."""

    serializer_class = s.AllocationPolicySerializer
    ordering = ["facility_id", "-valid_from", "id"]
    action_roles = {"create": FINANCE_OR_ADMIN}

    def get_queryset(self):
        return selectors.allocation_policy_list(user=self.request.user)

    def create(self, request):
        data = s.AllocationPolicyAdoptSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, FINANCE_OR_ADMIN, facility_ids=[values["facility"].pk])
        policy = run_service(services.allocation_policy_adopt, request=request, **values)
        return Response(self.get_serializer(self.get_queryset().get(pk=policy.pk)).data, status=status.HTTP_201_CREATED)



# --- Per-person payouts (JL-B6) ---------------------------------------------------------------


class PayoutReportFilter(django_filters.FilterSet):
    month = MonthFilter(method="by_selector", validators=[PERIOD], label="月份 YYYY-MM")
    state = django_filters.ChoiceFilter(choices=PayoutState.choices, method="by_selector")

    class Meta:
        model = PayoutReport
        fields = ["month", "state"]

    def by_selector(self, queryset, name, value):
        return queryset

    def filter_queryset(self, queryset):
        f = self.form.cleaned_data
        return selectors.filter_payout_reports(queryset, month=selectors.parse_period(f.get("month") or ""), state=f.get("state") or "")


@extend_schema_view(
    retrieve=extend_schema(responses=s.PayoutReportDetailSerializer),
    create=extend_schema(request=s.PayoutDraftSerializer, responses={201: s.PayoutReportDetailSerializer},
                         description="JL-B6: 生成（或重新生成）某机构某月的绩效分配表；该月须已结束（北京时间），否则拒绝（code JL-B6）。"
                                     "未确认的草稿重新生成结果不变；已确认的表不再改变，数据变化时生成新版本。"),
    confirm=extend_schema(request=None, responses=s.PayoutReportDetailSerializer,
                          description="JL-B6: 本机构财务人员确认；个人合计与当月收费中医务人员部分不一致时拒绝。"),
    export=extend_schema(
        parameters=[s.PayoutExportQuerySerializer],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
                   (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiResponse(OpenApiTypes.BINARY)},
        description="绩效分配表导出：CSV（UTF-8 带 BOM）或 Excel；仅本机构财务人员，记入审计日志。",
    ),
)
class PayoutReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BillingViewSet):
    """医务人员绩效分配表 (JL-B6, art. 43): per facility and month; draft → confirmed by its finance officer."""

    serializer_class = s.PayoutReportSerializer
    filterset_class = PayoutReportFilter
    ordering_fields = ["month"]
    ordering = ["-month", "facility_id", "-version", "id"]
    action_roles = {"create": FINANCE_OR_ADMIN, "confirm": FINANCE_ONLY, "export": FINANCE_OR_ADMIN}

    def get_queryset(self):
        return selectors.payout_report_list(user=self.request.user)

    def get_serializer_class(self):
        return s.PayoutReportDetailSerializer if self.detail else s.PayoutReportSerializer

    def get_content_negotiator(self):
        if getattr(self, "action", None) == "export":
            return _FirstRendererNegotiation()
        return super().get_content_negotiator()

    def _done(self, report, status_code=status.HTTP_200_OK):
        return Response(s.PayoutReportDetailSerializer(self.get_queryset().get(pk=report.pk), context=self.get_serializer_context()).data,
                        status=status_code)

    def create(self, request):
        data = s.PayoutDraftSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        require_roles(request.user, FINANCE_OR_ADMIN, facility_ids=[values["facility"].pk])
        report = run_service(services.payout_report_draft, request=request, **values)
        return self._done(report, status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        report = self.get_object()
        run_service(services.payout_report_confirm, request=request, report=report)
        return self._done(report)

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        report = self.get_object()
        query = s.PayoutExportQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        lines = list(selectors.payout_lines(user=request.user, report=report))
        content, content_type, name = exports.render_payout(report, lines, selectors.person_totals(lines), fmt)
        run_service(services.payout_export_record, request=request, report=report, fmt=fmt, lines=len(lines))
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
        return response


class MyPayoutFilter(django_filters.FilterSet):
    month = MonthFilter(method="by_month", validators=[PERIOD], label="月份 YYYY-MM")

    class Meta:
        model = PayoutLine
        fields = ["month"]

    def by_month(self, queryset, name, value):
        return queryset.filter(report__month=selectors.parse_period(value))


class MyPayoutViewSet(mixins.ListModelMixin, BillingViewSet):
    """我的绩效 (JL-B6): the caller's own payout lines in current reports — nobody else's."""

    serializer_class = s.MyPayoutLineSerializer
    filterset_class = MyPayoutFilter
    ordering = ["-report__month", "report__facility_id", "charge__completed_at", "id"]

    def get_queryset(self):
        return selectors.my_payout_lines(user=self.request.user)
