"""One error contract (STYLE 4).

A domain refusal raises ``ApplicationError(code, message, extra)``. The API renders every error
as ``{"code", "message", "extra"}``; pages show the message. Codes are stable: a rule ID such as
``JL-F2`` for a refusal under the rulebook, or a short word (``not_found``, ``invalid``,
``permission_denied``, ``not_authenticated``) for everything else. Unusable input has its own
codes: ``invalid_query`` (a NUL in a query parameter, telemed.middleware), ``json_too_deep``
(telemed.parsers), ``body_too_large`` (413, over DATA_UPLOAD_MAX_MEMORY_SIZE, below, and
telemed.middleware), ``upload_too_large`` (413, files over TELEMED_MAX_UPLOAD_BYTES, telemed.files),
``file_type_refused`` (telemed.files), ``video_link_invalid``; ``data_undecryptable`` (409, a stored value
that does not decrypt, telemed.undecryptable).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from .crypto import UndecryptableError


class ApplicationError(Exception):
    #: Writes this refusal to the audit log (JL-A1), set by ``audit.services.audit_refusal``;
    #: ``telemed.transactions`` calls it in its own transaction, after the refused act rolls back.
    on_record = None
    recorded = False

    def __init__(self, code: str, message: str, extra: dict | None = None, *, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = str(message)
        self.extra = extra or {}
        self.status = status

    @classmethod
    def from_reasons(cls, reasons: Iterable, *, status: int = 400) -> ApplicationError:
        """One error out of every failing rule check (each has ``rule``, ``article``, ``message``).

        The code is the first failing rule's ID; ``extra["reasons"]`` lists them all, so a caller
        learns every failing reason at once rather than one per attempt.
        """
        reasons = list(reasons)
        if not reasons:
            raise ValueError("from_reasons needs at least one failing reason")
        return cls(
            reasons[0].rule,
            "；".join(r.text for r in reasons),
            {"reasons": [r.as_dict() for r in reasons]},
            status=status,
        )

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def body_too_large() -> ApplicationError:
    """JL-A2: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (not counting files), 413."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return ApplicationError(
        "body_too_large",
        _("JL-A2: 请求内容超过 %(limit)s 字节的上限，未予接收；文件请以 multipart/form-data 上传。") % {"limit": f"{limit:,}"},
        {"max_bytes": limit},
        status=413,
    )


#: DRF's error code for a reference in a body that resolves to no row (``PrimaryKeyRelatedField``,
#: ``SlugRelatedField``; ``telemed.api.ScopedPrimaryKeyRelatedField`` for a row out of scope).
MISSING_REFERENCE = "does_not_exist"


def _codes(detail):
    if isinstance(detail, dict):
        for value in detail.values():
            yield from _codes(value)
    elif isinstance(detail, list):
        for value in detail:
            yield from _codes(value)
    else:
        yield getattr(detail, "code", None)


def only_missing_references(exc: drf_exceptions.ValidationError) -> bool:
    """Issue 14: every error of the body is "that id does not exist (for you)": the request is well formed
    and names something missing, so the answer is 404 ``not_found`` (naming the fields), as a missing id in
    the path is (JL-O1: out of scope and missing look the same). Any other error keeps it a 400."""
    codes = list(_codes(exc.detail))
    return bool(codes) and all(code == MISSING_REFERENCE for code in codes)


def _body(code: str, message: str, extra: dict | None = None) -> dict:
    return {"code": code, "message": message, "extra": extra or {}}


def api_exception_handler(exc, context):
    """Render every API error as ``{"code", "message", "extra"}`` with the right status."""
    if isinstance(exc, ApplicationError):
        return Response(_body(exc.code, exc.message, exc.extra), status=exc.status)
    if isinstance(exc, UndecryptableError):  # JL-A2: on record, never a 500 (telemed.undecryptable)
        from .undecryptable import STATUS, api_body

        return Response(api_body(context["request"], exc), status=STATUS)
    if isinstance(exc, RequestDataTooBig):  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, read by the parser
        error = body_too_large()
        return Response(_body(error.code, error.message, error.extra), status=error.status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and return 500
    if isinstance(exc, drf_exceptions.ValidationError) and only_missing_references(exc):
        response.status_code = 404
        response.data = _body("not_found", _("引用的对象不存在，或它不在您的管辖范围内。"), {"fields": exc.detail})
    elif isinstance(exc, drf_exceptions.ValidationError):
        response.data = _body("invalid", _("提交的数据有误，请按提示修改。"), {"fields": exc.detail})
    elif isinstance(exc, drf_exceptions.APIException):
        codes = {
            drf_exceptions.NotAuthenticated: ("not_authenticated", _("请先登录或提供有效的 API 凭据。")),
            drf_exceptions.AuthenticationFailed: ("not_authenticated", _("API 凭据无效。")),
            drf_exceptions.PermissionDenied: ("permission_denied", _("您的角色无权执行此操作。")),
            drf_exceptions.NotFound: ("not_found", _("未找到该对象，或它不在您的管辖范围内。")),
            drf_exceptions.MethodNotAllowed: ("method_not_allowed", _("不支持该请求方法。")),
            drf_exceptions.ParseError: ("invalid", _("请求内容无法解析。")),
            drf_exceptions.UnsupportedMediaType: ("invalid", _("不支持的内容类型。")),
            drf_exceptions.Throttled: ("rate_limited", _("请求过于频繁，已超过该对接应用每分钟的请求上限，请按 Retry-After 稍后再试。")),
        }
        code, message = codes.get(type(exc), (exc.default_code, str(exc.detail)))
        extra = {}
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            # Issue 14: per-client rate limit; DRF sets the Retry-After header from the same wait.
            extra = {"retry_after": math.ceil(exc.wait)}
        response.data = _body(code, message, extra)
    return response
