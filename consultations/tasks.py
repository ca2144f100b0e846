"""Celery tasks of the consultations app. The sweep is the source of truth for JL-C2 deadlines."""

from celery import shared_task

from .services import obligation_sweep, response_reminder_sweep


@shared_task(name="consultations.obligation_sweep", acks_late=True)
def obligation_sweep_task() -> dict:
    """JL-C2: open art. 22 (1) obligations, remind, record violations. Safe to run twice or late."""
    report = obligation_sweep()
    return {"opened": report.opened, "reminded": report.reminded, "violated": report.violated}


@shared_task(name="consultations.response_reminder_sweep", acks_late=True)
def response_reminder_sweep_task() -> dict:
    """JL-C4: remind the invited coordinators once a sent request has waited past its target."""
    return {"reminded": response_reminder_sweep()}
