"""Work lists and finding things (issue 12): the expert's 分配给我, the invited coordinator's start
page, the JL-C4 response clock with its reminders, and the setting behind it.

Each list: its content, its order (急诊 first), its scope (another facility's cases absent, their
case pages 404), its access event (JL-C8) and a query count that does not grow with rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Exists, Q
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from consultations import list_rows, rules, selectors, services, work_list_statements
from consultations.choices import ConsultationState, Side, Urgency
from consultations.models import Consultation, ConsultationQuerySet, Notification
from consultations.views import INVITED_TABS, INVITING_TABS
from facilities.choices import StaffRole
from facilities.models import StaffMembership
from telemed.scope import Scope
from telemed.settings import RESPONSE_TARGET_DEFAULT, env_response_targets
from tests.api_cases import audit_write_queries
from tests.factories import FacilityFactory, PhysicianFactory, RegistrationFactory, regulator, staff

pytestmark = pytest.mark.django_db
ACCESS_LOG_WRITE = audit_write_queries()
TARGETS = {"emergency": 30, "urgent": 120, "routine": 1440}


def _case(world, name: str, **overrides):
    """A sent request for a patient of its own (no identity number needed here)."""
    return world.sent(patient=world.patient(name=name, id_number="", phone=""), **overrides)


def _accepted(world, name: str, *, expert=True, **overrides):
    consultation = services.consultation_accept(actor=world.invited_coordinator, consultation=_case(world, name, **overrides))
    if expert:
        services.expert_assign(actor=world.invited_coordinator, consultation=consultation, physician=world.expert_physician)
    return consultation


def _order(body: str, consultations) -> list[str]:
    """The given requests' numbers in the order the page shows them."""
    numbers = [c.number for c in consultations]
    return sorted(numbers, key=body.index)


def _get(client, user, url):
    client.force_login(user)
    return client.get(url)


def _outsider():
    """A clinician with a physician record at a facility that has nothing to do with the world."""
    elsewhere = FacilityFactory(name="延边州医院")
    user = staff(elsewhere, StaffRole.CLINICIAN, username="outsider")
    RegistrationFactory(facility=elsewhere, physician=PhysicianFactory(user=user))
    staff(elsewhere, StaffRole.COORDINATOR, username="outsider_coordinator")
    return user


# --- (1) 分配给我 ---------------------------------------------------------------------------------


def test_assigned_lists_the_experts_due_cases_urgency_first_then_scheduled_time(client, world):
    now = timezone.now()
    routine = _accepted(world, "甲", urgency=Urgency.ROUTINE, requested_time=now + dt.timedelta(hours=2))
    urgent_late = _accepted(world, "乙", urgency=Urgency.URGENT, requested_time=now + dt.timedelta(hours=9))
    urgent_early = _accepted(world, "丙", urgency=Urgency.URGENT, requested_time=now + dt.timedelta(hours=3))
    emergency = _accepted(world, "丁", urgency=Urgency.EMERGENCY)
    unassigned = _accepted(world, "戊", expert=False)
    signed = _accepted(world, "己")
    services.consultation_schedule(actor=world.invited_coordinator, consultation=signed,
                                   scheduled_for=now + dt.timedelta(hours=1), video_link="https://meet.example.cn/r/9")
    services.consultation_start_session(actor=world.invited_coordinator, consultation=signed)
    services.opinion_sign(actor=world.expert, consultation=signed, content="考虑肺炎。")

    response = _get(client, world.expert, reverse("consultations:assigned"))

    assert response.status_code == 200
    body = response.content.decode()
    assert _order(body, [routine, urgent_late, urgent_early, emergency]) == [
        emergency.number, urgent_early.number, urgent_late.number, routine.number
    ]
    assert unassigned.number not in body and signed.number not in body
    event = AuditEvent.objects.filter(event_type="record.list", actor=world.expert).latest("sequence")
    assert event.object_type == "consultations.consultation"
    assert set(event.details["object_ids"]) == {routine.pk, urgent_late.pk, urgent_early.pk, emergency.pk}


def test_assigned_is_in_the_navigation_and_on_the_experts_start_page(client, world):
    emergency = _accepted(world, "丁", urgency=Urgency.EMERGENCY)
    response = _get(client, world.expert, reverse("home"))
    body = response.content.decode()
    assert reverse("consultations:assigned") in body
    assert "分配给我：待出具意见或报告" in body and emergency.number in body
    event = AuditEvent.objects.filter(event_type="record.list", actor=world.expert).latest("sequence")
    assert event.object_type == "consultations.consultation" and event.details["object_ids"] == [emergency.pk]


def test_assigned_shows_nothing_of_another_facility_and_its_cases_are_404(client, world):
    theirs = _accepted(world, "丁")
    outsider = _outsider()
    response = _get(client, outsider, reverse("consultations:assigned"))
    assert response.status_code == 200 and theirs.number not in response.content.decode()
    assert client.get(reverse("consultations:detail", args=[theirs.pk])).status_code == 404
    assert list(selectors.expert_assigned_list(user=outsider)) == []


@pytest.mark.parametrize("page", ["consultations:assigned", "home"])
def test_assigned_queries_do_not_grow_with_rows_2_vs_8(client, world, django_assert_max_num_queries, page):
    client.force_login(world.expert)
    counts = []
    for total in (2, 8):
        while len(selectors.expert_assigned_list(user=world.expert)) < total:
            _accepted(world, f"患者{total}")
        client.get(reverse(page))  # the session remembers the unread count (telemed.navigation)
        with django_assert_max_num_queries(30 + ACCESS_LOG_WRITE) as captured:
            assert client.get(reverse(page)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


# --- (2) The invited coordinator's start page ------------------------------------------------------


def test_the_invited_coordinators_start_page_lists_the_waiting_cases_emergency_first(client, world):
    now = timezone.now()
    routine_sent = _case(world, "甲", urgency=Urgency.ROUTINE, requested_time=now + dt.timedelta(hours=1))
    emergency_sent = _case(world, "乙", urgency=Urgency.EMERGENCY)
    no_expert = _accepted(world, "丙", expert=False, urgency=Urgency.URGENT, requested_time=now + dt.timedelta(hours=5))
    soon = _accepted(world, "丁", urgency=Urgency.URGENT)
    services.consultation_schedule(actor=world.invited_coordinator, consultation=soon,
                                   scheduled_for=now + dt.timedelta(hours=2), video_link="https://meet.example.cn/r/1")
    later = _accepted(world, "戊")
    services.consultation_schedule(actor=world.invited_coordinator, consultation=later,
                                   scheduled_for=now + dt.timedelta(days=3), video_link="https://meet.example.cn/r/2")
    with_expert = _accepted(world, "己")

    response = _get(client, world.invited_coordinator, reverse("home"))

    body = response.content.decode()
    assert _order(body, [routine_sent, emergency_sent, no_expert, soon]) == [
        emergency_sent.number, soon.number, no_expert.number, routine_sent.number
    ]
    assert later.number not in body and with_expert.number not in body
    assert "待受理" in body and "待分配专家" in body and "即将会诊" in body
    event = AuditEvent.objects.filter(event_type="record.list", actor=world.invited_coordinator).latest("sequence")
    assert set(event.details["object_ids"]) == {routine_sent.pk, emergency_sent.pk, no_expert.pk, soon.pk}


def test_the_waiting_cases_are_the_coordinators_facility_only(client, world):
    ours = _case(world, "甲")
    outsider_coordinator = _outsider().__class__.objects.get(username="outsider_coordinator")
    assert list(selectors.invited_waiting_list(user=outsider_coordinator, now=timezone.now())) == []
    # The inviting side's coordinator is not the one it waits for.
    assert list(selectors.invited_waiting_list(user=world.coordinator, now=timezone.now())) == []
    response = _get(client, outsider_coordinator, reverse("home"))
    assert ours.number not in response.content.decode()
    assert client.get(reverse("consultations:detail", args=[ours.pk])).status_code == 404


def test_the_coordinators_start_page_queries_do_not_grow_with_rows_2_vs_8(client, world, django_assert_max_num_queries):
    client.force_login(world.invited_coordinator)
    counts = []
    for total in (2, 8):
        while len(selectors.invited_waiting_list(user=world.invited_coordinator, now=timezone.now())) < total:
            _case(world, f"患者{total}", urgency=Urgency.URGENT)
        client.get(reverse("home"))  # the session remembers the unread count (telemed.navigation)
        with django_assert_max_num_queries(30 + ACCESS_LOG_WRITE) as captured:
            assert client.get(reverse("home")).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


# --- (3) The JL-C4 response clock ----------------------------------------------------------------


@pytest.mark.parametrize("urgency, minutes", sorted(TARGETS.items()))
@pytest.mark.parametrize("offset, passed", [(-1, False), (0, False), (1, True)])
def test_jl_c4_the_response_target_is_passed_only_after_it(urgency, minutes, offset, passed):
    sent_at = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    now = sent_at + dt.timedelta(minutes=minutes, seconds=offset)
    clock = rules.response_clock(urgency=urgency, sent_at=sent_at, now=now, targets_minutes=TARGETS)
    assert clock.passed is passed
    assert clock.target == dt.timedelta(minutes=minutes)
    assert clock.waited == now - sent_at


def test_jl_c4_the_inbox_and_start_page_show_the_wait_red_once_passed(client, world):
    sent = _case(world, "甲", urgency=Urgency.EMERGENCY)
    client.force_login(world.invited_coordinator)
    inbox = reverse("consultations:list") + "?side=invited"
    body = client.get(inbox).content.decode()
    assert "badge badge-ok" in body and "已超时" not in body
    with time_machine.travel(sent.sent_at + dt.timedelta(minutes=31), tick=False):
        client.force_login(world.invited_coordinator)  # a fresh session: the idle time-out (JL-A2) has passed
        for page in (inbox, reverse("home")):
            body = client.get(page).content.decode()
            assert "badge badge-danger" in body and "已等待 31 分钟，已超时" in body, page


def test_jl_c4_the_reminder_goes_once_to_the_invited_coordinators_only(world):
    extra = staff(world.invited, StaffRole.COORDINATOR, username="invited_coordinator_2")
    emergency = _case(world, "甲", urgency=Urgency.EMERGENCY)
    routine = _case(world, "乙", urgency=Urgency.ROUTINE)
    start = emergency.sent_at

    with time_machine.travel(start + dt.timedelta(minutes=30), tick=False):
        assert services.response_reminder_sweep() == 0  # at the target: still on time
    with time_machine.travel(start + dt.timedelta(minutes=31), tick=False):
        assert services.response_reminder_sweep() == 1
        assert services.response_reminder_sweep() == 0  # the second run sends nothing

    reminders = Notification.objects.filter(dedupe_key__contains=":response:")
    assert sorted(reminders.values_list("user__username", flat=True)) == ["invited_coordinator", extra.username]
    assert all(emergency.number in n.title and "JL-C4" in n.title for n in reminders)
    assert "甲" not in reminders[0].title  # the subject names the request, not the patient
    assert not reminders.filter(user__in=[world.coordinator, world.clinician, world.expert]).exists()

    with time_machine.travel(routine.sent_at + dt.timedelta(minutes=1441), tick=False):
        assert services.response_reminder_sweep() == 1  # the routine one, its own target
        assert services.response_reminder_sweep() == 0
    assert Notification.objects.filter(dedupe_key__contains=":response:").count() == 4


def test_jl_c4_an_accepted_request_is_not_reminded(world):
    accepted = _accepted(world, "甲", urgency=Urgency.EMERGENCY)
    with time_machine.travel(accepted.sent_at + dt.timedelta(hours=2), tick=False):
        assert services.response_reminder_sweep() == 0


def test_jl_c4_the_sweep_works_in_batches_until_none_is_left(world):
    cases = [_case(world, f"患者{i}", urgency=Urgency.EMERGENCY) for i in range(3)]
    with time_machine.travel(cases[-1].sent_at + dt.timedelta(minutes=31), tick=False):
        assert services.response_reminder_sweep(batch_size=2) == 3
        assert services.response_reminder_sweep(batch_size=2) == 0


def test_jl_c4_the_reminder_sweep_is_on_the_beat():
    from telemed.celery import _beat_schedule

    assert _beat_schedule()["jl-c4-response-reminders"]["task"] == "consultations.response_reminder_sweep"


# --- The setting --------------------------------------------------------------------------------


def test_response_targets_default_and_custom(monkeypatch):
    monkeypatch.delenv("TELEMED_RESPONSE_TARGET_MINUTES", raising=False)
    assert env_response_targets("TELEMED_RESPONSE_TARGET_MINUTES", RESPONSE_TARGET_DEFAULT) == TARGETS
    monkeypatch.setenv("TELEMED_RESPONSE_TARGET_MINUTES", " routine:600 , emergency:15,urgent:60 ")
    assert env_response_targets("TELEMED_RESPONSE_TARGET_MINUTES", RESPONSE_TARGET_DEFAULT) == {
        "routine": 600, "emergency": 15, "urgent": 60
    }


@pytest.mark.parametrize("raw", [
    "emergency:30,urgent:120",                      # routine missing
    "emergency:30,urgent:120,routine:1440,urgent:5",  # twice
    "emergency:30,urgent:abc,routine:1440",         # not a number
    "emergency:0,urgent:120,routine:1440",          # zero
    "emergency:-5,urgent:120,routine:1440",         # negative
    "emergency:1.5,urgent:120,routine:1440",        # not whole
    "stat:10,emergency:30,urgent:120,routine:1440",  # unknown urgency
    "emergency=30,urgent=120,routine=1440",          # wrong separator
])
def test_response_targets_refuse_a_bad_value_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("TELEMED_RESPONSE_TARGET_MINUTES", raw)
    with pytest.raises(ImproperlyConfigured, match="TELEMED_RESPONSE_TARGET_MINUTES"):
        env_response_targets("TELEMED_RESPONSE_TARGET_MINUTES", RESPONSE_TARGET_DEFAULT)


def test_jl_c4_the_reminder_sweep_reads_the_partial_index_of_requests_awaiting_acceptance(world, on_postgresql):
    from django.db import connection

    from consultations.services.responses import _overdue

    _case(world, "甲", urgency=Urgency.EMERGENCY)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert "consult_awaiting_sent_idx" in _overdue(timezone.now(), TARGETS).explain()


# --- (4) Search within one's scope (JL-C8, JL-C9) ------------------------------------------------

ID_NUMBER = "220122197103091236"


@pytest.fixture
def findable(world):
    patient = world.patient(name="王桂芝", sex="2", id_number=ID_NUMBER, phone="13904310000", medical_record_number="MZ-2024-77")
    services.admission_record(actor=world.clinician, patient=patient, inpatient_number="ZY-0815",
                              admitted_at=timezone.now() - dt.timedelta(hours=1), ward="内科")
    consultation = world.sent(patient=patient)
    other = _case(world, "李淑珍")
    return patient, consultation, other


def _search(client, user, term):
    client.force_login(user)
    return client.get(reverse("consultations:search"), {"q": term})


def test_a_registered_patient_keeps_the_last_4_of_the_identity_number_for_the_search(world):
    assert world.patient(id_number="22010219600501123x").id_last4 == "123X"
    assert world.patient(id_number="").id_last4 == ""
    assert rules.number_suffix("1234567") == ""  # masked entirely: nothing to match


@pytest.mark.parametrize("term", ["王桂", "1236", "MZ-2024-77", "ZY-0815", "case-number"])
def test_search_finds_the_patient_and_the_case_by_each_key_masked_and_logged(client, world, findable, term):
    patient, consultation, other = findable
    term = consultation.number if term == "case-number" else term
    response = _search(client, world.clinician, term)
    assert response.status_code == 200
    body = response.content.decode()
    assert consultation.number in body and other.number not in body
    assert ID_NUMBER not in body and "13904310000" not in body
    if term != consultation.number:
        assert "220***********1236" in body
    events = AuditEvent.objects.filter(event_type="record.list", actor=world.clinician).order_by("-sequence")[:2]
    logged = {e.object_type: e for e in events}
    assert set(logged) == {"consultations.patient", "consultations.consultation"}
    assert logged["consultations.consultation"].details["object_ids"] == [consultation.pk]
    assert patient.pk in logged["consultations.consultation"].details["patient_ids"]
    if term != consultation.number:
        assert logged["consultations.patient"].details["object_ids"] == [patient.pk]
    # JL-C9: the query is on record, with any number in it masked.
    query = logged["consultations.patient"].details["filters"]["q"]
    assert query == (rules.mask_number(term) if any(ch.isdigit() for ch in term) else term)
    assert term not in str(logged["consultations.patient"].details) or not any(ch.isdigit() for ch in term)


def test_search_by_a_partial_identity_number_other_than_the_last_4_finds_nobody(client, world, findable):
    response = _search(client, world.clinician, "0312")
    assert "王桂芝" not in response.content.decode()


def test_search_stays_in_scope_and_a_search_that_finds_nothing_is_logged_too(client, world, findable):
    patient, consultation, _other = findable
    outsider = _outsider()
    response = _search(client, outsider, "王桂芝")
    assert response.status_code == 200 and consultation.number not in response.content.decode()
    events = AuditEvent.objects.filter(event_type="record.list", actor=outsider)
    assert events.count() == 2 and all(e.details["count"] == 0 for e in events)
    assert client.get(reverse("consultations:detail", args=[consultation.pk])).status_code == 404
    # The invited side finds the case it received (not the inviting side's patient index).
    patients, cases = selectors.record_search(user=world.invited_coordinator, term="王桂芝")
    assert patients == [] and cases == [consultation]


def test_search_queries_do_not_grow_with_rows_2_vs_8(client, world, django_assert_max_num_queries):
    client.force_login(world.clinician)
    counts = []
    for total in (2, 8):
        while len(selectors.record_search(user=world.clinician, term="张")[1]) < total:
            _case(world, "张某")
        client.get(reverse("consultations:search"), {"q": "张"})  # the session remembers the unread count
        with django_assert_max_num_queries(30 + 2 * ACCESS_LOG_WRITE) as captured:
            assert client.get(reverse("consultations:search"), {"q": "张"}).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


def test_search_is_in_the_navigation(client, world):
    client.force_login(world.clinician)
    assert reverse("consultations:search") in client.get(reverse("home")).content.decode()



# --- The work lists' short visibility condition (issue 11) ------------------------------------


def _side_ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


@pytest.fixture
def compiled_afresh():
    """The work lists' compiled statements (``work_list_statements``) forgotten before and after a test
    that replaces ``qc_granted``: a shape is compiled once a process."""
    work_list_statements.forget()
    yield
    work_list_statements.forget()


@pytest.mark.parametrize("granted", [False, True])
def test_the_staff_side_condition_is_visible_to_on_that_side_in_every_tab(world, monkeypatch, compiled_afresh, granted):
    """``ConsultationQuerySet.on_side`` is ``visible_to`` ∩ side ∩ states, exactly, and so are the
    compiled statements of the tab counts and the page's rows (issue 11): drafts stay home unless a
    JL-O2 grant names one (here the inviting side's draft, granted to the invited coordinator while
    the review lasts); a user of both facilities; regulators take the general path."""
    draft, sent, accepted = world.draft(), _case(world, "李四"), _accepted(world, "王五")
    both = staff(world.invited, StaffRole.COORDINATOR, username="both")
    StaffMembership.objects.create(user=both, facility=world.inviting, role=StaffRole.CLINICIAN)
    if granted:
        def qc_granted(user, *, now=None):  # SQL on the user's id and the time, as the real grant
            reviewer = get_user_model().objects.filter(pk=world.invited_coordinator.pk, date_joined__lt=now or timezone.now())
            return Q(pk=draft.pk) & Q(Exists(reviewer.filter(pk=user.pk)))

        monkeypatch.setattr(ConsultationQuerySet, "qc_granted", staticmethod(qc_granted))
    sides = {Side.INVITING: ("inviting_id", INVITING_TABS), Side.INVITED: ("invited_id", INVITED_TABS)}
    for user in (world.coordinator, world.clinician, world.invited_coordinator, world.expert, both):
        ids = Scope.of(user).facility_ids
        for side, (field, tabs) in sides.items():
            assert Consultation.objects.staff_only(user, side)
            for states in [tab.states for tab in tabs] + [(ConsultationState.DRAFT,)]:
                expected = Consultation.objects.visible_to(user).filter(**{f"{field}__in": ids})
                expected = expected.filter(state__in=states) if states else expected
                short = Consultation.objects.on_side(user, side, states)
                assert _side_ids(short) == _side_ids(expected), (user.username, side, states)
                # the compiled rows: the ORM's, in its order
                orm = list(list_rows.values(selectors.work_list_order(expected, side=side)))
                assert list(selectors.consultation_work_rows(user=user, side=side, states=states)) == orm
                assert selectors.consultation_work_rows(user=user, side=side, states=states)[1:2] == orm[1:2]
            assert _side_ids(selectors.consultations_on_side(user=user, side=side)) == _side_ids(
                Consultation.objects.visible_to(user).filter(**{f"{field}__in": ids})
            )
            # issue 11: the tabs' counts (the invited side's drafts counted apart) are visible_to's
            expected_counts = Counter(Consultation.objects.visible_to(user).filter(**{f"{field}__in": ids}).values_list("state", flat=True))
            assert selectors.consultation_state_counts(user=user, side=side) == dict(expected_counts), (user.username, side)
    inbox = _side_ids(selectors.consultations_on_side(user=world.invited_coordinator, side=Side.INVITED))
    assert inbox == ({draft.pk, sent.pk, accepted.pk} if granted else {sent.pk, accepted.pk})
    counts = selectors.consultation_state_counts(user=world.invited_coordinator, side=Side.INVITED)
    assert counts.get(ConsultationState.DRAFT, 0) == (1 if granted else 0)
    county = regulator("220122")
    assert not Consultation.objects.staff_only(county, Side.INVITING)
    assert not isinstance(selectors.consultation_work_rows(user=county, side=Side.INVITING), work_list_statements.WorkRows)
    assert not Consultation.objects.staff_only(world.coordinator, "")
