"""Session time-outs (JL-A2, GB/T 22239-2019 8.1.4.1 d): idle and absolute ends, audited, input kept."""

import datetime as dt

import pytest
import time_machine
from django.test import Client, override_settings
from django.urls import reverse

from audit.choices import EventType
from audit.models import AuditEvent
from facilities.choices import StaffRole
from telemed.sessions import ABSOLUTE, IDLE, SessionPolicy, session_end_reason
from tests.factories import FacilityFactory, staff

pytestmark = pytest.mark.django_db

HOST = "http://testserver"
POLICY = SessionPolicy(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=12), warn=dt.timedelta(minutes=5))
T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)


# --- The rule, pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idle_for", "signed_in_for", "reason"),
    [
        (dt.timedelta(minutes=29, seconds=59), dt.timedelta(hours=1), None),
        (dt.timedelta(minutes=30), dt.timedelta(hours=1), IDLE),
        (dt.timedelta(minutes=1), dt.timedelta(hours=11, minutes=59), None),
        (dt.timedelta(minutes=1), dt.timedelta(hours=12), ABSOLUTE),
        (dt.timedelta(hours=13), dt.timedelta(hours=13), ABSOLUTE),  # the absolute limit is named first
    ],
)
def test_jl_a2_session_end_reason(idle_for, signed_in_for, reason):
    now = T0 + dt.timedelta(days=1)
    assert session_end_reason(now=now, last_seen=now - idle_for, signed_in=now - signed_in_for, policy=POLICY) == reason


# --- Through the portal ---------------------------------------------------------------------------


@pytest.fixture
def clerk():
    return staff(FacilityFactory(), StaffRole.COORDINATOR, username="clerk")


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _timeouts():
    return list(AuditEvent.objects.filter(event_type=EventType.AUTH_SESSION_TIMEOUT).order_by("sequence"))


def test_jl_a2_an_idle_session_ends_after_30_minutes_and_the_end_is_audited(clerk, frozen_now):
    client = _signed_in(clerk)
    assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(frozen_now + dt.timedelta(minutes=29), tick=False):
        assert client.get(reverse("home")).status_code == 200  # activity: the idle clock starts again
    with time_machine.travel(frozen_now + dt.timedelta(minutes=58), tick=False):
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(frozen_now + dt.timedelta(minutes=89), tick=False):
        response = client.get(reverse("consultations:list") + "?q=220122197103091236")
    assert response.status_code == 302
    # Back to the same page after signing in, without the query: it may hold an identity number (JL-C9).
    assert response["Location"] == reverse("login") + "?next=%2Fconsultations%2F"
    assert "_auth_user_id" not in client.session
    (event,) = _timeouts()
    assert event.actor_id == clerk.pk and event.details["reason"] == IDLE and event.details["path"] == "/consultations/"
    login_page = client.get(response["Location"]).content.decode()
    assert "JL-A2" in login_page and "30 分钟未操作" in login_page


def test_jl_a2_an_active_session_still_ends_12_hours_after_signing_in(clerk, frozen_now):
    client = _signed_in(clerk)
    client.get(reverse("home"))
    for minutes in range(29, 12 * 60, 29):
        with time_machine.travel(frozen_now + dt.timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("session-keepalive")).status_code == 204
    with time_machine.travel(frozen_now + dt.timedelta(hours=12, minutes=1), tick=False):
        assert client.get(reverse("home")).status_code == 302
    assert [e.details["reason"] for e in _timeouts()] == [ABSOLUTE]


@override_settings(TELEMED_SESSION_IDLE_MINUTES=10)
def test_jl_a2_the_idle_limit_is_a_setting(clerk, frozen_now):
    client = _signed_in(clerk)
    client.get(reverse("home"))
    with time_machine.travel(frozen_now + dt.timedelta(minutes=11), tick=False):
        assert client.get(reverse("home")).status_code == 302


def test_jl_a2_a_form_posted_after_the_time_out_is_kept_for_the_same_user(clerk, frozen_now):
    client = _signed_in(clerk)
    client.get(reverse("home"))
    path = reverse("consultations:create")
    with time_machine.travel(frozen_now + dt.timedelta(minutes=45), tick=False):
        response = client.post(path, {"reason": "入院4天诊断不明", "purpose": "明确诊断", "password": "never-kept"},
                               HTTP_ORIGIN=HOST)
        assert response.status_code == 302
        assert response["Location"] == reverse("login") + "?next=%2Fsession%2Fresume%2F"
        assert _timeouts()[0].details["form_kept"] is True
        # Signing in again (the session key changes, the kept form travels with it) shows it back.
        client.force_login(clerk)
        page = client.get(reverse("session-resume")).content.decode()
    assert "入院4天诊断不明" in page and "明确诊断" in page
    assert "never-kept" not in page
    assert f'action="{path}"' in page and "重新提交" in page
    # Shown once: it is not left lying in the session.
    with time_machine.travel(frozen_now + dt.timedelta(minutes=46), tick=False):
        assert client.get(reverse("session-resume")).status_code == 302


def test_jl_a2_a_kept_form_is_not_shown_to_another_user(clerk, frozen_now):
    client = _signed_in(clerk)
    client.get(reverse("home"))
    with time_machine.travel(frozen_now + dt.timedelta(minutes=45), tick=False):
        client.post(reverse("consultations:create"), {"reason": "只给本人看"}, HTTP_ORIGIN=HOST)
        other = staff(FacilityFactory(), StaffRole.COORDINATOR, username="other")
        client.force_login(other)  # another person signs in on the same browser
        response = client.get(reverse("session-resume"))
    assert response.status_code == 302
    assert "只给本人看" not in client.get(reverse("home")).content.decode()


def test_jl_a2_a_cross_site_post_into_an_ended_session_is_not_kept(clerk, frozen_now):
    client = _signed_in(clerk)
    client.get(reverse("home"))
    with time_machine.travel(frozen_now + dt.timedelta(minutes=45), tick=False):
        response = client.post(reverse("consultations:create"), {"reason": "伪造"}, HTTP_ORIGIN="https://evil.example")
    assert response["Location"].endswith("?next=%2Fconsultations%2Fnew%2F")
    assert _timeouts()[0].details["form_kept"] is False


def test_jl_a2_a_session_api_call_into_an_ended_session_gets_401(clerk, frozen_now):
    client = _signed_in(clerk)
    client.get(reverse("home"))
    with time_machine.travel(frozen_now + dt.timedelta(minutes=31), tick=False):
        response = client.get("/api/v1/consultations/")
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"


def test_jl_a2_the_keepalive_refreshes_and_the_warning_is_on_every_page(clerk, frozen_now):
    client = _signed_in(clerk)
    page = client.get(reverse("home")).content.decode()
    assert 'id="session-warning"' in page and 'data-idle-seconds="1800"' in page and 'data-warn-seconds="300"' in page
    assert "telemed/session.js" in page
    with time_machine.travel(frozen_now + dt.timedelta(minutes=25), tick=False):
        assert client.get(reverse("session-keepalive")).status_code == 204
    with time_machine.travel(frozen_now + dt.timedelta(minutes=50), tick=False):
        assert client.get(reverse("home")).status_code == 200
    assert Client().get(reverse("session-keepalive")).status_code == 401


# --- One session for privileged users ---------------------------------------------------------------


def test_jl_a2_a_regulator_signing_in_again_ends_the_earlier_session(frozen_now):
    from tests.factories import regulator

    official = regulator("220100", username="city")
    first, second = _signed_in(official), _signed_in(official)
    assert second.get(reverse("home")).status_code == 200
    assert first.get(reverse("home")).status_code == 302  # the earlier browser is signed out
    (event,) = AuditEvent.objects.filter(event_type=EventType.AUTH_SESSION_REPLACED)
    assert event.actor_id == official.pk


def test_jl_a2_other_staff_may_keep_two_sessions(clerk):
    first, second = _signed_in(clerk), _signed_in(clerk)
    assert first.get(reverse("home")).status_code == 200 and second.get(reverse("home")).status_code == 200
    assert not AuditEvent.objects.filter(event_type=EventType.AUTH_SESSION_REPLACED).exists()


@override_settings(TELEMED_SINGLE_SESSION_PRIVILEGED=False)
def test_jl_a2_the_single_session_policy_is_a_setting():
    from tests.factories import regulator

    official = regulator("220100", username="city")
    first, second = _signed_in(official), _signed_in(official)
    assert first.get(reverse("home")).status_code == 200 and second.get(reverse("home")).status_code == 200
