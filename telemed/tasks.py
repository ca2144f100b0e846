"""Plumbing tasks (STYLE 5: a task calls one function and is idempotent)."""

from celery import shared_task

from .idempotency import idempotency_keys_purge


@shared_task(name="telemed.idempotency_purge")
def idempotency_purge() -> int:
    return idempotency_keys_purge()


@shared_task(name="telemed.webhook_deliver")
def webhook_deliver(delivery_ids: list[int]) -> int:
    """The prompt first attempt of fresh (or redelivered) deliveries, sent after their commit."""
    from .webhooks.services import webhook_deliveries_send

    return webhook_deliveries_send(delivery_ids=delivery_ids).attempted


@shared_task(name="telemed.webhook_sweep")
def webhook_sweep() -> int:
    """Every due delivery (retries, lost messages): the source of truth (STYLE 5)."""
    from .webhooks.services import webhook_deliveries_send

    return webhook_deliveries_send().attempted
