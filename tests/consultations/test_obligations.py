"""JL-C2: the 24-hour obligation — opening, meeting, reminding, violations, and the sweep's guarantees."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from consultations import services
from consultations.choices import ObligationState, TriggerKind
from consultations.models import Notification, Obligation, Violation
from telemed.errors import ApplicationError

pytestmark = [pytest.mark.django_db, pytest.mark.frozen_at("2026-11-27T12:00:00+08:00")]  # the day of ADMITTED
SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMITTED = dt.datetime(2026, 11, 27, 22, 30, tzinfo=SHANGHAI)  # 3 days later is Nov 30, due Dec 1 (month end)


def admit(world, at=ADMITTED):
    with time_machine.travel(at, tick=False):
        patient = world.patient()
        return services.admission_record(actor=world.clinician, patient=patient, inpatient_number="ZY0001", admitted_at=at)


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return services.obligation_sweep()


def test_jl_c2_trigger_1_opens_only_after_three_days_with_the_real_times(world):
    admission = admit(world)
    assert sweep_at(ADMITTED + dt.timedelta(hours=71, minutes=59)).opened == 0
    report = sweep_at(ADMITTED + dt.timedelta(hours=72, minutes=1))
    assert report.opened == 1
    obligation = Obligation.objects.get(admission=admission)
    assert obligation.trigger == TriggerKind.UNDIAGNOSED
    assert obligation.trigger_at == dt.datetime(2026, 11, 30, 22, 30, tzinfo=SHANGHAI)
    assert obligation.due_at == dt.datetime(2026, 12, 1, 22, 30, tzinfo=SHANGHAI)
    assert sweep_at(ADMITTED + dt.timedelta(hours=73)).opened == 0  # never twice


def test_jl_c2_a_confirmed_diagnosis_or_discharge_prevents_trigger_1(world):
    admission = admit(world)
    with time_machine.travel(ADMITTED + dt.timedelta(hours=70), tick=False):
        services.admission_confirm_diagnosis(actor=world.clinician, admission=admission, diagnosis="社区获得性肺炎",
                                             confirmed_at=ADMITTED + dt.timedelta(hours=69))
    assert sweep_at(ADMITTED + dt.timedelta(days=5)).opened == 0


def test_jl_c2_met_at_23_59_after_the_trigger(world):
    admission = admit(world)
    sweep_at(ADMITTED + dt.timedelta(hours=72, minutes=1))
    obligation = Obligation.objects.get(admission=admission)
    with time_machine.travel(obligation.trigger_at + dt.timedelta(hours=23, minutes=59), tick=False):
        world.sent(patient=admission.patient, admission=admission)
    obligation.refresh_from_db()
    assert obligation.state == ObligationState.MET and obligation.consultation is not None
    assert sweep_at(obligation.due_at + dt.timedelta(hours=1)).violated == 0
    assert not Violation.objects.exists()


def test_jl_c2_sent_at_24_01_is_late_and_the_violation_is_recorded_once(world):
    admission = admit(world)
    sweep_at(ADMITTED + dt.timedelta(hours=72, minutes=1))
    obligation = Obligation.objects.get(admission=admission)
    with time_machine.travel(obligation.trigger_at + dt.timedelta(hours=24, minutes=1), tick=False):
        world.sent(patient=admission.patient, admission=admission)
    obligation.refresh_from_db()
    assert obligation.state == ObligationState.OPEN  # late delivery does not meet it
    report = sweep_at(obligation.trigger_at + dt.timedelta(hours=24, minutes=2))
    assert report.violated == 1
    assert sweep_at(obligation.trigger_at + dt.timedelta(hours=30)).violated == 0
    violation = Violation.objects.get()
    assert violation.due_at == obligation.due_at and violation.facility == world.inviting and violation.rule == "JL-C2"
    assert "第二十二条" in violation.text and not violation.description  # rendered when shown (issue 12)
    event = AuditEvent.objects.get(event_type="obligation.violated")
    assert event.outcome == "failure" and event.facility_ids == [world.inviting.pk]


def test_jl_c2_incomplete_material_does_not_meet_the_obligation(world):
    patient = world.patient()
    with time_machine.travel(timezone.now(), tick=False):
        obligation = services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                              event_at=timezone.now() - dt.timedelta(hours=1), details={"requested_by": "患者之子"})
        consultation = world.ready(world.draft(patient=patient), material=("condition_summary",))
        services.consultation_send(actor=world.coordinator, consultation=consultation)
    obligation.refresh_from_db()
    assert obligation.state == ObligationState.OPEN


@pytest.mark.parametrize("trigger", [TriggerKind.EXPERT_CONSULT_FAILED, TriggerKind.PATIENT_REQUEST])
def test_jl_c2_triggers_2_and_3_recorded_by_staff(world, trigger):
    patient = world.patient()
    event_at = dt.datetime(2026, 1, 31, 23, 30, tzinfo=SHANGHAI)
    with time_machine.travel(event_at + dt.timedelta(minutes=10), tick=False):
        obligation = services.obligation_open(actor=world.clinician, patient=patient, trigger=trigger, event_at=event_at)
    assert obligation.trigger_at == event_at and obligation.due_at == dt.datetime(2026, 2, 1, 23, 30, tzinfo=SHANGHAI)
    with pytest.raises(ApplicationError):
        services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.UNDIAGNOSED, event_at=event_at)


def test_jl_c2_sweep_catches_up_after_an_outage_with_the_real_due_time(world):
    """Nothing ran for a week: the obligation is opened and its violation recorded in one run,
    with the due time the rule gives, not the time the sweep happened to run."""
    admission = admit(world)
    report = sweep_at(ADMITTED + dt.timedelta(days=7))
    assert (report.opened, report.violated) == (1, 1)
    violation = Violation.objects.get()
    assert violation.due_at == ADMITTED + dt.timedelta(hours=96)
    assert violation.recorded_at == ADMITTED + dt.timedelta(days=7)
    assert Obligation.objects.get(admission=admission).state == ObligationState.VIOLATED


def test_jl_c2_reminders_before_the_deadline_once_each(world, settings):
    settings.TELEMED_REMINDER_HOURS = [12, 4, 1]
    admission = admit(world)
    sweep_at(ADMITTED + dt.timedelta(hours=72, minutes=1))
    due = Obligation.objects.get(admission=admission).due_at
    assert sweep_at(due - dt.timedelta(hours=13)).reminded == 0
    assert sweep_at(due - dt.timedelta(hours=11)).reminded == 1
    assert sweep_at(due - dt.timedelta(hours=10)).reminded == 0
    assert sweep_at(due - dt.timedelta(minutes=30)).reminded == 1  # 4 h and 1 h together, once
    obligation = Obligation.objects.get(admission=admission)
    assert sorted(obligation.reminders_sent) == [1, 4, 12]
    subjects = [n.title for n in Notification.objects.filter(user=world.clinician)]  # rendered when shown (issue 12)
    assert len([s for s in subjects if s.startswith("JL-C2 提醒")]) == 2


def test_jl_c2_withdrawn_with_a_reason_is_not_violated(world):
    patient = world.patient()
    obligation = services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                          event_at=timezone.now() - dt.timedelta(hours=2))
    with pytest.raises(ApplicationError):
        services.obligation_withdraw(actor=world.clinician, obligation=obligation, reason="")
    services.obligation_withdraw(actor=world.clinician, obligation=obligation, reason="患方撤回远程会诊要求")
    assert sweep_at(timezone.now() + dt.timedelta(days=2)).violated == 0


def test_jl_c2_sweep_does_not_read_closed_history(world, django_assert_max_num_queries):
    """The sweep's cost follows open work, not history: its queries do not grow with closed rows."""
    patient = world.patient()
    for _ in range(30):
        obligation = services.obligation_open(actor=world.clinician, patient=patient, trigger=TriggerKind.PATIENT_REQUEST,
                                              event_at=timezone.now() - dt.timedelta(hours=1))
        services.obligation_withdraw(actor=world.clinician, obligation=obligation, reason="撤回")
    with django_assert_max_num_queries(3):
        report = services.obligation_sweep()
    assert (report.opened, report.reminded, report.violated) == (0, 0, 0)


def test_jl_c2_trigger_1_is_met_by_a_request_already_sent_during_the_stay(world):
    """The records already went out on day 2: when day 3 passes, the obligation opens already met."""
    admission = admit(world)
    with time_machine.travel(ADMITTED + dt.timedelta(days=1), tick=False):
        consultation = world.sent(patient=admission.patient, admission=admission)
    sweep_at(ADMITTED + dt.timedelta(hours=72, minutes=1))
    obligation = Obligation.objects.get(admission=admission)
    assert obligation.state == ObligationState.MET and obligation.consultation_id == consultation.pk
    assert obligation.met_at == consultation.sent_at
    assert sweep_at(ADMITTED + dt.timedelta(days=6)).violated == 0


def test_jl_c2_issue12_a_violation_and_its_notice_render_in_the_readers_language(world):
    """The same violation row reads in Chinese and in English; a row recorded before issue 12 keeps its text."""
    from django.utils import translation

    admission = admit(world)
    sweep_at(ADMITTED + dt.timedelta(hours=72, minutes=1))
    obligation = Obligation.objects.get(admission=admission)
    sweep_at(obligation.due_at + dt.timedelta(minutes=1))
    violation = Violation.objects.select_related("obligation__patient").get()
    notice = Notification.objects.get(user=world.coordinator, message_key="obligation.violated")
    with translation.override("zh-hans"):
        assert violation.text.startswith("JL-C2 第二十二条: ") and admission.patient.name in violation.text
        assert notice.title.startswith("JL-C2 超时：患者 ")
    with translation.override("en"):
        assert violation.text.startswith("JL-C2 Art. 22: ") and admission.patient.name in violation.text
        assert notice.title.startswith("JL-C2 overdue: documents for patient ")
    Violation.objects.filter(pk=violation.pk).update(message_key="", description="旧记录：资料未按时上传")
    violation.refresh_from_db()
    with translation.override("en"):
        assert violation.text == "旧记录：资料未按时上传"
