"""Forms of the billing pages: input shape only; every rule (JL-B1..B5) is checked by ``services.py``.

Amounts are typed in yuan (元) and percentages in per cent, as a clerk would; they are parsed as
``Decimal`` from the typed text, never through a float, refused past two decimals, and turned into
whole fen or basis points exactly. A field named ``<name>_yuan`` arrives in ``cleaned_data`` as
``<name>_fen`` (``<name>_percent`` as ``<name>_basis_points``), so a valid write form is passed on
to its service whole.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext_lazy as _

from facilities.choices import FacilityLevel
from facilities.forms import DateInput, DateTimeInput, FacilityChoiceField, PortalForm
from facilities.selectors import service_type_choices
from telemed.dates import DateTimeFormField

from .choices import AccountKind, PayoutState, StatementState
from .selectors import CHARGE_STATUSES, parse_period

_PLAIN_NUMBER = re.compile(r"^(\d+|\d{1,3}(,\d{3})+)(\.\d+)?$")  # 1234.5 or 1,234.5
MAX_YUAN_DIGITS = 10  # ¥9,999,999,999.99 — far above any fee, below BigIntegerField


def _blank(label) -> list[tuple[str, str]]:
    return [("", label)]


class HundredthsField(forms.CharField):
    """A non-negative decimal typed with at most two decimals → an int of hundredths, exactly.

    ``"12.34"`` → ``1234``; ``"12.345"``, ``"12.340"``, ``"1e3"``, ``"-1"``, ``"12,34"`` are refused.
    Grouped thousands (``1,234.50``) and full-width digits (as some IMEs type them) are accepted.
    """

    unit = ""
    default_error_messages = {
        "invalid": _("请输入数字，例如 12.34。"),
        "too_precise": _("最多保留两位小数。"),
        "too_large": _("数额过大。"),
    }

    def __init__(self, *, max_value: int | None = None, **kwargs):
        self.max_value = max_value  # in hundredths
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        text = text.translate(str.maketrans("０１２３４５６７８９．，", "0123456789.,")).strip()
        if not _PLAIN_NUMBER.match(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if amount.as_tuple().exponent < -2:
            raise forms.ValidationError(self.error_messages["too_precise"], code="too_precise")
        if amount.adjusted() >= MAX_YUAN_DIGITS:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        hundredths = int(amount.scaleb(2))  # exact: at most two decimals
        if self.max_value is not None and hundredths > self.max_value:
            raise forms.ValidationError(self.error_messages["too_large"], code="too_large")
        return hundredths


class YuanField(HundredthsField):
    """Yuan typed, fen stored (STYLE 6)."""


class PercentField(HundredthsField):
    """Per cent typed (``62.5``), basis points stored (``6250``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", 10000)
        super().__init__(**kwargs)


class AmountForm(PortalForm):
    """Renames ``x_yuan`` → ``x_fen`` and ``x_percent`` → ``x_basis_points`` once valid."""

    def clean(self):
        cleaned = super().clean()
        for name in list(cleaned):
            if name.endswith("_yuan"):
                cleaned[name.removesuffix("_yuan") + "_fen"] = cleaned.pop(name)
            elif name.endswith("_percent"):
                cleaned[name.removesuffix("_percent") + "_basis_points"] = cleaned.pop(name)
        return cleaned


class ServiceTypeChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", service_type_choices())
        kwargs.setdefault("empty_label", _("请选择服务项目"))
        super().__init__(*args, **kwargs)


class PeriodField(forms.CharField):
    """A month as ``YYYY-MM`` (``<input type="month">``)."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "2026-11"})

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        period = parse_period(text)
        if period is None or not re.match(r"^\d{4}-\d{2}$", text.strip()):
            raise forms.ValidationError(_("请按“年-月”填写，例如 2026-11。"), code="invalid")
        return period


# --- Filters ------------------------------------------------------------------------------------


class ChargeFilterForm(PortalForm):
    period = PeriodField(label=_("完成月份"), required=False)
    counterpart = FacilityChoiceField(label=_("对方机构"), required=False, queryset=None, empty_label=_("全部机构"))
    service_type = ServiceTypeChoiceField(label=_("服务项目"), required=False, empty_label=_("全部项目"))
    status = forms.ChoiceField(label=_("结算状态"), required=False, choices=_blank(_("全部状态")) + list(CHARGE_STATUSES))
    paid = forms.TypedChoiceField(
        label=_("患者缴费"), required=False, empty_value=None, coerce=lambda v: v == "yes",
        choices=[("", _("全部")), ("yes", _("已登记")), ("no", _("未登记"))],
    )

    def __init__(self, *args, counterparts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["counterpart"].queryset = counterparts


class StatementFilterForm(PortalForm):
    period = PeriodField(label=_("结算月份"), required=False)
    counterpart = FacilityChoiceField(label=_("对方机构"), required=False, queryset=None, empty_label=_("全部机构"))
    state = forms.ChoiceField(label=_("状态"), required=False, choices=_blank(_("全部状态")) + list(StatementState.choices))

    def __init__(self, *args, counterparts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["counterpart"].queryset = counterparts


class PayoutFilterForm(PortalForm):
    month = PeriodField(label=_("月份"), required=False)
    state = forms.ChoiceField(label=_("状态"), required=False, choices=_blank(_("全部状态")) + list(PayoutState.choices))


class RegulatorTotalsFilterForm(PortalForm):
    year = forms.IntegerField(label=_("年度"), required=False, min_value=2018, max_value=2100)
    division = forms.ChoiceField(label=_("邀请方所在区划"), required=False)

    def __init__(self, *args, divisions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["division"].choices = _blank(_("全部（本辖区）")) + list(divisions)


# --- Writes -------------------------------------------------------------------------------------


class ChargePaymentForm(AmountForm):
    """JL-B2 (art. 21, 41, 5): the patient paid the inviting facility."""

    # Optional here so that the service's JL-B2 check names it with its article, with any other reason.
    fiscal_receipt_number = forms.CharField(
        label=_("财政票据号"), max_length=50, required=False, help_text=_("财政部门监制的医疗收费票据号码")
    )
    insurance_yuan = YuanField(label=_("基本医保支付（元）"))
    self_pay_yuan = YuanField(label=_("个人自付（元）"), help_text=_("医保支付与个人自付合计须等于服务费"))
    paid_at = DateTimeFormField(label=_("缴费时间"), widget=DateTimeInput())


class ReverseForm(PortalForm):
    reason = forms.CharField(label=_("冲正原因"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class StatementPaymentForm(PortalForm):
    """JL-B4 (art. 42): the transfer received into the invited facility's dedicated account."""

    bank_reference = forms.CharField(label=_("银行流水号"), max_length=100)
    paid_at = DateTimeFormField(label=_("到账时间"), widget=DateTimeInput())


class PriceStandardForm(AmountForm):
    """JL-B1 (art. 39): the provincial regulator's ceiling per service (and level)."""

    service_type = ServiceTypeChoiceField(label=_("服务项目"))
    facility_level = forms.TypedChoiceField(
        label=_("适用机构级别"), required=False, coerce=int, empty_value=None,
        choices=_blank(_("各级通用")) + list(FacilityLevel.choices),
    )
    max_price_yuan = YuanField(label=_("最高限价（元）"))
    valid_from = forms.DateField(label=_("执行日期"), widget=DateInput())
    valid_until = forms.DateField(label=_("截止日期"), required=False, widget=DateInput(), help_text=_("留空表示长期有效"))
    document_number = forms.CharField(label=_("价格文件文号"), max_length=100, help_text=_("例如 吉发改收费〔2026〕8号"))


class FacilityPriceForm(AmountForm):
    """JL-B1: a facility's own price from a date, within the standard."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    service_type = ServiceTypeChoiceField(label=_("服务项目"))
    price_yuan = YuanField(label=_("收费标准（元）"))
    valid_from = forms.DateField(label=_("执行日期"), widget=DateInput())

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class SettlementAccountForm(PortalForm):
    """JL-B4 (art. 42): the facility's dedicated corporate account, never a person's."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    account_name = forms.CharField(label=_("户名"), max_length=100, help_text=_("须为本机构名称"))
    bank_name = forms.CharField(label=_("开户行"), max_length=100)
    account_number = forms.CharField(label=_("账号"), max_length=40)
    kind = forms.ChoiceField(label=_("账户性质"), choices=AccountKind.choices, initial=AccountKind.CORPORATE)

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class AllocationPolicyForm(AmountForm):
    """JL-B5 (art. 43, 44): at least 60 % of the service fee to medical staff."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    staff_share_percent = PercentField(label=_("医务人员补贴比例（%）"), help_text=_("不得低于 60%（第四十四条），可保留两位小数"))
    valid_from = forms.DateField(label=_("执行日期"), widget=DateInput())
    description = forms.CharField(label=_("分配办法说明"), widget=forms.Textarea(attrs={"rows": 4}))
    document = forms.FileField(label=_("院内文件"), required=False)

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities


class PayoutDraftForm(PortalForm):
    """JL-B6 (art. 43): draft a facility's payout report of a month that has ended."""

    facility = FacilityChoiceField(label=_("机构"), queryset=None)
    month = PeriodField(label=_("月份"))

    def __init__(self, *args, facilities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["facility"].queryset = facilities
