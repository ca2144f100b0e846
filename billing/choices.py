from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountKind(models.TextChoices):
    CORPORATE = "corporate", _("单位对公账户")
    PERSONAL = "personal", _("个人账户")


class StatementState(models.TextChoices):
    DRAFT = "draft", _("待双方确认")
    CONFIRMED = "confirmed", _("双方已确认，待付款")
    PAID = "paid", _("已付款")
