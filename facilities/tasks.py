"""Celery tasks of the facilities app."""

from celery import shared_task

from .metrics.facts import facts_catch_up


@shared_task(name="facilities.metrics_catch_up", acks_late=True)
def metrics_catch_up_task() -> dict:
    """The dashboard's facts for the last days (docs/metrics.md). Idempotent: safe twice or late."""
    return {"rows": facts_catch_up()}


@shared_task(name="facilities.metrics_refresh", acks_late=True)
def metrics_refresh_task(event_id: int) -> dict:
    """The facts of the slices one audit event changed (docs/metrics.md), recomputed from the raw
    rows: idempotent, so a repeated or late task changes nothing."""
    from .metrics.events import metrics_refresh_for_event

    return {"rows": metrics_refresh_for_event(event_id)}
