"""Session time-outs (JL-A2; GB/T 22239-2019 8.1.4.1 d): idle and absolute, with the typed input kept.

A signed-in browser session ends after ``TELEMED_SESSION_IDLE_MINUTES`` without a request (30) and,
however active, ``TELEMED_SESSION_MAX_HOURS`` after signing in (12). Each end is an audit event
(``auth.session_timeout``, JL-A1) with the reason. Pages warn ``TELEMED_SESSION_WARN_MINUTES``
before the idle end (``telemed/static/telemed/session.js``); "continue" calls the keep-alive.

A form posted into an ended session loses nothing: its fields (never passwords, tokens or codes, never
files) are kept in the new anonymous session with the user they belong to, the login page says why,
and after signing in again the same user sees them on the resume page and may send them again. A post
from another site (Origin/Referer not ours) is not kept, so it cannot be replayed after a login.

Token-authenticated API calls carry no session and are not concerned; a session-authenticated API
call into an ended session gets 401 ``session_expired``.

Privileged users (the three administrators, regulators, facility administrators) have one session at a time
(``TELEMED_SINGLE_SESSION_PRIVILEGED``): signing in again ends the earlier one, audited as
``auth.session_replaced``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .text import clean_text

SEEN_KEY = "_telemed_seen"
SIGNED_IN_KEY = "_telemed_signed_in"
KEPT_FORM_KEY = "_telemed_kept_form"
# A request refreshes the "last seen" time at most this often, so that a session is not written on
# every request.
SEEN_RESOLUTION = dt.timedelta(seconds=60)
SECRET_FIELD = re.compile(r"password|passwd|secret|token|otp", re.IGNORECASE)
KEPT_FORM_MAX_CHARACTERS = 100_000

IDLE = "idle"
ABSOLUTE = "absolute"


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta
    absolute: dt.timedelta
    warn: dt.timedelta

    @classmethod
    def from_settings(cls) -> SessionPolicy:
        return cls(
            idle=dt.timedelta(minutes=settings.TELEMED_SESSION_IDLE_MINUTES),
            absolute=dt.timedelta(hours=settings.TELEMED_SESSION_MAX_HOURS),
            warn=dt.timedelta(minutes=settings.TELEMED_SESSION_WARN_MINUTES),
        )


def session_end_reason(*, now: dt.datetime, last_seen: dt.datetime | None, signed_in: dt.datetime | None,
                       policy: SessionPolicy) -> str | None:
    """Why a session must end now (JL-A2): ``"idle"``, ``"absolute"``, or None. Pure."""
    if signed_in is not None and now - signed_in >= policy.absolute:
        return ABSOLUTE
    if last_seen is not None and now - last_seen >= policy.idle:
        return IDLE
    return None


def _stamp(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def same_origin(request) -> bool:
    """Whether a post came from the portal's own pages (its Origin, or failing that its Referer)."""
    own = f"{request.scheme}://{request.get_host()}"
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin == own
    referer = urlsplit(request.headers.get("Referer", ""))
    return bool(referer.scheme) and f"{referer.scheme}://{referer.netloc}" == own


def form_fields_to_keep(post) -> tuple[list[tuple[str, str]], list[str]]:
    """The fields of a posted form worth keeping (cleaned) and the names withheld as secrets."""
    kept, withheld = [], []
    for name in post:
        if name == "csrfmiddlewaretoken":
            continue
        if SECRET_FIELD.search(name):
            withheld.append(name)
            continue
        kept.extend((name, clean_text(value)) for value in post.getlist(name))
    return kept, withheld


@receiver(user_logged_in)
def _note_sign_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = timezone.now()
        request.session[SIGNED_IN_KEY] = now.isoformat()
        request.session[SEEN_KEY] = now.isoformat()
        from facilities.signin import is_privileged_user

        if settings.TELEMED_SINGLE_SESSION_PRIVILEGED and is_privileged_user(user):
            end_other_session(user=user, session=request.session, now=now)


def end_other_session(*, user, session, now: dt.datetime) -> bool:
    """JL-A2: a privileged user has one session; signing in ends the previous one (audited
    ``auth.session_replaced``). True if one was ended."""
    from importlib import import_module

    from audit.choices import EventType
    from audit.services import audit_event_append

    from .models import SignedInSession

    if session.session_key is None:
        session.save()
    previous = SignedInSession.objects.filter(user=user).first()
    ended = previous is not None and previous.session_key != session.session_key
    if ended:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        store(session_key=previous.session_key).delete()
        audit_event_append(
            actor=user, event_type=EventType.AUTH_SESSION_REPLACED, object_type="auth.user", object_id=user.pk,
            details={"previous_signed_in": previous.signed_in_at.isoformat()},
        )
    SignedInSession.objects.update_or_create(user=user, defaults={"session_key": session.session_key, "signed_in_at": now})
    return ended


class SessionTimeoutMiddleware:
    """Ends idle and over-age sessions before the view runs (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not hasattr(request, "session"):
            return self.get_response(request)
        now = timezone.now()
        session = request.session
        signed_in = _stamp(session.get(SIGNED_IN_KEY))
        last_seen = _stamp(session.get(SEEN_KEY))
        if signed_in is None:  # a session from before this policy: its clock starts now
            session[SIGNED_IN_KEY] = session[SEEN_KEY] = now.isoformat()
            return self.get_response(request)
        reason = session_end_reason(now=now, last_seen=last_seen, signed_in=signed_in,
                                    policy=SessionPolicy.from_settings())
        if reason:
            return self._end(request, user, reason, last_seen=last_seen, signed_in=signed_in)
        if last_seen is None or now - last_seen >= SEEN_RESOLUTION:
            session[SEEN_KEY] = now.isoformat()
        return self.get_response(request)

    def _end(self, request, user, reason, *, last_seen, signed_in):
        from audit.choices import EventType
        from audit.services import audit_event_append

        kept = []
        if request.method == "POST" and not request.path.startswith("/api/") and same_origin(request):
            kept, _withheld = form_fields_to_keep(request.POST)
            if sum(len(name) + len(value) for name, value in kept) > KEPT_FORM_MAX_CHARACTERS:
                kept = []
        audit_event_append(
            actor=user,
            event_type=EventType.AUTH_SESSION_TIMEOUT,
            object_type="auth.user",
            object_id=user.pk,
            details={
                "reason": reason,
                "path": request.path,
                "last_seen": last_seen.isoformat() if last_seen else None,
                "signed_in": signed_in.isoformat() if signed_in else None,
                "form_kept": bool(kept),
            },
        )
        auth.logout(request)
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"code": "session_expired", "message": timeout_message(reason), "extra": {"reason": reason}},
                status=401, json_dumps_params={"ensure_ascii": False},
            )
        # The path only: a query may hold a searched identity number (JL-C9), which must not travel
        # into the login page's address and form.
        next_url = request.path
        if kept:
            request.session[KEPT_FORM_KEY] = {"user": user.pk, "path": request.path, "fields": kept,
                                              "at": timezone.now().isoformat()}
            next_url = reverse("session-resume")
        messages.warning(request, timeout_message(reason) + (_("您填写的内容已保留，重新登录后可核对并提交。") if kept else ""))
        return HttpResponseRedirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


def timeout_message(reason: str) -> str:
    if reason == ABSOLUTE:
        return _("JL-A2: 登录已超过 %(hours)d 小时，为安全起见已自动退出，请重新登录。") % {
            "hours": settings.TELEMED_SESSION_MAX_HOURS}
    return _("JL-A2: 您已 %(minutes)d 分钟未操作，为安全起见已自动退出，请重新登录。") % {
        "minutes": settings.TELEMED_SESSION_IDLE_MINUTES}


def take_kept_form(request) -> dict | None:
    """The form kept at a time-out, for the user it belongs to (removed from the session)."""
    kept = request.session.get(KEPT_FORM_KEY)
    if not kept or kept.get("user") != request.user.pk:
        return None
    del request.session[KEPT_FORM_KEY]
    return kept


def session_policy(request) -> dict:
    """Context processor: what the time-out warning in ``base.html`` needs (no query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    policy = SessionPolicy.from_settings()
    return {"session_policy": {
        "idle_seconds": int(policy.idle.total_seconds()),
        "warn_seconds": int(min(policy.warn, policy.idle).total_seconds()),
        "warn_minutes": int(min(policy.warn, policy.idle).total_seconds() // 60),
    }}
