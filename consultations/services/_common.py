"""Helpers shared by the consultations services: who the actor is on a case, notifications."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_refusal
from facilities.models import Suspension
from telemed.errors import ApplicationError
from telemed.scope import Scope

from .. import rules
from ..models import Consultation, Notification
from ..selectors import case_actor


def deny(message: str) -> ApplicationError:
    return ApplicationError("permission_denied", message, status=403)


def suspended_ids(*facility_ids: int) -> set[int]:
    return set(
        Suspension.objects.filter(facility_id__in=facility_ids, lifted_at__isnull=True).values_list("facility_id", flat=True)
    )


def refuse_on_record(error: ApplicationError, *, actor, consultation: Consultation, event_type: EventType, act: str) -> ApplicationError:
    """A refusal on this case that the regulator wants on record (JL-A1): one failure event with
    the actor, the case and the reason, kept even though the act rolls back."""
    scope = Scope.of(actor)
    facility_ids = [consultation.inviting_id, consultation.invited_id]
    acting = next((f for f in facility_ids if f in scope.facility_roles), None)
    return audit_refusal(
        error, actor=actor, event_type=event_type, obj=consultation, acting_facility_id=acting,
        acting_division_code="" if acting or not scope.regulated else scope.regulated[0][0],
        facility_ids=facility_ids, details={"consultation": consultation.number, "act": act},
    )


def require_not_sealed(consultation: Consultation, *, actor, act: str) -> None:
    """JL-C8 (art. 37): a sealed record is read-only for everyone, through every interface.

    Every refused attempt is on record (``record.change.refuse``, outcome failure, JL-A1)."""
    from audit.records import is_sealed

    if is_sealed(consultation.pk):
        error = ApplicationError("JL-C8", _("JL-C8 第三十七条: 该病历已封存，封存期间任何人不得修改；启封须双方在场。"), status=409)
        raise refuse_on_record(error, actor=actor, consultation=consultation, event_type=EventType.RECORD_CHANGE_REFUSE, act=act)


# Refusals of a case's move that the regulator wants on record: the facility may not take part
# (JL-F1 accreditation, JL-F5 suspension), is not qualified (JL-F2) or has no agreement (JL-F3).
FACILITY_RULES = frozenset({"JL-F1", "JL-F2", "JL-F3", "JL-F5"})


def refuse_facility_checks(actor, consultation: Consultation, checks, *, act: str) -> None:
    """Refuse with every failing check; a failing JL-F check is on record (``facility.check.refuse``)."""
    from telemed.checks import failing

    bad = failing(checks)
    if not bad:
        return
    error = ApplicationError.from_reasons(bad)
    if any(c.rule in FACILITY_RULES for c in bad):
        error = refuse_on_record(error, actor=actor, consultation=consultation, event_type=EventType.FACILITY_CHECK_REFUSE, act=act)
    raise error


def require_transition(user, consultation: Consultation, action: str) -> rules.Edge:
    require_not_sealed(consultation, actor=user, act=action)
    suspended = suspended_ids(consultation.inviting_id, consultation.invited_id)
    decision = rules.decide_transition(
        state=consultation.state,
        action=action,
        category=consultation.service_type.category,
        actor=case_actor(user=user, consultation=consultation),
        inviting_suspended=consultation.inviting_id in suspended,
        invited_suspended=consultation.invited_id in suspended,
    )
    if not decision.allowed:
        error = ApplicationError(
            decision.code, decision.message, {"reasons": [c.as_dict() for c in decision.reasons]}, status=decision.status
        )
        if decision.code in FACILITY_RULES:
            error = refuse_on_record(error, actor=user, consultation=consultation, event_type=EventType.FACILITY_CHECK_REFUSE, act=action)
        raise error
    return decision.edge


def move(consultation: Consultation, edge: rules.Edge, **fields) -> Consultation:
    """Compare-and-swap the state so two concurrent actions cannot both win."""
    now_fields = {"state": edge.target, **fields}
    updated = Consultation.objects.filter(pk=consultation.pk, state=consultation.state).update(**now_fields)
    if updated != 1:
        raise ApplicationError("conflict", _("该申请刚刚被他人处理，请刷新后重试。"), status=409)
    for name, value in now_fields.items():
        setattr(consultation, name, value)
    return consultation


def notify(*, facility_id: int, roles, message_key: str = "", params: dict | None = None, link: str = "", dedupe_key: str = "",
           extra_users=(), kind: str = "", subject: str = "", body: str = "") -> int:
    """In-app notification to the facility's users holding ``roles`` (and ``extra_users``), and the
    e-mail/SMS each chose, sent after commit (issue 12, ``notifications.services.notify``): the row
    keeps ``message_key`` and ``params``, rendered in the reader's language when shown.
    ``dedupe_key`` makes a repeated notification (a redelivered task) a no-op. (``subject``/``body``
    instead of a key: the old fixed text, still accepted; see ``notifications.services.notify``.)"""
    from notifications.services import notify as notify_users

    return notify_users(
        message_key=message_key, params=params, facility_id=facility_id, roles=roles,
        user_ids=[u.pk for u in extra_users if u is not None], link=link, dedupe_key=dedupe_key, kind=kind,
        subject=subject, body=body,
    )


def notifications_mark_read(*, actor, notification_ids=None) -> int:
    """Mark the actor's own notifications read (all unread ones when no ids are given)."""
    unread = Notification.objects.filter(user=actor, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timezone.now())
