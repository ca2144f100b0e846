"""Services of random inspections, 双随机一公开 (JL-O6): the roster, the plan, the draw, the results,
the facility's rectification and the publication.

Every write goes through here with its audit event in the same transaction; every refusal is on
record (``inspection.refuse``). The regulator of the plan's division (JL-O1: exactly that division,
as for QC plans) keeps the roster, plans, draws and publishes; the inspectors the draw named, or that
regulator, enter a facility's result; the facility's administrators and coordinators report the
rectification done. The draw is ``inspection_rules.draw_inspection`` over candidate lists ordered by
id and a fresh recorded seed; ``inspection_draw_verify`` recomputes it from what is stored.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from facilities.choices import AccreditationStatus
from facilities.models import Division, Facility
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import inspection_rules as rules
from .choices import EventType
from .complaint_models import HANDLERS
from .inspection_models import InspectionPlan, InspectionResult, Inspector
from .services import audit_event_append, audit_refusal


def _refuse(error: ApplicationError, *, actor, obj=None, object_type: str = "audit.inspectionplan",
            facility_ids=(), details: dict | None = None) -> ApplicationError:
    return audit_refusal(error, actor=actor, event_type=EventType.INSPECTION_REFUSE, obj=obj,
                         object_type="" if obj is not None else object_type, facility_ids=list(facility_ids),
                         details=details)


def _checked(checks, *, actor, obj=None, status: int = 400, facility_ids=()) -> None:
    bad = failing(checks)
    if bad:
        raise _refuse(ApplicationError.from_reasons(bad, status=status), actor=actor, obj=obj, facility_ids=facility_ids)


def _require_division(actor, division_code: str, *, obj=None, what: str) -> None:
    if not Scope.of(actor).is_division(division_code):
        raise _refuse(ApplicationError(
            "permission_denied", _("JL-O6 双随机一公开: 只有本区划的卫生健康行政部门可以%(what)s。") % {"what": what}, status=403),
            actor=actor, obj=obj, details={"division": division_code})


# --- The roster -------------------------------------------------------------------------------------


@service_transaction()
def inspector_add(*, actor, division: Division, user, workplace: Facility | None = None) -> Inspector:
    """JL-O6: the regulator names a person to its roster, with the facility they work at (if any)."""
    _require_division(actor, division.code, what=_("维护检查人员名录"))
    problems = []
    if not user.is_active or Scope.of(user).is_platform_admin:
        problems.append(_("JL-O6 双随机一公开: 已停用的账号或平台管理员（三员）不能列入检查人员名录。"))
    if Inspector.objects.filter(division=division, user=user, active=True).exists():
        problems.append(_("JL-O6 双随机一公开: 该人员已在名录中。"))
    if problems:
        raise _refuse(ApplicationError(rules.RULE, "；".join(problems), status=409), actor=actor,
                      object_type="audit.inspector", details={"user": user.pk})
    inspector = Inspector.objects.create(division=division, user=user, workplace=workplace, added_by=actor,
                                         added_at=timezone.now())
    audit_event_append(
        actor=actor, event_type=EventType.INSPECTION_INSPECTOR_ADD, obj=inspector, acting_division_code=division.code,
        details={"division": division.code, "user": user.pk, "workplace": workplace.pk if workplace else None},
    )
    return inspector


@service_transaction()
def inspector_remove(*, actor, inspector: Inspector) -> Inspector:
    """JL-O6: the person leaves the roster (kept on record; past draws still name them)."""
    inspector = Inspector.objects.select_for_update().get(pk=inspector.pk)
    _require_division(actor, inspector.division_id, obj=inspector, what=_("维护检查人员名录"))
    if not inspector.active:
        raise _refuse(ApplicationError(rules.RULE, _("JL-O6 双随机一公开: 该人员已不在名录中。"), status=409),
                      actor=actor, obj=inspector)
    inspector.active = False
    inspector.removed_at = timezone.now()
    inspector.save(update_fields=["active", "removed_at"])
    audit_event_append(actor=actor, event_type=EventType.INSPECTION_INSPECTOR_REMOVE, obj=inspector,
                       acting_division_code=inspector.division_id, details={"user": inspector.user_id})
    return inspector


# --- The plan and its draw ---------------------------------------------------------------------------


@service_transaction()
def inspection_plan_create(
    *, actor, division: Division, title: str, facility_kinds: list[str], facility_levels: list[int], facility_count: int,
    inspectors_per_facility: int, period_start: dt.date, period_end: dt.date,
) -> InspectionPlan:
    """JL-O6: the regulator sets a plan for its own division (JL-O1)."""
    _require_division(actor, division.code, what=_("制定随机抽查计划"))
    title = clean_text(title).strip()[:100]
    kinds = sorted({str(k) for k in facility_kinds})
    levels = sorted({int(v) for v in facility_levels})
    _checked(rules.plan_checks(title=title, kinds=kinds, levels=levels, facility_count=int(facility_count),
                               per_facility=int(inspectors_per_facility), period_start=period_start, period_end=period_end),
             actor=actor)
    plan = InspectionPlan.objects.create(
        division=division, title=title, facility_kinds=kinds, facility_levels=levels, facility_count=facility_count,
        inspectors_per_facility=inspectors_per_facility, period_start=period_start, period_end=period_end,
        created_by=actor, created_at=timezone.now(),
    )
    audit_event_append(
        actor=actor, event_type=EventType.INSPECTION_PLAN_CREATE, obj=plan, acting_division_code=division.code,
        details={"division": division.code, "kinds": kinds, "levels": levels, "facility_count": facility_count,
                 "inspectors_per_facility": inspectors_per_facility, "period": [period_start.isoformat(), period_end.isoformat()]},
    )
    return plan


def inspection_candidates(plan: InspectionPlan) -> tuple[list[int], list[list]]:
    """JL-O6, JL-O1: the facilities the plan may draw — accredited for telemedicine, in the plan's
    division and below, of its kinds and levels — and the roster's active inspectors as
    ``[roster id, workplace id or None]``; both ordered by id."""
    facilities = list(
        Facility.objects.filter(
            division__code__startswith=plan.division.prefix, accreditation_status=AccreditationStatus.APPROVED,
            kind__in=plan.facility_kinds, level__in=plan.facility_levels,
        ).order_by("pk").values_list("pk", flat=True)
    )
    roster = [list(row) for row in Inspector.objects.filter(division=plan.division, active=True)
              .order_by("pk").values_list("pk", "workplace_id")]
    return facilities, roster


@service_transaction()
def inspection_draw(*, actor, plan: InspectionPlan) -> InspectionPlan:
    """JL-O6 双随机: draw the facilities and, for each, inspectors who do not work there, with a fresh
    recorded seed; one result row per drawn facility names its inspectors. Drawn once."""
    plan = InspectionPlan.objects.select_for_update().select_related("division").get(pk=plan.pk)
    _require_division(actor, plan.division_id, obj=plan, what=_("随机抽取检查对象"))
    if plan.drawn:
        raise _refuse(ApplicationError(rules.RULE, _("JL-O6 双随机一公开: 本计划已经抽取，不能重抽。"), status=409),
                      actor=actor, obj=plan)
    facilities, roster = inspection_candidates(plan)
    if not facilities:
        raise _refuse(ApplicationError(rules.RULE, _("JL-O6 双随机一公开: 本区划没有符合计划范围（类别、级别）的医疗机构。"),
                                       status=409), actor=actor, obj=plan)
    seed = secrets.token_hex(16)
    draw = rules.draw_inspection(facility_ids=facilities, roster=[tuple(r) for r in roster],
                                 facility_count=plan.facility_count, per_facility=plan.inspectors_per_facility, seed=seed)
    if draw.short:
        names = "、".join(Facility.objects.filter(pk__in=draw.short).order_by("pk").values_list("name", flat=True))
        raise _refuse(ApplicationError(rules.RULE, _(
            "JL-O6 双随机一公开: 检查人员名录中可派往%(names)s的人员不足%(n)s名（在被检查机构工作的人员须回避），"
            "请先补充检查人员名录再抽取。") % {"names": names, "n": plan.inspectors_per_facility},
            {"short": draw.short}, status=409),
            actor=actor, obj=plan, facility_ids=draw.short,
            details={"short": draw.short, "roster": len(roster), "per_facility": plan.inspectors_per_facility})
    users = dict(Inspector.objects.filter(pk__in={i for ids in draw.assignments.values() for i in ids})
                 .values_list("pk", "user_id"))
    now = timezone.now()
    plan.seed, plan.facility_candidates, plan.inspector_candidates = seed, facilities, roster
    plan.drawn_facilities = draw.facility_ids
    plan.drawn_assignments = {str(f): ids for f, ids in draw.assignments.items()}
    plan.drawn_by, plan.drawn_at = actor, now
    plan.save(update_fields=["seed", "facility_candidates", "inspector_candidates", "drawn_facilities",
                             "drawn_assignments", "drawn_by", "drawn_at"])
    results = InspectionResult.objects.bulk_create(
        [InspectionResult(plan=plan, facility_id=f) for f in draw.facility_ids])
    Through = InspectionResult.inspectors.through
    Through.objects.bulk_create([
        Through(inspectionresult_id=result.pk, user_id=users[i])
        for result in results for i in draw.assignments[result.facility_id]
    ])
    from notifications.services import notify as notify_users

    for result in results:  # the inspectors named learn where they go (no more than the plan and the facility)
        notify_users(user_ids=[users[i] for i in draw.assignments[result.facility_id]],
               link=reverse("audit:inspection-result", args=[result.pk]), dedupe_key=f"inspection-draw:{result.pk}",
               subject=_("您被随机选派参加抽查：%(plan)s（JL-O6）") % {"plan": plan.title})
    audit_event_append(
        actor=actor, event_type=EventType.INSPECTION_DRAW, obj=plan, acting_division_code=plan.division_id,
        facility_ids=draw.facility_ids,
        details={"seed": seed, "facility_candidates": len(facilities), "inspector_candidates": len(roster),
                 "facilities": draw.facility_ids, "assignments": plan.drawn_assignments},
    )
    return plan


def inspection_draw_verify(plan: InspectionPlan) -> dict:
    """JL-O6: recompute the draw from the recorded seed and candidate lists: does it give the same
    facilities and inspectors? (A read; anyone who sees the plan may run it, the public page too.)"""
    if not plan.drawn:
        return {"drawn": False, "same": False}
    redrawn = rules.draw_inspection(
        facility_ids=plan.facility_candidates, roster=[tuple(r) for r in plan.inspector_candidates],
        facility_count=plan.facility_count, per_facility=plan.inspectors_per_facility, seed=plan.seed)
    return {"drawn": True, "same": rules.draw_reproduces(recorded_facilities=plan.drawn_facilities,
                                                         recorded_assignments=plan.drawn_assignments, redrawn=redrawn),
            "facilities": redrawn.facility_ids, "assignments": redrawn.assignments}


# --- Results, rectification, publication ---------------------------------------------------------------


@service_transaction()
def inspection_findings_enter(
    *, actor, result: InspectionResult, severity: str, summary: str, findings: str = "", rectification: str = "",
    deadline: dt.date | None = None, inspected_on: dt.date | None = None,
) -> InspectionResult:
    """JL-O6: an inspector the draw named, or the plan's regulator, enters the facility's result: the
    conclusion, a summary fit to publish, the details, and the rectification required by a deadline."""
    result = InspectionResult.objects.select_for_update().select_related("plan").get(pk=result.pk)
    plan = result.plan
    named = result.inspectors.filter(pk=actor.pk).exists()
    regulator = Scope.of(actor).is_division(plan.division_id)
    if not (named or regulator):
        raise _refuse(ApplicationError(
            "permission_denied", _("JL-O6 双随机一公开: 只有抽中的检查人员或制定计划的卫生健康行政部门可以登记抽查结果。"), status=403),
            actor=actor, obj=result, facility_ids=[result.facility_id])
    summary, findings, rectification = (clean_text(v or "").strip() for v in (summary, findings, rectification))
    today = timezone.localdate()
    _checked(rules.findings_checks(state=result.state, severity=severity, summary=summary, rectification=rectification,
                                   deadline=deadline, today=today),
             actor=actor, obj=result, status=409 if result.state != "pending" else 400, facility_ids=[result.facility_id])
    problem = severity != "none"
    result.severity, result.summary, result.findings = severity, summary, findings
    result.rectification, result.deadline = (rectification, deadline) if problem else ("", None)
    result.inspected_on = inspected_on or today
    result.state = rules.state_after_findings(severity)
    result.entered_by, result.entered_at = actor, timezone.now()
    result.save(update_fields=["severity", "summary", "findings", "rectification", "deadline", "inspected_on", "state",
                               "entered_by", "entered_at"])
    audit_event_append(
        actor=actor, event_type=EventType.INSPECTION_FINDINGS, obj=result,
        acting_division_code=plan.division_id if regulator else "", facility_ids=[result.facility_id],
        details={"plan": plan.pk, "severity": severity, "state": result.state,
                 "deadline": deadline.isoformat() if problem and deadline else None, "by_inspector": named},
    )
    from consultations.services._common import notify

    notify(facility_id=result.facility_id, roles=HANDLERS, link=reverse("audit:inspection-result", args=[result.pk]),
           subject=_("随机抽查结果已登记：%(plan)s（JL-O6）") % {"plan": plan.title},
           dedupe_key=f"inspection-result:{result.pk}")
    return result


@service_transaction()
def inspection_rectify(*, actor, result: InspectionResult, report: str) -> InspectionResult:
    """JL-O6: the facility's administrators or coordinators report the rectification done (once);
    after the deadline it is accepted and stays flagged late."""
    result = InspectionResult.objects.select_for_update().get(pk=result.pk)
    if not Scope.of(actor).has_role(result.facility_id, *HANDLERS):
        raise _refuse(ApplicationError(
            "permission_denied", _("JL-O6 双随机一公开: 只有被检查机构的管理员或远程医疗专职管理人员可以报告整改情况。"), status=403),
            actor=actor, obj=result, facility_ids=[result.facility_id])
    report = clean_text(report or "").strip()
    _checked(rules.rectify_checks(state=result.state, report=report), actor=actor, obj=result,
             status=409 if result.state != "rectifying" else 400, facility_ids=[result.facility_id])
    now = timezone.now()
    late = rules.rectification_overdue(deadline=result.deadline, rectified_on=timezone.localdate(now), today=timezone.localdate(now))
    result.rectification_report, result.rectified_by, result.rectified_at = report, actor, now
    result.state = "rectified"
    result.save(update_fields=["rectification_report", "rectified_by", "rectified_at", "state"])
    audit_event_append(actor=actor, event_type=EventType.INSPECTION_RECTIFY, obj=result,
                       acting_facility_id=result.facility_id, facility_ids=[result.facility_id],
                       details={"plan": result.plan_id, "late": late})
    return result


@service_transaction()
def inspection_publish(*, actor, plan: InspectionPlan) -> InspectionPlan:
    """JL-O6 一公开: the regulator publishes the plan, its draw and every result (the public summary,
    the rectification required and its status) on the public pages."""
    plan = InspectionPlan.objects.select_for_update().get(pk=plan.pk)
    _require_division(actor, plan.division_id, obj=plan, what=_("公开抽查结果"))
    pending = plan.results.filter(state="pending").count()
    _checked(rules.publish_checks(drawn=plan.drawn, published=plan.published, pending=pending), actor=actor, obj=plan,
             status=409)
    plan.published_at, plan.published_by = timezone.now(), actor
    plan.save(update_fields=["published_at", "published_by"])
    audit_event_append(actor=actor, event_type=EventType.INSPECTION_PUBLISH, obj=plan, acting_division_code=plan.division_id,
                       facility_ids=list(plan.drawn_facilities), details={"results": len(plan.drawn_facilities)})
    return plan

