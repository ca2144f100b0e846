"""Services of quality control (JL-O2, art. 26, 27): plans, the checklist, the periodic draw, reviewer
assignment, scoring and the facility's corrective-action answer.

Quality control is oversight, so it lives in ``audit`` beside seals and responsibility. Every write
goes through here with its audit event in the same transaction; refusals are on record (``qc.refuse``).

Reviewers read exactly their sampled cases through a django-guardian object permission
(``consultations.view_consultation`` on each case), granted at assignment; ``Consultation.objects.
visible_to`` honours it only while the draw's review period lasts (``QCDraw.review_until``) and
``qc_access_expire`` removes the grants once it has ended. Their reads go through the case page, which
logs every one (JL-C8).
"""

from __future__ import annotations

import datetime as dt
import secrets
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from consultations.choices import ConsultationState
from consultations.models import Consultation
from facilities.choices import StaffRole
from facilities.models import Division, ServiceType
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import rules
from .choices import EventType, QCPeriod
from .models import QCChecklist, QCDraw, QCPlan, QCReview
from .services import audit_event_append, audit_refusal

VIEW_PERMISSION = "consultations.view_consultation"
ANSWERERS = (StaffRole.FACILITY_ADMIN, StaffRole.COORDINATOR)
BEIJING = ZoneInfo("Asia/Shanghai")


def _refuse(error: ApplicationError, *, actor, obj=None, details: dict | None = None, facility_ids=None) -> ApplicationError:
    return audit_refusal(
        error, actor=actor, event_type=EventType.QC_REFUSE, obj=obj,
        object_type="" if obj is not None else "audit.qcplan", facility_ids=facility_ids or [], details=details,
    )


def _checked(checks, *, actor, obj=None) -> None:
    bad = failing(checks)
    if bad:
        raise _refuse(ApplicationError.from_reasons(bad), actor=actor, obj=obj)


def _beijing(moment: dt.datetime) -> str:
    return timezone.localtime(moment, BEIJING).strftime("%Y-%m-%d %H:%M")


def _notify(*, message_key: str, review: QCReview, params: dict, dedupe: str, facility_id=None, roles=(), user_ids=()) -> None:
    """JL-O2: the two sides learn of their next step in-app (and by their chosen channels) — no
    patient data in the notice, the request number and a link to the review."""
    from django.urls import reverse

    from notifications.services import notify

    notify(message_key=message_key, params=params, facility_id=facility_id, roles=roles, user_ids=user_ids,
           link=reverse("audit:qc-review-detail", args=[review.pk]), dedupe_key=dedupe)


def _require_regulator_of(actor, division_code: str, *, obj=None) -> None:
    if not Scope.of(actor).is_division(division_code):
        raise _refuse(
            ApplicationError("permission_denied", _("JL-O2 第二十六条: 只有该区划的卫生健康行政部门可以办理本级质控。"), status=403),
            actor=actor, obj=obj,
        )


@service_transaction()
def qc_checklist_define(*, actor, items: list[dict]) -> QCChecklist:
    """JL-O2 (art. 27): the provincial regulator publishes a new version of the scoring checklist."""
    if not Scope.of(actor).is_provincial_regulator:
        raise _refuse(
            ApplicationError("permission_denied", _("JL-O2 第二十七条: 质控评分表由省级卫生健康行政部门制定。"), status=403),
            actor=actor,
        )
    items = [
        {"code": clean_text(str(i.get("code", ""))).strip(), "text": clean_text(str(i.get("text", ""))).strip(),
         "max_points": i.get("max_points")}
        for i in items
    ]
    _checked(rules.qc_checklist_checks(items), actor=actor)
    last = QCChecklist.objects.select_for_update().order_by("-version").first()
    checklist = QCChecklist.objects.create(
        version=(last.version + 1) if last else 1, items=items, defined_by=actor, defined_at=timezone.now()
    )
    audit_event_append(
        actor=actor, event_type=EventType.QC_CHECKLIST_DEFINE, obj=checklist,
        details={"version": checklist.version, "items": len(items), "max_total": checklist.max_total},
    )
    return checklist


@service_transaction()
def qc_plan_create(
    *, actor, division: Division, name: str, service_types: list[ServiceType], share_per_mille: int, period: str
) -> QCPlan:
    """JL-O2 (art. 26): a province, city or county regulator sets its own division's plan."""
    _require_regulator_of(actor, division.code)
    name = clean_text(name).strip()
    if not name or not service_types or not (1 <= int(share_per_mille) <= 1000) or period not in QCPeriod.values:
        raise _refuse(
            ApplicationError("JL-O2", _("JL-O2 第二十六条: 质控计划须写明名称、至少一个服务项目、1‰至1000‰的抽样比例和抽样周期。")),
            actor=actor,
        )
    plan = QCPlan.objects.create(
        division=division, name=name, share_per_mille=share_per_mille, period=period, created_by=actor,
        created_at=timezone.now(),
    )
    plan.service_types.set(service_types)
    audit_event_append(
        actor=actor, event_type=EventType.QC_PLAN_CREATE, obj=plan, acting_division_code=division.code,
        details={"division": division.code, "service_types": sorted(s.pk for s in service_types),
                 "share_per_mille": share_per_mille, "period": period},
    )
    return plan


def _population_query(plan: QCPlan, start: dt.date, end: dt.date) -> dict:
    return {
        "state": ConsultationState.CLOSED.value,
        "division_prefix": plan.division.prefix,
        "service_types": sorted(plan.service_types.values_list("pk", flat=True)),
        "closed_from": start.isoformat(),
        "closed_before": end.isoformat(),
        "timezone": "Asia/Shanghai",
    }


def qc_population(query: dict) -> list[int]:
    """JL-O2: the ordered ids of the finished cases a recorded population query names — closed in the
    period (Beijing days), of the plan's service types, with either facility in the division."""
    start = dt.datetime.combine(dt.date.fromisoformat(query["closed_from"]), dt.time(), BEIJING)
    end = dt.datetime.combine(dt.date.fromisoformat(query["closed_before"]), dt.time(), BEIJING)
    prefix = query["division_prefix"]
    from django.db.models import Q

    return list(
        Consultation.objects.filter(
            Q(inviting__division__code__startswith=prefix) | Q(invited__division__code__startswith=prefix),
            state=query["state"], service_type_id__in=query["service_types"], closed_at__gte=start, closed_at__lt=end,
        ).order_by("pk").values_list("pk", flat=True)
    )


def qc_draw_reproduces(draw: QCDraw) -> dict:
    """JL-O2: run the recorded query again and draw again from the recorded seed: does it give the same
    population and the same cases?"""
    population = qc_population(draw.population_query)
    redrawn = rules.draw_sample(draw.population_ids, draw.plan.share_per_mille, draw.seed)
    return {
        "population_same": population == list(draw.population_ids),
        "sample_same": redrawn == list(draw.case_ids),
        "redrawn": redrawn,
    }


@service_transaction()
def qc_draw(*, actor, plan: QCPlan, period_start: dt.date) -> QCDraw:
    """JL-O2 (art. 26): draw one ended period's sample for ``plan`` with a fresh recorded seed."""
    _require_regulator_of(actor, plan.division_id, obj=plan)
    start, end = rules.qc_period_bounds(plan.period, period_start)
    problems = []
    if not plan.active:
        problems.append(_("JL-O2 第二十六条: 质控计划已停用。"))
    if start != period_start:
        problems.append(_("JL-O2 第二十六条: 抽样周期须从周期的第一天开始（%(start)s）。") % {"start": start.isoformat()})
    if end > timezone.localdate():
        problems.append(_("JL-O2 第二十六条: 周期结束后才能抽样，以免遗漏本周期结束的病例。"))
    if QCDraw.objects.filter(plan=plan, period_start=start).exists():
        problems.append(_("JL-O2 第二十六条: 本周期已经抽样，不能重抽。"))
    checklist = QCChecklist.objects.order_by("-version").first()
    if checklist is None:
        problems.append(_("JL-O2 第二十七条: 省级卫生健康行政部门尚未发布质控评分表。"))
    if problems:
        raise _refuse(ApplicationError("JL-O2", "；".join(problems), status=409), actor=actor, obj=plan)
    query = _population_query(plan, start, end)
    population = qc_population(query)
    seed = secrets.token_hex(16)
    case_ids = rules.draw_sample(population, plan.share_per_mille, seed)
    now = timezone.now()
    draw = QCDraw.objects.create(
        plan=plan, period_start=start, period_end=end, seed=seed, population_query=query, population_ids=population,
        case_ids=case_ids, checklist=checklist, review_until=now + dt.timedelta(days=settings.TELEMED_QC_REVIEW_DAYS),
        drawn_by=actor, drawn_at=now,
    )
    prefix = plan.division.prefix
    for case in Consultation.objects.filter(pk__in=case_ids).select_related("inviting", "invited"):
        # The feedback goes to the invited facility (it gave the opinion) when it lies in the division,
        # otherwise to the inviting one.
        facility = case.invited if case.invited.division_id.startswith(prefix) else case.inviting
        QCReview.objects.create(draw=draw, consultation=case, facility=facility)
    audit_event_append(
        actor=actor, event_type=EventType.QC_DRAW, obj=draw, acting_division_code=plan.division_id,
        details={"plan": plan.pk, "period_start": start.isoformat(), "seed": seed, "population": len(population),
                 "cases": case_ids, "checklist": checklist.version},
    )
    return draw


@service_transaction()
def qc_reviewer_assign(*, actor, review: QCReview, reviewer) -> QCReview:
    """JL-O2 (art. 26): the regulator names the expert who scores a sampled case; the expert gets read
    access to exactly that case (a guardian object permission) until the review period ends. An expert
    of either facility of the case does not review it."""
    review = QCReview.objects.select_for_update().select_related("draw__plan", "consultation").get(pk=review.pk)
    _require_regulator_of(actor, review.draw.plan.division_id, obj=review)
    case = review.consultation
    reviewer_scope = Scope.of(reviewer)
    own = set(reviewer_scope.facility_ids) & {case.inviting_id, case.invited_id}
    problems = []
    if own:
        problems.append(_("JL-O2 第二十六条: 质控专家不能评审本机构参与的病例。"))
    if reviewer_scope.is_platform_admin or not reviewer.is_active:
        # 三员分立 (JL-A2): the platform administrators never see patient data.
        problems.append(_("JL-O2 第二十六条: 平台管理员或已停用的账号不能担任质控专家。"))
    if review.submitted_at is not None:
        problems.append(_("JL-O2 第二十七条: 该病例已评分，不能更换专家。"))
    if review.draw.review_until <= timezone.now():
        problems.append(_("JL-O2 第二十六条: 评审期已结束。"))
    if problems:
        raise _refuse(ApplicationError("JL-O2", "；".join(problems), status=409), actor=actor, obj=review)
    if review.reviewer_id and review.reviewer_id != reviewer.pk:
        previous = get_user_model().objects.get(pk=review.reviewer_id)
        if not QCReview.objects.filter(consultation=case, reviewer=previous).exclude(pk=review.pk).exists():
            remove_perm(VIEW_PERMISSION, previous, case)
    assign_perm(VIEW_PERMISSION, reviewer, case)
    review.reviewer = reviewer
    review.assigned_at = timezone.now()
    review.save(update_fields=["reviewer", "assigned_at"])
    audit_event_append(
        actor=actor, event_type=EventType.QC_REVIEWER_ASSIGN, obj=review, acting_division_code=review.draw.plan.division_id,
        facility_ids=[case.inviting_id, case.invited_id],
        details={"consultation": str(case.pk), "reviewer": reviewer.pk, "until": review.draw.review_until.isoformat()},
    )
    _notify(user_ids=[reviewer.pk], message_key="qc.review_assigned", review=review,
            params={"n": case.number, "d": _beijing(review.draw.review_until)}, dedupe=f"qc-assign:{review.pk}:{reviewer.pk}")
    return review


@service_transaction()
def qc_review_submit(*, actor, review: QCReview, scores: dict, feedback: str) -> QCReview:
    """JL-O2 (art. 27): the named expert scores the case on the draw's checklist and writes feedback;
    the facility's answer falls due ``TELEMED_QC_ANSWER_DAYS`` later."""
    review = QCReview.objects.select_for_update().select_related("draw__checklist").get(pk=review.pk)
    if review.reviewer_id != actor.pk:
        raise _refuse(
            ApplicationError("permission_denied", _("JL-O2 第二十七条: 只有指定的质控专家可以评分。"), status=403),
            actor=actor, obj=review,
        )
    now = timezone.now()
    if review.submitted_at is not None or review.draw.review_until <= now:
        raise _refuse(
            ApplicationError("JL-O2", _("JL-O2 第二十七条: 评分已提交或评审期已结束，不能再评分。"), status=409),
            actor=actor, obj=review,
        )
    items = review.draw.checklist.items
    _checked(rules.qc_score_checks(items, scores), actor=actor, obj=review)
    feedback = clean_text(feedback).strip()
    if not feedback:
        raise _refuse(ApplicationError("JL-O2", _("JL-O2 第二十七条: 请写明反馈意见。")), actor=actor, obj=review)
    review.scores = {str(item["code"]): scores[str(item["code"])] for item in items}
    review.total = sum(review.scores.values())
    review.feedback = feedback
    review.submitted_at = now
    review.answer_due = now + dt.timedelta(days=settings.TELEMED_QC_ANSWER_DAYS)
    review.save(update_fields=["scores", "total", "feedback", "submitted_at", "answer_due"])
    audit_event_append(
        actor=actor, event_type=EventType.QC_REVIEW_SUBMIT, obj=review, facility_ids=[review.facility_id],
        details={"consultation": str(review.consultation_id), "total": review.total,
                 "checklist": review.draw.checklist.version, "answer_due": review.answer_due.isoformat()},
    )
    # The feedback reaches the facility (art. 27): its administrators and coordinators, who answer.
    _notify(facility_id=review.facility_id, roles=ANSWERERS, message_key="qc.feedback_received", review=review,
            params={"n": review.consultation.number, "t": review.total, "d": _beijing(review.answer_due)},
            dedupe=f"qc-feedback:{review.pk}")
    return review


@service_transaction()
def qc_answer(*, actor, review: QCReview, answer: str) -> QCReview:
    """JL-O2 (art. 27): the facility answers the feedback with its corrective action (once); an answer
    after ``answer_due`` is accepted but stays flagged as late."""
    review = QCReview.objects.select_for_update().get(pk=review.pk)
    if not Scope.of(actor).has_role(review.facility_id, *ANSWERERS):
        raise _refuse(
            ApplicationError("permission_denied", _("JL-O2 第二十七条: 只有被反馈机构的管理人员可以答复整改情况。"), status=403),
            actor=actor, obj=review, facility_ids=[review.facility_id],
        )
    answer = clean_text(answer).strip()
    if review.submitted_at is None or review.answered_at is not None or not answer:
        raise _refuse(
            ApplicationError("JL-O2", _("JL-O2 第二十七条: 评分提交后才能答复，答复只提交一次，且须写明整改情况。"), status=409),
            actor=actor, obj=review, facility_ids=[review.facility_id],
        )
    review.answer = answer
    review.answered_by = actor
    review.answered_at = timezone.now()
    review.save(update_fields=["answer", "answered_by", "answered_at"])
    late = rules.qc_answer_overdue(answer_due=review.answer_due, answered_at=review.answered_at, now=review.answered_at)
    audit_event_append(
        actor=actor, event_type=EventType.QC_ANSWER, obj=review, acting_facility_id=review.facility_id,
        facility_ids=[review.facility_id], details={"consultation": str(review.consultation_id), "late": late},
    )
    return review


@service_transaction()
def qc_access_expire(*, now: dt.datetime | None = None) -> int:
    """JL-O2/JL-C8: remove the reviewers' object permissions of draws whose review period has ended
    (``visible_to`` already ignores them; this keeps the grant table honest). Idempotent."""
    now = now or timezone.now()
    removed = 0
    reviews = QCReview.objects.filter(draw__review_until__lte=now, reviewer__isnull=False).select_related("consultation", "reviewer")
    for review in reviews:
        still_needed = QCReview.objects.filter(
            consultation_id=review.consultation_id, reviewer_id=review.reviewer_id, draw__review_until__gt=now
        ).exists()
        grants = UserObjectPermission.objects.filter(
            user_id=review.reviewer_id, object_pk=str(review.consultation_id), permission__codename="view_consultation",
            content_type__app_label="consultations",
        )
        if not still_needed and grants.exists():
            grants.delete()
            removed += 1
            audit_event_append(
                actor=None, event_type=EventType.QC_ACCESS_EXPIRE, obj=review,
                details={"consultation": str(review.consultation_id), "reviewer": review.reviewer_id},
            )
    return removed
