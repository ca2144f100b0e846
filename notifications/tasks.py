"""Celery tasks of the notifications (issue 12): take ids, call a service, idempotent (STYLE 5)."""

from celery import shared_task

from . import services


@shared_task(name="notifications.deliver", acks_late=True)
def notification_deliver(delivery_ids: list[int]) -> int:
    """One batch of e-mail/SMS deliveries, enqueued after the commit that wrote them."""
    return services.notification_deliveries_send(delivery_ids=list(delivery_ids)).sent


@shared_task(name="notifications.sweep", acks_late=True)
def notification_sweep() -> int:
    """The source of truth: due retries, deliveries whose message was lost, stale claims."""
    return services.notification_deliveries_send().attempted
