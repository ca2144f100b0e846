"""Every webhook write (STYLE 2): subscriptions, the outbox, delivery attempts, redelivery.

The outbox is filled by ``webhook_outbox_write``, which ``audit.services.audit_event_append`` calls
in the transaction of every audited change: the event exists exactly when the change committed.
Delivery claims a due row with a compare-and-swap on (state, attempts), POSTs the signed body,
then records the answer; the sweep (beat, TELEMED_WEBHOOK_SWEEP_SECONDS) is the source of truth,
the task sent after the commit only makes the first attempt prompt (STYLE 5).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from facilities.choices import StaffRole
from telemed.errors import ApplicationError
from telemed.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import rules

logger = logging.getLogger(__name__)

OPEN = (WebhookDelivery.State.PENDING, WebhookDelivery.State.FAILED)
MANAGERS = (StaffRole.FACILITY_ADMIN, StaffRole.PARTNER_SYSTEM)
SWEEP_BATCH = 100
USER_AGENT = "Jilin-Telemed-Webhooks/1"


# --- Subscriptions ------------------------------------------------------------------------------


def _require_manager(actor, facility_id: int) -> None:
    if not Scope.of(actor).has_role(facility_id, *MANAGERS):
        raise ApplicationError("permission_denied", _("只有本机构的管理员或对接系统账号可以管理事件推送订阅。"), status=403)


def _resolved_addresses(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})


def target_url_check(url: str) -> None:
    """Refuse a target that is not plain http(s) without credentials; outside tests and local use
    (TELEMED_WEBHOOK_ALLOW_PRIVATE) also one whose host is or resolves to a loopback/private address."""
    refusal = rules.target_url_refusal(url)
    if refusal:
        raise ApplicationError(refusal[0], refusal[1], {"field": "target_url"})
    if settings.TELEMED_WEBHOOK_ALLOW_PRIVATE:
        return
    parts = urlsplit(url)
    try:
        addresses = _resolved_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        raise ApplicationError("webhook_url_unresolvable", _("接收地址的主机名无法解析。"), {"field": "target_url"}) from None
    if not addresses or any(rules.address_is_private(a) for a in addresses):
        raise ApplicationError("webhook_url_private", _("接收地址不得指向本机、内网或保留地址。"), {"field": "target_url"})


def _client_refusal(client, *, facility, event_types: list[str], now: datetime) -> ApplicationError | None:
    """Why ``client`` may not own a subscription of ``facility`` to ``event_types`` (issue 14), or None."""
    from telemed.oauth.rules import client_refusal

    if client.facility_id != facility.pk:
        return ApplicationError("webhook_client_invalid", _("只能为本机构登记的对接应用订阅事件推送。"),
                                {"field": "client"})
    refusal = client_refusal(revoked_at=client.revoked_at, expires_at=client.expires_at, now=now)
    if refusal:
        return ApplicationError(refusal, _("该对接应用已吊销或已过期，不能订阅事件推送。"), {"field": "client"}, status=409)
    unreadable = rules.event_types_unreadable(event_types, client.scopes)
    if unreadable:
        needed = sorted({rules.EVENT_SCOPES[t] for t in unreadable})
        return ApplicationError(
            "webhook_event_type_not_allowed",
            _("JL-A2: 该对接应用的授权范围不能读取这些事件所涉及的数据（需要 %(scopes)s），不能订阅：%(types)s。")
            % {"scopes": "、".join(needed), "types": "、".join(unreadable)},
            {"field": "event_types", "unreadable": unreadable, "required_scopes": needed},
        )
    return None


@service_transaction()
def webhook_subscription_create(*, actor, facility, target_url: str, event_types: list[str],
                                description: str = "", client=None) -> tuple[WebhookSubscription, str]:
    """A facility administrator or partner system subscribes its facility — or, with ``client``,
    one of its partner applications (issue 14: a subscription made over the API by an application
    is that application's); returns the subscription and its secret, which is shown this once and
    never again (it is kept only to sign deliveries)."""
    from audit.choices import EventType
    from audit.services import audit_event_append, audit_refusal

    _require_manager(actor, facility.pk)
    target_url = (target_url or "").strip()
    target_url_check(target_url)
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [t for t in chosen if t not in rules.WebhookEventType.values]
    if not chosen or unknown:
        raise ApplicationError("webhook_event_type_invalid", _("请至少选择一种事件类型，且只能选择平台提供的事件类型。"),
                               {"field": "event_types", "unknown": unknown, "allowed": rules.WebhookEventType.values})
    now = timezone.now()
    if client is not None:
        refusal = _client_refusal(client, facility=facility, event_types=chosen, now=now)
        if refusal is not None:  # on record: an application reaching past its scopes (JL-A1)
            raise audit_refusal(refusal, actor=actor, event_type=EventType.WEBHOOK_SUBSCRIPTION_CREATE,
                                acting_facility_id=facility.pk, facility_ids=[facility.pk],
                                details={"client_id": client.client_id, "event_types": chosen})
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription = WebhookSubscription.objects.create(
        facility=facility, client=client, created_by=actor, created_at=now,
        description=clean_text(description or "")[:200], target_url=target_url, event_types=chosen, secret=secret,
    )
    audit_event_append(actor=actor, event_type=EventType.WEBHOOK_SUBSCRIPTION_CREATE, obj=subscription,
                       acting_facility_id=facility.pk, facility_ids=[facility.pk],
                       details={"target_url": target_url, "event_types": chosen,
                                "client_id": client.client_id if client is not None else None})
    return subscription, secret


@transaction.atomic
def webhook_subscription_disable(*, actor, subscription: WebhookSubscription, reason: str = "") -> WebhookSubscription:
    """Stop deliveries to a subscription (by its facility's manager, or ``actor=None`` automatically)."""
    from audit.choices import EventType
    from audit.services import audit_event_append

    if actor is not None:
        _require_manager(actor, subscription.facility_id)
    reason = clean_text(reason or "")[:300]
    now = timezone.now()
    if WebhookSubscription.objects.filter(pk=subscription.pk, active=True).update(
        active=False, disabled_at=now, disabled_reason=reason,
    ) != 1:
        subscription.refresh_from_db()
        return subscription  # already disabled: nothing to record twice
    audit_event_append(actor=actor, event_type=EventType.WEBHOOK_SUBSCRIPTION_DISABLE, obj=subscription,
                       acting_facility_id=subscription.facility_id, facility_ids=[subscription.facility_id],
                       details={"reason": reason, "automatic": actor is None, "failure_count": subscription.failure_count,
                                "client_id": _client_id(subscription)})
    subscription.refresh_from_db()
    return subscription


def _client_id(subscription: WebhookSubscription) -> str | None:
    return subscription.client.client_id if subscription.client_id else None


def webhook_subscriptions_disable_for_client(*, actor, client, reason: str) -> int:
    """Issue 14: a revoked (or expired) application receives nothing more — each of its active
    subscriptions is disabled, each on record, in the caller's transaction (the revocation's)."""
    disabled = 0
    for subscription in WebhookSubscription.objects.filter(client=client, active=True).select_related("client__application"):
        webhook_subscription_disable(actor=actor, subscription=subscription, reason=reason)
        disabled += 1
    return disabled


@transaction.atomic
def webhook_redeliver(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (whatever its state): a fresh round of attempts, due now."""
    from audit.choices import EventType
    from audit.services import audit_event_append

    subscription = delivery.subscription
    _require_manager(actor, subscription.facility_id)
    if not subscription.active:
        raise ApplicationError("webhook_disabled", _("该订阅已停用，不能重新推送；请新建订阅。"), status=409)
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=WebhookDelivery.State.PENDING, attempts=0, next_attempt_at=now)
    audit_event_append(actor=actor, event_type=EventType.WEBHOOK_DELIVERY_REDELIVER, obj=delivery,
                       acting_facility_id=subscription.facility_id, facility_ids=[subscription.facility_id],
                       details={"event_id": str(delivery.event_id), "previous_state": delivery.state})
    _enqueue([delivery.pk])
    delivery.refresh_from_db()
    return delivery


# --- The outbox ---------------------------------------------------------------------------------


def _resource(audit_event, obj) -> tuple[str, str, str | None]:
    """(type, id, API path) of what the event is about."""
    known = rules.RESOURCES.get(audit_event.object_type)
    if known is None:
        return audit_event.object_type, audit_event.object_id, None
    kind, field, route = known
    if field == "pk":
        pk = audit_event.object_id
    elif obj is not None:
        pk = getattr(obj, field, None)
    else:
        return audit_event.object_type, audit_event.object_id, None
    try:
        path = reverse(route, kwargs={"pk": pk})
    except NoReverseMatch:
        path = None
    return kind, str(pk), path


def _summary(audit_event, obj, kind: str) -> dict:
    """A few facts, never a patient's name or identity number (JL-C9)."""
    data = {"action": audit_event.event_type, "facility_ids": audit_event.facility_ids}
    number = (audit_event.details or {}).get("consultation") or (getattr(obj, "number", None) if kind == "consultation" else None)
    if number:
        data["consultation_number"] = str(number)
    if obj is not None and obj._meta.model_name == kind and isinstance(getattr(obj, "state", None), str):
        data["state"] = obj.state
    return data


def _receives(subscription: WebhookSubscription, hook_type: str, *, now: datetime) -> bool:
    """Does ``subscription`` get this event? It must have asked for it; an application's must
    also still be usable and its scopes must let it read what the event reports (issue 14)."""
    from telemed.oauth.rules import client_refusal

    if hook_type not in subscription.event_types:
        return False
    client = subscription.client
    if client is None:
        return True
    return (client_refusal(revoked_at=client.revoked_at, expires_at=client.expires_at, now=now) is None
            and not rules.event_types_unreadable([hook_type], client.scopes))


def _active_subscriptions(facility_ids):
    return (WebhookSubscription.objects.filter(active=True, facility_id__in=list(facility_ids))
            .select_related("client").only("pk", "facility_id", "event_types", "client__scopes",
                                           "client__revoked_at", "client__expires_at"))


def webhook_outbox_write(audit_event, obj=None) -> int:
    """In the audited change's transaction: one ``WebhookEvent`` and a delivery per interested,
    active subscription of the facilities concerned. Returns the deliveries written."""
    hook_type = rules.webhook_type_for(audit_event.event_type, audit_event.outcome)
    if hook_type is None or not audit_event.facility_ids:
        return 0
    return webhook_event_emit(hook_type=hook_type, facility_ids=audit_event.facility_ids,
                              occurred_at=audit_event.occurred_at, audit_event=audit_event, obj=obj)


def webhook_outbox_write_many(events) -> int:
    """``webhook_outbox_write`` for a batch of ``(audit_event, obj)`` pairs (issue 11): the same
    events and deliveries, with one read of the subscriptions and two bulk inserts for the batch."""
    wanted = []
    for audit_event, obj in events:
        hook_type = rules.webhook_type_for(audit_event.event_type, audit_event.outcome)
        if hook_type is not None and audit_event.facility_ids:
            wanted.append((hook_type, audit_event, obj))
    if not wanted:
        return 0
    facility_ids = sorted({f for _, audit_event, _ in wanted for f in audit_event.facility_ids})
    by_facility: dict[int, list[WebhookSubscription]] = {}
    for s in _active_subscriptions(facility_ids):
        by_facility.setdefault(s.facility_id, []).append(s)
    hook_events, deliveries = [], []
    now = timezone.now()
    for hook_type, audit_event, obj in wanted:
        subscriptions = [s for f in dict.fromkeys(audit_event.facility_ids) for s in by_facility.get(f, ())
                         if _receives(s, hook_type, now=now)]
        if not subscriptions:
            continue
        kind, pk, path = _resource(audit_event, obj)
        event_id = uuid.uuid4()
        occurred_at = audit_event.occurred_at
        payload = {
            "id": str(event_id),
            "type": str(hook_type),
            "occurred_at": occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "resource": {"type": kind, "id": str(pk), "url": path},
            "data": _summary(audit_event, obj, kind) or {},
        }
        event = WebhookEvent(id=event_id, event_type=hook_type, resource_type=kind, resource_id=str(pk),
                             payload=payload, created_at=occurred_at)
        hook_events.append(event)
        deliveries += [WebhookDelivery(subscription=s, event=event, resource_key=f"{kind}:{pk}"[:90], next_attempt_at=occurred_at)
                       for s in subscriptions]
    if not hook_events:
        return 0
    WebhookEvent.objects.bulk_create(hook_events)
    created = WebhookDelivery.objects.bulk_create(deliveries)
    ids = [d.pk for d in created if d.pk is not None]
    if ids:
        _enqueue(ids)
    return len(created)


def webhook_event_emit(*, hook_type: str, facility_ids, occurred_at: datetime, audit_event=None, obj=None,
                       resource: tuple[str, str, str | None] | None = None, data: dict | None = None) -> int:
    """Write one event to the outbox for the facilities' interested subscriptions, in the caller's
    transaction: from an audit event (above), or directly (``resource``, ``data``) for news that
    has no audit event of its own (the JL-C2 reminders: ``obligation.due_soon``)."""
    now = timezone.now()
    subscriptions = [s for s in _active_subscriptions(facility_ids) if _receives(s, hook_type, now=now)]
    if not subscriptions:
        return 0
    if audit_event is not None:
        kind, pk, path = _resource(audit_event, obj)
        data = _summary(audit_event, obj, kind)
    else:
        kind, pk, path = resource
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": str(hook_type),
        "occurred_at": occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "resource": {"type": kind, "id": str(pk), "url": path},
        "data": data or {},
    }
    event = WebhookEvent.objects.create(id=event_id, event_type=hook_type, resource_type=kind, resource_id=str(pk),
                                        payload=payload, created_at=occurred_at)
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(subscription=s, event=event, resource_key=f"{kind}:{pk}"[:90], next_attempt_at=occurred_at)
        for s in subscriptions
    ])
    ids = [d.pk for d in deliveries if d.pk is not None]
    if ids:
        _enqueue(ids)
    return len(deliveries)


def _enqueue(delivery_ids: list[int]) -> None:
    """After the commit, ask a worker for a prompt first attempt; a broker outage only delays it
    until the next sweep, so it never fails the change that produced the event."""
    from telemed.queue import BrokerUnavailable, send_now
    from telemed.tasks import webhook_deliver

    def send():
        with contextlib.suppress(BrokerUnavailable):  # logged by send_now; the sweep delivers
            send_now(webhook_deliver, delivery_ids=delivery_ids)

    transaction.on_commit(send)


# --- Delivery -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None = None
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def body_of(event: WebhookEvent) -> bytes:
    return json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _post(subscription: WebhookSubscription, event: WebhookEvent) -> Answer:
    """One signed POST; redirects are not followed (a 3xx is a failure)."""
    parts = urlsplit(subscription.target_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not settings.TELEMED_WEBHOOK_ALLOW_PRIVATE:
        try:
            if any(rules.address_is_private(a) for a in _resolved_addresses(parts.hostname, port)):
                return Answer(error="refused: the target resolves to a private address")
        except OSError as error:
            return Answer(error=f"DNS: {error}"[:500])
    body = body_of(event)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Telemed-Event-Id": str(event.pk),
        "X-Telemed-Event-Type": event.event_type,
        "X-Telemed-Timestamp": timestamp,
        "X-Telemed-Signature": rules.signature(subscription.secret, timestamp, body),
    }
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, port, timeout=settings.TELEMED_WEBHOOK_TIMEOUT_SECONDS)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(2048)
        return Answer(status=response.status, excerpt=clean_text(raw.decode("utf-8", errors="replace"))[:500])
    except (OSError, http.client.HTTPException) as error:
        return Answer(error=f"{type(error).__name__}: {error}"[:500])
    finally:
        connection.close()


def _held_back(delivery: WebhookDelivery) -> bool:
    """Order per resource: an earlier open delivery of the same resource goes first."""
    return WebhookDelivery.objects.filter(subscription_id=delivery.subscription_id, resource_key=delivery.resource_key,
                                          state__in=OPEN, id__lt=delivery.pk).exists()


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Try one due delivery once; returns its new state, or None when it was not this call's to send
    (not due, held back by an earlier one, claimed by another worker, or its subscription is off)."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscription__client__application", "event").filter(pk=delivery_id).first()
    if (delivery is None or delivery.state not in OPEN or not delivery.subscription.active
            or delivery.next_attempt_at > now or _held_back(delivery)):
        return None
    if _client_gone(delivery.subscription, now=now):
        return None
    # Claim: only the worker that moves ``attempts`` from the value it read sends; the lease pushes
    # ``next_attempt_at`` past the time limit, so a worker that dies mid-send is retried, not lost.
    lease = now + timedelta(seconds=2 * settings.TELEMED_WEBHOOK_TIMEOUT_SECONDS + 30)
    attempts = delivery.attempts + 1
    if WebhookDelivery.objects.filter(pk=delivery.pk, state=delivery.state, attempts=delivery.attempts,
                                      next_attempt_at__lte=now).update(attempts=attempts, next_attempt_at=lease,
                                                                       last_attempt_at=now) != 1:
        return None
    answer = _post(delivery.subscription, delivery.event)
    return _record(delivery, attempts=attempts, answer=answer)


def _client_gone(subscription: WebhookSubscription, *, now: datetime) -> bool:
    """Issue 14: an application revoked or expired since the event was written gets nothing; its
    subscription is disabled (on record, no actor), so the sweep stops picking its deliveries."""
    from telemed.oauth.rules import client_refusal

    client = subscription.client
    if client is None:
        return False
    refusal = client_refusal(revoked_at=client.revoked_at, expires_at=client.expires_at, now=now)
    if refusal is None:
        return False
    reason = (_("对接应用已吊销，停止推送。") if refusal == "client_revoked" else _("对接应用已过期，停止推送。"))
    webhook_subscription_disable(actor=None, subscription=subscription, reason=reason)
    return True


@transaction.atomic
def _record(delivery: WebhookDelivery, *, attempts: int, answer: Answer) -> str:
    now = timezone.now()
    fields = {"last_status_code": answer.status, "last_response": answer.excerpt, "last_error": answer.error}
    subscription_id = delivery.subscription_id
    if answer.ok:
        state = WebhookDelivery.State.DELIVERED
        fields.update(delivered_at=now)
        WebhookSubscription.objects.filter(pk=subscription_id).exclude(failure_count=0).update(failure_count=0)
    elif attempts >= settings.TELEMED_WEBHOOK_MAX_ATTEMPTS:
        state = WebhookDelivery.State.ABANDONED
    else:
        state = WebhookDelivery.State.FAILED
        wait = rules.backoff_seconds(attempts, base=settings.TELEMED_WEBHOOK_BACKOFF_SECONDS,
                                     cap=settings.TELEMED_WEBHOOK_BACKOFF_CAP_SECONDS)
        fields.update(next_attempt_at=now + timedelta(seconds=wait))
    if not answer.ok and not answer.error and answer.status is not None:
        fields["last_error"] = f"HTTP {answer.status}"
    # Only the claimant (attempts unchanged since its claim) records; a redelivery meanwhile wins.
    if WebhookDelivery.objects.filter(pk=delivery.pk, attempts=attempts, state__in=OPEN).update(state=state, **fields) != 1:
        return WebhookDelivery.objects.values_list("state", flat=True).get(pk=delivery.pk)
    if state == WebhookDelivery.State.ABANDONED:
        _count_abandoned(subscription_id)
    return state


def _count_abandoned(subscription_id: int) -> None:
    """N deliveries abandoned in a row disable the subscription and tell the facility's administrators."""
    from consultations.services._common import notify

    WebhookSubscription.objects.filter(pk=subscription_id).update(failure_count=F("failure_count") + 1)
    subscription = WebhookSubscription.objects.get(pk=subscription_id)
    if not subscription.active or subscription.failure_count < settings.TELEMED_WEBHOOK_DISABLE_AFTER:
        return
    reason = _("连续 %(n)d 次推送均在多次重试后失败，已自动停用。") % {"n": subscription.failure_count}
    webhook_subscription_disable(actor=None, subscription=subscription, reason=reason)
    notify(
        facility_id=subscription.facility_id, roles=(StaffRole.FACILITY_ADMIN,),
        message_key="webhook.disabled", params={"url": subscription.target_url[:120], "n": subscription.failure_count},
        dedupe_key=f"webhook:{subscription.pk}:disabled",
    )


@dataclass
class SweepReport:
    attempted: int = 0
    delivered: int = 0


def webhook_deliveries_send(*, delivery_ids: list[int] | None = None, now: datetime | None = None,
                            batch: int = SWEEP_BATCH) -> SweepReport:
    """Attempt the given deliveries, or (the sweep) every due one of an active subscription, oldest
    first, ``batch`` at a time. Idempotent: each attempt is claimed by compare-and-swap."""
    now = now or timezone.now()
    if delivery_ids is None:
        delivery_ids = list(WebhookDelivery.objects.filter(state__in=OPEN, next_attempt_at__lte=now, subscription__active=True)
                            .order_by("next_attempt_at", "id").values_list("id", flat=True)[:batch])
    report = SweepReport()
    for delivery_id in sorted(delivery_ids):
        state = webhook_delivery_attempt(delivery_id=delivery_id, now=now)
        if state is not None:
            report.attempted += 1
            report.delivered += state == WebhookDelivery.State.DELIVERED
    return report
