"""Passwords under JL-A2 (GB/T 22239-2019 8.1.4.1 a): complexity, reuse and age.

``AUTH_PASSWORD_VALIDATORS`` (settings) lists the validators below. Django's own four are kept and
only speak the rulebook's language (their message cites JL-A2); two are the portal's:

- ``CharacterClassesValidator``: at least three of lower-case, upper-case, digits, other characters;
- ``PasswordHistoryValidator``: none of the last ``TELEMED_PASSWORD_HISTORY`` passwords again. Its
  ``password_changed`` hook (Django calls it whenever a user with a new password is saved) keeps the
  hash in ``PasswordHistory``, which also dates the password for the age rule.

Hashing is Argon2 (``PASSWORD_HASHERS``), from argon2-cffi through Django's hasher.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from . import rules

RULE = "JL-A2"


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    def get_error_message(self):
        return _("JL-A2 等保三级 8.1.4.1: 密码至少 %(min_length)d 位。") % {"min_length": self.min_length}

    def get_help_text(self):
        return _("至少 %(min_length)d 位。") % {"min_length": self.min_length}


class UserAttributeSimilarityValidator(password_validation.UserAttributeSimilarityValidator):
    def get_error_message(self):
        return _("JL-A2 等保三级 8.1.4.1: 密码与%(verbose_name)s过于相似，请不要使用用户名或姓名。")

    def get_help_text(self):
        return _("不能与用户名、姓名或电子邮箱相似。")


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    def get_error_message(self):
        return _("JL-A2 等保三级 8.1.4.1: 这是常见密码，容易被猜中，请换一个。")

    def get_help_text(self):
        return _("不能是常见密码。")


class NumericPasswordValidator(password_validation.NumericPasswordValidator):
    def get_error_message(self):
        return _("JL-A2 等保三级 8.1.4.1: 密码不能全部是数字。")

    def get_help_text(self):
        return _("不能全部是数字。")


class CharacterClassesValidator:
    """At least ``min_classes`` of the four character classes (``rules.password_character_classes``)."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        if len(rules.password_character_classes(password)) < self.min_classes:
            raise ValidationError(
                _("JL-A2 等保三级 8.1.4.1: 密码须包含小写字母、大写字母、数字、其他字符中的至少 %(count)d 类。"),
                code="password_too_simple",
                params={"count": self.min_classes},
            )

    def get_help_text(self):
        return _("包含小写字母、大写字母、数字、其他字符中的至少 %(count)d 类。") % {"count": self.min_classes}


def _recent_hashes(user, keep: int) -> list[str]:
    from .models import PasswordHistory

    if user is None or not getattr(user, "pk", None):
        return []
    return list(PasswordHistory.objects.filter(user=user).order_by("-set_at", "-id").values_list("password", flat=True)[:keep])


class PasswordHistoryValidator:
    """None of the last ``keep`` passwords again (the current one included)."""

    def __init__(self, keep: int = 5):
        self.keep = keep

    def validate(self, password, user=None):
        if user is None or not getattr(user, "pk", None):
            return
        hashes = _recent_hashes(user, self.keep)
        if user.password and user.password not in hashes:  # a password set before the history began
            hashes = [user.password, *hashes[: self.keep - 1]]
        if any(check_password(password, encoded) for encoded in hashes if encoded):
            raise ValidationError(
                _("JL-A2 等保三级 8.1.4.1: 不能使用最近 %(keep)d 次用过的密码。"),
                code="password_reused",
                params={"keep": self.keep},
            )

    def password_changed(self, password, user=None):
        """Keep the new password's hash (never the password) with the time it was set."""
        from .models import PasswordHistory

        if user is None or not getattr(user, "pk", None) or not user.password:
            return
        PasswordHistory.objects.create(user=user, password=user.password, set_at=timezone.now())

    def get_help_text(self):
        return _("不能与最近 %(keep)d 次用过的密码相同。") % {"keep": self.keep}


def password_set_at(user):
    """When the user's current password was set: its history row, else when the account was made."""
    from .models import PasswordHistory

    latest = PasswordHistory.objects.filter(user=user).order_by("-set_at", "-id").values_list("set_at", flat=True).first()
    return latest or user.date_joined


def password_expired(user, *, now=None) -> bool:
    """JL-A2: the password is older than ``TELEMED_PASSWORD_MAX_AGE_DAYS`` (checked for privileged roles)."""
    return rules.password_expired(
        set_at=password_set_at(user), now=now or timezone.now(), max_age_days=settings.TELEMED_PASSWORD_MAX_AGE_DAYS
    )
