"""Every write of the notifications (issue 12): notify, the deliveries, the preferences.

``notify`` writes the in-app notifications and one delivery row per outside channel each recipient
chose, in the caller's transaction; after the commit one task per batch sends them. Sending happens
outside the caller's transaction: a failing e-mail server or SMS provider is recorded on the
delivery (status, attempts, error) and retried with back-off, and never rolls back or blocks the act
that caused the notification.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append
from consultations.models import Notification
from facilities.models import DutyShift, StaffMembership
from telemed import crypto
from telemed.bulk import insert_rows
from telemed.errors import ApplicationError

from . import rules
from .choices import Channel, DeliveryStatus, NotificationKind
from .messages import kind_of, render
from .models import NotificationDelivery, NotificationPreference
from .sms import SmsMessage, get_backend

logger = logging.getLogger(__name__)

BATCH = 100  # deliveries per task: one claim, one connection, one write-back


# --- Writing notifications ----------------------------------------------------------------------


def notify(*, message_key: str = "", params: dict | None = None, facility_id: int | None = None, roles=(), user_ids=(),
           link: str = "", dedupe_key: str = "", kind: str = "", subject: str = "", body: str = "") -> int:
    """Notify the facility's active staff holding ``roles`` and the users ``user_ids``.

    Stores ``message_key`` and ``params`` (rendered when shown, in the reader's language); the kind
    defaults to the message's. ``dedupe_key`` makes a repeated notification (a redelivered task) a
    no-op per user. Returns how many notifications were written.

    ``subject``/``body`` without a key is the old way (a text fixed at writing, shown as stored, of
    kind 系统通知 unless given): kept so that a caller not yet moved to ``MESSAGES`` still works."""
    if not message_key and not subject:
        raise ValueError("notify() needs a message_key (notifications.messages.MESSAGES) or a subject")
    recipients = set(user_ids)
    if facility_id is not None and roles:
        recipients.update(
            StaffMembership.objects.filter(facility_id=facility_id, role__in=list(roles), active=True).values_list("user_id", flat=True)
        )
    if not recipients:
        return 0
    kind = kind or (kind_of(message_key) if message_key else NotificationKind.SYSTEM)
    if dedupe_key:
        recipients -= set(Notification.objects.filter(user_id__in=recipients, dedupe_key=dedupe_key).values_list("user_id", flat=True))
    now = timezone.now()
    rows = [
        Notification(user_id=user_id, created_at=now, kind=kind, message_key=message_key, params=params or {},
                     subject="" if message_key else subject[:200], body="" if message_key else body,
                     link=link, dedupe_key=dedupe_key)
        for user_id in sorted(recipients)
    ]
    created = _create(rows)
    if not created:
        return 0
    choices = dict(NotificationPreference.objects.filter(user_id__in=[n.user_id for n in created]).values_list("user_id", "channels"))
    deliveries = [
        NotificationDelivery(notification=n, channel=channel, created_at=now, next_attempt_at=now)
        for n in created
        for channel in sorted(rules.channels_for(kind, choices.get(n.user_id)) - rules.ALWAYS)
    ]
    if deliveries:
        NotificationDelivery.objects.bulk_create(deliveries)
        enqueue([d.pk for d in deliveries])
    return len(created)


def notify_many(items: list[dict]) -> int:
    """``notify`` for a batch (issue 11): each item takes ``notify``'s keyword arguments with a
    ``message_key``, and gets the same rows, dedupe and channel deliveries as its own call would,
    for a constant number of queries per batch (the sweep's JL-C2 notices). Returns the rows written."""
    if not items:
        return 0
    wanted = {(item["facility_id"], tuple(sorted(item.get("roles", ())))) for item in items if item.get("facility_id") is not None}
    staff: dict[tuple, set[int]] = {key: set() for key in wanted}
    if wanted:
        facility_ids = {f for f, _ in wanted}
        role_set = {r for _, roles in wanted for r in roles}
        memberships = StaffMembership.objects.filter(facility_id__in=facility_ids, role__in=list(role_set), active=True)
        for facility_id, role, user_id in memberships.values_list("facility_id", "role", "user_id"):
            for key in wanted:
                if key[0] == facility_id and role in key[1]:
                    staff[key].add(user_id)
    recipients_of = []
    for item in items:
        recipients = set(item.get("user_ids", ()))
        if item.get("facility_id") is not None:
            recipients |= staff.get((item["facility_id"], tuple(sorted(item.get("roles", ())))), set())
        recipients_of.append(recipients)
    now = timezone.now()
    rows = []
    for item, recipients in zip(items, recipients_of, strict=True):
        message_key = item["message_key"]
        kind = item.get("kind") or kind_of(message_key)
        params, link, dedupe_key = item.get("params") or {}, item.get("link", ""), item.get("dedupe_key", "")
        rows += [(user_id, now, kind, message_key, params, "", "", link, None, dedupe_key) for user_id in sorted(recipients)]
    if not rows:
        return 0
    # Issue 11: one multi-row INSERT of tuples (``telemed.bulk``); a notice a user already has under
    # its dedupe key (a re-run, a concurrent writer) is skipped by the unique constraint, as
    # ``_create`` skips it, without a savepoint or a read of the keys first.
    created = insert_rows(Notification, _NOTIFICATION_COLUMNS, rows, returning=("id", "user_id", "kind"), skip_conflicts=True)
    if not created:
        return 0
    choices = dict(NotificationPreference.objects.filter(user_id__in={user_id for _, user_id, _ in created}).values_list("user_id", "channels"))
    deliveries = [
        (pk, channel, DeliveryStatus.PENDING, 0, "", now, now, None, None)
        for pk, user_id, kind in created
        for channel in sorted(rules.channels_for(kind, choices.get(user_id)) - rules.ALWAYS)
    ]
    if deliveries:
        enqueue([pk for (pk,) in insert_rows(NotificationDelivery, _DELIVERY_COLUMNS, deliveries)])
    return len(created)


_NOTIFICATION_COLUMNS = ("user_id", "created_at", "kind", "message_key", "params", "subject", "body", "link", "read_at", "dedupe_key")
_DELIVERY_COLUMNS = ("notification_id", "channel", "status", "attempts", "error", "created_at", "next_attempt_at", "claimed_at",
                     "sent_at")


def _create(rows: list[Notification]) -> list[Notification]:
    """Insert the rows at once; when a concurrent writer got one in first (the dedupe constraint),
    insert them one by one and skip those already there."""
    try:
        with transaction.atomic():
            return Notification.objects.bulk_create(rows)
    except IntegrityError:
        created = []
        for row in rows:
            try:
                with transaction.atomic():
                    row.pk = None
                    row.save(force_insert=True)
                created.append(row)
            except IntegrityError:
                continue
        return created


def enqueue(delivery_ids: list[int]) -> None:
    """After the commit, one task per batch; a broker outage only delays them until the sweep."""
    from telemed.queue import BrokerUnavailable, send_now

    from .tasks import notification_deliver

    def send():
        for start in range(0, len(delivery_ids), BATCH):
            with contextlib.suppress(BrokerUnavailable):  # logged by send_now; the sweep sends them
                send_now(notification_deliver, delivery_ids=delivery_ids[start:start + BATCH])

    transaction.on_commit(send, robust=True)


def on_duty_user_ids(*, facility_id: int, at: datetime) -> list[int]:
    """JL-F4 (art. 24): the users of the staff on the facility's duty roster at ``at`` (a shift
    running then, the physician still an active member of the facility)."""
    return sorted(set(
        DutyShift.objects.filter(
            facility_id=facility_id, starts_at__lte=at, ends_at__gt=at, physician__user__isnull=False,
            physician__user__memberships__facility_id=facility_id, physician__user__memberships__active=True,
        ).values_list("physician__user_id", flat=True)
    ))


def urgent_alert_on_duty(*, consultation, at: datetime, link: str) -> int:
    """Issue 12, JL-F4: an emergency (急诊) request alerts the invited facility's on-duty staff at
    once, on every channel each of them enabled for urgent alerts."""
    return notify(
        message_key="consultation.urgent_on_duty",
        params={"n": consultation.number, "s": consultation.service_type.name, "f": consultation.inviting.name},
        user_ids=on_duty_user_ids(facility_id=consultation.invited_id, at=at),
        link=link, dedupe_key=f"consultation:{consultation.pk}:urgent:{at.timestamp():.0f}",
    )


# --- Sending ------------------------------------------------------------------------------------


@dataclass
class SendReport:
    attempted: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def _claim(delivery_ids: list[int], now: datetime) -> list[int]:
    """Compare-and-swap pending → sending for the due ones among ``delivery_ids``, in one statement."""
    with transaction.atomic():
        due = NotificationDelivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True))
        NotificationDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return ids


def _due_ids(now: datetime, batch: int) -> list[int]:
    """The sweep's work: sendings whose worker died are pending again; then the due pending ones."""
    stale = now - timedelta(seconds=settings.TELEMED_NOTIFY_STALE_SECONDS)
    NotificationDelivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now
    )
    return list(
        NotificationDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:batch]
    )


def notification_deliveries_send(*, delivery_ids: list[int] | None = None, now: datetime | None = None,
                                 batch: int = BATCH) -> SendReport:
    """Send the given deliveries (or, as the sweep, every due one), a batch at a time: one claim,
    one mail connection and one SMS call per batch, one write-back of all results. Idempotent."""
    now = now or timezone.now()
    if delivery_ids is None:
        delivery_ids = _due_ids(now, batch)
    report = SendReport()
    for start in range(0, len(delivery_ids), batch):
        claimed = _claim(sorted(delivery_ids[start:start + batch]), now)
        if claimed:
            _send_batch(claimed, now, report)
    return report


def _send_batch(ids: list[int], now: datetime, report: SendReport) -> None:
    deliveries = list(NotificationDelivery.objects.filter(pk__in=ids).select_related("notification__user").order_by("id"))
    phones = {}
    sms_users = {d.notification.user_id for d in deliveries if d.channel == Channel.SMS}
    if sms_users:
        phones = {p.user_id: p.phone for p in NotificationPreference.objects.filter(user_id__in=sms_users).only("user_id", "phone")}
    outcomes: dict[int, str | None] = {}  # delivery id → None (sent) or the error
    skipped: dict[int, str] = {}
    with translation.override(settings.LANGUAGE_CODE):
        emails, texts = [], []
        for d in deliveries:
            n = d.notification
            subject, body = render(n.message_key, n.params, fallback_subject=n.subject, fallback_body=n.body, outside=True)
            if d.channel == Channel.EMAIL:
                if not n.user.email:
                    skipped[d.pk] = _("未登记电子邮箱。")
                    continue
                text = "\n\n".join(part for part in (body or subject, n.link and settings.TELEMED_SITE_URL + n.link) if part)
                emails.append((d, EmailMessage(subject.replace("\n", " ")[:200], text, settings.DEFAULT_FROM_EMAIL, [n.user.email])))
            elif d.channel == Channel.SMS:
                phone = phones.get(n.user_id, "")
                if not phone:
                    skipped[d.pk] = _("未登记短信接收手机号码。")
                    continue
                texts.append((d, SmsMessage(to=phone, text=settings.TELEMED_SMS_SIGNATURE + subject)))
            else:
                skipped[d.pk] = _("未知的通知渠道。")
        outcomes.update(_send_emails(emails))
        outcomes.update(_send_texts(texts))
    for d in deliveries:
        report.attempted += 1
        d.claimed_at = None
        if d.pk in skipped:
            d.status, d.error, d.next_attempt_at = DeliveryStatus.SKIPPED, skipped[d.pk], None
            report.skipped += 1
        elif outcomes.get(d.pk) is None:
            d.status, d.error, d.sent_at, d.next_attempt_at = DeliveryStatus.SENT, "", now, None
            report.sent += 1
        else:
            d.error = outcomes[d.pk][:500]
            report.failed += 1
            if d.attempts >= settings.TELEMED_NOTIFY_MAX_ATTEMPTS:
                d.status, d.next_attempt_at = DeliveryStatus.FAILED, None
            else:
                d.status = DeliveryStatus.PENDING
                d.next_attempt_at = now + rules.retry_delay(
                    d.attempts, base_seconds=settings.TELEMED_NOTIFY_BACKOFF_SECONDS, cap_seconds=settings.TELEMED_NOTIFY_BACKOFF_CAP_SECONDS
                )
    with transaction.atomic():
        NotificationDelivery.objects.bulk_update(deliveries, ["status", "error", "sent_at", "next_attempt_at", "claimed_at"])


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _send_emails(pairs) -> dict[int, str | None]:
    if not pairs:
        return {}
    try:
        mail = get_connection()
        mail.open()
    except Exception as error:  # noqa: BLE001 - any failure of the mail server is recorded, never raised
        return {d.pk: _failure(error) for d, _m in pairs}
    outcomes: dict[int, str | None] = {}
    try:
        for d, message in pairs:
            message.connection = mail
            try:
                message.send()
                outcomes[d.pk] = None
            except Exception as error:  # noqa: BLE001
                outcomes[d.pk] = _failure(error)
    finally:
        with contextlib.suppress(Exception):
            mail.close()
    return outcomes


def _send_texts(pairs) -> dict[int, str | None]:
    if not pairs:
        return {}
    try:
        results = get_backend().send_messages([m for _d, m in pairs])
        if len(results) != len(pairs):
            raise RuntimeError(f"SMS backend answered {len(results)} results for {len(pairs)} messages")
    except Exception as error:  # noqa: BLE001 - a failing provider is recorded, never raised
        return {d.pk: _failure(error) for d, _m in pairs}
    return {d.pk: (None if r.ok else (r.error or "SMS not accepted")) for (d, _m), r in zip(pairs, results, strict=True)}


# --- Preferences --------------------------------------------------------------------------------


@transaction.atomic
def notification_preference_update(*, actor, channels: dict | None = None, phone: str | None = None) -> NotificationPreference:
    """Change the actor's own choices (``channels``: ``{kind: [channel, …]}``, the kinds given are
    replaced; ``phone``: the SMS number, ``None`` keeps it, ``""`` removes it). An audit event
    records what changed, the number masked (JL-A1, JL-C9)."""
    preference = NotificationPreference.objects.select_for_update().filter(user=actor).first()
    if preference is None:
        preference = NotificationPreference(user=actor, channels={}, phone="")
    before = rules.all_channels(preference.channels)
    errors: list[str] = []
    stored = dict(preference.channels)
    if channels is not None:
        cleaned, errors = rules.clean_choices(channels)
        for kind, chosen in cleaned.items():
            if rules.ALWAYS | frozenset(chosen) == rules.DEFAULT_CHANNELS[kind]:
                stored.pop(kind, None)  # back to the default: nothing to store
            else:
                stored[kind] = chosen
    new_phone = preference.phone
    if phone is not None:
        new_phone, error = rules.normalise_phone(phone)
        if error:
            raise ApplicationError("invalid_phone", error, {"field": "phone"})
    if errors:
        raise ApplicationError("invalid", " ".join(errors), {"errors": errors, "field": "channels"})
    after = rules.all_channels(stored)
    changed = {k: {"before": sorted(before[k]), "after": sorted(after[k])} for k in after if before[k] != after[k]}
    phone_changed = new_phone != preference.phone
    preference.channels, preference.phone, preference.updated_at = stored, new_phone, timezone.now()
    preference.save()
    if changed or phone_changed:
        details: dict = {"channels": changed}
        if phone_changed:
            details["phone"] = rules.mask_phone(new_phone) or "removed"
        audit_event_append(actor=actor, event_type=EventType.NOTIFICATION_PREFERENCE_CHANGE, obj=preference, details=details)
    return preference


def notification_phone_rotate_batch(*, actor=None, batch_size: int = 500) -> tuple[int, int]:
    """JL-A2: re-encrypt up to ``batch_size`` staff SMS numbers still under an old data key or cipher
    (``manage.py rotate_data_key``, after the patients). One transaction and one audit event per
    batch; returns ``(rows, remaining)``."""

    def stale():
        raw = Cast("phone", output_field=TextField())
        return NotificationPreference.objects.annotate(phone_raw=raw).exclude(phone_raw="").exclude(
            phone_raw__startswith=crypto.current_prefix()
        )

    with transaction.atomic():
        rows = list(stale().select_for_update().order_by("pk")[:batch_size])
        for preference in rows:
            preference.save(update_fields=["phone"])  # read under the old key, written under the current one
        remaining = stale().count()
        if rows:
            keys, cipher = crypto.current()
            audit_event_append(
                actor=actor, event_type=EventType.DATA_KEY_ROTATE, object_type="notifications.notificationpreference",
                details={"key_id": keys[0].id, "cipher": cipher, "rows": len(rows), "first_id": rows[0].pk,
                         "last_id": rows[-1].pk, "remaining": remaining},
            )
    return len(rows), remaining


__all__ = [
    "enqueue", "notification_deliveries_send", "notification_phone_rotate_batch", "notification_preference_update", "notify",
    "on_duty_user_ids",
    "urgent_alert_on_duty",
]
