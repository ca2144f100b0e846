"""The partner application table (issue 14), registered in the ``telemed`` app (imported by
``telemed.models``). An OAuth2 ``Application`` (django-oauth-toolkit; its secret hashed) tied to the
facility — or, for the health commission's systems, the division — that registered it, and to the
acting identity every API permission and ``visible_to`` already understands: a user holding the
``partner_system`` role at that facility, or a regulator membership of that division."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings

from facilities.choices import StaffRole
from telemed.scope import Scope


class PartnerClientQuerySet(models.QuerySet):
    def managed_by(self, user):
        """The applications ``user`` administers: those of the facilities where they are the
        facility administrator, and of the divisions they regulate exactly (the commission's own)."""
        scope = Scope.of(user)
        facility_ids = scope.facilities_with_role(StaffRole.FACILITY_ADMIN)
        division_codes = [code for code, _prefix in scope.regulated]
        if not facility_ids and not division_codes:
            return self.none()
        return self.filter(Q(facility_id__in=facility_ids) | Q(division_id__in=division_codes))


class PartnerClient(models.Model):
    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, verbose_name=_("OAuth2 应用"), on_delete=models.PROTECT,
        related_name="partner_client",
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("代表身份"), on_delete=models.PROTECT,
                             related_name="partner_clients")
    owns_user = models.BooleanField(_("代表身份为本应用专设"), default=True)
    facility = models.ForeignKey("facilities.Facility", verbose_name=_("医疗机构"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="partner_clients")
    division = models.ForeignKey("facilities.Division", verbose_name=_("行政区划"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="partner_clients")
    name = models.CharField(_("应用名称"), max_length=100)
    scopes = models.JSONField(_("授权范围"), default=list)
    rate_per_minute = models.PositiveIntegerField(_("每分钟请求上限"), null=True, blank=True)
    expires_at = models.DateTimeField(_("有效期至"), null=True, blank=True)
    created_at = models.DateTimeField(_("登记时间"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    secret_rotated_at = models.DateTimeField(_("密钥轮换时间"), null=True, blank=True)
    previous_secret = models.CharField(_("旧密钥（哈希）"), max_length=255, blank=True)
    previous_secret_until = models.DateTimeField(_("旧密钥有效至"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("吊销人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    revoke_reason = models.CharField(_("吊销原因"), max_length=300, blank=True)
    last_used_at = models.DateTimeField(_("最近使用时间"), null=True, blank=True)

    objects = PartnerClientQuerySet.as_manager()

    class Meta:
        app_label = "telemed"
        verbose_name = _("对接应用")
        verbose_name_plural = _("对接应用")
        constraints = [
            models.CheckConstraint(
                condition=Q(facility__isnull=False, division__isnull=True) | Q(facility__isnull=True, division__isnull=False),
                name="partner_client_one_owner",
            ),
        ]
        indexes = [
            models.Index(fields=["facility", "-created_at"], name="partner_client_facility_idx"),
            models.Index(fields=["division", "-created_at"], name="partner_client_division_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def client_id(self) -> str:
        return self.application.client_id

    @property
    def owner_label(self) -> str:
        return self.facility.name if self.facility_id else f"{self.division.name}（{self.division_id}）"
