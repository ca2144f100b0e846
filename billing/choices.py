from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountKind(models.TextChoices):
    CORPORATE = "corporate", _("单位对公账户")
    PERSONAL = "personal", _("个人账户")


class StatementState(models.TextChoices):
    DRAFT = "draft", _("待双方确认")
    CONFIRMED = "confirmed", _("双方已确认，待付款")
    PAID = "paid", _("已付款")


class PayoutState(models.TextChoices):
    """JL-B6: a payout report is a draft until the facility's finance officer confirms it; a draft
    whose data changed before confirmation is kept, superseded by a new version (nothing is deleted)."""

    DRAFT = "draft", _("草稿，待财务确认")
    CONFIRMED = "confirmed", _("财务已确认")
    SUPERSEDED = "superseded", _("未确认即被新版本取代")


class PayoutRole(models.TextChoices):
    """Why a person receives part of a charge (``billing.rules.payout_recipients``)."""

    SIGNER = "signer", _("签发专家")
    EXPERT = "expert", _("会诊专家")
    ATTENDING = "attending", _("邀请方经治医师")


class PayoutLineKind(models.TextChoices):
    CHARGE = "charge", _("收费")
    REVERSAL = "reversal", _("冲正")
