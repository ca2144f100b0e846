"""Finance officers' and regulators' pages for prices, charges, statements, accounts and policies.

Thin on purpose (STYLE), in the pattern of ``facilities.views``: every read goes through
``selectors.py`` (already scoped, so an object outside the user's scope is a 404, exports
included), every write through one call to ``services.py``. A refusal is shown on the form with
every reason it cites, keeping what the user typed; a ``permission_denied`` refusal is the 403 page.

Who sees what: finance officers (财务人员) and facility administrators of a party see its charges
and statements; regulators see their division's (JL-O1) and the totals page; price standards are
public to every logged-in user. The services decide who may write.
"""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from facilities.choices import StaffRole
from facilities.forms import jilin_division_choices
from facilities.models import Division, Facility, service_label
from telemed.errors import ApplicationError
from telemed.pages import filter_values as _filters
from telemed.pages import found as _found
from telemed.pages import paginate as _paginate
from telemed.pages import raise_if_denied as _raise_if_denied
from telemed.pages import reason_texts as _reason_texts
from telemed.pages import submit as _submit
from telemed.scope import Scope

from .. import exports, rules, selectors, services
from ..choices import StatementState
from ..forms import (
    AllocationPolicyForm,
    ChargeFilterForm,
    ChargePaymentForm,
    FacilityPriceForm,
    PriceStandardForm,
    RegulatorTotalsFilterForm,
    ReverseForm,
    SettlementAccountForm,
    StatementFilterForm,
    StatementPaymentForm,
)

PAGE_SIZE = 25
FINANCE = StaffRole.FINANCE
ADMIN = StaffRole.FACILITY_ADMIN
GET_POST = require_http_methods(["GET", "POST"])
STATUS_LABELS = dict(selectors.CHARGE_STATUSES)


# --- Plumbing -------------------------------------------------------------------------------


class _Yuan:
    """``row.yuan.fee_fen`` in a template → ``¥150.01`` via ``rules.yuan``; blank for None."""

    def __init__(self, obj):
        self._obj = obj

    def __getitem__(self, name: str) -> str:
        value = getattr(self._obj, name)
        return "" if value is None else rules.yuan(value)


def _with_yuan(rows):
    for row in rows:
        row.yuan = _Yuan(row)
    return rows


def _act(request, write, done: str, redirect_to):
    """A button without a form: a refusal and its reasons become error messages."""
    try:
        write()
    except ApplicationError as error:
        _raise_if_denied(error)
        for text in _reason_texts(error) or [error.message]:
            messages.error(request, text)
    else:
        messages.success(request, done)
    return redirect_to


def _require_finance_view(request) -> Scope:
    """Charges, statements, accounts and policies: finance officers, administrators, regulators."""
    scope = Scope.of(request.user)
    if not (scope.is_regulator or scope.facilities_with_role(FINANCE, ADMIN)):
        raise PermissionDenied(_("只有机构财务人员、机构管理员或卫生健康行政部门可以查看费用结算。"))
    return scope


def _finance_facilities(request):
    """The facilities for which the user may write money records."""
    scope = Scope.of(request.user)
    queryset = Facility.objects.visible_to(request.user).order_by("division_id", "name")
    return queryset.filter(id__in=scope.facilities_with_role(FINANCE, ADMIN))


def _initial_facility(request) -> dict:
    own = Scope.of(request.user).facilities_with_role(FINANCE, ADMIN)
    return {"facility": own[0]} if own else {}


def _counterparts(request):
    return Facility.objects.visible_to(request.user).order_by("division_id", "name")


def _local_now():
    return timezone.localtime().replace(second=0, microsecond=0)


def _tabs(request) -> list[tuple[str, str, bool]]:
    """The billing pages this user may use: (label, url, current), shown above every billing page."""
    scope = Scope.of(request.user)
    finance = bool(scope.facilities_with_role(FINANCE, ADMIN))
    tabs = []
    if finance or scope.is_regulator:
        tabs += [
            (_("结算单"), "billing:statement-list"),
            (_("服务收费"), "billing:charge-list"),
        ]
    tabs += [(_("价格标准"), "billing:standard-list"), (_("机构收费标准"), "billing:price-list")]
    if finance or scope.is_regulator:
        tabs += [(_("结算专户"), "billing:account-list"), (_("绩效分配办法"), "billing:allocation-list")]
    if finance or scope.is_regulator:
        tabs.append((_("绩效分配表"), "billing:payout-list"))
    if scope.is_regulator:
        tabs.append((_("结算统计"), "billing:regulator-totals"))
    tabs.append((_("我的绩效"), "billing:my-payouts"))
    here = request.resolver_match.url_name if request.resolver_match else ""
    family = here.split("-")[0]
    return [(label, reverse(name), name.split(":")[1].split("-")[0] == family) for label, name in tabs]


def _render(request, template: str, context: dict, *, status: int = 200):
    return render(request, template, {**context, "billing_tabs": _tabs(request)}, status=status)


@login_required
def index(request):
    scope = Scope.of(request.user)
    if scope.facilities_with_role(FINANCE, ADMIN):
        return redirect("billing:statement-list")
    if scope.is_regulator:
        return redirect("billing:regulator-totals")
    return redirect("billing:standard-list")


# --- Charges (JL-B2, JL-B3) -----------------------------------------------------------------


@login_required
def charge_list(request):
    scope = _require_finance_view(request)
    form = ChargeFilterForm(request.GET or None, counterparts=_counterparts(request))
    f = _filters(form)
    service_type = f.get("service_type")
    counterpart = f.get("counterpart")
    queryset = selectors.charge_list(
        user=request.user, period=f.get("period"), counterpart_id=counterpart.pk if counterpart else None,
        service_type=service_type.pk if service_type else "", status=f.get("status", ""), paid=f.get("paid"),
    )
    page_obj = _paginate(request, queryset)
    for charge in _with_yuan(page_obj):
        charge.status = selectors.charge_status(charge)
        charge.status_label = STATUS_LABELS[charge.status]
        may = scope.has_role(charge.inviting_id, FINANCE, ADMIN)
        charge.can_pay = may and charge.paid_at is None and charge.status != selectors.REVERSED
        charge.can_reverse = may and charge.status != selectors.REVERSED
    return _render(request, "billing/charge_list.html", {"form": form, "page_obj": page_obj})


def _charge_page(request, pk: int, form_class, service, template: str, done: str, **form_kwargs):
    _require_finance_view(request)
    charge = _found(selectors.charge_detail, user=request.user, pk=pk)
    form = form_class(request.POST or None, **form_kwargs)
    if _submit(form, partial(service, actor=request.user, charge=charge)):
        messages.success(request, done % {"number": charge.consultation.number})
        return redirect("billing:charge-list")
    _with_yuan([charge])
    return _render(request, template, {"charge": charge, "form": form})


@login_required
@GET_POST
def charge_payment(request, pk: int):
    """JL-B2 (art. 21, 41, 5): receipt number, insurance and self-pay apart, typed in yuan."""
    return _charge_page(
        request, pk, ChargePaymentForm, services.charge_record_payment, "billing/charge_payment.html",
        _("已登记 %(number)s 的患者缴费。"), initial={"paid_at": _local_now()},
    )


@login_required
@GET_POST
def charge_reverse(request, pk: int):
    return _charge_page(
        request, pk, ReverseForm, services.charge_reverse, "billing/charge_reverse.html",
        _("%(number)s 的收费已冲正，将在本月结算单中扣减。"),
    )


# --- Statements (JL-B4) ---------------------------------------------------------------------


@login_required
def statement_list(request):
    _require_finance_view(request)
    form = StatementFilterForm(request.GET or None, counterparts=_counterparts(request))
    f = _filters(form)
    counterpart = f.get("counterpart")
    queryset = selectors.statement_list(
        user=request.user, period=f.get("period"), counterpart_id=counterpart.pk if counterpart else None,
        state=f.get("state", ""),
    )
    page_obj = _paginate(request, queryset)
    _with_yuan(page_obj)
    return _render(request, "billing/statement_list.html", {"form": form, "page_obj": page_obj})


def _statement_page(request, statement, *, payment_form=None, status: int = 200):
    scope = Scope.of(request.user)
    lines = exports.statement_lines(statement)
    sides = [  # (side, facility, confirmed at, confirmed by)
        (_("邀请方"), statement.inviting, statement.inviting_confirmed_at, statement.inviting_confirmed_by),
        (_("受邀方"), statement.invited, statement.invited_confirmed_at, statement.invited_confirmed_by),
    ]
    can_confirm = statement.state == StatementState.DRAFT and any(
        confirmed_at is None and scope.has_role(facility.pk, FINANCE) for _side, facility, confirmed_at, _by in sides
    )
    can_pay = statement.state == StatementState.CONFIRMED and scope.has_role(statement.invited_id, FINANCE)
    if payment_form is None and can_pay:
        payment_form = StatementPaymentForm(initial={"paid_at": _local_now()})
    context = {
        "statement": statement,
        "money": _Yuan(statement),
        # The service as named in the reader's language (built-in art. 3 services are translated).
        "lines": [(line, _Yuan(line), service_label(line.service_type)) for line in lines],
        "reconciliation": [selectors.statement_reconciliation(statement)],
        "computed": _Yuan(selectors.computed_totals(statement)),
        "payee": exports.payee_text(
            statement, full_account=selectors.may_see_payee_account(user=request.user, statement=statement), translate=_),
        "sides": sides,
        "can_confirm": can_confirm,
        "payment_form": payment_form,
        "exports": [("csv", "CSV"), ("xlsx", "Excel"), ("pdf", "PDF")],
    }
    return _render(request, "billing/statement_detail.html", context, status=status)


@login_required
def statement_detail(request, pk: int):
    _require_finance_view(request)
    statement = _found(selectors.statement_detail, user=request.user, pk=pk)
    return _statement_page(request, statement)


@login_required
@require_POST
def statement_confirm(request, pk: int):
    """Each side's finance officer confirms (JL-B4); the service checks the reconciliation."""
    _require_finance_view(request)
    statement = _found(selectors.statement_detail, user=request.user, pk=pk)
    return _act(
        request,
        partial(services.statement_confirm, actor=request.user, statement=statement),
        _("已确认结算单。"),
        redirect("billing:statement-detail", pk=pk),
    )


@login_required
@require_POST
def statement_payment(request, pk: int):
    """The invited side's finance officer records the transfer with the bank reference (JL-B4)."""
    _require_finance_view(request)
    statement = _found(selectors.statement_detail, user=request.user, pk=pk)
    form = StatementPaymentForm(request.POST)
    if _submit(form, partial(services.statement_record_payment, actor=request.user, statement=statement)):
        messages.success(request, _("已登记结算单付款。"))
        return redirect("billing:statement-detail", pk=pk)
    return _statement_page(request, statement, payment_form=form, status=400)


@login_required
def statement_export(request, pk: int, fmt: str):
    """CSV, Excel or PDF of a statement the user may see; anything else is a 404."""
    if fmt not in exports.CONTENT_TYPES:
        raise Http404(_("不支持的导出格式。"))
    _require_finance_view(request)
    statement = _found(selectors.statement_detail, user=request.user, pk=pk)
    content, content_type, name = exports.render(
        statement, fmt, full_account=selectors.may_see_payee_account(user=request.user, statement=statement))
    services.statement_export_record(actor=request.user, statement=statement, fmt=fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response


# --- Prices (JL-B1) -------------------------------------------------------------------------


@login_required
def standard_list(request):
    page_obj = _paginate(request, selectors.price_standard_list(user=request.user))
    _with_yuan(page_obj)
    can_publish = Scope.of(request.user).is_provincial_regulator
    return _render(request, "billing/standard_list.html", {"page_obj": page_obj, "can_publish": can_publish, "today": timezone.localdate()})


@login_required
@GET_POST
def standard_create(request):
    """JL-B1 (art. 39): only the provincial regulator publishes standards."""
    if not Scope.of(request.user).is_provincial_regulator:
        raise PermissionDenied(_("JL-B1 第三十九条: 价格标准由省卫生健康行政部门会同物价部门公布。"))
    form = PriceStandardForm(request.POST or None)
    standard = _submit(form, partial(services.price_standard_publish, actor=request.user))
    if standard is not None:
        messages.success(request, _("已公布 %(service)s 的价格标准。") % {"service": standard.service_type.label})
        return redirect("billing:standard-list")
    return _render(request, "billing/standard_form.html", {"form": form})


@login_required
def price_list(request):
    scope = Scope.of(request.user)
    page_obj = _paginate(request, selectors.facility_price_list(user=request.user))
    for price in _with_yuan(page_obj):
        price.standard_yuan = rules.yuan(price.standard.max_price_fen)
    can_set = bool(scope.facilities_with_role(FINANCE, ADMIN))
    return _render(request, "billing/price_list.html", {"page_obj": page_obj, "can_set": can_set})


@login_required
@GET_POST
def price_create(request):
    """A facility's price within the standard; a JL-B1 refusal is shown on the form."""
    scope = Scope.of(request.user)
    if not scope.facilities_with_role(FINANCE, ADMIN):
        raise PermissionDenied(_("只有本机构财务人员或机构管理员可以设定收费标准。"))
    form = FacilityPriceForm(
        request.POST or None, initial={**_initial_facility(request), "valid_from": timezone.localdate()},
        facilities=_finance_facilities(request),
    )
    price = _submit(form, partial(services.facility_price_set, actor=request.user))
    if price is not None:
        messages.success(
            request, _("%(facility)s 的 %(service)s 收费标准已设定为 %(price)s。")
            % {"facility": price.facility.name, "service": price.service_type.label, "price": rules.yuan(price.price_fen)},
        )
        return redirect("billing:price-list")
    standards = selectors.price_standard_list(user=request.user, in_force_on=timezone.localdate())
    return _render(request, "billing/price_form.html", {"form": form, "standards": _with_yuan(list(standards))})


# --- Settlement accounts (JL-B4) and allocation policies (JL-B5) ----------------------------


@login_required
def account_list(request):
    scope = _require_finance_view(request)
    page_obj = _paginate(request, selectors.settlement_account_list(user=request.user))
    for account in page_obj:
        account.masked = exports.mask_account(account.account_number)
    can_register = bool(scope.facilities_with_role(FINANCE, ADMIN))
    return _render(request, "billing/account_list.html", {"page_obj": page_obj, "can_register": can_register})


@login_required
@GET_POST
def account_create(request):
    """JL-B4 (art. 42): a personal account or a physician's name is refused (and audited)."""
    scope = Scope.of(request.user)
    if not scope.facilities_with_role(FINANCE, ADMIN):
        raise PermissionDenied(_("只有本机构财务人员或机构管理员可以登记结算专户。"))
    form = SettlementAccountForm(request.POST or None, initial=_initial_facility(request), facilities=_finance_facilities(request))
    account = _submit(form, partial(services.settlement_account_register, actor=request.user))
    if account is not None:
        messages.success(request, _("已登记 %(facility)s 的远程医疗结算专户。") % {"facility": account.facility.name})
        return redirect("billing:account-list")
    return _render(request, "billing/account_form.html", {"form": form})


@login_required
def allocation_list(request):
    scope = _require_finance_view(request)
    page_obj = _paginate(request, selectors.allocation_policy_list(user=request.user))
    for policy in page_obj:
        whole, rest = divmod(policy.staff_share_basis_points, 100)
        policy.percent = f"{whole}.{rest:02d}%"
    can_adopt = bool(scope.facilities_with_role(FINANCE, ADMIN))
    return _render(request, "billing/allocation_list.html", {"page_obj": page_obj, "can_adopt": can_adopt})


@login_required
@GET_POST
def allocation_create(request):
    """JL-B5 (art. 43, 44): at least 60 % to medical staff, typed as a percentage."""
    scope = Scope.of(request.user)
    if not scope.facilities_with_role(FINANCE, ADMIN):
        raise PermissionDenied(_("只有本机构财务人员或机构管理员可以登记分配办法。"))
    form = AllocationPolicyForm(
        request.POST or None, request.FILES or None, initial=_initial_facility(request), facilities=_finance_facilities(request)
    )
    policy = _submit(form, partial(services.allocation_policy_adopt, actor=request.user))
    if policy is not None:
        messages.success(request, _("已登记 %(facility)s 的院内分配办法。") % {"facility": policy.facility.name})
        return redirect("billing:allocation-list")
    return _render(request, "billing/allocation_form.html", {"form": form})


# --- Regulators (JL-O1) ---------------------------------------------------------------------


def _regulated_division_choices(scope: Scope) -> list[tuple[str, str]]:
    choices = jilin_division_choices()
    if scope.is_provincial_regulator:
        return choices
    return [(code, name) for code, name in choices if any(code.startswith(prefix) for prefix in scope.prefixes)]


@login_required
def regulator_totals(request):
    """Fees by the inviting facility's division and month, for regulators (one aggregate query)."""
    scope = Scope.of(request.user)
    if not scope.is_regulator:
        raise PermissionDenied(_("结算统计仅供卫生健康行政部门查看。"))
    divisions = _regulated_division_choices(scope)
    form = RegulatorTotalsFilterForm(request.GET or None, divisions=divisions)
    f = _filters(form)
    division = Division.objects.filter(code=f.get("division") or None).first()
    rows = selectors.regulator_totals(user=request.user, year=f.get("year"), division_prefix=division.prefix if division else "")
    grand = rules.Totals(
        sum(r.count for r in rows), sum(r.fee_fen for r in rows), sum(r.inviting_share_fen for r in rows),
        sum(r.invited_share_fen for r in rows),
    )
    context = {
        "form": form,
        "rows": [(row, _Yuan(row)) for row in rows],
        "grand": grand,
        "grand_money": _Yuan(grand),
        "grand_reversed": rules.yuan(sum(r.reversed_fee_fen for r in rows)),
        "grand_net": rules.yuan(sum(r.net_fee_fen for r in rows)),
    }
    return _render(request, "billing/regulator_totals.html", context)


# JL-B6 per-person payouts live in their own module (this one would pass 600 lines).
from .payouts import my_payouts, payout_confirm, payout_detail, payout_draft, payout_export, payout_list  # noqa: E402, F401
