"""Partner API serializers for prices, charges, statements, settlement accounts and policies.

Money is integer fen in fields named ``*_fen`` (STYLE 6); there is no yuan field and no float.
Bank account numbers are shown masked but for their last four digits. Write serializers only
validate shapes; the rules (JL-B1..B5) run inside the services.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from facilities.api.serializers import CheckSerializer, FacilityRefSerializer
from facilities.choices import FacilityLevel
from facilities.models import Facility, ServiceType
from telemed.api import ScopedPrimaryKeyRelatedField
from telemed.dates import DateTimeField

from .. import exports, rules, selectors
from ..choices import AccountKind
from ..models import (
    AllocationPolicy,
    Charge,
    ChargeReversal,
    FacilityPrice,
    PayoutLine,
    PayoutReport,
    PriceStandard,
    SettlementAccount,
    Statement,
)

Fen = serializers.IntegerField  # whole fen, always


def _service_type_field(**kwargs):
    return serializers.SlugRelatedField(
        slug_field="code", queryset=ServiceType.objects.filter(active=True), help_text="服务项目编码", **kwargs
    )


# --- Prices (JL-B1) ---------------------------------------------------------------------------


class PriceStandardSerializer(serializers.ModelSerializer):
    service_type = serializers.SlugRelatedField(slug_field="code", read_only=True)
    service_type_name = serializers.CharField(source="service_type.name", read_only=True)
    facility_level_label = serializers.CharField(source="get_facility_level_display", read_only=True, allow_null=True)
    # Issue 14: no level means every level; the schema's enum says "" and null too.
    facility_level = serializers.ChoiceField(choices=FacilityLevel.choices, allow_blank=True, allow_null=True, read_only=True)

    class Meta:
        model = PriceStandard
        fields = [
            "id", "service_type", "service_type_name", "facility_level", "facility_level_label", "max_price_fen",
            "valid_from", "valid_until", "document_number", "published_at",
        ]
        read_only_fields = fields


class FacilityPriceSerializer(serializers.ModelSerializer):
    facility = FacilityRefSerializer(read_only=True)
    service_type = serializers.SlugRelatedField(slug_field="code", read_only=True)
    service_type_name = serializers.CharField(source="service_type.name", read_only=True)
    standard_max_price_fen = serializers.IntegerField(source="standard.max_price_fen", read_only=True)
    standard_document_number = serializers.CharField(source="standard.document_number", read_only=True)

    class Meta:
        model = FacilityPrice
        fields = [
            "id", "facility", "service_type", "service_type_name", "price_fen", "valid_from", "standard",
            "standard_max_price_fen", "standard_document_number", "set_at",
        ]
        read_only_fields = fields


class PriceStandardPublishSerializer(serializers.Serializer):
    """JL-B1 (art. 39): what the provincial regulator publishes — the ceiling for a service (and level)."""

    service_type = _service_type_field()
    facility_level = serializers.ChoiceField(
        choices=FacilityLevel.choices, allow_null=True, required=False, default=None, help_text="医疗机构级别；空为各级通用"
    )
    max_price_fen = Fen(help_text="最高限价（分）；须为正数（否则 400 JL-B1）")
    valid_from = serializers.DateField(help_text="执行日期")
    valid_until = serializers.DateField(allow_null=True, required=False, default=None, help_text="截止日期（含）；空为长期")
    document_number = serializers.CharField(max_length=100, allow_blank=True, help_text="价格文件文号；必填（否则 400 JL-B1）")


class FacilityPriceSetSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="机构 id")
    service_type = _service_type_field()
    price_fen = Fen(min_value=1, help_text="收费标准（分）")
    valid_from = serializers.DateField(help_text="执行日期")


# --- Charges (JL-B2, JL-B3) -------------------------------------------------------------------


class ReversalSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChargeReversal
        fields = ["id", "reason", "reversed_at", "statement"]
        read_only_fields = fields


class ChargeSerializer(serializers.ModelSerializer):
    consultation_number = serializers.CharField(source="consultation.number", read_only=True)
    inviting = FacilityRefSerializer(read_only=True)
    invited = FacilityRefSerializer(read_only=True)
    service_type = serializers.SlugRelatedField(slug_field="code", read_only=True)
    service_type_name = serializers.CharField(source="service_type.name", read_only=True)
    status = serializers.SerializerMethodField(help_text="unsettled 未结算 / in_statement 已入结算单 / reversed 已冲正")
    reversal = serializers.SerializerMethodField()

    class Meta:
        model = Charge
        fields = [
            "id", "consultation", "consultation_number", "inviting", "invited", "service_type", "service_type_name",
            "completed_at", "fee_fen", "inviting_share_fen", "invited_share_fen", "split_basis",
            "fiscal_receipt_number", "insurance_fen", "self_pay_fen", "paid_at", "statement", "status", "reversal",
        ]
        read_only_fields = fields

    def get_status(self, charge: Charge) -> str:
        return selectors.charge_status(charge)

    @extend_schema_field(ReversalSerializer(allow_null=True))
    def get_reversal(self, charge: Charge):
        reversal = getattr(charge, "reversal", None)
        return ReversalSerializer(reversal).data if reversal is not None else None


class ChargePaymentSerializer(serializers.Serializer):
    """JL-B2 (art. 21, 41, 5): the fiscal receipt number; insurance and self-pay apart, in fen."""

    fiscal_receipt_number = serializers.CharField(max_length=50, allow_blank=True)
    insurance_fen = Fen(min_value=0, help_text="基本医保支付（分）")
    self_pay_fen = Fen(min_value=0, help_text="个人自付（分）")
    paid_at = DateTimeField(help_text="缴费时间（ISO 8601，含时区）")


# --- Statements (JL-B4) -----------------------------------------------------------------------


class PayeeAccountSerializer(serializers.ModelSerializer):
    account_number_masked = serializers.SerializerMethodField()

    class Meta:
        model = SettlementAccount
        fields = ["id", "account_name", "bank_name", "account_number_masked"]
        read_only_fields = fields

    def get_account_number_masked(self, account: SettlementAccount) -> str:
        return exports.mask_account(account.account_number)


class StatementSerializer(serializers.ModelSerializer):
    inviting = FacilityRefSerializer(read_only=True)
    invited = FacilityRefSerializer(read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    payee_account = PayeeAccountSerializer(read_only=True, allow_null=True)
    payee_account_number = serializers.SerializerMethodField(
        help_text="JL-B4: 收款专户完整账号，仅付款方（邀请方）财务人员可见，其他人为 null")

    class Meta:
        model = Statement
        fields = [
            "id", "inviting", "invited", "period_start", "period_end", "state", "state_label", "charge_count",
            "fee_total_fen", "inviting_share_total_fen", "invited_share_total_fen", "payee_account",
            "payee_account_number", "drafted_at", "inviting_confirmed_at", "invited_confirmed_at", "paid_at", "bank_reference",
        ]
        read_only_fields = fields

    def get_payee_account_number(self, statement: Statement) -> str | None:
        request = self.context.get("request")
        account = statement.payee_account
        if account is None or request is None or not selectors.may_see_payee_account(user=request.user, statement=statement):
            return None
        return " ".join(account.account_number.split())


class StatementChargeLineSerializer(serializers.ModelSerializer):
    consultation_number = serializers.CharField(source="consultation.number", read_only=True)
    service_type = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Charge
        fields = [
            "id", "consultation_number", "service_type", "completed_at", "fee_fen", "inviting_share_fen",
            "invited_share_fen", "split_basis", "fiscal_receipt_number", "insurance_fen", "self_pay_fen", "paid_at",
        ]
        read_only_fields = fields


class StatementReversalLineSerializer(serializers.ModelSerializer):
    """A reversal line: the charge's amounts, negative, as they count in this statement."""

    charge = serializers.IntegerField(source="charge_id", read_only=True)
    consultation_number = serializers.CharField(source="charge.consultation.number", read_only=True)
    fee_fen = serializers.SerializerMethodField()
    inviting_share_fen = serializers.SerializerMethodField()
    invited_share_fen = serializers.SerializerMethodField()

    class Meta:
        model = ChargeReversal
        fields = ["id", "charge", "consultation_number", "reason", "reversed_at", "fee_fen", "inviting_share_fen", "invited_share_fen"]
        read_only_fields = fields

    def get_fee_fen(self, reversal: ChargeReversal) -> int:
        return -reversal.charge.fee_fen

    def get_inviting_share_fen(self, reversal: ChargeReversal) -> int:
        return -reversal.charge.inviting_share_fen

    def get_invited_share_fen(self, reversal: ChargeReversal) -> int:
        return -reversal.charge.invited_share_fen


class StatementDetailSerializer(StatementSerializer):
    charges = StatementChargeLineSerializer(many=True, read_only=True)
    reversals = StatementReversalLineSerializer(many=True, read_only=True)
    reconciliation = serializers.SerializerMethodField(help_text="JL-B4: 结算单合计与明细是否一致")

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "charges", "reversals", "reconciliation"]
        read_only_fields = fields

    @extend_schema_field(CheckSerializer)
    def get_reconciliation(self, statement: Statement) -> dict:
        return CheckSerializer(selectors.statement_reconciliation(statement)).data


class StatementPaymentSerializer(serializers.Serializer):
    bank_reference = serializers.CharField(max_length=100, allow_blank=True, help_text="银行流水号")
    paid_at = DateTimeField(help_text="到账时间（ISO 8601，含时区）")


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=sorted(exports.CONTENT_TYPES), help_text="csv、xlsx 或 pdf")


# --- Settlement accounts (JL-B4) and allocation policies (JL-B5) ------------------------------


class SettlementAccountSerializer(serializers.ModelSerializer):
    facility = FacilityRefSerializer(read_only=True)
    account_number_masked = serializers.SerializerMethodField()
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = SettlementAccount
        fields = ["id", "facility", "account_name", "bank_name", "account_number_masked", "kind", "kind_label", "active", "registered_at"]
        read_only_fields = fields

    def get_account_number_masked(self, account: SettlementAccount) -> str:
        return exports.mask_account(account.account_number)


class SettlementAccountRegisterSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="机构 id")
    account_name = serializers.CharField(max_length=100, help_text="户名：须为机构名称")
    bank_name = serializers.CharField(max_length=100)
    account_number = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=AccountKind.choices, default=AccountKind.CORPORATE)


class AllocationPolicySerializer(serializers.ModelSerializer):
    facility = FacilityRefSerializer(read_only=True)

    class Meta:
        model = AllocationPolicy
        fields = ["id", "facility", "staff_share_basis_points", "valid_from", "description", "adopted_at"]
        read_only_fields = fields


class AllocationPolicyAdoptSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="机构 id")
    staff_share_basis_points = serializers.IntegerField(min_value=0, max_value=10000, help_text="医务人员补贴比例（万分比，6000 即 60%）")
    valid_from = serializers.DateField()
    description = serializers.CharField(max_length=5000, allow_blank=True)
    document = serializers.FileField(required=False, allow_null=True, default=None, help_text="院内文件（可选）")


# --- Per-person payouts (JL-B6) ---------------------------------------------------------------


class PayoutReportSerializer(serializers.ModelSerializer):
    facility = FacilityRefSerializer(read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    supersedes = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="更正的原版本 id")

    class Meta:
        model = PayoutReport
        fields = [
            "id", "facility", "month", "version", "supersedes", "state", "state_label", "charge_count", "person_count",
            "share_total_fen", "staff_total_fen", "lines_total_fen", "drafted_at", "confirmed_at",
        ]
        read_only_fields = fields


class PayoutLineSerializer(serializers.ModelSerializer):
    physician_name = serializers.CharField(source="physician.name", read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)
    consultation_number = serializers.CharField(source="charge.consultation.number", read_only=True)
    service_type = serializers.CharField(source="charge.service_type_id", read_only=True)
    completed_at = DateTimeField(source="charge.completed_at", read_only=True)

    class Meta:
        model = PayoutLine
        fields = [
            "id", "physician", "physician_name", "role", "role_label", "kind", "charge", "consultation_number",
            "service_type", "completed_at", "staff_part_fen", "amount_fen",
        ]
        read_only_fields = fields


class PersonTotalSerializer(serializers.Serializer):
    physician_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    line_count = serializers.IntegerField(read_only=True)
    amount_fen = Fen(read_only=True)


class PayoutReportDetailSerializer(PayoutReportSerializer):
    """The report with the lines the caller may see: all for the facility's finance staff, none
    for a regulator (totals only)."""

    persons = serializers.SerializerMethodField()
    lines = serializers.SerializerMethodField()
    reconciliation = serializers.SerializerMethodField(help_text="JL-B6: 个人分配合计与医务人员部分是否一致")

    class Meta(PayoutReportSerializer.Meta):
        fields = [*PayoutReportSerializer.Meta.fields, "persons", "lines", "reconciliation"]
        read_only_fields = fields

    def _lines(self, report):
        if not hasattr(report, "_visible_lines"):
            report._visible_lines = list(selectors.payout_lines(user=self.context["request"].user, report=report))
        return report._visible_lines

    @extend_schema_field(PersonTotalSerializer(many=True))
    def get_persons(self, report) -> list:
        return PersonTotalSerializer(selectors.person_totals(self._lines(report)), many=True).data

    @extend_schema_field(PayoutLineSerializer(many=True))
    def get_lines(self, report) -> list:
        return PayoutLineSerializer(self._lines(report), many=True).data

    @extend_schema_field(CheckSerializer)
    def get_reconciliation(self, report) -> dict:
        check = rules.payout_reconcile_check(lines_total_fen=report.lines_total_fen, staff_total_fen=report.staff_total_fen)
        return CheckSerializer(check).data


class PayoutDraftSerializer(serializers.Serializer):
    facility = ScopedPrimaryKeyRelatedField(queryset=Facility.objects.all(), help_text="机构 id")
    month = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", help_text="月份 YYYY-MM（北京时间），须已结束",
                                   error_messages={"invalid": "须为 YYYY-MM，例如 2026-11。"})

    def validate_month(self, value: str):
        return selectors.parse_period(value)


class PayoutExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=sorted(exports.PAYOUT_FORMATS), help_text="csv 或 xlsx")


class MyPayoutLineSerializer(PayoutLineSerializer):
    """One of the caller's own lines, with its report's facility, month and state."""

    report = serializers.IntegerField(source="report_id", read_only=True)
    facility = FacilityRefSerializer(source="report.facility", read_only=True)
    month = serializers.DateField(source="report.month", read_only=True)
    report_state = serializers.CharField(source="report.state", read_only=True, help_text="draft 草稿 / confirmed 已确认")

    class Meta(PayoutLineSerializer.Meta):
        fields = [*PayoutLineSerializer.Meta.fields, "report", "facility", "month", "report_state"]
        read_only_fields = fields
