"""Reads of the notifications (issue 12): a user's own preferences and deliveries only."""

from __future__ import annotations

from .models import NotificationDelivery, NotificationPreference


def preference_of(user) -> NotificationPreference:
    """The user's stored preferences, or an unsaved default one (nothing stored yet)."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user, channels={}, phone="")


def notification_deliveries_for(*, user, notification_ids) -> dict[int, list[NotificationDelivery]]:
    rows = NotificationDelivery.objects.filter(notification__user=user, notification_id__in=list(notification_ids)).order_by("channel")
    grouped: dict[int, list[NotificationDelivery]] = {}
    for row in rows:
        grouped.setdefault(row.notification_id, []).append(row)
    return grouped
