"""Per-person payout pages (JL-B6, art. 43): the finance officer's reports and each person's own lines.

Thin like the rest of ``billing.views``: reads through ``selectors`` (a report outside the user's
scope is a 404 — for a clinician too, whose own lines are on "my payouts" — its export included),
writes through one service. Finance officers and
administrators of a facility see its reports with every line and may draft them; only a finance
officer confirms. Regulators of the division see the reports' totals, never a person's line.
Every user who is a physician sees "my payouts": their own lines, nobody else's.
"""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from facilities.choices import StaffRole
from telemed.pages import filter_values as _filters
from telemed.pages import found as _found
from telemed.pages import paginate as _paginate
from telemed.scope import Scope

from .. import exports, rules, selectors, services
from ..choices import PayoutState
from ..forms import PayoutDraftForm, PayoutFilterForm
from . import _act, _finance_facilities, _render, _require_finance_view, _with_yuan, _Yuan

FINANCE = StaffRole.FINANCE
ADMIN = StaffRole.FACILITY_ADMIN


def _last_month() -> str:
    return f"{rules.previous_month(rules.month_of(timezone.now())):%Y-%m}"


@login_required
def payout_list(request):
    scope = _require_finance_view(request)
    form = PayoutFilterForm(request.GET or None)
    f = _filters(form)
    page_obj = _paginate(request, selectors.payout_report_list(user=request.user, month=f.get("month"), state=f.get("state", "")))
    _with_yuan(page_obj)
    draft_form = None
    if scope.facilities_with_role(FINANCE, ADMIN):
        facilities = _finance_facilities(request)
        draft_form = PayoutDraftForm(initial={"facility": facilities.first(), "month": _last_month()}, facilities=facilities)
    return _render(request, "billing/payout_list.html", {"form": form, "page_obj": page_obj, "draft_form": draft_form})


@login_required
@require_POST
def payout_draft(request):
    """Draft (or re-draft) a report; a refusal (month not ended, no policy) is shown as a message."""
    _require_finance_view(request)
    form = PayoutDraftForm(request.POST, facilities=_finance_facilities(request))
    if not form.is_valid():
        for errors in form.errors.values():
            for text in errors:
                messages.error(request, text)
        return redirect("billing:payout-list")
    holder = {}

    def write():
        holder["report"] = services.payout_report_draft(actor=request.user, **form.cleaned_data)

    response = _act(request, write, _("已生成绩效分配表。"), redirect("billing:payout-list"))
    return redirect("billing:payout-detail", pk=holder["report"].pk) if "report" in holder else response


@login_required
def payout_detail(request, pk: int):
    report = _found(selectors.payout_report_detail, user=request.user, pk=pk)
    lines = list(selectors.payout_lines(user=request.user, report=report))
    scope = Scope.of(request.user)
    context = {
        "report": report,
        "money": _Yuan(report),
        "lines": [(line, _Yuan(line)) for line in lines],
        "persons": [(person, _Yuan(person)) for person in selectors.person_totals(lines)],
        "reconciliation": [rules.payout_reconcile_check(lines_total_fen=report.lines_total_fen, staff_total_fen=report.staff_total_fen)],
        "can_confirm": report.state == PayoutState.DRAFT and scope.has_role(report.facility_id, FINANCE),
        "can_export": scope.has_role(report.facility_id, FINANCE, ADMIN),
        "exports": [("csv", "CSV"), ("xlsx", "Excel")],
    }
    return _render(request, "billing/payout_detail.html", context)


@login_required
@require_POST
def payout_confirm(request, pk: int):
    """The facility's finance officer confirms; the service checks the reconciliation (JL-B6)."""
    report = _found(selectors.payout_report_detail, user=request.user, pk=pk)
    return _act(
        request, partial(services.payout_report_confirm, actor=request.user, report=report), _("已确认绩效分配表。"),
        redirect("billing:payout-detail", pk=pk),
    )


@login_required
def payout_export(request, pk: int, fmt: str):
    """CSV (UTF-8 with BOM) or Excel of a report, for the facility's finance staff; audited."""
    if fmt not in exports.PAYOUT_FORMATS:
        raise Http404(_("不支持的导出格式。"))
    report = _found(selectors.payout_report_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    if not scope.has_role(report.facility_id, FINANCE, ADMIN):
        raise PermissionDenied(_("JL-B6 第四十三条: 绩效分配表明细仅供本机构财务人员导出。"))
    lines = list(selectors.payout_lines(user=request.user, report=report))
    content, content_type, name = exports.render_payout(report, lines, selectors.person_totals(lines), fmt)
    services.payout_export_record(actor=request.user, report=report, fmt=fmt, lines=len(lines))
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response


@login_required
def my_payouts(request):
    """我的绩效: the user's own lines only, newest month first, with the total per month."""
    form = PayoutFilterForm(request.GET or None)
    f = _filters(form)
    page_obj = _paginate(request, selectors.my_payout_lines(user=request.user, month=f.get("month")))
    rows = [(line, _Yuan(line)) for line in page_obj]
    return _render(request, "billing/my_payouts.html", {"form": form, "page_obj": page_obj, "rows": rows})
