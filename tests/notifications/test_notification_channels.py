"""Issue 12, "Alerts that reach people": notifications by channel with per-user preferences.

In-app, e-mail (Django mail, locmem in tests) and SMS (a pluggable backend); deliveries recorded;
a failing channel never blocks the workflow; emergency (急诊) requests alert the invited side's
on-duty staff (JL-F4 roster) at once; texts rendered when shown, in the reader's language.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from audit.choices import EventType
from audit.models import AuditEvent
from consultations.choices import ConsultationState, Urgency
from consultations.models import Notification
from facilities.choices import StaffRole
from facilities.services import duty_shift_add
from notifications import rules, services
from notifications.choices import Channel, DeliveryStatus, NotificationKind
from notifications.models import NotificationDelivery, NotificationPreference
from notifications.sms import BaseSmsBackend, LocmemSmsBackend
from tests.api_cases import assert_error, token_client
from tests.factories import PhysicianFactory, RegistrationFactory, staff

pytestmark = pytest.mark.django_db

LOCMEM_SMS = "notifications.sms.LocmemSmsBackend"


class BrokenSms(BaseSmsBackend):
    """A provider that is down."""

    def send_messages(self, messages):
        raise ConnectionError("SMS gateway unreachable")


class BrokenMail:
    """An e-mail backend whose server refuses every connection."""

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        raise OSError("mail server refused the connection")

    def close(self):
        pass

    def send_messages(self, messages):
        raise OSError("mail server refused the connection")


@pytest.fixture(autouse=True)
def _channels(settings):
    settings.TELEMED_SMS_BACKEND = LOCMEM_SMS
    settings.TELEMED_SMS_OPTIONS = {}
    LocmemSmsBackend.outbox = []
    yield
    LocmemSmsBackend.outbox = []


@pytest.fixture
def eager_celery():
    from telemed.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _reachable(user, *, email: str, phone: str = "") -> None:
    user.email = email
    user.save(update_fields=["email"])
    if phone:
        services.notification_preference_update(actor=user, phone=phone)


def _on_duty(world, user, *, starts_in_hours: float, hours: float = 8):
    physician = PhysicianFactory(user=user, scopes=["internal"])
    RegistrationFactory(facility=world.invited, physician=physician)
    now = timezone.now()
    return duty_shift_add(actor=world.invited_coordinator, facility=world.invited, physician=physician, scope="internal",
                          starts_at=now + dt.timedelta(hours=starts_in_hours), ends_at=now + dt.timedelta(hours=starts_in_hours + hours))


# --- Rules ---------------------------------------------------------------------------------------


def test_defaults_urgent_and_deadline_on_every_channel_the_others_in_app_only():
    assert rules.channels_for(NotificationKind.URGENT, None) == {Channel.IN_APP, Channel.EMAIL, Channel.SMS}
    assert rules.channels_for(NotificationKind.DEADLINE, {}) == {Channel.IN_APP, Channel.EMAIL, Channel.SMS}
    for kind in (NotificationKind.REQUEST, NotificationKind.RETURNED, NotificationKind.REPORT_SIGNED):
        assert rules.channels_for(kind, None) == {Channel.IN_APP}
    # A stored choice replaces the default; in-app stays on whatever is stored.
    assert rules.channels_for(NotificationKind.URGENT, {"urgent": []}) == {Channel.IN_APP}
    assert rules.channels_for(NotificationKind.REQUEST, {"request": ["sms", "bogus"]}) == {Channel.IN_APP, Channel.SMS}


def test_phone_numbers_are_validated_and_normalised():
    assert rules.normalise_phone("+86 138-0013-8000") == ("13800138000", None)
    assert rules.normalise_phone("") == ("", None)
    number, error = rules.normalise_phone("12345")
    assert number == "" and "11位" in error
    assert rules.mask_phone("13800138000") == "138****8000"


# --- Preferences ---------------------------------------------------------------------------------


def test_preferences_are_respected_per_user_and_kind(world, django_capture_on_commit_callbacks):
    """Two coordinators get the same JL-C2 reminder: one keeps the defaults (e-mail and SMS), the
    other turned both off for deadlines; each gets only the channels chosen."""
    other = staff(world.inviting, StaffRole.COORDINATOR, username="coordinator2")
    services.notification_preference_update(actor=other, channels={"deadline": []})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        created = services.notify(message_key="obligation.reminder", params={"name": "王桂芝", "due": "2026-01-01 08:00", "h": 4},
                                  facility_id=world.inviting.pk, roles=(StaffRole.COORDINATOR,), dedupe_key="obligation:1:remind:4")
    assert created == 2
    channels = {(d.notification.user_id, d.channel) for d in NotificationDelivery.objects.select_related("notification")}
    assert channels == {(world.coordinator.pk, Channel.EMAIL), (world.coordinator.pk, Channel.SMS)}
    assert Notification.objects.get(user=other).kind == NotificationKind.DEADLINE  # in-app always
    assert len(callbacks) == 1  # one delivery task for the batch, not one per row
    # A repeated notification (a redelivered task) writes nothing twice.
    assert services.notify(message_key="obligation.reminder", params={"name": "王桂芝", "due": "x", "h": 4},
                           facility_id=world.inviting.pk, roles=(StaffRole.COORDINATOR,), dedupe_key="obligation:1:remind:4") == 0
    assert NotificationDelivery.objects.count() == 2


def test_a_preference_change_is_audited_with_the_number_masked_and_encrypted_at_rest(world):
    services.notification_preference_update(actor=world.clinician, channels={"request": ["email"]}, phone="13800138000")
    event = AuditEvent.objects.get(event_type=EventType.NOTIFICATION_PREFERENCE_CHANGE)
    assert event.details["phone"] == "138****8000"
    assert event.details["channels"]["request"] == {"before": ["in_app"], "after": ["email", "in_app"]}
    assert "13800138000" not in str(event.details)
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM notifications_notificationpreference")
        (stored,) = cursor.fetchone()
    assert "13800138000" not in str(stored)  # JL-A2: encrypted like a patient's number
    assert NotificationPreference.objects.get(user=world.clinician).phone == "13800138000"
    # Saving the same choices again changes nothing and records nothing.
    services.notification_preference_update(actor=world.clinician, channels={"request": ["email"]}, phone="13800138000")
    assert AuditEvent.objects.filter(event_type=EventType.NOTIFICATION_PREFERENCE_CHANGE).count() == 1


def test_the_settings_page_saves_and_refuses_a_bad_number_keeping_nothing(client, world):
    client.force_login(world.clinician)
    page = reverse("notifications:preferences")
    response = client.get(page)
    assert response.status_code == 200
    assert "通知设置" in response.content.decode()
    response = client.post(page, {"phone": "12345", "kind_urgent": ["email"]})
    assert response.status_code == 200
    assert "手机号码格式不正确" in response.content.decode()
    assert not NotificationPreference.objects.filter(user=world.clinician).exists()
    response = client.post(page, {"phone": "13900001111", "kind_urgent": ["email"], "kind_request": ["sms"],
                                   "kind_deadline": ["email", "sms"]})  # as checked by default
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=world.clinician)
    assert preference.phone == "13900001111"
    assert rules.channels_for("urgent", preference.channels) == {"in_app", "email"}
    assert rules.channels_for("request", preference.channels) == {"in_app", "sms"}
    assert "deadline" not in preference.channels  # the default: nothing stored
    assert rules.channels_for("referral", preference.channels) == {"in_app"}  # unchecked: in-app only
    assert 'href="/notifications/settings/"' in client.get(reverse("home")).content.decode()  # the user's menu


def test_the_preferences_api_reads_and_changes_the_callers_own(world):
    url = reverse("notifications-api:notification-preferences")
    assert token_client().get(url).status_code in (401, 403)
    api = token_client(world.clinician)
    body = api.get(url).json()
    assert body["channels"]["urgent"] == ["email", "in_app", "sms"] and body["phone_masked"] == ""
    body = api.patch(url, {"channels": {"urgent": ["sms"]}, "phone": "13800138000"}, format="json").json()
    assert body["channels"]["urgent"] == ["in_app", "sms"] and body["phone_masked"] == "138****8000"
    assert_error(api.put(url, {"channels": {"holiday": ["email"]}}, format="json"), 400, "invalid")
    assert_error(api.patch(url, {"phone": "999"}, format="json"), 400, "invalid_phone")
    assert NotificationPreference.objects.get(user=world.clinician).phone == "13800138000"  # kept


# --- Urgent requests reach the on-duty staff (JL-F4) -----------------------------------------------


def test_issue12_jl_f4_an_emergency_request_alerts_the_on_duty_experts_only_on_every_channel(
    world, eager_celery, django_capture_on_commit_callbacks
):
    on_duty = staff(world.invited, StaffRole.CLINICIAN, username="on_duty")
    later = staff(world.invited, StaffRole.CLINICIAN, username="later")
    _on_duty(world, on_duty, starts_in_hours=-1)
    _on_duty(world, later, starts_in_hours=4)  # tonight's shift: not on duty now
    _reachable(on_duty, email="on_duty@example.cn", phone="13800138000")
    _reachable(later, email="later@example.cn", phone="13800138001")
    with django_capture_on_commit_callbacks(execute=True):
        consultation = world.sent(urgency=Urgency.EMERGENCY)
    alert = Notification.objects.get(message_key="consultation.urgent_on_duty")
    assert alert.user == on_duty and alert.kind == NotificationKind.URGENT
    assert consultation.number in alert.title
    assert not Notification.objects.filter(user=later).exists()
    assert not Notification.objects.filter(user=world.expert, message_key="consultation.urgent_on_duty").exists()
    assert {d.channel: d.status for d in alert.deliveries.all()} == {"email": "sent", "sms": "sent"}
    assert [m.to for m in mail.outbox] == [["on_duty@example.cn"]]
    assert [m.to for m in LocmemSmsBackend.outbox] == ["13800138000"]
    assert consultation.number in LocmemSmsBackend.outbox[0].text
    # The coordinators' new-request notice is an urgent one too.
    assert Notification.objects.get(user=world.invited_coordinator).kind == NotificationKind.URGENT


def test_a_routine_request_alerts_nobody_on_duty(world, django_capture_on_commit_callbacks):
    on_duty = staff(world.invited, StaffRole.CLINICIAN, username="on_duty")
    _on_duty(world, on_duty, starts_in_hours=-1)
    world.sent(urgency=Urgency.ROUTINE)
    assert not Notification.objects.filter(user=on_duty).exists()
    assert Notification.objects.get(user=world.invited_coordinator).kind == NotificationKind.REQUEST


# --- Delivery records; a failing channel never blocks --------------------------------------------


def test_a_failing_backend_is_recorded_retried_and_the_workflow_succeeded(
    world, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.TELEMED_SMS_BACKEND = "tests.notifications.test_notification_channels.BrokenSms"
    settings.EMAIL_BACKEND = "tests.notifications.test_notification_channels.BrokenMail"
    settings.TELEMED_NOTIFY_MAX_ATTEMPTS = 2
    on_duty = staff(world.invited, StaffRole.CLINICIAN, username="on_duty")
    _on_duty(world, on_duty, starts_in_hours=-1)
    _reachable(on_duty, email="on_duty@example.cn", phone="13800138000")
    with django_capture_on_commit_callbacks(execute=True):
        consultation = world.sent(urgency=Urgency.EMERGENCY)
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.SENT  # the request went out all the same
    deliveries = {d.channel: d for d in NotificationDelivery.objects.filter(notification__user=on_duty)}
    for channel, text in (("email", "mail server refused"), ("sms", "SMS gateway unreachable")):
        d = deliveries[channel]
        assert (d.status, d.attempts, d.sent_at) == (DeliveryStatus.PENDING, 1, None)
        assert text in d.error and d.next_attempt_at > timezone.now()
    # The sweep retries after the back-off; the second failure gives up (TELEMED_NOTIFY_MAX_ATTEMPTS).
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert services.notification_deliveries_send().failed == 2
    assert set(NotificationDelivery.objects.filter(notification__user=on_duty).values_list("status", "attempts")) == {("failed", 2)}


def test_a_recovered_backend_delivers_on_the_sweep_and_records_it(world, settings, django_capture_on_commit_callbacks):
    settings.TELEMED_SMS_BACKEND = "tests.notifications.test_notification_channels.BrokenSms"
    _reachable(world.coordinator, email="coordinator@example.cn", phone="13800138000")
    services.notification_preference_update(actor=world.clinician, channels={"deadline": ["sms"]})  # no number on file
    services.notify(message_key="obligation.violated", params={"name": "王桂芝"}, facility_id=world.inviting.pk,
                    roles=(StaffRole.COORDINATOR, StaffRole.CLINICIAN))
    report = services.notification_deliveries_send()
    assert (report.sent, report.failed, report.skipped) == (1, 1, 1)  # e-mail sent, SMS down, no number
    skipped = NotificationDelivery.objects.get(notification__user=world.clinician)
    assert skipped.status == DeliveryStatus.SKIPPED and "手机号码" in skipped.error
    settings.TELEMED_SMS_BACKEND = LOCMEM_SMS
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert services.notification_deliveries_send().sent == 1
        assert services.notification_deliveries_send().attempted == 0  # idempotent: nothing left
    sms = NotificationDelivery.objects.get(notification__user=world.coordinator, channel=Channel.SMS)
    assert (sms.status, sms.attempts, sms.error) == (DeliveryStatus.SENT, 2, "") and sms.sent_at is not None
    # Outside the portal the patient is named only by the first character (JL-C9).
    assert LocmemSmsBackend.outbox[0].text.count("王**") == 1 and "王桂芝" not in LocmemSmsBackend.outbox[0].text
    assert "王**" in mail.outbox[0].subject and "王桂芝" not in mail.outbox[0].body


def test_a_stale_claim_is_taken_over_by_the_sweep(world):
    _reachable(world.coordinator, email="coordinator@example.cn")
    services.notify(message_key="obligation.violated", params={"name": "王桂芝"}, facility_id=world.inviting.pk,
                    roles=(StaffRole.COORDINATOR,))
    NotificationDelivery.objects.update(status=DeliveryStatus.SENDING, claimed_at=timezone.now())  # a worker died
    assert services.notification_deliveries_send().attempted == 0  # its worker may still be at it
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        report = services.notification_deliveries_send()
    assert (report.sent, report.skipped) == (1, 1)  # the e-mail; the SMS has no number on file


# --- Rendered when shown -----------------------------------------------------------------------------


def test_the_same_notification_renders_in_chinese_and_in_english(world):
    services.notify(message_key="consultation.response_overdue", facility_id=world.invited.pk, roles=(StaffRole.COORDINATOR,),
                    params={"number": "YC-1", "urgency": Urgency.EMERGENCY, "waited": 45, "target": 30})
    notification = Notification.objects.get(user=world.invited_coordinator)
    assert notification.subject == "" and notification.params["urgency"] == "emergency"  # no stored text
    with translation.override("zh-hans"):
        assert notification.title == "JL-C4 提醒：申请 YC-1（急诊）已等待 45 分钟，超过受理时限 30 分钟"
        assert "JL-C4" in notification.text
    with translation.override("en"):
        assert notification.title.startswith("JL-C4 reminder: request YC-1 (Emergency) has been waiting 45")


def test_a_row_stored_before_issue_12_keeps_its_text(world):
    old = Notification.objects.create(user=world.clinician, created_at=timezone.now(), subject="旧的中文标题", body="旧的内容")
    for language in ("zh-hans", "en"):
        with translation.override(language):
            assert (old.title, old.text) == ("旧的中文标题", "旧的内容")


def test_the_notification_list_renders_in_the_readers_language_in_constant_queries(client, world, django_assert_max_num_queries):
    _reachable(world.invited_coordinator, email="c@example.cn")

    def add(count: int, start: int = 0):
        for i in range(start, start + count):
            services.notify(message_key="consultation.response_overdue", facility_id=world.invited.pk, roles=(StaffRole.COORDINATOR,),
                            params={"number": f"YC-{i}", "urgency": Urgency.EMERGENCY, "waited": 45, "target": 30}, dedupe_key=f"t:{i}")
        services.notification_deliveries_send()

    def page(language: str = "zh-hans"):
        client.cookies["django_language"] = language
        return client.get(reverse("consultations:notification-list"))

    client.force_login(world.invited_coordinator)
    add(1)
    page()  # warm the session
    with django_assert_max_num_queries(12) as few:
        page()
    one_row = len(few)
    add(19, start=1)
    page()  # the session learns the new unread count
    with django_assert_max_num_queries(one_row):  # 20 rows with their deliveries cost no more
        response = page()
    text = response.content.decode()
    assert text.count("（急诊）") == 20 and text.count("电子邮件 已发送") == 20
    assert "(Emergency)" in page("en").content.decode()


def test_jl_a2_rotate_data_key_re_encrypts_the_staff_sms_numbers_too(world, settings):
    from io import StringIO

    from django.core.management import call_command

    from telemed import crypto
    from tests.consultations.test_encryption_at_rest import NEW, OLD

    settings.TELEMED_DATA_KEYS = (OLD,)
    services.notification_preference_update(actor=world.clinician, phone="13800138000")
    services.notification_preference_update(actor=world.coordinator, channels={"request": ["email"]})  # no number
    settings.TELEMED_DATA_KEYS = (NEW, OLD)
    out = StringIO()
    call_command("rotate_data_key", stdout=out)
    assert "staff SMS numbers re-encrypted 1" in out.getvalue() and "done" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM notifications_notificationpreference WHERE user_id = %s", [world.clinician.pk])
        (stored,) = cursor.fetchone()
    assert crypto.key_id_of(stored) == "new"
    settings.TELEMED_DATA_KEYS = (NEW,)
    assert NotificationPreference.objects.get(user=world.clinician).phone == "13800138000"
    event = AuditEvent.objects.filter(event_type=EventType.DATA_KEY_ROTATE).latest("sequence")
    assert event.object_type == "notifications.notificationpreference" and event.details["rows"] == 1


def test_a_caller_still_giving_a_fixed_subject_is_shown_that_text(world):
    from consultations.services._common import notify

    assert notify(facility_id=world.inviting.pk, roles=(StaffRole.CLINICIAN,), subject="固定的标题", body="固定的内容") == 1
    notification = Notification.objects.get(user=world.clinician)
    assert (notification.kind, notification.title, notification.text) == (NotificationKind.SYSTEM, "固定的标题", "固定的内容")
    with pytest.raises(ValueError):
        notify(facility_id=world.inviting.pk, roles=(StaffRole.CLINICIAN,))
