"""JL-A2 (GB/T 22239-2019 8.1.4.1 a–d): lockout, its release, password rules and age, sign-in audit.

Every test runs at its one frozen "now" (``frozen_now``); the lockout window is travelled across
with time-machine, never waited for.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

import telemed.settings as configured
from audit.models import AuditEvent
from facilities import demo_data, rules, signin
from facilities.choices import AdminRole, StaffRole
from facilities.models import PasswordHistory
from tests.api_cases import assert_error
from tests.factories import PASSWORD, FacilityFactory, UserFactory, administrator, regulator, staff

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/login/"
TOKEN = "/api/v1/auth/token/"
STRONG = "Xk7#pLm2qRw9"  # length 12, four classes, not common


def events(event_type: str):
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("sequence"))


WRONG = "wrong-password-1A"


def fail(client, username: str, *, address: str = "127.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": WRONG}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Lockout (8.1.4.1 b) --------------------------------------------------------------------------


def test_jl_a2_five_failures_lock_the_sixth_attempt_even_with_the_right_password(client):
    user = UserFactory(username="li_hua")
    for _attempt in range(4):
        response = fail(client, "li_hua")
        assert response.status_code == 200 and "用户名或密码不正确" in response.content.decode()
    fifth = fail(client, "li_hua")
    assert fifth.status_code == 429
    assert "JL-A2" in fifth.content.decode() and "已被锁定" in fifth.content.decode()

    sixth = client.post(LOGIN, {"username": "li_hua", "password": PASSWORD})
    assert sixth.status_code == 429 and not logged_in(client)

    failed = events("auth.login_failed")
    assert [e.details["code"] for e in failed] == ["invalid_credentials"] * 5 + ["account_locked"]
    assert all(e.details["username"] == "li_hua" and e.details["ip_address"] == "127.0.0.1" for e in failed)
    assert all(e.object_id == str(user.pk) and e.outcome == "failure" for e in failed)
    [lockout] = events("auth.lockout")
    assert lockout.details["username"] == "li_hua" and lockout.details["failures"] == 5
    assert "JL-A2" in lockout.details["reason"]
    assert events("auth.login") == []


def test_jl_a2_the_lock_ends_when_its_window_has_passed(client, frozen_now):
    UserFactory(username="li_hua")
    for _attempt in range(5):
        fail(client, "li_hua")
    with time_machine.travel(frozen_now + dt.timedelta(minutes=29), tick=False):
        assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}).status_code == 429
    with time_machine.travel(frozen_now + dt.timedelta(minutes=31), tick=False):
        response = client.post(LOGIN, {"username": "li_hua", "password": PASSWORD})
        assert response.status_code == 302 and logged_in(client)
    assert len(events("auth.lockout")) == 1 and len(events("auth.login")) == 1


def test_jl_a2_failures_spread_over_more_than_the_window_do_not_lock(client, frozen_now):
    UserFactory(username="li_hua")
    for step in range(5):
        with time_machine.travel(frozen_now + dt.timedelta(minutes=31 * step), tick=False):
            assert fail(client, "li_hua").status_code == 200
    assert events("auth.lockout") == []


def test_jl_a2_an_address_is_locked_after_failures_on_several_accounts(client):
    """Per address: five guesses at five names from one address lock that address for everyone."""
    UserFactory(username="li_hua")
    for n in range(5):
        fail(client, f"guess{n}", address="10.9.8.7")
    assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.9.8.7").status_code == 429
    other = client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.9.8.8")
    assert other.status_code == 302 and logged_in(client)
    [lockout] = events("auth.lockout")
    assert lockout.details["ip_address"] == "10.9.8.7"


def test_jl_a2_an_account_is_locked_from_every_address(client):
    UserFactory(username="li_hua")
    for n in range(5):
        fail(client, "li_hua", address=f"10.0.0.{n + 1}")
    assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.0.0.99").status_code == 429


def test_jl_a2_a_forged_forwarded_for_does_not_escape_the_address_lock(client, settings):
    """The address comes from telemed.context.client_ip: X-Forwarded-For only from a trusted proxy."""
    settings.TELEMED_TRUSTED_PROXIES = ()
    for n in range(5):
        client.post(LOGIN, {"username": f"guess{n}", "password": "x"}, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert {e.details["ip_address"] for e in events("auth.login_failed")} == {"203.0.113.5"}
    assert len(events("auth.lockout")) == 1


def test_jl_a2_behind_a_trusted_proxy_the_client_address_is_counted(client, settings):
    settings.TELEMED_TRUSTED_PROXIES = ("10.0.0.0/8",)
    for n in range(5):
        client.post(LOGIN, {"username": f"guess{n}", "password": "x"}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    [lockout] = events("auth.lockout")
    assert lockout.details["ip_address"] == "198.51.100.7"
    UserFactory(username="li_hua")
    other_client = client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert other_client.status_code == 302  # the proxy itself is not locked, only that client


def test_jl_a2_the_username_is_recorded_as_typed_but_cleaned(client):
    fail(client, "wang\u202e\x07fang" + "x" * 300)
    [failed] = events("auth.login_failed")
    assert failed.details["username"] == "wangfang" + "x" * 142
    assert failed.object_id == ""


def test_jl_a2_the_password_form_counts_toward_the_lockout(client):
    user = UserFactory(username="li_hua")
    client.force_login(user)
    for _attempt in range(4):
        response = client.post(reverse("password_change"), {"old_password": "wrong-1A!x", "new_password1": STRONG, "new_password2": STRONG})
        assert response.status_code == 200 and "原密码不正确" in response.content.decode()
    fifth = client.post(reverse("password_change"), {"old_password": "wrong-1A!x", "new_password1": STRONG, "new_password2": STRONG})
    assert fifth.status_code == 429
    right = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG})
    assert right.status_code == 429
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert len(events("auth.lockout")) == 1
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert "wrong-1A!x" not in stored and STRONG not in stored and "old_password=*" in stored


# --- Release by the security administrator ------------------------------------------------------


def test_jl_a2_the_security_administrator_releases_a_lockout_with_a_reason(client):
    UserFactory(username="li_hua")
    for _attempt in range(5):
        fail(client, "li_hua", address="10.1.1.1")
    security_admin = administrator(AdminRole.SECURITY, username="ops")
    admin = APIClient()
    admin.force_login(security_admin)
    page = admin.get(reverse("facilities:lockout-list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "li_hua" in html and "10.1.1.1" in html and "JL-A2" in html

    no_reason = admin.post(reverse("facilities:lockout-release"), {"kind": "username", "value": "li_hua", "reason": " "})
    assert no_reason.status_code == 400 and "JL-A2 等保三级 8.1.4.1: 解除锁定须说明理由" in no_reason.content.decode()
    assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2").status_code == 429

    done = admin.post(reverse("facilities:lockout-release"), {"kind": "username", "value": "li_hua", "reason": "本人来电核实身份"})
    assert done.status_code == 302
    [unlock] = events("auth.unlock")
    assert unlock.actor_id == security_admin.pk and unlock.outcome == "success"
    assert unlock.details["reason"] == "本人来电核实身份" and unlock.details["value"] == "li_hua"
    assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2").status_code == 302
    assert "已解除锁定：li_hua" in admin.get(reverse("facilities:lockout-list")).content.decode()
    assert signin.lockouts_current() == []  # the address counted only li_hua's failures


def test_jl_a2_the_security_administrator_releases_a_locked_address(client):
    for n in range(5):
        fail(client, f"guess{n}", address="10.1.1.1")
    security_admin = administrator(AdminRole.SECURITY, username="ops")
    admin = APIClient()
    admin.force_login(security_admin)
    assert admin.post(reverse("facilities:lockout-release"), {"kind": "ip_address", "value": "10.1.1.1", "reason": "机房出口地址"}).status_code == 302
    UserFactory(username="li_hua")
    assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1").status_code == 302


@pytest.mark.parametrize("who", ["regulator", "facility_admin", "clinician", AdminRole.SYSTEM, AdminRole.AUDIT])
def test_jl_a2_only_the_security_administrator_sees_and_releases_lockouts(client, who):
    UserFactory(username="li_hua")
    for _attempt in range(5):
        fail(client, "li_hua")
    if who in AdminRole.values:  # 三员分立: neither the system nor the audit administrator
        user = administrator(who, username="someone")
    elif who == "regulator":
        user = regulator("220000", username="reg")
    else:
        user = staff(FacilityFactory(), StaffRole.FACILITY_ADMIN if who == "facility_admin" else StaffRole.CLINICIAN, username="someone")
    other = APIClient()
    other.force_login(user)
    page = other.get(reverse("facilities:lockout-list"))
    assert page.status_code == 403 and "JL-A2" in page.content.decode()
    refused = other.post(reverse("facilities:lockout-release"), {"kind": "username", "value": "li_hua", "reason": "帮同事解锁"})
    assert refused.status_code == 403
    [event] = events("auth.unlock")
    assert event.outcome == "failure" and event.actor_id == user.pk and event.details["code"] == "permission_denied"
    assert client.post(LOGIN, {"username": "li_hua", "password": PASSWORD}).status_code == 429


def test_jl_a2_a_release_of_something_that_is_not_an_address_is_a_clear_error(client):
    admin = APIClient()
    admin.force_login(administrator(AdminRole.SECURITY, username="ops"))
    response = admin.post(reverse("facilities:lockout-release"), {"kind": "ip_address", "value": "10.1.1.x", "reason": "核实"})
    assert response.status_code == 400 and "请选择要解锁的账号或地址" in response.content.decode()
    assert events("auth.unlock") == []


def test_jl_a2_the_lockout_page_needs_a_login(client):
    response = client.get(reverse("facilities:lockout-list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


# --- The API's token endpoint ---------------------------------------------------------------------


def test_jl_a2_the_token_endpoint_gives_the_users_token_and_records_the_login():
    user = staff(FacilityFactory(), StaffRole.PARTNER_SYSTEM, username="his")
    api = APIClient()
    response = api.post(TOKEN, {"username": "his", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert user.auth_token.key == token
    [login] = events("auth.login")
    assert login.actor_id == user.pk and login.channel == "api" and login.details["via"] == "api_token"
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/facilities/").status_code == 200


def test_jl_a2_the_token_endpoint_locks_out_with_429_account_locked():
    staff(FacilityFactory(), StaffRole.PARTNER_SYSTEM, username="his")
    api = APIClient()
    for _attempt in range(4):
        body = assert_error(api.post(TOKEN, {"username": "his", "password": "wrong"}, format="json"), 400, "invalid_credentials")
        assert "JL-A2" in body["message"]
    assert_error(api.post(TOKEN, {"username": "his", "password": "wrong"}, format="json"), 429, "account_locked")
    body = assert_error(api.post(TOKEN, {"username": "his", "password": PASSWORD}, format="json"), 429, "account_locked")
    assert "JL-A2" in body["message"] and "锁定" in body["message"]
    assert len(events("auth.lockout")) == 1 and len(events("auth.login_failed")) == 6
    assert events("auth.login") == []
    assert {e.channel for e in events("auth.login_failed")} == {"api"}


def test_jl_a2_the_token_endpoint_refuses_bad_input_in_chinese():
    api = APIClient()
    assert_error(api.post(TOKEN, {"username": ""}, format="json"), 400, "invalid")
    assert_error(api.get(TOKEN), 405, "method_not_allowed")


def test_jl_a2_the_token_endpoint_is_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert {"200", "400", "429"} <= set(operation["responses"])


# --- Passwords (8.1.4.1 a) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Ab1!xyz", "password_too_short"),
        ("abcdefghij1", "password_too_simple"),
        ("Lihua1!", "password_too_similar"),
        ("Password123", "password_too_common"),
        ("20260315123456", "password_entirely_numeric"),
    ],
)
def test_jl_a2_each_password_rule_refuses_with_a_chinese_message(password, code):
    user = UserFactory(username="lihua", first_name="李华")
    with pytest.raises(ValidationError) as refused:
        password_validation.validate_password(password, user)
    errors = {error.code: error.messages[0] for error in refused.value.error_list}
    assert code in errors
    assert errors[code].startswith("JL-A2") and any("\u4e00" <= ch <= "\u9fff" for ch in errors[code])


def test_jl_a2_a_strong_password_passes_every_rule():
    password_validation.validate_password(STRONG, UserFactory(username="lihua"))


def test_jl_a2_the_last_five_passwords_are_refused_and_only_hashes_are_kept():
    user = UserFactory(username="lihua")
    used = [f"Xk7#pLm2qR{n}w" for n in range(6)]
    for password in used:
        user.set_password(password)
        user.save()
    for password in used[1:]:
        with pytest.raises(ValidationError) as refused:
            password_validation.validate_password(password, user)
        assert refused.value.error_list[0].code == "password_reused"
        assert "JL-A2" in refused.value.messages[0] and "5" in refused.value.messages[0]
    password_validation.validate_password(used[0], user)  # six changes ago: allowed again
    stored = list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True))
    assert len(stored) == 6 and not any(password in hashed for hashed in stored for password in used)


def test_jl_a2_the_current_password_set_before_the_history_is_refused_too():
    user = UserFactory(username="lihua", password="Xk7#pLm2qRw9")
    assert not PasswordHistory.objects.filter(user=user).exists()
    with pytest.raises(ValidationError):
        password_validation.validate_password("Xk7#pLm2qRw9", user)


def test_jl_a2_the_change_page_refuses_a_weak_password_and_records_it(client):
    user = UserFactory(username="lihua")
    client.force_login(user)
    response = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": "abcdefghij1", "new_password2": "abcdefghij1"})
    assert response.status_code == 200
    assert "JL-A2" in response.content.decode() and "至少 3 类" in response.content.decode()
    [refused] = events("auth.password_refused")
    assert refused.actor_id == user.pk and refused.outcome == "failure" and refused.details["reasons"] == ["password_too_simple"]
    assert "abcdefghij1" not in str(refused.details)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_jl_a2_the_change_page_changes_the_password_and_records_it(client):
    user = UserFactory(username="lihua")
    client.force_login(user)
    response = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG})
    assert response.status_code == 302 and response.url == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password(STRONG)
    [changed] = events("auth.password_changed")
    assert changed.actor_id == user.pk
    assert PasswordHistory.objects.filter(user=user).count() == 1


def test_jl_a2_passwords_are_hashed_with_argon2_and_old_hashes_upgraded_at_login(client, settings):
    settings.PASSWORD_HASHERS = configured.PASSWORD_HASHERS  # the suite uses MD5 for speed
    assert configured.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    user = UserFactory(username="lihua")
    get_user_model().objects.filter(pk=user.pk).update(password=make_password(STRONG, hasher="pbkdf2_sha256"))
    assert client.post(LOGIN, {"username": "lihua", "password": STRONG}).status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2")
    assert PasswordHistory.objects.filter(user=user).count() == 0  # an upgrade is not a new password


@pytest.mark.parametrize("spec", demo_data.LOGINS, ids=lambda spec: spec.username)
def test_jl_a2_the_demo_password_satisfies_every_rule(spec):
    user = get_user_model()(username=spec.username, first_name=spec.display_name, email=f"{spec.username}@demo.invalid")
    password_validation.validate_password(demo_data.DEMO_PASSWORD, user)


# --- Password age for privileged roles --------------------------------------------------------------


def _privileged(kind: str):
    if kind == "regulator":
        return regulator("220000", username="reg")
    if kind in AdminRole.values:
        return administrator(kind, username="ops")
    return staff(FacilityFactory(), StaffRole.FACILITY_ADMIN, username="admin1")


@pytest.mark.parametrize("kind", ["regulator", "facility_admin", *AdminRole.values])
def test_jl_a2_a_privileged_user_with_an_old_password_changes_it_first(client, frozen_now, kind):
    user = _privileged(kind)
    with time_machine.travel(frozen_now + dt.timedelta(days=90, minutes=1), tick=False):
        client.force_login(user)
        response = client.get(reverse("home"))
        assert response.status_code == 302 and response.url == reverse("password_change")
        assert client.get(reverse("facilities:facility-list")).status_code == 302
        assert client.get(reverse("password_change")).status_code == 200
        api = client.get("/api/v1/facilities/")
        assert_error(api, 403, "password_expired")
        changed = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG})
        assert changed.status_code == 302
        assert client.get(reverse("home")).status_code == 200


def test_jl_a2_a_privileged_users_recent_password_is_not_sent_to_change(client, frozen_now):
    user = regulator("220000", username="reg")
    with time_machine.travel(frozen_now + dt.timedelta(days=89), tick=False):
        client.force_login(user)
        assert client.get(reverse("home")).status_code == 200


def test_jl_a2_password_age_does_not_apply_to_other_staff(client, frozen_now):
    user = staff(FacilityFactory(), StaffRole.CLINICIAN, username="doc")
    with time_machine.travel(frozen_now + dt.timedelta(days=400), tick=False):
        client.force_login(user)
        assert client.get(reverse("home")).status_code == 200


def test_jl_a2_password_age_counts_from_the_last_change(client, frozen_now):
    user = regulator("220000", username="reg")
    with time_machine.travel(frozen_now + dt.timedelta(days=60), tick=False):
        user.set_password(STRONG)
        user.save()
    with time_machine.travel(frozen_now + dt.timedelta(days=120), tick=False):
        client.force_login(user)
        assert client.get(reverse("home")).status_code == 200


# --- Login and logout (8.1.4.1 d) --------------------------------------------------------------------


def test_jl_a2_a_login_and_a_logout_are_on_record(client):
    user = UserFactory(username="lihua")
    assert client.post(LOGIN, {"username": "lihua", "password": PASSWORD}, REMOTE_ADDR="10.3.3.3").status_code == 302
    [login] = events("auth.login")
    assert login.actor_id == user.pk and login.details["ip_address"] == "10.3.3.3" and login.channel == "web"
    assert client.post(reverse("logout")).status_code == 302
    [logout] = events("auth.logout")
    assert logout.actor_id == user.pk
    assert not logged_in(client)


def test_jl_a2_logout_by_get_does_not_log_out(client):
    client.force_login(UserFactory(username="lihua"))
    assert client.get(reverse("logout")).status_code == 405
    assert logged_in(client)
    assert client.get(reverse("home")).status_code == 200
    assert events("auth.logout") == []


def test_jl_a2_the_logout_button_is_a_form_with_csrf(client):
    client.force_login(UserFactory(username="lihua"))
    html = client.get(reverse("home")).content.decode()
    form = html[html.index(f'action="{reverse("logout")}"'):]
    form = form[: form.index("</form>")]
    assert 'method="post"' in form and "csrfmiddlewaretoken" in form


def test_jl_a2_the_admin_login_counts_toward_the_lockout_too(client):
    administrator(AdminRole.SECURITY, username="ops")
    for _attempt in range(5):
        client.post(reverse("admin:login"), {"username": "ops", "password": WRONG})
    assert client.post(reverse("admin:login"), {"username": "ops", "password": PASSWORD}).status_code == 429
    assert not logged_in(client)


# --- Settings --------------------------------------------------------------------------------------


def test_jl_a2_the_lockout_and_password_settings_come_from_the_environment(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()), s.TELEMED_PASSWORD_MAX_AGE_DAYS, "
        "s.AUTH_PASSWORD_VALIDATORS[0]['OPTIONS']['min_length'], s.AUTH_PASSWORD_VALIDATORS[-1]['OPTIONS']['keep'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        TELEMED_VAR_DIR=str(tmp_path), TELEMED_LOCKOUT_FAILURES="3", TELEMED_LOCKOUT_WINDOW_MINUTES="15",
        TELEMED_PASSWORD_MAX_AGE_DAYS="60", TELEMED_PASSWORD_MIN_LENGTH="12", TELEMED_PASSWORD_HISTORY="8",
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert out.stdout.split() == ["3", "900", "60", "12", "8"]
    env["TELEMED_LOCKOUT_FAILURES"] = "five"
    bad = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    assert bad.returncode != 0 and "TELEMED_LOCKOUT_FAILURES='five'" in bad.stderr


# --- The pure rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "classes"),
    [("abc", {"lower"}), ("ABCdef", {"upper", "lower"}), ("密码Abc1", {"symbol", "upper", "lower", "digit"}), ("a b-1", {"lower", "symbol", "digit"})],
)
def test_jl_a2_character_classes_rule(password, classes):
    assert rules.password_character_classes(password) == classes


def test_jl_a2_password_age_rule_is_exact_to_the_second():
    set_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert not rules.password_expired(set_at=set_at, now=set_at + dt.timedelta(days=90, seconds=-1), max_age_days=90)
    assert rules.password_expired(set_at=set_at, now=set_at + dt.timedelta(days=90), max_age_days=90)


def test_jl_a2_privileged_roles_rule():
    assert rules.is_privileged(admin_roles={AdminRole.AUDIT}, is_regulator=False, facility_roles=[])
    assert rules.is_privileged(admin_roles=(), is_regulator=True, facility_roles=[])
    assert rules.is_privileged(admin_roles=(), is_regulator=False, facility_roles=[{StaffRole.CLINICIAN}, {StaffRole.FACILITY_ADMIN}])
    assert not rules.is_privileged(admin_roles=(), is_regulator=False, facility_roles=[{StaffRole.COORDINATOR, StaffRole.PARTNER_SYSTEM}])
