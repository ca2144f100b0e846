"""JL-O6: complaints about a facility — public intake without an account (rate-limited, a tracking
number to follow it), staff entry, the facility's steps under deadlines, the regulators' notes and
overrides (JL-O1 scope), every step on the audit record (JL-A1), substantiated counts per year."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import complaint_rules as rules
from audit import complaints
from audit.complaint_models import Complaint
from audit.complaint_selectors import complaint_for_complainant, substantiated_by_year
from audit.models import AuditEvent
from consultations.models import Notification
from facilities.choices import StaffRole
from telemed.errors import ApplicationError
from tests.api_cases import (
    Access,
    Call,
    EndpointAccessCases,
    assert_error,
    assert_list_queries_constant,
    token_client,
)
from tests.factories import FacilityFactory, division, regulator, staff

pytestmark = pytest.mark.frozen_at("2026-12-07T02:00:00Z")
PHONE = "13912345678"


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()  # the rate limit counts in the default cache, which outlives a test
    yield
    cache.clear()


def _public(world, **overrides):
    values = dict(facility=world.invited, complainant_name="王女士", complainant_phone=PHONE, relation="family",
                  text="会诊后三天未收到报告。")
    values.update(overrides)
    return complaints.complaint_receive(actor=None, **values)


def _elsewhere():
    return FacilityFactory(name="延边医院", division=division("222401"), licence_issuer=division("222400"))


# --- The rules, pure ---------------------------------------------------------------------------


def test_jl_o6_the_state_graph_is_data_and_each_act_has_its_actor():
    assert rules.allowed_acts(state="received", handler=True, regulator=False) == ["acknowledge", "investigate"]
    assert rules.allowed_acts(state="investigating", handler=True, regulator=False) == ["investigate", "answer"]
    assert rules.allowed_acts(state="answered", handler=True, regulator=False) == []
    assert rules.allowed_acts(state="answered", handler=False, regulator=True) == ["note", "override"]
    failing = [c for c in rules.act_checks(act="answer", state="received", text=" ", substantiated=None) if not c.passed]
    assert len(failing) == 3 and all(c.rule == "JL-O6" for c in failing)


def test_jl_o6_deadlines_are_calendar_days_and_overdue_is_judged_on_the_stored_times():
    received = dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC)
    ack, answer = rules.deadlines(received_at=received, ack_days=2, answer_days=10)
    assert (ack, answer) == (dt.datetime(2026, 12, 9, 2, tzinfo=dt.UTC), dt.datetime(2026, 12, 17, 2, tzinfo=dt.UTC))
    assert not rules.ack_overdue(ack_due_at=ack, acknowledged_at=None, now=ack)
    assert rules.ack_overdue(ack_due_at=ack, acknowledged_at=None, now=ack + dt.timedelta(seconds=1))
    assert rules.ack_overdue(ack_due_at=ack, acknowledged_at=ack + dt.timedelta(hours=1), now=answer)  # late stays late
    assert not rules.answer_overdue(answer_due_at=answer, answered_at=answer, now=answer + dt.timedelta(days=30))


def test_jl_o6_tracking_numbers_and_the_phone_tail():
    assert rules.tracking_number(day=dt.date(2026, 12, 7), digits=42) == "TS20261207000042"
    assert rules.TRACKING_PATTERN.match(rules.normalise_tracking(" ts20261207000042 "))
    assert rules.phone_tail_matches(phone=PHONE, tail="5678")
    assert not rules.phone_tail_matches(phone=PHONE, tail="5677") and not rules.phone_tail_matches(phone=PHONE, tail="")
    assert rules.normalise_phone("+86 139-1234-5678") == "8613912345678" and rules.normalise_phone("139abc") == ""


# --- Intake ------------------------------------------------------------------------------------


def test_jl_o6_public_intake_without_login_gives_a_tracking_number_and_tells_the_facility(client, world):
    admin = staff(world.invited, StaffRole.FACILITY_ADMIN)
    city = regulator("220100", username="changchun")
    outsider = regulator("220200", username="jilin_city")
    url = reverse("public:complaint-new")
    page = client.get(url)
    assert page.status_code == 200 and "远程医疗服务投诉" in page.content.decode()
    response = client.post(url, {"facility": world.invited.pk, "complainant_name": "王女士", "complainant_phone": "139 1234 5678",
                                 "relation": "patient", "text": "等待\u202e时间过长", "case_number": ""})
    assert response.status_code == 200, response.content.decode()
    complaint = Complaint.objects.get()
    assert complaint.tracking_number in response.content.decode()
    assert complaint.channel == "public_form" and complaint.complainant_phone == PHONE and "\u202e" not in complaint.text
    assert complaint.ack_due_at == complaint.received_at + dt.timedelta(days=2)
    assert complaint.answer_due_at == complaint.received_at + dt.timedelta(days=10)
    event = AuditEvent.objects.get(event_type="complaint.receive")
    assert event.actor_id is None and event.object_id == str(complaint.pk)
    # JL-A2: the phone is ciphertext in its column.
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT complainant_phone FROM audit_complaint")
        assert PHONE not in cursor.fetchone()[0]
    told = set(Notification.objects.values_list("user_id", flat=True))
    assert {admin.pk, world.invited_coordinator.pk, city.pk} <= told and outsider.pk not in told


def test_jl_o6_the_public_form_is_reachable_mid_second_step_and_refuses_bad_input_in_chinese(client, world):
    client.force_login(staff(world.invited, StaffRole.FACILITY_ADMIN), otp=False)  # second step not passed
    assert client.get(reverse("public:complaint-new")).status_code == 200
    bad = client.post(reverse("public:complaint-new"), {"facility": world.invited.pk, "complainant_name": "王",
                                                        "complainant_phone": "12ab", "relation": "other", "text": "x"})
    assert bad.status_code == 400 and "JL-O6" in bad.content.decode() and not Complaint.objects.exists()


def test_jl_o6_the_public_pages_are_rate_limited_per_address_with_a_chinese_429(world, settings):
    settings.TELEMED_COMPLAINT_RATE = "2/hour"
    client = Client(REMOTE_ADDR="203.0.113.7")
    data = {"facility": world.invited.pk, "complainant_name": "王", "complainant_phone": PHONE, "relation": "other", "text": "x"}
    assert [client.post(reverse("public:complaint-new"), data).status_code for _ in range(3)] == [200, 200, 429]
    refused = client.post(reverse("public:complaint-new"), data)
    assert refused.status_code == 429 and "JL-O6" in refused.content.decode() and "过于频繁" in refused.content.decode()
    assert Complaint.objects.count() == 2
    assert Client(REMOTE_ADDR="203.0.113.8").post(reverse("public:complaint-new"), data).status_code == 200  # another address
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        assert client.post(reverse("public:complaint-new"), data).status_code == 200  # the next window


def test_jl_o6_a_case_number_must_belong_to_the_facility_and_never_tells_where_else_it_is(world):
    case = world.sent()
    complaint = _public(world, case_number=case.number.lower())
    assert complaint.consultation == case
    other = _elsewhere()
    with pytest.raises(ApplicationError) as elsewhere:
        _public(world, facility=other, case_number=case.number)
    with pytest.raises(ApplicationError) as missing:
        _public(world, facility=other, case_number="YC-0000-000000")
    assert elsewhere.value.message == missing.value.message and elsewhere.value.code == "JL-O6"
    assert AuditEvent.objects.filter(event_type="complaint.refuse", outcome="failure").count() == 2


def test_jl_o6_status_needs_the_tracking_number_and_the_phone_tail_and_shows_only_the_state_and_answer(client, world):
    complaint = _public(world)
    url = reverse("public:complaint-status")
    good = client.post(url, {"tracking_number": complaint.tracking_number, "phone_tail": "5678"})
    assert good.status_code == 200 and "已受理" in good.content.decode()
    wrong_digits = client.post(url, {"tracking_number": complaint.tracking_number, "phone_tail": "0000"})
    wrong_number = client.post(url, {"tracking_number": "TS20261207999999", "phone_tail": "5678"})
    assert wrong_digits.status_code == wrong_number.status_code == 404
    assert "未找到该投诉" in wrong_digits.content.decode() and "未找到该投诉" in wrong_number.content.decode()
    assert complaint_for_complainant(tracking_number=complaint.tracking_number, phone_tail="0000") is None
    coordinator = world.invited_coordinator
    coordinator.first_name = "协调员甲"
    coordinator.save()
    complaints.complaint_acknowledge(actor=coordinator, complaint=complaint)
    complaints.complaint_investigate(actor=coordinator, complaint=complaint, text="内部调查：专家张某延误")
    complaints.complaint_answer(actor=coordinator, complaint=complaint, text="已督促专家出具报告并致歉。", substantiated=True)
    page = client.post(url, {"tracking_number": complaint.tracking_number.lower(), "phone_tail": "5678"}).content.decode()
    assert "已督促专家出具报告并致歉。" in page and "已答复" in page
    for private in ("内部调查", "协调员甲", "王女士", PHONE, "吉林大学第一医院"):
        assert private not in page


# --- Steps -------------------------------------------------------------------------------------


def test_jl_o6_each_step_is_audited_and_refusals_are_on_record(world):
    complaint = _public(world)
    coordinator = world.invited_coordinator
    with pytest.raises(ApplicationError) as early:
        complaints.complaint_answer(actor=coordinator, complaint=complaint, text="x", substantiated=False)
    assert early.value.status == 409
    with pytest.raises(ApplicationError) as clinician:
        complaints.complaint_acknowledge(actor=world.expert, complaint=complaint)  # a clinician of the facility
    assert clinician.value.status == 403 and "JL-O6" in clinician.value.message
    complaints.complaint_acknowledge(actor=coordinator, complaint=complaint)
    complaints.complaint_investigate(actor=coordinator, complaint=complaint, text="调阅会诊记录")
    with pytest.raises(ApplicationError) as no_finding:
        complaints.complaint_answer(actor=coordinator, complaint=complaint, text="答复", substantiated=None)
    assert "属实" in str(no_finding.value.extra)
    complaints.complaint_answer(actor=coordinator, complaint=complaint, text="经查不属实。", substantiated=False)
    complaint.refresh_from_db()
    assert complaint.state == "answered" and complaint.substantiated is False
    assert list(complaint.steps.values_list("kind", flat=True)) == ["receive", "acknowledge", "investigate", "answer"]
    events = list(AuditEvent.objects.filter(object_id=str(complaint.pk), outcome="success").order_by("sequence").values_list("event_type", flat=True))
    assert events == ["complaint.receive", "complaint.acknowledge", "complaint.investigate", "complaint.answer"]
    assert AuditEvent.objects.filter(event_type="complaint.refuse", outcome="failure").count() == 3


def test_jl_o6_regulators_over_the_facility_note_and_override_with_a_reason(world):
    complaint = _public(world)
    city = regulator("220100", username="changchun")
    other = regulator("220200", username="jilin_city")
    complaints.complaint_note(actor=city, complaint=complaint, text="请按期答复")
    with pytest.raises(ApplicationError) as outsider:
        complaints.complaint_note(actor=other, complaint=complaint, text="x")
    assert outsider.value.status == 403
    with pytest.raises(ApplicationError):
        complaints.complaint_override(actor=city, complaint=complaint, text="x", substantiated=True)  # not answered yet
    complaints.complaint_acknowledge(actor=world.invited_coordinator, complaint=complaint)
    complaints.complaint_answer(actor=world.invited_coordinator, complaint=complaint, text="不属实", substantiated=False)
    with pytest.raises(ApplicationError):
        complaints.complaint_override(actor=city, complaint=complaint, text="", substantiated=True)  # no reason
    with pytest.raises(ApplicationError):
        complaints.complaint_override(actor=city, complaint=complaint, text="同样", substantiated=False)  # no change
    complaints.complaint_override(actor=city, complaint=complaint, text="抽查录像证实延误", substantiated=True)
    complaint.refresh_from_db()
    assert complaint.substantiated is True and complaint.answer == "不属实"  # the answer the complainant read stays
    event = AuditEvent.objects.get(event_type="complaint.override")
    assert event.details["previous"] is False and event.details["substantiated"] is True
    assert event.acting_division_code == "220100"


def test_jl_o6_overdue_flags_move_with_time(client, world):
    complaint = _public(world)
    client.force_login(world.invited_coordinator)
    url = reverse("audit:complaint-detail", args=[complaint.pk])
    assert "逾期" not in client.get(url).content.decode()
    with time_machine.travel(timezone.now() + dt.timedelta(days=2, minutes=1)):
        client.force_login(world.invited_coordinator)  # the idle time-out (JL-A2) ended the session meanwhile
        page = client.get(reverse("audit:complaint-list")).content.decode()
        assert "确认逾期" in page
        complaints.complaint_acknowledge(actor=world.invited_coordinator, complaint=complaint)
    with time_machine.travel(timezone.now() + dt.timedelta(days=11)):
        client.force_login(world.invited_coordinator)
        api = client.get(reverse("audit-api:complaint-detail", args=[complaint.pk])).json()
        assert api["ack_overdue"] is True and api["answer_overdue"] is True


def test_jl_o6_pages_take_the_steps(client, world):
    complaint = _public(world)
    client.force_login(world.invited_coordinator)
    url = reverse("audit:complaint-detail", args=[complaint.pk])
    assert client.post(url, {"act": "acknowledge"}).status_code == 302
    refused = client.post(url, {"act": "answer", "answer-text": "已处理", "answer-finding": ""})
    assert refused.status_code == 400 and "须认定投诉是否属实" in refused.content.decode() and "已处理" in refused.content.decode()
    assert client.post(url, {"act": "answer", "answer-text": "已处理", "answer-finding": "yes"}).status_code == 302
    complaint.refresh_from_db()
    assert complaint.substantiated is True
    page = client.get(url).content.decode()
    assert "139****5678" in page and PHONE not in page  # JL-C9


def test_jl_o6_staff_entry_by_phone(client, world):
    client.force_login(world.invited_coordinator)
    response = client.post(reverse("audit:complaint-create"), {
        "facility": world.invited.pk, "complainant_name": "李先生", "complainant_phone": "0431-88888888",
        "relation": "patient", "text": "电话投诉：候诊时间长"})
    assert response.status_code == 302
    complaint = Complaint.objects.get()
    assert complaint.channel == "staff_entry" and complaint.received_by == world.invited_coordinator
    assert AuditEvent.objects.get(event_type="complaint.receive").acting_facility_id == world.invited.pk
    client.force_login(staff(world.invited, StaffRole.CLINICIAN))
    assert client.get(reverse("audit:complaint-create")).status_code == 403


def test_jl_o6_the_staff_entry_page_asks_when_the_complaint_came_in(client, world):
    """Issue 10: a complaint taken by phone yesterday and entered today runs its deadlines from
    yesterday; the page asks (the service allowed it, the form did not), and a time in the future is
    refused on the form in Chinese, the input kept."""
    client.force_login(world.invited_coordinator)
    fields = {"facility": world.invited.pk, "complainant_name": "李先生", "complainant_phone": "0431-88888888",
              "relation": "patient", "text": "电话投诉：候诊时间长"}
    page = client.get(reverse("audit:complaint-create")).content.decode()
    assert 'name="received_at"' in page and "受理时间（选填）" in page
    refused = client.post(reverse("audit:complaint-create"), {**fields, "received_at": "2026-12-08T09:00"})
    assert refused.status_code == 400 and "JL-O6: 受理时间不能晚于现在。" in refused.content.decode()
    assert "电话投诉：候诊时间长" in refused.content.decode() and not Complaint.objects.exists()
    assert client.post(reverse("audit:complaint-create"), {**fields, "received_at": "2026-12-06T15:30"}).status_code == 302
    complaint = Complaint.objects.get()
    yesterday = dt.datetime(2026, 12, 6, 7, 30, tzinfo=dt.UTC)  # 15:30 in Beijing
    assert complaint.received_at == yesterday and complaint.ack_due_at == yesterday + dt.timedelta(days=2)


# --- Scope -------------------------------------------------------------------------------------


def test_jl_o6_scope_other_facility_and_other_division_get_404(client, world, django_assert_max_num_queries):
    complaint = _public(world)
    url = reverse("audit:complaint-detail", args=[complaint.pk])
    for outsider in (staff(_elsewhere(), StaffRole.FACILITY_ADMIN), regulator("220200"), staff(world.invited, StaffRole.CLINICIAN)):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
        assert token_client(outsider).get(reverse("audit-api:complaint-detail", args=[complaint.pk])).status_code == 404
    client.force_login(regulator("220100"))
    assert client.get(url).status_code == 200
    for n in range(4):
        _public(world, text=f"投诉{n}")
    with django_assert_max_num_queries(12):
        page = client.get(reverse("audit:complaint-list") + "?state=received&order=answer_due")
    assert page.status_code == 200 and page.content.decode().count("/records/complaints/") >= 5
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200


def test_jl_o6_the_list_keeps_the_facility_it_was_opened_for(client, world):
    """Issue 10: the facility page links to its complaints (?facility=); the list names the facility and
    keeps it in the state filter and the pages (it raised a 500 once: a deferred field traversed)."""
    mine = _public(world)
    other = complaints.complaint_receive(actor=None, facility=FacilityFactory(name="长春市中医院", division=division("220104")),
                                         complainant_name="赵", complainant_phone=PHONE, relation="patient", text="另一家")
    client.force_login(regulator("220100"))
    page = client.get(reverse("audit:complaint-list") + f"?facility={world.invited.pk}&state=received")
    text = page.content.decode()
    assert page.status_code == 200 and f"机构：{world.invited.name}" in text
    assert f'name="facility" value="{world.invited.pk}"' in text
    assert mine.tracking_number in text and other.tracking_number not in text


# --- Counts against the facility and the API ------------------------------------------------------


def test_jl_o6_substantiated_complaints_count_per_year(client, world):
    with time_machine.travel(dt.datetime(2025, 12, 31, 17, tzinfo=dt.UTC)):  # 2026-01-01 01:00 in Beijing
        first = _public(world)
    second, third = _public(world), _public(world)
    for complaint, finding in ((first, True), (second, True), (third, False)):
        complaints.complaint_acknowledge(actor=world.invited_coordinator, complaint=complaint)
        complaints.complaint_answer(actor=world.invited_coordinator, complaint=complaint, text="答复", substantiated=finding)
    assert substantiated_by_year(facility_id=world.invited.pk) == {2026: 2}
    assert substantiated_by_year(facility_id=world.inviting.pk) == {}
    client.force_login(world.invited_coordinator)
    page = client.get(reverse("facilities:facility-detail", args=[world.invited.pk])).content.decode()
    assert "经查属实的投诉" in page and "2026年 2 件" in page


def test_jl_o6_api_lists_and_takes_steps(world, django_assert_max_num_queries):
    complaint = _public(world)
    for n in range(3):
        _public(world, text=f"投诉{n}")
    api = token_client(world.invited_coordinator)
    with django_assert_max_num_queries(10):
        listed = api.get(reverse("audit-api:complaint-list") + "?state=received")
    assert listed.status_code == 200 and listed.json()["count"] == 4
    assert listed.json()["results"][0]["complainant_phone"] == "139****5678"
    url = reverse("audit-api:complaint-steps", args=[complaint.pk])
    assert_error(api.post(url, {"act": "answer", "text": "x", "substantiated": True}, format="json"), 409, "JL-O6")
    assert api.post(url, {"act": "acknowledge"}, format="json").status_code == 201
    done = api.post(url, {"act": "answer", "text": "已致歉", "substantiated": False}, format="json")
    assert done.status_code == 201 and done.json()["state"] == "answered"
    assert [s["kind"] for s in api.get(url).json()] == ["receive", "acknowledge", "answer"]
    assert_error(token_client(regulator("220100")).post(url, {"act": "acknowledge"}, format="json"), 403, "permission_denied")
    overridden = token_client(regulator("220100")).post(url, {"act": "override", "text": "复核属实", "substantiated": True}, format="json")
    assert overridden.status_code == 201 and overridden.json()["substantiated"] is True


def test_jl_o6_jl_a2_public_pages_pass_the_strict_policy(client, world, settings):
    """No inline script, handler or style on any public page (the CSP allows none)."""
    from tests.telemed.test_http_hardening import inline_code

    complaint = _public(world)
    settings.TELEMED_COMPLAINT_RATE = "1/hour"
    answers = [
        client.get(reverse("public:complaint-new")),
        client.get(reverse("public:complaint-status")),
        client.post(reverse("public:complaint-status"), {"tracking_number": complaint.tracking_number, "phone_tail": "5678"}),
        client.post(reverse("public:complaint-status"), {"tracking_number": complaint.tracking_number, "phone_tail": "5678"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    for answer in answers:
        policy = answer["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and inline_code(answer.content.decode()) == []


def test_jl_o6_a_staff_entry_may_date_a_complaint_received_earlier_but_not_in_the_future(world):
    received = timezone.now() - dt.timedelta(days=12)
    complaint = complaints.complaint_receive(
        actor=world.invited_coordinator, facility=world.invited, complainant_name="李先生", complainant_phone=PHONE,
        relation="patient", text="电话投诉", received_at=received)
    assert complaint.answer_due_at == received + dt.timedelta(days=10)
    assert rules.answer_overdue(answer_due_at=complaint.answer_due_at, answered_at=None, now=timezone.now())
    with pytest.raises(ApplicationError):
        complaints.complaint_receive(actor=world.invited_coordinator, facility=world.invited, complainant_name="x",
                                     complainant_phone=PHONE, relation="other", text="x",
                                     received_at=timezone.now() + dt.timedelta(hours=1))
    with pytest.raises(ApplicationError):
        _public(world, received_at=received)  # the public form cannot date a complaint


def test_jl_a2_rotate_data_key_re_encrypts_complainants_phones(world, settings):
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection

    from telemed import crypto

    old, new = crypto.DataKey("old", bytes(range(32))), crypto.DataKey("new", bytes(range(32, 64)))
    settings.TELEMED_DATA_KEYS = (old,)
    complaint = _public(world)
    settings.TELEMED_DATA_KEYS = (new, old)
    assert Complaint.objects.on_old_data_key().count() == 1
    out = StringIO()
    call_command("rotate_data_key", stdout=out)
    assert "1 条投诉人电话已重新加密" in out.getvalue() and Complaint.objects.on_old_data_key().count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT complainant_phone FROM audit_complaint WHERE id = %s", [complaint.pk])
        assert crypto.key_id_of(cursor.fetchone()[0]) == "new"
    settings.TELEMED_DATA_KEYS = (new,)
    assert Complaint.objects.get(pk=complaint.pk).complainant_phone == PHONE
    assert AuditEvent.objects.filter(event_type="security.data_key_rotate", object_type="audit.complaint").count() == 1


class TestJlO6ComplaintAnswerOverTheApi(EndpointAccessCases):
    """JL-O6 over the API: anonymous 401, another facility's coordinator 404, a regulator over the
    facility (who sees it but does not answer for it) 403, the facility's coordinator 201 and audited."""

    event_type = "complaint.answer"
    success_status = 201

    def arrange(self) -> Access:
        facility = FacilityFactory(name="吉林大学第一医院", division=division("220104"), licence_issuer=division("220000"))
        coordinator = staff(facility, StaffRole.COORDINATOR)
        complaint = complaints.complaint_receive(facility=facility, complainant_name="王女士", complainant_phone=PHONE,
                                                 relation="family", text="报告迟迟未出")
        complaints.complaint_acknowledge(actor=coordinator, complaint=complaint)
        return Access(
            call=Call("POST", reverse("audit-api:complaint-steps", args=[complaint.pk]),
                      {"act": "answer", "text": "已致歉", "substantiated": False}),
            right=coordinator, wrong_facility=staff(_elsewhere(), StaffRole.COORDINATOR), wrong_role=regulator("220100"),
            check=lambda response: response.json()["state"] == "answered" or pytest.fail("not answered"),
        )


def test_jl_o6_the_api_list_costs_the_same_for_3_and_20_complaints(world, django_assert_max_num_queries):
    def add(n):
        for i in range(n):
            _public(world, text=f"投诉{i}")

    assert_list_queries_constant(token_client(regulator("220100")), reverse("audit-api:complaint-list"), add_rows=add,
                                 assert_max_num_queries=django_assert_max_num_queries, max_queries=10)


def test_jl_o6_the_navigation_leads_handlers_and_regulators_to_the_complaints(client, world):
    url = reverse("audit:complaint-list")
    for user, shown in ((world.invited_coordinator, True), (regulator("220100"), True), (world.clinician, False)):
        client.force_login(user)
        links = [link for _label, link in client.get(reverse("home")).context["nav_items"]]
        assert (url in links) is shown
    assert client.get(url).status_code == 403  # the clinician: complaints are not theirs to read
