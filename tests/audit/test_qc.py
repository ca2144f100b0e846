"""JL-O2 (art. 26, 27): quality control — plans, the reproducible draw, reviewers' per-object access
(django-guardian) limited to the sampled cases and the review period, scoring on the province's
checklist, the facility's corrective-action answer and its overdue flag."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from audit import qc, rules
from audit.models import AuditEvent, QCReview
from consultations.models import Consultation
from facilities.choices import StaffRole
from facilities.models import ServiceType
from telemed.errors import ApplicationError
from tests.api_cases import token_client
from tests.billing import complete, complete_from_another_county, priced
from tests.factories import FacilityFactory, administrator, division, regulator, staff

pytestmark = pytest.mark.frozen_at("2026-11-20T10:00:00+08:00")
DECEMBER = "2026-12-02T09:00:00+08:00"
ITEMS = [
    {"code": "material", "text": "资料完整性与质量", "max_points": 20},
    {"code": "timeliness", "text": "及时性", "max_points": 20},
    {"code": "signers", "text": "签发人资质与执业范围", "max_points": 20},
    {"code": "opinion", "text": "意见内容", "max_points": 30},
    {"code": "documentation", "text": "文书记录", "max_points": 10},
]
FULL = {"material": 18, "timeliness": 20, "signers": 20, "opinion": 25, "documentation": 8}


# --- The rules, pure -------------------------------------------------------------------------


def test_jl_o2_the_draw_is_reproducible_from_the_seed_and_the_population():
    population = list(range(1, 201))
    first = rules.draw_sample(population, 50, "a1b2")
    assert first == rules.draw_sample(list(reversed(population)), 50, "a1b2")  # order of the input does not matter
    assert len(first) == 10 and first == sorted(first) and set(first) <= set(population)
    assert rules.draw_sample(population, 50, "c3d4") != first  # another seed, another sample
    assert rules.draw_sample([], 50, "a1b2") == []
    assert rules.qc_sample_size(3, 50) == 1  # rounded up: a small population is still sampled
    assert rules.qc_sample_size(7, 1000) == 7


def test_jl_o2_periods_are_calendar_months_or_quarters():
    assert rules.qc_period_bounds("month", dt.date(2026, 12, 15)) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    assert rules.qc_period_bounds("quarter", dt.date(2026, 11, 3)) == (dt.date(2026, 10, 1), dt.date(2027, 1, 1))
    assert rules.qc_period_bounds("quarter", dt.date(2026, 2, 28)) == (dt.date(2026, 1, 1), dt.date(2026, 4, 1))


def test_jl_o2_scores_are_checked_against_the_checklist():
    assert rules.qc_score_checks(ITEMS, FULL) == []
    over = rules.qc_score_checks(ITEMS, {**FULL, "opinion": 31})
    assert [c.rule for c in over] == ["JL-O2"] and "0至30分" in over[0].text
    missing = rules.qc_score_checks(ITEMS, {"material": 1, "bonus": 3})
    assert len(missing) == 5  # four unscored items and one outside the checklist


def test_jl_o2_an_answer_is_overdue_after_its_deadline():
    due = dt.datetime(2026, 12, 20, tzinfo=dt.UTC)
    assert not rules.qc_answer_overdue(answer_due=due, answered_at=None, now=due)
    assert rules.qc_answer_overdue(answer_due=due, answered_at=None, now=due + dt.timedelta(seconds=1))
    assert rules.qc_answer_overdue(answer_due=due, answered_at=due + dt.timedelta(days=1), now=due)
    assert not rules.qc_answer_overdue(answer_due=None, answered_at=None, now=due)


# --- The world ---------------------------------------------------------------------------------


class QC:
    """A county plan of 农安县 (the world's inviting hospital) over imaging, two finished cases of it in
    November, one finished case of another county's hospital, and one case still open."""

    def __init__(self, world):
        self.world = world
        billing = priced(world)
        self.province = billing.province
        self.county = regulator("220122", first_name="农安县卫健局")
        self.ours = [complete(world).consultation, complete(world).consultation]
        self.theirs = complete_from_another_county(world, division_code="220202").consultation
        self.open_case = world.sent(service="imaging", wanted_scope="imaging")
        self.checklist = qc.qc_checklist_define(actor=self.province, items=ITEMS)
        self.plan = qc.qc_plan_create(
            actor=self.county, division=division("220122"), name="农安县远程影像质控", share_per_mille=1000, period="month",
            service_types=[ServiceType.objects.get(code="imaging")],
        )
        elsewhere = FacilityFactory(name="吉林市中心医院", division=division("220202"))
        self.reviewer = staff(elsewhere, StaffRole.CLINICIAN, first_name="质控专家")

    def draw(self):
        with time_machine.travel(DECEMBER, tick=False):
            return qc.qc_draw(actor=self.county, plan=self.plan, period_start=dt.date(2026, 11, 1))

    def assigned(self):
        draw = self.draw()
        review = draw.reviews.order_by("consultation_id").first()
        with time_machine.travel(DECEMBER, tick=False):
            qc.qc_reviewer_assign(actor=self.county, review=review, reviewer=self.reviewer)
        return draw, QCReview.objects.get(pk=review.pk)


@pytest.fixture
def q(world) -> QC:
    return QC(world)


# --- The draw ----------------------------------------------------------------------------------


def test_jl_o2_the_draw_takes_only_finished_cases_of_the_division_and_reproduces(q):
    draw = q.draw()
    assert draw.population_ids == sorted(c.pk for c in q.ours)  # not the other county's, not the open case
    assert draw.case_ids == rules.draw_sample(draw.population_ids, 1000, draw.seed) == draw.population_ids
    assert len(draw.seed) == 32 and draw.population_query["division_prefix"] == "220122"
    assert qc.qc_draw_reproduces(draw) == {"population_same": True, "sample_same": True, "redrawn": draw.case_ids}
    event = AuditEvent.objects.get(event_type="qc.draw")
    assert event.details["seed"] == draw.seed and event.details["cases"] == draw.case_ids
    assert {r.facility_id for r in draw.reviews.all()} == {q.world.inviting.pk}  # the invited hospital is in 朝阳区


def test_jl_o2_a_period_is_drawn_once_after_it_ends_and_refusals_are_on_record(q):
    with pytest.raises(ApplicationError) as early:
        qc.qc_draw(actor=q.county, plan=q.plan, period_start=dt.date(2026, 11, 1))
    assert "JL-O2" in early.value.message and "周期结束后" in early.value.message
    q.draw()
    with time_machine.travel(DECEMBER, tick=False), pytest.raises(ApplicationError) as again:
        qc.qc_draw(actor=q.county, plan=q.plan, period_start=dt.date(2026, 11, 1))
    assert "不能重抽" in again.value.message
    with time_machine.travel(DECEMBER, tick=False), pytest.raises(ApplicationError) as other:
        qc.qc_draw(actor=regulator("220202"), plan=q.plan, period_start=dt.date(2026, 10, 1))
    assert other.value.status == 403
    assert AuditEvent.objects.filter(event_type="qc.refuse", outcome="failure").count() == 3


def test_jl_o2_only_the_province_defines_the_checklist_and_a_plan_is_its_own_divisions(q):
    with pytest.raises(ApplicationError) as refused:
        qc.qc_checklist_define(actor=q.county, items=ITEMS)
    assert refused.value.status == 403 and "JL-O2" in refused.value.message
    with pytest.raises(ApplicationError):
        qc.qc_plan_create(actor=q.county, division=division("220100"), name="长春市", share_per_mille=50,
                          period="month", service_types=[ServiceType.objects.get(code="imaging")])
    with pytest.raises(ApplicationError) as bad:
        qc.qc_checklist_define(actor=q.province, items=[{"code": "x", "text": "", "max_points": 0}])
    assert "JL-O2" in bad.value.message


# --- The reviewer's access (django-guardian, JL-C8) ------------------------------------------------


def test_jl_o2_a_reviewer_sees_exactly_the_sampled_case_until_the_period_ends(q):
    draw, review = q.assigned()
    other_sampled = next(pk for pk in draw.case_ids if pk != review.consultation_id)
    with time_machine.travel(DECEMBER, tick=False):
        assert list(Consultation.objects.visible_to(q.reviewer).values_list("pk", flat=True)) == [review.consultation_id]
        client = Client()
        client.force_login(q.reviewer)
        assert client.get(reverse("consultations:detail", args=[review.consultation_id])).status_code == 200
        assert client.get(reverse("consultations:detail", args=[other_sampled])).status_code == 404
        assert client.get(reverse("consultations:detail", args=[q.theirs.pk])).status_code == 404
        read = AuditEvent.objects.filter(event_type="record.view", actor=q.reviewer)
        assert [e.object_id for e in read] == [str(review.consultation_id)]  # every read logged
    with time_machine.travel(draw.review_until + dt.timedelta(seconds=1), tick=False):
        assert not Consultation.objects.visible_to(q.reviewer).exists()
        q.reviewer.__dict__.pop("_telemed_scope", None)
        client = Client()
        client.force_login(q.reviewer)
        assert client.get(reverse("consultations:detail", args=[review.consultation_id])).status_code == 404
        assert qc.qc_access_expire() == 1 and qc.qc_access_expire() == 0
    assert q.reviewer.has_perm("consultations.view_consultation", review.consultation) is False
    assert AuditEvent.objects.filter(event_type="qc.access.expire").count() == 1


def test_jl_o2_a_reviewer_of_the_cases_own_facility_is_refused(q):
    draw = q.draw()
    review = draw.reviews.first()
    with time_machine.travel(DECEMBER, tick=False), pytest.raises(ApplicationError) as refused:
        qc.qc_reviewer_assign(actor=q.county, review=review, reviewer=q.world.expert)
    assert "JL-O2" in refused.value.message
    assert not q.world.expert.has_perm("consultations.view_consultation", review.consultation)
    admin = administrator("audit_admin")  # 三员分立 (JL-A2): never a reader of patient data
    with time_machine.travel(DECEMBER, tick=False), pytest.raises(ApplicationError) as platform:
        qc.qc_reviewer_assign(actor=q.county, review=review, reviewer=admin)
    assert "平台管理员" in platform.value.message
    assert AuditEvent.objects.filter(event_type="qc.refuse").count() == 2


# --- Scoring and the facility's answer ---------------------------------------------------------------


def test_jl_o2_a_score_over_an_items_maximum_is_refused_in_chinese_citing_jl_o2(q):
    _draw, review = q.assigned()
    with time_machine.travel(DECEMBER, tick=False):
        with pytest.raises(ApplicationError) as refused:
            qc.qc_review_submit(actor=q.reviewer, review=review, scores={**FULL, "opinion": 40}, feedback="意见过简")
        assert refused.value.code == "JL-O2" and "意见内容" in str(refused.value.extra) and "0至30分" in str(refused.value.extra)
        with pytest.raises(ApplicationError) as stranger:
            qc.qc_review_submit(actor=q.world.coordinator, review=review, scores=FULL, feedback="好")
        assert stranger.value.status == 403
        done = qc.qc_review_submit(actor=q.reviewer, review=review, scores=FULL, feedback="意见内容偏简略，建议补充鉴别诊断。")
    assert done.total == 91 and done.answer_due == done.submitted_at + dt.timedelta(days=15)
    assert AuditEvent.objects.filter(event_type="qc.refuse").count() == 2
    assert AuditEvent.objects.filter(event_type="qc.review.submit").count() == 1


def test_jl_o2_the_facility_answers_and_a_missed_deadline_is_flagged(q, world):
    _draw, review = q.assigned()
    with time_machine.travel(DECEMBER, tick=False):
        review = qc.qc_review_submit(actor=q.reviewer, review=review, scores=FULL, feedback="补充鉴别诊断。")
    admin = staff(world.inviting, StaffRole.FACILITY_ADMIN)
    with time_machine.travel(review.answer_due + dt.timedelta(hours=1), tick=False):
        assert rules.qc_answer_overdue(answer_due=review.answer_due, answered_at=None, now=dt.datetime.now(dt.UTC))
        with pytest.raises(ApplicationError) as stranger:
            qc.qc_answer(actor=world.invited_coordinator, review=review, answer="已整改")
        assert stranger.value.status == 403
        answered = qc.qc_answer(actor=admin, review=review, answer="已组织培训，补充鉴别诊断模板。")
    assert AuditEvent.objects.get(event_type="qc.answer").details["late"] is True
    assert rules.qc_answer_overdue(answer_due=answered.answer_due, answered_at=answered.answered_at, now=answered.answered_at)


def test_jl_o2_each_side_is_told_its_next_step_reviewer_on_assignment_facility_on_scoring(q, world):
    """Issue 10: the feedback reaches the facility (art. 27) — a notification with the score and the
    answer deadline to its administrators and coordinators; the named expert is told of the case to
    score. No patient data in either: the request number and a link."""
    from consultations.models import Notification

    admin = staff(world.inviting, StaffRole.FACILITY_ADMIN)
    _draw, review = q.assigned()
    link = reverse("audit:qc-review-detail", args=[review.pk])
    told = Notification.objects.get(user=q.reviewer, message_key="qc.review_assigned")
    assert told.link == link and told.params["n"] == review.consultation.number
    assert not Notification.objects.filter(message_key="qc.feedback_received").exists()
    with time_machine.travel(DECEMBER, tick=False):
        qc.qc_review_submit(actor=q.reviewer, review=review, scores=FULL, feedback="补充鉴别诊断。")
    feedback = Notification.objects.filter(message_key="qc.feedback_received", link=link)
    assert set(feedback.values_list("user_id", flat=True)) == {admin.pk, world.coordinator.pk}
    assert feedback.first().params["t"] == 91 and "JL-O2" in feedback.first().title


# --- Pages and API (scope) ---------------------------------------------------------------------------


def test_jl_o2_pages_show_each_party_its_part(q, world, django_assert_max_num_queries):
    draw, review = q.assigned()
    with time_machine.travel(DECEMBER, tick=False):
        county = Client()
        county.force_login(q.county)
        page = county.get(reverse("audit:qc-draw-detail", args=[draw.pk]))
        assert page.status_code == 200 and draw.seed in page.content.decode() and "可复现" in page.content.decode()
        with django_assert_max_num_queries(20):
            assert county.get(reverse("audit:qc-plan-list")).status_code == 200
        reviewer = Client()
        reviewer.force_login(q.reviewer)
        assert reviewer.get(reverse("audit:qc-review-list")).status_code == 200
        assert reviewer.get(reverse("audit:qc-draw-detail", args=[draw.pk])).status_code == 404
        form = {"feedback": "补充鉴别诊断。", **{f"score_{k}": v for k, v in FULL.items()}}
        over = reviewer.post(reverse("audit:qc-review-detail", args=[review.pk]), {**form, "score_opinion": 31})
        assert over.status_code == 400 and "JL-O2" in over.content.decode()
        assert reviewer.post(reverse("audit:qc-review-detail", args=[review.pk]), form).status_code == 302
        facility = Client()
        facility.force_login(staff(world.inviting, StaffRole.FACILITY_ADMIN))
        assert "补充鉴别诊断" in facility.get(reverse("audit:qc-review-list")).content.decode()
        assert facility.post(reverse("audit:qc-review-detail", args=[review.pk]), {"answer": "已整改"}).status_code == 302
        outsider = Client()
        outsider.force_login(regulator("220202"))
        assert outsider.get(reverse("audit:qc-review-detail", args=[review.pk])).status_code == 404


def test_jl_o2_api_lists_are_scoped(q, world):
    draw, review = q.assigned()
    with time_machine.travel(DECEMBER, tick=False):
        county = token_client(q.county)
        assert [p["id"] for p in county.get("/api/v1/qc-plans/").json()["results"]] == [q.plan.pk]
        draws = county.get("/api/v1/qc-draws/").json()["results"]
        assert draws[0]["seed"] == draw.seed and draws[0]["case_ids"] == draw.case_ids
        mine = token_client(q.reviewer).get("/api/v1/qc-reviews/").json()["results"]
        assert [r["id"] for r in mine] == [review.pk]
        other = token_client(regulator("220202"))
        assert other.get("/api/v1/qc-plans/").json()["results"] == []
        assert other.get("/api/v1/qc-reviews/").json()["results"] == []


def test_jl_o2_the_grant_condition_compiled_once_reads_the_same_cases(q):
    """Issue 11: ``qc_granted`` (``QCGranted``, its two subqueries compiled once per database) reads
    the cases the two ``PkAmong`` subqueries read — during the review period and after it, for the
    reviewer and anyone else, and nested in another model's query."""
    from django.db.models import Q
    from django.utils import timezone

    from consultations.models import ConsultationQuerySet, Document, PkAmong, _view_grants

    def pk_among(user, now):
        granted = _view_grants().filter(user_id=user.pk)
        current = QCReview.objects.filter(reviewer_id=user.pk, draw__review_until__gt=now).values("consultation_id")
        return Q(PkAmong(granted)) & Q(PkAmong(current))

    draw, review = q.assigned()
    for moment, reviewed in ((DECEMBER, {review.consultation_id}), (draw.review_until + dt.timedelta(seconds=1), set())):
        with time_machine.travel(moment, tick=False):
            now = timezone.now()
            for user in (q.reviewer, q.world.coordinator, q.world.invited_coordinator):
                expected = set(Consultation.objects.filter(pk_among(user, now)).values_list("pk", flat=True))
                granted = ConsultationQuerySet.qc_granted(user)
                assert set(Consultation.objects.filter(granted).values_list("pk", flat=True)) == expected
                assert Document.objects.filter(consultation__in=Consultation.objects.filter(granted)).count() == (
                    Document.objects.filter(consultation__in=Consultation.objects.filter(pk_among(user, now))).count()
                )
            assert set(Consultation.objects.filter(ConsultationQuerySet.qc_granted(q.reviewer)).values_list("pk", flat=True)) == reviewed
