"""JL-O6 双随机一公开: random inspections (a roster per regulator, a plan, a seeded draw that anyone can
recompute and that never sends an inspector to the facility they work at, results, rectification,
publication on the public pages) and the credit record of a facility (sources, the graded formula,
scope, the public part, batches)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import credit, credit_rules, inspection_rules, inspections
from audit.complaints import complaint_acknowledge, complaint_answer, complaint_receive
from audit.inspection_models import InspectionPlan
from audit.models import AuditEvent
from consultations import services as consultation_services
from consultations.choices import TriggerKind
from facilities import services as facility_services
from facilities.choices import FacilityKind, StaffRole, SuspensionCause
from telemed.errors import ApplicationError
from tests.api_cases import assert_error, token_client
from tests.factories import FacilityFactory, UserFactory, division, regulator, staff

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-12-07T02:00:00Z")]
TODAY = dt.date(2026, 12, 7)


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()
    yield
    cache.clear()


# --- The rules, pure -----------------------------------------------------------------------------------


ROSTER = [(1, None), (2, 10), (3, 11), (4, None), (5, 10), (6, 12)]


def test_jl_o6_the_draw_is_reproducible_from_its_seed_whatever_the_order_of_the_candidates():
    one = inspection_rules.draw_inspection(facility_ids=[10, 11, 12, 13], roster=ROSTER, facility_count=2,
                                           per_facility=2, seed="abc")
    again = inspection_rules.draw_inspection(facility_ids=[13, 12, 11, 10], roster=list(reversed(ROSTER)),
                                             facility_count=2, per_facility=2, seed="abc")
    assert one == again and len(one.facility_ids) == 2 and not one.short
    seeds = {tuple(inspection_rules.draw_inspection(facility_ids=range(1, 40), roster=ROSTER, facility_count=3,
                                                    per_facility=1, seed=str(s)).facility_ids) for s in range(20)}
    assert len(seeds) > 1  # the seed decides: different seeds, different draws
    assert inspection_rules.draw_reproduces(recorded_facilities=one.facility_ids,
                                            recorded_assignments={str(k): v for k, v in one.assignments.items()}, redrawn=one)
    tampered = {str(k): v for k, v in one.assignments.items()}
    first = str(one.facility_ids[0])
    tampered[first] = [6 if tampered[first][0] != 6 else 1]
    assert not inspection_rules.draw_reproduces(recorded_facilities=one.facility_ids, recorded_assignments=tampered, redrawn=one)


def test_jl_o6_an_inspector_is_never_drawn_for_the_facility_they_work_at():
    workplace = dict(ROSTER)
    for seed in range(200):
        draw = inspection_rules.draw_inspection(facility_ids=[10, 11, 12], roster=ROSTER, facility_count=3,
                                                per_facility=4, seed=f"s{seed}")
        assert draw.facility_ids == [10, 11, 12] and not draw.short
        for facility_id, inspectors in draw.assignments.items():
            assert len(inspectors) == 4
            assert all(workplace[i] != facility_id for i in inspectors)


def test_jl_o6_a_facility_short_of_eligible_inspectors_is_reported():
    draw = inspection_rules.draw_inspection(facility_ids=[10], roster=[(2, 10), (5, 10), (1, None)], facility_count=1,
                                            per_facility=2, seed="x")
    assert draw.short == [10] and draw.assignments == {}


@pytest.mark.parametrize(("points", "grade"), [(0, "A"), (10, "A"), (11, "B"), (25, "B"), (26, "C"), (40, "C"), (41, "D")])
def test_jl_o6_credit_grade_bands_at_their_boundaries(points, grade):
    entries = [("violation", TODAY)] * (points // 2) + [("inspection_minor", TODAY)] * 0
    if points % 2:
        entries = [("violation", TODAY)] * ((points - 3) // 2) + [("complaint", TODAY)]
    result = credit_rules.credit_grade(entries, today=TODAY)
    assert result.score == 100 - points and result.grade == grade


def test_jl_o6_credit_look_back_window_and_floor():
    window = credit_rules.LOOKBACK_DAYS
    inside = TODAY - dt.timedelta(days=window - 1)
    outside = TODAY - dt.timedelta(days=window)
    assert credit_rules.credit_grade([("suspension_ordered", inside)], today=TODAY).score == 85
    assert credit_rules.credit_grade([("suspension_ordered", outside)], today=TODAY).score == 100
    assert credit_rules.credit_grade([("suspension_ordered", TODAY + dt.timedelta(days=1))], today=TODAY).score == 100
    assert credit_rules.credit_grade([("evaluation_fail", TODAY)] * 6, today=TODAY) == credit_rules.Grade(0, "D", 6)
    with pytest.raises(KeyError):
        credit_rules.credit_grade([("unpriced_kind", TODAY)], today=TODAY)


# --- A city's inspection, through the services ------------------------------------------------------------


class City:
    """长春市's regulator, roster and plan over the conftest world (both hospitals in 长春市)."""

    def __init__(self, world, *, per_facility=1, roster_at_invited=0):
        self.world = world
        self.regulator = regulator("220100", username="city_regulator")
        self.free = UserFactory(username="inspector_free", first_name="赵检查")
        self.at_invited = staff(world.invited, StaffRole.CLINICIAN, username="inspector_at_invited")
        inspections.inspector_add(actor=self.regulator, division=division("220100"), user=self.free)
        inspections.inspector_add(actor=self.regulator, division=division("220100"), user=self.at_invited,
                                  workplace=world.invited)
        self.plan = inspections.inspection_plan_create(
            actor=self.regulator, division=division("220100"), title="2026年第四季度远程医疗双随机抽查",
            facility_kinds=[FacilityKind.GENERAL_HOSPITAL], facility_levels=[2, 3], facility_count=2,
            inspectors_per_facility=per_facility, period_start=TODAY, period_end=TODAY + dt.timedelta(days=30))

    def draw(self):
        self.plan = inspections.inspection_draw(actor=self.regulator, plan=self.plan)
        return self.plan

    def result(self, facility):
        return self.plan.results.get(facility=facility)


def test_jl_o6_the_draw_records_seed_and_candidates_verifies_and_excludes_own_staff(world):
    city = City(world)
    plan = city.draw()
    assert len(plan.seed) == 32 and plan.facility_candidates == sorted([world.inviting.pk, world.invited.pk])
    assert [row[1] for row in plan.inspector_candidates] == [None, world.invited.pk]
    assert sorted(plan.drawn_facilities) == sorted([world.inviting.pk, world.invited.pk])
    assert list(city.result(world.invited).inspectors.all()) == [city.free]  # the one working there stands aside
    assert inspections.inspection_draw_verify(plan)["same"] is True
    event = AuditEvent.objects.get(event_type="inspection.draw")
    assert event.details["seed"] == plan.seed and event.acting_division_code == "220100"
    # A changed record no longer matches what the seed gives.
    InspectionPlan.objects.filter(pk=plan.pk).update(drawn_assignments={str(world.invited.pk): [9999]})
    plan.refresh_from_db()
    assert inspections.inspection_draw_verify(plan)["same"] is False
    # Drawn once.
    with pytest.raises(ApplicationError, match="不能重抽"):
        inspections.inspection_draw(actor=city.regulator, plan=plan)


def test_jl_o6_not_enough_eligible_inspectors_is_a_chinese_refusal_on_record(world):
    city = City(world, per_facility=2)
    with pytest.raises(ApplicationError) as refused:
        city.draw()
    assert refused.value.code == "JL-O6" and "回避" in refused.value.message and world.invited.name in refused.value.message
    event = AuditEvent.objects.get(event_type="inspection.refuse")
    assert event.outcome == "failure" and event.details["short"] == [world.invited.pk]
    assert not InspectionPlan.objects.get(pk=city.plan.pk).drawn


def test_jl_o6_jl_o1_only_the_plans_own_division_plans_draws_and_publishes(world):
    city = City(world)
    county = regulator("220122", username="county")  # a county below the city: neither sees nor acts for it
    other_city = regulator("220200", username="jilin_city")
    for actor in (county, other_city):
        with pytest.raises(ApplicationError) as refused:
            inspections.inspection_draw(actor=actor, plan=city.plan)
        assert refused.value.status == 403
        with pytest.raises(ApplicationError):
            inspections.inspection_plan_create(
                actor=actor, division=division("220100"), title="越权计划", facility_kinds=["general"], facility_levels=[3],
                facility_count=1, inspectors_per_facility=1, period_start=TODAY, period_end=TODAY)
    assert AuditEvent.objects.filter(event_type="inspection.refuse").count() == 4
    assert not InspectionPlan.objects.visible_to(other_city).exists()
    assert InspectionPlan.objects.visible_to(regulator("220000", username="province")).exists()


def test_jl_o6_findings_rectification_overdue_flag_and_publication(world, time_machine):
    city = City(world)
    city.draw()
    invited_result = city.result(world.invited)
    # Only a drawn inspector or the plan's regulator enters a result.
    with pytest.raises(ApplicationError) as refused:
        inspections.inspection_findings_enter(actor=city.at_invited, result=invited_result, severity="minor", summary="x")
    assert refused.value.status == 403
    with pytest.raises(ApplicationError) as refused:  # a problem needs a rectification and a deadline
        inspections.inspection_findings_enter(actor=city.free, result=invited_result, severity="minor", summary="会诊记录不全")
    assert "整改要求" in refused.value.message
    with pytest.raises(ApplicationError, match="每个被抽中的机构"):  # not yet: results missing
        inspections.inspection_publish(actor=city.regulator, plan=city.plan)
    inspections.inspection_findings_enter(
        actor=city.free, result=invited_result, severity="minor", summary="部分会诊记录未按时归档。",
        findings="抽查病例 HZ-2026-0001 记录不全", rectification="完善会诊记录归档制度。", deadline=TODAY + dt.timedelta(days=10))
    inspections.inspection_findings_enter(actor=city.regulator, result=city.result(world.inviting), severity="none",
                                          summary="未发现问题。")
    invited_result.refresh_from_db()
    assert invited_result.state == "rectifying"
    # The facility answers; a clinician of it may not.
    with pytest.raises(ApplicationError):
        inspections.inspection_rectify(actor=world.expert, result=invited_result, report="已整改")
    time_machine.move_to(dt.datetime(2026, 12, 20, 2, tzinfo=dt.UTC))  # after the deadline (12-17)
    inspections.inspection_rectify(actor=world.invited_coordinator, result=invited_result, report="已修订归档制度并培训。")
    assert AuditEvent.objects.filter(event_type="inspection.rectify").get().details["late"] is True
    plan = inspections.inspection_publish(actor=city.regulator, plan=city.plan)
    assert plan.published_at is not None
    # Credit: a published minor finding and its late rectification count against the invited hospital.
    entries = credit.credit_entries([world.invited.pk])[world.invited.pk]
    assert sorted(e.kind for e in entries) == ["inspection_minor", "inspection_overdue"]
    assert credit.credit_grades([world.invited.pk])[world.invited.pk] == credit_rules.Grade(85, "B", 2)
    assert {e.event_type for e in AuditEvent.objects.filter(event_type__startswith="inspection.")} >= {
        "inspection.inspector.add", "inspection.plan.create", "inspection.draw", "inspection.findings",
        "inspection.rectify", "inspection.publish", "inspection.refuse"}


def _published(world):
    city = City(world)
    city.draw()
    inspections.inspection_findings_enter(
        actor=city.regulator, result=city.result(world.invited), severity="serious", summary="远程会诊终端未按期维护。",
        findings="患者张三的会诊记录缺页（不公开）", rectification="立即维护设备并建立维护台账。", deadline=TODAY + dt.timedelta(days=5))
    inspections.inspection_findings_enter(actor=city.regulator, result=city.result(world.inviting), severity="none",
                                          summary="未发现问题。")
    return city, inspections.inspection_publish(actor=city.regulator, plan=city.plan)


def test_jl_o6_the_public_pages_need_no_login_and_show_only_published_data(world):
    city, plan = _published(world)
    unpublished = inspections.inspection_plan_create(
        actor=city.regulator, division=division("220100"), title="尚未公开的计划", facility_kinds=["general"],
        facility_levels=[3], facility_count=1, inspectors_per_facility=1, period_start=TODAY, period_end=TODAY)
    anonymous = Client()
    listing = anonymous.get(reverse("public:inspection-list")).content.decode()
    assert plan.title in listing and "尚未公开的计划" not in listing
    assert anonymous.get(reverse("public:inspection-detail", args=[unpublished.pk])).status_code == 404
    page = anonymous.get(reverse("public:inspection-detail", args=[plan.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "远程会诊终端未按期维护" in body and "立即维护设备" in body and plan.seed in body
    assert "张三" not in body and "不公开）" not in body  # the findings detail stays inside
    assert city.free.first_name not in body  # inspectors by roster number, not by name
    verified = anonymous.get(reverse("public:inspection-detail", args=[plan.pk]) + "?verify=1").content.decode()
    assert "核验一致" in verified


def test_jl_o6_public_credit_shows_the_grade_and_public_entries_never_a_violation(world):
    _published(world)
    patient = world.patient()
    missed = consultation_services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                                   event_at=timezone.now() - dt.timedelta(hours=30))
    consultation_services.obligation_sweep()
    assert missed.violation.facility_id == world.inviting.pk
    anonymous = Client()
    body = anonymous.get(reverse("public:credit-detail", args=[world.inviting.pk])).content.decode()
    assert "98" in body and "24小时" not in body and patient.name not in body
    listing = anonymous.get(reverse("public:credit-list")).content.decode()
    assert world.invited.name in listing and world.inviting.name in listing
    own = Client()
    own.force_login(staff(world.inviting, StaffRole.FACILITY_ADMIN, username="inviting_admin"))
    assert "24小时上传义务超时" in own.get(reverse("audit:credit-detail", args=[world.inviting.pk])).content.decode()


def test_jl_o6_credit_sources_suspensions_and_substantiated_complaints(world):
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN, username="invited_admin")
    facility_services.suspension_report(actor=admin, facility=world.invited, cause=SuspensionCause.QUALITY_RISK,
                                        description="CT 设备故障")
    complaint = complaint_receive(facility=world.invited, complainant_name="王女士", complainant_phone="13912345678",
                                  relation="family", text="报告迟迟未出")
    complaint_acknowledge(actor=world.invited_coordinator, complaint=complaint)
    complaint_answer(actor=world.invited_coordinator, complaint=complaint, text="经查属实，已整改。", substantiated=True)
    entries = credit.credit_entries([world.invited.pk])[world.invited.pk]
    assert sorted((e.kind, e.source) for e in entries) == [("complaint", "audit.complaint"), ("suspension", "facilities.suspension")]
    assert all(e.on == TODAY and e.url and e.public for e in entries)
    assert credit.credit_grades([world.invited.pk])[world.invited.pk].score == 92


def test_jl_o6_grades_in_batches_cost_one_query_per_source(world, django_assert_max_num_queries):
    for n in range(12):
        FacilityFactory(name=f"批量医院{n}")
    ids = list(world.invited.__class__.objects.values_list("pk", flat=True))
    with django_assert_max_num_queries(len(credit.sources())) as captured:
        grades = credit.credit_grades(ids)
    assert len(grades) == len(ids) and len(captured.captured_queries) == len(credit.sources())
    batched = dict(credit.credit_grades_all(batch_size=5))
    assert batched == grades


# --- Pages and API --------------------------------------------------------------------------------------


def test_jl_o6_pages_scope_and_404_outside(world):
    city, plan = _published(world)
    result = city.result(world.invited)
    jilin = Client()
    jilin.force_login(regulator("220200", username="jilin_city"))
    for name, pk in (("audit:inspection-plan", plan.pk), ("audit:inspection-result", result.pk),
                     ("audit:credit-detail", world.invited.pk)):
        assert jilin.get(reverse(name, args=[pk])).status_code == 404
    own = Client()
    own.force_login(city.regulator)
    page = own.get(reverse("audit:inspection-plan", args=[plan.pk]) + "?verify=1").content.decode()
    assert "核验一致" in page and "随机抽查" in own.get(reverse("home")).content.decode()
    facility = Client()
    facility.force_login(world.invited_coordinator)
    assert "立即维护设备" in facility.get(reverse("audit:inspection-result", args=[result.pk])).content.decode()
    response = facility.post(reverse("audit:inspection-result", args=[result.pk]),
                             {"form": "rectify", "rectify-report": "已维护并建立台账。"})
    assert response.status_code == 302
    result.refresh_from_db()
    assert result.state == "rectified"


def test_jl_o6_api_plan_draw_verify_findings_rectify_and_credit(world):
    city = City(world)
    api = token_client(city.regulator)
    drawn = api.post(f"/api/v1/inspection-plans/{city.plan.pk}/draw/")
    assert drawn.status_code == 201 and drawn.json()["seed"]
    assert api.get(f"/api/v1/inspection-plans/{city.plan.pk}/verify/").json()["same"] is True
    result = city.result(world.invited)
    assert_error(token_client(world.invited_coordinator).post(
        f"/api/v1/inspection-results/{result.pk}/findings/", {"severity": "none", "summary": "无"}, format="json"),
        403, "permission_denied")
    entered = token_client(city.free).post(f"/api/v1/inspection-results/{result.pk}/findings/", {
        "severity": "minor", "summary": "值班表未公示。", "rectification": "公示值班表。", "deadline": "2026-12-31"}, format="json")
    assert entered.status_code == 200 and entered.json()["state"] == "rectifying"
    assert_error(api.post(f"/api/v1/inspection-plans/{city.plan.pk}/publish/"), 409, "JL-O6")
    rectified = token_client(world.invited_coordinator).post(f"/api/v1/inspection-results/{result.pk}/rectify/",
                                                             {"report": "已公示。"}, format="json")
    assert rectified.status_code == 200 and rectified.json()["overdue"] is False
    outsider = token_client(regulator("220200", username="jilin_city"))
    assert outsider.get(f"/api/v1/inspection-plans/{city.plan.pk}/").status_code == 404
    assert outsider.get(f"/api/v1/facility-credit/{world.invited.pk}/").status_code == 404
    assert outsider.get("/api/v1/inspection-plans/").json()["count"] == 0
    credit_rows = api.get("/api/v1/facility-credit/").json()["results"]
    assert {row["facility"] for row in credit_rows} == {world.inviting.pk, world.invited.pk}
    detail = api.get(f"/api/v1/facility-credit/{world.invited.pk}/").json()
    assert detail["grade"] == "A" and detail["entries"] == []  # unpublished inspections do not count


def test_jl_o6_docs_state_every_deduction_of_the_formula():
    """docs/supervision.md's table is the formula's: each kind with its points, the window and the bands."""
    from pathlib import Path

    from django.conf import settings

    text = (Path(settings.BASE_DIR) / "docs" / "supervision.md").read_text(encoding="utf-8")
    for kind, points in credit_rules.DEDUCTIONS.items():
        assert f"| `{kind}` |" in text and any(
            line.startswith(f"| `{kind}` |") and f"| {points} |" in line for line in text.splitlines()), kind
    assert f"**{credit_rules.LOOKBACK_DAYS}**" in text
    assert all(f"**{grade}** ≥ {floor}" in text for grade, floor in credit_rules.BANDS)


def test_jl_o6_a_refused_act_on_the_pages_is_a_403_on_record(world):
    city = City(world)
    city.draw()
    result = city.result(world.invited)
    facility = Client()
    facility.force_login(world.invited_coordinator)
    refused = facility.post(reverse("audit:inspection-result", args=[result.pk]),
                            {"form": "findings", "findings-severity": "none", "findings-summary": "自评无问题"})
    assert refused.status_code == 403 and "JL-O6" in refused.content.decode()
    county = Client()
    county.force_login(regulator("220000", username="province"))  # sees the city's plan, does not publish it
    assert county.post(reverse("audit:inspection-plan", args=[city.plan.pk]), {"act": "publish"}).status_code == 403
    events = AuditEvent.objects.filter(event_type="inspection.refuse").order_by("sequence")
    assert events.count() == 2 and events.first().actor_id == world.invited_coordinator.pk
    assert all(e.outcome == "failure" for e in events)
    result.refresh_from_db()
    assert result.state == "pending"


def test_jl_o6_the_credit_list_api_costs_the_same_for_3_facilities_as_for_20(world, django_assert_max_num_queries):
    from tests.api_cases import assert_list_queries_constant

    client = token_client(regulator("220102", username="nanguan"))  # FacilityFactory's district; the world is elsewhere
    assert_list_queries_constant(
        client, "/api/v1/facility-credit/", add_rows=lambda n: [FacilityFactory() for _ in range(n)],
        assert_max_num_queries=django_assert_max_num_queries, max_queries=12)


def test_jl_o6_api_plan_body_blank_title_is_400_and_unknown_division_is_404(world):
    """Issue 14 (JL-O6 plans over the API): a title of only spaces is refused as the schema's pattern says
    (400 invalid); a well-formed body whose only fault is a division code not on the register is 404."""
    api = token_client(regulator("220100", username="city_regulator"))
    body = {"division": "220100", "title": "  ", "facility_kinds": [FacilityKind.GENERAL_HOSPITAL],
            "facility_levels": [2], "facility_count": 1, "inspectors_per_facility": 1,
            "period_start": TODAY.isoformat(), "period_end": (TODAY + dt.timedelta(days=30)).isoformat()}
    refused = api.post("/api/v1/inspection-plans/", body, format="json")
    assert_error(refused, 400, "invalid")
    assert set(refused.json()["extra"]["fields"]) == {"title"}
    assert_error(api.post("/api/v1/inspection-plans/", {**body, "title": "抽查", "division": "229999"}, format="json"),
                 404, "not_found")
