"""Webhooks' rulebook as pure functions (STYLE habit 1): no database, no network."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.choices import EventType

#: How old a delivery's X-Telemed-Timestamp may be before a receiver refuses it (documented).
REPLAY_WINDOW_SECONDS = 300


class WebhookEventType(models.TextChoices):
    CONSULTATION_STATE_CHANGED = "consultation.state_changed", _("会诊申请状态变更")
    DOCUMENT_RETURNED = "document.returned", _("病历资料被退回")
    OPINION_SIGNED = "opinion.signed", _("会诊意见/报告已签发")
    OBLIGATION_DUE_SOON = "obligation.due_soon", _("24小时上传义务即将到期")
    OBLIGATION_VIOLATED = "obligation.violated", _("24小时上传义务超时")
    STATEMENT_DRAFTED = "statement.drafted", _("结算单已生成")
    STATEMENT_CONFIRMED = "statement.confirmed", _("结算单已确认")
    STATEMENT_PAID = "statement.paid", _("结算款已到账")
    FACILITY_SUSPENDED = "facility.suspended", _("机构暂停远程医疗服务")
    FACILITY_SUSPENSION_LIFTED = "facility.suspension_lifted", _("机构解除暂停")


#: Issue 14: the scope a partner application needs to receive each event — the ``:read`` scope of
#: the resource the event reports (the routes of ``telemed.oauth.rules.ROUTE_RESOURCES``), so that a
#: subscription never tells an application what its own API calls could not read.
EVENT_SCOPES: dict[str, str] = {
    WebhookEventType.CONSULTATION_STATE_CHANGED: "consultations:read",
    WebhookEventType.DOCUMENT_RETURNED: "consultations:read",
    WebhookEventType.OPINION_SIGNED: "consultations:read",
    WebhookEventType.OBLIGATION_DUE_SOON: "consultations:read",
    WebhookEventType.OBLIGATION_VIOLATED: "consultations:read",
    WebhookEventType.STATEMENT_DRAFTED: "billing:read",
    WebhookEventType.STATEMENT_CONFIRMED: "billing:read",
    WebhookEventType.STATEMENT_PAID: "billing:read",
    WebhookEventType.FACILITY_SUSPENDED: "facilities:read",
    WebhookEventType.FACILITY_SUSPENSION_LIFTED: "facilities:read",
}


def event_types_unreadable(event_types, scopes) -> list[str]:
    """The event types among ``event_types`` that an application holding ``scopes`` may not
    receive (empty when it may receive them all)."""
    held = set(scopes or ())
    return [t for t in event_types if EVENT_SCOPES.get(t) not in held]


#: Emitted by the JL-C2 sweep's reminders themselves (no audit event marks a reminder).
DIRECT = frozenset({WebhookEventType.OBLIGATION_DUE_SOON})

#: The one table: which audit event (written by every service, in its transaction) is which webhook event.
AUDIT_TO_WEBHOOK: dict[str, WebhookEventType] = {
    **{str(t): WebhookEventType.CONSULTATION_STATE_CHANGED for t in (
        EventType.CONSULTATION_SEND, EventType.CONSULTATION_ACCEPT, EventType.CONSULTATION_DECLINE,
        EventType.CONSULTATION_RETURN_MATERIAL, EventType.CONSULTATION_CANCEL, EventType.CONSULTATION_EXPERT_ASSIGN,
        EventType.CONSULTATION_SCHEDULE, EventType.CONSULTATION_START_SESSION, EventType.CONSULTATION_CLOSE,
    )},
    str(EventType.DOCUMENT_RETURN): WebhookEventType.DOCUMENT_RETURNED,
    str(EventType.OPINION_SIGN): WebhookEventType.OPINION_SIGNED,
    str(EventType.OPINION_CORRECT): WebhookEventType.OPINION_SIGNED,
    str(EventType.OBLIGATION_VIOLATED): WebhookEventType.OBLIGATION_VIOLATED,
    str(EventType.BILLING_STATEMENT_DRAFT): WebhookEventType.STATEMENT_DRAFTED,
    str(EventType.BILLING_STATEMENT_CONFIRM): WebhookEventType.STATEMENT_CONFIRMED,
    str(EventType.BILLING_STATEMENT_PAID): WebhookEventType.STATEMENT_PAID,
    str(EventType.FACILITY_SUSPENSION_REPORT): WebhookEventType.FACILITY_SUSPENDED,
    str(EventType.FACILITY_SUSPENSION_LIFT): WebhookEventType.FACILITY_SUSPENSION_LIFTED,
}

#: Audit object type → (resource type, the field holding the resource's id, its API detail route).
#: An opinion or a document is reported as its consultation, a violation as its obligation, so that
#: "order per resource" is the order of one case's events.
RESOURCES: dict[str, tuple[str, str, str]] = {
    "consultations.consultation": ("consultation", "pk", "consultations-api:consultation-detail"),
    "consultations.opinion": ("consultation", "consultation_id", "consultations-api:consultation-detail"),
    "consultations.document": ("consultation", "consultation_id", "consultations-api:consultation-detail"),
    "consultations.violation": ("obligation", "obligation_id", "consultations-api:obligation-detail"),
    "billing.statement": ("statement", "pk", "billing-api:statement-detail"),
    "facilities.suspension": ("suspension", "pk", "facilities-api:suspension-detail"),
}


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256(secret, f"{timestamp}." + body): the X-Telemed-Signature header."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_valid(secret: str, timestamp: str, body: bytes, header: str, *, now: float,
                    window: int = REPLAY_WINDOW_SECONDS) -> bool:
    """The receiver's check (the recipe in docs/architecture.md): fresh timestamp, matching HMAC."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent) > window:
        return False
    return hmac.compare_digest(signature(secret, sent, body), header or "")


def backoff_seconds(attempts: int, *, base: int, cap: int) -> int:
    """Wait after the ``attempts``-th failed attempt: base × 2^(attempts-1), at most ``cap``."""
    return min(cap, base * 2 ** max(0, attempts - 1))


def address_is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def target_url_refusal(url: str) -> tuple[str, str] | None:
    """``(code, message)`` when ``url`` cannot be a webhook target, else None (no DNS here)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "webhook_url_invalid", str(_("接收地址格式不正确。"))
    if parts.scheme not in ("http", "https"):
        return "webhook_url_scheme", str(_("接收地址只能使用 http 或 https。"))
    if not parts.hostname:
        return "webhook_url_invalid", str(_("接收地址缺少主机名。"))
    if parts.username is not None or parts.password is not None:
        return "webhook_url_credentials", str(_("接收地址中不得包含用户名或密码，请改用签名校验。"))
    if parts.fragment:
        return "webhook_url_invalid", str(_("接收地址不得包含 # 片段。"))
    if port == 0:
        return "webhook_url_invalid", str(_("接收地址端口不正确。"))
    return None


#: A failure outcome is normally a refusal (nothing changed); these failures are themselves the news.
FAILURE_IS_THE_EVENT = frozenset({str(EventType.OBLIGATION_VIOLATED)})


def webhook_type_for(audit_event_type: str, outcome: str) -> WebhookEventType | None:
    """The webhook event an audited change produces, or None (refusals produce none)."""
    if outcome != "success" and audit_event_type not in FAILURE_IS_THE_EVENT:
        return None
    return AUDIT_TO_WEBHOOK.get(audit_event_type)
