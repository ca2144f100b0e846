"""Pages of random inspections (双随机一公开) and credit records (JL-O6). Thin: reads through
``inspection_selectors`` (out of scope is a 404), writes through ``inspections``.

- Staff pages under /records/inspections/ and /records/credit/ (login): the plans, the roster, one
  plan (draw, verify, publish), one result (findings, rectification), the credit records.
- Public pages under /public/inspections/ and /public/credit/ (no login; ``telemed.public``): the
  published plans with their draws and results, and each accredited facility's grade with its public
  entries. Nothing unpublished, no patient data, no findings detail; rate-limited like the complaint
  pages (``TELEMED_COMPLAINT_RATE`` is for writes; these reads take ``TELEMED_PUBLIC_READ_RATE``).
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from facilities.models import Division, Facility
from telemed.errors import ApplicationError
from telemed.pages import found, paginate, raise_if_denied, submit
from telemed.ratelimit import over_limit
from telemed.scope import Scope

from . import credit, credit_rules, inspection_rules, inspections
from . import inspection_selectors as selectors
from .choices import InspectionResultState
from .complaint_models import HANDLERS
from .inspection_forms import FindingsForm, InspectionPlanForm, InspectorForm, RectifyForm

GET_POST = require_http_methods(["GET", "POST"])


def _flag(result, today) -> None:
    result.overdue = result.state in (InspectionResultState.RECTIFYING, InspectionResultState.RECTIFIED) and \
        inspection_rules.rectification_overdue(
            deadline=result.deadline, today=today,
            rectified_on=timezone.localdate(result.rectified_at) if result.rectified_at else None)


@login_required
@GET_POST
def inspection_list(request):
    """JL-O6: regulators' plans (and a new plan for their own division); everyone's results in scope
    (the inspectors' assignments, the facility's own results with their overdue flags)."""
    scope = Scope.of(request.user)
    own = [code for code, _prefix in scope.regulated]
    form = InspectionPlanForm(request.POST or None, divisions=Division.objects.filter(code__in=own))
    if request.method == "POST" and not own:
        raise PermissionDenied(_("JL-O6 双随机一公开: 随机抽查计划由卫生健康行政部门制定。"))
    plan = submit(form, partial(inspections.inspection_plan_create, actor=request.user))
    if plan is not None:
        messages.success(request, _("随机抽查计划已制定。"))
        return redirect("audit:inspection-plan", pk=plan.pk)
    page = paginate(request, selectors.inspection_result_list(
        user=request.user, facility_id=request.GET.get("facility", ""), state=request.GET.get("state", "")))
    today = timezone.localdate()
    for result in page:
        _flag(result, today)
    return render(request, "audit/inspection_list.html", {
        "plans": selectors.inspection_plan_list(user=request.user)[:50] if scope.is_regulator else [],
        "page": page, "form": form, "may_plan": bool(own), "states": InspectionResultState.choices,
        "state": request.GET.get("state", ""),
    }, status=400 if request.method == "POST" else 200)


@login_required
@GET_POST
def inspection_roster(request):
    """JL-O6: the regulators' rosters of inspectors, with where each works."""
    scope = Scope.of(request.user)
    if not scope.is_regulator:
        raise PermissionDenied(_("JL-O6 双随机一公开: 检查人员名录由卫生健康行政部门维护。"))
    own = [code for code, _prefix in scope.regulated]
    form = InspectorForm(request.POST if request.POST.get("form") == "add" else None,
                         divisions=Division.objects.filter(code__in=own),
                         facilities=Facility.objects.visible_to(request.user).order_by("name"))
    if submit(form, partial(inspections.inspector_add, actor=request.user)):
        messages.success(request, _("已列入检查人员名录。"))
        return redirect("audit:inspection-roster")
    if request.POST.get("form") == "remove":
        chosen = request.POST.get("inspector", "")
        inspector = found(lambda user: selectors.inspector_list(user=user).get(pk=int(chosen) if chosen.isdigit() else 0),
                          user=request.user)
        try:
            inspections.inspector_remove(actor=request.user, inspector=inspector)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("已移出检查人员名录。"))
        return redirect("audit:inspection-roster")
    return render(request, "audit/inspection_roster.html", {
        "inspectors": selectors.inspector_list(user=request.user), "form": form, "own": own,
    }, status=400 if request.method == "POST" else 200)


@login_required
@GET_POST
def inspection_plan(request, pk: int):
    """One plan: scope, the draw (seed, candidate lists, who was drawn), "verify the draw", the results
    and publication (JL-O6)."""
    plan = found(selectors.inspection_plan_detail, user=request.user, pk=pk)
    may_act = Scope.of(request.user).is_division(plan.division_id)
    act = request.POST.get("act") if request.method == "POST" else None
    if act in ("draw", "publish"):
        service = inspections.inspection_draw if act == "draw" else inspections.inspection_publish
        try:
            service(actor=request.user, plan=plan)  # a refusal, of the role too, is on record (JL-A1)
        except ApplicationError as error:
            raise_if_denied(error)
            messages.error(request, error.message)
        else:
            messages.success(request, _("已完成随机抽取。") if act == "draw" else _("抽查结果已公开。"))
        return redirect("audit:inspection-plan", pk=pk)
    today = timezone.localdate()
    results = list(plan.results.all())
    for result in results:
        _flag(result, today)
    return render(request, "audit/inspection_plan.html", {
        "plan": plan, "results": results, "may_act": may_act,
        "verify": inspections.inspection_draw_verify(plan) if request.GET.get("verify") else None,
    })


def _refused_on_record(user, result, posted: str):
    """An act the page did not offer: the service refuses it (the role or the state) and puts the
    refusal on record; the user sees the 403 page with its reason."""
    try:
        if posted == "findings":
            inspections.inspection_findings_enter(actor=user, result=result, severity="", summary="")
        elif posted == "rectify":
            inspections.inspection_rectify(actor=user, result=result, report="")
    except ApplicationError as error:
        raise PermissionDenied(error.message) from error
    raise PermissionDenied(_("JL-O6 双随机一公开: 当前状态下您不能办理此项。"))


@login_required
@GET_POST
def inspection_result(request, pk: int):
    """One drawn facility: its inspectors, the findings form (named inspectors, the plan's regulator),
    the rectification form (the facility's administrators and coordinators)."""
    result = found(selectors.inspection_result_detail, user=request.user, pk=pk)
    scope = Scope.of(request.user)
    may_enter = result.state == InspectionResultState.PENDING and (
        scope.is_division(result.plan.division_id) or any(u.pk == request.user.pk for u in result.inspectors.all()))
    may_rectify = result.state == InspectionResultState.RECTIFYING and scope.has_role(result.facility_id, *HANDLERS)
    posted = request.POST.get("form") if request.method == "POST" else None
    if posted and not ((posted == "findings" and may_enter) or (posted == "rectify" and may_rectify)):
        _refused_on_record(request.user, result, posted)
    findings_form = FindingsForm(request.POST if posted == "findings" else None, prefix="findings")
    rectify_form = RectifyForm(request.POST if posted == "rectify" else None, prefix="rectify")
    if submit(findings_form, partial(inspections.inspection_findings_enter, actor=request.user, result=result)):
        messages.success(request, _("抽查结果已登记。"))
        return redirect("audit:inspection-result", pk=pk)
    if submit(rectify_form, partial(inspections.inspection_rectify, actor=request.user, result=result)):
        messages.success(request, _("已报告整改完成。"))
        return redirect("audit:inspection-result", pk=pk)
    _flag(result, timezone.localdate())
    return render(request, "audit/inspection_result.html", {
        "result": result, "findings_form": findings_form if may_enter else None,
        "rectify_form": rectify_form if may_rectify else None,
    }, status=400 if posted else 200)


@login_required
@require_GET
def credit_list(request):
    """JL-O6: the credit grades of the facilities in the user's scope (a page at a time: one query per
    source for the whole page)."""
    facilities = selectors.credit_facilities(user=request.user)
    scope = Scope.of(request.user)
    if not (scope.is_regulator or scope.facilities_with_role(*HANDLERS)):
        raise PermissionDenied(_("JL-O6: 信用记录由机构的管理人员及其监管部门查看。"))
    page = paginate(request, facilities)
    grades = credit.credit_grades([f.pk for f in page])
    for facility in page:
        facility.credit = grades[facility.pk]
    return render(request, "audit/credit_list.html", {"page": page, "rules": credit_rules})


@login_required
@require_GET
def credit_detail(request, pk: int):
    """JL-O6: one facility's credit record: grade, score and every dated, sourced entry."""
    facility = found(lambda user: selectors.credit_facilities(user=user).get(pk=pk), user=request.user)
    entries = credit.credit_entries([facility.pk])[facility.pk]
    grade = credit_rules.credit_grade(((e.kind, e.on) for e in entries), today=timezone.localdate())
    return render(request, "audit/credit_detail.html", {
        "facility": facility, "entries": entries, "grade": grade, "rules": credit_rules, "public_view": False})


# --- Public pages (no login) --------------------------------------------------------------------


def _limited(request):
    if over_limit("public-read", request, rate=settings.TELEMED_PUBLIC_READ_RATE):
        return render(request, "public/limited.html", {"rate": settings.TELEMED_PUBLIC_READ_RATE}, status=429)
    return None


@require_GET
def public_inspection_list(request):
    """JL-O6 一公开: the published random-inspection plans."""
    return _limited(request) or render(request, "public/inspection_list.html", {
        "page": paginate(request, selectors.public_plan_list())})


@require_GET
def public_inspection_detail(request, pk: int):
    """JL-O6 一公开: one published plan — scope, seed and candidate lists (anyone may verify the draw),
    the facilities inspected, each one's public summary, rectification required and its status."""
    refused = _limited(request)
    if refused is not None:
        return refused
    plan = found(selectors.public_plan_detail, pk=pk)
    today = timezone.localdate()
    results = list(plan.results.all())
    for result in results:
        _flag(result, today)
        result.roster_ids = plan.drawn_assignments.get(str(result.facility_id), [])  # no names: roster numbers
    return render(request, "public/inspection_detail.html", {
        "plan": plan, "results": results,
        "verify": inspections.inspection_draw_verify(plan) if request.GET.get("verify") else None,
    })


@require_GET
def public_credit_list(request):
    """JL-O6: the credit grades of the facilities accredited for telemedicine."""
    refused = _limited(request)
    if refused is not None:
        return refused
    page = paginate(request, selectors.public_credit_facilities())
    grades = credit.credit_grades([f.pk for f in page])
    for facility in page:
        facility.credit = grades[facility.pk]
    return render(request, "public/credit_list.html", {"page": page, "rules": credit_rules})


@require_GET
def public_credit_detail(request, pk: int):
    """JL-O6: one accredited facility's grade and its public entries (inspections, substantiated
    complaints, suspensions; never a violation)."""
    refused = _limited(request)
    if refused is not None:
        return refused
    facility = found(lambda: selectors.public_credit_facilities().get(pk=pk))
    grade = credit.credit_grades([facility.pk])[facility.pk]
    entries = credit.credit_entries([facility.pk], public_only=True)[facility.pk]
    return render(request, "public/credit_detail.html", {
        "facility": facility, "entries": entries, "grade": grade, "rules": credit_rules, "public_view": True})
