"""Every write of the billing app (STYLE 2): prices, charges, refunds, statements, accounts, policies;
per-person payouts (JL-B6) are in ``billing.services.payouts`` and the set-based drafting of statements
(JL-B4, issue 11) in ``billing.services.statements``, both re-exported here.

Each service checks the actor's role, applies the pure rules in ``billing.rules`` and writes its
audit event in the same transaction. Refusals that the rules want on record (naming a person as
payee, JL-B4) are audited in their own transaction before the error is raised.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import EventType, Outcome
from audit.services import audit_event_append
from facilities.choices import StaffRole
from facilities.models import CooperationAgreement, Facility, Physician, ServiceType
from telemed.checks import failing
from telemed.errors import ApplicationError
from telemed.files import require_file
from telemed.scope import Scope

from .. import rules
from ..choices import AccountKind, StatementState
from ..models import (
    AllocationPolicy,
    Charge,
    ChargeReversal,
    FacilityPrice,
    PriceStandard,
    SettlementAccount,
    Statement,
)

FINANCE = (StaffRole.FINANCE, StaffRole.FACILITY_ADMIN)

logger = logging.getLogger(__name__)


def _deny(message: str) -> ApplicationError:
    return ApplicationError("permission_denied", message, status=403)


def _require_finance(actor, facility_id: int, message: str) -> Scope:
    scope = Scope.of(actor)
    if not scope.has_role(facility_id, *FINANCE):
        raise _deny(message)
    return scope


def _refuse(checks) -> None:
    bad = failing(checks)
    if bad:
        raise ApplicationError.from_reasons(bad)


# --- JL-B1: price standards and facility prices ---------------------------------------------------


@transaction.atomic
def price_standard_publish(
    *, actor, service_type: ServiceType, facility_level: int | None, max_price_fen: int, valid_from: dt.date,
    valid_until: dt.date | None, document_number: str,
) -> PriceStandard:
    """The provincial regulator publishes the standard for a service (and level) (JL-B1, art. 39)."""
    scope = Scope.of(actor)
    if not scope.is_provincial_regulator:
        raise _deny(_("JL-B1 第三十九条: 价格标准由省卫生健康行政部门会同物价部门公布。"))
    if max_price_fen <= 0:
        raise ApplicationError("JL-B1", _("JL-B1 第三十九条: 价格须为正数。"))
    if valid_until is not None and valid_until < valid_from:
        raise ApplicationError("invalid", _("截止日期不能早于执行日期。"))
    if not document_number.strip():
        raise ApplicationError("JL-B1", _("JL-B1 第三十九条: 请填写价格文件文号。"))
    standard = PriceStandard.objects.create(
        service_type=service_type, facility_level=facility_level, max_price_fen=max_price_fen, valid_from=valid_from,
        valid_until=valid_until, document_number=document_number.strip(), published_by=actor, published_at=timezone.now(),
    )
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_PRICE_STANDARD_PUBLISH, obj=standard, acting_division_code=scope.regulated[0][0],
        details={"service_type": service_type.code, "level": facility_level, "max_price_fen": max_price_fen,
                 "valid_from": valid_from, "valid_until": valid_until, "document": standard.document_number},
    )
    return standard


def standard_in_force(*, service_type_id: str, level: int, on: dt.date) -> PriceStandard | None:
    candidates = list(PriceStandard.objects.filter(service_type_id=service_type_id, valid_from__lte=on).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=on)))
    return rules.standard_for(candidates, service_code=service_type_id, level=level, on=on)


@transaction.atomic
def facility_price_set(*, actor, facility: Facility, service_type: ServiceType, price_fen: int, valid_from: dt.date) -> FacilityPrice:
    """A facility sets its own price from a date, within the standard (JL-B1). Existing charges
    keep the price they were made at; this only applies from ``valid_from``."""
    _require_finance(actor, facility.pk, _("只有本机构财务人员或机构管理员可以设定收费标准。"))
    standard = standard_in_force(service_type_id=service_type.code, level=facility.level, on=valid_from)
    _refuse([rules.price_check(price_fen=price_fen, standard=standard)])
    try:
        with transaction.atomic():
            price = FacilityPrice.objects.create(
                facility=facility, service_type=service_type, price_fen=price_fen, valid_from=valid_from,
                standard=standard, set_by=actor, set_at=timezone.now(),
            )
    except IntegrityError:
        raise ApplicationError("duplicate", _("该项目在该日期已有收费标准；如需调整请从另一日期起执行。")) from None
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_PRICE_SET, obj=price, acting_facility_id=facility.pk, facility_ids=[facility.pk],
        details={"service_type": service_type.code, "price_fen": price_fen, "valid_from": valid_from, "standard_id": standard.pk},
    )
    return price


def price_in_force(*, facility_id: int, service_type_id: str, on: dt.date) -> FacilityPrice | None:
    return (
        FacilityPrice.objects.filter(facility_id=facility_id, service_type_id=service_type_id, valid_from__lte=on)
        .order_by("-valid_from")
        .first()
    )


# --- JL-B2, JL-B3: charges ---------------------------------------------------------------------------


def charge_for_completed(*, consultation, completed_at: dt.datetime):
    """The charge of a completed consultation at the invited facility's price in force that day,
    split by JL-B3. Returns None (and records why) when no price is set yet; the monthly job
    backfills it once the price exists, at the price in force on the completion day."""
    if Charge.objects.filter(consultation=consultation).exists():
        return None
    on = timezone.localdate(completed_at)
    price = price_in_force(facility_id=consultation.invited_id, service_type_id=consultation.service_type_id, on=on)
    if price is None:
        audit_event_append(
            actor=None, event_type=EventType.BILLING_CHARGE_MISSING_PRICE, outcome=Outcome.FAILURE, obj=consultation,
            facility_ids=[consultation.inviting_id, consultation.invited_id],
            details={"rule": "JL-B1", "consultation": consultation.number, "service_type": consultation.service_type_id, "on": on},
        )
        return None
    negotiated = ServiceType.objects.filter(pk=consultation.service_type_id).values_list("negotiated_split", flat=True).first()
    ratio = None
    if negotiated:
        agreement = consultation.agreement or CooperationAgreement.objects.in_force_on(on).filter(
            inviting_id=consultation.inviting_id, invited_id=consultation.invited_id).first()
        ratio = (agreement.inviting_fee_share, agreement.invited_fee_share) if agreement else None
        if ratio is None:
            raise ApplicationError("JL-B3", _("JL-B3 第四十四条: 协商定价项目须有合作协议约定的分配比例。"))
    basis = rules.split_basis(negotiated=bool(negotiated), agreement_ratio=ratio)
    inviting_share, invited_share = rules.split_fee(price.price_fen, basis.inviting_parts, basis.invited_parts)
    charge = Charge.objects.create(
        consultation=consultation, inviting_id=consultation.inviting_id, invited_id=consultation.invited_id,
        service_type_id=consultation.service_type_id, completed_at=completed_at, price=price, fee_fen=price.price_fen,
        inviting_share_fen=inviting_share, invited_share_fen=invited_share, split_basis=basis.text, created_at=timezone.now(),
    )
    audit_event_append(
        actor=None, event_type=EventType.BILLING_CHARGE_CREATE, obj=charge, facility_ids=[consultation.inviting_id, consultation.invited_id],
        details={"consultation": consultation.number, "fee_fen": charge.fee_fen, "inviting_share_fen": inviting_share,
                 "invited_share_fen": invited_share, "basis": basis.text, "price_id": price.pk},
    )
    return charge


def charge_after_close(*, consultation_id: int, completed_at: dt.datetime):
    """Charge a closed consultation in a transaction of its own, after the close has committed
    (JL-B2/B3). It never raises: closing a case must not depend on billing. A failure is audited
    (``billing.charge.create``, outcome failure) and ``charges_backfill`` retries it later."""
    from consultations.models import Consultation

    try:
        with transaction.atomic():
            consultation = Consultation.objects.select_related("agreement").get(pk=consultation_id)
            return charge_for_completed(consultation=consultation, completed_at=completed_at)
    except Exception as error:
        logger.exception("charge of consultation %s failed; the backfill will retry", consultation_id)
        facilities = Consultation.objects.filter(pk=consultation_id).values_list("inviting_id", "invited_id").first() or ()
        try:
            with transaction.atomic():
                audit_event_append(
                    actor=None, event_type=EventType.BILLING_CHARGE_CREATE, outcome=Outcome.FAILURE,
                    object_type="consultations.consultation", object_id=consultation_id, facility_ids=facilities,
                    details={"code": getattr(error, "code", type(error).__name__), "error": str(error)[:500],
                             "completed_at": completed_at, "retry": "charges_backfill"},
                )
        except Exception:
            logger.exception("could not audit the failed charge of consultation %s", consultation_id)
        return None


def charges_backfill() -> int:
    """Create the charges of closed consultations that have none yet — no price at completion, or
    a charge that failed after the close (idempotent; one failing case does not stop the rest)."""
    from consultations.choices import ConsultationState
    from consultations.models import Consultation

    created = 0
    pending = Consultation.objects.filter(state=ConsultationState.CLOSED, charge__isnull=True).values_list("pk", "closed_at")
    for consultation_id, closed_at in list(pending):
        if charge_after_close(consultation_id=consultation_id, completed_at=closed_at):
            created += 1
    return created


@transaction.atomic
def charge_record_payment(*, actor, charge: Charge, fiscal_receipt_number: str, insurance_fen: int, self_pay_fen: int,
                          paid_at: dt.datetime) -> Charge:
    """JL-B2: the patient paid the inviting facility; receipt number, insurance and self-pay apart."""
    _require_finance(actor, charge.inviting_id, _("JL-B2 第二十一条: 患者向邀请方缴费，由邀请方财务人员登记。"))
    charge = Charge.objects.select_for_update().get(pk=charge.pk)
    if charge.paid_at is not None:
        raise ApplicationError("duplicate", _("该笔收费已登记缴费；如需更正请先冲正。"))
    _refuse(rules.payment_checks(fee_fen=charge.fee_fen, insurance_fen=insurance_fen, self_pay_fen=self_pay_fen,
                                 receipt_number=fiscal_receipt_number)
            + [rules.payment_time_check(paid_at, now=timezone.now())])
    charge.fiscal_receipt_number = fiscal_receipt_number.strip()
    charge.insurance_fen = insurance_fen
    charge.self_pay_fen = self_pay_fen
    charge.paid_at = paid_at
    charge.save(update_fields=["fiscal_receipt_number", "insurance_fen", "self_pay_fen", "paid_at"])
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_CHARGE_PAYMENT, obj=charge, acting_facility_id=charge.inviting_id,
        facility_ids=[charge.inviting_id, charge.invited_id],
        details={"receipt": charge.fiscal_receipt_number, "insurance_fen": insurance_fen, "self_pay_fen": self_pay_fen},
    )
    return charge


@transaction.atomic
def charge_reverse(*, actor, charge: Charge, reason: str) -> ChargeReversal:
    """A refund: a separate reversal, settled in the statement of the month it happens."""
    _require_finance(actor, charge.inviting_id, _("冲正由邀请方财务人员办理。"))
    if not reason.strip():
        raise ApplicationError("JL-B2", _("JL-B2: 冲正须写明原因。"))
    if ChargeReversal.objects.filter(charge=charge).exists():
        raise ApplicationError("duplicate", _("该笔收费已冲正。"))
    reversal = ChargeReversal.objects.create(charge=charge, reason=reason.strip(), reversed_at=timezone.now(), reversed_by=actor)
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_CHARGE_REVERSE, obj=reversal, acting_facility_id=charge.inviting_id,
        facility_ids=[charge.inviting_id, charge.invited_id], details={"charge_id": charge.pk, "fee_fen": charge.fee_fen, "reason": reversal.reason},
    )
    return reversal


# --- JL-B4: accounts and statements ---------------------------------------------------------------


def settlement_account_register(*, actor, facility: Facility, account_name: str, bank_name: str, account_number: str,
                                kind: str = AccountKind.CORPORATE) -> SettlementAccount:
    """Register the facility's dedicated settlement account. A personal account or a physician's name
    is refused with JL-B4 and the attempt is audited (art. 42: 不得支付给会诊医师本人)."""
    _require_finance(actor, facility.pk, _("只有本机构财务人员或机构管理员可以登记结算专户。"))
    person_names = Physician.objects.filter(registrations__facility=facility).values_list("name", flat=True)
    checks = rules.payee_checks(
        account_facility_id=facility.pk, payee_facility_id=facility.pk, facility_name=facility.name,
        account_name=account_name, account_kind=kind, person_names=list(person_names),
    )
    bad = failing(checks)
    if bad:
        with transaction.atomic():
            audit_event_append(
                actor=actor, event_type=EventType.BILLING_ACCOUNT_REGISTER, outcome=Outcome.FAILURE, object_type="facilities.facility",
                object_id=facility.pk, acting_facility_id=facility.pk, facility_ids=[facility.pk],
                details={"rule": "JL-B4", "account_name": account_name, "kind": kind, "reasons": [c.as_dict() for c in bad]},
            )
        raise ApplicationError.from_reasons(bad)
    if not account_number.strip() or not bank_name.strip():
        raise ApplicationError("invalid", _("请填写开户行和账号。"))
    with transaction.atomic():
        SettlementAccount.objects.filter(facility=facility, active=True).update(active=False)
        account = SettlementAccount.objects.create(
            facility=facility, account_name=account_name.strip(), bank_name=bank_name.strip(),
            account_number=account_number.strip(), kind=kind, registered_by=actor, registered_at=timezone.now(),
        )
        audit_event_append(
            actor=actor, event_type=EventType.BILLING_ACCOUNT_REGISTER, obj=account, acting_facility_id=facility.pk, facility_ids=[facility.pk],
            details={"account_name": account.account_name, "bank": account.bank_name, "account_last4": account.account_number[-4:]},
        )
    return account


def statement_totals(statement: Statement) -> rules.Totals:
    return rules.totals(statement.charges.all(), statement.reversals.select_related("charge"))


def _store_totals(statement: Statement) -> None:
    t = statement_totals(statement)
    statement.charge_count, statement.fee_total_fen = t.count, t.fee
    statement.inviting_share_total_fen, statement.invited_share_total_fen = t.inviting, t.invited
    statement.save(update_fields=["charge_count", "fee_total_fen", "inviting_share_total_fen", "invited_share_total_fen"])


def _stated(statement: Statement) -> rules.Totals:
    return rules.Totals(statement.charge_count, statement.fee_total_fen, statement.inviting_share_total_fen, statement.invited_share_total_fen)


@transaction.atomic
def statement_confirm(*, actor, statement: Statement) -> Statement:
    """Each side's finance officer confirms; when both have, the statement awaits payment."""
    statement = Statement.objects.select_for_update().get(pk=statement.pk)
    scope = Scope.of(actor)
    sides = [s for s, fid in (("inviting", statement.inviting_id), ("invited", statement.invited_id)) if scope.has_role(fid, StaffRole.FINANCE)]
    if not sides:
        raise _deny(_("JL-B4 第四十二条: 结算单由双方财务人员确认。"))
    if statement.state != StatementState.DRAFT:
        raise ApplicationError("invalid_state", _("结算单已确认或已付款。"))
    moments = [*statement.charges.values_list("completed_at", flat=True), *statement.reversals.values_list("reversed_at", flat=True)]
    _refuse([rules.reconcile_check(stated=_stated(statement), computed=statement_totals(statement)),
             rules.statement_items_check(statement.period_start, moments)])
    if statement.payee_account_id is None:
        statement.payee_account = SettlementAccount.objects.filter(facility_id=statement.invited_id, active=True).first()
        if statement.payee_account is None:
            raise ApplicationError("JL-B4", _("JL-B4 第四十二条: 受邀方尚未登记远程医疗结算专户，无法确认。"))
    now = timezone.now()
    for side in sides:
        if getattr(statement, f"{side}_confirmed_at") is None:
            setattr(statement, f"{side}_confirmed_at", now)
            setattr(statement, f"{side}_confirmed_by", actor)
    if statement.inviting_confirmed_at and statement.invited_confirmed_at:
        statement.state = StatementState.CONFIRMED
    statement.save()
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_STATEMENT_CONFIRM, obj=statement,
        acting_facility_id=statement.inviting_id if "inviting" in sides else statement.invited_id,
        facility_ids=[statement.inviting_id, statement.invited_id],
        details={"sides": sides, "state": statement.state, "invited_share_total_fen": statement.invited_share_total_fen},
    )
    return statement


@transaction.atomic
def statement_record_payment(*, actor, statement: Statement, bank_reference: str, paid_at: dt.datetime) -> Statement:
    """The invited side records the transfer received into its dedicated account, with the bank reference."""
    statement = Statement.objects.select_for_update().get(pk=statement.pk)
    if not Scope.of(actor).has_role(statement.invited_id, StaffRole.FINANCE):
        raise _deny(_("JL-B4 第四十二条: 到账由受邀方财务人员登记。"))
    if statement.state != StatementState.CONFIRMED:
        raise ApplicationError("invalid_state", _("结算单须经双方确认后才能登记付款。"))
    if not bank_reference.strip():
        raise ApplicationError("JL-B4", _("JL-B4 第四十二条: 请填写银行流水号。"))
    _refuse([rules.payment_time_check(paid_at, now=timezone.now(), rule="JL-B4", article="第四十二条")])
    statement.state = StatementState.PAID
    statement.paid_at = paid_at
    statement.bank_reference = bank_reference.strip()
    statement.paid_recorded_by = actor
    statement.save(update_fields=["state", "paid_at", "bank_reference", "paid_recorded_by"])
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_STATEMENT_PAID, obj=statement, acting_facility_id=statement.invited_id,
        facility_ids=[statement.inviting_id, statement.invited_id],
        details={"bank_reference": statement.bank_reference, "paid_at": paid_at, "amount_fen": statement.invited_share_total_fen},
    )
    return statement


# --- JL-B5 -------------------------------------------------------------------------------------------


@transaction.atomic
def allocation_policy_adopt(*, actor, facility: Facility, staff_share_basis_points: int, valid_from: dt.date,
                            description: str, document=None) -> AllocationPolicy:
    _require_finance(actor, facility.pk, _("只有本机构财务人员或机构管理员可以登记分配办法。"))
    _refuse([rules.allocation_check(staff_share_basis_points)])
    if not description.strip():
        raise ApplicationError("JL-B5", _("JL-B5 第四十四条: 请写明分配办法。"))
    if document is not None:
        require_file(document, label=_("院内文件"))
    policy = AllocationPolicy.objects.create(
        facility=facility, staff_share_basis_points=staff_share_basis_points, valid_from=valid_from,
        description=description.strip(), document=document or "", adopted_by=actor, adopted_at=timezone.now(),
    )
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_ALLOCATION_ADOPT, obj=policy, acting_facility_id=facility.pk, facility_ids=[facility.pk],
        details={"staff_share_basis_points": staff_share_basis_points, "valid_from": valid_from},
    )
    return policy


@transaction.atomic
def statement_export_record(*, actor, statement: Statement, fmt: str) -> None:
    """Every export is on record (art. 35 管控和追溯合一): who took which statement, in which format."""
    scope = Scope.of(actor)
    acting = next((f for f in (statement.inviting_id, statement.invited_id) if f in scope.facility_roles), None)
    audit_event_append(
        actor=actor, event_type=EventType.BILLING_STATEMENT_EXPORT, obj=statement, acting_facility_id=acting,
        acting_division_code="" if acting else (scope.regulated[0][0] if scope.regulated else ""),
        facility_ids=[statement.inviting_id, statement.invited_id],
        details={"format": fmt, "period": f"{statement.period_start:%Y-%m}", "charge_count": statement.charge_count},
    )


# JL-B6, re-exported so that ``billing.services`` stays the one place every write is called from.
from .payouts import payout_export_record, payout_report_confirm, payout_report_draft, payouts_draft_month  # noqa: E402, F401
from .statements import statements_draft  # noqa: E402, F401
