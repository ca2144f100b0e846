"""Who is acting, from where, under which request id — for the audit log (JL-A1).

The request middleware and the Celery task signals fill one context variable; services read it
when they write their audit event, so an event written in a Celery task enqueued by a request
carries that request's id.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, replace

from django.conf import settings

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    ip_address: str | None = None
    channel: str = ""  # "web", "api", "task:<name>", "command"


_EMPTY = AuditContext()
_context: ContextVar[AuditContext | None] = ContextVar("telemed_audit_context", default=None)


def current() -> AuditContext:
    return _context.get() or _EMPTY


def new_request_id() -> str:
    return uuid.uuid4().hex


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _ip(value: str | None):
    try:
        return ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address for the audit log (JL-A1).

    ``X-Forwarded-For`` is believed only when the direct peer (``REMOTE_ADDR``) is one of
    ``TELEMED_TRUSTED_PROXIES``; then the client is the rightmost address not in that set (every
    address left of it could have been written by the client itself). Anything that is not a
    valid IP address falls back to the direct peer.
    """
    remote = _ip(request.META.get("REMOTE_ADDR"))
    trusted = _networks(tuple(getattr(settings, "TELEMED_TRUSTED_PROXIES", ())))
    if remote is None or not any(remote in network for network in trusted):
        return str(remote) if remote is not None else None
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            break
        if not any(address in network for network in trusted):
            return str(address)
    return str(remote)


class RequestContextMiddleware:
    """Give every request an id (or accept a well-formed X-Request-ID) and echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else new_request_id()
        request.request_id = request_id
        channel = "api" if request.path.startswith("/api/") else "web"
        token = _context.set(AuditContext(request_id=request_id, ip_address=client_ip(request), channel=channel))
        try:
            response = self.get_response(request)
        finally:
            _context.reset(token)
        response["X-Request-ID"] = request_id
        return response


_task_tokens: list = []


def enter_task(*, task_name: str, request_id: str | None) -> None:
    """Audit context for a task: the enqueuing request's id, else (run eagerly) the caller's, else new."""
    request_id = request_id or current().request_id or new_request_id()
    _task_tokens.append(_context.set(AuditContext(request_id=request_id, channel=f"task:{task_name}")))


def leave_task() -> None:
    if _task_tokens:
        _context.reset(_task_tokens.pop())


class use_context:  # noqa: N801 - used like a function: ``with use_context(channel="command"):``
    """Set the audit context for a block (management commands, tests)."""

    def __init__(self, **changes):
        self.changes = changes

    def __enter__(self):
        base = current()
        if not base.request_id and "request_id" not in self.changes:
            self.changes["request_id"] = new_request_id()
        self.token = _context.set(replace(base, **self.changes))
        return current()

    def __exit__(self, *exc):
        _context.reset(self.token)
        return False


class ChosenLanguageMiddleware:
    """Chinese first: the page language is the one the user chose with the switch (a cookie set by
    Django's ``set_language``), otherwise ``LANGUAGE_CODE`` — not the browser's Accept-Language,
    so a hospital PC with an English browser still opens the portal in Chinese."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils import translation

        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()  # nothing of this request's language outlives it on the thread
        response.headers.setdefault("Content-Language", language)
        return response
