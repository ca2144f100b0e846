"""Price standards, charges, the split, statements, settlement accounts, allocation policies and
per-person payout reports (JL-B1..B6).

Money is whole fen in ``BigIntegerField`` (STYLE 6). A charge keeps the price and the split as they
were when the service completed, so a later price change never alters it; a refund is a separate
``ChargeReversal`` row, never an edit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from facilities.choices import FacilityLevel
from telemed.scope import ScopedQuerySet

from .choices import AccountKind, PayoutLineKind, PayoutRole, PayoutState, StatementState


class PriceStandard(models.Model):
    """JL-B1 (art. 39): the regulator's standard (ceiling) per service type, optionally per level."""

    service_type = models.ForeignKey("facilities.ServiceType", verbose_name=_("服务项目"), on_delete=models.PROTECT, related_name="+")
    facility_level = models.PositiveSmallIntegerField(
        _("适用机构级别"), choices=FacilityLevel.choices, null=True, blank=True, help_text=_("留空表示各级通用")
    )
    max_price_fen = models.BigIntegerField(_("最高限价（分）"))
    valid_from = models.DateField(_("执行日期"))
    valid_until = models.DateField(_("截止日期"), null=True, blank=True)
    document_number = models.CharField(_("价格文件文号"), max_length=100)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(_("发布时间"))

    class Meta:
        verbose_name = _("医疗服务价格标准")
        verbose_name_plural = _("医疗服务价格标准")
        ordering = ["service_type", "facility_level", "-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(max_price_fen__gt=0), name="standard_price_positive"),
            models.CheckConstraint(condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")), name="standard_period"),
        ]

    def __str__(self) -> str:
        return f"{self.service_type} ≤ {self.max_price_fen / 100:.2f} 元"


class FacilityPriceQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class FacilityPrice(models.Model):
    """A facility's own price for an item, within the standard (JL-B1)."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="prices")
    service_type = models.ForeignKey("facilities.ServiceType", verbose_name=_("服务项目"), on_delete=models.PROTECT, related_name="+")
    price_fen = models.BigIntegerField(_("收费标准（分）"))
    valid_from = models.DateField(_("执行日期"))
    standard = models.ForeignKey(PriceStandard, verbose_name=_("依据的价格标准"), on_delete=models.PROTECT, related_name="+")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(_("设定时间"))

    objects = FacilityPriceQuerySet.as_manager()

    class Meta:
        verbose_name = _("机构收费标准")
        verbose_name_plural = _("机构收费标准")
        ordering = ["facility", "service_type", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "service_type", "valid_from"], name="one_price_per_day"),
            models.CheckConstraint(condition=Q(price_fen__gt=0), name="facility_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.service_type} {self.price_fen / 100:.2f} 元"


class SettlementAccountQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class SettlementAccount(models.Model):
    """JL-B4 (art. 42): the facility's dedicated account (财务专账); never a person's."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="settlement_accounts")
    account_name = models.CharField(_("户名"), max_length=100)
    bank_name = models.CharField(_("开户行"), max_length=100)
    account_number = models.CharField(_("账号"), max_length=40)
    kind = models.CharField(_("账户性质"), max_length=10, choices=AccountKind.choices, default=AccountKind.CORPORATE)
    active = models.BooleanField(_("启用"), default=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField(_("登记时间"))

    objects = SettlementAccountQuerySet.as_manager()

    class Meta:
        verbose_name = _("远程医疗结算专户")
        verbose_name_plural = _("远程医疗结算专户")
        constraints = [
            models.UniqueConstraint(fields=["facility"], condition=Q(active=True), name="one_active_account_per_facility")
        ]

    def __str__(self) -> str:
        return f"{self.account_name} {self.bank_name} ****{self.account_number[-4:]}"


class ChargeQuerySet(ScopedQuerySet):
    scope_facility_field = ("inviting_id", "invited_id")
    scope_division_field = ("inviting__division__code", "invited__division__code")


class Charge(models.Model):
    """JL-B2, JL-B3: the fee of one completed consultation, as it was at completion."""

    consultation = models.OneToOneField("consultations.Consultation", verbose_name=_("远程医疗申请"), on_delete=models.PROTECT, related_name="charge")
    inviting = models.ForeignKey("facilities.Facility", verbose_name=_("邀请方"), on_delete=models.PROTECT, related_name="+")
    invited = models.ForeignKey("facilities.Facility", verbose_name=_("受邀方"), on_delete=models.PROTECT, related_name="+")
    service_type = models.ForeignKey("facilities.ServiceType", verbose_name=_("服务项目"), on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(_("完成时间"), db_index=True)
    price = models.ForeignKey(FacilityPrice, verbose_name=_("适用收费标准"), on_delete=models.PROTECT, related_name="+")
    fee_fen = models.BigIntegerField(_("服务费（分）"))
    inviting_share_fen = models.BigIntegerField(_("邀请方分配（分）"))
    invited_share_fen = models.BigIntegerField(_("受邀方分配（分）"))
    split_basis = models.CharField(_("分配依据"), max_length=100)
    # JL-B2 (art. 21, 41, 5): the patient pays the inviting facility; insurance and self-pay apart.
    fiscal_receipt_number = models.CharField(_("财政票据号"), max_length=50, blank=True)
    insurance_fen = models.BigIntegerField(_("基本医保支付（分）"), null=True, blank=True)
    self_pay_fen = models.BigIntegerField(_("个人自付（分）"), null=True, blank=True)
    paid_at = models.DateTimeField(_("患者缴费时间"), null=True, blank=True)
    statement = models.ForeignKey("Statement", verbose_name=_("结算单"), null=True, blank=True, on_delete=models.PROTECT, related_name="charges")
    created_at = models.DateTimeField(_("记账时间"))

    objects = ChargeQuerySet.as_manager()

    class Meta:
        verbose_name = _("服务收费")
        verbose_name_plural = _("服务收费")
        ordering = ["-completed_at"]
        indexes = [
            models.Index(fields=["inviting", "invited", "completed_at"], name="charge_pair_period_idx"),
            models.Index(fields=["completed_at"], name="charge_unsettled_idx", condition=Q(statement__isnull=True)),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(fee_fen__gt=0), name="charge_fee_positive"),
            models.CheckConstraint(
                condition=Q(inviting_share_fen__gte=0, invited_share_fen__gte=0)
                & Q(fee_fen=F("inviting_share_fen") + F("invited_share_fen")),
                name="charge_shares_add_up",  # JL-B3: to the fen
            ),
            models.CheckConstraint(
                condition=Q(insurance_fen__isnull=True) | Q(fee_fen=F("insurance_fen") + F("self_pay_fen")),
                name="charge_payment_adds_up",  # JL-B2
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consultation_id} {self.fee_fen / 100:.2f} 元"


class ChargeReversalQuerySet(ScopedQuerySet):
    scope_facility_field = ("charge__inviting_id", "charge__invited_id")
    scope_division_field = ("charge__inviting__division__code", "charge__invited__division__code")


class ChargeReversal(models.Model):
    """A refund: the whole charge reversed, audited, settled in the statement of its own month."""

    charge = models.OneToOneField(Charge, on_delete=models.PROTECT, related_name="reversal")
    reason = models.TextField(_("冲正原因"))
    reversed_at = models.DateTimeField(_("冲正时间"), db_index=True)
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement = models.ForeignKey("Statement", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")

    objects = ChargeReversalQuerySet.as_manager()

    class Meta:
        verbose_name = _("收费冲正")
        verbose_name_plural = _("收费冲正")

    def __str__(self) -> str:
        return f"冲正 {self.charge}"


class StatementQuerySet(ScopedQuerySet):
    scope_facility_field = ("inviting_id", "invited_id")
    scope_division_field = ("inviting__division__code", "invited__division__code")


class Statement(models.Model):
    """JL-B4 (art. 42): the periodic statement between two facilities' dedicated accounts."""

    inviting = models.ForeignKey("facilities.Facility", verbose_name=_("邀请方（付款方）"), on_delete=models.PROTECT, related_name="+")
    invited = models.ForeignKey("facilities.Facility", verbose_name=_("受邀方（收款方）"), on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField(_("结算期起"))
    period_end = models.DateField(_("结算期止"))
    state = models.CharField(_("状态"), max_length=10, choices=StatementState.choices, default=StatementState.DRAFT)
    charge_count = models.PositiveIntegerField(_("笔数"), default=0)
    fee_total_fen = models.BigIntegerField(_("服务费合计（分）"), default=0)
    inviting_share_total_fen = models.BigIntegerField(_("邀请方分配合计（分）"), default=0)
    invited_share_total_fen = models.BigIntegerField(_("应付受邀方合计（分）"), default=0)
    payee_account = models.ForeignKey(SettlementAccount, verbose_name=_("收款专户"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    drafted_at = models.DateTimeField(_("生成时间"))
    inviting_confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    inviting_confirmed_at = models.DateTimeField(_("邀请方确认时间"), null=True, blank=True)
    invited_confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    invited_confirmed_at = models.DateTimeField(_("受邀方确认时间"), null=True, blank=True)
    paid_at = models.DateTimeField(_("付款时间"), null=True, blank=True)
    bank_reference = models.CharField(_("银行流水号"), max_length=100, blank=True)
    paid_recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = StatementQuerySet.as_manager()

    class Meta:
        verbose_name = _("结算单")
        verbose_name_plural = _("结算单")
        ordering = ["-period_start", "inviting", "invited"]
        constraints = [
            models.UniqueConstraint(fields=["inviting", "invited", "period_start"], name="one_statement_per_pair_period"),
        ]

    def __str__(self) -> str:
        return f"{self.inviting} → {self.invited} {self.period_start:%Y-%m}"


class AllocationPolicyQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class AllocationPolicy(models.Model):
    """JL-B5 (art. 43, 44): the facility's internal allocation, at least 60 % to medical staff."""

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="allocation_policies")
    staff_share_basis_points = models.PositiveIntegerField(_("医务人员补贴比例（万分比）"))
    valid_from = models.DateField(_("执行日期"))
    description = models.TextField(_("分配办法说明"))
    document = models.FileField(_("院内文件"), upload_to="allocation/%Y/", blank=True)
    adopted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    adopted_at = models.DateTimeField(_("登记时间"))

    objects = AllocationPolicyQuerySet.as_manager()

    class Meta:
        verbose_name = _("院内远程医疗绩效分配办法")
        verbose_name_plural = _("院内远程医疗绩效分配办法")
        ordering = ["facility", "-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(staff_share_basis_points__gte=6000, staff_share_basis_points__lte=10000), name="jl_b5_staff_share_at_least_60_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.staff_share_basis_points / 100:.2f}%"


class PayoutReportQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class PayoutReport(models.Model):
    """JL-B6 (art. 43): one facility's per-person payouts of one Beijing-time month.

    Drafted once the month has ended; confirmed by the facility's finance officer when its lines
    add up to the staff part of the month's charges. A confirmed report never changes: a
    correction is a new version that points to the one it supersedes, which is kept.
    """

    facility = models.ForeignKey("facilities.Facility", verbose_name=_("机构"), on_delete=models.PROTECT, related_name="payout_reports")
    month = models.DateField(_("月份"), help_text=_("该月第一天（北京时间）"))
    version = models.PositiveSmallIntegerField(_("版本"), default=1)
    supersedes = models.OneToOneField(
        "self", verbose_name=_("更正的版本"), null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    state = models.CharField(_("状态"), max_length=10, choices=PayoutState.choices, default=PayoutState.DRAFT)
    charge_count = models.PositiveIntegerField(_("收费笔数"), default=0)
    share_total_fen = models.BigIntegerField(_("本机构分配合计（分）"), default=0)
    staff_total_fen = models.BigIntegerField(_("医务人员部分（分）"), default=0)
    lines_total_fen = models.BigIntegerField(_("个人分配合计（分）"), default=0)
    person_count = models.PositiveIntegerField(_("人数"), default=0)
    drafted_at = models.DateTimeField(_("生成时间"))
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)

    objects = PayoutReportQuerySet.as_manager()

    class Meta:
        verbose_name = _("医务人员绩效分配表")
        verbose_name_plural = _("医务人员绩效分配表")
        ordering = ["-month", "facility", "-version"]
        indexes = [
            # The finance officer's list: one facility, newest month first, filtered by state.
            models.Index(fields=["facility", "-month", "-version"], name="payout_facility_month_idx"),
            models.Index(fields=["facility", "state", "-month"], name="payout_facility_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["facility", "month", "version"], name="one_payout_version"),
            models.UniqueConstraint(fields=["facility", "month"], condition=Q(state="draft"), name="one_open_payout_draft"),
            models.CheckConstraint(condition=Q(version__gte=1), name="payout_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.month:%Y-%m} v{self.version}"


class PayoutLineQuerySet(ScopedQuerySet):
    """A line is seen by the person it pays and by the finance staff of its report's facility;
    regulators see report totals only, not persons' lines (``visible_to`` below)."""

    scope_facility_field = "report__facility_id"
    scope_division_field = "report__facility__division__code"

    def visible_to(self, user):
        from facilities.choices import StaffRole
        from telemed.scope import Scope

        scope = Scope.of(user)
        if not getattr(user, "is_authenticated", False):
            return self.none()
        finance = scope.facilities_with_role(StaffRole.FINANCE, StaffRole.FACILITY_ADMIN)
        return self.filter(Q(physician__user=user) | Q(report__facility_id__in=finance))


class PayoutLine(models.Model):
    """One person's part of one charge (or of a reversal, negative) in a payout report (JL-B6)."""

    report = models.ForeignKey(PayoutReport, on_delete=models.PROTECT, related_name="lines")
    physician = models.ForeignKey("facilities.Physician", verbose_name=_("医务人员"), on_delete=models.PROTECT, related_name="payout_lines")
    charge = models.ForeignKey(Charge, verbose_name=_("收费"), on_delete=models.PROTECT, related_name="payout_lines")
    kind = models.CharField(_("类别"), max_length=10, choices=PayoutLineKind.choices, default=PayoutLineKind.CHARGE)
    role = models.CharField(_("分配依据"), max_length=10, choices=PayoutRole.choices)
    staff_part_fen = models.BigIntegerField(_("该笔医务人员部分（分）"))
    amount_fen = models.BigIntegerField(_("个人金额（分）"))

    objects = PayoutLineQuerySet.as_manager()

    class Meta:
        verbose_name = _("绩效分配明细")
        verbose_name_plural = _("绩效分配明细")
        ordering = ["report", "physician", "charge", "kind"]
        indexes = [
            # "My payouts": a person's lines, newest report first.
            models.Index(fields=["physician", "report"], name="payout_line_person_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["report", "physician", "charge", "kind"], name="payout_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.physician_id} {self.amount_fen / 100:.2f} 元"
