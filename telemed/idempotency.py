"""``Idempotency-Key`` on the partner API's POSTs: a retried write is answered, not repeated.

A partner system that lost the answer to a POST (a time-out, a dropped connection) sends it again
with the same ``Idempotency-Key`` header and gets the first answer back — same status, same body,
``Idempotent-Replayed: true`` — instead of a second patient, document or request.

- Keys belong to who sent them: the partner application of a Bearer token (the same across its
  tokens, issue 14), the hash of any other ``Authorization`` header (an old per-user token), or the
  signed-in user for the portal's own pages calling the API. Nobody sees another's answers.
- The same key with a different request (method, path, query, content type or body) is refused
  with 422 ``idempotency_key_reused``; a key whose first request is still running gets 409
  ``idempotency_key_in_flight`` (retry after a second).
- Only successful answers (2xx) are kept. A refusal or an error leaves nothing behind, so the
  partner may correct the request and send it again under the same key.
- Keys expire after ``TELEMED_IDEMPOTENCY_HOURS`` (24); ``telemed.idempotency_purge`` deletes
  expired ones in batches every hour.

The body is hashed as it streams into a temporary file (memory up to 1 MB, then disk), which then
stands in for the request's input, so uploads are hashed without being held in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
PURGE_BATCH = 1000
_SPOOL_IN_MEMORY = 1024 * 1024
_CHUNK = 64 * 1024


def _error(code: str, message: str, status: int, extra: dict | None = None, **headers) -> JsonResponse:
    response = JsonResponse({"code": code, "message": message, "extra": extra or {}}, status=status,
                            json_dumps_params={"ensure_ascii": False})
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def key_problem(key: str) -> str | None:
    """Why a key cannot be used, or None: 1–255 visible ASCII characters."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return _("Idempotency-Key 的长度须为 1 至 %(n)d 个字符。") % {"n": MAX_KEY_LENGTH}
    if not all(33 <= ord(ch) <= 126 for ch in key):
        return _("Idempotency-Key 只能含可见的 ASCII 字符（不含空格）。")
    return None


def _principal(request) -> str | None:
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _sep, credential = authorization.partition(" ")
    if kind == "Bearer" and credential:
        # Issue 14: a partner application's keys are its own across its tokens (a retry after a
        # token renewal is still a retry); an unknown token falls back to its own hash.
        from oauth2_provider.models import get_access_token_model

        checksum = hashlib.sha256(credential.encode("utf-8", "replace")).hexdigest()
        application_id = (get_access_token_model().objects.filter(token_checksum=checksum)
                          .values_list("application_id", flat=True).first())
        if application_id is not None:
            return f"client:{application_id}"
    if authorization:
        return "auth:" + hashlib.sha256(authorization.encode("utf-8", "replace")).hexdigest()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint_and_rewind(request) -> str:
    """Hash the request and its body, leaving the body readable for the view."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.META.get("QUERY_STRING", ""), request.content_type or ""):
        digest.update(part.encode("utf-8", "replace") + b"\0")
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - it becomes the request's input
    while chunk := request.read(_CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    # The view reads the body from the spool as if from the network (Django's HttpRequest reads
    # ``_stream``); nothing else of the request changes.
    request._stream = spool
    request._read_started = False
    return digest.hexdigest()


def _claim(principal: str, key: str, fingerprint: str, now: dt.datetime) -> tuple[IdempotencyKey, bool]:
    """The key's row and whether this request created it (and so must run)."""
    expires = now + dt.timedelta(hours=settings.TELEMED_IDEMPOTENCY_HOURS)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(principal=principal, key=key, fingerprint=fingerprint,
                                                    created_at=now, expires_at=expires)
            return row, True
        except IntegrityError:
            row = IdempotencyKey.objects.filter(principal=principal, key=key).first()
            if row is None:
                continue  # released between our insert and our read: try again
            if row.expires_at <= now:
                # An expired key is free again; only one retry may take it.
                IdempotencyKey.objects.filter(pk=row.pk, expires_at=row.expires_at).delete()
                continue
            return row, False
    raise RuntimeError("idempotency key could not be claimed")  # pragma: no cover - two races in a row


def _replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status_code, content_type=row.content_type or None)
    if row.location:
        response["Location"] = row.location
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyKeyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        problem = key_problem(key)
        if problem:
            return _error("idempotency_key_invalid", problem, 400, {"header": HEADER})
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)  # not signed in: authentication refuses it
        fingerprint = _fingerprint_and_rewind(request)
        row, mine = _claim(principal, key, fingerprint, timezone.now())
        if not mine:
            if row.fingerprint != fingerprint:
                return _error("idempotency_key_reused",
                              _("该 Idempotency-Key 已用于另一个不同的请求；新的请求请使用新的键。"), 422, {"header": HEADER})
            if row.state == IdempotencyKey.State.IN_FLIGHT:
                return _error("idempotency_key_in_flight",
                              _("使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。"), 409, {"header": HEADER},
                              Retry_After="1")
            return _replay(row)
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            raise
        if 200 <= response.status_code < 300 and not response.streaming:
            IdempotencyKey.objects.filter(pk=row.pk).update(
                state=IdempotencyKey.State.DONE, status_code=response.status_code,
                content_type=response.get("Content-Type", ""), location=response.get("Location", "")[:500],
                body=response.content,
            )
        else:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
        return response


def idempotency_keys_purge(*, now: dt.datetime | None = None) -> int:
    """Delete expired keys in batches (one short statement per batch); returns how many."""
    now = now or timezone.now()
    removed = 0
    while True:
        batch = list(IdempotencyKey.objects.filter(expires_at__lte=now).order_by("expires_at")
                     .values_list("pk", flat=True)[:PURGE_BATCH])
        if not batch:
            return removed
        removed += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]


def document_idempotency_key(result, generator, request, public):
    """drf-spectacular post-processing hook: every POST of the API takes ``Idempotency-Key``; the
    writes on one object take ``If-Match`` and its reads ``If-None-Match`` (``telemed.api``)."""
    parameter = {
        "in": "header", "name": HEADER, "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[!-~]+$"},
        "description": "重试时使用同一个键：首次成功的应答（状态与内容）原样返回，带 Idempotent-Replayed: true；"
                       f"保留 {settings.TELEMED_IDEMPOTENCY_HOURS} 小时。同一键用于不同请求 → 422 idempotency_key_reused；"
                       "首次请求仍在处理 → 409 idempotency_key_in_flight。",
    }
    if_match = {
        "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
        "description": "对象的 ETag（读取详情时返回）；对象已被修改则 412 precondition_failed，不执行任何操作。",
    }
    if_none_match = {
        "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
        "description": "上次读取时的 ETag；未修改则 304，无内容。",
    }
    for path, path_item in result.get("paths", {}).items():
        detail = "{id}" in path
        operation = path_item.get("post")
        if operation is not None:
            operation.setdefault("parameters", []).append(parameter)
            responses = operation.setdefault("responses", {})
            responses.setdefault("409", {"description": "idempotency_key_in_flight（或该操作自身的冲突）"})
            responses.setdefault("422", {"description": "idempotency_key_reused"})
            if detail:
                operation["parameters"].append(if_match)
                responses.setdefault("412", {"description": "precondition_failed：If-Match 与对象当前版本不符"})
        read = path_item.get("get")
        if read is not None and path.endswith("/{id}/"):
            read.setdefault("parameters", []).append(if_none_match)
            read.setdefault("responses", {}).setdefault("304", {"description": "未修改（If-None-Match 与 ETag 相同）"})
    return result
