"""JL-A2 (GB/T 22239-2019 8.1.4.1 d): two-factor sign-in — TOTP after the password.

Codes are computed from the device at the test's frozen "now" (``frozen_now``); a new time step is
reached by travelling with time-machine, never by waiting.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from facilities import demo_data, twofactor
from facilities.choices import AdminRole, StaffRole
from facilities.management.commands.demo_totp import current_code
from tests.api_cases import assert_error
from tests.factories import PASSWORD, FacilityFactory, administrator, regulator, staff

pytestmark = pytest.mark.django_db

LOGIN = "/login/"
VERIFY = "/login/verify/"
ENROL = "/login/enrol/"


def events(event_type: str):
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("sequence"))


def sign_in(client, user, *, address: str = "127.0.0.1"):
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=address)
    assert response.status_code == 302, response.content
    return response


def device_for(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def later(seconds: int = 60):
    """A later time step (the clock keeps ticking from there)."""
    return time_machine.travel(timezone.now() + dt.timedelta(seconds=seconds), tick=True)


@pytest.fixture
def reg(db):
    return regulator("220000", username="reg_ji")


# --- The policy ---------------------------------------------------------------------------------


def test_jl_a2_policy_requires_regulators_facility_admins_and_the_three_administrators_not_other_staff(db, settings):
    facility = FacilityFactory()
    assert twofactor.required_for(regulator("220100"))
    assert twofactor.required_for(staff(facility, StaffRole.FACILITY_ADMIN))
    admins = [administrator(role, username=f"a_{role}") for role in AdminRole.values]
    assert all(twofactor.required_for(user) for user in admins)
    clinician = staff(facility, StaffRole.CLINICIAN)
    assert not twofactor.required_for(clinician)
    settings.TELEMED_2FA_REQUIRED_ROLES = ("clinician",)
    del clinician._telemed_scope
    assert twofactor.required_for(clinician)
    # 三员分立: the setting cannot leave the three administrators out.
    for user in admins:
        del user._telemed_scope
    assert all(twofactor.required_for(user) for user in admins)


def test_jl_a2_the_required_roles_come_from_the_environment_and_a_typo_stops_start_up(tmp_path):
    code = "import django; django.setup(); from django.conf import settings as s; print(*s.TELEMED_2FA_REQUIRED_ROLES)"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(TELEMED_VAR_DIR=str(tmp_path), TELEMED_2FA_REQUIRED_ROLES="regulator, finance")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert out.stdout.split() == ["regulator", "finance"]
    env["TELEMED_2FA_REQUIRED_ROLES"] = "regulator,nurse"
    bad = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    assert bad.returncode != 0 and "TELEMED_2FA_REQUIRED_ROLES" in bad.stderr and "nurse" in bad.stderr


# --- The second step ----------------------------------------------------------------------------


def test_jl_a2_regulator_with_device_is_asked_for_the_code_before_any_page(client, reg):
    device = device_for(reg)
    response = sign_in(client, reg)
    home = client.get(response["Location"])
    assert home.status_code == 302 and home["Location"].startswith(VERIFY)
    assert client.get("/facilities/").status_code == 302
    with later():
        response = client.post(VERIFY, {"otp_token": current_code(device), "next": "/facilities/"})
        assert response.status_code == 302 and response["Location"] == "/facilities/"
        assert client.get("/facilities/").status_code == 200
    [verified] = events("auth.otp_verified")
    assert verified.actor_id == reg.pk


def test_jl_a2_wrong_code_is_refused_in_chinese_and_audited(client, reg):
    device_for(reg)
    sign_in(client, reg)
    response = client.post(VERIFY, {"otp_token": "000000"})
    assert response.status_code == 400
    assert "JL-A2" in response.content.decode() and "动态码不正确" in response.content.decode()
    [failed] = events("auth.otp_failed")
    assert failed.outcome == "failure" and failed.details["code"] == "otp_invalid"
    assert client.get("/").status_code == 302  # still not verified


@pytest.mark.parametrize("bad", ["", "12", "１２３４５６", "x" * 500, "<script>"])
def test_jl_a2_malformed_codes_are_refused_not_500(client, reg, bad):
    device_for(reg)
    sign_in(client, reg)
    assert client.post(VERIFY, {"otp_token": bad}).status_code == 400


def test_jl_a2_wrong_codes_count_toward_the_lockout(client, reg, settings):
    device_for(reg)
    sign_in(client, reg)
    for _attempt in range(settings.TELEMED_LOCKOUT_FAILURES - 1):
        assert client.post(VERIFY, {"otp_token": "000000"}).status_code == 400
    response = client.post(VERIFY, {"otp_token": "000000"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session  # signed out
    assert events("auth.lockout")
    assert len(events("auth.otp_failed")) == settings.TELEMED_LOCKOUT_FAILURES
    assert not events("auth.login_failed")  # a wrong code is auth.otp_failed, not a wrong password


def test_jl_a2_a_code_cannot_be_used_twice_in_its_time_step(client, reg):
    device = device_for(reg)
    sign_in(client, reg)
    code = current_code(device)
    assert client.post(VERIFY, {"otp_token": code}).status_code == 302
    client.post(reverse("logout"))
    with later(2):  # same 30-second step or the next one: either way this code is spent
        sign_in(client, reg)
        response = client.post(VERIFY, {"otp_token": code})
    assert response.status_code == 400
    assert events("auth.otp_failed")


def test_jl_a2_recovery_code_works_once(client, reg):
    device_for(reg)
    codes = twofactor.recovery_codes_issue(reg)
    assert len(codes) == 10
    sign_in(client, reg)
    assert client.post(VERIFY, {"otp_token": codes[0]}).status_code == 302
    assert client.get("/").status_code == 200
    [used] = events("auth.otp_recovery_used")
    assert used.details["left"] == 9
    client.post(reverse("logout"))
    with later():
        sign_in(client, reg)
        assert client.post(VERIFY, {"otp_token": codes[0]}).status_code == 400
    assert StaticToken.objects.filter(device__user=reg).count() == 9


# --- Enrolment ----------------------------------------------------------------------------------


def test_jl_a2_privileged_user_without_device_is_walked_through_enrolment(client, reg):
    response = sign_in(client, reg)
    home = client.get(response["Location"])
    assert home.status_code == 302 and home["Location"].startswith(ENROL)
    assert client.get(VERIFY).status_code == 302  # no device yet: enrolment first
    page = client.get(ENROL)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in html  # the QR code drawn here, no outside service
    device = TOTPDevice.objects.get(user=reg, confirmed=False)
    assert twofactor.secret_text(device).replace(" ", "") in html.replace(" ", "")
    assert client.post(ENROL, {"otp_token": "000000"}).status_code == 400
    with later(5):  # django-otp throttles the device for a moment after a wrong code
        done = client.post(ENROL, {"otp_token": current_code(device), "next": "/"})
        assert done.status_code == 200
        codes = re.findall(r"<li><code>([0-9a-z]+)</code></li>", done.content.decode())
        assert len(codes) == 10
        device.refresh_from_db()
        assert device.confirmed
        assert client.get("/").status_code == 200  # the enrolling code verified the session
    [enrolled] = events("auth.otp_enrolled")
    assert enrolled.actor_id == reg.pk and enrolled.details["recovery_codes"] == 10
    assert client.get(ENROL).status_code == 200  # a verified user may enrol a new phone


def test_jl_a2_a_user_with_a_device_cannot_enrol_another_before_the_code(client, reg):
    device_for(reg)
    sign_in(client, reg)
    response = client.get(ENROL)
    assert response.status_code == 302 and response["Location"] == VERIFY


def test_jl_a2_other_staff_may_enrol_and_are_then_asked_too(client, db):
    clinician = staff(FacilityFactory(), StaffRole.CLINICIAN, username="clin")
    sign_in(client, clinician)
    assert client.get("/").status_code == 200  # not required
    page = client.get(reverse("two-factor"))
    assert page.status_code == 200 and "可自愿启用双重认证" in page.content.decode()
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=clinician)
    assert client.post(ENROL, {"otp_token": current_code(device)}).status_code == 200
    client.post(reverse("logout"))
    with later():
        sign_in(client, clinician)
        assert client.get("/").status_code == 302
        assert client.post(VERIFY, {"otp_token": current_code(device)}).status_code == 302
        assert client.get("/").status_code == 200


# --- The API and the admin ----------------------------------------------------------------------


def test_jl_a2_session_api_call_before_the_code_is_401_token_calls_are_not_concerned(client, reg):
    device_for(reg)
    sign_in(client, reg)
    body = assert_error(client.get("/api/v1/facilities/"), 401, "otp_required")
    assert "JL-A2" in body["message"]
    partner = staff(FacilityFactory(), StaffRole.FACILITY_ADMIN, username="partner_admin")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=partner).key}")
    assert api.get("/api/v1/facilities/").status_code == 200


def test_jl_a2_admin_site_needs_a_verified_session(client, db):
    operator = administrator(AdminRole.SYSTEM, username="ops")
    client.force_login(operator, otp=False)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(ENROL)
    verified = type(client)()
    verified.force_login(operator)  # with the second step
    assert verified.get("/admin/").status_code == 200


# --- The demonstration --------------------------------------------------------------------------


def test_seed_demo_enrols_the_privileged_demo_logins_and_demo_totp_prints_their_code(db, capsys):
    call_command("seed_demo")
    privileged = {s.username for s in demo_data.LOGINS if s.role in ("regulator", *AdminRole.values, StaffRole.FACILITY_ADMIN)}
    enrolled = set(TOTPDevice.objects.filter(confirmed=True).values_list("user__username", flat=True))
    assert enrolled == privileged
    keys = set(TOTPDevice.objects.values_list("key", flat=True))
    assert len(keys) == len(privileged)  # a random key each, made in this database
    capsys.readouterr()
    call_command("demo_totp", "reg_province")
    code = capsys.readouterr().out.strip()
    assert re.fullmatch(r"\d{6}", code)
    assert code == current_code(TOTPDevice.objects.get(user__username="reg_province"))
    with pytest.raises(CommandError, match="not a demonstration login"):
        call_command("demo_totp", "somebody_real")
    with pytest.raises(CommandError, match="no demonstration TOTP device"):
        call_command("demo_totp", "clinician_nongan")
