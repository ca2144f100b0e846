"""Pages of the yearly evaluation (JL-O3, art. 45–47), under /facilities/evaluation/.

Thin: reads through ``evaluation``'s selectors (out of scope is a 404), writes through its services
(a refusal shows its message; a role refusal is the 403 page). No patient data: figures only.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from telemed.errors import ApplicationError
from telemed.pages import error_texts, raise_if_denied, submit
from telemed.scope import Scope

from . import evaluation as ev
from . import evaluation_exports as exports
from . import evaluation_rules as rules
from .evaluation_forms import EvaluationAdjustForm, EvaluationFormulaForm, EvaluationStartForm
from .models import EvaluationFormula

GET_POST = require_http_methods(["GET", "POST"])


def _may_see(user) -> bool:
    scope = Scope.of(user)
    return scope.is_regulator or bool(scope.facility_ids)


@login_required
@GET_POST
def evaluation_list(request):
    """The rounds the user may see; the province and the cities start their year here (art. 45)."""
    if not _may_see(request.user):
        raise PermissionDenied(_("JL-O3 第四十五条: 年度评价考核结果供卫生健康行政部门和被评价机构查看。"))
    divisions = ev.startable_divisions(request.user)
    form = EvaluationStartForm(request.POST if request.method == "POST" and divisions else None,
                               divisions=ev.Division.objects.filter(pk__in=[d.pk for d in divisions]),
                               default_year=timezone.localdate().year - 1)
    started = submit(form, lambda **data: ev.evaluation_start(actor=request.user, **data))
    if started is not None:
        messages.success(request, _("已计算 %(y)s 年度的初评等次，请审核后公布。") % {"y": started.year})
        return redirect("facilities:evaluation-round", pk=started.pk)
    context = {
        "rounds": ev.round_list(user=request.user),
        "form": form if divisions else None,
        "formula": EvaluationFormula.objects.order_by("-version").first(),
        "is_regulator": Scope.of(request.user).is_regulator,
    }
    return render(request, "facilities/evaluation/list.html", context, status=400 if form.is_bound else 200)


@login_required
def evaluation_round(request, pk: int):
    """One year's results in the user's scope (JL-O1); the evaluating regulator reviews and publishes."""
    round_ = ev.round_detail(user=request.user, pk=pk)
    results = list(ev.round_results(user=request.user, round_=round_))
    if not results and not Scope.of(request.user).is_regulator:
        raise Http404
    context = {
        "round": round_, "results": results, "may_grade": ev.may_grade(request.user, round_),
        "columns": exports.columns(), "rows": zip(results, exports.rows(results), strict=True),
    }
    return render(request, "facilities/evaluation/round.html", context)


@login_required
@require_POST
def evaluation_publish(request, pk: int):
    round_ = ev.round_detail(user=request.user, pk=pk)
    try:
        ev.evaluation_publish(actor=request.user, round_=round_)
    except ApplicationError as error:
        raise_if_denied(error)
        for text in error_texts(error):
            messages.error(request, text)
    else:
        messages.success(request, _("%(y)s 年度评价考核结果已公布。") % {"y": round_.year})
    return redirect("facilities:evaluation-round", pk=round_.pk)


@login_required
def evaluation_export(request, pk: int, fmt: str):
    """The results in the user's scope as Excel or PDF, as a regulator files them; on record."""
    round_ = ev.round_detail(user=request.user, pk=pk)
    if fmt not in exports.CONTENT_TYPES:
        raise Http404
    results = list(ev.round_results(user=request.user, round_=round_))
    if not results and not Scope.of(request.user).is_regulator:
        raise Http404
    body = exports.results_xlsx(round_, results) if fmt == "xlsx" else exports.results_pdf(round_, results)
    ev.evaluation_export_record(actor=request.user, round_=round_, fmt=fmt, rows=len(results))
    response = HttpResponse(body, content_type=exports.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="evaluation-{round_.year}-{round_.division_id}.{fmt}"'
    return response


@login_required
@GET_POST
def evaluation_result(request, pk: int):
    """One facility's year: the figures, the part scores, the grade, the art. 47 consequences; the
    evaluating regulator may adjust the grade with a reason before publication."""
    result = ev.result_detail(user=request.user, pk=pk)
    may_adjust = ev.may_grade(request.user, result.round) and not result.round.published
    form = EvaluationAdjustForm(request.POST if request.method == "POST" else None, initial={"grade": result.grade})
    if request.method == "POST" and submit(form, lambda **data: ev.evaluation_adjust(actor=request.user, result=result, **data)):
        messages.success(request, _("等次已调整，初评等次保留备查。"))
        return redirect("facilities:evaluation-result", pk=result.pk)
    thresholds = result.round.formula.thresholds
    weights = result.round.formula.weights
    parts = [(key, label, rule, weights.get(key), result.parts.get(key)) for key, (label, rule) in rules.PARTS.items()]
    inputs = [(label, result.inputs.get(key)) for key, label in rules.INPUTS.items()]
    context = {"result": result, "round": result.round, "parts": parts, "inputs": inputs, "thresholds": thresholds,
               "form": form if may_adjust else None}
    return render(request, "facilities/evaluation/result.html", context, status=400 if form.is_bound else 200)


@login_required
@GET_POST
def evaluation_formulas(request):
    """The formula's versions; the province publishes a new one (JL-O3, art. 45)."""
    scope = Scope.of(request.user)
    if not scope.is_regulator:
        raise PermissionDenied(_("JL-O3 第四十五条: 年度评价考核办法由卫生健康行政部门查看，省卫生健康委发布。"))
    formulas = list(EvaluationFormula.objects.select_related("published_by").order_by("-version")[:20])
    current = formulas[0] if formulas else None
    form = None
    if scope.is_provincial_regulator:
        form = EvaluationFormulaForm(request.POST if request.method == "POST" else None, current=current)
        if form.is_bound and form.is_valid():
            try:
                formula = ev.evaluation_formula_publish(actor=request.user, **form.formula())
            except ApplicationError as error:
                raise_if_denied(error)
                for text in error_texts(error):
                    form.add_error(None, text)
            else:
                messages.success(request, _("考核办法 v%(v)s 已发布。") % {"v": formula.version})
                return redirect("facilities:evaluation-formulas")
    elif request.method == "POST":
        raise PermissionDenied(_("JL-O3 第四十五条: 年度评价考核办法（权重和标准）由省卫生健康委发布。"))
    context = {"formulas": formulas, "form": form, "parts": rules.PARTS, "threshold_labels": rules.THRESHOLDS}
    return render(request, "facilities/evaluation/formulas.html", context, status=400 if form is not None and form.is_bound else 200)
