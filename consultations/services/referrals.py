"""Two-way referral through a green channel (JL-C10, art. 9).

The facility that receives the patient offers the place; the facility the patient leaves confirms
it and records the transfer (``rules.REFERRAL_EDGES``). Every step is audited (``referral.*``), and
every refusal a regulator would want — not recommended, too early, a second open referral, a
suspended facility (JL-F5), a time in the past, a step outside the table — is on record as
``referral.refuse`` even though the act rolls back. A role refusal (403) and input errors are not.
"""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType
from audit.services import audit_event_append, audit_refusal
from facilities.choices import StaffRole
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from .. import rules
from ..choices import ReferralDirection, ReferralKind, ReferralState
from ..models import Consultation, Referral
from ._common import notify, require_not_sealed, suspended_ids

DEPARTMENT_MAX = 100  # Referral.department
NOTIFIED = (StaffRole.COORDINATOR, StaffRole.CLINICIAN)


def _refuse(error: ApplicationError, *, actor, consultation: Consultation, act: str, direction: str, referral=None) -> ApplicationError:
    """Put a JL-C10 refusal on record (``referral.refuse``, JL-A1)."""
    scope = Scope.of(actor)
    facility_ids = [consultation.inviting_id, consultation.invited_id]
    acting = next((f for f in facility_ids if f in scope.facility_roles), None)
    return audit_refusal(
        error, actor=actor, event_type=EventType.REFERRAL_REFUSE, obj=referral or consultation,
        acting_facility_id=acting, facility_ids=facility_ids,
        details={"consultation": consultation.number, "act": act, "direction": direction,
                 "referral": referral.pk if referral is not None else None},
    )


def _audit(actor, referral: Referral, event_type: EventType, *, acting_facility_id: int, details=None):
    consultation = referral.consultation
    return audit_event_append(
        actor=actor, event_type=event_type, obj=referral, acting_facility_id=acting_facility_id,
        facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, "direction": referral.direction, "state": referral.state, **(details or {})},
    )


def _notify(referral: Referral, *, facility_id: int, message_key: str, **params) -> None:
    notify(
        facility_id=facility_id, roles=NOTIFIED, message_key=message_key, params={"n": referral.consultation.number, **params},
        link=reverse("consultations:detail", args=[referral.consultation_id]) + "#referrals",
        dedupe_key=f"referral:{referral.pk}:{referral.state}",
    )


@service_transaction()
def referral_offer(
    *, actor, consultation: Consultation, direction: str, department: str, kind: str, scheduled_for: datetime, note: str = "",
) -> Referral:
    """JL-C10: the receiving facility offers a place (department, appointment or bed, time).

    Up (green channel to the invited facility) once the current signed opinion or report
    recommends transfer; down (back to the inviting facility) once the up transfer is recorded.
    """
    consultation = Consultation.objects.select_for_update().get(pk=consultation.pk)
    require_not_sealed(consultation, actor=actor, act="referral_offer")
    if direction not in ReferralDirection.values or kind not in ReferralKind.values:
        raise ApplicationError("invalid", _("转诊方向或安排方式无效。"))
    sending_id, receiving_id = rules.referral_parties(direction, inviting_id=consultation.inviting_id, invited_id=consultation.invited_id)
    latest = consultation.opinions.order_by("-version").first()
    referrals = list(consultation.referrals.values_list("direction", "state"))
    suspended = suspended_ids(sending_id, receiving_id)
    decision = rules.decide_referral_offer(
        direction=direction,
        receiving_roles=Scope.of(actor).facility_roles.get(receiving_id, frozenset()),
        consultation_state=consultation.state,
        recommends_transfer=bool(latest and latest.recommends_transfer),
        up_transferred=(ReferralDirection.UP, ReferralState.TRANSFERRED) in referrals,
        open_in_direction=any(d == direction and s in (ReferralState.OFFERED, ReferralState.CONFIRMED) for d, s in referrals),
        sending_suspended=sending_id in suspended,
        receiving_suspended=receiving_id in suspended,
    )
    if not decision.allowed:
        error = ApplicationError(decision.code, decision.message, status=decision.status)
        if decision.status == 403:
            raise error
        raise _refuse(error, actor=actor, consultation=consultation, act="offer", direction=direction)
    department = clean_text(department or "", keep_lines=False).strip()
    if not department:
        raise ApplicationError("invalid", _("JL-C10: 请填写接收科室。"), {"field": "department"})
    if len(department) > DEPARTMENT_MAX:
        raise ApplicationError("invalid", _("JL-C10: 接收科室请控制在 %(n)d 字以内。") % {"n": DEPARTMENT_MAX}, {"field": "department"})
    now = timezone.now()
    if not rules.referral_time_ok(scheduled_for, now=now):
        error = ApplicationError(
            "referral_time_past",
            _("JL-C10 第九条: 预约或入院时间不能早于当前时间（所填时间 %(t)s）。") % {"t": f"{timezone.localtime(scheduled_for):%Y-%m-%d %H:%M}"},
            {"field": "scheduled_for"},
        )
        raise _refuse(error, actor=actor, consultation=consultation, act="offer", direction=direction)
    referral = Referral.objects.create(
        consultation=consultation,
        opinion=latest if direction == ReferralDirection.UP else None,
        direction=direction,
        sending_id=sending_id,
        receiving_id=receiving_id,
        department=department,
        kind=kind,
        scheduled_for=scheduled_for,
        note=clean_text(note or "").strip(),
        offered_by=actor,
        offered_at=now,
    )
    _audit(actor, referral, EventType.REFERRAL_OFFER, acting_facility_id=receiving_id,
           details={"department": department, "kind": kind, "scheduled_for": scheduled_for,
                    "opinion": referral.opinion_id})
    local = timezone.localtime(scheduled_for)
    _notify(referral, facility_id=sending_id,
            message_key="referral.offered", d=referral.direction, dept=department, t=f"{local:%Y-%m-%d %H:%M}")
    return referral


def _step(*, actor, referral: Referral, action: str, reason: str | None = None) -> tuple[Referral, rules.ReferralEdge]:
    """Lock the referral, decide the step by ``rules.REFERRAL_EDGES`` and move it by compare-and-swap."""
    referral = Referral.objects.select_for_update().select_related("consultation").get(pk=referral.pk)
    consultation = referral.consultation
    require_not_sealed(consultation, actor=actor, act=f"referral_{action}")
    scope = Scope.of(actor)
    suspended = suspended_ids(referral.sending_id, referral.receiving_id)
    decision = rules.decide_referral_step(
        state=referral.state, action=action,
        sending_roles=scope.facility_roles.get(referral.sending_id, frozenset()),
        receiving_roles=scope.facility_roles.get(referral.receiving_id, frozenset()),
        sending_suspended=referral.sending_id in suspended, receiving_suspended=referral.receiving_id in suspended,
    )
    if not decision.allowed:
        error = ApplicationError(decision.code, decision.message, status=decision.status)
        if decision.status == 403:
            raise error
        raise _refuse(error, actor=actor, consultation=consultation, act=action, direction=referral.direction, referral=referral)
    now = timezone.now()
    fields: dict = {"state": decision.edge.target}
    if action == "confirm":
        fields.update(confirmed_by=actor, confirmed_at=now)
    elif action == "transfer":
        fields.update(transferred_by=actor, transferred_at=now)
    else:
        reason = clean_text(reason or "").strip()
        if not reason:
            raise ApplicationError("referral_reason_required", _("JL-C10: 谢绝或取消转诊须写明理由。"), {"field": "reason"})
        fields.update(ended_by=actor, ended_at=now, end_reason=reason)
    if Referral.objects.filter(pk=referral.pk, state=referral.state).update(**fields) != 1:
        raise ApplicationError("conflict", _("该转诊刚刚被他人处理，请刷新后重试。"), status=409)
    for name, value in fields.items():
        setattr(referral, name, value)
    return referral, decision.edge


def _acting(referral: Referral, edge: rules.ReferralEdge) -> int:
    return referral.sending_id if edge.party == "sending" else referral.receiving_id


def _other(referral: Referral, facility_id: int) -> int:
    return referral.receiving_id if facility_id == referral.sending_id else referral.sending_id


@service_transaction()
def referral_confirm(*, actor, referral: Referral) -> Referral:
    """JL-C10: the sending facility confirms the place offered."""
    referral, edge = _step(actor=actor, referral=referral, action="confirm")
    _audit(actor, referral, EventType.REFERRAL_CONFIRM, acting_facility_id=referral.sending_id)
    _notify(referral, facility_id=referral.receiving_id,
            message_key="referral.confirmed")
    return referral


@service_transaction()
def referral_transfer(*, actor, referral: Referral) -> Referral:
    """JL-C10: the sending facility records that the patient has left for the receiving one."""
    referral, edge = _step(actor=actor, referral=referral, action="transfer")
    _audit(actor, referral, EventType.REFERRAL_TRANSFER, acting_facility_id=referral.sending_id)
    _notify(referral, facility_id=referral.receiving_id,
            message_key="referral.transferred")
    return referral


@service_transaction()
def referral_decline(*, actor, referral: Referral, reason: str) -> Referral:
    """JL-C10: the sending facility declines the place offered, with a reason."""
    referral, edge = _step(actor=actor, referral=referral, action="decline", reason=reason)
    _audit(actor, referral, EventType.REFERRAL_DECLINE, acting_facility_id=referral.sending_id, details={"reason": referral.end_reason})
    _notify(referral, facility_id=referral.receiving_id,
            message_key="referral.declined", r=referral.end_reason[:80])
    return referral


@service_transaction()
def referral_cancel(*, actor, referral: Referral, reason: str) -> Referral:
    """JL-C10: either facility cancels an open referral (the receiving one while it is only offered), with a reason."""
    referral, edge = _step(actor=actor, referral=referral, action="cancel", reason=reason)
    acting = _acting(referral, edge)
    _audit(actor, referral, EventType.REFERRAL_CANCEL, acting_facility_id=acting, details={"reason": referral.end_reason})
    _notify(referral, facility_id=_other(referral, acting),
            message_key="referral.cancelled", r=referral.end_reason[:80])
    return referral
