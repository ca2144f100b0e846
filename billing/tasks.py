"""Celery tasks of the billing app."""

from celery import shared_task
from django.utils import timezone

from . import rules
from .services import payouts_draft_month, statements_draft


@shared_task(name="billing.draft_statements", acks_late=True)
def draft_statements_task(period: str | None = None) -> dict:
    """JL-B4: draft last month's statements (beat: the 1st at 02:00 Beijing time). Idempotent, so a
    re-run, a duplicate delivery or a catch-up run after an outage never duplicates anything."""
    if period:
        year, month = (int(x) for x in period.split("-"))
        first = timezone.datetime(year, month, 1).date()
    else:
        first = rules.previous_month(rules.month_of(timezone.now()))
    drafted = statements_draft(period_start=first)
    return {"period": f"{first:%Y-%m}", "statements": [s.pk for s in drafted]}


@shared_task(name="billing.draft_payouts", acks_late=True)
def draft_payouts_task(period: str | None = None) -> dict:
    """JL-B6: draft last month's per-person payout reports (beat: the 2nd at 03:00 Beijing time),
    one facility at a time in batches. Idempotent: an unchanged month writes nothing."""
    if period:
        year, month = (int(x) for x in period.split("-"))
        first = timezone.datetime(year, month, 1).date()
    else:
        first = rules.previous_month(rules.month_of(timezone.now()))
    return payouts_draft_month(month=first)
