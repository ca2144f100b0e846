"""JL-B6 (art. 43): per-person, per-month payout reports of a facility's staff part of its fees.

Who receives what is the pure rule ``billing.rules.payout_recipients`` and the exact division is
``billing.rules.distribute``; this module only loads a month's charges in a constant number of
queries, writes the lines in one ``bulk_create`` and keeps every act on record.

- A report is drafted for a facility and a Beijing-time month once that month has ended. For
  each charge completed in the month (and each reversal made in it, negative), the facility's
  share (inviting or invited, JL-B3) times the allocation policy in force on the completion day
  (JL-B5), rounded up to the fen, is the staff part; it is divided among the case's persons.
- Re-drafting with unchanged data changes nothing. When the data behind the latest report have
  changed, drafting again makes a new version that points to it (``supersedes``); the old one is
  kept — a confirmed one as it was, an unconfirmed one marked superseded. Nothing is deleted.
- A confirmed report never changes.
- Confirmation is refused unless the lines add up, to the fen, to the staff part of the month's
  charges as they stand at that moment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.choices import EventType
from audit.services import audit_event_append, audit_refusal
from consultations.choices import Side
from consultations.models import Opinion, Participant
from facilities.choices import StaffRole
from facilities.models import Facility
from telemed.checks import Check, failing
from telemed.errors import ApplicationError
from telemed.scope import Scope
from telemed.transactions import service_transaction

from .. import rules
from ..choices import PayoutLineKind, PayoutState
from ..models import AllocationPolicy, Charge, ChargeReversal, PayoutLine, PayoutReport

DRAFTERS = (StaffRole.FINANCE, StaffRole.FACILITY_ADMIN)


@dataclass
class Computed:
    """A facility's payouts of one month as the data stand now (unsaved lines)."""

    charge_count: int = 0
    share_total_fen: int = 0
    staff_total_fen: int = 0
    lines: list[PayoutLine] = field(default_factory=list)
    missing_policy_days: list[dt.date] = field(default_factory=list)

    @property
    def lines_total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def person_count(self) -> int:
        return len({line.physician_id for line in self.lines})

    def signature(self) -> tuple:
        return (
            self.charge_count, self.share_total_fen, self.staff_total_fen,
            sorted((ln.physician_id, ln.charge_id, ln.kind, ln.role, ln.staff_part_fen, ln.amount_fen) for ln in self.lines),
        )


def _stored_signature(report: PayoutReport) -> tuple:
    lines = report.lines.values_list("physician_id", "charge_id", "kind", "role", "staff_part_fen", "amount_fen")
    return (report.charge_count, report.share_total_fen, report.staff_total_fen, sorted(lines))


def _with_people(queryset, prefix: str = ""):
    """Charges (or reversals, ``prefix="charge__"``) with the case's persons in two more queries."""
    return queryset.select_related(f"{prefix}consultation" if prefix else "consultation").prefetch_related(
        Prefetch(f"{prefix}consultation__participants", queryset=Participant.objects.only("id", "consultation_id", "physician_id", "side")),
        Prefetch(f"{prefix}consultation__opinions", queryset=Opinion.objects.only("id", "consultation_id", "signed_by_id")),
    )


def payout_compute(*, facility: Facility, month: dt.date) -> Computed:
    """The month's payouts of ``facility`` in seven queries, whatever the number of charges."""
    start, end = rules.period_bounds(month)
    party = Q(inviting_id=facility.pk) | Q(invited_id=facility.pk)
    charges = _with_people(Charge.objects.filter(party, completed_at__gte=start, completed_at__lt=end).order_by("completed_at", "pk"))
    reversals = _with_people(
        ChargeReversal.objects.filter(Q(charge__inviting_id=facility.pk) | Q(charge__invited_id=facility.pk),
                                      reversed_at__gte=start, reversed_at__lt=end).select_related("charge").order_by("reversed_at", "pk"),
        prefix="charge__",
    )
    policies = list(AllocationPolicy.objects.filter(facility_id=facility.pk, valid_from__lt=rules.next_month(month)))
    result = Computed()
    items = [(c, PayoutLineKind.CHARGE, 1) for c in charges] + [(r.charge, PayoutLineKind.REVERSAL, -1) for r in reversals]
    for charge, kind, sign in items:
        on = charge.completed_at.astimezone(rules.BEIJING).date()
        policy = rules.policy_in_force(policies, on=on)
        if policy is None:
            result.missing_policy_days.append(on)
            continue
        side = Side.INVITED if charge.invited_id == facility.pk else Side.INVITING
        share = charge.invited_share_fen if side == Side.INVITED else charge.inviting_share_fen
        staff = rules.staff_part(share, policy.staff_share_basis_points)
        consultation = charge.consultation
        participants = list(consultation.participants.all())
        recipients = rules.payout_recipients(
            side=side,
            attending_ids=[p.physician_id for p in participants if p.side == Side.INVITING],
            expert_ids=[p.physician_id for p in participants if p.side == Side.INVITED],
            signer_ids=[o.signed_by_id for o in consultation.opinions.all()],
        )
        result.charge_count += 1
        result.share_total_fen += sign * share
        result.staff_total_fen += sign * staff
        if not recipients:
            continue  # unassigned: the report will not reconcile until the case names its persons
        parts = rules.distribute(staff, [r.weight for r in recipients])
        for recipient, part in zip(recipients, parts, strict=True):
            result.lines.append(PayoutLine(
                physician_id=recipient.physician_id, charge_id=charge.pk, kind=kind, role=recipient.role,
                staff_part_fen=sign * staff, amount_fen=sign * part,
            ))
    return result


def _require_finance(actor, facility_id: int, roles=DRAFTERS) -> None:
    if actor is None:
        return  # the monthly task
    scope = Scope.of(actor)
    if not scope.has_role(facility_id, *roles):
        raise ApplicationError("permission_denied", _("JL-B6 第四十三条: 绩效分配表由本机构财务人员办理。"), status=403)


def _refuse_on_record(error: ApplicationError, *, actor, event_type: EventType, facility: Facility, month: dt.date,
                      report: PayoutReport | None = None) -> ApplicationError:
    """A payout refusal the regulator wants on record (JL-A1): kept although the act rolls back."""
    return audit_refusal(
        error, actor=actor, event_type=event_type, obj=report, object_type="" if report else "facilities.facility",
        object_id="" if report else facility.pk, acting_facility_id=facility.pk if actor else None,
        facility_ids=[facility.pk], details={"month": f"{month:%Y-%m}"},
    )


def _store(report: PayoutReport, computed: Computed) -> None:
    report.charge_count = computed.charge_count
    report.share_total_fen = computed.share_total_fen
    report.staff_total_fen = computed.staff_total_fen
    report.lines_total_fen = computed.lines_total_fen
    report.person_count = computed.person_count
    report.drafted_at = timezone.now()
    report.save()
    for line in computed.lines:
        line.report = report
    PayoutLine.objects.bulk_create(computed.lines, batch_size=500)


@service_transaction()
def payout_report_draft(*, actor, facility: Facility, month: dt.date) -> PayoutReport:
    """Draft (or re-draft) ``facility``'s payout report of ``month`` (JL-B6, art. 43).

    ``actor`` is the facility's finance officer or administrator, or ``None`` for the monthly task.
    Refused, and on record, before the month has ended (Beijing time) or when a charge of the
    month falls on a day without an allocation policy (JL-B5).
    """
    month = month.replace(day=1)
    _require_finance(actor, facility.pk)
    bad = failing([rules.month_ended_check(month, now=timezone.now())])
    if bad:
        error = ApplicationError.from_reasons(bad)
        raise _refuse_on_record(error, actor=actor, event_type=EventType.BILLING_PAYOUT_DRAFT, facility=facility, month=month)
    computed = payout_compute(facility=facility, month=month)
    if computed.missing_policy_days:
        days = "、".join(sorted({f"{d:%Y-%m-%d}" for d in computed.missing_policy_days}))
        error = ApplicationError("JL-B6", _("JL-B6 第四十三条: 以下日期本机构尚无院内分配办法（JL-B5），无法计算医务人员部分：%(days)s。")
                                 % {"days": days})
        raise _refuse_on_record(error, actor=actor, event_type=EventType.BILLING_PAYOUT_DRAFT, facility=facility, month=month)
    latest = PayoutReport.objects.select_for_update().filter(facility=facility, month=month).order_by("-version").first()
    if latest is not None and _stored_signature(latest) == computed.signature():
        return latest  # nothing changed: idempotent, nothing written
    action = "draft" if latest is None else ("redraft" if latest.state == PayoutState.DRAFT else "correction")
    if action == "redraft":  # the stale draft is kept, superseded (nothing is deleted)
        latest.state = PayoutState.SUPERSEDED
        latest.save(update_fields=["state"])
    report = PayoutReport(
        facility=facility, month=month, version=latest.version + 1 if latest else 1, supersedes=latest, drafted_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            _store(report, computed)
    except IntegrityError:  # a concurrent draft of the same month won the race
        raise ApplicationError("conflict", _("该月绩效分配表正由其他请求生成，请刷新后重试。"), status=409) from None
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_PAYOUT_DRAFT, obj=report, acting_facility_id=facility.pk if actor else None,
        facility_ids=[facility.pk],
        details={"month": f"{month:%Y-%m}", "version": report.version, "action": action, "charge_count": report.charge_count,
                 "staff_total_fen": report.staff_total_fen, "lines_total_fen": report.lines_total_fen,
                 "supersedes": latest.pk if latest else None},
    )
    return report


@service_transaction()
def payout_report_confirm(*, actor, report: PayoutReport) -> PayoutReport:
    """The facility's finance officer confirms a draft; it must reconcile to the fen (JL-B6)."""
    report = PayoutReport.objects.select_for_update().select_related("facility").get(pk=report.pk)
    _require_finance(actor, report.facility_id, roles=(StaffRole.FINANCE,))
    facility, month = report.facility, report.month
    if report.state != PayoutState.DRAFT:
        error = ApplicationError("invalid_state", _("JL-B6 第四十三条: 该绩效分配表已确认或已被新版本取代，不可更改；如需更正请重新生成，系统将保留原表并生成新版本。"))
        raise _refuse_on_record(error, actor=actor, event_type=EventType.BILLING_PAYOUT_CONFIRM, facility=facility, month=month, report=report)
    computed = payout_compute(facility=facility, month=month)
    lines_total = report.lines.aggregate(total=Sum("amount_fen"))["total"] or 0
    checks = [rules.payout_reconcile_check(lines_total_fen=lines_total, staff_total_fen=computed.staff_total_fen)]
    if report.staff_total_fen != computed.staff_total_fen:
        checks.append(Check(
            "JL-B6", gettext_noop("第四十三条"), gettext_noop("分配表须依据当月最新收费数据"), False,
            f"生成时 {rules.yuan(report.staff_total_fen)}，现为 {rules.yuan(computed.staff_total_fen)}；请重新生成",
        ))
    bad = failing(checks)
    if bad:
        error = ApplicationError.from_reasons(bad)
        raise _refuse_on_record(error, actor=actor, event_type=EventType.BILLING_PAYOUT_CONFIRM, facility=facility, month=month, report=report)
    report.state = PayoutState.CONFIRMED
    report.confirmed_by = actor
    report.confirmed_at = timezone.now()
    report.save(update_fields=["state", "confirmed_by", "confirmed_at"])
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_PAYOUT_CONFIRM, obj=report, acting_facility_id=facility.pk, facility_ids=[facility.pk],
        details={"month": f"{month:%Y-%m}", "version": report.version, "lines_total_fen": lines_total,
                 "staff_total_fen": computed.staff_total_fen},
    )
    return report


def payout_export_record(*, actor, report: PayoutReport, fmt: str, lines: int) -> None:
    """Every export of a payout report is on record (art. 35): who took which report, in which format."""
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_PAYOUT_EXPORT, obj=report, acting_facility_id=report.facility_id,
        facility_ids=[report.facility_id],
        details={"format": fmt, "month": f"{report.month:%Y-%m}", "version": report.version, "lines": lines},
    )


def payouts_draft_month(*, month: dt.date) -> dict:
    """The monthly job: draft ``month``'s report of every facility with charges or reversals in it.

    One facility at a time, each in its own transaction with a constant number of queries and one
    ``bulk_create``; a facility that is refused (no allocation policy, JL-B5) is on record and the
    others go on. Idempotent: an unchanged month writes nothing.
    """
    start, end = rules.period_bounds(month)
    ids = set()
    for row in Charge.objects.filter(completed_at__gte=start, completed_at__lt=end).values_list("inviting_id", "invited_id").distinct():
        ids.update(row)
    for row in ChargeReversal.objects.filter(reversed_at__gte=start, reversed_at__lt=end).values_list(
            "charge__inviting_id", "charge__invited_id").distinct():
        ids.update(row)
    drafted, refused = [], []
    for facility in Facility.objects.filter(pk__in=ids).order_by("pk"):
        try:
            drafted.append(payout_report_draft(actor=None, facility=facility, month=month).pk)
        except ApplicationError as error:
            refused.append({"facility": facility.pk, "code": error.code})
    return {"month": f"{month:%Y-%m}", "reports": drafted, "refused": refused}

