"""Billing records in the admin site (no administrator role holds their view permissions: only a
break-glass account reads them here); nobody adds, changes or deletes them through the admin
(``telemed.admin.ReadOnlyRecordAdmin``: no delete for charges, reversals and statements, nor for
anything else).

Every write goes through ``billing.services`` (STYLE 2), which checks the rules and writes the
audit event; the admin would skip both. Money is shown as ``rules.yuan`` text, bank account
numbers masked but for their last four digits.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from telemed.admin import ReadOnlyRecordAdmin

from . import exports, rules
from .models import (
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


def _money(field: str, label):
    def show(self, obj):
        value = getattr(obj, field)
        return "" if value is None else rules.yuan(value)

    show.short_description = label
    show.admin_order_field = field
    return show


@admin.register(PriceStandard)
class PriceStandardAdmin(ReadOnlyRecordAdmin):
    list_display = ("service_type", "facility_level", "max_price", "valid_from", "valid_until", "document_number", "published_at")
    list_filter = ("service_type", "facility_level")
    search_fields = ("document_number",)
    list_select_related = ("service_type",)
    max_price = _money("max_price_fen", _("最高限价"))


@admin.register(FacilityPrice)
class FacilityPriceAdmin(ReadOnlyRecordAdmin):
    list_display = ("facility", "service_type", "price", "valid_from", "set_at")
    list_filter = ("service_type",)
    search_fields = ("facility__name",)
    list_select_related = ("facility", "service_type")
    price = _money("price_fen", _("收费标准"))


@admin.register(SettlementAccount)
class SettlementAccountAdmin(ReadOnlyRecordAdmin):
    list_display = ("facility", "account_name", "bank_name", "masked_number", "kind", "active", "registered_at")
    list_filter = ("kind", "active")
    search_fields = ("facility__name", "account_name")
    list_select_related = ("facility",)
    fields = ("facility", "account_name", "bank_name", "masked_number", "kind", "active", "registered_by", "registered_at")
    readonly_fields = fields

    @admin.display(description=_("账号"))
    def masked_number(self, obj):
        return exports.mask_account(obj.account_number)


@admin.register(Charge)
class ChargeAdmin(ReadOnlyRecordAdmin):
    list_display = ("consultation", "inviting", "invited", "service_type", "completed_at", "fee", "invited_share", "statement")
    list_filter = ("service_type",)
    search_fields = ("consultation__number", "fiscal_receipt_number")
    date_hierarchy = "completed_at"
    list_select_related = ("consultation", "inviting", "invited", "service_type", "statement__inviting", "statement__invited")
    fee = _money("fee_fen", _("服务费"))
    invited_share = _money("invited_share_fen", _("受邀方分配"))


@admin.register(ChargeReversal)
class ChargeReversalAdmin(ReadOnlyRecordAdmin):
    list_display = ("charge", "reversed_at", "reason", "statement")
    search_fields = ("charge__consultation__number", "reason")
    list_select_related = ("charge", "statement__inviting", "statement__invited")


@admin.register(Statement)
class StatementAdmin(ReadOnlyRecordAdmin):
    list_display = ("period_start", "inviting", "invited", "state", "charge_count", "fee_total", "invited_share_total", "paid_at")
    list_filter = ("state",)
    search_fields = ("inviting__name", "invited__name", "bank_reference")
    list_select_related = ("inviting", "invited")
    fee_total = _money("fee_total_fen", _("服务费合计"))
    invited_share_total = _money("invited_share_total_fen", _("应付受邀方合计"))


@admin.register(AllocationPolicy)
class AllocationPolicyAdmin(ReadOnlyRecordAdmin):
    list_display = ("facility", "staff_share_basis_points", "valid_from", "adopted_at")
    search_fields = ("facility__name",)
    list_select_related = ("facility",)


@admin.register(PayoutReport)
class PayoutReportAdmin(ReadOnlyRecordAdmin):
    """JL-B6: per-person payout reports, read only."""

    list_display = ("facility", "month", "version", "state", "charge_count", "staff_total", "lines_total", "confirmed_at")
    list_filter = ("state",)
    search_fields = ("facility__name",)
    list_select_related = ("facility",)
    staff_total = _money("staff_total_fen", _("医务人员部分"))
    lines_total = _money("lines_total_fen", _("个人分配合计"))


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyRecordAdmin):
    list_display = ("report", "physician", "charge", "kind", "role", "amount")
    list_select_related = ("report__facility", "physician", "charge")
    amount = _money("amount_fen", _("个人金额"))
