"""The Celery app. The beat schedule lives here so that one file shows every periodic job."""

import logging
import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")

app = Celery("telemed")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

#: Periodic tasks that run every few seconds. Their routine INFO lines ("Sending due task", "received",
#: "succeeded") would fill a worker's log at one line a second each; failures (WARNING and above) stay.
CHATTY_TASKS = ("audit.sequence_chain",)


class RoutineTaskLogFilter(logging.Filter):
    """Drops INFO and lower records that only say a chatty periodic task was sent, received or succeeded."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(name in message for name in CHATTY_TASKS)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _quiet_routine_tasks(logger=None, **_kwargs):
    for handler in getattr(logger, "handlers", ()):
        if not any(isinstance(f, RoutineTaskLogFilter) for f in handler.filters):
            handler.addFilter(RoutineTaskLogFilter())


def _beat_schedule() -> dict:
    """Every periodic job, in one place; each is idempotent and the source of truth (STYLE 5)."""
    from celery.schedules import crontab
    from django.conf import settings

    return {
        "jl-b4-monthly-statements": {
            "task": "billing.draft_statements",
            # CELERY_TIMEZONE is Asia/Shanghai: the 1st of each month at 02:00 Beijing time.
            "schedule": crontab(minute=0, hour=2, day_of_month=1),
        },
        "jl-b6-monthly-payouts": {
            "task": "billing.draft_payouts",
            # The 2nd at 03:00 Beijing time: after the statements and any late charge of the 1st.
            "schedule": crontab(minute=0, hour=3, day_of_month=2),
        },
        "jl-c4-response-reminders": {
            "task": "consultations.response_reminder_sweep",
            "schedule": float(settings.TELEMED_SWEEP_SECONDS),
            "options": {"expires": float(settings.TELEMED_SWEEP_SECONDS)},
        },
        "jl-c2-obligation-sweep": {
            "task": "consultations.obligation_sweep",
            "schedule": float(settings.TELEMED_SWEEP_SECONDS),
            # A sweep that could not start in time is replaced by the next one, not queued up.
            "options": {"expires": float(settings.TELEMED_SWEEP_SECONDS)},
        },
        "jl-a1-audit-sequencer": {
            # Issue 11: chain the committed audit events (writers also nudge it after each commit).
            "task": "audit.sequence_chain",
            "schedule": float(settings.TELEMED_AUDIT_SEQUENCER_SECONDS),
            "options": {"expires": float(settings.TELEMED_AUDIT_SEQUENCER_SECONDS)},
        },
        "jl-a1-audit-checkpoint": {
            "task": "audit.checkpoint_daily",
            # Hourly; the task signs at most one checkpoint a Beijing day (audit.services.audit_checkpoint_daily).
            "schedule": crontab(minute=41),
            "options": {"expires": 3600.0},
        },
        "jl-o2-qc-access-expire": {
            "task": "audit.qc_access_expire",
            "schedule": crontab(minute=23),  # hourly: reviewers' grants past their review period (audit.qc)
            "options": {"expires": 3600.0},
        },
        "api-idempotency-purge": {
            "task": "telemed.idempotency_purge",
            "schedule": crontab(minute=17),  # hourly: expired Idempotency-Keys (telemed.idempotency)
        },
        "webhook-delivery-sweep": {
            "task": "telemed.webhook_sweep",
            "schedule": float(settings.TELEMED_WEBHOOK_SWEEP_SECONDS),
            "options": {"expires": float(settings.TELEMED_WEBHOOK_SWEEP_SECONDS)},
        },
        "notification-delivery-sweep": {  # issue 12: e-mail/SMS retries and lost messages
            "task": "notifications.sweep",
            "schedule": float(settings.TELEMED_NOTIFY_SWEEP_SECONDS),
            "options": {"expires": float(settings.TELEMED_NOTIFY_SWEEP_SECONDS)},
        },
        "metrics-facts-catch-up": {
            "task": "facilities.metrics_catch_up",
            "schedule": float(settings.TELEMED_METRICS_CATCHUP_SECONDS),
            "options": {"expires": float(settings.TELEMED_METRICS_CATCHUP_SECONDS)},
        },
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender, **_kwargs):
    sender.conf.beat_schedule = _beat_schedule()

REQUEST_ID_HEADER = "telemed_request_id"


@before_task_publish.connect
def _carry_request_id(headers=None, **_kwargs):
    """Put the current request id on every task enqueued while handling a request."""
    from telemed.context import current

    ctx = current()
    if headers is not None and ctx.request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = ctx.request_id


@task_prerun.connect
def _enter_task_context(task=None, **_kwargs):
    from telemed.context import enter_task

    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task is not None else None
    if request_id is None and task is not None:
        request_id = (task.request.headers or {}).get(REQUEST_ID_HEADER) if task.request.headers else None
    enter_task(task_name=task.name if task else "", request_id=request_id)


@task_postrun.connect
def _leave_task_context(**_kwargs):
    from telemed.context import leave_task

    leave_task()
