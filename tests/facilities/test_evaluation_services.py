"""JL-O3 (art. 45–47): the yearly evaluation's services — the batch start with the dashboard's own
figures, who may grade (art. 45, JL-O1), adjusting with a reason, publishing once, the two-year
accountability flag and the barred principal (art. 47), every refusal on record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from audit.qc import qc_checklist_define, qc_draw, qc_plan_create, qc_review_submit, qc_reviewer_assign
from consultations import services as consultation_services
from consultations.choices import TriggerKind
from facilities import evaluation as ev
from facilities.choices import EvaluationGrade, FacilityKind, FacilityLevel, StaffRole
from facilities.equipment import asset_register, asset_status_change
from facilities.metrics.figures import Subject, report
from facilities.metrics.periods import year
from facilities.models import EvaluationResult, EvaluationRound
from telemed.errors import ApplicationError
from tests.consultations import signed
from tests.facilities.evaluation_data import publish_formula
from tests.factories import FacilityFactory, division, regulator, staff

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-12-20T10:00:00+08:00")]
JANUARY = "2027-01-10T09:00:00+08:00"


@pytest.fixture
def province(db):
    return regulator("220000", username="province_eval")


@pytest.fixture
def township(db):
    return FacilityFactory(name="合隆镇卫生院", level=FacilityLevel.LEVEL_1, kind=FacilityKind.TOWNSHIP_CENTRE,
                           division=division("220122"), principal_name="赵院长")


def _refused(code, call, **kwargs):
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    assert caught.value.code == code and "JL-O3" in caught.value.message and caught.value.extra["rule"] == "JL-O3"
    return caught.value


def _refusals():
    return AuditEvent.objects.filter(event_type="evaluation.refuse", outcome="failure")


@pytest.fixture
def activity(world, province):
    """A year's work: a finished, rated case; a missed JL-C2 deadline; a QC score; a suspension."""
    world.invited.principal_name = "李院长"
    world.invited.save(update_fields=["principal_name"])
    case = signed(world)
    consultation_services.consultation_close(actor=world.clinician, consultation=case)
    missed = consultation_services.obligation_open(actor=world.clinician, patient=world.patient(name="王五"), trigger=TriggerKind.PATIENT_REQUEST,
                                                   event_at=dt.datetime(2026, 12, 18, 8, 0, tzinfo=dt.UTC))
    consultation_services.obligation_sweep()
    missed.refresh_from_db()
    publish_formula(province)
    return world


def _start(actor, code="220000", year_=2026):
    with time_machine.travel(JANUARY, tick=True):
        call_command("rebuild_metrics")
        return ev.evaluation_start(actor=actor, division=division(code), year=year_)


def test_jl_o3_start_computes_every_provincial_facility_from_the_dashboards_own_figures(activity, province, township):
    round_ = _start(province)
    results = {r.facility_id: r for r in round_.results.all()}
    assert set(results) == {activity.inviting.pk, activity.invited.pk}  # the township is the city's (art. 45)
    assert round_.formula.version == 1 and not round_.published
    for facility in (activity.inviting, activity.invited):
        figures = report(Subject.of_facility(facility), year(2026), with_trends=False).current
        inputs = results[facility.pk].inputs
        for key in ("sent", "completed", "obligations_due", "obligations_met", "compliance_percent", "response_median",
                    "turnaround_median", "ratings_count", "satisfaction_mean", "violations"):
            assert inputs[key] == figures[key], (facility, key)
        assert inputs["volume"] == figures["sent"] + figures["completed"]
    assert results[activity.inviting.pk].inputs["violations"] == 1
    assert results[activity.invited.pk].inputs["completed"] == 1
    assert results[activity.invited.pk].principal_name == "李院长"
    for result in results.values():
        assert result.provisional_grade == result.grade and result.score == Decimal(str(result.score))
    event = AuditEvent.objects.get(event_type="evaluation.start")
    assert event.details["facilities"] == 2 and event.details["formula"] == 1


def test_jl_o3_a_city_evaluates_its_primary_care_facilities_and_the_province_cannot_start_its_round(world, province, township):
    publish_formula(province)
    city = regulator("220100")
    round_ = _start(city, "220100")
    assert list(round_.results.values_list("facility_id", flat=True)) == [township.pk]
    assert round_.results.get().principal_name == "赵院长"
    _refused("evaluation_not_your_division", ev.evaluation_start, actor=regulator("220200"), division=division("220100"), year=2025)
    assert _refusals().count() == 1


def test_jl_o3_a_county_regulator_sees_but_may_not_start_adjust_or_publish(world, province):
    publish_formula(province)
    county = regulator("220122")
    _refused("evaluation_wrong_level", ev.evaluation_start, actor=county, division=division("220122"), year=2025)
    _refused("evaluation_wrong_level", ev.evaluation_start, actor=county, division=division("220000"), year=2025)
    round_ = _start(province, year_=2025)
    result = round_.results.get(facility=world.inviting)
    _refused("evaluation_wrong_level", ev.evaluation_adjust, actor=county, result=result, grade="pass", reason="复核")
    _refused("evaluation_wrong_level", ev.evaluation_publish, actor=county, round_=round_)
    assert _refusals().count() == 4
    # JL-O1: the county sees its own facility's result only; 南关区 sees none of them.
    assert set(ev.round_results(user=county, round_=round_).values_list("facility_id", flat=True)) == {world.inviting.pk}
    assert ev.round_results(user=regulator("220102"), round_=round_).count() == 0
    assert ev.round_list(user=county).filter(pk=round_.pk).exists()  # the province's round grades its facility
    assert not ev.round_list(user=regulator("220202")).filter(pk=round_.pk).exists()  # none of 吉林市's


def test_jl_o3_start_refuses_an_unended_year_a_second_start_and_no_formula(world, province):
    _refused("evaluation_no_formula", ev.evaluation_start, actor=province, division=division("220000"), year=2025)
    publish_formula(province)
    _refused("evaluation_year_not_ended", ev.evaluation_start, actor=province, division=division("220000"), year=2026)
    _start(province, year_=2025)
    error = _refused("evaluation_exists", _start, actor=province, year_=2025)
    assert error.status == 409
    assert EvaluationRound.objects.count() == 1 and _refusals().count() == 3


def test_jl_o3_adjust_needs_a_reason_keeps_the_provisional_grade_and_is_on_record(world, province):
    publish_formula(province)
    round_ = _start(province, year_=2025)
    result = round_.results.get(facility=world.invited)
    provisional = result.provisional_grade
    _refused("evaluation_reason_required", ev.evaluation_adjust, actor=province, result=result, grade="excellent", reason="  ")
    _refused("evaluation_grade_invalid", ev.evaluation_adjust, actor=province, result=result, grade="great", reason="x")
    adjusted = ev.evaluation_adjust(actor=province, result=result, grade=EvaluationGrade.EXCELLENT, reason="年内承担对口帮扶任务，现场复核")
    assert adjusted.grade == "excellent" and adjusted.provisional_grade == provisional and adjusted.adjusted_by == province
    event = AuditEvent.objects.get(event_type="evaluation.adjust")
    assert event.details == {"year": 2025, "from": provisional, "to": "excellent", "provisional": provisional,
                             "reason": "年内承担对口帮扶任务，现场复核"}
    assert _refusals().count() == 2


def test_jl_o3_publish_once_then_no_adjustment_and_the_facility_sees_its_result(world, province):
    publish_formula(province)
    round_ = _start(province, year_=2025)
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    assert not EvaluationResult.objects.visible_to(admin).exists()  # not before publication
    ev.evaluation_publish(actor=province, round_=round_)
    _refused("evaluation_already_published", ev.evaluation_publish, actor=province, round_=round_)
    result = round_.results.get(facility=world.invited)
    _refused("evaluation_already_published", ev.evaluation_adjust, actor=province, result=result, grade="pass", reason="复核")
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)  # a fresh scope
    assert list(EvaluationResult.objects.visible_to(admin)) == [result]
    assert AuditEvent.objects.filter(event_type="evaluation.publish").count() == 1 and _refusals().count() == 2


def test_jl_o3_art_47_two_failing_years_flag_accountability_and_bar_the_principal(world, province):
    publish_formula(province, excellent=100, **{"pass": 99})  # nobody without activity passes
    world.inviting.principal_name = "孙院长"
    world.inviting.save(update_fields=["principal_name"])
    with time_machine.travel("2026-01-10T09:00:00+08:00", tick=True):
        first = ev.evaluation_start(actor=province, division=division("220000"), year=2025)
    result_2025 = first.results.get(facility=world.inviting)
    assert result_2025.grade == "fail" and result_2025.principal_barred and not result_2025.accountability
    ev.evaluation_publish(actor=province, round_=first)
    second = _start(province, year_=2026)
    result = second.results.get(facility=world.inviting)
    assert result.previous_grade == "fail" and result.accountability and result.principal_barred
    assert result.principal_name == "孙院长"
    # Adjusted up, the flag and the bar go; adjusted down again, they come back.
    result = ev.evaluation_adjust(actor=province, result=result, grade="pass", reason="整改到位，现场复核合格")
    assert not result.accountability and not result.principal_barred
    result = ev.evaluation_adjust(actor=province, result=result, grade="fail", reason="复核维持不合格")
    assert result.accountability and result.principal_barred


def test_jl_o3_qc_scores_and_suspensions_including_equipment_stops_feed_the_inputs(world, province):
    """JL-O2's scores submitted in the year (points over the checklist's maximum) and every
    suspension reported in the year, the JL-O7 equipment stops among them."""
    publish_formula(province)
    with time_machine.travel("2026-11-25T10:00:00+08:00", tick=True):
        case = signed(world)
        consultation_services.consultation_close(actor=world.clinician, consultation=case)
    qc_checklist_define(actor=province, items=[{"code": "opinion", "text": "意见内容", "max_points": 40}])
    county = regulator("220104")
    plan = qc_plan_create(actor=county, division=division("220104"), name="朝阳区质控", share_per_mille=1000,
                          period="month", service_types=[case.service_type])
    draw = qc_draw(actor=county, plan=plan, period_start=dt.date(2026, 11, 1))
    review = draw.reviews.get()
    reviewer = staff(FacilityFactory(name="吉林市中心医院", division=division("220202")), StaffRole.CLINICIAN)
    qc_reviewer_assign(actor=county, review=review, reviewer=reviewer)
    qc_review_submit(actor=reviewer, review=review, scores={"opinion": 30}, feedback="意见完整，建议补充随访计划")
    asset = asset_register(actor=world.invited_coordinator, facility=world.invited, kind="equipment", name="会诊终端",
                           essential=True, in_service_since=dt.date(2026, 1, 1))
    asset_status_change(actor=world.invited_coordinator, asset=asset, status="faulty", report="会诊终端故障，停用")
    round_ = _start(province)
    inputs = round_.results.get(facility=world.invited).inputs
    assert inputs["suspensions"] == 1
    assert (inputs["qc_reviews"], inputs["qc_percent"]) == (1, 75.0)
    assert round_.results.get(facility=world.inviting).inputs["qc_reviews"] == 0


def test_jl_o3_credit_entries_are_the_published_grades_dated_and_sourced(world, province):
    """JL-O3 → JL-O6: the credit record's evaluation source lists published grades only, dated the day of
    publication, public, and linking to the result's page."""
    from audit import credit

    publish_formula(province)
    round_ = _start(province, year_=2025)
    since = timezone.now() - dt.timedelta(days=400)
    assert credit.evaluation_entries([world.invited.pk], since) == []
    ev.evaluation_publish(actor=province, round_=round_)
    (entry,) = credit.evaluation_entries([world.invited.pk], since)
    result = round_.results.get(facility=world.invited)
    assert (entry.facility_id, entry.kind, entry.source, entry.source_id) == (
        world.invited.pk, f"evaluation_{result.grade}", "facilities.evaluationresult", result.pk)
    assert entry.on == timezone.localtime(EvaluationRound.objects.get().published_at).date()
    assert entry.public and entry.url == f"/facilities/evaluation/results/{result.pk}/"
    assert "JL-O3" in str(entry.label) and "2025" in str(entry.label)


def test_jl_o3_a_published_fail_grade_lowers_the_facilitys_jl_o6_credit_grade(world, province):
    """JL-O3 → JL-O6: the credit record counts the published grade (不合格 deducts, 合格/优秀 not),
    dated the day of publication, and shows it on the public credit page; unpublished grades do not count."""
    from django.test import Client
    from django.urls import reverse

    from audit import credit

    publish_formula(province)
    round_ = _start(province, year_=2025)
    result = round_.results.get(facility=world.invited)
    ev.evaluation_adjust(actor=province, result=result, grade=EvaluationGrade.FAIL, reason="抽查发现病历资料不完整")
    before = credit.credit_grades([world.invited.pk])[world.invited.pk]
    assert [e.kind for e in credit.credit_entries([world.invited.pk])[world.invited.pk] if e.kind.startswith("evaluation")] == []
    ev.evaluation_publish(actor=province, round_=round_)
    (entry,) = [e for e in credit.credit_entries([world.invited.pk])[world.invited.pk] if e.kind.startswith("evaluation")]
    assert (entry.kind, entry.on, entry.source_id, entry.public) == ("evaluation_fail", dt.date(2026, 12, 20), result.pk, True)
    after = credit.credit_grades([world.invited.pk])[world.invited.pk]
    assert before.score - after.score == entry.deduction == 20
    page = Client().get(reverse("public:credit-detail", args=[world.invited.pk]))
    assert page.status_code == 200 and "2025年度评价考核“不合格”" in page.content.decode()
