"""Plumbing tasks (STYLE 5: a task calls one function and is idempotent)."""

from celery import shared_task

from .idempotency import idempotency_keys_purge


@shared_task(name="telemed.idempotency_purge")
def idempotency_purge() -> int:
    return idempotency_keys_purge()
