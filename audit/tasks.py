"""Celery tasks of the audit app: take ids, call a service, safe to run twice."""

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit import rules
from audit.choices import Outcome
from audit.models import VerificationRun
from audit.selectors import chain_length
from audit.services import (
    audit_chain_sequence,
    audit_chain_verify,
    audit_checkpoint_daily,
    audit_event_append,
)

from .choices import EventType

PROGRESS_EVERY = 2000


class ClaimLost(Exception):
    """Another worker took the run over (or a user replaced it): stop walking, write nothing."""


def _progress(run: VerificationRun, checked: int) -> None:
    """Store progress and beat the heart, only while this worker still holds the run."""
    held = VerificationRun.objects.filter(pk=run.pk, state=VerificationRun.State.RUNNING, started_at=run.started_at)
    if held.update(checked=checked, heartbeat_at=timezone.now()) != 1:
        raise ClaimLost(run.pk)


def _run_verification(run: VerificationRun | None, actor, *, taken_over: bool = False) -> rules.ChainReport:
    """Walk the chain (streamed) and, when a run is given, store progress as it goes."""
    # Issue 11: the chain, then the events not yet chained (their content against their leaf hashes).
    if run is None:
        report = audit_chain_verify()
    else:
        report = audit_chain_verify(progress=lambda checked: _progress(run, checked), progress_every=PROGRESS_EVERY)
    details = {"checked": report.checked, "intact": report.intact, "broken_sequence": report.broken_sequence, "problem": report.problem}
    if taken_over:
        details["taken_over"] = True
    audit_event_append(
        actor=actor,
        event_type=EventType.AUDIT_CHAIN_VERIFY,
        outcome=Outcome.SUCCESS if report.intact else Outcome.FAILURE,
        object_type="audit.verificationrun" if run else "audit.chain",
        object_id=run.pk if run else "",
        details=details,
    )
    return report


def _claim(run_id: int) -> tuple[VerificationRun | None, bool]:
    """Claim a queued run, or take over a running one whose worker has gone silent (its message
    redelivered after the worker was killed), each with a compare-and-swap. Returns (run, taken_over)."""
    now = timezone.now()
    claim = {"state": VerificationRun.State.RUNNING, "started_at": now, "heartbeat_at": now, "checked": 0,
             "total": chain_length()}
    if VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.QUEUED).update(**claim) == 1:
        return VerificationRun.objects.get(pk=run_id), False
    silent_since = now - dt.timedelta(seconds=settings.TELEMED_VERIFY_TIMEOUT_SECONDS)
    run = VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.RUNNING).first()
    if run is None or not run.is_stale(now):
        return None, False
    stale = VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.RUNNING, heartbeat_at=run.heartbeat_at)
    if run.heartbeat_at is None:
        stale = stale.filter(started_at__lt=silent_since)
    if stale.update(**claim) != 1:
        return None, False
    return VerificationRun.objects.get(pk=run_id), True


@shared_task(name="audit.verify_chain")
def audit_verify_chain_task(run_id: int | None = None, requested_by_id: int | None = None) -> dict:
    """Verify the chain in the background (JL-A1). A redelivered message does not walk a live run
    twice, yet takes over a run whose worker died (heartbeat older than the time-out)."""
    from django.contrib.auth import get_user_model

    run = None
    taken_over = False
    if run_id is not None:
        run, taken_over = _claim(run_id)
        if run is None:
            return {"skipped": run_id}
        requested_by_id = run.requested_by_id
    actor = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        report = _run_verification(run, actor, taken_over=taken_over)
    except ClaimLost:
        return {"abandoned": run_id}
    except Exception as exc:
        if run is not None:
            VerificationRun.objects.filter(pk=run.pk, state=VerificationRun.State.RUNNING, started_at=run.started_at).update(
                state=VerificationRun.State.FAILED, finished_at=timezone.now(), problem=str(exc)[:1000])
        raise
    if run is not None:
        VerificationRun.objects.filter(pk=run.pk, state=VerificationRun.State.RUNNING, started_at=run.started_at).update(
            state=VerificationRun.State.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now(), checked=report.checked,
            intact=report.intact, broken_sequence=report.broken_sequence, problem=report.problem,
        )
    return {"checked": report.checked, "intact": report.intact, "broken_sequence": report.broken_sequence}


@shared_task(name="audit.sequence_chain")
def audit_chain_sequence_task() -> dict:
    """Chain the committed events not yet in the chain (JL-A1; issue 11). The beat sends it every
    ``TELEMED_AUDIT_SEQUENCER_SECONDS`` and writers nudge it after their commits; one sequencer works at
    a time (the others give up at once: the one working takes their events too), so any number of
    copies of the message is harmless."""
    return {"chained": len(audit_chain_sequence(wait=False))}


@shared_task(name="audit.checkpoint_daily")
def audit_checkpoint_daily_task() -> dict:
    """Sign the day's checkpoint of the log (JL-A1; issue 11). The beat sends it hourly; the service
    signs at most once a Beijing day, so a lost or redelivered message is harmless."""
    checkpoint = audit_checkpoint_daily()
    return {"checkpoint": checkpoint.pk, "size": checkpoint.size} if checkpoint else {"skipped": True}


@shared_task(name="audit.qc_access_expire")
def qc_access_expire_task() -> dict:
    """JL-O2/JL-C8: remove quality-control reviewers' case grants whose review period has ended. The
    beat sends it hourly; ``visible_to`` already ignores an ended grant, so a lost message delays
    only the tidying, never the end of access. Idempotent."""
    from audit.qc import qc_access_expire

    return {"removed": qc_access_expire()}
