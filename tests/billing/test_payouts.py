"""JL-B6 (art. 43): per-person payouts of the staff part of a month's charges.

The month under test is November 2026 (Beijing time); reports are drafted from 1 December on.
Charges are made the way the portal makes them (consultations run to closed through the services);
each test travels with ``time_machine`` from its one frozen "now".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from fractions import Fraction

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from audit.models import AuditEvent
from billing import rules, services
from billing.choices import PayoutState
from billing.models import Charge, PayoutReport
from billing.tasks import draft_payouts_task
from consultations import services as consultation_services
from facilities.choices import StaffRole
from telemed.errors import ApplicationError
from tests.api_cases import assert_error, token_client
from tests.billing import IMAGING_FEN, close, complete, complete_from_another_county, priced
from tests.factories import FacilityFactory, PhysicianFactory, RegistrationFactory, division, regulator, staff

BEIJING = rules.BEIJING
NOVEMBER = dt.date(2026, 11, 1)
MID_NOVEMBER = "2026-11-10T10:00:00+08:00"
AFTER_NOVEMBER = dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=BEIJING)

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at(MID_NOVEMBER)]


# --- The pure rule ------------------------------------------------------------------------------


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
)
def test_jl_b6_distribute_adds_up_to_the_fen_and_stays_within_a_fen_of_the_exact_share(amount, weights):
    parts = rules.distribute(amount, weights)
    assert sum(parts) == amount
    assert all(part >= 0 for part in parts)
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(Fraction(part) - Fraction(amount * weight, total)) < 1
        if weight == 0:
            assert part == 0


def test_jl_b6_distribute_breaks_ties_by_the_order_given():
    assert rules.distribute(100, [1, 1, 1]) == [34, 33, 33]
    assert rules.distribute(1, [1, 1]) == [1, 0]
    assert rules.distribute(7, [2, 1]) == [5, 2]  # 4.67 / 2.33: the larger remainder gets the fen


def test_jl_b6_distribute_refuses_what_is_not_money():
    with pytest.raises(TypeError):
        rules.distribute(1.5, [1])
    with pytest.raises(ValueError):
        rules.distribute(-1, [1])
    with pytest.raises(ValueError):
        rules.distribute(10, [0, 0])


def test_jl_b5_b6_staff_part_rounds_up_for_the_staff():
    assert rules.staff_part(10501, 6000) == 6301  # 6300.6 → 6301: never below 60 %
    assert rules.staff_part(10000, 6000) == 6000
    assert rules.staff_part(4500, 10000) == 4500


@given(share=st.integers(min_value=0, max_value=10**9), basis_points=st.integers(min_value=6000, max_value=10000),
       weights=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=6))
def test_jl_b5_b6_a_charges_staff_part_is_at_least_the_policy_and_is_paid_out_exactly(share, basis_points, weights):
    staff = rules.staff_part(share, basis_points)
    assert Fraction(share * basis_points, 10000) <= staff < Fraction(share * basis_points, 10000) + 1
    assert 0 <= staff <= share
    assert sum(rules.distribute(staff, weights)) == staff


def test_jl_b6_recipients_signer_counts_double_and_order_is_by_physician():
    invited = rules.payout_recipients(side="invited", expert_ids=[9, 3], signer_ids=[9])
    assert [(r.physician_id, r.role, r.weight) for r in invited] == [(3, "expert", 1), (9, "signer", 2)]
    inviting = rules.payout_recipients(side="inviting", attending_ids=[5, 2, 5])
    assert [(r.physician_id, r.role) for r in inviting] == [(2, "attending"), (5, "attending")]


def test_jl_b6_month_ends_at_midnight_beijing():
    assert not rules.month_ended_check(NOVEMBER, now=dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BEIJING)).passed
    assert rules.month_ended_check(NOVEMBER, now=dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=BEIJING)).passed


# --- Building a month ---------------------------------------------------------------------------


def _policies(billing, invited_bp=6500, inviting_bp=7000):
    since = dt.date(2026, 1, 1)
    services.allocation_policy_adopt(actor=billing.invited_finance, facility=billing.invited, staff_share_basis_points=invited_bp,
                                     valid_from=since, description="按签发与参与分配")
    services.allocation_policy_adopt(actor=billing.inviting_finance, facility=billing.inviting, staff_share_basis_points=inviting_bp,
                                     valid_from=since, description="经治医师")


def _second_expert(world, name="赵专家"):
    user = staff(world.invited, StaffRole.CLINICIAN, username="expert2", first_name=name)
    return RegistrationFactory(facility=world.invited, physician=PhysicianFactory(user=user, name=name, scopes=["imaging"])).physician


def _complete_with_two_experts(world, second):
    """One imaging case with two assigned experts; only the first signs."""
    consultation = world.accepted_with_expert(service="imaging", wanted_scope="imaging")
    consultation_services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=second)
    consultation_services.opinion_sign(actor=world.expert, consultation=consultation, content="影像诊断报告")
    close(actor=world.clinician, consultation=consultation)
    return Charge.objects.get(consultation=consultation)


@pytest.fixture
def month(world):
    """November 2026: three charges of world's pair (one with two experts) and one from another county."""
    with time_machine.travel(dt.datetime(2026, 11, 10, 10, tzinfo=BEIJING), tick=False):
        billing = priced(world)
        _policies(billing)
        second = _second_expert(world)
        charges = [complete(world), complete(world), _complete_with_two_experts(world, second)]
        charges.append(complete_from_another_county(world))
    return billing, charges, second


def _at(moment):
    return time_machine.travel(moment, tick=False)


# --- Services -----------------------------------------------------------------------------------


def test_jl_b6_reconciles_to_the_fen_with_several_charges_and_odd_amounts(world, month):
    billing, charges, second = month
    with _at(AFTER_NOVEMBER):
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    # Each charge: 15001 fen at 2:8 → invited 12001; 65 % rounded up → 7801 per charge.
    assert all(c.invited_share_fen == 12001 for c in charges) and IMAGING_FEN == 15001
    assert report.charge_count == 4
    assert report.share_total_fen == 4 * 12001
    assert report.staff_total_fen == 4 * 7801
    lines = list(report.lines.all())
    assert sum(line.amount_fen for line in lines) == report.staff_total_fen == report.lines_total_fen
    two = [line for line in lines if line.charge_id == charges[2].pk]
    by_role = {line.role: line.amount_fen for line in two}
    assert by_role == {"signer": 5201, "expert": 2600}  # 7801 × 2/3 = 5200.67 → 5201; 2600.33 → 2600
    assert {line.physician_id for line in two} == {world.expert_physician.pk, second.pk}
    # The inviting side: world's inviting hospital, 70 % of 3000 = 2100 per charge to the attending physician.
    with _at(AFTER_NOVEMBER):
        inviting = services.payout_report_draft(actor=billing.inviting_finance, facility=billing.inviting, month=NOVEMBER)
    assert inviting.charge_count == 3
    assert inviting.staff_total_fen == 3 * 2100 == inviting.lines_total_fen
    assert set(inviting.lines.values_list("physician_id", flat=True)) == {world.attending.pk}
    with _at(AFTER_NOVEMBER + dt.timedelta(hours=1)):
        confirmed = services.payout_report_confirm(actor=billing.invited_finance, report=report)
    assert confirmed.state == PayoutState.CONFIRMED
    assert AuditEvent.objects.filter(event_type="billing.payout.confirm", outcome="success", object_id=str(report.pk)).exists()


def test_jl_b6_a_refund_in_the_month_is_a_negative_line_and_still_reconciles(world, month):
    billing, charges, _second = month
    with _at(dt.datetime(2026, 11, 15, 9, tzinfo=BEIJING)):
        services.charge_reverse(actor=billing.inviting_finance, charge=charges[1], reason="患者退费")
    with _at(AFTER_NOVEMBER):
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
        refund = report.lines.get(kind="reversal")
        assert refund.charge_id == charges[1].pk and refund.amount_fen == -7801
        assert report.charge_count == 5 and report.staff_total_fen == 3 * 7801 == report.lines_total_fen
        services.payout_report_confirm(actor=billing.invited_finance, report=report)


@pytest.mark.frozen_at("2026-11-30T23:59:58+08:00")
def test_jl_b6_month_boundary_23_59_59_and_00_00_00_beijing(world):
    billing = priced(world)
    _policies(billing)
    with _at(dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BEIJING)):
        last = complete(world)
    with _at(dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=BEIJING)):
        first = complete(world)
    assert rules.month_of(last.completed_at) == NOVEMBER and rules.month_of(first.completed_at) == dt.date(2026, 12, 1)
    with _at(dt.datetime(2026, 12, 1, 0, 0, 1, tzinfo=BEIJING)):
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    assert set(report.lines.values_list("charge_id", flat=True)) == {last.pk}
    assert report.charge_count == 1


@pytest.mark.frozen_at("2026-11-30T23:59:59+08:00")
def test_jl_b6_drafting_before_the_month_has_ended_is_refused_and_on_record(world):
    billing = priced(world)
    with _at(dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BEIJING)), pytest.raises(ApplicationError) as refused:
        services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    assert refused.value.code == "JL-B6"
    assert "JL-B6" in refused.value.message and "结束" in refused.value.message
    assert not PayoutReport.objects.exists()
    event = AuditEvent.objects.get(event_type="billing.payout.draft", outcome="failure")
    assert event.details["code"] == "JL-B6" and event.details["month"] == "2026-11"


def test_jl_b6_a_charge_without_an_allocation_policy_is_refused_and_on_record(world):
    billing = priced(world)
    complete(world)
    with _at(AFTER_NOVEMBER), pytest.raises(ApplicationError) as refused:
        services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    assert refused.value.code == "JL-B6" and "JL-B5" in refused.value.message
    assert AuditEvent.objects.filter(event_type="billing.payout.draft", outcome="failure").exists()


def test_jl_b6_redrafting_an_unconfirmed_report_is_idempotent(world, month):
    billing, _charges, _second = month
    with _at(AFTER_NOVEMBER):
        first = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
        lines = list(first.lines.order_by("pk").values_list("pk", "amount_fen"))
        events = AuditEvent.objects.filter(event_type="billing.payout.draft").count()
        again = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    assert again.pk == first.pk and PayoutReport.objects.count() == 1
    assert list(again.lines.order_by("pk").values_list("pk", "amount_fen")) == lines
    assert AuditEvent.objects.filter(event_type="billing.payout.draft").count() == events


def test_jl_b6_a_confirmed_report_is_immutable_and_a_correction_is_a_new_version(world, month):
    billing, charges, _second = month
    with _at(AFTER_NOVEMBER):
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
        services.payout_report_confirm(actor=billing.invited_finance, report=report)
        with pytest.raises(ApplicationError) as refused:
            services.payout_report_confirm(actor=billing.invited_finance, report=report)
        assert refused.value.code == "invalid_state"
        assert services.payout_report_draft(actor=None, facility=billing.invited, month=NOVEMBER).pk == report.pk
        before = list(report.lines.values_list("pk", "amount_fen"))
        services.charge_reverse(actor=billing.inviting_finance, charge=charges[0], reason="重复收费")  # December: not November
        assert services.payout_report_draft(actor=None, facility=billing.invited, month=NOVEMBER).pk == report.pk
    # A late charge of November (backfilled) changes the month: a new version, the old one kept.
    with _at(dt.datetime(2026, 11, 20, 9, tzinfo=BEIJING)):
        late = complete(world)
    with _at(AFTER_NOVEMBER + dt.timedelta(days=2)):
        correction = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    report.refresh_from_db()
    assert report.state == PayoutState.CONFIRMED and list(report.lines.values_list("pk", "amount_fen")) == before
    assert correction.pk != report.pk and correction.version == 2 and correction.supersedes_id == report.pk
    assert correction.state == PayoutState.DRAFT and late.pk in set(correction.lines.values_list("charge_id", flat=True))
    assert AuditEvent.objects.filter(event_type="billing.payout.confirm", outcome="failure").exists()


def test_jl_b6_confirmation_is_refused_when_the_lines_do_not_reconcile(world, month):
    """A case drafted, then a late charge of the month: the draft is stale and confirming it is refused."""
    billing, _charges, _second = month
    with _at(AFTER_NOVEMBER):
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    with _at(dt.datetime(2026, 11, 25, 9, tzinfo=BEIJING)):
        complete(world)
    with _at(AFTER_NOVEMBER + dt.timedelta(hours=2)), pytest.raises(ApplicationError) as refused:
        services.payout_report_confirm(actor=billing.invited_finance, report=report)
    assert refused.value.code == "JL-B6"
    assert "个人分配合计须与当月收费中医务人员部分一致" in refused.value.message
    report.refresh_from_db()
    assert report.state == PayoutState.DRAFT
    assert AuditEvent.objects.filter(event_type="billing.payout.confirm", outcome="failure", object_id=str(report.pk)).exists()


def test_jl_b6_only_the_facilitys_finance_officer_drafts_and_confirms(world, month):
    billing, _charges, _second = month
    with _at(AFTER_NOVEMBER):
        with pytest.raises(ApplicationError) as denied:
            services.payout_report_draft(actor=world.expert, facility=billing.invited, month=NOVEMBER)
        assert denied.value.code == "permission_denied"
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
        with pytest.raises(ApplicationError) as denied:
            services.payout_report_confirm(actor=billing.inviting_finance, report=report)
        assert denied.value.code == "permission_denied"


# --- The monthly task -----------------------------------------------------------------------------


def test_jl_b6_monthly_task_drafts_last_month_in_batches_and_is_idempotent(world, month, django_assert_max_num_queries):
    from telemed.celery import _beat_schedule

    beat = _beat_schedule()["jl-b6-monthly-payouts"]
    assert beat["task"] == "billing.draft_payouts"
    assert (beat["schedule"].hour, beat["schedule"].minute, beat["schedule"].day_of_month) == ({3}, {0}, {2})
    billing, _charges, _second = month
    other = PayoutReport.objects.count()
    with _at(dt.datetime(2026, 12, 2, 3, tzinfo=BEIJING)):
        result = draft_payouts_task()
        assert result["month"] == "2026-11"
        # world's two hospitals are drafted; the other county's hospital has no policy: refused, on record.
        assert len(result["reports"]) == 2 and len(result["refused"]) == 1
        with CaptureQueriesContext(connection) as few:
            draft_payouts_task()
    assert PayoutReport.objects.count() == other + 2
    # More charges in the month: the same number of queries (one query set per facility).
    with _at(dt.datetime(2026, 11, 12, 10, tzinfo=BEIJING)):
        for _ in range(4):
            complete(world)
    with _at(dt.datetime(2026, 12, 2, 4, tzinfo=BEIJING)):
        draft_payouts_task()
        with CaptureQueriesContext(connection) as many:
            draft_payouts_task()
    assert len(many) == len(few)
    old, report = PayoutReport.objects.filter(facility=billing.invited, month=NOVEMBER).order_by("version")
    assert report.charge_count == 8 and report.lines_total_fen == report.staff_total_fen
    assert old.state == PayoutState.SUPERSEDED and report.supersedes == old and old.lines.count() == 5  # kept, not deleted


def test_jl_b6_drafting_a_month_of_more_charges_takes_no_more_queries(world, month):
    """Re-drafting after one more charge and after four more: the same number of queries."""
    billing, _charges, _second = month
    with _at(AFTER_NOVEMBER):
        services.payout_report_draft(actor=None, facility=billing.invited, month=NOVEMBER)
    counts = []
    for more, hour in ((1, 10), (4, 11)):
        with _at(dt.datetime(2026, 11, 12, hour, tzinfo=BEIJING)):
            for _ in range(more):
                complete(world)
        with _at(AFTER_NOVEMBER + dt.timedelta(hours=hour)), CaptureQueriesContext(connection) as queries:
            services.payout_report_draft(actor=None, facility=billing.invited, month=NOVEMBER)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert PayoutReport.objects.filter(facility=billing.invited).latest("version").charge_count == 9


# --- Pages, API and exports -----------------------------------------------------------------------

HOSTILE = '=HYPERLINK("http://evil.example/x","点击")'


@pytest.fixture
def drafted(world, month):
    billing, charges, second = month
    with _at(AFTER_NOVEMBER):
        report = services.payout_report_draft(actor=billing.invited_finance, facility=billing.invited, month=NOVEMBER)
    return billing, report, second


def _page(user):
    client = Client()
    client.force_login(user)
    return client


def test_jl_b6_finance_officer_lists_filters_and_sees_every_line(world, drafted, django_assert_max_num_queries):
    billing, report, second = drafted
    client = _page(billing.invited_finance)
    listing = client.get(reverse("billing:payout-list"), {"month": "2026-11", "state": "draft"})
    assert listing.status_code == 200 and "2026-11" in listing.content.decode()
    assert client.get(reverse("billing:payout-list"), {"state": "confirmed"}).context["page_obj"].paginator.count == 0
    with django_assert_max_num_queries(20):
        detail = client.get(reverse("billing:payout-detail", args=[report.pk]))
    assert detail.status_code == 200
    assert len(detail.context["lines"]) == report.lines.count() and second.name in detail.content.decode()
    assert "onclick=" not in detail.content.decode()
    assert detail.context["can_confirm"] and detail.context["can_export"]
    confirmed = client.post(reverse("billing:payout-confirm", args=[report.pk]))
    assert confirmed.status_code == 302
    report.refresh_from_db()
    assert report.state == PayoutState.CONFIRMED and report.confirmed_by == billing.invited_finance
    again = client.post(reverse("billing:payout-confirm", args=[report.pk]), follow=True)
    assert "不可更改" in again.content.decode()


def test_jl_b6_a_person_sees_only_their_own_lines_and_others_are_404(world, drafted):
    billing, report, second = drafted
    own = report.lines.filter(physician=second)
    client = _page(second.user)
    page = client.get(reverse("billing:my-payouts"))
    assert page.status_code == 200
    assert [line.pk for line, _money in page.context["rows"]] == list(own.order_by("charge__completed_at").values_list("pk", flat=True))
    assert client.get(reverse("billing:payout-detail", args=[report.pk])).status_code == 404
    assert client.get(reverse("billing:payout-export", args=[report.pk, "csv"])).status_code == 404
    assert reverse("billing:my-payouts") in client.get(reverse("home")).content.decode()  # in the navigation
    api = token_client(second.user)
    mine = api.get("/api/v1/my-payouts/").json()
    ids = {row["id"] for row in mine["results"]} if isinstance(mine, dict) else {row["id"] for row in mine}
    assert ids == set(own.values_list("pk", flat=True))
    assert_error(api.get(f"/api/v1/payout-reports/{report.pk}/"), 404, "not_found")
    # The expert who signed sees theirs, not the second expert's.
    theirs = token_client(world.expert).get("/api/v1/my-payouts/").json()
    rows = theirs["results"] if isinstance(theirs, dict) else theirs
    assert rows and all(row["physician"] == world.expert_physician.pk for row in rows)


def test_jl_b6_another_facilitys_finance_officer_gets_404(world, drafted):
    _billing, report, _second = drafted
    elsewhere = FacilityFactory(name="吉林市中心医院", division=division("220202"))
    outsider = staff(elsewhere, StaffRole.FINANCE)
    assert _page(outsider).get(reverse("billing:payout-detail", args=[report.pk])).status_code == 404
    assert _page(outsider).get(reverse("billing:payout-export", args=[report.pk, "csv"])).status_code == 404
    assert_error(token_client(outsider).post(f"/api/v1/payout-reports/{report.pk}/confirm/"), 404, "not_found")
    # The counterpart hospital's finance officer does not see the invited hospital's payouts either.
    assert _page(_billing.inviting_finance).get(reverse("billing:payout-detail", args=[report.pk])).status_code == 404


def test_jl_b6_the_regulator_of_the_division_sees_totals_but_no_persons(world, drafted):
    _billing, report, second = drafted
    body = token_client(regulator("220100")).get(f"/api/v1/payout-reports/{report.pk}/").json()
    assert body["lines_total_fen"] == report.lines_total_fen and body["lines"] == [] and body["persons"] == []
    assert token_client(regulator("220200")).get(f"/api/v1/payout-reports/{report.pk}/").status_code == 404


def test_jl_b6_api_draft_before_month_end_is_refused_with_the_rule_code(world, month):
    billing, _charges, _second = month
    api = token_client(billing.invited_finance)
    with _at(dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BEIJING)):
        body = assert_error(api.post("/api/v1/payout-reports/", {"facility": billing.invited.pk, "month": "2026-11"}, format="json"),
                            400, "JL-B6")
    assert "JL-B6" in body["message"] and "结束" in body["message"]
    assert_error(api.post("/api/v1/payout-reports/", {"facility": billing.invited.pk, "month": "2026-13"}, format="json"), 400, "invalid")
    with _at(AFTER_NOVEMBER):
        created = api.post("/api/v1/payout-reports/", {"facility": billing.invited.pk, "month": "2026-11"}, format="json")
        assert created.status_code == 201 and created.json()["reconciliation"]["passed"]
        again = api.post("/api/v1/payout-reports/", {"facility": billing.invited.pk, "month": "2026-11"}, format="json")
        assert again.json()["id"] == created.json()["id"]
        confirmed = api.post(f"/api/v1/payout-reports/{created.json()['id']}/confirm/")
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    assert_error(api.post(f"/api/v1/payout-reports/{created.json()['id']}/confirm/"), 400, "invalid_state")
    assert token_client(world.expert).post("/api/v1/payout-reports/", {"facility": billing.invited.pk, "month": "2026-11"},
                                           format="json").status_code == 403


def test_jl_b6_page_draft_before_month_end_is_a_clear_chinese_message(world, month):
    billing, _charges, _second = month
    with _at(dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=BEIJING)):
        client = _page(billing.invited_finance)  # signed in then: the idle time-out (JL-A2) counts from here
        response = client.post(reverse("billing:payout-draft"), {"facility": billing.invited.pk, "month": "2026-11"}, follow=True)
    assert response.status_code == 200 and "JL-B6" in response.content.decode()
    assert not PayoutReport.objects.exists()
    with _at(AFTER_NOVEMBER):
        client = _page(billing.invited_finance)
        response = client.post(reverse("billing:payout-draft"), {"facility": billing.invited.pk, "month": "2026-11"})
        report = PayoutReport.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("billing:payout-detail", args=[report.pk])
        bad = client.post(reverse("billing:payout-draft"), {"facility": billing.invited.pk, "month": "十一月"}, follow=True)
    assert bad.status_code == 200 and "2026-11" in bad.content.decode()


def test_jl_b6_exports_read_back_and_are_audited(world, drafted):
    billing, report, second = drafted
    client = _page(billing.invited_finance)
    response = client.get(reverse("billing:payout-export", args=[report.pk, "csv"]))
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows.index(list(exports_columns()))
    lines = rows[header + 1:-1]
    assert len(lines) == report.lines.count()
    assert sum(round(float(row[-1]) * 100) for row in lines) == report.staff_total_fen
    assert rows[-1][0] == "合计" and rows[-1][-1] == rules.yuan(report.lines_total_fen).replace("¥", "").replace(",", "")
    assert any(row[:1] == [second.name] for row in rows)
    workbook = load_workbook(io.BytesIO(client.get(reverse("billing:payout-export", args=[report.pk, "xlsx"])).content))
    detail = workbook["明细"]
    amounts = [detail.cell(row=r, column=8).value for r in range(2, detail.max_row + 1)]
    assert round(sum(amounts) * 100) == report.lines_total_fen
    events = AuditEvent.objects.filter(event_type="billing.payout.export", object_id=str(report.pk))
    assert sorted(e.details["format"] for e in events) == ["csv", "xlsx"]
    api = token_client(billing.invited_finance).get(f"/api/v1/payout-reports/{report.pk}/export/", {"format": "xlsx"})
    assert api.status_code == 200 and api["Content-Type"].startswith("application/vnd.openxml")
    assert _page(billing.invited_finance).get(reverse("billing:payout-export", args=[report.pk, "pdf"])).status_code == 404


def exports_columns():
    from billing.exports import PAYOUT_COLUMNS

    return PAYOUT_COLUMNS


def test_jl_b6_names_typed_as_formulas_are_neutralised_in_csv_and_xlsx(world, drafted):
    billing, report, second = drafted
    second.name = HOSTILE
    second.save(update_fields=["name"])
    client = _page(billing.invited_finance)
    text = client.get(reverse("billing:payout-export", args=[report.pk, "csv"])).content.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'" + HOSTILE in cells and HOSTILE not in cells
    workbook = load_workbook(io.BytesIO(client.get(reverse("billing:payout-export", args=[report.pk, "xlsx"])).content))
    values = [cell.value for sheet in workbook for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str)]
    assert "'" + HOSTILE in values
    assert not [v for v in values if v.startswith("=")]
