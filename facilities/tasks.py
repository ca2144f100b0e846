"""Celery tasks of the facilities app."""

from celery import shared_task

from .metrics.facts import facts_catch_up


@shared_task(name="facilities.metrics_catch_up", acks_late=True)
def metrics_catch_up_task() -> dict:
    """The dashboard's facts for the last days (docs/metrics.md). Idempotent: safe twice or late."""
    return {"rows": facts_catch_up()}
