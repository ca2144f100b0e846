"""Celery tasks of the audit app: take ids or nothing, call a service, safe to run twice."""

from celery import shared_task

from audit.choices import Outcome
from audit.services import audit_chain_verify, audit_event_append


@shared_task(name="audit.verify_chain")
def audit_verify_chain_task(requested_by_id: int | None = None) -> dict:
    """Verify the chain in the background and record the result as an audit event (JL-A1)."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    report = audit_chain_verify()
    audit_event_append(
        actor=actor,
        event_type="audit.chain.verify",
        outcome=Outcome.SUCCESS if report.intact else Outcome.FAILURE,
        object_type="audit.chain",
        details={"checked": report.checked, "intact": report.intact, "broken_sequence": report.broken_sequence, "problem": report.problem},
    )
    return {"checked": report.checked, "intact": report.intact, "broken_sequence": report.broken_sequence}
