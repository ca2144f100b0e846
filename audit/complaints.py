"""Services of complaints about a facility's telemedicine (JL-O6).

Every write goes through here with its audit event in the same transaction; refusals are on record
(JL-A1). The graph of acts is ``complaint_rules.EDGES``: the facility's administrators and
coordinators acknowledge, investigate and answer with a finding; the regulators over the facility
(JL-O1) add notes and may override the finding with a reason.

A complaint comes in through the public form (no account: ``actor`` is None) or is entered by the
facility's handlers or a regulator over it (a complaint received by phone or in person).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from facilities.choices import AccreditationStatus
from facilities.models import Facility
from telemed.checks import Check, failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.text import clean_text
from telemed.transactions import service_transaction

from . import complaint_rules as rules
from .choices import ComplaintChannel, ComplaintState, ComplaintStepKind, EventType
from .complaint_models import HANDLERS, Complaint, ComplaintStep
from .services import audit_event_append, audit_refusal

STEP_EVENTS = {
    "acknowledge": EventType.COMPLAINT_ACKNOWLEDGE,
    "investigate": EventType.COMPLAINT_INVESTIGATE,
    "answer": EventType.COMPLAINT_ANSWER,
    "note": EventType.COMPLAINT_NOTE,
    "override": EventType.COMPLAINT_OVERRIDE,
}


def case_number_error() -> ApplicationError:
    """One answer for a case number that does not exist and one that belongs to another facility
    (JL-C9: the form must not tell whether a number exists elsewhere)."""
    return ApplicationError(rules.RULE, _("JL-O6: 所选机构没有这个远程医疗申请编号，请核对；不清楚可以不填。"),
                            {"field": "case_number"})


def _refuse(error: ApplicationError, *, actor, facility_id: int, complaint: Complaint | None = None,
            details: dict | None = None) -> ApplicationError:
    return audit_refusal(
        error, actor=actor, event_type=EventType.COMPLAINT_REFUSE, obj=complaint,
        object_type="" if complaint is not None else "audit.complaint", facility_ids=[facility_id], details=details,
    )


def _division_code(scope: Scope, facility: Facility) -> str:
    """The regulated division on whose behalf a regulator acts on this facility (the nearest one)."""
    codes = [code for code, prefix in scope.regulated if facility.division_id.startswith(prefix)]
    return max(codes, key=len) if codes else (scope.regulated[0][0] if scope.regulated else "")


def _new_tracking_number() -> str:
    day = timezone.localdate()
    for _attempt in range(20):
        number = rules.tracking_number(day=day, digits=secrets.randbelow(10**rules.TRACKING_DIGITS))
        if not Complaint.objects.filter(tracking_number=number).exists():
            return number
    raise ApplicationError("conflict", _("投诉编号生成失败，请稍后再试。"), status=409)


def _notify_new(complaint: Complaint) -> None:
    """The facility's handlers and the regulators over it learn of a new complaint (no content in the
    notice: the tracking number and a link)."""
    from consultations.services._common import notify
    from facilities.equipment import regulators_to_tell

    regulators = get_user_model().objects.filter(pk__in=regulators_to_tell(complaint.facility))
    notify(
        facility_id=complaint.facility_id, roles=HANDLERS,
        subject=_("新投诉 %(number)s：请在期限内确认收到并答复（JL-O6）") % {"number": complaint.tracking_number},
        link=reverse("audit:complaint-detail", args=[complaint.pk]), dedupe_key=f"complaint:{complaint.pk}",
        extra_users=list(regulators),
    )


@service_transaction()
def complaint_receive(
    *, actor=None, facility: Facility, complainant_name: str, complainant_phone: str, relation: str, text: str,
    case_number: str = "", received_at=None,
) -> Complaint:
    """JL-O6: take in a complaint. ``actor`` None is the public form; a user is a staff entry, by the
    facility's handlers or a regulator over it. A staff entry may give when the complaint came in (by
    phone or in person, entered later); the deadlines run from then. Never in the future."""
    staff_entry = actor is not None and getattr(actor, "is_authenticated", False)
    scope = Scope.of(actor)
    if staff_entry and not (scope.has_role(facility.pk, *HANDLERS)
                            or scope.regulates(facility.division_id)):
        raise _refuse(ApplicationError(
            "permission_denied", _("JL-O6: 只有被投诉机构的管理员、远程医疗专职管理人员或其监管部门可以登记投诉。"), status=403),
            actor=actor, facility_id=facility.pk)
    if not staff_entry and facility.accreditation_status != AccreditationStatus.APPROVED:
        raise ApplicationError(rules.RULE, _("JL-O6: 请从列表中选择开展远程医疗服务的机构。"), {"field": "facility"})
    name = clean_text(complainant_name).strip()[:50]
    phone = rules.normalise_phone(clean_text(complainant_phone))
    text = clean_text(text).strip()
    checks = rules.phone_checks(phone) + [
        Check(rules.RULE, rules.ARTICLE, _("须填写投诉人姓名"), bool(name)),
        Check(rules.RULE, rules.ARTICLE, _("须写明投诉内容"), bool(text)),
    ]
    bad = failing(checks)
    if bad:
        raise ApplicationError.from_reasons(bad)
    consultation = None
    case_number = clean_text(case_number).strip().upper()
    if case_number:
        from consultations.models import Consultation

        consultation = Consultation.objects.filter(
            Q(inviting=facility) | Q(invited=facility), number=case_number
        ).first()
        if consultation is None:
            raise _refuse(case_number_error(), actor=actor if staff_entry else None, facility_id=facility.pk,
                          details={"case_number_not_at_facility": True})
    now = timezone.now()
    if received_at is not None and (not staff_entry or received_at > now):
        raise ApplicationError(rules.RULE, _("JL-O6: 受理时间不能晚于现在。"), {"field": "received_at"})
    now = received_at or now
    ack_due, answer_due = rules.deadlines(
        received_at=now, ack_days=settings.TELEMED_COMPLAINT_ACK_DAYS, answer_days=settings.TELEMED_COMPLAINT_ANSWER_DAYS
    )
    complaint = Complaint.objects.create(
        tracking_number=_new_tracking_number(), facility=facility, consultation=consultation,
        complainant_name=name, complainant_phone=phone, relation=relation, text=text,
        channel=ComplaintChannel.STAFF_ENTRY if staff_entry else ComplaintChannel.PUBLIC_FORM,
        received_at=now, received_by=actor if staff_entry else None, ack_due_at=ack_due, answer_due_at=answer_due,
    )
    ComplaintStep.objects.create(complaint=complaint, kind=ComplaintStepKind.RECEIVE, at=now,
                                 by=actor if staff_entry else None,
                                 by_regulator=staff_entry and not scope.has_role(facility.pk, *HANDLERS))
    audit_event_append(
        actor=actor if staff_entry else None, event_type=EventType.COMPLAINT_RECEIVE, obj=complaint,
        acting_facility_id=facility.pk if staff_entry and scope.has_role(facility.pk, *HANDLERS) else None,
        facility_ids=[facility.pk],
        details={"channel": complaint.channel, "consultation": consultation.pk if consultation else None,
                 "ack_due_at": ack_due.isoformat(), "answer_due_at": answer_due.isoformat()},
    )
    _notify_new(complaint)
    return complaint


def _act(*, actor, complaint: Complaint, act: str, text: str = "", substantiated: bool | None = None) -> Complaint:
    edge = rules.edge_for(act)
    scope = Scope.of(actor)
    complaint = Complaint.objects.select_for_update().select_related("facility").get(pk=complaint.pk)
    facility = complaint.facility
    handler = scope.has_role(facility.pk, *HANDLERS)
    regulator = scope.regulates(facility.division_id) if scope.is_regulator else False
    allowed = handler if edge.by == rules.HANDLER else regulator
    if not allowed:
        who = (_("被投诉机构的管理员或远程医疗专职管理人员") if edge.by == rules.HANDLER else _("该机构的监管部门"))
        raise _refuse(ApplicationError(
            "permission_denied", _("JL-O6: 只有%(who)s可以办理“%(act)s”。") % {"who": who, "act": edge.label}, status=403),
            actor=actor, facility_id=facility.pk, complaint=complaint, details={"act": act})
    text = clean_text(text).strip()
    checks = rules.act_checks(act=act, state=complaint.state, text=text, substantiated=substantiated)
    if act == "override":
        checks += rules.override_checks(current=complaint.substantiated, new=substantiated)
    bad = failing(checks)
    if bad:
        raise _refuse(ApplicationError.from_reasons(bad, status=409 if not checks[0].passed else 400),
                      actor=actor, facility_id=facility.pk, complaint=complaint, details={"act": act})
    now = timezone.now()
    before = complaint.state
    fields = []
    if edge.target is not None and edge.target != complaint.state:
        complaint.state = edge.target
        fields.append("state")
    if act == "acknowledge":
        complaint.acknowledged_at = now
        fields.append("acknowledged_at")
    if act == "answer":
        complaint.answered_at, complaint.answer, complaint.substantiated = now, text, substantiated
        fields += ["answered_at", "answer", "substantiated"]
        if complaint.acknowledged_at is None:
            complaint.acknowledged_at = now
            fields.append("acknowledged_at")
    previous_finding = complaint.substantiated
    if act == "override":
        complaint.substantiated = substantiated
        fields.append("substantiated")
    if fields:
        complaint.save(update_fields=fields)
    step = ComplaintStep.objects.create(
        complaint=complaint, kind=act, at=now, by=actor, by_regulator=edge.by == rules.REGULATOR, text=text,
        substantiated=substantiated if act in ("answer", "override") else None,
    )
    details = {"step": step.pk, "from": before, "to": complaint.state}
    if act in ("answer", "override"):
        details["substantiated"] = substantiated
    if act == "override":
        details["previous"] = previous_finding
    audit_event_append(
        actor=actor, event_type=STEP_EVENTS[act], obj=complaint,
        acting_facility_id=facility.pk if edge.by == rules.HANDLER else None,
        acting_division_code=_division_code(scope, facility) if edge.by == rules.REGULATOR else "",
        facility_ids=[facility.pk], details=details,
    )
    return complaint


@service_transaction()
def complaint_acknowledge(*, actor, complaint: Complaint) -> Complaint:
    """JL-O6: the facility confirms it has the complaint (deadline ``TELEMED_COMPLAINT_ACK_DAYS``)."""
    return _act(actor=actor, complaint=complaint, act="acknowledge")


@service_transaction()
def complaint_investigate(*, actor, complaint: Complaint, text: str) -> Complaint:
    """JL-O6: a note of the facility's investigation (internal; never shown to the complainant)."""
    return _act(actor=actor, complaint=complaint, act="investigate", text=text)


@service_transaction()
def complaint_answer(*, actor, complaint: Complaint, text: str, substantiated: bool | None) -> Complaint:
    """JL-O6: the answer the complainant reads on the status page, with the finding (属实 or not);
    deadline ``TELEMED_COMPLAINT_ANSWER_DAYS``."""
    return _act(actor=actor, complaint=complaint, act="answer", text=text, substantiated=substantiated)


@service_transaction()
def complaint_note(*, actor, complaint: Complaint, text: str) -> Complaint:
    """JL-O6, JL-O1: a regulator over the facility adds a note."""
    return _act(actor=actor, complaint=complaint, act="note", text=text)


@service_transaction()
def complaint_override(*, actor, complaint: Complaint, text: str, substantiated: bool | None) -> Complaint:
    """JL-O6, JL-O1: a regulator over the facility changes the finding, with the reason."""
    return _act(actor=actor, complaint=complaint, act="override", text=text, substantiated=substantiated)


SERVICES = {
    "acknowledge": complaint_acknowledge, "investigate": complaint_investigate, "answer": complaint_answer,
    "note": complaint_note, "override": complaint_override,
}


def is_open(complaint: Complaint) -> bool:
    return complaint.state != ComplaintState.ANSWERED


def complaint_data_key_rotate_batch(*, actor=None, batch_size: int = 500) -> tuple[int, int]:
    """JL-A2 (GB/T 22239-2019 8.1.4.8): re-encrypt up to ``batch_size`` complainants' phones still under
    an old data key or cipher (``manage.py rotate_data_key``, after the patients). One transaction and
    one audit event per batch; returns (rows done, rows remaining)."""
    from django.db import transaction

    from telemed import crypto

    with transaction.atomic():
        rows = list(Complaint.objects.on_old_data_key().select_for_update().order_by("pk")[:batch_size])
        for complaint in rows:
            complaint.save(update_fields=["complainant_phone"])  # read under the old key, written under the current
        remaining = Complaint.objects.on_old_data_key().count()
        if rows:
            keys, cipher = crypto.current()
            audit_event_append(
                actor=actor, event_type=EventType.DATA_KEY_ROTATE, object_type="audit.complaint",
                details={"key_id": keys[0].id, "cipher": cipher, "rows": len(rows), "first_id": rows[0].pk,
                         "last_id": rows[-1].pk, "remaining": remaining},
            )
    return len(rows), remaining
