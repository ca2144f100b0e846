"""The tamper-evident audit log (JL-A1).

Every row carries a SHA-256 over its own content and the previous row's hash. Rows are only ever
inserted: the ORM refuses updates and deletes here, and on PostgreSQL a trigger refuses them in
the database too (migration 0002). ``audit.services.audit_event_append`` is the one writer.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import Outcome


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit event (JL-A1)."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能修改")

    def delete(self):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能删除")

    def _raw_delete(self, using):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能删除")


class AuditEvent(models.Model):
    GENESIS_HASH = "0" * 64

    sequence = models.BigIntegerField(_("序号"), unique=True, editable=False)
    occurred_at = models.DateTimeField(_("时间"), db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(_("操作人（记录时）"), max_length=200, blank=True)
    acting_facility_id = models.BigIntegerField(_("所代表机构"), null=True, blank=True, db_index=True)
    acting_division_code = models.CharField(_("所代表行政区划"), max_length=6, blank=True)
    ip_address = models.GenericIPAddressField(_("网络地址"), null=True, blank=True)
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True, db_index=True)
    channel = models.CharField(_("渠道"), max_length=100, blank=True)
    event_type = models.CharField(_("事件类型"), max_length=80, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=80, blank=True)
    object_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    facility_ids = models.JSONField(_("涉及机构"), default=list, blank=True)
    outcome = models.CharField(_("结果"), max_length=10, choices=Outcome.choices)
    details = models.JSONField(_("详情"), default=dict, blank=True)
    prev_hash = models.CharField(_("前一事件哈希"), max_length=64, unique=True, editable=False)
    hash = models.CharField(_("哈希"), max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计事件")
        verbose_name_plural = _("审计事件")
        ordering = ["-sequence"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type} {self.object_type}:{self.object_id} {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("JL-A1: 审计日志只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("JL-A1: 审计日志只能追加，不能删除")
