"""The notification kinds, channels and delivery states (issue 12), Chinese labels."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    """What a notification is about; each user chooses the channels per kind."""

    URGENT = "urgent", _("急诊申请")
    DEADLINE = "deadline", _("时限提醒与超时")
    REQUEST = "request", _("申请进展")
    RETURNED = "returned", _("资料退回与拒绝")
    REPORT_SIGNED = "report_signed", _("意见与报告签发")
    REFERRAL = "referral", _("双向转诊")
    SYSTEM = "system", _("系统通知")


class Channel(models.TextChoices):
    IN_APP = "in_app", _("站内通知")
    EMAIL = "email", _("电子邮件")
    SMS = "sms", _("短信")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    SKIPPED = "skipped", _("未发送")
