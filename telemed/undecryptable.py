"""JL-A2 (GB/T 22239-2019 8.1.4.8): a stored value that cannot be decrypted — its key is gone, or the
ciphertext was tampered with or moved to another row — is a clear refusal on record, never a 500.

``telemed.fields.EncryptedTextField`` raises ``crypto.UndecryptableError`` naming its field. Pages
get the Chinese page ``undecryptable.html`` (``UndecryptableDataMiddleware``); the API gets
``{"code": "data_undecryptable", "message", "extra"}`` (``telemed.errors.api_exception_handler``).
Both answer 409 — the request was fine, the stored record is in a state the portal cannot serve —
and both write one audit event ``security.data_undecryptable`` naming the table, the column and the
record(s) whose value failed, and the reason; never the ciphertext. The same line goes to the
``telemed.security`` logger at ERROR, and every active security administrator gets a notification.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import crypto

logger = logging.getLogger("telemed.security")

CODE = "data_undecryptable"
STATUS = 409
MAX_RECORDS = 20  # the same ciphertext pasted into many rows: name the first few


def message() -> str:
    return _("JL-A2: 此数据无法解密（密钥缺失，或数据已被篡改），已记录并通知安全管理员。请勿重试，请联系安全管理员处理。")


def _records(error: crypto.UndecryptableError) -> tuple[str, str, list[str]]:
    """(object type, column, ids of the rows holding the value that failed)."""
    field = error.field
    if field is None:
        return "", "", []
    meta = field.model._meta
    quote = connection.ops.quote_name
    sql = f"SELECT {quote(meta.pk.column)} FROM {quote(meta.db_table)} WHERE {quote(field.column)} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [error.stored])
        ids = [str(row[0]) for row in cursor.fetchmany(MAX_RECORDS)]
    return meta.label_lower, field.column, ids


def _tell_security_administrators(facts: dict) -> None:
    """The page says the security administrator was told: every active one gets a notification (in-app,
    and their chosen channels), once a day per table, column and first record."""
    from django.utils import timezone

    from facilities.choices import AdminRole
    from facilities.models import AdminAssignment
    from notifications.services import notify

    users = list(AdminAssignment.objects.filter(role=AdminRole.SECURITY, active=True).values_list("user_id", flat=True))
    if not users:
        return
    first = facts["record_ids"][0] if facts["record_ids"] else ""
    notify(
        message_key="security.data_undecryptable", user_ids=users,
        params={"o": facts["object_type"] or "?", "f": facts["field"] or "?", "r": ", ".join(facts["record_ids"]) or "?"},
        dedupe_key=f"undecryptable:{facts['object_type']}:{facts['field']}:{first}:{timezone.localdate():%Y%m%d}",
    )


def record(request, error: crypto.UndecryptableError) -> dict:
    """Write the audit event (its own transaction) and the log line; return what they say."""
    from audit.choices import EventType, Outcome
    from audit.services import audit_event_append

    user = getattr(request, "user", None)
    actor = user if user is not None and user.is_authenticated else None
    facts = {"object_type": "", "field": "", "record_ids": [], "reason": str(error), "path": request.path[:200]}
    try:
        with transaction.atomic():
            object_type, column, ids = _records(error)
            facts.update(object_type=object_type, field=column, record_ids=ids)
            audit_event_append(
                actor=actor, event_type=EventType.DATA_UNDECRYPTABLE, outcome=Outcome.FAILURE,
                object_type=object_type, object_id=ids[0] if len(ids) == 1 else "", details=facts,
            )
            _tell_security_administrators(facts)
    except Exception:  # the answer must stay clear even if the record cannot be written
        logger.exception("JL-A2 undecryptable data: the audit event could not be written")
    logger.error("JL-A2 undecryptable data: %s.%s records %s (%s) at %s", facts["object_type"], facts["field"],
                 facts["record_ids"], facts["reason"], facts["path"])
    return facts


def api_body(request, error: crypto.UndecryptableError) -> dict:
    facts = record(request, error)
    return {"code": CODE, "message": message(), "extra": {"object_type": facts["object_type"], "field": facts["field"]}}


class UndecryptableDataMiddleware:
    """Pages (and any API path DRF did not handle): the Chinese page, or the error contract."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, crypto.UndecryptableError):
            return None
        if request.path.startswith("/api/"):
            from django.http import JsonResponse

            return JsonResponse(api_body(request, exception), status=STATUS, json_dumps_params={"ensure_ascii": False})
        record(request, exception)
        return render(request, "undecryptable.html", {"message": message()}, status=STATUS)
