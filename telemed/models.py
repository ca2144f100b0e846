"""The project's own tables (plumbing, nothing domain-specific)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """A partner's ``Idempotency-Key`` and the answer it got (``telemed.idempotency``).

    ``principal`` is whoever sent it (a hash of the credential, or the signed-in user), so two
    partners can never see each other's answers. ``fingerprint`` covers the method, path, query,
    content type and body, so the same key with a different request is refused.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("处理中")
        DONE = "done", _("已完成")

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=500, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("幂等键")
        verbose_name_plural = _("幂等键")
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_once")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class SignedInSession(models.Model):
    """The one browser session a privileged user may have (JL-A2, ``telemed.sessions``): signing in
    again ends the session recorded here."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40)
    signed_in_at = models.DateTimeField()

    class Meta:
        verbose_name = _("当前登录会话")
        verbose_name_plural = _("当前登录会话")

    def __str__(self) -> str:
        return f"{self.user_id} {self.signed_in_at:%Y-%m-%d %H:%M}"
