"""Per-user notification preferences and the record of every e-mail and SMS delivery (issue 12).

The in-app notification itself is ``consultations.Notification`` (it predates this app); each of
its e-mail and SMS deliveries is one ``NotificationDelivery`` row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from telemed.fields import EncryptedTextField

from .choices import Channel, DeliveryStatus


class NotificationPreference(models.Model):
    """One user's choices: the channels per notification kind (only the kinds changed from the
    default are stored, ``notifications.rules.channels_for``) and the mobile number for SMS.

    The number is sensitive like a patient's (JL-A2): encrypted at rest, masked in the audit log."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference")
    phone = EncryptedTextField(_("短信接收手机号码"), plain_max_length=20, blank=True)
    channels = models.JSONField(_("各类通知的渠道"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("修改时间"))

    class Meta:
        verbose_name = _("通知设置")
        verbose_name_plural = _("通知设置")

    def __str__(self) -> str:
        return str(self.user)


class NotificationDelivery(models.Model):
    """One notification sent (or to be sent) on one outside channel: e-mail or SMS.

    Created with the notification, in the same transaction; sent by a Celery task after the commit,
    a batch at a time; retried with back-off by the sweep. A failing channel is recorded here and
    never rolls back or blocks the act that caused the notification."""

    notification = models.ForeignKey("consultations.Notification", on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    status = models.CharField(_("状态"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    error = models.CharField(_("错误"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("创建时间"))
    next_attempt_at = models.DateTimeField(_("下次尝试时间"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("开始发送时间"), null=True, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知发送记录")
        verbose_name_plural = _("通知发送记录")
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep: pending deliveries due, oldest first; sendings whose worker vanished.
            models.Index(fields=["next_attempt_at", "id"], name="ndelivery_due_idx", condition=Q(status="pending")),
            models.Index(fields=["claimed_at"], name="ndelivery_stale_idx", condition=Q(status="sending")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="ndelivery_once_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} {self.get_channel_display()} {self.get_status_display()}"
