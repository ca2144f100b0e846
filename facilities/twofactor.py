"""Two-factor sign-in (JL-A2, GB/T 22239-2019 8.1.4.1 d): TOTP (RFC 6238) after the password.

- **Policy**: the three administrators of 三员分立 (system, security, audit; always) and the roles in
  ``TELEMED_2FA_REQUIRED_ROLES`` (default: regulator, facility_admin) must pass a second step after
  the password; other staff may enrol from the 双重认证
  page, and once enrolled are asked for a code too. Whether a session needs the step is decided once,
  at login, and kept in the session (``NEEDED_KEY``), so a request costs no extra query for it.
- **Devices** are django-otp's: a TOTP device (``otp_totp``) and a static device holding ten
  one-time recovery codes (``otp_static``). A verified session is django-otp's
  (``django_otp.login``, read back by ``OTPMiddleware``). django-otp refuses a code already used in
  its time step and throttles a device after wrong codes.
- **Gate**: ``TwoFactorMiddleware`` refuses every page of a session that needs the step and has not
  passed it — a redirect to the code page (or to enrolment, for a user without a device), 401
  ``otp_required`` over a session-authenticated API call. Token-authenticated API calls (partner
  systems) carry no session and are not concerned. The admin site is ``facilities.admins.PortalAdminSite``
  (django-otp's ``OTPAdminSite``: a verified session only).
- **Lockout and audit (JL-A1)**: a wrong code counts toward the sign-in lockout (django-axes, by
  account and address) and writes ``auth.otp_failed``; a good one ``auth.otp_verified``; enrolment
  ``auth.otp_enrolled``; a recovery code ``auth.otp_recovery_used``.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib.auth import user_logged_in, user_login_failed
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.choices import EventType, Outcome
from audit.services import audit_event_append
from telemed.context import client_ip
from telemed.public import is_public
from telemed.scope import Scope

NEEDED_KEY = "telemed.otp_needed"
RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "TOTP"
RECOVERY_DEVICE_NAME = "recovery"
REGULATOR = "regulator"
# Pages a session may see before its second step: the steps themselves, leaving, the language switch.
ALLOWED_BEFORE_VERIFIED = ("login", "otp-verify", "otp-enrol", "logout", "set_language", "healthz")


# --- Policy -------------------------------------------------------------------------------------


def roles_of(user) -> set[str]:
    """The user's roles in the policy's words: the administrator roles, ``regulator`` and staff roles."""
    scope = Scope.of(user)
    roles = {role for facility_roles in scope.facility_roles.values() for role in facility_roles}
    roles |= scope.admin_roles
    if scope.is_regulator:
        roles.add(REGULATOR)
    return roles


def required_for(user) -> bool:
    """JL-A2: whether the policy obliges this user to a second step: the three administrators always
    (三员分立, ``TELEMED_2FA_ADMIN_ROLES``) and a break-glass account, the roles of
    ``TELEMED_2FA_REQUIRED_ROLES`` as configured."""
    from .admins import is_break_glass

    required = set(settings.TELEMED_2FA_REQUIRED_ROLES) | set(settings.TELEMED_2FA_ADMIN_ROLES)
    return bool(roles_of(user) & required) or is_break_glass(user)


def totp_device(user, *, confirmed: bool | None = True) -> TOTPDevice | None:
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    return devices.order_by("id").first()


def on_logged_in(sender, request, user, **kwargs) -> None:
    """At login: does this session need the second step (the policy, or a device the user chose)?"""
    session = getattr(request, "session", None)
    if session is None:
        return
    if required_for(user) or user_has_device(user, confirmed=True):
        session[NEEDED_KEY] = True
    else:
        session.pop(NEEDED_KEY, None)


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="telemed.auth.otp_needed")


# --- Messages -----------------------------------------------------------------------------------


def required_message() -> str:
    return _("JL-A2 等保三级 8.1.4.1 d: 请先完成双重认证（输入身份验证器中的 6 位动态码）。")


def enrol_required_message() -> str:
    return _("JL-A2 等保三级 8.1.4.1 d: 您的角色须使用双重认证登录，请先绑定身份验证器。")


def wrong_code_message() -> str:
    return _("JL-A2 等保三级 8.1.4.1 d: 动态码不正确或已使用过，请输入身份验证器中当前显示的 6 位动态码。")


def throttled_message() -> str:
    return _("JL-A2 等保三级 8.1.4.1 d: 错误次数过多，请稍候片刻再输入动态码。")


# --- Audit (JL-A1) ------------------------------------------------------------------------------


def _record(*, user, request, event_type: EventType, outcome: str = Outcome.SUCCESS, details: dict | None = None) -> None:
    with transaction.atomic():
        audit_event_append(
            actor=user, event_type=event_type, outcome=outcome, object_type="auth.user", object_id=user.pk,
            details={"ip_address": client_ip(request), **(details or {})},
        )


# --- Enrolment ----------------------------------------------------------------------------------


def enrolment_device(user) -> TOTPDevice:
    """The unconfirmed TOTP device being enrolled (a new random key per user, made by django-otp)."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The key as authenticator apps take it when typed (Base32, in groups of four)."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_data_uri(device: TOTPDevice) -> str:
    """The ``otpauth://`` URI as a QR code, drawn here (an SVG data: URI; nothing leaves the portal)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def recovery_codes_issue(user) -> list[str]:
    """Ten new one-time recovery codes (the old ones stop working)."""
    device, _created = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_DEVICE_NAME)
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def enrolment_confirm(*, request, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm enrolment with a code from the new device: the device counts, the session is
    verified, and ten recovery codes are returned (to be shown once). None for a wrong code."""
    user = request.user
    if not _code_shape(code) or not device.verify_token(code):
        _record(user=user, request=request, event_type=EventType.AUTH_OTP_FAILED, outcome=Outcome.FAILURE,
                details={"code": "otp_invalid", "step": "enrol"})
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_issue(user)
        otp_login(request, device)
        request.session[NEEDED_KEY] = True
        _record(user=user, request=request, event_type=EventType.AUTH_OTP_ENROLLED,
                details={"device": device.persistent_id, "recovery_codes": RECOVERY_CODE_COUNT})
    return codes


# --- The second step ----------------------------------------------------------------------------


def _code_shape(code: str) -> bool:
    return bool(code) and len(code) <= 16 and code.isascii() and code.isalnum()


def _credentials(user) -> dict:
    return {"username": user.get_username(), "otp": True}


def is_locked(request) -> bool:
    from axes.handlers.proxy import AxesProxyHandler

    return not AxesProxyHandler.is_allowed(request, _credentials(request.user))


def verify(*, request, code: str) -> str:
    """Check a code for the signed-in user: ``"ok"`` (the session is verified), ``"recovery"`` (a
    recovery code, now spent), ``"throttled"`` or ``"invalid"``. A wrong code is audited and counts
    toward the lockout."""
    user = request.user
    code = (code or "").replace(" ", "").strip()
    device = totp_device(user)
    if device is not None:
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            _fail(request, "otp_throttled")
            return "throttled"
    if _code_shape(code):
        if device is not None and code.isdigit() and device.verify_token(code):
            otp_login(request, device)
            _record(user=user, request=request, event_type=EventType.AUTH_OTP_VERIFIED, details={"via": "totp"})
            return "ok"
        recovery = StaticDevice.objects.filter(user=user, name=RECOVERY_DEVICE_NAME).first()
        if recovery is not None and not code.isdigit() and recovery.verify_token(code.lower()):
            otp_login(request, recovery)
            _record(user=user, request=request, event_type=EventType.AUTH_OTP_RECOVERY_USED,
                    details={"via": "recovery_code", "left": recovery.token_set.count()})
            return "recovery"
    _fail(request, "otp_invalid")
    return "invalid"


def _fail(request, code: str) -> None:
    """``auth.otp_failed``, and one failure for the lockout (axes counts it by account and address)."""
    user = request.user
    _record(user=user, request=request, event_type=EventType.AUTH_OTP_FAILED, outcome=Outcome.FAILURE,
            details={"code": code, "step": "verify"})
    user_login_failed.send(sender=__name__, credentials=_credentials(user), request=request)


# --- The gate -----------------------------------------------------------------------------------


def safe_next(request, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return reverse(settings.LOGIN_REDIRECT_URL)


class TwoFactorMiddleware:
    """JL-A2: a session that needs the second step sees nothing else until it has passed it
    (after ``OTPMiddleware`` and the session time-outs, before the password age)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        session = getattr(request, "session", None)
        if session is None or not session.get(NEEDED_KEY):
            return None
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ALLOWED_BEFORE_VERIFIED and not match.namespace:
            return None
        if is_public(request):  # JL-O6: the public complaint pages are open to anyone
            return None
        if request.path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL):
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "otp_required", "message": required_message(), "extra": {"rule": "JL-A2"}},
                status=401, json_dumps_params={"ensure_ascii": False},
            )
        step = "otp-verify" if totp_device(user) is not None else "otp-enrol"
        # The path only: a query may hold a searched identity number (JL-C9).
        return redirect(f"{reverse(step)}?{urlencode({'next': request.path})}")
