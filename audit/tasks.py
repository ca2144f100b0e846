"""Celery tasks of the audit app: take ids, call a service, safe to run twice."""

from celery import shared_task
from django.utils import timezone

from audit import rules
from audit.choices import Outcome
from audit.models import AuditEvent, VerificationRun
from audit.services import audit_event_append

from .choices import EventType

PROGRESS_EVERY = 2000


def _run_verification(run: VerificationRun | None, actor) -> rules.ChainReport:
    """Walk the chain (streamed) and, when a run is given, store progress as it goes."""
    fields = (*rules.HASHED_FIELDS, "prev_hash", "hash")
    rows = AuditEvent.objects.order_by("sequence").values(*fields).iterator(chunk_size=5000)

    def counted():
        for n, row in enumerate(rows, start=1):
            if run is not None and n % PROGRESS_EVERY == 0:
                VerificationRun.objects.filter(pk=run.pk).update(checked=n)
            yield row

    report = rules.verify_chain(counted())
    audit_event_append(
        actor=actor,
        event_type=EventType.AUDIT_CHAIN_VERIFY,
        outcome=Outcome.SUCCESS if report.intact else Outcome.FAILURE,
        object_type="audit.verificationrun" if run else "audit.chain",
        object_id=run.pk if run else "",
        details={"checked": report.checked, "intact": report.intact, "broken_sequence": report.broken_sequence, "problem": report.problem},
    )
    return report


@shared_task(name="audit.verify_chain")
def audit_verify_chain_task(run_id: int | None = None, requested_by_id: int | None = None) -> dict:
    """Verify the chain in the background (JL-A1); claims its run with a compare-and-swap so a
    redelivered message does not walk it twice."""
    from django.contrib.auth import get_user_model

    run = None
    if run_id is not None:
        claimed = VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.QUEUED).update(
            state=VerificationRun.State.RUNNING, started_at=timezone.now(), total=AuditEvent.objects.count()
        )
        if claimed != 1:
            return {"skipped": run_id}
        run = VerificationRun.objects.get(pk=run_id)
        requested_by_id = run.requested_by_id
    actor = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        report = _run_verification(run, actor)
    except Exception as exc:
        if run is not None:
            VerificationRun.objects.filter(pk=run.pk).update(state=VerificationRun.State.FAILED, finished_at=timezone.now(), problem=str(exc)[:1000])
        raise
    if run is not None:
        VerificationRun.objects.filter(pk=run.pk).update(
            state=VerificationRun.State.DONE, finished_at=timezone.now(), checked=report.checked, intact=report.intact,
            broken_sequence=report.broken_sequence, problem=report.problem,
        )
    return {"checked": report.checked, "intact": report.intact, "broken_sequence": report.broken_sequence}
