"""Sign-in security (JL-A2, GB/T 22239-2019 8.1.4.1): lockout, its release, sign-in audit, password age.

- **Lockout** is django-axes (settings ``AXES_*`` from ``TELEMED_LOCKOUT_FAILURES`` and
  ``TELEMED_LOCKOUT_WINDOW_MINUTES``): failures are counted per account and, separately, per client
  address (``telemed.context.client_ip``, which believes ``X-Forwarded-For`` only from
  ``TELEMED_TRUSTED_PROXIES``). Every door that checks a password goes through
  ``django.contrib.auth.authenticate`` with the request: the login page, the password change form
  (its old password) and ``POST /api/v1/auth/token/``. A locked-out attempt is refused before the
  password is looked at, with ``lockout_response`` (a page, or ``account_locked`` 429 over the API).
- **Release** by the security administrator (三员分立): the ``facilities.release_lockout``
  permission, which ``facilities.admins.ROLE_PERMISSIONS`` gives the security administrator role
  (``may_release_lockouts``). ``lockout_release`` writes ``auth.unlock`` with the reason.
- **Audit (JL-A1)**: Django's auth signals and axes' ``user_locked_out`` write ``auth.login``,
  ``auth.login_failed`` (the username as typed, cleaned, and the address), ``auth.lockout``
  (once, when the lock starts) and ``auth.logout``; the password pages write
  ``auth.password_changed`` and ``auth.password_refused``. Each is written in its own transaction
  (none of these views runs inside one), so a refused login is on record.
- **Password age**: at login a privileged user's (the three administrators, regulator, facility administrator)
  password date goes into the session; ``PasswordAgeMiddleware`` sends them to the change page
  before anything else once it is ``TELEMED_PASSWORD_MAX_AGE_DAYS`` old — no query per request.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models import Max, Sum
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType, Outcome
from audit.services import audit_event_append, audit_refusal
from telemed.context import client_ip
from telemed.errors import ApplicationError
from telemed.public import is_public
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import passwords, rules

RELEASE_PERMISSION = "facilities.release_lockout"
PASSWORD_SET_AT_KEY = "telemed.password_set_at"  # noqa: S105 - a session key, not a password
USERNAME_MAX = 150  # Django's username length; anything longer is not an account


# --- Who tried: the username as typed, made safe ------------------------------------------------


def attempted_username(request, credentials: dict | None = None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: the username as typed, without control or invisible characters
    and cut to 150 characters, so that neither axes' table nor the audit log stores anything else."""
    raw = None
    if credentials:
        raw = credentials.get("username")
    elif request is not None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        raw = data.get("username")
    if raw is None:
        return None
    return clean_text(str(raw), keep_lines=False)[:USERNAME_MAX]


def _account(username: str | None):
    if not username:
        return None
    return get_user_model().objects.filter(username=username).only("id", "username", "first_name", "last_name").first()


def _record(*, actor, event_type: EventType, outcome: str = Outcome.SUCCESS, user=None, details: dict) -> None:
    """One sign-in event in its own transaction (JL-A1)."""
    with transaction.atomic():
        audit_event_append(
            actor=actor, event_type=event_type, outcome=outcome,
            object_type="auth.user" if user is not None else "", object_id=user.pk if user is not None else "",
            details=details,
        )


def lockout_message() -> str:
    return _(
        "JL-A2 等保三级 8.1.4.1: 登录失败次数过多（%(minutes)d 分钟内 %(limit)d 次），该账号或本机地址已被锁定 "
        "%(minutes)d 分钟。请稍后再试，或联系安全管理员解锁。"
    ) % {"minutes": settings.TELEMED_LOCKOUT_WINDOW_MINUTES, "limit": settings.TELEMED_LOCKOUT_FAILURES}


def account_locked_error() -> ApplicationError:
    return ApplicationError("account_locked", lockout_message(), {"rule": "JL-A2"}, status=429)


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the API's error contract (429 ``account_locked``) or the lockout page."""
    if request.path.startswith("/api/"):
        error = account_locked_error()
        return JsonResponse(
            {"code": error.code, "message": error.message, "extra": error.extra},
            status=error.status, json_dumps_params={"ensure_ascii": False},
        )
    return render(request, "registration/locked_out.html", {"message": lockout_message()}, status=429)


# --- Receivers: Django's auth signals and axes' lockout signal --------------------------------


def _refused_by_lock(request) -> bool:
    """True when axes refused this attempt because a lock was already in force: its backend marks
    the request locked before any failure is counted, while a counted failure sets
    ``axes_failures_since_start`` (with AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT off). So the
    answer is the same whether axes' receiver has run yet or not."""
    return bool(getattr(request, "axes_locked_out", False)) and getattr(request, "axes_failures_since_start", None) is None


def on_login_failed(sender, credentials, request=None, **kwargs):
    """``auth.login_failed``: a wrong password, or any attempt while the account or address is locked."""
    if credentials and credentials.get("otp"):
        return  # a wrong second-factor code: facilities.twofactor writes auth.otp_failed
    username = attempted_username(request, credentials)
    locked = _refused_by_lock(request)
    _record(
        actor=None, event_type=EventType.AUTH_LOGIN_FAILED, outcome=Outcome.FAILURE, user=_account(username),
        details={
            "code": "account_locked" if locked else "invalid_credentials",
            "username": username or "",
            "ip_address": client_ip(request) if request is not None else None,
            "path": request.path if request is not None else "",
        },
    )


def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    """``auth.lockout``: once, by the failure that reached the limit (not again for each refused try)."""
    if request is None or _refused_by_lock(request):
        return
    username = attempted_username(None, {"username": username}) if username else ""
    _record(
        actor=None, event_type=EventType.AUTH_LOCKOUT, outcome=Outcome.FAILURE, user=_account(username),
        details={
            "code": "account_locked",
            "reason": lockout_message(),
            "username": username,
            "ip_address": ip_address,
            "failures": getattr(request, "axes_failures_since_start", None),
            "window_minutes": settings.TELEMED_LOCKOUT_WINDOW_MINUTES,
        },
    )


def is_privileged_user(user) -> bool:
    """JL-A2: whether ``user`` is one of the three administrators, a regulator or a facility administrator."""
    scope = Scope.of(user)
    return rules.is_privileged(
        admin_roles=scope.admin_roles, is_regulator=scope.is_regulator, facility_roles=scope.facility_roles.values()
    )


def remember_password_date(request, user) -> None:
    """Privileged users carry their password's date in the session (``PasswordAgeMiddleware``)."""
    session = getattr(request, "session", None)
    if session is None:
        return
    if is_privileged_user(user):
        session[PASSWORD_SET_AT_KEY] = passwords.password_set_at(user).isoformat()
    else:
        session.pop(PASSWORD_SET_AT_KEY, None)


def on_logged_in(sender, request, user, **kwargs):
    record_login(request, user, channel_detail="session")
    remember_password_date(request, user)


def record_login(request, user, *, channel_detail: str) -> None:
    _record(
        actor=user, event_type=EventType.AUTH_LOGIN, user=user,
        details={"ip_address": client_ip(request) if request is not None else None, "via": channel_detail},
    )


def on_logged_out(sender, request, user, **kwargs):
    if user is None:
        return
    _record(actor=user, event_type=EventType.AUTH_LOGOUT, user=user, details={"ip_address": client_ip(request)})


def connect() -> None:
    """Connected before axes' own receivers (importing ``axes.signals`` connects those), so that
    a failure is on record before the lockout it causes."""
    user_login_failed.connect(on_login_failed, dispatch_uid="telemed.auth.login_failed")
    user_logged_in.connect(on_logged_in, dispatch_uid="telemed.auth.login")
    user_logged_out.connect(on_logged_out, dispatch_uid="telemed.auth.logout")
    from axes.signals import user_locked_out

    user_locked_out.connect(on_locked_out, dispatch_uid="telemed.auth.lockout")


# --- Passwords changed or refused ---------------------------------------------------------------


def password_changed_record(*, actor, request) -> None:
    _record(actor=actor, event_type=EventType.AUTH_PASSWORD_CHANGED, user=actor, details={"ip_address": client_ip(request)})
    if PASSWORD_SET_AT_KEY in request.session:
        request.session[PASSWORD_SET_AT_KEY] = timezone.now().isoformat()


def password_refused_record(*, actor, request, codes: list[str], messages_: list[str]) -> None:
    """``auth.password_refused``: which rules the new password failed (never the password)."""
    _record(
        actor=actor, event_type=EventType.AUTH_PASSWORD_REFUSED, outcome=Outcome.FAILURE, user=actor,
        details={"code": "JL-A2", "reasons": codes, "reason": "；".join(messages_), "ip_address": client_ip(request)},
    )


# --- Lockouts in force and their release (the security administrator) ---------------------------


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def may_release_lockouts(user) -> bool:
    """The security administrator's permission (JL-A2 三员分立, ``facilities.admins.ROLE_PERMISSIONS``)."""
    return bool(user and user.is_authenticated and user.has_perm(RELEASE_PERMISSION))


@dataclass(frozen=True)
class Lockout:
    kind: str  # "username" or "ip_address"
    value: str
    failures: int
    last_failure: dt.datetime
    until: dt.datetime

    @property
    def kind_label(self) -> str:
        return _("账号") if self.kind == "username" else _("地址")


def lockouts_current(*, now: dt.datetime | None = None) -> list[Lockout]:
    """Accounts and addresses locked right now: ``TELEMED_LOCKOUT_FAILURES`` or more failures whose
    latest is within the window (axes' own reckoning)."""
    from axes.models import AccessAttempt

    now = now or timezone.now()
    window = dt.timedelta(minutes=settings.TELEMED_LOCKOUT_WINDOW_MINUTES)
    recent = AccessAttempt.objects.filter(attempt_time__gte=now - window)
    found: list[Lockout] = []
    for kind in ("username", "ip_address"):
        rows = (
            recent.exclude(**{f"{kind}__isnull": True})
            .values(kind)
            .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            .filter(failures__gte=settings.TELEMED_LOCKOUT_FAILURES)
            .order_by("-last")
        )
        found += [Lockout(kind, row[kind], row["failures"], row["last"], row["last"] + window) for row in rows]
    return sorted(found, key=lambda lockout: lockout.last_failure, reverse=True)


def lockout_release(*, actor, kind: str, value: str, reason: str) -> int:
    """Release a locked account or address (JL-A2), with a reason, on record (JL-A1).

    Refused (403, audited) to anyone without the security administrator's permission.
    """
    from axes.handlers.proxy import AxesProxyHandler

    if not may_release_lockouts(actor):
        raise audit_refusal(
            ApplicationError("permission_denied", _("JL-A2 等保三级 8.1.4.1: 只有安全管理员可以解除登录锁定。"), status=403),
            actor=actor, event_type=EventType.AUTH_UNLOCK, details={"kind": kind, "value": value},
        )
    if kind not in ("username", "ip_address") or not value or (kind == "ip_address" and not _is_ip(value)):
        raise ApplicationError("invalid", _("请选择要解锁的账号或地址。"))
    if not (reason or "").strip():
        raise ApplicationError("JL-A2", _("JL-A2 等保三级 8.1.4.1: 解除锁定须说明理由。"))
    with service_transaction():
        removed = AxesProxyHandler.reset_attempts(**{kind: value})
        account = _account(value) if kind == "username" else None
        audit_event_append(
            actor=actor, event_type=EventType.AUTH_UNLOCK,
            object_type="auth.user" if account is not None else "", object_id=account.pk if account is not None else "",
            details={"kind": kind, "value": value, "reason": reason.strip(), "attempt_rows": removed},
        )
    return removed


# --- Password age for privileged roles ----------------------------------------------------------

ALLOWED_WHILE_EXPIRED = ("password_change", "password_change_done", "logout", "set_language")


class PasswordAgeMiddleware:
    """JL-A2: a privileged user whose password is ``TELEMED_PASSWORD_MAX_AGE_DAYS`` old changes it
    before anything else (pages redirect to the change page, the API answers 403 ``password_expired``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        session = getattr(request, "session", None)
        set_at = session.get(PASSWORD_SET_AT_KEY) if session is not None else None
        if not set_at:
            return None
        try:
            set_at_time = dt.datetime.fromisoformat(set_at)
        except ValueError:
            return None
        if not rules.password_expired(
            set_at=set_at_time, now=timezone.now(), max_age_days=settings.TELEMED_PASSWORD_MAX_AGE_DAYS
        ):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ALLOWED_WHILE_EXPIRED:
            return None
        if is_public(request):  # JL-O6: the public complaint pages are open to anyone
            return None
        message = _("JL-A2 等保三级 8.1.4.1: 您的密码已使用超过 %(days)d 天，请先修改密码。") % {
            "days": settings.TELEMED_PASSWORD_MAX_AGE_DAYS
        }
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "password_expired", "message": message, "extra": {"rule": "JL-A2"}},
                status=403, json_dumps_params={"ensure_ascii": False},
            )
        messages.warning(request, message)
        return redirect(reverse("password_change"))
