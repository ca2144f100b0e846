"""The yearly evaluation (JL-O3, art. 45–47): services, selectors and the credit record's source.

Every write goes through a service here with its audit event in the same transaction; every
refusal is on record (``evaluation.refuse``) with a stable code and a Chinese message citing JL-O3:

- ``evaluation_formula_publish``: the province publishes a new version of weights and thresholds.
- ``evaluation_start``: the evaluating regulator (art. 45: the province for county-level-and-above
  facilities, a city for its primary-care facilities) computes the year's provisional grades for
  every facility it evaluates, in one batch: the dashboard's figures of the whole division for the
  year (``facilities.metrics.figures.report``, the same numbers the dashboard shows), the quality-
  control scores (JL-O2) and the suspensions (JL-F5, JL-O7) in one query each, then one bulk insert.
- ``evaluation_adjust``: before publication the evaluating regulator may change a grade, with a
  reason; the provisional grade stays on record.
- ``evaluation_publish``: once; the facilities then see their results.

Refusal codes (``extra.rule`` is ``JL-O3``): ``evaluation_not_your_division`` (403),
``evaluation_wrong_level`` (403, e.g. a county regulator, who sees but does not grade),
``evaluation_year_not_ended``, ``evaluation_exists``, ``evaluation_no_formula``,
``evaluation_already_published`` (409), ``evaluation_reason_required``, ``evaluation_grade_invalid``,
``evaluation_formula_invalid`` (400).
"""

from __future__ import annotations

from collections import Counter

from django.db.models import Count
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append, audit_refusal
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import evaluation_rules as rules
from .choices import DivisionLevel, EvaluationGrade
from .models import Division, EvaluationFormula, EvaluationResult, EvaluationRound, Facility, Suspension

RULE = rules.RULE


def _error(code: str, message: str, *, status: int = 400, **extra) -> ApplicationError:
    return ApplicationError(code, message, {"rule": RULE, **extra}, status=status)


def _refuse(error: ApplicationError, *, actor, obj=None, division_code: str = "", facility_ids=()) -> ApplicationError:
    return audit_refusal(
        error, actor=actor, event_type=EventType.EVALUATION_REFUSE, obj=obj,
        object_type="" if obj is not None else "facilities.evaluationround", acting_division_code=division_code,
        facility_ids=list(facility_ids),
    )


def _prefix(code: str) -> str:
    """The code prefix of a division (as ``Division.prefix``) from its code alone."""
    if code.endswith("0000"):
        return code[:2]
    return code[:4] if code.endswith("00") else code


def _require_evaluator(actor, division_code: str, *, obj=None, facility_ids=()) -> None:
    """JL-O3 (art. 45): only the regulator of the evaluating division grades. A regulator who sees
    the division's facilities but sits below it (a county) is told so; anyone else is not theirs."""
    scope = Scope.of(actor)
    if scope.is_division(division_code):
        return
    prefix = _prefix(division_code)
    if any(code.startswith(prefix) for code, _p in scope.regulated):
        raise _refuse(_error("evaluation_wrong_level", _(
            "JL-O3 第四十五条: 年度评价考核由省卫生健康委（县级以上医疗机构）和市（州）卫生健康委（基层医疗卫生机构）"
            "组织，下级卫生健康行政部门可以查看本辖区结果，但不能评定、调整或公布等次。"), status=403),
            actor=actor, obj=obj, facility_ids=facility_ids)
    raise _refuse(_error("evaluation_not_your_division", _(
        "JL-O3 第四十五条: 只有组织该年度评价考核的卫生健康行政部门可以办理。"), status=403),
        actor=actor, obj=obj, facility_ids=facility_ids)


# --- The formula (data the province publishes) ---------------------------------------------------


@service_transaction()
def evaluation_formula_publish(*, actor, weights: dict, thresholds: dict, document_number: str = "") -> EvaluationFormula:
    """JL-O3 (art. 45, 47): a new version of the weights and thresholds; the old ones stay."""
    if not Scope.of(actor).is_provincial_regulator:
        raise _refuse(_error("evaluation_not_your_division", _(
            "JL-O3 第四十五条: 年度评价考核办法（权重和标准）由省卫生健康委发布。"), status=403), actor=actor)
    problems = rules.formula_problems(weights, thresholds)
    if problems:
        raise _refuse(_error("evaluation_formula_invalid", "；".join(str(p) for p in problems)), actor=actor)
    last = EvaluationFormula.objects.select_for_update().order_by("-version").first()
    formula = EvaluationFormula.objects.create(
        version=(last.version + 1) if last else 1, weights=dict(weights),
        thresholds={k: (int(v) if float(v).is_integer() else float(v)) for k, v in thresholds.items()},
        document_number=clean_text(document_number).strip()[:100], published_by=actor, published_at=timezone.now(),
    )
    audit_event_append(actor=actor, event_type=EventType.EVALUATION_FORMULA_PUBLISH, obj=formula, acting_division_code="220000",
                       details={"version": formula.version, "weights": formula.weights, "thresholds": formula.thresholds})
    return formula


# --- Starting a year: the provisional grades, in one batch ----------------------------------------


def evaluated_facilities(division: Division) -> list[Facility]:
    """JL-O3 (art. 45): the facilities a division's regulator evaluates — the province every Jilin
    facility of county level and above, a city the primary-care facilities of its city."""
    candidates = Facility.objects.filter(division__code__startswith=division.prefix).order_by("pk")
    return [f for f in candidates if rules.evaluator_level(level=f.level, kind=f.kind) == division.level]


def year_inputs(division: Division, year: int, facility_ids: list[int]) -> dict[int, dict]:
    """The figures of each facility for the year (the snapshot a result keeps). Volume, JL-C2,
    JL-C4, JL-O5 and the violations are the dashboard's own figures of the division's year (one
    report, ``facilities.metrics``); the QC scores (JL-O2) and suspensions (JL-F5, including the
    equipment stops of JL-O7) are one grouped query each."""
    from audit.models import QCChecklist, QCReview

    from .metrics.definitions import derive, percent
    from .metrics.facts import day_bounds
    from .metrics.figures import Subject, report
    from .metrics.periods import year as year_period

    period = year_period(year)
    figures = report(Subject.of_division(division), period, with_trends=False).by_facility
    lo, hi = day_bounds(period.start, period.end)
    reviews = list(QCReview.objects.filter(facility_id__in=facility_ids, submitted_at__gte=lo, submitted_at__lt=hi)
                   .values_list("facility_id", "total", "draw__checklist_id").order_by())
    maxima = {c.pk: c.max_total for c in QCChecklist.objects.filter(pk__in={r[2] for r in reviews})}
    qc: dict[int, list[int]] = {}
    for facility_id, total, checklist_id in reviews:
        got = qc.setdefault(facility_id, [0, 0, 0])
        got[0] += 1
        got[1] += total or 0
        got[2] += maxima.get(checklist_id, 0)
    suspensions = dict(Suspension.objects.filter(facility_id__in=facility_ids, reported_at__gte=lo, reported_at__lt=hi)
                       .values("facility_id").annotate(n=Count("pk")).values_list("facility_id", "n").order_by())
    empty = derive({}, {}, facilities=0)
    inputs = {}
    for facility_id in facility_ids:
        f = figures.get(facility_id, empty)
        reviews_n, points, maximum = qc.get(facility_id, (0, 0, 0))
        inputs[facility_id] = {
            "sent": f["sent"], "completed": f["completed"], "volume": f["sent"] + f["completed"],
            "obligations_due": f["obligations_due"], "obligations_met": f["obligations_met"],
            "compliance_percent": f["compliance_percent"],
            "response_median": f["response_median"], "turnaround_median": f["turnaround_median"],
            "ratings_count": f["ratings_count"], "satisfaction_mean": f["satisfaction_mean"],
            "qc_reviews": reviews_n, "qc_percent": percent(points, maximum),
            "violations": f["violations"], "suspensions": suspensions.get(facility_id, 0),
        }
    return inputs


def _outcome_fields(inputs: dict, formula: EvaluationFormula) -> dict:
    outcome = rules.evaluate(inputs, weights=formula.weights, thresholds=formula.thresholds)
    return {"score": outcome.score, "provisional_grade": outcome.grade, "grade": outcome.grade,
            "parts": {k: None if v is None else str(v) for k, v in outcome.parts.items()}}


@service_transaction()
def evaluation_start(*, actor, division: Division, year: int) -> EvaluationRound:
    """JL-O3 (art. 45–47): compute the provisional grades of every facility the division evaluates,
    for a year that has ended, with the formula in force (its version is kept with the results)."""
    if division.level not in (DivisionLevel.PROVINCE, DivisionLevel.CITY):
        raise _refuse(_error("evaluation_wrong_level", _(
            "JL-O3 第四十五条: 年度评价考核由省级和市（州）级卫生健康行政部门组织，县级卫生健康行政部门"
            "可以查看本辖区结果，但不能评定等次。"), status=403),
            actor=actor, division_code=division.code)
    _require_evaluator(actor, division.code)
    problems = []
    if year >= timezone.localdate().year:
        problems.append(("evaluation_year_not_ended", _("JL-O3 第四十七条: %(y)s 年度尚未结束，年度结束后才能评价考核。") % {"y": year}))
    if EvaluationRound.objects.filter(year=year, division=division).exists():
        problems.append(("evaluation_exists", _("JL-O3 第四十七条: %(y)s 年度的评价考核已经启动，不能重复启动。") % {"y": year}))
    formula = EvaluationFormula.objects.order_by("-version").first()
    if formula is None:
        problems.append(("evaluation_no_formula", _("JL-O3 第四十五条: 省卫生健康委尚未发布年度评价考核办法（权重和标准）。")))
    if problems:
        raise _refuse(_error(problems[0][0], "；".join(str(m) for _c, m in problems), status=409,
                             codes=[c for c, _m in problems]), actor=actor, division_code=division.code)
    facilities = evaluated_facilities(division)
    ids = [f.pk for f in facilities]
    inputs = year_inputs(division, year, ids)
    previous = dict(EvaluationResult.objects.filter(year=year - 1, facility_id__in=ids, round__published_at__isnull=False)
                    .values_list("facility_id", "grade").order_by())
    now = timezone.now()
    round_ = EvaluationRound.objects.create(year=year, division=division, formula=formula, started_by=actor, started_at=now)
    results = []
    for facility in facilities:
        fields = _outcome_fields(inputs[facility.pk], formula)
        before = previous.get(facility.pk, "")
        results.append(EvaluationResult(
            round=round_, year=year, facility=facility, inputs=inputs[facility.pk], previous_grade=before,
            principal_name=facility.principal_name, accountability=rules.accountability(grade=fields["grade"], previous_grade=before or None),
            principal_barred=rules.principal_barred(fields["grade"]), **fields,
        ))
    EvaluationResult.objects.bulk_create(results, batch_size=500)
    audit_event_append(
        actor=actor, event_type=EventType.EVALUATION_START, obj=round_, acting_division_code=division.code,
        details={"year": year, "division": division.code, "formula": formula.version, "facilities": len(results),
                 "grades": dict(Counter(r.grade for r in results))},
    )
    return round_


# --- Review, adjustment and publication ----------------------------------------------------------


@service_transaction()
def evaluation_adjust(*, actor, result: EvaluationResult, grade: str, reason: str) -> EvaluationResult:
    """JL-O3 (art. 47): the evaluating regulator changes a grade before publication, with a reason;
    the provisional grade is kept and the art. 47 consequences follow the new grade."""
    result = EvaluationResult.objects.select_for_update().select_related("round").get(pk=result.pk)
    round_ = result.round
    _require_evaluator(actor, round_.division_id, obj=result, facility_ids=[result.facility_id])
    reason = clean_text(reason or "").strip()
    if round_.published:
        raise _refuse(_error("evaluation_already_published", _(
            "JL-O3 第四十七条: %(y)s 年度评价考核结果已公布，不能再调整等次。") % {"y": round_.year}, status=409),
            actor=actor, obj=result, facility_ids=[result.facility_id])
    if grade not in EvaluationGrade.values:
        raise _refuse(_error("evaluation_grade_invalid", _("JL-O3 第四十七条: 等次只能是优秀、合格或不合格。")),
                      actor=actor, obj=result, facility_ids=[result.facility_id])
    if not reason:
        raise _refuse(_error("evaluation_reason_required", _("JL-O3 第四十七条: 调整等次须写明理由。")),
                      actor=actor, obj=result, facility_ids=[result.facility_id])
    before = result.grade
    result.grade = grade
    result.adjusted_by = actor
    result.adjusted_at = timezone.now()
    result.adjust_reason = reason
    result.accountability = rules.accountability(grade=grade, previous_grade=result.previous_grade or None)
    result.principal_barred = rules.principal_barred(grade)
    result.save(update_fields=["grade", "adjusted_by", "adjusted_at", "adjust_reason", "accountability", "principal_barred"])
    audit_event_append(
        actor=actor, event_type=EventType.EVALUATION_ADJUST, obj=result, acting_division_code=round_.division_id,
        facility_ids=[result.facility_id],
        details={"year": result.year, "from": before, "to": grade, "provisional": result.provisional_grade, "reason": reason},
    )
    return result


@service_transaction()
def evaluation_publish(*, actor, round_: EvaluationRound) -> EvaluationRound:
    """JL-O3 (art. 47): the evaluating regulator publishes the year's results, once."""
    round_ = EvaluationRound.objects.select_for_update().get(pk=round_.pk)
    _require_evaluator(actor, round_.division_id, obj=round_)
    if round_.published:
        raise _refuse(_error("evaluation_already_published", _(
            "JL-O3 第四十七条: %(y)s 年度评价考核结果已于 %(at)s 公布，不能重复公布。") % {
            "y": round_.year, "at": f"{timezone.localtime(round_.published_at):%Y-%m-%d %H:%M}"}, status=409),
            actor=actor, obj=round_)
    round_.published_by = actor
    round_.published_at = timezone.now()
    round_.save(update_fields=["published_by", "published_at"])
    grades = Counter(round_.results.values_list("grade", flat=True))
    audit_event_append(
        actor=actor, event_type=EventType.EVALUATION_PUBLISH, obj=round_, acting_division_code=round_.division_id,
        details={"year": round_.year, "formula": round_.formula.version, "grades": dict(grades),
                 "accountability": round_.results.filter(accountability=True).count()},
    )
    return round_


def evaluation_export_record(*, actor, round_: EvaluationRound, fmt: str, rows: int) -> None:
    """An export is on record (art. 35, JL-A1)."""
    scope = Scope.of(actor)
    audit_event_append(
        actor=actor, event_type=EventType.EVALUATION_EXPORT, obj=round_,
        acting_division_code=scope.regulated[0][0] if scope.regulated else "",
        acting_facility_id=None if scope.regulated else (scope.facility_ids[0] if scope.facility_ids else None),
        details={"year": round_.year, "format": fmt, "rows": rows},
    )


# --- Selectors ----------------------------------------------------------------------------------


def round_list(*, user):
    return EvaluationRound.objects.visible_to(user).select_related("division", "formula").order_by("-year", "division_id")


def round_detail(*, user, pk: int) -> EvaluationRound:
    found = round_list(user=user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def round_results(*, user, round_: EvaluationRound):
    return (round_.results.visible_to(user).select_related("facility__division", "adjusted_by")
            .order_by("facility__division_id", "facility__name"))


def result_detail(*, user, pk: int) -> EvaluationResult:
    found = (EvaluationResult.objects.visible_to(user).select_related("round__division", "round__formula", "facility__division", "adjusted_by")
             .filter(pk=pk).first())
    if found is None:
        raise Http404
    return found


def may_grade(user, round_: EvaluationRound) -> bool:
    return Scope.of(user).is_division(round_.division_id)


def startable_divisions(user) -> list[Division]:
    """The divisions whose evaluation the user may start: their own province or city (art. 45)."""
    codes = [code for code, _p in Scope.of(user).regulated]
    return list(Division.objects.filter(code__in=codes, level__in=[DivisionLevel.PROVINCE, DivisionLevel.CITY]))


def facility_results(*, user, facility: Facility) -> list[EvaluationResult]:
    """The results of one facility the user may see, newest year first (the facility's page)."""
    return list(EvaluationResult.objects.visible_to(user).filter(facility=facility).select_related("round").order_by("-year")[:5])


# --- The credit record's source (JL-O6) ------------------------------------------------------------
