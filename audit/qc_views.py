"""Pages of quality control (JL-O2, art. 26, 27), under /records/qc/ (namespace ``audit``).

Thin: reads through ``audit.selectors`` (out of scope is a 404), writes through ``audit.qc``. The
pages name sampled cases by request number only; reviewers read a case on its own page, which logs
every read (JL-C8).
"""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from facilities.models import Division
from telemed.pages import found, submit
from telemed.scope import Scope

from . import qc, rules, selectors
from .models import QCChecklist
from .qc_forms import QCAnswerForm, QCAssignForm, QCChecklistForm, QCDrawForm, QCPlanForm, QCScoreForm

GET_POST = require_http_methods(["GET", "POST"])


@login_required
@GET_POST
def qc_plan_list(request):
    """A regulator's plans and draws; the regulator's own divisions may add plans and draw; the
    province publishes the checklist (JL-O2)."""
    scope = Scope.of(request.user)
    if not scope.is_regulator:
        raise PermissionDenied(_("JL-O2 第二十六条: 质控计划由卫生健康行政部门制定。"))
    own = [code for code, _prefix in scope.regulated]
    plans = selectors.qc_plan_list(user=request.user)
    posted = request.POST.get("form") if request.method == "POST" else None
    plan_form = QCPlanForm(request.POST if posted == "plan" else None, prefix="plan",
                           divisions=Division.objects.filter(code__in=own))
    draw_form = QCDrawForm(request.POST if posted == "draw" else None, prefix="draw",
                           plans=plans.filter(division_id__in=own, active=True))
    checklist_form = QCChecklistForm(request.POST if posted == "checklist" and scope.is_provincial_regulator else None,
                                     prefix="checklist")
    if submit(plan_form, partial(qc.qc_plan_create, actor=request.user)):
        messages.success(request, _("质控计划已制定。"))
        return redirect("audit:qc-plan-list")
    draw = submit(draw_form, partial(qc.qc_draw, actor=request.user))
    if draw is not None:
        messages.success(request, _("已完成随机抽样。"))
        return redirect("audit:qc-draw-detail", pk=draw.pk)
    if submit(checklist_form, partial(qc.qc_checklist_define, actor=request.user)):
        messages.success(request, _("质控评分表已发布。"))
        return redirect("audit:qc-plan-list")
    context = {
        "plans": plans,
        "draws": selectors.qc_draw_list(user=request.user)[:50],
        "checklist": QCChecklist.objects.order_by("-version").first(),
        "may_plan": bool(own),
        "is_province": scope.is_provincial_regulator,
        "plan_form": plan_form,
        "draw_form": draw_form,
        "checklist_form": checklist_form,
    }
    return render(request, "audit/qc_plan_list.html", context, status=400 if posted else 200)


@login_required
@GET_POST
def qc_draw_detail(request, pk: int):
    """One draw: its seed, the population query, the drawn cases, the "reproduce" check and the
    assignment of reviewers (JL-O2, art. 26)."""
    draw = found(lambda user: selectors.qc_draw_list(user=user).get(pk=pk), user=request.user)
    reviews = draw.reviews.select_related("consultation", "reviewer", "facility").order_by("consultation_id")
    may_assign = Scope.of(request.user).is_division(draw.plan.division_id)
    form = QCAssignForm(request.POST if request.method == "POST" and may_assign else None, reviews=reviews)
    if form.is_bound and form.is_valid():
        reviewer = get_user_model().objects.filter(username=form.cleaned_data["reviewer"], is_active=True).first()
        if reviewer is None:
            form.add_error("reviewer", _("JL-O2 第二十六条: 没有这个用户。"))
        elif submit(form, lambda **_data: qc.qc_reviewer_assign(actor=request.user, review=form.cleaned_data["review"],
                                                               reviewer=reviewer)):
            messages.success(request, _("已指定质控专家。"))
            return redirect("audit:qc-draw-detail", pk=pk)
    context = {
        "draw": draw,
        "reviews": reviews,
        "check": qc.qc_draw_reproduces(draw),
        "may_assign": may_assign and draw.review_until > timezone.now(),
        "form": form,
    }
    return render(request, "audit/qc_draw_detail.html", context, status=400 if form.is_bound else 200)


def _flag(review, now):
    review.overdue = rules.qc_answer_overdue(answer_due=review.answer_due, answered_at=review.answered_at, now=now)
    return review


@login_required
def qc_review_list(request):
    """The reviewer's cases to score, and the facility's scores and feedback with overdue answers flagged."""
    now = timezone.now()
    reviews = [_flag(r, now) for r in selectors.qc_review_list(user=request.user)[:200]]
    context = {
        "to_score": [r for r in reviews if r.reviewer_id == request.user.pk],
        "feedback": [r for r in reviews if r.reviewer_id != request.user.pk and r.submitted_at is not None],
        "pending": [r for r in reviews if r.reviewer_id != request.user.pk and r.submitted_at is None],
    }
    return render(request, "audit/qc_review_list.html", context)


@login_required
@GET_POST
def qc_review_detail(request, pk: int):
    """One sampled case's review: the reviewer's scoring form, the scores and feedback, and the
    facility's corrective-action answer (JL-O2, art. 27)."""
    review = found(lambda user: selectors.qc_review_list(user=user).get(pk=pk), user=request.user)
    now = timezone.now()
    items = review.draw.checklist.items
    may_score = review.reviewer_id == request.user.pk and review.submitted_at is None and review.draw.review_until > now
    may_answer = (review.submitted_at is not None and review.answered_at is None
                  and Scope.of(request.user).has_role(review.facility_id, *qc.ANSWERERS))
    posting = request.method == "POST"
    score_form = QCScoreForm(request.POST if posting and may_score else None, items=items)
    answer_form = QCAnswerForm(request.POST if posting and may_answer else None)
    if score_form.is_bound and score_form.is_valid() and submit(
        score_form, lambda **_data: qc.qc_review_submit(actor=request.user, review=review, **score_form.service_arguments())
    ):
        messages.success(request, _("评分与反馈已提交。"))
        return redirect("audit:qc-review-detail", pk=pk)
    if submit(answer_form, partial(qc.qc_answer, actor=request.user, review=review)):
        messages.success(request, _("整改情况已答复。"))
        return redirect("audit:qc-review-detail", pk=pk)
    scored = [{**item, "score": review.scores.get(str(item["code"]))} for item in items]
    context = {
        "review": _flag(review, now),
        "scored": scored,
        "may_read_case": review.reviewer_id == request.user.pk and review.draw.review_until > now,
        "may_score": may_score,
        "may_answer": may_answer,
        "score_form": score_form,
        "answer_form": answer_form,
    }
    return render(request, "audit/qc_review_detail.html", context, status=400 if posting else 200)
