"""Divisions, facilities, agreements, physicians, duty and suspensions (JL-F1..F5, JL-P1..P6).

Tables and constraints only; the rulebook is in ``rules.py`` and every write in ``services.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from telemed.changes import ChangeStampedModel, ChangeStampedQuerySet
from telemed.scope import ScopedQuerySet

from .choices import (
    AccreditationCondition,
    AccreditationStatus,
    AdminRole,
    AgreementStatus,
    AssetKind,
    AssetStatus,
    DivisionLevel,
    FacilityGrade,
    FacilityKind,
    FacilityLevel,
    MaintenanceKind,
    PracticeScope,
    ServiceCategory,
    StaffRole,
    SuspensionCause,
    Title,
)
from .rules import JILIN_PREFIX


class Division(models.Model):
    """GB/T 2260 administrative division (province, city/prefecture, county/district)."""

    code = models.CharField(_("区划代码"), max_length=6, primary_key=True)
    name = models.CharField(_("名称"), max_length=50)
    level = models.CharField(_("级别"), max_length=10, choices=DivisionLevel.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级区划"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def prefix(self) -> str:
        """The code prefix that every division below this one shares (JL-O1 scoping)."""
        return {DivisionLevel.PROVINCE: self.code[:2], DivisionLevel.CITY: self.code[:4]}.get(self.level, self.code)

    @property
    def in_jilin(self) -> bool:
        return self.code.startswith(JILIN_PREFIX)


class ServiceType(models.Model):
    """JL-C1 (art. 3): the catalogue of remote-medicine services; the provincial regulator may add more."""

    code = models.SlugField(_("编码"), max_length=40, primary_key=True)
    name = models.CharField(_("名称"), max_length=50, unique=True)
    category = models.CharField(_("类别"), max_length=10, choices=ServiceCategory.choices)
    required_scope = models.CharField(
        _("诊断所需执业范围"),
        max_length=30,
        choices=PracticeScope.choices,
        blank=True,
        help_text=_("诊断类项目：签发报告的专家须具备的执业范围（第十四条第五项）；会诊类项目按邀请方所需专业核对。"),
    )
    needs_modality = models.BooleanField(_("须注明影像类别"), default=False)
    # JL-O4 (art. 46.4): the time a diagnosis report counts as, set by the provincial regulator.
    report_standard_minutes = models.PositiveSmallIntegerField(
        _("每份报告标准时长（分钟）"), null=True, blank=True,
        help_text=_("诊断类项目：计算对口帮扶驻点时间时每份报告计入的时长，由省卫生健康委设定（第四十六条第四项）。"),
    )
    negotiated_split = models.BooleanField(
        _("费用按协议比例分配"),
        default=False,
        help_text=_("第四十四条：远程门诊及心电、影像、检验、病理诊断按合作协议约定比例分配；会诊类项目按2:8分配。"),
    )
    built_in = models.BooleanField(_("第三条规定项目"), default=False)
    # JL-C11: the sections an opinion or report of this service is written in, set by the provincial
    # regulator: {"sections": [{"key", "label"}], "modalities": {"ecg": [...]}} (consultations.report_rules).
    report_template = models.JSONField(
        _("报告模板"), default=dict, blank=True,
        help_text=_("意见/报告的分栏（如影像：检查方法、影像所见、诊断意见）；可按影像类别另设（如心电图）。"),
    )
    active = models.BooleanField(_("启用"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=100)

    class Meta:
        verbose_name = _("远程医疗服务项目")
        verbose_name_plural = _("远程医疗服务项目")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return str(self.label)

    @property
    def report_section_labels(self) -> list[str]:
        """The template's section names in the reader's language (JL-C11, issue 12): a built-in one
        (migration 0010) is translated, a name the regulator entered is shown as entered (data)."""
        return [section_label(str(s.get("label", ""))) for s in (self.report_template or {}).get("sections") or []]

    @property
    def label(self) -> str:
        """The name to show: a built-in (art. 3) service under its stored Chinese name is translated
        (English mode, issue 12); a name the regulator gave or changed is shown as entered (data)."""
        return service_type_label(self.code, self.built_in, self.name)


# Art. 3's services as loaded by migration 0002, marked for translation (makemessages finds them here).
BUILT_IN_SERVICE_NAMES = {
    "consultation": "远程会诊",
    "outpatient": "远程门诊",
    "case_discussion": "远程病例讨论",
    "pathology": "远程病理诊断",
    "imaging": "远程医学影像诊断",
    "laboratory": "远程检验诊断",
}
# The same, marked for translation in the "service name" context (a service, not a menu entry).
_SERVICE_NAME_MARKS = (
    pgettext_lazy("service name", "远程会诊"),
    pgettext_lazy("service name", "远程门诊"),
    pgettext_lazy("service name", "远程病例讨论"),
    pgettext_lazy("service name", "远程病理诊断"),
    pgettext_lazy("service name", "远程医学影像诊断"),
    pgettext_lazy("service name", "远程检验诊断"),
)


# The report sections migration 0010 gives the art. 3 services, marked for translation: shown in the
# reader's language; the stored label (and the label signed into an opinion, JL-C6) is unchanged.
BUILT_IN_SECTION_LABELS = {
    "病史摘要": pgettext_lazy("report section", "病史摘要"),
    "病情评估": pgettext_lazy("report section", "病情评估"),
    "诊疗计划": pgettext_lazy("report section", "诊疗计划"),
    "大体所见": pgettext_lazy("report section", "大体所见"),
    "镜下所见": pgettext_lazy("report section", "镜下所见"),
    "病理诊断": pgettext_lazy("report section", "病理诊断"),
    "检查方法": pgettext_lazy("report section", "检查方法"),
    "影像所见": pgettext_lazy("report section", "影像所见"),
    "诊断意见": pgettext_lazy("report section", "诊断意见"),
    "心律": pgettext_lazy("report section", "心律"),
    "间期与电轴": pgettext_lazy("report section", "间期与电轴"),
    "心电图诊断": pgettext_lazy("report section", "心电图诊断"),
    "标本情况": pgettext_lazy("report section", "标本情况"),
    "检验结果": pgettext_lazy("report section", "检验结果"),
    "结果解读": pgettext_lazy("report section", "结果解读"),
}


def section_label(label: str) -> str:
    """A report section's name to show: a built-in one is translated, any other is data."""
    shown = BUILT_IN_SECTION_LABELS.get(label)
    return str(shown) if shown is not None else label


def service_type_label(code: str, built_in: bool, name: str) -> str:
    """``ServiceType.label`` from the row's values (the work lists read no ServiceType, issue 11)."""
    stored = BUILT_IN_SERVICE_NAMES.get(code)
    if built_in and stored is not None and str(stored) == name:
        return service_label(name)
    return name


def service_label(name: str) -> str:
    """A service name as stored (exports keep it) shown in the reader's language: a built-in art. 3
    name is translated, any other name is data and shown as entered."""
    return pgettext("service name", name) if name in BUILT_IN_SERVICE_NAMES.values() else name


class FacilityQuerySet(ChangeStampedQuerySet, ScopedQuerySet):
    scope_facility_field = "id"
    scope_division_field = "division__code"

    def scope_extra_for_staff(self, facility_ids):
        """Staff also see the facilities they hold a cooperation agreement with (to address requests)."""
        return Q(id__in=CooperationAgreement.objects.filter(inviting_id__in=facility_ids).values("invited_id")) | Q(
            id__in=CooperationAgreement.objects.filter(invited_id__in=facility_ids).values("inviting_id")
        )

    def with_suspension(self):
        return self.annotate(
            is_suspended=Exists(Suspension.objects.filter(facility=OuterRef("pk"), lifted_at__isnull=True))
        )


class Facility(ChangeStampedModel):
    """A facility (JL-F1, JL-F2, JL-F5). ``updated_at`` (``telemed.changes``) moves with every change to the row
    and with every suspension report or lift (FHIR Organization ``active``; issue 14)."""

    name = models.CharField(_("机构名称"), max_length=100, unique=True)
    licence_number = models.CharField(_("执业许可证登记号"), max_length=50, unique=True)
    licence_expires_on = models.DateField(_("执业许可证有效期至"))
    licence_issuer = models.ForeignKey(
        Division,
        verbose_name=_("发证机关所在区划"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("核发《医疗机构执业许可证》的卫生健康行政部门；只有它能解除暂停（第三十四条）。"),
    )
    level = models.PositiveSmallIntegerField(_("级别"), choices=FacilityLevel.choices)
    grade = models.CharField(_("等次"), max_length=1, choices=FacilityGrade.choices, default=FacilityGrade.UNGRADED)
    kind = models.CharField(_("机构类别"), max_length=20, choices=FacilityKind.choices)
    public = models.BooleanField(
        _("公立医疗机构"), default=True,
        help_text=_("第四十六条第四项：县级以上公立医疗机构医务人员的远程医疗工作计入对口帮扶驻点时间。"),
    )
    division = models.ForeignKey(Division, verbose_name=_("所在区划"), on_delete=models.PROTECT, related_name="facilities")
    address = models.CharField(_("地址"), max_length=200, blank=True)
    phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    # JL-O3 (art. 47): the facility's principal, barred from the year's awards after a 不合格 year.
    principal_name = models.CharField(_("主要负责人"), max_length=50, blank=True)
    accreditation_status = models.CharField(
        _("远程医疗评估验收"), max_length=10, choices=AccreditationStatus.choices, default=AccreditationStatus.NONE
    )
    accredited_on = models.DateField(_("验收通过日期"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    objects = FacilityQuerySet.as_manager()

    class Meta:
        verbose_name = _("医疗机构")
        verbose_name_plural = _("医疗机构")
        ordering = ["division_id", "name"]
        indexes = [
            # Issue 14: FHIR ``_lastUpdated`` and the REST sync read by (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="facility_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def level_and_grade(self) -> str:
        """"三级甲等" in Chinese, "Level III Grade A" in English: the two labels joined as the language
        joins them."""
        return pgettext("facility level and grade", "%(level)s%(grade)s") % {
            "level": self.get_level_display(), "grade": self.get_grade_display()}

    @property
    def in_province(self) -> bool:
        return self.division_id.startswith(JILIN_PREFIX)


class StaffMembership(models.Model):
    """A hospital user's role at a facility; a user may hold several (多点执业, several roles)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(_("角色"), max_length=20, choices=StaffRole.choices)
    active = models.BooleanField(_("有效"), default=True)
    # Nothing is deleted: a role ends (the person left, changed post) and stays on record.
    ended_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    end_reason = models.TextField(_("撤销原因"), blank=True)

    class Meta:
        verbose_name = _("机构人员角色")
        verbose_name_plural = _("机构人员角色")
        constraints = [models.UniqueConstraint(fields=["user", "facility", "role"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.facility} ({self.get_role_display()})"


class RegulatorMembership(models.Model):
    """A regulator belongs to a division and sees it and everything below it (JL-O1)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="regulator_roles")
    division = models.ForeignKey(Division, verbose_name=_("管辖区划"), on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("有效"), default=True)

    class Meta:
        verbose_name = _("监管人员")
        verbose_name_plural = _("监管人员")
        constraints = [models.UniqueConstraint(fields=["user", "division"], name="unique_regulator_division")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.division}"


class AdminAssignment(models.Model):
    """JL-A2 (三员分立): a user holds one of the three platform administrator roles.

    Granted and revoked only through ``facilities.admins`` (each an audit event, JL-A1); nothing is
    deleted: a revoked role keeps who ended it, when and why. At most one active role per user.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="admin_roles")
    role = models.CharField(_("管理员角色"), max_length=20, choices=AdminRole.choices)
    active = models.BooleanField(_("有效"), default=True)
    granted_at = models.DateTimeField(_("授予时间"))
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("授予理由"), blank=True)
    ended_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    end_reason = models.TextField(_("撤销原因"), blank=True)

    class Meta:
        verbose_name = _("三员角色")
        verbose_name_plural = _("三员角色")
        ordering = ["role", "-granted_at"]
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=Q(active=True), name="one_active_admin_role_per_user"),
        ]
        indexes = [models.Index(fields=["role", "-granted_at"], name="admin_assignment_role_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class PasswordHistory(models.Model):
    """JL-A2 (GB/T 22239-2019 8.1.4.1 a): every password a user has set, as its hash only.

    Written by ``facilities.passwords.PasswordHistoryValidator.password_changed`` whenever Django
    saves a new password; read to refuse the last ``TELEMED_PASSWORD_HISTORY`` and to date the
    current one for the age rule. Never shown, never edited.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(_("密码哈希"), max_length=256)
    set_at = models.DateTimeField(_("设置时间"), default=timezone.now)

    class Meta:
        verbose_name = _("历史密码")
        verbose_name_plural = _("历史密码")
        indexes = [models.Index(fields=["user", "-set_at"], name="password_history_user_idx")]
        # The security administrator's permission (JL-A2, 三员分立): facilities.admins.ROLE_PERMISSIONS.
        permissions = [("release_lockout", _("解除登录锁定"))]

    def __str__(self) -> str:
        return f"{self.user} @ {self.set_at:%Y-%m-%d}"


class AccreditationApplicationQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class AccreditationApplication(models.Model):
    """JL-F1 (art. 10, 13): an application with the seven conditions and their evidence."""

    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.PROTECT, related_name="applications")
    status = models.CharField(_("状态"), max_length=10, choices=AccreditationStatus.choices, default=AccreditationStatus.PENDING)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(_("提交时间"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    decision_reason = models.TextField(_("审核意见"), blank=True)

    objects = AccreditationApplicationQuerySet.as_manager()

    class Meta:
        verbose_name = _("评估验收申请")
        verbose_name_plural = _("评估验收申请")
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["facility"], condition=Q(status="pending"), name="one_pending_application_per_facility"
            )
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.get_status_display()}"


class AccreditationItem(models.Model):
    application = models.ForeignKey(AccreditationApplication, on_delete=models.PROTECT, related_name="items")
    condition = models.CharField(_("条件"), max_length=30, choices=AccreditationCondition.choices)
    statement = models.TextField(_("情况说明"))
    evidence = models.FileField(_("证明材料"), upload_to="accreditation/%Y/%m/")
    evidence_sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("验收条件")
        verbose_name_plural = _("验收条件")
        ordering = ["condition"]
        constraints = [models.UniqueConstraint(fields=["application", "condition"], name="one_item_per_condition")]

    def __str__(self) -> str:
        return self.get_condition_display()


class AgreementQuerySet(ScopedQuerySet):
    scope_facility_field = ("inviting_id", "invited_id")
    scope_division_field = ("inviting__division__code", "invited__division__code")

    def in_force_on(self, day):
        return self.filter(status=AgreementStatus.ACTIVE, valid_from__lte=day, valid_until__gte=day)


class CooperationAgreement(models.Model):
    """JL-F3 (art. 15, 16): the agreement every pair of facilities needs, per service type."""

    number = models.CharField(_("协议编号"), max_length=50, unique=True)
    inviting = models.ForeignKey(Facility, verbose_name=_("邀请方"), on_delete=models.PROTECT, related_name="agreements_as_inviting")
    invited = models.ForeignKey(Facility, verbose_name=_("受邀方"), on_delete=models.PROTECT, related_name="agreements_as_invited")
    service_types = models.ManyToManyField(ServiceType, verbose_name=_("合作服务项目"), related_name="+")
    valid_from = models.DateField(_("生效日期"))
    valid_until = models.DateField(_("截止日期"))
    purpose = models.TextField(_("合作目的"))
    conditions = models.TextField(_("合作条件"))
    process = models.TextField(_("远程医疗流程"))
    rights_obligations = models.TextField(_("双方权利义务"))
    liability_sharing = models.TextField(_("医疗损害风险和责任分担"))
    inviting_fee_share = models.PositiveSmallIntegerField(
        _("邀请方分成比例"), help_text=_("协商定价项目（门诊、心电、影像、检验、病理诊断）的分配比例，邀请方份数（第四十四条）")
    )
    invited_fee_share = models.PositiveSmallIntegerField(_("受邀方分成比例"))
    signed_copy = models.FileField(_("协议签署件"), upload_to="agreements/%Y/")
    signed_copy_sha256 = models.CharField(max_length=64)
    status = models.CharField(_("状态"), max_length=12, choices=AgreementStatus.choices, default=AgreementStatus.ACTIVE)
    terminated_at = models.DateTimeField(_("终止时间"), null=True, blank=True)
    termination_reason = models.TextField(_("终止原因"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    objects = AgreementQuerySet.as_manager()

    class Meta:
        verbose_name = _("远程医疗合作协议")
        verbose_name_plural = _("远程医疗合作协议")
        ordering = ["-valid_from", "number"]
        constraints = [
            models.CheckConstraint(condition=~Q(inviting=models.F("invited")), name="agreement_two_facilities"),
            models.CheckConstraint(condition=Q(valid_until__gte=models.F("valid_from")), name="agreement_valid_period"),
            models.CheckConstraint(
                condition=Q(inviting_fee_share__gt=0) | Q(invited_fee_share__gt=0), name="agreement_fee_ratio_not_zero"
            ),
        ]
        indexes = [models.Index(fields=["inviting", "invited", "status"], name="agreement_pair_idx")]

    def __str__(self) -> str:
        return f"{self.number} {self.inviting} → {self.invited}"


class PhysicianQuerySet(ChangeStampedQuerySet, ScopedQuerySet):
    scope_facility_field = "registrations__facility_id"
    scope_division_field = "registrations__facility__division__code"
    scope_needs_distinct = True


class Physician(ChangeStampedModel):
    """A medical professional as the portal knows them (JL-P1..P5); ``updated_at`` (``telemed.changes``)
    moves with every change to the row (issue 14)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="physician"
    )
    name = models.CharField(_("姓名"), max_length=50)
    qualification_number = models.CharField(_("医师资格证书编码"), max_length=30, unique=True)
    qualification_obtained_on = models.DateField(_("取得资格日期"))
    certificate_number = models.CharField(_("医师执业证书编码"), max_length=30, unique=True)
    certificate_valid_until = models.DateField(
        _("执业证书有效期至"), null=True, blank=True, help_text=_("留空表示长期有效")
    )
    certificate_revoked = models.BooleanField(_("执业证书已注销或吊销"), default=False)
    title = models.PositiveSmallIntegerField(_("专业技术职务"), choices=Title.choices)
    scopes = models.JSONField(_("执业范围"), default=list, help_text=_("执业范围代码列表"))
    platform_registered_at = models.DateTimeField(_("平台注册时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    objects = PhysicianQuerySet.as_manager()

    class Meta:
        verbose_name = _("医务人员")
        verbose_name_plural = _("医务人员")
        ordering = ["name", "id"]
        indexes = [
            # Issue 14: FHIR ``_lastUpdated`` and the REST sync read by (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="physician_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_title_display()}）"

    def scope_labels(self) -> list[str]:
        labels = dict(PracticeScope.choices)
        return [str(labels.get(code, code)) for code in self.scopes]


class RegistrationQuerySet(ChangeStampedQuerySet, ScopedQuerySet):
    """A registration is seen by its own facility and the regulators above it — not by the facility's
    agreement counterparts, who see the facility but not its staff (as for ``Physician``)."""

    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class PracticeRegistration(ChangeStampedModel):
    """JL-P2 registration at a facility, JL-P3 platform verification by it, JL-P6 its authorisation.

    ``updated_at`` (``telemed.changes``) moves with every change to the row, and with a change of
    what FHIR PractitionerRole shows of its physician (name, scopes) or its facility (name) —
    ``services.physician_update_qualifications`` and ``services.facility_save`` (issue 14)."""

    physician = models.ForeignKey(Physician, on_delete=models.PROTECT, related_name="registrations")
    facility = models.ForeignKey(Facility, verbose_name=_("执业机构"), on_delete=models.PROTECT, related_name="registrations")
    is_primary = models.BooleanField(_("第一执业地点"), default=False)
    registered_on = models.DateField(_("注册日期"))
    valid_until = models.DateField(_("注册有效期至"), null=True, blank=True)
    verified_at = models.DateTimeField(_("机构核验时间"), null=True, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    authorised_at = models.DateTimeField(_("远程医疗授权时间"), null=True, blank=True)
    authorised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    authorisation_revoked_at = models.DateTimeField(_("授权撤销时间"), null=True, blank=True)

    objects = RegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("执业注册")
        verbose_name_plural = _("执业注册")
        indexes = [
            # Issue 14: FHIR ``_lastUpdated`` reads by (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="registration_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["physician", "facility"], name="one_registration_per_facility"),
            # JL-P2: a registration does not end before it starts.
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("registered_on")),
                name="registration_valid_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.physician.name} @ {self.facility}"


class AssessmentEntry(models.Model):
    """An entry in a physician's assessment file (考核档案), e.g. an unauthorised attempt (JL-P6, art. 31)."""

    physician = models.ForeignKey(Physician, on_delete=models.PROTECT, related_name="assessment_entries")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(_("时间"))
    rule = models.CharField(_("依据"), max_length=10)
    description = models.TextField(_("情况"))
    # The audit event of the attempt. Its chain position is assigned by the sequencer after commit
    # (JL-A1, issue 11), so the entry points at the event and reads the position from it; entries
    # written before the sequencer kept the position itself in ``audit_sequence``.
    # No database constraint: the audit table is append-only by its own trigger (JL-A1), which must stay the
    # one that answers a TRUNCATE or DELETE of it; a foreign key would answer first.
    audit_event = models.ForeignKey("audit.AuditEvent", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
                                    db_constraint=False, verbose_name=_("审计事件"))
    audit_sequence = models.BigIntegerField(_("审计事件序号"), null=True, blank=True)

    class Meta:
        verbose_name = _("考核档案记录")
        verbose_name_plural = _("考核档案记录")
        ordering = ["-occurred_at"]
        indexes = [
            # JL-P6: a physician's file, newest first (the physician page and the API's assessment-entries).
            models.Index(fields=["physician", "-occurred_at"], name="assessment_physician_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.physician.name} {self.rule} {self.occurred_at:%Y-%m-%d}"

    @property
    def log_sequence(self) -> int | None:
        """The attempt's position in the audit chain; None while the event waits for the sequencer."""
        if self.audit_sequence is not None:
            return self.audit_sequence
        return self.audit_event.sequence if self.audit_event_id else None


class DutyShiftQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class DutyShift(models.Model):
    """JL-F4 (art. 24): who is on duty for diagnosis services, when, for which speciality."""

    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.PROTECT, related_name="duty_shifts")
    physician = models.ForeignKey(Physician, verbose_name=_("值班人员"), on_delete=models.PROTECT, related_name="duty_shifts")
    scope = models.CharField(_("值班专业"), max_length=30, choices=PracticeScope.choices)
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    objects = DutyShiftQuerySet.as_manager()

    class Meta:
        verbose_name = _("值班")
        verbose_name_plural = _("值班")
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start")]
        indexes = [models.Index(fields=["facility", "ends_at"], name="duty_facility_end_idx")]

    def __str__(self) -> str:
        return f"{self.physician.name} {self.get_scope_display()} {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"


class SuspensionQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class Suspension(models.Model):
    """JL-F5 (art. 34): the facility stops at once; only the licensing regulator lifts it."""

    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.PROTECT, related_name="suspensions")
    cause = models.CharField(_("原因类别"), max_length=20, choices=SuspensionCause.choices)
    description = models.TextField(_("情况说明"))
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField(_("报告时间"))
    issuing_division = models.ForeignKey(
        Division, verbose_name=_("报告对象（发证机关）"), on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(_("解除时间"), null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lift_reason = models.TextField(_("解除理由"), blank=True)

    objects = SuspensionQuerySet.as_manager()

    class Meta:
        verbose_name = _("暂停远程医疗服务")
        verbose_name_plural = _("暂停远程医疗服务")
        ordering = ["-reported_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["facility"], condition=Q(lifted_at__isnull=True), name="one_open_suspension_per_facility"
            )
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.get_cause_display()}"


class SuspensionFollowUp(models.Model):
    """JL-O7 (art. 34): what happened after a stop-and-report, written by the facility or its regulators
    until the licensing regulator lifts the suspension (the report's closure)."""

    suspension = models.ForeignKey(Suspension, on_delete=models.PROTECT, related_name="follow_ups")
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(_("时间"))
    by_regulator = models.BooleanField(_("监管部门填写"), default=False)
    text = models.TextField(_("跟进情况"))

    class Meta:
        verbose_name = _("暂停报告跟进")
        verbose_name_plural = _("暂停报告跟进")
        ordering = ["suspension", "written_at", "pk"]

    def __str__(self) -> str:
        return f"{self.suspension_id} {self.written_at:%Y-%m-%d %H:%M}"


class TelemedicineAssetQuerySet(ScopedQuerySet):
    scope_facility_field = "facility_id"
    scope_division_field = "facility__division__code"


class TelemedicineAsset(models.Model):
    """JL-O7 (art. 33): one entry of a facility's register of telemedicine equipment and software.

    ``essential`` marks what the facility's telemedicine cannot run without (art. 34 "必要的医疗设备"):
    taking such an entry out of service stops the facility's telemedicine and reports it (JL-F5).
    """

    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.PROTECT, related_name="assets")
    kind = models.CharField(_("类别"), max_length=12, choices=AssetKind.choices)
    name = models.CharField(_("名称"), max_length=100)
    model_number = models.CharField(_("型号／版本"), max_length=100, blank=True)
    serial_number = models.CharField(_("序列号／授权号"), max_length=100, blank=True)
    vendor = models.CharField(_("生产厂家／供应商"), max_length=100, blank=True)
    essential = models.BooleanField(_("必要设备"), default=False)
    in_service_since = models.DateField(_("启用日期"))
    maintenance_interval_days = models.PositiveIntegerField(_("维护周期（天）"), null=True, blank=True)
    last_maintained_on = models.DateField(_("最近维护日期"), null=True, blank=True)
    next_maintenance_due = models.DateField(_("下次维护到期"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=12, choices=AssetStatus.choices, default=AssetStatus.IN_SERVICE)
    status_changed_at = models.DateTimeField(_("状态变更时间"), null=True, blank=True)
    registered_at = models.DateTimeField(_("登记时间"))

    objects = TelemedicineAssetQuerySet.as_manager()

    class Meta:
        verbose_name = _("远程医疗设备与软件")
        verbose_name_plural = _("远程医疗设备与软件")
        ordering = ["facility", "kind", "name", "pk"]
        indexes = [
            # The register is listed per facility in this order; overdue maintenance is found by due date.
            models.Index(fields=["facility", "kind", "name"], name="asset_facility_order_idx"),
            models.Index(
                fields=["next_maintenance_due"], name="asset_maintenance_due_idx",
                condition=Q(status="in_service", next_maintenance_due__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.model_number}".strip()


class AssetMaintenance(models.Model):
    """JL-O7 (art. 33): one maintenance, inspection, repair or upgrade of a register entry."""

    asset = models.ForeignKey(TelemedicineAsset, on_delete=models.PROTECT, related_name="maintenance")
    kind = models.CharField(_("类别"), max_length=12, choices=MaintenanceKind.choices)
    performed_on = models.DateField(_("日期"))
    performed_by = models.CharField(_("执行人／单位"), max_length=100)
    description = models.TextField(_("内容"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"))

    class Meta:
        verbose_name = _("维护记录")
        verbose_name_plural = _("维护记录")
        ordering = ["asset", "-performed_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.asset} {self.performed_on:%Y-%m-%d}"


# --- Pre-aggregated facts of the regulators' dashboard (docs/metrics.md) ----------------------
# Rebuilt from the raw tables by ``facilities.metrics.facts`` (``manage.py rebuild_metrics``, the
# beat catch-up); never written anywhere else. ``division_code`` is the facility's division copied
# in so that a regulator's prefix (JL-O1) filters the facts without a join; ``service_type`` is the
# ServiceType code (JL-C1), "" for figures that have none (the JL-C2 obligations).


class MetricCounters(models.Model):
    """The counters of the figures (facilities.metrics.definitions.COUNTERS), one column each."""

    sent = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    declined = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    obligations_due = models.PositiveIntegerField(default=0)
    obligations_met = models.PositiveIntegerField(default=0)
    violations = models.PositiveIntegerField(default=0)
    ratings_count = models.PositiveIntegerField(default=0)
    ratings_sum = models.PositiveIntegerField(default=0)
    fee_fen = models.BigIntegerField(default=0)
    inviting_share_fen = models.BigIntegerField(default=0)
    invited_share_fen = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class MetricDay(MetricCounters):
    """Counters of one Beijing day × facility × service type (the figures' numerators and denominators)."""

    day = models.DateField(_("日期（北京时间）"))
    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.CASCADE, related_name="+")
    division_code = models.CharField(_("区划代码"), max_length=6)
    service_type = models.CharField(_("服务项目"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("统计日数据")
        verbose_name_plural = _("统计日数据")
        constraints = [models.UniqueConstraint(fields=["day", "facility", "service_type"], name="metric_day_once")]
        indexes = [
            # A division's period (prefix range on the code, then the days) and a facility's scorecard.
            models.Index(fields=["division_code", "day"], name="metric_day_division_idx"),
            models.Index(fields=["facility", "day"], name="metric_day_facility_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.facility_id} {self.service_type}"


class MetricDuration(models.Model):
    """One measured interval, kept per case so that medians and 90th percentiles are exact (JL-C4).

    ``kind`` is ``response`` (the invited side's decision minus the send it answers, one row per
    accept or decline) or ``turnaround`` (signed minus accepted, one row per case); ``source`` is
    the audit event of the decision, or the consultation, whose id makes the row unique.
    """

    kind = models.CharField(max_length=12)
    source = models.BigIntegerField()
    day = models.DateField(_("日期（北京时间）"))
    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.CASCADE, related_name="+")
    division_code = models.CharField(_("区划代码"), max_length=6)
    service_type = models.CharField(_("服务项目"), max_length=40, blank=True)
    seconds = models.BigIntegerField()
    physician_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("统计时长")
        verbose_name_plural = _("统计时长")
        constraints = [models.UniqueConstraint(fields=["kind", "source"], name="metric_duration_once")]
        indexes = [
            models.Index(fields=["division_code", "day"], name="metric_duration_division_idx"),
            models.Index(fields=["facility", "day"], name="metric_duration_facility_idx"),
            models.Index(fields=["day"], name="metric_duration_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day} {self.seconds}s"


class MetricMonth(MetricCounters):
    """The month rollup: the sums of a Beijing month's ``MetricDay`` rows per facility × service
    type, so that a month, quarter or year reads at most 12 rows per slice however many cases it
    holds (docs/metrics.md). Rebuilt from ``MetricDay`` only, never from the raw rows."""

    month = models.DateField(_("月份（首日）"))
    facility = models.ForeignKey(Facility, verbose_name=_("机构"), on_delete=models.CASCADE, related_name="+")
    division_code = models.CharField(_("区划代码"), max_length=6)
    service_type = models.CharField(_("服务项目"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("统计月数据")
        verbose_name_plural = _("统计月数据")
        constraints = [models.UniqueConstraint(fields=["month", "facility", "service_type"], name="metric_month_once")]
        indexes = [
            models.Index(fields=["division_code", "month"], name="metric_month_division_idx"),
            models.Index(fields=["facility", "month"], name="metric_month_facility_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.facility_id} {self.service_type}"


class MetricStat(models.Model):
    """The exact interval statistics (count, nearest-rank median and 90th percentile, distinct
    experts) of one calendar period (``2026-11``, ``2026-Q4``, ``2026``) × scope (a division code,
    or ``f<facility id>``) × service type (``*`` for all) × kind, computed from ``MetricDuration``
    by ``definitions.duration_stat``: a percentile cannot be added up from smaller ones, so every
    slice the dashboard shows is stored once computed (docs/metrics.md)."""

    period = models.CharField(_("统计周期"), max_length=7)
    scope = models.CharField(_("范围"), max_length=16)
    division_code = models.CharField(_("区划代码"), max_length=6)
    service_type = models.CharField(_("服务项目"), max_length=40)
    kind = models.CharField(max_length=12)
    count = models.PositiveIntegerField(default=0)
    median = models.BigIntegerField(null=True)
    p90 = models.BigIntegerField(null=True)
    experts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("统计时长汇总")
        verbose_name_plural = _("统计时长汇总")
        constraints = [models.UniqueConstraint(fields=["period", "scope", "service_type", "kind"], name="metric_stat_once")]
        indexes = [models.Index(fields=["period", "division_code"], name="metric_stat_division_idx")]

    def __str__(self) -> str:
        return f"{self.period} {self.scope} {self.service_type} {self.kind}"


class MetricTotal(MetricCounters):
    """What the dashboard shows for one calendar period (``2026-11``, ``2026-Q4``, ``2026``) ×
    scope (the province, a city, a county, or ``f<facility id>``) × service type (``*`` for all):
    the counters summed from ``MetricMonth`` and the number of facilities active in it, so that a
    calendar page reads its slices by index instead of summing rollups (issue 9,
    docs/performance.md). A facility's rows are its month rollups summed; a division's rows are
    its facilities' rows summed (``facts.totals_refresh``), so they are exact sums, never
    incremented, and equal ``MetricMonth`` summed over the same months and facilities."""

    period = models.CharField(_("统计周期"), max_length=7)
    scope = models.CharField(_("范围"), max_length=16)
    division_code = models.CharField(_("区划代码"), max_length=6)
    service_type = models.CharField(_("服务项目"), max_length=40, blank=True)
    active = models.PositiveIntegerField(_("参与机构"), default=0)

    class Meta:
        verbose_name = _("统计周期汇总")
        verbose_name_plural = _("统计周期汇总")
        constraints = [models.UniqueConstraint(fields=["period", "scope", "service_type"], name="metric_total_once")]
        indexes = [
            # A division's page: every slice of all service types of the period in its code range
            # (its facilities for the rankings, its sub-divisions, itself), one index range.
            models.Index(fields=["period", "service_type", "division_code"], name="metric_total_division_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.scope} {self.service_type}"


from .evaluation_models import EvaluationFormula, EvaluationResult, EvaluationRound  # noqa: E402, F401  JL-O3
